//! [`AuthLayer`] and its service: the chain run as a guard.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};

use super::audit::{self, AuditHook, AuditOutcome};
use super::chain::{self, Authenticating, Chain, Progress};
use super::cnf;
use super::throttle::{Attempt, Compiled, Probe, Throttled};
use super::{
    AuthBuilder, AuthError, AuthErrorKind, Authenticator, Outcome, Principal, RequestHead,
};
use crate::core::event::{self, Fields, Kind};
use crate::core::{Answer, BoxFuture};
use crate::guard::{Decision, Guard, guarded_service};
use crate::metrics::{self, Stopwatch};
use crate::problem::{ProblemType, rejection_response};
use crate::rate_limit::{Decision as StoreDecision, StoreError};

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
    throttle: Option<Compiled>,
    /// The proxies whose `X-Forwarded-Client-Cert` names the certificate a bound token is
    /// checked against.
    #[cfg(feature = "mtls")]
    forwarded: Option<(crate::rate_limit::ClientIp, super::mtls::XfccMode)>,
}

impl Config {
    fn challenges(&self, failure: Option<&AuthError>) -> Arc<[HeaderValue]> {
        match failure {
            None => Arc::clone(&self.missing),
            Some(failure) => {
                let all = distinct(self.chain.iter().filter_map(|a| a.challenge(Some(failure))));
                without_bare_duplicates(all)
            }
        }
    }

    fn audit(&self, outcome: AuditOutcome<'_>, head: &RequestHead<'_>, attempt: Option<&Attempt>) {
        let claimed = match outcome {
            AuditOutcome::Rejected(_) => attempt.and_then(|a| a.identity.as_deref()),
            _ => None,
        };
        audit::record(
            self.audit.as_deref(),
            outcome,
            head,
            claimed,
            attempt.and_then(|a| a.ip),
        );
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
        let missing = distinct(chain.iter().filter_map(|a| a.challenge(None)));
        Self {
            config: Arc::new(Config {
                chain,
                anonymous,
                missing,
                audit,
                throttle: None,
                #[cfg(feature = "mtls")]
                forwarded: None,
            }),
        }
    }

    pub(super) fn set_throttle(&mut self, throttle: Option<Compiled>) {
        self.config_mut().throttle = throttle;
    }

    #[cfg(feature = "mtls")]
    pub(super) fn set_forwarded(
        &mut self,
        proxies: Option<(crate::rate_limit::ClientIp, super::mtls::XfccMode)>,
    ) {
        self.config_mut().forwarded = proxies;
    }

