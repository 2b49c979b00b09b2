//! Whom a limit counts: [`KeyBy`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderName;
use sha2::{Digest as _, Sha256};
use smallvec::SmallVec;

use super::client_ip::ClientIp;
use crate::auth::{AuthMethod, Principal};
use crate::core::RequestHead;
use crate::core::route::Template;

/// A key's bytes, built per request on the stack.
pub(crate) type KeyBuf = SmallVec<[u8; 32]>;

/// Whom a [`Limit`](super::Limit) counts: the client IP, the API key, the principal, the
/// route, a header, your own function, or a combination.
///
/// Keys are opaque byte strings made of tagged parts; long text enters them only as a SHA-256
/// digest. When a part cannot be found (no principal for [`subject`](KeyBy::subject), no
/// validated key for [`api_key`](KeyBy::api_key), no peer address for [`ip`](KeyBy::ip), no
/// known route template for [`route`](KeyBy::route), a missing header), the request follows
/// the layer's [`MissingKey`](super::MissingKey) policy.
///
/// A key that the client chooses freely (a header, a raw path, an unvalidated API key) is no
/// limit at all: each made-up value would get a fresh counter. Only [`header`](KeyBy::header)
/// and [`custom`](KeyBy::custom) read what the client sent as it is; use them for values a
/// trusted component set.
///
/// ```
/// use tower_shield::rate_limit::KeyBy;
///
/// // One counter per authenticated principal, per client IP for the anonymous ones.
/// let per_client = KeyBy::principal_or_ip();
/// // One counter per route and principal (a limiter inside the Router, `route_layer`).
/// let per_route = KeyBy::route().and(KeyBy::subject());
/// // The same for a limiter that wraps the whole Router: the templates are declared.
/// let per_route_outside =
///     KeyBy::route_templates(["/posts", "/posts/{id}"]).and(KeyBy::subject());
/// // Your own key: a tenant header set by a trusted gateway.
/// let per_tenant = KeyBy::custom(|req| {
///     req.headers().get("x-tenant").and_then(|v| v.to_str().ok()).map(str::to_owned)
/// });
/// # let _ = (per_client, per_route, per_route_outside, per_tenant);
/// ```
#[derive(Clone)]
pub struct KeyBy {
    parts: SmallVec<[Part; 2]>,
}

type CustomKey = Arc<dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync>;

#[derive(Clone)]
enum Part {
    Ip,
    ApiKey,
    Subject,
    PrincipalOrIp,
    Tier,
    Route(Routes),
    Header(HeaderName),
    Custom(CustomKey),
    Global,
}

/// Route templates declared on a [`KeyBy::route_templates`], or why one does not parse (an
/// error reported by the layer's `build`).
#[derive(Clone)]
enum Routes {
    MatchedOnly,
    Templates(Arc<[Template]>),
    Invalid {
        template: String,
        reason: &'static str,
    },
}

/// Part tags in a key's bytes.
const TAG_IP: u8 = 1;
const TAG_TEXT: u8 = 2;
const TAG_DIGEST: u8 = 3;
const TAG_GLOBAL: u8 = 4;
const TAG_SUBJECT: u8 = 5;

/// Text longer than this enters a key as its SHA-256 digest.
const MAX_TEXT: usize = 256;

impl KeyBy {
    fn one(part: Part) -> Self {
        let mut parts = SmallVec::new();
        parts.push(part);
        Self { parts }
    }

    /// The client IP, found by the layer's [`ClientIp`](super::RateLimitBuilder::client_ip)
    /// (the socket peer by default; trusted proxies' forwarding headers when configured; IPv6
    /// grouped by /64).
    pub fn ip() -> Self {
        Self::one(Part::Ip)
    }

    /// The API key that an authenticator validated: the key id of the
    /// [`Principal`] that [`ApiKeyAuth`](crate::auth::ApiKeyAuth) set (method
    /// [`AuthMethod::ApiKey`]). Missing without one (no `AuthLayer` outside this layer, an
    /// anonymous request, another method): the [`MissingKey`](super::MissingKey) policy
    /// applies. The key a client merely sends never counts, or each made-up key would get a
    /// fresh counter.
    pub fn api_key() -> Self {
        Self::one(Part::ApiKey)
    }

