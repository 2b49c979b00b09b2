//! `JwtAuth` with a remote JWK set, against a real identity provider (`tests/interop/idp.py`,
//! PyJWT + cryptography) over real sockets: discovery, every algorithm, unknown-`kid` storms,
//! `kid`s and `jku`s that try to steer the fetch, rotation, a provider that goes down, and the
//! verified-token cache across a rotation.
//!
//! Needs `python3` with `pip install -r tests/interop/requirements.txt`, and node with
//! `npm ci --prefix tests/interop`; the tests fail (they do not skip) without them.

mod common;
#[path = "interop_support/mod.rs"]
mod interop;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use common::call;
use http::{Request, StatusCode};
use interop::{Idp, node_mint};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_shield::auth::jwt::FetchError;
use tower_shield::auth::{Algorithm, AuthLayer, Jwks, JwtAuth, Principal};

const AUDIENCE: &str = "https://api.example.com";
const DISCOVERY: &str = "/.well-known/openid-configuration";
const UNKNOWN_KEY_CHALLENGE: &str =
    r#"Bearer realm="api", error="invalid_token", error_description="unknown signing key""#;

fn jwt(jwks: Jwks, issuer: &str) -> tower_shield::auth::jwt::JwtBuilder {
    JwtAuth::builder()
        .jwks(jwks)
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        .issuer(issuer)
        .audience(AUDIENCE)
}

async fn me(p: Principal) -> Json<Value> {
    Json(json!({
        "subject": p.subject(),
        "scopes": p.scopes().iter().collect::<Vec<_>>(),
        "tier": p.tier().as_str(),
        "key_id": p.key_id(),
    }))
}

fn app(jwt: JwtAuth) -> Router {
    Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(jwt))
}

fn bearer(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("json body")
}

fn unauthorized(detail: &str) -> Value {
    json!({
        "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
    })
}

/// Asserts a `200` whose principal is `subject` with `kid`.
async fn assert_accepted(app: &Router, token: &str, subject: &str, kid: &str) {
    let (status, _, body) = call(app, bearer(token)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body = json_of(&body);
    assert_eq!(body["subject"], subject);
    assert_eq!(body["key_id"], kid);
}

/// Asserts the exact `401` of a token whose `kid` is not in the set.
async fn assert_unknown_key(app: &Router, token: &str) {
    let (status, headers, body) = call(app, bearer(token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], UNKNOWN_KEY_CHALLENGE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(json_of(&body), unauthorized("unknown signing key"));
}

#[tokio::test]
async fn discovery_finds_the_set_and_fetches_each_document_once() {
    let idp = Idp::start();
    let token = idp.mint("RS256", &[("sub", "alice")]).await;
    idp.reset_stats().await;

    let jwks = Jwks::discover(&idp.base).build().expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));
    assert_accepted(&app, &token, "alice", "rsa-1").await;
    assert_accepted(&app, &token, "alice", "rsa-1").await;

    let stats = idp.stats().await;
    assert_eq!(stats["discovery_fetches"], 1);
    assert_eq!(stats["jwks_fetches"], 1);
    assert_eq!(stats["paths"], json!([DISCOVERY, "/jwks.json"]));
    assert_eq!(jwks.fetch_count(), 1);
    assert!(jwks.is_loaded());
}

#[tokio::test]
async fn discovery_refuses_a_document_for_another_issuer() {
    let idp = Idp::start();
    // The provider says its issuer is `base`; configured with a trailing slash, it is not the
    // same string, and the document is refused.
    let configured = format!("{}/", idp.base);
    let jwks = Jwks::discover(&configured).build().expect("jwks");
    assert_eq!(
        jwks.refresh().await.unwrap_err(),
        FetchError::IssuerMismatch {
            expected: configured,
            found: idp.base.clone(),
        }
    );
    assert!(!jwks.is_loaded());
    assert_eq!(idp.jwks_fetches().await, 0);
}

