//! `Origin` and the CORS request headers (`Access-Control-Request-Method`, `-Headers`,
//! `-Private-Network`, `Sec-Fetch-Site`) through `CorsLayer`.
//!
//! The policy: `https://app.example.com`, `http://localhost:5173`, `http://[::1]:8080` and
//! `https://*.example.org`, with credentials, GET/POST/DELETE, two request headers, a max age
//! and Private Network Access; or the same refusing disallowed origins with `403`; or
//! `permissive()`.
//!
//! Input: one byte of flags (bits 0-1: the policy; bit 2: an `OPTIONS` request; bit 3: the inner
//! service sets `Access-Control-Allow-Origin: *` itself; bit 4: `Sec-Fetch-Site: same-origin`;
//! bit 5: the structured mode below), then lines: the `Origin`, the
//! `Access-Control-Request-Method`, the `-Request-Headers`, the `-Request-Private-Network` (a
//! missing line is a missing header). In structured mode the `Origin` line starts with a byte
//! that picks an allowed origin and a change: letters' case flipped or, for the pattern, labels
//! put in front (still allowed); a path, a label or a port added, the scheme swapped (not).
//!
//! Asserts: no panic; the status is 204 for a preflight, the inner service's 200 otherwise, or
//! 403 (an `cors-origin-not-allowed` problem) only with the refusing policy, for an origin
//! not allowed and not same-origin; a preflight never reaches the inner service;
//! `Access-Control-Allow-Origin`, when present, is exactly the request's `Origin` (`*` with
//! `permissive()`), and what it allows is an origin a browser (the WHATWG URL parser) reads as
//! one of the listed ones; no `*` or inner-service CORS header survives for an origin not
//! allowed; credentials only with an allowed origin; `Vary: origin` on every answer to a
//! CORS request of a list policy; Private Network Access only when asked and allowed.

#![no_main]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use http::{HeaderValue, Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_shield::CorsLayer;

const EXACT: [&str; 3] = [
    "https://app.example.com",
    "http://localhost:5173",
    "http://[::1]:8080",
];
const PATTERN_SCHEME: &str = "https://";
const PATTERN_DOMAIN: &str = ".example.org";

fn policies() -> &'static [CorsLayer; 3] {
    static POLICIES: OnceLock<[CorsLayer; 3]> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let list = |reject: bool| {
            CorsLayer::builder()
                .allow_origins(EXACT)
                .allow_origin("https://*.example.org")
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers(["authorization", "content-type"])
                .max_age(Duration::from_secs(600))
                .allow_private_network(true)
                .reject_disallowed(reject)
                .build()
                .expect("the policy builds")
        };
        [list(false), list(true), CorsLayer::permissive()]
    })
}

/// Whether a browser reads `origin` as one of the listed origins (the WHATWG URL parser's
/// serialization is what it would send); `None` when no browser can send it at all.
fn browser_allows(origin: &str) -> Option<bool> {
    let url = url::Url::parse(origin).ok()?;
    let serialized = url.origin().ascii_serialization();
    Some(
        EXACT.contains(&serialized.as_str())
            || serialized
                .strip_prefix(PATTERN_SCHEME)
                .and_then(|host| host.strip_suffix(PATTERN_DOMAIN))
                .is_some_and(|sub| !sub.is_empty() && !sub.contains(':')),
    )
}

