//! Finding the client IP address of a request, safely behind reverse proxies.
//!
//! A rate limiter keyed by IP address is only as good as the address it is given. Behind a
//! reverse proxy or load balancer, the socket peer is the proxy, so the client address has to be
//! read from a forwarding header, and that is where the danger lies: `X-Forwarded-For` is a list
//! that every hop *appends* to, so its **left-most entry is whatever the client chose to send**.
//! A key taken from it (as `tower_governor`'s `SmartIp` extractor does) lets every request claim
//! a fresh address and walk straight past the limit, or lets an attacker spend someone else's
//! budget by naming their address.
//!
//! [`ClientIp`] only reads forwarding headers when the socket peer is a proxy you declared
//! trusted, and then walks the entries **right to left**, from the nearest hop outwards, skipping
//! entries that are themselves trusted proxies. The first untrusted entry is the client: it was
//! written by a proxy you trust, so it is the address that proxy saw. Whatever the client put
//! further left is never looked at.
//!
//! - The peer address comes from the request extensions: `axum::extract::ConnectInfo<SocketAddr>`
//!   (with the `axum` feature, set by `into_make_service_with_connect_info`), or
//!   `ConnectInfo<TlsConnectInfo>` (with the `mtls` feature too, as `TlsListener` serves it),
//!   or else [`PeerAddr`], which hyper and tower users insert themselves.
//! - An untrusted peer is the client, and forwarding headers are ignored entirely.
//! - A trusted peer with no forwarding header is the client; when every entry is trusted, the
//!   left-most entry is.
//! - An entry that is not an IP address where one is needed (`unknown`, an RFC 7239 obfuscated
//!   identifier such as `_hidden`, garbage) makes the client unknown (`None`); it is never
//!   skipped, since whatever lies beyond it was not vouched for.
//! - IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) count as the IPv4 address.
//! - The result is masked to a prefix: by default an IPv6 client is its /64 (one end site can
//!   hold billions of addresses, so single IPv6 addresses are free to rotate), an IPv4 client
//!   its /32.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use tower_shield::rate_limit::{ClientIp, PeerAddr};
//!
//! let client_ip = ClientIp::builder()
//!     .trust_proxies(["10.0.0.0/8"])
//!     .build()
//!     .unwrap();
//!
//! // The load balancer at 10.0.0.2 appended the address it saw (203.0.113.9) to the
//! // forged entry the client sent.
//! let mut request = http::Request::builder()
//!     .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
//!     .body(())
//!     .unwrap();
//! let peer: SocketAddr = "10.0.0.2:51234".parse().unwrap();
//! request.extensions_mut().insert(PeerAddr(peer));
//!
//! assert_eq!(
//!     client_ip.resolve(request.extensions(), request.headers()),
//!     Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
//! );
//! ```

mod forwarded;
mod network;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName};

use forwarded::{OWS, forwarded_for, parse_node, visible_ascii};
pub(crate) use network::Network;
use network::{mask_v4, mask_v6};

/// Forwarding entries examined per request before giving up (`None`).
const MAX_ENTRIES: usize = 64;
const DEFAULT_IPV4_PREFIX: u8 = 32;
const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The socket address of the connection's peer, as a request extension.
///
/// axum users get the peer from `axum::extract::ConnectInfo<SocketAddr>` (with the `axum`
/// feature) and do not need this. Others insert it where the connection is accepted:
///
/// ```
/// use std::net::SocketAddr;
/// use tower_shield::rate_limit::PeerAddr;
///
/// let peer: SocketAddr = "192.0.2.1:40000".parse().unwrap();
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(PeerAddr(peer));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The forwarding header that trusted proxies write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: 203.0.113.9, 10.0.0.1`: a comma-separated list of addresses, optionally
    /// with ports (`203.0.113.9:4711`, `[2001:db8::1]:4711`).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=203.0.113.9;proto=https, for="[2001:db8::1]"` (RFC 7239): the `for`
    /// parameter of each element. Elements without one are treated as unknown.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            Self::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => http::header::FORWARDED,
        }
    }
}

