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
        &[r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.9;by=10.0.0.2"#],
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
fn host_bits_of_trusted_networks_are_refused_with_the_network_they_would_be() {
    assert_eq!(
        ClientIp::builder()
            .trust_proxies([" 10.1.2.3/8 "])
            .build()
            .unwrap_err(),
        ClientIpError::HostBitsSet {
            value: "10.1.2.3/8".into(),
            network: "10.0.0.0/8".into(),
        }
    );
    assert!(matches!(
        ClientIp::builder().trust_proxies(["fd00::1/8"]).build(),
        Err(ClientIpError::HostBitsSet { network, .. }) if network == "fd00::/8"
    ));
    // Written without host bits, they are the same networks.
    let client_ip = ClientIp::builder()
        .trust_proxies(["10.0.0.0/8", "fd00::/8", "10.1.2.3", "10.1.2.3/32"])
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

/// `TlsListener` serves `ConnectInfo<TlsConnectInfo>`, not `ConnectInfo<SocketAddr>`: its peer
/// must count, or every request over it has no client address (a rate limit with no key, an
/// IP filter that refuses everyone, or with `allow_unknown` lets everyone through).
#[cfg(all(feature = "axum", feature = "mtls"))]
#[test]
fn tls_connect_info_is_the_peer() {
    use crate::auth::TlsConnectInfo;

    let tls = |peer: &str| {
        let mut extensions = Extensions::new();
        let info = TlsConnectInfo::new(peer.parse().unwrap(), None);
        extensions.insert(axum::extract::ConnectInfo(info));
        extensions
    };
    // An untrusted peer: itself, its forged header ignored.
    let got = resolve_with(
        &behind_proxies(),
        &tls("198.51.100.7:5000"),
        XFF,
        &["203.0.113.9"],
    );
    assert_eq!(got, Some(ip("198.51.100.7")));
    assert_eq!(peer_ip(&tls("198.51.100.7:5000")), Some(ip("198.51.100.7")));
    // A trusted proxy: the walk.
    let got = resolve_with(
        &behind_proxies(),
        &tls("10.0.0.2:5000"),
        XFF,
        &["6.6.6.6, 203.0.113.9"],
    );
    assert_eq!(got, Some(ip("203.0.113.9")));
    // `ConnectInfo<SocketAddr>` first, then `TlsConnectInfo`, then `PeerAddr`.
    let mut extensions = tls("198.51.100.7:5000");
    extensions.insert(PeerAddr("198.51.100.8:5000".parse().unwrap()));
    assert_eq!(peer_ip(&extensions), Some(ip("198.51.100.7")));
    let addr: SocketAddr = "198.51.100.9:5000".parse().unwrap();
    extensions.insert(axum::extract::ConnectInfo(addr));
    assert_eq!(peer_ip(&extensions), Some(ip("198.51.100.9")));
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
