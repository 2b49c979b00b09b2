//! `SignatureLayer` replay protection on a real redis-server that the test starts on a free
//! port (never a shared 127.0.0.1:6379): two layer instances, each with its own `RedisStore`
//! on the same server, refuse a message the other one accepted (`SET NX PX`), with the exact
//! `401` problem; and the id is forgotten once its expiry (twice the tolerance) has passed.

#![cfg(all(feature = "redis", feature = "signature", feature = "axum"))]

mod common;
#[path = "common/redis.rs"]
mod redis_support;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::call;
use http::{Request, StatusCode};
use redis_support::RedisServer;
use serde_json::{Value, json};
use tower_shield::rate_limit::RedisStore;
use tower_shield::signature::{SignatureLayer, SigningKey};
use tower_shield::{ManualClock, Principal};

const NOW: u64 = 1_718_451_800;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &str = r#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;
const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

/// One instance: its own layer and its own connection to the shared server. The tolerance is
/// one second, so an id is remembered for two; the layer's clock stands still, so the
/// timestamp stays within the tolerance while Redis's own clock runs.
fn instance(url: &str, prefix: &str) -> Router {
    let store = RedisStore::builder(url)
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .tolerance(Duration::from_secs(1))
        .clock(ManualClock::at_unix_secs(NOW))
        .replay_store(store)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/hook",
            post(|p: Principal, body: Bytes| async move {
                format!("{}|{}", p.subject(), String::from_utf8_lossy(&body))
            }),
        )
        .layer(layer)
}

fn signed() -> Request<Body> {
    let key = STANDARD.decode(&SECRET[6..]).unwrap();
    let tag = SigningKey::hmac_sha256(key)
        .sign(format!("{ID}.{NOW}.{BODY}").as_bytes())
        .unwrap();
    Request::post("/hook")
        .header("webhook-id", ID)
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", format!("v1,{}", STANDARD.encode(tag)))
        .body(Body::from(BODY))
        .unwrap()
}

async fn accepted(app: &Router) {
    let (status, _, body) = call(app, signed()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, format!("billing|{BODY}"));
}

async fn refused_as_replay(app: &Router) {
    let (status, headers, body) = call(app, signed()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        problem,
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#signature-invalid",
            "title": "Invalid signature",
            "status": 401,
            "detail": "replayed message: its id was seen already",
        })
    );
}

/// The remembered keys under `prefix`, with their time to live in milliseconds.
fn remembered(server: &RedisServer, prefix: &str) -> Vec<(String, i64)> {
    let keys = server.cli(&["KEYS", &format!("{prefix}*")]);
    keys.lines()
        .filter(|k| !k.is_empty())
        .map(|k| (k.to_owned(), server.cli(&["PTTL", k]).parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_replay_to_another_instance_on_the_same_redis_is_refused_until_the_id_expires() {
    let server = RedisServer::start();
    let url = server.url();
    let prefix = "sig-test:";
    let (a, b) = (instance(&url, prefix), instance(&url, prefix));

    accepted(&a).await;
    // One key, remembered for twice the tolerance and a second (3 s), in the remember
    // namespace.
    let keys = remembered(&server, prefix);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (key, ttl) = &keys[0];
    assert!(key.starts_with("sig-test:remember:{"), "{key}");
    assert!(*ttl > 2_000 && *ttl <= 3_000, "PTTL {ttl}");

    // The other instance, its own connection: a replay.
    refused_as_replay(&b).await;
    refused_as_replay(&a).await;
    assert_eq!(remembered(&server, prefix).len(), 1);

    // Redis forgets the id when its expiry passes; then the message is new to both.
    tokio::time::sleep(Duration::from_millis(u64::try_from(*ttl).unwrap() + 150)).await;
    assert_eq!(remembered(&server, prefix), vec![]);
    accepted(&b).await;
    refused_as_replay(&a).await;
}

/// A message the handler failed is forgotten in Redis too (a `DEL` on a task, the answer not
/// waiting for it): the sender's retry reaches the handler on either instance, and once it is
/// answered `2xx` the message is a replay everywhere.
#[tokio::test]
async fn a_failed_message_is_forgotten_on_every_instance() {
    let server = RedisServer::start();
    let url = server.url();
    let prefix = "sig-fail:";
    let failing = {
        let store = RedisStore::builder(&url)
            .prefix(prefix)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Router::new()
            .route("/hook", post(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .layer(
                SignatureLayer::standard_webhooks()
                    .secret("billing", SECRET)
                    .clock(ManualClock::at_unix_secs(NOW))
                    .replay_store(store)
                    .build()
                    .unwrap(),
            )
    };
    let (status, _, _) = call(&failing, signed()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // The key goes when the task has run.
    let mut waited = 0;
    while !remembered(&server, prefix).is_empty() {
        assert!(waited < 2_000, "the failed message is still remembered");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 10;
    }
    let other = instance(&url, prefix);
    accepted(&other).await;
    assert_eq!(remembered(&server, prefix).len(), 1);
    refused_as_replay(&other).await;
    // A failure on the first instance now: a replay, refused before its handler.
    let (status, _, _) = call(&failing, signed()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(remembered(&server, prefix).len(), 1);
}
