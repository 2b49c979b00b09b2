//! SecurityHeadersLayer through real axum Routers and over a real TCP socket.

mod common;

use std::collections::BTreeMap;

use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use common::{call, raw, request, serve};
use http::header::{HeaderName, X_FRAME_OPTIONS};
use http::{HeaderMap, StatusCode};
use tower_shield::security_headers::{
    ConfigError, ContentSecurityPolicy, CspError, CspNonce, Directive, Hsts, Mode,
    SecurityHeadersBuilder, SecurityHeadersLayer, Source,
};

fn as_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn plain_app(layer: SecurityHeadersLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/leaky",
            get(|| async {
                (
                    [
                        ("server", "nginx/1.0 (Ubuntu)"),
                        ("x-powered-by", "PHP/5.6"),
                    ],
                    "ok",
                )
            }),
        )
        .route(
            "/cached",
            get(|| async {
                (
                    [
                        ("cache-control", "public, max-age=60"),
                        ("x-frame-options", "SAMEORIGIN"),
                    ],
                    "ok",
                )
            }),
        )
        .layer(layer)
}

#[tokio::test]
async fn json_api_preset_sends_exactly_its_headers() {
    let (status, headers, body) =
        call(&plain_app(SecurityHeadersLayer::json_api()), request("/")).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, b"ok".as_ref()));
    assert_eq!(
        as_map(&headers),
        expected(&[
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", "2"),
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains; preload"
            ),
            ("x-content-type-options", "nosniff"),
            (
                "cache-control",
                "no-store, no-cache, must-revalidate, private"
            ),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'"
            ),
            ("referrer-policy", "no-referrer"),
        ])
    );
}

#[tokio::test]
async fn web_app_preset_sends_exactly_its_headers() {
    let (_, headers, _) = call(&plain_app(SecurityHeadersLayer::web_app()), request("/")).await;
    assert_eq!(
        as_map(&headers),
        expected(&[
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", "2"),
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains; preload"
            ),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            (
                "content-security-policy",
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                 base-uri 'self'; form-action 'self'"
            ),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            (
                "permissions-policy",
                "camera=(), microphone=(), geolocation=()"
            ),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
            (
                "cache-control",
                "no-store, no-cache, must-revalidate, private"
            ),
            ("x-xss-protection", "0"),
        ])
    );
}

#[tokio::test]
async fn presets_built_through_the_builder_send_the_same_headers() {
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
        let (_, a, _) = call(&plain_app(preset), request("/")).await;
        let (_, b, _) = call(&plain_app(builder.build().unwrap()), request("/")).await;
        assert_eq!(as_map(&a), as_map(&b));
    }
}

#[tokio::test]
async fn server_and_powered_by_are_removed() {
    let (_, headers, _) = call(
        &plain_app(SecurityHeadersLayer::json_api()),
        request("/leaky"),
    )
    .await;
    assert!(headers.get("server").is_none());
    assert!(headers.get("x-powered-by").is_none());

    let keep = SecurityHeadersBuilder::json_api()
        .strip_nothing()
        .build()
        .unwrap();
    let (_, headers, _) = call(&plain_app(keep), request("/leaky")).await;
    assert_eq!(headers["server"], "nginx/1.0 (Ubuntu)");
    assert_eq!(headers["x-powered-by"], "PHP/5.6");
}

#[tokio::test]
async fn handler_headers_are_kept_by_default() {
    let (_, headers, _) = call(
        &plain_app(SecurityHeadersLayer::web_app()),
        request("/cached"),
    )
    .await;
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
    assert_eq!(headers.get_all("cache-control").iter().count(), 1);
}

