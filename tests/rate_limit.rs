//! RateLimitLayer through real Routers: headers, problem bodies, tiers, routes, costs, several
//! limits, allow-lists, shadow mode, missing keys, store failures, the leaky bucket's delays,
//! concurrency across connections, and client IPs that cannot be spoofed.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::call;
use http::{HeaderMap, Request, StatusCode};
use tokio::net::TcpListener;
use tower_shield::auth::{AuthMethod, Principal, Tier};
use tower_shield::problem::TYPE_BASE;
use tower_shield::rate_limit::{
    Algorithm, Answer, Check, ClientIp, ConfigError, HeaderStyle, KeyBy, Limit, ManualClock,
    MemoryStore, MissingKey, PeerAddr, Pending, Quota, RateLimitBuilder, RateLimitLayer,
    RateOutcome, Store, StoreError, StoreFailure, Tiers, Unchecked,
};

/// 2024-06-15T11:43:00Z: on a minute boundary.
const T0: u64 = 1_718_451_780;

fn clock() -> ManualClock {
    ManualClock::at_unix_secs(T0)
}

fn store(clock: &ManualClock) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

fn app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/search", get(|| async { "results" }))
        .route("/posts", get(|| async { "posts" }))
        .route(
            "/unchecked",
            get(|req: Request<Body>| async move {
                if req.extensions().get::<Unchecked>().is_some() {
                    "unchecked"
                } else {
                    "checked"
                }
            }),
        )
        .layer(layer)
}

