//! `IntrospectionAuth` against a scripted authorization server on a real socket: what an
//! answer becomes, client authentication, discovery, the cache, single flight, and bad answers
//! (malformed, huge, slow, without `active`) failing closed. The real authorization server
//! (node oidc-provider) is in `tests/oauth_oidc_provider.rs`.

mod common;
#[path = "common/introspection.rs"]
mod introspection;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::routing::{get, post};
use http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tower_shield::ManualClock;
use tower_shield::auth::introspection::{ClientAuth, ConfigError, IntrospectionError};
use tower_shield::auth::{AuthLayer, AuthMethod, IntrospectionAuth, Principal};

use common::{call, serve};
use introspection::{app, bearer, now_secs};

/// What the scripted server answers to `POST /introspect`.
#[derive(Clone)]
enum Script {
    Json(Value),
    Raw(StatusCode, &'static str),
    Huge,
    Slow(Duration, Value),
}

#[derive(Clone)]
struct As {
    script: Arc<Mutex<Script>>,
    calls: Arc<AtomicUsize>,
    /// The last request's `Authorization` header and form body.
    seen: Arc<Mutex<(Option<String>, String)>>,
    issuer: Arc<Mutex<String>>,
    oidc_discovery: bool,
}

impl As {
    fn set(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn seen(&self) -> (Option<String>, String) {
        self.seen.lock().unwrap().clone()
    }
}

async fn introspect(
    State(s): State<As>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    s.calls.fetch_add(1, Ordering::SeqCst);
    *s.seen.lock().unwrap() = (
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        String::from_utf8(body.to_vec()).unwrap(),
    );
    let script = s.script.lock().unwrap().clone();
    let json = |v: Value| ([("content-type", "application/json")], v.to_string()).into_response();
    match script {
        Script::Json(v) => json(v),
        Script::Raw(status, body) => (status, body).into_response(),
        Script::Huge => json(json!({"active": true, "sub": "x", "pad": "a".repeat(200_000)})),
        Script::Slow(d, v) => {
            tokio::time::sleep(d).await;
            json(v)
        }
    }
}

async fn metadata(State(s): State<As>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let issuer = s.issuer.lock().unwrap().clone();
    axum::Json(json!({
        "issuer": issuer,
        "introspection_endpoint": format!("{issuer}/introspect"),
    }))
    .into_response()
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Starts the scripted server; its issuer is `http://127.0.0.1:port`.
async fn start(oidc_discovery: bool) -> (As, String) {
    let s = As {
        script: Arc::new(Mutex::new(Script::Json(json!({"active": false})))),
        calls: Arc::default(),
        seen: Arc::default(),
        issuer: Arc::default(),
        oidc_discovery,
    };
    let mut app = Router::new().route("/introspect", post(introspect));
    app = if s.oidc_discovery {
        app.route("/.well-known/openid-configuration", get(metadata))
    } else {
        app.route("/.well-known/openid-configuration", get(not_found))
            .route("/.well-known/oauth-authorization-server", get(metadata))
    };
    let addr = serve(app.with_state(s.clone())).await;
    let issuer = format!("http://{addr}");
    *s.issuer.lock().unwrap() = issuer.clone();
    (s, issuer)
}

async fn problem(app: &Router, token: &str) -> (StatusCode, Value, HeaderMap) {
    let (status, headers, body) = call(app, bearer(token)).await;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, body, headers)
}

#[tokio::test]
async fn an_active_token_becomes_a_principal_and_an_inactive_one_a_401() {
    let (srv, issuer) = start(true).await;
    let exp = now_secs() + 300;
    srv.set(Script::Json(json!({
        "active": true,
        "sub": "user_42",
        "client_id": "web",
        "scope": "read:posts write:posts",
        "exp": exp,
        "username": "ada",
        "aud": "https://api.example.com",
    })));
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "rs secret/+")
        .claims(["username"])
        .audience("https://api.example.com")
        .tier("premium")
        .build()
        .unwrap();
    let (status, _, body) = call(&app(auth.clone()), bearer("opaque-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"subject":"user_42","method":"bearer_token","tier":"premium","scopes":["read:posts","write:posts"]}"#
    );
    // client_secret_basic, form-encoded before base64 (RFC 6749 section 2.3.1), and the hint.
    let (authorization, form) = srv.seen();
    assert_eq!(
        authorization.as_deref(),
        Some("Basic cnM6cnMrc2VjcmV0JTJGJTJC")
    );
    assert_eq!(form, "token=opaque-1&token_type_hint=access_token");

    // The claims kept: the standard ones and the configured one, not `aud`.
    let claims = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&claims);
    let probe = Router::new()
        .route(
            "/me",
            get(move |p: Principal| {
                *seen.lock().unwrap() = Some((p.method(), p.raw_claims().cloned()));
                async { "ok" }
            }),
        )
        .layer(AuthLayer::new(auth));
    call(&probe, bearer("opaque-1")).await;
    assert_eq!(
        claims.lock().unwrap().clone(),
        Some((
            AuthMethod::BearerToken,
            Some(json!({
                "sub": "user_42", "client_id": "web", "scope": "read:posts write:posts",
                "exp": exp, "username": "ada",
            }))
        ))
    );

