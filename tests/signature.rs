//! `SignatureLayer` through a real Router: Standard Webhooks (HMAC and Ed25519), Stripe and
//! GitHub; rotation, tolerance, replays (also across two layers sharing a store), bad input,
//! body limits (declared and streamed), the principal and store failures.

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::call;
use http::{Request, StatusCode};
use http_body::Frame;
use serde_json::Value;
use tower_shield::auth::AuthMethod;
use tower_shield::rate_limit::{Check, MemoryStore, Pending, Store};
use tower_shield::signature::{SignatureLayer, SigningKey};
use tower_shield::{ManualClock, Principal};

const NOW: u64 = 1_718_451_800;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_dGhlIG9sZCBzZWNyZXQ=";
const BODY: &str = r#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;

fn clock() -> ManualClock {
    ManualClock::at_unix_secs(NOW)
}

/// The handler answers what it saw: the body and the principal.
fn app(layer: SignatureLayer) -> Router {
    async fn echo(p: Principal, body: Bytes) -> String {
        format!(
            "{}|{}|{}|{}",
            p.subject(),
            p.method(),
            p.key_id().unwrap_or("-"),
            String::from_utf8_lossy(&body)
        )
    }
    Router::new().route("/hook", post(echo)).layer(layer)
}

fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let tag = SigningKey::hmac_sha256(secret).sign(message).unwrap();
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

fn sw_sig(secret: &str, id: &str, ts: u64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let tag = SigningKey::hmac_sha256(key)
        .sign(format!("{id}.{ts}.{body}").as_bytes())
        .unwrap();
    format!("v1,{}", STANDARD.encode(tag))
}

fn sw_request(id: &str, ts: &str, sig: &str, body: &str) -> Request<Body> {
    Request::post("/hook")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts)
        .header("webhook-signature", sig)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn sw_layer(clock: &ManualClock) -> SignatureLayer {
    SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn refused(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let (status, headers, body) = call(app, req).await;
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            problem["type"],
            "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#signature-invalid"
        );
    }
    (status, detail)
}

#[tokio::test]
async fn standard_webhooks_signed_request_reaches_the_handler_with_its_body_and_principal() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    let sig = sw_sig(SECRET, "msg_1", NOW, BODY);
    let (status, _, body) = call(&app, sw_request("msg_1", &NOW.to_string(), &sig, BODY)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, format!("billing|signature|-|{BODY}"));
}

#[tokio::test]
async fn rotation_any_listed_signature_of_any_key_passes() {
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .secret("billing-old", OLD_SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    // Signed with the old secret only, beside an unknown version and a wrong v1.
    let old = sw_sig(OLD_SECRET, "msg_2", NOW, BODY);
    let header = format!("v2,Zm9v v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {old}");
    let (status, _, body) = call(&app, sw_request("msg_2", &NOW.to_string(), &header, BODY)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"billing-old|"));
}

#[tokio::test]
async fn a_replayed_message_id_is_refused() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    let sig = sw_sig(SECRET, "msg_3", NOW, BODY);
    let req = || sw_request("msg_3", &NOW.to_string(), &sig, BODY);
    assert_eq!(call(&app, req()).await.0, StatusCode::OK);
    let (status, detail) = refused(&app, req()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(detail, "replayed message: its id was seen already");
    // Still refused near the end of the span; forgotten after twice the tolerance, when the
    // timestamp is stale anyway.
    clock.advance(Duration::from_secs(299));
    assert_eq!(
        refused(&app, req()).await.1,
        "replayed message: its id was seen already"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        refused(&app, req()).await.1,
        "timestamp outside the tolerance of 300 seconds"
    );
}

