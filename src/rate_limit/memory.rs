//! The in-process store: sharded, bounded, and without a global lock.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use siphasher::sip128::{Hasher128, SipHasher13};
use smallvec::SmallVec;

use super::algorithm::{State, decide};
use super::store::{Check, Clock, Decision, Pending, Store, SystemClock, Verdict};
use crate::auth::Answer;

/// The default bound on the number of keys a [`MemoryStore`] keeps.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// Bytes one key takes in a [`MemoryStore`]'s table: a 128-bit digest of the key and its state.
///
/// The table keeps between 1/8 and 1/2 of its slots free, and one control byte per slot, so a
/// store holding `n` keys uses about `n × 66` to `n × 130` bytes.
pub const BYTES_PER_KEY: usize = std::mem::size_of::<(Digest, Entry)>();

/// Rate-limit counters in this process's memory: the default [`Store`].
///
/// - **No global lock.** Keys are spread over shards (four per CPU, a power of two), each a
///   hash map behind its own mutex held only for the decision's arithmetic; requests for
///   different keys rarely meet. A request checked against several limits locks their shards
///   in a fixed order, so all its checks are decided as one step.
/// - **Keys are digests.** A key is stored as a 128-bit SipHash-1-3 digest under a random
///   per-store secret: a fixed [`BYTES_PER_KEY`] per key whatever the key's length, and no
///   client can aim two keys at one slot.
/// - **Bounded.** At most [`max_keys`](MemoryStoreBuilder::max_keys) keys are kept
///   ([`DEFAULT_MAX_KEYS`] by default). When a shard is full, an insert first sweeps it: keys
///   whose state has run back to a fresh key's (their window ended, their bucket refilled) go
///   first, since forgetting them changes nothing, then keys idle longer than
///   [`idle_timeout`](MemoryStoreBuilder::idle_timeout), then, if the shard is still over 7/8
///   full, the keys idle the longest. A flood of new keys therefore cannot grow memory, and
///   evicts the quietest clients first, never a client that is being limited right now.
/// - [`sweep`](MemoryStore::sweep) does the same for every shard; call it from a timer to
///   return memory after a burst (it is never needed for the bound).
///
/// Clones share the counters.
///
/// ```
/// use std::time::Duration;
/// use tower_shield::rate_limit::{Check, Quota, Algorithm, Rule, MemoryStore, ManualClock, Store};
///
/// let clock = ManualClock::at_unix_secs(1_700_000_000);
/// let store = MemoryStore::builder().clock(clock.clone()).max_keys(10_000).build();
/// let rule = Rule::new(Algorithm::TokenBucket, Quota::per_minute(2))?;
/// let check = Check { scope: "default", key: b"alice", rule, cost: 1 };
/// let decide = || store.decide(&[check]).into_ready().unwrap().unwrap();
/// assert!(decide().allowed());
/// assert!(decide().allowed());
/// assert!(!decide().allowed());
/// clock.advance(Duration::from_secs(30));
/// assert!(decide().allowed());
/// assert_eq!(store.len(), 1);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    mask: u64,
    shard_cap: usize,
    idle: Option<u64>,
    keys: (u64, u64),
    clock: Box<dyn Clock>,
}

type Shard = HashMap<Digest, Entry, BuildHasherDefault<PassThrough>>;

/// A key's 128-bit digest.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digest(u64, u64);

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

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

#[derive(Clone, Copy)]
struct Entry {
    state: State,
    /// When the key was last used, µs.
    seen: u64,
    /// When its state is no different from a fresh key's, µs.
    fresh_at: u64,
}

