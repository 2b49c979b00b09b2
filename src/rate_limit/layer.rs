//! The layer, its service (from the guard skeleton) and its decision on a request.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use http::{Request, Response};
use tower_layer::Layer;

use super::builder::RateLimitBuilder;
use super::client_ip::{ClientIp, Network};
use super::fallback::{Fallback, Route};
use super::headers::{HeaderStyle, Report};
use super::key::KeyContext;
use super::limit::Compiled;
use super::observer::{RateLimitObserver, RateOutcome};
use super::plan::{MissingKey, Plan, PlanRef, StoreFailure};
use super::store::{Decision, Store, StoreError};
use crate::auth::{Principal, Tier};
use crate::core::{Answer, BoxFuture, RequestHead};
use crate::guard::{self, Guard, guarded_service};
use crate::metrics::Stopwatch;

/// An allow-list predicate ([`RateLimitBuilder::allow_if`]).
pub(super) type Predicate = Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>;

/// What the layer decided about a request: the skeleton's decision.
pub(super) type Next = guard::Decision<RateLimitLayer>;

/// The layer's configuration, shared by its clones and their services.
pub(super) struct Config {
    pub(super) limits: Box<[Compiled]>,
    pub(super) store: Arc<dyn Store>,
    pub(super) client_ip: ClientIp,
    pub(super) allow_networks: Vec<Network>,
    pub(super) allow_tiers: Vec<Tier>,
    pub(super) allow_if: Option<Predicate>,
    pub(super) shadow: bool,
    pub(super) headers: HeaderStyle,
    pub(super) missing: MissingKey,
    pub(super) failure: StoreFailure,
    pub(super) observer: Option<Arc<dyn RateLimitObserver>>,
    /// The memory fallback, under [`StoreFailure::Local`].
    pub(super) fallback: Option<Fallback>,
    /// Whether any allow-list is configured (else the bypass check is skipped).
    pub(super) has_allow_rules: bool,
    /// The second of the last store-failure log line (one per second at most).
    pub(super) last_failure_log: AtomicU64,
}

/// Limits requests per key against one or more [`Limit`](super::Limit)s; see the
/// [module docs](super).
///
/// Clones (and the services of every connection) share one store: the limit holds across
/// connections.
#[derive(Clone)]
pub struct RateLimitLayer {
    pub(super) config: Arc<Config>,
}

impl RateLimitLayer {
    /// Configures a layer: add at least one [`Limit`](super::Limit), then
    /// [`build`](RateLimitBuilder::build).
    pub fn builder() -> RateLimitBuilder {
        RateLimitBuilder::new()
    }
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.config.limits.iter().map(|l| &*l.name).collect();
        f.debug_struct("RateLimitLayer")
            .field("limits", &names)
            .field("shadow", &self.config.shadow)
            .field("headers", &self.config.headers)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            guard: self.clone(),
        }
    }
}

guarded_service! {
    /// The service of a [`RateLimitLayer`].
    service RateLimit<S> { guard: RateLimitLayer }
    /// The response future of [`RateLimit`].
    future ResponseFuture;
}

/// What a request that waited comes back with.
pub(crate) enum Resumed {
    /// A remote store's answer, the plan it was asked about, and where it was asked.
    Decided(Result<Decision, StoreError>, Plan, Route),
    /// A leaky bucket's turn came: the headers to report.
    Delayed(Option<Report>),
}

/// Waits for a remote store's answer on `plan` (the rare path: boxed).
fn deciding(
    pending: BoxFuture<Result<Decision, StoreError>>,
    plan: Plan,
    route: Route,
    watch: Stopwatch,
) -> Next {
    let wait: BoxFuture<Resumed> = Box::pin(async move {
        let result = pending.await;
        timed(watch, &result);
        Resumed::Decided(result, plan, route)
    });
    guard::Decision::Wait(wait)
}

/// The store-decision histogram, for answers (not failures).
fn timed(watch: Stopwatch, result: &Result<Decision, StoreError>) {
    if result.is_ok() {
        crate::metrics::store_decision("rate_limit", watch.elapsed());
    }
}

impl Guard for RateLimitLayer {
    /// The rate-limit headers for the response, as numbers until it is there.
    type State = Option<Report>;
    const ADDS_HEADERS: bool = true;
    type Wait = BoxFuture<Resumed>;
    type Resumed = Resumed;

    fn decide<B>(&self, req: &mut Request<B>) -> Next {
        let config = &*self.config;
        let principal = req.extensions().get::<Principal>();
        if config.has_allow_rules && config.bypass(&RequestHead::of(req), principal) {
            config.observe(&RequestHead::of(req), RateOutcome::Bypassed, None);
            return guard::Decision::Pass(None);
        }
        // One limit (the common case): its check is built on the stack, no plan is collected.
        if let [limit] = &*config.limits {
            let cx = KeyContext {
                head: RequestHead::of(req),
                client_ip: &config.client_ip,
                principal,
            };
            let Some((key, entry)) = config.prepare(0, limit, &cx) else {
                return guard::Decision::Pass(None);
            };
            let key = match key {
                Some(key) => key,
                None => match config.missing_key(limit, req) {
                    Ok(key) => key,
                    Err(res) => return guard::Decision::Answer(*res),
                },
            };
            let Some(check) = config.check(entry, &key) else {
                return guard::Decision::Pass(None);
            };
            let watch = Stopwatch::start();
            let (answer, route) = config.ask(std::slice::from_ref(&check));
            return match answer {
                Answer::Ready(result) => {
                    timed(watch, &result);
                    let plan = PlanRef {
                        entries: std::slice::from_ref(&entry),
                        keys: std::slice::from_ref(&key),
                    };
                    config.settle(req, plan, result, route)
                }
                Answer::Later(pending) => {
                    let plan = Plan {
                        entries: std::iter::once(entry).collect(),
                        keys: std::iter::once(key).collect(),
                    };
                    deciding(pending, plan, route, watch)
                }
            };
        }
        let plan = match config.plan(req, principal) {
            Ok(plan) if plan.entries.is_empty() => return guard::Decision::Pass(None),
            Ok(plan) => plan,
            Err(res) => return guard::Decision::Answer(*res),
        };
        let watch = Stopwatch::start();
        let (answer, route) = config.ask(&config.checks(plan.view()));
        match answer {
            Answer::Ready(result) => {
                timed(watch, &result);
                config.settle(req, plan.view(), result, route)
            }
            Answer::Later(pending) => deciding(pending, plan, route, watch),
        }
    }

    fn resume<B>(&self, req: &mut Request<B>, resumed: Resumed) -> Next {
        match resumed {
            Resumed::Decided(result, plan, route) => {
                self.config.settle(req, plan.view(), result, route)
            }
            Resumed::Delayed(report) => guard::Decision::Pass(report),
        }
    }

    fn respond<B>(report: Option<Report>, res: &mut Response<B>) {
        if let Some(report) = report {
            if let Some(by) = report.by {
                res.extensions_mut().insert(by);
            }
            report.apply(res.headers_mut());
        }
    }
}
