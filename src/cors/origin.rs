//! Origins: parsing the configured ones, the anchored subdomain patterns, and checking a
//! request's `Origin` against the allow-list (and, when the lists say no, the predicates).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use http::HeaderValue;

use super::host::{check_label, ends_in_a_number, parse_ipv4, serialize_ipv6};
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

/// An allowed origin as a browser serializes it: lowercase scheme and host, IPv6 in WHATWG's
/// form, the scheme's default port removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl Origin {
    /// Whether a request's `Origin`, split by [`split_origin`], is this one (scheme and host
    /// compared case-insensitively).
    pub(crate) fn is(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.port == port
            && self.scheme.eq_ignore_ascii_case(scheme)
            && self.host.eq_ignore_ascii_case(host)
    }
}

/// Splits `scheme://host[:port]` without allocating, the scheme's default port removed;
/// `None` if it is not of that form.
pub(crate) fn split_origin(s: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, host, port) = util::split_origin(s)?;
    let is = |name: &str| scheme.eq_ignore_ascii_case(name);
    let default = if is("http") || is("ws") {
        Some(80)
    } else if is("https") || is("wss") {
        Some(443)
    } else {
        None
    };
    let port = if port == default { None } else { port };
    Some((scheme, host, port))
}

/// Why a configured entry (an origin or a pattern) is refused; the builder names the entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not of the form `scheme://host[:port]` (or `scheme://*.domain[:port]`): the reason.
    Malformed(&'static str),
    /// A scheme other than `http` and `https` (lowercase).
    Scheme(String),
    /// The host ends in a dot.
    TrailingDot,
    /// The host ends in a number but is no IPv4 address.
    NotIpv4,
    /// An IPv4 address not in dotted decimal: the origin a browser would send.
    Ipv4Form(String),
    /// An `xn--` label that is not valid punycode.
    Punycode {
        /// The label.
        label: String,
        /// Why.
        reason: &'static str,
    },
}

/// Parses an entry of the allow-list into the origin a browser sends: lowercase scheme and host,
/// the default port removed, IPv6 compressed in hex. With `pattern`, the host's left-most label
/// is `*` and the rest must be a domain name. Whatever no browser sends is refused.
fn parse_entry(s: &str, pattern: bool) -> Result<Origin, Refusal> {
    if !s.is_ascii() {
        return Err(Refusal::Malformed(
            "write an internationalized host in punycode (xn--...), as browsers send it",
        ));
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        if util::is_scheme(scheme)
            && !scheme.eq_ignore_ascii_case("http")
            && !scheme.eq_ignore_ascii_case("https")
        {
            return Err(Refusal::Scheme(scheme.to_ascii_lowercase()));
        }
        if rest.contains('/') {
            return Err(Refusal::Malformed(
                "an origin has no path (not even a trailing `/`)",
            ));
        }
    }
    let (scheme, host, port) = split_origin(s).ok_or(Refusal::Malformed(
        "expected scheme://host[:port], for example https://app.example.com",
    ))?;
    if port == Some(0) {
        // No browser sends it: fetch blocks port 0, so an entry with it can never match.
        return Err(Refusal::Malformed(
            "port 0 is not a port a browser connects to",
        ));
    }
    let scheme = scheme.to_ascii_lowercase();
    let mut host = host.to_ascii_lowercase();
    let domain = match host.strip_prefix("*.") {
        Some(domain) if pattern => domain,
        _ if pattern => {
            return Err(Refusal::Malformed(
                "the wildcard must be the whole left-most label: https://*.example.com",
            ));
        }
        _ if host.contains('*') => {
            return Err(Refusal::Malformed(
                "`*` belongs in a pattern, as the whole left-most label: https://*.example.com",
            ));
        }
        _ => host.as_str(),
    };
    // A fully qualified name (`example.com.`) is an origin of its own that browsers do send;
    // an IPv4 address never keeps the dot (the WHATWG IPv4 parser drops it), nor does a name
    // with an empty label.
    let (domain, fqdn) = match domain.strip_suffix('.') {
        Some(bare) if bare.is_empty() || bare.ends_with('.') || ends_in_a_number(bare) => {
            return Err(Refusal::TrailingDot);
        }
        Some(bare) => (bare, true),
        None => (domain, false),
    };
    if let Some(v6) = domain.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if pattern {
            return Err(Refusal::Malformed(
                "a pattern needs a domain name, not an IP address",
            ));
        }
        if fqdn {
            return Err(Refusal::TrailingDot);
        }
        let address = v6
            .parse()
            .map_err(|_| Refusal::Malformed("malformed IPv6 address"))?;
        host = serialize_ipv6(address);
    } else if ends_in_a_number(domain) {
        let address = parse_ipv4(domain).ok_or(Refusal::NotIpv4)?;
        if pattern {
            return Err(Refusal::Malformed(
                "a pattern needs a domain name, not an IP address",
            ));
        }
        let dotted = address.to_string();
        if dotted != host {
            let browser_form = Origin {
                scheme,
                host: dotted,
                port,
            };
            return Err(Refusal::Ipv4Form(browser_form.to_string()));
        }
    } else if let Some((label, reason)) = domain
        .split('.')
        .find_map(|label| check_label(label).err().map(|reason| (label, reason)))
    {
        return Err(Refusal::Punycode {
            label: label.to_owned(),
            reason,
        });
    }
    Ok(Origin { scheme, host, port })
}

