//! [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` (symmetric,
//! secrets written `whsec_<base64>`) and `v1a,<base64 Ed25519>` (asymmetric, public keys
//! written `whpk_<base64>`) signatures of `id.timestamp.body`.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::ConfigError;
use super::key::{Algorithm, SigningKey, VerifyingKey, ct_eq};
use super::rejection::{
    Failure, Found, MAX_HEADER_LEN, MAX_SIGNATURES, checked_header, decimal, unix_secs,
};
use crate::core::util::words;

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

/// What the three headers said, checked, as borrowed from the request: the message id, the
/// timestamp as sent and as a number, and the signature list (and its signature, when it
/// lists only one `v1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'h> {
    pub(crate) head: Head,
    id: &'h [u8],
    timestamp: &'h [u8],
    signatures: &'h [u8],
    only: Only,
}

/// What a `v1` tag is compared with: the list's only signature, decoded, or every listed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Only {
    /// The list is not one `v1` signature: each listed `v1` is decoded and compared.
    List,
    /// One `v1` signature, the base64 of a tag.
    Tag([u8; 32]),
    /// One `v1` signature that is not the base64 of 32 bytes: no tag's encoding equals it.
    NotATag,
}

impl Only {
    /// What [`check_signatures`] found: the list's only `v1` signature, if it lists one.
    fn of(only: Option<&[u8]>) -> Self {
        match only {
            None => Self::List,
            Some(sig) => decode_tag(sig).map_or(Self::NotATag, Self::Tag),
        }
    }
}

impl<'h> Parsed<'h> {
    /// What checked headers said: the id, the timestamp (as sent, and its number), the list
    /// and what a tag is compared with.
    fn new(
        id: &'h [u8],
        (text, timestamp): (&'h [u8], u64),
        signatures: &'h [u8],
        only: Only,
    ) -> Self {
        Self {
            head: Head { timestamp },
            id,
            // The digits as sent are the signed ones, unless they have leading zeros: the
            // reference libraries sign the number (`str(int(...))`), so `0123` is signed as
            // `123`.
            timestamp: if text.len() > 1 && text.starts_with(b"0") {
                &[]
            } else {
                text
            },
            signatures,
            only,
        }
    }
}

/// Maps of at most this many values are searched in one pass for the three headers (and
/// `content-length`): a lookup hashes the name and probes the table, and three of them cost
/// more than a pass over the dozen headers of a usual webhook request. Bigger maps are looked
/// up, so the work stays bounded by the headers sought, whatever else a client sends.
const SCAN_MAX: usize = 24;

/// The values of the three headers in a request, and its first `content-length`: found by
/// [`find`], checked by [`parse_found`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Headers<'h> {
    id: Found<'h>,
    timestamp: Found<'h>,
    signature: Found<'h>,
    pub(crate) content_length: Option<&'h HeaderValue>,
}

/// The three headers' values and the first `content-length`, found in one pass over a small
/// map ([`SCAN_MAX`]) or by lookups in a bigger one: either way the same values.
pub(crate) fn find(headers: &HeaderMap) -> Headers<'_> {
    let mut found = Headers::default();
    if headers.len() <= SCAN_MAX {
        for (name, value) in headers {
            // A standard name is compared as such (no text), before the three are sought.
            if name == CONTENT_LENGTH {
                found.content_length = found.content_length.or(Some(value));
                continue;
            }
            let slot = match name.as_str().as_bytes() {
                b"webhook-id" => &mut found.id,
                b"webhook-timestamp" => &mut found.timestamp,
                b"webhook-signature" => &mut found.signature,
                _ => continue,
            };
            slot.add(value);
        }
    } else {
        let values = |name: &HeaderName| {
            let mut found = Found::Missing;
            for value in headers.get_all(name).iter().take(2) {
                found.add(value);
            }
            found
        };
        found.id = values(&ID);
        found.timestamp = values(&TIMESTAMP);
        found.signature = values(&SIGNATURE);
        found.content_length = headers.get(CONTENT_LENGTH);
    }
    found
}

/// Reads and checks the three headers: [`parse_found`] of what [`find`] finds.
#[cfg(test)]
pub(crate) fn parse(headers: &HeaderMap) -> Result<Parsed<'_>, Failure> {
    parse_found(find(headers))
}

