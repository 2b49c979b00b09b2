//! The builder: trusted origins and bypass paths, checked once.

use std::sync::Arc;

use super::ConfigError;
use super::bypass::BypassPaths;
use super::layer::{Config, CsrfLayer};
use crate::cors::origin::{Refusal, parse_config_origin_any_scheme};

/// Builds a [`CsrfLayer`]; see [`CsrfLayer::builder`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct CsrfBuilder {
    trusted: Vec<String>,
    bypass: Vec<String>,
}

impl CsrfBuilder {
    /// Lets through every request whose `Origin` is `origin`, whatever `Sec-Fetch-Site` says:
    /// a front end on another origin that posts to this API.
    ///
    /// The origin is `scheme://host[:port]`. An `http` or `https` origin is parsed as
    /// [`CorsBuilder::allow_origin`](crate::cors::CorsBuilder::allow_origin) parses an exact
    /// origin: stored as a browser sends it (lowercase, default port removed, IPv6 compressed),
    /// so `HTTPS://App.Example.com:443` trusts the `https://app.example.com` a browser sends.
    /// Another scheme is taken as written (lowercased), as Go's `AddTrustedOrigin` takes it:
    /// the origin of an app's own pages, `capacitor://localhost` (Capacitor on iOS),
    /// `tauri://localhost`, `chrome-extension://<id>`. Such an origin names a framework, not
    /// an app: every Capacitor app sends `capacitor://localhost`, each from its own web view
    /// and its own cookies. Patterns (`*.`) are not accepted here: trust origins one by one.
    pub fn add_trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted.push(origin.into());
        self
    }

    /// [`add_trusted_origin`](Self::add_trusted_origin) for each of `origins`.
    pub fn trusted_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.trusted.extend(origins.into_iter().map(Into::into));
        self
    }

    /// Lets through every request to `pattern`, unchecked: a webhook receiver that other sites
    /// post to, which must protect itself (a signature, a token).
    ///
    /// `pattern` is an exact path (`/hooks/stripe`) or a prefix ending in `/*`
    /// (`/hooks/*` bypasses `/hooks/` and every path under it, not `/hooks` itself), for every
    /// method, or for one when a method and a space come first (`POST /hooks/*`, as Go's
    /// patterns write it). It is matched against the raw request path, case-sensitively; a
    /// request path that could be normalized into another one (a `.` or `..` segment, plain or
    /// percent-encoded, an encoded `/` or `\`, a backslash) is never bypassed. Go's `{name}`
    /// wildcards are refused (a [`ConfigError`]), not matched literally.
    pub fn bypass_path(mut self, pattern: impl Into<String>) -> Self {
        self.bypass.push(pattern.into());
        self
    }

    /// [`bypass_path`](Self::bypass_path) for each of `patterns`.
    pub fn bypass_paths<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.bypass.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidTrustedOrigin`] for an origin no browser sends (not
    /// `scheme://host[:port]`, a path or a trailing `/`, `null`, an http or https host no
    /// browser accepts), [`ConfigError::InvalidBypassPath`] for a pattern
    /// that is not an absolute path or `/prefix/*` (after an optional method).
    pub fn build(self) -> Result<CsrfLayer, ConfigError> {
        let mut trusted = Vec::with_capacity(self.trusted.len());
        for entry in &self.trusted {
            if entry.contains('*') {
                return Err(ConfigError::InvalidTrustedOrigin {
                    origin: entry.clone(),
                    reason: "a trusted origin is exact: no `*` pattern".to_owned(),
                });
            }
            let origin = parse_config_origin_any_scheme(entry.trim()).map_err(|refusal| {
                ConfigError::InvalidTrustedOrigin {
                    origin: entry.clone(),
                    reason: reason(refusal),
                }
            })?;
            if !trusted.contains(&origin) {
                trusted.push(origin);
            }
        }
        let mut bypass = BypassPaths::default();
        for pattern in &self.bypass {
            bypass
                .add(pattern)
                .map_err(|reason| ConfigError::InvalidBypassPath {
                    pattern: pattern.clone(),
                    reason,
                })?;
        }
        Ok(CsrfLayer {
            config: Arc::new(Config { trusted, bypass }),
        })
    }
}

/// What is wrong with a trusted origin, in words.
fn reason(refusal: Refusal) -> String {
    match refusal {
        Refusal::Malformed(reason) => reason.to_owned(),
        Refusal::Scheme(scheme) => {
            format!("the scheme {scheme:?}: only http and https origins can be trusted")
        }
        Refusal::TrailingDot => "the host ends in a dot no browser sends".to_owned(),
        Refusal::NotIpv4 => {
            "the host ends in a number but is not an IPv4 address: browsers refuse it".to_owned()
        }
        Refusal::Ipv4Form(browser_form) => format!(
            "an IPv4 address in a form browsers never send; a browser sends {browser_form:?}"
        ),
        Refusal::Punycode { label, reason } => format!("the label {label:?} is refused: {reason}"),
    }
}
