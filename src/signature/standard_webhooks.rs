//! [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` (symmetric,
//! secrets written `whsec_<base64>`) and `v1a,<base64 Ed25519>` (asymmetric, public keys
//! written `whpk_<base64>`) signatures of `id.timestamp.body`.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderName};

use super::ConfigError;
use super::key::{Algorithm, SigningKey, VerifyingKey, ct_eq};
use super::rejection::{
    Failure, MAX_SIGNATURES, checked_header, decimal, one_header, parse_unix_secs,
};

/// `webhook-id`.
pub(crate) static ID: HeaderName = HeaderName::from_static("webhook-id");
/// `webhook-timestamp`.
pub(crate) static TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// `webhook-signature`.
pub(crate) static SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// The longest message id accepted (the spec's ids are short: `msg_<ksuid>`).
const MAX_ID_LEN: usize = 256;

/// The base64 of an HMAC-SHA256 tag (32 bytes): 44 characters, padding included.
const V1_B64_LEN: usize = 44;

/// The base64 of an Ed25519 signature (64 bytes): 88 characters.
const V1A_B64_LEN: usize = 88;

/// What the headers of a Standard Webhooks request said, once checked: the timestamp. The
/// id and the signatures are read again from the request's headers (which stay as they were)
/// when the body is here, so nothing is copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) timestamp: u64,
}

/// A signature's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// `v1`: HMAC-SHA256.
    V1,
    /// `v1a`: Ed25519.
    V1a,
}

/// Reads and checks the three headers: the id, the timestamp, and every listed signature
/// (versions and base64).
pub(crate) fn parse_head(headers: &HeaderMap) -> Result<Head, Failure> {
    let id = one_header(headers, &ID)?;
    if id.len() > MAX_ID_LEN || id.bytes().any(|b| b == b'.' || b == b' ') {
        return Err(Failure::MalformedHeader(ID.as_str(), "not a message id"));
    }
    let timestamp = parse_unix_secs(one_header(headers, &TIMESTAMP)?, TIMESTAMP.as_str())?;
    check_signatures(one_header(headers, &SIGNATURE)?.as_bytes())?;
    Ok(Head { timestamp })
}

fn malformed(why: &'static str) -> Failure {
    Failure::MalformedHeader(SIGNATURE.as_str(), why)
}

/// The items of a `webhook-signature` value: split on spaces, empty items skipped. A loop over
/// bytes: the values are short, and a `memchr` per item costs more than it saves.
struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let (item, after) = rest.split_at(end);
        self.rest = after;
        Some(item)
    }
}

/// The `v1` and `v1a` signatures of a `webhook-signature` value, as `(version, base64)`, in
/// order: space-separated `version,base64` pairs. Versions other than `v1` and `v1a` are
/// skipped (the spec reserves them); a pair that does not parse, or more than
/// [`MAX_SIGNATURES`] items, is an error (and the last item). The base64 is not decoded here.
pub(crate) fn signatures(text: &[u8]) -> impl Iterator<Item = Result<(Version, &[u8]), Failure>> {
    Items { rest: text }.enumerate().filter_map(|(i, item)| {
        if i >= MAX_SIGNATURES {
            return Some(Err(malformed("too many signatures")));
        }
        let Some(comma) = item.iter().position(|&b| b == b',') else {
            return Some(Err(malformed("expected version,signature")));
        };
        let (version, sig) = (&item[..comma], &item[comma + 1..]);
        let version = match version {
            b"v1" => Version::V1,
            b"v1a" => Version::V1a,
            v if !v.is_empty() && v.iter().all(u8::is_ascii_alphanumeric) => {
                return None;
            }
            _ => return Some(Err(malformed("expected version,signature"))),
        };
        Some(Ok((version, sig)))
    })
}

/// The base64 alphabet (standard, `+` and `/`): each byte's 6-bit value, or `0xff`.
const B64: [u8; 256] = {
    let mut table = [0xff; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Whether `text` is canonical padded standard base64 of at least one byte: what the `base64`
/// crate's `STANDARD` engine decodes (whole quanta, `=` padding only at the end, unused bits of
/// the last symbol zero), checked without decoding.
pub(crate) fn is_base64(text: &[u8]) -> bool {
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return false;
    }
    let pad = text.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return false;
    }
    let data = &text[..text.len() - pad];
    if !data.iter().all(|&b| B64[usize::from(b)] != 0xff) {
        return false;
    }
    // The last symbol's bits past the data must be zero: 4 of them with `==`, 2 with `=`.
    let unused = match pad {
        0 => 0,
        1 => 0b11,
        _ => 0b1111,
    };
    data.last()
        .is_some_and(|&b| B64[usize::from(b)] & unused == 0)
}

