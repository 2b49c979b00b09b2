//! Rate limiting: [`RateLimitLayer`].
//!
//! A layer holds one or more [`Limit`]s. Each names a [`Quota`] (or one per
//! [`Tier`](crate::auth::Tier), see [`Tiers`]), the [`Algorithm`] that applies it, whom it
//! counts ([`KeyBy`]: client IP, API key, principal, tier, route, header, your function, or a
//! combination), what a request costs, and which paths and methods it covers. Counters live in
//! a [`Store`]: the in-process [`MemoryStore`] by default, a shared one for many instances.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::rate_limit::{Limit, PeerAddr, Quota, RateLimitLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limits = RateLimitLayer::builder()
//!     // 2 requests per minute per client (per principal behind an AuthLayer, else per IP).
//!     .limit(Limit::new("per-minute", Quota::per_minute(2)))
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hello" })).layer(limits);
//!
//! let call = |app: Router| async move {
//!     // axum's `into_make_service_with_connect_info` puts the peer address there; here the
//!     // test does it by hand.
//!     let mut req = Request::get("/").body(Body::empty())?;
//!     req.extensions_mut().insert(PeerAddr("203.0.113.7:50000".parse()?));
//!     Ok::<_, Box<dyn std::error::Error>>(app.oneshot(req).await?)
//! };
//! let first = call(app.clone()).await?;
//! assert_eq!(first.headers()["x-ratelimit-limit"], "2");
//! assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
//! call(app.clone()).await?;
//! let third = call(app).await?;
//! assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(third.headers()["retry-after"], "30");
//! assert_eq!(third.headers()["content-type"], "application/problem+json");
//! # Ok(()) }
//! ```
//!
//! # Algorithms
//!
//! | [`Algorithm`] | behaviour | `X-RateLimit-Limit` | `X-RateLimit-Reset` |
//! |---|---|---|---|
//! | `TokenBucket` (default; GCRA) | bursts up to [`Quota::burst`] (the whole limit by default), refilled evenly: `per_hour(1000).burst(20)` is 20 at once, one more every 3.6 s | the burst | when the bucket is full again |
//! | `FixedWindow` | `limit` per window aligned on the Unix epoch; twice the limit can pass around a boundary | the limit | the window's end |
//! | `SlidingWindow` | the previous window's count weighted by its overlap with the last period, plus the current count: 80 × 0.5 + 30 = 70 of 100 | the limit | when the weighted count is 0 |
//! | `LeakyBucket { max_wait }` | a queue drained at `limit / period`: requests are delayed to their turn, refused if the turn is more than `max_wait` away (a cost of `n` takes `n` turns, the last within `max_wait`) | the queue's capacity | when the queue is empty |
//!
//! The IETF `RateLimit` field's `t` ([`HeaderStyle::Ietf`]) is not `X-RateLimit-Reset`: it is,
//! as draft-ietf-httpapi-ratelimit-headers-10 defines it, the seconds until *more* quota is
//! available (the next token, the window's end, the next queue slot; for the sliding window,
//! an upper bound, the full reset), and on a `429` the refusing limit's `t` equals
//! `Retry-After` ([`algorithm::Status::more_quota_after`]).
//!
//! The math of each lives once, in [`algorithm`], as pure integer functions; every store
//! applies the same functions, so stores decide alike.
//!
//! # Keys and client IPs
//!
//! [`KeyBy::ip`] uses the layer's [`ClientIp`]: by default the socket peer (axum's
//! `ConnectInfo<SocketAddr>`, with the `mtls` feature `ConnectInfo<TlsConnectInfo>` as
//! `TlsListener` serves it, or a [`PeerAddr`] extension), with every forwarding header
//! ignored. Behind reverse proxies, [`ClientIp::builder`] names the proxies to trust; the
//! client is then the right-most untrusted hop of `X-Forwarded-For` (or `Forwarded`), so a
//! forged left-most entry changes nothing. IPv6 clients are grouped by /64 (configurable), as
//! one host usually holds a whole /64.
//!
//! A request whose key cannot be found follows the [`MissingKey`] policy: a `500` by default
//! (the server is misconfigured), a `401`, or one shared counter.
//!
//! A key is only as good as what the client cannot change. [`KeyBy::api_key`] counts the key
//! id an [`ApiKeyAuth`](crate::auth::ApiKeyAuth) validated (an `AuthLayer` outside this
//! layer), never the `X-API-Key` header as sent: a made-up key is keyless and follows the
//! [`MissingKey`] policy. [`KeyBy::header`] and [`KeyBy::custom`] read what the client sent,
//! for values a trusted gateway sets.
//!
//! **Where the limiter goes for keys by route.** [`KeyBy::route`] is axum's `MatchedPath`,
//! which exists only after routing: put that limiter *inside* the `Router`
//! (`Router::route_layer`). A limiter that wraps the whole `Router` (the documented stack,
//! as the versioning layer requires) sees no matched route; it declares the templates with
//! [`KeyBy::route_templates`] (`["/posts/{id}", ...]`), or its requests are keyless. The raw
//! path is never a key: `/posts/1`, `/posts/2`, ... would each get a fresh counter.
//!
//! # Tiers, routes, costs, several limits
//!
//! [`Limit::tiered`] picks a quota by the principal's tier; [`Tiers::standard`] is the design
//! table (anonymous 60/h, authenticated 1,000/h, premium 10,000/h, internal 100,000/h).
//! [`Limit::path`] narrows a limit to a route, [`Limit::cost`] weighs requests. A request is
//! checked against every limit that applies, as one atomic step: it passes only if all admit
//! it, and then all count it.
//!
//! # Headers
//!
//! Every response the layer lets through, and its `429`s, carry `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix seconds) of the limit closest to
//! refusing; a `429` also carries `Retry-After` in whole seconds, rounded up, so that a retry
//! after it is admitted. [`HeaderStyle`] switches to (or adds) the IETF `RateLimit` and
//! `RateLimit-Policy` fields. The `429` body is a problem ([`RateLimited`]) from the crate's
//! [renderer](crate::problem).
//!
//! # Stores and outages
//!
//! | store | where counters live | cost per decision | across instances |
//! |---|---|---|---|
//! | [`MemoryStore`] (default) | this process | a lock-free bucket update | one limit per instance |
//! | `RedisStore` (feature `redis`) | Redis, one Lua script per request on Redis's clock | one round trip | exact |
//! | `HybridStore` (feature `redis`) | leases of Redis counters, spent in this process | a local decision; a round trip per lease | within `instances × lease` units |
//!
//! When a remote store fails or exceeds its timeout, the [`StoreFailure`] policy applies: let
//! the request through unchecked ([`Open`](StoreFailure::Open), the default), refuse it
//! ([`Closed`](StoreFailure::Closed)), or decide it with the same limits in memory
//! ([`Local`](StoreFailure::Local), optionally each divided by the number of instances),
//! probing the store with backoff and going back to it as soon as it answers; a
//! [`DecidedBy`] extension then tells which store decided.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_shield::rate_limit::{
//!     HybridStore, Limit, Quota, RateLimitLayer, RedisStore, StoreFailure,
//! };
//!
//! let redis = RedisStore::builder("redis://127.0.0.1:6379/").prefix("myapi:").build()?;
//! let layer = RateLimitLayer::builder()
//!     // Decided in process against leases of up to 64 requests taken from Redis.
//!     .store(HybridStore::builder(redis).lease(64).build())
//!     .limit(Limit::new("global", Quota::per_second(5_000)))
//!     // Redis down: 5,000 / 4 per second in this instance's memory until it is back.
//!     .on_store_failure(StoreFailure::Local { instances: 4 })
//!     .build()?;
//! # let _ = layer; Ok(()) }
//! # #[cfg(not(feature = "redis"))]
//! # fn main() {}
//! ```
//!
//! # Allow-lists, shadow mode, events
//!
//! [`RateLimitBuilder::allow_networks`], [`allow_tier`](RateLimitBuilder::allow_tier) and
//! [`allow_if`](RateLimitBuilder::allow_if) bypass the limits. In
//! [shadow mode](RateLimitBuilder::shadow) the layer counts and reports but never refuses. A
//! refused request logs an INFO event on the `tower_shield::rate_limit` target (limit, key,
//! retry); a [`RateLimitObserver`] sees every decision, for metrics.

