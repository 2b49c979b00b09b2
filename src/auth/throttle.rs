//! Failed-credential throttling: [`Throttle`], the counters an [`AuthLayer`](super::AuthLayer)
//! checks before any password hash or signature, and the `429` it answers.

use sha2::Digest as _;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::header::RETRY_AFTER;
use smallvec::SmallVec;

use super::inflight::{self, Admission, Counter, Epoch, InFlight, Ticket};
use super::{Authenticator, ConfigError, RequestHead};
use crate::core::Answer;
use crate::problem::{Problem, ProblemType, Rejection};
use crate::rate_limit::algorithm::MICROS_PER_SEC;
use crate::rate_limit::{Check, ClientIp, Decision, MemoryStore, Rule, Store, StoreError};

/// The counter scopes, one per dimension.
const SCOPE_IP: &str = "auth-throttle:ip";
const SCOPE_IDENTITY: &str = "auth-throttle:identity";
const SCOPE_PAIR: &str = "auth-throttle:identity-ip";

/// The key of every request whose client IP is unknown (the server is misconfigured: no peer
/// address). They share one counter rather than go uncounted.
const UNKNOWN_IP: &[u8] = b"\x04unknown";

/// How one dimension of a [`Throttle`] backs off: `free` failures, then each further failure
/// blocks the next attempt for `base`, doubling up to `max`. Failures are forgotten `window`
/// after the last one (default one hour).
///
/// ```
/// use std::time::Duration;
/// use tower_shield::auth::Backoff;
///
/// // 5 failures, then 1 s, 2 s, 4 s, ... at most 15 minutes.
/// let b = Backoff::new(5, Duration::from_secs(1), Duration::from_secs(900));
/// assert_eq!(b.delay_after(4), Duration::ZERO);
/// assert_eq!(b.delay_after(5), Duration::from_secs(1));
/// assert_eq!(b.delay_after(7), Duration::from_secs(4));
/// assert_eq!(b.delay_after(40), Duration::from_secs(900));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backoff {
    free: u32,
    base: Duration,
    max: Duration,
    window: Duration,
}

impl Backoff {
    /// `free` failures, then a block of `base` doubling with each failure, at most `max`.
    pub const fn new(free: u32, base: Duration, max: Duration) -> Self {
        Self {
            free,
            base,
            max,
            window: Duration::from_secs(3600),
        }
    }

    /// How long failures are remembered after the last one (default one hour).
    #[must_use]
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Failures before the first block.
    pub const fn free(&self) -> u32 {
        self.free
    }

    /// The block after `failures` failures in a row.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(crate::rate_limit::algorithm::backoff_delay(
            u64::from(self.free),
            us(self.base),
            us(self.max),
            u64::from(failures),
        ))
    }

    fn rule(&self, dimension: &'static str) -> Result<Rule, ConfigError> {
        Rule::backoff(self.free, self.base, self.max, self.window)
            .map_err(|error| ConfigError::InvalidBackoff { dimension, error })
    }
}

