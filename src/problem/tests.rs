use http::header::CONTENT_TYPE;
use http::{Method, Uri};

use super::*;
use crate::core::RequestId;

fn cx_parts() -> (Method, Uri, HeaderMap) {
    (Method::GET, Uri::from_static("/x"), HeaderMap::new())
}

#[test]
fn json_has_standard_members_first_and_skips_reserved_extensions() {
    let problem = Problem::new(StatusCode::FORBIDDEN)
        .with_type("https://example.com/p/forbidden")
        .with_detail("missing scope write:posts")
        .with_instance("/posts/1")
        .with_extension("status", 200)
        .with_extension("scope", "write:posts");
    let json = String::from_utf8(problem.to_json(Some("abc-123"))).unwrap();
    assert_eq!(
        json,
        r#"{"type":"https://example.com/p/forbidden","title":"Forbidden","status":403,"detail":"missing scope write:posts","instance":"/posts/1","request_id":"abc-123","scope":"write:posts"}"#
    );
}

#[test]
fn an_extension_set_twice_keeps_one_member() {
    let problem = Problem::new(StatusCode::BAD_REQUEST)
        .with_extension("a", 1)
        .with_extension("b", 2)
        .with_extension("a", 3);
    assert_eq!(
        String::from_utf8(problem.to_json(None)).unwrap(),
        r#"{"type":"about:blank","title":"Bad Request","status":400,"a":3,"b":2}"#
    );
}

#[test]
fn json_escapes_strings() {
    let problem = Problem::new(StatusCode::BAD_REQUEST).with_detail("a \"quoted\"\nline");
    let json = String::from_utf8(problem.to_json(None)).unwrap();
    assert_eq!(
        json,
        r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"a \"quoted\"\nline"}"#
    );
}

#[test]
fn problem_json_renderer_sets_status_headers_and_content_type() {
    let (m, u, h) = cx_parts();
    let problem = Problem::new(StatusCode::UNAUTHORIZED).with_header(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer"),
    );
    let res = ProblemJson.render(
        &problem,
        &RequestHead::new(&m, &u, &h, &http::Extensions::new()),
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()[CONTENT_TYPE], APPLICATION_PROBLEM_JSON);
    assert_eq!(res.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        res.body().as_ref(),
        br#"{"type":"about:blank","title":"Unauthorized","status":401}"#
    );
}

#[test]
fn plain_text_renderer() {
    let (m, u, h) = cx_parts();
    let id = RequestId::new("req-1").unwrap();
    let problem = Problem::new(StatusCode::TOO_MANY_REQUESTS).with_detail("slow down");
    let res = PlainText.render(
        &problem,
        &RequestHead::new(&m, &u, &h, &{
            let mut e = http::Extensions::new();
            e.insert(id.clone());
            e
        }),
    );
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(
        res.body().as_ref(),
        b"429 Too Many Requests: slow down\nrequest id: req-1\n"
    );
}

#[test]
fn grpc_renderer_maps_status_and_encodes_message() {
    let (m, u, h) = cx_parts();
    let problem = Problem::new(StatusCode::UNAUTHORIZED).with_detail("token expired: 100%\n");
    let res = GrpcStatus.render(
        &problem,
        &RequestHead::new(&m, &u, &h, &http::Extensions::new()),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/grpc");
    assert_eq!(res.headers()["grpc-status"], "16");
    assert_eq!(res.headers()["grpc-message"], "token expired: 100%25%0A");
    assert!(res.body().is_empty());
}

#[test]
fn grpc_codes() {
    let cases = [
        (400, 3),
        (401, 16),
        (403, 7),
        (404, 12),
        (410, 12),
        (413, 8),
        (429, 8),
        // google/rpc/code.proto's HTTP mappings: ABORTED 409, CANCELLED 499, UNIMPLEMENTED 501;
        // a validation failure is an invalid argument; a bad gateway is unavailable.
        (409, 10),
        (422, 3),
        (499, 1),
        (501, 12),
        (502, 14),
        (412, 9),
        (500, 13),
        (503, 14),
        (504, 4),
    ];
    for (http, grpc) in cases {
        assert_eq!(
            GrpcStatus::code(StatusCode::from_u16(http).unwrap()),
            grpc,
            "{http}"
        );
    }
}

/// An `about:blank` problem's title is the status's reason phrase as RFC 9110 names it (RFC
/// 9457 section 4.2.1): 413 and 422 by their current names, the others as the `http` crate
/// has them, and `Error` for a code no RFC names.
#[test]
fn about_blank_titles_are_rfc_9110_reason_phrases() {
    for (status, title) in [
        (203, "Non-Authoritative Information"),
        (413, "Content Too Large"),
        (422, "Unprocessable Content"),
        (429, "Too Many Requests"),
        (404, "Not Found"),
        (599, "Error"),
    ] {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(Problem::new(status).title(), title, "{status}");
    }
}
