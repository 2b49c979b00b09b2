//! `CorsLayer` probed with cases ported from other CORS libraries' test tables and the Fetch
//! standard's CORS protocol (<https://fetch.spec.whatwg.org/#http-cors-protocol>):
//!
//! - `jub0bs/cors` (`middleware_test.go`'s "credentialed", "anonymous" and "any origin" tables,
//!   `internal/origins`' pattern cases, `config_test.go`'s refused configurations);
//! - `tower-http`'s `cors/tests.rs` and `allow_private_network.rs` (`Vary` of the permissive
//!   policy, Private Network Access only when asked);
//! - the Fetch standard itself: what makes a preflight, the byte-exact method comparison, `*`
//!   taken literally with credentials, the preflight's ok status and empty body.
//!
//! Every case goes through the public API: a built layer around a `tower::service_fn` that
//! counts its calls; each table asserts the exact status, whether the handler ran, and the exact
//! set of `Access-Control-*` and `Vary` headers. Where this crate answers differently from a
//! reference but the browser's outcome is the same (this crate answers preflights with its
//! static lists and lets the browser compare them; `jub0bs/cors` checks the method and headers
//! itself and answers `403`), the case says so.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt, service_fn};
use tower_shield::CorsLayer;
use tower_shield::cors::{ConfigError, CorsBuilder};

/// One request and what must come back.
struct Probe {
    name: &'static str,
    method: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// The status: the handler's `200`, a preflight's `204`, a refusal's `403`.
    status: u16,
    /// Whether the inner service ran.
    handler: bool,
    /// Exactly the `access-control-*` and `vary` headers of the response (repeated ones joined
    /// with `, `).
    cors: &'static [(&'static str, &'static str)],
}

/// The CORS headers of `headers`, sorted, repeated ones joined.
fn cors_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut names: Vec<&str> = headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|n| n.starts_with("access-control-") || *n == "vary")
        .collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| {
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.to_owned(), values.join(", "))
        })
        .collect()
}

/// Sends every probe through `layer` around a handler that answers `200 handler`; returns the
/// failures (all of them, so one run shows the whole table).
async fn run(layer: &CorsLayer, probes: &[Probe]) -> Vec<String> {
    let mut failures = Vec::new();
    for probe in probes {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let svc = layer.layer(service_fn(move |_: Request<Body>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Body::from("handler"))) }
        }));
        let mut req = Request::builder()
            .method(Method::from_bytes(probe.method.as_bytes()).expect("method"))
            .uri("/resource");
        for (name, value) in probe.headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Body::empty()).expect("request");
        let res = match svc.oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        let ran = calls.load(Ordering::SeqCst) == 1;
        let got = cors_headers(&parts.headers);
        let mut want: Vec<(String, String)> = probe
            .cors
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        want.sort();
        let mut problems = Vec::new();
        if parts.status.as_u16() != probe.status {
            problems.push(format!("status {} (want {})", parts.status, probe.status));
        }
        if ran != probe.handler {
            problems.push(format!("handler ran: {ran} (want {})", probe.handler));
        }
        if got != want {
            problems.push(format!("headers {got:?}\n      want {want:?}"));
        }
        if probe.handler && body != "handler" {
            problems.push(format!("body {body:?} (want the handler's)"));
        }
        if parts.status == StatusCode::NO_CONTENT {
            if !body.is_empty() {
                problems.push(format!("a 204 with a body: {body:?}"));
            }
            if parts.headers.contains_key(http::header::CONTENT_TYPE) {
                problems.push("a 204 with a content-type".to_owned());
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}:\n    {}", probe.name, problems.join("\n    ")));
        }
    }
    failures
}

