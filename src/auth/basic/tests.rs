use super::*;

fn headers(values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
    }
    map
}

/// What `parse` makes of one header value: `Ok(None)` to skip, the pair, or the detail.
fn parse_one(value: &[u8]) -> Result<Option<(String, String)>, &'static str> {
    parse(&headers(&[value])).map(|c| c.map(|c| (c.username().to_owned(), c.password().to_owned())))
}

fn basic(raw: &[u8]) -> Vec<u8> {
    let mut v = b"Basic ".to_vec();
    v.extend_from_slice(STANDARD.encode(raw).as_bytes());
    v
}

fn pair(u: &str, p: &str) -> Result<Option<(String, String)>, &'static str> {
    Ok(Some((u.to_owned(), p.to_owned())))
}

#[test]
fn parses_rfc_7617_credentials() {
    assert_eq!(
        parse_one(b"Basic amFuZTpwYXNzd29yZDEyMw=="),
        pair("jane", "password123")
    );
    // The RFC's own example.
    assert_eq!(
        parse_one(b"Basic dGVzdDoxMjPCow=="),
        pair("test", "123\u{a3}")
    );
    // The scheme in any case, several spaces before the token, trailing whitespace.
    assert_eq!(
        parse_one(b"basic amFuZTpwYXNzd29yZDEyMw=="),
        pair("jane", "password123")
    );
    assert_eq!(
        parse_one(b"BASIC   amFuZTpwYXNzd29yZDEyMw== "),
        pair("jane", "password123")
    );
    // The first colon ends the username.
    assert_eq!(parse_one(&basic(b"svc:a:b::c:")), pair("svc", "a:b::c:"));
    assert_eq!(parse_one(&basic(b"jane:")), pair("jane", ""));
    assert_eq!(parse_one(&basic(b":secret")), pair("", "secret"));
    assert_eq!(
        parse_one(&basic("zoë:pässwörd".as_bytes())),
        pair("zoë", "pässwörd")
    );
}

#[test]
fn other_schemes_and_no_header_are_skipped() {
    assert_eq!(parse(&HeaderMap::new()).map(|c| c.is_some()), Ok(false));
    for value in [
        &b"Bearer amFuZTpwYXNzd29yZDEyMw=="[..],
        b"Basicx amFuZTpwYXNzd29yZDEyMw==",
        b"Basic\tamFuZTpwYXNzd29yZDEyMw==",
        b"Digest username=\"jane\"",
        b"amFuZTpwYXNzd29yZDEyMw==",
    ] {
        assert_eq!(parse_one(value), Ok(None), "{value:?}");
    }
    // A long header of another scheme is the other authenticator's to refuse.
    let mut bearer = b"Bearer ".to_vec();
    bearer.extend(std::iter::repeat_n(b'a', 10_000));
    assert_eq!(parse_one(&bearer), Ok(None));
}

#[test]
fn malformed_credentials_are_refused() {
    for value in [
        &b"Basic"[..],
        b"Basic ",
        b"Basic !!!!",
        b"Basic amFuZTpwYXNzd29yZDEyMw",    // no padding
        b"Basic amFuZTpwYXNzd29yZDEyMw=",   // short padding
        b"Basic amFuZTpwYXNzd29yZDEyMw===", // extra padding
        b"Basic amFuZTpw YXNzd29yZDEyMw==", // whitespace inside
        b"Basic amFuZTpw\tYXNzd29yZDEyMw==",
        b"Basic amFuZTpwYXNzd29yZDEyMw-_", // URL-safe alphabet
        b"Basic amFuZTpwYXNzd29yZDEyMx==", // non-canonical trailing bits
    ] {
        assert_eq!(parse_one(value), Err(MALFORMED), "{value:?}");
    }
    assert_eq!(parse_one(&basic(b"janepassword123")), Err(MALFORMED));
    assert_eq!(parse_one(&basic(b"jane\xff:password")), Err(MALFORMED));
    assert_eq!(parse_one(&basic(b"ja\x00ne:password")), Err(MALFORMED));
    assert_eq!(parse_one(&basic(b"ja\x1bne:password")), Err(MALFORMED));
    assert_eq!(parse_one(&basic(b"jane\x7f:password")), Err(MALFORMED));
    assert_eq!(parse_one(&basic(b"jane:pass\nword")), Err(MALFORMED));
}

#[test]
fn long_and_repeated_headers_are_refused() {
    let mut long = basic(b"jane:");
    long.extend(std::iter::repeat_n(b'A', MAX_HEADER_LEN));
    assert_eq!(parse_one(&long), Err(TOO_LONG));
    let at_limit = basic(&vec![b'a'; 3000]);
    assert!(at_limit.len() <= MAX_HEADER_LEN);
    assert_eq!(parse_one(&at_limit), Err(MALFORMED)); // decoded, but no colon

    let map = headers(&[
        b"Basic amFuZTpwYXNzd29yZDEyMw==",
        b"Basic amFuZTpwYXNzd29yZDEyMw==",
    ]);
    assert_eq!(parse(&map).err(), Some(MULTIPLE));
    let map = headers(&[b"Bearer x", b"Basic amFuZTpwYXNzd29yZDEyMw=="]);
    assert_eq!(parse(&map).err(), Some(MULTIPLE));
}

#[test]
fn credentials_debug_hides_the_password() {
    let creds = parse(&headers(&[b"Basic amFuZTpwYXNzd29yZDEyMw=="]))
        .unwrap()
        .unwrap();
    let debug = format!("{creds:?}");
    assert!(debug.contains("jane"));
    assert!(!debug.contains("password123"));
}

#[test]
fn builder_checks_the_realm_and_builds_the_challenge() {
    let users = Argon2Users::new();
    let auth = BasicAuth::new(users.clone());
    assert_eq!(
        auth.challenge(None).unwrap(),
        r#"Basic realm="api", charset="UTF-8""#
    );
    let auth = BasicAuth::builder(users.clone())
        .realm("admin area")
        .build()
        .unwrap();
    assert_eq!(
        auth.challenge(None).unwrap(),
        r#"Basic realm="admin area", charset="UTF-8""#
    );
    let failure = AuthError::invalid(AuthMethod::Basic, WRONG);
    assert_eq!(
        auth.challenge(Some(&failure)).unwrap(),
        r#"Basic realm="admin area", charset="UTF-8""#
    );
    for realm in ["a\"b", "a\\b", "caf\u{e9}", "a\nb"] {
        assert_eq!(
            BasicAuth::builder(users.clone()).realm(realm).build().err(),
            Some(ConfigError::InvalidRealm(realm.into())),
        );
    }
}

/// RFC 7617 section 2: the first colon ends the user-id, and control characters are not
/// allowed. A user whose name holds either could never sign in: refused when added.
#[test]
fn user_names_basic_cannot_carry_are_refused() {
    use super::argon2::InvalidPasswordHash;
    // A valid PHC string (argon2id, small parameters): the name is checked first anyway.
    const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$HsfSh1dZbC3GS1kMpWSBjw";
    let users = Argon2Users::new();
    let principal = || Principal::builder("svc", AuthMethod::Basic).build();
    for name in ["svc:1", ":", "a\u{0}b", "tab\there", "del\u{7f}"] {
        assert_eq!(
            users.insert(name, HASH, principal()),
            Err(InvalidPasswordHash::InvalidUsername),
            "{name:?}"
        );
    }
    assert_eq!(users.insert("svc-1", HASH, principal()), Ok(()));
    assert_eq!(users.insert("caf\u{e9}", HASH, principal()), Ok(()));
}
