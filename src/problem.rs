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
//! `Fn(&Problem, &RenderContext) -> Response<Bytes>` is a renderer too.
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
//! ## auth-unavailable
//!
//! `503 Service Unavailable`: the credential could not be checked because the identity
//! provider's signing keys could not be loaded. Try again later.
//!
//! ## insufficient-scope
//!
//! `403 Forbidden`: the principal is authenticated but lacks a scope or role the route needs
//! (a [`ScopeLayer`](crate::ScopeLayer)); for Bearer principals `WWW-Authenticate` says
//! `error="insufficient_scope"` and the scope needed.
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
//! ## internal-error
//!
//! `500 Internal Server Error`: the server is misconfigured (for example an extractor needs a
//! layer that is not installed, or a rate limit keyed by client IP runs without the peer
//! address). The cause is logged, never sent.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use serde::ser::{Serialize, SerializeMap, Serializer};
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::request_id::RequestId;

/// The base of the `type` URIs of this crate's problems: the sections of this module's docs.
pub const TYPE_BASE: &str = "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#";

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

impl Problem {
    /// A problem with `status`, type `about:blank` and the status's reason phrase as title.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            type_uri: Cow::Borrowed("about:blank"),
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
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

/// What a [`Renderer`] may know of the request it answers.
#[derive(Clone, Copy, Debug)]
pub struct RenderContext<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    request_id: Option<&'a RequestId>,
}

impl<'a> RenderContext<'a> {
    /// A context made of the request's parts (for tests of a custom renderer).
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        request_id: Option<&'a RequestId>,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            request_id,
        }
    }

    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::new(
            &parts.method,
            &parts.uri,
            &parts.headers,
            parts.extensions.get::<RequestId>(),
        )
    }

    pub(crate) fn from_request<B>(req: &'a Request<B>) -> Self {
        Self::new(
            req.method(),
            req.uri(),
            req.headers(),
            req.extensions().get::<RequestId>(),
        )
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers (for example `Accept` or `Content-Type` to choose a format).
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request id set by a [`RequestIdLayer`](crate::RequestIdLayer), if one ran before.
    pub fn request_id(&self) -> Option<&'a RequestId> {
        self.request_id
    }
}

/// Turns a [`Problem`] into the response sent to the client.
///
/// Implemented by [`ProblemJson`] (the default), [`PlainText`], [`GrpcStatus`], and by every
/// `Fn(&Problem, &RenderContext<'_>) -> Response<Bytes> + Send + Sync + 'static`:
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use tower_shield::problem::{Problem, RenderContext, RendererLayer};
///
/// let layer = RendererLayer::new(|problem: &Problem, _cx: &RenderContext<'_>| {
///     let mut res = Response::new(Bytes::from(problem.title().to_owned()));
///     *res.status_mut() = problem.status();
///     res.headers_mut().extend(problem.headers().clone());
///     res
/// });
/// ```
pub trait Renderer: Send + Sync + 'static {
    /// Renders `problem` for the request described by `cx`. The response must carry
    /// `problem.headers()`.
    fn render(&self, problem: &Problem, cx: &RenderContext<'_>) -> Response<Bytes>;
}

impl<F> Renderer for F
where
    F: Fn(&Problem, &RenderContext<'_>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn render(&self, problem: &Problem, cx: &RenderContext<'_>) -> Response<Bytes> {
        self(problem, cx)
    }
}

