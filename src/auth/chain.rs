//! The chain of authenticators an [`AuthLayer`](super::AuthLayer) runs, and how far a request
//! got through it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Answer, Authenticator, BoxFuture, Outcome, RequestHead};

/// Authenticators tried in order: `api_key.or(jwt).or(basic)`.
#[derive(Clone, Default)]
pub struct Chain(pub(super) Vec<Arc<dyn Authenticator>>);

impl Chain {
    /// Adds `next`, asked when every authenticator before it skips.
    #[must_use]
    pub fn or<A: Authenticator>(mut self, next: A) -> Chain {
        self.0.push(Arc::new(next));
        self
    }

    /// How many authenticators the chain has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<A: Authenticator> From<A> for Chain {
    fn from(authenticator: A) -> Self {
        Chain(vec![Arc::new(authenticator)])
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain").field("len", &self.0.len()).finish()
    }
}

/// How far the chain got.
pub(super) enum Progress {
    /// Every authenticator asked answered now: the first that did not skip, or `Skip`.
    Done(Outcome),
    /// One answers later.
    Waiting(Authenticating),
}

/// Asks the authenticators of `chain` from index `from` on, until one does not skip or one
/// must wait.
pub(super) fn run(
    chain: &[Arc<dyn Authenticator>],
    from: usize,
    head: &RequestHead<'_>,
) -> Progress {
    for (i, authenticator) in chain.iter().enumerate().skip(from) {
        match authenticator.authenticate(head) {
            Answer::Ready(Outcome::Skip) => continue,
            Answer::Ready(outcome) => return Progress::Done(outcome),
            Answer::Later(answer) => {
                return Progress::Waiting(Authenticating {
                    answer,
                    next: i + 1,
                });
            }
        }
    }
    Progress::Done(Outcome::Skip)
}

/// An authenticator's answer on its way, and the index of the authenticator to ask should it
/// skip. The answer is already boxed by the authenticator: this holds it as it is.
pub(crate) struct Authenticating {
    answer: BoxFuture<Outcome>,
    next: usize,
}

impl Future for Authenticating {
    type Output = (Outcome, usize);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let next = self.next;
        self.answer.as_mut().poll(cx).map(|outcome| (outcome, next))
    }
}

impl fmt::Debug for Authenticating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticating")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
