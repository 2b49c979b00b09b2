//! Per-request cost of rate limiting, in one run: `cargo bench --bench rate_limit`.
//!
//! - The decision alone: [`MemoryStore::decide`] for one token-bucket check against
//!   governor's keyed limiter (`RateLimiter::keyed(..).check_key`, the `DashMap` store), for
//!   one hot key and for 100,000 keys cycled in the same order, on 1, 2 and 4 threads. A
//!   multi-threaded figure is the wall time of all threads divided by all their decisions
//!   (the inverse of the throughput), so it is directly comparable with the single-threaded
//!   one. Target: the store within 1.5× of governor's keyed check in every case; issue 17
//!   asks for 1.0× (one hot key) and 1.2× (100,000 keys) on one thread, which the interleaved
//!   table below checks.
//! - Through a tower service: a bare `service_fn` answering an empty response, the same
//!   wrapped by `RateLimitLayer` (token bucket keyed by the client IP) and by tower_governor's
//!   `GovernorLayer` (`PeerIpKeyExtractor`), with rate-limit headers off and on, for one hot
//!   IP and 100,000 IPs. Target: the layer costs no more than tower_governor's.
//!
//! - Interleaved, as a check on criterion (it measures one contestant after another, and on a
//!   shared machine the load drifts between them): rounds of a batch of single-threaded
//!   decisions of each contestant in turn (hot and many keys), the median round per
//!   contestant and the median of the per-round ratios. Knobs: `RATE_LIMIT_BENCH_ROUNDS`
//!   (default 31; 0 skips it) and `RATE_LIMIT_BENCH_BATCH` (decisions per round, default
//!   200,000). `RATE_LIMIT_BENCH_ONLY=governor_hot|shield_hot|governor_many|shield_many`
//!   with `RATE_LIMIT_BENCH_DECISIONS=n` fills that one contestant's table, makes `n`
//!   decisions and exits, for `valgrind --tool=callgrind` (subtract two runs of different `n`
//!   to get instructions per decision).
//!
//! Every contestant gets the same quota, so large that nothing is ever refused (one token
//! every microsecond, a burst of `u32::MAX`: about 71 minutes of backlog) and each one runs
//! its full admitted path, and the same requests (`GET /` with curl's headers and axum's
//! `ConnectInfo<SocketAddr>`, which both layers read). tower-shield's key bytes for the store
//! alone are the layer's own for an IPv4 client (`[1, 4, a, b, c, d]`).

mod support;

use support::{env_or, median, quartiles};

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use http::{Request, Response};
use tokio::runtime::Runtime;
use tower::util::ServiceFn;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_shield::rate_limit::{
    Algorithm, Answer, Check, HeaderStyle, KeyBy, Limit, MemoryStore, Quota, RateLimitLayer, Rule,
    Store,
};

const STORE: &str = "rate_limit_store";
const LAYER: &str = "rate_limit_layer";
const SCOPE: &str = "bench";
/// Distinct client IPs of the "many keys" cases (fewer in test mode).
const MANY: usize = 100_000;
const THREADS: [usize; 2] = [2, 4];
const HOT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
/// One token back every microsecond.
const INTERVAL: Duration = Duration::from_micros(1);

fn shield_quota() -> Quota {
    Quota::per_second(1_000_000).burst(u32::MAX)
}

fn governor_quota() -> governor::Quota {
    governor::Quota::with_period(INTERVAL)
        .expect("non-zero period")
        .allow_burst(NonZeroU32::MAX)
}

/// `n` distinct IPv4 addresses spread over the whole space, in a fixed order.
fn ips(n: usize) -> Vec<Ipv4Addr> {
    (0..n)
        .map(|i| {
            // An odd multiplier is a bijection on u32: the addresses are distinct.
            let i = u32::try_from(i).expect("fewer than 2^32 keys");
            Ipv4Addr::from(i.wrapping_mul(0x9E37_79B1).wrapping_add(0x0A00_0001))
        })
        .collect()
}