fn assert_all(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} probe(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const O: &str = "origin";
const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";
const ACRPN: &str = "access-control-request-private-network";
const ACAO: &str = "access-control-allow-origin";
const ACAC: &str = "access-control-allow-credentials";
const ACAM: &str = "access-control-allow-methods";
const ACAH: &str = "access-control-allow-headers";
const ACMA: &str = "access-control-max-age";
const ACEH: &str = "access-control-expose-headers";
const ACAPN: &str = "access-control-allow-private-network";
const VARY: &str = "vary";
const VARY_PREFLIGHT: &str =
    "origin, access-control-request-method, access-control-request-headers";

const LOCAL: &str = "http://localhost:9090";
/// The `Vary` of actual requests under `reject_disallowed`: its `403` depends on
/// `Sec-Fetch-Site` too (the API's own pages pass).
const VARY_REJECTING: &str = "origin, sec-fetch-site";

/// jub0bs/cors's "credentialed" configuration: one origin, credentials, `PURGE` and `HELP`
/// besides the safelisted methods, `Authorization`, max-age 30, two exposed headers.
fn credentialed() -> CorsLayer {
    CorsLayer::builder()
        .allow_origin(LOCAL)
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::from_bytes(b"PURGE").expect("method"),
            Method::from_bytes(b"HELP").expect("method"),
        ])
        .allow_headers(["Authorization"])
        .max_age(Duration::from_secs(30))
        .expose_headers(["X-Foo", "X-Bar"])
        .build()
        .expect("valid")
}

/// A granted preflight of the credentialed configuration.
const CREDENTIALED_PREFLIGHT: &[(&str, &str)] = &[
    (ACAO, LOCAL),
    (ACAC, "true"),
    (ACAM, "GET, POST, PURGE, HELP"),
    (ACAH, "authorization"),
    (ACMA, "30"),
    (VARY, VARY_PREFLIGHT),
];
/// A granted actual request of the credentialed configuration.
const CREDENTIALED_ACTUAL: &[(&str, &str)] = &[
    (ACAO, LOCAL),
    (ACAC, "true"),
    (ACEH, "x-foo, x-bar"),
    (VARY, "origin"),
];

