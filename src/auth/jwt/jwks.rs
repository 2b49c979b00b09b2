//! Remote JWK sets: the signing keys of an identity provider, fetched from a URL or found by
//! OpenID Connect discovery, kept fresh in the background and refreshed when a token names a
//! key the set does not have.
//!
//! The example, the refresh schedule, key rotation and storm protection are documented on
//! [`Jwks`], which this module's parent re-exports.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use http::HeaderMap;
use http::header::{ACCEPT, AGE, CACHE_CONTROL};
use reqwest::{Client, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::KeySet;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(60);
const DEFAULT_MAX_REFRESH: Duration = Duration::from_secs(3600);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The cool-down while no set was ever loaded.
const UNLOADED_COOLDOWN: Duration = Duration::from_secs(1);
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// How many `kid`s an `INFO` event lists.
const LOGGED_KIDS: usize = 20;

/// Why a [`Jwks`] cannot be built, or why a fetch failed.
///
/// Messages name the URL and the reason, never the response body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The URL (or issuer) is not an absolute URL, or an issuer has a query or fragment.
    InvalidUrl(String),
    /// The URL's scheme is neither `https` nor `http`.
    UnsupportedScheme(String),
    /// Plain `http` to a host that is not loopback, and
    /// [`allow_insecure_http`](JwksBuilder::allow_insecure_http) was not given.
    InsecureHttp(String),
    /// A setting that cannot work; the message names it.
    InvalidConfig(&'static str),
    /// The default HTTP client could not be built.
    Client(String),
    /// Called outside a tokio runtime.
    NoRuntime,
    /// The request failed before a response: DNS, connection, TLS, a reset.
    Request {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The provider answered with a status other than `2xx` (redirects are not followed).
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// No complete response within the [timeout](JwksBuilder::timeout).
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The response body is larger than [`max_body`](JwksBuilder::max_body).
    TooLarge {
        /// The URL requested.
        url: String,
        /// The cap, in bytes.
        max: usize,
    },
    /// The document is not a JWK set (or a discovery document) this crate can read.
    InvalidDocument {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JWK set has no key this crate can verify signatures with.
    NoUsableKeys {
        /// The URL requested.
        url: String,
    },
    /// The discovery document names another issuer than the configured one.
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(e) => write!(f, "invalid JWKS URL or issuer: {e}"),
            Self::UnsupportedScheme(url) => write!(f, "{url}: the scheme must be https or http"),
            Self::InsecureHttp(url) => write!(
                f,
                "{url}: plain http is only allowed to loopback hosts (see allow_insecure_http)"
            ),
            Self::InvalidConfig(what) => write!(f, "invalid JWKS configuration: {what}"),
            Self::Client(e) => write!(f, "the HTTP client could not be built: {e}"),
            Self::NoRuntime => f.write_str("a JWK set is fetched from inside a tokio runtime"),
            Self::Request { url, reason } => write!(f, "GET {url} failed: {reason}"),
            Self::Status { url, status } if (300..400).contains(status) => write!(
                f,
                "GET {url} answered {status}; redirects are not followed, configure the final URL"
            ),
            Self::Status { url, status } => write!(f, "GET {url} answered {status}"),
            Self::Timeout { url, timeout } => {
                write!(f, "GET {url} did not complete within {timeout:?}")
            }
            Self::TooLarge { url, max } => {
                write!(f, "GET {url}: the response is larger than {max} bytes")
            }
            Self::InvalidDocument { url, reason } => write!(f, "GET {url}: {reason}"),
            Self::NoUsableKeys { url } => {
                write!(f, "GET {url}: the JWK set has no usable signature key")
            }
            Self::IssuerMismatch { expected, found } => write!(
                f,
                "the discovery document's issuer is {found:?}, not the configured {expected:?}"
            ),
        }
    }
}

impl std::error::Error for JwksError {}

/// What [`Jwks::current`] gives: the keys, and which version of them.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The keys of the last good set (empty before the first).
    pub(crate) keys: KeySet,
    /// Changes when, and only when, the keys change.
    pub(crate) generation: u64,
    /// Whether a set was ever loaded.
    pub(crate) loaded: bool,
    /// The digest of the usable keys, to tell whether a fetch changed them.
    digest: [u8; 32],
}

/// Where the set comes from.
#[derive(Debug)]
enum Source {
    Url(Url),
    Discovery { issuer: String, url: Url },
}

