//! The classic JWT probes against `JwtAuth`, each with the exact answer (status,
//! `WWW-Authenticate`, problem+json body) checked against RFC 7515 (JWS), RFC 7519 (JWT),
//! RFC 7797 (unencoded payloads), RFC 8725 (JWT BCP) and RFC 6750 (Bearer):
//! `alg: none`, algorithm confusion in every key encoding, curve and signature-encoding
//! tricks, header keys and URLs, `kid` junk, `crit`, malformed structure and JSON, duplicate
//! member names, NumericDate edge cases, exact `iss`/`aud`/`sub` matching, Bearer syntax, and
//! (feature `jwks`) a remote key set that probes must neither steer nor make refetch.
//!
//! What `auth_jwt.rs`, `jwt_typ.rs`, `jwt_issuer_audience.rs`, `jwt_interop.rs` and
//! `auth_jwks.rs` already cover is not repeated here. Every token is built in Rust: with
//! `jsonwebtoken::crypto::sign` over hand-written header and payload text when the probe is
//! in the bytes, by hand when the signature itself is the probe. The clock is fixed, so the
//! RSA, HMAC and EdDSA tokens are the same on every run (ECDSA signatures are randomized).

mod common;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{call, get_with};
use http::{HeaderMap, Request, StatusCode};
use jsonwebtoken::{Algorithm as Alg, EncodingKey};
use serde_json::{Value, json};
use tower_shield::ManualClock;
use tower_shield::auth::jwt::JwtBuilder;
use tower_shield::auth::{Algorithm, AuthLayer, Claims, JwtAuth, JwtKey, Principal};

const PUBLIC: &[u8] = include_bytes!("../examples/keys/jwt_public.pem");
const PRIVATE: &[u8] = include_bytes!("../examples/keys/jwt_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("keys/ec_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("keys/ed_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("keys/ed_private.pem");
const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
/// The fixed "now" of every authenticator here.
const T0: u64 = 1_750_000_000;
const HMAC_SECRET: &[u8] = b"an HS256 secret of 32 bytes, ok!";

const PLAIN_CHALLENGE: &str = r#"Bearer realm="api""#;
const UNAUTHORIZED: &str =
    "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized";
const MALFORMED: &str = "malformed token";
const ALG_NOT_ACCEPTED: &str = "token algorithm not accepted";
const BAD_SIGNATURE: &str = "token signature invalid";
const NO_KEY: &str = "no key for this token";
const UNKNOWN_KID: &str = "unknown signing key";
const CRIT: &str = "token has critical header parameters this server does not understand";
const EXPIRED: &str = "token expired";
const NOT_YET: &str = "token not yet valid";
const TOO_LARGE: &str = "token too large";
const MISSING: &str = "This resource needs authentication; no credentials were presented.";
const UNSUPPORTED_SCHEME: &str = "The Authorization header's scheme is not accepted here.";

// ---------------------------------------------------------------------------------------------
// Keys, tokens and apps.

fn rsa_private() -> EncodingKey {
    EncodingKey::from_rsa_pem(PRIVATE).unwrap()
}

fn ec_private() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PRIVATE).unwrap()
}

/// The body of a PEM document, decoded: a SubjectPublicKeyInfo for a public key.
fn pem_body(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

/// The test P-256 key as a JWK (x and y are the last 64 bytes of its SubjectPublicKeyInfo).
fn ec_jwk(kid: Option<&str>) -> Value {
    let spki = pem_body(EC_PUBLIC);
    let point = &spki[spki.len() - 64..];
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[..32]),
        "y": URL_SAFE_NO_PAD.encode(&point[32..]),
    });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

/// The registered claims of a valid token at `T0`.
fn claims() -> Value {
    json!({
        "sub": "user_42",
        "iss": ISS,
        "aud": AUD,
        "iat": T0,
        "exp": T0 + 3600,
    })
}

/// `header` and `payload` as given (any bytes), signed with `key` for `alg` over their
/// base64url encodings, as RFC 7515 section 5.1 does.
fn sign_raw(header: &[u8], payload: &[u8], key: &EncodingKey, alg: Alg) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{signature}")
}

/// An RS256 token of the example key with the header and payload texts given.
fn rs_raw(header: &str, payload: &str) -> String {
    sign_raw(
        header.as_bytes(),
        payload.as_bytes(),
        &rsa_private(),
        Alg::RS256,
    )
}

