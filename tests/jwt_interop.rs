//! Tokens signed by other implementations — PyJWT (`tests/interop/idp.py`) and node
//! (`jsonwebtoken`, and `jose` for EdDSA, through `tests/interop/mint.mjs`) — verified by
//! `JwtAuth` with static PEM keys and with the provider's JWK set, for RS256, ES256 and EdDSA.
//!
//! Needs `python3` with `pip install -r tests/interop/requirements.txt`, and node with
//! `npm ci --prefix tests/interop`; the tests fail (they do not skip) without them.

mod common;
#[path = "interop_support/mod.rs"]
mod interop;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use common::call;
use http::{Request, StatusCode};
use interop::{Idp, node_mint, node_mint_with_header};
use serde_json::{Value, json};
use tower_shield::auth::jwt::JwtBuilder;
use tower_shield::auth::{Algorithm, AuthLayer, Jwks, JwtAuth, Principal};

const AUDIENCE: &str = "https://api.example.com";
/// The algorithms, and the kid of each one's first key at the provider.
const ALGS: [(&str, &str); 3] = [("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn builder(issuer: &str) -> JwtBuilder {
    JwtAuth::builder()
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        .issuer(issuer)
        .audience(AUDIENCE)
}

/// A Router whose handler answers the principal's claims and key id.
fn app(jwt: JwtAuth) -> Router {
    async fn claims(p: Principal) -> Json<Value> {
        Json(json!({
            "claims": p.claims::<Value>().expect("claims"),
            "key_id": p.key_id(),
            "subject": p.subject(),
        }))
    }
    Router::new()
        .route("/claims", get(claims))
        .layer(AuthLayer::new(jwt))
}

/// The claims the handler saw for `token`, after asserting a `200` with key `kid`.
async fn accepted_claims(app: &Router, token: &str, kid: &str) -> Value {
    let req = Request::get("/claims")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = call(app, req).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{kid}: {}",
        String::from_utf8_lossy(&body)
    );
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["key_id"], kid);
    assert_eq!(body["subject"], body["claims"]["sub"]);
    body["claims"].clone()
}

/// Asserts that `token` with its payload altered is refused for its signature.
async fn assert_tampered_refused(app: &Router, token: &str) {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = base64_url_decode(&parts[1]);
    let mut claims: Value = serde_json::from_slice(&payload).expect("payload");
    claims["sub"] = json!("admin");
    parts[1] = base64_url_encode(claims.to_string().as_bytes());
    let req = Request::get("/claims")
        .header("authorization", format!("Bearer {}", parts.join(".")))
        .body(Body::empty())
        .expect("request");
    let (status, headers, _) = call(app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="token signature invalid""#
    );
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

fn base64_url_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims node is given; `iat` is added by the minter.
fn node_claims(issuer: &str, alg: &str) -> Value {
    json!({
        "sub": format!("node-{alg}"),
        "iss": issuer,
        "aud": AUDIENCE,
        "exp": now() + 600,
        "scope": "read:posts",
        "org": {"id": 42, "roles": ["owner", "billing"]},
    })
}

/// Asserts that `claims` are `expected` plus an `iat` of about now.
fn assert_claims(mut claims: Value, expected: &Value) {
    let iat = claims
        .as_object_mut()
        .expect("object")
        .remove("iat")
        .and_then(|v| v.as_u64())
        .expect("iat");
    assert!(iat.abs_diff(now()) < 120, "iat {iat}");
    assert_eq!(&claims, expected);
}

#[tokio::test]
async fn pyjwt_tokens_verify_with_static_pem_keys() {
    let idp = Idp::start();
    let app = app(idp
        .static_keys(builder(&idp.base))
        .await
        .build()
        .expect("jwt"));
    for (alg, kid) in ALGS {
        let sub = format!("py-{alg}");
        let token = idp
            .mint(
                alg,
                &[("sub", &sub), ("scope", "read:posts"), ("tier", "premium")],
            )
            .await;
        let mut claims = accepted_claims(&app, &token, kid).await;
        let iat = claims["iat"].as_u64().expect("iat");
        assert_eq!(claims["exp"].as_u64(), Some(iat + 3600), "{alg}");
        claims.as_object_mut().unwrap().remove("exp");
        assert_claims(
            claims,
            &json!({
                "sub": sub,
                "iss": idp.base,
                "aud": AUDIENCE,
                "scope": "read:posts",
                "tier": "premium",
            }),
        );
        assert_tampered_refused(&app, &token).await;
    }
}

#[tokio::test]
async fn node_tokens_verify_with_static_pem_keys() {
    let idp = Idp::start();
    let app = app(idp
        .static_keys(builder(&idp.base))
        .await
        .build()
        .expect("jwt"));
    for (alg, kid) in ALGS {
        let pem = idp.get("/private", &[("kid", kid)]).await;
        let claims = node_claims(&idp.base, alg);
        let token = node_mint(alg, kid, &pem, claims.clone());
        assert_claims(accepted_claims(&app, &token, kid).await, &claims);
        assert_tampered_refused(&app, &token).await;
    }
}

#[tokio::test]
async fn pyjwt_tokens_verify_with_the_jwk_set() {
    let idp = Idp::start();
    let jwks = Jwks::builder(format!("{}/jwks.json", idp.base))
        .build()
        .expect("jwks");
    let app = app(builder(&idp.base).jwks(jwks).build().expect("jwt"));
    for (alg, kid) in ALGS {
        let sub = format!("py-{alg}");
        let token = idp.mint(alg, &[("sub", &sub)]).await;
        let claims = accepted_claims(&app, &token, kid).await;
        assert_eq!(claims["sub"], sub);
        assert_eq!(claims["iss"], idp.base);
        assert_eq!(claims["aud"], AUDIENCE);
    }
}

#[tokio::test]
async fn node_tokens_verify_with_the_jwk_set() {
    let idp = Idp::start();
    let jwks = Jwks::discover(&idp.base).build().expect("jwks");
    let app = app(builder(&idp.base).jwks(jwks).build().expect("jwt"));
    for (alg, kid) in ALGS {
        let pem = idp.get("/private", &[("kid", kid)]).await;
        let claims = node_claims(&idp.base, alg);
        let token = node_mint(alg, kid, &pem, claims.clone());
        assert_claims(accepted_claims(&app, &token, kid).await, &claims);
    }
}

/// Asserts the `401` of a token whose `typ` is not an access token's.
async fn assert_type_refused(app: &Router, token: &str, what: &str) {
    let req = Request::get("/claims")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = call(app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="token type not accepted""#,
        "{what}"
    );
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["detail"], "token type not accepted", "{what}");
}

