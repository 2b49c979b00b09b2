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
//!   (with the `axum` feature, set by `into_make_service_with_connect_info`), or else
//!   [`PeerAddr`], which hyper and tower users insert themselves.
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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName};

/// Forwarding entries examined per request before giving up (`None`).
const MAX_ENTRIES: usize = 64;
const DEFAULT_IPV4_PREFIX: u8 = 32;
const DEFAULT_IPV6_PREFIX: u8 = 64;
/// Optional whitespace (RFC 9110 §5.6.3).
const OWS: [char; 2] = [' ', '\t'];

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
#[derive(Clone)]
pub struct ClientIp {
    inner: Arc<Inner>,
}

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
    /// `axum::extract::ConnectInfo<SocketAddr>` nor [`PeerAddr`]), or the walk through the
    /// forwarding header of a trusted peer reached an entry that is not an IP address, or
    /// went through more than 64 entries. The caller decides what a request without a key
    /// gets.
    #[must_use]
    pub fn resolve(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer_ip(extensions)?.to_canonical();
        let client = if self.trusts(peer) {
            self.walk(peer, headers)?
        } else {
            peer
        };
        Some(self.mask(client))
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

impl fmt::Debug for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIp")
            .field("trusted_proxies", &self.inner.trusted)
            .field("header", &self.inner.header)
            .field("ipv4_prefix", &self.inner.ipv4_prefix)
            .field("ipv6_prefix", &self.inner.ipv6_prefix)
            .finish()
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
    /// Bits set past the prefix are ignored (`"10.1.2.3/8"` is `10.0.0.0/8`). IPv4-mapped
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIpError {
    /// A trusted proxy network is not an IP address or CIDR network, or its prefix is longer
    /// than the address.
    InvalidNetwork {
        /// The network as given (trimmed).
        value: String,
    },
    /// A trusted proxy network has a prefix of 0, so it would trust every address.
    NetworkTooWide {
        /// The network as given (trimmed).
        value: String,
    },
    /// A client prefix length is 0 or longer than the address.
    InvalidPrefix {
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
        /// The prefix length given.
        bits: u8,
    },
}

impl fmt::Display for ClientIpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidNetwork { value } => write!(
                f,
                "invalid trusted proxy network {value:?}: expected an IP address or a CIDR \
                 network such as \"10.0.0.0/8\""
            ),
            Self::NetworkTooWide { value } => write!(
                f,
                "trusted proxy network {value:?} has a prefix of 0 and would trust every address"
            ),
            Self::InvalidPrefix { family, bits } => {
                let max = if *family == "IPv4" { 32 } else { 128 };
                write!(
                    f,
                    "invalid {family} client prefix /{bits}: expected 1 to {max}"
                )
            }
        }
    }
}

impl std::error::Error for ClientIpError {}

/// A trusted network, stored masked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Network {
    V4 { addr: u32, bits: u8 },
    V6 { addr: u128, bits: u8 },
}

impl Network {
    pub(crate) fn parse(value: &str) -> Result<Self, ClientIpError> {
        let value = value.trim();
        let invalid = || ClientIpError::InvalidNetwork {
            value: value.to_owned(),
        };
        let (addr, bits) = match value.split_once('/') {
            None => (value.parse::<IpAddr>().map_err(|_| invalid())?, None),
            Some((addr, bits)) => {
                let addr = addr.parse::<IpAddr>().map_err(|_| invalid())?;
                if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                (addr, Some(bits.parse::<u8>().map_err(|_| invalid())?))
            }
        };
        let network = match addr {
            IpAddr::V4(v4) => Self::v4(v4, bits.unwrap_or(32)),
            IpAddr::V6(v6) => {
                let bits = bits.unwrap_or(128);
                match v6.to_ipv4_mapped() {
                    // Addresses are canonicalized, so a mapped network must be too.
                    Some(v4) if (96..=128).contains(&bits) => Self::v4(v4, bits - 96),
                    _ if bits > 128 => return Err(invalid()),
                    _ => Self::V6 {
                        addr: u128::from(v6) & mask_v6(bits),
                        bits,
                    },
                }
            }
        };
        match network {
            Self::V4 { bits, .. } if bits > 32 => Err(invalid()),
            Self::V4 { bits: 0, .. } | Self::V6 { bits: 0, .. } => {
                Err(ClientIpError::NetworkTooWide {
                    value: value.to_owned(),
                })
            }
            network => Ok(network),
        }
    }

    fn v4(addr: Ipv4Addr, bits: u8) -> Self {
        Self::V4 {
            addr: u32::from(addr) & mask_v4(bits),
            bits,
        }
    }

