//! A validated or generated id on every request, its response and its logs.
//!
//! [`RequestIdLayer`] accepts the id a client (or a proxy) sent in `X-Request-Id` only when it is
//! acceptable: 1 to 128 bytes (configurable), all from `A-Z a-z 0-9` and `-_.:+/=`
//! (configurable). Anything else — too long, empty, repeated, or with a character that could
//! break a log line or a header — is never echoed: a fresh id replaces it (or, if configured, the
//! request is rejected with a `400` problem). New ids are UUID v7 (time-ordered, 74 random bits
//! from a CSPRNG) unless you plug in your own [`MakeRequestId`].
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

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{Entry, HeaderName};
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use rand::RngCore;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::body::ResponseBody;
pub use crate::core::{MAX_MAX_LENGTH, RequestId, RequestIdError};
use crate::core::FORBIDDEN_SYMBOLS;
use crate::problem::{self, Problem, Rejection};

/// The default header: `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The symbols accepted in an incoming id by default, besides ASCII letters and digits.
pub const DEFAULT_SYMBOLS: &str = "-_.:+/=";

/// The default maximum length of an incoming id, in bytes.
pub const DEFAULT_MAX_LENGTH: usize = 128;

/// Makes the ids of requests that do not bring an acceptable one.
///
/// Implemented by [`UuidV7`] (the default) and by every `Fn() -> RequestId`:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tower_shield::request_id::{MakeRequestId, UuidV7};
/// use tower_shield::{RequestId, RequestIdLayer};
///
/// # fn main() -> Result<(), tower_shield::request_id::ConfigError> {
/// let next = AtomicU64::new(1);
/// let layer = RequestIdLayer::builder()
///     .generator(move || {
///         let n = next.fetch_add(1, Ordering::Relaxed);
///         // Never panic here: this runs for every request.
///         RequestId::new(&format!("req-{n}")).unwrap_or_else(|_| UuidV7.make_request_id())
///     })
///     .build()?;
/// # Ok(()) }
/// ```
pub trait MakeRequestId: Send + Sync + 'static {
    /// A new id.
    fn make_request_id(&self) -> RequestId;
}

impl<F> MakeRequestId for F
where
    F: Fn() -> RequestId + Send + Sync + 'static,
{
    fn make_request_id(&self) -> RequestId {
        self()
    }
}

/// Makes UUID v7 ids (RFC 9562): 48 bits of Unix milliseconds, then 74 bits from the
/// thread-local CSPRNG, written lowercase with hyphens (36 characters).
///
/// Ids sort by the millisecond they were made in (not within one millisecond: there is no
/// counter), which keeps logs and database indexes in rough arrival order; the random part
/// makes a collision as unlikely as for UUID v4.
///
/// # Panics
///
/// Only if the operating system's random source fails when a thread first seeds its CSPRNG
/// (`rand::rng()`), which Linux, macOS and Windows do not do once booted.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl MakeRequestId for UuidV7 {
    fn make_request_id(&self) -> RequestId {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // RFC 9562 section 5.7: 48-bit big-endian Unix milliseconds, version 7, 12 random bits,
        // variant 0b10, 62 random bits.
        let mut uuid = [0u8; 16];
        rand::rng().fill_bytes(&mut uuid[6..]);
        uuid[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        uuid[6] = (uuid[6] & 0x0f) | 0x70;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut at = 0;
        for (i, byte) in uuid.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 0x0f)];
            at += 2;
        }
        // One allocation shared by the request header, the extension and the response header
        // (a `Bytes` made from a `Vec` would allocate again on its first clone). Hex digits and
        // hyphens are always a valid header value.
        RequestId(
            HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text)).unwrap_or(
                HeaderValue::from_static("00000000-0000-7000-8000-000000000000"),
            ),
        )
    }
}

