//! A `JwtAuth` must say whose tokens it accepts (issue 12, finding 3): without an issuer or an
//! audience it would accept tokens the same provider minted for any other service. Both are
//! required at build, unless explicitly waived with `any_issuer(true)` / `any_audience(true)`.

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

fn keyed() -> JwtBuilder {
    JwtAuth::builder().key(JwtKey::rsa_pem(Algorithm::RS256, PUBLIC).unwrap())
}

fn app(jwt: JwtAuth) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(AuthLayer::new(jwt))
}

/// A valid RS256 token with `claims` (and `sub`, `exp`) added.
fn token(claims: Value) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut all = json!({"sub": "user_42", "exp": now + 600});
    all.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    encode(
        &Header::new(jsonwebtoken::Algorithm::RS256),
        &all,
        &EncodingKey::from_rsa_pem(PRIVATE).unwrap(),
    )
    .unwrap()
}

async fn answer(app: &Router, token: &str) -> (StatusCode, String) {
    let req = get_with("/me", "authorization", format!("Bearer {token}").as_bytes());
    let (status, _, body) = call(app, req).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn detail(app: &Router, token: &str) -> Value {
    let (status, body) = answer(app, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["detail"].clone()
}

#[test]
fn issuer_and_audience_are_required_at_build() {
    assert_eq!(keyed().build().unwrap_err(), ConfigError::NoIssuer);
    assert_eq!(
        keyed().audience(AUD).build().unwrap_err(),
        ConfigError::NoIssuer
    );
    assert_eq!(
        keyed().issuer(ISS).build().unwrap_err(),
        ConfigError::NoAudience
    );
    assert_eq!(
        ConfigError::NoIssuer.to_string(),
        "a JWT authenticator needs an issuer: call issuer(..), or any_issuer(true) to accept \
         every issuer the keys sign for"
    );
    assert_eq!(
        ConfigError::NoAudience.to_string(),
        "a JWT authenticator needs an audience: call audience(..), or any_audience(true) to \
         accept tokens minted for any service"
    );
    assert!(keyed().issuer(ISS).audience(AUD).build().is_ok());
    assert!(keyed().any_issuer(true).audience(AUD).build().is_ok());
    assert!(keyed().issuer(ISS).any_audience(true).build().is_ok());
    assert!(keyed().any_issuer(true).any_audience(true).build().is_ok());
    // Turning the waiver off again is the same as never giving it.
    assert_eq!(
        keyed()
            .any_issuer(true)
            .any_issuer(false)
            .audience(AUD)
            .build()
            .unwrap_err(),
        ConfigError::NoIssuer
    );
}

#[test]
fn a_waiver_beside_a_value_is_a_contradiction() {
    assert_eq!(
        keyed()
            .issuer(ISS)
            .any_issuer(true)
            .audience(AUD)
            .build()
            .unwrap_err(),
        ConfigError::Contradiction("issuer(..) and any_issuer(true)")
    );
    assert_eq!(
        keyed()
            .issuer(ISS)
            .audience(AUD)
            .any_audience(true)
            .build()
            .unwrap_err(),
        ConfigError::Contradiction("audience(..) and any_audience(true)")
    );
}

#[cfg(feature = "jwks")]
#[tokio::test]
async fn a_remote_key_set_needs_them_too() {
    let jwks = tower_shield::auth::Jwks::builder("https://auth.example.com/jwks.json")
        .build()
        .unwrap();
    let remote = || {
        JwtAuth::builder()
            .jwks(jwks.clone())
            .algorithms([Algorithm::RS256])
    };
    assert_eq!(remote().build().unwrap_err(), ConfigError::NoIssuer);
    assert_eq!(
        remote().issuer(ISS).build().unwrap_err(),
        ConfigError::NoAudience
    );
    assert!(remote().issuer(ISS).audience(AUD).build().is_ok());
}

#[tokio::test]
async fn tokens_for_another_service_are_refused_unless_waived() {
    let other_service = token(json!({"iss": ISS, "aud": "https://billing.example.com"}));
    let other_issuer = token(json!({"iss": "https://other.example.com", "aud": AUD}));
    let ours = token(json!({"iss": ISS, "aud": AUD}));

    let strict = app(keyed().issuer(ISS).audience(AUD).build().unwrap());
    assert_eq!(answer(&strict, &ours).await.0, StatusCode::OK);
    assert_eq!(
        detail(&strict, &other_service).await,
        "token audience not accepted"
    );
    assert_eq!(
        detail(&strict, &other_issuer).await,
        "token issuer not accepted"
    );

    // Waived: what is waived is not checked; what is configured still is.
    let any_audience = app(keyed().issuer(ISS).any_audience(true).build().unwrap());
    assert_eq!(answer(&any_audience, &ours).await.0, StatusCode::OK);
    assert_eq!(
        answer(&any_audience, &other_service).await.0,
        StatusCode::OK
    );
    assert_eq!(
        answer(&any_audience, &token(json!({"iss": ISS}))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        detail(&any_audience, &other_issuer).await,
        "token issuer not accepted"
    );

    let any_issuer = app(keyed().any_issuer(true).audience(AUD).build().unwrap());
    assert_eq!(answer(&any_issuer, &other_issuer).await.0, StatusCode::OK);
    assert_eq!(
        answer(&any_issuer, &token(json!({"aud": AUD}))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        detail(&any_issuer, &other_service).await,
        "token audience not accepted"
    );
}