/// The bytes `KeyBy::ip()` makes of an IPv4 client.
fn key_bytes(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [1, 4, a, b, c, d]
}

// ---------------------------------------------------------------------------------------------
// The decision alone.

/// A store decision or a keyed check, on the `i`-th key of the set.
trait Decider: Sync {
    /// Decides for key `i` (modulo the number of keys); whether it was admitted.
    fn admit(&self, i: usize) -> bool;
    /// How many keys it cycles through.
    fn keys(&self) -> usize;
}

struct ShieldStore {
    store: MemoryStore,
    rule: Rule,
    keys: Vec<[u8; 6]>,
}

impl ShieldStore {
    fn new(keys: &[Ipv4Addr]) -> Self {
        Self {
            store: MemoryStore::new(),
            rule: Rule::new(Algorithm::TokenBucket, shield_quota()).expect("rule"),
            keys: keys.iter().copied().map(key_bytes).collect(),
        }
    }
}

impl Decider for ShieldStore {
    fn admit(&self, i: usize) -> bool {
        let check = Check {
            scope: SCOPE,
            key: &self.keys[i % self.keys.len()],
            rule: self.rule,
            cost: 1,
        };
        // The least a caller does with the answer (`into_ready` would move it once more).
        match self.store.decide(&[check]) {
            Answer::Ready(Ok(decision)) => decision.allowed(),
            _ => false,
        }
    }

    fn keys(&self) -> usize {
        self.keys.len()
    }
}

struct GovernorKeyed {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    keys: Vec<IpAddr>,
}

impl GovernorKeyed {
    fn new(keys: &[Ipv4Addr]) -> Self {
        Self {
            limiter: RateLimiter::keyed(governor_quota()),
            keys: keys.iter().copied().map(IpAddr::V4).collect(),
        }
    }
}

impl Decider for GovernorKeyed {
    fn admit(&self, i: usize) -> bool {
        self.limiter
            .check_key(&self.keys[i % self.keys.len()])
            .is_ok()
    }

    fn keys(&self) -> usize {
        self.keys.len()
    }
}

/// Runs `iters` decisions on each of `threads` threads, all released at once; returns the
/// wall time from the first thread's start to the last one's end, divided by `threads`: per
/// iteration, the time of one decision at the combined throughput.
fn threaded(decider: &impl Decider, threads: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(threads);
    let keys = decider.keys();
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    // Threads start at different places of the key sequence.
                    let offset = t * keys / threads;
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        let i = usize::try_from(i).unwrap_or(0);
                        assert!(decider.admit(black_box(offset + i)), "refused");
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("a thread");
    let end = spans.iter().map(|s| s.1).max().expect("a thread");
    (end - start) / u32::try_from(threads).expect("few threads")
}

fn bench_decider(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, decider: &impl Decider) {
    // Every key is in the table before measuring: the steady state, not the inserts.
    for i in 0..decider.keys() {
        assert!(decider.admit(i), "{name}: refused while filling");
    }
    group.bench_function(format!("{name}_1t"), |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            assert!(decider.admit(black_box(i)), "refused");
        })
    });
    for threads in THREADS {
        group.bench_function(format!("{name}_{threads}t"), |b| {
            b.iter_custom(|iters| threaded(decider, threads, iters))
        });
    }
}

fn bench_store(c: &mut Criterion, many: &[Ipv4Addr]) {
    let mut group = c.benchmark_group(STORE);
    group.measurement_time(Duration::from_secs(3));
    let hot = [HOT];
    for (case, keys) in [("hot", &hot[..]), ("many", many)] {
        bench_decider(
            &mut group,
            &format!("governor_keyed_{case}"),
            &GovernorKeyed::new(keys),
        );
        bench_decider(
            &mut group,
            &format!("shield_store_{case}"),
            &ShieldStore::new(keys),
        );
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Through a tower service.

type Handler = fn(Request<Body>) -> Ready<Result<Response<Body>, Infallible>>;

fn handler(_: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::empty())))
}

