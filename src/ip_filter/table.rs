//! The prefix structure: each list is two sorted tables of disjoint address ranges (IPv4 on
//! `u32` keys, IPv6 on `u128` keys), searched by binary search.
//!
//! A CIDR network is a range of addresses, `[network, network | host mask]`. At build the
//! ranges of a list are sorted and every overlapping or adjacent pair merged, so the table
//! holds disjoint ranges in order and an address is in the list exactly when the last range
//! starting at or before it ends at or after it: one `partition_point` over the starts
//! (17 comparisons for 100,000 ranges), one comparison with an end. No scan, however long the
//! list.

use std::fmt;
use std::net::IpAddr;

use crate::rate_limit::Network;

use super::ConfigError;

/// An address type as a table key.
trait Key: Copy + Ord {
    /// `self + 1`, or `self` at the top of the address space.
    fn successor(self) -> Self;
}

impl Key for u32 {
    fn successor(self) -> Self {
        self.saturating_add(1)
    }
}

impl Key for u128 {
    fn successor(self) -> Self {
        self.saturating_add(1)
    }
}

/// Disjoint, non-adjacent ranges in ascending order; `starts[i]..=ends[i]` is one range.
/// Starts and ends apart, so the binary search walks over keys only.
#[derive(Clone, PartialEq, Eq)]
struct Ranges<T> {
    starts: Box<[T]>,
    ends: Box<[T]>,
}

impl<T: Key> Ranges<T> {
    /// Sorts `ranges` (inclusive) and merges the ones that overlap or touch.
    fn build(mut ranges: Vec<(T, T)>) -> Self {
        ranges.sort_unstable();
        let mut starts = Vec::with_capacity(ranges.len());
        let mut ends: Vec<T> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match ends.last_mut() {
                // Sorted by start: this range begins at or after the previous one, so it
                // merges when it begins no later than just past the previous end.
                Some(last) if start <= last.successor() => {
                    if end > *last {
                        *last = end;
                    }
                }
                _ => {
                    starts.push(start);
                    ends.push(end);
                }
            }
        }
        Self {
            starts: starts.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        }
    }

    fn contains(&self, key: T) -> bool {
        // The number of ranges starting at or before `key`; the last of them is the only one
        // that can hold it.
        let after = self.starts.partition_point(|&start| start <= key);
        after
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .is_some_and(|&end| key <= end)
    }

    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// One list (allow or deny): its IPv4 and IPv6 tables.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Table {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// How many networks were given, before merging.
    networks: usize,
}

impl Table {
    /// The table of `networks`: addresses (`192.0.2.1`, `2001:db8::1`) or CIDR networks
    /// (`10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104` as `10.0.0.0/8`).
    ///
    /// # Errors
    ///
    /// The first entry that is not an address or a CIDR network, has a prefix longer than its
    /// address, or has bits set past its prefix.
    pub(super) fn parse<I, S>(networks: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut count = 0_usize;
        for value in networks {
            let value = value.as_ref().trim();
            let (network, host_bits) =
                Network::parse_prefix(value).ok_or_else(|| ConfigError::InvalidNetwork {
                    value: value.to_owned(),
                })?;
            if host_bits {
                return Err(ConfigError::HostBitsSet {
                    value: value.to_owned(),
                    network: format!("{network:?}"),
                });
            }
            match network {
                Network::V4 { addr, bits } => {
                    v4.push((
                        addr,
                        addr | u32::MAX.checked_shr(u32::from(bits)).unwrap_or(0),
                    ));
                }
                Network::V6 { addr, bits } => {
                    v6.push((
                        addr,
                        addr | u128::MAX.checked_shr(u32::from(bits)).unwrap_or(0),
                    ));
                }
            }
            count += 1;
        }
        Ok(Self {
            v4: Ranges::build(v4),
            v6: Ranges::build(v6),
            networks: count,
        })
    }

    /// Whether `ip` (canonical: an IPv4-mapped address is IPv4) is in a network of the list.
    /// An IPv4 address is never in an IPv6 network, nor the reverse.
    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.contains(u128::from(v6)),
        }
    }
}

// By hand: a table may hold 100,000 ranges; its size says enough.
impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("networks", &self.networks)
            .field("ipv4_ranges", &self.v4.len())
            .field("ipv6_ranges", &self.v6.len())
            .finish()
    }
}

#[cfg(test)]
impl Table {
    /// The ranges of the IPv4 table, for tests.
    pub(super) fn v4_ranges(&self) -> Vec<(u32, u32)> {
        self.v4
            .starts
            .iter()
            .copied()
            .zip(self.v4.ends.iter().copied())
            .collect()
    }
}