#[tokio::test]
async fn jub0bs_credentialed_table() {
    let probes = [
        Probe {
            name: "non-CORS GET: Vary: Origin all the same (the answer depends on the origin)",
            method: "GET",
            headers: &[],
            status: 200,
            handler: true,
            cors: &[(VARY, "origin")],
        },
        Probe {
            // jub0bs's rows: every OPTIONS answer varies by the preflight headers too, so a
            // cache that stores OPTIONS answers never serves this one to a preflight.
            name: "non-CORS OPTIONS reaches the handler",
            method: "OPTIONS",
            headers: &[],
            status: 200,
            handler: true,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "OPTIONS with ACRM but no Origin is no preflight: the handler answers",
            method: "OPTIONS",
            headers: &[(ACRM, "PURGE")],
            status: 200,
            handler: true,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "actual GET from allowed",
            method: "GET",
            headers: &[(O, LOCAL)],
            status: 200,
            handler: true,
            cors: CREDENTIALED_ACTUAL,
        },
        Probe {
            name: "actual GET from disallowed",
            method: "GET",
            headers: &[(O, "https://example.com")],
            status: 200,
            handler: true,
            cors: &[(VARY, "origin")],
        },
        Probe {
            name: "actual GET from invalid origin",
            method: "GET",
            headers: &[(O, "invalid_origin")],
            status: 200,
            handler: true,
            cors: &[(VARY, "origin")],
        },
        Probe {
            name: "actual GET from null",
            method: "GET",
            headers: &[(O, "null")],
            status: 200,
            handler: true,
            cors: &[(VARY, "origin")],
        },
        Probe {
            name: "actual OPTIONS (no ACRM) from allowed reaches the handler, granted",
            method: "OPTIONS",
            headers: &[(O, LOCAL)],
            status: 200,
            handler: true,
            cors: &[
                (ACAO, LOCAL),
                (ACAC, "true"),
                (ACEH, "x-foo, x-bar"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
        Probe {
            name: "actual OPTIONS from disallowed reaches the handler",
            method: "OPTIONS",
            headers: &[(O, "https://example.com")],
            status: 200,
            handler: true,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "actual POST with ACRM (not OPTIONS) is no preflight",
            method: "POST",
            headers: &[(O, LOCAL), (ACRM, "PURGE")],
            status: 200,
            handler: true,
            cors: CREDENTIALED_ACTUAL,
        },
        Probe {
            name: "'fake' preflight with a safelisted method from allowed",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "GET")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            name: "preflight with PURGE from allowed",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PURGE")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            name: "preflight with PURGE and Authorization from allowed",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PURGE"), (ACRH, "authorization")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            // jub0bs: 403 (fails after the CORS check). Here: the static lists, which do not
            // name content-type, so the browser fails the preflight all the same.
            name: "preflight with PURGE and Content-Type from allowed",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PURGE"), (ACRH, "content-type")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            name: "preflight with ACRH of empty elements",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PURGE"), (ACRH, ",,authorization,,")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            // jub0bs refuses more than 16 empty elements (a DoS guard for its parser); this
            // crate never parses ACRH, so it costs nothing.
            name: "preflight with ACRH of 17 empty elements",
            method: "OPTIONS",
            headers: &[
                (O, LOCAL),
                (ACRM, "PURGE"),
                (ACRH, "authorization,,,,,,,,,,,,,,,,,"),
            ],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            name: "preflight with ACRH of OWS, uppercase and duplicates",
            method: "OPTIONS",
            headers: &[
                (O, LOCAL),
                (ACRM, "PURGE"),
                (ACRH, "Authorization \t,\tAUTHORIZATION , authorization"),
            ],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            // Never echoed: the static list goes back, and the browser finds `x(y)` missing.
            name: "preflight with an ACRH name of invalid characters",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PURGE"), (ACRH, "x(y), authorization")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            // jub0bs: 403. Here: PUT is not in the list, so the browser fails.
            name: "preflight with PUT from allowed",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PUT")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            // Methods are compared byte for byte (Fetch normalizes only DELETE, GET, HEAD,
            // OPTIONS, POST and PUT): `purge` is not `PURGE`, and the list says `PURGE`.
            name: "preflight with lowercase purge",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "purge")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            name: "preflight with an empty ACRM is still a preflight",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
        Probe {
            name: "preflight with PUT from disallowed",
            method: "OPTIONS",
            headers: &[(O, "https://example.com"), (ACRM, "PUT")],
            status: 204,
            handler: false,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "'fake' preflight from invalid origin",
            method: "OPTIONS",
            headers: &[(O, "invalid_origin"), (ACRM, "GET")],
            status: 204,
            handler: false,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "preflight with GET and headers from disallowed",
            method: "OPTIONS",
            headers: &[
                (O, "https://example.org"),
                (ACRM, "GET"),
                (ACRH, "bar,baz,foo"),
            ],
            status: 204,
            handler: false,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "preflight from null",
            method: "OPTIONS",
            headers: &[(O, "null"), (ACRM, "PURGE")],
            status: 204,
            handler: false,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "private network asked but not enabled: no ACAPN, no Vary on it",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PURGE"), (ACRPN, "true")],
            status: 204,
            handler: false,
            cors: CREDENTIALED_PREFLIGHT,
        },
    ];
    assert_all(run(&credentialed(), &probes).await);
}

