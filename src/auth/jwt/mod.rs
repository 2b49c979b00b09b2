//! Bearer JSON Web Tokens: [`JwtAuth`] verifies `Authorization: Bearer <JWT>` with
//! `jsonwebtoken` (on aws-lc-rs) against static keys ([`JwtKey`]) or a remote JWK set
//! (`Jwks`, feature `jwks`), and makes the [`Principal`] of its claims.
//!
//! ```
//! use std::time::{SystemTime, UNIX_EPOCH};
//!
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use jsonwebtoken::{EncodingKey, Header, encode};
//! use serde_json::json;
//! use tower::ServiceExt;
//! use tower_shield::auth::{Algorithm, AuthLayer, JwtAuth, JwtKey, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let public = include_bytes!("../../../examples/keys/jwt_public.pem");
//! let jwt = JwtAuth::builder()
//!     .key(JwtKey::rsa_pem(Algorithm::RS256, public)?)
//!     .issuer("https://auth.example.com")
//!     .audience("https://api.example.com")
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
//!     .layer(AuthLayer::new(jwt));
//!
//! // A token as the identity provider signs it (here with the example's private key).
//! let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 300;
//! let claims = json!({
//!     "sub": "user_42",
//!     "iss": "https://auth.example.com",
//!     "aud": "https://api.example.com",
//!     "exp": exp,
//! });
//! let private = include_bytes!("../../../examples/keys/jwt_private.pem");
//! let token = encode(
//!     &Header::new(jsonwebtoken::Algorithm::RS256),
//!     &claims,
//!     &EncodingKey::from_rsa_pem(private)?,
//! )?;
//! let req = Request::get("/me")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Body::empty())?;
//! let res = app.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // A token that is not one: 401, with the reason for the developer (RFC 6750).
//! let req = Request::get("/me")
//!     .header("authorization", "Bearer abc")
//!     .body(Body::empty())?;
//! let res = app.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="invalid_token", error_description="malformed token""#
//! );
//! # Ok(()) }
//! ```
//!
//! What is checked, and in which order, is documented on [`JwtAuth`]; remote key sets, their
//! refresh and key rotation on `Jwks` (feature `jwks`).
//!
//! # Errors
//!
//! A configuration that cannot work is a [`ConfigError`] at build ([`JwtBuilder::build`],
//! [`JwtKey`]'s constructors, `JwksBuilder::build`); a JWK set that cannot be fetched is a
//! `FetchError` (from `Jwks::refresh`; in the background it is logged and the last good set
//! keeps serving, for at most `JwksBuilder::max_stale`, 24 hours by default).

mod builder;
#[cfg(feature = "jwks")]
mod fetch;
#[cfg(feature = "jwks")]
mod jwks;
mod keys;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use builder::JwtBuilder;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use fetch::FetchError;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use jwks::{Jwks, JwksBuilder};
pub use keys::{Algorithm, JwtKey};

use self::keys::{KeySet, Selection, alg_by_name};
use crate::auth::token_cache::{CacheEntry, TokenCache};
use crate::auth::{
    Answer, AuthError, AuthMethod, Authenticator, Outcome, Principal, RequestHead, Scopes, Tier,
    bearer_challenge,
};
use crate::core::{Clock as _, SharedClock};

