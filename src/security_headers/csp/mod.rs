//! A typed builder for [`Content-Security-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy)
//! (CSP Level 3), checked when the layer is built.

use std::borrow::Cow;
use std::fmt;

use http::HeaderValue;

use crate::core::util::is_scheme;
use rand::RngCore;

/// A directive that takes a source list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Directive {
    /// `default-src`: the fallback for every fetch directive not given.
    DefaultSrc,
    /// `script-src`
    ScriptSrc,
    /// `script-src-elem`
    ScriptSrcElem,
    /// `script-src-attr`
    ScriptSrcAttr,
    /// `style-src`
    StyleSrc,
    /// `style-src-elem`
    StyleSrcElem,
    /// `style-src-attr`
    StyleSrcAttr,
    /// `img-src`
    ImgSrc,
    /// `font-src`
    FontSrc,
    /// `connect-src`: fetch, XHR, WebSocket, EventSource.
    ConnectSrc,
    /// `media-src`
    MediaSrc,
    /// `object-src`
    ObjectSrc,
    /// `frame-src`
    FrameSrc,
    /// `child-src`
    ChildSrc,
    /// `worker-src`
    WorkerSrc,
    /// `manifest-src`
    ManifestSrc,
    /// `base-uri`
    BaseUri,
    /// `form-action`
    FormAction,
    /// `frame-ancestors`: who may embed the page (replaces `X-Frame-Options`).
    FrameAncestors,
}

impl Directive {
    /// The directive's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DefaultSrc => "default-src",
            Self::ScriptSrc => "script-src",
            Self::ScriptSrcElem => "script-src-elem",
            Self::ScriptSrcAttr => "script-src-attr",
            Self::StyleSrc => "style-src",
            Self::StyleSrcElem => "style-src-elem",
            Self::StyleSrcAttr => "style-src-attr",
            Self::ImgSrc => "img-src",
            Self::FontSrc => "font-src",
            Self::ConnectSrc => "connect-src",
            Self::MediaSrc => "media-src",
            Self::ObjectSrc => "object-src",
            Self::FrameSrc => "frame-src",
            Self::ChildSrc => "child-src",
            Self::WorkerSrc => "worker-src",
            Self::ManifestSrc => "manifest-src",
            Self::BaseUri => "base-uri",
            Self::FormAction => "form-action",
            Self::FrameAncestors => "frame-ancestors",
        }
    }

    fn accepts_nonce(self) -> bool {
        matches!(
            self,
            Self::DefaultSrc
                | Self::ScriptSrc
                | Self::ScriptSrcElem
                | Self::StyleSrc
                | Self::StyleSrcElem
        )
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One source of a source list.
///
/// Keywords are variants, so they cannot be left unquoted by mistake. Hosts, schemes and hashes
/// are given as text (`"https://cdn.example.com"`, `"data:"`, `"'sha256-…'"`) and checked when
/// the layer is built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// `'self'`
    SelfOrigin,
    /// `'none'`: nothing; must be alone in its list.
    None,
    /// `'unsafe-inline'`: weakens the policy against XSS; prefer [`Source::Nonce`].
    UnsafeInline,
    /// `'unsafe-eval'`
    UnsafeEval,
    /// `'unsafe-hashes'`
    UnsafeHashes,
    /// `'strict-dynamic'`
    StrictDynamic,
    /// `'wasm-unsafe-eval'`
    WasmUnsafeEval,
    /// `'report-sample'`
    ReportSample,
    /// `'nonce-…'` with a fresh random nonce for every response; handlers read it from the
    /// [`CspNonce`] request extension. Allowed in `default-src`, `script-src`,
    /// `script-src-elem`, `style-src` and `style-src-elem`.
    Nonce,
    /// A host, scheme or hash source, or a quoted keyword, as text.
    Expr(Cow<'static, str>),
}

impl Source {
    fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            Self::SelfOrigin => "'self'",
            Self::None => "'none'",
            Self::UnsafeInline => "'unsafe-inline'",
            Self::UnsafeEval => "'unsafe-eval'",
            Self::UnsafeHashes => "'unsafe-hashes'",
            Self::StrictDynamic => "'strict-dynamic'",
            Self::WasmUnsafeEval => "'wasm-unsafe-eval'",
            Self::ReportSample => "'report-sample'",
            Self::Nonce | Self::Expr(_) => return None,
        })
    }
}

