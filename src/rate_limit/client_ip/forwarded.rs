//! The entries of forwarding headers: `X-Forwarded-For` nodes (an address, maybe a port) and
//! the `for` parameter of RFC 7239 `Forwarded` elements.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::core::util::parse_port;

/// Optional whitespace (RFC 9110 §5.6.3).
pub(super) const OWS: [char; 2] = [' ', '\t'];

/// `bytes` as a `&str` if they are all visible ASCII (or tabs), as header values should be.
pub(super) fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`. Ports may be RFC 7239 obfuscated ports (`_abc`).
pub(super) fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches(OWS);
    if let Some(rest) = node.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        return host.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A port number, or an RFC 7239 obfuscated port (`"_" 1*(ALPHA / DIGIT / "." / "_" / "-")`).
fn is_port(port: &str) -> bool {
    if let Some(obfuscated) = port.strip_prefix('_') {
        return !obfuscated.is_empty()
            && obfuscated
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    parse_port(port).is_some()
}

/// The address of the `for` parameter of one RFC 7239 element, like
/// `for=192.0.2.60;proto=http;by=203.0.113.43` or `For="[2001:db8::1]:4711"`.
///
/// Conservative: an element whose parameters do not parse (no `=`, unbalanced quotes, which is
/// also what a quoted `,` or `;` split apart looks like), or with more than one `for`, is
/// `None`, as is one without `for`.
pub(super) fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let pair = pair.trim_matches(OWS);
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches(OWS);
        if name.is_empty() {
            return None;
        }
        let value = unquote(value.trim_matches(OWS))?;
        if name.eq_ignore_ascii_case("for") && found.replace(value).is_some() {
            return None;
        }
    }
    parse_node(found?)
}

/// A token, or the inside of a quoted string. Escaped quotes are refused: no address has one.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|inner| !inner.contains('"')),
        None => (!value.contains('"')).then_some(value),
    }
}
