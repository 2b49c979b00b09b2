//! Per-request cost of verifying a Standard Webhooks signature with `SignatureLayer` (headers
//! parsed, body read from its stream, HMAC-SHA256 over `id.timestamp.body`, constant-time
//! compare, principal, body handed on, the inner service called), against computing
//! HMAC-SHA256 of the same message (`id.timestamp.body`, with the key prepared once, as the
//! layer's is) directly, at 1 KiB and 64 KiB: `cargo bench --bench signature --features
//! signature`. The target: the layer within 1.2× the raw HMAC.
//!
//! Two raw HMACs, two libraries: aws-lc-rs's `hmac::Context` (the crypto library the crate
//! uses elsewhere) and RustCrypto's `hmac::Hmac<Sha256>`. The layer computes its HMAC from
//! SHA-256 states prepared when it is built (`sha2`'s compression, as RustCrypto's), which at
//! 1 KiB is faster than aws-lc-rs's context: the ratio to RustCrypto's is the layer's cost
//! over the fastest HMAC of the same message on the machine.
//!
//! The requests carry an axum `Body`, as a layer on an axum `Router` (or around one served by
//! `axum::serve`) gets them; `cargo test --bench signature` also checks a body of another type
//! (read through the layer's boxed read).
//!
//! Variants: `raw_hmac_sha256` (the baseline: one HMAC of the message with aws-lc-rs, nothing
//! else), `raw_rustcrypto_hmac` (the same with RustCrypto's `hmac`), `bare`
//! (the same inner service called without the layer, on the body already read: what the
//! `oneshot` and the handler cost, included in the layer's figures), `layer_verify` (replay
//! protection off) and `layer_verify_replay` (on, in memory, a fresh id per request).
//!
//! The interleaved table printed at the end gives three ratios per layer variant: the whole
//! request against aws-lc-rs's raw HMAC (`× raw`), and what the layer adds to the same request
//! without it (`layer - bare`) against aws-lc-rs's (`added × raw`) and RustCrypto's
//! (`added × rc`) raw HMAC: the verification's own cost.
//!
//! The number that matters is the interleaved table printed at the end: every round times a
//! batch of each variant in turn (requests built untimed, 16 at a time, so that their headers are
//! in cache as a server's freshly parsed ones are), so drift on a shared
//! machine lands on all of them alike; the median round is reported with the ratio to the raw
//! HMAC. Criterion's own groups run first, as a second opinion. Knobs: `SIGNATURE_BENCH_ROUNDS`
//! (default 41, `0` skips the table) and `SIGNATURE_BENCH_BATCH` (default 2,000).
//!
//! `SIGNATURE_BENCH_ONLY=raw|rc|bare|layer|replay` with `SIGNATURE_BENCH_SIZE=1k|64k` and
//! `SIGNATURE_BENCH_REQUESTS=n` sends `n` requests (built as above) to that variant only, each
//! through `measure_one`, prints the wall-clock time per request to stderr, and exits: for
//! `perf record`, or for `valgrind --tool=callgrind
//! --toggle-collect='signature::measure_one*'`, which counts the instructions of the measured
//! calls only (divide by `n`).
//!
//! `cargo test --bench signature` runs each variant once and asserts it verifies (and that the
//! inner service gets the body unchanged, and a tampered body is refused).

mod support;

use support::{env_or, median, quartiles};

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Instant;

use ::hmac::Mac as _;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use tokio::runtime::Runtime;
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::signature::{SignatureLayer, SignedBody};

const GROUP: &str = "signature";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_718_451_800;
const SIZES: [(usize, &str); 2] = [(1024, "1k"), (64 * 1024, "64k")];
const DEFAULT_ROUNDS: usize = 41;
const DEFAULT_BATCH: usize = 2_000;
/// The id of the requests without replay protection (the raw HMAC signs the same message).
const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

fn key() -> hmac::Key {
    let secret = STANDARD.decode(&SECRET[6..]).expect("base64");
    hmac::Key::new(hmac::HMAC_SHA256, &secret)
}

/// RustCrypto's HMAC-SHA256, keyed once.
type RcHmac = ::hmac::Hmac<sha2::Sha256>;

fn rc_key() -> RcHmac {
    let secret = STANDARD.decode(&SECRET[6..]).expect("base64");
    RcHmac::new_from_slice(&secret).expect("any key length")
}

