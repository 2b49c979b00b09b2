//! The failed-credential throttle of `AuthLayer` through real axum Routers: a flood of wrong
//! Basic passwords from one IP barely reaches the hasher, a real user from elsewhere is not
//! shut out, attempts sent at once are judged as if sent in turn, a flood spread over 50 IPs
//! is held back by the identity limit without locking the user out, and a success clears the
//! (identity, IP) counter.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::call;
use http::{Request, StatusCode};
use tower_shield::auth::basic::Overloaded;
use tower_shield::auth::{
    Answer, Argon2Users, AuthLayer, AuthMethod, Backoff, BasicAuth, PasswordVerifier, Principal,
    Throttle,
};
use tower_shield::rate_limit::{ManualClock, MemoryStore, PeerAddr};

/// Argon2id with `kib` KiB, one pass.
fn hash(password: &str, kib: u32) -> String {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).unwrap();
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(kib, 1, 1, None).unwrap(),
    )
    .hash_password(password.as_bytes(), &salt)
    .unwrap()
    .to_string()
}

/// Argon2Users that counts the credentials reaching it (every one is hashed: an unknown user
/// is checked against a dummy hash).
#[derive(Clone)]
struct Counting {
    users: Argon2Users,
    hashed: Arc<AtomicUsize>,
}

impl PasswordVerifier for Counting {
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        self.hashed.fetch_add(1, Ordering::SeqCst);
        self.users.verify(username, password)
    }

    fn try_verify(
        &self,
        username: &str,
        password: &str,
    ) -> Answer<Result<Option<Principal>, Overloaded>> {
        self.hashed.fetch_add(1, Ordering::SeqCst);
        self.users.try_verify(username, password)
    }
}

fn verifier(kib: u32) -> Counting {
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &hash("password123", kib),
            Principal::builder("jane", AuthMethod::Basic).build(),
        )
        .unwrap();
    Counting {
        users,
        hashed: Arc::new(AtomicUsize::new(0)),
    }
}

fn app(verifier: Counting, throttle: Throttle) -> Router {
    Router::new().route("/", get(|| async { "ok" })).layer(
        AuthLayer::builder()
            .authenticator(BasicAuth::new(verifier))
            .throttle(throttle)
            .build()
            .unwrap(),
    )
}

fn login(user: &str, password: &str, ip: &str) -> Request<Body> {
    let token = STANDARD.encode(format!("{user}:{password}"));
    let mut req = Request::get("/")
        .header("authorization", format!("Basic {token}"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr(format!("{ip}:40000").parse().unwrap()));
    req
}

fn frozen() -> (ManualClock, MemoryStore) {
    let clock = ManualClock::at_unix_secs(1_700_000_000);
    let store = MemoryStore::builder().clock(clock.clone()).build();
    (clock, store)
}

#[tokio::test]
async fn two_hundred_wrong_passwords_from_one_ip_reach_the_hasher_five_times() {
    let (_clock, store) = frozen();
    let v = verifier(64);
    let app = app(v.clone(), Throttle::builder().store(store).build());
    for i in 0..200 {
        let (status, headers, body) =
            call(&app, login("jane", &format!("guess{i}"), "127.0.0.1")).await;
        if i < 5 {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
            continue;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "attempt {i}");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["content-type"], "application/problem+json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["type"],
            "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#login-throttled"
        );
        assert_eq!(json["status"], 429);
        assert_eq!(json["retry_after"], 1);
    }
    // The pair's 5 free failures, no more: the 195 refusals hashed nothing.
    assert_eq!(v.hashed.load(Ordering::SeqCst), 5);
}

/// A verifier whose every check takes 20 ms, as a password hash does, so that attempts sent
/// at once are all in flight together; counts the checks.
#[derive(Clone, Default)]
struct Slow {
    checked: Arc<AtomicUsize>,
}

