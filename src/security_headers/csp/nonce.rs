//! The per-response nonce and the policy text around it.

use std::fmt;

use http::HeaderValue;
use rand::RngCore;

use super::CspError;

/// A compiled policy: the text around its nonces.
#[derive(Clone, Debug)]
pub(crate) enum Template {
    /// No nonce: the header value, built once.
    Fixed(HeaderValue),
    /// Text segments to join with the request's nonce (at least two).
    Nonce(Box<[Box<str>]>),
}

impl Template {
    pub(super) fn new(segments: Vec<String>) -> Result<Self, CspError> {
        if let [only] = segments.as_slice() {
            return HeaderValue::from_str(only)
                .map(Template::Fixed)
                .map_err(|_| CspError::InvalidHeaderValue);
        }
        Ok(Template::Nonce(
            segments.into_iter().map(String::into_boxed_str).collect(),
        ))
    }

    /// The header value for a response with `nonce`.
    pub(crate) fn render(&self, nonce: &CspNonce) -> HeaderValue {
        match self {
            Template::Fixed(value) => value.clone(),
            Template::Nonce(segments) => {
                let len = segments.iter().map(|s| s.len()).sum::<usize>()
                    + nonce.as_str().len() * (segments.len() - 1);
                let mut text = String::with_capacity(len);
                for (i, segment) in segments.iter().enumerate() {
                    if i > 0 {
                        text.push_str(nonce.as_str());
                    }
                    text.push_str(segment);
                }
                // The segments passed `check_source` and the nonce is base64url: the value is
                // always valid. Should it not be, fail closed rather than send no policy.
                HeaderValue::try_from(text)
                    .unwrap_or(HeaderValue::from_static("default-src 'none'"))
            }
        }
    }
}

const NONCE_BYTES: usize = 16;
const NONCE_LEN: usize = 22;

/// The CSP nonce of one response, in the request's extensions (an axum extractor under the
/// `axum` feature) when the policy has [`Source::Nonce`](super::Source::Nonce).
///
/// 128 bits from the thread-local CSPRNG, base64url without padding (22 characters). Use it as
/// the `nonce` attribute of the inline `<script>` and `<style>` elements the page may run:
///
/// ```
/// # use tower_shield::security_headers::CspNonce;
/// fn page(nonce: &CspNonce) -> String {
///     format!(r#"<script nonce="{nonce}">start()</script>"#)
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CspNonce([u8; NONCE_LEN]);

impl CspNonce {
    /// A fresh random nonce.
    pub fn generate() -> Self {
        let mut random = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut random);
        Self(base64url_16(&random))
    }

    /// The nonce, as it appears in the policy after `'nonce-`.
    pub fn as_str(&self) -> &str {
        // Base64url output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CspNonce").field(&self.as_str()).finish()
    }
}

impl fmt::Display for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(super) fn base64url_16(input: &[u8; NONCE_BYTES]) -> [u8; NONCE_LEN] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = [0u8; NONCE_LEN];
    let mut o = 0;
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out[o] = ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
            o += 1;
        }
    }
    out
}
