//! Configuring a [`SignatureLayer`]: its scheme, keys, tolerance, body limit and replay store,
//! checked once at build.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::http_sig;
use super::key::{Algorithm, VerifyingKey};
use super::layer::{Config, SignatureLayer};
use super::{ConfigError, Scheme, standard_webhooks};
use crate::core::{Clock, SharedClock, system_clock};
use crate::rate_limit::{MemoryStore, Store};

/// The default tolerance between a signature's timestamp and now, either way: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The default limit of the body read and verified: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// How many message ids the default in-memory replay store remembers at most.
pub const DEFAULT_REPLAY_KEYS: usize = 100_000;

enum Replay {
    Memory,
    Off,
    Store(Arc<dyn Store>),
}

/// Configures a [`SignatureLayer`]; start with [`SignatureLayer::standard_webhooks`],
/// [`stripe`](SignatureLayer::stripe), [`github`](SignatureLayer::github) or
/// [`http_message_signatures`](SignatureLayer::http_message_signatures).
#[must_use]
pub struct SignatureBuilder {
    scheme: Scheme,
    keys: Vec<VerifyingKey>,
    error: Option<ConfigError>,
    tolerance: Duration,
    max_body: usize,
    replay: Replay,
    clock: Option<SharedClock>,
    http: http_sig::Policy,
}

impl SignatureLayer {
    /// A layer verifying `scheme`.
    pub fn builder(scheme: Scheme) -> SignatureBuilder {
        SignatureBuilder {
            scheme,
            keys: Vec::new(),
            error: None,
            tolerance: DEFAULT_TOLERANCE,
            max_body: DEFAULT_MAX_BODY,
            replay: Replay::Memory,
            clock: None,
            http: http_sig::Policy::default(),
        }
    }

    /// [Standard Webhooks](https://www.standardwebhooks.com/) (`webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`).
    pub fn standard_webhooks() -> SignatureBuilder {
        Self::builder(Scheme::StandardWebhooks)
    }

    /// Stripe (`Stripe-Signature`).
    pub fn stripe() -> SignatureBuilder {
        Self::builder(Scheme::Stripe)
    }

    /// GitHub (`X-Hub-Signature-256`; replays refused by the body, as `X-GitHub-Delivery` is
    /// not signed).
    pub fn github() -> SignatureBuilder {
        Self::builder(Scheme::GitHub)
    }

    /// RFC 9421 HTTP Message Signatures (`Signature-Input`, `Signature`), with RFC 9530
    /// `Content-Digest` for the body.
    pub fn http_message_signatures() -> SignatureBuilder {
        Self::builder(Scheme::HttpMessageSignatures)
    }
}

impl SignatureBuilder {
    /// Accepts signatures made with the shared secret `secret` of `owner` (who becomes the
    /// principal's subject): for Standard Webhooks written `whsec_<base64>`; for Stripe the
    /// `whsec_...` string as it is; for GitHub the webhook's secret. Call it again for each
    /// secret accepted during a rotation.
    pub fn secret(self, owner: impl Into<Arc<str>>, secret: &str) -> Self {
        let key = match self.scheme {
            Scheme::StandardWebhooks => standard_webhooks::parse_secret(secret)
                .map(|bytes| VerifyingKey::hmac_sha256(owner, bytes)),
            _ if secret.is_empty() => Err(ConfigError::InvalidKey("an empty secret")),
            _ => Ok(VerifyingKey::hmac_sha256(owner, secret.as_bytes())),
        };
        self.push(key)
    }

    /// Standard Webhooks: accepts `v1a` (Ed25519) signatures of the public key `whpk_<base64>`
    /// of `owner`.
    pub fn public_key(self, owner: impl Into<Arc<str>>, public_key: &str) -> Self {
        let key = standard_webhooks::parse_public_key(public_key)
            .and_then(|raw| VerifyingKey::public_key_der(owner, Algorithm::Ed25519, &raw));
        self.push(key)
    }

    /// Accepts signatures of `key` (RFC 9421: found by its [id](VerifyingKey::with_id)).
    pub fn key(mut self, key: VerifyingKey) -> Self {
        self.keys.push(key);
        self
    }

