//! The credential checks in flight, per throttle counter: what makes the failed-credential
//! throttle hold against concurrent attempts.
//!
//! The throttle reads its counters before a credential is checked and records a failure after
//! the check, which for a password hash takes tens of milliseconds. Attempts sent at once would
//! all read the same counters and all be checked. So each attempt that goes on to be checked
//! takes a [`Ticket`] on its counters, given back when the attempt is over, and an attempt whose
//! counter's failures plus the checks in flight reach the free failures waits until one of those
//! checks is over, then reads the counters again. Sequential attempts are judged as before; a
//! burst is judged as if it had come one after another.
//!
//! A check can also end between an attempt's read of the counters and its admission: its
//! failure is then in neither the counters read nor the checks in flight. Each release
//! therefore moves an epoch (one of [`STRIPES`], chosen by a keyed hash of the counter); an
//! attempt notes the epochs of its counters before it reads them, and one whose epochs moved
//! by its admission reads again ([`Admission::Stale`]).
//!
//! The map holds a key only while a check of it is in flight: its size is bounded by the
//! requests in flight; the epochs are a fixed array.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

/// How many release epochs a table keeps (a power of two). Two counters in one stripe only
/// cost an attempt one more read when the other's check ends at the wrong moment.
pub(super) const STRIPES: usize = 1024;

/// The checks in flight, by counter key (the counter's scope, a zero byte, its key).
pub(super) struct InFlight {
    keys: Mutex<HashMap<Box<[u8]>, Slot>>,
    /// How many checks have ended, per stripe of counters.
    epochs: Box<[AtomicU64]>,
    /// Keys the stripe of a counter: no client can aim its releases at another's stripe.
    stripes: RandomState,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            keys: Mutex::default(),
            epochs: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            stripes: RandomState::new(),
        }
    }
}

/// Where a counter's epoch is, and what it read before the counters were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Epoch {
    stripe: usize,
    seen: u64,
}

struct Slot {
    /// How many checks of this counter are in flight.
    checks: u64,
    /// Notified each time one of them is over.
    done: Arc<Notify>,
}

/// A counter of an attempt, as the in-flight table sees it.
pub(super) struct Counter {
    pub(super) key: Box<[u8]>,
    /// The failures the store holds for it, up to `free`.
    pub(super) failed: u64,
    /// The failures it allows before blocking.
    pub(super) free: u64,
    /// Its epoch, noted before the store was read ([`InFlight::epoch`]).
    pub(super) epoch: Epoch,
}

