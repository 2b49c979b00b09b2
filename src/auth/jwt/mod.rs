//! Bearer JSON Web Tokens, verified with `jsonwebtoken` (on aws-lc-rs) against static keys or
//! a remote JWK set (feature `jwks`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use http::header::AUTHORIZATION;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[cfg(feature = "jwks")]
mod jwks;

#[cfg(feature = "jwks")]
pub use jwks::{Jwks, JwksBuilder, JwksError};

use super::{
    Answer, AuthError, AuthErrorKind, AuthMethod, Authenticator, Outcome, Principal, RequestHead,
    Scopes, Tier,
};

/// The default cap on a token's size, checked before any parsing.
const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

/// The algorithm named exactly `name` (case-sensitive, as RFC 7518 names them).
fn alg_by_name(name: &str) -> Option<Algorithm> {
    name.parse().ok()
}

/// A key that verifies token signatures, with the algorithm it is for.
///
/// The algorithm is part of the key, never taken from a token: an RSA key made for `RS256`
/// verifies `RS256` signatures only, so an `HS256` token "signed" with the public key as an
/// HMAC secret is refused.
#[derive(Clone)]
pub struct JwtKey {
    pub(crate) key: DecodingKey,
    /// `None` for a JWK without `alg`: any configured algorithm of the key's family.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) kid: Option<Box<str>>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn family_of(alg: Algorithm) -> AlgorithmFamily {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => AlgorithmFamily::Rsa,
    }
}

impl JwtKey {
    fn checked(
        key: jsonwebtoken::errors::Result<DecodingKey>,
        alg: Algorithm,
        family: AlgorithmFamily,
    ) -> Result<Self, JwtConfigError> {
        if family_of(alg) != family {
            return Err(JwtConfigError::KeyAlgorithmMismatch(alg_name(alg)));
        }
        let key = key.map_err(|e| JwtConfigError::InvalidKey(e.to_string()))?;
        Ok(Self {
            key,
            alg: Some(alg),
            kid: None,
        })
    }

    /// An RSA public key (PKCS#1 or SubjectPublicKeyInfo PEM) for `RS256`/`384`/`512` or
    /// `PS256`/`384`/`512`.
    ///
    /// # Errors
    ///
    /// When `alg` is not an RSA algorithm or the PEM holds no RSA public key.
    pub fn rsa_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, JwtConfigError> {
        Self::checked(DecodingKey::from_rsa_pem(pem), alg, AlgorithmFamily::Rsa)
    }

    /// An RSA public key in PKCS#1 DER.
    ///
    /// # Errors
    ///
    /// When `alg` is not an RSA algorithm.
    pub fn rsa_der(alg: Algorithm, der: &[u8]) -> Result<Self, JwtConfigError> {
        Self::checked(
            Ok(DecodingKey::from_rsa_der(der)),
            alg,
            AlgorithmFamily::Rsa,
        )
    }

    /// An elliptic-curve public key (SubjectPublicKeyInfo PEM) for `ES256` (P-256) or
    /// `ES384` (P-384).
    ///
    /// # Errors
    ///
    /// When `alg` is not an ECDSA algorithm or the PEM holds no EC public key.
    pub fn ec_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, JwtConfigError> {
        Self::checked(DecodingKey::from_ec_pem(pem), alg, AlgorithmFamily::Ec)
    }

    /// An elliptic-curve public key as a SEC1 point (DER).
    ///
    /// # Errors
    ///
    /// When `alg` is not an ECDSA algorithm.
    pub fn ec_der(alg: Algorithm, der: &[u8]) -> Result<Self, JwtConfigError> {
        Self::checked(Ok(DecodingKey::from_ec_der(der)), alg, AlgorithmFamily::Ec)
    }

