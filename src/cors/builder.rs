//! [`CorsBuilder`]: the policy as given, checked once into a [`CorsLayer`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderValue, Method};

use super::layer::{Config, CorsLayer, vary_actual, vary_preflight};
use super::origin::{
    AsyncPredicate, Origins, Refusal, SyncPredicate, parse_config_origin, parse_pattern,
};
use super::{ConfigError, DEFAULT_EXPOSE_HEADERS};

/// The longest `Access-Control-Max-Age` sent, in seconds: Firefox's cap (Chromium's is 2 hours).
const MAX_AGE_CAP: u64 = 86_400;

/// Builds a [`CorsLayer`]; see the [module docs](super).
#[derive(Debug)]
#[must_use]
pub struct CorsBuilder {
    origins: Vec<String>,
    any_origin: bool,
    predicate: Option<SyncPredicate>,
    async_predicate: Option<AsyncPredicate>,
    credentials: bool,
    methods: Vec<Method>,
    headers: Vec<String>,
    expose: Vec<String>,
    max_age: Option<Duration>,
    private_network: bool,
    reject_disallowed: bool,
    mirror_headers: bool,
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
            expose: DEFAULT_EXPOSE_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            max_age: None,
            private_network: false,
            reject_disallowed: false,
            mirror_headers: false,
        }
    }
}

