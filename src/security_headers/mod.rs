//! Security headers on every response: HSTS, CSP (with per-request nonces), nosniff, framing,
//! referrer, permissions and cross-origin policies, cache control.
//!
//! Two presets cover most services:
//!
//! - [`SecurityHeadersLayer::json_api()`] for APIs that serve JSON, never HTML:
//!
//!   | header | value |
//!   |---|---|
//!   | `Strict-Transport-Security` | `max-age=31536000; includeSubDomains; preload` |
//!   | `X-Content-Type-Options` | `nosniff` |
//!   | `Cache-Control` | `no-store, no-cache, must-revalidate, private` (design seed 001's value) |
//!   | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'` |
//!   | `Referrer-Policy` | `no-referrer` |
//!
//! - [`SecurityHeadersLayer::web_app()`] for services whose responses a browser renders: the
//!   above with `Referrer-Policy: strict-origin-when-cross-origin`, the
//!   [web app policy](ContentSecurityPolicy::web_app), `X-Frame-Options: DENY`,
//!   `Permissions-Policy: camera=(), microphone=(), geolocation=()`,
//!   `Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Resource-Policy: same-origin` and
//!   `X-XSS-Protection: 0` (the legacy filter is itself a source of leaks; `0` turns it off).
//!
//! Both remove `Server` and `X-Powered-By`;
//! [`strip_owasp_list`](SecurityHeadersBuilder::strip_owasp_list) removes the whole
//! [OWASP list](OWASP_REMOVED_HEADERS) of headers that disclose the stack. A header the handler
//! already set is kept (the handler knows its response better than a blanket policy does);
//! [`Mode::Overwrite`] enforces the layer's value instead, for all headers or one.
//!
//! Anything else goes through [`SecurityHeadersLayer::builder()`], whose
//! [`build`](SecurityHeadersBuilder::build) checks every value and returns a [`ConfigError`]
//! instead of sending a broken or injectable header:
//!
//! ```
//! use axum::{Extension, Router, body::Body, response::Html, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_shield::security_headers::{
//!     ContentSecurityPolicy, CspNonce, SecurityHeadersBuilder, SecurityHeadersLayer, Source,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let headers = SecurityHeadersBuilder::web_app()
//!     .content_security_policy(
//!         ContentSecurityPolicy::web_app()
//!             .script_src([Source::SelfOrigin, Source::Nonce])
//!             .report_uri("/csp-report"),
//!     )
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/", get(|Extension(nonce): Extension<CspNonce>| async move {
//!         Html(format!(r#"<script nonce="{nonce}">console.log("allowed")</script>"#))
//!     }))
//!     .layer(headers);
//!
//! let res = app.oneshot(Request::get("/").body(Body::empty())?).await?;
//! let csp = res.headers()["content-security-policy"].to_str()?;
//! assert!(csp.starts_with("default-src 'self'; script-src 'self' 'nonce-"));
//! assert_eq!(res.headers()["x-frame-options"], "DENY");
//! # Ok(()) }
//! ```
//!
//! Every header value is built once, when the layer is built; a request costs a few header-map
//! inserts (and 16 random bytes when the policy has a nonce).

mod builder;
mod csp;
mod policies;
mod presets;

use std::sync::Arc;

use http::header::{Entry, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response};

use crate::guard::{Decision, Guard, guarded_service};

pub use builder::{OWASP_REMOVED_HEADERS, SecurityHeadersBuilder};
pub use csp::{ContentSecurityPolicy, CspError, CspNonce, Directive, Source};
pub use policies::{
    Allow, CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy,
    FrameOptions, HSTS_PRELOAD_MIN_AGE, Hsts, PermissionsPolicy, PermissionsPolicyError,
    ReferrerPolicy,
};

use csp::Template;

/// `permissions-policy`
pub const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
/// `cross-origin-opener-policy`
pub const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");
/// `cross-origin-resource-policy`
pub const CROSS_ORIGIN_RESOURCE_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-resource-policy");
/// `cross-origin-embedder-policy`
pub const CROSS_ORIGIN_EMBEDDER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-embedder-policy");
/// `reporting-endpoints`
pub const REPORTING_ENDPOINTS: HeaderName = HeaderName::from_static("reporting-endpoints");
/// `x-powered-by`
pub const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

/// What to do when the handler's response already has the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Keep the handler's value; add the layer's only when the header is missing (default).
    #[default]
    IfMissing,
    /// Replace the handler's value with the layer's.
    Overwrite,
}

