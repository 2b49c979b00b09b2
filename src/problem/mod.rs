//! Rejections and how they become responses.
//!
//! Every layer of this crate that turns a request away does it with a typed rejection (for
//! example [`InvalidRequestId`](crate::request_id::InvalidRequestId)) that implements
//! [`Rejection`]: it knows its [`Problem`], that is its HTTP status, its extra response headers
//! (`WWW-Authenticate`, `Retry-After`, ...) and its [RFC 9457] problem fields. A rejection is
//! always an `Ok(Response)`, never a service error, so nothing above the layer has to handle a
//! new error type.
//!
//! One [`Renderer`] turns the problem into the response. The default, [`ProblemJson`], writes
//! `application/problem+json` with `type`, `title`, `status`, `detail` and the request id (when
//! a [`RequestIdLayer`](crate::RequestIdLayer) runs outside). To answer in another format put a
//! [`RendererLayer`] outside the layers that reject — make it the outermost layer, so it also
//! covers the request id layer's own rejections; no layer has to be touched:
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::problem::{PlainText, RendererLayer};
//! use tower_shield::RequestIdLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let strict_ids = RequestIdLayer::builder().reject_invalid(true).build()?;
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(strict_ids) // ... and any other layer that may reject ...
//!     .layer(RendererLayer::new(PlainText)); // outermost
//!
//! let req = Request::get("/").header("x-request-id", "not valid!").body(Body::empty())?;
//! let res = app.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
//! # Ok(()) }
//! ```
//!
//! [`GrpcStatus`] renders rejections as gRPC trailers-only responses for tonic services, and any
//! `Fn(&Problem, &RequestHead) -> Response<Bytes>` is a renderer too.
//!
//! The rejection also travels in the response's extensions, as the typed value and as its
//! [`Problem`], so outer layers (logging, metrics) can see why a request was turned away.
//!
//! Bodies never carry internals: a problem holds what the layer chose to tell the client, and
//! nothing else.
//!
//! # Problem types
//!
//! The `type` member of a problem from this crate is a link to one of the sections below.
//!
//! ## invalid-request-id
//!
//! `400 Bad Request`: the request's id header (`X-Request-Id` by default) is not acceptable to
//! a [`RequestIdLayer`](crate::RequestIdLayer) configured to
//! [reject invalid ids](crate::request_id::RequestIdBuilder::reject_invalid) instead of
//! replacing them. It is too long, empty, repeated, or has a character outside the allowed set.
//!
//! ## cors-origin-not-allowed
//!
//! `403 Forbidden`: the request's `Origin` is not allowed by a [`CorsLayer`](crate::CorsLayer)
//! configured to [reject disallowed origins](crate::cors::CorsBuilder::reject_disallowed).
//!
//! ## cross-origin-request-refused
//!
//! `403 Forbidden`: a [`CsrfLayer`](crate::CsrfLayer) refused a request that can change state
//! (not `GET`, `HEAD` or `OPTIONS`) because a browser sent it from another origin: its
//! `Sec-Fetch-Site` is `cross-site` or `same-site`, or, without that header, its `Origin` is not
//! the host it was sent to; or it carries several `Origin` headers. Send it from the site's own
//! pages, or have the server trust your origin.
//!
//! ## unsupported-version
//!
//! `400 Bad Request`: the API has no such version (a [`VersioningLayer`](crate::VersioningLayer));
//! `supported_versions` lists the ones it serves.
//!
//! ## invalid-version
//!
//! `400 Bad Request`: a version source (path, header, media type, query) holds something that
//! is not a version number such as `2` or `v2`, or holds two different ones.
//!
//! ## conflicting-versions
//!
//! `400 Bad Request`: two sources ask for different versions (say `/v1/...` with
//! `API-Version: 2`).
//!
//! ## missing-version
//!
//! `400 Bad Request`: the API requires a version and the request carries none.
//!
//! ## version-gone
//!
//! `410 Gone`: the version is retired or past its sunset; `migration_guide` links to the guide.
//!
//! ## unauthorized
//!
//! `401 Unauthorized`: the request has no credential where one is needed, or its credential
//! is not valid (an [`AuthError`](crate::auth::AuthError) of an
//! [`AuthLayer`](crate::AuthLayer), or a [`ScopeLayer`](crate::ScopeLayer) that met the
//! anonymous principal). `WWW-Authenticate` carries one challenge per accepted scheme; the
//! Bearer one has `error="invalid_token"` and a description when a token was presented (RFC
//! 6750). The detail says what to fix ("token expired", "invalid API key").
//!
//! ## invalid-authorization
//!
//! `400 Bad Request`: the request carries its credential in a malformed way, so no credential
//! was checked: several `Authorization` headers (which one is meant?), or a scheme without its
//! credential (`Authorization: Bearer`). `WWW-Authenticate` carries the layer's challenges; a
//! Bearer one has `error="invalid_request"` (RFC 6750 section 3.1). Send one `Authorization`
//! header with one credential.
//!
//! ## auth-unavailable
//!
//! `503 Service Unavailable`: the credential could not be checked because the identity
//! provider's signing keys could not be loaded, or the authorization server's introspection
//! endpoint did not answer usably in time. Try again later.
//!
//! ## auth-overloaded
//!
//! `503 Service Unavailable`: the credential was not checked because too many password checks
//! are waiting for a hashing slot (a flood of Basic credentials: the queue of `Argon2Users` is
//! full, or the wait for a slot too long). `Retry-After` says in whole seconds when to try
//! again; the member `retry_after` says the same in the body.
//!
//! ## insufficient-scope
//!
//! `403 Forbidden`: the principal is authenticated but lacks a scope or role the route needs
//! (a [`ScopeLayer`](crate::ScopeLayer)); for Bearer principals `WWW-Authenticate` says
//! `error="insufficient_scope"` and the scope needed.
//!
//! ## login-throttled
//!
//! `429 Too Many Requests`: an [`AuthLayer`](crate::AuthLayer) with a
//! [`Throttle`](crate::auth::Throttle) saw too many failed credentials from this client IP,
//! for this identity, or for this identity from this IP, and did not check the credential at
//! all. `Retry-After` says in whole seconds (rounded up) when an attempt will be checked
//! again; the member `retry_after` says the same in the body. The answer is the same whether
//! or not the identity exists, and whatever the credential.
//!
//! ## rate-limited
//!
//! `429 Too Many Requests`: a [`RateLimitLayer`](crate::RateLimitLayer) limit is spent.
//! `Retry-After` says in whole seconds (rounded up) when a retry will be admitted; the members
//! `limit` (the limit's name) and `retry_after` say the same in the body. Without
//! `Retry-After`, the request costs more than the whole limit and no wait helps.
//!
//! ## rate-limit-unavailable
//!
//! `503 Service Unavailable`: the rate-limit store could not be reached and the layer is
//! configured to [fail closed](crate::rate_limit::StoreFailure::Closed).
//!
//! ## signature-invalid
//!
//! `401 Unauthorized`: a [`SignatureLayer`](crate::signature::SignatureLayer) refused the
//! request's signature. The detail names the rule that failed — a missing, duplicated or
//! malformed header, a timestamp outside the tolerance, an expired signature, an unknown key,
//! a component the signature must cover, a `Content-Digest` that does not match the body, no
//! matching signature, or a replayed message id — and never a secret or the signature expected.
//!
//! ## payload-too-large
//!
//! `413 Content Too Large`: the body is larger than the layer that reads it accepts (a
//! [`SignatureLayer`](crate::signature::SignatureLayer) buffers the body it verifies up to
//! [a limit](crate::signature::SignatureBuilder::max_body); a
//! [`ValidateRequestLayer`](crate::validate::ValidateRequestLayer) has a limit per route). The
//! detail or the `limit` member gives the limit in bytes. The body is not read past the limit.
//!
//! ## signature-unavailable
//!
//! `503 Service Unavailable`: the signature was valid but the replay check could not be made
//! (the store of seen message ids is unreachable), so the request is refused rather than
//! risking a replay. Try again later.
//!
//! ## unsupported-media-type
//!
//! `415 Unsupported Media Type`: the request body's `Content-Type` is missing, repeated,
//! malformed or not one the route accepts, or a JSON body is declared in a charset other than
//! UTF-8 (a [`ValidateRequestLayer`](crate::validate::ValidateRequestLayer)).
//! `accepted_media_types` lists what the route takes; a `POST` gets `Accept-Post`, a `PATCH`
//! `Accept-Patch`.
//!
//! ## invalid-json
//!
//! `400 Bad Request`: the request body is not well-formed JSON (or nests deeper than 128
//! levels); the detail gives the parser's message with line and column.
//!
//! ## validation-failed
//!
//! `422 Unprocessable Content`: the request body is well-formed JSON that breaks the route's
//! JSON Schema. The `errors` member lists the violations, each
//! `{"pointer": "/title", "message": "..."}` (an RFC 6901 JSON Pointer into the body, `""` for
//! the whole body), up to a cap; the detail gives the total.
//!
//! ## unreadable-body
//!
//! `400 Bad Request`: the request body could not be read (the connection failed while it was
//! being received).
//!
//! ## ip-not-allowed
//!
//! `403 Forbidden`: an [`IpFilterLayer`](crate::IpFilterLayer) refused the request's client
//! address: it is in the deny list, or outside the allow list, or it could not be determined
//! (no peer address, or a trusted proxy's forwarding entry that is not an address). The
//! address is not echoed in the body.
//!
//! ## internal-error
//!
//! `500 Internal Server Error`: the server is misconfigured (for example an extractor needs a
//! layer that is not installed, or a rate limit keyed by client IP runs without the peer
//! address). The cause is logged, never sent.
//!
//! ## server-error
//!
//! `500 Internal Server Error`, or the other `5xx` status the handler answered with: the
//! handler failed (or panicked) and an [`ErrorHygieneLayer`](crate::ErrorHygieneLayer) replaced
//! what it would have sent by this generic problem. The cause is logged on the server with the
//! request id; quote the `request_id` when reporting it.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