    srv.set(Script::Json(json!({"active": false})));
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .build()
        .unwrap();
    let (status, body, headers) = problem(&app(auth), "revoked").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "token is not active");
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="token is not active""#
    );
}

#[tokio::test]
async fn refusals_of_active_answers() {
    let (srv, issuer) = start(true).await;
    let auth = || {
        IntrospectionAuth::builder(format!("{issuer}/introspect"))
            .credentials("rs", "secret")
            .audience("https://api.example.com")
            .cache(0)
            .build()
            .unwrap()
    };
    let cases = [
        (
            json!({"active": true, "sub": "a", "aud": "https://api.example.com", "exp": now_secs() - 5}),
            "token expired",
        ),
        (
            json!({"active": true, "sub": "a", "aud": "https://api.example.com", "nbf": now_secs() + 60}),
            "token not valid yet",
        ),
        (
            json!({"active": true, "sub": "a", "aud": ["https://other.example.com"]}),
            "token is not for this audience",
        ),
        (
            json!({"active": true, "aud": "https://api.example.com"}),
            "token names no subject",
        ),
    ];
    for (answer, detail) in cases {
        srv.set(Script::Json(answer.clone()));
        let (status, body, _) = problem(&app(auth()), "tok").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(body["detail"], detail, "{answer}");
    }
    // An audience in an array, and a client's own token (no `sub`): the client is the subject.
    srv.set(Script::Json(json!({
        "active": true, "client_id": "svc", "aud": ["x", "https://api.example.com"],
    })));
    let (status, _, body) = call(&app(auth()), bearer("tok")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .starts_with(r#"{"subject":"svc""#)
    );
}

#[tokio::test]
async fn client_secret_post_and_no_hint() {
    let (srv, issuer) = start(true).await;
    srv.set(Script::Json(json!({"active": true, "sub": "a"})));
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "s&t")
        .client_auth(ClientAuth::SecretPost)
        .token_type_hint(None)
        .build()
        .unwrap();
    assert_eq!(call(&app(auth), bearer("tok")).await.0, StatusCode::OK);
    let (authorization, form) = srv.seen();
    assert_eq!(authorization, None);
    assert_eq!(form, "token=tok&client_id=rs&client_secret=s%26t");
}

#[tokio::test]
async fn discovery_oidc_then_rfc8414() {
    for oidc in [true, false] {
        let (srv, issuer) = start(oidc).await;
        srv.set(Script::Json(json!({"active": true, "sub": "a"})));
        let auth = IntrospectionAuth::discover(&issuer)
            .credentials("rs", "secret")
            .build()
            .unwrap();
        assert_eq!(
            auth.endpoint().await.unwrap(),
            format!("{issuer}/introspect")
        );
        assert_eq!(call(&app(auth), bearer("tok")).await.0, StatusCode::OK);
        assert_eq!(srv.calls(), 1);
    }
    // Metadata naming another issuer is refused, typed, and requests are 503.
    let (_srv, issuer) = start(true).await;
    let auth = IntrospectionAuth::discover(format!("{issuer}/"))
        .credentials("rs", "secret")
        .build()
        .unwrap();
    assert_eq!(
        auth.endpoint().await.unwrap_err(),
        IntrospectionError::IssuerMismatch {
            expected: format!("{issuer}/"),
            found: issuer.clone(),
        }
    );
    let (status, body, _) = problem(&app(auth), "tok").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["type"].as_str().unwrap().rsplit('#').next(),
        Some("auth-unavailable")
    );
    // Nothing listens: a typed error, within the timeout.
    let auth = IntrospectionAuth::discover("http://127.0.0.1:9")
        .credentials("rs", "secret")
        .build()
        .unwrap();
    assert!(matches!(
        auth.endpoint().await,
        Err(IntrospectionError::Request { .. })
    ));
}

