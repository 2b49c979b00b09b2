//! Who made a request: [`Principal`], [`AuthMethod`], [`Tier`], [`Scopes`].

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// How a [`Principal`] was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// No credential was presented; the [`AuthLayer`](super::AuthLayer) lets such requests
    /// through as the anonymous principal.
    Anonymous,
    /// An API key ([`ApiKeyAuth`](super::ApiKeyAuth)).
    ApiKey,
    /// HTTP Basic (`BasicAuth`, feature `basic`).
    Basic,
    /// A Bearer JSON Web Token (`JwtAuth`, feature `jwt`).
    Jwt,
    /// An opaque Bearer token checked by an authenticator of yours (introspection, database).
    BearerToken,
    /// A verified request signature (`SignatureLayer`, feature `signature`): the subject is the
    /// key's owner.
    Signature,
    /// A client certificate on a mutual TLS connection (`MtlsAuth`, feature `mtls`).
    Mtls,
    /// Any other method of an authenticator of yours.
    Custom(&'static str),
}

impl AuthMethod {
    /// The method's name as it appears in logs and JSON: `anonymous`, `api_key`, `basic`,
    /// `jwt`, `bearer_token`, `signature`, `mtls`, or the custom name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::Jwt => "jwt",
            Self::BearerToken => "bearer_token",
            Self::Signature => "signature",
            Self::Mtls => "mtls",
            Self::Custom(name) => name,
        }
    }

    /// Whether the credential came in an `Authorization: Bearer` header, so that
    /// authorization failures answer per [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750).
    pub fn is_bearer(&self) -> bool {
        matches!(self, Self::Jwt | Self::BearerToken)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The plan a principal is on, which rate limits key their quotas by.
///
/// Four tiers are named after the design documents' table ([`ANONYMOUS`](Self::ANONYMOUS),
/// [`AUTHENTICATED`](Self::AUTHENTICATED), [`PREMIUM`](Self::PREMIUM),
/// [`INTERNAL`](Self::INTERNAL)); any other name is a tier too.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tier(Cow<'static, str>);

impl Tier {
    /// Requests without a credential.
    pub const ANONYMOUS: Tier = Tier(Cow::Borrowed("anonymous"));
    /// The default for an authenticated principal.
    pub const AUTHENTICATED: Tier = Tier(Cow::Borrowed("authenticated"));
    /// A paid plan with higher limits.
    pub const PREMIUM: Tier = Tier(Cow::Borrowed("premium"));
    /// Your own services.
    pub const INTERNAL: Tier = Tier(Cow::Borrowed("internal"));

    /// A tier named `name`.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        match &*name {
            "anonymous" => Self::ANONYMOUS,
            "authenticated" => Self::AUTHENTICATED,
            "premium" => Self::PREMIUM,
            "internal" => Self::INTERNAL,
            _ => Self(name),
        }
    }

    /// The tier's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&'static str> for Tier {
    fn from(name: &'static str) -> Self {
        Self::new(name)
    }
}

impl From<String> for Tier {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

/// A set of scopes (or roles): `read:posts`, `write:posts`, ...
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scopes(Box<[Box<str>]>);

impl Scopes {
    /// The scopes of an OAuth 2.0 `scope` value: space-separated, duplicates dropped.
    pub fn parse(space_separated: &str) -> Self {
        space_separated.split_ascii_whitespace().collect()
    }

    /// Whether `scope` is in the set (exact, case-sensitive, as OAuth scopes are).
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| &**s == scope)
    }

    /// The scopes, in the order given.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// How many scopes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out: Vec<Box<str>> = Vec::new();
        for s in iter {
            let s = s.as_ref();
            if !s.is_empty() && !out.iter().any(|o| &**o == s) {
                out.push(s.into());
            }
        }
        Self(out.into_boxed_slice())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, as in an OAuth 2.0 `scope` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// Who made a request, as an [`AuthLayer`](super::AuthLayer) established it: put into the
/// request's extensions for the layers and handlers inside.
///
/// Cheap to clone (one reference count). With the `axum` feature it is an extractor, and
/// `Option<Principal>` too; [`Claims<T>`](super::Claims) extracts a JWT's claims typed.
///
/// ```
/// use tower_shield::auth::{AuthMethod, Principal, Tier};
///
/// let principal = Principal::builder("demo-app", AuthMethod::ApiKey)
///     .scopes(["read:posts", "write:posts"])
///     .tier(Tier::PREMIUM)
///     .build();
/// assert!(principal.has_scope("read:posts"));
/// assert_eq!(
///     serde_json::to_string(&principal).unwrap(),
///     r#"{"subject":"demo-app","method":"api_key","tier":"premium","scopes":["read:posts","write:posts"]}"#
/// );
/// ```
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

struct Inner {
    subject: Box<str>,
    method: AuthMethod,
    tier: Tier,
    scopes: Scopes,
    roles: Scopes,
    key_id: Option<Box<str>>,
    claims: Option<serde_json::Value>,
}

