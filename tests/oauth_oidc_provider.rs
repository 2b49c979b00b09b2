//! Against a real authorization server: node `oidc-provider` (`tests/oidc/server.mjs`), started
//! on a loopback port for each test. `ClientCredentialsLayer` gets its tokens; `JwtAuth`
//! verifies its RFC 9068 JWT access tokens through discovery; `IntrospectionAuth` accepts its
//! opaque tokens and refuses one revoked at the server once the cache lifetime has passed.
//!
//! Needs node and `npm ci --prefix tests/oidc` (`.ci/run` does both). Without them the tests
//! fail, unless `TOWER_SHIELD_SKIP_INTEROP=1` is set.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use serde_json::Value;
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::auth::{
    Algorithm, AuthLayer, Authenticator as _, IntrospectionAuth, Jwks, JwtAuth, Principal,
};
use tower_shield::client::ClientCredentialsLayer;
use tower_shield::client::credentials::ClientAuth;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
const HOW: &str =
    "install node (>= 20.19) and `npm ci --prefix tests/oidc`, or set TOWER_SHIELD_SKIP_INTEROP=1";
const SVC: (&str, &str) = ("svc", "svc-secret-0123456789abcdef");
const SVC_POST: (&str, &str) = ("svc-post", "svc-post-secret-0123456789abcdef");
const JWT_RESOURCE: &str = "https://api.example.com/jwt";
const OPAQUE_RESOURCE: &str = "https://api.example.com/opaque";
const AUDIENCE: &str = "https://api.example.com";

fn skipped(test: &str) -> bool {
    let skip = std::env::var("TOWER_SHIELD_SKIP_INTEROP").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("{test}: skipped (TOWER_SHIELD_SKIP_INTEROP=1)");
    }
    skip
}

/// `tests/oidc/server.mjs`, running until dropped (it also exits when its stdin closes).
struct Provider {
    issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Provider {
    fn start() -> Provider {
        assert!(
            std::path::Path::new(&format!("{DIR}/node_modules/oidc-provider/package.json"))
                .exists(),
            "the oidc-provider node module is missing: {HOW}"
        );
        let mut child = Command::new("node")
            .arg(format!("{DIR}/server.mjs"))
            .current_dir(DIR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node ({e}): {HOW}"));
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("stdin and stdout are piped");
        };
        // From here on, dropping the provider (a panic included) kills and reaps the process.
        let mut provider = Provider {
            issuer: String::new(),
            child,
            _stdin: stdin,
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read server.mjs");
            assert!(
                n > 0,
                "tests/oidc/server.mjs exited before printing its issuer: {HOW}"
            );
            if let Some(issuer) = line.trim().strip_prefix("issuer ") {
                provider.issuer = issuer.to_owned();
                return provider;
            }
        }
    }

    async fn stats(&self) -> Value {
        let body = reqwest::get(format!("{}/__stats", self.issuer))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// Revokes `token` at the server (RFC 7009), as the client it was issued to (`svc-post`).
    async fn revoke(&self, token: &str) {
        let res = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.issuer))
            .form(&[
                ("token", token),
                ("client_id", SVC_POST.0),
                ("client_secret", SVC_POST.1),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token from the provider through `ClientCredentialsLayer`: what the resource got.
async fn token_through_layer(layer: &ClientCredentialsLayer) -> String {
    let resource = service_fn(|req: Request<String>| async move {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        Ok::<_, std::convert::Infallible>(Response::new(auth))
    });
    let res = layer
        .layer(resource)
        .oneshot(
            Request::get("https://api.example.com/")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    res.into_body()
        .strip_prefix("Bearer ")
        .expect("a Bearer token")
        .to_owned()
}

fn app(auth: impl tower_shield::auth::Authenticator) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { serde_json::to_string(&p).unwrap() }),
        )
        .layer(AuthLayer::new(auth))
}

async fn me(app: &Router, token: &str) -> (StatusCode, String) {
    let res = app
        .clone()
        .oneshot(
            Request::get("/me")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn client_credentials_tokens_verified_by_jwt_auth_through_discovery() {
    if skipped("client_credentials_tokens_verified_by_jwt_auth_through_discovery") {
        return;
    }
    let op = Provider::start();
    let layer = ClientCredentialsLayer::builder(format!("{}/token", op.issuer))
        .credentials(SVC.0, SVC.1)
        .scopes(["read"])
        .resource(JWT_RESOURCE)
        .build()
        .unwrap();
    let token = token_through_layer(&layer).await;
    // The layer keeps it: a second request asks the provider nothing.
    assert_eq!(token_through_layer(&layer).await, token);
    assert_eq!(op.stats().await["token"], 1);
    // An RFC 9068 token: `typ: at+jwt`.
    assert_eq!(token.split('.').count(), 3);

    let jwks = Jwks::discover(&op.issuer).build().unwrap();
    jwks.refresh().await.unwrap();
    let jwt = JwtAuth::builder()
        .jwks(jwks)
        .algorithms([Algorithm::ES256, Algorithm::RS256])
        .issuer(&op.issuer)
        .audience(AUDIENCE)
        .allowed_types(["at+jwt"])
        .require_type(true)
        .build()
        .unwrap();
    let app = app(jwt);
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"subject":"svc","method":"jwt","tier":"authenticated","scopes":["read"]}"#
    );
    // A token for another audience (here an opaque one) is refused.
    let (status, _) = me(&app, "not-a-jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn introspection_accepts_opaque_tokens_and_refuses_revoked_ones_after_the_cache() {
    if skipped("introspection_accepts_opaque_tokens_and_refuses_revoked_ones_after_the_cache") {
        return;
    }
    let op = Provider::start();
    // An opaque token for the resource, obtained with client_secret_post.
    let layer = ClientCredentialsLayer::builder(format!("{}/token", op.issuer))
        .credentials(SVC_POST.0, SVC_POST.1)
        .client_auth(ClientAuth::SecretPost)
        .scopes(["read", "write"])
        .resource(OPAQUE_RESOURCE)
        .build()
        .unwrap();
    let token = token_through_layer(&layer).await;
    assert_eq!(token.split('.').count(), 1, "an opaque token");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = ManualClock::at_unix_secs(now);
    let introspection = IntrospectionAuth::discover(&op.issuer)
        .credentials(SVC.0, SVC.1)
        .audience(AUDIENCE)
        .max_cache_ttl(Duration::from_secs(30))
        .clock(clock.clone())
        .skip_jwts(true)
        .build()
        .unwrap();
    assert_eq!(
        introspection.endpoint().await.unwrap(),
        format!("{}/token/introspection", op.issuer)
    );
    let app = app(introspection.clone());
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"subject":"svc-post","method":"bearer_token","tier":"authenticated","scopes":["read","write"]}"#
    );
    assert_eq!(op.stats().await["introspection"], 1);

    // Revoked at the server: still accepted from the cache, refused once its lifetime passed.
    op.revoke(&token).await;
    assert_eq!(me(&app, &token).await.0, StatusCode::OK);
    assert_eq!(op.stats().await["introspection"], 1);
    clock.advance(Duration::from_secs(31));
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("token is not active"), "{body}");
    assert_eq!(op.stats().await["introspection"], 2);

