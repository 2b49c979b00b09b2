//! Probes of the Redis-backed stores against real redis-server processes that the tests
//! start: keys of another type, `SCRIPT FLUSH`, restarts, replay keys, key encoding, and
//! numbers beyond the exact range of Lua's doubles.

#[path = "common/redis.rs"]
mod redis_support;

use std::time::Duration;

use redis_support::RedisServer;
use tower_shield::rate_limit::{
    Algorithm, Answer, Check, Decision, HybridStore, ManualClock, Quota, RedisStore, Rule, Store,
    StoreError, StoreErrorKind,
};

async fn try_decide(store: &impl Store, checks: &[Check<'_>]) -> Result<Decision, StoreError> {
    match store.decide(checks) {
        Answer::Ready(r) => r,
        Answer::Later(f) => f.await,
    }
}

async fn remember(store: &impl Store, key: &[u8], ttl_us: u64) -> Result<bool, StoreError> {
    match store.remember(key, ttl_us) {
        Answer::Ready(r) => r,
        Answer::Later(f) => f.await,
    }
}

async fn forget(store: &impl Store, scope: &str, key: &[u8]) -> Result<(), StoreError> {
    match store.forget(scope, key) {
        Answer::Ready(r) => r,
        Answer::Later(f) => f.await,
    }
}

fn store(server: &RedisServer) -> RedisStore {
    store_timing_out(server, Duration::from_secs(2))
}

fn store_timing_out(server: &RedisServer, timeout: Duration) -> RedisStore {
    RedisStore::builder(server.url())
        .prefix("p:")
        .timeout(timeout)
        .build()
        .unwrap()
}

/// Whether `store` admits the one check `c`.
async fn admitted(store: &impl Store, c: &Check<'_>) -> bool {
    try_decide(store, std::slice::from_ref(c))
        .await
        .unwrap()
        .verdicts[0]
        .allowed
}

fn rule(algorithm: Algorithm, quota: Quota) -> Rule {
    Rule::new(algorithm, quota).unwrap()
}

fn check<'a>(scope: &'a str, key: &'a [u8], rule: Rule, cost: u32) -> Check<'a> {
    Check {
        scope,
        key,
        rule,
        cost,
    }
}

/// Retries a decision until the store answers (a reconnect after a restart), at most `n` times.
async fn eventually(store: &impl Store, c: &Check<'_>, n: usize) -> Decision {
    for _ in 0..n {
        if let Ok(d) = try_decide(store, std::slice::from_ref(c)).await {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store never answered again");
}

const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::TokenBucket,
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
];

#[tokio::test]
async fn a_counter_key_of_another_type_is_a_protocol_error_then_works_once_deleted() {
    let server = RedisServer::start();
    let store = store(&server);
    for (i, algorithm) in ALGORITHMS.into_iter().enumerate() {
        let scope = format!("wrongtype{i}");
        let c = check(&scope, b"client", rule(algorithm, Quota::per_minute(5)), 1);
        let key = store.key_of(&c);
        assert_eq!(server.cli(&["SET", &key, "poison"]), "OK");
        let err = try_decide(&store, std::slice::from_ref(&c))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Protocol, "{algorithm:?}: {err}");
        // Nothing was written over the poison.
        assert_eq!(server.cli(&["GET", &key]), "poison");
        // A list too.
        assert_eq!(server.cli(&["DEL", &key]), "1");
        assert_eq!(server.cli(&["RPUSH", &key, "x"]), "1");
        let err = try_decide(&store, std::slice::from_ref(&c))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Protocol);
        assert_eq!(server.cli(&["DEL", &key]), "1");
        let d = try_decide(&store, std::slice::from_ref(&c)).await.unwrap();
        assert!(d.verdicts[0].allowed);
        assert_eq!(d.verdicts[0].status.remaining, 4);
    }
}

