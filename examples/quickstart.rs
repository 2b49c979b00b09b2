//! The tower-shield demo API: `cargo run --example quickstart [-- ADDR]`.
//!
//! It wears the crate's stack on a small JSON API. Layers, outermost first:
//!
//! 1. `RequestIdLayer`: a valid incoming `X-Request-Id` is kept, anything else replaced by a
//!    UUID v7; the id is on the response, in the logs and in every problem body.
//! 2. `SecurityHeadersLayer::json_api()`: HSTS, nosniff, `Cache-Control: no-store, …`, a
//!    `default-src 'none'` CSP, `Referrer-Policy`; `Server` and `X-Powered-By` removed.
//! 3. `ErrorHygieneLayer`: a handler's 5xx body or panic becomes a generic problem with the
//!    request id (the original logged, never sent).
//! 4. `IpFilterLayer`: the addresses and networks of `QUICKSTART_DENY_IPS` (comma-separated)
//!    get a `403`; everyone else passes.
//! 5. `CorsLayer`: `https://frontend.example.com`, `https://*.example.com` and the origins in
//!    `ALLOWED_ORIGINS` (comma-separated), with credentials; preflights answered here.
//! 6. `VersioningLayer`: `/v2/...` (or `API-Version: 2`, or
//!    `Accept: application/vnd.example.v2+json`, default 2), `/v1/...` deprecated until its
//!    sunset on 2027-06-30, `/v0/...` gone, anything else a 400.
//! 7. `AuthLayer`: an API key (`X-API-Key`), then a Bearer JWT (RS256, verified with
//!    `examples/keys/jwt_public.pem`), then HTTP Basic. A request without any credential goes on
//!    as the anonymous principal; a bad credential is a 401.
//! 8. `RateLimitLayer` on the in-memory store, keyed by principal (by client IP for the
//!    anonymous one): per hour, anonymous 60, authenticated 1,000, premium 10,000, internal
//!    100,000; `/search` also bursts of 20 at 2 per second. Every answer that reaches it
//!    carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; a 429 also
//!    `Retry-After`.
//! 9. `ScopeLayer` per route: `read:posts`, `write:posts`, `delete:posts`; `POST /webhooks`
//!    verified by a `SignatureLayer` (Standard Webhooks, `QUICKSTART_WEBHOOK_SECRET`).
//!
//! The server stores SHA-256 digests of the API keys and an Argon2id hash of the Basic
//! password, never the plain values. Every error is an RFC 9457 `application/problem+json`
//! document.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::{Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_shield::auth::{
    Algorithm, ApiKeyAuth, ApiKeyRecord, Argon2Users, AuthLayer, AuthMethod, Authenticator,
    BasicAuth, JwtAuth, JwtKey, KeyDigest, MemoryKeyStore, Principal, Throttle, Tier,
};
use tower_shield::extract::Rejector;
use tower_shield::problem::ProblemType;
use tower_shield::rate_limit::{
    ConfigError as RateLimitConfigError, Limit, Quota, RateLimitBuilder, RateLimitLayer, Tiers,
};
use tower_shield::validate::{Rule, ValidateRequestLayer};
use tower_shield::versioning::{ApiVersion, Version};
use tower_shield::{
    CorsLayer, ErrorHygieneLayer, IpFilterLayer, Problem, RequestIdLayer, ScopeLayer,
    SecurityHeadersLayer, SignatureLayer, VersioningLayer,
};

/// The default address; the first argument overrides it.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The origins always allowed; `ALLOWED_ORIGINS` adds more.
pub const ORIGINS: [&str; 2] = ["https://frontend.example.com", "https://*.example.com"];

/// Where clients of old versions learn how to move on.
pub const MIGRATION_GUIDE: &str = "https://api.example.com/docs/migrate-v2";

/// The demo API key of `demo-app` (authenticated tier); `QUICKSTART_API_KEY` overrides it.
pub const DEMO_API_KEY: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";
/// SHA-256 of [`DEMO_API_KEY`]: what the server actually stores.
pub const DEMO_API_KEY_SHA256: &str =
    "f8b6b4f130c61be1d414e4be7dbb3004d1743f993b7dbbeb3a5ec76f5c03db3e";
/// The demo API key of `premium-app` (premium tier); `QUICKSTART_PREMIUM_API_KEY` overrides it.
pub const PREMIUM_API_KEY: &str = "ak_live_premium_0123456789abcdef0123456789ab";
/// SHA-256 of [`PREMIUM_API_KEY`].
pub const PREMIUM_API_KEY_SHA256: &str =
    "91d9949adbb229c58803853783d34ead4a869d2481fc48fa9cc10a3ae1301ba6";
