//! Remote JWK sets: the signing keys of an identity provider, fetched from a URL or found by
//! OpenID Connect discovery, kept fresh in the background and refreshed when a token names a
//! key the set does not have.
//!
//! The example, the refresh schedule, key rotation and storm protection are documented on
//! [`Jwks`], which this module's parent re-exports. How a set is fetched (HTTP, discovery, the
//! URL check) is in the sibling `fetch` module.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use reqwest::{Client, Url};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::ConfigError;
use super::fetch::{FetchError, Fetcher, Parsed, Source, Target};
use super::keys::KeySet;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(60);
const DEFAULT_MAX_REFRESH: Duration = Duration::from_secs(3600);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
const DEFAULT_MAX_BODY: usize = 1024 * 1024;
const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// The cool-down while no set was ever loaded.
pub(super) const UNLOADED_COOLDOWN: Duration = Duration::from_secs(1);
/// How many `kid`s an `INFO` event lists.
const LOGGED_KIDS: usize = 20;

/// What [`Jwks::current`] gives: the keys, and which version of them.
#[derive(Debug)]
pub(super) struct Snapshot {
    /// The keys of the last good set (empty before the first).
    pub(super) keys: KeySet,
    /// Changes when, and only when, the keys change.
    pub(super) generation: u64,
    /// Whether a set was ever loaded.
    pub(super) loaded: bool,
    /// The digest of the usable keys, to tell whether a fetch changed them.
    digest: [u8; 32],
}

/// The fetch bookkeeping, behind the single-flight lock.
#[derive(Debug, Default)]
pub(super) struct State {
    /// When the last fetch attempt (any cause) ended: the cool-down counts from there.
    pub(super) last_attempt: Option<Instant>,
    /// When the last successful fetch ended.
    last_success: Option<Instant>,
    /// When the background task fetches next (`None`: now).
    due: Option<Instant>,
    /// Failed attempts in a row.
    failures: u32,
    /// The `jwks_uri` found by discovery.
    jwks_url: Option<Url>,
    /// When a failure was last logged, and how many were not logged since.
    last_warning: Option<Instant>,
    unlogged: u64,
}

/// What caused a fetch, for the logs.
#[derive(Clone, Copy, Debug)]
enum Cause {
    Scheduled,
    UnknownKey,
    Requested,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::UnknownKey => "unknown key",
            Self::Requested => "requested",
        }
    }
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) fetcher: Fetcher,
    cooldown: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    default_max_age: Duration,
    max_stale: Duration,
    current: ArcSwap<Snapshot>,
    /// The origin of `confirmed`.
    epoch: Instant,
    /// When a fetch last succeeded, in nanoseconds since `epoch` (read without a lock).
    confirmed: AtomicU64,
    /// Fetch attempts that ended, of any cause: a request that saw this change while it
    /// waited for the lock takes that attempt's result as its own.
    attempts: AtomicU64,
    pub(super) state: Arc<Mutex<State>>,
    pub(super) task: OnceLock<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// A remote JWK set for [`JwtBuilder::jwks`](super::JwtBuilder::jwks): the signing keys of an