impl From<&'static str> for Source {
    fn from(s: &'static str) -> Self {
        Self::Expr(Cow::Borrowed(s))
    }
}

impl From<String> for Source {
    fn from(s: String) -> Self {
        Self::Expr(Cow::Owned(s))
    }
}

const KEYWORDS: &[&str] = &[
    "self",
    "none",
    "unsafe-inline",
    "unsafe-eval",
    "unsafe-hashes",
    "strict-dynamic",
    "wasm-unsafe-eval",
    "report-sample",
    "inline-speculation-rules",
    "unsafe-allow-redirects",
];

const SANDBOX_TOKENS: &[&str] = &[
    "allow-downloads",
    "allow-forms",
    "allow-modals",
    "allow-orientation-lock",
    "allow-pointer-lock",
    "allow-popups",
    "allow-popups-to-escape-sandbox",
    "allow-presentation",
    "allow-same-origin",
    "allow-scripts",
    "allow-storage-access-by-user-activation",
    "allow-top-navigation",
    "allow-top-navigation-by-user-activation",
    "allow-top-navigation-to-custom-protocols",
];

/// Why a [`ContentSecurityPolicy`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CspError {
    /// A source is malformed; `reason` says how.
    InvalidSource {
        /// The directive it was given to.
        directive: Directive,
        /// The source as given.
        source: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `'none'` is not alone in its list, where browsers would ignore it.
    NoneWithOtherSources(Directive),
    /// A directive was given no source at all; say [`Source::None`] if nothing is meant.
    EmptySourceList(Directive),
    /// [`Source::Nonce`] in a directive that does not take nonces.
    NonceNotAllowed(Directive),
    /// A `report-uri` that is not a URI reference.
    InvalidReportUri(String),
    /// A `report-to` group name that is not a structured-field key (lowercase letters, digits,
    /// `_ - . *`, starting with a letter or `*`), so no `Reporting-Endpoints` entry can match.
    InvalidReportTo(String),
    /// An unknown `sandbox` token.
    InvalidSandboxToken(String),
    /// The policy has no directive.
    Empty,
    /// The rendered policy is not a valid header value.
    InvalidHeaderValue,
    /// A report-only policy with `sandbox`, which browsers ignore there.
    SandboxInReportOnly,
    /// A report-only policy without `report-uri` or `report-to`: it would do nothing.
    ReportOnlyWithoutReporting,
}

impl fmt::Display for CspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSource {
                directive,
                source,
                reason,
            } => write!(f, "invalid CSP source {source:?} in {directive}: {reason}"),
            Self::NoneWithOtherSources(d) => {
                write!(f, "'none' must be the only source of {d}")
            }
            Self::EmptySourceList(d) => {
                write!(f, "{d} has no source; use Source::None to allow nothing")
            }
            Self::NonceNotAllowed(d) => write!(f, "{d} does not take a nonce"),
            Self::InvalidReportUri(u) => write!(f, "invalid CSP report-uri {u:?}"),
            Self::InvalidReportTo(g) => write!(
                f,
                "invalid CSP report-to group {g:?}: lowercase letters, digits, '_', '-', '.', '*'"
            ),
            Self::InvalidSandboxToken(t) => write!(f, "unknown CSP sandbox token {t:?}"),
            Self::Empty => f.write_str("the content security policy has no directive"),
            Self::InvalidHeaderValue => f.write_str("the policy is not a valid header value"),
            Self::SandboxInReportOnly => f.write_str("sandbox is ignored in a report-only policy"),
            Self::ReportOnlyWithoutReporting => {
                f.write_str("a report-only policy without report-uri or report-to reports nowhere")
            }
        }
    }
}

