//! Static verification keys (PEM, DER, JWK), the algorithms they are bound to, and the set of
//! keys a token picks from by `kid`.

use std::collections::HashMap;
use std::sync::Arc;

pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{AlgorithmFamily, DecodingKey, DecodingKeyKind};
use serde_json::Value;

use super::ConfigError;

pub(super) fn alg_name(alg: Algorithm) -> &'static str {
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
pub(super) fn alg_by_name(name: &str) -> Option<Algorithm> {
    name.parse().ok()
}

/// A key that verifies token signatures, with the algorithm it is for.
///
/// The algorithm is part of the key, never taken from a token: an RSA key made for `RS256`
/// verifies `RS256` signatures only, so an `HS256` token "signed" with the public key as an
/// HMAC secret is refused.
///
/// Its `Debug` output never shows key material (`jsonwebtoken` redacts it, HMAC secrets
/// included).
#[derive(Clone, Debug)]
pub struct JwtKey {
    pub(super) key: DecodingKey,
    /// `None` for a JWK without `alg`: any configured algorithm of the key's family.
    pub(super) alg: Option<Algorithm>,
    pub(super) kid: Option<Box<str>>,
}

fn family_of(alg: Algorithm) -> AlgorithmFamily {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => AlgorithmFamily::Rsa,
    }
}

/// The ECDSA algorithm of an EC public key, by its curve: the length of its SEC1 point
/// (uncompressed or compressed) tells P-256 (`ES256`) from P-384 (`ES384`); `None` for
/// another curve (P-521) or bytes that are no point.
fn ec_alg(key: &DecodingKey) -> Option<Algorithm> {
    match key.kind() {
        DecodingKeyKind::SecretOrDer(point) => match point.len() {
            65 | 33 => Some(Algorithm::ES256),
            97 | 49 => Some(Algorithm::ES384),
            _ => None,
        },
        DecodingKeyKind::RsaModulusExponent { .. } => None,
    }
}

/// The smallest RSA modulus accepted, in bits: RFC 7518 section 3.3, "a key of size 2048
/// bits or larger MUST be used with these algorithms" (RFC 8725 section 3.5 too). A smaller
/// key is a build error, and dropped from a key set, rather than a key that verifies nothing:
/// aws-lc-rs refuses to verify with it.
const MIN_RSA_BITS: usize = 2048;

/// The size in bits of an unsigned big-endian integer.
fn bit_len(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    bytes.len() * 8 - bytes[0].leading_zeros() as usize
}

/// The modulus of a PKCS#1 `RSAPublicKey` (`SEQUENCE { modulus INTEGER, publicExponent
/// INTEGER }`, DER); `None` when the bytes are not that.
fn pkcs1_modulus(der: &[u8]) -> Option<&[u8]> {
    /// A DER header: the tag, then the content and what follows it.
    fn header(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = der.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (sequence, _) = header(der, 0x30)?;
    let (modulus, _) = header(sequence, 0x02)?;
    Some(modulus)
}

/// The size in bits of an RSA key's modulus; `None` for another kind of key.
fn rsa_bits(key: &DecodingKey) -> Option<usize> {
    match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, .. } => Some(bit_len(n)),
        DecodingKeyKind::SecretOrDer(der) => pkcs1_modulus(der).map(bit_len),
    }
}

/// Refuses an RSA key under [`MIN_RSA_BITS`].
fn check_rsa_size(key: &DecodingKey) -> Result<(), String> {
    match rsa_bits(key) {
        Some(bits) if bits < MIN_RSA_BITS => Err(format!(
            "the RSA key has {bits} bits: at least {MIN_RSA_BITS} are required (RFC 7518 \
             section 3.3)"
        )),
        Some(_) => Ok(()),
        None => Err("the RSA key is not a PKCS#1 public key".into()),
    }
}

