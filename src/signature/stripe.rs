//! [Stripe](https://docs.stripe.com/webhooks#verify-manually):
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>[,v1=...]`. The secret
//! (`whsec_...`) is used as it is written, prefix included.

use aws_lc_rs::hmac;
use http::{HeaderMap, HeaderName};

use super::key::{VerifyingKey, ct_eq};
use super::rejection::{Failure, MAX_SIGNATURES, decimal, hex_decode, one_header, parse_unix_secs};

/// `Stripe-Signature`.
pub(crate) static SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");

/// The `Stripe-Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) timestamp: u64,
    pub(crate) signatures: Vec<Vec<u8>>,
}

/// Reads `Stripe-Signature`.
pub(crate) fn parse_head(headers: &HeaderMap) -> Result<Head, Failure> {
    parse_signature(one_header(headers, &SIGNATURE)?)
}

/// Parses a `Stripe-Signature` value: comma-separated `key=value` items, exactly one `t`, at
/// least one `v1` (32 bytes in hex); other schemes (`v0`) are skipped, as Stripe's libraries do.
pub(crate) fn parse_signature(text: &str) -> Result<Head, Failure> {
    let malformed = |why| Failure::MalformedHeader(SIGNATURE.as_str(), why);
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        if i > MAX_SIGNATURES {
            return Err(malformed("too many items"));
        }
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(malformed("expected key=value items"))?;
        match key {
            "t" if timestamp.is_some() => return Err(malformed("more than one timestamp")),
            "t" => timestamp = Some(parse_unix_secs(value, SIGNATURE.as_str())?),
            "v1" => match hex_decode(value) {
                Some(sig) if sig.len() == 32 => signatures.push(sig),
                _ => return Err(malformed("v1 is not 64 hex digits")),
            },
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(malformed("no timestamp"))?;
    if signatures.is_empty() {
        return Err(malformed("no v1 signature"));
    }
    Ok(Head {
        timestamp,
        signatures,
    })
}

/// The key that signed `body` under `head`, if any, and the tag (which identifies the message
/// against replays).
pub(crate) fn verify<'k>(
    head: &Head,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, hmac::Tag), Failure> {
    let mut ts = [0u8; 20];
    let parts: [&[u8]; 3] = [decimal(head.timestamp, &mut ts), b".", body];
    for key in keys {
        let Some(tag) = key.hmac_tag(&parts) else {
            continue;
        };
        if head.signatures.iter().any(|s| ct_eq(tag.as_ref(), s)) {
            return Ok((key, tag));
        }
    }
    Err(Failure::NoMatchingSignature)
}
