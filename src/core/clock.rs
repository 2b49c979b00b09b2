//! Time, for every layer that reads it: one [`Clock`] trait, the system clock and a manual
//! clock for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of time: microseconds since the Unix epoch. Every layer that reads time (rate
/// limits, token and key expiry, sunsets) takes one, so tests control time instead of sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Now, in microseconds since the Unix epoch.
    fn now(&self) -> u64;

    /// Now, as a [`SystemTime`].
    fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.now())
    }

    /// Now, in whole seconds since the Unix epoch (JWT `exp`, `nbf`, `iat`).
    fn unix_secs(&self) -> u64 {
        self.now() / 1_000_000
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

/// A clock every layer can share: cheap to clone.
pub(crate) type SharedClock = Arc<dyn Clock>;

/// The system clock, shared.
pub(crate) fn system() -> SharedClock {
    Arc::new(SystemClock::new())
}

/// The system clock, read monotonically: the wall-clock time at start plus the monotonic time
/// since, so a step of the system clock (NTP) never moves a limiter back or forward. The
/// monotonic part comes from the CPU's time-stamp counter where it is reliable (through
/// `quanta`, as `governor` does): a few nanoseconds a reading.
#[derive(Clone, Debug)]
pub struct SystemClock {
    base: u64,
    /// The counter's raw reading at `base`.
    start: u64,
    clock: quanta::Clock,
}

impl SystemClock {
    /// The clock, anchored now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let start = clock.raw();
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self { base, start, clock }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // Raw counter readings and a nanosecond delta: no `Duration` and no 128-bit arithmetic
        // on the way (a rate limiter reads the clock on every request).
        let elapsed = self.clock.delta_as_nanos(self.start, self.clock.raw());
        self.base.saturating_add(elapsed / 1_000)
    }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// Clones share the time.
///
/// ```
/// use std::time::Duration;
/// use tower_shield::rate_limit::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix_secs(1_718_451_800);
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now(), 1_718_451_801_500_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `secs` seconds after the Unix epoch.
    pub fn at_unix_secs(secs: u64) -> Self {
        Self(Arc::new(AtomicU64::new(secs.saturating_mul(1_000_000))))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let us = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.0.fetch_add(us, Ordering::SeqCst);
    }

    /// Sets the clock to `micros` microseconds after the Unix epoch.
    pub fn set_micros(&self, micros: u64) {
        self.0.store(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