/// Checks the three headers found: the id, the timestamp, and every listed signature (versions
/// and base64). What they said is kept for [`verify_parsed`]: a request whose body is at hand
/// is verified without looking its headers up again.
pub(crate) fn parse_found(found: Headers<'_>) -> Result<Parsed<'_>, Failure> {
    match parse_usual(&found) {
        Some(parsed) => Ok(parsed),
        None => parse_general(found),
    }
}

/// [`parse_found`] of any headers, each rule checked in turn.
pub(crate) fn parse_general(found: Headers<'_>) -> Result<Parsed<'_>, Failure> {
    let id = found.id.bytes(ID.as_str())?;
    if id.len() > MAX_ID_LEN || !is_message_id(id) {
        return Err(Failure::MalformedHeader(ID.as_str(), "not a message id"));
    }
    let text = found.timestamp.bytes(TIMESTAMP.as_str())?;
    let timestamp = unix_secs(text, TIMESTAMP.as_str())?;
    let signatures = found.signature.bytes(SIGNATURE.as_str())?;
    let only = Only::of(check_signatures(signatures)?);
    Ok(Parsed::new(id, (text, timestamp), signatures, only))
}

/// The usual three headers, checked in fewer passes than [`parse_general`] takes: an id of
/// visible ASCII without spaces nor `.`, a timestamp of digits only and a signature list of one
/// `v1,` and canonical base64 need no trimming, and their checks below imply those of the
/// general path (visible ASCII, not empty, within the length limits). Accepts only what the
/// general path accepts, with the same result; `None` sends the headers through it, which
/// names the rule that fails.
pub(crate) fn parse_usual<'h>(found: &Headers<'h>) -> Option<Parsed<'h>> {
    let (Found::One(id), Found::One(text), Found::One(signatures)) =
        (found.id, found.timestamp, found.signature)
    else {
        return None;
    };
    let (id, text, signatures) = (id.as_bytes(), text.as_bytes(), signatures.as_bytes());
    if id.is_empty() || id.len() > MAX_ID_LEN || !is_plain_message_id(id) {
        return None;
    }
    let timestamp = unix_secs(text, TIMESTAMP.as_str()).ok()?;
    let sig = signatures.strip_prefix(b"v1,")?;
    // The base64 of a tag is decoded, which checks it too; other base64 is checked as such.
    let only = match decode_tag(sig) {
        Some(tag) => Only::Tag(tag),
        None if signatures.len() <= MAX_HEADER_LEN && is_base64(sig) => Only::NotATag,
        None => return None,
    };
    Some(Parsed::new(id, (text, timestamp), signatures, only))
}

/// Whether every byte of `id` is visible ASCII other than a space and `.`, in one pass: an id
/// that [`Found::bytes`] keeps as it is and [`is_message_id`] accepts.
fn is_plain_message_id(id: &[u8]) -> bool {
    use words::{has_high, has_less, has_zero, splat};
    words::all(
        id,
        |x| {
            !has_high(x)
                && !has_less(x, 0x21)
                && !has_zero(x ^ splat(0x7f))
                && !has_zero(x ^ splat(b'.'))
        },
        |b| (0x21..0x7f).contains(&b) && b != b'.',
    )
}

/// Whether `id` (visible ASCII) has neither `.` nor a space: the signed message is
/// `id.timestamp.body`, so a `.` in the id would make two messages one.
fn is_message_id(id: &[u8]) -> bool {
    use words::{has_zero, splat};
    words::all(
        id,
        |x| !has_zero(x ^ splat(b'.')) && !has_zero(x ^ splat(b' ')),
        |b| b != b'.' && b != b' ',
    )
}

/// Whether `id` can be a `webhook-id` this crate verifies: 1 to 256 bytes of visible ASCII
/// with no `.` (the signing client checks the ids it is given).
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| (0x21..0x7f).contains(&b))
        && is_message_id(id.as_bytes())
}

fn malformed(why: &'static str) -> Failure {
    Failure::MalformedHeader(SIGNATURE.as_str(), why)
}

/// More than [`MAX_SIGNATURES`] items.
fn too_many() -> Failure {
    malformed("too many signatures")
}

/// The items of a `webhook-signature` value: split on spaces, empty items skipped. A loop over
/// bytes: the values are short, and a `memchr` per item costs more than it saves.
struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let mut rest = self.rest;
        while let [b' ', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            self.rest = rest;
            return None;
        }
        let end = find_space(rest);
        let (item, after) = rest.split_at(end);
        self.rest = after;
        Some(item)
    }
}

