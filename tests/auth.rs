//! AuthLayer with API keys, the chain, anonymous mode, audit, and ScopeLayer.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{call, get_with, request};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower_shield::auth::api_key;
use tower_shield::auth::{
    Answer, ApiKeyAuth, ApiKeyRecord, AuditOutcome, AuthLayer, AuthMethod, KeyDigest, KeyStore,
    MemoryKeyStore, Principal, Tier,
};
use tower_shield::scope::{ScopeError, ScopeLayer};
use tower_shield::{ManualClock, RequestId, RequestIdLayer};

const DEMO: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";
const PREMIUM: &str = "ak_live_premium_0123456789abcdef0123456789ab";
const CHALLENGE: &str = r#"ApiKey realm="api", header="X-API-Key""#;

fn store() -> MemoryKeyStore {
    let store = MemoryKeyStore::new();
    store.insert(
        KeyDigest::of(DEMO),
        ApiKeyRecord::new(
            Principal::builder("demo-app", AuthMethod::ApiKey)
                .scopes(["read:posts", "write:posts"])
                .key_id("demo-1")
                .build(),
        ),
    );
    store.insert(
        KeyDigest::of(PREMIUM),
        ApiKeyRecord::new(
            Principal::builder("premium-app", AuthMethod::ApiKey)
                .scopes(["read:posts", "write:posts", "delete:posts"])
                .tier(Tier::PREMIUM)
                .build(),
        ),
    );
    store
}

async fn me(p: Principal) -> axum::Json<Principal> {
    axum::Json(p)
}

fn app(layer: AuthLayer) -> Router {
    Router::new().route("/me", get(me)).layer(layer)
}

fn problem(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("problem+json")
}

fn unauthorized(detail: &str) -> Value {
    json!({
        "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
    })
}