impl JwtKey {
    fn checked(
        key: jsonwebtoken::errors::Result<DecodingKey>,
        alg: Algorithm,
        family: AlgorithmFamily,
    ) -> Result<Self, ConfigError> {
        if family_of(alg) != family {
            return Err(ConfigError::KeyAlgorithmMismatch(alg_name(alg)));
        }
        let key = key.map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
        if family == AlgorithmFamily::Rsa {
            check_rsa_size(&key).map_err(ConfigError::InvalidKey)?;
        }
        // Each EC key has one algorithm, that of its curve (RFC 8725 section 3.1): a P-256 key
        // made for `ES384` would refuse every token, so it is refused here, at build.
        if family == AlgorithmFamily::Ec && ec_alg(&key) != Some(alg) {
            return Err(ConfigError::KeyAlgorithmMismatch(alg_name(alg)));
        }
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
    pub fn rsa_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        Self::checked(DecodingKey::from_rsa_pem(pem), alg, AlgorithmFamily::Rsa)
    }

    /// An RSA public key in PKCS#1 DER.
    ///
    /// # Errors
    ///
    /// When `alg` is not an RSA algorithm.
    pub fn rsa_der(alg: Algorithm, der: &[u8]) -> Result<Self, ConfigError> {
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
    /// When `alg` is not an ECDSA algorithm, the PEM holds no EC public key, or the key's
    /// curve is not `alg`'s.
    pub fn ec_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        Self::checked(DecodingKey::from_ec_pem(pem), alg, AlgorithmFamily::Ec)
    }

    /// An elliptic-curve public key as a SEC1 point (DER).
    ///
    /// # Errors
    ///
    /// When `alg` is not an ECDSA algorithm, or the point is not one of `alg`'s curve.
    pub fn ec_der(alg: Algorithm, der: &[u8]) -> Result<Self, ConfigError> {
        Self::checked(Ok(DecodingKey::from_ec_der(der)), alg, AlgorithmFamily::Ec)
    }

