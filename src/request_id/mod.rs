//! A validated or generated id on every request, its response and its logs.
//!
//! [`RequestIdLayer`] accepts the id a client (or a proxy) sent in `X-Request-Id` only when it is
//! acceptable: 1 to 128 bytes (configurable), all from `A-Z a-z 0-9` and `-_.:+/=`
//! (configurable). Anything else — too long, empty, repeated, or with a character that could
//! break a log line or a header — is never echoed: a fresh id replaces it (or, if configured, the
//! request is rejected with a `400` problem). New ids are UUID v7 (strictly increasing in a
//! process, with a counter within a millisecond; 62 random bits from a CSPRNG) unless you plug
//! in your own [`MakeRequestId`].
//!
//! The id is then
//! - set on the request's header, so the inner service and upstream calls see the same id,
//! - put in the request's extensions as a [`RequestId`] (an axum extractor under the `axum`
//!   feature), where the crate's problem renderer picks it up,
//! - set on the response's header,
//! - recorded as the `request_id` field of a `request` [`tracing`] span (at `INFO`) around the
//!   inner service, and of the enclosing span when that span declares a `request_id` field.
//!
//! ```
//! use axum::{Extension, Router, body::Body, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_shield::{RequestId, RequestIdLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/", get(|Extension(id): Extension<RequestId>| async move { id.to_string() }))
//!     .layer(RequestIdLayer::new());
//!
//! let req = Request::get("/").header("x-request-id", "abc-123").body(Body::empty())?;
//! let kept = app.clone().oneshot(req).await?;
//! assert_eq!(kept.headers()["x-request-id"], "abc-123");
//! let req = Request::get("/").header("x-request-id", "<script>").body(Body::empty())?;
//! let replaced = app.oneshot(req).await?;
//! assert_eq!(replaced.headers()["x-request-id"].len(), 36); // a fresh UUID v7
//!
//! // At an edge that does not trust its clients, with another header name:
//! let edge = RequestIdLayer::builder()
//!     .header_name("x-correlation-id")
//!     .trust_incoming(false)
//!     .build()?;
//! # Ok(()) }
//! ```

mod builder;
mod make;

use std::fmt;
use std::sync::Arc;

use http::header::HeaderName;
use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tracing::Span;

use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::{Problem, ProblemType, Rejection, rejection_response};

pub use crate::core::{MAX_MAX_LENGTH, RequestId, RequestIdError};
pub use builder::RequestIdBuilder;
pub use make::{MakeRequestId, UuidV7};

use builder::allowed_bytes;

/// The default header: `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The symbols accepted in an incoming id by default, besides ASCII letters and digits.
pub const DEFAULT_SYMBOLS: &str = "-_.:+/=";

/// The default maximum length of an incoming id, in bytes.
pub const DEFAULT_MAX_LENGTH: usize = 128;

/// A configuration that [`RequestIdBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The header name is not a valid HTTP header name.
    #[error("invalid request id header name {0:?}")]
    InvalidHeaderName(String),
    /// The header name is one that must not be rewritten (`host`, `authorization`, ...).
    #[error("{0:?} cannot carry request ids: it has another meaning")]
    ReservedHeaderName(String),
    /// The maximum length is 0 or more than [`MAX_MAX_LENGTH`].
    #[error("request id maximum length must be 1 to {MAX_MAX_LENGTH}, not {0}")]
    InvalidMaxLength(usize),
    /// A symbol is not visible ASCII punctuation, or is one that delimits fields in headers,
    /// logs or markup (`" \ , ; < > ` '`).
    #[error("{0:?} cannot be allowed in request ids")]
    InvalidSymbol(char),
    /// [`reject_invalid`](RequestIdBuilder::reject_invalid) together with
    /// [`trust_incoming(false)`](RequestIdBuilder::trust_incoming): incoming ids are never
    /// read, so nothing would ever be rejected.
    #[error("reject_invalid needs trust_incoming: untrusted incoming ids are never read")]
    RejectWithoutTrust,
}

/// The rejection of a request whose id is not acceptable, when the layer is configured with
/// [`RequestIdBuilder::reject_invalid`]: `400 Bad Request`, problem type
/// [`invalid-request-id`](crate::problem#invalid-request-id).
#[derive(Clone, Debug)]
pub struct InvalidRequestId {
    detail: Arc<str>,
}

impl Rejection for InvalidRequestId {
    fn problem(&self) -> Problem {
        Problem::of(ProblemType::InvalidRequestId).with_detail(self.detail.to_string())
    }
}

struct Config<M> {
    header: HeaderName,
    max_length: usize,
    allowed: [bool; 256],
    trust_incoming: bool,
    reject_invalid: bool,
    span: bool,
    rejection: InvalidRequestId,
    generator: M,
}

impl<M> Config<M> {
    fn accepts(&self, value: &HeaderValue) -> bool {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= self.max_length
            && bytes.iter().all(|&b| self.allowed[usize::from(b)])
    }
}

