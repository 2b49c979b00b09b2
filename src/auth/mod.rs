//! Authentication: [`AuthLayer`] runs a chain of [`Authenticator`]s and puts the
//! [`Principal`] it establishes into the request's extensions.
//!
//! Each authenticator looks at the request and answers one of three things ([`Outcome`]):
//! - **not my kind of credential** ([`Outcome::Skip`]): the next one in the chain is asked;
//! - **valid**: here is the [`Principal`];
//! - **presented but invalid**: the request is answered `401` at once, whatever comes later in
//!   the chain.
//!
//! When every authenticator skips, the request has no credential: it is a `401` with a
//! `WWW-Authenticate` challenge for every scheme of the chain, or, with
//! [`AuthLayer::allow_anonymous`], it goes on as [`Principal::anonymous`] (for public routes and
//! tiered rate limits) while an *invalid* credential is still a `401`. An `Authorization`
//! header whose scheme no authenticator accepts is a `401` in both modes, never anonymous.
//!
//! Provided authenticators: [`ApiKeyAuth`] (hashed, rotatable keys, module [`api_key`]),
//! `BasicAuth` (feature `basic`, Argon2 hashes, module `basic`), `JwtAuth` (feature `jwt`;
//! remote key sets with feature `jwks`), `IntrospectionAuth` (feature `introspection`: opaque
//! Bearer tokens checked at the authorization server, RFC 7662) and `MtlsAuth` (feature `mtls`,
//! client certificates, module `mtls`). A principal whose claims bind it to a client
//! certificate (`cnf.x5t#S256`, RFC 8705) is accepted only on a connection that presented that
//! certificate. Your own (a database) implement [`Authenticator`].
//!
//! [`AuthLayer::new`] takes a chain and builds the layer at once; [`AuthLayer::builder`]
//! configures more and checks it ([`ConfigError`]).
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::auth::{
//!     ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, KeyDigest, MemoryKeyStore, Principal,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The store holds SHA-256 digests of the keys, never the keys.
//! let store = MemoryKeyStore::new();
//! store.insert(
//!     KeyDigest::of("ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c"),
//!     ApiKeyRecord::new(
//!         Principal::builder("demo-app", AuthMethod::ApiKey).scopes(["read:posts"]).build(),
//!     ),
//! );
//! let auth = AuthLayer::new(ApiKeyAuth::new(store));
//!
//! let app = Router::new()
//!     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
//!     .layer(auth);
//!
//! let req = Request::get("/me")
//!     .header("x-api-key", "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c")
//!     .body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(req).await?.status(), StatusCode::OK);
//!
//! let res = app.oneshot(Request::get("/me").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], r#"ApiKey realm="api", header="X-API-Key""#);
//! # Ok(()) }
//! ```
//!
//! # Throttling failed credentials
//!
//! With a [`Throttle`] ([`AuthBuilder::throttle`]), failed credentials are counted per client
//! IP, per claimed identity and per (identity, IP) pair, and an attempt over any of them is
//! answered `429` before any password is hashed or signature checked. The layer sits where
//! the credentials are checked, so nothing else has to run first; see [`Throttle`] for the
//! defaults and the trade-off of the identity-wide limit.
//!
//! # Audit
//!
//! Every decision is a `tracing` event with target `tower_shield::auth` (`INFO` for successes
//! and failures, `WARN` for throttled attempts, `DEBUG` for anonymous requests), with the
//! OpenTelemetry HTTP attribute names (`http.request.method`, `url.path`, `http.route`,
//! `http.response.status_code`, `client.address`, `user.id`, `error.type`) and the crate's own
//! (`tower_shield.event`, `tower_shield.problem`, `tower_shield.auth.method`,
//! `tower_shield.reason`, `tower_shield.request_id`); never a secret. `user.id` is the
//! subject, or on a failure the claimed identity (the Basic user name). An [`AuditHook`]
//! receives the same [`AuthEvent`]s, for audit logs shipped elsewhere.

pub mod api_key;
mod audit;
#[cfg(feature = "basic")]
#[cfg_attr(docsrs, doc(cfg(feature = "basic")))]
pub mod basic;
#[cfg(any(feature = "jwt", feature = "introspection"))]
mod bearer;
mod builder;
mod chain;
mod cnf;
mod error;
mod inflight;
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub mod introspection;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
mod layer;
#[cfg(feature = "mtls")]
#[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
pub mod mtls;
mod principal;
mod throttle;
#[cfg(any(feature = "jwt", feature = "introspection"))]
mod token_cache;

use std::sync::Arc;

use http::HeaderValue;

pub use api_key::{
    ApiKeyAuth, ApiKeyBuilder, ApiKeyRecord, GeneratedKey, KeyDigest, KeyStore, MemoryKeyStore,
    generate_api_key,
};
pub use audit::{AuditHook, AuditOutcome, AuthEvent};
#[cfg(feature = "basic")]
#[cfg_attr(docsrs, doc(cfg(feature = "basic")))]
pub use basic::{Argon2Users, BasicAuth, BasicBuilder, InvalidPasswordHash, PasswordVerifier};
pub use builder::AuthBuilder;
pub use chain::Chain;
pub use error::{AuthError, AuthErrorKind, Forbidden};
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub use introspection::{IntrospectionAuth, IntrospectionBuilder};
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use jwt::Jwks;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{Algorithm, JwtAuth, JwtKey};
pub use layer::{Auth, AuthLayer, ResponseFuture};
#[cfg(all(feature = "mtls", feature = "axum"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "mtls", feature = "axum"))))]
pub use mtls::TlsListener;
#[cfg(feature = "mtls")]
#[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
pub use mtls::{MtlsAuth, MtlsBuilder, PeerCertificates, TlsConnectInfo};
pub use principal::{AuthMethod, Claims, ClaimsError, Principal, PrincipalBuilder, Scopes, Tier};
pub use throttle::{Backoff, Throttle, ThrottleBuilder, Throttled};

pub use crate::core::{Answer, BoxFuture, RequestHead};

#[cfg(any(feature = "jwt", feature = "introspection"))]
pub(crate) use error::bearer_challenge;
pub(crate) use error::{challenge, is_quotable};
pub(crate) use layer::Challenges;

/// A configuration of [`AuthLayer`] that cannot work: what [`AuthBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No authenticator was added: every request would be turned away (or be anonymous).
    #[error("an AuthLayer needs at least one authenticator")]
    NoAuthenticator,
    /// A [`Backoff`] of the [`Throttle`] cannot be used (no free failure, a zero or
    /// inverted delay, a period over 366 days).
    #[error("throttle backoff per {dimension}: {error}")]
    InvalidBackoff {
        /// `ip`, `identity` or `identity_ip`.
        dimension: &'static str,
        /// What is wrong.
        #[source]
        error: crate::rate_limit::RuleError,
    },
}