/// The fetch bookkeeping, behind the single-flight lock.
#[derive(Debug, Default)]
struct State {
    /// When the last fetch attempt (any cause) started.
    last_attempt: Option<Instant>,
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

/// A JWK set document, read.
struct Parsed {
    keys: KeySet,
    digest: [u8; 32],
    url: Url,
}

#[derive(Debug)]
struct Inner {
    source: Source,
    client: Client,
    timeout: Duration,
    cooldown: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    default_max_age: Duration,
    max_body: usize,
    allow_insecure_http: bool,
    current: ArcSwap<Snapshot>,
    state: Arc<Mutex<State>>,
    fetches: AtomicU64,
    task: OnceLock<AbortHandle>,
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
/// - single flight: while a fetch runs, other requests wait for it instead of starting their
///   own, and when it has changed the set they do not fetch again;
/// - after any fetch attempt (scheduled, for an unknown key, or [`Jwks::refresh`]), an unknown
///   `kid` fetches again only once the cool-down has passed; until then it is refused at once
///   (`401`, "unknown signing key").
///
/// One exception: while no set was ever loaded, the cool-down is at most 1 second, so that a
/// provider that was down at startup is tried again soon; until a set loads, tokens are
/// answered `503` (`auth-unavailable`).
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
    inner: Arc<Inner>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.inner.current.load();
        let mut d = f.debug_struct("Jwks");
        match &self.inner.source {
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
    /// a tokio runtime ([`JwksError::NoRuntime`]).
    pub async fn refresh(&self) -> Result<(), JwksError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(JwksError::NoRuntime);
        }
        self.ensure_task();
        let called = Instant::now();
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
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Whether a set was ever loaded (for a readiness probe).
    pub fn is_loaded(&self) -> bool {
        self.inner.current.load().loaded
    }

    /// The current keys, without a lock.
    pub(crate) fn current(&self) -> Guard<Arc<Snapshot>> {
        self.ensure_task();
        self.inner.current.load()
    }

