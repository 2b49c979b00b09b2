//! A version's lifecycle on the wire: the
//! [`Deprecation`](https://www.rfc-editor.org/rfc/rfc9745),
//! [`Sunset`](https://www.rfc-editor.org/rfc/rfc8594) and
//! [`Link`](https://www.rfc-editor.org/rfc/rfc8288) headers of a deprecated version, built
//! once, and the dates that decide when a version is gone (`410`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, LINK};
use http::{HeaderMap, HeaderValue};

use super::ConfigError;
use super::version::Version;
use crate::core::util::{self, Vary};

/// `deprecation` ([RFC 9745](https://www.rfc-editor.org/rfc/rfc9745))
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// `sunset` ([RFC 8594](https://www.rfc-editor.org/rfc/rfc8594))
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

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
    pub(super) fn resolve(&self) -> Option<SystemTime> {
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

/// An absolute `http(s)` URL that fits in `<...>`.
pub(super) fn is_link(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\'))
}

/// 10000-01-01T00:00:00Z: HTTP-dates have four-digit years.
const YEAR_10000: u64 = 253_402_300_800;

/// The sunset and the response headers of a deprecated version, built once.
pub(super) struct Deprecated {
    pub(super) sunset: Option<SystemTime>,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

/// Checks the dates of `version`, deprecated since `at`, and builds its headers.
pub(super) fn deprecation(
    version: &Version,
    at: &Date,
    sunset: Option<&Date>,
) -> Result<Deprecated, ConfigError> {
    let invalid = |d: &Date| {
        ConfigError::InvalidDate(match d {
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
    if let Some(s) = sunset_time
        && s < at_time
    {
        return Err(invalid(sunset.unwrap_or(at)));
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

/// What the responses of one version get: its deprecation headers and the layer's `Vary`.
#[derive(Debug)]
pub(crate) struct ResponseHeaders {
    deprecation: Vec<(HeaderName, HeaderValue)>,
    vary: Option<Vary>,
}

impl ResponseHeaders {
    /// `None` when there is nothing to add.
    pub(super) fn new(
        deprecation: Vec<(HeaderName, HeaderValue)>,
        vary: Option<Vary>,
    ) -> Option<Self> {
        (!deprecation.is_empty() || vary.is_some()).then_some(Self { deprecation, vary })
    }

    /// Adds the headers to a response of the inner service: `Link` beside the handler's own
    /// links, the others replacing what is there.
    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.deprecation {
            if *name == LINK {
                util::add_header(headers, name.clone(), value.clone());
            } else {
                util::set_header(headers, name.clone(), value.clone());
            }
        }
        if let Some(vary) = &self.vary {
            vary.apply(headers);
        }
    }
}
