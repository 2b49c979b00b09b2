//! Runs the third-party signers and verifiers of `tests/interop_signature/` as subprocesses.
//!
//! They need `python3` with `pip install -r tests/interop_signature/requirements.txt` and node
//! with `npm ci --prefix tests/interop_signature`; `.ci/run` installs both. A test fails when a
//! helper cannot run, unless `TOWER_SHIELD_SKIP_INTEROP=1` is set (then it says so and passes).
#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Whether interop tests are skipped (`TOWER_SHIELD_SKIP_INTEROP=1`); prints why.
pub fn skipped(test: &str) -> bool {
    let skip = std::env::var("TOWER_SHIELD_SKIP_INTEROP").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("{test}: skipped (TOWER_SHIELD_SKIP_INTEROP=1)");
    }
    skip
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop_signature")
}

/// Runs `program args` in the helpers' directory with `stdin`; its success and stdout (trimmed).
/// Panics, with the install command, when the program cannot be started or its imports fail.
pub fn run(program: &str, args: &[&str], stdin: &[u8]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {program} ({e}); install the interop helpers: {HOW}")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("helper output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError")
            && !stderr.contains("ERR_MODULE_NOT_FOUND")
            && !stderr.contains("Traceback"),
        "{program} {args:?} failed: {stderr}\ninstall the interop helpers: {HOW}"
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

const HOW: &str = "python3 -m pip install -r tests/interop_signature/requirements.txt && \
                   npm ci --prefix tests/interop_signature (or set TOWER_SHIELD_SKIP_INTEROP=1)";

/// Python's `standardwebhooks` signs: the `webhook-signature` value.
pub fn py_standard_webhooks_sign(secret: &str, id: &str, ts: u64, body: &str) -> String {
    let ts = ts.to_string();
    let (ok, out) = run(
        "python3",
        &["standard_webhooks.py", "sign", secret, id, &ts],
        body.as_bytes(),
    );
    assert!(ok, "standardwebhooks sign failed: {out}");
    out
}

/// Python's `standardwebhooks` verifies; `Err` with its reason when it refuses.
pub fn py_standard_webhooks_verify(
    secret: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(), String> {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let doc = serde_json::json!({ "headers": headers, "body": body });
    let (ok, out) = run(
        "python3",
        &["standard_webhooks.py", "verify", secret],
        doc.to_string().as_bytes(),
    );
    if ok { Ok(()) } else { Err(out) }
}

/// Node's `stripe` package: `generateTestHeaderString`.
pub fn node_stripe_header(secret: &str, ts: u64, payload: &str) -> String {
    let ts = ts.to_string();
    let (ok, out) = run("node", &["stripe.mjs", secret, &ts], payload.as_bytes());
    assert!(ok, "stripe generateTestHeaderString failed: {out}");
    out
}

/// The Python `http-message-signatures` package signs a request: the headers it adds.
pub fn py_http_sig_sign(doc: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let (ok, out) = run(
        "python3",
        &["rfc9421_httpsig.py", "sign"],
        doc.to_string().as_bytes(),
    );
    assert!(ok, "http-message-signatures sign failed: {out}");
    serde_json::from_str(&out).expect("headers as JSON")
}

/// The Python `http-message-signatures` package verifies a request.
pub fn py_http_sig_verify(doc: &serde_json::Value) -> Result<(), String> {
    let (ok, out) = run(
        "python3",
        &["rfc9421_httpsig.py", "verify"],
        doc.to_string().as_bytes(),
    );
    if ok { Ok(()) } else { Err(out) }
}
