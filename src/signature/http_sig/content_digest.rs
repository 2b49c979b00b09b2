//! [RFC 9530](https://www.rfc-editor.org/rfc/rfc9530) `Content-Digest`: `sha-256` and
//! `sha-512` digests of the body, as a structured-field dictionary of byte sequences.

use sha2::{Digest as _, Sha256, Sha512};

use super::sf::{self, Item, Member};
use crate::signature::rejection::Failure;

pub(crate) const HEADER: &str = "content-digest";

/// The `Content-Digest` value for `body` with `sha-256` (what [`crate::client`] sends).
pub(crate) fn sha256_value(body: &[u8]) -> String {
    let mut out = String::from("sha-256=");
    sf::write_item(&mut out, &Item::Bytes(Sha256::digest(body).to_vec()));
    out
}

/// The `Content-Digest` value for `body` with `sha-512`.
#[cfg(test)]
pub(crate) fn sha512_value(body: &[u8]) -> String {
    let mut out = String::from("sha-512=");
    sf::write_item(&mut out, &Item::Bytes(Sha512::digest(body).to_vec()));
    out
}

/// Checks a `Content-Digest` value against `body`: every `sha-256` and `sha-512` digest it
/// lists must match, and at least one must be there (other algorithms are skipped, as RFC 9530
/// allows; the insecure `md5`, `sha` ones never count).
pub(crate) fn verify(value: &str, body: &[u8]) -> Result<(), Failure> {
    let malformed = |why| Failure::MalformedHeader(HEADER, why);
    let dict = sf::parse_dictionary(value).map_err(malformed)?;
    let mut checked = false;
    for (alg, member) in &dict {
        let Member::Item(Item::Bytes(digest), _) = member else {
            return Err(malformed("expected byte sequences"));
        };
        let ok = match alg.as_str() {
            "sha-256" => Sha256::digest(body)[..] == digest[..],
            "sha-512" => Sha512::digest(body)[..] == digest[..],
            _ => continue,
        };
        if !ok {
            return Err(Failure::DigestMismatch);
        }
        checked = true;
    }
    if checked {
        Ok(())
    } else {
        Err(malformed("no sha-256 or sha-512 digest"))
    }
}
