//! The layer, its service and its response future, written by hand (see the module docs).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderName, Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::builder::ErrorHygieneBuilder;
use super::replace::{Captured, grpc_failure, grpc_trailers, replacement, strip};
use crate::body::ResponseBody;
use crate::problem::Problem;

#[derive(Debug)]
pub(super) struct Config {
    pub(super) strip: Box<[HeaderName]>,
    pub(super) log_body_limit: usize,
    pub(super) log_body_timeout: std::time::Duration,
    pub(super) catch_panics: bool,
    pub(super) keep_problems: bool,
}

/// Replaces the bodies of server errors, catches panics and strips revealing headers; see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct ErrorHygieneLayer {
    pub(super) config: Arc<Config>,
}

impl Default for ErrorHygieneLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorHygieneLayer {
    /// The defaults: `Server` and `X-Powered-By` stripped, panics caught, 4 KiB of a replaced
    /// body logged, this crate's problems kept.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                strip: Box::new([http::header::SERVER, crate::security_headers::X_POWERED_BY]),
                log_body_limit: super::DEFAULT_LOG_BODY_LIMIT,
                log_body_timeout: super::DEFAULT_LOG_BODY_TIMEOUT,
                catch_panics: true,
                keep_problems: true,
            }),
        }
    }

    /// A builder for more headers to strip and the other options.
    pub fn builder() -> ErrorHygieneBuilder {
        ErrorHygieneBuilder::default()
    }
}

impl<S> Layer<S> for ErrorHygieneLayer {
    type Service = ErrorHygiene<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorHygiene {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of an [`ErrorHygieneLayer`].
#[derive(Clone)]
pub struct ErrorHygiene<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ErrorHygiene<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for ErrorHygiene<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorHygiene")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorHygiene<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // What the replacement is rendered with, should there be one: the request is gone by then.
        let captured = Captured::of(&req);
        let config = Arc::clone(&self.config);
        let state = if config.catch_panics {
            match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
                Ok(future) => State::Calling { future },
                Err(panic) => State::Ready {
                    response: Some(panicked(&config, &captured, panic.as_ref())),
                },
            }
        } else {
            State::Calling {
                future: self.inner.call(req),
            }
        };
        ResponseFuture {
            state,
            captured,
            config,
        }
    }
}

