//! The rejection -> response mechanism: problem+json by default, a swapped renderer used by
//! every layer without touching them, rejections visible in response extensions.

mod common;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use common::{call, get_with, is_uuid_v7, request};
use http::StatusCode;
use serde_json::Value;
use tower_shield::extract::Rejector;
use tower_shield::problem::{GrpcStatus, PlainText, Problem, RendererLayer, RequestHead};
use tower_shield::request_id::InvalidRequestId;
use tower_shield::{RequestId, RequestIdLayer};

const BAD_ID: &[u8] = b"not acceptable!";

/// A Router whose RequestIdLayer rejects invalid ids, plus a fallback that rejects through the
/// Rejector extractor, and a handler that needs a RequestId.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/id", get(|id: RequestId| async move { id.to_string() }))
        .route(
            "/challenge",
            get(|rejector: Rejector| async move {
                rejector.reject(
                    Problem::new(StatusCode::UNAUTHORIZED)
                        .with_header(
                            http::header::WWW_AUTHENTICATE,
                            http::HeaderValue::from_static("Bearer realm=\"api\""),
                        )
                        .with_header(
                            http::header::WWW_AUTHENTICATE,
                            http::HeaderValue::from_static("Basic realm=\"api\""),
                        ),
                )
            }),
        )
        .fallback(|rejector: Rejector| async move {
            rejector.reject(
                Problem::new(StatusCode::NOT_FOUND)
                    .with_type("https://api.example.com/problems/no-route")
                    .with_detail("No route matches this path."),
            )
        })
}

fn strict_ids() -> RequestIdLayer {
    RequestIdLayer::builder()
        .reject_invalid(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_default_is_problem_json_with_the_request_id() {
    let app = app().layer(strict_ids());
    let (status, headers, body) = call(&app, get_with("/", "x-request-id", BAD_ID)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/problem+json");
    let json: Value = serde_json::from_slice(&body).unwrap();
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-request-id",
            "title": "Invalid request id",
            "status": 400,
            "detail": "The x-request-id header must be 1 to 128 characters from A-Z a-z 0-9 and -_.:+/=.",
            "request_id": id,
        })
    );
    // Members come in RFC 9457 order.
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .starts_with(r#"{"type":"#)
    );
}

#[tokio::test]
async fn handlers_reject_through_the_same_renderer() {
    let app = app().layer(RequestIdLayer::new());
    let (status, headers, body) = call(&app, request("/missing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/problem+json");
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(is_uuid_v7(id));
    assert_eq!(
        body,
        format!(
            r#"{{"type":"https://api.example.com/problems/no-route","title":"Not Found","status":404,"detail":"No route matches this path.","request_id":"{id}"}}"#
        )
    );
}

#[tokio::test]
async fn a_renderer_layer_swaps_the_format_of_every_rejection() {
    let app = app()
        .layer(strict_ids())
        .layer(RendererLayer::new(PlainText));
    let (status, headers, body) = call(&app, get_with("/", "x-request-id", BAD_ID)).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        body,
        format!(
            "400 Invalid request id: The x-request-id header must be 1 to 128 characters from \
             A-Z a-z 0-9 and -_.:+/=.\nrequest id: {id}\n"
        )
    );

    let (status, headers, body) = call(&app, request("/missing")).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        format!("404 Not Found: No route matches this path.\nrequest id: {id}\n")
    );
}

#[tokio::test]
async fn grpc_status_renderer_for_tonic_services() {
    let app = app()
        .layer(strict_ids())
        .layer(RendererLayer::new(GrpcStatus));
    let (status, headers, body) = call(&app, get_with("/", "x-request-id", BAD_ID)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(headers["grpc-status"], "3");
    assert_eq!(
        headers["grpc-message"],
        "The x-request-id header must be 1 to 128 characters from A-Z a-z 0-9 and -_.:+/=."
    );
    assert!(body.is_empty());
}

#[tokio::test]
async fn a_closure_is_a_renderer() {
    let renderer = |problem: &Problem, cx: &RequestHead<'_>| {
        let text = format!(
            "{} {} {}",
            problem.status().as_u16(),
            cx.method(),
            cx.request_id().map_or("-", RequestId::as_str)
        );
        let mut res = http::Response::new(Bytes::from(text));
        *res.status_mut() = problem.status();
        res
    };
    let app = app()
        .layer(RequestIdLayer::new())
        .layer(RendererLayer::new(renderer));
    let (status, headers, body) = call(&app, request("/missing")).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, format!("404 GET {id}"));

    // The closure copies no header: the problem's own headers are added all the same.
    let (status, headers, _) = call(&app, request("/challenge")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers
            .get_all("www-authenticate")
            .iter()
            .collect::<Vec<_>>(),
        ["Bearer realm=\"api\"", "Basic realm=\"api\""]
    );
}

#[tokio::test]
async fn the_rejection_travels_in_the_response_extensions() {
    let app = app().layer(strict_ids());
    let res: Response = tower::ServiceExt::oneshot(app, get_with("/", "x-request-id", BAD_ID))
        .await
        .unwrap();
    assert!(res.extensions().get::<InvalidRequestId>().is_some());
    let problem = res.extensions().get::<Problem>().unwrap();
    assert_eq!(problem.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem.title(), "Invalid request id");
}

#[tokio::test]
async fn a_missing_layer_is_a_generic_500_that_leaks_nothing() {
    let (status, headers, body) = call(&app(), request("/id")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#internal-error","title":"Internal Server Error","status":500,"detail":"The server could not handle this request."}"#
    );
    let text = std::str::from_utf8(&body).unwrap();
    assert!(!text.contains("RequestIdLayer") && !text.contains("extension"));
}

#[tokio::test]
async fn problem_into_response_renders_problem_json() {
    let app = Router::new().route(
        "/",
        get(|| async {
            Problem::new(StatusCode::CONFLICT)
                .with_detail("already exists")
                .with_extension("id", 7)
        }),
    );
    let (status, headers, body) = call(&app, request("/")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        body,
        r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"already exists","id":7}"#
    );
}
