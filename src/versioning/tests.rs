use std::time::{Duration, UNIX_EPOCH};

use super::source::{path_version, quality};
use super::version::parse_number;
use super::*;

#[test]
fn dates() {
    assert_eq!(Date::from("1970-01-01").resolve(), Some(UNIX_EPOCH));
    let t = Date::from("2027-06-30").resolve().unwrap();
    assert_eq!(httpdate::fmt_http_date(t), "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(
        Date::from("2024-02-29")
            .resolve()
            .map(httpdate::fmt_http_date)
            .as_deref(),
        Some("Thu, 29 Feb 2024 00:00:00 GMT")
    );
    for bad in [
        "2023-02-29",
        "2027-13-01",
        "2027-6-30",
        "27-06-30",
        "2027-06-31",
        "soon",
        "2027-+6-30",
        "2027-06-+5",
    ] {
        assert_eq!(Date::from(bad).resolve(), None, "{bad}");
    }
}

#[test]
fn query_decoding_and_weights() {
    use crate::core::util::decode_query;
    assert_eq!(decode_query("%32").as_deref(), Some("2"));
    assert_eq!(decode_query("vers%69on").as_deref(), Some("version"));
    assert_eq!(decode_query("a+b%zz").as_deref(), Some("a b%zz"));
    assert_eq!(decode_query("%ff"), None);
    // Two hex digits, no sign: `u8::from_str_radix` would have read `%+f` as 0x0f; the `%`
    // stays, and the `+` is a space as anywhere else.
    assert_eq!(decode_query("%+f%-1").as_deref(), Some("% f%-1"));
    assert_eq!(quality("0"), Some(0));
    assert_eq!(quality("0.5"), Some(500));
    assert_eq!(quality("1.000"), Some(1000));
    assert_eq!(quality("1.5"), None);
    assert_eq!(quality("0.1234"), None);
}

#[test]
fn version_numbers() {
    assert_eq!(parse_number("2"), Some(2));
    assert_eq!(parse_number("v2"), Some(2));
    assert_eq!(parse_number("V10"), Some(10));
    for bad in [
        "",
        "v",
        "2.0",
        "-1",
        "v2x",
        "9999999999",
        " 2",
        "02",
        "v01",
        "+2",
    ] {
        assert_eq!(parse_number(bad), None, "{bad:?}");
    }
    assert_eq!(path_version("/v2/posts"), Some(Ok((2, "/posts"))));
    assert_eq!(path_version("/V2/posts"), Some(Ok((2, "/posts"))));
    assert_eq!(path_version("/v2"), Some(Ok((2, ""))));
    assert_eq!(path_version("/v01/posts"), Some(Err(())));
    assert_eq!(path_version("/v9999999999/posts"), Some(Err(())));
    assert_eq!(path_version("/v2x/posts"), None);
    assert_eq!(path_version("/video"), None);
    assert_eq!(path_version("/posts"), None);
}

#[test]
fn a_path_that_normalizes_to_another_version_is_refused() {
    // Each of these would be checked as one version (or none) and, by an inner service or
    // upstream that normalizes the path, routed as another.
    for ambiguous in [
        "/v2/../v1/posts",
        "/v2/%2e%2e/v1/posts",
        "/v2/%2E%2E/v1/posts",
        "/v2/.%2e/v1/posts",
        "/v2/..",
        "/v2/a/../../v1",
        "//v1/posts",
        "/./v1/posts",
        "/%2e/v1/posts",
        "/posts/../v1/x",
        "/v%31/posts",
        "/%76%31/posts",
        "/v2%2fposts",
        "/v2%2F..%2Fv1/posts",
        "/v2\\..\\v1/posts",
        "/x/../v01/posts",
    ] {
        assert_eq!(path_version(ambiguous), Some(Err(())), "{ambiguous:?}");
    }
    // Normalizations that keep the first segment change nothing.
    assert_eq!(
        path_version("/v2/posts/../comments"),
        Some(Ok((2, "/posts/../comments")))
    );
    assert_eq!(path_version("/v2//posts"), Some(Ok((2, "//posts"))));
    assert_eq!(
        path_version("/v2/files/a%2Fb"),
        Some(Ok((2, "/files/a%2Fb")))
    );
    assert_eq!(path_version("/v2/caf%C3%A9"), Some(Ok((2, "/caf%C3%A9"))));
    assert_eq!(path_version("/.well-known/x"), None);
    assert_eq!(path_version("/posts/%zz"), None);
    assert_eq!(path_version("/v2.0/posts"), None);
    // Path parameters, which servlet-style servers drop: `/v1;x` would be routed as v1.
    assert_eq!(path_version("/v2;x/posts"), Some(Err(())));
    assert_eq!(path_version("/v1;jsessionid=1/posts"), Some(Err(())));
    assert_eq!(path_version("/v2/..;/v1/posts"), Some(Err(())));
    assert_eq!(path_version("/posts;x"), None);
    assert_eq!(path_version("/v2/posts;x"), Some(Ok((2, "/posts;x"))));
    assert_eq!(path_version("/v99999999999999999999/"), Some(Err(())));
    assert_eq!(path_version("/v"), None);
    assert_eq!(path_version("%"), None);
}

