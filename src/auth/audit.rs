//! The audit trail of an [`AuthLayer`](super::AuthLayer): every decision is a `tracing` event
//! and, with an [`AuditHook`], an [`AuthEvent`].

use std::net::IpAddr;

use http::Method;

use super::{AuthError, AuthErrorKind, Principal, RequestHead};
use crate::core::RequestId;
use crate::core::event::{self, Fields, Kind};
use crate::metrics;
use crate::problem::ProblemType;

/// What an [`AuditHook`] is told.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum AuditOutcome<'a> {
    /// A credential was valid.
    Authenticated(&'a Principal),
    /// No credential; the request went on as the anonymous principal.
    Anonymous,
    /// The request was answered `401` (or `503`).
    Rejected(&'a AuthError),
}

/// One authentication decision, for an [`AuditHook`]. Holds no secret.
#[derive(Clone, Copy, Debug)]
pub struct AuthEvent<'a> {
    outcome: AuditOutcome<'a>,
    method: &'a Method,
    path: &'a str,
    request_id: Option<&'a RequestId>,
}

impl<'a> AuthEvent<'a> {
    /// What was decided.
    pub fn outcome(&self) -> AuditOutcome<'a> {
        self.outcome
    }

    /// The request's method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request's path (without the query, which may hold secrets).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The request's id, when a [`RequestIdLayer`](crate::RequestIdLayer) runs outside.
    pub fn request_id(&self) -> Option<&'a RequestId> {
        self.request_id
    }
}

/// Receives every authentication decision of an [`AuthLayer`](super::AuthLayer), for audit
/// logs shipped elsewhere. Any `Fn(&AuthEvent<'_>)` is one. Called on the request path: keep
/// it quick (hand the event to a channel).
pub trait AuditHook: Send + Sync + 'static {
    /// Records one decision.
    fn record(&self, event: &AuthEvent<'_>);
}

impl<F> AuditHook for F
where
    F: Fn(&AuthEvent<'_>) + Send + Sync + 'static,
{
    fn record(&self, event: &AuthEvent<'_>) {
        self(event)
    }
}

/// The `error.type` of a failure.
pub(super) fn error_type(kind: AuthErrorKind) -> &'static str {
    match kind {
        AuthErrorKind::Missing => "missing",
        AuthErrorKind::Invalid => "invalid",
        AuthErrorKind::Expired => "expired",
        AuthErrorKind::UnsupportedScheme => "unsupported_scheme",
        AuthErrorKind::Unavailable => "unavailable",
        AuthErrorKind::Overloaded => "overloaded",
        AuthErrorKind::InvalidRequest => "invalid_request",
    }
}

/// Records one decision: a `tracing` event ([`event`](crate::core::event)), the metric, and
/// the hook's [`AuthEvent`] when there is one. `claimed` is the identity a failed credential
/// claimed, `client` the client IP the throttle resolved.
pub(super) fn record(
    hook: Option<&dyn AuditHook>,
    outcome: AuditOutcome<'_>,
    head: &RequestHead<'_>,
    claimed: Option<&str>,
    client: Option<IpAddr>,
) {
    match outcome {
        AuditOutcome::Authenticated(p) => {
            metrics::auth(p.method().as_str(), "success");
            event::emit(
                Kind::AuthSuccess,
                head,
                &Fields {
                    user: Some(p.subject()),
                    auth_method: Some(p.method().as_str()),
                    client,
                    ..Fields::default()
                },
            );
        }
        AuditOutcome::Anonymous => {
            metrics::auth("none", "anonymous");
            event::emit(
                Kind::AuthAnonymous,
                head,
                &Fields {
                    client,
                    ..Fields::default()
                },
            );
        }
        AuditOutcome::Rejected(e) => {
            let method = e.method().map_or("none", |m| m.as_str());
            let (result, status, problem) = match e.kind() {
                AuthErrorKind::Unavailable => ("unavailable", 503, ProblemType::AuthUnavailable),
                AuthErrorKind::Overloaded => ("overloaded", 503, ProblemType::AuthOverloaded),
                AuthErrorKind::InvalidRequest => {
                    ("failure", 400, ProblemType::InvalidAuthorization)
                }
                _ => ("failure", 401, ProblemType::Unauthorized),
            };
            metrics::auth(method, result);
            event::emit(
                Kind::AuthFailure,
                head,
                &Fields {
                    status: Some(status),
                    user: claimed,
                    error_type: Some(error_type(e.kind())),
                    problem: Some(problem.slug()),
                    auth_method: Some(method),
                    reason: Some(e.detail()),
                    client,
                    ..Fields::default()
                },
            );
        }
    }
    if let Some(hook) = hook {
        hook.record(&AuthEvent {
            outcome,
            method: head.method(),
            path: head.uri().path(),
            request_id: head.request_id(),
        });
    }
}
