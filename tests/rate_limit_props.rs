//! Property tests of the rate limiter's decision math, `tower_shield::rate_limit::algorithm`.
//!
//! Every property runs [`decide`] over generated request timelines: arbitrary quotas (limit
//! 1..=50, periods from 1 ms to 1 day, bursts 1..=2·limit, `max_wait` 0..=10 periods),
//! costs 0..=limit+2 (capacity+2 for a token bucket), and sorted arrival times starting near
//! 1.7e15 µs (aligned on a window boundary, just before one, or anywhere), with many
//! requests at the same instant and gaps both tiny and longer than the period. Each property
//! guards one promise the layer's clients rely on:
//!
//! 1. **Never more than the quota** (`*_never_admits_more_than_the_quota`): over every
//!    interval [t1, t2] between two arrival times,
//!    - token bucket: admitted units ≤ capacity + ⌊(t2 − t1) / interval⌋;
//!    - fixed window: admitted units ≤ limit in every window aligned on the Unix epoch;
//!    - sliding window: for every admission at t, `previous × (period − elapsed) / period +
//!      current + cost ≤ limit`, computed exactly from this file's own record of admissions;
//!    - leaky bucket: admitted requests start (arrival + delay) at least `interval × cost of
//!      the previous one` apart, in arrival order; no delay exceeds `max_wait`; and the
//!      requests of cost ≥ 1 admitted in [t1, t2] number at most
//!      1 + ⌊(t2 − t1 + max_wait) / interval⌋ (see `leaky_bucket_count_bound_is_tight`).
//!
//!    Each also checks the converse against an independent model (a token level, counts per
//!    window, a queue's next free slot): a request is refused only if the quota requires it,
//!    so the limiter is exact, not merely safe.
//! 2. **Remaining tells the truth** (`remaining_tells_the_truth`): after any decision at t,
//!    exactly `status.remaining` more cost-1 requests at t are admitted.
//! 3. **Retry-After tells the truth** (`retry_after_tells_the_truth`): a refused request
//!    with `retry_after = Some(r)` is admitted at t + r and at t + r rounded up to whole
//!    seconds (the `Retry-After` header), refused at t + r − 1; `None` only when no wait can
//!    help (cost > capacity, cost > limit).
//! 4. **Reset tells the truth** (`reset_tells_the_truth`): at t + `reset_after` a cost-0
//!    read reports the full limit, and (but for the leaky bucket, whose reset is "the queue
//!    is empty") not a microsecond earlier.
//! 5. **Refusal changes nothing** (`refusals_and_reads_change_nothing`): a refused decision
//!    returns the state it was given; a cost-0 read is admitted and its state decides every
//!    later request exactly as the state before it.
//! 6. **Monotonic in time** (`admission_is_monotonic_in_time`): what is admitted at t is
//!    admitted later from the same state, and `remaining` never decreases as time passes.
//! 7. **Expiry tells the truth** (`expires_tells_the_truth`): from t + `expires_after` on,
//!    the stored state decides exactly like a fresh key's, so a store may drop it.
//! 8. **The IETF `t` tells the truth** (`ietf_t_tells_the_truth`): `Status::more_quota_after`
//!    (the `RateLimit` field's `t`, "until additional quota is made available") equals
//!    `retry_after` on a refusal that a wait can help, so `t` and `Retry-After` never
//!    disagree on a `429`; is 0 exactly when the key is at its full limit; otherwise a read
//!    at t + `t` reports more remaining than now and, but for the sliding window (whose `t`
//!    is the upper bound `reset_after`), a read 1 µs earlier does not; never past
//!    `reset_after`.
//!
//! Every decision also reports `limit == rule.limit()`, no `retry_after` when admitted and no
//! delay outside the leaky bucket. The design document's examples are plain tests at the end.
//!
//! `PROPTEST_CASES=n` overrides the case counts for a deeper run. Failures are not persisted
//! to a regressions file: turn a counterexample into a plain test below.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tower_shield::rate_limit::algorithm::{
    Algorithm, MICROS_PER_SEC, Outcome, Quota, Rule, State, decide,
};

const S: u64 = MICROS_PER_SEC;
const MS: u64 = S / 1000;
const DAY: u64 = 86_400 * S;

/// Cases per property, unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generated cases. Everything is generated in abstract form (fractions of the interval or the
// period, costs modulo the bound) and resolved against the rule, so that shrinking one part
// never invalidates another.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum AlgoSpec {
    /// `burst` is resolved to `raw % (2·limit) + 1`; `None` is the default burst (the limit).
    Token(Option<u32>),
    Fixed,
    Sliding,
    Leaky(WaitSpec),
}