/// identity provider, fetched from a URL or found by OpenID Connect discovery, kept fresh in
/// the background and refreshed when a token names a key the set does not have.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tower_shield::auth::{Algorithm, AuthLayer, Jwks, JwtAuth, Principal};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // GET https://accounts.example.com/.well-known/openid-configuration, then its `jwks_uri`.
/// let jwks = Jwks::discover("https://accounts.example.com").build()?;
/// // Optional: fail fast at startup when the provider cannot be reached.
/// jwks.refresh().await?;
///
/// let jwt = JwtAuth::builder()
///     .jwks(jwks)
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .issuer("https://accounts.example.com")
///     .audience("https://api.example.com")
///     .cache(10_000)
///     .build()?;
///
/// let app: Router = Router::new()
///     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
///     .layer(AuthLayer::new(jwt));
/// # Ok(()) }
/// ```
///
/// # Fetching and refreshing
///
/// [`JwksBuilder::build`] does not fetch. Built inside a tokio runtime, it starts a background
/// task whose first fetch happens at once; built outside one, the task starts on first use
/// from inside a runtime. The task holds only a weak reference: it ends when the last clone is
/// dropped.
///
/// After each successful fetch, the next one is scheduled at 90% of the response's
/// [`Cache-Control: max-age`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cache-Control)
/// (less its [`Age`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Age)), clamped to
/// the [refresh interval](JwksBuilder::refresh_interval) (1 minute to 1 hour by default; 5
/// minutes when the provider gives no `max-age`), so the set is renewed before it goes stale.
/// After a failed fetch the task retries after 1, 2, 4, ... seconds, never waiting longer than
/// the shortest refresh interval.
///
/// Verifying a token never waits for a lock: the current set is an atomically swapped
/// snapshot. A failed fetch never replaces it — the last good set keeps serving — and neither
/// does a document without a single usable key.
///
/// The last good set keeps serving for at most [`max_stale`](JwksBuilder::max_stale) (24 hours
/// by default) after the last successful fetch: a provider down for longer, or a network that
/// cut this server off from it, may have revoked keys meanwhile. After that, tokens are
/// answered `503` (`auth-unavailable`), verified-token cache included, until a fetch succeeds.
///
/// # Key rotation
///
/// Providers publish a new key before they sign with it, so the scheduled refresh usually has
/// it before the first token does. When a token names a `kid` the set does not have, the set
/// is fetched again right away (at most once per [cool-down](JwksBuilder::cooldown)) and the
/// token checked against the new set. A key that left the set is refused from then on, and
/// [`JwtAuth`](super::JwtAuth)'s verified-token cache is emptied when the set changes (not
/// when a refresh brings the same keys).
///
/// # Storm protection
///
/// Anyone can send tokens with made-up `kid`s. They never cause more than one fetch per
/// cool-down (30 seconds by default), however many arrive:
/// - single flight: one fetch at a time. While a fetch runs, other requests wait for its
///   result instead of starting their own: whatever it brought (a new set, the same set, a
///   failure) is their answer too, so however many wait, each is answered within about one
///   [timeout](JwksBuilder::timeout) of the fetch in flight;
/// - after any fetch attempt (scheduled, for an unknown key, or [`Jwks::refresh`]) ends, an
///   unknown `kid` fetches again only once the cool-down has passed, counted from the end of
///   the attempt; until then it is refused at once (`401`, "unknown signing key").
///
/// One exception: while no set is serving (none was ever loaded, or the last one is older
/// than [`max_stale`](JwksBuilder::max_stale)), the cool-down is at most 1 second, so that a
/// provider that was down is tried again soon; until a set loads, tokens are answered `503`
/// (`auth-unavailable`).
///
/// # What is fetched
///
/// Only the configured URL (or the discovery document and the `jwks_uri` it names). The `kid`
/// is never sent anywhere, and a token's `jku`, `x5u` or `jwk` header is never followed.
/// Redirects are not followed by the default client (configure the final URL); the discovery
/// document is refused unless its `issuer` is exactly the configured issuer; a response over
/// the [size cap](JwksBuilder::max_body) (1 MiB) or slower than the
/// [timeout](JwksBuilder::timeout) (5 seconds, connection and body) is a failed fetch. Plain
/// `http` is refused except to loopback hosts, unless
/// [allowed](JwksBuilder::allow_insecure_http).
///
/// Failures are logged at `WARN` (at most once per cool-down, with the number of failures not
/// logged), changes of the set at `INFO` with the number of keys and their `kid`s. Response
/// bodies are never logged.
///
/// Clones share the set, its fetches and its background task.
#[derive(Clone)]
pub struct Jwks {
    pub(super) inner: Arc<Inner>,
}

