//! Route templates as axum writes them (`/posts`, `/posts/{id}`, `/files/{*path}`), parsed
//! once at build and matched against request paths: shared by the validation layer and the
//! rate limiter's [`KeyBy::route_templates`](crate::rate_limit::KeyBy::route_templates).

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Param,
    CatchAll,
}

/// A route template as axum writes it, parsed once at build.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    text: Box<str>,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `path`: `/` then segments that are literal text, `{name}` (one non-empty
    /// segment) or, last, `{*name}` (the non-empty rest of the path).
    pub(crate) fn parse(path: &str) -> Result<Self, &'static str> {
        let rest = path
            .strip_prefix('/')
            .ok_or("a route template starts with `/`")?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = if let Some(inner) = part.strip_prefix('{') {
                let name = inner
                    .strip_suffix('}')
                    .ok_or("a parameter is a whole segment: `{name}`")?;
                let (name, catch_all) = match name.strip_prefix('*') {
                    Some(name) => (name, true),
                    None => (name, false),
                };
                if name.is_empty() || name.contains(['{', '}', '*']) {
                    return Err("a parameter needs a name: `{id}` or `{*rest}`");
                }
                if catch_all {
                    if i + 1 != parts.len() {
                        return Err("a catch-all parameter `{*name}` is the last segment");
                    }
                    Segment::CatchAll
                } else {
                    Segment::Param
                }
            } else if part.contains(['{', '}']) {
                return Err("a parameter is a whole segment: `{name}`");
            } else if part.starts_with(':') {
                return Err("parameters are written `{name}` (axum 0.8), not `:name`");
            } else {
                Segment::Literal((*part).into())
            };
            segments.push(segment);
        }
        Ok(Self {
            text: path.into(),
            segments,
        })
    }

    /// The template as written (compared with axum's `MatchedPath`).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template has no parameter.
    #[cfg_attr(not(feature = "validate"), allow(dead_code))]
    pub(crate) fn is_exact(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Whether the request path `path` matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            if let Segment::CatchAll = segment {
                return !rest.is_empty();
            }
            let (part, tail) = match rest.find('/') {
                Some(j) => (&rest[..j], Some(&rest[j + 1..])),
                None => (rest, None),
            };
            let ok = match segment {
                Segment::Literal(lit) => **lit == *part,
                _ => !part.is_empty(),
            };
            if !ok {
                return false;
            }
            match tail {
                Some(tail) if i < last => rest = tail,
                Some(_) => return false, // the path has more segments
                None => return i == last,
            }
        }
        false
    }
}
