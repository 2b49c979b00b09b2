//! Bypass paths: exact paths and `/prefix/*` patterns, checked at build, matched against the
//! raw request path.

/// The paths a [`CsrfLayer`](super::CsrfLayer) lets through unchecked.
#[derive(Clone, Debug, Default)]
pub(super) struct BypassPaths {
    exact: Vec<Box<str>>,
    /// Each with its trailing `/`: `/hooks/*` is stored as `/hooks/`.
    prefixes: Vec<Box<str>>,
}

impl BypassPaths {
    /// Adds `pattern`; the error is the reason it is refused.
    pub(super) fn add(&mut self, pattern: &str) -> Result<(), &'static str> {
        if !pattern.starts_with('/') {
            return Err("a bypass path starts with `/`");
        }
        if !pattern.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a bypass path is visible ASCII, without spaces");
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
        if !list.iter().any(|p| &**p == fixed) {
            list.push(fixed.into());
        }
        Ok(())
    }

    /// Whether no path is bypassed.
    pub(super) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    /// Whether `path` (raw, as in the request target) is bypassed. A path that a server or a
    /// proxy could resolve to another one (a `.` or `..` segment, written plainly or
    /// percent-encoded, an encoded `/` or a backslash) is never bypassed: it gets the full check.
    pub(super) fn matches(&self, path: &str) -> bool {
        if self.is_empty() || ambiguous(path) {
            return false;
        }
        self.exact.iter().any(|p| **p == *path)
            || self.prefixes.iter().any(|p| path.starts_with(&**p))
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
