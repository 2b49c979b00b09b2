//! Client certificates as identities: [`MtlsAuth`] turns the certificate a client presented
//! on its TLS connection (mutual TLS) into a [`Principal`] — by its SPIFFE id or another
//! subject alternative name URI, a subject alternative name DNS, or the subject's common
//! name — through the mapping you configure. Principals are on the
//! [`INTERNAL`](Tier::INTERNAL) tier unless their [`Grant`] says otherwise: mTLS is how your
//! own services call each other.
//!
//! The certificate reaches the request as a [`PeerCertificates`] extension: with axum, serve
//! through [`TlsListener`] with `into_make_service_with_connect_info::<`[`TlsConnectInfo`]`>()`;
//! with your own accept loop, insert [`PeerCertificates::from_connection`] into each request.
//! Verifying the chain is rustls's job (a `WebPkiClientVerifier` with your CA): a certificate
//! of another CA, or an expired one, never completes the handshake. [`MtlsAuth`] checks the
//! validity dates again (a long-lived connection outlives its certificate) and maps the
//! identity.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use rcgen::{CertificateParams, KeyPair, SanType};
//! use tower::ServiceExt;
//! use tower_shield::auth::mtls::Grant;
//! use tower_shield::auth::{AuthLayer, MtlsAuth, PeerCertificates, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = MtlsAuth::builder()
//!     // Every workload of the production namespace, known by its SPIFFE id.
//!     .spiffe("example.org", "/ns/prod", Grant::new().scopes(["read:invoices"]))
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|p: Principal| async move { format!("{} {}", p.subject(), p.tier()) }))
//!     .layer(AuthLayer::new(auth));
//!
//! // The certificate rustls verified on the connection (here made on the spot).
//! let mut params = CertificateParams::new(Vec::<String>::new())?;
//! params.subject_alt_names =
//!     vec![SanType::URI("spiffe://example.org/ns/prod/sa/billing".try_into()?)];
//! let cert = params.self_signed(&KeyPair::generate()?)?;
//! let peer = PeerCertificates::new(vec![cert.der().clone()]).expect("one certificate");
//!
//! let mut req = Request::get("/me").body(Body::empty())?;
//! req.extensions_mut().insert(peer);
//! let res = app.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! let body = axum::body::to_bytes(res.into_body(), 1024).await?;
//! assert_eq!(body, "spiffe://example.org/ns/prod/sa/billing internal");
//!
//! // No certificate: no credential.
//! let res = app.oneshot(Request::get("/me").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! # Ok(()) }
//! ```
//!
//! # Certificate-bound tokens
//!
//! A token whose claims hold `cnf.x5t#S256` (the base64url SHA-256 of a client certificate,
//! [RFC 8705 section 3](https://www.rfc-editor.org/rfc/rfc8705#section-3)) is accepted by the
//! [`AuthLayer`](super::AuthLayer) only on a connection that presented that certificate:
//! a stolen token is useless without the client's private key. This holds for every principal
//! with such a claim (a `JwtAuth` token, an introspected one, your own authenticator's); on
//! another connection, or one without a certificate, the token is a `401` `invalid_token`.
//! [`PeerCertificates::x5t_s256`] is the value an authorization server puts there.
//!
//! # Behind a proxy
//!
//! Where a proxy terminates TLS (Envoy, Istio), it passes the client certificate in
//! `X-Forwarded-Client-Cert`: [`MtlsBuilder::forwarded_client_cert`] believes the header from
//! the proxies a [`ClientIp`] trusts, and refuses it (`401`)
//! from any other peer. By default the header is read as Envoy's `SANITIZE_SET` writes it,
//! the client's element alone ([`XfccMode::Sanitize`]); a proxy that appends to the header it
//! received (`APPEND_FORWARD`) is [`XfccMode::Append`], the right-most element read.
//!
//! Envoy does not quote `URI` and `DNS` values, so a certificate name holding `,`, `;` or `=`
//! could pass for pairs or elements of its own. The pairs must come in Envoy's order (`By`,
//! `Hash`, `Cert`, `Chain`, `Subject`, `URI`, `DNS`) and `By`, `Hash`, `Cert` and `Subject`
//! once each, so such a name can add no `Hash` (the thumbprint stays the one Envoy wrote)
//! and no subject; and several `URI` pairs are not used at all, since one name holding
//! `;URI=` reads the same. Forward the certificate itself (`cert: true`) to use several URI
//! SANs: the names are then read from it.
//!
//! A certificate-bound token (RFC 8705) is checked against the certificate of the TLS
//! connection, unless the [`AuthLayer`](super::AuthLayer) is told which proxies forward it:
//! with [`AuthBuilder::forwarded_client_cert`](super::AuthBuilder::forwarded_client_cert), a
//! request from a trusted proxy is checked against the certificate its
//! `X-Forwarded-Client-Cert` names (`Hash`, or `Cert`), never against the proxy's own. Without
//! it, such a token is refused behind a TLS-terminating proxy (`401`, fail closed).
//!
//! # Errors
//!
//! A mapping that cannot work is a [`ConfigError`] at build. At run time: a certificate that
//! cannot be read, or whose identity is not mapped, is a `401` ("client certificate is
//! malformed", "client certificate identity is not allowed"); an expired one is a `401`
//! ("client certificate has expired"); a request without a certificate is not this
//! authenticator's (the next one of the chain is asked).

