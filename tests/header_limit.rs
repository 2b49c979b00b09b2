//! A response already at `HeaderMap`'s size limit goes through every layer without a panic
//! (`HeaderMap::insert` panics there; the layers use the `try_` forms).

mod common;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use common::call;
use http::header::HeaderName;
use http::{HeaderValue, Request, StatusCode};
use tower::ServiceBuilder;
use tower_shield::versioning::Version;
use tower_shield::{CorsLayer, RequestIdLayer, SecurityHeadersLayer, VersioningLayer};

/// A response with room for exactly one more header: axum's own `content-length` (axum
/// inserts it with `insert`, which would panic in a full map).
async fn full() -> Response {
    let mut res = Response::new(Body::from("full"));
    let headers = res.headers_mut();
    let mut last = None;
    for i in 0.. {
        let name = HeaderName::try_from(format!("x-filler-{i}")).unwrap();
        if headers
            .try_insert(name.clone(), HeaderValue::from_static("1"))
            .is_err()
        {
            break;
        }
        last = Some(name);
    }
    if let Some(name) = last {
        headers.remove(name);
    }
    res
}

#[tokio::test]
async fn a_full_response_passes_every_layer() {
    let cors = CorsLayer::builder()
        .allow_origin("https://app.example.com")
        .build()
        .unwrap();
    let versioning = VersioningLayer::builder()
        .version(Version::supported(2))
        .version(Version::deprecated(1, "2026-01-01").link("https://api.example.com/migrate"))
        .default_version(2)
        .build()
        .unwrap();
    let stack = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(SecurityHeadersLayer::web_app())
        .layer(cors)
        .layer(versioning)
        .service(Router::new().route("/full", get(full)));
    let app = Router::new().fallback_service(stack);
    let req = Request::get("/v1/full")
        .header("origin", "https://app.example.com")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "full");
    assert!(
        headers.len() > 20_000,
        "the handler's headers are all there"
    );
}