fn response_with(
    problem: &Problem,
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Bytes> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.reserve(problem.headers.len() + 1);
    for (name, value) in &problem.headers {
        headers.append(name.clone(), value.clone());
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The default renderer: `application/problem+json` per RFC 9457.
///
/// ```json
/// {"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-request-id",
///  "title":"Invalid request id","status":400,
///  "detail":"X-Request-Id must be 1 to 128 characters from A-Z a-z 0-9 and -_.:+/=",
///  "request_id":"0193a1b2-..."}
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ProblemJson;

impl Renderer for ProblemJson {
    fn render(&self, problem: &Problem, cx: &RenderContext<'_>) -> Response<Bytes> {
        let body = problem.to_json(cx.request_id().map(RequestId::as_str));
        response_with(
            problem,
            problem.status,
            APPLICATION_PROBLEM_JSON,
            Bytes::from(body),
        )
    }
}

/// Renders problems as `text/plain`: the title, the detail and the request id, one a line.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainText;

impl Renderer for PlainText {
    fn render(&self, problem: &Problem, cx: &RenderContext<'_>) -> Response<Bytes> {
        let mut text = format!("{} {}", problem.status.as_u16(), problem.title);
        if let Some(detail) = &problem.detail {
            text.push_str(": ");
            text.push_str(detail);
        }
        text.push('\n');
        if let Some(id) = cx.request_id() {
            text.push_str("request id: ");
            text.push_str(id.as_str());
            text.push('\n');
        }
        response_with(
            problem,
            problem.status,
            "text/plain; charset=utf-8",
            Bytes::from(text),
        )
    }
}

/// Renders problems as gRPC trailers-only responses, for tonic and other gRPC services.
///
/// The HTTP status is `200 OK` as gRPC requires; the outcome is in `grpc-status` (mapped from the
/// problem's HTTP status by [`GrpcStatus::code`]) and `grpc-message` (the detail, or else the
/// title, percent-encoded). The problem's own headers are kept.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcStatus;

impl GrpcStatus {
    /// The gRPC status code for an HTTP status: 400 → 3 `INVALID_ARGUMENT`, 401 → 16
    /// `UNAUTHENTICATED`, 403 → 7 `PERMISSION_DENIED`, 404 → 12 `UNIMPLEMENTED`, 410 → 12
    /// `UNIMPLEMENTED` (a retired API version), 413 and 429 → 8 `RESOURCE_EXHAUSTED`, 503 → 14
    /// `UNAVAILABLE`, 504 → 4 `DEADLINE_EXCEEDED`, other 4xx → 9 `FAILED_PRECONDITION`, anything
    /// else → 13 `INTERNAL`.
    pub fn code(status: StatusCode) -> u8 {
        match status.as_u16() {
            400 => 3,
            401 => 16,
            403 => 7,
            404 | 410 => 12,
            413 | 429 => 8,
            503 => 14,
            504 => 4,
            c if (400..500).contains(&c) => 9,
            _ => 13,
        }
    }
}

fn grpc_percent_encode(message: &str) -> String {
    // gRPC's "Percent-Encoded" grammar: unreserved are 0x20-0x7E except '%'.
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Renderer for GrpcStatus {
    fn render(&self, problem: &Problem, _cx: &RenderContext<'_>) -> Response<Bytes> {
        let mut res = response_with(problem, StatusCode::OK, "application/grpc", Bytes::new());
        let headers = res.headers_mut();
        headers.insert(
            HeaderName::from_static("grpc-status"),
            HeaderValue::from(u16::from(Self::code(problem.status))),
        );
        let message = grpc_percent_encode(problem.detail().unwrap_or(problem.title()));
        if let Ok(value) = HeaderValue::try_from(message) {
            headers.insert(HeaderName::from_static("grpc-message"), value);
        }
        res
    }
}

/// The renderer a [`RendererLayer`] put into the request's extensions.
#[derive(Clone)]
pub(crate) struct SharedRenderer(Arc<dyn Renderer>);

impl SharedRenderer {
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn render(&self, problem: &Problem, cx: &RenderContext<'_>) -> Response<Bytes> {
        self.0.render(problem, cx)
    }
}

impl fmt::Debug for SharedRenderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedRenderer")
    }
}

/// Renders `problem` with the renderer installed by a [`RendererLayer`] (or [`ProblemJson`]).
///
/// The problem's headers (`WWW-Authenticate`, `Retry-After`, ...) are on the response whatever
/// the renderer did: a header name the renderer left out is added.
pub(crate) fn render_with(
    extensions: &http::Extensions,
    problem: &Problem,
    cx: &RenderContext<'_>,
) -> Response<Bytes> {
    let renderer = extensions.get::<SharedRenderer>();
    let mut res = match renderer {
        Some(renderer) => renderer.0.render(problem, cx),
        None => ProblemJson.render(problem, cx),
    };
    if renderer.is_some() {
        keep_problem_headers(problem, res.headers_mut());
    }
    res
}

/// Adds the problem's headers whose names the rendered response lacks.
pub(crate) fn keep_problem_headers(problem: &Problem, headers: &mut HeaderMap) {
    for name in problem.headers.keys() {
        if !headers.contains_key(name) {
            for value in problem.headers.get_all(name) {
                crate::util::add_header(headers, name.clone(), value.clone());
            }
        }
    }
}

/// The response of a layer that turns `req` away because of `rejection`.
pub(crate) fn reject<B, ReqBody, R: Rejection>(
    req: &Request<ReqBody>,
    rejection: R,
) -> Response<ResponseBody<B>> {
    let problem = rejection.problem();
    tracing::debug!(
        status = problem.status.as_u16(),
        problem = %problem.type_uri,
        "request rejected"
    );
    let cx = RenderContext::from_request(req);
    let res = render_with(req.extensions(), &problem, &cx);
    let (mut parts, body) = res.into_parts();
    parts.extensions.insert(rejection);
    parts.extensions.insert(problem);
    Response::from_parts(parts, ResponseBody::full(body))
}

/// Installs a [`Renderer`] for every rejection from the layers inside it.
///
/// Make it the outermost layer (the last `Router::layer` call, or the first in a
/// `ServiceBuilder`), so every layer's rejections see it. Without one, rejections are rendered
/// by [`ProblemJson`].
#[derive(Clone)]
pub struct RendererLayer {
    renderer: SharedRenderer,
}

impl RendererLayer {
    /// Renders rejections with `renderer`.
    pub fn new(renderer: impl Renderer) -> Self {
        Self {
            renderer: SharedRenderer(Arc::new(renderer)),
        }
    }
}

impl fmt::Debug for RendererLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RendererLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RendererLayer {
    type Service = RendererService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RendererService {
            inner,
            renderer: self.renderer.clone(),
        }
    }
}

