//! The decision math of every algorithm, as pure functions over (state, now, rule, cost).
//!
//! Every [`Store`](super::Store) applies the same math: the in-memory store in process, a
//! remote store in one atomic step on its server. Time is whole microseconds since the Unix
//! epoch (a `u64`, exact in a Lua number too), durations are whole microseconds, and every
//! computation is integer arithmetic, so two stores given the same timeline decide the same.
//!
//! | algorithm | state | allows | `limit` | `remaining` | reset |
//! |---|---|---|---|---|---|
//! | token bucket (GCRA) | theoretical arrival time | a burst of `burst`, refilled at `limit / period` | burst | whole tokens left | when the bucket is full |
//! | fixed window | window start, count | `limit` per window aligned on the Unix epoch | limit | `limit - count` | end of the window |
//! | sliding window | window start, count, previous count | `limit` of the weighted count `previous × (1 − elapsed/period) + current` | limit | `limit − weighted` rounded down | when the weighted count is 0 |
//! | leaky bucket (queue) | time the queue drains | requests start one per `period / limit`, each waits at most `max_wait` | queue capacity | queue slots left | when the queue is empty |

use std::fmt;
use std::time::Duration;

/// Microseconds in a second.
pub const MICROS_PER_SEC: u64 = 1_000_000;

/// The longest period a quota may have: 366 days.
pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

/// How many requests a key may make, written the way people say it.
///
/// `Quota::per_minute(100)` is 100 requests per minute. `Quota::per_hour(1000).burst(20)` is
/// 1,000 per hour on average, at most 20 at once: a token bucket holding 20 tokens, refilled
/// with one token every 3.6 seconds. Without [`burst`](Quota::burst), the burst is the whole
/// limit. A number is always a count of requests (or of [cost](super::Limit::cost) units),
/// never an interval.
///
/// ```
/// use std::time::Duration;
/// use tower_shield::rate_limit::Quota;
///
/// let q = Quota::per_hour(1000).burst(20);
/// assert_eq!(q.limit(), 1000);
/// assert_eq!(q.period(), Duration::from_secs(3600));
/// assert_eq!(q.burst_size(), 20);
/// assert_eq!(q.interval(), Duration::from_millis(3600));
/// assert_eq!(Quota::per_second(2).burst(20).interval(), Duration::from_millis(500));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: u32,
    period: Duration,
    burst: Option<u32>,
}

impl Quota {
    /// `limit` requests every `period`.
    pub const fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            burst: None,
        }
    }

    /// `limit` requests per second.
    pub const fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// `limit` requests per minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// `limit` requests per hour.
    pub const fn per_hour(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(3600))
    }

    /// `limit` requests per day (24 hours).
    pub const fn per_day(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(86_400))
    }

    /// At most `burst` requests at once (token bucket only): the bucket's capacity.
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The number of requests per period.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The burst set with [`burst`](Quota::burst), if any.
    pub const fn explicit_burst(&self) -> Option<u32> {
        self.burst
    }

    /// The capacity of a token bucket: the burst, else the limit.
    pub const fn burst_size(&self) -> u32 {
        match self.burst {
            Some(b) => b,
            None => self.limit,
        }
    }

    /// The time one request's worth of capacity takes to come back: `period / limit`,
    /// rounded up to the microsecond (rounding up never lets more through than the quota).
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_us())
    }

    pub(crate) fn period_us(&self) -> u64 {
        u64::try_from(self.period.as_micros()).unwrap_or(u64::MAX)
    }

    pub(crate) fn interval_us(&self) -> u64 {
        if self.limit == 0 {
            return self.period_us();
        }
        self.period_us().div_ceil(u64::from(self.limit))
    }

    /// Why this quota cannot be used, if it cannot.
    pub(crate) fn check(&self) -> Result<(), QuotaError> {
        if self.limit == 0 {
            return Err(QuotaError::ZeroLimit);
        }
        if self.period.as_micros() == 0 {
            return Err(QuotaError::ZeroPeriod);
        }
        if self.period > MAX_PERIOD {
            return Err(QuotaError::PeriodTooLong);
        }
        if self.burst == Some(0) {
            return Err(QuotaError::ZeroBurst);
        }
        Ok(())
    }
}

impl fmt::Debug for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Quota {
    /// `100 per minute`, `1000 per hour (burst 20)`, `5 per 10s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per ", self.limit)?;
        match self.period.as_secs() {
            1 if self.period.subsec_nanos() == 0 => f.write_str("second")?,
            60 if self.period.subsec_nanos() == 0 => f.write_str("minute")?,
            3600 if self.period.subsec_nanos() == 0 => f.write_str("hour")?,
            86_400 if self.period.subsec_nanos() == 0 => f.write_str("day")?,
            _ => write!(f, "{:?}", self.period)?,
        }
        if let Some(b) = self.burst {
            write!(f, " (burst {b})")?;
        }
        Ok(())
    }
}

