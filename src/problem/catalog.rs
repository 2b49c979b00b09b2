//! Every problem type of this crate, declared once: its slug, status and title.

use http::StatusCode;

use super::Problem;

/// The base of every problem `type` URI: the `problem` module's docs on docs.rs, one section
/// per slug. Written once, here.
macro_rules! docs_base {
    () => {
        "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#"
    };
}

/// The base of this crate's problem `type` URIs: a problem's type is this followed by its
/// slug, the anchor of its section in these docs.
pub const TYPE_BASE: &str = docs_base!();

/// Declares the catalog: one line per problem type (as axum-core's `define_rejection!`
/// declares a status beside its type).
macro_rules! define_problems {
    ($(
        $(#[$doc:meta])*
        $name:ident => $slug:literal, $status:ident, $title:literal;
    )*) => {
        /// A problem type of this crate: its slug (the anchor of its section in these docs), its
        /// HTTP status and its title, declared once.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ProblemType {
            $(
                $(#[$doc])*
                $name,
            )*
        }

        impl ProblemType {
            /// Every problem type, in the order of the docs.
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$name),*];

            /// The slug: `rate-limited`, `unauthorized`, ...
            pub const fn slug(self) -> &'static str {
                match self {
                    $(ProblemType::$name => $slug,)*
                }
            }

            /// The full `type` URI: [`TYPE_BASE`] followed by the slug.
            pub const fn type_uri(self) -> &'static str {
                match self {
                    $(ProblemType::$name => concat!(docs_base!(), $slug),)*
                }
            }

            /// The HTTP status.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ProblemType::$name => StatusCode::$status,)*
                }
            }

            /// The title: the same for every occurrence of the type (RFC 9457 §3.1.3).
            pub const fn title(self) -> &'static str {
                match self {
                    $(ProblemType::$name => $title,)*
                }
            }
        }
    };
}

define_problems! {
    /// A request id the layer is configured to reject.
    InvalidRequestId => "invalid-request-id", BAD_REQUEST, "Invalid request id";
    /// An `Origin` refused by a `CorsLayer` that rejects disallowed origins.
    CorsOriginNotAllowed => "cors-origin-not-allowed", FORBIDDEN, "Origin not allowed";
    /// A cross-origin request refused by a `CsrfLayer`.
    CrossOriginRequestRefused => "cross-origin-request-refused", FORBIDDEN, "Cross-origin request refused";
    /// A version the API does not serve.
    UnsupportedVersion => "unsupported-version", BAD_REQUEST, "Unsupported API version";
    /// A version source that holds no version number.
    InvalidVersion => "invalid-version", BAD_REQUEST, "Invalid API version";
    /// Two sources asking for different versions.
    ConflictingVersions => "conflicting-versions", BAD_REQUEST, "Conflicting API versions";
    /// No version where one is required.
    MissingVersion => "missing-version", BAD_REQUEST, "API version required";
    /// A retired version, or one past its sunset.
    VersionGone => "version-gone", GONE, "API version retired";
    /// No credential, or one that is not valid.
    Unauthorized => "unauthorized", UNAUTHORIZED, "Unauthorized";
    /// A credential sent in a malformed way: several `Authorization` headers, a scheme alone.
    InvalidAuthorization => "invalid-authorization", BAD_REQUEST, "Malformed Authorization";
    /// The credential could not be checked (the key set could not be loaded).
    AuthUnavailable => "auth-unavailable", SERVICE_UNAVAILABLE, "Authentication Unavailable";
    /// The credential was not checked: too many password checks are waiting for a hashing slot.
    AuthOverloaded => "auth-overloaded", SERVICE_UNAVAILABLE, "Authentication Overloaded";
    /// Too many failed credentials from this client or for this identity: the attempt was not
    /// checked.
    LoginThrottled => "login-throttled", TOO_MANY_REQUESTS, "Too Many Failed Attempts";
    /// An authenticated principal without the scope or role needed.
    InsufficientScope => "insufficient-scope", FORBIDDEN, "Forbidden";
    /// A spent rate limit.
    RateLimited => "rate-limited", TOO_MANY_REQUESTS, "Too Many Requests";
    /// The rate-limit store could not be reached and the layer fails closed.
    RateLimitUnavailable => "rate-limit-unavailable", SERVICE_UNAVAILABLE, "Service Unavailable";
    /// A request signature that is missing, malformed, stale, wrong or replayed.
    SignatureInvalid => "signature-invalid", UNAUTHORIZED, "Invalid signature";
    /// A body larger than a layer that reads it accepts.
    PayloadTooLarge => "payload-too-large", PAYLOAD_TOO_LARGE, "Content Too Large";
    /// The replay check of a signature could not be made.
    SignatureUnavailable => "signature-unavailable", SERVICE_UNAVAILABLE, "Signature Check Unavailable";
    /// A request body of a media type the route does not accept.
    UnsupportedMediaType => "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type";
    /// A request body that is not JSON where JSON is required.
    InvalidJson => "invalid-json", BAD_REQUEST, "Invalid JSON";
    /// A JSON request body that breaks the route's schema.
    ValidationFailed => "validation-failed", UNPROCESSABLE_ENTITY, "Validation Failed";
    /// A request body that could not be read.
    UnreadableBody => "unreadable-body", BAD_REQUEST, "Unreadable Request Body";
    /// A client address refused by an `IpFilterLayer`, or one it could not determine.
    IpNotAllowed => "ip-not-allowed", FORBIDDEN, "Client address not allowed";
    /// A server misconfiguration; the cause is logged, never sent.
    InternalError => "internal-error", INTERNAL_SERVER_ERROR, "Internal Server Error";
    /// A handler's server error (or panic) whose body an `ErrorHygieneLayer` replaced.
    ServerError => "server-error", INTERNAL_SERVER_ERROR, "Server error";
}

impl Problem {
    /// A problem of one of this crate's types: its `type` URI, status and title set.
    pub fn of(kind: ProblemType) -> Self {
        Problem::new(kind.status())
            .with_type(kind.type_uri())
            .with_title(kind.title())
    }
}

impl From<ProblemType> for Problem {
    fn from(kind: ProblemType) -> Self {
        Problem::of(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slug_has_its_section_in_the_module_docs() {
        let docs = include_str!("mod.rs");
        for kind in ProblemType::ALL {
            let heading = format!("//! ## {}\n", kind.slug());
            assert!(docs.contains(&heading), "no `## {}` section", kind.slug());
            let status = format!(
                "//! `{} {}`",
                kind.status().as_u16(),
                super::super::reason_phrase(kind.status())
            );
            let section = &docs[docs.find(&heading).unwrap()..];
            assert!(
                section[heading.len()..]
                    .trim_start_matches("//!\n")
                    .starts_with(&status),
                "the section of {} does not open with its status {status}",
                kind.slug()
            );
        }
    }

    #[test]
    fn slugs_are_unique_and_type_uris_are_the_base_and_the_slug() {
        let mut seen = std::collections::HashSet::new();
        for kind in ProblemType::ALL {
            assert!(seen.insert(kind.slug()), "{} twice", kind.slug());
            assert_eq!(kind.type_uri(), format!("{TYPE_BASE}{}", kind.slug()));
            let p = Problem::of(*kind);
            assert_eq!(
                (p.status(), p.title(), p.type_uri()),
                (kind.status(), kind.title(), kind.type_uri())
            );
        }
    }
}
