//! Probes of `VersioningLayer`, `CsrfLayer` and `ErrorHygieneLayer` as an outside attacker
//! would send them to a running gateway: path tricks, header duplicates and case games, host
//! forms, failing and panicking bodies, `HEAD`, trailers.

mod common;

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use common::{call, raw, serve};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Frame;
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_shield::csrf::{CrossOriginReason, CrossOriginRefused};
use tower_shield::versioning::{ApiVersion, Version};
use tower_shield::{CsrfLayer, ErrorHygieneLayer, ManualClock, VersioningLayer};

// ---------------------------------------------------------------------------------------------
// VersioningLayer
// ---------------------------------------------------------------------------------------------

/// 2026-11-22T00:00:00Z
const NOW: u64 = 1_795_305_600;

fn invalid(source: &str) -> String {
    format!(
        r#"{{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-version","title":"Invalid API version","status":400,"detail":"The version in the {source} is not a version number such as 2 or v2."}}"#
    )
}

/// v2 supported (the default), v1 deprecated, v0 retired; the inner service is a fallback
/// that shows the version and the path it got, and counts its calls.
fn versioned(strip: bool) -> (Router, Arc<AtomicUsize>) {
    let layer = VersioningLayer::builder()
        .vendor("example")
        .version(Version::supported(2))
        .version(
            Version::deprecated(1, "2026-01-01")
                .sunset("2027-06-30")
                .link("https://api.example.com/migrate"),
        )
        .version(Version::retired(0))
        .default_version(2)
        .strip_prefix(strip)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = Router::new().fallback(move |v: ApiVersion, uri: Uri| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { format!("v{v} {uri}") }
    });
    let app = Router::new().fallback_service(ServiceBuilder::new().layer(layer).service(inner));
    (app, calls)
}

fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn path_tricks_that_would_reach_another_version_are_a_400() {
    for strip in [true, false] {
        let (app, calls) = versioned(strip);
        for uri in [
            "/v2/../v1/posts",
            "/v2/%2e%2e/v1/posts",
            "/v2/%2E%2E/v0/posts",
            "/v2/..",
            "//v1/posts",
            "//v0/posts",
            "/./v1/posts",
            "/posts/../v0/posts",
            "/v%31/posts",
            "/v%32/posts",
            "/v2%2fposts",
            "/v2%2F..%2Fv1/posts",
            "/v02/posts",
            "/v99999999999999999999/",
            "/v99999999999999999999",
            "/v4294967296/posts",
            // Path parameters, which servlet-style servers drop.
            "/v2;x/posts",
            "/v0;jsessionid=1/posts",
            "/v2/..;/v1/posts",
        ] {
            let (status, headers, body) = call(&app, get_with(uri, &[])).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body, invalid("path"), "{uri}");
            assert_eq!(headers["content-type"], "application/problem+json");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "strip {strip}");
    }
}

