//! Origins: parsing the configured ones, the anchored subdomain patterns, and checking a
//! request's `Origin` against the allow-list (and, when the lists say no, the predicates).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use http::HeaderValue;

use crate::core::BoxFuture;
use crate::core::util;

/// A sync origin predicate (a closure, so its `Debug` shows only that it is there).
#[derive(Clone)]
pub(super) struct SyncPredicate(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl SyncPredicate {
    pub(super) fn new(predicate: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(predicate))
    }

    pub(super) fn allows(&self, origin: &str) -> bool {
        (self.0)(origin)
    }
}

impl fmt::Debug for SyncPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncPredicate(..)")
    }
}

/// An async origin predicate (a closure, so its `Debug` shows only that it is there).
#[derive(Clone)]
pub(super) struct AsyncPredicate(Arc<dyn Fn(String) -> BoxFuture<bool> + Send + Sync>);

impl AsyncPredicate {
    pub(super) fn new<F, Fut>(predicate: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Self(Arc::new(move |origin| Box::pin(predicate(origin))))
    }

    /// Asks about `origin`: the future a [`Decision::Wait`](crate::guard::Decision::Wait) holds.
    pub(super) fn ask(&self, origin: String) -> BoxFuture<bool> {
        (self.0)(origin)
    }
}

impl fmt::Debug for AsyncPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncPredicate(..)")
    }
}

/// An origin in its serialized parts, lowercase, with the scheme's default port removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Splits `scheme://host[:port]` without allocating, the scheme's default port removed;
/// `None` if it is not of that form.
fn split_origin(s: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, host, port) = util::split_origin(s)?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    let port = if port == default { None } else { port };
    Some((scheme, host, port))
}

/// The host as browsers serialize it: lowercase, IPv6 compressed.
fn canonical_host(host: &str) -> Result<String, &'static str> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let addr: std::net::Ipv6Addr = v6.parse().map_err(|_| "malformed IPv6 address")?;
        return Ok(format!("[{addr}]"));
    }
    let all_numeric = host
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    if all_numeric && host.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(
            "an IPv4 address must be four decimal numbers (browsers send 127.0.0.1, not 127.1)",
        );
    }
    Ok(host.to_ascii_lowercase())
}

/// Parses a configured exact origin; the error is the reason it is refused.
pub(super) fn parse_config_origin(s: &str) -> Result<Origin, &'static str> {
    if !s.is_ascii() {
        return Err("write an internationalized host in punycode (xn--...), as browsers send it");
    }
    if s.contains('/')
        && s.split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'))
    {
        return Err("an origin has no path (not even a trailing `/`)");
    }
    let (scheme, host, port) = split_origin(s)
        .ok_or("expected scheme://host[:port], for example https://app.example.com")?;
    if host.contains('*') {
        return Err(
            "`*` belongs in a pattern, as the whole left-most label: https://*.example.com",
        );
    }
    Ok(Origin {
        scheme: scheme.to_ascii_lowercase(),
        host: canonical_host(host)?,
        port,
    })
}

/// `scheme://*.domain[:port]`: matches hosts with at least one more label before `domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pattern {
    scheme: String,
    /// `.domain`, lowercase, with its leading dot.
    suffix: String,
    port: Option<u16>,
}

/// Parses a configured pattern; the error is the reason it is refused.
pub(super) fn parse_pattern(s: &str) -> Result<Pattern, &'static str> {
    let origin = s.replacen("*.", "x.", 1);
    if !s
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with("*."))
    {
        return Err("the wildcard must be the whole left-most label: https://*.example.com");
    }
    if origin.contains('*') {
        return Err("only one wildcard, as the whole left-most label");
    }
    let parsed = parse_config_origin(&origin)?;
    let domain = parsed.host[2..].trim_end_matches('.');
    if domain.starts_with('[') || domain.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("a pattern needs a domain name, not an IP address");
    }
    // Anyone can register a name under a public suffix (com, co.uk, github.io, vercel.app...):
    // a pattern on one would allow every attacker's site. `localhost` is reserved (RFC 6761).
    if domain != "localhost" && psl::domain_str(domain).is_none() {
        return Err(
            "the domain after `*.` is a public suffix (like com, co.uk or github.io) that anyone \
             can register names under; use your own registered domain",
        );
    }
    Ok(Pattern {
        scheme: parsed.scheme,
        suffix: format!(".{domain}"),
        port: parsed.port,
    })
}

impl Pattern {
    fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if port != self.port || !scheme.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        let Some(prefix_len) = host.len().checked_sub(self.suffix.len()) else {
            return false;
        };
        if prefix_len == 0 || !host.is_char_boundary(prefix_len) {
            return false;
        }
        let (prefix, suffix) = host.split_at(prefix_len);
        suffix.eq_ignore_ascii_case(&self.suffix)
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    }
}

/// The allowed origins, parsed at build.
#[derive(Clone, Debug)]
pub(super) enum Origins {
    /// `Access-Control-Allow-Origin: *` (never with credentials).
    Any,
    List {
        exact: Vec<Origin>,
        patterns: Vec<Pattern>,
        predicate: Option<SyncPredicate>,
        async_predicate: Option<AsyncPredicate>,
    },
}

/// What the allow-list says about an `Origin`.
pub(super) enum Check<'a> {
    Allowed,
    Disallowed,
    /// Not listed: the async predicate decides.
    Ask(&'a AsyncPredicate),
}

impl Origins {
    /// Checks `origin` against the lists, then the sync predicate; a well-formed origin none of
    /// them allows goes to the async predicate, if there is one.
    pub(super) fn check(&self, origin: &HeaderValue) -> Check<'_> {
        let Origins::List {
            exact,
            patterns,
            predicate,
            async_predicate,
        } = self
        else {
            return Check::Allowed;
        };
        let Ok(text) = origin.to_str() else {
            return Check::Disallowed;
        };
        let Some((scheme, host, port)) = split_origin(text) else {
            return Check::Disallowed;
        };
        if host.contains('*') {
            return Check::Disallowed;
        }
        let listed = exact.iter().any(|o| {
            o.port == port
                && o.scheme.eq_ignore_ascii_case(scheme)
                && o.host.eq_ignore_ascii_case(host)
        }) || patterns.iter().any(|p| p.matches(scheme, host, port))
            || predicate.as_ref().is_some_and(|f| f.allows(text));
        match (listed, async_predicate) {
            (true, _) => Check::Allowed,
            (false, Some(ask)) => Check::Ask(ask),
            (false, None) => Check::Disallowed,
        }
    }
}
