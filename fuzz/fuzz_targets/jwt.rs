//! The JWT compact form and its header and claims JSON, through `AuthLayer` and `JwtAuth`.
//!
//! The authenticator: an HS256 key with `kid` `k1` and an HS384 key without one, issuer
//! `https://issuer.example`, audience `api`, a manual clock (so a run is reproducible),
//! optionally a token cache of 4 entries.
//!
//! Input: one byte of flags (bits 0-1: the mode; bit 2: a cache; bit 3: send the request twice),
//! then
//! - mode 0, raw: `Authorization` values, one per line;
//! - mode 1, signed parts: a byte choosing the signature (the HS256 key, the HS384 key, a wrong
//!   secret, none) and the scheme's spelling, then the header JSON and the claims JSON on two
//!   lines, encoded and signed here, so the fuzzer explores the JSON rather than base64;
//! - mode 2, round trip: a byte of style, then a subject, scopes, a claim name and its value on
//!   four lines: a valid token made of them.
//!
//! Asserts: no panic; 200, 401 or 400 (several `Authorization` headers, or `Bearer` alone:
//! `error="invalid_request"` and an `invalid-authorization` problem), the inner service runs
//! exactly on 200, and a 401 carries a `Bearer` challenge and an `unauthorized` problem; a token is accepted only when its
//! signature is right, its header names the signing key's algorithm (and, with a `kid`, that
//! key), has no `crit`, and its claims hold the issuer, the audience, an unexpired `exp` and a
//! `sub`, which is the principal's subject; every valid token made of any subject and scopes
//! is accepted, with exactly that subject and those scopes, again from the cache.

#![no_main]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, StatusCode};
use jsonwebtoken::{Algorithm as JwtAlg, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower_shield::ManualClock;
use tower_shield::auth::{Algorithm, AuthLayer, AuthMethod, JwtAuth, JwtKey, Principal};

const NOW: u64 = 1_750_000_000;
const LEEWAY: f64 = 60.0;
const ISS: &str = "https://issuer.example";
const AUD: &str = "api";
const SECRET_256: &[u8] = b"fuzz-hs256-secret-of-32-bytes-ok";
const SECRET_384: &[u8] = b"fuzz-hs384-secret-that-is-48-bytes-long-ok-ok-ok";

fn layer(cache: bool) -> AuthLayer {
    let mut jwt = JwtAuth::builder()
        .key(
            JwtKey::hmac(Algorithm::HS256, SECRET_256)
                .expect("a 32-byte secret")
                .with_kid("k1"),
        )
        .key(JwtKey::hmac(Algorithm::HS384, SECRET_384).expect("a 48-byte secret"))
        .issuer(ISS)
        .audience(AUD)
        .clock(ManualClock::at_unix_secs(NOW));
    if cache {
        jwt = jwt.cache(4);
    }
    AuthLayer::new(jwt.build().expect("the authenticator builds"))
}

fn token(header: &[u8], claims: &[u8], signer: Option<(&[u8], JwtAlg)>) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = match signer {
        Some((secret, alg)) => {
            jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), alg)
                .expect("HMAC signs anything")
        }
        None => String::new(),
    };
    format!("{message}.{signature}")
}