/// A configuration that [`RequestIdBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The header name is not a valid HTTP header name.
    InvalidHeaderName(String),
    /// The header name is one that must not be rewritten (`host`, `authorization`, ...).
    ReservedHeaderName(String),
    /// The maximum length is 0 or more than [`MAX_MAX_LENGTH`].
    InvalidMaxLength(usize),
    /// A symbol is not visible ASCII punctuation, or is one that delimits fields in headers,
    /// logs or markup (`" \ , ; < > ` '`).
    InvalidSymbol(char),
    /// [`reject_invalid`](RequestIdBuilder::reject_invalid) together with
    /// [`trust_incoming(false)`](RequestIdBuilder::trust_incoming): incoming ids are never
    /// read, so nothing would ever be rejected.
    RejectWithoutTrust,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHeaderName(name) => write!(f, "invalid request id header name {name:?}"),
            Self::ReservedHeaderName(name) => {
                write!(
                    f,
                    "{name:?} cannot carry request ids: it has another meaning"
                )
            }
            Self::InvalidMaxLength(n) => write!(
                f,
                "request id maximum length must be 1 to {MAX_MAX_LENGTH}, not {n}"
            ),
            Self::InvalidSymbol(c) => write!(f, "{c:?} cannot be allowed in request ids"),
            Self::RejectWithoutTrust => f.write_str(
                "reject_invalid needs trust_incoming: untrusted incoming ids are never read",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The rejection of a request whose id is not acceptable, when the layer is configured with
/// [`RequestIdBuilder::reject_invalid`]: `400 Bad Request`, problem type
/// [`invalid-request-id`](crate::problem#invalid-request-id).
#[derive(Clone, Debug)]
pub struct InvalidRequestId {
    detail: Arc<str>,
}

impl Rejection for InvalidRequestId {
    fn problem(&self) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST)
            .with_type(problem::problem_type("invalid-request-id"))
            .with_title("Invalid request id")
            .with_detail(self.detail.to_string())
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

/// Builds a [`RequestIdLayer`] that differs from [`RequestIdLayer::new`].
#[must_use]
pub struct RequestIdBuilder<M = UuidV7> {
    header: String,
    max_length: usize,
    symbols: String,
    trust_incoming: bool,
    reject_invalid: bool,
    span: bool,
    generator: M,
}

impl<M: fmt::Debug> fmt::Debug for RequestIdBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestIdBuilder")
            .field("header", &self.header)
            .field("max_length", &self.max_length)
            .field("symbols", &self.symbols)
            .field("trust_incoming", &self.trust_incoming)
            .field("reject_invalid", &self.reject_invalid)
            .field("span", &self.span)
            .field("generator", &self.generator)
            .finish()
    }
}

impl Default for RequestIdBuilder {
    fn default() -> Self {
        Self {
            header: X_REQUEST_ID.as_str().to_owned(),
            max_length: DEFAULT_MAX_LENGTH,
            symbols: DEFAULT_SYMBOLS.to_owned(),
            trust_incoming: true,
            reject_invalid: false,
            span: true,
            generator: UuidV7,
        }
    }
}

const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "api-version",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-security-policy",
    "content-type",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "location",
    "origin",
    "proxy-authorization",
    "referer",
    "set-cookie",
    "strict-transport-security",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
    "www-authenticate",
    "x-api-key",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Whether `name` already has a meaning that rewriting it would break.
fn is_reserved(name: &str) -> bool {
    RESERVED_HEADERS.contains(&name)
        || name.starts_with("sec-")
        || name.starts_with("access-control-")
        || name.starts_with("proxy-")
        || name.starts_with("x-ratelimit-")
}

impl<M: MakeRequestId> RequestIdBuilder<M> {
    /// The header that carries the id on requests and responses (default `x-request-id`).
    pub fn header_name(mut self, name: impl Into<String>) -> Self {
        self.header = name.into();
        self
    }

    /// The longest incoming id accepted, in bytes (default 128, at most 1024).
    pub fn max_length(mut self, max: usize) -> Self {
        self.max_length = max;
        self
    }

    /// The symbols accepted in incoming ids besides ASCII letters and digits (default
    /// [`DEFAULT_SYMBOLS`]). An empty string accepts letters and digits only.
    pub fn allowed_symbols(mut self, symbols: impl Into<String>) -> Self {
        self.symbols = symbols.into();
        self
    }

    /// Whether acceptable incoming ids are kept (default `true`). With `false` every request
    /// gets a new id, whatever it brought: for edges that do not trust their clients.
    pub fn trust_incoming(mut self, trust: bool) -> Self {
        self.trust_incoming = trust;
        self
    }

    /// Whether a request with an unacceptable id is rejected with a `400` problem instead of
    /// given a new id (default `false`): for internal services where a malformed id is a
    /// caller's bug worth surfacing. A request without the header always gets a new id.
    pub fn reject_invalid(mut self, reject: bool) -> Self {
        self.reject_invalid = reject;
        self
    }

    /// Whether the inner service runs inside a `request` span with a `request_id` field
    /// (default `true`, at `INFO` level).
    pub fn span(mut self, span: bool) -> Self {
        self.span = span;
        self
    }