/// The demo Basic user (`QUICKSTART_BASIC_USER` overrides it).
pub const BASIC_USER: &str = "jane";
/// The demo Basic password (`QUICKSTART_BASIC_PASSWORD` overrides it); only its hash is stored.
pub const BASIC_PASSWORD: &str = "password123";
/// The Argon2id hash of [`BASIC_PASSWORD`] (m = 19 MiB, t = 2, p = 1).
pub const BASIC_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$4ONmEtEfLsNsLkVpDWzXXw$7pmtJduD+KRf8Xt5SzYvKzYazd/VhkU7+bI7JGdJLas";
/// The issuer and audience demo JWTs must carry.
pub const JWT_ISSUER: &str = "https://auth.example.com";
/// See [`JWT_ISSUER`].
pub const JWT_AUDIENCE: &str = "https://api.example.com";
/// The key that verifies demo JWTs (`QUICKSTART_JWT_PUBLIC_KEY`, a PEM file, overrides it).
pub const JWT_PUBLIC_KEY: &[u8] = include_bytes!("keys/jwt_public.pem");
/// Its private key, here for the demo only: the banner mints a token with it.
pub const JWT_PRIVATE_KEY: &[u8] = include_bytes!("keys/jwt_private.pem");

/// The demo credentials: defaults, or what the environment says.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `demo-app`'s key, if given in the environment (else the stored digest is used).
    pub api_key: Option<String>,
    /// `premium-app`'s key, if given in the environment.
    pub premium_api_key: Option<String>,
    /// The Basic user.
    pub basic_user: String,
    /// The Basic password, if given in the environment (else the stored hash is used).
    pub basic_password: Option<String>,
    /// A PEM public key for JWTs, if given in the environment.
    pub jwt_public_key: Option<Vec<u8>>,
}

impl Credentials {
    /// The built-in demo credentials.
    pub fn demo() -> Self {
        Self {
            api_key: None,
            premium_api_key: None,
            basic_user: BASIC_USER.to_owned(),
            basic_password: None,
            jwt_public_key: None,
        }
    }

    /// The demo credentials, overridden by `QUICKSTART_API_KEY`, `QUICKSTART_PREMIUM_API_KEY`,
    /// `QUICKSTART_BASIC_USER`, `QUICKSTART_BASIC_PASSWORD` and `QUICKSTART_JWT_PUBLIC_KEY`.
    ///
    /// # Errors
    ///
    /// When `QUICKSTART_JWT_PUBLIC_KEY` names a file that cannot be read.
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Self {
            api_key: var("QUICKSTART_API_KEY"),
            premium_api_key: var("QUICKSTART_PREMIUM_API_KEY"),
            basic_user: var("QUICKSTART_BASIC_USER").unwrap_or_else(|| BASIC_USER.to_owned()),
            basic_password: var("QUICKSTART_BASIC_PASSWORD"),
            jwt_public_key: match var("QUICKSTART_JWT_PUBLIC_KEY") {
                Some(path) => {
                    Some(std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?)
                }
                None => None,
            },
        })
    }

    /// Whether every credential is the built-in demo one.
    pub fn are_demo(&self) -> bool {
        self.api_key.is_none()
            && self.premium_api_key.is_none()
            && self.basic_user == BASIC_USER
            && self.basic_password.is_none()
            && self.jwt_public_key.is_none()
    }
}

/// The authenticators: API key, then Bearer JWT, then Basic; anonymous requests go on.
///
/// # Errors
///
/// When a key or hash is malformed.
pub fn auth(creds: &Credentials) -> Result<AuthLayer, Box<dyn std::error::Error>> {
    let digest = |key: &Option<String>, stored: &str| match key {
        Some(key) => Ok(KeyDigest::of(key)),
        None => KeyDigest::from_hex(stored).ok_or("bad stored digest"),
    };
    let keys = MemoryKeyStore::new();
    keys.insert(
        digest(&creds.api_key, DEMO_API_KEY_SHA256)?,
        ApiKeyRecord::new(
            Principal::builder("demo-app", AuthMethod::ApiKey)
                .scopes(["read:posts", "write:posts"])
                .key_id("demo-app-1")
                .build(),
        ),
    );
    keys.insert(
        digest(&creds.premium_api_key, PREMIUM_API_KEY_SHA256)?,
        ApiKeyRecord::new(
            Principal::builder("premium-app", AuthMethod::ApiKey)
                .scopes(["read:posts", "write:posts", "delete:posts"])
                .tier(Tier::PREMIUM)
                .key_id("premium-app-1")
                .build(),
        ),
    );
    let users = Argon2Users::new();
    let hash = match &creds.basic_password {
        Some(password) => Argon2Users::hash_password(password),
        None => BASIC_PASSWORD_HASH.to_owned(),
    };
    users.insert(
        creds.basic_user.as_str(),
        &hash,
        Principal::builder(creds.basic_user.as_str(), AuthMethod::Basic)
            .scopes(["read:posts"])
            .build(),
    )?;
    let jwt = JwtAuth::builder()
        .key(JwtKey::rsa_pem(
            Algorithm::RS256,
            creds.jwt_public_key.as_deref().unwrap_or(JWT_PUBLIC_KEY),
        )?)
        .issuer(JWT_ISSUER)
        .audience(JWT_AUDIENCE)
        .cache(10_000)
        .build()?;
    let chain = ApiKeyAuth::new(keys).or(jwt).or(BasicAuth::new(users));
    // Last: a client certificate on the mTLS listener (QUICKSTART_MTLS_ADDR).
    #[cfg(feature = "mtls")]
    let chain = chain.or(mtls::auth()?);
    // Failed credentials: 5 per (user, IP), 20 per IP, 10 per user, then 1 s doubling
    // (15 min, 15 min, 5 min at most); a 429 login-throttled before any Argon2 hash.
    Ok(AuthLayer::builder()
        .chain(chain)
        .allow_anonymous(true)
        .throttle(Throttle::new())
        .build()?)
}