impl CorsBuilder {
    /// Allows an exact origin (`https://app.example.com`, `http://localhost:5173`), an anchored
    /// subdomain pattern (`https://*.example.com`), or either with any port (`:*`:
    /// `http://localhost:*` for a development server on whatever port it takes,
    /// `https://*.example.com:*`; the scheme's default port included).
    ///
    /// An entry is compared with the `Origin` header as browsers write it, the
    /// [WHATWG URL Standard](https://url.spec.whatwg.org/#concept-url-origin)'s serialization, so
    /// it is stored in that form:
    ///
    /// - **Normalized:** the scheme and host lowercased (`HTTP://EXAMPLE.com` →
    ///   `http://example.com`, `XN--BCHER-KVA.example` → `xn--bcher-kva.example`); the default
    ///   port removed (`:80` on http, `:443` on https), leading zeros of a port too; an IPv6
    ///   address compressed in lowercase hex as WHATWG serializes it (`[0:0::1]` → `[::1]`,
    ///   `[1:0:0:2::3:0]` → `[1::2:0:0:3:0]`, `[::ffff:127.127.127.127]` → `[::ffff:7f7f:7f7f]`).
    /// - **Refused at [`build`](Self::build)**, as no browser sends them:
    ///   - a scheme other than `http` or `https` (`file://example.com`, `ws://…`,
    ///     `chrome-extension://…`): [`ConfigError::UnsupportedScheme`] — a `file:` page sends
    ///     `Origin: null`; allow an extension's origin with
    ///     [`allow_origin_predicate`](Self::allow_origin_predicate);
    ///   - an IP address ending in a dot (`http://127.0.0.1.`) or a name ending in an empty
    ///     label (`https://example.com..`): [`ConfigError::TrailingDot`] (one trailing dot on
    ///     a name, `https://example.com.`, is an origin of its own and accepted);
    ///   - a host whose last label is a number (all digits, or `0x…`) but which is not an IPv4
    ///     address (`foo.bar.255`, `foo.0x1`, `1.2.3.256`): [`ConfigError::NotAnIpv4Address`];
    ///   - an IPv4 address other than in dotted decimal (`127.1`, `0x7f.1`, `2130706433`,
    ///     `010.0.0.1`): [`ConfigError::Ipv4NotDottedDecimal`], which names the origin a browser
    ///     sends instead. Refused rather than rewritten: a leading zero is octal there
    ///     (`010.0.0.1` is `8.0.0.1`), rarely what was meant;
    ///   - an `xn--` label that is not valid punycode (`xn--f`), decodes to ASCII only
    ///     (`xn--abc-`), or decodes to a character IDNA does not allow in a host (an uppercase
    ///     letter, a space, a control, a compatibility form such as `²` or a fullwidth letter, a
    ///     leading combining mark): [`ConfigError::InvalidPunycode`]. The full UTS 46 rules
    ///     (NFC, the bidi rule, unassigned code points) need Unicode tables this crate does not
    ///     carry: an entry breaking only those is accepted and never matches;
    ///   - a host in Unicode (`https://exämple.com`): write it in punycode
    ///     (`https://xn--exmple-cua.com`), as browsers send it; anything else not of the form
    ///     `scheme://host[:port]` (a path, even `/`, userinfo, `*` outside a pattern's left-most
    ///     label): [`ConfigError::InvalidOrigin`] (or [`ConfigError::InvalidPattern`]).
    ///
    /// A pattern's fixed part follows the same rules, and must be a registrable domain name
    /// (not an IP address, not a public suffix such as `com` or `github.io`).
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
        self.predicate = Some(SyncPredicate::new(predicate));
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
        self.async_predicate = Some(AsyncPredicate::new(predicate));
        self
    }

    /// Whether to answer `Access-Control-Allow-Origin: *`: any site may read responses, without
    /// credentials (default `false`). Refused at build together with
    /// [`allow_credentials`](Self::allow_credentials), and together with listed origins or a
    /// predicate ([`ConfigError::AnyOriginWithList`]), which it would make pointless.
    pub fn allow_any_origin(mut self, on: bool) -> Self {
        self.any_origin = on;
        self
    }

    /// Whether cookies and HTTP authentication may be sent (`Access-Control-Allow-Credentials`;
    /// default `false`).
    pub fn allow_credentials(mut self, on: bool) -> Self {
        self.credentials = on;
        self
    }

    /// The methods preflights allow (default `GET, HEAD, POST`).
    pub fn allow_methods<I: IntoIterator<Item = Method>>(mut self, methods: I) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request headers preflights allow, besides the CORS-safelisted ones (default none).
    /// `*` allows any (refused with credentials) except `Authorization`, which the Fetch
    /// standard never lets a `*` cover: list it by name beside `*` to allow it.
    pub fn allow_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// Preflights allow the request headers the browser asks for: its
    /// `Access-Control-Request-Headers`, every line of it, mirrored in
    /// `Access-Control-Allow-Headers` (default off). Unlike `*` it covers `Authorization`, and
    /// it is allowed with credentials (as tower-http's `AllowHeaders::mirror_request`): for an
    /// API that accepts whatever headers its own pages send, from the origins it allows. A
    /// preflight without that header gets the [`allow_headers`](Self::allow_headers) list.
    pub fn mirror_request_headers(mut self, on: bool) -> Self {
        self.mirror_headers = on;
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

    /// How long browsers may cache a preflight (`Access-Control-Max-Age`, whole seconds,
    /// rounded down). Browsers cap it (Chromium at two hours, Firefox at 24 hours), so more than
    /// 24 hours is sent as 24 hours: Chromium would read a value past `i64::MAX` seconds as no
    /// value at all and cache for 5 seconds only.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Answers Private Network Access preflights (`Access-Control-Allow-Private-Network: true`
    /// when the preflight asks with `Access-Control-Request-Private-Network: true`).
    pub fn allow_private_network(mut self, on: bool) -> Self {
        self.private_network = on;
        self
    }

    /// Whether requests from a disallowed origin are answered `403` (a problem) instead of
    /// served without CORS headers (default `false`: the browser then hides the response).
    ///
    /// The API's own pages are never refused: a request whose `Sec-Fetch-Site` is
    /// `same-origin`, or, from a browser without Fetch Metadata, whose `Origin` is the
    /// request's own host (as the [CSRF layer](crate::csrf) compares them), passes without
    /// CORS headers. Answers then vary by `Sec-Fetch-Site` too.
    pub fn reject_disallowed(mut self, on: bool) -> Self {
        self.reject_disallowed = on;
        self
    }

    /// Checks the configuration and builds every header value once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for any origin or `*` with credentials, `null`, a malformed origin or
    /// pattern or one no browser sends (see [`allow_origin`](Self::allow_origin)), an invalid
    /// header name, or no allowed origin at all.
    pub fn build(self) -> Result<CorsLayer, ConfigError> {
        if self.credentials && self.any_origin {
            return Err(ConfigError::AnyOriginWithCredentials);
        }
        let wildcard = |list: &[String]| list.iter().any(|h| h == "*");
        let any_method = self.methods.iter().any(|m| m.as_str() == "*");
        if self.credentials && (wildcard(&self.headers) || wildcard(&self.expose) || any_method) {
            return Err(ConfigError::WildcardWithCredentials);
        }
        if self.methods.is_empty() {
            return Err(ConfigError::NoMethod);
        }
        let listed =
            !self.origins.is_empty() || self.predicate.is_some() || self.async_predicate.is_some();
        if self.any_origin && listed {
            return Err(ConfigError::AnyOriginWithList);
        }
        let origins = if self.any_origin {
            Origins::Any
        } else {
            let mut exact = Vec::new();
            let mut patterns = Vec::new();
            for origin in &self.origins {
                let trimmed = origin.trim();
                if trimmed.eq_ignore_ascii_case("null") {
                    return Err(ConfigError::NullOrigin);
                }
                if trimmed == "*" {
                    return Err(ConfigError::InvalidOrigin {
                        origin: origin.clone(),
                        reason: "use allow_any_origin(true) for `*`",
                    });
                }
                if trimmed.contains("://*") || trimmed.ends_with(":*") {
                    patterns.push(parse_pattern(trimmed).map_err(|refusal| {
                        refused(origin, refusal, |reason| ConfigError::InvalidPattern {
                            pattern: origin.clone(),
                            reason,
                        })
                    })?);
                } else {
                    exact.push(parse_config_origin(trimmed).map_err(|refusal| {
                        refused(origin, refusal, |reason| ConfigError::InvalidOrigin {
                            origin: origin.clone(),
                            reason,
                        })
                    })?);
                }
            }
            if exact.is_empty()
                && patterns.is_empty()
                && self.predicate.is_none()
                && self.async_predicate.is_none()
            {
                return Err(ConfigError::NoOrigin);
            }
            // A predicate that reflects anything would accept this name, reserved by RFC 2606.
            let probe = "https://tower-shield-cors-probe.invalid";
            if self.credentials && self.predicate.as_ref().is_some_and(|p| p.allows(probe)) {
                return Err(ConfigError::ReflectingPredicateWithCredentials);
            }
            Origins::List {
                exact,
                patterns,
                predicate: self.predicate,
                async_predicate: self.async_predicate,
            }
        };
        let methods = join(self.methods.iter().map(Method::as_str)).ok_or(ConfigError::NoMethod)?;
        Ok(CorsLayer {
            config: Arc::new(Config {
                origins,
                credentials: self.credentials,
                methods,
                headers: header_list(&self.headers)?,
                expose: header_list(&self.expose)?,
                max_age: self
                    .max_age
                    .map(|d| HeaderValue::from(d.as_secs().min(MAX_AGE_CAP))),
                mirror_headers: self.mirror_headers,
                private_network: self.private_network,
                reject_disallowed: self.reject_disallowed,
                vary: if self.reject_disallowed {
                    crate::core::util::Vary::new(&["origin", "sec-fetch-site"])
                } else {
                    vary_actual()
                },
                vary_preflight: vary_preflight(self.private_network),
            }),
        })
    }
}

