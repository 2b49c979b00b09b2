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
//!   | `Cache-Control` | `no-store` |
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
//! Both remove `Server` and `X-Powered-By`. A header the handler already set is kept (the
//! handler knows its response better than a blanket policy does); [`Mode::Overwrite`] enforces
//! the layer's value instead, for all headers or one.
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

mod csp;
mod policies;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY, Entry, HeaderName,
    REFERRER_POLICY, SERVER, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    X_XSS_PROTECTION,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

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

/// Headers [`SecurityHeadersBuilder::header`] refuses: they frame or route the response, carry
/// state, or have a typed setter that checks their value.
const NOT_CUSTOM: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "host",
    "keep-alive",
    "location",
    "proxy-connection",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "www-authenticate",
    "cache-control",
    "content-security-policy",
    "content-security-policy-report-only",
    "cross-origin-embedder-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "permissions-policy",
    "referrer-policy",
    "reporting-endpoints",
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
];

/// Headers this crate refuses to send: obsolete, and harmful or ignored by browsers today.
const DEPRECATED: &[&str] = &[
    "expect-ct",
    "public-key-pins",
    "public-key-pins-report-only",
    "feature-policy",
    "x-content-security-policy",
    "x-webkit-csp",
];

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
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The content security policy (or its report-only twin) is invalid.
    Csp(CspError),
    /// The permissions policy is invalid.
    PermissionsPolicy(PermissionsPolicyError),
    /// HSTS `preload` without `includeSubDomains` or with a max-age under a year: the preload
    /// list would refuse the domain.
    HstsPreloadRequirements,
    /// A `Cache-Control` value that is not a valid header value.
    InvalidCacheControl(String),
    /// A reporting endpoint whose name is not a token, or whose URL is neither a path nor an
    /// `https://` (or loopback `http://`) URL.
    InvalidReportingEndpoint {
        /// The endpoint's name.
        name: String,
        /// Its URL.
        url: String,
    },
    /// A custom header whose name or value is invalid.
    InvalidHeader(String),
    /// A deprecated header (`Expect-CT`, `Public-Key-Pins`, `Feature-Policy`, ...) or
    /// `X-XSS-Protection` with a value other than `0`.
    DeprecatedHeader(String),
    /// A custom header that frames or routes the response (`Content-Length`, `Connection`,
    /// ...), carries state (`Set-Cookie`), or has a typed setter that checks its value (CSP,
    /// HSTS, ...).
    NotACustomHeader(String),
    /// A CSP `report-to` group that no [`reporting_endpoint`](SecurityHeadersBuilder::reporting_endpoint)
    /// defines: the browser would have nowhere to send reports.
    UnknownReportGroup(String),
    /// [`without`](SecurityHeadersBuilder::without) or
    /// [`mode_for`](SecurityHeadersBuilder::mode_for) names a header the layer does not set.
    HeaderNotSet(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Csp(e) => write!(f, "content security policy: {e}"),
            Self::PermissionsPolicy(e) => write!(f, "permissions policy: {e}"),
            Self::HstsPreloadRequirements => f.write_str(
                "HSTS preload needs includeSubDomains and a max-age of at least one year",
            ),
            Self::InvalidCacheControl(v) => write!(f, "invalid Cache-Control value {v:?}"),
            Self::InvalidReportingEndpoint { name, url } => write!(
                f,
                "invalid reporting endpoint {name:?} = {url:?}: the name must be a token and \
                 the URL a path or an https:// (or loopback http://) URL"
            ),
            Self::InvalidHeader(name) => write!(f, "invalid header {name:?}"),
            Self::DeprecatedHeader(name) => write!(
                f,
                "{name:?} is deprecated and not sent by this crate (X-XSS-Protection only as 0)"
            ),
            Self::NotACustomHeader(name) => write!(
                f,
                "{name:?} cannot be set as a custom header: it frames the response, carries \
                 state, or has a typed setter"
            ),
            Self::UnknownReportGroup(group) => write!(
                f,
                "CSP report-to {group:?} names no reporting endpoint; add reporting_endpoint({group:?}, url)"
            ),
            Self::HeaderNotSet(name) => write!(f, "{name:?} is not a header this layer sets"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Csp(e) => Some(e),
            Self::PermissionsPolicy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CspError> for ConfigError {
    fn from(e: CspError) -> Self {
        Self::Csp(e)
    }
}

/// The configuration of a [`SecurityHeadersLayer`], checked by [`build`](Self::build).
///
/// Start from [`new`](Self::new) (nothing but the removal of `Server` and `X-Powered-By`) or
/// from a preset, then set, replace or drop headers.
#[derive(Clone, Debug)]
#[must_use]
pub struct SecurityHeadersBuilder {
    hsts: Option<Hsts>,
    nosniff: bool,
    frame_options: Option<FrameOptions>,
    csp: Option<ContentSecurityPolicy>,
    csp_report_only: Option<ContentSecurityPolicy>,
    referrer_policy: Option<ReferrerPolicy>,
    permissions_policy: Option<PermissionsPolicy>,
    coop: Option<CrossOriginOpenerPolicy>,
    corp: Option<CrossOriginResourcePolicy>,
    coep: Option<CrossOriginEmbedderPolicy>,
    cache_control: Option<String>,
    xss_filter_off: bool,
    reporting_endpoints: Vec<(String, String)>,
    custom: Vec<(String, String)>,
    without: Vec<HeaderName>,
    strip: Vec<HeaderName>,
    mode: Mode,
    modes: Vec<(HeaderName, Mode)>,
}

impl Default for SecurityHeadersBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityHeadersBuilder {
    /// No header set; `Server` and `X-Powered-By` removed.
    pub fn new() -> Self {
        Self {
            hsts: None,
            nosniff: false,
            frame_options: None,
            csp: None,
            csp_report_only: None,
            referrer_policy: None,
            permissions_policy: None,
            coop: None,
            corp: None,
            coep: None,
            cache_control: None,
            xss_filter_off: false,
            reporting_endpoints: Vec::new(),
            custom: Vec::new(),
            without: Vec::new(),
            strip: vec![SERVER, X_POWERED_BY],
            mode: Mode::IfMissing,
            modes: Vec::new(),
        }
    }

    /// The [`SecurityHeadersLayer::json_api()`] preset, to adjust.
    pub fn json_api() -> Self {
        Self::new()
            .hsts(Hsts::recommended())
            .nosniff(true)
            .cache_control("no-store")
            .content_security_policy(ContentSecurityPolicy::json_api())
            .referrer_policy(ReferrerPolicy::NoReferrer)
    }

    /// The [`SecurityHeadersLayer::web_app()`] preset, to adjust.
    pub fn web_app() -> Self {
        Self::new()
            .hsts(Hsts::recommended())
            .nosniff(true)
            .cache_control("no-store")
            .content_security_policy(ContentSecurityPolicy::web_app())
            .referrer_policy(ReferrerPolicy::StrictOriginWhenCrossOrigin)
            .frame_options(FrameOptions::Deny)
            .permissions_policy(PermissionsPolicy::recommended())
            .cross_origin_opener_policy(CrossOriginOpenerPolicy::SameOrigin)
            .cross_origin_resource_policy(CrossOriginResourcePolicy::SameOrigin)
            .disable_xss_filter()
    }

    /// Sets `Strict-Transport-Security`. Browsers ignore it on plain-HTTP responses, so it is
    /// harmless behind a TLS-terminating proxy.
    pub fn hsts(mut self, hsts: Hsts) -> Self {
        self.hsts = Some(hsts);
        self
    }

    /// Sets (`true`) or drops `X-Content-Type-Options: nosniff`.
    pub fn nosniff(mut self, on: bool) -> Self {
        self.nosniff = on;
        self
    }

    /// Sets `X-Frame-Options`.
    pub fn frame_options(mut self, value: FrameOptions) -> Self {
        self.frame_options = Some(value);
        self
    }

    /// Sets the enforced `Content-Security-Policy`.
    pub fn content_security_policy(mut self, policy: ContentSecurityPolicy) -> Self {
        self.csp = Some(policy);
        self
    }

    /// Sets `Content-Security-Policy-Report-Only`: the browser reports what the policy would
    /// block and blocks nothing. Both headers may be set, for example to try a stricter policy
    /// while the current one is enforced; a per-request nonce is the same in both.
    pub fn content_security_policy_report_only(mut self, policy: ContentSecurityPolicy) -> Self {
        self.csp_report_only = Some(policy);
        self
    }

    /// Sets `Referrer-Policy`.
    pub fn referrer_policy(mut self, value: ReferrerPolicy) -> Self {
        self.referrer_policy = Some(value);
        self
    }

    /// Sets `Permissions-Policy`.
    pub fn permissions_policy(mut self, policy: PermissionsPolicy) -> Self {
        self.permissions_policy = Some(policy);
        self
    }

    /// Sets `Cross-Origin-Opener-Policy`.
    pub fn cross_origin_opener_policy(mut self, value: CrossOriginOpenerPolicy) -> Self {
        self.coop = Some(value);
        self
    }

    /// Sets `Cross-Origin-Resource-Policy`.
    pub fn cross_origin_resource_policy(mut self, value: CrossOriginResourcePolicy) -> Self {
        self.corp = Some(value);
        self
    }

    /// Sets `Cross-Origin-Embedder-Policy`.
    pub fn cross_origin_embedder_policy(mut self, value: CrossOriginEmbedderPolicy) -> Self {
        self.coep = Some(value);
        self
    }

    /// Sets `Cache-Control`, for example `no-store` or `no-store, no-cache, must-revalidate,
    /// private`.
    pub fn cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = Some(value.into());
        self
    }

    /// Sets `X-XSS-Protection: 0`, which turns off the legacy XSS filter of old browsers (the
    /// filter could be abused to leak data). No other value is offered.
    pub fn disable_xss_filter(mut self) -> Self {
        self.xss_filter_off = true;
        self
    }

    /// Adds an endpoint to `Reporting-Endpoints`, for CSP's `report-to`: `name="url"`. The URL
    /// is a path (`/csp-report`) or an `https://` URL (`http://` on loopback hosts only, as
    /// browsers only report to trustworthy origins).
    pub fn reporting_endpoint(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.reporting_endpoints.push((name.into(), url.into()));
        self
    }

    /// Adds any other header, such as `X-Permitted-Cross-Domain-Policies: none`. Deprecated
    /// headers are refused at build.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom.push((name.into(), value.into()));
        self
    }

    /// Drops a header the preset (or an earlier call) set, such as `X_FRAME_OPTIONS`.
    pub fn without(mut self, name: HeaderName) -> Self {
        self.without.push(name);
        self
    }

    /// Removes `name` from every response (besides `Server` and `X-Powered-By`).
    pub fn strip(mut self, name: HeaderName) -> Self {
        self.strip.push(name);
        self
    }

    /// Removes nothing from responses, not even `Server` and `X-Powered-By`.
    pub fn strip_nothing(mut self) -> Self {
        self.strip.clear();
        self
    }

    /// What every header does when the handler set it already (default [`Mode::IfMissing`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// What `name` does when the handler set it already, overriding [`mode`](Self::mode).
    pub fn mode_for(mut self, name: HeaderName, mode: Mode) -> Self {
        self.modes.push((name, mode));
        self
    }

    /// Checks every value and builds the header values once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an invalid CSP or permissions policy, HSTS preload without its
    /// requirements, an invalid cache-control value, reporting endpoint or custom header, or a
    /// deprecated header.
    pub fn build(self) -> Result<SecurityHeadersLayer, ConfigError> {
        let mut fixed: Vec<(HeaderName, HeaderValue)> = Vec::new();
        let mut nonced: Vec<(HeaderName, Template)> = Vec::new();

        if let Some(hsts) = self.hsts {
            if !hsts.is_preloadable() {
                return Err(ConfigError::HstsPreloadRequirements);
            }
            fixed.push((
                STRICT_TRANSPORT_SECURITY,
                text_value(&STRICT_TRANSPORT_SECURITY, hsts.to_string())?,
            ));
        }
        if self.nosniff {
            fixed.push((X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
        }
        if let Some(v) = self.frame_options {
            fixed.push((X_FRAME_OPTIONS, HeaderValue::from_static(v.as_str())));
        }
        if let Some(policy) = &self.csp_report_only {
            if policy.has_sandbox() {
                return Err(CspError::SandboxInReportOnly.into());
            }
            if !policy.reports() {
                return Err(CspError::ReportOnlyWithoutReporting.into());
            }
        }
        for policy in [&self.csp, &self.csp_report_only].into_iter().flatten() {
            if let Some(group) = policy.report_group() {
                if !self
                    .reporting_endpoints
                    .iter()
                    .any(|(name, _)| name == group)
                {
                    return Err(ConfigError::UnknownReportGroup(group.to_owned()));
                }
            }
        }
        for (name, policy) in [
            (CONTENT_SECURITY_POLICY, &self.csp),
            (CONTENT_SECURITY_POLICY_REPORT_ONLY, &self.csp_report_only),
        ] {
            match policy
                .as_ref()
                .map(ContentSecurityPolicy::compile)
                .transpose()?
            {
                Some(Template::Fixed(value)) => fixed.push((name, value)),
                Some(template) => nonced.push((name, template)),
                None => {}
            }
        }
        if let Some(v) = self.referrer_policy {
            fixed.push((REFERRER_POLICY, HeaderValue::from_static(v.as_str())));
        }
        if let Some(policy) = &self.permissions_policy {
            let text = policy.render().map_err(ConfigError::PermissionsPolicy)?;
            fixed.push((PERMISSIONS_POLICY, text_value(&PERMISSIONS_POLICY, text)?));
        }
        if let Some(v) = self.coop {
            fixed.push((
                CROSS_ORIGIN_OPENER_POLICY,
                HeaderValue::from_static(v.as_str()),
            ));
        }
        if let Some(v) = self.corp {
            fixed.push((
                CROSS_ORIGIN_RESOURCE_POLICY,
                HeaderValue::from_static(v.as_str()),
            ));
        }
        if let Some(v) = self.coep {
            fixed.push((
                CROSS_ORIGIN_EMBEDDER_POLICY,
                HeaderValue::from_static(v.as_str()),
            ));
        }
        if let Some(v) = self.cache_control {
            let value = HeaderValue::from_str(&v)
                .ok()
                .filter(|_| !v.trim().is_empty() && v.bytes().all(|b| b.is_ascii() && b >= b' '))
                .ok_or(ConfigError::InvalidCacheControl(v))?;
            fixed.push((CACHE_CONTROL, value));
        }
        if self.xss_filter_off {
            fixed.push((X_XSS_PROTECTION, HeaderValue::from_static("0")));
        }
        if !self.reporting_endpoints.is_empty() {
            let mut text = String::new();
            for (i, (name, url)) in self.reporting_endpoints.iter().enumerate() {
                if !csp::is_sf_key(name) || !is_report_url(url) {
                    return Err(ConfigError::InvalidReportingEndpoint {
                        name: name.clone(),
                        url: url.clone(),
                    });
                }
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(&format!("{name}=\"{url}\""));
            }
            fixed.push((REPORTING_ENDPOINTS, text_value(&REPORTING_ENDPOINTS, text)?));
        }
        for (name, value) in self.custom {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| ConfigError::InvalidHeader(name.clone()))?;
            if DEPRECATED.contains(&header.as_str()) || (header == X_XSS_PROTECTION && value != "0")
            {
                return Err(ConfigError::DeprecatedHeader(name));
            }
            if NOT_CUSTOM.contains(&header.as_str())
                || header.as_str().starts_with("access-control-")
            {
                return Err(ConfigError::NotACustomHeader(name));
            }
            let value = HeaderValue::from_str(&value)
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii() && b >= b' '))
                .ok_or(ConfigError::InvalidHeader(name))?;
            fixed.retain(|(n, _)| *n != header);
            nonced.retain(|(n, _)| *n != header);
            fixed.push((header, value));
        }

        for name in self.without.iter().chain(self.modes.iter().map(|(n, _)| n)) {
            let set = fixed.iter().any(|(n, _)| n == name) || nonced.iter().any(|(n, _)| n == name);
            if !set {
                return Err(ConfigError::HeaderNotSet(name.to_string()));
            }
        }
        let mode_of = |name: &HeaderName| {
            self.modes
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or(self.mode, |(_, m)| *m)
        };
        let kept = |name: &HeaderName| !self.without.contains(name);
        let fixed: Box<[_]> = fixed
            .into_iter()
            .filter(|(n, _)| kept(n))
            .map(|(n, v)| {
                let mode = mode_of(&n);
                (n, v, mode)
            })
            .collect();
        let nonced: Box<[_]> = nonced
            .into_iter()
            .filter(|(n, _)| kept(n))
            .map(|(n, t)| {
                let mode = mode_of(&n);
                (n, t, mode)
            })
            .collect();
        Ok(SecurityHeadersLayer {
            compiled: Arc::new(Compiled {
                fixed,
                nonced,
                strip: self.strip.into_boxed_slice(),
            }),
        })
    }
}

