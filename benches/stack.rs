//! The whole stack per request: the quickstart's seven layers against a bare axum Router and
//! against the closest stack built from tower-http and tower_governor, in one run:
//! `cargo bench --bench stack`.
//!
//! Three Routers answer the same `GET /v2/posts` (a tiny JSON handler) for the same request:
//! an API key, an `Origin` allowed by the `https://*.example.com` pattern, a valid
//! `X-Request-Id`, and curl's headers. They are driven in process with `oneshot` on a clone, as
//! a server does per request; no sockets. Every Router is finished with `with_state(())`, as
//! `axum::serve` does once (called as it is, a Router turns its handlers into routes again on
//! every request).
//!
//! - `bare`: the axum Router alone.
//! - `ours`: the stack of `examples/quickstart.rs`, outermost first: `RequestIdLayer`,
//!   `SecurityHeadersLayer::json_api()`, `CorsLayer` (a listed origin and a pattern, with
//!   credentials), `VersioningLayer` (`/v2` supported, `/v1` deprecated), `AuthLayer` with
//!   `ApiKeyAuth` on a store of SHA-256 digests, `RateLimitLayer` on the memory store keyed by
//!   the principal's subject (a quota so large it never refuses), and `ScopeLayer`
//!   (`read:posts`) on the route. It wraps the Router as a service, as the quickstart does.
//! - `peers`: what a user assembles from tower-http 0.7 and tower_governor 0.8 for the same
//!   job: `SetRequestIdLayer` + `PropagateRequestIdLayer`, one `SetResponseHeaderLayer` per
//!   header that `json_api()` sends (HSTS, nosniff, CSP, referrer policy, cache-control),
//!   tower-http's `CorsLayer` with an origin predicate (the list and the `.example.com`
//!   suffix), `ValidateRequestHeaderLayer::custom` with a SHA-256 key lookup that puts the
//!   caller's id into the extensions, and `GovernorLayer` (a huge quota, headers on) keyed by
//!   that id; routes nested under `/v2`. It has no scope check (tower-http has none) and no
//!   other way of choosing a version than the path.
//!
//! The number that matters is the interleaved table printed at the end: every round runs a
//! batch of each stack in turn (rotating which goes first), so drift on a shared machine lands
//! on all three alike; the median round is reported per stack, with what each adds over
//! `bare` and the ratio ours / peers. Criterion's own groups run first, as a second opinion.
//!
//! Knobs: `STACK_BENCH_ROUNDS` (default 41) and `STACK_BENCH_BATCH` (requests per stack per
//! round, default 10,000); `STACK_BENCH_ROUNDS=0` skips the table. `STACK_BENCH_ONLY=bare|ours|
//! peers` with `STACK_BENCH_REQUESTS=n` only sends `n` requests to one stack and exits, for
//! `valgrind --tool=callgrind` (subtract two runs of different `n` to get instructions per
//! request).
//!
//! In test mode (`cargo test --bench stack`, `cargo bench --bench stack -- --test`) each stack
//! answers once, and the answers are checked: all `200` with the same body; ours and the peers'
//! carry the request id, the security headers, `Access-Control-Allow-Origin` and
//! `X-RateLimit-Limit`, and refuse a request without a key with a `401`. A broken stack fails
//! CI. No tracing subscriber is installed: spans cost what they cost any layer.

mod support;

use support::{env_or, median, quartiles};

use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use criterion::{Criterion, criterion_group};
use http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_governor::GovernorLayer;
use tower_governor::errors::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_http::cors::{AllowOrigin, CorsLayer as TowerHttpCors};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tower_shield::auth::{ApiKeyAuth, ApiKeyRecord, AuthMethod, KeyDigest, MemoryKeyStore};
use tower_shield::rate_limit::{KeyBy, Limit, Quota};
use tower_shield::versioning::Version;
use tower_shield::{
    AuthLayer, CorsLayer, Principal, RateLimitLayer, RequestIdLayer, ScopeLayer,
    SecurityHeadersLayer, VersioningLayer,
};

