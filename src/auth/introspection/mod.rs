//! OAuth 2.0 token introspection ([RFC 7662](https://www.rfc-editor.org/rfc/rfc7662)):
//! [`IntrospectionAuth`] asks the authorization server whether an opaque
//! `Authorization: Bearer` token is active, and makes the [`Principal`] of its answer.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use axum::{Router, routing::get};
//! use tower_shield::auth::{AuthLayer, IntrospectionAuth, Principal};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The endpoint from https://as.example.com/.well-known/openid-configuration (or RFC 8414's
//! // oauth-authorization-server document), the resource server's own client credentials.
//! let introspection = IntrospectionAuth::discover("https://as.example.com")
//!     .credentials("api-gateway", std::env::var("INTROSPECTION_SECRET")?)
//!     .audience("https://api.example.com")
//!     .max_cache_ttl(Duration::from_secs(30))
//!     .build()?;
//! // Optional: fail fast at startup when the server cannot be reached.
//! introspection.endpoint().await?;
//!
//! let app: Router = Router::new()
//!     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
//!     .layer(AuthLayer::new(introspection));
//! # Ok(()) }
//! ```
//!
//! # What is asked, and what is concluded
//!
//! The token is `POST`ed to the introspection endpoint (configured with
//! [`IntrospectionAuth::builder`], or read from the issuer's metadata with
//! [`IntrospectionAuth::discover`]) with `token_type_hint=access_token` and the client's
//! credentials (`client_secret_basic` by default, or `client_secret_post`: [`ClientAuth`]).
//!
//! - `"active": false` → `401` with `WWW-Authenticate: Bearer error="invalid_token"`
//!   (RFC 6750); so is an active token whose `exp` has passed or `nbf` has not come, whose
//!   `aud` does not name the configured [audience](IntrospectionBuilder::audience), or that
//!   names no subject (a non-empty string `sub`, or without `sub` a `client_id`).
//!   `exp` and `nbf` are NumericDates: integers or fractional, as RFC 7519 allows. A
//!   DPoP-bound token (`token_type` `DPoP` or `cnf.jkt`, RFC 9449) is refused too.
//! - `"active": true` → a [`Principal`]: subject `sub` (or `client_id` for a client's own
//!   token, as the client credentials grant issues), method
//!   [`AuthMethod::BearerToken`], scopes from `scope`, the configured
//!   [tier](IntrospectionBuilder::tier), and as its claims (`Principal::claims`) the members
//!   `sub`, `client_id`, `scope`, `exp`, `cnf` (so that a certificate-bound token, RFC 8705,
//!   is accepted only with its certificate) and the [configured ones](IntrospectionBuilder::claims).
//! - The server cannot be reached, answers another status than `200`, answers something that
//!   is not a JSON object with a boolean `active` (and each member once; when active,
//!   `exp` and `nbf` numbers if present), answers more than
//!   [`max_body`](IntrospectionBuilder::max_body) bytes, or not within the
//!   [timeout](IntrospectionBuilder::timeout) (2 seconds by default) → `503` (`auth-unavailable`):
//!   fail closed. The failure is logged (at most once a second), never the token.
//!
//! # Cache and single flight
//!
//! Answers are cached under the SHA-256 of the token (the token itself is never kept): an
//! active one until its `exp` and at most [`max_cache_ttl`](IntrospectionBuilder::max_cache_ttl)
//! (30 seconds by default — a token revoked at the server is refused at the latest that long
//! after), an inactive one for [`inactive_ttl`](IntrospectionBuilder::inactive_ttl) (5 seconds).
//! However many requests carry the same unknown token at once, one introspection request is
//! in flight for it; it completes (and is cached) even when the requests that waited for it
//! go away. Failures are not cached.
//!
//! # With `JwtAuth`
//!
//! `JwtAuth` refuses a Bearer token that is not a JWT, and this authenticator would introspect
//! a JWT. When both kinds arrive, put this one first with
//! [`skip_jwts(true)`](IntrospectionBuilder::skip_jwts):
//! `IntrospectionAuth::discover(..).skip_jwts(true).build()?.or(jwt)` introspects opaque
//! tokens and leaves compact JWS tokens to `JwtAuth`.
//!
//! [`AuthMethod::BearerToken`]: crate::auth::AuthMethod::BearerToken

