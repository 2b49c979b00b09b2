#![allow(unreachable_pub)] // the toy service is defined by the macro that makes public ones

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower_layer::Layer;
use tower_service::Service;

use super::*;

/// A guard driven by the request's `x-decide` header: `pass`, `answer`, `wait-pass`,
/// `wait-twice`, `wait-answer`.
#[derive(Clone, Default)]
struct Toy {
    resumed: Arc<AtomicUsize>,
}

impl Guard for Toy {
    type State = &'static str;
    type Wait = Ready<u8>;
    type Resumed = u8;

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        req.extensions_mut().insert("decided");
        match req.headers().get("x-decide").map(HeaderValue::as_bytes) {
            Some(b"answer") => Decision::Answer(
                Response::builder()
                    .status(StatusCode::FORBIDDEN)
                    .body(Bytes::from_static(b"no"))
                    .unwrap(),
            ),
            Some(b"wait-pass") => Decision::Wait(ready(1)),
            Some(b"wait-twice") => Decision::Wait(ready(2)),
            Some(b"wait-answer") => Decision::Wait(ready(9)),
            _ => Decision::Pass("synchronous"),
        }
    }

    fn resume<B>(&self, _req: &mut Request<B>, resumed: u8) -> Decision<Self> {
        self.resumed.fetch_add(1, Ordering::SeqCst);
        match resumed {
            2 => Decision::Wait(ready(1)),
            9 => Decision::Answer(
                Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .body(Bytes::from_static(b"later"))
                    .unwrap(),
            ),
            _ => Decision::Pass("after waiting"),
        }
    }

    fn respond<B>(state: &'static str, res: &mut Response<B>) {
        res.headers_mut()
            .insert("x-state", HeaderValue::from_static(state));
    }
}

/// An inner service that refuses to be called unless this very clone was polled ready, and
/// counts its calls.
#[derive(Clone, Default)]
struct Strict {
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl<B> Service<Request<B>> for Strict {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        assert!(self.ready, "called without being polled ready");
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let decided = req
            .extensions()
            .get::<&'static str>()
            .copied()
            .unwrap_or("");
        ready(Ok(Response::new(format!("inner saw {decided}"))))
    }
}

#[derive(Clone)]
struct ToyLayer(Toy);

impl<S> Layer<S> for ToyLayer {
    type Service = Guarded<S>;
    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            guard: self.0.clone(),
        }
    }
}

guarded_service! {
    /// A toy.
    service Guarded<S> { guard: Toy }
    /// The toy's future.
    future ToyFuture;
}

async fn run(decide: &str) -> (StatusCode, Option<String>, String, usize, usize) {
    let toy = Toy::default();
    let inner = Strict::default();
    let calls = Arc::clone(&inner.calls);
    let mut svc = ToyLayer(toy.clone()).layer(inner);
    std::future::poll_fn(|cx| Service::<Request<()>>::poll_ready(&mut svc, cx))
        .await
        .unwrap();
    let req = Request::get("/")
        .header("x-decide", decide)
        .body(())
        .unwrap();
    let res = svc.call(req).await.unwrap();
    let status = res.status();
    let state = res
        .headers()
        .get("x-state")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        state,
        String::from_utf8(body.to_vec()).unwrap(),
        calls.load(Ordering::SeqCst),
        toy.resumed.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn pass_calls_inner_with_the_decided_request_and_runs_the_response_hook() {
    assert_eq!(
        run("pass").await,
        (
            StatusCode::OK,
            Some("synchronous".into()),
            "inner saw decided".into(),
            1,
            0
        )
    );
}

#[tokio::test]
async fn answer_never_calls_inner_nor_the_hook() {
    assert_eq!(
        run("answer").await,
        (StatusCode::FORBIDDEN, None, "no".into(), 0, 0)
    );
}

#[tokio::test]
async fn waiting_moves_the_ready_service_into_the_future() {
    // `Strict` panics if the clone left behind (never polled ready) were the one called.
    assert_eq!(
        run("wait-pass").await,
        (
            StatusCode::OK,
            Some("after waiting".into()),
            "inner saw decided".into(),
            1,
            1
        )
    );
}

#[tokio::test]
async fn a_resumed_decision_may_wait_again() {
    assert_eq!(
        run("wait-twice").await,
        (
            StatusCode::OK,
            Some("after waiting".into()),
            "inner saw decided".into(),
            1,
            2
        )
    );
}

#[tokio::test]
async fn a_resumed_decision_may_answer() {
    assert_eq!(
        run("wait-answer").await,
        (StatusCode::TOO_MANY_REQUESTS, None, "later".into(), 0, 1)
    );
}

fn poll_twice(decide: &'static str) {
    let mut svc = ToyLayer(Toy::default()).layer(Strict::default());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Service::<Request<()>>::poll_ready(&mut svc, &mut cx).is_ready());
    let req = Request::get("/")
        .header("x-decide", decide)
        .body(())
        .unwrap();
    let mut fut = std::pin::pin!(svc.call(req));
    assert!(fut.as_mut().poll(&mut cx).is_ready());
    let _ = fut.as_mut().poll(&mut cx);
}

#[test]
#[should_panic(expected = "future polled after completion")]
fn polling_a_passed_request_after_completion_panics() {
    poll_twice("pass");
}

#[test]
#[should_panic(expected = "future polled after completion")]
fn polling_an_answer_after_completion_panics() {
    poll_twice("answer");
}

#[test]
fn services_expose_their_inner_service() {
    let mut svc = ToyLayer(Toy::default()).layer(Strict::default());
    assert!(!svc.get_ref().ready);
    svc.get_mut().ready = true;
    assert!(svc.into_inner().ready);
}