#[tokio::test]
async fn a_valid_key_authenticates_its_principal() {
    let app = app(AuthLayer::new(ApiKeyAuth::new(store())));
    let (status, _, body) = call(&app, get_with("/me", "x-api-key", DEMO.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        problem(&body),
        json!({"subject": "demo-app", "method": "api_key", "tier": "authenticated", "scopes": ["read:posts", "write:posts"]})
    );
    let (status, _, body) = call(&app, get_with("/me", "x-api-key", PREMIUM.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(problem(&body)["tier"], "premium");
}

#[tokio::test]
async fn missing_unknown_and_near_miss_keys_are_401_with_a_challenge() {
    let app = app(AuthLayer::new(ApiKeyAuth::new(store())));
    let (status, headers, body) = call(&app, request("/me")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], CHALLENGE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        problem(&body),
        unauthorized("This resource needs authentication; no credentials were presented.")
    );

    // A key that shares all but its last character with a valid one is just as unknown.
    let near = format!("{}d", &DEMO[..DEMO.len() - 1]);
    for key in [near.as_str(), "ak_live_nope", "x"] {
        let (status, headers, body) =
            call(&app, get_with("/me", "x-api-key", key.as_bytes())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key}");
        assert_eq!(headers["www-authenticate"], CHALLENGE);
        assert_eq!(problem(&body), unauthorized("invalid API key"));
    }
    for bad in [&b""[..], &[b'k'; 300][..], b"caf\xc3\xa9"] {
        let (status, _, body) = call(&app, get_with("/me", "x-api-key", bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(problem(&body), unauthorized("malformed API key"));
    }
    let twice = Request::get("/me")
        .header("x-api-key", DEMO)
        .header("x-api-key", PREMIUM)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&app, twice).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&body), unauthorized("more than one API key"));
}

/// A store that records what it is asked for: the layer must hand it digests, never keys.
struct Recording {
    inner: MemoryKeyStore,
    asked: Mutex<Vec<KeyDigest>>,
}

impl KeyStore for Recording {
    fn find(&self, digest: &KeyDigest) -> Answer<Option<ApiKeyRecord>> {
        self.asked.lock().unwrap().push(*digest);
        self.inner.find(digest)
    }
}

#[tokio::test]
async fn stores_are_asked_by_sha256_digest_only() {
    let recording = Arc::new(Recording {
        inner: store(),
        asked: Mutex::new(Vec::new()),
    });
    let app = app(AuthLayer::new(ApiKeyAuth::new(Arc::clone(&recording))));
    let (status, _, _) = call(&app, get_with("/me", "x-api-key", DEMO.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&app, get_with("/me", "x-api-key", b"ak_live_guess")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let asked = recording.asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().map(KeyDigest::to_hex).collect::<Vec<_>>(),
        [
            // sha256("ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c") and sha256("ak_live_guess")
            KeyDigest::of(DEMO).to_hex(),
            KeyDigest::of("ak_live_guess").to_hex(),
        ]
    );
    // The digest of the demo key as stored in QUICKSTART's hashes.
    assert_eq!(
        KeyDigest::from_hex(&KeyDigest::of(DEMO).to_hex()),
        Some(KeyDigest::of(DEMO))
    );
}

#[tokio::test]
async fn rotation_revocation_and_expiry() {
    let store = store();
    let now = ManualClock::at_unix_secs(1_000_000);
    let auth = ApiKeyAuth::builder(store.clone())
        .clock(now.clone())
        .build()
        .unwrap();
    let app = app(AuthLayer::new(auth));

    // Rotation: the demo app gets a second key; both work.
    let new_key = tower_shield::auth::generate_api_key("ak_live_").unwrap();
    store.insert(
        new_key.digest(),
        ApiKeyRecord::new(
            Principal::builder("demo-app", AuthMethod::ApiKey)
                .key_id("demo-2")
                .build(),
        )
        .expires_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_100)),
    );
    for key in [DEMO, new_key.key()] {
        let (status, _, body) = call(&app, get_with("/me", "x-api-key", key.as_bytes())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(problem(&body)["subject"], "demo-app");
    }

    // The old key is revoked while the layer serves.
    assert!(store.revoke(&KeyDigest::of(DEMO)));
    let (status, headers, body) = call(&app, get_with("/me", "x-api-key", DEMO.as_bytes())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], CHALLENGE);
    assert_eq!(problem(&body), unauthorized("API key revoked"));
    let (status, _, _) = call(&app, get_with("/me", "x-api-key", new_key.key().as_bytes())).await;
    assert_eq!(status, StatusCode::OK);

    // The new key expires at its time, not a second later.
    now.set_micros(1_000_100 * 1_000_000);
    let (status, _, body) =
        call(&app, get_with("/me", "x-api-key", new_key.key().as_bytes())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&body), unauthorized("API key expired"));

    assert_eq!(store.revoke_subject("premium-app"), 1);
    let (status, _, _) = call(&app, get_with("/me", "x-api-key", PREMIUM.as_bytes())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(store.remove(&KeyDigest::of(PREMIUM)).is_some());
    let (_, _, body) = call(&app, get_with("/me", "x-api-key", PREMIUM.as_bytes())).await;
    assert_eq!(problem(&body), unauthorized("invalid API key"));
}