#[test]
fn build_errors() {
    let b = || VersioningLayer::builder().version(Version::supported(2));
    assert_eq!(
        VersioningLayer::builder().build().unwrap_err(),
        ConfigError::NoVersions
    );
    assert_eq!(
        b().version(Version::supported(2)).build().unwrap_err(),
        ConfigError::DuplicateVersion(2)
    );
    assert_eq!(
        b().default_version(3).build().unwrap_err(),
        ConfigError::InvalidDefault(3)
    );
    assert_eq!(
        b().version(Version::retired(1))
            .default_version(1)
            .build()
            .unwrap_err(),
        ConfigError::InvalidDefault(1)
    );
    assert_eq!(
        b().vendor("ex ample").build().unwrap_err(),
        ConfigError::InvalidVendor("ex ample".into())
    );
    assert_eq!(
        b().sources([VersionSource::MediaType]).build().unwrap_err(),
        ConfigError::NoSources
    );
    assert_eq!(
        b().header_name("bad name").build().unwrap_err(),
        ConfigError::InvalidName("bad name".into())
    );
    assert_eq!(
        b().query_param("a=b").build().unwrap_err(),
        ConfigError::InvalidName("a=b".into())
    );
    assert!(matches!(
        b().version(Version::deprecated(1, "2027-02-30")).build(),
        Err(ConfigError::InvalidDate(_))
    ));
    assert!(matches!(
        b().version(Version::deprecated(1, "2027-01-01").sunset("2026-01-01"))
            .build(),
        Err(ConfigError::InvalidDate(_))
    ));
    assert!(matches!(
        b().version(
            Version::deprecated(1, "2026-01-01")
                .sunset(UNIX_EPOCH + Duration::from_secs(300_000_000_000))
        )
        .build(),
        Err(ConfigError::InvalidDate(_))
    ));
    assert_eq!(
        b().version(Version::retired(1).sunset("2027-01-01"))
            .build()
            .unwrap_err(),
        ConfigError::SunsetOnUndeprecated(1)
    );
    assert_eq!(
        b().version(Version::supported(3).sunset_link("https://x.com/s"))
            .build()
            .unwrap_err(),
        ConfigError::SunsetOnUndeprecated(3)
    );
    assert_eq!(
        b().version(Version::retired(1).link("docs/migrate"))
            .build()
            .unwrap_err(),
        ConfigError::InvalidLink("docs/migrate".into())
    );
    assert_eq!(
        b().version(Version::retired(1).link("https://x.com/a>; rel=\"x"))
            .build()
            .unwrap_err(),
        ConfigError::InvalidLink("https://x.com/a>; rel=\"x".into())
    );
}

/// Calls `layer` around a service that answers `200` with the version it saw in a header.
async fn call(
    layer: &VersioningLayer,
    uri: &str,
) -> http::Response<crate::body::ResponseBody<String>> {
    use tower::ServiceExt;
    use tower_layer::Layer;
    let inner = tower::service_fn(|req: http::Request<()>| async move {
        let seen = req
            .extensions()
            .get::<ApiVersion>()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let res = http::Response::builder()
            .header("x-seen", format!("v{seen} {}", req.uri()))
            .body(String::new())
            .map_err(|_| ())?;
        Ok::<_, ()>(res)
    });
    let req = http::Request::get(uri).body(()).unwrap();
    layer.layer(inner).oneshot(req).await.unwrap()
}