    /// Called when a token names a key the set of generation `seen` does not have: fetches the
    /// set again unless another request already did, or the cool-down has not passed. Returns
    /// when the set is as fresh as it will get for this request.
    pub(crate) async fn refresh_for_unknown_key(&self, seen: u64) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.ensure_task();
        let state = Arc::clone(&self.inner.state).lock_owned().await;
        let (generation, loaded) = {
            let current = self.inner.current.load();
            (current.generation, current.loaded)
        };
        if generation != seen {
            return;
        }
        let cooldown = if loaded {
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
    ) -> Result<(), JwksError> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.fetch(&mut state, cause).await })
            .await
            .unwrap_or_else(|e| {
                Err(JwksError::Request {
                    url: inner_url(&self.inner),
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

fn inner_url(inner: &Inner) -> String {
    match &inner.source {
        Source::Url(url) | Source::Discovery { url, .. } => url.to_string(),
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
    async fn fetch(&self, state: &mut State, cause: Cause) -> Result<(), JwksError> {
        let started = Instant::now();
        state.last_attempt = Some(started);
        match self.download(state).await {
            Ok((parsed, max_age)) => {
                self.install(parsed, cause);
                state.failures = 0;
                state.last_success = Some(Instant::now());
                state.due = Some(started + self.refresh_after(max_age));
                Ok(())
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                state.due = Some(Instant::now() + self.backoff(state.failures));
                // The provider may have moved its keys: discover again next time.
                state.jwks_url = None;
                self.warn(state, cause, &e);
                Err(e)
            }
        }
    }

    async fn download(&self, state: &mut State) -> Result<(Parsed, Option<Duration>), JwksError> {
        let url = match &self.source {
            Source::Url(url) => url.clone(),
            Source::Discovery { issuer, url } => match &state.jwks_url {
                Some(jwks_url) => jwks_url.clone(),
                None => {
                    let jwks_url = self.discover(issuer, url).await?;
                    state.jwks_url = Some(jwks_url.clone());
                    jwks_url
                }
            },
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (body, max_age) = self.get(&url).await?;
        let (keys, digest) = parse_jwk_set(&body).map_err(|e| match e {
            None => JwksError::NoUsableKeys {
                url: url.to_string(),
            },
            Some(reason) => JwksError::InvalidDocument {
                url: url.to_string(),
                reason,
            },
        })?;
        Ok((Parsed { keys, digest, url }, max_age))
    }

    /// The `jwks_uri` of the issuer's discovery document.
    async fn discover(&self, issuer: &str, url: &Url) -> Result<Url, JwksError> {
        let (body, _) = self.get(url).await?;
        let invalid = |reason: String| JwksError::InvalidDocument {
            url: url.to_string(),
            reason,
        };
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("the discovery document is not JSON: {e}")))?;
        let found = doc
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the discovery document has no issuer".into()))?;
        if found != issuer {
            return Err(JwksError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: found.to_owned(),
            });
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the discovery document has no jwks_uri".into()))?;
        check_url(jwks_uri, self.allow_insecure_http)
            .map_err(|e| invalid(format!("its jwks_uri cannot be used: {e}")))
    }

    /// GETs `url`: the body (at most `max_body` bytes) and how long it may be cached.
    async fn get(&self, url: &Url) -> Result<(Vec<u8>, Option<Duration>), JwksError> {
        let request = async {
            let failed = |e: reqwest::Error| JwksError::Request {
                url: url.to_string(),
                reason: error_chain(&e.without_url()),
            };
            let mut res = self
                .client
                .get(url.clone())
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(failed)?;
            let status = res.status();
            if !status.is_success() {
                return Err(JwksError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let too_large = || JwksError::TooLarge {
                url: url.to_string(),
                max: self.max_body,
            };
            if res
                .content_length()
                .is_some_and(|len| len > self.max_body as u64)
            {
                return Err(too_large());
            }
            let max_age = freshness(res.headers());
            let mut body = Vec::new();
            while let Some(chunk) = res.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, max_age))
        };
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or_else(|_| {
                Err(JwksError::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                })
            })
    }

    /// Makes `parsed` the current set, with a new generation if its keys changed.
    fn install(&self, parsed: Parsed, cause: Cause) {
        let current = self.current.load();
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
    fn warn(&self, state: &mut State, cause: Cause, error: &JwksError) {
        let now = Instant::now();
        if state
            .last_warning
            .is_some_and(|t| now.duration_since(t) < self.cooldown)
        {
            state.unlogged += 1;
            tracing::debug!(cause = cause.as_str(), error = %error, "JWK set fetch failed");
            return;
        }
        let loaded = self.current.load().loaded;
        tracing::warn!(
            cause = cause.as_str(),
            error = %error,
            failures_in_a_row = state.failures,
            not_logged_since_last_warning = state.unlogged,
            "JWK set fetch failed; {}",
            if loaded {
                "the last good set keeps serving"
            } else {
                "no set was ever loaded: tokens are answered 503"
            }
        );
        state.last_warning = Some(now);
        state.unlogged = 0;
    }

    /// When to fetch again after a success: 90% of the response's lifetime, clamped.
    fn refresh_after(&self, max_age: Option<Duration>) -> Duration {
        let lifetime = max_age
            .unwrap_or(self.default_max_age)
            .clamp(self.min_refresh, self.max_refresh);
        lifetime.mul_f64(0.9)
    }

    /// When to fetch again after `failures` failures in a row: 1, 2, 4, ... seconds, at most
    /// the shortest refresh interval.
    fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        Duration::from_secs(1u64 << exp).min(self.min_refresh)
    }
}

/// The usable keys of a JWK set document, and a digest of its `keys` array that does not
/// depend on the order of the keys. `Err(None)` when the set has no usable key,
/// `Err(Some(reason))` when it is not a JWK set.
fn parse_jwk_set(body: &[u8]) -> Result<(KeySet, [u8; 32]), Option<String>> {
    let keys = KeySet::from_jwk_set(body).map_err(|e| Some(format!("not a JWK set: {e}")))?;
    if keys.len() == 0 {
        return Err(None);
    }
    // Read again for the digest (a JWK set is a few KiB, fetched every few minutes).
    let doc: Value = serde_json::from_slice(body).map_err(|e| Some(e.to_string()))?;
    let mut digests: Vec<[u8; 32]> = doc
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                // serde_json's maps are sorted unless `preserve_order` is on; either way the
                // same JWK gives the same bytes.
                .map(|key| Sha256::digest(key.to_string().as_bytes()).into())
                .collect()
        })
        .unwrap_or_default();
    digests.sort_unstable();
    let mut hasher = Sha256::new();
    for d in &digests {
        hasher.update(d);
    }
    Ok((keys, hasher.finalize().into()))
}

/// How long a response may be cached: `Cache-Control` `max-age` (`no-cache` and `no-store`
/// count as 0) less `Age`, or `None` when it says nothing.
fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age") {
                if let Some(secs) = arg.and_then(delta_seconds) {
                    max_age = Some(max_age.map_or(secs, |m| m.min(secs)));
                }
            }
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| delta_seconds(v.trim()))
        .unwrap_or(0);
    max_age.map(|m| Duration::from_secs(m.saturating_sub(age)))
}