#[tokio::test]
async fn path_forms_that_are_no_version_get_the_default_and_versions_are_read_exactly() {
    let (app, _) = versioned(true);
    for (uri, expected) in [
        ("/V2/posts", "v2 /posts"),
        ("/v2", "v2 /"),
        ("/v2/", "v2 /"),
        ("/v2?x=1", "v2 /?x=1"),
        ("/v1/posts", "v1 /posts"),
        // Not `v` and digits: no version, the default, and the path left for the router.
        ("/v2.0/posts", "v2 /v2.0/posts"),
        ("/posts;x", "v2 /posts;x"),
        ("/v/posts", "v2 /v/posts"),
        ("/video", "v2 /video"),
        // Normalizations inside the version keep it.
        ("/v1/posts/../comments", "v1 /posts/../comments"),
        ("/v1//posts", "v1 //posts"),
        ("/v1/files/a%2Fb", "v1 /files/a%2Fb"),
    ] {
        let (status, _, body) = call(&app, get_with(uri, &[])).await;
        assert_eq!(
            (status, body.as_ref()),
            (StatusCode::OK, expected.as_bytes()),
            "{uri}"
        );
    }
    let (status, _, _) = call(&app, get_with("/v0/posts", &[])).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn a_version_in_the_path_and_another_elsewhere_is_a_conflict() {
    let (app, calls) = versioned(true);
    for (uri, headers, detail) in [
        (
            "/v1/posts",
            vec![("api-version", "2")],
            "v1 in the path, v2 in the header",
        ),
        (
            "/v2/posts",
            vec![("accept", "application/vnd.example.v1+json")],
            "v2 in the path, v1 in the media type",
        ),
        (
            "/v2/posts?version=1",
            vec![],
            "v2 in the path, v1 in the query",
        ),
        // A retired version hidden behind a served one is no way around the 410.
        (
            "/v2/posts",
            vec![("api-version", "0")],
            "v2 in the path, v0 in the header",
        ),
    ] {
        let (status, _, body) = call(&app, get_with(uri, &headers)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            problem["detail"],
            format!("The request asks for different versions: {detail}."),
        );
    }
    // The same version twice is no conflict.
    let (status, _, body) = call(&app, get_with("/v1/posts", &[("api-version", "v1")])).await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, b"v1 /posts".as_ref())
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn accept_forms_parameters_and_overflowing_numbers() {
    let (app, _) = versioned(true);
    for (accept, expected) in [
        ("application/vnd.example.v1+json", "v1 /posts"),
        (
            "application/vnd.example.v1+json; charset=utf-8",
            "v1 /posts",
        ),
        ("APPLICATION/VND.EXAMPLE.V1+JSON", "v1 /posts"),
        ("application/vnd.example.v1+json;q=0", "v2 /posts"),
        ("application/vnd.other.v1+json", "v2 /posts"),
        (
            "application/vnd.example.v1+json;q=0.5, application/json",
            "v1 /posts",
        ),
    ] {
        let (status, _, body) = call(&app, get_with("/posts", &[("accept", accept)])).await;
        assert_eq!(
            (status, body.as_ref()),
            (StatusCode::OK, expected.as_bytes()),
            "{accept}"
        );
    }
    for (uri, headers, source) in [
        (
            "/posts",
            vec![(
                "accept",
                "application/vnd.example.v99999999999999999999+json",
            )],
            "media type",
        ),
        (
            "/posts",
            vec![("api-version", "99999999999999999999")],
            "header",
        ),
        ("/posts?version=v99999999999999999999", vec![], "query"),
        ("/posts?version=-1", vec![], "query"),
        ("/posts", vec![("api-version", "2.0")], "header"),
    ] {
        let (status, _, body) = call(&app, get_with(uri, &headers)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {headers:?}");
        assert_eq!(body, invalid(source));
    }
}

#[tokio::test]
async fn deprecation_is_an_rfc_9745_date_and_sunset_an_http_date() {
    let (app, _) = versioned(true);
    let (status, headers, _) = call(&app, get_with("/v1/posts", &[])).await;
    assert_eq!(status, StatusCode::OK);
    // RFC 9745: a Structured Field Date, `@` and the Unix seconds of 2026-01-01T00:00:00Z.
    assert_eq!(headers["deprecation"], "@1767225600");
    // RFC 8594: an IMF-fixdate.
    assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(
        headers["link"],
        "<https://api.example.com/migrate>; rel=\"deprecation\""
    );
    let (_, headers, _) = call(&app, get_with("/v2/posts", &[])).await;
    assert!(headers.get("deprecation").is_none());
    assert!(headers.get("sunset").is_none());
}

// ---------------------------------------------------------------------------------------------
// CsrfLayer
// ---------------------------------------------------------------------------------------------

/// The layer with a trusted origin and a bypass prefix around a service that counts its calls.
async fn csrf_status(req: Request<Body>) -> (StatusCode, Option<CrossOriginReason>) {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("https://admin.example.com")
        .bypass_path("/hooks/*")
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("reached")))
        }));
    let res = svc.oneshot(req).await.unwrap();
    let reason = res
        .extensions()
        .get::<CrossOriginRefused>()
        .map(CrossOriginRefused::reason);
    (res.status(), reason)
}

fn unsafe_request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::empty()).unwrap()
}

