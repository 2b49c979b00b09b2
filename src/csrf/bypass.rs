//! Bypass paths: exact paths and `/prefix/*` patterns, each for every method or for one
//! (`POST /hooks/*`), checked at build, matched against the raw request path.

use http::Method;

/// A path or prefix, for one method or (`None`) every one.
type Entry = (Option<Method>, Box<str>);

/// The paths a [`CsrfLayer`](super::CsrfLayer) lets through unchecked.
#[derive(Clone, Default)]
pub(super) struct BypassPaths {
    exact: Vec<Entry>,
    /// Each with its trailing `/`: `/hooks/*` is stored as `/hooks/`.
    prefixes: Vec<Entry>,
}

/// The method of a `METHOD /path` pattern and its path; `None` for a plain path. A method is
/// an HTTP token, matched case-sensitively as methods are (`POST`, not `post`).
fn split_method(pattern: &str) -> Result<(Option<Method>, &str), &'static str> {
    if pattern.starts_with('/') {
        return Ok((None, pattern));
    }
    let Some((method, path)) = pattern.split_once(' ') else {
        return Err("a bypass path starts with `/` (or a method and a space: `POST /hooks/*`)");
    };
    if !path.starts_with('/') {
        return Err("a method is followed by one space and a path: `POST /hooks/*`");
    }
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| "a bypass pattern's method is an HTTP token: `POST /hooks/*`")?;
    Ok((Some(method), path))
}

/// The patterns, as a builder takes them: `["/hooks/*", "POST /forms/x"]`.
impl std::fmt::Debug for BypassPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written = |(method, path): &Entry, star: &'static str| match method {
            Some(m) => format!("{m} {path}{star}"),
            None => format!("{path}{star}"),
        };
        f.debug_list()
            .entries(self.exact.iter().map(|e| written(e, "")))
            .entries(self.prefixes.iter().map(|e| written(e, "*")))
            .finish()
    }
}

impl BypassPaths {
    /// Adds `pattern`; the error is the reason it is refused.
    pub(super) fn add(&mut self, pattern: &str) -> Result<(), &'static str> {
        let (method, pattern) = split_method(pattern)?;
        if !pattern.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a bypass path is visible ASCII, without spaces");
        }
        if pattern.contains(['{', '}']) {
            return Err(
                "a bypass path is matched as written: no `{name}` wildcard (Go's `ServeMux` \
                 syntax); write the exact path, or a `/prefix/*` pattern",
            );
        }
        if pattern.contains(['?', '#']) {
            return Err("a bypass path has no query or fragment");
        }
        if pattern.contains(['%', '\\']) {
            return Err(
                "a bypass path is matched against the raw path: write it without \
                        percent-encoding or backslashes",
            );
        }
        let (fixed, prefix) = match pattern.strip_suffix('*') {
            Some(dir) if dir.ends_with('/') => (dir, true),
            Some(_) => {
                return Err("`*` only ends a prefix pattern, as a whole segment: `/hooks/*`");
            }
            None => (pattern, false),
        };
        if fixed.contains('*') {
            return Err("`*` only ends a prefix pattern, as a whole segment: `/hooks/*`");
        }
        if fixed
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err("a bypass path has no `.` or `..` segment");
        }
        if prefix && fixed == "/" {
            return Err("`/*` bypasses every path: leave the layer out instead");
        }
        let list = if prefix {
            &mut self.prefixes
        } else {
            &mut self.exact
        };
        if !list.iter().any(|(m, p)| *m == method && &**p == fixed) {
            list.push((method, fixed.into()));
        }
        Ok(())
    }

    /// Whether no path is bypassed.
    pub(super) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    /// Whether a `method` request to `path` (raw, as in the request target) is bypassed. A path
    /// that a server or a proxy could resolve to another one (a `.` or `..` segment, written
    /// plainly or percent-encoded, an encoded `/` or a backslash) is never bypassed: it gets
    /// the full check.
    pub(super) fn matches(&self, method: &Method, path: &str) -> bool {
        if self.is_empty() || ambiguous(path) {
            return false;
        }
        let for_method = |m: &Option<Method>| m.as_ref().is_none_or(|m| m == method);
        self.exact
            .iter()
            .any(|(m, p)| **p == *path && for_method(m))
            || self
                .prefixes
                .iter()
                .any(|(m, p)| path.starts_with(&**p) && for_method(m))
    }
}

/// A path that normalization (by this server, a proxy or the application) could turn into
/// another one: a `.` or `..` segment (plain, percent-encoded, or followed by `;` path
/// parameters), an encoded `/` or `\`, a backslash.
fn ambiguous(path: &str) -> bool {
    let encoded = |needle: &[u8]| {
        path.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    // `%2f` (`/`) and `%5c` (`\`) would split a segment once decoded.
    if path.contains('\\') || encoded(b"%2f") || encoded(b"%5c") {
        return true;
    }
    path.split('/').any(|segment| {
        // Servers that read `;` as the start of path parameters (Servlet containers, Spring,
        // some proxies) see `..;x` as `..`.
        let segment = segment.split(';').next().unwrap_or(segment);
        [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|dots| segment.eq_ignore_ascii_case(dots))
    })
}