/// How to find the client IP address of a request: the socket peer, or, when the peer is a
/// trusted proxy, the nearest untrusted hop named in the forwarding header.
///
/// [`ClientIp::peer`] (the default) ignores forwarding headers. Behind proxies, declare them
/// with [`ClientIp::builder`] and [`ClientIpBuilder::trust_proxies`]: only the networks your
/// proxies connect from, never a network clients can connect from.
///
/// Cheap to clone (the configuration is shared).
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use tower_shield::rate_limit::{ClientIp, PeerAddr};
///
/// let client_ip = ClientIp::builder()
///     .trust_proxies(["10.0.0.0/8", "fd00::/8"])
///     .build()
///     .unwrap();
///
/// // A request straight from the internet: its X-Forwarded-For is not believed.
/// let mut request = http::Request::builder()
///     .header("x-forwarded-for", "192.0.2.1")
///     .body(())
///     .unwrap();
/// let peer: SocketAddr = "198.51.100.7:50000".parse().unwrap();
/// request.extensions_mut().insert(PeerAddr(peer));
///
/// let expected: IpAddr = "198.51.100.7".parse().unwrap();
/// assert_eq!(client_ip.resolve(request.extensions(), request.headers()), Some(expected));
/// ```
#[derive(Clone, Debug)]
pub struct ClientIp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    trusted: Box<[Network]>,
    header: ForwardedHeader,
    header_name: HeaderName,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl ClientIp {
    /// The socket peer only; forwarding headers are ignored. IPv6 peers are grouped by /64,
    /// IPv4 peers are their /32.
    #[must_use]
    pub fn peer() -> Self {
        Self::from_parts(
            Vec::new(),
            ForwardedHeader::default(),
            DEFAULT_IPV4_PREFIX,
            DEFAULT_IPV6_PREFIX,
        )
    }

    /// A builder, to trust proxies, choose the forwarding header or change the prefixes.
    pub fn builder() -> ClientIpBuilder {
        ClientIpBuilder {
            trusted: Vec::new(),
            error: None,
            header: ForwardedHeader::default(),
            ipv4_prefix: DEFAULT_IPV4_PREFIX,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }

    fn from_parts(
        trusted: Vec<Network>,
        header: ForwardedHeader,
        ipv4_prefix: u8,
        ipv6_prefix: u8,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                trusted: trusted.into_boxed_slice(),
                header,
                header_name: header.name(),
                ipv4_prefix,
                ipv6_prefix,
            }),
        }
    }

    /// The client IP address of a request, masked to the configured prefix (so that every
    /// address of one IPv6 /64 gives the same key by default).
    ///
    /// `None` when it cannot be known: there is no peer address in `extensions` (neither
    /// `axum::extract::ConnectInfo<SocketAddr>`, nor with the `mtls` feature
    /// `ConnectInfo<TlsConnectInfo>`, nor [`PeerAddr`]), or the walk through the
    /// forwarding header of a trusted peer reached an entry that is not an IP address, or
    /// went through more than 64 entries. The caller decides what a request without a key
    /// gets.
    #[must_use]
    pub fn resolve(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        self.address(extensions, headers)
            .map(|client| self.mask(client))
    }

    /// [`resolve`](Self::resolve) without the mask: the client's own address, canonical (an
    /// IPv4-mapped address as IPv4), for the IP filter.
    pub(crate) fn address(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer_ip(extensions)?.to_canonical();
        if self.trusts(peer) {
            self.walk(peer, headers)
        } else {
            Some(peer)
        }
    }

    /// Whether `ip` is in one of the trusted proxy networks (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address).
    #[must_use]
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusts(ip.to_canonical())
    }

    /// The forwarding header read from trusted proxies.
    #[must_use]
    pub fn header(&self) -> ForwardedHeader {
        self.inner.header
    }

    /// The prefix length IPv4 clients are grouped by (32 unless configured).
    #[must_use]
    pub fn ipv4_prefix(&self) -> u8 {
        self.inner.ipv4_prefix
    }

    /// The prefix length IPv6 clients are grouped by (64 unless configured).
    #[must_use]
    pub fn ipv6_prefix(&self) -> u8 {
        self.inner.ipv6_prefix
    }

    /// `ip` must be canonical.
    fn trusts(&self, ip: IpAddr) -> bool {
        self.inner
            .trusted
            .iter()
            .any(|network| network.contains(ip))
    }

    /// Walks the forwarding entries of a trusted peer right to left.
    fn walk(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let mut examined = 0_usize;
        let mut leftmost_trusted = None;
        for line in headers.get_all(&self.inner.header_name).iter().rev() {
            // Split the raw bytes rather than `to_str` the whole line, so that bytes to the
            // left of the entries we need (the client's own contribution) cannot spoil them.
            for raw in line.as_bytes().rsplit(|&byte| byte == b',') {
                examined += 1;
                if examined > MAX_ENTRIES {
                    return None;
                }
                let entry = visible_ascii(raw)?.trim_matches(OWS);
                if entry.is_empty() {
                    // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
                    continue;
                }
                let ip = match self.inner.header {
                    ForwardedHeader::XForwardedFor => parse_node(entry),
                    ForwardedHeader::Forwarded => forwarded_for(entry),
                }?
                .to_canonical();
                if !self.trusts(ip) {
                    return Some(ip);
                }
                leftmost_trusted = Some(ip);
            }
        }
        Some(leftmost_trusted.unwrap_or(peer))
    }

    fn mask(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(
                u32::from(v4) & mask_v4(self.inner.ipv4_prefix),
            )),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & mask_v6(self.inner.ipv6_prefix),
            )),
        }
    }
}

impl Default for ClientIp {
    /// [`ClientIp::peer`].
    fn default() -> Self {
        Self::peer()
    }
}