/// Sends `values` as `Authorization` headers; checks what every answer must be, and returns
/// the principal on 200.
fn send(layer: &AuthLayer, values: &[HeaderValue]) -> Option<Principal> {
    let mut req = Request::get("/me");
    for value in values {
        req = req.header("authorization", value.clone());
    }
    let (res, seen) = common::call(layer, req.body(()).unwrap(), &[]);
    match res.status() {
        StatusCode::OK => {
            let seen = seen.expect("the inner service runs on 200");
            let principal = seen
                .extensions
                .get::<Principal>()
                .expect("an authenticated request has its principal")
                .clone();
            assert_eq!(principal.method(), AuthMethod::Jwt);
            Some(principal)
        }
        StatusCode::UNAUTHORIZED => {
            assert!(seen.is_none());
            let challenge = common::one(res.headers(), "www-authenticate").expect("a challenge");
            assert!(challenge.starts_with("Bearer realm=\"api\""), "{challenge}");
            assert_eq!(common::problem_slug(&res), "unauthorized");
            None
        }
        // RFC 6750 section 3.1's `invalid_request`: several `Authorization` headers, or the
        // scheme without a token. When the first header is Bearer, the JWT authenticator
        // refused it and its challenge says so; otherwise no token was presented and the
        // challenge is the plain one.
        StatusCode::BAD_REQUEST => {
            assert!(seen.is_none());
            let challenge = common::one(res.headers(), "www-authenticate").expect("a challenge");
            assert_eq!(common::problem_slug(&res), "invalid-authorization");
            let first = values.first().map(HeaderValue::as_bytes).unwrap_or_default();
            let scheme = first.len() >= 6 && first[..6].eq_ignore_ascii_case(b"bearer");
            let bearer = scheme && matches!(first.get(6), None | Some(b' '));
            let bare = scheme && first[6..].iter().all(|&b| b == b' ');
            assert!(values.len() > 1 || bare, "400 for {values:?}");
            if bearer {
                assert!(
                    challenge.starts_with("Bearer realm=\"api\", error=\"invalid_request\""),
                    "{challenge}"
                );
            } else {
                assert_eq!(challenge, "Bearer realm=\"api\"");
            }
            None
        }
        status => panic!("unexpected status {status}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let layer = layer(flags & 4 != 0);
    let times = if flags & 8 != 0 { 2 } else { 1 };

    match flags & 3 {
        0 => {
            let values: Vec<HeaderValue> = common::fields(rest)
                .into_iter()
                .filter_map(|v| HeaderValue::from_bytes(v).ok())
                .collect();
            for _ in 0..times {
                if let Some(principal) = send(&layer, &values) {
                    // Only a token signed with one of the keys passes: not one the fuzzer wrote.
                    panic!("an unsigned token was accepted: {principal:?}");
                }
            }
        }
        1 => {
            let Some((&how, rest)) = rest.split_first() else {
                return;
            };
            let fields = common::fields(rest);
            let [header, claims, ..] = fields[..] else {
                return;
            };
            let signer = match how & 3 {
                0 => Some((SECRET_256, JwtAlg::HS256)),
                1 => Some((SECRET_384, JwtAlg::HS384)),
                2 => Some((&b"a-secret-no-key-of-this-server-has"[..], JwtAlg::HS256)),
                _ => None,
            };
            let scheme = if how & 4 != 0 { "bearer " } else { "Bearer  " };
            let value = format!("{scheme}{}", token(header, claims, signer));
            let Ok(value) = HeaderValue::try_from(value) else {
                return;
            };
            for _ in 0..times {
                let Some(principal) = send(&layer, std::slice::from_ref(&value)) else {
                    continue;
                };
                // Accepted: everything that makes a token valid holds.
                let expected_alg = match how & 3 {
                    0 => "HS256",
                    1 => "HS384",
                    _ => panic!("a token with a wrong or no signature was accepted"),
                };
                let header: serde_json::Map<String, Value> =
                    serde_json::from_slice(header).expect("an accepted header is a JSON object");
                assert_eq!(header.get("alg"), Some(&json!(expected_alg)));
                assert!(!header.contains_key("crit"), "crit is refused");
                match header.get("kid") {
                    None => {}
                    Some(kid) => {
                        assert_eq!((kid, expected_alg), (&json!("k1"), "HS256"));
                        assert_eq!(principal.key_id(), Some("k1"));
                    }
                }
                let claims: serde_json::Map<String, Value> =
                    serde_json::from_slice(claims).expect("accepted claims are a JSON object");
                assert_eq!(claims.get("iss"), Some(&json!(ISS)));
                let aud = claims.get("aud").expect("an audience");
                assert!(
                    aud == &json!(AUD) || aud.as_array().is_some_and(|a| a.contains(&json!(AUD))),
                    "audience {aud}"
                );
                let exp = claims
                    .get("exp")
                    .and_then(Value::as_f64)
                    .expect("an exp number");
                assert!((NOW as f64) < exp + LEEWAY, "expired: {exp}");
                if let Some(nbf) = claims.get("nbf") {
                    let nbf = nbf.as_f64().expect("nbf is a number");
                    assert!(nbf <= NOW as f64 + LEEWAY, "not yet valid: {nbf}");
                }
                if let Some(iat) = claims.get("iat") {
                    assert!(iat.is_number(), "iat is a number: {iat}");
                }
                assert_eq!(claims.get("sub"), Some(&json!(principal.subject())));
                assert!(!principal.subject().is_empty());
            }
        }
        _ => {
            let [style, rest @ ..] = rest else {
                return;
            };
            let fields = common::fields(rest);
            let field = |i: usize| -> String {
                let text = String::from_utf8_lossy(fields.get(i).copied().unwrap_or_default());
                text.chars().take(200).collect()
            };
            let mut subject = field(0);
            if subject.is_empty() {
                subject.push('s');
            }
            let scopes: Vec<String> = field(1)
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect();
            let mut claims = json!({
                "sub": subject,
                "iss": ISS,
                "aud": if style & 1 != 0 { json!([AUD, "another"]) } else { json!(AUD) },
                "exp": if style & 2 != 0 { json!(NOW + 300) } else { json!(NOW as f64 + 0.5) },
                "iat": NOW,
            });
            if !scopes.is_empty() {
                claims["scope"] = json!(scopes.join(" "));
            }
            let name = field(2);
            // `cnf` binds the token to a client certificate (RFC 8705): this request has none,
            // so such a token must be refused, whatever the claim holds.
            let bound = name == "cnf";
            if !name.is_empty()
                && !["sub", "iss", "aud", "exp", "nbf", "iat", "scope", "scp"]
                    .contains(&name.as_str())
            {
                claims[name] = json!(field(3));
            }
            let (header, secret, alg) = match style >> 2 & 7 {
                0 => (
                    json!({"alg": "HS256", "kid": "k1"}),
                    SECRET_256,
                    JwtAlg::HS256,
                ),
                1 => (
                    json!({"typ": "JWT", "alg": "HS256"}),
                    SECRET_256,
                    JwtAlg::HS256,
                ),
                2 => (json!({"alg": "HS384"}), SECRET_384, JwtAlg::HS384),
                3 => (
                    json!({"alg": "HS256", "typ": "at+jwt"}),
                    SECRET_256,
                    JwtAlg::HS256,
                ),
                _ => (json!({"alg": "HS256"}), SECRET_256, JwtAlg::HS256),
            };
            let token = token(
                &serde_json::to_vec(&header).unwrap(),
                &serde_json::to_vec(&claims).unwrap(),
                Some((secret, alg)),
            );
            let value = HeaderValue::try_from(format!("Bearer {token}")).unwrap();
            if bound {
                assert!(
                    send(&layer, std::slice::from_ref(&value)).is_none(),
                    "a certificate-bound token was accepted without a certificate: {claims}"
                );
                return;
            }
            for _ in 0..times {
                let principal = send(&layer, std::slice::from_ref(&value))
                    .unwrap_or_else(|| panic!("a valid token was refused: {claims}"));
                assert_eq!(principal.subject(), subject);
                let got: Vec<&str> = principal.scopes().iter().collect();
                let mut expected: Vec<&str> = Vec::new();
                for scope in &scopes {
                    if !expected.contains(&scope.as_str()) {
                        expected.push(scope);
                    }
                }
                assert_eq!(got, expected);
            }
        }
    }
});
