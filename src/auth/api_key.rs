//! API keys: [`ApiKeyAuth`] looks them up by their SHA-256 digest ([`KeyDigest`]) in a
//! [`KeyStore`], so stores hold hashes only; [`generate_api_key`] makes new ones. A
//! configuration that cannot work is a [`ConfigError`].
//!
//! ```
//! use tower_shield::ManualClock;
//! use tower_shield::auth::api_key::{ApiKeyAuth, ConfigError, MemoryKeyStore};
//!
//! let auth = ApiKeyAuth::builder(MemoryKeyStore::new())
//!     .header("X-Client-Key")
//!     .clock(ManualClock::at_unix_secs(1_700_000_000)) // expiry decided on this clock
//!     .build()?;
//!
//! let err = ApiKeyAuth::builder(MemoryKeyStore::new()).header("Authorization").build();
//! assert_eq!(err.unwrap_err(), ConfigError::ReservedHeader("Authorization".into()));
//! # Ok::<(), ConfigError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::{HeaderName, HeaderValue};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Answer, AuthError, AuthMethod, Authenticator, Outcome, Principal, RequestHead};
use crate::core::util::query_values;
use crate::core::{Clock, SharedClock, system_clock};

/// The longest API key looked at; longer ones are refused before they are hashed.
const MAX_KEY_LEN: usize = 256;

/// The SHA-256 digest of an API key: what a [`KeyStore`] holds instead of the key.
///
/// Equality is constant-time. Looking keys up by digest is safe against timing attacks: the
/// time a lookup takes depends on the digest, which an attacker cannot steer toward a stored
/// one without a preimage of SHA-256.
#[derive(Clone, Copy)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    /// The digest of `key`.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// A digest from its 64 lowercase or uppercase hex digits (as stored in a database or a
    /// configuration file), or `None`.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Self(out))
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for KeyDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyDigest {}

impl Hash for KeyDigest {
    /// Eight bytes of the digest: already uniform, so a map keyed by digests needs no hashing
    /// of its own (the key store's map uses them as they are).
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

/// The hasher of maps keyed by [`KeyDigest`]: the digest's own bytes are the hash.
///
/// Safe against collision flooding: lookups never insert, so only the operator's keys are in
/// the map, and a client who grinds keys toward one bucket only makes its own lookup walk
/// that bucket's few entries, each compared in constant time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Not used by [`KeyDigest`]; mixes anything else in FNV-1a's way.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A map keyed by API-key digests, hashed by [`DigestHasher`].
type DigestMap = HashMap<KeyDigest, ApiKeyRecord, std::hash::BuildHasherDefault<DigestHasher>>;

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({})", self.to_hex())
    }
}

/// What a [`KeyStore`] knows about one API key.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    principal: Principal,
    expires_at: Option<SystemTime>,
    revoked: bool,
}

impl ApiKeyRecord {
    /// A key that authenticates as `principal` (its subject, tier and scopes), with no expiry.
    /// Give the principal a [`key_id`](super::PrincipalBuilder::key_id) to tell a client's
    /// rotated keys apart in audit logs.
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            expires_at: None,
            revoked: false,
        }
    }

    /// The key stops working at `at`.
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The key is revoked: it is refused with "API key revoked".
    #[must_use]
    pub fn revoked(mut self, revoked: bool) -> Self {
        self.revoked = revoked;
        self
    }

    /// Who the key authenticates.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// When the key stops working, if ever.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether the key is revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }
}

/// Where API keys are looked up, by digest. Implement it for a database; [`MemoryKeyStore`]
/// is provided.
///
/// A client may have several active keys at once (rotation: issue the new key, let clients
/// move, then revoke the old one); each is its own record.
pub trait KeyStore: Send + Sync + 'static {
    /// The record of the key with this digest, if the store has one.
    fn find(&self, digest: &KeyDigest) -> Answer<Option<ApiKeyRecord>>;
}

impl<K: KeyStore + ?Sized> KeyStore for Arc<K> {
    fn find(&self, digest: &KeyDigest) -> Answer<Option<ApiKeyRecord>> {
        (**self).find(digest)
    }
}

