//! Decisions per second through the Redis store, beside `redis-benchmark` on the same server,
//! in one run: `cargo bench --bench rate_limit_redis --features redis`.
//!
//! - **tower-shield.** [`RedisStore::decide`] for one token-bucket check, awaited, by 1, 32 and
//!   256 concurrent callers: tokio tasks on the default multi-threaded runtime, all sharing one
//!   store (so one multiplexed connection), as the handlers of a service would. Each task
//!   decides in a loop for 0.5 s of warm-up and then 3 s; a decision counts when it completes
//!   inside the 3 s, and its latency runs from the call of `decide` to the decision in hand
//!   (the key's formatting, the multiplexer's queue, the round trip and the reply's parsing).
//!   Percentiles are exact (every latency is kept, then sorted).
//! - **redis-benchmark.** `redis-benchmark -c C -P 1` (unpipelined: each of its C connections
//!   waits for a reply before it sends again, as a connection pool's would) sending `EVALSHA`
//!   of the very script the store runs (`src/rate_limit/redis.lua`, loaded with `SCRIPT LOAD`)
//!   with the very keys and arguments the store sends, for as many requests as a short
//!   calibration run says fill about 3 s. Its throughput and latency summary are read from its
//!   CSV output.
//!
//! Both run back to back at each concurrency, on the same server. The quota never refuses (one
//! token every microsecond, a burst of `u32::MAX`), so every decision runs the script's whole
//! admitting path, writes included. There are 16 counters: task `i` uses key `i % 16`, and
//! redis-benchmark `-r 16` the same 16 Redis keys (the store's key bytes are written in BCD,
//! so their hex is redis-benchmark's 12 decimal digits: `bench:{000000000013}:bench`).
//!
//! Target: the store at least 0.90 × redis-benchmark's unpipelined rate at 32 callers (a
//! multiplexed connection sends the commands of many callers in one write, which should carry
//! it past that), with its p99 latency reported. `srv cpu` is redis-server's CPU time (`INFO
//! cpu`) over the run's wall time: near 100 % the single-threaded server is the bottleneck,
//! and the ratio then says how much server work each client spends per decision. The client,
//! redis-benchmark and the server share this machine's cores.
//!
//! - **The hybrid store.** [`HybridStore`] over its own `RedisStore` on the same server, with
//!   its default lease (64 units for this quota), by 32 callers deciding the same 16 keys in
//!   the same loop, for 3 s after 0.5 s of warm-up. Target: at least 10 × the plain store's
//!   decisions per second at 32 callers in the same run.
//!
//! The server is a `redis-server` child on a free loopback port, persistence off, killed when
//! the bench ends (on a panic too); with `TOWER_SHIELD_REDIS_URL` set, that server is used
//! instead. The binaries default to `redis-server`, `redis-cli` and `redis-benchmark` on
//! `PATH`; `TOWER_SHIELD_REDIS_SERVER`, `TOWER_SHIELD_REDIS_CLI` and
//! `TOWER_SHIELD_REDIS_BENCHMARK` override them.
//!
//! Under `cargo test --bench rate_limit_redis --features redis` (no `--bench` argument) it is a
//! smoke test instead: 1 and 4 callers, 200 decisions per caller, and a 200-request
//! redis-benchmark run, against a real server, asserting that every decision was made and
//! admitted.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tower_shield::rate_limit::{
    Algorithm, Answer, Check, HybridStore, Quota, RedisStore, Rule, Store,
};

