//! The signature headers of the four schemes of `SignatureLayer` (Standard Webhooks, Stripe,
//! GitHub, RFC 9421 with `Content-Digest`), through the layer, with a body.
//!
//! The layers: one per scheme, each with one HMAC secret, replay protection in memory, a body
//! limit of 256 bytes, a manual clock at `NOW` and the default tolerance of 300 s; RFC 9421
//! with the key id `k1` and `content-digest` a required component.
//!
//! Input: one byte of flags (bits 0-1: the scheme; bit 2: signed mode), then lines:
//! - raw mode: each line but the last is a header, its first byte choosing the name among the
//!   schemes' headers (and `host`, `content-type`, `date`), the rest its value; the last line
//!   is the body;
//! - signed mode (Standard Webhooks, Stripe, GitHub): a byte of how (bits 0-2: the timestamp's
//!   distance from `NOW`, a few inside the tolerance, one just outside, one far; bit 3: also
//!   list a signature by another secret; bit 4: that one first), then the message id and the
//!   body on two lines: signed here, with this target's own HMAC, as the provider would.
//!
//! Asserts: no panic; the answer is `200` (the inner service ran, with the body unchanged and
//! a `signature` principal), `401 signature-invalid` or `413 payload-too-large`, and a refusal
//! never shows the secret; in raw mode nothing passes (the fuzzer cannot forge an HMAC); in
//! signed mode a message passes exactly when its id is acceptable (1-256 visible ASCII
//! characters, no `.` or space; GitHub's `X-GitHub-Delivery` is not signed, so not read), its
//! timestamp within the tolerance and its body within the limit, and the same message sent
//! again is refused as a replay.

#![no_main]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, service_fn};
use tower_shield::ManualClock;
use tower_shield::auth::{AuthMethod, Principal};
use tower_shield::signature::{SignatureLayer, SignedBody, VerifyingKey};

const NOW: u64 = 1_750_000_000;
const TOLERANCE: u64 = 300;
const MAX_BODY: usize = 256;
/// The Standard Webhooks secret (`whsec_` + base64 of `SW_KEY`).
const SW_SECRET: &str = "whsec_ZnV6ei1zdGFuZGFyZC13ZWJob29rcy1zZWNyZXQ=";
const SW_KEY: &[u8] = b"fuzz-standard-webhooks-secret";
/// Stripe's secret is used as written, prefix included.
const STRIPE_SECRET: &str = "whsec_fuzz-stripe-secret";
const GITHUB_SECRET: &str = "fuzz-github-secret";
const HTTP_SECRET: &[u8] = b"fuzz-rfc9421-hmac-secret-32bytes";
/// What a refusal must never contain.
const SECRETS: [&str; 4] = [
    "ZnV6ei1zdGFuZGFyZC13ZWJob29rcy1zZWNyZXQ",
    "fuzz-stripe-secret",
    "fuzz-github-secret",
    "fuzz-rfc9421-hmac-secret",
];

/// The header names raw mode chooses from.
const NAMES: [&str; 12] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "signature-input",
    "signature",
    "content-digest",
    "host",
    "content-type",
    "date",
];

fn layer(scheme: u8) -> SignatureLayer {
    let builder = match scheme {
        0 => SignatureLayer::standard_webhooks().secret("sw", SW_SECRET),
        1 => SignatureLayer::stripe().secret("stripe", STRIPE_SECRET),
        2 => SignatureLayer::github().secret("github", GITHUB_SECRET),
        _ => SignatureLayer::http_message_signatures()
            .key(VerifyingKey::hmac_sha256("partner", HTTP_SECRET).with_id("k1"))
            .require_components(["@method", "@path", "content-digest"]),
    };
    builder
        .max_body(MAX_BODY)
        .tolerance(Duration::from_secs(TOLERANCE))
        .replay_protection(true)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .expect("the layer builds")
}

