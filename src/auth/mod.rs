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
//! Provided authenticators: [`ApiKeyAuth`] (hashed, rotatable keys), `BasicAuth` (feature
//! `basic`, Argon2 hashes) and `JwtAuth` (feature `jwt`; remote key sets with feature `jwks`).
//! Your own (token introspection, a database) implement [`Authenticator`].
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
//! # Audit
//!
//! Every decision is a `tracing` event with target `tower_shield::auth` (`INFO` for successes
//! and failures, `DEBUG` for anonymous requests) with the method, the subject or the reason,
//! and the request id; never a secret. An [`AuditHook`] receives the same [`AuthEvent`]s, for
//! audit logs shipped elsewhere.

mod api_key;
#[cfg(feature = "basic")]
mod basic;
mod error;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
mod principal;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

pub use api_key::{
    ApiKeyAuth, ApiKeyBuilder, ApiKeyConfigError, ApiKeyRecord, GeneratedKey, KeyDigest, KeyStore,
    MemoryKeyStore, generate_api_key,
};
#[cfg(feature = "basic")]
#[cfg_attr(docsrs, doc(cfg(feature = "basic")))]
pub use basic::{
    Argon2Users, BasicAuth, BasicBuilder, BasicConfigError, InvalidPasswordHash, PasswordVerifier,
};
pub use error::{AuthError, AuthErrorKind, Forbidden};
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use jwt::Jwks;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{Algorithm, JwtAuth, JwtKey};
pub use principal::{AuthMethod, Claims, ClaimsError, Principal, PrincipalBuilder, Scopes, Tier};

use crate::body::ResponseBody;
use crate::problem::reject;
use crate::request_id::RequestId;
pub use crate::core::{Answer, BoxFuture, RequestHead};

pub(crate) use error::{challenge, is_quotable};

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
}

/// Authenticators tried in order: `api_key.or(jwt).or(basic)`.
#[derive(Clone, Default)]
pub struct Chain(Vec<Arc<dyn Authenticator>>);

impl Chain {
    /// Adds `next`, asked when every authenticator before it skips.
    #[must_use]
    pub fn or<A: Authenticator>(mut self, next: A) -> Chain {
        self.0.push(Arc::new(next));
        self
    }

    /// How many authenticators the chain has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<A: Authenticator> From<A> for Chain {
    fn from(authenticator: A) -> Self {
        Chain(vec![Arc::new(authenticator)])
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain").field("len", &self.0.len()).finish()
    }
}

/// What an [`AuditHook`] is told.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum AuditOutcome<'a> {
    /// A credential was valid.
    Authenticated(&'a Principal),
    /// No credential; the request went on as the anonymous principal.
    Anonymous,
    /// The request was answered `401` (or `503`).
    Rejected(&'a AuthError),
}

/// One authentication decision, for an [`AuditHook`]. Holds no secret.
#[derive(Clone, Copy, Debug)]
pub struct AuthEvent<'a> {
    outcome: AuditOutcome<'a>,
    method: &'a Method,
    path: &'a str,
    request_id: Option<&'a RequestId>,
}

impl<'a> AuthEvent<'a> {
    /// What was decided.
    pub fn outcome(&self) -> AuditOutcome<'a> {
        self.outcome
    }

    /// The request's method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request's path (without the query, which may hold secrets).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The request's id, when a [`RequestIdLayer`](crate::RequestIdLayer) runs outside.
    pub fn request_id(&self) -> Option<&'a RequestId> {
        self.request_id
    }
}

/// Receives every authentication decision of an [`AuthLayer`], for audit logs shipped
/// elsewhere. Any `Fn(&AuthEvent<'_>)` is one. Called on the request path: keep it quick
/// (hand the event to a channel).
pub trait AuditHook: Send + Sync + 'static {
    /// Records one decision.
    fn record(&self, event: &AuthEvent<'_>);
}

