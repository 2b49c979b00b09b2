//! The `metrics` feature: counters and histograms with bounded labels, read back with
//! `metrics-util`'s debugging recorder.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use common::call;
use http::{Request, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower_shield::auth::{
    ApiKeyAuth, ApiKeyRecord, Argon2Users, AuthLayer, AuthMethod, BasicAuth, KeyDigest,
    MemoryKeyStore, Principal, Throttle,
};
use tower_shield::metrics as names;
use tower_shield::rate_limit::{
    Answer, Check, Limit, ManualClock, MemoryStore, PeerAddr, Pending, Quota, RateLimitLayer,
    Store, StoreError, StoreFailure,
};

const KEY: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";

/// Counters as `name{label=value,...}` → value; histograms as their sample counts.
fn read(recorder: &DebuggingRecorder) -> (BTreeMap<String, u64>, BTreeMap<String, usize>) {
    let mut counters = BTreeMap::new();
    let mut histograms = BTreeMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                counters.insert(name, n);
            }
            DebugValue::Histogram(samples) => {
                histograms.insert(name, samples.len());
            }
            DebugValue::Gauge(_) => {}
        }
    }
    (counters, histograms)
}

fn from(mut req: Request<Body>, ip: &str) -> Request<Body> {
    req.extensions_mut()
        .insert(PeerAddr(format!("{ip}:40000").parse().unwrap()));
    req
}

fn basic(password: &str) -> Request<Body> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("jane:{password}"));
    Request::get("/")
        .header("authorization", format!("Basic {token}"))
        .body(Body::empty())
        .unwrap()
}

fn app() -> Router {
    let keys = MemoryKeyStore::new();
    keys.insert(
        KeyDigest::of(KEY),
        ApiKeyRecord::new(Principal::builder("demo-app", AuthMethod::ApiKey).build()),
    );
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let hash = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8, 1, 1, None).unwrap(),
    )
    .hash_password(b"password123", &SaltString::encode_b64(&salt).unwrap())
    .unwrap()
    .to_string();
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &hash,
            Principal::builder("jane", AuthMethod::Basic).build(),
        )
        .unwrap();
    let clock = ManualClock::at_unix_secs(1_700_000_000);
    let auth = AuthLayer::builder()
        .authenticator(ApiKeyAuth::new(keys))
        .authenticator(BasicAuth::new(users))
        .throttle(
            Throttle::builder()
                .store(MemoryStore::builder().clock(clock.clone()).build())
                .build(),
        )
        .build()
        .unwrap();
    let limits = RateLimitLayer::builder()
        .limit(Limit::new("per-minute", Quota::per_minute(3)))
        .store(MemoryStore::builder().clock(clock).build())
        .build()
        .unwrap();
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(limits)
        .layer(auth)
}

/// Runs `test` on a current-thread runtime, recording its metrics; the recorder.
fn recorded(test: impl std::future::Future<Output = ()>) -> DebuggingRecorder {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test)
    });
    recorder
}

struct Down;

impl Store for Down {
    fn decide(&self, _: &[Check<'_>]) -> Pending {
        Answer::Ready(Err(StoreError::timeout()))
    }
}

/// Error hygiene's answers are problems of this crate too: a replaced 500 and a caught panic
/// each count once in `tower_shield_rejections_total{problem="server-error"}`.
#[test]
fn error_hygiene_replacements_are_counted_as_rejections() {
    let recorder = recorded(async {
        async fn panics() -> &'static str {
            panic!("index out of bounds")
        }
        let app = Router::new()
            .route(
                "/fails",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "db password wrong") }),
            )
            .route("/panics", get(panics))
            .route("/fine", get(|| async { "ok" }))
            .layer(tower_shield::ErrorHygieneLayer::new());
        for (path, status) in [
            ("/fails", StatusCode::INTERNAL_SERVER_ERROR),
            ("/panics", StatusCode::INTERNAL_SERVER_ERROR),
            ("/fine", StatusCode::OK),
        ] {
            let req = Request::get(path).body(Body::empty()).unwrap();
            assert_eq!(call(&app, req).await.0, status, "{path}");
        }
    });
    let (counters, _) = read(&recorder);
    assert_eq!(
        counters.get(&format!("{}{{problem=server-error}}", names::REJECTIONS)),
        Some(&2),
        "{counters:?}"
    );
}