    /// What a certificate-bound token is checked against.
    fn presented(&self) -> cnf::Presented<'_> {
        cnf::Presented {
            #[cfg(feature = "mtls")]
            forwarded: self.config.forwarded.as_ref(),
            _config: std::marker::PhantomData,
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
            Progress::Waiting(authenticating) => Decision::Wait(Waiting::Chain(authenticating)),
        }
    }

    /// Applies the chain's outcome: the principal into the request, or the rejection.
    fn settle<B>(&self, req: &mut Request<B>, outcome: Outcome) -> Decision<Self> {
        let config = &*self.config;
        let attempt = match config.throttle {
            Some(_) => req.extensions_mut().remove::<Attempt>(),
            None => None,
        };
        let rejection = match outcome {
            Outcome::Authenticated(principal) => match cnf::confirm(
                &principal,
                req.headers(),
                req.extensions(),
                self.presented(),
            ) {
                Ok(()) => {
                    config.audit(
                        AuditOutcome::Authenticated(&principal),
                        &RequestHead::of(req),
                        attempt.as_ref(),
                    );
                    req.extensions_mut().insert(principal);
                    if let (Some(throttle), Some(attempt)) = (&config.throttle, &attempt)
                        && let Some(cleared) = throttle.clear(attempt)
                    {
                        finish_in_background(cleared);
                    }
                    return Decision::Pass(());
                }
                // A certificate-bound token on a connection without that certificate.
                Err(e) => {
                    let challenges = config.challenges(Some(&e));
                    e.with_challenges(challenges)
                }
            },
            // Several `Authorization` headers that no authenticator took (the first of another
            // scheme): malformed, whatever they hold (RFC 6750 section 3.1's `invalid_request`).
            Outcome::Skip if req.headers().get_all(AUTHORIZATION).iter().nth(1).is_some() => {
                AuthError::several_authorizations().with_challenges(Arc::clone(&config.missing))
            }
            Outcome::Skip if req.headers().contains_key(AUTHORIZATION) => {
                AuthError::unsupported_scheme().with_challenges(Arc::clone(&config.missing))
            }
            Outcome::Skip if config.anonymous => {
                config.audit(
                    AuditOutcome::Anonymous,
                    &RequestHead::of(req),
                    attempt.as_ref(),
                );
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
        config.audit(
            AuditOutcome::Rejected(&rejection),
            &RequestHead::of(req),
            attempt.as_ref(),
        );
        let counts = rejection.kind() == AuthErrorKind::Invalid;
        let res = rejection_response(req, rejection);
        match (&config.throttle, attempt) {
            (Some(throttle), Some(attempt)) if counts => {
                let watch = Stopwatch::start();
                match throttle.record(&attempt) {
                    Answer::Ready(result) => {
                        recorded(req, &attempt, result.map(|_| ()), watch);
                        Decision::Answer(res)
                    }
                    Answer::Later(pending) => {
                        req.extensions_mut().insert(attempt);
                        let res = Box::new(res);
                        Decision::Wait(Waiting::Store(Box::pin(async move {
                            let result = pending.await.map(|_| ());
                            Resumed::Recorded(res, result, watch)
                        })))
                    }
                }
            }
            _ => Decision::Answer(res),
        }
    }

    /// Reads the throttle's counters, then asks the chain unless the attempt is throttled.
    fn probe<B>(&self, req: &mut Request<B>, throttle: &Compiled) -> Decision<Self> {
        let mut attempt = throttle.attempt(&self.config.chain, &RequestHead::of(req));
        let watch = Stopwatch::start();
        match throttle.read(&mut attempt) {
            Answer::Ready(result) => self.probed(req, attempt, result, watch),
            Answer::Later(pending) => {
                let attempt = Box::new(attempt);
                Decision::Wait(Waiting::Store(Box::pin(async move {
                    Resumed::Probed(pending.await, attempt, watch)
                })))
            }
        }
    }

    /// Goes on with the read of the counters: the `429`, or the chain.
    fn probed<B>(
        &self,
        req: &mut Request<B>,
        mut attempt: Attempt,
        result: Result<StoreDecision, StoreError>,
        watch: Stopwatch,
    ) -> Decision<Self> {
        let Some(throttle) = &self.config.throttle else {
            return self.ask(req, 0);
        };
        match result {
            Ok(decision) => {
                metrics::store_decision("auth_throttle", watch.elapsed());
                match throttle.judge(&mut attempt, &decision) {
                    Probe::Go => {}
                    Probe::Throttled(retry_after, dimension) => {
                        return throttled(req, &attempt, retry_after, dimension);
                    }
                    // Each wait ends when a check of the counter is over, or after
                    // `MAX_WAIT`; an attempt that waited that long or this often (reads
                    // again after a check ended count too) is told to come back (`503`, as
                    // when the hashing queue is full) rather than wait on.
                    Probe::Wait(..) if attempt.waits >= MAX_WAITS => {
                        let e = AuthError::checks_in_flight();
                        let challenges = self.config.challenges(Some(&e));
                        let e = e.with_challenges(challenges);
                        return Decision::Answer(rejection_response(req, e));
                    }
                    Probe::Wait(done) => {
                        attempt.waits += 1;
                        let config = Arc::clone(&self.config);
                        // The timer needs a tokio runtime; without one the wait is unbounded
                        // by time (a runtime without a timer would panic in a sleep).
                        let timed = tokio::runtime::Handle::try_current().is_ok();
                        return Decision::Wait(Waiting::Store(Box::pin(async move {
                            if let Some(done) = done {
                                if !timed {
                                    done.await;
                                } else if tokio::time::timeout(MAX_WAIT, done).await.is_err() {
                                    attempt.waits = MAX_WAITS;
                                }
                            }
                            let watch = Stopwatch::start();
                            let result = match &config.throttle {
                                Some(throttle) => throttle.read(&mut attempt).resolve().await,
                                None => Ok(StoreDecision {
                                    now: 0,
                                    verdicts: smallvec::SmallVec::new(),
                                }),
                            };
                            Resumed::Probed(result, Box::new(attempt), watch)
                        })));
                    }
                }
            }
            Err(e) => store_failed(req, &attempt, &e, "read"),
        }
        req.extensions_mut().insert(attempt);
        self.ask(req, 0)
    }
}

/// How many times an attempt waits for other checks of its counters before it is answered
/// `503` (`Retry-After: 1`): more than the free failures of the default throttle, so that a
/// burst is judged as if it had come in order.
const MAX_WAITS: u32 = 32;

/// The longest one wait lasts: a check that never ends (a verifier without a timeout) holds
/// up the attempts behind it this long, then they are answered `503`.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The `429` of a throttled attempt, its event and metrics.
fn throttled<B>(
    req: &Request<B>,
    attempt: &Attempt,
    retry_after: u64,
    dimension: &'static str,
) -> Decision<AuthLayer> {
    metrics::auth("none", "throttled");
    metrics::throttled(dimension);
    event::emit(
        Kind::AuthThrottled,
        &RequestHead::of(req),
        &Fields {
            status: Some(429),
            user: attempt.identity.as_deref(),
            error_type: Some(ProblemType::LoginThrottled.slug()),
            problem: Some(ProblemType::LoginThrottled.slug()),
            retry_after: Some(retry_after),
            limit: Some(dimension),
            client: attempt.ip,
            ..Fields::default()
        },
    );
    Decision::Answer(rejection_response(req, Throttled { retry_after }))
}

/// A throttle store that failed: logged, counted, and the attempt goes on (fail open).
fn store_failed<B>(req: &Request<B>, attempt: &Attempt, error: &StoreError, op: &str) {
    metrics::store_failure("auth_throttle", metrics::store_error_kind(error.kind()));
    event::emit(
        Kind::StoreFailure,
        &RequestHead::of(req),
        &Fields {
            error_type: Some(metrics::store_error_kind(error.kind())),
            reason: Some(op),
            limit: Some("auth_throttle"),
            client: attempt.ip,
            ..Fields::default()
        },
    );
}

/// After a failure was recorded (or not).
fn recorded<B>(
    req: &Request<B>,
    attempt: &Attempt,
    result: Result<(), StoreError>,
    watch: Stopwatch,
) {
    match result {
        Ok(()) => metrics::store_decision("auth_throttle", watch.elapsed()),
        Err(e) => store_failed(req, attempt, &e, "record"),
    }
}

/// Lets a store operation whose result nobody waits for run to its end: on the tokio runtime
/// when it answers later (dropped, with a debug line, outside one).
fn finish_in_background(answer: Answer<Result<(), StoreError>>) {
    let log = |r: Result<(), StoreError>| {
        if let Err(e) = r {
            tracing::debug!(target: "tower_shield::auth", error = %e, "throttle counter not cleared");
        }
    };
    match answer {
        Answer::Ready(r) => log(r),
        Answer::Later(pending) => match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { log(pending.await) });
            }
            Err(_) => tracing::debug!(
                target: "tower_shield::auth",
                "throttle counter not cleared: no tokio runtime"
            ),
        },
    }
}

