//! HTTP Basic authentication ([RFC 7617]): [`BasicAuth`] reads the
//! [`Authorization`](https://www.rfc-editor.org/rfc/rfc9110#section-11.6.2) header and asks a
//! [`PasswordVerifier`]; [`Argon2Users`] is one that holds Argon2 password hashes.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::auth::{Argon2Users, AuthLayer, AuthMethod, BasicAuth, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Hash the password once, when the account is made, and keep only the PHC string.
//! let hash = Argon2Users::hash_password("password123");
//! assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
//!
//! let users = Argon2Users::new();
//! users.insert("jane", &hash, Principal::builder("jane", AuthMethod::Basic).build())?;
//!
//! let app = Router::new()
//!     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
//!     .layer(AuthLayer::new(BasicAuth::new(users)));
//!
//! // `amFuZTpwYXNzd29yZDEyMw==` is `jane:password123` in base64.
//! let req = Request::get("/me")
//!     .header("authorization", "Basic amFuZTpwYXNzd29yZDEyMw==")
//!     .body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(req).await?.status(), StatusCode::OK);
//!
//! let res = app.oneshot(Request::get("/me").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], r#"Basic realm="api", charset="UTF-8""#);
//! # Ok(()) }
//! ```
//!
//! A realm that cannot be quoted in the challenge is a [`ConfigError`] of
//! [`BasicBuilder::build`].
//!
//! Basic credentials are a password sent with every request: serve them over HTTPS only, and
//! prefer API keys or tokens for machine clients.
//!
//! A password check is an Argon2 hash: tens of milliseconds of CPU and 19 MiB of memory.
//! [`Argon2Users`] runs at most one per CPU at once, each on a memory block it reuses, behind a
//! bounded queue: a flood of wrong passwords costs a bounded amount of memory, and what the
//! queue cannot take is answered `503` with `Retry-After` at once ([`Overloaded`]), so real
//! users never wait seconds behind it. [`Argon2Builder`] sets the numbers.
//!
//! [RFC 7617]: https://www.rfc-editor.org/rfc/rfc7617

mod argon2;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use super::{Answer, AuthError, AuthMethod, Authenticator, Outcome, Principal, RequestHead};

pub use self::argon2::{Argon2Builder, Argon2Users, InvalidPasswordHash};

/// The longest `Authorization` header looked at; longer Basic credentials are refused before
/// they are decoded.
const MAX_HEADER_LEN: usize = 4096;

const MULTIPLE: &str = "more than one Authorization header";
const TOO_LONG: &str = "credentials too long";
const MALFORMED: &str = "malformed Basic credentials";
const WRONG: &str = "invalid username or password";

/// Checks a username and password: where [`BasicAuth`] sends the credentials it decoded.
///
/// [`Argon2Users`] is provided. Implement it for a database or a directory; answer with
/// [`Answer::later`] when the check waits or is slow (a password hash belongs on a blocking
/// thread, not on the runtime's workers).
///
/// ```
/// use tower_shield::auth::{Answer, AuthMethod, BasicAuth, PasswordVerifier, Principal};
///
/// /// Asks the company directory (an LDAP bind, say).
/// struct Directory;
///
/// impl PasswordVerifier for Directory {
///     fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
///         let (username, password) = (username.to_owned(), password.to_owned());
///         Answer::later(async move {
///             let ok = ldap_bind(&username, &password).await;
///             ok.then(|| Principal::builder(username, AuthMethod::Basic).build())
///         })
///     }
/// }
/// # async fn ldap_bind(_: &str, _: &str) -> bool { false }
///
/// let auth = BasicAuth::new(Directory);
/// ```
pub trait PasswordVerifier: Send + Sync + 'static {
    /// The principal whose credentials these are, or `None` when the username is unknown or
    /// the password wrong. Which of the two must not show, neither in the answer nor in the
    /// time it takes.
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>>;

    /// What [`BasicAuth`] asks: [`verify`](Self::verify), or [`Overloaded`] when the check
    /// cannot run now (too many checks waiting), which `BasicAuth` answers with `503` and
    /// `Retry-After` instead of a `401`. The default calls `verify` and is never overloaded;
    /// [`Argon2Users`] bounds its queue here.
    fn try_verify(
        &self,
        username: &str,
        password: &str,
    ) -> Answer<Result<Option<Principal>, Overloaded>> {
        self.verify(username, password).map(Ok)
    }
}

