//! API versions from the path, a header, the `Accept` media type or the query, with a lifecycle:
//! supported, deprecated (with [`Deprecation`](https://www.rfc-editor.org/rfc/rfc9745),
//! [`Sunset`](https://www.rfc-editor.org/rfc/rfc8594) and `Link` headers), retired (`410 Gone`).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_shield::versioning::{ApiVersion, Version, VersioningLayer};
//!
//! # fn main() -> Result<(), tower_shield::versioning::VersioningError> {
//! let versioning = VersioningLayer::builder()
//!     .vendor("example") // Accept: application/vnd.example.v2+json
//!     .version(Version::supported(2))
//!     .version(
//!         Version::deprecated(1, "2026-01-01")
//!             .sunset("2027-06-30")
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
//! # let _ = app; Ok(()) }
//! ```
//!
//! - **Sources** ([`VersionSource`]): the first path segment (`/v2/...`; wrap the Router that
//!   sees `/v2/...` first, not one mounted under a prefix such as `/api`), a header
//!   (`API-Version: 2`, name configurable), the `Accept` media type
//!   (`application/vnd.<vendor>.v2+json`) and a query parameter (`?version=2`, name
//!   configurable), in the configured order. Sources that disagree are a `400` problem, not a
//!   silent pick.
//! - A request with no version gets the [default](VersioningBuilder::default_version), or a
//!   `400` when a version is [required](VersioningBuilder::require_version).
//! - The handler sees the version as an [`ApiVersion`] extension (an axum extractor under the
//!   `axum` feature). Whether the `/vN` prefix is stripped before routing is
//!   [an option](VersioningBuilder::strip_prefix) (default: stripped).
//! - A deprecated version answers normally plus `Deprecation: @<unix seconds>`, `Sunset:
//!   <HTTP-date>` and `Link: <guide>; rel="deprecation"` (and `rel="sunset"`). Past its sunset, or
//!   retired, it answers `410 Gone` with a problem that names the migration link. An unknown
//!   version is `400` listing the supported ones. The clock is injectable for tests.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{ACCEPT, HeaderName, LINK};
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::problem::{self, Problem, Rejection};
use crate::core::util::{self, Vary, query_values};

/// `deprecation` ([RFC 9745](https://www.rfc-editor.org/rfc/rfc9745))
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// `sunset` ([RFC 8594](https://www.rfc-editor.org/rfc/rfc8594))
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// The API version a request is served with, in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(u32);

impl ApiVersion {
    /// The version number (the `2` of `v2`).
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a version may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionSource {
    /// The first path segment: `/v2/posts`.
    Path,
    /// A header: `API-Version: 2` (or `v2`).
    Header,
    /// The `Accept` media type: `application/vnd.<vendor>.v2+json`.
    MediaType,
    /// A query parameter: `?version=2` (or `v2`).
    Query,
}

impl VersionSource {
    fn name(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Header => "header",
            Self::MediaType => "media type",
            Self::Query => "query",
        }
    }
}

/// A date in a version's lifecycle: a [`SystemTime`], or text as `YYYY-MM-DD` (midnight UTC)
/// checked when the layer is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Date {
    /// A point in time.
    Time(SystemTime),
    /// `YYYY-MM-DD`, midnight UTC.
    Text(String),
}

impl From<SystemTime> for Date {
    fn from(t: SystemTime) -> Self {
        Self::Time(t)
    }
}

