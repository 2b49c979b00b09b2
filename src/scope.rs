//! Authorization: [`ScopeLayer`] requires scopes or roles of the request's [`Principal`].
//!
//! - No principal, or the anonymous one: `401` (the request has not authenticated), with the
//!   challenges of the [`AuthLayer`](crate::auth::AuthLayer) that let it through.
//! - A principal without what is required: `403`, an `insufficient-scope` problem; for a Bearer
//!   principal (JWT) also `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."`
//!   ([RFC 6750 section 3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)).
//!
//! Use it per route (`route_layer`) or on a whole router, inside an `AuthLayer`:
//!
//! ```
//! use axum::{Router, body::Body, routing::{delete, get}};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::auth::{
//!     ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, KeyDigest, MemoryKeyStore, Principal,
//! };
//! use tower_shield::scope::ScopeLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryKeyStore::new();
//! let reader = Principal::builder("reader", AuthMethod::ApiKey).scopes(["read:posts"]).build();
//! store.insert(KeyDigest::of("ak_test_reader"), ApiKeyRecord::new(reader));
//!
//! let app = Router::new()
//!     .route("/posts", get(|| async { "[]" }).route_layer(ScopeLayer::all_of(["read:posts"])?))
//!     .route(
//!         "/posts/{id}",
//!         delete(|| async { "" }).route_layer(ScopeLayer::all_of(["delete:posts"])?),
//!     )
//!     .layer(AuthLayer::new(ApiKeyAuth::new(store)));
//!
//! let get = Request::get("/posts").header("x-api-key", "ak_test_reader").body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(get).await?.status(), StatusCode::OK);
//!
//! let del = Request::delete("/posts/1").header("x-api-key", "ak_test_reader").body(Body::empty())?;
//! assert_eq!(app.oneshot(del).await?.status(), StatusCode::FORBIDDEN);
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use http::{HeaderValue, Request};

use crate::auth::{AuthError, Forbidden, Principal, Scopes, is_quotable};
use crate::core::RequestHead;
use crate::core::event::{self, Fields, Kind as EventKind};
use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::{ProblemType, rejection_response};

/// A requirement that cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// No scope or role was given: the layer would let everyone through, or no one.
    Empty,
    /// A scope is empty, or has a character outside what RFC 6749 allows in a scope
    /// (printable ASCII except space, `"` and `\`).
    InvalidScope(String),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a scope requirement needs at least one scope or role"),
            Self::InvalidScope(s) => write!(f, "`{s}` is not a valid scope"),
        }
    }
}

impl std::error::Error for ScopeError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    AllOf,
    AnyOf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Scopes,
    Roles,
}

struct Config {
    required: Scopes,
    mode: Mode,
    kind: Kind,
    detail: Arc<str>,
    bearer_challenge: Option<HeaderValue>,
}

/// Requires scopes or roles of the request's principal; see the [module docs](self).
#[derive(Clone)]
pub struct ScopeLayer {
    config: Arc<Config>,
}

