//! Unit tests of request validation: media types, route templates, build errors, and the
//! service on bodies that arrive in pieces, never end or fail.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use serde_json::{Value, json};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::media::{ContentType, check};
use super::route::Template;
use super::{
    ConfigError, Draft, MAX_MESSAGE_LEN, MAX_NAME_LEN, MediaTypeRefusal, Rule,
    ValidateRequestLayer, ValidatedBody, ValidationError, Violation,
};
use crate::problem::Problem;

/// The content type, compared as the layer compares it: case-insensitively.
fn ct(essence: &str, charset: Option<&str>) -> Option<(String, Option<String>)> {
    Some((essence.to_owned(), charset.map(str::to_owned)))
}

fn parse(value: &str) -> Option<(String, Option<String>)> {
    super::media::parse(value).map(|ContentType { essence, charset }| {
        (
            essence.to_ascii_lowercase(),
            charset.map(|c| c.to_ascii_lowercase()),
        )
    })
}

#[test]
fn content_types_parse_case_insensitively_with_parameters() {
    assert_eq!(parse("application/json"), ct("application/json", None));
    assert_eq!(parse("Application/JSON"), ct("application/json", None));
    assert_eq!(
        parse("application/json; charset=UTF-8"),
        ct("application/json", Some("utf-8"))
    );
    assert_eq!(
        parse("application/json;charset=\"utf-8\""),
        ct("application/json", Some("utf-8"))
    );
    assert_eq!(
        parse("application/json ; foo=bar ; CHARSET=utf-16"),
        ct("application/json", Some("utf-16"))
    );
    assert_eq!(
        parse("text/plain; a=\"x;\\\"y\"; charset=latin1"),
        ct("text/plain", Some("latin1"))
    );
    assert_eq!(parse("text/plain;"), ct("text/plain", None));
    for bad in [
        "",
        "json",
        "application/",
        "/json",
        "application/json extra",
        "application/json; charset",
        "application/json; charset=",
        "application/json; charset=\"utf-8",
        "application/json; charset=utf-8; charset=utf-8",
        "appli cation/json",
        "application/json; a b=c",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}

#[test]
fn json_bodies_must_be_utf8_and_the_header_single() {
    let accepted = ["application/json".to_owned()];
    let check_one = |value: Option<&'static str>| {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert("content-type", HeaderValue::from_static(v));
        }
        check(&headers, &accepted, true)
    };
    assert_eq!(check_one(Some("application/json")), Ok(()));
    assert_eq!(check_one(Some("Application/JSON")), Ok(()));
    assert_eq!(check_one(Some(" application/json\t")), Ok(()));
    assert_eq!(check_one(Some("APPLICATION/Json; Charset=UTF-8")), Ok(()));
    assert_eq!(check_one(None), Err(MediaTypeRefusal::Missing));
    assert_eq!(
        check_one(Some("application/json; charset=utf-16")),
        Err(MediaTypeRefusal::Charset)
    );
    assert_eq!(
        check_one(Some("application/json; charset=iso-8859-1")),
        Err(MediaTypeRefusal::Charset)
    );
    assert_eq!(
        check_one(Some("text/json")),
        Err(MediaTypeRefusal::NotAccepted)
    );
    assert_eq!(
        check_one(Some("application/json-seq")),
        Err(MediaTypeRefusal::NotAccepted)
    );
    assert_eq!(
        check_one(Some("application json")),
        Err(MediaTypeRefusal::Malformed)
    );
    let mut two = HeaderMap::new();
    two.append("content-type", HeaderValue::from_static("application/json"));
    two.append("content-type", HeaderValue::from_static("application/json"));
    assert_eq!(
        check(&two, &accepted, true),
        Err(MediaTypeRefusal::Malformed)
    );
    // Not JSON: the charset is the body's business.
    let mut text = HeaderMap::new();
    text.insert(
        "content-type",
        HeaderValue::from_static("text/csv; charset=latin1"),
    );
    assert_eq!(check(&text, &["text/csv".to_owned()], false), Ok(()));
}

