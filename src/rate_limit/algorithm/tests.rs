use super::*;

const S: u64 = MICROS_PER_SEC;
/// An instant on a minute boundary, so windows start at it.
const T0: u64 = 1_718_451_780 * S;

fn rule(algorithm: Algorithm, quota: Quota) -> Rule {
    Rule::new(algorithm, quota).unwrap()
}

/// Runs `cost`-1 requests at the given times; returns which were allowed.
fn run(rule: &Rule, times: &[u64]) -> (Vec<bool>, State) {
    let mut state = State::default();
    let mut seen = Vec::new();
    for &t in times {
        let o = decide(rule, &state, t, 1);
        state = o.state;
        seen.push(o.allowed);
    }
    (seen, state)
}

#[test]
fn quotas_say_what_they_mean() {
    assert_eq!(Quota::per_second(5).interval(), Duration::from_millis(200));
    assert_eq!(
        Quota::per_minute(100).interval(),
        Duration::from_millis(600)
    );
    assert_eq!(Quota::per_hour(60).interval(), Duration::from_secs(60));
    assert_eq!(Quota::per_hour(1000).burst(20).burst_size(), 20);
    assert_eq!(Quota::per_hour(1000).burst_size(), 1000);
    // 3 per second does not divide: the interval rounds up, never letting more through.
    assert_eq!(
        Quota::per_second(3).interval(),
        Duration::from_micros(333_334)
    );
    assert_eq!(
        Quota::per_hour(1000).burst(20).to_string(),
        "1000 per hour (burst 20)"
    );
    assert_eq!(
        Quota::new(5, Duration::from_secs(10)).to_string(),
        "5 per 10s"
    );
}

#[test]
fn bad_quotas_are_errors() {
    let tb = Algorithm::TokenBucket;
    assert_eq!(
        Rule::new(tb, Quota::per_minute(0)),
        Err(RuleError::Quota(QuotaError::ZeroLimit))
    );
    assert_eq!(
        Rule::new(tb, Quota::new(1, Duration::ZERO)),
        Err(RuleError::Quota(QuotaError::ZeroPeriod))
    );
    assert_eq!(
        Rule::new(tb, Quota::per_day(1).burst(0)),
        Err(RuleError::Quota(QuotaError::ZeroBurst))
    );
    assert_eq!(
        Rule::new(tb, Quota::new(1, Duration::from_secs(400 * 86_400))),
        Err(RuleError::Quota(QuotaError::PeriodTooLong))
    );
    assert_eq!(
        Rule::new(Algorithm::FixedWindow, Quota::per_minute(10).burst(2)),
        Err(RuleError::BurstNeedsTokenBucket)
    );
}

#[test]
fn token_bucket_of_the_design_document() {
    // Capacity 10, one token per second: ten at once, the eleventh refused, one more a
    // second later.
    let r = rule(Algorithm::TokenBucket, Quota::per_second(1).burst(10));
    let mut state = State::default();
    for left in (0..10).rev() {
        let o = decide(&r, &state, T0, 1);
        assert!(o.allowed);
        assert_eq!(o.status.remaining, left);
        state = o.state;
    }
    let o = decide(&r, &state, T0, 1);
    assert!(!o.allowed);
    assert_eq!(o.state, state);
    assert_eq!(o.status.remaining, 0);
    assert_eq!(o.status.retry_after, Some(S));
    assert_eq!(o.status.reset_after, 10 * S);
    let o = decide(&r, &state, T0 + S - 1, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, Some(1));
    let o = decide(&r, &state, T0 + S, 1);
    assert!(o.allowed);
    assert_eq!(o.status.remaining, 0);
}

#[test]
fn token_bucket_refills_evenly() {
    let r = rule(Algorithm::TokenBucket, Quota::per_second(2).burst(2));
    let ms = S / 1000;
    let (seen, _) = run(
        &r,
        &[
            T0,
            T0,
            T0,
            T0 + 499 * ms,
            T0 + 500 * ms,
            T0 + 500 * ms,
            T0 + 1000 * ms,
        ],
    );
    assert_eq!(seen, [true, true, false, false, true, false, true]);
}

#[test]
fn token_bucket_costs() {
    let r = rule(Algorithm::TokenBucket, Quota::per_minute(10));
    let o = decide(&r, &State::default(), T0, 7);
    assert!(o.allowed);
    assert_eq!(o.status.remaining, 3);
    let o2 = decide(&r, &o.state, T0, 4);
    assert!(!o2.allowed);
    assert_eq!(o2.status.remaining, 3);
    // One token comes back every 6 s; 4 are needed, 3 are there.
    assert_eq!(o2.status.retry_after, Some(6 * S));
    // More than the bucket holds: refused with no retry that could help.
    let o3 = decide(&r, &State::default(), T0, 11);
    assert!(!o3.allowed);
    assert_eq!(o3.status.retry_after, None);
    // Cost 0 reads without spending.
    let o4 = decide(&r, &o.state, T0, 0);
    assert!(o4.allowed);
    assert_eq!(o4.state, o.state);
    assert_eq!(o4.status.remaining, 3);
}