impl Principal {
    /// Starts a principal for `subject`, authenticated by `method`, on the
    /// [`AUTHENTICATED`](Tier::AUTHENTICATED) tier with no scopes.
    pub fn builder(subject: impl Into<Box<str>>, method: AuthMethod) -> PrincipalBuilder {
        PrincipalBuilder {
            inner: Inner {
                subject: subject.into(),
                method,
                tier: Tier::AUTHENTICATED,
                scopes: Scopes::default(),
                roles: Scopes::default(),
                key_id: None,
                claims: None,
            },
        }
    }

    /// The principal of a request without a credential: subject `anonymous`, method and tier
    /// [`Anonymous`](AuthMethod::Anonymous), no scopes.
    pub fn anonymous() -> Self {
        static ANONYMOUS: OnceLock<Principal> = OnceLock::new();
        ANONYMOUS
            .get_or_init(|| {
                let mut builder = Principal::builder("anonymous", AuthMethod::Anonymous);
                builder.inner.tier = Tier::ANONYMOUS;
                builder.build()
            })
            .clone()
    }

    /// Who: an application's or a user's id, a token's `sub`.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// How it was authenticated.
    pub fn method(&self) -> AuthMethod {
        self.0.method
    }

    /// Whether this is the anonymous principal (no credential presented).
    pub fn is_anonymous(&self) -> bool {
        self.0.method == AuthMethod::Anonymous
    }

    /// The plan the principal is on.
    pub fn tier(&self) -> &Tier {
        &self.0.tier
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &Scopes {
        &self.0.scopes
    }

    /// Whether `scope` is granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.contains(scope)
    }

    /// The roles held.
    pub fn roles(&self) -> &Scopes {
        &self.0.roles
    }

    /// Whether `role` is held.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.contains(role)
    }

    /// The id of the credential used, when it has one that is not secret (an API key's id, a
    /// JWT's `kid`): useful in audit logs to tell rotated keys apart.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }

    /// A JWT's claims, untyped.
    pub fn raw_claims(&self) -> Option<&serde_json::Value> {
        self.0.claims.as_ref()
    }

    /// A JWT's claims as a `T`.
    ///
    /// # Errors
    ///
    /// When the principal has no claims (it was not authenticated by a JWT) or the claims do
    /// not deserialize into `T`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, ClaimsError> {
        let claims = self.0.claims.as_ref().ok_or(ClaimsError::NoClaims)?;
        T::deserialize(claims).map_err(|e| ClaimsError::Shape(Arc::new(e)))
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.0.subject)
            .field("method", &self.0.method)
            .field("tier", &self.0.tier)
            .field("scopes", &self.0.scopes)
            .field("roles", &self.0.roles)
            .field("key_id", &self.0.key_id)
            .finish_non_exhaustive()
    }
}

/// `{"subject", "method", "tier", "scopes"}`, plus `roles` when there are any. Claims and key
/// ids are left out.
impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let roles = !self.0.roles.is_empty();
        let mut s = serializer.serialize_struct("Principal", 4 + usize::from(roles))?;
        s.serialize_field("subject", &*self.0.subject)?;
        s.serialize_field("method", self.0.method.as_str())?;
        s.serialize_field("tier", self.0.tier.as_str())?;
        s.serialize_field("scopes", &self.0.scopes)?;
        if roles {
            s.serialize_field("roles", &self.0.roles)?;
        }
        s.end()
    }
}

/// Builds a [`Principal`]; see [`Principal::builder`].
#[must_use]
pub struct PrincipalBuilder {
    inner: Inner,
}

impl fmt::Debug for PrincipalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalBuilder")
            .field("subject", &self.inner.subject)
            .finish_non_exhaustive()
    }
}

impl PrincipalBuilder {
    /// The plan (default [`Tier::AUTHENTICATED`]).
    pub fn tier(mut self, tier: impl Into<Tier>) -> Self {
        self.inner.tier = tier.into();
        self
    }

    /// The scopes granted.
    pub fn scopes<S: AsRef<str>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.inner.scopes = scopes.into_iter().collect();
        self
    }

    /// The roles held.
    pub fn roles<S: AsRef<str>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.inner.roles = roles.into_iter().collect();
        self
    }

    /// The non-secret id of the credential used.
    pub fn key_id(mut self, key_id: impl Into<Box<str>>) -> Self {
        self.inner.key_id = Some(key_id.into());
        self
    }

    /// A token's claims.
    pub fn claims(mut self, claims: serde_json::Value) -> Self {
        self.inner.claims = Some(claims);
        self
    }

    /// The principal.
    pub fn build(self) -> Principal {
        Principal(Arc::new(self.inner))
    }
}

/// Why [`Principal::claims`] has no `T` to give.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClaimsError {
    /// The principal was not authenticated by a token with claims.
    NoClaims,
    /// The claims do not have the shape of the type asked for.
    Shape(Arc<serde_json::Error>),
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoClaims => f.write_str("the principal has no token claims"),
            Self::Shape(e) => write!(f, "the token's claims do not match: {e}"),
        }
    }
}

impl std::error::Error for ClaimsError {}

/// A JWT's claims deserialized into `T`: an axum extractor (feature `axum`) and a plain
/// wrapper otherwise.
///
/// Extracting answers `401` (an `invalid_token` problem) when the principal has no claims or
/// they do not have `T`'s shape: the token is not one this route accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims<T>(pub T);

#[cfg(test)]
mod tests;