impl ScopeLayer {
    fn new<S: AsRef<str>>(
        items: impl IntoIterator<Item = S>,
        mode: Mode,
        kind: Kind,
    ) -> Result<Self, ScopeError> {
        let mut list = Vec::new();
        for item in items {
            let item = item.as_ref();
            if item.is_empty() || !is_quotable(item) || item.contains(' ') {
                return Err(ScopeError::InvalidScope(item.to_owned()));
            }
            list.push(item.to_owned());
        }
        let required: Scopes = list.iter().collect();
        if required.is_empty() {
            return Err(ScopeError::Empty);
        }
        let what = match kind {
            Kind::Scopes => "scope",
            Kind::Roles => "role",
        };
        let detail = match (mode, required.len()) {
            (_, 1) => format!("This request needs the {what} {required}."),
            (Mode::AllOf, _) => format!("This request needs every {what} of: {required}."),
            (Mode::AnyOf, _) => format!("This request needs one {what} of: {required}."),
        };
        // RFC 6750 defines `scope` for scopes ("the required scope of the access token");
        // roles get the error code alone. When any one of several does, the token needs only
        // one: the challenge names the first, and its description all of them (a client that
        // asked for every scope listed would get more access than the request needs).
        let bearer_challenge = match (kind, mode) {
            (Kind::Scopes, Mode::AnyOf) if required.len() > 1 => {
                let first = required.iter().next().unwrap_or_default();
                HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", \
                     error_description=\"one scope of: {required}\", scope=\"{first}\""
                ))
                .ok()
            }
            (Kind::Scopes, _) => HeaderValue::from_str(&format!(
                "Bearer error=\"insufficient_scope\", scope=\"{required}\""
            ))
            .ok(),
            (Kind::Roles, _) => Some(HeaderValue::from_static(
                r#"Bearer error="insufficient_scope""#,
            )),
        };
        Ok(Self {
            config: Arc::new(Config {
                required,
                mode,
                kind,
                detail: detail.into(),
                bearer_challenge,
            }),
        })
    }

    /// Requires an authenticated principal, any: the anonymous one (of an
    /// [`AuthLayer`](crate::auth::AuthLayer) that [allows it](crate::auth::AuthLayer::allow_anonymous))
    /// gets a `401`.
    pub fn authenticated() -> Self {
        Self {
            config: Arc::new(Config {
                required: Scopes::default(),
                mode: Mode::AllOf,
                kind: Kind::Scopes,
                detail: Arc::from(""),
                bearer_challenge: None,
            }),
        }
    }

    /// Requires every one of `scopes`.
    ///
    /// # Errors
    ///
    /// When `scopes` is empty or one is not a valid OAuth scope.
    pub fn all_of<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Result<Self, ScopeError> {
        Self::new(scopes, Mode::AllOf, Kind::Scopes)
    }

    /// Requires at least one of `scopes`. A Bearer principal without any gets the RFC 6750
    /// challenge `Bearer error="insufficient_scope", error_description="one scope of: a b",
    /// scope="a"`: one scope is what the token needs.
    ///
    /// # Errors
    ///
    /// When `scopes` is empty or one is not a valid OAuth scope.
    pub fn any_of<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Result<Self, ScopeError> {
        Self::new(scopes, Mode::AnyOf, Kind::Scopes)
    }

    /// Requires every one of `roles`.
    ///
    /// # Errors
    ///
    /// When `roles` is empty or one is empty or has a space, quote or backslash.
    pub fn all_roles<S: AsRef<str>>(
        roles: impl IntoIterator<Item = S>,
    ) -> Result<Self, ScopeError> {
        Self::new(roles, Mode::AllOf, Kind::Roles)
    }

    /// Requires at least one of `roles`.
    ///
    /// # Errors
    ///
    /// When `roles` is empty or one is empty or has a space, quote or backslash.
    pub fn any_role<S: AsRef<str>>(roles: impl IntoIterator<Item = S>) -> Result<Self, ScopeError> {
        Self::new(roles, Mode::AnyOf, Kind::Roles)
    }
}

impl fmt::Debug for ScopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeLayer")
            .field("required", &self.config.required)
            .field("mode", &self.config.mode)
            .field("kind", &self.config.kind)
            .finish()
    }
}

guarded_service! {
    /// The service of a [`ScopeLayer`].
    service Scope<S> { guard: ScopeLayer }
    /// The response future of [`Scope`].
    future ResponseFuture;
    layer;
}

fn allowed(config: &Config, principal: &Principal) -> bool {
    let held = match config.kind {
        Kind::Scopes => principal.scopes(),
        Kind::Roles => principal.roles(),
    };
    match config.mode {
        Mode::AllOf => config.required.iter().all(|s| held.contains(s)),
        Mode::AnyOf => config.required.iter().any(|s| held.contains(s)),
    }
}

impl Guard for ScopeLayer {
    type State = ();
    type Wait = std::future::Pending<()>;
    type Resumed = ();

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        let config = &self.config;
        let rejection = match req.extensions().get::<Principal>() {
            Some(p) if !p.is_anonymous() && allowed(config, p) => return Decision::Pass(()),
            Some(p) if !p.is_anonymous() => {
                let required = config.required.to_string();
                event::emit(
                    EventKind::ScopeRefused,
                    &RequestHead::of(req),
                    &Fields {
                        status: Some(403),
                        user: Some(p.subject()),
                        error_type: Some("insufficient_scope"),
                        problem: Some(ProblemType::InsufficientScope.slug()),
                        auth_method: Some(p.method().as_str()),
                        reason: Some(&required),
                        ..Fields::default()
                    },
                );
                let forbidden = Forbidden {
                    detail: Arc::clone(&config.detail),
                    required: config.required.clone(),
                    roles: matches!(config.kind, Kind::Roles),
                    challenge: if p.method().is_bearer() {
                        config.bearer_challenge.clone()
                    } else {
                        None
                    },
                };
                return Decision::Answer(rejection_response(req, forbidden));
            }
            Some(_) => {
                event::emit(
                    EventKind::ScopeRefused,
                    &RequestHead::of(req),
                    &Fields {
                        status: Some(401),
                        error_type: Some("anonymous"),
                        problem: Some(ProblemType::Unauthorized.slug()),
                        ..Fields::default()
                    },
                );
                AuthError::anonymous(req.extensions())
            }
            None => {
                tracing::error!(
                    "ScopeLayer found no Principal: put an AuthLayer outside it; answering 401"
                );
                AuthError::missing()
            }
        };
        Decision::Answer(rejection_response(req, rejection))
    }

    fn resume<B>(&self, _: &mut Request<B>, (): ()) -> Decision<Self> {
        Decision::Pass(())
    }
}