/// A limit lowered under the same name in mid-window (a redeploy from 1,000 to 500 an hour):
/// a count of 800 already spent leaves nothing, and the next request waits for the window's
/// end, as it would have under the new limit. The count over it made `remaining` negative.
#[test]
fn a_fixed_window_count_over_a_lowered_limit_leaves_nothing() {
    let before = rule(Algorithm::FixedWindow, Quota::per_hour(1000));
    let after = rule(Algorithm::FixedWindow, Quota::per_hour(500));
    let start = T0 - T0 % (3600 * S);
    let spent = decide(&before, &State::default(), start, 800).state;
    let o = decide(&after, &spent, start + S, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.remaining, 0);
    assert_eq!(o.status.retry_after, Some(3599 * S));
    let read = decide(&after, &spent, start + S, 0);
    assert!(read.allowed);
    assert_eq!(read.status.remaining, 0);
    // The next window starts afresh.
    let o = decide(&after, &spent, start + 3600 * S, 1);
    assert!(o.allowed);
    assert_eq!(o.status.remaining, 499);
}

#[test]
fn fixed_window_counts_per_aligned_window() {
    let r = rule(Algorithm::FixedWindow, Quota::per_minute(3));
    let (seen, state) = run(
        &r,
        &[T0 + S, T0 + 2 * S, T0 + 59 * S, T0 + 59 * S, T0 + 60 * S],
    );
    assert_eq!(seen, [true, true, true, false, true]);
    assert_eq!(
        state,
        State {
            a: T0 + 60 * S,
            b: 1,
            c: 0
        }
    );
    let mut state = State::default();
    for _ in 0..3 {
        state = decide(&r, &state, T0 + 20 * S, 1).state;
    }
    let o = decide(&r, &state, T0 + 20 * S, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.remaining, 0);
    assert_eq!(o.status.retry_after, Some(40 * S));
    assert_eq!(o.status.reset_after, 40 * S);
    // The boundary burst the design document warns about: 3 at :59 and 3 more at :00.
    let (seen, _) = run(&r, &[T0 + 59 * S; 3]);
    assert_eq!(seen, [true; 3]);
}

#[test]
fn sliding_window_of_the_design_document() {
    // 80 requests in the previous minute, 30 in this one, 30 s in: 80 × 0.5 + 30 = 70 of 100.
    let r = rule(Algorithm::SlidingWindow, Quota::per_minute(100));
    let state = State {
        a: T0 + 60 * S,
        b: 30,
        c: 80,
    };
    let now = T0 + 90 * S;
    let peek = decide(&r, &state, now, 0);
    assert_eq!(peek.status.remaining, 30);
    let mut state = state;
    for left in (0..30).rev() {
        let o = decide(&r, &state, now, 1);
        assert!(o.allowed);
        assert_eq!(o.status.remaining, left);
        state = o.state;
    }
    let o = decide(&r, &state, now, 1);
    assert!(!o.allowed);
    // 80 × (60 − e)/60 + 60 + 1 ≤ 100 ⇔ e ≥ 30.75 s: 0.75 s from now.
    assert_eq!(o.status.retry_after, Some(750_000));
    assert!(decide(&r, &state, now + 749_999, 1).allowed.eq(&false));
    assert!(decide(&r, &state, now + 750_000, 1).allowed);
}

#[test]
fn sliding_window_rolls_into_the_next_window() {
    let r = rule(Algorithm::SlidingWindow, Quota::per_minute(4));
    let mut state = State::default();
    for _ in 0..4 {
        state = decide(&r, &state, T0 + 45 * S, 1).state;
    }
    let o = decide(&r, &state, T0 + 50 * S, 1);
    assert!(!o.allowed);
    // Next window: 4 × (60 − e)/60 + 1 ≤ 4 ⇔ e ≥ 15 s, that is T0 + 75 s.
    assert_eq!(o.status.retry_after, Some(25 * S));
    assert_eq!(o.status.reset_after, 70 * S);
    assert!(!decide(&r, &state, T0 + 75 * S - 1, 1).allowed);
    let o = decide(&r, &state, T0 + 75 * S, 1);
    assert!(o.allowed);
    assert_eq!(
        o.state,
        State {
            a: T0 + 60 * S,
            b: 1,
            c: 4
        }
    );
    // Two windows later nothing is left of it.
    let o = decide(&r, &o.state, T0 + 180 * S, 0);
    assert_eq!(o.status.remaining, 4);
}

#[test]
fn leaky_bucket_queues_then_refuses() {
    // One per second, waiting at most 2 s: a queue of 3.
    let r = rule(
        Algorithm::LeakyBucket {
            max_wait: Duration::from_secs(2),
        },
        Quota::per_second(1),
    );
    assert_eq!(r.limit(), 3);
    let mut state = State::default();
    let mut delays = Vec::new();
    for left in [2, 1, 0] {
        let o = decide(&r, &state, T0, 1);
        assert!(o.allowed);
        assert_eq!(o.status.remaining, left);
        delays.push(o.status.delay);
        state = o.state;
    }
    assert_eq!(delays, [0, S, 2 * S]);
    let o = decide(&r, &state, T0, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, Some(S));
    assert_eq!(o.status.reset_after, 3 * S);
    let o = decide(&r, &state, T0 + S, 1);
    assert!(o.allowed);
    assert_eq!(o.status.delay, 2 * S);
}

