//! [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` (symmetric,
//! secrets written `whsec_<base64>`) and `v1a,<base64 Ed25519>` (asymmetric, public keys
//! written `whpk_<base64>`) signatures of `id.timestamp.body`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

use super::ConfigError;
use super::key::{Algorithm, SigningKey, VerifyingKey};
use super::rejection::{Failure, MAX_SIGNATURES, one_header, parse_unix_secs};

pub(crate) const ID: &str = "webhook-id";
pub(crate) const TIMESTAMP: &str = "webhook-timestamp";
pub(crate) const SIGNATURE: &str = "webhook-signature";

/// The longest message id accepted (the spec's ids are short: `msg_<ksuid>`).
const MAX_ID_LEN: usize = 256;

/// The headers of a Standard Webhooks request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) id: String,
    pub(crate) timestamp: u64,
    pub(crate) signatures: Vec<(Version, Vec<u8>)>,
}

/// A signature's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// `v1`: HMAC-SHA256.
    V1,
    /// `v1a`: Ed25519.
    V1a,
}

/// Reads the three headers.
pub(crate) fn parse_head(headers: &HeaderMap) -> Result<Head, Failure> {
    let id = one_header(headers, ID)?;
    if id.len() > MAX_ID_LEN || id.contains(['.', ' ']) {
        return Err(Failure::MalformedHeader(ID, "not a message id"));
    }
    let timestamp = parse_unix_secs(one_header(headers, TIMESTAMP)?, TIMESTAMP)?;
    let signatures = parse_signatures(one_header(headers, SIGNATURE)?)?;
    Ok(Head {
        id: id.to_owned(),
        timestamp,
        signatures,
    })
}

/// Parses a `webhook-signature` value: space-separated `version,base64` pairs. Versions other
/// than `v1` and `v1a` are skipped (the spec reserves them); none left, or a pair that does not
/// parse, is malformed.
pub(crate) fn parse_signatures(text: &str) -> Result<Vec<(Version, Vec<u8>)>, Failure> {
    let malformed = |why| Failure::MalformedHeader(SIGNATURE, why);
    let mut out = Vec::new();
    for (i, item) in text.split(' ').filter(|s| !s.is_empty()).enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let (version, sig) = item
            .split_once(',')
            .ok_or(malformed("expected version,signature"))?;
        let version = match version {
            "v1" => Version::V1,
            "v1a" => Version::V1a,
            v if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()) => continue,
            _ => return Err(malformed("expected version,signature")),
        };
        let sig = match STANDARD.decode(sig) {
            Ok(sig) if !sig.is_empty() => sig,
            _ => return Err(malformed("signature is not base64")),
        };
        out.push((version, sig));
    }
    if out.is_empty() {
        return Err(malformed("no v1 or v1a signature"));
    }
    Ok(out)
}

/// The key that signed `body` under `head`, if any. Every listed signature is tried against
/// every key of its kind (rotation); HMAC tags are compared in constant time.
pub(crate) fn verify<'k>(
    head: &Head,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<&'k VerifyingKey, Failure> {
    let ts = head.timestamp.to_string();
    let parts: [&[u8]; 5] = [head.id.as_bytes(), b".", ts.as_bytes(), b".", body];
    for key in keys {
        let wanted = match key.algorithm() {
            Algorithm::HmacSha256 => Version::V1,
            Algorithm::Ed25519 => Version::V1a,
            _ => continue,
        };
        if wanted == Version::V1 {
            // One HMAC per key, compared with every signature.
            let Some(tag) = key.hmac_tag(&parts) else {
                continue;
            };
            if head
                .signatures
                .iter()
                .any(|(v, s)| *v == Version::V1 && super::key::ct_eq(tag.as_ref(), s))
            {
                return Ok(key);
            }
        } else if head
            .signatures
            .iter()
            .any(|(v, s)| *v == wanted && key.verify(&parts, s))
        {
            return Ok(key);
        }
    }
    Err(Failure::NoMatchingSignature)
}

/// Decodes a secret written `whsec_<base64>` (the prefix is optional, as in the reference
/// libraries).
pub(crate) fn parse_secret(secret: &str) -> Result<Vec<u8>, ConfigError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    match STANDARD.decode(b64) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(ConfigError::InvalidKey(
            "a Standard Webhooks secret is whsec_<base64>",
        )),
    }
}

/// Decodes a public key written `whpk_<base64>`: 32 raw Ed25519 bytes.
pub(crate) fn parse_public_key(key: &str) -> Result<Vec<u8>, ConfigError> {
    let bad =
        ConfigError::InvalidKey("a Standard Webhooks public key is whpk_<base64 of 32 bytes>");
    let b64 = key.strip_prefix("whpk_").ok_or(bad.clone())?;
    match STANDARD.decode(b64) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => Err(bad),
    }
}

/// The `webhook-signature` value for `id`, `timestamp` and `body` signed with `key`
/// (`v1,` for HMAC-SHA256, `v1a,` for Ed25519).
pub(crate) fn sign(key: &SigningKey, id: &str, timestamp: u64, body: &[u8]) -> Option<String> {
    let version = match key.algorithm() {
        Algorithm::HmacSha256 => "v1",
        Algorithm::Ed25519 => "v1a",
        _ => return None,
    };
    let mut message = Vec::with_capacity(id.len() + body.len() + 16);
    message.extend_from_slice(id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let sig = key.sign(&message)?;
    Some(format!("{version},{}", STANDARD.encode(sig)))
}
