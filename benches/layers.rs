//! Per-request cost of tower-shield's layers against a bare axum Router and against tower-http's
//! equivalents, in one run.
//!
//! `cargo bench --bench layers` prints criterion's numbers, then a summary of what each stack
//! adds over the bare Router, and the target: tower-shield's request id + security
//! headers must add less than half of what tower-http's equivalents add.
//!
//! Every variant answers the same request (`GET /` with curl's headers and no incoming id) with
//! the same handler;
//! the tower-http stacks are `SetRequestIdLayer` + `PropagateRequestIdLayer` (UUID ids) and
//! one `SetResponseHeaderLayer` per header of `SecurityHeadersLayer::json_api()` (also in
//! tower-http 0.7's `SetMultipleResponseHeadersLayer` form). tower-shield does strictly more
//! work: it validates incoming ids, opens a tracing span, and strips `Server`/`X-Powered-By`.
//! The `_v7` variants give tower-http's layers tower-shield's id generator, so the summary also
//! shows how much of the difference is the layers' design rather than the random source. No
//! tracing subscriber is installed: spans cost what they cost any layer, and are left out.

mod support;

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderName, HeaderValue, Request};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::request_id::{
    MakeRequestId, MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::set_header::response::SetMultipleResponseHeadersLayer;
use tower_shield::request_id::{MakeRequestId as _, UuidV7};
use tower_shield::{RequestIdLayer, SecurityHeadersLayer};

const GROUP: &str = "per_request";

/// The request every variant answers: what `curl` sends (its headers make the request's header
/// map exist already, as in real traffic, rather than be allocated by the first layer).
fn request() -> Request<Body> {
    Request::get("/")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "*/*")
        .body(Body::empty())
        .expect("request")
}

fn routes() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

fn json_api_headers() -> Vec<(HeaderName, HeaderValue)> {
    vec![
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

fn x_request_id() -> HeaderName {
    HeaderName::from_static("x-request-id")
}

/// Every stack is applied with a single `Router::layer` call (one `ServiceBuilder`), as users
/// write it: axum boxes the route once per `layer` call, and that cost is not the layers'.
fn tower_http_request_id() -> Router {
    routes().layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(x_request_id(), MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(x_request_id())),
    )
}

/// tower-http's layers with tower-shield's id generator, to tell the layers' design apart from
/// the generators (tower-http's UUID v4 reads the OS random source on every request).
#[derive(Clone, Copy)]
struct ShieldIds;

impl MakeRequestId for ShieldIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<tower_http::request_id::RequestId> {
        let id: HeaderValue = UuidV7.make_request_id().into();
        Some(tower_http::request_id::RequestId::new(id))
    }
}

fn tower_http_request_id_v7() -> Router {
    routes().layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(x_request_id(), ShieldIds))
            .layer(PropagateRequestIdLayer::new(x_request_id())),
    )
}

/// One `SetResponseHeaderLayer` per header, composed with `tower::layer::util::Stack`.
macro_rules! header_layers {
    ($builder:expr) => {{
        let mut headers = json_api_headers().into_iter();
        let mut next = || {
            let (name, value) = headers.next().expect("five headers");
            SetResponseHeaderLayer::if_not_present(name, value)
        };
        $builder
            .layer(next())
            .layer(next())
            .layer(next())
            .layer(next())
            .layer(next())
    }};
}

fn tower_http_headers() -> Router {
    routes().layer(header_layers!(ServiceBuilder::new()))
}

fn tower_http_multi_headers() -> Router {
    routes().layer(SetMultipleResponseHeadersLayer::if_not_present(
        json_api_headers().into_iter().map(Into::into).collect(),
    ))
}

fn tower_http_stack() -> Router {
    routes().layer(header_layers!(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(x_request_id(), MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(x_request_id()))
    ))
}

fn tower_http_stack_v7() -> Router {
    routes().layer(header_layers!(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(x_request_id(), ShieldIds))
            .layer(PropagateRequestIdLayer::new(x_request_id()))
    ))
}

