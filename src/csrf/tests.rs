use http::{HeaderValue, Method, Request, StatusCode};
use tower::ServiceExt;

use super::*;
use crate::problem::Problem;

use CrossOriginReason::{OriginNotHost, SecFetchSite, SeveralOrigins};

/// A request as Go's tests make them (`httptest.NewRequest(method, "https://example.com/...")`
/// with the URL's scheme and host cleared): origin-form target, `Host: example.com`.
fn request(method: &str, path: &str, site: Option<&str>, origin: Option<&str>) -> Request<()> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "example.com");
    if let Some(site) = site {
        req = req.header("sec-fetch-site", site);
    }
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.body(()).unwrap()
}

/// Name, method, `Sec-Fetch-Site`, `Origin` (empty: none), decision.
type GoRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Result<(), CrossOriginReason>,
);

// Go 1.25, net/http/csrf_test.go: TestCrossOriginProtectionSecFetchSite.
#[test]
fn go_sec_fetch_site_table() {
    let layer = CsrfLayer::new();
    let cases: &[GoRow] = &[
        ("same-origin allowed", "POST", "same-origin", "", Ok(())),
        ("none allowed", "POST", "none", "", Ok(())),
        (
            "cross-site blocked",
            "POST",
            "cross-site",
            "",
            Err(SecFetchSite),
        ),
        (
            "same-site blocked",
            "POST",
            "same-site",
            "",
            Err(SecFetchSite),
        ),
        ("no header with no origin", "POST", "", "", Ok(())),
        (
            "no header with matching origin",
            "POST",
            "",
            "https://example.com",
            Ok(()),
        ),
        (
            "no header with mismatched origin",
            "POST",
            "",
            "https://attacker.example",
            Err(OriginNotHost),
        ),
        (
            "no header with null origin",
            "POST",
            "",
            "null",
            Err(OriginNotHost),
        ),
        ("GET allowed", "GET", "cross-site", "", Ok(())),
        ("HEAD allowed", "HEAD", "cross-site", "", Ok(())),
        ("OPTIONS allowed", "OPTIONS", "cross-site", "", Ok(())),
        ("PUT blocked", "PUT", "cross-site", "", Err(SecFetchSite)),
    ];
    for (name, method, site, origin, expected) in cases {
        let some = |s: &'static str| (!s.is_empty()).then_some(s);
        let req = request(method, "/", some(site), some(origin));
        assert_eq!(layer.check(&req), *expected, "{name}");
    }
}

// Go 1.25: TestCrossOriginProtectionTrustedOriginBypass.
#[test]
fn go_trusted_origin_table() {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("https://trusted.example")
        .build()
        .unwrap();
    let cases = [
        (
            "trusted origin without sec-fetch-site",
            "https://trusted.example",
            None,
            Ok(()),
        ),
        (
            "trusted origin with cross-site",
            "https://trusted.example",
            Some("cross-site"),
            Ok(()),
        ),
        (
            "untrusted origin without sec-fetch-site",
            "https://attacker.example",
            None,
            Err(OriginNotHost),
        ),
        (
            "untrusted origin with cross-site",
            "https://attacker.example",
            Some("cross-site"),
            Err(SecFetchSite),
        ),
    ];
    for (name, origin, site, expected) in cases {
        let req = request("POST", "/", site, Some(origin));
        assert_eq!(layer.check(&req), expected, "{name}");
    }
}