#[tokio::test]
async fn overwrite_mode_enforces_the_layer_values() {
    let all = SecurityHeadersBuilder::web_app()
        .mode(Mode::Overwrite)
        .build()
        .unwrap();
    let (_, headers, _) = call(&plain_app(all), request("/cached")).await;
    assert_eq!(
        headers["cache-control"],
        "no-store, no-cache, must-revalidate, private"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers.get_all("x-frame-options").iter().count(), 1);

    let one = SecurityHeadersBuilder::web_app()
        .mode_for(X_FRAME_OPTIONS, Mode::Overwrite)
        .build()
        .unwrap();
    let (_, headers, _) = call(&plain_app(one), request("/cached")).await;
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn the_builder_sets_replaces_and_drops_headers() {
    let layer = SecurityHeadersBuilder::json_api()
        .hsts(Hsts::new(std::time::Duration::from_secs(600)))
        .cache_control("no-store, no-cache, must-revalidate, private")
        .without(HeaderName::from_static("referrer-policy"))
        .header("X-Permitted-Cross-Domain-Policies", "none")
        .cross_origin_embedder_policy(
            tower_shield::security_headers::CrossOriginEmbedderPolicy::RequireCorp,
        )
        .build()
        .unwrap();
    let (_, headers, _) = call(&plain_app(layer), request("/")).await;
    assert_eq!(
        as_map(&headers),
        expected(&[
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", "2"),
            ("strict-transport-security", "max-age=600"),
            ("x-content-type-options", "nosniff"),
            (
                "cache-control",
                "no-store, no-cache, must-revalidate, private"
            ),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'"
            ),
            ("cross-origin-embedder-policy", "require-corp"),
            ("x-permitted-cross-domain-policies", "none"),
        ])
    );
}

#[tokio::test]
async fn error_responses_get_the_headers_too() {
    // The Router's own 404 (its fallback), and a handler's 500.
    let app = plain_app(SecurityHeadersLayer::json_api());
    let (status, headers, _) = call(&app, request("/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["cache-control"],
        "no-store, no-cache, must-revalidate, private"
    );
    let app = Router::new()
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(SecurityHeadersLayer::json_api());
    let (status, headers, _) = call(&app, request("/boom")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}

fn nonce_app(layer: SecurityHeadersLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|nonce: CspNonce| async move {
                Html(format!(r#"<script nonce="{nonce}">go()</script>"#)).into_response()
            }),
        )
        .layer(layer)
}

#[tokio::test]
async fn each_response_gets_a_fresh_nonce_that_the_handler_sees() {
    let layer = SecurityHeadersBuilder::web_app()
        .content_security_policy(
            ContentSecurityPolicy::web_app()
                .script_src([Source::SelfOrigin, Source::Nonce])
                .style_src([Source::SelfOrigin, Source::Nonce]),
        )
        .build()
        .unwrap();
    let app = nonce_app(layer);
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let (_, headers, body) = call(&app, request("/")).await;
        let body = std::str::from_utf8(&body).unwrap();
        let nonce = body
            .strip_prefix(r#"<script nonce=""#)
            .and_then(|rest| rest.strip_suffix(r#"">go()</script>"#))
            .unwrap()
            .to_owned();
        assert_eq!(nonce.len(), 22);
        assert_eq!(
            headers["content-security-policy"],
            format!(
                "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; \
                 img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                 base-uri 'self'; form-action 'self'"
            )
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1]);
}

#[tokio::test]
async fn report_only_policy_with_reporting_endpoints() {
    let layer = SecurityHeadersBuilder::new()
        .content_security_policy(ContentSecurityPolicy::new().default_src([Source::SelfOrigin]))
        .content_security_policy_report_only(
            ContentSecurityPolicy::new()
                .default_src([Source::None])
                .script_src([Source::Nonce])
                .report_uri("/csp-report")
                .report_to("csp"),
        )
        .reporting_endpoint("csp", "https://reports.example.com/csp")
        .reporting_endpoint("default", "/reports")
        .build()
        .unwrap();
    let (_, headers, body) = call(&nonce_app(layer), request("/")).await;
    let body = std::str::from_utf8(&body).unwrap();
    let nonce = &body[15..37];
    assert_eq!(headers["content-security-policy"], "default-src 'self'");
    assert_eq!(
        headers["content-security-policy-report-only"],
        format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; report-uri /csp-report; report-to csp"
        )
    );
    assert_eq!(
        headers["reporting-endpoints"],
        r#"csp="https://reports.example.com/csp", default="/reports""#
    );
}

#[tokio::test]
async fn a_nonce_extractor_without_a_nonce_policy_is_a_generic_500() {
    let (status, headers, body) =
        call(&nonce_app(SecurityHeadersLayer::web_app()), request("/")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#internal-error","title":"Internal Server Error","status":500,"detail":"The server could not handle this request."}"#
    );
}

#[tokio::test]
async fn overwrite_mode_replaces_a_handler_csp_with_the_nonce_policy() {
    let layer = SecurityHeadersBuilder::new()
        .content_security_policy(ContentSecurityPolicy::new().script_src([Source::Nonce]))
        .mode(Mode::Overwrite)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|nonce: CspNonce| async move {
                (
                    [("content-security-policy", "script-src *")],
                    nonce.to_string(),
                )
            }),
        )
        .layer(layer);
    let (_, headers, body) = call(&app, request("/")).await;
    let nonce = std::str::from_utf8(&body).unwrap();
    assert_eq!(headers.get_all("content-security-policy").iter().count(), 1);
    assert_eq!(
        headers["content-security-policy"],
        format!("script-src 'nonce-{nonce}'")
    );
}

#[tokio::test]
async fn dropping_a_nonce_policy_drops_the_nonce_too() {
    let layer = SecurityHeadersBuilder::web_app()
        .content_security_policy(
            ContentSecurityPolicy::web_app().script_src([Source::SelfOrigin, Source::Nonce]),
        )
        .without(HeaderName::from_static("content-security-policy"))
        .build()
        .unwrap();
    let (status, headers, _) = call(&nonce_app(layer), request("/")).await;
    assert!(headers.get("content-security-policy").is_none());
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "no nonce was made"
    );
}

