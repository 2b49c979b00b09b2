//! The rejections of authentication and authorization: [`AuthError`] (401) and
//! [`Forbidden`] (403).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};

use super::{AuthMethod, Scopes};
use crate::problem::{Problem, ProblemType, Rejection};

/// What went wrong with a request's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No credential was presented, and the layer does not let anonymous requests through.
    Missing,
    /// A credential was presented and is not valid: unknown, malformed, badly signed, revoked.
    Invalid,
    /// A credential was presented and has expired (or is not valid yet).
    Expired,
    /// An `Authorization` header with a scheme no authenticator of the layer accepts.
    UnsupportedScheme,
    /// The credential could not be checked: the identity provider's keys are unreachable and
    /// none were ever loaded. Answered with `503`.
    Unavailable,
    /// The credential was not checked: too many checks are waiting (a flood of Basic
    /// credentials). Answered with `503` and `Retry-After`.
    Overloaded,
    /// The request carries its credential in a malformed way: several `Authorization`
    /// headers, or a scheme without its credential. Answered with `400` (RFC 6750 section
    /// 3.1's `invalid_request`), with the challenges.
    InvalidRequest,
}

/// A request turned away by an [`AuthLayer`](super::AuthLayer) or a
/// [`ScopeLayer`](crate::scope::ScopeLayer) that found no principal: `401 Unauthorized` with a
/// `WWW-Authenticate` challenge per authentication scheme the layer accepts (`503` for
/// [`AuthErrorKind::Unavailable`] and [`AuthErrorKind::Overloaded`]).
///
/// The detail tells a developer what to fix ("token expired", "invalid API key") and never
/// which secret was close, or anything of the server's internals.
#[derive(Clone, Debug)]
pub struct AuthError {
    kind: AuthErrorKind,
    method: Option<AuthMethod>,
    detail: Cow<'static, str>,
    retry_after: Option<u64>,
    pub(crate) challenges: Arc<[HeaderValue]>,
}

impl AuthError {
    fn new(kind: AuthErrorKind, method: Option<AuthMethod>, detail: Cow<'static, str>) -> Self {
        Self {
            kind,
            method,
            detail,
            retry_after: None,
            challenges: Arc::new([]),
        }
    }

    /// No credential was presented.
    pub fn missing() -> Self {
        Self::new(
            AuthErrorKind::Missing,
            None,
            Cow::Borrowed("This resource needs authentication; no credentials were presented."),
        )
    }

    /// The `401` for a request that passed an [`AuthLayer`](crate::AuthLayer) as the anonymous
    /// principal and reached something that needs a credential: no credential was presented,
    /// with the challenges of that layer (found in `extensions`). Built here, once, for every
    /// layer and extractor that meets the anonymous principal.
    pub(crate) fn anonymous(extensions: &http::Extensions) -> Self {
        let challenges = extensions
            .get::<crate::auth::Challenges>()
            .map(|c| Arc::clone(&c.0));
        Self::missing().with_challenges(challenges.unwrap_or_else(|| Arc::new([])))
    }

