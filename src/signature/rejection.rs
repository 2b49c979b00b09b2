//! Why a signed request is refused, and the problems that say so.

use std::borrow::Cow;
use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::core::util::is_visible_ascii;
use crate::problem::{Problem, ProblemType, Rejection};

/// The longest signature header read; a longer one is refused unread.
pub(crate) const MAX_HEADER_LEN: usize = 8 * 1024;

/// The most signatures a header may list (rotation needs two or three); more is refused
/// before any is checked.
pub(crate) const MAX_SIGNATURES: usize = 16;

/// The rule a signed request broke: the detail of its `401` problem. Never a secret, never
/// the signature expected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A header the scheme needs is absent.
    MissingHeader(&'static str),
    /// A header appears more than once.
    DuplicatedHeader(&'static str),
    /// A header does not parse (the reason).
    MalformedHeader(&'static str, &'static str),
    /// The timestamp is further from now than the tolerance (in seconds).
    OutsideTolerance(u64),
    /// The signature (RFC 9421 `expires`) has expired.
    Expired,
    /// No signature of the request matches a key.
    NoMatchingSignature,
    /// No key has the signature's `keyid`.
    UnknownKey,
    /// The signature's algorithm is not the key's, or not supported.
    AlgorithmMismatch,
    /// The signature does not cover a component that it must (its name).
    MissingComponent(Cow<'static, str>),
    /// A covered component is absent from the request (its name).
    AbsentComponent(Cow<'static, str>),
    /// The body's `Content-Digest` does not match it.
    DigestMismatch,
    /// The message id (or nonce) was seen already.
    Replayed,
    /// The body could not be read whole.
    UnreadableBody,
}

impl Failure {
    /// A short code of the rule, for logs and metrics: `missing_header`, `malformed_header`,
    /// `outside_tolerance`, `no_matching_signature`, `replayed`, ... (the variant's name).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::DuplicatedHeader(_) => "duplicated_header",
            Self::MalformedHeader(..) => "malformed_header",
            Self::OutsideTolerance(_) => "outside_tolerance",
            Self::Expired => "expired",
            Self::NoMatchingSignature => "no_matching_signature",
            Self::UnknownKey => "unknown_key",
            Self::AlgorithmMismatch => "algorithm_mismatch",
            Self::MissingComponent(_) => "missing_component",
            Self::AbsentComponent(_) => "absent_component",
            Self::DigestMismatch => "digest_mismatch",
            Self::Replayed => "replayed",
            Self::UnreadableBody => "unreadable_body",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader(h) => write!(f, "missing {h} header"),
            Self::DuplicatedHeader(h) => write!(f, "duplicated {h} header"),
            Self::MalformedHeader(h, why) => write!(f, "malformed {h} header: {why}"),
            Self::OutsideTolerance(s) => {
                write!(f, "timestamp outside the tolerance of {s} seconds")
            }
            Self::Expired => f.write_str("signature expired"),
            Self::NoMatchingSignature => f.write_str("no matching signature"),
            Self::UnknownKey => f.write_str("unknown key id"),
            Self::AlgorithmMismatch => f.write_str("signature algorithm does not match the key"),
            Self::MissingComponent(c) => write!(f, "signature does not cover {c}"),
            Self::AbsentComponent(c) => write!(f, "covered component {c} is absent"),
            Self::DigestMismatch => f.write_str("Content-Digest does not match the body"),
            Self::Replayed => f.write_str("replayed message: its id was seen already"),
            Self::UnreadableBody => f.write_str("the body could not be read"),
        }
    }
}

/// A request refused by a [`SignatureLayer`](super::SignatureLayer): `401`, a
/// `signature-invalid` problem whose detail names the rule that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSignature {
    failure: Failure,
}

impl InvalidSignature {
    pub(crate) fn new(failure: Failure) -> Self {
        Self { failure }
    }

    /// The rule that failed.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }
}

/// What a refusal about the body's `Content-Digest` asks for (RFC 9530 section 4): the two
/// algorithms checked, equally welcome.
const WANT_CONTENT_DIGEST: &str = "sha-256=10, sha-512=10";

impl Failure {
    /// Whether the rule that failed is about the body's `Content-Digest`: absent, not covered,
    /// malformed or without an algorithm checked, or not matching the body.
    fn is_about_content_digest(&self) -> bool {
        const NAME: &str = super::http_sig::content_digest::HEADER;
        match self {
            Self::DigestMismatch => true,
            Self::MalformedHeader(h, _) => *h == NAME,
            // The field's name, quoted or not, with parameters (`"content-digest";sf`) or not.
            Self::MissingComponent(c) | Self::AbsentComponent(c) => {
                c.trim_start_matches('"').split('"').next() == Some(NAME)
            }
            _ => false,
        }
    }
}

impl Rejection for InvalidSignature {
    /// A refusal about the body's `Content-Digest` carries `Want-Content-Digest` (RFC 9530
    /// section 4), saying which digests the layer checks.
    fn problem(&self) -> Problem {
        let problem =
            Problem::of(ProblemType::SignatureInvalid).with_detail(self.failure.to_string());
        if self.failure.is_about_content_digest() {
            problem.with_header(
                HeaderName::from_static("want-content-digest"),
                HeaderValue::from_static(WANT_CONTENT_DIGEST),
            )
        } else {
            problem
        }
    }
}