/// By hand: a summary of the live set (its source, whether it is loaded, how many keys, which
/// generation) rather than the fetch machinery.
impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.inner.current.load();
        let mut d = f.debug_struct("Jwks");
        match &self.inner.fetcher.source {
            Source::Url(url) => d.field("url", &url.as_str()),
            Source::Discovery { issuer, .. } => d.field("issuer", issuer),
        };
        d.field("loaded", &current.loaded)
            .field("keys", &current.keys.len())
            .field("generation", &current.generation)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// A JWK set fetched from `url` (the provider's `jwks_uri`).
    pub fn builder(url: impl Into<String>) -> JwksBuilder {
        JwksBuilder::new(Target::Url(url.into()))
    }

    /// A JWK set found by OpenID Connect discovery: `GET {issuer}/.well-known/openid-configuration`
    /// (without a doubled `/`), then its `jwks_uri`. The document is refused unless its
    /// `issuer` is exactly `issuer`. Discovery happens on the first fetch, and again after a
    /// failed fetch of the set.
    pub fn discover(issuer: impl Into<String>) -> JwksBuilder {
        JwksBuilder::new(Target::Issuer(issuer.into()))
    }

    /// Fetches the set now, whatever the cool-down, and waits for it: for startup, to fail
    /// fast when the provider cannot be reached. When a fetch that ended after this call began
    /// (the background task's first one) loaded the set, that one counts and no other is made.
    ///
    /// # Errors
    ///
    /// When the fetch fails (the last good set, if any, keeps serving), or when called outside
    /// a tokio runtime ([`FetchError::NoRuntime`]).
    pub async fn refresh(&self) -> Result<(), FetchError> {
        // Taken before the background task can start: a first fetch of its that ends before
        // this call takes the lock (this thread paused in between) is this call's fetch too.
        let called = Instant::now();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(FetchError::NoRuntime);
        }
        self.ensure_task();
        let state = Arc::clone(&self.inner.state).lock_owned().await;
        if state.last_success.is_some_and(|t| t >= called) {
            return Ok(());
        }
        self.fetch_detached(state, Cause::Requested).await
    }

    /// How many times the JWK set was requested from the provider since this [`Jwks`] was
    /// built, failed attempts included (discovery requests are not counted). For tests and
    /// metrics.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetcher.fetches.load(Ordering::Relaxed)
    }

    /// Whether a set was ever loaded (for a readiness probe). A loaded set older than
    /// [`max_stale`](JwksBuilder::max_stale) no longer serves, but still counts as loaded.
    pub fn is_loaded(&self) -> bool {
        self.inner.current.load().loaded
    }

    /// Whether `snapshot` may verify tokens: loaded, and confirmed by the provider within
    /// [`max_stale`](JwksBuilder::max_stale).
    pub(super) fn serves(&self, snapshot: &Snapshot) -> bool {
        snapshot.loaded && !self.inner.is_stale()
    }

    /// The current keys, without a lock.
    pub(super) fn current(&self) -> Guard<Arc<Snapshot>> {
        self.ensure_task();
        self.inner.current.load()
    }

    /// Called when a token names a key the set of generation `seen` does not have, or when no
    /// set serves: fetches the set again unless a fetch ended while this request waited for
    /// the lock (its result is this request's too), the set changed, or the cool-down has not
    /// passed. Returns when the set is as fresh as it will get for this request.
    pub(super) async fn refresh_for_unknown_key(&self, seen: u64) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.ensure_task();
        let attempts = self.inner.attempts.load(Ordering::Acquire);
        let state = Arc::clone(&self.inner.state).lock_owned().await;
        if self.inner.attempts.load(Ordering::Acquire) != attempts {
            return;
        }
        let (generation, serving) = {
            let current = self.inner.current.load();
            (current.generation, self.serves(&current))
        };
        if generation != seen {
            return;
        }
        let cooldown = if serving {
            self.inner.cooldown
        } else {
            self.inner.cooldown.min(UNLOADED_COOLDOWN)
        };
        if state.last_attempt.is_some_and(|t| t.elapsed() < cooldown) {
            return;
        }
        // Failures are logged; the last good set keeps serving.
        let _ = self.fetch_detached(state, Cause::UnknownKey).await;
    }

    /// Runs a fetch in its own task, so that it completes (and the lock is released) even when
    /// the request that started it goes away.
    async fn fetch_detached(
        &self,
        mut state: OwnedMutexGuard<State>,
        cause: Cause,
    ) -> Result<(), FetchError> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.fetch(&mut state, cause).await })
            .await
            .unwrap_or_else(|e| {
                Err(FetchError::Request {
                    url: self.inner.fetcher.url(),
                    reason: format!("the fetch task ended: {e}"),
                })
            })
    }

    /// Starts the background task, once, when there is a runtime to run it.
    fn ensure_task(&self) {
        if self.inner.task.get().is_some() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&self.inner);
            self.inner
                .task
                .get_or_init(|| runtime.spawn(background(weak)).abort_handle());
        }
    }
}

