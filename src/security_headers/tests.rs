use std::time::Duration;

use http::HeaderMap;
use http::header::X_FRAME_OPTIONS;

use super::builder::is_report_url;
use super::policies::is_origin;
use super::*;

fn applied(layer: &SecurityHeadersLayer, existing: HeaderMap) -> HeaderMap {
    let mut headers = existing;
    let nonce = CspNonce::generate();
    layer.compiled.apply(&mut headers, Some(&nonce));
    headers
}

#[test]
fn preset_layers_equal_their_builders() {
    for (preset, builder) in [
        (
            SecurityHeadersLayer::json_api(),
            SecurityHeadersBuilder::json_api(),
        ),
        (
            SecurityHeadersLayer::web_app(),
            SecurityHeadersBuilder::web_app(),
        ),
    ] {
        let built = builder.build().unwrap();
        assert_eq!(
            applied(&preset, HeaderMap::new()),
            applied(&built, HeaderMap::new())
        );
        assert_eq!(preset.compiled.fixed.len(), built.compiled.fixed.len());
    }
}

#[test]
fn presets_build() {
    assert!(SecurityHeadersBuilder::json_api().build().is_ok());
    assert!(SecurityHeadersBuilder::web_app().build().is_ok());
    // Built once per process: every call shares the same headers.
    assert!(Arc::ptr_eq(
        &SecurityHeadersLayer::json_api().compiled,
        &SecurityHeadersLayer::json_api().compiled
    ));
}

#[test]
fn reporting_endpoint_names_and_report_groups() {
    let build = |name: &str, group: &str| {
        SecurityHeadersBuilder::new()
            .content_security_policy(
                ContentSecurityPolicy::new()
                    .default_src([Source::SelfOrigin])
                    .report_to(group),
            )
            .reporting_endpoint(name, "/reports")
            .build()
    };
    assert!(build("csp-endpoint.v2", "csp-endpoint.v2").is_ok());
    assert_eq!(
        build("CSP", "CSP").unwrap_err(),
        ConfigError::Csp(CspError::InvalidReportTo("CSP".into()))
    );
    assert_eq!(
        build("_csp", "csp").unwrap_err(),
        ConfigError::UnknownReportGroup("csp".into())
    );
    assert!(matches!(
        SecurityHeadersBuilder::new()
            .reporting_endpoint("_csp", "/reports")
            .build(),
        Err(ConfigError::InvalidReportingEndpoint { .. })
    ));
    assert_eq!(
        build("csp", "nowhere").unwrap_err(),
        ConfigError::UnknownReportGroup("nowhere".into())
    );
    // One name twice: the dictionary would keep the second only.
    assert_eq!(
        SecurityHeadersBuilder::new()
            .reporting_endpoint("csp", "/reports")
            .reporting_endpoint("csp", "/other")
            .build()
            .unwrap_err(),
        ConfigError::DuplicateReportingEndpoint("csp".into())
    );
}

#[test]
fn report_only_policies_must_report_and_cannot_sandbox() {
    let report_only = |policy: ContentSecurityPolicy| {
        SecurityHeadersBuilder::new()
            .content_security_policy_report_only(policy)
            .build()
            .map(|_| ())
    };
    assert_eq!(
        report_only(ContentSecurityPolicy::new().default_src([Source::SelfOrigin])),
        Err(ConfigError::Csp(CspError::ReportOnlyWithoutReporting))
    );
    assert_eq!(
        report_only(
            ContentSecurityPolicy::new()
                .sandbox(Vec::<String>::new())
                .report_uri("/r")
        ),
        Err(ConfigError::Csp(CspError::SandboxInReportOnly))
    );
    assert_eq!(
        report_only(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .upgrade_insecure_requests(true)
                .report_uri("/r")
        ),
        Err(ConfigError::Csp(CspError::UpgradeInReportOnly))
    );
    assert_eq!(
        report_only(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .report_uri("/a;b")
        ),
        Err(ConfigError::Csp(CspError::InvalidReportUri("/a;b".into())))
    );
    assert_eq!(
        report_only(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .report_uri("/r")
        ),
        Ok(())
    );
}