/// An in-memory [`KeyStore`]: lookups read a snapshot without taking a lock; changes
/// (insert, revoke, remove) copy the map, which suits key sets that change rarely.
///
/// Clones share the same keys, so a clone kept by an admin endpoint can revoke keys while the
/// layer serves.
#[derive(Clone, Default)]
pub struct MemoryKeyStore {
    keys: Arc<ArcSwap<DigestMap>>,
    writer: Arc<Mutex<()>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn update<R>(&self, f: impl FnOnce(&mut DigestMap) -> R) -> R {
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = DigestMap::clone(&self.keys.load());
        let out = f(&mut map);
        self.keys.store(Arc::new(map));
        out
    }

    /// Adds (or replaces) the key with this digest.
    pub fn insert(&self, digest: KeyDigest, record: ApiKeyRecord) {
        self.update(|map| {
            map.insert(digest, record);
        });
    }

    /// Revokes the key with this digest; `false` when there is none.
    pub fn revoke(&self, digest: &KeyDigest) -> bool {
        self.update(|map| match map.get_mut(digest) {
            Some(record) => {
                record.revoked = true;
                true
            }
            None => false,
        })
    }

    /// Revokes every key of `subject` (a client's every rotation); returns how many.
    pub fn revoke_subject(&self, subject: &str) -> usize {
        self.update(|map| {
            let mut n = 0;
            for record in map.values_mut() {
                if record.principal.subject() == subject && !record.revoked {
                    record.revoked = true;
                    n += 1;
                }
            }
            n
        })
    }

    /// Forgets the key with this digest (it is then refused as unknown).
    pub fn remove(&self, digest: &KeyDigest) -> Option<ApiKeyRecord> {
        self.update(|map| map.remove(digest))
    }

    /// How many keys the store holds, revoked ones included.
    pub fn len(&self) -> usize {
        self.keys.load().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &self.len())
            .finish()
    }
}

impl KeyStore for MemoryKeyStore {
    fn find(&self, digest: &KeyDigest) -> Answer<Option<ApiKeyRecord>> {
        Answer::Ready(self.keys.load().get(digest).cloned())
    }
}

/// A freshly generated API key: give [`key`](Self::key) to the client once, store
/// [`digest`](Self::digest). `Debug` does not show the key.
#[derive(Clone)]
pub struct GeneratedKey {
    key: String,
    digest: KeyDigest,
}

impl GeneratedKey {
    /// The key, to hand to the client once and never store.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its digest, to store.
    pub fn digest(&self) -> KeyDigest {
        self.digest
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key", &"<redacted>")
            .field("digest", &self.digest)
            .finish()
    }
}

/// Generates an API key: `prefix` followed by 256 random bits from a cryptographically secure
/// generator seeded by the operating system, as 64 lowercase hex digits (`ak_live_3f9c…`). A recognizable prefix lets secret
/// scanners (and people) spot leaked keys and tell live keys from test keys.
///
/// ```
/// use tower_shield::auth::{KeyDigest, generate_api_key};
///
/// let generated = generate_api_key("ak_live_").unwrap();
/// assert!(generated.key().starts_with("ak_live_"));
/// assert_eq!(generated.key().len(), 8 + 64);
/// assert_eq!(KeyDigest::of(generated.key()), generated.digest());
/// ```
///
/// # Errors
///
/// When `prefix` is longer than 32 bytes or has a character other than ASCII letters, digits
/// and `_`.
pub fn generate_api_key(prefix: &str) -> Result<GeneratedKey, ConfigError> {
    if prefix.len() > 32
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ConfigError::InvalidPrefix);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut key = String::with_capacity(prefix.len() + 64);
    key.push_str(prefix);
    for b in bytes {
        use fmt::Write;
        let _ = write!(key, "{b:02x}");
    }
    let digest = KeyDigest::of(&key);
    Ok(GeneratedKey { key, digest })
}

