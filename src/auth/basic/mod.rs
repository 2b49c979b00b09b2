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
//! Basic credentials are a password sent with every request: serve them over HTTPS only, and
//! prefer API keys or tokens for machine clients.
//!
//! [RFC 7617]: https://www.rfc-editor.org/rfc/rfc7617

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use tokio::sync::Semaphore;

use super::{Answer, AuthError, AuthMethod, Authenticator, Outcome, Principal, RequestHead};

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
}

impl<V: PasswordVerifier + ?Sized> PasswordVerifier for Arc<V> {
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        (**self).verify(username, password)
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

/// A configuration of [`BasicAuth`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BasicConfigError {
    /// The realm has characters that cannot sit in a quoted header parameter.
    InvalidRealm(String),
}

impl fmt::Display for BasicConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRealm(r) => write!(f, "realm `{r}` cannot be quoted in a header"),
        }
    }
}

impl std::error::Error for BasicConfigError {}

/// Authenticates HTTP Basic credentials ([RFC 7617](https://www.rfc-editor.org/rfc/rfc7617))
/// with a [`PasswordVerifier`].
///
/// A request without an `Authorization` header, or with another scheme, is not this
/// authenticator's (it skips). An `Authorization: Basic` header (scheme in any case) is
/// rejected with `401`:
/// - "more than one Authorization header" when the request has several;
/// - "credentials too long" when it is longer than 4 KiB;
/// - "malformed Basic credentials" when the token is not base64 (standard alphabet, padded),
///   does not decode to UTF-8, has no colon, or holds control characters;
/// - "invalid username or password" when the verifier says no, whichever was wrong.
///
/// The username ends at the first colon: passwords may hold colons. The challenge, on every
/// `401` of the layer, is
/// [`WWW-Authenticate`](https://developer.mozilla.org/docs/Web/HTTP/Headers/WWW-Authenticate)`:
/// Basic realm="api", charset="UTF-8"`.
///
/// ```
/// use tower_shield::auth::{Argon2Users, AuthLayer, BasicAuth, BasicConfigError};
///
/// let basic = BasicAuth::builder(Argon2Users::new()).realm("admin").build()?;
/// let layer = AuthLayer::new(basic);
///
/// let err = BasicAuth::builder(Argon2Users::new()).realm("a \"quoted\" realm").build();
/// assert!(matches!(err, Err(BasicConfigError::InvalidRealm(_))));
/// # Ok::<(), BasicConfigError>(())
/// ```
#[derive(Clone)]
pub struct BasicAuth<V = Argon2Users> {
    verifier: V,
    challenge: HeaderValue,
}

impl<V: fmt::Debug> fmt::Debug for BasicAuth<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("verifier", &self.verifier)
            .field("challenge", &self.challenge)
            .finish()
    }
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
            .verify(credentials.username(), credentials.password())
            .map(|found| match found {
                Some(principal) => Outcome::Authenticated(principal),
                None => rejected(WRONG),
            })
    }

    fn challenge(&self, _failure: Option<&AuthError>) -> Option<HeaderValue> {
        Some(self.challenge.clone())
    }
}

/// Builds a [`BasicAuth`]; see [`BasicAuth::builder`].
#[must_use]
pub struct BasicBuilder<V> {
    verifier: V,
    realm: String,
}

impl<V: fmt::Debug> fmt::Debug for BasicBuilder<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicBuilder")
            .field("verifier", &self.verifier)
            .field("realm", &self.realm)
            .finish()
    }
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
    pub fn build(self) -> Result<BasicAuth<V>, BasicConfigError> {
        if !super::is_quotable(&self.realm) {
            return Err(BasicConfigError::InvalidRealm(self.realm));
        }
        let challenge = super::challenge("Basic", &self.realm, &[("charset", "UTF-8")])
            .ok_or(BasicConfigError::InvalidRealm(self.realm))?;
        Ok(BasicAuth {
            verifier: self.verifier,
            challenge,
        })
    }
}

