//! Keys: the secrets and public keys that verify signatures, the private keys that make them,
//! and the algorithms of the [RFC 9421 registry](https://www.rfc-editor.org/rfc/rfc9421#section-6.2.2).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RsaEncoding;
use aws_lc_rs::signature::{self as sig, KeyPair as _, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::ConfigError;
use super::hmac::HmacKey;
use crate::auth::{AuthMethod, Principal};

/// A signature algorithm, named as in the RFC 9421 registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `hmac-sha256`: HMAC with SHA-256 and a shared secret.
    HmacSha256,
    /// `ed25519`: EdDSA on Curve25519.
    Ed25519,
    /// `ecdsa-p256-sha256`: ECDSA on P-256 with SHA-256, the signature as `r || s`.
    EcdsaP256Sha256,
    /// `rsa-pss-sha512`: RSASSA-PSS with SHA-512 (salt of 64 bytes).
    RsaPssSha512,
    /// `rsa-v1_5-sha256`: RSASSA-PKCS1-v1_5 with SHA-256.
    RsaV15Sha256,
}

impl Algorithm {
    /// The algorithm's name in the RFC 9421 registry (`hmac-sha256`, `ed25519`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::RsaV15Sha256 => "rsa-v1_5-sha256",
        }
    }

    /// The algorithm of registry name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::HmacSha256,
            Self::Ed25519,
            Self::EcdsaP256Sha256,
            Self::RsaPssSha512,
            Self::RsaV15Sha256,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    fn verification(self) -> Option<&'static dyn sig::VerificationAlgorithm> {
        Some(match self {
            Self::HmacSha256 => return None,
            Self::Ed25519 => &sig::ED25519,
            Self::EcdsaP256Sha256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::RsaPssSha512 => &sig::RSA_PSS_2048_8192_SHA512,
            Self::RsaV15Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        })
    }
}

/// A key that verifies signatures — a shared secret or a public key — and whom it belongs to:
/// the owner becomes the subject of the request's [`Principal`](crate::Principal).
///
/// Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) id: Option<Arc<str>>,
    pub(crate) owner: Arc<str>,
    pub(crate) material: Verifier,
    /// The principal of the requests it verifies, made once when the layer is built (each
    /// request clones the `Arc`).
    pub(crate) principal: Option<Principal>,
}

#[derive(Clone)]
pub(crate) enum Verifier {
    /// Shared: an HMAC key is its two precomputed states.
    Hmac(Arc<HmacKey>),
    Public(Algorithm, Arc<ParsedPublicKey>),
}

impl VerifyingKey {
    /// An HMAC-SHA256 key: `secret` as it is (for Standard Webhooks give the `whsec_...`
    /// string to the builder instead, which decodes it).
    pub fn hmac_sha256(owner: impl Into<Arc<str>>, secret: impl AsRef<[u8]>) -> Self {
        Self {
            id: None,
            owner: owner.into(),
            material: Verifier::Hmac(Arc::new(HmacKey::new(secret.as_ref()))),
            principal: None,
        }
    }

    /// A public key of `algorithm` in DER: for Ed25519 the 32 raw bytes or a
    /// `SubjectPublicKeyInfo`; for ECDSA the uncompressed point or a `SubjectPublicKeyInfo`;
    /// for RSA a PKCS#1 `RSAPublicKey` or a `SubjectPublicKeyInfo`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the bytes are not such a key, or `algorithm` is HMAC.
    pub fn public_key_der(
        owner: impl Into<Arc<str>>,
        algorithm: Algorithm,
        der: &[u8],
    ) -> Result<Self, ConfigError> {
        let alg = algorithm.verification().ok_or(ConfigError::InvalidKey(
            "an HMAC key is a secret, not a public key",
        ))?;
        let key = ParsedPublicKey::new(alg, der)
            .map_err(|_| ConfigError::InvalidKey("not a public key of this algorithm"))?;
        Ok(Self {
            id: None,
            owner: owner.into(),
            material: Verifier::Public(algorithm, Arc::new(key)),
            principal: None,
        })
    }