// Go: TestCrossOriginProtectionPatternBypass, with `/bypass/*` for Go's `/bypass/` and
// `/only/123` for its `/only/{foo}` (a wildcard this layer refuses at build). Since Go 1.25.1
// (go.dev/issue/75054) Go too refuses a path its mux would only redirect to a bypass pattern
// (after cleaning `..`, or adding a trailing slash): the same answers as this layer, which never
// lets a bypass cover a path that could be normalized into another.
#[test]
fn go_bypass_pattern_table() {
    let layer = CsrfLayer::builder()
        .bypass_path("/bypass/*")
        .bypass_path("/only/123")
        .build()
        .unwrap();
    let cases = [
        (
            "bypass path without sec-fetch-site",
            "/bypass/",
            None,
            Ok(()),
        ),
        (
            "bypass path with cross-site",
            "/bypass/",
            Some("cross-site"),
            Ok(()),
        ),
        (
            "non-bypass path without sec-fetch-site",
            "/api/",
            None,
            Err(OriginNotHost),
        ),
        (
            "non-bypass path with cross-site",
            "/api/",
            Some("cross-site"),
            Err(SecFetchSite),
        ),
        (
            "redirect to bypass path without ..",
            "/foo/../bypass/bar",
            None,
            Err(OriginNotHost),
        ),
        (
            "redirect to bypass path with trailing slash",
            "/bypass",
            None,
            Err(OriginNotHost),
        ),
        (
            "non-bypass path reached with ..",
            "/foo/../api/bar",
            None,
            Err(OriginNotHost),
        ),
        (
            "non-bypass path without trailing slash",
            "/api",
            None,
            Err(OriginNotHost),
        ),
        ("exact bypass", "/only/123", None, Ok(())),
        (
            "below an exact bypass",
            "/only/123/foo",
            None,
            Err(OriginNotHost),
        ),
    ];
    for (name, path, site, expected) in cases {
        let req = request("POST", path, site, Some("https://attacker.example"));
        assert_eq!(layer.check(&req), expected, "{name}");
    }
}

// Go 1.25.1's rows on trailing slashes (`/no-trailing`, `/yes-trailing/`) and on patterns for
// one method (`POST /post-only/`, `PUT /put-only/`): a pattern for a method bypasses only that
// method's requests; the others get the full check.
#[test]
fn go_trailing_slash_and_method_pattern_table() {
    let layer = CsrfLayer::builder()
        .bypass_path("/no-trailing")
        .bypass_path("/yes-trailing/")
        .bypass_path("POST /post-only/*")
        .bypass_path("PUT /put-only/*")
        .build()
        .unwrap();
    let cases = [
        ("no trailing slash", "POST", "/no-trailing", Ok(())),
        (
            "no trailing slash, one added",
            "POST",
            "/no-trailing/",
            Err(SecFetchSite),
        ),
        ("trailing slash", "POST", "/yes-trailing/", Ok(())),
        (
            "trailing slash, removed",
            "POST",
            "/yes-trailing",
            Err(SecFetchSite),
        ),
        ("method-specific hit", "POST", "/post-only/", Ok(())),
        ("method-specific hit below", "POST", "/post-only/x", Ok(())),
        (
            "method-specific miss (PUT)",
            "PUT",
            "/post-only/",
            Err(SecFetchSite),
        ),
        ("PUT pattern hit", "PUT", "/put-only/", Ok(())),
        (
            "PUT pattern miss (POST)",
            "POST",
            "/put-only/",
            Err(SecFetchSite),
        ),
        (
            "methods are case-sensitive",
            "post",
            "/post-only/",
            Err(SecFetchSite),
        ),
    ];
    for (name, method, path, expected) in cases {
        let req = request(
            method,
            path,
            Some("cross-site"),
            Some("https://attacker.example"),
        );
        assert_eq!(layer.check(&req), expected, "{name}");
    }
}

// Go 1.25: TestCrossOriginProtectionAddTrustedOriginErrors.
#[test]
fn go_trusted_origin_errors_table() {
    let cases = [
        ("valid origin", "https://example.com", true),
        ("valid origin with port", "https://example.com:8080", true),
        ("http origin", "http://example.com", true),
        ("missing scheme", "example.com", false),
        ("missing host", "https://", false),
        ("trailing slash", "https://example.com/", false),
        ("with path", "https://example.com/path", false),
        ("with query", "https://example.com?query=value", false),
        ("with fragment", "https://example.com#fragment", false),
        ("invalid url", "https://ex ample.com", false),
        ("empty string", "", false),
        ("null", "null", false),
        // Go requires a scheme and a host, whatever the scheme.
        ("custom scheme", "capacitor://localhost", true),
        ("custom scheme with port", "tauri://localhost:1430", true),
    ];
    for (name, origin, ok) in cases {
        let built = CsrfLayer::builder().add_trusted_origin(origin).build();
        match built {
            Ok(_) => assert!(ok, "{name}: built"),
            Err(ConfigError::InvalidTrustedOrigin { origin: o, .. }) => {
                assert!(!ok, "{name}: refused");
                assert_eq!(o, origin, "{name}");
            }
            Err(other) => panic!("{name}: {other}"),
        }
    }
}

