//! Per-request cost of authentication, in one run: `cargo bench --bench auth`.
//!
//! - Through axum Routers: a bare Router; tower-http's (deprecated) Bearer check, which
//!   compares one fixed token with `==`; this crate's API-key authentication (SHA-256, a
//!   lock-free store lookup, a constant-time compare); RS256 JWTs verified in full and from
//!   the verified-token cache.
//! - The decision alone: `JwtAuth::authenticate` for an RS256 token, uncached and cached,
//!   beside `jsonwebtoken::decode` of the same token (the work any JWT middleware built on
//!   jsonwebtoken does). Target: a cached token under 1 µs, against about 25–30 µs for a
//!   full verification.
//! - `BasicAuth::authenticate` when the Argon2 hashing queue is full: the `503` decision a
//!   flood of Basic credentials gets instead of a hash (no hashing, no waiting).
//! - A throttled attempt: an `AuthLayer` service with a `Throttle` answering `429` to a
//!   Basic credential whose (identity, IP) counter is blocked, the problem rendered. Target:
//!   under 2 µs.

mod support;

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::Request;
use serde_json::json;
use tower::ServiceExt;
use tower_shield::auth::{
    Algorithm, Answer, ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, Authenticator, JwtAuth,
    JwtKey, KeyDigest, MemoryKeyStore, Outcome, Principal, RequestHead,
};

const GROUP: &str = "auth";
const DECISION: &str = "auth_decision";
const KEY: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";
const PUBLIC: &[u8] = include_bytes!("../examples/keys/jwt_public.pem");
const PRIVATE: &[u8] = include_bytes!("../examples/keys/jwt_private.pem");

fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "sub": "user_42", "scope": "read:posts write:posts",
        "iss": "https://auth.example.com", "aud": "https://api.example.com",
        "iat": now, "exp": now + 24 * 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE).expect("key"),
    )
    .expect("token")
}

fn jwt(cache: bool) -> JwtAuth {
    let mut b = JwtAuth::builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).expect("key"))
        .issuer("https://auth.example.com")
        .audience("https://api.example.com");
    if cache {
        b = b.cache(10_000);
    }
    b.build().expect("jwt")
}

fn api_key() -> ApiKeyAuth {
    let store = MemoryKeyStore::new();
    // A realistic store: many keys besides the one used.
    for i in 0..10_000 {
        store.insert(
            KeyDigest::of(&format!("ak_live_{i:032}")),
            ApiKeyRecord::new(Principal::builder(format!("app-{i}"), AuthMethod::ApiKey).build()),
        );
    }
    store.insert(
        KeyDigest::of(KEY),
        ApiKeyRecord::new(
            Principal::builder("demo-app", AuthMethod::ApiKey)
                .scopes(["read:posts"])
                .build(),
        ),
    );
    ApiKeyAuth::new(store)
}

fn routes() -> Router {
    Router::new().route("/me", get(|| async { "ok" }))
}

type MakeRequest = Box<dyn Fn() -> Request<Body>>;

fn with(name: &'static str, value: String) -> MakeRequest {
    Box::new(move || {
        Request::get("/me")
            .header(name, value.as_str())
            .body(Body::empty())
            .expect("request")
    })
}

#[allow(deprecated)]
fn variants(token: &str) -> Vec<(&'static str, Router, MakeRequest)> {
    use tower_http::validate_request::ValidateRequestHeaderLayer;
    // Served as `axum::serve` serves a Router: `with_state(())` turns the handlers into routes
    // once (called as it is, a Router does it again on every request).
    let variants: Vec<(&'static str, Router, MakeRequest)> = vec![
        ("bare_router", routes(), with("x-api-key", KEY.into())),
        (
            "tower_http_bearer_eq",
            routes().layer(ValidateRequestHeaderLayer::bearer(KEY)),
            with("authorization", format!("Bearer {KEY}")),
        ),
        (
            "shield_api_key",
            routes().layer(AuthLayer::new(api_key())),
            with("x-api-key", KEY.into()),
        ),
        (
            "shield_jwt_rs256_full",
            routes().layer(AuthLayer::new(jwt(false))),
            with("authorization", format!("Bearer {token}")),
        ),
        (
            "shield_jwt_rs256_cached",
            routes().layer(AuthLayer::new(jwt(true))),
            with("authorization", format!("Bearer {token}")),
        ),
    ];
    variants
        .into_iter()
        .map(|(name, router, make)| (name, router.with_state(()), make))
        .collect()
}

fn decide(auth: &JwtAuth, req: &Request<Body>) -> bool {
    match auth.authenticate(&RequestHead::of(req)) {
        Answer::Ready(Outcome::Authenticated(p)) => black_box(p).subject() == "user_42",
        _ => false,
    }
}

/// A `BasicAuth` whose hashing queue is full (one slot, no queue, the slot's place held by a
/// verification that is never polled), and that verification.
#[cfg(feature = "basic")]
fn overloaded_basic() -> (
    tower_shield::auth::BasicAuth,
    Answer<Option<tower_shield::auth::Principal>>,
) {
    use tower_shield::auth::{Argon2Users, BasicAuth, PasswordVerifier};
    let users = Argon2Users::builder()
        .max_concurrent_hashes(1)
        .max_queue(0)
        .build();
    let holder = users.verify("jane", "wrong");
    assert!(matches!(holder, Answer::Later(_)));
    (BasicAuth::new(users), holder)
}

