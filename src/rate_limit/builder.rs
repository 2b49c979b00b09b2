//! [`RateLimitBuilder`]: the configuration of a [`RateLimitLayer`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::ConfigError;
use super::client_ip::{ClientIp, ClientIpError, Network};
use super::fallback::Fallback;
use super::headers::HeaderStyle;
use super::layer::{Config, Predicate, RateLimitLayer};
use super::limit::{Compiled, Limit};
use super::memory::MemoryStore;
use super::observer::RateLimitObserver;
use super::plan::{MissingKey, StoreFailure};
use super::store::Store;
use crate::auth::Tier;
use crate::core::{Clock, RequestHead, SharedClock, system_clock};

/// The most limits one layer holds.
const MAX_LIMITS: usize = 16;

/// Configures a [`RateLimitLayer`]; from [`RateLimitLayer::builder`].
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
    fallback_clock: Option<SharedClock>,
}

impl RateLimitBuilder {
    pub(super) fn new() -> Self {
        Self {
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
            fallback_clock: None,
        }
    }

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
    /// address). The client IP is found as for [`KeyBy::ip`](super::KeyBy::ip), and compared
    /// whole: not grouped by the [`ClientIp`]'s prefixes as keys are, so a single IPv6 address
    /// listed exempts that host, not its /64. A network with bits set past its prefix
    /// (`"198.51.100.7/16"`) is a build error ([`ConfigError::HostBitsSet`]), not masked.
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
    /// trying limits on real traffic before enforcing them. Off by default.
    pub fn shadow(mut self, on: bool) -> Self {
        self.shadow = on;
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

    /// What to do when the store fails (default [`StoreFailure::Open`]; see
    /// [`StoreFailure::Local`] for the same limits in memory).
    pub fn on_store_failure(mut self, failure: StoreFailure) -> Self {
        self.failure = failure;
        self
    }

    /// Reads time from `clock` in the [`StoreFailure::Local`] fallback: its memory store, and
    /// when it probes the failing store again (default: the system clock). For tests that
    /// step through a store's failure and recovery without waiting.
    pub fn fallback_clock(mut self, clock: impl Clock) -> Self {
        self.fallback_clock = Some(Arc::new(clock));
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
    /// algorithm, an allow-listed network that does not parse ([`ConfigError`]).
    pub fn build(self) -> Result<RateLimitLayer, ConfigError> {
        if self.limits.is_empty() {
            return Err(ConfigError::NoLimits);
        }
        if self.limits.len() > MAX_LIMITS {
            return Err(ConfigError::TooManyLimits);
        }
        let mut limits = Vec::with_capacity(self.limits.len());
        for limit in self.limits {
            let compiled = limit.compile()?;
            if limits.iter().any(|l: &Compiled| l.name == compiled.name) {
                return Err(ConfigError::DuplicateName {
                    name: compiled.name.to_string(),
                });
            }
            limits.push(compiled);
        }
        let allow_networks = self
            .allow_networks
            .iter()
            .map(|n| {
                Network::parse(n).map_err(|e| match e {
                    ClientIpError::HostBitsSet { network, .. } => ConfigError::HostBitsSet {
                        value: n.clone(),
                        network,
                    },
                    _ => ConfigError::InvalidNetwork { value: n.clone() },
                })
            })
            .collect::<Result<_, _>>()?;
        let fallback = match self.failure {
            StoreFailure::Local { instances: 0 } => return Err(ConfigError::NoInstances),
            StoreFailure::Local { instances } => Some(Fallback::new(
                instances,
                self.fallback_clock.unwrap_or_else(system_clock),
            )),
            _ => None,
        };
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
                fallback,
                last_failure_log: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for RateLimitBuilder {
    // By hand: the allow-list predicate and the observer are closures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("limits", &self.limits)
            .field("shadow", &self.shadow)
            .finish_non_exhaustive()
    }
}