#[tokio::test]
async fn query_keys_are_refused_unless_enabled() {
    let app_off = app(AuthLayer::new(ApiKeyAuth::new(store())).allow_anonymous(true));
    let (status, _, body) = call(&app_off, request(&format!("/me?api%5Fkey={DEMO}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem(&body),
        unauthorized("API keys are not accepted in the query string; send the key in the header")
    );

    let on = ApiKeyAuth::builder(store())
        .query_parameter("key")
        .header("X-Client-Key")
        .build()
        .unwrap();
    let app_on = app(AuthLayer::new(on));
    let (status, _, body) = call(&app_on, request(&format!("/me?a=1&key={DEMO}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(problem(&body)["subject"], "demo-app");
    let twice = format!("/me?key={DEMO}&key={PREMIUM}");
    let (status, _, body) = call(&app_on, request(&twice)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&body), unauthorized("more than one API key"));
    let (status, headers, _) =
        call(&app_on, get_with("/me", "x-client-key", PREMIUM.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key("www-authenticate"));
    let (_, headers, _) = call(&app_on, request("/me")).await;
    assert_eq!(
        headers["www-authenticate"],
        r#"ApiKey realm="api", header="X-Client-Key""#
    );
}

#[test]
fn api_key_configuration_errors() {
    let err = |b: tower_shield::auth::ApiKeyBuilder<MemoryKeyStore>| b.build().unwrap_err();
    assert_eq!(
        err(ApiKeyAuth::builder(store()).header("Authorization")),
        api_key::ConfigError::ReservedHeader("Authorization".into())
    );
    assert_eq!(
        err(ApiKeyAuth::builder(store()).header("bad header")),
        api_key::ConfigError::InvalidHeader("bad header".into())
    );
    assert_eq!(
        err(ApiKeyAuth::builder(store()).query_parameter("a&b")),
        api_key::ConfigError::InvalidQueryParameter("a&b".into())
    );
    assert_eq!(
        err(ApiKeyAuth::builder(store()).realm("a\"b")),
        api_key::ConfigError::InvalidRealm("a\"b".into())
    );
}

#[tokio::test]
async fn anonymous_mode_lets_no_credential_through_but_not_a_bad_one() {
    let app = app(AuthLayer::new(ApiKeyAuth::new(store())).allow_anonymous(true));
    let (status, _, body) = call(&app, request("/me")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        problem(&body),
        json!({"subject": "anonymous", "method": "anonymous", "tier": "anonymous", "scopes": []})
    );
    let (status, _, body) = call(&app, get_with("/me", "x-api-key", b"ak_live_wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&body), unauthorized("invalid API key"));

    // An Authorization header no authenticator of the chain takes is never anonymous.
    for value in [
        "Bearer demo-token",
        "Digest username=\"x\"",
        "Basic amFuZTpwYXNzd29yZDEyMw==",
    ] {
        let (status, headers, body) =
            call(&app, get_with("/me", "authorization", value.as_bytes())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(headers["www-authenticate"], CHALLENGE);
        assert_eq!(
            problem(&body),
            unauthorized("The Authorization header's scheme is not accepted here.")
        );
    }
}

#[tokio::test]
async fn audit_hook_sees_every_decision_and_no_secret() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let layer = AuthLayer::new(ApiKeyAuth::new(store()))
        .allow_anonymous(true)
        .audit(move |event: &tower_shield::auth::AuthEvent<'_>| {
            let what = match event.outcome() {
                AuditOutcome::Authenticated(p) => {
                    format!("ok {} {} {:?}", p.subject(), p.method(), p.key_id())
                }
                AuditOutcome::Anonymous => "anonymous".to_owned(),
                AuditOutcome::Rejected(e) => format!("rejected {:?} {}", e.method(), e.detail()),
                _ => "other".to_owned(),
            };
            let rid = event
                .request_id()
                .map(RequestId::as_str)
                .unwrap_or("-")
                .to_owned();
            sink.lock().unwrap().push(format!(
                "{} {} {what} {}",
                event.method(),
                event.path(),
                rid.len()
            ));
        });
    let app = Router::new()
        .route("/me", get(me))
        .layer(layer)
        .layer(RequestIdLayer::new());
    call(&app, get_with("/me", "x-api-key", DEMO.as_bytes())).await;
    call(
        &app,
        get_with("/me?api_key=secret", "x-api-key", b"ak_live_wrong"),
    )
    .await;
    call(&app, request("/me")).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "GET /me ok demo-app api_key Some(\"demo-1\") 36",
            "GET /me rejected Some(ApiKey) invalid API key 36",
            "GET /me anonymous 36",
        ]
    );
    assert!(!seen.concat().contains("ak_live_wrong") && !seen.concat().contains("secret"));
}

fn scoped(required: ScopeLayer) -> Router {
    Router::new()
        .route("/posts", get(|| async { "[]" }).route_layer(required))
        .layer(AuthLayer::new(ApiKeyAuth::new(store())).allow_anonymous(true))
}

/// The `403` problem: the detail, and to any principal (not only a Bearer one, which also gets
/// the RFC 6750 challenge) the error code and what is needed (`scope`, or `roles`).
fn forbidden(detail: &str, needed: (&str, &str)) -> Value {
    let mut problem = json!({
        "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#insufficient-scope",
        "title": "Forbidden",
        "status": 403,
        "detail": detail,
        "error": "insufficient_scope",
    });
    problem[needed.0] = json!(needed.1);
    problem
}

#[tokio::test]
async fn scopes_all_of_and_any_of() {
    let app = scoped(ScopeLayer::all_of(["read:posts", "delete:posts"]).unwrap());
    let (status, headers, body) =
        call(&app, get_with("/posts", "x-api-key", DEMO.as_bytes())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An API-key principal is not a Bearer one: no RFC 6750 challenge.
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(
        problem(&body),
        forbidden(
            "This request needs every scope of: read:posts delete:posts.",
            ("scope", "read:posts delete:posts")
        )
    );
    let (status, _, body) = call(&app, get_with("/posts", "x-api-key", PREMIUM.as_bytes())).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"[]"[..]));

    let app = scoped(ScopeLayer::any_of(["delete:posts", "write:posts"]).unwrap());
    let (status, _, _) = call(&app, get_with("/posts", "x-api-key", DEMO.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);

    let app = scoped(ScopeLayer::all_of(["delete:posts"]).unwrap());
    let (_, _, body) = call(&app, get_with("/posts", "x-api-key", DEMO.as_bytes())).await;
    assert_eq!(
        problem(&body),
        forbidden(
            "This request needs the scope delete:posts.",
            ("scope", "delete:posts")
        )
    );
}

#[tokio::test]
async fn anonymous_principals_get_401_with_the_auth_layers_challenges() {
    let app = scoped(ScopeLayer::all_of(["read:posts"]).unwrap());
    let (status, headers, body) = call(&app, request("/posts")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], CHALLENGE);
    assert_eq!(
        problem(&body),
        unauthorized("This resource needs authentication; no credentials were presented.")
    );
}

#[tokio::test]
async fn roles() {
    let store = MemoryKeyStore::new();
    store.insert(
        KeyDigest::of("ak_test_admin"),
        ApiKeyRecord::new(
            Principal::builder("ops", AuthMethod::ApiKey)
                .roles(["admin", "ops"])
                .build(),
        ),
    );
    let app = |layer: ScopeLayer| {
        Router::new()
            .route("/admin", get(|| async { "ok" }))
            .layer(layer)
            .layer(AuthLayer::new(ApiKeyAuth::new(store.clone())))
    };
    let req = || get_with("/admin", "x-api-key", b"ak_test_admin");
    assert_eq!(
        call(
            &app(ScopeLayer::all_roles(["admin", "ops"]).unwrap()),
            req()
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app(ScopeLayer::any_role(["root", "ops"]).unwrap()), req())
            .await
            .0,
        StatusCode::OK
    );
    let (status, _, body) = call(&app(ScopeLayer::all_roles(["root"]).unwrap()), req()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        problem(&body),
        forbidden("This request needs the role root.", ("roles", "root"))
    );
}

#[tokio::test]
async fn scope_layer_without_auth_layer_is_401() {
    let app = Router::new()
        .route("/posts", get(|| async { "[]" }))
        .layer(ScopeLayer::all_of(["read:posts"]).unwrap());
    let (status, _, body) = call(&app, request("/posts")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem(&body),
        unauthorized("This resource needs authentication; no credentials were presented.")
    );
}

#[test]
fn scope_configuration_errors() {
    assert_eq!(
        ScopeLayer::all_of(Vec::<String>::new()).unwrap_err(),
        ScopeError::Empty
    );
    assert_eq!(
        ScopeLayer::any_of(["read posts"]).unwrap_err(),
        ScopeError::InvalidScope("read posts".into())
    );
    assert_eq!(
        ScopeLayer::all_of(["a\"b"]).unwrap_err(),
        ScopeError::InvalidScope("a\"b".into())
    );
    assert_eq!(
        ScopeLayer::all_roles([""]).unwrap_err(),
        ScopeError::InvalidScope(String::new())
    );
}

#[tokio::test]
async fn principal_extractor_without_auth_layer_is_a_500() {
    let app = Router::new().route("/me", get(me));
    let (status, _, body) = call(&app, request("/me")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        problem(&body)["detail"],
        "The server could not handle this request."
    );
}