// Go 1.25: TestCrossOriginProtectionServer, through the service.
#[tokio::test]
async fn go_server_table() {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("https://trusted.example")
        .bypass_path("/bypass/*")
        .build()
        .unwrap();
    let cases = [
        (
            "cross-site",
            "/",
            Some("https://attacker.example"),
            Some("cross-site"),
            StatusCode::FORBIDDEN,
        ),
        (
            "same-origin",
            "/",
            None,
            Some("same-origin"),
            StatusCode::OK,
        ),
        (
            "origin matches host",
            "/",
            Some("http://example.com"),
            None,
            StatusCode::OK,
        ),
        (
            "trusted origin",
            "/",
            Some("https://trusted.example"),
            None,
            StatusCode::OK,
        ),
        (
            "untrusted origin",
            "/",
            Some("https://attacker.example"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            "bypass path",
            "/bypass/",
            Some("https://attacker.example"),
            None,
            StatusCode::OK,
        ),
    ];
    for (name, path, origin, site, status) in cases {
        let svc = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
            });
        let res = svc
            .oneshot(request("POST", path, site, origin))
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{name}");
    }
}

// tower-http 0.7's test_middleware_origin_host_port_match, for the Origin/Host comparison.
#[test]
fn origin_against_the_requests_own_host() {
    let layer = CsrfLayer::new();
    let cases: &[(&str, &str, Option<&str>, &str, bool)] = &[
        (
            "default port both sides",
            "/",
            Some("example.com"),
            "https://example.com",
            true,
        ),
        (
            "same non-default port",
            "/",
            Some("example.com:8443"),
            "https://example.com:8443",
            true,
        ),
        (
            "explicit default port both sides",
            "/",
            Some("example.com:443"),
            "https://example.com:443",
            true,
        ),
        (
            "mismatched ports",
            "/",
            Some("example.com:8443"),
            "https://example.com:8444",
            false,
        ),
        (
            "origin explicit default, host implicit",
            "/",
            Some("example.com"),
            "https://example.com:443",
            true,
        ),
        (
            "host explicit default, origin implicit",
            "/",
            Some("example.com:443"),
            "https://example.com",
            true,
        ),
        // Not in tower-http's table: the default port is the origin scheme's.
        (
            "host with http's default port, https origin",
            "/",
            Some("example.com:80"),
            "https://example.com",
            false,
        ),
        (
            "host with https's default port, http origin",
            "/",
            Some("example.com:443"),
            "http://example.com",
            false,
        ),
        (
            "http default port written on the host",
            "/",
            Some("EXAMPLE.com:80"),
            "http://example.COM",
            true,
        ),
        (
            "a port that only begins like the default",
            "/",
            Some("example.com:4430"),
            "https://example.com",
            false,
        ),
        (
            "malformed host",
            "/path",
            Some("not a valid authority"),
            "https://example.com",
            false,
        ),
        (
            "authority wins over Host (match)",
            "https://example.com/path",
            Some("other.example"),
            "https://example.com",
            true,
        ),
        (
            "Origin matching Host but not the authority",
            "https://example.com/path",
            Some("other.example"),
            "https://other.example",
            false,
        ),
        (
            "no Host, authority matches",
            "https://example.com/path",
            None,
            "https://example.com",
            true,
        ),
        (
            "no Host, authority differs",
            "https://other.example/path",
            None,
            "https://example.com",
            false,
        ),
        (
            "no Host and no authority",
            "/path",
            None,
            "https://example.com",
            false,
        ),
        (
            "scheme-less origin",
            "/",
            Some("example.com:8443"),
            "example.com:8443",
            false,
        ),
        (
            "non-http scheme",
            "/",
            Some("example.com:8443"),
            "ftp://example.com:8443",
            false,
        ),
        (
            "host letters compared without case",
            "/",
            Some("Example.COM"),
            "https://example.com",
            true,
        ),
        (
            "a path after the host",
            "/",
            Some("example.com"),
            "https://example.com/",
            false,
        ),
    ];
    for (name, uri, host, origin, passes) in cases {
        let mut req = Request::post(*uri);
        if let Some(host) = host {
            req = req.header("host", *host);
        }
        let req = req.header("origin", *origin).body(()).unwrap();
        let expected = if *passes { Ok(()) } else { Err(OriginNotHost) };
        assert_eq!(layer.check(&req), expected, "{name}");
    }
}

