//! OAuth 2.0 client credentials for outbound calls ([RFC 6749 section
//! 4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)): [`ClientCredentialsLayer`] gets an
//! access token from the authorization server's token endpoint, keeps it, refreshes it before
//! it expires, and sends each request with `Authorization: Bearer <token>`.
//!
//! ```no_run
//! use bytes::Bytes;
//! use http::Request;
//! use http_body_util::Full;
//! use tower::ServiceExt;
//! use tower_layer::Layer;
//! use tower_shield::client::ClientCredentialsLayer;
//!
//! # async fn run<C>(http_client: C) -> Result<(), tower::BoxError>
//! # where
//! #     C: tower::Service<Request<Full<Bytes>>, Response = http::Response<()>> + Clone + Send + 'static,
//! #     C::Future: Send,
//! #     C::Error: Into<tower::BoxError>,
//! # {
//! let credentials = ClientCredentialsLayer::builder("https://as.example.com/token")
//!     .credentials("billing-service", std::env::var("BILLING_CLIENT_SECRET")?)
//!     .scopes(["invoices:read"])
//!     .resource("https://api.example.com/invoices")
//!     .build()?;
//! // `http_client`: any tower HTTP client whose request body is `Clone` (here hyper-util's
//! // `Client<_, Full<Bytes>>`).
//! let client = credentials.layer(http_client);
//! let res = client
//!     .oneshot(Request::get("https://api.example.com/invoices/42").body(Full::new(Bytes::new()))?)
//!     .await?;
//! # let _ = res;
//! # Ok(()) }
//! ```
//!
//! # Tokens
//!
//! The token request is `grant_type=client_credentials` with the configured
//! [`scopes`](ClientCredentialsBuilder::scopes), [`resource`](ClientCredentialsBuilder::resource)
//! indicators ([RFC 8707](https://www.rfc-editor.org/rfc/rfc8707)) or an
//! [`audience`](ClientCredentialsBuilder::audience) (the non-standard parameter of Auth0 and
//! others), authenticated with `client_secret_basic` (default) or `client_secret_post`.
//!
//! A token is used until [`refresh_before`](ClientCredentialsBuilder::refresh_before) its
//! expiry (30 seconds by default, at most half its lifetime). Then one request fetches the next
//! while the others keep using the current one; with no valid token, requests wait for the one
//! fetch in flight, and share its outcome: its token, or its error (a failed fetch is not
//! tried again by each of them). A token refused by the resource (`401`) is dropped and the
//! request sent once more with a new one, unless the token is less than 10 seconds old: a
//! resource that refuses a fresh token (a wrong audience, a key it does not know yet) would
//! refuse the next as well, and the `401` is the answer.
//!
//! # Bodies: why `Clone`
//!
//! Sending a request again after a `401` needs the request again: the layer requires a `Clone`
//! request body (`Full<Bytes>`, `String`, `Bytes`, `Empty`) and clones each request before
//! sending it. A streaming body has to be buffered first (for example with
//! `http_body_util::BodyExt::collect`). With [`retry_on_401(false)`](ClientCredentialsBuilder::retry_on_401)
//! nothing is cloned, but the bound stays.
//!
//! # Errors
//!
//! When no token can be obtained, the request is not sent and the service fails with a
//! [`TokenError`] (boxed, as tower's middleware do: `downcast_ref::<TokenError>()`); errors of
//! the inner client pass through boxed. The client secret and the tokens are never logged, and
//! `Debug` shows neither.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use reqwest::{Client, Url};
use serde_json::Value;
use tokio::sync::Mutex;
use tower_layer::Layer;
use tower_service::Service;

pub use crate::core::remote::ClientAuth;
use crate::core::remote::{self, ReadError, UrlError, error_chain};
use crate::core::{Clock, SharedClock, system_clock};

/// A boxed error, as tower's middleware return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BODY: usize = 64 * 1024;
const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(30);
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(60);