/// Builds a [`ClientIp`]; from [`ClientIp::builder`].
///
/// Errors (an unparseable network, an invalid prefix) are reported by
/// [`build`](ClientIpBuilder::build).
#[must_use]
#[derive(Clone, Debug)]
pub struct ClientIpBuilder {
    trusted: Vec<Network>,
    error: Option<ClientIpError>,
    header: ForwardedHeader,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl ClientIpBuilder {
    /// Trusts proxies at these addresses or networks, e.g. `"10.0.0.0/8"`, `"192.168.1.7"`,
    /// `"::1"`, `"fd00::/8"`. Adds to the networks given before.
    ///
    /// A network with bits set past its prefix (`"10.1.2.3/8"`) is refused
    /// ([`ClientIpError::HostBitsSet`], which names the network it would be), not masked: a
    /// wrong prefix length in a trust list lets a whole network choose its client address, as
    /// the [IP filter](crate::ip_filter) refuses it in an access list. IPv4-mapped
    /// IPv6 networks (`"::ffff:10.0.0.0/104"`) are taken as the IPv4 network, as addresses
    /// are. A prefix of 0 (`"0.0.0.0/0"`, `"::/0"`) is refused: trusting every address would
    /// let any client choose its own address.
    pub fn trust_proxies<I, S>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for network in networks {
            match Network::parse(network.as_ref()) {
                Ok(network) => self.trusted.push(network),
                Err(error) => {
                    self.error.get_or_insert(error);
                }
            }
        }
        self
    }

    /// The forwarding header trusted proxies write ([`ForwardedHeader::XForwardedFor`] unless
    /// set). The other header is ignored.
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Groups IPv6 clients by this prefix length, 1 to 128 (default 64: a /64 is what one
    /// end site, often one subscriber, gets).
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = bits;
        self
    }

    /// Groups IPv4 clients by this prefix length, 1 to 32 (default 32: every address apart).
    pub fn ipv4_prefix(mut self, bits: u8) -> Self {
        self.ipv4_prefix = bits;
        self
    }

    /// The [`ClientIp`].
    ///
    /// # Errors
    ///
    /// - [`ClientIpError::InvalidNetwork`]: a trusted network is not an IP address or CIDR
    ///   network, or its prefix is longer than the address (`"10.0.0.0/33"`). The first such
    ///   network is reported.
    /// - [`ClientIpError::HostBitsSet`]: a trusted network has bits set past its prefix.
    /// - [`ClientIpError::NetworkTooWide`]: a trusted network has a prefix of 0.
    /// - [`ClientIpError::InvalidPrefix`]: an IPv4 prefix outside 1 to 32 or an IPv6 prefix
    ///   outside 1 to 128 (a prefix of 0 would give every client the same key).
    pub fn build(self) -> Result<ClientIp, ClientIpError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !(1..=32).contains(&self.ipv4_prefix) {
            return Err(ClientIpError::InvalidPrefix {
                family: "IPv4",
                bits: self.ipv4_prefix,
            });
        }
        if !(1..=128).contains(&self.ipv6_prefix) {
            return Err(ClientIpError::InvalidPrefix {
                family: "IPv6",
                bits: self.ipv6_prefix,
            });
        }
        Ok(ClientIp::from_parts(
            self.trusted,
            self.header,
            self.ipv4_prefix,
            self.ipv6_prefix,
        ))
    }
}

/// A [`ClientIpBuilder`] configuration error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientIpError {
    /// A trusted proxy network is not an IP address or CIDR network, or its prefix is longer
    /// than the address.
    #[error(
        "invalid trusted proxy network {value:?}: expected an IP address or a CIDR network \
         such as \"10.0.0.0/8\""
    )]
    InvalidNetwork {
        /// The network as given (trimmed).
        value: String,
    },
    /// A trusted proxy network has bits set past its prefix (`"203.0.113.7/8"`): refused
    /// rather than masked, since a wrong prefix length would trust a whole network.
    #[error(
        "trusted proxy network {value:?} has bits set past its prefix: write {network:?} if \
         you mean it"
    )]
    HostBitsSet {
        /// The network as given (trimmed).
        value: String,
        /// The network it would be with those bits cleared.
        network: String,
    },
    /// A trusted proxy network has a prefix of 0, so it would trust every address.
    #[error("trusted proxy network {value:?} has a prefix of 0 and would trust every address")]
    NetworkTooWide {
        /// The network as given (trimmed).
        value: String,
    },
    /// A client prefix length is 0 or longer than the address.
    #[error(
        "invalid {family} client prefix /{bits}: expected 1 to {max}",
        max = if *family == "IPv4" { 32 } else { 128 }
    )]
    InvalidPrefix {
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
        /// The prefix length given.
        bits: u8,
    },
}

/// The peer address from the request extensions: axum's `ConnectInfo<SocketAddr>`, then (with
/// the `mtls` feature) `ConnectInfo<TlsConnectInfo>` as `TlsListener` serves it, then
/// [`PeerAddr`]. The same sources, in the same order, as `MtlsAuth`'s proxy check.
pub(crate) fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    {
        use axum::extract::ConnectInfo;
        if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            return Some(addr.ip());
        }
        #[cfg(feature = "mtls")]
        if let Some(ConnectInfo(info)) =
            extensions.get::<ConnectInfo<crate::auth::TlsConnectInfo>>()
        {
            return Some(info.remote_addr().ip());
        }
    }
    extensions.get::<PeerAddr>().map(|PeerAddr(addr)| addr.ip())
}

#[cfg(test)]
mod tests;