/// A demo JWT for `user_42` with every scope, signed with [`JWT_PRIVATE_KEY`], valid an hour.
pub fn demo_token() -> Result<String, Box<dyn std::error::Error>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({
        "sub": "user_42",
        "scope": "read:posts write:posts delete:posts",
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(JWT_PRIVATE_KEY)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )?)
}

/// A post of the demo API.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Post {
    id: u64,
    title: String,
    body: String,
    author: String,
}

#[derive(Deserialize)]
struct NewPost {
    title: String,
    #[serde(default)]
    body: String,
}

/// The posts, in memory.
#[derive(Clone, Debug, Default)]
pub struct Posts(Arc<Mutex<(u64, Vec<Post>)>>);

impl Posts {
    fn with_samples() -> Self {
        let posts = vec![
            Post {
                id: 1,
                title: "Hello, tower-shield".into(),
                body: "Security middleware for tower.".into(),
                author: "demo-app".into(),
            },
            Post {
                id: 2,
                title: "Rate limits by tier".into(),
                body: "Anonymous, authenticated, premium.".into(),
                author: "premium-app".into(),
            },
        ];
        Self(Arc::new(Mutex::new((2, posts))))
    }
}

/// The largest request body `POST /posts` reads.
pub const MAX_BODY: usize = 1024 * 1024;

/// The API's routes, written once for every version (the versioning layer strips `/vN`).
///
/// # Errors
///
/// When a required scope is not a valid OAuth scope.
pub fn routes() -> Result<Router, Box<dyn std::error::Error>> {
    let scope = |s: &str| ScopeLayer::all_of([s]);
    Ok(Router::new()
        .route("/health", get(health))
        .route("/me", get(me).route_layer(ScopeLayer::authenticated()))
        .route(
            "/posts",
            get(list_posts).route_layer(scope("read:posts")?).merge(
                axum::routing::post(create_post)
                    // Inside the scope check: a body is read only for a caller allowed to post.
                    .route_layer(validate_posts()?)
                    .route_layer(scope("write:posts")?),
            ),
        )
        .route(
            "/posts/{id}",
            delete(delete_post).route_layer(scope("delete:posts")?),
        )
        .route("/search", get(search).route_layer(scope("read:posts")?))
        .route(
            "/webhooks",
            axum::routing::post(webhook).route_layer(webhooks()?),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Posts::with_samples())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed))
}

/// The JSON Schema of a new post: `title` a string of 1–200 characters, `body` a string of at
/// most 10,000, no other field.
pub fn new_post_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string", "maxLength": 10000}
        },
        "required": ["title"],
        "additionalProperties": false
    })
}

/// `POST /posts`: JSON only (`415`), at most 1 MiB (`413`), valid against [`new_post_schema`]
/// (`400` malformed, `422` with an `errors` list). The template is the Router's: the
/// versioning layer has stripped `/v2`.
///
/// # Errors
///
/// Never with this schema.
pub fn validate_posts() -> Result<ValidateRequestLayer, tower_shield::validate::ConfigError> {
    ValidateRequestLayer::builder()
        .route(Method::POST, "/posts", Rule::json(new_post_schema()))
        .build()
}

/// The demo secret of `POST /webhooks` (demo value only; `QUICKSTART_WEBHOOK_SECRET` overrides
/// it).
pub const DEMO_WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The webhook secret: `QUICKSTART_WEBHOOK_SECRET`, else the demo one.
pub fn webhook_secret() -> String {
    std::env::var("QUICKSTART_WEBHOOK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEMO_WEBHOOK_SECRET.to_owned())
}

/// `POST /webhooks`: Standard Webhooks signed with [`webhook_secret`]. A replayed `webhook-id`
/// or a timestamp more than 5 minutes away is refused (`401 signature-invalid`).
///
/// # Errors
///
/// When the secret is not a `whsec_` secret.
pub fn webhooks() -> Result<SignatureLayer, tower_shield::signature::ConfigError> {
    SignatureLayer::standard_webhooks()
        .secret("webhook-sender", &webhook_secret())
        .build()
}

async fn webhook(sender: Principal, headers: http::HeaderMap) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info!(
        webhook_id = id,
        sender = sender.subject(),
        "webhook received"
    );
    StatusCode::NO_CONTENT
}