#[test]
fn templates_match_whole_segments() {
    let t = Template::parse("/v2/posts/{id}").unwrap();
    assert!(t.matches("/v2/posts/1"));
    assert!(t.matches("/v2/posts/a%20b"));
    for no in [
        "/v2/posts",
        "/v2/posts/",
        "/v2/posts/1/",
        "/v2/posts/1/x",
        "/v2/post/1",
        "v2/posts/1",
    ] {
        assert!(!t.matches(no), "{no}");
    }
    let exact = Template::parse("/v2/posts").unwrap();
    assert!(exact.is_exact() && exact.matches("/v2/posts"));
    assert!(!exact.matches("/v2/posts/") && !exact.matches("/v2"));
    let slash = Template::parse("/v2/posts/").unwrap();
    assert!(slash.matches("/v2/posts/") && !slash.matches("/v2/posts"));
    let rest = Template::parse("/files/{*path}").unwrap();
    assert!(rest.matches("/files/a") && rest.matches("/files/a/b/c"));
    assert!(!rest.matches("/files/") && !rest.matches("/files"));
    let root = Template::parse("/").unwrap();
    assert!(root.matches("/") && !root.matches("/a"));
    for (bad, reason) in [
        ("posts", "a route template starts with `/`"),
        ("/posts/{id", "a parameter is a whole segment: `{name}`"),
        ("/posts/{}", "a parameter needs a name: `{id}` or `{*rest}`"),
        (
            "/posts/{*}",
            "a parameter needs a name: `{id}` or `{*rest}`",
        ),
        ("/file.{ext}", "a parameter is a whole segment: `{name}`"),
        (
            "/files/{*path}/x",
            "a catch-all parameter `{*name}` is the last segment",
        ),
        (
            "/posts/:id",
            "parameters are written `{name}` (axum 0.8), not `:name`",
        ),
    ] {
        assert_eq!(Template::parse(bad).err(), Some(reason), "{bad}");
    }
}