/// The variants, in the order they are reported.
fn variants() -> Vec<(&'static str, Router)> {
    // Served as `axum::serve` serves a Router: `with_state(())` turns the handlers into routes
    // once (called as it is, a Router does it again on every request).
    let variants: Vec<(&'static str, Router)> = vec![
        ("bare_router", routes()),
        ("shield_request_id", routes().layer(RequestIdLayer::new())),
        (
            "shield_security_headers",
            routes().layer(SecurityHeadersLayer::json_api()),
        ),
        (
            "shield_stack",
            routes().layer(
                ServiceBuilder::new()
                    .layer(RequestIdLayer::new())
                    .layer(SecurityHeadersLayer::json_api()),
            ),
        ),
        ("tower_http_request_id", tower_http_request_id()),
        ("tower_http_security_headers", tower_http_headers()),
        (
            "tower_http_security_headers_multi",
            tower_http_multi_headers(),
        ),
        ("tower_http_stack", tower_http_stack()),
        ("tower_http_request_id_v7", tower_http_request_id_v7()),
        ("tower_http_stack_v7", tower_http_stack_v7()),
    ];
    variants
        .into_iter()
        .map(|(name, router)| (name, router.with_state(())))
        .collect()
}

/// Every variant must do the work it is compared on: answer 200, and set the id and/or the
/// five headers it claims to set. A variant that silently did less would win unfairly.
async fn check_variants() {
    for (name, router) in variants() {
        let req = request();
        let res = router.oneshot(req).await.expect("infallible");
        assert_eq!(res.status(), 200, "{name}");
        let headers = res.headers();
        let sets_id = name.contains("request_id") || name.contains("stack");
        let sets_headers = name.contains("security_headers") || name.contains("stack");
        assert_eq!(headers.contains_key("x-request-id"), sets_id, "{name}");
        for (header, value) in json_api_headers() {
            let expected = sets_headers.then_some(&value);
            assert_eq!(headers.get(&header), expected, "{name}: {header}");
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (name, router) in variants() {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                async move {
                    let req = request();
                    let res = router.oneshot(req).await.expect("infallible");
                    black_box(res)
                }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn summary() {
    let names: Vec<&str> = variants().into_iter().map(|(name, _)| name).collect();
    let _ = support::table(GROUP, "bare_router", &names);
}

/// The target, measured so that the machine's drift cannot decide it: the bare Router and both
/// stacks run in alternation, a few thousand requests each per round, and the ratio of what the
/// stacks add is taken per round; the median round is reported. (criterion measures variants one
/// after another, so on a shared machine a slow minute can land on either side.)
fn interleaved_target() {
    const ROUNDS: usize = 41;
    const PER_ROUND: u32 = 4_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let variants = variants();
    let pick = |name: &str| {
        variants
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .expect("variant")
    };
    let contenders = [
        pick("bare_router"),
        pick("shield_stack"),
        pick("tower_http_stack"),
        pick("tower_http_stack_v7"),
    ];
    let time = |router: &Router| {
        rt.block_on(async {
            let start = std::time::Instant::now();
            for _ in 0..PER_ROUND {
                let req = request();
                black_box(router.clone().oneshot(req).await.expect("infallible"));
            }
            start.elapsed().as_nanos() as f64 / f64::from(PER_ROUND)
        })
    };
    let mut ours = Vec::new();
    let mut ratios = Vec::new();
    let mut ratios_v7 = Vec::new();
    for round in 0..ROUNDS {
        // Rotate the order so no contender always runs first.
        let mut ns = [0.0; 4];
        for k in 0..4 {
            let i = (round + k) % 4;
            ns[i] = time(&contenders[i]);
        }
        let (shield, theirs, theirs_v7) = (ns[1] - ns[0], ns[2] - ns[0], ns[3] - ns[0]);
        ours.push(shield);
        ratios.push(shield / theirs);
        ratios_v7.push(shield / theirs_v7);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = median(&mut ratios);
    println!(
        "\nrequest id + security headers, interleaved over {ROUNDS} rounds: tower-shield adds \
         {:.0} ns (median) = {:.0}% of what tower-http's equivalents add (target: under 50%) \
         -> {}; with tower-shield's id generator in tower-http's layers: {:.0}%",
        median(&mut ours),
        ratio * 100.0,
        if ratio < 0.5 { "met" } else { "NOT met" },
        median(&mut ratios_v7) * 100.0
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only a real measurement (cargo bench) has numbers to compare; `cargo test --benches`
    // runs each variant once.
    if support::measuring() {
        summary();
        interleaved_target();
    }
}
