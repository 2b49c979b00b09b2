//! CorsLayer through real axum Routers: preflights, actual requests, disallowed origins,
//! predicates, stacking, and a preflight in front of an auth-like service that rejects.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::call;
use http::{HeaderMap, Method, Request, StatusCode};
use tower_shield::CorsLayer;
use tower_shield::cors::{ConfigError, CorsBuilder};

const EXPOSED: &str = "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, \
                       retry-after, ratelimit, ratelimit-policy, deprecation, sunset, link";

fn builder() -> CorsBuilder {
    CorsLayer::builder()
        .allow_origin("https://frontend.example.com")
        .allow_origin("https://*.example.com")
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ])
        .allow_headers(["Authorization", "Content-Type", "X-API-Key", "X-Request-Id"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(86_400))
}

/// A Router that counts the calls that reach it.
fn app(cors: CorsLayer) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let router = Router::new()
        .route(
            "/posts",
            get(|| async { "posts" })
                .post(|| async { (StatusCode::CREATED, "created") })
                .options(|| async { "options handled by the app" }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    next.run(req).await
                }
            },
        ))
        .layer(cors);
    (router, calls)
}

fn with_origin(method: Method, origin: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri("/posts")
        .header("origin", origin)
        .body(Body::empty())
        .unwrap()
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/posts")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .unwrap()
}