/// Parses a configured exact origin into the form a browser sends.
pub(crate) fn parse_config_origin(s: &str) -> Result<Origin, Refusal> {
    parse_entry(s, false)
}

/// [`parse_config_origin`], and an origin of another scheme than http and https as it is
/// written (scheme and host lowercased): the origins browsers send for pages served from an
/// app's own scheme (`capacitor://localhost`, `tauri://localhost`, `chrome-extension://<id>`).
/// Their hosts follow no web rules; they must still be `scheme://host[:port]`.
pub(crate) fn parse_config_origin_any_scheme(s: &str) -> Result<Origin, Refusal> {
    match parse_entry(s, false) {
        Err(Refusal::Scheme(_)) => {}
        parsed => return parsed,
    }
    if s.split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'))
    {
        return Err(Refusal::Malformed(
            "an origin has no path (not even a trailing `/`)",
        ));
    }
    let (scheme, host, port) = split_origin(s).ok_or(Refusal::Malformed(
        "expected scheme://host[:port], for example capacitor://localhost",
    ))?;
    if host.contains('*') {
        return Err(Refusal::Malformed(
            "a trusted origin is exact: no `*` pattern",
        ));
    }
    if port == Some(0) {
        return Err(Refusal::Malformed(
            "port 0 is not a port a browser connects to",
        ));
    }
    Ok(Origin {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// `scheme://*.domain[:port]`: matches hosts with at least one more label before `domain`;
/// with `:*` for the port (`http://localhost:*`, `https://*.example.com:*`), any port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pattern {
    scheme: String,
    /// `.domain`, lowercase, with its leading dot; or, for an exact host with any port, the
    /// host itself (`exact_host`).
    suffix: String,
    exact_host: bool,
    /// `None`: the scheme's default port; ignored when `any_port`.
    port: Option<u16>,
    any_port: bool,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.exact_host { "" } else { "*" };
        write!(f, "{}://{star}{}", self.scheme, self.suffix)?;
        match (self.any_port, self.port) {
            (true, _) => f.write_str(":*"),
            (false, Some(port)) => write!(f, ":{port}"),
            (false, None) => Ok(()),
        }
    }
}

/// Parses a configured pattern; its fixed part follows the rules of exact origins. A `:*`
/// port matches any port (and none: the scheme's default), a form rs/cors accepts too; the host
/// before it is exact, or a subdomain pattern.
pub(super) fn parse_pattern(s: &str) -> Result<Pattern, Refusal> {
    if let Some(fixed) = s.strip_suffix(":*") {
        // A port written before `:*` (even the scheme's default, which parsing drops).
        let authority = fixed.split_once("://").map_or(fixed, |(_, a)| a);
        if authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.ends_with('[') && !port.contains(']'))
        {
            return Err(Refusal::Malformed("a port and `:*` both"));
        }
        if !fixed.contains('*') {
            let origin = parse_entry(fixed, false)?;
            if origin.port.is_some() {
                return Err(Refusal::Malformed("a port and `:*` both"));
            }
            return Ok(Pattern {
                scheme: origin.scheme,
                suffix: origin.host,
                exact_host: true,
                port: None,
                any_port: true,
            });
        }
        let mut pattern = parse_pattern(fixed)?;
        if pattern.port.is_some() {
            return Err(Refusal::Malformed("a port and `:*` both"));
        }
        pattern.any_port = true;
        return Ok(pattern);
    }
    if !s
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with("*."))
    {
        return Err(Refusal::Malformed(
            "the wildcard must be the whole left-most label: https://*.example.com",
        ));
    }
    if s.matches('*').count() > 1 {
        return Err(Refusal::Malformed(
            "only one wildcard, as the whole left-most label",
        ));
    }
    let parsed = parse_entry(s, true)?;
    let domain = &parsed.host[2..];
    // A host is at most 253 characters (RFC 1035): past 251, no subdomain fits, and the
    // pattern would allow nothing.
    if domain.trim_end_matches('.').len() > 251 {
        return Err(Refusal::Malformed(
            "the domain after `*.` leaves no room for a subdomain (a host is at most 253 \
             characters)",
        ));
    }
    // Anyone can register a name under a public suffix (com, co.uk, github.io, vercel.app...):
    // a pattern on one would allow every attacker's site. `localhost` is reserved (RFC 6761).
    if domain != "localhost" && psl::domain_str(domain).is_none() {
        return Err(Refusal::Malformed(
            "the domain after `*.` is a public suffix (like com, co.uk or github.io) that anyone \
             can register names under; use your own registered domain",
        ));
    }
    Ok(Pattern {
        scheme: parsed.scheme,
        suffix: format!(".{domain}"),
        exact_host: false,
        port: parsed.port,
        any_port: false,
    })
}

