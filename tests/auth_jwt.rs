//! Bearer JWT with static keys: every rule, and the attacks a verifier must refuse.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{call, get_with, request};
use http::{Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower_shield::auth::jwt::ConfigError;
use tower_shield::auth::{
    Algorithm, ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, Authenticator, Claims, JwtAuth,
    JwtKey, KeyDigest, MemoryKeyStore, Principal,
};
use tower_shield::scope::ScopeLayer;
use tower_shield::{Clock, ManualClock};

const PUBLIC: &[u8] = include_bytes!("../examples/keys/jwt_public.pem");
const PRIVATE: &[u8] = include_bytes!("../examples/keys/jwt_private.pem");
const OTHER_PRIVATE: &[u8] = include_bytes!("keys/other_rsa_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("keys/ec_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("keys/ed_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("keys/ed_private.pem");
const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const BEARER: &str = r#"Bearer realm="api""#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({
        "sub": "user_42",
        "scope": "read:posts write:posts",
        "iss": ISS,
        "aud": AUD,
        "iat": now(),
        "exp": now() + 3600,
    })
}

fn sign(
    alg: jsonwebtoken::Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
    claims: &Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(
        jsonwebtoken::Algorithm::RS256,
        &EncodingKey::from_rsa_pem(PRIVATE).unwrap(),
        None,
        claims,
    )
}

/// A token with a hand-written header and payload, and `signature` as is.
fn forge(header: &Value, claims: &Value, signature: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{c}.{signature}")
}

fn jwt() -> JwtAuth {
    JwtAuth::builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap()
}

async fn me(p: Principal) -> axum::Json<Principal> {
    axum::Json(p)
}

fn app(jwt: JwtAuth) -> Router {
    Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(jwt))
}

fn bearer(token: &str) -> Request<Body> {
    get_with("/me", "authorization", format!("Bearer {token}").as_bytes())
}