/// A configuration of [`ApiKeyAuth`] that cannot work: what [`ApiKeyBuilder::build`] (and
/// [`generate_api_key`]) refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The header name is not a valid HTTP header name.
    #[error("`{0}` is not a valid header name")]
    InvalidHeader(String),
    /// The header is `Authorization` or another header with its own meaning.
    #[error("`{0}` has its own meaning and cannot carry API keys")]
    ReservedHeader(String),
    /// The query parameter name is empty or has characters that need percent-encoding.
    #[error("`{0}` is not a plain query parameter name")]
    InvalidQueryParameter(String),
    /// The realm has characters that cannot sit in a quoted header parameter.
    #[error("realm `{0}` cannot be quoted in a header")]
    InvalidRealm(String),
    /// A key prefix given to [`generate_api_key`] is too long or has characters other than
    /// ASCII letters, digits and `_`.
    #[error("an API key prefix is at most 32 ASCII letters, digits and underscores")]
    InvalidPrefix,
}

/// Authenticates API keys sent in a header (`X-API-Key` by default), and in a query parameter
/// only when [explicitly enabled](ApiKeyBuilder::query_parameter).
///
/// The key is hashed with SHA-256 and looked up by digest in a [`KeyStore`]: an unknown key is
/// `401` "invalid API key"; a revoked one "API key revoked"; an expired one "API key expired".
///
/// A request with the key in the query string only, while the query form is off, is a `401`
/// that says to use the header: the key is not used, and the client learns why. Beside a key in
/// the header, the query string is not read (the header's key decides). Two keys (two
/// header lines, two query values, or a header and a query key with the query form on) are a
/// `401` "more than one API key".
#[derive(Clone)]
pub struct ApiKeyAuth<K = MemoryKeyStore> {
    store: K,
    header: HeaderName,
    query: Box<str>,
    query_enabled: bool,
    challenge: HeaderValue,
    clock: SharedClock,
}

impl<K: fmt::Debug> fmt::Debug for ApiKeyAuth<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuth")
            .field("store", &self.store)
            .field("header", &self.header)
            .field("query", &self.query)
            .field("query_enabled", &self.query_enabled)
            .finish_non_exhaustive()
    }
}

impl<K: KeyStore> ApiKeyAuth<K> {
    /// Keys from the `X-API-Key` header, looked up in `store`.
    pub fn new(store: K) -> Self {
        Self {
            store,
            header: HeaderName::from_static("x-api-key"),
            query: "api_key".into(),
            query_enabled: false,
            challenge: HeaderValue::from_static(r#"ApiKey realm="api", header="X-API-Key""#),
            clock: system_clock(),
        }
    }

    /// Configures more than the defaults of [`new`](Self::new).
    pub fn builder(store: K) -> ApiKeyBuilder<K> {
        ApiKeyBuilder {
            store,
            header: "X-API-Key".into(),
            query: "api_key".into(),
            query_enabled: false,
            realm: "api".into(),
            clock: system_clock(),
        }
    }

    fn decide(&self, record: Option<ApiKeyRecord>) -> Outcome {
        decide(record, &*self.clock)
    }
}

fn decide(record: Option<ApiKeyRecord>, clock: &dyn Clock) -> Outcome {
    let Some(record) = record else {
        return Outcome::Rejected(AuthError::invalid(AuthMethod::ApiKey, "invalid API key"));
    };
    if record.revoked {
        return Outcome::Rejected(AuthError::invalid(AuthMethod::ApiKey, "API key revoked"));
    }
    if let Some(at) = record.expires_at
        && clock.system_time() >= at
    {
        return Outcome::Rejected(AuthError::expired(AuthMethod::ApiKey, "API key expired"));
    }
    Outcome::Authenticated(record.principal)
}

impl<K: KeyStore> Authenticator for ApiKeyAuth<K> {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        let invalid = |detail: &'static str| {
            Answer::Ready(Outcome::Rejected(AuthError::invalid(
                AuthMethod::ApiKey,
                detail,
            )))
        };
        let mut values = req.headers().get_all(&self.header).iter();
        let owned;
        let key: &str = match (values.next(), values.next()) {
            (Some(_), Some(_)) => return invalid("more than one API key"),
            // With the query form on, a key in the query beside the header's: which one is meant
            // (a proxy may read the other)? Refused, as two header lines are.
            (Some(_), None)
                if self.query_enabled
                    && query_values(req.uri().query().unwrap_or_default(), &self.query)
                        .next()
                        .is_some() =>
            {
                return invalid("more than one API key");
            }
            (Some(value), None) => match value.to_str() {
                Ok(key) => key,
                Err(_) => return invalid("malformed API key"),
            },
            (None, _) => {
                let query = req.uri().query().unwrap_or_default();
                let mut found = query_values(query, &self.query);
                match (found.next(), found.next()) {
                    (None, _) => return Answer::Ready(Outcome::Skip),
                    (Some(_), _) if !self.query_enabled => {
                        return invalid(
                            "API keys are not accepted in the query string; send the key in the header",
                        );
                    }
                    (Some(_), Some(_)) => return invalid("more than one API key"),
                    (Some(None), None) => return invalid("malformed API key"),
                    (Some(Some(key)), None) => {
                        owned = key;
                        &owned
                    }
                }
            }
        };
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return invalid("malformed API key");
        }
        let digest = KeyDigest::of(key);
        match self.store.find(&digest) {
            Answer::Ready(record) => Answer::Ready(self.decide(record)),
            Answer::Later(fut) => {
                let clock = Arc::clone(&self.clock);
                Answer::later(async move { decide(fut.await, &*clock) })
            }
        }
    }

    fn challenge(&self, _failure: Option<&AuthError>) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }
}

