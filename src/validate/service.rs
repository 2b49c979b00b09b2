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
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::body::ValidatedBody;
use super::builder::ValidateRequestBuilder;
use super::media;
use super::read::Outcome;
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
    pub(crate) schema: Option<jsonschema::Validator<super::doc::Borrowed>>,
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
        // stack overflow. A key twice in an object is an error too, as in `core::json`. The
        // document borrows its strings from the body (`doc`): nothing is copied to validate it.
        let doc = super::doc::from_slice(body).map_err(|e| ValidationError::InvalidJson {
            detail: e.to_string(),
        })?;
        if schema.is_valid(&doc) {
            return Ok(());
        }
        if doc.values_up_to(super::MAX_VALUES_FULLY_CHECKED) > super::MAX_VALUES_FULLY_CHECKED {
            // `jsonschema` gathers every violation before it yields the first: for a large
            // document (an array of a million wrong items) that is a violation per value,
            // hundreds of bytes each. A large document is checked up to its first violation.
            return match schema.validate(&doc) {
                Ok(()) => Ok(()),
                Err(error) => Err(ValidationError::SchemaViolations {
                    violations: vec![Violation::of(&error)],
                    total: 1,
                    complete: false,
                }),
            };
        }
        let mut violations = Vec::new();
        let mut total = 0;
        for error in schema.iter_errors(&doc) {
            total += 1;
            if violations.len() < self.max_errors {
                violations.push(Violation::of(&error));
            }
        }
        Err(ValidationError::SchemaViolations {
            violations,
            total,
            complete: true,
        })
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
        let problem = error.problem();
        let violations = match &error {
            ValidationError::SchemaViolations { violations, .. } => format!("{violations:?}"),
            _ => String::new(),
        };
        let kind = if self.log_only {
            crate::core::event::Kind::ValidationLogged
        } else {
            crate::core::event::Kind::ValidationRefused
        };
        // In log-only mode the request goes through: no status of the layer's, no error type
        // (as a shadow rate limit's event); the problem it would have had says what failed.
        let refused = !self.log_only;
        crate::core::event::emit(
            kind,
            &crate::core::RequestHead::of(req),
            &crate::core::event::Fields {
                status: refused.then(|| problem.status().as_u16()),
                error_type: refused.then(|| error.problem_type().slug()),
                problem: Some(error.problem_type().slug()),
                rule: Some(&rule.name),
                reason: problem.detail(),
                detail: (!violations.is_empty()).then_some(violations.as_str()),
                ..Default::default()
            },
        );
        if self.log_only {
            return None;
        }
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

impl Config {
    /// The verdict on `req`, whose body was read until `outcome`: `None` to call the inner
    /// service with `req` (its body made whole, or in log-only mode what was read and the rest),
    /// or the refusal.
    fn decide<B>(
        &self,
        rule: &CompiledRule,
        req: &mut Request<ValidatedBody<B>>,
        outcome: Outcome<B::Data>,
    ) -> Option<Response<Bytes>>
    where
        B: Body,
        B::Data: Buf,
    {
        match outcome {
            Outcome::End => {
                if let Err(error) = self.check_body(rule, req.body().collected())
                    && let Some(res) = self.refuse(req, rule, error)
                {
                    return Some(res);
                }
                req.body_mut().finish();
                None
            }
            Outcome::Over(data) => {
                let error = ValidationError::TooLarge { limit: rule.limit };
                let res = self.refuse(req, rule, error);
                if res.is_none() {
                    req.body_mut().continue_with(data);
                }
                res
            }
            Outcome::Failed => {
                // Not a verdict on the request: there is no body left to pass on, so even in
                // log-only mode it is refused.
                let error = ValidationError::UnreadableBody;
                crate::core::event::emit(
                    crate::core::event::Kind::ValidationRefused,
                    &crate::core::RequestHead::of(req),
                    &crate::core::event::Fields {
                        status: Some(400),
                        error_type: Some(error.problem_type().slug()),
                        problem: Some(error.problem_type().slug()),
                        rule: Some(&rule.name),
                        ..Default::default()
                    },
                );
                Some(rejection_response(req, error))
            }
        }
    }
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
        let pass = |inner: &mut S, req: Request<B>| {
            ResponseFuture::calling(inner.call(req.map(ValidatedBody::stream)))
        };
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
        // A body already in memory (axum's `Body::from`, a buffered body) is read and decided
        // on here, and the inner service called at once: no task wakes for it, and the service
        // polled ready needs no stand-in. A spurious poll is allowed by the `Body` contract;
        // when the body is not ready, the future polls it again with its own waker.
        let mut req = req.map(ValidatedBody::reading);
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(outcome) = req.body_mut().poll_read(&mut cx, rule.limit) {
            return match config.decide(rule, &mut req, outcome) {
                None => ResponseFuture::calling(self.inner.call(req)),
                Some(res) => ResponseFuture::answered(res),
            };
        }
        // The inner service was polled ready: it moves into the future, a clone stays.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            state: State::Collecting {
                collect: Collect {
                    req: Some(req),
                    rule: index,
                    config: Arc::clone(config),
                    inner: Some(ready),
                },
            },
            _body: PhantomData,
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

/// A request whose body is being read, and what the decision needs afterwards.
struct Collect<S, B> {
    req: Option<Request<ValidatedBody<B>>>,
    rule: usize,
    config: Arc<Config>,
    /// The service that was polled ready.
    inner: Option<S>,
}

impl<S, B> Collect<S, B>
where
    S: Service<Request<ValidatedBody<B>>>,
    B: Body,
    B::Data: Buf,
{
    /// Reads the body to its end or past the limit, then decides.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<S::Future, Response<Bytes>>> {
        let rule = &self.config.rules[self.rule];
        let req = self.req.as_mut().expect(POLLED_AFTER_COMPLETION);
        let Poll::Ready(outcome) = req.body_mut().poll_read(cx, rule.limit) else {
            return Poll::Pending;
        };
        if let Some(res) = self.config.decide(rule, req, outcome) {
            return Poll::Ready(Err(res));
        }
        let req = self.req.take().expect(POLLED_AFTER_COMPLETION);
        let mut inner = self.inner.take().expect(POLLED_AFTER_COMPLETION);
        Poll::Ready(Ok(inner.call(req)))
    }
}

impl<S, B, ResBody> ResponseFuture<S, B, ResBody>
where
    S: Service<Request<ValidatedBody<B>>>,
{
    fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
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
                    Poll::Ready(Ok(future)) => State::Calling { future },
                    Poll::Ready(Err(res)) => State::Answered {
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