/// Why [`SecurityHeadersBuilder::build`] refused a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The content security policy (or its report-only twin) is invalid.
    #[error("content security policy: {0}")]
    Csp(#[from] CspError),
    /// The permissions policy is invalid.
    #[error("permissions policy: {0}")]
    PermissionsPolicy(#[source] PermissionsPolicyError),
    /// HSTS `preload` without `includeSubDomains` or with a max-age under a year: the preload
    /// list would refuse the domain.
    #[error("HSTS preload needs includeSubDomains and a max-age of at least one year")]
    HstsPreloadRequirements,
    /// A `Cache-Control` value that is not a valid header value.
    #[error("invalid Cache-Control value {0:?}")]
    InvalidCacheControl(String),
    /// A reporting endpoint whose name is not a token, or whose URL is neither a path nor an
    /// `https://` (or loopback `http://`) URL.
    #[error(
        "invalid reporting endpoint {name:?} = {url:?}: the name must be a token and \
         the URL a path or an https:// (or loopback http://) URL"
    )]
    InvalidReportingEndpoint {
        /// The endpoint's name.
        name: String,
        /// Its URL.
        url: String,
    },
    /// Two reporting endpoints of one name (`Reporting-Endpoints` is a dictionary: the last
    /// would replace the first).
    #[error("reporting endpoint {0:?} is given twice")]
    DuplicateReportingEndpoint(String),
    /// A custom header whose name or value is invalid.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// A deprecated header (`Expect-CT`, `Public-Key-Pins`, `Feature-Policy`, ...) or
    /// `X-XSS-Protection` with a value other than `0`.
    #[error("{0:?} is deprecated and not sent by this crate (X-XSS-Protection only as 0)")]
    DeprecatedHeader(String),
    /// A custom header that frames or routes the response (`Content-Length`, `Connection`,
    /// ...), carries state (`Set-Cookie`), or has a typed setter that checks its value (CSP,
    /// HSTS, ...).
    #[error(
        "{0:?} cannot be set as a custom header: it frames the response, carries \
         state, or has a typed setter"
    )]
    NotACustomHeader(String),
    /// A CSP `report-to` group that no [`reporting_endpoint`](SecurityHeadersBuilder::reporting_endpoint)
    /// defines: the browser would have nowhere to send reports.
    #[error("CSP report-to {0:?} names no reporting endpoint; add reporting_endpoint({0:?}, url)")]
    UnknownReportGroup(String),
    /// [`without`](SecurityHeadersBuilder::without) or
    /// [`mode_for`](SecurityHeadersBuilder::mode_for) names a header the layer does not set.
    #[error("{0:?} is not a header this layer sets")]
    HeaderNotSet(String),
}

/// The header values of a built layer, shared by its services.
#[derive(Debug)]
pub(crate) struct Compiled {
    fixed: Box<[(HeaderName, HeaderValue, Mode)]>,
    nonced: Box<[(HeaderName, Template, Mode)]>,
    strip: Box<[HeaderName]>,
}

impl Compiled {
    fn apply(&self, headers: &mut HeaderMap, nonce: Option<&CspNonce>) {
        // One pass over the names finds whether there is anything to strip; removing each by
        // name would cost a lookup apiece on every response.
        if headers.keys().any(|name| self.strip.contains(name)) {
            for name in &self.strip {
                headers.remove(name);
            }
        }
        // Room for ours and for the few headers outer layers and the server add next
        // (`x-request-id`, `vary`, `content-length`, `date`): the map grows here at most once,
        // while it holds one or two entries, instead of rehashing a full table later. A map
        // already at `HeaderMap`'s size limit keeps its size (every insert below is `try_`).
        let _ = headers.try_reserve(self.fixed.len() + self.nonced.len() + HEADROOM);
        for (name, value, mode) in &*self.fixed {
            set(headers, name, *mode, || value.clone());
        }
        if let Some(nonce) = nonce {
            for (name, template, mode) in &*self.nonced {
                set(headers, name, *mode, || template.render(nonce));
            }
        }
    }
}

/// Headers outer layers and the server commonly add after this layer.
const HEADROOM: usize = 4;

fn set(
    headers: &mut HeaderMap,
    name: &HeaderName,
    mode: Mode,
    value: impl FnOnce() -> HeaderValue,
) {
    // `try_` forms: a response already holding `HeaderMap`'s maximum number of headers is left
    // as it is instead of panicking.
    match mode {
        Mode::Overwrite => crate::core::util::set_header(headers, name.clone(), value()),
        Mode::IfMissing => {
            if let Ok(Entry::Vacant(entry)) = headers.try_entry(name) {
                let _ = entry.try_insert(value());
            }
        }
    }
}

/// Adds security headers to every response; see the [module docs](self).
///
/// Built by a preset ([`json_api`](Self::json_api), [`web_app`](Self::web_app)) or by
/// [`builder`](Self::builder).
#[derive(Clone, Debug)]
pub struct SecurityHeadersLayer {
    compiled: Arc<Compiled>,
}

impl SecurityHeadersLayer {
    /// A builder with nothing set, to configure every header.
    pub fn builder() -> SecurityHeadersBuilder {
        SecurityHeadersBuilder::new()
    }
}

guarded_service! {
    /// The service of a [`SecurityHeadersLayer`].
    service SecurityHeaders<S> { guard: SecurityHeadersLayer }
    /// The response future of [`SecurityHeaders`].
    future ResponseFuture;
    layer;
}

impl Guard for SecurityHeadersLayer {
    /// The layer's headers and the request's nonce, for the response.
    type State = (Arc<Compiled>, Option<CspNonce>);
    const ADDS_HEADERS: bool = true;
    type Wait = std::future::Pending<()>;
    type Resumed = ();

    /// Passes every request, with a fresh [`CspNonce`] in its extensions when a policy has one.
    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        let nonce = if self.compiled.nonced.is_empty() {
            None
        } else {
            let nonce = CspNonce::generate();
            req.extensions_mut().insert(nonce);
            Some(nonce)
        };
        Decision::Pass((Arc::clone(&self.compiled), nonce))
    }

    fn resume<B>(&self, req: &mut Request<B>, (): ()) -> Decision<Self> {
        self.decide(req)
    }

    fn respond<B>((compiled, nonce): Self::State, res: &mut Response<B>) {
        compiled.apply(res.headers_mut(), nonce.as_ref());
    }
}

#[cfg(test)]
mod tests;
