//! Fetching a JWK set over HTTP with `reqwest`: OpenID Connect discovery, the size cap and the
//! timeout, `Cache-Control` freshness, and the one check of a JWKS URL (`https`, or `http` to a
//! loopback host).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderMap;
use http::header::{ACCEPT, AGE, CACHE_CONTROL};
use reqwest::{Client, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ConfigError;
use super::keys::KeySet;
use crate::core::remote::{self, UrlError, error_chain};

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Why a JWK set could not be fetched (from [`Jwks::refresh`](super::Jwks::refresh); fetches
/// in the background log it). The last good set, if any, keeps serving.
///
/// Messages name the URL and the reason, never the response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Called outside a tokio runtime.
    #[error("a JWK set is fetched from inside a tokio runtime")]
    NoRuntime,
    /// The request failed before a response: DNS, connection, TLS, a reset.
    #[error("GET {url} failed: {reason}")]
    Request {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The provider answered with a status other than `2xx` (redirects are not followed).
    #[error("GET {url} answered {status}{}", redirect_hint(*.status))]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// No complete response within the [timeout](super::JwksBuilder::timeout).
    #[error("GET {url} did not complete within {timeout:?}")]
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The response body is larger than [`max_body`](super::JwksBuilder::max_body).
    #[error("GET {url}: the response is larger than {max} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The cap, in bytes.
        max: usize,
    },
    /// The document is not a JWK set (or a discovery document) this crate can read.
    #[error("GET {url}: {reason}")]
    InvalidDocument {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JWK set has no key this crate can verify signatures with.
    #[error("GET {url}: the JWK set has no usable signature key")]
    NoUsableKeys {
        /// The URL requested.
        url: String,
    },
    /// The discovery document names another issuer than the configured one.
    #[error("the discovery document's issuer is {found:?}, not the configured {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
}

/// What a `3xx` status adds to [`FetchError::Status`]'s message.
fn redirect_hint(status: u16) -> &'static str {
    if (300..400).contains(&status) {
        "; redirects are not followed, configure the final URL"
    } else {
        ""
    }
}

/// What the builder was given: a JWKS URL or an issuer to discover.
#[derive(Debug)]
pub(super) enum Target {
    Url(String),
    Issuer(String),
}

/// Where the set comes from.
#[derive(Debug)]
pub(super) enum Source {
    Url(Url),
    Discovery { issuer: String, url: Url },
}

/// A JWK set document, read.
pub(super) struct Parsed {
    pub(super) keys: KeySet,
    pub(super) digest: [u8; 32],
    pub(super) url: Url,
}

/// How a set is fetched: from where, with which client, within which limits.
#[derive(Debug)]
pub(super) struct Fetcher {
    pub(super) source: Source,
    client: Client,
    timeout: Duration,
    max_body: usize,
    allow_insecure_http: bool,
    /// Requests for the JWK set, failed ones included (not discovery requests).
    pub(super) fetches: AtomicU64,
}

impl Fetcher {
    /// Checks the URL (or issuer) and builds the default client when none is given.
    pub(super) fn new(
        target: Target,
        client: Option<Client>,
        timeout: Duration,
        max_body: usize,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        let source = match target {
            Target::Url(url) => Source::Url(check_url(&url, allow_insecure_http)?),
            Target::Issuer(issuer) => {
                let parsed = check_url(&issuer, allow_insecure_http)?;
                if parsed.query().is_some() || parsed.fragment().is_some() {
                    return Err(ConfigError::InvalidUrl(format!(
                        "{issuer}: an issuer has no query or fragment"
                    )));
                }
                let url = format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'));
                let url =
                    Url::parse(&url).map_err(|e| ConfigError::InvalidUrl(format!("{url}: {e}")))?;
                Source::Discovery { issuer, url }
            }
        };
        let client = match client {
            Some(client) => client,
            None => remote::default_client(timeout).map_err(ConfigError::HttpClient)?,
        };
        Ok(Self {
            source,
            client,
            timeout,
            max_body,
            allow_insecure_http,
            fetches: AtomicU64::new(0),
        })
    }

    /// The configured URL: the JWK set's, or the discovery document's.
    pub(super) fn url(&self) -> String {
        match &self.source {
            Source::Url(url) | Source::Discovery { url, .. } => url.to_string(),
        }
    }

    /// Fetches and reads the set, discovering its URL first when `jwks_url` (the one found by
    /// the last discovery) is `None`. Also how long the response may be cached.
    pub(super) async fn download(
        &self,
        jwks_url: &mut Option<Url>,
    ) -> Result<(Parsed, Option<Duration>), FetchError> {
        let url = match &self.source {
            Source::Url(url) => url.clone(),
            Source::Discovery { issuer, url } => match jwks_url {
                Some(jwks_url) => jwks_url.clone(),
                None => {
                    let found = self.discover(issuer, url).await?;
                    *jwks_url = Some(found.clone());
                    found
                }
            },
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (body, max_age) = self.get(&url).await?;
        let (keys, digest) = parse_jwk_set(&body).map_err(|e| match e {
            None => FetchError::NoUsableKeys {
                url: url.to_string(),
            },
            Some(reason) => FetchError::InvalidDocument {
                url: url.to_string(),
                reason,
            },
        })?;
        Ok((Parsed { keys, digest, url }, max_age))
    }

    /// The `jwks_uri` of the issuer's discovery document.
    async fn discover(&self, issuer: &str, url: &Url) -> Result<Url, FetchError> {
        let (body, _) = self.get(url).await?;
        let invalid = |reason: String| FetchError::InvalidDocument {
            url: url.to_string(),
            reason,
        };
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("the discovery document is not JSON: {e}")))?;
        let found = doc
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the discovery document has no issuer".into()))?;
        if found != issuer {
            return Err(FetchError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: found.to_owned(),
            });
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the discovery document has no jwks_uri".into()))?;
        check_url(jwks_uri, self.allow_insecure_http)
            .map_err(|e| invalid(format!("its jwks_uri cannot be used: {e}")))
    }

    /// GETs `url`: the body (at most `max_body` bytes) and how long it may be cached.
    async fn get(&self, url: &Url) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
        let request = async {
            let failed = |e: reqwest::Error| FetchError::Request {
                url: url.to_string(),
                reason: error_chain(&e.without_url()),
            };
            let mut res = self
                .client
                .get(url.clone())
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(failed)?;
            let status = res.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let too_large = || FetchError::TooLarge {
                url: url.to_string(),
                max: self.max_body,
            };
            if res
                .content_length()
                .is_some_and(|len| len > self.max_body as u64)
            {
                return Err(too_large());
            }
            let max_age = freshness(res.headers());
            let mut body = Vec::new();
            while let Some(chunk) = res.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, max_age))
        };
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                })
            })
    }
}