/// A configuration of [`ClientCredentialsLayer`] that cannot work. Messages never show the
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The token endpoint does not parse or has no host.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// Plain `http` to a host that is not loopback, without `allow_insecure_http(true)`.
    #[error(
        "{0}: plain http to a host that is not loopback; use https (or allow_insecure_http(true))"
    )]
    InsecureHttp(String),
    /// A scheme other than `https` and `http`.
    #[error("{0}: the scheme must be https (or http)")]
    UnsupportedScheme(String),
    /// No client credentials were given.
    #[error("the client credentials grant needs a client id and secret")]
    NoCredentials,
    /// A scope is empty or holds a space or a character RFC 6749 does not allow.
    #[error("invalid scope {0:?}")]
    InvalidScope(String),
    /// The timeout or the size cap is zero.
    #[error("invalid setting: {0}")]
    InvalidSetting(&'static str),
    /// The default HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

/// Why no token could be obtained: the request was not sent.
///
/// Messages name the token endpoint and the reason (the server's `error` code when it gave
/// one), never the secret, a token or a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The request failed before a response: DNS, connection, TLS, a reset.
    #[error("POST {url} failed: {reason}")]
    Request {
        /// The token endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The token endpoint refused: its status and its `error` code when the body had one
    /// (`invalid_client`, `invalid_scope`, `invalid_target`).
    #[error("POST {url} answered {status}{}", error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Refused {
        /// The token endpoint.
        url: String,
        /// The status code.
        status: u16,
        /// The `error` member of the answer, if it was a short printable code.
        error: Option<String>,
    },
    /// No complete answer within the [timeout](ClientCredentialsBuilder::timeout).
    #[error("POST {url} did not answer within {timeout:?}")]
    Timeout {
        /// The token endpoint.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The answer is larger than [`max_body`](ClientCredentialsBuilder::max_body).
    #[error("POST {url}: the answer is larger than {max} bytes")]
    TooLarge {
        /// The token endpoint.
        url: String,
        /// The cap, in bytes.
        max: usize,
    },
    /// The answer is not a token response (RFC 6749 section 5.1): not JSON, no `access_token`,
    /// a `token_type` other than `Bearer` (in any case), a token that is not an RFC 6750
    /// `b64token`, an `expires_in` that is not a non-negative integer (or a string of digits).
    #[error("POST {url}: {reason}")]
    InvalidResponse {
        /// The token endpoint.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Called outside a tokio runtime.
    #[error("client credentials tokens are fetched inside a tokio runtime")]
    NoRuntime,
}

/// An access token and its times (microseconds of the clock).
struct Token {
    header: HeaderValue,
    /// When it was obtained (µs on the layer's clock).
    fetched_at: u64,
    refresh_at: u64,
    expires_at: u64,
}

/// A token the resource refuses within this long of its fetch is not replaced on that `401`:
/// a resource that refuses every token (a wrong audience, a key it does not know yet) would
/// otherwise cost a token request per request.
const REFUSED_YOUNG: u64 = 10_000_000;

struct Inner {
    url: Url,
    client: Client,
    client_id: String,
    client_secret: String,
    method: ClientAuth,
    form: Vec<(&'static str, String)>,
    timeout: Duration,
    max_body: usize,
    refresh_before: Duration,
    default_expires_in: Duration,
    retry: bool,
    clock: SharedClock,
    current: ArcSwapOption<Token>,
    /// Held by the one fetch in flight; it keeps the outcome of the last fetch that ended:
    /// a request that waited for a fetch takes that outcome.
    fetching: Mutex<Option<Result<Arc<Token>, TokenError>>>,
    /// How many fetches have ended (recorded their outcome), read without the lock. A fetch
    /// dropped before it ended (its caller went away) records nothing, and a request that
    /// waited for it fetches for itself.
    ended: std::sync::atomic::AtomicU64,
}

/// Sets an OAuth 2.0 access token (client credentials grant) on outbound requests; see the
/// [module docs](self). Clones share the token.
#[derive(Clone)]
pub struct ClientCredentialsLayer {
    inner: Arc<Inner>,
}

impl fmt::Debug for ClientCredentialsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsLayer")
            .field("token_endpoint", &self.inner.url.as_str())
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &"<redacted>")
            .field("method", &self.inner.method)
            .finish_non_exhaustive()
    }
}