/// The background refresh: fetches when due, then sleeps until the next due time. Holds the
/// set only while fetching.
async fn background(weak: Weak<Inner>) {
    loop {
        let due = {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let mut state = Arc::clone(&inner.state).lock_owned().await;
            if state.due.is_none_or(|due| due <= Instant::now()) {
                let _ = inner.fetch(&mut state, Cause::Scheduled).await;
            }
            state.due.unwrap_or_else(Instant::now)
        };
        tokio::time::sleep_until(due).await;
    }
}

impl Inner {
    /// One fetch attempt, with the single-flight lock held.
    async fn fetch(&self, state: &mut State, cause: Cause) -> Result<(), FetchError> {
        let started = Instant::now();
        let result = match self.fetcher.download(&mut state.jwks_url).await {
            Ok((parsed, max_age)) => {
                crate::metrics::jwks_fetch(true, started.elapsed());
                self.install(parsed, cause);
                let now = Instant::now();
                self.confirmed
                    .store(self.since_epoch(now).max(1), Ordering::Release);
                state.failures = 0;
                state.last_success = Some(now);
                state.due = Some(started + self.refresh_after(max_age));
                Ok(())
            }
            Err(e) => {
                crate::metrics::jwks_fetch(false, started.elapsed());
                crate::metrics::jwks_refresh("failed");
                state.failures = state.failures.saturating_add(1);
                state.due = Some(Instant::now() + self.backoff(state.failures));
                // The provider may have moved its keys: discover again next time.
                state.jwks_url = None;
                self.warn(state, cause, &e);
                Err(e)
            }
        };
        // The cool-down counts from here, the end: an attempt that took longer than the
        // cool-down must not let the next waiting request fetch again at once.
        state.last_attempt = Some(Instant::now());
        self.attempts.fetch_add(1, Ordering::Release);
        result
    }

