//! Bad input to `SignatureLayer` for Stripe, GitHub and RFC 9421, through a Router: each header
//! empty, badly encoded, with wrong prefixes, huge, with hundreds of signatures, duplicated, or
//! with a timestamp that overflows, is a `401` `signature-invalid` problem whose detail names
//! the rule, never a panic, and never the secret or the expected signature. (Standard
//! Webhooks' table is in `tests/signature.rs`.)

mod common;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use common::call;
use http::{HeaderValue, Request, StatusCode};
use serde_json::Value;
use tower_shield::ManualClock;
use tower_shield::signature::{SignatureLayer, SigningKey, VerifyingKey};

const NOW: u64 = 1_718_451_800;
const STRIPE_SECRET: &str = "whsec_test_secret_stripe_0123456789";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const HTTP_SECRET: &[u8] = b"rfc9421-bad-input-secret-0123456789";
const BODY: &str = r#"{"type":"invoice.paid"}"#;

fn app(layer: SignatureLayer) -> Router {
    async fn ok(_: Bytes) -> &'static str {
        "ok"
    }
    Router::new().route("/hook", post(ok)).layer(layer)
}

fn hex(tag: &[u8]) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    SigningKey::hmac_sha256(secret).sign(message).unwrap()
}

fn request(headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut req = Request::post("/hook");
    for (name, value) in headers {
        req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    req.body(Body::from(BODY)).unwrap()
}

/// Sends each request and checks the exact `401` problem, and that neither the secret nor the
/// expected signature shows in the answer.
async fn assert_refusals(app: &Router, cases: Vec<(Request<Body>, &str)>, never: &[&str]) {
    for (req, want) in cases {
        let (status, headers, body) = call(app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{want}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{want}"
        );
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            problem["type"],
            "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#signature-invalid",
            "{want}"
        );
        assert_eq!(problem["status"], 401, "{want}");
        assert_eq!(problem["detail"], want);
        let text = String::from_utf8_lossy(&body);
        for secret in never {
            assert!(!text.contains(secret), "{want}: {text}");
        }
    }
}

#[tokio::test]
async fn stripe_bad_headers_are_401_problems_that_name_the_rule() {
    let app = app(SignatureLayer::stripe()
        .secret("acct", STRIPE_SECRET)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap());
    let good = hex(&hmac(
        STRIPE_SECRET.as_bytes(),
        format!("{NOW}.{BODY}").as_bytes(),
    ));
    let h = |v: String| request(&[("stripe-signature", v.as_bytes())]);
    let hundreds = format!("t={NOW},{}", vec!["v1=00"; 300].join(","));
    let huge = format!("t={NOW},v1={}", "a".repeat(10_000));
    let cases = vec![
        (request(&[]), "missing stripe-signature header"),
        (h(String::new()), "malformed stripe-signature header: empty"),
        (
            h(format!("t=99999999999999999999,v1={good}")),
            "malformed stripe-signature header: not a Unix timestamp",
        ),
        (
            h(format!("t=-1,v1={good}")),
            "malformed stripe-signature header: not a Unix timestamp",
        ),
        (
            h(format!("t={NOW},t={NOW},v1={good}")),
            "malformed stripe-signature header: more than one timestamp",
        ),
        (
            h(format!("v1={good}")),
            "malformed stripe-signature header: no timestamp",
        ),
        (
            h(format!("t={NOW},v0={good}")),
            "malformed stripe-signature header: no v1 signature",
        ),
        (
            h(format!("t={NOW},v1={}", good.to_uppercase())),
            "malformed stripe-signature header: v1 is not 64 hex digits",
        ),
        (
            h(format!("t={NOW},v1=zz{}", &good[2..])),
            "malformed stripe-signature header: v1 is not 64 hex digits",
        ),
        (
            h(format!("sha256={good}")),
            "malformed stripe-signature header: no timestamp",
        ),
        (
            h("garbage".to_owned()),
            "malformed stripe-signature header: expected key=value items",
        ),
        (
            h(hundreds),
            "malformed stripe-signature header: too many items",
        ),
        (h(huge), "malformed stripe-signature header: too long"),
        (
            request(&[(
                "stripe-signature",
                format!("t={NOW},v1={}\u{e9}", &good[..63]).as_bytes(),
            )]),
            "malformed stripe-signature header: not visible ASCII",
        ),
        (
            request(&[
                ("stripe-signature", format!("t={NOW},v1={good}").as_bytes()),
                ("stripe-signature", format!("t={NOW},v1={good}").as_bytes()),
            ]),
            "duplicated stripe-signature header",
        ),
        (
            h(format!("t={},v1={good}", NOW - 301)),
            "timestamp outside the tolerance of 300 seconds",
        ),
        (
            h(format!("t={NOW},v1={}", "0".repeat(64))),
            "no matching signature",
        ),
    ];
    assert_refusals(&app, cases, &[STRIPE_SECRET, &good]).await;
}