    /// The generator of new ids (default [`UuidV7`]).
    pub fn generator<G: MakeRequestId>(self, generator: G) -> RequestIdBuilder<G> {
        RequestIdBuilder {
            header: self.header,
            max_length: self.max_length,
            symbols: self.symbols,
            trust_incoming: self.trust_incoming,
            reject_invalid: self.reject_invalid,
            span: self.span,
            generator,
        }
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an invalid or reserved header name, a maximum length of 0 or over
    /// [`MAX_MAX_LENGTH`], or a symbol that is not safe in an id.
    pub fn build(self) -> Result<RequestIdLayer<M>, ConfigError> {
        let header = HeaderName::try_from(self.header.as_str())
            .map_err(|_| ConfigError::InvalidHeaderName(self.header.clone()))?;
        if is_reserved(header.as_str()) {
            return Err(ConfigError::ReservedHeaderName(self.header));
        }
        if self.reject_invalid && !self.trust_incoming {
            return Err(ConfigError::RejectWithoutTrust);
        }
        if self.max_length == 0 || self.max_length > MAX_MAX_LENGTH {
            return Err(ConfigError::InvalidMaxLength(self.max_length));
        }
        let allowed = allowed_bytes(&self.symbols)?;
        Ok(RequestIdLayer::assemble(header, allowed, self))
    }
}

/// The bytes accepted in an incoming id: ASCII letters, digits and `symbols`.
fn allowed_bytes(symbols: &str) -> Result<[bool; 256], ConfigError> {
    let mut allowed = [false; 256];
    for b in (b'0'..=b'9').chain(b'a'..=b'z').chain(b'A'..=b'Z') {
        allowed[usize::from(b)] = true;
    }
    for c in symbols.chars() {
        if !c.is_ascii_punctuation() || FORBIDDEN_SYMBOLS.contains(&(c as u8)) {
            return Err(ConfigError::InvalidSymbol(c));
        }
        allowed[c as usize] = true;
    }
    Ok(allowed)
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

impl<M> RequestIdLayer<M> {
    fn assemble(header: HeaderName, allowed: [bool; 256], b: RequestIdBuilder<M>) -> Self {
        let detail = format!(
            "The {} header must be 1 to {} characters from A-Z a-z 0-9{}{}.",
            header,
            b.max_length,
            if b.symbols.is_empty() { "" } else { " and " },
            b.symbols
        );
        RequestIdLayer {
            config: Arc::new(Config {
                header,
                max_length: b.max_length,
                allowed,
                trust_incoming: b.trust_incoming,
                reject_invalid: b.reject_invalid,
                span: b.span,
                rejection: InvalidRequestId {
                    detail: detail.into(),
                },
                generator: b.generator,
            }),
        }
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
        Self::assemble(X_REQUEST_ID, allowed, RequestIdBuilder::default())
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
    type Service = RequestIdService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of a [`RequestIdLayer`].
pub struct RequestIdService<S, M = UuidV7> {
    inner: S,
    config: Arc<Config<M>>,
}

impl<S: Clone, M> Clone for RequestIdService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for RequestIdService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestIdService")
            .field("inner", &self.inner)
            .field("header", &self.config.header)
            .finish_non_exhaustive()
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for RequestIdService<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: MakeRequestId,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        // One hash lookup finds the incoming id and, when a new one is needed, the slot for it.
        let (id, invalid) = match req.headers_mut().try_entry(&config.header) {
            Ok(Entry::Occupied(mut entry)) => {
                let mut values = entry.iter();
                let acceptable = match (values.next(), values.next()) {
                    (Some(value), None) if config.trust_incoming && config.accepts(value) => {
                        Some(value.clone())
                    }
                    _ => None,
                };
                match acceptable {
                    // Kept as it is: the request header already holds it.
                    Some(value) => (RequestId(value), false),
                    None => {
                        let id = config.generator.make_request_id();
                        // Replaces every value the client sent.
                        entry.insert(id.0.clone());
                        (id, config.trust_incoming)
                    }
                }
            }
            Ok(Entry::Vacant(entry)) => {
                let id = config.generator.make_request_id();
                let _ = entry.try_insert(id.0.clone());
                (id, false)
            }
            // A request already at `HeaderMap`'s size limit keeps its headers as they are (no
            // panic); the id still goes to the extensions and the response.
            Err(_) => (config.generator.make_request_id(), false),
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
                problem::reject(&req, config.rejection.clone())
            };
            let _ = res.headers_mut().try_insert(config.header.clone(), value);
            return ResponseFuture {
                kind: Kind::Rejected {
                    res: Some(Box::new(res)),
                },
                span,
            };
        }

        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            kind: Kind::Inner {
                future,
                header: Some((config.header.clone(), value)),
            },
            span,
        }
    }
}

