//! The Redis store: one limit shared by every instance of a service.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use smallvec::SmallVec;
use tokio::sync::OnceCell;

use super::algorithm::{Rule, Status};
use super::store::{Check, Decision, Pending, Store, StoreError, StoreErrorKind, Verdict};
use crate::core::Answer;

/// The default time a decision may take, round trip included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// The default prefix of every key the store writes.
pub const DEFAULT_PREFIX: &str = "tower-shield:";

const SCRIPT: &str = include_str!("redis.lua");

/// Rate-limit counters in Redis (or Valkey, or a Redis Cluster): one limit shared by every
/// instance of a service.
///
/// - **One round trip per decision.** All the checks of a request run in one Lua script
///   (`EVALSHA`; loaded again only on an explicit `NOSCRIPT` reply, never after a timeout,
///   which could count a request twice). The script reads, decides and writes in one atomic
///   step, with the same integer arithmetic as the in-memory store.
/// - **Redis's clock.** The script reads `TIME`, so instances whose clocks disagree still
///   agree on every limit; `X-RateLimit-Reset` is computed from Redis's time too.
/// - **Multiplexed.** Requests share one connection per server (a `ConnectionManager`, which
///   reconnects by itself; cluster connections likewise), and never wait for a pool.
/// - **Bounded waits.** A decision that takes longer than the
///   [timeout](RedisStoreBuilder::timeout) (default 50 ms) fails, and the layer applies its
///   [`StoreFailure`](super::StoreFailure) policy.
///
/// # Key layout
///
/// A counter is the hash `{prefix}{<key in hex>}:<scope>` with fields `a`, `b`, `c` (the
/// [`State`](super::algorithm::State)), for example
/// `tower-shield:{0504cb00710a}:hourly:authenticated`. The braces are a Redis Cluster hash tag:
/// all the counters of one client key share a slot, so a request's checks on one key run in
/// one script on one node. Each key expires, in the same script that writes it, when its
/// state would be a fresh key's. A counter takes about 100 to 140 bytes of Redis memory
/// (`MEMORY USAGE` on Redis 7.0: a small listpack hash of three integers, its name included),
/// plus its entry in Redis's table of expiries.
///
/// The script's integers are Lua numbers (doubles), exact below 2⁵³: for the sliding window,
/// `limit × period in µs` must stay below that (about 100,000 requests per day-long window,
/// 2.5 million per hour, 150 million per minute) for its decisions to equal the memory store's to the unit; beyond
/// it they may differ by rounding. Every other quantity is far inside the bound.
///
/// On a cluster, checks on *different* keys (a limit per IP beside one per principal) run as
/// one script per key, in parallel; each is atomic, but one may spend while another refuses.
/// On a single server all checks of a request are one script.
///
/// ```no_run
/// use tower_shield::rate_limit::{Limit, Quota, RateLimitLayer, RedisStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379/").prefix("myapi:").build()?;
/// let layer = RateLimitLayer::builder()
///     .store(store)
///     .limit(Limit::new("hourly", Quota::per_hour(1000)))
///     .build()?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
}

enum Conn {
    Single(ConnectionManager),
    /// Boxed: the client's configuration is large, and built once.
    Cluster(Box<Cluster>),
}

struct Cluster {
    client: ClusterClient,
    conn: OnceCell<ClusterConnection>,
}