    /// An Ed25519 public key (SubjectPublicKeyInfo PEM) for `EdDSA`.
    ///
    /// # Errors
    ///
    /// When the PEM holds no Ed25519 public key.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, JwtConfigError> {
        Self::checked(
            DecodingKey::from_ed_pem(pem),
            Algorithm::EdDSA,
            AlgorithmFamily::Ed,
        )
    }

    /// An Ed25519 public key: its 32 raw bytes.
    ///
    /// # Errors
    ///
    /// Never for 32 bytes; an error otherwise.
    pub fn ed_der(raw: &[u8]) -> Result<Self, JwtConfigError> {
        if raw.len() != 32 {
            return Err(JwtConfigError::InvalidKey(
                "an Ed25519 public key is 32 bytes".into(),
            ));
        }
        Self::checked(
            Ok(DecodingKey::from_ed_der(raw)),
            Algorithm::EdDSA,
            AlgorithmFamily::Ed,
        )
    }

    /// A shared secret for `HS256`/`384`/`512`, at least as long as the hash (32, 48 or 64
    /// bytes), as RFC 7518 section 3.2 requires.
    ///
    /// # Errors
    ///
    /// When `alg` is not an HMAC algorithm or the secret is too short.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, JwtConfigError> {
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            _ => 64,
        };
        if family_of(alg) == AlgorithmFamily::Hmac && secret.len() < min {
            return Err(JwtConfigError::WeakSecret {
                alg: alg_name(alg),
                min,
            });
        }
        Self::checked(
            Ok(DecodingKey::from_secret(secret)),
            alg,
            AlgorithmFamily::Hmac,
        )
    }

    /// A public key from one JWK (JSON). Its `kid` is kept; its `alg`, when given, fixes the
    /// algorithm, else the key serves the configured algorithms of its family.
    ///
    /// # Errors
    ///
    /// When the JSON is not a JWK of a signature key this crate can use.
    pub fn jwk(json: &str) -> Result<Self, JwtConfigError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| JwtConfigError::InvalidKey(e.to_string()))?;
        Self::from_jwk_value(&value).map_err(JwtConfigError::InvalidKey)
    }

    pub(crate) fn from_jwk_value(value: &Value) -> Result<Self, String> {
        let obj = value.as_object().ok_or("a JWK is a JSON object")?;
        if obj
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return Err("the JWK is not for signatures".into());
        }
        if obj.contains_key("d") {
            return Err("the JWK holds a private key; give the public key".into());
        }
        let alg = match obj.get("alg") {
            None => None,
            Some(Value::String(a)) => {
                Some(alg_by_name(a).ok_or_else(|| format!("unsupported JWK alg {a}"))?)
            }
            Some(_) => return Err("the JWK's alg is not a string".into()),
        };
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        if let Some(alg) = alg {
            if family_of(alg) != key.family() {
                return Err(format!(
                    "the JWK's alg {} does not fit its key",
                    alg_name(alg)
                ));
            }
        }
        if key.family() == AlgorithmFamily::Hmac {
            return Err("symmetric JWKs are not accepted".into());
        }
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str().into()),
            Some(_) => return Err("the JWK's kid is not a string".into()),
        };
        Ok(Self { key, alg, kid })
    }

    /// Gives the key an id: tokens whose header has this `kid` are verified with it.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Box<str>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    fn fits(&self, alg: Algorithm) -> bool {
        match self.alg {
            Some(a) => a == alg,
            None => self.key.family() == family_of(alg),
        }
    }
}

/// A set of verification keys, by `kid`.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<JwtKey>>,
    by_kid: HashMap<Box<str>, usize>,
}

/// What a key set has for a token.
enum Selection<'a> {
    Keys(Vec<&'a JwtKey>),
    UnknownKid,
    NoKey,
}

