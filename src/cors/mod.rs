//! [CORS](https://fetch.spec.whatwg.org/#http-cors-protocol) with an allow-list that cannot be
//! misconfigured into "any site may call this API with the user's credentials".
//!
//! ```
//! use std::time::Duration;
//! use http::Method;
//! use tower_shield::CorsLayer;
//!
//! # fn main() -> Result<(), tower_shield::cors::CorsError> {
//! let cors = CorsLayer::builder()
//!     .allow_origin("https://frontend.example.com")
//!     .allow_origin("https://*.example.com") // subdomains of example.com, nothing else
//!     .allow_methods([Method::GET, Method::POST, Method::DELETE])
//!     .allow_headers(["authorization", "content-type"])
//!     .allow_credentials(true)
//!     .max_age(Duration::from_secs(86_400))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! - **Origins** are exact origins, anchored subdomain patterns, or a predicate (sync or async)
//!   for dynamic lists. They are compared in their serialized form (scheme, host, port), the
//!   host case-insensitively; `https://*.example.com` matches `https://a.example.com` and
//!   `https://a.b.example.com`, never `https://example.com`, `https://evil-example.com`,
//!   `https://example.com.evil.com`, `http://a.example.com` or another port.
//! - **Misconfiguration is a build error**, never a panic: `*` (or any origin) with
//!   credentials, `null` in the list, a malformed origin or pattern (a path, a wildcard that is
//!   not a whole left-most label, a pattern on a top-level domain).
//! - **Preflights** — `OPTIONS` *with* `Access-Control-Request-Method` — are answered `204`
//!   right here, without running the inner service: they need no credentials and use no rate
//!   limit. A plain `OPTIONS` goes to the inner service.
//! - **`Vary`** gets `Origin` (and the request-method/headers on preflights) merged into what is
//!   there, never duplicated when layers stack.
//! - **Exposed headers** default to the crate's own: the request id, rate-limit and
//!   deprecation headers.
//! - A **disallowed origin** gets no `Access-Control-Allow-*` header at all (any the inner
//!   service set are removed), or, with [`CorsBuilder::reject_disallowed`], a `403` problem.
//! - **Private Network Access** is answered only when the preflight asks for it and
//!   [`CorsBuilder::allow_private_network`] is on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderName, ORIGIN,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::problem::{self, Problem, Rejection};
use crate::core::util::{self, Vary};

/// `access-control-request-private-network`
const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// `access-control-allow-private-network`
const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

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

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type SyncPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type AsyncPredicate = Arc<dyn Fn(String) -> BoxFuture<bool> + Send + Sync>;

/// A configuration that [`CorsBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsError {
    /// `*` (any origin) together with credentials: any site could make requests with the
    /// user's cookies or HTTP authentication. Browsers refuse it; this crate refuses to build it.
    AnyOriginWithCredentials,
    /// `*` for the allowed or exposed headers together with credentials: browsers treat `*`
    /// literally there when credentials are allowed, which is never what was meant.
    WildcardWithCredentials,
    /// `null` in the allow list: sandboxed iframes, `data:` URLs and local files all send
    /// `Origin: null`, so allowing it allows any attacker page.
    NullOrigin,
    /// An origin that is not `scheme://host[:port]`.
    InvalidOrigin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pattern that is not `scheme://*.domain[:port]` with a domain of at least two labels.
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name that is not valid.
    InvalidHeaderName(String),
    /// No origin is allowed at all: the layer would do nothing.
    NoOrigin,
    /// The list of allowed methods is empty.
    NoMethod,
    /// The sync predicate allows an origin no one configured (a probe), so it reflects any
    /// origin; with credentials that lets every site act as the user.
    ReflectingPredicateWithCredentials,
}

