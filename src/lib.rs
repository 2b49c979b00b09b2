//! Tower middleware for API security.
//!
//! Each piece is an independent [`tower::Layer`](tower_layer::Layer) that any tower, axum,
//! hyper or tonic service stacks in the order it needs:
//!
//! | layer | what it does |
//! |---|---|
//! | [`RequestIdLayer`] | a validated or generated request id on the request, the response and the logs |
//! | [`SecurityHeadersLayer`] | HSTS, CSP (typed, report-only, nonces), nosniff, framing, referrer, permissions and cross-origin policies, cache control |
//! | [`CorsLayer`] | allow-listed origins with anchored subdomain patterns, preflights answered before anything else runs, misconfiguration refused at build time |
//! | [`VersioningLayer`] | the API version from the path, a header, the media type or the query; deprecation and sunset headers; `410` after sunset |
//! | [`AuthLayer`] | a chain of authenticators: API keys (hashed, rotatable), Basic (Argon2), Bearer JWT (static keys or JWKS); optional anonymous principal |
//! | [`ScopeLayer`] | required scopes or roles of the [`Principal`]: `401` without one, `403` without the scope |
//! | [`RateLimitLayer`] | token bucket (GCRA), fixed and sliding windows, leaky bucket; keys by IP (trusted-proxy aware), API key, principal, tier, route; quotas by tier and route; `X-RateLimit-*`, `Retry-After` and IETF `RateLimit` headers; a bounded in-memory store |
//! | [`SignatureLayer`] | Standard Webhooks, Stripe, GitHub and RFC 9421 signatures; timestamp tolerance; replay protection on the store (feature `signature`) |
//! | [`IpFilterLayer`] | CIDR allow and deny lists on the trusted-proxy-aware client IP; deny wins; unknown clients refused; lists replaceable at run time |
//! | [`CsrfLayer`] | cross-origin request protection with `Sec-Fetch-Site` and `Origin` (Go 1.25's algorithm) |
//! | [`ErrorHygieneLayer`] | handler 5xx bodies and panics replaced by a generic problem with the request id; sensitive headers stripped |
//! | [`ValidateRequestLayer`] | per route: required `Content-Type` (415), body size limit (413), JSON Schema (400/422 with an `errors` list) (feature `validate`) |
//! | [`problem::RendererLayer`] | how every rejection is rendered (problem+json by default, plain text, gRPC status, or yours) |
//!
//! Layers talk to each other through typed request extensions ([`RequestId`], [`Principal`],
//! [`ApiVersion`], [`CspNonce`](security_headers::CspNonce)), and reject with typed [`problem::Rejection`]s that
//! one [`problem::Renderer`] turns into responses. Configuration that can be wrong is checked
//! when a layer is built and returns a typed error; nothing panics at run time.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//! use tower_shield::{RequestIdLayer, SecurityHeadersLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/v2/health", get(|| async { r#"{"status":"ok"}"# }))
//!     .layer(SecurityHeadersLayer::json_api())
//!     .layer(RequestIdLayer::new());
//!
//! let res = app
//!     .oneshot(http::Request::get("/v2/health").body(axum::body::Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(res.headers()["x-content-type-options"], "nosniff");
//! assert_eq!(res.headers()["x-request-id"].len(), 36); // a UUID v7
//! # }
//! ```
//!
//! # Stacking order
//!
//! Each layer works alone, but a stack works best in this order, outermost first. With a
//! `tower::ServiceBuilder` the first `.layer(..)` is the outermost; with `Router::layer` calls it
//! is the last one.
//!
//! | # | layer | where it goes | needs from the layers outside it | why there |
//! |---|---|---|---|---|
//! | 1 | [`RendererLayer`] | outermost | — | every rejection inside it, the request id layer's own included, is rendered in its format |
//! | 2 | `RequestIdLayer` | around everything that can answer | — | every response, log line and problem body carries the id |
//! | 3 | `SecurityHeadersLayer` | around everything that can answer | — | rejections and preflights get the headers too |
//! | 3a | `ErrorHygieneLayer` | inside the request id layer, around everything that can fail | `RequestId` (problem body and log) | a handler's 5xx body or panic is replaced by a generic problem that carries the id; the crate's own problems are left as they are |
//! | 3b | `IpFilterLayer` | after the request id, the security headers and error hygiene, before CORS and everything else | the peer address (axum's `ConnectInfo` through `into_make_service_with_connect_info`, or `PeerAddr`) | a refused address costs nothing past the id and headers: no preflight answered, no credential verified, no rate-limit counter created |
//! | 4 | `CorsLayer` | before authentication and rate limiting | — | browsers send preflights without credentials: they are answered here, never refused by auth or counted by a limit, and refusals carry the CORS headers the browser needs to read them |
//! | 4a | `CsrfLayer` | after CORS, before versioning and authentication | — | preflights (OPTIONS, a safe method) are answered by CORS first and refusals carry the CORS headers; a forged request is refused before it costs a credential check or a limit |
//! | 5 | `VersioningLayer` | wrapping the `Router` (`Router::new().fallback_service(stack.service(routes))`, or a `ServiceBuilder` around the `Router`) | — | it rewrites `/v1/posts` to `/posts` before routing; a `Router::layer` runs after routing, too late |
//! | 6 | `AuthLayer` | inside versioning, wrapping the `Router` | `RequestId` (logs) | it puts the `Principal` into the request for everything inside |
//! | 7 | `RateLimitLayer` | after `AuthLayer`: wrapping the `Router` for keys by principal, tier or IP; **inside the `Router`** (`Router::route_layer`, after routing) for keys by route | `Principal` (keys by principal and tier); the route template (`KeyBy::route()` from axum's `MatchedPath` inside the Router; `KeyBy::route_templates([...])` for a limiter that wraps the Router) | anonymous requests are keyed by client IP; outside the Router, a key by route without declared templates is missing (the `MissingKey` policy); the raw path is never a key |
//! | 8 | `ScopeLayer` | per route: `Router::route_layer` (or `MethodRouter::route_layer`) | `Principal`: none or anonymous → `401`, missing scope → `403` | routes need different scopes |
//! | 8 | `ValidateRequestLayer` | per route: `Router::route_layer` (or `MethodRouter::route_layer`), inside `AuthLayer`, `RateLimitLayer` and the route's `ScopeLayer` | the route template (axum's `MatchedPath`); outside the Router, the request path | unknown routes get the Router's 404; anonymous, over-limit or unauthorized requests are refused before their body is read |
//! | 8 | `SignatureLayer` | per route (`route_layer` on the webhook route), or wrapping a Router of webhooks | — (it sets the `Principal` of the sender) | only the routes that receive signed requests read and verify bodies |
//!
//! The quickstart (`examples/quickstart.rs`) is this order.
//!
//! # Cargo features
//!
//! - `axum` (default): axum extractors for [`RequestId`], [`Principal`],
//!   [`Claims<T>`](auth::Claims), [`ApiVersion`], [`CspNonce`](security_headers::CspNonce) and
//!   [`Rejector`](extract::Rejector), and `IntoResponse` for [`problem::Problem`].
//! - `jwt` (default): Bearer JWT authentication (`auth::JwtAuth`) with static keys, through
//!   `jsonwebtoken` on aws-lc-rs.
//! - `basic` (default): HTTP Basic authentication (`auth::BasicAuth`) with Argon2 hashes.
//! - `jwks`: JWT keys from a remote JWK set or OIDC discovery (`auth::Jwks`), fetched with
//!   `reqwest` (rustls) on tokio.
//! - `introspection`: OAuth 2.0 token introspection (`auth::IntrospectionAuth`, RFC 7662) for
//!   opaque Bearer tokens, with `reqwest` (rustls) on tokio.
//! - `client-credentials`: OAuth 2.0 client credentials for outbound calls
//!   (`client::ClientCredentialsLayer`), with `reqwest` (rustls) on tokio.
//! - `redis`: the Redis store for rate limits (`rate_limit::RedisStore`): one limit shared by
//!   every instance of a service, on a single server or a Redis Cluster.
// The rest of the lint policy is the `[lints]` table of Cargo.toml (every target); these two
// concern the library alone.
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod body;
#[cfg(any(feature = "signature", feature = "client-credentials"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "signature", feature = "client-credentials")))
)]
pub mod client;
mod core;
pub mod cors;
pub mod csrf;
pub mod error_hygiene;
pub mod events;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;
mod guard;
pub mod ip_filter;
pub mod metrics;
pub mod pkce;
pub mod problem;
pub mod rate_limit;
pub mod request_id;
pub mod scope;
pub mod security_headers;
#[cfg(feature = "signature")]
#[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
pub mod signature;
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub mod validate;
pub mod versioning;