impl KeySet {
    pub(crate) fn new(keys: Vec<JwtKey>) -> Self {
        let mut by_kid = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = &key.kid {
                by_kid.entry(kid.clone()).or_insert(i);
            }
        }
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
            by_kid,
        }
    }

    /// The signature keys of a JWK set document, skipping keys this crate cannot use (other
    /// key types, encryption keys, private or symmetric keys).
    ///
    /// # Errors
    ///
    /// When the document is not a JWK set.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn from_jwk_set(json: &[u8]) -> Result<Self, String> {
        let doc: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the document has no `keys` array")?;
        Ok(Self::new(
            keys.iter()
                .filter_map(|k| JwtKey::from_jwk_value(k).ok())
                .collect(),
        ))
    }

    /// How many keys the set has.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The kids of the set, for comparing two sets.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(&i) if self.keys[i].fits(alg) => Selection::Keys(vec![&*self.keys[i]]),
                Some(_) => Selection::NoKey,
                None => Selection::UnknownKid,
            },
            None => {
                let keys: Vec<&JwtKey> = self
                    .keys
                    .iter()
                    .map(|k| &**k)
                    .filter(|k| k.fits(alg))
                    .collect();
                if keys.is_empty() {
                    Selection::NoKey
                } else {
                    Selection::Keys(keys)
                }
            }
        }
    }
}

/// Makes sure `jsonwebtoken` has a working crypto provider, so that no request can meet its
/// "no provider" panic: installs aws-lc-rs as the process default (unless the application
/// installed one first) and verifies a known HS256 signature. When a dependency graph turns on
/// both of jsonwebtoken's backends and nothing is installed, this is a build error here rather
/// than a panic per request.
fn crypto_ready() -> Result<(), JwtConfigError> {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let key = DecodingKey::from_secret(b"tower-shield self-test key 32 b!");
    let check = || {
        jsonwebtoken::crypto::verify(
            "MuhT29KTresj0ySsh3XAcfiAdJBLN_3fC7youwh4k6g",
            b"eyJhbGciOiJIUzI1NiJ9.e30",
            &key,
            Algorithm::HS256,
        )
    };
    match std::panic::catch_unwind(check) {
        Ok(Ok(true)) => Ok(()),
        _ => Err(JwtConfigError::CryptoProvider),
    }
}

/// Where a [`JwtAuth`] gets its keys.
#[derive(Clone)]
enum Keys {
    Static(Arc<KeySet>),
    #[cfg(feature = "jwks")]
    Remote(Jwks),
}

/// A configuration of [`JwtAuth`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// Neither a key nor a JWK set was given.
    NoKeys,
    /// No algorithm is accepted.
    NoAlgorithms,
    /// A key cannot be read.
    InvalidKey(String),
    /// A key was made for an algorithm of another family (an RSA key for `ES256`).
    KeyAlgorithmMismatch(&'static str),
    /// A key's algorithm is not among the accepted algorithms.
    AlgorithmNotAccepted(&'static str),
    /// An HMAC secret shorter than its hash.
    WeakSecret {
        /// The algorithm.
        alg: &'static str,
        /// The shortest secret allowed, in bytes.
        min: usize,
    },
    /// A realm, issuer, audience or claim name that cannot be used.
    InvalidValue(String),
    /// Both static keys and a JWK set were given: use one source of keys.
    KeysAndJwks,
    /// `jsonwebtoken` has no working crypto provider (another crate installed a broken one).
    CryptoProvider,
}

impl fmt::Display for JwtConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKeys => f.write_str("a JWT authenticator needs a key or a JWK set"),
            Self::NoAlgorithms => f.write_str("a JWT authenticator needs accepted algorithms"),
            Self::InvalidKey(e) => write!(f, "invalid key: {e}"),
            Self::KeyAlgorithmMismatch(alg) => write!(f, "the key is not a key for {alg}"),
            Self::AlgorithmNotAccepted(alg) => {
                write!(
                    f,
                    "a key is for {alg}, which is not among the accepted algorithms"
                )
            }
            Self::WeakSecret { alg, min } => {
                write!(f, "an {alg} secret must be at least {min} bytes")
            }
            Self::InvalidValue(v) => write!(f, "invalid value: {v}"),
            Self::KeysAndJwks => f.write_str("give static keys or a JWK set, not both"),
            Self::CryptoProvider => f.write_str("jsonwebtoken has no working crypto provider"),
        }
    }
}

