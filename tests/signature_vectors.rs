//! The published test vectors, verbatim: RFC 9421 Appendix B.2 (the request examples through
//! `SignatureLayer`, with the keys of Appendix B.1 in `tests/interop_signature/rfc9421/`) and
//! RFC 9530's `Content-Digest` examples. (B.2.4 signs a response: it is checked in the unit
//! tests, `src/signature/tests.rs`; the Standard Webhooks and GitHub vectors are there and in
//! `tests/signature.rs`.)

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::Principal;
use tower_shield::signature::{Algorithm, SignatureLayer, SignedBody, VerifyingKey};

const CREATED: u64 = 1_618_884_473;
const BODY: &str = r#"{"hello": "world"}"#;
const DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

fn key_file(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/interop_signature/rfc9421/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("key file")
}

fn keys() -> Vec<VerifyingKey> {
    let secret = STANDARD.decode(key_file("test-shared-secret.b64")).unwrap();
    vec![
        VerifyingKey::public_key_pem(
            "rsa-pss",
            Algorithm::RsaPssSha512,
            &key_file("test-key-rsa-pss.pub.pem"),
        )
        .unwrap()
        .with_id("test-key-rsa-pss"),
        VerifyingKey::public_key_pem(
            "ed25519",
            Algorithm::Ed25519,
            &key_file("test-key-ed25519.pub.pem"),
        )
        .unwrap()
        .with_id("test-key-ed25519"),
        VerifyingKey::hmac_sha256("shared", secret).with_id("test-shared-secret"),
    ]
}

/// The RFC's `test-request`, signed with `input` and `signature`.
fn test_request(input: &str, signature: &str) -> Request<Full<Bytes>> {
    Request::post("/foo?param=Value&Pet=dog")
        .header("host", "example.com")
        .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .header("content-type", "application/json")
        .header("content-digest", DIGEST)
        .header("content-length", "18")
        .header("signature-input", input)
        .header("signature", signature)
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

/// Calls a layer verifying with the RFC's keys, the clock at `created`, no required component
/// (the examples cover what each example covers) and no replay memory (the same nonce twice).
async fn verify(input: &str, signature: &str) -> (StatusCode, String) {
    let mut builder = SignatureLayer::http_message_signatures()
        .require_components(Vec::<String>::new())
        .replay_protection(false)
        .clock(ManualClock::at_unix_secs(CREATED));
    for key in keys() {
        builder = builder.key(key);
    }
    let layer = builder.build().unwrap();
    let svc = layer.layer(service_fn(|req: Request<SignedBody>| async move {
        let p = req.extensions().get::<Principal>().cloned().unwrap();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let text = format!(
            "{}|{}",
            p.key_id().unwrap_or("-"),
            String::from_utf8_lossy(&body)
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    }));
    let res = svc.oneshot(test_request(input, signature)).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn assert_verifies(input: &str, signature: &str, key_id: &str) {
    let (status, body) = verify(input, signature).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, format!("{key_id}|{BODY}"));
    // One bit off: refused.
    let (label, b64) = signature.split_once("=:").unwrap();
    let mut sig = STANDARD.decode(b64.trim_end_matches(':')).unwrap();
    sig[10] ^= 1;
    let tampered = format!("{label}=:{}:", STANDARD.encode(sig));
    let (status, body) = verify(input, &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("no matching signature"), "{body}");
}

#[tokio::test]
async fn b_2_1_minimal_signature_using_rsa_pss_sha512() {
    assert_verifies(
        r#"sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#,
        "sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:",
        "test-key-rsa-pss",
    )
    .await;
}

#[tokio::test]
async fn b_2_2_selective_covered_components_using_rsa_pss_sha512() {
    assert_verifies(
        r#"sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#,
        "sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:",
        "test-key-rsa-pss",
    )
    .await;
}

#[tokio::test]
async fn b_2_3_full_coverage_using_rsa_pss_sha512() {
    assert_verifies(
        r#"sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#,
        "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:",
        "test-key-rsa-pss",
    )
    .await;
}

#[tokio::test]
async fn b_2_5_signing_a_request_using_hmac_sha256() {
    assert_verifies(
        r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#,
        "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
        "test-shared-secret",
    )
    .await;
}

#[tokio::test]
async fn b_2_6_signing_a_request_using_ed25519() {
    assert_verifies(
        r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
        "test-key-ed25519",
    )
    .await;
}

#[tokio::test]
async fn the_policy_and_the_digest_are_enforced_on_the_vectors() {
    // B.2.2 covers the digest: a body changed under it fails on the digest, before the key.
    let input = r#"sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#;
    let layer = SignatureLayer::http_message_signatures()
        .key(keys().remove(0))
        .replay_protection(false)
        .clock(ManualClock::at_unix_secs(CREATED))
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_: Request<SignedBody>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let mut req = test_request(input, "sig-b22=:AAAA:");
    *req.body_mut() = Full::new(Bytes::from_static(br#"{"hello": "World"}"#));
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    // The default policy requires @method and @path, which B.2.2 does not cover.
    assert!(
        String::from_utf8_lossy(&body).contains("signature does not cover @method"),
        "{body:?}"
    );
    // A clock a day later: created is outside the tolerance.
    let late = SignatureLayer::http_message_signatures()
        .key(keys().remove(2))
        .require_components(["@authority"])
        .clock(ManualClock::at_unix_secs(CREATED + 86_400))
        .build()
        .unwrap()
        .layer(service_fn(|_: Request<SignedBody>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
    let req = test_request(
        r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#,
        "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
    );
    let res = late.oneshot(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("timestamp outside the tolerance of 300 seconds"),
        "{body:?}"
    );
}