impl fmt::Display for CorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnyOriginWithCredentials => f.write_str(
                "CORS: any origin together with credentials lets every site act as the user",
            ),
            Self::WildcardWithCredentials => f.write_str(
                "CORS: `*` for allowed or exposed headers is taken literally with credentials",
            ),
            Self::NullOrigin => f.write_str(
                "CORS: `null` cannot be allowed: sandboxed frames and local files send it",
            ),
            Self::InvalidOrigin { origin, reason } => {
                write!(f, "CORS: invalid origin {origin:?}: {reason}")
            }
            Self::InvalidPattern { pattern, reason } => {
                write!(f, "CORS: invalid origin pattern {pattern:?}: {reason}")
            }
            Self::InvalidHeaderName(name) => write!(f, "CORS: invalid header name {name:?}"),
            Self::NoOrigin => f.write_str("CORS: no origin is allowed"),
            Self::NoMethod => f.write_str("CORS: no method is allowed"),
            Self::ReflectingPredicateWithCredentials => f.write_str(
                "CORS: the origin predicate allows an arbitrary probe origin; with credentials \
                 that lets every site act as the user",
            ),
        }
    }
}

impl std::error::Error for CorsError {}

/// An origin in its serialized parts, lowercase, with the scheme's default port removed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Splits `scheme://host[:port]` without allocating, the scheme's default port removed;
/// `None` if it is not of that form.
fn split_origin(s: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, host, port) = util::split_origin(s)?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    let port = if port == default { None } else { port };
    Some((scheme, host, port))
}

/// The host as browsers serialize it: lowercase, IPv6 compressed.
fn canonical_host(host: &str) -> Result<String, &'static str> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let addr: std::net::Ipv6Addr = v6.parse().map_err(|_| "malformed IPv6 address")?;
        return Ok(format!("[{addr}]"));
    }
    let all_numeric = host
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    if all_numeric && host.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(
            "an IPv4 address must be four decimal numbers (browsers send 127.0.0.1, not 127.1)",
        );
    }
    Ok(host.to_ascii_lowercase())
}

fn parse_config_origin(s: &str) -> Result<Origin, &'static str> {
    if !s.is_ascii() {
        return Err("write an internationalized host in punycode (xn--...), as browsers send it");
    }
    if s.contains('/')
        && s.split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'))
    {
        return Err("an origin has no path (not even a trailing `/`)");
    }
    let (scheme, host, port) = split_origin(s)
        .ok_or("expected scheme://host[:port], for example https://app.example.com")?;
    if host.contains('*') {
        return Err(
            "`*` belongs in a pattern, as the whole left-most label: https://*.example.com",
        );
    }
    Ok(Origin {
        scheme: scheme.to_ascii_lowercase(),
        host: canonical_host(host)?,
        port,
    })
}

/// `scheme://*.domain[:port]`: matches hosts with at least one more label before `domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    /// `.domain`, lowercase, with its leading dot.
    suffix: String,
    port: Option<u16>,
}

fn parse_pattern(s: &str) -> Result<Pattern, &'static str> {
    let origin = s.replacen("*.", "x.", 1);
    if !s
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with("*."))
    {
        return Err("the wildcard must be the whole left-most label: https://*.example.com");
    }
    if origin.contains('*') {
        return Err("only one wildcard, as the whole left-most label");
    }
    let parsed = parse_config_origin(&origin)?;
    let domain = parsed.host[2..].trim_end_matches('.');
    if domain.starts_with('[') || domain.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("a pattern needs a domain name, not an IP address");
    }
    // Anyone can register a name under a public suffix (com, co.uk, github.io, vercel.app...):
    // a pattern on one would allow every attacker's site. `localhost` is reserved (RFC 6761).
    if domain != "localhost" && psl::domain_str(domain).is_none() {
        return Err(
            "the domain after `*.` is a public suffix (like com, co.uk or github.io) that anyone \
             can register names under; use your own registered domain",
        );
    }
    Ok(Pattern {
        scheme: parsed.scheme,
        suffix: format!(".{domain}"),
        port: parsed.port,
    })
}

impl Pattern {
    fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if port != self.port || !scheme.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        let Some(prefix_len) = host.len().checked_sub(self.suffix.len()) else {
            return false;
        };
        if prefix_len == 0 || !host.is_char_boundary(prefix_len) {
            return false;
        }
        let (prefix, suffix) = host.split_at(prefix_len);
        suffix.eq_ignore_ascii_case(&self.suffix)
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    }
}