#[test]
fn unknown_empty_and_repeated_sec_fetch_site_values() {
    let layer = CsrfLayer::new();
    for site in [
        "cross-origin",
        "Same-Origin",
        "SAME-ORIGIN",
        "same-origin ",
        "*",
        "same-origin, none",
    ] {
        let req = request("POST", "/", Some(site), None);
        assert_eq!(layer.check(&req), Err(SecFetchSite), "{site:?}");
    }
    let bytes = Request::post("/")
        .header(
            "sec-fetch-site",
            HeaderValue::from_bytes(&[0xff, 0xfe]).unwrap(),
        )
        .body(())
        .unwrap();
    assert_eq!(layer.check(&bytes), Err(SecFetchSite));
    // An empty value is no value, as in Go.
    assert_eq!(layer.check(&request("POST", "/", Some(""), None)), Ok(()));
    // Two values, even both "same-origin": no browser sends that.
    let twice = Request::post("/")
        .header("sec-fetch-site", "same-origin")
        .header("sec-fetch-site", "same-origin")
        .body(())
        .unwrap();
    assert_eq!(layer.check(&twice), Err(SecFetchSite));
}

#[test]
fn several_origin_headers_are_refused_whatever_else_is_there() {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("https://trusted.example")
        .bypass_path("/hooks/*")
        .build()
        .unwrap();
    let twice = |path: &str, site: Option<&str>, origins: [&str; 2]| {
        let mut req = Request::post(path).header("host", "example.com");
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req.header("origin", origins[0])
            .header("origin", origins[1])
            .body(())
            .unwrap()
    };
    let same = ["https://example.com", "https://example.com"];
    let trusted = ["https://trusted.example", "https://trusted.example"];
    assert_eq!(layer.check(&twice("/", None, same)), Err(SeveralOrigins));
    assert_eq!(
        layer.check(&twice("/", Some("same-origin"), same)),
        Err(SeveralOrigins)
    );
    assert_eq!(
        layer.check(&twice("/", Some("cross-site"), trusted)),
        Err(SeveralOrigins)
    );
    // A bypassed path is not checked at all; safe methods neither.
    assert_eq!(layer.check(&twice("/hooks/a", None, same)), Ok(()));
    let mut get = twice("/", None, same);
    *get.method_mut() = Method::GET;
    assert_eq!(layer.check(&get), Ok(()));
}

#[test]
fn other_unsafe_methods_are_checked_trace_too() {
    let layer = CsrfLayer::new();
    for method in [
        "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND",
    ] {
        let req = request(method, "/", Some("cross-site"), None);
        assert_eq!(layer.check(&req), Err(SecFetchSite), "{method}");
    }
}

#[test]
fn trusted_origins_are_compared_as_browsers_serialize_them() {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("HTTPS://Admin.Example.com:443")
        .add_trusted_origin(" http://[0:0:0:0:0:0:0:1]:8080 ")
        .build()
        .unwrap();
    let passes =
        |origin: &str| layer.check(&request("POST", "/", Some("cross-site"), Some(origin)));
    assert_eq!(passes("https://admin.example.com"), Ok(()));
    assert_eq!(passes("https://admin.example.com:443"), Ok(()));
    assert_eq!(passes("http://[::1]:8080"), Ok(()));
    assert_eq!(passes("http://admin.example.com"), Err(SecFetchSite));
    assert_eq!(passes("https://admin.example.com:8443"), Err(SecFetchSite));
    assert_eq!(passes("https://evil.admin.example.com"), Err(SecFetchSite));
    assert_eq!(
        passes("https://admin.example.com.evil.com"),
        Err(SecFetchSite)
    );
    assert_eq!(passes("null"), Err(SecFetchSite));
    let bad = Request::post("/")
        .header("sec-fetch-site", "cross-site")
        .header("origin", HeaderValue::from_bytes(&[0xff, 0xfe]).unwrap())
        .body(())
        .unwrap();
    assert_eq!(layer.check(&bad), Err(SecFetchSite));
}

