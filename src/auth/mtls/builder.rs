//! [`MtlsBuilder`]: which certificate identities an [`MtlsAuth`] accepts, and as whom.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Config, ConfigError, Grant, MtlsAuth, SpiffeRule, XfccMode};
use crate::core::{Clock, SharedClock, system_clock};
use crate::rate_limit::ClientIp;

/// Builds an [`MtlsAuth`]; see [`MtlsAuth::builder`].
#[must_use]
pub struct MtlsBuilder {
    uris: Vec<(String, Grant)>,
    dns: Vec<(String, Grant)>,
    common_names: Vec<(String, Grant)>,
    spiffe: Vec<(String, String, Grant)>,
    proxies: Option<ClientIp>,
    xfcc_mode: XfccMode,
    clock: SharedClock,
}

/// By hand: the clock is a trait object without `Debug`.
impl fmt::Debug for MtlsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtlsBuilder")
            .field("uris", &self.uris)
            .field("dns", &self.dns)
            .field("common_names", &self.common_names)
            .field("spiffe", &self.spiffe)
            .finish_non_exhaustive()
    }
}

impl MtlsBuilder {
    pub(super) fn new() -> Self {
        Self {
            uris: Vec::new(),
            dns: Vec::new(),
            common_names: Vec::new(),
            spiffe: Vec::new(),
            proxies: None,
            xfcc_mode: XfccMode::Sanitize,
            clock: system_clock(),
        }
    }

    /// A certificate with the subject alternative name URI `uri` (exactly, case-sensitive)
    /// gets `grant`; its subject is `uri` unless the grant names one.
    pub fn uri(mut self, uri: impl Into<String>, grant: Grant) -> Self {
        self.uris.push((uri.into(), grant));
        self
    }

    /// A certificate with the subject alternative name DNS `name` (case-insensitive; no
    /// wildcard matching: a `*.example.com` certificate matches only the mapping
    /// `*.example.com`) gets `grant`; its subject is the name in lower case unless the grant
    /// names one.
    pub fn dns(mut self, name: impl Into<String>, grant: Grant) -> Self {
        self.dns.push((name.into(), grant));
        self
    }

    /// A certificate **without** URI or DNS subject alternative names whose subject has the
    /// single common name `cn` (exactly) gets `grant`; its subject is `cn` unless the grant
    /// names one. A certificate with subject alternative names is known by them only
    /// (RFC 6125 section 6.4.4).
    pub fn common_name(mut self, cn: impl Into<String>, grant: Grant) -> Self {
        self.common_names.push((cn.into(), grant));
        self
    }

    /// A certificate whose SPIFFE id (its one URI subject alternative name,
    /// `spiffe://trust_domain/path`) is in `trust_domain` with a path under `path_prefix`
    /// (whole segments: `/ns/prod` matches `/ns/prod` and `/ns/prod/sa/billing`, not
    /// `/ns/production`; `/` matches the whole trust domain) gets `grant`; its subject is the
    /// SPIFFE id. The longest matching prefix wins; an exact [`uri`](Self::uri) mapping comes
    /// before any prefix.
    pub fn spiffe(
        mut self,
        trust_domain: impl Into<String>,
        path_prefix: impl Into<String>,
        grant: Grant,
    ) -> Self {
        self.spiffe
            .push((trust_domain.into(), path_prefix.into(), grant));
        self
    }

