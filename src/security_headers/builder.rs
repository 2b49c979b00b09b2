//! [`SecurityHeadersBuilder`]: every header, checked once when the layer is built.

use std::sync::Arc;

use http::HeaderValue;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY, HeaderName,
    REFERRER_POLICY, SERVER, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    X_XSS_PROTECTION,
};

use super::csp::{self, Template};
use super::{
    CROSS_ORIGIN_EMBEDDER_POLICY, CROSS_ORIGIN_OPENER_POLICY, CROSS_ORIGIN_RESOURCE_POLICY,
    Compiled, ConfigError, ContentSecurityPolicy, CrossOriginEmbedderPolicy,
    CrossOriginOpenerPolicy, CrossOriginResourcePolicy, CspError, FrameOptions, Hsts, Mode,
    PERMISSIONS_POLICY, PermissionsPolicy, REPORTING_ENDPOINTS, ReferrerPolicy,
    SecurityHeadersLayer, X_POWERED_BY,
};
use crate::core::util::split_origin;

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

/// The response headers the [OWASP Secure Headers Project](https://owasp.org/www-project-secure-headers/)
/// lists for removal (`ci/headers_remove.json` of 2026-07-19, lowercased): server, framework,
/// CMS and version banners, proxy and tracing internals. [`SecurityHeadersBuilder::strip_owasp_list`]
/// removes them all; the presets remove only `Server` and `X-Powered-By`.
pub const OWASP_REMOVED_HEADERS: &[&str] = &[
    "$wsep",
    "host-header",
    "k-proxy-request",
    "liferay-portal",
    "oraclecommercecloud-version",
    "pega-host",
    "powered-by",
    "product",
    "server",
    "sourcemap",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-atmosphere-error",
    "x-atmosphere-first-request",
    "x-atmosphere-tracking-id",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-spanid",
    "x-b3-traceid",
    "x-beserver",
    "x-backside-transport",
    "x-cf-powered-by",
    "x-cms",
    "x-calculatedbetarget",
    "x-cocoon-version",
    "x-content-encoded-by",
    "x-datadog-origin",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-datadog-tags",
    "x-datadog-trace-id",
    "x-diaginfo",
    "x-envoy-attempt-count",
    "x-envoy-external-address",
    "x-envoy-internal",
    "x-envoy-original-dst-host",
    "x-envoy-upstream-service-time",
    "x-feserver",
    "x-framework",
    "x-generated-by",
    "x-generator",
    "x-gitlab-meta",
    "x-jitsi-release",
    "x-joomla-version",
    "x-kong-admin-latency",
    "x-kong-client-latency",
    "x-kong-proxy-latency",
    "x-kong-request-id",
    "x-kong-response-latency",
    "x-kong-third-party-latency",
    "x-kong-total-latency",
    "x-kong-upstream-latency",
    "x-kong-upstream-status",
    "x-kubernetes-pf-flowschema-ui",
    "x-kubernetes-pf-prioritylevel-uid",
    "x-litespeed-cache",
    "x-litespeed-purge",
    "x-litespeed-tag",
    "x-litespeed-vary",
    "x-litespeed-cache-control",
    "x-mod-pagespeed",
    "x-nextjs-cache",
    "x-nextjs-matched-path",
    "x-nextjs-page",
    "x-nextjs-redirect",
    "x-owa-version",
    "x-old-content-length",
    "x-oneagent-js-injection",
    "x-page-speed",
    "x-php-version",
    "x-powered-by",
    "x-powered-by-plesk",
    "x-powered-cms",
    "x-redirect-by",
    "x-server-powered-by",
    "x-sourcefiles",
    "x-sourcemap",
    "x-turbo-charged-by",
    "x-tyk-trace-id",
    "x-umbraco-version",
    "x-varnish-backend",
    "x-varnish-server",
    "x-woodpecker-version",
    "x-dtagentid",
    "x-dthealthcheck",
    "x-dtinjectedservlet",
    "x-ruxit-js-agent",
];

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

    /// Sets (`true`) or drops `X-XSS-Protection: 0`, which turns off the legacy XSS filter of
    /// old browsers (the filter could be abused to leak data). No other value is offered.
    pub fn disable_xss_filter(mut self, on: bool) -> Self {
        self.xss_filter_off = on;
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

    /// Removes every header of [`OWASP_REMOVED_HEADERS`] from responses (with `Server` and
    /// `X-Powered-By`): `X-AspNet-Version`, `X-Generator`, `X-Envoy-Upstream-Service-Time`,
    /// tracing ids, ... Useful in front of upstreams this service does not control (a gateway);
    /// it drops tracing headers (`X-B3-*`, `X-Datadog-*`) that clients may rely on, so it is
    /// not part of the presets.
    pub fn strip_owasp_list(mut self) -> Self {
        for name in OWASP_REMOVED_HEADERS {
            // Every entry is a valid lowercase header name (tested); an invalid one is skipped.
            if let Ok(name) = HeaderName::try_from(*name)
                && !self.strip.contains(&name)
            {
                self.strip.push(name);
            }
        }
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
            if policy.upgrades() {
                return Err(CspError::UpgradeInReportOnly.into());
            }
            if !policy.reports() {
                return Err(CspError::ReportOnlyWithoutReporting.into());
            }
        }
        for policy in [&self.csp, &self.csp_report_only].into_iter().flatten() {
            if let Some(group) = policy.report_group()
                && !self
                    .reporting_endpoints
                    .iter()
                    .any(|(name, _)| name == group)
            {
                return Err(ConfigError::UnknownReportGroup(group.to_owned()));
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
                // A structured-field dictionary keeps the last member of a name: a second
                // endpoint of the same name would silently replace the first.
                if self.reporting_endpoints[..i].iter().any(|(n, _)| n == name) {
                    return Err(ConfigError::DuplicateReportingEndpoint(name.clone()));
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

/// A reporting endpoint's URL: a path, or an `https://` URL (`http://` on loopback hosts only,
/// as browsers only report to trustworthy origins), with nothing that ends a structured-field
/// string.
pub(super) fn is_report_url(url: &str) -> bool {
    if !csp::is_uri_reference(url) {
        return false;
    }
    if url.starts_with('/') {
        return !url.starts_with("//");
    }
    let Some(authority) = url.find("://").map(|i| i + 3) else {
        return false;
    };
    let end = url[authority..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority + i);
    // `scheme://host[:port]`, checked as origins are: no userinfo, a 16-bit port.
    let Some((scheme, host, _)) = split_origin(&url[..end]) else {
        return false;
    };
    if host.starts_with('*') {
        return false;
    }
    match scheme {
        "https" => true,
        "http" => matches!(host, "localhost" | "127.0.0.1" | "[::1]"),
        _ => false,
    }
}
