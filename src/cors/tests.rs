//! Unit tests of the CORS layer: origin parsing and matching, build errors.

use http::{HeaderValue, Method, Request, Response};

use super::host::{ends_in_a_number, parse_ipv4, punycode_decode, serialize_ipv6};
use super::origin::{Check, parse_config_origin, parse_pattern};
use super::{ConfigError, CorsBuilder, CorsLayer};
use crate::guard::{Decision, Guard};

fn allowed(layer: &CorsLayer, origin: &'static str) -> bool {
    matches!(
        layer
            .config
            .origins
            .check(&HeaderValue::from_static(origin)),
        Check::Allowed
    )
}

#[test]
fn anchored_patterns_and_exact_origins() {
    let layer = CorsLayer::builder()
        .allow_origin("https://frontend.example.com")
        .allow_origin("https://*.example.com")
        .allow_origin("http://localhost:5173")
        .build()
        .unwrap();
    for ok in [
        "https://frontend.example.com",
        "https://a.example.com",
        "https://a.b.example.com",
        "https://A.Example.COM",
        "HTTPS://a.example.com",
        "https://a.example.com:443",
        "http://localhost:5173",
        "http://LOCALHOST:5173",
    ] {
        assert!(allowed(&layer, ok), "{ok} should be allowed");
    }
    for bad in [
        "https://example.com",
        "https://evil-example.com",
        "https://example.com.evil.com",
        "https://a.example.com.evil.com",
        "http://a.example.com",
        "https://a.example.com:8443",
        "https://.example.com",
        "https://a..example.com",
        "https://*.example.com",
        "http://localhost",
        "http://localhost:5174",
        "null",
        "https://frontend.example.com/",
        "https://frontend.example.com/path",
        "https://user@frontend.example.com",
        "",
    ] {
        assert!(!allowed(&layer, bad), "{bad} should be refused");
    }
}

#[test]
fn ips_trailing_dots_and_localhost_patterns() {
    let layer = CorsLayer::builder()
        .allow_origin("http://[0:0:0:0:0:0:0:1]:8080")
        .allow_origin("https://example.com")
        .allow_origin("http://*.localhost:5173")
        .allow_origin("https://my_host.example.net")
        .build()
        .unwrap();
    assert!(allowed(&layer, "http://[::1]:8080"));
    // `example.com.` is another origin, which a browser sends when the user types it.
    assert!(!allowed(&layer, "https://example.com."));
    assert!(allowed(&layer, "https://example.com"));
    assert!(allowed(&layer, "http://app.localhost:5173"));
    assert!(!allowed(&layer, "http://app.localhost.:5173"));
    assert!(allowed(&layer, "https://my_host.example.net"));
    let fqdn = CorsLayer::builder()
        .allow_origin("https://example.com.")
        .allow_origin("https://*.example.org.")
        .build()
        .unwrap();
    assert!(allowed(&fqdn, "https://example.com."));
    assert!(!allowed(&fqdn, "https://example.com"));
    assert!(allowed(&fqdn, "https://a.example.org."));
    assert!(!allowed(&fqdn, "https://a.example.org"));
    assert_eq!(
        CorsLayer::builder()
            .allow_origin("http://127.0.0.1.")
            .build()
            .unwrap_err(),
        ConfigError::TrailingDot {
            entry: "http://127.0.0.1.".into()
        }
    );
}

#[test]
fn pattern_with_port() {
    let layer = CorsLayer::builder()
        .allow_origin("https://*.example.com:8443")
        .build()
        .unwrap();
    assert!(allowed(&layer, "https://a.example.com:8443"));
    assert!(!allowed(&layer, "https://a.example.com"));
}