    /// The same as [`api_key`](KeyBy::api_key): the key is the validated key id, whichever
    /// header carried it, so `header` is ignored.
    #[deprecated(
        note = "the key is the validated key id, whatever header carried it: use `KeyBy::api_key()`"
    )]
    pub fn api_key_in(header: HeaderName) -> Self {
        let _ = header;
        Self::one(Part::ApiKey)
    }

    /// The subject of an authenticated [`Principal`]; missing for the anonymous one.
    pub fn subject() -> Self {
        Self::one(Part::Subject)
    }

    /// The subject of an authenticated principal, else the client IP: the usual key behind an
    /// [`AuthLayer`](crate::AuthLayer) that lets anonymous requests through.
    pub fn principal_or_ip() -> Self {
        Self::one(Part::PrincipalOrIp)
    }

    /// The principal's [`Tier`](crate::auth::Tier) (`anonymous` without a principal): one
    /// counter shared by everyone on a plan.
    pub fn tier() -> Self {
        Self::one(Part::Tier)
    }

    /// The route template (such as `/posts/{id}`): axum's `MatchedPath`, which only a layer
    /// inside the `Router` sees (`Router::route_layer`, after routing). Missing outside the
    /// `Router` (the [`MissingKey`](super::MissingKey) policy applies): the raw path is never
    /// a key, or `/posts/1`, `/posts/2`, ... would each get a fresh counter. A limiter that
    /// wraps the `Router` declares its templates with
    /// [`route_templates`](KeyBy::route_templates).
    pub fn route() -> Self {
        Self::one(Part::Route(Routes::MatchedOnly))
    }

    /// The route template, for a limiter outside the `Router`: axum's `MatchedPath` when
    /// present, else the first of `templates` that matches the request path (templates as
    /// axum writes them: literal segments, `{name}` for one segment, a last `{*name}` for the
    /// rest; parsed once, a bad one is a build error,
    /// [`ConfigError::InvalidRouteTemplate`](super::ConfigError::InvalidRouteTemplate)). A
    /// path that no template matches is missing: the [`MissingKey`](super::MissingKey) policy
    /// applies.
    ///
    /// ```
    /// use tower_shield::rate_limit::KeyBy;
    ///
    /// // `/posts/1` and `/posts/2` share the counter of `/posts/{id}`.
    /// let per_route = KeyBy::route_templates(["/posts", "/posts/{id}"]);
    /// # let _ = per_route;
    /// ```
    pub fn route_templates<I, S>(templates: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut parsed = Vec::new();
        for t in templates {
            let t = t.as_ref();
            match Template::parse(t) {
                Ok(template) => parsed.push(template),
                Err(reason) => {
                    return Self::one(Part::Route(Routes::Invalid {
                        template: t.to_owned(),
                        reason,
                    }));
                }
            }
        }
        Self::one(Part::Route(Routes::Templates(parsed.into())))
    }

    /// The value of `header`; missing when the request has none. **The client chooses this
    /// value**: any client can send a new one with each request and get a fresh counter each
    /// time, so never use it for a limit a client could want to dodge. Only for headers that
    /// a trusted component (a gateway in front that overwrites it) sets.
    pub fn header(header: HeaderName) -> Self {
        Self::one(Part::Header(header))
    }

    /// Whatever `f` returns; `None` is a missing key.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Self::one(Part::Custom(Arc::new(f)))
    }

    /// One counter for every request.
    pub fn global() -> Self {
        Self::one(Part::Global)
    }

    /// This key and `other` together: one counter per combination.
    pub fn and(mut self, other: KeyBy) -> Self {
        self.parts.extend(other.parts);
        self
    }

    /// The first route template that does not parse, and why.
    pub(crate) fn invalid_template(&self) -> Option<(&str, &'static str)> {
        self.parts.iter().find_map(|part| match part {
            Part::Route(Routes::Invalid { template, reason }) => Some((template.as_str(), *reason)),
            _ => None,
        })
    }

    /// Writes the key of a request into `out`; `false` when a part is missing.
    pub(crate) fn write(&self, cx: &KeyContext<'_>, out: &mut KeyBuf) -> bool {
        self.parts.iter().all(|part| write_part(part, cx, out))
    }

    /// How a key reads in logs: `ip=203.0.113.7`, `subject=jane,route=/search`.
    pub(crate) fn display(key: &[u8]) -> KeyDisplay<'_> {
        KeyDisplay(key)
    }
}

