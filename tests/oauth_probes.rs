//! Adversarial probes of what the authorization server sends: `IntrospectionAuth` reading
//! RFC 7662 answers, and `ClientCredentialsLayer` reading RFC 6749 token responses, each
//! against a scripted server on a real socket. The ordinary cases are in
//! `tests/oauth_introspection.rs` and `tests/oauth_client_credentials.rs`.

mod common;
#[path = "common/introspection.rs"]
mod introspection;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use http::StatusCode;
use serde_json::{Value, json};
use tower_shield::ManualClock;
use tower_shield::auth::IntrospectionAuth;
use tower_shield::client::ClientCredentialsLayer;
use tower_shield::client::credentials::TokenError;

use common::{call, serve};
use introspection::{app, bearer, now_secs};

/// A server that answers `POST /` with what is set: status, content type, body.
#[derive(Clone, Default)]
struct Scripted {
    answer: Arc<Mutex<(u16, &'static str, String)>>,
    calls: Arc<AtomicUsize>,
}

impl Scripted {
    fn set(&self, status: u16, content_type: &'static str, body: impl Into<String>) {
        *self.answer.lock().unwrap() = (status, content_type, body.into());
    }
    fn json(&self, v: &Value) {
        self.set(200, "application/json", v.to_string());
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn start() -> (Scripted, String) {
    let s = Scripted::default();
    let state = s.clone();
    let app = Router::new().route(
        "/",
        post(move || {
            let s = state.clone();
            async move {
                s.calls.fetch_add(1, Ordering::SeqCst);
                let (status, content_type, body) = s.answer.lock().unwrap().clone();
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", content_type)],
                    body,
                )
                    .into_response()
            }
        }),
    );
    let addr = serve(app).await;
    (s, format!("http://{addr}/"))
}

/// The status and, for a refusal, its `detail` (`type` tail for a 503); the body for a 200.
async fn outcome(app: &Router, token: &str) -> (StatusCode, String) {
    let (status, _, body) = call(app, bearer(token)).await;
    if status == StatusCode::OK {
        return (status, String::from_utf8(body.to_vec()).unwrap());
    }
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = if status == StatusCode::SERVICE_UNAVAILABLE {
        doc["type"]
            .as_str()
            .unwrap_or("")
            .rsplit('#')
            .next()
            .unwrap_or("")
            .to_owned()
    } else {
        doc["detail"].as_str().unwrap_or("").to_owned()
    };
    (status, text)
}

fn introspection(url: &str) -> IntrospectionAuth {
    IntrospectionAuth::builder(url)
        .credentials("rs", "secret")
        .timeout(Duration::from_millis(500))
        .cache(0)
        .build()
        .unwrap()
}

const UNAVAILABLE: (StatusCode, &str) = (StatusCode::SERVICE_UNAVAILABLE, "auth-unavailable");

#[tokio::test]
async fn introspection_answers_that_are_not_rfc_7662_fail_closed() {
    let (srv, url) = start().await;
    let app = app(introspection(&url));
    let future = now_secs() + 300;
    let cases: Vec<(u16, &'static str, String)> = vec![
        (
            200,
            "application/json",
            json!({"active": null, "sub": "a"}).to_string(),
        ),
        (
            200,
            "application/json",
            json!({"active": "true", "sub": "a"}).to_string(),
        ),
        (
            200,
            "application/json",
            json!({"active": 1, "sub": "a"}).to_string(),
        ),
        (200, "application/json", json!({"sub": "a"}).to_string()),
        // A duplicate `active`: serde_json keeps the last; other parsers the first.
        (
            200,
            "application/json",
            r#"{"active":false,"sub":"a","active":true}"#.into(),
        ),
        (
            200,
            "application/json",
            r#"{"active":true,"sub":"a","active":false}"#.into(),
        ),
        // `exp` or `nbf` that is not a NumericDate, in an active answer.
        (
            200,
            "application/json",
            json!({"active": true, "sub": "a", "exp": "1"}).to_string(),
        ),
        (
            200,
            "application/json",
            json!({"active": true, "sub": "a", "exp": future.to_string()}).to_string(),
        ),
        (
            200,
            "application/json",
            json!({"active": true, "sub": "a", "nbf": "0"}).to_string(),
        ),
        (
            200,
            "application/json",
            json!({"active": true, "sub": "a", "exp": true}).to_string(),
        ),
        // Not JSON.
        (
            200,
            "text/html",
            "<html><body>Login required</body></html>".into(),
        ),
        (200, "application/json", String::new()),
        // Refusals of the server.
        (
            401,
            "application/json",
            r#"{"error":"invalid_client"}"#.into(),
        ),
        (403, "text/html", "<h1>Forbidden</h1>".into()),
        (
            500,
            "application/json",
            json!({"active": true, "sub": "a"}).to_string(),
        ),
        (503, "text/plain", "busy".into()),
        // 5 MB: more than the default cap (64 KiB).
        (
            200,
            "application/json",
            format!(
                r#"{{"active":true,"sub":"a","pad":"{}"}}"#,
                "a".repeat(5 << 20)
            ),
        ),
    ];
    for (i, (status, content_type, body)) in cases.into_iter().enumerate() {
        srv.set(status, content_type, body);
        let (got, text) = outcome(&app, &format!("tok-{i}")).await;
        assert_eq!((got, text.as_str()), UNAVAILABLE, "case {i}");
    }
    // The default cap holds with the default settings too.
    let default_cap = IntrospectionAuth::builder(&url)
        .credentials("rs", "secret")
        .build()
        .unwrap();
    srv.set(
        200,
        "application/json",
        format!(
            r#"{{"active":true,"sub":"a","pad":"{}"}}"#,
            "a".repeat(5 << 20)
        ),
    );
    let (got, text) = outcome(&self::app(default_cap), "big").await;
    assert_eq!((got, text.as_str()), UNAVAILABLE);
}

#[tokio::test]
async fn a_slow_server_is_unavailable() {
    let (srv, _) = start().await;
    srv.json(&json!({"active": true, "sub": "a"}));
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let app = app(introspection(&format!("http://{addr}/")));
    let (got, text) = outcome(&app, "tok").await;
    assert_eq!((got, text.as_str()), UNAVAILABLE);
}

#[tokio::test]
async fn introspection_members_of_odd_types() {
    let (srv, url) = start().await;
    let app = app(introspection(&url));
    let now = now_secs();
    let ok = |subject: &str, scopes: &str| {
        (
            StatusCode::OK,
            format!(
                r#"{{"subject":"{subject}","method":"bearer_token","tier":"authenticated","scopes":[{scopes}]}}"#
            ),
        )
    };
    let refused = |detail: &str| (StatusCode::UNAUTHORIZED, detail.to_owned());
    let cases = [
        // Inactive, whatever else it says.
        (
            json!({"active": false, "sub": "a", "exp": "junk"}),
            refused("token is not active"),
        ),
        // NumericDates may be fractional (RFC 7519 section 2), negative, huge.
        (
            json!({"active": true, "sub": "a", "exp": (now as f64) - 10.5}),
            refused("token expired"),
        ),
        (
            json!({"active": true, "sub": "a", "exp": (now as f64) + 300.5}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "exp": -1}),
            refused("token expired"),
        ),
        (
            json!({"active": true, "sub": "a", "exp": -1.5e300}),
            refused("token expired"),
        ),
        (
            json!({"active": true, "sub": "a", "exp": u64::MAX}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "exp": 1e300}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "nbf": (now as f64) + 60.5}),
            refused("token not valid yet"),
        ),
        (
            json!({"active": true, "sub": "a", "nbf": -5, "iat": "yesterday"}),
            ok("a", ""),
        ),
        // `scope` is a space-separated string (RFC 7662 section 2.2): an array grants nothing.
        (
            json!({"active": true, "sub": "a", "scope": ["admin"]}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "scope": "read  write"}),
            ok("a", r#""read","write""#),
        ),
        // `sub` that is not a non-empty string: not the client's token either.
        (
            json!({"active": true, "sub": 42, "client_id": "svc"}),
            refused("token names no subject"),
        ),
        (
            json!({"active": true, "sub": "", "client_id": "svc"}),
            refused("token names no subject"),
        ),
        (
            json!({"active": true, "sub": ["a"], "client_id": "svc"}),
            refused("token names no subject"),
        ),
        (
            json!({"active": true, "sub": null, "client_id": "svc"}),
            ok("svc", ""),
        ),
        (
            json!({"active": true, "client_id": 7}),
            refused("token names no subject"),
        ),
        (
            json!({"active": true, "username": "ada"}),
            refused("token names no subject"),
        ),
        // `token_type`: a bearer access token's (any case), or absent. DPoP (RFC 9449) is not
        // checked here; `N_A` (RFC 8693: not an access token), a refresh token or `mac` is no
        // bearer access token (RFC 7662 section 2.2, RFC 6749 section 1.5), nor is Hydra's
        // `token_use` of a refresh token.
        (
            json!({"active": true, "sub": "a", "token_type": "Bearer"}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": "bearer"}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": "Bearer", "token_use": "access_token"}),
            ok("a", ""),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": "N_A"}),
            refused("token is not a bearer access token"),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": "refresh_token"}),
            refused("token is not a bearer access token"),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": "mac"}),
            refused("token is not a bearer access token"),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": 1}),
            refused("token is not a bearer access token"),
        ),
        (
            json!({"active": true, "sub": "a", "token_use": "refresh_token"}),
            refused("token is not a bearer access token"),
        ),
        (
            json!({"active": true, "sub": "a", "token_type": "DPoP"}),
            refused("token is bound to a DPoP key"),
        ),
        (
            json!({"active": true, "sub": "a", "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
            refused("token is bound to a DPoP key"),
        ),
        // Certificate-bound (RFC 8705): the AuthLayer sees `cnf`, and no certificate here.
        (
            json!({"active": true, "sub": "a", "cnf": {"x5t#S256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}),
            refused("token is bound to a client certificate, and none was presented"),
        ),
    ];
    for (i, (answer, expected)) in cases.into_iter().enumerate() {
        srv.json(&answer);
        assert_eq!(
            outcome(&app, &format!("tok-{i}")).await,
            expected,
            "{answer}"
        );
    }
    // `aud` as a string, an array, or something else.
    let with_audience = self::app(
        IntrospectionAuth::builder(&url)
            .credentials("rs", "secret")
            .audience("https://api")
            .cache(0)
            .build()
            .unwrap(),
    );
    for (aud, expected) in [
        (json!("https://api"), ok("a", "")),
        (json!(["x", "https://api"]), ok("a", "")),
        (
            json!(["https://api/"]),
            refused("token is not for this audience"),
        ),
        (
            json!({"https://api": true}),
            refused("token is not for this audience"),
        ),
        (json!(null), refused("token is not for this audience")),
    ] {
        srv.json(&json!({"active": true, "sub": "a", "aud": aud}));
        assert_eq!(outcome(&with_audience, "t").await, expected, "{aud}");
    }
    // `text/plain` with an RFC 7662 body: read (the body decides, not the label).
    srv.set(200, "text/plain", r#"{"active":true,"sub":"a"}"#);
    assert_eq!(outcome(&app, "plain").await, ok("a", ""));
}

#[tokio::test]
async fn the_cache_never_outlives_a_fractional_exp() {
    let (srv, url) = start().await;
    let start_secs = now_secs();
    let clock = ManualClock::at_unix_secs(start_secs);
    let auth = IntrospectionAuth::builder(&url)
        .credentials("rs", "secret")
        .max_cache_ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = app(auth);
    srv.json(&json!({"active": true, "sub": "a", "exp": start_secs as f64 + 10.5}));
    assert_eq!(outcome(&app, "t").await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(10));
    assert_eq!(outcome(&app, "t").await.0, StatusCode::OK);
    assert_eq!(srv.calls(), 1);
    // Past `exp`: not from the cache (the server is asked, and says so).
    clock.advance(Duration::from_secs(1));
    srv.json(&json!({"active": false}));
    assert_eq!(
        outcome(&app, "t").await,
        (StatusCode::UNAUTHORIZED, "token is not active".to_owned())
    );
    assert_eq!(srv.calls(), 2);
}

fn credentials(url: &str) -> ClientCredentialsLayer {
    ClientCredentialsLayer::builder(url)
        .credentials("svc", "hunter2")
        .timeout(Duration::from_millis(500))
        .clock(ManualClock::at_unix_secs(1_800_000_000))
        .build()
        .unwrap()
}

#[tokio::test]
async fn token_responses() {
    let (srv, url) = start().await;
    let accepted = [
        json!({"access_token": "abc", "token_type": "bearer", "expires_in": 3600}),
        json!({"access_token": "abc", "token_type": "BEARER"}),
        json!({"access_token": "abc", "token_type": "Bearer", "expires_in": "3600"}),
        json!({"access_token": "abc", "token_type": "Bearer", "expires_in": 0}),
        json!({"access_token": "abc", "token_type": "Bearer", "expires_in": null}),
        json!({"access_token": "abc", "token_type": "Bearer", "expires_in": u64::MAX}),
        json!({"access_token": "abc", "token_type": "Bearer", "expires_in": "99999999999999999999999"}),
        json!({"access_token": "a.b-c_d~e+f/g==", "token_type": "Bearer"}),
    ];
    for answer in accepted {
        srv.json(&answer);
        let token = answer["access_token"].as_str().unwrap();
        let header = credentials(&url).authorization().await;
        assert_eq!(
            header.as_ref().map(|h| h.to_str().unwrap().to_owned()),
            Ok(format!("Bearer {token}")),
            "{answer}"
        );
        assert!(header.unwrap().is_sensitive());
    }
    let invalid = |reason: &str| {
        Err(TokenError::InvalidResponse {
            url: url.clone(),
            reason: reason.to_owned(),
        })
    };
    let refused = [
        (
            json!({"access_token": "abc", "token_type": "mac"}),
            invalid("the token_type is not Bearer"),
        ),
        (
            json!({"access_token": "abc", "token_type": "DPoP"}),
            invalid("the token_type is not Bearer"),
        ),
        (
            json!({"access_token": "abc"}),
            invalid("the token_type is not Bearer"),
        ),
        (
            json!({"access_token": "abc", "token_type": ["Bearer"]}),
            invalid("the token_type is not Bearer"),
        ),
        (
            json!({"token_type": "Bearer"}),
            invalid("the answer has no access_token"),
        ),
        (
            json!({"access_token": "", "token_type": "Bearer"}),
            invalid("the answer has no access_token"),
        ),
        (
            json!({"access_token": 42, "token_type": "Bearer"}),
            invalid("the answer has no access_token"),
        ),
        (
            json!({"access_token": "a\r\nX-Injected: 1", "token_type": "Bearer"}),
            invalid("the access_token cannot be sent in a header"),
        ),
        (
            json!({"access_token": "a\u{0}b", "token_type": "Bearer"}),
            invalid("the access_token cannot be sent in a header"),
        ),
        (
            json!({"access_token": "a b", "token_type": "Bearer"}),
            invalid("the access_token cannot be sent in a header"),
        ),
        (
            json!({"access_token": "a,b", "token_type": "Bearer"}),
            invalid("the access_token cannot be sent in a header"),
        ),
        (
            json!({"access_token": "é", "token_type": "Bearer"}),
            invalid("the access_token cannot be sent in a header"),
        ),
        (
            json!({"access_token": "==", "token_type": "Bearer"}),
            invalid("the access_token cannot be sent in a header"),
        ),
        (
            json!({"access_token": "abc", "token_type": "Bearer", "expires_in": -1}),
            invalid("expires_in is not a non-negative integer"),
        ),
        (
            json!({"access_token": "abc", "token_type": "Bearer", "expires_in": 3600.5}),
            invalid("expires_in is not a non-negative integer"),
        ),
        (
            json!({"access_token": "abc", "token_type": "Bearer", "expires_in": "-1"}),
            invalid("expires_in is not a non-negative integer"),
        ),
        (
            json!({"access_token": "abc", "token_type": "Bearer", "expires_in": "1h"}),
            invalid("expires_in is not a non-negative integer"),
        ),
        (
            json!({"access_token": "abc", "token_type": "Bearer", "expires_in": ""}),
            invalid("expires_in is not a non-negative integer"),
        ),
    ];
    for (answer, expected) in refused {
        srv.json(&answer);
        let got = credentials(&url)
            .authorization()
            .await
            .map(|h| h.to_str().unwrap().to_owned());
        assert_eq!(got, expected, "{answer}");
    }
}

#[tokio::test]
async fn token_endpoint_errors_are_typed_and_not_retried() {
    let (srv, url) = start().await;
    let refused = |status: u16, error: Option<&str>| {
        Err::<String, _>(TokenError::Refused {
            url: url.clone(),
            status,
            error: error.map(str::to_owned),
        })
    };
    let cases = [
        (
            400,
            r#"{"error":"invalid_client"}"#.to_owned(),
            refused(400, Some("invalid_client")),
        ),
        (
            401,
            r#"{"error":"invalid_client","error_description":"bad secret"}"#.to_owned(),
            refused(401, Some("invalid_client")),
        ),
        (
            400,
            r#"{"error":"unsupported_grant_type"}"#.to_owned(),
            refused(400, Some("unsupported_grant_type")),
        ),
        // An `error` that is not a short printable code is not repeated.
        (400, r#"{"error":"a b"}"#.to_owned(), refused(400, None)),
        (
            400,
            format!(r#"{{"error":"{}"}}"#, "x".repeat(65)),
            refused(400, None),
        ),
        (500, "<html>oops</html>".to_owned(), refused(500, None)),
    ];
    for (status, body, expected) in cases {
        srv.set(status, "application/json", body.clone());
        let before = srv.calls();
        let got = credentials(&url)
            .authorization()
            .await
            .map(|h| h.to_str().unwrap().to_owned());
        assert_eq!(got, expected, "{body}");
        // One request: an error is the answer, not retried.
        assert_eq!(srv.calls(), before + 1, "{body}");
    }
    // A 200 with an error body is not a token response: the error, as Go's oauth2 reports it.
    srv.json(&json!({"error": "invalid_client"}));
    assert_eq!(
        credentials(&url).authorization().await,
        Err(TokenError::Refused {
            url: url.clone(),
            status: 200,
            error: Some("invalid_client".into()),
        })
    );
    // 10 MB: refused at the cap (64 KiB by default).
    let big = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        "a".repeat(10 << 20)
    );
    srv.set(200, "application/json", big);
    assert_eq!(
        credentials(&url).authorization().await,
        Err(TokenError::TooLarge {
            url: url.clone(),
            max: 64 * 1024,
        })
    );
    // A 400 of 10 MB too.
    srv.set(
        400,
        "application/json",
        format!(
            r#"{{"error":"invalid_client","pad":"{}"}}"#,
            "a".repeat(10 << 20)
        ),
    );
    assert!(matches!(
        credentials(&url).authorization().await,
        Err(TokenError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn an_expires_in_of_zero_is_fetched_again_each_time() {
    let (srv, url) = start().await;
    srv.json(&json!({"access_token": "abc", "token_type": "Bearer", "expires_in": 0}));
    let layer = credentials(&url);
    for n in 1..=3 {
        assert!(layer.authorization().await.is_ok());
        assert_eq!(srv.calls(), n);
    }
}
