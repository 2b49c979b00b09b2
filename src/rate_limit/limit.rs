//! One limit of a [`RateLimitLayer`](super::RateLimitLayer): its quota (or quotas per tier),
//! algorithm, key, cost and the requests it applies to.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::Method;

use super::ConfigError;
use super::algorithm::{Algorithm, Quota, Rule};
use super::key::KeyBy;
use crate::auth::Tier;
use crate::core::RequestHead;

/// One limit: a quota (or one per [`Tier`]), the algorithm that applies it, whom it counts
/// ([`KeyBy`]), what a request costs, and which requests it applies to.
///
/// ```
/// use tower_shield::rate_limit::{Algorithm, KeyBy, Limit, Quota, Tiers};
///
/// // 1,000 per hour per principal (per IP for the anonymous), as a token bucket.
/// let hourly = Limit::new("hourly", Quota::per_hour(1000));
/// // The design documents' tiers: anonymous 60/h, authenticated 1,000/h, premium 10,000/h,
/// // internal 100,000/h.
/// let tiered = Limit::tiered("hourly", Tiers::standard());
/// // The search route's own: bursts of 20, 2 per second.
/// let search = Limit::new("search", Quota::per_second(2).burst(20)).path("/search");
/// // Exports cost 10 units of a sliding-window quota.
/// let exports = Limit::new("exports", Quota::per_hour(100))
///     .algorithm(Algorithm::SlidingWindow)
///     .path_prefix("/exports/")
///     .cost(10);
/// # let _ = (hourly, tiered, search, exports);
/// ```
#[derive(Clone)]
pub struct Limit {
    pub(crate) name: Cow<'static, str>,
    pub(crate) quotas: Quotas,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: KeyBy,
    pub(crate) cost: Cost,
    pub(crate) paths: Vec<PathMatch>,
    pub(crate) methods: Vec<Method>,
}

#[derive(Clone, Debug)]
pub(crate) enum Quotas {
    One(Quota),
    Tiered(Tiers),
}

#[derive(Clone)]
pub(crate) enum Cost {
    Fixed(u32),
    By(Arc<dyn Fn(&RequestHead<'_>) -> u32 + Send + Sync>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl Limit {
    /// A limit named `name` with one `quota` for everyone, counted per
    /// [`KeyBy::principal_or_ip`], as a token bucket, one unit per request, on every request.
    ///
    /// The name appears in the `RateLimit` headers, the logs and the store's keys: 1 to 64
    /// characters of `A-Z a-z 0-9 _ - .`, unique in the layer.
    pub fn new(name: impl Into<Cow<'static, str>>, quota: Quota) -> Self {
        Self::with(name.into(), Quotas::One(quota))
    }

    /// A limit whose quota depends on the request's [`Principal`](crate::Principal) tier (the
    /// anonymous tier without a principal). Each tier has its own counters.
    pub fn tiered(name: impl Into<Cow<'static, str>>, tiers: Tiers) -> Self {
        Self::with(name.into(), Quotas::Tiered(tiers))
    }

    fn with(name: Cow<'static, str>, quotas: Quotas) -> Self {
        Self {
            name,
            quotas,
            algorithm: Algorithm::TokenBucket,
            key: KeyBy::principal_or_ip(),
            cost: Cost::Fixed(1),
            paths: Vec::new(),
            methods: Vec::new(),
        }
    }

    /// Decides with `algorithm` (default [`Algorithm::TokenBucket`]).
    #[must_use]
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Counts per `key` (default [`KeyBy::principal_or_ip`]).
    #[must_use]
    pub fn key(mut self, key: KeyBy) -> Self {
        self.key = key;
        self
    }

    /// Every request costs `cost` units of the quota (default 1). A cost of 0 spends nothing
    /// and still reports the standing.
    #[must_use]
    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = Cost::Fixed(cost);
        self
    }

    /// A request costs what `f` says: weigh expensive requests more.
    #[must_use]
    pub fn cost_by<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> u32 + Send + Sync + 'static,
    {
        self.cost = Cost::By(Arc::new(f));
        self
    }

    /// Applies to requests for exactly `path` (as the layer sees it: behind a
    /// [`VersioningLayer`](crate::VersioningLayer) that strips `/v2`, that is `/search`).
    /// May be called several times; without any path the limit applies to every path.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.paths.push(PathMatch::Exact(path.into()));
        self
    }