/// A header value from text this module rendered from checked parts.
fn text_value(name: &HeaderName, text: String) -> Result<HeaderValue, ConfigError> {
    HeaderValue::try_from(text).map_err(|_| ConfigError::InvalidHeader(name.to_string()))
}

fn is_report_url(url: &str) -> bool {
    if !csp::is_uri_reference(url) {
        return false;
    }
    if url.starts_with('/') {
        return !url.starts_with("//");
    }
    let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, port))
                if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) =>
            {
                &authority[..addr.len() + 2]
            }
            _ => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => authority,
        },
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    host_ok && (secure || matches!(host, "localhost" | "127.0.0.1" | "[::1]"))
}

fn is_port(port: &str) -> bool {
    port.parse::<u16>().is_ok()
}

#[derive(Debug)]
struct Compiled {
    fixed: Box<[(HeaderName, HeaderValue, Mode)]>,
    nonced: Box<[(HeaderName, Template, Mode)]>,
    strip: Box<[HeaderName]>,
}

impl Compiled {
    fn apply(&self, headers: &mut HeaderMap, nonce: Option<&CspNonce>) {
        for name in &self.strip {
            headers.remove(name);
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
#[derive(Clone)]
pub struct SecurityHeadersLayer {
    compiled: Arc<Compiled>,
}

impl fmt::Debug for SecurityHeadersLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityHeadersLayer")
            .field("headers", &self.compiled.fixed)
            .field("nonced", &self.compiled.nonced)
            .field("strip", &self.compiled.strip)
            .finish()
    }
}

const HSTS_RECOMMENDED: HeaderValue =
    HeaderValue::from_static("max-age=31536000; includeSubDomains; preload");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

impl SecurityHeadersLayer {
    /// The headers of a JSON API; see the [module docs](self). Same as
    /// `SecurityHeadersBuilder::json_api().build()`, without the `Result`.
    pub fn json_api() -> Self {
        Self::preset(vec![
            (STRICT_TRANSPORT_SECURITY, HSTS_RECOMMENDED),
            (X_CONTENT_TYPE_OPTIONS, NOSNIFF),
            (
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
            ),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (CACHE_CONTROL, NO_STORE),
        ])
    }