#[tokio::test]
async fn request_origins_are_matched_only_in_a_form_a_browser_could_send() {
    let layer = credentialed();
    let granted = |name: &'static str, origin: &'static str| Probe {
        name,
        method: "GET",
        headers: Box::leak(Box::new([(O, origin)])),
        status: 200,
        handler: true,
        cors: Box::leak(Box::new([
            (ACAO, origin),
            (ACAC, "true"),
            (ACEH, "x-foo, x-bar"),
            (VARY, "origin"),
        ])),
    };
    let refused = |name: &'static str, origin: &'static str| Probe {
        name,
        method: "GET",
        headers: Box::leak(Box::new([(O, origin)])),
        status: 200,
        handler: true,
        cors: &[(VARY, "origin")],
    };
    let probes = [
        // Browsers send lowercase; another case is accepted and echoed as sent, which a
        // browser's byte-exact CORS check could only match if it had sent it.
        granted("uppercase scheme and host", "HTTP://LOCALHOST:9090"),
        refused("trailing slash", "http://localhost:9090/"),
        refused("path", "http://localhost:9090/x"),
        refused("other scheme", "https://localhost:9090"),
        refused("no port", "http://localhost"),
        refused("other port", "http://localhost:9091"),
        refused("empty port", "http://localhost:"),
        refused("port 0", "http://localhost:0"),
        refused("port past u16", "http://localhost:65626"),
        refused("non-numeric port", "http://localhost:90ab"),
        refused("userinfo", "http://user@localhost:9090"),
        refused("query", "http://localhost:9090?"),
        refused("fragment", "http://localhost:9090#"),
        refused("trailing dot", "http://localhost.:9090"),
        refused("prefix", "http://localhost:9090.evil.com"),
        refused("suffix match", "http://evil-localhost:9090"),
        refused("no scheme", "localhost:9090"),
        refused("scheme without slashes", "http:localhost:9090"),
        refused("leading space", " http://localhost:9090"),
        refused("two origins", "http://localhost:9090 http://localhost:9090"),
        refused(
            "list of origins",
            "http://localhost:9090, https://example.com",
        ),
        refused("wildcard", "*"),
        refused("empty", ""),
    ];
    assert_all(run(&layer, &probes).await);

    // The default port is removed from both sides.
    let https = CorsLayer::builder()
        .allow_origin("https://app.example.com")
        .build()
        .expect("valid");
    let probe = |name: &'static str, origin: &'static str, allowed: bool| Probe {
        name,
        method: "GET",
        headers: Box::leak(Box::new([(O, origin)])),
        status: 200,
        handler: true,
        cors: if allowed {
            Box::leak(Box::new([
                (ACAO, origin),
                (ACEH, tower_shield_default_expose()),
                (VARY, "origin"),
            ]))
        } else {
            &[(VARY, "origin")]
        },
    };
    let probes = [
        probe("as sent", "https://app.example.com", true),
        probe("default port written", "https://app.example.com:443", true),
        probe(
            "http's default port on https",
            "https://app.example.com:80",
            false,
        ),
        probe("http", "http://app.example.com", false),
    ];
    assert_all(run(&https, &probes).await);
}

fn tower_shield_default_expose() -> &'static str {
    Box::leak(
        tower_shield::cors::DEFAULT_EXPOSE_HEADERS
            .join(", ")
            .into_boxed_str(),
    )
}

#[tokio::test]
async fn subdomain_patterns_are_anchored() {
    // Documented: `https://*.example.com` matches any depth of subdomain, never the apex.
    let layer = CorsLayer::builder()
        .allow_origin("https://*.example.com")
        .expose_headers(["x-foo"])
        .build()
        .expect("valid");
    let cases: &[(&str, bool)] = &[
        ("https://a.example.com", true),
        ("https://a.b.example.com", true),
        ("https://A.Example.COM", true),
        ("https://a.example.com:443", true),
        ("https://xn--bcher-kva.example.com", true),
        ("https://a-b.example.com", true),
        ("https://0.example.com", true),
        // A browser sends an underscore as it is (WHATWG forbids no `_` in a host).
        ("https://a_b.example.com", true),
        ("https://example.com", false),
        ("https://.example.com", false),
        ("https://a..example.com", false),
        ("https://*.example.com", false),
        ("https://a.example.com.", false),
        ("https://evil.com/.example.com", false),
        ("https://evil.com?.example.com", false),
        ("https://evil.com#.example.com", false),
        ("https://evil.com\\.example.com", false),
        ("https://evil.com%2f.example.com", false),
        ("https://user@a.example.com", false),
        ("https://evil.com@a.example.com", false),
        ("https://a.example.com@evil.com", false),
        ("https://evilexample.com", false),
        ("https://evil-example.com", false),
        ("https://example.com.evil.com", false),
        ("https://a.example.com.evil.com", false),
        ("https://a.example.co", false),
        ("https://a.example.comm", false),
        ("http://a.example.com", false),
        ("https://a.example.com:8443", false),
        ("https://a.example.com/", false),
        ("https://a b.example.com", false),
    ];
    let probes: Vec<Probe> = cases
        .iter()
        .map(|&(origin, allowed)| Probe {
            name: origin,
            method: "GET",
            headers: Box::leak(Box::new([(O, origin)])),
            status: 200,
            handler: true,
            cors: if allowed {
                Box::leak(Box::new([
                    (ACAO, origin),
                    (ACEH, "x-foo"),
                    (VARY, "origin"),
                ]))
            } else {
                &[(VARY, "origin")]
            },
        })
        .collect();
    assert_all(run(&layer, &probes).await);
}