impl std::error::Error for CspError {}

/// A Content Security Policy, built directive by directive and checked when the layer is built.
///
/// ```
/// use tower_shield::security_headers::{ContentSecurityPolicy, Source};
///
/// let policy = ContentSecurityPolicy::new()
///     .default_src([Source::SelfOrigin])
///     .script_src([Source::SelfOrigin, Source::Nonce])
///     .img_src([Source::SelfOrigin, "data:".into(), "https://cdn.example.com".into()])
///     .frame_ancestors([Source::None])
///     .report_to("csp");
/// ```
///
/// A directive set twice keeps its first position and its last value. Directives are written
/// in the order they were first set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct ContentSecurityPolicy {
    sources: Vec<(Directive, Vec<Source>)>,
    upgrade_insecure_requests: bool,
    sandbox: Option<Vec<String>>,
    require_trusted_types_for_script: bool,
    report_uri: Vec<String>,
    report_to: Option<String>,
}

macro_rules! source_directives {
    ($($(#[$doc:meta])* $name:ident => $variant:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name<I>(self, sources: I) -> Self
            where
                I: IntoIterator,
                I::Item: Into<Source>,
            {
                self.directive(Directive::$variant, sources)
            }
        )*
    };
}

impl ContentSecurityPolicy {
    /// An empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The policy of a JSON API that serves no HTML: `default-src 'none'; frame-ancestors
    /// 'none'`. A response rendered by a browser by mistake can load nothing and be framed
    /// nowhere.
    pub fn json_api() -> Self {
        Self::new()
            .default_src([Source::None])
            .frame_ancestors([Source::None])
    }

    /// The policy of a web application served from its own origin: `default-src 'self';
    /// script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src
    /// 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'`.
    pub fn web_app() -> Self {
        Self::new()
            .default_src([Source::SelfOrigin])
            .script_src([Source::SelfOrigin])
            .style_src([Source::SelfOrigin, Source::UnsafeInline])
            .img_src([Source::SelfOrigin, Source::from("data:")])
            .connect_src([Source::SelfOrigin])
            .frame_ancestors([Source::None])
            .base_uri([Source::SelfOrigin])
            .form_action([Source::SelfOrigin])
    }

    /// Sets the sources of `directive`.
    pub fn directive<I>(mut self, directive: Directive, sources: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Source>,
    {
        let sources: Vec<Source> = sources.into_iter().map(Into::into).collect();
        match self.sources.iter_mut().find(|(d, _)| *d == directive) {
            Some((_, existing)) => *existing = sources,
            None => self.sources.push((directive, sources)),
        }
        self
    }

    source_directives! {
        /// Sets `default-src`.
        default_src => DefaultSrc,
        /// Sets `script-src`.
        script_src => ScriptSrc,
        /// Sets `script-src-elem`.
        script_src_elem => ScriptSrcElem,
        /// Sets `script-src-attr`.
        script_src_attr => ScriptSrcAttr,
        /// Sets `style-src`.
        style_src => StyleSrc,
        /// Sets `style-src-elem`.
        style_src_elem => StyleSrcElem,
        /// Sets `style-src-attr`.
        style_src_attr => StyleSrcAttr,
        /// Sets `img-src`.
        img_src => ImgSrc,
        /// Sets `font-src`.
        font_src => FontSrc,
        /// Sets `connect-src`.
        connect_src => ConnectSrc,
        /// Sets `media-src`.
        media_src => MediaSrc,
        /// Sets `object-src`.
        object_src => ObjectSrc,
        /// Sets `frame-src`.
        frame_src => FrameSrc,
        /// Sets `child-src`.
        child_src => ChildSrc,
        /// Sets `worker-src`.
        worker_src => WorkerSrc,
        /// Sets `manifest-src`.
        manifest_src => ManifestSrc,
        /// Sets `base-uri`.
        base_uri => BaseUri,
        /// Sets `form-action`.
        form_action => FormAction,
        /// Sets `frame-ancestors`.
        frame_ancestors => FrameAncestors,
    }

    /// Adds `upgrade-insecure-requests`.
    pub fn upgrade_insecure_requests(mut self) -> Self {
        self.upgrade_insecure_requests = true;
        self
    }

    /// Adds `sandbox` with the given `allow-*` tokens (none: the strictest sandbox).
    pub fn sandbox<I>(mut self, tokens: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.sandbox = Some(tokens.into_iter().map(Into::into).collect());
        self
    }

    /// Adds `require-trusted-types-for 'script'`.
    pub fn require_trusted_types_for_script(mut self) -> Self {
        self.require_trusted_types_for_script = true;
        self
    }

    /// Adds a `report-uri` (deprecated by CSP3 but the one every browser sends to; set
    /// [`report_to`](Self::report_to) as well for browsers that prefer it).
    pub fn report_uri(mut self, uri: impl Into<String>) -> Self {
        self.report_uri.push(uri.into());
        self
    }

    /// Sets `report-to`, the name of an endpoint group from a `Reporting-Endpoints` header
    /// (see [`SecurityHeadersBuilder::reporting_endpoint`](super::SecurityHeadersBuilder::reporting_endpoint)).
    pub fn report_to(mut self, group: impl Into<String>) -> Self {
        self.report_to = Some(group.into());
        self
    }

    /// The `report-to` group, if any.
    pub(crate) fn report_group(&self) -> Option<&str> {
        self.report_to.as_deref()
    }

    /// Whether the policy sends violation reports somewhere.
    pub(crate) fn reports(&self) -> bool {
        !self.report_uri.is_empty() || self.report_to.is_some()
    }

    /// Whether the policy has `sandbox`, which report-only policies cannot carry.
    pub(crate) fn has_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Whether some directive has a per-request [`Source::Nonce`].
    pub fn uses_nonce(&self) -> bool {
        self.sources.iter().any(|(_, s)| s.contains(&Source::Nonce))
    }

    /// Checks the policy and renders it into the text between nonces.
    pub(crate) fn compile(&self) -> Result<Template, CspError> {
        if self.sources.is_empty()
            && !self.upgrade_insecure_requests
            && self.sandbox.is_none()
            && !self.require_trusted_types_for_script
        {
            return Err(CspError::Empty);
        }
        let mut w = Writer {
            segments: vec![String::new()],
            directives: 0,
        };
        for (directive, sources) in &self.sources {
            if sources.is_empty() {
                return Err(CspError::EmptySourceList(*directive));
            }
            let is_none = |s: &Source| match s {
                Source::None => true,
                Source::Expr(text) => text.as_ref() == "'none'",
                _ => false,
            };
            if sources.len() > 1 && sources.iter().any(is_none) {
                return Err(CspError::NoneWithOtherSources(*directive));
            }
            w.directive(directive.as_str());
            for source in sources {
                let text: &str = match source {
                    Source::Nonce => {
                        if !directive.accepts_nonce() {
                            return Err(CspError::NonceNotAllowed(*directive));
                        }
                        w.nonce();
                        continue;
                    }
                    Source::Expr(expr) => {
                        check_source(expr).map_err(|reason| CspError::InvalidSource {
                            directive: *directive,
                            source: expr.to_string(),
                            reason,
                        })?;
                        expr
                    }
                    keyword => keyword.keyword().unwrap_or("'none'"),
                };
                if *directive == Directive::FrameAncestors
                    && text.starts_with('\'')
                    && text != "'self'"
                    && text != "'none'"
                {
                    return Err(CspError::InvalidSource {
                        directive: *directive,
                        source: text.to_owned(),
                        reason: "frame-ancestors takes only hosts, schemes, 'self' and 'none'",
                    });
                }
                w.push(" ");
                w.push(text);
            }
        }
        if self.upgrade_insecure_requests {
            w.directive("upgrade-insecure-requests");
        }
        if let Some(tokens) = &self.sandbox {
            w.directive("sandbox");
            for token in tokens {
                if !SANDBOX_TOKENS.contains(&token.as_str()) {
                    return Err(CspError::InvalidSandboxToken(token.clone()));
                }
                w.push(" ");
                w.push(token);
            }
        }
        if self.require_trusted_types_for_script {
            w.directive("require-trusted-types-for 'script'");
        }
        if !self.report_uri.is_empty() {
            w.directive("report-uri");
            for uri in &self.report_uri {
                if !is_uri_reference(uri) {
                    return Err(CspError::InvalidReportUri(uri.clone()));
                }
                w.push(" ");
                w.push(uri);
            }
        }
        if let Some(group) = &self.report_to {
            if !is_sf_key(group) {
                return Err(CspError::InvalidReportTo(group.clone()));
            }
            w.directive("report-to ");
            w.push(group);
        }
        Template::new(w.segments)
    }
}

/// Writes a policy into the text segments between its nonces.
struct Writer {
    segments: Vec<String>,
    directives: usize,
}

impl Writer {
    fn directive(&mut self, name: &str) {
        if self.directives > 0 {
            self.push("; ");
        }
        self.push(name);
        self.directives += 1;
    }

    fn push(&mut self, text: &str) {
        if let Some(last) = self.segments.last_mut() {
            last.push_str(text);
        }
    }

    fn nonce(&mut self) {
        self.push(" 'nonce-");
        self.segments.push(String::new());
        self.push("'");
    }
}

/// A structured-field key (RFC 8941): `(lcalpha / "*") *(lcalpha / DIGIT / "_" / "-" / "." /
/// "*")`, the names of `Reporting-Endpoints` and so of CSP `report-to` groups.
pub(crate) fn is_sf_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
        })
}

