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
//! | leaky bucket (queue) | time the queue drains | requests start one per `period / limit`, each waits at most `max_wait`; a request of cost `n` takes `n` turns, all of them within `max_wait` | queue capacity | queue slots left | when the queue is empty |
//! | backoff (failures) | blocked until, failures, last failure | a read (cost 0) while not blocked; a cost ≥ 1 records failures, and from the `free`-th on blocks for `base × 2ⁿ` (at most `max`) | free | free failures left | when the failures are forgotten |

use std::time::Duration;

mod quota;

pub use quota::{Quota, QuotaError};

/// Microseconds in a second.
pub const MICROS_PER_SEC: u64 = 1_000_000;

/// The longest period a quota may have: 366 days.
pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

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
    /// request that would wait longer than `max_wait` is refused. A request of cost `n` takes
    /// `n` turns in a row and is refused unless the last of them is within `max_wait` too, so
    /// a cost over the queue's capacity is always refused. The layer delays admitted
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
    /// Exponential backoff on failures: the counters of the authentication throttle
    /// ([`Throttle`](crate::auth::Throttle)). Made by [`Rule::backoff`].
    ///
    /// A check of cost 0 reads: it is refused while the key is blocked. A check of cost ≥ 1
    /// records that many failures and is always admitted; from the `free`-th failure on, each
    /// blocks the key for `base × 2^(failures − free)`, at most `max`. Failures are forgotten
    /// `window` after the last one (and not before the block ends).
    #[non_exhaustive]
    Backoff {
        /// Failures before the first block.
        free: u64,
        /// The first block, microseconds.
        base: u64,
        /// The longest block, microseconds.
        max: u64,
        /// How long failures are remembered after the last one, microseconds.
        window: u64,
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

    /// An exponential backoff on failures: `free` failures, then a block of `base` doubling
    /// with each further failure up to `max`; failures are forgotten `window` after the last.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroLimit`] when `free` is 0, [`QuotaError::ZeroPeriod`] when `base` or
    /// `window` is under a microsecond or `max` is under `base`, [`QuotaError::PeriodTooLong`]
    /// when `max` or `window` is over [`MAX_PERIOD`].
    pub fn backoff(
        free: u32,
        base: Duration,
        max: Duration,
        window: Duration,
    ) -> Result<Self, RuleError> {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let (base_us, max_us, window_us) = (us(base), us(max), us(window));
        let error = if free == 0 {
            Some(QuotaError::ZeroLimit)
        } else if base_us == 0 || window_us == 0 || max_us < base_us {
            Some(QuotaError::ZeroPeriod)
        } else if max > MAX_PERIOD || window > MAX_PERIOD {
            Some(QuotaError::PeriodTooLong)
        } else {
            None
        };
        match error {
            Some(e) => Err(RuleError::Quota(e)),
            None => Ok(Self::Backoff {
                free: u64::from(free),
                base: base_us,
                max: max_us,
                window: window_us,
            }),
        }
    }

    /// The `limit` reported to clients: the bucket's capacity, the window's limit or the
    /// queue's capacity (a backoff's free failures).
    pub fn limit(&self) -> u64 {
        match *self {
            Self::TokenBucket { capacity, .. } => capacity,
            Self::FixedWindow { limit, .. } | Self::SlidingWindow { limit, .. } => limit,
            Self::LeakyBucket { interval, max_wait } => max_wait / interval.max(1) + 1,
            Self::Backoff { free, .. } => free,
        }
    }

    /// One of `n` instances' share of this rule: `1/n` of its limit (at least 1) over the same
    /// period; a leaky bucket drains `n` times slower.
    pub(crate) fn share(&self, n: u32) -> Self {
        let n = u64::from(n.max(1));
        match *self {
            Self::TokenBucket { interval, capacity } => Self::TokenBucket {
                interval: interval.saturating_mul(n),
                capacity: (capacity / n).max(1),
            },
            Self::FixedWindow { window, limit } => Self::FixedWindow {
                window,
                limit: (limit / n).max(1),
            },
            Self::SlidingWindow { window, limit } => Self::SlidingWindow {
                window,
                limit: (limit / n).max(1),
            },
            Self::LeakyBucket { interval, max_wait } => Self::LeakyBucket {
                interval: interval.saturating_mul(n),
                max_wait,
            },
            // Each instance counts its own failures: a share of the free ones.
            Self::Backoff {
                free,
                base,
                max,
                window,
            } => Self::Backoff {
                free: (free / n).max(1),
                base,
                max,
                window,
            },
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
            Self::Backoff { window, .. } => window,
        }
    }
}

/// Why a [`Rule`] cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The quota itself is unusable.
    #[error(transparent)]
    Quota(QuotaError),
    /// A burst only means something to the token bucket.
    #[error("a burst only applies to the token bucket algorithm")]
    BurstNeedsTokenBucket,
    /// A leaky bucket's `max_wait` longer than [`MAX_PERIOD`].
    #[error("a leaky bucket's max_wait must be at most 366 days")]
    MaxWaitTooLong,
}

/// The state of one key: three numbers whose meaning depends on the rule. All zeros is a key
/// never seen.
///
/// | rule | `a` | `b` | `c` |
/// |---|---|---|---|
/// | token bucket, leaky bucket | theoretical arrival time (µs) | — | — |
/// | fixed window | window start (µs) | count | — |
/// | sliding window | window start (µs) | count | previous window's count |
/// | backoff | blocked until (µs) | failures | last failure (µs) |
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