impl<F> AuditHook for F
where
    F: Fn(&AuthEvent<'_>) + Send + Sync + 'static,
{
    fn record(&self, event: &AuthEvent<'_>) {
        self(event)
    }
}

/// The challenges of an [`AuthLayer`] that let a request through as anonymous, for a
/// [`ScopeLayer`](crate::scope::ScopeLayer)'s `401`.
#[derive(Clone, Debug)]
pub(crate) struct Challenges(pub(crate) Arc<[HeaderValue]>);

#[derive(Clone)]
struct Config {
    chain: Box<[Arc<dyn Authenticator>]>,
    anonymous: bool,
    missing: Arc<[HeaderValue]>,
    audit: Option<Arc<dyn AuditHook>>,
}

impl Config {
    fn challenges(&self, failure: Option<&AuthError>) -> Arc<[HeaderValue]> {
        match failure {
            None => Arc::clone(&self.missing),
            Some(failure) => self
                .chain
                .iter()
                .filter_map(|a| a.challenge(Some(failure)))
                .collect(),
        }
    }
}

/// Runs a [`Chain`] of authenticators and puts the [`Principal`] into the request's
/// extensions; see the [module docs](self).
#[derive(Clone)]
pub struct AuthLayer {
    config: Arc<Config>,
}

impl AuthLayer {
    /// A layer that runs `chain` (one authenticator or several joined with
    /// [`or`](Authenticator::or)) and answers `401` to requests without a credential.
    pub fn new(chain: impl Into<Chain>) -> Self {
        let chain: Box<[Arc<dyn Authenticator>]> = chain.into().0.into_boxed_slice();
        let missing = chain.iter().filter_map(|a| a.challenge(None)).collect();
        Self {
            config: Arc::new(Config {
                chain,
                anonymous: false,
                missing,
                audit: None,
            }),
        }
    }

    /// Whether a request without any credential goes on as [`Principal::anonymous`] (default
    /// `false`: it is a `401`). An invalid credential is a `401` either way.
    #[must_use]
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.config_mut().anonymous = allow;
        self
    }

    /// Sends every decision to `hook` as well as to `tracing`.
    #[must_use]
    pub fn audit(mut self, hook: impl AuditHook) -> Self {
        self.config_mut().audit = Some(Arc::new(hook));
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticators", &self.config.chain.len())
            .field("anonymous", &self.config.anonymous)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of an [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Auth<S> {
    /// Wraps `inner` in `layer`.
    pub fn new(inner: S, layer: &AuthLayer) -> Self {
        layer.layer(inner)
    }
}

impl<S: fmt::Debug> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// How far the chain got.
enum Progress {
    Done(Outcome),
    Waiting(BoxFuture<Outcome>, usize),
}

fn run_chain(chain: &[Arc<dyn Authenticator>], from: usize, head: &RequestHead<'_>) -> Progress {
    for (i, authenticator) in chain.iter().enumerate().skip(from) {
        match authenticator.authenticate(head) {
            Answer::Ready(Outcome::Skip) => continue,
            Answer::Ready(outcome) => return Progress::Done(outcome),
            Answer::Later(fut) => return Progress::Waiting(fut, i + 1),
        }
    }
    Progress::Done(Outcome::Skip)
}

fn audit(config: &Config, outcome: AuditOutcome<'_>, head: &RequestHead<'_>) {
    let request_id = head.request_id();
    let rid = request_id.map(RequestId::as_str).unwrap_or_default();
    match outcome {
        AuditOutcome::Authenticated(p) => tracing::info!(
            target: "tower_shield::auth",
            method = p.method().as_str(),
            subject = p.subject(),
            key_id = p.key_id().unwrap_or_default(),
            request_id = rid,
            "authenticated"
        ),
        AuditOutcome::Anonymous => tracing::debug!(
            target: "tower_shield::auth",
            request_id = rid,
            "anonymous request"
        ),
        AuditOutcome::Rejected(e) => tracing::info!(
            target: "tower_shield::auth",
            method = e.method().map(|m| m.as_str()).unwrap_or("none"),
            reason = e.detail(),
            request_id = rid,
            "authentication failed"
        ),
    }
    if let Some(hook) = &config.audit {
        hook.record(&AuthEvent {
            outcome,
            method: head.method(),
            path: head.uri().path(),
            request_id,
        });
    }
}

/// Applies the chain's outcome: the request to pass on, or the rejection.
#[allow(clippy::result_large_err)] // both sides are moved once, never stored
fn settle<ReqBody, ResBody>(
    config: &Config,
    mut req: Request<ReqBody>,
    outcome: Outcome,
) -> Result<Request<ReqBody>, Response<ResponseBody<ResBody>>> {
    let rejection = match outcome {
        Outcome::Authenticated(principal) => {
            audit(
                config,
                AuditOutcome::Authenticated(&principal),
                &RequestHead::of(&req),
            );
            req.extensions_mut().insert(principal);
            return Ok(req);
        }
        Outcome::Skip if req.headers().contains_key(AUTHORIZATION) => {
            AuthError::unsupported_scheme().with_challenges(Arc::clone(&config.missing))
        }
        Outcome::Skip if config.anonymous => {
            audit(config, AuditOutcome::Anonymous, &RequestHead::of(&req));
            let ext = req.extensions_mut();
            ext.insert(Principal::anonymous());
            ext.insert(Challenges(Arc::clone(&config.missing)));
            return Ok(req);
        }
        Outcome::Skip => AuthError::missing().with_challenges(Arc::clone(&config.missing)),
        Outcome::Rejected(e) => {
            let challenges = config.challenges(Some(&e));
            e.with_challenges(challenges)
        }
    };
    audit(
        config,
        AuditOutcome::Rejected(&rejection),
        &RequestHead::of(&req),
    );
    Err(reject(&req, rejection))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let progress = run_chain(&self.config.chain, 0, &RequestHead::of(&req));
        let state = match progress {
            Progress::Done(outcome) => match settle(&self.config, req, outcome) {
                Ok(req) => State::Calling {
                    future: self.inner.call(req),
                },
                Err(res) => State::Done {
                    response: Some(res),
                },
            },
            Progress::Waiting(pending, next) => {
                // The service that was polled ready is the one that will be called.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                State::Waiting {
                    pending,
                    next,
                    request: Some(req),
                    inner: Some(inner),
                }
            }
        };
        ResponseFuture {
            state,
            config: Arc::clone(&self.config),
        }
    }
}

pin_project! {
    /// The response future of [`Auth`].
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
        config: Arc<Config>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Waiting {
            pending: BoxFuture<Outcome>,
            next: usize,
            request: Option<Request<ReqBody>>,
            inner: Option<S>,
        },
        Calling { #[pin] future: S::Future },
        Done { response: Option<Response<ResponseBody<ResBody>>> },
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting {
                    pending,
                    next,
                    request,
                    inner,
                } => {
                    let outcome = match pending.as_mut().poll(cx) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => return Poll::Pending,
                    };
                    let outcome = match outcome {
                        Outcome::Skip => {
                            let Some(req) = request.as_ref() else {
                                return Poll::Pending;
                            };
                            match run_chain(&this.config.chain, *next, &RequestHead::of(req)) {
                                Progress::Done(outcome) => outcome,
                                Progress::Waiting(fut, after) => {
                                    *pending = fut;
                                    *next = after;
                                    continue;
                                }
                            }
                        }
                        outcome => outcome,
                    };
                    let (Some(req), Some(mut svc)) = (request.take(), inner.take()) else {
                        return Poll::Pending;
                    };
                    let next_state = match settle(this.config, req, outcome) {
                        Ok(req) => State::Calling {
                            future: svc.call(req),
                        },
                        Err(res) => State::Done {
                            response: Some(res),
                        },
                    };
                    this.state.set(next_state);
                }
                StateProj::Calling { future } => {
                    return future
                        .poll(cx)
                        .map(|r| r.map(|res| res.map(ResponseBody::new)));
                }
                StateProj::Done { response } => {
                    return match response.take() {
                        Some(res) => Poll::Ready(Ok(res)),
                        None => Poll::Pending,
                    };
                }
            }
        }
    }
}
