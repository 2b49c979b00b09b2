//! The official libraries' own test tables, ported case by case and sent through a real
//! `SignatureLayer` (a `tower::service_fn` inside that answers `204`): the exact status, and for
//! a refusal the `signature-invalid` problem's detail, which names the rule that failed.
//!
//! Sources, as read for this port (repository @ commit, then the files):
//!
//! - `standard-webhooks/standard-webhooks` @ `b2fa7b87`: the reference libraries' tests,
//!   `libraries/python/tests/test_webhooks.py`, `libraries/javascript/src/webhook.test.ts`,
//!   `libraries/go/webhook_test.go`, `libraries/rust/src/lib.rs` (`mod tests`),
//!   `libraries/java/src/test/java/com/standardwebhooks/{WebhookTest,TestScenario}.java`,
//!   `libraries/csharp/StandardWebhooks.Tests/WebhookTest.cs`,
//!   `libraries/php/tests/WebhookTest.php`,
//!   `libraries/ruby/spec/webhook_spec.rb`, `libraries/elixir/test/standard_webhooks_test.exs`;
//!   and `spec/standard-webhooks.md`. None of the libraries has `v1a`: its vector is
//!   `svix/svix-webhooks` @ `4fc0cfb8` `server/svix-server/src/worker.rs`
//!   (`test_asymmetric_key_signing`) with the public key of
//!   `server/svix-server/tests/it/e2e_endpoint.rs` (`test_custom_endpoint_secret`), the very
//!   signature of the spec's "Example headers".
//! - `stripe/stripe-node` @ `66394216` `test/Webhook.spec.ts`, and `stripe/stripe-python` @
//!   `6c6e3736` `tests/test_webhook.py`.
//! - `octokit/webhooks-methods.js` @ `da0cc1c4` `test/verify.test.ts`, and GitHub's
//!   "Validating webhook deliveries" (`github/docs`
//!   `content/webhooks/using-webhooks/validating-webhook-deliveries.md`).
//!
//! Every case says what the library answers. A case where the layer answers otherwise says
//! why (`differs`): the table fails if a case differs without saying so, or says so and agrees.
//! The libraries' "now" is the test's clock; tests built on `Date.now()` are ported at a fixed
//! instant. Cases that exercise only a library's API (types of the payload argument, custom
//! crypto providers, JSON parsing of the event, `sign()` argument checks) have no counterpart
//! in a layer that sees bytes and are left out.

use std::convert::Infallible;
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::signature::{
    ConfigError, SignatureBuilder, SignatureLayer, SignedBody, SigningKey,
};

/// An instant for the tests that read the libraries' `now`.
const NOW: u64 = 1_718_451_800;

/// What the official library answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    Accepts,
    Refuses,
    /// Nothing to compare: a limit of the layer's own.
    NoCounterpart,
}

/// What the layer must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    /// Reaches the inner service: `204`.
    Pass,
    /// `401` `signature-invalid`, with this detail.
    Refused(&'static str),
    /// `413` `payload-too-large`.
    TooLarge,
}

/// What the layer answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Pass,
    Refused(String),
    TooLarge,
    Other(String),
}

impl Got {
    fn is(&self, want: &Want) -> bool {
        match (self, want) {
            (Self::Pass, Want::Pass) | (Self::TooLarge, Want::TooLarge) => true,
            (Self::Refused(got), Want::Refused(want)) => got == want,
            _ => false,
        }
    }
}

