//! Security events, built here and nowhere else: see [`crate::events`] for the fields and
//! the events.

use std::fmt;
use std::net::IpAddr;

use tracing::field::{DisplayValue, display};

use super::{RequestHead, RequestId};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    AuthSuccess,
    AuthFailure,
    AuthAnonymous,
    AuthThrottled,
    ScopeRefused,
    RateLimited,
    CorsRefused,
    VersionRejected,
    StoreFailure,
    #[cfg(feature = "signature")]
    SignatureRefused,
    CsrfRefused,
    IpRefused,
    #[cfg(feature = "validate")]
    ValidationRefused,
    #[cfg(feature = "validate")]
    ValidationLogged,
    ServerErrorReplaced,
    PanicCaught,
}

impl Kind {
    /// The value of `tower_shield.event`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::AuthSuccess => "auth.success",
            Kind::AuthFailure => "auth.failure",
            Kind::AuthAnonymous => "auth.anonymous",
            Kind::AuthThrottled => "auth.throttled",
            Kind::ScopeRefused => "scope.refused",
            Kind::RateLimited => "rate_limit.refused",
            Kind::CorsRefused => "cors.refused",
            Kind::VersionRejected => "versioning.rejected",
            Kind::StoreFailure => "store.failure",
            #[cfg(feature = "signature")]
            Kind::SignatureRefused => "signature.refused",
            Kind::CsrfRefused => "csrf.refused",
            Kind::IpRefused => "ip_filter.refused",
            #[cfg(feature = "validate")]
            Kind::ValidationRefused | Kind::ValidationLogged => "validation.refused",
            Kind::ServerErrorReplaced => "error_hygiene.replaced",
            Kind::PanicCaught => "error_hygiene.panic",
        }
    }

    /// The event's message (the ones the layers logged before these events).
    fn message(self) -> &'static str {
        match self {
            Kind::AuthSuccess => "authenticated",
            Kind::AuthFailure => "authentication failed",
            Kind::AuthAnonymous => "anonymous request",
            Kind::AuthThrottled => "authentication throttled",
            Kind::ScopeRefused => "insufficient scope",
            Kind::RateLimited => "rate limited",
            Kind::CorsRefused => "CORS origin refused",
            Kind::VersionRejected => "API version rejected",
            Kind::StoreFailure => "store failed",
            #[cfg(feature = "signature")]
            Kind::SignatureRefused => "request signature refused",
            Kind::CsrfRefused => "cross-origin request refused",
            Kind::IpRefused => "client address refused",
            #[cfg(feature = "validate")]
            Kind::ValidationRefused => "request refused by validation",
            #[cfg(feature = "validate")]
            Kind::ValidationLogged => "request would have been refused (log-only)",
            Kind::ServerErrorReplaced => "server error replaced by a generic problem",
            Kind::PanicCaught => "the handler panicked; answered 500",
        }
    }
}

/// The fields of an event beyond those read from the request. Never a secret.
#[derive(Default)]
pub(crate) struct Fields<'a> {
    pub(crate) status: Option<u16>,
    pub(crate) user: Option<&'a str>,
    pub(crate) error_type: Option<&'a str>,
    pub(crate) problem: Option<&'static str>,
    pub(crate) auth_method: Option<&'a str>,
    pub(crate) limit: Option<&'a str>,
    pub(crate) retry_after: Option<u64>,
    /// The client as the layer resolved it; else the socket peer is used.
    pub(crate) client: Option<IpAddr>,
    pub(crate) key: Option<&'a dyn fmt::Display>,
    pub(crate) reason: Option<&'a str>,
    /// The rule of the layer's that decided (a validation route's name).
    pub(crate) rule: Option<&'a str>,
    /// What the layer knows more, for the log only: a replaced body's first bytes, a panic's
    /// message (recorded with `Debug`, which escapes control characters).
    pub(crate) detail: Option<&'a str>,
    /// A gRPC status code.
    pub(crate) grpc_status: Option<u64>,
    /// Whether [`detail`](Self::detail) was cut.
    pub(crate) truncated: Option<bool>,
}

/// The route template axum matched, if any.
fn route<'h>(head: &'h RequestHead<'_>) -> Option<&'h str> {
    #[cfg(feature = "axum")]
    {
        head.extensions()
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str)
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = head;
        None
    }
}

/// `method` as the OpenTelemetry HTTP conventions record it: one of the known methods, or
/// `_OTHER` (the conventions' "MUST": any other method would be an unbounded attribute value).
fn method(method: &http::Method) -> &str {
    if method_original(method).is_some() {
        "_OTHER"
    } else {
        method.as_str()
    }
}

