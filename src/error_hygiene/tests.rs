use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::problem::{PlainText, Problem, ProblemType, RendererLayer};
use crate::request_id::RequestIdLayer;

const BODY_500: &str = "{\"type\":\"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#server-error\",\
     \"title\":\"Server error\",\"status\":500,\
     \"detail\":\"The server could not handle this request. Quote the request id when reporting it.\"}";

fn failing(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("content-length", body.len())
        .header("etag", "\"abc\"")
        .header("retry-after", "30")
        .header("server", "nginx/1.2.3")
        .header("x-powered-by", "PHP/5.4")
        .header("x-debug-token", "9f8e")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn run<B>(layer: ErrorHygieneLayer, res: fn() -> Response<B>) -> (Response<()>, String)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_: Request<()>| async move { Ok::<_, Infallible>(res()) });
    let res = svc
        .oneshot(Request::get("/posts").body(()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn names(res: &Response<()>) -> Vec<&str> {
    res.headers().keys().map(|n| n.as_str()).collect()
}

#[tokio::test]
async fn a_500_body_is_replaced_and_its_non_body_headers_kept() {
    let layer = ErrorHygieneLayer::builder()
        .strip_header("X-Debug-Token")
        .build()
        .unwrap();
    let (res, body) = run(layer, || {
        failing(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERROR: relation \"users\" does not exist at /srv/app/db.rs:12",
        )
    })
    .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, BODY_500);
    assert_eq!(names(&res), ["content-type", "retry-after", "set-cookie"]);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["retry-after"], "30");
    let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let problem = res.extensions().get::<Problem>().unwrap();
    assert_eq!(problem.type_uri(), ProblemType::ServerError.type_uri());
}

#[tokio::test]
async fn another_5xx_keeps_its_status() {
    for status in [
        StatusCode::BAD_GATEWAY,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::from_u16(599).unwrap(),
    ] {
        let svc = ServiceBuilder::new()
            .layer(ErrorHygieneLayer::new())
            .service_fn(move |_: Request<()>| async move {
                Ok::<_, Infallible>(failing(status, "upstream 10.0.0.7:5432 refused"))
            });
        let res = svc
            .oneshot(Request::get("/").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], status.as_u16());
        assert_eq!(json["title"], "Server error");
        assert!(!String::from_utf8_lossy(&body).contains("10.0.0.7"));
    }
}

#[tokio::test]
async fn other_responses_keep_their_body_and_lose_the_banners() {
    for status in [
        StatusCode::OK,
        StatusCode::NOT_FOUND,
        StatusCode::UNPROCESSABLE_ENTITY,
    ] {
        let svc = ServiceBuilder::new()
            .layer(ErrorHygieneLayer::new())
            .service_fn(move |_: Request<()>| async move {
                Ok::<_, Infallible>(failing(status, "kept"))
            });
        let res = svc
            .oneshot(Request::get("/").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        assert!(res.headers().get("server").is_none());
        assert!(res.headers().get("x-powered-by").is_none());
        assert_eq!(res.headers()["x-debug-token"], "9f8e"); // not configured here
        assert_eq!(res.headers()["content-type"], "text/plain");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "kept");
    }
}

#[tokio::test]
async fn a_panic_in_the_future_is_a_500_without_its_message() {
    let svc = ServiceBuilder::new()
        .layer(ErrorHygieneLayer::new())
        .service_fn(|_: Request<()>| async {
            if true {
                panic!("secret at /srv/app/src/main.rs:7");
            }
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        });
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, BODY_500);
}

/// A service whose `call` itself panics.
#[derive(Clone)]
struct PanicsInCall;

impl tower::Service<Request<()>> for PanicsInCall {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        panic!("{}", String::from("secret from call"))
    }
}

#[tokio::test]
async fn a_panic_in_call_is_a_500_too() {
    let svc = ErrorHygieneLayer::new().layer(PanicsInCall);
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, BODY_500);
}

#[tokio::test]
#[should_panic(expected = "not caught")]
async fn panics_go_on_when_not_caught() {
    let layer = ErrorHygieneLayer::builder()
        .catch_panics(false)
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_: Request<()>| async {
        if true {
            panic!("not caught");
        }
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    }));
    let _ = svc.oneshot(Request::get("/").body(()).unwrap()).await;
}