enum Key {
    Secret(String),
    PublicKey(&'static str),
}

/// One row of a table: the layer's configuration, the request, and both answers.
struct Case {
    /// The repository file and test the row comes from.
    source: &'static str,
    lib: Lib,
    want: Want,
    /// Why the layer answers otherwise than the library, when it does.
    differs: Option<&'static str>,
    keys: Vec<Key>,
    now_micros: u64,
    tolerance: Option<u64>,
    replay: bool,
    max_body: Option<usize>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Case {
    fn new(source: &'static str, lib: Lib, want: Want) -> Self {
        Self {
            source,
            lib,
            want,
            differs: None,
            keys: Vec::new(),
            now_micros: NOW * 1_000_000,
            tolerance: None,
            replay: true,
            max_body: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn secret(mut self, secret: &str) -> Self {
        self.keys.push(Key::Secret(secret.to_owned()));
        self
    }

    fn public_key(mut self, key: &'static str) -> Self {
        self.keys.push(Key::PublicKey(key));
        self
    }

    fn at(mut self, secs: u64) -> Self {
        self.now_micros = secs * 1_000_000;
        self
    }

    fn at_micros(mut self, micros: u64) -> Self {
        self.now_micros = micros;
        self
    }

    fn tolerance(mut self, secs: u64) -> Self {
        self.tolerance = Some(secs);
        self
    }

    fn no_replay_protection(mut self) -> Self {
        self.replay = false;
        self
    }

    fn max_body(mut self, limit: usize) -> Self {
        self.max_body = Some(limit);
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn differs(mut self, why: &'static str) -> Self {
        self.differs = Some(why);
        self
    }
}

/// Sends `case`'s request through a layer made by `scheme` and configured by `case`.
async fn answer(scheme: fn() -> SignatureBuilder, case: &Case) -> Got {
    let clock = ManualClock::at_unix_secs(0);
    clock.set_micros(case.now_micros);
    let mut builder = scheme().clock(clock).replay_protection(case.replay);
    for key in &case.keys {
        builder = match key {
            Key::Secret(secret) => builder.secret("owner", secret),
            Key::PublicKey(key) => builder.public_key("owner", key),
        };
    }
    if let Some(secs) = case.tolerance {
        builder = builder.tolerance(Duration::from_secs(secs));
    }
    if let Some(limit) = case.max_body {
        builder = builder.max_body(limit);
    }
    let layer = match builder.build() {
        Ok(layer) => layer,
        Err(e) => return Got::Other(format!("build: {e}")),
    };
    let svc = layer.layer(service_fn(|req: Request<SignedBody>| async move {
        let _verified = req.into_body().collect().await;
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok::<_, Infallible>(res)
    }));
    let mut req = Request::post("/hook");
    for (name, value) in &case.headers {
        req = req.header(*name, value.as_str());
    }
    let req = match req.body(Full::new(Bytes::from(case.body.clone()))) {
        Ok(req) => req,
        Err(e) => return Got::Other(format!("request: {e}")),
    };
    let res = match svc.oneshot(req).await {
        Ok(res) => res,
        Err(e) => return Got::Other(format!("service: {e:?}")),
    };
    let status = res.status();
    let body = match res.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Got::Other(format!("{status}: unreadable body")),
    };
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let kind = problem["type"].as_str().unwrap_or_default();
    match status {
        StatusCode::NO_CONTENT => Got::Pass,
        StatusCode::UNAUTHORIZED if kind.ends_with("#signature-invalid") => {
            Got::Refused(problem["detail"].as_str().unwrap_or_default().to_owned())
        }
        StatusCode::PAYLOAD_TOO_LARGE if kind.ends_with("#payload-too-large") => Got::TooLarge,
        _ => Got::Other(format!("{status}: {}", String::from_utf8_lossy(&body))),
    }
}

/// Runs a table: every row answers as it must, and says why exactly when it answers otherwise
/// than its library. All failures are reported at once.
async fn check(table: &str, scheme: fn() -> SignatureBuilder, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let got = answer(scheme, case).await;
        let row = format!("{table}[{i}] ({})", case.source);
        if !got.is(&case.want) {
            failures.push(format!("{row}: want {:?}, got {got:?}", case.want));
        }
        let pass = case.want == Want::Pass;
        let agrees = match case.lib {
            Lib::Accepts => pass,
            Lib::Refuses => !pass,
            Lib::NoCounterpart => true,
        };
        match (agrees, case.differs) {
            (false, None) => failures.push(format!("{row}: differs from the library, unsaid")),
            (true, Some(_)) => failures.push(format!("{row}: says it differs, but agrees")),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    SigningKey::hmac_sha256(secret)
        .sign(message)
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// --- Standard Webhooks -------------------------------------------------------------------------

const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_PAYLOAD: &str = r#"{"test": 2432232314}"#;
/// The libraries' `defaultSecret`: base64, no prefix.
const SW_SECRET: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A `v1` that verifies nothing here, from the libraries' multi-signature tests.
const SW_OTHER: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
/// The rust library's tests' secret, id and payload.
const RS_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const RS_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const RS_PAYLOAD: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
/// Svix's Ed25519 key (`whsk_`, seed then public key) and its public key as `whpk_`.
const SVIX_WHSK: &str =
    "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
const SVIX_WHPK: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
const SVIX_V1A: &str =
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";

/// What the Python tests decode secrets with, `base64.b64decode`: the spare bits of the last
/// character dropped (the unpadded-secret test's secrets have them set).
const PY_B64DECODE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// `v1,<base64 HMAC of id.ts.body>` with the secret `secret` (padded base64, prefix optional),
/// as the libraries' `TestPayload` signs.
fn sw_sig(secret: &str, id: &str, ts: u64, body: &str) -> String {
    let key = PY_B64DECODE
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_default();
    assert!(!key.is_empty(), "{secret:?}");
    let tag = hmac(&key, format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(tag))
}

/// The libraries' `TestPayload`: default secret, id and payload, signed at `ts`, with the
/// layer's clock at [`NOW`].
fn sw(source: &'static str, lib: Lib, want: Want, ts: u64) -> Case {
    Case::new(source, lib, want)
        .secret(SW_SECRET)
        .body(SW_PAYLOAD)
        .header("webhook-id", SW_ID)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            sw_sig(SW_SECRET, SW_ID, ts, SW_PAYLOAD),
        )
}

/// As [`sw`] with the three headers as given (`None`: absent).
fn sw_headers(
    source: &'static str,
    lib: Lib,
    want: Want,
    id: Option<&str>,
    ts: Option<&str>,
    sig: Option<&str>,
) -> Case {
    let mut case = Case::new(source, lib, want)
        .secret(SW_SECRET)
        .body(SW_PAYLOAD);
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", sig),
    ] {
        if let Some(value) = value {
            case = case.header(name, value);
        }
    }
    case
}

fn standard_webhooks_table() -> Vec<Case> {
    use Lib::{Accepts, NoCounterpart, Refuses};
    let ts = NOW.to_string();
    let valid = sw_sig(SW_SECRET, SW_ID, NOW, SW_PAYLOAD);
    let outside = Want::Refused("timestamp outside the tolerance of 300 seconds");
    let not_base64 = Want::Refused("malformed webhook-signature header: signature is not base64");
    let no_match = Want::Refused("no matching signature");
    let rs = |source, lib, want, sig: &str| {
        Case::new(source, lib, want)
            .secret(RS_SECRET)
            .body(RS_PAYLOAD)
            .header("webhook-id", RS_ID)
            .header("webhook-timestamp", NOW.to_string())
            .header("webhook-signature", sig)
    };
    let rs_valid = sw_sig(RS_SECRET, RS_ID, NOW, RS_PAYLOAD);
    let rs_others = [
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
        "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
        "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
    ];
    let v1a = |source, lib, want, body: &str| {
        Case::new(source, lib, want)
            .public_key(SVIX_WHPK)
            .at(1_614_265_330)
            .body(body)
            .header("webhook-id", SW_ID)
            .header("webhook-timestamp", "1614265330")
            .header("webhook-signature", SVIX_V1A)
    };
    vec![
        // python test_valid_signature_is_valid_and_returns_json, _without_returning_json,
        // test_valid_unbranded_signature_is_valid_and_returns_json; javascript "valid signature is
        // valid and returns valid json", "valid unbranded signature ..."; go TestWebhook "valid
        // signature is valid"; java verifyValidPayloadAndHeaders; csharp TestValidSignatureIsValid,
        // TestUnbrandedSignatureIsValid; php testValidSignatureIsValidAndReturnsJson,
        // testValidBrandlessSignatureIsValidAndReturnsJson; ruby "valid signature is valid and
        // returns valid json", "valid unbranded ..."; rust test_verify.
        sw(
            "python/javascript/go/java/csharp/php/ruby/rust: valid signature",
            Accepts,
            Want::Pass,
            NOW,
        ),
        // python test_missing_id_raises_error; javascript "missing id raises error"; go
        // "missing id returns error"; java verifyMissingIdThrowsException; csharp
        // TestMissingIdRasiesException; php testMissingIdThrowsException; ruby "missing id
        // raises error"; rust test_missing_headers.
        sw_headers(
            "all libraries: missing id",
            Refuses,
            Want::Refused("missing webhook-id header"),
            None,
            Some(&ts),
            Some(&valid),
        ),
        // elixir "raises error when missing webhook header" (timestamp and signature only).
        sw_headers(
            "elixir test/standard_webhooks_test.exs: raises error when missing webhook header",
            Refuses,
            Want::Refused("missing webhook-id header"),
            None,
            Some(&ts),
            Some(&valid),
        ),
        // python test_timestamp_raises_error; javascript "missing timestamp raises error"; go
        // "missing timestamp returns error"; java verifyMissingTimestampThrowsException; csharp
        // TestMissingTimestampThrowsException; php testMissingTimestampThrowsException; ruby
        // "missing timestamp raises error"; rust test_missing_headers.
        sw_headers(
            "all libraries: missing timestamp",
            Refuses,
            Want::Refused("missing webhook-timestamp header"),
            Some(SW_ID),
            None,
            Some(&valid),
        ),
        // python test_missing_signature_raises_error; javascript "missing signature raises
        // error"; go "missing signature returns error"; java verifyMissingSignatureThrowsException;
        // csharp TestMissingSignatureThrowsException; php testMissingSignatureThrowsException;
        // ruby "missing signature raises error"; rust test_missing_headers.
        sw_headers(
            "all libraries: missing signature",
            Refuses,
            Want::Refused("missing webhook-signature header"),
            Some(SW_ID),
            Some(&ts),
            None,
        ),
        // python test_invalid_timestamp_raises_error; javascript "invalid timestamp throws error".
        sw_headers(
            "python/javascript: invalid timestamp \"hello\"",
            Refuses,
            Want::Refused("malformed webhook-timestamp header: not a Unix timestamp"),
            Some(SW_ID),
            Some("hello"),
            Some(&valid),
        ),
        // ruby "invalid timestamp raises error".
        sw_headers(
            "ruby spec/webhook_spec.rb: invalid timestamp raises error",
            Refuses,
            Want::Refused("malformed webhook-timestamp header: not a Unix timestamp"),
            Some(SW_ID),
            Some("teadwd"),
            Some(&valid),
        ),
        // python test_invalid_signature_raises_error (the sign vector, last character changed).
        sw_headers(
            "python tests/test_webhooks.py: test_invalid_signature_raises_error",
            Refuses,
            no_match.clone(),
            Some(SW_ID),
            Some(&ts),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
        ),
        // javascript "invalid signature throws error"; php testInvalidSignatureThrowsException
        // (22 characters: not base64).
        sw_headers(
            "javascript/php: invalid signature v1,dawfeoifkpqwoekfpqoekf",
            Refuses,
            not_base64.clone(),
            Some(SW_ID),
            Some(&ts),
            Some("v1,dawfeoifkpqwoekfpqoekf"),
        ),
        // go "invalid signature is invalid".
        sw_headers(
            "go webhook_test.go: invalid signature is invalid",
            Refuses,
            no_match.clone(),
            Some(SW_ID),
            Some(&ts),
            Some(SW_OTHER),
        ),
        // ruby "invalid signature raises error"; csharp TestInvalidSignatureThrowsException
        // (43 characters: not base64).
        sw_headers(
            "ruby/csharp: invalid signature v1,g0hM...LawDD (43 characters)",
            Refuses,
            not_base64.clone(),
            Some(SW_ID),
            Some(&ts),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd"),
        ),
        // javascript "partial signature throws error" (first 8 characters); rust
        // test_verify_partial_signature (first 8 characters).
        sw_headers(
            "javascript/rust: partial signature (8 characters)",
            Refuses,
            not_base64.clone(),
            Some(SW_ID),
            Some(&ts),
            Some(&valid[..8]),
        ),
        // javascript "partial signature throws error" ("v1,"); go "partial signature is
        // invalid"; rust test_verify_partial_signature ("v1,").
        sw_headers(
            "javascript/go/rust: partial signature \"v1,\"",
            Refuses,
            not_base64.clone(),
            Some(SW_ID),
            Some(&ts),
            Some("v1,"),
        ),
        // java verifySignatureWithDifferentVersionThrowsException (TestScenario.withWrongVersion).
        sw_headers(
            "java WebhookTest.java: verifySignatureWithDifferentVersionThrowsException",
            Refuses,
            Want::Refused("malformed webhook-signature header: no v1 or v1a signature"),
            Some(SW_ID),
            Some(&ts),
            Some("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ),
        // java verifyMissingPartsInSignatureThrowsException (withInvalidSignatureFormat).
        sw_headers(
            "java WebhookTest.java: verifyMissingPartsInSignatureThrowsException",
            Refuses,
            Want::Refused("malformed webhook-signature header: expected version,signature"),
            Some(SW_ID),
            Some(&ts),
            Some("invalid_signature"),
        ),
        // java verifySignatureMismatchThrowsException (withInvalidSignatureValue).
        sw_headers(
            "java WebhookTest.java: verifySignatureMismatchThrowsException",
            Refuses,
            not_base64.clone(),
            Some(SW_ID),
            Some(&ts),
            Some("v1,invalid_signature"),
        ),
        // elixir "return false when valid secret and invalid signature".
        sw_headers(
            "elixir test/standard_webhooks_test.exs: return false when valid secret and invalid signature",
            Refuses,
            Want::Refused("malformed webhook-signature header: expected version,signature"),
            Some(SW_ID),
            Some(&ts),
            Some("invalid signature"),
        ),
        // The libraries' verify loops (javascript `verify`, go `Verify`, rust `verify`) split
        // the list on spaces and each item on `,`, and pass over an item that is not `v1` and a
        // matching signature: beside the valid one, an item without a comma or a signature
        // that is no base64 does not make the header malformed. Python too, when the valid one
        // is listed first.
        sw_headers(
            "javascript/go/rust verify: a signature that is no base64 beside the valid one",
            Accepts,
            Want::Pass,
            Some(SW_ID),
            Some(&ts),
            Some(&format!("{valid} v1,invalid_signature")),
        ),
        sw_headers(
            "javascript/go/rust verify: an item without a comma before the valid one",
            Accepts,
            Want::Pass,
            Some(SW_ID),
            Some(&ts),
            Some(&format!("garbage {valid}")),
        ),
        // Nothing usable: the first item's fault is named.
        sw_headers(
            "javascript/go/rust verify: only unusable items",
            Refuses,
            not_base64.clone(),
            Some(SW_ID),
            Some(&ts),
            Some("v1,invalid_signature garbage"),
        ),
        // python test_old_timestamp_fails (now - 5 min - 1 s); javascript "old timestamp fails";
        // java verifyOldTimestampThrowsException; csharp TestOldTimestampThrowsException; php
        // testOldTimestampThrowsException; ruby "old timestamp raises error"; rust
        // test_verify_incorrect_timestamp (now - 301).
        sw(
            "all libraries: timestamp 301 s old",
            Refuses,
            outside.clone(),
            NOW - 301,
        ),
        // python test_new_timestamp_fails (now + 5 min + 1 s); javascript "new timestamp fails";
        // go "new timestamp fails"; java verifyNewTimestampThrowsException; csharp
        // TestNewTimestampThrowsException; php testNewTimestampThrowsException; ruby "new
        // timestamp raises error"; rust test_verify_incorrect_timestamp (now + 301).
        sw(
            "all libraries: timestamp 301 s ahead",
            Refuses,
            outside.clone(),
            NOW + 301,
        ),
        // go "new timestamp fails": time.Now() + 5 min + 1 s, the clock half a second past.
        sw(
            "go webhook_test.go: new timestamp fails",
            Refuses,
            outside.clone(),
            NOW + 301,
        )
        .at_micros(NOW * 1_000_000 + 500_000),
        // go "old timestamp fails": signed at time.Now() - 5 min, truncated to the second, and
        // verified a fraction of a second later: 300.5 s old, over Go's `now.Sub(ts) > 5 min`.
        sw(
            "go webhook_test.go: old timestamp fails",
            Refuses,
            Want::Pass,
            NOW - 300,
        )
        .at_micros(NOW * 1_000_000 + 500_000)
        .differs(
            "a sub-second boundary: the layer counts whole seconds (the timestamp's \
                 resolution), as the javascript and rust libraries do (`now - ts > 300` with now \
                 floored), so 300.5 s is 300; go and python compare with the fractional now",
        ),
        // javascript src/index.ts verifyTimestamp and rust src/lib.rs verify_timestamp: the
        // boundary is inclusive (`now - timestamp > 300` refuses), both ways.
        sw(
            "javascript/rust verifyTimestamp: exactly 300 s old",
            Accepts,
            Want::Pass,
            NOW - 300,
        ),
        sw(
            "javascript/rust verifyTimestamp: exactly 300 s ahead",
            Accepts,
            Want::Pass,
            NOW + 300,
        ),
        // go "old/new/valid timestamp passes when ignoring tolerance" (VerifyIgnoringTimestamp;
        // the layer has no such mode, but these timestamps are within its tolerance anyway).
        sw(
            "go webhook_test.go: old timestamp passes when ignoring tolerance",
            Accepts,
            Want::Pass,
            NOW - 300,
        )
        .at_micros(NOW * 1_000_000 + 500_000),
        sw(
            "go webhook_test.go: new timestamp passes when ignoring tolerance",
            Accepts,
            Want::Pass,
            NOW + 300,
        )
        .at_micros(NOW * 1_000_000 + 500_000),
        // go "invalid timestamp fails when ignoring tolerance": a timestamp of 2000-01-01 on a
        // signature made now (go: no matching signature; the layer: the timestamp first).
        sw_headers(
            "go webhook_test.go: invalid timestamp fails when ignoring tolerance",
            Refuses,
            outside.clone(),
            Some(SW_ID),
            Some("946684800"),
            Some(&valid),
        ),
        // python test_multi_sig_payload_is_valid; javascript "multi sig payload is valid"; go
        // "valid multi sig is valid"; java verifyValidPayloadWithMultipleSignaturesIsValid;
        // csharp TestMultiSigPayloadIsValid; php testMultiSigPayloadIsValid; ruby "multi sig
        // pyload is valid": a v2 among them, skipped.
        sw_headers(
            "all libraries: multi sig payload is valid",
            Accepts,
            Want::Pass,
            Some(SW_ID),
            Some(&ts),
            Some(&format!(
                "{SW_OTHER} {} {valid} {SW_OTHER}",
                SW_OTHER.replace("v1,", "v2,")
            )),
        ),
        rs(
            "rust src/lib.rs: test_verify_with_multiple_signatures",
            Accepts,
            Want::Pass,
            &format!(
                "{} {} {rs_valid} {}",
                rs_others[0], rs_others[1], rs_others[2]
            ),
        ),
        rs(
            "rust src/lib.rs: test_no_verify_with_multiple_signatures",
            Refuses,
            no_match.clone(),
            &rs_others.join(" "),
        ),
        rs(
            "rust src/lib.rs: test_no_verify",
            Refuses,
            no_match.clone(),
            "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
        ),
        // python test_signature_verification_with_and_without_prefix; javascript "verification
        // works with and without signature prefix"; go TestWebhookPrefix; java
        // verifySecretWorksWithOrWithoutPrefix; csharp TestSivnatureVerificationWorksWithoutPrefix;
        // php testSignatureVerificationWithAndWithoutPrefix; ruby "signature verification works
        // with and without prefix". (Without: every row above.)
        Case {
            keys: vec![Key::Secret(format!("whsec_{SW_SECRET}"))],
            ..sw(
                "all libraries: secret with the whsec_ prefix",
                Accepts,
                Want::Pass,
                NOW,
            )
        },
        // python test_signature_verification_with_unpadded_secret: "needs one padding", "needs
        // two padding", "with prefix" (the padded secret signs, the unpadded one verifies).
        unpadded(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
        ),
        unpadded(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",
        ),
        unpadded(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",
        ),
        // python test_sign_function; javascript "sign function works"; go TestWebhookSign; java
        // verifyWebhookSignWorks; csharp verifyWebhookSignWorks; php testSignFunctionWorks; ruby
        // "sign function works": the published signature, verified at its timestamp.
        Case::new(
            "all libraries: the sign function's vector",
            Accepts,
            Want::Pass,
        )
        .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .at(1_614_265_330)
        .body(SW_PAYLOAD)
        .header("webhook-id", SW_ID)
        .header("webhook-timestamp", "1614265330")
        .header(
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        // rust test_sign: the rust library's own vector.
        Case::new("rust src/lib.rs: test_sign", Accepts, Want::Pass)
            .secret(RS_SECRET)
            .at(1_649_367_553)
            .body(RS_PAYLOAD)
            .header("webhook-id", RS_ID)
            .header("webhook-timestamp", "1649367553")
            .header(
                "webhook-signature",
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        // java verifyCaseInsensitiveHeaders (TestScenario.withMixedCaseHeaders).
        Case::new(
            "java WebhookTest.java: verifyCaseInsensitiveHeaders",
            Accepts,
            Want::Pass,
        )
        .secret(SW_SECRET)
        .body(SW_PAYLOAD)
        .header("Webhook-Id", SW_ID)
        .header("WEBHOOK-TIMESTAMP", ts.clone())
        .header("webhook-SIGNATURE", valid.clone()),
        // javascript "empty payload returns undefined": an empty body, signed.
        Case::new(
            "javascript src/webhook.test.ts: empty payload returns undefined",
            Accepts,
            Want::Pass,
        )
        .secret(SW_SECRET)
        .header("webhook-id", SW_ID)
        .header("webhook-timestamp", ts.clone())
        .header("webhook-signature", sw_sig(SW_SECRET, SW_ID, NOW, "")),
        // spec/standard-webhooks.md "Signature scheme": the id must not be allowed to include a
        // `.`. The libraries do not check it.
        Case::new(
            "spec/standard-webhooks.md: an id with a full stop",
            Accepts,
            Want::Refused("malformed webhook-id header: not a message id"),
        )
        .secret(SW_SECRET)
        .body(SW_PAYLOAD)
        .header("webhook-id", "msg.1")
        .header("webhook-timestamp", ts.clone())
        .header(
            "webhook-signature",
            sw_sig(SW_SECRET, "msg.1", NOW, SW_PAYLOAD),
        )
        .differs(
            "the spec asks that ids not include `.` (`id.timestamp.body` must split one way); \
             the libraries sign and verify such ids, the layer refuses them",
        ),
        // svix server/svix-server/src/worker.rs test_asymmetric_key_signing: v1a of Svix's
        // whsk_ key, verified with its whpk_ (e2e_endpoint.rs test_custom_endpoint_secret).
        v1a(
            "svix server/svix-server/src/worker.rs: test_asymmetric_key_signing",
            Accepts,
            Want::Pass,
            SW_PAYLOAD,
        ),
        // spec/standard-webhooks.md "Example headers": its webhook-signature value whole (a v1
        // of an unknown secret, then the v1a above), on the v1a's message.
        Case {
            headers: vec![
                ("webhook-id", SW_ID.to_owned()),
                ("webhook-timestamp", "1614265330".to_owned()),
                (
                    "webhook-signature",
                    format!("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= {SVIX_V1A}"),
                ),
            ],
            ..v1a(
                "spec/standard-webhooks.md: Example headers (any listed signature may match)",
                Accepts,
                Want::Pass,
                SW_PAYLOAD,
            )
        },
        // The same v1a on another body: Ed25519 verification fails.
        v1a(
            "svix worker.rs test_asymmetric_key_signing, body changed",
            Refuses,
            no_match.clone(),
            r#"{"test": 2432232315}"#,
        ),
        // python webhooks.py / javascript index.ts verify: `if version != "v1": continue`, so
        // a v1a before an HMAC-only verifier matches nothing.
        Case {
            keys: vec![Key::Secret(SW_SECRET.to_owned())],
            ..v1a(
                "python/javascript verify: v1a skipped by an HMAC secret",
                Refuses,
                no_match.clone(),
                SW_PAYLOAD,
            )
        },
        // The layer's own limit: a body over max_body is 413, signature or not.
        sw(
            "tower-shield: body over max_body",
            NoCounterpart,
            Want::TooLarge,
            NOW,
        )
        .max_body(8),
    ]
}

/// python test_signature_verification_with_unpadded_secret: signed with `padded`, verified by
/// a layer configured with `configured`.
fn unpadded(padded: &str, configured: &str) -> Case {
    Case::new(
        "python tests/test_webhooks.py: test_signature_verification_with_unpadded_secret",
        Lib::Accepts,
        Want::Pass,
    )
    .secret(configured)
    .body(SW_PAYLOAD)
    .header("webhook-id", SW_ID)
    .header("webhook-timestamp", NOW.to_string())
    .header("webhook-signature", sw_sig(padded, SW_ID, NOW, SW_PAYLOAD))
}

#[tokio::test]
async fn standard_webhooks_reference_table() {
    check(
        "standard-webhooks",
        SignatureLayer::standard_webhooks,
        standard_webhooks_table(),
    )
    .await;
}

/// Svix's `whsk_` key signs, with the layer's own signer, what its published `v1a` is, and its
/// public half is the `whpk_` the table verifies with: the vector is what it says it is.
#[test]
fn the_svix_v1a_vector_is_its_keys() {
    let whsk = STANDARD.decode(SVIX_WHSK).unwrap_or_default();
    assert_eq!(whsk.len(), 64);
    let key = SigningKey::ed25519_seed(&whsk[..32]).ok();
    let public = key.as_ref().and_then(SigningKey::public_key);
    assert_eq!(
        public.map(|pk| format!("whpk_{}", STANDARD.encode(pk))),
        Some(SVIX_WHPK.to_owned())
    );
    assert_eq!(
        &whsk[32..],
        &STANDARD.decode(&SVIX_WHPK[5..]).unwrap_or_default()[..]
    );
    let sig = key.and_then(|k| k.sign(format!("{SW_ID}.1614265330.{SW_PAYLOAD}").as_bytes()));
    assert_eq!(
        sig.map(|s| format!("v1a,{}", STANDARD.encode(s))),
        Some(SVIX_V1A.to_owned())
    );
}

/// Secrets the libraries refuse when constructed, refused by `build()`: python
/// test_empty_secret_raises_error; javascript "empty key raises error"; go
/// TestWebhookNoEmptySecrets, TestWebhookNoEmptyPrefixedSecrets; csharp
/// TestEmptySecretRasiesException; php testRejectsEmptySecret, testRejectsEmptyPrefixedSecret;
/// ruby ".new rejects empty webhook secrets"; svix server/svix-server/src/core/types/mod.rs
/// test_endpoint_secret_deserialization (`w`, `whsec_%`, a `whpk_` or `whsk_` given as a secret,
/// `hwsec_`).
#[test]
fn standard_webhooks_secrets_the_libraries_refuse_are_refused() {
    for secret in [
        "",
        "whsec_",
        "w",
        "whsec_%",
        SVIX_WHPK,
        "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kv",
        "hwsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    ] {
        let built = SignatureLayer::standard_webhooks()
            .secret("owner", secret)
            .build();
        assert!(
            matches!(built, Err(ConfigError::InvalidKey(_))),
            "{secret:?}: {built:?}"
        );
    }
    // A public key must be written whpk_ (the spec's serialization).
    let built = SignatureLayer::standard_webhooks()
        .public_key("owner", &SVIX_WHPK[5..])
        .build();
    assert!(
        matches!(built, Err(ConfigError::InvalidKey(_))),
        "{built:?}"
    );
}

// --- Stripe ------------------------------------------------------------------------------------

const STRIPE_SECRET: &str = "whsec_test_secret";
/// stripe-node's `EVENT_PAYLOAD_STRING`: `JSON.stringify(EVENT_PAYLOAD, null, 2)`.
const NODE_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
/// stripe-python's `DUMMY_WEBHOOK_PAYLOAD`.
const PY_PAYLOAD: &str = concat!(
    "{\n",
    "  \"id\": \"evt_test_webhook\",\n",
    "  \"object\": \"event\",\n",
    "  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n",
    "}"
);

/// The libraries' `generateTestHeaderString` / `generate_header`: `t=<ts>,<scheme>=<hex>`.
fn stripe_header(secret: &str, ts: u64, payload: &str, scheme: &str) -> String {
    let sig = hex(&hmac(
        secret.as_bytes(),
        format!("{ts}.{payload}").as_bytes(),
    ));
    format!("t={ts},{scheme}={sig}")
}

/// A layer with the tests' secret, the clock at [`NOW`], `header` on `payload`.
fn stripe(source: &'static str, lib: Lib, want: Want, payload: &str, header: &str) -> Case {
    Case::new(source, lib, want)
        .secret(STRIPE_SECRET)
        .body(payload)
        .header("stripe-signature", header)
}

fn stripe_table() -> Vec<Case> {
    use Lib::{Accepts, NoCounterpart, Refuses};
    let node = |ts| stripe_header(STRIPE_SECRET, ts, NODE_PAYLOAD, "v1");
    let py = |ts| stripe_header(STRIPE_SECRET, ts, PY_PAYLOAD, "v1");
    let outside = Want::Refused("timestamp outside the tolerance of 300 seconds");
    let outside_10 = Want::Refused("timestamp outside the tolerance of 10 seconds");
    let not_items = Want::Refused("malformed stripe-signature header: expected key=value items");
    let no_v1 = Want::Refused("malformed stripe-signature header: no v1 signature");
    let bad_v1 = Want::Refused("malformed stripe-signature header: v1 is not 64 hex digits");
    let not_json = "} I am not valid JSON; 123][";
    vec![
        // node .constructEvent "should return an Event instance from a valid JSON payload and
        // valid signature header", "... with type Buffer", "... with type Uint8Array",
        // "should succeed with a recent timestamp when tolerance is omitted"; .verifyHeader
        // "should work when both tolerance and cryptoProvider are omitted".
        stripe(
            "stripe-node test/Webhook.spec.ts: valid header",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &node(NOW),
        ),
        // node .verifySignatureHeader "should return true when the header contains a valid
        // signature and the timestamp is within the tolerance of Date.now()" (tolerance 10).
        stripe(
            "stripe-node: valid, within the tolerance of Date.now()",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &node(NOW),
        )
        .tolerance(10),
        // python TestWebhook test_construct_event, test_construct_event_from_bytearray,
        // test_construct_event_from_bytes; TestWebhookSignature test_valid_header_and_signature
        // (tolerance 10).
        stripe(
            "stripe-python tests/test_webhook.py: test_valid_header_and_signature",
            Accepts,
            Want::Pass,
            PY_PAYLOAD,
            &py(NOW),
        )
        .tolerance(10),
        // node "should raise a JSON error from invalid JSON payload"; python
        // test_raise_on_json_error: the signature verifies (the JSON error comes after, from
        // the event parser: a handler's job behind the layer).
        stripe(
            "stripe-node/python: invalid JSON payload, signed",
            Accepts,
            Want::Pass,
            not_json,
            &stripe_header(STRIPE_SECRET, NOW, not_json, "v1"),
        ),
        // stripe-node `parseHeader` and stripe-python `_get_timestamp_and_signatures` split
        // on `,` then `=`, and pass over an item without `=`: a stray word or a trailing comma
        // beside a usable `t` and `v1`.
        stripe(
            "stripe-node/python parseHeader: an item without = after a valid header",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &format!("{},garbage", node(NOW)),
        ),
        stripe(
            "stripe-node/python parseHeader: a trailing comma",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &format!("{},", node(NOW)),
        ),
        // node .constructEvent "... an invalid signature header" ('bad_header'); python
        // test_raise_on_invalid_header.
        stripe(
            "stripe-node/python: bad_header",
            Refuses,
            not_items.clone(),
            NODE_PAYLOAD,
            "bad_header",
        ),
        // node .constructEvent "... No webhook payload was provided" ('' payload, 'bad_header').
        stripe(
            "stripe-node: no payload and bad_header",
            Refuses,
            not_items.clone(),
            "",
            "bad_header",
        ),
        // node .verifySignatureHeader "should raise a SignatureVerificationError when the
        // header does not have the expected format".
        stripe(
            "stripe-node: header does not have the expected format",
            Refuses,
            not_items.clone(),
            NODE_PAYLOAD,
            "I'm not even a real signature header",
        ),
        // python test_raise_on_malformed_header.
        stripe(
            "stripe-python: test_raise_on_malformed_header",
            Refuses,
            not_items.clone(),
            PY_PAYLOAD,
            "i'm not even a real signature header",
        ),
        // node "should raise a SignatureVerificationError when the header is null or empty".
        Case::new(
            "stripe-node: header is null",
            Refuses,
            Want::Refused("missing stripe-signature header"),
        )
        .secret(STRIPE_SECRET)
        .body(NODE_PAYLOAD),
        stripe(
            "stripe-node: header is empty",
            Refuses,
            Want::Refused("malformed stripe-signature header: empty"),
            NODE_PAYLOAD,
            "",
        ),
        // node "should error if you pass a signature which is an array": two header lines.
        stripe(
            "stripe-node: a signature which is an array",
            Refuses,
            Want::Refused("duplicated stripe-signature header"),
            NODE_PAYLOAD,
            &node(NOW),
        )
        .header("stripe-signature", node(NOW)),
        // node "... no signatures with the expected scheme" (scheme v0); python
        // test_raise_on_no_signatures_with_expected_scheme.
        stripe(
            "stripe-node/python: no signatures with the expected scheme (v0)",
            Refuses,
            no_v1.clone(),
            NODE_PAYLOAD,
            &stripe_header(STRIPE_SECRET, NOW, NODE_PAYLOAD, "v0"),
        ),
        // node "... no valid signatures for the payload" (signature 'bad_signature'); python
        // test_raise_on_no_valid_signatures_for_payload.
        stripe(
            "stripe-node/python: no valid signatures for the payload",
            Refuses,
            bad_v1.clone(),
            NODE_PAYLOAD,
            &format!("t={NOW},v1=bad_signature"),
        ),
        // node "... the timestamp is not within the tolerance of the provided timestamp":
        // receivedAt 20000000 ms, signed 15 s before, tolerance 10.
        stripe(
            "stripe-node: not within the tolerance of the provided timestamp",
            Refuses,
            outside_10.clone(),
            NODE_PAYLOAD,
            &node(20_000 - 15),
        )
        .at(20_000)
        .tolerance(10),
        // node "... not within the tolerance of Date.now()"; python
        // test_raise_on_timestamp_outside_tolerance: 15 s old, tolerance 10.
        stripe(
            "stripe-node/python: not within the tolerance of now",
            Refuses,
            outside_10.clone(),
            PY_PAYLOAD,
            &py(NOW - 15),
        )
        .tolerance(10),
        // node "should return true when ... within the tolerance of the provided timestamp":
        // 9 s old, tolerance 10.
        stripe(
            "stripe-node: within the tolerance of the provided timestamp",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &node(20_000 - 9),
        )
        .at(20_000)
        .tolerance(10),
        // node "should return true when the header contains at least one valid signature".
        stripe(
            "stripe-node: at least one valid signature (,v1=potato)",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &format!("{},v1=potato", node(NOW)),
        )
        .tolerance(10),
        // python test_header_contains_valid_signature.
        stripe(
            "stripe-python: test_header_contains_valid_signature (,v1=bad_signature)",
            Accepts,
            Want::Pass,
            PY_PAYLOAD,
            &format!("{},v1=bad_signature", py(NOW)),
        )
        .tolerance(10),
        // node "... the timestamp is off but no tolerance is provided"; python
        // test_timestamp_off_but_no_tolerance: t=12345.
        stripe(
            "stripe-node/python: timestamp off but no tolerance",
            Accepts,
            outside.clone(),
            NODE_PAYLOAD,
            &node(12_345),
        )
        .differs(
            "the layer always checks the timestamp (a zero tolerance is a build error): a \
                 layer receives live deliveries, where an unchecked timestamp lets any old \
                 signed message be replayed; the libraries' verify_header skips the check only \
                 when no tolerance is given, and their construct_event defaults to 300 s",
        ),
        // node "verifyHeader ... should use 0 and accept recent timestamps when tolerance is
        // omitted" (100 s old: within the layer's default 300 s too).
        stripe(
            "stripe-node: recent timestamp, tolerance omitted",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &node(NOW - 100),
        ),
        // node "constructEvent ... should use DEFAULT_TOLERANCE when tolerance is omitted"
        // (400 s old).
        stripe(
            "stripe-node: DEFAULT_TOLERANCE (400 s old)",
            Refuses,
            outside.clone(),
            NODE_PAYLOAD,
            &node(NOW - 400),
        ),
        // node src/Webhooks.ts validateComputedSignature (`floor(now) - t > tolerance`) and
        // python _webhook.py (`timestamp < time.time() - tolerance`): exactly 300 s passes, 301
        // does not.
        stripe(
            "stripe-node/python verify: exactly 300 s old",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &node(NOW - 300),
        ),
        stripe(
            "stripe-node/python verify: 301 s old",
            Refuses,
            outside.clone(),
            NODE_PAYLOAD,
            &node(NOW - 301),
        ),
        // The same code checks only the age: a timestamp in the future passes there.
        stripe(
            "stripe-node/python verify: 301 s in the future",
            Accepts,
            outside.clone(),
            NODE_PAYLOAD,
            &node(NOW + 301),
        )
        .differs(
            "the layer refuses timestamps beyond the tolerance both ways (documented: \
                 `tolerance`, 'either way'): a future timestamp would stay acceptable, and \
                 replayable, until it ages out, longer than the replay memory of twice the \
                 tolerance",
        ),
        // node "... when the signing secret contains whitespace": the secret with a trailing
        // space computes another HMAC.
        Case {
            keys: vec![Key::Secret(format!("{STRIPE_SECRET} "))],
            ..stripe(
                "stripe-node: the signing secret contains whitespace",
                Refuses,
                Want::Refused("no matching signature"),
                NODE_PAYLOAD,
                &node(NOW),
            )
        },
        // node src/Webhooks.ts parseHeader and python _get_timestamp_and_signatures split on
        // `,` then `=`, untrimmed: ` v1` is another scheme's name.
        stripe(
            "stripe-node/python parseHeader: a space after the comma",
            Refuses,
            no_v1.clone(),
            NODE_PAYLOAD,
            &node(NOW).replace(",v1=", ", v1="),
        ),
        // The same parsers: `v1` alone, no `t`.
        stripe(
            "stripe-node/python parseHeader: no t",
            Refuses,
            Want::Refused("malformed stripe-signature header: no timestamp"),
            NODE_PAYLOAD,
            &node(NOW).replacen(&format!("t={NOW},"), "", 1),
        ),
        // The same parsers take the last `t` (node) or the first (python): here both sign.
        stripe(
            "stripe-node/python parseHeader: two t",
            Accepts,
            Want::Refused("malformed stripe-signature header: more than one timestamp"),
            NODE_PAYLOAD,
            &format!("t={NOW},{}", node(NOW)),
        )
        .differs(
            "two timestamps are ambiguous (node reads the last, python the first, so a \
                 header can mean two messages); Stripe writes one: the layer refuses the header",
        ),
        // The libraries compare the header's text with the lowercase hexdigest: uppercase hex
        // matches nothing (node secureCompare, python secure_compare).
        stripe(
            "stripe-node/python verify: uppercase hex",
            Refuses,
            bad_v1.clone(),
            NODE_PAYLOAD,
            &format!(
                "t={NOW},v1={}",
                hex(&hmac(
                    STRIPE_SECRET.as_bytes(),
                    format!("{NOW}.{NODE_PAYLOAD}").as_bytes()
                ))
                .to_ascii_uppercase()
            ),
        ),
        // Rotation: node/python accept when any v1 matches (`signatures.filter(...)`, `any(...)`).
        stripe(
            "stripe-node/python verify: another secret's v1 first",
            Accepts,
            Want::Pass,
            NODE_PAYLOAD,
            &format!(
                "{},{}",
                stripe_header("whsec_old", NOW, NODE_PAYLOAD, "v1"),
                node(NOW).replacen(&format!("t={NOW},"), "", 1)
            ),
        ),
        // The layer's own limit.
        stripe(
            "tower-shield: body over max_body",
            NoCounterpart,
            Want::TooLarge,
            NODE_PAYLOAD,
            &node(NOW),
        )
        .max_body(8),
    ]
}

#[tokio::test]
async fn stripe_reference_table() {
    check("stripe", SignatureLayer::stripe, stripe_table()).await;
}

/// The libraries' tolerance argument may be zero or negative (stripe-node src/Webhooks.ts
/// `tolerance > 0 &&`: the check is skipped; stripe-python `if tolerance and`: zero skips it, a
/// negative one refuses every timestamp). A `Duration` is never negative, and a zero tolerance
/// is a build error: the layer never runs without the check.
#[test]
fn stripe_zero_tolerance_is_a_build_error() {
    let built = SignatureLayer::stripe()
        .secret("owner", STRIPE_SECRET)
        .tolerance(Duration::ZERO)
        .build();
    assert!(
        matches!(built, Err(ConfigError::ZeroTolerance)),
        "{built:?}"
    );
}

// --- GitHub ------------------------------------------------------------------------------------

const GH_DOCS_SECRET: &str = "It's a Secret to Everybody";
const GH_DOCS_PAYLOAD: &str = "Hello, World!";
const GH_DOCS_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
const OCTOKIT_SECRET: &str = "mysecret";
const OCTOKIT_PAYLOAD: &str = r#"{"foo":"bar"}"#;
const OCTOKIT_SIG: &str = "sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3";
const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

/// A delivery: `secret` configured, `signature` in `X-Hub-Signature-256` (`None`: absent), and
/// an `X-GitHub-Delivery` id.
fn github(
    source: &'static str,
    lib: Lib,
    want: Want,
    secret: &str,
    payload: &str,
    signature: Option<&str>,
) -> Case {
    let case = Case::new(source, lib, want)
        .secret(secret)
        .body(payload)
        .header("x-github-delivery", DELIVERY);
    match signature {
        Some(sig) => case.header("x-hub-signature-256", sig),
        None => case,
    }
}

fn github_table() -> Vec<Case> {
    use Lib::{Accepts, NoCounterpart, Refuses};
    let not_sha256 = Want::Refused("malformed x-hub-signature-256 header: expected sha256=<hex>");
    let not_lower =
        Want::Refused("malformed x-hub-signature-256 header: expected 64 lowercase hex digits");
    let no_match = Want::Refused("no matching signature");
    let docs_hex = &GH_DOCS_SIG["sha256=".len()..];
    // octokit's #71 payloads: toNormalizedJsonString (JSON.stringify, \u escapes uppercased).
    let special = [
        (
            r#"{"foo":"Foo\n\u001B[34mbar: ♥♥♥♥♥♥♥♥\nthis-is-lost\u001B[0m\u001B[2K"}"#,
            "sha256=afecc3caa27548bb90d51a50384cb2868b9a3327b4ad6a01c9bd4ed0f8b0b12c",
        ),
        (
            r#"{"foo":"\\u001b"}"#,
            "sha256=6f8326efbacfbd04e870cea25b5652e635be8c9807f2fd5348ef60753c9e96ed",
        ),
    ];
    let mut cases = vec![
        // github/docs validating-webhook-deliveries.md "Testing the webhook payload validation".
        github(
            "github/docs validating-webhook-deliveries.md: the documented example",
            Accepts,
            Want::Pass,
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            Some(GH_DOCS_SIG),
        ),
        // The same, body changed: the docs' examples compare and refuse.
        github(
            "github/docs validating-webhook-deliveries.md: the example, body changed",
            Refuses,
            no_match.clone(),
            GH_DOCS_SECRET,
            "Hello, World?",
            Some(GH_DOCS_SIG),
        ),
        // octokit verify "returns true for correct signature".
        github(
            "octokit test/verify.test.ts: returns true for correct signature",
            Accepts,
            Want::Pass,
            OCTOKIT_SECRET,
            OCTOKIT_PAYLOAD,
            Some(OCTOKIT_SIG),
        ),
        // octokit verify "returns false for incorrect signature" ("foo").
        github(
            "octokit test/verify.test.ts: returns false for incorrect signature",
            Refuses,
            not_sha256.clone(),
            OCTOKIT_SECRET,
            OCTOKIT_PAYLOAD,
            Some("foo"),
        ),
        // octokit verify "returns false for incorrect secret".
        github(
            "octokit test/verify.test.ts: returns false for incorrect secret",
            Refuses,
            no_match.clone(),
            "foo",
            OCTOKIT_PAYLOAD,
            Some(OCTOKIT_SIG),
        ),
        // octokit verifyWithFallback "(secret, ..., [bogus]) returns true" and "(bogus, ...,
        // [secret]) returns true": two secrets configured, either order.
        github(
            "octokit test/verify.test.ts: verifyWithFallback(secret, [bogus])",
            Accepts,
            Want::Pass,
            OCTOKIT_SECRET,
            OCTOKIT_PAYLOAD,
            Some(OCTOKIT_SIG),
        )
        .secret("foo"),
        github(
            "octokit test/verify.test.ts: verifyWithFallback(bogus, [secret])",
            Accepts,
            Want::Pass,
            "foo",
            OCTOKIT_PAYLOAD,
            Some(OCTOKIT_SIG),
        )
        .secret(OCTOKIT_SECRET),
        // octokit verifyWithFallback "verify(bogus, ..., [bogus]) returns false".
        github(
            "octokit test/verify.test.ts: verifyWithFallback(bogus, [bogus])",
            Refuses,
            no_match.clone(),
            "foo",
            OCTOKIT_PAYLOAD,
            Some(OCTOKIT_SIG),
        )
        .secret("foo"),
        // The legacy X-Hub-Signature (sha1) alone: octokit and the docs read X-Hub-Signature-256.
        github(
            "github/docs + octokit src/node/verify.ts: X-Hub-Signature (sha1) alone",
            Refuses,
            Want::Refused("missing x-hub-signature-256 header"),
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            None,
        )
        .header(
            "x-hub-signature",
            "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
        ),
        // A sha1= value in X-Hub-Signature-256: "The hash signature always starts with sha256=".
        github(
            "github/docs: a sha1= value in X-Hub-Signature-256",
            Refuses,
            not_sha256.clone(),
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            Some("sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"),
        ),
        // No sha256= prefix: the docs' Ruby and Python examples and octokit compare with
        // "sha256=" + hexdigest.
        github(
            "github/docs Ruby/Python examples + octokit verify: no sha256= prefix",
            Refuses,
            not_sha256.clone(),
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            Some(docs_hex),
        ),
        github(
            "github/docs Ruby/Python examples + octokit verify: SHA256= prefix",
            Refuses,
            not_sha256.clone(),
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            Some(&format!("SHA256={docs_hex}")),
        ),
        // Uppercase hex: the same text comparisons refuse it.
        github(
            "github/docs Ruby/Python examples + octokit verify: uppercase hex",
            Refuses,
            not_lower.clone(),
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            Some(&format!("sha256={}", docs_hex.to_ascii_uppercase())),
        ),
        // No X-GitHub-Delivery: the libraries do not read it, nor does the layer (it is not
        // signed: replays are told by the signed body), with replay protection on or off.
        Case::new(
            "octokit verify / github/docs examples: no X-GitHub-Delivery",
            Accepts,
            Want::Pass,
        )
        .secret(GH_DOCS_SECRET)
        .body(GH_DOCS_PAYLOAD)
        .header("x-hub-signature-256", GH_DOCS_SIG),
        Case::new(
            "octokit verify / github/docs examples: no X-GitHub-Delivery, replay protection off",
            Accepts,
            Want::Pass,
        )
        .secret(GH_DOCS_SECRET)
        .body(GH_DOCS_PAYLOAD)
        .header("x-hub-signature-256", GH_DOCS_SIG)
        .no_replay_protection(),
        // The layer's own limit.
        github(
            "tower-shield: body over max_body",
            NoCounterpart,
            Want::TooLarge,
            GH_DOCS_SECRET,
            GH_DOCS_PAYLOAD,
            Some(GH_DOCS_SIG),
        )
        .max_body(8),
    ];
    // octokit verify "returns true if eventPayload contains special characters (#71)": the
    // lowercase and the uppercase \u escapes give the same normalized payload.
    for (payload, sig) in special {
        cases.push(github(
            "octokit test/verify.test.ts: eventPayload contains special characters (#71)",
            Accepts,
            Want::Pass,
            "development",
            payload,
            Some(sig),
        ));
    }
    cases
}

#[tokio::test]
async fn github_reference_table() {
    check("github", SignatureLayer::github, github_table()).await;
}

/// The published vectors are what the layer's HMAC computes (so the tables test the layer, not
/// a typo in a constant).
#[test]
fn the_published_github_vectors_are_hmacs_of_their_payloads() {
    assert_eq!(
        format!(
            "sha256={}",
            hex(&hmac(GH_DOCS_SECRET.as_bytes(), GH_DOCS_PAYLOAD.as_bytes()))
        ),
        GH_DOCS_SIG
    );
    assert_eq!(
        format!(
            "sha256={}",
            hex(&hmac(OCTOKIT_SECRET.as_bytes(), OCTOKIT_PAYLOAD.as_bytes()))
        ),
        OCTOKIT_SIG
    );
}