mod builder;
mod fetch;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub use crate::core::remote::ClientAuth;
pub use builder::IntrospectionBuilder;

use self::fetch::{Fetcher, Introspected};
use crate::auth::token_cache::{CacheEntry, TokenCache};
use crate::auth::{
    Answer, AuthError, AuthMethod, Authenticator, Outcome, Principal, RequestHead, Scopes, Tier,
    bearer_challenge,
};
use crate::core::SharedClock;

/// A configuration of [`IntrospectionAuth`] that cannot work: what
/// [`IntrospectionBuilder::build`] refuses. Messages never show the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint or issuer does not parse, has no host, or (an issuer) has a query or
    /// fragment.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// Plain `http` to a host that is not loopback, without `allow_insecure_http(true)`.
    #[error(
        "{0}: plain http to a host that is not loopback; use https (or allow_insecure_http(true))"
    )]
    InsecureHttp(String),
    /// A scheme other than `https` and `http`.
    #[error("{0}: the scheme must be https (or http)")]
    UnsupportedScheme(String),
    /// No client credentials were given: introspection endpoints authenticate their callers.
    #[error("token introspection needs the resource server's client credentials")]
    NoCredentials,
    /// The timeout, the size cap or the largest token length is zero, or the cache lifetimes
    /// are not ordered (`inactive_ttl` longer than `max_cache_ttl`).
    #[error("invalid introspection setting: {0}")]
    InvalidSetting(&'static str),
    /// The realm, audience or token type hint cannot be used.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// The default HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

/// Why the authorization server gave no usable answer (from [`IntrospectionAuth::endpoint`];
/// while authenticating it is logged and the request answered `503`).
///
/// Messages name the URL and the reason, never the token, the secret or a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// The request failed before a response: DNS, connection, TLS, a reset.
    #[error("{url} failed: {reason}")]
    Request {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered another status than `200` (`401`: check the client credentials;
    /// redirects are not followed).
    #[error("{url} answered {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// No complete answer within the [timeout](IntrospectionBuilder::timeout).
    #[error("{url} did not answer within {timeout:?}")]
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The answer is larger than [`max_body`](IntrospectionBuilder::max_body).
    #[error("{url}: the answer is larger than {max} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The cap, in bytes.
        max: usize,
    },
    /// The answer (or the metadata document) is not what RFC 7662 (or RFC 8414) says.
    #[error("{url}: {reason}")]
    InvalidResponse {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The metadata names another issuer than the configured one.
    #[error("the metadata's issuer is {found:?}, not the configured {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
    /// Called outside a tokio runtime.
    #[error("token introspection runs inside a tokio runtime")]
    NoRuntime,
}

/// Why a token is refused, as cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Inactive,
    Expired,
    NotYetValid,
    Audience,
    NoSubject,
    DpopBound,
    /// `token_type` (or `token_use`) says it is no bearer access token.
    NotBearer,
}

impl Refusal {
    fn error(self) -> AuthError {
        let m = AuthMethod::BearerToken;
        match self {
            Self::Inactive => AuthError::invalid(m, "token is not active"),
            Self::Expired => AuthError::expired(m, "token expired"),
            Self::NotYetValid => AuthError::expired(m, "token not valid yet"),
            Self::Audience => AuthError::invalid(m, "token is not for this audience"),
            Self::NoSubject => AuthError::invalid(m, "token names no subject"),
            Self::DpopBound => AuthError::invalid(m, "token is bound to a DPoP key"),
            Self::NotBearer => AuthError::invalid(m, "token is not a bearer access token"),
        }
    }
}

/// What a check concluded: a principal, a refusal, or no answer.
#[derive(Clone, Debug)]
enum Verdict {
    Known(Result<Principal, Refusal>),
    Unavailable,
    /// Not asked: as many requests are in the air as allowed.
    Overloaded,
}

impl Verdict {
    fn outcome(self) -> Outcome {
        match self {
            Self::Known(Ok(p)) => Outcome::Authenticated(p),
            Self::Known(Err(r)) => Outcome::Rejected(r.error()),
            Self::Unavailable => Outcome::Rejected(AuthError::unavailable(
                AuthMethod::BearerToken,
                "The authorization server could not check the token; try again later.",
            )),
            Self::Overloaded => Outcome::Rejected(AuthError::overloaded(
                AuthMethod::BearerToken,
                std::time::Duration::from_secs(1),
            )),
        }
    }
}

type Flights = Mutex<HashMap<[u8; 32], watch::Receiver<Option<Verdict>>>>;

struct Config {
    fetcher: Fetcher,
    cache: Option<TokenCache<Result<Principal, Refusal>>>,
    max_ttl: Duration,
    inactive_ttl: Duration,
    flights: Flights,
    audience: Option<String>,
    claims: Box<[String]>,
    tier: Tier,
    realm: String,
    challenge: HeaderValue,
    max_len: usize,
    max_in_flight: usize,
    skip_jwts: bool,
    clock: SharedClock,
    /// When a failure was last logged (microseconds of `clock`).
    last_warning: AtomicU64,
}

/// Checks opaque Bearer tokens at the authorization server (RFC 7662); see the
/// [module docs](self). Cheap to clone: clones share the cache and the flights.
#[derive(Clone)]
pub struct IntrospectionAuth {
    config: Arc<Config>,
}

impl fmt::Debug for IntrospectionAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionAuth")
            .field("fetcher", &self.config.fetcher)
            .field("max_cache_ttl", &self.config.max_ttl)
            .field("inactive_ttl", &self.config.inactive_ttl)
            .field("audience", &self.config.audience)
            .field("tier", &self.config.tier)
            .finish_non_exhaustive()
    }
}