#[tokio::test]
async fn bad_answers_fail_closed_with_503() {
    let (srv, issuer) = start(true).await;
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .timeout(Duration::from_millis(300))
        .max_body(16 * 1024)
        .build()
        .unwrap();
    let app = app(auth);
    let cases = [
        Script::Raw(StatusCode::OK, "not json"),
        Script::Raw(StatusCode::OK, "[true]"),
        Script::Json(json!({"sub": "a", "scope": "x"})),
        Script::Json(json!({"active": "true", "sub": "a"})),
        Script::Json(json!({"active": 1, "sub": "a"})),
        Script::Raw(StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#),
        Script::Raw(StatusCode::INTERNAL_SERVER_ERROR, "oops"),
        Script::Raw(StatusCode::FOUND, ""),
        Script::Huge,
        Script::Slow(Duration::from_secs(5), json!({"active": true, "sub": "a"})),
    ];
    for (i, script) in cases.into_iter().enumerate() {
        srv.set(script);
        let started = std::time::Instant::now();
        // A new token each time: failures are not cached anyway.
        let (status, body, _) = problem(&app, &format!("tok-{i}")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "case {i}");
        assert_eq!(
            body["type"].as_str().unwrap().rsplit('#').next(),
            Some("auth-unavailable"),
            "case {i}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "case {i} hung");
    }
    // Failures are not cached: the server answering again is enough.
    srv.set(Script::Json(json!({"active": true, "sub": "a"})));
    assert_eq!(call(&app, bearer("tok-0")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn malformed_and_oversized_tokens_never_reach_the_server() {
    let (srv, issuer) = start(true).await;
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .max_token_len(64)
        .build()
        .unwrap();
    let app = app(auth);
    for (token, detail) in [
        ("a".repeat(65), "token too large"),
        ("a".repeat(10_000), "token too large"),
        ("tok en".to_owned(), "malformed token"),
        ("tök".to_owned(), "malformed token"),
        // RFC 6750's b64token has at least one character before its padding.
        ("=".to_owned(), "malformed token"),
        ("===".to_owned(), "malformed token"),
    ] {
        let req = Request::get("/me")
            .header(
                "authorization",
                http::HeaderValue::from_bytes(format!("Bearer {token}").as_bytes()).unwrap(),
            )
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(&app, req).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["detail"], detail);
    }
    assert_eq!(srv.calls(), 0);
}

#[tokio::test]
async fn answers_are_cached_by_exp_max_ttl_and_inactive_ttl() {
    let (srv, issuer) = start(true).await;
    let clock = ManualClock::at_unix_secs(now_secs());
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .max_cache_ttl(Duration::from_secs(60))
        .inactive_ttl(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(auth);

    // Bounded by the configured maximum.
    srv.set(Script::Json(
        json!({"active": true, "sub": "a", "exp": now_secs() + 3600}),
    ));
    for _ in 0..3 {
        assert_eq!(call(&app, bearer("long")).await.0, StatusCode::OK);
    }
    assert_eq!(srv.calls(), 1);
    clock.advance(Duration::from_secs(59));
    assert_eq!(call(&app, bearer("long")).await.0, StatusCode::OK);
    assert_eq!(srv.calls(), 1);
    // Revoked meanwhile: refused once the cache lifetime has passed.
    srv.set(Script::Json(json!({"active": false})));
    clock.advance(Duration::from_secs(2));
    assert_eq!(call(&app, bearer("long")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(srv.calls(), 2);

    // Bounded by `exp`.
    srv.set(Script::Json(
        json!({"active": true, "sub": "a", "exp": clock_secs(&clock) + 10}),
    ));
    assert_eq!(call(&app, bearer("short")).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(9));
    assert_eq!(call(&app, bearer("short")).await.0, StatusCode::OK);
    assert_eq!(srv.calls(), 3);
    clock.advance(Duration::from_secs(2));
    // Past `exp` the cache does not answer; the server says so too.
    srv.set(Script::Json(json!({"active": false})));
    assert_eq!(
        call(&app, bearer("short")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(srv.calls(), 4);

    // Inactive answers are cached briefly.
    assert_eq!(
        call(&app, bearer("short")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(srv.calls(), 4);
    clock.advance(Duration::from_secs(6));
    srv.set(Script::Json(json!({"active": true, "sub": "a"})));
    assert_eq!(call(&app, bearer("short")).await.0, StatusCode::OK);
    assert_eq!(srv.calls(), 5);
}

fn clock_secs(clock: &ManualClock) -> u64 {
    use tower_shield::Clock;
    clock.unix_secs()
}

#[tokio::test]
async fn one_request_in_flight_per_token_however_many_wait() {
    let (srv, issuer) = start(true).await;
    srv.set(Script::Slow(
        Duration::from_millis(300),
        json!({"active": true, "sub": "a"}),
    ));
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .build()
        .unwrap();
    let app = app(auth);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let app = app.clone();
        // 50 requests, two tokens.
        let token = if i % 2 == 0 { "even" } else { "odd" };
        tasks.push(tokio::spawn(
            async move { call(&app, bearer(token)).await.0 },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(srv.calls(), 2);

    // Without a cache, still one flight per token at a time.
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .cache(0)
        .build()
        .unwrap();
    let app2 = self::app(auth);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = app2.clone();
            tokio::spawn(async move { call(&app, bearer("same")).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(srv.calls(), 3);
}

#[tokio::test]
async fn a_waiter_that_goes_away_does_not_cancel_the_flight() {
    let (srv, issuer) = start(true).await;
    srv.set(Script::Slow(
        Duration::from_millis(200),
        json!({"active": true, "sub": "a"}),
    ));
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .build()
        .unwrap();
    let app = app(auth);
    let gone = tokio::time::timeout(Duration::from_millis(50), call(&app, bearer("t"))).await;
    assert!(gone.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The answer was cached by the flight that outlived its request.
    assert_eq!(call(&app, bearer("t")).await.0, StatusCode::OK);
    assert_eq!(srv.calls(), 1);
}

/// At most `max_in_flight` introspections are in the air, each for another token: past it, a
/// new token is a `503 auth-overloaded` with `Retry-After: 1`, not sent; a token already being
/// asked about joins its flight.
#[tokio::test]
async fn introspections_in_the_air_are_bounded() {
    let (srv, issuer) = start(true).await;
    // Slow enough that the two flights are surely in the air when the third token comes.
    srv.set(Script::Slow(
        Duration::from_millis(1500),
        json!({"active": true, "sub": "a"}),
    ));
    let auth = IntrospectionAuth::builder(format!("{issuer}/introspect"))
        .credentials("rs", "secret")
        .max_in_flight(2)
        .build()
        .unwrap();
    let app = app(auth);
    let flying: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|token| {
            let app = app.clone();
            tokio::spawn(async move { call(&app, bearer(token)).await.0 })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body, headers) = problem(&app, "three").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        body["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#auth-overloaded"
    );
    // A token in the air joins its flight.
    assert_eq!(call(&app, bearer("one")).await.0, StatusCode::OK);
    for t in flying {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(srv.calls(), 2);
    // Once they have landed, the third is asked about.
    assert_eq!(call(&app, bearer("three")).await.0, StatusCode::OK);
    assert_eq!(srv.calls(), 3);
}

#[test]
fn configuration_errors() {
    let e = |b: tower_shield::auth::IntrospectionBuilder| b.build().unwrap_err();
    assert_eq!(
        e(IntrospectionAuth::builder(
            "https://as.example.com/introspect"
        )),
        ConfigError::NoCredentials
    );
    assert_eq!(
        e(IntrospectionAuth::builder("http://as.example.com/introspect").credentials("a", "b")),
        ConfigError::InsecureHttp("http://as.example.com/introspect".into())
    );
    assert!(
        IntrospectionAuth::builder("http://as.example.com/introspect")
            .credentials("a", "b")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
    assert_eq!(
        e(IntrospectionAuth::discover("https://as.example.com/?x=1").credentials("a", "b")),
        ConfigError::InvalidUrl(
            "https://as.example.com/?x=1: an issuer has no query or fragment".into()
        )
    );
    assert_eq!(
        e(IntrospectionAuth::builder("https://as.example.com/i")
            .credentials("a", "b")
            .timeout(Duration::ZERO)),
        ConfigError::InvalidSetting("the timeout is zero")
    );
    assert_eq!(
        e(IntrospectionAuth::builder("https://as.example.com/i")
            .credentials("a", "b")
            .max_cache_ttl(Duration::from_secs(1))
            .inactive_ttl(Duration::from_secs(2))),
        ConfigError::InvalidSetting("inactive_ttl is longer than max_cache_ttl")
    );
    // The secret shows nowhere.
    let b = IntrospectionAuth::builder("https://as.example.com/i").credentials("rs", "hunter2");
    assert!(!format!("{b:?}").contains("hunter2"));
    let auth = b.build().unwrap();
    assert!(!format!("{auth:?}").contains("hunter2"));
}
