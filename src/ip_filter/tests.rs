use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use proptest::prelude::*;

use super::table::Table;
use super::*;
use crate::guard::{Decision, Guard};
use crate::problem::Problem;
use crate::rate_limit::PeerAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn table(networks: &[&str]) -> Table {
    Table::parse(networks).unwrap()
}

fn layer(builder: IpFilterBuilder) -> IpFilterLayer {
    builder.build().unwrap()
}

fn allowed(layer: &IpFilterLayer, addr: &str) -> bool {
    layer.handle().is_allowed(ip(addr))
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[test]
fn entries_are_addresses_or_cidr_networks_of_either_family() {
    let t = table(&[
        " 192.0.2.1 ",
        "10.0.0.0/8",
        "2001:db8::/32",
        "2001:db8:ffff::1",
    ]);
    assert!(t.contains(ip("192.0.2.1")));
    assert!(!t.contains(ip("192.0.2.2")));
    assert!(t.contains(ip("10.20.30.40")));
    assert!(t.contains(ip("2001:db8:1234::5")));
    assert!(t.contains(ip("2001:db8:ffff::1")));
    assert!(!t.contains(ip("2001:db9::")));
}

#[test]
fn invalid_entries_are_config_errors() {
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "::ffff:10.0.0.0/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/0008",
        "10.0.0.0/8/8",
        "10.0.0.256",
        "10.0.0",
        "",
        "   ",
        "garbage",
        "example.com",
        "[2001:db8::1]",
        "192.0.2.1:80",
        "10.0.0.0 /8",
        // Leading zeros in the prefix length, as Go's netip.ParsePrefix refuses them.
        "10.0.0.0/08",
        "1.1.1.0/032",
        "1.1.1.0/00",
        "2001:db8::/032",
        "::ffff:10.0.0.0/0104",
    ] {
        assert_eq!(
            Table::parse([bad]).unwrap_err(),
            ConfigError::InvalidNetwork {
                value: bad.trim().to_owned()
            },
            "{bad:?}"
        );
        assert!(
            IpFilterLayer::builder().deny([bad]).build().is_err(),
            "{bad:?}"
        );
        assert!(
            IpFilterLayer::builder().allow([bad]).build().is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn host_bits_past_the_prefix_are_refused_with_the_network_they_would_be() {
    let err = Table::parse(["10.1.2.3/8"]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::HostBitsSet {
            value: "10.1.2.3/8".into(),
            network: "10.0.0.0/8".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"IP filter: "10.1.2.3/8" has bits set past its prefix: write "10.0.0.0/8" if you mean it"#
    );
    assert_eq!(
        Table::parse(["2001:db8::1/32"]).unwrap_err(),
        ConfigError::HostBitsSet {
            value: "2001:db8::1/32".into(),
            network: "2001:db8::/32".into()
        }
    );
    assert_eq!(
        Table::parse(["::ffff:10.1.0.0/104"]).unwrap_err(),
        ConfigError::HostBitsSet {
            value: "::ffff:10.1.0.0/104".into(),
            network: "10.0.0.0/8".into()
        }
    );
    assert_eq!(
        Table::parse(["1.2.3.4/0"]).unwrap_err(),
        ConfigError::HostBitsSet {
            value: "1.2.3.4/0".into(),
            network: "0.0.0.0/0".into()
        }
    );
    assert_eq!(
        ConfigError::InvalidNetwork { value: "x".into() }.to_string(),
        r#"IP filter: invalid network "x": expected an IP address or a CIDR network such as "10.0.0.0/8""#
    );
}

#[test]
fn the_first_bad_entry_is_reported_allow_list_first() {
    let err = IpFilterLayer::builder()
        .deny(["10.0.0.0/8", "bad-deny"])
        .allow(["bad-allow"])
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::InvalidNetwork {
            value: "bad-allow".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// The prefix structure

#[test]
fn boundaries_of_a_network_are_inside_and_their_neighbours_outside() {
    let t = table(&["10.0.0.0/8", "192.0.2.128/25", "2001:db8::/32"]);
    assert!(t.contains(ip("10.0.0.0")));
    assert!(t.contains(ip("10.255.255.255")));
    assert!(!t.contains(ip("9.255.255.255")));
    assert!(!t.contains(ip("11.0.0.0")));
    assert!(t.contains(ip("192.0.2.128")));
    assert!(t.contains(ip("192.0.2.255")));
    assert!(!t.contains(ip("192.0.2.127")));
    assert!(!t.contains(ip("192.0.3.0")));
    assert!(t.contains(ip("2001:db8::")));
    assert!(t.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert!(!t.contains(ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert!(!t.contains(ip("2001:db9::")));
}

#[test]
fn a_slash_zero_is_every_address_of_its_family_only() {
    let v4 = table(&["0.0.0.0/0"]);
    assert!(v4.contains(ip("0.0.0.0")));
    assert!(v4.contains(ip("255.255.255.255")));
    assert!(!v4.contains(ip("::")));
    assert!(!v4.contains(ip("2001:db8::1")));
    let v6 = table(&["::/0"]);
    assert!(v6.contains(ip("::")));
    assert!(v6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert!(!v6.contains(ip("0.0.0.0")));
    assert!(!v6.contains(ip("192.0.2.1")));
}

#[test]
fn a_slash_32_and_a_slash_128_are_one_address() {
    let t = table(&[
        "192.0.2.7/32",
        "2001:db8::7/128",
        "0.0.0.0/32",
        "255.255.255.255/32",
    ]);
    assert!(t.contains(ip("192.0.2.7")));
    assert!(!t.contains(ip("192.0.2.6")));
    assert!(!t.contains(ip("192.0.2.8")));
    assert!(t.contains(ip("2001:db8::7")));
    assert!(!t.contains(ip("2001:db8::6")));
    assert!(!t.contains(ip("2001:db8::8")));
    assert!(t.contains(ip("0.0.0.0")));
    assert!(t.contains(ip("255.255.255.255")));
    assert!(!t.contains(ip("0.0.0.1")));
    assert!(!t.contains(ip("255.255.255.254")));
    let top = table(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/128"]);
    assert!(top.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert!(top.contains(ip("::")));
    assert!(!top.contains(ip("::1")));
}

#[test]
fn overlapping_and_adjacent_ranges_are_merged_at_build() {
    let t = table(&[
        "10.1.0.0/16",
        "10.0.0.0/8", // holds the one before
        "11.0.0.0/8", // adjacent to 10.0.0.0/8
        "13.0.0.0/8",
        "13.5.0.0/16",
        "192.0.2.0/25",
        "192.0.2.128/25", // together a /24
        "198.51.100.1",
        "198.51.100.1", // twice
        "255.255.255.255",
        "255.0.0.0/8",
    ]);
    let v4 = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
    assert_eq!(
        t.v4_ranges(),
        vec![
            (v4("10.0.0.0"), v4("11.255.255.255")),
            (v4("13.0.0.0"), v4("13.255.255.255")),
            (v4("192.0.2.0"), v4("192.0.2.255")),
            (v4("198.51.100.1"), v4("198.51.100.1")),
            (v4("255.0.0.0"), v4("255.255.255.255")),
        ]
    );
    assert!(t.contains(ip("11.255.255.255")));
    assert!(!t.contains(ip("12.0.0.0")));
    assert!(t.contains(ip("10.1.2.3")));
    // Everything merges into the top /0 range without overflowing.
    let all = table(&["128.0.0.0/1", "0.0.0.0/1", "255.255.255.255"]);
    assert_eq!(all.v4_ranges(), vec![(0, u32::MAX)]);
    assert!(all.contains(ip("127.255.255.255")));
}

#[test]
fn an_empty_table_holds_nothing() {
    let t = table(&[]);
    assert!(!t.contains(ip("0.0.0.0")));
    assert!(!t.contains(ip("::")));
    assert!(t.v4_ranges().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The decision

#[test]
fn deny_wins_over_allow() {
    let l = layer(
        IpFilterLayer::builder()
            .allow(["10.0.0.0/8", "2001:db8::/32"])
            .deny(["10.6.6.0/24", "2001:db8:bad::/48"]),
    );
    assert!(allowed(&l, "10.1.2.3"));
    assert!(!allowed(&l, "10.6.6.6"));
    assert!(!allowed(&l, "11.0.0.1")); // outside the allow list
    assert!(allowed(&l, "2001:db8::1"));
    assert!(!allowed(&l, "2001:db8:bad::1"));
    assert!(!allowed(&l, "2001:db9::1"));
    // The same network on both lists: denied.
    let both = layer(
        IpFilterLayer::builder()
            .allow(["192.0.2.0/24"])
            .deny(["192.0.2.0/24"]),
    );
    assert!(!allowed(&both, "192.0.2.1"));
}

#[test]
fn without_an_allow_list_everything_not_denied_passes_and_an_empty_one_passes_nothing() {
    let deny_only = layer(IpFilterLayer::builder().deny(["192.0.2.0/24"]));
    assert!(allowed(&deny_only, "198.51.100.1"));
    assert!(allowed(&deny_only, "2001:db8::1"));
    assert!(!allowed(&deny_only, "192.0.2.200"));
    let nothing = layer(IpFilterLayer::builder());
    assert!(allowed(&nothing, "192.0.2.200"));
    let empty_allow = layer(IpFilterLayer::builder().allow(Vec::<String>::new()));
    assert!(!allowed(&empty_allow, "198.51.100.1"));
    assert!(!allowed(&empty_allow, "::1"));
}

#[test]
fn ipv4_mapped_addresses_and_networks_are_ipv4() {
    let l = layer(
        IpFilterLayer::builder()
            .allow(["::ffff:10.0.0.0/104", "192.0.2.0/24"])
            .deny(["::ffff:10.6.6.6"]),
    );
    assert!(allowed(&l, "10.1.2.3"));
    assert!(allowed(&l, "::ffff:10.1.2.3"));
    assert!(allowed(&l, "::ffff:192.0.2.9"));
    assert!(!allowed(&l, "10.6.6.6"));
    assert!(!allowed(&l, "::ffff:10.6.6.6"));
    assert!(!allowed(&l, "::ffff:11.0.0.1"));
    // An IPv6 network never holds an IPv4 client, mapped or not.
    let v6_deny = layer(IpFilterLayer::builder().deny(["::/0"]));
    assert!(allowed(&v6_deny, "192.0.2.1"));
    assert!(allowed(&v6_deny, "::ffff:192.0.2.1"));
    assert!(!allowed(&v6_deny, "2001:db8::1"));
    // The IPv4 /0, written mapped, holds every IPv4 client.
    let v4_all = layer(IpFilterLayer::builder().deny(["::ffff:0.0.0.0/96"]));
    assert!(!allowed(&v4_all, "0.0.0.0"));
    assert!(!allowed(&v4_all, "255.255.255.255"));
    assert!(allowed(&v4_all, "::1"));
}

#[test]
fn replacing_a_list_swaps_it_whole_and_a_bad_list_changes_nothing() {
    let l = layer(IpFilterLayer::builder().deny(["192.0.2.0/24"]));
    let handle = l.handle();
    let clone = l.clone();
    handle.replace_deny(["198.51.100.0/24"]).unwrap();
    assert!(allowed(&clone, "192.0.2.1"));
    assert!(!allowed(&clone, "198.51.100.1"));

    let err = handle
        .replace_deny(["203.0.113.0/24", "203.0.113.1/24"])
        .unwrap_err();
    assert!(matches!(err, ConfigError::HostBitsSet { .. }));
    assert!(allowed(&l, "203.0.113.1"));
    assert!(!allowed(&l, "198.51.100.1"));

    handle.replace_allow(["10.0.0.0/8"]).unwrap();
    assert!(!allowed(&l, "203.0.113.1"));
    assert!(allowed(&l, "10.0.0.1"));
    // Replacing one list keeps the other.
    handle.replace_deny(["10.0.0.1"]).unwrap();
    assert!(!allowed(&l, "10.0.0.1"));
    assert!(allowed(&l, "10.0.0.2"));
    assert!(handle.replace_allow(["nope"]).is_err());
    assert!(allowed(&l, "10.0.0.2"));
    assert!(!allowed(&l, "203.0.113.1"));

    handle.remove_allow();
    assert!(allowed(&l, "203.0.113.1"));
    assert!(!allowed(&l, "10.0.0.1"));
    handle.replace_deny(Vec::<&str>::new()).unwrap();
    assert!(allowed(&l, "10.0.0.1"));
}

// ---------------------------------------------------------------------------------------------
// The guard

fn request_from(peer: Option<&str>, xff: Option<&str>) -> Request<()> {
    let mut req = Request::builder();
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    let mut req = req.body(()).unwrap();
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(PeerAddr(addr));
    }
    req
}

fn answer(layer: &IpFilterLayer, mut req: Request<()>) -> Option<Response<Bytes>> {
    match layer.decide(&mut req) {
        Decision::Pass(()) => None,
        Decision::Answer(res) => Some(res),
        Decision::Wait(_) => panic!("the IP filter never waits"),
    }
}

#[test]
fn a_refusal_is_a_403_problem_with_the_rejection_in_its_extensions() {
    let l = layer(IpFilterLayer::builder().deny(["192.0.2.0/24"]));
    assert!(answer(&l, request_from(Some("198.51.100.1:4000"), None)).is_none());
    let res = answer(&l, request_from(Some("192.0.2.1:4000"), None)).unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::Denied(ip("192.0.2.1")))
    );
    assert_eq!(
        res.extensions()
            .get::<IpNotAllowed>()
            .and_then(IpNotAllowed::ip),
        Some(ip("192.0.2.1"))
    );
    let problem = res.extensions().get::<Problem>().unwrap();
    assert_eq!(
        problem.detail(),
        Some("Requests from this client address are not allowed.")
    );
    assert!(!String::from_utf8_lossy(res.body()).contains("192.0.2.1"));

    let allow = layer(IpFilterLayer::builder().allow(["10.0.0.0/8"]));
    let res = answer(&allow, request_from(Some("[2001:db8::1]:4000"), None)).unwrap();
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::NotAllowed(ip("2001:db8::1")))
    );
}

#[test]
fn an_unknown_client_is_refused_unless_configured_otherwise() {
    let l = layer(IpFilterLayer::builder().deny(["192.0.2.0/24"]));
    let res = answer(&l, request_from(None, None)).unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::Unknown)
    );
    assert_eq!(IpNotAllowed::Unknown.ip(), None);
    assert_eq!(
        res.extensions().get::<Problem>().unwrap().detail(),
        Some("The client address of this request could not be determined.")
    );

    let lenient = layer(
        IpFilterLayer::builder()
            .deny(["192.0.2.0/24"])
            .allow_unknown(true),
    );
    assert!(answer(&lenient, request_from(None, None)).is_none());
    // A known address is still decided on.
    assert!(answer(&lenient, request_from(Some("192.0.2.1:1"), None)).is_some());
}

#[test]
fn behind_trusted_proxies_the_client_is_the_right_most_untrusted_hop() {
    let client_ip = ClientIp::builder()
        .trust_proxies(["10.0.0.0/8"])
        .ipv6_prefix(48) // the rate limiter's grouping does not apply to the filter
        .build()
        .unwrap();
    let l = layer(
        IpFilterLayer::builder()
            .deny(["192.0.2.66", "2001:db8::66"])
            .client_ip(client_ip),
    );
    let through_proxy = |xff: &str| answer(&l, request_from(Some("10.0.0.2:4000"), Some(xff)));
    // The client forges a left-most entry; the proxy appended what it saw.
    assert!(through_proxy("203.0.113.9, 192.0.2.66").is_some());
    assert!(through_proxy("192.0.2.66, 203.0.113.9").is_none());
    // Trusted hops are skipped.
    assert!(through_proxy("192.0.2.66, 10.0.0.7, 10.0.0.3").is_some());
    // The full IPv6 address, not its /48, is decided on.
    assert!(through_proxy("2001:db8::66").is_some());
    assert!(through_proxy("2001:db8::67").is_none());
    // An IPv4-mapped entry is its IPv4 address.
    assert!(through_proxy("[::ffff:192.0.2.66]:80").is_some());
    // An entry that is no address: unknown, refused.
    let res = through_proxy("192.0.2.1, unknown").unwrap();
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::Unknown)
    );
    // An untrusted peer's header is ignored.
    assert!(answer(&l, request_from(Some("198.51.100.1:1"), Some("192.0.2.66"))).is_none());
    assert!(answer(&l, request_from(Some("192.0.2.66:1"), Some("198.51.100.1"))).is_some());
}

/// A trusted proxy that names no client is the client (documented on `ClientIp`): the filter
/// decides on the proxy's own address, so an allow-list that holds the proxy's network lets
/// its header-less requests through, and a deny-list that holds it refuses them. When every
/// entry is trusted, the left-most one is the client.
#[test]
fn a_trusted_proxy_that_names_no_client_is_decided_on_itself() {
    let client_ip = || {
        ClientIp::builder()
            .trust_proxies(["10.0.0.0/8"])
            .build()
            .unwrap()
    };
    let internal_only = layer(
        IpFilterLayer::builder()
            .allow(["10.0.0.0/8"])
            .client_ip(client_ip()),
    );
    assert!(answer(&internal_only, request_from(Some("10.0.0.2:4000"), None)).is_none());
    let res = answer(
        &internal_only,
        request_from(Some("10.0.0.2:4000"), Some("203.0.113.9")),
    )
    .unwrap();
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::NotAllowed(ip("203.0.113.9")))
    );
    // Every entry trusted: the left-most, 10.0.0.7, is the client.
    assert!(
        answer(
            &internal_only,
            request_from(Some("10.0.0.2:4000"), Some("10.0.0.7, 10.0.0.3"))
        )
        .is_none()
    );
    let deny_proxy = layer(
        IpFilterLayer::builder()
            .deny(["10.0.0.2"])
            .client_ip(client_ip()),
    );
    let res = answer(&deny_proxy, request_from(Some("10.0.0.2:4000"), None)).unwrap();
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::Denied(ip("10.0.0.2")))
    );
    assert!(
        answer(
            &deny_proxy,
            request_from(Some("10.0.0.2:4000"), Some("203.0.113.9"))
        )
        .is_none()
    );
}

#[test]
fn the_debug_output_counts_instead_of_listing() {
    let l = layer(IpFilterLayer::builder().deny(["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32"]));
    let debug = format!("{l:?}");
    assert!(
        debug.contains("Table { networks: 3, ipv4_ranges: 1, ipv6_ranges: 1 }"),
        "{debug}"
    );
    assert!(debug.contains("allow: None"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// The structure against a scan

/// The reference: is `ip` in one of `networks` (address, prefix length), by a scan.
fn scan_v4(networks: &[(u32, u8)], ip: u32) -> bool {
    networks.iter().any(|&(addr, bits)| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        ip & mask == addr & mask
    })
}

fn scan_v6(networks: &[(u128, u8)], ip: u128) -> bool {
    networks.iter().any(|&(addr, bits)| {
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        ip & mask == addr & mask
    })
}

/// Addresses crowded into a few neighbourhoods so that networks overlap, nest and touch.
fn v4_addr() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (0_u32..4, any::<u16>())
            .prop_map(|(hi, lo)| (hi << 30) | (0x0a00_0000 & 0x3fff_ffff) | u32::from(lo)),
        Just(0),
        Just(u32::MAX),
    ]
}

fn v6_addr() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        (0_u128..4, any::<u16>())
            .prop_map(|(hi, lo)| (hi << 126) | (0x2001_0db8_u128 << 96) | u128::from(lo)),
        Just(0),
        Just(u128::MAX),
    ]
}