/// A configuration that cannot work: of a [`JwtAuth`] ([`JwtBuilder::build`]), a key
/// ([`JwtKey`]'s constructors) or a remote key set (`JwksBuilder::build`, feature `jwks`).
///
/// Messages name the URL and the reason, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a key nor a JWK set was given.
    #[error("a JWT authenticator needs a key or a JWK set")]
    NoKeys,
    /// No algorithm is accepted.
    #[error("a JWT authenticator needs accepted algorithms")]
    NoAlgorithms,
    /// A key cannot be read.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A key was made for an algorithm of another family (an RSA key for `ES256`).
    #[error("the key is not a key for {0}")]
    KeyAlgorithmMismatch(&'static str),
    /// A key's algorithm is not among the accepted algorithms.
    #[error("a key is for {0}, which is not among the accepted algorithms")]
    AlgorithmNotAccepted(&'static str),
    /// An HMAC secret shorter than its hash.
    #[error("an {alg} secret must be at least {min} bytes")]
    WeakSecret {
        /// The algorithm.
        alg: &'static str,
        /// The shortest secret allowed, in bytes.
        min: usize,
    },
    /// No [issuer](JwtBuilder::issuer) was given, and [`any_issuer(true)`](JwtBuilder::any_issuer)
    /// was not: the authenticator would accept tokens of every issuer its keys sign for.
    #[error(
        "a JWT authenticator needs an issuer: call issuer(..), or any_issuer(true) to accept \
         every issuer the keys sign for"
    )]
    NoIssuer,
    /// No [audience](JwtBuilder::audience) was given, and
    /// [`any_audience(true)`](JwtBuilder::any_audience) was not: the authenticator would accept
    /// tokens the same provider minted for any other service.
    #[error(
        "a JWT authenticator needs an audience: call audience(..), or any_audience(true) to \
         accept tokens minted for any service"
    )]
    NoAudience,
    /// Two settings that contradict each other (`issuer(..)` and `any_issuer(true)`); the
    /// message names them.
    #[error("{0} contradict each other")]
    Contradiction(&'static str),
    /// A realm, issuer, audience or claim name that cannot be used.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Both static keys and a JWK set were given: use one source of keys.
    #[error("give static keys or a JWK set, not both")]
    KeysAndJwks,
    /// `jsonwebtoken` has no working crypto provider (another crate installed a broken one).
    #[error("jsonwebtoken has no working crypto provider")]
    CryptoProvider,
    /// A JWK set's URL (or issuer) is not an absolute URL, or an issuer has a query or
    /// fragment.
    #[error("invalid JWKS URL or issuer: {0}")]
    InvalidUrl(String),
    /// A JWK set's URL scheme is neither `https` nor `http`.
    #[error("{0}: the scheme must be https or http")]
    UnsupportedScheme(String),
    /// Plain `http` to a host that is not loopback, and `allow_insecure_http(true)` was not
    /// given (`JwksBuilder::allow_insecure_http`, feature `jwks`).
    #[error("{0}: plain http is only allowed to loopback hosts (see allow_insecure_http)")]
    InsecureHttp(String),
    /// A JWK set setting that cannot work; the message names it.
    #[error("invalid JWKS configuration: {0}")]
    InvalidJwksSetting(&'static str),
    /// The default HTTP client of a JWK set could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

/// Where a [`JwtAuth`] gets its keys.
#[derive(Clone, Debug)]
enum Keys {
    Static(Arc<KeySet>),
    #[cfg(feature = "jwks")]
    Remote(Jwks),
}

struct Config {
    keys: Keys,
    algorithms: Vec<Algorithm>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    require_exp: bool,
    required_claims: Vec<String>,
    /// The accepted `typ`s, as media types in lower case (`application/at+jwt`).
    types: Vec<String>,
    require_type: bool,
    tier_claim: Option<String>,
    roles_claim: Option<String>,
    max_len: usize,
    cache: Option<TokenCache>,
    clock: SharedClock,
    realm: String,
    challenge: HeaderValue,
}

/// Authenticates `Authorization: Bearer <JWT>`.
///
/// What is checked, in order:
/// 1. the token's size (8 KiB by default), before any parsing; then its shape: three
///    segments of the base64url alphabet, without padding or whitespace;
/// 2. the header: a JSON object in which no member name appears twice (nor in the claims:
///    RFC 7515 section 4 and RFC 7519 section 4 allow refusing them, and a parser that keeps
///    the first of two would read another token); `alg` must be one of the configured
///    [algorithms](JwtBuilder::algorithms)
///    (`none`, in any case, never is); a `crit` header is refused (no extension is understood);
///    `jku`, `x5u`, `x5c` and an embedded `jwk` are never followed or used; `typ`, when
///    present, must be an [accepted type](JwtBuilder::allowed_types) — `JWT` or `at+jwt`
///    ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)) by default, so that a logout token
///    or a security event token signed with the same keys is not taken for an access token
///    ([RFC 8725 section 3.11](https://www.rfc-editor.org/rfc/rfc8725#section-3.11));
/// 3. the key: by `kid`, every key with that kid (keys of different types may share one),
///    or for a kid no key has, the keys configured without a kid (a kid is a hint); without
///    a kid, every configured key of the token's algorithm. A kid that no key has, with no
///    kid-less key to try, makes a remote key set refresh (at most once per cool-down). The
///    key's own algorithm must be the token's;
/// 4. the signature, by `jsonwebtoken`;
/// 5. the claims: `exp` (required by default) and `nbf` as numbers, with the configured leeway;
///    `iat`, when present, a number (it is not compared with the clock);
///    `iss` and `aud` — a token **without** them is refused (both must be configured, unless
///    explicitly waived with [`any_issuer`](JwtBuilder::any_issuer) or
///    [`any_audience`](JwtBuilder::any_audience)); a subject: `sub` (a non-empty string), or
///    without `sub` a non-empty `client_id` (RFC 9068: a client-credentials token names the
///    client; token introspection reads an answer the same way); any
///    [required claim](JwtBuilder::require_claim).
///
/// The principal gets that subject, the scopes of `scope` (space-separated) and `scp`
/// (an array), the tier of the [tier claim](JwtBuilder::tier_claim), the roles of the
/// [roles claim](JwtBuilder::roles_claim), the `kid` as key id, and all claims (for
/// [`Claims<T>`](crate::auth::Claims)).
///
/// ```
/// use tower_shield::auth::{Algorithm, JwtAuth, JwtKey};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pem = include_bytes!("../../../examples/keys/jwt_public.pem");
/// let jwt = JwtAuth::builder()
///     .key(JwtKey::rsa_pem(Algorithm::RS256, pem)?)
///     .issuer("https://auth.example.com")
///     .audience("https://api.example.com")
///     .cache(10_000) // verified tokens are accepted again in well under a microsecond
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtAuth {
    config: Arc<Config>,
}

/// By hand: the configuration holds a clock, a trait object without `Debug`.
impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("algorithms", &self.config.algorithms)
            .field("issuers", &self.config.issuers)
            .field("audiences", &self.config.audiences)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused, before it becomes an [`AuthError`].
enum Failure {
    Invalid(&'static str),
    Expired(&'static str),
    /// The `kid` is not in the key set: a remote set may have rotated.
    UnknownKid,
}

/// What the header says.
struct TokenHeader {
    alg: Algorithm,
    kid: Option<String>,
}

/// A NumericDate claim: a JSON number (integer or not), else `Err`.
fn numeric_date(value: Option<&Value>) -> Result<Option<f64>, ()> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(()),
        Some(_) => Err(()),
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl JwtAuth {
    /// Starts a configuration.
    pub fn builder() -> JwtBuilder {
        JwtBuilder::new()
    }

    fn parse_header(&self, token: &str) -> Result<TokenHeader, Failure> {
        let end = token.find('.').ok_or(Failure::Invalid("malformed token"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(&token[..end])
            .map_err(|_| Failure::Invalid("malformed token"))?;
        // A member name twice is refused (`core::json`): RFC 7515 section 4 allows it, and a
        // parser that keeps the first of two would read another header downstream.
        let Ok(Value::Object(header)) = crate::core::json::from_slice(&raw) else {
            return Err(Failure::Invalid("malformed token"));
        };
        let alg = match header.get("alg") {
            Some(Value::String(name)) => alg_by_name(name)
                .filter(|a| self.config.algorithms.contains(a))
                .ok_or(Failure::Invalid("token algorithm not accepted"))?,
            _ => return Err(Failure::Invalid("token algorithm not accepted")),
        };
        if header.contains_key("crit") {
            return Err(Failure::Invalid(
                "token has critical header parameters this server does not understand",
            ));
        }
        // RFC 8725 section 3.11: tokens of other kinds (logout, security events) may be signed
        // by the same provider with the same keys; their `typ` tells them apart.
        let c = &self.config;
        let type_ok = match header.get("typ") {
            None => !c.require_type,
            Some(Value::String(typ)) => c.types.iter().any(|t| typ_matches(typ, t)),
            Some(_) => false,
        };
        if !type_ok {
            return Err(Failure::Invalid("token type not accepted"));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(Failure::Invalid("malformed token")),
        };
        Ok(TokenHeader { alg, kid })
    }

    /// Verifies `token` with the keys of `set`.
    fn verify(&self, token: &str, set: &KeySet, generation: u64) -> Result<Principal, Failure> {
        let header = self.parse_header(token)?;
        let keys = match set.select(header.kid.as_deref(), header.alg) {
            Selection::Keys(keys) => keys,
            Selection::UnknownKid => return Err(Failure::UnknownKid),
            Selection::NoKey => return Err(Failure::Invalid("no key for this token")),
        };
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or(Failure::Invalid("malformed token"))?;
        let verified = keys.iter().any(|key| {
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, header.alg)
                .unwrap_or(false)
        });
        if !verified {
            return Err(Failure::Invalid("token signature invalid"));
        }
        let payload = message
            .split_once('.')
            .map(|(_, p)| p)
            .ok_or(Failure::Invalid("malformed token"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Failure::Invalid("malformed token"))?;
        // The claims likewise: `"sub":"me",…,"sub":"admin"` is refused, not read as `admin`.
        let claims = crate::core::json::from_slice(&payload)
            .map_err(|_| Failure::Invalid("malformed token"))?;
        self.principal(claims, header.kid, token, generation)
    }

    /// Checks the claims and makes the principal.
    fn principal(
        &self,
        claims: Value,
        kid: Option<String>,
        token: &str,
        generation: u64,
    ) -> Result<Principal, Failure> {
        let c = &self.config;
        let Value::Object(map) = &claims else {
            return Err(Failure::Invalid("malformed token"));
        };
        // In microseconds: `exp` and `nbf` may have fractions (RFC 7519's NumericDate), which
        // a clock truncated to the second would misjudge by up to a second.
        let now_us = c.clock.now();
        let now = now_us / 1_000_000;
        let now_exact = now_us as f64 / 1e6;
        let leeway = c.leeway as f64;
        let exp = numeric_date(map.get("exp"))
            .map_err(|()| Failure::Invalid("token exp claim is not a number"))?;
        match exp {
            Some(exp) if now_exact >= exp + leeway => {
                return Err(Failure::Expired("token expired"));
            }
            None if c.require_exp => return Err(Failure::Invalid("token has no exp claim")),
            _ => {}
        }
        let nbf = numeric_date(map.get("nbf"))
            .map_err(|()| Failure::Invalid("token nbf claim is not a number"))?;
        if nbf.is_some_and(|nbf| nbf > now_exact + leeway) {
            return Err(Failure::Expired("token not yet valid"));
        }
        // Not compared with the clock (`exp` bounds the token's life), but a NumericDate when
        // present (RFC 7519 section 4.1.6), as PyJWT and jose require too.
        numeric_date(map.get("iat"))
            .map_err(|()| Failure::Invalid("token iat claim is not a number"))?;
        if !c.issuers.is_empty() {
            match map.get("iss") {
                None => return Err(Failure::Invalid("token has no iss claim")),
                Some(Value::String(iss)) if c.issuers.iter().any(|i| i == iss) => {}
                Some(_) => return Err(Failure::Invalid("token issuer not accepted")),
            }
        }
        if !c.audiences.is_empty() {
            let ok = match map.get("aud") {
                None => return Err(Failure::Invalid("token has no aud claim")),
                Some(Value::String(aud)) => c.audiences.iter().any(|a| a == aud),
                Some(Value::Array(auds)) => auds
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|aud| c.audiences.iter().any(|a| a == aud)),
                Some(_) => false,
            };
            if !ok {
                return Err(Failure::Invalid("token audience not accepted"));
            }
        }
        // A claim set to `null` is no claim (as `sub: null` is none below, and PyJWT reads it).
        if c.required_claims
            .iter()
            .any(|name| map.get(name).is_none_or(Value::is_null))
        {
            return Err(Failure::Invalid("token lacks a required claim"));
        }
        // `sub` is optional in RFC 7519 (section 4.1.2), but a principal names someone: without
        // it, the client (`client_id`, RFC 9068 section 2.2), as introspection does.
        let subject: Box<str> = match (map.get("sub"), map.get("client_id")) {
            (Some(Value::String(sub)), _) if !sub.is_empty() => sub.as_str().into(),
            (None | Some(Value::Null), Some(Value::String(client))) if !client.is_empty() => {
                client.as_str().into()
            }
            _ => return Err(Failure::Invalid("token names no subject")),
        };
        let mut scopes = strings(map.get("scope"));
        scopes.extend(strings(map.get("scp")));
        let scopes: Scopes = scopes.into_iter().collect();
        let tier = c
            .tier_claim
            .as_ref()
            .and_then(|name| map.get(name))
            .and_then(Value::as_str)
            .map(|t| Tier::new(t.to_owned()))
            .unwrap_or(Tier::AUTHENTICATED);
        let roles: Scopes = c
            .roles_claim
            .as_ref()
            .map(|name| strings(map.get(name)))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut builder = Principal::builder(subject, AuthMethod::Jwt)
            .tier(tier)
            .scopes(scopes.iter())
            .roles(roles.iter());
        if let Some(kid) = kid {
            builder = builder.key_id(kid);
        }
        let principal = builder.claims(claims).build();
        if let (Some(cache), Some(exp)) = (&c.cache, exp) {
            // Never past `exp` itself, whatever the leeway.
            let exp = exp.floor();
            if exp > now as f64 {
                cache.insert(
                    Sha256::digest(token.as_bytes()).into(),
                    CacheEntry {
                        principal: principal.clone(),
                        exp: exp as u64,
                        generation,
                    },
                );
            }
        }
        Ok(principal)
    }

    fn reject(failure: Failure) -> Outcome {
        Outcome::Rejected(match failure {
            Failure::Invalid(detail) => AuthError::invalid(AuthMethod::Jwt, detail),
            Failure::Expired(detail) => AuthError::expired(AuthMethod::Jwt, detail),
            Failure::UnknownKid => AuthError::invalid(AuthMethod::Jwt, "unknown signing key"),
        })
    }

    /// The token of a Bearer `Authorization` header, or why there is none.
    fn token<'a>(&self, req: &RequestHead<'a>) -> Result<Option<&'a str>, AuthError> {
        crate::auth::bearer::token(req.headers(), self.config.max_len, AuthMethod::Jwt)
    }
}

/// Whether a token's `typ` names the media type `allowed` (lower case, with its `/`): media
/// types compare case-insensitively, and a `typ` without `/` stands for `application/` and
/// itself (RFC 7515 section 4.1.9).
fn typ_matches(typ: &str, allowed: &str) -> bool {
    if typ.contains('/') {
        typ.eq_ignore_ascii_case(allowed)
    } else {
        allowed
            .strip_prefix("application/")
            .is_some_and(|sub| typ.eq_ignore_ascii_case(sub))
    }
}

/// A configured `typ` as a media type in lower case (`at+jwt` → `application/at+jwt`), or
/// `None` when it is not `type/subtype` or `subtype` of RFC 9110 tokens.
pub(super) fn media_type(typ: &str) -> Option<String> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let token = |s: &str| !s.is_empty() && s.bytes().all(tchar);
    let full = match typ.split_once('/') {
        Some((ty, sub)) if token(ty) && token(sub) => typ.to_owned(),
        None if token(typ) => format!("application/{typ}"),
        _ => return None,
    };
    Some(full.to_ascii_lowercase())
}

/// Whether `token` has the shape of a compact JWS: three base64url parts. Checked after the
/// cache (a cached token had it when it was verified) and before any decoding.
fn well_formed(token: &str) -> bool {
    let mut dots = 0;
    token.bytes().all(|b| {
        dots += usize::from(b == b'.');
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
    }) && dots == 2
}

impl Authenticator for JwtAuth {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        let token = match self.token(req) {
            Ok(Some(token)) => token,
            Ok(None) => return Answer::Ready(Outcome::Skip),
            Err(e) => return Answer::Ready(Outcome::Rejected(e)),
        };
        let c = &self.config;
        match &c.keys {
            Keys::Static(set) => {
                if let Some(cache) = &c.cache {
                    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                    if let Some(p) = cache.get(&digest, c.clock.unix_secs(), 0) {
                        return Answer::Ready(Outcome::Authenticated(p));
                    }
                }
                if !well_formed(token) {
                    return Answer::Ready(Self::reject(Failure::Invalid("malformed token")));
                }
                Answer::Ready(match self.verify(token, set, 0) {
                    Ok(p) => Outcome::Authenticated(p),
                    Err(f) => Self::reject(f),
                })
            }
            #[cfg(feature = "jwks")]
            Keys::Remote(jwks) => self.authenticate_remote(jwks, token),
        }
    }

    fn challenge(&self, failure: Option<&AuthError>) -> Option<HeaderValue> {
        bearer_challenge(
            AuthMethod::Jwt,
            &self.config.realm,
            &self.config.challenge,
            failure,
        )
    }
}

#[cfg(feature = "jwks")]
impl JwtAuth {
    fn authenticate_remote(&self, jwks: &Jwks, token: &str) -> Answer<Outcome> {
        let c = &self.config;
        let current = jwks.current();
        if jwks.serves(&current) {
            if let Some(cache) = &c.cache {
                let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                if let Some(p) = cache.get(&digest, c.clock.unix_secs(), current.generation) {
                    return Answer::Ready(Outcome::Authenticated(p));
                }
            }
            if !well_formed(token) {
                return Answer::Ready(Self::reject(Failure::Invalid("malformed token")));
            }
            match self.verify(token, &current.keys, current.generation) {
                Ok(p) => return Answer::Ready(Outcome::Authenticated(p)),
                Err(Failure::UnknownKid) => {}
                Err(f) => return Answer::Ready(Self::reject(f)),
            }
        } else {
            // No set serves (none loaded yet, or the last is older than `max_stale`): neither
            // its keys nor the cache are used. A token refused on its header alone is refused
            // now; any other waits for a fetch.
            if !well_formed(token) {
                return Answer::Ready(Self::reject(Failure::Invalid("malformed token")));
            }
            if let Err(f) = self.parse_header(token) {
                return Answer::Ready(Self::reject(f));
            }
        }
        // An unknown key: the provider may have rotated. Refresh (single-flight, at most once
        // per cool-down) and try again.
        let this = self.clone();
        let jwks = jwks.clone();
        let token = token.to_owned();
        let seen = current.generation;
        drop(current);
        Answer::later(async move {
            jwks.refresh_for_unknown_key(seen).await;
            let current = jwks.current();
            if !jwks.serves(&current) {
                return Outcome::Rejected(AuthError::unavailable(
                    AuthMethod::Jwt,
                    "The identity provider's signing keys could not be loaded; try again later.",
                ));
            }
            match this.verify(&token, &current.keys, current.generation) {
                Ok(p) => Outcome::Authenticated(p),
                Err(f) => Self::reject(f),
            }
        })
    }
}