#[test]
fn bad_trusted_origins_are_build_errors_with_the_reason() {
    let refused = |origin: &str| match CsrfLayer::builder().add_trusted_origin(origin).build() {
        Err(ConfigError::InvalidTrustedOrigin { reason, .. }) => reason,
        other => panic!("{origin}: {other:?}"),
    };
    assert_eq!(
        refused("https://*.example.com"),
        "a trusted origin is exact: no `*` pattern"
    );
    assert_eq!(
        refused("capacitor://*.localhost"),
        "a trusted origin is exact: no `*` pattern"
    );
    assert_eq!(
        refused("capacitor://localhost/"),
        "an origin has no path (not even a trailing `/`)"
    );
    assert_eq!(
        refused("capacitor://"),
        "expected scheme://host[:port], for example capacitor://localhost"
    );
    assert_eq!(
        refused("tauri://localhost:0"),
        "port 0 is not a port a browser connects to"
    );
    assert_eq!(
        refused("http://127.1"),
        "an IPv4 address in a form browsers never send; a browser sends \"http://127.0.0.1\""
    );
    assert_eq!(
        refused("http://127.0.0.1."),
        "the host ends in a dot no browser sends"
    );
    assert_eq!(
        refused("http://foo.bar.255"),
        "the host ends in a number but is not an IPv4 address: browsers refuse it"
    );
    assert!(refused("https://xn--a.example").starts_with("the label \"xn--a\" is refused"));
    assert!(refused("https://ümlaut.de").contains("punycode"));
    let err = CsrfLayer::builder()
        .add_trusted_origin("https://example.com/")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "CSRF: invalid trusted origin \"https://example.com/\": an origin has no path (not even a trailing `/`)"
    );
}

#[test]
fn bad_bypass_paths_are_build_errors() {
    let cases = [
        (
            "hooks",
            "a bypass path starts with `/` (or a method and a space: `POST /hooks/*`)",
        ),
        (
            "",
            "a bypass path starts with `/` (or a method and a space: `POST /hooks/*`)",
        ),
        (
            "POST hooks",
            "a method is followed by one space and a path: `POST /hooks/*`",
        ),
        (
            "POST  /hooks",
            "a method is followed by one space and a path: `POST /hooks/*`",
        ),
        (
            "PO(ST /hooks",
            "a bypass pattern's method is an HTTP token: `POST /hooks/*`",
        ),
        (
            "/only/{foo}",
            "a bypass path is matched as written: no `{name}` wildcard (Go's `ServeMux` syntax); write the exact path, or a `/prefix/*` pattern",
        ),
        (
            "POST /only/{foo}/x",
            "a bypass path is matched as written: no `{name}` wildcard (Go's `ServeMux` syntax); write the exact path, or a `/prefix/*` pattern",
        ),
        ("/a b", "a bypass path is visible ASCII, without spaces"),
        ("/hooks?x=1", "a bypass path has no query or fragment"),
        (
            "/hooks/%41",
            "a bypass path is matched against the raw path: write it without percent-encoding or backslashes",
        ),
        (
            "/hooks*",
            "`*` only ends a prefix pattern, as a whole segment: `/hooks/*`",
        ),
        (
            "/*/hooks",
            "`*` only ends a prefix pattern, as a whole segment: `/hooks/*`",
        ),
        ("/a/../hooks", "a bypass path has no `.` or `..` segment"),
        (
            "/*",
            "`/*` bypasses every path: leave the layer out instead",
        ),
    ];
    for (pattern, reason) in cases {
        let err = CsrfLayer::builder()
            .bypass_path(pattern)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidBypassPath {
                pattern: pattern.to_owned(),
                reason
            },
            "{pattern}"
        );
    }
}