fn masked_v4((addr, bits): (u32, u8)) -> (u32, u8) {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (addr & mask, bits)
}

fn masked_v6((addr, bits): (u128, u8)) -> (u128, u8) {
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    (addr & mask, bits)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_table_answers_as_a_scan_of_its_networks(
        v4 in prop::collection::vec((v4_addr(), prop_oneof![0_u8..=32, 8_u8..=32, 16_u8..=32]).prop_map(masked_v4), 0..40),
        v6 in prop::collection::vec((v6_addr(), prop_oneof![0_u8..=128, 100_u8..=128]).prop_map(masked_v6), 0..40),
        probes_v4 in prop::collection::vec(v4_addr(), 64),
        probes_v6 in prop::collection::vec(v6_addr(), 64),
    ) {
        let entries: Vec<String> = v4
            .iter()
            .map(|&(a, b)| format!("{}/{b}", Ipv4Addr::from(a)))
            .chain(v6.iter().map(|&(a, b)| format!("{}/{b}", Ipv6Addr::from(a))))
            .collect();
        let t = Table::parse(&entries).unwrap();
        // Probe the edges of every network too, where off-by-ones live.
        let mut edges_v4 = probes_v4;
        for &(addr, bits) in &v4 {
            let last = addr | u32::MAX.checked_shr(u32::from(bits)).unwrap_or(0);
            edges_v4.extend([addr, last, addr.wrapping_sub(1), last.wrapping_add(1)]);
        }
        let mut edges_v6 = probes_v6;
        for &(addr, bits) in &v6 {
            let last = addr | u128::MAX.checked_shr(u32::from(bits)).unwrap_or(0);
            edges_v6.extend([addr, last, addr.wrapping_sub(1), last.wrapping_add(1)]);
        }
        for probe in edges_v4 {
            prop_assert_eq!(
                t.contains(IpAddr::V4(Ipv4Addr::from(probe))),
                scan_v4(&v4, probe),
                "{}", Ipv4Addr::from(probe)
            );
        }
        for probe in edges_v6 {
            prop_assert_eq!(
                t.contains(IpAddr::V6(Ipv6Addr::from(probe))),
                scan_v6(&v6, probe),
                "{}", Ipv6Addr::from(probe)
            );
        }
    }

    #[test]
    fn the_decision_is_deny_first_then_allow_as_scans_say(
        allow in prop::collection::vec((v4_addr(), 4_u8..=32).prop_map(masked_v4), 0..20),
        deny in prop::collection::vec((v4_addr(), 4_u8..=32).prop_map(masked_v4), 0..20),
        has_allow in any::<bool>(),
        probes in prop::collection::vec(v4_addr(), 64),
    ) {
        let format = |list: &[(u32, u8)]| -> Vec<String> {
            list.iter().map(|&(a, b)| format!("{}/{b}", Ipv4Addr::from(a))).collect()
        };
        let mut builder = IpFilterLayer::builder().deny(format(&deny));
        if has_allow {
            builder = builder.allow(format(&allow));
        }
        let handle = builder.build().unwrap().handle();
        for probe in probes {
            let expected = !scan_v4(&deny, probe) && (!has_allow || scan_v4(&allow, probe));
            prop_assert_eq!(handle.is_allowed(IpAddr::V4(Ipv4Addr::from(probe))), expected);
        }
    }
}

