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
fn remembered_keys_are_refused_until_they_expire() {
    let clock = ManualClock::at_unix_secs(1_700_000_000);
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let remember = |k: &[u8]| store.remember(k, 60_000_000).into_ready().unwrap().unwrap();
    assert!(remember(b"msg_1"));
    assert!(!remember(b"msg_1"));
    assert!(remember(b"msg_2"));
    clock.advance(Duration::from_secs(59));
    assert!(!remember(b"msg_1"));
    clock.advance(Duration::from_secs(2));
    assert!(remember(b"msg_1"));
    // Apart from counters.
    let rule = Rule::new(Algorithm::TokenBucket, Quota::per_hour(1)).unwrap();
    let check = Check {
        scope: "s",
        key: b"msg_3",
        rule,
        cost: 1,
    };
    assert!(ready(store.decide(&[check])).allowed());
    assert!(remember(b"msg_3"));
}

/// A remembered key outlives a flood of counter keys through a full table, and the idle
/// timeout: a client that can make counters (any client, when the store also limits rates)
/// cannot make a replay store forget a message early.
#[test]
fn remembered_keys_survive_a_flood_of_counters_and_the_idle_timeout() {
    let clock = ManualClock::at_unix_secs(1_700_000_000);
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_keys(16)
        .shards(1)
        .idle_timeout(Duration::from_secs(10))
        .build();
    let remember = |k: &[u8]| store.remember(k, 60_000_000).into_ready().unwrap().unwrap();
    assert!(remember(b"msg_1"));
    let rule = Rule::new(Algorithm::FixedWindow, Quota::per_hour(5)).unwrap();
    for i in 0..1_000u32 {
        let key = i.to_be_bytes();
        let check = Check {
            scope: "ip",
            key: &key,
            rule,
            cost: 1,
        };
        assert!(ready(store.decide(&[check])).allowed());
        clock.advance(Duration::from_millis(20));
    }
    // 20 s later: past the idle timeout, 1,000 counters through a table of 16.
    assert!(store.len() <= 16);
    assert!(!remember(b"msg_1"));
    clock.advance(Duration::from_secs(39));
    assert!(!remember(b"msg_1"));
    clock.advance(Duration::from_secs(2));
    assert!(remember(b"msg_1"));

    // A table full of remembered keys forgets those that expire soonest.
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_keys(8)
        .shards(1)
        .build();
    let remember_for = |k: &[u8], secs: u64| {
        store
            .remember(k, secs * 1_000_000)
            .into_ready()
            .unwrap()
            .unwrap()
    };
    assert!(remember_for(b"long", 600));
    for i in 0..20u32 {
        assert!(remember_for(&i.to_be_bytes(), 60));
    }
    assert!(!remember_for(b"long", 600));
}

#[test]
fn bytes_per_key() {
    assert_eq!(BYTES_PER_KEY, 48);
}

#[test]
fn forget_drops_one_counter() {
    let store = MemoryStore::new();
    let rule = Rule::new(Algorithm::FixedWindow, Quota::per_minute(1)).unwrap();
    let check = |key: &'static [u8]| Check {
        scope: "s",
        key,
        rule,
        cost: 1,
    };
    let decide = |c: Check<'_>| store.decide(&[c]).into_ready().unwrap().unwrap().allowed();
    assert!(decide(check(b"a")) && decide(check(b"b")));
    assert!(!decide(check(b"a")));
    assert!(store.forget("s", b"a").into_ready().unwrap().is_ok());
    assert!(decide(check(b"a")));
    assert!(!decide(check(b"b")));
}

#[test]
fn a_long_message_streamed_has_the_digest_of_the_same_message_in_one_pass() {
    let store = MemoryStore::new();
    let sip = SipHasher13::new_with_keys(store.inner.keys.0, store.inner.keys.1);
    // 1 + 70 + 3 bytes: over the inline buffer, so streamed; the reference hashes it whole.
    let scope = "s".repeat(70);
    let mut message = vec![70u8];
    message.extend_from_slice(scope.as_bytes());
    message.extend_from_slice(b"key");
    assert_eq!(store.counter_digest(&scope, b"key"), sip.hash(&message));
    // A short one, from the buffer.
    assert_eq!(
        store.counter_digest("ab", b"key"),
        sip.hash(&[2, b'a', b'b', b'k', b'e', b'y'])
    );
    // A scope of 255 bytes or more: 255 and eight bytes of length.
    let scope = "s".repeat(300);
    let mut message = vec![255u8];
    message.extend_from_slice(&300u64.to_le_bytes());
    message.extend_from_slice(scope.as_bytes());
    assert_eq!(store.counter_digest(&scope, b""), sip.hash(&message));
}

#[test]
fn the_digest_tells_scope_from_key_and_counters_from_remembered_keys() {
    let store = MemoryStore::new();
    assert_ne!(
        store.counter_digest("ab", b"c"),
        store.counter_digest("a", b"bc")
    );
    assert_ne!(
        store.counter_digest("", b"k"),
        store.remembered_digest(b"k")
    );
    let mut remembered = vec![u8::MAX; 9];
    remembered.extend_from_slice(b"k");
    assert_eq!(
        store.remembered_digest(b"k"),
        SipHasher13::new_with_keys(store.inner.keys.0, store.inner.keys.1).hash(&remembered)
    );
}

/// A small cap (fewer than 8 keys per shard, where an eighth is none) holds: a full shard of
/// live keys makes room for the next one, never one over.
#[test]
fn small_caps_are_never_passed() {
    for cap in 1..=9 {
        let clock = ManualClock::at_unix_secs(1_700_000_000);
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .max_keys(cap)
            .shards(1)
            .build();
        let rule = Rule::new(Algorithm::TokenBucket, Quota::per_hour(10)).unwrap();
        for i in 0u32..20 {
            clock.advance(Duration::from_millis(1));
            let key = i.to_le_bytes();
            let check = Check {
                scope: "small",
                key: &key,
                rule,
                cost: 1,
            };
            assert!(ready(store.decide(&[check])).allowed());
            assert!(
                store.len() <= store.max_keys(),
                "cap {cap}: {}",
                store.len()
            );
        }
    }
}