#[derive(Clone)]
enum Origins {
    /// `Access-Control-Allow-Origin: *` (never with credentials).
    Any,
    List {
        exact: Vec<Origin>,
        patterns: Vec<Pattern>,
        predicate: Option<SyncPredicate>,
        async_predicate: Option<AsyncPredicate>,
    },
}

enum Check {
    Allowed,
    Disallowed,
    Ask(AsyncPredicate),
}

impl Origins {
    fn check(&self, origin: &HeaderValue) -> Check {
        let Origins::List {
            exact,
            patterns,
            predicate,
            async_predicate,
        } = self
        else {
            return Check::Allowed;
        };
        let Ok(text) = origin.to_str() else {
            return Check::Disallowed;
        };
        let Some((scheme, host, port)) = split_origin(text) else {
            return Check::Disallowed;
        };
        if host.contains('*') {
            return Check::Disallowed;
        }
        let listed = exact.iter().any(|o| {
            o.port == port
                && o.scheme.eq_ignore_ascii_case(scheme)
                && o.host.eq_ignore_ascii_case(host)
        }) || patterns.iter().any(|p| p.matches(scheme, host, port))
            || predicate.as_ref().is_some_and(|f| f(text));
        match (listed, async_predicate) {
            (true, _) => Check::Allowed,
            (false, Some(ask)) => Check::Ask(Arc::clone(ask)),
            (false, None) => Check::Disallowed,
        }
    }
}

struct Config {
    origins: Origins,
    credentials: bool,
    methods: HeaderValue,
    headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    /// Answer preflights with the headers they ask for (`permissive()` only: `*` does not
    /// cover `Authorization`).
    mirror_headers: bool,
    private_network: bool,
    reject_disallowed: bool,
    vary: Option<Vary>,
    vary_preflight: Option<Vary>,
}

fn vary_actual() -> Option<Vary> {
    Vary::new(&["origin"])
}

fn vary_preflight(private_network: bool) -> Option<Vary> {
    let mut names = vec![
        "origin",
        "access-control-request-method",
        "access-control-request-headers",
    ];
    if private_network {
        names.push("access-control-request-private-network");
    }
    Vary::new(&names)
}

/// Builds a [`CorsLayer`]; see the [module docs](self).
#[must_use]
pub struct CorsBuilder {
    origins: Vec<String>,
    any_origin: bool,
    predicate: Option<SyncPredicate>,
    async_predicate: Option<AsyncPredicate>,
    credentials: bool,
    methods: Vec<Method>,
    headers: Vec<String>,
    mirror_headers: bool,
    expose: Vec<String>,
    max_age: Option<Duration>,
    private_network: bool,
    reject_disallowed: bool,
}

impl fmt::Debug for CorsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsBuilder")
            .field("origins", &self.origins)
            .field("any_origin", &self.any_origin)
            .field("credentials", &self.credentials)
            .field("methods", &self.methods)
            .field("headers", &self.headers)
            .field("expose", &self.expose)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl Default for CorsBuilder {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            any_origin: false,
            predicate: None,
            async_predicate: None,
            credentials: false,
            methods: vec![Method::GET, Method::HEAD, Method::POST],
            headers: Vec::new(),
            mirror_headers: false,
            expose: DEFAULT_EXPOSE_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            max_age: None,
            private_network: false,
            reject_disallowed: false,
        }
    }
}