/// `:*` for the port: any port, the scheme's default included, for an exact host or a
/// subdomain pattern; the host and scheme still exact.
#[test]
fn any_port_patterns() {
    let layer = CorsLayer::builder()
        .allow_origin("http://localhost:*")
        .allow_origin("http://127.0.0.1:*")
        .allow_origin("http://[::1]:*")
        .allow_origin("https://*.example.com:*")
        .build()
        .unwrap();
    for ok in [
        "http://localhost:5173",
        "http://localhost:3000",
        "http://localhost",
        "http://LOCALHOST:8080",
        "http://127.0.0.1:9999",
        "http://[::1]:5173",
        "https://a.example.com:8443",
        "https://a.b.example.com",
    ] {
        assert!(allowed(&layer, ok), "{ok}");
    }
    for refused in [
        "https://localhost:5173",
        "http://evil.localhost:5173",
        "http://localhost.evil.com:5173",
        "http://127.0.0.2:9999",
        "https://example.com:8443",
        "http://a.example.com:8443",
        "https://a.example.com.evil.com:8443",
    ] {
        assert!(!allowed(&layer, refused), "{refused}");
    }
    assert_eq!(
        parse_pattern("http://localhost:*").unwrap().to_string(),
        "http://localhost:*"
    );
    assert_eq!(
        parse_pattern("https://*.Example.com:*")
            .unwrap()
            .to_string(),
        "https://*.example.com:*"
    );
    for bad in [
        "http://localhost:8080:*",
        "https://*.example.com:443:*",
        "http://*:*",
        "https://*.com:*",
    ] {
        assert!(
            CorsLayer::builder().allow_origin(bad).build().is_err(),
            "{bad}"
        );
    }
}