#[test]
fn invalid_policies_are_build_errors_not_panics() {
    let csp_err = |policy: ContentSecurityPolicy| match SecurityHeadersBuilder::json_api()
        .content_security_policy(policy)
        .build()
    {
        Err(ConfigError::Csp(e)) => e,
        other => panic!("accepted: {other:?}"),
    };
    assert_eq!(
        csp_err(ContentSecurityPolicy::new().script_src(["https://cdn.example.com; script-src *"])),
        CspError::InvalidSource {
            directive: Directive::ScriptSrc,
            source: "https://cdn.example.com; script-src *".into(),
            reason: "';' and ',' would end the directive or the policy",
        }
    );
    assert_eq!(
        csp_err(ContentSecurityPolicy::new().img_src(["https://a.example.com\r\nSet-Cookie: x=1"])),
        CspError::InvalidSource {
            directive: Directive::ImgSrc,
            source: "https://a.example.com\r\nSet-Cookie: x=1".into(),
            reason: "whitespace, control and non-ASCII characters are not allowed",
        }
    );
    assert_eq!(
        csp_err(ContentSecurityPolicy::new().script_src(["nonce-r4nd0m"])),
        CspError::InvalidSource {
            directive: Directive::ScriptSrc,
            source: "nonce-r4nd0m".into(),
            reason: "nonces and hashes must be single-quoted",
        }
    );
    assert_eq!(
        csp_err(ContentSecurityPolicy::new().default_src(["self"])),
        CspError::InvalidSource {
            directive: Directive::DefaultSrc,
            source: "self".into(),
            reason: "keywords must be single-quoted (or use the Source variant)",
        }
    );
    let report_only = SecurityHeadersBuilder::new()
        .content_security_policy_report_only(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .report_uri("/a;b"),
        )
        .build();
    assert_eq!(
        report_only.unwrap_err(),
        ConfigError::Csp(CspError::InvalidReportUri("/a;b".into()))
    );
    assert_eq!(
        SecurityHeadersBuilder::new()
            .hsts(
                Hsts::new(std::time::Duration::from_secs(60))
                    .include_subdomains(true)
                    .preload(true)
            )
            .build()
            .unwrap_err(),
        ConfigError::HstsPreloadRequirements
    );
}

#[tokio::test]
async fn over_tcp_the_headers_reach_the_client_and_server_is_gone() {
    let app = plain_app(SecurityHeadersLayer::json_api());
    let addr = serve(app).await;
    let res = raw(addr, b"GET /leaky HTTP/1.1").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"ok");
    assert_eq!(res.header("x-powered-by"), None);
    res.assert_json_api_headers();
    assert_eq!(res.header("x-xss-protection"), None);
    assert_eq!(res.header("expect-ct"), None);
}
