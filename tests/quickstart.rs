//! The quickstart server's contract (../shared/QUICKSTART.md), as far as the crate goes so far,
//! checked over a real socket against the example's own code.

mod common;

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use common::{is_uuid_v7, raw, raw_with_body};
use serde_json::{Value, json};
use tokio::net::TcpListener;

async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = quickstart::app(
        &["http://127.0.0.1:8123".to_owned()],
        &quickstart::Credentials::demo(),
    )
    .unwrap();
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
    let creds = quickstart::Credentials::demo();
    let banner = quickstart::banner(
        "127.0.0.1:3999".parse().unwrap(),
        &[],
        &creds,
        Some("t.o.k"),
    );
    assert!(banner.contains("X-API-Key: ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c"));
    assert!(banner.contains("X-API-Key: ak_live_premium_0123456789abcdef0123456789ab"));
    assert!(banner.contains("Basic jane / password123"));
    assert!(banner.contains("demo values only"));
    assert!(banner.contains("    t.o.k\n"));
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

/// Credentials given in the environment are real secrets: the banner's commands name the
/// variables, never the values.
#[test]
fn the_banner_never_prints_credentials_from_the_environment() {
    let mut creds = quickstart::Credentials::demo();
    creds.api_key = Some("ak_live_a_real_secret_0000000000000".to_owned());
    creds.basic_user = "ops".to_owned();
    creds.basic_password = Some("a real password".to_owned());
    let banner = quickstart::banner("127.0.0.1:3999".parse().unwrap(), &[], &creds, None);
    assert!(!banner.contains("a_real_secret"), "{banner}");
    assert!(!banner.contains("a real password"), "{banner}");
    assert!(
        banner
            .contains("curl -i -H 'X-API-Key: $QUICKSTART_API_KEY' http://127.0.0.1:3999/v2/me\n")
    );
    assert!(banner.contains(
        "curl -i -u \"$QUICKSTART_BASIC_USER:$QUICKSTART_BASIC_PASSWORD\" http://127.0.0.1:3999/v2/posts\n"
    ));
    assert!(banner.contains("Credentials: from the environment (QUICKSTART_*).\n"));
    assert!(banner.contains("internal 100000"));
}

#[test]
fn a_bad_allowed_origin_is_a_startup_error() {
    for bad in ["null", "https://*.com", "https://app.example.com/"] {
        assert!(
            quickstart::app(&[bad.to_owned()], &quickstart::Credentials::demo()).is_err(),
            "{bad}"
        );
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

const KEY: &str = "X-API-Key: ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";
const PREMIUM: &str = "X-API-Key: ak_live_premium_0123456789abcdef0123456789ab";
const JANE: &str = "Authorization: Basic amFuZTpwYXNzd29yZDEyMw==";

async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    header: &str,
) -> (u16, Value, common::RawResponse) {
    let head = if header.is_empty() {
        format!("GET {path} HTTP/1.1")
    } else {
        format!("GET {path} HTTP/1.1\r\n{header}")
    };
    let res = raw(addr, head.as_bytes()).await;
    let body = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    (res.status, body, res)
}

#[tokio::test]
async fn demo_credentials_authenticate() {
    let addr = start().await;
    let (status, body, _) = get(addr, "/v2/me", KEY).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"subject": "demo-app", "method": "api_key", "tier": "authenticated", "scopes": ["read:posts", "write:posts"]})
    );
    let (status, body, _) = get(addr, "/v2/me", PREMIUM).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"subject": "premium-app", "method": "api_key", "tier": "premium", "scopes": ["read:posts", "write:posts", "delete:posts"]})
    );
    let (status, body, _) = get(addr, "/v2/me", JANE).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"subject": "jane", "method": "basic", "tier": "authenticated", "scopes": ["read:posts"]})
    );
    let token = quickstart::demo_token().unwrap();
    let (status, body, _) = get(addr, "/v2/me", &format!("Authorization: Bearer {token}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"subject": "user_42", "method": "jwt", "tier": "authenticated", "scopes": ["read:posts", "write:posts", "delete:posts"]})
    );
    // v1 serves the same answers, deprecated.
    let (status, body, res) = get(addr, "/v1/me", KEY).await;
    assert_eq!((status, body["subject"].clone()), (200, json!("demo-app")));
    assert_eq!(res.header("sunset"), Some("Wed, 30 Jun 2027 00:00:00 GMT"));
}