mod builder;
mod cert;
#[cfg(test)]
mod tests;
mod tls;
mod xfcc;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderName;

pub use builder::MtlsBuilder;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use tls::TlsListener;
pub use tls::{PeerCertificates, TlsConnectInfo};
pub use xfcc::XfccMode;

use self::cert::Identity;
use super::{
    Answer, AuthError, AuthMethod, Authenticator, Outcome, Principal, RequestHead, Scopes, Tier,
};
use crate::core::{Clock as _, SharedClock};
use crate::rate_limit::ClientIp;

/// Envoy's header.
const XFCC: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

/// The SHA-256 of the certificate a trusted proxy's client presented, as the last
/// `X-Forwarded-Client-Cert` line's right-most element says it (`Hash`, or computed from
/// `Cert`); `None` without one, or when it is malformed.
pub(crate) fn forwarded_thumbprint(headers: &http::HeaderMap, mode: XfccMode) -> Option<[u8; 32]> {
    let line = headers.get_all(XFCC).iter().next_back()?;
    xfcc::parse(line.as_bytes(), mode).ok()?.thumbprint
}

/// A mapping of [`MtlsAuth`] that cannot work ([`MtlsBuilder::build`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No identity is mapped: every certificate would be refused.
    #[error("an MtlsAuth needs at least one identity mapping")]
    NoIdentities,
    /// An identity that no certificate can have: empty, or a URI or DNS name with spaces or
    /// characters outside visible ASCII.
    #[error("invalid identity: {0:?}")]
    InvalidIdentity(String),
    /// A SPIFFE trust domain or path prefix that is not valid (SPIFFE-ID sections 2.1, 2.2).
    #[error("invalid SPIFFE trust domain or path: {0:?}")]
    InvalidSpiffe(String),
    /// The same identity mapped twice.
    #[error("identity mapped twice: {0:?}")]
    Duplicate(String),
}

/// What a certificate identity gets: a principal with this subject, tier, scopes and roles.
///
/// ```
/// use tower_shield::auth::Tier;
/// use tower_shield::auth::mtls::Grant;
///
/// let grant = Grant::new()
///     .subject("billing")
///     .scopes(["read:invoices", "write:invoices"])
///     .tier(Tier::PREMIUM);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Grant {
    subject: Option<Box<str>>,
    tier: Tier,
    scopes: Scopes,
    roles: Scopes,
}

