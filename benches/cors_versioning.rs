//! Per-request cost of `CorsLayer` beside tower-http's `CorsLayer` on the same requests, and of
//! `VersioningLayer`, against bare axum Routers, in one run: `cargo bench --bench cors_versioning`.
//!
//! Both CORS layers allow the same origins (`https://frontend.example.com` and subdomains of
//! `example.com`, which tower-http expresses as a predicate), methods, headers, credentials and
//! max-age, and answer the same preflight and the same credentialed actual request.

mod support;

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, Request};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer as TowerHttpCors};
use tower_shield::versioning::Version;
use tower_shield::{CorsLayer, VersioningLayer};

const GROUP: &str = "cors_versioning";
const ORIGIN: &str = "https://app.example.com";
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

fn routes() -> Router {
    Router::new().route("/posts", get(|| async { "ok" }).post(|| async { "ok" }))
}

fn shield_cors() -> Router {
    let cors = CorsLayer::builder()
        .allow_origin("https://frontend.example.com")
        .allow_origin("https://*.example.com")
        .allow_methods(METHODS)
        .allow_headers(["authorization", "content-type"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(86_400))
        .build()
        .expect("valid CORS configuration");
    routes().layer(cors)
}

fn tower_http_cors() -> Router {
    let cors = TowerHttpCors::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            origin == "https://frontend.example.com"
                || origin
                    .strip_prefix("https://")
                    .and_then(|host| host.strip_suffix(".example.com"))
                    .is_some_and(|sub| !sub.is_empty())
        }))
        .allow_methods(METHODS)
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .allow_credentials(true)
        .max_age(Duration::from_secs(86_400))
        .expose_headers([HeaderName::from_static("x-request-id")]);
    routes().layer(cors)
}

/// The versioning layer rewrites the path, so it wraps the Router as a service; the baseline
/// is the same wrapping without the layer.
fn wrapped_bare() -> Router {
    Router::new().fallback_service(routes())
}

fn shield_versioning() -> Router {
    let versioning = VersioningLayer::builder()
        .vendor("example")
        .version(Version::supported(2))
        .version(Version::deprecated(1, "2026-01-01").sunset("2099-01-01"))
        .default_version(2)
        .build()
        .expect("valid versioning configuration");
    Router::new().fallback_service(ServiceBuilder::new().layer(versioning).service(routes()))
}

fn preflight() -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/posts")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .expect("request")
}

fn actual() -> Request<Body> {
    Request::post("/posts")
        .header("origin", ORIGIN)
        .header("authorization", "Bearer x")
        .body(Body::empty())
        .expect("request")
}

fn get_uri(uri: &'static str) -> impl Fn() -> Request<Body> {
    move || Request::get(uri).body(Body::empty()).expect("request")
}

type MakeRequest = Box<dyn Fn() -> Request<Body>>;

fn variants() -> Vec<(&'static str, Router, MakeRequest)> {
    // Served as `axum::serve` serves a Router: `with_state(())` turns the handlers into routes
    // once (called as it is, a Router does it again on every request).
    let variants: Vec<(&'static str, Router, MakeRequest)> = vec![
        ("bare_router_actual", routes(), Box::new(actual)),
        ("shield_cors_preflight", shield_cors(), Box::new(preflight)),
        (
            "tower_http_cors_preflight",
            tower_http_cors(),
            Box::new(preflight),
        ),
        ("shield_cors_actual", shield_cors(), Box::new(actual)),
        (
            "tower_http_cors_actual",
            tower_http_cors(),
            Box::new(actual),
        ),
        (
            "bare_wrapped_router",
            wrapped_bare(),
            Box::new(get_uri("/posts")),
        ),
        (
            "shield_versioning_path",
            shield_versioning(),
            Box::new(get_uri("/v2/posts")),
        ),
        (
            "shield_versioning_deprecated",
            shield_versioning(),
            Box::new(get_uri("/v1/posts")),
        ),
    ];
    variants
        .into_iter()
        .map(|(name, router, make)| (name, router.with_state(()), make))
        .collect()
}

/// Both CORS layers must answer alike, or the comparison means nothing.
async fn check_variants() {
    for (name, router, make) in variants() {
        let res = router.oneshot(make()).await.expect("infallible");
        let status = res.status().as_u16();
        let expected = if name.ends_with("preflight") {
            [200, 204]
        } else {
            [200, 200]
        };
        assert!(expected.contains(&status), "{name}: {status}");
        if name.contains("cors") {
            assert_eq!(
                res.headers()["access-control-allow-origin"],
                ORIGIN,
                "{name}"
            );
            assert_eq!(
                res.headers()["access-control-allow-credentials"],
                "true",
                "{name}"
            );
        }
        if name.ends_with("deprecated") {
            assert_eq!(res.headers()["deprecation"], "@1767225600", "{name}");
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (name, router, make) in variants() {
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
        let names: Vec<&str> = variants().into_iter().map(|(name, _, _)| name).collect();
        let _ = support::table(GROUP, "bare_router_actual", &names);
        let _ = support::table(GROUP, "bare_wrapped_router", &names[5..]);
        let mean = |name: &str| support::mean_ns(GROUP, name);
        for kind in ["preflight", "actual"] {
            if let (Some(ours), Some(theirs)) = (
                mean(&format!("shield_cors_{kind}")),
                mean(&format!("tower_http_cors_{kind}")),
            ) {
                println!(
                    "CORS {kind}: tower-shield {ours:.0} ns, tower-http {theirs:.0} ns ({:.0}%)",
                    ours / theirs * 100.0
                );
            }
        }
    }
}