#[tokio::test]
async fn anonymous_and_bad_credentials() {
    let addr = start().await;
    let (status, body, _) = get(addr, "/v2/health", "").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body, res) = get(addr, "/v2/me", "").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"],
        "This resource needs authentication; no credentials were presented."
    );
    assert_eq!(
        res.all("www-authenticate"),
        [
            &br#"ApiKey realm="api", header="X-API-Key""#[..],
            br#"Bearer realm="api""#,
            br#"Basic realm="api", charset="UTF-8""#,
        ]
    );
    assert!(is_uuid_v7(body["request_id"].as_str().unwrap()));
    assert_eq!(res.header("content-type"), Some("application/problem+json"));

    // A bad credential is a 401 even on a public route.
    let (status, body, _) = get(addr, "/v2/health", "X-API-Key: ak_live_wrong").await;
    assert_eq!(
        (status, body["detail"].clone()),
        (401, json!("invalid API key"))
    );
    let (status, body, _) = get(addr, "/v2/health", "Authorization: Basic amFuZTp3cm9uZw==").await;
    assert_eq!(
        (status, body["detail"].clone()),
        (401, json!("invalid username or password"))
    );
    let (status, _, res) = get(addr, "/v2/health", "Authorization: Bearer a.b.c").await;
    assert_eq!(status, 401);
    assert_eq!(
        res.all("www-authenticate")[1],
        &br#"Bearer realm="api", error="invalid_token", error_description="malformed token""#[..]
    );
    // The query form of API keys is refused here.
    let (status, body, _) = get(
        addr,
        "/v2/me?api_key=ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c",
        "",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"],
        "API keys are not accepted in the query string; send the key in the header"
    );
}

#[tokio::test]
async fn scopes_per_route() {
    let addr = start().await;
    let (status, body, _) = get(addr, "/v2/posts", JANE).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["title"], "Hello, tower-shield");
    let (status, _, _) = get(addr, "/v2/search?q=tier", KEY).await;
    assert_eq!(status, 200);
    let (status, body, res) = get(addr, "/v2/posts", "").await;
    assert_eq!(status, 401);
    assert_eq!(res.all("www-authenticate").len(), 3);
    assert_eq!(
        body["detail"],
        "This resource needs authentication; no credentials were presented."
    );

    // Jane may read but not write; a Bearer principal without the scope gets RFC 6750's answer.
    let post = async |auth: &str| {
        let head = format!(
            "POST /v2/posts HTTP/1.1\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 14"
        );
        raw_with_body(addr, head.as_bytes(), br#"{"title":"Hi"}"#).await
    };
    let res = post(JANE).await;
    assert_eq!(res.status, 403);
    // Basic is no Bearer scheme: no RFC 6750 challenge, the same answer in the problem.
    assert_eq!(res.header("www-authenticate"), None);
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(body["detail"], "This request needs the scope write:posts.");
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["scope"], "write:posts");

    let res = post(KEY).await;
    assert_eq!(res.status, 201);
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(body["title"], "Hi");
    assert_eq!(body["author"], "demo-app");
    let id = body["id"].as_u64().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/v2/posts/{id}").as_str())
    );

    let del = |auth: &str, id: u64| format!("DELETE /v2/posts/{id} HTTP/1.1\r\n{auth}");
    let res = raw(addr, del(KEY, id).as_bytes()).await;
    assert_eq!(res.status, 403);
    let res = raw(addr, del(PREMIUM, id).as_bytes()).await;
    assert_eq!(res.status, 204);
    let res = raw(addr, del(PREMIUM, id).as_bytes()).await;
    assert_eq!(res.status, 404);
    // An id that is not UTF-8 names no post: the same problem, not axum's plain-text 400.
    let res = raw(
        addr,
        format!("DELETE /v2/posts/%ff HTTP/1.1\r\n{PREMIUM}").as_bytes(),
    )
    .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(body["detail"], "There is no such post.");
    assert!(body["request_id"].is_string());

    // What the validator accepts, the handler takes: OWS before the parameter (RFC 9110).
    let head = format!(
        "POST /v2/posts HTTP/1.1\r\n{KEY}\r\nContent-Type: application/json ; charset=utf-8\r\nContent-Length: 14"
    );
    let res = raw_with_body(addr, head.as_bytes(), br#"{"title":"Ho"}"#).await;
    assert_eq!(res.status, 201);
    // A key twice is refused by the validator, with its problem type.
    let dup = br#"{"title":"","title":"x"}"#;
    let head = format!(
        "POST /v2/posts HTTP/1.1\r\n{KEY}\r\nContent-Type: application/json\r\nContent-Length: {}",
        dup.len()
    );
    let res = raw_with_body(addr, head.as_bytes(), dup).await;
    assert_eq!(res.status, 400);
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(
        body["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-json"
    );
    assert_eq!(
        body["detail"],
        "The request body is not valid JSON: duplicate key `title` at line 1 column 19."
    );

    let mut claims = json!({
        "sub": "reader", "scope": "read:posts",
        "iss": quickstart::JWT_ISSUER, "aud": quickstart::JWT_AUDIENCE,
        "exp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60,
    });
    claims["tier"] = json!("premium");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(quickstart::JWT_PRIVATE_KEY).unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap();
    let res = raw(
        addr,
        del(&format!("Authorization: Bearer {token}"), 1).as_bytes(),
    )
    .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="delete:posts""#)
    );
    let (_, body, _) = get(addr, "/v2/me", &format!("Authorization: Bearer {token}")).await;
    assert_eq!(body["tier"], "premium");
}

