//! HTTP Basic credentials through `AuthLayer` and `BasicAuth`, with a verifier that records what
//! it is asked (no Argon2 here: the parser is under test, not the hash).
//!
//! Input: one byte of flags (bit 0: the round-trip mode), then
//! - raw mode: `Authorization` values, one per line;
//! - round-trip mode: a byte of style (the scheme's case, spaces), then a username and a
//!   password on two lines.
//!
//! Asserts: no panic; 200, 401, or 400 for several `Authorization` headers; 200 exactly when
//! the verifier was asked and said yes, 401 with the `Basic` challenge and an `unauthorized`
//! problem; the verifier is only ever asked
//! about one `Authorization: Basic` header no longer than 4 KiB whose token is the canonical
//! base64 of `username:password`, the username without a colon, neither with a control
//! character; and any such username and password, encoded, reach the verifier exactly.

#![no_main]

mod common;

use std::cell::RefCell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_shield::auth::{Answer, AuthLayer, AuthMethod, BasicAuth, PasswordVerifier, Principal};

const PASSWORD: &str = "open sesame";

thread_local! {
    static ASKED: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// Says yes to the password `open sesame`, and remembers every question.
struct Recorder;

impl PasswordVerifier for Recorder {
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        ASKED.with(|a| {
            a.borrow_mut()
                .push((username.to_owned(), password.to_owned()))
        });
        Answer::Ready(
            (password == PASSWORD).then(|| Principal::builder(username, AuthMethod::Basic).build()),
        )
    }
}

fn send(values: &[HeaderValue]) -> (StatusCode, Option<(String, String)>) {
    ASKED.with(|a| a.borrow_mut().clear());
    let layer = AuthLayer::new(BasicAuth::new(Recorder));
    let mut req = Request::get("/");
    for value in values {
        req = req.header("authorization", value.clone());
    }
    let (res, seen) = common::call(&layer, req.body(()).unwrap(), &[]);
    let asked = ASKED.with(|a| std::mem::take(&mut *a.borrow_mut()));
    assert!(asked.len() <= 1, "asked {} times", asked.len());
    let asked = asked.into_iter().next();
    match res.status() {
        StatusCode::OK => {
            let (username, password) = asked.as_ref().expect("200 only once verified");
            assert_eq!(password, PASSWORD);
            let principal = seen
                .expect("the inner service runs on 200")
                .extensions
                .get::<Principal>()
                .cloned()
                .expect("the principal");
            assert_eq!(principal.subject(), username);
        }
        StatusCode::UNAUTHORIZED => {
            assert!(seen.is_none());
            assert!(asked.as_ref().is_none_or(|(_, p)| p != PASSWORD));
            assert_eq!(
                common::one(res.headers(), "www-authenticate"),
                Some(r#"Basic realm="api", charset="UTF-8""#)
            );
            assert_eq!(common::problem_slug(&res), "unauthorized");
        }
        // Several `Authorization` headers: a malformed request, nothing checked.
        StatusCode::BAD_REQUEST => {
            assert!(seen.is_none() && asked.is_none());
            assert!(values.len() > 1, "400 for one header");
            assert_eq!(common::problem_slug(&res), "invalid-authorization");
        }
        status => panic!("unexpected status {status}"),
    }
    if let Some((username, password)) = &asked {
        // What the verifier gets came from exactly this.
        let [value] = values else {
            panic!("asked with {} Authorization headers", values.len());
        };
        let bytes = value.as_bytes();
        assert!(bytes.len() <= 4096);
        let space = bytes
            .iter()
            .position(|&b| b == b' ')
            .expect("a scheme and a token");
        assert!(bytes[..space].eq_ignore_ascii_case(b"basic"));
        let token = bytes[space + 1..].trim_ascii();
        assert_eq!(
            token,
            STANDARD.encode(format!("{username}:{password}")).as_bytes()
        );
        assert!(!username.contains(':'));
        assert!(
            !username
                .chars()
                .chain(password.chars())
                .any(|c| c.is_ascii_control())
        );
    }
    (res.status(), asked)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 1 == 0 {
        let values: Vec<HeaderValue> = if rest.is_empty() {
            Vec::new()
        } else {
            common::fields(rest)
                .into_iter()
                .filter_map(|v| HeaderValue::from_bytes(v).ok())
                .collect()
        };
        send(&values);
        return;
    }
    let [style, rest @ ..] = rest else {
        return;
    };
    let fields = common::fields(rest);
    let text =
        |i: usize| String::from_utf8_lossy(fields.get(i).copied().unwrap_or_default()).into_owned();
    let username: String = text(0)
        .chars()
        .filter(|c| *c != ':' && !c.is_ascii_control())
        .collect();
    let password: String = text(1).chars().filter(|c| !c.is_ascii_control()).collect();
    let password = if style & 1 != 0 {
        PASSWORD.to_owned()
    } else {
        password
    };
    let scheme = ["Basic", "basic", "BASIC", "bAsIc"][usize::from(style >> 1 & 3)];
    let spaces = " ".repeat(usize::from(style >> 3 & 3) + 1);
    let trailing = " ".repeat(usize::from(style >> 5 & 3));
    let encoded = STANDARD.encode(format!("{username}:{password}"));
    let value = HeaderValue::try_from(format!("{scheme}{spaces}{encoded}{trailing}")).unwrap();
    let (status, asked) = send(std::slice::from_ref(&value));
    if value.len() > 4096 {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(asked.is_none(), "credentials over 4 KiB are never decoded");
    } else {
        assert_eq!(asked, Some((username, password.clone())), "{value:?}");
        assert_eq!(status == StatusCode::OK, password == PASSWORD);
    }
});
