//! API keys in `X-API-Key` or the `api_key` query parameter, through `AuthLayer` and
//! `ApiKeyAuth` (the query form enabled, or not).
//!
//! Input: one byte of flags (bit 0: the query form enabled; bit 1: the round-trip mode; bit 2:
//! send the key in the query; bit 3: percent-encode every byte of it), then
//! - raw mode: `X-API-Key` values, one per line, and the query string on the first line;
//! - round-trip mode: a key (UTF-8, lossily), stored, then sent.
//!
//! Asserts: no panic; 200 or 401 (an `ApiKey` challenge and an `unauthorized` problem), the inner
//! service only on 200 and then with the stored key's principal; a made-up key is never
//! accepted; a stored key of 1 to 256 bytes is accepted from the header (when it is header
//! text) and, percent-encoded any way, from the query when the query form is on (and refused
//! there when it is off); two keys are refused.

#![no_main]

mod common;

use http::{HeaderValue, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_shield::auth::{
    ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, KeyDigest, MemoryKeyStore, Principal,
};

const KNOWN: &str = "ak_test_3f9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d";

fn layer(store: MemoryKeyStore, query: bool) -> AuthLayer {
    let mut auth = ApiKeyAuth::builder(store);
    if query {
        auth = auth.query_parameter("api_key");
    }
    AuthLayer::new(auth.build().expect("the authenticator builds"))
}

fn store_with(key: &str, subject: &str) -> MemoryKeyStore {
    let store = MemoryKeyStore::new();
    store.insert(
        KeyDigest::of(key),
        ApiKeyRecord::new(Principal::builder(subject, AuthMethod::ApiKey).build()),
    );
    store
}

/// Sends the request; returns the subject of the principal on 200.
fn send(layer: &AuthLayer, req: Request<()>) -> Option<String> {
    let (res, seen) = common::call(layer, req, &[]);
    match res.status() {
        StatusCode::OK => {
            let principal = seen
                .expect("the inner service runs on 200")
                .extensions
                .get::<Principal>()
                .cloned()
                .expect("the principal");
            assert_eq!(principal.method(), AuthMethod::ApiKey);
            Some(principal.subject().to_owned())
        }
        StatusCode::UNAUTHORIZED => {
            assert!(seen.is_none());
            let challenge = common::one(res.headers(), "www-authenticate").expect("a challenge");
            assert!(challenge.starts_with("ApiKey realm=\"api\""), "{challenge}");
            assert_eq!(common::problem_slug(&res), "unauthorized");
            None
        }
        status => panic!("unexpected status {status}"),
    }
}

fn percent_encode(key: &str, all: bool) -> String {
    key.bytes()
        .map(|b| {
            if !all && (b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let query_on = flags & 1 != 0;

    if flags & 2 == 0 {
        let layer = layer(store_with(KNOWN, "known"), query_on);
        let lines = common::fields(rest);
        let query = String::from_utf8_lossy(lines[0]);
        let Ok(mut req) = Request::get(format!("/?{query}")).body(()) else {
            return;
        };
        for line in &lines[1..] {
            if let Ok(value) = HeaderValue::from_bytes(line) {
                req.headers_mut().append("x-api-key", value);
            }
        }
        let headers: Vec<&[u8]> = common::values(req.headers(), "x-api-key");
        let only_known = match headers.as_slice() {
            [one] => *one == KNOWN.as_bytes(),
            [] => true,
            _ => false,
        };
        if let Some(subject) = send(&layer, req) {
            assert_eq!(subject, "known");
            assert!(only_known, "a key other than the stored one was accepted");
        }
        return;
    }

    let key = String::from_utf8_lossy(rest);
    let layer = layer(store_with(&key, "fuzz"), query_on);
    let acceptable = !key.is_empty() && key.len() <= 256;
    let in_query = flags & 4 != 0;
    let req = if in_query {
        let encoded = percent_encode(&key, flags & 8 != 0);
        Request::get(format!("/posts?page=2&api_key={encoded}")).body(())
    } else {
        let Ok(value) = HeaderValue::from_str(&key) else {
            return;
        };
        if value.to_str().is_err() {
            return;
        }
        Request::get("/posts").header("x-api-key", value).body(())
    };
    let req = req.expect("a well-formed request");
    let got = send(&layer, req);
    let expected = acceptable && (!in_query || query_on);
    assert_eq!(got.as_deref(), expected.then_some("fuzz"), "key {key:?}");

    // Two keys are one too many, even the same twice.
    if acceptable && !in_query {
        let req = Request::get("/")
            .header("x-api-key", key.as_ref())
            .header("x-api-key", key.as_ref())
            .body(());
        if let Ok(req) = req {
            assert_eq!(send(&layer, req), None);
        }
    }
});
