//! What ErrorHygieneLayer logs at ERROR: the status, method, path and a bounded excerpt of a
//! replaced body, and a panic's message. One test in its own binary, with a global subscriber:
//! tracing's per-callsite interest cache races when tests of one binary run in parallel with
//! and without a thread-local subscriber.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt, service_fn};
use tower_shield::ErrorHygieneLayer;

/// Frames of ten digits forever, counting the polls; with `fail`, an error after the first.
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

/// The log lines written so far.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

/// A handler answering `status` with an [`Endless`] body.
type EndlessService = tower::util::BoxCloneService<Request<()>, Response<Endless>, Infallible>;

fn endless(status: StatusCode, fail: bool) -> (Arc<Mutex<usize>>, EndlessService) {
    let polls = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&polls);
    let svc = service_fn(move |_: Request<()>| {
        let polls = Arc::clone(&counted);
        async move {
            let mut res = Response::new(Endless { polls, fail });
            *res.status_mut() = status;
            Ok::<_, Infallible>(res)
        }
    });
    (polls, EndlessService::new(svc))
}

#[tokio::test]
async fn the_log_has_a_bounded_excerpt_of_the_body_and_the_panic_message() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::ERROR)
        .init();

    // An endless body: 25 bytes are read (three frames), then the problem is sent.
    let layer = ErrorHygieneLayer::builder()
        .log_body_limit(25)
        .build()
        .unwrap();
    let (polls, inner) = endless(StatusCode::INTERNAL_SERVER_ERROR, false);
    let res = layer
        .layer(inner)
        .oneshot(Request::post("/orders").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains("0123"));
    assert_eq!(*polls.lock().unwrap(), 3);
    let text = logs.take();
    assert!(text.contains(" ERROR "), "{text}");
    assert!(
        text.contains("server error replaced by a generic problem"),
        "{text}"
    );
    assert!(
        text.contains(
            "http.request.method=\"POST\" url.path=\"/orders\" http.response.status_code=500"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "tower_shield.detail=\"0123456789012345678901234\" tower_shield.truncated=true"
        ),
        "{text}"
    );

    // A body that fails after one frame: what came is logged.
    let (_, inner) = endless(StatusCode::BAD_GATEWAY, true);
    let res = ErrorHygieneLayer::new()
        .layer(inner)
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let text = logs.take();
    assert!(text.contains("http.response.status_code=502"), "{text}");
    assert!(
        text.contains("tower_shield.detail=\"0123456789\" tower_shield.truncated=true"),
        "{text}"
    );

    // A panic: its message in the log, not in the body.
    let res = ErrorHygieneLayer::new()
        .layer(PanicsInCall)
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
    let text = logs.take();
    assert!(
        text.contains("the handler panicked; answered 500"),
        "{text}"
    );
    assert!(
        text.contains("error.type=\"panic\"")
            && text.contains("tower_shield.detail=\"secret from call\""),
        "{text}"
    );

    // `truncated` says whether the excerpt is the whole body: a body of exactly the limit is
    // whole; with a limit of 0, a body that has something is not.
    let failing = |body: &'static str| {
        service_fn(move |_: Request<()>| async move {
            let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            Ok::<_, Infallible>(res)
        })
    };
    for (limit, body, logged) in [
        (
            10,
            "0123456789",
            "tower_shield.detail=\"0123456789\" tower_shield.truncated=false",
        ),
        (
            0,
            "secret",
            "tower_shield.detail=\"\" tower_shield.truncated=true",
        ),
        (
            0,
            "",
            "tower_shield.detail=\"\" tower_shield.truncated=false",
        ),
    ] {
        let layer = ErrorHygieneLayer::builder()
            .log_body_limit(limit)
            .build()
            .unwrap();
        let res = layer
            .layer(failing(body))
            .oneshot(Request::get("/").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = logs.take();
        assert!(text.contains(logged), "{limit} {body:?}: {text}");
    }
}