    /// The headers of a web application; see the [module docs](self). Same as
    /// `SecurityHeadersBuilder::web_app().build()`, without the `Result`.
    pub fn web_app() -> Self {
        Self::preset(vec![
            (STRICT_TRANSPORT_SECURITY, HSTS_RECOMMENDED),
            (X_CONTENT_TYPE_OPTIONS, NOSNIFF),
            (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                     base-uri 'self'; form-action 'self'",
                ),
            ),
            (
                REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            ),
            (
                PERMISSIONS_POLICY,
                HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
            ),
            (
                CROSS_ORIGIN_OPENER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (
                CROSS_ORIGIN_RESOURCE_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (CACHE_CONTROL, NO_STORE),
            (X_XSS_PROTECTION, HeaderValue::from_static("0")),
        ])
    }

    fn preset(headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        Self {
            compiled: Arc::new(Compiled {
                fixed: headers
                    .into_iter()
                    .map(|(n, v)| (n, v, Mode::IfMissing))
                    .collect(),
                nonced: Box::new([]),
                strip: Box::new([SERVER, X_POWERED_BY]),
            }),
        }
    }

    /// A builder with nothing set, to configure every header.
    pub fn builder() -> SecurityHeadersBuilder {
        SecurityHeadersBuilder::new()
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            compiled: Arc::clone(&self.compiled),
        }
    }
}

/// The service of a [`SecurityHeadersLayer`].
#[derive(Clone)]
pub struct SecurityHeaders<S> {
    inner: S,
    compiled: Arc<Compiled>,
}

impl<S: fmt::Debug> fmt::Debug for SecurityHeaders<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityHeaders")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeaders<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let nonce = if self.compiled.nonced.is_empty() {
            None
        } else {
            let nonce = CspNonce::generate();
            req.extensions_mut().insert(nonce);
            Some(nonce)
        };
        ResponseFuture {
            future: self.inner.call(req),
            compiled: Arc::clone(&self.compiled),
            nonce,
        }
    }
}

