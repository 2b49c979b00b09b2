//! RFC 9421 with the public-key algorithms besides Ed25519 — `ecdsa-p256-sha256`,
//! `rsa-pss-sha512` and `rsa-v1_5-sha256`: outbound requests signed by `client::SigningLayer`
//! are verified by our `SignatureLayer` (and refused, with the exact problem, once tampered
//! with) and by the Python `http-message-signatures` package; that package's signatures are
//! verified here, and its `rsa-v1_5-sha256` signature — deterministic — is the one we make,
//! byte for byte.
//!
//! Keys: `tests/keys/ec_private.pem` / `ec_public.pem` (P-256, PKCS#8 and SPKI) and
//! `tests/keys/sig_rsa_private.pem` / `sig_rsa_public.pem` (RSA 2048, PKCS#1 and SPKI, made with
//! `openssl genrsa -traditional 2048`), used under the key ids `ec-p256`, `rsa-pss` and
//! `rsa-v1_5` by `tests/interop_signature/rfc9421_httpsig.py` too.

#[path = "interop_signature/mod.rs"]
mod interop;
#[path = "common/signing.rs"]
mod signing;

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use signing::{doc, send};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::client::SigningLayer;
use tower_shield::signature::{Algorithm, SignatureLayer, SignedBody, SigningKey, VerifyingKey};
use tower_shield::{ManualClock, Principal};

const NOW: u64 = 1_718_451_800;
const URL: &str = "https://api.example.com/orders?id=8";
const BODY: &str = r#"{"qty":5}"#;
/// `Content-Digest` of [`BODY`] (`printf '{"qty":5}' | openssl dgst -sha256 -binary | base64`).
const DIGEST: &str = "sha-256=:pRMqxXV5rG/Z5f/1nPBXdLOx6qqJAgxUr93XeZAPk5s=:";
/// What the signers cover in these tests.
const COMPONENTS: [&str; 6] = [
    "@method",
    "@authority",
    "@path",
    "@query",
    "content-type",
    "content-digest",
];
const COVERED: &str =
    r#"("@method" "@authority" "@path" "@query" "content-type" "content-digest")"#;

/// One algorithm under test: its key id (as `rfc9421_httpsig.py` knows it), key files and owner.
struct Case {
    key_id: &'static str,
    alg: Algorithm,
    private: &'static str,
    public: &'static str,
    owner: &'static str,
    /// The length of a signature, in bytes.
    signature_len: usize,
}

const CASES: [Case; 3] = [
    Case {
        key_id: "ec-p256",
        alg: Algorithm::EcdsaP256Sha256,
        private: "ec_private.pem",
        public: "ec_public.pem",
        owner: "partner-ec",
        signature_len: 64,
    },
    Case {
        key_id: "rsa-pss",
        alg: Algorithm::RsaPssSha512,
        private: "sig_rsa_private.pem",
        public: "sig_rsa_public.pem",
        owner: "partner-pss",
        signature_len: 256,
    },
    Case {
        key_id: "rsa-v1_5",
        alg: Algorithm::RsaV15Sha256,
        private: "sig_rsa_private.pem",
        public: "sig_rsa_public.pem",
        owner: "partner-rsa",
        signature_len: 256,
    },
];

fn key_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("key file")
}

impl Case {
    fn signing_key(&self) -> SigningKey {
        SigningKey::private_key_pem(self.alg, &key_file(self.private))
            .unwrap()
            .with_id(self.key_id)
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::public_key_pem(self.owner, self.alg, &key_file(self.public))
            .unwrap()
            .with_id(self.key_id)
    }

    /// A signer over [`COMPONENTS`], without a nonce (so `Signature-Input` is exact).
    fn signer(&self, clock: Option<ManualClock>, alg: bool) -> SigningLayer {
        let mut signer = SigningLayer::http_message_signatures()
            .key(self.signing_key())
            .components(COMPONENTS)
            .nonce(false)
            .alg(alg);
        if let Some(clock) = clock {
            signer = signer.clock(clock);
        }
        signer.build().unwrap()
    }
}