#[test]
fn bypass_never_covers_a_path_that_normalizes_elsewhere() {
    let layer = CsrfLayer::builder()
        .bypass_path("/hooks/*")
        .build()
        .unwrap();
    for path in [
        "/hooks/../admin",
        "/hooks/%2e%2e/admin",
        "/hooks/%2E./admin",
        "/hooks/.%2e/admin",
        "/hooks/./x",
        "/hooks/a%2f..%2fadmin",
        "/hooks/a%5C..%5Cadmin",
    ] {
        let req = request("POST", path, Some("cross-site"), None);
        assert_eq!(layer.check(&req), Err(SecFetchSite), "{path}");
    }
    for path in ["/hooks/a", "/hooks/a/b.json", "/hooks/..a", "/hooks/"] {
        let req = request("POST", path, Some("cross-site"), None);
        assert_eq!(layer.check(&req), Ok(()), "{path}");
    }
    // Case-sensitive, as paths are.
    let req = request("POST", "/HOOKS/a", Some("cross-site"), None);
    assert_eq!(layer.check(&req), Err(SecFetchSite));
}

#[test]
fn bypass_never_covers_dot_segments_with_path_parameters() {
    let layer = CsrfLayer::builder()
        .bypass_path("/hooks/*")
        .build()
        .unwrap();
    // `..;x` is `..` to a server that strips `;` path parameters (Servlet containers, Spring).
    for path in [
        "/hooks/..;/admin",
        "/hooks/..;x=1/admin",
        "/hooks/.;/x",
        "/hooks/%2e%2e;/admin",
    ] {
        let req = request("POST", path, Some("cross-site"), None);
        assert_eq!(layer.check(&req), Err(SecFetchSite), "{path}");
    }
    for path in ["/hooks/a;b", "/hooks/..a;b"] {
        let req = request("POST", path, Some("cross-site"), None);
        assert_eq!(layer.check(&req), Ok(()), "{path}");
    }
}

#[tokio::test]
async fn a_refusal_is_a_403_problem_with_the_rejection_in_the_extensions() {
    let svc = tower::ServiceBuilder::new()
        .layer(CsrfLayer::new())
        .service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("handler")))
        });
    let res = svc
        .oneshot(request(
            "DELETE",
            "/posts/1",
            Some("same-site"),
            Some("https://a.example.com"),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(
        res.extensions()
            .get::<CrossOriginRefused>()
            .map(CrossOriginRefused::reason),
        Some(SecFetchSite)
    );
    let problem = res.extensions().get::<Problem>().unwrap().clone();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "{\"type\":\"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#cross-origin-request-refused\",\
         \"title\":\"Cross-origin request refused\",\"status\":403,\
         \"detail\":\"The browser marked this request as cross-origin (Sec-Fetch-Site); this endpoint accepts it only from its own origin or a trusted one.\"}"
    );
    assert_eq!(problem.status(), StatusCode::FORBIDDEN);
}

#[test]
fn debug_shows_the_configuration() {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("https://a.example")
        .add_trusted_origin("https://A.example")
        .bypass_path("/hooks/*")
        .bypass_path("POST /forms/contact")
        .build()
        .unwrap();
    let debug = format!("{layer:?}");
    assert_eq!(debug.matches("host: \"a.example\"").count(), 1, "{debug}");
    assert!(
        debug.contains("bypass: [\"POST /forms/contact\", \"/hooks/*\"]"),
        "{debug}"
    );
}

/// An app's own scheme (Capacitor on iOS sends `Origin: capacitor://localhost` from its web
/// view), trusted as Go's `AddTrustedOrigin` trusts it: its cross-site requests pass, the
/// same host under another scheme or port does not.
#[test]
fn an_origin_of_another_scheme_can_be_trusted() {
    let layer = CsrfLayer::builder()
        .add_trusted_origin("Capacitor://LocalHost")
        .add_trusted_origin("chrome-extension://abcdefghijklmnopabcdefghijklmnop")
        .build()
        .unwrap();
    let post = |origin: &str| {
        Request::post("/api")
            .header("host", "api.example.com")
            .header("sec-fetch-site", "cross-site")
            .header("origin", origin)
            .body(())
            .unwrap()
    };
    assert_eq!(layer.check(&post("capacitor://localhost")), Ok(()));
    assert_eq!(
        layer.check(&post("chrome-extension://abcdefghijklmnopabcdefghijklmnop")),
        Ok(())
    );
    for other in [
        "https://localhost",
        "capacitor://localhost:8080",
        "ionic://localhost",
        "chrome-extension://bbcdefghijklmnopabcdefghijklmnop",
    ] {
        assert_eq!(layer.check(&post(other)), Err(SecFetchSite), "{other}");
    }
}