/// Why [`Argon2Users::insert`] refused a password hash. Never shows the hash.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidPasswordHash {
    /// Not a [PHC string](https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md)
    /// (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    Malformed,
    /// A PHC string of another algorithm than `argon2id`, `argon2i` or `argon2d` (its
    /// identifier).
    UnsupportedAlgorithm(String),
    /// The version or the parameters are outside what Argon2 accepts, or the salt is shorter
    /// than 8 bytes.
    InvalidParameters,
    /// The string has no salt or no hash output (parameters only).
    Incomplete,
}

impl fmt::Display for InvalidPasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("not a PHC password hash string"),
            Self::UnsupportedAlgorithm(alg) => {
                write!(f, "`{alg}` hashes are not supported; only Argon2 is")
            }
            Self::InvalidParameters => f.write_str("invalid Argon2 version, parameters or salt"),
            Self::Incomplete => f.write_str("the password hash string has no salt or no hash"),
        }
    }
}

impl std::error::Error for InvalidPasswordHash {}

/// An Argon2 hash, parsed once.
struct Stored {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Box<[u8]>,
    output: Box<[u8]>,
    #[cfg(test)]
    hashed: std::sync::atomic::AtomicUsize,
}

impl Stored {
    fn new(
        algorithm: Algorithm,
        version: Version,
        params: Params,
        salt: Box<[u8]>,
        output: Box<[u8]>,
    ) -> Self {
        Self {
            algorithm,
            version,
            params,
            salt,
            output,
            #[cfg(test)]
            hashed: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn parse(phc: &str) -> Result<Self, InvalidPasswordHash> {
        let hash = PasswordHash::new(phc).map_err(|_| InvalidPasswordHash::Malformed)?;
        let algorithm = Algorithm::try_from(hash.algorithm)
            .map_err(|_| InvalidPasswordHash::UnsupportedAlgorithm(hash.algorithm.to_string()))?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).map_err(|_| InvalidPasswordHash::InvalidParameters)?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).map_err(|_| InvalidPasswordHash::InvalidParameters)?;
        let (Some(salt), Some(output)) = (hash.salt, hash.hash) else {
            return Err(InvalidPasswordHash::Incomplete);
        };
        let mut buf = [0u8; 64];
        let salt = salt
            .decode_b64(&mut buf)
            .map_err(|_| InvalidPasswordHash::InvalidParameters)?;
        if salt.len() < argon2::MIN_SALT_LEN {
            return Err(InvalidPasswordHash::InvalidParameters);
        }
        Ok(Self::new(
            algorithm,
            version,
            params,
            salt.into(),
            output.as_bytes().into(),
        ))
    }

    /// A hash nobody's password matches, that costs what this one costs to check.
    fn dummy_like(&self) -> Self {
        let mut salt = vec![0u8; self.salt.len()];
        let mut output = vec![0u8; self.output.len()];
        let mut rng = rand::rng();
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut output);
        Self::new(
            self.algorithm,
            self.version,
            self.params.clone(),
            salt.into(),
            output.into(),
        )
    }

    /// The dummy of a set without users: what [`Argon2Users::hash_password`] makes.
    fn default_dummy() -> Self {
        // Parsed hashes carry their output length in their parameters; so does this one.
        let params = Params::new(
            Params::DEFAULT_M_COST,
            Params::DEFAULT_T_COST,
            Params::DEFAULT_P_COST,
            Some(Params::DEFAULT_OUTPUT_LEN),
        )
        .unwrap_or(Params::DEFAULT);
        let template = Self::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params,
            Box::new([0; argon2::RECOMMENDED_SALT_LEN]),
            Box::new([0; Params::DEFAULT_OUTPUT_LEN]),
        );
        template.dummy_like()
    }

    fn same_cost(&self, other: &Stored) -> bool {
        self.algorithm == other.algorithm
            && self.version == other.version
            && self.params == other.params
            && self.salt.len() == other.salt.len()
            && self.output.len() == other.output.len()
    }

    /// Hashes `password` and compares, in constant time.
    fn matches(&self, password: &[u8]) -> Choice {
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let mut out = vec![0u8; self.output.len()];
        if argon2
            .hash_password_into(password, &self.salt, &mut out)
            .is_err()
        {
            return Choice::from(0);
        }
        #[cfg(test)]
        self.hashed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        out.ct_eq(&self.output)
    }
}

