//! What the layer tells about its decisions: a [`RateLimitObserver`] sees every one, and a
//! refused request logs an INFO event.

use std::time::Duration;

use http::{Method, Request};

use super::key::KeyBy;
use super::layer::Config;
use super::plan::Binding;
use crate::auth::Principal;
use crate::core::RequestHead;
use crate::core::event::{self, Fields, Kind};
use crate::problem::ProblemType;

/// What happened to a request, for a [`RateLimitObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateOutcome {
    /// Admitted.
    Allowed,
    /// Refused with `429`.
    Limited,
    /// Over its limit, but let through: the layer is in [shadow mode](super::RateLimitBuilder::shadow).
    ShadowLimited,
    /// Allow-listed: not counted.
    Bypassed,
    /// Its key could not be found.
    KeyMissing,
    /// The store failed.
    StoreFailed,
}

impl RateOutcome {
    /// The `outcome` label of the metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            RateOutcome::Allowed => "allowed",
            RateOutcome::Limited => "limited",
            RateOutcome::ShadowLimited => "shadow_limited",
            RateOutcome::Bypassed => "bypassed",
            RateOutcome::KeyMissing => "key_missing",
            RateOutcome::StoreFailed => "store_failed",
        }
    }
}

/// One decision of the layer, as a [`RateLimitObserver`] sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RateLimitEvent<'a> {
    /// What happened.
    pub outcome: RateOutcome,
    /// The limit closest to refusing (or that refused), when one was checked.
    pub limit: Option<&'a str>,
    /// Its remaining requests.
    pub remaining: Option<u64>,
    /// When refused: how long until a retry is admitted.
    pub retry_after: Option<Duration>,
    /// The request's method.
    pub method: &'a Method,
    /// The request's path.
    pub path: &'a str,
}

/// Sees every decision: for metrics (counters of allowed and limited requests per limit).
///
/// Any `Fn(&RateLimitEvent<'_>)` is an observer. Keep it cheap: it runs on every request.
pub trait RateLimitObserver: Send + Sync + 'static {
    /// Called once per request that reached the layer.
    fn observe(&self, event: &RateLimitEvent<'_>);
}

impl<F> RateLimitObserver for F
where
    F: Fn(&RateLimitEvent<'_>) + Send + Sync + 'static,
{
    fn observe(&self, event: &RateLimitEvent<'_>) {
        self(event)
    }
}

impl Config {
    /// Tells the observer, if there is one.
    pub(super) fn observe(
        &self,
        head: &RequestHead<'_>,
        outcome: RateOutcome,
        binding: Option<Binding<'_>>,
    ) {
        crate::metrics::rate_limit(binding.map(|b| &b.limit.name), outcome.label());
        if let Some(observer) = &self.observer {
            observer.observe(&RateLimitEvent {
                outcome,
                limit: binding.map(|b| b.name),
                remaining: binding.map(|b| b.remaining),
                retry_after: binding.and_then(|b| b.retry_after.map(Duration::from_micros)),
                method: head.method(),
                path: head.uri().path(),
            });
        }
    }

    /// The INFO event of a refused request (logged in shadow mode too): the limit, the key,
    /// the seconds to wait, and the request id, as a [security event](crate::core::event).
    pub(super) fn log_limited<B>(
        &self,
        req: &Request<B>,
        binding: &Binding<'_>,
        key: &[u8],
        retry_after: Option<u64>,
    ) {
        let key = KeyBy::display(key);
        event::emit(
            Kind::RateLimited,
            &RequestHead::of(req),
            &Fields {
                status: (!self.shadow).then_some(429),
                // In shadow mode the request goes through: no failure to type (the conventions
                // leave `error.type` unset on success); the event and problem still say what
                // would have happened.
                error_type: (!self.shadow).then_some("rate_limited"),
                problem: Some(ProblemType::RateLimited.slug()),
                user: req
                    .extensions()
                    .get::<Principal>()
                    .filter(|p| !p.is_anonymous())
                    .map(Principal::subject),
                limit: Some(binding.name),
                retry_after: Some(retry_after.unwrap_or_default()),
                key: Some(&key),
                client: self.client_ip.resolve(req.extensions(), req.headers()),
                ..Fields::default()
            },
        );
    }
}
