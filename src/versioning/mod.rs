//! API versions from the path, a header, the `Accept` media type or the query, with a lifecycle:
//! supported, deprecated (with [`Deprecation`](https://www.rfc-editor.org/rfc/rfc9745),
//! [`Sunset`](https://www.rfc-editor.org/rfc/rfc8594) and `Link` headers), retired (`410 Gone`).
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::versioning::{ApiVersion, Version, VersioningLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let versioning = VersioningLayer::builder()
//!     .vendor("example") // Accept: application/vnd.example.v2+json
//!     .version(Version::supported(2))
//!     .version(
//!         Version::deprecated(1, "2026-01-01")
//!             .sunset("2099-06-30")
//!             .link("https://api.example.com/docs/migrate-v2"),
//!     )
//!     .version(Version::retired(0).link("https://api.example.com/docs/migrate-v2"))
//!     .default_version(2)
//!     .build()?;
//!
//! // The layer strips `/v1`, `/v2` before routing, so the routes are written once. It must wrap
//! // the Router as a service (a `Router::layer` runs after routing).
//! let routes = Router::new().route("/health", get(|v: ApiVersion| async move { format!("v{v}") }));
//! let app: Router = Router::new()
//!     .fallback_service(tower::ServiceBuilder::new().layer(versioning).service(routes));
//!
//! let res = app.clone().oneshot(Request::get("/v1/health").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.headers()["deprecation"], "@1767225600");
//! assert_eq!(res.headers()["sunset"], "Tue, 30 Jun 2099 00:00:00 GMT");
//!
//! let res = app.oneshot(Request::get("/v0/health").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::GONE);
//! # Ok(()) }
//! ```
//!
//! - **Sources** ([`VersionSource`]): the first path segment (`/v2/...`; wrap the Router that
//!   sees `/v2/...` first, not one mounted under a prefix such as `/api`), a header
//!   (`API-Version: 2`, name configurable), the `Accept` media type
//!   (`application/vnd.<vendor>.v2+json`) and a query parameter (`?version=2`, name
//!   configurable), in the configured order. Sources that disagree are a `400` problem, not a
//!   silent pick. A path whose first segment would change once normalized (`/v2/../v1/posts`,
//!   `/v2/%2e%2e/v1/...`, `//v1/...`, `/v%31/...`, `/v2%2f...`) is a `400` too: an inner
//!   service or upstream that normalizes it would route another version than the one checked.
//! - A request with no version gets the [default](VersioningBuilder::default_version), or a
//!   `400` when a version is [required](VersioningBuilder::require_version).
//! - The handler sees the version as an [`ApiVersion`] extension (an axum extractor under the
//!   `axum` feature). Whether the `/vN` prefix is stripped before routing is
//!   [an option](VersioningBuilder::strip_prefix) (default: stripped).
//! - A deprecated version answers normally plus `Deprecation: @<unix seconds>`, `Sunset:
//!   <HTTP-date>` and `Link: <guide>; rel="deprecation"` (and `rel="sunset"`). Past its sunset, or
//!   retired, it answers `410 Gone` with a problem that names the migration link. An unknown
//!   version is `400` listing the supported ones. The [clock](VersioningBuilder::clock) is
//!   injectable for tests.

use std::fmt;
use std::sync::Arc;

mod builder;
mod deprecation;
mod service;
mod source;
mod version;

pub use builder::VersioningBuilder;
pub use deprecation::{DEPRECATION, Date, SUNSET};
pub use service::{ResponseFuture, VersionError, Versioning};
pub use source::VersionSource;
pub use version::{ApiVersion, Version};

/// A configuration that [`VersioningBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No version is configured.
    #[error("versioning: no version configured")]
    NoVersions,
    /// A version is configured twice.
    #[error("versioning: version {0} configured twice")]
    DuplicateVersion(u32),
    /// The default version is not a configured, servable version.
    #[error("versioning: default version {0} is not a servable configured version")]
    InvalidDefault(u32),
    /// No version source is configured.
    #[error("versioning: no version source configured")]
    NoSources,
    /// [`VersionSource::MediaType`] is used without a [vendor](VersioningBuilder::vendor), or
    /// the vendor is not a token of letters, digits, `-` and `.`.
    #[error(
        "versioning: the media type source needs a vendor of letters, digits, '-' and '.', got {0:?}"
    )]
    InvalidVendor(String),
    /// The header or query parameter name is invalid.
    #[error("versioning: invalid header or parameter name {0:?}")]
    InvalidName(String),
    /// A date is not `YYYY-MM-DD`, or a sunset comes before its deprecation.
    #[error("versioning: invalid date {0:?} (YYYY-MM-DD, sunset after deprecation)")]
    InvalidDate(String),
    /// A link is not an absolute `http(s)` URL that fits in `<...>`.
    #[error("versioning: invalid link {0:?}")]
    InvalidLink(String),
    /// A sunset date or sunset link on a version that is not deprecated.
    #[error("versioning: version {0} has a sunset but is not deprecated (Version::deprecated)")]
    SunsetOnUndeprecated(u32),
}

/// Reads, checks and applies API versions; see the [module docs](self).
#[derive(Clone)]
pub struct VersioningLayer {
    config: Arc<service::Config>,
}

// By hand: it shows what the configuration serves (the clock has no `Debug`).
impl fmt::Debug for VersioningLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersioningLayer")
            .field("sources", &self.config.sources.order)
            .field("supported", &self.config.supported())
            .field("default", &self.config.default)
            .finish_non_exhaustive()
    }
}

impl VersioningLayer {
    /// A builder with the default sources and no version yet.
    pub fn builder() -> VersioningBuilder {
        VersioningBuilder::default()
    }
}

#[cfg(test)]
mod tests;