impl CorsBuilder {
    /// Allows an exact origin (`https://app.example.com`, `http://localhost:5173`) or an anchored
    /// subdomain pattern (`https://*.example.com`).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Allows each of `origins` (see [`allow_origin`](Self::allow_origin)).
    pub fn allow_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.origins.extend(origins.into_iter().map(Into::into));
        self
    }

    /// Allows the origins for which `predicate` answers `true` (given the `Origin` as sent;
    /// called only for well-formed origins the lists did not match). A predicate that answers
    /// `true` to everything reflects any origin: with credentials, the build probes it with a
    /// reserved name and refuses it if it says yes.
    pub fn allow_origin_predicate<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Allows the origins for which the asynchronous `predicate` answers `true` (a database or
    /// a tenant registry). Asked only when the lists and the sync predicate did not match. It
    /// cannot be probed at build: it must never answer `true` to origins it does not know.
    pub fn allow_origin_async<F, Fut>(mut self, predicate: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.async_predicate = Some(Arc::new(move |origin| Box::pin(predicate(origin))));
        self
    }

    /// Answers `Access-Control-Allow-Origin: *`: any site may read responses, without
    /// credentials. Refused at build together with [`allow_credentials`](Self::allow_credentials).
    pub fn allow_any_origin(mut self) -> Self {
        self.any_origin = true;
        self
    }

    /// Whether cookies and HTTP authentication may be sent (`Access-Control-Allow-Credentials`).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// The methods preflights allow (default `GET, HEAD, POST`).
    pub fn allow_methods<I: IntoIterator<Item = Method>>(mut self, methods: I) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request headers preflights allow, besides the CORS-safelisted ones (default none).
    /// `*` allows any (refused with credentials).
    pub fn allow_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// The response headers scripts may read, replacing the default
    /// [`DEFAULT_EXPOSE_HEADERS`]. `*` exposes all (refused with credentials).
    pub fn expose_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.expose = headers.into_iter().map(Into::into).collect();
        self
    }

    /// How long browsers may cache a preflight (`Access-Control-Max-Age`, whole seconds;
    /// browsers cap it, Chromium at two hours).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Answers Private Network Access preflights (`Access-Control-Allow-Private-Network: true`
    /// when the preflight asks with `Access-Control-Request-Private-Network: true`).
    pub fn allow_private_network(mut self, allow: bool) -> Self {
        self.private_network = allow;
        self
    }

    /// Whether requests from a disallowed origin are answered `403` (a problem) instead of
    /// served without CORS headers (default `false`: the browser then hides the response).
    pub fn reject_disallowed(mut self, reject: bool) -> Self {
        self.reject_disallowed = reject;
        self
    }

    /// Checks the configuration and builds every header value once.
    ///
    /// # Errors
    ///
    /// A [`CorsError`] for any origin or `*` with credentials, `null`, a malformed origin or
    /// pattern, an invalid header name, or no allowed origin at all.
    pub fn build(self) -> Result<CorsLayer, CorsError> {
        if self.credentials && self.any_origin {
            return Err(CorsError::AnyOriginWithCredentials);
        }
        let wildcard = |list: &[String]| list.iter().any(|h| h == "*");
        let any_method = self.methods.iter().any(|m| m.as_str() == "*");
        if self.credentials && (wildcard(&self.headers) || wildcard(&self.expose) || any_method) {
            return Err(CorsError::WildcardWithCredentials);
        }
        if self.methods.is_empty() {
            return Err(CorsError::NoMethod);
        }
        let origins = if self.any_origin {
            Origins::Any
        } else {
            let mut exact = Vec::new();
            let mut patterns = Vec::new();
            for origin in &self.origins {
                let trimmed = origin.trim();
                if trimmed.eq_ignore_ascii_case("null") {
                    return Err(CorsError::NullOrigin);
                }
                if trimmed == "*" {
                    return Err(CorsError::InvalidOrigin {
                        origin: origin.clone(),
                        reason: "use allow_any_origin() for `*`",
                    });
                }
                if trimmed.contains("://*") {
                    patterns.push(parse_pattern(trimmed).map_err(|reason| {
                        CorsError::InvalidPattern {
                            pattern: origin.clone(),
                            reason,
                        }
                    })?);
                } else {
                    exact.push(parse_config_origin(trimmed).map_err(|reason| {
                        CorsError::InvalidOrigin {
                            origin: origin.clone(),
                            reason,
                        }
                    })?);
                }
            }
            if exact.is_empty()
                && patterns.is_empty()
                && self.predicate.is_none()
                && self.async_predicate.is_none()
            {
                return Err(CorsError::NoOrigin);
            }
            // A predicate that reflects anything would accept this name, reserved by RFC 2606.
            let probe = "https://tower-shield-cors-probe.invalid";
            if self.credentials && self.predicate.as_ref().is_some_and(|p| p(probe)) {
                return Err(CorsError::ReflectingPredicateWithCredentials);
            }
            Origins::List {
                exact,
                patterns,
                predicate: self.predicate,
                async_predicate: self.async_predicate,
            }
        };
        let methods = join(self.methods.iter().map(Method::as_str)).ok_or(CorsError::NoMethod)?;
        Ok(CorsLayer {
            config: Arc::new(Config {
                origins,
                credentials: self.credentials,
                methods,
                headers: header_list(&self.headers)?,
                expose: header_list(&self.expose)?,
                max_age: self.max_age.map(|d| HeaderValue::from(d.as_secs())),
                mirror_headers: self.mirror_headers,
                private_network: self.private_network,
                reject_disallowed: self.reject_disallowed,
                vary: vary_actual(),
                vary_preflight: vary_preflight(self.private_network),
            }),
        })
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let text = items.collect::<Vec<_>>().join(", ");
    HeaderValue::try_from(text).ok()
}

