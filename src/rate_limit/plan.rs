//! What a request is checked against (the limits that apply, their keys, the checks sent to
//! the store) and what the store's answer means for it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use smallvec::SmallVec;

use super::algorithm::MICROS_PER_SEC;
use super::error::{KeyMissing, RateLimitUnavailable, RateLimited};
use super::fallback::{DecidedBy, Fallback, Route};
use super::headers::Report;
use super::key::{KeyBuf, KeyContext};
use super::layer::{Config, Next, Resumed};
use super::limit::{Compiled, Variant};
use super::observer::RateOutcome;
use super::store::{Check, Decision, StoreError};
use crate::auth::{AuthError, Principal};
use crate::core::{BoxFuture, RequestHead};
use crate::guard;
use crate::problem::{internal_error, rejection_response};

/// The key of every request whose own key is missing, under [`MissingKey::Shared`].
const SHARED_KEY: &[u8] = b"\x04shared";

/// What the layer does with a request whose key cannot be found: no peer address for
/// [`KeyBy::ip`](super::KeyBy::ip), no principal for [`KeyBy::subject`](super::KeyBy::subject),
/// no validated key for [`KeyBy::api_key`](super::KeyBy::api_key) (a key the client made up
/// included), no known route template for [`KeyBy::route`](super::KeyBy::route) (a limiter
/// outside the `Router`, a path that no declared template matches), a missing header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MissingKey {
    /// Answer `500` (a [`KeyMissing`]) and log an error: the server is misconfigured (for
    /// example axum served without `into_make_service_with_connect_info`). The default.
    #[default]
    InternalError,
    /// Answer `401` (an [`AuthError`] with the `AuthLayer`'s challenges): for limits keyed by
    /// a principal that only authenticated requests should reach.
    Unauthorized,
    /// Count every such request on one shared key of the limit.
    Shared,
}

/// What the layer does when its store cannot decide (a remote store unreachable or slow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Let the request through unchecked, with an [`Unchecked`] extension on the request.
    /// The default: an outage of the store is not an outage of the API.
    #[default]
    Open,
    /// Answer `503` (a [`RateLimitUnavailable`]).
    Closed,
    /// Decide with the same limits in this process's memory, each divided by `instances`
    /// (this instance's share of a limit that `instances` instances enforced together; 1 keeps
    /// the whole limit). While the store fails, one request per backoff period (100 ms at
    /// first, doubled on each failure up to 5 s, with jitter) probes it, and the others are
    /// decided in memory; when a probe is answered, the store decides again. A WARN event
    /// marks each transition, and [`DecidedBy`](super::DecidedBy) says which decided a request.
    ///
    /// Counts do not move between the two: the memory store starts from its own counts (empty
    /// at the first outage), and the store from its own when it is back.
    Local {
        /// Instances sharing the limits (at least 1).
        instances: u32,
    },
}

/// On a request that went through unchecked because the store failed and
/// the layer [fails open](StoreFailure::Open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unchecked;

/// The limits (and their quota variants) that apply to a request, and its keys.
pub(crate) struct Plan {
    /// (limit, variant, cost) per check.
    pub(super) entries: SmallVec<[(u32, u32, u32); 2]>,
    pub(super) keys: SmallVec<[KeyBuf; 1]>,
}

/// A view of a [`Plan`], or of the one check of a single-limit layer built on the stack.
#[derive(Clone, Copy)]
pub(super) struct PlanRef<'a> {
    pub(super) entries: &'a [(u32, u32, u32)],
    pub(super) keys: &'a [KeyBuf],
}

impl Plan {
    pub(super) fn view(&self) -> PlanRef<'_> {
        PlanRef {
            entries: &self.entries,
            keys: &self.keys,
        }
    }
}

/// The limit that decides what the client is told, and its standing.
#[derive(Clone, Copy)]
pub(super) struct Binding<'a> {
    pub(super) index: usize,
    pub(super) name: &'a str,
    pub(super) limit: &'a Compiled,
    pub(super) variant: &'a Variant,
    pub(super) allowed: bool,
    /// The limit the store decided with: the configured one, or this instance's share of it
    /// when the local fallback decided.
    pub(super) decided_limit: u64,
    pub(super) remaining: u64,
    pub(super) reset_after: u64,
    pub(super) retry_after: Option<u64>,
}