impl fmt::Debug for KeyBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for part in &self.parts {
            list.entry(&match part {
                Part::Ip => "ip".to_owned(),
                Part::ApiKey => "api_key".to_owned(),
                Part::Subject => "subject".to_owned(),
                Part::PrincipalOrIp => "principal_or_ip".to_owned(),
                Part::Tier => "tier".to_owned(),
                Part::Route(Routes::MatchedOnly) => "route".to_owned(),
                Part::Route(Routes::Templates(t)) => format!(
                    "route_templates({})",
                    t.iter().map(Template::as_str).collect::<Vec<_>>().join(" ")
                ),
                Part::Route(Routes::Invalid { template, .. }) => {
                    format!("route_templates(invalid {template:?})")
                }
                Part::Header(h) => format!("header({h})"),
                Part::Custom(_) => "custom".to_owned(),
                Part::Global => "global".to_owned(),
            });
        }
        list.finish()
    }
}

/// What key parts are made from.
pub(crate) struct KeyContext<'a> {
    pub(crate) head: RequestHead<'a>,
    pub(crate) client_ip: &'a ClientIp,
    pub(crate) principal: Option<&'a Principal>,
}

impl KeyContext<'_> {
    fn ip(&self) -> Option<IpAddr> {
        self.client_ip
            .resolve(self.head.extensions(), self.head.headers())
    }

    fn authenticated(&self) -> Option<&Principal> {
        self.principal.filter(|p| !p.is_anonymous())
    }
}

fn write_part(part: &Part, cx: &KeyContext<'_>, out: &mut KeyBuf) -> bool {
    match part {
        Part::Ip => write_ip(cx, out),
        Part::PrincipalOrIp => match cx.authenticated() {
            Some(p) => write_text(TAG_SUBJECT, p.subject().as_bytes(), out),
            None => write_ip(cx, out),
        },
        Part::Subject => match cx.authenticated() {
            Some(p) => write_text(TAG_SUBJECT, p.subject().as_bytes(), out),
            None => false,
        },
        // Only a key an authenticator validated: a header's value is the client's choice.
        Part::ApiKey => match cx
            .authenticated()
            .filter(|p| p.method() == AuthMethod::ApiKey)
            .and_then(Principal::key_id)
        {
            Some(id) => write_text(TAG_TEXT, id.as_bytes(), out),
            None => false,
        },
        Part::Tier => {
            let tier = cx.principal.map_or("anonymous", |p| p.tier().as_str());
            write_text(TAG_TEXT, tier.as_bytes(), out)
        }
        Part::Route(routes) => match route(&cx.head, routes) {
            Some(template) => write_text(TAG_TEXT, template.as_bytes(), out),
            None => false,
        },
        Part::Header(name) => write_header(cx.head.headers().get_all(name), out),
        Part::Custom(f) => match f(&cx.head) {
            Some(s) => write_text(TAG_TEXT, s.as_bytes(), out),
            None => false,
        },
        Part::Global => {
            out.push(TAG_GLOBAL);
            true
        }
    }
}

/// The route template of a request: the router's, else the first declared one that matches;
/// never the raw path.
fn route<'a>(head: &RequestHead<'a>, routes: &'a Routes) -> Option<&'a str> {
    #[cfg(feature = "axum")]
    if let Some(m) = head.extensions().get::<axum::extract::MatchedPath>() {
        return Some(m.as_str());
    }
    match routes {
        Routes::Templates(templates) => {
            let path = head.uri().path();
            templates
                .iter()
                .find(|t| t.matches(path))
                .map(Template::as_str)
        }
        Routes::MatchedOnly | Routes::Invalid { .. } => None,
    }
}

