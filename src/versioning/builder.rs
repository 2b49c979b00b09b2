//! [`VersioningBuilder`]: the sources, names and versions of a [`VersioningLayer`], checked
//! once at [`build`](VersioningBuilder::build).

use std::fmt;
use std::sync::Arc;

use http::header::HeaderName;

use super::deprecation::{Deprecated, ResponseHeaders, deprecation, is_link};
use super::service::Config;
use super::source::{Sources, VersionSource};
use super::version::{Entry, Stage, Version};
use super::{ConfigError, VersioningLayer};
use crate::core::util::Vary;
use crate::core::{Clock, SharedClock, system_clock};

/// Builds a [`VersioningLayer`]; see the [module docs](super).
#[must_use]
pub struct VersioningBuilder {
    sources: Vec<VersionSource>,
    header: String,
    vendor: Option<String>,
    query: String,
    default: Option<u32>,
    require: bool,
    strip_prefix: bool,
    versions: Vec<Version>,
    clock: SharedClock,
}

// By hand: the clock is a trait object without `Debug`.
impl fmt::Debug for VersioningBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersioningBuilder")
            .field("sources", &self.sources)
            .field("header", &self.header)
            .field("vendor", &self.vendor)
            .field("query", &self.query)
            .field("default", &self.default)
            .field("require", &self.require)
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
            require: false,
            strip_prefix: true,
            versions: Vec::new(),
            clock: system_clock(),
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

    /// With `true`, requests without a version are a `400`, whatever the
    /// [default version](Self::default_version). Without a default version they are a `400`
    /// anyway: there is nothing to serve them with.
    pub fn require_version(mut self, on: bool) -> Self {
        self.require = on;
        self
    }

    /// Whether `/vN` is removed from the path before the inner service routes it (default
    /// `true`: one Router for every version). With `false`, nest a Router per version.
    pub fn strip_prefix(mut self, on: bool) -> Self {
        self.strip_prefix = on;
        self
    }

    /// Adds a version.
    pub fn version(mut self, version: Version) -> Self {
        self.versions.push(version);
        self
    }

    /// The clock that decides whether a sunset has passed (default: the system clock). Tests
    /// pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration and builds the deprecation headers once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for no or duplicate versions, an invalid default, no sources, a
    /// media type source without a valid vendor, an invalid name, date or link.
    pub fn build(self) -> Result<VersioningLayer, ConfigError> {
        if self.versions.is_empty() {
            return Err(ConfigError::NoVersions);
        }
        let mut order = self.sources.clone();
        let vendor_ok = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        match &self.vendor {
            Some(v) if !vendor_ok(v) => return Err(ConfigError::InvalidVendor(v.clone())),
            Some(_) => {}
            None => order.retain(|s| *s != VersionSource::MediaType),
        }
        if order.is_empty() {
            return Err(ConfigError::NoSources);
        }
        let header = HeaderName::try_from(self.header.as_str())
            .map_err(|_| ConfigError::InvalidName(self.header.clone()))?;
        let query_ok = !self.query.is_empty()
            && self
                .query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !query_ok {
            return Err(ConfigError::InvalidName(self.query));
        }
        let mut vary_names = Vec::new();
        if order.contains(&VersionSource::MediaType) {
            vary_names.push("accept");
        }
        if order.contains(&VersionSource::Header) {
            vary_names.push(header.as_str());
        }
        let vary = Vary::new(&vary_names);
        let mut entries: Vec<Entry> = Vec::new();
        for version in &self.versions {
            if entries.iter().any(|e| e.number == version.number) {
                return Err(ConfigError::DuplicateVersion(version.number));
            }
            entries.push(entry(version, vary.clone())?);
        }
        let default = if self.require { None } else { self.default };
        if let Some(default) = default
            && !entries.iter().any(|e| e.number == default && !e.retired)
        {
            return Err(ConfigError::InvalidDefault(default));
        }
        let sources = Sources {
            order,
            header,
            media_prefix: format!(
                "application/vnd.{}.",
                self.vendor.unwrap_or_default().to_ascii_lowercase()
            ),
            query: self.query,
        };
        Ok(VersioningLayer {
            config: Arc::new(Config {
                sources,
                default,
                strip_prefix: self.strip_prefix,
                entries,
                vary,
                clock: self.clock,
            }),
        })
    }
}

/// Checks one version and builds what its responses get.
fn entry(version: &Version, vary: Option<Vary>) -> Result<Entry, ConfigError> {
    let deprecated = matches!(version.stage, Stage::Deprecated { .. });
    if version.misplaced_sunset || (version.sunset_link.is_some() && !deprecated) {
        return Err(ConfigError::SunsetOnUndeprecated(version.number));
    }
    for link in [&version.link, &version.sunset_link].into_iter().flatten() {
        if !is_link(link) {
            return Err(ConfigError::InvalidLink(link.clone()));
        }
    }
    let Deprecated { sunset, headers } = match &version.stage {
        Stage::Deprecated { at, sunset } => deprecation(version, at, sunset.as_ref())?,
        _ => Deprecated {
            sunset: None,
            headers: Vec::new(),
        },
    };
    Ok(Entry {
        number: version.number,
        retired: version.stage == Stage::Retired,
        sunset,
        link: version.link.as_deref().map(Arc::from),
        headers: ResponseHeaders::new(headers, vary).map(Arc::new),
    })
}