    /// Nanoseconds from `epoch` to `t` (0 before it, saturated after 584 years).
    fn since_epoch(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the set was last confirmed by the provider more than `max_stale` ago (`false`
    /// before any success: that set is simply not loaded).
    fn is_stale(&self) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        confirmed != 0
            && self.since_epoch(Instant::now()).saturating_sub(confirmed)
                > u64::try_from(self.max_stale.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Makes `parsed` the current set, with a new generation if its keys changed.
    fn install(&self, parsed: Parsed, cause: Cause) {
        let current = self.current.load();
        crate::metrics::jwks_refresh(match (current.loaded, current.digest == parsed.digest) {
            (false, _) => "loaded",
            (true, true) => "unchanged",
            (true, false) => "changed",
        });
        if current.loaded && current.digest == parsed.digest {
            tracing::debug!(url = %parsed.url, cause = cause.as_str(), "JWK set unchanged");
            return;
        }
        let kids: Vec<&str> = parsed.keys.kids().take(LOGGED_KIDS).collect();
        let generation = current.generation.wrapping_add(1);
        tracing::info!(
            url = %parsed.url,
            cause = cause.as_str(),
            keys = parsed.keys.len(),
            kids = ?kids,
            generation,
            "{}",
            if current.loaded { "JWK set changed" } else { "JWK set loaded" }
        );
        drop(kids);
        drop(current);
        self.current.store(Arc::new(Snapshot {
            keys: parsed.keys,
            generation,
            loaded: true,
            digest: parsed.digest,
        }));
    }

    /// Logs a failed fetch, at most once per cool-down.
    fn warn(&self, state: &mut State, cause: Cause, error: &FetchError) {
        let now = Instant::now();
        if state
            .last_warning
            .is_some_and(|t| now.duration_since(t) < self.cooldown)
        {
            state.unlogged += 1;
            tracing::debug!(cause = cause.as_str(), error = %error, "JWK set fetch failed");
            return;
        }
        let loaded = self.current.load().loaded && !self.is_stale();
        tracing::warn!(
            cause = cause.as_str(),
            error = %error,
            failures_in_a_row = state.failures,
            not_logged_since_last_warning = state.unlogged,
            "JWK set fetch failed; {}",
            if loaded {
                "the last good set keeps serving"
            } else {
                "no set serves (none was ever loaded, or the last is older than max_stale): \
                 tokens are answered 503"
            }
        );
        state.last_warning = Some(now);
        state.unlogged = 0;
    }

    /// When to fetch again after a success: 90% of the response's lifetime, clamped.
    pub(super) fn refresh_after(&self, max_age: Option<Duration>) -> Duration {
        let lifetime = max_age
            .unwrap_or(self.default_max_age)
            .clamp(self.min_refresh, self.max_refresh);
        lifetime.mul_f64(0.9)
    }

    /// When to fetch again after `failures` failures in a row: 1, 2, 4, ... seconds, at most
    /// the shortest refresh interval.
    pub(super) fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        Duration::from_secs(1u64 << exp).min(self.min_refresh)
    }
}

/// Builds a [`Jwks`]; see [`Jwks::builder`] and [`Jwks::discover`].
#[must_use]
#[derive(Debug)]
pub struct JwksBuilder {
    target: Target,
    timeout: Duration,
    cooldown: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    default_max_age: Duration,
    max_stale: Duration,
    max_body: usize,
    client: Option<Client>,
    allow_insecure_http: bool,
}

impl JwksBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            timeout: DEFAULT_TIMEOUT,
            cooldown: DEFAULT_COOLDOWN,
            min_refresh: DEFAULT_MIN_REFRESH,
            max_refresh: DEFAULT_MAX_REFRESH,
            default_max_age: DEFAULT_MAX_AGE,
            max_stale: DEFAULT_MAX_STALE,
            max_body: DEFAULT_MAX_BODY,
            client: None,
            allow_insecure_http: false,
        }
    }

    /// How long one request to the provider may take, connection and whole body (default 5
    /// seconds). A slower answer is a failed fetch: requests waiting for an unknown key are
    /// answered within about this time (twice with discovery), never left hanging.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The least time between a fetch attempt (of any cause) and a fetch for an unknown `kid`
    /// (default 30 seconds): whatever the number of tokens with unknown `kid`s, the provider
    /// is asked at most once per cool-down on their account. A rotated key the scheduled
    /// refresh has not seen yet is picked up within it. While no set was ever loaded the
    /// cool-down is at most 1 second. `Duration::ZERO` leaves only the single-flight (for
    /// tests; not for production).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The bounds of the background refresh: the set is fetched again at 90% of the response's
    /// `Cache-Control: max-age`, clamped to `min..=max` (default 1 minute to 1 hour), so a
    /// provider cannot make this server poll it constantly (`max-age=0`) or never (`max-age`
    /// of a year).
    pub fn refresh_interval(mut self, min: Duration, max: Duration) -> Self {
        self.min_refresh = min;
        self.max_refresh = max;
        self
    }

    /// The lifetime assumed when the response has no `Cache-Control: max-age` (default 5
    /// minutes), clamped to the [refresh interval](Self::refresh_interval).
    pub fn default_max_age(mut self, max_age: Duration) -> Self {
        self.default_max_age = max_age;
        self
    }

    /// How long the last good set keeps serving while the provider cannot be reached, counted
    /// from the last successful fetch (default 24 hours). Past it, tokens are answered `503`
    /// (`auth-unavailable`) until a fetch succeeds: keys the provider may have revoked
    /// meanwhile are not trusted forever. At least the longest
    /// [refresh interval](Self::refresh_interval), so that a set is never stale between two
    /// scheduled refreshes of a provider that answers.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// The largest response accepted, in bytes (default 1 MiB; real JWK sets are a few KiB).
    /// A larger one is a failed fetch, and is not read further than the cap.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The HTTP client to fetch with (for a proxy, custom roots or client certificates).
    /// Default: a `reqwest` client with rustls and webpki roots that follows no redirect.
    /// The [timeout](Self::timeout) and [size cap](Self::max_body) apply to any client.
    pub fn http_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Whether plain `http` is allowed to hosts that are not loopback (default `false`: keys
    /// fetched in clear can be replaced on the way, and with them anyone's tokens accepted).
    /// `http` to `localhost`, `127.0.0.0/8` and `::1` is always allowed, for development and
    /// tests. The rule applies to the discovered `jwks_uri` too.
    pub fn allow_insecure_http(mut self, on: bool) -> Self {
        self.allow_insecure_http = on;
        self
    }

    /// The JWK set. Does not fetch: see [`Jwks`]. Inside a tokio runtime it
    /// starts the background task.
    ///
    /// # Errors
    ///
    /// When the URL (or issuer) does not parse, is neither `https` nor `http`, is plain `http`
    /// to a host that is not loopback without
    /// [`allow_insecure_http`](Self::allow_insecure_http); when an issuer has a query or
    /// fragment; when the timeout or the size cap is zero, the shortest refresh interval is
    /// under a second or longer than the longest, [`max_stale`](Self::max_stale) is shorter
    /// than the longest; or when the default client cannot be built.
    pub fn build(self) -> Result<Jwks, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidJwksSetting("the timeout is zero"));
        }
        if self.max_body == 0 {
            return Err(ConfigError::InvalidJwksSetting("max_body is zero"));
        }
        if self.min_refresh < Duration::from_secs(1) {
            return Err(ConfigError::InvalidJwksSetting(
                "the shortest refresh interval is under a second",
            ));
        }
        if self.min_refresh > self.max_refresh {
            return Err(ConfigError::InvalidJwksSetting(
                "the shortest refresh interval is longer than the longest",
            ));
        }
        if self.max_stale < self.max_refresh {
            return Err(ConfigError::InvalidJwksSetting(
                "max_stale is shorter than the longest refresh interval",
            ));
        }
        let fetcher = Fetcher::new(
            self.target,
            self.client,
            self.timeout,
            self.max_body,
            self.allow_insecure_http,
        )?;
        let jwks = Jwks {
            inner: Arc::new(Inner {
                fetcher,
                cooldown: self.cooldown,
                min_refresh: self.min_refresh,
                max_refresh: self.max_refresh,
                default_max_age: self.default_max_age,
                max_stale: self.max_stale,
                current: ArcSwap::from_pointee(Snapshot {
                    keys: KeySet::default(),
                    generation: 0,
                    loaded: false,
                    digest: [0; 32],
                }),
                epoch: Instant::now(),
                confirmed: AtomicU64::new(0),
                attempts: AtomicU64::new(0),
                state: Arc::new(Mutex::new(State::default())),
                task: OnceLock::new(),
            }),
        };
        jwks.ensure_task();
        Ok(jwks)
    }
}