fn schema() -> Value {
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

#[test]
fn build_errors() {
    let build = |rule: Rule, path: &str| {
        ValidateRequestLayer::builder()
            .route(Method::POST, path, rule)
            .build()
            .err()
    };
    assert_eq!(
        ValidateRequestLayer::builder().build().err(),
        Some(ConfigError::NoRoute)
    );
    assert_eq!(
        build(Rule::json(schema()), "posts"),
        Some(ConfigError::InvalidRoute {
            route: "posts".into(),
            reason: "a route template starts with `/`"
        })
    );
    assert_eq!(
        build(Rule::new().content_type("json"), "/posts"),
        Some(ConfigError::InvalidMediaType {
            media_type: "json".into()
        })
    );
    // Media ranges are for `Accept`; a request's `Content-Type` is one media type.
    for range in ["application/*+json", "*/*", "application/*", "*/json"] {
        assert_eq!(
            build(Rule::new().content_type(range), "/posts"),
            Some(ConfigError::InvalidMediaType {
                media_type: range.into()
            }),
            "{range}"
        );
    }
    let err = build(Rule::json(json!({"type": "objekt"})), "/posts").unwrap();
    let ConfigError::InvalidSchema { route, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(route, "POST /posts");
    assert!(reason.contains("objekt"), "{reason}");
    assert!(
        err.to_string()
            .starts_with("request validation: the schema of POST /posts is invalid: "),
        "{err}"
    );
    assert!(matches!(
        build(Rule::json(json!({"minLength": -1})), "/posts"),
        Some(ConfigError::InvalidSchema { .. })
    ));
    // No schema is fetched: a reference to another document does not compile.
    assert!(matches!(
        build(
            Rule::json(json!({"$ref": "https://example.com/post.json"})),
            "/posts"
        ),
        Some(ConfigError::InvalidSchema { .. })
    ));
    assert_eq!(
        ValidateRequestLayer::builder()
            .route(Method::POST, "/posts", Rule::json(schema()))
            .route(Method::PUT, "/posts", Rule::json(schema()))
            .route(Method::POST, "/posts", Rule::new())
            .build()
            .err(),
        Some(ConfigError::DuplicateRoute {
            method: "POST".into(),
            route: "/posts".into()
        })
    );
    assert_eq!(
        ValidateRequestLayer::builder()
            .route(Method::POST, "/posts", Rule::new())
            .max_errors(0)
            .build()
            .err(),
        Some(ConfigError::ZeroMaxErrors)
    );
}

#[test]
fn draft_2020_12_unless_the_schema_or_the_builder_says_otherwise() {
    // `prefixItems` is 2020-12; draft 7 ignores it.
    let tuple = json!({"type": "array", "prefixItems": [{"type": "integer"}]});
    let by_default = ValidateRequestLayer::builder()
        .route(Method::POST, "/t", Rule::json(tuple.clone()))
        .build()
        .unwrap();
    let rule = &by_default.config.rules[0];
    assert!(
        !rule
            .schema
            .as_ref()
            .unwrap()
            .is_valid(&super::doc::from_slice(br#"["x"]"#).unwrap())
    );
    let draft7 = ValidateRequestLayer::builder()
        .route(Method::POST, "/t", Rule::json(tuple.clone()))
        .draft(Draft::Draft7)
        .build()
        .unwrap();
    assert!(
        draft7.config.rules[0]
            .schema
            .as_ref()
            .unwrap()
            .is_valid(&super::doc::from_slice(br#"["x"]"#).unwrap())
    );
    let mut declared = tuple;
    declared["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    let declared = ValidateRequestLayer::builder()
        .route(Method::POST, "/t", Rule::json(declared))
        .build()
        .unwrap();
    assert!(
        declared.config.rules[0]
            .schema
            .as_ref()
            .unwrap()
            .is_valid(&super::doc::from_slice(br#"["x"]"#).unwrap())
    );
}

/// A body that yields its chunks one by one, without a length, and counts the polls that
/// yield. With `pending`, each frame is preceded by a `Pending` (the waker woken at once), as a
/// body still arriving from the network is.
struct Chunks {
    chunks: VecDeque<Result<Bytes, &'static str>>,
    forever: Option<Bytes>,
    trailers: Option<HeaderMap>,
    polled: Arc<AtomicUsize>,
    pending: bool,
    pended: bool,
}

impl Chunks {
    fn new(chunks: &[&'static str]) -> (Self, Arc<AtomicUsize>) {
        let polled = Arc::new(AtomicUsize::new(0));
        let body = Self {
            chunks: chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c.as_bytes())))
                .collect(),
            forever: None,
            trailers: None,
            polled: Arc::clone(&polled),
            pending: false,
            pended: false,
        };
        (body, polled)
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        if self.pending && !self.pended {
            self.pended = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pended = false;
        self.polled.fetch_add(1, Ordering::SeqCst);
        if let Some(chunk) = &self.forever {
            return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
        }
        match self.chunks.pop_front() {
            Some(chunk) => Poll::Ready(Some(chunk.map(Frame::data))),
            None => Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t)))),
        }
    }
}

/// Every frame of `body`, data and trailers.
async fn frames<B: Body<Data = Bytes> + Unpin>(mut body: B) -> Vec<Frame<Bytes>>
where
    B::Error: std::fmt::Debug,
{
    let mut all = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        all.push(frame.unwrap());
    }
    all
}

fn describe(frames: &[Frame<Bytes>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match (f.data_ref(), f.trailers_ref()) {
            (Some(data), _) => format!("data {}", String::from_utf8_lossy(data)),
            (None, Some(t)) => format!("trailers {t:?}"),
            (None, None) => "other".to_owned(),
        })
        .collect()
}

/// The layer around a service that answers with the body it received.
async fn call(layer: &ValidateRequestLayer, req: Request<Chunks>) -> (StatusCode, Value, Bytes) {
    let echo = service_fn(|req: Request<ValidatedBody<Chunks>>| async move {
        let mut body = req.into_body();
        let mut all = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                all.extend_from_slice(&data);
            }
        }
        Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from(all))))
    });
    let res = layer.layer(echo).oneshot(req).await.unwrap();
    let status = res.status();
    let problem = res
        .extensions()
        .get::<Problem>()
        .map(|p| serde_json::from_slice(&p.to_json(None)).unwrap());
    let mut body = res.into_body();
    let mut all = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.unwrap().into_data() {
            all.extend_from_slice(&data);
        }
    }
    (status, problem.unwrap_or(Value::Null), Bytes::from(all))
}

