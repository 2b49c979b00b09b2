//! Per-request cost of `ValidateRequestLayer` against a handler that calls `jsonschema`
//! itself on the same body, both in an axum Router: `cargo bench --bench validate`.
//!
//! The handler variant does what the layer saves an application from writing: read the body,
//! parse it with serde_json and validate it with the same compiled schema. The layer variant's
//! handler only takes the body. `cargo test --benches` checks that both answer the same.

mod support;

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_shield::validate::{Rule, ValidateRequestLayer};

const GROUP: &str = "validate";

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

fn valid_body() -> Bytes {
    let text = json!({
        "title": "Validating request bodies at the edge of a Tower stack",
        "body": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(35),
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

/// The layer validates; the handler takes the body as it is.
fn layer() -> Router {
    let validate = ValidateRequestLayer::builder()
        .route(Method::POST, "/v2/posts", Rule::json(schema()))
        .build()
        .expect("valid configuration");
    Router::new()
        .route(
            "/v2/posts",
            post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
        )
        .route_layer(validate)
}

fn request(body: Bytes) -> Request<Body> {
    Request::post("/v2/posts")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request")
}

type Variant = (&'static str, Router, fn() -> Bytes);

fn variants() -> Vec<Variant> {
    vec![
        ("jsonschema_in_handler", direct(), valid_body),
        ("validate_layer", layer(), valid_body),
        ("jsonschema_in_handler_invalid", direct(), invalid_body),
        ("validate_layer_invalid", layer(), invalid_body),
    ]
}

/// Both must answer alike, or the comparison means nothing.
async fn check_variants() {
    for (name, router, body) in variants() {
        let res = router.oneshot(request(body())).await.expect("infallible");
        let expected = if name.ends_with("invalid") {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::CREATED
        };
        assert_eq!(res.status(), expected, "{name}");
        if expected == StatusCode::CREATED {
            let echoed = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(echoed, body(), "{name}: the handler got the body unchanged");
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (name, router, body) in variants() {
        let body = body();
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                let req = request(body.clone());
                async move { black_box(router.oneshot(req).await.expect("infallible")) }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

/// The least mean time per request of `router` over `rounds` batches, the batches of both
/// variants interleaved: on a loaded machine the quietest batch of each is the fair comparison.
fn interleaved(rt: &tokio::runtime::Runtime, a: Variant, b: Variant) -> (f64, f64) {
    const ROUNDS: usize = 40;
    const BATCH: u32 = 2_000;
    let mut best = [f64::MAX; 2];
    let (body_a, body_b) = ((a.2)(), (b.2)());
    for _ in 0..ROUNDS {
        for (i, (router, body)) in [(&a.1, &body_a), (&b.1, &body_b)].into_iter().enumerate() {
            let start = std::time::Instant::now();
            rt.block_on(async {
                for _ in 0..BATCH {
                    let res = router.clone().oneshot(request(body.clone())).await;
                    black_box(res.expect("infallible"));
                }
            });
            let per = start.elapsed().as_nanos() as f64 / f64::from(BATCH);
            best[i] = best[i].min(per);
        }
    }
    (best[0], best[1])
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if support::measuring() {
        let names: Vec<&str> = variants().into_iter().map(|(name, _, _)| name).collect();
        let _ = support::table(GROUP, "jsonschema_in_handler", &names);
        for suffix in ["", "_invalid"] {
            let mean = |name: &str| support::mean_ns(GROUP, &format!("{name}{suffix}"));
            if let (Some(layer), Some(direct)) =
                (mean("validate_layer"), mean("jsonschema_in_handler"))
            {
                println!(
                    "validate_layer{suffix}: {layer:.0} ns, jsonschema in the handler {direct:.0} ns ({:.1}%)",
                    layer / direct * 100.0
                );
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let mut all = variants().into_iter();
        let (direct, layer) = (all.next().expect("direct"), all.next().expect("layer"));
        let (direct, layer) = interleaved(&rt, direct, layer);
        println!(
            "interleaved, best batch: validate_layer {layer:.0} ns, jsonschema in the handler \
             {direct:.0} ns ({:.1}%)",
            layer / direct * 100.0
        );
    }
}