#[test]
fn leaky_bucket_admits_a_cost_only_when_all_its_turns_fit_in_the_queue() {
    // One per second, waiting at most 2 s: a queue of 3 turns.
    let r = rule(
        Algorithm::LeakyBucket {
            max_wait: Duration::from_secs(2),
        },
        Quota::per_second(1),
    );
    // A cost of 4 never fits, even in an empty queue: refused, and no wait helps.
    let o = decide(&r, &State::default(), T0, 4);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, None);
    assert_eq!(o.status.remaining, 3);
    assert_eq!(o.state, State::default());
    // A cost of 3 fills it: turns at 0, 1 and 2 s.
    let o = decide(&r, &State::default(), T0, 3);
    assert!(o.allowed);
    assert_eq!((o.status.delay, o.status.remaining), (0, 0));
    // One turn taken: a cost of 3 would end 3 s ahead, refused until one turn has drained.
    let one = decide(&r, &State::default(), T0, 1).state;
    let o = decide(&r, &one, T0, 3);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, Some(S));
    assert_eq!(o.status.remaining, 2);
    let o = decide(&r, &one, T0 + S - 1, 3);
    assert!(!o.allowed, "1 µs before retry_after");
    let o = decide(&r, &one, T0 + S, 3);
    assert!(o.allowed);
    assert_eq!(o.status.delay, 0);
    // A cost of 2 behind it fits: its turns are at 1 and 2 s.
    let o = decide(&r, &one, T0, 2);
    assert!(o.allowed);
    assert_eq!((o.status.delay, o.status.remaining), (S, 0));
}

#[test]
fn leaky_bucket_spaces_requests_evenly() {
    let r = rule(
        Algorithm::LeakyBucket {
            max_wait: Duration::from_secs(10),
        },
        Quota::per_second(4),
    );
    let mut state = State::default();
    let mut starts = Vec::new();
    for i in 0..6 {
        let now = T0 + i * 10_000;
        let o = decide(&r, &state, now, 1);
        assert!(o.allowed);
        starts.push(now + o.status.delay - T0);
        state = o.state;
    }
    assert_eq!(starts, [0, 250_000, 500_000, 750_000, 1_000_000, 1_250_000]);
}

#[test]
fn policy_windows() {
    let r = rule(Algorithm::TokenBucket, Quota::per_hour(1000).burst(20));
    assert_eq!((r.limit(), r.window()), (20, 72 * S));
    let r = rule(Algorithm::SlidingWindow, Quota::per_minute(100));
    assert_eq!((r.limit(), r.window()), (100, 60 * S));
}

#[test]
fn backoff_blocks_from_the_free_th_failure_doubling_to_max_and_forgets() {
    let s = MICROS_PER_SEC;
    let rule = Rule::backoff(
        3,
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .unwrap();
    let t0 = 1_700_000_000 * s;
    let mut state = State::default();
    let read = |state: &State, now| decide(&rule, state, now, 0);
    for n in 1..=2 {
        let o = decide(&rule, &state, t0, 1);
        assert!(o.allowed);
        assert_eq!(o.status.remaining, 3 - n);
        state = o.state;
        assert!(read(&state, t0).allowed);
    }
    // The third failure blocks for 1 s, the fourth for 2 s, then 4 s, then 5 s (the max).
    for (n, block) in [(3, 1), (4, 2), (5, 4), (6, 5), (7, 5)] {
        state = decide(&rule, &state, t0, 1).state;
        assert_eq!(state.b, n);
        let r = read(&state, t0);
        assert!(!r.allowed);
        assert_eq!(r.status.retry_after, Some(block * s), "failure {n}");
        assert!(read(&state, t0 + block * s).allowed);
    }
    // Forgotten a window after the last failure.
    let later = read(&state, t0 + 60 * s);
    assert!(later.allowed);
    assert_eq!(later.status.remaining, 3);
    assert_eq!(later.status.expires_after, 0);
    let fresh = decide(&rule, &state, t0 + 60 * s, 1);
    assert_eq!(fresh.state.b, 1);
}

#[test]
fn backoff_rules_are_checked() {
    let d = Duration::from_secs;
    assert_eq!(
        Rule::backoff(0, d(1), d(2), d(3)),
        Err(RuleError::Quota(QuotaError::ZeroLimit))
    );
    assert_eq!(
        Rule::backoff(1, d(2), d(1), d(3)),
        Err(RuleError::Quota(QuotaError::ZeroPeriod))
    );
    assert_eq!(
        Rule::backoff(1, d(1), d(2), d(400 * 86_400)),
        Err(RuleError::Quota(QuotaError::PeriodTooLong))
    );
}
