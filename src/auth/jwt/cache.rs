//! The verified-token cache: a token seen again is accepted without checking its signature,
//! until its `exp`, and never across a change of a remote key set.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::auth::Principal;

/// A token already verified, and until when it may be accepted without verifying again.
pub(super) struct CacheEntry {
    pub(super) principal: Principal,
    pub(super) exp: u64,
    pub(super) generation: u64,
}

/// A bounded map from a token's SHA-256 digest to its principal, sharded so that readers on
/// different shards never meet.
type Shard = RwLock<HashMap<[u8; 32], CacheEntry>>;

pub(super) struct TokenCache {
    shards: Box<[Shard]>,
    per_shard: usize,
}

const SHARDS: usize = 16;

impl TokenCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The principal of the token with this digest, if it was verified against the key set of
    /// `generation` and `now` is before its `exp`.
    pub(super) fn get(&self, digest: &[u8; 32], now: u64, generation: u64) -> Option<Principal> {
        let shard = self.shard(digest).read().unwrap_or_else(|e| e.into_inner());
        let entry = shard.get(digest)?;
        (now < entry.exp && entry.generation == generation).then(|| entry.principal.clone())
    }

    /// Keeps `entry`; a full shard first drops its expired entries, then any one entry.
    pub(super) fn insert(&self, digest: [u8; 32], entry: CacheEntry, now: u64) {
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, e| now < e.exp);
            if shard.len() >= self.per_shard {
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(digest, entry);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}