/// A leaky bucket's `max_wait`, at most 10 periods.
#[derive(Clone, Copy, Debug)]
enum WaitSpec {
    Zero,
    /// `k` intervals plus `d` µs (d in −1..=1): the queue's capacity changes exactly there.
    Intervals(u64, i64),
    /// A fraction of the period, in thousandths (0..=10 000).
    PeriodPermille(u64),
}

/// Where the timeline starts relative to the window boundaries.
#[derive(Clone, Copy, Debug)]
enum Align {
    Aligned,
    /// This many µs before a boundary.
    Before(u64),
    Anywhere,
}

/// The time from one arrival to the next.
#[derive(Clone, Copy, Debug)]
enum Gap {
    Same,
    /// 1..=10 µs.
    Tiny(u64),
    /// 0..=4 intervals, in thousandths.
    IntervalPermille(u64),
    /// One interval, −1..=+1 µs.
    NearInterval(i64),
    /// 0..=1 period, in thousandths.
    PeriodPermille(u64),
    /// 1..=3 periods, in thousandths: longer than the period.
    Long(u64),
    /// To the next window boundary, −2..=+2 µs.
    NextBoundary(i64),
}

#[derive(Clone, Copy, Debug)]
enum CostSpec {
    One,
    Zero,
    /// `raw % (bound + 1)`.
    Any(u32),
}

#[derive(Clone, Debug)]
struct Case {
    limit: u32,
    period: u64,
    algo: AlgoSpec,
    base: u64,
    align: Align,
    events: Vec<(Gap, CostSpec)>,
}

fn period() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(MS),
        Just(S),
        Just(60 * S),
        Just(3600 * S),
        Just(DAY),
        MS..=10 * S,
        MS..=DAY,
    ]
}

fn token_bucket() -> BoxedStrategy<AlgoSpec> {
    prop::option::of(0u32..1000)
        .prop_map(AlgoSpec::Token)
        .boxed()
}

fn leaky_bucket() -> BoxedStrategy<AlgoSpec> {
    prop_oneof![
        Just(WaitSpec::Zero),
        (0u64..=20, -1i64..=1).prop_map(|(k, d)| WaitSpec::Intervals(k, d)),
        (0u64..=10_000).prop_map(WaitSpec::PeriodPermille),
    ]
    .prop_map(AlgoSpec::Leaky)
    .boxed()
}

fn any_algorithm() -> BoxedStrategy<AlgoSpec> {
    prop_oneof![
        token_bucket(),
        Just(AlgoSpec::Fixed),
        Just(AlgoSpec::Sliding),
        leaky_bucket(),
    ]
    .boxed()
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        6 => Just(Gap::Same),
        2 => (1u64..=10).prop_map(Gap::Tiny),
        3 => (0u64..=4000).prop_map(Gap::IntervalPermille),
        1 => (-1i64..=1).prop_map(Gap::NearInterval),
        1 => (0u64..=1000).prop_map(Gap::PeriodPermille),
        1 => (1000u64..=3000).prop_map(Gap::Long),
        1 => (-2i64..=2).prop_map(Gap::NextBoundary),
    ]
}

fn cost() -> impl Strategy<Value = CostSpec> {
    prop_oneof![
        4 => Just(CostSpec::One),
        1 => Just(CostSpec::Zero),
        2 => any::<u32>().prop_map(CostSpec::Any),
    ]
}

fn align() -> impl Strategy<Value = Align> {
    prop_oneof![
        Just(Align::Aligned),
        (1u64..=10).prop_map(Align::Before),
        Just(Align::Anywhere),
    ]
}

fn case(algo: BoxedStrategy<AlgoSpec>) -> impl Strategy<Value = Case> {
    (
        1u32..=50,
        period(),
        algo,
        1_600_000_000 * S..=1_900_000_000 * S,
        align(),
        prop::collection::vec((gap(), cost()), 1..=60),
    )
        .prop_map(|(limit, period, algo, base, align, events)| Case {
            limit,
            period,
            algo,
            base,
            align,
            events,
        })
}

/// A case resolved: the rule and the concrete timeline.
#[derive(Clone, Debug)]
struct Scenario {
    quota: Quota,
    rule: Rule,
    /// The rule's interval (token and leaky bucket), else the period over the limit, rounded up.
    interval: u64,
    period: u64,
    /// `(arrival time, cost)`, sorted by time.
    events: Vec<(u64, u32)>,
}

