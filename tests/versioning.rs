//! VersioningLayer wrapping real axum Routers, with an injected clock.

mod common;

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::OriginalUri;
use axum::routing::get;
use common::call;
use http::{Request, StatusCode, Uri};
use tower::ServiceBuilder;
use tower_shield::versioning::{ApiVersion, Version, VersionSource, VersioningBuilder};
use tower_shield::{ManualClock, VersioningLayer};

const GUIDE: &str = "https://api.example.com/docs/migrate-v2";
/// 2026-11-22T00:00:00Z
const NOW: u64 = 1_795_305_600;
/// 2027-06-30T00:00:00Z, v1's sunset.
const SUNSET: u64 = 1_814_313_600;

fn builder(clock: ManualClock) -> VersioningBuilder {
    VersioningLayer::builder()
        .vendor("example")
        .version(Version::supported(2))
        .version(
            Version::deprecated(1, "2026-01-01")
                .sunset("2027-06-30")
                .link(GUIDE),
        )
        .version(Version::retired(0).link(GUIDE))
        .default_version(2)
        .clock(clock)
}

/// The routes, written once without a version; the handler shows what it sees.
fn routes() -> Router {
    Router::new().route(
        "/posts",
        get(|v: ApiVersion, uri: Uri| async move {
            match uri.query() {
                Some(query) => format!("v{v} {}?{query}", uri.path()),
                None => format!("v{v} {}", uri.path()),
            }
        }),
    )
}

fn wrap(layer: VersioningLayer, routes: Router) -> Router {
    Router::new().fallback_service(ServiceBuilder::new().layer(layer).service(routes))
}

fn app() -> (Router, ManualClock) {
    let clock = ManualClock::at_unix_secs(NOW);
    (
        wrap(builder(clock.clone()).build().unwrap(), routes()),
        clock,
    )
}

fn req(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_path_version_is_stripped_and_given_to_the_handler() {
    let (app, _) = app();
    let (status, headers, body) = call(&app, req("/v2/posts?page=2", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "v2 /posts?page=2", "the query survives the stripping");
    assert!(headers.get("deprecation").is_none());
    assert!(headers.get("sunset").is_none());
    assert_eq!(headers["vary"], "accept, api-version");
}

#[tokio::test]
async fn a_deprecated_version_answers_with_deprecation_sunset_and_link() {
    let (app, _) = app();
    let (status, headers, body) = call(&app, req("/v1/posts", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "v1 /posts");
    assert_eq!(headers["deprecation"], "@1767225600");
    assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(
        headers["link"],
        "<https://api.example.com/docs/migrate-v2>; rel=\"deprecation\""
    );
}

#[tokio::test]
async fn a_retired_version_is_gone_with_the_migration_link() {
    let (app, _) = app();
    let (status, headers, body) = call(&app, req("/v0/posts", &[])).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        headers["link"],
        "<https://api.example.com/docs/migrate-v2>; rel=\"deprecation\""
    );
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#version-gone","title":"API version retired","status":410,"detail":"API version 0 has been retired. Migration guide: https://api.example.com/docs/migrate-v2","migration_guide":"https://api.example.com/docs/migrate-v2"}"#
    );
}

#[tokio::test]
async fn an_unknown_version_is_a_400_listing_the_supported_ones() {
    let (app, _) = app();
    let (status, _, body) = call(&app, req("/v9/posts", &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unsupported-version","title":"Unsupported API version","status":400,"detail":"API version 9 does not exist. Supported versions: v1, v2.","supported_versions":[1,2]}"#
    );
}

#[tokio::test]
async fn past_its_sunset_a_deprecated_version_is_gone() {
    let (app, clock) = app();
    clock.set_micros((SUNSET - 1) * 1_000_000);
    let (status, _, _) = call(&app, req("/v1/posts", &[])).await;
    assert_eq!(status, StatusCode::OK);
    clock.set_micros(SUNSET * 1_000_000);
    let (status, _, body) = call(&app, req("/v1/posts", &[])).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(std::str::from_utf8(&body).unwrap().contains(GUIDE));
    let (_, _, body) = call(&app, req("/v9/posts", &[])).await;
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .ends_with(r#"Supported versions: v2.","supported_versions":[2]}"#),
        "v1 is no longer listed"
    );
}

#[tokio::test]
async fn header_media_type_and_query_sources() {
    let (app, _) = app();
    for headers in [
        vec![("api-version", "1")],
        vec![("API-Version", "v1")],
        vec![("accept", "application/vnd.example.v1+json")],
        vec![(
            "accept",
            "text/html;q=0.5, Application/Vnd.Example.V1+JSON; charset=utf-8",
        )],
    ] {
        let (status, res_headers, body) = call(&app, req("/posts", &headers)).await;
        assert_eq!(
            (status, body.as_ref()),
            (StatusCode::OK, b"v1 /posts".as_ref()),
            "{headers:?}"
        );
        assert_eq!(res_headers["deprecation"], "@1767225600");
    }
    let (_, _, body) = call(&app, req("/posts?version=1&page=3", &[])).await;
    assert_eq!(body, "v1 /posts?version=1&page=3");
    // No version anywhere: the default.
    let (_, _, body) = call(&app, req("/posts", &[("accept", "application/json")])).await;
    assert_eq!(body, "v2 /posts");
    // Agreeing sources are fine.
    let (status, _, body) = call(&app, req("/v1/posts?version=v1", &[("api-version", "1")])).await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, b"v1 /posts?version=v1".as_ref())
    );
}

