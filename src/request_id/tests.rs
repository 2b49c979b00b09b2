use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use super::builder::allowed_bytes;
use super::*;

fn millis_now() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(now.as_millis()).unwrap()
}

#[test]
fn uuid_v7_ids_carry_the_current_millisecond_version_and_variant() {
    let before = millis_now();
    let id = UuidV7.make_request_id();
    let after = millis_now();
    let s = id.as_str();
    assert_eq!(s.len(), 36);
    assert_eq!(&s[14..15], "7", "version nibble of {s}");
    assert!(
        matches!(&s[19..20], "8" | "9" | "a" | "b"),
        "variant of {s}"
    );
    assert!(
        s.bytes()
            .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    let millis = u64::from_str_radix(&s[..13].replace('-', ""), 16).unwrap();
    assert!(
        (before..=after).contains(&millis),
        "{before} <= {millis} <= {after}"
    );
}

#[test]
fn request_id_new_accepts_visible_ascii_only() {
    assert_eq!(RequestId::new("abc-123").unwrap().as_str(), "abc-123");
    assert!(RequestId::new("").is_err());
    assert!(RequestId::new("a b").is_err());
    assert!(RequestId::new("a\nb").is_err());
    assert!(RequestId::new("é").is_err());
    for delimiter in ["a\"b", "a'b", "a\\b", "a,b", "a;b", "<script>", "a`b"] {
        assert!(RequestId::new(delimiter).is_err(), "{delimiter}");
    }
    assert!(RequestId::new(&"a".repeat(1025)).is_err());
    assert!(RequestId::new(&"a".repeat(1024)).is_ok());
}

#[test]
fn default_symbols_are_accepted_by_the_builder() {
    assert!(allowed_bytes(DEFAULT_SYMBOLS).is_ok());
    assert!(RequestIdLayer::builder().build().is_ok());
}

#[test]
fn builder_refuses_bad_configuration() {
    let err = |b: RequestIdBuilder| b.build().unwrap_err();
    assert_eq!(
        err(RequestIdLayer::builder().header_name("bad header")),
        ConfigError::InvalidHeaderName("bad header".into())
    );
    assert_eq!(
        err(RequestIdLayer::builder().header_name("Authorization")),
        ConfigError::ReservedHeaderName("Authorization".into())
    );
    for reserved in [
        "X-Forwarded-For",
        "origin",
        "sec-fetch-site",
        "x-api-key",
        "api-version",
        "x-frame-options",
        "referrer-policy",
        "traceparent",
        "signature-input",
        "webhook-id",
        "grpc-status",
    ] {
        assert_eq!(
            err(RequestIdLayer::builder().header_name(reserved)),
            ConfigError::ReservedHeaderName(reserved.into())
        );
    }
    assert_eq!(
        err(RequestIdLayer::builder()
            .reject_invalid(true)
            .trust_incoming(false)),
        ConfigError::RejectWithoutTrust
    );
    assert_eq!(
        err(RequestIdLayer::builder().max_length(0)),
        ConfigError::InvalidMaxLength(0)
    );
    assert_eq!(
        err(RequestIdLayer::builder().max_length(1025)),
        ConfigError::InvalidMaxLength(1025)
    );
    assert_eq!(
        err(RequestIdLayer::builder().allowed_symbols("-;")),
        ConfigError::InvalidSymbol(';')
    );
    assert_eq!(
        err(RequestIdLayer::builder().allowed_symbols(" ")),
        ConfigError::InvalidSymbol(' ')
    );
    assert_eq!(
        err(RequestIdLayer::builder().allowed_symbols("é")),
        ConfigError::InvalidSymbol('é')
    );
}

#[test]
fn acceptance_rules() {
    let layer = RequestIdLayer::builder()
        .max_length(8)
        .allowed_symbols("-")
        .build()
        .unwrap();
    let accepts = |s: &'static str| layer.config.accepts(&HeaderValue::from_static(s));
    assert!(accepts("abc-DEF1"));
    assert!(!accepts("abc-DEF12"), "one byte over the cap");
    assert!(!accepts(""));
    assert!(!accepts("a_b"), "symbol not allowed");
    assert!(!accepts("a\"b"));
}

#[test]
fn a_full_header_map_never_passes_the_rejected_id_on() {
    let layer = RequestIdLayer::new();
    let mut req = http::Request::get("/")
        .header("x-request-id", "<evil>")
        .body(())
        .unwrap();
    // Fill the map until it cannot grow: `try_insert` of a new name then fails.
    for i in 0.. {
        let name = HeaderName::try_from(format!("h{i}")).unwrap();
        if req
            .headers_mut()
            .try_insert(name, HeaderValue::from_static("v"))
            .is_err()
        {
            break;
        }
    }
    let _ = Guard::decide(&layer, &mut req);
    let id = req.extensions().get::<RequestId>().unwrap().clone();
    let seen: Vec<_> = req.headers().get_all("x-request-id").iter().collect();
    assert_eq!(seen, [id.header_value()]);
    assert_eq!(id.as_str().len(), 36);
}

/// RFC 9562 section 6.2: the ids a process makes increase strictly, within one millisecond
/// too (the counter) and across threads; as text as well, since they are fixed-width
/// lowercase hex.
#[test]
fn uuid_v7_ids_increase_strictly() {
    let ids: Vec<String> = (0..10_000)
        .map(|_| UuidV7.make_request_id().as_str().to_owned())
        .collect();
    for pair in ids.windows(2) {
        assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..2_000)
                    .map(|_| UuidV7.make_request_id().as_str().to_owned())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let ids = t.join().unwrap();
        assert!(ids.windows(2).all(|p| p[0] < p[1]));
        all.extend(ids);
    }
    let made = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), made, "no id twice");
}

/// A clock that steps back does not take the ids back: the last timestamp is counted on.
/// (Stamps of the present only: the counter is the process's, shared with the other tests.)
#[test]
fn uuid_v7_stamps_never_go_back() {
    let now = millis_now();
    let first = super::make::next_stamp(now, 0);
    let back = super::make::next_stamp(now - 60_000, 0);
    // Not a minute back: on from the last stamp.
    assert!(back > first, "{back} after {first}");
    assert!(back >> 12 >= now, "the timestamp is not taken back");
}

/// RFC 9562 section 6.2, counter seeding: the first id of a millisecond has a random counter
/// below 2,048 (the top bit clear, a rollover guard), not 0; the next ones of that millisecond
/// count on from the last, whatever their seed.
#[test]
fn uuid_v7_counters_start_at_random() {
    use super::make::next_stamp_after;
    use std::sync::atomic::AtomicU64;
    let last = AtomicU64::new(0);
    let millis = 1_800_000_000_000;
    for (i, seed) in [0x0u64, 0x7ff, 0xfff, 0x1234, 5].into_iter().enumerate() {
        let millis = millis + 10 * i as u64;
        let stamp = next_stamp_after(&last, millis, seed);
        assert_eq!(stamp >> 12, millis);
        assert_eq!(stamp & 0xfff, seed & 0x7ff, "{seed:#x}");
        assert_eq!(next_stamp_after(&last, millis, 0), stamp + 1);
        assert_eq!(next_stamp_after(&last, millis, 0x7ff), stamp + 2);
    }
    // Ids made milliseconds apart: their counters are not all the same.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let id = UuidV7.make_request_id().as_str().to_owned();
        seen.insert(id[15..18].to_owned());
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(seen.len() > 1, "{seen:?}");
}
