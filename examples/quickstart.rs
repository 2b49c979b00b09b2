//! The tower-shield demo API: `cargo run --example quickstart [-- ADDR]`.
//!
//! It wears the crate's stack on a small JSON API. Layers, outermost first:
//!
//! 1. `RequestIdLayer`: a valid incoming `X-Request-Id` is kept, anything else replaced by a
//!    UUID v7; the id is on the response, in the logs and in every problem body.
//! 2. `SecurityHeadersLayer::json_api()`: HSTS, nosniff, `Cache-Control: no-store`, a
//!    `default-src 'none'` CSP, `Referrer-Policy`; `Server` and `X-Powered-By` removed.
//!
//! CORS, versioning, authentication, rate limiting and scopes slot in below them, in that order
//! (see `layers` below). Every error is an RFC 9457 `application/problem+json` document.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_shield::extract::Rejector;
use tower_shield::{Problem, RequestIdLayer, SecurityHeadersLayer};

/// The default address; the first argument overrides it.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The API's routes, without the security stack.
pub fn routes() -> Router {
    Router::new()
        .route("/v2/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The whole demo service: the routes wrapped in the stack, outermost layer first.
pub fn app() -> Router {
    let layers = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(SecurityHeadersLayer::json_api());
    // Later layers go here, in this order: CorsLayer, VersioningLayer, AuthLayer,
    // RateLimitLayer; ScopeLayer per route.
    routes().layer(layers)
}

async fn health() -> Json<Value> {
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

/// Serves [`app`] on `listener` until Ctrl-C.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// What the server prints when it starts.
pub fn banner(addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    format!(
        "tower-shield quickstart listening on {base}\n\
         \n\
         Try:\n  \
           curl -i {base}/v2/health\n  \
           curl -i -H 'X-Request-Id: my-trace-123' {base}/v2/health   # a valid id is kept\n  \
           curl -i -H 'X-Request-Id: <script>' {base}/v2/health       # an unsafe one is replaced\n  \
           curl -i {base}/v2/nowhere                                  # a problem+json 404\n\
         \n\
         Stack (outermost first): RequestIdLayer -> SecurityHeadersLayer::json_api()\n\
         Stop with Ctrl-C.\n"
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
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    print!("{}", banner(listener.local_addr()?));
    serve(listener).await?;
    Ok(())
}
