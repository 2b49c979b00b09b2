//! [`RequestIdBuilder`]: the header, the rules for incoming ids and the generator, checked
//! once.

use std::sync::Arc;

use http::header::HeaderName;

use super::{
    Config, ConfigError, DEFAULT_MAX_LENGTH, DEFAULT_SYMBOLS, InvalidRequestId, MakeRequestId,
    RequestIdLayer, UuidV7, X_REQUEST_ID,
};
use crate::core::{FORBIDDEN_SYMBOLS, MAX_MAX_LENGTH};

/// Builds a [`RequestIdLayer`] that differs from [`RequestIdLayer::new`].
#[derive(Debug)]
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
    "accept-patch",
    "accept-post",
    "age",
    "allow",
    "api-version",
    "authorization",
    "cache-control",
    "connection",
    "content-digest",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-security-policy",
    "content-security-policy-report-only",
    "content-type",
    "cookie",
    "cross-origin-embedder-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "date",
    "deprecation",
    "digest",
    "etag",
    "expect",
    "expires",
    "forwarded",
    "host",
    "if-match",
    "if-none-match",
    "keep-alive",
    "last-modified",
    "link",
    "location",
    "origin",
    "permissions-policy",
    "pragma",
    "proxy-authorization",
    "range",
    "ratelimit",
    "ratelimit-policy",
    "referer",
    "referrer-policy",
    "reporting-endpoints",
    "repr-digest",
    "retry-after",
    "server",
    "set-cookie",
    "signature",
    "signature-input",
    "strict-transport-security",
    "stripe-signature",
    "sunset",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "www-authenticate",
    "x-api-key",
    "x-content-type-options",
    "x-forwarded-client-cert",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-frame-options",
    "x-hub-signature-256",
    "x-permitted-cross-domain-policies",
    "x-powered-by",
    "x-real-ip",
    "x-xss-protection",
];

/// Whether `name` already has a meaning that rewriting it would break.
fn is_reserved(name: &str) -> bool {
    RESERVED_HEADERS.contains(&name)
        || name.starts_with("sec-")
        || name.starts_with("access-control-")
        || name.starts_with("proxy-")
        || name.starts_with("x-ratelimit-")
        || name.starts_with("grpc-")
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
        Ok(self.assemble(header, allowed))
    }
}

/// The bytes accepted in an incoming id: ASCII letters, digits and `symbols`.
pub(super) fn allowed_bytes(symbols: &str) -> Result<[bool; 256], ConfigError> {
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

impl<M> RequestIdBuilder<M> {
    /// The layer of this configuration, checked, with `header` and the `allowed` bytes.
    pub(super) fn assemble(self, header: HeaderName, allowed: [bool; 256]) -> RequestIdLayer<M> {
        let detail = format!(
            "The {} header must be 1 to {} characters from A-Z a-z 0-9{}{}.",
            header,
            self.max_length,
            if self.symbols.is_empty() { "" } else { " and " },
            self.symbols
        );
        RequestIdLayer {
            config: Arc::new(Config {
                header,
                max_length: self.max_length,
                allowed,
                trust_incoming: self.trust_incoming,
                reject_invalid: self.reject_invalid,
                span: self.span,
                rejection: InvalidRequestId {
                    detail: detail.into(),
                },
                generator: self.generator,
            }),
        }
    }
}
