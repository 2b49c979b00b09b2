//! [`IpFilterBuilder`]: the lists as given, parsed once into an [`IpFilterLayer`].

use std::sync::Arc;

use super::ConfigError;
use super::handle::Lists;
use super::layer::IpFilterLayer;
use super::table::Table;
use crate::rate_limit::ClientIp;

/// Builds an [`IpFilterLayer`]; from [`IpFilterLayer::builder`]. See the
/// [module docs](super).
///
/// Entries are checked by [`build`](Self::build).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct IpFilterBuilder {
    allow: Option<Vec<String>>,
    deny: Vec<String>,
    client_ip: ClientIp,
    allow_unknown: bool,
}

impl IpFilterBuilder {
    /// Adds networks to the allow list (and makes one): once there is an allow list, only its
    /// addresses pass, unless denied. Without one, every address not denied passes.
    ///
    /// Each entry is an address (`"192.0.2.1"`, `"2001:db8::1"`) or a CIDR network
    /// (`"10.0.0.0/8"`, `"2001:db8::/32"`, `"0.0.0.0/0"` for every IPv4 address), with
    /// whitespace around it ignored. An IPv4-mapped IPv6 network (`"::ffff:10.0.0.0/104"`) is
    /// the IPv4 network (`10.0.0.0/8`), as an IPv4-mapped client address is its IPv4 address;
    /// an IPv6 network never holds an IPv4 client (`"::/0"` is every IPv6 address, and no IPv4
    /// one).
    ///
    /// A network with bits set past its prefix (`"10.1.2.3/8"`) is refused rather than
    /// masked: in an access list a wrong prefix length changes who gets in by orders of
    /// magnitude, so the build error ([`ConfigError::HostBitsSet`]) names the network it would
    /// have been, for you to write if you meant it.
    pub fn allow<I, S>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow
            .get_or_insert_with(Vec::new)
            .extend(networks.into_iter().map(Into::into));
        self
    }

    /// Adds networks to the deny list, written as for [`allow`](Self::allow). A denied address
    /// is refused even when the allow list holds it too: deny wins.
    pub fn deny<I, S>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deny.extend(networks.into_iter().map(Into::into));
        self
    }

    /// How the client address is found ([`ClientIp::peer`] unless set: the socket peer,
    /// forwarding headers ignored). Behind reverse proxies, pass a [`ClientIp`] that trusts
    /// them: the client is then the right-most address of the forwarding header that is not a
    /// trusted proxy. The filter decides on the full address; the [`ClientIp`]'s prefixes
    /// (which group IPv6 clients by /64 for rate limits) do not apply here.
    pub fn client_ip(mut self, client_ip: ClientIp) -> Self {
        self.client_ip = client_ip;
        self
    }

    /// Lets a request through when its client address cannot be found (`false` by default:
    /// such a request gets the `403`). The address is unknown when the request has no peer
    /// address (a server that does not record it) or a trusted proxy's forwarding header
    /// names something that is not an address (`unknown`, an obfuscated identifier).
    pub fn allow_unknown(mut self, on: bool) -> Self {
        self.allow_unknown = on;
        self
    }

    /// The layer. A layer without lists lets every known address through; its lists can be
    /// set later with its [handle](IpFilterLayer::handle).
    ///
    /// # Errors
    ///
    /// The first entry (allow list first) that is not an address or a CIDR network, has a
    /// prefix longer than its address (`"10.0.0.0/33"`): [`ConfigError::InvalidNetwork`]; or
    /// has bits set past its prefix: [`ConfigError::HostBitsSet`].
    pub fn build(self) -> Result<IpFilterLayer, ConfigError> {
        let allow = match self.allow {
            Some(networks) => Some(Arc::new(Table::parse(networks)?)),
            None => None,
        };
        let deny = Arc::new(Table::parse(self.deny)?);
        Ok(IpFilterLayer::new(
            Lists { allow, deny },
            self.client_ip,
            self.allow_unknown,
        ))
    }
}
