//! The quickstart server's contract (../shared/QUICKSTART.md), as far as the crate goes so far,
//! checked over a real socket against the example's own code.

mod common;

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use common::{is_uuid_v7, raw};
use tokio::net::TcpListener;

async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = quickstart::app(&["http://127.0.0.1:8123".to_owned()]).unwrap();
    tokio::spawn(quickstart::serve(listener, app));
    addr
}

#[tokio::test]
async fn health_answers_ok_with_the_stack_headers() {
    let addr = start().await;
    let res = raw(addr, b"GET /v2/health HTTP/1.1\r\nX-Request-Id: qs-check-1").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.body, br#"{"status":"ok"}"#);
    assert_eq!(res.header("x-request-id"), Some("qs-check-1"));
    res.assert_json_api_headers();
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_with_the_request_id() {
    let addr = start().await;
    let res = raw(addr, b"GET /v2/nowhere HTTP/1.1\r\nX-Request-Id: bad id").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let id = res.header("x-request-id").unwrap().to_owned();
    assert!(is_uuid_v7(&id));
    assert_eq!(
        res.body,
        format!(
            r#"{{"type":"about:blank","title":"Not Found","status":404,"detail":"No resource matches this path.","request_id":"{id}"}}"#
        )
        .as_bytes()
    );
    res.assert_json_api_headers();

    let res = raw(addr, b"DELETE /v2/health HTTP/1.1").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.header("allow"), Some("GET,HEAD"));
    let id = res.header("x-request-id").unwrap();
    assert_eq!(
        res.body,
        format!(
            r#"{{"type":"about:blank","title":"Method Not Allowed","status":405,"detail":"This resource does not support this method.","request_id":"{id}"}}"#
        )
        .as_bytes()
    );
}

#[test]
fn the_banner_shows_the_address_and_ready_curl_lines() {
    let banner = quickstart::banner("127.0.0.1:3999".parse().unwrap(), &[]);
    assert!(banner.starts_with("tower-shield quickstart listening on http://127.0.0.1:3999\n"));
    assert!(banner.contains("  curl -i http://127.0.0.1:3999/v2/health\n"));
    assert!(
        banner.contains("curl -i -H 'X-Request-Id: my-trace-123' http://127.0.0.1:3999/v2/health")
    );
    assert!(banner.contains(
        "CORS origins (with credentials): https://frontend.example.com, https://*.example.com\n"
    ));
    assert_eq!(quickstart::DEFAULT_ADDR, "127.0.0.1:3000");
}

#[test]
fn a_bad_allowed_origin_is_a_startup_error() {
    for bad in ["null", "https://*.com", "https://app.example.com/"] {
        assert!(quickstart::app(&[bad.to_owned()]).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn versions_follow_the_contract() {
    let addr = start().await;
    let res = raw(addr, b"GET /v1/health HTTP/1.1").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, br#"{"status":"ok"}"#);
    assert_eq!(res.header("deprecation"), Some("@1767225600"));
    assert_eq!(res.header("sunset"), Some("Wed, 30 Jun 2027 00:00:00 GMT"));
    assert_eq!(
        res.header("link"),
        Some("<https://api.example.com/docs/migrate-v2>; rel=\"deprecation\"")
    );

    let res = raw(addr, b"GET /v0/health HTTP/1.1").await;
    assert_eq!(res.status, 410);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let id = res.header("x-request-id").unwrap();
    assert_eq!(
        res.body,
        format!(
            r#"{{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#version-gone","title":"API version retired","status":410,"detail":"API version 0 has been retired. Migration guide: https://api.example.com/docs/migrate-v2","request_id":"{id}","migration_guide":"https://api.example.com/docs/migrate-v2"}}"#
        )
        .as_bytes()
    );

    let res = raw(addr, b"GET /v9/health HTTP/1.1").await;
    assert_eq!(res.status, 400);
    let id = res.header("x-request-id").unwrap();
    assert_eq!(
        res.body,
        format!(
            r#"{{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unsupported-version","title":"Unsupported API version","status":400,"detail":"API version 9 does not exist. Supported versions: v1, v2.","request_id":"{id}","supported_versions":[1,2]}}"#
        )
        .as_bytes()
    );

    for head in [
        &b"GET /health HTTP/1.1\r\nAPI-Version: 2"[..],
        b"GET /health HTTP/1.1\r\nAccept: application/vnd.example.v2+json",
        b"GET /health HTTP/1.1",
    ] {
        let res = raw(addr, head).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(head));
        assert_eq!(res.header("deprecation"), None);
    }
    let res = raw(
        addr,
        b"GET /health HTTP/1.1\r\nAPI-Version: 2\r\nAccept: application/vnd.example.v1+json",
    )
    .await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn cors_preflights_are_answered_for_allowed_origins_only() {
    let addr = start().await;
    let res = raw(
        addr,
        b"OPTIONS /v2/health HTTP/1.1\r\nOrigin: https://app.example.com\r\n\
          Access-Control-Request-Method: POST\r\n\
          Access-Control-Request-Headers: authorization, content-type",
    )
    .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("GET, POST, PUT, DELETE, PATCH")
    );
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("authorization, content-type, x-api-key, x-request-id, api-version")
    );
    assert_eq!(res.header("access-control-max-age"), Some("86400"));

    let res = raw(
        addr,
        b"GET /v2/health HTTP/1.1\r\nOrigin: http://127.0.0.1:8123",
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://127.0.0.1:8123")
    );
    let exposed = res.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-request-id") && exposed.contains("x-ratelimit-remaining"));

    let res = raw(
        addr,
        b"OPTIONS /v2/health HTTP/1.1\r\nOrigin: https://evil-example.com\r\n\
          Access-Control-Request-Method: POST",
    )
    .await;
    assert_eq!(res.status, 204);
    assert_eq!(res.header("access-control-allow-origin"), None);
}
