//! [`AuthBuilder`]: what an [`AuthLayer`] runs and how it treats requests without a credential.

use std::fmt;
use std::sync::Arc;

use super::audit::AuditHook;
use super::{AuthLayer, Authenticator, Chain, ConfigError, Throttle};

/// Builds an [`AuthLayer`]; see [`AuthLayer::builder`].
///
/// ```
/// use tower_shield::auth::{ApiKeyAuth, AuthLayer, MemoryKeyStore};
///
/// let layer = AuthLayer::builder()
///     .authenticator(ApiKeyAuth::new(MemoryKeyStore::new()))
///     .allow_anonymous(true)
///     .build()?;
///
/// assert!(AuthLayer::builder().build().is_err()); // no authenticator
/// # Ok::<(), tower_shield::auth::ConfigError>(())
/// ```
#[derive(Default)]
#[must_use]
pub struct AuthBuilder {
    chain: Chain,
    anonymous: bool,
    audit: Option<Arc<dyn AuditHook>>,
    throttle: Option<Throttle>,
    #[cfg(feature = "mtls")]
    forwarded: Option<crate::rate_limit::ClientIp>,
    #[cfg(feature = "mtls")]
    xfcc_mode: super::mtls::XfccMode,
}

impl AuthBuilder {
    /// Adds `authenticator` to the chain, asked when every one added before it skips.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.chain = self.chain.or(authenticator);
        self
    }

    /// Adds the authenticators of `chain` (one, or several joined with
    /// [`or`](Authenticator::or)), in order, after those added before.
    pub fn chain(mut self, chain: impl Into<Chain>) -> Self {
        self.chain.0.extend(chain.into().0);
        self
    }

    /// Whether a request without any credential goes on as
    /// [`Principal::anonymous`](super::Principal::anonymous) (default `false`: it is a `401`).
    /// An invalid credential is a `401` either way.
    pub fn allow_anonymous(mut self, on: bool) -> Self {
        self.anonymous = on;
        self
    }

    /// Sends every decision to `hook` as well as to `tracing`.
    pub fn audit(mut self, hook: impl AuditHook) -> Self {
        self.audit = Some(Arc::new(hook));
        self
    }

    /// Throttles failed credentials ([`Throttle`]: per client IP, per claimed identity, per
    /// both). Off by default.
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// Checks a certificate-bound token ([RFC 8705](https://www.rfc-editor.org/rfc/rfc8705),
    /// `cnf.x5t#S256`) behind a TLS-terminating proxy: on a request from one of `proxies`'
    /// trusted networks, the certificate is the one the proxy's `X-Forwarded-Client-Cert`
    /// names (Envoy's `Hash`, or its `Cert`), as
    /// [`MtlsBuilder::forwarded_client_cert`](super::mtls::MtlsBuilder::forwarded_client_cert)
    /// reads it; the proxy's own TLS certificate never counts, and a trusted request without
    /// the header presented none. From any other peer the header is not read: the connection's
    /// own certificate counts. Without this, only the connection's certificate counts.
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn forwarded_client_cert(mut self, proxies: crate::rate_limit::ClientIp) -> Self {
        self.forwarded = Some(proxies);
        self
    }

    /// How the trusted proxies write `X-Forwarded-Client-Cert`, as
    /// [`MtlsBuilder::forwarded_client_cert_mode`](super::mtls::MtlsBuilder::forwarded_client_cert_mode)
    /// reads it (default [`XfccMode::Sanitize`](super::mtls::XfccMode::Sanitize): the whole
    /// header is the client's element; a second `Hash` in it is malformed, and the token
    /// refused).
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn forwarded_client_cert_mode(mut self, mode: super::mtls::XfccMode) -> Self {
        self.xfcc_mode = mode;
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoAuthenticator`] when no authenticator was added,
    /// [`ConfigError::InvalidBackoff`] when a backoff of the throttle is unusable.
    pub fn build(self) -> Result<AuthLayer, ConfigError> {
        if self.chain.is_empty() {
            return Err(ConfigError::NoAuthenticator);
        }
        let throttle = self.throttle.map(|t| t.compile()).transpose()?;
        let mut layer = AuthLayer::from_parts(self.chain, self.anonymous, self.audit);
        layer.set_throttle(throttle);
        #[cfg(feature = "mtls")]
        layer.set_forwarded(self.forwarded.map(|proxies| (proxies, self.xfcc_mode)));
        Ok(layer)
    }
}

impl fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("chain", &self.chain)
            .field("anonymous", &self.anonymous)
            .field("audit", &self.audit.is_some())
            .field("throttle", &self.throttle)
            .finish()
    }
}
