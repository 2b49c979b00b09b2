//! Renderers: how a [`Problem`] becomes a response, and the layer that chooses one.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::{APPLICATION_PROBLEM_JSON, Problem};
use crate::core::{RequestHead, RequestId};

/// Turns a [`Problem`] into the response sent to the client.
///
/// Implemented by [`ProblemJson`] (the default), [`PlainText`], [`GrpcStatus`], and by every
/// `Fn(&Problem, &RequestHead<'_>) -> Response<Bytes> + Send + Sync + 'static`:
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use tower_shield::problem::{Problem, RequestHead, RendererLayer};
///
/// let layer = RendererLayer::new(|problem: &Problem, _cx: &RequestHead<'_>| {
///     let mut res = Response::new(Bytes::from(problem.title().to_owned()));
///     *res.status_mut() = problem.status();
///     res.headers_mut().extend(problem.headers().clone());
///     res
/// });
/// ```
pub trait Renderer: Send + Sync + 'static {
    /// Renders `problem` for the request described by `cx`. The response must carry
    /// `problem.headers()`.
    fn render(&self, problem: &Problem, cx: &RequestHead<'_>) -> Response<Bytes>;
}

impl<F> Renderer for F
where
    F: Fn(&Problem, &RequestHead<'_>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn render(&self, problem: &Problem, cx: &RequestHead<'_>) -> Response<Bytes> {
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
    fn render(&self, problem: &Problem, cx: &RequestHead<'_>) -> Response<Bytes> {
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
    fn render(&self, problem: &Problem, cx: &RequestHead<'_>) -> Response<Bytes> {
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
    /// The gRPC status code for an HTTP status, as `google/rpc/code.proto` maps each code to
    /// one ("HTTP Mapping"), read the other way: 400 and 422 → 3 `INVALID_ARGUMENT`, 401 → 16
    /// `UNAUTHENTICATED`, 403 → 7 `PERMISSION_DENIED`, 404 → 12 `UNIMPLEMENTED` (no such
    /// method, as gRPC answers an unknown one), 409 → 10 `ABORTED`, 410 → 12 `UNIMPLEMENTED`
    /// (a retired API version), 413 and 429 → 8 `RESOURCE_EXHAUSTED`, 499 → 1 `CANCELLED`,
    /// 501 → 12 `UNIMPLEMENTED`, 502 and 503 → 14 `UNAVAILABLE`, 504 → 4 `DEADLINE_EXCEEDED`,
    /// other 4xx → 9 `FAILED_PRECONDITION`, anything else → 13 `INTERNAL`.
    pub fn code(status: StatusCode) -> u8 {
        match status.as_u16() {
            400 | 422 => 3,
            401 => 16,
            403 => 7,
            404 | 410 | 501 => 12,
            409 => 10,
            413 | 429 => 8,
            499 => 1,
            502 | 503 => 14,
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
    fn render(&self, problem: &Problem, _cx: &RequestHead<'_>) -> Response<Bytes> {
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
    cx: &RequestHead<'_>,
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
                crate::core::util::add_header(headers, name.clone(), value.clone());
            }
        }
    }
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