impl Case {
    fn resolve(&self) -> Scenario {
        let period = self.period;
        let mut quota = Quota::new(self.limit, Duration::from_micros(period));
        let interval = period.div_ceil(u64::from(self.limit));
        assert_eq!(quota.interval(), Duration::from_micros(interval));
        let algorithm = match self.algo {
            AlgoSpec::Token(burst) => {
                if let Some(raw) = burst {
                    quota = quota.burst(raw % (2 * self.limit) + 1);
                }
                Algorithm::TokenBucket
            }
            AlgoSpec::Fixed => Algorithm::FixedWindow,
            AlgoSpec::Sliding => Algorithm::SlidingWindow,
            AlgoSpec::Leaky(wait) => {
                let max_wait = match wait {
                    WaitSpec::Zero => 0,
                    WaitSpec::Intervals(k, d) => (k * interval).saturating_add_signed(d),
                    WaitSpec::PeriodPermille(p) => period * p / 1000,
                }
                .min(10 * period);
                Algorithm::LeakyBucket {
                    max_wait: Duration::from_micros(max_wait),
                }
            }
        };
        let rule = Rule::new(algorithm, quota).expect("generated quotas are valid");
        let bound = match rule {
            Rule::TokenBucket { capacity, .. } => capacity.max(u64::from(self.limit)) + 2,
            _ => u64::from(self.limit) + 2,
        };
        let mut now = match self.align {
            Align::Aligned => self.base - self.base % period,
            Align::Before(d) => self.base - self.base % period - d,
            Align::Anywhere => self.base,
        };
        let mut events = Vec::with_capacity(self.events.len());
        for (i, &(gap, cost)) in self.events.iter().enumerate() {
            if i > 0 {
                now += match gap {
                    Gap::Same => 0,
                    Gap::Tiny(d) => d,
                    Gap::IntervalPermille(p) => interval * p / 1000,
                    Gap::NearInterval(d) => interval.saturating_add_signed(d),
                    Gap::PeriodPermille(p) => period * p / 1000,
                    Gap::Long(p) => period * p / 1000,
                    Gap::NextBoundary(d) => {
                        let next = now - now % period + period;
                        next.saturating_add_signed(d).saturating_sub(now)
                    }
                };
            }
            let cost = match cost {
                CostSpec::One => 1,
                CostSpec::Zero => 0,
                CostSpec::Any(raw) => u64::from(raw) % (bound + 1),
            };
            events.push((now, u32::try_from(cost).unwrap()));
        }
        Scenario {
            quota,
            rule,
            interval,
            period,
            events,
        }
    }
}

/// One decision of a timeline.
#[derive(Clone, Copy, Debug)]
struct Step {
    t: u64,
    cost: u32,
    before: State,
    out: Outcome,
}

impl Scenario {
    /// Runs the timeline from a fresh key, checking what every single status must say.
    fn run(&self) -> Result<Vec<Step>, TestCaseError> {
        let mut state = State::default();
        let mut steps = Vec::with_capacity(self.events.len());
        for &(t, cost) in &self.events {
            let out = decide(&self.rule, &state, t, cost);
            let st = out.status;
            prop_assert_eq!(st.limit, self.rule.limit(), "limit at {} cost {}", t, cost);
            if out.allowed {
                prop_assert_eq!(st.retry_after, None, "retry_after when admitted at {}", t);
            }
            if !matches!(self.rule, Rule::LeakyBucket { .. }) || !out.allowed {
                prop_assert_eq!(st.delay, 0, "delay at {} cost {}", t, cost);
            }
            steps.push(Step {
                t,
                cost,
                before: state,
                out,
            });
            state = out.state;
        }
        Ok(steps)
    }

    /// The largest cost a key can ever be admitted for (`None`: any).
    fn max_cost(&self) -> Option<u64> {
        match self.rule {
            Rule::TokenBucket { capacity, .. } => Some(capacity),
            Rule::FixedWindow { limit, .. } | Rule::SlidingWindow { limit, .. } => Some(limit),
            Rule::LeakyBucket {
                interval, max_wait, ..
            } => Some(max_wait / interval + 1),
            _ => unreachable!("a new rule: teach these tests about it"),
        }
    }

    fn is_leaky(&self) -> bool {
        matches!(self.rule, Rule::LeakyBucket { .. })
    }
}

/// `r` rounded up to whole seconds, as the `Retry-After` header says it.
fn ceil_to_seconds(r: u64) -> u64 {
    r.div_ceil(S) * S
}

/// The pairs `(i, j)` of indices such that `steps[i..=j]` are exactly the steps whose time is
/// in `[steps[i].t, steps[j].t]`: every interval between two arrival times.
fn intervals(steps: &[Step]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let n = steps.len();
    (0..n)
        .filter(move |&i| i == 0 || steps[i - 1].t != steps[i].t)
        .flat_map(move |i| {
            (i..n)
                .filter(move |&j| j + 1 == n || steps[j + 1].t != steps[j].t)
                .map(move |j| (i, j))
        })
}