const OK: (StatusCode, Option<CrossOriginReason>) = (StatusCode::OK, None);
const BY_SITE: (StatusCode, Option<CrossOriginReason>) =
    (StatusCode::FORBIDDEN, Some(CrossOriginReason::SecFetchSite));
const BY_ORIGIN: (StatusCode, Option<CrossOriginReason>) = (
    StatusCode::FORBIDDEN,
    Some(CrossOriginReason::OriginNotHost),
);
const SEVERAL: (StatusCode, Option<CrossOriginReason>) = (
    StatusCode::FORBIDDEN,
    Some(CrossOriginReason::SeveralOrigins),
);

#[tokio::test]
async fn sec_fetch_site_is_matched_exactly_once() {
    let host = ("host", "a.example");
    for (headers, expected) in [
        (vec![host, ("sec-fetch-site", "same-origin")], OK),
        (vec![host, ("sec-fetch-site", "none")], OK),
        // Values are lowercase tokens: any other spelling is unknown, as in Go.
        (vec![host, ("sec-fetch-site", "Same-Origin")], BY_SITE),
        (vec![host, ("sec-fetch-site", "SAME-ORIGIN")], BY_SITE),
        (vec![host, ("sec-fetch-site", " same-origin")], BY_SITE),
        (
            vec![host, ("sec-fetch-site", "same-origin, cross-site")],
            BY_SITE,
        ),
        // Two headers: refused, even when both say same-origin (Go reads the first only).
        (
            vec![
                host,
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "same-origin"),
            ],
            BY_SITE,
        ),
        (
            vec![
                host,
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-site", "same-origin"),
            ],
            BY_SITE,
        ),
        // Empty: as absent, the Origin decides.
        (vec![host, ("sec-fetch-site", "")], OK),
        (
            vec![
                host,
                ("sec-fetch-site", ""),
                ("origin", "https://evil.example"),
            ],
            BY_ORIGIN,
        ),
        // A trusted origin passes any Sec-Fetch-Site.
        (
            vec![
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://admin.example.com"),
            ],
            OK,
        ),
    ] {
        let req = unsafe_request("POST", "/posts", &headers);
        assert_eq!(csrf_status(req).await, expected, "{headers:?}");
    }
}

#[tokio::test]
async fn origin_forms_against_the_host() {
    for (host, origin, expected) in [
        ("a.example", "https://a.example", OK),
        ("a.example", "http://a.example", OK), // scheme-blind, as Go (HSTS closes it)
        ("a.example", "https://A.EXAMPLE", OK), // hosts are case-insensitive
        ("A.Example", "https://a.example", OK),
        ("a.example", "null", BY_ORIGIN),
        ("a.example", "https://a.example/", BY_ORIGIN), // Go accepts: url.Parse drops the path
        ("a.example", "https://a.example/posts", BY_ORIGIN),
        // The scheme's default port, written on one side only, as tower-http's `CsrfLayer`
        // (Go compares the text and refuses these).
        ("a.example", "https://a.example:443", OK),
        ("a.example:443", "https://a.example", OK),
        ("a.example:80", "https://a.example", BY_ORIGIN),
        ("a.example:8080", "http://a.example:8080", OK),
        ("a.example:8080", "http://a.example:8081", BY_ORIGIN),
        ("a.example", "https://a.example.evil.example", BY_ORIGIN),
        ("a.example", "https://user@a.example", BY_ORIGIN),
        ("a.example", "a.example", BY_ORIGIN),
        ("a.example", "https://", BY_ORIGIN),
        ("[::1]:8080", "http://[::1]:8080", OK),
        ("[::1]:8080", "http://[::1]:8081", BY_ORIGIN),
        ("[::1]:8080", "http://[0:0:0:0:0:0:0:1]:8080", BY_ORIGIN),
    ] {
        let req = unsafe_request("POST", "/posts", &[("host", host), ("origin", origin)]);
        assert_eq!(csrf_status(req).await, expected, "{host} {origin}");
    }
    // Several Origin headers: refused whatever they say, trusted or own.
    let req = unsafe_request(
        "POST",
        "/posts",
        &[
            ("host", "a.example"),
            ("origin", "https://a.example"),
            ("origin", "https://a.example"),
        ],
    );
    assert_eq!(csrf_status(req).await, SEVERAL);
    let req = unsafe_request(
        "POST",
        "/posts",
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://admin.example.com"),
            ("origin", "https://admin.example.com"),
        ],
    );
    assert_eq!(csrf_status(req).await, SEVERAL);
    // No Host at all: an Origin cannot be the request's own.
    let req = unsafe_request("POST", "/posts", &[("origin", "https://a.example")]);
    assert_eq!(csrf_status(req).await, BY_ORIGIN);
}