/// What an [`Authenticator`] concluded about a request.
#[derive(Debug)]
pub enum Outcome {
    /// Not my kind of credential (or none at all): ask the next authenticator.
    Skip,
    /// A valid credential, and who presented it.
    Authenticated(Principal),
    /// A credential of my kind that is not valid: answer `401` now.
    Rejected(AuthError),
}

/// One way of authenticating requests. Implement it for your own (opaque-token
/// introspection, a database lookup) and chain it with the provided ones.
///
/// ```
/// use tower_shield::auth::{
///     Answer, AuthError, AuthLayer, AuthMethod, Authenticator, Outcome, Principal, RequestHead,
/// };
///
/// /// Accepts `X-Internal-Token: let-me-in` (a real one would compare in constant time).
/// struct Internal;
///
/// impl Authenticator for Internal {
///     fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
///         Answer::ready(match req.headers().get("x-internal-token") {
///             None => Outcome::Skip,
///             Some(v) if v == "let-me-in" => Outcome::Authenticated(
///                 Principal::builder("cron", AuthMethod::Custom("internal")).build(),
///             ),
///             Some(_) => Outcome::Rejected(AuthError::invalid(
///                 AuthMethod::Custom("internal"),
///                 "invalid internal token",
///             )),
///         })
///     }
/// }
///
/// let layer = AuthLayer::new(Internal);
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// Looks at the request and answers.
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome>;

    /// This authenticator's `WWW-Authenticate` challenge for a `401`, given the failure if one
    /// of its credentials was presented (`None` when no credential was presented, or another
    /// authenticator's failed). `None` (the default) adds no challenge.
    fn challenge(&self, failure: Option<&AuthError>) -> Option<HeaderValue> {
        let _ = failure;
        None
    }

    /// The identity the request claims, read without checking anything (no hashing, no
    /// signature): the Basic user name. A [`Throttle`] counts failures per claimed identity.
    /// `None` (the default) when the request claims none this authenticator can tell, or
    /// when the claim is the secret itself (an API key).
    fn claimed_identity(&self, req: &RequestHead<'_>) -> Option<String> {
        let _ = req;
        None
    }

    /// A chain: this authenticator, then `next` when this one skips.
    fn or<A: Authenticator>(self, next: A) -> Chain
    where
        Self: Sized,
    {
        Chain::from(self).or(next)
    }
}

impl<A: Authenticator + ?Sized> Authenticator for Arc<A> {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        (**self).authenticate(req)
    }

    fn challenge(&self, failure: Option<&AuthError>) -> Option<HeaderValue> {
        (**self).challenge(failure)
    }

    fn claimed_identity(&self, req: &RequestHead<'_>) -> Option<String> {
        (**self).claimed_identity(req)
    }
}

#[cfg(test)]
mod tests;