impl Grant {
    /// The [`INTERNAL`](Tier::INTERNAL) tier, no scopes, no roles; the subject is the matched
    /// identity (the SPIFFE id, the URI, the DNS name or the common name).
    pub fn new() -> Self {
        Self {
            subject: None,
            tier: Tier::INTERNAL,
            scopes: Scopes::default(),
            roles: Scopes::default(),
        }
    }

    /// The principal's subject, instead of the matched identity.
    pub fn subject(mut self, subject: impl Into<Box<str>>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The tier (default [`Tier::INTERNAL`]).
    pub fn tier(mut self, tier: impl Into<Tier>) -> Self {
        self.tier = tier.into();
        self
    }

    /// The scopes granted.
    pub fn scopes<S: AsRef<str>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().collect();
        self
    }

    /// The roles held.
    pub fn roles<S: AsRef<str>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }
}

impl Default for Grant {
    fn default() -> Self {
        Self::new()
    }
}

/// SPIFFE ids of a trust domain under a path prefix.
#[derive(Debug)]
struct SpiffeRule {
    trust_domain: String,
    /// Without a trailing `/`; empty for the whole trust domain.
    prefix: String,
    grant: Grant,
}

struct Config {
    uris: HashMap<String, Grant>,
    dns: HashMap<String, Grant>,
    common_names: HashMap<String, Grant>,
    /// Longest prefix first.
    spiffe: Vec<SpiffeRule>,
    proxies: Option<ClientIp>,
    xfcc_mode: XfccMode,
    clock: SharedClock,
}

impl Config {
    /// The subject and grant of an identity: exact URIs first, then SPIFFE prefixes, DNS
    /// names, and the common name of a certificate without subject alternative names.
    fn resolve(&self, id: &Identity) -> Option<(String, &Grant)> {
        fn found<'g>(identity: &str, grant: &'g Grant) -> (String, &'g Grant) {
            let subject = grant.subject.as_deref().unwrap_or(identity).to_owned();
            (subject, grant)
        }
        // A SPIFFE ID is an identity only as an X509-SVID's one URI SAN (X509-SVID section 2):
        // a certificate with a `spiffe://` URI beside other URIs is no SVID, and none of its
        // SPIFFE IDs is taken, exactly mapped or not. Other URIs map as they are.
        let svid_rule_broken = id.uris.len() > 1 && id.uris.iter().any(|u| spiffe_id(u).is_some());
        for uri in &id.uris {
            if svid_rule_broken && spiffe_id(uri).is_some() {
                continue;
            }
            if let Some(grant) = self.uris.get(uri) {
                return Some(found(uri, grant));
            }
        }
        // An X509-SVID has exactly one URI SAN (X509-SVID section 2).
        if let [uri] = id.uris.as_slice()
            && let Some((trust_domain, path)) = spiffe_id(uri)
        {
            let rule = self.spiffe.iter().find(|r| {
                r.trust_domain == trust_domain
                    && path
                        .strip_prefix(r.prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            });
            if let Some(rule) = rule {
                return Some(found(uri, &rule.grant));
            }
        }
        for name in &id.dns_names {
            if let Some(grant) = self.dns.get(name) {
                return Some(found(name, grant));
            }
        }
        if !id.has_san()
            && let Some(cn) = &id.common_name
            && let Some(grant) = self.common_names.get(cn)
        {
            return Some(found(cn, grant));
        }
        None
    }
}