#[test]
fn counters_and_histograms() {
    let recorder = recorded(async {
        let app = app();
        let key = || {
            Request::get("/")
                .header("x-api-key", KEY)
                .body(Body::empty())
                .unwrap()
        };
        for _ in 0..3 {
            assert_eq!(call(&app, from(key(), "127.0.0.1")).await.0, StatusCode::OK);
        }
        assert_eq!(
            call(&app, from(key(), "127.0.0.1")).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        for _ in 0..5 {
            assert_eq!(
                call(&app, from(basic("nope"), "127.0.0.2")).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        for _ in 0..2 {
            assert_eq!(
                call(&app, from(basic("nope"), "127.0.0.2")).await.0,
                StatusCode::TOO_MANY_REQUESTS
            );
        }
        let no_credential = Request::get("/").body(Body::empty()).unwrap();
        assert_eq!(
            call(&app, from(no_credential, "127.0.0.3")).await.0,
            StatusCode::UNAUTHORIZED
        );

        let down = Router::new().route("/", get(|| async { "ok" })).layer(
            RateLimitLayer::builder()
                .limit(Limit::new("down", Quota::per_minute(3)))
                .store(Down)
                .build()
                .unwrap(),
        );
        let req = Request::get("/").body(Body::empty()).unwrap();
        assert_eq!(call(&down, from(req, "127.0.0.4")).await.0, StatusCode::OK);
    });
    let (counters, histograms) = read(&recorder);
    let expected: BTreeMap<String, u64> = [
        (
            format!("{}{{method=api_key,result=success}}", names::AUTH_ATTEMPTS),
            4,
        ),
        (
            format!("{}{{method=basic,result=failure}}", names::AUTH_ATTEMPTS),
            5,
        ),
        (
            format!("{}{{method=none,result=throttled}}", names::AUTH_ATTEMPTS),
            2,
        ),
        (
            format!("{}{{method=none,result=failure}}", names::AUTH_ATTEMPTS),
            1,
        ),
        (
            format!("{}{{dimension=identity_ip}}", names::AUTH_THROTTLED),
            2,
        ),
        (format!("{}{{problem=rate-limited}}", names::REJECTIONS), 1),
        (format!("{}{{problem=unauthorized}}", names::REJECTIONS), 6),
        (
            format!("{}{{problem=login-throttled}}", names::REJECTIONS),
            2,
        ),
        (
            format!(
                "{}{{limit=per-minute,outcome=allowed}}",
                names::RATE_LIMIT_DECISIONS
            ),
            3,
        ),
        (
            format!(
                "{}{{limit=per-minute,outcome=limited}}",
                names::RATE_LIMIT_DECISIONS
            ),
            1,
        ),
        (
            format!(
                "{}{{limit=none,outcome=store_failed}}",
                names::RATE_LIMIT_DECISIONS
            ),
            1,
        ),
        (
            format!(
                "{}{{component=rate_limit,kind=timeout}}",
                names::STORE_FAILURES
            ),
            1,
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(counters, expected);
    // Every store decision is timed: 4 rate-limit decisions; the throttle read 12 times
    // (every request through the AuthLayer) and recorded 5 failures.
    assert_eq!(
        histograms[&format!("{}{{component=rate_limit}}", names::STORE_DECISION_SECONDS)],
        4
    );
    assert_eq!(
        histograms[&format!(
            "{}{{component=auth_throttle}}",
            names::STORE_DECISION_SECONDS
        )],
        12 + 5
    );
}

/// A store that fails while `down` is set, counting the decisions asked of it.
#[derive(Clone, Default)]
struct Flaky {
    down: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
}

impl Store for Flaky {
    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Answer::Ready(Err(StoreError::timeout()));
        }
        MemoryStore::new().decide(checks)
    }
}

/// `StoreFailure::Local`, stepped through with the fallback's clock: the store fails (one
/// `to=local`), requests are decided in memory without asking it, the first probe comes
/// exactly 100 ms later, a failed probe doubles the wait (up to a quarter more, at random),
/// and a probe that finds the store answering turns back to it (one `to=remote`).
#[test]
fn store_fallbacks_are_counted_and_probes_scheduled_by_the_fallback_clock() {
    let store = Flaky::default();
    let clock = ManualClock::at_unix_secs(1_700_000_000);
    let recorder = recorded(async {
        let app = Router::new().route("/", get(|| async { "ok" })).layer(
            RateLimitLayer::builder()
                .limit(Limit::new("per-minute", Quota::per_minute(1_000)))
                .store(store.clone())
                .on_store_failure(StoreFailure::Local { instances: 1 })
                .fallback_clock(clock.clone())
                .build()
                .unwrap(),
        );
        let send = || async {
            let req = Request::get("/").body(Body::empty()).unwrap();
            call(&app, from(req, "127.0.0.5")).await.0
        };
        let asked = || store.asked.load(Ordering::SeqCst);
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 1, "the store is asked");
        store.down.store(true, Ordering::SeqCst);
        assert_eq!(send().await, StatusCode::OK, "decided in memory");
        assert_eq!(asked(), 2, "the store failed once");
        for _ in 0..3 {
            assert_eq!(send().await, StatusCode::OK);
        }
        assert_eq!(asked(), 2, "in memory, the store is not asked");
        clock.advance(Duration::from_millis(99));
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 2, "no probe before 100 ms");
        clock.advance(Duration::from_millis(1));
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 3, "the probe, at 100 ms");
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 3, "one probe at a time");
        // Failed: the next probe 200 ms later, plus up to 50 ms.
        clock.advance(Duration::from_millis(199));
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 3, "no probe before 200 ms");
        store.down.store(false, Ordering::SeqCst);
        clock.advance(Duration::from_millis(52));
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 4, "the second probe, within 250 ms");
        assert_eq!(send().await, StatusCode::OK);
        assert_eq!(asked(), 5, "the store decides again");
    });
    let (counters, _) = read(&recorder);
    let fallbacks: BTreeMap<&str, u64> = counters
        .iter()
        .filter(|(name, _)| name.starts_with(names::STORE_FALLBACKS))
        .map(|(name, n)| (&name[names::STORE_FALLBACKS.len()..], *n))
        .collect();
    assert_eq!(
        fallbacks,
        BTreeMap::from([("{to=local}", 1), ("{to=remote}", 1)])
    );
}
