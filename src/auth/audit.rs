//! The audit trail of an [`AuthLayer`](super::AuthLayer): every decision is a `tracing` event
//! and, with an [`AuditHook`], an [`AuthEvent`].

use http::Method;

use super::{AuthError, Principal, RequestHead};
use crate::core::RequestId;

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

/// Records one decision: a `tracing` event, and the hook's [`AuthEvent`] when there is one.
pub(super) fn record(
    hook: Option<&dyn AuditHook>,
    outcome: AuditOutcome<'_>,
    head: &RequestHead<'_>,
) {
    let request_id = head.request_id();
    let rid = request_id.map(RequestId::as_str).unwrap_or_default();
    match outcome {
        AuditOutcome::Authenticated(p) => tracing::info!(
            target: "tower_shield::auth",
            method = p.method().as_str(),
            subject = p.subject(),
            key_id = p.key_id().unwrap_or_default(),
            request_id = rid,
            "authenticated"
        ),
        AuditOutcome::Anonymous => tracing::debug!(
            target: "tower_shield::auth",
            request_id = rid,
            "anonymous request"
        ),
        AuditOutcome::Rejected(e) => tracing::info!(
            target: "tower_shield::auth",
            method = e.method().map(|m| m.as_str()).unwrap_or("none"),
            reason = e.detail(),
            request_id = rid,
            "authentication failed"
        ),
    }
    if let Some(hook) = hook {
        hook.record(&AuthEvent {
            outcome,
            method: head.method(),
            path: head.uri().path(),
            request_id,
        });
    }
}
