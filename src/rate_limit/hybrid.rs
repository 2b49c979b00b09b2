//! The hybrid store: decisions in process, against leases of the quota taken from Redis.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use siphasher::sip::SipHasher13;
use smallvec::SmallVec;

use super::algorithm::{Rule, Status};
use super::redis::{RedisStore, max_units, rule_args};
use super::store::{Check, Decision, Pending, Store, StoreError, StoreErrorKind, Verdict};
use crate::core::{Answer, Clock, SharedClock, system_clock};

/// The default most units one lease holds ([`HybridStoreBuilder::lease`]).
pub const DEFAULT_LEASE: u32 = 64;

/// The default share of a limit one lease holds at most: 1/100
/// ([`HybridStoreBuilder::lease_fraction`]).
pub const DEFAULT_LEASE_FRACTION: u32 = 100;

/// The default bound on the counters a [`HybridStore`] holds leases for.
pub const DEFAULT_MAX_LEASES: usize = 100_000;

/// Lease rounds a decision tries (others may spend a fresh lease first) before it asks Redis
/// for the decision itself.
const ROUNDS: usize = 4;

/// Rate-limit decisions made in this process, against leases of each counter's quota taken
/// from Redis in batches: one limit across instances at the cost of a local decision.
///
/// A [`RedisStore`] asks Redis once per request. A `HybridStore` asks it once per *lease*: when
/// a counter has no units left here, one atomic Lua call (on Redis's clock, with the very
/// arithmetic of the Redis store) spends up to a lease's worth of units of the shared counter
/// and hands them to this instance, which then admits requests against them in memory until
/// they run out. Requests that the lease covers are decided at once
/// ([`Answer::Ready`]), with no round trip; one request per lease waits for Redis. Nothing is
/// given back: units leased and not spent are lost when their lease ends.
///
/// - **Lease size.** `min(lease, max(1, limit / lease_fraction))` units, and at least the
///   request's cost ([`lease`](HybridStoreBuilder::lease), default [`DEFAULT_LEASE`];
///   [`lease_fraction`](HybridStoreBuilder::lease_fraction), default
///   [`DEFAULT_LEASE_FRACTION`]). `limit` is the rule's [`limit`](Rule::limit): a token
///   bucket's burst, a window's limit. A small limit thus leases one unit at a time, and
///   decides every request in Redis, exactly.
/// - **One lease request at a time** per counter in each process: concurrent requests short of
///   units wait for it rather than lease again.
/// - **Refusals are remembered.** When Redis has not the units a request needs, the counter is
///   refused here, for requests that need as many units or more, until Redis's `retry_after`.
/// - **Windows end leases.** A lease of a fixed or sliding window ends with the window it was
///   counted in; a token bucket's lease does not end (it is evicted only when
///   [`max_leases`](HybridStoreBuilder::max_leases) counters hold one).
/// - Leaky buckets (their requests wait for a turn each) are decided in Redis, one round trip
///   per request, as the [`RedisStore`] does; so are requests whose checks are on different
///   client keys of a Redis Cluster (one script cannot span hash slots).
///
/// # The bound
///
/// With `I` instances and leases of `L` units (the lease size above, or the largest cost if
/// larger), at most `I × L` units of a counter are held outside Redis at any time. Every unit
/// admitted was first spent in Redis, so over any interval of time the instances together admit
/// **at most what a single [`RedisStore`] would have admitted over it, plus `I × L`** (units
/// leased before the interval and spent in it). A fixed window never admits more than its limit
/// (its leases end with it); a token bucket or a sliding window may admit up to `I × L` more
/// within one period than its limit. The price is the same bound the other way: up to `I × L`
/// units may sit unspent in other instances' leases while one instance is refused, and a
/// window's leftovers are lost when it ends. With the defaults, `L` is at most 1% of the limit:
/// 4 instances stay within 4% of it.
///
/// `X-RateLimit-Remaining` and the reset are those of the counter when this instance last
/// leased, plus its unspent lease: estimates, as every instance spends the same counter.
///
/// ```no_run
/// use tower_shield::rate_limit::{HybridStore, Limit, Quota, RateLimitLayer, RedisStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisStore::builder("redis://127.0.0.1:6379/").prefix("myapi:").build()?;
/// // 100,000 requests per minute across every instance: each leases up to 64 at a time.
/// let store = HybridStore::builder(redis).lease(64).build();
/// let layer = RateLimitLayer::builder()
///     .store(store)
///     .limit(Limit::new("global", Quota::per_minute(100_000)))
///     .build()?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HybridStore {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisStore,
    script: redis::Script,
    lease: u64,
    fraction: u64,
    shards: Box<[Mutex<Shard>]>,
    mask: u64,
    shard_cap: usize,
    keys: (u64, u64),
    clock: SharedClock,
}

