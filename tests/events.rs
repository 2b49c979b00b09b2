//! Security events: every layer's decisions, captured by a `tracing` subscriber, carry the
//! OpenTelemetry HTTP attribute names and the crate's own `tower_shield.*`, never a secret.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version as ArgonVersion};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::call;
use http::{Request, StatusCode};
use tower_shield::auth::{
    ApiKeyAuth, ApiKeyRecord, Argon2Users, AuthLayer, AuthMethod, BasicAuth, KeyDigest,
    MemoryKeyStore, Principal, Throttle,
};
use tower_shield::rate_limit::{
    Answer, Check, Limit, ManualClock, MemoryStore, PeerAddr, Pending, Quota, RateLimitLayer,
    Store, StoreError,
};
use tower_shield::versioning::Version;
use tower_shield::{CorsLayer, ScopeLayer, VersioningLayer};
use tracing::field::{Field, Visit};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, SubscriberExt};

const KEY: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";

/// One captured event: target, level and fields as strings.
#[derive(Debug, Clone)]
struct Captured {
    target: String,
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }
}

impl Collect {
    /// The security events (those with `tower_shield.event`), taken.
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .filter(|e| e.fields.contains_key("tower_shield.event"))
            .collect()
    }

    fn one(&self, kind: &str) -> Captured {
        let events: Vec<Captured> = self
            .take()
            .into_iter()
            .filter(|e| e.get("tower_shield.event") == Some(kind))
            .collect();
        assert_eq!(events.len(), 1, "{kind}: {events:#?}");
        let event = events.into_iter().next().unwrap();
        for value in event.fields.values() {
            assert!(
                !value.contains(KEY)
                    && !value.contains("password123")
                    && !value.contains("wrong-pass"),
                "a secret in {event:?}"
            );
        }
        event
    }
}

fn from(mut req: Request<Body>, ip: &str) -> Request<Body> {
    req.extensions_mut()
        .insert(PeerAddr(format!("{ip}:40000").parse().unwrap()));
    req
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn auth() -> AuthLayer {
    let keys = MemoryKeyStore::new();
    keys.insert(
        KeyDigest::of(KEY),
        ApiKeyRecord::new(
            Principal::builder("demo-app", AuthMethod::ApiKey)
                .scopes(["read"])
                .build(),
        ),
    );
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let hash = Argon2::new(
        Algorithm::Argon2id,
        ArgonVersion::V0x13,
        Params::new(8, 1, 1, None).unwrap(),
    )
    .hash_password(b"password123", &SaltString::encode_b64(&salt).unwrap())
    .unwrap()
    .to_string();
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &hash,
            Principal::builder("jane", AuthMethod::Basic).build(),
        )
        .unwrap();
    let store = MemoryStore::builder()
        .clock(ManualClock::at_unix_secs(1_700_000_000))
        .build();
    AuthLayer::builder()
        .authenticator(ApiKeyAuth::new(keys))
        .authenticator(BasicAuth::new(users))
        .throttle(Throttle::builder().store(store).build())
        .build()
        .unwrap()
}

