//! What the introspection tests share: the protected app, a Bearer request, the clock.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use tower_shield::auth::{AuthLayer, IntrospectionAuth, Principal};

/// Now, in Unix seconds (the mock authorization servers write real `exp` values).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `GET /me` behind `auth`, answering the principal as JSON.
pub fn app(auth: IntrospectionAuth) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { serde_json::to_string(&p).unwrap() }),
        )
        .layer(AuthLayer::new(auth))
}

/// `GET /me` with `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}