/// The inner service of every variant.
fn app() -> ServiceFn<Handler> {
    service_fn(handler as Handler)
}

/// What `curl` sends, from `ip`, as axum's `into_make_service_with_connect_info` delivers it.
fn request(ip: Ipv4Addr) -> Request<Body> {
    let mut req = Request::get("/")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "*/*")
        .body(Body::empty())
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(IpAddr::V4(ip), 50_000)));
    req
}

fn shield_layer(headers: HeaderStyle) -> RateLimitLayer {
    RateLimitLayer::builder()
        .limit(Limit::new(SCOPE, shield_quota()).key(KeyBy::ip()))
        .headers(headers)
        .build()
        .expect("layer")
}

/// Calls `svc` with a request from `ip` and returns the status and the rate-limit headers.
async fn probe<S, B>(svc: &S, ip: Ipv4Addr) -> (u16, usize)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    let res = svc.clone().oneshot(request(ip)).await.expect("infallible");
    let headers = res
        .headers()
        .keys()
        .filter(|n| n.as_str().starts_with("x-ratelimit-"))
        .count();
    (res.status().as_u16(), headers)
}

fn bench_service<S, B>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    svc: &S,
    ips: &[Ipv4Addr],
    headers: usize,
) where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    // Every variant must admit, with the headers it promises, or the comparison means nothing.
    for &ip in ips {
        assert_eq!(rt.block_on(probe(svc, ip)), (200, headers), "{name}");
    }
    group.bench_function(name, |b| {
        let mut i = 0usize;
        b.to_async(rt).iter(|| {
            i = i.wrapping_add(1);
            let req = request(ips[i % ips.len()]);
            let svc = svc.clone();
            async move { black_box(svc.oneshot(req).await.expect("infallible")) }
        })
    });
    // Still admitting after the measurement: nothing was refused on the way.
    assert_eq!(rt.block_on(probe(svc, ips[0])), (200, headers), "{name}");
}

