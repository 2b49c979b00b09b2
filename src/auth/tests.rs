//! The chain run as a guard: answers now and later, in any order.

use std::convert::Infallible;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tower::ServiceExt;
use tower_layer::Layer;

use super::*;

/// An authenticator that logs its name when asked, and answers as told: now or later, skip,
/// accept or reject.
struct Scripted {
    name: &'static str,
    later: bool,
    answer: fn() -> Outcome,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl Authenticator for Scripted {
    fn authenticate(&self, _req: &RequestHead<'_>) -> Answer<Outcome> {
        self.log.lock().unwrap().push(self.name);
        let outcome = (self.answer)();
        if self.later {
            Answer::later(async move {
                tokio::task::yield_now().await;
                outcome
            })
        } else {
            Answer::ready(outcome)
        }
    }

    fn challenge(&self, _failure: Option<&AuthError>) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{} realm=\"api\"", self.name)).ok()
    }
}

/// An authenticator of a test chain: its name, whether it answers later, and its answer.
type Step = (&'static str, bool, fn() -> Outcome);

fn skip() -> Outcome {
    Outcome::Skip
}

fn accept() -> Outcome {
    Outcome::Authenticated(Principal::builder("u1", AuthMethod::Custom("test")).build())
}

fn reject() -> Outcome {
    Outcome::Rejected(AuthError::invalid(AuthMethod::Custom("test"), "no"))
}

/// Runs a request through a layer of `steps` (`(name, later, answer)`) and returns the status,
/// the subject the handler saw and the authenticators asked, in order.
async fn run(steps: &[Step], anonymous: bool) -> (StatusCode, Option<String>, Vec<&'static str>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut builder = AuthLayer::builder().allow_anonymous(anonymous);
    for &(name, later, answer) in steps {
        builder = builder.authenticator(Scripted {
            name,
            later,
            answer,
            log: Arc::clone(&log),
        });
    }
    let layer = builder.build().unwrap();
    let svc = layer.layer(tower::service_fn(|req: Request<()>| async move {
        let mut res = Response::new(Bytes::new());
        if let Some(p) = req.extensions().get::<Principal>() {
            res.headers_mut()
                .insert("x-subject", HeaderValue::from_str(p.subject()).unwrap());
        }
        Ok::<_, Infallible>(res)
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    let status = res.status();
    let subject = res
        .headers()
        .get("x-subject")
        .map(|v| v.to_str().unwrap().to_owned());
    let asked = log.lock().unwrap().clone();
    (status, subject, asked)
}

#[tokio::test]
async fn answers_now_settle_at_once() {
    let (status, subject, asked) = run(&[("a", false, skip), ("b", false, accept)], false).await;
    assert_eq!((status, subject.as_deref()), (StatusCode::OK, Some("u1")));
    assert_eq!(asked, ["a", "b"]);

    let (status, subject, asked) = run(&[("a", false, reject), ("b", false, accept)], false).await;
    assert_eq!((status, subject), (StatusCode::UNAUTHORIZED, None));
    assert_eq!(asked, ["a"]);
}

#[tokio::test]
async fn a_wait_resumes_from_the_next_authenticator() {
    // Skip later, skip now, skip later, accept now: each asked once, in order.
    let steps: &[Step] = &[
        ("a", true, skip),
        ("b", false, skip),
        ("c", true, skip),
        ("d", false, accept),
        ("e", false, reject),
    ];
    let (status, subject, asked) = run(steps, false).await;
    assert_eq!((status, subject.as_deref()), (StatusCode::OK, Some("u1")));
    assert_eq!(asked, ["a", "b", "c", "d"]);

    // A later rejection stops the chain.
    let (status, _, asked) = run(&[("a", true, reject), ("b", false, accept)], false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(asked, ["a"]);

    // A later acceptance too.
    let (status, subject, asked) = run(&[("a", true, accept), ("b", false, reject)], false).await;
    assert_eq!((status, subject.as_deref()), (StatusCode::OK, Some("u1")));
    assert_eq!(asked, ["a"]);
}

#[tokio::test]
async fn every_skip_after_a_wait_is_missing_or_anonymous() {
    let steps: &[Step] = &[("a", true, skip), ("b", true, skip)];
    let (status, _, asked) = run(steps, false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(asked, ["a", "b"]);

    let (status, subject, asked) = run(steps, true).await;
    assert_eq!(
        (status, subject.as_deref()),
        (StatusCode::OK, Some("anonymous"))
    );
    assert_eq!(asked, ["a", "b"]);
}

#[tokio::test]
async fn challenges_of_every_authenticator_on_a_401() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let scripted = |name, later| Scripted {
        name,
        later,
        answer: skip,
        log: Arc::clone(&log),
    };
    let layer = AuthLayer::new(scripted("A", true).or(scripted("B", false)));
    let svc = layer.layer(tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Bytes::new()))
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, [r#"A realm="api""#, r#"B realm="api""#]);
}

#[tokio::test]
async fn a_challenge_two_authenticators_share_is_sent_once() {
    // Two Bearer authenticators of one realm (a JwtAuth and an IntrospectionAuth, say).
    let log = Arc::new(Mutex::new(Vec::new()));
    let scripted = |name| Scripted {
        name,
        later: false,
        answer: skip,
        log: Arc::clone(&log),
    };
    let layer = AuthLayer::new(
        scripted("Bearer")
            .or(scripted("ApiKey"))
            .or(scripted("Bearer")),
    );
    let svc = layer.layer(tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Bytes::new()))
    }));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(
        challenges,
        [r#"Bearer realm="api""#, r#"ApiKey realm="api""#]
    );
}

#[test]
fn the_builder_needs_an_authenticator() {
    assert_eq!(
        AuthLayer::builder().build().unwrap_err(),
        ConfigError::NoAuthenticator
    );
    assert_eq!(
        ConfigError::NoAuthenticator.to_string(),
        "an AuthLayer needs at least one authenticator"
    );
    let layer = AuthLayer::builder()
        .chain(ApiKeyAuth::new(MemoryKeyStore::new()).or(ApiKeyAuth::new(MemoryKeyStore::new())))
        .authenticator(ApiKeyAuth::new(MemoryKeyStore::new()))
        .allow_anonymous(true)
        .build()
        .unwrap();
    assert_eq!(
        format!("{layer:?}"),
        "AuthLayer { authenticators: 3, anonymous: true, .. }"
    );
}

/// A failure whose detail cannot be an RFC 6750 `error_description` (a custom authenticator's,
/// past ASCII or with a quote) still gets a Bearer challenge with its error code, without the
/// description: a `401` always carries a challenge.
#[cfg(feature = "jwt")]
#[test]
fn a_bearer_challenge_leaves_out_a_detail_it_cannot_quote() {
    let plain = http::HeaderValue::from_static(r#"Bearer realm="api""#);
    let challenge = |detail: &'static str| {
        let failure = AuthError::invalid(AuthMethod::Jwt, detail);
        bearer_challenge(AuthMethod::Jwt, "api", &plain, Some(&failure))
            .expect("a challenge")
            .to_str()
            .expect("ASCII")
            .to_owned()
    };
    assert_eq!(
        challenge("token expired"),
        r#"Bearer realm="api", error="invalid_token", error_description="token expired""#
    );
    for detail in [
        "jeton expiré",
        r#"a "quoted" word"#,
        r"back\slash",
        "tab\there",
    ] {
        assert_eq!(
            challenge(detail),
            r#"Bearer realm="api", error="invalid_token""#,
            "{detail:?}"
        );
    }
}

/// Two Bearer authenticators of one realm (introspection with `skip_jwts`, then JWTs): a
/// failed token is answered with the one challenge that carries the `error` (RFC 6750 section
/// 3), not after a bare `Bearer realm="api"` a client would read first as "no token sent".
/// Challenges of other schemes or realms stay, in order.
#[test]
fn a_bare_challenge_repeated_with_an_error_is_left_out() {
    let v = |s: &str| HeaderValue::from_str(s).unwrap();
    let kept = |all: &[&str]| -> Vec<String> {
        layer::without_bare_duplicates(all.iter().map(|s| v(s)).collect())
            .iter()
            .map(|h| h.to_str().unwrap().to_owned())
            .collect()
    };
    let errored = r#"Bearer realm="api", error="invalid_token", error_description="token expired""#;
    assert_eq!(kept(&[r#"Bearer realm="api""#, errored]), [errored]);
    assert_eq!(
        kept(&[
            r#"ApiKey realm="api""#,
            r#"Bearer realm="api""#,
            errored,
            r#"Basic realm="api""#
        ]),
        [r#"ApiKey realm="api""#, errored, r#"Basic realm="api""#]
    );
    // Another realm, or a name that only begins the same: kept.
    assert_eq!(
        kept(&[r#"Bearer realm="ap""#, r#"Bearer realm="other""#, errored]),
        [r#"Bearer realm="ap""#, r#"Bearer realm="other""#, errored]
    );
    assert_eq!(kept(&[r#"Bearer realm="api""#]), [r#"Bearer realm="api""#]);
}
