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
    tokio::spawn(quickstart::serve(listener));
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
    let banner = quickstart::banner("127.0.0.1:3999".parse().unwrap());
    assert!(banner.starts_with("tower-shield quickstart listening on http://127.0.0.1:3999\n"));
    assert!(banner.contains("  curl -i http://127.0.0.1:3999/v2/health\n"));
    assert!(
        banner.contains("curl -i -H 'X-Request-Id: my-trace-123' http://127.0.0.1:3999/v2/health")
    );
    assert_eq!(quickstart::DEFAULT_ADDR, "127.0.0.1:3000");
}