pub mod algorithm;
mod builder;
mod client_ip;
mod error;
mod fallback;
mod headers;
#[cfg(feature = "redis")]
mod hybrid;
mod key;
mod layer;
mod limit;
mod memory;
mod observer;
mod plan;
#[cfg(feature = "redis")]
mod redis;
mod store;

pub use crate::core::{Answer, Clock, ManualClock, SystemClock};
pub use algorithm::{Algorithm, Quota, QuotaError, Rule, RuleError};
pub use builder::RateLimitBuilder;
pub(crate) use client_ip::Network;
pub(crate) use client_ip::peer_ip;
pub use client_ip::{ClientIp, ClientIpBuilder, ClientIpError, ForwardedHeader, PeerAddr};
pub use error::{KeyMissing, RateLimitUnavailable, RateLimited};
pub use fallback::DecidedBy;
pub use headers::HeaderStyle;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use hybrid::{
    DEFAULT_LEASE, DEFAULT_LEASE_FRACTION, DEFAULT_MAX_LEASES, HybridStore, HybridStoreBuilder,
};
pub use key::KeyBy;
pub use layer::{RateLimit, RateLimitLayer, ResponseFuture};
pub use limit::{Limit, Tiers};
pub use memory::{BYTES_PER_KEY, DEFAULT_MAX_KEYS, MemoryStore, MemoryStoreBuilder};
pub use observer::{RateLimitEvent, RateLimitObserver, RateOutcome};
pub use plan::{MissingKey, StoreFailure, Unchecked};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisStore, RedisStoreBuilder, RedisStoreError};
pub use store::{Check, Decision, Pending, Store, StoreError, StoreErrorKind, Verdict};