/// What is wrong with a [`Quota`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaError {
    /// A limit of 0 would refuse everything; remove the route or use a `ScopeLayer` instead.
    ZeroLimit,
    /// A period of less than a microsecond.
    ZeroPeriod,
    /// A period longer than [`MAX_PERIOD`].
    PeriodTooLong,
    /// A burst of 0 would refuse everything.
    ZeroBurst,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroLimit => "a quota's limit must be at least 1",
            Self::ZeroPeriod => "a quota's period must be at least one microsecond",
            Self::PeriodTooLong => "a quota's period must be at most 366 days",
            Self::ZeroBurst => "a quota's burst must be at least 1",
        })
    }
}

impl std::error::Error for QuotaError {}

/// Which algorithm a [`Limit`](super::Limit) decides with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Token bucket as GCRA: a burst of [`Quota::burst_size`], refilled evenly over the period.
    /// Smooth and burst-tolerant; the default.
    #[default]
    TokenBucket,
    /// Counts per window aligned on the Unix epoch (a per-minute window starts at `:00`).
    /// Cheapest, but lets twice the limit through around a window boundary.
    FixedWindow,
    /// The sliding window counter: the previous window's count, weighted by how much of it
    /// still overlaps the last period, plus the current window's count.
    SlidingWindow,
    /// Leaky bucket as a queue: requests start at the drain rate (`period / limit` apart); a
    /// request that would wait longer than `max_wait` is refused. The layer delays admitted
    /// requests until their turn, on tokio's timer (so it needs a tokio runtime with time
    /// enabled, as axum and tonic have).
    LeakyBucket {
        /// The longest a request may wait for its turn.
        max_wait: Duration,
    },
}

impl Algorithm {
    /// The algorithm's name in logs and policies: `token_bucket`, `fixed_window`,
    /// `sliding_window`, `leaky_bucket`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TokenBucket => "token_bucket",
            Self::FixedWindow => "fixed_window",
            Self::SlidingWindow => "sliding_window",
            Self::LeakyBucket { .. } => "leaky_bucket",
        }
    }
}

/// A quota compiled for its algorithm: the numbers the decision math needs, in microseconds.
///
/// Only [`Rule::new`] makes one (its variants cannot be built elsewhere), so a window or an
/// interval is never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// GCRA.
    #[non_exhaustive]
    TokenBucket {
        /// Microseconds per token.
        interval: u64,
        /// Tokens the bucket holds.
        capacity: u64,
    },
    /// Fixed window.
    #[non_exhaustive]
    FixedWindow {
        /// Window length, microseconds.
        window: u64,
        /// Requests per window.
        limit: u64,
    },
    /// Sliding window counter.
    #[non_exhaustive]
    SlidingWindow {
        /// Window length, microseconds.
        window: u64,
        /// Requests per (weighted) window.
        limit: u64,
    },
    /// Leaky bucket as a queue.
    #[non_exhaustive]
    LeakyBucket {
        /// Microseconds between two request starts.
        interval: u64,
        /// The longest wait, microseconds.
        max_wait: u64,
    },
}

impl Rule {
    /// Compiles `quota` for `algorithm`.
    ///
    /// # Errors
    ///
    /// When the quota is unusable, or has a burst and the algorithm is not the token bucket.
    pub fn new(algorithm: Algorithm, quota: Quota) -> Result<Self, RuleError> {
        quota.check().map_err(RuleError::Quota)?;
        if quota.burst.is_some() && algorithm != Algorithm::TokenBucket {
            return Err(RuleError::BurstNeedsTokenBucket);
        }
        let limit = u64::from(quota.limit);
        Ok(match algorithm {
            Algorithm::TokenBucket => Self::TokenBucket {
                interval: quota.interval_us(),
                capacity: u64::from(quota.burst_size()),
            },
            Algorithm::FixedWindow => Self::FixedWindow {
                window: quota.period_us(),
                limit,
            },
            Algorithm::SlidingWindow => Self::SlidingWindow {
                window: quota.period_us(),
                limit,
            },
            Algorithm::LeakyBucket { max_wait } => {
                if max_wait > MAX_PERIOD {
                    return Err(RuleError::MaxWaitTooLong);
                }
                Self::LeakyBucket {
                    interval: quota.interval_us(),
                    max_wait: u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX),
                }
            }
        })
    }

    /// The `limit` reported to clients: the bucket's capacity, the window's limit or the
    /// queue's capacity.
    pub fn limit(&self) -> u64 {
        match *self {
            Self::TokenBucket { capacity, .. } => capacity,
            Self::FixedWindow { limit, .. } | Self::SlidingWindow { limit, .. } => limit,
            Self::LeakyBucket { interval, max_wait } => max_wait / interval.max(1) + 1,
        }
    }

    /// The period over which [`limit`](Rule::limit) requests may be made from a fresh state,
    /// in microseconds: the `w` of a `RateLimit-Policy`.
    pub fn window(&self) -> u64 {
        match *self {
            Self::TokenBucket { interval, capacity } => interval.saturating_mul(capacity),
            Self::FixedWindow { window, .. } | Self::SlidingWindow { window, .. } => window,
            Self::LeakyBucket { interval, max_wait } => {
                interval.saturating_mul(max_wait / interval.max(1) + 1)
            }
        }
    }
}