/// Configures a [`ClientCredentialsLayer`]. `Debug` never shows the secret.
#[must_use]
pub struct ClientCredentialsBuilder {
    url: String,
    credentials: Option<(String, String)>,
    method: ClientAuth,
    scopes: Vec<String>,
    resources: Vec<String>,
    audience: Option<String>,
    timeout: Duration,
    max_body: usize,
    refresh_before: Duration,
    default_expires_in: Duration,
    retry: bool,
    client: Option<Client>,
    allow_insecure_http: bool,
    clock: Option<SharedClock>,
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("token_endpoint", &self.url)
            .field("client_id", &self.credentials.as_ref().map(|(id, _)| id))
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ClientCredentialsLayer {
    /// Gets tokens from `token_endpoint` (`https`, or `http` to a loopback host).
    pub fn builder(token_endpoint: impl Into<String>) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            url: token_endpoint.into(),
            credentials: None,
            method: ClientAuth::SecretBasic,
            scopes: Vec::new(),
            resources: Vec::new(),
            audience: None,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            default_expires_in: DEFAULT_EXPIRES_IN,
            retry: true,
            client: None,
            allow_insecure_http: false,
            clock: None,
        }
    }

    /// The current token's `Authorization` value (`Bearer ...`, marked sensitive), fetching
    /// one if there is none or it is due for refresh: to warm up at startup, or for a client
    /// that is not a tower service.
    ///
    /// # Errors
    ///
    /// When no valid token is held and none can be obtained.
    pub async fn authorization(&self) -> Result<HeaderValue, TokenError> {
        Ok(self.inner.token(None).await?.header.clone())
    }
}

impl ClientCredentialsBuilder {
    /// The client's id and secret (required). The secret goes to the token endpoint only.
    pub fn credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// How the credentials are sent (default [`ClientAuth::SecretBasic`]).
    pub fn client_auth(mut self, method: ClientAuth) -> Self {
        self.method = method;
        self
    }

    /// The scopes asked for (`scope`, space-separated; default none: the server's default).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// A resource indicator (RFC 8707 `resource`): the API the token is for. May be given more
    /// than once.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// An `audience` parameter (Auth0, and other servers without RFC 8707).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long one exchange with the token endpoint may take (default 5 seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest token response read, in bytes (default 64 KiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How long before its expiry a token is replaced (default 30 seconds; at most half the
    /// token's lifetime).
    pub fn refresh_before(mut self, before: Duration) -> Self {
        self.refresh_before = before;
        self
    }

    /// The lifetime assumed when the token response has no `expires_in` (default 60 seconds).
    pub fn default_expires_in(mut self, lifetime: Duration) -> Self {
        self.default_expires_in = lifetime;
        self
    }

    /// Whether a request answered `401` is sent once more with a new token (default `true`).
    pub fn retry_on_401(mut self, on: bool) -> Self {
        self.retry = on;
        self
    }

