//! Per-request cost of `ValidateRequestLayer` against a handler that calls `jsonschema`
//! itself on the same body, both in an axum Router: `cargo bench --bench validate`.
//!
//! What each variant measures, per request (`oneshot` on a clone of the Router, as a server
//! does per connection; the same `POST /v2/posts` with `Content-Type: application/json` and a
//! 2 KiB JSON body in one `Bytes`, as hyper hands over a small body):
//!
//! - `jsonschema_in_handler`: what the layer saves an application from writing. The handler
//!   takes the body with axum's `Bytes` extractor (read whole, under axum's default body
//!   limit), parses it with `serde_json` into a `Value`, validates it with `is_valid` on the
//!   same compiled schema (draft 2020-12), and answers `201` with the body (`422` / `400`
//!   without one). It does not look at `Content-Type`.
//! - `identity_layer`: the same handler behind `Router::route_layer(Identity)`, a layer that
//!   does nothing. A `route_layer` wraps the route in a second boxed `Route` (a boxed clone of
//!   the service and a boxed future per request): what any tower layer costs in that place,
//!   before it does anything.
//! - `validate_layer`: `ValidateRequestLayer` as a `route_layer` (route found by
//!   `MatchedPath`, `Content-Type` parsed and checked, length checked, body read, parsed and
//!   validated); the handler takes the body with the same `Bytes` extractor and echoes it.
//! - `validate_outer`: the same layer around the whole Router (`layer.layer(router)`, served as
//!   it is, the way a stack wraps an application), its rule found by the request path; the same
//!   echoing handler. No second boxed route: this is the layer's cost where it costs least.
//! - `jsonschema_in_handler_256b` / `validate_outer_256b` and `_8k`: the same two with a body
//!   of about 256 bytes and 8 KiB. The layer's cost is mostly fixed (the content type, the
//!   length, the body's hand-over), the validation's grows with the body: the ratio depends on
//!   the size, so it is reported at three.
//!
//! Each Router is made ready as `axum::serve` and `into_make_service` make it, with
//! `with_state(())`: its handlers are turned into routes, and its layers applied, once (a Router
//! called as it is does that on every request, which would charge each variant for it).
//!
//! So `validate_layer - identity_layer` is the layer's own cost over validating in the
//! handler, `identity_layer - jsonschema_in_handler` is axum's plumbing for any layer, and
//! `validate_outer - jsonschema_in_handler` is the layer's whole cost in front of the Router.
//! The `_invalid` variants send a body that breaks the schema three ways: the handler answers a
//! bare `422`, the layer a problem listing the three violations.
//!
//! The number that matters is the interleaved table printed at the end: every round runs a
//! batch of each variant in turn (rotating which goes first), so drift on a shared machine
//! lands on all alike; per variant the median round, and the median of the per-round ratios.
//! Criterion's groups run first, as a second opinion.
//!
//! Knobs: `VALIDATE_BENCH_ROUNDS` (default 41), `VALIDATE_BENCH_BATCH` (requests per variant
//! per round, default 4,000); `VALIDATE_BENCH_ROUNDS=0` skips the table.
//! `VALIDATE_BENCH_ONLY=<variant>` with `VALIDATE_BENCH_REQUESTS=n` only sends `n` requests to
//! one variant and exits, for `valgrind --tool=callgrind` (subtract two runs of different `n`
//! to get instructions per request).
//!
//! `cargo test --benches` checks that all variants answer alike (status, and the body echoed
//! unchanged).

mod support;

use support::{env_or, median, quartiles};

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;
use tower::layer::util::Identity;
use tower_layer::Layer as _;
use tower_shield::validate::{Rule, ValidateRequest, ValidateRequestLayer};

const GROUP: &str = "validate";
const DEFAULT_ROUNDS: usize = 41;
const DEFAULT_BATCH: u32 = 4_000;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string", "maxLength": 10000}
        },
        "required": ["title"],
        "additionalProperties": false
    })
}

/// A valid body of about 2 KiB (the default case).
fn valid_body() -> Bytes {
    valid_body_of(35)
}

/// A valid body whose `body` member is `repeats` sentences of 57 characters: 3 make about
/// 256 bytes, 35 about 2 KiB, 143 about 8 KiB (under the schema's 10,000 characters).
fn valid_body_of(repeats: usize) -> Bytes {
    let text = json!({
        "title": "Validating request bodies at the edge of a Tower stack",
        "body": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(repeats),
    })
    .to_string();
    Bytes::from(text)
}