impl IntrospectionAuth {
    /// Introspects at `endpoint` (`https`, or `http` to a loopback host).
    pub fn builder(endpoint: impl Into<String>) -> IntrospectionBuilder {
        IntrospectionBuilder::new(endpoint.into(), false)
    }

    /// Introspects at the `introspection_endpoint` of `issuer`'s metadata: its OpenID Connect
    /// discovery document (`{issuer}/.well-known/openid-configuration`), or when that is `404`
    /// its RFC 8414 document (`/.well-known/oauth-authorization-server{path}`). Read on first
    /// use (or [`endpoint`](Self::endpoint)) and kept; the document's `issuer` must be
    /// `issuer` exactly.
    pub fn discover(issuer: impl Into<String>) -> IntrospectionBuilder {
        IntrospectionBuilder::new(issuer.into(), true)
    }

    /// The introspection endpoint, discovering it now if it was not yet: to fail fast at
    /// startup when the authorization server cannot be reached.
    ///
    /// # Errors
    ///
    /// When the metadata cannot be fetched or read, names another issuer, or has no usable
    /// `introspection_endpoint`. A failed discovery is the answer for a second, then tried
    /// again.
    pub async fn endpoint(&self) -> Result<String, IntrospectionError> {
        self.config
            .fetcher
            .endpoint()
            .await
            .map(|url| url.to_string())
    }

    /// The token of an `Authorization: Bearer` header: `Ok(None)` without one.
    fn token<'a>(&self, req: &RequestHead<'a>) -> Result<Option<&'a str>, AuthError> {
        let method = AuthMethod::BearerToken;
        let Some(token) = crate::auth::bearer::token(req.headers(), self.config.max_len, method)?
        else {
            return Ok(None);
        };
        // RFC 6750 section 2.1: b64token, at least one character before any `=`.
        let head = token.trim_end_matches('=');
        let b64token = !head.is_empty()
            && head.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            });
        if !b64token {
            return Err(AuthError::invalid(method, "malformed token"));
        }
        Ok(Some(token))
    }
}