    fn push(mut self, key: Result<VerifyingKey, ConfigError>) -> Self {
        match key {
            Ok(key) => self.keys.push(key),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// How far a signature's timestamp may be from now, either way (default
    /// [`DEFAULT_TOLERANCE`]). Message ids are remembered for twice this.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Reads at most `max_body` bytes of body (default [`DEFAULT_MAX_BODY`]); a larger body is
    /// answered `413` without being read further.
    pub fn max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// Remembers message ids (and nonces) to refuse replays (default on, in this process's
    /// memory, [`DEFAULT_REPLAY_KEYS`] at most); off, a replay within the tolerance passes.
    pub fn replay_protection(mut self, on: bool) -> Self {
        self.replay = if on { Replay::Memory } else { Replay::Off };
        self
    }

    /// Remembers message ids in `store` ([`Store::remember`]): a
    /// [`RedisStore`](crate::rate_limit::RedisStore) refuses a replay sent to another
    /// instance too. When the store fails the request is refused (`503`).
    pub fn replay_store(mut self, store: impl Store) -> Self {
        self.replay = Replay::Store(Arc::new(store));
        self
    }

    /// Reads time from `clock` (default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// RFC 9421: the components every signature must cover (default `@method`, `@authority`,
    /// `@path`, `@query` and `content-digest`). Names are lowercase (`@method`,
    /// `content-type`). `content-digest` is required only of requests with a body, and
    /// `@query` only of requests whose target has a query, which `@target-uri` or
    /// `@request-target` cover too: a query no signature covers could be rewritten on the way
    /// (RFC 9421 section 7.2.1).
    ///
    /// A component with parameters is written as `Signature-Input` writes it, a quoted name
    /// then its parameters (`"\"@query-param\";name=\"id\""`, `"\"example-dict\";key=\"a\""`),
    /// and matches whatever the order of its parameters. An entry that does not parse is a
    /// build error ([`ConfigError::InvalidComponent`]).
    pub fn require_components<S: AsRef<str>>(
        mut self,
        components: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut required = Vec::new();
        for c in components {
            let c = c.as_ref().trim();
            if !c.starts_with('"') {
                required.push(c.to_ascii_lowercase());
                continue;
            }
            match http_sig::sf::parse_item(c) {
                Ok((http_sig::sf::Item::String(name), params))
                    if !name.bytes().any(|b| b.is_ascii_uppercase()) =>
                {
                    required.push(if params.is_empty() {
                        name
                    } else {
                        http_sig::components::identity(&name, &params)
                    });
                }
                _ => {
                    self.error
                        .get_or_insert(ConfigError::InvalidComponent(c.to_owned()));
                }
            }
        }
        self.http.required = required;
        self
    }

    /// RFC 9421: requires the `created` parameter (default on), checked against the tolerance.
    /// Off only with [`replay_protection(false)`](Self::replay_protection): a signature without
    /// `created` can stay valid longer than its message is remembered.
    pub fn require_created(mut self, on: bool) -> Self {
        self.http.require_created = on;
        self
    }

    /// RFC 9421: only signatures whose `tag` parameter is `tag` are considered.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.http.tag = Some(tag.into());
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// A key that did not parse, no key, a key that cannot sign for the scheme (an RFC 9421
    /// key without an id, a public key for Stripe or GitHub), a zero tolerance or body limit,
    /// RFC 9421's `created` not required while replays are refused
    /// ([`ConfigError::ReplayNeedsCreated`]).
    pub fn build(self) -> Result<SignatureLayer, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.keys.is_empty() {
            return Err(ConfigError::NoKey);
        }
        for key in &self.keys {
            let fits = match self.scheme {
                Scheme::StandardWebhooks => {
                    matches!(key.algorithm(), Algorithm::HmacSha256 | Algorithm::Ed25519)
                }
                Scheme::Stripe | Scheme::GitHub => key.algorithm() == Algorithm::HmacSha256,
                Scheme::HttpMessageSignatures => key.key_id().is_some(),
            };
            if !fits {
                return Err(ConfigError::KeyNotForScheme(self.scheme));
            }
        }
        if self.tolerance.as_secs() == 0 {
            return Err(ConfigError::ZeroTolerance);
        }
        if self.max_body == 0 {
            return Err(ConfigError::ZeroMaxBody);
        }
        let replays_refused = !matches!(self.replay, Replay::Off);
        if self.scheme == Scheme::HttpMessageSignatures
            && !self.http.require_created
            && replays_refused
        {
            return Err(ConfigError::ReplayNeedsCreated);
        }
        let mut keys = self.keys;
        for key in &mut keys {
            key.principal = Some(key.principal());
        }
        let clock = self.clock.unwrap_or_else(system_clock);
        let replay: Option<Arc<dyn Store>> = match self.replay {
            Replay::Off => None,
            Replay::Store(store) => Some(store),
            Replay::Memory => Some(Arc::new(
                MemoryStore::builder()
                    .clock(Arc::clone(&clock))
                    .max_keys(DEFAULT_REPLAY_KEYS)
                    .build(),
            )),
        };
        Ok(SignatureLayer {
            config: Arc::new(Config {
                scheme: self.scheme,
                keys,
                tolerance: self.tolerance.as_secs(),
                max_body: self.max_body,
                replay,
                clock,
                http: self.http,
            }),
        })
    }
}

impl fmt::Debug for SignatureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureBuilder")
            .field("scheme", &self.scheme)
            .field("keys", &self.keys)
            .field("tolerance", &self.tolerance)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}