#[tokio::test]
async fn a_poisoned_key_among_several_checks_spends_none_of_them() {
    let server = RedisServer::start();
    let store = store(&server);
    let r = rule(Algorithm::FixedWindow, Quota::per_minute(5));
    let good = check("good", b"client", r, 1);
    let bad = check("bad", b"client", r, 1);
    assert_eq!(server.cli(&["SET", &store.key_of(&bad), "poison"]), "OK");
    let err = try_decide(&store, &[good, bad]).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Protocol);
    // The good counter, read before the poisoned one, was not written: the script reads all
    // first and writes only once every check was decided.
    assert_eq!(server.cli(&["EXISTS", &store.key_of(&good)]), "0");
}

#[tokio::test]
async fn a_hybrid_store_on_a_poisoned_key_fails_and_leases_nothing() {
    let server = RedisServer::start();
    let redis = store(&server);
    let clock = ManualClock::at_unix_secs(1_000);
    let hybrid = HybridStore::builder(redis.clone())
        .lease(10)
        .lease_fraction(1)
        .clock(clock)
        .build();
    for (i, algorithm) in ALGORITHMS.into_iter().enumerate() {
        let scope = format!("hwrong{i}");
        let c = check(
            &scope,
            b"client",
            rule(algorithm, Quota::per_minute(100)),
            1,
        );
        let key = redis.key_of(&c);
        assert_eq!(server.cli(&["SET", &key, "poison"]), "OK");
        let err = try_decide(&hybrid, std::slice::from_ref(&c))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Protocol);
        assert_eq!(server.cli(&["DEL", &key]), "1");
        let d = try_decide(&hybrid, std::slice::from_ref(&c)).await.unwrap();
        assert!(d.verdicts[0].allowed);
    }
}

#[tokio::test]
async fn a_hybrid_store_reloads_its_lease_script_after_script_flush() {
    let server = RedisServer::start();
    let redis = store(&server);
    let clock = ManualClock::at_unix_secs(1_000);
    let hybrid = HybridStore::builder(redis.clone())
        .lease(2)
        .lease_fraction(1)
        .clock(clock)
        .build();
    let c = check(
        "flush",
        b"client",
        rule(Algorithm::FixedWindow, Quota::per_hour(100)),
        1,
    );
    let key = redis.key_of(&c);
    // First lease: 2 units spent in Redis.
    assert!(admitted(&hybrid, &c).await);
    assert_eq!(server.cli(&["HGET", &key, "b"]), "2");
    assert_eq!(server.cli(&["SCRIPT", "FLUSH"]), "OK");
    // From the lease: no round trip.
    assert!(admitted(&hybrid, &c).await);
    assert_eq!(server.cli(&["HGET", &key, "b"]), "2");
    // A new lease: NOSCRIPT, loaded again, spent once.
    assert!(admitted(&hybrid, &c).await);
    assert_eq!(server.cli(&["HGET", &key, "b"]), "4");
}

#[tokio::test]
async fn a_restarted_server_loses_counters_and_scripts_and_the_store_carries_on() {
    let mut server = RedisServer::start();
    let store = store(&server);
    let c = check(
        "restart",
        b"client",
        rule(Algorithm::FixedWindow, Quota::per_hour(3)),
        1,
    );
    for remaining in [2, 1, 0] {
        let d = try_decide(&store, std::slice::from_ref(&c)).await.unwrap();
        assert!(d.verdicts[0].allowed);
        assert_eq!(d.verdicts[0].status.remaining, remaining);
    }
    server.kill();
    let err = try_decide(&store, std::slice::from_ref(&c))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ),
        "{err}"
    );
    server.restart();
    // No data survives the restart (persistence off): a fresh counter, the script reloaded.
    let d = eventually(&store, &c, 100).await;
    assert!(d.verdicts[0].allowed);
    assert_eq!(d.verdicts[0].status.remaining, 2);
}