impl<V: PasswordVerifier + ?Sized> PasswordVerifier for Arc<V> {
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        (**self).verify(username, password)
    }

    fn try_verify(
        &self,
        username: &str,
        password: &str,
    ) -> Answer<Result<Option<Principal>, Overloaded>> {
        (**self).try_verify(username, password)
    }
}

/// A [`PasswordVerifier`] too busy to check a password now: every hashing slot is taken and
/// the queue is full, or the wait for a slot was too long. The credential was not checked:
/// [`BasicAuth`] answers `503 Service Unavailable` with `Retry-After` (problem type
/// [`auth-overloaded`](crate::problem#auth-overloaded)), never a `401`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks waiting")]
pub struct Overloaded {
    retry_after: Duration,
}

impl Overloaded {
    /// Overloaded; a retry has a chance after `retry_after`.
    pub fn new(retry_after: Duration) -> Self {
        Self { retry_after }
    }

    /// When a retry has a chance.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

/// A string holding a secret, overwritten with zeros when dropped. Best effort: the request's
/// own `Authorization` header still holds the credentials in base64.
struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0).into_bytes());
    }
}

fn wipe(mut bytes: Vec<u8>) {
    let capacity = bytes.capacity();
    bytes.clear();
    bytes.resize(capacity, 0);
    std::hint::black_box(&bytes);
}

/// Decoded `user-id:password`.
struct Credentials {
    decoded: Secret,
    colon: usize,
}

impl Credentials {
    fn username(&self) -> &str {
        &self.decoded.0[..self.colon]
    }

    fn password(&self) -> &str {
        &self.decoded.0[self.colon + 1..]
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username())
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The Basic credentials of `headers`: `Ok(None)` when there is no `Authorization` header or
/// its scheme is not `Basic`, `Err(detail)` when they are not usable.
fn parse(headers: &HeaderMap) -> Result<Option<Credentials>, &'static str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => return Err(MULTIPLE),
        (Some(value), None) => value.as_bytes(),
    };
    // credentials = auth-scheme [ 1*SP token68 ] (RFC 9110 section 11.4).
    let (scheme, token) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Ok(None);
    }
    if value.len() > MAX_HEADER_LEN {
        return Err(TOO_LONG);
    }
    // The standard alphabet with canonical padding; whitespace inside is junk.
    let decoded = STANDARD.decode(token.trim_ascii()).map_err(|_| MALFORMED)?;
    let decoded = String::from_utf8(decoded).map_err(|e| {
        wipe(e.into_bytes());
        MALFORMED
    })?;
    let decoded = Secret(decoded);
    // The user-id cannot hold a colon; the password can (RFC 7617 section 2).
    let colon = decoded.0.find(':').ok_or(MALFORMED)?;
    // Neither may hold control characters (RFC 7617 section 2).
    if decoded.0.bytes().any(|b| b.is_ascii_control()) {
        return Err(MALFORMED);
    }
    Ok(Some(Credentials { decoded, colon }))
}

/// A configuration of [`BasicAuth`] that cannot work: what [`BasicBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The realm has characters that cannot sit in a quoted header parameter.
    #[error("realm `{0}` cannot be quoted in a header")]
    InvalidRealm(String),
}