impl MemoryStore {
    /// A store with the defaults: the system clock, [`DEFAULT_MAX_KEYS`], no idle timeout.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a store.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            max_keys: DEFAULT_MAX_KEYS,
            idle: None,
            clock: None,
            shards: None,
        }
    }

    /// The number of keys held now.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this store holds.
    pub fn max_keys(&self) -> usize {
        self.inner.shard_cap * self.inner.shards.len()
    }

    /// Drops every key whose state is back to a fresh key's, or idle longer than the idle
    /// timeout, and returns how many were dropped. Takes one shard's lock at a time.
    pub fn sweep(&self) -> usize {
        let now = self.inner.clock.now();
        self.inner
            .shards
            .iter()
            .map(|s| self.inner.drop_stale(&mut lock(s), now))
            .sum()
    }

    fn digest(&self, check: &Check<'_>) -> Digest {
        let mut h = SipHasher13::new_with_keys(self.inner.keys.0, self.inner.keys.1);
        h.write_usize(check.scope.len());
        h.write(check.scope.as_bytes());
        h.write(check.key);
        let d = h.finish128();
        Digest(d.h1, d.h2)
    }

    fn shard_of(&self, d: Digest) -> usize {
        usize::try_from(d.1 & self.inner.mask).unwrap_or(0)
    }

    fn decide_one(&self, check: &Check<'_>, now: u64) -> Verdict {
        let digest = self.digest(check);
        let mut shard = lock(&self.inner.shards[self.shard_of(digest)]);
        match shard.get_mut(&digest) {
            Some(entry) => {
                let outcome = decide(&check.rule, &entry.state, now, check.cost);
                // A refused key is active too: the last to be evicted.
                entry.seen = now;
                if outcome.allowed {
                    entry.state = outcome.state;
                    entry.fresh_at = now.saturating_add(outcome.status.expires_after);
                }
                Verdict {
                    allowed: outcome.allowed,
                    status: outcome.status,
                }
            }
            None => {
                let outcome = decide(&check.rule, &State::default(), now, check.cost);
                if outcome.allowed && outcome.status.expires_after > 0 {
                    self.inner.make_room(&mut shard, now);
                    shard.insert(
                        digest,
                        Entry {
                            state: outcome.state,
                            seen: now,
                            fresh_at: now.saturating_add(outcome.status.expires_after),
                        },
                    );
                }
                Verdict {
                    allowed: outcome.allowed,
                    status: outcome.status,
                }
            }
        }
    }

    fn decide_many(&self, checks: &[Check<'_>], now: u64) -> SmallVec<[Verdict; 1]> {
        let digests: SmallVec<[(Digest, usize); 4]> = checks
            .iter()
            .map(|c| {
                let d = self.digest(c);
                (d, self.shard_of(d))
            })
            .collect();
        let mut order: SmallVec<[usize; 4]> = digests.iter().map(|&(_, s)| s).collect();
        order.sort_unstable();
        order.dedup();
        // Locks in ascending shard order: two requests never wait on each other in a cycle.
        let mut guards: SmallVec<[MutexGuard<'_, Shard>; 4]> =
            order.iter().map(|&i| lock(&self.inner.shards[i])).collect();
        let mut outcomes: SmallVec<[_; 4]> = SmallVec::new();
        let mut states: SmallVec<[State; 4]> = SmallVec::new();
        for (check, &(digest, shard)) in checks.iter().zip(&digests) {
            let g = order.binary_search(&shard).unwrap_or(0);
            let state = guards
                .get(g)
                .and_then(|m| m.get(&digest))
                .map(|e| e.state)
                .unwrap_or_default();
            outcomes.push(decide(&check.rule, &state, now, check.cost));
            states.push(state);
        }
        let allowed = outcomes.iter().all(|o| o.allowed);
        if !allowed {
            // Nothing is spent: a check that would have admitted reports its unspent standing.
            for ((outcome, check), state) in outcomes.iter_mut().zip(checks).zip(&states) {
                if outcome.allowed {
                    outcome.status = decide(&check.rule, state, now, 0).status;
                }
            }
        }
        let mut verdicts = SmallVec::new();
        for (outcome, &(digest, shard)) in outcomes.iter().zip(&digests) {
            if !allowed {
                let g = order.binary_search(&shard).unwrap_or(0);
                if let Some(e) = guards.get_mut(g).and_then(|m| m.get_mut(&digest)) {
                    e.seen = now;
                }
            } else if outcome.status.expires_after > 0 {
                let g = order.binary_search(&shard).unwrap_or(0);
                if let Some(map) = guards.get_mut(g) {
                    let entry = Entry {
                        state: outcome.state,
                        seen: now,
                        fresh_at: now.saturating_add(outcome.status.expires_after),
                    };
                    match map.get_mut(&digest) {
                        Some(e) => *e = entry,
                        None => {
                            self.inner.make_room(map, now);
                            map.insert(digest, entry);
                        }
                    }
                }
            }
            verdicts.push(Verdict {
                allowed: outcome.allowed,
                status: outcome.status,
            });
        }
        verdicts
    }
}

impl Inner {
    /// Drops keys that carry no information any more (or idled out); returns how many.
    fn drop_stale(&self, shard: &mut Shard, now: u64) -> usize {
        let before = shard.len();
        let idle_since = self.idle.map(|idle| now.saturating_sub(idle));
        shard.retain(|_, e| e.fresh_at > now && idle_since.is_none_or(|t| e.seen >= t));
        before - shard.len()
    }

    /// Makes room for one more key in a full shard.
    fn make_room(&self, shard: &mut Shard, now: u64) {
        if shard.len() < self.shard_cap {
            return;
        }
        self.drop_stale(shard, now);
        let target = self.shard_cap - self.shard_cap / 8;
        if shard.len() <= target {
            return;
        }
        // Still full of live keys: forget the ones idle the longest.
        let excess = shard.len() - target;
        let mut seen: Vec<u64> = shard.values().map(|e| e.seen).collect();
        let (_, &mut cutoff, _) = seen.select_nth_unstable(excess - 1);
        let mut budget = excess;
        shard.retain(|_, e| {
            if budget > 0 && e.seen <= cutoff {
                budget -= 1;
                false
            } else {
                true
            }
        });
        tracing::warn!(
            target: "tower_shield::rate_limit",
            evicted = excess - budget,
            "memory store full: forgot the keys idle the longest (raise max_keys?)"
        );
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Nothing panics while a shard is locked; if something ever did, its map is still sound.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store for MemoryStore {
    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        let now = self.inner.clock.now();
        let verdicts = match checks {
            [one] => std::iter::once(self.decide_one(one, now)).collect(),
            many => self.decide_many(many, now),
        };
        Answer::Ready(Ok(Decision { now, verdicts }))
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.inner.shards.len())
            .field("max_keys", &self.max_keys())
            .finish_non_exhaustive()
    }
}

/// Configures a [`MemoryStore`].
#[must_use]
pub struct MemoryStoreBuilder {
    max_keys: usize,
    idle: Option<Duration>,
    clock: Option<Box<dyn Clock>>,
    shards: Option<usize>,
}

impl MemoryStoreBuilder {
    /// Holds at most `max_keys` keys (at least 1; default [`DEFAULT_MAX_KEYS`]). The bound
    /// may be rounded down by less than the number of shards.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// Forgets a key not used for `idle`, even if its limit has not run back to full — a
    /// client returning after that starts afresh. Default: keys are kept until their state
    /// is back to a fresh key's (or the store is full).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Reads time from `clock` (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Spreads keys over `shards` shards (rounded up to a power of two; default four per
    /// CPU).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let wanted = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(4, |n| n.get()) * 4);
        let mut shards = wanted.clamp(1, 1024).next_power_of_two();
        // Every shard holds at least 8 keys, and all of them together at most `max_keys`.
        while shards > 1 && self.max_keys / shards < 8 {
            shards /= 2;
        }
        let shard_cap = (self.max_keys / shards).max(1);
        MemoryStore {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
                mask: (shards as u64) - 1,
                shard_cap,
                idle: self
                    .idle
                    .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
                keys: (rand::random(), rand::random()),
                clock: self.clock.unwrap_or_else(|| Box::new(SystemClock::new())),
            }),
        }
    }
}

