//! Envoy's `X-Forwarded-Client-Cert`: what a TLS-terminating proxy says about its client's
//! certificate.
//!
//! `By=spiffe://example.org/gateway;Hash=4b1f…;Subject="CN=billing";URI=spiffe://example.org/billing`
//! — elements separated by `,` (each proxy on the way may append one), pairs by `;`, values
//! optionally between double quotes with `\"` escapes, keys in the order Envoy writes them
//! (`By`, `Hash`, `Cert`, `Chain`, `Subject`, `URI`, `DNS`). The element read is the nearest
//! proxy's: the whole header when it sets it alone ([`XfccMode::Sanitize`]), the right-most
//! one when it appends ([`XfccMode::Append`]).
//!
//! Envoy writes `URI` and `DNS` values unquoted, so a certificate name holding `,`, `;` or
//! `=` can look like pairs or elements of their own. Whatever such a name adds comes after the
//! element's `Hash`, `Cert` and `Subject` (Envoy's order), so it can repeat them (refused) or
//! add names: several `URI` pairs are therefore not used without the certificate itself
//! (`Cert`), whose names are read from it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::cert::{self, Identity, Malformed};

/// The longest header read; a longer one is malformed (a certificate in PEM is 1–3 KiB,
/// URL-encoded about a third more).
pub(crate) const MAX_LEN: usize = 16 * 1024;

/// What the nearest proxy said about its client.
#[derive(Debug)]
pub(crate) struct Forwarded {
    pub(crate) identity: Identity,
    /// The SHA-256 of the client's DER certificate (`Hash`, or computed from `Cert`).
    pub(crate) thumbprint: Option<[u8; 32]>,
}

/// How the nearest proxy writes `X-Forwarded-Client-Cert`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum XfccMode {
    /// The proxy sets the header to its client's element alone (Envoy
    /// `forward_client_cert_details: SANITIZE_SET`, Istio's gateways): the whole header is
    /// read as that one element, and a second `Hash`, `Cert`, `Subject` or `By` in it (a
    /// certificate name written to pass for another element) makes it malformed. The default.
    #[default]
    Sanitize,
    /// The proxy appends its client's element to the header it received (Envoy
    /// `APPEND_FORWARD`): the element read is the right-most one that opens with `By` or
    /// `Hash`, with what follows it. A client certificate whose URI SAN holds `,Hash=` can then
    /// pass a tail of its own name for that element (its `Hash` and names): use it only where
    /// the CA issues no such names, or with `Cert` forwarded.
    Append,
}

/// The rank of a key in the order Envoy writes an element's pairs (`None`: a key Envoy does
/// not write, skipped).
fn rank(key: &str) -> Option<u8> {
    Some(match key {
        "by" => 0,
        "hash" => 1,
        "cert" => 2,
        "chain" => 3,
        "subject" => 4,
        "uri" => 5,
        "dns" => 6,
        _ => return None,
    })
}

