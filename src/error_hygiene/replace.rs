//! The replacement of a server error: the generic problem, the headers kept, the log line.

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH,
    CONTENT_LOCATION, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, TRAILER, TRANSFER_ENCODING,
};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri};

use super::layer::Config;
use crate::body::TrailerHook;
use crate::core::event::{Fields, Kind, emit};
use crate::core::{RequestHead, RequestId};
use crate::problem::{Problem, ProblemType, SharedRenderer, render_with};

/// What a replacement is rendered with, taken from the request before the inner service has it.
pub(super) struct Captured {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) request_id: Option<RequestId>,
    pub(super) renderer: Option<SharedRenderer>,
    /// With a renderer of the application's: the request's `Content-Type` and `Accept`, which
    /// a renderer chooses its format by (gRPC or JSON); empty without one (the default renderer
    /// reads none).
    pub(super) headers: HeaderMap,
    /// The socket peer, for the log.
    pub(super) peer: Option<std::net::IpAddr>,
}

impl Captured {
    /// What of `req` a replacement is rendered with, should there be one.
    pub(super) fn of<B>(req: &http::Request<B>) -> Self {
        let renderer = req.extensions().get::<SharedRenderer>().cloned();
        let mut headers = HeaderMap::new();
        if renderer.is_some() {
            for name in [http::header::CONTENT_TYPE, http::header::ACCEPT] {
                for value in req.headers().get_all(&name) {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            request_id: req.extensions().get::<RequestId>().cloned(),
            renderer,
            headers,
            peer: crate::rate_limit::peer_ip(req.extensions()),
        }
    }
}

/// The detail of every replacement: nothing about the failure itself.
pub(super) const DETAIL: &str =
    "The server could not handle this request. Quote the request id when reporting it.";

/// Headers that describe the replaced body, not the response: they go with it. The digests
/// (RFC 9530 `Content-Digest` and `Repr-Digest`, RFC 3230 `Digest`, `Content-MD5`) would not
/// match the problem, and would let a client confirm a guess at the hidden body.
const BODY_HEADERS: [HeaderName; 16] = [
    CONTENT_TYPE,
    CONTENT_LENGTH,
    CONTENT_ENCODING,
    CONTENT_LANGUAGE,
    CONTENT_LOCATION,
    CONTENT_RANGE,
    CONTENT_DISPOSITION,
    TRANSFER_ENCODING,
    ETAG,
    LAST_MODIFIED,
    TRAILER,
    ACCEPT_RANGES,
    HeaderName::from_static("content-digest"),
    HeaderName::from_static("repr-digest"),
    HeaderName::from_static("digest"),
    HeaderName::from_static("content-md5"),
];

/// Removes the configured headers.
pub(super) fn strip(config: &Config, headers: &mut HeaderMap) {
    for name in &config.strip {
        headers.remove(name);
    }
}

/// gRPC codes of a server's own failure (`UNKNOWN`, `DEADLINE_EXCEEDED`, `INTERNAL`,
/// `UNAVAILABLE`, `DATA_LOSS`; the last three and `DEADLINE_EXCEEDED` are what HTTP's `500`,
/// `503` and `504` map to): a gRPC service answers them in a `200` (`grpc-status`), with the
/// failure's text in `grpc-message` (`unavailable: connection to 10.0.0.7:5432 refused`).
const GRPC_SERVER_FAILURES: [&[u8]; 5] = [b"2", b"4", b"13", b"14", b"15"];

/// A gRPC failure answered in the response's headers (a trailers-only response, as tonic
/// answers a handler's `Err(Status)`): its `grpc-message` replaced by the generic detail and
/// its `grpc-status-details-bin` removed, the original logged at ERROR. The code is kept.
/// Other gRPC codes are the client's own (`INVALID_ARGUMENT`, `NOT_FOUND`, ...) and kept whole.
pub(super) fn grpc_failure(captured: &Captured, headers: &mut HeaderMap) {
    let failed = headers
        .get(&GRPC_STATUS)
        .is_some_and(|code| GRPC_SERVER_FAILURES.contains(&code.as_bytes()));
    if !failed {
        return;
    }
    let message = headers
        .get(&GRPC_MESSAGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let code = headers
        .get(&GRPC_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    event(
        captured,
        Kind::ServerErrorReplaced,
        Fields {
            error_type: Some("grpc_server_error"),
            problem: Some(ProblemType::ServerError.slug()),
            grpc_status: code,
            // Percent-encoded as sent.
            detail: message.as_deref(),
            ..Default::default()
        },
    );
    // The detail is printable ASCII without `%`: its own percent-encoding.
    headers.insert(GRPC_MESSAGE.clone(), HeaderValue::from_static(DETAIL));
    headers.remove(&GRPC_STATUS_DETAILS);
}

/// For a gRPC response whose status is not in its headers (it streams messages, then sends
/// its status in trailers): the hook that gives a server failure in those trailers what
/// [`grpc_failure`] gives one in the headers. `None` for any other response, which keeps its
/// body untouched.
pub(super) fn grpc_trailers(captured: &Captured, headers: &HeaderMap) -> Option<TrailerHook> {
    let grpc = headers
        .get(CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
    if !grpc || headers.contains_key(&GRPC_STATUS) {
        return None;
    }
    let captured = Captured {
        method: captured.method.clone(),
        uri: captured.uri.clone(),
        request_id: captured.request_id.clone(),
        renderer: None,
        headers: HeaderMap::new(),
        peer: captured.peer,
    };
    Some(TrailerHook::new(move |trailers| {
        grpc_failure(&captured, trailers);
    }))
}

static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
static GRPC_STATUS_DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// An `error_hygiene.*` event of the request `captured`: ERROR, with the OpenTelemetry names
/// of the crate's other events (`detail` recorded with `Debug`, which escapes newlines and
/// control characters).
pub(super) fn event(captured: &Captured, kind: Kind, mut fields: Fields<'_>) {
    fields.client = fields.client.or(captured.peer);
    let mut extensions = Extensions::new();
    if let Some(id) = &captured.request_id {
        extensions.insert(id.clone());
    }
    let head = RequestHead::new(
        &captured.method,
        &captured.uri,
        &captured.headers,
        &extensions,
    );
    emit(kind, &head, &fields);
}

/// The generic `server-error` problem with `status`, rendered by the request's renderer (with
/// its request id), the problem in the response's extensions.
pub(super) fn render(captured: &Captured, status: StatusCode) -> Response<Bytes> {
    let kind = ProblemType::ServerError;
    // A problem this crate answered with, as every rejection is counted.
    crate::metrics::rejection(kind.slug());
    let problem = Problem::new(status)
        .with_type(kind.type_uri())
        .with_title(kind.title())
        .with_detail(DETAIL);
    let mut extensions = Extensions::new();
    if let Some(id) = &captured.request_id {
        extensions.insert(id.clone());
    }
    if let Some(renderer) = &captured.renderer {
        extensions.insert(renderer.clone());
    }
    let head = RequestHead::new(
        &captured.method,
        &captured.uri,
        &captured.headers,
        &extensions,
    );
    let mut res = render_with(&extensions, &problem, &head);
    res.extensions_mut().insert(problem);
    res
}

/// The response that replaces the server error `head` (whose body began with `excerpt`, cut
/// there when `truncated`): its status, its headers but those of the body, its extensions,
/// and the generic problem. The original is logged at ERROR.
pub(super) fn replacement(
    captured: &Captured,
    head: http::response::Parts,
    excerpt: &[u8],
    truncated: bool,
) -> Response<Bytes> {
    let excerpt = String::from_utf8_lossy(excerpt);
    event(
        captured,
        Kind::ServerErrorReplaced,
        Fields {
            status: Some(head.status.as_u16()),
            error_type: Some("server_error"),
            problem: Some(ProblemType::ServerError.slug()),
            detail: Some(&excerpt),
            truncated: Some(truncated),
            ..Default::default()
        },
    );
    let mut res = render(captured, head.status);
    let headers = res.headers_mut();
    // The renderer's own headers win over the original's of the same name.
    let rendered: Vec<HeaderName> = headers.keys().cloned().collect();
    let mut last = None;
    for (name, value) in head.headers {
        if let Some(name) = name {
            last = Some(name);
        }
        let Some(name) = &last else { continue };
        if BODY_HEADERS.contains(name) || rendered.contains(name) {
            continue;
        }
        crate::core::util::add_header(headers, name.clone(), value);
    }
    let mut extensions = head.extensions;
    extensions.extend(std::mem::take(res.extensions_mut()));
    *res.extensions_mut() = extensions;
    res
}
