//! Small header and query helpers shared by the layers.

use std::borrow::Cow;

use http::header::{HeaderName, VARY};
use http::{HeaderMap, HeaderValue};

/// Sets `name` on a response the layer did not build, replacing what is there. A map already
/// at `HeaderMap`'s size limit is left as it is rather than panicking, as `insert` would.
pub(crate) fn set_header(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    let _ = headers.try_insert(name, value);
}

/// The decimal digits of `n`, written into `buf` (no allocation).
pub(crate) fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n;
    loop {
        at -= 1;
        // `rest % 10` is a digit: the cast cannot truncate.
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Eight bytes at a time: a word's bytes read as one `u64` (little-endian, so the first byte
/// is the lowest), and the classic tests on all eight at once.
#[cfg(feature = "signature")]
pub(crate) mod words {
    /// `0x01` in every byte.
    pub(crate) const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    /// `0x80` in every byte.
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

    /// `b` in every byte.
    pub(crate) const fn splat(b: u8) -> u64 {
        u64::from_le_bytes([b; 8])
    }

    /// Whether some byte of `x` is zero. (A borrow may set a high bit falsely, but only above
    /// a byte that is truly zero, so the answer as a whole is exact.)
    pub(crate) const fn has_zero(x: u64) -> bool {
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    }

    /// Whether some byte of `x` is below `n` (`n` at most 128), exact as [`has_zero`] is.
    pub(crate) const fn has_less(x: u64, n: u8) -> bool {
        x.wrapping_sub(ONES * n as u64) & !x & HIGHS != 0
    }

    /// Whether some byte of `x` is `0x80` or above.
    pub(crate) const fn has_high(x: u64) -> bool {
        x & HIGHS != 0
    }

    /// A word from eight bytes.
    fn load(s: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*s)
    }

    /// Whether `byte` holds for every byte of `bytes`, a word at a time: `word` says whether
    /// it holds for all eight of a word (it may say no when unsure: that word's bytes are then
    /// asked one by one). The last word overlaps the one before it, so a length not a multiple
    /// of eight costs one word, not up to seven bytes.
    pub(crate) fn all(bytes: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> bool {
        let check = |s: &[u8; 8]| word(load(s)) || s.iter().all(|&b| byte(b));
        let (chunks, rest) = bytes.as_chunks::<8>();
        if chunks.is_empty() {
            return rest.iter().all(|&b| byte(b));
        }
        if !chunks.iter().all(check) {
            return false;
        }
        match bytes.last_chunk::<8>() {
            Some(last) if !rest.is_empty() => check(last),
            _ => true,
        }
    }
}

/// Whether every byte of `bytes` is visible ASCII or a tab: what `HeaderValue::to_str`
/// admits, eight bytes at a time (a word with a tab is looked at byte by byte).
#[cfg(feature = "signature")]
pub(crate) fn is_visible_ascii(bytes: &[u8]) -> bool {
    use words::{has_high, has_less, has_zero, splat};
    words::all(
        bytes,
        |x| !has_high(x) && !has_less(x, 0x20) && !has_zero(x ^ splat(0x7f)),
        |b| b == b'\t' || (0x20..0x7f).contains(&b),
    )
}

/// The number a `Content-Length` value says, as `to_str` and `str::parse::<u64>` read it (so
/// `+12` is 12, and anything else not a number is `None`); the usual value, up to 19 digits
/// (which cannot overflow), in one loop.
#[cfg(feature = "signature")]
pub(crate) fn content_length(value: &HeaderValue) -> Option<u64> {
    let bytes = value.as_bytes();
    if (1..=19).contains(&bytes.len()) {
        let (mut n, mut all_digits) = (0u64, true);
        for &b in bytes {
            let d = b.wrapping_sub(b'0');
            all_digits &= d < 10;
            n = n.wrapping_mul(10).wrapping_add(u64::from(d));
        }
        if all_digits {
            return Some(n);
        }
    }
    value.to_str().ok()?.parse().ok()
}

/// A number as a header value, in one allocation (`HeaderValue::from(u64)` makes two: a
/// `BytesMut`, then the shared header of the `Bytes` it freezes into).
pub(crate) fn number(n: u64) -> HeaderValue {
    let mut digits = [0u8; 20];
    HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(decimal(n, &mut digits)))
        .unwrap_or_else(|_| HeaderValue::from(n))
}

/// Adds a value of `name` beside those there (`Link`, `WWW-Authenticate`), without panicking at
/// `HeaderMap`'s size limit.
pub(crate) fn add_header(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    let _ = headers.try_append(name, value);
}