#[tokio::test]
async fn a_hybrid_store_spends_only_its_lease_while_redis_is_down() {
    let mut server = RedisServer::start();
    let redis = store(&server);
    let clock = ManualClock::at_unix_secs(1_000);
    let hybrid = HybridStore::builder(redis)
        .lease(3)
        .lease_fraction(1)
        .clock(clock)
        .build();
    let c = check(
        "down",
        b"client",
        rule(Algorithm::TokenBucket, Quota::per_hour(100)),
        1,
    );
    assert!(admitted(&hybrid, &c).await);
    server.kill();
    // The two units left of the lease, decided here.
    for _ in 0..2 {
        assert!(admitted(&hybrid, &c).await);
    }
    // Then a lease is needed, and Redis is down: an error (the layer's policy), not an admit.
    let err = try_decide(&hybrid, std::slice::from_ref(&c))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ),
        "{err}"
    );
}

/// Redis hung (`CLIENT PAUSE`: no reply, no reset), and many requests on one spent key at once:
/// each waits at most the store's timeout, the queue for the key's lease included. Before, each
/// waited for the ones ahead of it to time out in turn, then its own call: the twentieth, twenty
/// timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_bounds_every_waiting_request_by_one_timeout() {
    let server = RedisServer::start();
    let redis = store_timing_out(&server, Duration::from_millis(100));
    let hybrid = HybridStore::builder(redis)
        .lease(1)
        .lease_fraction(1)
        .build();
    let rule = rule(Algorithm::TokenBucket, Quota::per_hour(1000));
    let c = check("hung", b"hot", rule, 1);
    // The first lease, spent.
    assert!(admitted(&hybrid, &c).await);
    server.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
    let started = std::time::Instant::now();
    let waits: Vec<_> = (0..20)
        .map(|_| {
            let hybrid = hybrid.clone();
            tokio::spawn(async move {
                let c = check("hung", b"hot", rule, 1);
                let began = std::time::Instant::now();
                let err = try_decide(&hybrid, std::slice::from_ref(&c))
                    .await
                    .expect_err("Redis does not answer");
                (err.kind(), began.elapsed())
            })
        })
        .collect();
    for wait in waits {
        let (kind, took) = wait.await.unwrap();
        assert_eq!(kind, StoreErrorKind::Timeout);
        assert!(took < Duration::from_millis(1_000), "waited {took:?}");
    }
    assert!(started.elapsed() < Duration::from_millis(1_500));
}

#[tokio::test]
async fn remember_with_a_zero_or_huge_ttl() {
    let server = RedisServer::start();
    let store = store(&server);
    // A zero TTL is one millisecond, never `PX 0` (which Redis refuses).
    assert!(remember(&store, b"zero", 0).await.unwrap());
    let pttl: i64 = server
        .cli(&["PTTL", "p:remember:{7a65726f}"])
        .parse()
        .unwrap();
    assert!((-2..=1).contains(&pttl), "{pttl}");
    // The largest TTL is accepted, and remembered.
    assert!(remember(&store, b"huge", u64::MAX).await.unwrap());
    assert!(!remember(&store, b"huge", u64::MAX).await.unwrap());
    let pttl: i64 = server
        .cli(&["PTTL", "p:remember:{68756765}"])
        .parse()
        .unwrap();
    assert!(pttl > 1_000_000_000_000, "{pttl}");
    // Sub-millisecond TTLs round up.
    assert!(remember(&store, b"micro", 1).await.unwrap());
    // A key of another type under the remember key: an error, not a replay or a first sighting.
    assert_eq!(server.cli(&["RPUSH", "p:remember:{6c697374}", "x"]), "1");
    // `SET NX` on a list key: Redis answers nil (the key exists), a replay.
    assert!(!remember(&store, b"list", 60_000_000).await.unwrap());
}