/// The index of the first space in `bytes`, or its length: eight bytes at a time (a signature
/// is 47 or 92 bytes long, and a byte at a time cost six instructions per byte).
fn find_space(bytes: &[u8]) -> usize {
    let mut at = 0;
    for word in bytes.as_chunks::<8>().0 {
        // The word has a space exactly when `has_zero` says so, and its bytes are then looked
        // at one by one.
        if words::has_zero(u64::from_le_bytes(*word) ^ words::splat(b' ')) {
            break;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(bytes.len() - at)
}

/// The `v1` and `v1a` signatures of a `webhook-signature` value, as `(version, base64)`, in
/// order: space-separated `version,base64` pairs. Versions other than `v1` and `v1a` are
/// skipped (the spec reserves them); a pair that does not parse, or more than
/// [`MAX_SIGNATURES`] items, is an error (and the last item). The base64 is not decoded here.
pub(crate) fn signatures(text: &[u8]) -> impl Iterator<Item = Result<(Version, &[u8]), Failure>> {
    Items { rest: text }.enumerate().filter_map(|(i, item)| {
        if i >= MAX_SIGNATURES {
            return Some(Err(too_many()));
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

/// The HMAC-SHA256 tag (32 bytes) of which `text` is the canonical padded standard base64
/// (10 whole groups of three bytes, then two bytes and `=`, the last symbol's two spare bits
/// zero), or `None` for any other text: exactly the texts that the `base64` crate's `STANDARD`
/// engine decodes to 32 bytes, and the only ones that can equal a tag's encoding. Written out
/// because it runs on every request, where the general engine costs several times as much.
/// The text is what the client sent, not a secret: the comparison with the computed tag is the
/// constant-time step.
pub(crate) fn decode_tag(text: &[u8]) -> Option<[u8; 32]> {
    let text: &[u8; V1_B64_LEN] = text.try_into().ok()?;
    let (groups, _) = text.as_chunks::<4>();
    // A group's 24 bits from four lookups, one per position, each value already shifted into
    // place; a byte that is no symbol sets bit 31, which `seen` keeps.
    let group = |g: &[u8; 4]| {
        SEXTETS[0][usize::from(g[0])]
            | SEXTETS[1][usize::from(g[1])]
            | SEXTETS[2][usize::from(g[2])]
            | SEXTETS[3][usize::from(g[3])]
    };
    let mut seen = 0u32;
    let mut out = [0u8; 32];
    let (bytes, _) = out.as_chunks_mut::<3>();
    for (g, three) in groups.iter().zip(bytes) {
        let n = group(g);
        seen |= n;
        *three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    }
    // 32 = 10 * 3 + 2: the last group holds two bytes (its third symbol's two low bits are
    // spare, and must be zero), then `=`.
    let [a, b, c, pad] = text[40..] else {
        return None;
    };
    let n = group(&[a, b, c, b'A']);
    out[30] = (n >> 16) as u8;
    out[31] = (n >> 8) as u8;
    (pad == b'=' && (seen | n) & INVALID == 0 && n & 0xff == 0).then_some(out)
}

/// Set in [`SEXTETS`] for a byte that is no base64 symbol.
const INVALID: u32 = 1 << 31;

/// For each position in a group of four symbols, each byte's 6-bit value shifted to its place in
/// the group's 24 bits (18, 12, 6 or 0), or [`INVALID`].
static SEXTETS: [[u32; 256]; 4] = {
    let mut tables = [[INVALID; 256]; 4];
    let mut b = 0;
    while b < 256 {
        let v = B64[b];
        if v != 0xff {
            let mut at = 0;
            while at < 4 {
                tables[at][b] = (v as u32) << (18 - 6 * at);
                at += 1;
            }
        }
        b += 1;
    }
    tables
};

/// Whether `text` is canonical padded standard base64 of at least one byte: what the `base64`
/// crate's `STANDARD` engine decodes (whole quanta, `=` padding only at the end, unused bits of
/// the last symbol zero), checked without decoding.
pub(crate) fn is_base64(text: &[u8]) -> bool {
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return false;
    }
    let pad = match text {
        [.., b'=', b'='] => 2,
        [.., b'='] => 1,
        _ => 0,
    };
    let data = &text[..text.len() - pad];
    if !all_symbols(data) {
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

/// Whether every byte of `data` is a base64 symbol (standard alphabet, no `=`): by ranges, not
/// a table, sixteen bytes at a time (the last sixteen overlapping the blocks before), which the
/// compiler checks as one vector each, with no branch per byte.
fn all_symbols(data: &[u8]) -> bool {
    fn symbol(b: u8) -> bool {
        (b.wrapping_sub(b'A') < 26)
            | (b.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'+')
            | (b == b'/')
    }
    let block = |c: &[u8; 16]| c.iter().fold(true, |ok, &b| ok & symbol(b));
    let (blocks, rest) = data.as_chunks::<16>();
    if blocks.is_empty() {
        return data.iter().fold(true, |ok, &b| ok & symbol(b));
    }
    let whole = blocks.iter().fold(true, |ok, c| ok & block(c));
    match data.last_chunk::<16>() {
        Some(last) if !rest.is_empty() => whole & block(last),
        _ => whole,
    }
}

/// Checks a `webhook-signature` value: at most [`MAX_SIGNATURES`] items, and at least one `v1`
/// or `v1a` pair ([`signatures`]) whose signature is canonical base64 of at least one byte
/// ([`is_base64`]). An item that is neither (no comma, a bad version, a signature that is not
/// base64) is skipped beside a usable one, as the reference libraries skip it (JavaScript, Go,
/// Rust: an item that does not split into `v1` and a matching signature is passed over);
/// without a usable one, the first such item's fault is the error. Nothing is decoded nor
/// allocated. Returns the signature when the value lists only one usable signature, a `v1`:
/// [`verify_parsed`] compares it without reading the list again.
pub(crate) fn check_signatures(text: &[u8]) -> Result<Option<&[u8]>, Failure> {
    // The usual value, `v1,` and one tag: no space nor comma can be in base64, so it is one
    // item, as the loop below would find it.
    if let Some(sig) = text.strip_prefix(b"v1,")
        && is_base64(sig)
    {
        return Ok(Some(sig));
    }
    let mut count = 0usize;
    let mut only = None;
    let mut unusable = None;
    for listed in signatures(text) {
        let (version, sig) = match listed {
            Ok((version, sig)) if is_base64(sig) => (version, sig),
            Ok(_) => {
                unusable.get_or_insert(malformed("signature is not base64"));
                continue;
            }
            // The bound on the work: never skipped.
            Err(fault) if fault == too_many() => return Err(fault),
            Err(fault) => {
                unusable.get_or_insert(fault);
                continue;
            }
        };
        count += 1;
        only = (count == 1 && version == Version::V1).then_some(sig);
    }
    match (count, unusable) {
        (0, Some(fault)) => Err(fault),
        (0, None) => Err(malformed("no v1 or v1a signature")),
        _ => Ok(only),
    }
}

/// `id.timestamp.` written into `buf`, the start of the signed message: one part to hash
/// instead of four (each a call into the hash). `None` if it does not fit.
fn message_prefix<'b>(id: &[u8], ts: &[u8], buf: &'b mut [u8; PREFIX_MAX]) -> Option<&'b [u8]> {
    let (n, m) = (id.len(), ts.len());
    let end = n.checked_add(m)?.checked_add(2)?;
    let out = buf.get_mut(..end)?;
    let (head, tail) = out.split_at_mut(n);
    head.copy_from_slice(id);
    let (dot, tail) = tail.split_at_mut(1);
    dot[0] = b'.';
    let (digits, dot) = tail.split_at_mut(m);
    digits.copy_from_slice(ts);
    dot[0] = b'.';
    Some(out)
}

/// The longest `id.timestamp.` prefix joined into one part: room for a usual id (`msg_` and a
/// 27-character KSUID, 31 bytes), with some to spare; a longer one is hashed in parts.
const PREFIX_MAX: usize = 96;

/// The key that signed `body` under `head` (the id and signatures from `headers`, checked by
/// [`parse`], so they are read again without being checked again), if any, and the
/// message id: [`verify_parsed`] for a request whose body was read after its headers.
pub(crate) fn verify<'k, 'h>(
    head: &Head,
    headers: &'h HeaderMap,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, &'h [u8]), Failure> {
    let parsed = Parsed {
        head: *head,
        id: checked_header(headers, &ID),
        timestamp: &[],
        signatures: checked_header(headers, &SIGNATURE),
        only: Only::List,
    };
    verify_parsed(&parsed, body, keys)
}

/// The key that signed `body` under `parsed` ([`parse`]), if any, and the message id. Every
/// listed signature is tried against every key of its kind (rotation). An HMAC tag is computed
/// once per key, over `id.timestamp.body` fed in parts (no message is assembled), and compared
/// in constant time with each `v1` signature decoded ([`decode_tag`]): [`check_signatures`]
/// admits only canonical base64, so an equal tag is exactly an equal text (a signature that is
/// not the base64 of 32 bytes matches no tag).
pub(crate) fn verify_parsed<'k, 'h>(
    parsed: &Parsed<'h>,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, &'h [u8]), Failure> {
    let (id, text) = (parsed.id, parsed.signatures);
    let mut digits = [0u8; 20];
    let ts = if parsed.timestamp.is_empty() {
        decimal(parsed.head.timestamp, &mut digits)
    } else {
        parsed.timestamp
    };
    let mut buf = [0u8; PREFIX_MAX];
    let split: [&[u8]; 5];
    let joined: [&[u8]; 2];
    let parts: &[&[u8]] = match message_prefix(id, ts, &mut buf) {
        Some(prefix) => {
            joined = [prefix, body];
            &joined
        }
        None => {
            split = [id, b".", ts, b".", body];
            &split
        }
    };
    let listed = || signatures(text).filter_map(Result::ok);
    for key in keys {
        match key.algorithm() {
            Algorithm::HmacSha256 => {
                let Some(tag) = key.hmac_tag(parts) else {
                    continue;
                };
                // `|` not `||`: every signature is compared, whichever matches.
                let matched = match parsed.only {
                    Only::Tag(sent) => ct_eq(&tag, &sent),
                    Only::NotATag => false,
                    Only::List => listed()
                        .filter(|(v, _)| *v == Version::V1)
                        .filter_map(|(_, s)| decode_tag(s))
                        .fold(false, |found, sent| found | ct_eq(&tag, &sent)),
                };
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
                            .is_ok_and(|n| key.verify(parts, &sig[..n]))
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

    /// `find_space` finds the first space wherever it is, or none.
    #[test]
    fn find_space_finds_the_first_space() {
        for len in 0..40 {
            let none = vec![b'a'; len];
            assert_eq!(find_space(&none), len);
            for at in 0..len {
                let mut one = none.clone();
                one[at] = b' ';
                assert_eq!(find_space(&one), at, "{len} {at}");
                if at + 1 < len {
                    one[len - 1] = b' ';
                    assert_eq!(find_space(&one), at, "{len} {at}, two");
                }
            }
        }
        // Bytes whose difference with a space borrows across bytes.
        assert_eq!(find_space(b"\x21\x20\x21\x21\x21\x21\x21\x21"), 1);
        assert_eq!(
            find_space(&[0x1f, 0x21, 0x80, 0xa0, 0x00, 0xff, 0x21, 0x20, 0x20]),
            7
        );
    }

    /// The hand-written decoder of tags agrees with the `base64` crate on every byte value in
    /// every position, and on every byte in every position of a tag's text.
    #[test]
    fn decode_tag_is_standard_base64() {
        for seed in 0u32..600 {
            let tag: [u8; 32] = std::array::from_fn(|i| {
                let x = seed
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(i as u32 * 40_503);
                (x >> (i % 24)) as u8
            });
            assert_eq!(decode_tag(STANDARD.encode(tag).as_bytes()), Some(tag));
        }
        for byte in 0..=255u8 {
            for at in 0..32 {
                let mut tag = [0u8; 32];
                tag[at] = byte;
                assert_eq!(decode_tag(STANDARD.encode(tag).as_bytes()), Some(tag));
            }
        }
        // Any byte anywhere in a tag's text: decoded exactly when the crate decodes it to 32
        // bytes (so spare bits, `=` inside, missing padding and non-symbols are refused).
        let text = STANDARD.encode([0x5a; 32]).into_bytes();
        for at in 0..text.len() {
            for byte in 0..=255u8 {
                let mut t = text.clone();
                t[at] = byte;
                let theirs = STANDARD
                    .decode(&t)
                    .ok()
                    .and_then(|v| <[u8; 32]>::try_from(v).ok());
                assert_eq!(decode_tag(&t), theirs, "{at}: {byte}");
            }
        }
        for len in [0, 43, 45, 88] {
            assert_eq!(decode_tag(&vec![b'A'; len]), None);
        }
    }

    proptest::proptest! {
        /// Any text of a tag's length: the same answer as the `base64` crate.
        #[test]
        fn decode_tag_agrees_with_the_base64_crate(
            text in "[A-Za-z0-9+/=]{44}|[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=|[ -~]{44}"
        ) {
            let theirs = STANDARD
                .decode(&text)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok());
            proptest::prop_assert_eq!(decode_tag(text.as_bytes()), theirs);
        }
    }

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
