//! [`JwtBuilder`]: what a [`JwtAuth`] accepts, checked once at build.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "jwks")]
use super::jwks::Jwks;
use super::keys::{Algorithm, JwtKey, KeySet, alg_name, crypto_ready};
use super::{Config, ConfigError, JwtAuth, Keys, media_type};
use crate::auth::token_cache::TokenCache;
use crate::auth::{challenge, is_quotable};
use crate::core::{Clock, SharedClock, system_clock};

/// The default cap on a token's size, checked before any parsing.
const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The `typ`s of access tokens: `JWT` (RFC 7519) and `at+jwt` (RFC 9068).
const DEFAULT_TYPES: [&str; 2] = ["JWT", "at+jwt"];

/// Builds a [`JwtAuth`]; see [`JwtAuth::builder`].
#[must_use]
pub struct JwtBuilder {
    keys: Vec<JwtKey>,
    #[cfg(feature = "jwks")]
    jwks: Option<Jwks>,
    algorithms: Option<Vec<Algorithm>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    any_issuer: bool,
    any_audience: bool,
    leeway: Duration,
    require_exp: bool,
    required_claims: Vec<String>,
    types: Vec<String>,
    require_type: bool,
    tier_claim: Option<String>,
    roles_claim: Option<String>,
    max_len: usize,
    cache: Option<usize>,
    clock: SharedClock,
    realm: String,
}