struct Entry {
    name: Box<str>,
    digest: [u8; 32],
    hash: Stored,
    principal: Principal,
}

/// One snapshot of the users.
#[derive(Clone)]
struct Users {
    entries: Vec<Arc<Entry>>,
    dummy: Arc<Stored>,
    dummy_from_user: bool,
}

impl Users {
    /// The principal, when `username` is a user and `password` is theirs. Every name is
    /// compared (in constant time) and exactly one hash is computed, known user or not.
    fn check(&self, username: &str, password: &[u8]) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(username.as_bytes()).into();
        let mut index = 0u64;
        let mut found = Choice::from(0);
        for (i, entry) in self.entries.iter().enumerate() {
            let same = entry.digest.ct_eq(&digest);
            index.conditional_assign(&(i as u64), same);
            found |= same;
        }
        let entry = self.entries.get(index as usize);
        let stored = match entry {
            Some(entry) if bool::from(found) => &entry.hash,
            _ => &*self.dummy,
        };
        let matched = stored.matches(password);
        if bool::from(found & matched) {
            entry.map(|e| e.principal.clone())
        } else {
            None
        }
    }
}

/// How many Argon2 hashes run at once when no limit is set: the available parallelism.
fn shared_limit() -> Arc<Semaphore> {
    static SHARED: OnceLock<Arc<Semaphore>> = OnceLock::new();
    let limit = SHARED.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Arc::new(Semaphore::new(cpus))
    });
    Arc::clone(limit)
}

/// An in-memory [`PasswordVerifier`] of users and their Argon2 password hashes (PHC strings,
/// as [`hash_password`](Self::hash_password) makes and password databases store): the
/// passwords themselves are never stored, nor logged.
///
/// Clones share the same users, so a clone kept by an admin endpoint can add and remove users
/// while the layer serves; changes copy the list, which suits sets that change rarely.
///
/// # Timing
///
/// An unknown username costs what a known one costs: its password is hashed against a dummy
/// hash with the parameters of the first hash inserted (the defaults of
/// [`hash_password`](Self::hash_password) while there is none), and every username is compared
/// in constant time. Keep all hashes on the same parameters: a user whose hash has others
/// takes a different time to check than an unknown name (a warning is logged on insert).
/// Checking compares against every username: meant for up to some thousands of users; a
/// larger set belongs in a database behind a [`PasswordVerifier`] of yours.
///
/// # Blocking and memory
///
/// An Argon2 hash takes tens of milliseconds and, with the default parameters, 19 MiB. Inside
/// a tokio runtime it runs on the blocking pool ([`spawn_blocking`]), and at most
/// [`max_concurrent_hashes`](Self::max_concurrent_hashes) run at once, so a flood of Basic
/// requests waits in line instead of exhausting memory. Without a limit of their own, all the
/// `Argon2Users` of the process share one limit of as many hashes as there are CPUs
/// ([`available_parallelism`](std::thread::available_parallelism)): more would not check
/// passwords faster, only use more memory. Outside a runtime the hash runs on the calling
/// thread.
///
/// [`spawn_blocking`]: tokio::task::spawn_blocking
#[derive(Clone)]
pub struct Argon2Users {
    users: Arc<ArcSwap<Users>>,
    writer: Arc<Mutex<()>>,
    limit: Arc<Semaphore>,
}

impl Default for Argon2Users {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Argon2Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2Users")
            .field("users", &self.len())
            .finish_non_exhaustive()
    }
}