impl Status {
    /// Microseconds until more quota is made available: the `t` parameter of the IETF
    /// `RateLimit` field (draft-ietf-httpapi-ratelimit-headers-10 §4.1.2, "the number of
    /// seconds until additional quota associated with the quota policy is made available"),
    /// before rounding up to whole seconds. `rule` is the rule that decided.
    ///
    /// - **Refused** with a [`retry_after`](Status::retry_after): exactly that, so on a `429`
    ///   `t` says what `Retry-After` says (a client reading either waits the same).
    /// - **At the full limit** (nothing spent, or all of it back): 0, nothing more to come.
    /// - Otherwise, until [`remaining`](Status::remaining) grows by one:
    ///   - token bucket: until the next token is back (exact);
    ///   - fixed window: until the window ends (exact);
    ///   - leaky bucket: until the queue has drained one more slot (exact);
    ///   - sliding window: until the key is back to its full limit
    ///     ([`reset_after`](Status::reset_after)), an upper bound: the weighted count of the
    ///     previous window may free a unit earlier, and the status does not carry the counts
    ///     needed to say when;
    ///   - backoff: until the failures are forgotten.
    pub fn more_quota_after(&self, rule: &Rule) -> u64 {
        if let Some(r) = self.retry_after {
            return r;
        }
        if self.remaining >= self.limit {
            return 0;
        }
        match *rule {
            Rule::TokenBucket { interval, capacity } => {
                // remaining = ⌊(tau − d) / interval⌋ with d = reset_after: one more token
                // once d has fallen to tau − (remaining + 1) × interval.
                let tau = interval.saturating_mul(capacity);
                let need = self.remaining.saturating_add(1).saturating_mul(interval);
                self.reset_after.saturating_add(need).saturating_sub(tau)
            }
            Rule::LeakyBucket { interval, max_wait } => {
                // reset_after is the queue ahead; remaining = ⌊(max_wait − ahead) / interval⌋
                // + 1 while ahead ≤ max_wait, else 0.
                let ahead = self.reset_after;
                if self.remaining == 0 {
                    ahead.saturating_sub(max_wait)
                } else {
                    self.remaining
                        .saturating_mul(interval)
                        .saturating_sub(max_wait.saturating_sub(ahead))
                }
            }
            Rule::FixedWindow { .. } | Rule::SlidingWindow { .. } | Rule::Backoff { .. } => {
                self.reset_after
            }
        }
    }
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
        Rule::Backoff {
            free,
            base,
            max,
            window,
        } => backoff([free, base, max, window], state, now, cost),
    }
}

/// The backoff's block after `failures` failures: none before `free`, then `base × 2ⁿ`.
pub(crate) fn backoff_delay(free: u64, base: u64, max: u64, failures: u64) -> u64 {
    if failures < free {
        return 0;
    }
    let n = failures - free;
    if n >= 63 {
        return max;
    }
    base.saturating_mul(1 << n).min(max)
}

fn backoff([free, base, max, window]: [u64; 4], state: &State, now: u64, cost: u64) -> Outcome {
    // Forgotten once the window after the last failure is over and no block holds.
    let stale = now >= state.c.saturating_add(window) && now >= state.a;
    let (until, failures) = if stale { (0, 0) } else { (state.a, state.b) };
    if cost == 0 {
        let allowed = now >= until;
        let expires = if stale {
            0
        } else {
            state.c.saturating_add(window).max(state.a) - now
        };
        return Outcome {
            allowed,
            state: *state,
            status: Status {
                limit: free,
                remaining: if allowed {
                    free.saturating_sub(failures)
                } else {
                    0
                },
                reset_after: expires,
                retry_after: (!allowed).then(|| until - now),
                delay: 0,
                expires_after: expires,
            },
        };
    }
    let failures = failures.saturating_add(cost);
    let delay = backoff_delay(free, base, max, failures);
    let until = if delay > 0 {
        until.max(now.saturating_add(delay))
    } else {
        until
    };
    let expires = now.saturating_add(window).max(until) - now;
    Outcome {
        allowed: true,
        state: State {
            a: until,
            b: failures,
            c: now,
        },
        status: Status {
            limit: free,
            remaining: free.saturating_sub(failures),
            reset_after: expires,
            retry_after: None,
            delay: 0,
            expires_after: expires,
        },
    }
}

fn gcra(t: u64, capacity: u64, state: &State, now: u64, cost: u64) -> Outcome {
    let tau = t.saturating_mul(capacity);
    let tat = state.a.max(now);
    let new_tat = tat.saturating_add(cost.saturating_mul(t));
    // A read (cost 0) is admitted whatever the state (a capacity lowered under the same
    // name may leave the stored time further ahead than the new one allows).
    let allowed = cost == 0 || new_tat - now <= tau;
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
    let allowed = cost == 0 || total <= limit;
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
            // A count over the limit (a limit lowered under the same name, mid-window) leaves
            // nothing, not a negative.
            remaining: limit.saturating_sub(kept),
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
    let allowed = cost == 0 || carried + u128::from(total) * w <= budget;
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
    // A request of cost n takes n turns, the last (n − 1) turns after its first: admitted when
    // that last turn is within `max_wait` too, so that it fits in the queue whole (it is
    // admitted exactly when `remaining ≥ cost`, as with the other algorithms). A cost over
    // the queue's capacity never fits.
    let extra = cost.saturating_sub(1).saturating_mul(t);
    let last = delay.saturating_add(extra);
    let allowed = last <= max_wait;
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
            // Refused with the queue ahead: its last turn is within `max_wait` once the queue
            // has drained `last − max_wait` more. Refused with an empty queue: the cost is
            // over the capacity, and no wait helps.
            retry_after: if allowed || extra > max_wait {
                None
            } else {
                Some(last - max_wait)
            },
            delay: if allowed { delay } else { 0 },
            expires_after: ahead,
        },
    }
}

#[cfg(test)]
mod tests;
