//! Where rate-limit state lives: the [`Store`] trait, what it is asked and what it answers.

use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use super::algorithm::{Rule, Status};
use crate::core::Answer;

/// One limit to decide for a request: a counter, its rule and what the request costs.
///
/// The counter is named by `scope` (the limit's name, and its tier for tiered limits, such as
/// `hourly:premium`) and `key` (whom it counts: opaque bytes, see
/// [`KeyBy`](super::KeyBy)). Two checks with the same scope and key share a counter; a store
/// must keep counters of different scopes apart.
#[derive(Clone, Copy, Debug)]
pub struct Check<'a> {
    /// The limit (and tier) this counter belongs to. Printable ASCII.
    pub scope: &'a str,
    /// Whom the counter counts.
    pub key: &'a [u8],
    /// The compiled quota.
    pub rule: Rule,
    /// What the request costs (1 unless the limit weighs requests).
    pub cost: u32,
}

/// One check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether this limit alone would admit the request.
    pub allowed: bool,
    /// The counter's standing after the decision (after spending, when the whole request was
    /// admitted).
    pub status: Status,
}

/// A store's answer for all the checks of a request.
///
/// A request is admitted when every check admits it, and then it is spent on every counter;
/// when one refuses, nothing is spent on any (the store applies all checks as one atomic step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The store's time of the decision, in microseconds since the Unix epoch.
    pub now: u64,
    /// One verdict per check, in the order of the checks.
    pub verdicts: SmallVec<[Verdict; 1]>,
}

impl Decision {
    /// Whether every check admitted the request.
    pub fn allowed(&self) -> bool {
        self.verdicts.iter().all(|v| v.allowed)
    }
}

/// What a store answers: now, or later for a store across the network.
pub type Pending = Answer<Result<Decision, StoreError>>;

/// Keeps rate-limit counters and decides requests against them.
///
/// [`MemoryStore`](super::MemoryStore) is the default. A store for many instances (Redis)
/// answers with [`Answer::Later`] and may fail; the layer then follows its
/// [`StoreFailure`](super::StoreFailure) policy.
///
/// Implementations apply the math of [`algorithm::decide`](super::algorithm::decide) to every
/// check, atomically for the whole slice: either every check admits the request and all are
/// spent, or none is.
pub trait Store: Send + Sync + 'static {
    /// Decides one request against `checks` (at least one).
    fn decide(&self, checks: &[Check<'_>]) -> Pending;

    /// Remembers `key` for `ttl_us` microseconds, atomically: `true` when it was not
    /// remembered already (a first sighting), `false` when it was (a replay). Replay
    /// protection (`SignatureLayer`) remembers message ids and nonces here, so a replay sent
    /// to another instance sharing the store is refused too.
    ///
    /// The default answers an error: a store that does not implement it cannot protect
    /// against replays, and the layer then refuses requests rather than let replays through.
    fn remember(&self, key: &[u8], ttl_us: u64) -> Answer<Result<bool, StoreError>> {
        let _ = (key, ttl_us);
        Answer::Ready(Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "this store does not remember keys",
        )))
    }

    /// Forgets `key`, remembered with [`remember`](Store::remember): the next `remember` of it
    /// is a first sighting again. `SignatureLayer` forgets a message the inner service failed
    /// (an error status), so that the sender's retry of it is not refused as a replay.
    ///
    /// The default answers an error (the layer then logs nothing and the key expires on its
    /// own: retries of a failed message are refused until then).
    fn forget_remembered(&self, key: &[u8]) -> Answer<Result<(), StoreError>> {
        let _ = key;
        Answer::Ready(Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "this store does not forget remembered keys",
        )))
    }

    /// Forgets the counter of `scope` and `key`, as if it had never counted anything: the
    /// authentication [`Throttle`](crate::auth::Throttle) clears a client's failures with an
    /// identity when it logs in.
    ///
    /// The default answers an error (the throttle then logs it and carries on: the failures
    /// expire on their own).
    fn forget(&self, scope: &str, key: &[u8]) -> Answer<Result<(), StoreError>> {
        let _ = (scope, key);
        Answer::Ready(Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "this store does not forget counters",
        )))
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        (**self).decide(checks)
    }

    fn forget(&self, scope: &str, key: &[u8]) -> Answer<Result<(), StoreError>> {
        (**self).forget(scope, key)
    }

    fn remember(&self, key: &[u8], ttl_us: u64) -> Answer<Result<bool, StoreError>> {
        (**self).remember(key, ttl_us)
    }

    fn forget_remembered(&self, key: &[u8]) -> Answer<Result<(), StoreError>> {
        (**self).forget_remembered(key)
    }
}

/// Why a store could not decide.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The kind of a [`StoreError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store cannot be reached.
    Unavailable,
    /// The store did not answer in time.
    Timeout,
    /// The store answered something it should not have.
    Protocol,
}

impl StoreError {
    /// An error of `kind`, caused by `source`.
    pub fn new(
        kind: StoreErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// The store did not answer in time.
    pub fn timeout() -> Self {
        Self {
            kind: StoreErrorKind::Timeout,
            source: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            StoreErrorKind::Unavailable => "rate-limit store unavailable",
            StoreErrorKind::Timeout => "rate-limit store timed out",
            StoreErrorKind::Protocol => "rate-limit store answered unexpectedly",
        })?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