/// An RS256 token of the example key with `claims`.
fn rs(claims: &Value) -> String {
    rs_raw(r#"{"alg":"RS256","typ":"JWT"}"#, &claims.to_string())
}

/// An RS256 token with `header` (JSON) and valid claims.
fn rs_with_header(header: &Value) -> String {
    rs_raw(&header.to_string(), &claims().to_string())
}

/// An ES256 token of the test P-256 key with `claims`.
fn es(claims: &Value) -> String {
    sign_raw(
        br#"{"alg":"ES256","typ":"JWT"}"#,
        claims.to_string().as_bytes(),
        &ec_private(),
        Alg::ES256,
    )
}

/// A token whose last segment is `signature`, the rest of `token` kept.
fn with_signature(token: &str, signature: &[u8]) -> String {
    let (message, _) = token.rsplit_once('.').unwrap();
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn signature_of(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(token.rsplit_once('.').unwrap().1)
        .unwrap()
}

/// The issuer, audience and fixed clock every authenticator here has.
fn builder() -> JwtBuilder {
    JwtAuth::builder()
        .issuer(ISS)
        .audience(AUD)
        .clock(ManualClock::at_unix_secs(T0))
}

/// RS256 with the example key (no `kid`).
fn rsa_auth() -> JwtAuth {
    builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .build()
        .unwrap()
}

/// ES256 with the test P-256 key (no `kid`).
fn ec_auth() -> JwtAuth {
    builder()
        .key(JwtKey::ec_pem(Algorithm::ES256, EC_PUBLIC).unwrap())
        .build()
        .unwrap()
}

/// What the handler saw: the principal's subject and key id, and the claims as `Claims<T>`
/// gives them to a handler.
async fn me(p: Principal, Claims(claims): Claims<Value>) -> Json<Value> {
    Json(json!({"subject": p.subject(), "key_id": p.key_id(), "claims": claims}))
}

fn app(jwt: JwtAuth) -> Router {
    Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(jwt))
}

fn bearer(token: &str) -> Request<Body> {
    get_with("/me", "authorization", format!("Bearer {token}").as_bytes())
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The problem+json body of a `401`.
fn problem(detail: &str) -> Value {
    json!({
        "type": UNAUTHORIZED,
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
    })
}

/// Asserts the exact RFC 6750 section 3.1 answer to a presented token refused for `detail`:
/// `401`, `error="invalid_token"` with the detail and nothing else, and a problem+json body
/// with exactly type, title, status and detail (no key, signature, token or library error).
async fn assert_refused_req(app: &Router, req: Request<Body>, detail: &str, what: &str) {
    let (status, headers, bytes) = call(app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    assert_single_challenge(
        &headers,
        &format!(r#"Bearer realm="api", error="invalid_token", error_description="{detail}""#),
        what,
    );
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{what}"
    );
    assert_eq!(json_of(&bytes), problem(detail), "{what}");
}

/// Asserts RFC 6750 section 3.1's answer to a malformed request: `400`,
/// `error="invalid_request"` with the detail, and the `invalid-authorization` problem.
async fn assert_invalid_request(app: &Router, req: Request<Body>, detail: &str, what: &str) {
    let (status, headers, bytes) = call(app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
    assert_single_challenge(
        &headers,
        &format!(r#"Bearer realm="api", error="invalid_request", error_description="{detail}""#),
        what,
    );
    assert_eq!(
        json_of(&bytes),
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-authorization",
            "title": "Malformed Authorization",
            "status": 400,
            "detail": detail,
        }),
        "{what}"
    );
}

async fn assert_refused(app: &Router, token: &str, detail: &str) {
    let what = token.get(..200).unwrap_or(token);
    assert_refused_req(app, bearer(token), detail, what).await;
}

/// Asserts the `401` of a request the Bearer authenticator does not take as presenting a
/// token: the plain challenge, without an error code (RFC 6750 section 3.1).
async fn assert_no_token(app: &Router, req: Request<Body>, detail: &str, what: &str) {
    let (status, headers, bytes) = call(app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    assert_single_challenge(&headers, PLAIN_CHALLENGE, what);
    assert_eq!(json_of(&bytes), problem(detail), "{what}");
}

fn assert_single_challenge(headers: &HeaderMap, expected: &str, what: &str) {
    let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, [expected], "{what}");
}

/// Asserts a `200` and answers what the handler saw.
async fn assert_accepted_req(app: &Router, req: Request<Body>, what: &str) -> Value {
    let (status, _, bytes) = call(app, req).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{what}: {}",
        String::from_utf8_lossy(&bytes)
    );
    json_of(&bytes)
}

/// Asserts a `200` whose principal is `subject`.
async fn assert_accepted_as(app: &Router, token: &str, subject: &str) {
    let seen = assert_accepted(app, token).await;
    assert_eq!(seen["subject"], subject, "{seen}");
}

async fn assert_accepted(app: &Router, token: &str) -> Value {
    let what = token.get(..200).unwrap_or(token);
    assert_accepted_req(app, bearer(token), what).await
}

// ---------------------------------------------------------------------------------------------
// alg: none, and algorithm names.

#[tokio::test]
async fn alg_none_is_refused_even_beside_an_hmac_key() {
    // Where an HMAC key is configured, a library that maps `none` to "an empty MAC" or to the
    // HMAC key would accept these; `none` is never an accepted algorithm.
    let app = app(builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .key(JwtKey::hmac(Algorithm::HS256, HMAC_SECRET).unwrap())
        .build()
        .unwrap());
    let hmac = EncodingKey::from_secret(HMAC_SECRET);
    let payload = claims().to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT"}).to_string();
        let h = URL_SAFE_NO_PAD.encode(&header);
        let p = URL_SAFE_NO_PAD.encode(&payload);
        // The unsecured JWS of RFC 7519 section 6.1: an empty signature.
        assert_refused(&app, &format!("{h}.{p}."), ALG_NOT_ACCEPTED).await;
        // A real HMAC over the same input with the configured secret.
        let mac =
            jsonwebtoken::crypto::sign(format!("{h}.{p}").as_bytes(), &hmac, Alg::HS256).unwrap();
        assert_refused(&app, &format!("{h}.{p}.{mac}"), ALG_NOT_ACCEPTED).await;
        // No signature segment at all: not a JWS.
        assert_refused(&app, &format!("{h}.{p}"), MALFORMED).await;
    }
    // Algorithm names are exact (RFC 7518 section 3.1 names are case-sensitive), and a string.
    for alg in [
        json!("rs256"),
        json!("RS256 "),
        json!(" RS256"),
        json!("RS256\u{0}"),
        json!("HS256\u{0}none"),
        json!("ES256K"),
        json!("Ed25519"),
        json!(""),
        json!(["RS256"]),
        json!({"name": "RS256"}),
        json!(null),
    ] {
        let token = rs_with_header(&json!({"alg": alg}));
        assert_refused(&app, &token, ALG_NOT_ACCEPTED).await;
    }
    // An HS256 MAC made with an empty or guessed secret.
    for secret in [&b""[..], b"secret", b"none"] {
        let token = sign_raw(
            br#"{"alg":"HS256"}"#,
            payload.as_bytes(),
            &EncodingKey::from_secret(secret),
            Alg::HS256,
        );
        assert_refused(&app, &token, BAD_SIGNATURE).await;
    }
    // The control: the configured keys do work.
    let token = sign_raw(br#"{"alg":"HS256"}"#, payload.as_bytes(), &hmac, Alg::HS256);
    assert_eq!(assert_accepted(&app, &token).await["subject"], "user_42");
    assert_eq!(
        assert_accepted(&app, &rs(&claims())).await["subject"],
        "user_42"
    );
}

// ---------------------------------------------------------------------------------------------
// Algorithm confusion.

/// The prefix of a 2048-bit RSA SubjectPublicKeyInfo up to its PKCS#1 `RSAPublicKey`.
const RSA_2048_SPKI_PREFIX: [u8; 24] = [
    0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
];

/// Every form of the example RSA public key an attacker might try as an HMAC secret.
fn rsa_public_key_forms() -> Vec<(&'static str, Vec<u8>)> {
    let spki = pem_body(PUBLIC);
    assert_eq!(spki[..24], RSA_2048_SPKI_PREFIX);
    let pkcs1 = spki[24..].to_vec();
    assert_eq!(pkcs1[..4], [0x30, 0x82, 0x01, 0x0a]);
    let pem = std::str::from_utf8(PUBLIC).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    vec![
        ("PEM as configured", PUBLIC.to_vec()),
        (
            "PEM without its final newline",
            pem.trim_end().as_bytes().to_vec(),
        ),
        ("PEM with CRLF", pem.replace('\n', "\r\n").into_bytes()),
        ("SubjectPublicKeyInfo DER", spki),
        ("PKCS#1 DER", pkcs1),
        ("base64 of the DER, unwrapped", body.into_bytes()),
    ]
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_in_any_encoding_is_refused() {
    let rs256_only = app(rsa_auth());
    // HS256 listed among the algorithms, but no HMAC key: the RSA key is never one.
    let hs256_listed = app(builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .build()
        .unwrap());
    // A real HMAC key beside the RSA key: the MAC is checked with the HMAC key only.
    let both = app(builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .key(JwtKey::hmac(Algorithm::HS256, HMAC_SECRET).unwrap())
        .build()
        .unwrap());
    let payload = claims().to_string();
    for (form, secret) in rsa_public_key_forms() {
        for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
            let header = json!({"alg": format!("{alg:?}"), "typ": "JWT"}).to_string();
            let token = sign_raw(
                header.as_bytes(),
                payload.as_bytes(),
                &EncodingKey::from_secret(&secret),
                alg,
            );
            let what = format!("{alg:?} with the {form}");
            assert_refused_req(&rs256_only, bearer(&token), ALG_NOT_ACCEPTED, &what).await;
            let (listed, mixed) = if alg == Alg::HS256 {
                (NO_KEY, BAD_SIGNATURE)
            } else {
                (ALG_NOT_ACCEPTED, ALG_NOT_ACCEPTED)
            };
            assert_refused_req(&hs256_listed, bearer(&token), listed, &what).await;
            assert_refused_req(&both, bearer(&token), mixed, &what).await;
        }
    }
    // Nor is the RSA key a PS256 key unless configured so.
    let token = sign_raw(
        br#"{"alg":"PS256"}"#,
        payload.as_bytes(),
        &rsa_private(),
        Alg::PS256,
    );
    assert_refused(&rs256_only, &token, ALG_NOT_ACCEPTED).await;
}

/// A fresh P-384 key pair: the private key, and the public key as SubjectPublicKeyInfo PEM.
fn p384() -> (EncodingKey, String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    (
        EncodingKey::from_ec_der(&pair.serialize_der()),
        pair.public_key_pem(),
    )
}

#[tokio::test]
async fn ecdsa_tokens_cannot_cross_curves() {
    let (p384_private, p384_public) = p384();
    let es384 = |kid: Option<&str>| {
        let mut header = json!({"alg": "ES384"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        sign_raw(
            header.to_string().as_bytes(),
            claims().to_string().as_bytes(),
            &p384_private,
            Alg::ES384,
        )
    };
    // A P-256 key for ES256: ES384 is not accepted at all.
    let es256_only = app(ec_auth());
    assert_refused(&es256_only, &es384(None), ALG_NOT_ACCEPTED).await;

    // Both algorithms accepted, the P-256 key a JWK without `alg`: it serves ES256 only, the
    // algorithm of its curve (RFC 8725 section 3.1: one algorithm per key).
    let jwk_auth = |kid: Option<&str>| {
        app(builder()
            .key(JwtKey::jwk(&ec_jwk(kid).to_string()).unwrap())
            .algorithms([Algorithm::ES256, Algorithm::ES384])
            .build()
            .unwrap())
    };
    assert_refused(&jwk_auth(None), &es384(None), NO_KEY).await;
    assert_refused(&jwk_auth(Some("ec")), &es384(Some("ec")), NO_KEY).await;
    assert_eq!(
        assert_accepted(&jwk_auth(None), &es(&claims())).await["subject"],
        "user_42"
    );

    // A P-384 key and a P-256 key each for its own algorithm: an ES384 token is checked
    // with the P-384 key only, an ES256 token with the P-256 key only.
    let both = app(builder()
        .key(JwtKey::ec_pem(Algorithm::ES256, EC_PUBLIC).unwrap())
        .key(JwtKey::ec_pem(Algorithm::ES384, p384_public.as_bytes()).unwrap())
        .build()
        .unwrap());
    assert_accepted(&both, &es384(None)).await;
    assert_accepted(&both, &es(&claims())).await;
    // The ES256 signature under an ES384 header (and the reverse): the header is signed, so
    // only a relabelled signature over the same input would do, and none verifies.
    let good256 = es(&claims());
    let relabelled = sign_raw(
        br#"{"alg":"ES384"}"#,
        claims().to_string().as_bytes(),
        &ec_private(),
        Alg::ES256,
    );
    assert_refused(&both, &relabelled, BAD_SIGNATURE).await;
    let rest = good256.split_once('.').unwrap().1;
    let swapped = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"ES384","typ":"JWT"}"#)
    );
    assert_refused(&both, &swapped, BAD_SIGNATURE).await;

    // A P-256 key declared for ES384 is a configuration error, not a key that refuses
    // everything.
    assert_eq!(
        JwtKey::ec_pem(Algorithm::ES384, EC_PUBLIC).unwrap_err(),
        tower_shield::auth::jwt::ConfigError::KeyAlgorithmMismatch("ES384")
    );
}

/// The order of the P-256 group, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order of the Ed25519 group, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// `a - b` of big-endian numbers, `a > b`.
fn sub_be(a: &[u8; 32], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// `a + b` of little-endian numbers that fit 32 bytes.
fn add_le(a: &[u8], b: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = (s & 0xff) as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
    out
}

/// A DER `INTEGER` of the unsigned big-endian `n`.
fn der_integer(n: &[u8]) -> Vec<u8> {
    let mut n: Vec<u8> = n.iter().copied().skip_while(|&b| b == 0).collect();
    if n.first().is_none_or(|&b| b & 0x80 != 0) {
        n.insert(0, 0);
    }
    let mut out = vec![0x02, n.len() as u8];
    out.extend(n);
    out
}

#[tokio::test]
async fn signature_encodings_are_strict() {
    // ECDSA (RFC 7518 section 3.4): the 64-byte R || S, nothing else.
    let ec = app(ec_auth());
    let good = es(&claims());
    let sig = signature_of(&good);
    assert_eq!(sig.len(), 64);
    let (r, s) = sig.split_at(32);
    let mut der = vec![0x30, 0];
    der.extend(der_integer(r));
    der.extend(der_integer(s));
    der[1] = (der.len() - 2) as u8;
    assert_refused(&ec, &with_signature(&good, &der), BAD_SIGNATURE).await;
    assert_refused(
        &ec,
        &with_signature(&good, &[&sig[..], &[0]].concat()),
        BAD_SIGNATURE,
    )
    .await;
    assert_refused(
        &ec,
        &with_signature(&good, &[&[0], &sig[..]].concat()),
        BAD_SIGNATURE,
    )
    .await;
    assert_refused(&ec, &with_signature(&good, &sig[..63]), BAD_SIGNATURE).await;
    // (R, n - S) is the other valid ECDSA signature of the same message. JWS does not ask for
    // low S: it verifies, and is another token string for the same claims (defensible: a token
    // string is not a nonce; the cache holds the two strings apart).
    let high_s = [r, &sub_be(&P256_N, s)[..]].concat();
    let malleated = with_signature(&good, &high_s);
    assert_ne!(malleated, good);
    assert_eq!(assert_accepted(&ec, &malleated).await["subject"], "user_42");

    // EdDSA (RFC 8032 section 5.1.7): S must be below the group order; S + L, the same S
    // modulo L, is refused.
    let ed = app(builder()
        .key(JwtKey::ed_pem(ED_PUBLIC).unwrap())
        .build()
        .unwrap());
    let good = sign_raw(
        br#"{"alg":"EdDSA"}"#,
        claims().to_string().as_bytes(),
        &EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
        Alg::EdDSA,
    );
    assert_accepted(&ed, &good).await;
    let sig = signature_of(&good);
    let (big_r, s) = sig.split_at(32);
    let s_plus_l = [big_r, &add_le(s, &ED25519_L)[..]].concat();
    assert_refused(&ed, &with_signature(&good, &s_plus_l), BAD_SIGNATURE).await;
    assert_refused(&ed, &with_signature(&good, &[0u8; 64]), BAD_SIGNATURE).await;

    // RSA: exactly the modulus' length; base64url without padding, in its canonical form.
    let rsa = app(rsa_auth());
    let good = rs(&claims());
    let sig = signature_of(&good);
    assert_eq!(sig.len(), 256);
    assert_refused(
        &rsa,
        &with_signature(&good, &[&[0], &sig[..]].concat()),
        BAD_SIGNATURE,
    )
    .await;
    assert_refused(&rsa, &with_signature(&good, &sig[1..]), BAD_SIGNATURE).await;
    // 256 bytes are 342 base64 characters, the last carrying 2 bits and 4 zero bits: setting
    // one of those four decodes to the same bytes with a lenient decoder.
    let (message, encoded) = good.rsplit_once('.').unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = encoded.as_bytes()[encoded.len() - 1];
    let index = alphabet.iter().position(|&c| c == last).unwrap();
    assert_eq!(index & 0x0f, 0);
    let sloppy = format!(
        "{message}.{}{}",
        &encoded[..encoded.len() - 1],
        alphabet[index | 1] as char
    );
    assert_refused(&rsa, &sloppy, BAD_SIGNATURE).await;
    // Padding, the standard alphabet, whitespace: refused before anything is decoded.
    assert_refused(&rsa, &format!("{good}=="), MALFORMED).await;
    let std_sig = STANDARD.encode(&sig);
    assert_refused(&rsa, &format!("{message}.{std_sig}"), MALFORMED).await;
    assert_refused(&rsa, &format!("{message}. {encoded}"), MALFORMED).await;
    assert_refused(&rsa, &format!("{message}.{encoded}\t"), MALFORMED).await;
    assert_accepted(&rsa, &good).await;
}

// ---------------------------------------------------------------------------------------------
// Keys and URLs offered by the token: jwk, jku, x5u, x5c, x5t.

/// The attacker's own P-256 key pair: the private key, the public key as a JWK, and the pair
/// (for a certificate).
fn p256_attacker() -> (EncodingKey, Value, rcgen::KeyPair) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let private = EncodingKey::from_ec_der(&pair.serialize_der());
    let point = pair.public_key_raw();
    assert_eq!((point.len(), point[0]), (65, 4));
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    });
    (private, jwk, pair)
}

