//! The layer, its builder, its service and its response future.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use smallvec::SmallVec;
use tower_layer::Layer;
use tower_service::Service;

use super::algorithm::MICROS_PER_SEC;
use super::client_ip::{ClientIp, Network};
use super::error::{KeyMissing, RateLimitError, RateLimitUnavailable, RateLimited};
use super::key::{KeyBuf, KeyBy, KeyContext};
use super::limit::{Compiled, Limit, Variant};
use super::memory::MemoryStore;
use super::store::{Check, Decision, Store, StoreError};
use crate::auth::{Answer, AuthError, BoxFuture, Principal, RequestHead, Tier};
use crate::body::ResponseBody;
use crate::problem::reject;
use crate::request_id::RequestId;

/// The most limits one layer holds.
const MAX_LIMITS: usize = 16;

/// The key of every request whose own key is missing, under [`MissingKey::Shared`].
const SHARED_KEY: &[u8] = b"\x04shared";

/// Which rate-limit headers the layer writes on every response it lets through and on its
/// `429`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderStyle {
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix time, seconds)
    /// of the limit closest to refusing. The default.
    #[default]
    XRateLimit,
    /// The IETF fields of [draft-ietf-httpapi-ratelimit-headers]: `RateLimit-Policy`
    /// (`"hourly";q=1000;w=3600`) and `RateLimit` (`"hourly";r=998;t=7`), one item per limit
    /// that applied.
    ///
    /// [draft-ietf-httpapi-ratelimit-headers]: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/
    Ietf,
    /// Both.
    Both,
    /// None (a `429` still carries `Retry-After`).
    None,
}

/// What the layer does with a request whose key cannot be found: no peer address for
/// [`KeyBy::ip`], no principal for [`KeyBy::subject`], a missing header.
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
}

/// On a request that went through unchecked because the store failed and
/// the layer [fails open](StoreFailure::Open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unchecked;

/// What happened to a request, for a [`RateLimitObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateOutcome {
    /// Admitted.
    Allowed,
    /// Refused with `429`.
    Limited,
    /// Over its limit, but let through: the layer is in [shadow mode](RateLimitBuilder::shadow).
    ShadowLimited,
    /// Allow-listed: not counted.
    Bypassed,
    /// Its key could not be found.
    KeyMissing,
    /// The store failed.
    StoreFailed,
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

type Predicate = Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>;

struct Config {
    limits: Box<[Compiled]>,
    store: Arc<dyn Store>,
    client_ip: ClientIp,
    allow_networks: Vec<Network>,
    allow_tiers: Vec<Tier>,
    allow_if: Option<Predicate>,
    shadow: bool,
    headers: HeaderStyle,
    missing: MissingKey,
    failure: StoreFailure,
    observer: Option<Arc<dyn RateLimitObserver>>,
    /// Whether any allow-list is configured (else the bypass check is skipped).
    has_allow_rules: bool,
    /// The second of the last store-failure log line (one per second at most).
    last_failure_log: AtomicU64,
}

/// Limits requests per key against one or more [`Limit`]s; see the
/// [module docs](super).
///
/// Clones (and the services of every connection) share one store: the limit holds across
/// connections.
#[derive(Clone)]
pub struct RateLimitLayer {
    config: Arc<Config>,
}

impl RateLimitLayer {
    /// A layer with one limit and the defaults (in-memory store, socket peer addresses,
    /// `X-RateLimit-*` headers).
    ///
    /// # Errors
    ///
    /// When the limit is invalid ([`RateLimitError`]).
    pub fn new(limit: Limit) -> Result<Self, RateLimitError> {
        Self::builder().limit(limit).build()
    }