#[tokio::test]
async fn post_bodies_are_json_only_and_bounded() {
    use tower::ServiceExt;
    let app = quickstart::app(&[], &quickstart::Credentials::demo()).unwrap();
    let post = |content_type: &str, body: Vec<u8>| {
        let mut req = http::Request::post("/v2/posts")
            .header("x-api-key", "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c")
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap();
        // The IP filter refuses a request without a peer address.
        let peer: std::net::SocketAddr = "192.0.2.30:40000".parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        req
    };
    let res = app
        .clone()
        .oneshot(post("text/plain", b"hi".to_vec()))
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let mut big = br#"{"title":"big","body":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    big.extend_from_slice(br#""}"#);
    let res = app
        .clone()
        .oneshot(post("application/json", big))
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#payload-too-large"
    );
    assert_eq!(
        body["detail"],
        "The request body is larger than the 1048576 bytes this route accepts."
    );
    let json_of = |res: http::Response<axum::body::Body>| async move {
        let bytes = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    // The schema: `title` a string of 1 to 200 characters, `body` at most 10,000, nothing else.
    let res = app
        .clone()
        .oneshot(post("application/json", b"{\"title\":1}".to_vec()))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(
        body["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#validation-failed"
    );
    assert_eq!(body["errors"][0]["pointer"], "/title");
    let res = app
        .clone()
        .oneshot(post(
            "application/json",
            br#"{"title":"ok","extra":true}"#.to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = app
        .clone()
        .oneshot(post("application/json", br#"{"body":"no title"}"#.to_vec()))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // A title of spaces only fits the schema (1-200 characters) but is no title: a 422 with
    // an `errors` list too.
    let res = app
        .clone()
        .oneshot(post("application/json", br#"{"title":"   "}"#.to_vec()))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(body["detail"], "A post needs a title.");
    assert_eq!(
        body["errors"],
        serde_json::json!([{"pointer": "/title", "message": "is blank"}])
    );
    let res = app
        .clone()
        .oneshot(post("application/json", b"{\"title\":".to_vec()))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = json_of(res).await;
    assert_eq!(
        body["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-json"
    );
    let res = app
        .oneshot(post("application/json", br#"{"title":"Hello"}"#.to_vec()))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// A request from `ip`, as `into_make_service_with_connect_info` would hand it to the app.
fn from_ip(ip: &str, uri: &str, header: Option<(&str, &str)>) -> http::Request<axum::body::Body> {
    let mut req = http::Request::get(uri);
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let mut req = req.body(axum::body::Body::empty()).unwrap();
    let addr: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    req
}

async fn send(
    app: &axum::Router,
    req: http::Request<axum::body::Body>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    (parts.status.as_u16(), parts.headers, body.to_vec())
}

fn limits(h: &http::HeaderMap) -> (&str, &str) {
    (
        h["x-ratelimit-limit"].to_str().unwrap(),
        h["x-ratelimit-remaining"].to_str().unwrap(),
    )
}

#[tokio::test]
async fn anonymous_clients_get_60_requests_an_hour_per_ip() {
    let app = quickstart::app(&[], &quickstart::Credentials::demo()).unwrap();
    for i in 0..60 {
        let (status, h, _) = send(&app, from_ip("192.0.2.10", "/v2/health", None)).await;
        assert_eq!(status, 200);
        assert_eq!(limits(&h), ("60", (59 - i).to_string().as_str()));
        let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // One request's worth comes back every minute.
        assert!(
            reset > now && reset <= now + 60 * (i + 1) + 1,
            "{reset} vs {now}"
        );
    }
    let (status, h, body) = send(&app, from_ip("192.0.2.10", "/v2/health", None)).await;
    assert_eq!(status, 429);
    assert_eq!(limits(&h), ("60", "0"));
    assert_eq!(h["retry-after"], "60");
    assert_eq!(h["content-type"], "application/problem+json");
    // The outer layers still dress the rejection.
    assert_eq!(h["x-content-type-options"], "nosniff");
    let id = h["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#rate-limited",
            "title": "Too Many Requests",
            "status": 429,
            "detail": "Rate limit exceeded (60 per hour). Retry in 60 seconds.",
            "request_id": id,
            "limit": "hourly",
            "retry_after": 60
        })
    );
    // Another client IP has its own 60.
    let (status, h, _) = send(&app, from_ip("192.0.2.11", "/v2/health", None)).await;
    assert_eq!((status, limits(&h)), (200, ("60", "59")));
    // A credential is its own counter, whatever the IP.
    let key = Some(("x-api-key", quickstart::DEMO_API_KEY));
    let (status, h, _) = send(&app, from_ip("192.0.2.10", "/v2/me", key)).await;
    assert_eq!((status, limits(&h)), (200, ("1000", "999")));
}

#[tokio::test]
async fn tiers_set_the_quota_and_search_has_its_own_burst() {
    let app = quickstart::app(&[], &quickstart::Credentials::demo()).unwrap();
    let demo = Some(("x-api-key", quickstart::DEMO_API_KEY));
    let premium = Some(("x-api-key", quickstart::PREMIUM_API_KEY));
    let jane = Some(("authorization", "Basic amFuZTpwYXNzd29yZDEyMw=="));
    let (_, h, _) = send(&app, from_ip("192.0.2.20", "/v2/me", premium)).await;
    assert_eq!(limits(&h), ("10000", "9999"));
    let (_, h, _) = send(&app, from_ip("192.0.2.20", "/v2/me", jane)).await;
    assert_eq!(limits(&h), ("1000", "999"));
    let (_, h, _) = send(&app, from_ip("192.0.2.20", "/v2/me", demo)).await;
    assert_eq!(limits(&h), ("1000", "999"));
    // The search route: 20 at once (its numbers are the tighter ones), then 429.
    for i in 0..20 {
        let (status, h, _) = send(&app, from_ip("192.0.2.20", "/v2/search?q=rust", demo)).await;
        assert_eq!(status, 200);
        assert_eq!(limits(&h), ("20", (19 - i).to_string().as_str()));
    }
    let (status, h, body) = send(&app, from_ip("192.0.2.20", "/v2/search?q=rust", demo)).await;
    assert_eq!(status, 429);
    assert_eq!(h["retry-after"], "1");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["limit"], "search");
    // The refused search did not spend the hourly quota: 1 + 20 requests so far.
    let (_, h, _) = send(&app, from_ip("192.0.2.20", "/v2/posts", demo)).await;
    assert_eq!(limits(&h), ("1000", "978"));
}

#[tokio::test]
async fn preflights_are_answered_before_the_rate_limit() {
    let addr = start().await;
    for _ in 0..70 {
        let res = raw(
            addr,
            b"OPTIONS /v2/posts HTTP/1.1\r\nOrigin: https://frontend.example.com\r\nAccess-Control-Request-Method: POST",
        )
        .await;
        assert_eq!(res.status, 204);
        assert_eq!(res.header("x-ratelimit-limit"), None);
    }
    let res = raw(
        addr,
        b"GET /v2/health HTTP/1.1\r\nOrigin: https://frontend.example.com",
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-ratelimit-remaining"), Some("59"));
    assert_eq!(
        res.header("access-control-expose-headers")
            .map(|v| v.contains("x-ratelimit-remaining")),
        Some(true)
    );
}

/// A Standard Webhooks signature of `id.ts.body` with the demo secret, computed here with the
/// crate's own dependencies (the interop tests check it against the reference libraries).
fn webhook_signature(id: &str, ts: u64, body: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = b64
        .decode(&quickstart::DEMO_WEBHOOK_SECRET["whsec_".len()..])
        .unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", b64.encode(tag.as_ref()))
}

async fn post_webhook(
    addr: std::net::SocketAddr,
    id: &str,
    ts: u64,
    signature: &str,
    body: &str,
) -> common::RawResponse {
    let head = format!(
        "POST /v2/webhooks HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         webhook-id: {id}\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {signature}",
        body.len()
    );
    raw_with_body(addr, head.as_bytes(), body.as_bytes()).await
}

#[tokio::test]
async fn webhooks_are_verified_once_and_fresh() {
    let addr = start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = r#"{"type":"ping"}"#;
    let sig = webhook_signature("msg_qs_1", now, body);
    let res = post_webhook(addr, "msg_qs_1", now, &sig, body).await;
    assert_eq!(res.status, 204);
    assert!(res.body.is_empty());

    // The same message again: a replay.
    let res = post_webhook(addr, "msg_qs_1", now, &sig, body).await;
    assert_eq!(res.status, 401);
    let problem: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(
        problem["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#signature-invalid"
    );
    assert_eq!(
        problem["detail"],
        "replayed message: its id was seen already"
    );

    // Signed correctly, but ten minutes old.
    let stale = now - 600;
    let sig = webhook_signature("msg_qs_2", stale, body);
    let res = post_webhook(addr, "msg_qs_2", stale, &sig, body).await;
    assert_eq!(res.status, 401);
    let problem: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(
        problem["detail"],
        "timestamp outside the tolerance of 300 seconds"
    );

    // A body changed after signing.
    let sig = webhook_signature("msg_qs_3", now, body);
    let res = post_webhook(addr, "msg_qs_3", now, &sig, r#"{"type":"pong"}"#).await;
    assert_eq!(res.status, 401);
    res.assert_json_api_headers();
}

/// The banner's ready command (a shell pipeline of `date`, `base64`, `od`, `openssl` and
/// `curl`) signs an event the server accepts; with its id fixed, the same command twice is a
/// replay.
#[tokio::test]
async fn the_banners_webhook_command_signs_and_sends_an_event() {
    if std::env::var_os("QUICKSTART_WEBHOOK_SECRET").is_some_and(|s| !s.is_empty()) {
        // The banner prints the command for the demo secret only.
        eprintln!("QUICKSTART_WEBHOOK_SECRET is set: the banner has no command to run");
        return;
    }
    let addr = start().await;
    let banner = quickstart::banner(addr, &[], &quickstart::Credentials::demo(), None);
    let start_at = banner.find("id=msg_").expect("the webhook command");
    let command: String = banner[start_at..]
        .lines()
        .take_while(|l| !l.is_empty())
        .take(4)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    assert!(
        command.starts_with("id=msg_$(date +%s); ts=$(date +%s); body='{\"type\":\"ping\"}'\n"),
        "{command}"
    );
    assert!(
        command.ends_with(&format!("http://{addr}/v2/webhooks\n")),
        "{command}"
    );
    let run = |command: String| async move {
        let out = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("set -eo pipefail\n{command}"))
            // A proxy of the machine's must not take the loopback request.
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .output()
            .await
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let out = run(command.clone()).await;
    assert!(out.starts_with("HTTP/1.1 204 No Content\r\n"), "{out}");

    let fixed = command.replacen("id=msg_$(date +%s)", "id=msg_banner_fixed", 1);
    let out = run(fixed.clone()).await;
    assert!(out.starts_with("HTTP/1.1 204 No Content\r\n"), "{out}");
    let out = run(fixed).await;
    assert!(out.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{out}");
    assert!(
        out.contains(r#""detail":"replayed message: its id was seen already""#),
        "{out}"
    );
}

#[tokio::test]
async fn quickstart_deny_ips_feeds_the_ip_deny_list() {
    use tower::ServiceExt;
    assert!(quickstart::ip_filter(&["10.0.0.0/33".to_owned()]).is_err());
    assert!(quickstart::ip_filter(&["10.1.2.3/8".to_owned()]).is_err());
    let filter =
        quickstart::ip_filter(&["192.0.2.0/24".to_owned(), "2001:db8::/32".to_owned()]).unwrap();
    let app = axum::Router::new()
        .route("/v2/health", axum::routing::get(|| async { "ok" }))
        .layer(filter);
    let res = app
        .clone()
        .oneshot(from_ip("192.0.2.7", "/v2/health", None))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#ip-not-allowed"
    );
    let res = app
        .oneshot(from_ip("198.51.100.7", "/v2/health", None))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn failed_basic_passwords_are_throttled_before_hashing() {
    let addr = start().await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        // jane:wrong
        let res = raw(
            addr,
            b"GET /v2/posts HTTP/1.1\r\nAuthorization: Basic amFuZTp3cm9uZw==",
        )
        .await;
        statuses.push(res.status);
        if res.status == 429 {
            assert_eq!(res.header("retry-after"), Some("1"));
            let body: Value = serde_json::from_slice(&res.body).unwrap();
            assert_eq!(
                body["type"],
                "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#login-throttled"
            );
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

/// A client that never finishes its request head (slowloris) is disconnected after
/// `HEADER_READ_TIMEOUT` (here 1 s): it cannot hold a connection for good.
#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = quickstart::app(&[], &quickstart::Credentials::demo()).unwrap();
    tokio::spawn(quickstart::serve_with_header_timeout(
        listener,
        app,
        std::time::Duration::from_secs(1),
    ));
    // A head begun and never finished, nothing at all, and the start of HTTP/2's preface.
    for sent in [
        &b"GET /v2/health HTTP/1.1\r\nHost: x\r\nX-Slow: 1"[..],
        b"",
        b"PRI * HTTP/2.0\r\n\r\nSM",
    ] {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_cut_off(stream, sent).await;
    }
}

/// Sends `sent` and never more: the server must close the connection (at most with a `4xx`),
/// long before 30 s (liveness, not speed).
async fn assert_cut_off<S>(mut stream: S, sent: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(sent).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the connection stayed open after {sent:?}"
    );
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 4"),
        "{sent:?}: {text}"
    );
}

/// After one request, a keep-alive connection that stays silent is closed after the header
/// read timeout too (hyper starts it again while waiting for the next head): idle connections
/// cannot pile up.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = quickstart::app(&[], &quickstart::Credentials::demo()).unwrap();
    tokio::spawn(quickstart::serve_with_header_timeout(
        listener,
        app,
        std::time::Duration::from_secs(1),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // Liveness, not speed: the answer, then the close, long before 30 s.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "the idle connection stayed open");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with(r#"{"status":"ok"}"#), "{text}");
}

/// The mTLS listener serves as the plain one does: a request over TLS is answered, and a
/// client that finishes its handshake, then sends half a head or nothing, is cut off after
/// the header read timeout (here 1 s).
#[cfg(feature = "mtls")]
#[tokio::test]
async fn the_mtls_listener_answers_and_cuts_off_slow_clients() {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::crypto::ring;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let dir = std::env::temp_dir().join(format!("tower-shield-qs-mtls-{}", std::process::id()));
    let config = quickstart::mtls::demo_pki(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = quickstart::app(&[], &quickstart::Credentials::demo()).unwrap();
    tokio::spawn(quickstart::mtls::serve_with_header_timeout(
        listener,
        config,
        app,
        std::time::Duration::from_secs(1),
    ));
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    let client = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.unwrap()
    };
    let mut tls = connect().await;
    tls.write_all(b"GET /v2/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with(r#"{"status":"ok"}"#), "{text}");
    for sent in [
        &b"GET /v2/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1"[..],
        b"",
    ] {
        assert_cut_off(connect().await, sent).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