/// Authenticates HTTP Basic credentials ([RFC 7617](https://www.rfc-editor.org/rfc/rfc7617))
/// with a [`PasswordVerifier`].
///
/// A request without an `Authorization` header, or with another scheme, is not this
/// authenticator's (it skips). A request with several `Authorization` headers, whatever their
/// schemes, is malformed: `400` (`invalid_request`), "more than one Authorization header".
/// An `Authorization: Basic` header (scheme in any case) is rejected with `401`:
/// - "credentials too long" when it is longer than 4 KiB;
/// - "malformed Basic credentials" when the token is not base64 (standard alphabet, padded),
///   does not decode to UTF-8, has no colon, or holds control characters;
/// - "invalid username or password" when the verifier says no, whichever was wrong.
///
/// A verifier that is [`Overloaded`] (too many password checks waiting: see
/// [`Argon2Builder`]) gets the request answered `503 Service Unavailable` with `Retry-After`
/// (problem type [`auth-overloaded`](crate::problem#auth-overloaded)): the credential was not
/// checked, so it is neither accepted nor refused.
///
/// The username ends at the first colon: passwords may hold colons. The challenge, on every
/// `401` of the layer, is
/// [`WWW-Authenticate`](https://developer.mozilla.org/docs/Web/HTTP/Headers/WWW-Authenticate)`:
/// Basic realm="api", charset="UTF-8"`.
///
/// ```
/// use tower_shield::auth::basic::ConfigError;
/// use tower_shield::auth::{Argon2Users, AuthLayer, BasicAuth};
///
/// let basic = BasicAuth::builder(Argon2Users::new()).realm("admin").build()?;
/// let layer = AuthLayer::new(basic);
///
/// let err = BasicAuth::builder(Argon2Users::new()).realm("a \"quoted\" realm").build();
/// assert!(matches!(err, Err(ConfigError::InvalidRealm(_))));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BasicAuth<V = Argon2Users> {
    verifier: V,
    challenge: HeaderValue,
}

impl<V: PasswordVerifier> BasicAuth<V> {
    /// Credentials checked by `verifier`, in realm `api`.
    pub fn new(verifier: V) -> Self {
        Self {
            verifier,
            challenge: HeaderValue::from_static(r#"Basic realm="api", charset="UTF-8""#),
        }
    }

    /// Configures more than the defaults of [`new`](Self::new).
    pub fn builder(verifier: V) -> BasicBuilder<V> {
        BasicBuilder {
            verifier,
            realm: "api".into(),
        }
    }

    /// The verifier.
    pub fn verifier(&self) -> &V {
        &self.verifier
    }
}

fn rejected(detail: &'static str) -> Outcome {
    // Several headers: the request is malformed (`400`), no credential was checked.
    if detail == MULTIPLE {
        return Outcome::Rejected(AuthError::invalid_request(AuthMethod::Basic, detail));
    }
    Outcome::Rejected(AuthError::invalid(AuthMethod::Basic, detail))
}

impl<V: PasswordVerifier> Authenticator for BasicAuth<V> {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        let credentials = match parse(req.headers()) {
            Ok(Some(credentials)) => credentials,
            Ok(None) => return Answer::Ready(Outcome::Skip),
            Err(detail) => return Answer::Ready(rejected(detail)),
        };
        self.verifier
            .try_verify(credentials.username(), credentials.password())
            .map(|found| match found {
                Ok(Some(principal)) => Outcome::Authenticated(principal),
                Ok(None) => rejected(WRONG),
                Err(overloaded) => Outcome::Rejected(AuthError::overloaded(
                    AuthMethod::Basic,
                    overloaded.retry_after(),
                )),
            })
    }

    fn challenge(&self, _failure: Option<&AuthError>) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }

    /// The user name of well-formed Basic credentials.
    fn claimed_identity(&self, req: &RequestHead<'_>) -> Option<String> {
        parse(req.headers())
            .ok()
            .flatten()
            .map(|c| c.username().to_owned())
    }
}

/// Builds a [`BasicAuth`]; see [`BasicAuth::builder`].
#[derive(Debug)]
#[must_use]
pub struct BasicBuilder<V> {
    verifier: V,
    realm: String,
}

impl<V: PasswordVerifier> BasicBuilder<V> {
    /// The realm of the `WWW-Authenticate: Basic` challenge (default `api`), which browsers
    /// show in their login prompt and use to scope remembered credentials.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The authenticator.
    ///
    /// # Errors
    ///
    /// When the realm has a character that cannot sit in a quoted header parameter (`"`,
    /// `\`, a control character or non-ASCII).
    pub fn build(self) -> Result<BasicAuth<V>, ConfigError> {
        if !super::is_quotable(&self.realm) {
            return Err(ConfigError::InvalidRealm(self.realm));
        }
        let challenge = super::challenge("Basic", &self.realm, &[("charset", "UTF-8")])
            .ok_or(ConfigError::InvalidRealm(self.realm))?;
        Ok(BasicAuth {
            verifier: self.verifier,
            challenge,
        })
    }
}

#[cfg(test)]
mod tests;