    /// A public key of `algorithm` in PEM (`PUBLIC KEY`, or `RSA PUBLIC KEY`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the text is not PEM or not such a key.
    pub fn public_key_pem(
        owner: impl Into<Arc<str>>,
        algorithm: Algorithm,
        pem: &str,
    ) -> Result<Self, ConfigError> {
        Self::public_key_der(owner, algorithm, &pem_der(pem)?)
    }

    /// Names the key (RFC 9421 `keyid`): signatures are matched to keys by it.
    #[must_use]
    pub fn with_id(mut self, key_id: impl Into<Arc<str>>) -> Self {
        self.id = Some(key_id.into());
        self.principal = None;
        self
    }

    /// The principal of a request this key verified: method
    /// [`Signature`](AuthMethod::Signature), the owner as subject, the key's id.
    pub(crate) fn principal(&self) -> Principal {
        if let Some(principal) = &self.principal {
            return principal.clone();
        }
        let mut principal = Principal::builder(&*self.owner, AuthMethod::Signature);
        if let Some(id) = &self.id {
            principal = principal.key_id(&**id);
        }
        principal.build()
    }

    /// The key's id, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Whom the key belongs to.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match &self.material {
            Verifier::Hmac(_) => Algorithm::HmacSha256,
            Verifier::Public(alg, _) => *alg,
        }
    }

    /// The HMAC-SHA256 of the concatenation of `parts`, for a shared secret.
    pub(crate) fn hmac_tag(&self, parts: &[&[u8]]) -> Option<[u8; 32]> {
        match &self.material {
            Verifier::Hmac(key) => Some(key.tag(parts)),
            Verifier::Public(..) => None,
        }
    }

    /// Whether `signature` is this key's over the concatenation of `parts`. HMAC tags are
    /// compared in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        match &self.material {
            Verifier::Hmac(key) => {
                let tag = key.tag(parts);
                ct_eq(&tag, signature)
            }
            Verifier::Public(_, key) => {
                // Public-key algorithms take the message whole.
                let message: Vec<u8> = parts.concat();
                key.verify_sig(&message, signature).is_ok()
            }
        }
    }
}

/// Constant-time equality (the lengths are not secret): the differences of every 8-byte word
/// are OR-ed together, each word passed through an optimisation barrier so that the compiler
/// cannot stop early, and the result compared with `subtle`. A byte at a time through `subtle`
/// costs about ten instructions per byte; this about two.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        u64::from_ne_bytes(w)
    };
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (wa.remainder(), wb.remainder());
    let diff = wa.zip(wb).fold(0u64, |acc, (x, y)| {
        std::hint::black_box(acc | (word(x) ^ word(y)))
    });
    let diff = match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        // The last bytes, fewer than eight, in the last eight (which overlap the words above:
        // the bytes are equal exactly when every word is).
        (Some(x), Some(y)) if !ra.is_empty() => {
            std::hint::black_box(diff | (u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y)))
        }
        // Shorter than eight: a byte at a time.
        _ => ra.iter().zip(rb).fold(diff, |acc, (x, y)| {
            std::hint::black_box(acc | u64::from(x ^ y))
        }),
    };
    bool::from(diff.ct_eq(&0))
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// A key that signs outbound requests: a shared secret or a private key.
///
/// Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SigningKey {
    pub(crate) id: Option<Arc<str>>,
    signer: Signer,
}

#[derive(Clone)]
enum Signer {
    Hmac(Arc<HmacKey>),
    Ed25519(Arc<sig::Ed25519KeyPair>),
    Ecdsa(Arc<sig::EcdsaKeyPair>),
    Rsa(Arc<sig::RsaKeyPair>, &'static dyn RsaEncoding, Algorithm),
}

impl SigningKey {
    /// An HMAC-SHA256 key: `secret` as it is.
    pub fn hmac_sha256(secret: impl AsRef<[u8]>) -> Self {
        Self {
            id: None,
            signer: Signer::Hmac(Arc::new(HmacKey::new(secret.as_ref()))),
        }
    }

