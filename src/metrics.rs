//! Metrics (feature `metrics`): counters and histograms on the [`metrics`] facade, for any
//! recorder (Prometheus, OpenTelemetry, StatsD).
//!
//! Install a recorder once at start-up; without one (or without the feature) nothing is
//! recorded and nothing is paid. With `metrics-exporter-prometheus`:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//!
//! let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! let app: Router = Router::new()
//!     .route("/metrics", get(move || std::future::ready(handle.render())));
//! # Ok(()) }
//! ```
//!
//! Every label has a bounded set of values: no subject, no IP, no path. A limit's name is
//! what the configuration names it.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `tower_shield_auth_attempts_total` | counter | `method` (`api_key`, `basic`, `jwt`, a custom method's name, `none`), `result` (`success`, `failure`, `anonymous`, `throttled`, `unavailable`, `overloaded`) | every decision of an `AuthLayer` |
//! | `tower_shield_rejections_total` | counter | `problem` (a [problem type](crate::problem)'s slug) | every request a layer of this crate answered with a problem |
//! | `tower_shield_rate_limit_decisions_total` | counter | `limit` (the limit's name; `none` when no limit was checked), `outcome` (`allowed`, `limited`, `shadow_limited`, `bypassed`, `key_missing`, `store_failed`) | every decision of a `RateLimitLayer` |
//! | `tower_shield_auth_throttled_total` | counter | `dimension` (`ip`, `identity`, `identity_ip`: the longest wait) | attempts an `AuthLayer`'s [`Throttle`](crate::auth::Throttle) refused before checking them |
//! | `tower_shield_rate_limit_store_fallbacks_total` | counter | `to` (`local`, `remote`) | a `RateLimitLayer` with [`StoreFailure::Local`](crate::rate_limit::StoreFailure::Local) turning to its in-memory limits when the store fails, and back when a probe finds it answering |
//! | `tower_shield_store_failures_total` | counter | `component` (`rate_limit`, `auth_throttle`, `signature_replay`), `kind` (`unavailable`, `timeout`, `protocol`) | a store that could not decide |
//! | `tower_shield_jwks_refreshes_total` | counter | `result` (`loaded`, `changed`, `unchanged`, `failed`) | fetches of a remote JWK set |
//! | `tower_shield_store_decision_seconds` | histogram | `component` (`rate_limit`, `auth_throttle`) | how long a store took to decide |
//! | `tower_shield_jwks_fetch_seconds` | histogram | `result` (`ok`, `error`) | how long a JWK set fetch took |

/// `tower_shield_auth_attempts_total`.
pub const AUTH_ATTEMPTS: &str = "tower_shield_auth_attempts_total";
/// `tower_shield_rejections_total`.
pub const REJECTIONS: &str = "tower_shield_rejections_total";
/// `tower_shield_rate_limit_decisions_total`.
pub const RATE_LIMIT_DECISIONS: &str = "tower_shield_rate_limit_decisions_total";
/// `tower_shield_auth_throttled_total`.
pub const AUTH_THROTTLED: &str = "tower_shield_auth_throttled_total";
/// `tower_shield_rate_limit_store_fallbacks_total`.
pub const STORE_FALLBACKS: &str = "tower_shield_rate_limit_store_fallbacks_total";
/// `tower_shield_store_failures_total`.
pub const STORE_FAILURES: &str = "tower_shield_store_failures_total";
/// `tower_shield_jwks_refreshes_total`.
pub const JWKS_REFRESHES: &str = "tower_shield_jwks_refreshes_total";
/// `tower_shield_store_decision_seconds`.
pub const STORE_DECISION_SECONDS: &str = "tower_shield_store_decision_seconds";
/// `tower_shield_jwks_fetch_seconds`.
pub const JWKS_FETCH_SECONDS: &str = "tower_shield_jwks_fetch_seconds";

#[cfg(feature = "metrics")]
mod record {
    use std::sync::Arc;
    use std::time::Duration;

    use metrics::{counter, histogram};

    pub(crate) fn auth(method: &'static str, result: &'static str) {
        counter!(super::AUTH_ATTEMPTS, "method" => method, "result" => result).increment(1);
    }

    pub(crate) fn rejection(problem: &'static str) {
        counter!(super::REJECTIONS, "problem" => problem).increment(1);
    }

    pub(crate) fn rate_limit(limit: Option<&Arc<str>>, outcome: &'static str) {
        let limit: metrics::SharedString = match limit {
            Some(name) => Arc::clone(name).into(),
            None => "none".into(),
        };
        counter!(super::RATE_LIMIT_DECISIONS, "limit" => limit, "outcome" => outcome).increment(1);
    }

    pub(crate) fn throttled(dimension: &'static str) {
        counter!(super::AUTH_THROTTLED, "dimension" => dimension).increment(1);
    }

    pub(crate) fn store_failure(component: &'static str, kind: &'static str) {
        counter!(super::STORE_FAILURES, "component" => component, "kind" => kind).increment(1);
    }

    pub(crate) fn store_fallback(to: &'static str) {
        counter!(super::STORE_FALLBACKS, "to" => to).increment(1);
    }

    pub(crate) fn store_decision(component: &'static str, took: Duration) {
        histogram!(super::STORE_DECISION_SECONDS, "component" => component).record(took);
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn jwks_refresh(result: &'static str) {
        counter!(super::JWKS_REFRESHES, "result" => result).increment(1);
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn jwks_fetch(ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" };
        histogram!(super::JWKS_FETCH_SECONDS, "result" => result).record(took);
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::missing_const_for_fn)]
mod record {
    use std::sync::Arc;
    use std::time::Duration;

    pub(crate) fn auth(_: &'static str, _: &'static str) {}
    pub(crate) fn rejection(_: &'static str) {}
    pub(crate) fn rate_limit(_: Option<&Arc<str>>, _: &'static str) {}
    pub(crate) fn throttled(_: &'static str) {}
    pub(crate) fn store_failure(_: &'static str, _: &'static str) {}
    pub(crate) fn store_fallback(_: &'static str) {}
    pub(crate) fn store_decision(_: &'static str, _: Duration) {}
    #[allow(dead_code)]
    pub(crate) fn jwks_refresh(_: &'static str) {}
    #[allow(dead_code)]
    pub(crate) fn jwks_fetch(_: bool, _: Duration) {}
}

pub(crate) use record::*;

/// A stopwatch for the histograms: reads the clock only with the feature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(#[cfg(feature = "metrics")] std::time::Instant);

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Self(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }

    pub(crate) fn elapsed(self) -> std::time::Duration {
        #[cfg(feature = "metrics")]
        {
            self.0.elapsed()
        }
        #[cfg(not(feature = "metrics"))]
        {
            std::time::Duration::ZERO
        }
    }
}

/// The `kind` label of a store error.
pub(crate) fn store_error_kind(kind: crate::rate_limit::StoreErrorKind) -> &'static str {
    use crate::rate_limit::StoreErrorKind;
    match kind {
        StoreErrorKind::Timeout => "timeout",
        StoreErrorKind::Protocol => "protocol",
        _ => "unavailable",
    }
}