#[test]
fn build_errors() {
    let err = |b: CorsBuilder| b.build().unwrap_err();
    assert_eq!(
        err(CorsLayer::builder()
            .allow_any_origin(true)
            .allow_credentials(true)),
        ConfigError::AnyOriginWithCredentials
    );
    // `*` with a list (even one that would not build) or a predicate: one or the other.
    for builder in [
        CorsLayer::builder().allow_origin("null"),
        CorsLayer::builder().allow_origin("https://a.com"),
        CorsLayer::builder().allow_origin_predicate(|_: &str| true),
    ] {
        assert_eq!(
            err(builder.allow_any_origin(true)),
            ConfigError::AnyOriginWithList
        );
    }
    assert_eq!(
        err(CorsLayer::builder()
            .allow_origin("https://a.com")
            .allow_headers(["*"])
            .allow_credentials(true)),
        ConfigError::WildcardWithCredentials
    );
    assert_eq!(
        err(CorsLayer::builder()
            .allow_origin("https://a.com")
            .expose_headers(["*"])
            .allow_credentials(true)),
        ConfigError::WildcardWithCredentials
    );
    assert_eq!(
        err(CorsLayer::builder().allow_origin("null")),
        ConfigError::NullOrigin
    );
    assert_eq!(err(CorsLayer::builder()), ConfigError::NoOrigin);
    assert_eq!(
        err(CorsLayer::builder()
            .allow_origin("https://a.com")
            .allow_methods([])),
        ConfigError::NoMethod
    );
    assert_eq!(
        err(CorsLayer::builder()
            .allow_origin("https://a.com")
            .allow_methods([Method::from_bytes(b"*").unwrap()])
            .allow_credentials(true)),
        ConfigError::WildcardWithCredentials
    );
    assert_eq!(
        err(CorsLayer::builder()
            .allow_origin_predicate(|_| true)
            .allow_credentials(true)),
        ConfigError::ReflectingPredicateWithCredentials
    );
    for bad in [
        "http://a:b:8080",
        "https://a]b.com",
        "https://[not-an-ip]",
        "https://exämple.com",
        &format!("https://{}.com", "a".repeat(64)),
    ] {
        assert!(
            matches!(
                err(CorsLayer::builder().allow_origin(bad)),
                ConfigError::InvalidOrigin { .. }
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        err(CorsLayer::builder().allow_origin("https://a.com/")),
        ConfigError::InvalidOrigin { .. }
    ));
    assert!(matches!(
        err(CorsLayer::builder().allow_origin("a.com")),
        ConfigError::InvalidOrigin { .. }
    ));
    assert!(matches!(
        err(CorsLayer::builder().allow_origin("*")),
        ConfigError::InvalidOrigin { .. }
    ));
    for pattern in [
        "https://*.co.uk",
        "https://*.github.io",
        "https://*.vercel.app",
        "https://*.168.1.1",
        "https://*.[::1]",
        "https://*example.com",
        "https://a*.example.com",
        "https://*.com",
        "https://*.*.example.com",
        "https://a.*.example.com",
        "https://*.example.com/x",
    ] {
        assert!(
            matches!(
                err(CorsLayer::builder().allow_origin(pattern)),
                ConfigError::InvalidPattern { .. } | ConfigError::InvalidOrigin { .. }
            ),
            "{pattern}"
        );
    }
    assert_eq!(
        err(CorsLayer::builder()
            .allow_origin("https://a.com")
            .allow_headers(["bad header"])),
        ConfigError::InvalidHeaderName("bad header".into())
    );
}

/// Issue 12, finding 6: each entry is stored as a browser serializes its origin (the WHATWG URL
/// Standard; each right-hand side is what Node's `new URL(entry).origin` gives), so the `Origin`
/// a browser really sends matches it.
#[test]
fn entries_are_stored_as_browsers_serialize_them() {
    for (entry, browser_sends) in [
        (
            "http://[::ffff:7f7f:7f7f]:90",
            "http://[::ffff:7f7f:7f7f]:90",
        ),
        (
            "http://[::ffff:127.127.127.127]:90",
            "http://[::ffff:7f7f:7f7f]:90",
        ),
        (
            "http://[::FFFF:7F7F:7F7F]:90",
            "http://[::ffff:7f7f:7f7f]:90",
        ),
        ("http://[0:0::1]", "http://[::1]"),
        ("http://[1:0:0:2::3:0]", "http://[1::2:0:0:3:0]"),
        ("http://[::1.2.3.4]", "http://[::102:304]"),
        ("http://[1:0:0:0:0:0:0:0]", "http://[1::]"),
        ("http://[0:0:0:0:0:0:0:0]", "http://[::]"),
        ("http://[1:0:1:0:1:0:1:0]", "http://[1:0:1:0:1:0:1:0]"),
        ("http://[1:0:0:1:0:0:1:1]", "http://[1::1:0:0:1:1]"),
        (
            "http://[2001:DB8:0:0:1:0:0:0]:8080",
            "http://[2001:db8:0:0:1::]:8080",
        ),
        ("HTTP://EXAMPLE.com:80", "http://example.com"),
        ("https://EXAMPLE.com:443", "https://example.com"),
        ("https://a.example:0443", "https://a.example"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        (
            "https://XN--BCHER-KVA.example",
            "https://xn--bcher-kva.example",
        ),
        ("https://xn--n3h.example", "https://xn--n3h.example"),
        // A Cherokee capital (U+13EB), which UTS 46 keeps (case folding goes to the
        // capitals there): found by the `cors_config` fuzz target.
        ("https://xn--bce", "https://xn--bce"),
        ("https://xn--58dc.example", "https://xn--58dc.example"),
        // `_` in a decoded label (`a_é`): WHATWG's UTS 46 has no STD3 rules, as `_` is
        // allowed in hosts (found by the same fuzz target).
        ("https://xn--a_-cja.example", "https://xn--a_-cja.example"),
        ("http://foo.0xg", "http://foo.0xg"),
    ] {
        let layer = CorsLayer::builder()
            .allow_origin(entry)
            .build()
            .unwrap_or_else(|e| panic!("{entry}: {e}"));
        assert!(
            allowed(&layer, browser_sends),
            "{entry} should allow {browser_sends}"
        );
    }
}

/// Issue 12, finding 6: what is stored is exactly the browser's serialization.
#[test]
fn entries_are_stored_in_the_browser_serialization() {
    for (entry, stored) in [
        (
            "http://[::ffff:127.127.127.127]:90",
            "http://[::ffff:7f7f:7f7f]:90",
        ),
        ("http://[0:0::1]", "http://[::1]"),
        ("http://[1:0:0:2::3:0]", "http://[1::2:0:0:3:0]"),
        ("HTTP://EXAMPLE.com:80", "http://example.com"),
        ("http://example.com:443", "http://example.com:443"),
        ("https://example.com:80", "https://example.com:80"),
        (
            "https://XN--BCHER-KVA.example:08443",
            "https://xn--bcher-kva.example:8443",
        ),
    ] {
        assert_eq!(
            parse_config_origin(entry).unwrap().to_string(),
            stored,
            "{entry}"
        );
    }
    // Port 0 is refused at build: fetch never connects to it, so no browser sends it.
    for entry in [
        "http://[::]:0",
        "http://localhost:0",
        "https://example.com:00",
    ] {
        assert!(parse_config_origin(entry).is_err(), "{entry}");
    }
    for (pattern, stored) in [
        ("HTTPS://*.Example.COM:443", "https://*.example.com"),
        (
            "http://*.xn--bcher-kva.example:8080",
            "http://*.xn--bcher-kva.example:8080",
        ),
    ] {
        assert_eq!(
            parse_pattern(pattern).unwrap().to_string(),
            stored,
            "{pattern}"
        );
    }
}

/// Issue 12, finding 6: entries no browser can send are build errors (Node's `new URL` refuses
/// each host, serializes it differently, or gives the origin `null`), each with its own variant.
#[test]
fn entries_no_browser_sends_are_build_errors() {
    let scheme = |entry: &str, scheme: &str| ConfigError::UnsupportedScheme {
        entry: entry.into(),
        scheme: scheme.into(),
    };
    let dot = |entry: &str| ConfigError::TrailingDot {
        entry: entry.into(),
    };
    let not_ipv4 = |entry: &str| ConfigError::NotAnIpv4Address {
        entry: entry.into(),
    };
    let ipv4 = |entry: &str, browser_form: &str| ConfigError::Ipv4NotDottedDecimal {
        entry: entry.into(),
        browser_form: browser_form.into(),
    };
    let puny = |entry: &str, label: &str| (entry.to_owned(), label.to_owned());
    for (entry, expected) in [
        ("file://example.com", scheme("file://example.com", "file")),
        ("FILE:///etc/passwd", scheme("FILE:///etc/passwd", "file")),
        ("ws://example.com", scheme("ws://example.com", "ws")),
        (
            "wss://example.com:443",
            scheme("wss://example.com:443", "wss"),
        ),
        (
            "chrome-extension://abcdefghijklmnop",
            scheme("chrome-extension://abcdefghijklmnop", "chrome-extension"),
        ),
        (
            "file://*.example.com",
            scheme("file://*.example.com", "file"),
        ),
        ("wss://*.example.com", scheme("wss://*.example.com", "wss")),
        ("http://127.0.0.1.", dot("http://127.0.0.1.")),
        ("http://10.0.0.1.", dot("http://10.0.0.1.")),
        ("http://1.2.3.4.:8443", dot("http://1.2.3.4.:8443")),
        ("http://foo.bar.255", not_ipv4("http://foo.bar.255")),
        ("http://foo.0x1", not_ipv4("http://foo.0x1")),
        ("http://a.1.2.3.4", not_ipv4("http://a.1.2.3.4")),
        ("http://1.2.3.256", not_ipv4("http://1.2.3.256")),
        ("http://256.1.1.1", not_ipv4("http://256.1.1.1")),
        ("http://09.1.1.1", not_ipv4("http://09.1.1.1")),
        ("http://1.2.3.4.5", not_ipv4("http://1.2.3.4.5")),
        ("http://4294967296", not_ipv4("http://4294967296")),
        (
            "http://99999999999999999999999",
            not_ipv4("http://99999999999999999999999"),
        ),
        ("https://*.foo.255", not_ipv4("https://*.foo.255")),
        // Each IPv4 form with the origin a browser sends for it (Node's `new URL(..).origin`).
        ("http://127.1", ipv4("http://127.1", "http://127.0.0.1")),
        (
            "http://0x7f.1:8080",
            ipv4("http://0x7f.1:8080", "http://127.0.0.1:8080"),
        ),
        (
            "http://2130706433",
            ipv4("http://2130706433", "http://127.0.0.1"),
        ),
        (
            "http://0X7F000001",
            ipv4("http://0X7F000001", "http://127.0.0.1"),
        ),
        (
            "http://010.0.0.1",
            ipv4("http://010.0.0.1", "http://8.0.0.1"),
        ),
        (
            "http://127.0.0.01",
            ipv4("http://127.0.0.01", "http://127.0.0.1"),
        ),
        ("https://0x:443", ipv4("https://0x:443", "https://0.0.0.0")),
        (
            "http://1.0x10000",
            ipv4("http://1.0x10000", "http://1.1.0.0"),
        ),
    ] {
        assert_eq!(
            CorsLayer::builder()
                .allow_origin(entry)
                .build()
                .unwrap_err(),
            expected,
            "{entry}"
        );
    }
    for (entry, label) in [
        puny("http://xn--f", "xn--f"),
        puny("http://xn--.example", "xn--"),
        puny("http://xn--a.example", "xn--a"),
        puny("http://xn--abc-.example", "xn--abc-"),
        puny("http://xn--bcher-kva-.example", "xn--bcher-kva-"),
        puny("http://xn--0.example", "xn--0"),
        puny("http://xn--ab-xn--x.example", "xn--ab-xn--x"),
        puny("http://a.XN--F.example", "xn--f"),
        puny("https://*.xn--f.example.com", "xn--f"),
        // Valid punycode, invalid IDNA: uppercase Ü, the Angstrom sign, a no-break space, a soft
        // hyphen, a fullwidth `a`, a leading combining diaeresis, a private-use code point.
        puny("http://xn--wca.example", "xn--wca"),
        puny("http://xn--72g.example", "xn--72g"),
        puny("http://xn--6a.example", "xn--6a"),
        puny("http://xn--kba.example", "xn--kba"),
        puny("http://xn--mi7c.example", "xn--mi7c"),
        puny("http://xn--a-bcb.example", "xn--a-bcb"),
        puny("http://xn--0y0c.example", "xn--0y0c"),
        // Small Cherokee letters (U+ABBB, U+13F8): UTS 46 maps them to the capitals.
        puny("http://xn--p19a.example", "xn--p19a"),
        puny("http://xn--oce.example", "xn--oce"),
    ] {
        match CorsLayer::builder()
            .allow_origin(&entry)
            .build()
            .unwrap_err()
        {
            ConfigError::InvalidPunycode {
                entry: e, label: l, ..
            } => assert_eq!((e, l), (entry.clone(), label), "{entry}"),
            other => panic!("{entry}: {other}"),
        }
    }
}

/// RFC 3492 section 7.1 sample strings (A, B, L, P, R), decoded; the digits case-insensitive.
#[test]
fn punycode_decodes_the_rfc_3492_samples() {
    let decode = |s: &str| {
        punycode_decode(s).map(|chars| chars.into_iter().map(u32::from).collect::<Vec<_>>())
    };
    let samples: [(&str, &[u32]); 7] = [
        (
            "egbpdaj6bu4bxfgehfvwxn",
            &[
                0x644, 0x64A, 0x647, 0x645, 0x627, 0x628, 0x62A, 0x643, 0x644, 0x645, 0x648, 0x634,
                0x639, 0x631, 0x628, 0x64A, 0x61F,
            ],
        ),
        (
            "ihqwcrb4cv8a8dqg056pqjye",
            &[
                0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48, 0x4E0D, 0x8BF4, 0x4E2D, 0x6587,
            ],
        ),
        (
            "3B-ww4c5e180e575a65lsy2b",
            &[0x33, 0x5E74, 0x42, 0x7D44, 0x91D1, 0x516B, 0x5148, 0x751F],
        ),
        (
            "MajiKoi5-783gue6qz075azm5e",
            &[
                0x4D, 0x61, 0x6A, 0x69, 0x3067, 0x4B, 0x6F, 0x69, 0x3059, 0x308B, 0x35, 0x79D2,
                0x524D,
            ],
        ),
        (
            "d9juau41awczczp",
            &[0x305D, 0x306E, 0x30B9, 0x30D4, 0x30FC, 0x30C9, 0x3067],
        ),
        ("bcher-kva", &[0x62, 0xFC, 0x63, 0x68, 0x65, 0x72]),
        (
            "IHQWCRB4CV8A8DQG056PQJYE",
            &[
                0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48, 0x4E0D, 0x8BF4, 0x4E2D, 0x6587,
            ],
        ),
    ];
    for (encoded, decoded) in samples {
        assert_eq!(decode(encoded).as_deref(), Some(decoded), "{encoded}");
    }
    // Incomplete, not a digit, a delimiter with nothing before it, past U+10FFFF, past u32.
    for bad in [
        "f",
        "0",
        "99999999",
        "ab-xn--x",
        "-abc",
        "a!b",
        "a-9999999a",
        "999999999999999a",
    ] {
        assert_eq!(decode(bad), None, "{bad}");
    }
}

/// The WHATWG IPv6 serializer: the first longest run of two or more zero pieces compressed,
/// lowercase hex, never a dotted IPv4 tail.
#[test]
fn ipv6_is_serialized_as_whatwg_says() {
    for (address, serialized) in [
        ("0:0::1", "[::1]"),
        ("1:0:0:2::3:0", "[1::2:0:0:3:0]"),
        ("::ffff:127.127.127.127", "[::ffff:7f7f:7f7f]"),
        ("::1.2.3.4", "[::102:304]"),
        ("::", "[::]"),
        ("1::", "[1::]"),
        ("1:0:1:0:1:0:1:0", "[1:0:1:0:1:0:1:0]"),
        ("1:0:0:1:0:0:1:1", "[1::1:0:0:1:1]"),
        ("1:0:0:1:0:0:0:1", "[1:0:0:1::1]"),
        ("0:1:0:1:0:1:0:0", "[0:1:0:1:0:1::]"),
        ("2001:DB8:0:0:0:0:0:1", "[2001:db8::1]"),
        (
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]",
        ),
    ] {
        assert_eq!(
            serialize_ipv6(address.parse().unwrap()),
            serialized,
            "{address}"
        );
    }
}

/// The WHATWG IPv4 parser and its "ends in a number" checker.
#[test]
fn ipv4_numeric_forms_as_whatwg_parses_them() {
    for (host, address) in [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("010.0.0.1", "8.0.0.1"),
        ("0x", "0.0.0.0"),
        ("1.2.3.4.", "1.2.3.4"),
        ("255.255.255.255", "255.255.255.255"),
        ("4294967295", "255.255.255.255"),
    ] {
        assert!(ends_in_a_number(host), "{host}");
        assert_eq!(
            parse_ipv4(host).map(|a| a.to_string()).as_deref(),
            Some(address),
            "{host}"
        );
    }
    for host in [
        "foo.bar.255",
        "foo.0x1",
        "1.2.3.256",
        "256.0.0.1",
        "09.1",
        "1.2.3.4.5",
        "4294967296",
        "1..2",
        "0x1g.1",
    ] {
        assert!(ends_in_a_number(host), "{host}");
        assert_eq!(parse_ipv4(host), None, "{host}");
    }
    for host in ["example.com", "foo.0xg", "1.2.3.a", "a1", ".", "localhost"] {
        assert!(!ends_in_a_number(host), "{host}");
    }
}

#[test]
fn patterns_match_underscores_as_browsers_send_them() {
    let layer = CorsLayer::builder()
        .allow_origin("https://*.example.com")
        .build()
        .unwrap();
    for ok in ["https://a_b.example.com", "https://_a.b_.example.com"] {
        assert!(allowed(&layer, ok), "{ok} should be allowed");
    }
    for bad in [
        "https://_.example.com.",
        "https://a_b.example.com_",
        "https://a%5fb.example.com",
    ] {
        assert!(!allowed(&layer, bad), "{bad} should be refused");
    }
}

#[test]
fn max_age_is_capped_at_a_day() {
    use std::time::Duration;
    for (given, sent) in [
        (Duration::from_secs(86_400), "86400"),
        (Duration::from_secs(86_401), "86400"),
        (Duration::MAX, "86400"),
        (Duration::from_millis(1_999), "1"),
    ] {
        let layer = CorsLayer::builder()
            .allow_origin("https://app.example.com")
            .max_age(given)
            .build()
            .unwrap();
        assert_eq!(layer.config.max_age.as_ref().unwrap(), sent, "{given:?}");
    }
}

/// A host is at most 253 characters: a pattern whose domain leaves no room for a subdomain
/// (past 251) is refused, and one that leaves room allows a one-letter subdomain.
#[test]
fn a_pattern_leaves_room_for_a_subdomain() {
    // Labels of 49 and 50 letters, then `example.com`: a domain of `len` characters.
    let domain = |len: usize| {
        let mut d = String::from("example.com");
        while d.len() < len {
            let label = (len - d.len() - 1).clamp(1, 50);
            d = format!("{}.{d}", "a".repeat(label));
        }
        assert_eq!(d.len(), len);
        d
    };
    let ok = CorsLayer::builder()
        .allow_origin(format!("https://*.{}", domain(251)))
        .build()
        .unwrap();
    let req = |host: String| {
        Request::get("/")
            .header("origin", format!("https://{host}"))
            .body(())
            .unwrap()
    };
    let allowed = |layer: &CorsLayer, host: String| {
        let mut req = req(host);
        match Guard::decide(layer, &mut req) {
            Decision::Pass(state) => {
                let mut res = Response::new(());
                CorsLayer::respond(state, &mut res);
                res.headers().contains_key("access-control-allow-origin")
            }
            _ => false,
        }
    };
    assert!(allowed(&ok, format!("x.{}", domain(251))));
    assert!(!allowed(&ok, format!("xy.{}", domain(251))));
    let refused = CorsLayer::builder()
        .allow_origin(format!("https://*.{}", domain(252)))
        .build()
        .unwrap_err();
    assert!(
        matches!(refused, ConfigError::InvalidPattern { .. }),
        "{refused:?}"
    );
}