#[tokio::test]
async fn tokens_of_every_algorithm_are_accepted() {
    let idp = Idp::start();
    let jwks = Jwks::builder(idp.jwks_url()).build().expect("jwks");
    let app = app(jwt(jwks, &idp.base).build().expect("jwt"));
    for (alg, kid) in [("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")] {
        let token = idp
            .mint(
                alg,
                &[
                    ("sub", &format!("user-{alg}")),
                    ("scope", "read:posts write:posts"),
                    ("tier", "premium"),
                ],
            )
            .await;
        let (status, _, body) = call(&app, bearer(&token)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{alg}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            json_of(&body),
            json!({
                "subject": format!("user-{alg}"),
                "scopes": ["read:posts", "write:posts"],
                "tier": "premium",
                "key_id": kid,
            }),
            "{alg}"
        );
    }
}

/// Sends `tokens` all at once and asserts every answer is the unknown-key `401`.
async fn storm(app: &Router, tokens: &[String]) {
    let tasks: Vec<_> = tokens
        .iter()
        .map(|token| {
            let app = app.clone();
            let req = bearer(token);
            tokio::spawn(async move { call(&app, req).await })
        })
        .collect();
    for task in tasks {
        let (status, headers, body) = task.await.expect("request task");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], UNKNOWN_KEY_CHALLENGE);
        assert_eq!(json_of(&body), unauthorized("unknown signing key"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_kid_storm_fetches_at_most_once_per_cooldown() {
    let idp = Idp::start();
    // 200 tokens, each with its own random kid, minted concurrently.
    let minting: Vec<_> = (0..200)
        .map(|_| {
            let http = idp.http.clone();
            let url = format!("{}/mint", idp.base);
            let header = json!({"kid": format!("{:016x}", rand::random::<u64>())}).to_string();
            tokio::spawn(async move {
                http.get(url)
                    .query(&[
                        ("alg", "EdDSA"),
                        ("sub", "mallory"),
                        ("extra_header", &header),
                    ])
                    .send()
                    .await
                    .expect("mint")
                    .text()
                    .await
                    .expect("token")
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in minting {
        tokens.push(t.await.expect("mint task"));
    }
    idp.reset_stats().await;

    let cooldown = Duration::from_millis(1500);
    let jwks = Jwks::builder(idp.jwks_url())
        .cooldown(cooldown)
        .build()
        .expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));
    jwks.refresh().await.expect("initial load");
    assert_eq!(idp.jwks_fetches().await, 1);

    // Right after a fetch: no fetch at all.
    storm(&app, &tokens).await;
    assert_eq!(idp.jwks_fetches().await, 1);

    // Once the cool-down has passed: one fetch for the whole storm...
    tokio::time::sleep(cooldown).await;
    let fetched_at = Instant::now();
    storm(&app, &tokens).await;
    assert_eq!(idp.jwks_fetches().await, 2);
    // ...and none for a second storm within the cool-down.
    storm(&app, &tokens).await;
    assert!(
        fetched_at.elapsed() < cooldown,
        "the storms took longer than the cool-down ({:?}); the last assertion proves nothing",
        fetched_at.elapsed()
    );
    assert_eq!(idp.jwks_fetches().await, 2);
    assert_eq!(jwks.fetch_count(), 2);
}

#[tokio::test]
async fn kids_are_never_sent_to_the_provider() {
    let idp = Idp::start();
    let kids = [
        "../../etc/passwd",
        "?x=1",
        "%2e%2e",
        "..%2f..%2fprivate?kid=rsa-1",
        "/evil",
        "#frag",
        "http://127.0.0.1:1/x",
    ];
    let mut tokens = Vec::new();
    for kid in kids {
        let header = json!({ "kid": kid }).to_string();
        tokens.push(
            idp.mint("RS256", &[("sub", "mallory"), ("extra_header", &header)])
                .await,
        );
    }
    idp.reset_stats().await;

    // No cool-down: every unknown kid fetches, so every one had its chance to steer the URL.
    let jwks = Jwks::discover(&idp.base)
        .cooldown(Duration::ZERO)
        .build()
        .expect("jwks");
    jwks.refresh().await.expect("initial load");
    let app = app(jwt(jwks, &idp.base).build().expect("jwt"));
    for token in &tokens {
        assert_unknown_key(&app, token).await;
    }

    let stats = idp.stats().await;
    let mut expected = vec![DISCOVERY];
    expected.extend(std::iter::repeat_n("/jwks.json", 1 + kids.len()));
    assert_eq!(stats["paths"], json!(expected));
}

#[tokio::test]
async fn jku_x5u_and_embedded_jwk_headers_are_never_followed() {
    let idp = Idp::start();
    let evil = |path: &str| format!("{}{path}", idp.base);
    let headers = [
        json!({"jku": evil("/evil-jwks.json"), "kid": "evil"}),
        json!({"x5u": evil("/evil-x5u.pem"), "kid": "evil"}),
        json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, "kid": "evil"}),
    ];
    let mut tokens = Vec::new();
    for header in &headers {
        let header = header.to_string();
        tokens.push(
            idp.mint("RS256", &[("sub", "mallory"), ("extra_header", &header)])
                .await,
        );
    }
    // A genuine key and a jku beside it: the jku is ignored, the token verified with the set.
    let jku_only = json!({"jku": evil("/evil-jwks.json")}).to_string();
    let genuine = idp
        .mint("RS256", &[("sub", "alice"), ("extra_header", &jku_only)])
        .await;
    idp.reset_stats().await;

    let jwks = Jwks::builder(idp.jwks_url())
        .cooldown(Duration::ZERO)
        .build()
        .expect("jwks");
    let app = app(jwt(jwks, &idp.base).build().expect("jwt"));
    for token in &tokens {
        assert_unknown_key(&app, token).await;
    }
    assert_accepted(&app, &genuine, "alice", "rsa-1").await;

    let paths = idp.stats().await["paths"].clone();
    let paths: Vec<&str> = paths
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(!paths.is_empty());
    assert!(paths.iter().all(|p| *p == "/jwks.json"), "{paths:?}");
}

#[tokio::test]
async fn a_rotation_is_picked_up_and_retired_keys_are_refused() {
    let idp = Idp::start();
    let jwks = Jwks::builder(idp.jwks_url())
        .cooldown(Duration::ZERO)
        .build()
        .expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));
    let old = idp.mint("RS256", &[("sub", "alice")]).await;
    assert_accepted(&app, &old, "alice", "rsa-1").await;
    let retired_pem = idp.get("/private", &[("kid", "rsa-1")]).await;

    assert_eq!(
        idp.post("/rotate").await,
        json!({"kids": ["rsa-2", "ec-2", "ed-2"]})
    );
    let fetches = idp.jwks_fetches().await;
    let new = idp.mint("RS256", &[("sub", "bob")]).await;
    assert_accepted(&app, &new, "bob", "rsa-2").await;
    assert_eq!(
        idp.jwks_fetches().await,
        fetches + 1,
        "one refresh for the new kid"
    );
    // The new set stays: no fetch for the next token of the new key.
    assert_accepted(&app, &new, "bob", "rsa-2").await;
    assert_eq!(idp.jwks_fetches().await, fetches + 1);

    // A fresh token signed (by node) with the retired key: refused, as is the old one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forged = node_mint(
        "RS256",
        "rsa-1",
        &retired_pem,
        json!({"sub": "mallory", "iss": idp.base, "aud": AUDIENCE, "exp": now + 600}),
    );
    assert_unknown_key(&app, &forged).await;
    assert_unknown_key(&app, &old).await;
}