#[tokio::test]
async fn problems_are_kept_unless_told_otherwise() {
    fn problem() -> Response<Full<Bytes>> {
        let mut res = failing(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"title\":\"Authentication Unavailable\"}",
        );
        res.extensions_mut()
            .insert(Problem::of(ProblemType::AuthUnavailable));
        res
    }
    let (res, body) = run(ErrorHygieneLayer::new(), problem).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "{\"title\":\"Authentication Unavailable\"}");
    assert!(res.headers().get("server").is_none());
    let layer = ErrorHygieneLayer::builder()
        .keep_problems(false)
        .build()
        .unwrap();
    let (res, body) = run(layer, problem).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("\"title\":\"Server error\",\"status\":503"),
        "{body}"
    );
}

#[tokio::test]
async fn the_replacement_has_the_request_id_and_the_requests_renderer() {
    let svc = ServiceBuilder::new()
        .layer(RendererLayer::new(PlainText))
        .layer(RequestIdLayer::new())
        .layer(ErrorHygieneLayer::new())
        .service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(failing(StatusCode::INTERNAL_SERVER_ERROR, "stack trace"))
        });
    let req = Request::get("/")
        .header("x-request-id", "req-42")
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["x-request-id"], "req-42");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains("req-42"), "{body}");
    assert!(!body.contains("stack trace"), "{body}");
}

/// A renderer that chooses its format by the request, as a server of gRPC and JSON does: the
/// replacement is rendered for the request's `Content-Type`, as a rejection is.
#[tokio::test]
async fn the_replacement_is_rendered_for_the_requests_content_type() {
    use crate::problem::{GrpcStatus, ProblemJson, Renderer};
    let by_content_type = |problem: &Problem, cx: &crate::core::RequestHead<'_>| {
        let grpc = cx
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
        if grpc {
            GrpcStatus.render(problem, cx)
        } else {
            ProblemJson.render(problem, cx)
        }
    };
    let svc = ServiceBuilder::new()
        .layer(RendererLayer::new(by_content_type))
        .layer(ErrorHygieneLayer::new())
        .service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(failing(StatusCode::INTERNAL_SERVER_ERROR, "stack trace"))
        });
    let grpc = Request::post("/pkg.Service/Method")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let res = svc.clone().oneshot(grpc).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/grpc");
    assert_eq!(res.headers()["grpc-status"], "13");
    let json = Request::post("/v1/items").body(()).unwrap();
    let res = svc.oneshot(json).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

/// A gRPC service's own failure (tonic's `Status::internal(msg)`: a `200`, the code and the
/// message in the headers) tells the client nothing either: the code stays, the message is the
/// generic one, the details go. A client's error (`INVALID_ARGUMENT`) is kept whole.
#[tokio::test]
async fn a_grpc_server_failure_keeps_its_code_and_loses_its_message() {
    fn grpc(code: &'static str) -> Response<Full<Bytes>> {
        Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", code)
            .header("grpc-message", "pq%3A connection to 10.0.0.7 refused")
            .header("grpc-status-details-bin", "c2VjcmV0")
            .body(Full::new(Bytes::new()))
            .unwrap()
    }
    for code in ["2", "4", "13", "14", "15"] {
        let res = match code {
            "2" => run(ErrorHygieneLayer::new(), || grpc("2")).await.0,
            "4" => run(ErrorHygieneLayer::new(), || grpc("4")).await.0,
            "13" => run(ErrorHygieneLayer::new(), || grpc("13")).await.0,
            "14" => run(ErrorHygieneLayer::new(), || grpc("14")).await.0,
            _ => run(ErrorHygieneLayer::new(), || grpc("15")).await.0,
        };
        assert_eq!(res.status(), StatusCode::OK, "{code}");
        assert_eq!(res.headers()["grpc-status"], code);
        assert_eq!(
            res.headers()["grpc-message"],
            "The server could not handle this request. Quote the request id when reporting it."
        );
        assert!(res.headers().get("grpc-status-details-bin").is_none());
    }
    let (res, _) = run(ErrorHygieneLayer::new(), || grpc("3")).await;
    assert_eq!(res.headers()["grpc-status"], "3");
    assert_eq!(
        res.headers()["grpc-message"],
        "pq%3A connection to 10.0.0.7 refused"
    );
    assert_eq!(res.headers()["grpc-status-details-bin"], "c2VjcmV0");
}