/// The method as sent, when [`method`] records it as `_OTHER`.
fn method_original(method: &http::Method) -> Option<&str> {
    const KNOWN: [http::Method; 9] = [
        http::Method::GET,
        http::Method::HEAD,
        http::Method::POST,
        http::Method::PUT,
        http::Method::DELETE,
        http::Method::CONNECT,
        http::Method::OPTIONS,
        http::Method::TRACE,
        http::Method::PATCH,
    ];
    // QUERY (draft-ietf-httpbis-safe-method-w-body), in the conventions' list since v1.38.
    (!KNOWN.contains(method) && method.as_str() != "QUERY").then(|| method.as_str())
}

macro_rules! emit_at {
    ($target:literal, $level:expr, $kind:expr, $head:expr, $f:expr, $client:expr) => {
        tracing::event!(
            target: $target,
            $level,
            "http.request.method" = method($head.method()),
            "http.request.method_original" = method_original($head.method()),
            "url.path" = $head.uri().path(),
            "http.route" = route($head),
            "http.response.status_code" = $f.status,
            "client.address" = $client,
            "user.id" = $f.user,
            "error.type" = $f.error_type,
            "tower_shield.event" = $kind.name(),
            "tower_shield.problem" = $f.problem,
            "tower_shield.auth.method" = $f.auth_method,
            "tower_shield.limit" = $f.limit,
            "tower_shield.retry_after" = $f.retry_after,
            "tower_shield.key" = $f.key.map(display),
            "tower_shield.reason" = $f.reason,
            "tower_shield.rule" = $f.rule,
            "tower_shield.detail" = $f.detail.map(|d| tracing::field::debug(d)),
            "rpc.grpc.status_code" = $f.grpc_status,
            "tower_shield.truncated" = $f.truncated,
            "tower_shield.request_id" = $head.request_id().map(RequestId::as_str),
            "{}",
            $kind.message()
        )
    };
}

/// Emits one event: target `tower_shield::<layer>`, INFO for decisions, WARN for throttled
/// attempts and store failures, DEBUG for anonymous requests and version rejections.
pub(crate) fn emit(kind: Kind, head: &RequestHead<'_>, f: &Fields<'_>) {
    use tracing::Level;
    let client: Option<DisplayValue<IpAddr>> = f
        .client
        .or_else(|| crate::rate_limit::peer_ip(head.extensions()))
        .map(display);
    match kind {
        Kind::AuthSuccess | Kind::AuthFailure => {
            emit_at!("tower_shield::auth", Level::INFO, kind, head, f, client)
        }
        Kind::AuthAnonymous => {
            emit_at!("tower_shield::auth", Level::DEBUG, kind, head, f, client)
        }
        Kind::AuthThrottled => {
            emit_at!("tower_shield::auth", Level::WARN, kind, head, f, client)
        }
        Kind::ScopeRefused => {
            emit_at!("tower_shield::auth", Level::INFO, kind, head, f, client)
        }
        Kind::RateLimited => {
            emit_at!(
                "tower_shield::rate_limit",
                Level::INFO,
                kind,
                head,
                f,
                client
            )
        }
        Kind::CorsRefused => emit_at!("tower_shield::cors", Level::INFO, kind, head, f, client),
        Kind::VersionRejected => {
            emit_at!(
                "tower_shield::versioning",
                Level::DEBUG,
                kind,
                head,
                f,
                client
            )
        }
        Kind::StoreFailure => {
            emit_at!("tower_shield::store", Level::WARN, kind, head, f, client)
        }
        #[cfg(feature = "signature")]
        Kind::SignatureRefused => {
            emit_at!(
                "tower_shield::signature",
                Level::INFO,
                kind,
                head,
                f,
                client
            )
        }
        Kind::CsrfRefused => emit_at!("tower_shield::csrf", Level::INFO, kind, head, f, client),
        Kind::IpRefused => {
            emit_at!(
                "tower_shield::ip_filter",
                Level::INFO,
                kind,
                head,
                f,
                client
            )
        }
        #[cfg(feature = "validate")]
        Kind::ValidationRefused => {
            emit_at!("tower_shield::validate", Level::INFO, kind, head, f, client)
        }
        #[cfg(feature = "validate")]
        Kind::ValidationLogged => {
            emit_at!("tower_shield::validate", Level::WARN, kind, head, f, client)
        }
        Kind::ServerErrorReplaced | Kind::PanicCaught => {
            emit_at!(
                "tower_shield::error_hygiene",
                Level::ERROR,
                kind,
                head,
                f,
                client
            )
        }
    }
}
