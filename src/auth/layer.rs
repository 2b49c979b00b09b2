//! [`AuthLayer`] and its service: the chain run as a guard.

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};

use super::audit::{self, AuditHook, AuditOutcome};
use super::chain::{self, Authenticating, Chain, Progress};
use super::cnf;
use super::{AuthBuilder, AuthError, Authenticator, Outcome, Principal, RequestHead};
use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::rejection_response;

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

    fn audit(&self, outcome: AuditOutcome<'_>, head: &RequestHead<'_>) {
        audit::record(self.audit.as_deref(), outcome, head);
    }
}

/// Runs a [`Chain`] of authenticators and puts the [`Principal`] into the request's
/// extensions; see the [module docs](super).
#[derive(Clone)]
pub struct AuthLayer {
    config: Arc<Config>,
}

impl AuthLayer {
    /// A layer that runs `chain` (one authenticator or several joined with
    /// [`or`](Authenticator::or)) and answers `401` to requests without a credential: the
    /// shortcut for `AuthLayer::builder().chain(chain).build()` that takes any chain.
    pub fn new(chain: impl Into<Chain>) -> Self {
        Self::from_parts(chain.into(), false, None)
    }

    /// Configures the layer: its authenticators, anonymous requests, an audit hook.
    pub fn builder() -> AuthBuilder {
        AuthBuilder::default()
    }

    pub(super) fn from_parts(
        chain: Chain,
        anonymous: bool,
        audit: Option<Arc<dyn AuditHook>>,
    ) -> Self {
        let chain: Box<[Arc<dyn Authenticator>]> = chain.0.into_boxed_slice();
        let missing = chain.iter().filter_map(|a| a.challenge(None)).collect();
        Self {
            config: Arc::new(Config {
                chain,
                anonymous,
                missing,
                audit,
            }),
        }
    }

    /// Whether a request without any credential goes on as [`Principal::anonymous`] (default
    /// `false`: it is a `401`). An invalid credential is a `401` either way. The same as
    /// [`AuthBuilder::allow_anonymous`].
    #[must_use]
    pub fn allow_anonymous(mut self, on: bool) -> Self {
        self.config_mut().anonymous = on;
        self
    }

    /// Sends every decision to `hook` as well as to `tracing`. The same as
    /// [`AuthBuilder::audit`].
    #[must_use]
    pub fn audit(mut self, hook: impl AuditHook) -> Self {
        self.config_mut().audit = Some(Arc::new(hook));
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Asks the chain from authenticator `from` on, and settles when it has an outcome.
    fn ask<B>(&self, req: &mut Request<B>, from: usize) -> Decision<Self> {
        match chain::run(&self.config.chain, from, &RequestHead::of(req)) {
            Progress::Done(outcome) => self.settle(req, outcome),
            Progress::Waiting(authenticating) => Decision::Wait(authenticating),
        }
    }

    /// Applies the chain's outcome: the principal into the request, or the rejection.
    fn settle<B>(&self, req: &mut Request<B>, outcome: Outcome) -> Decision<Self> {
        let config = &*self.config;
        let rejection = match outcome {
            Outcome::Authenticated(principal) => match cnf::confirm(&principal, req.extensions()) {
                Ok(()) => {
                    config.audit(
                        AuditOutcome::Authenticated(&principal),
                        &RequestHead::of(req),
                    );
                    req.extensions_mut().insert(principal);
                    return Decision::Pass(());
                }
                // A certificate-bound token on a connection without that certificate.
                Err(e) => {
                    let challenges = config.challenges(Some(&e));
                    e.with_challenges(challenges)
                }
            },
            Outcome::Skip if req.headers().contains_key(AUTHORIZATION) => {
                AuthError::unsupported_scheme().with_challenges(Arc::clone(&config.missing))
            }
            Outcome::Skip if config.anonymous => {
                config.audit(AuditOutcome::Anonymous, &RequestHead::of(req));
                let ext = req.extensions_mut();
                ext.insert(Principal::anonymous());
                ext.insert(Challenges(Arc::clone(&config.missing)));
                return Decision::Pass(());
            }
            Outcome::Skip => AuthError::missing().with_challenges(Arc::clone(&config.missing)),
            Outcome::Rejected(e) => {
                let challenges = config.challenges(Some(&e));
                e.with_challenges(challenges)
            }
        };
        config.audit(AuditOutcome::Rejected(&rejection), &RequestHead::of(req));
        Decision::Answer(rejection_response(req, rejection))
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

guarded_service! {
    /// The service of an [`AuthLayer`].
    service Auth<S> { guard: AuthLayer }
    /// The response future of [`Auth`].
    future ResponseFuture;
    layer;
}

impl<S> Auth<S> {
    /// Wraps `inner` in `layer`.
    pub fn new(inner: S, layer: &AuthLayer) -> Self {
        tower_layer::Layer::layer(layer, inner)
    }
}

/// Authenticators that answer now settle at once; one that answers later makes the request
/// wait, then the chain goes on from the next authenticator (which may wait again).
impl Guard for AuthLayer {
    type State = ();
    type Wait = Authenticating;
    type Resumed = (Outcome, usize);

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        self.ask(req, 0)
    }

    fn resume<B>(&self, req: &mut Request<B>, (outcome, next): (Outcome, usize)) -> Decision<Self> {
        match outcome {
            Outcome::Skip => self.ask(req, next),
            outcome => self.settle(req, outcome),
        }
    }
}
