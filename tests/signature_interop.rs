//! Signatures made by implementations we did not write, verified by `SignatureLayer`: the
//! reference Python `standardwebhooks` package and the official node `stripe` package
//! (`generateTestHeaderString`). See `tests/interop_signature/mod.rs` for what they need.

mod common;
#[path = "interop_signature/mod.rs"]
mod interop;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use common::call;
use http::{Request, StatusCode};
use tower_shield::signature::SignatureLayer;
use tower_shield::{ManualClock, Principal};

const NOW: u64 = 1_718_451_800;
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn app(layer: SignatureLayer) -> Router {
    async fn echo(p: Principal, body: Bytes) -> String {
        format!("{}|{}", p.subject(), String::from_utf8_lossy(&body))
    }
    Router::new().route("/hook", post(echo)).layer(layer)
}

#[tokio::test]
async fn python_standardwebhooks_signatures_verify() {
    if interop::skipped("python_standardwebhooks_signatures_verify") {
        return;
    }
    let app = app(SignatureLayer::standard_webhooks()
        .secret("billing", SW_SECRET)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap());
    let bodies = [
        r#"{"type":"invoice.paid","data":{"id":"in_1","amount":4200}}"#.to_owned(),
        "ünïcödé ✓".to_owned(),
        String::new(),
        "x".repeat(100_000),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let id = format!("msg_py_{i}");
        let sig = interop::py_standard_webhooks_sign(SW_SECRET, &id, NOW, body);
        assert!(sig.starts_with("v1,"), "{sig}");
        let req = Request::post("/hook")
            .header("webhook-id", &id)
            .header("webhook-timestamp", NOW.to_string())
            .header("webhook-signature", &sig)
            .body(Body::from(body.clone()))
            .unwrap();
        let (status, _, got) = call(&app, req).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "body {i}: {}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(got, format!("billing|{body}"));
    }
    // Signed by the package for another body: refused.
    let sig = interop::py_standard_webhooks_sign(SW_SECRET, "msg_py_x", NOW, "{}");
    let req = Request::post("/hook")
        .header("webhook-id", "msg_py_x")
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", &sig)
        .body(Body::from("{ }"))
        .unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn node_stripe_test_headers_verify() {
    if interop::skipped("node_stripe_test_headers_verify") {
        return;
    }
    let secret = "whsec_test_5Yb3mcLiNB1Um8Y2cRWnn2nGkqu5pzzc";
    let app = app(SignatureLayer::stripe()
        .secret("acct_interop", secret)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap());
    let payload = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;
    let header = interop::node_stripe_header(secret, NOW, payload);
    assert!(header.starts_with(&format!("t={NOW},v1=")), "{header}");
    let req = |header: &str, payload: &str| {
        Request::post("/hook")
            .header("stripe-signature", header)
            .body(Body::from(payload.to_owned()))
            .unwrap()
    };
    let (status, _, got) = call(&app, req(&header, payload)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&got));
    assert_eq!(got, format!("acct_interop|{payload}"));
    // Another secret's header: refused.
    let other = interop::node_stripe_header("whsec_other", NOW, payload);
    assert_eq!(
        call(&app, req(&other, payload)).await.0,
        StatusCode::UNAUTHORIZED
    );
}