/// Percent-decodes a query component (`+` is a space; a `%` not followed by two hex digits
/// stays as it is), or `None` if the result is not valid UTF-8.
pub(crate) fn decode_query(text: &str) -> Option<String> {
    String::from_utf8(decode_form(text)).ok()
}

/// `application/x-www-form-urlencoded` decoding of a name or value (HTML URL §5.1) to bytes:
/// `+` is a space, `%XX` a byte (two hex digits, no sign), any other `%` stays as it is.
pub(crate) fn decode_form(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(high), Some(low)) => {
                        out.extend(u8::try_from(high * 16 + low).ok());
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
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

/// A port number: 1 to 5 ASCII digits, at most 65535 (no sign, no space).
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
    // Byte loops, not `split_once`/`split`: this runs on every CORS and CSRF request.
    let bytes = s.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':')?;
    let scheme = &s[..colon];
    let rest = s[colon..].strip_prefix("://")?;
    if !is_scheme(scheme) || rest.is_empty() {
        return None;
    }
    let (host, port) = if rest.starts_with('[') {
        let end = rest.bytes().position(|b| b == b']')?;
        let (host, after) = rest.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match rest.bytes().rposition(|b| b == b':') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        }
    };
    if !valid_host(host) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Some((scheme, host, port))
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let labels = host.strip_suffix('.').unwrap_or(host);
    let labels = labels.strip_prefix("*.").unwrap_or(labels);
    if labels.is_empty() || labels.len() > 253 {
        return false;
    }
    // Every label 1 to 63 bytes of letters, digits, `-` and `_`.
    let mut label = 0usize;
    for b in labels.bytes() {
        if b == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            label += 1;
            if label > 63 {
                return false;
            }
        } else {
            return false;
        }
    }
    label > 0
}

/// Names to merge into `Vary`, with their joined value built once, at layer construction.
#[derive(Clone, Debug)]
pub(crate) struct Vary {
    names: Box<[String]>,
    joined: HeaderValue,
}