impl RedisStore {
    /// A store on the Redis (or Valkey) server at `url` (`redis://host:port/db`,
    /// `rediss://` for TLS).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            urls: vec![url.into()],
            cluster: false,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A store on the Redis Cluster reachable at `urls` (any of its nodes).
    pub fn cluster<I, S>(urls: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreBuilder {
            urls: urls.into_iter().map(Into::into).collect(),
            cluster: true,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The Redis key of a check's counter.
    pub fn key_of(&self, check: &Check<'_>) -> String {
        self.counter_key(check.scope, check.key)
    }

    /// `{prefix}{<key in hex>}:<scope>`.
    fn counter_key(&self, scope: &str, client: &[u8]) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + client.len() * 2 + 24);
        key.push_str(&self.inner.prefix);
        key.push('{');
        for b in client {
            key.push(char::from(HEX[usize::from(b >> 4)]));
            key.push(char::from(HEX[usize::from(b & 15)]));
        }
        key.push_str("}:");
        key.push_str(scope);
        key
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One script call: its keys and arguments, and where its checks sit in the request.
struct Call {
    keys: SmallVec<[String; 2]>,
    args: SmallVec<[u64; 8]>,
    positions: SmallVec<[usize; 2]>,
    /// Each check's limit as configured (the script may be given a bounded capacity).
    limits: SmallVec<[u64; 2]>,
}

/// The longest span of time (µs, about 71 years) the script's products may reach: a token
/// bucket's `interval × capacity` and `interval × cost`, a leaky bucket's `interval × cost`.
/// The script's numbers are doubles: a state written beyond 2⁵³ is rounded, and its expiry (in
/// milliseconds) then overflows `PEXPIRE`, which fails *after* the state was written, leaving
/// a counter that never expires and fails every decision. With `now` (about 2⁵⁰·⁶ µs) plus two
/// such spans, every number the script stores or answers stays below 2⁵³. The script bounds
/// them again itself (its `units`), for any other caller.
const MAX_SPAN: u64 = 1 << 51;

/// The most units of a rule the script is given (as a capacity or a cost): `MAX_SPAN` worth
/// of its interval; no bound for the window rules.
pub(super) fn max_units(rule: &Rule) -> u64 {
    match *rule {
        Rule::TokenBucket { interval, .. } | Rule::LeakyBucket { interval, .. } => {
            (MAX_SPAN / interval.max(1)).max(1)
        }
        _ => u64::MAX,
    }
}

/// A cost for the script: at most [`max_units`] of its rule. Only absurd quotas reach the
/// bound (a token bucket refilling once a year with a burst of more than 71, a request costing
/// more than 71 years of refill); the memory store saturates there, and so does this.
pub(super) fn cost_arg(rule: &Rule, cost: u64) -> u64 {
    cost.min(max_units(rule))
}

/// A rule for the script: its kind and up to four numbers.
pub(super) fn rule_args(rule: &Rule) -> [u64; 5] {
    match *rule {
        Rule::TokenBucket { interval, capacity } => {
            [1, interval, capacity.min(max_units(rule)), 0, 0]
        }
        Rule::FixedWindow { window, limit } => [2, window, limit, 0, 0],
        Rule::SlidingWindow { window, limit } => [3, window, limit, 0, 0],
        Rule::LeakyBucket { interval, max_wait } => [4, interval, max_wait, 0, 0],
        Rule::Backoff {
            free,
            base,
            max,
            window,
        } => [5, free, base, max, window],
    }
}

impl Store for RedisStore {
    /// `SET key 1 NX PX ttl`: one atomic step on the server, so two instances that see the
    /// same message at once agree on which saw it first. Within the store's timeout.
    fn remember(&self, key: &[u8], ttl_us: u64) -> Answer<Result<bool, StoreError>> {
        let key = self.remember_key(key);
        let ttl_ms = ttl_us.div_ceil(1000).max(1);
        let inner = Arc::clone(&self.inner);
        Answer::later(async move {
            match tokio::time::timeout(inner.timeout, Self::set_nx(&inner, &key, ttl_ms)).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::timeout()),
            }
        })
    }

    /// `DEL` of the remembered key, within the store's timeout.
    fn forget_remembered(&self, key: &[u8]) -> Answer<Result<(), StoreError>> {
        self.del(self.remember_key(key))
    }

    /// `DEL` of the counter, within the store's timeout.
    fn forget(&self, scope: &str, key: &[u8]) -> Answer<Result<(), StoreError>> {
        self.del(self.counter_key(scope, key))
    }

