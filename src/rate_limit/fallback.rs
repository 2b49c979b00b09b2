//! [`StoreFailure::Local`](super::StoreFailure::Local): the same limits in memory while the
//! store is down or slow, and back to the store by itself when it answers again.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use smallvec::SmallVec;

use super::layer::Config;
use super::memory::MemoryStore;
use super::store::{Check, Decision, Pending, StoreError, StoreErrorKind};
use crate::core::{Answer, Clock, SharedClock};

/// The first probe of the store, this long after it failed (µs); each failed probe doubles
/// the wait, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: u64 = 100_000;
/// The longest wait between two probes (µs).
const MAX_BACKOFF: u64 = 5_000_000;

/// Which store decided a request, under [`StoreFailure::Local`](super::StoreFailure::Local):
/// on the request's extensions (for the handler) and the response's (for outer layers and
/// logs).
///
/// Only a layer with the `Local` policy sets it: under the others, the layer's store decides
/// every request it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecidedBy {
    /// The layer's store (Redis, or a hybrid store's lease of it).
    Remote,
    /// The in-process fallback: the store failed, or has not answered a probe since.
    Local,
}

/// Where a request's checks go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The layer's store.
    Remote,
    /// The layer's store, as the probe that may end a fallback.
    Probe,
    /// The in-memory fallback.
    Local,
}

impl Route {
    pub(super) fn decided_by(self) -> DecidedBy {
        match self {
            Self::Remote | Self::Probe => DecidedBy::Remote,
            Self::Local => DecidedBy::Local,
        }
    }
}

/// The fallback of a layer with the `Local` policy: a memory store and when to probe.
pub(super) struct Fallback {
    memory: MemoryStore,
    /// Each limit is divided by this in memory: this instance's share.
    instances: u32,
    /// 0 while the store decides; else, deciding in memory, the time (µs) of the next probe.
    probe_at: AtomicU64,
    /// The wait before the next probe after this one, µs.
    backoff: AtomicU64,
    clock: SharedClock,
}

impl Fallback {
    /// How many instances share each limit: each decides on `1 / instances` of it in memory.
    pub(super) fn instances(&self) -> u32 {
        self.instances
    }

    pub(super) fn new(instances: u32, clock: SharedClock) -> Self {
        Self {
            memory: MemoryStore::builder()
                .shared_clock(Arc::clone(&clock))
                .build(),
            instances: instances.max(1),
            probe_at: AtomicU64::new(0),
            backoff: AtomicU64::new(FIRST_BACKOFF),
            clock,
        }
    }

    /// Where the next request goes: the store, unless it failed; then memory, except one
    /// request per backoff period, the probe (one per instance: no thundering herd).
    fn route(&self) -> Route {
        let at = self.probe_at.load(Relaxed);
        if at == 0 {
            return Route::Remote;
        }
        let now = self.clock.now();
        if now < at {
            return Route::Local;
        }
        // The next probe is scheduled as this one starts: a probe whose request is dropped
        // before the store answers does not stop the probing.
        let next = now.saturating_add(self.backoff.load(Relaxed));
        if self
            .probe_at
            .compare_exchange(at, next, Relaxed, Relaxed)
            .is_ok()
        {
            Route::Probe
        } else {
            Route::Local
        }
    }

    /// Decides in memory, each limit divided by the instance count.
    pub(super) fn decide(&self, checks: &[Check<'_>]) -> Result<Decision, StoreError> {
        let shared: SmallVec<[Check<'_>; 2]> = checks
            .iter()
            .map(|c| Check {
                rule: c.rule.share(self.instances),
                ..*c
            })
            .collect();
        match super::store::Store::decide(&self.memory, &shared) {
            Answer::Ready(result) => result,
            Answer::Later(_) => Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "the memory store answered later",
            )),
        }
    }

    /// The store failed a request sent by `route`.
    fn failed(&self, route: Route, error: &dyn fmt::Display) {
        let now = self.clock.now();
        match route {
            Route::Remote => {
                if self
                    .probe_at
                    .compare_exchange(0, now.saturating_add(FIRST_BACKOFF), Relaxed, Relaxed)
                    .is_ok()
                {
                    self.backoff.store(FIRST_BACKOFF, Relaxed);
                    tracing::warn!(
                        target: "tower_shield::rate_limit",
                        error = %error,
                        instances = self.instances,
                        "rate-limit store failed: deciding in memory until it answers again"
                    );
                    crate::metrics::store_fallback("local");
                }
            }
            Route::Probe => {
                let backoff = self
                    .backoff
                    .load(Relaxed)
                    .saturating_mul(2)
                    .min(MAX_BACKOFF);
                self.backoff.store(backoff, Relaxed);
                // Up to a quarter more, at random: instances that failed together do not
                // probe together.
                let jitter = rand::random::<u64>() % (backoff / 4 + 1);
                self.probe_at
                    .store(now.saturating_add(backoff + jitter).max(1), Relaxed);
                tracing::debug!(
                    target: "tower_shield::rate_limit",
                    error = %error,
                    next_probe_ms = (backoff + jitter) / 1000,
                    "rate-limit store still failing"
                );
            }
            Route::Local => {}
        }
    }

    /// The store answered the probe: it decides again.
    fn recovered(&self) {
        if self.probe_at.swap(0, Relaxed) != 0 {
            self.backoff.store(FIRST_BACKOFF, Relaxed);
            tracing::warn!(
                target: "tower_shield::rate_limit",
                "rate-limit store answers again: deciding there"
            );
            crate::metrics::store_fallback("remote");
        }
    }
}

impl Config {
    /// Asks the store, or the memory fallback while the store is failing.
    pub(super) fn ask(&self, checks: &[Check<'_>]) -> (Pending, Route) {
        let Some(fallback) = &self.fallback else {
            return (self.store.decide(checks), Route::Remote);
        };
        match fallback.route() {
            Route::Local => (Answer::Ready(fallback.decide(checks)), Route::Local),
            route => (self.store.decide(checks), route),
        }
    }

    /// The store answered a request sent by `route`.
    pub(super) fn store_answered(&self, route: Route) {
        if let (Some(fallback), Route::Probe) = (&self.fallback, route) {
            fallback.recovered();
        }
    }

    /// The store failed a request sent by `route`: the fallback, if the layer has one.
    pub(super) fn fall_back(&self, route: Route, error: &dyn fmt::Display) -> Option<&Fallback> {
        let fallback = self.fallback.as_ref()?;
        fallback.failed(route, error);
        Some(fallback)
    }
}