fn bench_layer(c: &mut Criterion, many: &[Ipv4Addr]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group(LAYER);
    group.measurement_time(Duration::from_secs(3));
    let hot = [HOT];
    bench_service(&mut group, &rt, "bare_service", &app(), &hot, 0);
    for (case, ips) in [("hot", &hot[..]), ("many", many)] {
        // A fresh limiter per case and variant: the many-keys tables hold only their keys.
        let governor = GovernorConfigBuilder::default()
            .period(INTERVAL)
            .burst_size(u32::MAX)
            .finish()
            .expect("config");
        let governor = GovernorLayer::<_, _, Body>::new(governor).layer(app());
        bench_service(
            &mut group,
            &rt,
            &format!("tower_governor_{case}"),
            &governor,
            ips,
            0,
        );
        let shield = shield_layer(HeaderStyle::None).layer(app());
        bench_service(&mut group, &rt, &format!("shield_{case}"), &shield, ips, 0);
        let governor = GovernorConfigBuilder::default()
            .period(INTERVAL)
            .burst_size(u32::MAX)
            .use_headers()
            .finish()
            .expect("config");
        let governor = GovernorLayer::<_, _, Body>::new(governor).layer(app());
        bench_service(
            &mut group,
            &rt,
            &format!("tower_governor_headers_{case}"),
            &governor,
            ips,
            2,
        );
        let shield = shield_layer(HeaderStyle::XRateLimit).layer(app());
        bench_service(
            &mut group,
            &rt,
            &format!("shield_headers_{case}"),
            &shield,
            ips,
            3,
        );
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    // In test mode (`cargo test --benches`, unoptimized) a smaller key set keeps it quick.
    let many = ips(if support::measuring() { MANY } else { 1_000 });
    bench_store(c, &many);
    bench_layer(c, &many);
}

// ---------------------------------------------------------------------------------------------
// Interleaved, and one contestant alone for callgrind.

const DEFAULT_ROUNDS: usize = 31;
const DEFAULT_BATCH: usize = 200_000;

/// The four single-threaded contestants, their tables filled.
fn contestants(many: &[Ipv4Addr]) -> Vec<(&'static str, Box<dyn Decider>)> {
    let hot = [HOT];
    let all: Vec<(&'static str, Box<dyn Decider>)> = vec![
        ("governor_hot", Box::new(GovernorKeyed::new(&hot))),
        ("shield_hot", Box::new(ShieldStore::new(&hot))),
        ("governor_many", Box::new(GovernorKeyed::new(many))),
        ("shield_many", Box::new(ShieldStore::new(many))),
    ];
    for (name, decider) in &all {
        for i in 0..decider.keys() {
            assert!(decider.admit(i), "{name}: refused while filling");
        }
    }
    all
}

/// `n` decisions from key `from` on; ns per decision.
fn run(decider: &dyn Decider, from: usize, n: usize) -> f64 {
    let start = Instant::now();
    for i in from..from + n {
        assert!(decider.admit(black_box(i)), "refused");
    }
    start.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// Rounds of a batch of each contestant in turn (rotating which goes first); prints the table.
fn interleaved(many: &[Ipv4Addr], rounds: usize, batch: usize) {
    let all = contestants(many);
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        for k in 0..all.len() {
            let c = (round + k) % all.len();
            ns[c].push(run(all[c].1.as_ref(), round * batch, batch));
        }
    }
    println!(
        "\n{STORE}: interleaved, 1 thread, {rounds} rounds x {batch} decisions per contestant \
         (median round; quartiles)"
    );
    for (c, (name, _)) in all.iter().enumerate() {
        let (q1, q3) = quartiles(ns[c].clone());
        println!(
            "{name:<16} {:>8.1} ns   ({q1:.1} .. {q3:.1})",
            median(ns[c].clone())
        );
    }
    for (case, peer, shield, bound) in [("hot", 0, 1, 1.0), ("many", 2, 3, 1.2)] {
        let ratios: Vec<f64> = (0..rounds).map(|r| ns[shield][r] / ns[peer][r]).collect();
        let (q1, q3) = quartiles(ratios.clone());
        let ratio = median(ratios);
        println!(
            "shield / governor, {case}: {ratio:.2} (quartiles {q1:.2} .. {q3:.2}), bound {bound}: {}",
            verdict(ratio <= bound)
        );
    }
}

/// `RATE_LIMIT_BENCH_ONLY=<contestant>`: `RATE_LIMIT_BENCH_DECISIONS` decisions and nothing else.
fn only(name: &str) {
    let n = env_or("RATE_LIMIT_BENCH_DECISIONS", 1_000_000);
    let many = if name.ends_with("_many") {
        ips(MANY)
    } else {
        Vec::new()
    };
    let hot = [HOT];
    let keys = if many.is_empty() { &hot[..] } else { &many };
    let decider: Box<dyn Decider> = if name.starts_with("governor_") {
        Box::new(GovernorKeyed::new(keys))
    } else if name.starts_with("shield_") {
        Box::new(ShieldStore::new(keys))
    } else {
        panic!(
            "RATE_LIMIT_BENCH_ONLY={name}: not governor_hot, shield_hot, governor_many, shield_many"
        )
    };
    for i in 0..decider.keys() {
        assert!(decider.admit(i), "{name}: refused while filling");
    }
    run(decider.as_ref(), 0, n);
}

// ---------------------------------------------------------------------------------------------
// The comparison.

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Prints `shield / peer` for each pair and whether every ratio is at most `bound`.
fn compare(group: &str, title: &str, pairs: &[(String, String, String)], bound: f64) {
    println!("\n{group}: {title}");
    println!(
        "{:<24} {:>14} {:>14} {:>8}",
        "case", "peer ns", "shield ns", "ratio"
    );
    let mut worst: Option<(f64, &str)> = None;
    for (case, peer, shield) in pairs {
        let (Some(p), Some(s)) = (
            support::mean_ns(group, peer),
            support::mean_ns(group, shield),
        ) else {
            continue;
        };
        let ratio = s / p;
        println!("{case:<24} {p:>14.1} {s:>14.1} {ratio:>8.2}");
        if worst.is_none_or(|(w, _)| ratio > w) {
            worst = Some((ratio, case));
        }
    }
    if let Some((ratio, case)) = worst {
        let met = ratio <= bound;
        println!(
            "  worst ratio {ratio:.2} ({case}), bound {bound}: {}",
            verdict(met)
        );
    }
}

fn summary() {
    if !support::measuring() {
        return;
    }
    let mut store = Vec::new();
    for case in ["hot", "many"] {
        for threads in [1].into_iter().chain(THREADS) {
            store.push((
                format!("{case} key(s), {threads} thr"),
                format!("governor_keyed_{case}_{threads}t"),
                format!("shield_store_{case}_{threads}t"),
            ));
        }
    }
    compare(
        STORE,
        "ns per decision (wall time / decisions of all threads); peer = governor keyed check",
        &store,
        1.5,
    );
    println!("target: store ≤ 1.5× governor keyed check (every case above)");

    let names: Vec<String> = ["hot", "many"]
        .iter()
        .flat_map(|case| {
            [
                format!("tower_governor_{case}"),
                format!("shield_{case}"),
                format!("tower_governor_headers_{case}"),
                format!("shield_headers_{case}"),
            ]
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let Some(base) = support::table(LAYER, "bare_service", &names) else {
        return;
    };
    let mut layer = Vec::new();
    for case in ["hot", "many"] {
        layer.push((
            format!("{case}, no headers"),
            format!("tower_governor_{case}"),
            format!("shield_{case}"),
        ));
        layer.push((
            format!("{case}, x-ratelimit-*"),
            format!("tower_governor_headers_{case}"),
            format!("shield_headers_{case}"),
        ));
    }
    compare(
        LAYER,
        "ns per request, whole stack; peer = tower_governor's GovernorLayer",
        &layer,
        1.0,
    );
    println!("\n{LAYER}: what each layer adds over bare_service ({base:.0} ns)");
    println!(
        "{:<24} {:>14} {:>14} {:>8}",
        "case", "peer added", "shield added", "ratio"
    );
    for (case, peer, shield) in &layer {
        if let (Some(p), Some(s)) = (
            support::mean_ns(LAYER, peer),
            support::mean_ns(LAYER, shield),
        ) {
            let (p, s) = (p - base, s - base);
            println!("{case:<24} {p:>14.1} {s:>14.1} {:>8.2}", s / p);
        }
    }
    println!(
        "target: layer ≤ tower_governor layer (whole-stack ratio ≤ 1.00 in every case above; \
         tower-shield writes 3 headers, x-ratelimit-reset included, tower_governor 2)"
    );
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn main() {
    if cfg!(not(feature = "axum")) {
        // tower-shield reads axum's `ConnectInfo` only with its `axum` feature.
        eprintln!("rate_limit: skipped, it needs the `axum` feature");
        return;
    }
    if let Ok(name) = std::env::var("RATE_LIMIT_BENCH_ONLY") {
        only(&name);
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    summary();
    let rounds = env_or("RATE_LIMIT_BENCH_ROUNDS", DEFAULT_ROUNDS);
    let batch = env_or("RATE_LIMIT_BENCH_BATCH", DEFAULT_BATCH);
    let measuring =
        support::measuring() && !std::env::args().any(|a| a == "--test" || a == "--list");
    if measuring && rounds > 0 && batch > 0 {
        interleaved(&ips(MANY), rounds, batch);
    }
}