impl Vary {
    /// Items of an existing `Vary` merged without allocating a list (more go the general way).
    const INLINE: usize = 16;

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
        let mut values = headers.get_all(VARY).iter();
        let (Some(one), None) = (values.next(), values.next()) else {
            if headers.contains_key(VARY) {
                let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
                merge_vary(headers, &names);
            } else {
                set_header(headers, VARY, self.joined.clone());
            }
            return;
        };
        // One `Vary` already (an inner layer's): merged without a `Vec` per name, the common
        // case of every versioned CORS response.
        if let Some(merged) = self.merge_one(one) {
            if let Some(value) = merged {
                set_header(headers, VARY, value);
            }
        } else {
            let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            merge_vary(headers, &names);
        }
    }

    /// [`merge_vary`] of a single value: `Some(None)` when it already names everything (or is
    /// `*`), `Some(Some(value))` the merged value, `None` when it is unusual enough (not text,
    /// more than [`Self::INLINE`] items) for the general merge.
    fn merge_one(&self, value: &HeaderValue) -> Option<Option<HeaderValue>> {
        let text = value.to_str().ok()?;
        let mut items = [""; Self::INLINE];
        let mut count = 0;
        for item in text.split(',') {
            let item = item.trim();
            if item == "*" {
                return Some(None);
            }
            if item.is_empty() || items[..count].iter().any(|p| p.eq_ignore_ascii_case(item)) {
                continue;
            }
            *items.get_mut(count)? = item;
            count += 1;
        }
        let present = &items[..count];
        let missing = || {
            self.names
                .iter()
                .map(String::as_str)
                .filter(|n| !present.iter().any(|p| p.eq_ignore_ascii_case(n)))
        };
        if missing().next().is_none() {
            // `merge_vary` leaves a single value alone when nothing is missing.
            return Some(None);
        }
        let all = || present.iter().copied().chain(missing());
        let len = all().map(|n| n.len() + 2).sum::<usize>().saturating_sub(2);
        let mut joined = Vec::with_capacity(len);
        for (i, name) in all().enumerate() {
            if i > 0 {
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(name.as_bytes());
        }
        Some(HeaderValue::from_maybe_shared(bytes::Bytes::from(joined)).ok())
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

    #[cfg(feature = "signature")]
    /// Bytes around the edges the word tests look at: controls, tab, space, `.`, `~`, DEL,
    /// `0x80` and up.
    fn edgy_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let byte = prop_oneof![
            8 => 0x21u8..0x7f,
            1 => prop::sample::select(vec![
                0u8, 0x01, 0x08, b'\t', b'\n', 0x1f, b' ', b'.', b'~', 0x7f, 0x80, 0x81, 0xa0,
                0xfe, 0xff,
            ]),
        ];
        prop::collection::vec(byte, 0..40)
    }

    #[cfg(feature = "signature")]
    proptest::proptest! {
        /// The word-at-a-time check says what `HeaderValue::to_str` says, at every length
        /// (under one word, whole words, and a last word overlapping).
        #[test]
        fn visible_ascii_is_what_to_str_admits(bytes in edgy_bytes()) {
            let by_bytes = bytes.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
            proptest::prop_assert_eq!(is_visible_ascii(&bytes), by_bytes);
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                proptest::prop_assert_eq!(is_visible_ascii(&bytes), value.to_str().is_ok());
            }
        }

        /// `words::all` with each word test is the byte test over all the bytes.
        #[test]
        fn word_tests_are_exact(bytes in edgy_bytes(), n in 1u8..=128) {
            use words::{has_less, has_zero, splat};
            let less = words::all(&bytes, |x| !has_less(x, n), |b| b >= n);
            proptest::prop_assert_eq!(less, bytes.iter().all(|&b| b >= n));
            let dots = words::all(&bytes, |x| !has_zero(x ^ splat(b'.')), |b| b != b'.');
            proptest::prop_assert_eq!(dots, !bytes.contains(&b'.'));
            // A word test that is never sure: the bytes decide alone.
            let unsure = words::all(&bytes, |_| false, |b| b != b' ');
            proptest::prop_assert_eq!(unsure, !bytes.contains(&b' '));
        }

        /// A `Content-Length` says the number `to_str` and `str::parse::<u64>` read: digits
        /// (the one-loop path, up to 19 of them), and past it a sign, 20 digits (overflow or
        /// not), or anything else.
        #[test]
        fn content_length_is_what_parse_reads(
            text in "[0-9]{0,22}|\\+[0-9]{1,20}|[0-9 +\\-a\t]{0,8}|1844674407370955161[0-9]",
        ) {
            let value = HeaderValue::from_str(&text).unwrap();
            let want = value.to_str().ok().and_then(|t| t.parse::<u64>().ok());
            proptest::prop_assert_eq!(content_length(&value), want);
        }
    }

    #[cfg(feature = "signature")]
    #[test]
    fn content_lengths() {
        let at = |s: &str| content_length(&HeaderValue::from_str(s).unwrap());
        assert_eq!(at("1024"), Some(1024));
        assert_eq!(at("0"), Some(0));
        assert_eq!(at("+12"), Some(12));
        assert_eq!(at("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(at("18446744073709551615"), Some(u64::MAX));
        assert_eq!(at("18446744073709551616"), None);
        assert_eq!(at(""), None);
        assert_eq!(at(" 12"), None);
        assert_eq!(at("1a"), None);
        assert_eq!(at("-1"), None);
    }

    #[test]
    fn numbers_as_header_values() {
        for n in [0, 7, 10, 99, 1_718_451_800, u64::MAX] {
            assert_eq!(number(n), HeaderValue::from(n), "{n}");
        }
    }

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
        assert_eq!(parse_port("443"), Some(443));
        assert_eq!(parse_port("65535"), Some(65535));
        for bad in [
            "", "65536", "99999", "000080", "+80", "-1", " 80", "80 ", "8o", "*",
        ] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }

    /// `Vary::apply` on one existing value (merged inline) answers what `merge_vary` does.
    #[test]
    fn vary_inline_merge_agrees_with_the_general_one() {
        let vary = Vary::new(&["origin", "accept"]).unwrap();
        for existing in [
            "Accept-Encoding,API-Version",
            "Accept-Encoding, Origin",
            "origin, ACCEPT",
            "api-version, , api-version",
            "accept, *",
            "a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r",
        ] {
            let mut inline = HeaderMap::new();
            inline.insert(VARY, HeaderValue::from_static(existing));
            let mut general = inline.clone();
            vary.apply(&mut inline);
            merge_vary(&mut general, &["origin", "accept"]);
            assert_eq!(inline, general, "{existing:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            VARY,
            HeaderValue::from_static("Accept-Encoding,API-Version"),
        );
        vary.apply(&mut headers);
        assert_eq!(
            headers[VARY],
            "Accept-Encoding, API-Version, origin, accept"
        );
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