impl Argon2Users {
    /// No users yet.
    pub fn new() -> Self {
        Self {
            users: Arc::new(ArcSwap::from_pointee(Users {
                entries: Vec::new(),
                dummy: Arc::new(Stored::default_dummy()),
                dummy_from_user: false,
            })),
            writer: Arc::new(Mutex::new(())),
            limit: shared_limit(),
        }
    }

    /// At most `n` hashes of this set (and its clones made afterwards) run at once, instead
    /// of the process-wide limit of one per CPU; `0` counts as `1`. Peak memory is about `n`
    /// times the hashes' memory cost (19 MiB with the default parameters).
    #[must_use]
    pub fn max_concurrent_hashes(mut self, n: usize) -> Self {
        self.limit = Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS)));
        self
    }

    /// Adds user `username` (or replaces the one of that name) with password hash `phc_hash`,
    /// a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`; a valid password
    /// authenticates as `principal` (usually
    /// `Principal::builder(username, AuthMethod::Basic)` with the user's scopes).
    ///
    /// # Errors
    ///
    /// When `phc_hash` is not a PHC string, is not an Argon2 hash (`argon2id`, `argon2i` or
    /// `argon2d`), has parameters Argon2 refuses, or lacks its salt or hash.
    pub fn insert(
        &self,
        username: impl Into<Box<str>>,
        phc_hash: &str,
        principal: Principal,
    ) -> Result<(), InvalidPasswordHash> {
        let hash = Stored::parse(phc_hash)?;
        let name = username.into();
        let digest = Sha256::digest(name.as_bytes()).into();
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut users = Users::clone(&self.users.load());
        if !users.dummy_from_user {
            users.dummy = Arc::new(hash.dummy_like());
            users.dummy_from_user = true;
        } else if !hash.same_cost(&users.dummy) {
            tracing::warn!(
                target: "tower_shield::auth",
                username = &*name,
                "password hash parameters differ from the first user's: \
                 checking this user takes a different time than an unknown name"
            );
        }
        let entry = Arc::new(Entry {
            name,
            digest,
            hash,
            principal,
        });
        match users.entries.iter_mut().find(|e| e.name == entry.name) {
            Some(existing) => *existing = entry,
            None => users.entries.push(entry),
        }
        self.users.store(Arc::new(users));
        Ok(())
    }

    /// Removes user `username`; `false` when there is none.
    pub fn remove(&self, username: &str) -> bool {
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut users = Users::clone(&self.users.load());
        let before = users.entries.len();
        users.entries.retain(|e| &*e.name != username);
        let removed = users.entries.len() != before;
        self.users.store(Arc::new(users));
        removed
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.load().entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hashes `password` into a PHC string to store: Argon2id, version 19, 19 MiB of memory,
    /// 2 iterations, 1 lane (the first of
    /// [OWASP's recommended settings](https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id)),
    /// a random 16-byte salt and a 32-byte output.
    ///
    /// It takes tens of milliseconds: inside an async runtime, call it from
    /// `spawn_blocking`.
    ///
    /// ```
    /// use tower_shield::auth::{Argon2Users, AuthMethod, Principal};
    ///
    /// let hash = Argon2Users::hash_password("correct horse battery staple");
    /// assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    /// assert_ne!(hash, Argon2Users::hash_password("correct horse battery staple")); // salted
    ///
    /// let users = Argon2Users::new();
    /// users.insert("jane", &hash, Principal::builder("jane", AuthMethod::Basic).build())?;
    /// # Ok::<(), tower_shield::auth::InvalidPasswordHash>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When `password` is longer than Argon2's limit of 4 GiB.
    pub fn hash_password(password: &str) -> String {
        let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let hashed = SaltString::encode_b64(&salt).and_then(|salt| {
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
        });
        match hashed {
            Ok(phc) => phc,
            Err(e) => panic!("Argon2 refused to hash the password: {e}"),
        }
    }
}