pin_project! {
    /// The response future of [`SecurityHeaders`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        compiled: Arc<Compiled>,
        nonce: Option<CspNonce>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.future.poll(cx) {
            Poll::Ready(res) => res?,
            Poll::Pending => return Poll::Pending,
        };
        this.compiled.apply(res.headers_mut(), this.nonce.as_ref());
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(layer: &SecurityHeadersLayer, existing: HeaderMap) -> HeaderMap {
        let mut headers = existing;
        let nonce = CspNonce::generate();
        layer.compiled.apply(&mut headers, Some(&nonce));
        headers
    }

    #[test]
    fn preset_layers_equal_their_builders() {
        for (preset, builder) in [
            (
                SecurityHeadersLayer::json_api(),
                SecurityHeadersBuilder::json_api(),
            ),
            (
                SecurityHeadersLayer::web_app(),
                SecurityHeadersBuilder::web_app(),
            ),
        ] {
            let built = builder.build().unwrap();
            assert_eq!(
                applied(&preset, HeaderMap::new()),
                applied(&built, HeaderMap::new())
            );
            assert_eq!(preset.compiled.fixed.len(), built.compiled.fixed.len());
        }
    }

    #[test]
    fn reporting_endpoint_names_and_report_groups() {
        let build = |name: &str, group: &str| {
            SecurityHeadersBuilder::new()
                .content_security_policy(
                    ContentSecurityPolicy::new()
                        .default_src([Source::SelfOrigin])
                        .report_to(group),
                )
                .reporting_endpoint(name, "/reports")
                .build()
        };
        assert!(build("csp-endpoint.v2", "csp-endpoint.v2").is_ok());
        assert_eq!(
            build("CSP", "CSP").unwrap_err(),
            ConfigError::Csp(CspError::InvalidReportTo("CSP".into()))
        );
        assert_eq!(
            build("_csp", "csp").unwrap_err(),
            ConfigError::UnknownReportGroup("csp".into())
        );
        assert!(matches!(
            SecurityHeadersBuilder::new()
                .reporting_endpoint("_csp", "/reports")
                .build(),
            Err(ConfigError::InvalidReportingEndpoint { .. })
        ));
        assert_eq!(
            build("csp", "nowhere").unwrap_err(),
            ConfigError::UnknownReportGroup("nowhere".into())
        );
    }

    #[test]
    fn report_only_policies_must_report_and_cannot_sandbox() {
        let report_only = |policy: ContentSecurityPolicy| {
            SecurityHeadersBuilder::new()
                .content_security_policy_report_only(policy)
                .build()
                .map(|_| ())
        };
        assert_eq!(
            report_only(ContentSecurityPolicy::new().default_src([Source::SelfOrigin])),
            Err(ConfigError::Csp(CspError::ReportOnlyWithoutReporting))
        );
        assert_eq!(
            report_only(
                ContentSecurityPolicy::new()
                    .sandbox(Vec::<String>::new())
                    .report_uri("/r")
            ),
            Err(ConfigError::Csp(CspError::SandboxInReportOnly))
        );
        assert_eq!(
            report_only(
                ContentSecurityPolicy::new()
                    .default_src([Source::SelfOrigin])
                    .report_uri("/a;b")
            ),
            Err(ConfigError::Csp(CspError::InvalidReportUri("/a;b".into())))
        );
        assert_eq!(
            report_only(
                ContentSecurityPolicy::new()
                    .default_src([Source::SelfOrigin])
                    .report_uri("/r")
            ),
            Ok(())
        );
    }

    #[test]
    fn custom_headers_cannot_bypass_typed_setters_or_framing() {
        for name in [
            "Content-Length",
            "Transfer-Encoding",
            "Set-Cookie",
            "Connection",
            "Content-Security-Policy",
            "Strict-Transport-Security",
            "Access-Control-Allow-Origin",
        ] {
            assert_eq!(
                SecurityHeadersBuilder::new()
                    .header(name, "x")
                    .build()
                    .unwrap_err(),
                ConfigError::NotACustomHeader(name.into()),
                "{name}"
            );
        }
    }

    #[test]
    fn naming_a_header_the_layer_does_not_set_is_an_error() {
        assert_eq!(
            SecurityHeadersBuilder::json_api()
                .without(X_FRAME_OPTIONS)
                .build()
                .unwrap_err(),
            ConfigError::HeaderNotSet("x-frame-options".into())
        );
        assert_eq!(
            SecurityHeadersBuilder::json_api()
                .mode_for(http::header::ETAG, Mode::Overwrite)
                .build()
                .unwrap_err(),
            ConfigError::HeaderNotSet("etag".into())
        );
    }

    #[test]
    fn report_urls() {
        assert!(!is_report_url("http://localhost:1@evil.example/r"));
        assert!(!is_report_url("https://user@reports.example.com/r"));
        assert!(!is_report_url("https://?"));
        assert!(!is_report_url("https:///path"));
        assert!(!is_report_url("http://localhost.evil.example/r"));
        assert!(!is_report_url("http://127.0.0.1:99999/r"));
        assert!(is_report_url("http://localhost/r?x=1"));
        assert!(is_report_url("/csp-report"));
        assert!(is_report_url("https://reports.example.com/csp"));
        assert!(is_report_url("http://localhost:3000/csp"));
        assert!(is_report_url("http://127.0.0.1/csp"));
        assert!(is_report_url("http://[::1]:8080/csp"));
        assert!(!is_report_url("http://reports.example.com/csp"));
        assert!(!is_report_url("//evil.example.com/csp"));
        assert!(!is_report_url("https://a.com/\"x"));
        assert!(!is_report_url("https://a.com/x,y"));
    }

    #[test]
    fn builder_errors() {
        assert_eq!(
            SecurityHeadersBuilder::new()
                .hsts(Hsts::new(HSTS_PRELOAD_MIN_AGE).preload())
                .build()
                .unwrap_err(),
            ConfigError::HstsPreloadRequirements
        );
        assert_eq!(
            SecurityHeadersBuilder::new()
                .cache_control("no-store\r\nSet-Cookie: a=b")
                .build()
                .unwrap_err(),
            ConfigError::InvalidCacheControl("no-store\r\nSet-Cookie: a=b".into())
        );
        assert_eq!(
            SecurityHeadersBuilder::new()
                .header("Expect-CT", "max-age=0")
                .build()
                .unwrap_err(),
            ConfigError::DeprecatedHeader("Expect-CT".into())
        );
        assert_eq!(
            SecurityHeadersBuilder::new()
                .header("X-XSS-Protection", "1; mode=block")
                .build()
                .unwrap_err(),
            ConfigError::DeprecatedHeader("X-XSS-Protection".into())
        );
        assert_eq!(
            SecurityHeadersBuilder::new()
                .header("bad name", "x")
                .build()
                .unwrap_err(),
            ConfigError::InvalidHeader("bad name".into())
        );
        assert_eq!(
            SecurityHeadersBuilder::new()
                .reporting_endpoint("csp", "http://reports.example.com")
                .build()
                .unwrap_err(),
            ConfigError::InvalidReportingEndpoint {
                name: "csp".into(),
                url: "http://reports.example.com".into()
            }
        );
    }
}