/// The trust domain and path of a valid SPIFFE id.
fn spiffe_id(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("spiffe://")?;
    let (trust_domain, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    (builder::valid_trust_domain(trust_domain) && builder::valid_path(path))
        .then_some((trust_domain, path))
}

/// Authenticates the client certificate of the connection (mutual TLS); see the
/// [module docs](self).
///
/// In a chain, put it **after** the token authenticators (`jwt.or(mtls)`): a request with a
/// token is the token's (the certificate then only binds it), one with a certificate alone
/// is the certificate's.
///
/// ```
/// use tower_shield::auth::MtlsAuth;
/// use tower_shield::auth::mtls::Grant;
///
/// let mtls = MtlsAuth::builder()
///     .spiffe("example.org", "/ns/prod", Grant::new())
///     .uri("spiffe://partner.example/gateway", Grant::new().subject("partner").tier("partner"))
///     .dns("reports.internal.example.com", Grant::new().scopes(["read:reports"]))
///     .common_name("legacy-batch", Grant::new().roles(["batch"]))
///     .build()?;
/// # Ok::<(), tower_shield::auth::mtls::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct MtlsAuth {
    config: Arc<Config>,
}

/// By hand: the configuration holds a clock, a trait object without `Debug`.
impl fmt::Debug for MtlsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("MtlsAuth")
            .field("uris", &c.uris.len())
            .field("dns", &c.dns.len())
            .field("common_names", &c.common_names.len())
            .field("spiffe", &c.spiffe)
            .field("forwarded_client_cert", &c.proxies.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(detail: &'static str) -> Outcome {
    Outcome::Rejected(AuthError::invalid(AuthMethod::Mtls, detail))
}

impl MtlsAuth {
    /// Starts a mapping.
    pub fn builder() -> MtlsBuilder {
        MtlsBuilder::new()
    }

    fn identify(&self, id: &Identity, thumbprint: Option<&[u8; 32]>) -> Outcome {
        if let Some((not_before, not_after)) = id.validity {
            let now = i64::try_from(self.config.clock.unix_secs()).unwrap_or(i64::MAX);
            if now > not_after {
                return Outcome::Rejected(AuthError::expired(
                    AuthMethod::Mtls,
                    "client certificate has expired",
                ));
            }
            if now < not_before {
                return Outcome::Rejected(AuthError::expired(
                    AuthMethod::Mtls,
                    "client certificate is not valid yet",
                ));
            }
        }
        let Some((subject, grant)) = self.config.resolve(id) else {
            return invalid("client certificate identity is not allowed");
        };
        let mut builder = Principal::builder(subject, AuthMethod::Mtls)
            .tier(grant.tier.clone())
            .scopes(grant.scopes.iter())
            .roles(grant.roles.iter());
        if let Some(thumbprint) = thumbprint {
            builder = builder.key_id(URL_SAFE_NO_PAD.encode(thumbprint));
        }
        Outcome::Authenticated(builder.build())
    }

    fn outcome(&self, req: &RequestHead<'_>) -> Outcome {
        let extensions = req.extensions();
        if let Some(proxies) = &self.config.proxies {
            let trusted = crate::rate_limit::peer_ip(extensions)
                .is_some_and(|ip| proxies.is_trusted_proxy(ip));
            if let Some(line) = req.headers().get_all(XFCC).iter().next_back() {
                if !trusted {
                    return invalid(
                        "X-Forwarded-Client-Cert is only accepted from trusted proxies",
                    );
                }
                return match xfcc::parse(line.as_bytes(), self.config.xfcc_mode) {
                    Ok(forwarded) => {
                        self.identify(&forwarded.identity, forwarded.thumbprint.as_ref())
                    }
                    Err(_) => invalid("malformed X-Forwarded-Client-Cert"),
                };
            }
            if trusted {
                // The proxy's own certificate is not its client's.
                return Outcome::Skip;
            }
        }
        let Some(peer) = PeerCertificates::from_extensions(extensions) else {
            return Outcome::Skip;
        };
        match peer.identity() {
            Ok(id) => self.identify(id, Some(peer.thumbprint())),
            Err(_) => invalid("client certificate is malformed"),
        }
    }
}

impl Authenticator for MtlsAuth {
    fn authenticate(&self, req: &RequestHead<'_>) -> Answer<Outcome> {
        Answer::Ready(self.outcome(req))
    }
}