    /// The HTTP client for the token endpoint (a proxy, custom roots). Default: `reqwest` with
    /// rustls and webpki roots, following no redirect.
    pub fn http_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Whether plain `http` is allowed to a token endpoint that is not loopback (default
    /// `false`: the secret would travel in clear).
    pub fn allow_insecure_http(mut self, on: bool) -> Self {
        self.allow_insecure_http = on;
        self
    }

    /// Reads time from `clock` (default the system clock): token expiry and refresh.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The layer. Does not fetch a token: see [`ClientCredentialsLayer::authorization`].
    ///
    /// # Errors
    ///
    /// No credentials; a token endpoint that does not parse, is neither `https` nor `http`, or
    /// is plain `http` to a host that is not loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http); a scope that is not an RFC 6749
    /// scope token; a zero timeout or size cap; or a default client that cannot be built.
    pub fn build(self) -> Result<ClientCredentialsLayer, ConfigError> {
        let (client_id, client_secret) = self.credentials.ok_or(ConfigError::NoCredentials)?;
        let url = remote::check_url(&self.url, self.allow_insecure_http).map_err(|e| match e {
            UrlError::Invalid(m) => ConfigError::InvalidUrl(m),
            UrlError::InsecureHttp(u) => ConfigError::InsecureHttp(u),
            UrlError::UnsupportedScheme(u) => ConfigError::UnsupportedScheme(u),
        })?;
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidSetting("the timeout is zero"));
        }
        if self.max_body == 0 {
            return Err(ConfigError::InvalidSetting("max_body is zero"));
        }
        // RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        for scope in &self.scopes {
            let ok = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !ok {
                return Err(ConfigError::InvalidScope(scope.clone()));
            }
        }
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if !self.scopes.is_empty() {
            form.push(("scope", self.scopes.join(" ")));
        }
        form.extend(self.resources.into_iter().map(|r| ("resource", r)));
        if let Some(audience) = self.audience {
            form.push(("audience", audience));
        }
        let client = match self.client {
            Some(client) => client,
            None => remote::default_client(self.timeout).map_err(ConfigError::HttpClient)?,
        };
        Ok(ClientCredentialsLayer {
            inner: Arc::new(Inner {
                url,
                client,
                client_id,
                client_secret,
                method: self.method,
                form,
                timeout: self.timeout,
                max_body: self.max_body,
                refresh_before: self.refresh_before,
                default_expires_in: self.default_expires_in,
                retry: self.retry,
                clock: self.clock.unwrap_or_else(system_clock),
                current: ArcSwapOption::empty(),
                fetching: Mutex::new(None),
                ended: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

impl Inner {
    /// A token to send: the current one while it is fresh; past its refresh time, one request
    /// fetches the next while the others keep the current one; with no valid token, every
    /// request waits for the one fetch. `refused` is a token the resource answered `401` to: it
    /// is not used again.
    async fn token(&self, refused: Option<&Arc<Token>>) -> Result<Arc<Token>, TokenError> {
        let usable = |t: &Arc<Token>| refused.is_none_or(|r| !Arc::ptr_eq(r, t));
        if let Some(t) = self.current.load_full().filter(usable) {
            let now = self.clock.now();
            if now < t.refresh_at {
                return Ok(t);
            }
            if now < t.expires_at {
                // Due for refresh but still valid: refresh unless someone else is.
                let Ok(mut last) = self.fetching.try_lock() else {
                    return Ok(t);
                };
                let fetched = self.fetch().await;
                return match self.ended(&mut last, fetched) {
                    Ok(new) => Ok(new),
                    Err(e) => {
                        tracing::warn!(
                            target: "tower_shield::client",
                            error = %e,
                            "client credentials token refresh failed; the current token is used until it expires"
                        );
                        Ok(t)
                    }
                };
            }
        }
        let seen = self.ended.load(std::sync::atomic::Ordering::Acquire);
        let mut last = self.fetching.lock().await;
        if self.ended.load(std::sync::atomic::Ordering::Acquire) != seen {
            // A fetch ended while this one waited: its outcome is this request's too, its
            // token (whatever its lifetime) or its error, without another request.
            match &*last {
                Some(Err(e)) => return Err(e.clone()),
                Some(Ok(t)) if usable(t) => return Ok(Arc::clone(t)),
                _ => {}
            }
        }
        let fetched = self.fetch().await;
        self.ended(&mut last, fetched)
    }

    /// Records the outcome of a fetch, under its lock, and installs its token.
    fn ended(
        &self,
        last: &mut Option<Result<Arc<Token>, TokenError>>,
        fetched: Result<Token, TokenError>,
    ) -> Result<Arc<Token>, TokenError> {
        let outcome = fetched.map(|token| self.install(token));
        *last = Some(outcome.clone());
        self.ended
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        outcome
    }

    /// Whether `token` was fetched so recently that a `401` to it is the resource's answer to
    /// any token, not a reason to fetch another.
    fn is_young(&self, token: &Token) -> bool {
        self.clock.now().saturating_sub(token.fetched_at) < REFUSED_YOUNG
    }

    fn install(&self, token: Token) -> Arc<Token> {
        let token = Arc::new(token);
        self.current.store(Some(Arc::clone(&token)));
        token
    }

    /// One token request.
    async fn fetch(&self) -> Result<Token, TokenError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(TokenError::NoRuntime);
        }
        let url = self.url.to_string();
        let mut pairs: Vec<(&str, &str)> =
            self.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut request = self.client.post(self.url.clone());
        match self.method {
            ClientAuth::SecretBasic => {
                request = request.header(
                    AUTHORIZATION,
                    remote::client_basic(&self.client_id, &self.client_secret),
                );
            }
            ClientAuth::SecretPost => {
                pairs.push(("client_id", &self.client_id));
                pairs.push(("client_secret", &self.client_secret));
            }
        }
        let request = request
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(remote::form_body(pairs));
        let exchange = async {
            let failed = |e: reqwest::Error| TokenError::Request {
                url: url.clone(),
                reason: error_chain(&e.without_url()),
            };
            let res = request.send().await.map_err(failed)?;
            let status = res.status();
            let body = remote::read_capped(res, self.max_body)
                .await
                .map_err(|e| match e {
                    ReadError::TooLarge => TokenError::TooLarge {
                        url: url.clone(),
                        max: self.max_body,
                    },
                    ReadError::Failed(e) => failed(e),
                })?;
            Ok::<_, TokenError>((status, body))
        };
        // The token's life counts from when it was asked for (RFC 6749 section 5.1: "from the
        // time the response was generated", which is no earlier): an answer read late does
        // not make it last longer.
        let asked = self.clock.now();
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(TokenError::Timeout {
                    url: url.clone(),
                    timeout: self.timeout,
                })
            })?;
        let doc: Option<Value> = serde_json::from_slice(&body).ok();
        let error = doc
            .as_ref()
            .and_then(|d| d.get("error"))
            .and_then(Value::as_str)
            .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned);
        // An error answer (RFC 6749 section 5.2), even in a `200` as some servers send it.
        let no_token = doc.as_ref().and_then(|d| d.get("access_token")).is_none();
        if status != StatusCode::OK || (error.is_some() && no_token) {
            return Err(TokenError::Refused {
                url,
                status: status.as_u16(),
                error,
            });
        }
        let invalid = |reason: &str| TokenError::InvalidResponse {
            url: url.clone(),
            reason: reason.to_owned(),
        };
        let doc = doc.ok_or_else(|| invalid("the answer is not JSON"))?;
        let token = doc
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("the answer has no access_token"))?;
        match doc.get("token_type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("bearer") => {}
            _ => return Err(invalid("the token_type is not Bearer")),
        }
        // RFC 6750 section 2.1: what `Authorization: Bearer` carries is a b64token.
        let head = token.trim_end_matches('=');
        let b64token = !head.is_empty()
            && head.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            });
        if !b64token {
            return Err(invalid("the access_token cannot be sent in a header"));
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| invalid("the access_token cannot be sent in a header"))?;
        header.set_sensitive(true);
        let lifetime = match doc.get("expires_in") {
            None | Some(Value::Null) => self.default_expires_in,
            Some(v) => Duration::from_secs(
                expires_in(v).ok_or_else(|| invalid("expires_in is not a non-negative integer"))?,
            ),
        };
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let now = self.clock.now();
        let expires_at = asked.saturating_add(micros(lifetime));
        let before = self.refresh_before.min(lifetime / 2);
        tracing::debug!(
            target: "tower_shield::client",
            token_endpoint = %self.url,
            expires_in = lifetime.as_secs(),
            "client credentials token obtained"
        );
        Ok(Token {
            header,
            fetched_at: now,
            refresh_at: expires_at.saturating_sub(micros(before)),
            expires_at,
        })
    }
}

