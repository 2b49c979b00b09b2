//! [CORS](https://fetch.spec.whatwg.org/#http-cors-protocol) with an allow-list that cannot be
//! misconfigured into "any site may call this API with the user's credentials".
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, body::Body, routing::get};
//! use http::{Method, Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::CorsLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cors = CorsLayer::builder()
//!     .allow_origin("https://frontend.example.com")
//!     .allow_origin("https://*.example.com") // subdomains of example.com, nothing else
//!     .allow_methods([Method::GET, Method::POST, Method::DELETE])
//!     .allow_headers(["authorization", "content-type"])
//!     .allow_credentials(true)
//!     .max_age(Duration::from_secs(86_400))
//!     .build()?;
//! let app = Router::new().route("/posts", get(|| async { "[]" })).layer(cors);
//!
//! // A preflight is answered here, without running the handler.
//! let preflight = Request::options("/posts")
//!     .header("origin", "https://app.example.com")
//!     .header("access-control-request-method", "DELETE")
//!     .body(Body::empty())?;
//! let res = app.clone().oneshot(preflight).await?;
//! assert_eq!(res.status(), StatusCode::NO_CONTENT);
//! assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.com");
//! assert_eq!(res.headers()["access-control-allow-methods"], "GET, POST, DELETE");
//!
//! // An origin that only looks alike is served without any CORS header: the browser hides it.
//! let get = Request::get("/posts").header("origin", "https://evil-example.com").body(Body::empty())?;
//! let res = app.oneshot(get).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert!(res.headers().get("access-control-allow-origin").is_none());
//! assert_eq!(res.headers()["vary"], "origin");
//! # Ok(()) }
//! ```
//!
//! - **Origins** are exact origins, anchored subdomain patterns, or a predicate (sync or async)
//!   for dynamic lists. They are compared in their serialized form (scheme, host, port), the
//!   host case-insensitively; `https://*.example.com` matches `https://a.example.com` and
//!   `https://a.b.example.com`, never `https://example.com`, `https://evil-example.com`,
//!   `https://example.com.evil.com`, `http://a.example.com` or another port.
//! - **Misconfiguration is a build error** ([`ConfigError`]), never a panic: `*` (or any origin)
//!   with credentials, `null` in the list, a malformed origin or pattern (a path, a wildcard that
//!   is not a whole left-most label, a pattern on a top-level domain), and any entry no browser
//!   can send (a scheme other than http and https, a trailing dot on an IP address, a host ending in a number
//!   that is no IPv4 address, invalid punycode). Entries are stored as browsers serialize
//!   origins (lowercase, default port removed, IPv6 compressed in hex), so `HTTP://EXAMPLE.com:80`
//!   matches the `http://example.com` a browser sends; see [`CorsBuilder::allow_origin`].
//! - **Preflights** — `OPTIONS` *with* `Access-Control-Request-Method` — are answered `204`
//!   right here, without running the inner service: they need no credentials and use no rate
//!   limit. A plain `OPTIONS` goes to the inner service. The allowed request headers are a list
//!   ([`CorsBuilder::allow_headers`]), or the ones the browser asks for
//!   ([`CorsBuilder::mirror_request_headers`], which works with credentials where `*` does not).
//! - **`Vary`** gets `Origin` (and the request-method/headers on preflights) merged into what is
//!   there, never duplicated when layers stack. Every `OPTIONS` answer, preflight or not, and
//!   under `*` too, varies by the preflight headers, so that a cache which stores `OPTIONS`
//!   answers never serves a plain one to a preflight (as jub0bs/cors and tower-http do).
//! - **Exposed headers** default to the crate's own ([`DEFAULT_EXPOSE_HEADERS`]): the request
//!   id, rate-limit and deprecation headers.
//! - A **disallowed origin** gets no `Access-Control-Allow-*` header at all (any the inner
//!   service set are removed), or, with [`CorsBuilder::reject_disallowed`], a `403` problem
//!   ([`OriginNotAllowed`]).
//! - **Private Network Access** is answered only when the preflight asks for it and
//!   [`CorsBuilder::allow_private_network`] is on.
//!
//! The files: `builder.rs` checks the policy once, `origin.rs` parses origins and patterns and
//! checks a request's `Origin`, `host.rs` serializes hosts as the WHATWG URL Standard does (IPv4,
//! IPv6, punycode labels), `layer.rs` holds the layer and its decision on each request.

mod builder;
mod host;
mod layer;
// The CSRF layer parses and compares its trusted origins as this one does.
pub(crate) mod origin;

pub use builder::CorsBuilder;
pub use layer::{Cors, CorsLayer, OriginNotAllowed, ResponseFuture};

