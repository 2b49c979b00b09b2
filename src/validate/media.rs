//! `Content-Type` parsing: the media type compared case-insensitively, parameters parsed
//! ([RFC 9110 section 8.3.1](https://www.rfc-editor.org/rfc/rfc9110#section-8.3.1)).

use std::borrow::Cow;

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

use super::MediaTypeRefusal as MediaRefusal;

/// The bytes of a `tchar` (RFC 9110 section 5.6.2), as a table: one look-up per byte.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    table
};

/// Whether `s` is a `token` of RFC 9110 (section 5.6.2).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| TCHAR[usize::from(b)])
}

/// Whether `s` is `type/subtype`, both tokens.
pub(crate) fn is_media_type(s: &str) -> bool {
    match s.split_once('/') {
        Some((ty, sub)) => is_token(ty) && is_token(sub),
        None => false,
    }
}

/// A parsed `Content-Type`: the media type as sent, and the `charset` parameter if any
/// (unquoted). Other parameters are checked for syntax and ignored. Nothing is allocated unless
/// the charset is quoted with escapes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContentType<'a> {
    pub(crate) essence: &'a str,
    pub(crate) charset: Option<Cow<'a, str>>,
}

/// Parses `value` as `type/subtype *( OWS ";" OWS parameter )`.
pub(crate) fn parse(value: &str) -> Option<ContentType<'_>> {
    let (essence, mut rest) = match value.find(';') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    };
    let essence = essence.trim_matches([' ', '\t']);
    if !is_media_type(essence) {
        return None;
    }
    let mut charset = None;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(';')?.trim_start_matches([' ', '\t']);
        if rest.is_empty() || rest.starts_with(';') {
            continue; // `text/plain;` and `;;` are allowed by the grammar's empty list items
        }
        let eq = rest.find('=')?;
        let name = &rest[..eq];
        if !is_token(name) {
            return None;
        }
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut escaped = false;
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => {
                        escaped = true;
                        out.push(chars.next()?.1);
                    }
                    (_, c) => out.push(c),
                }
            };
            let value = if escaped {
                Cow::Owned(out)
            } else {
                Cow::Borrowed(&quoted[..end])
            };
            rest = &quoted[end + 1..];
            value
        } else {
            let end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
            let token = &rest[..end];
            if !is_token(token) {
                return None;
            }
            rest = &rest[end..];
            Cow::Borrowed(token)
        };
        if name.eq_ignore_ascii_case("charset") {
            if charset.is_some() {
                return None; // two charsets: which one?
            }
            charset = Some(value);
        }
    }
    Some(ContentType { essence, charset })
}

/// Checks the request's `Content-Type` against `accepted` (lowercase media types). A JSON body
/// (`json` true) must be UTF-8: a `charset` parameter, when present, must say so.
pub(crate) fn check(
    headers: &HeaderMap,
    accepted: &[String],
    json: bool,
) -> Result<(), MediaRefusal> {
    check_type(headers, accepted, json)?;
    // A JSON body is parsed as it arrives: one in a content coding (`gzip`) cannot be, and
    // would be refused as "not JSON" (RFC 9110 section 15.5.16: a coding is a 415).
    if json && encoded(headers) {
        return Err(MediaRefusal::ContentEncoding);
    }
    Ok(())
}

/// Whether `Content-Encoding` names a coding other than `identity`.
fn encoded(headers: &HeaderMap) -> bool {
    headers.get_all(CONTENT_ENCODING).iter().any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|coding| {
            let coding = coding.trim_ascii();
            !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity")
        })
    })
}

/// [`check`] of the `Content-Type` alone.
fn check_type(headers: &HeaderMap, accepted: &[String], json: bool) -> Result<(), MediaRefusal> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let value = values.next().ok_or(MediaRefusal::Missing)?;
    if values.next().is_some() {
        return Err(MediaRefusal::Malformed);
    }
    // The usual header is an accepted media type as it stands (`application/json`): a valid
    // media type without parameters, so nothing is left to parse.
    let bytes = value.as_bytes();
    if accepted
        .iter()
        .any(|a| a.as_bytes().eq_ignore_ascii_case(bytes))
    {
        return Ok(());
    }
    let parsed = value
        .to_str()
        .ok()
        .and_then(parse)
        .ok_or(MediaRefusal::Malformed)?;
    if !accepted
        .iter()
        .any(|a| a.eq_ignore_ascii_case(parsed.essence))
    {
        return Err(MediaRefusal::NotAccepted);
    }
    match parsed.charset.as_deref() {
        Some(c) if json && !c.eq_ignore_ascii_case("utf-8") => Err(MediaRefusal::Charset),
        _ => Ok(()),
    }
}