/// `expires_in` (RFC 6749 section 5.1): a non-negative integer, or the same digits in a
/// string (as some servers send it, Azure AD's v1 endpoint among them).
fn expires_in(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            // Too many digits for a u64: as long as can be.
            Some(s.parse().unwrap_or(u64::MAX))
        }
        v => v.as_u64(),
    }
}

impl<S> Layer<S> for ClientCredentialsLayer {
    type Service = ClientCredentials<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientCredentials {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`ClientCredentialsLayer`]: the inner client with a token on each request.
///
/// Not built on the crate's guard skeleton: a guard passes a request on once, and this service
/// may send it twice (after a `401`).
#[derive(Clone, Debug)]
pub struct ClientCredentials<S> {
    inner: S,
    layer: ClientCredentialsLayer,
}

impl<S> ClientCredentials<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The response future of [`ClientCredentials`]: boxed, as it waits for a token, the
/// response, and maybe both again.
pub type ResponseFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>;

impl<S, B, R> Service<Request<B>> for ClientCredentials<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The service polled ready is the one called; a clone waits for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = Arc::clone(&self.layer.inner);
        Box::pin(async move {
            let token = layer.token(None).await?;
            let again = layer.retry.then(|| req.clone());
            req.headers_mut()
                .insert(AUTHORIZATION, token.header.clone());
            let res = inner.call(req).await.map_err(Into::into)?;
            let Some(mut again) = again.filter(|_| res.status() == StatusCode::UNAUTHORIZED) else {
                return Ok(res);
            };
            if layer.is_young(&token) {
                tracing::warn!(
                    target: "tower_shield::client",
                    "the resource answered 401 to a token obtained less than 10 s ago: not \
                     fetching another (check the token's audience and scopes)"
                );
                return Ok(res);
            }
            tracing::debug!(
                target: "tower_shield::client",
                "the resource answered 401: sending again with a new token"
            );
            let token = layer.token(Some(&token)).await?;
            again
                .headers_mut()
                .insert(AUTHORIZATION, token.header.clone());
            std::future::poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            inner.call(again).await.map_err(Into::into)
        })
    }
}
