//! Unit tests of the CORS layer: origin parsing and matching, build errors.

use http::{HeaderValue, Method};

use super::origin::Check;
use super::{ConfigError, CorsBuilder, CorsLayer};

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
        .allow_origin("https://example.com.")
        .allow_origin("http://*.localhost:5173")
        .allow_origin("https://my_host.example.net")
        .build()
        .unwrap();
    assert!(allowed(&layer, "http://[::1]:8080"));
    assert!(allowed(&layer, "https://example.com."));
    assert!(!allowed(&layer, "https://example.com"));
    assert!(allowed(&layer, "http://app.localhost:5173"));
    assert!(allowed(&layer, "https://my_host.example.net"));
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

#[test]
fn build_errors() {
    let err = |b: CorsBuilder| b.build().unwrap_err();
    assert_eq!(
        err(CorsLayer::builder()
            .allow_any_origin(true)
            .allow_credentials(true)),
        ConfigError::AnyOriginWithCredentials
    );
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
        "http://127.1",
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