#[tokio::test]
async fn github_bad_headers_are_401_problems_that_name_the_rule() {
    let app = app(SignatureLayer::github()
        .secret("repo", GITHUB_SECRET)
        .build()
        .unwrap());
    let good = hex(&hmac(GITHUB_SECRET.as_bytes(), BODY.as_bytes()));
    let h = |v: String| request(&[("x-hub-signature-256", v.as_bytes())]);
    let cases = vec![
        (request(&[]), "missing x-hub-signature-256 header"),
        (
            h(String::new()),
            "malformed x-hub-signature-256 header: empty",
        ),
        (
            h(good.clone()),
            "malformed x-hub-signature-256 header: expected sha256=<hex>",
        ),
        (
            h(format!("sha1={good}")),
            "malformed x-hub-signature-256 header: expected sha256=<hex>",
        ),
        (
            h(format!("SHA256={good}")),
            "malformed x-hub-signature-256 header: expected sha256=<hex>",
        ),
        (
            h(format!("sha256={}", good.to_uppercase())),
            "malformed x-hub-signature-256 header: expected 64 lowercase hex digits",
        ),
        (
            h(format!("sha256={good}00")),
            "malformed x-hub-signature-256 header: expected 64 lowercase hex digits",
        ),
        (
            h(format!("sha256={}", "a".repeat(10_000))),
            "malformed x-hub-signature-256 header: too long",
        ),
        (
            request(&[
                ("x-hub-signature-256", format!("sha256={good}").as_bytes()),
                ("x-hub-signature-256", format!("sha256={good}").as_bytes()),
            ]),
            "duplicated x-hub-signature-256 header",
        ),
        (
            h(format!("sha256={}", "0".repeat(64))),
            "no matching signature",
        ),
    ];
    assert_refusals(&app, cases, &[GITHUB_SECRET, &good]).await;
}

