//! Talking to the authorization server: the introspection request (RFC 7662 section 2.1) with
//! client authentication, the endpoint found by discovery (OpenID Connect Discovery, then
//! RFC 8414), each within the timeout and the size cap.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Url};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{ClientAuth, ConfigError, IntrospectionError};
use crate::core::remote::{self, ReadError, UrlError, error_chain};

const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
const RFC8414_DISCOVERY: &str = "/.well-known/oauth-authorization-server";
/// How long a failed discovery is the answer for every request, before one tries again.
const DISCOVERY_COOLDOWN: Duration = Duration::from_secs(1);

/// The client's credentials at the authorization server. `Debug` shows the id only.
pub(super) struct Credentials {
    pub(super) client_id: String,
    pub(super) client_secret: String,
    pub(super) method: ClientAuth,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("method", &self.method)
            .finish()
    }
}

/// Where the introspection endpoint is.
#[derive(Debug)]
pub(super) enum Endpoint {
    /// Configured.
    Fixed(Url),
    /// Read from the issuer's metadata, on first use.
    Discover(Box<Discovery>),
}

#[derive(Debug)]
pub(super) struct Discovery {
    issuer: String,
    /// The OpenID Connect discovery document's URL, then RFC 8414's.
    urls: [Url; 2],
    found: ArcSwapOption<Url>,
    /// One discovery at a time; the last failure and when it ended.
    state: Mutex<Option<(Instant, IntrospectionError)>>,
}

/// An introspection answer that says `active`, and its members.
#[derive(Debug)]
pub(super) struct Introspected {
    pub(super) active: bool,
    pub(super) fields: Map<String, Value>,
}

#[derive(Debug)]
pub(super) struct Fetcher {
    pub(super) endpoint: Endpoint,
    client: Client,
    credentials: Credentials,
    token_type_hint: Option<String>,
    timeout: Duration,
    max_body: usize,
    allow_insecure_http: bool,
}

fn config_url(e: UrlError) -> ConfigError {
    match e {
        UrlError::Invalid(m) => ConfigError::InvalidUrl(m),
        UrlError::InsecureHttp(u) => ConfigError::InsecureHttp(u),
        UrlError::UnsupportedScheme(u) => ConfigError::UnsupportedScheme(u),
    }
}

