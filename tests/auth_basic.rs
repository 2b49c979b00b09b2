//! BasicAuth with Argon2Users through real axum Routers: valid credentials, wrong ones that
//! cannot be told apart, malformed and oversized headers, other schemes, realms, many
//! requests at once under a concurrency limit, and a flood beyond the hashing queue (`503`).

mod common;

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{call, get_with, request};
use http::{HeaderMap, Request, StatusCode};
use tower_shield::AuthLayer;
use tower_shield::auth::{Argon2Users, AuthMethod, BasicAuth, Principal};

const CHALLENGE: &str = r#"Basic realm="api", charset="UTF-8""#;
/// `jane:password123`.
const JANE: &str = "Basic amFuZTpwYXNzd29yZDEyMw==";

/// A PHC string with cheap parameters (8 KiB, one pass) and a random salt, so the tests stay
/// fast in debug builds.
fn cheap_hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).unwrap();
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8, 1, 1, None).unwrap(),
    )
    .hash_password(password.as_bytes(), &salt)
    .unwrap()
    .to_string()
}

fn users() -> Argon2Users {
    users_in(Argon2Users::new())
}

/// `users` with jane and svc.
fn users_in(users: Argon2Users) -> Argon2Users {
    users
        .insert(
            "jane",
            &cheap_hash("password123"),
            Principal::builder("jane", AuthMethod::Basic)
                .scopes(["read:posts"])
                .build(),
        )
        .unwrap();
    users
        .insert(
            "svc",
            &cheap_hash("a:b::c:"),
            Principal::builder("svc", AuthMethod::Basic).build(),
        )
        .unwrap();
    users
}

/// `/me` answers `<subject> <method> <scopes>` of the principal the layer established.
fn app(auth: BasicAuth) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Extension(p): Extension<Principal>| async move {
                format!("{} {} {}", p.subject(), p.method(), p.scopes())
            }),
        )
        .layer(AuthLayer::new(auth))
}

fn basic(raw: &[u8]) -> String {
    format!("Basic {}", STANDARD.encode(raw))
}

fn with_auth(value: &str) -> Request<Body> {
    get_with("/me", "authorization", value.as_bytes())
}

fn problem(detail: &str) -> String {
    format!(
        r#"{{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized","title":"Unauthorized","status":401,"detail":"{detail}"}}"#
    )
}

/// Asserts a `401` with the Basic challenge (once) and the problem body with `detail`.
fn assert_unauthorized(
    (status, headers, body): (StatusCode, HeaderMap, bytes::Bytes),
    detail: &str,
) {
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "application/problem+json");
    let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, [CHALLENGE]);
    assert_eq!(std::str::from_utf8(&body).unwrap(), problem(detail));
}