#[tokio::test]
async fn keys_and_urls_in_the_header_are_never_used() {
    let app = app(ec_auth());
    let (attacker, jwk, pair) = p256_attacker();
    let cert = rcgen::CertificateParams::new(vec!["idp.example.com".into()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    let x5c = STANDARD.encode(cert.der());
    let headers = [
        json!({"alg": "ES256", "jwk": jwk}),
        json!({"alg": "ES256", "jwk": jwk, "x5c": [x5c]}),
        json!({"alg": "ES256", "x5c": [x5c]}),
        json!({"alg": "ES256", "x5t#S256": URL_SAFE_NO_PAD.encode([1u8; 32]), "x5c": [x5c]}),
        json!({"alg": "ES256", "jku": "http://127.0.0.1:9/jwks.json"}),
        json!({"alg": "ES256", "x5u": "http://127.0.0.1:9/cert.pem"}),
        json!({"alg": "ES256", "jku": "file:///etc/passwd", "x5u": "data:,x"}),
    ];
    let payload = claims().to_string();
    for header in &headers {
        let token = sign_raw(
            header.to_string().as_bytes(),
            payload.as_bytes(),
            &attacker,
            Alg::ES256,
        );
        assert_refused(&app, &token, BAD_SIGNATURE).await;
        // The same header on a token of the genuine key: the parameters are ignored, not
        // refused (RFC 7515 lets a recipient not use them).
        let genuine = sign_raw(
            header.to_string().as_bytes(),
            payload.as_bytes(),
            &ec_private(),
            Alg::ES256,
        );
        assert_accepted(&app, &genuine).await;
    }
}

// ---------------------------------------------------------------------------------------------
// kid.

#[tokio::test]
async fn kid_junk_is_an_unknown_key_never_echoed() {
    let keyed = || {
        builder().key(
            JwtKey::rsa_pem(Algorithm::RS256, PUBLIC)
                .unwrap()
                .with_kid("main"),
        )
    };
    let main = app(keyed().build().unwrap());
    let roomy = app(keyed().max_token_len(64 * 1024).build().unwrap());
    let ps_too = app(keyed()
        .algorithms([Algorithm::RS256, Algorithm::PS256])
        .build()
        .unwrap());
    let kidless = app(rsa_auth());
    let long = "k".repeat(10 * 1024);
    for kid in [
        "' OR '1'='1",
        "main' --",
        "\"; DROP TABLE keys; --",
        "main\r\nX-Injected: 1",
        "main\n",
        "main ",
        "MAIN",
        "",
        "\u{202e}niam",
        "../../../../dev/null",
        "file:///etc/passwd",
        "http://127.0.0.1:9/",
        &long,
    ] {
        let token = rs_with_header(&json!({"alg": "RS256", "kid": kid}));
        if kid.len() > 8 * 1024 {
            // The default cap is checked first, before anything is decoded.
            assert_refused(&main, &token, TOO_LARGE).await;
            assert_refused(&roomy, &token, UNKNOWN_KID).await;
        } else {
            assert_refused(&main, &token, UNKNOWN_KID).await;
        }
    }
    // A kid that is not a string.
    for kid in [
        json!(1),
        json!(null),
        json!(["main"]),
        json!({"kid": "main"}),
        json!(true),
    ] {
        let token = rs_with_header(&json!({"alg": "RS256", "kid": kid}));
        assert_refused(&main, &token, MALFORMED).await;
    }
    // The right kid with another algorithm.
    let token = sign_raw(
        br#"{"alg":"PS256","kid":"main"}"#,
        claims().to_string().as_bytes(),
        &rsa_private(),
        Alg::PS256,
    );
    assert_refused(&ps_too, &token, NO_KEY).await;
    // The control.
    let token = rs_with_header(&json!({"alg": "RS256", "kid": "main"}));
    assert_eq!(assert_accepted(&main, &token).await["key_id"], "main");

    // A key configured without a kid verifies a token whatever kid it names (a kid is a hint,
    // RFC 7515 section 4.1.4; jwt-authorizer's `protected_with_jwt` and jsonwebtoken's single
    // key accept it too); the signature still has to be that key's.
    let token = rs_with_header(&json!({"alg": "RS256", "kid": "rsa-1"}));
    assert_eq!(assert_accepted(&kidless, &token).await["key_id"], "rsa-1");
    let forged = with_signature(&token, &[0u8; 256]);
    assert_refused(&kidless, &forged, BAD_SIGNATURE).await;
    // Beside keys that have kids, a kid none has goes to the kid-less ones only.
    let mixed = app(builder()
        .key(
            JwtKey::ec_pem(Algorithm::ES256, EC_PUBLIC)
                .unwrap()
                .with_kid("ec-1"),
        )
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .build()
        .unwrap());
    assert_accepted(&mixed, &token).await;
    let es_named_other = sign_raw(
        br#"{"alg":"ES256","kid":"ec-2"}"#,
        claims().to_string().as_bytes(),
        &ec_private(),
        Alg::ES256,
    );
    // None of the kid-less keys is of its algorithm: a key the set does not hold (a remote
    // set is refreshed for it), not a key of the wrong kind.
    assert_refused(&mixed, &es_named_other, UNKNOWN_KID).await;
}

/// RFC 7517 section 4.5: keys may share a kid when their types differ. Every key with the
/// token's kid that fits its algorithm is tried, not only the first configured.
#[tokio::test]
async fn keys_sharing_a_kid_are_each_tried() {
    let shared = app(builder()
        .key(
            JwtKey::rsa_pem(Algorithm::RS256, PUBLIC)
                .unwrap()
                .with_kid("k1"),
        )
        .key(
            JwtKey::ec_pem(Algorithm::ES256, EC_PUBLIC)
                .unwrap()
                .with_kid("k1"),
        )
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .build()
        .unwrap());
    let es = sign_raw(
        br#"{"alg":"ES256","kid":"k1"}"#,
        claims().to_string().as_bytes(),
        &ec_private(),
        Alg::ES256,
    );
    assert_eq!(assert_accepted(&shared, &es).await["key_id"], "k1");
    let rs = rs_with_header(&json!({"alg": "RS256", "kid": "k1"}));
    assert_eq!(assert_accepted(&shared, &rs).await["key_id"], "k1");
    // Another kid is still unknown: no kid-less key to fall back on.
    let other = rs_with_header(&json!({"alg": "RS256", "kid": "k2"}));
    assert_refused(&shared, &other, UNKNOWN_KID).await;
}

// ---------------------------------------------------------------------------------------------
// crit, and RFC 7797 unencoded payloads.

#[tokio::test]
async fn crit_is_refused_and_b64_false_is_never_read_as_unencoded() {
    let app = app(rsa_auth());
    let payload = claims().to_string();
    let b64 = URL_SAFE_NO_PAD.encode(&payload);
    // RFC 7797: with b64 false, the signing input is the header, a dot and the payload as is.
    let rfc7797 = |header: &Value| {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let input = [h.as_bytes(), b".", payload.as_bytes()].concat();
        let sig = jsonwebtoken::crypto::sign(&input, &rsa_private(), Alg::RS256).unwrap();
        (h, sig)
    };
    let unencoded = json!({"alg": "RS256", "b64": false, "crit": ["b64"]});
    let (h, sig) = rfc7797(&unencoded);
    // The payload segment base64url (the usual form), or empty (detached, RFC 7797 section 5).
    assert_refused(&app, &format!("{h}.{b64}.{sig}"), CRIT).await;
    assert_refused(&app, &format!("{h}..{sig}"), CRIT).await;
    // The same header signed the usual way: still refused, b64 is not understood.
    assert_refused(&app, &rs_with_header(&unencoded), CRIT).await;
    // RFC 7515 section 4.1.11: an extension not understood MUST be refused; an empty list or
    // one that is not a list is invalid.
    for header in [
        json!({"alg": "RS256", "crit": ["urn:example:ext"], "urn:example:ext": true}),
        json!({"alg": "RS256", "crit": ["exp"], "exp": T0 + 60}),
        json!({"alg": "RS256", "crit": []}),
        json!({"alg": "RS256", "crit": "b64", "b64": false}),
        json!({"alg": "RS256", "crit": null}),
    ] {
        assert_refused(&app, &rs_with_header(&header), CRIT).await;
    }
    // b64 false without crit (against RFC 7797 section 6): an unknown parameter, ignored. The
    // token is a usual JWS, verified over the encoded payload: signed over the raw payload it
    // is refused, signed the usual way it is accepted.
    let bare = json!({"alg": "RS256", "b64": false});
    let (h, sig) = rfc7797(&bare);
    assert_refused(&app, &format!("{h}.{b64}.{sig}"), BAD_SIGNATURE).await;
    assert_accepted(&app, &rs_with_header(&bare)).await;
}

// ---------------------------------------------------------------------------------------------
// Structure and JSON.

#[tokio::test]
async fn malformed_structure_is_refused_before_any_key_is_used() {
    let app = app(rsa_auth());
    let good = rs(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    // `h.` signed: a valid signature over an empty payload.
    let empty_payload = rs_raw(r#"{"alg":"RS256"}"#, "");
    let empty_header = sign_raw(
        b"",
        claims().to_string().as_bytes(),
        &rsa_private(),
        Alg::RS256,
    );
    for (token, detail) in [
        (format!("{h}.{p}.{s}.{s}"), MALFORMED),
        (format!("{h}.{p}.{s}.{s}.{s}"), MALFORMED),
        (h.to_owned(), MALFORMED),
        ("..".to_owned(), MALFORMED),
        (format!(".{p}.{s}"), MALFORMED),
        (empty_header, MALFORMED),
        (empty_payload, MALFORMED),
        (format!("{h}=.{p}.{s}"), MALFORMED),
        (format!("{h}.{p}=.{s}"), MALFORMED),
        (format!("{h}.{p}.{s}="), MALFORMED),
        (format!("{h} .{p}.{s}"), MALFORMED),
        (format!("{h}.{p}\t.{s}"), MALFORMED),
        (format!("{h}.{p}.{}", &s[..10]), BAD_SIGNATURE),
        (format!("{h}.{p}.%41"), MALFORMED),
        (format!("{h}.{p}.*{s}"), MALFORMED),
    ] {
        assert_refused(&app, &token, detail).await;
    }
    // The standard alphabet instead of base64url: a header chosen so that its encoding has
    // `_` (63), then written with `/`.
    let header = r#"{"alg":"RS256","x":"???"}"#;
    let token = rs_raw(header, &claims().to_string());
    let encoded = token.split('.').next().unwrap();
    assert!(encoded.contains('_'), "{encoded}");
    assert_accepted(&app, &token).await;
    assert_refused(&app, &token.replace('_', "/").replace('-', "+"), MALFORMED).await;
}

#[tokio::test]
async fn header_and_payload_must_be_json_objects() {
    let app = app(rsa_auth());
    let payload = claims().to_string();
    // Headers: none of these is a JOSE header (RFC 7515 section 5.2, step 4).
    for header in [
        &b"[]"[..],
        b"[\"RS256\"]",
        b"\"RS256\"",
        b"null",
        b"1",
        b"{\"alg\":\"RS256\"",
        b"{\"alg\":\"RS256\"} x",
        b"{\"alg\":\"RS256\"}{}",
        b"\xef\xbb\xbf{\"alg\":\"RS256\"}",
        b"{\"alg\":\"RS256\",\"x\":\"\xff\"}",
        b"{'alg':'RS256'}",
        b"{alg:\"RS256\"}",
        b"{\"alg\":\"RS256\",}",
    ] {
        let token = sign_raw(header, payload.as_bytes(), &rsa_private(), Alg::RS256);
        assert_refused(&app, &token, MALFORMED).await;
    }
    // Validly signed payloads that are not a JSON object (RFC 7519 section 7.2, step 10).
    let claims_text = claims().to_string();
    let trailing = format!("{claims_text} x");
    let twice = format!("{claims_text}{claims_text}");
    let nested = rs(&claims());
    let nested_json = json!(nested).to_string();
    for payload in [
        "[]",
        "[{\"sub\":\"user_42\"}]",
        "\"user_42\"",
        "null",
        "42",
        "true",
        &trailing,
        &twice,
        &nested_json,
        &nested,
        "{\"sub\":\"user_42\"",
    ] {
        let token = rs_raw(r#"{"alg":"RS256"}"#, payload);
        assert_refused(&app, &token, MALFORMED).await;
    }
    // A nested JWT (`cty: JWT`, RFC 7519 section 5.2) is not unwrapped.
    let token = rs_raw(r#"{"alg":"RS256","cty":"JWT"}"#, &nested);
    assert_refused(&app, &token, MALFORMED).await;
    // Invalid UTF-8 in a claim.
    let mut bytes = claims_text.clone().into_bytes();
    let at = claims_text.find("user_42").unwrap();
    bytes[at] = 0xff;
    let token = sign_raw(br#"{"alg":"RS256"}"#, &bytes, &rsa_private(), Alg::RS256);
    assert_refused(&app, &token, MALFORMED).await;
    // Deep nesting in an ignored claim: refused on serde_json's nesting limit, not a crash.
    let deep = format!(
        r#"{{"sub":"user_42","iss":"{ISS}","aud":"{AUD}","exp":{},"x":{}{}}}"#,
        T0 + 60,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    assert_refused(&app, &rs_raw(r#"{"alg":"RS256"}"#, &deep), MALFORMED).await;
}

#[tokio::test]
async fn duplicate_member_names_are_refused() {
    // RFC 7515 section 4 and RFC 7519 section 4 allow refusing them or keeping the lexically
    // last. Refused: what a first-wins parser downstream reads would be another token, and an
    // issuer that lets a client append a claim would let it choose `sub`.
    let app = app(builder()
        .key(
            JwtKey::rsa_pem(Algorithm::RS256, PUBLIC)
                .unwrap()
                .with_kid("main"),
        )
        .build()
        .unwrap());
    let body = format!(r#""iss":"{ISS}","aud":"{AUD}","exp":{}"#, T0 + 3600);
    let payload = format!(r#"{{"sub":"user_42",{body}}}"#);
    let header = r#"{"alg":"RS256","kid":"main"}"#;
    // The controls.
    assert_accepted(&app, &rs_raw(header, &payload)).await;
    for h in [
        r#"{"alg":"none","alg":"RS256","kid":"main"}"#,
        r#"{"alg":"RS256","alg":"none","kid":"main"}"#,
        r#"{"alg":"RS256","alg":"RS256","kid":"main"}"#,
        r#"{"alg":"RS256","kid":"other","kid":"main"}"#,
        r#"{"alg":"RS256","kid":"main","typ":"JWT","typ":"logout+jwt"}"#,
        r#"{"alg":"RS256","kid":"main","crit":["x"],"\u0063rit":["x"]}"#,
    ] {
        assert_refused(&app, &rs_raw(h, &payload), MALFORMED).await;
    }
    for p in [
        format!(r#"{{"sub":"user_42","sub":"admin",{body}}}"#),
        format!(r#"{{"sub":"user_42","\u0073ub":"admin",{body}}}"#),
        format!(r#"{{"sub":"user_42",{body},"exp":{}}}"#, T0 - 3600),
        format!(r#"{{"sub":"user_42","exp":{},{body}}}"#, T0 - 3600),
        format!(r#"{{"sub":"user_42",{body},"aud":"https://other.example.com"}}"#),
        format!(r#"{{"sub":"user_42",{body},"scope":"a","scope":"admin"}}"#),
        format!(r#"{{"sub":"user_42",{body},"cnf":{{"jkt":"a","jkt":"b"}}}}"#),
    ] {
        assert_refused(&app, &rs_raw(header, &p), MALFORMED).await;
    }
}

// ---------------------------------------------------------------------------------------------
// NumericDate claims.

/// The claims with `name` set to the raw JSON text `value`.
fn with_raw_claim(name: &str, value: &str) -> String {
    let mut map = claims();
    map.as_object_mut().unwrap().remove(name);
    let rest = map.to_string();
    format!(r#"{{"{name}":{value},{}"#, &rest[1..])
}

#[tokio::test]
async fn numeric_dates_are_numbers_and_compared_with_the_leeway() {
    let strict = app(builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .leeway(std::time::Duration::ZERO)
        .build()
        .unwrap());
    // Default leeway 60 s, clock at T0; a cache, so that accepted tokens are cached too.
    let app = app(builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .cache(100)
        .build()
        .unwrap());
    let token =
        |name: &str, value: &str| rs_raw(r#"{"alg":"RS256"}"#, &with_raw_claim(name, value));
    let not_a_number = |claim: &str| format!("token {claim} claim is not a number");
    let t = |delta: i64| (T0 as i64 + delta).to_string();
    // exp: RFC 7519 section 4.1.4, "now" must be before it (here, before it plus the leeway).
    for (value, refusal) in [
        (t(-60), Some(EXPIRED.to_owned())),
        (t(-59), None),
        (format!("{}.5", t(-60)), None),
        (format!("{}.999", t(-61)), Some(EXPIRED.to_owned())),
        ("0".into(), Some(EXPIRED.to_owned())),
        ("-1".into(), Some(EXPIRED.to_owned())),
        ("-1e300".into(), Some(EXPIRED.to_owned())),
        // Far in the future, as the issuer signed it: accepted (and cached) without overflow.
        ("1e300".into(), None),
        (u64::MAX.to_string(), None),
        ("1e400".into(), Some(MALFORMED.to_owned())),
        (format!("\"{}\"", t(3600)), Some(not_a_number("exp"))),
        ("true".into(), Some(not_a_number("exp"))),
        ("null".into(), Some(not_a_number("exp"))),
        (format!("[{}]", t(3600)), Some(not_a_number("exp"))),
        (
            format!("{{\"$date\":{}}}", t(3600)),
            Some(not_a_number("exp")),
        ),
    ] {
        let token = token("exp", &value);
        match refusal {
            Some(detail) => assert_refused(&app, &token, &detail).await,
            None => {
                assert_accepted(&app, &token).await;
                // Again, from the cache.
                assert_accepted(&app, &token).await;
            }
        }
    }
    // nbf: RFC 7519 section 4.1.5, "now" must be at or after it (less the leeway).
    for (value, refusal) in [
        (t(60), None),
        (t(61), Some(NOT_YET.to_owned())),
        (format!("{}.5", t(60)), Some(NOT_YET.to_owned())),
        ("-1".into(), None),
        ("1e300".into(), Some(NOT_YET.to_owned())),
        ("\"0\"".into(), Some(not_a_number("nbf"))),
        ("null".into(), Some(not_a_number("nbf"))),
    ] {
        let token = token("nbf", &value);
        match refusal {
            Some(detail) => assert_refused(&app, &token, &detail).await,
            None => drop(assert_accepted(&app, &token).await),
        }
    }
    // iat: a number when present (RFC 7519 section 4.1.6), not compared with the clock.
    for (value, refusal) in [
        (t(1_000_000), None),
        ("-1".into(), None),
        ("1e300".into(), None),
        (format!("{}.25", t(0)), None),
        ("\"yesterday\"".into(), Some(not_a_number("iat"))),
        (format!("\"{}\"", t(0)), Some(not_a_number("iat"))),
        ("null".into(), Some(not_a_number("iat"))),
        ("[]".into(), Some(not_a_number("iat"))),
    ] {
        let token = token("iat", &value);
        match refusal {
            Some(detail) => assert_refused(&app, &token, &detail).await,
            None => drop(assert_accepted(&app, &token).await),
        }
    }

    // Without leeway: expired at exp itself, valid from nbf itself.
    assert_refused(&strict, &token("exp", &t(0)), EXPIRED).await;
    assert_accepted(&strict, &token("exp", &t(1))).await;
    let mut c = claims();
    c["nbf"] = json!(T0);
    assert_accepted(&strict, &rs(&c)).await;
    c["nbf"] = json!(T0 + 1);
    assert_refused(&strict, &rs(&c), NOT_YET).await;
}

/// A clock between two seconds: fractional `exp` and `nbf` are compared with the exact time,
/// not with the second it is in (RFC 7519 section 4.1.4: "the current date/time MUST be
/// before" `exp`).
#[tokio::test]
async fn fractional_dates_are_compared_with_the_exact_time() {
    let clock = ManualClock::at_unix_secs(T0);
    clock.set_micros(T0 * 1_000_000 + 900_000); // T0 + 0.9 s
    let app = app(JwtAuth::builder()
        .issuer(ISS)
        .audience(AUD)
        .clock(clock)
        .leeway(std::time::Duration::ZERO)
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .build()
        .unwrap());
    let token =
        |name: &str, value: &str| rs_raw(r#"{"alg":"RS256"}"#, &with_raw_claim(name, value));
    assert_refused(&app, &token("exp", &format!("{T0}.5")), EXPIRED).await;
    assert_refused(&app, &token("exp", &format!("{T0}.9")), EXPIRED).await;
    assert_accepted(&app, &token("exp", &format!("{T0}.95"))).await;
    assert_accepted(&app, &token("nbf", &format!("{T0}.5"))).await;
    assert_accepted(&app, &token("nbf", &format!("{T0}.9"))).await;
    assert_refused(&app, &token("nbf", &format!("{T0}.95")), NOT_YET).await;
}

/// A required claim set to `null` is missing, as PyJWT reads it (and as `sub: null` is no
/// subject here).
#[tokio::test]
async fn a_required_claim_set_to_null_is_missing() {
    let app = app(builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .require_claim("jti")
        .build()
        .unwrap());
    let mut c = claims();
    c["jti"] = json!("a1");
    assert_accepted(&app, &rs(&c)).await;
    c["jti"] = json!(null);
    assert_refused(&app, &rs(&c), "token lacks a required claim").await;
    c.as_object_mut().unwrap().remove("jti");
    assert_refused(&app, &rs(&c), "token lacks a required claim").await;
}

// ---------------------------------------------------------------------------------------------
// iss, aud, sub: exact strings.

#[tokio::test]
async fn issuer_audience_and_subject_match_exactly() {
    let app = app(rsa_auth());
    let issuer_refused = "token issuer not accepted";
    let audience_refused = "token audience not accepted";
    for iss in [
        json!(format!("{ISS}/")),
        json!("https://AUTH.example.com"),
        json!("HTTPS://auth.example.com"),
        json!(format!(" {ISS}")),
        json!(format!("{ISS}\u{0}")),
        json!(format!("{ISS}.evil.example")),
        json!("https://auth.example.com:443"),
        json!(null),
        json!({"iss": ISS}),
    ] {
        let mut c = claims();
        c["iss"] = iss;
        assert_refused(&app, &rs(&c), issuer_refused).await;
    }
    for aud in [
        json!(["https://other.example.com"]),
        json!([format!("{AUD}/")]),
        json!([42, null, {"aud": AUD}, [AUD]]),
        json!("HTTPS://API.EXAMPLE.COM"),
        json!(format!("https://other.example.com {AUD}")),
        json!({"aud": AUD}),
        json!(null),
    ] {
        let mut c = claims();
        c["aud"] = aud;
        assert_refused(&app, &rs(&c), audience_refused).await;
    }
    // An array holding the audience among others (and junk) is for this API too.
    let mut c = claims();
    c["aud"] = json!([42, "https://other.example.com", AUD]);
    assert_accepted(&app, &rs(&c)).await;
    for sub in [
        json!(""),
        json!(42),
        json!(null),
        json!(["user_42"]),
        json!({"id": "user_42"}),
    ] {
        let mut c = claims();
        c["sub"] = sub.clone();
        assert_refused(&app, &rs(&c), "token names no subject").await;
        // A `client_id` stands for an absent (or null) `sub` only, never for a malformed one.
        c["client_id"] = json!("billing-service");
        if sub.is_null() {
            assert_accepted_as(&app, &rs(&c), "billing-service").await;
        } else {
            assert_refused(&app, &rs(&c), "token names no subject").await;
        }
    }
    // RFC 9068 section 2.2: a client-credentials token may name only its client.
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    assert_refused(&app, &rs(&c), "token names no subject").await;
    for client in [json!(""), json!(42)] {
        c["client_id"] = client;
        assert_refused(&app, &rs(&c), "token names no subject").await;
    }
    c["client_id"] = json!("billing-service");
    assert_accepted_as(&app, &rs(&c), "billing-service").await;
    // Both: `sub` is the subject.
    c["sub"] = json!("user_42");
    assert_accepted_as(&app, &rs(&c), "user_42").await;
}

// ---------------------------------------------------------------------------------------------
// Bearer syntax (RFC 6750 section 2.1).

fn with_authorization(values: &[&[u8]]) -> Request<Body> {
    let mut req = Request::get("/me");
    for value in values {
        req = req.header(
            "authorization",
            http::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn bearer_syntax() {
    let app = app(rsa_auth());
    let token = rs(&claims());
    let auth = |v: String| with_authorization(&[v.as_bytes()]);
    // The scheme is case-insensitive, and `1*SP` may separate it from the token.
    for value in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer  {token}"),
        format!("Bearer     {token}"),
    ] {
        assert_accepted_req(&app, auth(value.clone()), &value[..12]).await;
    }
    // Anything after the token, or inside it: a malformed token.
    for value in [
        format!("Bearer {token} extra"),
        format!("Bearer {token} "),
        format!("Bearer {token},"),
        format!("Bearer {token}, Bearer {token}"),
        format!("Bearer \t{token}"),
    ] {
        assert_refused_req(&app, auth(value.clone()), MALFORMED, &value).await;
    }
    // The scheme without a token: a malformed request (`invalid_request`, 400).
    for value in ["Bearer", "Bearer ", "Bearer  ", "bearer"] {
        let req = auth(value.to_owned());
        assert_invalid_request(&app, req, "Bearer scheme without a token", value).await;
    }
    // Not `Bearer` and a space: the scheme is not this authenticator's.
    for value in [
        format!("Bearer\t{token}"),
        format!("Bearer{token}"),
        format!("Bearer,{token}"),
        format!("Bearer={token}"),
        format!("JWT {token}"),
        format!("Token {token}"),
        format!("Basic {token}"),
    ] {
        assert_no_token(&app, auth(value.clone()), UNSUPPORTED_SCHEME, &value).await;
    }
    // A token in the query (RFC 6750 section 2.3) is not read: no credentials...
    let req = Request::get(format!("/me?access_token={token}"))
        .body(Body::empty())
        .unwrap();
    assert_no_token(&app, req, MISSING, "query").await;
    // ...and beside a header, the header decides.
    let req = Request::get("/me?access_token=junk")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_accepted_req(&app, req, "query and header").await;
    // Two Authorization headers: refused when the first is Bearer, whatever the second.
    let bearer_value = format!("Bearer {token}");
    for second in [bearer_value.as_str(), "Basic dXNlcjpwYXNz", "Bearer x.y.z"] {
        let req = with_authorization(&[bearer_value.as_bytes(), second.as_bytes()]);
        let detail = "more than one Authorization header";
        assert_invalid_request(&app, req, detail, second).await;
    }
    // When the first is another scheme, the Bearer header behind it is not read, and the
    // request is malformed all the same: 400, the plain challenge (no token was presented).
    let req = with_authorization(&[b"Basic dXNlcjpwYXNz", bearer_value.as_bytes()]);
    let (status, headers, bytes) = call(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_single_challenge(&headers, PLAIN_CHALLENGE, "Basic then Bearer");
    assert_eq!(
        json_of(&bytes),
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-authorization",
            "title": "Malformed Authorization",
            "status": 400,
            "detail": "more than one Authorization header",
        })
    );
    // A 64 KiB token, valid-looking or junk: refused on its size, 401 not 500.
    let big = format!(
        "{}.{}.{}",
        "a".repeat(32 * 1024),
        "b".repeat(32 * 1024),
        "c"
    );
    assert_refused(&app, &big, TOO_LARGE).await;
    let junk = [&b"Bearer "[..], &[0xff; 64 * 1024]].concat();
    assert_refused_req(
        &app,
        with_authorization(&[&junk]),
        TOO_LARGE,
        "64 KiB of 0xff",
    )
    .await;
    // Non-ASCII bytes (obs-text): refused, never decoded lossily.
    for value in [
        [b"Bearer ", token.as_bytes(), b"\xff"].concat(),
        [b"Bearer \xc3\xa9", token.as_bytes()].concat(),
        [
            b"Bearer ",
            &token.as_bytes()[..10],
            b"\x80",
            &token.as_bytes()[10..],
        ]
        .concat(),
    ] {
        let req = with_authorization(&[&value]);
        assert_refused_req(&app, req, MALFORMED, "non-ASCII").await;
    }
}

// ---------------------------------------------------------------------------------------------
// A remote key set: kid junk never steers nor refetches; header URLs are never contacted.

#[cfg(feature = "jwks")]
mod remote {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::routing::get;
    use tower_shield::auth::Jwks;

    use super::*;

    /// A loopback server answering every request with `body`, counting them.
    async fn counting_server(body: String) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router = Router::new().fallback(get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }));
        let addr = common::serve(router).await;
        (format!("http://{addr}"), hits)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kid_probes_never_steer_or_refetch_the_set() {
        let set = json!({"keys": [ec_jwk(Some("ec-1"))]}).to_string();
        let (idp, idp_hits) = counting_server(set).await;
        let (attacker, attacker_jwk, _) = p256_attacker();
        let mut evil_jwk = attacker_jwk.clone();
        evil_jwk["kid"] = json!("evil");
        let attacker_set = json!({"keys": [evil_jwk]}).to_string();
        let (evil, evil_hits) = counting_server(attacker_set).await;

        // A cool-down and a refresh interval far longer than the test.
        let hour = Duration::from_secs(3600);
        let jwks = Jwks::builder(format!("{idp}/jwks.json"))
            .cooldown(hour)
            .refresh_interval(hour, hour)
            .build()
            .unwrap();
        // Loaded by the background task's first fetch, started by `build`. Not `refresh()`:
        // when this thread pauses after `build` until that fetch has ended (a loaded CI
        // machine), `refresh` fetches again, as its contract says (only a fetch that ended after
        // the call began counts), and the count here would be 2.
        tokio::time::timeout(Duration::from_secs(10), async {
            while !jwks.is_loaded() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .expect("the background task loads the set");
        assert_eq!(jwks.fetch_count(), 1);
        let app = app(builder()
            .jwks(jwks.clone())
            .algorithms([Algorithm::ES256, Algorithm::RS256])
            .max_token_len(64 * 1024)
            .build()
            .unwrap());

        let es_with = |header: Value, key: &EncodingKey| {
            sign_raw(
                header.to_string().as_bytes(),
                claims().to_string().as_bytes(),
                key,
                Alg::ES256,
            )
        };
        let genuine = es_with(json!({"alg": "ES256", "kid": "ec-1"}), &ec_private());
        assert_eq!(assert_accepted(&app, &genuine).await["key_id"], "ec-1");

        let long = "k".repeat(10 * 1024);
        let mut kids: Vec<String> = [
            "../jwks.json",
            "../../../../etc/passwd",
            "' OR '1'='1",
            "ec-1' --",
            "\"; DROP TABLE keys; --",
            "ec-1\r\nX: 1",
            "EC-1",
            "",
            "evil",
            &long,
        ]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
        kids.extend((0..100).map(|i| format!("random-{i:04}")));
        for kid in &kids {
            let token = es_with(json!({"alg": "ES256", "kid": kid}), &ec_private());
            assert_refused(&app, &token, UNKNOWN_KID).await;
        }
        // Header URLs pointing at the attacker's set (which holds the attacker's key as
        // "evil"), with the attacker's kid, the provider's, or none.
        let jku = format!("{evil}/jwks.json");
        let x5u = format!("{evil}/cert.pem");
        for (header, detail) in [
            (
                json!({"alg": "ES256", "kid": "evil", "jku": jku}),
                UNKNOWN_KID,
            ),
            (
                json!({"alg": "ES256", "kid": "evil", "x5u": x5u}),
                UNKNOWN_KID,
            ),
            (
                json!({"alg": "ES256", "kid": "evil", "jwk": attacker_jwk}),
                UNKNOWN_KID,
            ),
            (
                json!({"alg": "ES256", "kid": "ec-1", "jku": jku}),
                BAD_SIGNATURE,
            ),
            (json!({"alg": "ES256", "jku": jku}), BAD_SIGNATURE),
            (
                json!({"alg": "ES256", "x5u": x5u, "jwk": attacker_jwk}),
                BAD_SIGNATURE,
            ),
        ] {
            assert_refused(&app, &es_with(header, &attacker), detail).await;
        }
        // The provider's own token with the attacker's jku: verified with the set, jku unread.
        let token = es_with(
            json!({"alg": "ES256", "kid": "ec-1", "jku": jku}),
            &ec_private(),
        );
        assert_accepted(&app, &token).await;

        // Over a hundred unknown kids, and not one more fetch within the cool-down; the
        // attacker's server was never contacted.
        assert_eq!(jwks.fetch_count(), 1);
        assert_eq!(idp_hits.load(Ordering::SeqCst), 1);
        assert_eq!(evil_hits.load(Ordering::SeqCst), 0);
    }
}