impl Pattern {
    fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if (!self.any_port && port != self.port) || !scheme.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        if self.exact_host {
            return host.eq_ignore_ascii_case(&self.suffix);
        }
        let Some(prefix_len) = host.len().checked_sub(self.suffix.len()) else {
            return false;
        };
        if prefix_len == 0 || !host.is_char_boundary(prefix_len) {
            return false;
        }
        let (prefix, suffix) = host.split_at(prefix_len);
        if !suffix.eq_ignore_ascii_case(&self.suffix) {
            return false;
        }
        // Every label before the suffix non-empty, of letters, digits, `-` and `_` (the URL
        // Standard forbids no `_` in a host, so browsers send it, as exact origins accept it).
        let mut label = 0usize;
        for b in prefix.bytes() {
            if b == b'.' {
                if label == 0 {
                    return false;
                }
                label = 0;
            } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                label += 1;
            } else {
                return false;
            }
        }
        label > 0
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
        if host.as_bytes().contains(&b'*') {
            return Check::Disallowed;
        }
        let listed = exact.iter().any(|o| o.is(scheme, host, port))
            || patterns.iter().any(|p| p.matches(scheme, host, port))
            || predicate.as_ref().is_some_and(|f| f.allows(text));
        match (listed, async_predicate) {
            (true, _) => Check::Allowed,
            (false, Some(ask)) => Check::Ask(ask),
            (false, None) => Check::Disallowed,
        }
    }
}
