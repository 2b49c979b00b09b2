//! Per-request cost of `CsrfLayer` beside tower-http's `CsrfLayer` (the same Go algorithm) on
//! the same requests, against a bare axum Router: `cargo bench --bench csrf`.
//!
//! Both layers trust the same origin and answer alike: a same-origin POST and an old browser's
//! POST whose `Origin` is the `Host` pass, a cross-site POST is refused `403` (tower-http with an
//! empty body, tower-shield with a problem), a trusted origin passes.

mod support;

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use criterion::{Criterion, criterion_group};
use http::Request;
use tower::ServiceExt;
use tower_http::csrf::CsrfLayer as TowerHttpCsrf;
use tower_shield::CsrfLayer;

const GROUP: &str = "csrf";
const TRUSTED: &str = "https://admin.example.com";

fn routes() -> Router {
    Router::new().route("/posts", post(|| async { "ok" }))
}

fn shield() -> Router {
    let csrf = CsrfLayer::builder()
        .add_trusted_origin(TRUSTED)
        .build()
        .expect("valid CSRF configuration");
    routes().layer(csrf)
}

fn tower_http() -> Router {
    let csrf = TowerHttpCsrf::new()
        .add_trusted_origin(TRUSTED)
        .expect("valid CSRF configuration");
    routes().layer(csrf)
}

fn post_with(site: Option<&'static str>, origin: &'static str) -> impl Fn() -> Request<Body> {
    move || {
        let mut req = Request::post("/posts").header("host", "api.example.com");
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req.header("origin", origin)
            .body(Body::empty())
            .expect("request")
    }
}

type MakeRequest = Box<dyn Fn() -> Request<Body>>;

/// Name, router, request, expected status.
fn variants() -> Vec<(&'static str, Router, MakeRequest, u16)> {
    let same_origin = || post_with(Some("same-origin"), "https://api.example.com");
    let old_browser = || post_with(None, "https://api.example.com");
    let cross_site = || post_with(Some("cross-site"), "https://evil.example");
    let trusted = || post_with(Some("cross-site"), TRUSTED);
    // Served as `axum::serve` serves a Router: `with_state(())` turns the handlers into routes
    // once (called as it is, a Router does it again on every request).
    let variants: Vec<(&'static str, Router, MakeRequest, u16)> = vec![
        ("bare_router", routes(), Box::new(same_origin()), 200),
        ("shield_same_origin", shield(), Box::new(same_origin()), 200),
        (
            "tower_http_same_origin",
            tower_http(),
            Box::new(same_origin()),
            200,
        ),
        (
            "shield_origin_is_host",
            shield(),
            Box::new(old_browser()),
            200,
        ),
        (
            "tower_http_origin_is_host",
            tower_http(),
            Box::new(old_browser()),
            200,
        ),
        ("shield_trusted", shield(), Box::new(trusted()), 200),
        ("tower_http_trusted", tower_http(), Box::new(trusted()), 200),
        ("shield_cross_site", shield(), Box::new(cross_site()), 403),
        (
            "tower_http_cross_site",
            tower_http(),
            Box::new(cross_site()),
            403,
        ),
    ];
    variants
        .into_iter()
        .map(|(name, router, make, status)| (name, router.with_state(()), make, status))
        .collect()
}

/// Both layers must decide alike, or the comparison means nothing.
async fn check_variants() {
    for (name, router, make, expected) in variants() {
        let res = router.oneshot(make()).await.expect("infallible");
        assert_eq!(res.status().as_u16(), expected, "{name}");
        if name.starts_with("shield") && expected == 403 {
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "{name}"
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (name, router, make, _) in variants() {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                let req = make();
                async move { black_box(router.oneshot(req).await.expect("infallible")) }
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

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if support::measuring() {
        let names: Vec<&str> = variants().into_iter().map(|(name, ..)| name).collect();
        let _ = support::table(GROUP, "bare_router", &names);
        let mean = |name: &str| support::mean_ns(GROUP, name);
        for kind in ["same_origin", "origin_is_host", "trusted", "cross_site"] {
            if let (Some(ours), Some(theirs)) = (
                mean(&format!("shield_{kind}")),
                mean(&format!("tower_http_{kind}")),
            ) {
                println!(
                    "CSRF {kind}: tower-shield {ours:.0} ns, tower-http {theirs:.0} ns ({:.0}%)",
                    ours / theirs * 100.0
                );
            }
        }
    }
}
