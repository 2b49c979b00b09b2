//! CsrfLayer through real axum Routers: forged and legitimate browser requests, trusted
//! origins, bypass paths, the problem body with a request id, the order with CORS, and raw
//! HTTP/1.1 on a socket (the `Host` a server really sees, two `Origin` headers).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use common::{call, raw, serve};
use http::{Method, Request, StatusCode};
use tower_shield::csrf::{ConfigError, CrossOriginReason, CrossOriginRefused};
use tower_shield::{CorsLayer, CsrfLayer, RequestIdLayer};

const TYPE: &str = "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#cross-origin-request-refused";

/// A Router that counts the calls that reach its handlers.
fn app(csrf: CsrfLayer) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (a, b) = (Arc::clone(&calls), Arc::clone(&calls));
    let router = Router::new()
        .route(
            "/posts",
            post(move || async move {
                a.fetch_add(1, Ordering::SeqCst);
                "saved"
            })
            .get(|| async { "[]" }),
        )
        .route(
            "/hooks/{name}",
            post(move || async move {
                b.fetch_add(1, Ordering::SeqCst);
                "hooked"
            }),
        )
        .layer(csrf);
    (router, calls)
}

fn csrf() -> CsrfLayer {
    CsrfLayer::builder()
        .add_trusted_origin("https://admin.example.com")
        .bypass_path("/hooks/*")
        .build()
        .expect("valid configuration")
}

fn post_from(path: &str, site: Option<&str>, origin: Option<&str>) -> Request<Body> {
    let mut req = Request::post(path).header("host", "api.example.com");
    if let Some(site) = site {
        req = req.header("sec-fetch-site", site);
    }
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.body(Body::from("title=x")).expect("request")
}

#[tokio::test]
async fn a_forged_cross_site_post_never_reaches_the_handler() {
    let (app, calls) = app(csrf());
    let (status, headers, body) = call(
        &app,
        post_from("/posts", Some("cross-site"), Some("https://evil.example")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        format!(
            r#"{{"type":"{TYPE}","title":"Cross-origin request refused","status":403,"detail":"The browser marked this request as cross-origin (Sec-Fetch-Site); this endpoint accepts it only from its own origin or a trusted one."}}"#
        )
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn legitimate_requests_reach_the_handler() {
    let (app, calls) = app(csrf());
    let cases = [
        (
            "own page",
            post_from(
                "/posts",
                Some("same-origin"),
                Some("https://api.example.com"),
            ),
        ),
        ("typed URL", post_from("/posts", Some("none"), None)),
        (
            "trusted origin",
            post_from(
                "/posts",
                Some("same-site"),
                Some("https://admin.example.com"),
            ),
        ),
        (
            "old browser, own origin",
            post_from("/posts", None, Some("https://api.example.com")),
        ),
        ("not a browser", post_from("/posts", None, None)),
        (
            "bypassed webhook",
            post_from(
                "/hooks/stripe",
                Some("cross-site"),
                Some("https://stripe.example"),
            ),
        ),
    ];
    let n = cases.len();
    for (name, req) in cases {
        let (status, _, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(body == "saved" || body == "hooked", "{name}: {body:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), n);
}

#[tokio::test]
async fn safe_methods_pass_even_cross_site() {
    let (app, _) = app(csrf());
    let req = Request::get("/posts")
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&app, req).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"[]"[..]));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_reason_in_the_extensions() {
    let (app, calls) = app(csrf());
    let reason = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = tower::ServiceExt::oneshot(app, req).await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            res.extensions()
                .get::<CrossOriginRefused>()
                .map(CrossOriginRefused::reason)
        }
    };
    // Unknown Sec-Fetch-Site values.
    for site in ["cross-origin", "Same-Origin", "same-origin,none"] {
        let req = post_from("/posts", Some(site), Some("https://api.example.com"));
        assert_eq!(
            reason(req).await,
            Some(CrossOriginReason::SecFetchSite),
            "{site}"
        );
    }
    // Several Origin headers, even the site's own twice.
    let req = Request::post("/posts")
        .header("host", "api.example.com")
        .header("origin", "https://api.example.com")
        .header("origin", "https://api.example.com")
        .body(Body::empty())
        .unwrap();
    assert_eq!(reason(req).await, Some(CrossOriginReason::SeveralOrigins));
    // `null` (a sandboxed frame, a file) without Sec-Fetch-Site.
    let req = post_from("/posts", None, Some("null"));
    assert_eq!(reason(req).await, Some(CrossOriginReason::OriginNotHost));
    // A webhook path reached through `..` is not bypassed.
    let req = post_from(
        "/hooks/%2e%2e/posts",
        Some("cross-site"),
        Some("https://evil.example"),
    );
    assert_eq!(reason(req).await, Some(CrossOriginReason::SecFetchSite));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_problem_carries_the_request_id() {
    let (router, _) = app(csrf());
    let app = router.layer(RequestIdLayer::new());
    let req = post_from("/posts", Some("cross-site"), None);
    let (status, headers, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = headers["x-request-id"].to_str().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["request_id"], id);
    assert_eq!(json["type"], TYPE);
}

#[tokio::test]
async fn cors_outside_answers_preflights_and_its_headers_reach_the_refusal() {
    let cors = CorsLayer::builder()
        .allow_origin("https://admin.example.com")
        .allow_origin("https://other.example.com")
        .allow_methods([Method::POST])
        .build()
        .unwrap();
    let (router, calls) = app(csrf());
    let app = router.layer(cors);
    // The preflight (OPTIONS, a safe method) is answered by CORS.
    let preflight = Request::options("/posts")
        .header("origin", "https://other.example.com")
        .header("access-control-request-method", "POST")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&app, preflight).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://other.example.com"
    );
    // CORS allows the origin but CSRF does not trust it: refused, readable by the page.
    let (status, headers, _) = call(
        &app,
        post_from(
            "/posts",
            Some("cross-site"),
            Some("https://other.example.com"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://other.example.com"
    );
    // Trusted by both.
    let (status, _, _) = call(
        &app,
        post_from(
            "/posts",
            Some("cross-site"),
            Some("https://admin.example.com"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn on_a_socket_the_host_header_is_what_origin_is_compared_with() {
    let (app, calls) = app(CsrfLayer::new());
    let addr = serve(app).await;
    let host = format!("127.0.0.1:{}", addr.port());
    let same = format!(
        "POST /posts HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(addr, same.as_bytes()).await.status, 200);
    // The https page of the same host passes too: the check cannot see the scheme (Go's).
    let https = same.replace("Origin: http://", "Origin: https://");
    assert_eq!(raw(addr, https.as_bytes()).await.status, 200);
    let other_port = format!(
        "POST /posts HTTP/1.1\r\nHost: {host}\r\nOrigin: http://127.0.0.1:1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let res = raw(addr, other_port.as_bytes()).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let two = format!(
        "POST /posts HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nOrigin: http://{host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(addr, two.as_bytes()).await.status, 403);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn misconfiguration_is_a_build_error() {
    let err = CsrfLayer::builder()
        .add_trusted_origin("https://admin.example.com/")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidTrustedOrigin { .. }));
    let err = CsrfLayer::builder()
        .bypass_path("hooks/*")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "CSRF: invalid bypass path \"hooks/*\": a bypass path starts with `/` (or a method and a space: `POST /hooks/*`)"
    );
}
