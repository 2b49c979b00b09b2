//! [`IpFilterHandle`]: the lists of a running [`IpFilterLayer`](super::IpFilterLayer), replaced
//! without rebuilding the stack.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::ConfigError;
use super::layer::IpNotAllowed;
use super::table::Table;

/// The allow and deny lists in force. Replaced whole (one atomic pointer swap), never edited.
#[derive(Debug)]
pub(super) struct Lists {
    /// `None`: no allow list, every address not denied passes.
    pub(super) allow: Option<Arc<Table>>,
    pub(super) deny: Arc<Table>,
}

impl Lists {
    /// The decision for a canonical address: deny wins, then the allow list if there is one.
    pub(super) fn check(&self, ip: IpAddr) -> Result<(), IpNotAllowed> {
        if self.deny.contains(ip) {
            return Err(IpNotAllowed::Denied(ip));
        }
        match &self.allow {
            Some(allow) if !allow.contains(ip) => Err(IpNotAllowed::NotAllowed(ip)),
            _ => Ok(()),
        }
    }
}

/// Replaces the lists of a running [`IpFilterLayer`](super::IpFilterLayer), from
/// [`IpFilterLayer::handle`](super::IpFilterLayer::handle): for a blocklist feed, an admin
/// endpoint, a file watcher.
///
/// Every service built from the layer (every clone, every connection) sees a replacement from
/// its next request on. A replacement is one atomic swap of the whole list: a request is
/// decided on the old lists or on the new ones, never on half of an update, and a list with an
/// invalid entry replaces nothing. Decisions never wait for a replacement (readers take no
/// lock); parsing and sorting a new list runs on the caller's thread.
///
/// Cheap to clone; every clone controls the same lists.
///
/// ```
/// use std::net::IpAddr;
/// use tower_shield::ip_filter::{ConfigError, IpFilterLayer};
///
/// # fn main() -> Result<(), ConfigError> {
/// let layer = IpFilterLayer::builder().deny(["192.0.2.0/24"]).build()?;
/// let handle = layer.handle();
/// let ip: IpAddr = "198.51.100.7".parse().unwrap();
/// assert!(handle.is_allowed(ip));
///
/// // The feed now lists 198.51.100.0/24 instead.
/// handle.replace_deny(["198.51.100.0/24"])?;
/// assert!(!handle.is_allowed(ip));
///
/// // A bad entry is an error and changes nothing.
/// assert!(handle.replace_deny(["10.0.0.0/33"]).is_err());
/// assert!(!handle.is_allowed(ip));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct IpFilterHandle {
    lists: Arc<ArcSwap<Lists>>,
}

impl IpFilterHandle {
    pub(super) fn new(lists: Arc<ArcSwap<Lists>>) -> Self {
        Self { lists }
    }

    /// Replaces the deny list with `networks` (addresses or CIDR networks, written as for
    /// [`IpFilterBuilder::deny`](super::IpFilterBuilder::deny)). An empty list denies nothing.
    ///
    /// # Errors
    ///
    /// The first entry that is not valid ([`ConfigError::InvalidNetwork`],
    /// [`ConfigError::HostBitsSet`]); the lists in force are then left as they were.
    pub fn replace_deny<I, S>(&self, networks: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let deny = Arc::new(Table::parse(networks)?);
        self.lists.rcu(|lists| Lists {
            allow: lists.allow.clone(),
            deny: Arc::clone(&deny),
        });
        Ok(())
    }

    /// Replaces the allow list with `networks` (or sets one where there was none): only their
    /// addresses pass, unless denied. An empty list lets no address through.
    ///
    /// # Errors
    ///
    /// The first entry that is not valid ([`ConfigError::InvalidNetwork`],
    /// [`ConfigError::HostBitsSet`]); the lists in force are then left as they were.
    pub fn replace_allow<I, S>(&self, networks: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allow = Arc::new(Table::parse(networks)?);
        self.lists.rcu(|lists| Lists {
            allow: Some(Arc::clone(&allow)),
            deny: Arc::clone(&lists.deny),
        });
        Ok(())
    }

    /// Removes the allow list: every address not denied passes.
    pub fn remove_allow(&self) {
        self.lists.rcu(|lists| Lists {
            allow: None,
            deny: Arc::clone(&lists.deny),
        });
    }

    /// Whether the lists in force let a client at `ip` through: not in the deny list, and in
    /// the allow list if there is one. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is
    /// taken as its IPv4 address.
    #[must_use]
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        self.lists.load().check(ip.to_canonical()).is_ok()
    }
}
