use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use ::argon2::password_hash::PasswordHasher as _;
use http::header::AUTHORIZATION;

use super::super::{BasicAuth, MALFORMED, WRONG};
use super::*;
use crate::auth::{AuthMethod, Authenticator, Outcome, RequestHead};

/// A PHC string with cheap parameters (8 KiB, one pass), for tests.
fn cheap_hash(password: &str, algorithm: Algorithm) -> String {
    let params = Params::new(8, 1, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    Argon2::new(algorithm, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn jane() -> Principal {
    Principal::builder("jane", AuthMethod::Basic).build()
}

fn ready<T>(answer: Answer<T>) -> T {
    match answer {
        Answer::Ready(v) => v,
        Answer::Later(_) => panic!("expected a ready answer outside a runtime"),
    }
}

#[test]
fn insert_accepts_argon2_only() {
    let users = Argon2Users::new();
    for alg in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
        users
            .insert("jane", &cheap_hash("pw", alg), jane())
            .unwrap();
    }
    assert_eq!(users.len(), 1);
    let err = |phc: &str| users.insert("x", phc, jane()).unwrap_err();
    assert_eq!(err("password123"), InvalidPasswordHash::Malformed);
    assert_eq!(err(""), InvalidPasswordHash::Malformed);
    assert_eq!(
        err("$pbkdf2-sha256$i=600000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
        InvalidPasswordHash::UnsupportedAlgorithm("pbkdf2-sha256".into())
    );
    assert_eq!(
        err("$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
        InvalidPasswordHash::UnsupportedAlgorithm("scrypt".into())
    );
    assert_eq!(
        err("$argon2id$v=19$m=19456,t=2,p=1"),
        InvalidPasswordHash::Incomplete
    );
    // m below 8 KiB per lane, an unknown version, an unknown parameter, a short salt.
    for phc in [
        "$argon2id$v=19$m=4,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=18$m=8,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=8,t=1,p=1,x=2$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        assert_eq!(err(phc), InvalidPasswordHash::InvalidParameters, "{phc}");
    }
    assert_eq!(users.len(), 1);
    assert!(
        !err("$pbkdf2-sha256$i=1$c2FsdHNhbHQ$aGFzaA")
            .to_string()
            .contains("aGFzaA")
    );
}

#[test]
fn verifies_outside_a_runtime_on_the_calling_thread() {
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let p = ready(users.verify("jane", "password123")).unwrap();
    assert_eq!(p.subject(), "jane");
    assert_eq!(p.method(), AuthMethod::Basic);
    assert!(ready(users.verify("jane", "password124")).is_none());
    assert!(ready(users.verify("Jane", "password123")).is_none());
    assert!(ready(users.verify("bob", "password123")).is_none());

    assert!(users.remove("jane"));
    assert!(!users.remove("jane"));
    assert!(users.is_empty());
    assert!(ready(users.verify("jane", "password123")).is_none());
}

#[test]
fn an_unknown_user_is_hashed_against_a_dummy_of_the_same_cost() {
    let users = Argon2Users::new();
    // Before any user: a dummy with the default parameters.
    assert!(users.users.load().dummy.same_cost(&Stored::default_dummy()));
    assert!(ready(users.verify("nobody", "x")).is_none());
    assert_eq!(users.users.load().dummy.hashed.load(Ordering::Relaxed), 1);

    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let snapshot = users.users.load_full();
    let entry = &snapshot.entries[0];
    let dummy = &snapshot.dummy;
    assert!(dummy.same_cost(&entry.hash));
    assert_ne!(dummy.salt, entry.hash.salt);
    assert_eq!(dummy.hashed.load(Ordering::Relaxed), 0);

    // Unknown user: exactly one hash, against the dummy, even with jane's password.
    assert!(ready(users.verify("bob", "password123")).is_none());
    assert_eq!(dummy.hashed.load(Ordering::Relaxed), 1);
    assert_eq!(entry.hash.hashed.load(Ordering::Relaxed), 0);

    // Known user, wrong and right password: one hash each, against jane's.
    assert!(ready(users.verify("jane", "wrong")).is_none());
    assert!(ready(users.verify("jane", "password123")).is_some());
    assert_eq!(dummy.hashed.load(Ordering::Relaxed), 1);
    assert_eq!(entry.hash.hashed.load(Ordering::Relaxed), 2);

    // Later users keep the first user's dummy.
    users
        .insert("bob", &cheap_hash("pw", Algorithm::Argon2id), jane())
        .unwrap();
    assert!(Arc::ptr_eq(&users.users.load().dummy, dummy));
}

#[test]
fn hash_password_makes_salted_owasp_argon2id() {
    let hash = Argon2Users::hash_password("password123");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_ne!(hash, Argon2Users::hash_password("password123"));
    let stored = Stored::parse(&hash).unwrap();
    assert_eq!(stored.salt.len(), 16);
    assert_eq!(stored.output.len(), 32);
    assert!(stored.same_cost(&Stored::default_dummy()));
    assert!(bool::from(
        stored.matches(b"password123", &mut Memory::default())
    ));
    assert!(!bool::from(
        stored.matches(b"password1234", &mut Memory::default())
    ));
}

#[tokio::test]
async fn verifies_on_the_blocking_pool_inside_a_runtime() {
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let answer = users.verify("jane", "password123");
    assert!(matches!(answer, Answer::Later(_)));
    assert_eq!(answer.resolve().await.unwrap().subject(), "jane");
    assert!(users.verify("bob", "password123").resolve().await.is_none());
}

#[tokio::test]
async fn hashes_wait_for_a_permit() {
    let users = Argon2Users::builder().max_concurrent_hashes(1).build();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let held = Arc::clone(&users.hashing.slots.permits)
        .acquire_owned()
        .await
        .unwrap();
    let Answer::Later(mut pending) = users.verify("jane", "password123") else {
        panic!("expected a future inside a runtime");
    };
    for _ in 0..10 {
        let polled = std::future::poll_fn(|cx| Poll::Ready(pending.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
        tokio::task::yield_now().await;
    }
    let hashed = &users.users.load().entries[0].hash.hashed;
    assert_eq!(hashed.load(Ordering::Relaxed), 0);
    drop(held);
    assert!(pending.await.is_some());
    assert_eq!(users.hashing.slots.permits.available_permits(), 1);
    assert_eq!(hashed.load(Ordering::Relaxed), 1);

    // `0` counts as one.
    let users = Argon2Users::builder().max_concurrent_hashes(0).build();
    assert_eq!(users.hashing.slots.permits.available_permits(), 1);
}

#[tokio::test]
async fn basic_auth_outcomes() {
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let auth = BasicAuth::new(users);
    let outcome = |value: &'static str| {
        let req = http::Request::get("/")
            .header(AUTHORIZATION, value)
            .body(())
            .unwrap();
        let answer = auth.authenticate(&RequestHead::of(&req));
        async move { answer.resolve().await }
    };
    match outcome("Basic amFuZTpwYXNzd29yZDEyMw==").await {
        Outcome::Authenticated(p) => assert_eq!(p.subject(), "jane"),
        other => panic!("{other:?}"),
    }
    match outcome("Basic amFuZTpwYXNzd29yZDEyNA==").await {
        Outcome::Rejected(e) => {
            assert_eq!(e.detail(), WRONG);
            assert_eq!(e.method(), Some(AuthMethod::Basic));
            assert_eq!(e.kind(), crate::auth::AuthErrorKind::Invalid);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcome("Bearer x").await, Outcome::Skip));
    match outcome("Basic !").await {
        Outcome::Rejected(e) => assert_eq!(e.detail(), MALFORMED),
        other => panic!("{other:?}"),
    }
}

/// A PHC string of `password` costing `m_kib` KiB of memory, one pass.
fn hash_with_memory(password: &str, m_kib: u32) -> String {
    let params = Params::new(m_kib, 1, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"fedcba9876543210").unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

#[test]
fn a_memory_grows_to_the_largest_hash_and_is_reused() {
    let mut memory = Memory::default();
    assert_eq!(memory.blocks(64).len(), 64);
    assert_eq!(memory.allocations, 1);
    assert_eq!(memory.blocks(32).len(), 32);
    assert_eq!(memory.blocks(64).len(), 64);
    assert_eq!(memory.allocations, 1);
    assert_eq!(memory.blocks(128).len(), 128);
    assert_eq!(memory.allocations, 2);

    // A hash on a reused (dirty) memory is the same hash.
    let stored = Stored::parse(&hash_with_memory("pw", 64)).unwrap();
    assert!(bool::from(stored.matches(b"pw", &mut memory)));
    assert!(!bool::from(stored.matches(b"pv", &mut memory)));
    assert!(bool::from(stored.matches(b"pw", &mut memory)));
    assert_eq!(memory.allocations, 2);
}

/// Issue 12, finding 9: a flood of wrong passwords used to allocate (and free) the hash's
/// whole memory on every verification, which glibc's per-thread arenas kept. Now each slot
/// allocates its memory once: however many verifications, at most `slots` allocations, and
/// never more than `slots` hashes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_allocates_one_memory_per_slot() {
    let users = Argon2Users::builder()
        .max_concurrent_hashes(2)
        .max_queue(64)
        .build();
    users
        .insert("jane", &hash_with_memory("password123", 256), jane())
        .unwrap();
    let attempts: Vec<_> = (0..64)
        .map(|i| {
            let name = if i % 2 == 0 { "jane" } else { "nobody" };
            tokio::spawn(users.try_verify(name, "wrong").resolve())
        })
        .collect();
    for attempt in attempts {
        assert!(matches!(attempt.await.unwrap(), Ok(None)));
    }
    let slots = &users.hashing.slots;
    assert_eq!(slots.stats.hashed.load(Ordering::SeqCst), 64);
    assert!(slots.stats.peak.load(Ordering::SeqCst) <= 2);
    let allocations = slots.allocations();
    assert!((1..=2).contains(&allocations), "{allocations} allocations");

    // A known user's hash and an unknown user's cost the same memory: nothing new.
    assert!(
        users
            .verify("jane", "password123")
            .resolve()
            .await
            .is_some()
    );
    assert_eq!(slots.allocations(), allocations);
}

/// Issue 13, deliverable 2: with 1 slot and a queue of 2, 10 verifications at once: 3 are
/// hashed, 7 are refused at once, without hashing or waiting.
#[tokio::test]
async fn a_full_queue_is_refused_at_once() {
    let users = Argon2Users::builder()
        .max_concurrent_hashes(1)
        .max_queue(2)
        .build();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let held = Arc::clone(&users.hashing.slots.permits)
        .acquire_owned()
        .await
        .unwrap();
    let mut waiting = Vec::new();
    let mut refused = 0;
    for _ in 0..10 {
        match users.try_verify("jane", "wrong") {
            Answer::Later(pending) => waiting.push(pending),
            Answer::Ready(Err(overloaded)) => {
                assert_eq!(overloaded.retry_after(), Duration::from_secs(1));
                refused += 1;
            }
            Answer::Ready(Ok(_)) => panic!("hashed on the runtime's thread"),
        }
    }
    // The slot is held: 1 + 2 wait, and the slot's own place is theirs too.
    assert_eq!((waiting.len(), refused), (3, 7));
    drop(held);
    for pending in waiting {
        assert!(matches!(pending.await, Ok(None)));
    }
    assert_eq!(users.hashing.slots.stats.hashed.load(Ordering::SeqCst), 3);

    // Places are given back: the next ones are hashed.
    let found = users.try_verify("jane", "password123").resolve().await;
    assert_eq!(found.map(|p| p.is_some()), Ok(true));
    // `verify` answers an overloaded check as a wrong password.
    let users = Argon2Users::builder()
        .max_concurrent_hashes(1)
        .max_queue(0)
        .build();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let held = Arc::clone(&users.hashing.slots.permits)
        .acquire_owned()
        .await
        .unwrap();
    let Answer::Later(first) = users.verify("jane", "password123") else {
        panic!("the first one waits for the slot");
    };
    assert!(ready(users.verify("jane", "password123")).is_none());
    drop(held);
    assert!(first.await.is_some());
}

/// A verification whose turn comes after `max_wait` is refused instead of hashed; one whose
/// turn comes in time is hashed.
#[tokio::test]
async fn a_turn_after_the_longest_wait_is_refused() {
    let users = Argon2Users::builder()
        .max_concurrent_hashes(1)
        .max_wait(Duration::from_millis(100))
        .build();
    users
        .insert(
            "jane",
            &cheap_hash("password123", Algorithm::Argon2id),
            jane(),
        )
        .unwrap();
    let held = Arc::clone(&users.hashing.slots.permits)
        .acquire_owned()
        .await
        .unwrap();
    let late = tokio::spawn(users.try_verify("jane", "password123").resolve());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let in_time = tokio::spawn(users.try_verify("jane", "password123").resolve());
    tokio::task::yield_now().await;
    drop(held);
    let Err(late) = late.await.unwrap() else {
        panic!("hashed after waiting longer than max_wait");
    };
    assert_eq!(late, Overloaded::new(Duration::from_millis(100)));
    assert_eq!(late.retry_after(), Duration::from_millis(100));
    assert!(in_time.await.unwrap().unwrap().is_some());
    assert_eq!(users.hashing.slots.stats.hashed.load(Ordering::SeqCst), 1);
}

#[test]
fn the_builder_defaults_and_debug() {
    let users = Argon2Users::new();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    assert_eq!(users.hashing.slots.count(), cpus);
    assert_eq!(users.hashing.max_queue(), 4 * cpus);
    assert_eq!(users.hashing.max_wait(), Duration::from_secs(1));
    // Sets without slots of their own share the process's.
    assert!(Arc::ptr_eq(
        &users.hashing.slots,
        &Argon2Users::builder().max_queue(1).build().hashing.slots
    ));

    let users = Argon2Users::builder().max_concurrent_hashes(3).build();
    assert_eq!(users.hashing.max_queue(), 12);
    let debug = format!("{users:?}");
    assert!(
        debug.contains("hashing_slots: 3, max_queue: 12, max_wait: 1s"),
        "{debug}"
    );
}