#[cfg(feature = "basic")]
fn refused(auth: &tower_shield::auth::BasicAuth, req: &Request<Body>) -> bool {
    match auth.authenticate(&RequestHead::of(req)) {
        Answer::Ready(Outcome::Rejected(e)) => black_box(e).retry_after().is_some(),
        _ => false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let token = token();
    // Every variant must accept its request, or the comparison means nothing.
    for (name, router, make) in variants(&token) {
        let res = rt.block_on(router.oneshot(make())).expect("infallible");
        assert_eq!(res.status(), 200, "{name}");
    }
    let mut group = c.benchmark_group(GROUP);
    for (name, router, make) in variants(&token) {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                let req = make();
                async move { black_box(router.oneshot(req).await.expect("infallible")) }
            });
        });
    }
    group.finish();

    let req = with("authorization", format!("Bearer {token}"))();
    let (full, cached) = (jwt(false), jwt(true));
    assert!(decide(&full, &req) && decide(&cached, &req));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&["https://auth.example.com"]);
    validation.set_audience(&["https://api.example.com"]);
    let mut group = c.benchmark_group(DECISION);
    group.bench_function("jsonwebtoken_decode_rs256", |b| {
        b.iter(|| {
            black_box(
                jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &key, &validation)
                    .expect("valid"),
            )
        })
    });
    group.bench_function("shield_jwt_rs256_full", |b| {
        b.iter(|| assert!(decide(&full, black_box(&req))))
    });
    group.bench_function("shield_jwt_rs256_cached", |b| {
        b.iter(|| assert!(decide(&cached, black_box(&req))))
    });
    #[cfg(feature = "basic")]
    {
        // Verifications need a runtime (their hashes go to its blocking pool).
        let _runtime = rt.enter();
        let (basic, _holder) = overloaded_basic();
        let req = with("authorization", "Basic amFuZTp3cm9uZw==".into())();
        assert!(refused(&basic, &req));
        group.bench_function("shield_basic_overloaded", |b| {
            b.iter(|| assert!(refused(&basic, black_box(&req))))
        });
        let (service, make) = throttled_service(&rt);
        group.bench_function("shield_basic_throttled", |b| {
            b.iter_batched(
                &make,
                |req| assert_eq!(call_now(&service, req), 429),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

#[cfg(feature = "basic")]
type Throttled = tower_shield::auth::Auth<
    tower::util::BoxCloneSyncService<Request<Body>, http::Response<Body>, std::convert::Infallible>,
>;

/// An `AuthLayer` service with a throttle whose (jane, 127.0.0.1) counter is blocked, and the
/// requests it refuses.
#[cfg(feature = "basic")]
fn throttled_service(rt: &tokio::runtime::Runtime) -> (Throttled, impl Fn() -> Request<Body>) {
    use tower::Layer;
    use tower_shield::auth::{Argon2Users, BasicAuth, Throttle};
    use tower_shield::rate_limit::{ManualClock, MemoryStore, PeerAddr};
    let store = MemoryStore::builder()
        .clock(ManualClock::at_unix_secs(1_700_000_000))
        .build();
    let layer = AuthLayer::builder()
        .authenticator(BasicAuth::new(Argon2Users::new()))
        .throttle(Throttle::builder().store(store).build())
        .build()
        .expect("layer");
    let inner =
        tower::util::BoxCloneSyncService::new(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        }));
    let service = layer.layer(inner);
    let make = || {
        let mut req = with("authorization", "Basic amFuZTp3cm9uZw==".into())();
        req.extensions_mut()
            .insert(PeerAddr("127.0.0.1:40000".parse().expect("addr")));
        req
    };
    // Five failures (unknown user: a dummy hash each) block the pair.
    for _ in 0..5 {
        let res = rt
            .block_on(service.clone().oneshot(make()))
            .expect("infallible");
        assert_eq!(res.status(), 401);
    }
    (service, make)
}

/// Calls `service` and polls its future once: a throttled attempt is answered at once.
#[cfg(feature = "basic")]
fn call_now(service: &Throttled, req: Request<Body>) -> u16 {
    use std::future::Future;
    use tower::Service;
    let mut service = service.clone();
    let mut fut = std::pin::pin!(service.call(req));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(res)) => res.status().as_u16(),
        _ => 0,
    }
}

fn summary() {
    if !support::measuring() {
        return;
    }
    support::table(
        GROUP,
        "bare_router",
        &[
            "tower_http_bearer_eq",
            "shield_api_key",
            "shield_jwt_rs256_full",
            "shield_jwt_rs256_cached",
        ],
    );
    let names = [
        "jsonwebtoken_decode_rs256",
        "shield_jwt_rs256_full",
        "shield_jwt_rs256_cached",
        "shield_basic_overloaded",
        "shield_basic_throttled",
    ];
    println!("\n{DECISION}: the decision alone");
    for name in names {
        if let Some(ns) = support::mean_ns(DECISION, name) {
            println!("{name:<36} {ns:>10.0} ns");
        }
    }
    if let Some(cached) = support::mean_ns(DECISION, "shield_jwt_rs256_cached") {
        let verdict = if cached < 1000.0 { "met" } else { "NOT met" };
        println!("target: a cached RS256 token under 1 µs: {cached:.0} ns, {verdict}");
    }
    if let Some(throttled) = support::mean_ns(DECISION, "shield_basic_throttled") {
        let verdict = if throttled < 2000.0 { "met" } else { "NOT met" };
        println!("target: a throttled attempt under 2 µs: {throttled:.0} ns, {verdict}");
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    summary();
}
