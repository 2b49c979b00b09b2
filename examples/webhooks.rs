//! Receiving and sending signed webhooks: `cargo run --example webhooks --features signature`.
//!
//! The receiver, `POST /webhooks`, accepts Standard Webhooks signed with the demo secret (or
//! `WEBHOOK_SECRET`), refuses replays and stale timestamps, and answers `204`. The example then
//! sends itself one event signed by `client::SigningLayer`, and the same event again (a replay,
//! refused), and prints what happened.

use std::convert::Infallible;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::routing::post;
use http::Request;
use http_body_util::BodyExt;
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::Principal;
use tower_shield::client::SigningLayer;
use tower_shield::signature::{SignatureLayer, SignedBody};

const DEMO_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receive(principal: Principal, body: Bytes) -> StatusCode {
    println!(
        "received {} bytes from {} ({})",
        body.len(),
        principal.subject(),
        principal.method()
    );
    StatusCode::NO_CONTENT
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("WEBHOOK_SECRET").unwrap_or_else(|_| DEMO_SECRET.to_owned());
    let app = Router::new().route("/webhooks", post(receive)).layer(
        SignatureLayer::standard_webhooks()
            .secret("demo-sender", &secret)
            .build()?,
    );

    // The sender: any tower client; here it hands the signed request to the app directly.
    let signing = SigningLayer::standard_webhooks().secret(&secret).build()?;
    let sent = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = sent.clone();
    let app_for_client = app.clone();
    let client = signing.layer(service_fn(move |req: Request<SignedBody>| {
        let app = app_for_client.clone();
        let keep = keep.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            *keep.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Request::from_parts(parts.clone(), body.clone()));
            let res = app
                .oneshot(Request::from_parts(parts, Body::from(body)))
                .await?;
            Ok::<_, Infallible>(res)
        }
    }));
    let event = r#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;
    let req = Request::post("http://localhost/webhooks")
        .header("content-type", "application/json")
        .body(event.to_owned())?;
    let res = client.oneshot(req).await?;
    println!("signed event: {}", res.status());

    let replay = sent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or("nothing was sent")?;
    let res = app.oneshot(replay.map(Body::from)).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    println!(
        "the same event again: {status} {}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}