/// The script the store runs, byte for byte.
const SCRIPT: &str = include_str!("../src/rate_limit/redis.lua");
const PREFIX: &str = "bench:";
const HYBRID_PREFIX: &str = "bench-hybrid:";
const SCOPE: &str = "bench";
/// Distinct counters (Redis keys).
const KEYS: usize = 16;
/// The key of every redis-benchmark request: the store's layout, `{prefix}{<hex>}:<scope>`.
const KEY_TEMPLATE: &str = "bench:{__rand_int__}:bench";
const CALLERS: [usize; 3] = [1, 32, 256];
const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);
const SMOKE_CALLERS: [usize; 2] = [1, 4];
const SMOKE_DECISIONS: usize = 200;
const TARGET_CALLERS: usize = 32;
const TARGET_RATIO: f64 = 0.9;
/// The hybrid store's target: this many times the plain store's decisions per second at
/// [`TARGET_CALLERS`].
const HYBRID_TARGET: f64 = 10.0;
/// The store's decision timeout: far above any latency here, so a slow decision is measured,
/// not failed.
const TIMEOUT: Duration = Duration::from_secs(2);
const URL_ENV: &str = "TOWER_SHIELD_REDIS_URL";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let server = Server::start_or_shared();
    let sha = server.cli(&["-x", "SCRIPT", "LOAD"], Some(SCRIPT));
    assert!(
        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "SCRIPT LOAD answered {sha:?}"
    );
    let rule = Rule::new(
        Algorithm::TokenBucket,
        Quota::per_second(1_000_000).burst(u32::MAX),
    )
    .expect("a valid rule");
    let args = script_args(&rule);

    let runtime = Runtime::new().expect("a tokio runtime");
    let store = runtime.block_on(async {
        RedisStore::builder(server.url.as_str())
            .prefix(PREFIX)
            .timeout(TIMEOUT)
            .build()
            .expect("a Redis store")
    });
    check_equivalence(&server, &store, &sha, &rule, &args);
    let hybrid = runtime.block_on(async {
        let redis = RedisStore::builder(server.url.as_str())
            .prefix(HYBRID_PREFIX)
            .timeout(TIMEOUT)
            .build()
            .expect("a Redis store");
        HybridStore::builder(redis).build()
    });

    if measuring {
        let plain = bench(&server, &runtime, &store, &sha, &rule, &args);
        bench_hybrid(&runtime, &hybrid, &rule, plain);
    } else {
        smoke(&server, &runtime, &store, &sha, &rule, &args);
        let run = runtime.block_on(shield(&hybrid, 4, rule, Plan::Count(SMOKE_DECISIONS * 10)));
        assert_eq!(
            run.errors, 0,
            "hybrid: decisions failed (first: {:?})",
            run.first_error
        );
        assert_eq!(run.refused, 0, "hybrid: decisions refused");
        assert_eq!(run.latencies.len(), 4 * SMOKE_DECISIONS * 10);
        println!(
            "rate_limit_redis smoke, hybrid store, 4 callers: {} decisions, p99 {:.3} ms",
            run.latencies.len(),
            run.percentile_ms(0.99)
        );
    }
}