/// Parses the nearest proxy's element of the header's last line, as `mode` says it is written.
pub(crate) fn parse(value: &[u8], mode: XfccMode) -> Result<Forwarded, Malformed> {
    if value.len() > MAX_LEN {
        return Err(Malformed);
    }
    let value = std::str::from_utf8(value).map_err(|_| Malformed)?;
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(Malformed);
    }
    let element = match mode {
        XfccMode::Sanitize => value,
        // The last element, even empty: a header ending in `,` was not completed by the
        // nearest proxy, and what precedes it is not that proxy's.
        XfccMode::Append => {
            let pieces = split_quoted(value, b',');
            last_element(value, &pieces).ok_or(Malformed)?
        }
    };
    if element.trim().is_empty() || element.trim_end().ends_with(',') {
        return Err(Malformed);
    }
    let mut hash = None;
    let mut cert = None;
    let mut subject = None;
    let mut by = false;
    let mut last_rank = 0;
    let mut identity = Identity::default();
    for pair in split_quoted(element, b';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (key, raw) = pair.split_once('=').ok_or(Malformed)?;
        let value = unquote(raw.trim())?;
        let key = key.trim().to_ascii_lowercase();
        // In Envoy's order: a key out of it was written by no proxy (a name holding `;`, or
        // two elements read as one).
        if let Some(rank) = rank(&key) {
            if rank < last_rank {
                return Err(Malformed);
            }
            last_rank = rank;
        }
        // A proxy writes `By`, `Hash`, `Cert` and `Subject` once; `URI` and `DNS` once per name.
        let once = |slot: bool| if slot { Err(Malformed) } else { Ok(()) };
        match key.as_str() {
            "by" => {
                once(by)?;
                by = true;
            }
            "hash" => {
                once(hash.is_some())?;
                hash = Some(hex32(&value)?);
            }
            "cert" => {
                once(cert.is_some())?;
                cert = Some(pem_certificate(&percent_decode(&value)?)?);
            }
            "subject" => {
                once(subject.is_some())?;
                subject = Some(value);
            }
            "uri" if !value.is_empty() => identity.uris.push(value),
            "dns" if !value.is_empty() => identity.dns_names.push(value.to_ascii_lowercase()),
            // `By` (the proxy's own identity), `Chain` and unknown keys are not used.
            _ => {}
        }
    }
    if let Some(der) = cert {
        // The certificate itself: its names and dates are read from it, and the other fields
        // must not contradict it.
        let thumbprint: [u8; 32] = Sha256::digest(&der).into();
        if hash.is_some_and(|h| h != thumbprint) {
            return Err(Malformed);
        }
        return Ok(Forwarded {
            identity: cert::parse(&der)?,
            thumbprint: Some(thumbprint),
        });
    }
    identity.common_name = subject.as_deref().map(common_name).transpose()?.flatten();
    // Several `URI` pairs may be one name holding `;URI=` (Envoy does not quote them): without
    // the certificate to tell, none is used.
    if identity.uris.len() > 1 {
        identity.uris.clear();
        // Nor the common name: the certificate has names (RFC 6125 section 6.4.4).
        identity.common_name = None;
    }
    Ok(Forwarded {
        identity,
        thumbprint: hash,
    })
}

/// The right-most element of `value` (split into `pieces` at its unquoted commas). Envoy
/// writes `URI` and `DNS` values unquoted, so a certificate name holding a `,` (say a URI SAN
/// `https://evil.example/a,URI=spiffe://example.org/admin`) splits one element in two, and its
/// tail would pass for the element. An element Envoy writes opens with `By` or `Hash` (the
/// latter always there when a certificate was presented): the element is the last piece that
/// opens so, with the pieces after it, which continue its values. Without such a piece (a
/// proxy that writes neither), the last piece.
fn last_element<'a>(value: &'a str, pieces: &[&'a str]) -> Option<&'a str> {
    let opens = |piece: &str| {
        let key = piece.trim_start().split(['=', ';']).next().unwrap_or("");
        key.trim().eq_ignore_ascii_case("by") || key.trim().eq_ignore_ascii_case("hash")
    };
    let last = pieces.last()?;
    match pieces.iter().rposition(|p| opens(p)) {
        Some(at) => {
            // Each piece before the anchor and its comma.
            let start: usize = pieces[..at].iter().map(|p| p.len() + 1).sum();
            value.get(start..)
        }
        None => Some(last),
    }
}

/// Splits `s` at `sep` outside double quotes. Inside them a `"` after an odd run of `\` is
/// the value's own: Envoy quotes the subject without escaping it, and the subject is RFC 4514
/// text (OpenSSL's RFC 2253 printer), where `\"` is an escaped quote and `\\` an escaped
/// backslash. So `"CN=x\\"` closes after the second `\` (a CN `x\`), and `"CN=a\"b"` does not
/// close after the `a` (a CN `a"b`).
fn split_quoted(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut backslashes) = (0, false, 0usize);
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'\\' if quoted => {
                backslashes += 1;
                continue;
            }
            b'"' if !quoted || backslashes.is_multiple_of(2) => quoted = !quoted,
            _ if b == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        backslashes = 0;
    }
    parts.push(&s[start..]);
    parts
}