/// The header of a token, decoded.
fn header_of(token: &str) -> Value {
    serde_json::from_slice(&base64_url_decode(token.split('.').next().expect("header")))
        .expect("header json")
}

#[tokio::test]
async fn pyjwt_tokens_of_other_types_are_refused() {
    // RFC 8725 section 3.11: a logout token or a security event token signed with the
    // provider's keys is not an access token (issue 12, finding 2).
    let idp = Idp::start();
    let app = app(idp
        .static_keys(builder(&idp.base))
        .await
        .build()
        .expect("jwt"));
    for (alg, kid) in ALGS {
        // PyJWT writes `typ: JWT` unless told otherwise; an empty typ leaves it out.
        for (typ, expected) in [
            ("at+jwt", json!("at+jwt")),
            ("application/at+jwt", json!("application/at+jwt")),
            ("", Value::Null),
        ] {
            let extra = json!({ "typ": typ }).to_string();
            let token = idp
                .mint(alg, &[("sub", "alice"), ("extra_header", &extra)])
                .await;
            assert_eq!(
                header_of(&token).get("typ").cloned().unwrap_or(Value::Null),
                expected
            );
            accepted_claims(&app, &token, kid).await;
        }
        for typ in ["logout+jwt", "secevent+jwt", "JOSE"] {
            let extra = json!({ "typ": typ }).to_string();
            let token = idp
                .mint(alg, &[("sub", "mallory"), ("extra_header", &extra)])
                .await;
            assert_eq!(header_of(&token)["typ"], typ);
            assert_type_refused(&app, &token, &format!("{alg} {typ}")).await;
        }
    }
}

#[tokio::test]
async fn node_tokens_of_other_types_are_refused() {
    let idp = Idp::start();
    let jwks = Jwks::builder(format!("{}/jwks.json", idp.base))
        .build()
        .expect("jwks");
    let app = app(builder(&idp.base).jwks(jwks).build().expect("jwt"));
    for (alg, kid) in ALGS {
        let pem = idp.get("/private", &[("kid", kid)]).await;
        let claims = node_claims(&idp.base, alg);
        let token = node_mint_with_header(alg, kid, &pem, claims.clone(), json!({"typ": "at+jwt"}));
        assert_eq!(header_of(&token)["typ"], "at+jwt");
        assert_claims(accepted_claims(&app, &token, kid).await, &claims);
        for typ in ["logout+jwt", "secevent+jwt"] {
            let token =
                node_mint_with_header(alg, kid, &pem, claims.clone(), json!({ "typ": typ }));
            assert_eq!(header_of(&token)["typ"], typ);
            assert_type_refused(&app, &token, &format!("{alg} {typ}")).await;
        }
    }
}
