//! The in-process store: sharded, bounded, and without a global lock.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use siphasher::sip::SipHasher13;
use smallvec::SmallVec;

use super::algorithm::{Outcome, Rule, State, decide};
use super::store::{Check, Decision, Pending, Store, StoreError, Verdict};
use crate::core::{Answer, Clock, SharedClock, system_clock};

/// The default bound on the number of keys a [`MemoryStore`] keeps.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// Bytes one key takes in a [`MemoryStore`]'s table: a 64-bit digest of the key and its state.
///
/// The table keeps between 1/8 and about 9/16 of its slots free, and one control byte per slot,
/// so a store holding `n` keys uses about `n × 56` to `n × 112` bytes.
pub const BYTES_PER_KEY: usize = std::mem::size_of::<(Digest, Entry)>();

/// Rate-limit counters in this process's memory: the default [`Store`].
///
/// - **No global lock.** Keys are spread over shards (four per CPU, a power of two), each a
///   hash map behind its own read-write lock. A token or leaky bucket is decided under the
///   read lock with one compare-and-swap (as governor does), so requests for one hot key run
///   in parallel; windows, new keys and evictions take the write lock, held only for the
///   arithmetic. A request checked against several limits write-locks their shards in a
///   fixed order, so all its checks are decided as one step.
/// - **Keys are digests.** A key is stored as its 64-bit SipHash-1-3 digest under a random
///   per-store secret: a fixed [`BYTES_PER_KEY`] per key whatever the key's length. No client
///   can compute digests, so none can aim its key at another's counter; by chance, two of a
///   million keys share a counter with a probability of about 3 × 10⁻⁸.
/// - **Bounded.** At most [`max_keys`](MemoryStoreBuilder::max_keys) keys are kept
///   ([`DEFAULT_MAX_KEYS`] by default). When a shard is full, an insert first sweeps it: keys
///   whose state has run back to a fresh key's (their window ended, their bucket refilled) go
///   first, since forgetting them changes nothing, then keys idle longer than
///   [`idle_timeout`](MemoryStoreBuilder::idle_timeout), then, if the shard is still over 7/8
///   full, the keys idle the longest. A flood of new keys therefore cannot grow memory, and
///   evicts the quietest clients first. A key remembered against replays
///   ([`Store::remember`]) counts as used until it expires: counters go before it.
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
    shards: Box<[RwLock<Shard>]>,
    mask: u64,
    shard_cap: usize,
    idle: Option<u64>,
    keys: (u64, u64),
    clock: SharedClock,
}

type Shard = HashMap<Digest, Entry, BuildHasherDefault<PassThrough>>;

/// A key's 64-bit keyed digest.
type Digest = u64;

/// The longest message (scope's length, scope, key) hashed from a buffer on the stack.
const INLINE_MESSAGE: usize = 64;

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

/// A key's state. Buckets (one number) are updated with a compare-and-swap under the shard's
/// read lock; windows (two or three numbers) under its write lock.
struct Entry {
    a: AtomicU64,
    b: AtomicU64,
    c: AtomicU64,
    /// When the key was last used, µs.
    seen: AtomicU64,
    /// When its state is no different from a fresh key's, µs.
    fresh_at: AtomicU64,
}

impl Entry {
    fn new(state: State, now: u64, fresh_at: u64) -> Self {
        Self {
            a: AtomicU64::new(state.a),
            b: AtomicU64::new(state.b),
            c: AtomicU64::new(state.c),
            seen: AtomicU64::new(now),
            fresh_at: AtomicU64::new(fresh_at),
        }
    }

    fn state(&self) -> State {
        State {
            a: self.a.load(Relaxed),
            b: self.b.load(Relaxed),
            c: self.c.load(Relaxed),
        }
    }

    /// Stores `state`: only under the shard's write lock.
    fn set(&self, state: State, now: u64, fresh_at: u64) {
        self.a.store(state.a, Relaxed);
        self.b.store(state.b, Relaxed);
        self.c.store(state.c, Relaxed);
        self.seen.store(now, Relaxed);
        self.fresh_at.store(fresh_at, Relaxed);
    }