const GROUP: &str = "stack";
/// The API key every request carries (`demo-app`'s in the quickstart).
const API_KEY: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";
/// A second key in each store, as in the quickstart.
const OTHER_KEY: &str = "ak_live_premium_0123456789abcdef0123456789ab";
/// Allowed by the `https://*.example.com` pattern (the list is checked first, and misses).
const ORIGIN: &str = "https://app.example.com";
const ORIGINS: [&str; 2] = ["https://frontend.example.com", "https://*.example.com"];
/// A valid incoming id: every stack keeps it, none generates one.
const REQUEST_ID: &str = "0190b7e4-2c1a-7d3e-9f00-4a5b6c7d8e9f";
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];
const ALLOW_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-api-key",
    "x-request-id",
    "api-version",
];
const EXPOSE_HEADERS: [&str; 4] = [
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "retry-after",
];
const MAX_AGE: Duration = Duration::from_secs(86_400);
const DEFAULT_ROUNDS: usize = 41;
const DEFAULT_BATCH: u32 = 10_000;

#[derive(Serialize)]
struct Post {
    id: u64,
    title: &'static str,
}

/// `GET /posts`, the same handler in every stack.
async fn list_posts() -> Json<[Post; 2]> {
    Json([
        Post {
            id: 1,
            title: "Hello, tower-shield",
        },
        Post {
            id: 2,
            title: "Rate limits by tier",
        },
    ])
}

/// The request every stack answers: what curl sends from a browser-ish client of the API.
fn request() -> Request<Body> {
    Request::get("/v2/posts")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "*/*")
        .header("origin", ORIGIN)
        .header("x-api-key", API_KEY)
        .header("x-request-id", REQUEST_ID)
        .body(Body::empty())
        .expect("request")
}

fn x_request_id() -> HeaderName {
    HeaderName::from_static("x-request-id")
}

fn bare() -> Router {
    Router::new()
        .route("/v2/posts", get(list_posts))
        .with_state(())
}

/// The quickstart's stack (`examples/quickstart.rs`, `app_with_limits`), API keys only, served
/// as it is: a tower service around the Router (the quickstart puts it in an outer Router's
/// fallback, to merge other routes beside it, which costs one more routing step).
fn ours() -> Ours {
    let cors = CorsLayer::builder()
        .allow_origins(ORIGINS)
        .allow_credentials(true)
        .allow_methods(METHODS)
        .allow_headers(ALLOW_HEADERS)
        .max_age(MAX_AGE)
        .build()
        .expect("valid CORS configuration");
    let versioning = VersioningLayer::builder()
        .vendor("example")
        .version(Version::supported(2))
        .version(
            Version::deprecated(1, "2026-01-01")
                .sunset("2027-06-30")
                .link("https://api.example.com/docs/migrate-v2"),
        )
        .default_version(2)
        .build()
        .expect("valid versioning configuration");
    let keys = MemoryKeyStore::new();
    for (key, subject) in [(API_KEY, "demo-app"), (OTHER_KEY, "premium-app")] {
        keys.insert(
            KeyDigest::of(key),
            ApiKeyRecord::new(
                Principal::builder(subject, AuthMethod::ApiKey)
                    .scopes(["read:posts", "write:posts"])
                    .key_id(format!("{subject}-1"))
                    .build(),
            ),
        );
    }
    let limits = RateLimitLayer::builder()
        .limit(
            // One token every microsecond, a burst of u32::MAX: never refuses.
            Limit::new("bench", Quota::per_second(1_000_000).burst(u32::MAX)).key(KeyBy::subject()),
        )
        .build()
        .expect("valid limits");
    let routes = Router::new()
        .route(
            "/posts",
            get(list_posts).route_layer(ScopeLayer::all_of(["read:posts"]).expect("valid scope")),
        )
        .with_state(());
    let stack = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(SecurityHeadersLayer::json_api())
        .layer(cors)
        .layer(versioning)
        .layer(AuthLayer::new(ApiKeyAuth::new(keys)))
        .layer(limits);
    // The versioning layer rewrites the path before routing, so the stack wraps the Router.
    stack.service(routes)
}

