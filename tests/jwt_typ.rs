//! The JWT `typ` header (RFC 8725 section 3.11): access tokens are `JWT`, `at+jwt` (RFC 9068)
//! or untyped; tokens of other kinds — logout tokens, security event tokens — signed by the
//! same provider with the same keys are refused, not taken for access tokens (issue 12,
//! finding 2). Tokens signed by `jsonwebtoken`; PyJWT and node tokens are in `jwt_interop.rs`.

#![cfg(all(feature = "jwt", feature = "axum"))]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use common::{call, get_with};
use http::StatusCode;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower_shield::auth::jwt::{ConfigError, JwtBuilder};
use tower_shield::auth::{Algorithm, AuthLayer, JwtAuth, JwtKey, Principal};

const PUBLIC: &[u8] = include_bytes!("../examples/keys/jwt_public.pem");
const PRIVATE: &[u8] = include_bytes!("../examples/keys/jwt_private.pem");
const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

fn builder() -> JwtBuilder {
    JwtAuth::builder()
        .key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
        .issuer(ISS)
        .audience(AUD)
}

fn app(jwt: JwtAuth) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(AuthLayer::new(jwt))
}

/// An RS256 token whose header has `typ` (none when `None`), with valid claims.
fn token(typ: Option<&str>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub": "user_42", "iss": ISS, "aud": AUD, "exp": now + 600});
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = typ.map(Into::into);
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(PRIVATE).unwrap(),
    )
    .unwrap()
}

async fn status_of(app: &Router, token: &str) -> (StatusCode, Value, Option<String>) {
    let req = get_with("/me", "authorization", format!("Bearer {token}").as_bytes());
    let (status, headers, body) = call(app, req).await;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let challenge = headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, body, challenge)
}

async fn assert_accepted(app: &Router, token: &str, what: &str) {
    let (status, body, _) = status_of(app, token).await;
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
}

async fn assert_type_refused(app: &Router, token: &str, what: &str) {
    let (status, body, challenge) = status_of(app, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="token type not accepted""#
        ),
        "{what}"
    );
    assert_eq!(
        body,
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "token type not accepted",
        }),
        "{what}"
    );
}

#[tokio::test]
async fn access_token_types_are_accepted_by_default() {
    let app = app(builder().build().unwrap());
    assert_accepted(&app, &token(None), "no typ").await;
    // Media type names compare case-insensitively, and `application/` may be left out
    // (RFC 7515 section 4.1.9).
    for typ in [
        "JWT",
        "jwt",
        "application/jwt",
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        assert_accepted(&app, &token(Some(typ)), typ).await;
    }
}

#[tokio::test]
async fn other_token_types_are_refused_by_default() {
    let app = app(builder().build().unwrap());
    for typ in [
        "logout+jwt",
        "secevent+jwt",
        "application/secevent+jwt",
        "application/logout+jwt",
        "id_token+jwt",
        "JOSE",
        "JOSE+JSON",
        "text/jwt",
        "jwt ",
        "",
    ] {
        assert_type_refused(&app, &token(Some(typ)), typ).await;
    }
}

#[tokio::test]
async fn a_typ_that_is_not_a_string_is_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // The header is signed as written: a number, then an array, as `typ`.
    for typ in [json!(42), json!(["JWT"]), json!(null)] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": typ}).to_string());
        let valid = token(None);
        let payload = valid.split('.').nth(1).unwrap();
        let message = format!("{header}.{payload}");
        let key = EncodingKey::from_rsa_pem(PRIVATE).unwrap();
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::RS256)
                .unwrap();
        let app = app(builder().build().unwrap());
        assert_type_refused(&app, &format!("{message}.{signature}"), &typ.to_string()).await;
    }
}

#[tokio::test]
async fn the_accepted_types_are_configurable() {
    // RFC 9068 strictly: `at+jwt` only, and it must be there.
    let strict = app(builder()
        .allowed_types(["at+jwt"])
        .require_type(true)
        .build()
        .unwrap());
    assert_accepted(&strict, &token(Some("at+jwt")), "at+jwt").await;
    assert_accepted(
        &strict,
        &token(Some("application/AT+JWT")),
        "application/at+jwt",
    )
    .await;
    assert_type_refused(&strict, &token(Some("JWT")), "JWT").await;
    assert_type_refused(&strict, &token(None), "no typ").await;

    // Another kind of token, for an endpoint that receives them: configured as a media type
    // with its prefix, matched without it.
    let events = app(builder()
        .allowed_types(["application/secevent+jwt"])
        .build()
        .unwrap());
    assert_accepted(&events, &token(Some("secevent+jwt")), "secevent+jwt").await;
    assert_accepted(&events, &token(None), "no typ").await;
    assert_type_refused(&events, &token(Some("at+jwt")), "at+jwt").await;
}

#[test]
fn allowed_types_are_checked_at_build() {
    for bad in ["", "at jwt", "at+jwt\n", "a/b/c", "/jwt", "jwt/", "é+jwt"] {
        assert_eq!(
            builder().allowed_types([bad]).build().unwrap_err(),
            ConfigError::InvalidValue(bad.to_owned()),
            "{bad:?}"
        );
    }
    assert_eq!(
        builder()
            .allowed_types(Vec::<String>::new())
            .require_type(true)
            .build()
            .unwrap_err(),
        ConfigError::InvalidValue("require_type(true) with no allowed type".into())
    );
}
