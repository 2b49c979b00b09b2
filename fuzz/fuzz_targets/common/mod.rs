//! What the fuzz targets share: running a request through a layer on a trivial inner service,
//! reading the answer, and cutting a fuzz input into fields.
//!
//! Inputs are mostly text: fields separated by `\n`, a byte no header value can hold, so a seed
//! file is readable and libFuzzer's comparison tracing finds the literals it needs.

#![allow(dead_code)]

use std::cell::RefCell;
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    /// What the inner service saw of the last request it was called with.
    static SEEN: RefCell<Option<http::request::Parts>> = const { RefCell::new(None) };
}

/// Runs `future` to completion on this thread's runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The answer of `layer` around an inner service that records the request it gets (see
/// [`seen`]) and answers `200` with the body `inner`, plus the headers in `inner_headers`.
/// Returns the response with its body collected, and the request the inner service saw (`None`
/// when the layer answered by itself).
pub fn call<L, B>(
    layer: &L,
    req: Request<()>,
    inner_headers: &[(&'static str, &'static str)],
) -> (Response<Bytes>, Option<http::request::Parts>)
where
    L: Layer<Inner>,
    L::Service: Service<Request<()>, Response = Response<B>>,
    <L::Service as Service<Request<()>>>::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    SEEN.with(|s| s.borrow_mut().take());
    let inner = Inner {
        extra: inner_headers.to_vec(),
    };
    let res = respond(layer.layer(inner), req);
    let seen = SEEN.with(|s| s.borrow_mut().take());
    if debug() {
        eprintln!(
            "{} {:?} {:?}\n  -> {} {:?} {}\n  inner saw: {:?}",
            seen.as_ref().map_or("-".into(), |p| p.method.to_string()),
            seen.as_ref().map(|p| p.uri.to_string()),
            seen.as_ref().map(|p| &p.headers),
            res.status(),
            res.headers(),
            String::from_utf8_lossy(res.body()),
            seen.as_ref().map(|p| &p.extensions),
        );
    }
    (res, seen)
}

/// The answer of `svc` to `req`, with its body collected.
pub fn respond<S, ReqBody, B>(svc: S, req: Request<ReqBody>) -> Response<Bytes>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    block_on(async move {
        let res = svc.oneshot(req).await.expect("the layers never fail");
        let (parts, body) = res.into_parts();
        let bytes = body
            .collect()
            .await
            .expect("a response body never fails")
            .to_bytes();
        Response::from_parts(parts, bytes)
    })
}

/// Whether `FUZZ_DEBUG` is set: then every exchange is printed (run a target on one input:
/// `FUZZ_DEBUG=1 cargo +nightly fuzz run <target> <file>`).
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}

/// The trivial inner service.
#[derive(Clone)]
pub struct Inner {
    extra: Vec<(&'static str, &'static str)>,
}

impl Service<Request<()>> for Inner {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        let (parts, ()) = req.into_parts();
        SEEN.with(|s| *s.borrow_mut() = Some(parts));
        let mut res = Response::new("inner".to_owned());
        for (name, value) in &self.extra {
            res.headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        std::future::ready(Ok(res))
    }
}

/// `data` cut at every `\n`.
pub fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == b'\n').collect()
}

/// The header values of `headers` named `name`, as bytes.
pub fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

/// The one value of `name`, as text; panics when there are several.
pub fn one<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let all = values(headers, name);
    assert!(all.len() <= 1, "{name} appears {} times", all.len());
    all.first()
        .map(|v| std::str::from_utf8(v).expect("a header this crate writes is text"))
}

/// The slug of a problem+json body (the part of `type` after `#`).
pub fn problem_slug(res: &Response<Bytes>) -> String {
    let content_type = one(res.headers(), "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "a rejection is a problem, not {content_type:?}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(res.body()).expect("a problem body is JSON");
    let kind = body["type"].as_str().expect("a problem has a type");
    let (_, slug) = kind
        .rsplit_once('#')
        .expect("a problem type is the docs' anchor");
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(res.status().as_u16())),
        "the problem's status is the response's"
    );
    slug.to_owned()
}

/// Whether the comma-separated header `name` holds `item` (case-insensitively).
pub fn list_has(headers: &HeaderMap, name: &str, item: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|t| t.split(',').any(|i| i.trim().eq_ignore_ascii_case(item)))
    })
}

/// The origin a browser sends for a page at `url`, if it is an http(s) URL it can load.
pub fn browser_origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// Whether `entry` is an http(s) origin exactly as a browser serializes it, with a host any
/// DNS name or IP address could have: such an entry must be accepted.
pub fn is_plain_browser_origin(entry: &str) -> bool {
    if browser_origin(entry).as_deref() != Some(entry) {
        return false;
    }
    let Ok(url) = url::Url::parse(entry) else {
        return false;
    };
    // Port 0 parses, but fetch never connects to it: the CORS builder refuses it.
    if url.port() == Some(0) {
        return false;
    }
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let labels = name.strip_suffix('.').unwrap_or(name);
            labels.len() <= 253
                && labels.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        }
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
        None => false,
    }
}
