//! A typed builder for [`Content-Security-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy)
//! (CSP Level 3), checked when the layer is built.

mod directive;
mod nonce;

use std::fmt;

pub use directive::{Directive, Source};
pub use nonce::CspNonce;
pub(crate) use nonce::Template;

use directive::check_source;

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
    /// A report-only policy with `upgrade-insecure-requests`, which browsers ignore there (CSP
    /// Level 3's upgrade-insecure-requests section: only an enforced policy upgrades).
    UpgradeInReportOnly,
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
            Self::UpgradeInReportOnly => {
                f.write_str("upgrade-insecure-requests is ignored in a report-only policy")
            }
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

    /// Adds (`true`) or drops `upgrade-insecure-requests`.
    pub fn upgrade_insecure_requests(mut self, on: bool) -> Self {
        self.upgrade_insecure_requests = on;
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

    /// Adds (`true`) or drops `require-trusted-types-for 'script'`.
    pub fn require_trusted_types_for_script(mut self, on: bool) -> Self {
        self.require_trusted_types_for_script = on;
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

    /// Whether the policy upgrades insecure requests.
    pub(crate) fn upgrades(&self) -> bool {
        self.upgrade_insecure_requests
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
                Source::Expr(text) => text.eq_ignore_ascii_case("'none'"),
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
                    && !text.eq_ignore_ascii_case("'self'")
                    && !text.eq_ignore_ascii_case("'none'")
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

#[cfg(test)]
mod tests;
