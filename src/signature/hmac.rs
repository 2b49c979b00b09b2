//! HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once, when the key is made.
//!
//! A key keeps the SHA-256 states after `key ^ ipad` and `key ^ opad`: a tag costs a copy of
//! each (about a hundred bytes), the message's blocks and one block for the outer hash.
//! aws-lc-rs's `hmac::Context`, used before, copies a whole HMAC context (several hundred
//! bytes) per tag and goes through its generic digest interface on every update: about a fifth
//! of a 1 KiB tag's time (`benches/signature.rs`, which also measures RustCrypto's `hmac`, built
//! the same way as this). The compression is `sha2`'s, which uses the CPU's SHA extensions
//! where it has them.
//!
//! The states are a hash of the secret, not the secret: `Debug` shows neither.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// The block size of SHA-256, in bytes.
const BLOCK: usize = 64;

/// An HMAC-SHA256 key, prepared.
#[derive(Clone)]
pub(crate) struct HmacKey {
    /// SHA-256 after the block `key ^ 0x36...`.
    inner: Sha256,
    /// SHA-256 after the block `key ^ 0x5c...`.
    outer: Sha256,
}

impl HmacKey {
    /// The key of `secret`, of any length (longer than a block, it is hashed first, as RFC 2104
    /// says).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if secret.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        let padded = |pad: u8| {
            let mut b = block;
            b.iter_mut().for_each(|x| *x ^= pad);
            let mut h = Sha256::new();
            h.update(b);
            h
        };
        Self {
            inner: padded(0x36),
            outer: padded(0x5c),
        }
    }

    /// The tag of the concatenation of `parts`, without concatenating them.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 4231 section 4, every HMAC-SHA-256 case (case 5's output is truncated to 128 bits
    /// there, and compared so): keys shorter than, as long as and longer than a block (case 6
    /// and 7, 131 bytes, hashed first).
    #[test]
    fn rfc_4231_test_cases() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0x0c; 20],
                b"Test With Truncation".to_vec(),
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, data, expected)) in cases.iter().enumerate() {
            let tag = HmacKey::new(key).tag(&[data]);
            let expected = hex(expected);
            assert_eq!(
                &tag[..expected.len()],
                &expected[..],
                "RFC 4231 case {}",
                i + 1
            );
        }
    }

    proptest! {
        /// The same tag as aws-lc-rs's HMAC, whatever the key's length (around the block size
        /// too) and however the message is cut into parts.
        #[test]
        fn agrees_with_aws_lc(
            secret in proptest::collection::vec(any::<u8>(), 0..200),
            message in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..4),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(message.len())).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut at = 0;
            for c in cuts {
                parts.push(&message[at..c]);
                at = c;
            }
            parts.push(&message[at..]);
            let theirs = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
                &message,
            );
            prop_assert_eq!(&HmacKey::new(&secret).tag(&parts)[..], theirs.as_ref());
        }
    }

    #[test]
    fn debug_shows_nothing_of_the_key() {
        assert_eq!(format!("{:?}", HmacKey::new(b"secret")), "HmacKey(..)");
    }
}