#[tokio::test]
async fn authentication_decisions_and_throttled_attempts() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(collect.clone()));
    let app = Router::new()
        .route("/posts/{id}", get(|| async { "ok" }))
        .route(
            "/admin",
            get(|| async { "ok" }).route_layer(ScopeLayer::all_of(["admin"]).unwrap()),
        )
        .layer(auth());

    let req = Request::get("/posts/7?api_key=no")
        .header("x-api-key", KEY)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, from(req, "127.0.0.7")).await.0, StatusCode::OK);
    let e = collect.one("auth.success");
    assert_eq!(e.target, "tower_shield::auth");
    assert_eq!(e.level, tracing::Level::INFO);
    assert_eq!(e.get("http.request.method"), Some("GET"));
    assert_eq!(e.get("url.path"), Some("/posts/7"));
    assert_eq!(e.get("http.route"), Some("/posts/{id}"));
    assert_eq!(e.get("client.address"), Some("127.0.0.7"));
    assert_eq!(e.get("user.id"), Some("demo-app"));
    assert_eq!(e.get("tower_shield.auth.method"), Some("api_key"));
    assert_eq!(e.get("http.response.status_code"), None);
    assert_eq!(e.get("error.type"), None);

    let req = Request::get("/posts/7")
        .header("authorization", basic("jane", "wrong-pass"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.8")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let e = collect.one("auth.failure");
    assert_eq!(e.get("http.response.status_code"), Some("401"));
    assert_eq!(e.get("error.type"), Some("invalid"));
    assert_eq!(e.get("tower_shield.problem"), Some("unauthorized"));
    assert_eq!(e.get("tower_shield.auth.method"), Some("basic"));
    assert_eq!(e.get("user.id"), Some("jane"));
    assert_eq!(e.get("client.address"), Some("127.0.0.8"));
    assert_eq!(
        e.get("tower_shield.reason"),
        Some("invalid username or password")
    );
    assert_eq!(e.get("http.request.method_original"), None);

    // A method the conventions do not know is `_OTHER`, the method as sent beside it: the
    // attribute's values stay a bounded set.
    let req = Request::builder()
        .method("PURGE")
        .uri("/posts/7")
        .header("authorization", basic("jane", "wrong-pass"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.9")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let e = collect.one("auth.failure");
    assert_eq!(e.get("http.request.method"), Some("_OTHER"));
    assert_eq!(e.get("http.request.method_original"), Some("PURGE"));

    // QUERY, the safe method with a body, is one the conventions know.
    let req = Request::builder()
        .method("QUERY")
        .uri("/posts/7")
        .header("authorization", basic("query-user", "wrong-pass"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.10")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let e = collect.one("auth.failure");
    assert_eq!(e.get("http.request.method"), Some("QUERY"));
    assert_eq!(e.get("http.request.method_original"), None);

    for _ in 0..4 {
        let req = Request::get("/posts/7")
            .header("authorization", basic("jane", "wrong-pass"))
            .body(Body::empty())
            .unwrap();
        call(&app, from(req, "127.0.0.8")).await;
    }
    collect.take();
    let req = Request::get("/posts/7")
        .header("authorization", basic("jane", "wrong-pass"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.8")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let e = collect.one("auth.throttled");
    assert_eq!(e.level, tracing::Level::WARN);
    assert_eq!(e.get("http.response.status_code"), Some("429"));
    assert_eq!(e.get("error.type"), Some("login-throttled"));
    assert_eq!(e.get("tower_shield.problem"), Some("login-throttled"));
    assert_eq!(e.get("tower_shield.retry_after"), Some("1"));
    assert_eq!(e.get("tower_shield.limit"), Some("identity_ip"));
    assert_eq!(e.get("user.id"), Some("jane"));

    let req = Request::get("/admin")
        .header("x-api-key", KEY)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.7")).await.0,
        StatusCode::FORBIDDEN
    );
    let e = collect.one("scope.refused");
    assert_eq!(e.get("http.response.status_code"), Some("403"));
    assert_eq!(e.get("http.route"), Some("/admin"));
    assert_eq!(e.get("user.id"), Some("demo-app"));
    assert_eq!(e.get("error.type"), Some("insufficient_scope"));
    assert_eq!(e.get("tower_shield.problem"), Some("insufficient-scope"));
    assert_eq!(e.get("tower_shield.reason"), Some("admin"));
}

/// A store that never answers.
struct Down;

impl Store for Down {
    fn decide(&self, _: &[Check<'_>]) -> Pending {
        Answer::Ready(Err(StoreError::timeout()))
    }
}

#[tokio::test]
async fn rate_limits_store_failures_cors_and_versions() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(collect.clone()));

    let limits = RateLimitLayer::builder()
        .limit(Limit::new("per-minute", Quota::per_minute(1)))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/r", get(|| async { "ok" }))
        .layer(limits);
    call(
        &app,
        from(Request::get("/r").body(Body::empty()).unwrap(), "127.0.0.9"),
    )
    .await;
    let (status, _, _) = call(
        &app,
        from(Request::get("/r").body(Body::empty()).unwrap(), "127.0.0.9"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let e = collect.one("rate_limit.refused");
    assert_eq!(e.target, "tower_shield::rate_limit");
    assert_eq!(e.get("http.response.status_code"), Some("429"));
    assert_eq!(e.get("http.route"), Some("/r"));
    assert_eq!(e.get("client.address"), Some("127.0.0.9"));
    assert_eq!(e.get("tower_shield.limit"), Some("per-minute"));
    assert_eq!(e.get("tower_shield.problem"), Some("rate-limited"));
    assert_eq!(e.get("error.type"), Some("rate_limited"));
    assert_eq!(e.get("tower_shield.retry_after"), Some("60"));

    // Shadow mode: the event says which limit would have refused, but the request went
    // through, so there is no status of the layer's and no error type.
    let shadow = Router::new().route("/r", get(|| async { "ok" })).layer(
        RateLimitLayer::builder()
            .limit(Limit::new("per-minute", Quota::per_minute(1)))
            .shadow(true)
            .build()
            .unwrap(),
    );
    for _ in 0..2 {
        let req = from(
            Request::get("/r").body(Body::empty()).unwrap(),
            "127.0.0.10",
        );
        assert_eq!(call(&shadow, req).await.0, StatusCode::OK);
    }
    let e = collect.one("rate_limit.refused");
    assert_eq!(e.get("tower_shield.limit"), Some("per-minute"));
    assert_eq!(e.get("http.response.status_code"), None);
    assert_eq!(e.get("error.type"), None);

    let limits = RateLimitLayer::builder()
        .limit(Limit::new("per-minute", Quota::per_minute(1)))
        .store(Down)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/r", get(|| async { "ok" }))
        .layer(limits);
    let (status, _, _) = call(
        &app,
        from(Request::get("/r").body(Body::empty()).unwrap(), "127.0.0.9"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let e = collect.one("store.failure");
    assert_eq!(e.target, "tower_shield::store");
    assert_eq!(e.level, tracing::Level::WARN);
    assert_eq!(e.get("error.type"), Some("timeout"));
    assert_eq!(e.get("tower_shield.limit"), Some("rate_limit"));

    let cors = CorsLayer::builder()
        .allow_origin("https://app.example.com")
        .reject_disallowed(true)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/c", get(|| async { "ok" }))
        .layer(cors);
    let req = Request::get("/c")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.10")).await.0,
        StatusCode::FORBIDDEN
    );
    let e = collect.one("cors.refused");
    assert_eq!(e.target, "tower_shield::cors");
    assert_eq!(e.get("http.response.status_code"), Some("403"));
    assert_eq!(
        e.get("tower_shield.problem"),
        Some("cors-origin-not-allowed")
    );
    assert_eq!(e.get("tower_shield.reason"), Some("https://evil.example"));
    assert_eq!(e.get("client.address"), Some("127.0.0.10"));

    let versioning = VersioningLayer::builder()
        .version(Version::supported(2))
        .version(Version::retired(1))
        .default_version(2)
        .build()
        .unwrap();
    let routes = Router::new().route("/v", get(|| async { "ok" }));
    let app: Router = Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .layer(versioning)
            .service(routes),
    );
    let (status, _, _) = call(
        &app,
        from(
            Request::get("/v1/v").body(Body::empty()).unwrap(),
            "127.0.0.11",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    let e = collect.one("versioning.rejected");
    assert_eq!(e.target, "tower_shield::versioning");
    assert_eq!(e.level, tracing::Level::DEBUG);
    assert_eq!(e.get("http.response.status_code"), Some("410"));
    assert_eq!(e.get("tower_shield.problem"), Some("version-gone"));
    assert_eq!(e.get("url.path"), Some("/v1/v"));
    let _ = Duration::ZERO;
}

/// The gateway layers' refusals and error hygiene's replacements: the same vocabulary.
#[tokio::test]
async fn signatures_csrf_ip_filter_validation_and_error_hygiene() {
    use tower_shield::ErrorHygieneLayer;
    use tower_shield::csrf::CsrfLayer;
    use tower_shield::ip_filter::IpFilterLayer;
    use tower_shield::signature::SignatureLayer;
    use tower_shield::validate::{Rule, ValidateRequestLayer};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(collect.clone()));

    let signatures = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/hooks", axum::routing::post(|| async { "ok" }))
        .layer(signatures);
    let req = Request::post("/hooks")
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", "1")
        .header("webhook-signature", "v1,AAAA")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, _) = call(&app, from(req, "127.0.0.12")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let e = collect.one("signature.refused");
    assert_eq!(e.target, "tower_shield::signature");
    assert_eq!(e.level, tracing::Level::INFO);
    assert_eq!(e.get("http.request.method"), Some("POST"));
    assert_eq!(e.get("url.path"), Some("/hooks"));
    assert_eq!(e.get("http.route"), Some("/hooks"));
    assert_eq!(e.get("http.response.status_code"), Some("401"));
    assert_eq!(e.get("client.address"), Some("127.0.0.12"));
    assert_eq!(e.get("error.type"), Some("outside_tolerance"));
    assert_eq!(e.get("tower_shield.problem"), Some("signature-invalid"));
    assert_eq!(
        e.get("tower_shield.reason"),
        Some("timestamp outside the tolerance of 300 seconds")
    );
    assert!(e.fields.values().all(|v| !v.contains(&SECRET[6..])));

    let app = Router::new()
        .route("/form", axum::routing::post(|| async { "ok" }))
        .layer(CsrfLayer::new());
    let req = Request::post("/form")
        .header("host", "api.example.com")
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.13")).await.0,
        StatusCode::FORBIDDEN
    );
    let e = collect.one("csrf.refused");
    assert_eq!(e.target, "tower_shield::csrf");
    assert_eq!(e.get("http.response.status_code"), Some("403"));
    assert_eq!(e.get("error.type"), Some("cross_origin"));
    assert_eq!(e.get("tower_shield.reason"), Some("sec_fetch_site"));
    assert_eq!(
        e.get("tower_shield.problem"),
        Some("cross-origin-request-refused")
    );
    assert_eq!(e.get("client.address"), Some("127.0.0.13"));

    let filter = IpFilterLayer::builder()
        .deny(["127.0.0.14/32"])
        .build()
        .unwrap();
    let app = Router::new()
        .route("/r", get(|| async { "ok" }))
        .layer(filter);
    let req = Request::get("/r").body(Body::empty()).unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.14")).await.0,
        StatusCode::FORBIDDEN
    );
    let e = collect.one("ip_filter.refused");
    assert_eq!(e.target, "tower_shield::ip_filter");
    assert_eq!(e.get("error.type"), Some("ip_denied"));
    assert_eq!(e.get("client.address"), Some("127.0.0.14"));
    assert_eq!(e.get("tower_shield.problem"), Some("ip-not-allowed"));
    assert_eq!(e.get("http.response.status_code"), Some("403"));

    let validate = ValidateRequestLayer::builder()
        .route(
            http::Method::POST,
            "/posts",
            Rule::json(serde_json::json!({
                "type": "object",
                "required": ["title"],
            })),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route("/posts", axum::routing::post(|| async { "ok" }))
        .layer(validate);
    let req = Request::post("/posts")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        call(&app, from(req, "127.0.0.15")).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let e = collect.one("validation.refused");
    assert_eq!(e.target, "tower_shield::validate");
    assert_eq!(e.get("http.response.status_code"), Some("422"));
    assert_eq!(e.get("error.type"), Some("validation-failed"));
    assert_eq!(e.get("tower_shield.rule"), Some("POST /posts"));
    assert_eq!(
        e.get("tower_shield.reason"),
        Some("The request body breaks the schema in 1 place.")
    );
    assert!(
        e.get("tower_shield.detail")
            .is_some_and(|d| d.contains("title")),
        "{e:?}"
    );

    let app = Router::new()
        .route(
            "/fail",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    "upstream 10.0.0.7:5432 refused the connection",
                )
            }),
        )
        .layer(ErrorHygieneLayer::new());
    let req = Request::get("/fail").body(Body::empty()).unwrap();
    let (status, _, body) = call(&app, from(req, "127.0.0.16")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(!String::from_utf8_lossy(&body).contains("10.0.0.7"));
    let e = collect.one("error_hygiene.replaced");
    assert_eq!(e.target, "tower_shield::error_hygiene");
    assert_eq!(e.level, tracing::Level::ERROR);
    assert_eq!(e.get("http.response.status_code"), Some("502"));
    assert_eq!(e.get("error.type"), Some("server_error"));
    assert_eq!(e.get("tower_shield.problem"), Some("server-error"));
    assert_eq!(
        e.get("tower_shield.detail"),
        Some("\"upstream 10.0.0.7:5432 refused the connection\"")
    );
    assert_eq!(e.get("tower_shield.truncated"), Some("false"));
    assert_eq!(e.get("client.address"), Some("127.0.0.16"));
}