/// A body larger than the layer reads: `413`, a `payload-too-large` problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadTooLarge {
    pub(crate) limit: usize,
}

impl Rejection for PayloadTooLarge {
    fn problem(&self) -> Problem {
        Problem::of(ProblemType::PayloadTooLarge)
            .with_detail(format!("the body is larger than {} bytes", self.limit))
            .with_extension("limit", self.limit)
    }
}

/// The replay store could not be reached: `503`, a `signature-unavailable` problem (the
/// layer fails closed: a replay must not get through while the store is down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureUnavailable(pub(crate) ());

impl Rejection for SignatureUnavailable {
    fn problem(&self) -> Problem {
        Problem::of(ProblemType::SignatureUnavailable)
            .with_detail("the replay check could not be made; try again later")
    }
}

/// The one value of header `header`, as text, within [`MAX_HEADER_LEN`]. The name is a
/// `static` [`HeaderName`], so looking it up parses nothing.
pub(crate) fn one_header<'h>(
    headers: &'h HeaderMap,
    header: &'static HeaderName,
) -> Result<&'h str, Failure> {
    let mut values = headers.get_all(header).iter();
    let found = match (values.next(), values.next()) {
        (None, _) => Found::Missing,
        (Some(value), None) => Found::One(value),
        (Some(_), Some(_)) => Found::Duplicated,
    };
    found.text(header.as_str())
}

/// What a request holds of one header: nothing, one value, or several.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum Found<'h> {
    #[default]
    Missing,
    One(&'h HeaderValue),
    Duplicated,
}

impl<'h> Found<'h> {
    /// One more value of the header seen.
    pub(crate) fn add(&mut self, value: &'h HeaderValue) {
        *self = match self {
            Self::Missing => Self::One(value),
            Self::One(_) | Self::Duplicated => Self::Duplicated,
        };
    }

    /// The one value of header `name`, within [`MAX_HEADER_LEN`], visible ASCII (tabs
    /// admitted, as `HeaderValue::to_str` admits them), trimmed, not empty.
    pub(crate) fn bytes(self, name: &'static str) -> Result<&'h [u8], Failure> {
        let value = match self {
            Self::Missing => return Err(Failure::MissingHeader(name)),
            Self::Duplicated => return Err(Failure::DuplicatedHeader(name)),
            Self::One(value) => value.as_bytes(),
        };
        if value.len() > MAX_HEADER_LEN {
            return Err(Failure::MalformedHeader(name, "too long"));
        }
        if !is_visible_ascii(value) {
            return Err(Failure::MalformedHeader(name, "not visible ASCII"));
        }
        let value = value.trim_ascii();
        if value.is_empty() {
            return Err(Failure::MalformedHeader(name, "empty"));
        }
        Ok(value)
    }

    /// [`Found::bytes`] as text: what [`one_header`] returns.
    pub(crate) fn text(self, name: &'static str) -> Result<&'h str, Failure> {
        std::str::from_utf8(self.bytes(name)?)
            .map_err(|_| Failure::MalformedHeader(name, "not visible ASCII"))
    }
}

/// The bytes of header `header` that [`one_header`] accepted before (the request's headers are
/// not changed in between): looked up once, not checked again. Empty if it is gone.
pub(crate) fn checked_header<'h>(headers: &'h HeaderMap, header: &'static HeaderName) -> &'h [u8] {
    headers
        .get(header)
        .map_or(&[][..], |v| v.as_bytes().trim_ascii())
}

/// A Unix timestamp in seconds: 1 to 12 ASCII digits (up to the year 33658), nothing else.
pub(crate) fn parse_unix_secs(text: &str, header: &'static str) -> Result<u64, Failure> {
    unix_secs(text.as_bytes(), header)
}

/// [`parse_unix_secs`] of bytes: the digits checked and summed in one loop (twelve digits, even
/// of values up to 255 each, cannot overflow).
pub(crate) fn unix_secs(digits: &[u8], header: &'static str) -> Result<u64, Failure> {
    let bad = Failure::MalformedHeader(header, "not a Unix timestamp");
    if digits.is_empty() || digits.len() > 12 {
        return Err(bad);
    }
    let (mut n, mut all_digits) = (0u64, true);
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        all_digits &= d < 10;
        n = n * 10 + u64::from(d);
    }
    if all_digits { Ok(n) } else { Err(bad) }
}

/// The decimal digits of `n`: what a signed message carries for its timestamp.
pub(crate) use crate::core::util::decimal;

/// Whether `ts` is within `tolerance` seconds of `now`, either way.
pub(crate) fn check_tolerance(ts: u64, now: u64, tolerance: u64) -> Result<(), Failure> {
    if ts.abs_diff(now) > tolerance {
        return Err(Failure::OutsideTolerance(tolerance));
    }
    Ok(())
}

/// Lowercase hex digits to bytes.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}