/// Visible ASCII with nothing that ends a directive, a list or a quoted string.
pub(crate) fn is_uri_reference(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\'' | b'\\'))
}

fn is_base64_value(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// Checks one textual source expression against the CSP3 grammar.
fn check_source(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.bytes().any(|b| b == b';' || b == b',') {
        return Err("';' and ',' would end the directive or the policy");
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("whitespace, control and non-ASCII characters are not allowed");
    }
    if let Some(quoted) = s.strip_prefix('\'') {
        let Some(inner) = quoted.strip_suffix('\'') else {
            return Err("unbalanced quote");
        };
        if KEYWORDS.contains(&inner) {
            return Ok(());
        }
        if inner.starts_with("nonce-") {
            return Err("a fixed nonce defeats its purpose; use Source::Nonce for a fresh one");
        }
        for (alg, unpadded, padded) in [
            ("sha256-", 43, 44),
            ("sha384-", 64, 64),
            ("sha512-", 86, 88),
        ] {
            if let Some(hash) = inner.strip_prefix(alg) {
                if !is_base64_value(hash) {
                    return Err("the hash is not base64");
                }
                let digits = hash.trim_end_matches('=').len();
                return if digits == unpadded && (hash.len() == unpadded || hash.len() == padded) {
                    Ok(())
                } else {
                    Err("the hash has the wrong length for its algorithm")
                };
            }
        }
        return Err("unknown quoted keyword");
    }
    if KEYWORDS.contains(&s) {
        return Err("keywords must be single-quoted (or use the Source variant)");
    }
    if ["nonce-", "sha256-", "sha384-", "sha512-"]
        .iter()
        .any(|p| s.starts_with(p))
    {
        return Err("nonces and hashes must be single-quoted");
    }
    if s.contains('\'') || s.contains('"') || s.contains('\\') {
        return Err("stray quote or backslash");
    }
    if s == "*" {
        return Ok(());
    }
    if let Some(scheme) = s.strip_suffix(':') {
        return if is_scheme(scheme) {
            Ok(())
        } else {
            Err("malformed scheme")
        };
    }
    // A scheme is present only when "://" comes before the path.
    let path_start = s.find('/').unwrap_or(s.len());
    let rest = match s.find("://") {
        Some(i) if i < path_start => {
            if !is_scheme(&s[..i]) {
                return Err("malformed scheme");
            }
            &s[i + 3..]
        }
        _ => s,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(port) = port {
        if port != "*" && port.parse::<u16>().is_err() {
            return Err("malformed port");
        }
    }
    let labels = host.strip_prefix("*.").unwrap_or(host);
    let labels = labels.strip_suffix('.').unwrap_or(labels);
    let host_ok = host == "*"
        || (!labels.is_empty()
            && labels.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !host_ok {
        return Err("malformed host");
    }
    if !is_path(path) {
        return Err("a source's path takes only path characters (no query or fragment)");
    }
    Ok(())
}

/// `*( "/" / pchar )` with valid percent-encoding, and none of `;` `,` (checked before).
fn is_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
            continue;
        }
        let ok = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'/' | b'-'
                    | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b'='
                    | b':'
                    | b'@'
            );
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// A compiled policy: the text around its nonces.
#[derive(Clone, Debug)]
pub(crate) enum Template {
    /// No nonce: the header value, built once.
    Fixed(HeaderValue),
    /// Text segments to join with the request's nonce (at least two).
    Nonce(Box<[Box<str>]>),
}

impl Template {
    fn new(segments: Vec<String>) -> Result<Self, CspError> {
        if let [only] = segments.as_slice() {
            return HeaderValue::from_str(only)
                .map(Template::Fixed)
                .map_err(|_| CspError::InvalidHeaderValue);
        }
        Ok(Template::Nonce(
            segments.into_iter().map(String::into_boxed_str).collect(),
        ))
    }

    /// The header value for a response with `nonce`.
    pub(crate) fn render(&self, nonce: &CspNonce) -> HeaderValue {
        match self {
            Template::Fixed(value) => value.clone(),
            Template::Nonce(segments) => {
                let len = segments.iter().map(|s| s.len()).sum::<usize>()
                    + nonce.as_str().len() * (segments.len() - 1);
                let mut text = String::with_capacity(len);
                for (i, segment) in segments.iter().enumerate() {
                    if i > 0 {
                        text.push_str(nonce.as_str());
                    }
                    text.push_str(segment);
                }
                // The segments passed `check_source` and the nonce is base64url: the value is
                // always valid. Should it not be, fail closed rather than send no policy.
                HeaderValue::try_from(text)
                    .unwrap_or(HeaderValue::from_static("default-src 'none'"))
            }
        }
    }
}

const NONCE_BYTES: usize = 16;
const NONCE_LEN: usize = 22;

/// The CSP nonce of one response, in the request's extensions (an axum extractor under the
/// `axum` feature) when the policy has [`Source::Nonce`].
///
/// 128 bits from the thread-local CSPRNG, base64url without padding (22 characters). Use it as
/// the `nonce` attribute of the inline `<script>` and `<style>` elements the page may run:
///
/// ```
/// # use tower_shield::security_headers::CspNonce;
/// fn page(nonce: &CspNonce) -> String {
///     format!(r#"<script nonce="{nonce}">start()</script>"#)
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CspNonce([u8; NONCE_LEN]);

impl CspNonce {
    /// A fresh random nonce.
    pub fn generate() -> Self {
        let mut random = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut random);
        Self(base64url_16(&random))
    }

    /// The nonce, as it appears in the policy after `'nonce-`.
    pub fn as_str(&self) -> &str {
        // Base64url output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CspNonce").field(&self.as_str()).finish()
    }
}