fn two_versions() -> VersioningBuilder {
    VersioningLayer::builder()
        .version(Version::supported(2))
        .version(Version::deprecated(1, "2026-01-01").sunset("2027-06-30"))
        .default_version(2)
}

#[tokio::test]
async fn require_version_is_a_boolean_option() {
    let required = two_versions().require_version(true).build().unwrap();
    let res = call(&required, "/posts").await;
    assert_eq!(res.status(), http::StatusCode::BAD_REQUEST);
    assert_eq!(
        res.extensions().get::<VersionError>(),
        Some(&VersionError::Missing {
            supported: Arc::from([1, 2].as_slice())
        })
    );
    let optional = two_versions()
        .require_version(true)
        .require_version(false)
        .build()
        .unwrap();
    let res = call(&optional, "/posts").await;
    assert_eq!(res.status(), http::StatusCode::OK);
    assert_eq!(res.headers()["x-seen"], "v2 /posts");
}

#[tokio::test]
async fn the_clock_decides_the_sunset() {
    use crate::core::ManualClock;
    // 2027-06-30T00:00:00Z
    let sunset = 1_814_313_600;
    let clock = ManualClock::at_unix_secs(sunset - 1);
    let layer = two_versions().clock(clock.clone()).build().unwrap();
    let res = call(&layer, "/v1/posts?page=2").await;
    assert_eq!(res.status(), http::StatusCode::OK);
    assert_eq!(res.headers()["x-seen"], "v1 /posts?page=2");
    assert_eq!(res.headers()["deprecation"], "@1767225600");
    assert_eq!(res.headers()["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(res.headers()["vary"], "api-version");
    clock.advance(Duration::from_secs(1));
    let res = call(&layer, "/v1/posts").await;
    assert_eq!(res.status(), http::StatusCode::GONE);
    assert_eq!(
        res.extensions().get::<VersionError>(),
        Some(&VersionError::Gone {
            version: 1,
            link: None
        })
    );
    // Rejections vary like the answers they replace.
    assert_eq!(res.headers()["vary"], "api-version");
    assert_eq!(
        format!("{layer:?}"),
        "VersioningLayer { sources: [Path, Header, Query], supported: [2], default: Some(2), .. }"
    );
}

#[test]
fn config_error_messages() {
    assert_eq!(
        ConfigError::InvalidDefault(3).to_string(),
        "versioning: default version 3 is not a servable configured version"
    );
    assert_eq!(
        ConfigError::InvalidVendor("ex ample".into()).to_string(),
        "versioning: the media type source needs a vendor of letters, digits, '-' and '.', got \"ex ample\""
    );
    assert_eq!(
        ConfigError::SunsetOnUndeprecated(1).to_string(),
        "versioning: version 1 has a sunset but is not deprecated (Version::deprecated)"
    );
}

/// The version segment goes, the rest of the path and the query stay as they were sent.
#[test]
fn stripping_keeps_the_rest_and_the_query() {
    use super::source::strip;
    for (from, to) in [
        ("/v2", "/"),
        ("/v2/", "/"),
        ("/v2?x=1", "/?x=1"),
        ("/v2?", "/?"),
        ("/v2/posts/7?page=2&q=%C3%A9", "/posts/7?page=2&q=%C3%A9"),
        (
            "http://api.example.com/v2/a?b",
            "http://api.example.com/a?b",
        ),
    ] {
        let uri: http::Uri = from.parse().unwrap();
        assert_eq!(
            strip(&uri).map(|u| u.to_string()).as_deref(),
            Some(to),
            "{from}"
        );
    }
    for unversioned in ["/video", "/", "/posts?v2", "*"] {
        let uri: http::Uri = unversioned.parse().unwrap();
        assert_eq!(strip(&uri), None, "{unversioned}");
    }
}