/// Gives every request a validated or generated id; see the [module docs](self).
pub struct RequestIdLayer<M = UuidV7> {
    config: Arc<Config<M>>,
}

impl<M> Clone for RequestIdLayer<M> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

impl<M> fmt::Debug for RequestIdLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestIdLayer")
            .field("header", &self.config.header)
            .field("max_length", &self.config.max_length)
            .field("trust_incoming", &self.config.trust_incoming)
            .field("reject_invalid", &self.config.reject_invalid)
            .finish_non_exhaustive()
    }
}

impl RequestIdLayer {
    /// The default layer: `x-request-id`, incoming ids of up to 128 characters from
    /// `A-Z a-z 0-9 -_.:+/=` kept, others replaced by a new UUID v7.
    pub fn new() -> Self {
        // DEFAULT_SYMBOLS is tested to be accepted; letters and digits alone are the fallback.
        let allowed = allowed_bytes(DEFAULT_SYMBOLS)
            .or_else(|_| allowed_bytes(""))
            .unwrap_or([false; 256]);
        RequestIdBuilder::default().assemble(X_REQUEST_ID, allowed)
    }

    /// A builder to change the header, the rules for incoming ids or the generator.
    pub fn builder() -> RequestIdBuilder {
        RequestIdBuilder::default()
    }
}

impl Default for RequestIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, M> Layer<S> for RequestIdLayer<M> {
    type Service = SetRequestId<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId {
            inner,
            guard: self.clone(),
        }
    }
}

guarded_service! {
    /// The service of a [`RequestIdLayer`]: sets the request's id (the value is a
    /// [`RequestId`]).
    service SetRequestId<S, M: MakeRequestId> { guard: RequestIdLayer<M> }
    /// The response future of [`SetRequestId`].
    future ResponseFuture;
}

impl<M: MakeRequestId> Guard for RequestIdLayer<M> {
    /// The header and the id to echo on the response, and the span the inner service runs in.
    type State = (HeaderName, HeaderValue, Span);
    const ADDS_HEADERS: bool = true;
    type Wait = std::future::Pending<()>;
    type Resumed = ();

    /// Takes, checks or makes the id; rejects an unacceptable one in reject mode.
    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        let config = &*self.config;
        // The common case, one acceptable incoming id, only reads the map: an `entry` would
        // first make room for an insert, growing a full map for nothing.
        let kept = {
            let mut values = req.headers().get_all(&config.header).iter();
            match (values.next(), values.next()) {
                (Some(value), None) if config.trust_incoming && config.accepts(value) => {
                    Some(value.clone())
                }
                // None, or unacceptable (several, untrusted, malformed): a new one below.
                _ => None,
            }
        };
        let (id, invalid) = match kept {
            // Kept as it is: the request header already holds it.
            Some(value) => (RequestId(value), false),
            None => {
                let present = req.headers().contains_key(&config.header);
                let id = config.generator.make_request_id();
                // Replaces every value the client sent: removed first, so that a request at
                // `HeaderMap`'s size limit (where `try_insert` cannot make room) never passes
                // an unacceptable value on to the inner service. Removing frees the slot the
                // new id takes; were the insert still refused, the request goes on without
                // the header (no panic), and the id still goes to the extensions and the
                // response.
                if present {
                    req.headers_mut().remove(&config.header);
                }
                let _ = req.headers_mut().try_insert(&config.header, id.0.clone());
                (id, present && config.trust_incoming)
            }
        };
        let value = id.0.clone();
        if invalid {
            // The rejected value is never logged: it may be crafted to forge log lines.
            tracing::debug!(request_id = %id, "replaced an unacceptable incoming request id");
        }
        // Spans exist only once a subscriber does (global or scoped): without one, even a
        // disabled span has a cost where `tracing`'s `log` feature is on, as axum turns it on.
        let span = if tracing::dispatcher::has_been_set() {
            // An enclosing span that declares `request_id` (tower-http's TraceLayer with
            // `request_id = tracing::field::Empty`, say) gets it too.
            Span::current().record("request_id", id.as_str());
            if config.span {
                tracing::info_span!("request", request_id = %id)
            } else {
                Span::none()
            }
        } else {
            Span::none()
        };
        req.extensions_mut().insert(id);

        if invalid && config.reject_invalid {
            let mut res = {
                let _entered = span.enter();
                rejection_response(req, config.rejection.clone())
            };
            // The answer carries the id too.
            let _ = res.headers_mut().try_insert(config.header.clone(), value);
            return Decision::Answer(res);
        }
        Decision::Pass((config.header.clone(), value, span))
    }

    fn resume<B>(&self, req: &mut Request<B>, (): ()) -> Decision<Self> {
        self.decide(req)
    }

    fn respond<B>((name, value, _span): Self::State, res: &mut Response<B>) {
        let _ = res.headers_mut().try_insert(name, value);
    }

    fn enter((_, _, span): &Self::State) -> Option<tracing::span::Entered<'_>> {
        (!span.is_none()).then(|| span.enter())
    }
}

#[cfg(test)]
mod tests;
