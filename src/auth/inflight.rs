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
//! The map holds a key only while a check of it is in flight: its size is bounded by the
//! requests in flight.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

/// The checks in flight, by counter key (the counter's scope, a zero byte, its key).
#[derive(Default)]
pub(super) struct InFlight {
    keys: Mutex<HashMap<Box<[u8]>, Slot>>,
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
}

/// What the in-flight table says of an attempt.
pub(super) enum Admission {
    /// Go on: the attempt holds this ticket until it is over.
    Go(Ticket),
    /// Wait for a check of the counter to be over, then read the counters again.
    Wait(OwnedNotified),
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<[u8]>, Slot>> {
        // A panic while the lock was held cannot leave the counts inconsistent: every
        // operation on them is a single step.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits an attempt on `counters`, or says which check to wait for: an attempt waits when,
    /// on one of its counters, the failures recorded plus the checks in flight reach the free
    /// failures and some check is in flight (none in flight: the store's verdict stands).
    pub(super) fn admit(self: &Arc<Self>, counters: SmallVec<[Counter; 3]>) -> Admission {
        let mut keys = self.lock();
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
            held.push(c.key);
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
    keys: SmallVec<[Box<[u8]>; 3]>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut keys = self.inflight.lock();
        for key in &self.keys {
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

    fn counter(failed: u64) -> Counter {
        Counter {
            key: key("scope", b"jane"),
            failed,
            free: 3,
        }
    }

    fn go(admission: Admission) -> super::Ticket {
        match admission {
            Admission::Go(ticket) => ticket,
            Admission::Wait(..) => panic!("told to wait"),
        }
    }

    #[test]
    fn a_burst_is_admitted_up_to_the_free_failures_and_the_rest_wait_for_a_check() {
        let table = Arc::new(InFlight::default());
        let first = go(table.admit(smallvec![counter(1)]));
        let second = go(table.admit(smallvec![counter(1)]));
        // One failure recorded and two checks in flight use up the three free failures.
        let Admission::Wait(done) = table.admit(smallvec![counter(1)]) else {
            panic!("admitted past the free failures");
        };
        let mut done = pin!(done);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(done.as_mut().poll(&mut cx).is_pending());
        drop(first);
        // The wait ends when a check is over, however the attempt ended.
        assert!(matches!(done.as_mut().poll(&mut cx), Poll::Ready(())));
        let third = go(table.admit(smallvec![counter(1)]));
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
        let ticket = go(table.admit(smallvec![counter(3)]));
        assert!(matches!(
            table.admit(smallvec![counter(3)]),
            Admission::Wait(_)
        ));
        drop(ticket);
        // Another counter is not held up by this one.
        let other = Counter {
            key: key("scope", b"john"),
            ..counter(0)
        };
        drop(go(table.admit(smallvec![other])));
        assert_eq!(table.len(), 0);
    }
}
