//! The layer, its service and its response future: the rule of the request's route, the
//! `Content-Type` and length checked on the head, the body read up to the limit, parsed and
//! validated, then handed on whole.
//!
//! Written by hand, not on the crate's guard skeleton: a guard decides on a request generic in
//! its body (`Guard::decide<B>(&mut Request<B>)`), so it cannot read the body nor put it back,
//! and its `Wait` future cannot own a body of a type it does not know. This service reads the
//! body as an `http_body::Body` and gives the inner service a [`ValidatedBody`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::body::ValidatedBody;
use super::builder::ValidateRequestBuilder;
use super::media;
use super::rejection::{ValidationError, Violation};
use super::route::Routes;
use crate::body::ResponseBody;
use crate::problem::{Rejection, rejection_response};

/// A route's rule, compiled.
pub(crate) struct CompiledRule {
    /// `POST /v2/posts`, for logs.
    pub(crate) name: Box<str>,
    /// Accepted media types, lowercase; empty: no `Content-Type` required.
    pub(crate) accepted: Arc<[String]>,
    pub(crate) limit: u64,
    pub(crate) schema: Option<jsonschema::Validator>,
}

impl fmt::Debug for CompiledRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("route", &self.name)
            .field("accepted", &self.accepted)
            .field("limit", &self.limit)
            .field("schema", &self.schema.is_some())
            .finish()
    }
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) routes: Routes,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) max_errors: usize,
    pub(crate) log_only: bool,
}

impl Config {
    /// The rule of `req`'s route and method, if any.
    fn find<B>(&self, req: &Request<B>) -> Option<usize> {
        #[cfg(feature = "axum")]
        if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>()
            && let Some(rule) = self.routes.by_template(req.method(), matched.as_str())
        {
            return Some(rule);
        }
        self.routes.by_path(req.method(), req.uri().path())
    }

    /// The verdict on a body read whole.
    fn check_body(&self, rule: &CompiledRule, body: &[u8]) -> Result<(), ValidationError> {
        let Some(schema) = &rule.schema else {
            return Ok(());
        };
        // serde_json stops at 128 levels of nesting: a deeply nested body is an error, not a
        // stack overflow.
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ValidationError::InvalidJson {
                detail: e.to_string(),
            })?;
        if schema.is_valid(&value) {
            return Ok(());
        }
        let mut violations = Vec::new();
        let mut total = 0;
        for error in schema.iter_errors(&value) {
            total += 1;
            if violations.len() < self.max_errors {
                violations.push(Violation::new(
                    error.instance_path().as_str().to_owned(),
                    error.masked().to_string(),
                ));
            }
        }
        Err(ValidationError::SchemaViolations { violations, total })
    }

    #[cfg(test)]
    pub(crate) fn check_body_for_tests(
        &self,
        rule: usize,
        body: &[u8],
    ) -> Result<(), ValidationError> {
        self.check_body(&self.rules[rule], body)
    }

    /// The refusal of `req` for `error`, or `None` in log-only mode (logged: let it through).
    fn refuse<B>(
        &self,
        req: &Request<B>,
        rule: &CompiledRule,
        error: ValidationError,
    ) -> Option<Response<Bytes>> {
        if self.log_only {
            let problem = error.problem();
            tracing::warn!(
                target: "tower_shield::validate",
                route = %rule.name,
                status = problem.status().as_u16(),
                problem = error.problem_type().slug(),
                detail = problem.detail().unwrap_or_default(),
                violations = ?match &error {
                    ValidationError::SchemaViolations { violations, .. } => violations.as_slice(),
                    _ => &[],
                },
                "request would have been refused (log-only)"
            );
            return None;
        }
        tracing::info!(
            target: "tower_shield::validate",
            route = %rule.name,
            problem = error.problem_type().slug(),
            "request refused"
        );
        Some(rejection_response(req, error))
    }
}

/// Validates requests per route and method; see the [module docs](super).
#[derive(Clone)]
pub struct ValidateRequestLayer {
    pub(crate) config: Arc<Config>,
}

impl ValidateRequestLayer {
    /// A builder: routes with their [`Rule`](super::Rule)s, limits, log-only mode.
    pub fn builder() -> ValidateRequestBuilder {
        ValidateRequestBuilder::default()
    }
}

impl fmt::Debug for ValidateRequestLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateRequestLayer")
            .field("rules", &self.config.rules)
            .field("max_errors", &self.config.max_errors)
            .field("log_only", &self.config.log_only)
            .finish()
    }
}

