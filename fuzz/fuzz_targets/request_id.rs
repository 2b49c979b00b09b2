//! `X-Request-Id` through `RequestIdLayer`, and `RequestId::new`.
//!
//! Input: one byte of configuration (bit 0: `reject_invalid`; bit 1: a custom maximum length and
//! symbol set, from the next two bytes), then the `x-request-id` values, one per line (none when
//! nothing follows).
//!
//! Asserts: no panic; an id is kept exactly when it is the only value and is acceptable (1 to
//! the maximum length of letters, digits and the allowed symbols), and then it is echoed
//! byte-identical on the response, the request the inner service sees and the `RequestId`
//! extension; anything else gets one fresh UUID v7 everywhere (or, rejecting, a `400`
//! `invalid-request-id` problem carrying a fresh id, and the inner service is never called);
//! `RequestId::new` accepts exactly the documented characters and round-trips through its text.

#![no_main]

mod common;

use http::{HeaderValue, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_shield::request_id::{DEFAULT_MAX_LENGTH, DEFAULT_SYMBOLS};
use tower_shield::{RequestId, RequestIdLayer};

/// Symbols a configuration may allow: every one `RequestIdBuilder` accepts.
const SYMBOLS: &[u8] = b"-_.:+/=!#$%&()*?@[]^{|}~";

fn is_uuid_v7(id: &[u8]) -> bool {
    id.len() == 36
        && id.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            14 => b == b'7',
            19 => matches!(b, b'8' | b'9' | b'a' | b'b'),
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let reject = flags & 1 != 0;
    let (max_length, symbols, rest): (usize, String, &[u8]) = if flags & 2 != 0 && rest.len() >= 3 {
        let max = usize::from(u16::from_le_bytes([rest[0], rest[1] & 3])).clamp(1, 1024);
        let symbols = SYMBOLS
            .iter()
            .enumerate()
            .filter(|(i, _)| rest[2].rotate_left(*i as u32 % 8) & 1 != 0 || *i % 8 == 7)
            .map(|(_, &b)| b as char)
            .collect();
        (max, symbols, &rest[3..])
    } else {
        (DEFAULT_MAX_LENGTH, DEFAULT_SYMBOLS.to_owned(), rest)
    };
    let layer = RequestIdLayer::builder()
        .max_length(max_length)
        .allowed_symbols(symbols.clone())
        .reject_invalid(reject)
        .build()
        .expect("a valid configuration builds");

    let sent: Vec<HeaderValue> = if rest.is_empty() {
        Vec::new()
    } else {
        common::fields(rest)
            .into_iter()
            .filter_map(|v| HeaderValue::from_bytes(v).ok())
            .collect()
    };

    // `RequestId::new`: the documented alphabet, and a round trip through the text.
    for value in &sent {
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        let valid = !text.is_empty()
            && text.len() <= 1024
            && text
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"\\,;<>`'".contains(&b));
        match RequestId::new(text) {
            Ok(id) => {
                assert!(valid, "RequestId::new accepted {text:?}");
                assert_eq!(id.as_str(), text);
                assert_eq!(id.to_string(), text);
                assert_eq!(id.header_value().as_bytes(), text.as_bytes());
                assert_eq!(text.parse::<RequestId>().ok(), Some(id));
            }
            Err(_) => assert!(!valid, "RequestId::new refused {text:?}"),
        }
    }

    let mut req = Request::get("/");
    for value in &sent {
        req = req.header("x-request-id", value.clone());
    }
    let req = req.body(()).unwrap();
    let (res, seen) = common::call(&layer, req, &[]);

    let acceptable = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= max_length
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || symbols.as_bytes().contains(&c))
    };
    let kept = match sent.as_slice() {
        [only] if acceptable(only) => Some(only.clone()),
        _ => None,
    };
    let echoed = common::values(res.headers(), "x-request-id");
    assert_eq!(echoed.len(), 1, "exactly one id on every response");
    let echoed = echoed[0];

    if reject && kept.is_none() && !sent.is_empty() {
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(common::problem_slug(&res), "invalid-request-id");
        assert!(
            seen.is_none(),
            "a rejected request never reaches the service"
        );
        assert!(is_uuid_v7(echoed), "a rejection carries a fresh id");
        return;
    }
    assert_eq!(res.status(), StatusCode::OK);
    let seen = seen.expect("the inner service is called");
    let inner: Vec<&[u8]> = common::values(&seen.headers, "x-request-id");
    assert_eq!(
        inner,
        [echoed],
        "the service sees the id the response carries"
    );
    let extension = seen
        .extensions
        .get::<RequestId>()
        .expect("the id is in the extensions");
    assert_eq!(extension.as_str().as_bytes(), echoed);
    match kept {
        Some(id) => assert_eq!(echoed, id.as_bytes(), "an acceptable id is echoed as sent"),
        None => assert!(
            is_uuid_v7(echoed),
            "an unacceptable or missing id is replaced by a UUID v7, not {:?}",
            String::from_utf8_lossy(echoed)
        ),
    }
});