/// Why a [`Rule`] cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// The quota itself is unusable.
    Quota(QuotaError),
    /// A burst only means something to the token bucket.
    BurstNeedsTokenBucket,
    /// A leaky bucket's `max_wait` longer than [`MAX_PERIOD`].
    MaxWaitTooLong,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Quota(e) => e.fmt(f),
            Self::BurstNeedsTokenBucket => {
                f.write_str("a burst only applies to the token bucket algorithm")
            }
            Self::MaxWaitTooLong => {
                f.write_str("a leaky bucket's max_wait must be at most 366 days")
            }
        }
    }
}

impl std::error::Error for RuleError {}

/// The state of one key: three numbers whose meaning depends on the rule. All zeros is a key
/// never seen.
///
/// | rule | `a` | `b` | `c` |
/// |---|---|---|---|
/// | token bucket, leaky bucket | theoretical arrival time (µs) | — | — |
/// | fixed window | window start (µs) | count | — |
/// | sliding window | window start (µs) | count | previous window's count |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct State {
    /// A time: the bucket's arrival time or the window's start.
    pub a: u64,
    /// A count.
    pub b: u64,
    /// The previous window's count.
    pub c: u64,
}

/// What [`decide`] concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// The state to store (the old one, unchanged, when refused).
    pub state: State,
    /// What to tell the client.
    pub status: Status,
}

/// A key's standing after a decision, in microseconds relative to the decision's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The rule's [`limit`](Rule::limit).
    pub limit: u64,
    /// How many more requests of cost 1 would be admitted at this very instant.
    pub remaining: u64,
    /// Until the key is back to its full limit.
    pub reset_after: u64,
    /// When refused: until a retry of the same cost is admitted (if nothing else is spent
    /// meanwhile). `None` when refused and no wait helps (the cost exceeds the limit), and
    /// when admitted.
    pub retry_after: Option<u64>,
    /// When admitted by a leaky bucket: how long the request waits for its turn.
    pub delay: u64,
    /// Until the stored state is no different from a fresh key's: it may be dropped then.
    pub expires_after: u64,
}

/// Decides a request of `cost` at `now` (µs since the Unix epoch) for a key in `state`.
///
/// A cost of 0 admits and changes nothing: it reads the key's standing.
pub fn decide(rule: &Rule, state: &State, now: u64, cost: u32) -> Outcome {
    let cost = u64::from(cost);
    match *rule {
        Rule::TokenBucket { interval, capacity } => gcra(interval, capacity, state, now, cost),
        Rule::FixedWindow { window, limit } => fixed(window, limit, state, now, cost),
        Rule::SlidingWindow { window, limit } => sliding(window, limit, state, now, cost),
        Rule::LeakyBucket { interval, max_wait } => leaky(interval, max_wait, state, now, cost),
    }
}

fn gcra(t: u64, capacity: u64, state: &State, now: u64, cost: u64) -> Outcome {
    let tau = t.saturating_mul(capacity);
    let tat = state.a.max(now);
    let new_tat = tat.saturating_add(cost.saturating_mul(t));
    let allowed = new_tat - now <= tau;
    let kept = if allowed { new_tat } else { tat };
    let remaining = tau.saturating_sub(kept - now) / t.max(1);
    let retry_after = if allowed || cost > capacity {
        None
    } else {
        // tat + cost·t − tau − now > 0, since refused.
        Some(new_tat - tau - now)
    };
    Outcome {
        allowed,
        state: State {
            a: if allowed { new_tat } else { state.a },
            ..State::default()
        },
        status: Status {
            limit: capacity,
            remaining,
            reset_after: kept - now,
            retry_after,
            delay: 0,
            expires_after: kept - now,
        },
    }
}