impl PasswordVerifier for Slow {
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        self.checked.fetch_add(1, Ordering::SeqCst);
        // Every user's password is `password123`; `hang` is a check that never ends.
        let hang = password == "hang";
        let right = password == "password123";
        let user = username.to_owned();
        Answer::later(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            right.then(|| Principal::builder(user, AuthMethod::Basic).build())
        })
    }
}

fn slow_app(verifier: Slow, store: MemoryStore) -> Router {
    Router::new().route("/", get(|| async { "ok" })).layer(
        AuthLayer::builder()
            .authenticator(BasicAuth::new(verifier))
            .throttle(Throttle::builder().store(store).build())
            .build()
            .unwrap(),
    )
}

/// The statuses of `n` attempts sent at once, sorted.
async fn burst(app: &Router, n: usize, password: &str, ip: &str) -> Vec<StatusCode> {
    burst_of(app, n, |_| "jane".to_owned(), password, ip).await
}

/// [`burst`] with the `i`-th attempt's user named by `user(i)`.
async fn burst_of(
    app: &Router,
    n: usize,
    user: impl Fn(usize) -> String,
    password: &str,
    ip: &str,
) -> Vec<StatusCode> {
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..n {
        let password = if password.is_empty() {
            format!("guess{i}")
        } else {
            password.to_owned()
        };
        let (app, req) = (app.clone(), login(&user(i), &password, ip));
        attempts.spawn(async move { call(&app, req).await.0 });
    }
    let mut statuses = attempts.join_all().await;
    statuses.sort();
    statuses
}