#[tokio::test]
async fn any_origin_table() {
    // jub0bs "any origin" / tower-http permissive: `*` answers everyone alike, so actual
    // responses carry it (and ACEH) even without Origin, and need no Vary.
    let layer = CorsLayer::builder()
        .allow_any_origin(true)
        .allow_methods([Method::GET, Method::PUT])
        .allow_headers(["*"])
        .expose_headers(["*"])
        .max_age(Duration::ZERO)
        .build()
        .expect("valid without credentials");
    let actual: &[(&str, &str)] = &[(ACAO, "*"), (ACEH, "*")];
    let preflight: &[(&str, &str)] = &[
        (ACAO, "*"),
        (ACAM, "GET, PUT"),
        (ACAH, "*"),
        (ACMA, "0"),
        (VARY, VARY_PREFLIGHT),
    ];
    let probes = [
        Probe {
            name: "non-CORS GET",
            method: "GET",
            headers: &[],
            status: 200,
            handler: true,
            cors: actual,
        },
        Probe {
            name: "actual GET",
            method: "GET",
            headers: &[(O, "https://example.com")],
            status: 200,
            handler: true,
            cors: actual,
        },
        Probe {
            name: "actual GET from null",
            method: "GET",
            headers: &[(O, "null")],
            status: 200,
            handler: true,
            cors: actual,
        },
        Probe {
            name: "actual GET from an invalid origin",
            method: "GET",
            headers: &[(O, "invalid_origin")],
            status: 200,
            handler: true,
            cors: actual,
        },
        Probe {
            name: "preflight",
            method: "OPTIONS",
            headers: &[(O, "https://example.com"), (ACRM, "PUT"), (ACRH, "x-foo")],
            status: 204,
            handler: false,
            cors: preflight,
        },
        Probe {
            // Under `*` too: a preflight to this URL is answered otherwise.
            name: "plain OPTIONS",
            method: "OPTIONS",
            headers: &[(O, "https://example.com")],
            status: 200,
            handler: true,
            cors: &[(ACAO, "*"), (ACEH, "*"), (VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "non-CORS OPTIONS",
            method: "OPTIONS",
            headers: &[],
            status: 200,
            handler: true,
            cors: &[(ACAO, "*"), (ACEH, "*"), (VARY, VARY_PREFLIGHT)],
        },
    ];
    assert_all(run(&layer, &probes).await);
}

#[tokio::test]
async fn permissive_mirrors_requested_headers_and_varies_on_them() {
    // tower-http: a policy that mirrors request headers varies on them.
    let probes = [
        Probe {
            name: "non-CORS GET carries `*` without Vary",
            method: "GET",
            headers: &[],
            status: 200,
            handler: true,
            cors: &[(ACAO, "*"), (ACEH, "*")],
        },
        Probe {
            name: "preflight mirrors ACRH, Authorization included",
            method: "OPTIONS",
            headers: &[
                (O, "https://example.com"),
                (ACRM, "DELETE"),
                (ACRH, "authorization,x-foo"),
            ],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "*"),
                (ACAM, "*"),
                (ACAH, "authorization,x-foo"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
        Probe {
            // rs/cors `MultipleACRHHeaders`: the list split over two lines is mirrored whole,
            // not only its first line (which would leave `authorization` unallowed).
            name: "preflight mirrors every ACRH line",
            method: "OPTIONS",
            headers: &[
                (O, "https://example.com"),
                (ACRM, "DELETE"),
                (ACRH, "x-foo"),
                (ACRH, "authorization"),
            ],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "*"),
                (ACAM, "*"),
                (ACAH, "x-foo, authorization"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
        Probe {
            // jub0bs/cors "some empty ACRH header lines": every line echoed, the empty ones
            // too (a browser skips empty list elements).
            name: "preflight mirrors empty ACRH lines before a name",
            method: "OPTIONS",
            headers: &[
                (O, "https://example.com"),
                (ACRM, "DELETE"),
                (ACRH, ""),
                (ACRH, ""),
                (ACRH, "authorization"),
            ],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "*"),
                (ACAM, "*"),
                (ACAH, ", , authorization"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
        Probe {
            name: "preflight without ACRH: `*`",
            method: "OPTIONS",
            headers: &[(O, "https://example.com"), (ACRM, "DELETE")],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "*"),
                (ACAM, "*"),
                (ACAH, "*"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
    ];
    assert_all(run(&CorsLayer::permissive(), &probes).await);
}

/// jub0bs/cors "credentialed all req headers" and tower-http's `AllowHeaders::mirror_request`
/// with credentials: mirroring the requested headers is allowed with credentials (unlike `*`,
/// which Fetch does not honour there), and covers `Authorization`.
#[tokio::test]
async fn mirrored_request_headers_with_credentials() {
    let layer = CorsLayer::builder()
        .allow_origin(LOCAL)
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::PUT])
        .mirror_request_headers(true)
        .build()
        .expect("mirroring is allowed with credentials");
    let probes = [
        Probe {
            name: "preflight mirrors ACRH with credentials",
            method: "OPTIONS",
            headers: &[
                (O, LOCAL),
                (ACRM, "PUT"),
                (ACRH, "authorization,bar,baz,foo"),
            ],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, LOCAL),
                (ACAC, "true"),
                (ACAM, "GET, PUT"),
                (ACAH, "authorization,bar,baz,foo"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
        Probe {
            name: "preflight without ACRH: no ACAH",
            method: "OPTIONS",
            headers: &[(O, LOCAL), (ACRM, "PUT")],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, LOCAL),
                (ACAC, "true"),
                (ACAM, "GET, PUT"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
    ];
    assert_all(run(&layer, &probes).await);
}

#[tokio::test]
async fn private_network_access_table() {
    let layer = CorsLayer::builder()
        .allow_origin("https://app.example.com")
        .allow_methods([Method::GET])
        .expose_headers(["x-foo"])
        .allow_private_network(true)
        .build()
        .expect("valid");
    const VARY_PNA: &str = "origin, access-control-request-method, \
                            access-control-request-headers, access-control-request-private-network";
    let probes = [
        Probe {
            name: "PNA preflight from allowed",
            method: "OPTIONS",
            headers: &[
                (O, "https://app.example.com"),
                (ACRM, "GET"),
                (ACRPN, "true"),
            ],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACAM, "GET"),
                (ACAPN, "true"),
                (VARY, VARY_PNA),
            ],
        },
        Probe {
            name: "preflight from allowed, PNA not asked",
            method: "OPTIONS",
            headers: &[(O, "https://app.example.com"), (ACRM, "GET")],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACAM, "GET"),
                (VARY, VARY_PNA),
            ],
        },
        Probe {
            name: "PNA asked with another value",
            method: "OPTIONS",
            headers: &[
                (O, "https://app.example.com"),
                (ACRM, "GET"),
                (ACRPN, "false"),
            ],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACAM, "GET"),
                (VARY, VARY_PNA),
            ],
        },
        Probe {
            name: "PNA preflight from disallowed",
            method: "OPTIONS",
            headers: &[(O, "https://evil.example"), (ACRM, "GET"), (ACRPN, "true")],
            status: 204,
            handler: false,
            cors: &[(VARY, VARY_PNA)],
        },
        Probe {
            name: "ACRPN on an actual request is ignored",
            method: "GET",
            headers: &[(O, "https://app.example.com"), (ACRPN, "true")],
            status: 200,
            handler: true,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACEH, "x-foo"),
                (VARY, "origin"),
            ],
        },
        Probe {
            name: "ACRPN without Origin is no preflight",
            method: "OPTIONS",
            headers: &[(ACRM, "GET"), (ACRPN, "true")],
            status: 200,
            handler: true,
            cors: &[(VARY, VARY_PNA)],
        },
    ];
    assert_all(run(&layer, &probes).await);
}