#[tokio::test]
async fn http_message_signature_bad_headers_are_401_problems_that_name_the_rule() {
    let app = app(SignatureLayer::http_message_signatures()
        .key(VerifyingKey::hmac_sha256("partner", HTTP_SECRET).with_id("k1"))
        .require_components(["@method"])
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap());
    let input = format!(r#"sig1=("@method");created={NOW};keyid="k1""#);
    let base = format!(
        "\"@method\": POST\n\"@signature-params\": (\"@method\");created={NOW};keyid=\"k1\""
    );
    let good = base64_encode(&hmac(HTTP_SECRET, base.as_bytes()));
    let signature = format!("sig1=:{good}:");
    let both = |input: &str, signature: &str| {
        request(&[
            ("signature-input", input.as_bytes()),
            ("signature", signature.as_bytes()),
        ])
    };
    let seventeen_inputs = (0..17)
        .map(|i| format!(r#"s{i}=("@method");created={NOW};keyid="k1""#))
        .collect::<Vec<_>>()
        .join(", ");
    let seventeen_sigs = (0..17)
        .map(|i| format!("s{i}=:{good}:"))
        .collect::<Vec<_>>()
        .join(", ");
    let huge = format!(
        r#"sig1=("@method");created={NOW};keyid="{}""#,
        "k".repeat(10_000)
    );
    let cases = vec![
        (
            request(&[("signature", signature.as_bytes())]),
            "missing signature-input header",
        ),
        (
            request(&[("signature-input", input.as_bytes())]),
            "missing signature header",
        ),
        (
            both("", &signature),
            "malformed signature-input header: empty",
        ),
        (
            both("sig1", &signature),
            "malformed signature-input header: expected an inner list",
        ),
        (
            both(&input, "sig1=abc"),
            "malformed signature header: expected a byte sequence",
        ),
        (
            both(&input, "sig1=:not base64!:"),
            "malformed signature header: byte sequence is not base64",
        ),
        (
            both(&input, &format!("sig1=:{good}")),
            "malformed signature header: unterminated byte sequence",
        ),
        (
            both(&input, &format!("sig1=:{good}, sig2=x")),
            "malformed signature header: unterminated byte sequence",
        ),
        (
            both(&seventeen_inputs, &seventeen_sigs),
            "malformed signature-input header: too many signatures",
        ),
        (
            both(&huge, &signature),
            "malformed signature-input header: too long",
        ),
        (
            both(
                r#"sig1=("@method");created=99999999999999999999;keyid="k1""#,
                &signature,
            ),
            "malformed signature-input header: number too long",
        ),
        (
            both(
                &format!(r#"sig1=("@method");created={};keyid="k1""#, NOW - 301),
                &signature,
            ),
            "timestamp outside the tolerance of 300 seconds",
        ),
        (
            both(
                &format!(r#"sig1=("@method");created={NOW};keyid="k2""#),
                &signature,
            ),
            "unknown key id",
        ),
        (
            both(&input, &format!("sig1=:{}:", base64_encode(&[0; 32]))),
            "no matching signature",
        ),
    ];
    let secret = String::from_utf8(HTTP_SECRET.to_vec()).unwrap();
    assert_refusals(&app, cases, &[&good, &secret]).await;
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A body over the limit sent chunked, without `Content-Length`, over a real connection
/// (`axum::serve`): a `413` `payload-too-large` problem naming the limit. (That no more than
/// the limit is buffered is counted frame by frame in `tests/signature.rs`.)
#[tokio::test]
async fn a_chunked_body_over_the_limit_on_a_socket_is_413() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(SignatureLayer::github()
        .secret("repo", GITHUB_SECRET)
        .max_body(64)
        .build()
        .unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let chunk = "y".repeat(50);
    let body = format!("32\r\n{chunk}\r\n32\r\n{chunk}\r\n32\r\n{chunk}\r\n0\r\n\r\n");
    let tag = hex(&hmac(GITHUB_SECRET.as_bytes(), chunk.repeat(3).as_bytes()));
    let head = format!(
        "POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Hub-Signature-256: sha256={tag}"
    );
    let res = common::raw_with_body(addr, head.as_bytes(), body.as_bytes()).await;
    assert_eq!(res.status, 413);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let problem: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(
        problem["type"],
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#payload-too-large"
    );
    assert_eq!(problem["status"], 413);
    assert_eq!(problem["detail"], "the body is larger than 64 bytes");
    assert_eq!(problem["limit"], 64);

    // Within the limit, the same way, it is verified.
    let small = "z".repeat(40);
    let tag = hex(&hmac(GITHUB_SECRET.as_bytes(), small.as_bytes()));
    let head = format!(
        "POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Hub-Signature-256: sha256={tag}"
    );
    let body = format!("28\r\n{small}\r\n0\r\n\r\n");
    let res = common::raw_with_body(addr, head.as_bytes(), body.as_bytes()).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"ok");
}