mod catalog;
mod render;

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use serde::ser::{Serialize, SerializeMap, Serializer};

pub use crate::core::RequestHead;
pub use catalog::{ProblemType, TYPE_BASE};
pub use render::{GrpcStatus, PlainText, ProblemJson, Renderer, RendererLayer, RendererService};
#[cfg_attr(not(feature = "axum"), allow(unused_imports))]
pub(crate) use render::{SharedRenderer, render_with};

/// Media type of the default renderer, per [RFC 9457 section 3](https://www.rfc-editor.org/rfc/rfc9457#section-3).
pub const APPLICATION_PROBLEM_JSON: &str = "application/problem+json";

const RESERVED_MEMBERS: [&str; 6] = [
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "request_id",
];

/// An [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem: what a rejection tells the
/// client, plus the headers its response must carry.
///
/// ```
/// use http::StatusCode;
/// use tower_shield::problem::Problem;
///
/// let problem = Problem::new(StatusCode::TOO_MANY_REQUESTS)
///     .with_type("https://api.example.com/problems/rate-limited")
///     .with_detail("100 requests per minute; try again in 7 seconds")
///     .with_extension("retry_after", 7)
///     .with_header(http::header::RETRY_AFTER, http::HeaderValue::from_static("7"));
/// assert_eq!(problem.title(), "Too Many Requests");
/// assert_eq!(problem.status(), StatusCode::TOO_MANY_REQUESTS);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Problem {
    status: StatusCode,
    type_uri: Cow<'static, str>,
    title: Cow<'static, str>,
    detail: Option<Cow<'static, str>>,
    instance: Option<Cow<'static, str>>,
    extensions: Vec<(Cow<'static, str>, serde_json::Value)>,
    headers: HeaderMap,
}