#[tokio::test]
async fn rejecting_disallowed_origins_table() {
    let layer = CorsLayer::builder()
        .allow_origin("https://app.example.com")
        .expose_headers(["x-foo"])
        .reject_disallowed(true)
        .build()
        .expect("valid");
    let probes = [
        Probe {
            name: "non-CORS GET is served",
            method: "GET",
            headers: &[],
            status: 200,
            handler: true,
            cors: &[(VARY, VARY_REJECTING)],
        },
        Probe {
            name: "preflight from disallowed: 403, varying as a preflight",
            method: "OPTIONS",
            headers: &[(O, "https://evil.example"), (ACRM, "GET")],
            status: 403,
            handler: false,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "actual GET from an invalid origin: 403",
            method: "GET",
            headers: &[(O, "invalid_origin")],
            status: 403,
            handler: false,
            cors: &[(VARY, VARY_REJECTING)],
        },
        Probe {
            name: "actual GET from null: 403",
            method: "GET",
            headers: &[(O, "null")],
            status: 403,
            handler: false,
            cors: &[(VARY, VARY_REJECTING)],
        },
        Probe {
            name: "plain OPTIONS from disallowed: 403",
            method: "OPTIONS",
            headers: &[(O, "https://evil.example")],
            status: 403,
            handler: false,
            cors: &[(VARY, VARY_PREFLIGHT)],
        },
        Probe {
            name: "allowed origin is served",
            method: "GET",
            headers: &[(O, "https://app.example.com")],
            status: 200,
            handler: true,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACEH, "x-foo"),
                (VARY, VARY_REJECTING),
            ],
        },
    ];
    assert_all(run(&layer, &probes).await);
}

