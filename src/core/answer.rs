//! A value that is ready now or later: what a decision that may wait returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future: what an [`Answer`] that is not ready holds.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A value that is ready now, or later.
///
/// Authenticators answer synchronously when they can (an in-memory key store, a cached token,
/// a static key), which costs no allocation, and with a boxed future only when they must wait
/// (a JWKS fetch, a database, a password hash on the blocking pool).
pub enum Answer<T> {
    /// The value, now.
    Ready(T),
    /// A future that yields it.
    Later(BoxFuture<T>),
}

impl<T> Answer<T> {
    /// An answer that is ready.
    pub fn ready(value: T) -> Self {
        Self::Ready(value)
    }

    /// An answer that comes from `future`.
    pub fn later(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self::Later(Box::pin(future))
    }

    /// Applies `f` to the value, now or when it comes.
    pub fn map<U, F>(self, f: F) -> Answer<U>
    where
        T: 'static,
        F: FnOnce(T) -> U + Send + 'static,
    {
        match self {
            Self::Ready(v) => Answer::Ready(f(v)),
            Self::Later(fut) => Answer::later(async move { f(fut.await) }),
        }
    }

    /// The value if it is ready now, else `None`.
    pub fn into_ready(self) -> Option<T> {
        match self {
            Self::Ready(v) => Some(v),
            Self::Later(_) => None,
        }
    }

    /// The value, waiting for it if needed.
    pub async fn resolve(self) -> T {
        match self {
            Self::Ready(v) => v,
            Self::Later(fut) => fut.await,
        }
    }
}

impl<T> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready(_) => "Answer::Ready(..)",
            Self::Later(_) => "Answer::Later(..)",
        })
    }
}
