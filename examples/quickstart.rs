//! The tower-shield demo API: `cargo run --example quickstart [-- ADDR]`.
//!
//! It wears the crate's stack on a small JSON API. Layers, outermost first:
//!
//! 1. `RequestIdLayer`: a valid incoming `X-Request-Id` is kept, anything else replaced by a
//!    UUID v7; the id is on the response, in the logs and in every problem body.
//! 2. `SecurityHeadersLayer::json_api()`: HSTS, nosniff, `Cache-Control: no-store`, a
//!    `default-src 'none'` CSP, `Referrer-Policy`; `Server` and `X-Powered-By` removed.
//! 3. `CorsLayer`: `https://frontend.example.com`, `https://*.example.com` and the origins in
//!    `ALLOWED_ORIGINS` (comma-separated), with credentials; preflights answered here.
//! 4. `VersioningLayer`: `/v2/...` (or `API-Version: 2`, or
//!    `Accept: application/vnd.example.v2+json`, default 2), `/v1/...` deprecated until its
//!    sunset on 2027-06-30, `/v0/...` gone, anything else a 400.
//!
//! Authentication, rate limiting and scopes slot in below them, in that order (see `app`).
//! Every error is an RFC 9457 `application/problem+json` document.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_shield::extract::Rejector;
use tower_shield::versioning::{ApiVersion, Version};
use tower_shield::{CorsLayer, Problem, RequestIdLayer, SecurityHeadersLayer, VersioningLayer};

/// The default address; the first argument overrides it.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The origins always allowed; `ALLOWED_ORIGINS` adds more.
pub const ORIGINS: [&str; 2] = ["https://frontend.example.com", "https://*.example.com"];

/// Where clients of old versions learn how to move on.
pub const MIGRATION_GUIDE: &str = "https://api.example.com/docs/migrate-v2";

/// The API's routes, written once for every version (the versioning layer strips `/vN`).
pub fn routes() -> Router {
    Router::new()
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
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

/// The whole demo service: the routes wrapped in the stack, outermost layer first.
///
/// # Errors
///
/// When an origin in `extra_origins` is malformed (or `null`, or a too broad pattern).
pub fn app(extra_origins: &[String]) -> Result<Router, Box<dyn std::error::Error>> {
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
        .layer(cors)
        .layer(versioning);
    // Later layers go here, in this order: AuthLayer, RateLimitLayer; ScopeLayer per route.
    //
    // The versioning layer rewrites the path before routing, so the stack wraps the Router as
    // a service (a `Router::layer` would run after routing).
    Ok(Router::new().fallback_service(stack.service(routes())))
}

async fn health(_version: ApiVersion) -> Json<Value> {
    Json(json!({ "status": "ok" }))
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

/// Serves `app` on `listener` until Ctrl-C.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// What the server prints when it starts.
pub fn banner(addr: SocketAddr, extra_origins: &[String]) -> String {
    let base = format!("http://{addr}");
    let mut origins: Vec<String> = ORIGINS.iter().map(|s| (*s).to_owned()).collect();
    origins.extend(extra_origins.iter().cloned());
    format!(
        "tower-shield quickstart listening on {base}\n\
         \n\
         Try:\n  \
           curl -i {base}/v2/health\n  \
           curl -i -H 'X-Request-Id: my-trace-123' {base}/v2/health   # a valid id is kept\n  \
           curl -i -H 'X-Request-Id: <script>' {base}/v2/health       # an unsafe one is replaced\n  \
           curl -i {base}/v1/health                                   # deprecated: Deprecation, Sunset, Link\n  \
           curl -i {base}/v0/health                                   # 410 Gone\n  \
           curl -i -H 'API-Version: 2' {base}/health                  # version from a header\n  \
           curl -i -X OPTIONS -H 'Origin: https://frontend.example.com' \\\n       \
                -H 'Access-Control-Request-Method: POST' {base}/v2/health  # a CORS preflight\n  \
           curl -i {base}/v2/nowhere                                  # a problem+json 404\n\
         \n\
         CORS origins (with credentials): {}\n\
         Stack (outermost first): RequestIdLayer -> SecurityHeadersLayer::json_api() -> \
         CorsLayer -> VersioningLayer\n\
         Stop with Ctrl-C.\n",
        origins.join(", ")
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_shield=debug".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let extra_origins = env_origins();
    let app = app(&extra_origins).map_err(|e| format!("invalid ALLOWED_ORIGINS: {e}"))?;
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    print!("{}", banner(listener.local_addr()?, &extra_origins));
    serve(listener, app).await?;
    Ok(())
}