fn cors_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("access-control-") || n.as_str() == "vary")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<_> = list
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_is_answered_without_the_inner_service() {
    let (app, calls) = app(builder().build().unwrap());
    let (status, headers, body) = call(&app, preflight("https://frontend.example.com")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    assert_eq!(
        cors_headers(&headers),
        pairs(&[
            (
                "access-control-allow-origin",
                "https://frontend.example.com"
            ),
            ("access-control-allow-credentials", "true"),
            (
                "access-control-allow-methods",
                "GET, POST, PUT, DELETE, PATCH"
            ),
            (
                "access-control-allow-headers",
                "authorization, content-type, x-api-key, x-request-id"
            ),
            ("access-control-max-age", "86400"),
            (
                "vary",
                "origin, access-control-request-method, access-control-request-headers"
            ),
        ])
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn preflight_from_a_disallowed_origin_gets_no_allow_headers() {
    let (app, calls) = app(builder().build().unwrap());
    for origin in [
        "https://evil-example.com",
        "https://example.com.evil.com",
        "http://a.example.com",
        "https://a.example.com:8443",
        "null",
    ] {
        let (status, headers, _) = call(&app, preflight(origin)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{origin}");
        assert_eq!(
            cors_headers(&headers),
            pairs(&[(
                "vary",
                "origin, access-control-request-method, access-control-request-headers"
            )]),
            "{origin}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn actual_request_from_an_allowed_origin_gets_the_allow_and_expose_headers() {
    let (app, calls) = app(builder().build().unwrap());
    for origin in ["https://api.example.com", "https://A.B.Example.com"] {
        let (status, headers, body) = call(&app, with_origin(Method::POST, origin)).await;
        assert_eq!(
            (status, body.as_ref()),
            (StatusCode::CREATED, b"created".as_ref())
        );
        assert_eq!(
            cors_headers(&headers),
            pairs(&[
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", EXPOSED),
                ("vary", "origin"),
            ])
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn actual_request_from_a_disallowed_origin_is_served_without_cors_headers() {
    let (app, calls) = app(builder().build().unwrap());
    let (status, headers, body) =
        call(&app, with_origin(Method::GET, "https://evil-example.com")).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, b"posts".as_ref()));
    assert_eq!(cors_headers(&headers), pairs(&[("vary", "origin")]));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn disallowed_origins_can_be_rejected_with_a_problem() {
    let (app, calls) = app(builder().reject_disallowed(true).build().unwrap());
    let (status, headers, body) =
        call(&app, with_origin(Method::GET, "https://evil-example.com")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#cors-origin-not-allowed","title":"Origin not allowed","status":403,"detail":"Requests from this origin are not allowed."}"#
    );
    assert!(headers.get("access-control-allow-origin").is_none());
    let (status, _, _) = call(&app, preflight("https://evil-example.com")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Same-origin and non-browser requests carry no Origin and are served.
    let (status, _, _) = call(&app, Request::get("/posts").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_plain_options_request_reaches_the_inner_service() {
    let (app, calls) = app(builder().build().unwrap());
    let (status, headers, body) = call(
        &app,
        with_origin(Method::OPTIONS, "https://frontend.example.com"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "options handled by the app");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://frontend.example.com"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_without_origin_get_vary_only() {
    let (app, _) = app(builder().build().unwrap());
    let (status, headers, _) =
        call(&app, Request::get("/posts").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cors_headers(&headers), pairs(&[("vary", "origin")]));
}

#[tokio::test]
async fn a_preflight_is_answered_before_an_auth_layer_that_would_reject() {
    // An AuthLayer-like inner service: everything without credentials is a 401.
    let auth_like = tower::service_fn(|req: Request<Body>| async move {
        let status = if req.headers().contains_key("authorization") {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        let mut res = http::Response::new(Body::empty());
        *res.status_mut() = status;
        Ok::<_, std::convert::Infallible>(res)
    });
    let app = Router::new()
        .route_service("/posts", auth_like)
        .layer(builder().build().unwrap());
    let (status, headers, _) = call(&app, preflight("https://frontend.example.com")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://frontend.example.com"
    );
    // The actual request without credentials is a 401 the page can read.
    let (status, headers, _) = call(
        &app,
        with_origin(Method::POST, "https://frontend.example.com"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://frontend.example.com"
    );
}

#[tokio::test]
async fn private_network_access_is_answered_only_when_asked_and_enabled() {
    let pna = |enabled: bool, asked: bool| async move {
        let (app, _) = app(builder().allow_private_network(enabled).build().unwrap());
        let mut req = preflight("https://frontend.example.com");
        if asked {
            req.headers_mut().insert(
                "access-control-request-private-network",
                http::HeaderValue::from_static("true"),
            );
        }
        let (_, headers, _) = call(&app, req).await;
        headers
            .get("access-control-allow-private-network")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(pna(true, true).await.as_deref(), Some("true"));
    assert_eq!(pna(false, true).await, None);
    assert_eq!(pna(true, false).await, None);
}

#[tokio::test]
async fn stacked_layers_never_duplicate_vary_and_the_outer_one_decides() {
    let inner = CorsLayer::builder()
        .allow_origin("https://a.example.com")
        .allow_origin("https://b.example.com")
        .build()
        .unwrap();
    let outer = CorsLayer::builder()
        .allow_origin("https://a.example.com")
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/posts",
            get(|| async { ([("vary", "Accept-Encoding")], "posts") }),
        )
        .layer(inner)
        .layer(outer);
    let (_, headers, _) = call(&app, with_origin(Method::GET, "https://a.example.com")).await;
    assert_eq!(
        headers.get_all("vary").iter().collect::<Vec<_>>(),
        ["Accept-Encoding, origin"]
    );
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://a.example.com"
    );
    assert_eq!(
        headers
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
    // The inner layer allows b, the outer does not: no CORS header survives.
    let (_, headers, _) = call(&app, with_origin(Method::GET, "https://b.example.com")).await;
    assert_eq!(
        cors_headers(&headers),
        pairs(&[("vary", "Accept-Encoding, origin")])
    );
}

#[tokio::test]
async fn predicates_sync_and_async_decide_unlisted_origins() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let cors = CorsLayer::builder()
        .allow_origin("https://listed.example.com")
        .allow_origin_predicate(|origin| origin.ends_with(".trusted.test"))
        .allow_origin_async(move |origin: String| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                origin == "https://tenant-42.customers.test"
            }
        })
        .allow_credentials(true)
        .build()
        .unwrap();
    let (app, calls) = app(cors);
    let origin_of = |headers: &HeaderMap| {
        headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (_, h, _) = call(&app, with_origin(Method::GET, "https://listed.example.com")).await;
    assert_eq!(origin_of(&h).as_deref(), Some("https://listed.example.com"));
    let (_, h, _) = call(&app, with_origin(Method::GET, "https://x.trusted.test")).await;
    assert_eq!(origin_of(&h).as_deref(), Some("https://x.trusted.test"));
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "lists and sync predicate answer first"
    );
    let (status, h, _) = call(
        &app,
        with_origin(Method::GET, "https://tenant-42.customers.test"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        origin_of(&h).as_deref(),
        Some("https://tenant-42.customers.test")
    );
    let (status, h, _) = call(
        &app,
        with_origin(Method::GET, "https://tenant-43.customers.test"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(origin_of(&h), None);
    let (status, h, _) = call(&app, preflight("https://tenant-42.customers.test")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        origin_of(&h).as_deref(),
        Some("https://tenant-42.customers.test")
    );
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn permissive_allows_everything_without_credentials() {
    let (app, _) = app(CorsLayer::permissive());
    let (_, headers, _) = call(&app, preflight("https://anything.test")).await;
    assert_eq!(
        cors_headers(&headers),
        pairs(&[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-methods", "*"),
            // Mirrored: `*` would not cover Authorization.
            (
                "access-control-allow-headers",
                "authorization, content-type"
            ),
            (
                "vary",
                "origin, access-control-request-method, access-control-request-headers"
            ),
        ])
    );
    let (_, headers, _) = call(&app, with_origin(Method::GET, "https://anything.test")).await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-expose-headers"], "*");
    assert!(headers.get("access-control-allow-credentials").is_none());
    // Same answer for everyone, so even requests without Origin carry it (and no Vary).
    let (_, headers, _) = call(&app, Request::get("/posts").body(Body::empty()).unwrap()).await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers.get("vary").is_none());
}

#[tokio::test]
async fn the_403_varies_by_origin_and_same_origin_requests_pass() {
    let (app, calls) = app(builder().reject_disallowed(true).build().unwrap());
    let (status, headers, _) =
        call(&app, with_origin(Method::POST, "https://evil-example.com")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The answer depends on `Sec-Fetch-Site` too (the API's own pages pass).
    assert_eq!(headers["vary"], "origin, sec-fetch-site");
    let (status, headers, _) = call(&app, preflight("https://evil-example.com")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["vary"],
        "origin, access-control-request-method, access-control-request-headers"
    );
    // The API's own page POSTs with its own Origin; the browser marks it same-origin.
    let mut same_origin = with_origin(Method::POST, "https://api.internal.test");
    same_origin.headers_mut().insert(
        "sec-fetch-site",
        http::HeaderValue::from_static("same-origin"),
    );
    let (status, headers, _) = call(&app, same_origin).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("access-control-allow-origin").is_none());
    assert_eq!(headers["vary"], "origin, sec-fetch-site");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A browser without Fetch Metadata: its `Origin` is the request's own host, as the CSRF
    // layer tells them apart (the default port written or not).
    for host in ["api.internal.test", "api.internal.test:443"] {
        let mut own = with_origin(Method::POST, "https://api.internal.test");
        own.headers_mut()
            .insert("host", http::HeaderValue::from_str(host).unwrap());
        let (status, headers, _) = call(&app, own).await;
        assert_eq!(status, StatusCode::CREATED, "{host}");
        assert!(headers.get("access-control-allow-origin").is_none());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Another host, or a cross-site `Sec-Fetch-Site` beside its own `Origin`: refused.
    let mut other = with_origin(Method::POST, "https://api.internal.test");
    other.headers_mut().insert(
        "host",
        http::HeaderValue::from_static("api.internal.test:8443"),
    );
    assert_eq!(call(&app, other).await.0, StatusCode::FORBIDDEN);
    let mut cross = with_origin(Method::POST, "https://api.internal.test");
    cross
        .headers_mut()
        .insert("host", http::HeaderValue::from_static("api.internal.test"));
    cross.headers_mut().insert(
        "sec-fetch-site",
        http::HeaderValue::from_static("cross-site"),
    );
    assert_eq!(call(&app, cross).await.0, StatusCode::FORBIDDEN);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_outer_layer_removes_what_an_inner_one_granted() {
    let inner = CorsLayer::builder()
        .allow_origin("https://a.example.com")
        .allow_credentials(true)
        .expose_headers(["x-secret"])
        .build()
        .unwrap();
    let outer = CorsLayer::builder()
        .allow_origin("https://a.example.com")
        .expose_headers(Vec::<String>::new())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .layer(inner)
        .layer(outer);
    let (_, headers, _) = call(&app, with_origin(Method::GET, "https://a.example.com")).await;
    assert_eq!(
        cors_headers(&headers),
        pairs(&[
            ("access-control-allow-origin", "https://a.example.com"),
            ("vary", "origin"),
        ])
    );
}

#[tokio::test]
async fn private_network_preflights_vary_on_their_request_header() {
    let (app, _) = app(builder().allow_private_network(true).build().unwrap());
    let (_, headers, _) = call(&app, preflight("https://frontend.example.com")).await;
    assert_eq!(
        headers["vary"],
        "origin, access-control-request-method, access-control-request-headers, \
         access-control-request-private-network"
    );
}

/// A service that answers 500 when called without `poll_ready` on the same instance, as tower
/// requires; clones start not ready.
struct Strict {
    ready: bool,
}

impl Clone for Strict {
    fn clone(&self) -> Self {
        Self { ready: false }
    }
}

impl tower::Service<Request<Body>> for Strict {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.ready = true;
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        let mut res = http::Response::new(Body::empty());
        if !std::mem::take(&mut self.ready) {
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        std::future::ready(Ok(res))
    }
}

#[tokio::test]
async fn after_an_async_predicate_the_service_polled_ready_is_the_one_called() {
    use tower::{Layer, Service, ServiceExt};
    let cors = CorsLayer::builder()
        .allow_origin_async(|origin: String| async move {
            tokio::task::yield_now().await;
            origin == "https://tenant.customers.test"
        })
        .build()
        .unwrap();
    let mut svc = cors.layer(Strict { ready: false });
    for origin in [
        "https://tenant.customers.test",
        "https://other.customers.test",
    ] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(with_origin(Method::GET, origin))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{origin}");
    }
}

/// Issue 12, finding 6: an entry written in another form than a browser's is stored as the
/// browser serializes it, so the `Origin` a browser really sends (here what Node's WHATWG
/// `new URL(entry).origin` gives for each entry) gets its CORS headers, on a preflight and on the
/// actual request.
#[tokio::test]
async fn entries_are_matched_in_the_form_browsers_send() {
    let cors = CorsLayer::builder()
        .allow_origin("http://[::ffff:127.127.127.127]:90")
        .allow_origin("HTTP://Frontend.EXAMPLE.com:80")
        .allow_origin("http://[0:0::1]:5173")
        .allow_origin("https://XN--BCHER-KVA.example:443")
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["authorization", "content-type"])
        .build()
        .unwrap();
    let (app, _) = app(cors);
    for browser_sends in [
        "http://[::ffff:7f7f:7f7f]:90",
        "http://frontend.example.com",
        "http://[::1]:5173",
        "https://xn--bcher-kva.example",
    ] {
        let (status, headers, _) = call(&app, preflight(browser_sends)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{browser_sends}");
        assert_eq!(
            headers["access-control-allow-origin"], browser_sends,
            "preflight from {browser_sends}"
        );
        let (status, headers, body) = call(&app, with_origin(Method::GET, browser_sends)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "posts");
        assert_eq!(
            headers["access-control-allow-origin"], browser_sends,
            "GET from {browser_sends}"
        );
    }
    // The form no browser sends is not what was stored.
    let (_, headers, _) = call(
        &app,
        with_origin(Method::GET, "http://[::ffff:127.127.127.127]:90"),
    )
    .await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

/// Issue 12, finding 6: the finding's entries, which no browser sends, refuse to build, each
/// with its typed error.
#[test]
fn entries_no_browser_sends_refuse_to_build() {
    let refused = |entry: &str| {
        CorsLayer::builder()
            .allow_origin(entry)
            .build()
            .unwrap_err()
    };
    assert_eq!(
        refused("file://example.com"),
        ConfigError::UnsupportedScheme {
            entry: "file://example.com".into(),
            scheme: "file".into()
        }
    );
    assert_eq!(
        refused("http://foo.bar.255"),
        ConfigError::NotAnIpv4Address {
            entry: "http://foo.bar.255".into()
        }
    );
    assert_eq!(
        refused("http://127.0.0.1."),
        ConfigError::TrailingDot {
            entry: "http://127.0.0.1.".into()
        }
    );
    assert_eq!(
        refused("http://0x7f.1"),
        ConfigError::Ipv4NotDottedDecimal {
            entry: "http://0x7f.1".into(),
            browser_form: "http://127.0.0.1".into()
        }
    );
    let err = refused("http://xn--f");
    assert!(
        matches!(&err, ConfigError::InvalidPunycode { entry, label, .. } if entry == "http://xn--f" && label == "xn--f"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "CORS: the label \"xn--f\" of \"http://xn--f\" is refused: it is not valid punycode (RFC 3492)"
    );
}