/// Prefix sums of `f(step)` over the steps.
fn prefix(steps: &[Step], f: impl Fn(&Step) -> u64) -> Vec<u64> {
    let mut sums = vec![0];
    for s in steps {
        sums.push(sums.last().unwrap() + f(s));
    }
    sums
}

fn admitted_units(s: &Step) -> u64 {
    if s.out.allowed { u64::from(s.cost) } else { 0 }
}

// ---------------------------------------------------------------------------------------------
// 1. Never more than the quota (and never less).
// ---------------------------------------------------------------------------------------------

fn check_token_bucket(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    let Rule::TokenBucket {
        interval, capacity, ..
    } = sc.rule
    else {
        unreachable!()
    };
    prop_assert_eq!(interval, sc.interval);
    prop_assert_eq!(capacity, u64::from(sc.quota.burst_size()));
    // Model: a level of capacity × interval "µs of tokens", full at first, refilled one per µs.
    let full = capacity * interval;
    let mut level = full;
    for (k, s) in steps.iter().enumerate() {
        if k > 0 {
            level = full.min(level + (s.t - steps[k - 1].t));
        }
        let need = u64::from(s.cost) * interval;
        let fits = need <= level;
        prop_assert_eq!(
            s.out.allowed,
            fits,
            "step {}: cost {} at {} with {}/{} µs of tokens",
            k,
            s.cost,
            s.t,
            level,
            full
        );
        if fits {
            level -= need;
        }
    }
    let units = prefix(steps, admitted_units);
    for (i, j) in intervals(steps) {
        let (t1, t2) = (steps[i].t, steps[j].t);
        let got = units[j + 1] - units[i];
        let bound = capacity + (t2 - t1) / interval;
        prop_assert!(
            got <= bound,
            "{} units admitted in [{}, {}] ({} µs), more than {} + {} / {}",
            got,
            t1,
            t2,
            t2 - t1,
            capacity,
            t2 - t1,
            interval
        );
    }
    Ok(())
}

fn check_fixed_window(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    let Rule::FixedWindow { window, limit, .. } = sc.rule else {
        unreachable!()
    };
    prop_assert_eq!(window, sc.period);
    let mut per_window: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, s) in steps.iter().enumerate() {
        let used = per_window.entry(s.t / window).or_default();
        let fits = *used + u64::from(s.cost) <= limit;
        prop_assert_eq!(
            s.out.allowed,
            fits,
            "step {}: cost {} at {}, {} already admitted in window {}",
            k,
            s.cost,
            s.t,
            *used,
            s.t / window
        );
        if s.out.allowed {
            *used += u64::from(s.cost);
        }
    }
    for (w, used) in per_window {
        prop_assert!(
            used <= limit,
            "{} admitted in window {} (from {})",
            used,
            w,
            w * window
        );
    }
    Ok(())
}

fn check_sliding_window(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    let Rule::SlidingWindow { window, limit, .. } = sc.rule else {
        unreachable!()
    };
    prop_assert_eq!(window, sc.period);
    let w = u128::from(window);
    let mut per_window: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, s) in steps.iter().enumerate() {
        let idx = s.t / window;
        let elapsed = s.t % window;
        let previous = per_window.get(&(idx - 1)).copied().unwrap_or(0);
        let current = per_window.get(&idx).copied().unwrap_or(0);
        // weighted + cost ≤ limit, times the window: exact.
        let lhs = u128::from(previous) * u128::from(window - elapsed)
            + u128::from(current + u64::from(s.cost)) * w;
        let fits = lhs <= u128::from(limit) * w;
        prop_assert_eq!(
            s.out.allowed,
            fits,
            "step {}: cost {} at {} ({} µs into window {}), previous {} current {}",
            k,
            s.cost,
            s.t,
            elapsed,
            idx,
            previous,
            current
        );
        if s.out.allowed {
            *per_window.entry(idx).or_default() += u64::from(s.cost);
        }
    }
    Ok(())
}

