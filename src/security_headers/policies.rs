//! Typed values of the security headers other than CSP.

use std::fmt;
use std::time::Duration;

/// [`Strict-Transport-Security`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Strict-Transport-Security)
/// ([RFC 6797](https://www.rfc-editor.org/rfc/rfc6797)).
///
/// ```
/// use std::time::Duration;
/// use tower_shield::security_headers::Hsts;
///
/// let one_year = Hsts::new(Duration::from_secs(31_536_000)).include_subdomains(true);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Hsts {
    max_age: u64,
    include_subdomains: bool,
    preload: bool,
}

/// The shortest `max-age` the HSTS preload list accepts: one year.
pub const HSTS_PRELOAD_MIN_AGE: Duration = Duration::from_secs(31_536_000);

impl Hsts {
    /// HSTS for `max_age` (whole seconds), this host only. A zero max-age tells browsers to
    /// forget the policy.
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age: max_age.as_secs(),
            include_subdomains: false,
            preload: false,
        }
    }

    /// `max-age=31536000; includeSubDomains; preload`: the value the design documents recommend.
    ///
    /// `preload` is consent to be put in the browsers' built-in HTTPS-only list (once submitted
    /// at hstspreload.org); leaving the list takes months. Use [`Hsts::new`] without
    /// [`preload`](Self::preload) if every subdomain is not yet served over HTTPS.
    pub fn recommended() -> Self {
        Self::new(HSTS_PRELOAD_MIN_AGE)
            .include_subdomains(true)
            .preload(true)
    }

    /// Adds (`true`) or drops `includeSubDomains`.
    pub fn include_subdomains(mut self, on: bool) -> Self {
        self.include_subdomains = on;
        self
    }

    /// Adds (`true`) or drops `preload`. The layer refuses to build a `preload` policy unless
    /// `includeSubDomains` is set and the max-age is at least [`HSTS_PRELOAD_MIN_AGE`], the
    /// list's own requirements.
    pub fn preload(mut self, on: bool) -> Self {
        self.preload = on;
        self
    }

    pub(crate) fn is_preloadable(&self) -> bool {
        !self.preload || (self.include_subdomains && self.max_age >= HSTS_PRELOAD_MIN_AGE.as_secs())
    }
}

impl fmt::Display for Hsts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "max-age={}", self.max_age)?;
        if self.include_subdomains {
            f.write_str("; includeSubDomains")?;
        }
        if self.preload {
            f.write_str("; preload")?;
        }
        Ok(())
    }
}

