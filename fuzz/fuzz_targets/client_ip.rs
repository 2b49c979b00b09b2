//! `X-Forwarded-For` and `Forwarded` through the public `ClientIp` (what `KeyBy::ip()` keys
//! by), and the trusted networks of `ClientIpBuilder::trust_proxies`.
//!
//! Trusted proxies: `10.0.0.0/8`, `fd00::/8` and `192.0.2.1`; clients grouped by /32 and /64
//! (or /24 and /48).
//!
//! Input: one byte of flags (bit 0: `Forwarded` rather than `X-Forwarded-For`; bit 1: the wider
//! prefixes; bits 2-3: the mode), then
//! - mode 0, model: a peer and forwarding entries, each an address written in one of the ways
//!   proxies write them (ports, brackets, quotes, parameters, whitespace), spread over header
//!   lines, and junk to the left of them (the client's own contribution);
//! - mode 1, raw: header lines as given, from a trusted peer;
//! - mode 2: a trusted network as given to `trust_proxies`.
//!
//! Asserts: no panic; the client is the right-most untrusted entry (the peer itself when it is
//! untrusted or nothing is forwarded; the left-most entry when every one is trusted), masked to
//! its prefix, IPv4-mapped addresses as IPv4; whatever the client wrote to the left of that
//! entry changes nothing; any header gives an address that is canonical and masked, and an
//! untrusted entry appended on the right is always the answer; an accepted network trusts its
//! own address and never the whole address space.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::{Extensions, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_shield::rate_limit::{ClientIp, ForwardedHeader, PeerAddr};

fn client_ip(forwarded: bool, wide: bool) -> ClientIp {
    let header = if forwarded {
        ForwardedHeader::Forwarded
    } else {
        ForwardedHeader::XForwardedFor
    };
    let (v4, v6) = if wide { (24, 48) } else { (32, 64) };
    ClientIp::builder()
        .trust_proxies(["10.0.0.0/8", "fd00::/8", "192.0.2.1"])
        .header(header)
        .ipv4_prefix(v4)
        .ipv6_prefix(v6)
        .build()
        .expect("the configuration builds")
}

fn trusted(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets()[0] == 10 || v4 == Ipv4Addr::new(192, 0, 2, 1),
        IpAddr::V6(v6) => v6.octets()[0] == 0xfd,
    }
}

fn mask(ip: IpAddr, wide: bool) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let bits = if wide { 24 } else { 32 };
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - bits))))
        }
        IpAddr::V6(v6) => {
            let bits = if wide { 48 } else { 64 };
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << (128 - bits))))
        }
    }
}

/// Reads an address from `bytes`: IPv4 or IPv6 (sometimes IPv4-mapped), trusted or not.
fn address(bytes: &mut &[u8]) -> Option<IpAddr> {
    let (&kind, rest) = bytes.split_first()?;
    *bytes = rest;
    let ip = if kind & 1 == 0 {
        let (raw, rest) = bytes.split_first_chunk::<4>()?;
        *bytes = rest;
        let mut octets = *raw;
        if kind & 2 != 0 {
            octets[0] = 10;
        }
        let v4 = Ipv4Addr::from(octets);
        if kind & 4 != 0 {
            IpAddr::V6(v4.to_ipv6_mapped())
        } else {
            IpAddr::V4(v4)
        }
    } else {
        let (raw, rest) = bytes.split_first_chunk::<16>()?;
        *bytes = rest;
        let mut octets = *raw;
        if kind & 2 != 0 {
            octets[0] = 0xfd;
        }
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    Some(ip)
}

/// `ip` as one forwarding entry, in the way `style` picks.
fn entry(ip: IpAddr, style: u8, forwarded: bool) -> String {
    let node = match (ip, style & 3) {
        (IpAddr::V4(v4), 0) => v4.to_string(),
        (IpAddr::V4(v4), 1) => format!("{v4}:{}", u16::from(style) * 257),
        (IpAddr::V4(v4), 2) => format!("{v4}:_obf-{style}"),
        (IpAddr::V4(v4), _) => format!("{v4}:65535"),
        (IpAddr::V6(v6), 0) if !forwarded => v6.to_string(),
        (IpAddr::V6(v6), 1) => format!("[{v6}]:{}", u16::from(style) * 3),
        (IpAddr::V6(v6), 2) => format!("[{v6}]:_x"),
        (IpAddr::V6(v6), _) => format!("[{v6}]"),
    };
    let ows = [" ", "\t", "", "  "][usize::from(style >> 2 & 3)];
    if !forwarded {
        return format!("{ows}{node}{ows}");
    }
    let name = if style & 16 != 0 { "For" } else { "for" };
    let value = if style & 32 != 0 || node.contains(['[', ':']) {
        format!("\"{node}\"")
    } else {
        node
    };
    match style >> 6 {
        0 => format!("{ows}{name}={value}{ows}"),
        1 => format!("{ows}proto=https;{name}={value}"),
        2 => format!("{name}={value};by=_proxy{ows}"),
        _ => format!("host=example.com ; {name} = {value} ;"),
    }
}

fn request(peer: IpAddr, name: &str, lines: &[HeaderValue]) -> (Extensions, HeaderMap) {
    let mut extensions = Extensions::new();
    extensions.insert(PeerAddr(SocketAddr::new(peer, 40000)));
    let mut headers = HeaderMap::new();
    for line in lines {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            line.clone(),
        );
    }
    (extensions, headers)
}