type Shard = HashMap<u64, Lease, BuildHasherDefault<PassThrough>>;

/// The digest is already a keyed hash: the map uses it as is.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// This instance's lease of one counter. Times are the store's clock, µs.
struct Lease {
    /// Units leased and not spent yet.
    left: u64,
    /// When the lease ends: its window's end; `u64::MAX` for a token bucket.
    until: u64,
    /// The counter's units left in Redis after the last lease.
    shared: u64,
    /// When the counter is full again, as of the last lease.
    reset_at: u64,
    /// Refused by Redis: requests needing `blocked_need` units or more beyond the lease are
    /// refused here until `blocked_until`.
    blocked_until: u64,
    blocked_need: u64,
    /// One lease request at a time per counter.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

impl Lease {
    fn new() -> Self {
        Self {
            left: 0,
            until: 0,
            shared: 0,
            reset_at: 0,
            blocked_until: 0,
            blocked_need: 0,
            fetching: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn left_at(&self, now: u64) -> u64 {
        if now < self.until { self.left } else { 0 }
    }

    fn status(&self, now: u64, rule: &Rule) -> Status {
        let limit = rule.limit();
        let reset_after = self.reset_at.saturating_sub(now);
        Status {
            limit,
            remaining: self.left_at(now).saturating_add(self.shared).min(limit),
            reset_after,
            retry_after: None,
            delay: 0,
            expires_after: reset_after,
        }
    }
}

/// One check, as the lease logic needs it.
#[derive(Clone, Copy)]
struct Item {
    digest: u64,
    rule: Rule,
    cost: u64,
}

/// What the leases here say about a request.
enum Local {
    /// Decided: admitted (and spent) or refused.
    Decided(SmallVec<[Verdict; 1]>),
    /// These checks (index, units left here) need a lease first.
    Short(SmallVec<[(usize, u64); 2]>),
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Nothing panics while a shard is locked; if something ever did, its map is still sound.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HybridStore {
    /// A hybrid store leasing from `redis` (which it also uses for leaky buckets and
    /// [`remember`](Store::remember)).
    pub fn builder(redis: RedisStore) -> HybridStoreBuilder {
        HybridStoreBuilder {
            redis,
            lease: DEFAULT_LEASE,
            fraction: DEFAULT_LEASE_FRACTION,
            max_leases: DEFAULT_MAX_LEASES,
            clock: None,
        }
    }

    /// The units a lease of `rule`'s counter holds (before the request's cost is added).
    pub fn lease_size(&self, rule: &Rule) -> u64 {
        self.inner.lease_size(rule)
    }

    /// The number of counters holding a lease (or a remembered refusal) now.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no counter holds a lease.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn lease_size(&self, rule: &Rule) -> u64 {
        (rule.limit() / self.fraction).clamp(1, self.lease)
    }

    fn digest(&self, check: &Check<'_>) -> u64 {
        self.digest_of(check.scope, check.key)
    }

    fn digest_of(&self, scope: &str, key: &[u8]) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        h.write_usize(scope.len());
        h.write(scope.as_bytes());
        h.write(key);
        h.finish()
    }

    fn shard_of(&self, digest: u64) -> usize {
        usize::try_from((digest >> 48) & self.mask).unwrap_or(0)
    }

    /// Decides `items` against the leases held here, if they suffice (or a remembered refusal
    /// answers); spends them when all admit.
    fn try_local(&self, items: &[Item], now: u64) -> Local {
        let mut order: SmallVec<[usize; 4]> =
            items.iter().map(|i| self.shard_of(i.digest)).collect();
        order.sort_unstable();
        order.dedup();
        // Locks in ascending shard order: two requests never wait on each other in a cycle.
        let mut guards: SmallVec<[MutexGuard<'_, Shard>; 4]> =
            order.iter().map(|&i| lock(&self.shards[i])).collect();
        let slot = |digest: u64| order.binary_search(&self.shard_of(digest)).unwrap_or(0);
        let mut short: SmallVec<[(usize, u64); 2]> = SmallVec::new();
        let mut blocked = false;
        for (index, item) in items.iter().enumerate() {
            let lease = guards
                .get(slot(item.digest))
                .and_then(|m| m.get(&item.digest));
            let left = lease.map_or(0, |l| l.left_at(now));
            if left >= item.cost {
                continue;
            }
            let need = item.cost - left;
            if lease.is_some_and(|l| l.blocked_until > now && need >= l.blocked_need) {
                blocked = true;
            } else {
                short.push((index, left));
            }
        }
        if !blocked && !short.is_empty() {
            return Local::Short(short);
        }
        let mut verdicts = SmallVec::new();
        for item in items {
            let Some(lease) = guards
                .get_mut(slot(item.digest))
                .and_then(|m| m.get_mut(&item.digest))
            else {
                // A short check without a lease, beside a blocked one (a short request with
                // none blocked was not decided here): the request is refused for the blocked
                // check, and this one neither refuses it nor spends. Not marked refused: a
                // refusal without a wait would be taken for the one that binds, and its 429
                // would lose the blocked check's `Retry-After` and name the wrong limit.
                verdicts.push(Verdict {
                    allowed: true,
                    status: Status {
                        limit: item.rule.limit(),
                        remaining: item.rule.limit(),
                        reset_after: 0,
                        retry_after: None,
                        delay: 0,
                        expires_after: 0,
                    },
                });
                continue;
            };
            let left = lease.left_at(now);
            if !blocked {
                lease.left = left - item.cost;
                verdicts.push(Verdict {
                    allowed: true,
                    status: lease.status(now, &item.rule),
                });
            } else if left < item.cost
                && lease.blocked_until > now
                && item.cost - left >= lease.blocked_need
            {
                let mut status = lease.status(now, &item.rule);
                status.retry_after = Some(lease.blocked_until - now);
                verdicts.push(Verdict {
                    allowed: false,
                    status,
                });
            } else {
                // Refused for another check: this one's standing, nothing spent.
                verdicts.push(Verdict {
                    allowed: true,
                    status: lease.status(now, &item.rule),
                });
            }
        }
        Local::Decided(verdicts)
    }

    /// The fetch locks of the short checks' counters, creating their entries.
    fn fetch_locks(
        &self,
        items: &[Item],
        short: &[(usize, u64)],
        now: u64,
    ) -> SmallVec<[Arc<tokio::sync::Mutex<()>>; 2]> {
        let mut digests: SmallVec<[u64; 2]> = short
            .iter()
            .filter_map(|&(i, _)| items.get(i).map(|it| it.digest))
            .collect();
        digests.sort_unstable();
        digests.dedup();
        digests
            .iter()
            .map(|&d| {
                let mut map = lock(&self.shards[self.shard_of(d)]);
                if !map.contains_key(&d) {
                    self.make_room(&mut map, now);
                }
                Arc::clone(&map.entry(d).or_insert_with(Lease::new).fetching)
            })
            .collect()
    }

    /// Makes room for one more counter in a full shard: drops spent, unblocked leases first,
    /// then (still 7/8 full) any. Dropped units are lost, never over-admitted.
    fn make_room(&self, map: &mut Shard, now: u64) {
        if map.len() < self.shard_cap {
            return;
        }
        map.retain(|_, l| {
            Arc::strong_count(&l.fetching) > 1 || l.left_at(now) > 0 || l.blocked_until > now
        });
        // An eighth freed, at least one: with fewer than 8 per shard an eighth is none, and the
        // counter about to come would make the shard one over its cap.
        let target = self.shard_cap - (self.shard_cap / 8).max(1);
        if map.len() > target {
            let mut excess = map.len() - target;
            map.retain(|_, l| {
                if excess > 0 && Arc::strong_count(&l.fetching) == 1 {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
            tracing::warn!(
                target: "tower_shield::rate_limit",
                "hybrid store full: dropped leases (raise max_leases?)"
            );
        }
    }

    /// Asks Redis for leases for `short`; applies the grants. `Some(verdicts)` when Redis
    /// refused (nothing was granted), `None` when the leases were granted.
    async fn lease(
        &self,
        items: &[Item],
        redis_keys: &[String],
        short: &[(usize, u64)],
    ) -> Result<Option<SmallVec<[Verdict; 1]>>, StoreError> {
        let sent = self.clock.now();
        let mut keys: SmallVec<[String; 2]> = SmallVec::new();
        let mut args: SmallVec<[u64; 10]> = SmallVec::new();
        let mut needs: SmallVec<[u64; 2]> = SmallVec::new();
        for &(i, left) in short {
            let (Some(item), Some(key)) = (items.get(i), redis_keys.get(i)) else {
                return Err(protocol("a check went missing"));
            };
            let need = item.cost.saturating_sub(left).max(1);
            let ask = self
                .lease_size(&item.rule)
                .max(item.cost)
                .saturating_sub(left)
                .max(need);
            keys.push(key.clone());
            args.extend(rule_args(&item.rule));
            args.extend([ask, need]);
            needs.push(need);
        }
        let run = self.redis.run_script(&self.script, &keys, &args);
        let reply = match tokio::time::timeout(self.redis.timeout(), run).await {
            Ok(reply) => reply?,
            Err(_) => return Err(StoreError::timeout()),
        };
        let bad = || protocol("the lease script answered an unexpected shape");
        let rest = reply.get(1..).ok_or_else(bad)?;
        if rest.len() != short.len() * 5 {
            return Err(bad());
        }
        let n = |v: i64| u64::try_from(v).map_err(|_| bad());
        let mut granted_all = true;
        let now = self.clock.now();
        for ((&(i, _), c), &need) in short.iter().zip(rest.chunks_exact(5)).zip(&needs) {
            let Some(item) = items.get(i) else {
                return Err(bad());
            };
            let (granted, remaining, reset_after) = (n(c[0])?, n(c[1])?, n(c[2])?);
            let mut map = lock(&self.shards[self.shard_of(item.digest)]);
            if !map.contains_key(&item.digest) {
                self.make_room(&mut map, now);
            }
            let lease = map.entry(item.digest).or_insert_with(Lease::new);
            lease.shared = remaining;
            lease.reset_at = sent.saturating_add(reset_after);
            if granted > 0 {
                // Times from `sent`: Redis decided after it, so a window's lease ends here no
                // later than the window does there.
                let until = if c[4] < 0 {
                    u64::MAX
                } else {
                    sent.saturating_add(n(c[4])?)
                };
                lease.left = lease.left_at(now).saturating_add(granted);
                lease.until = until;
                lease.blocked_until = 0;
            } else {
                granted_all = false;
                if c[3] >= 0 && remaining < need {
                    lease.blocked_until = sent.saturating_add(n(c[3])?);
                    lease.blocked_need = need;
                }
            }
        }
        if granted_all {
            return Ok(None);
        }
        // Refused: nothing was granted. The refusing checks wait, the others report.
        let mut verdicts = SmallVec::new();
        for (i, item) in items.iter().enumerate() {
            let map = lock(&self.shards[self.shard_of(item.digest)]);
            let lease = map.get(&item.digest);
            let mut status = lease.map_or(
                Status {
                    limit: item.rule.limit(),
                    remaining: 0,
                    reset_after: 0,
                    retry_after: None,
                    delay: 0,
                    expires_after: 0,
                },
                |l| l.status(now, &item.rule),
            );
            let refused = short
                .iter()
                .zip(rest.chunks_exact(5))
                .zip(&needs)
                .any(|((&(s, _), c), &need)| s == i && u64::try_from(c[1]).unwrap_or(0) < need);
            if refused {
                status.retry_after = lease
                    .filter(|l| l.blocked_until > now)
                    .map(|l| l.blocked_until - now);
            }
            verdicts.push(Verdict {
                allowed: !refused,
                status,
            });
        }
        Ok(Some(verdicts))
    }
}

fn protocol(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::Protocol, what)
}

/// A check owned by the future that leases for it.
struct Owned {
    scope: String,
    key: Vec<u8>,
    rule: Rule,
    cost: u32,
}

impl HybridStore {
    async fn decide_later(
        self,
        items: SmallVec<[Item; 2]>,
        owned: SmallVec<[Owned; 2]>,
        mut short: SmallVec<[(usize, u64); 2]>,
    ) -> Result<Decision, StoreError> {
        let inner = &*self.inner;
        let redis_keys: SmallVec<[String; 2]> = owned
            .iter()
            .map(|o| {
                inner.redis.key_of(&Check {
                    scope: &o.scope,
                    key: &o.key,
                    rule: o.rule,
                    cost: o.cost,
                })
            })
            .collect();
        for _ in 0..ROUNDS {
            // One lease request per counter at a time: wait for the one under way, if any,
            // then look again.
            let locked: SmallVec<[u64; 2]> = short
                .iter()
                .filter_map(|&(i, _)| items.get(i).map(|it| it.digest))
                .collect();
            let locks = inner.fetch_locks(&items, &short, inner.clock.now());
            let mut guards = Vec::with_capacity(locks.len());
            for l in locks {
                guards.push(l.lock_owned().await);
            }
            let now = inner.clock.now();
            short = match inner.try_local(&items, now) {
                Local::Decided(verdicts) => return Ok(Decision { now, verdicts }),
                Local::Short(short) => short,
            };
            // While this waited, another counter of the request may have run short: it is
            // leased only under its own lock (one lease request per counter at a time, or
            // one process could hold several leases of it), so look again, locking it too.
            let unlocked = short
                .iter()
                .any(|&(i, _)| items.get(i).is_none_or(|it| !locked.contains(&it.digest)));
            if unlocked {
                drop(guards);
                continue;
            }
            if let Some(verdicts) = inner.lease(&items, &redis_keys, &short).await? {
                return Ok(Decision {
                    now: inner.clock.now(),
                    verdicts,
                });
            }
            drop(guards);
            let now = inner.clock.now();
            short = match inner.try_local(&items, now) {
                Local::Decided(verdicts) => return Ok(Decision { now, verdicts }),
                Local::Short(short) => short,
            };
        }
        // Others kept spending each fresh lease first: let Redis decide this one.
        let checks: SmallVec<[Check<'_>; 2]> = owned
            .iter()
            .map(|o| Check {
                scope: &o.scope,
                key: &o.key,
                rule: o.rule,
                cost: o.cost,
            })
            .collect();
        inner.redis.decide(&checks).resolve().await
    }
}

impl Store for HybridStore {
    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        let inner = &*self.inner;
        // A queue (leaky bucket) or a failure counter (backoff) is no quota to lease.
        let leaky = checks
            .iter()
            .any(|c| matches!(c.rule, Rule::LeakyBucket { .. } | Rule::Backoff { .. }));
        let cross_slot = inner.redis.is_cluster() && checks.iter().any(|c| c.key != checks[0].key);
        // A capacity or a cost beyond what the script takes exactly (decades of refill):
        // decided in Redis, which bounds it, rather than leased a bounded part at a time.
        let absurd = checks.iter().any(|c| {
            let max = max_units(&c.rule);
            c.rule.limit() > max || u64::from(c.cost) > max
        });
        if leaky || cross_slot || absurd {
            return inner.redis.decide(checks);
        }
        let items: SmallVec<[Item; 2]> = checks
            .iter()
            .map(|c| Item {
                digest: inner.digest(c),
                rule: c.rule,
                cost: u64::from(c.cost),
            })
            .collect();
        let now = inner.clock.now();
        let short = match inner.try_local(&items, now) {
            Local::Decided(verdicts) => return Answer::Ready(Ok(Decision { now, verdicts })),
            Local::Short(short) => short,
        };
        let owned = checks
            .iter()
            .map(|c| Owned {
                scope: c.scope.to_owned(),
                key: c.key.to_vec(),
                rule: c.rule,
                cost: c.cost,
            })
            .collect();
        // The whole wait is bounded by the store's timeout, the queue for the counter's lock
        // included: with Redis hung, requests queued on one key each waiting their own call's
        // timeout in turn would wait longer the further back they are.
        let timeout = inner.redis.timeout();
        let later = self.clone().decide_later(items, owned, short);
        Answer::later(async move {
            match tokio::time::timeout(timeout, later).await {
                Ok(decision) => decision,
                Err(_) => Err(StoreError::timeout()),
            }
        })
    }

    /// Forgets the counter in Redis (`DEL`), and this instance's lease of it or remembered
    /// refusal: the next request leases afresh. Other instances keep their leases (at most
    /// theirs: the bound holds).
    fn forget(&self, scope: &str, key: &[u8]) -> Answer<Result<(), StoreError>> {
        let digest = self.inner.digest_of(scope, key);
        lock(&self.inner.shards[self.inner.shard_of(digest)]).remove(&digest);
        self.inner.redis.forget(scope, key)
    }

    /// Remembered in Redis: see [`RedisStore`].
    fn remember(&self, key: &[u8], ttl_us: u64) -> Answer<Result<bool, StoreError>> {
        self.inner.redis.remember(key, ttl_us)
    }

    /// Forgotten in Redis.
    fn forget_remembered(&self, key: &[u8]) -> Answer<Result<(), StoreError>> {
        self.inner.redis.forget_remembered(key)
    }
}

impl fmt::Debug for HybridStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridStore")
            .field("redis", &self.inner.redis)
            .field("lease", &self.inner.lease)
            .field("lease_fraction", &self.inner.fraction)
            .field(
                "max_leases",
                &(self.inner.shard_cap * self.inner.shards.len()),
            )
            .finish_non_exhaustive()
    }
}

/// Configures a [`HybridStore`]; from [`HybridStore::builder`].
#[must_use]
pub struct HybridStoreBuilder {
    redis: RedisStore,
    lease: u32,
    fraction: u32,
    max_leases: usize,
    clock: Option<SharedClock>,
}

impl HybridStoreBuilder {
    /// Leases at most `units` units of a counter at a time (at least 1; default
    /// [`DEFAULT_LEASE`]). Larger leases ask Redis less often, and widen the bound (see
    /// [`HybridStore`]).
    pub fn lease(mut self, units: u32) -> Self {
        self.lease = units.max(1);
        self
    }

    /// Leases at most `1 / n` of a counter's limit at a time (`n` at least 1; default
    /// [`DEFAULT_LEASE_FRACTION`], 1%).
    pub fn lease_fraction(mut self, n: u32) -> Self {
        self.fraction = n.max(1);
        self
    }

    /// Holds leases for at most `n` counters (default [`DEFAULT_MAX_LEASES`]); past it, spent
    /// leases are dropped first, then any (their units are lost, never over-admitted).
    pub fn max_leases(mut self, n: usize) -> Self {
        self.max_leases = n.max(1);
        self
    }

    /// Reads time from `clock` (default [`SystemClock`](crate::core::SystemClock)): when a
    /// window's lease ends, until when a refusal is remembered.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The store.
    pub fn build(self) -> HybridStore {
        let mut shards = (std::thread::available_parallelism().map_or(4, |n| n.get()) * 4)
            .clamp(1, 1024)
            .next_power_of_two();
        // Every shard holds at least 8 leases, and all of them together at most `max_leases`
        // (a shard of one could not be held to its cap).
        while shards > 1 && self.max_leases / shards < 8 {
            shards /= 2;
        }
        let shard_cap = (self.max_leases / shards).max(1);
        // The lease script: the Redis store's decision functions, then its own main part.
        let prelude = RedisStore::SCRIPT
            .split_once(SCRIPT_MAIN)
            .map_or(RedisStore::SCRIPT, |(prelude, _)| prelude);
        let script = format!("{prelude}\n{}", include_str!("hybrid.lua"));
        HybridStore {
            inner: Arc::new(Inner {
                redis: self.redis,
                script: redis::Script::new(&script),
                lease: u64::from(self.lease),
                fraction: u64::from(self.fraction),
                shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
                mask: (shards as u64) - 1,
                shard_cap,
                keys: (rand::random(), rand::random()),
                clock: self.clock.unwrap_or_else(system_clock),
            }),
        }
    }
}

/// Where the Redis store's script stops defining functions and starts deciding.
const SCRIPT_MAIN: &str = "\nlocal n = #KEYS\n";

impl fmt::Debug for HybridStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridStoreBuilder")
            .field("lease", &self.lease)
            .field("lease_fraction", &self.fraction)
            .field("max_leases", &self.max_leases)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
