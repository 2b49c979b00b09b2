//! Directives and the sources they take, checked against the CSP3 grammar.

use std::borrow::Cow;
use std::fmt;

use crate::core::util::{is_scheme, parse_port};

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

    pub(super) fn accepts_nonce(self) -> bool {
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
    /// [`CspNonce`](super::CspNonce) request extension. Allowed in `default-src`, `script-src`,
    /// `script-src-elem`, `style-src` and `style-src-elem`.
    Nonce,
    /// A host, scheme or hash source, or a quoted keyword, as text.
    Expr(Cow<'static, str>),
}

impl Source {
    pub(super) fn keyword(&self) -> Option<&'static str> {
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

fn is_base64_value(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// Checks one textual source expression against the CSP3 grammar.
pub(super) fn check_source(s: &str) -> Result<(), &'static str> {
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
        // Source expressions are matched without case (CSP Level 3, section 2.3.1): browsers
        // read `'SELF'` as `'self'`.
        if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(inner)) {
            return Ok(());
        }
        if inner
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("nonce-"))
        {
            return Err("a fixed nonce defeats its purpose; use Source::Nonce for a fresh one");
        }
        for (alg, unpadded, padded) in [
            ("sha256-", 43, 44),
            ("sha384-", 64, 64),
            ("sha512-", 86, 88),
        ] {
            let prefixed = inner
                .get(..alg.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(alg));
            if let Some(hash) = inner.get(alg.len()..).filter(|_| prefixed) {
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
    if let Some(port) = port
        && port != "*"
        && parse_port(port).is_none()
    {
        return Err("malformed port");
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