#[tokio::test]
async fn the_demo_user_is_let_in() {
    let app = app(BasicAuth::new(users()));
    let (status, headers, body) = call(&app, with_auth(JANE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"jane basic read:posts");
    assert!(headers.get("www-authenticate").is_none());

    // The scheme is case-insensitive.
    let (status, _, body) = call(&app, with_auth("basic amFuZTpwYXNzd29yZDEyMw==")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"jane basic read:posts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_with_colons_works() {
    let app = app(BasicAuth::new(users()));
    let (status, _, body) = call(&app, with_auth(&basic(b"svc:a:b::c:"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"svc basic ");

    let (status, _, _) = call(&app, with_auth(&basic(b"svc:a:b::c"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_look_the_same() {
    let app = app(BasicAuth::new(users()));
    let wrong_password = call(&app, with_auth(&basic(b"jane:password124"))).await;
    let unknown_user = call(&app, with_auth(&basic(b"bob:password123"))).await;
    let wrong_case = call(&app, with_auth(&basic(b"Jane:password123"))).await;
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password, wrong_case);
    assert_unauthorized(wrong_password, "invalid username or password");
}

#[tokio::test]
async fn malformed_credentials_are_401() {
    let app = app(BasicAuth::new(users()));
    for value in [
        basic(b"janepassword123"),                    // no colon
        "Basic amFuZTpwYXNzd29yZDEyMw".to_owned(),    // no padding
        "Basic amFuZTpw YXNzd29yZDEyMw==".to_owned(), // whitespace inside
        "Basic ***".to_owned(),                       // not base64
        "Basic".to_owned(),                           // no token
        basic(b"jane:caf\xe9"),                       // Latin-1, not UTF-8
        basic(b"ja\x01ne:password123"),               // a control character
    ] {
        let res = call(&app, with_auth(&value)).await;
        assert_unauthorized(res, "malformed Basic credentials");
    }
}

#[tokio::test]
async fn a_huge_header_is_refused_before_decoding() {
    let app = app(BasicAuth::new(users()));
    let huge = format!("Basic {}", "A".repeat(64 * 1024));
    assert_unauthorized(call(&app, with_auth(&huge)).await, "credentials too long");

    // Just over 4 KiB of valid base64 credentials is too long as well.
    let long = basic(format!("jane:{}", "x".repeat(3100)).as_bytes());
    assert!(long.len() > 4096);
    assert_unauthorized(call(&app, with_auth(&long)).await, "credentials too long");
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = app(BasicAuth::new(users()));
    let req = Request::get("/me")
        .header("authorization", JANE)
        .header("authorization", JANE)
        .body(Body::empty())
        .unwrap();
    // A malformed request, not a wrong credential: 400, nothing checked, the challenge sent.
    let (status, headers, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/problem+json");
    let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, [CHALLENGE]);
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#invalid-authorization","title":"Malformed Authorization","status":400,"detail":"more than one Authorization header"}"#
    );
}

#[tokio::test]
async fn another_scheme_is_an_unsupported_scheme() {
    let app = app(BasicAuth::new(users()));
    assert_unauthorized(
        call(&app, with_auth("Bearer x")).await,
        "The Authorization header's scheme is not accepted here.",
    );
}

#[tokio::test]
async fn no_credentials_get_the_challenge() {
    let app = app(BasicAuth::new(users()));
    assert_unauthorized(
        call(&app, request("/me")).await,
        "This resource needs authentication; no credentials were presented.",
    );
}

#[tokio::test]
async fn the_realm_is_configurable() {
    let auth = BasicAuth::builder(users()).realm("admin").build().unwrap();
    let app = app(auth);
    let (status, headers, _) = call(&app, request("/me")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="admin", charset="UTF-8""#
    );
}

#[tokio::test]
async fn hash_password_hashes_work_through_the_layer() {
    // The default (OWASP) parameters: one real-cost hash to insert, one to check.
    let hash = tokio::task::spawn_blocking(|| Argon2Users::hash_password("password123"))
        .await
        .unwrap();
    let users = Argon2Users::new();
    users
        .insert(
            "jane",
            &hash,
            Principal::builder("jane", AuthMethod::Basic).build(),
        )
        .unwrap();
    let app = app(BasicAuth::new(users));
    let (status, _, body) = call(&app, with_auth(JANE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"jane basic ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_requests_at_once_under_a_limit_of_one_hash() {
    // A queue long enough for all 16: none is refused as overloaded.
    let users = Argon2Users::builder()
        .max_concurrent_hashes(1)
        .max_queue(16)
        .build();
    let app = app(BasicAuth::new(users_in(users)));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let value = if i % 2 == 0 {
                JANE.to_owned()
            } else {
                basic(b"jane:nope")
            };
            call(&app, with_auth(&value)).await.0
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let expected = if i % 2 == 0 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(task.await.unwrap(), expected);
    }
}

#[tokio::test]
async fn users_added_and_removed_while_serving() {
    let users = users();
    let app = app(BasicAuth::new(users.clone()));
    let bob = basic(b"bob:hunter2");
    assert_eq!(
        call(&app, with_auth(&bob)).await.0,
        StatusCode::UNAUTHORIZED
    );

    users
        .insert(
            "bob",
            &cheap_hash("hunter2"),
            Principal::builder("bob", AuthMethod::Basic).build(),
        )
        .unwrap();
    assert_eq!(call(&app, with_auth(&bob)).await.0, StatusCode::OK);

    assert!(users.remove("bob"));
    assert_eq!(
        call(&app, with_auth(&bob)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Issue 13, deliverable 2: one hashing slot and a queue of two. Ten wrong passwords at once:
/// three are hashed (`401`), seven are answered `503` with `Retry-After` at once, before any
/// hash is done, and the slot and the queue serve the next request normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_queue_is_503_with_retry_after_at_once() {
    // Real-cost hashes (the default parameters), so the ten arrive while the first is hashed.
    let hash = tokio::task::spawn_blocking(|| Argon2Users::hash_password("password123"))
        .await
        .unwrap();
    let users = Argon2Users::builder()
        .max_concurrent_hashes(1)
        .max_queue(2)
        .build();
    users
        .insert(
            "jane",
            &hash,
            Principal::builder("jane", AuthMethod::Basic).build(),
        )
        .unwrap();
    let app = app(BasicAuth::new(users));

    let wrong = basic(b"jane:wrong");
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (app, req) = (app.clone(), with_auth(&wrong));
            tokio::spawn(async move {
                let start = Instant::now();
                let res = call(&app, req).await;
                (res, start.elapsed())
            })
        })
        .collect();

    let (mut hashed, mut refused) = (Vec::new(), Vec::new());
    for task in calls {
        let ((status, headers, body), took) = task.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => hashed.push(took),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(headers["retry-after"], "1");
                assert_eq!(headers["content-type"], "application/problem+json");
                assert!(headers.get("www-authenticate").is_none());
                assert_eq!(
                    std::str::from_utf8(&body).unwrap(),
                    r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#auth-overloaded","title":"Authentication Overloaded","status":503,"detail":"Too many credential checks are waiting. Retry shortly.","retry_after":1}"#
                );
                refused.push(took);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((hashed.len(), refused.len()), (3, 7));
    // Refused at once: every 503 came before the first hash was done.
    let slowest_refusal = refused.iter().max().unwrap();
    let first_hash = hashed.iter().min().unwrap();
    assert!(
        slowest_refusal < first_hash,
        "503 after {slowest_refusal:?}, first hash after {first_hash:?}"
    );
    assert!(
        *slowest_refusal < Duration::from_millis(250),
        "{slowest_refusal:?}"
    );

    // The places are given back: jane gets in.
    let (status, _, _) = call(&app, with_auth(JANE)).await;
    assert_eq!(status, StatusCode::OK);
}
