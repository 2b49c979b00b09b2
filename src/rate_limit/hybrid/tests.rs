use super::*;

#[test]
fn the_lease_script_reuses_the_redis_scripts_functions() {
    let (prelude, main) = RedisStore::SCRIPT
        .split_once(SCRIPT_MAIN)
        .expect("redis.lua still starts its main part with `local n = #KEYS`");
    assert!(prelude.contains("local function decide(rule, s, cost)"));
    assert!(!prelude.contains("redis.call('HSET'"));
    assert!(main.contains("redis.call('HSET'"));
}

/// However few leases it may hold, the store holds at most that many: every shard at least 8
/// (or all of them in one), and a full shard makes room for the lease about to come.
#[tokio::test]
async fn the_lease_table_never_holds_more_than_max_leases() {
    for max in [1, 2, 7, 8, 9, 100, 1000, 4096] {
        let redis = RedisStore::builder("redis://127.0.0.1:1")
            .build()
            .expect("a store, connected lazily");
        let store = HybridStore::builder(redis).max_leases(max).build();
        let inner = &store.inner;
        assert!(
            inner.shards.len() * inner.shard_cap <= max,
            "max_leases {max}: {} shards of {}",
            inner.shards.len(),
            inner.shard_cap
        );
        assert!(inner.shard_cap >= max.min(8), "max_leases {max}");
        // A shard filled with live leases (units left, no fetch in flight), then one more made
        // room for, as many times as it takes: never over its cap.
        let mut shard = Shard::default();
        for key in 0..(inner.shard_cap as u64 * 3) {
            inner.make_room(&mut shard, 0);
            let mut lease = Lease::new();
            lease.left = 5;
            lease.until = u64::MAX;
            shard.insert(key, lease);
            assert!(shard.len() <= inner.shard_cap, "max_leases {max}");
        }
    }
}