#[tokio::test]
async fn ten_wrong_passwords_sent_at_once_reach_the_hasher_five_times() {
    let (clock, store) = frozen();
    let v = Slow::default();
    let app = slow_app(v.clone(), store);
    let statuses = burst(&app, 10, "", "127.0.0.1").await;
    // Five are checked together; the other five wait for them, then find the pair blocked.
    let mut want = vec![StatusCode::UNAUTHORIZED; 5];
    want.extend([StatusCode::TOO_MANY_REQUESTS; 5]);
    assert_eq!(statuses, want);
    assert_eq!(v.checked.load(Ordering::SeqCst), 5);
    // After the block, one attempt of a new burst is checked, as one sent alone would be.
    clock.advance(Duration::from_secs(1));
    let statuses = burst(&app, 10, "", "127.0.0.1").await;
    let mut want = vec![StatusCode::UNAUTHORIZED];
    want.extend([StatusCode::TOO_MANY_REQUESTS; 9]);
    assert_eq!(statuses, want);
    assert_eq!(v.checked.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn forty_users_behind_one_address_log_in_at_once() {
    let (_clock, store) = frozen();
    let v = Slow::default();
    let app = slow_app(v.clone(), store);
    // Twice the IP's free failures: checks in flight are gated per identity, not per address.
    let statuses = burst_of(&app, 40, |i| format!("user{i}"), "password123", "127.0.0.4").await;
    assert_eq!(statuses, vec![StatusCode::OK; 40]);
    assert_eq!(v.checked.load(Ordering::SeqCst), 40);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_ends_holds_the_next_attempt_five_seconds_then_it_is_a_503() {
    let (_clock, store) = frozen();
    let v = Slow::default();
    let app = slow_app(v.clone(), store);
    // Five checks of jane's that never end use up her pair's free failures...
    let mut hung = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (app, req) = (app.clone(), login("jane", "hang", "127.0.0.5"));
        hung.spawn(async move { call(&app, req).await.0 });
    }
    tokio::task::yield_now().await;
    // ...so the next waits for one of them, at most 5 s (the clock is paused and moves on
    // when everything waits), then is told to come back.
    let (status, headers, body) = call(&app, login("jane", "password123", "127.0.0.5")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#auth-overloaded"
    );
    assert_eq!(v.checked.load(Ordering::SeqCst), 5);
    hung.abort_all();
}

#[tokio::test]
async fn a_real_user_sending_eight_requests_at_once_gets_eight_answers() {
    let (_clock, store) = frozen();
    let v = Slow::default();
    let app = slow_app(v.clone(), store);
    // More than the pair's free failures: the last three wait for a check, then go on.
    let statuses = burst(&app, 8, "password123", "127.0.0.3").await;
    assert_eq!(statuses, vec![StatusCode::OK; 8]);
    assert_eq!(v.checked.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn the_answer_does_not_tell_whether_the_user_exists() {
    let (_clock, store) = frozen();
    let v = verifier(8);
    let app = app(v.clone(), Throttle::builder().store(store).build());
    let mut answers = Vec::new();
    for user in ["jane", "nobody"] {
        for i in 0..5 {
            let (status, _, _) = call(&app, login(user, &format!("x{i}"), "127.0.0.9")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, headers, body) = call(&app, login(user, "x", "127.0.0.9")).await;
        answers.push((status, headers["retry-after"].clone(), body));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_user_from_another_ip_logs_in_during_the_flood() {
    // A realistic cost: about 4 MiB, so a login takes milliseconds.
    let v = verifier(4096);
    let app = app(v.clone(), Throttle::new());
    let log_in = |app: Router| async move {
        let (status, _, _) = call(&app, login("jane", "password123", "127.0.0.2")).await;
        assert_eq!(status, StatusCode::OK);
    };
    for _ in 0..5 {
        log_in(app.clone()).await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (app, stop) = (app.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut codes = Vec::new();
            let mut i = 0;
            while codes.len() < 200 || !stop.load(Ordering::SeqCst) {
                let (status, _, _) = call(&app, login("jane", &format!("g{i}"), "127.0.0.1")).await;
                codes.push(status);
                i += 1;
                tokio::task::yield_now().await;
            }
            codes
        })
    };
    // The flood is under way.
    while v.hashed.load(Ordering::SeqCst) < 5 + 5 {
        tokio::task::yield_now().await;
    }
    for _ in 0..5 {
        log_in(app.clone()).await;
    }
    stop.store(true, Ordering::SeqCst);
    let codes = flood.await.unwrap();
    let hashed = codes
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // 5 free failures, and one more each time the pair's block (1 s, 2 s, ...) ran out.
    assert!(hashed <= 7, "{hashed} wrong passwords reached the hasher");
    assert!(codes.len() - hashed >= 195);
    assert!(
        codes
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // The flood's attempts never reached the hasher, so the user's logins had it to
    // themselves: 10 of theirs besides the flood's at most 7.
    assert!(v.hashed.load(Ordering::SeqCst) <= 10 + 7);
}

#[tokio::test]
async fn a_flood_over_fifty_ips_is_held_by_the_identity_limit_and_the_user_still_gets_in() {
    let (clock, store) = frozen();
    let v = verifier(8);
    let app = app(v.clone(), Throttle::builder().store(store).build());
    let mut refused = 0;
    for round in 0..4 {
        for ip in 1..=50 {
            let ip = format!("127.0.0.{ip}");
            let (status, _, _) = call(&app, login("jane", &format!("r{round}"), &ip)).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
    }
    // The identity's 10 free failures reach the hasher; the other 190 wait.
    assert_eq!(v.hashed.load(Ordering::SeqCst), 10);
    assert_eq!(refused, 190);
    // The real user, from a fresh IP, waits out the block like everyone...
    let (status, headers, _) = call(&app, login("jane", "password123", "127.0.1.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");
    clock.advance(Duration::from_secs(1));
    // ... and then gets in.
    let (status, _, _) = call(&app, login("jane", "password123", "127.0.1.1")).await;
    assert_eq!(status, StatusCode::OK);

    // The flood goes on, one attempt per block: the block doubles, up to its 5-minute cap, and
    // never locks the user out for good.
    let mut longest = 0;
    for round in 0..20 {
        let ip = format!("127.0.2.{round}");
        let (status, headers, _) = call(&app, login("jane", "again", &ip)).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            longest = longest.max(wait);
            clock.advance(Duration::from_secs(wait));
            let (status, _, _) = call(&app, login("jane", "again", &ip)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(longest, 300);
    clock.advance(Duration::from_secs(300));
    let (status, _, _) = call(&app, login("jane", "password123", "127.0.1.2")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_success_clears_the_pair_counter() {
    let (_clock, store) = frozen();
    let v = verifier(8);
    let throttle = Throttle::builder().store(store).per_identity(None).build();
    let app = app(v.clone(), throttle);
    for round in 0..3 {
        for i in 0..4 {
            let (status, _, _) = call(&app, login("jane", &format!("typo{i}"), "127.0.0.3")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}, typo {i}");
        }
        let (status, _, _) = call(&app, login("jane", "password123", "127.0.0.3")).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
    }
    // Without a success in between, the fifth failure blocks.
    for i in 0..5 {
        let (status, _, _) = call(&app, login("jane", &format!("typo{i}"), "127.0.0.3")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(&app, login("jane", "password123", "127.0.0.3")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn requests_without_credentials_and_other_dimensions() {
    let (_clock, store) = frozen();
    let v = verifier(8);
    let throttle = Throttle::builder()
        .store(store)
        .per_identity(None)
        .per_identity_and_ip(None)
        .per_ip(Backoff::new(
            3,
            Duration::from_secs(10),
            Duration::from_secs(60),
        ))
        .build();
    let app = app(v.clone(), throttle);
    // Credential stuffing: a different user each time, from one IP.
    for i in 0..3 {
        let (status, _, _) = call(&app, login(&format!("user{i}"), "x", "127.0.0.4")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, _) = call(&app, login("user9", "x", "127.0.0.4")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "10");
    // Even with the right password: the credential is not checked.
    let (status, _, _) = call(&app, login("jane", "password123", "127.0.0.4")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v.hashed.load(Ordering::SeqCst), 3);
    // A missing credential is a 401 as before (not counted: the IP is blocked anyway here).
    let mut req = Request::get("/").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(PeerAddr("127.0.0.5:1".parse().unwrap()));
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn an_unusable_backoff_is_refused_at_build() {
    let err = AuthLayer::builder()
        .authenticator(BasicAuth::new(Argon2Users::new()))
        .throttle(
            Throttle::builder()
                .per_identity(Backoff::new(
                    0,
                    Duration::from_secs(1),
                    Duration::from_secs(2),
                ))
                .build(),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "throttle backoff per identity: a quota's limit must be at least 1"
    );
}

#[cfg(feature = "redis")]
#[path = "common/redis.rs"]
mod redis_support;

/// Two instances (two layers, two stores, one `redis-server`) share the counters: failures
/// on one block the other, and a success on one clears the pair for both.
#[cfg(feature = "redis")]
#[tokio::test]
async fn two_instances_share_counters_on_one_redis() {
    use tower_shield::rate_limit::RedisStore;
    let (url, _server) = redis_support::shared_or_start();
    let prefix = format!("throttle-test-{}:", rand::random::<u64>());
    let store = || {
        RedisStore::builder(url.clone())
            .prefix(prefix.clone())
            .build()
            .unwrap()
    };
    let v = verifier(8);
    let a = app(v.clone(), Throttle::builder().store(store()).build());
    let b = app(v.clone(), Throttle::builder().store(store()).build());
    // 4 failures on A, a success on B: the pair is cleared for both.
    for i in 0..4 {
        let (status, _, _) = call(&a, login("jane", &format!("x{i}"), "127.0.0.6")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = call(&b, login("jane", "password123", "127.0.0.6")).await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..4 {
        let (status, _, _) = call(&a, login("jane", &format!("y{i}"), "127.0.0.6")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The fifth failure in a row, on B, blocks A.
    let (status, _, _) = call(&b, login("jane", "z", "127.0.0.6")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = call(&a, login("jane", "password123", "127.0.0.6")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(v.hashed.load(Ordering::SeqCst), 10);
    // Once the second is over, A checks again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = call(&a, login("jane", "password123", "127.0.0.6")).await;
    assert_eq!(status, StatusCode::OK);
}