impl Fetcher {
    /// Checks the endpoint (or issuer) and builds the default client when none is given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        endpoint: &str,
        discover: bool,
        client: Option<Client>,
        credentials: Credentials,
        token_type_hint: Option<String>,
        timeout: Duration,
        max_body: usize,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        let parsed = remote::check_url(endpoint, allow_insecure_http).map_err(config_url)?;
        let endpoint = if discover {
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(ConfigError::InvalidUrl(format!(
                    "{endpoint}: an issuer has no query or fragment"
                )));
            }
            let issuer = endpoint.to_owned();
            let trimmed = issuer.trim_end_matches('/');
            let oidc = format!("{trimmed}{OIDC_DISCOVERY}");
            // RFC 8414 section 3.1: the well-known segment goes between the host and the path.
            let mut rfc8414 = parsed.clone();
            let path = parsed.path().trim_end_matches('/');
            rfc8414.set_path(&format!("{RFC8414_DISCOVERY}{path}"));
            let oidc =
                Url::parse(&oidc).map_err(|e| ConfigError::InvalidUrl(format!("{oidc}: {e}")))?;
            Endpoint::Discover(Box::new(Discovery {
                issuer,
                urls: [oidc, rfc8414],
                found: ArcSwapOption::empty(),
                state: Mutex::new(None),
            }))
        } else {
            Endpoint::Fixed(parsed)
        };
        let client = match client {
            Some(client) => client,
            None => remote::default_client(timeout).map_err(ConfigError::HttpClient)?,
        };
        Ok(Self {
            endpoint,
            client,
            credentials,
            token_type_hint,
            timeout,
            max_body,
            allow_insecure_http,
        })
    }

    /// The introspection endpoint: the configured one, or the discovered one (discovering it
    /// now if needed: one discovery at a time, and a failure is the answer for a second).
    pub(super) async fn endpoint(&self) -> Result<Arc<Url>, IntrospectionError> {
        let d = match &self.endpoint {
            Endpoint::Fixed(url) => return Ok(Arc::new(url.clone())),
            Endpoint::Discover(d) => d,
        };
        if let Some(url) = d.found.load_full() {
            return Ok(url);
        }
        let mut state = d.state.lock().await;
        if let Some(url) = d.found.load_full() {
            return Ok(url);
        }
        if let Some((at, e)) = &*state
            && at.elapsed() < DISCOVERY_COOLDOWN
        {
            return Err(e.clone());
        }
        match self.discover(d).await {
            Ok(url) => {
                let url = Arc::new(url);
                d.found.store(Some(Arc::clone(&url)));
                *state = None;
                Ok(url)
            }
            Err(e) => {
                *state = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Reads the issuer's metadata: OpenID Connect discovery, and RFC 8414 when that is
    /// `404`. Its `issuer` must be the configured one.
    async fn discover(&self, d: &Discovery) -> Result<Url, IntrospectionError> {
        let mut last = None;
        for url in &d.urls {
            let res = self.send(url, self.client.get(url.clone())).await;
            let body = match res {
                Err(IntrospectionError::Status { status: 404, .. }) => {
                    last = Some(url);
                    continue;
                }
                other => other?,
            };
            let invalid = |reason: String| IntrospectionError::InvalidResponse {
                url: url.to_string(),
                reason,
            };
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| invalid(format!("the metadata is not JSON: {e}")))?;
            let found = doc
                .get("issuer")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("the metadata has no issuer".into()))?;
            if found != d.issuer {
                return Err(IntrospectionError::IssuerMismatch {
                    expected: d.issuer.clone(),
                    found: found.to_owned(),
                });
            }
            let endpoint = doc
                .get("introspection_endpoint")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("the metadata has no introspection_endpoint".into()))?;
            return remote::check_url(endpoint, self.allow_insecure_http).map_err(|e| {
                invalid(format!(
                    "its introspection_endpoint cannot be used: {}",
                    config_url(e)
                ))
            });
        }
        Err(IntrospectionError::Status {
            url: last.map_or_else(String::new, Url::to_string),
            status: 404,
        })
    }

    /// POSTs `token` to the endpoint: the answer, read.
    pub(super) async fn introspect(&self, token: &str) -> Result<Introspected, IntrospectionError> {
        let url = self.endpoint().await?;
        let c = &self.credentials;
        let mut pairs = vec![("token", token)];
        if let Some(hint) = &self.token_type_hint {
            pairs.push(("token_type_hint", hint));
        }
        let mut request = self.client.post((*url).clone());
        match c.method {
            ClientAuth::SecretBasic => {
                request = request.header(
                    AUTHORIZATION,
                    remote::client_basic(&c.client_id, &c.client_secret),
                );
            }
            ClientAuth::SecretPost => {
                pairs.push(("client_id", &c.client_id));
                pairs.push(("client_secret", &c.client_secret));
            }
        }
        let request = request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(remote::form_body(pairs));
        let body = self.send(&url, request).await?;
        parse_answer(&body).map_err(|reason| IntrospectionError::InvalidResponse {
            url: url.to_string(),
            reason,
        })
    }

    /// Sends `request` (to `url`) and reads a `200`'s body, within the timeout and the cap.
    async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, IntrospectionError> {
        let exchange = async {
            let failed = |e: reqwest::Error| IntrospectionError::Request {
                url: url.to_string(),
                reason: error_chain(&e.without_url()),
            };
            let res = request
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(failed)?;
            let status = res.status();
            if status != http::StatusCode::OK {
                return Err(IntrospectionError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            remote::read_capped(res, self.max_body)
                .await
                .map_err(|e| match e {
                    ReadError::TooLarge => IntrospectionError::TooLarge {
                        url: url.to_string(),
                        max: self.max_body,
                    },
                    ReadError::Failed(e) => failed(e),
                })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(IntrospectionError::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                })
            })
    }
}

/// An introspection answer: a JSON object with a boolean `active` (RFC 7662 section 2.2),
/// each member once (RFC 8259 section 4: with duplicates, parsers disagree on which counts),
/// and when active, `exp` and `nbf` numbers (NumericDate) when present.
pub(super) fn parse_answer(body: &[u8]) -> Result<Introspected, String> {
    // A member named twice, at any depth, is refused (`core::json`): parsers disagree on
    // which of the two counts.
    let doc = crate::core::json::from_slice(body).map_err(|e| {
        if e.is_data() {
            format!("the answer is refused: {e}")
        } else {
            format!("the answer is not JSON: {e}")
        }
    })?;
    let Value::Object(fields) = doc else {
        return Err("the answer is not a JSON object".into());
    };
    let active = match fields.get("active") {
        Some(Value::Bool(active)) => *active,
        Some(_) => return Err("the answer's `active` is not a boolean".into()),
        None => return Err("the answer has no `active`".into()),
    };
    if active {
        for name in ["exp", "nbf"] {
            if fields.get(name).is_some_and(|v| !v.is_number()) {
                return Err(format!("the answer's `{name}` is not a number"));
            }
        }
    }
    Ok(Introspected { active, fields })
}
