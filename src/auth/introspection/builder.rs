//! [`IntrospectionBuilder`]: everything [`IntrospectionAuth`] can be told, checked once.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use reqwest::Client;

use super::fetch::{Credentials, Fetcher};
use super::{ClientAuth, Config, ConfigError, IntrospectionAuth};
use crate::auth::token_cache::TokenCache;
use crate::auth::{Tier, challenge, is_quotable};
use crate::core::{Clock, SharedClock, system_clock};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_BODY: usize = 64 * 1024;
const DEFAULT_MAX_TTL: Duration = Duration::from_secs(30);
const DEFAULT_INACTIVE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_CACHE: usize = 10_000;
const DEFAULT_MAX_LEN: usize = 4096;
const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Builds an [`IntrospectionAuth`]; see [`IntrospectionAuth::builder`] and
/// [`IntrospectionAuth::discover`]. `Debug` never shows the client secret.
#[must_use]
pub struct IntrospectionBuilder {
    target: String,
    discover: bool,
    credentials: Option<(String, String)>,
    method: ClientAuth,
    token_type_hint: Option<String>,
    timeout: Duration,
    max_body: usize,
    cache: usize,
    max_ttl: Duration,
    inactive_ttl: Duration,
    audience: Option<String>,
    claims: Vec<String>,
    tier: Tier,
    realm: String,
    max_len: usize,
    max_in_flight: usize,
    skip_jwts: bool,
    client: Option<Client>,
    allow_insecure_http: bool,
    clock: Option<SharedClock>,
}