/// Whether `token` has the shape of a compact JWS (three base64url segments).
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let three = parts.clone().count() == 3;
    three
        && parts.all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

impl Authenticator for IntrospectionAuth {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        let token = match self.token(req) {
            Ok(Some(token)) => token,
            Ok(None) => return Answer::Ready(Outcome::Skip),
            Err(e) => return Answer::Ready(Outcome::Rejected(e)),
        };
        if self.config.skip_jwts && looks_like_jwt(token) {
            return Answer::Ready(Outcome::Skip);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.config.cached(&digest) {
            return Answer::Ready(Verdict::Known(hit).outcome());
        }
        let config = Arc::clone(&self.config);
        let token = token.to_owned();
        Answer::later(async move { Config::check(config, digest, token).await.outcome() })
    }

    fn challenge(&self, failure: Option<&AuthError>) -> Option<HeaderValue> {
        bearer_challenge(
            AuthMethod::BearerToken,
            &self.config.realm,
            &self.config.challenge,
            failure,
        )
    }
}

/// A NumericDate (a JSON number of seconds since the epoch, RFC 7519 section 2) in
/// microseconds: fractional seconds kept, a negative one `0`, a huge one `u64::MAX`. `None`
/// for what is not a number (`parse_answer` refuses that in an active answer).
fn numeric_date_micros(v: &Value) -> Option<u64> {
    if let Some(secs) = v.as_u64() {
        return Some(secs.saturating_mul(1_000_000));
    }
    if v.as_i64().is_some() {
        // Negative: before the epoch.
        return Some(0);
    }
    // `as` saturates (and a negative float becomes 0).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    v.as_f64().map(|secs| (secs * 1_000_000.0) as u64)
}

/// Removes a flight from the map when its task ends, however it ends.
struct Landing<'a> {
    flights: &'a Flights,
    digest: [u8; 32],
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.digest);
    }
}

impl Config {
    fn cached(&self, digest: &[u8; 32]) -> Option<Result<Principal, Refusal>> {
        self.cache.as_ref()?.get(digest, self.clock.now(), 0)
    }

    /// Joins the flight for `digest`, starting it if none is in the air.
    async fn check(config: Arc<Self>, digest: [u8; 32], token: String) -> Verdict {
        if tokio::runtime::Handle::try_current().is_err() {
            config.warn(&IntrospectionError::NoRuntime);
            return Verdict::Unavailable;
        }
        let mut rx = {
            let mut flights = config.flights.lock().unwrap_or_else(|e| e.into_inner());
            // A flight may have landed between the first look at the cache and this lock.
            if let Some(hit) = config.cached(&digest) {
                return Verdict::Known(hit);
            }
            match flights.get(&digest) {
                Some(rx) => rx.clone(),
                None if flights.len() >= config.max_in_flight => return Verdict::Overloaded,
                None => {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(digest, rx.clone());
                    let flying = Arc::clone(&config);
                    // Its own task: the answer is cached even if every waiter goes away.
                    tokio::spawn(async move {
                        let landing = Landing {
                            flights: &flying.flights,
                            digest,
                        };
                        let verdict = flying.introspect(digest, &token).await;
                        drop(landing);
                        let _ = tx.send(Some(verdict));
                    });
                    rx
                }
            }
        };
        match rx.wait_for(Option::is_some).await {
            Ok(verdict) => verdict.clone().unwrap_or(Verdict::Unavailable),
            // The task ended without an answer (the runtime is shutting down).
            Err(_) => Verdict::Unavailable,
        }
    }

    /// Asks the server, concludes, and caches what can be.
    async fn introspect(&self, digest: [u8; 32], token: &str) -> Verdict {
        let answer = match self.fetcher.introspect(token).await {
            Ok(answer) => answer,
            Err(e) => {
                self.warn(&e);
                return Verdict::Unavailable;
            }
        };
        let now = self.clock.now();
        let (conclusion, until) = self.conclude(answer, now);
        if let Some(cache) = &self.cache
            && until > now
        {
            cache.insert(
                digest,
                CacheEntry {
                    principal: conclusion.clone(),
                    exp: until,
                    generation: 0,
                },
            );
        }
        Verdict::Known(conclusion)
    }

