//! [GitHub](https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries):
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. There is no timestamp, and
//! the `X-GitHub-Delivery` id is not signed (anyone replaying a delivery can change it): replays
//! are refused by the signed body itself.

use http::{HeaderMap, HeaderName};

use super::key::{VerifyingKey, ct_eq};
use super::rejection::{Failure, hex_decode, one_header};

/// `X-Hub-Signature-256`.
pub(crate) static SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature-256");

/// The headers of a GitHub delivery: its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) signature: Vec<u8>,
}

/// Reads `X-Hub-Signature-256`.
pub(crate) fn parse_head(headers: &HeaderMap) -> Result<Head, Failure> {
    let signature = parse_signature(one_header(headers, &SIGNATURE)?)?;
    Ok(Head { signature })
}

/// Parses `sha256=<64 lowercase hex digits>`: what GitHub sends ("the hash signature always
/// starts with `sha256=`", an HMAC `hexdigest`), and what its documented Ruby and Python examples
/// and `@octokit/webhooks-methods` accept, as they compare the header's text with
/// `"sha256=" + hexdigest`. So neither `SHA256=` nor uppercase hex, nor a bare digest, nor the
/// `sha1=` of the legacy `X-Hub-Signature`.
pub(crate) fn parse_signature(text: &str) -> Result<Vec<u8>, Failure> {
    let malformed = |why| Failure::MalformedHeader(SIGNATURE.as_str(), why);
    let hex = text
        .strip_prefix("sha256=")
        .ok_or(malformed("expected sha256=<hex>"))?;
    let lower = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match hex_decode(hex) {
        Some(sig) if lower && sig.len() == 32 => Ok(sig),
        _ => Err(malformed("expected 64 lowercase hex digits")),
    }
}

/// The key that signed `body`, and what identifies the delivery against replays: the body's
/// tag under the first key tried (the first configured), whichever key signed it, so a
/// delivery is the same message under any key.
pub(crate) fn verify<'k>(
    head: &Head,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, [u8; 32]), Failure> {
    let mut identity = None;
    for key in keys {
        let Some(tag) = key.hmac_tag(&[body]) else {
            continue;
        };
        let identity = *identity.get_or_insert(tag);
        if ct_eq(&tag, &head.signature) {
            return Ok((key, identity));
        }
    }
    Err(Failure::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented test vector ("Validating webhook deliveries", "Testing the webhook
    /// payload validation"), and what its examples refuse: they compare the header's text with
    /// `"sha256=" + hexdigest` (`@octokit/webhooks-methods` `src/node/verify.ts` too).
    #[test]
    fn only_sha256_and_lowercase_hex_parse() {
        let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            parse_signature(&format!("sha256={hex}")).map(|s| s.len()),
            Ok(32)
        );
        let upper = hex.to_ascii_uppercase();
        for (bad, why) in [
            (
                format!("sha256={upper}"),
                "expected 64 lowercase hex digits",
            ),
            (
                format!("sha256={}{}", &hex[..63], "E"),
                "expected 64 lowercase hex digits",
            ),
            (format!("SHA256={hex}"), "expected sha256=<hex>"),
            (hex.to_owned(), "expected sha256=<hex>"),
            (
                "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8".to_owned(),
                "expected sha256=<hex>",
            ),
        ] {
            assert_eq!(
                parse_signature(&bad),
                Err(Failure::MalformedHeader("x-hub-signature-256", why)),
                "{bad:?}"
            );
        }
    }
}