fn is_canonical_and_masked(ip: IpAddr, wide: bool) -> bool {
    ip == ip.to_canonical() && ip == mask(ip, wide)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let forwarded = flags & 1 != 0;
    let wide = flags & 2 != 0;
    let name = if forwarded {
        "forwarded"
    } else {
        "x-forwarded-for"
    };
    let client_ip = client_ip(forwarded, wide);

    match flags >> 2 & 3 {
        0 => {
            let Some(peer) = address(&mut rest) else {
                return;
            };
            // Entries with their style; a style's top bit starts a new header line.
            let mut lines: Vec<Vec<String>> = vec![Vec::new()];
            let mut entries: Vec<IpAddr> = Vec::new();
            while entries.len() < 16 {
                let Some((&style, after)) = rest.split_first() else {
                    break;
                };
                rest = after;
                if style == b'\n' {
                    break;
                }
                let Some(ip) = address(&mut rest) else {
                    break;
                };
                if style & 0x80 != 0 && !lines.last().unwrap().is_empty() {
                    lines.push(Vec::new());
                }
                lines.last_mut().unwrap().push(entry(ip, style, forwarded));
                entries.push(ip);
            }
            // What is left is the client's own, to the left of everything.
            let junk = HeaderValue::from_bytes(rest)
                .ok()
                .filter(|_| !rest.is_empty());
            let mut values: Vec<HeaderValue> = lines
                .iter()
                .filter(|l| !l.is_empty())
                .map(|l| HeaderValue::try_from(l.join(",")).expect("entries are header text"))
                .collect();
            if let Some(junk) = &junk {
                match values.first_mut() {
                    Some(first) => {
                        let mut joined = junk.as_bytes().to_vec();
                        joined.push(b',');
                        joined.extend_from_slice(first.as_bytes());
                        *first = HeaderValue::from_bytes(&joined).unwrap();
                    }
                    None => values.push(junk.clone()),
                }
            }
            let (extensions, headers) = request(peer, name, &values);
            let got = client_ip.resolve(&extensions, &headers);

            let expected = if !trusted(peer) {
                Some(mask(peer, wide))
            } else {
                match entries.iter().rev().find(|ip| !trusted(**ip)) {
                    Some(client) => Some(mask(*client, wide)),
                    // Every entry trusted: the junk decides, unless there is none.
                    None if junk.is_some() => {
                        if let Some(got) = got {
                            assert!(is_canonical_and_masked(got, wide));
                        }
                        return;
                    }
                    None => Some(mask(*entries.first().unwrap_or(&peer), wide)),
                }
            };
            assert_eq!(got, expected, "peer {peer}, header {values:?}");
            assert_eq!(client_ip.is_trusted_proxy(peer), trusted(peer));
        }
        1 => {
            let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
            let mut values: Vec<HeaderValue> = rest
                .split(|&b| b == b'\n')
                .filter_map(|l| HeaderValue::from_bytes(l).ok())
                .collect();
            let (extensions, headers) = request(peer, name, &values);
            if let Some(got) = client_ip.resolve(&extensions, &headers) {
                assert!(is_canonical_and_masked(got, wide), "{got}");
            }
            // A client's junk never hides the entry a trusted proxy appended on its right.
            let appended = if forwarded {
                ", for=203.0.113.9"
            } else {
                ", 203.0.113.9"
            };
            match values.last_mut() {
                Some(last) => {
                    let mut bytes = last.as_bytes().to_vec();
                    bytes.extend_from_slice(appended.as_bytes());
                    *last = HeaderValue::from_bytes(&bytes).unwrap();
                }
                None => values.push(HeaderValue::from_static(&appended[2..])),
            }
            let (extensions, headers) = request(peer, name, &values);
            assert_eq!(
                client_ip.resolve(&extensions, &headers),
                Some(mask(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), wide)),
                "{values:?}"
            );
        }
        _ => {
            let network = String::from_utf8_lossy(rest);
            let Ok(built) = ClientIp::builder().trust_proxies([&*network]).build() else {
                return;
            };
            let address = network.trim().split('/').next().unwrap_or_default();
            let address: IpAddr = address
                .parse()
                .unwrap_or_else(|_| panic!("{network:?} accepted, but it names no address"));
            // Addresses are compared as IPv4 when IPv4-mapped: an IPv6 network wider than the
            // mapped /96 (`::ffff:0:0/90`) does not hold them.
            let mapped_in_wide_v6 = matches!(address, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
                && network
                    .trim()
                    .split_once('/')
                    .and_then(|(_, bits)| bits.parse::<u8>().ok())
                    .is_some_and(|bits| bits < 96);
            if !mapped_in_wide_v6 {
                assert!(
                    built.is_trusted_proxy(address),
                    "{network:?} does not trust its own address"
                );
            }
            // The top bit flipped: outside any network of prefix 1 or more.
            let outside = match address.to_canonical() {
                IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) ^ 1 << 31)),
                IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) ^ 1 << 127)),
            };
            assert!(
                !built.is_trusted_proxy(outside),
                "{network:?} trusts {outside} too"
            );
        }
    }
});