/// A verifier knowing the three public keys, on `clock` (or the system clock), with the default
/// policy (`@method`, `@authority`, `@path` and `content-digest` must be covered) and replay
/// protection.
fn verifier(clock: Option<ManualClock>) -> SignatureLayer {
    let mut builder = SignatureLayer::http_message_signatures();
    for case in &CASES {
        builder = builder.key(case.verifying_key());
    }
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    builder.build().unwrap()
}

/// What a verifying `layer` answers to `req`: `Ok` with the principal (`owner|method|key id`)
/// and the body the handler read, or `Err` with the status, content type and problem.
async fn receive(
    layer: &SignatureLayer,
    req: Request<Bytes>,
) -> Result<String, (StatusCode, String, Value)> {
    let server = layer.layer(service_fn(|req: Request<SignedBody>| async move {
        let p = req.extensions().get::<Principal>().cloned();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let seen = match p {
            Some(p) => format!(
                "{}|{}|{}|{}",
                p.subject(),
                p.method(),
                p.key_id().unwrap_or("-"),
                String::from_utf8_lossy(&body)
            ),
            None => "no principal".to_owned(),
        };
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(seen))))
    }));
    let res = server.oneshot(req.map(Full::new)).await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    if status == StatusCode::OK {
        Ok(String::from_utf8(body.to_vec()).unwrap())
    } else {
        Err((status, content_type, serde_json::from_slice(&body).unwrap()))
    }
}

/// The `401` answer whose problem details `detail`.
/// A copy of the signed `req` with another body is refused for its digest, and one with another
/// `Content-Type` (a covered header) for its signature.
async fn refuses_a_changed_body_and_content_type(
    verifier: &SignatureLayer,
    req: &Request<Bytes>,
    case: &str,
) {
    let mut body = req.clone();
    *body.body_mut() = Bytes::from_static(br#"{"qty":50}"#);
    assert_eq!(
        receive(verifier, body).await,
        invalid("Content-Digest does not match the body"),
        "{case}"
    );
    let mut content_type = req.clone();
    content_type
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        receive(verifier, content_type).await,
        invalid("no matching signature"),
        "{case}"
    );
}

fn invalid(detail: &str) -> Result<String, (StatusCode, String, Value)> {
    Err((
        StatusCode::UNAUTHORIZED,
        "application/problem+json".to_owned(),
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#signature-invalid",
            "title": "Invalid signature",
            "status": 401,
            "detail": detail,
        }),
    ))
}