#[tokio::test]
async fn client_bytes_are_hex_encoded_so_hash_tags_and_separators_cannot_collide() {
    let server = RedisServer::start();
    let store = store(&server);
    let r = rule(Algorithm::FixedWindow, Quota::per_minute(5));
    let c = check("s", b"{evil}:x", r, 1);
    assert_eq!(store.key_of(&c), "p:{7b6576696c7d3a78}:s");
    let empty = check("s", b"", r, 1);
    assert_eq!(store.key_of(&empty), "p:{}:s");
    // An empty hash tag hashes the whole key: the empty client key still gets its own counter.
    let a = check("a:b", b"k", r, 1);
    let b = check("a", b"k", r, 1);
    assert_ne!(store.key_of(&a), store.key_of(&b));
    for c in [&c, &empty, &a, &b] {
        let d = try_decide(&store, std::slice::from_ref(c)).await.unwrap();
        assert_eq!(d.verdicts[0].status.remaining, 4);
    }
}

#[tokio::test]
async fn forget_deletes_the_counter_in_redis_and_through_a_hybrid_store() {
    let server = RedisServer::start();
    let redis = store(&server);
    let hybrid = HybridStore::builder(redis.clone())
        .clock(ManualClock::at_unix_secs(1_000))
        .build();
    let r = Rule::backoff(
        2,
        Duration::from_secs(1),
        Duration::from_secs(60),
        Duration::from_secs(600),
    )
    .unwrap();
    let c = check("throttle", b"user", r, 1);
    let key = redis.key_of(&c);
    try_decide(&hybrid, std::slice::from_ref(&c)).await.unwrap();
    assert_eq!(server.cli(&["EXISTS", &key]), "1");
    forget(&redis, "throttle", b"user").await.unwrap();
    assert_eq!(server.cli(&["EXISTS", &key]), "0");
    try_decide(&hybrid, std::slice::from_ref(&c)).await.unwrap();
    assert_eq!(server.cli(&["EXISTS", &key]), "1");
    forget(&hybrid, "throttle", b"user").await.unwrap();
    assert_eq!(server.cli(&["EXISTS", &key]), "0");
}

#[tokio::test]
async fn a_leased_counter_forgotten_through_a_hybrid_store_is_fresh_again() {
    let server = RedisServer::start();
    let redis = store(&server);
    let hybrid = HybridStore::builder(redis.clone())
        .lease(1)
        .clock(ManualClock::at_unix_secs(1_000))
        .build();
    let c = check(
        "lf",
        b"user",
        rule(Algorithm::FixedWindow, Quota::per_hour(2)),
        1,
    );
    for _ in 0..2 {
        assert!(admitted(&hybrid, &c).await);
    }
    assert!(!admitted(&hybrid, &c).await);
    forget(&hybrid, "lf", b"user").await.unwrap();
    // The refusal remembered here is forgotten with the counter.
    assert!(admitted(&hybrid, &c).await);
}

const YEAR: Duration = Duration::from_secs(366 * 24 * 3600);

/// A token bucket of 1 per 366 days with the largest burst, and the largest cost: the
/// products exceed 2^53 (and u64). Before the fix, the script wrote a state of 1.36e23 µs,
/// then `PEXPIRE` failed on its expiry: a counter without expiry that failed every decision.
#[tokio::test]
async fn the_largest_burst_and_cost_never_wedge_a_counter() {
    let server = RedisServer::start();
    let store = store(&server);
    let quota = Quota::new(1, YEAR).burst(u32::MAX);
    let r = rule(Algorithm::TokenBucket, quota);
    let big = check("huge", b"client", r, u32::MAX);
    let key = store.key_of(&big);
    let d = try_decide(&store, std::slice::from_ref(&big))
        .await
        .unwrap();
    assert!(d.verdicts[0].allowed);
    assert_eq!(d.verdicts[0].status.limit, u64::from(u32::MAX));
    assert_eq!(d.verdicts[0].status.remaining, 0);
    // The counter expires, and its state is an exact integer.
    let pttl: i64 = server.cli(&["PTTL", &key]).parse().unwrap();
    assert!(pttl > 0, "{pttl}");
    let a = server.cli(&["HGET", &key, "a"]);
    assert!(a.bytes().all(|b| b.is_ascii_digit()), "{a}");
    // The bucket is empty now: the next request is refused, with a retry within an interval.
    let one = check("huge", b"client", r, 1);
    let d = try_decide(&store, std::slice::from_ref(&one))
        .await
        .unwrap();
    assert!(!d.verdicts[0].allowed);
    let retry = d.verdicts[0].status.retry_after.unwrap();
    assert!(retry <= 31_622_400_000_000, "{retry}");
    // A hybrid store hands such a check to Redis, which decides it the same way.
    let hybrid = HybridStore::builder(store.clone())
        .clock(ManualClock::at_unix_secs(1_000))
        .build();
    let d = try_decide(&hybrid, std::slice::from_ref(&one))
        .await
        .unwrap();
    assert!(!d.verdicts[0].allowed);
    assert!(hybrid.is_empty());
}

