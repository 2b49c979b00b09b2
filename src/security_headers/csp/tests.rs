use super::nonce::base64url_16;
use super::*;

fn fixed(policy: &ContentSecurityPolicy) -> String {
    match policy.compile().unwrap() {
        Template::Fixed(v) => v.to_str().unwrap().to_owned(),
        Template::Nonce(_) => panic!("unexpected nonce"),
    }
}

fn invalid(source: &'static str) -> &'static str {
    match ContentSecurityPolicy::new()
        .script_src([Source::from(source)])
        .compile()
    {
        Err(CspError::InvalidSource { reason, .. }) => reason,
        other => panic!("{source:?} accepted: {other:?}"),
    }
}

#[test]
fn presets_render_the_documented_policies() {
    assert_eq!(
        fixed(&ContentSecurityPolicy::json_api()),
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(
        fixed(&ContentSecurityPolicy::web_app()),
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
         base-uri 'self'; form-action 'self'"
    );
}

#[test]
fn every_part_renders_in_order() {
    let policy = ContentSecurityPolicy::new()
        .default_src([Source::SelfOrigin])
        .img_src(["https://*.example.com:8443/img/", "data:", "blob:"])
        .script_src(["'sha256-abc+/=' ", "x"].map(|s| Source::from(s.trim())))
        .script_src([
            Source::StrictDynamic,
            "'sha384-OqLDbBpKhvG3ScdXI2PdIX8ioAIFJXiVr8vRIaBmIUZKnuDTqFB8d6gA6mvEmTJV'".into(),
        ])
        .upgrade_insecure_requests(true)
        .sandbox(["allow-forms", "allow-scripts"])
        .require_trusted_types_for_script(true)
        .report_uri("/csp-report")
        .report_uri("https://reports.example.com/csp")
        .report_to("csp-endpoint");
    assert_eq!(
        fixed(&policy),
        "default-src 'self'; img-src https://*.example.com:8443/img/ data: blob:; \
         script-src 'strict-dynamic' 'sha384-OqLDbBpKhvG3ScdXI2PdIX8ioAIFJXiVr8vRIaBmIUZKnuDTqFB8d6gA6mvEmTJV'; upgrade-insecure-requests; \
         sandbox allow-forms allow-scripts; require-trusted-types-for 'script'; \
         report-uri /csp-report https://reports.example.com/csp; report-to csp-endpoint"
    );
}

#[test]
fn nonce_slots_split_the_template() {
    let policy = ContentSecurityPolicy::new()
        .script_src([Source::SelfOrigin, Source::Nonce])
        .style_src([Source::Nonce]);
    assert!(policy.uses_nonce());
    let template = policy.compile().unwrap();
    let nonce = CspNonce::generate();
    let n = nonce.as_str();
    assert_eq!(
        template.render(&nonce).to_str().unwrap(),
        format!("script-src 'self' 'nonce-{n}'; style-src 'nonce-{n}'")
    );
}

#[test]
fn injection_and_malformed_sources_are_refused() {
    assert_eq!(
        invalid("https://a.com; script-src *"),
        "';' and ',' would end the directive or the policy"
    );
    assert_eq!(
        invalid("https://a.com,b"),
        "';' and ',' would end the directive or the policy"
    );
    assert_eq!(
        invalid("https://a.com\nX-Injected: 1"),
        "whitespace, control and non-ASCII characters are not allowed"
    );
    assert_eq!(
        invalid("https://exämple.com"),
        "whitespace, control and non-ASCII characters are not allowed"
    );
    assert_eq!(
        invalid("self"),
        "keywords must be single-quoted (or use the Source variant)"
    );
    assert_eq!(
        invalid("nonce-abc123"),
        "nonces and hashes must be single-quoted"
    );
    assert_eq!(
        invalid("'nonce-abc123'"),
        "a fixed nonce defeats its purpose; use Source::Nonce for a fresh one"
    );
    assert_eq!(invalid("'sha256-!!'"), "the hash is not base64");
    assert_eq!(
        invalid("'sha256-abc'"),
        "the hash has the wrong length for its algorithm"
    );
    assert_eq!(
        invalid("'sha512-RFWPLDbv2BY+rCkDzsE+0fr8ylGr2R2faWMhq4lfEQc='"),
        "the hash has the wrong length for its algorithm"
    );
    assert_eq!(
        invalid("https://a.com/x?y"),
        "a source's path takes only path characters (no query or fragment)"
    );
    assert_eq!(
        invalid("https://a.com/x#frag"),
        "a source's path takes only path characters (no query or fragment)"
    );
    assert_eq!(
        invalid("https://a.com/%zz"),
        "a source's path takes only path characters (no query or fragment)"
    );
    assert_eq!(invalid("https://a.com:99999"), "malformed port");
    assert_eq!(invalid("'self"), "unbalanced quote");
    assert_eq!(invalid("'selfish'"), "unknown quoted keyword");
    assert_eq!(invalid("https://a.com:80x"), "malformed port");
    assert_eq!(invalid("https://a..com"), "malformed host");
    assert_eq!(invalid("1http://a.com"), "malformed scheme");
    assert_eq!(invalid(""), "empty");
}

#[test]
fn valid_sources_the_grammar_allows() {
    let policy = ContentSecurityPolicy::new().script_src([
        "'sha256-RFWPLDbv2BY+rCkDzsE+0fr8ylGr2R2faWMhq4lfEQc='",
        "'sha384-OqLDbBpKhvG3ScdXI2PdIX8ioAIFJXiVr8vRIaBmIUZKnuDTqFB8d6gA6mvEmTJV'",
        "example.com.",
        "a.com/x://y",
        "https://cdn.example.com/js/app%20v1.js",
        "https://*.example.com:*",
        // Source expressions are matched without case (CSP Level 3, section 2.3.1).
        "'SELF'",
        "'Strict-Dynamic'",
        "'SHA256-RFWPLDbv2BY+rCkDzsE+0fr8ylGr2R2faWMhq4lfEQc='",
    ]);
    assert!(policy.compile().is_ok(), "{:?}", policy.compile());
    // And so are `'none'` alone and the fixed nonce refused.
    assert_eq!(
        ContentSecurityPolicy::new()
            .default_src(["'NONE'".into(), Source::SelfOrigin])
            .compile()
            .unwrap_err(),
        CspError::NoneWithOtherSources(Directive::DefaultSrc)
    );
    assert_eq!(
        invalid("'NONCE-abc123'"),
        "a fixed nonce defeats its purpose; use Source::Nonce for a fresh one"
    );
}

#[test]
fn structural_errors() {
    assert_eq!(
        ContentSecurityPolicy::new()
            .default_src(["'none'".into(), Source::SelfOrigin])
            .compile()
            .unwrap_err(),
        CspError::NoneWithOtherSources(Directive::DefaultSrc)
    );
    assert_eq!(
        ContentSecurityPolicy::new()
            .default_src([Source::SelfOrigin])
            .report_to("CSP")
            .compile()
            .unwrap_err(),
        CspError::InvalidReportTo("CSP".into())
    );
    assert_eq!(
        ContentSecurityPolicy::new()
            .default_src([Source::None, Source::SelfOrigin])
            .compile()
            .unwrap_err(),
        CspError::NoneWithOtherSources(Directive::DefaultSrc)
    );
    assert_eq!(
        ContentSecurityPolicy::new()
            .img_src(Vec::<Source>::new())
            .compile()
            .unwrap_err(),
        CspError::EmptySourceList(Directive::ImgSrc)
    );
    assert_eq!(
        ContentSecurityPolicy::new()
            .img_src([Source::Nonce])
            .compile()
            .unwrap_err(),
        CspError::NonceNotAllowed(Directive::ImgSrc)
    );
    assert!(matches!(
        ContentSecurityPolicy::new()
            .frame_ancestors([Source::UnsafeInline])
            .compile(),
        Err(CspError::InvalidSource {
            directive: Directive::FrameAncestors,
            ..
        })
    ));
    assert_eq!(
        ContentSecurityPolicy::new()
            .default_src([Source::SelfOrigin])
            .report_uri("/a b")
            .compile()
            .unwrap_err(),
        CspError::InvalidReportUri("/a b".into())
    );
    assert_eq!(
        ContentSecurityPolicy::new()
            .default_src([Source::SelfOrigin])
            .report_to("a;b")
            .compile()
            .unwrap_err(),
        CspError::InvalidReportTo("a;b".into())
    );
    assert_eq!(
        ContentSecurityPolicy::new()
            .sandbox(["allow-everything"])
            .compile()
            .unwrap_err(),
        CspError::InvalidSandboxToken("allow-everything".into())
    );
    assert_eq!(
        ContentSecurityPolicy::new().compile().unwrap_err(),
        CspError::Empty
    );
}

#[test]
fn setting_a_directive_again_replaces_it_in_place() {
    let policy = ContentSecurityPolicy::json_api().default_src([Source::SelfOrigin]);
    assert_eq!(fixed(&policy), "default-src 'self'; frame-ancestors 'none'");
}

#[test]
fn nonces_are_base64url_and_distinct() {
    let a = CspNonce::generate();
    let b = CspNonce::generate();
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 22);
    assert!(
        a.as_str()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    // Known vector: 16 zero bytes, then 0xff bytes.
    assert_eq!(&base64url_16(&[0; 16]), b"AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(&base64url_16(&[0xff; 16]), b"_____________________w");
}
