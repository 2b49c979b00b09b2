//! Tokens signed by other implementations — PyJWT (`tests/interop/idp.py`) and node
//! (`jsonwebtoken`, and `jose` for EdDSA, through `tests/interop/mint.mjs`) — verified by
//! `JwtAuth` with static PEM keys and with the provider's JWK set, for RS256, ES256 and EdDSA.
//!
//! Needs `python3` with `pip install -r tests/interop/requirements.txt`, and node with
//! `npm ci --prefix tests/interop`; the tests fail (they do not skip) without them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use common::call;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower_shield::auth::{Algorithm, AuthLayer, Jwks, JwtAuth, JwtBuilder, JwtKey, Principal};

const AUDIENCE: &str = "https://api.example.com";
const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
/// The algorithms, and the kid of each one's first key at the provider.
const ALGS: [(&str, &str); 3] = [("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")];

/// `tests/interop/idp.py`, running until dropped (it also exits when its stdin closes).
struct Idp {
    base: String,
    http: reqwest::Client,
    child: Child,
    _stdin: ChildStdin,
}

impl Idp {
    fn start() -> Idp {
        let check = Command::new("python3")
            .args(["-c", "import jwt, cryptography"])
            .output()
            .unwrap_or_else(|e| {
                panic!("these tests need python3 ({e}); then `pip install -r tests/interop/requirements.txt`")
            });
        assert!(
            check.status.success(),
            "these tests need PyJWT and cryptography: `pip install -r tests/interop/requirements.txt` ({})",
            String::from_utf8_lossy(&check.stderr).trim()
        );
        let mut child = Command::new("python3")
            .arg(format!("{INTEROP}/idp.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tests/interop/idp.py");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read idp.py's first line");
        let Some(base) = line.trim().strip_prefix("listening ") else {
            let _ = child.kill();
            panic!("idp.py did not start (its stderr is above); it printed {line:?}");
        };
        Idp {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            child,
            _stdin: stdin,
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> String {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .expect("idp.py answers");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status} {text}");
        text
    }

    /// A token signed by PyJWT.
    async fn mint(&self, alg: &str, query: &[(&str, &str)]) -> String {
        let mut q = vec![("alg", alg)];
        q.extend_from_slice(query);
        self.get("/mint", &q).await
    }

    /// Static keys for all three algorithms, from the provider's public PEMs.
    async fn static_keys(&self, builder: JwtBuilder) -> JwtBuilder {
        let rsa = self.get("/public", &[("kid", "rsa-1")]).await;
        let ec = self.get("/public", &[("kid", "ec-1")]).await;
        let ed = self.get("/public", &[("kid", "ed-1")]).await;
        builder
            .key(
                JwtKey::rsa_pem(Algorithm::RS256, rsa.as_bytes())
                    .expect("RSA SPKI PEM")
                    .with_kid("rsa-1"),
            )
            .key(
                JwtKey::ec_pem(Algorithm::ES256, ec.as_bytes())
                    .expect("P-256 SPKI PEM")
                    .with_kid("ec-1"),
            )
            .key(
                JwtKey::ed_pem(ed.as_bytes())
                    .expect("Ed25519 SPKI PEM")
                    .with_kid("ed-1"),
            )
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token signed by node (`jsonwebtoken`; `jose` for EdDSA) with the PEM private key `pem`.
fn node_mint(alg: &str, kid: &str, pem: &str, claims: &Value) -> String {
    for module in ["jsonwebtoken", "jose"] {
        assert!(
            std::path::Path::new(&format!("{INTEROP}/node_modules/{module}/package.json")).exists(),
            "these tests need the node modules: `npm ci --prefix tests/interop`"
        );
    }
    let mut child = Command::new("node")
        .arg(format!("{INTEROP}/mint.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("these tests need node ({e})"));
    let input = json!({"alg": alg, "kid": kid, "privateKeyPem": pem, "claims": claims});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to mint.mjs");
    let out = child.wait_with_output().expect("mint.mjs");
    assert!(
        out.status.success(),
        "mint.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

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
        let token = node_mint(alg, kid, &pem, &claims);
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
        let token = node_mint(alg, kid, &pem, &claims);
        assert_claims(accepted_claims(&app, &token, kid).await, &claims);
    }
}