#[test]
fn custom_headers_cannot_bypass_typed_setters_or_framing() {
    for name in [
        "Content-Length",
        "Transfer-Encoding",
        "Set-Cookie",
        "Connection",
        "Content-Security-Policy",
        "Strict-Transport-Security",
        "Access-Control-Allow-Origin",
    ] {
        assert_eq!(
            SecurityHeadersBuilder::new()
                .header(name, "x")
                .build()
                .unwrap_err(),
            ConfigError::NotACustomHeader(name.into()),
            "{name}"
        );
    }
}

#[test]
fn naming_a_header_the_layer_does_not_set_is_an_error() {
    assert_eq!(
        SecurityHeadersBuilder::json_api()
            .without(X_FRAME_OPTIONS)
            .build()
            .unwrap_err(),
        ConfigError::HeaderNotSet("x-frame-options".into())
    );
    assert_eq!(
        SecurityHeadersBuilder::json_api()
            .mode_for(http::header::ETAG, Mode::Overwrite)
            .build()
            .unwrap_err(),
        ConfigError::HeaderNotSet("etag".into())
    );
}

#[test]
fn report_urls() {
    assert!(!is_report_url("http://localhost:1@evil.example/r"));
    assert!(!is_report_url("https://user@reports.example.com/r"));
    assert!(!is_report_url("https://?"));
    assert!(!is_report_url("https:///path"));
    assert!(!is_report_url("http://localhost.evil.example/r"));
    assert!(!is_report_url("http://127.0.0.1:99999/r"));
    assert!(is_report_url("http://localhost/r?x=1"));
    assert!(is_report_url("/csp-report"));
    assert!(is_report_url("https://reports.example.com/csp"));
    assert!(is_report_url("http://localhost:3000/csp"));
    assert!(is_report_url("http://127.0.0.1/csp"));
    assert!(is_report_url("http://[::1]:8080/csp"));
    assert!(!is_report_url("http://reports.example.com/csp"));
    assert!(!is_report_url("//evil.example.com/csp"));
    assert!(!is_report_url("https://a.com/\"x"));
    assert!(!is_report_url("https://a.com/x,y"));
}

#[test]
fn builder_errors() {
    assert_eq!(
        SecurityHeadersBuilder::new()
            .hsts(Hsts::new(HSTS_PRELOAD_MIN_AGE).preload(true))
            .build()
            .unwrap_err(),
        ConfigError::HstsPreloadRequirements
    );
    assert_eq!(
        SecurityHeadersBuilder::new()
            .cache_control("no-store\r\nSet-Cookie: a=b")
            .build()
            .unwrap_err(),
        ConfigError::InvalidCacheControl("no-store\r\nSet-Cookie: a=b".into())
    );
    assert_eq!(
        SecurityHeadersBuilder::new()
            .header("Expect-CT", "max-age=0")
            .build()
            .unwrap_err(),
        ConfigError::DeprecatedHeader("Expect-CT".into())
    );
    assert_eq!(
        SecurityHeadersBuilder::new()
            .header("X-XSS-Protection", "1; mode=block")
            .build()
            .unwrap_err(),
        ConfigError::DeprecatedHeader("X-XSS-Protection".into())
    );
    assert_eq!(
        SecurityHeadersBuilder::new()
            .header("bad name", "x")
            .build()
            .unwrap_err(),
        ConfigError::InvalidHeader("bad name".into())
    );
    assert_eq!(
        SecurityHeadersBuilder::new()
            .reporting_endpoint("csp", "http://reports.example.com")
            .build()
            .unwrap_err(),
        ConfigError::InvalidReportingEndpoint {
            name: "csp".into(),
            url: "http://reports.example.com".into()
        }
    );
}

// Typed values of the other headers.