/// The service of a [`RendererLayer`].
#[derive(Clone)]
pub struct RendererService<S> {
    inner: S,
    renderer: SharedRenderer,
}

impl<S: fmt::Debug> fmt::Debug for RendererService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RendererService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for RendererService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.renderer.clone());
        self.inner.call(req)
    }
}

/// The problem of a server-side misconfiguration: a generic 500 that tells the client nothing.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn internal_error() -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
        .with_type(problem_type("internal-error"))
        .with_detail("The server could not handle this request.")
}

/// The `type` URI of this crate's problem `slug`: a section of this module's docs.
pub(crate) fn problem_type(slug: &'static str) -> String {
    format!("{TYPE_BASE}{slug}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx_parts() -> (Method, Uri, HeaderMap) {
        (Method::GET, Uri::from_static("/x"), HeaderMap::new())
    }

    #[test]
    fn json_has_standard_members_first_and_skips_reserved_extensions() {
        let problem = Problem::new(StatusCode::FORBIDDEN)
            .with_type("https://example.com/p/forbidden")
            .with_detail("missing scope write:posts")
            .with_instance("/posts/1")
            .with_extension("status", 200)
            .with_extension("scope", "write:posts");
        let json = String::from_utf8(problem.to_json(Some("abc-123"))).unwrap();
        assert_eq!(
            json,
            r#"{"type":"https://example.com/p/forbidden","title":"Forbidden","status":403,"detail":"missing scope write:posts","instance":"/posts/1","request_id":"abc-123","scope":"write:posts"}"#
        );
    }

    #[test]
    fn an_extension_set_twice_keeps_one_member() {
        let problem = Problem::new(StatusCode::BAD_REQUEST)
            .with_extension("a", 1)
            .with_extension("b", 2)
            .with_extension("a", 3);
        assert_eq!(
            String::from_utf8(problem.to_json(None)).unwrap(),
            r#"{"type":"about:blank","title":"Bad Request","status":400,"a":3,"b":2}"#
        );
    }

    #[test]
    fn json_escapes_strings() {
        let problem = Problem::new(StatusCode::BAD_REQUEST).with_detail("a \"quoted\"\nline");
        let json = String::from_utf8(problem.to_json(None)).unwrap();
        assert_eq!(
            json,
            r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"a \"quoted\"\nline"}"#
        );
    }

    #[test]
    fn problem_json_renderer_sets_status_headers_and_content_type() {
        let (m, u, h) = cx_parts();
        let problem = Problem::new(StatusCode::UNAUTHORIZED).with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
        let res = ProblemJson.render(&problem, &RenderContext::new(&m, &u, &h, None));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[CONTENT_TYPE], APPLICATION_PROBLEM_JSON);
        assert_eq!(res.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            res.body().as_ref(),
            br#"{"type":"about:blank","title":"Unauthorized","status":401}"#
        );
    }

    #[test]
    fn plain_text_renderer() {
        let (m, u, h) = cx_parts();
        let id = RequestId::new("req-1").unwrap();
        let problem = Problem::new(StatusCode::TOO_MANY_REQUESTS).with_detail("slow down");
        let res = PlainText.render(&problem, &RenderContext::new(&m, &u, &h, Some(&id)));
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(
            res.body().as_ref(),
            b"429 Too Many Requests: slow down\nrequest id: req-1\n"
        );
    }

    #[test]
    fn grpc_renderer_maps_status_and_encodes_message() {
        let (m, u, h) = cx_parts();
        let problem = Problem::new(StatusCode::UNAUTHORIZED).with_detail("token expired: 100%\n");
        let res = GrpcStatus.render(&problem, &RenderContext::new(&m, &u, &h, None));
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/grpc");
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(res.headers()["grpc-message"], "token expired: 100%25%0A");
        assert!(res.body().is_empty());
    }

    #[test]
    fn grpc_codes() {
        let cases = [
            (400, 3),
            (401, 16),
            (403, 7),
            (404, 12),
            (410, 12),
            (413, 8),
            (429, 8),
            (409, 9),
            (500, 13),
            (503, 14),
            (504, 4),
        ];
        for (http, grpc) in cases {
            assert_eq!(
                GrpcStatus::code(StatusCode::from_u16(http).unwrap()),
                grpc,
                "{http}"
            );
        }
    }
}
