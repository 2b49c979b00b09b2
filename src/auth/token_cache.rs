//! The verified-token cache, shared by `JwtAuth` and `IntrospectionAuth`: a token seen again
//! is answered without checking it again (its signature, or the authorization server), until
//! the entry's expiry, and (JWT) never across a change of a remote key set.
//!
//! Times (`exp`, `now`) are in whatever unit the user of a cache chooses, the same for both:
//! `JwtAuth` uses seconds, `IntrospectionAuth` microseconds.
//!
//! Eviction is first in, first out: each shard keeps its digests in the order they were first
//! inserted, and a full shard drops its oldest entry (expired or not) to make room. An insert
//! looks at one entry, whatever the capacity; no shard is ever scanned under its lock. Expired
//! entries are never served ([`TokenCache::get`] checks `exp`) and leave as they come to the
//! front of the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

use crate::auth::Principal;

/// A token already verified, and until when it may be accepted without verifying again.
pub(crate) struct CacheEntry<V = Principal> {
    /// What the check concluded (for `JwtAuth` the principal; for `IntrospectionAuth` the
    /// principal or `None`, an inactive token).
    pub(crate) principal: V,
    pub(crate) exp: u64,
    pub(crate) generation: u64,
}

/// The entries of one shard, and their digests in insertion order (each present digest once).
struct ShardMap<V> {
    entries: HashMap<[u8; 32], CacheEntry<V>>,
    order: VecDeque<[u8; 32]>,
}

/// A bounded map from a token's SHA-256 digest to its principal, sharded so that readers on
/// different shards never meet.
type Shard<V> = RwLock<ShardMap<V>>;

impl<V> Default for ShardMap<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

pub(crate) struct TokenCache<V = Principal> {
    shards: Box<[Shard<V>]>,
    per_shard: usize,
    /// Entries looked at to make room (a test hook: eviction must not scan).
    #[cfg(test)]
    examined: std::sync::atomic::AtomicUsize,
}

const SHARDS: usize = 16;

impl<V: Clone> TokenCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            #[cfg(test)]
            examined: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> &Shard<V> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The principal of the token with this digest, if it was verified against the key set of
    /// `generation` and `now` is before its `exp`.
    pub(crate) fn get(&self, digest: &[u8; 32], now: u64, generation: u64) -> Option<V> {
        let shard = self.shard(digest).read().unwrap_or_else(|e| e.into_inner());
        let entry = shard.entries.get(digest)?;
        (now < entry.exp && entry.generation == generation).then(|| entry.principal.clone())
    }

    /// Keeps `entry`. A digest already present is replaced in place; a new one goes to the
    /// back of its shard's queue, and a full shard first drops the entry at the front (the
    /// oldest): O(1).
    pub(crate) fn insert(&self, digest: [u8; 32], entry: CacheEntry<V>) {
        let mut guard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let shard = &mut *guard;
        if let Some(present) = shard.entries.get_mut(&digest) {
            *present = entry;
            return;
        }
        while shard.entries.len() >= self.per_shard {
            let Some(oldest) = shard.order.pop_front() else {
                break;
            };
            #[cfg(test)]
            self.examined
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            shard.entries.remove(&oldest);
        }
        shard.entries.insert(digest, entry);
        shard.order.push_back(digest);
    }

    /// How many entries inserts have looked at to make room, since the last call.
    #[cfg(test)]
    pub(crate) fn take_examined(&self) -> usize {
        self.examined.swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }
}