    /// Configures a layer.
    pub fn builder() -> RateLimitBuilder {
        RateLimitBuilder {
            limits: Vec::new(),
            store: None,
            client_ip: ClientIp::peer(),
            allow_networks: Vec::new(),
            allow_tiers: Vec::new(),
            allow_if: None,
            shadow: false,
            headers: HeaderStyle::default(),
            missing: MissingKey::default(),
            failure: StoreFailure::default(),
            observer: None,
        }
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

/// Configures a [`RateLimitLayer`].
#[must_use]
pub struct RateLimitBuilder {
    limits: Vec<Limit>,
    store: Option<Arc<dyn Store>>,
    client_ip: ClientIp,
    allow_networks: Vec<String>,
    allow_tiers: Vec<Tier>,
    allow_if: Option<Predicate>,
    shadow: bool,
    headers: HeaderStyle,
    missing: MissingKey,
    failure: StoreFailure,
    observer: Option<Arc<dyn RateLimitObserver>>,
}

impl RateLimitBuilder {
    /// Adds a limit. A request is checked against every limit that applies to it, as one
    /// step: it is admitted only if all admit it, and then it is counted by all; the tightest
    /// decides.
    pub fn limit(mut self, limit: Limit) -> Self {
        self.limits.push(limit);
        self
    }

    /// Keeps counters in `store` (default: a [`MemoryStore`] with its defaults).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Finds client IPs with `client_ip` (default [`ClientIp::peer`]: the socket peer, no
    /// forwarding header trusted).
    pub fn client_ip(mut self, client_ip: ClientIp) -> Self {
        self.client_ip = client_ip;
        self
    }

    /// Never limits clients in these networks (`"10.0.0.0/8"`, `"2001:db8::/32"`, a single
    /// address). The client IP is found as for [`KeyBy::ip`], grouped by the
    /// [`ClientIp`]'s prefixes.
    pub fn allow_networks<I, S>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allow_networks
            .extend(networks.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Never limits principals of `tier`.
    pub fn allow_tier(mut self, tier: Tier) -> Self {
        self.allow_tiers.push(tier);
        self
    }

    /// Never limits requests for which `f` returns `true`.
    pub fn allow_if<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> bool + Send + Sync + 'static,
    {
        self.allow_if = Some(Arc::new(f));
        self
    }

    /// Shadow (dry-run) mode: count, report (headers, logs, observer) but never refuse. For
    /// trying limits on real traffic before enforcing them.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Which headers to write (default [`HeaderStyle::XRateLimit`]).
    pub fn headers(mut self, headers: HeaderStyle) -> Self {
        self.headers = headers;
        self
    }

    /// What to do when a request's key is missing (default [`MissingKey::InternalError`]).
    pub fn on_missing_key(mut self, missing: MissingKey) -> Self {
        self.missing = missing;
        self
    }

    /// What to do when the store fails (default [`StoreFailure::Open`]).
    pub fn on_store_failure(mut self, failure: StoreFailure) -> Self {
        self.failure = failure;
        self
    }

    /// Reports every decision to `observer`.
    pub fn observer(mut self, observer: impl RateLimitObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// No limit or more than 16, an invalid or duplicate name, a quota that does not fit its
    /// algorithm, an allow-listed network that does not parse.
    pub fn build(self) -> Result<RateLimitLayer, RateLimitError> {
        if self.limits.is_empty() {
            return Err(RateLimitError::NoLimits);
        }
        if self.limits.len() > MAX_LIMITS {
            return Err(RateLimitError::TooManyLimits);
        }
        let mut limits = Vec::with_capacity(self.limits.len());
        for limit in self.limits {
            let compiled = limit.compile()?;
            if limits.iter().any(|l: &Compiled| l.name == compiled.name) {
                return Err(RateLimitError::DuplicateName {
                    name: compiled.name.to_string(),
                });
            }
            limits.push(compiled);
        }
        let allow_networks = self
            .allow_networks
            .iter()
            .map(|n| {
                Network::parse(n).map_err(|_| RateLimitError::InvalidNetwork { value: n.clone() })
            })
            .collect::<Result<_, _>>()?;
        let has_allow_rules = !self.allow_networks.is_empty()
            || !self.allow_tiers.is_empty()
            || self.allow_if.is_some();
        Ok(RateLimitLayer {
            config: Arc::new(Config {
                has_allow_rules,
                limits: limits.into(),
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                client_ip: self.client_ip,
                allow_networks,
                allow_tiers: self.allow_tiers,
                allow_if: self.allow_if,
                shadow: self.shadow,
                headers: self.headers,
                missing: self.missing,
                failure: self.failure,
                observer: self.observer,
                last_failure_log: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for RateLimitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("limits", &self.limits)
            .field("shadow", &self.shadow)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of a [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The limits (and their quota variants) that apply to a request, and its keys.
struct Plan {
    /// (limit, variant, cost) per check.
    entries: SmallVec<[(u32, u32, u32); 2]>,
    keys: SmallVec<[KeyBuf; 1]>,
}

/// A view of a [`Plan`], or of the one check of a single-limit layer built on the stack.
#[derive(Clone, Copy)]
struct PlanRef<'a> {
    entries: &'a [(u32, u32, u32)],
    keys: &'a [KeyBuf],
}

impl Plan {
    fn view(&self) -> PlanRef<'_> {
        PlanRef {
            entries: &self.entries,
            keys: &self.keys,
        }
    }
}

/// The rate-limit headers of a response, kept as numbers until the response is there.
struct Report {
    /// `X-RateLimit-Limit` (built once per limit), remaining, reset (Unix seconds).
    x: Option<(HeaderValue, u64, u64)>,
    /// `RateLimit-Policy` and `RateLimit`.
    ietf: Option<Box<(HeaderValue, HeaderValue)>>,
}

impl Report {
    fn apply(self, headers: &mut http::HeaderMap) {
        use crate::core::util::set_header;
        if let Some((limit, remaining, reset)) = self.x {
            set_header(headers, X_LIMIT, limit);
            set_header(headers, X_REMAINING, HeaderValue::from(remaining));
            set_header(headers, X_RESET, HeaderValue::from(reset));
        }
        if let Some(ietf) = self.ietf {
            let (policy, state) = *ietf;
            set_header(headers, RATELIMIT_POLICY, policy);
            set_header(headers, RATELIMIT, state);
        }
    }
}

/// What to do with a request once decided.
enum Next<ResBody> {
    Call(Option<Report>),
    Delay(u64, Option<Report>),
    /// Boxed: rare, and large enough to slow every move of `Next`.
    Reject(Box<Response<ResponseBody<ResBody>>>),
}

impl Config {
    fn observe(&self, head: &RequestHead<'_>, outcome: RateOutcome, binding: Option<Binding<'_>>) {
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

    fn bypass(&self, head: &RequestHead<'_>, principal: Option<&Principal>) -> bool {
        if let Some(p) = principal {
            if self.allow_tiers.contains(p.tier()) {
                return true;
            }
        }
        if !self.allow_networks.is_empty() {
            if let Some(ip) = self.client_ip.resolve(head.extensions(), head.headers()) {
                if self.allow_networks.iter().any(|n| n.contains(ip)) {
                    return true;
                }
            }
        }
        self.allow_if.as_ref().is_some_and(|f| f(head))
    }

    /// The key and the (limit, variant, cost) entry of limit `index` for a request, if the
    /// limit applies to it; the key is `None` when it cannot be found.
    fn prepare(
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
    fn missing_key<ReqBody, ResBody>(
        &self,
        limit: &Compiled,
        req: &Request<ReqBody>,
    ) -> Result<KeyBuf, Box<Response<ResponseBody<ResBody>>>> {
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
                Err(Box::new(reject(
                    req,
                    KeyMissing {
                        limit: Arc::clone(&limit.name),
                    },
                )))
            }
            MissingKey::Unauthorized => Err(Box::new(reject(
                req,
                AuthError::anonymous(req.extensions()),
            ))),
        }
    }

    /// The limits that apply to `req` and their keys, or the answer when a key is missing.
    fn plan<ReqBody, ResBody>(
        &self,
        req: &Request<ReqBody>,
        principal: Option<&Principal>,
    ) -> Result<Plan, Box<Response<ResponseBody<ResBody>>>> {
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

    fn entry(&self, l: u32, v: u32) -> Option<(&Compiled, &Variant)> {
        let limit = self.limits.get(l as usize)?;
        Some((limit, limit.variants.get(v as usize)?))
    }

    fn check<'a>(&'a self, (l, v, cost): (u32, u32, u32), key: &'a [u8]) -> Option<Check<'a>> {
        let (_, variant) = self.entry(l, v)?;
        Some(Check {
            scope: &variant.scope,
            key,
            rule: variant.rule,
            cost,
        })
    }

    fn checks<'a>(&'a self, plan: PlanRef<'a>) -> SmallVec<[Check<'a>; 2]> {
        plan.entries
            .iter()
            .zip(plan.keys)
            .filter_map(|(&entry, key)| self.check(entry, key))
            .collect()
    }

    /// Turns the store's answer into what to do with the request.
    fn settle<ReqBody, ResBody>(
        &self,
        req: &mut Request<ReqBody>,
        plan: PlanRef<'_>,
        result: Result<Decision, StoreError>,
    ) -> Next<ResBody> {
        let decision = match result {
            Ok(d) if d.verdicts.len() == plan.entries.len() => d,
            Ok(_) => {
                return self.store_failed(req, &"the store answered the wrong number of checks");
            }
            Err(e) => return self.store_failed(req, &e),
        };
        let Some(binding) = self.binding(plan, &decision) else {
            return Next::Call(None);
        };
        let head = RequestHead::of(req);
        let report = self.report(plan, &decision, &binding);
        if decision.allowed() {
            self.observe(&head, RateOutcome::Allowed, Some(binding));
            let delay = decision
                .verdicts
                .iter()
                .map(|v| v.status.delay)
                .max()
                .unwrap_or(0);
            return if delay > 0 {
                Next::Delay(delay, report)
            } else {
                Next::Call(report)
            };
        }
        let key = plan.keys.get(binding.index).map_or(&[][..], |k| &k[..]);
        let request_id = req.extensions().get::<RequestId>();
        let retry_after = binding.retry_after.map(|us| us.div_ceil(MICROS_PER_SEC));
        tracing::info!(
            target: "tower_shield::rate_limit",
            limit = binding.name,
            key = %KeyBy::display(key),
            retry_after = retry_after.unwrap_or_default(),
            shadow = self.shadow,
            request_id = request_id.map(RequestId::as_str).unwrap_or_default(),
            "rate limited"
        );
        if self.shadow {
            self.observe(&head, RateOutcome::ShadowLimited, Some(binding));
            return Next::Call(report);
        }
        self.observe(&head, RateOutcome::Limited, Some(binding));
        let rejection = RateLimited {
            limit: Arc::clone(&binding.limit.name),
            quota: Arc::clone(&binding.variant.quota_text),
            retry_after,
        };
        let mut res = reject(req, rejection);
        if let Some(report) = report {
            report.apply(res.headers_mut());
        }
        Next::Reject(Box::new(res))
    }

    fn store_failed<ReqBody, ResBody>(
        &self,
        req: &mut Request<ReqBody>,
        error: &dyn fmt::Display,
    ) -> Next<ResBody> {
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
        }
        self.observe(&RequestHead::of(req), RateOutcome::StoreFailed, None);
        match self.failure {
            StoreFailure::Open => {
                req.extensions_mut().insert(Unchecked);
                Next::Call(None)
            }
            StoreFailure::Closed => Next::Reject(Box::new(reject(req, RateLimitUnavailable))),
        }
    }

    /// The limit that decides what the client is told: the refusing one with the longest
    /// wait, else the one with the fewest requests left.
    fn binding<'a>(&'a self, plan: PlanRef<'_>, decision: &Decision) -> Option<Binding<'a>> {
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

    fn report(&self, plan: PlanRef<'_>, decision: &Decision, b: &Binding<'_>) -> Option<Report> {
        let x = matches!(self.headers, HeaderStyle::XRateLimit | HeaderStyle::Both).then(|| {
            let reset = decision
                .now
                .saturating_add(b.reset_after)
                .div_ceil(MICROS_PER_SEC);
            (b.variant.limit_header.clone(), b.remaining, reset)
        });
        let ietf = if matches!(self.headers, HeaderStyle::Ietf | HeaderStyle::Both) {
            // The policy of a single limit was built once; several are joined.
            let single = match plan.entries {
                [(l, v, _)] => self.entry(*l, *v).map(|(_, v)| v.policy_header.clone()),
                _ => None,
            };
            let mut policy = String::new();
            let mut state = String::new();
            for (verdict, &(l, v, _)) in decision.verdicts.iter().zip(plan.entries) {
                let Some((limit, variant)) = self.entry(l, v) else {
                    continue;
                };
                if !state.is_empty() {
                    state.push_str(", ");
                }
                if single.is_none() {
                    if !policy.is_empty() {
                        policy.push_str(", ");
                    }
                    policy.push_str(&variant.policy);
                }
                let t = verdict.status.reset_after.div_ceil(MICROS_PER_SEC);
                let _ = write!(
                    state,
                    "\"{}\";r={};t={t}",
                    limit.name, verdict.status.remaining
                );
            }
            let policy = match single {
                Some(header) => Ok(header),
                None => HeaderValue::try_from(policy),
            };
            match (policy, HeaderValue::try_from(state)) {
                (Ok(p), Ok(s)) => Some(Box::new((p, s))),
                _ => None,
            }
        } else {
            None
        };
        (x.is_some() || ietf.is_some()).then_some(Report { x, ietf })
    }
}

#[derive(Clone, Copy)]
struct Binding<'a> {
    index: usize,
    name: &'a str,
    limit: &'a Compiled,
    variant: &'a Variant,
    allowed: bool,
    remaining: u64,
    reset_after: u64,
    retry_after: Option<u64>,
}

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
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

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let principal = req.extensions().get::<Principal>();
        if config.has_allow_rules && config.bypass(&RequestHead::of(&req), principal) {
            config.observe(&RequestHead::of(&req), RateOutcome::Bypassed, None);
            return self.calling(req, None);
        }
        // One limit (the common case): its check is built on the stack, no plan is collected.
        if let [limit] = &*config.limits {
            let cx = KeyContext {
                head: RequestHead::of(&req),
                client_ip: &config.client_ip,
                principal,
            };
            let Some((key, entry)) = config.prepare(0, limit, &cx) else {
                return self.calling(req, None);
            };
            let key = match key {
                Some(key) => key,
                None => match config.missing_key(limit, &req) {
                    Ok(key) => key,
                    Err(res) => return ResponseFuture::done(*res),
                },
            };
            let Some(check) = config.check(entry, &key) else {
                return self.calling(req, None);
            };
            let answer = config.store.decide(std::slice::from_ref(&check));
            return match answer {
                Answer::Ready(result) => {
                    let plan = PlanRef {
                        entries: std::slice::from_ref(&entry),
                        keys: std::slice::from_ref(&key),
                    };
                    let next = config.settle(&mut req, plan, result);
                    self.next(req, next)
                }
                Answer::Later(pending) => {
                    let plan = Plan {
                        entries: std::iter::once(entry).collect(),
                        keys: std::iter::once(key).collect(),
                    };
                    self.deciding(pending, plan, req)
                }
            };
        }
        let plan = match config.plan(&req, principal) {
            Ok(plan) if plan.entries.is_empty() => return self.calling(req, None),
            Ok(plan) => plan,
            Err(res) => return ResponseFuture::done(*res),
        };
        let answer = config.store.decide(&config.checks(plan.view()));
        match answer {
            Answer::Ready(result) => {
                let next = config.settle(&mut req, plan.view(), result);
                self.next(req, next)
            }
            Answer::Later(pending) => self.deciding(pending, plan, req),
        }
    }
}

impl<S> RateLimit<S> {
    /// The service that was polled ready, leaving a clone in its place.
    fn take_inner(&mut self) -> S
    where
        S: Clone,
    {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }

    fn next<ReqBody, ResBody>(
        &mut self,
        req: Request<ReqBody>,
        next: Next<ResBody>,
    ) -> ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    {
        match next {
            Next::Call(report) => self.calling(req, report),
            Next::Delay(delay, report) => {
                let inner = self.take_inner();
                ResponseFuture::delaying(delay, req, inner, report)
            }
            Next::Reject(res) => ResponseFuture::done(*res),
        }
    }

    fn deciding<ReqBody, ResBody>(
        &mut self,
        pending: BoxFuture<Result<Decision, StoreError>>,
        plan: Plan,
        req: Request<ReqBody>,
    ) -> ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    {
        ResponseFuture {
            state: State::Deciding {
                waiting: Box::new(Deciding {
                    pending,
                    plan,
                    request: Some(req),
                    inner: Some(self.take_inner()),
                    config: Arc::clone(&self.config),
                }),
            },
        }
    }

    fn calling<ReqBody, ResBody>(
        &mut self,
        req: Request<ReqBody>,
        report: Option<Report>,
    ) -> ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        ResponseFuture {
            state: State::Calling {
                future: self.inner.call(req),
                report,
            },
        }
    }
}

/// A request waiting for a remote store's decision (boxed: the rare path).
struct Deciding<S, ReqBody> {
    pending: BoxFuture<Result<Decision, StoreError>>,
    plan: Plan,
    request: Option<Request<ReqBody>>,
    inner: Option<S>,
    config: Arc<Config>,
}

pin_project! {
    /// A request waiting for its turn in a leaky bucket (boxed: the rare path).
    struct Delayed<S, ReqBody> {
        #[pin]
        sleep: tokio::time::Sleep,
        request: Option<Request<ReqBody>>,
        inner: Option<S>,
        report: Option<Report>,
    }
}

pin_project! {
    /// The response future of [`RateLimit`].
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Deciding { waiting: Box<Deciding<S, ReqBody>> },
        Delaying { delayed: Pin<Box<Delayed<S, ReqBody>>> },
        Calling {
            #[pin]
            future: S::Future,
            report: Option<Report>,
        },
        Done { response: Option<Response<ResponseBody<ResBody>>> },
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn done(res: Response<ResponseBody<ResBody>>) -> Self {
        Self {
            state: State::Done {
                response: Some(res),
            },
        }
    }

    /// Waits for the request's turn in a leaky bucket. The wait needs tokio's timer: without a
    /// tokio runtime the request is answered `500` (and the misconfiguration logged) rather than
    /// panicking in `tokio::time::sleep`.
    fn delaying(delay: u64, req: Request<ReqBody>, inner: S, report: Option<Report>) -> Self {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::error!(
                target: "tower_shield::rate_limit",
                "a leaky-bucket limit needs a tokio runtime to delay requests"
            );
            return Self::done(reject(&req, crate::problem::internal_error()));
        }
        Self {
            state: State::Delaying {
                delayed: Box::pin(Delayed {
                    sleep: tokio::time::sleep(Duration::from_micros(delay)),
                    request: Some(req),
                    inner: Some(inner),
                    report,
                }),
            },
        }
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
                StateProj::Deciding { waiting } => {
                    let result = match waiting.pending.as_mut().poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => return Poll::Pending,
                    };
                    let (Some(mut req), Some(mut svc)) =
                        (waiting.request.take(), waiting.inner.take())
                    else {
                        return Poll::Pending;
                    };
                    let next = match waiting.config.settle(&mut req, waiting.plan.view(), result) {
                        Next::Call(report) => State::Calling {
                            future: svc.call(req),
                            report,
                        },
                        Next::Delay(delay, report) => Self::delaying(delay, req, svc, report).state,
                        Next::Reject(res) => State::Done {
                            response: Some(*res),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Delaying { delayed } => {
                    let d = delayed.as_mut().project();
                    if d.sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let (Some(req), Some(mut svc)) = (d.request.take(), d.inner.take()) else {
                        return Poll::Pending;
                    };
                    let report = d.report.take();
                    this.state.set(State::Calling {
                        future: svc.call(req),
                        report,
                    });
                }
                StateProj::Calling { future, report } => {
                    let res = match future.poll(cx) {
                        Poll::Ready(Ok(res)) => res,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    };
                    let mut res = res.map(ResponseBody::new);
                    if let Some(report) = report.take() {
                        report.apply(res.headers_mut());
                    }
                    return Poll::Ready(Ok(res));
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