/// A structured `Origin` from `pick` and `rest`, and whether it must be allowed.
fn structured(pick: u8, rest: &[u8]) -> (String, bool) {
    let label: String = String::from_utf8_lossy(rest)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(40)
        .collect();
    let label = label
        .split('.')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    let base = match usize::from(pick & 3) {
        i @ 0..=2 => EXACT[i].to_owned(),
        _ => format!(
            "{PATTERN_SCHEME}{}{PATTERN_DOMAIN}",
            if label.is_empty() { "a" } else { &label }
        ),
    };
    match (pick >> 2) & 7 {
        // Letters' case, as a bit mask from the input.
        0 | 1 => {
            let flipped = base
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    let bit = rest.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 != 0);
                    if bit { c.to_ascii_uppercase() } else { c }
                })
                .collect();
            (flipped, true)
        }
        2 => (format!("{base}/{label}"), false),
        3 => (format!("{base}.evil.com"), false),
        4 => (format!("{base}-{label}x"), false),
        5 => (format!("{base}:1"), false),
        6 => {
            let swapped = match base.strip_prefix("https") {
                Some(rest) => format!("http{rest}"),
                None => base.replacen("http", "https", 1),
            };
            (swapped, false)
        }
        _ => (format!("{base}."), false),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let policy = usize::from(flags & 3) % 3;
    let layer = &policies()[policy];
    let list = policy != 2;
    let reject = policy == 1;
    let options = flags & 4 != 0;
    let inner_sets_cors = flags & 8 != 0;
    let same_origin = flags & 16 != 0;

    let lines = if rest.is_empty() {
        Vec::new()
    } else {
        common::fields(rest)
    };
    let mut expect_allowed = None;
    let origin: Option<HeaderValue> = match lines.first() {
        Some(line) if flags & 32 != 0 => {
            let Some((&pick, rest)) = line.split_first() else {
                return;
            };
            let (origin, allowed) = structured(pick, rest);
            expect_allowed = Some(allowed);
            Some(HeaderValue::try_from(origin).expect("a structured origin is a header value"))
        }
        Some(line) => match HeaderValue::from_bytes(line) {
            Ok(v) => Some(v),
            Err(_) => return,
        },
        None => None,
    };
    let header = |i: usize| lines.get(i).and_then(|l| HeaderValue::from_bytes(l).ok());
    let acrm = header(1);
    let acrh = header(2);
    let pna = header(3);

    let mut req = Request::builder().method(if options {
        Method::OPTIONS
    } else {
        Method::GET
    });
    if let Some(o) = &origin {
        req = req.header("origin", o.clone());
    }
    if let Some(v) = &acrm {
        req = req.header("access-control-request-method", v.clone());
    }
    if let Some(v) = &acrh {
        req = req.header("access-control-request-headers", v.clone());
    }
    if let Some(v) = &pna {
        req = req.header("access-control-request-private-network", v.clone());
    }
    if same_origin {
        req = req.header("sec-fetch-site", "same-origin");
    }
    let req = req.uri("/posts").body(()).unwrap();
    let inner_headers: &[(&str, &str)] = if inner_sets_cors {
        &[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-credentials", "true"),
        ]
    } else {
        &[]
    };
    let (res, seen) = common::call(layer, req, inner_headers);
    let headers = res.headers();
    let preflight = options && acrm.is_some();
    let acao = common::one(headers, "access-control-allow-origin");

    // Who answered, and with what.
    match res.status() {
        StatusCode::NO_CONTENT => {
            assert!(preflight && origin.is_some(), "204 only for a preflight");
            assert!(seen.is_none(), "a preflight never reaches the service");
        }
        StatusCode::OK => {
            assert!(
                !(preflight && origin.is_some()),
                "a preflight is answered by the layer"
            );
            assert!(seen.is_some());
        }
        StatusCode::FORBIDDEN => {
            assert!(
                reject && origin.is_some() && !same_origin,
                "403 only when refusing"
            );
            assert!(acao.is_none(), "a refusal allows nothing");
            assert!(seen.is_none());
            assert_eq!(common::problem_slug(&res), "cors-origin-not-allowed");
        }
        status => panic!("unexpected status {status}"),
    }

    // What is allowed.
    let Some(origin) = origin else {
        // Not a CORS request: a list policy leaves the service's headers alone, `*` answers
        // the same to everyone.
        let expected = if list {
            inner_sets_cors.then_some("*")
        } else {
            Some("*")
        };
        assert_eq!(acao, expected);
        assert_eq!(res.status(), StatusCode::OK);
        return;
    };
    let allowed = acao.is_some();
    if let Some(acao) = acao {
        if list {
            assert_eq!(
                acao.as_bytes(),
                origin.as_bytes(),
                "the origin is echoed exactly"
            );
            let text = origin.to_str().expect("an allowed origin is text");
            assert_ne!(
                browser_allows(text),
                Some(false),
                "{text:?} is allowed but no browser reads it as a listed origin"
            );
        } else {
            assert_eq!(acao, "*");
        }
    }
    if !list {
        assert!(allowed, "`*` allows everyone");
    }
    if let Some(expected) = expect_allowed {
        if list && res.status() != StatusCode::FORBIDDEN {
            assert_eq!(allowed, expected, "origin {origin:?}");
        }
        if reject && !expected && !same_origin {
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }
    }
    if !allowed {
        for name in [
            "access-control-allow-credentials",
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-expose-headers",
            "access-control-max-age",
            "access-control-allow-private-network",
        ] {
            assert!(
                !headers.contains_key(name),
                "{name} without an allowed origin"
            );
        }
    }
    if headers.contains_key("access-control-allow-credentials") {
        assert!(list && allowed, "credentials only with an allowed origin");
    }
    if list {
        assert!(common::list_has(headers, "vary", "origin"), "Vary: origin");
    }
    if res.status() == StatusCode::NO_CONTENT && allowed {
        if list {
            assert_eq!(
                common::one(headers, "access-control-allow-methods"),
                Some("GET, POST, DELETE")
            );
        }
        let asked = pna
            .as_ref()
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        assert_eq!(
            headers.contains_key("access-control-allow-private-network"),
            asked && list,
            "Private Network Access answered exactly when asked (and enabled)"
        );
    } else {
        assert!(!headers.contains_key("access-control-allow-private-network"));
    }
});