pin_project! {
    /// The response future of [`RequestIdService`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
        span: Span,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F, header: Option<(HeaderName, HeaderValue)> },
        // Boxed: rejections are rare, and an inline response would make every future bigger.
        Rejected { res: Option<Box<Response<ResponseBody<B>>>> },
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match this.kind.project() {
            KindProj::Inner { future, header } => {
                let res = match future.poll(cx) {
                    Poll::Ready(res) => res?,
                    Poll::Pending => return Poll::Pending,
                };
                let (mut parts, body) = res.into_parts();
                if let Some((name, value)) = header.take() {
                    let _ = parts.headers.try_insert(name, value);
                }
                Poll::Ready(Ok(Response::from_parts(parts, ResponseBody::new(body))))
            }
            KindProj::Rejected { res } => match res.take() {
                Some(res) => Poll::Ready(Ok(*res)),
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis_now() -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        u64::try_from(now.as_millis()).unwrap()
    }

    #[test]
    fn uuid_v7_ids_carry_the_current_millisecond_version_and_variant() {
        let before = millis_now();
        let id = UuidV7.make_request_id();
        let after = millis_now();
        let s = id.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "7", "version nibble of {s}");
        assert!(
            matches!(&s[19..20], "8" | "9" | "a" | "b"),
            "variant of {s}"
        );
        assert!(
            s.bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        let millis = u64::from_str_radix(&s[..13].replace('-', ""), 16).unwrap();
        assert!(
            (before..=after).contains(&millis),
            "{before} <= {millis} <= {after}"
        );
    }

    #[test]
    fn request_id_new_accepts_visible_ascii_only() {
        assert_eq!(RequestId::new("abc-123").unwrap().as_str(), "abc-123");
        assert!(RequestId::new("").is_err());
        assert!(RequestId::new("a b").is_err());
        assert!(RequestId::new("a\nb").is_err());
        assert!(RequestId::new("é").is_err());
        for delimiter in ["a\"b", "a'b", "a\\b", "a,b", "a;b", "<script>", "a`b"] {
            assert!(RequestId::new(delimiter).is_err(), "{delimiter}");
        }
        assert!(RequestId::new(&"a".repeat(1025)).is_err());
        assert!(RequestId::new(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn default_symbols_are_accepted_by_the_builder() {
        assert!(allowed_bytes(DEFAULT_SYMBOLS).is_ok());
        assert!(RequestIdLayer::builder().build().is_ok());
    }

    #[test]
    fn builder_refuses_bad_configuration() {
        let err = |b: RequestIdBuilder| b.build().unwrap_err();
        assert_eq!(
            err(RequestIdLayer::builder().header_name("bad header")),
            ConfigError::InvalidHeaderName("bad header".into())
        );
        assert_eq!(
            err(RequestIdLayer::builder().header_name("Authorization")),
            ConfigError::ReservedHeaderName("Authorization".into())
        );
        for reserved in [
            "X-Forwarded-For",
            "origin",
            "sec-fetch-site",
            "x-api-key",
            "api-version",
        ] {
            assert_eq!(
                err(RequestIdLayer::builder().header_name(reserved)),
                ConfigError::ReservedHeaderName(reserved.into())
            );
        }
        assert_eq!(
            err(RequestIdLayer::builder()
                .reject_invalid(true)
                .trust_incoming(false)),
            ConfigError::RejectWithoutTrust
        );
        assert_eq!(
            err(RequestIdLayer::builder().max_length(0)),
            ConfigError::InvalidMaxLength(0)
        );
        assert_eq!(
            err(RequestIdLayer::builder().max_length(1025)),
            ConfigError::InvalidMaxLength(1025)
        );
        assert_eq!(
            err(RequestIdLayer::builder().allowed_symbols("-;")),
            ConfigError::InvalidSymbol(';')
        );
        assert_eq!(
            err(RequestIdLayer::builder().allowed_symbols(" ")),
            ConfigError::InvalidSymbol(' ')
        );
        assert_eq!(
            err(RequestIdLayer::builder().allowed_symbols("é")),
            ConfigError::InvalidSymbol('é')
        );
    }

    #[test]
    fn acceptance_rules() {
        let layer = RequestIdLayer::builder()
            .max_length(8)
            .allowed_symbols("-")
            .build()
            .unwrap();
        let accepts = |s: &'static str| layer.config.accepts(&HeaderValue::from_static(s));
        assert!(accepts("abc-DEF1"));
        assert!(!accepts("abc-DEF12"), "one byte over the cap");
        assert!(!accepts(""));
        assert!(!accepts("a_b"), "symbol not allowed");
        assert!(!accepts("a\"b"));
    }
}