macro_rules! keyword_enum {
    (
        $(#[$doc:meta])*
        $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The header value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum! {
    /// [`X-Frame-Options`](https://developer.mozilla.org/docs/Web/HTTP/Headers/X-Frame-Options),
    /// for browsers that predate CSP `frame-ancestors`. `ALLOW-FROM` is obsolete and not offered.
    FrameOptions {
        /// `DENY`: never framed.
        Deny => "DENY",
        /// `SAMEORIGIN`: framed by pages of the same origin only.
        SameOrigin => "SAMEORIGIN",
    }
}

keyword_enum! {
    /// [`Referrer-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Referrer-Policy).
    ReferrerPolicy {
        /// `no-referrer`
        NoReferrer => "no-referrer",
        /// `no-referrer-when-downgrade`
        NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
        /// `origin`
        Origin => "origin",
        /// `origin-when-cross-origin`
        OriginWhenCrossOrigin => "origin-when-cross-origin",
        /// `same-origin`
        SameOrigin => "same-origin",
        /// `strict-origin`
        StrictOrigin => "strict-origin",
        /// `strict-origin-when-cross-origin`
        StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
        /// `unsafe-url`: leaks full URLs, paths and queries included, to every site.
        UnsafeUrl => "unsafe-url",
    }
}

keyword_enum! {
    /// [`Cross-Origin-Opener-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Opener-Policy).
    CrossOriginOpenerPolicy {
        /// `same-origin`
        SameOrigin => "same-origin",
        /// `same-origin-allow-popups`
        SameOriginAllowPopups => "same-origin-allow-popups",
        /// `noopener-allow-popups`
        NoopenerAllowPopups => "noopener-allow-popups",
        /// `unsafe-none`
        UnsafeNone => "unsafe-none",
    }
}

keyword_enum! {
    /// [`Cross-Origin-Resource-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Resource-Policy).
    CrossOriginResourcePolicy {
        /// `same-origin`
        SameOrigin => "same-origin",
        /// `same-site`
        SameSite => "same-site",
        /// `cross-origin`
        CrossOrigin => "cross-origin",
    }
}

keyword_enum! {
    /// [`Cross-Origin-Embedder-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Embedder-Policy).
    CrossOriginEmbedderPolicy {
        /// `require-corp`
        RequireCorp => "require-corp",
        /// `credentialless`
        Credentialless => "credentialless",
        /// `unsafe-none`
        UnsafeNone => "unsafe-none",
    }
}

/// Who may use a browser feature under a [`PermissionsPolicy`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allow {
    /// `self`: the page's own origin.
    SelfOrigin,
    /// `*`: every origin.
    Any,
    /// One origin, such as `https://maps.example.com`.
    Origin(String),
}

impl From<&str> for Allow {
    fn from(origin: &str) -> Self {
        Self::Origin(origin.to_owned())
    }
}

impl From<String> for Allow {
    fn from(origin: String) -> Self {
        Self::Origin(origin)
    }
}

/// [`Permissions-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Permissions-Policy):
/// which browser features (camera, microphone, geolocation, ...) the page and its frames may use.
///
/// ```
/// use tower_shield::security_headers::{Allow, PermissionsPolicy};
///
/// let policy = PermissionsPolicy::new()
///     .deny("camera")
///     .deny("microphone")
///     .allow("geolocation", [Allow::SelfOrigin, "https://maps.example.com".into()]);
/// // camera=(), microphone=(), geolocation=(self "https://maps.example.com")
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct PermissionsPolicy {
    features: Vec<(String, Vec<Allow>)>,
}

/// Why a [`PermissionsPolicy`] was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionsPolicyError {
    /// A feature name that is not lowercase letters, digits and `-`.
    InvalidFeature(String),
    /// An origin that is not `scheme://host[:port]`.
    InvalidOrigin(String),
    /// The policy names no feature.
    Empty,
}

impl fmt::Display for PermissionsPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidFeature(name) => write!(f, "invalid Permissions-Policy feature {name:?}"),
            Self::InvalidOrigin(origin) => {
                write!(
                    f,
                    "invalid Permissions-Policy origin {origin:?}: expected scheme://host[:port]"
                )
            }
            Self::Empty => f.write_str("the permissions policy names no feature"),
        }
    }
}

impl std::error::Error for PermissionsPolicyError {}

impl PermissionsPolicy {
    /// An empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// `camera=(), microphone=(), geolocation=()`: the design documents' recommendation.
    pub fn recommended() -> Self {
        Self::new()
            .deny("camera")
            .deny("microphone")
            .deny("geolocation")
    }

    /// Denies `feature` to everyone: `feature=()`.
    pub fn deny(self, feature: impl Into<String>) -> Self {
        self.allow(feature, Vec::<Allow>::new())
    }

    /// Allows `feature` to the page's own origin only: `feature=(self)`.
    pub fn allow_self(self, feature: impl Into<String>) -> Self {
        self.allow(feature, [Allow::SelfOrigin])
    }

    /// Allows `feature` to the given origins. Setting a feature again replaces its list.
    pub fn allow<I>(mut self, feature: impl Into<String>, allowlist: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Allow>,
    {
        let feature = feature.into();
        let list: Vec<Allow> = allowlist.into_iter().map(Into::into).collect();
        match self.features.iter_mut().find(|(f, _)| *f == feature) {
            Some((_, existing)) => *existing = list,
            None => self.features.push((feature, list)),
        }
        self
    }

    /// The header value, checked.
    pub(crate) fn render(&self) -> Result<String, PermissionsPolicyError> {
        if self.features.is_empty() {
            return Err(PermissionsPolicyError::Empty);
        }
        let mut out = String::new();
        for (i, (feature, list)) in self.features.iter().enumerate() {
            let valid_name = feature
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase())
                && feature
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid_name {
                return Err(PermissionsPolicyError::InvalidFeature(feature.clone()));
            }
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(feature);
            if list == &[Allow::Any] {
                out.push_str("=*");
                continue;
            }
            out.push_str("=(");
            for (j, allow) in list.iter().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                match allow {
                    Allow::SelfOrigin => out.push_str("self"),
                    Allow::Any => out.push('*'),
                    Allow::Origin(origin) => {
                        if !is_origin(origin) {
                            return Err(PermissionsPolicyError::InvalidOrigin(origin.clone()));
                        }
                        out.push('"');
                        out.push_str(origin);
                        out.push('"');
                    }
                }
            }
            out.push(')');
        }
        Ok(out)
    }
}

/// `scheme://host[:port]` (the left-most label may be `*`), with nothing that could end a
/// structured-field string.
pub(crate) fn is_origin(s: &str) -> bool {
    crate::core::util::split_origin(s).is_some()
}
