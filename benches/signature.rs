//! Per-request cost of verifying a Standard Webhooks signature with `SignatureLayer` (headers
//! parsed, body read from its stream, HMAC-SHA256 over `id.timestamp.body`, constant-time
//! compare, principal, body handed on), against computing HMAC-SHA256 of the same body
//! directly, at 1 KiB and 64 KiB: `cargo bench --bench signature --features signature`.
//! `cargo test --bench signature` runs each variant once and asserts it verifies.
//!
//! The target: the layer within 1.2× the raw HMAC.

mod support;

use std::convert::Infallible;
use std::hint::black_box;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::signature::{SignatureLayer, SignedBody};

const GROUP: &str = "signature";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_718_451_800;
const SIZES: [(usize, &str); 2] = [(1024, "1k"), (64 * 1024, "64k")];

fn key() -> hmac::Key {
    let secret = STANDARD.decode(&SECRET[6..]).expect("base64");
    hmac::Key::new(hmac::HMAC_SHA256, &secret)
}

fn signed(id: &str, body: &Bytes) -> Request<Full<Bytes>> {
    let mut ctx = hmac::Context::with_key(&key());
    ctx.update(format!("{id}.{NOW}.").as_bytes());
    ctx.update(body);
    let sig = format!("v1,{}", STANDARD.encode(ctx.sign()));
    Request::post("/hook")
        .header("webhook-id", id)
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", sig)
        .header("content-length", body.len())
        .body(Full::new(body.clone()))
        .expect("request")
}

type Svc = tower_shield::signature::Signature<
    tower::util::ServiceFn<
        fn(Request<SignedBody>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>,
    >,
>;

fn handler(
    req: Request<SignedBody>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let len = req.body().bytes().map_or(0, Bytes::len);
    std::future::ready(Ok(Response::new(Full::new(Bytes::from(len.to_string())))))
}

fn service(replay: bool) -> Svc {
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .max_body(1 << 20)
        .replay_protection(replay)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .expect("layer");
    layer.layer(service_fn(handler as fn(_) -> _))
}

fn body(size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Every variant verifies (and the raw HMAC is the one the header carries).
async fn check_variants() {
    for (size, _) in SIZES {
        let body = body(size);
        for replay in [false, true] {
            let res = service(replay)
                .oneshot(signed("msg_check", &body))
                .await
                .expect("infallible");
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "{size} bytes, replay {replay}"
            );
        }
        let tampered = {
            let mut req = signed("msg_check", &body);
            *req.body_mut() = Full::new(Bytes::from(vec![b'x'; size]));
            req
        };
        let res = service(false).oneshot(tampered).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (size, label) in SIZES {
        let body = body(size);
        let key = key();
        group.bench_function(format!("raw_hmac_sha256_{label}"), |b| {
            b.iter(|| {
                let mut ctx = hmac::Context::with_key(&key);
                ctx.update(b"msg_bench.1718451800.");
                ctx.update(black_box(&body));
                black_box(ctx.sign())
            });
        });
        let svc = service(false);
        group.bench_function(format!("layer_verify_{label}"), |b| {
            b.to_async(&rt).iter_batched(
                || signed("msg_bench", &body),
                |req| {
                    let svc = svc.clone();
                    async move { black_box(svc.oneshot(req).await.expect("infallible")) }
                },
                BatchSize::SmallInput,
            );
        });
        let svc = service(true);
        let mut n = 0u64;
        group.bench_function(format!("layer_verify_replay_{label}"), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    n += 1;
                    signed(&format!("msg_{n}"), &body)
                },
                |req| {
                    let svc = svc.clone();
                    async move { black_box(svc.oneshot(req).await.expect("infallible")) }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if support::measuring() {
        for (_, label) in SIZES {
            let raw = format!("raw_hmac_sha256_{label}");
            let names = [
                format!("layer_verify_{label}"),
                format!("layer_verify_replay_{label}"),
            ];
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            if let Some(base) = support::table(GROUP, &raw, &names) {
                for name in names {
                    if let Some(mean) = support::mean_ns(GROUP, name) {
                        println!("{name}: {:.2}× the raw HMAC", mean / base);
                    }
                }
            }
        }
    }
}