#[tokio::test]
async fn a_rotation_empties_the_verified_token_cache() {
    let idp = Idp::start();
    let jwks = Jwks::builder(idp.jwks_url())
        .cooldown(Duration::ZERO)
        .build()
        .expect("jwks");
    let app = app(jwt(jwks, &idp.base).cache(1000).build().expect("jwt"));
    let old = idp.mint("ES256", &[("sub", "alice")]).await;
    assert_accepted(&app, &old, "alice", "ec-1").await;
    assert_accepted(&app, &old, "alice", "ec-1").await; // from the cache

    idp.post("/rotate").await;
    let new = idp.mint("ES256", &[("sub", "bob")]).await;
    assert_accepted(&app, &new, "bob", "ec-2").await;
    // The cached principal of the retired key is not served from the cache any more.
    assert_unknown_key(&app, &old).await;
}

#[tokio::test]
async fn a_provider_that_goes_down_leaves_the_last_good_set_serving() {
    let mut idp = Idp::start();
    let jwks = Jwks::builder(idp.jwks_url())
        .cooldown(Duration::ZERO)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));
    jwks.refresh().await.expect("initial load");
    let mut tokens = Vec::new();
    for (alg, kid) in [("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")] {
        tokens.push((idp.mint(alg, &[("sub", alg)]).await, alg, kid));
    }
    let unknown = idp
        .mint(
            "RS256",
            &[("sub", "x"), ("extra_header", r#"{"kid": "rsa-99"}"#)],
        )
        .await;
    let fetches = jwks.fetch_count();

    idp.stop();
    for (token, alg, kid) in &tokens {
        assert_accepted(&app, token, alg, kid).await;
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), assert_unknown_key(&app, &unknown))
        .await
        .expect("an unknown kid is answered, not left hanging");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(jwks.fetch_count(), fetches + 1, "it did try");

    assert!(matches!(
        jwks.refresh().await,
        Err(FetchError::Request { .. })
    ));
    assert!(jwks.is_loaded());
    for (token, alg, kid) in &tokens {
        assert_accepted(&app, token, alg, kid).await;
    }
}

