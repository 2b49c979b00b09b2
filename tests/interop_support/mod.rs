//! `tests/interop/idp.py` (a PyJWT identity provider) and `tests/interop/mint.mjs` (node
//! `jsonwebtoken`, and `jose` for EdDSA), driven from the JWT interop and JWKS tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::{Value, json};
use tower_shield::auth::jwt::JwtBuilder;
use tower_shield::auth::{Algorithm, JwtKey};

pub const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

/// `tests/interop/idp.py`, running until dropped (it also exits when its stdin closes, so a
/// test that dies does not leave it behind).
pub struct Idp {
    pub base: String,
    pub http: reqwest::Client,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Idp {
    pub fn start() -> Idp {
        let check = Command::new("python3")
            .args(["-c", "import jwt, cryptography"])
            .output()
            .unwrap_or_else(|e| {
                panic!("these tests need python3 ({e}); then `pip install -r tests/interop/requirements.txt`")
            });
        assert!(
            check.status.success(),
            "these tests need PyJWT and cryptography: `pip install -r tests/interop/requirements.txt` ({})",
            String::from_utf8_lossy(&check.stderr).trim()
        );
        let mut child = Command::new("python3")
            .arg(format!("{INTEROP}/idp.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tests/interop/idp.py");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read idp.py's first line");
        let Some(base) = line.trim().strip_prefix("listening ") else {
            let _ = child.kill();
            panic!("idp.py did not start (its stderr is above); it printed {line:?}");
        };
        Idp {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            child,
            stdin,
        }
    }

    /// Stops the provider; its port refuses connections from then on.
    pub fn stop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.base)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> String {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .expect("idp.py answers");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status} {text}");
        text
    }

    /// Static keys for all three algorithms, from the provider's public PEMs.
    pub async fn static_keys(&self, builder: JwtBuilder) -> JwtBuilder {
        let rsa = self.get("/public", &[("kid", "rsa-1")]).await;
        let ec = self.get("/public", &[("kid", "ec-1")]).await;
        let ed = self.get("/public", &[("kid", "ed-1")]).await;
        builder
            .key(
                JwtKey::rsa_pem(Algorithm::RS256, rsa.as_bytes())
                    .expect("RSA SPKI PEM")
                    .with_kid("rsa-1"),
            )
            .key(
                JwtKey::ec_pem(Algorithm::ES256, ec.as_bytes())
                    .expect("P-256 SPKI PEM")
                    .with_kid("ec-1"),
            )
            .key(
                JwtKey::ed_pem(ed.as_bytes())
                    .expect("Ed25519 SPKI PEM")
                    .with_kid("ed-1"),
            )
    }

    pub async fn post(&self, path: &str) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .expect("idp.py answers");
        assert!(res.status().is_success(), "POST {path}: {}", res.status());
        serde_json::from_str(&res.text().await.expect("body")).expect("json")
    }

    /// A token signed by PyJWT with the provider's current key for `alg`.
    pub async fn mint(&self, alg: &str, query: &[(&str, &str)]) -> String {
        let mut q = vec![("alg", alg)];
        q.extend_from_slice(query);
        self.get("/mint", &q).await
    }

    pub async fn stats(&self) -> Value {
        serde_json::from_str(&self.get("/stats", &[]).await).expect("stats json")
    }

    pub async fn jwks_fetches(&self) -> u64 {
        self.stats().await["jwks_fetches"].as_u64().expect("count")
    }

    pub async fn reset_stats(&self) {
        self.post("/stats/reset").await;
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A token signed by node (`jsonwebtoken`; `jose` for EdDSA) with the PEM private key `pem`.
pub fn node_mint(alg: &str, kid: &str, pem: &str, claims: Value) -> String {
    node_mint_with_header(alg, kid, pem, claims, json!({}))
}

/// [`node_mint`] with `header` merged into the JWT header (not `alg` or `kid`).
pub fn node_mint_with_header(
    alg: &str,
    kid: &str,
    pem: &str,
    claims: Value,
    header: Value,
) -> String {
    for module in ["jsonwebtoken", "jose"] {
        assert!(
            std::path::Path::new(&format!("{INTEROP}/node_modules/{module}/package.json")).exists(),
            "these tests need the node modules: `npm ci --prefix tests/interop`"
        );
    }
    let mut child = Command::new("node")
        .arg(format!("{INTEROP}/mint.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("these tests need node ({e})"));
    let input = json!({
        "alg": alg,
        "kid": kid,
        "privateKeyPem": pem,
        "claims": claims,
        "header": header,
    });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to mint.mjs");
    let out = child.wait_with_output().expect("mint.mjs");
    assert!(
        out.status.success(),
        "mint.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}
