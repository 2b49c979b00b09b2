//! Small header and query helpers shared by the layers.

use std::borrow::Cow;

use http::header::{HeaderName, VARY};
use http::{HeaderMap, HeaderValue};

/// Sets `name` on a response the layer did not build, replacing what is there. A map already
/// at `HeaderMap`'s size limit is left as it is rather than panicking, as `insert` would.
pub(crate) fn set_header(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    let _ = headers.try_insert(name, value);
}

/// Adds a value of `name` beside those there (`Link`, `WWW-Authenticate`), without panicking at
/// `HeaderMap`'s size limit.
pub(crate) fn add_header(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    let _ = headers.try_append(name, value);
}

/// Percent-decodes a query component (`+` is a space; a `%` not followed by two hex digits
/// stays as it is), or `None` if the result is not valid UTF-8.
pub(crate) fn decode_query(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The values of parameter `name` in `query`, in order, each percent-decoded (`None` when it
/// is not UTF-8 once decoded). Names are compared decoded; decoding (an allocation) happens
/// only for components that are encoded.
pub(crate) fn query_values<'a>(
    query: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Option<Cow<'a, str>>> + 'a {
    let encoded = |t: &str| t.contains(['%', '+']);
    query.split('&').filter_map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let ours = if encoded(key) {
            decode_query(key).as_deref() == Some(name)
        } else {
            key == name
        };
        ours.then(|| {
            if encoded(value) {
                decode_query(value).map(Cow::Owned)
            } else {
                Some(Cow::Borrowed(value))
            }
        })
    })
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 scheme).
pub(crate) fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A port number: 1 to 5 ASCII digits, at most 65535 (no sign, no whitespace). The one port
/// parser of the crate.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits and checks `scheme://host[:port]`: the host a bracketed IPv6 address or DNS labels
/// (letters, digits, `-`, `_`, at most 63 bytes each, an optional trailing dot; the left-most
/// label may be `*`), the port a 16-bit number. Nothing else: no path, no userinfo.
pub(crate) fn split_origin(s: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, rest) = s.split_once("://")?;
    if !is_scheme(scheme) || rest.is_empty() {
        return None;
    }
    let (host, port) = if rest.starts_with('[') {
        let end = rest.find(']')?;
        let (host, after) = rest.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if !valid_host(host) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((scheme, host, port))
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let labels = host.strip_suffix('.').unwrap_or(host);
    let labels = labels.strip_prefix("*.").unwrap_or(labels);
    !labels.is_empty()
        && labels.len() <= 253
        && labels.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Names to merge into `Vary`, with their joined value built once, at layer construction.
#[derive(Clone, Debug)]
pub(crate) struct Vary {
    names: Box<[String]>,
    joined: HeaderValue,
}

impl Vary {
    /// `None` when `names` is empty (or not a valid header value).
    pub(crate) fn new(names: &[&str]) -> Option<Self> {
        if names.is_empty() {
            return None;
        }
        let joined = HeaderValue::try_from(names.join(", ")).ok()?;
        Some(Self {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            joined,
        })
    }

    /// Adds the names to the response's `Vary`: one insert of the prebuilt value when there is
    /// none yet, a merge otherwise.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if headers.contains_key(VARY) {
            let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            merge_vary(headers, &names);
        } else {
            set_header(headers, VARY, self.joined.clone());
        }
    }
}

/// Adds `names` (lowercase) to `Vary`, keeping what is there and never repeating a name.
fn merge_vary(headers: &mut HeaderMap, names: &[&str]) {
    let mut present: Vec<String> = Vec::new();
    for value in headers.get_all(VARY) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let item = item.trim();
            if item == "*" {
                return;
            }
            if !item.is_empty() && !present.iter().any(|p| p.eq_ignore_ascii_case(item)) {
                present.push(item.to_owned());
            }
        }
    }
    let before = present.len();
    for name in names {
        if !present.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            present.push((*name).to_owned());
        }
    }
    if present.len() == before && headers.get_all(VARY).iter().count() <= 1 {
        return;
    }
    if let Ok(value) = HeaderValue::try_from(present.join(", ")) {
        set_header(headers, VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_split_and_checked() {
        assert_eq!(
            split_origin("https://a.example.com:8443"),
            Some(("https", "a.example.com", Some(8443)))
        );
        assert_eq!(
            split_origin("http://[::1]:3000"),
            Some(("http", "[::1]", Some(3000)))
        );
        assert_eq!(
            split_origin("https://*.example.com"),
            Some(("https", "*.example.com", None))
        );
        for bad in [
            "https://",
            "https://a.com:",
            "https://a.com:65536",
            "https://a.com/path",
            "https://user@a.com",
            "http://[",
            "http://[not-v6]",
            "x://a*b:1:2",
            "https://a.*.com",
            "https://a..com",
            "1http://a.com",
        ] {
            assert_eq!(split_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn ports_are_one_to_five_digits_up_to_65535() {
        assert_eq!(parse_port("0"), Some(0));
        assert_eq!(parse_port("8080"), Some(8080));
        assert_eq!(parse_port("00080"), Some(80));
        assert_eq!(parse_port("65535"), Some(65535));
        for bad in [
            "", "65536", "000080", "+80", "-1", " 80", "80 ", "8o", "99999",
        ] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn vary_is_merged_never_duplicated() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding, Origin"));
        merge_vary(&mut headers, &["origin", "access-control-request-method"]);
        assert_eq!(
            headers[VARY],
            "Accept-Encoding, Origin, access-control-request-method"
        );
        merge_vary(&mut headers, &["origin"]);
        assert_eq!(headers.get_all(VARY).iter().count(), 1);
        let vary = Vary::new(&["origin", "accept"]).unwrap();
        let mut fresh = HeaderMap::new();
        vary.apply(&mut fresh);
        assert_eq!(fresh[VARY], "origin, accept");
        vary.apply(&mut fresh);
        assert_eq!(fresh[VARY], "origin, accept");
        assert!(Vary::new(&[]).is_none());
        let mut star = HeaderMap::new();
        star.insert(VARY, HeaderValue::from_static("*"));
        merge_vary(&mut star, &["origin"]);
        assert_eq!(star[VARY], "*");
    }
}