#[tokio::test]
async fn the_target_authority_wins_over_host_as_for_http2_and_absolute_form() {
    // HTTP/2's `:authority` and an absolute-form target both land in the URI's authority, which
    // RFC 9112 says wins over `Host` (Go's `Request.Host` does the same).
    let req = unsafe_request(
        "POST",
        "https://a.example/posts",
        &[("origin", "https://a.example")],
    );
    assert_eq!(csrf_status(req).await, OK);
    let req = unsafe_request(
        "POST",
        "https://a.example/posts",
        &[("host", "evil.example"), ("origin", "https://evil.example")],
    );
    assert_eq!(csrf_status(req).await, BY_ORIGIN);
    let req = unsafe_request(
        "POST",
        "https://a.example/posts",
        &[("host", "evil.example"), ("origin", "https://a.example")],
    );
    assert_eq!(csrf_status(req).await, OK);
}

#[tokio::test]
async fn only_the_three_safe_methods_skip_the_check() {
    let cross = [("host", "a.example"), ("sec-fetch-site", "cross-site")];
    for method in ["GET", "HEAD", "OPTIONS"] {
        assert_eq!(
            csrf_status(unsafe_request(method, "/posts", &cross)).await,
            OK,
            "{method}"
        );
    }
    for method in [
        "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "post", "get", "Get",
        "head", "options",
    ] {
        assert_eq!(
            csrf_status(unsafe_request(method, "/posts", &cross)).await,
            BY_SITE,
            "{method}"
        );
    }
}

#[tokio::test]
async fn bypass_paths_match_by_whole_prefix_and_never_after_normalization() {
    let cross = [("host", "a.example"), ("sec-fetch-site", "cross-site")];
    for (uri, expected) in [
        ("/hooks/stripe", OK),
        ("/hooks/", OK),
        ("/hooks/a/b?x=../../posts", OK), // the query is not the path
        ("/hooks", BY_SITE),
        ("/hooksx/stripe", BY_SITE),
        ("/HOOKS/stripe", BY_SITE),
        ("//hooks/stripe", BY_SITE),
        ("/hooks/../posts", BY_SITE),
        ("/hooks/./../posts", BY_SITE),
        ("/hooks/%2e%2e/posts", BY_SITE),
        ("/hooks/%2E%2e/posts", BY_SITE),
        ("/hooks/.%2E/posts", BY_SITE),
        ("/hooks%2F..%2Fposts", BY_SITE),
        ("/hooks/x%2F..%2F..%2Fposts", BY_SITE),
        ("/hooks/x%5c..%5c..%5cposts", BY_SITE),
        ("/hooks/..;/posts", BY_SITE),
        ("/hooks/%2e%2e;x/posts", BY_SITE),
    ] {
        assert_eq!(
            csrf_status(unsafe_request("POST", uri, &cross)).await,
            expected,
            "{uri}"
        );
    }
    // Several Origins on a bypassed path: bypassed.
    let req = unsafe_request(
        "POST",
        "/hooks/stripe",
        &[
            ("origin", "https://a.example"),
            ("origin", "https://b.example"),
        ],
    );
    assert_eq!(csrf_status(req).await, OK);
}

