//! ValidateRequestLayer through real axum Routers (and a real socket for chunked bodies):
//! exact statuses and problem bodies, the quickstart's schema, the body handed on unchanged,
//! log-only mode, and bad input — malformed JSON, a wrong charset, a chunked body over the
//! limit, JSON nested 100,000 levels deep.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{post, put};
use bytes::Bytes;
use common::call;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_shield::validate::{ConfigError, Rule, ValidateRequestLayer};

const BASE: &str = "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#";

/// The quickstart's schema for `POST /v2/posts`.
fn new_post() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string", "maxLength": 10000}
        },
        "required": ["title"],
        "additionalProperties": false
    })
}

fn validate() -> ValidateRequestLayer {
    ValidateRequestLayer::builder()
        .route(Method::POST, "/v2/posts", Rule::json(new_post()))
        .route(Method::PUT, "/v2/posts/{id}", Rule::json(new_post()))
        .route(Method::PATCH, "/v2/posts/{id}", Rule::json(new_post()))
        .build()
        .expect("valid configuration")
}

/// A Router whose handlers echo the body they got and count their calls.
fn app(layer: ValidateRequestLayer) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (c1, c2) = (Arc::clone(&calls), Arc::clone(&calls));
    let router = Router::new()
        .route(
            "/v2/posts",
            post(move |body: Bytes| async move {
                c1.fetch_add(1, Ordering::SeqCst);
                (StatusCode::CREATED, body)
            }),
        )
        .route(
            "/v2/posts/{id}",
            put(move |body: Bytes| async move {
                c2.fetch_add(1, Ordering::SeqCst);
                body
            })
            .patch(|| async { "patched" }),
        )
        .route_layer(layer);
    (router, calls)
}

fn json_request(
    method: Method,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(body.into())
        .expect("request")
}

fn post_json(body: impl Into<Body>) -> Request<Body> {
    json_request(Method::POST, "/v2/posts", "application/json", body)
}

fn problem(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON problem")
}