/// The second baseline: RustCrypto's HMAC of the same message (the prepared key cloned).
fn rc_hmac(key: &RcHmac, prefix: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = key.clone();
    mac.update(prefix);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The baseline: HMAC-SHA256 of `id.timestamp.body`, the message the layer verifies.
fn raw_hmac(key: &hmac::Key, prefix: &[u8], body: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(prefix);
    ctx.update(body);
    ctx.sign()
}

fn prefix(id: &str) -> Vec<u8> {
    format!("{id}.{NOW}.").into_bytes()
}

fn signed_parts(id: &str, body: &Bytes) -> http::request::Builder {
    let sig = format!(
        "v1,{}",
        STANDARD.encode(raw_hmac(&key(), &prefix(id), body))
    );
    Request::post("/hook")
        .header("webhook-id", id)
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", sig)
        .header("content-length", body.len())
}

/// A signed request as a layer on an axum `Router` (or around one served by `axum::serve`)
/// gets it: with an axum `Body`.
fn signed(id: &str, body: &Bytes) -> Request<axum::body::Body> {
    signed_parts(id, body)
        .body(axum::body::Body::from(body.clone()))
        .expect("request")
}

type Handler =
    fn(Request<SignedBody>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;
type Inner = tower::util::ServiceFn<Handler>;
type Svc = tower_shield::signature::Signature<Inner>;

/// The inner service: `200` with an empty body when it got a body, `500` when not.
fn handler(
    req: Request<SignedBody>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    if req.body().bytes().is_none_or(Bytes::is_empty) {
        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    std::future::ready(Ok(res))
}

fn inner() -> Inner {
    service_fn(handler as Handler)
}

fn service(replay: bool) -> Svc {
    let layer = SignatureLayer::standard_webhooks()
        .secret("billing", SECRET)
        .max_body(1 << 20)
        .replay_protection(replay)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .expect("layer");
    layer.layer(inner())
}

fn body(size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Every variant verifies, the inner service gets the body unchanged, and a tampered body is
/// refused.
async fn check_variants() {
    for (size, _) in SIZES {
        let body = body(size);
        for replay in [false, true] {
            let res = service(replay)
                .oneshot(signed(ID, &body))
                .await
                .expect("infallible");
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "{size} bytes, replay {replay}"
            );
        }
        let echo = SignatureLayer::standard_webhooks()
            .secret("billing", SECRET)
            .clock(ManualClock::at_unix_secs(NOW))
            .build()
            .expect("layer")
            .layer(service_fn(|req: Request<SignedBody>| async move {
                let bytes = req.into_body().collect().await?.to_bytes();
                Ok::<_, Infallible>(Response::new(Full::new(bytes)))
            }));
        let res = echo
            .clone()
            .oneshot(signed(ID, &body))
            .await
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
        let got = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(got, body, "{size} bytes handed on unchanged");
        // A body of another type (read through the boxed read) too (another id: replays are
        // refused).
        let other = signed_parts("msg_other", &body)
            .body(Full::new(body.clone()))
            .expect("request");
        let res = echo.oneshot(other).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
        let got = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(got, body, "{size} bytes in a Full handed on unchanged");
        let res = bare(inner(), bare_request(ID, &body)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let tampered = {
            let mut req = signed(ID, &body);
            *req.body_mut() = axum::body::Body::from(vec![b'x'; size]);
            req
        };
        let res = service(false).oneshot(tampered).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let raw = raw_hmac(&key(), &prefix(ID), &body(1024));
    assert_eq!(
        rc_hmac(&rc_key(), &prefix(ID), &body(1024)),
        raw.as_ref(),
        "both raw HMACs compute the same tag"
    );
    let header = signed(ID, &body(1024));
    assert_eq!(
        header.headers()["webhook-signature"],
        format!("v1,{}", STANDARD.encode(raw)).as_str(),
        "the raw HMAC is the one the request carries"
    );
}

fn bare_request(id: &str, body: &Bytes) -> Request<SignedBody> {
    signed_parts(id, body)
        .body(SignedBody::new(body.clone()))
        .expect("request")
}

async fn bare(svc: Inner, req: Request<SignedBody>) -> Response<Full<Bytes>> {
    svc.oneshot(req).await.expect("infallible")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    rt.block_on(check_variants());
    let mut group = c.benchmark_group(GROUP);
    for (size, label) in SIZES {
        let body = body(size);
        let key = key();
        let prefix = prefix(ID);
        group.bench_function(format!("raw_hmac_sha256_{label}"), |b| {
            b.iter(|| black_box(raw_hmac(&key, black_box(&prefix), black_box(&body))));
        });
        let rc = rc_key();
        group.bench_function(format!("raw_rustcrypto_hmac_{label}"), |b| {
            b.iter(|| black_box(rc_hmac(&rc, black_box(&prefix), black_box(&body))));
        });
        group.bench_function(format!("bare_{label}"), |b| {
            b.to_async(&rt).iter_batched(
                || bare_request(ID, &body),
                |req| async { black_box(bare(inner(), req).await) },
                BatchSize::SmallInput,
            );
        });
        let svc = service(false);
        group.bench_function(format!("layer_verify_{label}"), |b| {
            b.to_async(&rt).iter_batched(
                || signed(ID, &body),
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

// ---------------------------------------------------------------------------------------------
// The interleaved table and the callgrind mode.

/// The variants, in table order.
const VARIANTS: [&str; 5] = ["raw", "rc", "bare", "layer", "replay"];
/// Their indices.
const RAW: usize = 0;
const RC: usize = 1;
const BARE: usize = 2;

/// What a variant runs on: built before the clock starts.
enum Input {
    Raw(Box<hmac::Key>, Vec<u8>, Bytes),
    Rc(Box<RcHmac>, Vec<u8>, Bytes),
    Bare(Vec<Request<SignedBody>>),
    Layer(Svc, Vec<Request<axum::body::Body>>),
}

/// A batch of `n` inputs of `variant` at `size` bytes; `serial` keeps replay ids fresh.
fn input(variant: &str, size: usize, n: usize, serial: &mut u64) -> Input {
    let body = body(size);
    match variant {
        "raw" => Input::Raw(Box::new(key()), prefix(ID), body),
        "rc" => Input::Rc(Box::new(rc_key()), prefix(ID), body),
        "bare" => Input::Bare((0..n).map(|_| bare_request(ID, &body)).collect()),
        "layer" => Input::Layer(service(false), (0..n).map(|_| signed(ID, &body)).collect()),
        "replay" => Input::Layer(
            service(true),
            (0..n)
                .map(|_| {
                    *serial += 1;
                    signed(&format!("msg_{serial}"), &body)
                })
                .collect(),
        ),
        other => panic!("SIGNATURE_BENCH_ONLY={other}: not raw, rc, bare, layer or replay"),
    }
}

/// One measured request (or one raw HMAC): the function callgrind counts.
#[inline(never)]
fn measure_one(rt: &Runtime, input: &mut Input, i: usize) {
    match input {
        Input::Raw(key, prefix, body) => {
            black_box(raw_hmac(key, black_box(prefix), black_box(body)));
        }
        Input::Rc(key, prefix, body) => {
            black_box(rc_hmac(key, black_box(prefix), black_box(body)));
        }
        Input::Bare(reqs) => {
            let req = reqs.pop().expect("a request per iteration");
            let res = rt.block_on(bare(inner(), req));
            debug_assert_eq!(res.status(), StatusCode::OK, "{i}");
            black_box(res);
        }
        Input::Layer(svc, reqs) => {
            let req = reqs.pop().expect("a request per iteration");
            let res = rt.block_on(svc.clone().oneshot(req)).expect("infallible");
            debug_assert_eq!(res.status(), StatusCode::OK, "{i}");
            black_box(res);
        }
    }
}

/// How many requests are built (untimed) before they are sent (timed): few enough that their
/// headers are still in cache when the layer reads them, as a server's freshly parsed request's
/// are. Building a whole batch first would make the layer, which reads the headers, pay cache
/// misses that `bare` (which does not read them) and the raw HMAC never see.
const CHUNK: usize = 16;

/// Runs `n` requests (or raw HMACs) of `variant` at `size` bytes, built [`CHUNK`] at a time
/// outside the clock; the time per request, in nanoseconds.
fn run(rt: &Runtime, variant: &str, size: usize, n: usize, serial: &mut u64) -> f64 {
    let mut ns = 0u128;
    let mut done = 0;
    while done < n {
        let chunk = CHUNK.min(n - done);
        let mut input = input(variant, size, chunk, serial);
        let start = Instant::now();
        for i in 0..chunk {
            measure_one(rt, &mut input, done + i);
        }
        ns += start.elapsed().as_nanos();
        drop(input);
        done += chunk;
    }
    ns as f64 / n.max(1) as f64
}

/// Rounds of a batch of each variant in turn, per size; prints the table.
fn interleaved(rounds: usize, batch: usize) {
    let rt = runtime();
    let mut serial = 0;
    for (size, label) in SIZES {
        let batch = if size > 4096 { batch / 8 } else { batch }.max(1);
        // Untimed: fill caches and the allocator's pools.
        for v in VARIANTS {
            run(&rt, v, size, batch, &mut serial);
        }
        let mut ns: [Vec<f64>; VARIANTS.len()] = Default::default();
        for round in 0..rounds {
            for k in 0..VARIANTS.len() {
                let i = (round + k) % VARIANTS.len();
                ns[i].push(run(&rt, VARIANTS[i], size, batch, &mut serial));
            }
        }
        println!(
            "\n{GROUP} {label}: interleaved, {rounds} rounds x {batch} per variant; the median \
             round, quartiles, and the median of the per-round ratios to the raw HMACs (raw: \
             aws-lc-rs, rc: RustCrypto)"
        );
        println!(
            "{:<8} {:>10} {:>20} {:>10} {:>16} {:>12} {:>12}",
            "variant",
            "median ns",
            "quartiles ns",
            "× raw",
            "quartiles ×",
            "added × raw",
            "added × rc"
        );
        for (i, name) in VARIANTS.iter().enumerate() {
            let (q1, q3) = quartiles(ns[i].clone());
            let ratios: Vec<f64> = (0..rounds).map(|r| ns[i][r] / ns[RAW][r]).collect();
            let (r1, r3) = quartiles(ratios.clone());
            // What the layer adds to the same request without it (`bare`), against each raw
            // HMAC: the verification's own cost, per round.
            let added = |base: usize| {
                if i > BARE {
                    let added: Vec<f64> = (0..rounds)
                        .map(|r| (ns[i][r] - ns[BARE][r]) / ns[base][r])
                        .collect();
                    format!("{:.2}", median(added))
                } else {
                    "-".to_owned()
                }
            };
            println!(
                "{name:<8} {:>10.0} {:>20} {:>10.2} {:>16} {:>12} {:>12}",
                median(ns[i].clone()),
                format!("{q1:.0} .. {q3:.0}"),
                median(ratios),
                format!("{r1:.2} .. {r3:.2}"),
                added(RAW),
                added(RC)
            );
        }
    }
}

/// `SIGNATURE_BENCH_ONLY=<variant>`: `SIGNATURE_BENCH_REQUESTS` requests of that variant only.
fn only(variant: &str) {
    let n = env_or("SIGNATURE_BENCH_REQUESTS", 10_000usize);
    let label = std::env::var("SIGNATURE_BENCH_SIZE").unwrap_or_else(|_| "1k".to_owned());
    let (size, _) = SIZES
        .into_iter()
        .find(|(_, l)| *l == label)
        .unwrap_or_else(|| panic!("SIGNATURE_BENCH_SIZE={label}: not 1k or 64k"));
    let rt = runtime();
    let mut serial = 0;
    let ns = run(&rt, variant, size, n, &mut serial);
    eprintln!("{variant} {label}: {ns:.0} ns per request (wall clock, {n} requests)");
}

/// Whether this run measures: `cargo bench`, not `cargo test --benches` nor `-- --test`/`--list`.
fn measuring() -> bool {
    support::measuring() && !std::env::args().any(|a| a == "--test" || a == "--list")
}

fn main() {
    if let Ok(variant) = std::env::var("SIGNATURE_BENCH_ONLY") {
        only(&variant);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        for (_, label) in SIZES {
            let raw = format!("raw_hmac_sha256_{label}");
            let names = [
                format!("raw_rustcrypto_hmac_{label}"),
                format!("bare_{label}"),
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
        let rounds = env_or("SIGNATURE_BENCH_ROUNDS", DEFAULT_ROUNDS);
        let batch = env_or("SIGNATURE_BENCH_BATCH", DEFAULT_BATCH);
        if rounds > 0 && batch > 0 {
            interleaved(rounds, batch);
        }
    }
}