    /// An Ed25519 public key (SubjectPublicKeyInfo PEM) for `EdDSA`.
    ///
    /// # Errors
    ///
    /// When the PEM holds no Ed25519 public key.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
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
    pub fn ed_der(raw: &[u8]) -> Result<Self, ConfigError> {
        if raw.len() != 32 {
            return Err(ConfigError::InvalidKey(
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
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, ConfigError> {
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            _ => 64,
        };
        if family_of(alg) == AlgorithmFamily::Hmac && secret.len() < min {
            return Err(ConfigError::WeakSecret {
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
    /// algorithm, else the key serves the configured algorithms of its family (an EC key only
    /// its curve's: `ES256` for P-256, `ES384` for P-384).
    ///
    /// # Errors
    ///
    /// When the JSON is not a JWK of a signature key this crate can use (an EC key of another
    /// curve than P-256 or P-384, an OKP key that is not Ed25519, an `alg` that does not fit
    /// the key).
    pub fn jwk(json: &str) -> Result<Self, ConfigError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
        Self::from_jwk_value(&value).map_err(ConfigError::InvalidKey)
    }

    pub(super) fn from_jwk_value(value: &Value) -> Result<Self, String> {
        let obj = value.as_object().ok_or("a JWK is a JSON object")?;
        if obj
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return Err("the JWK is not for signatures".into());
        }
        // RFC 7517 section 4.3: the operations the key is for; when given, verifying must be
        // one of them (and `use: sig` with `key_ops` of another kind is inconsistent, which
        // the same rule refuses).
        match obj.get("key_ops") {
            None => {}
            Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
            Some(Value::Array(_)) => {
                return Err("the JWK's key_ops do not include verify".into());
            }
            Some(_) => return Err("the JWK's key_ops is not an array".into()),
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
        if let Some(alg) = alg
            && family_of(alg) != key.family()
        {
            return Err(format!(
                "the JWK's alg {} does not fit its key",
                alg_name(alg)
            ));
        }
        if key.family() == AlgorithmFamily::Hmac {
            return Err("symmetric JWKs are not accepted".into());
        }
        let ed25519 = matches!(key.kind(), DecodingKeyKind::SecretOrDer(x) if x.len() == 32);
        let crv = obj.get("crv").and_then(Value::as_str);
        match key.family() {
            // One algorithm per EC key, that of its curve: a P-256 key never verifies `ES384`.
            AlgorithmFamily::Ec => {
                let curve = ec_alg(&key).ok_or("unsupported EC curve")?;
                if let Some(alg) = alg
                    && alg != curve
                {
                    return Err(format!(
                        "the JWK's alg {} does not fit its key",
                        alg_name(alg)
                    ));
                }
                // RFC 7518 section 6.2.1.2: the coordinates are the full size of `crv`'s; the
                // curve is not guessed from their length.
                let named = if curve == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                };
                if crv != Some(named) {
                    return Err("the JWK's crv does not fit its key".into());
                }
            }
            AlgorithmFamily::Ed if !ed25519 || crv != Some("Ed25519") => {
                return Err("unsupported OKP curve: only Ed25519 keys are accepted".into());
            }
            AlgorithmFamily::Rsa => check_rsa_size(&key)?,
            _ => {}
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

    pub(super) fn fits(&self, alg: Algorithm) -> bool {
        match self.alg {
            Some(a) => a == alg,
            None if self.key.family() == AlgorithmFamily::Ec => ec_alg(&self.key) == Some(alg),
            None => self.key.family() == family_of(alg),
        }
    }
}

/// A set of verification keys, by `kid`: several keys may share one (RFC 7517 section 4.5:
/// keys of different types, an RSA and an EC key during a migration).
#[derive(Debug, Default)]
pub(super) struct KeySet {
    keys: Vec<Arc<JwtKey>>,
    by_kid: HashMap<Box<str>, Vec<usize>>,
    /// Whether a key has no kid: it is tried for a token whose kid no key has.
    kidless: bool,
}

/// What a key set has for a token.
pub(super) enum Selection<'a> {
    Keys(Vec<&'a JwtKey>),
    UnknownKid,
    NoKey,
}

impl KeySet {
    pub(super) fn new(keys: Vec<JwtKey>) -> Self {
        let mut by_kid: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = &key.kid {
                by_kid.entry(kid.clone()).or_default().push(i);
            }
        }
        let kidless = keys.iter().any(|k| k.kid.is_none());
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
            by_kid,
            kidless,
        }
    }

    /// The signature keys of a JWK set document, skipping keys this crate cannot use (other
    /// key types, encryption keys, private or symmetric keys).
    ///
    /// # Errors
    ///
    /// When the document is not a JWK set.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(super) fn from_jwk_set(json: &[u8]) -> Result<Self, String> {
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
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The kids of the set, for comparing two sets.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(super) fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// The keys to try for a token of `alg` naming `kid`: the keys with that kid which fit the
    /// algorithm; for a kid no key has, the keys without a kid (a kid is a hint, RFC 7515
    /// section 4.1.4: a key configured without one verifies whatever kid a token names, as
    /// `jsonwebtoken` and jwt-authorizer have it); without a kid, every key that fits.
    pub(super) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        fn fitting<'a>(
            keys: impl Iterator<Item = &'a Arc<JwtKey>>,
            alg: Algorithm,
        ) -> Vec<&'a JwtKey> {
            keys.map(|k| &**k).filter(|k| k.fits(alg)).collect()
        }
        let keys = match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(named) => fitting(named.iter().map(|&i| &self.keys[i]), alg),
                // No kid-less key of the token's algorithm either: a key the set does not hold
                // yet (a rotation), so the set is refreshed, as for a set without kid-less keys.
                None if self.kidless => {
                    let keys = fitting(self.keys.iter().filter(|k| k.kid.is_none()), alg);
                    if keys.is_empty() {
                        return Selection::UnknownKid;
                    }
                    keys
                }
                None => return Selection::UnknownKid,
            },
            None => fitting(self.keys.iter(), alg),
        };
        if keys.is_empty() {
            Selection::NoKey
        } else {
            Selection::Keys(keys)
        }
    }
}

/// Makes sure `jsonwebtoken` has a working crypto provider, so that no request can meet its
/// "no provider" panic: installs aws-lc-rs as the process default (unless the application
/// installed one first) and verifies a known HS256 signature. When a dependency graph turns on
/// both of jsonwebtoken's backends and nothing is installed, this is a build error here rather
/// than a panic per request.
pub(super) fn crypto_ready() -> Result<(), ConfigError> {
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
        _ => Err(ConfigError::CryptoProvider),
    }
}