/// A gRPC stream's status in trailers, after its messages (a server-streaming call that fails
/// midway): a server failure's message and details are cleaned there too, the messages and
/// the code pass; a client's error and a success pass whole; a body that is not gRPC keeps its
/// trailers.
#[tokio::test]
async fn a_grpc_server_failure_in_trailers_loses_its_message() {
    fn streamed(content_type: &'static str, code: &'static str) -> Response<TwoFrames> {
        Response::builder()
            .header("content-type", content_type)
            .body(TwoFrames(Some(code), true))
            .unwrap()
    }
    async fn frames(res: Response<ResponseBodyOf>) -> (Vec<Bytes>, http::HeaderMap) {
        let mut body = res.into_body();
        let mut data = Vec::new();
        let mut trailers = http::HeaderMap::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap();
            match frame.into_data() {
                Ok(d) => data.push(d),
                Err(frame) => trailers = frame.into_trailers().unwrap(),
            }
        }
        (data, trailers)
    }
    type ResponseBodyOf = crate::body::ResponseBody<TwoFrames>;
    let call = |content_type: &'static str, code: &'static str| {
        ErrorHygieneLayer::new()
            .layer(service_fn(move |_: Request<()>| async move {
                Ok::<_, Infallible>(streamed(content_type, code))
            }))
            .oneshot(Request::post("/pkg.Feed/Watch").body(()).unwrap())
    };
    for code in ["2", "4", "13", "14", "15"] {
        let res = call("application/grpc", code).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (data, trailers) = frames(res).await;
        assert_eq!(data, [Bytes::from_static(b"\0\0\0\0\x02hi")], "{code}");
        assert_eq!(trailers["grpc-status"], code);
        assert_eq!(
            trailers["grpc-message"],
            "The server could not handle this request. Quote the request id when reporting it."
        );
        assert!(trailers.get("grpc-status-details-bin").is_none());
        assert_eq!(trailers["x-trailer"], "kept");
    }
    for (content_type, code) in [
        ("application/grpc+proto", "0"),
        ("application/grpc", "5"),
        ("application/json", "13"),
    ] {
        let res = call(content_type, code).await.unwrap();
        let (data, trailers) = frames(res).await;
        assert_eq!(data.len(), 1);
        assert_eq!(trailers["grpc-status"], code);
        assert_eq!(
            trailers["grpc-message"], "pq%3A connection to 10.0.0.7 refused",
            "{content_type} {code}"
        );
        assert_eq!(trailers["grpc-status-details-bin"], "c2VjcmV0");
    }
}

/// One data frame (a gRPC message), then trailers with the status `.0`.
struct TwoFrames(Option<&'static str>, bool);

impl http_body::Body for TwoFrames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if std::mem::take(&mut self.1) {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi")))));
        }
        Poll::Ready(self.0.take().map(|code| {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", code.parse().unwrap());
            trailers.insert(
                "grpc-message",
                "pq%3A connection to 10.0.0.7 refused".parse().unwrap(),
            );
            trailers.insert("grpc-status-details-bin", "c2VjcmV0".parse().unwrap());
            trailers.insert("x-trailer", "kept".parse().unwrap());
            Ok(Frame::trailers(trailers))
        }))
    }
}

/// A server error whose body sends a few bytes, then nothing more and never ends: the
/// problem goes after the timeout (one second by default) with what came, instead of never.
#[tokio::test(start_paused = true)]
async fn a_stalled_error_body_is_answered_after_the_timeout() {
    fn stalled() -> Response<Unending> {
        Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Unending {
                first: Some(Bytes::from_static(b"Traceback")),
                stall: true,
            })
            .unwrap()
    }
    for (layer, waited) in [
        (ErrorHygieneLayer::new(), std::time::Duration::from_secs(1)),
        (
            ErrorHygieneLayer::builder()
                .log_body_timeout(std::time::Duration::from_millis(50))
                .build()
                .unwrap(),
            std::time::Duration::from_millis(50),
        ),
        (
            ErrorHygieneLayer::builder()
                .log_body_timeout(std::time::Duration::ZERO)
                .build()
                .unwrap(),
            std::time::Duration::ZERO,
        ),
    ] {
        let start = tokio::time::Instant::now();
        let (res, body) = run(layer, stalled).await;
        assert_eq!(start.elapsed(), waited);
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, BODY_500);
    }
}

