//! [Stripe](https://docs.stripe.com/webhooks#verify-manually):
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>[,v1=...]`. The secret
//! (`whsec_...`) is used as it is written, prefix included.

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
/// least one `v1` of 64 lowercase hex digits (the HMAC's `hexdigest`, as Stripe writes it and as
/// its libraries compare it, text to text); other schemes (`v0`) are skipped, as Stripe's
/// libraries do. So is a `v1` that is not 64 lowercase hex digits, when another one is (it can
/// match nothing: stripe-node's `Webhook.spec.ts` "should return true when the header contains at
/// least one valid signature" appends `,v1=potato` to a valid header, stripe-python's
/// `test_header_contains_valid_signature` `,v1=bad_signature`, and both verify); with no usable
/// `v1` at all the header is refused before the body is read. An item without `=` (a trailing
/// comma, a stray word) is skipped too, as stripe-node's `parseHeader` and stripe-python's
/// `_get_timestamp_and_signatures` skip it; a header with no timestamp or no `v1` that has one
/// is refused as not `key=value` items.
pub(crate) fn parse_signature(text: &str) -> Result<Head, Failure> {
    let malformed = |why| Failure::MalformedHeader(SIGNATURE.as_str(), why);
    let mut timestamp = None;
    let mut signatures = Vec::new();
    let mut unusable = false;
    let mut not_an_item = false;
    for (i, item) in text.split(',').enumerate() {
        if i > MAX_SIGNATURES {
            return Err(malformed("too many items"));
        }
        // Not trimmed: Stripe writes no spaces, and its libraries split on `,` then `=` as
        // they are (` v1=...` is an item of another name, skipped, as theirs skip it).
        let Some((key, value)) = item.split_once('=') else {
            not_an_item = true;
            continue;
        };
        match key {
            "t" if timestamp.is_some() => return Err(malformed("more than one timestamp")),
            "t" => timestamp = Some(parse_unix_secs(value, SIGNATURE.as_str())?),
            "v1" => match lower_hex_tag(value) {
                Some(sig) => signatures.push(sig),
                None => unusable = true,
            },
            _ => {}
        }
    }
    if not_an_item && (timestamp.is_none() || signatures.is_empty()) {
        return Err(malformed("expected key=value items"));
    }
    let timestamp = timestamp.ok_or(malformed("no timestamp"))?;
    if signatures.is_empty() {
        return Err(malformed(if unusable {
            "v1 is not 64 hex digits"
        } else {
            "no v1 signature"
        }));
    }
    Ok(Head {
        timestamp,
        signatures,
    })
}

/// The 32 bytes of an HMAC-SHA256 tag written as 64 lowercase hex digits, or `None`.
fn lower_hex_tag(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex_decode(text)
}

/// The key that signed `body` under `head`, if any, and what identifies the message against
/// replays.
pub(crate) fn verify<'k>(
    head: &Head,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, [u8; 32]), Failure> {
    let mut ts = [0u8; 20];
    let parts: [&[u8]; 3] = [decimal(head.timestamp, &mut ts), b".", body];
    // What identifies the message against replays: its tag under the first key tried (the
    // first configured), whichever key signed it. A message signed for rotation under two
    // secrets is then the same message when a replay keeps only the old secret's `v1`.
    let mut identity = None;
    for key in keys {
        let Some(tag) = key.hmac_tag(&parts) else {
            continue;
        };
        let identity = *identity.get_or_insert(tag);
        if head.signatures.iter().any(|s| ct_eq(&tag, s)) {
            return Ok((key, identity));
        }
    }
    Err(Failure::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";

    /// stripe-node `test/Webhook.spec.ts` "should return true when the header contains at least
    /// one valid signature" (`,v1=potato`) and stripe-python `tests/test_webhook.py`
    /// `test_header_contains_valid_signature` (`,v1=bad_signature`): a `v1` that can match
    /// nothing is skipped beside one that can.
    #[test]
    fn a_v1_that_is_not_a_tag_is_skipped_beside_one_that_is() {
        let upper = V1.to_ascii_uppercase();
        for extra in ["potato", "bad_signature", "", "abc", upper.as_str()] {
            for header in [
                format!("t=1492774577,v1={V1},v1={extra}"),
                format!("t=1492774577,v1={extra},v1={V1}"),
            ] {
                let head = parse_signature(&header);
                assert_eq!(head.map(|h| h.signatures.len()), Ok(1), "{header:?}");
            }
        }
    }

    /// Items are split as Stripe's libraries split them (`header.split(',')`, then `=`), not
    /// trimmed: with a space after the comma, `v1` and `t` are items of other names.
    #[test]
    fn items_are_not_trimmed() {
        for (header, why) in [
            (format!("t=1, v1={V1}"), "no v1 signature"),
            (format!("v1={V1}, t=1"), "no timestamp"),
        ] {
            assert_eq!(
                parse_signature(&header),
                Err(Failure::MalformedHeader("stripe-signature", why)),
                "{header:?}"
            );
        }
        assert_eq!(
            parse_signature(&format!("t=1,v1={V1}")).map(|h| h.timestamp),
            Ok(1)
        );
    }

    /// With no usable `v1`, the header is refused (stripe-python
    /// `test_raise_on_no_valid_signatures_for_payload` refuses it too, after computing the
    /// HMAC). Uppercase hex is not Stripe's `hexdigest`: the libraries compare text and refuse it.
    #[test]
    fn no_usable_v1_is_refused() {
        let upper = V1.to_ascii_uppercase();
        for (header, why) in [
            ("t=1,v1=bad_signature".to_owned(), "v1 is not 64 hex digits"),
            (format!("t=1,v1={upper}"), "v1 is not 64 hex digits"),
            (format!("t=1,v1={}", &V1[1..]), "v1 is not 64 hex digits"),
            (format!("t=1,v0={V1}"), "no v1 signature"),
        ] {
            assert_eq!(
                parse_signature(&header),
                Err(Failure::MalformedHeader("stripe-signature", why)),
                "{header:?}"
            );
        }
    }
}