    fn decide(&self, checks: &[Check<'_>]) -> Pending {
        let mut calls: SmallVec<[Call; 1]> = SmallVec::new();
        for (i, check) in checks.iter().enumerate() {
            // A single server takes every check in one script; a cluster one script per
            // client key (one hash slot).
            let group = match &self.inner.conn {
                Conn::Single(_) => calls.first_mut(),
                Conn::Cluster(_) => {
                    let pos = checks[..i].iter().position(|c| c.key == check.key);
                    match pos {
                        Some(p) => calls.iter_mut().find(|c| c.positions.contains(&p)),
                        None => None,
                    }
                }
            };
            let call = match group {
                Some(call) => call,
                None => {
                    calls.push(Call {
                        keys: SmallVec::new(),
                        args: SmallVec::new(),
                        positions: SmallVec::new(),
                        limits: SmallVec::new(),
                    });
                    let Some(call) = calls.last_mut() else {
                        return Answer::Ready(Err(protocol("no call")));
                    };
                    call
                }
            };
            call.keys.push(self.key_of(check));
            call.args.extend(rule_args(&check.rule));
            call.args.push(cost_arg(&check.rule, u64::from(check.cost)));
            call.positions.push(i);
            call.limits.push(check.rule.limit());
        }
        let inner = Arc::clone(&self.inner);
        let total = checks.len();
        Answer::later(async move {
            let run = async {
                let mut verdicts: SmallVec<[Option<Verdict>; 2]> =
                    std::iter::repeat_n(None, total).collect();
                let mut now = 0;
                let replies = futures_join(calls.iter().map(|c| inner.invoke(c))).await;
                for (call, reply) in calls.iter().zip(replies) {
                    let (t, vs) = parse(&reply?, call.positions.len())?;
                    now = now.max(t);
                    for ((&pos, &limit), mut v) in call.positions.iter().zip(&call.limits).zip(vs) {
                        v.status.limit = limit;
                        if let Some(slot) = verdicts.get_mut(pos) {
                            *slot = Some(v);
                        }
                    }
                }
                let verdicts = verdicts
                    .into_iter()
                    .collect::<Option<SmallVec<[Verdict; 1]>>>()
                    .ok_or_else(|| protocol("a check got no verdict"))?;
                Ok(Decision { now, verdicts })
            };
            match tokio::time::timeout(inner.timeout, run).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::timeout()),
            }
        })
    }
}

impl RedisStore {
    /// `DEL key`, within the store's timeout.
    fn del(&self, key: String) -> Answer<Result<(), StoreError>> {
        let inner = Arc::clone(&self.inner);
        Answer::later(async move {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&key);
            match tokio::time::timeout(inner.timeout, Self::query::<i64>(&inner, &cmd)).await {
                Ok(result) => result.map(|_| ()),
                Err(_) => Err(StoreError::timeout()),
            }
        })
    }

    /// The Redis key of a remembered key: `{prefix}remember:{<key in hex>}`.
    fn remember_key(&self, key: &[u8]) -> String {
        let mut out = String::with_capacity(self.inner.prefix.len() + key.len() * 2 + 12);
        out.push_str(&self.inner.prefix);
        out.push_str("remember:{");
        for b in key {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out.push('}');
        out
    }

    async fn set_nx(inner: &Inner, key: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(1).arg("NX").arg("PX").arg(ttl_ms);
        let reply: Option<String> = Self::query(inner, &cmd).await?;
        // `OK` when set, nil when the key was there.
        Ok(reply.is_some())
    }

    /// Sends one command on the store's connection.
    async fn query<T: redis::FromRedisValue>(
        inner: &Inner,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        match &inner.conn {
            Conn::Single(manager) => {
                let mut conn = manager.clone();
                cmd.query_async(&mut conn).await
            }
            Conn::Cluster(cluster) => {
                let shared = cluster
                    .conn
                    .get_or_try_init(|| cluster.client.get_async_connection())
                    .await
                    .map_err(unavailable)?;
                let mut conn = shared.clone();
                cmd.query_async(&mut conn).await
            }
        }
        .map_err(unavailable)
    }
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let futures: Vec<F> = futures.collect();
    if futures.len() == 1 {
        let mut out = Vec::with_capacity(1);
        for f in futures {
            out.push(f.await);
        }
        return out;
    }
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

impl RedisStore {
    /// The script every decision runs (the hybrid store builds its lease script on it).
    pub(super) const SCRIPT: &'static str = SCRIPT;

    /// Whether the store talks to a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.inner.conn, Conn::Cluster(_))
    }

    /// The store's decision timeout.
    pub(super) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Runs `script` (EVALSHA, loaded on `NOSCRIPT` only) with `keys` and `args` on the
    /// store's connection. No timeout: the caller applies one.
    pub(super) async fn run_script(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[u64],
    ) -> Result<Vec<i64>, StoreError> {
        self.inner.run(script, keys, args).await
    }
}

impl Inner {
    async fn invoke(&self, call: &Call) -> Result<Vec<i64>, StoreError> {
        self.run(&self.script, &call.keys, &call.args).await
    }

