//! Where a request's version comes from: the path (`/v2/...`), a header (`API-Version: 2`), the
//! `Accept` media type (`application/vnd.<vendor>.v2+json`) and the query (`?version=2`).

use http::header::{ACCEPT, HeaderName};
use http::uri::PathAndQuery;
use http::{Request, Uri};

use super::service::VersionError;
use super::version::parse_number;
use crate::core::util::query_values;

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
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Header => "header",
            Self::MediaType => "media type",
            Self::Query => "query",
        }
    }
}

/// The configured sources, read in order, with their names checked at build.
#[derive(Debug)]
pub(super) struct Sources {
    pub(super) order: Vec<VersionSource>,
    pub(super) header: HeaderName,
    /// `application/vnd.<vendor>.`, lowercase.
    pub(super) media_prefix: String,
    pub(super) query: String,
}

impl Sources {
    /// Whether `source` is read.
    pub(super) fn reads(&self, source: VersionSource) -> bool {
        self.order.contains(&source)
    }

    /// The version a request asks for (`Ok(None)`: none), or why it is unusable.
    pub(super) fn requested<B>(&self, req: &Request<B>) -> Result<Option<u32>, VersionError> {
        let mut found = Found::default();
        for &source in &self.order {
            let invalid = VersionError::Invalid { source };
            match source {
                VersionSource::Path => match path_version(req.uri().path()) {
                    None => {}
                    Some(Ok((v, _))) => found.note(source, v),
                    Some(Err(())) => return Err(invalid),
                },
                VersionSource::Header => {
                    for value in req.headers().get_all(&self.header) {
                        let v = value
                            .to_str()
                            .ok()
                            .and_then(|t| parse_number(t.trim()))
                            .ok_or_else(|| invalid.clone())?;
                        found.note(source, v);
                    }
                }
                VersionSource::MediaType => {
                    if let Some(v) = self.media_version(req)? {
                        found.note(source, v);
                    }
                }
                VersionSource::Query => {
                    let query = req.uri().query().unwrap_or_default();
                    for value in query_values(query, &self.query) {
                        let v = value.and_then(|v| parse_number(&v));
                        found.note(source, v.ok_or_else(|| invalid.clone())?);
                    }
                }
            }
        }
        found.agreed()
    }

    /// The version of the most preferred `application/vnd.<vendor>.v<N>` media range (q > 0),
    /// whatever the order of the ranges (RFC 9110 section 12.5.1: the weights say the
    /// preference); two versions at the highest weight conflict. Other subtypes of the
    /// vendor's tree are not versions and are ignored.
    fn media_version<B>(&self, req: &Request<B>) -> Result<Option<u32>, VersionError> {
        // The highest weight seen, and the (at most two) versions at it.
        let mut best_q = 0u16;
        let mut best: (Option<u32>, Option<u32>) = (None, None);
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
                let mut pieces = rest.split(['+', '.']);
                let subtype = pieces.next().unwrap_or_default();
                let looks_versioned = subtype
                    .strip_prefix(['v', 'V'])
                    .is_some_and(|d| d.bytes().next().is_some_and(|b| b.is_ascii_digit()));
                if !looks_versioned {
                    continue;
                }
                // `v2.1` is no version of this layer's (whole numbers only, as in the path
                // and the header), not `v2`; a format after the version (GitHub's
                // `v3.raw+json`) does not start with a digit.
                let minor = rest.as_bytes().get(subtype.len()) == Some(&b'.')
                    && pieces
                        .next()
                        .is_some_and(|p| p.bytes().next().is_some_and(|b| b.is_ascii_digit()));
                let v = parse_number(subtype)
                    .filter(|_| !minor)
                    .ok_or(VersionError::Invalid {
                        source: VersionSource::MediaType,
                    })?;
                // `q` in either case (RFC 9110 section 12.4.2 writes it in ABNF, whose strings
                // are case-insensitive).
                let q = parts
                    .filter_map(|p| {
                        let p = p.trim();
                        p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
                    })
                    .next()
                    .map_or(Some(1000), quality)
                    .ok_or(VersionError::Invalid {
                        source: VersionSource::MediaType,
                    })?;
                if q == 0 {
                    continue;
                }
                if q > best_q {
                    best_q = q;
                    best = (Some(v), None);
                } else if q == best_q && best.0 != Some(v) && best.1.is_none() {
                    best.1 = Some(v);
                }
            }
        }
        match best {
            (Some(seen), Some(other)) => Err(VersionError::Conflicting {
                found: vec![
                    (VersionSource::MediaType, seen),
                    (VersionSource::MediaType, other),
                ],
            }),
            (v, _) => Ok(v),
        }
    }
}

