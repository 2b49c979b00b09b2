//! IP networks (`10.0.0.0/8`, `2001:db8::/32`, a single address), stored masked.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ClientIpError;

/// A trusted network, stored masked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Network {
    V4 { addr: u32, bits: u8 },
    V6 { addr: u128, bits: u8 },
}

impl Network {
    pub(crate) fn parse(value: &str) -> Result<Self, ClientIpError> {
        let value = value.trim();
        match Self::parse_prefix(value) {
            None => Err(ClientIpError::InvalidNetwork {
                value: value.to_owned(),
            }),
            Some((Self::V4 { bits: 0, .. } | Self::V6 { bits: 0, .. }, _)) => {
                Err(ClientIpError::NetworkTooWide {
                    value: value.to_owned(),
                })
            }
            Some((network, true)) => Err(ClientIpError::HostBitsSet {
                value: value.to_owned(),
                network: format!("{network:?}"),
            }),
            Some((network, false)) => Ok(network),
        }
    }

    /// `value` (trimmed) as a network, masked, and whether bits were set past the prefix
    /// (`"10.1.2.3/8"`). `None` when it is not an address or a CIDR network, or its prefix is
    /// longer than the address. A prefix of 0 is accepted here.
    pub(crate) fn parse_prefix(value: &str) -> Option<(Self, bool)> {
        let value = value.trim();
        let (addr, bits) = match value.split_once('/') {
            None => (value.parse::<IpAddr>().ok()?, None),
            Some((addr, bits)) => {
                let addr = addr.parse::<IpAddr>().ok()?;
                // Plain decimal digits, without a leading zero (`/08`, `/032`): Go's
                // `netip.ParsePrefix` refuses them, and some tools read `/010` as octal.
                if bits.is_empty()
                    || bits.len() > 3
                    || !bits.bytes().all(|b| b.is_ascii_digit())
                    || (bits.len() > 1 && bits.starts_with('0'))
                {
                    return None;
                }
                (addr, Some(bits.parse::<u8>().ok()?))
            }
        };
        let (network, host_bits) = match addr {
            IpAddr::V4(v4) => Self::v4(v4, bits.unwrap_or(32)),
            IpAddr::V6(v6) => {
                let bits = bits.unwrap_or(128);
                match v6.to_ipv4_mapped() {
                    // Addresses are canonicalized, so a mapped network must be too.
                    Some(v4) if (96..=128).contains(&bits) => Self::v4(v4, bits - 96),
                    _ if bits > 128 => return None,
                    _ => {
                        let addr = u128::from(v6);
                        let masked = addr & mask_v6(bits);
                        (Self::V6 { addr: masked, bits }, masked != addr)
                    }
                }
            }
        };
        match network {
            Self::V4 { bits, .. } if bits > 32 => None,
            network => Some((network, host_bits)),
        }
    }

    fn v4(addr: Ipv4Addr, bits: u8) -> (Self, bool) {
        let addr = u32::from(addr);
        let masked = addr & mask_v4(bits);
        (Self::V4 { addr: masked, bits }, masked != addr)
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
pub(super) fn mask_v4(bits: u8) -> u32 {
    u32::MAX
        .checked_shl(32_u32.saturating_sub(u32::from(bits)))
        .unwrap_or(0)
}

/// The mask of an IPv6 prefix (0 → none, 128 or more → all bits).
pub(super) fn mask_v6(bits: u8) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(u32::from(bits)))
        .unwrap_or(0)
}
