//! The verified-token cache: a token seen again is accepted without checking its signature,
//! until its `exp`, and never across a change of a remote key set.
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
pub(super) struct CacheEntry {
    pub(super) principal: Principal,
    pub(super) exp: u64,
    pub(super) generation: u64,
}

/// The entries of one shard, and their digests in insertion order (each present digest once).
#[derive(Default)]
struct ShardMap {
    entries: HashMap<[u8; 32], CacheEntry>,
    order: VecDeque<[u8; 32]>,
}

/// A bounded map from a token's SHA-256 digest to its principal, sharded so that readers on
/// different shards never meet.
type Shard = RwLock<ShardMap>;

pub(super) struct TokenCache {
    shards: Box<[Shard]>,
    per_shard: usize,
    /// Entries looked at to make room (a test hook: eviction must not scan).
    #[cfg(test)]
    examined: std::sync::atomic::AtomicUsize,
}

const SHARDS: usize = 16;

impl TokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            #[cfg(test)]
            examined: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The principal of the token with this digest, if it was verified against the key set of
    /// `generation` and `now` is before its `exp`.
    pub(super) fn get(&self, digest: &[u8; 32], now: u64, generation: u64) -> Option<Principal> {
        let shard = self.shard(digest).read().unwrap_or_else(|e| e.into_inner());
        let entry = shard.entries.get(digest)?;
        (now < entry.exp && entry.generation == generation).then(|| entry.principal.clone())
    }

    /// Keeps `entry`. A digest already present is replaced in place; a new one goes to the
    /// back of its shard's queue, and a full shard first drops the entry at the front (the
    /// oldest): O(1).
    pub(super) fn insert(&self, digest: [u8; 32], entry: CacheEntry) {
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
    pub(super) fn take_examined(&self) -> usize {
        self.examined.swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }
}