/// The `503` of a JWT authenticator whose key set never loaded.
async fn assert_unavailable(app: &Router, token: &str) {
    let (status, headers, body) = call(app, bearer(token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers.get("www-authenticate"), None);
    assert_eq!(
        json_of(&body),
        json!({
            "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#auth-unavailable",
            "title": "Authentication Unavailable",
            "status": 503,
            "detail": "The identity provider's signing keys could not be loaded; try again later.",
        })
    );
}

#[tokio::test]
async fn a_set_that_never_loaded_answers_503() {
    let idp = Idp::start();
    let token = idp.mint("RS256", &[("sub", "alice")]).await;

    // Nobody listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let jwks = Jwks::builder(format!("http://{closed}/jwks.json"))
        .build()
        .expect("jwks");
    let app_closed = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));
    tokio::time::timeout(
        Duration::from_secs(5),
        assert_unavailable(&app_closed, &token),
    )
    .await
    .expect("answered");
    assert!(!jwks.is_loaded());

    // A server that accepts and never answers: the timeout bounds the wait.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let jwks = Jwks::builder(format!("http://{silent_addr}/jwks.json"))
        .timeout(Duration::from_millis(300))
        .build()
        .expect("jwks");
    let app_silent = app(jwt(jwks, &idp.base).build().expect("jwt"));
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(5),
        assert_unavailable(&app_silent, &token),
    )
    .await
    .expect("answered");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A provider that accepts connections and never answers. Counts the connections it accepted,