/// An answer of the layer's own, boxed: rare, and large enough to slow every move of a
/// `Result` on the common path.
type Answered = Box<Response<Bytes>>;

impl Config {
    /// Whether an allow-list lets the request through uncounted.
    pub(super) fn bypass(&self, head: &RequestHead<'_>, principal: Option<&Principal>) -> bool {
        if let Some(p) = principal
            && self.allow_tiers.contains(p.tier())
        {
            return true;
        }
        if !self.allow_networks.is_empty()
            // The client's own address, not grouped by the prefixes keys use: a single
            // address listed is that host, not its /64.
            && let Some(ip) = self.client_ip.address(head.extensions(), head.headers())
            && self.allow_networks.iter().any(|n| n.contains(ip))
        {
            return true;
        }
        self.allow_if.as_ref().is_some_and(|f| f(head))
    }

    /// The key and the (limit, variant, cost) entry of limit `index` for a request, if the
    /// limit applies to it; the key is `None` when it cannot be found.
    pub(super) fn prepare(
        &self,
        index: usize,
        limit: &Compiled,
        cx: &KeyContext<'_>,
    ) -> Option<(Option<KeyBuf>, (u32, u32, u32))> {
        if !limit.applies(&cx.head) {
            return None;
        }
        let variant = limit.variant(cx.principal.map(Principal::tier));
        let mut key = KeyBuf::new();
        let found = limit.key.write(cx, &mut key);
        // At most MAX_LIMITS limits, and a variant per tier: both fit a u32.
        let entry = (
            u32::try_from(index).unwrap_or(u32::MAX),
            u32::try_from(variant).unwrap_or(u32::MAX),
            limit.cost(&cx.head),
        );
        Some((found.then_some(key), entry))
    }

    /// Applies the [`MissingKey`] policy: the shared key, or the answer.
    pub(super) fn missing_key<B>(
        &self,
        limit: &Compiled,
        req: &Request<B>,
    ) -> Result<KeyBuf, Answered> {
        self.observe(&RequestHead::of(req), RateOutcome::KeyMissing, None);
        match self.missing {
            MissingKey::Shared => Ok(KeyBuf::from_slice(SHARED_KEY)),
            MissingKey::InternalError => {
                tracing::error!(
                    target: "tower_shield::rate_limit",
                    limit = &*limit.name,
                    key = ?limit.key,
                    "rate-limit key missing from the request (is the peer address \
                     or the principal there?)"
                );
                Err(Box::new(rejection_response(
                    req,
                    KeyMissing {
                        limit: Arc::clone(&limit.name),
                    },
                )))
            }
            MissingKey::Unauthorized => Err(Box::new(rejection_response(
                req,
                AuthError::anonymous(req.extensions()),
            ))),
        }
    }

    /// The limits that apply to `req` and their keys, or the answer when a key is missing.
    pub(super) fn plan<B>(
        &self,
        req: &Request<B>,
        principal: Option<&Principal>,
    ) -> Result<Plan, Answered> {
        let cx = KeyContext {
            head: RequestHead::of(req),
            client_ip: &self.client_ip,
            principal,
        };
        let mut plan = Plan {
            entries: SmallVec::new(),
            keys: SmallVec::new(),
        };
        for (i, limit) in self.limits.iter().enumerate() {
            let Some((key, entry)) = self.prepare(i, limit, &cx) else {
                continue;
            };
            let key = match key {
                Some(key) => key,
                None => self.missing_key(limit, req)?,
            };
            plan.entries.push(entry);
            plan.keys.push(key);
        }
        Ok(plan)
    }

    pub(super) fn entry(&self, l: u32, v: u32) -> Option<(&Compiled, &Variant)> {
        let limit = self.limits.get(l as usize)?;
        Some((limit, limit.variants.get(v as usize)?))
    }