    // A token the server never issued.
    assert_eq!(me(&app, "made-up-token").await.0, StatusCode::UNAUTHORIZED);

    // A token without a resource (no audience) is active but refused here for its audience;
    // without the audience check it is accepted, its subject the client.
    let plain = ClientCredentialsLayer::builder(format!("{}/token", op.issuer))
        .credentials(SVC.0, SVC.1)
        .scopes(["read"])
        .build()
        .unwrap();
    let token = token_through_layer(&plain).await;
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("token is not for this audience"), "{body}");
    let open = IntrospectionAuth::discover(&op.issuer)
        .credentials(SVC_POST.0, SVC_POST.1)
        .client_auth(ClientAuth::SecretPost)
        .build()
        .unwrap();
    assert_eq!(me(&self::app(open), &token).await.0, StatusCode::OK);

    // With JwtAuth behind it, JWT access tokens go to JwtAuth, opaque ones are introspected.
    let jwt_layer = ClientCredentialsLayer::builder(format!("{}/token", op.issuer))
        .credentials(SVC.0, SVC.1)
        .resource(JWT_RESOURCE)
        .build()
        .unwrap();
    let jwt_token = token_through_layer(&jwt_layer).await;
    let jwks = Jwks::discover(&op.issuer).build().unwrap();
    let jwt = JwtAuth::builder()
        .jwks(jwks)
        .algorithms([Algorithm::ES256])
        .issuer(&op.issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let both = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { serde_json::to_string(&p).unwrap() }),
        )
        .layer(AuthLayer::new(introspection.or(jwt)));
    let before = op.stats().await["introspection"].as_u64().unwrap();
    let (status, body) = me(&both, &jwt_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""method":"jwt""#));
    assert_eq!(op.stats().await["introspection"].as_u64().unwrap(), before);
}

#[tokio::test]
async fn a_wrong_secret_is_a_typed_error_and_a_503() {
    if skipped("a_wrong_secret_is_a_typed_error_and_a_503") {
        return;
    }
    let op = Provider::start();
    let layer = ClientCredentialsLayer::builder(format!("{}/token", op.issuer))
        .credentials(SVC.0, "wrong")
        .build()
        .unwrap();
    let e = layer.authorization().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("POST {}/token answered 401 (invalid_client)", op.issuer)
    );
    let introspection = IntrospectionAuth::discover(&op.issuer)
        .credentials(SVC.0, "wrong")
        .build()
        .unwrap();
    assert_eq!(
        me(&app(introspection), "whatever").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