/// Ours, named (a return-position `impl App<impl AppBody>` cannot be written).
type Ours = tower_shield::request_id::SetRequestId<
    tower_shield::security_headers::SecurityHeaders<
        tower_shield::cors::Cors<
            tower_shield::versioning::Versioning<
                tower_shield::auth::Auth<tower_shield::rate_limit::RateLimit<Router>>,
            >,
        >,
    >,
    tower_shield::request_id::UuidV7,
>;

/// What the three stacks are: a cloneable service answering `Request<Body>`, as a server
/// drives it (each keeps its own type: nothing is boxed for the bench).
/// `B` is its response body, left as each stack makes it.
trait App<B>:
    Service<Request<Body>, Response = http::Response<B>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S, B> App<B> for S where
    S: Service<Request<Body>, Response = http::Response<B>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// What [`check_one`] reads a response body as.
trait AppBody: http_body::Body<Data = bytes::Bytes, Error: std::fmt::Debug> + Send + 'static {}

impl<B> AppBody for B where
    B: http_body::Body<Data = bytes::Bytes, Error: std::fmt::Debug> + Send + 'static
{
}

/// Sends `n` requests on a runtime; the time per request, in nanoseconds.
type Runner = dyn Fn(&Runtime, u32) -> f64;

/// A stack behind a name, as the measurement loops see it: `n` requests, the time per
/// request in nanoseconds (one dynamic call per batch, none per request).
struct Stack {
    name: &'static str,
    run: Box<Runner>,
}

impl Stack {
    fn new<B: AppBody>(name: &'static str, app: impl App<B>) -> Self {
        Self {
            name,
            run: Box::new(move |rt, n| run(rt, &app, n)),
        }
    }
}

/// Who the peers' key check found: what their rate limiter keys by.
#[derive(Clone, Debug)]
struct AppId(Arc<str>);

/// tower_governor's key: the caller's id, put there by the key check (no `ConnectInfo`).
#[derive(Clone, Copy, Debug)]
struct AppIdKey;

impl KeyExtractor for AppIdKey {
    type Key = Arc<str>;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        req.extensions()
            .get::<AppId>()
            .map(|app| Arc::clone(&app.0))
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The closest stack of tower-http 0.7 and tower_governor 0.8, in the same order.
fn peers() -> Router {
    let keys: Arc<HashMap<[u8; 32], AppId>> = Arc::new(
        [(API_KEY, "demo-app"), (OTHER_KEY, "premium-app")]
            .into_iter()
            .map(|(key, app)| (sha256(key.as_bytes()), AppId(app.into())))
            .collect(),
    );
    // tower-http's `ValidateRequest` answers a refusal as `Err(Response)`: its shape, not ours.
    #[allow(clippy::result_large_err)]
    let check_key = move |req: &mut Request<Body>| -> Result<(), Response> {
        let app = req
            .headers()
            .get("x-api-key")
            .and_then(|key| keys.get(&sha256(key.as_bytes())))
            .cloned();
        match app {
            Some(app) => {
                req.extensions_mut().insert(app);
                Ok(())
            }
            None => Err(StatusCode::UNAUTHORIZED.into_response()),
        }
    };
    let cors = TowerHttpCors::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            origin == ORIGINS[0]
                || origin
                    .strip_prefix("https://")
                    .and_then(|host| host.strip_suffix(".example.com"))
                    .is_some_and(|sub| !sub.is_empty())
        }))
        .allow_credentials(true)
        .allow_methods(METHODS)
        .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSE_HEADERS.map(HeaderName::from_static))
        .max_age(MAX_AGE);
    let governor = GovernorConfigBuilder::default()
        .key_extractor(AppIdKey)
        .period(Duration::from_micros(1))
        .burst_size(u32::MAX)
        .use_headers()
        .finish()
        .expect("valid governor configuration");
    let header = |name, value| SetResponseHeaderLayer::if_not_present(name, value);
    let [hsts, nosniff, csp, referrer, cache] = json_api_headers();
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(x_request_id(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(x_request_id()))
        .layer(header(hsts.0, hsts.1))
        .layer(header(nosniff.0, nosniff.1))
        .layer(header(csp.0, csp.1))
        .layer(header(referrer.0, referrer.1))
        .layer(header(cache.0, cache.1))
        .layer(cors)
        .layer(ValidateRequestHeaderLayer::custom(check_key))
        .layer(GovernorLayer::<_, _, Body>::new(governor));
    Router::new()
        .nest("/v2", Router::new().route("/posts", get(list_posts)))
        .layer(stack)
        .with_state(())
}