/// The origins from `ALLOWED_ORIGINS` (comma-separated), besides [`ORIGINS`].
pub fn env_origins() -> Vec<String> {
    std::env::var("ALLOWED_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The networks of `QUICKSTART_DENY_IPS` (comma-separated addresses or CIDRs, such as
/// `203.0.113.0/24, 2001:db8:bad::/48`): the IP deny list.
pub fn env_deny_ips() -> Vec<String> {
    std::env::var("QUICKSTART_DENY_IPS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The IP filter: `deny` refused (a 403 `ip-not-allowed` problem), on the socket peer (the
/// quickstart runs without a proxy in front; behind one, pass `.client_ip(..)` trusting it).
/// A request without a peer address is refused too.
///
/// # Errors
///
/// An entry that is not an address or a CIDR network (`10.0.0.0/33`, `nope`), or has bits set
/// past its prefix (`10.1.2.3/8`).
pub fn ip_filter(deny: &[String]) -> Result<IpFilterLayer, tower_shield::ip_filter::ConfigError> {
    IpFilterLayer::builder().deny(deny.iter().cloned()).build()
}

/// The whole demo service: the routes wrapped in the stack, outermost layer first.
///
/// # Errors
///
/// When an origin in `extra_origins` is malformed (or `null`, or a too broad pattern).
pub fn app(
    extra_origins: &[String],
    creds: &Credentials,
) -> Result<Router, Box<dyn std::error::Error>> {
    app_with_limits(extra_origins, creds, rate_limit()?)
}

/// [`app`] with the given rate-limit layer (the same limits on a Redis store, say).
///
/// # Errors
///
/// As [`app`].
pub fn app_with_limits(
    extra_origins: &[String],
    creds: &Credentials,
    limits: RateLimitLayer,
) -> Result<Router, Box<dyn std::error::Error>> {
    let cors = CorsLayer::builder()
        .allow_origins(ORIGINS)
        .allow_origins(extra_origins.iter().cloned())
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ])
        .allow_headers([
            "Authorization",
            "Content-Type",
            "X-API-Key",
            "X-Request-Id",
            "API-Version",
        ])
        .max_age(Duration::from_secs(86_400))
        .build()?;
    let versioning = VersioningLayer::builder()
        .vendor("example")
        .version(Version::supported(2))
        .version(
            Version::deprecated(1, "2026-01-01")
                .sunset("2027-06-30")
                .link(MIGRATION_GUIDE),
        )
        .version(Version::retired(0).link(MIGRATION_GUIDE))
        .default_version(2)
        .build()?;
    let stack = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(SecurityHeadersLayer::json_api())
        .layer(ErrorHygieneLayer::new())
        .layer(ip_filter(&env_deny_ips())?)
        .layer(cors)
        .layer(versioning)
        .layer(auth(creds)?)
        .layer(limits);
    // ScopeLayer is per route (see `routes`).
    //
    // The versioning layer rewrites the path before routing, so the stack wraps the Router as
    // a service (a `Router::layer` would run after routing).
    Ok(Router::new().fallback_service(stack.service(routes()?)))
}

/// The limits of QUICKSTART.md, on the in-memory store: per hour by tier (anonymous 60 per
/// client IP, authenticated 1,000, premium 10,000, internal 100,000 per principal), and the
/// search route's own (bursts of 20, 2 per second).
///
/// # Errors
///
/// Never with these limits; the builder checks them.
pub fn rate_limit() -> Result<RateLimitLayer, RateLimitConfigError> {
    limits().build()
}

/// The limits, on the store of the caller's choice.
pub fn limits() -> RateLimitBuilder {
    RateLimitLayer::builder()
        .limit(Limit::tiered("hourly", Tiers::standard()))
        .limit(Limit::new("search", Quota::per_second(2).burst(20)).path("/search"))
}

/// The same limits on the Redis server at `url`, shared by every process that uses it.
///
/// # Errors
///
/// When `url` is not a Redis URL.
#[cfg(feature = "redis")]
pub fn redis_rate_limit(url: &str) -> Result<RateLimitLayer, Box<dyn std::error::Error>> {
    let store = tower_shield::rate_limit::RedisStore::builder(url)
        .prefix("quickstart:")
        .build()?;
    Ok(limits().store(store).build()?)
}

/// The rate-limit layer `main` uses: on Redis when `TOWER_SHIELD_REDIS_URL` is set, else in
/// memory; and what to say about it at start.
///
/// # Errors
///
/// A Redis URL that does not parse, or set while the example was built without the `redis`
/// feature.
pub fn limits_from_env() -> Result<(RateLimitLayer, String), Box<dyn std::error::Error>> {
    match std::env::var("TOWER_SHIELD_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            #[cfg(feature = "redis")]
            {
                let layer = redis_rate_limit(&url)?;
                Ok((
                    layer,
                    format!(
                        "Rate limits: on Redis at {url} (TOWER_SHIELD_REDIS_URL), shared by \
                         every instance using it.\n"
                    ),
                ))
            }
            #[cfg(not(feature = "redis"))]
            {
                Err(format!(
                    "TOWER_SHIELD_REDIS_URL is set ({url}), but this build has no Redis store: \
                     run `cargo run --example quickstart --features redis`"
                )
                .into())
            }
        }
        _ => Ok((
            rate_limit()?,
            "Rate limits: in this process's memory (set TOWER_SHIELD_REDIS_URL and build with \
             --features redis to share them between instances).\n"
                .to_owned(),
        )),
    }
}

async fn health(_version: ApiVersion) -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /me`: who you are (the anonymous principal gets a 401 from the route's ScopeLayer).
async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}

async fn list_posts(State(posts): State<Posts>) -> Json<Vec<Post>> {
    Json(posts.0.lock().map(|p| p.1.clone()).unwrap_or_default())
}

async fn create_post(
    State(posts): State<Posts>,
    principal: Principal,
    rejector: Rejector,
    body: Bytes,
) -> Response {
    // `ValidateRequestLayer` checked the media type, the size and the schema (and refused
    // duplicate keys), so this parse reads the body the schema saw. axum's `Json` would check
    // `Content-Type` again, more strictly than RFC 9110 (`application/json ; charset=utf-8`).
    let new = match serde_json::from_slice::<NewPost>(&body) {
        Ok(new) => new,
        Err(_) => {
            return rejector.reject(
                Problem::of(ProblemType::ValidationFailed)
                    .with_detail("The body is not a post: a JSON object with a string `title`."),
            );
        }
    };
    if new.title.trim().is_empty() {
        // Beyond the schema (which counts characters, spaces too): the same problem, with an
        // `errors` list as the schema's violations have.
        return rejector.reject(
            Problem::of(ProblemType::ValidationFailed)
                .with_detail("A post needs a title.")
                .with_extension(
                    "errors",
                    serde_json::json!([{"pointer": "/title", "message": "is blank"}]),
                ),
        );
    }
    let Ok(mut guard) = posts.0.lock() else {
        return rejector.reject(Problem::new(StatusCode::INTERNAL_SERVER_ERROR));
    };
    guard.0 += 1;
    let post = Post {
        id: guard.0,
        title: new.title,
        body: new.body,
        author: principal.subject().to_owned(),
    };
    guard.1.push(post.clone());
    let location = format!("/v2/posts/{}", post.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(post),
    )
        .into_response()
}

async fn delete_post(
    State(posts): State<Posts>,
    id: Result<Path<String>, PathRejection>,
    rejector: Rejector,
) -> Response {
    // An id that is not even text (`%ff`) names no post either.
    let id = id.map(|Path(id)| id).unwrap_or_default();
    let removed = id.parse::<u64>().ok().and_then(|id| {
        let mut guard = posts.0.lock().ok()?;
        let before = guard.1.len();
        guard.1.retain(|p| p.id != id);
        (guard.1.len() < before).then_some(())
    });
    match removed {
        Some(()) => StatusCode::NO_CONTENT.into_response(),
        None => rejector
            .reject(Problem::new(StatusCode::NOT_FOUND).with_detail("There is no such post.")),
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(posts): State<Posts>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
    rejector: Rejector,
) -> Response {
    let Ok(Query(query)) = query else {
        return rejector.reject(
            Problem::new(StatusCode::BAD_REQUEST).with_detail("The query string is malformed."),
        );
    };
    let needle = query.q.to_lowercase();
    let found: Vec<Post> = posts
        .0
        .lock()
        .map(|p| {
            p.1.iter()
                .filter(|post| {
                    post.title.to_lowercase().contains(&needle)
                        || post.body.to_lowercase().contains(&needle)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Json(found).into_response()
}

async fn not_found(rejector: Rejector) -> axum::response::Response {
    rejector
        .reject(Problem::new(StatusCode::NOT_FOUND).with_detail("No resource matches this path."))
}

async fn method_not_allowed(rejector: Rejector) -> axum::response::Response {
    rejector.reject(
        Problem::new(StatusCode::METHOD_NOT_ALLOWED)
            .with_detail("This resource does not support this method."),
    )
}

/// How long a client may take to send a request's head: a slow client (slowloris) cannot
/// hold a connection open with a header a minute. `axum::serve` sets no such timeout.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections get to finish after Ctrl-C.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until Ctrl-C, with hyper-util: as `axum::serve`, plus
/// [`HEADER_READ_TIMEOUT`] and [`SHUTDOWN_GRACE`]. HTTP/1.1 only: hyper's HTTP/2 server has no
/// timeout for a client that opens a stream and never finishes its headers, nor does the
/// protocol detection before it. Each request carries its connection's peer address
/// (`ConnectInfo<SocketAddr>`): the rate limiter keys anonymous clients by it.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    serve_with_header_timeout(listener, app, HEADER_READ_TIMEOUT).await
}

/// [`serve`] with another header read timeout.
pub async fn serve_with_header_timeout(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    serve_connections(listener, app, header_read_timeout, |_, peer| {
        move |extensions: &mut http::Extensions| {
            extensions.insert(ConnectInfo(peer));
        }
    })
    .await
}

/// The accept loop of [`serve`] on any axum `Listener` (TCP here, TLS for the mTLS
/// listener): each connection gets `header_read_timeout` for each request head, counted from
/// when the server waits for it (a silent or idle connection is closed after that long), and
/// `tag` says what every request of a connection carries.
pub async fn serve_connections<L, T, E>(
    mut listener: L,
    app: Router,
    header_read_timeout: Duration,
    tag: T,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: Fn(&L::Io, L::Addr) -> E,
    E: Fn(&mut http::Extensions) + Clone + Send + Sync + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        // axum's listeners retry failed accepts themselves (after a pause, not spinning).
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut ctrl_c => break,
        };
        let insert = tag(&io, peer);
        let app = app
            .clone()
            .map_request(move |req: http::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                insert(req.extensions_mut());
                req
            });
        // hyper (1.4 and later) starts the header timer whenever it waits for a head: the
        // first one, as soon as the connection is served (a client that sends nothing is cut
        // off too), and each next one on a kept-alive connection (so idle connections close).
        let conn = builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
            .into_owned();
        let conn = graceful.watch(conn);
        // A client that goes away, or is too slow with its head, ends its connection.
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    // New connections are refused from now on; open ones get a grace period.
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period: closed");
    }
    Ok(())
}

/// What the server prints when it starts; `token` is a demo JWT to show.
pub fn banner(
    addr: SocketAddr,
    extra_origins: &[String],
    creds: &Credentials,
    token: Option<&str>,
) -> String {
    let base = format!("http://{addr}");
    let mut origins: Vec<String> = ORIGINS.iter().map(|s| (*s).to_owned()).collect();
    origins.extend(extra_origins.iter().cloned());
    let credentials = if creds.are_demo() {
        format!(
            "Demo credentials (demo values only; override with QUICKSTART_API_KEY,\n\
             QUICKSTART_PREMIUM_API_KEY, QUICKSTART_BASIC_USER, QUICKSTART_BASIC_PASSWORD,\n\
             QUICKSTART_JWT_PUBLIC_KEY):\n  \
               X-API-Key: {DEMO_API_KEY}              demo-app, authenticated, read:posts write:posts\n  \
               X-API-Key: {PREMIUM_API_KEY}      premium-app, premium, read/write/delete:posts\n  \
               Basic {BASIC_USER} / {BASIC_PASSWORD}                                      jane, authenticated, read:posts\n  \
               Bearer JWT (RS256, iss {JWT_ISSUER}, aud {JWT_AUDIENCE}),\n    \
               verified with examples/keys/jwt_public.pem; a demo token valid for an hour:\n    \
               {}\n",
            token.unwrap_or("(none: the demo key was replaced)")
        )
    } else {
        "Credentials: from the environment (QUICKSTART_*).\n".to_owned()
    };
    // A key or password from the environment is a real secret: never printed, the command
    // names the variable instead.
    let key = if creds.api_key.is_some() {
        "$QUICKSTART_API_KEY"
    } else {
        DEMO_API_KEY
    };
    let basic = if creds.basic_user == BASIC_USER && creds.basic_password.is_none() {
        format!("{BASIC_USER}:{BASIC_PASSWORD}")
    } else {
        "\"$QUICKSTART_BASIC_USER:$QUICKSTART_BASIC_PASSWORD\"".to_owned()
    };
    let metrics = if cfg!(feature = "metrics") {
        format!("Metrics (Prometheus text): curl -s {base}/metrics | grep tower_shield_\n")
    } else {
        "Metrics: build with --features metrics for /metrics.\n".to_owned()
    };
    let webhooks = if webhook_secret() == DEMO_WEBHOOK_SECRET {
        let raw = &DEMO_WEBHOOK_SECRET["whsec_".len()..];
        format!(
            "Webhooks: POST {base}/v2/webhooks, Standard Webhooks signed with the demo secret\n  \
               {DEMO_WEBHOOK_SECRET} (demo value only; QUICKSTART_WEBHOOK_SECRET overrides it).\n  \
               Sign and send one (204; the same command again within the second is a replay, 401):\n  \
               id=msg_$(date +%s); ts=$(date +%s); body='{{\"type\":\"ping\"}}'\n  \
               key=$(printf %s {raw} | base64 -d | od -An -tx1 | tr -d ' \\n')\n  \
               sig=$(printf %s \"$id.$ts.$body\" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64)\n  \
               curl -i -X POST -H \"webhook-id: $id\" -H \"webhook-timestamp: $ts\" -H \"webhook-signature: v1,$sig\" -d \"$body\" {base}/v2/webhooks\n"
        )
    } else {
        format!("Webhooks: POST {base}/v2/webhooks, signed with QUICKSTART_WEBHOOK_SECRET.\n")
    };
    format!(
        "tower-shield quickstart listening on {base}\n\
         \n\
         {credentials}\
         \n\
         Try:\n  \
           curl -i {base}/v2/health\n  \
           curl -i -H 'X-API-Key: {key}' {base}/v2/me\n  \
           curl -i -u {basic} {base}/v2/posts\n  \
           curl -i -H \"Authorization: Bearer $TOKEN\" {base}/v2/posts     # the demo token above\n  \
           curl -i -X POST -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\\n       \
                -d '{{\"title\":\"Hi\"}}' {base}/v2/posts                # 201\n  \
           curl -i -u {basic} -X DELETE {base}/v2/posts/1      # 403: insufficient scope\n  \
           curl -i {base}/v2/posts                                    # 401: no credentials\n  \
           curl -i -H 'X-API-Key: ak_live_wrong' {base}/v2/health     # 401: a bad key is never anonymous\n  \
           curl -i -H 'X-Request-Id: my-trace-123' {base}/v2/health   # a valid id is kept\n  \
           curl -i -H 'X-Request-Id: <script>' {base}/v2/health       # an unsafe one is replaced\n  \
           curl -i {base}/v1/health                                   # deprecated: Deprecation, Sunset, Link\n  \
           curl -i {base}/v0/health                                   # 410 Gone\n  \
           curl -i -H 'API-Version: 2' {base}/health                  # version from a header\n  \
           curl -i -X OPTIONS -H 'Origin: https://frontend.example.com' \\\n       \
                -H 'Access-Control-Request-Method: POST' {base}/v2/health  # a CORS preflight\n  \
           curl -i {base}/v2/nowhere                                  # a problem+json 404\n\
         \n\
         {webhooks}\
         \n\
         CORS origins (with credentials): {}\n\
         Stack (outermost first): RequestIdLayer -> SecurityHeadersLayer::json_api() -> \
         ErrorHygieneLayer -> IpFilterLayer (QUICKSTART_DENY_IPS) -> CorsLayer -> VersioningLayer -> AuthLayer (API key, JWT, Basic; anonymous allowed) -> \
         RateLimitLayer -> ScopeLayer per route\n\
         Failed credentials: 5 per (user, IP), 20 per IP, 10 per user, then 1 s doubling \
         (at most 15 min, 15 min, 5 min); a 429 login-throttled before any hash:\n  \
           for i in $(seq 7); do curl -s -o /dev/null -w '%{{http_code}} ' -u jane:wrong {base}/v2/posts; done\n\
         {metrics}\
         Limits per hour: anonymous 60 (per IP), authenticated 1000, premium 10000, \
         internal 100000; /search: bursts of 20, 2 per second.\n\
         Stop with Ctrl-C.\n",
        origins.join(", ")
    )
}

/// The optional mTLS listener (`QUICKSTART_MTLS_ADDR`, feature `mtls`): a demo CA, the
/// server's certificate and a client certificate made at start with rcgen.
#[cfg(feature = "mtls")]
pub mod mtls {
    use std::path::Path;
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::ConnectInfo;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    use tokio::net::TcpListener;
    use tokio_rustls::rustls::crypto::ring;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::server::WebPkiClientVerifier;
    use tokio_rustls::rustls::{RootCertStore, ServerConfig};
    use tower_shield::auth::mtls::Grant;
    use tower_shield::auth::{MtlsAuth, PeerCertificates, TlsConnectInfo, TlsListener};

    /// The demo service's identity: a SPIFFE id, on the internal tier (100,000 per hour).
    pub const DEMO_SPIFFE_ID: &str = "spiffe://quickstart.example/ns/demo/sa/reporter";

    /// Workloads of `spiffe://quickstart.example/ns/demo/...` are internal services that may
    /// read posts.
    ///
    /// # Errors
    ///
    /// Never with these constants.
    pub fn auth() -> Result<MtlsAuth, Box<dyn std::error::Error>> {
        Ok(MtlsAuth::builder()
            .spiffe(
                "quickstart.example",
                "/ns/demo",
                Grant::new().scopes(["read:posts"]),
            )
            .build()?)
    }

    /// Makes the demo CA, a server certificate for `localhost` and `127.0.0.1`, and a client
    /// certificate for [`DEMO_SPIFFE_ID`]; writes `ca.pem`, `client.pem` and `client-key.pem`
    /// into `dir` (for curl) and returns the server's TLS configuration: client certificates
    /// of the demo CA verified, clients without one still served (API keys, tokens).
    ///
    /// # Errors
    ///
    /// When `dir` cannot be written.
    pub fn demo_pki(dir: &Path) -> Result<Arc<ServerConfig>, Box<dyn std::error::Error>> {
        let mut ca = CertificateParams::default();
        ca.distinguished_name = DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "tower-shield quickstart demo CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server.signed_by(&server_key, &ca)?;

        let client_key = KeyPair::generate()?;
        let mut client = CertificateParams::default();
        client.distinguished_name = DistinguishedName::new();
        client
            .distinguished_name
            .push(DnType::CommonName, "reporter");
        client.subject_alt_names = vec![SanType::URI(DEMO_SPIFFE_ID.try_into()?)];
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client.signed_by(&client_key, &ca)?;

        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), ca.pem())?;
        std::fs::write(dir.join("client.pem"), client.pem())?;
        std::fs::write(dir.join("client-key.pem"), client_key.serialize_pem())?;

        let provider = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server.der().clone(), ca.der().clone()], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Serves `app` over TLS on `listener` until Ctrl-C, as [`super::serve`] serves plain
    /// HTTP: TLS handshakes time out after 10 s (`TlsListener`), then each request head (the
    /// first, and each next on a kept-alive connection) after
    /// [`super::HEADER_READ_TIMEOUT`]. Every request carries its connection's
    /// `ConnectInfo<TlsConnectInfo>`: the client certificate for `MtlsAuth`, the address for
    /// the rate limiter.
    pub async fn serve(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        app: Router,
    ) -> std::io::Result<()> {
        serve_with_header_timeout(listener, config, app, super::HEADER_READ_TIMEOUT).await
    }

    /// [`serve`] with another header read timeout.
    pub async fn serve_with_header_timeout(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        app: Router,
        header_read_timeout: std::time::Duration,
    ) -> std::io::Result<()> {
        let listener = TlsListener::new(listener, config);
        super::serve_connections(listener, app, header_read_timeout, |io, peer| {
            let info = TlsConnectInfo::new(peer, PeerCertificates::from_connection(io.get_ref().1));
            move |extensions: &mut http::Extensions| {
                extensions.insert(ConnectInfo(info.clone()));
            }
        })
        .await
    }

    /// The banner's lines for the mTLS listener on `port`, with the files in `dir`.
    pub fn banner(port: u16, dir: &Path) -> String {
        let d = dir.display();
        format!(
            "mTLS listener on https://localhost:{port} (demo certificates in {d}):\n  \
               curl -i --cert {d}/client.pem --key {d}/client-key.pem --cacert {d}/ca.pem https://localhost:{port}/v2/me\n  \
               # {DEMO_SPIFFE_ID}: method mtls, tier internal (100,000 per hour)\n"
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        // Colours for a terminal only: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_shield=debug".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let extra_origins = env_origins();
    let creds = Credentials::from_env()?;
    let (limits, store_line) = limits_from_env()?;
    #[cfg(feature = "metrics")]
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let app = app_with_limits(&extra_origins, &creds, limits)
        .map_err(|e| format!("invalid configuration: {e}"))?;
    // Beside the stack (no version, no credential): in production, keep it off the public
    // network.
    #[cfg(feature = "metrics")]
    let app = app.route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    );
    let token = if creds.jwt_public_key.is_none() {
        Some(demo_token()?)
    } else {
        None
    };
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    print!(
        "{}",
        banner(
            listener.local_addr()?,
            &extra_origins,
            &creds,
            token.as_deref()
        )
    );
    print!("{store_line}");
    if let Some(mtls_addr) = std::env::var("QUICKSTART_MTLS_ADDR")
        .ok()
        .filter(|a| !a.is_empty())
    {
        #[cfg(feature = "mtls")]
        {
            let dir = std::env::temp_dir().join("tower-shield-quickstart");
            let config = mtls::demo_pki(&dir)?;
            let tls = TcpListener::bind(&mtls_addr)
                .await
                .map_err(|e| format!("cannot listen on {mtls_addr}: {e}"))?;
            print!("{}", mtls::banner(tls.local_addr()?.port(), &dir));
            tokio::spawn(mtls::serve(tls, config, app.clone()));
        }
        #[cfg(not(feature = "mtls"))]
        println!("QUICKSTART_MTLS_ADDR={mtls_addr} is ignored: run with --features mtls");
    }
    serve(listener, app).await?;
    Ok(())
}