    pub(super) fn check<'a>(
        &'a self,
        (l, v, cost): (u32, u32, u32),
        key: &'a [u8],
    ) -> Option<Check<'a>> {
        let (_, variant) = self.entry(l, v)?;
        Some(Check {
            scope: &variant.scope,
            key,
            rule: variant.rule,
            cost,
        })
    }

    pub(super) fn checks<'a>(&'a self, plan: PlanRef<'a>) -> SmallVec<[Check<'a>; 2]> {
        plan.entries
            .iter()
            .zip(plan.keys)
            .filter_map(|(&entry, key)| self.check(entry, key))
            .collect()
    }

    /// Turns the store's answer into what to do with the request.
    pub(super) fn settle<B>(
        &self,
        req: &mut Request<B>,
        plan: PlanRef<'_>,
        result: Result<Decision, StoreError>,
        route: Route,
    ) -> Next {
        let decision = match result {
            Ok(d) if d.verdicts.len() == plan.entries.len() => d,
            Ok(_) => {
                return self.store_failed(
                    req,
                    plan,
                    route,
                    &"the store answered the wrong number of checks",
                    "protocol",
                );
            }
            Err(e) => {
                let kind = crate::metrics::store_error_kind(e.kind());
                return self.store_failed(req, plan, route, &e, kind);
            }
        };
        self.store_answered(route);
        let Some(binding) = self.binding(plan, &decision) else {
            return guard::Decision::Pass(None);
        };
        // Decided in memory: on this instance's share of each limit.
        let share = self
            .fallback
            .as_ref()
            .filter(|_| route.decided_by() == DecidedBy::Local)
            .map(Fallback::instances);
        let mut report = self.report(plan, &decision, &binding, share);
        if self.fallback.is_some() {
            let by = route.decided_by();
            req.extensions_mut().insert(by);
            report = Report::decided_by(report, by);
        }
        let head = RequestHead::of(req);
        if decision.allowed() {
            self.observe(&head, RateOutcome::Allowed, Some(binding));
            let delay = decision
                .verdicts
                .iter()
                .map(|v| v.status.delay)
                .max()
                .unwrap_or(0);
            // Shadow mode never acts on a decision: a leaky bucket's wait is not served
            // either (it would slow the requests within the limit, and only those).
            return if delay > 0 && !self.shadow {
                delaying(req, delay, report)
            } else {
                guard::Decision::Pass(report)
            };
        }
        let key = plan.keys.get(binding.index).map_or(&[][..], |k| &k[..]);
        let retry_after = binding.retry_after.map(|us| us.div_ceil(MICROS_PER_SEC));
        self.log_limited(req, &binding, key, retry_after);
        if self.shadow {
            self.observe(&head, RateOutcome::ShadowLimited, Some(binding));
            return guard::Decision::Pass(report);
        }
        self.observe(&head, RateOutcome::Limited, Some(binding));
        let rejection = RateLimited {
            limit: Arc::clone(&binding.limit.name),
            quota: quota_text(&binding),
            retry_after,
        };
        let mut res = rejection_response(req, rejection);
        if let Some(report) = report {
            if let Some(by) = report.by {
                res.extensions_mut().insert(by);
            }
            report.apply(res.headers_mut());
        }
        guard::Decision::Answer(res)
    }

    fn store_failed<B>(
        &self,
        req: &mut Request<B>,
        plan: PlanRef<'_>,
        route: Route,
        error: &dyn fmt::Display,
        kind: &'static str,
    ) -> Next {
        crate::metrics::store_failure("rate_limit", kind);
        if route != Route::Local
            && let Some(fallback) = self.fall_back(route, error)
        {
            let result = fallback.decide(&self.checks(plan));
            return self.settle(req, plan, result, Route::Local);
        }
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_failure_log.swap(second, Ordering::Relaxed) != second {
            tracing::warn!(
                target: "tower_shield::rate_limit",
                error = %error,
                policy = ?self.failure,
                "rate-limit store failed (logged at most once a second)"
            );
            let reason = error.to_string();
            crate::core::event::emit(
                crate::core::event::Kind::StoreFailure,
                &RequestHead::of(req),
                &crate::core::event::Fields {
                    error_type: Some(kind),
                    limit: Some("rate_limit"),
                    reason: Some(&reason),
                    status: (self.failure == StoreFailure::Closed).then_some(503),
                    ..Default::default()
                },
            );
        }
        self.observe(&RequestHead::of(req), RateOutcome::StoreFailed, None);
        match self.failure {
            StoreFailure::Open => {
                req.extensions_mut().insert(Unchecked);
                guard::Decision::Pass(None)
            }
            // `Local` only when memory failed too (it never does): as `Closed`.
            StoreFailure::Closed | StoreFailure::Local { .. } => {
                guard::Decision::Answer(rejection_response(req, RateLimitUnavailable))
            }
        }
    }

    /// The limit that decides what the client is told: the refusing one with the longest
    /// wait, else the one with the fewest requests left.
    pub(super) fn binding<'a>(
        &'a self,
        plan: PlanRef<'_>,
        decision: &Decision,
    ) -> Option<Binding<'a>> {
        let mut best: Option<Binding<'a>> = None;
        for (index, (verdict, &(l, v, _))) in decision.verdicts.iter().zip(plan.entries).enumerate()
        {
            let Some((limit, variant)) = self.entry(l, v) else {
                continue;
            };
            let s = verdict.status;
            let candidate = Binding {
                index,
                name: &limit.name,
                limit,
                variant,
                allowed: verdict.allowed,
                decided_limit: s.limit,
                remaining: s.remaining,
                reset_after: s.reset_after,
                retry_after: if verdict.allowed { None } else { s.retry_after },
            };
            let better = match &best {
                None => true,
                Some(b) => match (candidate.allowed, b.allowed) {
                    (false, true) => true,
                    (true, false) => false,
                    // Both refuse: the longer wait (none at all is the longest).
                    (false, false) => match (candidate.retry_after, b.retry_after) {
                        (None, Some(_)) => true,
                        (Some(c), Some(o)) => c > o,
                        _ => false,
                    },
                    (true, true) => {
                        (
                            candidate.remaining,
                            std::cmp::Reverse(candidate.reset_after),
                        ) < (b.remaining, std::cmp::Reverse(b.reset_after))
                    }
                },
            };
            if better {
                best = Some(candidate);
            }
        }
        best
    }
}