fn layer(log_only: bool) -> ValidateRequestLayer {
    ValidateRequestLayer::builder()
        .route(Method::POST, "/posts", Rule::json(schema()).body_limit(64))
        .route(Method::PUT, "/posts/{id}", Rule::json(schema()))
        .route(Method::POST, "/raw", Rule::new().body_limit(8))
        .log_only(log_only)
        .build()
        .unwrap()
}

fn post(path: &str, body: Chunks) -> Request<Chunks> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn a_body_in_pieces_reaches_the_handler_whole_and_unchanged() {
    let (body, _) = Chunks::new(&["{\"ti", "tle\": ", "\"Hello\" }"]);
    let (status, _, echoed) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, "{\"title\": \"Hello\" }");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_without_reading_past_it() {
    // 64 bytes allowed; 10-byte chunks forever: the 7th chunk passes the limit.
    let (mut body, polled) = Chunks::new(&[]);
    body.forever = Some(Bytes::from_static(b"[1,2,3,4,5"));
    let (status, problem, _) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(polled.load(Ordering::SeqCst), 7);
    assert_eq!(
        problem["detail"],
        "The request body is larger than the 64 bytes this route accepts."
    );
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_reading() {
    let (body, polled) = Chunks::new(&["{}"]);
    let mut req = post("/posts", body);
    req.headers_mut()
        .insert("content-length", HeaderValue::from_static("65"));
    let (status, _, _) = call(&layer(false), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(polled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_that_fails_while_read_is_a_400() {
    let (mut body, _) = Chunks::new(&["{\"title\""]);
    body.chunks.push_back(Err("connection reset"));
    let (status, problem, _) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["title"], "Unreadable Request Body");
    assert_eq!(problem["detail"], "The request body could not be read.");
}

#[tokio::test]
async fn other_routes_and_methods_stream_untouched() {
    for (method, path) in [
        (Method::POST, "/other"),
        (Method::GET, "/posts"),
        (Method::PUT, "/posts"),
    ] {
        let (body, polled) = Chunks::new(&["not json"]);
        let mut req = Request::new(body);
        *req.method_mut() = method.clone();
        *req.uri_mut() = path.parse().unwrap();
        let (status, _, echoed) = call(&layer(false), req).await;
        assert_eq!(
            (status, echoed.as_ref()),
            (StatusCode::OK, &b"not json"[..]),
            "{method} {path}"
        );
        // Two polls (the chunk, the end), both by the handler: the layer read nothing.
        assert_eq!(polled.load(Ordering::SeqCst), 2);
    }
}

/// A body not ready when the layer is called is read by its future, with the same verdicts
/// as a body in memory (read in `call`).
#[tokio::test]
async fn bodies_still_arriving_are_read_by_the_future() {
    let arriving = |chunks: &[&'static str]| {
        let (mut body, polled) = Chunks::new(chunks);
        body.pending = true;
        (body, polled)
    };
    let (body, polled) = arriving(&["{\"ti", "tle\": ", "\"Hello\" }"]);
    let (status, _, echoed) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, "{\"title\": \"Hello\" }");
    // Three chunks and the end, read by the layer; the handler reads the bytes it kept.
    assert_eq!(polled.load(Ordering::SeqCst), 4);

    let (body, _) = arriving(&["{\"title\": ", "1}"]);
    let (status, problem, _) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["errors"],
        json!([{"pointer": "/title", "message": "value is not of type \"string\""}])
    );

    let (mut body, polled) = arriving(&[]);
    body.forever = Some(Bytes::from_static(b"[1,2,3,4,5"));
    let (status, _, _) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(polled.load(Ordering::SeqCst), 7);

    let (mut body, _) = arriving(&["{\"title\""]);
    body.chunks.push_back(Err("connection reset"));
    let (status, problem, _) = call(&layer(false), post("/posts", body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["detail"], "The request body could not be read.");

    let (mut body, _) = arriving(&["0123456789"; 8]);
    body.chunks.push_back(Ok(Bytes::from_static(b"end")));
    let (status, _, echoed) = call(&layer(true), post("/posts", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, format!("{}end", "0123456789".repeat(8)));
}

#[tokio::test]
async fn trailers_reach_the_handler_after_the_body() {
    for pending in [false, true] {
        let (mut body, _) = Chunks::new(&["{\"title\":", " \"Hi\"}"]);
        body.pending = pending;
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", HeaderValue::from_static("abc"));
        body.trailers = Some(trailers);
        let seen = service_fn(|req: Request<ValidatedBody<Chunks>>| async move {
            let got = describe(&frames(req.into_body()).await);
            Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from(
                got.join("\n"),
            ))))
        });
        let res = layer(false)
            .layer(seen)
            .oneshot(post("/posts", body))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let got = frames(res.into_body()).await;
        assert_eq!(
            describe(&got),
            ["data data {\"title\": \"Hi\"}\n\
                 trailers {\"x-checksum\": \"abc\"}"],
            "pending: {pending}"
        );
    }
}