/// and the most that were open at once.
struct SilentProvider {
    url: String,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl SilentProvider {
    async fn start() -> SilentProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let most_open = Arc::new(AtomicUsize::new(0));
        let (a, o, m) = (accepted.clone(), open.clone(), most_open.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let now_open = o.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now_open, Ordering::SeqCst);
                let o = o.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    // Read the request and whatever follows; never write. The connection counts
                    // as open until the client closes it.
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        SilentProvider {
            url,
            accepted,
            open,
            most_open,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waits_for_a_silent_provider_do_not_grow_with_the_queue() {
    // Issue 12, finding 1: with no set loaded and a provider that never answers, each waiting
    // request used to start a fetch in turn (five requests: 4, 6, 8, 10, 12 s with a 2 s
    // timeout). One fetch is in flight, the others wait for its result.
    let idp = Idp::start();
    let token = idp.mint("RS256", &[("sub", "alice")]).await;
    let silent = SilentProvider::start().await;
    let timeout = Duration::from_secs(1);
    let jwks = Jwks::builder(&silent.url)
        .timeout(timeout)
        .build()
        .expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));

    let started = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let req = bearer(&token);
            tokio::spawn(async move {
                let answer = call(&app, req).await;
                (answer, started.elapsed())
            })
        })
        .collect();
    let bound = timeout + Duration::from_secs(1);
    for task in tasks {
        let ((status, headers, body), took) =
            tokio::time::timeout(bound + Duration::from_secs(2), task)
                .await
                .expect("answered, not left waiting behind other fetches")
                .expect("request task");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers.get("www-authenticate"), None);
        assert_eq!(
            json_of(&body)["type"],
            "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#auth-unavailable"
        );
        assert!(
            took <= bound,
            "answered after {took:?}, more than {bound:?}"
        );
    }
    assert!(!jwks.is_loaded());
    let accepted = silent.accepted.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&accepted),
        "{accepted} connections for 50 requests"
    );
    assert_eq!(
        silent.most_open.load(Ordering::SeqCst),
        1,
        "never two fetches at once"
    );
    assert_eq!(jwks.fetch_count() as usize, accepted);
    // The count of open connections does see a fetch end (the client closes its connection at
    // the timeout, or when the set is dropped), so the `1` above means one fetch at a time.
    drop(app);
    drop(jwks);
    for _ in 0..100 {
        if silent.open.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(silent.open.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_set_is_served_stale_for_at_most_max_stale() {
    // Issue 12, finding 1: the last good set keeps serving while the provider is down, but
    // not forever — by default for 24 hours after the last successful fetch.
    let mut idp = Idp::start();
    let jwks = Jwks::builder(idp.jwks_url()).build().expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base)
        .cache(100)
        .build()
        .expect("jwt"));
    jwks.refresh().await.expect("initial load");
    // Valid for longer than the test's (virtual) day.
    let token = idp
        .mint("RS256", &[("sub", "alice"), ("exp_in", "999999")])
        .await;
    assert_accepted(&app, &token, "alice", "rsa-1").await;
    idp.stop();

    // Virtual time from here: a day passes in an instant, and fetches to the stopped provider
    // fail.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(24 * 3600 - 120)).await;
    assert_accepted(&app, &token, "alice", "rsa-1").await;
    assert!(jwks.is_loaded());
    tokio::time::advance(Duration::from_secs(240)).await;
    // Neither the keys nor the verified-token cache serve a set that old.
    assert_unavailable(&app, &token).await;
    assert_unavailable(&app, &token).await;
}

#[tokio::test]
async fn max_stale_is_configurable() {
    let mut idp = Idp::start();
    let jwks = Jwks::builder(idp.jwks_url())
        .refresh_interval(Duration::from_secs(60), Duration::from_secs(600))
        .max_stale(Duration::from_secs(3600))
        .build()
        .expect("jwks");
    let app = app(jwt(jwks.clone(), &idp.base).build().expect("jwt"));
    jwks.refresh().await.expect("initial load");
    let token = idp.mint("ES256", &[("sub", "bob")]).await;
    assert_accepted(&app, &token, "bob", "ec-1").await;
    idp.stop();
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3600 - 60)).await;
    assert_accepted(&app, &token, "bob", "ec-1").await;
    tokio::time::advance(Duration::from_secs(120)).await;
    assert_unavailable(&app, &token).await;
}