/// The reason phrase RFC 9110 gives `status` (section 15), or `Error` for a code it does not
/// name: the `http` crate's, except where RFC 9110 writes it otherwise (its two renamed codes,
/// and the hyphen of 203).
fn reason_phrase(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NON_AUTHORITATIVE_INFORMATION => "Non-Authoritative Information",
        StatusCode::PAYLOAD_TOO_LARGE => "Content Too Large",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

impl Problem {
    /// A problem with `status`, type `about:blank` and the status's reason phrase as title
    /// (RFC 9457 section 4.2.1), as RFC 9110 names it: `413 Content Too Large` and
    /// `422 Unprocessable Content`, not their older names.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            type_uri: Cow::Borrowed("about:blank"),
            title: Cow::Borrowed(reason_phrase(status)),
            detail: None,
            instance: None,
            extensions: Vec::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Sets the `type` URI that identifies the kind of problem.
    pub fn with_type(mut self, type_uri: impl Into<Cow<'static, str>>) -> Self {
        self.type_uri = type_uri.into();
        self
    }

    /// Sets the short, human-readable `title` of the kind of problem.
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the `detail`: an explanation of this occurrence for the client's developer.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the `instance` URI reference of this occurrence.
    pub fn with_instance(mut self, instance: impl Into<Cow<'static, str>>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member, or replaces the one of the same name. Members named like a
    /// standard member (`type`, `title`, `status`, `detail`, `instance`) or `request_id` are not
    /// rendered.
    pub fn with_extension(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.extensions.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => *existing = value,
            None => self.extensions.push((name, value)),
        }
        self
    }

    /// Adds a header to the response that carries this problem (appended, so several
    /// `WWW-Authenticate` challenges can coexist).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `type` URI (`about:blank` when none was set).
    pub fn type_uri(&self) -> &str {
        &self.type_uri
    }

    /// The `title`.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The `detail`, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The `instance`, if any.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// The extension members, in the order they were added.
    pub fn extensions(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.extensions.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The headers the response must carry.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The problem as a JSON document, with `request_id` when one is given.
    pub fn to_json(&self, request_id: Option<&str>) -> Vec<u8> {
        let doc = JsonDoc {
            problem: self,
            request_id,
        };
        // Serializing strings, integers and `serde_json::Value`s into a Vec cannot fail; the
        // fallback keeps the promise of a well-formed body regardless.
        serde_json::to_vec(&doc).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"about:blank","title":"Error","status":{}}}"#,
                self.status.as_u16()
            )
            .into_bytes()
        })
    }
}