fn body(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Asserts the RFC 6750 answer to a presented token that is refused for `detail`.
async fn assert_refused(app: &Router, token: &str, detail: &str) {
    let (status, headers, bytes) = call(app, bearer(token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{detail}: {token}");
    assert_eq!(
        headers["www-authenticate"],
        format!(r#"Bearer realm="api", error="invalid_token", error_description="{detail}""#),
        "{token}"
    );
    assert_eq!(
        body(&bytes),
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": detail,
        })
    );
}

#[tokio::test]
async fn a_valid_token_gives_its_principal() {
    let app = app(jwt());
    let mut c = claims();
    c["tier"] = json!("premium");
    c["scp"] = json!(["delete:posts"]);
    c["roles"] = json!(["editor"]);
    let (status, _, bytes) = call(&app, bearer(&rs256(&c))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body(&bytes),
        json!({
            "subject": "user_42",
            "method": "jwt",
            "tier": "premium",
            "scopes": ["read:posts", "write:posts", "delete:posts"],
            "roles": ["editor"],
        })
    );
    // The scheme is case-insensitive; an audience array is fine.
    let mut c = claims();
    c["aud"] = json!(["https://other.example.com", AUD]);
    let req = get_with(
        "/me",
        "authorization",
        format!("bEaReR {}", rs256(&c)).as_bytes(),
    );
    assert_eq!(call(&app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn no_token_is_a_challenge_without_an_error_code() {
    let (status, headers, _) = call(&app(jwt()), request("/me")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], BEARER);
}

#[tokio::test]
async fn typed_claims_extractor() {
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        org: u64,
    }
    let app = Router::new()
        .route(
            "/org",
            get(|Claims(c): Claims<Mine>| async move { format!("{} {}", c.sub, c.org) }),
        )
        .layer(AuthLayer::new(jwt()));
    let mut c = claims();
    c["org"] = json!(7);
    let req = get_with(
        "/org",
        "authorization",
        format!("Bearer {}", rs256(&c)).as_bytes(),
    );
    let (status, _, bytes) = call(&app, req).await;
    assert_eq!((status, &bytes[..]), (StatusCode::OK, &b"user_42 7"[..]));
    // Claims without `org` are not this route's kind of token.
    let req = get_with(
        "/org",
        "authorization",
        format!("Bearer {}", rs256(&claims())).as_bytes(),
    );
    let (status, headers, bytes) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body(&bytes)["detail"],
        "the token's claims are not accepted here"
    );
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the token's claims are not accepted here""#
    );
}

#[tokio::test]
async fn alg_none_in_any_case_is_refused() {
    let app = app(jwt());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT"});
        assert_refused(
            &app,
            &forge(&header, &claims(), ""),
            "token algorithm not accepted",
        )
        .await;
        assert_refused(
            &app,
            &forge(&header, &claims(), "c2ln"),
            "token algorithm not accepted",
        )
        .await;
    }
    // No alg at all, or not a string.
    assert_refused(
        &app,
        &forge(&json!({"typ": "JWT"}), &claims(), "c2ln"),
        "token algorithm not accepted",
    )
    .await;
    assert_refused(
        &app,
        &forge(&json!({"alg": 256}), &claims(), "c2ln"),
        "token algorithm not accepted",
    )
    .await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let token = sign(
        jsonwebtoken::Algorithm::HS256,
        &EncodingKey::from_secret(PUBLIC),
        None,
        &claims(),
    );
    assert_refused(&app(jwt()), &token, "token algorithm not accepted").await;

    // Even where HS256 is accepted (for another key), it cannot borrow the RSA key by kid.
    let both = JwtAuth::builder()
        .key(
            JwtKey::rsa_pem(Algorithm::RS256, PUBLIC)
                .unwrap()
                .with_kid("rsa"),
        )
        .key(
            JwtKey::hmac(Algorithm::HS256, &[7u8; 32])
                .unwrap()
                .with_kid("hmac"),
        )
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap();
    let token = sign(
        jsonwebtoken::Algorithm::HS256,
        &EncodingKey::from_secret(PUBLIC),
        Some("rsa"),
        &claims(),
    );
    assert_refused(&app(both.clone()), &token, "no key for this token").await;
    let token = sign(
        jsonwebtoken::Algorithm::HS256,
        &EncodingKey::from_secret(PUBLIC),
        Some("hmac"),
        &claims(),
    );
    assert_refused(&app(both.clone()), &token, "token signature invalid").await;
    let good = sign(
        jsonwebtoken::Algorithm::HS256,
        &EncodingKey::from_secret(&[7u8; 32]),
        Some("hmac"),
        &claims(),
    );
    assert_eq!(call(&app(both), bearer(&good)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    let app = app(jwt());
    let other = sign(
        jsonwebtoken::Algorithm::RS256,
        &EncodingKey::from_rsa_pem(OTHER_PRIVATE).unwrap(),
        None,
        &claims(),
    );
    assert_refused(&app, &other, "token signature invalid").await;

    let good = rs256(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims();
    evil["sub"] = json!("admin");
    evil["scope"] = json!("delete:posts");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(evil.to_string()),
        parts[2]
    );
    assert_refused(&app, &tampered, "token signature invalid").await;
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    assert_refused(&app, &stripped, "token signature invalid").await;
    // Structure and charset are checked before anything is decoded.
    assert_refused(
        &app,
        &format!("{}.{}", parts[0], parts[1]),
        "malformed token",
    )
    .await;
    assert_refused(&app, &format!("{good}.x"), "malformed token").await;
    assert_refused(&app, &good.replacen('.', "+", 1), "malformed token").await;
}

#[tokio::test]
async fn ecdsa_signature_of_zeros_is_refused() {
    // CVE-2022-21449 ("psychic signatures"): r = s = 0 verified everything in some JDKs.
    let ec = JwtAuth::builder()
        .key(JwtKey::ec_pem(Algorithm::ES256, EC_PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap();
    let app = app(ec);
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
    assert_refused(
        &app,
        &forge(&header, &claims(), &zeros),
        "token signature invalid",
    )
    .await;
    let good = sign(
        jsonwebtoken::Algorithm::ES256,
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
        None,
        &claims(),
    );
    assert_eq!(call(&app, bearer(&good)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn eddsa_tokens() {
    let ed = JwtAuth::builder()
        .key(JwtKey::ed_pem(ED_PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap();
    let good = sign(
        jsonwebtoken::Algorithm::EdDSA,
        &EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
        None,
        &claims(),
    );
    assert_eq!(call(&app(ed), bearer(&good)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn time_claims() {
    let app = app(jwt());
    let mut c = claims();
    c["exp"] = json!(now() - 120);
    assert_refused(&app, &rs256(&c), "token expired").await;
    c["exp"] = json!(now() - 30); // within the default 60 s leeway
    assert_eq!(call(&app, bearer(&rs256(&c))).await.0, StatusCode::OK);
    c["exp"] = json!((now() + 60).to_string());
    assert_refused(&app, &rs256(&c), "token exp claim is not a number").await;
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_refused(&app, &rs256(&c), "token has no exp claim").await;
    let mut c = claims();
    c["nbf"] = json!(now() + 600);
    assert_refused(&app, &rs256(&c), "token not yet valid").await;
    c["nbf"] = json!("soon");
    assert_refused(&app, &rs256(&c), "token nbf claim is not a number").await;

    let strict = JwtAuth::builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let mut c = claims();
    c["exp"] = json!(now() - 1);
    assert_refused(&app_of(strict), &rs256(&c), "token expired").await;
}

fn app_of(jwt: JwtAuth) -> Router {
    app(jwt)
}

#[tokio::test]
async fn issuer_and_audience_are_required_when_configured() {
    let app = app(jwt());
    for (claim, value, detail) in [
        (
            "iss",
            json!("https://evil.example.com"),
            "token issuer not accepted",
        ),
        ("iss", json!(42), "token issuer not accepted"),
        ("iss", json!([ISS]), "token issuer not accepted"),
        (
            "aud",
            json!("https://evil.example.com"),
            "token audience not accepted",
        ),
        ("aud", json!(42), "token audience not accepted"),
        ("aud", json!([]), "token audience not accepted"),
    ] {
        let mut c = claims();
        c[claim] = value;
        assert_refused(&app, &rs256(&c), detail).await;
    }
    // jsonwebtoken accepts a token without iss/aud unless told they are required; we refuse.
    for (claim, detail) in [
        ("iss", "token has no iss claim"),
        ("aud", "token has no aud claim"),
        ("sub", "token names no subject"),
    ] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(claim);
        assert_refused(&app, &rs256(&c), detail).await;
    }
    let jti = JwtAuth::builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .require_claim("jti")
        .build()
        .unwrap();
    assert_refused(
        &app_of(jti),
        &rs256(&claims()),
        "token lacks a required claim",
    )
    .await;
}

#[tokio::test]
async fn oversized_and_duplicated_headers() {
    let app = app(jwt());
    let mut c = claims();
    c["pad"] = json!("x".repeat(9 * 1024));
    assert_refused(&app, &rs256(&c), "token too large").await;
    // A huge header is refused on its length, without being decoded.
    let huge = format!("{}.{}.{}", "a".repeat(40_000), "b", "c");
    assert_refused(&app, &huge, "token too large").await;
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {}", rs256(&claims())))
        .header("authorization", "Bearer x.y.z")
        .body(Body::empty())
        .unwrap();
    // RFC 6750 section 3.1: a malformed request is `invalid_request`, 400.
    let (status, headers, bytes) = call(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body(&bytes)["detail"], "more than one Authorization header");
    assert_eq!(
        body(&bytes)["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-authorization"
    );
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="api", error="invalid_request", error_description="more than one Authorization header""#
    );
}

#[tokio::test]
async fn kids_select_keys_and_header_urls_are_never_followed() {
    let keyed = JwtAuth::builder()
        .key(
            JwtKey::rsa_pem(Algorithm::RS256, PUBLIC)
                .unwrap()
                .with_kid("main"),
        )
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap();
    let app = app(keyed);
    let private = EncodingKey::from_rsa_pem(PRIVATE).unwrap();
    let good = sign(
        jsonwebtoken::Algorithm::RS256,
        &private,
        Some("main"),
        &claims(),
    );
    assert_eq!(call(&app, bearer(&good)).await.0, StatusCode::OK);
    for kid in ["../../etc/passwd", "main?x=1", "%2e%2e", "main\u{0}"] {
        let token = sign(
            jsonwebtoken::Algorithm::RS256,
            &private,
            Some(kid),
            &claims(),
        );
        assert_refused(&app, &token, "unknown signing key").await;
    }
    // jku / x5u / an embedded jwk offer the attacker's key: never used.
    let other = EncodingKey::from_rsa_pem(OTHER_PRIVATE).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("main".into());
    header.jku = Some("http://127.0.0.1:9/evil-jwks.json".into());
    header.x5u = Some("http://127.0.0.1:9/evil.pem".into());
    let token = encode(&header, &claims(), &other).unwrap();
    assert_refused(&app, &token, "token signature invalid").await;
    // A critical extension we do not understand.
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.crit = Some(vec!["exp".into()]);
    let token = encode(&header, &claims(), &private).unwrap();
    assert_refused(
        &app,
        &token,
        "token has critical header parameters this server does not understand",
    )
    .await;
}

#[tokio::test]
async fn a_token_seen_again_is_answered_from_the_cache() {
    let clock = ManualClock::at_unix_secs(now());
    let make = |cache: bool| {
        let mut b = JwtAuth::builder()
            .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
            .issuer(ISS)
            .audience(AUD)
            .leeway(Duration::ZERO)
            .clock(clock.clone());
        if cache {
            b = b.cache(100);
        }
        app(b.build().unwrap())
    };
    let (cached, uncached) = (make(true), make(false));
    let mut c = claims();
    c["nbf"] = json!(now());
    let token = rs256(&c);
    assert_eq!(call(&cached, bearer(&token)).await.0, StatusCode::OK);
    assert_eq!(call(&uncached, bearer(&token)).await.0, StatusCode::OK);
    // With the clock moved back before `nbf`, only a full verification notices: the cached
    // layer answers from the cache, without verifying again.
    clock.set_micros(clock.now() - 600_000_000);
    assert_eq!(call(&cached, bearer(&token)).await.0, StatusCode::OK);
    assert_refused(&uncached, &token, "token not yet valid").await;
}

#[tokio::test]
async fn the_cache_never_serves_past_exp() {
    let clock = ManualClock::at_unix_secs(now());
    let cached = JwtAuth::builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
        .leeway(Duration::ZERO)
        .cache(100)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(cached);
    let mut c = claims();
    c["exp"] = json!(now() + 10);
    let token = rs256(&c);
    assert_eq!(call(&app, bearer(&token)).await.0, StatusCode::OK);
    assert_eq!(call(&app, bearer(&token)).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(11));
    assert_refused(&app, &token, "token expired").await;
}

#[tokio::test]
async fn chain_of_api_key_and_jwt_with_scopes() {
    let store = MemoryKeyStore::new();
    store.insert(
        KeyDigest::of("ak_test_key"),
        ApiKeyRecord::new(Principal::builder("app", AuthMethod::ApiKey).build()),
    );
    let chain = ApiKeyAuth::new(store).or(jwt());
    let app = Router::new()
        .route(
            "/posts",
            get(|| async { "[]" }).route_layer(ScopeLayer::all_of(["write:posts"]).unwrap()),
        )
        .route("/me", get(me))
        .layer(AuthLayer::new(chain));
    let (status, headers, _) = call(&app, request("/me")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(
        challenges,
        [r#"ApiKey realm="api", header="X-API-Key""#, BEARER]
    );

    let token = rs256(&claims());
    let (status, _, bytes) = call(&app, bearer(&token)).await;
    assert_eq!(
        (status, body(&bytes)["method"].clone()),
        (StatusCode::OK, json!("jwt"))
    );
    // An invalid API key is a 401 at once, even with a valid token beside it.
    let req = Request::get("/me")
        .header("x-api-key", "ak_test_wrong")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(
        challenges,
        [r#"ApiKey realm="api", header="X-API-Key""#, BEARER]
    );

    // A Bearer principal without the scope: 403 per RFC 6750.
    let mut c = claims();
    c["scope"] = json!("read:posts");
    let req = get_with(
        "/posts",
        "authorization",
        format!("Bearer {}", rs256(&c)).as_bytes(),
    );
    let (status, headers, bytes) = call(&app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="write:posts""#
    );
    assert_eq!(
        body(&bytes)["detail"],
        "This request needs the scope write:posts."
    );
    let req = get_with(
        "/posts",
        "authorization",
        format!("Bearer {token}").as_bytes(),
    );
    assert_eq!(call(&app, req).await.0, StatusCode::OK);
}

#[test]
fn configuration_errors() {
    assert_eq!(JwtAuth::builder().build().unwrap_err(), ConfigError::NoKeys);
    assert_eq!(
        JwtAuth::builder()
            .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
            .algorithms([Algorithm::ES256])
            .build()
            .unwrap_err(),
        ConfigError::AlgorithmNotAccepted("RS256")
    );
    assert_eq!(
        JwtAuth::builder()
            .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
            .algorithms([])
            .build()
            .unwrap_err(),
        ConfigError::NoAlgorithms
    );
    assert!(matches!(
        JwtKey::rsa_pem(Algorithm::RS256, b"not a pem"),
        Err(ConfigError::InvalidKey(_))
    ));
    assert_eq!(
        JwtKey::ec_pem(Algorithm::RS256, EC_PUBLIC).unwrap_err(),
        ConfigError::KeyAlgorithmMismatch("RS256")
    );
    assert!(matches!(
        JwtKey::jwk(r#"{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}"#),
        Err(ConfigError::InvalidKey(_))
    ));
}

/// `any_of`: a token needs one of the scopes, so the RFC 6750 challenge asks for one (the
/// first), and its description names them all; asking for every scope would ask for more
/// access than the request needs.
#[tokio::test]
async fn an_any_of_challenge_asks_for_one_scope() {
    let app = Router::new()
        .route(
            "/posts",
            get(|| async { "[]" })
                .route_layer(ScopeLayer::any_of(["delete:posts", "write:posts"]).unwrap()),
        )
        .layer(AuthLayer::new(jwt()));
    // `GET /posts` with a token holding `scope`.
    let with_scope = |scope: &str| {
        let mut c = claims();
        c["scope"] = json!(scope);
        get_with(
            "/posts",
            "authorization",
            format!("Bearer {}", rs256(&c)).as_bytes(),
        )
    };
    let (status, headers, bytes) = call(&app, with_scope("read:posts")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="insufficient_scope", error_description="one scope of: delete:posts write:posts", scope="delete:posts""#
    );
    assert_eq!(
        body(&bytes)["detail"],
        "This request needs one scope of: delete:posts write:posts."
    );
    assert_eq!(
        call(&app, with_scope("write:posts")).await.0,
        StatusCode::OK
    );
}