fn check_leaky_bucket(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    let Rule::LeakyBucket {
        interval, max_wait, ..
    } = sc.rule
    else {
        unreachable!()
    };
    prop_assert_eq!(interval, sc.interval);
    prop_assert_eq!(sc.rule.limit(), max_wait / interval + 1);
    // Model: the queue's next free start.
    let mut free = 0u64;
    let mut last: Option<(u64, u32)> = None; // (start, cost) of the last admitted
    for (k, s) in steps.iter().enumerate() {
        let wait = free.max(s.t) - s.t;
        if s.cost == 0 {
            // A read takes no turn: admitted at once, and the queue is as it was.
            prop_assert!(s.out.allowed, "step {}: read refused", k);
            prop_assert_eq!(s.out.status.delay, 0, "step {}: read delayed", k);
            continue;
        }
        // Its last turn, (cost − 1) intervals after its first, within max_wait too.
        let last_turn = wait + (u64::from(s.cost) - 1) * interval;
        prop_assert!(
            s.out.allowed == (last_turn <= max_wait),
            "step {}: cost {} at {} would wait {} µs (its last turn {} µs), max_wait {}",
            k,
            s.cost,
            s.t,
            wait,
            last_turn,
            max_wait
        );
        if !s.out.allowed {
            continue;
        }
        prop_assert_eq!(s.out.status.delay, wait, "step {}: delay", k);
        prop_assert!(s.out.status.delay <= max_wait, "step {}: delay", k);
        let start = s.t + s.out.status.delay;
        if let Some((prev, prev_cost)) = last {
            let gap = interval * u64::from(prev_cost);
            prop_assert!(
                start >= prev + gap,
                "step {}: starts at {}, {} µs after the previous start, of cost {}",
                k,
                start,
                start - prev,
                prev_cost
            );
        }
        last = Some((start, s.cost));
        free = start + u64::from(s.cost) * interval;
    }
    // Requests of cost ≥ 1 admitted in [t1, t2] start in [t1, t2 + max_wait], `interval`
    // apart at least.
    let counted = prefix(steps, |s| u64::from(s.out.allowed && s.cost > 0));
    for (i, j) in intervals(steps) {
        let (t1, t2) = (steps[i].t, steps[j].t);
        let got = counted[j + 1] - counted[i];
        let bound = 1 + (t2 - t1 + max_wait) / interval;
        prop_assert!(
            got <= bound,
            "{} requests admitted in [{}, {}], more than 1 + ({} + {}) / {}",
            got,
            t1,
            t2,
            t2 - t1,
            max_wait,
            interval
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2.–7. What every status says, checked against the decisions it predicts.
// ---------------------------------------------------------------------------------------------

fn check_remaining(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    for s in steps {
        let remaining = s.out.status.remaining;
        let mut state = s.out.state;
        for n in 0..remaining {
            let o = decide(&sc.rule, &state, s.t, 1);
            prop_assert!(
                o.allowed,
                "after cost {} at {} ({}), remaining {} but request {} of cost 1 refused",
                s.cost,
                s.t,
                if s.out.allowed { "admitted" } else { "refused" },
                remaining,
                n + 1
            );
            state = o.state;
        }
        let o = decide(&sc.rule, &state, s.t, 1);
        prop_assert!(
            !o.allowed,
            "after cost {} at {}, remaining {} but one more was admitted",
            s.cost,
            s.t,
            remaining
        );
    }
    Ok(())
}

fn check_retry_after(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    for s in steps.iter().filter(|s| !s.out.allowed) {
        let admitted = |at: u64| decide(&sc.rule, &s.before, at, s.cost).allowed;
        let possible = sc.max_cost().is_none_or(|m| u64::from(s.cost) <= m);
        match s.out.status.retry_after {
            Some(r) => {
                prop_assert!(
                    possible,
                    "cost {} can never be admitted, yet retry_after {}",
                    s.cost,
                    r
                );
                prop_assert!(
                    r >= 1,
                    "cost {} refused at {} with retry_after 0",
                    s.cost,
                    s.t
                );
                prop_assert!(
                    admitted(s.t + r),
                    "cost {} refused at {}, still refused after retry_after {}",
                    s.cost,
                    s.t,
                    r
                );
                prop_assert!(
                    !admitted(s.t + r - 1),
                    "cost {} refused at {} with retry_after {}, admitted 1 µs earlier",
                    s.cost,
                    s.t,
                    r
                );
                prop_assert!(
                    admitted(s.t + ceil_to_seconds(r)),
                    "cost {} refused at {}, refused after Retry-After {} s",
                    s.cost,
                    s.t,
                    ceil_to_seconds(r) / S
                );
            }
            None => {
                prop_assert!(
                    !possible,
                    "cost {} refused at {} without retry_after, max cost {:?}",
                    s.cost,
                    s.t,
                    sc.max_cost()
                );
                // No wait helps, not even a fresh key's.
                prop_assert!(!decide(&sc.rule, &State::default(), s.t, s.cost).allowed);
                prop_assert!(!admitted(s.t + 3 * sc.rule.window().max(sc.period)));
            }
        }
    }
    Ok(())
}

fn check_reset(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    let full = sc.rule.limit();
    for s in steps {
        let reset = s.out.status.reset_after;
        let read = decide(&sc.rule, &s.out.state, s.t + reset, 0);
        prop_assert!(read.allowed);
        prop_assert_eq!(
            read.status.remaining,
            full,
            "after cost {} at {}: not full at reset_after {}",
            s.cost,
            s.t,
            reset
        );
        // The leaky bucket's reset is when the queue is empty; its remaining may be back to
        // full before (when max_wait is not a multiple of the interval).
        if reset > 0 && !sc.is_leaky() {
            let early = decide(&sc.rule, &s.out.state, s.t + reset - 1, 0);
            prop_assert!(
                early.status.remaining < full,
                "after cost {} at {}: already full 1 µs before reset_after {}",
                s.cost,
                s.t,
                reset
            );
        }
    }
    Ok(())
}

fn check_more_quota(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    let full = sc.rule.limit();
    let sliding = matches!(sc.rule, Rule::SlidingWindow { .. });
    for s in steps {
        let st = s.out.status;
        let t = st.more_quota_after(&sc.rule);
        if let Some(r) = st.retry_after {
            prop_assert!(!s.out.allowed);
            prop_assert_eq!(
                t,
                r,
                "refused cost {} at {}: t is not Retry-After",
                s.cost,
                s.t
            );
            prop_assert_eq!(ceil_to_seconds(t), ceil_to_seconds(r));
            continue;
        }
        if st.remaining >= full {
            prop_assert_eq!(t, 0, "at the full limit after cost {} at {}", s.cost, s.t);
            continue;
        }
        prop_assert!(
            t > 0,
            "nothing more to come, yet {} < {} remaining",
            st.remaining,
            full
        );
        prop_assert!(
            t <= st.reset_after,
            "t {} past reset_after {} after cost {} at {}",
            t,
            st.reset_after,
            s.cost,
            s.t
        );
        let read = |at: u64| decide(&sc.rule, &s.out.state, at, 0).status.remaining;
        prop_assert!(
            read(s.t + t) > st.remaining,
            "after cost {} at {}: no more quota at t = {} ({} remaining)",
            s.cost,
            s.t,
            t,
            st.remaining
        );
        if !sliding {
            prop_assert_eq!(
                read(s.t + t - 1),
                st.remaining,
                "after cost {} at {}: more quota 1 µs before t = {}",
                s.cost,
                s.t,
                t
            );
        }
    }
    Ok(())
}

/// Whether two states decide alike from `t` on, probed at a few instants and costs.
fn decide_alike(
    sc: &Scenario,
    a: &State,
    b: &State,
    t: u64,
    costs: &[u32],
    what: &str,
) -> Result<(), TestCaseError> {
    let p = sc.period;
    for at in [t, t + 1, t + sc.interval, t + p / 2, t + p, t + 2 * p + 1] {
        for &c in costs {
            let (x, y) = (decide(&sc.rule, a, at, c), decide(&sc.rule, b, at, c));
            prop_assert_eq!(x.allowed, y.allowed, "{}: cost {} at {}", what, c, at);
            prop_assert_eq!(x.status, y.status, "{}: cost {} at {}", what, c, at);
            if x.allowed {
                prop_assert_eq!(x.state, y.state, "{}: cost {} at {}", what, c, at);
            }
        }
    }
    Ok(())
}

fn check_refusals_and_reads(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    for s in steps {
        if !s.out.allowed {
            prop_assert_eq!(s.out.state, s.before, "refused cost {} at {}", s.cost, s.t);
        }
        let read = decide(&sc.rule, &s.before, s.t, 0);
        prop_assert!(read.allowed, "cost-0 read refused at {}", s.t);
        if read.allowed {
            prop_assert_eq!(read.status.retry_after, None);
            decide_alike(
                sc,
                &s.before,
                &read.state,
                s.t,
                &[1, s.cost],
                "a cost-0 read changed the state",
            )?;
        } else {
            prop_assert_eq!(read.state, s.before);
        }
    }
    Ok(())
}

fn check_monotonic(sc: &Scenario, steps: &[Step], later: u64) -> Result<(), TestCaseError> {
    let p = sc.period;
    for s in steps {
        let read = decide(&sc.rule, &s.before, s.t, 0).status.remaining;
        for d in [1, later, sc.interval, p - 1, p, p + 1, 2 * p + later] {
            let o = decide(&sc.rule, &s.before, s.t + d, s.cost);
            if s.out.allowed {
                prop_assert!(
                    o.allowed,
                    "cost {} admitted at {}, refused {} µs later",
                    s.cost,
                    s.t,
                    d
                );
            }
            let again = decide(&sc.rule, &s.before, s.t + d, 0).status.remaining;
            prop_assert!(
                again >= read,
                "remaining {} at {}, {} µs later {}",
                read,
                s.t,
                d,
                again
            );
        }
    }
    Ok(())
}

fn check_expires(sc: &Scenario, steps: &[Step]) -> Result<(), TestCaseError> {
    for s in steps {
        let at = s.t + s.out.status.expires_after;
        decide_alike(
            sc,
            &s.out.state,
            &State::default(),
            at,
            &[0, 1, s.cost],
            "expired state unlike a fresh key",
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn token_bucket_never_admits_more_than_the_quota(case in case(token_bucket())) {
        let sc = case.resolve();
        let steps = sc.run()?;
        check_token_bucket(&sc, &steps)?;
    }

    #[test]
    fn fixed_window_never_admits_more_than_the_quota(case in case(Just(AlgoSpec::Fixed).boxed())) {
        let sc = case.resolve();
        let steps = sc.run()?;
        check_fixed_window(&sc, &steps)?;
    }

    #[test]
    fn sliding_window_never_admits_more_than_the_quota(
        case in case(Just(AlgoSpec::Sliding).boxed())
    ) {
        let sc = case.resolve();
        let steps = sc.run()?;
        check_sliding_window(&sc, &steps)?;
    }

    #[test]
    fn leaky_bucket_never_admits_more_than_the_quota(case in case(leaky_bucket())) {
        let sc = case.resolve();
        let steps = sc.run()?;
        check_leaky_bucket(&sc, &steps)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn remaining_tells_the_truth(case in case(any_algorithm())) {
        let sc = case.resolve();
        check_remaining(&sc, &sc.run()?)?;
    }

    #[test]
    fn retry_after_tells_the_truth(case in case(any_algorithm())) {
        let sc = case.resolve();
        check_retry_after(&sc, &sc.run()?)?;
    }

    #[test]
    fn reset_tells_the_truth(case in case(any_algorithm())) {
        let sc = case.resolve();
        check_reset(&sc, &sc.run()?)?;
    }

    #[test]
    fn ietf_t_tells_the_truth(case in case(any_algorithm())) {
        let sc = case.resolve();
        check_more_quota(&sc, &sc.run()?)?;
    }

    #[test]
    fn refusals_and_reads_change_nothing(case in case(any_algorithm())) {
        let sc = case.resolve();
        check_refusals_and_reads(&sc, &sc.run()?)?;
    }

    #[test]
    fn admission_is_monotonic_in_time(case in case(any_algorithm()), later in 0u64..=2 * DAY) {
        let sc = case.resolve();
        check_monotonic(&sc, &sc.run()?, later)?;
    }

    #[test]
    fn expires_tells_the_truth(case in case(any_algorithm())) {
        let sc = case.resolve();
        check_expires(&sc, &sc.run()?)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The design document's examples, and known edge cases.
// ---------------------------------------------------------------------------------------------

/// 2024-06-15 11:43:00 UTC: on a minute boundary.
const T0: u64 = 1_718_451_780 * S;

fn rule(algorithm: Algorithm, quota: Quota) -> Rule {
    Rule::new(algorithm, quota).unwrap()
}

/// Applies `n` requests of cost 1 at `now`; all must be admitted.
fn spend(rule: &Rule, mut state: State, now: u64, n: u64) -> State {
    for k in 0..n {
        let o = decide(rule, &state, now, 1);
        assert!(o.allowed, "request {} of {n} refused", k + 1);
        state = o.state;
    }
    state
}

#[test]
fn sliding_window_of_the_design_document() {
    // 80 in the previous minute, 30 in this one, 30 s in: 80 × 0.5 + 30 = 70 of 100.
    let r = rule(Algorithm::SlidingWindow, Quota::per_minute(100));
    let state = State {
        a: T0 + 60 * S,
        b: 30,
        c: 80,
    };
    let now = T0 + 90 * S;
    let read = decide(&r, &state, now, 0);
    assert!(read.allowed);
    assert_eq!(read.status.remaining, 30);
    assert_eq!(read.status.limit, 100);
    let state = spend(&r, state, now, 30);
    let o = decide(&r, &state, now, 1);
    assert!(!o.allowed);
    assert_eq!(o.state, state);
    // 80 × (60 − e)/60 + 60 + 1 ≤ 100 ⇔ e ≥ 30.75 s; the header says 1 s.
    assert_eq!(o.status.retry_after, Some(750 * MS));
    assert!(!decide(&r, &state, now + 750 * MS - 1, 1).allowed);
    assert!(decide(&r, &state, now + 750 * MS, 1).allowed);
    assert!(decide(&r, &state, now + S, 1).allowed);
    // Both windows count until the next one ends.
    assert_eq!(o.status.reset_after, 90 * S);
}

#[test]
fn token_bucket_of_the_quota_documentation() {
    // 1,000 per hour, at most 20 at once: one token back every 3.6 s.
    let r = rule(Algorithm::TokenBucket, Quota::per_hour(1000).burst(20));
    assert_eq!((r.limit(), r.window()), (20, 72 * S));
    let state = spend(&r, State::default(), T0, 20);
    let o = decide(&r, &state, T0, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, Some(3600 * MS));
    assert_eq!(o.status.reset_after, 72 * S);
    assert!(decide(&r, &state, T0 + 3600 * MS, 1).allowed);
    assert!(!decide(&r, &state, T0 + 3600 * MS, 2).allowed);
}

#[test]
fn token_bucket_of_the_module_documentation() {
    // 2 per minute: the third is refused, Retry-After 30.
    let r = rule(Algorithm::TokenBucket, Quota::per_minute(2));
    let state = spend(&r, State::default(), T0 + 123, 2);
    let o = decide(&r, &state, T0 + 123, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, Some(30 * S));
    assert_eq!(ceil_to_seconds(o.status.retry_after.unwrap()), 30 * S);
}

#[test]
fn fixed_window_lets_twice_the_limit_through_around_a_boundary() {
    // The design document's warning: 3 at :59, 3 more at :00.
    let r = rule(Algorithm::FixedWindow, Quota::per_minute(3));
    let state = spend(&r, State::default(), T0 - S, 3);
    assert!(!decide(&r, &state, T0 - 1, 1).allowed);
    let o = decide(&r, &state, T0 - S, 1);
    assert_eq!(o.status.retry_after, Some(S));
    spend(&r, state, T0, 3);
}

#[test]
fn leaky_bucket_queues_one_per_interval() {
    // One per second, waiting at most 2 s: a queue of 3.
    let r = rule(
        Algorithm::LeakyBucket {
            max_wait: Duration::from_secs(2),
        },
        Quota::per_second(1),
    );
    assert_eq!(r.limit(), 3);
    let mut state = State::default();
    for (delay, left) in [(0, 2), (S, 1), (2 * S, 0)] {
        let o = decide(&r, &state, T0, 1);
        assert!(o.allowed);
        assert_eq!((o.status.delay, o.status.remaining), (delay, left));
        state = o.state;
    }
    let o = decide(&r, &state, T0, 1);
    assert!(!o.allowed);
    assert_eq!(o.status.retry_after, Some(S));
}

/// Property 1's leaky-bucket count bound, 1 + ⌊(t2 − t1 + max_wait) / interval⌋, is tight:
/// `queue capacity + ⌊(t2 − t1) / interval⌋` (capacity = ⌊max_wait / interval⌋ + 1) is one
/// short when max_wait is not a multiple of the interval. Starts stay an interval apart.
#[test]
fn leaky_bucket_count_bound_is_tight() {
    // interval 1 s, max_wait 0.5 s: a queue of 1.
    let r = rule(
        Algorithm::LeakyBucket {
            max_wait: Duration::from_millis(500),
        },
        Quota::per_second(1),
    );
    assert_eq!(r.limit(), 1);
    let first = decide(&r, &State::default(), T0, 1);
    assert!(first.allowed);
    assert_eq!(first.status.remaining, 0);
    // Half a second later the first request has started and the queue is free again.
    let second = decide(&r, &first.state, T0 + 500 * MS, 1);
    assert!(second.allowed);
    assert_eq!(second.status.delay, 500 * MS);
    // Two admitted in [T0, T0 + 0.5 s]: 1 + ⌊(0.5 + 0.5) / 1⌋ = 2, but 1 + ⌊0.5 / 1⌋ = 1.
    // Their starts, T0 and T0 + 1 s, are one interval apart.
}

/// A cost-0 read of a leaky bucket whose queue is full is admitted at once, takes no turn and
/// reports the standing (once a bug: reads were refused like requests).
#[test]
fn leaky_bucket_admits_cost_zero_reads() {
    let r = rule(
        Algorithm::LeakyBucket {
            max_wait: Duration::ZERO,
        },
        Quota::per_second(1),
    );
    let full = decide(&r, &State::default(), T0, 1);
    assert!(full.allowed);
    let read = decide(&r, &full.state, T0, 0);
    assert!(read.allowed, "cost-0 read refused: {read:?}");
    assert_eq!(read.status.retry_after, None);
    assert_eq!(read.status.delay, 0);
    assert_eq!(read.status.remaining, 0);
}