impl From<&str> for Date {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Date {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl Date {
    fn resolve(&self) -> Option<SystemTime> {
        match self {
            Self::Time(t) => Some(*t),
            Self::Text(text) => {
                let mut parts = text.splitn(3, '-');
                let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
                let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                if y.len() != 4
                    || m.len() != 2
                    || d.len() != 2
                    || !digits(y)
                    || !digits(m)
                    || !digits(d)
                {
                    return None;
                }
                let (y, m, d): (i64, u32, u32) =
                    (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
                let days = days_from_civil(y, m, d)?;
                let secs = u64::try_from(days.checked_mul(86_400)?).ok()?;
                UNIX_EPOCH.checked_add(Duration::from_secs(secs))
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), checked.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_days[(m - 1) as usize] {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    Supported,
    Deprecated { at: Date, sunset: Option<Date> },
    Retired,
}

/// One version and its lifecycle stage.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Version {
    number: u32,
    stage: Stage,
    link: Option<String>,
    sunset_link: Option<String>,
    misplaced_sunset: bool,
}

impl Version {
    /// A version served normally.
    pub fn supported(number: u32) -> Self {
        Self {
            number,
            stage: Stage::Supported,
            link: None,
            sunset_link: None,
            misplaced_sunset: false,
        }
    }

    /// A version deprecated since `at`: served, with `Deprecation` (and `Sunset`, `Link`)
    /// headers.
    pub fn deprecated(number: u32, at: impl Into<Date>) -> Self {
        Self {
            number,
            stage: Stage::Deprecated {
                at: at.into(),
                sunset: None,
            },
            link: None,
            sunset_link: None,
            misplaced_sunset: false,
        }
    }

    /// A version no longer served: `410 Gone`.
    pub fn retired(number: u32) -> Self {
        Self {
            number,
            stage: Stage::Retired,
            link: None,
            sunset_link: None,
            misplaced_sunset: false,
        }
    }

    /// The date after which a deprecated version answers `410 Gone` (the `Sunset` header).
    /// Only deprecated versions have one: on another, the build fails.
    pub fn sunset(mut self, date: impl Into<Date>) -> Self {
        match &mut self.stage {
            Stage::Deprecated { sunset, .. } => *sunset = Some(date.into()),
            _ => self.misplaced_sunset = true,
        }
        self
    }

    /// The migration guide: `Link: <url>; rel="deprecation"` on deprecated responses, and named
    /// in the `410` problem once the version is gone.
    pub fn link(mut self, url: impl Into<String>) -> Self {
        self.link = Some(url.into());
        self
    }

    /// A document about the sunset policy: `Link: <url>; rel="sunset"`.
    pub fn sunset_link(mut self, url: impl Into<String>) -> Self {
        self.sunset_link = Some(url.into());
        self
    }
}

/// A configuration that [`VersioningBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersioningError {
    /// No version is configured.
    NoVersions,
    /// A version is configured twice.
    DuplicateVersion(u32),
    /// The default version is not a configured, servable version.
    InvalidDefault(u32),
    /// No version source is configured.
    NoSources,
    /// [`VersionSource::MediaType`] is used without a [vendor](VersioningBuilder::vendor), or
    /// the vendor is not a token of letters, digits, `-` and `.`.
    InvalidVendor(String),
    /// The header or query parameter name is invalid.
    InvalidName(String),
    /// A date is not `YYYY-MM-DD`, or a sunset comes before its deprecation.
    InvalidDate(String),
    /// A link is not an absolute `http(s)` URL that fits in `<...>`.
    InvalidLink(String),
    /// A sunset date or sunset link on a version that is not deprecated.
    SunsetOnUndeprecated(u32),
}

impl fmt::Display for VersioningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVersions => f.write_str("versioning: no version configured"),
            Self::DuplicateVersion(v) => write!(f, "versioning: version {v} configured twice"),
            Self::InvalidDefault(v) => {
                write!(
                    f,
                    "versioning: default version {v} is not a servable configured version"
                )
            }
            Self::NoSources => f.write_str("versioning: no version source configured"),
            Self::InvalidVendor(v) => write!(
                f,
                "versioning: the media type source needs a vendor of letters, digits, '-' and '.', got {v:?}"
            ),
            Self::InvalidName(n) => write!(f, "versioning: invalid header or parameter name {n:?}"),
            Self::InvalidDate(d) => write!(
                f,
                "versioning: invalid date {d:?} (YYYY-MM-DD, sunset after deprecation)"
            ),
            Self::InvalidLink(l) => write!(f, "versioning: invalid link {l:?}"),
            Self::SunsetOnUndeprecated(v) => write!(
                f,
                "versioning: version {v} has a sunset but is not deprecated (Version::deprecated)"
            ),
        }
    }
}

impl std::error::Error for VersioningError {}

/// Why a request's version cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionError {
    /// The version is not one the API has: `400`, with the supported versions.
    Unsupported {
        /// The version asked for.
        requested: u32,
        /// The versions that are served.
        supported: Arc<[u32]>,
    },
    /// A version source has something that is not a version: `400`.
    Invalid {
        /// The source.
        source: VersionSource,
    },
    /// Two sources ask for different versions: `400`.
    Conflicting {
        /// The sources and what each asked for.
        found: Vec<(VersionSource, u32)>,
    },
    /// No version, and one is required: `400`.
    Missing {
        /// The versions that are served.
        supported: Arc<[u32]>,
    },
    /// The version is retired or past its sunset: `410 Gone`.
    Gone {
        /// The version asked for.
        version: u32,
        /// The migration guide, if configured.
        link: Option<Arc<str>>,
    },
}