/// A server error whose body is always ready with empty frames, and never ends: the task
/// yields between batches of frames, and the problem goes at the deadline.
#[tokio::test]
async fn an_endless_body_of_empty_frames_is_answered_at_the_deadline() {
    fn empty() -> Response<Unending> {
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Unending {
                first: None,
                stall: false,
            })
            .unwrap()
    }
    let layer = ErrorHygieneLayer::builder()
        .log_body_timeout(std::time::Duration::from_millis(50))
        .build()
        .unwrap();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), run(layer, empty))
        .await
        .expect("answered, not spinning forever");
    assert_eq!(answered.0.status(), StatusCode::BAD_GATEWAY);
    assert!(answered.1.contains("Server error"), "{}", answered.1);
}

/// A body that never ends: `first` once, then nothing for ever (`stall`: `Pending`, and no
/// wake-up) or empty data frames, always ready.
struct Unending {
    first: Option<Bytes>,
    stall: bool,
}

impl http_body::Body for Unending {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.first.take() {
            Some(first) => Poll::Ready(Some(Ok(Frame::data(first)))),
            None if self.stall => Poll::Pending,
            None => Poll::Ready(Some(Ok(Frame::data(Bytes::new())))),
        }
    }
}

/// Frames of `chunk` forever, counting the polls; or an error after one frame.
struct Endless {
    polls: Arc<Mutex<usize>>,
    fail: bool,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let mut polls = self.polls.lock().unwrap();
        *polls += 1;
        if self.fail && *polls > 1 {
            return Poll::Ready(Some(Err(io::Error::other("connection reset"))));
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"0123456789")))))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_zero_limit_reads_nothing() {
    let polls = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&polls);
    let layer = ErrorHygieneLayer::builder()
        .log_body_limit(0)
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(move |_: Request<()>| {
        let polls = Arc::clone(&counted);
        async move {
            let mut res = Response::new(Endless { polls, fail: false });
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            Ok::<_, Infallible>(res)
        }
    }));
    let res = svc
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(*polls.lock().unwrap(), 0);
}

#[test]
fn bad_configuration_is_a_build_error() {
    let err = |b: ErrorHygieneBuilder| b.build().unwrap_err();
    assert_eq!(
        err(ErrorHygieneLayer::builder().strip_header("x bad")),
        ConfigError::InvalidHeaderName("x bad".into())
    );
    assert_eq!(
        err(ErrorHygieneLayer::builder().strip_header("Content-Type")),
        ConfigError::BodyHeader("content-type".into())
    );
    assert_eq!(
        err(ErrorHygieneLayer::builder().log_body_limit(MAX_LOG_BODY_LIMIT + 1)),
        ConfigError::LogBodyLimit {
            limit: 65_537,
            max: 65_536
        }
    );
    assert_eq!(
        err(ErrorHygieneLayer::builder().strip_header("")).to_string(),
        "error hygiene: invalid header name \"\""
    );
}

#[test]
fn debug_and_defaults() {
    let layer = ErrorHygieneLayer::builder()
        .strip_headers(["X-Debug-Token", "x-debug-token", "server"])
        .build()
        .unwrap();
    assert_eq!(
        format!("{layer:?}"),
        "ErrorHygieneLayer { config: Config { strip: [\"server\", \"x-powered-by\", \"x-debug-token\"], \
         log_body_limit: 4096, log_body_timeout: 1s, catch_panics: true, keep_problems: true } }"
    );
    assert_eq!(
        format!("{:?}", ErrorHygieneLayer::new()),
        format!("{:?}", ErrorHygieneLayer::builder().build().unwrap())
    );
}

#[tokio::test]
async fn the_digests_of_the_replaced_body_go_with_it() {
    let (res, body) = run(ErrorHygieneLayer::new(), || {
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header(
                "content-digest",
                "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
            )
            .header(
                "Repr-Digest",
                "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
            )
            .header(
                "digest",
                "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            )
            .header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from_static(b"upstream db-3 timed out")))
            .unwrap()
    })
    .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(!body.contains("db-3"));
    assert_eq!(names(&res), ["content-type", "cache-control"]);
}