struct JsonDoc<'a> {
    problem: &'a Problem,
    request_id: Option<&'a str>,
}

impl Serialize for JsonDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = self.problem;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", p.type_uri.as_ref())?;
        map.serialize_entry("title", p.title.as_ref())?;
        map.serialize_entry("status", &p.status.as_u16())?;
        if let Some(detail) = &p.detail {
            map.serialize_entry("detail", detail.as_ref())?;
        }
        if let Some(instance) = &p.instance {
            map.serialize_entry("instance", instance.as_ref())?;
        }
        if let Some(id) = self.request_id {
            map.serialize_entry("request_id", id)?;
        }
        for (name, value) in &p.extensions {
            if !RESERVED_MEMBERS.contains(&name.as_ref()) {
                map.serialize_entry(name.as_ref(), value)?;
            }
        }
        map.end()
    }
}

/// A typed reason for turning a request away, with the [`Problem`] that describes it.
///
/// Implemented by every rejection of this crate. Implement it for your own rejections to have
/// them rendered like the crate's (see [`Rejector`](crate::extract::Rejector) under the `axum`
/// feature).
pub trait Rejection: fmt::Debug + Clone + Send + Sync + 'static {
    /// The problem to send: status, headers and RFC 9457 fields.
    fn problem(&self) -> Problem;
}

impl Rejection for Problem {
    fn problem(&self) -> Problem {
        self.clone()
    }
}

/// The response of a layer that turns `req` away because of `rejection`, rendered by the
/// request's renderer, with the rejection and its problem in the response's extensions.
pub(crate) fn rejection_response<ReqBody, R: Rejection>(
    req: &Request<ReqBody>,
    rejection: R,
) -> Response<Bytes> {
    let problem = rejection.problem();
    tracing::debug!(
        status = problem.status.as_u16(),
        problem = %problem.type_uri,
        "request rejected"
    );
    crate::metrics::rejection(slug_of(&problem));
    let mut res = render_with(req.extensions(), &problem, &RequestHead::of(req));
    let ext = res.extensions_mut();
    ext.insert(rejection);
    ext.insert(problem);
    res
}

/// The slug of one of this crate's problem types, `other` for any other problem (a bounded
/// label for metrics and events).
pub(crate) fn slug_of(problem: &Problem) -> &'static str {
    ProblemType::ALL
        .iter()
        .find(|k| k.type_uri() == problem.type_uri())
        .map_or("other", |k| k.slug())
}

/// The problem of a server-side misconfiguration: a generic 500 that tells the client nothing.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn internal_error() -> Problem {
    Problem::of(ProblemType::InternalError).with_detail("The server could not handle this request.")
}

#[cfg(test)]
mod tests;