/// A message the handler failed (an error status) is forgotten: the sender's retry, with a
/// new timestamp and signature as Standard Webhooks retries (or the same bytes), reaches the
/// handler again, and once a retry is answered `2xx` the message is remembered for good.
#[tokio::test]
async fn a_message_the_handler_failed_can_be_retried() {
    let clock = clock();
    let failures = Arc::new(AtomicUsize::new(2));
    let calls = Arc::new(AtomicUsize::new(0));
    let (f, c) = (Arc::clone(&failures), Arc::clone(&calls));
    let app = Router::new()
        .route(
            "/hook",
            post(move || {
                let (f, c) = (Arc::clone(&f), Arc::clone(&c));
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    match f.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
                        // First a 500, then a 422: both failures.
                        Ok(2) => StatusCode::INTERNAL_SERVER_ERROR,
                        Ok(_) => StatusCode::UNPROCESSABLE_ENTITY,
                        Err(_) => StatusCode::NO_CONTENT,
                    }
                }
            }),
        )
        .layer(sw_layer(&clock));
    let attempt = |ts: u64| {
        sw_request(
            "msg_retry",
            &ts.to_string(),
            &sw_sig(SECRET, "msg_retry", ts, BODY),
            BODY,
        )
    };
    assert_eq!(
        call(&app, attempt(NOW)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // The same bytes again: the failed message was forgotten.
    assert_eq!(
        call(&app, attempt(NOW)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The sender's retry five seconds later, signed anew.
    clock.advance(Duration::from_secs(5));
    assert_eq!(call(&app, attempt(NOW + 5)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Delivered: any copy of it now is a replay, the handler not called.
    for ts in [NOW, NOW + 5] {
        let (status, detail) = refused(&app, attempt(ts)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(detail, "replayed message: its id was seen already");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// A message signed for rotation under a new and an old secret (of differently named owners,
/// as a rotation names them), replayed with only the old secret's signature: the same message,
/// refused. The replay memory knows a message by what it says, not by the key that verified it.
#[tokio::test]
async fn a_replay_keeping_only_the_old_secrets_signature_is_refused() {
    let clock = clock();
    let webhooks = app(SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .secret("billing-old", OLD_SECRET)
        .clock(clock.clone())
        .build()
        .unwrap());
    let new = sw_sig(SECRET, "msg_rot", NOW, BODY);
    let old = sw_sig(OLD_SECRET, "msg_rot", NOW, BODY);
    let req = |sig: &str| sw_request("msg_rot", &NOW.to_string(), sig, BODY);
    let (status, _, body) = call(&webhooks, req(&format!("{new} {old}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"billing|"));
    for sig in [old.as_str(), new.as_str()] {
        assert_eq!(
            refused(&webhooks, req(sig)).await.1,
            "replayed message: its id was seen already",
            "{sig}"
        );
    }

    // Stripe, both orders of the secrets: the message is known by its tag under the first
    // configured secret, whichever verified it.
    for (first, second) in [
        ("whsec_new_secret", "whsec_old_secret"),
        ("whsec_old_secret", "whsec_new_secret"),
    ] {
        let stripe = app(SignatureLayer::stripe()
            .secret("acct_new", first)
            .secret("acct_old", second)
            .clock(clock.clone())
            .build()
            .unwrap());
        let v1 = |secret: &str| hmac_hex(secret.as_bytes(), format!("{NOW}.{BODY}").as_bytes());
        let (new, old) = (v1("whsec_new_secret"), v1("whsec_old_secret"));
        let req = |header: String| {
            Request::post("/hook")
                .header("stripe-signature", header)
                .body(Body::from(BODY))
                .unwrap()
        };
        let (status, _, _) = call(&stripe, req(format!("t={NOW},v1={new},v1={old}"))).await;
        assert_eq!(status, StatusCode::OK, "{first} first");
        for only in [&old, &new] {
            assert_eq!(
                refused(&stripe, req(format!("t={NOW},v1={only}"))).await.1,
                "replayed message: its id was seen already",
                "{first} first, v1={only}"
            );
        }
    }
}

/// A timestamp as far ahead as the tolerance allows is accepted until the tolerance past it:
/// twice the tolerance after it was first seen, to the second. Its id is remembered that long
/// and a second more, so the last second is no window for a replay.
#[tokio::test]
async fn a_message_is_remembered_as_long_as_its_timestamp_is_accepted() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    let ts = NOW + 300;
    let sig = sw_sig(SECRET, "msg_edge", ts, BODY);
    let req = || sw_request("msg_edge", &ts.to_string(), &sig, BODY);
    assert_eq!(call(&app, req()).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        refused(&app, req()).await.1,
        "replayed message: its id was seen already"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        refused(&app, req()).await.1,
        "timestamp outside the tolerance of 300 seconds"
    );
}

#[tokio::test]
async fn a_replay_to_another_instance_sharing_the_store_is_refused() {
    let clock = clock();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let instance = || {
        app(SignatureLayer::standard_webhooks()
            .secret("billing", SECRET)
            .clock(clock.clone())
            .replay_store(store.clone())
            .build()
            .unwrap())
    };
    let (a, b) = (instance(), instance());
    let sig = sw_sig(SECRET, "msg_4", NOW, BODY);
    let req = || sw_request("msg_4", &NOW.to_string(), &sig, BODY);
    assert_eq!(call(&a, req()).await.0, StatusCode::OK);
    assert_eq!(refused(&b, req()).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn timestamps_outside_the_tolerance_are_refused_both_ways() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    for ts in [NOW - 301, NOW + 301] {
        let id = format!("msg_ts_{ts}");
        let sig = sw_sig(SECRET, &id, ts, BODY);
        let (status, detail) = refused(&app, sw_request(&id, &ts.to_string(), &sig, BODY)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(detail, "timestamp outside the tolerance of 300 seconds");
    }
    for ts in [NOW - 300, NOW + 300] {
        let id = format!("msg_ok_{ts}");
        let sig = sw_sig(SECRET, &id, ts, BODY);
        let (status, _, _) = call(&app, sw_request(&id, &ts.to_string(), &sig, BODY)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_tampered_body_or_id_has_no_matching_signature() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    let sig = sw_sig(SECRET, "msg_5", NOW, BODY);
    let tampered = BODY.replace("in_1", "in_2");
    let (status, detail) =
        refused(&app, sw_request("msg_5", &NOW.to_string(), &sig, &tampered)).await;
    assert_eq!(
        (status, detail.as_str()),
        (StatusCode::UNAUTHORIZED, "no matching signature")
    );
    let (_, detail) = refused(&app, sw_request("msg_6", &NOW.to_string(), &sig, BODY)).await;
    assert_eq!(detail, "no matching signature");
}

#[tokio::test]
async fn bad_headers_are_401_problems_that_name_the_rule_and_never_the_secret() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    let ts = NOW.to_string();
    let good = sw_sig(SECRET, "msg_7", NOW, BODY);
    let many = vec!["v1,AAAA"; 300].join(" ");
    let huge = format!("v1,{}", "A".repeat(10_000));
    let cases: Vec<(Request<Body>, &str)> = vec![
        (
            Request::post("/hook").body(Body::from(BODY)).unwrap(),
            "missing webhook-id header",
        ),
        (
            sw_request("msg_7", "", &good, BODY),
            "malformed webhook-timestamp header: empty",
        ),
        (
            sw_request("msg_7", "99999999999999999999", &good, BODY),
            "malformed webhook-timestamp header: not a Unix timestamp",
        ),
        (
            sw_request("msg_7", "-5", &good, BODY),
            "malformed webhook-timestamp header: not a Unix timestamp",
        ),
        (
            sw_request("msg_7", &ts, "v1,not base64!", BODY),
            "malformed webhook-signature header: signature is not base64",
        ),
        (
            sw_request("msg_7", &ts, "v1;abc", BODY),
            "malformed webhook-signature header: expected version,signature",
        ),
        (
            sw_request("msg_7", &ts, "v2,Zm9v", BODY),
            "malformed webhook-signature header: no v1 or v1a signature",
        ),
        (
            sw_request("msg_7", &ts, &many, BODY),
            "malformed webhook-signature header: too many signatures",
        ),
        (
            sw_request("msg_7", &ts, &huge, BODY),
            "malformed webhook-signature header: too long",
        ),
        (
            sw_request("msg.7", &ts, &good, BODY),
            "malformed webhook-id header: not a message id",
        ),
        (
            Request::post("/hook")
                .header("webhook-id", "msg_7")
                .header("webhook-timestamp", &ts)
                .header("webhook-signature", &good)
                .header("webhook-signature", &good)
                .body(Body::from(BODY))
                .unwrap(),
            "duplicated webhook-signature header",
        ),
        (
            Request::post("/hook")
                .header("webhook-id", "msg_7")
                .header("webhook-timestamp", &ts)
                .header(
                    "webhook-signature",
                    http::HeaderValue::from_bytes(b"v1,\xff").unwrap(),
                )
                .body(Body::from(BODY))
                .unwrap(),
            "malformed webhook-signature header: not visible ASCII",
        ),
    ];
    let expected_tag = good.trim_start_matches("v1,");
    for (req, want) in cases {
        let (status, headers, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{want}");
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["detail"], want);
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("MfKQ9r8G") && !text.contains(expected_tag),
            "{text}"
        );
    }
}

#[tokio::test]
async fn ed25519_v1a_signatures_verify_with_the_whpk_key() {
    let signer = SigningKey::ed25519_seed(&[7; 32]).unwrap();
    let public = format!("whpk_{}", STANDARD.encode(signer.public_key().unwrap()));
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .public_key("partner", &public)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    let sig = signer
        .sign(format!("msg_8.{NOW}.{BODY}").as_bytes())
        .unwrap();
    let header = format!("v1a,{}", STANDARD.encode(&sig));
    let (status, _, body) = call(&app, sw_request("msg_8", &NOW.to_string(), &header, BODY)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(body.starts_with(b"partner|signature|"));
    // The same bytes as a v1 (HMAC) signature do not pass.
    let header = format!("v1,{}", STANDARD.encode(&sig));
    assert_eq!(
        refused(&app, sw_request("msg_9", &NOW.to_string(), &header, BODY))
            .await
            .1,
        "no matching signature"
    );
}

#[tokio::test]
async fn stripe_signatures_verify_and_replays_are_refused() {
    let secret = "whsec_test_secret";
    let clock = clock();
    let layer = SignatureLayer::stripe()
        .secret("acct_1", secret)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    let v1 = hmac_hex(secret.as_bytes(), format!("{NOW}.{BODY}").as_bytes());
    let req = |header: &str| {
        Request::post("/hook")
            .header("stripe-signature", header)
            .body(Body::from(BODY))
            .unwrap()
    };
    let header = format!(
        "t={NOW},v1={v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    );
    let (status, _, body) = call(&app, req(&header)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(body.starts_with(b"acct_1|signature|"));
    // The same message again, its signatures reordered and padded: a replay.
    let padded = format!("v1={},t={NOW},v1={v1}", "0".repeat(64));
    assert_eq!(
        refused(&app, req(&padded)).await.1,
        "replayed message: its id was seen already"
    );
    for (header, want) in [
        (
            format!("t={NOW}"),
            "malformed stripe-signature header: no v1 signature",
        ),
        (
            format!("v1={v1}"),
            "malformed stripe-signature header: no timestamp",
        ),
        (
            format!("t={NOW},t={NOW},v1={v1}"),
            "malformed stripe-signature header: more than one timestamp",
        ),
        (
            format!("t={NOW},v1=abc"),
            "malformed stripe-signature header: v1 is not 64 hex digits",
        ),
        (
            format!("t=1e9,v1={v1}"),
            "malformed stripe-signature header: not a Unix timestamp",
        ),
        (
            format!("t={},v1={v1}", NOW - 1000),
            "timestamp outside the tolerance of 300 seconds",
        ),
        (
            format!("t={NOW},v1={}", "ab".repeat(32)),
            "no matching signature",
        ),
    ] {
        assert_eq!(refused(&app, req(&header)).await.1, want);
    }
}

/// A GitHub layer with `secret`, replays refused in memory.
fn app_of_github(secret: &str) -> Router {
    app(SignatureLayer::github()
        .secret("octo-org/hooks", secret)
        .build()
        .unwrap())
}

#[tokio::test]
async fn githubs_documented_example_verifies() {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    let secret = "It's a Secret to Everybody";
    let payload = "Hello, World!";
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        format!("sha256={}", hmac_hex(secret.as_bytes(), payload.as_bytes())),
        expected
    );
    let app = app_of_github(secret);
    let req = |sig: &str, delivery: Option<&str>| {
        let mut req = Request::post("/hook").header("x-hub-signature-256", sig);
        if let Some(d) = delivery {
            req = req.header("x-github-delivery", d);
        }
        req.body(Body::from(payload)).unwrap()
    };
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let (status, _, body) = call(&app, req(expected, Some(delivery))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "octo-org/hooks|signature|-|Hello, World!");
    assert_eq!(
        refused(&app, req(expected, Some(delivery))).await.1,
        "replayed message: its id was seen already"
    );
    // `X-GitHub-Delivery` is not signed: a replay under another id, or none, is the same
    // delivery, known by its signed body.
    for other in [Some("d-2"), None] {
        assert_eq!(
            refused(&app, req(expected, other)).await.1,
            "replayed message: its id was seen already",
            "{other:?}"
        );
    }
    // A delivery without the id is verified (GitHub always sends one; the layer needs none).
    let fresh = app_of_github(secret);
    let (status, _, _) = call(&fresh, req(expected, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        refused(&app, req("sha1=757107ea", Some("d2"))).await.1,
        "malformed x-hub-signature-256 header: expected sha256=<hex>"
    );
    let wrong = expected.replace("757", "758");
    assert_eq!(
        refused(&app, req(&wrong, Some("d3"))).await.1,
        "no matching signature"
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_413() {
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .max_body(1024)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    let body = "x".repeat(1025);
    let sig = sw_sig(SECRET, "msg_10", NOW, &body);
    let (status, _, problem) =
        call(&app, sw_request("msg_10", &NOW.to_string(), &sig, &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = serde_json::from_slice(&problem).unwrap();
    assert_eq!(problem["limit"], 1024);
    assert_eq!(problem["detail"], "the body is larger than 1024 bytes");
    // At the limit it passes.
    let body = "x".repeat(1024);
    let sig = sw_sig(SECRET, "msg_11", NOW, &body);
    let (status, _, _) = call(&app, sw_request("msg_11", &NOW.to_string(), &sig, &body)).await;
    assert_eq!(status, StatusCode::OK);
}

/// An endless chunked body without `Content-Length`, counting the bytes it gave.
struct Endless(Arc<AtomicUsize>);

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.fetch_add(4096, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 4096])))))
    }
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_413_without_reading_past_it() {
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .max_body(64 * 1024)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    let given = Arc::new(AtomicUsize::new(0));
    let sig = sw_sig(SECRET, "msg_12", NOW, "");
    let req = Request::post("/hook")
        .header("webhook-id", "msg_12")
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", sig)
        .body(Body::new(Endless(Arc::clone(&given))))
        .unwrap();
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(given.load(Ordering::SeqCst), 64 * 1024 + 4096);
}

#[tokio::test]
async fn bad_headers_are_refused_before_the_body_is_read() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    let given = Arc::new(AtomicUsize::new(0));
    let req = Request::post("/hook")
        .body(Body::new(Endless(Arc::clone(&given))))
        .unwrap();
    assert_eq!(refused(&app, req).await.1, "missing webhook-id header");
    assert_eq!(given.load(Ordering::SeqCst), 0);
}

/// A store that cannot remember (the trait's default).
struct Forgetful;

impl Store for Forgetful {
    fn decide(&self, _: &[Check<'_>]) -> Pending {
        unreachable!("not a rate limit")
    }
}

#[tokio::test]
async fn a_failing_replay_store_fails_closed_with_503() {
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .replay_store(Forgetful)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    let sig = sw_sig(SECRET, "msg_13", NOW, BODY);
    let (status, detail) = refused(&app, sw_request("msg_13", &NOW.to_string(), &sig, BODY)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        detail,
        "the replay check could not be made; try again later"
    );
}

#[tokio::test]
async fn without_replay_protection_a_replay_passes() {
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .replay_protection(false)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    let sig = sw_sig(SECRET, "msg_14", NOW, BODY);
    for _ in 0..2 {
        let (status, _, _) = call(&app, sw_request("msg_14", &NOW.to_string(), &sig, BODY)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[test]
fn the_principal_method_is_signature() {
    assert_eq!(AuthMethod::Signature.as_str(), "signature");
    assert!(!AuthMethod::Signature.is_bearer());
}

/// A body that is not ready when first polled, then arrives in two frames (as a slow client's
/// does): `Pending` once, waking itself.
struct Late {
    parts: Vec<Bytes>,
    waited: bool,
}

impl http_body::Body for Late {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if !self.waited {
            self.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.parts.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(self.parts.remove(0)))))
    }
}

fn late(body: &str) -> Body {
    let (a, b) = body.split_at(body.len() / 2);
    Body::new(Late {
        parts: vec![Bytes::from(a.to_owned()), Bytes::from(b.to_owned())],
        waited: false,
    })
}

/// A body read after the headers (the layer waits for it) is verified against headers looked
/// up again; one in memory, against the headers as first read. Both ways: the right body
/// passes and reaches the handler whole, a tampered one does not, nor a replay.
#[tokio::test]
async fn a_body_that_arrives_later_is_verified_as_one_at_hand() {
    let clock = clock();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .replay_protection(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(layer);
    for (id, later) in [("msg_late_1", true), ("msg_now_1", false)] {
        let sig = sw_sig(SECRET, id, NOW, BODY);
        let request = |body: &str| {
            let req = sw_request(id, &NOW.to_string(), &sig, "");
            let (parts, _) = req.into_parts();
            let body = if later {
                late(body)
            } else {
                Body::from(body.to_owned())
            };
            Request::from_parts(parts, body)
        };
        let tampered = BODY.replace("in_1", "in_2");
        let (status, _, text) = call(&app, request(&tampered)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{id}: {text:?}");
        let (status, _, text) = call(&app, request(BODY)).await;
        assert_eq!(status, StatusCode::OK, "{id}");
        assert_eq!(
            &text[..],
            format!("billing|signature|-|{BODY}").as_bytes(),
            "{id}"
        );
        let (status, _, text) = call(&app, request(BODY)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{id}: replayed");
        assert!(
            String::from_utf8_lossy(&text).contains("replay"),
            "{id}: {text:?}"
        );
    }
}

/// The timestamp is signed as the number it is, as the reference libraries sign it: a header
/// written with leading zeros is verified against the digits without them (and refused when
/// the sender signed the zeros), whether the body is at hand or arrives later.
#[tokio::test]
async fn a_timestamp_with_leading_zeros_is_signed_as_its_number() {
    let clock = clock();
    let app = app(sw_layer(&clock));
    for later in [false, true] {
        let padded = format!("00{NOW}");
        for (signed_as, want) in [
            (NOW.to_string(), StatusCode::OK),
            (padded.clone(), StatusCode::UNAUTHORIZED),
        ] {
            // A fresh id each time: replays are refused by default.
            let id = &format!("msg_pad_{later}_{}", signed_as.len());
            let key = STANDARD
                .decode(SECRET.trim_start_matches("whsec_"))
                .unwrap();
            let tag = SigningKey::hmac_sha256(key)
                .sign(format!("{id}.{signed_as}.{BODY}").as_bytes())
                .unwrap();
            let sig = format!("v1,{}", STANDARD.encode(tag));
            let (parts, _) = sw_request(id, &padded, &sig, "").into_parts();
            let body = if later { late(BODY) } else { Body::from(BODY) };
            let (status, _, text) = call(&app, Request::from_parts(parts, body)).await;
            assert_eq!(
                status, want,
                "later {later}, signed as {signed_as}: {text:?}"
            );
        }
    }
}

/// A body in scripted frames: `None` is one `Pending` (the waker woken at once), `Some` a frame
/// of data, then the end.
struct Frames(Vec<Option<&'static str>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0.is_empty() {
            return Poll::Ready(None);
        }
        match self.0.remove(0) {
            None => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(data) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(data.as_bytes()))))),
        }
    }
}

/// Sends `body` with headers signing `signed` to the layer directly (no Router), as a body of
/// type `B`: the status, and the body the inner service got.
async fn through<B>(layer: &SignatureLayer, id: &str, signed: &str, body: B) -> (StatusCode, Bytes)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
{
    use tower::ServiceExt as _;
    use tower_layer::Layer as _;
    use tower_shield::signature::SignedBody;
    let inner = tower::service_fn(|req: Request<SignedBody>| async move {
        let got = req.body().bytes().cloned().unwrap_or_default();
        Ok::<_, Infallible>(http::Response::new(Body::from(got)))
    });
    let sig = sw_sig(SECRET, id, NOW, signed);
    let req = Request::post("/hook")
        .header("webhook-id", id)
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .unwrap();
    let res = layer.layer(inner).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, bytes)
}

/// Whatever its type (an axum `Body`, read without a box as far as its frames are ready, or any
/// other, read by a boxed future) and however its frames come (all at once, split, with waits
/// before, between or after them, empty ones), a body is verified whole and handed on
/// unchanged; tampered, it is refused; past the limit in frames that come late, it is a 413.
#[tokio::test]
async fn bodies_of_any_type_and_in_any_frames_are_verified_whole() {
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .max_body(64)
        .clock(clock())
        .build()
        .unwrap();
    let (a, b) = BODY.split_at(20);
    let scripts: Vec<Vec<Option<&'static str>>> = vec![
        vec![Some(BODY)],
        vec![Some(a), Some(b)],
        vec![None, Some(BODY)],
        vec![Some(a), None, Some(b)],
        vec![Some(""), Some(a), Some(""), None, None, Some(b), None],
    ];
    for (i, script) in scripts.into_iter().enumerate() {
        let id = format!("msg_frames_{i}");
        let want = (StatusCode::OK, Bytes::from_static(BODY.as_bytes()));
        // Replay protection is on: an id per request.
        let (any, axum) = (format!("{id}_any"), format!("{id}_axum"));
        let generic = through(&layer, &any, BODY, Frames(script.clone())).await;
        assert_eq!(generic, want, "{script:?}, any body");
        let known = through(&layer, &axum, BODY, Body::new(Frames(script.clone()))).await;
        assert_eq!(known, want, "{script:?}, axum body");
        let signed_other = BODY.replace("in_1", "in_2");
        let (any, axum) = (format!("{id}_any_t"), format!("{id}_axum_t"));
        let generic = through(&layer, &any, &signed_other, Frames(script.clone())).await;
        assert_eq!(generic.0, StatusCode::UNAUTHORIZED, "{script:?}, any body");
        let known = through(
            &layer,
            &axum,
            &signed_other,
            Body::new(Frames(script.clone())),
        )
        .await;
        assert_eq!(known.0, StatusCode::UNAUTHORIZED, "{script:?}, axum body");
    }
    let long = "0123456789012345678901234567890123456789";
    for script in [
        vec![Some(long), Some(long)],
        vec![Some(long), None, Some(long)],
        vec![None, Some(long), Some(long)],
    ] {
        let signed = format!("{long}{long}");
        let generic = through(&layer, "msg_long_1", &signed, Frames(script.clone())).await;
        assert_eq!(
            generic.0,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{script:?}, any body"
        );
        let known = through(
            &layer,
            "msg_long_2",
            &signed,
            Body::new(Frames(script.clone())),
        )
        .await;
        assert_eq!(
            known.0,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{script:?}, axum body"
        );
    }
}
