//! RequestIdLayer through real axum Routers and over a real TCP socket.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use common::{call, get_with, is_uuid_v7, raw, request, serve};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_shield::request_id::{InvalidRequestId, MakeRequestId, UuidV7};
use tower_shield::{Problem, RequestId, RequestIdLayer};

/// A handler that answers with the id it saw in the extension and in the request header.
async fn echo(Extension(id): Extension<RequestId>, headers: HeaderMap) -> String {
    let header = headers
        .get_all("x-request-id")
        .iter()
        .map(|v| v.to_str().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(",");
    format!("extension={id} header={header}")
}

fn app(layer: RequestIdLayer<impl MakeRequestId>) -> Router {
    Router::new().route("/", get(echo)).layer(layer)
}

#[tokio::test]
async fn a_valid_incoming_id_is_kept_everywhere() {
    let app = app(RequestIdLayer::new());
    for id in [
        "abc-123",
        "0193a1b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b",
        "A_b.c:d+e/f=g",
        &"x".repeat(128),
    ] {
        let (status, headers, body) =
            call(&app, get_with("/", "x-request-id", id.as_bytes())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-request-id"], id);
        assert_eq!(headers.get_all("x-request-id").iter().count(), 1);
        assert_eq!(body, format!("extension={id} header={id}"));
    }
}

#[tokio::test]
async fn a_missing_id_is_generated_as_uuid_v7() {
    let app = app(RequestIdLayer::new());
    let (status, headers, body) = call(&app, request("/")).await;
    assert_eq!(status, StatusCode::OK);
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(is_uuid_v7(id), "{id}");
    assert_eq!(body, format!("extension={id} header={id}"));
}

#[tokio::test]
async fn unacceptable_ids_are_replaced_and_never_echoed() {
    let app = app(RequestIdLayer::new());
    let long = "y".repeat(129);
    let cases: Vec<&[u8]> = vec![
        long.as_bytes(),
        b"",
        b"has space",
        b"quote\"d",
        b"semi;colon",
        b"comma,list",
        b"angle<script>",
        b"tab\there",
        b"caf\xc3\xa9",
        b"back\\slash",
    ];
    for bad in cases {
        let (status, headers, body) = call(&app, get_with("/", "x-request-id", bad)).await;
        assert_eq!(status, StatusCode::OK);
        let id = headers["x-request-id"].to_str().unwrap();
        assert!(is_uuid_v7(id), "{bad:?} was replaced by {id}");
        assert_eq!(body, format!("extension={id} header={id}"), "{bad:?}");
    }
}

#[tokio::test]
async fn a_repeated_header_is_ambiguous_and_replaced() {
    let app = app(RequestIdLayer::new());
    let req = Request::get("/")
        .header("x-request-id", "first")
        .header("x-request-id", "second")
        .body(Body::empty())
        .unwrap();
    let (_, headers, body) = call(&app, req).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(is_uuid_v7(id));
    assert_eq!(body, format!("extension={id} header={id}"));
}

#[tokio::test]
async fn the_length_cap_and_symbols_are_configurable() {
    let layer = RequestIdLayer::builder()
        .max_length(10)
        .allowed_symbols("-")
        .build()
        .unwrap();
    let app = app(layer);
    let (_, headers, _) = call(&app, get_with("/", "x-request-id", b"abcde-1234")).await;
    assert_eq!(headers["x-request-id"], "abcde-1234");
    let (_, headers, _) = call(&app, get_with("/", "x-request-id", b"abcde-12345")).await;
    assert!(is_uuid_v7(headers["x-request-id"].to_str().unwrap()));
    let (_, headers, _) = call(&app, get_with("/", "x-request-id", b"abc_de")).await;
    assert!(is_uuid_v7(headers["x-request-id"].to_str().unwrap()));
}

#[tokio::test]
async fn an_untrusting_edge_replaces_every_incoming_id() {
    let layer = RequestIdLayer::builder()
        .trust_incoming(false)
        .build()
        .unwrap();
    let app = app(layer);
    let (_, headers, body) = call(&app, get_with("/", "x-request-id", b"perfectly-valid")).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(is_uuid_v7(id));
    assert_eq!(body, format!("extension={id} header={id}"));
}

#[tokio::test]
async fn the_header_name_is_configurable() {
    let layer = RequestIdLayer::builder()
        .header_name("X-Correlation-Id")
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|Extension(id): Extension<RequestId>| async move { id.to_string() }),
        )
        .layer(layer);
    let (_, headers, body) = call(&app, get_with("/", "x-correlation-id", b"corr-1")).await;
    assert_eq!(headers["x-correlation-id"], "corr-1");
    assert!(headers.get("x-request-id").is_none());
    assert_eq!(body, "corr-1");
}