/// Waits `delay` microseconds for the request's turn in a leaky bucket. The wait needs tokio's
/// timer: without a tokio runtime the request is answered `500` (and the misconfiguration
/// logged) rather than panicking in `tokio::time::sleep`.
fn delaying<B>(req: &Request<B>, delay: u64, report: Option<Report>) -> Next {
    if tokio::runtime::Handle::try_current().is_err() {
        tracing::error!(
            target: "tower_shield::rate_limit",
            "a leaky-bucket limit needs a tokio runtime to delay requests"
        );
        return guard::Decision::Answer(rejection_response(req, internal_error()));
    }
    // Made now, within the runtime; boxed: the rare path.
    let sleep = tokio::time::sleep(Duration::from_micros(delay));
    let wait: BoxFuture<Resumed> = Box::pin(async move {
        sleep.await;
        Resumed::Delayed(report)
    });
    guard::Decision::Wait(wait)
}

/// The quota a refusal's detail names: the configured one, or under the local fallback this
/// instance's share, in the words of `RateLimit-Policy` (`333 per 3600s`... `per hour`).
fn quota_text(binding: &Binding<'_>) -> Arc<str> {
    let variant = binding.variant;
    if binding.decided_limit == variant.rule.limit() {
        return Arc::clone(&variant.quota_text);
    }
    let per = match variant.window {
        1 => "second".to_owned(),
        60 => "minute".to_owned(),
        3600 => "hour".to_owned(),
        86_400 => "day".to_owned(),
        secs => format!("{secs}s"),
    };
    format!("{} per {per}", binding.decided_limit).into()
}