/// Sends `req`; checks what every answer must be; returns the body the inner service got, on
/// 200.
fn send(layer: &SignatureLayer, req: Request<Full<Bytes>>) -> Option<Bytes> {
    let svc = layer.layer(service_fn(|req: Request<SignedBody>| async move {
        let principal = req
            .extensions()
            .get::<Principal>()
            .expect("a verified request carries its principal");
        assert_eq!(principal.method(), AuthMethod::Signature);
        let body = req.into_body().collect().await?.to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    }));
    let res = common::respond(svc, req);
    match res.status() {
        StatusCode::OK => Some(res.into_body()),
        StatusCode::UNAUTHORIZED | StatusCode::PAYLOAD_TOO_LARGE => {
            let slug = common::problem_slug(&res);
            let want = if res.status() == StatusCode::UNAUTHORIZED {
                "signature-invalid"
            } else {
                "payload-too-large"
            };
            assert_eq!(slug, want);
            let text = String::from_utf8_lossy(res.body());
            for secret in SECRETS {
                assert!(!text.contains(secret), "a refusal shows a secret: {text}");
            }
            None
        }
        status => panic!("unexpected status {status}: {:?}", res.body()),
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the layer must accept `id` as a message id: what it reads is the value without
/// surrounding whitespace, visible ASCII (tabs allowed), 1 to `max` bytes, and for Standard
/// Webhooks without `.` or space (the id is a part of `id.timestamp.body`).
fn acceptable_id(id: &[u8], max: usize, no_dot: bool) -> bool {
    if HeaderValue::from_bytes(id).is_err() {
        return false;
    }
    if !id.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return false;
    }
    let id = id.trim_ascii();
    !id.is_empty() && id.len() <= max && !(no_dot && id.iter().any(|&b| b == b'.' || b == b' '))
}

fn raw(scheme: u8, rest: &[u8]) {
    let layer = layer(scheme);
    let fields = common::fields(rest);
    let Some((body, headers)) = fields.split_last() else {
        return;
    };
    let mut req = Request::post("/hook");
    for line in headers {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        req = req.header(NAMES[usize::from(which) % NAMES.len()], value);
    }
    let Ok(req) = req.body(Full::new(Bytes::copy_from_slice(body))) else {
        return;
    };
    if let Some(body) = send(&layer, req) {
        panic!("a request the fuzzer signed without the secret passed: {body:?}");
    }
}

fn signed(scheme: u8, rest: &[u8]) {
    let Some((&how, rest)) = rest.split_first() else {
        return;
    };
    let fields = common::fields(rest);
    let [id, body, ..] = fields[..] else {
        return;
    };
    // Inside the tolerance in both directions, at its edges, just past it, far past it.
    let offset: i64 = [0, 1, -1, 300, -300, 301, -301, -100_000][usize::from(how & 7)];
    let ts = NOW.saturating_add_signed(offset);
    let in_time = offset.unsigned_abs() <= TOLERANCE;
    let decoy = how & 8 != 0;
    let decoy_first = how & 16 != 0;
    let layer = layer(scheme);
    let trimmed = id.trim_ascii();

    let (req, acceptable) = match scheme {
        0 => {
            let ts_text = ts.to_string();
            let sig = hmac_sha256(SW_KEY, &[trimmed, b".", ts_text.as_bytes(), b".", body]);
            let mut listed = vec![format!("v1,{}", STANDARD.encode(sig))];
            if decoy {
                let other = hmac_sha256(b"another-secret", &[trimmed, b".", body]);
                let other = format!("v1,{}", STANDARD.encode(other));
                if decoy_first {
                    listed.insert(0, other);
                } else {
                    listed.push(other);
                }
            }
            let Ok(id_value) = HeaderValue::from_bytes(id) else {
                return;
            };
            let req = Request::post("/hook")
                .header("webhook-id", id_value)
                .header("webhook-timestamp", ts_text)
                .header("webhook-signature", listed.join(" "));
            (req, acceptable_id(id, 256, true) && in_time)
        }
        1 => {
            let ts_text = ts.to_string();
            let sig = hmac_sha256(STRIPE_SECRET.as_bytes(), &[ts_text.as_bytes(), b".", body]);
            let mut items = vec![format!("t={ts_text}"), format!("v1={}", hex(&sig))];
            if decoy {
                let other = hex(&hmac_sha256(b"another-secret", &[body]));
                items.insert(if decoy_first { 1 } else { 2 }, format!("v1={other}"));
                items.push(format!("v0={other}"));
            }
            let req = Request::post("/hook").header("stripe-signature", items.join(","));
            (req, in_time)
        }
        _ => {
            let sig = hmac_sha256(GITHUB_SECRET.as_bytes(), &[body]);
            let Ok(id_value) = HeaderValue::from_bytes(id) else {
                return;
            };
            let req = Request::post("/hook")
                .header("x-hub-signature-256", format!("sha256={}", hex(&sig)))
                .header("x-github-delivery", id_value);
            // The delivery id is not signed, so not read: any passes.
            (req, true)
        }
    };
    let Ok(first) = req.body(Full::new(Bytes::copy_from_slice(body))) else {
        return;
    };
    // The same message again, for the replay check.
    let mut again = Request::post("/hook")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a request");
    *again.headers_mut() = first.headers().clone();
    let too_large = body.len() > MAX_BODY;
    match send(&layer, first) {
        Some(got) => {
            assert!(
                acceptable && !too_large,
                "a message that must be refused passed"
            );
            assert_eq!(got, body, "the body is handed on unchanged");
            assert!(
                send(&layer, again).is_none(),
                "the same message sent again is a replay"
            );
        }
        None => assert!(
            !acceptable || too_large,
            "a correctly signed message was refused (scheme {scheme}, offset {offset}, id {id:?})"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let scheme = flags & 3;
    if flags & 4 != 0 && scheme != 3 {
        signed(scheme, rest);
    } else {
        raw(scheme, rest);
    }
});