/// The headers `SecurityHeadersLayer::json_api()` sends, with its values.
fn json_api_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains; preload"),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (
            CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache, must-revalidate, private"),
        ),
    ]
}

/// The stacks, in the order they are reported; `bare` first (the baseline).
fn stacks() -> [Stack; 3] {
    [
        Stack::new("bare", bare()),
        Stack::new("ours", ours()),
        Stack::new("peers", peers()),
    ]
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// Every stack must do the work it is compared on, or the comparison means nothing.
fn check(rt: &Runtime) {
    let bodies = [
        check_one(rt, "bare", bare()),
        check_one(rt, "ours", ours()),
        check_one(rt, "peers", peers()),
    ];
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every stack answers the same body: {bodies:?}"
    );
    // Ours checks the scope too: a key without `read:posts` is a 403.
    assert_eq!(
        rt.block_on(ours_without_scope().oneshot(request()))
            .expect("infallible")
            .status(),
        StatusCode::FORBIDDEN,
        "ours: ScopeLayer"
    );
}

/// One stack's answer checked; its body.
fn check_one<B: AppBody>(rt: &Runtime, name: &str, app: impl App<B>) -> bytes::Bytes {
    let res = rt
        .block_on(app.clone().oneshot(request()))
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK, "{name}");
    let headers = res.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "application/json", "{name}");
    if name != "bare" {
        assert_eq!(headers["x-request-id"], REQUEST_ID, "{name}");
        for (header, value) in json_api_headers() {
            assert_eq!(headers.get(&header), Some(&value), "{name}: {header}");
        }
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN, "{name}");
        assert_eq!(
            headers["access-control-allow-credentials"], "true",
            "{name}"
        );
        assert!(headers.contains_key("x-ratelimit-limit"), "{name}");
        assert!(headers.contains_key("x-ratelimit-remaining"), "{name}");
        // The key check is on the path: no key, no posts.
        let mut anonymous = request();
        anonymous.headers_mut().remove("x-api-key");
        let res = rt.block_on(app.oneshot(anonymous)).expect("infallible");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}: no key");
    }
    rt.block_on(res.into_body().collect())
        .expect("body")
        .to_bytes()
}

/// Ours with a route that needs a scope the key lacks, to show the scope check is on the path.
fn ours_without_scope() -> Router {
    let keys = MemoryKeyStore::new();
    keys.insert(
        KeyDigest::of(API_KEY),
        ApiKeyRecord::new(Principal::builder("demo-app", AuthMethod::ApiKey).build()),
    );
    let routes = Router::new().route(
        "/v2/posts",
        get(list_posts).route_layer(ScopeLayer::all_of(["read:posts"]).expect("valid scope")),
    );
    routes.layer(AuthLayer::new(ApiKeyAuth::new(keys)))
}

// ---------------------------------------------------------------------------------------------
// The measurements.

fn bench(c: &mut Criterion) {
    let rt = runtime();
    check(&rt);
    let mut group = c.benchmark_group(GROUP);
    group.measurement_time(Duration::from_secs(3));
    bench_one(&mut group, &rt, "bare", bare());
    bench_one(&mut group, &rt, "ours", ours());
    bench_one(&mut group, &rt, "peers", peers());
    group.finish();
}