fn fixed(window: u64, limit: u64, state: &State, now: u64, cost: u64) -> Outcome {
    // A clock that stepped back (a remote store's failover) never reopens a spent window.
    let now = now.max(state.a);
    let start = now - now % window;
    let count = if state.a == start { state.b } else { 0 };
    let total = count.saturating_add(cost);
    let allowed = total <= limit;
    let kept = if allowed { total } else { count };
    let end = start.saturating_add(window) - now;
    let retry_after = if allowed || cost > limit {
        None
    } else {
        Some(end)
    };
    Outcome {
        allowed,
        state: if allowed {
            State {
                a: start,
                b: total,
                c: 0,
            }
        } else {
            *state
        },
        status: Status {
            limit,
            remaining: limit - kept,
            reset_after: if kept == 0 { 0 } else { end },
            retry_after,
            delay: 0,
            expires_after: if kept == 0 { 0 } else { end },
        },
    }
}

fn sliding(window: u64, limit: u64, state: &State, now: u64, cost: u64) -> Outcome {
    let now = now.max(state.a);
    let start = now - now % window;
    let (previous, current) = if state.a == start {
        (state.c, state.b)
    } else if state.a.saturating_add(window) == start {
        (state.b, 0)
    } else {
        (0, 0)
    };
    let elapsed = now - start;
    let w = u128::from(window);
    // The weighted count, times the window: previous × (window − elapsed) + current × window.
    let carried = u128::from(previous) * u128::from(window - elapsed);
    let budget = u128::from(limit) * w;
    let total = current.saturating_add(cost);
    let allowed = carried + u128::from(total) * w <= budget;
    let kept = if allowed { total } else { current };
    let used = carried + u128::from(kept) * w;
    let remaining = u64::try_from(budget.saturating_sub(used) / w).unwrap_or(0);
    let until = |t: u64| t.saturating_sub(now);
    let full_at = if kept > 0 {
        start.saturating_add(window.saturating_mul(2))
    } else if previous > 0 {
        start.saturating_add(window)
    } else {
        now
    };
    let retry_after = if allowed || cost > limit {
        None
    } else {
        Some(sliding_retry(window, limit, start, elapsed, previous, current, cost) - now)
    };
    Outcome {
        allowed,
        state: if allowed {
            State {
                a: start,
                b: total,
                c: previous,
            }
        } else {
            *state
        },
        status: Status {
            limit,
            remaining,
            reset_after: until(full_at),
            retry_after,
            delay: 0,
            expires_after: until(full_at),
        },
    }
}

/// The first instant a request of `cost` (≤ `limit`) is admitted by a sliding window whose
/// current window started at `start`, `elapsed` ago, with these counts.
fn sliding_retry(
    window: u64,
    limit: u64,
    start: u64,
    elapsed: u64,
    previous: u64,
    current: u64,
    cost: u64,
) -> u64 {
    let w = u128::from(window);
    // Later in this window: previous × (window − e) ≤ (limit − current − cost) × window.
    if previous > 0 && current + cost <= limit {
        let slack = u128::from(limit - current - cost) * w / u128::from(previous);
        if slack > 0 {
            let e = u128::from(window).saturating_sub(slack);
            let e = u64::try_from(e).unwrap_or(0).max(elapsed);
            return start + e;
        }
    }
    // In the next window, where the current count becomes the previous one:
    // current × (window − e) ≤ (limit − cost) × window.
    let e = if current == 0 {
        0
    } else {
        let slack = u128::from(limit - cost) * w / u128::from(current);
        u64::try_from(w.saturating_sub(slack)).unwrap_or(window)
    };
    start.saturating_add(window).saturating_add(e)
}

fn leaky(t: u64, max_wait: u64, state: &State, now: u64, cost: u64) -> Outcome {
    let begin = state.a.max(now);
    // A read (cost 0) takes no turn: it is admitted at once, whatever the queue holds.
    let delay = if cost == 0 { 0 } else { begin - now };
    let allowed = delay <= max_wait;
    let kept = if allowed {
        begin.saturating_add(cost.saturating_mul(t))
    } else {
        state.a
    };
    let ahead = kept.saturating_sub(now);
    let remaining = if ahead > max_wait {
        0
    } else {
        (max_wait - ahead) / t.max(1) + 1
    };
    Outcome {
        allowed,
        state: State {
            a: if allowed { kept } else { state.a },
            ..State::default()
        },
        status: Status {
            limit: max_wait / t.max(1) + 1,
            remaining,
            reset_after: ahead,
            retry_after: if allowed {
                None
            } else {
                Some(state.a - max_wait - now)
            },
            delay: if allowed { delay } else { 0 },
            expires_after: ahead,
        },
    }
}

#[cfg(test)]
mod tests {
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
}
