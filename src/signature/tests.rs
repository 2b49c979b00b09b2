use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::key::{SigningKey, VerifyingKey};
use super::rejection::{Failure, parse_unix_secs};
use super::standard_webhooks::{self, Version};
use super::{github, stripe};

/// The vector of the Standard Webhooks reference libraries' tests.
#[test]
fn standard_webhooks_reference_vector() {
    let secret = standard_webhooks::parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let key = SigningKey::hmac_sha256(&secret);
    let sig = standard_webhooks::sign(
        &key,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    )
    .unwrap();
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "webhook-id",
        "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap(),
    );
    headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
    // A second signature of another key first: any listed one may match.
    let other = "v1,bm90IHRoZSBvbmUgdGhhdCBtYXRjaGVzIGF0IGFsbCE=";
    headers.insert(
        "webhook-signature",
        format!("{other} {sig}").parse().unwrap(),
    );
    let parsed = standard_webhooks::parse(&headers).unwrap();
    let head = parsed.head;
    assert_eq!(head.timestamp, 1_614_265_330);
    let keys = [
        VerifyingKey::hmac_sha256("old", b"another secret"),
        VerifyingKey::hmac_sha256("o", &secret),
    ];
    let (key, id) =
        standard_webhooks::verify(&head, &headers, br#"{"test": 2432232314}"#, &keys).unwrap();
    assert_eq!(
        (key.owner(), id),
        ("o", &b"msg_p5jXN8AQM9LWM0D4loKWxJek"[..])
    );
    assert_eq!(
        standard_webhooks::verify(&head, &headers, br#"{"test": 2432232315}"#, &keys).err(),
        Some(Failure::NoMatchingSignature)
    );
    // The same through the headers as first read (a body at hand).
    let (key, id) =
        standard_webhooks::verify_parsed(&parsed, br#"{"test": 2432232314}"#, &keys).unwrap();
    assert_eq!(
        (key.owner(), id),
        ("o", &b"msg_p5jXN8AQM9LWM0D4loKWxJek"[..])
    );
    assert_eq!(
        standard_webhooks::verify_parsed(&parsed, br#"{"test": 2432232315}"#, &keys).err(),
        Some(Failure::NoMatchingSignature)
    );
    // The same tag written in non-canonical base64 (last character's spare bits set) is not
    // base64 to the engine: refused before the body is read, never compared.
    let mut loose = headers.clone();
    loose.insert(
        "webhook-signature",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="
            .parse()
            .unwrap(),
    );
    assert_eq!(
        standard_webhooks::parse(&loose).map(|parsed| parsed.head),
        Err(Failure::MalformedHeader(
            "webhook-signature",
            "signature is not base64"
        ))
    );
}

/// What `standard_webhooks::parse` said before it searched the headers in one pass: each of
/// the three looked up with `one_header`, then checked (the reference for the test below).
fn parse_by_lookups(headers: &http::HeaderMap) -> Result<standard_webhooks::Head, Failure> {
    use super::rejection::one_header;
    let id = one_header(headers, &standard_webhooks::ID)?;
    if id.len() > 256 || id.bytes().any(|b| b == b'.' || b == b' ') {
        return Err(Failure::MalformedHeader("webhook-id", "not a message id"));
    }
    let text = one_header(headers, &standard_webhooks::TIMESTAMP)?;
    let timestamp = parse_unix_secs(text, "webhook-timestamp")?;
    let signatures = one_header(headers, &standard_webhooks::SIGNATURE)?;
    standard_webhooks::check_signatures(signatures.as_bytes())?;
    Ok(standard_webhooks::Head { timestamp })
}

proptest! {
    /// Timestamps: the one-loop parse of bytes agrees with the standard library's parse of
    /// 1 to 12 ASCII digits, and refuses everything else.
    #[test]
    fn unix_secs_is_a_digit_string_parse(text in "[0-9]{0,14}|[0-9 +\\-a:\\x00\\x7f]{0,13}") {
        let want = (!text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().unwrap());
        prop_assert_eq!(parse_unix_secs(&text, "h").ok(), want);
    }
}

/// The three headers of a test, one value each.
fn three_headers(id: &str, timestamp: &str, signatures: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signatures),
    ] {
        headers.insert(name, http::HeaderValue::from_str(value).unwrap());
    }
    headers
}

proptest! {
    /// The short path for the usual headers accepts only what the general path accepts, and
    /// says the same of it: ids with and without spaces, tabs, dots and other visible ASCII,
    /// timestamps with and without signs, spaces and leading zeros, signature lists of one
    /// `v1` with canonical, loose, padded or badly padded base64, several items, other versions.
    #[test]
    fn the_short_path_agrees_with_the_general_one(
        id in "[!-~]{0,40}|[ -~\t]{0,12}|msg_[a-zA-Z0-9.]{0,30}| ?msg_[a-z]{1,5}\t?",
        timestamp in prop_oneof![
            "[1-9][0-9]{9}",
            "[0-9]{0,14}|[0-9 +]{0,14}|0[0-9]{0,3}",
        ],
        signatures in prop_oneof![
            any::<[u8; 32]>().prop_map(|tag| format!("v1,{}", STANDARD.encode(tag))),
            "v1,[A-Za-z0-9+/]{0,46}={0,2}|v1,[A-Za-z0-9+/=, ]{0,50}| ?v1,[A-Za-z0-9+/]{42,43}=? ?|(v1a?|v2),[A-Za-z0-9]{4}( v1,[A-Za-z0-9]{4})?",
        ],
    ) {
        let headers = three_headers(&id, &timestamp, &signatures);
        let found = standard_webhooks::find(&headers);
        if let Some(usual) = standard_webhooks::parse_usual(&found) {
            prop_assert_eq!(Ok(usual), standard_webhooks::parse_general(found));
        }
    }
}

/// The short path takes the usual headers (and leaves the rest to the general path, which the
/// test above holds it to).
#[test]
fn the_short_path_takes_the_usual_headers() {
    let tag = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let usual = three_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", tag);
    let found = standard_webhooks::find(&usual);
    let parsed = standard_webhooks::parse_usual(&found).unwrap();
    assert_eq!(parsed.head.timestamp, 1_614_265_330);
    assert_eq!(Ok(parsed), standard_webhooks::parse_general(found));
    for (id, timestamp, signatures) in [
        (" msg_1", "1614265330", tag),
        ("msg.1", "1614265330", tag),
        ("msg_1", "+1614265330", tag),
        ("msg_1", "1614265330 ", tag),
        ("msg_1", "1614265330", &format!("{tag} {tag}")),
        ("msg_1", "1614265330", &format!(" {tag}")),
        (
            "msg_1",
            "1614265330",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
        ),
        ("msg_1", "1614265330", "v1a,Zm9v"),
    ] {
        let headers = three_headers(id, timestamp, signatures);
        assert_eq!(
            standard_webhooks::parse_usual(&standard_webhooks::find(&headers)),
            None,
            "{id:?} {timestamp:?} {signatures:?}"
        );
    }
}

/// The values a test header takes: none, one (good or bad), or two.
fn header_values(good: &str) -> Vec<Vec<String>> {
    vec![
        vec![],
        vec![good.to_owned()],
        vec![format!("  {good} ")],
        vec![String::new()],
        vec!["x".repeat(9000)],
        vec![format!("{good}.x")],
        vec![format!("a b\t{good}")],
        vec![format!("{good}\u{e9}\tx")],
        vec![good.to_owned(), good.to_owned()],
    ]
}

/// The one-pass search of small header maps and the lookups of big ones find the same values:
/// every mix of missing, good, padded, empty, too long and repeated headers, among 0 to 40
/// other headers (on both sides of the size where the search changes), gives what the lookups
/// give, the first `Content-Length` included; and a parsed request verifies as one whose
/// headers are looked up again, with one signature listed (compared without reading the list
/// again), a reserved version before it, or an Ed25519 one.
#[test]
fn one_pass_search_agrees_with_lookups() {
    let secret = b"a shared secret of the test".to_vec();
    let key = SigningKey::hmac_sha256(&secret);
    let keys = [VerifyingKey::hmac_sha256("k", &secret)];
    let body = br#"{"type":"invoice.paid"}"#;
    let sig = standard_webhooks::sign(&key, "msg_1", 1_700_000_000, body).unwrap();
    let signature_lists = [
        sig.clone(),
        format!("v2,Zm9v {sig}"),
        format!("{sig} v1a,{}", STANDARD.encode([7u8; 64])),
        "v1,Zm9v".to_owned(),
    ];
    let mut cases = 0;
    for fillers in [0usize, 3, 20, 21, 22, 23, 24, 40] {
        let mut triples = Vec::new();
        for ids in header_values("msg_1") {
            for stamps in header_values("1700000000") {
                for sigs in header_values(&sig) {
                    triples.push((ids.clone(), stamps.clone(), sigs));
                }
            }
        }
        for (ids, stamps, sigs) in triples {
            for lengths in [vec![], vec!["23"], vec!["23", "999999"]] {
                let mut headers = http::HeaderMap::new();
                for i in 0..fillers {
                    headers.append(
                        http::HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                        http::HeaderValue::from_static("v"),
                    );
                }
                for (name, values) in [
                    ("webhook-id", &ids),
                    ("webhook-timestamp", &stamps),
                    ("webhook-signature", &sigs),
                ] {
                    for value in values {
                        headers.append(name, value.parse().unwrap());
                    }
                }
                for length in &lengths {
                    headers.append(http::header::CONTENT_LENGTH, length.parse().unwrap());
                }
                let found = standard_webhooks::find(&headers);
                assert_eq!(
                    found.content_length,
                    headers.get(http::header::CONTENT_LENGTH),
                    "{headers:?}"
                );
                let parsed = standard_webhooks::parse(&headers);
                assert_eq!(
                    parsed.map(|p| p.head),
                    parse_by_lookups(&headers),
                    "{headers:?}"
                );
                cases += 1;
            }
        }
        for list in &signature_lists {
            let mut headers = http::HeaderMap::new();
            for i in 0..fillers {
                headers.append(
                    http::HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                    http::HeaderValue::from_static("v"),
                );
            }
            headers.insert("webhook-id", "msg_1".parse().unwrap());
            headers.insert("webhook-timestamp", "1700000000".parse().unwrap());
            headers.insert("webhook-signature", list.parse().unwrap());
            let parsed = standard_webhooks::parse(&headers).unwrap();
            let at_hand = standard_webhooks::verify_parsed(&parsed, body, &keys)
                .map(|(k, id)| (k.owner().to_owned(), id.to_vec()));
            let again = standard_webhooks::verify(&parsed.head, &headers, body, &keys)
                .map(|(k, id)| (k.owner().to_owned(), id.to_vec()));
            assert_eq!(at_hand, again, "{list}");
            let want = if list.starts_with("v1,Zm9v") {
                Err(Failure::NoMatchingSignature)
            } else {
                Ok(("k".to_owned(), b"msg_1".to_vec()))
            };
            assert_eq!(at_hand, want, "{list}");
            assert_eq!(
                standard_webhooks::verify_parsed(&parsed, b"{}", &keys).err(),
                Some(Failure::NoMatchingSignature),
                "{list}"
            );
        }
    }
    assert_eq!(cases, 8 * 9 * 9 * 9 * 3);
}

/// The listed signatures, decoded (for the tests).
fn listed(text: &str) -> Result<Vec<(Version, Vec<u8>)>, Failure> {
    standard_webhooks::check_signatures(text.as_bytes())?;
    Ok(standard_webhooks::signatures(text.as_bytes())
        .map(|r| {
            let (v, b64) = r.unwrap();
            (v, STANDARD.decode(b64).unwrap())
        })
        .collect())
}

#[test]
fn standard_webhooks_signature_lists() {
    let parsed = listed("v1,Zm9v  v1a,YmFy v9,eHl6").unwrap();
    assert_eq!(
        parsed,
        vec![
            (Version::V1, b"foo".to_vec()),
            (Version::V1a, b"bar".to_vec())
        ]
    );
    for bad in [
        "", " ", "v1", "v1,", ",Zm9v", "v1,Zm9v,", "v1!,Zm9v", "v2,Zm9v",
    ] {
        assert!(listed(bad).is_err(), "{bad:?}");
    }
    // Longer than any signature that can match: still base64, so listed (and never matches).
    let long = format!("v1,{}", STANDARD.encode([7u8; 100]));
    assert_eq!(listed(&long).unwrap(), vec![(Version::V1, vec![7u8; 100])]);
    let many = vec!["v1,Zm9v"; 17].join(" ");
    assert_eq!(
        listed(&many),
        Err(Failure::MalformedHeader(
            "webhook-signature",
            "too many signatures"
        ))
    );
    assert_eq!(listed(&vec!["v1,Zm9v"; 16].join(" ")).unwrap().len(), 16);
}

#[test]
fn secrets_and_public_keys_parse_or_are_refused() {
    assert_eq!(
        standard_webhooks::parse_secret("whsec_Zm9v").unwrap(),
        b"foo"
    );
    assert_eq!(standard_webhooks::parse_secret("Zm9v").unwrap(), b"foo");
    assert!(standard_webhooks::parse_secret("whsec_").is_err());
    assert!(standard_webhooks::parse_secret("whsec_!!").is_err());
    let pk = format!("whpk_{}", STANDARD.encode([1u8; 32]));
    assert_eq!(standard_webhooks::parse_public_key(&pk).unwrap(), [1u8; 32]);
    assert!(standard_webhooks::parse_public_key(&pk[5..]).is_err());
    assert!(standard_webhooks::parse_public_key("whpk_Zm9v").is_err());
}

#[test]
fn stripe_headers() {
    let v1 = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
    let head = stripe::parse_signature(&format!("t=1492774577,v1={v1},v0=abc,x=y")).unwrap();
    assert_eq!(head.timestamp, 1_492_774_577);
    assert_eq!(head.signatures.len(), 1);
    for bad in [
        String::new(),
        "t=1".to_owned(),
        format!("v1={v1}"),
        format!("t=,v1={v1}"),
        format!("t=1,t=1,v1={v1}"),
        format!("t=1,v1={}", &v1[1..]),
        format!("t=1 v1={v1}"),
        format!("t=1,{}", vec![format!("v1={v1}"); 40].join(",")),
    ] {
        assert!(stripe::parse_signature(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn github_headers() {
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(github::parse_signature(sig).unwrap().len(), 32);
    for bad in [
        "",
        "sha256=",
        "sha1=abc",
        "SHA256=757107ea",
        &sig[..70],
        &format!("{sig}00"),
    ] {
        assert!(github::parse_signature(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn timestamps_are_short_digit_strings() {
    assert_eq!(parse_unix_secs("0", "h"), Ok(0));
    assert_eq!(parse_unix_secs("1718451800", "h"), Ok(1_718_451_800));
    for bad in [
        "",
        "-1",
        "+1",
        "1.5",
        " 1",
        "1e9",
        "9999999999999",
        "18446744073709551616",
    ] {
        assert!(parse_unix_secs(bad, "h").is_err(), "{bad:?}");
    }
}

/// `is_base64` admits exactly what the `base64` crate's `STANDARD` engine decodes to at least
/// one byte: the verifier compares signatures as text, which is only sound for canonical text.
#[test]
fn is_base64_is_what_the_standard_engine_decodes() {
    for (text, ok) in [
        ("Zm9v", true),
        ("Zm8=", true),
        ("Zg==", true),
        ("Zh==", false), // unused bits set
        ("Zm9=", false), // unused bits set
        ("Zg=", false),
        ("Zg", false),
        ("Z===", false),
        ("====", false),
        ("", false),
        ("Zm9v\n", false),
        ("Zm-v", false), // URL-safe alphabet
        ("Zm=v", false),
    ] {
        assert_eq!(
            standard_webhooks::is_base64(text.as_bytes()),
            ok,
            "{text:?}"
        );
        let decoded = STANDARD.decode(text).is_ok_and(|v| !v.is_empty());
        assert_eq!(decoded, ok, "{text:?}: the engine");
    }
}

proptest! {
    #[test]
    fn is_base64_agrees_with_the_standard_engine(
        text in prop_oneof!["[A-Za-z0-9+/=_-]{0,12}", "[A-Za-z0-9+/]{0,11}={0,3}"]
    ) {
        let decoded = STANDARD.decode(&text).is_ok_and(|v| !v.is_empty());
        prop_assert_eq!(standard_webhooks::is_base64(text.as_bytes()), decoded);
    }

    #[test]
    fn the_header_parsers_never_panic(text in "\\PC{0,300}") {
        let _ = standard_webhooks::check_signatures(text.as_bytes());
        let _ = stripe::parse_signature(&text);
        let _ = github::parse_signature(&text);
        let _ = parse_unix_secs(&text, "h");
        let _ = super::http_sig::sf::parse_dictionary(&text);
    }

    #[test]
    fn the_header_parsers_never_panic_on_their_own_alphabet(
        text in "[vta1=,; ()\"@:?*a-z0-9+/_.-]{0,200}"
    ) {
        let _ = standard_webhooks::check_signatures(text.as_bytes());
        let _ = stripe::parse_signature(&text);
        let _ = super::http_sig::sf::parse_dictionary(&text);
    }
}

/// RFC 9421 Appendix B.2.4: a response signed with `ecdsa-p256-sha256` (`r || s`).
#[test]
fn rfc9421_b_2_4_signing_a_response_using_ecdsa_p256_sha256() {
    use super::http_sig::{self, components::Message};
    let pem = include_str!("../../tests/interop_signature/rfc9421/test-key-ecc-p256.pub.pem");
    let key = VerifyingKey::public_key_pem("ecc", super::Algorithm::EcdsaP256Sha256, pem)
        .unwrap()
        .with_id("test-key-ecc-p256");
    let mut headers = http::HeaderMap::new();
    for (k, v) in [
        ("date", "Tue, 20 Apr 2021 02:07:56 GMT"),
        ("content-type", "application/json"),
        (
            "content-digest",
            "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:",
        ),
        ("content-length", "23"),
        (
            "signature-input",
            r#"sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256""#,
        ),
        (
            "signature",
            "sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:",
        ),
    ] {
        headers.insert(k, http::HeaderValue::from_static(v));
    }
    let policy = http_sig::Policy {
        required: vec!["@status".into()],
        require_created: true,
        tag: None,
    };
    let keys = [key];
    let head = http_sig::parse_head(&headers, false, &policy, &keys, 1_618_884_473, 300).unwrap();
    let message = Message {
        method: None,
        uri: None,
        headers: &headers,
        status: Some(200),
        version: None,
    };
    // The signature base, as printed in the RFC.
    let c = &head.candidates[0];
    assert_eq!(
        message.signature_base(&c.components, &c.params).unwrap(),
        "\"@status\": 200\n\"content-type\": application/json\n\"content-digest\": \
         sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:\n\
         \"content-length\": 23\n\"@signature-params\": (\"@status\" \"content-type\" \"content-digest\" \
         \"content-length\");created=1618884473;keyid=\"test-key-ecc-p256\""
    );
    let body = br#"{"message": "good dog"}"#;
    assert!(http_sig::verify_message(&head, &message, body, &keys).is_ok());
    assert_eq!(
        http_sig::verify_message(&head, &message, br#"{"message": "bad dog"}"#, &keys).err(),
        Some(Failure::DigestMismatch)
    );
}

/// RFC 9530 Appendix D's sample digests (the values RFC 9421's examples use too):
/// `{"hello": "world"}`, without a newline.
#[test]
fn rfc9530_appendix_d_sample_digests() {
    use super::http_sig::content_digest;
    let body = br#"{"hello": "world"}"#;
    assert_eq!(
        content_digest::sha256_value(body),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    assert_eq!(
        content_digest::sha512_value(body),
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    );
    let both = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
    assert_eq!(content_digest::verify(both, body), Ok(()));
    assert_eq!(
        content_digest::verify(both, b"{\"hello\": \"world\"}\n"),
        Err(Failure::DigestMismatch)
    );
    // Appendix D's md5 and sha values are right, and insecure (RFC 9530 registers both as
    // deprecated): they never count alone, and are skipped beside sha-256.
    let insecure = "md5=:Sd/dVLAcvNLSq16eXua5uQ==:, sha=:07CavjDP4u3/TungoUHJO/Wzr4c=:";
    assert_eq!(
        content_digest::verify(insecure, body),
        Err(Failure::MalformedHeader(
            "content-digest",
            "no sha-256 or sha-512 digest"
        ))
    );
    assert_eq!(
        content_digest::verify(
            &format!("{insecure}, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
            body
        ),
        Ok(())
    );
    // A malformed value is malformed.
    assert_eq!(
        content_digest::verify("sha-256=X48E", body),
        Err(Failure::MalformedHeader(
            "content-digest",
            "expected byte sequences"
        ))
    );
}

/// RFC 9530's examples of messages: `{"hello": "world"}` followed by a newline (section 2,
/// Appendix B.1), the empty content of a `HEAD` answer (B.2), and the partial content
/// `"world"}` plus the newline (B.3: a `206` digests what it carries, not the whole
/// representation).
#[test]
fn rfc9530_content_digest_examples() {
    use super::http_sig::content_digest;
    let body = b"{\"hello\": \"world\"}\n";
    let sha256 = "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:";
    let sha512 = "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:";
    assert_eq!(content_digest::sha256_value(body), sha256);
    assert_eq!(content_digest::sha512_value(body), sha512);
    assert_eq!(content_digest::verify(sha256, body), Ok(()));
    assert_eq!(content_digest::verify(sha512, body), Ok(()));
    assert_eq!(
        content_digest::verify(&format!("{sha512}, {sha256}"), body),
        Ok(())
    );
    // A `sha` digest (deprecated) beside a right sha-256 is skipped.
    assert_eq!(
        content_digest::verify(&format!("sha=:AAAA:, {sha256}"), body),
        Ok(())
    );
    // The same content changed.
    assert_eq!(
        content_digest::verify(sha256, b"{\"hello\": \"woXYZ\"}\n"),
        Err(Failure::DigestMismatch)
    );
    // B.2: empty content.
    let empty = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";
    assert_eq!(content_digest::sha256_value(b""), empty);
    assert_eq!(content_digest::verify(empty, b""), Ok(()));
    assert_eq!(
        content_digest::sha512_value(b""),
        "sha-512=:z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==:"
    );
    // B.3: partial content.
    let partial = b"\"world\"}\n";
    let partial_sha256 = "sha-256=:jjcgBDWNAtbYUXI37CVG3gRuGOAjaaDRGpIUFsdyepQ=:";
    assert_eq!(content_digest::sha256_value(partial), partial_sha256);
    assert_eq!(content_digest::verify(partial_sha256, partial), Ok(()));
    assert_eq!(
        content_digest::verify(partial_sha256, body),
        Err(Failure::DigestMismatch)
    );
}

#[test]
fn structured_fields_round_trip_what_signatures_use() {
    use super::http_sig::sf::{self, Member};
    let dict = sf::parse_dictionary(
        r#"sig1=("@method" "@query-param";name="Pet" "example-dict";sf);created=1618884473;keyid="k";alg="ed25519", sig2=:AAEC:"#,
    )
    .unwrap();
    assert_eq!(dict.len(), 2);
    let Member::InnerList(items, params) = &dict[0].1 else {
        panic!("inner list")
    };
    let mut out = String::new();
    sf::write_inner_list(&mut out, items, params);
    assert_eq!(
        out,
        r#"("@method" "@query-param";name="Pet" "example-dict";sf);created=1618884473;keyid="k";alg="ed25519""#
    );
    for bad in [
        "sig1=(",
        "sig1=(\"a\"",
        "sig1=:AA",
        "Sig=1",
        "a=1,",
        "a=\"\\x\"",
        "a=1234567890123456",
    ] {
        assert!(sf::parse_dictionary(bad).is_err(), "{bad:?}");
    }
    let many = vec!["a=1"; 40].join(", ");
    assert!(sf::parse_dictionary(&many).is_ok()); // duplicates collapse to one member
    let distinct: Vec<String> = (0..40).map(|i| format!("k{i}=1")).collect();
    assert!(sf::parse_dictionary(&distinct.join(", ")).is_err());
}

/// `ct_eq` is equality: every length up to three words, a difference at every position.
#[test]
fn ct_eq_is_equality() {
    use super::key::ct_eq;
    for len in 0..=24usize {
        let a: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
        assert!(ct_eq(&a, &a.clone()), "{len}");
        for i in 0..len {
            for bit in [0x01u8, 0x80] {
                let mut b = a.clone();
                b[i] ^= bit;
                assert!(!ct_eq(&a, &b), "{len} bytes, byte {i}, bit {bit:#x}");
            }
        }
        assert!(!ct_eq(&a, &[a.as_slice(), &[0]].concat()), "{len}: longer");
    }
}

/// RFC 9421 without a required `created`, while replays are refused: a build error (a
/// signature with no time in it outlives its memory); with replay protection off, allowed.
#[test]
fn optional_created_needs_replay_protection_off() {
    let layer = |replay: bool| {
        super::SignatureLayer::http_message_signatures()
            .key(VerifyingKey::hmac_sha256("partner", b"a shared secret").with_id("k1"))
            .require_created(false)
            .replay_protection(replay)
            .build()
    };
    assert_eq!(
        layer(true).map(drop),
        Err(super::ConfigError::ReplayNeedsCreated)
    );
    assert!(layer(false).is_ok());
}
