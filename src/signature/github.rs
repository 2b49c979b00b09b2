//! [GitHub](https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries):
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. There is no timestamp:
//! replays are refused by the `X-GitHub-Delivery` id.

use http::{HeaderMap, HeaderName};

use super::key::{VerifyingKey, ct_eq};
use super::rejection::{Failure, hex_decode, one_header};

/// `X-Hub-Signature-256`.
pub(crate) static SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// `X-GitHub-Delivery`.
pub(crate) static DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");

/// The longest delivery id accepted (GitHub's are GUIDs).
const MAX_DELIVERY_LEN: usize = 128;

/// The headers of a GitHub delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) signature: Vec<u8>,
    pub(crate) delivery: Option<String>,
}

/// Reads `X-Hub-Signature-256`, and `X-GitHub-Delivery` (required when `need_delivery`).
pub(crate) fn parse_head(headers: &HeaderMap, need_delivery: bool) -> Result<Head, Failure> {
    let signature = parse_signature(one_header(headers, &SIGNATURE)?)?;
    let delivery = match one_header(headers, &DELIVERY) {
        Ok(d) if d.len() <= MAX_DELIVERY_LEN => Some(d.to_owned()),
        Ok(_) => return Err(Failure::MalformedHeader(DELIVERY.as_str(), "too long")),
        Err(Failure::MissingHeader(_)) if !need_delivery => None,
        Err(e) => return Err(e),
    };
    Ok(Head {
        signature,
        delivery,
    })
}

/// Parses `sha256=<64 hex digits>`.
pub(crate) fn parse_signature(text: &str) -> Result<Vec<u8>, Failure> {
    let malformed = |why| Failure::MalformedHeader(SIGNATURE.as_str(), why);
    let hex = text
        .strip_prefix("sha256=")
        .ok_or(malformed("expected sha256=<hex>"))?;
    match hex_decode(hex) {
        Some(sig) if sig.len() == 32 => Ok(sig),
        _ => Err(malformed("expected 64 hex digits")),
    }
}

/// The key that signed `body`, if any.
pub(crate) fn verify<'k>(
    head: &Head,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<&'k VerifyingKey, Failure> {
    keys.iter()
        .find(|key| {
            key.hmac_tag(&[body])
                .is_some_and(|tag| ct_eq(tag.as_ref(), &head.signature))
        })
        .ok_or(Failure::NoMatchingSignature)
}
