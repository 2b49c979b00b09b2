//! [`Quota`]: how many requests a key may make, as people say it.

use std::fmt;
use std::time::Duration;

use super::MAX_PERIOD;

/// How many requests a key may make, written the way people say it.
///
/// `Quota::per_minute(100)` is 100 requests per minute. `Quota::per_hour(1000).burst(20)` is
/// 1,000 per hour on average, at most 20 at once: a token bucket holding 20 tokens, refilled
/// with one token every 3.6 seconds. Without [`burst`](Quota::burst), the burst is the whole
/// limit. A number is always a count of requests (or of [cost](crate::rate_limit::Limit::cost) units),
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
    pub(super) limit: u32,
    pub(super) period: Duration,
    pub(super) burst: Option<u32>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A limit of 0 would refuse everything; remove the route or use a `ScopeLayer` instead.
    #[error("a quota's limit must be at least 1")]
    ZeroLimit,
    /// A period of less than a microsecond.
    #[error("a quota's period must be at least one microsecond")]
    ZeroPeriod,
    /// A period longer than [`MAX_PERIOD`].
    #[error("a quota's period must be at most 366 days")]
    PeriodTooLong,
    /// A burst of 0 would refuse everything.
    #[error("a quota's burst must be at least 1")]
    ZeroBurst,
}