/// The usable keys of a JWK set document, and a digest of its `keys` array that does not
/// depend on the order of the keys. `Err(None)` when the set has no usable key,
/// `Err(Some(reason))` when it is not a JWK set.
pub(super) fn parse_jwk_set(body: &[u8]) -> Result<(KeySet, [u8; 32]), Option<String>> {
    let keys = KeySet::from_jwk_set(body).map_err(|e| Some(format!("not a JWK set: {e}")))?;
    if keys.len() == 0 {
        return Err(None);
    }
    // Read again for the digest (a JWK set is a few KiB, fetched every few minutes).
    let doc: Value = serde_json::from_slice(body).map_err(|e| Some(e.to_string()))?;
    let mut digests: Vec<[u8; 32]> = doc
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                // serde_json's maps are sorted unless `preserve_order` is on; either way the
                // same JWK gives the same bytes.
                .map(|key| Sha256::digest(key.to_string().as_bytes()).into())
                .collect()
        })
        .unwrap_or_default();
    digests.sort_unstable();
    let mut hasher = Sha256::new();
    for d in &digests {
        hasher.update(d);
    }
    Ok((keys, hasher.finalize().into()))
}

/// How long a response may be cached: `Cache-Control` `max-age` (`no-cache` and `no-store`
/// count as 0) less `Age`, or `None` when it says nothing.
pub(super) fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(secs) = arg.and_then(delta_seconds)
            {
                max_age = Some(max_age.map_or(secs, |m| m.min(secs)));
            }
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| delta_seconds(v.trim()))
        .unwrap_or(0);
    max_age.map(|m| Duration::from_secs(m.saturating_sub(age)))
}

/// RFC 9111 delta-seconds: digits; too large is as large as can be.
fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// The crate's one check of a URL (`crate::core::remote::check_url`), with the JWT module's
/// errors: `https`, or `http` to a loopback host unless `allow_insecure_http`, and a host.
pub(super) fn check_url(url: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    remote::check_url(url, allow_insecure_http).map_err(|e| match e {
        UrlError::Invalid(m) => ConfigError::InvalidUrl(m),
        UrlError::InsecureHttp(u) => ConfigError::InsecureHttp(u),
        UrlError::UnsupportedScheme(u) => ConfigError::UnsupportedScheme(u),
    })
}