    /// The principal or the refusal of an answer, and until when (microseconds) it may be
    /// cached.
    fn conclude(&self, answer: Introspected, now: u64) -> (Result<Principal, Refusal>, u64) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let refused = |r| (Err(r), now.saturating_add(micros(self.inactive_ttl)));
        if !answer.active {
            return refused(Refusal::Inactive);
        }
        let f = &answer.fields;
        // NumericDate (RFC 7519 section 2): seconds, maybe fractional or negative.
        let exp = f.get("exp").and_then(numeric_date_micros);
        if exp.is_some_and(|exp| exp <= now) {
            return (Err(Refusal::Expired), 0);
        }
        if f.get("nbf")
            .and_then(numeric_date_micros)
            .is_some_and(|nbf| nbf > now)
        {
            return (Err(Refusal::NotYetValid), 0);
        }
        if let Some(audience) = &self.audience {
            let matches = match f.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !matches {
                return refused(Refusal::Audience);
            }
        }
        // The client is the subject of its own token only when there is no `sub` at all: a
        // `sub` that is not a non-empty string is a user's token that says nothing usable,
        // not the client's.
        // RFC 9449: a DPoP-bound token is not a bearer token, and DPoP proofs are not checked
        // here.
        let dpop = f
            .get("token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
            || f.get("cnf").and_then(|c| c.get("jkt")).is_some();
        if dpop {
            return refused(Refusal::DpopBound);
        }
        // RFC 7662 section 2.2: `token_type` is the token's type (RFC 6749 section 5.1); an
        // active token of another type (`N_A`, RFC 8693's "not an access token", a
        // `refresh_token`, `mac`) is no bearer access token, and a refresh token is never for
        // a resource server (RFC 6749 section 1.5). The hint sent does not keep them out: a
        // server that does not find the token as an access token searches every type
        // (section 2.1). Ory Hydra's `token_use` says the same.
        let not_bearer = |member: &str, expected: &str| {
            f.get(member)
                .is_some_and(|t| !t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(expected)))
        };
        if not_bearer("token_type", "bearer") || not_bearer("token_use", "access_token") {
            return refused(Refusal::NotBearer);
        }
        let subject = match (f.get("sub"), f.get("client_id")) {
            (Some(Value::String(sub)), _) if !sub.is_empty() => sub,
            (None | Some(Value::Null), Some(Value::String(client))) if !client.is_empty() => client,
            _ => return refused(Refusal::NoSubject),
        };
        let scopes = f
            .get("scope")
            .and_then(Value::as_str)
            .map(Scopes::parse)
            .unwrap_or_default();
        let mut claims = Map::new();
        // `cnf` always: the AuthLayer refuses a certificate-bound token (RFC 8705 section 3)
        // on a connection without that certificate only when the principal carries it.
        for name in ["sub", "client_id", "scope", "exp", "cnf"]
            .into_iter()
            .chain(self.claims.iter().map(String::as_str))
        {
            if let Some(v) = f.get(name) {
                claims.insert(name.to_owned(), v.clone());
            }
        }
        let principal = Principal::builder(subject.as_str(), AuthMethod::BearerToken)
            .scopes(scopes.iter())
            .tier(self.tier.clone())
            .claims(Value::Object(claims))
            .build();
        let mut until = now.saturating_add(micros(self.max_ttl));
        if let Some(exp) = exp {
            until = until.min(exp);
        }
        (Ok(principal), until)
    }

    /// Logs a failure, at most once a second (the rest at `DEBUG`).
    fn warn(&self, error: &IntrospectionError) {
        let now = self.clock.now();
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1_000_000
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                target: "tower_shield::auth",
                error = %error,
                "token introspection failed; the request is answered 503"
            );
        } else {
            tracing::debug!(target: "tower_shield::auth", error = %error, "token introspection failed");
        }
    }
}