fn write_ip(cx: &KeyContext<'_>, out: &mut KeyBuf) -> bool {
    let Some(ip) = cx.ip() else {
        return false;
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            out.extend_from_slice(&[TAG_IP, 4, a, b, c, d]);
        }
        IpAddr::V6(v6) => {
            out.extend_from_slice(&[TAG_IP, 16]);
            out.extend_from_slice(&v6.octets());
        }
    }
    true
}

fn write_text(tag: u8, text: &[u8], out: &mut KeyBuf) -> bool {
    if text.len() > MAX_TEXT {
        write_digest(text, out);
        return true;
    }
    out.push(tag);
    // `MAX_TEXT` fits a byte... twice over; the length keeps `a`+`bc` apart from `ab`+`c`.
    out.extend_from_slice(&u16::try_from(text.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(text);
    true
}

/// A header's value as RFC 9110 reads it: without the optional whitespace around it (section
/// 5.5), and a header sent several times as the one comma-separated list it stands for
/// (section 5.3), so `a` + `b` on two lines is the key of `a, b` on one, never only the
/// first line (a client's own value in front of the one a gateway appended). Long values are
/// digested as they are read: no copy of their combined length is ever made.
fn write_header(values: http::header::GetAll<'_, http::HeaderValue>, out: &mut KeyBuf) -> bool {
    let mut all = values.iter();
    let Some(first) = all.next() else {
        return false;
    };
    let first = trim_ows(first.as_bytes());
    if all.next().is_none() {
        return write_text(TAG_TEXT, first, out);
    }
    let pieces = || {
        std::iter::once(first).chain(
            values
                .iter()
                .skip(1)
                .flat_map(|v| [&b", "[..], trim_ows(v.as_bytes())]),
        )
    };
    let total = pieces().fold(0usize, |n, p| n.saturating_add(p.len()));
    if total > MAX_TEXT {
        let mut hasher = Sha256::new();
        pieces().for_each(|p| hasher.update(p));
        out.push(TAG_DIGEST);
        out.extend_from_slice(&hasher.finalize()[..16]);
        return true;
    }
    let mut joined: SmallVec<[u8; MAX_TEXT]> = SmallVec::new();
    pieces().for_each(|p| joined.extend_from_slice(p));
    write_text(TAG_TEXT, &joined, out)
}

/// `value` without leading and trailing spaces and tabs (RFC 9110 section 5.5, `OWS`).
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

fn write_digest(secret: &[u8], out: &mut KeyBuf) {
    out.push(TAG_DIGEST);
    out.extend_from_slice(&Sha256::digest(secret)[..16]);
}

/// A key's bytes, as they read in logs.
pub(crate) struct KeyDisplay<'a>(&'a [u8]);

impl fmt::Display for KeyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        while let Some((&tag, tail)) = rest.split_first() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match tag {
                TAG_IP => {
                    let (len, tail) = tail.split_first().map_or((0, tail), |(l, t)| (*l, t));
                    let (bytes, tail) = tail.split_at(usize::from(len).min(tail.len()));
                    match (<[u8; 4]>::try_from(bytes), <[u8; 16]>::try_from(bytes)) {
                        (Ok(v4), _) => write!(f, "ip={}", IpAddr::from(v4))?,
                        (_, Ok(v6)) => write!(f, "ip={}", IpAddr::from(v6))?,
                        _ => f.write_str("ip=?")?,
                    }
                    rest = tail;
                }
                TAG_TEXT | TAG_SUBJECT => {
                    let (len, tail) = match tail {
                        [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
                        _ => (0, tail),
                    };
                    let (text, tail) = tail.split_at(len.min(tail.len()));
                    let name = if tag == TAG_SUBJECT {
                        "subject"
                    } else {
                        "text"
                    };
                    write!(f, "{name}={:?}", String::from_utf8_lossy(text))?;
                    rest = tail;
                }
                TAG_DIGEST => {
                    let (digest, tail) = tail.split_at(16.min(tail.len()));
                    f.write_str("sha256=")?;
                    for b in digest {
                        write!(f, "{b:02x}")?;
                    }
                    rest = tail;
                }
                TAG_GLOBAL => {
                    f.write_str("global")?;
                    rest = tail;
                }
                _ => return f.write_str("?"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