/// The layer's body while it is being read, were it handed on: what was read, then the rest.
#[tokio::test]
async fn a_body_being_read_is_what_was_read_then_the_rest() {
    let (mut body, _) = Chunks::new(&["ab", "cd"]);
    body.pending = true;
    let mut body = ValidatedBody::reading(body);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(body.poll_read(&mut cx, 64).is_pending());
    assert!(body.poll_read(&mut cx, 64).is_pending());
    assert_eq!(body.collected(), b"ab");
    assert_eq!(body.size_hint().lower(), 2);
    assert!(!body.is_end_stream());
    assert_eq!(describe(&frames(body).await), ["data ab", "data cd"]);
}

#[tokio::test]
async fn rules_without_a_schema_limit_but_do_not_parse() {
    let (body, _) = Chunks::new(&["not ", "json"]);
    let req = Request::post("/raw").body(body).unwrap();
    let (status, _, echoed) = call(&layer(false), req).await;
    assert_eq!(
        (status, echoed.as_ref()),
        (StatusCode::OK, &b"not json"[..])
    );
    let (body, _) = Chunks::new(&["not ", "json!"]);
    let req = Request::post("/raw").body(body).unwrap();
    assert_eq!(
        call(&layer(false), req).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn log_only_lets_everything_through_unchanged() {
    let log_only = layer(true);
    // Over the limit, read in part: the handler still gets every byte, in order.
    let (mut body, _) = Chunks::new(&["0123456789"; 8]);
    body.chunks.push_back(Ok(Bytes::from_static(b"end")));
    let (status, _, echoed) = call(&log_only, post("/posts", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, format!("{}end", "0123456789".repeat(8)));
    // Schema violations, bad JSON, a wrong media type: all through.
    for (ct, text) in [
        ("application/json", r#"{"title": 1}"#),
        ("application/json", "{"),
        ("text/plain", "hello"),
        ("application/json; charset=utf-16", "{}"),
    ] {
        let (body, _) = Chunks::new(&[text]);
        let req = Request::post("/posts")
            .header("content-type", ct)
            .body(body)
            .unwrap();
        let (status, _, echoed) = call(&log_only, req).await;
        assert_eq!(
            (status, echoed.as_ref()),
            (StatusCode::OK, text.as_bytes()),
            "{ct} {text}"
        );
    }
}

#[test]
fn violations_are_capped_and_counted() {
    let layer = ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/n",
            Rule::json(json!({"type": "array", "items": {"type": "integer"}})),
        )
        .max_errors(3)
        .build()
        .unwrap();
    let config = &layer.config;
    let body = serde_json::to_vec(&vec!["x"; 50]).unwrap();
    let Err(ValidationError::SchemaViolations {
        violations, total, ..
    }) = config.check_body_for_tests(0, &body)
    else {
        panic!("expected violations")
    };
    assert_eq!(total, 50);
    let pointers: Vec<_> = violations.iter().map(|v| v.pointer()).collect();
    assert_eq!(pointers, ["/0", "/1", "/2"]);
    assert_eq!(violations[0].message(), r#"value is not of type "integer""#);
}

/// A document of more than `MAX_VALUES_FULLY_CHECKED` values is checked up to its first
/// violation: a million wrong array items are one violation listed, not a million gathered; up
/// to the limit, all are counted.
#[test]
fn a_large_body_is_checked_up_to_its_first_violation() {
    use crate::problem::Rejection;
    let layer = ValidateRequestLayer::builder()
        .route(
            Method::POST,
            "/n",
            Rule::json(json!({"type": "array", "items": {"type": "integer"}}))
                .body_limit(4 * 1024 * 1024),
        )
        .max_errors(3)
        .build()
        .unwrap();
    let config = &layer.config;
    // The array and its items: at the limit, every violation is counted.
    let n = super::MAX_VALUES_FULLY_CHECKED - 1;
    let body = serde_json::to_vec(&vec!["x"; n]).unwrap();
    let Err(ValidationError::SchemaViolations {
        total, complete, ..
    }) = config.check_body_for_tests(0, &body)
    else {
        panic!("expected violations")
    };
    assert_eq!((total, complete), (n, true));
    // One more value: the first only.
    let body = serde_json::to_vec(&vec!["x"; n + 1]).unwrap();
    assert!(matches!(
        config.check_body_for_tests(0, &body),
        Err(ValidationError::SchemaViolations {
            total: 1,
            complete: false,
            ..
        })
    ));
    // A million of them: the first only.
    let body = serde_json::to_vec(&vec!["x"; 1_000_000]).unwrap();
    let Err(error) = config.check_body_for_tests(0, &body) else {
        panic!("expected violations")
    };
    let ValidationError::SchemaViolations {
        violations,
        total,
        complete,
    } = &error
    else {
        panic!("expected violations, got {error:?}")
    };
    assert_eq!((violations.len(), *total, *complete), (1, 1, false));
    assert_eq!(violations[0].pointer(), "/0");
    assert_eq!(violations[0].message(), r#"value is not of type "integer""#);
    let problem = error.problem();
    assert_eq!(
        problem.detail(),
        Some("The request body breaks the schema; its first violation is listed.")
    );
    // A large valid body passes.
    let body = serde_json::to_vec(&vec![7; 100_000]).unwrap();
    assert!(config.check_body_for_tests(0, &body).is_ok());
}

#[test]
fn deep_nesting_is_invalid_json_not_a_stack_overflow() {
    let layer = layer(false);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let Err(ValidationError::InvalidJson { detail }) =
        layer.config.check_body_for_tests(1, deep.as_bytes())
    else {
        panic!("expected invalid JSON")
    };
    assert_eq!(detail, "recursion limit exceeded at line 1 column 128");
}

/// The one violation of `body` under `schema`.
fn only_violation(schema: Value, body: &Value) -> Violation {
    let layer = ValidateRequestLayer::builder()
        .route(Method::POST, "/n", Rule::json(schema))
        .build()
        .unwrap();
    let body = serde_json::to_vec(body).unwrap();
    let Err(ValidationError::SchemaViolations {
        mut violations,
        total,
        ..
    }) = layer.config.check_body_for_tests(0, &body)
    else {
        panic!("expected violations")
    };
    assert_eq!(total, 1);
    violations.remove(0)
}

/// `propertyNames`: the name a client wrote (an API key pasted as a key) is not repeated in
/// the message; `jsonschema` masks the value but not the name inside its error.
#[test]
fn a_property_name_is_not_repeated_in_its_violation() {
    let v = only_violation(
        json!({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}),
        &json!({"sk_live_SECRETSECRET": 1}),
    );
    assert_eq!(v.message(), r#"a property name does not match "^[a-z]+$""#);
    assert_eq!(v.pointer(), "");
    let v = only_violation(
        json!({"type": "object", "propertyNames": {"maxLength": 3}}),
        &json!({"sk_live_SECRETSECRET": 1}),
    );
    assert!(!v.message().contains("sk_live"), "{}", v.message());
    let v = only_violation(
        json!({"type": "object", "propertyNames": false}),
        &json!({"sk_live_SECRETSECRET": 1}),
    );
    assert!(!v.message().contains("sk_live"), "{}", v.message());
}

#[test]
fn what_the_client_wrote_is_bounded_in_a_violation() {
    let closed =
        || json!({"type": "object", "properties": {"title": {}}, "additionalProperties": false});
    // A few short unexpected names: jsonschema's own message.
    let v = only_violation(closed(), &json!({"a": 1, "b": 2}));
    assert_eq!(
        v.message(),
        "Additional properties are not allowed ('a', 'b' were unexpected)"
    );
    let v = only_violation(closed(), &json!({"a": 1}));
    assert_eq!(
        v.message(),
        "Additional properties are not allowed ('a' was unexpected)"
    );
    // Thousands of long ones (a 1 MB body): five, cut, and a count.
    let long = |i: usize| format!("{i:0>200}");
    let body: serde_json::Map<String, Value> = (0..4_745).map(|i| (long(i), json!(1))).collect();
    let v = only_violation(closed(), &Value::Object(body));
    let cut = |i: usize| format!("'{}…'", &long(i)[..MAX_NAME_LEN - 1]);
    // serde_json's map is ordered by key: the first names in that order, as many as fit.
    let first: Vec<String> = (0..3).map(cut).collect();
    assert_eq!(
        v.message(),
        format!(
            "Additional properties are not allowed ({} and 4742 more were unexpected)",
            first.join(", ")
        )
    );
    assert!(v.message().chars().count() <= MAX_MESSAGE_LEN);
    assert_eq!(v.pointer(), "");
    let v = only_violation(
        json!({"unevaluatedProperties": false}),
        &json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}),
    );
    assert_eq!(
        v.message(),
        "Unevaluated properties are not allowed ('a', 'b', 'c', 'd', 'e' and 1 more were unexpected)"
    );
    // A pointer through a long name: its longest ancestor that fits.
    let name = "k".repeat(10_000);
    let v = only_violation(
        json!({"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}}}),
        &json!({"outer": {name.clone(): 7}}),
    );
    assert_eq!(v.pointer(), "/outer");
    assert_eq!(v.message(), r#"value is not of type "string""#);
    let v = only_violation(
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
        &json!({"ok": 7}),
    );
    assert_eq!(v.pointer(), "/ok", "a pointer that fits is kept");
    // A long message is cut: a `pattern` quotes the schema's pattern.
    let pattern = format!("^{}$", "a".repeat(1_000));
    let v = only_violation(json!({"type": "string", "pattern": pattern}), &json!("b"));
    assert_eq!(v.message().chars().count(), MAX_MESSAGE_LEN);
    assert!(v.message().ends_with('…'));
}