#[tokio::test]
async fn on_the_wire_a_forged_post_never_reaches_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = Router::new()
        .fallback(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { "reached" }
        })
        .layer(CsrfLayer::new());
    let addr = serve(app).await;
    // `raw` adds `Host: test`.
    let res = raw(
        addr,
        b"POST /posts HTTP/1.1\r\nOrigin: https://evil.example\r\nContent-Length: 0",
    )
    .await;
    assert_eq!(res.status, 403);
    let res = raw(
        addr,
        b"post /posts HTTP/1.1\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0",
    )
    .await;
    // Methods are case-sensitive tokens: `post` is an extension method, checked as unsafe.
    assert_eq!(res.status, 403);
    let res = raw(
        addr,
        b"POST /posts HTTP/1.1\r\nOrigin: http://test\r\nContent-Length: 0",
    )
    .await;
    assert_eq!(
        (res.status, res.body.as_slice()),
        (200, b"reached".as_slice())
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// ErrorHygieneLayer
// ---------------------------------------------------------------------------------------------

const PROBLEM_500: &str = r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#server-error","title":"Server error","status":500,"detail":"The server could not handle this request. Quote the request id when reporting it."}"#;

/// One step of a scripted response body.
#[derive(Clone, Copy)]
enum Step {
    Data(&'static str),
    Trailer(&'static str, &'static str),
    Fail,
    Panic,
}

struct Scripted {
    steps: std::iter::Copied<std::slice::Iter<'static, Step>>,
}

impl Scripted {
    fn new(steps: &'static [Step]) -> Self {
        Self {
            steps: steps.iter().copied(),
        }
    }
}

impl http_body::Body for Scripted {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(self.steps.next().map(|step| match step {
            Step::Data(text) => Ok(Frame::data(Bytes::from_static(text.as_bytes()))),
            Step::Trailer(name, value) => {
                let mut trailers = HeaderMap::new();
                trailers.insert(
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
                Ok(Frame::trailers(trailers))
            }
            Step::Fail => Err(io::Error::other("connection reset by db-3")),
            Step::Panic => panic!("body panicked at src/stream.rs:7"),
        }))
    }
}

/// The layer around a service answering `status` with `headers` and the scripted body.
async fn hygiene(
    method: Method,
    status: StatusCode,
    headers: &[(&'static str, &'static str)],
    steps: &'static [Step],
) -> Response<Body> {
    let headers = headers.to_vec();
    let svc = ServiceBuilder::new()
        .layer(
            ErrorHygieneLayer::builder()
                .strip_header("x-backend")
                .build()
                .unwrap(),
        )
        .service(service_fn(move |_: Request<Body>| {
            let headers = headers.clone();
            async move {
                let mut res = Response::new(Scripted::new(steps));
                *res.status_mut() = status;
                for (name, value) in headers {
                    res.headers_mut().append(
                        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        HeaderValue::from_static(value),
                    );
                }
                Ok::<_, Infallible>(res)
            }
        }));
    let req = Request::builder()
        .method(method)
        .uri("/posts")
        .body(Body::empty())
        .unwrap();
    svc.oneshot(req).await.unwrap().map(Body::new)
}

#[tokio::test]
async fn a_5xx_body_that_fails_or_panics_midway_is_replaced_whole() {
    for steps in [
        &[Step::Data("SELECT * FROM users; "), Step::Fail][..],
        &[Step::Data("SELECT * FROM users; "), Step::Panic][..],
        &[Step::Fail][..],
        &[Step::Panic][..],
    ] {
        let res = hygiene(
            Method::GET,
            StatusCode::INTERNAL_SERVER_ERROR,
            &[("content-length", "999"), ("transfer-encoding", "chunked")],
            steps,
        )
        .await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        assert!(res.headers().get("content-length").is_none());
        assert!(res.headers().get("transfer-encoding").is_none());
        let collected = res.into_body().collect().await.unwrap();
        assert!(collected.trailers().is_none());
        assert_eq!(collected.to_bytes(), PROBLEM_500);
    }
}

#[tokio::test]
async fn trailers_and_digests_of_a_replaced_body_are_dropped() {
    let res = hygiene(
        Method::GET,
        StatusCode::BAD_GATEWAY,
        &[
            ("trailer", "grpc-message"),
            ("content-digest", "sha-256=:AAAA:"),
            ("retry-after", "5"),
        ],
        &[
            Step::Data("upstream 10.0.0.7 refused"),
            Step::Trailer("grpc-message", "pq: password authentication failed"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let names: Vec<_> = res
        .headers()
        .keys()
        .map(|n| n.as_str().to_owned())
        .collect();
    assert_eq!(names, ["content-type", "retry-after"]);
    let collected = res.into_body().collect().await.unwrap();
    assert!(collected.trailers().is_none());
    let body = collected.to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains("10.0.0.7"));
    assert!(String::from_utf8_lossy(&body).contains(r#""status":502"#));
}

#[tokio::test]
async fn banners_and_configured_headers_go_in_any_case_and_however_repeated() {
    for status in [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE] {
        let res = hygiene(
            Method::GET,
            status,
            &[
                ("Server", "nginx/1.2.3"),
                ("SERVER", "Apache"),
                ("X-POWERED-BY", "PHP/5.4"),
                ("x-powered-by", "Express"),
                ("X-Backend", "db-3"),
                ("x-backend", "db-4"),
                ("x-kept", "1"),
            ],
            &[Step::Data("fine")],
        )
        .await;
        let names: Vec<_> = res
            .headers()
            .keys()
            .map(|n| n.as_str().to_owned())
            .collect();
        if status == StatusCode::OK {
            assert_eq!(names, ["x-kept"]);
        } else {
            assert_eq!(names, ["content-type", "x-kept"]);
        }
    }
}

#[tokio::test]
async fn a_panic_in_a_non_error_body_is_not_caught() {
    // By design (as tower-http's CatchPanicLayer): once a 2xx head is out, the layer passes the
    // body through; a panic in it unwinds to the server, which drops the connection.
    let res = hygiene(
        Method::GET,
        StatusCode::OK,
        &[],
        &[Step::Data("partial"), Step::Panic],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let joined = tokio::spawn(async move { res.into_body().collect().await.map(|_| ()) }).await;
    assert!(joined.unwrap_err().is_panic());
}

async fn panics_with_a_number() -> &'static str {
    std::panic::panic_any(42_u32)
}

async fn panics_with_a_struct() -> &'static str {
    #[derive(Debug)]
    struct Secret {
        _dsn: &'static str,
    }
    std::panic::panic_any(Secret {
        _dsn: "postgres://app:hunter2@10.0.0.7/db",
    })
}

fn wire_app() -> Router {
    Router::new()
        .route("/number", get(panics_with_a_number))
        .route("/struct", get(panics_with_a_struct))
        .route(
            "/boom",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [("content-length", "33"), ("server", "gunicorn")],
                    "Traceback at /srv/app/views.py:42",
                )
                    .into_response()
            }),
        )
        .layer(ErrorHygieneLayer::new())
}

#[tokio::test]
async fn panics_with_any_payload_are_a_500_problem() {
    let app = wire_app();
    for uri in ["/number", "/struct"] {
        let (status, _, body) = call(&app, common::request(uri)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert_eq!(body, PROBLEM_500, "{uri}");
    }
}

#[tokio::test]
async fn on_the_wire_lengths_agree_and_head_gets_no_body() {
    let addr = serve(wire_app()).await;
    let get = raw(addr, b"GET /boom HTTP/1.1").await;
    assert_eq!(get.status, 500);
    assert_eq!(get.body, PROBLEM_500.as_bytes());
    assert_eq!(
        get.header("content-length"),
        Some(PROBLEM_500.len().to_string().as_str())
    );
    assert_eq!(get.header("server"), None);
    assert_eq!(get.all("content-length").len(), 1);
    // HEAD: the same head (Content-Length of the problem a GET gets), no body bytes.
    let head = raw(addr, b"HEAD /boom HTTP/1.1").await;
    assert_eq!(head.status, 500);
    assert_eq!(
        head.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(head.header("content-length"), get.header("content-length"));
    assert_eq!(head.body, b"");
    // A panic on the wire: the same problem, the connection answered.
    let panicked = raw(addr, b"GET /number HTTP/1.1").await;
    assert_eq!(
        (panicked.status, panicked.body.as_slice()),
        (500, PROBLEM_500.as_bytes())
    );
}