#[tokio::test]
async fn a_custom_generator_makes_the_new_ids() {
    let next = Arc::new(AtomicUsize::new(41));
    let counter = Arc::clone(&next);
    let layer = RequestIdLayer::builder()
        .generator(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            RequestId::new(&format!("req-{n}")).unwrap_or_else(|_| UuidV7.make_request_id())
        })
        .build()
        .unwrap();
    let app = app(layer);
    let (_, headers, _) = call(&app, request("/")).await;
    assert_eq!(headers["x-request-id"], "req-42");
    let (_, headers, _) = call(&app, get_with("/", "x-request-id", b"bad id")).await;
    assert_eq!(headers["x-request-id"], "req-43");
}

#[tokio::test]
async fn strict_mode_rejects_with_a_problem_and_never_calls_the_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let layer = RequestIdLayer::builder()
        .reject_invalid(true)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                async { "ok" }
            }),
        )
        .layer(layer);

    let res = app
        .clone()
        .oneshot(get_with("/", "x-request-id", b"<script>alert(1)</script>"))
        .await
        .unwrap();
    assert!(res.extensions().get::<InvalidRequestId>().is_some());
    assert_eq!(
        res.extensions().get::<Problem>().map(Problem::status),
        Some(StatusCode::BAD_REQUEST)
    );
    let (status, headers, body) = call(
        &app,
        get_with("/", "x-request-id", b"<script>alert(1)</script>"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/problem+json");
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(is_uuid_v7(id));
    let body = std::str::from_utf8(&body).unwrap();
    assert_eq!(
        body,
        format!(
            concat!(
                r#"{{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-request-id","#,
                r#""title":"Invalid request id","status":400,"#,
                r#""detail":"The x-request-id header must be 1 to 128 characters from A-Z a-z 0-9 and -_.:+/=.","#,
                r#""request_id":"{}"}}"#
            ),
            id
        )
    );
    assert!(!body.contains("script"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A missing id is not an invalid one: it is generated and the request goes through.
    let (status, _, body) = call(&app, request("/")).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, b"ok".as_ref()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn ids_are_unique_across_100k_requests() {
    let app = Router::new()
        .route(
            "/",
            get(|Extension(id): Extension<RequestId>| async move { id.to_string() }),
        )
        .layer(RequestIdLayer::new());
    let mut seen = HashSet::with_capacity(100_000);
    for _ in 0..100_000 {
        let res = app.clone().oneshot(request("/")).await.unwrap();
        let header = res.headers()["x-request-id"].clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            body,
            header.as_bytes(),
            "the handler saw the id of the response"
        );
        assert!(seen.insert(header.clone()), "duplicate id {header:?}");
    }
    assert_eq!(seen.len(), 100_000);
}

#[tokio::test]
async fn over_tcp_valid_ids_are_kept_and_raw_bytes_are_replaced() {
    let addr = serve(app(RequestIdLayer::new())).await;

    let res = raw(addr, b"GET / HTTP/1.1\r\nX-Request-Id: from-the-wire-1").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-request-id"), Some("from-the-wire-1"));
    assert_eq!(
        res.body,
        b"extension=from-the-wire-1 header=from-the-wire-1"
    );

    // obs-text (bytes >= 0x80) is legal on the wire, but never an acceptable id.
    let res = raw(addr, b"GET / HTTP/1.1\r\nX-Request-Id: caf\xe9\xff-id").await;
    assert_eq!(res.status, 200);
    let id = res.header("x-request-id").unwrap().to_owned();
    assert!(is_uuid_v7(&id), "{id}");
    assert_eq!(res.all("x-request-id").len(), 1);
    assert_eq!(res.body, format!("extension={id} header={id}").as_bytes());

    let oversized = format!("GET / HTTP/1.1\r\nX-Request-Id: {}", "z".repeat(4000));
    let res = raw(addr, oversized.as_bytes()).await;
    assert_eq!(res.status, 200);
    assert!(is_uuid_v7(res.header("x-request-id").unwrap()));
    assert!(!res.body.windows(10).any(|w| w == b"zzzzzzzzzz"));
}