/// A value as it is, or the contents of a quoted one as they are (RFC 4514 escapes and all:
/// Envoy adds none of its own). A `"` inside that no odd run of `\` escapes, or a value that
/// does not close, is malformed.
fn unquote(raw: &str) -> Result<String, Malformed> {
    let Some(inner) = raw.strip_prefix('"') else {
        return if raw.contains('"') {
            Err(Malformed)
        } else {
            Ok(raw.to_owned())
        };
    };
    let inner = inner.strip_suffix('"').ok_or(Malformed)?;
    let mut backslashes = 0usize;
    for b in inner.bytes() {
        match b {
            b'\\' => backslashes += 1,
            b'"' if backslashes.is_multiple_of(2) => return Err(Malformed),
            _ => backslashes = 0,
        }
    }
    // The closing quote itself escaped: the value never closed.
    if !backslashes.is_multiple_of(2) {
        return Err(Malformed);
    }
    Ok(inner.to_owned())
}

/// 64 hex digits.
fn hex32(s: &str) -> Result<[u8; 32], Malformed> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return Err(Malformed);
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or(Malformed)?;
        let lo = (pair[1] as char).to_digit(16).ok_or(Malformed)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

/// `%XX` escapes decoded (Envoy URL-encodes the PEM).
fn percent_decode(s: &str) -> Result<Vec<u8>, Malformed> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Malformed)?;
            let hi = (hex[0] as char).to_digit(16).ok_or(Malformed)?;
            let lo = (hex[1] as char).to_digit(16).ok_or(Malformed)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The DER of the one `CERTIFICATE` block of a PEM document.
fn pem_certificate(pem: &[u8]) -> Result<Vec<u8>, Malformed> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let pem = std::str::from_utf8(pem).map_err(|_| Malformed)?;
    let start = pem.find(BEGIN).ok_or(Malformed)? + BEGIN.len();
    let len = pem[start..].find(END).ok_or(Malformed)?;
    let body: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| Malformed)
}

/// The `CN` of a subject in RFC 4514 form (`CN=billing,OU=payments,O=Example`), when it has
/// exactly one. `\,` and the other RFC 4514 escapes of one character are resolved.
/// An RFC 4514 attribute value without its escapes: `\` and a character is that character,
/// `\` and two hex digits a byte (how OpenSSL's RFC 2253 printer, which Envoy's `Subject`
/// comes from, writes bytes past ASCII: `caf\C3\A9` is `café`). The bytes must be UTF-8.
fn rfc4514_unescape(value: &str) -> Result<String, Malformed> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let next = *bytes.get(i + 1).ok_or(Malformed)?;
        match (hex(next), bytes.get(i + 2).copied().and_then(hex)) {
            (Some(high), Some(low)) => {
                // Two hex digits: one byte (`high * 16 + low` is at most 255).
                out.push(u8::try_from(high * 16 + low).map_err(|_| Malformed)?);
                i += 3;
            }
            _ => {
                out.push(next);
                i += 2;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Malformed)
}

fn common_name(subject: &str) -> Result<Option<String>, Malformed> {
    let mut found = None;
    let mut count = 0;
    let mut rest = subject;
    loop {
        // One attribute: up to an unescaped `,` or `+`.
        let mut end = rest.len();
        let mut escaped = false;
        for (i, b) in rest.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b',' | b'+' => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let attribute = &rest[..end];
        if let Some((key, value)) = attribute.split_once('=') {
            if key.trim().eq_ignore_ascii_case("cn") {
                count += 1;
                found = Some(rfc4514_unescape(value.trim())?);
            }
        } else if !attribute.trim().is_empty() {
            return Err(Malformed);
        }
        if end >= rest.len() {
            break;
        }
        rest = &rest[end + 1..];
    }
    Ok(if count == 1 { found } else { None })
}