/// RFC 9111 delta-seconds: digits; too large is as large as can be.
fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// A reqwest error with its causes ("error sending request: connection refused").
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Whether the URL's host is loopback: `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Parses `url` and checks its scheme.
fn check_url(url: &str, allow_insecure_http: bool) -> Result<Url, JwksError> {
    let parsed = Url::parse(url).map_err(|e| JwksError::InvalidUrl(format!("{url}: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&parsed) => {}
        "http" => return Err(JwksError::InsecureHttp(url.to_owned())),
        _ => return Err(JwksError::UnsupportedScheme(url.to_owned())),
    }
    if parsed.host().is_none() {
        return Err(JwksError::InvalidUrl(format!("{url}: no host")));
    }
    Ok(parsed)
}

#[derive(Debug)]
enum Target {
    Url(String),
    Issuer(String),
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
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
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
    /// under a second or longer than the longest; or when the default client cannot be built.
    pub fn build(self) -> Result<Jwks, JwksError> {
        if self.timeout.is_zero() {
            return Err(JwksError::InvalidConfig("the timeout is zero"));
        }
        if self.max_body == 0 {
            return Err(JwksError::InvalidConfig("max_body is zero"));
        }
        if self.min_refresh < Duration::from_secs(1) {
            return Err(JwksError::InvalidConfig(
                "the shortest refresh interval is under a second",
            ));
        }
        if self.min_refresh > self.max_refresh {
            return Err(JwksError::InvalidConfig(
                "the shortest refresh interval is longer than the longest",
            ));
        }
        let source = match self.target {
            Target::Url(url) => Source::Url(check_url(&url, self.allow_insecure_http)?),
            Target::Issuer(issuer) => {
                let parsed = check_url(&issuer, self.allow_insecure_http)?;
                if parsed.query().is_some() || parsed.fragment().is_some() {
                    return Err(JwksError::InvalidUrl(format!(
                        "{issuer}: an issuer has no query or fragment"
                    )));
                }
                let url = format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'));
                let url =
                    Url::parse(&url).map_err(|e| JwksError::InvalidUrl(format!("{url}: {e}")))?;
                Source::Discovery { issuer, url }
            }
        };
        let client = match self.client {
            Some(client) => client,
            None => Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.timeout)
                .user_agent(concat!("tower-shield/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| JwksError::Client(error_chain(&e)))?,
        };
        let jwks = Jwks {
            inner: Arc::new(Inner {
                source,
                client,
                timeout: self.timeout,
                cooldown: self.cooldown,
                min_refresh: self.min_refresh,
                max_refresh: self.max_refresh,
                default_max_age: self.default_max_age,
                max_body: self.max_body,
                allow_insecure_http: self.allow_insecure_http,
                current: ArcSwap::from_pointee(Snapshot {
                    keys: KeySet::default(),
                    generation: 0,
                    loaded: false,
                    digest: [0; 32],
                }),
                state: Arc::new(Mutex::new(State::default())),
                fetches: AtomicU64::new(0),
                task: OnceLock::new(),
            }),
        };
        jwks.ensure_task();
        Ok(jwks)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex as StdMutex};

    use http::HeaderValue;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const KEY_A: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    const KEY_B: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"b","x":"PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw"}"#;
    const KEY_C: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"c","x":"_FHNjmIYoaONpH7QAjDwWAgW7RO6MwOsXeuRFUiQgCU"}"#;

    fn set(keys: &[&str]) -> String {
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn freshness_reads_max_age_no_cache_and_age() {
        let secs = |pairs: &[(&'static str, &'static str)]| freshness(&headers(pairs));
        assert_eq!(secs(&[]), None);
        assert_eq!(
            secs(&[("cache-control", "public, max-age=300")]),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            secs(&[("cache-control", "Max-Age=\"60\"")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=300"), ("age", "250")]),
            Some(Duration::from_secs(50))
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=30"), ("age", "99")]),
            Some(Duration::ZERO)
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=300, no-cache")]),
            Some(Duration::ZERO)
        );
        assert_eq!(secs(&[("cache-control", "no-store")]), Some(Duration::ZERO));
        assert_eq!(
            secs(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "max-age=120")
            ]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(secs(&[("cache-control", "max-age=-1")]), None);
        assert_eq!(secs(&[("cache-control", "max-age=1e3, private")]), None);
        assert_eq!(
            secs(&[("cache-control", "max-age=99999999999999999999999")]),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://idp.example.com/jwks.json",
            "http://127.0.0.1:8080/jwks.json",
            "http://127.9.9.9/jwks.json",
            "http://localhost:1/jwks.json",
            "http://LOCALHOST/jwks.json",
            "http://[::1]:9/jwks.json",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for (url, err) in [
            (
                "http://idp.example.com/jwks.json",
                JwksError::InsecureHttp("http://idp.example.com/jwks.json".into()),
            ),
            (
                "http://localhost.evil.example/jwks.json",
                JwksError::InsecureHttp("http://localhost.evil.example/jwks.json".into()),
            ),
            (
                "http://10.0.0.1/jwks.json",
                JwksError::InsecureHttp("http://10.0.0.1/jwks.json".into()),
            ),
            (
                "ftp://idp.example.com/jwks.json",
                JwksError::UnsupportedScheme("ftp://idp.example.com/jwks.json".into()),
            ),
            (
                "file:///etc/passwd",
                JwksError::UnsupportedScheme("file:///etc/passwd".into()),
            ),
        ] {
            assert_eq!(check_url(url, false).unwrap_err(), err);
        }
        assert!(check_url("http://idp.example.com/jwks.json", true).is_ok());
        assert!(matches!(
            check_url("jwks.json", false),
            Err(JwksError::InvalidUrl(_))
        ));
        assert!(matches!(check_url("", true), Err(JwksError::InvalidUrl(_))));
    }

    #[test]
    fn the_builder_refuses_what_cannot_work() {
        let url = "https://idp.example.com/jwks.json";
        let err = |b: JwksBuilder| b.build().unwrap_err();
        assert_eq!(
            err(Jwks::builder(url).timeout(Duration::ZERO)),
            JwksError::InvalidConfig("the timeout is zero")
        );
        assert_eq!(
            err(Jwks::builder(url).max_body(0)),
            JwksError::InvalidConfig("max_body is zero")
        );
        assert_eq!(
            err(Jwks::builder(url)
                .refresh_interval(Duration::from_millis(10), Duration::from_secs(60))),
            JwksError::InvalidConfig("the shortest refresh interval is under a second")
        );
        assert_eq!(
            err(Jwks::builder(url)
                .refresh_interval(Duration::from_secs(120), Duration::from_secs(60))),
            JwksError::InvalidConfig("the shortest refresh interval is longer than the longest")
        );
        assert_eq!(
            err(Jwks::discover("https://idp.example.com/?tenant=1")),
            JwksError::InvalidUrl(
                "https://idp.example.com/?tenant=1: an issuer has no query or fragment".into()
            )
        );
        assert_eq!(
            err(Jwks::discover("http://idp.example.com")),
            JwksError::InsecureHttp("http://idp.example.com".into())
        );
        assert!(
            Jwks::builder("http://idp.example.com/k")
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
        // Zero is allowed for the cool-down (single flight only).
        assert!(Jwks::builder(url).cooldown(Duration::ZERO).build().is_ok());
    }

    #[test]
    fn discovery_url_joins_without_a_double_slash() {
        for issuer in ["https://idp.example.com", "https://idp.example.com/"] {
            let jwks = Jwks::discover(issuer).build().unwrap();
            let Source::Discovery { url, issuer: kept } = &jwks.inner.source else {
                panic!("not discovery");
            };
            assert_eq!(
                url.as_str(),
                "https://idp.example.com/.well-known/openid-configuration"
            );
            assert_eq!(kept, issuer, "the issuer is compared as configured");
        }
        let jwks = Jwks::discover("https://idp.example.com/tenants/7/")
            .build()
            .unwrap();
        assert_eq!(
            inner_url(&jwks.inner),
            "https://idp.example.com/tenants/7/.well-known/openid-configuration"
        );
    }

    #[test]
    fn no_fetch_and_no_task_without_a_runtime() {
        let jwks = Jwks::builder("https://idp.example.com/jwks.json")
            .build()
            .unwrap();
        let current = jwks.current();
        assert!(!current.loaded);
        assert_eq!(current.generation, 0);
        assert_eq!(current.keys.len(), 0);
        assert!(jwks.inner.task.get().is_none());
        assert_eq!(jwks.fetch_count(), 0);
    }

    #[test]
    fn schedule_clamps_the_lifetime_and_backs_off() {
        let jwks = Jwks::builder("https://idp.example.com/jwks.json")
            .build()
            .unwrap();
        let inner = &jwks.inner;
        let s = Duration::from_secs;
        assert_eq!(inner.refresh_after(Some(s(300))), s(270));
        assert_eq!(inner.refresh_after(None), s(270), "5 minutes when absent");
        assert_eq!(
            inner.refresh_after(Some(Duration::ZERO)),
            s(54),
            "at least 1 minute"
        );
        assert_eq!(
            inner.refresh_after(Some(s(86_400 * 365))),
            s(3240),
            "at most 1 hour"
        );
        let backoff: Vec<u64> = (1..=9).map(|n| inner.backoff(n).as_secs()).collect();
        assert_eq!(backoff, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(inner.backoff(u32::MAX), s(60));
    }

    #[test]
    fn digest_ignores_key_order_and_sees_new_keys() {
        let (keys, ab) = parse_jwk_set(set(&[KEY_A, KEY_B]).as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        let (_, ba) = parse_jwk_set(set(&[KEY_B, KEY_A]).as_bytes()).unwrap();
        assert_eq!(ab, ba);
        let (_, ac) = parse_jwk_set(set(&[KEY_A, KEY_C]).as_bytes()).unwrap();
        assert_ne!(ab, ac);
        // Same kid, other key material: another set.
        let b_as_a = KEY_B.replace(r#""kid":"b""#, r#""kid":"a""#);
        let (_, a2) = parse_jwk_set(set(&[&b_as_a]).as_bytes()).unwrap();
        let (_, a1) = parse_jwk_set(set(&[KEY_A]).as_bytes()).unwrap();
        assert_ne!(a1, a2);

        let oct = r#"{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}"#;
        assert_eq!(parse_jwk_set(set(&[oct]).as_bytes()).unwrap_err(), None);
        assert_eq!(parse_jwk_set(b"{\"keys\":[]}").unwrap_err(), None);
        assert!(parse_jwk_set(b"<html>").unwrap_err().is_some());
        assert!(parse_jwk_set(b"{\"kty\":\"OKP\"}").unwrap_err().is_some());
    }

    /// A loopback HTTP server whose answers `respond` decides (per request path); counts the
    /// requests and keeps their paths.
    struct Server {
        url: String,
        paths: Arc<StdMutex<Vec<String>>>,
    }

    type Respond = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

    impl Server {
        async fn start(respond: Arc<Respond>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let paths = Arc::new(StdMutex::new(Vec::new()));
            let seen = Arc::clone(&paths);
            tokio::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    let respond = Arc::clone(&respond);
                    let seen = Arc::clone(&seen);
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        let line = String::from_utf8_lossy(&head)
                            .lines()
                            .next()
                            .unwrap()
                            .to_owned();
                        let path = line.split(' ').nth(1).unwrap().to_owned();
                        seen.lock().unwrap().push(path.clone());
                        match respond(&path) {
                            Some(bytes) => {
                                let _ = stream.write_all(&bytes).await;
                            }
                            // Never answer (the connection stays open until the client goes).
                            None => {
                                let _ = stream.read(&mut buf).await;
                            }
                        }
                    });
                }
            });
            Server { url, paths }
        }

        fn count(&self, path: &str) -> usize {
            self.paths
                .lock()
                .unwrap()
                .iter()
                .filter(|p| *p == path)
                .count()
        }
    }

    fn ok(extra_headers: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// A server that serves the body in `current` at `/jwks.json`.
    async fn jwks_server(current: Arc<StdMutex<String>>) -> Server {
        Server::start(Arc::new(move |path: &str| {
            (path == "/jwks.json").then(|| ok("", &current.lock().unwrap()))
        }))
        .await
    }

    #[tokio::test]
    async fn refresh_keeps_the_generation_when_nothing_changed() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A, KEY_B])));
        let server = jwks_server(Arc::clone(&body)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .build()
            .unwrap();
        jwks.refresh().await.unwrap();
        let first = jwks.current().generation;
        assert!(jwks.is_loaded());
        assert_eq!(jwks.current().keys.len(), 2);

        // Same keys in another order: same generation.
        *body.lock().unwrap() = set(&[KEY_B, KEY_A]);
        jwks.refresh().await.unwrap();
        assert_eq!(jwks.current().generation, first);

        *body.lock().unwrap() = set(&[KEY_A, KEY_C]);
        jwks.refresh().await.unwrap();
        assert_eq!(jwks.current().generation, first + 1);
        let kids: Vec<String> = jwks.current().keys.kids().map(str::to_owned).collect();
        assert_eq!(kids, ["a", "c"]);

        // A set without a usable key, or no set at all, never replaces the last good one.
        *body.lock().unwrap() = r#"{"keys":[]}"#.into();
        assert_eq!(
            jwks.refresh().await.unwrap_err(),
            JwksError::NoUsableKeys {
                url: format!("{}/jwks.json", server.url)
            }
        );
        *body.lock().unwrap() = "not json".into();
        assert!(matches!(
            jwks.refresh().await,
            Err(JwksError::InvalidDocument { .. })
        ));
        assert_eq!(jwks.current().generation, first + 1);
        assert_eq!(jwks.current().keys.len(), 2);
        // The background task's first fetch may or may not have run before the first refresh.
        assert!((5..=6).contains(&server.count("/jwks.json")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn unknown_keys_fetch_once_per_cooldown() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A])));
        let server = jwks_server(Arc::clone(&body)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .cooldown(Duration::from_millis(300))
            .build()
            .unwrap();
        jwks.refresh().await.unwrap();
        let generation = jwks.current().generation;
        let fetched = jwks.fetch_count();

        // Within the cool-down: no fetch at all.
        let storm = |n: usize| {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let jwks = jwks.clone();
                    tokio::spawn(async move { jwks.refresh_for_unknown_key(generation).await })
                })
                .collect();
            async move {
                for t in tasks {
                    t.await.unwrap();
                }
            }
        };
        storm(100).await;
        assert_eq!(jwks.fetch_count(), fetched);

        // After it: one fetch, however many wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        storm(100).await;
        assert_eq!(jwks.fetch_count(), fetched + 1);

        // A request that saw an older generation does not fetch: the set already changed.
        tokio::time::sleep(Duration::from_millis(300)).await;
        jwks.refresh_for_unknown_key(generation.wrapping_sub(1))
            .await;
        assert_eq!(jwks.fetch_count(), fetched + 1);
    }

    #[tokio::test]
    async fn responses_that_are_too_large_redirected_or_too_slow_fail() {
        let big = format!(r#"{{"keys":[{KEY_A}],"padding":"{}"}}"#, "x".repeat(4096));
        let big_chunked = big.clone();
        let server = Server::start(Arc::new(move |path: &str| match path {
            "/big" => Some(ok("", &big)),
            "/big-chunked" => Some(
                format!(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{big_chunked}\r\n0\r\n\r\n",
                    big_chunked.len()
                )
                .into_bytes(),
            ),
            "/moved" => Some(
                b"HTTP/1.1 302 Found\r\nlocation: /jwks.json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_vec(),
            ),
            "/jwks.json" => Some(ok("", &set(&[KEY_A]))),
            _ => None,
        }))
        .await;
        let build = |path: &str| {
            Jwks::builder(format!("{}{path}", server.url))
                .max_body(1024)
                .timeout(Duration::from_millis(300))
                .build()
                .unwrap()
        };
        for path in ["/big", "/big-chunked"] {
            assert_eq!(
                build(path).refresh().await.unwrap_err(),
                JwksError::TooLarge {
                    url: format!("{}{path}", server.url),
                    max: 1024
                }
            );
        }
        let err = build("/moved").refresh().await.unwrap_err();
        assert_eq!(
            err,
            JwksError::Status {
                url: format!("{}/moved", server.url),
                status: 302
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "GET {}/moved answered 302; redirects are not followed, configure the final URL",
                server.url
            )
        );
        let started = Instant::now();
        let slow = build("/never");
        assert_eq!(
            slow.refresh().await.unwrap_err(),
            JwksError::Timeout {
                url: format!("{}/never", server.url),
                timeout: Duration::from_millis(300)
            }
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(!slow.is_loaded());
        // The redirect target was never fetched.
        assert_eq!(server.count("/jwks.json"), 0);
    }

    #[tokio::test]
    async fn discovery_checks_the_issuer_and_the_jwks_uri() {
        let doc = Arc::new(StdMutex::new(String::new()));
        let served = Arc::clone(&doc);
        let server = Server::start(Arc::new(move |path: &str| match path {
            "/.well-known/openid-configuration" => Some(ok("", &served.lock().unwrap())),
            "/jwks.json" => Some(ok("", &set(&[KEY_A]))),
            _ => Some(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()),
        }))
        .await;
        let issuer = server.url.clone();
        let jwks = Jwks::discover(&issuer).build().unwrap();

        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"https://evil.example","jwks_uri":"{issuer}/jwks.json"}}"#);
        assert_eq!(
            jwks.refresh().await.unwrap_err(),
            JwksError::IssuerMismatch {
                expected: issuer.clone(),
                found: "https://evil.example".into()
            }
        );
        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"{issuer}/","jwks_uri":"{issuer}/jwks.json"}}"#);
        assert!(matches!(
            jwks.refresh().await,
            Err(JwksError::IssuerMismatch { .. })
        ));
        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"{issuer}","jwks_uri":"http://idp.example.com/jwks.json"}}"#);
        assert_eq!(
            jwks.refresh().await.unwrap_err().to_string(),
            format!(
                "GET {issuer}/.well-known/openid-configuration: its jwks_uri cannot be used: \
                 http://idp.example.com/jwks.json: plain http is only allowed to loopback hosts \
                 (see allow_insecure_http)"
            )
        );
        assert_eq!(server.count("/jwks.json"), 0);
        assert_eq!(jwks.fetch_count(), 0);

        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"{issuer}","jwks_uri":"{issuer}/jwks.json"}}"#);
        jwks.refresh().await.unwrap();
        jwks.refresh().await.unwrap();
        assert!(jwks.is_loaded());
        assert_eq!(jwks.fetch_count(), 2);
        assert_eq!(server.count("/jwks.json"), 2);
        // Discovery is not repeated while the set can be fetched.
        assert_eq!(server.count("/.well-known/openid-configuration"), 4);
    }

    #[tokio::test]
    async fn the_background_task_loads_at_once_and_ends_with_the_last_clone() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A])));
        let server = jwks_server(Arc::clone(&body)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .build()
            .unwrap();
        let task = jwks.inner.task.get().cloned().expect("started by build");
        let weak = Arc::downgrade(&jwks.inner);
        for _ in 0..500 {
            if jwks.is_loaded() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            jwks.is_loaded(),
            "the first fetch happens without a request"
        );
        assert_eq!(jwks.fetch_count(), 1);
        let clone = jwks.clone();
        drop(jwks);
        assert!(!task.is_finished());
        drop(clone);
        assert!(
            weak.upgrade().is_none(),
            "the task holds no strong reference"
        );
        for _ in 0..500 {
            if task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(task.is_finished());
    }

    #[tokio::test]
    async fn the_task_starts_lazily_when_built_outside_a_runtime() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A])));
        let server = jwks_server(Arc::clone(&body)).await;
        let url = format!("{}/jwks.json", server.url);
        let jwks = std::thread::spawn(move || Jwks::builder(url).build().unwrap())
            .join()
            .unwrap();
        assert!(jwks.inner.task.get().is_none());
        let _ = jwks.current();
        assert!(jwks.inner.task.get().is_some());
        for _ in 0..500 {
            if jwks.is_loaded() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(jwks.is_loaded());
    }

    #[tokio::test]
    async fn never_loaded_retries_after_a_second_not_the_cooldown() {
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let jwks = Jwks::builder(format!("http://127.0.0.1:{port}/jwks.json"))
            .cooldown(Duration::from_secs(3600))
            .build()
            .unwrap();
        assert!(matches!(
            jwks.refresh().await,
            Err(JwksError::Request { .. })
        ));
        let after_first = jwks.fetch_count();
        jwks.refresh_for_unknown_key(0).await;
        assert_eq!(jwks.fetch_count(), after_first, "within a second: no fetch");
        // The cool-down while unloaded is one second, not an hour: make the last attempt a
        // second old rather than wait for it.
        jwks.inner.state.lock().await.last_attempt = Some(Instant::now() - UNLOADED_COOLDOWN);
        jwks.refresh_for_unknown_key(0).await;
        assert_eq!(jwks.fetch_count(), after_first + 1);
    }
}