/// `uri` without its `/vN` first segment (`/v2` alone becomes `/`), the query kept; `None`
/// when the path has no version.
pub(super) fn strip(uri: &Uri) -> Option<Uri> {
    let (_, tail) = path_version(uri.path())?.ok()?;
    // The rest of the path and the query are a suffix of the original path-and-query: copied
    // once into the new one (`/v2` alone becomes `/`).
    let original = uri.path_and_query()?.as_str();
    let start = original
        .len()
        .checked_sub(tail.len() + uri.query().map_or(0, |q| q.len() + 1))?;
    let rest = original.get(start..)?;
    let path_and_query = if tail.is_empty() {
        let mut text = String::with_capacity(rest.len() + 1);
        text.push('/');
        text.push_str(rest);
        PathAndQuery::try_from(text).ok()?
    } else {
        PathAndQuery::from_maybe_shared(bytes::Bytes::copy_from_slice(rest.as_bytes())).ok()?
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

/// The first path segment as a version, and the rest of the path: `None` when the segment is
/// not `v`/`V` and digits (a route such as `/video`), `Some(Err)` when it is but is not a valid
/// number (`/v01`, `/v9999999999`) — those are refused, never routed as the default version.
///
/// `Some(Err)` too when the path, normalized as a server or proxy behind this layer might
/// (percent-decoded once, `\` read as `/`, empty and `.` segments dropped, `..` resolved),
/// starts with another version, or none, than the raw path does: `/v2/../v1/posts`,
/// `/v2/%2e%2e/v1/posts`, `//v1/posts`, `/v%31/posts`, `/v2%2f..%2fv1/posts` would otherwise be
/// checked as one version and routed, by a normalizing inner service, as another.
pub(super) fn path_version(path: &str) -> Option<Result<(u32, &str), ()>> {
    let literal = literal_path_version(path);
    if may_normalize(path) {
        let normalized = normalized_first_segment(path);
        let said = literal.map(|r| r.map(|(v, _)| v));
        if segment_version(&normalized) != said {
            return Some(Err(()));
        }
    }
    literal
}

/// [`path_version`] on the raw path only.
fn literal_path_version(path: &str) -> Option<Result<(u32, &str), ()>> {
    let rest = path.strip_prefix('/')?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (segment, tail) = rest.split_at(end);
    segment_version(segment).map(|v| v.map(|v| (v, tail)))
}

/// `v`/`V` and digits: `None` when the segment is not that, `Some(Err)` when it is but the
/// digits are not a valid version number.
fn segment_version(segment: &str) -> Option<Result<u32, ()>> {
    let digits = segment
        .strip_prefix('v')
        .or_else(|| segment.strip_prefix('V'))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(parse_number(digits).ok_or(()))
}

/// Whether a normalization could change the path's first segment: a cheap superset (a `%`,
/// a backslash, a `;` (path parameters, which servlet-style servers drop), an empty segment,
/// a segment starting with `.`).
fn may_normalize(path: &str) -> bool {
    // One pass over the bytes: `str::contains` with a string needle sets up a searcher each
    // time, which cost more than the whole check on every request.
    let bytes = path.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            || b == b'\\'
            || b == b';'
            || (b == b'/' && matches!(bytes.get(i + 1), Some(b'/' | b'.')))
    })
}

/// The first segment of `path` once percent-decoded (once), with `\` as `/`, and its dot and
/// empty segments resolved.
fn normalized_first_segment(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&h| char::from(h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits: at most 0xff.
                decoded.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                i += 3;
            }
            (b'\\', _, _) => {
                decoded.push(b'/');
                i += 1;
            }
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        // `;` path parameters dropped, as servlet-style servers drop them (`..;x` is `..`).
        let segment = segment.split(';').next().unwrap_or(segment);
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments
        .first()
        .map_or_else(String::new, |s| (*s).to_owned())
}

/// The most disagreeing `(source, version)` pairs kept, and named in the problem.
const MAX_CONFLICTING: usize = 8;

/// The versions the sources said, each `(source, version)` once, in the order said. While they
/// agree (the common case: one source, or several saying the same) they fit inline, one per
/// source; a disagreement lists them all, on the heap, for the problem's detail.
#[derive(Default)]
struct Found {
    agreeing: [Option<(VersionSource, u32)>; 4],
    conflicting: Vec<(VersionSource, u32)>,
}

impl Found {
    /// Adds `version` from `source` unless the same source already said it.
    fn note(&mut self, source: VersionSource, version: u32) {
        let pair = (source, version);
        if self.conflicting.is_empty() {
            let first = self.agreeing[0].map(|(_, v)| v);
            if first.is_none_or(|v| v == version) {
                for slot in &mut self.agreeing {
                    match slot {
                        Some(seen) if *seen == pair => return,
                        Some(_) => {}
                        None => {
                            *slot = Some(pair);
                            return;
                        }
                    }
                }
            }
            // A disagreement (or, impossibly, a fifth agreeing source): list them all.
            self.conflicting.extend(self.agreeing.iter().flatten());
        }
        // A few are enough to say what disagrees: a request listing thousands of versions
        // costs no more than one listing eight.
        if self.conflicting.len() < MAX_CONFLICTING && !self.conflicting.contains(&pair) {
            self.conflicting.push(pair);
        }
    }

    /// The version they agree on (`None`: none said one), or the conflict.
    fn agreed(self) -> Result<Option<u32>, VersionError> {
        if self.conflicting.is_empty() {
            Ok(self.agreeing[0].map(|(_, v)| v))
        } else {
            Err(VersionError::Conflicting {
                found: self.conflicting,
            })
        }
    }
}

/// An RFC 9110 weight (`0`, `0.5`, `1.000`) in thousandths.
pub(super) fn quality(text: &str) -> Option<u16> {
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