/// Failed-credential throttling for an [`AuthLayer`](super::AuthLayer)
/// ([`AuthBuilder::throttle`](super::AuthBuilder::throttle)): failures are counted per
/// client IP, per claimed identity (the Basic user name: see
/// [`Authenticator::claimed_identity`]) and per (identity, IP) pair, each with its own
/// [`Backoff`]. An attempt while any of its counters is blocked is answered
/// `429 Too Many Requests` with `Retry-After` (problem type
/// [`login-throttled`](crate::problem#login-throttled)) **before** any authenticator runs: no
/// password is hashed, no signature checked. The answer is the same whether or not the
/// identity exists.
///
/// | dimension | default | against |
/// |---|---|---|
/// | (identity, IP) | 5 failures, then 1 s doubling up to 15 min | one client guessing one user's password |
/// | IP | 20 failures, then 1 s doubling up to 15 min | one client trying many users (credential stuffing) |
/// | identity | 10 failures, then 1 s doubling up to 5 min | many clients (a botnet) trying one user |
///
/// Failures are forgotten an hour after the last one. A success clears the (identity, IP)
/// counter only; the others run out on their own.
///
/// **The trade-off.** The identity-wide limit is what stops a distributed guess at one
/// account, and it is also what an attacker can use against the account's owner: while a
/// flood against one name goes on, that name's attempts from anywhere wait up to the
/// identity's `max` (5 minutes by default) between checks. It never locks the account for
/// good: the block is bounded, an attempt refused by it is not a failure (it does not lengthen
/// the block), and after each block one attempt is checked. Keep the identity's `max` short
/// (a user waits at most that long) and the pair limit strict (one client is stopped quickly).
///
/// What counts as a failure: a presented credential that is invalid (a wrong password, an
/// unknown key, a bad signature). An expired token, a missing credential or an authenticator
/// that could not check (`503`) do not count.
///
/// Counters live on a rate-limit [`Store`]: in memory by default; a
/// [`RedisStore`](crate::rate_limit::RedisStore) shares them across instances. Every request
/// through the layer reads its counters (one store decision: a round trip to a remote store);
/// a failure writes them (another). When the store fails, attempts are checked as if no
/// throttle were configured (fail open) and the failure is logged.
///
/// ```
/// use std::time::Duration;
/// use tower_shield::auth::{Argon2Users, AuthLayer, Backoff, BasicAuth, Throttle};
/// use tower_shield::rate_limit::MemoryStore;
///
/// let layer = AuthLayer::builder()
///     .authenticator(BasicAuth::new(Argon2Users::new()))
///     .throttle(
///         Throttle::builder()
///             .per_identity(Backoff::new(10, Duration::from_secs(2), Duration::from_secs(120)))
///             .store(MemoryStore::new())
///             .build(),
///     )
///     .build()?;
/// # Ok::<(), tower_shield::auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Throttle {
    pub(super) store: Arc<dyn Store>,
    pub(super) client_ip: ClientIp,
    pub(super) ip: Option<Backoff>,
    pub(super) identity: Option<Backoff>,
    pub(super) pair: Option<Backoff>,
}

impl Throttle {
    /// The defaults of the table above, on an in-memory store.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a throttle, from the defaults.
    pub fn builder() -> ThrottleBuilder {
        ThrottleBuilder(Self {
            store: Arc::new(MemoryStore::new()),
            client_ip: ClientIp::peer(),
            ip: Some(Backoff::new(20, SECOND, QUARTER)),
            identity: Some(Backoff::new(10, SECOND, Duration::from_secs(300))),
            pair: Some(Backoff::new(5, SECOND, QUARTER)),
        })
    }

    /// The per-IP backoff, if on.
    pub fn per_ip(&self) -> Option<Backoff> {
        self.ip
    }

    /// The per-identity backoff, if on.
    pub fn per_identity(&self) -> Option<Backoff> {
        self.identity
    }

    /// The per-(identity, IP) backoff, if on.
    pub fn per_identity_and_ip(&self) -> Option<Backoff> {
        self.pair
    }

    /// Compiles the rules, checked once when the layer is built.
    pub(super) fn compile(&self) -> Result<Compiled, ConfigError> {
        Ok(Compiled {
            inflight: Arc::default(),
            throttle: self.clone(),
            ip: self.ip.map(|b| b.rule("ip")).transpose()?,
            identity: self.identity.map(|b| b.rule("identity")).transpose()?,
            pair: self.pair.map(|b| b.rule("identity_ip")).transpose()?,
        })
    }
}