impl fmt::Display for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn base64url_16(input: &[u8; NONCE_BYTES]) -> [u8; NONCE_LEN] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = [0u8; NONCE_LEN];
    let mut o = 0;
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out[o] = ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
            o += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(policy: &ContentSecurityPolicy) -> String {
        match policy.compile().unwrap() {
            Template::Fixed(v) => v.to_str().unwrap().to_owned(),
            Template::Nonce(_) => panic!("unexpected nonce"),
        }
    }

    fn invalid(source: &'static str) -> &'static str {
        match ContentSecurityPolicy::new()
            .script_src([Source::from(source)])
            .compile()
        {
            Err(CspError::InvalidSource { reason, .. }) => reason,
            other => panic!("{source:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn presets_render_the_documented_policies() {
        assert_eq!(
            fixed(&ContentSecurityPolicy::json_api()),
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(
            fixed(&ContentSecurityPolicy::web_app()),
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
             base-uri 'self'; form-action 'self'"
        );
    }

    #[test]
    fn every_part_renders_in_order() {
        let policy = ContentSecurityPolicy::new()
            .default_src([Source::SelfOrigin])
            .img_src(["https://*.example.com:8443/img/", "data:", "blob:"])
            .script_src(["'sha256-abc+/=' ", "x"].map(|s| Source::from(s.trim())))
            .script_src([
                Source::StrictDynamic,
                "'sha384-OqLDbBpKhvG3ScdXI2PdIX8ioAIFJXiVr8vRIaBmIUZKnuDTqFB8d6gA6mvEmTJV'".into(),
            ])
            .upgrade_insecure_requests()
            .sandbox(["allow-forms", "allow-scripts"])
            .require_trusted_types_for_script()
            .report_uri("/csp-report")
            .report_uri("https://reports.example.com/csp")
            .report_to("csp-endpoint");
        assert_eq!(
            fixed(&policy),
            "default-src 'self'; img-src https://*.example.com:8443/img/ data: blob:; \
             script-src 'strict-dynamic' 'sha384-OqLDbBpKhvG3ScdXI2PdIX8ioAIFJXiVr8vRIaBmIUZKnuDTqFB8d6gA6mvEmTJV'; upgrade-insecure-requests; \
             sandbox allow-forms allow-scripts; require-trusted-types-for 'script'; \
             report-uri /csp-report https://reports.example.com/csp; report-to csp-endpoint"
        );
    }

    #[test]
    fn nonce_slots_split_the_template() {
        let policy = ContentSecurityPolicy::new()
            .script_src([Source::SelfOrigin, Source::Nonce])
            .style_src([Source::Nonce]);
        assert!(policy.uses_nonce());
        let template = policy.compile().unwrap();
        let nonce = CspNonce::generate();
        let n = nonce.as_str();
        assert_eq!(
            template.render(&nonce).to_str().unwrap(),
            format!("script-src 'self' 'nonce-{n}'; style-src 'nonce-{n}'")
        );
    }

    #[test]
    fn injection_and_malformed_sources_are_refused() {
        assert_eq!(
            invalid("https://a.com; script-src *"),
            "';' and ',' would end the directive or the policy"
        );
        assert_eq!(
            invalid("https://a.com,b"),
            "';' and ',' would end the directive or the policy"
        );
        assert_eq!(
            invalid("https://a.com\nX-Injected: 1"),
            "whitespace, control and non-ASCII characters are not allowed"
        );
        assert_eq!(
            invalid("https://exämple.com"),
            "whitespace, control and non-ASCII characters are not allowed"
        );
        assert_eq!(
            invalid("self"),
            "keywords must be single-quoted (or use the Source variant)"
        );
        assert_eq!(
            invalid("nonce-abc123"),
            "nonces and hashes must be single-quoted"
        );
        assert_eq!(
            invalid("'nonce-abc123'"),
            "a fixed nonce defeats its purpose; use Source::Nonce for a fresh one"
        );
        assert_eq!(invalid("'sha256-!!'"), "the hash is not base64");
        assert_eq!(
            invalid("'sha256-abc'"),
            "the hash has the wrong length for its algorithm"
        );
        assert_eq!(
            invalid("'sha512-RFWPLDbv2BY+rCkDzsE+0fr8ylGr2R2faWMhq4lfEQc='"),
            "the hash has the wrong length for its algorithm"
        );
        assert_eq!(
            invalid("https://a.com/x?y"),
            "a source's path takes only path characters (no query or fragment)"
        );
        assert_eq!(
            invalid("https://a.com/x#frag"),
            "a source's path takes only path characters (no query or fragment)"
        );
        assert_eq!(
            invalid("https://a.com/%zz"),
            "a source's path takes only path characters (no query or fragment)"
        );
        assert_eq!(invalid("https://a.com:99999"), "malformed port");
        assert_eq!(invalid("'self"), "unbalanced quote");
        assert_eq!(invalid("'selfish'"), "unknown quoted keyword");
        assert_eq!(invalid("https://a.com:80x"), "malformed port");
        assert_eq!(invalid("https://a..com"), "malformed host");
        assert_eq!(invalid("1http://a.com"), "malformed scheme");
        assert_eq!(invalid(""), "empty");
    }

    #[test]
    fn valid_sources_the_grammar_allows() {
        let policy = ContentSecurityPolicy::new().script_src([
            "'sha256-RFWPLDbv2BY+rCkDzsE+0fr8ylGr2R2faWMhq4lfEQc='",
            "'sha384-OqLDbBpKhvG3ScdXI2PdIX8ioAIFJXiVr8vRIaBmIUZKnuDTqFB8d6gA6mvEmTJV'",
            "example.com.",
            "a.com/x://y",
            "https://cdn.example.com/js/app%20v1.js",
            "https://*.example.com:*",
        ]);
        assert!(policy.compile().is_ok(), "{:?}", policy.compile());
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            ContentSecurityPolicy::new()
                .default_src(["'none'".into(), Source::SelfOrigin])
                .compile()
                .unwrap_err(),
            CspError::NoneWithOtherSources(Directive::DefaultSrc)
        );
        assert_eq!(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .report_to("CSP")
                .compile()
                .unwrap_err(),
            CspError::InvalidReportTo("CSP".into())
        );
        assert_eq!(
            ContentSecurityPolicy::new()
                .default_src([Source::None, Source::SelfOrigin])
                .compile()
                .unwrap_err(),
            CspError::NoneWithOtherSources(Directive::DefaultSrc)
        );
        assert_eq!(
            ContentSecurityPolicy::new()
                .img_src(Vec::<Source>::new())
                .compile()
                .unwrap_err(),
            CspError::EmptySourceList(Directive::ImgSrc)
        );
        assert_eq!(
            ContentSecurityPolicy::new()
                .img_src([Source::Nonce])
                .compile()
                .unwrap_err(),
            CspError::NonceNotAllowed(Directive::ImgSrc)
        );
        assert!(matches!(
            ContentSecurityPolicy::new()
                .frame_ancestors([Source::UnsafeInline])
                .compile(),
            Err(CspError::InvalidSource {
                directive: Directive::FrameAncestors,
                ..
            })
        ));
        assert_eq!(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .report_uri("/a b")
                .compile()
                .unwrap_err(),
            CspError::InvalidReportUri("/a b".into())
        );
        assert_eq!(
            ContentSecurityPolicy::new()
                .default_src([Source::SelfOrigin])
                .report_to("a;b")
                .compile()
                .unwrap_err(),
            CspError::InvalidReportTo("a;b".into())
        );
        assert_eq!(
            ContentSecurityPolicy::new()
                .sandbox(["allow-everything"])
                .compile()
                .unwrap_err(),
            CspError::InvalidSandboxToken("allow-everything".into())
        );
        assert_eq!(
            ContentSecurityPolicy::new().compile().unwrap_err(),
            CspError::Empty
        );
    }

    #[test]
    fn setting_a_directive_again_replaces_it_in_place() {
        let policy = ContentSecurityPolicy::json_api().default_src([Source::SelfOrigin]);
        assert_eq!(fixed(&policy), "default-src 'self'; frame-ancestors 'none'");
    }

    #[test]
    fn nonces_are_base64url_and_distinct() {
        let a = CspNonce::generate();
        let b = CspNonce::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        // Known vector: 16 zero bytes, then 0xff bytes.
        assert_eq!(&base64url_16(&[0; 16]), b"AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(&base64url_16(&[0xff; 16]), b"_____________________w");
    }
}