    /// Applies to requests whose path starts with `prefix`.
    #[must_use]
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.paths.push(PathMatch::Prefix(prefix.into()));
        self
    }

    /// Applies to requests of `method` only. May be called several times.
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.methods.push(method);
        self
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("name", &self.name)
            .field("quotas", &self.quotas)
            .field("algorithm", &self.algorithm)
            .field("key", &self.key)
            .field("paths", &self.paths)
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

/// Quotas per [`Tier`], for [`Limit::tiered`].
///
/// A principal whose tier has no quota of its own gets the [`otherwise`](Tiers::new) quota.
///
/// ```
/// use tower_shield::auth::Tier;
/// use tower_shield::rate_limit::{Quota, Tiers};
///
/// let tiers = Tiers::new(Quota::per_hour(1000))
///     .tier(Tier::ANONYMOUS, Quota::per_hour(60))
///     .tier(Tier::PREMIUM, Quota::per_hour(10_000))
///     .tier(Tier::new("enterprise"), Quota::per_hour(50_000));
/// assert_eq!(tiers.quota(&Tier::PREMIUM), Quota::per_hour(10_000));
/// assert_eq!(tiers.quota(&Tier::new("gold")), Quota::per_hour(1000));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiers {
    pub(crate) tiers: Vec<(Tier, Quota)>,
    pub(crate) otherwise: Quota,
}

impl Tiers {
    /// Every tier gets `otherwise` until given its own quota.
    pub fn new(otherwise: Quota) -> Self {
        Self {
            tiers: Vec::new(),
            otherwise,
        }
    }

    /// The tiers of the design documents' table, per hour: anonymous 60, authenticated
    /// 1,000, premium 10,000, internal 100,000; any other tier 1,000.
    pub fn standard() -> Self {
        Self::new(Quota::per_hour(1000))
            .tier(Tier::ANONYMOUS, Quota::per_hour(60))
            .tier(Tier::AUTHENTICATED, Quota::per_hour(1000))
            .tier(Tier::PREMIUM, Quota::per_hour(10_000))
            .tier(Tier::INTERNAL, Quota::per_hour(100_000))
    }

    /// Gives `tier` its own `quota` (replacing an earlier one).
    #[must_use]
    pub fn tier(mut self, tier: Tier, quota: Quota) -> Self {
        match self.tiers.iter_mut().find(|(t, _)| *t == tier) {
            Some(entry) => entry.1 = quota,
            None => self.tiers.push((tier, quota)),
        }
        self
    }

    /// The quota of `tier`.
    pub fn quota(&self, tier: &Tier) -> Quota {
        self.tiers
            .iter()
            .find(|(t, _)| t == tier)
            .map_or(self.otherwise, |(_, q)| *q)
    }
}

/// A limit ready for requests: names, rules and filters computed once.
pub(crate) struct Compiled {
    pub(crate) name: Arc<str>,
    pub(crate) key: KeyBy,
    pub(crate) cost: Cost,
    pub(crate) paths: Vec<PathMatch>,
    pub(crate) methods: Vec<Method>,
    /// One entry per tier, then the one for every other tier (or everyone): the last one.
    pub(crate) variants: Vec<Variant>,
}