const SECOND: Duration = Duration::from_secs(1);
const QUARTER: Duration = Duration::from_secs(900);

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("client_ip", &self.client_ip)
            .field("ip", &self.ip)
            .field("identity", &self.identity)
            .field("pair", &self.pair)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Throttle`]; see [`Throttle::builder`].
#[derive(Debug)]
#[must_use]
pub struct ThrottleBuilder(Throttle);

impl ThrottleBuilder {
    /// The backoff per client IP (`None`: not counted).
    pub fn per_ip(mut self, backoff: impl Into<Option<Backoff>>) -> Self {
        self.0.ip = backoff.into();
        self
    }

    /// The backoff per claimed identity (`None`: not counted).
    pub fn per_identity(mut self, backoff: impl Into<Option<Backoff>>) -> Self {
        self.0.identity = backoff.into();
        self
    }

    /// The backoff per (claimed identity, client IP) pair (`None`: not counted).
    pub fn per_identity_and_ip(mut self, backoff: impl Into<Option<Backoff>>) -> Self {
        self.0.pair = backoff.into();
        self
    }

    /// Where the counters live (default: a [`MemoryStore`] of this throttle's own).
    pub fn store(mut self, store: impl Store) -> Self {
        self.0.store = Arc::new(store);
        self
    }

    /// How the client IP is found (default [`ClientIp::peer`]): the same trusted-proxy rules
    /// as the rate limiter's.
    pub fn client_ip(mut self, client_ip: ClientIp) -> Self {
        self.0.client_ip = client_ip;
        self
    }

    /// The throttle. Its backoffs are checked when the [`AuthLayer`](super::AuthLayer) is
    /// built ([`ConfigError::InvalidBackoff`]).
    pub fn build(self) -> Throttle {
        self.0
    }
}

/// A throttle with its rules compiled.
#[derive(Clone)]
pub(super) struct Compiled {
    throttle: Throttle,
    /// The credential checks in flight, shared by the layer's clones.
    inflight: Arc<InFlight>,
    ip: Option<Rule>,
    identity: Option<Rule>,
    pair: Option<Rule>,
}

/// Which counter a check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dimension {
    Ip,
    Identity,
    Pair,
}

impl Dimension {
    fn label(self) -> &'static str {
        match self {
            Dimension::Ip => "ip",
            Dimension::Identity => "identity",
            Dimension::Pair => "identity_ip",
        }
    }
}

/// Claimed identities longer than this are counted under their SHA-256.
const MAX_IDENTITY_KEY: usize = 64;

/// The key of a claimed identity's counters: `\x00` and the name, or `\x01` and the SHA-256
/// of a name over [`MAX_IDENTITY_KEY`] bytes (the tags keep the two apart, whatever names an
/// authenticator claims).
fn identity_key(identity: &str) -> Vec<u8> {
    if identity.len() <= MAX_IDENTITY_KEY {
        let mut key = Vec::with_capacity(identity.len() + 1);
        key.push(0);
        key.extend_from_slice(identity.as_bytes());
        return key;
    }
    let mut key = Vec::with_capacity(33);
    key.push(1);
    key.extend_from_slice(&sha2::Sha256::digest(identity.as_bytes()));
    key
}

/// Who an attempt comes from and claims to be: the keys of its counters. Kept in the
/// request's extensions from the read to the outcome.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub(super) ip: Option<IpAddr>,
    pub(super) identity: Option<String>,
    /// The identity as its counters' key: as it is, or past [`MAX_IDENTITY_KEY`] bytes its
    /// SHA-256 (so a client's long names do not become long keys in a shared store).
    identity_key: Vec<u8>,
    ip_key: SmallVec<[u8; 17]>,
    pair_key: Vec<u8>,
    /// Whether the pair's counter held failures when read (a success then clears it).
    pub(super) pair_failed: bool,
    /// Its place among the checks in flight, once admitted (shared by the clones that
    /// request extensions need; given back when the last is dropped).
    ticket: Option<Arc<Ticket>>,
    /// The epochs of its gated counters (identity, then pair), noted before the last read.
    epochs: SmallVec<[Epoch; 2]>,
    /// How many times it waited for other checks of its counters, or read them again.
    pub(super) waits: u32,
}

/// What the read of an attempt's counters concluded.
pub(super) enum Probe {
    /// Go on and check the credential.
    Go,
    /// Refused: the seconds to wait, and the dimension with the longest wait.
    Throttled(u64, &'static str),
    /// Other checks of a counter are in flight and would use up its free failures: wait for
    /// one to be over (the future), then read the counters again. Without a future, a check
    /// ended after the read: read again at once.
    Wait(Option<tokio::sync::futures::OwnedNotified>),
}

impl Compiled {
    /// The keys of a request's counters.
    pub(super) fn attempt(
        &self,
        chain: &[Arc<dyn Authenticator>],
        head: &RequestHead<'_>,
    ) -> Attempt {
        let ip = self
            .throttle
            .client_ip
            .resolve(head.extensions(), head.headers());
        let identity = chain
            .iter()
            .find_map(|a| a.claimed_identity(head))
            .map(|id| id.to_lowercase());
        let ip_key: SmallVec<[u8; 17]> = match ip {
            Some(IpAddr::V4(v4)) => std::iter::once(4).chain(v4.octets()).collect(),
            Some(IpAddr::V6(v6)) => std::iter::once(6).chain(v6.octets()).collect(),
            None => SmallVec::from_slice(UNKNOWN_IP),
        };
        let identity_key = identity.as_deref().map_or_else(Vec::new, identity_key);
        let pair_key = match &identity {
            Some(_) if self.pair.is_some() => {
                let mut k = Vec::with_capacity(identity_key.len() + 1 + ip_key.len());
                k.extend_from_slice(&identity_key);
                k.push(0);
                k.extend_from_slice(&ip_key);
                k
            }
            _ => Vec::new(),
        };
        Attempt {
            ip,
            identity,
            identity_key,
            ip_key,
            pair_key,
            pair_failed: false,
            ticket: None,
            epochs: SmallVec::new(),
            waits: 0,
        }
    }

    /// The checks of an attempt, at `cost` (0 reads, 1 records a failure).
    fn checks<'a>(
        &'a self,
        attempt: &'a Attempt,
        cost: u32,
    ) -> SmallVec<[(Dimension, Check<'a>); 3]> {
        let mut out = SmallVec::new();
        let check = |scope, key, rule| Check {
            scope,
            key,
            rule,
            cost,
        };
        if let Some(rule) = self.ip {
            out.push((Dimension::Ip, check(SCOPE_IP, &attempt.ip_key[..], rule)));
        }
        if attempt.identity.is_some() {
            if let Some(rule) = self.identity {
                out.push((
                    Dimension::Identity,
                    check(SCOPE_IDENTITY, &attempt.identity_key[..], rule),
                ));
            }
            if let Some(rule) = self.pair {
                out.push((
                    Dimension::Pair,
                    check(SCOPE_PAIR, &attempt.pair_key[..], rule),
                ));
            }
        }
        out
    }

    /// Reads the attempt's counters, having noted the epochs of its gated ones.
    pub(super) fn read(&self, attempt: &mut Attempt) -> Answer<Result<Decision, StoreError>> {
        let epochs = self
            .checks(attempt, 0)
            .iter()
            .filter(|(dimension, _)| *dimension != Dimension::Ip)
            .map(|(_, check)| self.inflight.epoch(check.scope, check.key))
            .collect();
        attempt.epochs = epochs;
        let checks: SmallVec<[Check<'_>; 3]> = self
            .checks(attempt, 0)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        if checks.is_empty() {
            return Answer::Ready(Ok(Decision {
                now: 0,
                verdicts: SmallVec::new(),
            }));
        }
        self.throttle.store.decide(&checks)
    }

    /// What the read concluded; notes whether the pair's counter holds failures. An attempt
    /// the counters let through is admitted among the checks in flight ([`inflight`]), or
    /// told to wait for one of them.
    pub(super) fn judge(&self, attempt: &mut Attempt, decision: &Decision) -> Probe {
        let checks = self.checks(attempt, 0);
        let dims: SmallVec<[Dimension; 3]> = checks.iter().map(|&(d, _)| d).collect();
        // Only the counters of a claimed identity are gated: the attack is a burst of guesses
        // at one account. The IP's counter is not (clients behind one NAT, requests without
        // any credential, must not queue behind each other's checks).
        let counters: SmallVec<[Counter; 3]> = checks
            .into_iter()
            .zip(&decision.verdicts)
            .filter(|((dimension, _), _)| *dimension != Dimension::Ip)
            .zip(&attempt.epochs)
            .map(|(((_, check), verdict), &epoch)| Counter {
                key: inflight::key(check.scope, check.key),
                failed: verdict
                    .status
                    .limit
                    .saturating_sub(verdict.status.remaining),
                free: verdict.status.limit,
                epoch,
            })
            .collect();
        let mut worst: Option<(u64, &'static str)> = None;
        for (dimension, verdict) in dims.iter().zip(&decision.verdicts) {
            if *dimension == Dimension::Pair {
                attempt.pair_failed = verdict.status.remaining < verdict.status.limit;
            }
            if !verdict.allowed {
                let wait = verdict.status.retry_after.unwrap_or(MICROS_PER_SEC);
                if worst.is_none_or(|(w, _)| wait > w) {
                    worst = Some((wait, dimension.label()));
                }
            }
        }
        if let Some((wait, dimension)) = worst {
            return Probe::Throttled(wait.div_ceil(MICROS_PER_SEC).max(1), dimension);
        }
        if counters.is_empty() {
            return Probe::Go;
        }
        match self.inflight.admit(counters) {
            Admission::Go(ticket) => {
                attempt.ticket = Some(Arc::new(ticket));
                Probe::Go
            }
            Admission::Wait(done) => Probe::Wait(Some(done)),
            Admission::Stale => Probe::Wait(None),
        }
    }

    /// Records a failure on every counter of the attempt.
    pub(super) fn record(&self, attempt: &Attempt) -> Answer<Result<Decision, StoreError>> {
        let checks: SmallVec<[Check<'_>; 3]> = self
            .checks(attempt, 1)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        if checks.is_empty() {
            return Answer::Ready(Ok(Decision {
                now: 0,
                verdicts: SmallVec::new(),
            }));
        }
        self.throttle.store.decide(&checks)
    }

    /// Clears the pair's counter after a success (when it held failures).
    pub(super) fn clear(&self, attempt: &Attempt) -> Option<Answer<Result<(), StoreError>>> {
        (attempt.pair_failed && self.pair.is_some() && !attempt.pair_key.is_empty())
            .then(|| self.throttle.store.forget(SCOPE_PAIR, &attempt.pair_key))
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.throttle.fmt(f)
    }
}

/// An attempt refused by a [`Throttle`]: `429 Too Many Requests` with `Retry-After` (problem
/// type [`login-throttled`](crate::problem#login-throttled)). It says neither which counter
/// refused nor whether the identity exists.
#[derive(Clone, Debug)]
pub struct Throttled {
    pub(super) retry_after: u64,
}

impl Throttled {
    /// Seconds until an attempt will be checked again, rounded up.
    pub fn retry_after(&self) -> u64 {
        self.retry_after
    }
}

impl Rejection for Throttled {
    fn problem(&self) -> Problem {
        let s = self.retry_after;
        let detail = if s == 1 {
            "Too many failed attempts. Retry in 1 second.".to_owned()
        } else {
            format!("Too many failed attempts. Retry in {s} seconds.")
        };
        Problem::of(ProblemType::LoginThrottled)
            .with_detail(detail)
            .with_extension("retry_after", s)
            .with_header(RETRY_AFTER, HeaderValue::from(s))
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_IDENTITY_KEY, identity_key};
    use sha2::{Digest, Sha256};

    /// A claimed name is its counters' key up to 64 bytes; a longer one is keyed by its
    /// SHA-256, so a client's 3 KB user names do not become 3 KB keys in Redis.
    #[test]
    fn long_identities_are_keyed_by_their_digest() {
        assert_eq!(identity_key("jane"), b"\0jane");
        let edge = "a".repeat(MAX_IDENTITY_KEY);
        assert_eq!(identity_key(&edge)[1..], *edge.as_bytes());
        // A name that looks like a digest key is still a name.
        let lookalike = format!("\u{1}{}", "x".repeat(32));
        assert_ne!(identity_key(&lookalike)[0], 1);
        let long = "b".repeat(3000);
        let key = identity_key(&long);
        assert_eq!(key.len(), 33);
        assert_eq!(key[0], 1);
        assert_eq!(&key[1..], &Sha256::digest(long.as_bytes())[..]);
        assert_ne!(identity_key(&"c".repeat(3000)), key);
    }
}