#[tokio::test]
async fn disagreeing_sources_are_a_400_not_a_silent_pick() {
    let (app, _) = app();
    let (status, _, body) = call(
        &app,
        req(
            "/v1/posts",
            &[
                ("api-version", "2"),
                ("accept", "application/vnd.example.v1+json"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#conflicting-versions","title":"Conflicting API versions","status":400,"detail":"The request asks for different versions: v1 in the path, v2 in the header, v1 in the media type."}"#
    );
}

#[tokio::test]
async fn malformed_versions_are_a_400() {
    let (app, _) = app();
    for (uri, headers, source) in [
        ("/posts", vec![("api-version", "two")], "header"),
        ("/posts", vec![("api-version", "02")], "header"),
        (
            "/posts",
            vec![("accept", "application/vnd.example.v2x+json")],
            "media type",
        ),
        (
            "/posts",
            vec![("accept", "application/vnd.example.v1+json;q=2")],
            "media type",
        ),
        // A minor version is no version of this layer's (not v2), as in the header.
        (
            "/posts",
            vec![("accept", "application/vnd.example.v2.1+json")],
            "media type",
        ),
        ("/posts?version=latest", vec![], "query"),
        ("/v01/posts", vec![], "path"),
        ("/v9999999999/posts", vec![], "path"),
    ] {
        let mut request = Request::get(uri);
        for (n, v) in &headers {
            request = request.header(*n, *v);
        }
        let (status, _, body) = call(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {headers:?}");
        assert_eq!(
            body,
            format!(
                r#"{{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-version","title":"Invalid API version","status":400,"detail":"The version in the {source} is not a version number such as 2 or v2."}}"#
            )
        );
    }
}

#[tokio::test]
async fn values_within_one_source_must_agree() {
    let (app, _) = app();
    let two_headers = Request::get("/posts")
        .header("api-version", "1")
        .header("api-version", "2")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&app, two_headers).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(std::str::from_utf8(&body).unwrap().contains(
        r#""detail":"The request asks for different versions: v1 in the header, v2 in the header.""#
    ));
    let (status, _, _) = call(&app, req("/posts?version=1&version=2", &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The same version twice is no disagreement.
    let same = Request::get("/posts?version=1&version=v1")
        .header("api-version", "1")
        .header("api-version", "1")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&app, same).await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, b"v1 /posts?version=1&version=v1".as_ref())
    );
}

#[tokio::test]
async fn media_types_are_negotiated_by_weight() {
    let (app, _) = app();
    for (accept, expected) in [
        // q=0 means "not acceptable": it selects nothing, so the default applies.
        ("application/vnd.example.v1+json;q=0", "v2 /posts"),
        (
            "application/vnd.example.v2+json, application/vnd.example.v1+json;q=0.5",
            "v2 /posts",
        ),
        (
            "application/vnd.example.v2+json;q=0.4, application/vnd.example.v1+json;q=0.9",
            "v1 /posts",
        ),
        // Other subtypes of the vendor tree are not versions.
        (
            "application/vnd.example.report+csv, application/vnd.example.v1+json",
            "v1 /posts",
        ),
        // The weight's name in either case (RFC 9110's ABNF strings are case-insensitive).
        ("application/vnd.example.v1+json;Q=0", "v2 /posts"),
        (
            "application/vnd.example.v2+json;Q=0.4, application/vnd.example.v1+json; Q=0.9",
            "v1 /posts",
        ),
        // The order of the ranges says nothing (RFC 9110 section 12.5.1): a tie below the
        // highest weight is no conflict, wherever it comes.
        (
            "application/vnd.example.v1+json;q=0.5, application/vnd.example.v0+json;q=0.5, \
             application/vnd.example.v2+json",
            "v2 /posts",
        ),
        (
            "application/vnd.example.v2+json, application/vnd.example.v1+json;q=0.5, \
             application/vnd.example.v0+json;q=0.5",
            "v2 /posts",
        ),
        // A format after the version (as GitHub's `v3.raw+json`) is not a minor version.
        ("application/vnd.example.v1.raw+json", "v1 /posts"),
    ] {
        let (status, _, body) = call(&app, req("/posts", &[("accept", accept)])).await;
        assert_eq!(
            (status, std::str::from_utf8(&body).unwrap()),
            (StatusCode::OK, expected),
            "{accept}"
        );
    }
    let (status, _, _) = call(
        &app,
        req(
            "/posts",
            &[(
                "accept",
                "application/vnd.example.v1+json, application/vnd.example.v2+json",
            )],
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "two versions at the same weight"
    );
}

#[tokio::test]
async fn uppercase_paths_and_encoded_queries_are_read() {
    let (app, _) = app();
    let (_, _, body) = call(&app, req("/V1/posts", &[])).await;
    assert_eq!(body, "v1 /posts");
    let (_, _, body) = call(&app, req("/posts?vers%69on=%31", &[])).await;
    assert_eq!(body, "v1 /posts?vers%69on=%31");
}

#[tokio::test]
async fn a_required_version_is_a_400_when_missing() {
    let clock = ManualClock::at_unix_secs(NOW);
    let layer = builder(clock).require_version(true).build().unwrap();
    let app = wrap(layer, routes());
    let (status, _, body) = call(&app, req("/posts", &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#missing-version","title":"API version required","status":400,"detail":"This API needs a version. Supported versions: v1, v2.","supported_versions":[1,2]}"#
    );
    let (status, _, _) = call(&app, req("/v2/posts", &[])).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_stripping_a_router_is_nested_per_version() {
    let clock = ManualClock::at_unix_secs(NOW);
    let layer = builder(clock).strip_prefix(false).build().unwrap();
    let per_version = |name: &'static str| {
        Router::new().route(
            "/posts",
            get(
                move |v: ApiVersion, OriginalUri(uri): OriginalUri| async move {
                    format!("{name} handler, v{v}, {}", uri.path())
                },
            ),
        )
    };
    let routes = Router::new()
        .nest("/v1", per_version("old"))
        .nest("/v2", per_version("new"));
    let app = wrap(layer, routes);
    let (_, _, body) = call(&app, req("/v1/posts", &[])).await;
    assert_eq!(body, "old handler, v1, /v1/posts");
    let (_, _, body) = call(&app, req("/v2/posts", &[])).await;
    assert_eq!(body, "new handler, v2, /v2/posts");
}

#[tokio::test]
async fn configured_sources_are_the_only_ones_read() {
    let layer = VersioningLayer::builder()
        .sources([VersionSource::Query, VersionSource::Header])
        .header_name("X-Version")
        .query_param("v")
        .version(Version::supported(1))
        .version(Version::supported(2))
        .default_version(2)
        .build()
        .unwrap();
    let app = wrap(layer, routes());
    let (_, _, body) = call(&app, req("/posts?v=1", &[("api-version", "9")])).await;
    assert_eq!(body, "v1 /posts?v=1");
    let (_, headers, body) = call(&app, req("/posts", &[("x-version", "1")])).await;
    assert_eq!(body, "v1 /posts");
    assert_eq!(headers["vary"], "x-version");
    // The path is not a source here: /v1/posts is routed as it is.
    let (status, _, _) = call(&app, req("/v1/posts", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sunset_link_and_handler_links_are_kept_together() {
    let layer = VersioningLayer::builder()
        .version(Version::supported(2))
        .version(
            Version::deprecated(1, SystemTime::UNIX_EPOCH + Duration::from_secs(86_400))
                .link(GUIDE)
                .sunset_link("https://api.example.com/sunset-policy"),
        )
        .default_version(2)
        .build()
        .unwrap();
    let routes = Router::new().route(
        "/posts",
        get(|| async { ([("link", "</posts?page=2>; rel=\"next\"")], "page 1") }),
    );
    let app = wrap(layer, routes);
    let (_, headers, _) = call(&app, req("/v1/posts", &[])).await;
    assert_eq!(headers["deprecation"], "@86400");
    assert!(headers.get("sunset").is_none());
    assert_eq!(
        headers.get_all("link").iter().collect::<Vec<_>>(),
        [
            "</posts?page=2>; rel=\"next\"",
            "<https://api.example.com/docs/migrate-v2>; rel=\"deprecation\"",
            "<https://api.example.com/sunset-policy>; rel=\"sunset\""
        ]
    );
}

/// Thousands of disagreeing versions cost no more than a few: the problem names at most
/// eight of them.
#[tokio::test]
async fn many_conflicting_versions_are_named_a_few() {
    let (app, _) = app();
    let query: Vec<String> = (1..=3000).map(|v| format!("version={v}")).collect();
    let mut headers: Vec<(&str, String)> = Vec::new();
    for v in 0..50 {
        headers.push(("api-version", (v % 2 + 1).to_string()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, _, body) = call(&app, req(&format!("/posts?{}", query.join("&")), &headers)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.len() < 600, "{detail}");
    assert!(body.len() < 1500, "{}", body.len());
}