fn post() -> Request<Full<Bytes>> {
    Request::post(URL)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

fn header(req: &Request<Bytes>, name: &str) -> String {
    req.headers()[name].to_str().unwrap().to_owned()
}

/// The bytes of `Signature: sig1=:<base64>:`.
fn signature_bytes(value: &str) -> Vec<u8> {
    let b64 = value
        .strip_prefix("sig1=:")
        .and_then(|v| v.strip_suffix(':'))
        .unwrap_or_else(|| panic!("not one sig1 byte sequence: {value}"));
    STANDARD.decode(b64).unwrap()
}

#[tokio::test]
async fn each_algorithm_signs_and_our_layer_verifies_then_refuses_tampering() {
    for case in &CASES {
        let clock = ManualClock::at_unix_secs(NOW);
        let verifier = verifier(Some(clock.clone()));
        for alg in [false, true] {
            let sent = send(&case.signer(Some(clock.clone()), alg), post()).await;
            let key_id = case.key_id;
            let alg_param = if alg {
                format!(r#";alg="{}""#, case.alg.name())
            } else {
                String::new()
            };
            assert_eq!(
                header(&sent, "signature-input"),
                format!(r#"sig1={COVERED};created={NOW};keyid="{key_id}"{alg_param}"#),
                "{key_id}"
            );
            assert_eq!(header(&sent, "content-digest"), DIGEST);
            assert_eq!(
                signature_bytes(&header(&sent, "signature")).len(),
                case.signature_len,
                "{key_id}"
            );
            assert_eq!(sent.body(), BODY);

            let principal = format!("{}|signature|{key_id}|{BODY}", case.owner);
            assert_eq!(
                receive(&verifier, sent.clone()).await,
                Ok(principal),
                "{key_id} alg={alg}"
            );
            // Without a nonce the signature base identifies the message: the same request again
            // is a replay.
            assert_eq!(
                receive(&verifier, sent.clone()).await,
                invalid("replayed message: its id was seen already"),
                "{key_id} alg={alg}"
            );

            // Tampered copies, each refused for what changed. The body is checked before the
            // replay check, which that copy (same signature base) would fail.
            refuses_a_changed_body_and_content_type(
                &verifier,
                &sent,
                &format!("{key_id} alg={alg}"),
            )
            .await;
            // A new body with its own digest: the digest is covered.
            let mut digest = sent.clone();
            *digest.body_mut() = Bytes::from_static(br#"{"qty":50}"#);
            digest.headers_mut().insert(
                "content-digest",
                "sha-256=:Z0qAlErCKXRGBP5WkERsScIhS0LmU6W/Y1gM9lUC9Zg=:"
                    .parse()
                    .unwrap(),
            );
            assert_eq!(
                receive(&verifier, digest).await,
                invalid("no matching signature"),
                "{key_id} alg={alg}"
            );
            let mut path = sent.clone();
            *path.uri_mut() = "https://api.example.com/refunds?id=8".parse().unwrap();
            assert_eq!(
                receive(&verifier, path).await,
                invalid("no matching signature"),
                "{key_id} alg={alg}"
            );
            let mut query = sent.clone();
            *query.uri_mut() = "https://api.example.com/orders?id=9".parse().unwrap();
            assert_eq!(
                receive(&verifier, query).await,
                invalid("no matching signature"),
                "{key_id} alg={alg}"
            );
            let mut signature = sent.clone();
            let mut bytes = signature_bytes(&header(&sent, "signature"));
            bytes[case.signature_len / 2] ^= 1;
            signature.headers_mut().insert(
                "signature",
                format!("sig1=:{}:", STANDARD.encode(bytes))
                    .parse()
                    .unwrap(),
            );
            assert_eq!(
                receive(&verifier, signature).await,
                invalid("no matching signature"),
                "{key_id} alg={alg}"
            );
        }
    }
}

#[tokio::test]
async fn a_signature_under_another_algorithms_key_id_is_refused() {
    // The RSA key signs with PSS but names the key registered for v1.5 (same modulus): the
    // verifier uses the registered key's algorithm, never the signer's claim.
    let clock = ManualClock::at_unix_secs(NOW);
    let verifier = verifier(Some(clock.clone()));
    let pss_as_v15 =
        SigningKey::private_key_pem(Algorithm::RsaPssSha512, &key_file("sig_rsa_private.pem"))
            .unwrap()
            .with_id("rsa-v1_5");
    for (alg, detail) in [
        (false, "no matching signature"),
        (true, "signature algorithm does not match the key"),
    ] {
        let signer = SigningLayer::http_message_signatures()
            .key(pss_as_v15.clone())
            .components(COMPONENTS)
            .nonce(false)
            .alg(alg)
            .clock(clock.clone())
            .build()
            .unwrap();
        let sent = send(&signer, post()).await;
        assert_eq!(receive(&verifier, sent).await, invalid(detail), "alg={alg}");
    }
    // An ECDSA signature under the RSA key's id.
    let ec_as_rsa =
        SigningKey::private_key_pem(Algorithm::EcdsaP256Sha256, &key_file("ec_private.pem"))
            .unwrap()
            .with_id("rsa-pss");
    let signer = SigningLayer::http_message_signatures()
        .key(ec_as_rsa)
        .components(COMPONENTS)
        .nonce(false)
        .clock(clock)
        .build()
        .unwrap();
    let sent = send(&signer, post()).await;
    assert_eq!(
        receive(&verifier, sent).await,
        invalid("no matching signature")
    );
}

#[tokio::test]
async fn python_http_message_signatures_verifies_our_ecdsa_and_rsa_signatures() {
    if interop::skipped("python_http_message_signatures_verifies_our_ecdsa_and_rsa_signatures") {
        return;
    }
    for case in &CASES {
        let key_id = case.key_id;
        // The package checks `created` against the real clock: sign now.
        for alg in [false, true] {
            let sent = send(&case.signer(None, alg), post()).await;
            assert_eq!(
                interop::py_http_sig_verify(&doc(&sent, key_id)),
                Ok(()),
                "{key_id} alg={alg}"
            );
            let mut body = doc(&sent, key_id);
            body["body"] = json!(r#"{"qty":50}"#);
            assert_eq!(
                interop::py_http_sig_verify(&body),
                Err("InvalidSignature: Content-Digest does not match the message body".into()),
                "{key_id} alg={alg}"
            );
            let mut content_type = doc(&sent, key_id);
            content_type["headers"]["content-type"] = json!("text/plain");
            let refused = interop::py_http_sig_verify(&content_type);
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.starts_with("InvalidSignature")),
                "{key_id} alg={alg}: {refused:?}"
            );
        }
        // The default signer: `@query` and a nonce, no `content-type`.
        let signer = SigningLayer::http_message_signatures()
            .key(case.signing_key())
            .build()
            .unwrap();
        let sent = send(&signer, post()).await;
        assert_eq!(
            interop::py_http_sig_verify(&doc(&sent, key_id)),
            Ok(()),
            "{key_id} default"
        );
    }
}

#[tokio::test]
async fn python_http_message_signatures_signs_and_our_layer_verifies() {
    if interop::skipped("python_http_message_signatures_signs_and_our_layer_verifies") {
        return;
    }
    let clock = ManualClock::at_unix_secs(NOW);
    let verifier = verifier(Some(clock));
    for case in &CASES {
        let key_id = case.key_id;
        let nonce = format!("n-{key_id}");
        let request = json!({
            "method": "POST",
            "url": URL,
            "headers": {"content-type": "application/json"},
            "body": BODY,
            "key_id": key_id,
            "covered": ["@method", "@authority", "@path", "@query", "content-type"],
            "created": NOW,
            "nonce": nonce,
        });
        let added = interop::py_http_sig_sign(&request);
        let get = |name: &str| {
            added
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{key_id}: no {name} in {added:?}"))
                .to_owned()
        };
        // The package appends the digest it adds, and `alg`.
        assert_eq!(
            get("Signature-Input"),
            format!(
                r#"sig1={COVERED};created={NOW};keyid="{key_id}";alg="{}";nonce="{nonce}""#,
                case.alg.name()
            )
        );
        assert_eq!(get("Content-Digest"), DIGEST);
        assert_eq!(signature_bytes(&get("Signature")).len(), case.signature_len);
        let mut req = Request::post(URL);
        for (k, v) in &added {
            req = req.header(k.as_str(), v.as_str().unwrap());
        }
        let req = req.body(Bytes::from_static(BODY.as_bytes())).unwrap();

        refuses_a_changed_body_and_content_type(&verifier, &req, key_id).await;
        assert_eq!(
            receive(&verifier, req.clone()).await,
            Ok(format!("{}|signature|{key_id}|{BODY}", case.owner)),
            "{key_id}: {added:?}"
        );
        assert_eq!(
            receive(&verifier, req).await,
            invalid("replayed message: its id was seen already"),
            "{key_id}"
        );
    }
}

#[tokio::test]
async fn rsa_v1_5_sha256_signatures_are_the_same_byte_for_byte_in_python_and_here() {
    if interop::skipped("rsa_v1_5_sha256_signatures_are_the_same_byte_for_byte_in_python_and_here")
    {
        return;
    }
    // PKCS#1 v1.5 signatures are deterministic: the same signature base and key give the same
    // bytes, so a signature made by the package at test time is a vector for ours.
    let case = &CASES[2];
    let python = interop::py_http_sig_sign(&json!({
        "method": "POST",
        "url": URL,
        "headers": {"content-type": "application/json"},
        "body": BODY,
        "key_id": case.key_id,
        "covered": COMPONENTS,
        "created": NOW,
    }));
    let ours = send(
        &case.signer(Some(ManualClock::at_unix_secs(NOW)), true),
        post(),
    )
    .await;
    assert_eq!(
        python["Signature-Input"],
        header(&ours, "signature-input"),
        "{python:?}"
    );
    assert_eq!(python["Content-Digest"], header(&ours, "content-digest"));
    assert_eq!(python["Signature"], header(&ours, "signature"));
}
