//! `client::SigningLayer`: outbound requests signed in the Standard Webhooks and RFC 9421
//! formats — verified by our `SignatureLayer`, by the RFC's own example (Ed25519 signatures
//! are deterministic: B.2.6 is reproduced byte for byte), and by third-party implementations
//! (Python `standardwebhooks` and `http-message-signatures`, both ways for RFC 9421).

#[path = "interop_signature/mod.rs"]
mod interop;
#[path = "common/signing.rs"]
mod signing;

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use signing::{Sent, doc, send};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::client::SigningLayer;
use tower_shield::signature::{Algorithm, SignatureLayer, SignedBody, SigningKey, VerifyingKey};
use tower_shield::{ManualClock, Principal};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_718_451_800;

fn rfc_file(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/interop_signature/rfc9421/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("key file")
}

/// Hands `req` to a verifying `layer`: its status and the principal's subject.
async fn receive(layer: &SignatureLayer, req: Request<Bytes>) -> (StatusCode, String) {
    let server = layer.layer(service_fn(|req: Request<SignedBody>| async move {
        let subject = req
            .extensions()
            .get::<Principal>()
            .map(|p| p.subject().to_owned())
            .unwrap_or_default();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(subject))))
    }));
    let res = server.oneshot(req.map(Full::new)).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn standard_webhooks_outbound_verifies_here_and_in_python() {
    let clock = ManualClock::at_unix_secs(NOW);
    let signer = SigningLayer::standard_webhooks()
        .secret(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    let body = r#"{"type":"invoice.paid","id":"evt_1"}"#;
    let sent = send(&signer, post("https://hooks.example.com/in", body)).await;
    let h = sent.headers();
    assert!(h["webhook-id"].to_str().unwrap().starts_with("msg_"));
    assert_eq!(h["webhook-timestamp"], NOW.to_string());
    assert_eq!(sent.body(), body);
    let verifier = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .clock(clock)
        .build()
        .unwrap();
    assert_eq!(
        receive(&verifier, sent.clone()).await,
        (StatusCode::OK, "billing".into())
    );

    if interop::skipped("standard_webhooks_outbound_verifies_in_python") {
        return;
    }
    // The package checks the timestamp against the real clock: sign now.
    let signer = SigningLayer::standard_webhooks()
        .secret(SECRET)
        .build()
        .unwrap();
    let sent = send(&signer, post("https://hooks.example.com/in", body)).await;
    let header = |n: &str| sent.headers()[n].to_str().unwrap().to_owned();
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let headers = [
        ("webhook-id", id.as_str()),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", sig.as_str()),
    ];
    assert_eq!(
        interop::py_standard_webhooks_verify(SECRET, &headers, body),
        Ok(())
    );
    let wrong = interop::py_standard_webhooks_verify(SECRET, &headers, "{}");
    assert!(wrong.is_err(), "{wrong:?}");
}

#[tokio::test]
async fn rfc9421_b_2_6_is_reproduced_byte_for_byte() {
    let key = SigningKey::private_key_pem(Algorithm::Ed25519, &rfc_file("test-key-ed25519.pem"))
        .unwrap()
        .with_id("test-key-ed25519");
    let signer = SigningLayer::http_message_signatures()
        .key(key)
        .components([
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ])
        .label("sig-b26")
        .nonce(false)
        .clock(ManualClock::at_unix_secs(1_618_884_473))
        .build()
        .unwrap();
    let req = Request::post("https://example.com/foo?param=Value&Pet=dog")
        .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .header("content-type", "application/json")
        .header("content-length", "18")
        .body(Full::new(Bytes::from_static(br#"{"hello": "world"}"#)))
        .unwrap();
    let sent = send(&signer, req).await;
    assert_eq!(
        sent.headers()["signature-input"],
        r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#
    );
    assert_eq!(
        sent.headers()["signature"],
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
    );
}

fn rfc_verifying_keys() -> Vec<VerifyingKey> {
    let secret = STANDARD.decode(rfc_file("test-shared-secret.b64")).unwrap();
    vec![
        VerifyingKey::hmac_sha256("partner-hmac", secret).with_id("test-shared-secret"),
        VerifyingKey::public_key_pem(
            "partner-ed",
            Algorithm::Ed25519,
            &rfc_file("test-key-ed25519.pub.pem"),
        )
        .unwrap()
        .with_id("test-key-ed25519"),
    ]
}

fn rfc_signing_key(id: &str) -> SigningKey {
    match id {
        "test-shared-secret" => {
            SigningKey::hmac_sha256(STANDARD.decode(rfc_file("test-shared-secret.b64")).unwrap())
                .with_id(id)
        }
        _ => SigningKey::private_key_pem(Algorithm::Ed25519, &rfc_file("test-key-ed25519.pem"))
            .unwrap()
            .with_id(id),
    }
}

#[tokio::test]
async fn rfc9421_outbound_verifies_here_and_in_python_and_back() {
    let mut verifier = SignatureLayer::http_message_signatures();
    for key in rfc_verifying_keys() {
        verifier = verifier.key(key);
    }
    let verifier = verifier.build().unwrap();
    for key_id in ["test-shared-secret", "test-key-ed25519"] {
        let signer = SigningLayer::http_message_signatures()
            .key(rfc_signing_key(key_id))
            .tag("interop")
            .build()
            .unwrap();
        let sent = send(
            &signer,
            post("https://api.example.com/orders?id=7", r#"{"qty":2}"#),
        )
        .await;
        assert!(
            sent.headers()["content-digest"]
                .to_str()
                .unwrap()
                .starts_with("sha-256=:")
        );
        let owner = if key_id == "test-shared-secret" {
            "partner-hmac"
        } else {
            "partner-ed"
        };
        assert_eq!(
            receive(&verifier, sent.clone()).await,
            (StatusCode::OK, owner.into())
        );
        // The same request again: its nonce was seen.
        assert_eq!(
            receive(&verifier, sent.clone()).await.0,
            StatusCode::UNAUTHORIZED
        );
        // A changed body: its digest does not match.
        let mut tampered = sent.clone();
        *tampered.body_mut() = Bytes::from_static(br#"{"qty":20}"#);
        let (status, body) = receive(&verifier, tampered).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            body.contains("Content-Digest does not match the body"),
            "{body}"
        );

        if interop::skipped("rfc9421_outbound_verifies_in_python") {
            continue;
        }
        assert_eq!(
            interop::py_http_sig_verify(&doc(&sent, key_id)),
            Ok(()),
            "{key_id}"
        );
        let mut wrong = doc(&sent, key_id);
        wrong["body"] = json!("{\"qty\":3}");
        assert!(interop::py_http_sig_verify(&wrong).is_err());

        // Signed by the package, verified here.
        let request = json!({
            "method": "POST",
            "url": "https://api.example.com/orders?id=8",
            "headers": {"content-type": "application/json"},
            "body": "{\"qty\":5}",
            "key_id": key_id,
            "covered": ["@method", "@authority", "@path", "@query", "content-type"],
            "nonce": format!("n-{key_id}"),
        });
        let added = interop::py_http_sig_sign(&request);
        let mut req = Request::post("https://api.example.com/orders?id=8");
        for (k, v) in &added {
            req = req.header(k.as_str(), v.as_str().unwrap());
        }
        let req = req.body(Bytes::from_static(b"{\"qty\":5}")).unwrap();
        let (status, body) = receive(&verifier, req).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, owner),
            "{added:?}"
        );
    }
}

/// RFC 9421 section 4.3: a message may carry several signatures. A second signer (another
/// label, another key) adds its own beside the first one's, and each verifies; the same
/// label again is not signed over (it would make one member of two).
#[tokio::test]
async fn a_second_outbound_signature_is_added_beside_the_first() {
    let first = SigningLayer::http_message_signatures()
        .key(rfc_signing_key("test-shared-secret"))
        .label("hop1")
        .build()
        .unwrap();
    let second = |label: &str| {
        SigningLayer::http_message_signatures()
            .key(rfc_signing_key("test-key-ed25519"))
            .label(label)
            .build()
            .unwrap()
    };
    let once = send(&first, post("https://api.example.com/orders?id=7", "{}")).await;
    let again = |label: &str| {
        let (parts, body) = once.clone().into_parts();
        let client = second(label).layer(service_fn(|req: Request<SignedBody>| async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let mut res = Response::new(Full::new(Bytes::new()));
            res.extensions_mut()
                .insert(Request::from_parts(parts, body));
            Ok::<_, Infallible>(res)
        }));
        client.oneshot(Request::from_parts(parts, Full::new(body)))
    };
    let res = again("hop2").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let twice = res.extensions().get::<Request<Bytes>>().unwrap().clone();
    let lines = |name: &str| twice.headers().get_all(name).iter().count();
    assert_eq!((lines("signature-input"), lines("signature")), (2, 2));
    for (key, owner) in [(0, "partner-hmac"), (1, "partner-ed")] {
        let verifier = SignatureLayer::http_message_signatures()
            .key(rfc_verifying_keys().swap_remove(key))
            .build()
            .unwrap();
        assert_eq!(
            receive(&verifier, twice.clone()).await,
            (StatusCode::OK, owner.into()),
            "{owner}"
        );
    }
    let res = again("hop1").await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn an_outbound_body_over_the_limit_is_not_sent() {
    let signer = SigningLayer::standard_webhooks()
        .secret(SECRET)
        .max_body(8)
        .build()
        .unwrap();
    let sent: Sent = Arc::default();
    let keep = Arc::clone(&sent);
    let client = signer.layer(service_fn(move |_: Request<SignedBody>| {
        let keep = Arc::clone(&keep);
        async move {
            *keep.lock().unwrap() = Some(Request::new(Bytes::new()));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    }));
    let res = client
        .oneshot(post("https://x.example/", "0123456789"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(sent.lock().unwrap().is_none());
}

/// A `webhook-id` given by the caller that Standard Webhooks cannot sign unambiguously (a
/// `.`, a space, nothing, too long) is not sent: the message `id.timestamp.body` would read
/// two ways, and receivers of this crate refuse it. A valid one is signed as given.
#[tokio::test]
async fn an_outbound_webhook_id_that_cannot_be_signed_is_not_sent() {
    let signer = SigningLayer::standard_webhooks()
        .secret(SECRET)
        .build()
        .unwrap();
    let sent: Sent = Arc::default();
    let keep = Arc::clone(&sent);
    let client = signer.layer(service_fn(move |req: Request<SignedBody>| {
        let keep = Arc::clone(&keep);
        async move {
            let (parts, _) = req.into_parts();
            *keep.lock().unwrap() = Some(Request::from_parts(parts, Bytes::new()));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    }));
    let long = "m".repeat(257);
    for id in ["msg.1", "msg 1", "", long.as_str()] {
        let mut req = post("https://x.example/", "{}");
        req.headers_mut().insert("webhook-id", id.parse().unwrap());
        let res = client.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{id:?}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            problem["detail"],
            "the request's webhook-id cannot be signed: it must be 1 to 256 visible ASCII \
             characters, none of them `.`"
        );
        assert!(sent.lock().unwrap().is_none(), "{id:?} was sent");
    }
    let mut req = post("https://x.example/", "{}");
    req.headers_mut().insert(
        "webhook-id",
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".parse().unwrap(),
    );
    assert_eq!(client.oneshot(req).await.unwrap().status(), StatusCode::OK);
    let sent = sent.lock().unwrap().take().unwrap();
    assert_eq!(
        sent.headers()["webhook-id"],
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    );
}

#[test]
fn parameters_no_structured_field_can_carry_are_refused_at_build() {
    use tower_shield::signature::ConfigError;
    let build = |id: &str, label: &str, tag: Option<&str>| {
        let signer = SigningLayer::http_message_signatures()
            .key(SigningKey::hmac_sha256(b"secret").with_id(id))
            .label(label);
        match tag {
            Some(tag) => signer.tag(tag),
            None => signer,
        }
        .build()
    };
    let refused = |result: Result<SigningLayer, ConfigError>| match result {
        Err(ConfigError::InvalidParameter { name, value, .. }) => (name, value),
        other => panic!("expected InvalidParameter, got {other:?}"),
    };
    // A label is a dictionary key: lowercase, no spaces.
    assert_eq!(
        refused(build("k1", "Sig1", None)),
        ("label", "Sig1".to_owned())
    );
    assert_eq!(
        refused(build("k1", "sig 1", None)),
        ("label", "sig 1".to_owned())
    );
    assert_eq!(refused(build("k1", "", None)), ("label", String::new()));
    // Key ids and tags are strings: printable ASCII only.
    assert_eq!(
        refused(build("key\tone", "sig1", None)),
        ("keyid", "key\tone".to_owned())
    );
    assert_eq!(
        refused(build("k1", "sig1", Some("café"))),
        ("tag", "café".to_owned())
    );
    let message = build("k1", "sig1", Some("line\nbreak"))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some(
            "signature: the tag \"line\\nbreak\" cannot be written in a signature header: \
             string not printable ASCII"
        )
    );
    // What they can carry builds, quotes and backslashes included (escaped when written).
    assert!(build("k-1.b", "sig*1_x", Some("app \"x\" \\ y")).is_ok());
}