/// The measuring run: each concurrency, the store then redis-benchmark, and the table.
fn bench(
    server: &Server,
    runtime: &Runtime,
    store: &RedisStore,
    sha: &str,
    rule: &Rule,
    args: &[String; 6],
) -> Option<f64> {
    let workers = runtime.metrics().num_workers();
    println!(
        "rate_limit_redis: redis-server {} at {}; the store on a {workers}-worker tokio runtime; \
         {KEYS} keys; {} s per run after {} s of warm-up",
        server.version(),
        server.url,
        MEASURE.as_secs_f64(),
        WARM_UP.as_secs_f64()
    );
    let mut rows = Vec::new();
    for callers in CALLERS {
        let cpu = server.cpu_seconds();
        let started = Instant::now();
        let shield = runtime.block_on(shield(store, callers, *rule, Plan::Timed));
        let shield_cpu = cpu_share(server, cpu, started.elapsed());
        eprintln!(
            "  shield          C={callers:<3} {:>9.0} decisions/s",
            shield.per_second()
        );

        // A short run first: it warms the server's connections up and sizes the real one.
        let probe = redis_benchmark(server, sha, args, callers, (callers * 20).max(2_000));
        let requests = ((probe.rps * MEASURE.as_secs_f64()) as usize).max(callers * 10);
        let cpu = server.cpu_seconds();
        let started = Instant::now();
        let rb = redis_benchmark(server, sha, args, callers, requests);
        let rb_cpu = cpu_share(server, cpu, started.elapsed());
        eprintln!(
            "  redis-benchmark C={callers:<3} {:>9.0} requests/s",
            rb.rps
        );
        rows.push((callers, shield, shield_cpu, rb, rb_cpu));
    }

    println!(
        "\n{:>7} {:>12} {:>8} {:>8} {:>8} {:>12} {:>8} {:>8} {:>8} {:>7}",
        "callers",
        "shield/s",
        "p50 ms",
        "p99 ms",
        "srv cpu",
        "r-b req/s",
        "p50 ms",
        "p99 ms",
        "srv cpu",
        "ratio"
    );
    let mut failures = Vec::new();
    let mut target = None;
    for (callers, shield, shield_cpu, rb, rb_cpu) in &rows {
        let ratio = shield.per_second() / rb.rps;
        println!(
            "{:>7} {:>12.0} {:>8.3} {:>8.3} {:>8} {:>12.0} {:>8.3} {:>8.3} {:>8} {:>7.2}",
            callers,
            shield.per_second(),
            shield.percentile_ms(0.50),
            shield.percentile_ms(0.99),
            percent(*shield_cpu),
            rb.rps,
            rb.p50_ms,
            rb.p99_ms,
            percent(*rb_cpu),
            ratio,
        );
        if shield.errors > 0 || shield.refused > 0 {
            failures.push(format!(
                "{callers} callers: {} errors (first: {}), {} refused",
                shield.errors,
                shield.first_error.as_deref().unwrap_or("none"),
                shield.refused
            ));
        }
        if *callers == TARGET_CALLERS {
            target = Some((ratio, shield.per_second()));
        }
    }
    if let Some((ratio, _)) = target {
        println!(
            "target: shield ≥ {TARGET_RATIO:.2} × redis-benchmark (unpipelined) at \
             {TARGET_CALLERS} callers: {} ({ratio:.2})",
            if ratio >= TARGET_RATIO {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    assert!(
        failures.is_empty(),
        "decisions failed:\n{}",
        failures.join("\n")
    );
    target.map(|(_, per_second)| per_second)
}

/// The hybrid store at [`TARGET_CALLERS`], against the plain store's rate of the same run.
fn bench_hybrid(runtime: &Runtime, store: &HybridStore, rule: &Rule, plain: Option<f64>) {
    let run = runtime.block_on(shield(store, TARGET_CALLERS, *rule, Plan::Timed));
    println!(
        "\nhybrid store (lease {} units), {TARGET_CALLERS} callers: {:.0} decisions/s, \
         p50 {:.4} ms, p99 {:.4} ms",
        store.lease_size(rule),
        run.per_second(),
        run.percentile_ms(0.50),
        run.percentile_ms(0.99)
    );
    if let Some(plain) = plain {
        let ratio = run.per_second() / plain;
        println!(
            "target: hybrid ≥ {HYBRID_TARGET:.0} × the Redis store at {TARGET_CALLERS} callers \
             ({plain:.0}/s): {} ({ratio:.1}×)",
            if ratio >= HYBRID_TARGET {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    assert!(
        run.errors == 0 && run.refused == 0,
        "hybrid: {} errors (first: {:?}), {} refused",
        run.errors,
        run.first_error,
        run.refused
    );
}

/// The test-mode run: a few hundred decisions and a tiny redis-benchmark run, asserted.
fn smoke(
    server: &Server,
    runtime: &Runtime,
    store: &RedisStore,
    sha: &str,
    rule: &Rule,
    args: &[String; 6],
) {
    for callers in SMOKE_CALLERS {
        let run = runtime.block_on(shield(store, callers, *rule, Plan::Count(SMOKE_DECISIONS)));
        assert_eq!(
            run.errors, 0,
            "{callers} callers: decisions failed (first: {:?})",
            run.first_error
        );
        assert_eq!(run.refused, 0, "{callers} callers: decisions refused");
        assert_eq!(run.latencies.len(), callers * SMOKE_DECISIONS);
        let rb = redis_benchmark(server, sha, args, callers, SMOKE_DECISIONS);
        assert!(rb.rps > 0.0, "redis-benchmark: {rb:?}");
        println!(
            "rate_limit_redis smoke, {callers} callers: {} decisions, p99 {:.3} ms; \
             redis-benchmark {:.0} req/s",
            run.latencies.len(),
            run.percentile_ms(0.99),
            rb.rps
        );
    }
}

/// `[kind, p1, p2, p3, p4, cost]`: the script's arguments for one check of `rule` at cost 1, as
/// the store sends them (the rule's four numbers, 0 where unused).
fn script_args(rule: &Rule) -> [String; 6] {
    match *rule {
        Rule::TokenBucket {
            interval, capacity, ..
        } => [
            "1".into(),
            interval.to_string(),
            capacity.to_string(),
            "0".into(),
            "0".into(),
            "1".into(),
        ],
        _ => unreachable!("the bench's rule is a token bucket"),
    }
}

/// Key bytes whose hex is `i` in 12 decimal digits (BCD), redis-benchmark's `__rand_int__`.
fn key_bytes(i: usize) -> [u8; 6] {
    let mut out = [0; 6];
    let mut rest = i;
    for byte in out.iter_mut().rev() {
        let (lo, hi) = (rest % 10, rest / 10 % 10);
        rest /= 100;
        *byte = u8::try_from(hi * 16 + lo).expect("a BCD byte");
    }
    out
}

/// Checks that redis-benchmark sends what the store sends: the same key names, and arguments
/// that the script admits with the rule's limit.
fn check_equivalence(server: &Server, store: &RedisStore, sha: &str, rule: &Rule, args: &[String]) {
    for i in [0, 7, 13] {
        let key = key_bytes(i);
        let check = Check {
            scope: SCOPE,
            key: &key,
            rule: *rule,
            cost: 1,
        };
        assert_eq!(
            store.key_of(&check),
            KEY_TEMPLATE.replace("__rand_int__", &format!("{i:012}")),
            "the store names its counter differently from redis-benchmark's key"
        );
    }
    let key = KEY_TEMPLATE.replace("__rand_int__", &format!("{:012}", 0));
    let mut cmd = vec!["EVALSHA", sha, "1", &key];
    cmd.extend(args.iter().map(String::as_str));
    let reply = server.cli(&cmd, None);
    let lines: Vec<&str> = reply.lines().collect();
    assert!(
        lines.len() == 8 && lines[1] == "1" && lines[2] == rule.limit().to_string(),
        "EVALSHA {args:?} answered {reply:?}: not an admitted check of the rule"
    );
}

/// How long each task decides.
#[derive(Clone, Copy)]
enum Plan {
    /// [`WARM_UP`], then [`MEASURE`].
    Timed,
    /// This many decisions, all counted.
    Count(usize),
}

/// What the callers of one run saw.
#[derive(Default)]
struct Tally {
    /// Every counted decision's latency, nanoseconds (sorted once merged).
    latencies: Vec<u32>,
    errors: usize,
    refused: usize,
    first_error: Option<String>,
    /// The counted window (zero for [`Plan::Count`]).
    window: Duration,
}

impl Tally {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }

    /// The nearest-rank percentile `p` (0 to 1), in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.latencies[rank - 1]) / 1e6
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.refused += other.refused;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// `callers` tasks sharing `store`, each deciding one check in a loop.
async fn shield<S: Store + Clone>(store: &S, callers: usize, rule: Rule, plan: Plan) -> Tally {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            tokio::spawn(caller(
                store.clone(),
                key_bytes(i % KEYS),
                rule,
                plan,
                start,
            ))
        })
        .collect();
    let mut tally = Tally {
        window: match plan {
            Plan::Timed => MEASURE,
            Plan::Count(_) => Duration::ZERO,
        },
        ..Tally::default()
    };
    for task in tasks {
        tally.merge(task.await.expect("a caller task"));
    }
    tally.latencies.sort_unstable();
    tally
}

async fn caller<S: Store>(store: S, key: [u8; 6], rule: Rule, plan: Plan, start: Instant) -> Tally {
    // Decisions that complete in `from..until` count.
    let (from, until, mut left) = match plan {
        Plan::Timed => (start + WARM_UP, Some(start + WARM_UP + MEASURE), usize::MAX),
        Plan::Count(n) => (start, None, n),
    };
    let capacity = match plan {
        // Room for well over a loopback round trip's worth of decisions.
        Plan::Timed => 1 << 14,
        Plan::Count(n) => n,
    };
    let mut tally = Tally {
        latencies: Vec::with_capacity(capacity),
        ..Tally::default()
    };
    let check = Check {
        scope: SCOPE,
        key: &key,
        rule,
        cost: 1,
    };
    while left > 0 {
        let began = Instant::now();
        if until.is_some_and(|until| began >= until) {
            break;
        }
        left -= 1;
        let result = match store.decide(&[check]) {
            Answer::Ready(result) => result,
            Answer::Later(future) => future.await,
        };
        let done = Instant::now();
        if done < from || until.is_some_and(|until| done >= until) {
            continue;
        }
        match result {
            Ok(decision) => {
                if !decision.verdicts.iter().all(|v| v.allowed) {
                    tally.refused += 1;
                }
                let ns = (done - began).as_nanos();
                tally.latencies.push(u32::try_from(ns).unwrap_or(u32::MAX));
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    tally
}

/// redis-benchmark's summary of one run.
#[derive(Debug)]
struct BenchSummary {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `redis-benchmark -c callers -n requests -P 1 -r 16 --csv EVALSHA <sha> 1 <key> <args>`.
fn redis_benchmark(
    server: &Server,
    sha: &str,
    args: &[String],
    callers: usize,
    requests: usize,
) -> BenchSummary {
    let (c, n, r) = (callers.to_string(), requests.to_string(), KEYS.to_string());
    let mut all = vec![
        "-u",
        &server.url,
        "-c",
        &c,
        "-n",
        &n,
        "-P",
        "1",
        "-r",
        &r,
        "--csv",
        "EVALSHA",
        sha,
        "1",
        KEY_TEMPLATE,
    ];
    all.extend(args.iter().map(String::as_str));
    let bin = bin("TOWER_SHIELD_REDIS_BENCHMARK", "redis-benchmark");
    // Generous: a run is sized to take about 3 s.
    let out = run(&bin, &all, None, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{bin} {all:?} failed: {e}"));
    parse_csv(&out).unwrap_or_else(|| panic!("{bin} {all:?}: unexpected output {out:?}"))
}

/// The last CSV line: `"test","rps","avg","min","p50","p95","p99","max"` (milliseconds).
fn parse_csv(out: &str) -> Option<BenchSummary> {
    let line = out.lines().rev().find(|l| !l.trim().is_empty())?;
    let fields: Vec<f64> = line
        .rsplitn(8, ',')
        .take(7)
        .map(|f| f.trim().trim_matches('"').parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    // Reversed: max, p99, p95, p50, min, avg, rps.
    match fields[..] {
        [_max, p99, _p95, p50, _min, _avg, rps] => Some(BenchSummary {
            rps,
            p50_ms: p50,
            p99_ms: p99,
        }),
        _ => None,
    }
}

/// The server's CPU time spent since `before`, as a share of `wall`.
fn cpu_share(server: &Server, before: Option<f64>, wall: Duration) -> Option<f64> {
    Some((server.cpu_seconds()? - before?) / wall.as_secs_f64())
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.0} %", s * 100.0))
}

/// The Redis server of the run: a child process of the bench, or `TOWER_SHIELD_REDIS_URL`'s.
struct Server {
    url: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

impl Server {
    fn start_or_shared() -> Server {
        match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Server {
                url: url.trim().to_owned(),
                child: None,
                dir: None,
            },
            _ => Server::start(),
        }
    }

    /// `redis-server` on a free loopback port, persistence off; another port when the chosen
    /// one was taken meanwhile.
    fn start() -> Server {
        let bin = bin("TOWER_SHIELD_REDIS_SERVER", "redis-server");
        let mut last = String::new();
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let dir = std::env::temp_dir().join(format!(
                "tower-shield-bench-redis-{}-{port}-{attempt}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--protected-mode", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {bin:?}: {e}"));
            // From here on, dropping `server` kills the process and removes the directory.
            let mut server = Server {
                url: format!("redis://127.0.0.1:{port}/"),
                child: Some(child),
                dir: Some(dir),
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("{bin} could not start: {last}");
    }

    /// Waits until our own process answers on the port.
    fn wait_ready(&mut self) -> Result<(), String> {
        let pid = self.child.as_ref().map(|c| c.id().to_string());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("exited ({status}): {}", self.log()));
            }
            if let Ok(info) = self.try_cli(&["INFO", "server"], None)
                && info_field(&info, "process_id").map(str::to_owned) == pid
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no answer within {START_TIMEOUT:?}: {}",
                    self.log()
                ));
            }
            thread::sleep(POLL);
        }
    }

    fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| fs::read_to_string(d.join("redis.log")).ok())
            .unwrap_or_default()
    }

    /// `redis-cli -e -u <url> <args>`, stdout trimmed; panics on a failure or error reply.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.try_cli(args, stdin)
            .unwrap_or_else(|e| panic!("redis-cli {args:?} failed: {e}"))
    }

    fn try_cli(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut all = vec!["-e", "-u", &self.url];
        all.extend_from_slice(args);
        run(
            &bin("TOWER_SHIELD_REDIS_CLI", "redis-cli"),
            &all,
            stdin,
            CLI_TIMEOUT,
        )
    }

    fn version(&self) -> String {
        let info = self.cli(&["INFO", "server"], None);
        info_field(&info, "redis_version")
            .unwrap_or("(unknown version)")
            .to_owned()
    }

    /// The server's CPU time so far (user and system), seconds.
    fn cpu_seconds(&self) -> Option<f64> {
        let info = self.try_cli(&["INFO", "cpu"], None).ok()?;
        let field = |name| info_field(&info, name)?.parse::<f64>().ok();
        Some(field("used_cpu_user")? + field("used_cpu_sys")?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The value of `field:value` in an `INFO` text.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':').map(str::trim))
}

fn bin(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

/// Runs `bin args` (feeding `stdin`), killing it after `timeout`; its stdout trimmed, or what
/// went wrong.
fn run(bin: &str, args: &[&str], stdin: Option<&str>, timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {bin:?}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to {bin:?}: {e}"))?;
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL / 4),
            Ok(None) => break Err(format!("timed out after {timeout:?}")),
            Err(e) => break Err(format!("cannot be waited for: {e}")),
        }
    };
    if status.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Ok(status) if status.success() => Ok(stdout.trim().to_owned()),
        Ok(status) => Err(format!("{status}; stdout: {stdout}; stderr: {stderr}")),
        Err(e) => Err(format!("{e}; stdout: {stdout}; stderr: {stderr}")),
    }
}
