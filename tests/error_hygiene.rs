//! ErrorHygieneLayer through real axum Routers: a handler's 5xx, a panic, a handler's own
//! Problem, a rejection of an inner layer, headers stripped with SecurityHeadersLayer beside
//! it, and the bytes on a real socket.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use common::{call, raw, request, serve};
use tower_shield::problem::Problem;
use tower_shield::{ErrorHygieneLayer, RequestIdLayer, ScopeLayer, SecurityHeadersLayer};

const TYPE: &str =
    "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#server-error";
const DETAIL: &str =
    "The server could not handle this request. Quote the request id when reporting it.";

fn app() -> Router {
    let hygiene = ErrorHygieneLayer::builder()
        .strip_header("x-aspnet-version")
        .build()
        .expect("valid configuration");
    Router::new()
        .route("/ok", get(|| async { ([("server", "axum"), ("x-aspnet-version", "4.0")], "fine") }))
        .route(
            "/db",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "5"), ("x-powered-by", "Express")],
                    "error: connect ECONNREFUSED 10.1.2.3:5432 at /srv/app/node_modules/pg/lib/client.js:132",
                )
            }),
        )
        .route("/panic", get(|| async { panic!("called `Option::unwrap()` on a `None` value at src/handlers/posts.rs:88"); #[allow(unreachable_code)] "" }))
        .route(
            "/teapot",
            get(|| async { Problem::new(StatusCode::INSUFFICIENT_STORAGE).with_detail("Quota full.").into_response() }),
        )
        .route("/scoped", get(|| async { "secret" }).route_layer(ScopeLayer::authenticated()))
        .layer(hygiene)
        .layer(SecurityHeadersLayer::json_api())
        .layer(RequestIdLayer::new())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test]
async fn a_handlers_server_error_becomes_the_generic_problem() {
    let (status, headers, body) = call(&app(), request("/db")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["retry-after"], "5");
    assert!(headers.get("x-powered-by").is_none());
    assert_eq!(headers["x-content-type-options"], "nosniff"); // security headers still set
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        format!(
            r#"{{"type":"{TYPE}","title":"Server error","status":503,"detail":"{DETAIL}","request_id":"{id}"}}"#
        )
    );
}

#[tokio::test]
async fn a_panic_becomes_a_500_problem_without_the_message() {
    let (status, headers, body) = call(&app(), request("/panic")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        format!(
            r#"{{"type":"{TYPE}","title":"Server error","status":500,"detail":"{DETAIL}","request_id":"{id}"}}"#
        )
    );
    // The app still serves after the panic.
    let (status, _, body) = call(&app(), request("/ok")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"fine"[..]));
}

#[tokio::test]
async fn a_handlers_own_problem_and_an_inner_rejection_are_kept() {
    let (status, _, body) = call(&app(), request("/teapot")).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(json(&body)["detail"], "Quota full.");
    let (status, _, body) = call(&app(), request("/scoped")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        json(&body)["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized"
    );
}

#[tokio::test]
async fn banners_are_stripped_from_every_response() {
    for path in ["/ok", "/db", "/panic", "/scoped", "/missing"] {
        let (_, headers, _) = call(&app(), request(path)).await;
        for name in ["server", "x-powered-by", "x-aspnet-version"] {
            assert!(headers.get(name).is_none(), "{path}: {name}");
        }
    }
}

#[tokio::test]
async fn on_the_wire_nothing_of_the_failure_is_sent() {
    let addr = serve(app()).await;
    for (path, status) in [("/db", 503), ("/panic", 500)] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let res = raw(addr, head.as_bytes()).await;
        assert_eq!(res.status, status, "{path}");
        assert_eq!(res.header("server"), None);
        let text = String::from_utf8(res.body.clone()).unwrap();
        for leak in [
            "10.1.2.3",
            "/srv/app",
            "ECONNREFUSED",
            "unwrap",
            "posts.rs",
            "Express",
        ] {
            assert!(!text.contains(leak), "{path}: {leak} in {text}");
        }
        assert!(text.contains("\"title\":\"Server error\""), "{text}");
    }
}