impl PasswordVerifier for Argon2Users {
    /// Hashes `password` on the blocking pool within the concurrency limit (on this thread
    /// outside a tokio runtime). A hash that cannot run (the runtime is shutting down) is a
    /// `None`.
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        let users = self.users.load_full();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Answer::ready(users.check(username, password.as_bytes()));
        };
        let username = username.to_owned();
        let password = Secret(password.to_owned());
        let limit = Arc::clone(&self.limit);
        Answer::later(async move {
            let Ok(permit) = limit.acquire_owned().await else {
                return None;
            };
            // The permit goes with the hash: it is held until the hash ends, even when the
            // request is dropped meanwhile.
            let hash = runtime.spawn_blocking(move || {
                let _permit = permit;
                users.check(&username, password.0.as_bytes())
            });
            hash.await.unwrap_or(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::task::Poll;

    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    /// What `parse` makes of one header value: `Ok(None)` to skip, the pair, or the detail.
    fn parse_one(value: &[u8]) -> Result<Option<(String, String)>, &'static str> {
        parse(&headers(&[value]))
            .map(|c| c.map(|c| (c.username().to_owned(), c.password().to_owned())))
    }

    fn basic(raw: &[u8]) -> Vec<u8> {
        let mut v = b"Basic ".to_vec();
        v.extend_from_slice(STANDARD.encode(raw).as_bytes());
        v
    }

    fn pair(u: &str, p: &str) -> Result<Option<(String, String)>, &'static str> {
        Ok(Some((u.to_owned(), p.to_owned())))
    }

    #[test]
    fn parses_rfc_7617_credentials() {
        assert_eq!(
            parse_one(b"Basic amFuZTpwYXNzd29yZDEyMw=="),
            pair("jane", "password123")
        );
        // The RFC's own example.
        assert_eq!(
            parse_one(b"Basic dGVzdDoxMjPCow=="),
            pair("test", "123\u{a3}")
        );
        // The scheme in any case, several spaces before the token, trailing whitespace.
        assert_eq!(
            parse_one(b"basic amFuZTpwYXNzd29yZDEyMw=="),
            pair("jane", "password123")
        );
        assert_eq!(
            parse_one(b"BASIC   amFuZTpwYXNzd29yZDEyMw== "),
            pair("jane", "password123")
        );
        // The first colon ends the username.
        assert_eq!(parse_one(&basic(b"svc:a:b::c:")), pair("svc", "a:b::c:"));
        assert_eq!(parse_one(&basic(b"jane:")), pair("jane", ""));
        assert_eq!(parse_one(&basic(b":secret")), pair("", "secret"));
        assert_eq!(
            parse_one(&basic("zoë:pässwörd".as_bytes())),
            pair("zoë", "pässwörd")
        );
    }

    #[test]
    fn other_schemes_and_no_header_are_skipped() {
        assert_eq!(parse(&HeaderMap::new()).map(|c| c.is_some()), Ok(false));
        for value in [
            &b"Bearer amFuZTpwYXNzd29yZDEyMw=="[..],
            b"Basicx amFuZTpwYXNzd29yZDEyMw==",
            b"Basic\tamFuZTpwYXNzd29yZDEyMw==",
            b"Digest username=\"jane\"",
            b"amFuZTpwYXNzd29yZDEyMw==",
        ] {
            assert_eq!(parse_one(value), Ok(None), "{value:?}");
        }
        // A long header of another scheme is the other authenticator's to refuse.
        let mut bearer = b"Bearer ".to_vec();
        bearer.extend(std::iter::repeat_n(b'a', 10_000));
        assert_eq!(parse_one(&bearer), Ok(None));
    }

    #[test]
    fn malformed_credentials_are_refused() {
        for value in [
            &b"Basic"[..],
            b"Basic ",
            b"Basic !!!!",
            b"Basic amFuZTpwYXNzd29yZDEyMw",    // no padding
            b"Basic amFuZTpwYXNzd29yZDEyMw=",   // short padding
            b"Basic amFuZTpwYXNzd29yZDEyMw===", // extra padding
            b"Basic amFuZTpw YXNzd29yZDEyMw==", // whitespace inside
            b"Basic amFuZTpw\tYXNzd29yZDEyMw==",
            b"Basic amFuZTpwYXNzd29yZDEyMw-_", // URL-safe alphabet
            b"Basic amFuZTpwYXNzd29yZDEyMx==", // non-canonical trailing bits
        ] {
            assert_eq!(parse_one(value), Err(MALFORMED), "{value:?}");
        }
        assert_eq!(parse_one(&basic(b"janepassword123")), Err(MALFORMED));
        assert_eq!(parse_one(&basic(b"jane\xff:password")), Err(MALFORMED));
        assert_eq!(parse_one(&basic(b"ja\x00ne:password")), Err(MALFORMED));
        assert_eq!(parse_one(&basic(b"ja\x1bne:password")), Err(MALFORMED));
        assert_eq!(parse_one(&basic(b"jane\x7f:password")), Err(MALFORMED));
        assert_eq!(parse_one(&basic(b"jane:pass\nword")), Err(MALFORMED));
    }

    #[test]
    fn long_and_repeated_headers_are_refused() {
        let mut long = basic(b"jane:");
        long.extend(std::iter::repeat_n(b'A', MAX_HEADER_LEN));
        assert_eq!(parse_one(&long), Err(TOO_LONG));
        let at_limit = basic(&vec![b'a'; 3000]);
        assert!(at_limit.len() <= MAX_HEADER_LEN);
        assert_eq!(parse_one(&at_limit), Err(MALFORMED)); // decoded, but no colon

        let map = headers(&[
            b"Basic amFuZTpwYXNzd29yZDEyMw==",
            b"Basic amFuZTpwYXNzd29yZDEyMw==",
        ]);
        assert_eq!(parse(&map).err(), Some(MULTIPLE));
        let map = headers(&[b"Bearer x", b"Basic amFuZTpwYXNzd29yZDEyMw=="]);
        assert_eq!(parse(&map).err(), Some(MULTIPLE));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let creds = parse(&headers(&[b"Basic amFuZTpwYXNzd29yZDEyMw=="]))
            .unwrap()
            .unwrap();
        let debug = format!("{creds:?}");
        assert!(debug.contains("jane"));
        assert!(!debug.contains("password123"));
    }

    #[test]
    fn builder_checks_the_realm_and_builds_the_challenge() {
        let users = Argon2Users::new();
        let auth = BasicAuth::new(users.clone());
        assert_eq!(
            auth.challenge(None).unwrap(),
            r#"Basic realm="api", charset="UTF-8""#
        );
        let auth = BasicAuth::builder(users.clone())
            .realm("admin area")
            .build()
            .unwrap();
        assert_eq!(
            auth.challenge(None).unwrap(),
            r#"Basic realm="admin area", charset="UTF-8""#
        );
        let failure = AuthError::invalid(AuthMethod::Basic, WRONG);
        assert_eq!(
            auth.challenge(Some(&failure)).unwrap(),
            r#"Basic realm="admin area", charset="UTF-8""#
        );
        for realm in ["a\"b", "a\\b", "caf\u{e9}", "a\nb"] {
            assert_eq!(
                BasicAuth::builder(users.clone()).realm(realm).build().err(),
                Some(BasicConfigError::InvalidRealm(realm.into())),
            );
        }
    }

    /// A PHC string with cheap parameters (8 KiB, one pass), for tests.
    fn cheap_hash(password: &str, algorithm: Algorithm) -> String {
        let params = Params::new(8, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::new(algorithm, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn jane() -> Principal {
        Principal::builder("jane", AuthMethod::Basic).build()
    }

    fn ready<T>(answer: Answer<T>) -> T {
        match answer {
            Answer::Ready(v) => v,
            Answer::Later(_) => panic!("expected a ready answer outside a runtime"),
        }
    }

    #[test]
    fn insert_accepts_argon2_only() {
        let users = Argon2Users::new();
        for alg in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            users
                .insert("jane", &cheap_hash("pw", alg), jane())
                .unwrap();
        }
        assert_eq!(users.len(), 1);
        let err = |phc: &str| users.insert("x", phc, jane()).unwrap_err();
        assert_eq!(err("password123"), InvalidPasswordHash::Malformed);
        assert_eq!(err(""), InvalidPasswordHash::Malformed);
        assert_eq!(
            err("$pbkdf2-sha256$i=600000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            InvalidPasswordHash::UnsupportedAlgorithm("pbkdf2-sha256".into())
        );
        assert_eq!(
            err("$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            InvalidPasswordHash::UnsupportedAlgorithm("scrypt".into())
        );
        assert_eq!(
            err("$argon2id$v=19$m=19456,t=2,p=1"),
            InvalidPasswordHash::Incomplete
        );
        // m below 8 KiB per lane, an unknown version, an unknown parameter, a short salt.
        for phc in [
            "$argon2id$v=19$m=4,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=18$m=8,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=8,t=1,p=1,x=2$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert_eq!(err(phc), InvalidPasswordHash::InvalidParameters, "{phc}");
        }
        assert_eq!(users.len(), 1);
        assert!(
            !err("$pbkdf2-sha256$i=1$c2FsdHNhbHQ$aGFzaA")
                .to_string()
                .contains("aGFzaA")
        );
    }

    #[test]
    fn verifies_outside_a_runtime_on_the_calling_thread() {
        let users = Argon2Users::new();
        users
            .insert(
                "jane",
                &cheap_hash("password123", Algorithm::Argon2id),
                jane(),
            )
            .unwrap();
        let p = ready(users.verify("jane", "password123")).unwrap();
        assert_eq!(p.subject(), "jane");
        assert_eq!(p.method(), AuthMethod::Basic);
        assert!(ready(users.verify("jane", "password124")).is_none());
        assert!(ready(users.verify("Jane", "password123")).is_none());
        assert!(ready(users.verify("bob", "password123")).is_none());

        assert!(users.remove("jane"));
        assert!(!users.remove("jane"));
        assert!(users.is_empty());
        assert!(ready(users.verify("jane", "password123")).is_none());
    }

    #[test]
    fn an_unknown_user_is_hashed_against_a_dummy_of_the_same_cost() {
        let users = Argon2Users::new();
        // Before any user: a dummy with the default parameters.
        assert!(users.users.load().dummy.same_cost(&Stored::default_dummy()));
        assert!(ready(users.verify("nobody", "x")).is_none());
        assert_eq!(users.users.load().dummy.hashed.load(Ordering::Relaxed), 1);

        users
            .insert(
                "jane",
                &cheap_hash("password123", Algorithm::Argon2id),
                jane(),
            )
            .unwrap();
        let snapshot = users.users.load_full();
        let entry = &snapshot.entries[0];
        let dummy = &snapshot.dummy;
        assert!(dummy.same_cost(&entry.hash));
        assert_ne!(dummy.salt, entry.hash.salt);
        assert_eq!(dummy.hashed.load(Ordering::Relaxed), 0);

        // Unknown user: exactly one hash, against the dummy, even with jane's password.
        assert!(ready(users.verify("bob", "password123")).is_none());
        assert_eq!(dummy.hashed.load(Ordering::Relaxed), 1);
        assert_eq!(entry.hash.hashed.load(Ordering::Relaxed), 0);

        // Known user, wrong and right password: one hash each, against jane's.
        assert!(ready(users.verify("jane", "wrong")).is_none());
        assert!(ready(users.verify("jane", "password123")).is_some());
        assert_eq!(dummy.hashed.load(Ordering::Relaxed), 1);
        assert_eq!(entry.hash.hashed.load(Ordering::Relaxed), 2);

        // Later users keep the first user's dummy.
        users
            .insert("bob", &cheap_hash("pw", Algorithm::Argon2id), jane())
            .unwrap();
        assert!(Arc::ptr_eq(&users.users.load().dummy, dummy));
    }

    #[test]
    fn hash_password_makes_salted_owasp_argon2id() {
        let hash = Argon2Users::hash_password("password123");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_ne!(hash, Argon2Users::hash_password("password123"));
        let stored = Stored::parse(&hash).unwrap();
        assert_eq!(stored.salt.len(), 16);
        assert_eq!(stored.output.len(), 32);
        assert!(stored.same_cost(&Stored::default_dummy()));
        assert!(bool::from(stored.matches(b"password123")));
        assert!(!bool::from(stored.matches(b"password1234")));
    }

    #[tokio::test]
    async fn verifies_on_the_blocking_pool_inside_a_runtime() {
        let users = Argon2Users::new();
        users
            .insert(
                "jane",
                &cheap_hash("password123", Algorithm::Argon2id),
                jane(),
            )
            .unwrap();
        let answer = users.verify("jane", "password123");
        assert!(matches!(answer, Answer::Later(_)));
        assert_eq!(answer.resolve().await.unwrap().subject(), "jane");
        assert!(users.verify("bob", "password123").resolve().await.is_none());
    }

    #[tokio::test]
    async fn hashes_wait_for_a_permit() {
        let users = Argon2Users::new().max_concurrent_hashes(1);
        users
            .insert(
                "jane",
                &cheap_hash("password123", Algorithm::Argon2id),
                jane(),
            )
            .unwrap();
        let held = Arc::clone(&users.limit).acquire_owned().await.unwrap();
        let Answer::Later(mut pending) = users.verify("jane", "password123") else {
            panic!("expected a future inside a runtime");
        };
        for _ in 0..10 {
            let polled = std::future::poll_fn(|cx| Poll::Ready(pending.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
            tokio::task::yield_now().await;
        }
        let hashed = &users.users.load().entries[0].hash.hashed;
        assert_eq!(hashed.load(Ordering::Relaxed), 0);
        drop(held);
        assert!(pending.await.is_some());
        assert_eq!(users.limit.available_permits(), 1);
        assert_eq!(hashed.load(Ordering::Relaxed), 1);

        // `0` counts as one.
        let users = Argon2Users::new().max_concurrent_hashes(0);
        assert_eq!(users.limit.available_permits(), 1);
    }

    #[tokio::test]
    async fn basic_auth_outcomes() {
        let users = Argon2Users::new();
        users
            .insert(
                "jane",
                &cheap_hash("password123", Algorithm::Argon2id),
                jane(),
            )
            .unwrap();
        let auth = BasicAuth::new(users);
        let outcome = |value: &'static str| {
            let req = http::Request::get("/")
                .header(AUTHORIZATION, value)
                .body(())
                .unwrap();
            let answer = auth.authenticate(&RequestHead::of(&req));
            async move { answer.resolve().await }
        };
        match outcome("Basic amFuZTpwYXNzd29yZDEyMw==").await {
            Outcome::Authenticated(p) => assert_eq!(p.subject(), "jane"),
            other => panic!("{other:?}"),
        }
        match outcome("Basic amFuZTpwYXNzd29yZDEyNA==").await {
            Outcome::Rejected(e) => {
                assert_eq!(e.detail(), WRONG);
                assert_eq!(e.method(), Some(AuthMethod::Basic));
                assert_eq!(e.kind(), crate::auth::AuthErrorKind::Invalid);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(outcome("Bearer x").await, Outcome::Skip));
        match outcome("Basic !").await {
            Outcome::Rejected(e) => assert_eq!(e.detail(), MALFORMED),
            other => panic!("{other:?}"),
        }
    }
}