    /// An Ed25519 key from its 32-byte seed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when `seed` is not 32 bytes.
    pub fn ed25519_seed(seed: &[u8]) -> Result<Self, ConfigError> {
        let pair = sig::Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| ConfigError::InvalidKey("an Ed25519 seed is 32 bytes"))?;
        Ok(Self {
            id: None,
            signer: Signer::Ed25519(Arc::new(pair)),
        })
    }

    /// A private key of `algorithm` in DER: PKCS#8 for every algorithm, or PKCS#1
    /// `RSAPrivateKey` for RSA, or SEC1 `ECPrivateKey` for ECDSA.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the bytes are not such a key, or `algorithm` is HMAC.
    pub fn private_key_der(algorithm: Algorithm, der: &[u8]) -> Result<Self, ConfigError> {
        let bad = |_| ConfigError::InvalidKey("not a private key of this algorithm");
        let signer = match algorithm {
            Algorithm::HmacSha256 => {
                return Err(ConfigError::InvalidKey("an HMAC key is a secret"));
            }
            Algorithm::Ed25519 => Signer::Ed25519(Arc::new(
                sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?,
            )),
            Algorithm::EcdsaP256Sha256 => Signer::Ecdsa(Arc::new(
                sig::EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(bad)?,
            )),
            Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256 => {
                let pair = sig::RsaKeyPair::from_pkcs8(der)
                    .or_else(|_| sig::RsaKeyPair::from_der(der))
                    .map_err(bad)?;
                let encoding: &'static dyn RsaEncoding = if algorithm == Algorithm::RsaPssSha512 {
                    &sig::RSA_PSS_SHA512
                } else {
                    &sig::RSA_PKCS1_SHA256
                };
                Signer::Rsa(Arc::new(pair), encoding, algorithm)
            }
        };
        Ok(Self { id: None, signer })
    }

    /// A private key of `algorithm` in PEM (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the text is not PEM or not such a key.
    pub fn private_key_pem(algorithm: Algorithm, pem: &str) -> Result<Self, ConfigError> {
        Self::private_key_der(algorithm, &pem_der(pem)?)
    }

    /// Names the key (RFC 9421 `keyid`).
    #[must_use]
    pub fn with_id(mut self, key_id: impl Into<Arc<str>>) -> Self {
        self.id = Some(key_id.into());
        self
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match &self.signer {
            Signer::Hmac(_) => Algorithm::HmacSha256,
            Signer::Ed25519(_) => Algorithm::Ed25519,
            Signer::Ecdsa(_) => Algorithm::EcdsaP256Sha256,
            Signer::Rsa(_, _, alg) => *alg,
        }
    }

    /// The public key (raw Ed25519 bytes, the uncompressed ECDSA point, the RSA `RSAPublicKey`
    /// DER), or `None` for a shared secret.
    pub fn public_key(&self) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Hmac(_) => None,
            Signer::Ed25519(pair) => Some(pair.public_key().as_ref().to_vec()),
            Signer::Ecdsa(pair) => Some(pair.public_key().as_ref().to_vec()),
            Signer::Rsa(pair, _, _) => Some(pair.public_key().as_ref().to_vec()),
        }
    }

    /// The signature of `message` (the HMAC tag for a shared secret; `r || s` for ECDSA).
    ///
    /// `None` only if the system's random number generator fails (ECDSA, RSA-PSS).
    pub fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Hmac(key) => Some(key.tag(&[message]).to_vec()),
            Signer::Ed25519(pair) => Some(pair.sign(message).as_ref().to_vec()),
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .ok()
                .map(|s| s.as_ref().to_vec()),
            Signer::Rsa(pair, encoding, _) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &SystemRandom::new(), message, &mut out)
                    .ok()
                    .map(|()| out)
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The DER inside the first PEM block of `pem`.
pub(crate) fn pem_der(pem: &str) -> Result<Vec<u8>, ConfigError> {
    let bad = ConfigError::InvalidKey("not a PEM block");
    let start = pem.find("-----BEGIN ").ok_or(bad.clone())?;
    let rest = &pem[start..];
    let header_end = rest.find('\n').ok_or(bad.clone())?;
    let body = &rest[header_end + 1..];
    let end = body.find("-----END ").ok_or(bad.clone())?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).map_err(|_| bad)
}