    /// `ip` must be canonical.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Self::V4 { addr, bits }, IpAddr::V4(ip)) => u32::from(ip) & mask_v4(bits) == addr,
            (Self::V6 { addr, bits }, IpAddr::V6(ip)) => u128::from(ip) & mask_v6(bits) == addr,
            _ => false,
        }
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::V4 { addr, bits } => write!(f, "{}/{bits}", Ipv4Addr::from(addr)),
            Self::V6 { addr, bits } => write!(f, "{}/{bits}", Ipv6Addr::from(addr)),
        }
    }
}

/// The mask of an IPv4 prefix (0 → none, 32 or more → all bits).
fn mask_v4(bits: u8) -> u32 {
    u32::MAX
        .checked_shl(32_u32.saturating_sub(u32::from(bits)))
        .unwrap_or(0)
}

/// The mask of an IPv6 prefix (0 → none, 128 or more → all bits).
fn mask_v6(bits: u8) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(u32::from(bits)))
        .unwrap_or(0)
}

/// The peer address from the request extensions.
fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    extensions.get::<PeerAddr>().map(|PeerAddr(addr)| addr.ip())
}

/// `bytes` as a `&str` if they are all visible ASCII (or tabs), as header values should be.
fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`. Ports may be RFC 7239 obfuscated ports (`_abc`).
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches(OWS);
    if let Some(rest) = node.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        return host.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A port number, or an RFC 7239 obfuscated port (`"_" 1*(ALPHA / DIGIT / "." / "_" / "-")`).
fn is_port(port: &str) -> bool {
    if let Some(obfuscated) = port.strip_prefix('_') {
        return !obfuscated.is_empty()
            && obfuscated
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

/// The address of the `for` parameter of one RFC 7239 element, like
/// `for=192.0.2.60;proto=http;by=203.0.113.43` or `For="[2001:db8::1]:4711"`.
///
/// Conservative: an element whose parameters do not parse (no `=`, unbalanced quotes, which is
/// also what a quoted `,` or `;` split apart looks like), or with more than one `for`, is
/// `None`, as is one without `for`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let pair = pair.trim_matches(OWS);
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches(OWS);
        if name.is_empty() {
            return None;
        }
        let value = unquote(value.trim_matches(OWS))?;
        if name.eq_ignore_ascii_case("for") && found.replace(value).is_some() {
            return None;
        }
    }
    parse_node(found?)
}

/// A token, or the inside of a quoted string. Escaped quotes are refused: no address has one.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|inner| !inner.contains('"')),
        None => (!value.contains('"')).then_some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XFF: &str = "x-forwarded-for";
    const FWD: &str = "forwarded";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Resolves a request from `peer` (a socket address) with `name` header lines `values`.
    fn resolve(client_ip: &ClientIp, peer: &str, name: &str, values: &[&str]) -> Option<IpAddr> {
        let mut extensions = Extensions::new();
        extensions.insert(PeerAddr(peer.parse().unwrap()));
        resolve_with(client_ip, &extensions, name, values)
    }

    fn resolve_with(
        client_ip: &ClientIp,
        extensions: &Extensions,
        name: &str,
        values: &[&str],
    ) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        client_ip.resolve(extensions, &headers)
    }

    /// Trusts 10.0.0.0/8, 192.168.1.7 and fd00::/8; exact IPv6 results.
    fn behind_proxies() -> ClientIp {
        ClientIp::builder()
            .trust_proxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8"])
            .ipv6_prefix(128)
            .build()
            .unwrap()
    }

    fn forwarded() -> ClientIp {
        ClientIp::builder()
            .trust_proxies(["10.0.0.0/8", "fd00::/8"])
            .header(ForwardedHeader::Forwarded)
            .ipv6_prefix(128)
            .build()
            .unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_forged_header() {
        let got = resolve(
            &behind_proxies(),
            "198.51.100.7:5000",
            XFF,
            &["10.0.0.1, 6.6.6.6"],
        );
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn peer_only_ignores_headers() {
        let client_ip = ClientIp::default();
        assert!(!client_ip.is_trusted_proxy(ip("127.0.0.1")));
        let got = resolve(&client_ip, "127.0.0.1:5000", XFF, &["6.6.6.6"]);
        assert_eq!(got, Some(ip("127.0.0.1")));
        let got = resolve(&client_ip, "127.0.0.1:5000", FWD, &["for=6.6.6.6"]);
        assert_eq!(got, Some(ip("127.0.0.1")));
    }

    #[test]
    fn forged_leftmost_entry_is_ignored() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["6.6.6.6, 203.0.113.9"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_hops_are_skipped() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["6.6.6.6, 203.0.113.9, 192.168.1.7, 10.9.8.7, fd00::1"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn single_trusted_address_is_not_a_network() {
        // 192.168.1.7 is trusted, 192.168.1.8 is not.
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["203.0.113.9, 192.168.1.8"],
        );
        assert_eq!(got, Some(ip("192.168.1.8")));
        let got = resolve(&behind_proxies(), "192.168.1.8:5000", XFF, &["203.0.113.9"]);
        assert_eq!(got, Some(ip("192.168.1.8")));
    }

    #[test]
    fn all_trusted_gives_leftmost() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["10.1.1.1, 10.2.2.2"],
        );
        assert_eq!(got, Some(ip("10.1.1.1")));
    }

    #[test]
    fn trusted_peer_without_header_is_client() {
        assert_eq!(
            resolve(&behind_proxies(), "10.0.0.2:5000", XFF, &[]),
            Some(ip("10.0.0.2"))
        );
        // Only empty elements: as good as no header.
        assert_eq!(
            resolve(&behind_proxies(), "10.0.0.2:5000", XFF, &["", " , "]),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn header_lines_are_walked_last_first() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["6.6.6.6, 203.0.113.9", "10.0.0.5, 10.0.0.6"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["203.0.113.9", "198.51.100.1"],
        );
        assert_eq!(got, Some(ip("198.51.100.1")));
    }

    #[test]
    fn ports_brackets_and_whitespace() {
        let client_ip = behind_proxies();
        let cases = [
            ("203.0.113.7:4711", "203.0.113.7"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            (" \t203.0.113.7 \t", "203.0.113.7"),
            ("203.0.113.7:_obf", "203.0.113.7"),
        ];
        for (entry, expected) in cases {
            let got = resolve(&client_ip, "10.0.0.2:5000", XFF, &[entry]);
            assert_eq!(got, Some(ip(expected)), "{entry:?}");
        }
        let got = resolve(
            &client_ip,
            "10.0.0.2:5000",
            XFF,
            &["203.0.113.9,10.0.0.3:80,[fd00::2]:1"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn non_address_reached_is_none() {
        let client_ip = behind_proxies();
        for entry in [
            "unknown",
            "_hidden",
            "not-an-ip",
            "203.0.113.7:99999",
            "203.0.113.7:",
            "[2001:db8::1",
            "[2001:db8::1]4711",
            "[203.0.113.7]",
            "fe80::1%eth0",
            "010.0.0.1",
            "203.0.113.7 203.0.113.8",
        ] {
            let got = resolve(&client_ip, "10.0.0.2:5000", XFF, &[entry]);
            assert_eq!(got, None, "{entry:?}");
        }
    }

    #[test]
    fn non_address_is_not_skipped() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["203.0.113.9, unknown, 10.0.0.3"],
        );
        assert_eq!(got, None);
    }

    #[test]
    fn non_address_beyond_client_is_not_reached() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["garbage, 203.0.113.9"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn non_ascii_only_matters_when_reached() {
        let client_ip = behind_proxies();
        let mut extensions = Extensions::new();
        extensions.insert(PeerAddr("10.0.0.2:5000".parse().unwrap()));
        let mut headers = HeaderMap::new();
        let forged = http::HeaderValue::from_bytes(b"\xc3\xbc, 203.0.113.9").unwrap();
        headers.insert(XFF, forged);
        assert_eq!(
            client_ip.resolve(&extensions, &headers),
            Some(ip("203.0.113.9"))
        );

        let reached = http::HeaderValue::from_bytes(b"203.0.113.9, 10.0.0.3\xff").unwrap();
        headers.insert(XFF, reached);
        assert_eq!(client_ip.resolve(&extensions, &headers), None);
    }

    #[test]
    fn walk_is_bounded() {
        let client_ip = behind_proxies();
        let hops = vec!["10.0.0.3"; MAX_ENTRIES - 1].join(", ");
        let within = format!("203.0.113.9, {hops}");
        assert_eq!(
            resolve(&client_ip, "10.0.0.2:5000", XFF, &[&within]),
            Some(ip("203.0.113.9"))
        );
        let beyond = format!("203.0.113.9, 10.0.0.4, {hops}");
        assert_eq!(resolve(&client_ip, "10.0.0.2:5000", XFF, &[&beyond]), None);
    }

    #[test]
    fn forwarded_quoted_ipv6_and_parameters() {
        let client_ip = forwarded();
        let got = resolve(
            &client_ip,
            "10.0.0.2:5000",
            FWD,
            &[
                r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.9;by=10.0.0.2"#,
            ],
        );
        assert_eq!(got, Some(ip("2001:db8:cafe::17")));
        let got = resolve(
            &client_ip,
            "10.0.0.2:5000",
            FWD,
            &[
                "for=192.0.2.60;proto=http;by=203.0.113.43",
                r#"FOR="10.0.0.7""#,
            ],
        );
        assert_eq!(got, Some(ip("192.0.2.60")));
        let got = resolve(
            &client_ip,
            "10.0.0.2:5000",
            FWD,
            &[r#"proto=https; for="_x", for=192.0.2.1 ; proto=http"#],
        );
        assert_eq!(got, Some(ip("192.0.2.1")));
    }

    #[test]
    fn forwarded_unknown_or_malformed_is_none() {
        let client_ip = forwarded();
        for element in [
            "for=unknown",
            r#"for="_hidden""#,
            r#"for="[2001:db8::1]:4711"#,
            "proto=https;by=10.0.0.2",
            "for=192.0.2.1;for=192.0.2.2",
            "for",
            "=192.0.2.1",
            r#"for=192.0.2.1;host="a"b""#,
            "for=",
        ] {
            let got = resolve(&client_ip, "10.0.0.2:5000", FWD, &[element]);
            assert_eq!(got, None, "{element:?}");
        }
        // A quoted comma splits into unbalanced halves: None, not a misread address.
        let got = resolve(
            &client_ip,
            "10.0.0.2:5000",
            FWD,
            &[r#"for=10.0.0.5;host="x,for=192.0.2.1""#],
        );
        assert_eq!(got, None);
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let got = resolve(&forwarded(), "10.0.0.2:5000", XFF, &["203.0.113.9"]);
        assert_eq!(got, Some(ip("10.0.0.2")));
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            FWD,
            &["for=203.0.113.9"],
        );
        assert_eq!(got, Some(ip("10.0.0.2")));
    }

    #[test]
    fn ipv6_is_grouped_by_64() {
        let client_ip = ClientIp::peer();
        let a = resolve(&client_ip, "[2001:db8:1:2:aaaa::1]:5000", XFF, &[]);
        let b = resolve(&client_ip, "[2001:db8:1:2:bbbb::2]:5000", XFF, &[]);
        let c = resolve(&client_ip, "[2001:db8:1:3::1]:5000", XFF, &[]);
        assert_eq!(a, Some(ip("2001:db8:1:2::")));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            resolve(&client_ip, "203.0.113.9:5000", XFF, &[]),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn forwarded_entries_are_masked_too() {
        let client_ip = ClientIp::builder()
            .trust_proxies(["10.0.0.0/8"])
            .build()
            .unwrap();
        let got = resolve(&client_ip, "10.0.0.2:5000", XFF, &["2001:db8:1:2:3:4:5:6"]);
        assert_eq!(got, Some(ip("2001:db8:1:2::")));
    }

    #[test]
    fn custom_prefixes() {
        let client_ip = ClientIp::builder()
            .ipv6_prefix(48)
            .ipv4_prefix(24)
            .build()
            .unwrap();
        assert_eq!(client_ip.ipv4_prefix(), 24);
        assert_eq!(client_ip.ipv6_prefix(), 48);
        assert_eq!(
            resolve(&client_ip, "[2001:db8:1:ffff::1]:5000", XFF, &[]),
            Some(ip("2001:db8:1::"))
        );
        assert_eq!(
            resolve(&client_ip, "203.0.113.9:5000", XFF, &[]),
            Some(ip("203.0.113.0"))
        );
    }

    #[test]
    fn mapped_ipv4_peer_is_ipv4() {
        let client_ip = behind_proxies();
        // Untrusted: the IPv4 address itself, not grouped into ::ffff:0:0/64.
        let got = resolve(&client_ip, "[::ffff:198.51.100.7]:5000", XFF, &["6.6.6.6"]);
        assert_eq!(got, Some(ip("198.51.100.7")));
        // Trusted through 10.0.0.0/8.
        assert!(client_ip.is_trusted_proxy(ip("::ffff:10.0.0.2")));
        let got = resolve(&client_ip, "[::ffff:10.0.0.2]:5000", XFF, &["203.0.113.9"]);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn mapped_ipv4_entries_are_ipv4() {
        let got = resolve(
            &behind_proxies(),
            "10.0.0.2:5000",
            XFF,
            &["6.6.6.6, ::ffff:203.0.113.9, [::ffff:10.0.0.3]:80"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn mapped_network_is_ipv4_network() {
        let client_ip = ClientIp::builder()
            .trust_proxies(["::ffff:10.0.0.0/104"])
            .build()
            .unwrap();
        assert!(client_ip.is_trusted_proxy(ip("10.1.2.3")));
        assert!(!client_ip.is_trusted_proxy(ip("11.1.2.3")));
        assert!(format!("{client_ip:?}").contains("10.0.0.0/8"));
    }

    #[test]
    fn host_bits_of_networks_are_ignored() {
        let client_ip = ClientIp::builder()
            .trust_proxies([" 10.1.2.3/8 ", "fd00::1/8"])
            .build()
            .unwrap();
        assert!(client_ip.is_trusted_proxy(ip("10.200.0.1")));
        assert!(client_ip.is_trusted_proxy(ip("fdff::1")));
        assert!(!client_ip.is_trusted_proxy(ip("fe00::1")));
        assert!(!client_ip.is_trusted_proxy(ip("11.0.0.1")));
    }

    #[test]
    fn no_peer_is_none() {
        let mut headers = HeaderMap::new();
        headers.insert(XFF, "203.0.113.9".parse().unwrap());
        assert_eq!(behind_proxies().resolve(&Extensions::new(), &headers), None);
        assert_eq!(
            ClientIp::peer().resolve(&Extensions::new(), &HeaderMap::new()),
            None
        );
    }

    #[cfg(feature = "axum")]
    #[test]
    fn connect_info_is_the_peer() {
        let mut extensions = Extensions::new();
        let addr: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        extensions.insert(axum::extract::ConnectInfo(addr));
        let got = resolve_with(
            &behind_proxies(),
            &extensions,
            XFF,
            &["6.6.6.6, 203.0.113.9"],
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
        // Preferred over a PeerAddr.
        extensions.insert(PeerAddr("198.51.100.7:5000".parse().unwrap()));
        let got = resolve_with(&behind_proxies(), &extensions, XFF, &["203.0.113.9"]);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn invalid_networks_are_errors() {
        for value in [
            "10.0.0.0/33",
            "nonsense",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/8/8",
            "10.0.0.0/-1",
            "10.0.0.0/0008",
            "10.0.0/8",
            "",
        ] {
            let error = ClientIp::builder()
                .trust_proxies([value])
                .build()
                .unwrap_err();
            assert_eq!(
                error,
                ClientIpError::InvalidNetwork {
                    value: value.to_owned()
                },
                "{value:?}"
            );
        }
        // The first error is kept; valid networks around it do not hide it.
        let error = ClientIp::builder()
            .trust_proxies(["10.0.0.0/8", "bad", "worse"])
            .trust_proxies(["::1"])
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            ClientIpError::InvalidNetwork {
                value: "bad".to_owned()
            }
        );
        assert!(error.to_string().contains("\"bad\""));
    }

    #[test]
    fn networks_of_everything_are_errors() {
        for value in ["0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96"] {
            let error = ClientIp::builder()
                .trust_proxies([value])
                .build()
                .unwrap_err();
            assert_eq!(
                error,
                ClientIpError::NetworkTooWide {
                    value: value.to_owned()
                }
            );
        }
    }

    #[test]
    fn invalid_prefixes_are_errors() {
        let cases = [
            (ClientIp::builder().ipv6_prefix(129), "IPv6", 129),
            (ClientIp::builder().ipv6_prefix(0), "IPv6", 0),
            (ClientIp::builder().ipv4_prefix(33), "IPv4", 33),
            (ClientIp::builder().ipv4_prefix(0), "IPv4", 0),
        ];
        for (builder, family, bits) in cases {
            let error = builder.build().unwrap_err();
            assert_eq!(error, ClientIpError::InvalidPrefix { family, bits });
        }
        let error = ClientIp::builder().ipv6_prefix(129).build().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid IPv6 client prefix /129: expected 1 to 128"
        );
        let _: &dyn std::error::Error = &error;
        assert!(
            ClientIp::builder()
                .ipv6_prefix(128)
                .ipv4_prefix(1)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn clones_share_configuration() {
        let client_ip = behind_proxies();
        let clone = client_ip.clone();
        assert!(Arc::ptr_eq(&client_ip.inner, &clone.inner));
        assert_eq!(clone.header(), ForwardedHeader::XForwardedFor);
        assert_eq!(forwarded().header(), ForwardedHeader::Forwarded);
        let debug = format!("{clone:?}");
        assert!(
            debug.contains("10.0.0.0/8") && debug.contains("fd00::/8"),
            "{debug}"
        );
    }
}
