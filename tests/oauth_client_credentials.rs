//! `client::ClientCredentialsLayer` against a scripted token endpoint on a real socket: the
//! token request, the cache, refresh before expiry, one fetch in flight, the retry after a
//! `401`, and a token endpoint that is down, slow or answers garbage. The real authorization
//! server (node oidc-provider) is in `tests/oauth_oidc_provider.rs`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::post;
use http::{HeaderMap, Request, Response, StatusCode};
use serde_json::json;
use tower::{BoxError, Service, ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::client::ClientCredentialsLayer;
use tower_shield::client::credentials::{ClientAuth, ConfigError, TokenError};

#[derive(Clone)]
enum Script {
    /// Tokens `tok-1`, `tok-2`, ... with this `expires_in`.
    Tokens(u64),
    Raw(StatusCode, &'static str),
    Slow(Duration),
    /// Slow, and the token expires at once (`expires_in: 0`).
    SlowExpiring(Duration),
    /// The clock moved on by this much while the token was made, then `expires_in: 30`.
    Late(ManualClock, Duration),
    Huge,
}

#[derive(Clone)]
struct Endpoint {
    script: Arc<Mutex<Script>>,
    issued: Arc<AtomicUsize>,
    /// Token requests received, answered or not.
    requests: Arc<AtomicUsize>,
    seen: Arc<Mutex<(Option<String>, String)>>,
}

impl Endpoint {
    fn set(&self, s: Script) {
        *self.script.lock().unwrap() = s;
    }
    fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

async fn token(State(e): State<Endpoint>, headers: HeaderMap, body: Bytes) -> AxumResponse {
    e.requests.fetch_add(1, Ordering::SeqCst);
    *e.seen.lock().unwrap() = (
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        String::from_utf8(body.to_vec()).unwrap(),
    );
    let script = e.script.lock().unwrap().clone();
    let issue = |expires_in: u64| {
        let n = e.issued.fetch_add(1, Ordering::SeqCst) + 1;
        axum::Json(json!({
            "access_token": format!("tok-{n}"),
            "token_type": "Bearer",
            "expires_in": expires_in,
        }))
        .into_response()
    };
    match script {
        Script::Tokens(expires_in) => issue(expires_in),
        Script::Raw(status, body) => (status, body).into_response(),
        Script::Slow(d) => {
            tokio::time::sleep(d).await;
            issue(300)
        }
        Script::SlowExpiring(d) => {
            tokio::time::sleep(d).await;
            issue(0)
        }
        Script::Late(clock, d) => {
            clock.advance(d);
            issue(30)
        }
        Script::Huge => axum::Json(json!({
            "access_token": "a".repeat(200_000), "token_type": "Bearer",
        }))
        .into_response(),
    }
}

async fn start() -> (Endpoint, String) {
    let e = Endpoint {
        script: Arc::new(Mutex::new(Script::Tokens(300))),
        issued: Arc::default(),
        requests: Arc::default(),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/token", post(token))
        .with_state(e.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (e, format!("http://{addr}/token"))
}

/// A resource that answers with the `Authorization` it got, and `401` to the tokens in
/// `refuse`.
fn resource(
    refuse: Arc<Mutex<Vec<String>>>,
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(move |req: Request<String>| {
        let refuse = Arc::clone(&refuse);
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert_eq!(req.body(), "payload", "the body is sent each time");
            let refused = refuse
                .lock()
                .unwrap()
                .iter()
                .any(|t| auth == format!("Bearer {t}"));
            let status = if refused {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            Ok(Response::builder().status(status).body(auth).unwrap())
        }
    })
}

fn req() -> Request<String> {
    Request::post("https://api.example.com/x")
        .body("payload".to_owned())
        .unwrap()
}

#[tokio::test]
async fn the_token_request_and_the_bearer_header() {
    let (ep, url) = start().await;
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "s3cr3t:/")
        .scopes(["read", "write"])
        .resource("https://api.example.com/a")
        .resource("https://api.example.com/b")
        .audience("api")
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let client = layer.layer(resource(Arc::default(), calls.clone()));
    for _ in 0..5 {
        let res = client.clone().oneshot(req()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.body(), "Bearer tok-1");
    }
    assert_eq!(ep.issued(), 1);
    let (authorization, form) = ep.seen.lock().unwrap().clone();
    assert_eq!(
        authorization.as_deref(),
        Some("Basic c3ZjOnMzY3IzdCUzQSUyRg==")
    );
    assert_eq!(
        form,
        "grant_type=client_credentials&scope=read+write&resource=https%3A%2F%2Fapi.example.com%2Fa\
         &resource=https%3A%2F%2Fapi.example.com%2Fb&audience=api"
    );

    // client_secret_post
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .client_auth(ClientAuth::SecretPost)
        .build()
        .unwrap();
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-2");
    assert!(layer.authorization().await.unwrap().is_sensitive());
    let (authorization, form) = ep.seen.lock().unwrap().clone();
    assert_eq!(authorization, None);
    assert_eq!(
        form,
        "grant_type=client_credentials&client_id=svc&client_secret=pw"
    );
}

#[tokio::test]
async fn refreshed_before_expiry_and_fetched_again_after() {
    let (ep, url) = start().await;
    ep.set(Script::Tokens(100));
    let clock = ManualClock::at_unix_secs(1_800_000_000);
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .refresh_before(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-1");
    clock.advance(Duration::from_secs(69));
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-1");
    clock.advance(Duration::from_secs(2));
    // 71 s of 100: inside the refresh window.
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-2");
    assert_eq!(ep.issued(), 2);

    // A refresh that fails inside the window keeps the valid token.
    clock.advance(Duration::from_secs(71));
    ep.set(Script::Raw(StatusCode::SERVICE_UNAVAILABLE, ""));
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-2");
    // Past its expiry, no token: the error.
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        layer.authorization().await.unwrap_err(),
        TokenError::Refused {
            url: url.clone(),
            status: 503,
            error: None
        }
    );
    // A short lifetime is refreshed at its half, at most.
    ep.set(Script::Tokens(10));
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-3");
    clock.advance(Duration::from_secs(4));
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-3");
    clock.advance(Duration::from_secs(1));
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-4");
}

/// RFC 6749 section 5.1: `expires_in` counts "from the time the response was generated",
/// which is no earlier than the request: a token whose answer took 20 s of its 30 is expired
/// 30 s after it was asked for, not 30 s after it was read.
#[tokio::test]
async fn a_token_lives_from_when_it_was_asked_for() {
    let (ep, url) = start().await;
    let clock = ManualClock::at_unix_secs(1_800_000_000);
    ep.set(Script::Late(clock.clone(), Duration::from_secs(20)));
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-1");
    ep.set(Script::Raw(StatusCode::SERVICE_UNAVAILABLE, ""));
    // 31 s after it was asked for: expired, and the refresh fails.
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        layer.authorization().await.unwrap_err(),
        TokenError::Refused {
            url: url.clone(),
            status: 503,
            error: None
        }
    );
    assert_eq!(ep.issued(), 1);
}

#[tokio::test]
async fn one_token_request_in_flight_however_many_wait() {
    let (ep, url) = start().await;
    ep.set(Script::Slow(Duration::from_millis(300)));
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .build()
        .unwrap();
    let client = layer.layer(resource(Arc::default(), Arc::default()));
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.oneshot(req()).await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().body(), "Bearer tok-1");
    }
    assert_eq!(ep.issued(), 1);
}

/// Requests that wait for a fetch take its outcome: a failed fetch is one token request, and
/// every waiter gets its error; a token with `expires_in: 0` is every waiter's too.
#[tokio::test]
async fn waiters_share_the_fetch_they_waited_for_even_when_it_fails() {
    let (ep, url) = start().await;
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // A token endpoint that answers too late: one request, every caller the timeout.
    ep.set(Script::Slow(Duration::from_secs(5)));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let layer = layer.clone();
            tokio::spawn(async move { layer.authorization().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.unwrap().unwrap_err(),
            TokenError::Timeout {
                url: url.clone(),
                timeout: Duration::from_millis(300)
            }
        );
    }
    assert_eq!(ep.requests.load(Ordering::SeqCst), 1);

    // A token that expires at once, fetched slowly, is still every waiter's.
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .build()
        .unwrap();
    ep.set(Script::SlowExpiring(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let layer = layer.clone();
            tokio::spawn(async move { layer.authorization().await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "Bearer tok-1");
    }
    assert_eq!((ep.issued(), ep.requests.load(Ordering::SeqCst)), (1, 2));
}

/// A fetch whose caller went away (its future dropped) ended nothing: a request that waited
/// for it fetches for itself, and never takes an older fetch's outcome for that one's.
#[tokio::test]
async fn a_waiter_behind_an_abandoned_fetch_fetches_for_itself() {
    let (ep, url) = start().await;
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .build()
        .unwrap();
    // An old failure.
    ep.set(Script::Raw(StatusCode::SERVICE_UNAVAILABLE, ""));
    assert!(layer.authorization().await.is_err());
    ep.set(Script::Slow(Duration::from_millis(300)));
    let abandoned = {
        let layer = layer.clone();
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(100), layer.authorization()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let waiter = {
        let layer = layer.clone();
        tokio::spawn(async move { layer.authorization().await })
    };
    assert!(
        abandoned.await.unwrap().is_err(),
        "the first caller gave up"
    );
    let got = waiter.await.unwrap().unwrap();
    assert!(
        got.to_str().unwrap().starts_with("Bearer tok-"),
        "{:?}",
        got.to_str()
    );
}

#[tokio::test]
async fn a_401_is_retried_once_with_a_new_token() {
    let (ep, url) = start().await;
    let clock = ManualClock::at_unix_secs(1_800_000_000);
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .clock(clock.clone())
        .build()
        .unwrap();
    let refuse = Arc::new(Mutex::new(vec!["tok-1".to_owned()]));
    let calls = Arc::new(AtomicUsize::new(0));
    let client = layer.layer(resource(refuse.clone(), calls.clone()));
    assert_eq!(layer.authorization().await.unwrap(), "Bearer tok-1");
    // A minute later the resource refuses it (revoked): a new token, the request again.
    clock.advance(Duration::from_secs(60));
    let res = client.clone().oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "Bearer tok-2");
    assert_eq!((ep.issued(), calls.load(Ordering::SeqCst)), (2, 2));

    // The resource refuses the fresh token too (a wrong audience, say): the 401 is the
    // answer, and no token is fetched for it, however many requests come.
    refuse
        .lock()
        .unwrap()
        .extend(["tok-2".to_owned(), "tok-3".to_owned()]);
    for _ in 0..20 {
        let res = client.clone().oneshot(req()).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.body(), "Bearer tok-2");
    }
    assert_eq!((ep.issued(), calls.load(Ordering::SeqCst)), (2, 22));
    // Ten seconds after its fetch, a 401 may mean it was revoked: one more token, one more
    // try; refused again, the 401 is the answer, no third try.
    clock.advance(Duration::from_secs(10));
    let res = client.clone().oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.body(), "Bearer tok-3");
    assert_eq!((ep.issued(), calls.load(Ordering::SeqCst)), (3, 24));

    // Without retries, one call.
    let layer = ClientCredentialsLayer::builder(&url)
        .credentials("svc", "pw")
        .retry_on_401(false)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    refuse.lock().unwrap().push("tok-4".to_owned());
    let res = layer
        .layer(resource(refuse, calls.clone()))
        .oneshot(req())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_endpoint_down_slow_or_answering_garbage_is_a_typed_error() {
    let (ep, url) = start().await;
    let build = |url: &str| {
        ClientCredentialsLayer::builder(url)
            .credentials("svc", "hunter2")
            .timeout(Duration::from_millis(300))
            .max_body(16 * 1024)
            .build()
            .unwrap()
    };
    type Check = Box<dyn Fn(&TokenError) -> bool>;
    let cases: Vec<(Script, Check)> = vec![
        (
            Script::Raw(StatusCode::BAD_REQUEST, r#"{"error":"invalid_scope"}"#),
            Box::new(
                |e| matches!(e, TokenError::Refused { status: 400, error: Some(c), .. } if c == "invalid_scope"),
            ),
        ),
        (
            Script::Raw(StatusCode::UNAUTHORIZED, r#"{"error":"bad one\n"}"#),
            Box::new(|e| {
                matches!(
                    e,
                    TokenError::Refused {
                        status: 401,
                        error: None,
                        ..
                    }
                )
            }),
        ),
        (
            Script::Raw(StatusCode::OK, "<html>"),
            Box::new(
                |e| matches!(e, TokenError::InvalidResponse { reason, .. } if reason == "the answer is not JSON"),
            ),
        ),
        // An error answer in a `200`, as some servers send it: the error, not "no token".
        (
            Script::Raw(StatusCode::OK, r#"{"error":"invalid_client"}"#),
            Box::new(
                |e| matches!(e, TokenError::Refused { status: 200, error: Some(c), .. } if c == "invalid_client"),
            ),
        ),
        (
            Script::Raw(StatusCode::OK, r#"{"token_type":"Bearer"}"#),
            Box::new(
                |e| matches!(e, TokenError::InvalidResponse { reason, .. } if reason == "the answer has no access_token"),
            ),
        ),
        (
            Script::Raw(
                StatusCode::OK,
                r#"{"access_token":"x","token_type":"DPoP"}"#,
            ),
            Box::new(
                |e| matches!(e, TokenError::InvalidResponse { reason, .. } if reason == "the token_type is not Bearer"),
            ),
        ),
        (
            Script::Raw(
                StatusCode::OK,
                r#"{"access_token":"a\nb","token_type":"Bearer"}"#,
            ),
            Box::new(|e| matches!(e, TokenError::InvalidResponse { .. })),
        ),
        (
            Script::Raw(
                StatusCode::OK,
                r#"{"access_token":"x","token_type":"bearer","expires_in":"soon"}"#,
            ),
            Box::new(
                |e| matches!(e, TokenError::InvalidResponse { reason, .. } if reason == "expires_in is not a non-negative integer"),
            ),
        ),
        (
            Script::Huge,
            Box::new(|e| matches!(e, TokenError::TooLarge { max: 16384, .. })),
        ),
        (
            Script::Slow(Duration::from_secs(5)),
            Box::new(|e| matches!(e, TokenError::Timeout { .. })),
        ),
    ];
    for (i, (script, expected)) in cases.into_iter().enumerate() {
        ep.set(script);
        let layer = build(&url);
        let started = std::time::Instant::now();
        let e = layer.authorization().await.unwrap_err();
        assert!(expected(&e), "case {i}: {e:?}");
        assert!(!e.to_string().contains("hunter2"));
        assert!(started.elapsed() < Duration::from_secs(2), "case {i} hung");
    }
    // Down: the request is not sent, the service fails with the TokenError, boxed.
    let layer = build("http://127.0.0.1:9/token");
    let calls = Arc::new(AtomicUsize::new(0));
    let err: BoxError = layer
        .layer(resource(Arc::default(), calls.clone()))
        .oneshot(req())
        .await
        .unwrap_err();
    assert!(matches!(
        err.downcast_ref::<TokenError>(),
        Some(TokenError::Request { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn configuration() {
    let e = |b: tower_shield::client::ClientCredentialsBuilder| b.build().unwrap_err();
    assert_eq!(
        e(ClientCredentialsLayer::builder(
            "https://as.example.com/token"
        )),
        ConfigError::NoCredentials
    );
    assert_eq!(
        e(ClientCredentialsLayer::builder("http://as.example.com/token").credentials("a", "b")),
        ConfigError::InsecureHttp("http://as.example.com/token".into())
    );
    assert_eq!(
        e(
            ClientCredentialsLayer::builder("https://as.example.com/token")
                .credentials("a", "b")
                .scopes(["read write"])
        ),
        ConfigError::InvalidScope("read write".into())
    );
    let layer = ClientCredentialsLayer::builder("https://as.example.com/token")
        .credentials("svc", "hunter2")
        .build()
        .unwrap();
    assert!(!format!("{layer:?}").contains("hunter2"));
}