proptest! {
    // Thousands of networks per case, scanned for every probe: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn large_tables_with_many_buckets_answer_as_a_scan(
        v4 in prop::collection::vec((v4_addr(), prop_oneof![16_u8..=32, 24_u8..=32]).prop_map(masked_v4), 500..3_000),
        v6 in prop::collection::vec((v6_addr(), prop_oneof![32_u8..=128, 120_u8..=128]).prop_map(masked_v6), 500..3_000),
        probes_v4 in prop::collection::vec(v4_addr(), 256),
        probes_v6 in prop::collection::vec(v6_addr(), 256),
    ) {
        let entries: Vec<String> = v4
            .iter()
            .map(|&(a, b)| format!("{}/{b}", Ipv4Addr::from(a)))
            .chain(v6.iter().map(|&(a, b)| format!("{}/{b}", Ipv6Addr::from(a))))
            .collect();
        let t = Table::parse(&entries).unwrap();
        let mut edges_v4 = probes_v4;
        for &(addr, bits) in v4.iter().take(200) {
            let last = addr | u32::MAX.checked_shr(u32::from(bits)).unwrap_or(0);
            edges_v4.extend([addr, last, addr.wrapping_sub(1), last.wrapping_add(1)]);
        }
        let mut edges_v6 = probes_v6;
        for &(addr, bits) in v6.iter().take(200) {
            let last = addr | u128::MAX.checked_shr(u32::from(bits)).unwrap_or(0);
            edges_v6.extend([addr, last, addr.wrapping_sub(1), last.wrapping_add(1)]);
        }
        for probe in edges_v4 {
            prop_assert_eq!(t.contains(IpAddr::V4(Ipv4Addr::from(probe))), scan_v4(&v4, probe));
        }
        for probe in edges_v6 {
            prop_assert_eq!(t.contains(IpAddr::V6(Ipv6Addr::from(probe))), scan_v6(&v6, probe));
        }
    }
}
