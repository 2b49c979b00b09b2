//! The rejections of the rate limiter, and its configuration errors.

use std::fmt;
use std::sync::Arc;

use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};

use super::algorithm::RuleError;
use crate::problem::{Problem, Rejection, problem_type};

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
        let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS)
            .with_type(problem_type("rate-limited"))
            .with_title("Too Many Requests")
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
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_type(problem_type("rate-limit-unavailable"))
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

/// Why a [`RateLimitLayer`](super::RateLimitLayer) cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The layer has no limit.
    NoLimits,
    /// More limits than one request may be checked against at once (16).
    TooManyLimits,
    /// A limit's name is empty, longer than 64 characters, or has a character other than
    /// `A-Z a-z 0-9 _ - .`.
    InvalidName {
        /// The name.
        name: String,
    },
    /// Two limits share a name (and so would share counters).
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A tier name that cannot be part of a store key (same rule as limit names).
    InvalidTier {
        /// The tier.
        tier: String,
    },
    /// A path filter that does not start with `/`.
    InvalidPath {
        /// The path.
        path: String,
    },
    /// A limit's quota does not fit its algorithm.
    Rule {
        /// The limit's name.
        limit: String,
        /// What is wrong.
        error: RuleError,
    },
    /// An allow-listed network that does not parse.
    InvalidNetwork {
        /// The network as given.
        value: String,
    },
}

impl fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoLimits => f.write_str("a rate-limit layer needs at least one limit"),
            Self::TooManyLimits => f.write_str("a rate-limit layer takes at most 16 limits"),
            Self::InvalidName { name } => write!(
                f,
                "limit name {name:?} must be 1 to 64 characters of A-Z a-z 0-9 _ - ."
            ),
            Self::DuplicateName { name } => write!(f, "two limits are named {name:?}"),
            Self::InvalidTier { tier } => write!(
                f,
                "tier name {tier:?} must be 1 to 64 characters of A-Z a-z 0-9 _ - ."
            ),
            Self::InvalidPath { path } => write!(f, "limit path {path:?} must start with '/'"),
            Self::Rule { limit, error } => write!(f, "limit {limit:?}: {error}"),
            Self::InvalidNetwork { value } => {
                write!(f, "{value:?} is not an IP address or CIDR network")
            }
        }
    }
}

impl std::error::Error for RateLimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rule { error, .. } => Some(error),
            _ => None,
        }
    }
}