/// A quota of a limit: for everyone, or for one tier.
pub(crate) struct Variant {
    pub(crate) tier: Option<Tier>,
    /// The store scope: `name` or `name:tier` (`name:*` for tiers without a quota of their own).
    pub(crate) scope: Box<str>,
    pub(crate) rule: Rule,
    /// `"name";q=..;w=..` for `RateLimit-Policy`, as text (to join with other limits') and
    /// as the header of a request that only this limit applies to.
    pub(crate) policy: Box<str>,
    pub(crate) policy_header: http::HeaderValue,
    /// The quota as a problem detail says it: `60 per hour`.
    pub(crate) quota_text: Arc<str>,
    /// The quota's window in seconds, as `RateLimit-Policy`'s `w` says it.
    pub(crate) window: u64,
    /// `X-RateLimit-Limit`, built once.
    pub(crate) limit_header: http::HeaderValue,
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Limit {
    pub(crate) fn compile(self) -> Result<Compiled, ConfigError> {
        let name = self.name.clone().into_owned();
        if !valid_name(&name) {
            return Err(ConfigError::InvalidName { name });
        }
        let variant = |tier: Option<Tier>, scope: String, quota: Quota| {
            let rule = Rule::new(self.algorithm, quota).map_err(|error| ConfigError::Rule {
                limit: name.clone(),
                error,
            })?;
            // The quota's own window: for a token bucket `capacity * period / limit`, exactly
            // (its refill interval is rounded up to the microsecond, so `interval * capacity`
            // can pass a whole second: `per_second(3)` would say `w=2`).
            let window_us = match self.algorithm {
                Algorithm::TokenBucket => {
                    let exact = u128::from(quota.period_us()) * u128::from(quota.burst_size())
                        / u128::from(quota.limit().max(1));
                    u64::try_from(exact).unwrap_or(u64::MAX)
                }
                _ => rule.window(),
            };
            // At least one second: the draft's `w` is "a non-negative, non-zero" integer (a
            // quota of millions per second has a window under a microsecond).
            let window = window_us.div_ceil(super::algorithm::MICROS_PER_SEC).max(1);
            let policy = format!("\"{name}\";q={};w={window}", rule.limit());
            Ok::<_, ConfigError>(Variant {
                tier,
                policy_header: http::HeaderValue::try_from(policy.as_str())
                    .map_err(|_| ConfigError::InvalidName { name: name.clone() })?,
                policy: policy.into(),
                quota_text: quota.to_string().into(),
                window,
                limit_header: http::HeaderValue::from(rule.limit()),
                scope: scope.into(),
                rule,
            })
        };
        let variants = match &self.quotas {
            Quotas::One(q) => vec![variant(None, name.clone(), *q)?],
            Quotas::Tiered(tiers) => {
                let mut v = Vec::with_capacity(tiers.tiers.len() + 1);
                for (tier, quota) in &tiers.tiers {
                    if !valid_name(tier.as_str()) {
                        return Err(ConfigError::InvalidTier {
                            tier: tier.as_str().to_owned(),
                        });
                    }
                    v.push(variant(
                        Some(tier.clone()),
                        format!("{name}:{tier}"),
                        *quota,
                    )?);
                }
                v.push(variant(None, format!("{name}:*"), tiers.otherwise)?);
                v
            }
        };
        if let Some((template, reason)) = self.key.invalid_template() {
            return Err(ConfigError::InvalidRouteTemplate {
                limit: name,
                template: template.to_owned(),
                reason,
            });
        }
        for p in &self.paths {
            let (PathMatch::Exact(s) | PathMatch::Prefix(s)) = p;
            if !s.starts_with('/') {
                return Err(ConfigError::InvalidPath { path: s.clone() });
            }
        }
        Ok(Compiled {
            name: name.into(),
            key: self.key,
            cost: self.cost,
            paths: self.paths,
            methods: self.methods,
            variants,
        })
    }
}

impl Compiled {
    pub(crate) fn applies(&self, head: &RequestHead<'_>) -> bool {
        (self.methods.is_empty() || self.methods.contains(head.method()))
            && (self.paths.is_empty() || {
                let path = head.uri().path();
                self.paths.iter().any(|p| match p {
                    PathMatch::Exact(s) => path == s,
                    PathMatch::Prefix(s) => path.starts_with(s.as_str()),
                })
            })
    }

    /// The index of the variant that applies to a principal of `tier` (the last one when
    /// no tier has its own, which for an untiered limit is its only one).
    pub(crate) fn variant(&self, tier: Option<&Tier>) -> usize {
        let tier = tier.unwrap_or(&Tier::ANONYMOUS);
        let last = self.variants.len().saturating_sub(1);
        self.variants[..last]
            .iter()
            .position(|v| v.tier.as_ref() == Some(tier))
            .unwrap_or(last)
    }

    pub(crate) fn cost(&self, head: &RequestHead<'_>) -> u32 {
        match &self.cost {
            Cost::Fixed(c) => *c,
            Cost::By(f) => f(head),
        }
    }
}