#[test]
fn hsts_renders_and_checks_preload_requirements() {
    assert_eq!(
        Hsts::recommended().to_string(),
        "max-age=31536000; includeSubDomains; preload"
    );
    assert_eq!(
        Hsts::new(Duration::from_secs(600)).to_string(),
        "max-age=600"
    );
    assert!(Hsts::recommended().is_preloadable());
    assert!(
        !Hsts::new(HSTS_PRELOAD_MIN_AGE)
            .preload(true)
            .is_preloadable()
    );
    assert!(
        !Hsts::new(Duration::from_secs(86_400))
            .include_subdomains(true)
            .preload(true)
            .is_preloadable()
    );
}

#[test]
fn permissions_policy_renders_structured_field() {
    let policy = PermissionsPolicy::recommended()
        .allow_self("fullscreen")
        .allow(
            "payment",
            [Allow::SelfOrigin, "https://pay.example.com".into()],
        )
        .allow("autoplay", [Allow::Any])
        .deny("camera");
    assert_eq!(
        policy.render().unwrap(),
        r#"camera=(), microphone=(), geolocation=(), fullscreen=(self), payment=(self "https://pay.example.com"), autoplay=*"#
    );
}

#[test]
fn permissions_policy_refuses_bad_names_and_origins() {
    assert_eq!(
        PermissionsPolicy::new().deny("Camera").render(),
        Err(PermissionsPolicyError::InvalidFeature("Camera".into()))
    );
    assert_eq!(
        PermissionsPolicy::new().deny("camera=*, x").render(),
        Err(PermissionsPolicyError::InvalidFeature("camera=*, x".into()))
    );
    assert_eq!(
        PermissionsPolicy::new()
            .allow("geolocation", ["https://a.com\", *"])
            .render(),
        Err(PermissionsPolicyError::InvalidOrigin(
            "https://a.com\", *".into()
        ))
    );
    assert_eq!(
        PermissionsPolicy::new()
            .allow("geolocation", ["maps.example.com"])
            .render(),
        Err(PermissionsPolicyError::InvalidOrigin(
            "maps.example.com".into()
        ))
    );
    assert_eq!(
        PermissionsPolicy::new().render(),
        Err(PermissionsPolicyError::Empty)
    );
}

#[test]
fn origins() {
    assert!(is_origin("https://a.example.com"));
    assert!(is_origin("http://127.0.0.1:8080"));
    assert!(is_origin("http://[::1]:3000"));
    assert!(is_origin("http://[::1]"));
    assert!(!is_origin("http://[::1]x"));
    assert!(!is_origin("https://a.example.com/path"));
    assert!(!is_origin("https://"));
    assert!(!is_origin("https://a.com:"));
    assert!(is_origin("https://*.example.com"));
    assert!(!is_origin("http://["));
    assert!(!is_origin("x://a*b:1:2"));
    assert!(!is_origin("https://a.com:65536"));
    assert!(!is_origin("https://a..com"));
}

#[test]
fn the_owasp_removal_list_is_valid_names_all_stripped() {
    // Every entry is a valid lowercase header name, so none is silently skipped.
    for name in OWASP_REMOVED_HEADERS {
        assert_eq!(
            http::HeaderName::try_from(*name)
                .ok()
                .map(|n| n.as_str().to_owned()),
            Some((*name).to_owned()),
            "{name:?}"
        );
    }
    let layer = SecurityHeadersBuilder::new()
        .strip_owasp_list()
        .strip_owasp_list()
        .build()
        .unwrap();
    // `server` and `x-powered-by` are on the list: no duplicates.
    assert_eq!(layer.compiled.strip.len(), OWASP_REMOVED_HEADERS.len());
    let mut leaky = HeaderMap::new();
    for name in OWASP_REMOVED_HEADERS {
        leaky.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static("x"),
        );
    }
    leaky.insert("x-kept", http::HeaderValue::from_static("1"));
    let headers = applied(&layer, leaky);
    assert_eq!(headers.len(), 1);
    assert_eq!(headers["x-kept"], "1");
}
