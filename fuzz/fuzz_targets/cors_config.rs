//! The allow-list entries of `CorsBuilder::allow_origin`, against the WHATWG URL Standard as
//! the `url` crate implements it: what a browser would put in `Origin` for that page.
//!
//! Input: the entry (UTF-8, lossily).
//!
//! Asserts: no panic at build; an accepted exact entry is one a browser can send (the URL
//! parser reads it; only an `xn--` label may fail the Unicode rules this crate does not carry,
//! as documented), and the built layer allows that origin as a browser serializes it, echoing
//! it exactly; an accepted pattern allows a subdomain as a browser serializes it and never the
//! bare domain (with `:*`, at any port); an IPv4 address refused as not dotted decimal names the origin a browser sends,
//! and that one builds; an origin already in a browser's serialization (an http(s) host of
//! letters, digits, `-`, `_` and dots, or an IP address) is never refused.

#![no_main]

mod common;

use http::Request;
use libfuzzer_sys::fuzz_target;
use tower_shield::CorsLayer;
use tower_shield::cors::ConfigError;

/// Whether `layer` allows `origin`: a request from it gets it back, exactly.
fn allows(layer: &CorsLayer, origin: &str) -> bool {
    let req = Request::get("/").header("origin", origin).body(()).unwrap();
    let (res, _) = common::call(layer, req, &[]);
    match common::one(res.headers(), "access-control-allow-origin") {
        Some(echoed) => {
            assert_eq!(echoed, origin, "an allowed origin is echoed exactly");
            true
        }
        None => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let entry = String::from_utf8_lossy(data);
    let built = CorsLayer::builder().allow_origin(entry.clone()).build();
    let trimmed = entry.trim();
    // `:*` for the port: any port (`http://localhost:*`, `https://*.example.com:*`).
    let any_port = trimmed.ends_with(":*");
    let subdomains = trimmed.contains("://*");
    let pattern = subdomains || any_port;
    match built {
        Ok(layer) if !pattern => match common::browser_origin(trimmed) {
            Some(origin) => assert!(
                allows(&layer, &origin),
                "{trimmed:?} accepted, but the origin a browser sends for it, {origin:?}, is not allowed"
            ),
            None => assert!(
                trimmed.to_ascii_lowercase().contains("xn--"),
                "{trimmed:?} accepted, but no browser can send it"
            ),
        },
        Ok(layer) => {
            // A port for the `:*`, then a subdomain for the `*.`.
            let concrete = match trimmed.strip_suffix(":*") {
                Some(fixed) => format!("{fixed}:8123"),
                None => trimmed.to_owned(),
            };
            // A one-letter subdomain: a host is at most 253 characters, which a pattern leaves
            // room for (its domain at most 251).
            if let Some(origin) = common::browser_origin(&concrete.replacen('*', "a", 1)) {
                assert!(
                    allows(&layer, &origin),
                    "{trimmed:?} does not allow {origin:?}"
                );
            }
            if subdomains
                && let Some(origin) = common::browser_origin(&concrete.replacen("*.", "", 1))
            {
                assert!(
                    !allows(&layer, &origin),
                    "{trimmed:?} allows its bare domain"
                );
            }
        }
        Err(ConfigError::Ipv4NotDottedDecimal { browser_form, .. }) => {
            // Named without the `:*` of an any-port entry.
            let base = trimmed.strip_suffix(":*").unwrap_or(trimmed);
            assert_eq!(
                common::browser_origin(base).as_deref(),
                Some(browser_form.as_str()),
                "the browser form named for {trimmed:?}"
            );
            let layer = CorsLayer::builder()
                .allow_origin(browser_form.clone())
                .build()
                .expect("the browser form named in the error builds");
            assert!(allows(&layer, &browser_form));
        }
        // UTS 46 (Unicode 15.1, validity criterion 4 with CheckHyphens off, as WHATWG URL
        // uses it): a label that decodes to one starting with `xn--` again is invalid. The `url`
        // crate used as the reference here predates that rule, so it is the one documented
        // difference besides the Unicode tables.
        Err(ConfigError::InvalidPunycode { ref reason, .. })
            if reason.contains("starts with `xn--` again") => {}
        Err(error) => assert!(
            pattern || !common::is_plain_browser_origin(trimmed),
            "{trimmed:?} is refused ({error}), but it is a browser's own origin"
        ),
    }
});
