//! What an outbound `SigningLayer` puts on the wire, for the signature tests (included with
//! `#[path]` by the tests that sign).
#![allow(dead_code)] // each test uses what it needs

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::client::SigningLayer;
use tower_shield::signature::SignedBody;

/// Where a test's inner service keeps the request it was handed.
pub type Sent = Arc<Mutex<Option<Request<Bytes>>>>;

/// Signs `req` with `layer` and returns what would have gone on the wire.
pub async fn send(layer: &SigningLayer, req: Request<Full<Bytes>>) -> Request<Bytes> {
    let sent: Sent = Arc::default();
    let keep = Arc::clone(&sent);
    let client = layer.layer(service_fn(move |req: Request<SignedBody>| {
        let keep = Arc::clone(&keep);
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            *keep.lock().unwrap() = Some(Request::from_parts(parts, body));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    }));
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    sent.lock().unwrap().take().expect("sent")
}

/// The request as the Python RFC 9421 helper (`rfc9421_httpsig.py`) reads it.
pub fn doc(req: &Request<Bytes>, key_id: &str) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().into()))
        .collect();
    serde_json::json!({
        "method": req.method().as_str(),
        "url": req.uri().to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(req.body()),
        "key_id": key_id,
    })
}
