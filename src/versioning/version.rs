//! The version a request is served with ([`ApiVersion`]), the versions an API has ([`Version`])
//! and version numbers (`2`, `v2`).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::deprecation::{Date, ResponseHeaders};

/// The API version a request is served with, in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(pub(super) u32);

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Supported,
    Deprecated { at: Date, sunset: Option<Date> },
    Retired,
}

/// One version and its lifecycle stage.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Version {
    pub(super) number: u32,
    pub(super) stage: Stage,
    pub(super) link: Option<String>,
    pub(super) sunset_link: Option<String>,
    pub(super) misplaced_sunset: bool,
}

impl Version {
    fn new(number: u32, stage: Stage) -> Self {
        Self {
            number,
            stage,
            link: None,
            sunset_link: None,
            misplaced_sunset: false,
        }
    }

    /// A version served normally.
    pub fn supported(number: u32) -> Self {
        Self::new(number, Stage::Supported)
    }

    /// A version deprecated since `at`: served, with `Deprecation` (and `Sunset`, `Link`)
    /// headers.
    pub fn deprecated(number: u32, at: impl Into<Date>) -> Self {
        Self::new(
            number,
            Stage::Deprecated {
                at: at.into(),
                sunset: None,
            },
        )
    }

    /// A version no longer served: `410 Gone`.
    pub fn retired(number: u32) -> Self {
        Self::new(number, Stage::Retired)
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

/// A configured version, checked and with its response headers built once.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) number: u32,
    pub(super) retired: bool,
    /// When a deprecated version stops being served.
    pub(super) sunset: Option<SystemTime>,
    /// The migration guide.
    pub(super) link: Option<Arc<str>>,
    /// What its responses get (`Deprecation`, `Sunset`, `Link`, `Vary`); `None` when nothing.
    pub(super) headers: Option<Arc<ResponseHeaders>>,
}

impl Entry {
    /// Whether the version may end at all: the clock is read only for those.
    pub(super) fn has_end(&self) -> bool {
        self.retired || self.sunset.is_some()
    }

    /// Retired, or past its sunset at `now`.
    pub(super) fn gone(&self, now: SystemTime) -> bool {
        self.retired || self.sunset.is_some_and(|sunset| now >= sunset)
    }
}

/// `2` or `v2` (or `V2`), nothing else: no sign, no leading zero, at most 9 digits.
pub(super) fn parse_number(text: &str) -> Option<u32> {
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