fn invalid_body() -> Bytes {
    Bytes::from(json!({"title": "", "body": 7, "extra": true}).to_string())
}

/// The handler validates with `jsonschema` itself.
fn direct() -> Router {
    let validator = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema())
            .expect("valid schema"),
    );
    Router::new().route(
        "/v2/posts",
        post(move |body: Bytes| {
            let validator = Arc::clone(&validator);
            async move {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(value) if validator.is_valid(&value) => (StatusCode::CREATED, body),
                    Ok(_) => (StatusCode::UNPROCESSABLE_ENTITY, Bytes::new()),
                    Err(_) => (StatusCode::BAD_REQUEST, Bytes::new()),
                }
            }
        }),
    )
}

/// The same handler behind a layer that does nothing, wired as the validation layer is.
fn identity() -> Router {
    direct().route_layer(Identity::new())
}

fn validate() -> ValidateRequestLayer {
    ValidateRequestLayer::builder()
        .route(Method::POST, "/v2/posts", Rule::json(schema()))
        .build()
        .expect("valid configuration")
}

/// The handler takes the body as it is.
fn echo() -> Router {
    Router::new().route(
        "/v2/posts",
        post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
    )
}

/// The layer validates, as a `route_layer`; the handler takes the body as it is.
fn layer() -> Router {
    echo().route_layer(validate())
}

/// The layer validates in front of the whole Router (its rule found by the request path), as
/// a stack is served; the handler takes the body as it is.
fn outer() -> ValidateRequest<Router> {
    validate().layer(echo().with_state(()))
}

fn request(body: Bytes) -> Request<Body> {
    Request::post("/v2/posts")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request")
}

/// What a variant serves: a Router, or the layer in front of one (named types, no boxing).
#[derive(Clone)]
enum App {
    Router(Router),
    Outer(ValidateRequest<Router>),
}

impl App {
    /// One request; the status and the response body.
    async fn send(self, req: Request<Body>) -> (StatusCode, Bytes) {
        match self {
            Self::Router(router) => {
                let res = router.oneshot(req).await.expect("infallible");
                let status = res.status();
                (
                    status,
                    axum::body::to_bytes(res.into_body(), usize::MAX)
                        .await
                        .expect("body"),
                )
            }
            Self::Outer(svc) => {
                let res = svc.oneshot(req).await.expect("infallible");
                let status = res.status();
                (
                    status,
                    res.into_body().collect().await.expect("body").to_bytes(),
                )
            }
        }
    }

    /// One request, the response dropped unread: what the timed loop runs.
    async fn respond(self, req: Request<Body>) {
        match self {
            Self::Router(router) => drop(black_box(router.oneshot(req).await)),
            Self::Outer(svc) => drop(black_box(svc.oneshot(req).await)),
        }
    }
}

struct Variant {
    name: &'static str,
    app: App,
    body: Bytes,
    /// The variant it is compared with: `jsonschema_in_handler` on the same body.
    base: &'static str,
}

fn variants() -> Vec<Variant> {
    let v = |name, router: Router, body, base| Variant {
        name,
        app: App::Router(router.with_state(())),
        body,
        base,
    };
    let o = |name, body, base| Variant {
        name,
        app: App::Outer(outer()),
        body,
        base,
    };
    let (small, large) = (valid_body_of(3), valid_body_of(143));
    let handler = "jsonschema_in_handler";
    let handler_invalid = "jsonschema_in_handler_invalid";
    vec![
        v(handler, direct(), valid_body(), handler),
        v("identity_layer", identity(), valid_body(), handler),
        v("validate_layer", layer(), valid_body(), handler),
        o("validate_outer", valid_body(), handler),
        v(handler_invalid, direct(), invalid_body(), handler_invalid),
        v(
            "validate_layer_invalid",
            layer(),
            invalid_body(),
            handler_invalid,
        ),
        o("validate_outer_invalid", invalid_body(), handler_invalid),
        v(
            "jsonschema_in_handler_256b",
            direct(),
            small.clone(),
            "jsonschema_in_handler_256b",
        ),
        o("validate_outer_256b", small, "jsonschema_in_handler_256b"),
        v(
            "jsonschema_in_handler_8k",
            direct(),
            large.clone(),
            "jsonschema_in_handler_8k",
        ),
        o("validate_outer_8k", large, "jsonschema_in_handler_8k"),
    ]
}