/// Checks a `webhook-signature` value: every pair parses ([`signatures`]), every signature is
/// canonical base64 of at least one byte ([`is_base64`]), and there is a `v1` or `v1a` one.
/// Nothing is decoded nor allocated.
pub(crate) fn check_signatures(text: &[u8]) -> Result<(), Failure> {
    let mut any = false;
    for listed in signatures(text) {
        let (_, sig) = listed?;
        if !is_base64(sig) {
            return Err(malformed("signature is not base64"));
        }
        any = true;
    }
    if !any {
        return Err(malformed("no v1 or v1a signature"));
    }
    Ok(())
}

/// The key that signed `body` under `head` (the id and signatures from `headers`, checked by
/// [`parse_head`], so they are read again without being checked again), if any, and the
/// message id. Every listed signature is tried against every key of its kind (rotation). An
/// HMAC tag is computed once per key, over `id.timestamp.body` fed in parts (no message is
/// assembled), encoded once, and compared in constant time with each `v1` signature as sent:
/// [`check_signatures`] admits only canonical base64, so equal text is exactly an equal tag.
pub(crate) fn verify<'k, 'h>(
    head: &Head,
    headers: &'h HeaderMap,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, &'h [u8]), Failure> {
    let id = checked_header(headers, &ID);
    let text = checked_header(headers, &SIGNATURE);
    let mut ts = [0u8; 20];
    let ts = decimal(head.timestamp, &mut ts);
    let parts: [&[u8]; 5] = [id, b".", ts, b".", body];
    let listed = || signatures(text).filter_map(Result::ok);
    for key in keys {
        match key.algorithm() {
            Algorithm::HmacSha256 => {
                let Some(tag) = key.hmac_tag(&parts) else {
                    continue;
                };
                let mut b64 = [0u8; V1_B64_LEN];
                let Ok(n) = STANDARD.encode_slice(tag.as_ref(), &mut b64) else {
                    continue;
                };
                let b64 = &b64[..n];
                // `|` not `||`: every signature is compared, whichever matches.
                let matched = listed()
                    .filter(|(v, _)| *v == Version::V1)
                    .fold(false, |found, (_, s)| found | ct_eq(b64, s));
                if matched {
                    return Ok((key, id));
                }
            }
            Algorithm::Ed25519 => {
                let matched = listed().any(|(v, s)| {
                    let mut sig = [0u8; V1A_B64_LEN / 4 * 3];
                    v == Version::V1a
                        && s.len() == V1A_B64_LEN
                        && STANDARD
                            .decode_slice(s, &mut sig)
                            .is_ok_and(|n| key.verify(&parts, &sig[..n]))
                });
                if matched {
                    return Ok((key, id));
                }
            }
            _ => {}
        }
    }
    Err(Failure::NoMatchingSignature)
}

/// The engine that decodes secrets: the standard alphabet, `=` padding optional, the spare
/// bits of the last character ignored (as Python's `b64decode` and Go's `StdEncoding` ignore
/// them). A secret is configured, not sent: leniency here admits no other signature.
const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a secret written `whsec_<base64>`. The prefix is optional, as in every reference
/// library; so is the padding, as in the Python one, whose
/// `test_signature_verification_with_unpadded_secret` configures
/// `MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS` (31 characters, the last one's spare bits set) and
/// `MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr`.
pub(crate) fn parse_secret(secret: &str) -> Result<Vec<u8>, ConfigError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    match SECRET_B64.decode(b64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// standard-webhooks `libraries/python/tests/test_webhooks.py`,
    /// `test_signature_verification_with_unpadded_secret`: a secret may be written without its
    /// `=` padding, with or without the prefix, and decodes as Python's `b64decode(secret +
    /// "==")` does (spare bits of the last character dropped).
    #[test]
    fn unpadded_secrets_decode_as_pythons_b64decode() {
        let whole = parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok();
        assert_eq!(
            whole,
            STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok()
        );
        let whole = whole.unwrap_or_default();
        assert_eq!(whole.len(), 24);
        let mut longer = whole.clone();
        longer.push(6);
        for (written, want) in [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", &whole[..23]),
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=", &whole[..23]),
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr", &longer[..]),
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==", &longer[..]),
        ] {
            assert_eq!(parse_secret(written).as_deref(), Ok(want), "{written:?}");
            assert_eq!(
                parse_secret(&format!("whsec_{written}")).as_deref(),
                Ok(want),
                "whsec_{written:?}"
            );
        }
    }

    /// Still refused: empty secrets (every library's `empty secret` test), characters outside
    /// the standard alphabet, a lone character (no whole byte), padding after a whole group, the
    /// URL-safe alphabet, and the other
    /// prefixes of svix-webhooks `server/svix-server/src/core/types/mod.rs`,
    /// `test_endpoint_secret_deserialization`.
    #[test]
    fn what_is_not_a_secret_is_still_refused() {
        for bad in [
            "",
            "whsec_",
            "w",
            "whsec_%",
            "whsec_Zm9v!",
            "Z",
            "Zm9v=",
            "Zm-v",
            "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=",
            "hwsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad:?}");
        }
    }
}