impl<S> Layer<S> for ValidateRequestLayer {
    type Service = ValidateRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateRequest {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`ValidateRequestLayer`]: the inner service receives a
/// `Request<`[`ValidatedBody<B>`]`>`.
#[derive(Clone)]
pub struct ValidateRequest<S> {
    inner: S,
    layer: ValidateRequestLayer,
}

impl<S> ValidateRequest<S> {
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

impl<S: fmt::Debug> fmt::Debug for ValidateRequest<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateRequest")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

impl<S, B, ResBody> Service<Request<B>> for ValidateRequest<S>
where
    S: Service<Request<ValidatedBody<B>>, Response = Response<ResBody>> + Clone,
    B: Body,
    B::Data: Buf,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, ResBody>;

    /// Forwards to the inner service: the decisions are made in `call`.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let config = &self.layer.config;
        let pass = |inner: &mut S, req: Request<B>| ResponseFuture::calling(inner, req);
        let Some(index) = config.find(&req) else {
            return pass(&mut self.inner, req);
        };
        let rule = &config.rules[index];
        if !rule.accepted.is_empty()
            && let Err(refusal) = media::check(req.headers(), &rule.accepted, rule.schema.is_some())
        {
            let error = ValidationError::UnsupportedMediaType {
                refusal,
                accepted: Arc::clone(&rule.accepted),
                method: req.method().clone(),
            };
            return match config.refuse(&req, rule, error) {
                Some(res) => ResponseFuture::answered(res),
                None => pass(&mut self.inner, req),
            };
        }
        // A declared length over the limit is refused before a byte of the body is read.
        let declared = content_length(req.headers()).unwrap_or(0);
        if declared > rule.limit || req.body().size_hint().lower() > rule.limit {
            let error = ValidationError::TooLarge { limit: rule.limit };
            return match config.refuse(&req, rule, error) {
                Some(res) => ResponseFuture::answered(res),
                None => pass(&mut self.inner, req),
            };
        }
        // The inner service was polled ready: it moves into the future, a clone stays.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = req.into_parts();
        ResponseFuture {
            state: State::Collecting {
                collect: Collect {
                    body: Some(Box::pin(body)),
                    parts: Some(parts),
                    collected: Collected::Empty,
                    trailers: None,
                    rule: index,
                    config: Arc::clone(config),
                    inner: Some(ready),
                },
            },
            _body: PhantomData,
        }
    }
}

/// The bytes read so far: the first chunk kept as it came (no copy: a body in one piece is
/// never copied), more gathered into a buffer that grows with what arrives (never reserved
/// ahead from `Content-Length`, which a client that stalls would make the server hold).
#[derive(Debug, Default)]
enum Collected {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(b) => b.len(),
            Self::Many(b) => b.len(),
        }
    }

    fn push(&mut self, mut data: impl Buf) {
        match self {
            Self::Empty => *self = Self::One(data.copy_to_bytes(data.remaining())),
            Self::One(first) => {
                let mut buf = BytesMut::with_capacity(first.len() + data.remaining());
                buf.put(std::mem::take(first));
                buf.put(data);
                *self = Self::Many(buf);
            }
            Self::Many(buf) => buf.put(data),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(b) => b,
            Self::Many(b) => b.freeze(),
        }
    }
}

const POLLED_AFTER_COMPLETION: &str = "future polled after completion";