/// By hand: the clock is a trait object without `Debug`.
impl fmt::Debug for JwtBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBuilder")
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtBuilder {
    pub(super) fn new() -> Self {
        Self {
            keys: Vec::new(),
            #[cfg(feature = "jwks")]
            jwks: None,
            algorithms: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            any_issuer: false,
            any_audience: false,
            leeway: Duration::from_secs(60),
            require_exp: true,
            required_claims: Vec::new(),
            types: DEFAULT_TYPES.iter().map(|&t| t.to_owned()).collect(),
            require_type: false,
            tier_claim: Some("tier".into()),
            roles_claim: Some("roles".into()),
            max_len: DEFAULT_MAX_TOKEN_LEN,
            cache: None,
            clock: system_clock(),
            realm: "api".into(),
        }
    }

    /// Adds a verification key (several may be given; tokens pick one by `kid`).
    pub fn key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Takes keys from a remote JWK set instead of static keys: `algorithms` must then be
    /// given.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// The accepted algorithms. Default: those of the static keys. Required with a JWK set.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// An accepted issuer (`iss`); tokens without `iss` are refused. May be called again to
    /// accept several. Required, unless [`any_issuer(true)`](Self::any_issuer).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// An accepted audience (`aud`, this API's identifier at the provider); tokens without
    /// `aud` are refused. May be called again to accept several. Required, unless
    /// [`any_audience(true)`](Self::any_audience).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// **Dangerous.** Whether to accept tokens of any issuer, `iss` unchecked (default
    /// `false`: without an [issuer](Self::issuer), [`build`](Self::build) fails with
    /// [`ConfigError::NoIssuer`]).
    ///
    /// Every token the keys verify is then accepted, whoever minted it: only sound when the
    /// keys belong to a single issuer that mints tokens for nothing but this API (an HMAC
    /// secret shared with one service, say). Never with a shared identity provider's keys.
    pub fn any_issuer(mut self, on: bool) -> Self {
        self.any_issuer = on;
        self
    }

    /// **Dangerous.** Whether to accept tokens minted for any audience, `aud` unchecked
    /// (default `false`: without an [audience](Self::audience), [`build`](Self::build) fails
    /// with [`ConfigError::NoAudience`]).
    ///
    /// A token the provider minted for another service (another API, a partner's app, an ID
    /// token) is then accepted here: whoever holds one can replay it against this API
    /// ([RFC 8725 section 3.9](https://www.rfc-editor.org/rfc/rfc8725#section-3.9)). Only
    /// sound when the issuer mints tokens for this API alone.
    pub fn any_audience(mut self, on: bool) -> Self {
        self.any_audience = on;
        self
    }

    /// The clock skew tolerated on `exp` and `nbf` (default 60 seconds, as `jsonwebtoken`'s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether tokens must have `exp` (default `true`: a token that never expires is a
    /// credential that can never be taken back).
    pub fn require_exp(mut self, on: bool) -> Self {
        self.require_exp = on;
        self
    }

    /// A claim every token must have (`jti`, `azp`, ...).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required_claims.push(name.into());
        self
    }

    /// The accepted values of the token header's `typ`, replacing the default `JWT` and
    /// `at+jwt` ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)). A token with another
    /// `typ` is refused (`401`, `invalid_token`, "token type not accepted"): a logout token
    /// (`logout+jwt`) or a security event token (`secevent+jwt`) signed by the same provider is
    /// not an access token ([RFC 8725 section 3.11](https://www.rfc-editor.org/rfc/rfc8725#section-3.11)).
    ///
    /// Each is a media type, `type/subtype` or `subtype` for `application/subtype`, compared
    /// without regard to case: `at+jwt` accepts `at+jwt`, `AT+JWT` and `application/at+jwt`
    /// ([RFC 7515 section 4.1.9](https://www.rfc-editor.org/rfc/rfc7515#section-4.1.9)). A token
    /// without `typ` is accepted unless [`require_type`](Self::require_type) is on.
    pub fn allowed_types<T: Into<String>>(mut self, types: impl IntoIterator<Item = T>) -> Self {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Whether tokens must have a `typ` header (default `false`: many providers leave it out
    /// of access tokens). On, with `allowed_types(["at+jwt"])`, for RFC 9068's profile.
    pub fn require_type(mut self, on: bool) -> Self {
        self.require_type = on;
        self
    }

    /// The claim that names the principal's [`Tier`](crate::auth::Tier) (default `tier`;
    /// `None` for none). A token without it is on
    /// [`Tier::AUTHENTICATED`](crate::auth::Tier::AUTHENTICATED).
    pub fn tier_claim(mut self, name: Option<&str>) -> Self {
        self.tier_claim = name.map(Into::into);
        self
    }

    /// The claim that lists the principal's roles, an array or a space-separated string
    /// (default `roles`; `None` for none).
    pub fn roles_claim(mut self, name: Option<&str>) -> Self {
        self.roles_claim = name.map(Into::into);
        self
    }

    /// The largest token accepted, in bytes (default 8 KiB), checked before any parsing.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Keeps up to `capacity` verified tokens (with an `exp`), so that a token seen again is
    /// accepted without checking its signature, until its `exp`. Keyed by the SHA-256 digest
    /// of the whole token; a remote key set that changes empties it. When full, the entry
    /// cached first is dropped to make room (first in, first out: one entry looked at per
    /// insert, whatever the capacity).
    pub fn cache(mut self, capacity: usize) -> Self {
        self.cache = Some(capacity);
        self
    }

    /// The clock for `exp`, `nbf` and the cache (default: the system clock,
    /// [`SystemClock`](crate::SystemClock)). Tests pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The realm of the `WWW-Authenticate: Bearer` challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The authenticator.
    ///
    /// # Errors
    ///
    /// When there are no keys, no accepted algorithms, a static key whose algorithm is not
    /// accepted, no issuer or no audience (unless waived), a waiver beside a value
    /// ([`ConfigError::Contradiction`]), both static keys and a JWK set, an [allowed type](Self::allowed_types) that is
    /// not a media type (or none with [`require_type`](Self::require_type)), or a realm that
    /// cannot be quoted.
    pub fn build(self) -> Result<JwtAuth, ConfigError> {
        #[cfg(feature = "jwks")]
        let remote = self.jwks.is_some();
        #[cfg(not(feature = "jwks"))]
        let remote = false;
        if self.keys.is_empty() && !remote {
            return Err(ConfigError::NoKeys);
        }
        let algorithms = match self.algorithms {
            Some(algs) => algs,
            None if remote => return Err(ConfigError::NoAlgorithms),
            None => {
                let mut algs: Vec<Algorithm> = self.keys.iter().filter_map(|k| k.alg).collect();
                algs.dedup();
                algs
            }
        };
        if algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        for key in &self.keys {
            if let Some(alg) = key.alg
                && !algorithms.contains(&alg)
            {
                return Err(ConfigError::AlgorithmNotAccepted(alg_name(alg)));
            }
        }
        match (self.issuers.is_empty(), self.any_issuer) {
            (true, false) => return Err(ConfigError::NoIssuer),
            (false, true) => {
                return Err(ConfigError::Contradiction(
                    "issuer(..) and any_issuer(true)",
                ));
            }
            _ => {}
        }
        match (self.audiences.is_empty(), self.any_audience) {
            (true, false) => return Err(ConfigError::NoAudience),
            (false, true) => {
                return Err(ConfigError::Contradiction(
                    "audience(..) and any_audience(true)",
                ));
            }
            _ => {}
        }
        let mut types = Vec::with_capacity(self.types.len());
        for typ in self.types {
            types.push(media_type(&typ).ok_or(ConfigError::InvalidValue(typ))?);
        }
        if types.is_empty() && self.require_type {
            return Err(ConfigError::InvalidValue(
                "require_type(true) with no allowed type".into(),
            ));
        }
        if !is_quotable(&self.realm) {
            return Err(ConfigError::InvalidValue(self.realm));
        }
        crypto_ready()?;
        let challenge = challenge("Bearer", &self.realm, &[])
            .ok_or_else(|| ConfigError::InvalidValue(self.realm.clone()))?;
        #[cfg(feature = "jwks")]
        let keys = match self.jwks {
            Some(_) if !self.keys.is_empty() => return Err(ConfigError::KeysAndJwks),
            Some(jwks) => Keys::Remote(jwks),
            None => Keys::Static(Arc::new(KeySet::new(self.keys))),
        };
        #[cfg(not(feature = "jwks"))]
        let keys = Keys::Static(Arc::new(KeySet::new(self.keys)));
        Ok(JwtAuth {
            config: Arc::new(Config {
                keys,
                algorithms,
                issuers: self.issuers,
                audiences: self.audiences,
                leeway: self.leeway.as_secs(),
                require_exp: self.require_exp,
                required_claims: self.required_claims,
                types,
                require_type: self.require_type,
                tier_claim: self.tier_claim,
                roles_claim: self.roles_claim,
                max_len: self.max_len,
                cache: self.cache.map(TokenCache::new),
                clock: self.clock,
                realm: self.realm,
                challenge,
            }),
        })
    }
}