/// What an [`AuthLayer`] waits on: an authenticator, or the throttle's store.
pub(crate) enum Waiting {
    Chain(Authenticating),
    Store(BoxFuture<Resumed>),
}

impl Future for Waiting {
    type Output = Resumed;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resumed> {
        match self.get_mut() {
            Waiting::Chain(a) => Pin::new(a)
                .poll(cx)
                .map(|(outcome, next)| Resumed::Chain(outcome, next)),
            Waiting::Store(f) => f.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Chain(a) => a.fmt(f),
            Waiting::Store(_) => f.write_str("Waiting::Store"),
        }
    }
}

/// What an [`AuthLayer`]'s wait yields.
pub(crate) enum Resumed {
    /// An authenticator's outcome, and the next authenticator's index.
    Chain(Outcome, usize),
    /// The throttle's counters, read.
    Probed(Result<StoreDecision, StoreError>, Box<Attempt>, Stopwatch),
    /// A failure recorded: the answer to send.
    Recorded(Box<Response<Bytes>>, Result<(), StoreError>, Stopwatch),
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
    type Wait = Waiting;
    type Resumed = Resumed;

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        match &self.config.throttle {
            Some(throttle) => self.probe(req, throttle),
            None => self.ask(req, 0),
        }
    }

    fn resume<B>(&self, req: &mut Request<B>, resumed: Resumed) -> Decision<Self> {
        match resumed {
            Resumed::Chain(Outcome::Skip, next) => self.ask(req, next),
            Resumed::Chain(outcome, _) => self.settle(req, outcome),
            Resumed::Probed(result, attempt, watch) => self.probed(req, *attempt, result, watch),
            Resumed::Recorded(res, result, watch) => {
                if let Some(attempt) = req.extensions_mut().remove::<Attempt>() {
                    recorded(req, &attempt, result, watch);
                }
                Decision::Answer(*res)
            }
        }
    }
}

/// The challenges in order, each once: two Bearer authenticators of one realm (a `JwtAuth` and
/// an `IntrospectionAuth`) would otherwise send the same `WWW-Authenticate` twice.
/// The challenges but those that another one repeats with parameters added: two Bearer
/// authenticators of one realm (introspection, then JWTs) answer a failed token with one
/// challenge, the one that carries the `error` (RFC 6750 section 3: "SHOULD include the
/// `error` attribute"), not that one after a bare `Bearer realm="api"`, which a client reads
/// first and takes for "no token sent".
pub(super) fn without_bare_duplicates(challenges: Arc<[HeaderValue]>) -> Arc<[HeaderValue]> {
    let repeated = |c: &HeaderValue| {
        challenges.iter().any(|d| {
            d.as_bytes().len() > c.as_bytes().len()
                && d.as_bytes().starts_with(c.as_bytes())
                && d.as_bytes()[c.as_bytes().len()..].starts_with(b", ")
        })
    };
    if !challenges.iter().any(&repeated) {
        return challenges;
    }
    challenges
        .iter()
        .filter(|c| !repeated(c))
        .cloned()
        .collect()
}

fn distinct(challenges: impl Iterator<Item = HeaderValue>) -> Arc<[HeaderValue]> {
    let mut out: Vec<HeaderValue> = Vec::new();
    for c in challenges {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.into()
}