pub use crate::core::{Answer, BoxFuture, Clock, ManualClock, RequestHead, SystemClock};
pub use auth::{AuthLayer, Principal};
pub use cors::CorsLayer;
pub use csrf::CsrfLayer;
pub use error_hygiene::ErrorHygieneLayer;
pub use ip_filter::IpFilterLayer;
pub use problem::{Problem, RendererLayer};
pub use rate_limit::RateLimitLayer;
pub use request_id::{RequestId, RequestIdLayer};
pub use scope::ScopeLayer;
pub use security_headers::SecurityHeadersLayer;
#[cfg(feature = "signature")]
pub use signature::SignatureLayer;
#[cfg(feature = "validate")]
pub use validate::ValidateRequestLayer;
pub use versioning::{ApiVersion, VersioningLayer};

/// Thin wrappers around internal parsers, for the fuzz targets in `fuzz/` only (`cargo fuzz`
/// builds with `--cfg fuzzing`). Not part of the API: no build of the crate without that flag
/// has this module.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    /// [`core::util::decode_query`](crate::core::util::decode_query).
    pub fn decode_query(text: &str) -> Option<String> {
        crate::core::util::decode_query(text)
    }

    /// [`core::util::query_values`](crate::core::util::query_values), collected.
    pub fn query_values(query: &str, name: &str) -> Vec<Option<String>> {
        crate::core::util::query_values(query, name)
            .map(|value| value.map(std::borrow::Cow::into_owned))
            .collect()
    }
}

/// The README's code blocks, compiled and run as doc tests (they use every feature:
/// `cargo test --all-features`).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "jwt",
    feature = "basic",
    feature = "redis",
    feature = "signature",
    feature = "validate"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
