//! Per-request cost of `ErrorHygieneLayer` against a bare axum Router, and beside tower-http's
//! `CatchPanicLayer` (which catches panics alone): `cargo bench --bench error_hygiene`.
//!
//! On a `200` the layer strips headers and passes the body through; on a `500` it reads the
//! body's first bytes for the log and renders the generic problem (the log goes nowhere here:
//! no subscriber is installed).

mod support;

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_shield::ErrorHygieneLayer;

const GROUP: &str = "error_hygiene";
const LEAK: &str = "ERROR: relation \"users\" does not exist at /srv/app/src/db.rs:12";

fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { ([("server", "axum/0.8")], "[]") }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, LEAK) }),
        )
}

type MakeRequest = Box<dyn Fn() -> Request<Body>>;

fn get_uri(uri: &'static str) -> MakeRequest {
    Box::new(move || Request::get(uri).body(Body::empty()).expect("request"))
}

/// Name, router, request.
fn variants() -> Vec<(&'static str, Router, MakeRequest)> {
    let hygiene = || routes().layer(ErrorHygieneLayer::new());
    let catch_panic = || routes().layer(CatchPanicLayer::new());
    // Served as `axum::serve` serves a Router: `with_state(())` turns the handlers into routes
    // once (called as it is, a Router does it again on every request).
    let variants: Vec<(&'static str, Router, MakeRequest)> = vec![
        ("bare_router_ok", routes(), get_uri("/ok")),
        ("shield_hygiene_ok", hygiene(), get_uri("/ok")),
        ("tower_http_catch_panic_ok", catch_panic(), get_uri("/ok")),
        ("bare_router_500", routes(), get_uri("/fail")),
        ("shield_hygiene_500", hygiene(), get_uri("/fail")),
    ];
    variants
        .into_iter()
        .map(|(name, router, make)| (name, router.with_state(()), make))
        .collect()
}

/// The layer must do its job in the measured setup.
async fn check_variants() {
    for (name, router, make) in variants() {
        let res = router.oneshot(make()).await.expect("infallible");
        let status = res.status();
        let shield = name.starts_with("shield");
        if name.ends_with("ok") {
            assert_eq!(res.headers().get("server").is_none(), shield, "{name}");
        }
        let body = res.into_body().collect().await.expect("body").to_bytes();
        let body = String::from_utf8_lossy(&body);
        if name.ends_with("500") {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{name}");
            assert_eq!(body.contains("/srv/app"), !shield, "{name}: {body}");
        } else {
            assert_eq!((status, &*body), (StatusCode::OK, "[]"), "{name}");
        }
    }
}

fn bench(c: &mut Criterion) {
    // With tokio's timer, as a server's runtime has it: the replaced body's excerpt is read
    // under a deadline.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (name, router, make) in variants() {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                let req = make();
                async move {
                    let res = router.oneshot(req).await.expect("infallible");
                    black_box(res.into_body().collect().await.expect("body"))
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

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if support::measuring() {
        let names: Vec<&str> = variants().into_iter().map(|(name, ..)| name).collect();
        let _ = support::table(GROUP, "bare_router_ok", &names[..3]);
        let _ = support::table(GROUP, "bare_router_500", &names[3..]);
    }
}
