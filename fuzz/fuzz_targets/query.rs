//! Query decoding (`decode_query`, `query_values`), the parsers behind `?version=` and
//! `?api_key=`, through the fuzzing-only `tower_shield::__fuzz` wrappers.
//!
//! Input: one byte choosing how text is percent-encoded, then `name=value` pairs, one per line
//! (`=` separates the first name from its value; the first pair's name is the one looked up).
//!
//! Asserts: no panic on any query or name; text without `%` or `+` decodes to itself; decoding
//! never grows the text; any string, percent-encoded in any of the ways a client may (`+` or
//! `%20` for a space, upper- or lowercase hex, unreserved characters encoded or not), decodes
//! back to itself; and `query_values` finds exactly the values of the pairs with that name, in
//! order, whatever their encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_shield::__fuzz::{decode_query, query_values};

/// Percent-encodes `text` so that `decode_query` must give it back. `style` bit 0: a space as
/// `%20` rather than `+`; bit 1: lowercase hex; bit 2: encode unreserved characters too.
fn encode(text: &str, style: u8) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if b == b' ' && style & 1 == 0 {
            out.push('+');
        } else if unreserved && style & 4 == 0 {
            out.push(b as char);
        } else if style & 2 != 0 {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&style, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);

    // Any text: no panic, and the simple cases.
    let decoded = decode_query(&text);
    if !text.contains(['%', '+']) {
        assert_eq!(decoded.as_deref(), Some(&*text));
    }
    if let Some(decoded) = &decoded {
        assert!(decoded.len() <= text.len(), "decoding never grows the text");
        // What decoded once, encoded again, decodes to the same.
        assert_eq!(
            decode_query(&encode(decoded, style)).as_deref(),
            Some(&**decoded)
        );
    }
    // Round trip of the raw text as a value.
    assert_eq!(decode_query(&encode(&text, style)).as_deref(), Some(&*text));
    let _ = query_values(&text, &text);

    // `name=value` pairs: encoded into a query, found back.
    let pairs: Vec<(String, String)> = text
        .split('\n')
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let name = &pairs[0].0;
    let query = pairs
        .iter()
        .enumerate()
        .map(|(i, (n, v))| {
            // Vary the encoding per pair; an empty value sometimes without its `=`.
            let s = style.rotate_left(i as u32);
            if v.is_empty() && s & 8 != 0 {
                encode(n, s)
            } else {
                format!("{}={}", encode(n, s), encode(v, s >> 1))
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let expected: Vec<Option<String>> = pairs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| Some(v.clone()))
        .collect();
    assert_eq!(query_values(&query, name), expected, "query {query:?}");
    let _ = query_values(&query, &text);
});