#[tokio::test]
async fn max_age_is_whole_seconds_within_what_browsers_honour() {
    // Browsers cap Access-Control-Max-Age (Chromium 2 h, Firefox 24 h); Chromium falls back
    // to 5 s for a value it cannot parse as a 64-bit signed integer.
    let cases: &[(Duration, &str)] = &[
        (Duration::ZERO, "0"),
        (Duration::from_millis(999), "0"),
        (Duration::from_millis(1_500), "1"),
        (Duration::from_secs(7_200), "7200"),
        (Duration::from_secs(86_400), "86400"),
        (Duration::from_secs(86_401), "86400"),
        (Duration::from_secs(u64::MAX), "86400"),
        (Duration::MAX, "86400"),
    ];
    for &(max_age, want) in cases {
        let layer = CorsLayer::builder()
            .allow_origin("https://app.example.com")
            .max_age(max_age)
            .build()
            .expect("valid");
        let req = Request::options("/")
            .header(O, "https://app.example.com")
            .header(ACRM, "GET")
            .body(Body::empty())
            .expect("request");
        let svc = layer.layer(service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("handler")))
        }));
        let res = match svc.oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        assert_eq!(res.headers()[ACMA], want, "{max_age:?}");
    }
}

/// What the refusal of a configuration must be.
type Expected = fn(&ConfigError) -> bool;