#[tokio::test]
async fn a_valid_body_reaches_the_handler_byte_for_byte() {
    let (app, calls) = app(validate());
    let text = "{ \"title\" : \"Hello\",\n  \"body\": \"caf\u{e9} \\u00e9\" }";
    let (status, _, body) = call(&app, post_json(text)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, text.as_bytes());
    let (status, _, _) = call(
        &app,
        json_request(
            Method::POST,
            "/v2/posts",
            "Application/JSON; charset=\"UTF-8\"",
            r#"{"title":"x"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn schema_violations_are_a_422_listing_each_with_a_pointer() {
    let (app, calls) = app(validate());
    let long = "x".repeat(201);
    let body = json!({"title": long, "body": 7, "author": "eve"}).to_string();
    let (status, headers, body) = call(&app, post_json(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        problem(&body),
        json!({
            "type": format!("{BASE}validation-failed"),
            "title": "Validation Failed",
            "status": 422,
            "detail": "The request body breaks the schema in 3 places.",
            "errors": [
                {"pointer": "/body", "message": r#"value is not of type "string""#},
                {"pointer": "/title", "message": "value is longer than 200 characters"},
                {"pointer": "", "message": "Additional properties are not allowed ('author' was unexpected)"},
            ]
        })
    );
    // The offending value is never echoed back.
    assert!(!String::from_utf8_lossy(&body).contains(&long));

    let (status, _, body) = call(&app, post_json(r#"{"body":"no title"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(&body)["errors"],
        json!([{"pointer": "", "message": r#""title" is a required property"#}])
    );
    let (status, _, body) = call(&app, post_json(r#"[1]"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(&body)["errors"],
        json!([{"pointer": "", "message": r#"value is not of type "object""#}])
    );
    let body = json!({"title": "t", "body": "b".repeat(10_001)}).to_string();
    let (status, _, body) = call(&app, post_json(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(&body)["errors"],
        json!([{"pointer": "/body", "message": "value is longer than 10000 characters"}])
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn violations_are_capped() {
    let layer = ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/v2/posts",
            Rule::json(json!({"type": "array", "items": {"type": "string"}})),
        )
        .build()
        .unwrap();
    let (app, _) = app(layer);
    let body = serde_json::to_string(&(0..100).collect::<Vec<_>>()).unwrap();
    let (status, _, body) = call(&app, post_json(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem = problem(&body);
    assert_eq!(
        problem["detail"],
        "The request body breaks the schema in 100 places; the first 20 are listed."
    );
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 20);
    assert_eq!(
        errors[19],
        json!({"pointer": "/19", "message": r#"value is not of type "string""#})
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_with_the_parsers_position() {
    let (app, calls) = app(validate());
    for (text, detail) in [
        ("{\"title\": \"x\",}", "trailing comma at line 1 column 15"),
        ("{\"title\": 'x'}", "expected value at line 1 column 11"),
        ("", "EOF while parsing a value at line 1 column 0"),
        (
            "{\"title\": \"x\"} {}",
            "trailing characters at line 1 column 16",
        ),
        // The schema would check one title and a handler might read the other (I-JSON).
        (
            "{\"title\": \"\", \"title\": \"x\"}",
            "duplicate key `title` at line 1 column 21",
        ),
    ] {
        let (status, _, body) = call(&app, post_json(text)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(
            problem(&body),
            json!({
                "type": format!("{BASE}invalid-json"),
                "title": "Invalid JSON",
                "status": 400,
                "detail": format!("The request body is not valid JSON: {detail}."),
            }),
            "{text}"
        );
    }
    // Invalid UTF-8 is not JSON either.
    let (status, _, _) = call(&app, post_json(&b"{\"title\": \"\xff\"}"[..])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn json_nested_100_000_levels_is_a_400_not_a_crash() {
    let (app, _) = app(validate());
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let deep = format!("{}{}", open.repeat(100_000), close.repeat(100_000));
        let (status, _, body) = call(&app, post_json(deep)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let detail = problem(&body)["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.starts_with(
                "The request body is not valid JSON: recursion limit exceeded at line 1 column "
            ),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn content_type_missing_wrong_or_in_another_charset_is_a_415() {
    let (app, calls) = app(validate());
    let missing = Request::post("/v2/posts").body(Body::from("{}")).unwrap();
    let (status, headers, body) = call(&app, missing).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(headers["accept-post"], "application/json");
    assert_eq!(
        problem(&body),
        json!({
            "type": format!("{BASE}unsupported-media-type"),
            "title": "Unsupported Media Type",
            "status": 415,
            "detail": "This request needs a Content-Type: application/json.",
            "accepted_media_types": ["application/json"],
        })
    );
    let (status, _, body) = call(
        &app,
        json_request(Method::POST, "/v2/posts", "text/plain", r#"{"title":"x"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        problem(&body)["detail"],
        "This request accepts a body of type application/json only."
    );
    for charset in ["utf-16", "UTF-16LE", "iso-8859-1", "\"latin1\""] {
        let ct = format!("application/json; charset={charset}");
        let (status, _, body) =
            call(&app, json_request(Method::POST, "/v2/posts", &ct, "{}")).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(
            problem(&body)["detail"],
            "A JSON body must be UTF-8: send charset=utf-8 or no charset."
        );
    }
    let (status, headers, body) = call(
        &app,
        json_request(Method::PATCH, "/v2/posts/1", "application/json;", "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
    assert!(headers.get("accept-patch").is_none());
    let (status, headers, _) = call(
        &app,
        json_request(
            Method::PATCH,
            "/v2/posts/1",
            "application/merge-patch+json",
            "{}",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(headers["accept-patch"], "application/json");
    assert!(headers.get("accept").is_none());
    // Another method: `Accept` says what would have been accepted (RFC 9110 section
    // 15.5.16).
    let (status, headers, _) = call(
        &app,
        json_request(Method::PUT, "/v2/posts/1", "text/plain", "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(headers["accept"], "application/json");
    assert!(headers.get("accept-post").is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A JSON body in a content coding cannot be validated as sent: `415` with
/// `Accept-Encoding: identity` (RFC 9110 section 15.5.16), not a `400` "not JSON". `identity`
/// is no coding; a route without a schema does not parse its body, so any coding passes there.
#[tokio::test]
async fn a_content_encoded_json_body_is_a_415_asking_for_identity() {
    let (json_app, calls) = app(validate());
    let gzip_of_braces: &[u8] = &[
        0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0xab, 0xae, 0x05, 0, 0x43, 0xbf, 0xa6, 0xa3, 2,
        0, 0, 0,
    ];
    for coding in ["gzip", "GZIP", "identity, gzip", "br"] {
        let mut req = json_request(
            Method::POST,
            "/v2/posts",
            "application/json",
            gzip_of_braces,
        );
        req.headers_mut()
            .insert("content-encoding", coding.parse().unwrap());
        let (status, headers, body) = call(&json_app, req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{coding}");
        assert_eq!(headers["accept-encoding"], "identity", "{coding}");
        assert_eq!(headers["accept-post"], "application/json", "{coding}");
        assert_eq!(
            problem(&body),
            json!({
                "type": format!("{BASE}unsupported-media-type"),
                "title": "Unsupported Media Type",
                "status": 415,
                "detail": "This request body is validated as sent: send it without a Content-Encoding.",
                "accepted_media_types": ["application/json"],
            }),
            "{coding}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let mut identity = post_json(r#"{"title":"x"}"#);
    identity
        .headers_mut()
        .insert("content-encoding", "identity".parse().unwrap());
    let (status, headers, _) = call(&json_app, identity).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("accept-encoding").is_none());

    let (raw, raw_calls) = app(ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/v2/posts",
            Rule::new().content_type("application/octet-stream"),
        )
        .build()
        .unwrap());
    let mut req = json_request(
        Method::POST,
        "/v2/posts",
        "application/octet-stream",
        gzip_of_braces,
    );
    req.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let (status, _, body) = call(&raw, req).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(&body[..], gzip_of_braces);
    assert_eq!(raw_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn route_templates_match_through_matched_path_and_other_routes_pass() {
    let (app, calls) = app(validate());
    let (status, _, body) = call(
        &app,
        json_request(
            Method::PUT,
            "/v2/posts/42",
            "application/json",
            r#"{"title":""}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(&body)["errors"],
        json!([{"pointer": "/title", "message": "value is shorter than 1 character"}])
    );
    let (status, _, body) = call(
        &app,
        json_request(
            Method::PUT,
            "/v2/posts/42",
            "application/json",
            r#"{"title":"t"}"#,
        ),
    )
    .await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, &br#"{"title":"t"}"#[..])
    );
    // Unknown routes get the Router's 404, not a 415: a route_layer runs after routing.
    let (status, _, _) = call(
        &app,
        Request::post("/v2/nothing").body(Body::from("x")).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn around_the_router_the_request_path_finds_the_rule() {
    let inner = Router::new()
        .route("/v2/posts/{id}", put(|body: Bytes| async move { body }))
        .route("/v2/other", post(|body: Bytes| async move { body }));
    let app = Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .layer(validate())
            .service(inner),
    );
    let (status, _, _) = call(
        &app,
        json_request(
            Method::PUT,
            "/v2/posts/42",
            "application/json",
            r#"{"title":7}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, body) = call(
        &app,
        json_request(Method::POST, "/v2/other", "text/plain", "anything"),
    )
    .await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, &b"anything"[..]));
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_a_413() {
    let layer = ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/v2/posts",
            Rule::json(new_post()).body_limit(100),
        )
        .build()
        .unwrap();
    let (app, calls) = app(layer);
    let text = json!({"title": "x".repeat(100)}).to_string();
    let (status, _, body) = call(&app, post_json(text)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        problem(&body),
        json!({
            "type": format!("{BASE}payload-too-large"),
            "title": "Content Too Large",
            "status": 413,
            "detail": "The request body is larger than the 100 bytes this route accepts.",
        })
    );
    let text = json!({"title": "x".repeat(80)}).to_string();
    assert_eq!(call(&app, post_json(text)).await.0, StatusCode::CREATED);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Over a real socket: a chunked body, no `Content-Length`, that never ends. The server
/// answers 413 once it has read past the limit, while the client is still sending.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_while_it_streams() {
    let layer = ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/v2/posts",
            Rule::json(new_post()).body_limit(4096),
        )
        .build()
        .unwrap();
    let (app, calls) = app(layer);
    let addr = common::serve(app).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"POST /v2/posts HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let writer = tokio::spawn(async move {
        // 1 KiB chunks until the server stops listening (or 1 MiB, whichever comes first).
        let chunk = format!("400\r\n{}\r\n", "[".repeat(1024));
        for _ in 0..1024 {
            if write.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf))
            .await
            .expect("an answer before the body ends")
            .unwrap();
        assert!(n > 0, "connection closed without an answer");
        response.extend_from_slice(&buf[..n]);
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 413 Payload Too Large"), "{head}");
    assert!(
        sent.load(Ordering::SeqCst) < 1024,
        "answered before the client finished"
    );
    writer.abort();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// Collects the `WARN` events of `tower_shield::validate`.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Events {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn log_only_lets_requests_through_and_logs_what_would_have_failed() {
    let events = Events::default();
    let sink = events.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_env_filter("tower_shield::validate=warn")
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let layer = ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/v2/posts",
            Rule::json(new_post()).body_limit(64),
        )
        .log_only(true)
        .build()
        .unwrap();
    let (app, calls) = app(layer);
    for text in [
        r#"{"title": 1}"#,
        "{oops",
        &format!("[{}]", "1,".repeat(40) + "1"),
    ] {
        let (status, _, body) = call(&app, post_json(text.to_owned())).await;
        assert_eq!(
            (status, body.as_ref()),
            (StatusCode::CREATED, text.as_bytes())
        );
    }
    let (status, _, _) = call(
        &app,
        json_request(Method::POST, "/v2/posts", "text/plain", "hi"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    let logged = String::from_utf8(events.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 4, "{logged}");
    for (line, problem) in lines.iter().zip([
        "validation-failed",
        "invalid-json",
        "payload-too-large",
        "unsupported-media-type",
    ]) {
        assert!(
            line.contains(
                " WARN tower_shield::validate: request would have been refused (log-only)"
            ),
            "{line}"
        );
        assert!(
            line.contains("tower_shield.event=\"validation.refused\""),
            "{line}"
        );
        assert!(
            line.contains(&format!("tower_shield.problem=\"{problem}\"")),
            "{line}"
        );
        assert!(
            line.contains("tower_shield.rule=\"POST /v2/posts\""),
            "{line}"
        );
        // The request went through: no status of the layer's, no error type.
        assert!(!line.contains("http.response.status_code"), "{line}");
        assert!(!line.contains("error.type"), "{line}");
    }
    assert!(lines[0].contains(r#"pointer: \"/title\""#), "{}", lines[0]);
}

#[test]
fn invalid_schemas_and_routes_are_build_errors() {
    let err = ValidateRequestLayer::builder()
        .route(Method::POST, "/v2/posts", Rule::json(json!({"type": 12})))
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidSchema { route, .. } if route == "POST /v2/posts"),
        "{err:?}"
    );
    let err = ValidateRequestLayer::builder()
        .route(Method::POST, "/v2/posts/:id", Rule::json(new_post()))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "request validation: invalid route \"/v2/posts/:id\": parameters are written `{name}` (axum 0.8), not `:name`"
    );
}