/// A fixed-window limit lowered under the same name with a count above the new limit in
/// Redis: refused with nothing left, an answer and not a protocol error (under
/// `StoreFailure::Open` an error would let the heaviest client through uncounted).
#[tokio::test]
async fn a_count_over_a_lowered_fixed_window_limit_is_refused_not_an_error() {
    let server = RedisServer::start();
    let store = store(&server);
    let before = rule(Algorithm::FixedWindow, Quota::per_hour(1000));
    let after = rule(Algorithm::FixedWindow, Quota::per_hour(500));
    let spend = check("hourly", b"client", before, 800);
    let d = try_decide(&store, std::slice::from_ref(&spend))
        .await
        .unwrap();
    assert!(d.verdicts[0].allowed, "{:?}", d.verdicts[0]);
    let next = check("hourly", b"client", after, 1);
    let d = try_decide(&store, std::slice::from_ref(&next))
        .await
        .unwrap();
    assert!(!d.verdicts[0].allowed);
    assert_eq!(d.verdicts[0].status.remaining, 0);
    assert!(d.verdicts[0].status.retry_after.is_some());
    let read = check("hourly", b"client", after, 0);
    let d = try_decide(&store, std::slice::from_ref(&read))
        .await
        .unwrap();
    assert!(d.verdicts[0].allowed);
    assert_eq!(d.verdicts[0].status.remaining, 0);
}

#[tokio::test]
async fn the_largest_cost_on_a_leaky_bucket_never_wedges_a_counter() {
    let server = RedisServer::start();
    let store = store(&server);
    let r = rule(
        Algorithm::LeakyBucket { max_wait: YEAR },
        Quota::new(1, YEAR),
    );
    // More turns than the queue of 2 holds: refused whatever it holds, no wait helps, and
    // nothing is written.
    let c = check("leaky", b"client", r, u32::MAX);
    let d = try_decide(&store, std::slice::from_ref(&c)).await.unwrap();
    assert!(!d.verdicts[0].allowed);
    assert_eq!(d.verdicts[0].status.limit, 2);
    assert_eq!(d.verdicts[0].status.retry_after, None);
    assert_eq!(server.cli(&["EXISTS", &store.key_of(&c)]), "0");
    // The whole queue at once: admitted, and its state expires.
    let full = check("leaky", b"client", r, 2);
    let d = try_decide(&store, std::slice::from_ref(&full))
        .await
        .unwrap();
    assert!(d.verdicts[0].allowed);
    let pttl: i64 = server.cli(&["PTTL", &store.key_of(&full)]).parse().unwrap();
    assert!(pttl > 0, "{pttl}");
    // Queued beyond the longest wait: refused, with a wait that helps, and an answer, not an
    // error.
    let one = check("leaky", b"client", r, 1);
    let d = try_decide(&store, std::slice::from_ref(&one))
        .await
        .unwrap();
    assert!(!d.verdicts[0].allowed);
    assert!(d.verdicts[0].status.retry_after.is_some());
}