/// The [`ConfigError`] for an allow-list `entry` refused for `refusal`; `malformed` makes the
/// one for an entry that is not of the form of an origin (or of a pattern).
fn refused(
    entry: &str,
    refusal: Refusal,
    malformed: impl FnOnce(&'static str) -> ConfigError,
) -> ConfigError {
    let entry = entry.to_owned();
    match refusal {
        Refusal::Malformed(reason) => malformed(reason),
        Refusal::Scheme(scheme) => ConfigError::UnsupportedScheme { entry, scheme },
        Refusal::TrailingDot => ConfigError::TrailingDot { entry },
        Refusal::NotIpv4 => ConfigError::NotAnIpv4Address { entry },
        Refusal::Ipv4Form(browser_form) => ConfigError::Ipv4NotDottedDecimal {
            entry,
            browser_form,
        },
        Refusal::Punycode { label, reason } => ConfigError::InvalidPunycode {
            entry,
            label,
            reason,
        },
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let text = items.collect::<Vec<_>>().join(", ");
    HeaderValue::try_from(text).ok()
}

fn header_list(names: &[String]) -> Result<Option<HeaderValue>, ConfigError> {
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
            .map_err(|_| ConfigError::InvalidHeaderName(name.clone()))?;
        if !canonical.contains(&parsed.as_str().to_owned()) {
            canonical.push(parsed.as_str().to_owned());
        }
    }
    Ok(join(canonical.iter().map(String::as_str)))
}