/// All must answer alike, or the comparison means nothing.
async fn check_variants() {
    for Variant {
        name, app, body, ..
    } in variants()
    {
        let (status, got) = app.send(request(body.clone())).await;
        if name.ends_with("invalid") {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
            if name.starts_with("validate_") {
                let problem: Value = serde_json::from_slice(&got).expect("a problem");
                assert_eq!(
                    problem["errors"].as_array().map(Vec::len),
                    Some(3),
                    "{name}"
                );
            }
        } else {
            assert_eq!(status, StatusCode::CREATED, "{name}");
            assert_eq!(got, body, "{name}: the handler got the body unchanged");
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for Variant {
        name, app, body, ..
    } in variants()
    {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| app.clone().respond(request(body.clone())));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Sends `n` requests to the variant, one after another; the time per request, in nanoseconds.
fn run(rt: &Runtime, variant: &Variant, n: u32) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            variant
                .app
                .clone()
                .respond(request(variant.body.clone()))
                .await;
        }
        start.elapsed().as_nanos() as f64 / f64::from(n.max(1))
    })
}

/// Rounds of a batch of each variant in turn; prints the table.
fn interleaved(rounds: usize, batch: u32) {
    let rt = runtime();
    let variants = variants();
    // Untimed: fill caches and the allocator's pools.
    for variant in &variants {
        run(&rt, variant, batch);
    }
    let started = Instant::now();
    let mut ns = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..rounds {
        // Rotate the order so no variant always runs first.
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            ns[i].push(run(&rt, &variants[i], batch));
        }
    }
    println!(
        "\n{GROUP}: interleaved, {rounds} rounds x {batch} requests per variant ({:.1} s); \
         per-request times are the median round, ratios the median of per-round ratios.",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<32} {:>10} {:>18} {:>14}",
        "variant", "median ns", "quartiles ns", "vs handler"
    );
    let index = |name: &str| variants.iter().position(|v| v.name == name);
    for (i, variant) in variants.iter().enumerate() {
        let base = index(variant.base);
        let ratio = base.filter(|&b| b != i).map_or_else(
            || "-".to_owned(),
            |b| {
                let r: Vec<f64> = (0..rounds).map(|r| ns[i][r] / ns[b][r]).collect();
                format!("{:.1}%", median(r) * 100.0)
            },
        );
        let (q1, q3) = quartiles(ns[i].clone());
        println!(
            "{:<32} {:>10.0} {:>18} {ratio:>14}",
            variant.name,
            median(ns[i].clone()),
            format!("{q1:.0} .. {q3:.0}")
        );
    }
    if let (Some(d), Some(id), Some(l)) = (
        index("jsonschema_in_handler"),
        index("identity_layer"),
        index("validate_layer"),
    ) {
        let diff = |a: usize, b: usize| median((0..rounds).map(|r| ns[a][r] - ns[b][r]).collect());
        println!(
            "route_layer plumbing (identity_layer - jsonschema_in_handler): {:.0} ns; \
             the layer's own cost (validate_layer - identity_layer): {:.0} ns",
            diff(id, d),
            diff(l, id)
        );
        if let Some(o) = index("validate_outer") {
            println!(
                "around the Router (validate_outer - jsonschema_in_handler): {:.0} ns",
                diff(o, d)
            );
        }
    }
}

/// `VALIDATE_BENCH_ONLY=<variant>`: `VALIDATE_BENCH_REQUESTS` requests to it and nothing else.
fn only(name: &str) {
    let n = env_or("VALIDATE_BENCH_REQUESTS", 10_000u32);
    let variant = variants()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("VALIDATE_BENCH_ONLY={name}: no such variant"));
    run(&runtime(), &variant, n);
}

/// Whether this run measures: `cargo bench`, not `cargo test --benches` nor `-- --test`/`--list`.
fn measuring() -> bool {
    support::measuring() && !std::env::args().any(|a| a == "--test" || a == "--list")
}

fn main() {
    if let Ok(name) = std::env::var("VALIDATE_BENCH_ONLY") {
        only(&name);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        let names: Vec<&str> = variants().iter().map(|v| v.name).collect();
        let _ = support::table(GROUP, "jsonschema_in_handler", &names);
        let rounds = env_or("VALIDATE_BENCH_ROUNDS", DEFAULT_ROUNDS);
        let batch = env_or("VALIDATE_BENCH_BATCH", DEFAULT_BATCH);
        if rounds > 0 && batch > 0 {
            interleaved(rounds, batch);
        }
    }
}