impl fmt::Debug for MemoryStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStoreBuilder")
            .field("max_keys", &self.max_keys)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::{Algorithm, ManualClock, Quota, Rule};

    fn ready(p: Pending) -> Decision {
        match p {
            Answer::Ready(Ok(d)) => d,
            _ => panic!("the memory store answers at once"),
        }
    }

    #[test]
    fn a_million_keys_stay_under_the_cap() {
        let clock = ManualClock::at_unix_secs(1_700_000_000);
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .max_keys(100_000)
            .build();
        let rule = Rule::new(Algorithm::TokenBucket, Quota::per_hour(10)).unwrap();
        let mut peak = 0;
        for i in 0u32..1_000_000 {
            let key = i.to_le_bytes();
            let check = Check {
                scope: "flood",
                key: &key,
                rule,
                cost: 1,
            };
            assert!(ready(store.decide(&[check])).allowed());
            if i % 1000 == 0 {
                clock.advance(Duration::from_millis(1));
                peak = peak.max(store.len());
            }
        }
        let len = store.len();
        assert!(peak <= 100_000, "peak {peak}");
        assert!(len <= 100_000, "len {len}");
        // The bound is a cap, not a purge: the store stays close to full.
        assert!(len >= 85_000, "len {len}");
        assert_eq!(
            store.max_keys(),
            100_000 / store.inner.shards.len() * store.inner.shards.len()
        );
    }

    #[test]
    fn a_hammered_key_survives_a_flood() {
        let clock = ManualClock::at_unix_secs(1_700_000_000);
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .max_keys(1_000)
            .shards(1)
            .build();
        let rule = Rule::new(Algorithm::TokenBucket, Quota::per_hour(3)).unwrap();
        let hot = Check {
            scope: "s",
            key: b"attacker",
            rule,
            cost: 1,
        };
        for _ in 0..3 {
            assert!(ready(store.decide(&[hot])).allowed());
        }
        for i in 0u32..10_000 {
            clock.advance(Duration::from_micros(10));
            let key = i.to_le_bytes();
            let check = Check {
                scope: "s",
                key: &key,
                rule,
                cost: 1,
            };
            ready(store.decide(&[check]));
            if i % 100 == 0 {
                // Still limited: its entry was never evicted, being the most recently used.
                assert!(!ready(store.decide(&[hot])).allowed());
            }
        }
        assert!(store.len() <= 1_000);
    }

    #[test]
    fn stale_keys_are_swept_and_idle_timeout_applies() {
        let clock = ManualClock::at_unix_secs(1_700_000_000);
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .idle_timeout(Duration::from_secs(60))
            .build();
        let minute = Rule::new(Algorithm::FixedWindow, Quota::per_minute(5)).unwrap();
        let day = Rule::new(Algorithm::TokenBucket, Quota::per_day(5)).unwrap();
        ready(store.decide(&[Check {
            scope: "m",
            key: b"a",
            rule: minute,
            cost: 1,
        }]));
        ready(store.decide(&[Check {
            scope: "d",
            key: b"a",
            rule: day,
            cost: 1,
        }]));
        assert_eq!(store.len(), 2);
        assert_eq!(store.sweep(), 0);
        clock.advance(Duration::from_secs(61));
        // The minute window ended, and the day bucket idled past the timeout.
        assert_eq!(store.sweep(), 2);
        assert!(store.is_empty());
    }

    #[test]
    fn several_checks_are_all_or_nothing() {
        let clock = ManualClock::at_unix_secs(1_700_000_000);
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let burst = Rule::new(Algorithm::TokenBucket, Quota::per_second(2)).unwrap();
        let hourly = Rule::new(Algorithm::FixedWindow, Quota::per_hour(3)).unwrap();
        let checks = |cost| {
            [
                Check {
                    scope: "burst",
                    key: b"k",
                    rule: burst,
                    cost,
                },
                Check {
                    scope: "hourly",
                    key: b"k",
                    rule: hourly,
                    cost,
                },
            ]
        };
        let d = ready(store.decide(&checks(1)));
        assert!(d.allowed());
        assert_eq!(
            d.verdicts
                .iter()
                .map(|v| v.status.remaining)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        let d = ready(store.decide(&checks(1)));
        assert!(d.allowed());
        // The burst refuses: the hourly counter is not spent either.
        let d = ready(store.decide(&checks(1)));
        assert!(!d.allowed());
        assert_eq!(
            d.verdicts
                .iter()
                .map(|v| (v.allowed, v.status.remaining))
                .collect::<Vec<_>>(),
            [(false, 0), (true, 1)]
        );
        clock.advance(Duration::from_secs(1));
        assert!(ready(store.decide(&checks(1))).allowed());
        clock.advance(Duration::from_secs(1));
        // Now the hourly one refuses, and the burst keeps its tokens.
        let d = ready(store.decide(&checks(1)));
        assert_eq!(
            d.verdicts
                .iter()
                .map(|v| (v.allowed, v.status.remaining))
                .collect::<Vec<_>>(),
            [(true, 2), (false, 0)]
        );
    }

    #[test]
    fn bytes_per_key() {
        assert_eq!(BYTES_PER_KEY, 56);
    }
}