    /// Believes Envoy's `X-Forwarded-Client-Cert` from the proxies `proxies` trusts (the
    /// connection's peer address, from `ConnectInfo<SocketAddr>`, `ConnectInfo<TlsConnectInfo>`
    /// or a [`PeerAddr`](crate::rate_limit::PeerAddr) extension, is a
    /// [trusted proxy](ClientIp::is_trusted_proxy)). From any other peer the header is
    /// refused with a `401`. Default: the header is not read at all.
    ///
    /// A request from a trusted proxy is known by the header only, never by the proxy's own
    /// TLS certificate: without the header it has no certificate identity. Configure Envoy
    /// with `forward_client_cert_details: SANITIZE_SET` (the header then describes the
    /// client of the proxy alone) and `set_current_client_cert_details` with `cert: true`
    /// (the certificate's dates are then checked too) or at least `uri`, `dns`, `subject`.
    ///
    /// The header is read as Envoy's `SANITIZE_SET` writes it: one element, the client's
    /// ([`XfccMode::Sanitize`]). A proxy that appends to the header it received (Envoy's
    /// `APPEND_FORWARD`) is [`XfccMode::Append`]: see
    /// [`forwarded_client_cert_mode`](Self::forwarded_client_cert_mode).
    pub fn forwarded_client_cert(mut self, proxies: ClientIp) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// How the trusted proxies write `X-Forwarded-Client-Cert` (default
    /// [`XfccMode::Sanitize`]: the whole header is their client's element). Give
    /// [`AuthBuilder::forwarded_client_cert_mode`](crate::auth::AuthBuilder::forwarded_client_cert_mode)
    /// the same, for certificate-bound tokens.
    pub fn forwarded_client_cert_mode(mut self, mode: XfccMode) -> Self {
        self.xfcc_mode = mode;
        self
    }

    /// The clock the certificates' validity dates are checked on (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The authenticator.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when no identity is mapped, an identity is empty or not a valid
    /// URI / DNS name / SPIFFE trust domain or path, or is mapped twice.
    pub fn build(self) -> Result<MtlsAuth, ConfigError> {
        if self.uris.is_empty()
            && self.dns.is_empty()
            && self.common_names.is_empty()
            && self.spiffe.is_empty()
        {
            return Err(ConfigError::NoIdentities);
        }
        let uris = exact(self.uris, |uri| visible(uri).then(|| uri.to_owned()))?;
        let dns = exact(self.dns, |name| {
            visible(name).then(|| name.to_ascii_lowercase())
        })?;
        let common_names = exact(self.common_names, |cn| {
            (!cn.is_empty() && !cn.chars().any(char::is_control)).then(|| cn.to_owned())
        })?;
        let mut spiffe = Vec::with_capacity(self.spiffe.len());
        for (trust_domain, prefix, grant) in self.spiffe {
            if !valid_trust_domain(&trust_domain) {
                return Err(ConfigError::InvalidSpiffe(trust_domain));
            }
            let prefix = match prefix.as_str() {
                "" | "/" => String::new(),
                p if p.starts_with('/') && valid_path(p.trim_end_matches('/')) => {
                    p.trim_end_matches('/').to_owned()
                }
                _ => return Err(ConfigError::InvalidSpiffe(prefix)),
            };
            if spiffe
                .iter()
                .any(|r: &SpiffeRule| r.trust_domain == trust_domain && r.prefix == prefix)
            {
                return Err(ConfigError::Duplicate(format!(
                    "spiffe://{trust_domain}{prefix}"
                )));
            }
            spiffe.push(SpiffeRule {
                trust_domain,
                prefix,
                grant,
            });
        }
        // Longest prefix first: the first match is the most specific.
        spiffe.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(MtlsAuth {
            config: Arc::new(Config {
                uris,
                dns,
                common_names,
                spiffe,
                proxies: self.proxies,
                xfcc_mode: self.xfcc_mode,
                clock: self.clock,
            }),
        })
    }
}

/// Exact identities into a map, each normalized by `normalize` (`None`: invalid).
fn exact(
    entries: Vec<(String, Grant)>,
    normalize: impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, Grant>, ConfigError> {
    let mut map = HashMap::with_capacity(entries.len());
    for (identity, grant) in entries {
        let key =
            normalize(&identity).ok_or_else(|| ConfigError::InvalidIdentity(identity.clone()))?;
        if map.insert(key, grant).is_some() {
            return Err(ConfigError::Duplicate(identity));
        }
    }
    Ok(map)
}

/// Non-empty visible ASCII, as a URI or a DNS name in a certificate is.
fn visible(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// A SPIFFE trust domain: lower-case letters, digits, `.`, `-`, `_` (SPIFFE-ID section 2.1).
pub(super) fn valid_trust_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
}

/// A SPIFFE path: `/`-separated non-empty segments of letters, digits, `.`, `-`, `_`, none
/// of them `.` or `..` (SPIFFE-ID section 2.2); the empty path too.
pub(super) fn valid_path(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let Some(rest) = s.strip_prefix('/') else {
        return false;
    };
    rest.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    })
}