pin_project! {
    /// The response future of [`ValidateRequest`].
    pub struct ResponseFuture<S, B, ResBody>
    where
        S: Service<Request<ValidatedBody<B>>>,
    {
        #[pin]
        state: State<S, B>,
        _body: PhantomData<fn() -> ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<ValidatedBody<B>>>,
    {
        Collecting { collect: Collect<S, B> },
        Calling { #[pin] future: S::Future },
        Answered { response: Option<Box<Response<Bytes>>> },
        Done,
    }
}

/// A request whose body is being read: what the decision needs afterwards.
struct Collect<S, B> {
    /// Boxed so that, in log-only mode, a body over the limit can be handed on as it is.
    body: Option<Pin<Box<B>>>,
    parts: Option<Parts>,
    collected: Collected,
    trailers: Option<HeaderMap>,
    rule: usize,
    config: Arc<Config>,
    /// The service that was polled ready.
    inner: Option<S>,
}

/// What reading the body came to.
enum Read<F> {
    Call(F),
    Answer(Response<Bytes>),
}

impl<S, B> Collect<S, B>
where
    S: Service<Request<ValidatedBody<B>>>,
    B: Body,
    B::Data: Buf,
{
    fn head(&mut self) -> Request<()> {
        Request::from_parts(self.parts.take().expect(POLLED_AFTER_COMPLETION), ())
    }

    fn call(&mut self, head: Request<()>, body: ValidatedBody<B>) -> Read<S::Future> {
        let (parts, ()) = head.into_parts();
        let mut inner = self.inner.take().expect(POLLED_AFTER_COMPLETION);
        Read::Call(inner.call(Request::from_parts(parts, body)))
    }

    /// Reads the body to its end or past the limit, then decides.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read<S::Future>> {
        let config = Arc::clone(&self.config);
        let rule = &config.rules[self.rule];
        loop {
            let body = self.body.as_mut().expect(POLLED_AFTER_COMPLETION);
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                None => {
                    let data = std::mem::take(&mut self.collected).into_bytes();
                    let verdict = config.check_body(rule, &data);
                    let head = self.head();
                    if let Err(error) = verdict
                        && let Some(res) = config.refuse(&head, rule, error)
                    {
                        return Poll::Ready(Read::Answer(res));
                    }
                    let body = ValidatedBody::buffered(data, self.trailers.take());
                    return Poll::Ready(self.call(head, body));
                }
                Some(Err(_)) => {
                    // Not a verdict on the request: there is no body left to pass on.
                    tracing::info!(
                        target: "tower_shield::validate",
                        route = %rule.name,
                        "request body unreadable"
                    );
                    let head = self.head();
                    let res = rejection_response(&head, ValidationError::UnreadableBody);
                    return Poll::Ready(Read::Answer(res));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let len =
                            (self.collected.len() as u64).saturating_add(data.remaining() as u64);
                        if len <= rule.limit {
                            self.collected.push(data);
                            continue;
                        }
                        let head = self.head();
                        let error = ValidationError::TooLarge { limit: rule.limit };
                        if let Some(res) = config.refuse(&head, rule, error) {
                            return Poll::Ready(Read::Answer(res));
                        }
                        // Log-only: what was read, then the rest of the stream.
                        self.collected.push(data);
                        let read = std::mem::take(&mut self.collected).into_bytes();
                        let rest = self.body.take().expect(POLLED_AFTER_COMPLETION);
                        return Poll::Ready(self.call(head, ValidatedBody::partial(read, rest)));
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers.get_or_insert_with(HeaderMap::new).extend(t);
                        }
                    }
                },
            }
        }
    }
}

impl<S, B, ResBody> ResponseFuture<S, B, ResBody>
where
    S: Service<Request<ValidatedBody<B>>>,
{
    fn calling(inner: &mut S, req: Request<B>) -> Self {
        Self {
            state: State::Calling {
                future: inner.call(req.map(ValidatedBody::stream)),
            },
            _body: PhantomData,
        }
    }

    fn answered(res: Response<Bytes>) -> Self {
        Self {
            state: State::Answered {
                response: Some(Box::new(res)),
            },
            _body: PhantomData,
        }
    }
}

impl<S, B, ResBody> fmt::Debug for ResponseFuture<S, B, ResBody>
where
    S: Service<Request<ValidatedBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Collecting { .. } => "collecting",
            State::Calling { .. } => "calling",
            State::Answered { .. } => "answered",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B, ResBody>
where
    S: Service<Request<ValidatedBody<B>>, Response = Response<ResBody>>,
    B: Body,
    B::Data: Buf,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Collecting { collect } => match collect.poll_read(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Read::Call(future)) => State::Calling { future },
                    Poll::Ready(Read::Answer(res)) => State::Answered {
                        response: Some(Box::new(res)),
                    },
                },
                StateProj::Calling { future } => {
                    let res = match future.poll(cx) {
                        Poll::Ready(res) => res,
                        Poll::Pending => return Poll::Pending,
                    };
                    this.state.set(State::Done);
                    return Poll::Ready(res.map(|res| res.map(ResponseBody::new)));
                }
                StateProj::Answered { response } => {
                    let res = response.take().expect(POLLED_AFTER_COMPLETION);
                    return Poll::Ready(Ok(res.map(ResponseBody::full)));
                }
                StateProj::Done => panic!("{POLLED_AFTER_COMPLETION}"),
            };
            this.state.set(next);
        }
    }
}