impl fmt::Debug for IntrospectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionBuilder")
            .field("target", &self.target)
            .field("discover", &self.discover)
            .field("client_id", &self.credentials.as_ref().map(|(id, _)| id))
            .field("method", &self.method)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl IntrospectionBuilder {
    pub(super) fn new(target: String, discover: bool) -> Self {
        Self {
            target,
            discover,
            credentials: None,
            method: ClientAuth::SecretBasic,
            token_type_hint: Some("access_token".into()),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            cache: DEFAULT_CACHE,
            max_ttl: DEFAULT_MAX_TTL,
            inactive_ttl: DEFAULT_INACTIVE_TTL,
            audience: None,
            claims: Vec::new(),
            tier: Tier::AUTHENTICATED,
            realm: "api".into(),
            max_len: DEFAULT_MAX_LEN,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            skip_jwts: false,
            client: None,
            allow_insecure_http: false,
            clock: None,
        }
    }

    /// The resource server's client id and secret at the authorization server (required).
    /// The secret is sent to the introspection endpoint only, and never logged or shown.
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

    /// The `token_type_hint` sent (default `access_token`; `None` sends none).
    pub fn token_type_hint(mut self, hint: Option<&str>) -> Self {
        self.token_type_hint = hint.map(str::to_owned);
        self
    }

    /// How long one exchange with the server may take, connection and whole answer (default 2
    /// seconds). A slower server is a `503` for the requests that waited, never a hang.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest answer read, in bytes (default 64 KiB). A larger one is a failure (`503`),
    /// not read further than the cap.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How many introspection requests may be in the air at once (default 256), each for
    /// another token: past it, a token that is neither cached nor already being asked about is
    /// answered `503 auth-overloaded` with `Retry-After: 1`, not sent. Each runs to its end
    /// (its answer is cached) even when its client has gone: without a bound, a client sending
    /// fresh random tokens would have the server keep that many requests open to the
    /// authorization server.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests;
        self
    }

    /// How many answers the cache keeps (default 10,000; first in, first out). `0` turns the
    /// cache off: every request is introspected.
    pub fn cache(mut self, capacity: usize) -> Self {
        self.cache = capacity;
        self
    }

    /// The longest an active answer is cached (default 30 seconds), and so the longest a token
    /// revoked at the server is still accepted here. Never past the token's `exp`.
    pub fn max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// How long an inactive answer (or a refusal: wrong audience, no subject) is cached
    /// (default 5 seconds): a client retrying a dead token does not reach the server each time.
    /// At most [`max_cache_ttl`](Self::max_cache_ttl).
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// Accepts only tokens whose `aud` (a string or an array) names `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// More members of the answer to keep in the principal's claims (besides `sub`,
    /// `client_id`, `scope` and `exp`): `username`, `aud`, a custom one.
    pub fn claims<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.claims.extend(names.into_iter().map(Into::into));
        self
    }

    /// The tier of the principals made (default [`Tier::AUTHENTICATED`]).
    pub fn tier(mut self, tier: impl Into<Tier>) -> Self {
        self.tier = tier.into();
        self
    }

    /// The realm of the `WWW-Authenticate: Bearer` challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The longest token accepted, in bytes (default 4096); a longer one is refused (`401`)
    /// without reaching the server.
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// Whether tokens shaped like a compact JWS (three base64url segments) are left to the
    /// next authenticator, a `JwtAuth` (default `false`: every Bearer token is introspected).
    pub fn skip_jwts(mut self, on: bool) -> Self {
        self.skip_jwts = on;
        self
    }

    /// The HTTP client to use (a proxy, custom roots, a client certificate for `tls_client_auth`).
    /// Default: `reqwest` with rustls and webpki roots, following no redirect. The
    /// [timeout](Self::timeout) and [size cap](Self::max_body) apply to any client.
    pub fn http_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Whether plain `http` is allowed to hosts that are not loopback (default `false`: tokens
    /// and the secret would travel in clear). `http` to `localhost`, `127.0.0.0/8` and `::1` is
    /// always allowed. The rule applies to a discovered endpoint too.
    pub fn allow_insecure_http(mut self, on: bool) -> Self {
        self.allow_insecure_http = on;
        self
    }

    /// Reads time from `clock` (default the system clock): `exp`, `nbf` and cache lifetimes.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The authenticator. Does not contact the server: see [`IntrospectionAuth::endpoint`].
    ///
    /// # Errors
    ///
    /// No credentials; an endpoint or issuer that does not parse, is neither `https` nor
    /// `http`, or is plain `http` to a host that is not loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http); an issuer with a query or fragment;
    /// a zero timeout, size cap or token length; `inactive_ttl` longer than `max_cache_ttl`;
    /// a realm, audience or hint that cannot be quoted in a header; or a default client that
    /// cannot be built.
    pub fn build(self) -> Result<IntrospectionAuth, ConfigError> {
        let (client_id, client_secret) = self.credentials.ok_or(ConfigError::NoCredentials)?;
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidSetting("the timeout is zero"));
        }
        if self.max_body == 0 {
            return Err(ConfigError::InvalidSetting("max_body is zero"));
        }
        if self.max_len == 0 {
            return Err(ConfigError::InvalidSetting("max_token_len is zero"));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::InvalidSetting("max_in_flight is zero"));
        }
        if self.inactive_ttl > self.max_ttl {
            return Err(ConfigError::InvalidSetting(
                "inactive_ttl is longer than max_cache_ttl",
            ));
        }
        if !is_quotable(&self.realm) {
            return Err(ConfigError::InvalidValue(self.realm));
        }
        if let Some(hint) = &self.token_type_hint
            && hint.is_empty()
        {
            return Err(ConfigError::InvalidValue(hint.clone()));
        }
        let challenge = challenge("Bearer", &self.realm, &[])
            .ok_or_else(|| ConfigError::InvalidValue(self.realm.clone()))?;
        let fetcher = Fetcher::new(
            &self.target,
            self.discover,
            self.client,
            Credentials {
                client_id,
                client_secret,
                method: self.method,
            },
            self.token_type_hint,
            self.timeout,
            self.max_body,
            self.allow_insecure_http,
        )?;
        let cache =
            (self.cache > 0 && !self.max_ttl.is_zero()).then(|| TokenCache::new(self.cache));
        Ok(IntrospectionAuth {
            config: Arc::new(Config {
                fetcher,
                cache,
                max_ttl: self.max_ttl,
                inactive_ttl: self.inactive_ttl,
                flights: Mutex::default(),
                audience: self.audience,
                claims: self.claims.into_boxed_slice(),
                tier: self.tier,
                realm: self.realm,
                challenge,
                max_len: self.max_len,
                max_in_flight: self.max_in_flight,
                skip_jwts: self.skip_jwts,
                clock: self.clock.unwrap_or_else(system_clock),
                last_warning: AtomicU64::new(0),
            }),
        })
    }
}