fn bench_one<B: AppBody>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    app: impl App<B>,
) {
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            let app = app.clone();
            async move { black_box(app.oneshot(request()).await.expect("infallible")) }
        });
    });
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sends `n` requests to `app`, one after another; the time per request, in nanoseconds.
fn run<B: AppBody>(rt: &Runtime, app: &impl App<B>, n: u32) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let res = app.clone().oneshot(request()).await.expect("infallible");
            debug_assert_eq!(res.status(), StatusCode::OK);
            black_box(res);
        }
        start.elapsed().as_nanos() as f64 / f64::from(n.max(1))
    })
}

/// Rounds of a batch of each stack in turn; prints the table.
fn interleaved(rounds: usize, batch: u32) {
    let rt = runtime();
    let stacks = stacks();
    // Untimed: fill caches, the key tables and the allocator's pools.
    for stack in &stacks {
        (stack.run)(&rt, batch);
    }
    let started = Instant::now();
    let mut ns: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        // Rotate the order so no stack always runs first.
        for k in 0..stacks.len() {
            let i = (round + k) % stacks.len();
            ns[i].push((stacks[i].run)(&rt, batch));
        }
    }
    let elapsed = started.elapsed();
    let per_round = |f: &dyn Fn(usize) -> f64| (0..rounds).map(f).collect::<Vec<f64>>();
    let added = |s: usize| per_round(&|r| ns[s][r] - ns[0][r]);
    println!(
        "\n{GROUP}: GET /v2/posts, interleaved: {rounds} rounds x {batch} requests per stack \
         ({:.1} s). Per-request times are the median round; a shared 2-core machine is noisy, \
         read the quartiles.",
        elapsed.as_secs_f64()
    );
    println!(
        "{:<8} {:>12} {:>22} {:>16}",
        "stack", "median ns", "quartiles ns", "added over bare"
    );
    for (s, Stack { name, .. }) in stacks.iter().enumerate() {
        let (q1, q3) = quartiles(ns[s].clone());
        let add = if s == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}", median(added(s)))
        };
        println!(
            "{name:<8} {:>12.0} {:>22} {add:>16}",
            median(ns[s].clone()),
            format!("{q1:.0} .. {q3:.0}")
        );
    }
    let whole = per_round(&|r| ns[1][r] / ns[2][r]);
    let over_bare = per_round(&|r| (ns[1][r] - ns[0][r]) / (ns[2][r] - ns[0][r]));
    let (w1, w3) = quartiles(whole.clone());
    let (a1, a3) = quartiles(over_bare.clone());
    println!(
        "ours / peers (median of per-round ratios): whole request {:.2} (quartiles {w1:.2} .. \
         {w3:.2}); added over bare {:.2} (quartiles {a1:.2} .. {a3:.2})",
        median(whole),
        median(over_bare)
    );
}

/// `STACK_BENCH_ONLY=<stack>`: `STACK_BENCH_REQUESTS` requests to that stack and nothing else.
fn only(name: &str) {
    let n = env_or("STACK_BENCH_REQUESTS", 10_000u32);
    let rt = runtime();
    let stack = stacks()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("STACK_BENCH_ONLY={name}: not bare, ours or peers"));
    (stack.run)(&rt, n);
}

/// Whether this run measures: `cargo bench`, not `cargo test --benches` nor `-- --test`/`--list`.
fn measuring() -> bool {
    support::measuring() && !std::env::args().any(|a| a == "--test" || a == "--list")
}

fn main() {
    if let Ok(name) = std::env::var("STACK_BENCH_ONLY") {
        only(&name);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        // criterion's means, measured one stack after another: the second opinion.
        let _ = support::table(GROUP, "bare", &["ours", "peers"]);
        let rounds = env_or("STACK_BENCH_ROUNDS", DEFAULT_ROUNDS);
        let batch = env_or("STACK_BENCH_BATCH", DEFAULT_BATCH);
        if rounds > 0 && batch > 0 {
            interleaved(rounds, batch);
        }
    }
}
