//! The rejections of the rate limiter.

use std::sync::Arc;

use http::HeaderValue;
use http::header::RETRY_AFTER;

use crate::problem::{Problem, ProblemType, Rejection};

/// A request over its limit: `429 Too Many Requests`, with `Retry-After` in whole seconds,
/// rounded up (absent when waiting cannot help: the request costs more than the limit holds).
///
/// The problem's `type` ends in `rate-limited`; its extension members `limit` (the name of
/// the limit that refused) and `retry_after` (seconds) let clients act on it.
#[derive(Clone, Debug)]
pub struct RateLimited {
    pub(crate) limit: Arc<str>,
    pub(crate) quota: Arc<str>,
    pub(crate) retry_after: Option<u64>,
}

impl RateLimited {
    /// The name of the limit that refused the request.
    pub fn limit(&self) -> &str {
        &self.limit
    }

    /// Seconds until a retry would be admitted, rounded up; `None` if no wait helps.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl Rejection for RateLimited {
    fn problem(&self) -> Problem {
        let detail = match self.retry_after {
            Some(1) => format!("Rate limit exceeded ({}). Retry in 1 second.", self.quota),
            Some(s) => format!(
                "Rate limit exceeded ({}). Retry in {s} seconds.",
                self.quota
            ),
            None => format!(
                "This request costs more than the whole limit ({}) allows.",
                self.quota
            ),
        };
        let mut p = Problem::of(ProblemType::RateLimited)
            .with_detail(detail)
            .with_extension("limit", &*self.limit);
        if let Some(s) = self.retry_after {
            p = p
                .with_extension("retry_after", s)
                .with_header(RETRY_AFTER, HeaderValue::from(s));
        }
        p
    }
}

/// The rate-limit store could not decide and the layer
/// [fails closed](super::StoreFailure::Closed): `503 Service Unavailable`, `Retry-After: 1`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitUnavailable;

impl Rejection for RateLimitUnavailable {
    fn problem(&self) -> Problem {
        Problem::of(ProblemType::RateLimitUnavailable)
            .with_detail("The rate limit could not be checked. Try again shortly.")
            .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
    }
}

/// The layer could not find a request's key (no peer address, no principal, a missing
/// header) and its [`MissingKey`](super::MissingKey) policy is
/// [`InternalError`](super::MissingKey::InternalError): a `500` that tells the client nothing.
#[derive(Clone, Debug)]
pub struct KeyMissing {
    pub(crate) limit: Arc<str>,
}

impl KeyMissing {
    /// The name of the limit whose key was missing.
    pub fn limit(&self) -> &str {
        &self.limit
    }
}

impl Rejection for KeyMissing {
    fn problem(&self) -> Problem {
        crate::problem::internal_error()
    }
}