    async fn run(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[u64],
    ) -> Result<Vec<i64>, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        // `invoke_async` sends EVALSHA, and loads the script and sends it again only when the
        // server answers NOSCRIPT: a request is never evaluated twice.
        let result = match &self.conn {
            Conn::Single(manager) => {
                let mut conn = manager.clone();
                invocation.invoke_async(&mut conn).await
            }
            Conn::Cluster(cluster) => {
                let shared = cluster
                    .conn
                    .get_or_try_init(|| cluster.client.get_async_connection())
                    .await
                    .map_err(unavailable)?;
                let mut conn = shared.clone();
                invocation.invoke_async(&mut conn).await
            }
        };
        result.map_err(unavailable)
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    let kind = if e.is_timeout() {
        StoreErrorKind::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Protocol
    };
    StoreError::new(kind, e)
}

fn protocol(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::Protocol, what)
}

/// Reads the script's reply: the time, then seven numbers per check.
fn parse(reply: &[i64], checks: usize) -> Result<(u64, SmallVec<[Verdict; 2]>), StoreError> {
    let bad = || protocol("the rate-limit script answered an unexpected shape");
    let (&now, rest) = reply.split_first().ok_or_else(bad)?;
    if rest.len() != checks * 7 {
        return Err(bad());
    }
    let n = |v: i64| u64::try_from(v).map_err(|_| bad());
    let mut verdicts = SmallVec::new();
    for c in rest.chunks_exact(7) {
        verdicts.push(Verdict {
            allowed: c[0] == 1,
            status: Status {
                limit: n(c[1])?,
                remaining: n(c[2])?,
                reset_after: n(c[3])?,
                retry_after: if c[4] < 0 { None } else { Some(n(c[4])?) },
                delay: n(c[5])?,
                expires_after: n(c[6])?,
            },
        });
    }
    Ok((n(now)?, verdicts))
}

/// Configures a [`RedisStore`].
#[must_use]
#[derive(Clone, Debug)]
pub struct RedisStoreBuilder {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
    timeout: Duration,
}

impl RedisStoreBuilder {
    /// Prefixes every key with `prefix` (default [`DEFAULT_PREFIX`]): a namespace per
    /// service sharing one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Fails a decision that takes longer than `timeout` (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The store. It connects on first use, and reconnects by itself after an outage.
    ///
    /// Call it within a tokio runtime.
    ///
    /// # Errors
    ///
    /// A URL that does not parse, no URL, a zero timeout, a prefix with `{` or `}` (which
    /// would break the cluster hash tags), or no tokio runtime.
    pub fn build(self) -> Result<RedisStore, RedisStoreError> {
        if self.timeout.is_zero() {
            return Err(RedisStoreError::ZeroTimeout);
        }
        // The connection manager spawns its reconnection task on the current runtime.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        if self.prefix.contains(['{', '}']) {
            return Err(RedisStoreError::InvalidPrefix);
        }
        let conn = if self.cluster {
            if self.urls.is_empty() {
                return Err(RedisStoreError::NoUrl);
            }
            let client = ClusterClient::builder(self.urls.clone())
                .connection_timeout(self.timeout)
                .response_timeout(self.timeout)
                .build()
                .map_err(|e| RedisStoreError::InvalidUrl(e.to_string()))?;
            Conn::Cluster(Box::new(Cluster {
                client,
                conn: OnceCell::new(),
            }))
        } else {
            let url = self.urls.first().ok_or(RedisStoreError::NoUrl)?;
            let client = redis::Client::open(url.as_str())
                .map_err(|e| RedisStoreError::InvalidUrl(e.to_string()))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let manager = ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| RedisStoreError::InvalidUrl(e.to_string()))?;
            Conn::Single(manager)
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                timeout: self.timeout,
                script: redis::Script::new(SCRIPT),
            }),
        })
    }
}

/// Why a [`RedisStore`] cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// No URL was given.
    NoUrl,
    /// A URL that the redis client refuses (the reason).
    InvalidUrl(String),
    /// A timeout of zero.
    ZeroTimeout,
    /// A prefix with `{` or `}`.
    InvalidPrefix,
    /// `build` was called outside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoUrl => f.write_str("a Redis store needs a URL"),
            Self::InvalidUrl(e) => write!(f, "invalid Redis URL: {e}"),
            Self::ZeroTimeout => f.write_str("a Redis store's timeout must not be zero"),
            Self::NoRuntime => f.write_str("a Redis store must be built within a tokio runtime"),
            Self::InvalidPrefix => {
                f.write_str("a Redis key prefix must not contain '{' or '}' (cluster hash tags)")
            }
        }
    }
}

impl std::error::Error for RedisStoreError {}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(self.inner.conn, Conn::Cluster(_)))
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}