/// The headers exposed by default: this crate's own response headers.
pub const DEFAULT_EXPOSE_HEADERS: &[&str] = &[
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "deprecation",
    "sunset",
    "link",
];

/// A configuration that [`CorsBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `*` (any origin) together with credentials: any site could make requests with the
    /// user's cookies or HTTP authentication. Browsers refuse it; this crate refuses to build it.
    #[error("CORS: any origin together with credentials lets every site act as the user")]
    AnyOriginWithCredentials,
    /// `*` (any origin) together with listed origins or a predicate, which it would silently
    /// make pointless (a list that was meant to restrict, or a typo in it, going unnoticed).
    #[error("CORS: any origin together with listed origins or a predicate: choose one")]
    AnyOriginWithList,
    /// `*` for the allowed or exposed headers together with credentials: browsers treat `*`
    /// literally there when credentials are allowed, which is never what was meant.
    #[error("CORS: `*` for allowed or exposed headers is taken literally with credentials")]
    WildcardWithCredentials,
    /// `null` in the allow list: sandboxed iframes, `data:` URLs and local files all send
    /// `Origin: null`, so allowing it allows any attacker page.
    #[error("CORS: `null` cannot be allowed: sandboxed frames and local files send it")]
    NullOrigin,
    /// An origin that is not `scheme://host[:port]`.
    #[error("CORS: invalid origin {origin:?}: {reason}")]
    InvalidOrigin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pattern that is not `scheme://*.domain[:port]` with a domain of at least two labels.
    #[error("CORS: invalid origin pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry whose scheme is not `http` or `https`: a `file:` page sends `Origin: null`, and
    /// `ws:` is never the scheme of an `Origin` (a WebSocket handshake carries the page's origin).
    /// A browser extension's origin (`chrome-extension://…`) can be allowed with a predicate.
    #[error(
        "CORS: {entry:?} has the scheme {scheme:?}: only http and https origins can be listed \
         (a file: page sends `Origin: null`; allow an extension's origin with a predicate)"
    )]
    UnsupportedScheme {
        /// The entry as given.
        entry: String,
        /// Its scheme, lowercase.
        scheme: String,
    },
    /// An entry whose host ends in a dot that no browser sends: an IP address (the WHATWG
    /// IPv4 parser drops the dot: `127.0.0.1.` is sent as `127.0.0.1`) or an empty label
    /// (`example.com..`). A name with one trailing dot (`example.com.`) is accepted: it is an
    /// origin of its own, which browsers send when a user visits it.
    #[error("CORS: the host of {entry:?} ends in a dot no browser sends: list it without the dot")]
    TrailingDot {
        /// The entry as given.
        entry: String,
    },
    /// An entry whose host's last label is a number (`foo.bar.255`, `foo.0x1`) but which is not
    /// an IPv4 address: browsers refuse to load such a URL, so it never sends this origin.
    #[error(
        "CORS: the host of {entry:?} ends in a number but is not an IPv4 address: \
         browsers refuse such a host"
    )]
    NotAnIpv4Address {
        /// The entry as given.
        entry: String,
    },
    /// An IPv4 address in a form browsers never send (`127.1`, `0x7f.0.0.1`, `2130706433`,
    /// `010.0.0.1`): a browser reads it as an address and sends it in dotted decimal. Refused
    /// rather than rewritten, because a leading zero means octal there (`010.0.0.1` is
    /// `8.0.0.1`), which is rarely what was meant.
    #[error(
        "CORS: {entry:?} writes an IPv4 address in a form browsers never send; \
         a browser sends {browser_form:?}: list that if it is what you mean"
    )]
    Ipv4NotDottedDecimal {
        /// The entry as given.
        entry: String,
        /// The origin a browser sends for it.
        browser_form: String,
    },
    /// An entry with an `xn--` label that is not valid punycode (RFC 3492) or does not decode to
    /// a valid internationalized label: browsers refuse the host.
    #[error("CORS: the label {label:?} of {entry:?} is refused: {reason}")]
    InvalidPunycode {
        /// The entry as given.
        entry: String,
        /// The `xn--` label, lowercase.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name that is not valid.
    #[error("CORS: invalid header name {0:?}")]
    InvalidHeaderName(String),
    /// No origin is allowed at all: the layer would do nothing.
    #[error("CORS: no origin is allowed")]
    NoOrigin,
    /// The list of allowed methods is empty.
    #[error("CORS: no method is allowed")]
    NoMethod,
    /// The sync predicate allows an origin no one configured (a probe), so it reflects any
    /// origin; with credentials that lets every site act as the user.
    #[error(
        "CORS: the origin predicate allows an arbitrary probe origin; with credentials \
         that lets every site act as the user"
    )]
    ReflectingPredicateWithCredentials,
}

#[cfg(test)]
mod tests;