impl Rejection for VersionError {
    fn problem(&self) -> Problem {
        let list = |versions: &[u32]| {
            versions
                .iter()
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Unsupported {
                requested,
                supported,
            } => Problem::new(StatusCode::BAD_REQUEST)
                .with_type(problem::problem_type("unsupported-version"))
                .with_title("Unsupported API version")
                .with_detail(format!(
                    "API version {requested} does not exist. Supported versions: {}.",
                    list(supported)
                ))
                .with_extension("supported_versions", supported.to_vec()),
            Self::Invalid { source } => Problem::new(StatusCode::BAD_REQUEST)
                .with_type(problem::problem_type("invalid-version"))
                .with_title("Invalid API version")
                .with_detail(format!(
                    "The version in the {} is not a version number such as 2 or v2.",
                    source.name()
                )),
            Self::Conflicting { found } => Problem::new(StatusCode::BAD_REQUEST)
                .with_type(problem::problem_type("conflicting-versions"))
                .with_title("Conflicting API versions")
                .with_detail(format!(
                    "The request asks for different versions: {}.",
                    found
                        .iter()
                        .map(|(s, v)| format!("v{v} in the {}", s.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            Self::Missing { supported } => Problem::new(StatusCode::BAD_REQUEST)
                .with_type(problem::problem_type("missing-version"))
                .with_title("API version required")
                .with_detail(format!(
                    "This API needs a version. Supported versions: {}.",
                    list(supported)
                ))
                .with_extension("supported_versions", supported.to_vec()),
            Self::Gone { version, link } => {
                let mut problem = Problem::new(StatusCode::GONE)
                    .with_type(problem::problem_type("version-gone"))
                    .with_title("API version retired");
                match link {
                    Some(link) => {
                        problem = problem
                            .with_detail(format!(
                                "API version {version} has been retired. Migration guide: {link}"
                            ))
                            .with_extension("migration_guide", link.to_string());
                        if let Ok(value) =
                            HeaderValue::try_from(format!("<{link}>; rel=\"deprecation\""))
                        {
                            problem = problem.with_header(LINK, value);
                        }
                        problem
                    }
                    None => problem.with_detail(format!("API version {version} has been retired.")),
                }
            }
        }
    }
}

/// Response headers and sunset of one deprecated version, built once.
struct Deprecated {
    sunset: Option<SystemTime>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

struct Entry {
    number: u32,
    retired: bool,
    deprecated: Option<Deprecated>,
    link: Option<Arc<str>>,
}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

struct Config {
    sources: Vec<VersionSource>,
    header: HeaderName,
    media_prefix: String,
    query: String,
    default: Option<u32>,
    strip_prefix: bool,
    entries: Vec<Entry>,
    vary: Option<Vary>,
    clock: Clock,
}

/// Builds a [`VersioningLayer`]; see the [module docs](self).
#[must_use]
pub struct VersioningBuilder {
    sources: Vec<VersionSource>,
    header: String,
    vendor: Option<String>,
    query: String,
    default: Option<u32>,
    strip_prefix: bool,
    versions: Vec<Version>,
    clock: Clock,
}

impl fmt::Debug for VersioningBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersioningBuilder")
            .field("sources", &self.sources)
            .field("header", &self.header)
            .field("vendor", &self.vendor)
            .field("query", &self.query)
            .field("default", &self.default)
            .field("strip_prefix", &self.strip_prefix)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

impl Default for VersioningBuilder {
    fn default() -> Self {
        Self {
            sources: vec![
                VersionSource::Path,
                VersionSource::Header,
                VersionSource::MediaType,
                VersionSource::Query,
            ],
            header: "api-version".to_owned(),
            vendor: None,
            query: "version".to_owned(),
            default: None,
            strip_prefix: true,
            versions: Vec::new(),
            clock: Arc::new(SystemTime::now),
        }
    }
}

impl VersioningBuilder {
    /// The sources to read, in order (default: path, header, media type, query; the media type
    /// is skipped while no [vendor](Self::vendor) is set).
    pub fn sources<I: IntoIterator<Item = VersionSource>>(mut self, sources: I) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// The version header (default `API-Version`).
    pub fn header_name(mut self, name: impl Into<String>) -> Self {
        self.header = name.into();
        self
    }

    /// The vendor of `application/vnd.<vendor>.v2+json` media types.
    pub fn vendor(mut self, vendor: impl Into<String>) -> Self {
        self.vendor = Some(vendor.into());
        self
    }

    /// The version query parameter (default `version`).
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.query = name.into();
        self
    }

    /// The version of requests that carry none.
    pub fn default_version(mut self, version: u32) -> Self {
        self.default = Some(version);
        self
    }

    /// Requests without a version are a `400` (the default when no default version is set).
    pub fn require_version(mut self) -> Self {
        self.default = None;
        self
    }

    /// Whether `/vN` is removed from the path before the inner service routes it (default
    /// `true`: one Router for every version). With `false`, nest a Router per version.
    pub fn strip_prefix(mut self, strip: bool) -> Self {
        self.strip_prefix = strip;
        self
    }

    /// Adds a version.
    pub fn version(mut self, version: Version) -> Self {
        self.versions.push(version);
        self
    }

    /// The clock that decides whether a sunset has passed (default [`SystemTime::now`]).
    pub fn clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration and builds the deprecation headers once.
    ///
    /// # Errors
    ///
    /// A [`VersioningError`] for no or duplicate versions, an invalid default, no sources, a
    /// media type source without a valid vendor, an invalid name, date or link.
    pub fn build(self) -> Result<VersioningLayer, VersioningError> {
        if self.versions.is_empty() {
            return Err(VersioningError::NoVersions);
        }
        let mut sources = self.sources.clone();
        let vendor_ok = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        match &self.vendor {
            Some(v) if !vendor_ok(v) => return Err(VersioningError::InvalidVendor(v.clone())),
            Some(_) => {}
            None => sources.retain(|s| *s != VersionSource::MediaType),
        }
        if sources.is_empty() {
            return Err(VersioningError::NoSources);
        }
        let header = HeaderName::try_from(self.header.as_str())
            .map_err(|_| VersioningError::InvalidName(self.header.clone()))?;
        let query_ok = !self.query.is_empty()
            && self
                .query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !query_ok {
            return Err(VersioningError::InvalidName(self.query));
        }
        let mut entries: Vec<Entry> = Vec::new();
        for version in &self.versions {
            if entries.iter().any(|e| e.number == version.number) {
                return Err(VersioningError::DuplicateVersion(version.number));
            }
            let deprecated = matches!(version.stage, Stage::Deprecated { .. });
            if version.misplaced_sunset || (version.sunset_link.is_some() && !deprecated) {
                return Err(VersioningError::SunsetOnUndeprecated(version.number));
            }
            for link in [&version.link, &version.sunset_link].into_iter().flatten() {
                if !is_link(link) {
                    return Err(VersioningError::InvalidLink(link.clone()));
                }
            }
            let deprecated = match &version.stage {
                Stage::Deprecated { at, sunset } => {
                    Some(deprecation(version, at, sunset.as_ref())?)
                }
                _ => None,
            };
            entries.push(Entry {
                number: version.number,
                retired: version.stage == Stage::Retired,
                deprecated,
                link: version.link.as_deref().map(Arc::from),
            });
        }
        if let Some(default) = self.default {
            if !entries.iter().any(|e| e.number == default && !e.retired) {
                return Err(VersioningError::InvalidDefault(default));
            }
        }
        let mut vary_names = Vec::new();
        if sources.contains(&VersionSource::MediaType) {
            vary_names.push("accept");
        }
        if sources.contains(&VersionSource::Header) {
            vary_names.push(header.as_str());
        }
        let vary = Vary::new(&vary_names);
        Ok(VersioningLayer {
            config: Arc::new(Config {
                sources,
                header,
                media_prefix: format!(
                    "application/vnd.{}.",
                    self.vendor.unwrap_or_default().to_ascii_lowercase()
                ),
                query: self.query,
                default: self.default,
                strip_prefix: self.strip_prefix,
                entries,
                vary,
                clock: self.clock,
            }),
        })
    }
}

fn is_link(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\'))
}

/// 10000-01-01T00:00:00Z: HTTP-dates have four-digit years.
const YEAR_10000: u64 = 253_402_300_800;

fn deprecation(
    version: &Version,
    at: &Date,
    sunset: Option<&Date>,
) -> Result<Deprecated, VersioningError> {
    let invalid = |d: &Date| {
        VersioningError::InvalidDate(match d {
            Date::Text(text) => text.clone(),
            Date::Time(t) => format!("{t:?}"),
        })
    };
    let resolve = |d: &Date| {
        d.resolve()
            .filter(|t| {
                t.duration_since(UNIX_EPOCH)
                    .is_ok_and(|since| since.as_secs() < YEAR_10000)
            })
            .ok_or_else(|| invalid(d))
    };
    let at_time = resolve(at)?;
    let sunset_time = match sunset {
        Some(d) => Some(resolve(d)?),
        None => None,
    };
    if let Some(s) = sunset_time {
        if s < at_time {
            return Err(invalid(sunset.unwrap_or(at)));
        }
    }
    let secs = at_time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| invalid(at))?
        .as_secs();
    let value = |text: String| HeaderValue::try_from(text).map_err(|_| invalid(at));
    let mut headers = vec![(DEPRECATION, value(format!("@{secs}"))?)];
    if let Some(s) = sunset_time {
        headers.push((SUNSET, value(httpdate::fmt_http_date(s))?));
    }
    if let Some(link) = &version.link {
        headers.push((LINK, value(format!("<{link}>; rel=\"deprecation\""))?));
    }
    if let Some(link) = &version.sunset_link {
        headers.push((LINK, value(format!("<{link}>; rel=\"sunset\""))?));
    }
    Ok(Deprecated {
        sunset: sunset_time,
        headers,
    })
}

/// Reads, checks and applies API versions; see the [module docs](self).
#[derive(Clone)]
pub struct VersioningLayer {
    config: Arc<Config>,
}

impl fmt::Debug for VersioningLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersioningLayer")
            .field("sources", &self.config.sources)
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

impl<S> Layer<S> for VersioningLayer {
    type Service = Versioning<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Versioning {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of a [`VersioningLayer`].
#[derive(Clone)]
pub struct Versioning<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for Versioning<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioning")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// `2` or `v2` (or `V2`), nothing else: no sign, no leading zero, at most 9 digits.
fn parse_number(text: &str) -> Option<u32> {
    let digits = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    let canonical = digits == "0" || !digits.starts_with('0');
    if digits.is_empty()
        || digits.len() > 9
        || !canonical
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// The first path segment as a version, and the rest of the path: `None` when the segment is
/// not `v`/`V` and digits (a route such as `/video`), `Some(Err)` when it is but is not a valid
/// number (`/v01`, `/v9999999999`) — those are refused, never routed as the default version.
fn path_version(path: &str) -> Option<Result<(u32, &str), ()>> {
    let rest = path
        .strip_prefix("/v")
        .or_else(|| path.strip_prefix("/V"))?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(end);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(parse_number(digits).map(|v| (v, tail)).ok_or(()))
}

/// Adds `version` from `source` unless the same source already said it.
fn note(found: &mut Vec<(VersionSource, u32)>, source: VersionSource, version: u32) {
    if !found.contains(&(source, version)) {
        found.push((source, version));
    }
}

/// An RFC 9110 weight (`0`, `0.5`, `1.000`) in thousandths.
fn quality(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac),
        "1" if frac == 0 => Some(1000),
        _ => None,
    }
}

impl Entry {
    fn gone(&self, now: SystemTime) -> bool {
        self.retired
            || self
                .deprecated
                .as_ref()
                .and_then(|d| d.sunset)
                .is_some_and(|sunset| now >= sunset)
    }
}

impl Config {
    /// The versions served now, ascending.
    fn supported(&self) -> Arc<[u32]> {
        let now = (self.clock)();
        let mut supported: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| !e.gone(now))
            .map(|e| e.number)
            .collect();
        supported.sort_unstable();
        supported.into()
    }

    /// The version a request asks for (`Ok(None)`: none), or why it is unusable.
    fn requested<B>(&self, req: &Request<B>) -> Result<Option<u32>, VersionError> {
        let mut found: Vec<(VersionSource, u32)> = Vec::new();
        for &source in &self.sources {
            let invalid = VersionError::Invalid { source };
            match source {
                VersionSource::Path => match path_version(req.uri().path()) {
                    None => {}
                    Some(Ok((v, _))) => note(&mut found, source, v),
                    Some(Err(())) => return Err(invalid),
                },
                VersionSource::Header => {
                    for value in req.headers().get_all(&self.header) {
                        let v = value
                            .to_str()
                            .ok()
                            .and_then(|t| parse_number(t.trim()))
                            .ok_or_else(|| invalid.clone())?;
                        note(&mut found, source, v);
                    }
                }
                VersionSource::MediaType => {
                    if let Some(v) = self.media_version(req)? {
                        note(&mut found, source, v);
                    }
                }
                VersionSource::Query => {
                    let query = req.uri().query().unwrap_or_default();
                    for value in query_values(query, &self.query) {
                        let v = value.and_then(|v| parse_number(&v));
                        note(&mut found, source, v.ok_or_else(|| invalid.clone())?);
                    }
                }
            }
        }
        match found.first() {
            None => Ok(None),
            Some(&(_, first)) if found.iter().all(|&(_, v)| v == first) => Ok(Some(first)),
            Some(_) => Err(VersionError::Conflicting { found }),
        }
    }

    /// The version of the most preferred `application/vnd.<vendor>.v<N>` media range (q > 0);
    /// other subtypes of the vendor's tree are not versions and are ignored.
    fn media_version<B>(&self, req: &Request<B>) -> Result<Option<u32>, VersionError> {
        let mut best: Option<(u32, u16)> = None;
        for value in req.headers().get_all(ACCEPT) {
            let Ok(text) = value.to_str() else { continue };
            for range in text.split(',') {
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or_default().trim();
                // Compared without allocating: media types are case-insensitive.
                let prefix = self.media_prefix.len();
                let ours = media
                    .get(..prefix)
                    .is_some_and(|p| p.eq_ignore_ascii_case(&self.media_prefix));
                let Some(rest) = media.get(prefix..).filter(|_| ours) else {
                    continue;
                };
                let subtype = rest.split(['+', '.']).next().unwrap_or_default();
                let looks_versioned = subtype
                    .strip_prefix(['v', 'V'])
                    .is_some_and(|d| d.bytes().next().is_some_and(|b| b.is_ascii_digit()));
                if !looks_versioned {
                    continue;
                }
                let v = parse_number(subtype).ok_or(VersionError::Invalid {
                    source: VersionSource::MediaType,
                })?;
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .next()
                    .map_or(Some(1000), quality)
                    .ok_or(VersionError::Invalid {
                        source: VersionSource::MediaType,
                    })?;
                if q == 0 {
                    continue;
                }
                best = match best {
                    Some((seen, seen_q)) if seen_q > q => Some((seen, seen_q)),
                    Some((seen, seen_q)) if seen_q == q && seen != v => {
                        return Err(VersionError::Conflicting {
                            found: vec![
                                (VersionSource::MediaType, seen),
                                (VersionSource::MediaType, v),
                            ],
                        });
                    }
                    _ => Some((v, q)),
                };
            }
        }
        Ok(best.map(|(v, _)| v))
    }

    /// The version to serve, or the rejection.
    fn resolve<B>(&self, req: &Request<B>) -> Result<(usize, &Entry), VersionError> {
        let number = match self.requested(req)? {
            Some(v) => v,
            None => self.default.ok_or_else(|| VersionError::Missing {
                supported: self.supported(),
            })?,
        };
        let (index, entry) = self
            .entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.number == number)
            .ok_or_else(|| VersionError::Unsupported {
                requested: number,
                supported: self.supported(),
            })?;
        // The clock is read only for versions that have a sunset (or are retired).
        let has_end = entry.retired
            || entry
                .deprecated
                .as_ref()
                .is_some_and(|d| d.sunset.is_some());
        if has_end && entry.gone((self.clock)()) {
            return Err(VersionError::Gone {
                version: number,
                link: entry.link.clone(),
            });
        }
        Ok((index, entry))
    }

    fn strip(&self, uri: &Uri) -> Option<Uri> {
        let (_, tail) = path_version(uri.path())?.ok()?;
        let path = if tail.is_empty() { "/" } else { tail };
        let path_and_query = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
        Uri::from_parts(parts).ok()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Versioning<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = Arc::clone(&self.config);
        let (index, entry) = match config.resolve(&req) {
            Ok(found) => found,
            Err(rejection) => {
                let mut res = problem::reject(&req, rejection);
                add_vary(&config, res.headers_mut());
                return ResponseFuture {
                    kind: Kind::Rejected { res: Some(res) },
                };
            }
        };
        let version = entry.number;
        let deprecated = entry.deprecated.is_some().then_some(index);
        if config.strip_prefix && config.sources.contains(&VersionSource::Path) {
            if let Some(uri) = config.strip(req.uri()) {
                *req.uri_mut() = uri;
            }
        }
        req.extensions_mut().insert(ApiVersion(version));
        ResponseFuture {
            kind: Kind::Inner {
                future: self.inner.call(req),
                config,
                deprecated,
            },
        }
    }
}

fn add_vary(config: &Config, headers: &mut http::HeaderMap) {
    if let Some(vary) = &config.vary {
        vary.apply(headers);
    }
}

pin_project! {
    /// The response future of [`Versioning`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F, config: Arc<Config>, deprecated: Option<usize> },
        Rejected { res: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner {
                future,
                config,
                deprecated,
            } => {
                let res = match future.poll(cx) {
                    Poll::Ready(res) => res?,
                    Poll::Pending => return Poll::Pending,
                };
                let (mut parts, body) = res.into_parts();
                if let Some(index) = *deprecated {
                    let entry = config.entries.get(index);
                    if let Some(d) = entry.and_then(|e| e.deprecated.as_ref()) {
                        for (name, value) in &d.headers {
                            if *name == LINK {
                                util::add_header(&mut parts.headers, name.clone(), value.clone());
                            } else {
                                util::set_header(&mut parts.headers, name.clone(), value.clone());
                            }
                        }
                    }
                }
                add_vary(config, &mut parts.headers);
                Poll::Ready(Ok(Response::from_parts(parts, ResponseBody::new(body))))
            }
            KindProj::Rejected { res } => match res.take() {
                Some(res) => Poll::Ready(Ok(res)),
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(Date::from("1970-01-01").resolve(), Some(UNIX_EPOCH));
        let t = Date::from("2027-06-30").resolve().unwrap();
        assert_eq!(httpdate::fmt_http_date(t), "Wed, 30 Jun 2027 00:00:00 GMT");
        assert_eq!(
            Date::from("2024-02-29")
                .resolve()
                .map(httpdate::fmt_http_date)
                .as_deref(),
            Some("Thu, 29 Feb 2024 00:00:00 GMT")
        );
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-6-30",
            "27-06-30",
            "2027-06-31",
            "soon",
            "2027-+6-30",
            "2027-06-+5",
        ] {
            assert_eq!(Date::from(bad).resolve(), None, "{bad}");
        }
    }

    #[test]
    fn query_decoding_and_weights() {
        use crate::core::util::decode_query;
        assert_eq!(decode_query("%32").as_deref(), Some("2"));
        assert_eq!(decode_query("vers%69on").as_deref(), Some("version"));
        assert_eq!(decode_query("a+b%zz").as_deref(), Some("a b%zz"));
        assert_eq!(decode_query("%ff"), None);
        assert_eq!(quality("0"), Some(0));
        assert_eq!(quality("0.5"), Some(500));
        assert_eq!(quality("1.000"), Some(1000));
        assert_eq!(quality("1.5"), None);
        assert_eq!(quality("0.1234"), None);
    }

    #[test]
    fn version_numbers() {
        assert_eq!(parse_number("2"), Some(2));
        assert_eq!(parse_number("v2"), Some(2));
        assert_eq!(parse_number("V10"), Some(10));
        for bad in [
            "",
            "v",
            "2.0",
            "-1",
            "v2x",
            "9999999999",
            " 2",
            "02",
            "v01",
            "+2",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
        assert_eq!(path_version("/v2/posts"), Some(Ok((2, "/posts"))));
        assert_eq!(path_version("/V2/posts"), Some(Ok((2, "/posts"))));
        assert_eq!(path_version("/v2"), Some(Ok((2, ""))));
        assert_eq!(path_version("/v01/posts"), Some(Err(())));
        assert_eq!(path_version("/v9999999999/posts"), Some(Err(())));
        assert_eq!(path_version("/v2x/posts"), None);
        assert_eq!(path_version("/video"), None);
        assert_eq!(path_version("/posts"), None);
    }

    #[test]
    fn build_errors() {
        let b = || VersioningLayer::builder().version(Version::supported(2));
        assert_eq!(
            VersioningLayer::builder().build().unwrap_err(),
            VersioningError::NoVersions
        );
        assert_eq!(
            b().version(Version::supported(2)).build().unwrap_err(),
            VersioningError::DuplicateVersion(2)
        );
        assert_eq!(
            b().default_version(3).build().unwrap_err(),
            VersioningError::InvalidDefault(3)
        );
        assert_eq!(
            b().version(Version::retired(1))
                .default_version(1)
                .build()
                .unwrap_err(),
            VersioningError::InvalidDefault(1)
        );
        assert_eq!(
            b().vendor("ex ample").build().unwrap_err(),
            VersioningError::InvalidVendor("ex ample".into())
        );
        assert_eq!(
            b().sources([VersionSource::MediaType]).build().unwrap_err(),
            VersioningError::NoSources
        );
        assert_eq!(
            b().header_name("bad name").build().unwrap_err(),
            VersioningError::InvalidName("bad name".into())
        );
        assert_eq!(
            b().query_param("a=b").build().unwrap_err(),
            VersioningError::InvalidName("a=b".into())
        );
        assert!(matches!(
            b().version(Version::deprecated(1, "2027-02-30")).build(),
            Err(VersioningError::InvalidDate(_))
        ));
        assert!(matches!(
            b().version(Version::deprecated(1, "2027-01-01").sunset("2026-01-01"))
                .build(),
            Err(VersioningError::InvalidDate(_))
        ));
        assert!(matches!(
            b().version(
                Version::deprecated(1, "2026-01-01")
                    .sunset(UNIX_EPOCH + Duration::from_secs(300_000_000_000))
            )
            .build(),
            Err(VersioningError::InvalidDate(_))
        ));
        assert_eq!(
            b().version(Version::retired(1).sunset("2027-01-01"))
                .build()
                .unwrap_err(),
            VersioningError::SunsetOnUndeprecated(1)
        );
        assert_eq!(
            b().version(Version::supported(3).sunset_link("https://x.com/s"))
                .build()
                .unwrap_err(),
            VersioningError::SunsetOnUndeprecated(3)
        );
        assert_eq!(
            b().version(Version::retired(1).link("docs/migrate"))
                .build()
                .unwrap_err(),
            VersioningError::InvalidLink("docs/migrate".into())
        );
        assert_eq!(
            b().version(Version::retired(1).link("https://x.com/a>; rel=\"x"))
                .build()
                .unwrap_err(),
            VersioningError::InvalidLink("https://x.com/a>; rel=\"x".into())
        );
    }
}