/// What the in-flight table says of an attempt.
pub(super) enum Admission {
    /// Go on: the attempt holds this ticket until it is over.
    Go(Ticket),
    /// Wait for a check of the counter to be over, then read the counters again.
    Wait(OwnedNotified),
    /// A check of a counter ended since the counters were read: its failure may be missing
    /// from them. Read them again now.
    Stale,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<[u8]>, Slot>> {
        // A panic while the lock was held cannot leave the counts inconsistent: every
        // operation on them is a single step.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch of the counter `scope`, `key`: note it before reading the counter.
    pub(super) fn epoch(&self, scope: &str, key: &[u8]) -> Epoch {
        let mut h = self.stripes.build_hasher();
        h.write(scope.as_bytes());
        h.write_u8(0);
        h.write(key);
        // Masked to the table's size: the cast keeps every bit that matters.
        #[allow(clippy::cast_possible_truncation)]
        let stripe = (h.finish() as usize) & (STRIPES - 1);
        Epoch {
            stripe,
            seen: self.moved(stripe),
        }
    }

    fn moved(&self, stripe: usize) -> u64 {
        self.epochs.get(stripe).map_or(0, |e| e.load(Acquire))
    }

    /// Admits an attempt on `counters`, or says which check to wait for: an attempt waits when,
    /// on one of its counters, the failures recorded plus the checks in flight reach the free
    /// failures and some check is in flight (none in flight: the store's verdict stands). An
    /// attempt whose counters' epochs moved since it noted them reads them again.
    pub(super) fn admit(self: &Arc<Self>, counters: SmallVec<[Counter; 3]>) -> Admission {
        let mut keys = self.lock();
        // Under the lock, as releases move epochs under it: a release after this check
        // finds the attempt's check counted in flight.
        if counters
            .iter()
            .any(|c| self.moved(c.epoch.stripe) != c.epoch.seen)
        {
            return Admission::Stale;
        }
        for c in &counters {
            if let Some(slot) = keys.get(&c.key)
                && c.failed.saturating_add(slot.checks) >= c.free
            {
                // Made under the lock: the ticket's release, which notifies under it too,
                // cannot come in between.
                return Admission::Wait(Arc::clone(&slot.done).notified_owned());
            }
        }
        let mut held = SmallVec::new();
        for c in counters {
            keys.entry(c.key.clone())
                .or_insert_with(|| Slot {
                    checks: 0,
                    done: Arc::new(Notify::new()),
                })
                .checks += 1;
            held.push((c.key, c.epoch.stripe));
        }
        Admission::Go(Ticket {
            inflight: Arc::clone(self),
            keys: held,
        })
    }

    /// How many keys have checks in flight (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// An attempt's place among the checks in flight, given back when dropped: after its failure
/// was recorded or its success cleared, or when the request was dropped.
pub(crate) struct Ticket {
    inflight: Arc<InFlight>,
    /// Each counter's key and epoch stripe.
    keys: SmallVec<[(Box<[u8]>, usize); 3]>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut keys = self.inflight.lock();
        for (key, stripe) in &self.keys {
            if let Some(epoch) = self.inflight.epochs.get(*stripe) {
                epoch.fetch_add(1, Release);
            }
            if let Some(slot) = keys.get_mut(key) {
                slot.checks = slot.checks.saturating_sub(1);
                slot.done.notify_waiters();
                if slot.checks == 0 {
                    keys.remove(key);
                }
            }
        }
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("counters", &self.keys.len())
            .finish()
    }
}

/// The in-flight key of a counter: its scope, a zero byte, its key.
pub(super) fn key(scope: &str, key: &[u8]) -> Box<[u8]> {
    let mut k = Vec::with_capacity(scope.len() + 1 + key.len());
    k.extend_from_slice(scope.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use smallvec::smallvec;

    use super::{Admission, Counter, InFlight, key};

    fn counter_of(table: &InFlight, name: &[u8], failed: u64) -> Counter {
        Counter {
            key: key("scope", name),
            failed,
            free: 3,
            epoch: table.epoch("scope", name),
        }
    }

    fn go(admission: Admission) -> super::Ticket {
        match admission {
            Admission::Go(ticket) => ticket,
            Admission::Wait(..) => panic!("told to wait"),
            Admission::Stale => panic!("told to read again"),
        }
    }

    #[test]
    fn a_burst_is_admitted_up_to_the_free_failures_and_the_rest_wait_for_a_check() {
        let table = Arc::new(InFlight::default());
        let first = go(table.admit(smallvec![counter_of(&table, b"jane", 1)]));
        let second = go(table.admit(smallvec![counter_of(&table, b"jane", 1)]));
        // One failure recorded and two checks in flight use up the three free failures.
        let Admission::Wait(done) = table.admit(smallvec![counter_of(&table, b"jane", 1)]) else {
            panic!("admitted past the free failures");
        };
        let mut done = pin!(done);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(done.as_mut().poll(&mut cx).is_pending());
        drop(first);
        // The wait ends when a check is over, however the attempt ended.
        assert!(matches!(done.as_mut().poll(&mut cx), Poll::Ready(())));
        let third = go(table.admit(smallvec![counter_of(&table, b"jane", 1)]));
        assert_eq!(table.len(), 1);
        drop((second, third));
        assert_eq!(
            table.len(),
            0,
            "a key is held only while a check of it is in flight"
        );
    }

    #[test]
    fn with_nothing_in_flight_the_stores_verdict_stands() {
        let table = Arc::new(InFlight::default());
        // Past the free failures, but nothing in flight: the one attempt after a block.
        let ticket = go(table.admit(smallvec![counter_of(&table, b"jane", 3)]));
        assert!(matches!(
            table.admit(smallvec![counter_of(&table, b"jane", 3)]),
            Admission::Wait(_)
        ));
        drop(ticket);
        // Another counter is not held up by this one.
        let other = counter_of(&table, b"john", 0);
        drop(go(table.admit(smallvec![other])));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn an_attempt_whose_counter_was_released_after_its_read_reads_again() {
        let table = Arc::new(InFlight::default());
        // B is admitted and checking; A notes its epoch and reads its counters, one failure
        // short of what B is about to record.
        let b = go(table.admit(smallvec![counter_of(&table, b"jane", 1)]));
        let a = counter_of(&table, b"jane", 1);
        // B's failure is recorded and its check ends before A is admitted: A's read misses
        // that failure, and the checks in flight no longer count it.
        drop(b);
        assert!(matches!(table.admit(smallvec![a]), Admission::Stale));
        // Read again (its epoch noted anew), A is judged on what is there now.
        let a = go(table.admit(smallvec![counter_of(&table, b"jane", 2)]));
        drop(a);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn epochs_are_per_counter() {
        let table = Arc::new(InFlight::default());
        let jane = table.epoch("scope", b"jane");
        assert_eq!(jane, table.epoch("scope", b"jane"));
        // A counter in another stripe: a check of it ending leaves Jane's epoch alone.
        let other = (0u32..)
            .map(|i| i.to_string().into_bytes())
            .find(|name| table.epoch("scope", name).stripe != jane.stripe)
            .expect("another stripe");
        drop(go(table.admit(smallvec![counter_of(&table, &other, 0)])));
        assert_eq!(table.epoch("scope", b"jane"), jane);
        drop(go(table.admit(smallvec![counter_of(&table, b"jane", 0)])));
        assert_ne!(
            table.epoch("scope", b"jane"),
            jane,
            "a check ending moves its epoch"
        );
    }
}