pin_project! {
    /// The response future of [`ErrorHygiene`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        captured: Captured,
        config: Arc<Config>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        /// The inner future runs.
        Calling { #[pin] future: F },
        /// A server error's body is read for the log.
        Draining {
            #[pin]
            body: B,
            head: Option<http::response::Parts>,
            excerpt: Vec<u8>,
            // When the excerpt stops being waited for; `None` outside a tokio runtime.
            deadline: Option<Pin<Box<tokio::time::Sleep>>>,
        },
        /// The answer is known (the replacement of a panic in `call`); `None` once taken.
        Ready { response: Option<Response<Bytes>> },
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Draining { .. } => "draining",
            State::Ready { .. } => "ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

const POLLED_AFTER_COMPLETION: &str = "future polled after completion";

/// The most frames of a replaced body read in one poll before the task yields.
const FRAMES_PER_POLL: usize = 32;

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let config = &**this.config;
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let polled = if config.catch_panics {
                        catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
                    } else {
                        Ok(future.poll(cx))
                    };
                    let mut res = match polled {
                        Ok(Poll::Ready(res)) => res?,
                        Ok(Poll::Pending) => return Poll::Pending,
                        Err(panic) => {
                            let res = panicked(config, this.captured, panic.as_ref());
                            this.state.set(State::Ready { response: None });
                            return Poll::Ready(Ok(res.map(ResponseBody::full)));
                        }
                    };
                    strip(config, res.headers_mut());
                    let kept = config.keep_problems && res.extensions().get::<Problem>().is_some();
                    if !kept {
                        grpc_failure(this.captured, res.headers_mut());
                    }
                    if !res.status().is_server_error() || kept {
                        this.state.set(State::Ready { response: None });
                        // A gRPC response with a body may end with its status in trailers,
                        // after streamed messages: the trailers get the same cleaning.
                        if !kept && let Some(hook) = grpc_trailers(this.captured, res.headers()) {
                            return Poll::Ready(Ok(
                                res.map(|body| ResponseBody::with_trailer_hook(body, hook))
                            ));
                        }
                        return Poll::Ready(Ok(res.map(ResponseBody::new)));
                    }
                    let (head, body) = res.into_parts();
                    let deadline = deadline(config.log_body_timeout);
                    this.state.set(State::Draining {
                        body,
                        head: Some(head),
                        excerpt: Vec::new(),
                        deadline,
                    });
                }
                StateProj::Draining {
                    mut body,
                    head,
                    excerpt,
                    deadline,
                } => {
                    let limit = config.log_body_limit;
                    let mut complete = body.is_end_stream();
                    let mut frames = 0;
                    while !complete && excerpt.len() < limit {
                        let polled = if config.catch_panics {
                            catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_frame(cx)))
                        } else {
                            Ok(body.as_mut().poll_frame(cx))
                        };
                        match polled {
                            Ok(Poll::Pending) => {
                                // Past the deadline, the problem goes with what came.
                                let expired = deadline
                                    .as_mut()
                                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                                if !expired {
                                    return Poll::Pending;
                                }
                                break;
                            }
                            Ok(Poll::Ready(Some(Ok(frame)))) => {
                                if let Ok(mut data) = frame.into_data() {
                                    while data.has_remaining() && excerpt.len() < limit {
                                        let chunk = data.chunk();
                                        let n = chunk.len().min(limit - excerpt.len());
                                        excerpt.extend_from_slice(&chunk[..n]);
                                        data.advance(n);
                                    }
                                }
                                // A body always ready with empty frames would never return
                                // `Pending`: past a few frames in one poll, the task yields
                                // (so the timer can fire), unless the deadline has passed.
                                frames += 1;
                                if frames == FRAMES_PER_POLL {
                                    if deadline
                                        .as_mut()
                                        .is_some_and(|d| d.as_mut().poll(cx).is_ready())
                                    {
                                        break;
                                    }
                                    cx.waker().wake_by_ref();
                                    return Poll::Pending;
                                }
                            }
                            // A body that fails or panics ends the excerpt; it is never sent.
                            Ok(Poll::Ready(Some(Err(_)))) | Err(_) => break,
                            Ok(Poll::Ready(None)) => complete = true,
                        }
                    }
                    // Filled to the limit with nothing more to come: the whole body, not cut.
                    complete = complete || body.is_end_stream();
                    let head = head.take().expect(POLLED_AFTER_COMPLETION);
                    let excerpt = std::mem::take(excerpt);
                    let res = replacement(this.captured, head, &excerpt, !complete);
                    this.state.set(State::Ready { response: None });
                    let mut res = res.map(ResponseBody::full);
                    strip(config, res.headers_mut());
                    return Poll::Ready(Ok(res));
                }
                StateProj::Ready { response } => {
                    let res = response.take().expect(POLLED_AFTER_COMPLETION);
                    return Poll::Ready(Ok(res.map(ResponseBody::full)));
                }
            }
        }
    }
}

/// The `500` problem for a panic of the inner service: the message is logged, never sent.
fn panicked(config: &Config, captured: &Captured, panic: &(dyn Any + Send)) -> Response<Bytes> {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not a string)");
    super::replace::event(
        captured,
        crate::core::event::Kind::PanicCaught,
        crate::core::event::Fields {
            status: Some(500),
            error_type: Some("panic"),
            problem: Some(crate::problem::ProblemType::ServerError.slug()),
            detail: Some(message),
            ..Default::default()
        },
    );
    let mut res = super::replace::render(captured, StatusCode::INTERNAL_SERVER_ERROR);
    strip(config, res.headers_mut());
    res
}

/// The deadline of a replaced body's excerpt, on tokio's timer: `None` outside a tokio
/// runtime, or in one built without its time driver (where `tokio::time::sleep` panics; the
/// panic is caught, and the body is then waited for without a limit).
fn deadline(timeout: std::time::Duration) -> Option<Pin<Box<tokio::time::Sleep>>> {
    tokio::runtime::Handle::try_current().ok()?;
    catch_unwind(|| Box::pin(tokio::time::sleep(timeout))).ok()
}