#[test]
fn refused_configurations() {
    fn base() -> CorsBuilder {
        CorsLayer::builder().allow_origin("https://app.example.com")
    }
    let any_method = Method::from_bytes(b"*").expect("method");
    let cases: Vec<(&str, CorsBuilder, Expected)> = vec![
        (
            "any origin with credentials",
            CorsLayer::builder()
                .allow_any_origin(true)
                .allow_credentials(true),
            |e| matches!(e, ConfigError::AnyOriginWithCredentials),
        ),
        (
            "`*` request headers with credentials",
            base().allow_credentials(true).allow_headers(["*"]),
            |e| matches!(e, ConfigError::WildcardWithCredentials),
        ),
        (
            "`*` exposed headers with credentials",
            base().allow_credentials(true).expose_headers(["*"]),
            |e| matches!(e, ConfigError::WildcardWithCredentials),
        ),
        (
            "`*` method with credentials",
            base().allow_credentials(true).allow_methods([any_method]),
            |e| matches!(e, ConfigError::WildcardWithCredentials),
        ),
        (
            "reflecting predicate with credentials",
            CorsLayer::builder()
                .allow_origin_predicate(|_| true)
                .allow_credentials(true),
            |e| matches!(e, ConfigError::ReflectingPredicateWithCredentials),
        ),
        ("null", CorsLayer::builder().allow_origin("null"), |e| {
            matches!(e, ConfigError::NullOrigin)
        }),
        (
            "null, uppercase",
            CorsLayer::builder().allow_origin("NULL"),
            |e| matches!(e, ConfigError::NullOrigin),
        ),
        (
            "trailing slash",
            CorsLayer::builder().allow_origin("https://app.example.com/"),
            |e| matches!(e, ConfigError::InvalidOrigin { .. }),
        ),
        (
            "no scheme",
            CorsLayer::builder().allow_origin("app.example.com"),
            |e| matches!(e, ConfigError::InvalidOrigin { .. }),
        ),
        (
            "port past u16",
            CorsLayer::builder().allow_origin("https://app.example.com:65536"),
            |e| matches!(e, ConfigError::InvalidOrigin { .. }),
        ),
        (
            "pattern on a TLD",
            CorsLayer::builder().allow_origin("https://*.com"),
            |e| matches!(e, ConfigError::InvalidPattern { .. }),
        ),
        (
            "wildcard inside a label",
            CorsLayer::builder().allow_origin("https://*example.com"),
            |e| matches!(e, ConfigError::InvalidPattern { .. }),
        ),
        (
            "wildcard not left-most",
            CorsLayer::builder().allow_origin("https://a.*.example.com"),
            |e| {
                matches!(
                    e,
                    ConfigError::InvalidPattern { .. } | ConfigError::InvalidOrigin { .. }
                )
            },
        ),
        (
            "two wildcards",
            CorsLayer::builder().allow_origin("https://*.*.example.com"),
            |e| matches!(e, ConfigError::InvalidPattern { .. }),
        ),
        // `:*` alone is any port (a form rs/cors accepts too); a port and `:*` both
        // is no origin.
        (
            "a port and a wildcard port",
            CorsLayer::builder().allow_origin("https://app.example.com:8443:*"),
            |e| {
                matches!(
                    e,
                    ConfigError::InvalidPattern { .. } | ConfigError::InvalidOrigin { .. }
                )
            },
        ),
        (
            "a request header name of invalid characters",
            base().allow_headers(["x(y)"]),
            |e| matches!(e, ConfigError::InvalidHeaderName(_)),
        ),
        (
            "a request header name with a space",
            base().allow_headers(["x y"]),
            |e| matches!(e, ConfigError::InvalidHeaderName(_)),
        ),
        (
            "an empty exposed header name",
            base().expose_headers([""]),
            |e| matches!(e, ConfigError::InvalidHeaderName(_)),
        ),
        ("no method", base().allow_methods([]), |e| {
            matches!(e, ConfigError::NoMethod)
        }),
        ("no origin", CorsLayer::builder(), |e| {
            matches!(e, ConfigError::NoOrigin)
        }),
    ];
    let mut failures = Vec::new();
    for (name, builder, expected) in cases {
        match builder.build() {
            Ok(_) => failures.push(format!("{name}: built")),
            Err(e) if !expected(&e) => failures.push(format!("{name}: {e:?}")),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn header_lists_are_canonical_and_deduplicated() {
    // jub0bs lowercases and deduplicates configured names; so does this crate (in the order
    // given, where jub0bs sorts).
    let layer = CorsLayer::builder()
        .allow_origin("https://app.example.com")
        .allow_headers(["X-Foo", "x-foo", "Authorization", "X-FOO"])
        .expose_headers(["X-Bar", "x-bar"])
        .build()
        .expect("valid");
    let probes = [
        Probe {
            name: "preflight",
            method: "OPTIONS",
            headers: &[(O, "https://app.example.com"), (ACRM, "GET")],
            status: 204,
            handler: false,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACAM, "GET, HEAD, POST"),
                (ACAH, "x-foo, authorization"),
                (VARY, VARY_PREFLIGHT),
            ],
        },
        Probe {
            name: "actual",
            method: "GET",
            headers: &[(O, "https://app.example.com")],
            status: 200,
            handler: true,
            cors: &[
                (ACAO, "https://app.example.com"),
                (ACEH, "x-bar"),
                (VARY, "origin"),
            ],
        },
    ];
    assert_all(run(&layer, &probes).await);
}