/// Builds an [`ApiKeyAuth`]; see [`ApiKeyAuth::builder`].
#[must_use]
pub struct ApiKeyBuilder<K> {
    store: K,
    header: String,
    query: String,
    query_enabled: bool,
    realm: String,
    clock: SharedClock,
}

impl<K: fmt::Debug> fmt::Debug for ApiKeyBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyBuilder")
            .field("store", &self.store)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl<K: KeyStore> ApiKeyBuilder<K> {
    /// The header that carries the key (default `X-API-Key`).
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = name.into();
        self
    }

    /// Also accepts the key in query parameter `name` (off by default).
    ///
    /// Keys in URLs leak: into access logs of every proxy on the way, browser history,
    /// `Referer` headers sent to other sites, and error trackers. Enable it only for clients
    /// that cannot send headers, and rotate such keys often.
    pub fn query_parameter(mut self, name: impl Into<String>) -> Self {
        self.query = name.into();
        self.query_enabled = true;
        self
    }

    /// The realm of the `WWW-Authenticate: ApiKey` challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The clock that decides whether a key has expired (default the system clock); a
    /// [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The authenticator.
    ///
    /// # Errors
    ///
    /// When the header name is invalid or reserved (`Authorization`, `Cookie`, ...), the query
    /// parameter name is not plain, or the realm cannot be quoted.
    pub fn build(self) -> Result<ApiKeyAuth<K>, ConfigError> {
        let header = HeaderName::try_from(self.header.as_str())
            .map_err(|_| ConfigError::InvalidHeader(self.header.clone()))?;
        if matches!(
            header.as_str(),
            "authorization" | "proxy-authorization" | "cookie" | "host" | "origin" | "forwarded"
        ) || header.as_str().starts_with("sec-")
        {
            return Err(ConfigError::ReservedHeader(self.header));
        }
        if self.query.is_empty()
            || !self
                .query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(ConfigError::InvalidQueryParameter(self.query));
        }
        if !super::is_quotable(&self.realm) {
            return Err(ConfigError::InvalidRealm(self.realm));
        }
        let challenge = super::challenge("ApiKey", &self.realm, &[("header", &self.header)])
            .ok_or(ConfigError::InvalidRealm(self.realm))?;
        Ok(ApiKeyAuth {
            store: self.store,
            header,
            query: self.query.into(),
            query_enabled: self.query_enabled,
            challenge,
            clock: self.clock,
        })
    }
}

#[cfg(test)]
mod tests;