    /// A credential for `method` was presented and is not valid; `detail` says why, for a
    /// developer ("invalid API key", "token signature invalid").
    pub fn invalid(method: AuthMethod, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Invalid, Some(method), detail.into())
    }

    /// A request for `method` that carries its credential in a malformed way (`400`, RFC 6750
    /// section 3.1's `invalid_request`): several `Authorization` headers, or the scheme
    /// without a credential.
    pub fn invalid_request(method: AuthMethod, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::InvalidRequest, Some(method), detail.into())
    }

    /// A credential for `method` was presented and has expired, or is not valid yet.
    pub fn expired(method: AuthMethod, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Expired, Some(method), detail.into())
    }

    /// A credential for `method` could not be checked because something it depends on is
    /// down (`503`).
    pub fn unavailable(method: AuthMethod, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Unavailable, Some(method), detail.into())
    }

    /// A credential was not checked because too many checks of the same identity were in
    /// flight for too long (`503`, `Retry-After: 1`): the throttle's in-flight gate.
    pub(crate) fn checks_in_flight() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                AuthErrorKind::Overloaded,
                None,
                Cow::Borrowed("Too many credential checks are waiting. Retry shortly."),
            )
        }
    }

    /// A credential for `method` was not checked because too many checks are waiting
    /// (`503`, `Retry-After` of `retry_after` in whole seconds, rounded up, at least 1).
    pub fn overloaded(method: AuthMethod, retry_after: Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self {
            retry_after: Some(secs.max(1)),
            ..Self::new(
                AuthErrorKind::Overloaded,
                Some(method),
                Cow::Borrowed("Too many credential checks are waiting. Retry shortly."),
            )
        }
    }

    /// Several `Authorization` headers that no authenticator of the layer took (`400`).
    pub(crate) fn several_authorizations() -> Self {
        Self::new(
            AuthErrorKind::InvalidRequest,
            None,
            Cow::Borrowed("more than one Authorization header"),
        )
    }

    pub(crate) fn unsupported_scheme() -> Self {
        Self::new(
            AuthErrorKind::UnsupportedScheme,
            None,
            Cow::Borrowed("The Authorization header's scheme is not accepted here."),
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The method whose credential failed, when one was presented.
    pub fn method(&self) -> Option<AuthMethod> {
        self.method
    }

    /// The reason given to the client.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// When to retry, for an [`AuthErrorKind::Overloaded`] rejection: the `Retry-After` of the
    /// `503`, in whole seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.map(Duration::from_secs)
    }

    /// Whether a Bearer token was presented and failed: its challenge carries
    /// `error="invalid_token"` (RFC 6750 section 3.1).
    pub fn is_bearer_failure(&self) -> bool {
        self.method.is_some_and(|m| m.is_bearer())
            && matches!(self.kind, AuthErrorKind::Invalid | AuthErrorKind::Expired)
    }

    pub(crate) fn with_challenges(mut self, challenges: Arc<[HeaderValue]>) -> Self {
        self.challenges = challenges;
        self
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for AuthError {}

impl Rejection for AuthError {
    fn problem(&self) -> Problem {
        if self.kind == AuthErrorKind::Unavailable {
            return Problem::of(ProblemType::AuthUnavailable).with_detail(self.detail.clone());
        }
        if self.kind == AuthErrorKind::Overloaded {
            let secs = self.retry_after.unwrap_or(1);
            return Problem::of(ProblemType::AuthOverloaded)
                .with_detail(self.detail.clone())
                .with_extension("retry_after", secs)
                .with_header(RETRY_AFTER, HeaderValue::from(secs));
        }
        let kind = if self.kind == AuthErrorKind::InvalidRequest {
            ProblemType::InvalidAuthorization
        } else {
            ProblemType::Unauthorized
        };
        let mut problem = Problem::of(kind).with_detail(self.detail.clone());
        for challenge in self.challenges.iter() {
            problem = problem.with_header(WWW_AUTHENTICATE, challenge.clone());
        }
        problem
    }
}

/// A request whose principal lacks a scope or role a [`ScopeLayer`](crate::scope::ScopeLayer)
/// requires: `403 Forbidden`, whose problem says so to any principal in two extension members,
/// `"error": "insufficient_scope"` and what is needed (`"scope"`, or `"roles"`, space-separated);
/// for a Bearer principal also with `WWW-Authenticate: Bearer error="insufficient_scope",
/// scope="..."` (RFC 6750 section 3.1; an API key or Basic client gets no Bearer challenge).
#[derive(Clone, Debug)]
pub struct Forbidden {
    pub(crate) detail: Arc<str>,
    pub(crate) required: Scopes,
    /// Whether `required` are roles rather than scopes.
    pub(crate) roles: bool,
    pub(crate) challenge: Option<HeaderValue>,
}

impl Forbidden {
    /// The scopes or roles required (all of them, or one of them, as the layer says in the
    /// detail).
    pub fn required(&self) -> &Scopes {
        &self.required
    }
}

impl Rejection for Forbidden {
    fn problem(&self) -> Problem {
        let needed = if self.roles { "roles" } else { "scope" };
        let mut problem = Problem::of(ProblemType::InsufficientScope)
            .with_detail(self.detail.to_string())
            .with_extension("error", "insufficient_scope")
            .with_extension(needed, self.required.to_string());
        if let Some(challenge) = &self.challenge {
            problem = problem.with_header(WWW_AUTHENTICATE, challenge.clone());
        }
        problem
    }
}

/// A `WWW-Authenticate` challenge: `scheme realm="realm"` plus `params` (already quoted where
/// needed), or `None` when a part cannot be a header value.
pub(crate) fn challenge(scheme: &str, realm: &str, params: &[(&str, &str)]) -> Option<HeaderValue> {
    let mut out = format!("{scheme} realm=\"{realm}\"");
    for (name, value) in params {
        out.push_str(", ");
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    HeaderValue::from_str(&out).ok()
}

/// The `WWW-Authenticate` challenge of a Bearer authenticator whose own credentials carry
/// `method` (RFC 6750 section 3): when one of them failed, `error="invalid_token"` with the
/// failure's detail for the developer; otherwise (no credential, another authenticator's
/// failure, or its key set or server unavailable) its `plain` challenge.
#[cfg(any(feature = "jwt", feature = "introspection"))]
pub(crate) fn bearer_challenge(
    method: AuthMethod,
    realm: &str,
    plain: &HeaderValue,
    failure: Option<&AuthError>,
) -> Option<HeaderValue> {
    match failure {
        Some(e) if e.method() == Some(method) && e.kind() != AuthErrorKind::Unavailable => {
            let error = if e.kind() == AuthErrorKind::InvalidRequest {
                "invalid_request"
            } else {
                "invalid_token"
            };
            // A detail RFC 6750 does not allow in `error_description` (a custom
            // authenticator's, past ASCII or with a quote) is left out, not the challenge: a
            // `401` always carries one (RFC 9110 section 11.6.1).
            let detail = e.detail();
            if is_quotable(detail) {
                challenge(
                    "Bearer",
                    realm,
                    &[("error", error), ("error_description", detail)],
                )
            } else {
                challenge("Bearer", realm, &[("error", error)])
            }
        }
        _ => Some(plain.clone()),
    }
}

/// Whether `s` can sit between double quotes in a header parameter as it is: printable ASCII
/// without `"` or `\` (what RFC 6750 allows in `realm`, `scope` and `error_description`).
pub(crate) fn is_quotable(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}