    /// Decides a bucket rule (state in `a` alone) with a compare-and-swap: safe under the
    /// shard's read lock, as concurrent deciders retry on a changed `a`.
    fn decide_bucket(&self, check: &Check<'_>, now: u64) -> Outcome {
        let mut current = self.a.load(Relaxed);
        loop {
            let state = State {
                a: current,
                ..State::default()
            };
            let outcome = decide(&check.rule, &state, now, check.cost);
            if !outcome.allowed || outcome.state.a == current {
                self.seen.store(now, Relaxed);
                return outcome;
            }
            match self
                .a
                .compare_exchange_weak(current, outcome.state.a, AcqRel, Relaxed)
            {
                Ok(_) => {
                    // Concurrent swaps may store in either order: the later state's time wins,
                    // so an entry still in use never looks stale to the sweep.
                    self.seen.fetch_max(now, Relaxed);
                    self.fresh_at
                        .fetch_max(now.saturating_add(outcome.status.expires_after), Relaxed);
                    return outcome;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

fn is_bucket(rule: &Rule) -> bool {
    matches!(rule, Rule::TokenBucket { .. } | Rule::LeakyBucket { .. })
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
        self.inner.shards.iter().map(|s| read(s).len()).sum()
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
            .map(|s| self.inner.drop_stale(&mut write(s), now))
            .sum()
    }

    fn digest(&self, check: &Check<'_>) -> Digest {
        self.counter_digest(check.scope, check.key)
    }

    /// The digest of a counter: SipHash-1-3 of the scope's length (prefix-free: one byte below
    /// 255, else 255 and eight bytes), the scope and the key, so no two (scope, key) pairs
    /// make the same message.
    fn counter_digest(&self, scope: &str, key: &[u8]) -> Digest {
        let mut head = [u8::MAX; 9];
        let head = match u8::try_from(scope.len()) {
            Ok(len) if len < u8::MAX => {
                head[0] = len;
                &head[..1]
            }
            _ => {
                let len = u64::try_from(scope.len()).unwrap_or(u64::MAX);
                head[1..].copy_from_slice(&len.to_le_bytes());
                &head[..]
            }
        };
        self.sip([head, scope.as_bytes(), key])
    }

    /// The digest of a remembered key: apart from every counter's, as no scope is `u64::MAX`
    /// bytes long.
    fn remembered_digest(&self, key: &[u8]) -> Digest {
        self.sip([&[u8::MAX; 9], &[], key])
    }

    /// SipHash-1-3 under the store's secret of the three parts, one after the other. A short
    /// message is copied into one buffer and hashed in one pass (the streaming hasher's
    /// bookkeeping for three short writes cost as much as its rounds); a long one is
    /// streamed. Both give the same digest of the same message.
    fn sip(&self, parts: [&[u8]; 3]) -> Digest {
        let mut sip = SipHasher13::new_with_keys(self.inner.keys.0, self.inner.keys.1);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > INLINE_MESSAGE {
            for part in parts {
                sip.write(part);
            }
            return sip.finish();
        }
        let mut buf = [0u8; INLINE_MESSAGE];
        let mut at = 0;
        for part in parts {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        sip.hash(&buf[..len])
    }

    fn shard_of(&self, d: Digest) -> usize {
        // The map's buckets use the low bits; shards the high ones.
        usize::try_from((d >> 48) & self.inner.mask).unwrap_or(0)
    }

    fn decide_one(&self, check: &Check<'_>, now: u64) -> Verdict {
        let digest = self.digest(check);
        let shard = &self.inner.shards[self.shard_of(digest)];
        if is_bucket(&check.rule) {
            // The hot path: a read lock and a compare-and-swap, as in governor.
            if let Some(entry) = read(shard).get(&digest) {
                let outcome = entry.decide_bucket(check, now);
                return Verdict {
                    allowed: outcome.allowed,
                    status: outcome.status,
                };
            }
        }
        let mut map = write(shard);
        let outcome = match map.get(&digest) {
            Some(entry) => {
                let outcome = decide(&check.rule, &entry.state(), now, check.cost);
                if outcome.allowed {
                    entry.set(
                        outcome.state,
                        now,
                        now.saturating_add(outcome.status.expires_after),
                    );
                } else {
                    // A refused key is active too: the last to be evicted.
                    entry.seen.store(now, Relaxed);
                }
                outcome
            }
            None => {
                let outcome = decide(&check.rule, &State::default(), now, check.cost);
                if outcome.allowed && outcome.status.expires_after > 0 {
                    self.inner.make_room(&mut map, now);
                    let fresh_at = now.saturating_add(outcome.status.expires_after);
                    map.insert(digest, Entry::new(outcome.state, now, fresh_at));
                }
                outcome
            }
        };
        Verdict {
            allowed: outcome.allowed,
            status: outcome.status,
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
        // Write locks in ascending shard order: two requests never wait on each other in a
        // cycle, and no one decides on these shards meanwhile.
        let mut guards: SmallVec<[RwLockWriteGuard<'_, Shard>; 4]> = order
            .iter()
            .map(|&i| write(&self.inner.shards[i]))
            .collect();
        let guard_of = |shard: usize| order.binary_search(&shard).unwrap_or(0);
        let mut outcomes: SmallVec<[Outcome; 4]> = SmallVec::new();
        let mut states: SmallVec<[State; 4]> = SmallVec::new();
        for (check, &(digest, shard)) in checks.iter().zip(&digests) {
            let state = guards
                .get(guard_of(shard))
                .and_then(|m| m.get(&digest))
                .map(Entry::state)
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
            if let Some(map) = guards.get_mut(guard_of(shard)) {
                let fresh_at = now.saturating_add(outcome.status.expires_after);
                match map.get(&digest) {
                    Some(e) if allowed => e.set(outcome.state, now, fresh_at),
                    Some(e) => e.seen.store(now, Relaxed),
                    None if allowed && outcome.status.expires_after > 0 => {
                        self.inner.make_room(map, now);
                        map.insert(digest, Entry::new(outcome.state, now, fresh_at));
                    }
                    None => {}
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
        shard.retain(|_, e| {
            e.fresh_at.load(Relaxed) > now && idle_since.is_none_or(|t| e.seen.load(Relaxed) >= t)
        });
        before - shard.len()
    }

    /// Makes room for one more key in a full shard.
    fn make_room(&self, shard: &mut Shard, now: u64) {
        if shard.len() < self.shard_cap {
            return;
        }
        self.drop_stale(shard, now);
        // An eighth of the shard freed, at least one key: with fewer than 8 per shard an eighth
        // is none, and the key about to come would make the shard one over its cap.
        let target = self.shard_cap - (self.shard_cap / 8).max(1);
        if shard.len() <= target {
            return;
        }
        // Still full of live keys: forget the ones idle the longest.
        let excess = shard.len() - target;
        let mut seen: Vec<u64> = shard.values().map(|e| e.seen.load(Relaxed)).collect();
        let (_, &mut cutoff, _) = seen.select_nth_unstable(excess - 1);
        let mut budget = excess;
        shard.retain(|_, e| {
            if budget > 0 && e.seen.load(Relaxed) <= cutoff {
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
        // Only remembered keys count as used after now (a second's margin for counters used
        // by a thread whose clock read came later): one forgotten early is a replay accepted.
        if cutoff > now.saturating_add(1_000_000) {
            tracing::warn!(
                target: "tower_shield::rate_limit",
                "memory store full of remembered keys: some forgotten before they expire, \
                 so replays of those messages would be accepted (raise max_keys)"
            );
        }
    }
}

// Nothing panics while a shard is locked; if something ever did, its map is still sound.
fn read(shard: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

impl Store for MemoryStore {
    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        let now = self.inner.clock.now();
        let verdicts = match checks {
            [one] => SmallVec::from_buf([self.decide_one(one, now)]),
            many => self.decide_many(many, now),
        };
        Answer::Ready(Ok(Decision { now, verdicts }))
    }

    fn forget(&self, scope: &str, key: &[u8]) -> Answer<Result<(), StoreError>> {
        let digest = self.counter_digest(scope, key);
        write(&self.inner.shards[self.shard_of(digest)]).remove(&digest);
        Answer::Ready(Ok(()))
    }

    /// Remembered keys share the table, and its bound, with the counters, but a full table
    /// forgets counters first: a remembered key counts as used until it expires, so neither
    /// the idle timeout nor a flood of new counter keys (which any client can send when the
    /// store is shared with a rate limit) makes it forgotten early. Only a table full of
    /// remembered keys forgets the ones that expire soonest (and logs a warning).
    fn remember(&self, key: &[u8], ttl_us: u64) -> Answer<Result<bool, StoreError>> {
        let now = self.inner.clock.now();
        let digest = self.remembered_digest(key);
        let mut map = write(&self.inner.shards[self.shard_of(digest)]);
        if map
            .get(&digest)
            .is_some_and(|e| e.fresh_at.load(Relaxed) > now)
        {
            return Answer::Ready(Ok(false));
        }
        self.inner.make_room(&mut map, now);
        let until = now.saturating_add(ttl_us.max(1));
        // Seen at its expiry: the last to go when room is made, never idle before then.
        map.insert(digest, Entry::new(State::default(), until, until));
        Answer::Ready(Ok(true))
    }

    fn forget_remembered(&self, key: &[u8]) -> Answer<Result<(), StoreError>> {
        let digest = self.remembered_digest(key);
        write(&self.inner.shards[self.shard_of(digest)]).remove(&digest);
        Answer::Ready(Ok(()))
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
    clock: Option<SharedClock>,
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

    /// Reads time from `clock` (default [`SystemClock`](crate::core::SystemClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// [`clock`](Self::clock), already shared.
    pub(crate) fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
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
                shards: (0..shards).map(|_| RwLock::new(Shard::default())).collect(),
                mask: (shards as u64) - 1,
                shard_cap,
                idle: self
                    .idle
                    .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
                keys: (rand::random(), rand::random()),
                clock: self.clock.unwrap_or_else(system_clock),
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
mod tests;