/// Why a [`RateLimitLayer`] cannot be built ([`RateLimitBuilder::build`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The layer has no limit.
    #[error("a rate-limit layer needs at least one limit")]
    NoLimits,
    /// More limits than one request may be checked against at once (16).
    #[error("a rate-limit layer takes at most 16 limits")]
    TooManyLimits,
    /// A limit's name is empty, longer than 64 characters, or has a character other than
    /// `A-Z a-z 0-9 _ - .`.
    #[error("limit name {name:?} must be 1 to 64 characters of A-Z a-z 0-9 _ - .")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// Two limits share a name (and so would share counters).
    #[error("two limits are named {name:?}")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A tier name that cannot be part of a store key (same rule as limit names).
    #[error("tier name {tier:?} must be 1 to 64 characters of A-Z a-z 0-9 _ - .")]
    InvalidTier {
        /// The tier.
        tier: String,
    },
    /// A path filter that does not start with `/`.
    #[error("limit path {path:?} must start with '/'")]
    InvalidPath {
        /// The path.
        path: String,
    },
    /// A limit's quota does not fit its algorithm.
    #[error("limit {limit:?}: {error}")]
    Rule {
        /// The limit's name.
        limit: String,
        /// What is wrong.
        #[source]
        error: RuleError,
    },
    /// [`StoreFailure::Local`] with `instances: 0`.
    #[error("a local store-failure fallback needs at least one instance")]
    NoInstances,
    /// A route template of [`KeyBy::route_templates`] that does not parse.
    #[error("limit {limit:?}: route template {template:?}: {reason}")]
    InvalidRouteTemplate {
        /// The limit's name.
        limit: String,
        /// The template as given.
        template: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An allow-listed network that does not parse.
    #[error("{value:?} is not an IP address or CIDR network")]
    InvalidNetwork {
        /// The network as given.
        value: String,
    },
    /// An allow-listed network with bits set past its prefix (`"198.51.100.7/16"`): refused
    /// rather than masked, since a wrong prefix length would exempt a whole network.
    #[error(
        "allow-listed network {value:?} has bits set past its prefix: write {network:?} if you mean it"
    )]
    HostBitsSet {
        /// The network as given.
        value: String,
        /// The network it would be with those bits cleared.
        network: String,
    },
}
