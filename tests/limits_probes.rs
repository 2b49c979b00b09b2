//! An outside attacker's probes of rate-limit keys, rate-limit headers, API keys and request
//! ids: can a client get a fresh counter by varying what it sends, are the headers valid
//! structured fields (RFC 8941) as draft-ietf-httpapi-ratelimit-headers defines them, does an
//! API key's parsing leak anything, and can a request id inject into logs or problem bodies.

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::call;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use serde_json::Value;
use tower::{Layer as _, ServiceExt as _};
use tower_shield::auth::{ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, KeyDigest};
use tower_shield::auth::{MemoryKeyStore, Principal};
use tower_shield::rate_limit::{
    Algorithm, HeaderStyle, KeyBy, Limit, ManualClock, MemoryStore, MissingKey, PeerAddr, Quota,
    RateLimitBuilder, RateLimitLayer,
};
use tower_shield::{RequestId, RequestIdLayer};

/// 2024-06-15T11:43:00Z: on a minute boundary.
const T0: u64 = 1_718_451_780;

fn builder(clock: &ManualClock) -> RateLimitBuilder {
    RateLimitLayer::builder().store(MemoryStore::builder().clock(clock.clone()).build())
}

fn from(uri: &str) -> Request<Body> {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    let addr: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

fn with(mut req: Request<Body>, name: &'static str, value: &[u8]) -> Request<Body> {
    req.headers_mut()
        .append(name, HeaderValue::from_bytes(value).unwrap());
    req
}

/// The limiter wrapping the whole Router (no `MatchedPath`), as the README's stack has it.
fn outside(layer: RateLimitLayer) -> Router {
    let inner = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .route("/posts/{id}", get(|| async { "post" }));
    Router::new().fallback_service(layer.layer(inner))
}

async fn statuses(app: &Router, reqs: Vec<Request<Body>>) -> Vec<u16> {
    let mut out = Vec::new();
    for req in reqs {
        out.push(call(app, req).await.0.as_u16());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Rate-limit keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn path_variants_never_mint_a_route_counter() {
    let clock = ManualClock::at_unix_secs(T0);
    let per_route = || {
        Limit::new("r", Quota::per_hour(1)).key(KeyBy::route_templates(["/posts", "/posts/{id}"]))
    };
    // Default policy: a path no template matches is keyless (500), never its own counter.
    let app = outside(builder(&clock).limit(per_route()).build().unwrap());
    let variants = [
        "/posts/",
        "/POSTS",
        "/posts;x",
        "/posts%2F",
        "//posts",
        "/posts/1/2",
    ];
    assert_eq!(
        statuses(&app, variants.iter().map(|p| from(p)).collect()).await,
        [500; 6]
    );
    // The query string is not part of the path: one counter for `/posts`.
    assert_eq!(
        statuses(
            &app,
            vec![from("/posts?a=1"), from("/posts?b=2"), from("/posts")]
        )
        .await,
        [200, 429, 429]
    );
    // `;x` and `%2F` inside a parameter stay in that parameter: `/posts/{id}`'s counter.
    assert_eq!(
        statuses(
            &app,
            vec![from("/posts/1;x"), from("/posts/1%2F2"), from("/posts/2")]
        )
        .await,
        [200, 429, 429]
    );
    // Under MissingKey::Shared every keyless variant shares one counter.
    let app = outside(
        builder(&clock)
            .limit(per_route())
            .on_missing_key(MissingKey::Shared)
            .build()
            .unwrap(),
    );
    assert_eq!(
        statuses(&app, variants.iter().map(|p| from(p)).collect()).await,
        // The first passes the limiter (then the Router has no such route); the rest are 429.
        [404, 429, 429, 429, 429, 429]
    );
}

#[tokio::test]
async fn inside_the_router_the_matched_template_is_the_key() {
    let clock = ManualClock::at_unix_secs(T0);
    let app = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .route_layer(
            builder(&clock)
                .limit(Limit::new("r", Quota::per_hour(1)).key(KeyBy::route()))
                // Even with templates declared, axum's MatchedPath wins inside the Router.
                .build()
                .unwrap(),
        );
    assert_eq!(
        statuses(&app, vec![from("/posts?a=1"), from("/posts?b=2")]).await,
        [200, 429]
    );
    // Variants the Router does not route never reach the limiter: a 404, nothing served.
    assert_eq!(
        statuses(&app, vec![from("/posts/"), from("/POSTS"), from("//posts")]).await,
        [404, 404, 404]
    );
}

fn tenant_app(clock: &ManualClock, key: KeyBy) -> Router {
    outside(
        builder(clock)
            .limit(Limit::new("t", Quota::per_hour(1)).key(key))
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn header_keys_read_the_field_as_http_defines_it() {
    let clock = ManualClock::at_unix_secs(T0);
    let app = tenant_app(&clock, KeyBy::header(HeaderName::from_static("x-tenant")));
    let t = |v: &[u8]| with(from("/posts"), "x-tenant", v);
    // Surrounding whitespace is not part of a field value (RFC 9110 section 5.5).
    assert_eq!(
        statuses(&app, vec![t(b"acme"), t(b" acme"), t(b"acme\t")]).await,
        [200, 429, 429]
    );
    // Values are opaque: another case is another value (a gateway sets this header).
    assert_eq!(statuses(&app, vec![t(b"ACME")]).await, [200]);
    // A repeated field is its comma-joined list (section 5.3), never only the first line a
    // client would put in front of the value a gateway appended.
    let twice = |first: &[u8]| with(t(first), "x-tenant", b"acme");
    assert_eq!(
        statuses(
            &app,
            vec![
                twice(b"a"),
                twice(b"a"),
                with(from("/posts"), "x-tenant", b"a, acme")
            ]
        )
        .await,
        [200, 429, 429]
    );
    assert_eq!(statuses(&app, vec![twice(b"b")]).await, [200]);
    // 64 KiB values: digested (bounded key), and still one counter per value.
    let big = |last: u8| {
        let mut v = vec![b'a'; 64 * 1024];
        v[64 * 1024 - 1] = last;
        t(&v)
    };
    assert_eq!(
        statuses(&app, vec![big(b'a'), big(b'b'), big(b'a')]).await,
        [200, 200, 429]
    );
}

#[tokio::test]
async fn composite_keys_are_prefix_free() {
    let clock = ManualClock::at_unix_secs(T0);
    let app = tenant_app(
        &clock,
        KeyBy::header(HeaderName::from_static("x-a"))
            .and(KeyBy::header(HeaderName::from_static("x-b"))),
    );
    let ab = |a: &[u8], b: &[u8]| with(with(from("/posts"), "x-a", a), "x-b", b);
    // "ab"+"c" and "a"+"bc" are different pairs: different counters.
    assert_eq!(
        statuses(
            &app,
            vec![ab(b"ab", b"c"), ab(b"a", b"bc"), ab(b"ab", b"c")]
        )
        .await,
        [200, 200, 429]
    );
    // A long part (digested) next to a short one cannot pose as another split either.
    let long = vec![b'x'; 300];
    let mut longer = long.clone();
    longer.push(b'y');
    assert_eq!(
        statuses(
            &app,
            vec![ab(&long, b"y"), ab(&longer, b""), ab(&long, b"y")]
        )
        .await,
        [200, 200, 429]
    );
}

fn api_key_store() -> MemoryKeyStore {
    let store = MemoryKeyStore::new();
    store.insert(
        KeyDigest::of(DEMO),
        ApiKeyRecord::new(
            Principal::builder("demo-app", AuthMethod::ApiKey)
                .key_id("demo-1")
                .build(),
        ),
    );
    store
}

#[tokio::test]
async fn api_key_and_subject_keys_never_count_what_the_client_made_up() {
    let clock = ManualClock::at_unix_secs(T0);
    for key in [KeyBy::api_key(), KeyBy::subject()] {
        // The documented stack: AuthLayer (anonymous allowed) outside the limiter.
        let app = outside(
            builder(&clock)
                .limit(Limit::new("k", Quota::per_hour(1)).key(key))
                .on_missing_key(MissingKey::Shared)
                .build()
                .unwrap(),
        )
        .layer(AuthLayer::new(ApiKeyAuth::new(api_key_store())).allow_anonymous(true));
        // Anonymous requests share one counter; a made-up key never reaches the limiter.
        assert_eq!(
            statuses(
                &app,
                vec![
                    from("/posts"),
                    from("/posts"),
                    with(from("/posts"), "x-api-key", b"ak_live_made_up"),
                ]
            )
            .await,
            [200, 429, 401]
        );
        // The validated key has its own.
        assert_eq!(
            statuses(
                &app,
                vec![
                    with(from("/posts"), "x-api-key", DEMO.as_bytes()),
                    with(from("/posts"), "x-api-key", DEMO.as_bytes()),
                ]
            )
            .await,
            [200, 429]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Rate-limit headers
// ---------------------------------------------------------------------------------------------

/// One parsed item of a `RateLimit` or `RateLimit-Policy` field: an RFC 8941 String with
/// Integer parameters.
#[derive(Debug)]
struct Item {
    name: String,
    params: Vec<(String, u64)>,
}

impl Item {
    fn get(&self, key: &str) -> u64 {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
    }
}

/// A strict RFC 8941 parser for the List of `sf-string;key=sf-integer` items these fields
/// use (section 4.2: list members separated by `OWS , OWS`); panics on anything else.
fn parse_list(field: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let b = field.as_bytes();
    let mut i = 0;
    loop {
        assert_eq!(
            b.get(i),
            Some(&b'"'),
            "sf-string expected at {i} in {field:?}"
        );
        i += 1;
        let mut name = String::new();
        loop {
            let c = *b
                .get(i)
                .unwrap_or_else(|| panic!("unterminated string in {field:?}"));
            i += 1;
            match c {
                b'"' => break,
                b'\\' => panic!("escapes are valid SF but no name needs one: {field:?}"),
                0x20..=0x7e => name.push(char::from(c)),
                _ => panic!("byte {c:#x} is not allowed in an sf-string: {field:?}"),
            }
        }
        let mut params = Vec::new();
        while b.get(i) == Some(&b';') {
            i += 1;
            let start = i;
            assert!(
                b.get(i)
                    .is_some_and(|c| c.is_ascii_lowercase() || *c == b'*')
            );
            while b.get(i).is_some_and(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'.' | b'*')
            }) {
                i += 1;
            }
            let key = field[start..i].to_owned();
            assert_eq!(b.get(i), Some(&b'='), "{field:?}");
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = &field[start..i];
            // sf-integer: 1 to 15 digits; a `-` would be a negative value.
            assert!((1..=15).contains(&digits.len()), "{key} in {field:?}");
            params.push((key, digits.parse().unwrap()));
        }
        items.push(Item { name, params });
        if i == b.len() {
            return items;
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        assert_eq!(b.get(i), Some(&b','), "{field:?}");
        i += 1;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
    }
}

fn num(h: &HeaderMap, name: &str) -> u64 {
    h[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn ietf_fields_are_structured_fields_and_consistent_with_the_legacy_ones() {
    for algorithm in [
        Algorithm::TokenBucket,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
    ] {
        let clock = ManualClock::at_unix_secs(T0 + 7);
        let app = outside(
            builder(&clock)
                .limit(Limit::new("burst", Quota::per_minute(3)).algorithm(algorithm))
                .limit(Limit::new("daily.v2", Quota::per_day(5)).algorithm(algorithm))
                .headers(HeaderStyle::Both)
                .build()
                .unwrap(),
        );
        let mut refused = false;
        for n in 0..5 {
            let (status, h, _) = call(&app, from("/posts")).await;
            let policy = parse_list(h["ratelimit-policy"].to_str().unwrap());
            let state = parse_list(h["ratelimit"].to_str().unwrap());
            let names: Vec<_> = policy.iter().map(|i| i.name.as_str()).collect();
            assert_eq!(names, ["burst", "daily.v2"], "{algorithm:?}");
            assert_eq!((policy[0].get("q"), policy[0].get("w")), (3, 60));
            assert_eq!((policy[1].get("q"), policy[1].get("w")), (5, 86_400));
            for (p, s) in policy.iter().zip(&state) {
                assert_eq!(p.name, s.name);
                let keys: Vec<_> = s.params.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(keys, ["r", "t"]);
                assert!(s.get("r") <= p.get("q"), "{algorithm:?} {s:?}");
                // A sliding window's t is an upper bound that reaches two windows (the current
                // window's count weighs on the next one); the others' stay within one.
                let w = p.get("w")
                    * if algorithm == Algorithm::SlidingWindow {
                        2
                    } else {
                        1
                    };
                assert!(s.get("t") <= w, "{algorithm:?} {s:?}");
            }
            // Legacy fields: the limit closest to refusing, Reset in Unix seconds.
            let (limit, remaining, reset) = (
                num(&h, "x-ratelimit-limit"),
                num(&h, "x-ratelimit-remaining"),
                num(&h, "x-ratelimit-reset"),
            );
            assert!(remaining <= limit);
            assert!(reset >= T0 + 7, "{algorithm:?}: reset {reset} is Unix time");
            if status == StatusCode::TOO_MANY_REQUESTS {
                refused = true;
                let retry = num(&h, "retry-after");
                assert!(retry >= 1);
                // The refusing limit's t is the Retry-After; the legacy reset is no earlier.
                assert_eq!(state[0].get("t"), retry, "{algorithm:?}");
                assert_eq!(state[0].get("r"), 0);
                assert!(reset >= T0 + 7 + retry, "{algorithm:?}");
                assert_eq!(remaining, 0);
            } else {
                assert!(n < 3, "{algorithm:?} admitted request {n}");
                assert!(!h.contains_key("retry-after"));
            }
        }
        assert!(refused, "{algorithm:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. API keys
// ---------------------------------------------------------------------------------------------

const DEMO: &str = "ak_live_7f3a9b2c4d5e6f1a8b9c0d1e2f3a4b5c";

fn problem(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn me_app(auth: ApiKeyAuth) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(AuthLayer::new(auth))
}

#[tokio::test]
async fn api_key_variants_are_exact_and_answers_do_not_tell_keys_apart() {
    let app = me_app(ApiKeyAuth::new(api_key_store()));
    let key = |v: &[u8]| {
        with(
            Request::get("/me").body(Body::empty()).unwrap(),
            "x-api-key",
            v,
        )
    };
    assert_eq!(call(&app, key(DEMO.as_bytes())).await.0, StatusCode::OK);
    // The key is an exact secret: another case, inner whitespace, a suffix are other keys,
    // and every unknown key gets the same answer, byte for byte.
    let reference = call(&app, key(b"ak_live_unknown")).await;
    assert_eq!(reference.0, StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&reference.2)["detail"], "invalid API key");
    let upper = DEMO.to_uppercase();
    let near = format!("{}0", &DEMO[..DEMO.len() - 1]);
    let inner_space = DEMO.replacen('_', " _", 1);
    let suffixed = format!("{DEMO}x");
    for variant in [&upper, &near, &inner_space, &suffixed] {
        let answer = call(&app, key(variant.as_bytes())).await;
        assert_eq!(answer, reference, "{variant}");
    }
    // At the 256-byte bound: hashed and unknown; one byte over: refused before hashing.
    let at = "k".repeat(256);
    assert_eq!(call(&app, key(at.as_bytes())).await, reference);
    let over = "k".repeat(257);
    let (status, _, body) = call(&app, key(over.as_bytes())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&body)["detail"], "malformed API key");
    // Non-ASCII (obs-text) is malformed, not looked up.
    let (_, _, body) = call(&app, key("ak_live_é".as_bytes())).await;
    assert_eq!(problem(&body)["detail"], "malformed API key");
}

#[tokio::test]
async fn api_keys_travel_in_their_header_only() {
    let app = me_app(ApiKeyAuth::new(api_key_store()));
    // `Authorization: ApiKey ...` is not a place this authenticator reads: no credentials.
    let authz = with(
        Request::get("/me").body(Body::empty()).unwrap(),
        "authorization",
        format!("ApiKey {DEMO}").as_bytes(),
    );
    let (status, _, body) = call(&app, authz).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem(&body)["detail"],
        "The Authorization header's scheme is not accepted here."
    );
    // With the query form enabled, a header key and a query key together: refused, as two
    // header lines are (which one is meant?).
    let both = ApiKeyAuth::builder(api_key_store())
        .query_parameter("api_key")
        .build()
        .unwrap();
    let app = me_app(both);
    let req = with(
        Request::get("/me?api_key=ak_live_other")
            .body(Body::empty())
            .unwrap(),
        "x-api-key",
        DEMO.as_bytes(),
    );
    let (status, _, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["detail"],
        "more than one API key"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Request ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hostile_request_ids_never_reach_problem_bodies() {
    let app = me_app(ApiKeyAuth::new(api_key_store())).layer(RequestIdLayer::new());
    let hostile: [&[u8]; 7] = [
        b"a b",
        b"\"quoted\"",
        b"%0d%0a{\"level\":\"ERROR\"}",
        b"abc%0D%0AX-Injected:1",
        b"id,other",
        b"<script>",
        b"a\\b",
    ];
    for raw in hostile {
        let req = with(
            Request::get("/me").body(Body::empty()).unwrap(),
            "x-request-id",
            raw,
        );
        let (status, h, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let id = h["x-request-id"].to_str().unwrap();
        assert!(common::is_uuid_v7(id), "{id}");
        assert_eq!(problem(&body)["request_id"], id);
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("%0"), "{text}");
    }
    // An acceptable id is echoed as sent, in the header and the body.
    let req = with(
        Request::get("/me").body(Body::empty()).unwrap(),
        "x-request-id",
        b"trace:abc+/=_-.9",
    );
    let (_, h, body) = call(&app, req).await;
    assert_eq!(h["x-request-id"], "trace:abc+/=_-.9");
    assert_eq!(problem(&body)["request_id"], "trace:abc+/=_-.9");
}

#[tokio::test]
async fn a_full_header_map_still_drops_the_unacceptable_id() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let inner_seen = std::sync::Arc::clone(&seen);
    let svc = RequestIdLayer::new().layer(tower::service_fn(move |req: Request<()>| {
        let values: Vec<Vec<u8>> = req
            .headers()
            .get_all("x-request-id")
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        let id = req.extensions().get::<RequestId>().unwrap().to_string();
        *inner_seen.lock().unwrap() = Some((values, id));
        async { Ok::<_, std::convert::Infallible>(http::Response::new(())) }
    }));
    let mut req = Request::get("/")
        .header("x-request-id", "<evil>")
        .body(())
        .unwrap();
    for i in 0.. {
        let name = HeaderName::try_from(format!("h{i}")).unwrap();
        if req
            .headers_mut()
            .try_insert(name, HeaderValue::from_static("v"))
            .is_err()
        {
            break;
        }
    }
    let res = svc.oneshot(req).await.unwrap();
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (values, id) = seen.lock().unwrap().take().unwrap();
    assert_eq!(values, [id.as_bytes().to_vec()]);
    assert_eq!(echoed, id);
    assert!(common::is_uuid_v7(&id));
}
