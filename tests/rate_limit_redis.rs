//! The Redis store against real redis-server processes that the tests start (never a mock):
//! decisions identical to the memory store's, one quota across instances, Redis's clock,
//! outages, `SCRIPT FLUSH`, and a 3-master cluster.

mod common;
#[path = "common/redis.rs"]
mod redis_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::call;
use http::{Request, StatusCode};
use redis_support::{RedisCluster, RedisServer, shared_or_start};
use tower_shield::rate_limit::{
    Algorithm, Answer, Check, Decision, HybridStore, KeyBy, Limit, ManualClock, MemoryStore,
    PeerAddr, Quota, RateLimitLayer, RedisStore, Rule, Store, StoreFailure, Unchecked,
};

async fn decide(store: &impl Store, checks: &[Check<'_>]) -> Decision {
    match store.decide(checks) {
        Answer::Ready(r) => r.expect("decision"),
        Answer::Later(f) => f.await.expect("decision"),
    }
}

fn from(ip: &str) -> Request<Body> {
    let mut req = Request::get("/").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(PeerAddr(format!("{ip}:40000").parse().unwrap()));
    req
}

fn app(store: RedisStore, quota: Quota, failure: StoreFailure) -> Router {
    Router::new()
        .route(
            "/",
            get(|req: Request<Body>| async move {
                if req.extensions().get::<Unchecked>().is_some() {
                    "unchecked"
                } else {
                    "checked"
                }
            }),
        )
        .layer(
            RateLimitLayer::builder()
                .store(store)
                .limit(Limit::new("test", quota).key(KeyBy::ip()))
                .on_store_failure(failure)
                .build()
                .unwrap(),
        )
}

fn unique_prefix(name: &str) -> String {
    format!(
        "test-{name}-{}-{}:",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn decisions_match_the_memory_store_step_by_step() {
    let (url, _server) = shared_or_start();
    let redis = RedisStore::builder(&url)
        .prefix(unique_prefix("diff"))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let clock = ManualClock::at_unix_secs(0);
    let memory = MemoryStore::builder().clock(clock.clone()).build();
    let rules = [
        Rule::new(Algorithm::TokenBucket, Quota::per_second(20).burst(5)).unwrap(),
        Rule::new(
            Algorithm::FixedWindow,
            Quota::new(6, Duration::from_millis(200)),
        )
        .unwrap(),
        Rule::new(
            Algorithm::SlidingWindow,
            Quota::new(6, Duration::from_millis(200)),
        )
        .unwrap(),
        Rule::new(
            Algorithm::LeakyBucket {
                max_wait: Duration::from_millis(60),
            },
            Quota::per_second(50),
        )
        .unwrap(),
    ];
    let mut compared = 0;
    let mut refused = 0;
    for (r, rule) in rules.iter().enumerate() {
        let scope = format!("diff{r}");
        for step in 0u32..60 {
            // 5: over the leaky bucket's queue of 4, refused whatever it holds.
            let cost = [1, 1, 2, 0, 1, 3, 5][step as usize % 7];
            let check = Check {
                scope: &scope,
                key: b"k",
                rule: *rule,
                cost,
            };
            let from_redis = decide(&redis, &[check]).await;
            // The memory store at the very microsecond Redis decided.
            clock.set_micros(from_redis.now);
            let from_memory = decide(&memory, &[check]).await;
            assert_eq!(
                from_redis.verdicts, from_memory.verdicts,
                "rule {rule:?}, step {step}, cost {cost}"
            );
            compared += 1;
            refused += usize::from(!from_redis.allowed());
            // Bursts at one instant, then pauses across windows and refills.
            if step % 7 == 6 {
                tokio::time::sleep(Duration::from_millis(45)).await;
            } else if step % 3 == 0 {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
    }
    assert_eq!(compared, 240);
    // The timeline exercised refusals too, not only admissions.
    assert!(refused > 20, "only {refused} refusals");
}

#[tokio::test]
async fn several_checks_on_one_server_are_one_atomic_step() {
    let (url, _server) = shared_or_start();
    let store = RedisStore::builder(&url)
        .prefix(unique_prefix("multi"))
        .build()
        .unwrap();
    let burst = Rule::new(Algorithm::TokenBucket, Quota::per_hour(2)).unwrap();
    let hourly = Rule::new(Algorithm::FixedWindow, Quota::per_hour(10)).unwrap();
    let checks = [
        Check {
            scope: "burst",
            key: b"a",
            rule: burst,
            cost: 1,
        },
        Check {
            scope: "hourly",
            key: b"b",
            rule: hourly,
            cost: 1,
        },
    ];
    assert!(decide(&store, &checks).await.allowed());
    assert!(decide(&store, &checks).await.allowed());
    let d = decide(&store, &checks).await;
    assert!(!d.allowed());
    // The refused request spent nothing of the hourly counter: 8 left, reported as such.
    assert_eq!(
        d.verdicts
            .iter()
            .map(|v| (v.allowed, v.status.remaining))
            .collect::<Vec<_>>(),
        [(false, 0), (true, 8)]
    );
}

#[test]
fn four_instances_allow_exactly_the_quota() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (url, _server) = shared_or_start();
        let prefix = unique_prefix("instances");
        let allowed = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _instance in 0..4 {
            // Each instance has its own store, so its own connection manager.
            let store = RedisStore::builder(&url)
                .prefix(&prefix)
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            let app = app(store, Quota::per_hour(300), StoreFailure::Closed);
            for _task in 0..4 {
                let app = app.clone();
                let (allowed, refused) = (Arc::clone(&allowed), Arc::clone(&refused));
                tasks.push(tokio::spawn(async move {
                    for _ in 0..50 {
                        match call(&app, from("192.0.2.1")).await.0 {
                            StatusCode::OK => allowed.fetch_add(1, Ordering::SeqCst),
                            StatusCode::TOO_MANY_REQUESTS => refused.fetch_add(1, Ordering::SeqCst),
                            other => panic!("unexpected {other}"),
                        };
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(allowed.load(Ordering::SeqCst), 300);
        assert_eq!(refused.load(Ordering::SeqCst), 500);
    });
}

#[tokio::test]
async fn time_comes_from_redis_and_keys_expire_with_their_state() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("svc:")
        .build()
        .unwrap();
    let rule = Rule::new(Algorithm::FixedWindow, Quota::per_minute(10)).unwrap();
    let redis_time = |s: &RedisServer| {
        let out = s.cli(&["TIME"]);
        let mut parts = out.split_whitespace().map(|p| p.parse::<u64>().unwrap());
        parts.next().unwrap() * 1_000_000 + parts.next().unwrap()
    };
    let before = redis_time(&server);
    let d = decide(
        &store,
        &[Check {
            scope: "minute",
            key: &[1, 4, 192, 0, 2, 1],
            rule,
            cost: 1,
        }],
    )
    .await;
    let after = redis_time(&server);
    // The store's clock is Redis's, whatever this process's clock says.
    assert!(
        before <= d.now && d.now <= after,
        "{before} <= {} <= {after}",
        d.now
    );
    assert_eq!(server.cli(&["KEYS", "svc:*"]), "svc:{0104c0000201}:minute");
    assert_eq!(server.cli(&["HGET", "svc:{0104c0000201}:minute", "b"]), "1");
    // About 100 bytes of Redis memory (the docs say 100 to 140).
    let bytes: u64 = server
        .cli(&["MEMORY", "USAGE", "svc:{0104c0000201}:minute"])
        .parse()
        .unwrap();
    assert!((60..=140).contains(&bytes), "{bytes} bytes");
    // It expires when its window ends, set by the same script.
    let ttl: u64 = server
        .cli(&["PTTL", "svc:{0104c0000201}:minute"])
        .parse()
        .unwrap();
    let window_left = d.verdicts[0].status.reset_after / 1000;
    assert!(
        ttl > 0 && ttl <= window_left + 1,
        "ttl {ttl} ms, window {window_left} ms"
    );
}

/// The script bounds a bucket's capacity and cost itself (the crate bounds what it passes,
/// but the script is on the server for any caller): a token bucket of a huge burst charged a
/// huge cost, and a leaky bucket of a huge queue charged one (four times: each is queued
/// behind the ones before), store exact integers below 2^53 and keep an expiry, where unbounded
/// products would store rounded numbers and then fail `PEXPIRE` after the state was written,
/// leaving a counter that never expires.
#[test]
fn the_script_bounds_products_whoever_calls_it() {
    let server = RedisServer::start();
    let script = include_str!("../src/rate_limit/redis.lua");
    // kind, interval (1 s), capacity or max wait, 0, 0, cost.
    for (key, args) in [
        (
            "tb",
            [
                "1",
                "1000000",
                "10000000000000000",
                "0",
                "0",
                "10000000000000000",
            ],
        ),
        (
            "lb",
            [
                "4",
                "1000000",
                "10000000000000000",
                "0",
                "0",
                "10000000000000000",
            ],
        ),
    ] {
        let mut cmd = vec!["EVAL", script, "1", key];
        cmd.extend(args);
        for _ in 0..4 {
            let out = server.try_cli(&cmd);
            assert!(out.is_ok(), "{key}: {out:?}");
        }
        let stored = server.cli(&["HGET", key, "a"]);
        let a: u64 = stored
            .parse()
            .unwrap_or_else(|_| panic!("{key}: a = {stored:?}, not an integer"));
        assert!(a < 1 << 53, "{key}: a = {a}");
        let ttl: i64 = server.cli(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key}: PTTL {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_follows_the_policy_and_decisions_resume_by_themselves() {
    let mut server = RedisServer::start();
    let prefix = unique_prefix("outage");
    let store = || {
        RedisStore::builder(server.url())
            .prefix(&prefix)
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap()
    };
    let open = app(store(), Quota::per_hour(100), StoreFailure::Open);
    let closed = app(store(), Quota::per_hour(100), StoreFailure::Closed);
    let (status, h, _) = call(&open, from("192.0.2.1")).await;
    assert_eq!(
        (status, h["x-ratelimit-remaining"].to_str().unwrap()),
        (StatusCode::OK, "99")
    );
    assert_eq!(call(&closed, from("192.0.2.1")).await.0, StatusCode::OK);

    server.kill();
    for _ in 0..5 {
        // Never hangs: each answer comes within the store's timeout (the guard is generous).
        let (status, h, body) =
            tokio::time::timeout(Duration::from_secs(5), call(&open, from("192.0.2.1")))
                .await
                .expect("no hang");
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"unchecked"[..]));
        assert!(h.get("x-ratelimit-remaining").is_none());
        let (status, h, _) =
            tokio::time::timeout(Duration::from_secs(5), call(&closed, from("192.0.2.1")))
                .await
                .expect("no hang");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h["retry-after"], "1");
    }

    server.restart();
    // The connection managers reconnect on their own (persistence is off: counts start over).
    let mut resumed = None;
    for _ in 0..100 {
        let (status, h, body) = call(&open, from("192.0.2.1")).await;
        if &body[..] == b"checked" {
            resumed = Some((
                status,
                h["x-ratelimit-remaining"].to_str().unwrap().to_owned(),
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(resumed, Some((StatusCode::OK, "99".to_owned())));
    let mut closed_back = false;
    for _ in 0..100 {
        if call(&closed, from("192.0.2.1")).await.0 == StatusCode::OK {
            closed_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed_back, "the fail-closed instance never recovered");
}

#[tokio::test]
async fn script_flush_is_answered_by_reloading_without_counting_twice() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("flush:")
        .build()
        .unwrap();
    let app = app(store, Quota::per_hour(5), StoreFailure::Closed);
    for remaining in ["4", "3"] {
        let (status, h, _) = call(&app, from("192.0.2.1")).await;
        assert_eq!(
            (status, h["x-ratelimit-remaining"].to_str().unwrap()),
            (StatusCode::OK, remaining)
        );
    }
    assert_eq!(server.cli(&["SCRIPT", "FLUSH"]), "OK");
    // NOSCRIPT → loaded again → evaluated once: the count goes on from 3.
    for remaining in ["2", "1", "0"] {
        let (status, h, _) = call(&app, from("192.0.2.1")).await;
        assert_eq!(
            (status, h["x-ratelimit-remaining"].to_str().unwrap()),
            (StatusCode::OK, remaining)
        );
    }
    assert_eq!(
        call(&app, from("192.0.2.1")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_master_cluster_spreads_keys_and_keeps_each_limit() {
    let cluster = RedisCluster::start();
    let store = RedisStore::cluster(cluster.urls())
        .prefix("c:")
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        RateLimitLayer::builder()
            .store(store)
            .limit(Limit::new("hourly", Quota::per_hour(3)).key(KeyBy::ip()))
            .limit(
                Limit::new("minute", Quota::per_minute(2))
                    .key(KeyBy::ip())
                    .algorithm(Algorithm::SlidingWindow),
            )
            .build()
            .unwrap(),
    );
    for i in 0..30 {
        let ip = format!("198.51.100.{i}");
        let seen: Vec<StatusCode> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(call(&app, from(&ip)).await.0);
            }
            v
        };
        // The minute limit (2) refuses the third; both counters of one IP share a slot.
        assert_eq!(
            seen,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ],
            "{ip}"
        );
    }
    // The counters are spread over all three masters.
    for port in cluster.ports() {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "DBSIZE"])
            .output()
            .unwrap();
        let keys: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(keys > 0, "node {port} holds no counter");
    }
}

/// `instances` hybrid stores on one server, `tasks` tasks each, deciding `check` as fast as
/// they can until `stop` says so; returns (admitted, refused).
async fn hammer_hybrid(
    url: &str,
    prefix: &str,
    instances: usize,
    tasks: usize,
    rule: Rule,
    stop: impl Fn(usize) -> bool + Clone + Send + Sync + 'static,
) -> (usize, usize) {
    let allowed = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..instances {
        let redis = RedisStore::builder(url)
            .prefix(prefix)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let store = HybridStore::builder(redis).build();
        for _ in 0..tasks {
            let (store, stop) = (store.clone(), stop.clone());
            let (allowed, refused) = (Arc::clone(&allowed), Arc::clone(&refused));
            handles.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop(i) {
                    let check = Check {
                        scope: "hybrid",
                        key: b"hot",
                        rule,
                        cost: 1,
                    };
                    if decide(&store, &[check]).await.allowed() {
                        allowed.fetch_add(1, Ordering::SeqCst);
                    } else {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    i += 1;
                    if i % 64 == 0 {
                        // Decisions from a lease never yield: let the other tasks run.
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    (
        allowed.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    )
}

#[test]
fn four_hybrid_instances_admit_the_quota_within_the_documented_bound() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (url, _server) = shared_or_start();
        let rule = Rule::new(Algorithm::TokenBucket, Quota::per_hour(3000)).unwrap();
        let lease = {
            let redis = RedisStore::builder(&url).build().unwrap();
            HybridStore::builder(redis).build().lease_size(&rule)
        };
        // The default lease: 1% of the limit, at most 64.
        assert_eq!(lease, 30);
        let prefix = unique_prefix("hybrid-hour");
        let (admitted, refused) = hammer_hybrid(&url, &prefix, 4, 8, rule, |i| i >= 200).await;
        let bound = 4 * lease as usize;
        eprintln!("hybrid, 4 instances, 3000/h: {admitted} admitted, {refused} refused");
        assert_eq!(admitted + refused, 4 * 8 * 200);
        // A token every 1.2 s comes back meanwhile: the run takes less than a second or two.
        assert!(
            admitted <= 3000 + 2 + bound,
            "{admitted} > 3000 + 2 + {bound}"
        );
        // Units stranded in other instances' leases are lost: at most the same bound.
        assert!(admitted + bound >= 3000, "{admitted} + {bound} < 3000");
    });
}

#[test]
fn four_hybrid_instances_on_a_refilling_bucket_stay_within_the_documented_bound() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (url, _server) = shared_or_start();
        // 2,000 a second, a burst of 2,000: leases of 20.
        let rule = Rule::new(Algorithm::TokenBucket, Quota::per_second(2000)).unwrap();
        let prefix = unique_prefix("hybrid-second");
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_millis(1500);
        let (admitted, refused) = hammer_hybrid(&url, &prefix, 4, 4, rule, move |_| {
            std::time::Instant::now() >= deadline
        })
        .await;
        let elapsed = started.elapsed().as_secs_f64();
        // What one Redis store could have admitted over the run (the burst, then the rate,
        // one more token for rounding), plus 4 instances x 20 units.
        let single = 2000.0 + 2000.0 * elapsed + 1.0;
        let bound = 4.0 * 20.0;
        eprintln!(
            "hybrid, 4 instances, 2000/s over {elapsed:.3} s: {admitted} admitted, \
             {refused} refused (single store at most {single:.0})"
        );
        assert!(refused > 0, "the run never reached the limit");
        assert!(
            admitted as f64 <= single + bound,
            "{admitted} > {single:.0} + {bound}"
        );
        assert!(admitted >= 2000, "{admitted} < the burst");
    });
}

#[tokio::test]
async fn a_hybrid_store_with_a_small_limit_decides_every_request_in_redis_exactly() {
    let (url, _server) = shared_or_start();
    let redis = RedisStore::builder(&url)
        .prefix(unique_prefix("hybrid-small"))
        .build()
        .unwrap();
    let store = HybridStore::builder(redis).build();
    let rule = Rule::new(Algorithm::TokenBucket, Quota::per_hour(5)).unwrap();
    // Below 100 a lease is one unit: each request is a round trip, as with the Redis store.
    assert_eq!(store.lease_size(&rule), 1);
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        RateLimitLayer::builder()
            .store(store)
            .limit(Limit::new("small", Quota::per_hour(5)).key(KeyBy::ip()))
            .build()
            .unwrap(),
    );
    for remaining in ["4", "3", "2", "1", "0"] {
        let (status, h, _) = call(&app, from("192.0.2.9")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["x-ratelimit-remaining"], remaining);
    }
    let (status, h, _) = call(&app, from("192.0.2.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // One token every 720 s: the refusal is remembered locally until then.
    assert_eq!(h["retry-after"], "720");
    let (status, h, _) = call(&app, from("192.0.2.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((719..=720).contains(&retry), "{retry}");
}

/// A refusal the hybrid store remembers for one limit (global), beside a limit whose key this
/// instance holds no lease for yet (a new client's IP): the 429 is the global limit's, with its
/// `Retry-After`, not a refusal without a wait charged to the per-IP limit.
#[tokio::test]
async fn a_remembered_refusal_beside_a_new_key_names_its_limit_and_wait() {
    let (url, _server) = shared_or_start();
    let redis = RedisStore::builder(&url)
        .prefix(unique_prefix("hybrid-two"))
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        RateLimitLayer::builder()
            .store(HybridStore::builder(redis).build())
            .limit(Limit::new("global", Quota::per_hour(2)).key(KeyBy::global()))
            .limit(Limit::new("per-ip", Quota::per_hour(100)).key(KeyBy::ip()))
            .build()
            .unwrap(),
    );
    for _ in 0..2 {
        assert_eq!(call(&app, from("192.0.2.1")).await.0, StatusCode::OK);
    }
    let (status, h, _) = call(&app, from("192.0.2.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1800");
    let (status, h, body) = call(&app, from("192.0.2.2")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1799..=1800).contains(&retry), "{retry}");
    assert_eq!(h["x-ratelimit-limit"], "2");
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["limit"], "global", "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_fallback_limits_in_memory_while_redis_is_down_and_goes_back_by_itself() {
    use tower::ServiceExt;
    use tower_shield::rate_limit::DecidedBy;

    let mut server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix(unique_prefix("local"))
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|req: Request<Body>| async move {
                match req.extensions().get::<DecidedBy>() {
                    Some(DecidedBy::Remote) => "remote",
                    Some(DecidedBy::Local) => "local",
                    _ => "none",
                }
            }),
        )
        .layer(
            RateLimitLayer::builder()
                .store(store)
                .limit(Limit::new("test", Quota::per_hour(10)).key(KeyBy::ip()))
                .headers(tower_shield::rate_limit::HeaderStyle::Both)
                // Two instances: each keeps half of the limit in memory.
                .on_store_failure(StoreFailure::Local { instances: 2 })
                .build()
                .unwrap(),
        );
    // (status, "limit/remaining", decided by (response extension), decided by (as the
    // handler saw it)): in memory the limit reported is this instance's share, which the
    // counts are of. Every `RateLimit` answered is kept, in order.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let call = |app: Router| async {
        let seen = Arc::clone(&seen);
        let res = tokio::time::timeout(Duration::from_secs(5), app.oneshot(from("192.0.2.1")))
            .await
            .expect("no hang")
            .unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let remaining = header("x-ratelimit-limit")
            .zip(header("x-ratelimit-remaining"))
            .map(|(limit, remaining)| format!("{limit}/{remaining}"));
        // The IETF policy states the limit the counts are of too.
        let (limit, left) = remaining
            .as_deref()
            .and_then(|r| r.split_once('/'))
            .expect("X-RateLimit-* headers");
        assert_eq!(
            header("ratelimit-policy").as_deref(),
            Some(format!("\"test\";q={limit};w=3600").as_str())
        );
        assert!(
            header("ratelimit").is_some_and(|v| v.starts_with(&format!("\"test\";r={left};t="))),
            "{:?}",
            header("ratelimit")
        );
        seen.lock().unwrap().extend(header("ratelimit"));
        let by = res.extensions().get::<DecidedBy>().copied();
        let status = res.status();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        (
            status,
            remaining,
            by,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    };
    let remote = |remaining: &str| {
        (
            StatusCode::OK,
            Some(remaining.to_owned()),
            Some(DecidedBy::Remote),
            "remote".to_owned(),
        )
    };
    assert_eq!(call(app.clone()).await, remote("10/9"));
    assert_eq!(call(app.clone()).await, remote("10/8"));

    server.kill();
    // In memory from the first failure on: 10 / 2 = 5 per hour, counted from zero, exactly,
    // probes included (a failed probe is decided in memory too).
    for remaining in ["5/4", "5/3", "5/2", "5/1", "5/0"] {
        assert_eq!(
            call(app.clone()).await,
            (
                StatusCode::OK,
                Some(remaining.to_owned()),
                Some(DecidedBy::Local),
                "local".to_owned()
            )
        );
    }
    // `t` is of the share too: its tokens come back every 720 s (5 an hour), not 360.
    assert_eq!(
        seen.lock().unwrap()[2..4],
        [r#""test";r=4;t=720"#, r#""test";r=3;t=720"#]
    );
    for _ in 0..3 {
        let (status, remaining, by, body) = call(app.clone()).await;
        assert_eq!(
            (status, remaining.as_deref(), by),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("5/0"),
                Some(DecidedBy::Local)
            )
        );
        // The problem names the quota that refused: this instance's share.
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("Rate limit exceeded (5 per hour). Retry in "),
            "{problem}"
        );
        // Across a probe or two (100 ms, then 200 ms): still refused in memory.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    server.restart();
    // A probe finds Redis again (within the backoff), and Redis decides from then on: its
    // counts started over (persistence is off).
    let mut back = None;
    for _ in 0..100 {
        let answer = call(app.clone()).await;
        if answer.2 == Some(DecidedBy::Remote) {
            back = Some(answer);
            break;
        }
        assert_eq!(answer.0, StatusCode::TOO_MANY_REQUESTS);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(back, Some(remote("10/9")));
    assert_eq!(call(app.clone()).await, remote("10/8"));
}