fn header_list(names: &[String]) -> Result<Option<HeaderValue>, CorsError> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut canonical = Vec::with_capacity(names.len());
    for name in names {
        if name == "*" {
            canonical.push("*".to_owned());
            continue;
        }
        let parsed = HeaderName::try_from(name.as_str())
            .map_err(|_| CorsError::InvalidHeaderName(name.clone()))?;
        if !canonical.contains(&parsed.as_str().to_owned()) {
            canonical.push(parsed.as_str().to_owned());
        }
    }
    Ok(join(canonical.iter().map(String::as_str)))
}

/// Answers cross-origin requests from allowed origins; see the [module docs](self).
#[derive(Clone)]
pub struct CorsLayer {
    config: Arc<Config>,
}

impl fmt::Debug for CorsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsLayer")
            .field("credentials", &self.config.credentials)
            .field("methods", &self.config.methods)
            .finish_non_exhaustive()
    }
}

impl CorsLayer {
    /// A builder with no origin allowed yet.
    pub fn builder() -> CorsBuilder {
        CorsBuilder::default()
    }

    /// Everything allowed, for local development only: any origin (`*`), any method and header,
    /// every response header exposed, no credentials.
    ///
    /// Do not ship it: every website a user visits can then call the API from their browser
    /// and read the answers. That is harmless only for fully public, unauthenticated data — and
    /// an API on a developer's machine or an intranet usually is not. Without credentials it
    /// cannot leak cookies, but it still opens APIs that trust the network (IP allow-lists,
    /// private addresses) to any page.
    pub fn permissive() -> Self {
        Self {
            config: Arc::new(Config {
                origins: Origins::Any,
                credentials: false,
                methods: HeaderValue::from_static("*"),
                headers: Some(HeaderValue::from_static("*")),
                expose: Some(HeaderValue::from_static("*")),
                max_age: None,
                mirror_headers: true,
                private_network: false,
                reject_disallowed: false,
                vary: vary_actual(),
                vary_preflight: vary_preflight(false),
            }),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Cors {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of a [`CorsLayer`].
#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for Cors<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cors")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The rejection of a request from a disallowed origin, when the layer is configured with
/// [`CorsBuilder::reject_disallowed`]: `403 Forbidden`, problem type
/// [`cors-origin-not-allowed`](crate::problem#cors-origin-not-allowed).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OriginNotAllowed;

impl Rejection for OriginNotAllowed {
    fn problem(&self) -> Problem {
        Problem::new(StatusCode::FORBIDDEN)
            .with_type(problem::problem_type("cors-origin-not-allowed"))
            .with_title("Origin not allowed")
            .with_detail("Requests from this origin are not allowed.")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No `Origin`: not a CORS request.
    NoOrigin,
    Actual,
    Preflight,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    /// Forwards to the inner service, as tower requires: put `CorsLayer` outside tower's own
    /// `RateLimit`, `ConcurrencyLimit` or `LoadShed`, or preflights wait for (or are shed with)
    /// the requests they precede. This crate's layers decide in `call`, not here.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let config = Arc::clone(&self.config);
        let origin = req.headers().get(ORIGIN).cloned();
        let kind = match &origin {
            None => Kind::NoOrigin,
            Some(_)
                if req.method() == Method::OPTIONS
                    && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD) =>
            {
                Kind::Preflight
            }
            Some(_) => Kind::Actual,
        };
        let check = match &origin {
            None => Check::Disallowed,
            Some(origin) => config.origins.check(origin),
        };
        match check {
            Check::Ask(ask) => {
                let origin_text = origin
                    .as_ref()
                    .and_then(|o| o.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                // The service that was polled ready is the one that will be called.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture {
                    state: State::Asking {
                        asking: ask(origin_text),
                        request: Some(req),
                        inner: Some(inner),
                    },
                    config,
                    kind,
                    origin,
                }
            }
            Check::Allowed => start(&mut self.inner, req, config, kind, origin, true),
            Check::Disallowed => start(&mut self.inner, req, config, kind, origin, false),
        }
    }
}

fn start<S, ReqBody, ResBody>(
    inner: &mut S,
    req: Request<ReqBody>,
    config: Arc<Config>,
    kind: Kind,
    origin: Option<HeaderValue>,
    allowed: bool,
) -> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let state = decide(inner, req, &config, kind, origin.as_ref(), allowed);
    ResponseFuture {
        state,
        config,
        kind,
        origin,
    }
}

/// What to do once we know whether the origin is allowed.
fn decide<S, ReqBody, ResBody>(
    inner: &mut S,
    req: Request<ReqBody>,
    config: &Config,
    kind: Kind,
    origin: Option<&HeaderValue>,
    allowed: bool,
) -> State<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    // Browsers send `Origin` on same-origin POSTs too; `Sec-Fetch-Site` (which pages cannot
    // forge) tells those apart, so the API's own front end is not refused.
    let same_origin = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin");
    if kind != Kind::NoOrigin && !allowed && config.reject_disallowed && !same_origin {
        let mut res = problem::reject(&req, OriginNotAllowed);
        let vary = match kind {
            Kind::Preflight => &config.vary_preflight,
            _ => &config.vary,
        };
        if let Some(vary) = vary {
            vary.apply(res.headers_mut());
        }
        return State::Done {
            response: Some(res),
        };
    }
    if kind == Kind::Preflight {
        let mut res = Response::new(ResponseBody::default());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let headers = res.headers_mut();
        if let Some(vary) = &config.vary_preflight {
            vary.apply(headers);
        }
        if allowed {
            if let Some(origin) = origin {
                preflight_headers(headers, config, origin, req.headers());
            }
        }
        return State::Done {
            response: Some(res),
        };
    }
    State::Calling {
        future: inner.call(req),
        allowed,
    }
}

fn allow_origin_value(config: &Config, origin: &HeaderValue) -> HeaderValue {
    match config.origins {
        Origins::Any => HeaderValue::from_static("*"),
        Origins::List { .. } => origin.clone(),
    }
}

fn preflight_headers(
    headers: &mut HeaderMap,
    config: &Config,
    origin: &HeaderValue,
    request: &HeaderMap,
) {
    util::set_header(
        headers,
        ACCESS_CONTROL_ALLOW_ORIGIN,
        allow_origin_value(config, origin),
    );
    if config.credentials {
        util::set_header(
            headers,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    util::set_header(
        headers,
        ACCESS_CONTROL_ALLOW_METHODS,
        config.methods.clone(),
    );
    let requested = request.get(http::header::ACCESS_CONTROL_REQUEST_HEADERS);
    match (&config.headers, requested) {
        (_, Some(asked)) if config.mirror_headers => {
            util::set_header(headers, ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        (Some(allowed), _) => {
            util::set_header(headers, ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
        }
        (None, _) => {}
    }
    if let Some(max_age) = &config.max_age {
        util::set_header(headers, ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    let asks_private_network = request
        .get(REQUEST_PRIVATE_NETWORK)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    if config.private_network && asks_private_network {
        util::set_header(
            headers,
            ALLOW_PRIVATE_NETWORK,
            HeaderValue::from_static("true"),
        );
    }
}

fn actual_headers(headers: &mut HeaderMap, config: &Config, origin: &HeaderValue) {
    // This layer decides: whatever an inner layer said about CORS goes first.
    strip_cors(headers);
    util::set_header(
        headers,
        ACCESS_CONTROL_ALLOW_ORIGIN,
        allow_origin_value(config, origin),
    );
    if config.credentials {
        util::set_header(
            headers,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(expose) = &config.expose {
        util::set_header(headers, ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
}

/// Removes every `Access-Control-Allow-*` and `-Expose-Headers` header (set by an inner layer
/// for an origin this layer does not allow).
fn strip_cors(headers: &mut HeaderMap) {
    for name in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
        ALLOW_PRIVATE_NETWORK,
    ] {
        headers.remove(name);
    }
}

pin_project! {
    /// The response future of [`Cors`].
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
        config: Arc<Config>,
        kind: Kind,
        origin: Option<HeaderValue>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Asking {
            asking: BoxFuture<bool>,
            request: Option<Request<ReqBody>>,
            inner: Option<S>,
        },
        Calling { #[pin] future: S::Future, allowed: bool },
        Done { response: Option<Response<ResponseBody<ResBody>>> },
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Asking {
                    asking,
                    request,
                    inner,
                } => {
                    let allowed = match asking.as_mut().poll(cx) {
                        Poll::Ready(allowed) => allowed,
                        Poll::Pending => return Poll::Pending,
                    };
                    let (Some(req), Some(mut svc)) = (request.take(), inner.take()) else {
                        return Poll::Pending;
                    };
                    let next = decide(
                        &mut svc,
                        req,
                        this.config,
                        *this.kind,
                        this.origin.as_ref(),
                        allowed,
                    );
                    this.state.set(next);
                }
                StateProj::Calling { future, allowed } => {
                    let allowed = *allowed;
                    let res = match future.poll(cx) {
                        Poll::Ready(res) => res?,
                        Poll::Pending => return Poll::Pending,
                    };
                    let (mut parts, body) = res.into_parts();
                    let any = matches!(this.config.origins, Origins::Any);
                    match (&*this.origin, *this.kind) {
                        (Some(origin), Kind::Actual) if allowed => {
                            actual_headers(&mut parts.headers, this.config, origin);
                        }
                        // `*` answers the same to everyone, so every response carries it and
                        // caches need no `Vary`.
                        (None, Kind::NoOrigin) if any => {
                            actual_headers(
                                &mut parts.headers,
                                this.config,
                                &HeaderValue::from_static("*"),
                            );
                        }
                        (_, Kind::NoOrigin) => {}
                        _ => strip_cors(&mut parts.headers),
                    }
                    if !any {
                        if let Some(vary) = &this.config.vary {
                            vary.apply(&mut parts.headers);
                        }
                    }
                    return Poll::Ready(Ok(Response::from_parts(parts, ResponseBody::new(body))));
                }
                StateProj::Done { response } => {
                    return match response.take() {
                        Some(res) => Poll::Ready(Ok(res)),
                        None => Poll::Pending,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(layer: &CorsLayer, origin: &'static str) -> bool {
        matches!(
            layer
                .config
                .origins
                .check(&HeaderValue::from_static(origin)),
            Check::Allowed
        )
    }

    #[test]
    fn anchored_patterns_and_exact_origins() {
        let layer = CorsLayer::builder()
            .allow_origin("https://frontend.example.com")
            .allow_origin("https://*.example.com")
            .allow_origin("http://localhost:5173")
            .build()
            .unwrap();
        for ok in [
            "https://frontend.example.com",
            "https://a.example.com",
            "https://a.b.example.com",
            "https://A.Example.COM",
            "HTTPS://a.example.com",
            "https://a.example.com:443",
            "http://localhost:5173",
            "http://LOCALHOST:5173",
        ] {
            assert!(allowed(&layer, ok), "{ok} should be allowed");
        }
        for bad in [
            "https://example.com",
            "https://evil-example.com",
            "https://example.com.evil.com",
            "https://a.example.com.evil.com",
            "http://a.example.com",
            "https://a.example.com:8443",
            "https://.example.com",
            "https://a..example.com",
            "https://*.example.com",
            "http://localhost",
            "http://localhost:5174",
            "null",
            "https://frontend.example.com/",
            "https://frontend.example.com/path",
            "https://user@frontend.example.com",
            "",
        ] {
            assert!(!allowed(&layer, bad), "{bad} should be refused");
        }
    }

    #[test]
    fn ips_trailing_dots_and_localhost_patterns() {
        let layer = CorsLayer::builder()
            .allow_origin("http://[0:0:0:0:0:0:0:1]:8080")
            .allow_origin("https://example.com.")
            .allow_origin("http://*.localhost:5173")
            .allow_origin("https://my_host.example.net")
            .build()
            .unwrap();
        assert!(allowed(&layer, "http://[::1]:8080"));
        assert!(allowed(&layer, "https://example.com."));
        assert!(!allowed(&layer, "https://example.com"));
        assert!(allowed(&layer, "http://app.localhost:5173"));
        assert!(allowed(&layer, "https://my_host.example.net"));
    }

    #[test]
    fn pattern_with_port() {
        let layer = CorsLayer::builder()
            .allow_origin("https://*.example.com:8443")
            .build()
            .unwrap();
        assert!(allowed(&layer, "https://a.example.com:8443"));
        assert!(!allowed(&layer, "https://a.example.com"));
    }

    #[test]
    fn build_errors() {
        let err = |b: CorsBuilder| b.build().unwrap_err();
        assert_eq!(
            err(CorsLayer::builder()
                .allow_any_origin()
                .allow_credentials(true)),
            CorsError::AnyOriginWithCredentials
        );
        assert_eq!(
            err(CorsLayer::builder()
                .allow_origin("https://a.com")
                .allow_headers(["*"])
                .allow_credentials(true)),
            CorsError::WildcardWithCredentials
        );
        assert_eq!(
            err(CorsLayer::builder()
                .allow_origin("https://a.com")
                .expose_headers(["*"])
                .allow_credentials(true)),
            CorsError::WildcardWithCredentials
        );
        assert_eq!(
            err(CorsLayer::builder().allow_origin("null")),
            CorsError::NullOrigin
        );
        assert_eq!(err(CorsLayer::builder()), CorsError::NoOrigin);
        assert_eq!(
            err(CorsLayer::builder()
                .allow_origin("https://a.com")
                .allow_methods([])),
            CorsError::NoMethod
        );
        assert_eq!(
            err(CorsLayer::builder()
                .allow_origin("https://a.com")
                .allow_methods([Method::from_bytes(b"*").unwrap()])
                .allow_credentials(true)),
            CorsError::WildcardWithCredentials
        );
        assert_eq!(
            err(CorsLayer::builder()
                .allow_origin_predicate(|_| true)
                .allow_credentials(true)),
            CorsError::ReflectingPredicateWithCredentials
        );
        for bad in [
            "http://a:b:8080",
            "https://a]b.com",
            "https://[not-an-ip]",
            "https://exämple.com",
            "http://127.1",
            &format!("https://{}.com", "a".repeat(64)),
        ] {
            assert!(
                matches!(
                    err(CorsLayer::builder().allow_origin(bad)),
                    CorsError::InvalidOrigin { .. }
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            err(CorsLayer::builder().allow_origin("https://a.com/")),
            CorsError::InvalidOrigin { .. }
        ));
        assert!(matches!(
            err(CorsLayer::builder().allow_origin("a.com")),
            CorsError::InvalidOrigin { .. }
        ));
        assert!(matches!(
            err(CorsLayer::builder().allow_origin("*")),
            CorsError::InvalidOrigin { .. }
        ));
        for pattern in [
            "https://*.co.uk",
            "https://*.github.io",
            "https://*.vercel.app",
            "https://*.168.1.1",
            "https://*.[::1]",
            "https://*example.com",
            "https://a*.example.com",
            "https://*.com",
            "https://*.*.example.com",
            "https://a.*.example.com",
            "https://*.example.com/x",
        ] {
            assert!(
                matches!(
                    err(CorsLayer::builder().allow_origin(pattern)),
                    CorsError::InvalidPattern { .. } | CorsError::InvalidOrigin { .. }
                ),
                "{pattern}"
            );
        }
        assert_eq!(
            err(CorsLayer::builder()
                .allow_origin("https://a.com")
                .allow_headers(["bad header"])),
            CorsError::InvalidHeaderName("bad header".into())
        );
    }
}