impl std::error::Error for JwtConfigError {}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A token already verified, and until when it may be accepted without verifying again.
struct CacheEntry {
    principal: Principal,
    exp: u64,
    generation: u64,
}

/// A bounded map from a token's SHA-256 digest to its principal, sharded so that readers on
/// different shards never meet.
type Shard = RwLock<HashMap<[u8; 32], CacheEntry>>;

struct TokenCache {
    shards: Box<[Shard]>,
    per_shard: usize,
}

const SHARDS: usize = 16;

impl TokenCache {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    fn get(&self, digest: &[u8; 32], now: u64, generation: u64) -> Option<Principal> {
        let shard = self.shard(digest).read().unwrap_or_else(|e| e.into_inner());
        let entry = shard.get(digest)?;
        (now < entry.exp && entry.generation == generation).then(|| entry.principal.clone())
    }

    fn insert(&self, digest: [u8; 32], entry: CacheEntry, now: u64) {
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, e| now < e.exp);
            if shard.len() >= self.per_shard {
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(digest, entry);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

struct Config {
    keys: Keys,
    algorithms: Vec<Algorithm>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    require_exp: bool,
    required_claims: Vec<String>,
    tier_claim: Option<String>,
    roles_claim: Option<String>,
    max_len: usize,
    cache: Option<TokenCache>,
    clock: Clock,
    realm: String,
    challenge: HeaderValue,
}

/// Authenticates `Authorization: Bearer <JWT>`.
///
/// What is checked, in order:
/// 1. the token's size (8 KiB by default), before any parsing;
/// 2. the header: `alg` must be one of the configured [algorithms](JwtBuilder::algorithms)
///    (`none`, in any case, never is); a `crit` header is refused (no extension is understood);
///    `jku`, `x5u`, `x5c` and an embedded `jwk` are never followed or used;
/// 3. the key: by `kid` (an unknown `kid` makes a remote key set refresh, at most once per
///    cool-down), else every configured key of the token's algorithm; the key's own algorithm
///    must be the token's;
/// 4. the signature, by `jsonwebtoken`;
/// 5. the claims: `exp` (required by default) and `nbf` as numbers, with the configured leeway;
///    `iss` and `aud` when configured — a token **without** them is refused; `sub` (a
///    string); any [required claim](JwtBuilder::require_claim).
///
/// The principal gets `sub` as subject, the scopes of `scope` (space-separated) and `scp`
/// (an array), the tier of the [tier claim](JwtBuilder::tier_claim), the roles of the
/// [roles claim](JwtBuilder::roles_claim), the `kid` as key id, and all claims (for
/// [`Claims<T>`](crate::auth::Claims)).
///
/// ```
/// use tower_shield::auth::{Algorithm, JwtAuth, JwtKey};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pem = include_bytes!("../../../examples/keys/jwt_public.pem");
/// let jwt = JwtAuth::builder()
///     .key(JwtKey::rsa_pem(Algorithm::RS256, pem)?)
///     .issuer("https://auth.example.com")
///     .audience("https://api.example.com")
///     .cache(10_000) // verified tokens are accepted again in well under a microsecond
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtAuth {
    config: Arc<Config>,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("algorithms", &self.config.algorithms)
            .field("issuers", &self.config.issuers)
            .field("audiences", &self.config.audiences)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused, before it becomes an [`AuthError`].
enum Failure {
    Invalid(&'static str),
    Expired(&'static str),
    /// The `kid` is not in the key set: a remote set may have rotated.
    UnknownKid,
}

/// What the header says.
struct TokenHeader {
    alg: Algorithm,
    kid: Option<String>,
}

fn now_secs(clock: &Clock) -> u64 {
    clock()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A NumericDate claim: a JSON number (integer or not), else `Err`.
fn numeric_date(value: Option<&Value>) -> Result<Option<f64>, ()> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(()),
        Some(_) => Err(()),
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl JwtAuth {
    /// Starts a configuration.
    pub fn builder() -> JwtBuilder {
        JwtBuilder {
            keys: Vec::new(),
            #[cfg(feature = "jwks")]
            jwks: None,
            algorithms: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            require_exp: true,
            required_claims: Vec::new(),
            tier_claim: Some("tier".into()),
            roles_claim: Some("roles".into()),
            max_len: DEFAULT_MAX_TOKEN_LEN,
            cache: None,
            clock: Arc::new(SystemTime::now),
            realm: "api".into(),
        }
    }

    fn parse_header(&self, token: &str) -> Result<TokenHeader, Failure> {
        let end = token.find('.').ok_or(Failure::Invalid("malformed token"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(&token[..end])
            .map_err(|_| Failure::Invalid("malformed token"))?;
        let header: serde_json::Map<String, Value> =
            serde_json::from_slice(&raw).map_err(|_| Failure::Invalid("malformed token"))?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => alg_by_name(name)
                .filter(|a| self.config.algorithms.contains(a))
                .ok_or(Failure::Invalid("token algorithm not accepted"))?,
            _ => return Err(Failure::Invalid("token algorithm not accepted")),
        };
        if header.contains_key("crit") {
            return Err(Failure::Invalid(
                "token has critical header parameters this server does not understand",
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(Failure::Invalid("malformed token")),
        };
        Ok(TokenHeader { alg, kid })
    }

    /// Verifies `token` with the keys of `set`.
    fn verify(&self, token: &str, set: &KeySet, generation: u64) -> Result<Principal, Failure> {
        let header = self.parse_header(token)?;
        let keys = match set.select(header.kid.as_deref(), header.alg) {
            Selection::Keys(keys) => keys,
            Selection::UnknownKid => return Err(Failure::UnknownKid),
            Selection::NoKey => return Err(Failure::Invalid("no key for this token")),
        };
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or(Failure::Invalid("malformed token"))?;
        let verified = keys.iter().any(|key| {
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, header.alg)
                .unwrap_or(false)
        });
        if !verified {
            return Err(Failure::Invalid("token signature invalid"));
        }
        let payload = message
            .split_once('.')
            .map(|(_, p)| p)
            .ok_or(Failure::Invalid("malformed token"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Failure::Invalid("malformed token"))?;
        let claims: Value =
            serde_json::from_slice(&payload).map_err(|_| Failure::Invalid("malformed token"))?;
        self.principal(claims, header.kid, token, generation)
    }

    /// Checks the claims and makes the principal.
    fn principal(
        &self,
        claims: Value,
        kid: Option<String>,
        token: &str,
        generation: u64,
    ) -> Result<Principal, Failure> {
        let c = &self.config;
        let Value::Object(map) = &claims else {
            return Err(Failure::Invalid("malformed token"));
        };
        let now = now_secs(&c.clock);
        let leeway = c.leeway as f64;
        let exp = numeric_date(map.get("exp"))
            .map_err(|()| Failure::Invalid("token exp claim is not a number"))?;
        match exp {
            Some(exp) if now as f64 >= exp + leeway => {
                return Err(Failure::Expired("token expired"));
            }
            None if c.require_exp => return Err(Failure::Invalid("token has no exp claim")),
            _ => {}
        }
        let nbf = numeric_date(map.get("nbf"))
            .map_err(|()| Failure::Invalid("token nbf claim is not a number"))?;
        if nbf.is_some_and(|nbf| nbf > now as f64 + leeway) {
            return Err(Failure::Expired("token not yet valid"));
        }
        if !c.issuers.is_empty() {
            match map.get("iss") {
                None => return Err(Failure::Invalid("token has no iss claim")),
                Some(Value::String(iss)) if c.issuers.iter().any(|i| i == iss) => {}
                Some(_) => return Err(Failure::Invalid("token issuer not accepted")),
            }
        }
        if !c.audiences.is_empty() {
            let ok = match map.get("aud") {
                None => return Err(Failure::Invalid("token has no aud claim")),
                Some(Value::String(aud)) => c.audiences.iter().any(|a| a == aud),
                Some(Value::Array(auds)) => auds
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|aud| c.audiences.iter().any(|a| a == aud)),
                Some(_) => false,
            };
            if !ok {
                return Err(Failure::Invalid("token audience not accepted"));
            }
        }
        if c.required_claims.iter().any(|name| !map.contains_key(name)) {
            return Err(Failure::Invalid("token lacks a required claim"));
        }
        let subject: Box<str> = match map.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.as_str().into(),
            _ => return Err(Failure::Invalid("token has no sub claim")),
        };
        let mut scopes = strings(map.get("scope"));
        scopes.extend(strings(map.get("scp")));
        let scopes: Scopes = scopes.into_iter().collect();
        let tier = c
            .tier_claim
            .as_ref()
            .and_then(|name| map.get(name))
            .and_then(Value::as_str)
            .map(|t| Tier::new(t.to_owned()))
            .unwrap_or(Tier::AUTHENTICATED);
        let roles: Scopes = c
            .roles_claim
            .as_ref()
            .map(|name| strings(map.get(name)))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut builder = Principal::builder(subject, AuthMethod::Jwt)
            .tier(tier)
            .scopes(scopes.iter())
            .roles(roles.iter());
        if let Some(kid) = kid {
            builder = builder.key_id(kid);
        }
        let principal = builder.claims(claims).build();
        if let (Some(cache), Some(exp)) = (&c.cache, exp) {
            // Never past `exp` itself, whatever the leeway.
            let exp = exp.floor();
            if exp > now as f64 {
                cache.insert(
                    Sha256::digest(token.as_bytes()).into(),
                    CacheEntry {
                        principal: principal.clone(),
                        exp: exp as u64,
                        generation,
                    },
                    now,
                );
            }
        }
        Ok(principal)
    }

    fn reject(failure: Failure) -> Outcome {
        Outcome::Rejected(match failure {
            Failure::Invalid(detail) => AuthError::invalid(AuthMethod::Jwt, detail),
            Failure::Expired(detail) => AuthError::expired(AuthMethod::Jwt, detail),
            Failure::UnknownKid => AuthError::invalid(AuthMethod::Jwt, "unknown signing key"),
        })
    }

    /// The token of a Bearer `Authorization` header, or why there is none.
    fn token<'a>(&self, req: &RequestHead<'a>) -> Result<Option<&'a str>, &'static str> {
        let mut values = req.headers().get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        let bytes = value.as_bytes();
        let is_bearer = |b: &[u8]| b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"bearer ");
        if !is_bearer(bytes) {
            return Ok(None);
        }
        if values.next().is_some() {
            return Err("more than one Authorization header");
        }
        // Size first: nothing of an oversized token is parsed.
        if bytes.len() > self.config.max_len.saturating_add(64) {
            return Err("token too large");
        }
        let token = value.to_str().map_err(|_| "malformed token")?[7..].trim_start_matches(' ');
        if token.len() > self.config.max_len {
            return Err("token too large");
        }
        Ok(Some(token))
    }
}

/// Whether `token` has the shape of a compact JWS: three base64url parts. Checked after the
/// cache (a cached token had it when it was verified) and before any decoding.
fn well_formed(token: &str) -> bool {
    let mut dots = 0;
    token.bytes().all(|b| {
        dots += usize::from(b == b'.');
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
    }) && dots == 2
}

impl Authenticator for JwtAuth {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        let token = match self.token(req) {
            Ok(Some(token)) => token,
            Ok(None) => return Answer::Ready(Outcome::Skip),
            Err(detail) => {
                return Answer::Ready(Outcome::Rejected(AuthError::invalid(
                    AuthMethod::Jwt,
                    detail,
                )));
            }
        };
        let c = &self.config;
        match &c.keys {
            Keys::Static(set) => {
                if let Some(cache) = &c.cache {
                    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                    if let Some(p) = cache.get(&digest, now_secs(&c.clock), 0) {
                        return Answer::Ready(Outcome::Authenticated(p));
                    }
                }
                if !well_formed(token) {
                    return Answer::Ready(Self::reject(Failure::Invalid("malformed token")));
                }
                Answer::Ready(match self.verify(token, set, 0) {
                    Ok(p) => Outcome::Authenticated(p),
                    Err(f) => Self::reject(f),
                })
            }
            #[cfg(feature = "jwks")]
            Keys::Remote(jwks) => self.authenticate_remote(jwks, token),
        }
    }

    fn challenge(&self, failure: Option<&AuthError>) -> Option<HeaderValue> {
        match failure {
            Some(e)
                if e.method() == Some(AuthMethod::Jwt)
                    && e.kind() != AuthErrorKind::Unavailable =>
            {
                // RFC 6750 section 3: the error code and a description for the developer.
                crate::auth::challenge(
                    "Bearer",
                    &self.config.realm,
                    &[
                        ("error", "invalid_token"),
                        ("error_description", e.detail()),
                    ],
                )
            }
            _ => Some(self.config.challenge.clone()),
        }
    }
}

#[cfg(feature = "jwks")]
impl JwtAuth {
    fn authenticate_remote(&self, jwks: &Jwks, token: &str) -> Answer<Outcome> {
        let c = &self.config;
        let current = jwks.current();
        if let Some(cache) = &c.cache {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if let Some(p) = cache.get(&digest, now_secs(&c.clock), current.generation) {
                return Answer::Ready(Outcome::Authenticated(p));
            }
        }
        if !well_formed(token) {
            return Answer::Ready(Self::reject(Failure::Invalid("malformed token")));
        }
        let loaded = current.loaded;
        match self.verify(token, &current.keys, current.generation) {
            Ok(p) => return Answer::Ready(Outcome::Authenticated(p)),
            Err(Failure::UnknownKid) => {}
            // A token without a kid and an empty set: the set may not be loaded yet.
            Err(Failure::Invalid("no key for this token")) if !loaded => {}
            Err(f) => return Answer::Ready(Self::reject(f)),
        }
        // An unknown key: the provider may have rotated. Refresh (single-flight, at most once
        // per cool-down) and try again.
        let this = self.clone();
        let jwks = jwks.clone();
        let token = token.to_owned();
        let seen = current.generation;
        drop(current);
        Answer::later(async move {
            jwks.refresh_for_unknown_key(seen).await;
            let current = jwks.current();
            if !current.loaded {
                return Outcome::Rejected(AuthError::unavailable(
                    AuthMethod::Jwt,
                    "The identity provider's signing keys could not be loaded; try again later.",
                ));
            }
            match this.verify(&token, &current.keys, current.generation) {
                Ok(p) => Outcome::Authenticated(p),
                Err(f) => Self::reject(f),
            }
        })
    }
}

/// Builds a [`JwtAuth`]; see [`JwtAuth::builder`].
#[must_use]
pub struct JwtBuilder {
    keys: Vec<JwtKey>,
    #[cfg(feature = "jwks")]
    jwks: Option<Jwks>,
    algorithms: Option<Vec<Algorithm>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    require_exp: bool,
    required_claims: Vec<String>,
    tier_claim: Option<String>,
    roles_claim: Option<String>,
    max_len: usize,
    cache: Option<usize>,
    clock: Clock,
    realm: String,
}

impl fmt::Debug for JwtBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBuilder")
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtBuilder {
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

    /// An accepted issuer (`iss`); tokens without `iss` are then refused. May be called again
    /// to accept several.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// An accepted audience (`aud`); tokens without `aud` are then refused. May be called
    /// again to accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The clock skew tolerated on `exp` and `nbf` (default 60 seconds, as `jsonwebtoken`'s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether tokens must have `exp` (default `true`: a token that never expires is a
    /// credential that can never be taken back).
    pub fn require_exp(mut self, require: bool) -> Self {
        self.require_exp = require;
        self
    }

    /// A claim every token must have (`jti`, `azp`, ...).
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required_claims.push(name.into());
        self
    }

    /// The claim that names the principal's [`Tier`] (default `tier`; `None` for none). A
    /// token without it is on [`Tier::AUTHENTICATED`].
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
    /// of the whole token; a remote key set that changes empties it.
    pub fn cache(mut self, capacity: usize) -> Self {
        self.cache = Some(capacity);
        self
    }

    /// The clock for `exp`, `nbf` and the cache (default [`SystemTime::now`]).
    pub fn clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
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
    /// accepted, or a realm that cannot be quoted.
    pub fn build(self) -> Result<JwtAuth, JwtConfigError> {
        #[cfg(feature = "jwks")]
        let remote = self.jwks.is_some();
        #[cfg(not(feature = "jwks"))]
        let remote = false;
        if self.keys.is_empty() && !remote {
            return Err(JwtConfigError::NoKeys);
        }
        let algorithms = match self.algorithms {
            Some(algs) => algs,
            None if remote => return Err(JwtConfigError::NoAlgorithms),
            None => {
                let mut algs: Vec<Algorithm> = self.keys.iter().filter_map(|k| k.alg).collect();
                algs.dedup();
                algs
            }
        };
        if algorithms.is_empty() {
            return Err(JwtConfigError::NoAlgorithms);
        }
        for key in &self.keys {
            if let Some(alg) = key.alg {
                if !algorithms.contains(&alg) {
                    return Err(JwtConfigError::AlgorithmNotAccepted(alg_name(alg)));
                }
            }
        }
        if !crate::auth::is_quotable(&self.realm) {
            return Err(JwtConfigError::InvalidValue(self.realm));
        }
        crypto_ready()?;
        let challenge = crate::auth::challenge("Bearer", &self.realm, &[])
            .ok_or_else(|| JwtConfigError::InvalidValue(self.realm.clone()))?;
        #[cfg(feature = "jwks")]
        let keys = match self.jwks {
            Some(_) if !self.keys.is_empty() => return Err(JwtConfigError::KeysAndJwks),
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ALGORITHMS: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::EdDSA,
    ];

    #[test]
    fn algorithm_names_round_trip() {
        for alg in ALL_ALGORITHMS {
            assert_eq!(alg_by_name(alg_name(alg)), Some(alg));
        }
        assert_eq!(alg_by_name("none"), None);
        assert_eq!(alg_by_name("rs256"), None);
    }

    #[test]
    fn keys_are_bound_to_their_family() {
        let pem = include_bytes!("../../../examples/keys/jwt_public.pem");
        assert!(JwtKey::rsa_pem(Algorithm::RS256, pem).is_ok());
        assert_eq!(
            JwtKey::rsa_pem(Algorithm::ES256, pem).unwrap_err(),
            JwtConfigError::KeyAlgorithmMismatch("ES256")
        );
        assert_eq!(
            JwtKey::hmac(Algorithm::HS256, b"short").unwrap_err(),
            JwtConfigError::WeakSecret {
                alg: "HS256",
                min: 32
            }
        );
    }

    #[test]
    fn cache_is_bounded_and_respects_exp_and_generation() {
        let cache = TokenCache::new(32);
        let p = Principal::builder("s", AuthMethod::Jwt).build();
        for i in 0..1000u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            cache.insert(
                d,
                CacheEntry {
                    principal: p.clone(),
                    exp: 100,
                    generation: 0,
                },
                10,
            );
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        let d = [7u8; 32];
        cache.insert(
            d,
            CacheEntry {
                principal: p,
                exp: 100,
                generation: 3,
            },
            10,
        );
        assert!(cache.get(&d, 99, 3).is_some());
        assert!(cache.get(&d, 100, 3).is_none());
        assert!(cache.get(&d, 50, 4).is_none());
    }
}