fn from(ip: &str, uri: &str) -> Request<Body> {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    let addr: SocketAddr = if ip.contains(':') {
        format!("[{ip}]:40000")
    } else {
        format!("{ip}:40000")
    }
    .parse()
    .unwrap();
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

fn as_principal(mut req: Request<Body>, subject: &str, tier: Tier) -> Request<Body> {
    req.extensions_mut().insert(
        Principal::builder(subject, AuthMethod::ApiKey)
            .tier(tier)
            .build(),
    );
    req
}

fn rate(headers: &HeaderMap) -> (String, String, String) {
    let get = |n: &str| {
        headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (
        get("x-ratelimit-limit"),
        get("x-ratelimit-remaining"),
        get("x-ratelimit-reset"),
    )
}

fn triple(limit: u64, remaining: u64, reset: u64) -> (String, String, String) {
    (limit.to_string(), remaining.to_string(), reset.to_string())
}

fn builder(clock: &ManualClock) -> RateLimitBuilder {
    RateLimitLayer::builder().store(store(clock))
}

/// A layer on a route (a tight limit) inside one around the Router (a loose one): the outer
/// layer's headers are added beside the inner layer's, never over them. On the inner layer's
/// `429`, `X-RateLimit-*` and `Retry-After` are of the limit that refused, and `RateLimit`
/// holds both limits' items, one field line each.
#[tokio::test]
async fn nested_layers_report_both_limits_and_the_refusing_one_wins() {
    let clock = clock();
    let inner = builder(&clock)
        .limit(Limit::new("search", Quota::per_minute(1)).key(KeyBy::ip()))
        .headers(HeaderStyle::Both)
        .build()
        .unwrap();
    let outer = builder(&clock)
        .limit(Limit::new("hourly", Quota::per_hour(100)).key(KeyBy::ip()))
        .headers(HeaderStyle::Both)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/search", get(|| async { "results" }).route_layer(inner))
        .route("/posts", get(|| async { "posts" }))
        .layer(outer);
    let lines = |h: &HeaderMap, name: &str| -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let (status, h, _) = call(&app, from("203.0.113.7", "/search")).await;
    assert_eq!(status, StatusCode::OK);
    // The route's limit is the closer one (0 left against 99).
    assert_eq!(h["x-ratelimit-limit"], "1");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(
        lines(&h, "ratelimit-policy"),
        [r#""search";q=1;w=60"#, r#""hourly";q=100;w=3600"#]
    );
    assert_eq!(
        lines(&h, "ratelimit"),
        [r#""search";r=0;t=60"#, r#""hourly";r=99;t=36"#]
    );
    let (status, h, _) = call(&app, from("203.0.113.7", "/search")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "60");
    assert_eq!(h["x-ratelimit-limit"], "1");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"], (T0 + 60).to_string().as_str());
    assert_eq!(
        lines(&h, "ratelimit"),
        [r#""search";r=0;t=60"#, r#""hourly";r=98;t=36"#]
    );
    // Elsewhere only the outer limit applies, its headers alone.
    let (status, h, _) = call(&app, from("203.0.113.7", "/posts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-ratelimit-limit"], "100");
    assert_eq!(h["x-ratelimit-remaining"], "97");
    assert_eq!(lines(&h, "ratelimit"), [r#""hourly";r=97;t=36"#]);
}

#[tokio::test]
async fn every_response_carries_the_headers_and_a_429_is_a_problem() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("per-minute", Quota::per_minute(3)))
        .build()
        .unwrap());
    // One token every 20 s: the bucket is full again 20 s after each request's arrival time.
    for (remaining, reset) in [(2, T0 + 20), (1, T0 + 40), (0, T0 + 60)] {
        let (status, headers, body) = call(&app, from("203.0.113.7", "/posts")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"posts");
        assert_eq!(rate(&headers), triple(3, remaining, reset));
        assert!(headers.get("retry-after").is_none());
    }
    let (status, headers, body) = call(&app, from("203.0.113.7", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rate(&headers), triple(3, 0, T0 + 60));
    assert_eq!(headers["retry-after"], "20");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        String::from_utf8(body.to_vec()).unwrap(),
        format!(
            r#"{{"type":"{TYPE_BASE}rate-limited","title":"Too Many Requests","status":429,"detail":"Rate limit exceeded (3 per minute). Retry in 20 seconds.","limit":"per-minute","retry_after":20}}"#
        )
    );
    // Another client has its own bucket.
    let (status, headers, _) = call(&app, from("203.0.113.8", "/posts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rate(&headers), triple(3, 2, T0 + 20));
    // A retry after Retry-After is admitted, not one microsecond before.
    clock.advance(Duration::from_secs(20) - Duration::from_micros(1));
    let (status, _, _) = call(&app, from("203.0.113.7", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::from_micros(1));
    let (status, headers, _) = call(&app, from("203.0.113.7", "/posts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rate(&headers), triple(3, 0, T0 + 80));
}

#[tokio::test]
async fn retry_after_is_rounded_up_to_whole_seconds() {
    let clock = clock();
    // 3 per second: a token every 333,334 µs.
    let app = app(builder(&clock)
        .limit(Limit::new("burst", Quota::per_second(3)))
        .build()
        .unwrap());
    for _ in 0..3 {
        assert_eq!(
            call(&app, from("192.0.2.1", "/posts")).await.0,
            StatusCode::OK
        );
    }
    let (status, headers, _) = call(&app, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");
    // Reset: the bucket is full 3 × 333,334 µs after T0, so the header says T0 + 2 (rounded up).
    assert_eq!(rate(&headers), triple(3, 0, T0 + 2));
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        call(&app, from("192.0.2.1", "/posts")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn quotas_follow_the_principals_tier() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::tiered("hourly", Tiers::standard()))
        .build()
        .unwrap());
    let anonymous = || from("198.51.100.4", "/posts");
    let (_, h, _) = call(&app, anonymous()).await;
    assert_eq!(rate(&h), triple(60, 59, T0 + 60));
    let (_, h, _) = call(
        &app,
        as_principal(anonymous(), "demo-app", Tier::AUTHENTICATED),
    )
    .await;
    assert_eq!(rate(&h), triple(1000, 999, T0 + 4));
    let (_, h, _) = call(
        &app,
        as_principal(anonymous(), "premium-app", Tier::PREMIUM),
    )
    .await;
    assert_eq!(rate(&h), triple(10_000, 9_999, T0 + 1));
    let (_, h, _) = call(&app, as_principal(anonymous(), "batch", Tier::INTERNAL)).await;
    assert_eq!(rate(&h), triple(100_000, 99_999, T0 + 1));
    // A tier without a quota of its own gets the authenticated one.
    let (_, h, _) = call(&app, as_principal(anonymous(), "gold", Tier::new("gold"))).await;
    assert_eq!(rate(&h), triple(1000, 999, T0 + 4));
    // The anonymous counter is the IP's: 58 left, whoever else came from it authenticated.
    let (_, h, _) = call(&app, anonymous()).await;
    assert_eq!(rate(&h).1, "58");
}

#[tokio::test]
async fn the_search_route_has_its_own_tighter_limit_and_the_tightest_decides() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("hourly", Quota::per_hour(1000)))
        .limit(Limit::new("search", Quota::per_second(2).burst(20)).path("/search"))
        .headers(HeaderStyle::Both)
        .build()
        .unwrap());
    let (status, h, _) = call(&app, from("192.0.2.9", "/search")).await;
    assert_eq!(status, StatusCode::OK);
    // The search limit is the closer one: its numbers are reported.
    assert_eq!(rate(&h), triple(20, 19, T0 + 1));
    assert_eq!(
        h["ratelimit-policy"],
        r#""hourly";q=1000;w=3600, "search";q=20;w=10"#
    );
    assert_eq!(h["ratelimit"], r#""hourly";r=999;t=4, "search";r=19;t=1"#);
    for _ in 0..19 {
        assert_eq!(
            call(&app, from("192.0.2.9", "/search")).await.0,
            StatusCode::OK
        );
    }
    let (status, h, body) = call(&app, from("192.0.2.9", "/search")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(rate(&h), triple(20, 0, T0 + 10));
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .contains(r#""limit":"search""#)
    );
    // The refused search spent nothing of the hourly quota: 20 searches, 980 left.
    let (status, h, _) = call(&app, from("192.0.2.9", "/posts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rate(&h), triple(1000, 979, T0 + 76));
    // `t` is until the next token (3.6 s), not until the bucket is full (75.6 s).
    assert_eq!(h["ratelimit"], r#""hourly";r=979;t=4"#);
    // Half a second later one search token is back.
    clock.advance(Duration::from_millis(500));
    assert_eq!(
        call(&app, from("192.0.2.9", "/search")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ietf_headers_alone() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("minute", Quota::per_minute(10)).algorithm(Algorithm::FixedWindow))
        .headers(HeaderStyle::Ietf)
        .build()
        .unwrap());
    clock.advance(Duration::from_secs(15));
    let (_, h, _) = call(&app, from("192.0.2.1", "/posts")).await;
    assert!(h.get("x-ratelimit-limit").is_none());
    assert_eq!(h["ratelimit-policy"], r#""minute";q=10;w=60"#);
    assert_eq!(h["ratelimit"], r#""minute";r=9;t=45"#);
}

/// A token bucket's policy window is its quota's: `per_second(3)` is 3 per second (`w=1`),
/// though its refill interval, rounded up to the microsecond, times 3 passes a second; a burst
/// of 20 at 2 per second fills in 10 s; 7 per minute is a 60 s window. A window under a
/// second (a burst of 1 at two million per second: half a microsecond) is `w=1`: the draft's
/// window is a non-zero integer.
#[tokio::test]
async fn token_bucket_policy_windows_are_the_quotas() {
    for (quota, policy) in [
        (Quota::per_second(3), r#""q";q=3;w=1"#),
        (Quota::per_second(2_000_000).burst(1), r#""q";q=1;w=1"#),
        (Quota::per_minute(7), r#""q";q=7;w=60"#),
        (Quota::per_hour(7), r#""q";q=7;w=3600"#),
        (Quota::per_second(2).burst(20), r#""q";q=20;w=10"#),
    ] {
        let clock = clock();
        let app = app(builder(&clock)
            .limit(Limit::new("q", quota))
            .headers(HeaderStyle::Ietf)
            .build()
            .unwrap());
        let (_, h, _) = call(&app, from("192.0.2.1", "/posts")).await;
        assert_eq!(h["ratelimit-policy"], policy, "{quota}");
    }
}

#[tokio::test]
async fn costs_weigh_requests() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("fixed", Quota::per_minute(10)).cost(5))
        .limit(
            Limit::new("weighted", Quota::per_minute(100))
                .algorithm(Algorithm::SlidingWindow)
                .cost_by(|req| if req.uri().path() == "/search" { 40 } else { 0 }),
        )
        .build()
        .unwrap());
    let (_, h, _) = call(&app, from("192.0.2.1", "/search")).await;
    assert_eq!(rate(&h).1, "5");
    // The sliding window reads 60 left, the bucket 5: the bucket is reported.
    let (_, h, _) = call(&app, from("192.0.2.1", "/search")).await;
    assert_eq!(rate(&h), triple(10, 0, T0 + 60));
    let (status, h, _) = call(&app, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "30");

    // A cost above the whole limit: refused, and no Retry-After since waiting cannot help.
    let app = app_with_cost(&clock, 11);
    let (status, h, body) = call(&app, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.get("retry-after").is_none());
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .contains("This request costs more than the whole limit (10 per minute) allows.")
    );
}

fn app_with_cost(clock: &ManualClock, cost: u32) -> Router {
    app(builder(clock)
        .limit(Limit::new("fixed", Quota::per_minute(10)).cost(cost))
        .build()
        .unwrap())
}

/// An allow-listed network is compared with the client's whole address, not the /64 (or
/// other prefix) its rate-limit key groups it in: a single IPv6 address exempts that host, and
/// the base of a /64 is that address alone, not the whole /64.
#[tokio::test]
async fn allow_networks_match_the_full_client_address() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("one", Quota::per_hour(1)).key(KeyBy::ip()))
        .allow_networks(["2001:db8::10", "2001:db8:1::"])
        .build()
        .unwrap());
    for _ in 0..3 {
        let (status, h, _) = call(&app, from("2001:db8::10", "/posts")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(h.get("x-ratelimit-limit").is_none());
    }
    assert_eq!(
        call(&app, from("2001:db8:1::7", "/posts")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, from("2001:db8:1::7", "/posts")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn allow_lists_bypass_and_shadow_mode_never_refuses() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("one", Quota::per_hour(1)))
        .allow_networks(["10.0.0.0/8", "2001:db8:ffff::/48"])
        .allow_tier(Tier::INTERNAL)
        .allow_if(|req| req.headers().contains_key("x-health-probe"))
        .build()
        .unwrap());
    for _ in 0..3 {
        let (status, h, _) = call(&app, from("10.1.2.3", "/posts")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(h.get("x-ratelimit-limit").is_none());
        let (status, _, _) = call(&app, from("2001:db8:ffff:1::7", "/posts")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(
            &app,
            as_principal(from("192.0.2.1", "/posts"), "svc", Tier::INTERNAL),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let mut probe = from("192.0.2.1", "/posts");
        probe
            .headers_mut()
            .insert("x-health-probe", "1".parse().unwrap());
        assert_eq!(call(&app, probe).await.0, StatusCode::OK);
    }
    assert_eq!(
        call(&app, from("192.0.2.1", "/posts")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, from("192.0.2.1", "/posts")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let shadow = app_shadow(
        &clock,
        move |e: &tower_shield::rate_limit::RateLimitEvent<'_>| {
            seen.lock()
                .unwrap()
                .push((e.outcome, e.limit.map(str::to_owned), e.remaining));
        },
    );
    for _ in 0..3 {
        let (status, _, body) = call(&shadow, from("192.0.2.1", "/posts")).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"posts"[..]));
    }
    let (_, h, _) = call(&shadow, from("192.0.2.1", "/posts")).await;
    assert_eq!(rate(&h), triple(1, 0, T0 + 3600));
    assert!(h.get("retry-after").is_none());
    let one = Some("one".to_owned());
    assert_eq!(
        *events.lock().unwrap(),
        [
            (RateOutcome::Allowed, one.clone(), Some(0)),
            (RateOutcome::ShadowLimited, one.clone(), Some(0)),
            (RateOutcome::ShadowLimited, one.clone(), Some(0)),
            (RateOutcome::ShadowLimited, one, Some(0)),
        ]
    );
}

fn app_shadow(
    clock: &ManualClock,
    observer: impl Fn(&tower_shield::rate_limit::RateLimitEvent<'_>) + Send + Sync + 'static,
) -> Router {
    app(builder(clock)
        .limit(Limit::new("one", Quota::per_hour(1)))
        .shadow(true)
        .observer(observer)
        .build()
        .unwrap())
}

#[tokio::test]
async fn a_missing_key_follows_the_policy() {
    let clock = clock();
    let no_peer = || Request::get("/posts").body(Body::empty()).unwrap();

    // Default: a 500 that tells the client nothing.
    let app1 = app(builder(&clock)
        .limit(Limit::new("ip", Quota::per_hour(5)).key(KeyBy::ip()))
        .build()
        .unwrap());
    let (status, h, body) = call(&app1, no_peer()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(
        String::from_utf8(body.to_vec()).unwrap(),
        format!(
            r#"{{"type":"{TYPE_BASE}internal-error","title":"Internal Server Error","status":500,"detail":"The server could not handle this request."}}"#
        )
    );

    // Unauthorized: a limit per principal answers 401 to a request without one.
    let app2 = app(builder(&clock)
        .limit(Limit::new("sub", Quota::per_hour(5)).key(KeyBy::subject()))
        .on_missing_key(MissingKey::Unauthorized)
        .build()
        .unwrap());
    let (status, h, body) = call(&app2, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(std::str::from_utf8(&body).unwrap().contains("unauthorized"));
    assert_eq!(h["content-type"], "application/problem+json");
    assert!(
        std::str::from_utf8(&body).unwrap().starts_with(&format!(
            r#"{{"type":"{TYPE_BASE}unauthorized","title":"Unauthorized","status":401"#
        )),
        "{body:?}"
    );
    // No AuthLayer outside: no scheme to challenge with.
    assert!(h.get("www-authenticate").is_none());
    let (status, h, _) = call(
        &app2,
        as_principal(from("192.0.2.1", "/posts"), "jane", Tier::AUTHENTICATED),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rate(&h).1, "4");

    // Shared: every keyless request counts on one key.
    let app3 = app(builder(&clock)
        .limit(
            Limit::new("tenant", Quota::per_hour(2))
                .key(KeyBy::header(http::HeaderName::from_static("x-tenant"))),
        )
        .on_missing_key(MissingKey::Shared)
        .build()
        .unwrap());
    assert_eq!(call(&app3, no_peer()).await.0, StatusCode::OK);
    assert_eq!(call(&app3, no_peer()).await.0, StatusCode::OK);
    assert_eq!(
        call(&app3, no_peer()).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut tenant = no_peer();
    tenant
        .headers_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    assert_eq!(call(&app3, tenant).await.0, StatusCode::OK);
}

/// A store across the network: answers later, and can be made to fail.
#[derive(Clone)]
struct Remote {
    memory: MemoryStore,
    down: Arc<std::sync::atomic::AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Store for Remote {
    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Answer::later(async {
                tokio::task::yield_now().await;
                Err(StoreError::timeout())
            });
        }
        let answer = self.memory.decide(checks);
        Answer::later(async move {
            tokio::task::yield_now().await;
            answer.resolve().await
        })
    }
}

#[tokio::test]
async fn an_async_store_decides_and_a_failing_one_follows_the_policy() {
    let clock = clock();
    let remote = Remote {
        memory: store(&clock),
        down: Arc::default(),
        calls: Arc::default(),
    };
    let layer = |failure| {
        RateLimitLayer::builder()
            .store(remote.clone())
            .limit(Limit::new("remote", Quota::per_minute(2)))
            .on_store_failure(failure)
            .build()
            .unwrap()
    };
    let open = app(layer(StoreFailure::Open));
    let closed = app(layer(StoreFailure::Closed));
    let (status, h, body) = call(&open, from("192.0.2.1", "/unchecked")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"checked"[..]));
    assert_eq!(rate(&h), triple(2, 1, T0 + 30));
    assert_eq!(
        call(&closed, from("192.0.2.1", "/posts")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&open, from("192.0.2.1", "/posts")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    remote.down.store(true, Ordering::SeqCst);
    let (status, h, body) = call(&open, from("192.0.2.1", "/unchecked")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"unchecked"[..]));
    assert!(h.get("x-ratelimit-limit").is_none());
    let (status, h, body) = call(&closed, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(
        String::from_utf8(body.to_vec()).unwrap(),
        format!(
            r#"{{"type":"{TYPE_BASE}rate-limit-unavailable","title":"Service Unavailable","status":503,"detail":"The rate limit could not be checked. Try again shortly."}}"#
        )
    );
    // Back up: decisions resume where they were.
    remote.down.store(false, Ordering::SeqCst);
    assert_eq!(
        call(&open, from("192.0.2.1", "/posts")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(remote.calls.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn the_leaky_bucket_delays_requests_to_the_drain_rate() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(
            Limit::new("queue", Quota::per_second(1)).algorithm(Algorithm::LeakyBucket {
                max_wait: Duration::from_secs(2),
            }),
        )
        .build()
        .unwrap());
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let (status, h, _) = call(&app, from("192.0.2.1", "/posts")).await;
            (status, rate(&h).1, start.elapsed())
        }));
        // Spawned one after the other so their order is known.
        tokio::task::yield_now().await;
    }
    let (status, h, _) = call(&app, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1");
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    assert_eq!(
        done,
        [
            (StatusCode::OK, "2".to_owned(), Duration::ZERO),
            (StatusCode::OK, "1".to_owned(), Duration::from_secs(1)),
            (StatusCode::OK, "0".to_owned(), Duration::from_secs(2)),
        ]
    );
}

/// Shadow mode counts and reports but never acts: a leaky bucket in shadow mode delays no
/// request (a real one would delay those within the queue, and refuse the rest).
#[tokio::test(start_paused = true)]
async fn a_leaky_bucket_in_shadow_mode_delays_nothing() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(
            Limit::new("queue", Quota::per_second(1)).algorithm(Algorithm::LeakyBucket {
                max_wait: Duration::from_secs(2),
            }),
        )
        .shadow(true)
        .build()
        .unwrap());
    let start = tokio::time::Instant::now();
    for _ in 0..4 {
        let (status, _, _) = call(&app, from("192.0.2.1", "/posts")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[test]
fn eight_tasks_on_one_key_get_exactly_the_quota() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for algorithm in [
            Algorithm::TokenBucket,
            Algorithm::FixedWindow,
            Algorithm::SlidingWindow,
        ] {
            let clock = clock();
            let app = app(builder(&clock)
                .limit(Limit::new("hot", Quota::per_hour(500)).algorithm(algorithm))
                .build()
                .unwrap());
            let allowed = Arc::new(AtomicUsize::new(0));
            let refused = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..8 {
                // A clone per task, as axum clones the service per connection.
                let app = app.clone();
                let (allowed, refused) = (Arc::clone(&allowed), Arc::clone(&refused));
                tasks.push(tokio::spawn(async move {
                    for _ in 0..200 {
                        match call(&app, from("192.0.2.1", "/posts")).await.0 {
                            StatusCode::OK => allowed.fetch_add(1, Ordering::SeqCst),
                            StatusCode::TOO_MANY_REQUESTS => refused.fetch_add(1, Ordering::SeqCst),
                            other => panic!("unexpected {other}"),
                        };
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(allowed.load(Ordering::SeqCst), 500, "{algorithm:?}");
            assert_eq!(refused.load(Ordering::SeqCst), 1100, "{algorithm:?}");
        }
    });
}

/// Serves `app` on loopback with the peer address of every connection.
async fn serve_with_peers(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn get_over_tcp(addr: SocketAddr, xff: Option<&str>) -> common::RawResponse {
    let extra = xff.map_or(String::new(), |v| format!("X-Forwarded-For: {v}\r\n"));
    let head = format!("GET /posts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n");
    common::raw(addr, head.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_share_one_limit_and_forged_forwarding_headers_change_nothing() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("ip", Quota::per_hour(3)).key(KeyBy::ip()))
        .build()
        .unwrap());
    let addr = serve_with_peers(app).await;
    // Each request on its own connection, each with a different forged X-Forwarded-For: the
    // peer (127.0.0.1) is not a trusted proxy, so the header is ignored.
    let mut statuses = Vec::new();
    for forged in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4, 5.5.5.5"] {
        let res = get_over_tcp(addr, Some(forged)).await;
        statuses.push((
            res.status,
            res.header("x-ratelimit-remaining").map(str::to_owned),
        ));
    }
    assert_eq!(
        statuses,
        [
            (200, Some("2".into())),
            (200, Some("1".into())),
            (200, Some("0".into())),
            (429, Some("0".into())),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
    let clock = clock();
    let app = app(builder(&clock)
        .client_ip(
            ClientIp::builder()
                .trust_proxies(["127.0.0.1", "10.0.0.0/8"])
                .build()
                .unwrap(),
        )
        .limit(Limit::new("ip", Quota::per_hour(2)).key(KeyBy::ip()))
        .build()
        .unwrap());
    let addr = serve_with_peers(app).await;
    // The client at 203.0.113.9 forges a different left-most entry every time; the proxies
    // (10.0.0.5, then the loopback peer) append what they saw.
    let a = get_over_tcp(addr, Some("6.6.6.6, 203.0.113.9, 10.0.0.5")).await;
    let b = get_over_tcp(addr, Some("7.7.7.7, 203.0.113.9, 10.0.0.5")).await;
    let c = get_over_tcp(addr, Some("203.0.113.9, 10.0.0.5")).await;
    assert_eq!((a.status, b.status, c.status), (200, 200, 429));
    // A different client behind the same proxies has its own counter.
    let d = get_over_tcp(addr, Some("203.0.113.10, 10.0.0.5")).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.header("x-ratelimit-remaining"), Some("1"));
    // A proxy that wrote garbage for the client: the key is missing (a 500 by default).
    let e = get_over_tcp(addr, Some("not-an-ip")).await;
    assert_eq!(e.status, 500);
}

#[tokio::test]
async fn ipv6_clients_are_grouped_by_their_64() {
    let clock = clock();
    let app = app(builder(&clock)
        .limit(Limit::new("ip", Quota::per_hour(2)).key(KeyBy::ip()))
        .build()
        .unwrap());
    assert_eq!(
        call(&app, from("2001:db8:1:2::1", "/posts")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, from("2001:db8:1:2:ffff::9", "/posts")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, from("2001:db8:1:2::77", "/posts")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        call(&app, from("2001:db8:1:3::1", "/posts")).await.0,
        StatusCode::OK
    );
}

#[test]
fn bad_configuration_is_an_error_at_build_time() {
    let err = |b: RateLimitBuilder| b.build().unwrap_err();
    assert_eq!(err(RateLimitLayer::builder()), ConfigError::NoLimits);
    assert_eq!(
        err(RateLimitLayer::builder()
            .limit(Limit::new("a", Quota::per_hour(1)))
            .limit(Limit::new("a", Quota::per_minute(1)))),
        ConfigError::DuplicateName { name: "a".into() }
    );
    assert_eq!(
        err(RateLimitLayer::builder().limit(Limit::new("has space", Quota::per_hour(1)))),
        ConfigError::InvalidName {
            name: "has space".into()
        }
    );
    let e = err(RateLimitLayer::builder()
        .limit(Limit::new("w", Quota::per_hour(10).burst(2)).algorithm(Algorithm::FixedWindow)));
    assert_eq!(
        e.to_string(),
        r#"limit "w": a burst only applies to the token bucket algorithm"#
    );
    let e = err(RateLimitLayer::builder().limit(Limit::new("z", Quota::per_hour(0))));
    assert_eq!(
        e.to_string(),
        r#"limit "z": a quota's limit must be at least 1"#
    );
    assert_eq!(
        err(RateLimitLayer::builder()
            .limit(Limit::new("a", Quota::per_hour(1)))
            .allow_networks(["10.0.0.0/33"])),
        ConfigError::InvalidNetwork {
            value: "10.0.0.0/33".into()
        }
    );
    // Bits past the prefix would exempt a whole network: refused, naming it.
    let e = err(RateLimitLayer::builder()
        .limit(Limit::new("a", Quota::per_hour(1)))
        .allow_networks(["198.51.100.7/16"]));
    assert_eq!(
        e,
        ConfigError::HostBitsSet {
            value: "198.51.100.7/16".into(),
            network: "198.51.0.0/16".into()
        }
    );
    assert_eq!(
        e.to_string(),
        r#"allow-listed network "198.51.100.7/16" has bits set past its prefix: write "198.51.0.0/16" if you mean it"#
    );
    assert_eq!(
        err(RateLimitLayer::builder().limit(Limit::new("p", Quota::per_hour(1)).path("search"))),
        ConfigError::InvalidPath {
            path: "search".into()
        }
    );
    assert_eq!(
        err(RateLimitLayer::builder().limit(Limit::tiered(
            "t",
            Tiers::new(Quota::per_hour(1)).tier(Tier::new("gold plan"), Quota::per_hour(2))
        ))),
        ConfigError::InvalidTier {
            tier: "gold plan".into()
        }
    );
}

#[test]
fn a_leaky_bucket_without_a_tokio_runtime_answers_500_instead_of_panicking() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service};

    let clock = clock();
    let layer = builder(&clock)
        .limit(
            Limit::new("queue", Quota::per_second(1)).algorithm(Algorithm::LeakyBucket {
                max_wait: Duration::from_secs(2),
            }),
        )
        .build()
        .unwrap();
    let mut svc = layer.layer(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
    }));
    fn once<S>(svc: &mut S) -> StatusCode
    where
        S: Service<
                Request<Body>,
                Response = http::Response<tower_shield::body::ResponseBody<Body>>,
            >,
        S::Error: std::fmt::Debug,
    {
        let mut cx = Context::from_waker(Waker::noop());
        let mut fut = Box::pin(svc.call(from("192.0.2.1", "/posts")));
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(res)) => res.status(),
            Poll::Ready(Err(e)) => panic!("service error {e:?}"),
            Poll::Pending => panic!("not ready at once"),
        }
    }
    // The first request's turn is now: no wait, no timer needed.
    assert_eq!(once(&mut svc), StatusCode::OK);
    // The second must wait a second, which needs tokio's timer: a 500, not a panic.
    assert_eq!(once(&mut svc), StatusCode::INTERNAL_SERVER_ERROR);
}

// ---------------------------------------------------------------------------------------------
// Issue 12, findings 4, 5 and 7.
// ---------------------------------------------------------------------------------------------

fn with_api_key(mut req: Request<Body>, key: &str) -> Request<Body> {
    req.headers_mut().insert("x-api-key", key.parse().unwrap());
    req
}

#[tokio::test]
async fn made_up_api_keys_get_no_counter_of_their_own() {
    let clock = clock();
    // Five made-up keys against 1 per hour: the missing-key policy answers, never 5 × 200.
    let app1 = app(builder(&clock)
        .limit(Limit::new("per-key", Quota::per_hour(1)).key(KeyBy::api_key()))
        .build()
        .unwrap());
    for i in 0..5 {
        let req = with_api_key(from("192.0.2.1", "/posts"), &format!("ak_made_up_{i}"));
        assert_eq!(
            call(&app1, req).await.0,
            StatusCode::INTERNAL_SERVER_ERROR,
            "made-up key {i}"
        );
    }
    // Under MissingKey::Shared they all count on one key: one 200, then 429s.
    let app2 = app(builder(&clock)
        .limit(Limit::new("per-key", Quota::per_hour(1)).key(KeyBy::api_key()))
        .on_missing_key(MissingKey::Shared)
        .build()
        .unwrap());
    let mut statuses = Vec::new();
    for i in 0..5 {
        let req = with_api_key(from("192.0.2.1", "/posts"), &format!("ak_made_up_{i}"));
        statuses.push(call(&app2, req).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
    // A key an authenticator validated has its own counter, whatever header comes with it.
    let validated = |key_id: &str, header: &str| {
        let mut req = with_api_key(from("192.0.2.1", "/posts"), header);
        req.extensions_mut().insert(
            Principal::builder("app", AuthMethod::ApiKey)
                .key_id(key_id)
                .build(),
        );
        req
    };
    assert_eq!(call(&app1, validated("k1", "x")).await.0, StatusCode::OK);
    assert_eq!(
        call(&app1, validated("k1", "y")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(call(&app1, validated("k2", "y")).await.0, StatusCode::OK);
}

/// The documented stack: the limiter wraps the whole Router from outside (as the versioning
/// layer requires), so routing has not run yet and there is no `MatchedPath`.
fn posts_app(layer: RateLimitLayer) -> Router {
    use tower::Layer as _;
    let inner = Router::new()
        .route("/posts/{id}", get(|| async { "post" }))
        .route("/users/{id}", get(|| async { "user" }));
    Router::new().fallback_service(layer.layer(inner))
}

#[tokio::test]
async fn outside_the_router_routes_come_from_declared_templates_never_raw_paths() {
    let clock = clock();
    // No MatchedPath outside the Router and no template: the missing-key policy, not one
    // counter per raw path.
    let app1 = posts_app(
        builder(&clock)
            .limit(Limit::new("per-route", Quota::per_hour(2)).key(KeyBy::route()))
            .build()
            .unwrap(),
    );
    for p in ["/posts/1", "/posts/2", "/posts/3"] {
        assert_eq!(
            call(&app1, from("192.0.2.1", p)).await.0,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{p}"
        );
    }
    // With the templates declared: /posts/1, /posts/2 and /posts/3 share one counter.
    let app2 = posts_app(
        builder(&clock)
            .limit(
                Limit::new("per-route", Quota::per_hour(2))
                    .key(KeyBy::route_templates(["/posts/{id}", "/users/{id}"])),
            )
            .build()
            .unwrap(),
    );
    let mut statuses = Vec::new();
    for p in ["/posts/1", "/posts/2", "/posts/3"] {
        statuses.push(call(&app2, from("192.0.2.1", p)).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Another template has its own counter; a path no template matches is keyless.
    assert_eq!(
        call(&app2, from("192.0.2.1", "/users/7")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app2, from("192.0.2.1", "/other")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Inside the Router (route_layer), axum's MatchedPath is the key.
    let app3 = Router::new()
        .route("/posts/{id}", get(|| async { "post" }))
        .route_layer(
            builder(&clock)
                .limit(Limit::new("per-route", Quota::per_hour(2)).key(KeyBy::route()))
                .build()
                .unwrap(),
        );
    let mut statuses = Vec::new();
    for p in ["/posts/1", "/posts/2", "/posts/3"] {
        statuses.push(call(&app3, from("192.0.2.1", p)).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // A template that does not parse is a build error.
    assert!(matches!(
        builder(&clock)
            .limit(Limit::new("r", Quota::per_hour(2)).key(KeyBy::route_templates(["posts/:id"])))
            .build(),
        Err(ConfigError::InvalidRouteTemplate { .. })
    ));
}

#[tokio::test]
async fn on_a_429_the_ietf_t_is_the_retry_after() {
    let clock = clock();
    // A token bucket of 3, one token a second: refused with Retry-After 1, and t says 1 too
    // (not the 3 s until the bucket is full).
    let app1 = app(builder(&clock)
        .limit(Limit::new("tb", Quota::per_second(1).burst(3)))
        .headers(HeaderStyle::Ietf)
        .build()
        .unwrap());
    for _ in 0..3 {
        assert_eq!(
            call(&app1, from("192.0.2.1", "/posts")).await.0,
            StatusCode::OK
        );
    }
    let (status, h, _) = call(&app1, from("192.0.2.1", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["ratelimit"], r#""tb";r=0;t=1"#);

    // A sliding window of 10 a minute, spent 20 s into a window: Retry-After 46, t 46 (not
    // the 100 s until the key is back to its full limit).
    let app2 = app(builder(&clock)
        .limit(Limit::new("sw", Quota::per_minute(10)).algorithm(Algorithm::SlidingWindow))
        .headers(HeaderStyle::Ietf)
        .build()
        .unwrap());
    clock.advance(Duration::from_secs(20));
    for _ in 0..10 {
        assert_eq!(
            call(&app2, from("192.0.2.2", "/posts")).await.0,
            StatusCode::OK
        );
    }
    let (status, h, _) = call(&app2, from("192.0.2.2", "/posts")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "46");
    assert_eq!(h["ratelimit"], r#""sw";r=0;t=46"#);
}
