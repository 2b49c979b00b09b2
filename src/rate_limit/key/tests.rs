use super::*;
use crate::rate_limit::PeerAddr;
use http::Request;

fn key(by: &KeyBy, req: &Request<()>) -> Option<String> {
    let ip = ClientIp::peer();
    let cx = KeyContext {
        head: RequestHead::of(req),
        client_ip: &ip,
        principal: req.extensions().get::<Principal>(),
    };
    let mut out = KeyBuf::new();
    by.write(&cx, &mut out)
        .then(|| KeyBy::display(&out).to_string())
}

fn request() -> Request<()> {
    let mut req = Request::get("/search?q=x")
        .header("x-api-key", "ak_live_secret")
        .header("x-tenant", "acme")
        .body(())
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr("203.0.113.7:5000".parse().unwrap()));
    req
}

#[test]
fn parts_and_composites() {
    let mut req = request();
    assert_eq!(key(&KeyBy::ip(), &req).unwrap(), "ip=203.0.113.7");
    assert_eq!(
        key(&KeyBy::principal_or_ip(), &req).unwrap(),
        "ip=203.0.113.7"
    );
    assert_eq!(key(&KeyBy::subject(), &req), None);
    assert_eq!(key(&KeyBy::tier(), &req).unwrap(), r#"text="anonymous""#);
    // No MatchedPath here and no template declared: missing, never the raw path.
    assert_eq!(key(&KeyBy::route().and(KeyBy::ip()), &req), None);
    assert_eq!(
        key(
            &KeyBy::route_templates(["/posts/{id}", "/search"]).and(KeyBy::ip()),
            &req
        )
        .unwrap(),
        r#"text="/search",ip=203.0.113.7"#
    );
    assert_eq!(
        key(&KeyBy::header(HeaderName::from_static("x-tenant")), &req).unwrap(),
        r#"text="acme""#
    );
    assert_eq!(
        key(&KeyBy::header(HeaderName::from_static("x-none")), &req),
        None
    );
    assert_eq!(key(&KeyBy::global(), &req).unwrap(), "global");
    // The X-API-Key header alone is no key: the client chose it, nothing validated it.
    assert_eq!(key(&KeyBy::api_key(), &req), None);
    let custom = KeyBy::custom(|r| Some(r.method().to_string()));
    assert_eq!(key(&custom, &req).unwrap(), r#"text="GET""#);

    req.extensions_mut().insert(
        Principal::builder("jane", AuthMethod::Basic)
            .tier(crate::auth::Tier::PREMIUM)
            .build(),
    );
    assert_eq!(
        key(&KeyBy::principal_or_ip(), &req).unwrap(),
        r#"subject="jane""#
    );
    assert_eq!(key(&KeyBy::subject(), &req).unwrap(), r#"subject="jane""#);
    assert_eq!(key(&KeyBy::tier(), &req).unwrap(), r#"text="premium""#);
    // A Basic principal has no validated API key.
    assert_eq!(key(&KeyBy::api_key(), &req), None);

    // The key id that ApiKeyAuth validated is the key.
    req.extensions_mut().insert(
        Principal::builder("app", AuthMethod::ApiKey)
            .key_id("k_123")
            .build(),
    );
    assert_eq!(key(&KeyBy::api_key(), &req).unwrap(), r#"text="k_123""#);
}

#[test]
fn route_templates_match_whole_segments() {
    let at = |path: &str| {
        let mut req = Request::get(path).body(()).unwrap();
        req.extensions_mut()
            .insert(PeerAddr("203.0.113.7:5000".parse().unwrap()));
        req
    };
    let by = KeyBy::route_templates(["/posts", "/posts/{id}", "/files/{*rest}"]);
    assert_eq!(key(&by, &at("/posts")).unwrap(), r#"text="/posts""#);
    assert_eq!(key(&by, &at("/posts/1")).unwrap(), r#"text="/posts/{id}""#);
    assert_eq!(
        key(&by, &at("/posts/2?x=1")).unwrap(),
        r#"text="/posts/{id}""#
    );
    assert_eq!(
        key(&by, &at("/files/a/b")).unwrap(),
        r#"text="/files/{*rest}""#
    );
    assert_eq!(key(&by, &at("/posts/1/comments")), None);
    assert_eq!(key(&by, &at("/other")), None);
    assert!(by.invalid_template().is_none());
    let bad = KeyBy::route_templates(["/ok", "posts/{id}"]);
    assert_eq!(
        bad.invalid_template(),
        Some(("posts/{id}", "a route template starts with `/`"))
    );
}

#[test]
fn long_text_is_digested_and_lengths_separate_parts() {
    let req = request();
    let long = "x".repeat(1000);
    let by = KeyBy::custom(move |_| Some(long.clone()));
    assert!(key(&by, &req).unwrap().starts_with("sha256="));
    let ab_c = KeyBy::custom(|_| Some("ab".into())).and(KeyBy::custom(|_| Some("c".into())));
    let a_bc = KeyBy::custom(|_| Some("a".into())).and(KeyBy::custom(|_| Some("bc".into())));
    assert_ne!(key(&ab_c, &req), key(&a_bc, &req));
}

#[test]
fn a_header_key_reads_the_field_as_rfc_9110_does() {
    let tenant = KeyBy::header(HeaderName::from_static("x-tenant"));
    let with = |values: &[&[u8]]| {
        let mut req = Request::get("/").body(()).unwrap();
        for v in values {
            req.headers_mut()
                .append("x-tenant", http::HeaderValue::from_bytes(v).unwrap());
        }
        key(&tenant, &req)
    };
    // Whitespace around the value is not part of it (RFC 9110 section 5.5).
    assert_eq!(with(&[b" \tacme \t"]).unwrap(), r#"text="acme""#);
    // A repeated field is its comma-joined list (section 5.3): never only the first line,
    // which a client would choose in front of a value a gateway appended.
    assert_eq!(with(&[b"evil", b" acme"]).unwrap(), r#"text="evil, acme""#);
    assert_eq!(with(&[b"evil, acme"]), with(&[b"evil", b"acme"]));
    assert_ne!(with(&[b"acme"]), with(&[b"evil", b"acme"]));
    // Long lists are digested as read, the same digest as the one-line form.
    let long = vec![b'a'; 300];
    let mut one_line = long.clone();
    one_line.extend_from_slice(b", b");
    let split = with(&[&long, b"b"]).unwrap();
    assert!(split.starts_with("sha256="), "{split}");
    assert_eq!(Some(split), with(&[&one_line]));
    // The header missing altogether is a missing key; an empty one is a key.
    assert_eq!(with(&[]), None);
    assert_eq!(with(&[b"  "]).unwrap(), r#"text="""#);
}
