//! Adversarial probes of the client address (`ClientIp`), through the public API only.
//!
//! The attacker is a client on the internet behind a load balancer we trust (10.0.0.2, in
//! 10.0.0.0/8). It writes whatever it likes into its own `X-Forwarded-For`, `Forwarded` and
//! `X-Real-Ip` headers, as many lines as it likes, with any bytes HTTP lets through; the load
//! balancer then appends the address it saw. The attacker wants another address (to dodge a
//! rate limit or a deny list), a panic, unbounded work, or an answer other than a careful
//! reference's (nginx `real_ip_recursive on`, realclientip-go's `RightmostTrustedRange`).
//!
//! Each probe asserts the exact answer: an address, the socket peer, or `None` (the client
//! cannot be known: the rate limiter's `MissingKey` policy, the IP filter's refusal).
//!
//! Peers come from `ConnectInfo` and `PeerAddr`; the `axum` feature (a default) reads the former.
#![cfg(feature = "axum")]

mod common;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use tower::ServiceExt;
use tower_shield::ip_filter::IpFilterLayer;
use tower_shield::rate_limit::{ClientIp, ForwardedHeader, PeerAddr};

const XFF: &str = "x-forwarded-for";
const FWD: &str = "forwarded";
/// The load balancer: a trusted proxy.
const LB: &str = "10.0.0.2:40000";
/// A client straight from the internet.
const DIRECT: &str = "198.51.100.7:40000";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

fn builder() -> tower_shield::rate_limit::ClientIpBuilder {
    ClientIp::builder()
        .trust_proxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8"])
        .ipv6_prefix(128)
}

/// Trusts 10.0.0.0/8, 192.168.1.7 and fd00::/8, reads `X-Forwarded-For`; exact IPv6 results.
fn xff() -> ClientIp {
    builder().build().expect("valid configuration")
}

/// The same proxies, reading RFC 7239 `Forwarded`.
fn fwd() -> ClientIp {
    builder()
        .header(ForwardedHeader::Forwarded)
        .build()
        .expect("valid configuration")
}

fn headers(lines: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in lines {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_bytes(value).expect("a header value"),
        );
    }
    map
}

fn peer(addr: &str) -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(PeerAddr(addr.parse().expect("a socket address")));
    extensions
}

/// The client of a request from `from` carrying `name` lines `values`, in order.
fn resolve(client_ip: &ClientIp, from: &str, name: &str, values: &[&str]) -> Option<IpAddr> {
    let lines: Vec<(&str, &[u8])> = values.iter().map(|v| (name, v.as_bytes())).collect();
    client_ip.resolve(&peer(from), &headers(&lines))
}

/// [`resolve`] with raw header bytes (obs-text).
fn resolve_bytes(client_ip: &ClientIp, from: &str, name: &str, values: &[&[u8]]) -> Option<IpAddr> {
    let lines: Vec<(&str, &[u8])> = values.iter().map(|&v| (name, v)).collect();
    client_ip.resolve(&peer(from), &headers(&lines))
}

/// What an attacker may put to the left of the load balancer's entry; none of it may matter.
const FORGERIES: &[&str] = &[
    "",
    "6.6.6.6",
    "6.6.6.6, ",
    "6.6.6.6,,",
    "10.0.0.3",
    "unknown",
    "_hidden",
    "garbage",
    "010.0.0.1",
    "fe80::1%eth0",
    "[2001:db8::1",
    "\"",
    "for=\"6.6.6.6",
    "for=6.6.6.6;for=7.7.7.7",
    "for=\"x\\\"",
    "host=\"a,for=6.6.6.6;x=\"",
    ";;;===",
    "\t \t",
];

// --- No trusted proxy: headers are never read -------------------------------------------------

#[test]
fn no_trusted_proxy_ignores_every_forwarding_header() {
    let all = [
        (XFF, &b"6.6.6.6"[..]),
        (FWD, b"for=6.6.6.6"),
        ("x-real-ip", b"6.6.6.6"),
        ("true-client-ip", b"6.6.6.6"),
        ("cf-connecting-ip", b"6.6.6.6"),
    ];
    for client_ip in [ClientIp::peer(), ClientIp::default(), xff(), fwd()] {
        let got = client_ip.resolve(&peer(DIRECT), &headers(&all));
        assert_eq!(got, Some(ip("198.51.100.7")), "{client_ip:?}");
    }
    // Even from loopback or a private address: nothing is trusted unless declared.
    let got = ClientIp::peer().resolve(&peer("127.0.0.1:1"), &headers(&all));
    assert_eq!(got, Some(ip("127.0.0.1")));
    let got = ClientIp::peer().resolve(&peer(LB), &headers(&all));
    assert_eq!(got, Some(ip("10.0.0.2")));
}

#[test]
fn x_real_ip_is_never_read_even_from_a_trusted_proxy() {
    let got = xff().resolve(&peer(LB), &headers(&[("x-real-ip", b"6.6.6.6")]));
    assert_eq!(got, Some(ip("10.0.0.2")));
    let got = xff().resolve(
        &peer(LB),
        &headers(&[("x-real-ip", b"6.6.6.6"), (XFF, b"203.0.113.9")]),
    );
    assert_eq!(got, Some(ip("203.0.113.9")));
}

#[test]
fn no_peer_address_is_none_whatever_the_headers() {
    let forged = headers(&[(XFF, b"203.0.113.9"), (FWD, b"for=203.0.113.9")]);
    assert_eq!(xff().resolve(&Extensions::new(), &forged), None);
    assert_eq!(fwd().resolve(&Extensions::new(), &forged), None);
    assert_eq!(ClientIp::peer().resolve(&Extensions::new(), &forged), None);
}

#[test]
fn trusted_peer_without_entries_is_the_peer() {
    // nginx keeps the proxy's address too; realclientip-go answers "" (no address).
    assert_eq!(resolve(&xff(), LB, XFF, &[]), Some(ip("10.0.0.2")));
    assert_eq!(resolve(&xff(), LB, XFF, &[""]), Some(ip("10.0.0.2")));
    assert_eq!(
        resolve(&xff(), LB, XFF, &[" , ,\t,", ""]),
        Some(ip("10.0.0.2"))
    );
    assert_eq!(resolve(&fwd(), LB, FWD, &[",,"]), Some(ip("10.0.0.2")));
}

// --- The right-most untrusted hop ----------------------------------------------------------------

#[test]
fn forged_left_entries_never_matter() {
    for forged in FORGERIES {
        let line = format!("{forged}, 203.0.113.9");
        assert_eq!(
            resolve(&xff(), LB, XFF, &[&line]),
            Some(ip("203.0.113.9")),
            "{line:?}"
        );
        // The same forgery on a line of its own, before the load balancer's.
        assert_eq!(
            resolve(&xff(), LB, XFF, &[forged, "203.0.113.9"]),
            Some(ip("203.0.113.9")),
            "{forged:?}"
        );
        // Behind two trusted hops.
        let line = format!("{forged}, 203.0.113.9, 192.168.1.7, [fd00::5]:443");
        assert_eq!(
            resolve(&xff(), LB, XFF, &[&line]),
            Some(ip("203.0.113.9")),
            "{line:?}"
        );
        let line = format!("{forged}, for=203.0.113.9;proto=https");
        assert_eq!(
            resolve(&fwd(), LB, FWD, &[&line]),
            Some(ip("203.0.113.9")),
            "{line:?}"
        );
    }
}

#[test]
fn several_x_forwarded_for_lines_are_one_list_in_order() {
    // RFC 9110 section 5.3: the lines are one list, joined by commas, in order.
    let cases: &[(&[&str], &str)] = &[
        (&["6.6.6.6", "203.0.113.9"], "203.0.113.9"),
        (&["203.0.113.9", "198.51.100.1"], "198.51.100.1"),
        (
            &["6.6.6.6, 203.0.113.9", "10.0.0.5, 10.0.0.6"],
            "203.0.113.9",
        ),
        (&["6.6.6.6", "203.0.113.9", "", "10.0.0.5"], "203.0.113.9"),
        (&["6.6.6.6, 203.0.113.9,", ",10.0.0.5"], "203.0.113.9"),
        (&["10.0.0.9", "10.0.0.8"], "10.0.0.9"),
    ];
    as_one_list(&xff(), XFF, cases);
    // A junk line to the right of the client is reached, whichever line holds it.
    assert_eq!(
        resolve(&xff(), LB, XFF, &["203.0.113.9", "garbage", "10.0.0.5"]),
        None
    );
}

#[test]
fn several_forwarded_lines_are_one_list_in_order() {
    let cases: &[(&[&str], &str)] = &[
        (&["for=6.6.6.6", "for=203.0.113.9"], "203.0.113.9"),
        (
            &["for=6.6.6.6, for=203.0.113.9;proto=https", "for=10.0.0.5"],
            "203.0.113.9",
        ),
        (
            &["for=203.0.113.9", r#"for="[fd00::3]:80";by=10.0.0.2"#],
            "203.0.113.9",
        ),
        (&["for=10.0.0.9", "for=10.0.0.8"], "10.0.0.9"),
    ];
    as_one_list(&fwd(), FWD, cases);
}

/// Each case's header lines resolve to its address, exactly as the comma-joined single line
/// does.
fn as_one_list(client_ip: &ClientIp, header: &str, cases: &[(&[&str], &str)]) {
    for &(lines, expected) in cases {
        assert_eq!(
            resolve(client_ip, LB, header, lines),
            Some(ip(expected)),
            "{lines:?}"
        );
        let joined = lines.join(", ");
        assert_eq!(
            resolve(client_ip, LB, header, &[&joined]),
            Some(ip(expected)),
            "{joined:?}"
        );
    }
}

#[test]
fn both_headers_disagreeing_only_the_configured_one_counts() {
    let both = headers(&[
        (XFF, b"6.6.6.6, 203.0.113.9"),
        (FWD, b"for=7.7.7.7, for=198.51.100.1"),
    ]);
    assert_eq!(xff().resolve(&peer(LB), &both), Some(ip("203.0.113.9")));
    assert_eq!(fwd().resolve(&peer(LB), &both), Some(ip("198.51.100.1")));
    // The other header is not a fallback: with the configured one absent, the peer.
    let only_fwd = headers(&[(FWD, b"for=198.51.100.1")]);
    assert_eq!(xff().resolve(&peer(LB), &only_fwd), Some(ip("10.0.0.2")));
    let only_xff = headers(&[(XFF, b"203.0.113.9")]);
    assert_eq!(fwd().resolve(&peer(LB), &only_xff), Some(ip("10.0.0.2")));
}

#[test]
fn empty_elements_are_ignored() {
    // RFC 9110 section 5.6.1; nginx skips them as well (realclientip-go counts them as invalid).
    let cases = [
        ("6.6.6.6,,203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, ,203.0.113.9,,10.0.0.3,", "203.0.113.9"),
        (",,,203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, \t, 10.0.0.3", "203.0.113.9"),
    ];
    for (line, expected) in cases {
        assert_eq!(
            resolve(&xff(), LB, XFF, &[line]),
            Some(ip(expected)),
            "{line:?}"
        );
    }
    assert_eq!(
        resolve(&fwd(), LB, FWD, &["for=6.6.6.6,, for=203.0.113.9 ,"]),
        Some(ip("203.0.113.9"))
    );
}

#[test]
fn whitespace_and_tabs_around_entries() {
    for line in [
        "203.0.113.9",
        " 203.0.113.9 ",
        "\t203.0.113.9\t",
        "6.6.6.6 ,\t 203.0.113.9 \t, 10.0.0.3 ",
        "6.6.6.6,203.0.113.9,10.0.0.3",
    ] {
        assert_eq!(
            resolve(&xff(), LB, XFF, &[line]),
            Some(ip("203.0.113.9")),
            "{line:?}"
        );
    }
    // Whitespace inside an entry is not a separator (nginx splits on spaces): not an address.
    assert_eq!(resolve(&xff(), LB, XFF, &["6.6.6.6 203.0.113.9"]), None);
    assert_eq!(
        resolve(&fwd(), LB, FWD, &["for=203.0.113.9 ;\tproto=https "]),
        Some(ip("203.0.113.9"))
    );
}

#[test]
fn unparseable_hop_right_of_the_client_never_unlocks_the_left() {
    // The entry the trusted proxies vouch for is junk: the client is unknown. Never the forged
    // 6.6.6.6 further left (axum-client-ip's rightmost-valid extractors would skip to it); nginx
    // stops there too, keeping the last trusted address.
    for junk in [
        "garbage",
        "unknown",
        "_hidden",
        "010.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "fe80::1%eth0",
        "\"203.0.113.9\"",
        "203.0.113.9:",
        "203.0.113.9:65536",
        "[203.0.113.9]",
        "[2001:db8::1",
        "2001:db8::1]",
        "[2001:db8::1]:",
        "[2001:db8::1]443",
        "203.0.113.9 10.0.0.3",
    ] {
        let line = format!("6.6.6.6, {junk}, 10.0.0.3");
        assert_eq!(resolve(&xff(), LB, XFF, &[&line]), None, "{line:?}");
        let line = format!("6.6.6.6, {junk}");
        assert_eq!(resolve(&xff(), LB, XFF, &[&line]), None, "{line:?}");
    }
    for junk in [
        "for=unknown",
        "for=_hidden",
        "for=\"_hidden:_port\"",
        "proto=https",
        "by=10.0.0.2",
        "for=",
        "for",
        "=203.0.113.9",
        ";",
    ] {
        let line = format!("for=6.6.6.6, {junk}, for=10.0.0.3");
        assert_eq!(resolve(&fwd(), LB, FWD, &[&line]), None, "{line:?}");
    }
}

#[test]
fn all_hops_trusted_gives_the_left_most() {
    // As nginx real_ip_recursive does (realclientip-go answers "" instead).
    let cases = [
        ("10.1.1.1, 10.2.2.2", "10.1.1.1"),
        ("10.1.1.1:80, [fd00::9]:443, 192.168.1.7", "10.1.1.1"),
        ("::ffff:10.1.1.1, 10.2.2.2", "10.1.1.1"),
        ("[fd00::9], 10.2.2.2", "fd00::9"),
    ];
    for (line, expected) in cases {
        assert_eq!(
            resolve(&xff(), LB, XFF, &[line]),
            Some(ip(expected)),
            "{line:?}"
        );
    }
    assert_eq!(
        resolve(&fwd(), LB, FWD, &[r#"for=10.1.1.1, for="[fd00::9]:443""#]),
        Some(ip("10.1.1.1"))
    );
    // A single trusted address is not its network.
    assert_eq!(
        resolve(&xff(), LB, XFF, &["6.6.6.6, 192.168.1.8, 192.168.1.7"]),
        Some(ip("192.168.1.8"))
    );
}

// --- Address forms -----------------------------------------------------------------------------

#[test]
fn ipv6_and_port_forms_in_x_forwarded_for() {
    let cases = [
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]:_obf", "2001:db8::1"),
        ("1.2.3.4:80", "1.2.3.4"),
        ("1.2.3.4:080", "1.2.3.4"),
        ("1.2.3.4:_obf", "1.2.3.4"),
        // An unbracketed IPv6 address with a port is ambiguous: it reads as the address
        // 2001:db8::1:443 (as Go's net.SplitHostPort + net.ParseIP read it); same /64.
        ("2001:db8::1:443", "2001:db8::1:443"),
        ("::1", "::1"),
    ];
    for (entry, expected) in cases {
        let line = format!("6.6.6.6, {entry}, 10.0.0.3:80");
        assert_eq!(
            resolve(&xff(), LB, XFF, &[&line]),
            Some(ip(expected)),
            "{line:?}"
        );
    }
    for entry in [
        "1.2.3.4:80:90",
        "1.2.3.4: 80",
        "1.2.3.4:-1",
        "1.2.3.4:+80",
        "[1.2.3.4]:80",
        "[[2001:db8::1]]",
        "[2001:db8::1]]:80",
        "[ 2001:db8::1 ]",
        "[fe80::1%25eth0]:80",
        "fe80::1%eth0",
        "::ffff:010.0.0.1",
    ] {
        let line = format!("6.6.6.6, {entry}");
        assert_eq!(resolve(&xff(), LB, XFF, &[&line]), None, "{line:?}");
    }
}

#[test]
fn ipv4_mapped_ipv6_against_ipv4_trusted_networks() {
    // A mapped entry in a trusted IPv4 network is trusted, and skipped.
    assert_eq!(
        resolve(
            &xff(),
            LB,
            XFF,
            &["6.6.6.6, 203.0.113.9, ::ffff:10.0.0.3, [::ffff:10.0.0.4]:80"]
        ),
        Some(ip("203.0.113.9"))
    );
    // A mapped client is its IPv4 address (not the /64 ::ffff:0:0 that all of IPv4 shares).
    assert_eq!(
        resolve(&xff(), LB, XFF, &["::ffff:203.0.113.9"]),
        Some(ip("203.0.113.9"))
    );
    let default = ClientIp::builder()
        .trust_proxies(["10.0.0.0/8"])
        .build()
        .expect("valid configuration");
    assert_eq!(
        resolve(&default, LB, XFF, &["::ffff:203.0.113.9"]),
        Some(ip("203.0.113.9"))
    );
    // A mapped peer in a trusted IPv4 network is a trusted proxy; a mapped untrusted peer is
    // its IPv4 address.
    assert_eq!(
        resolve(&xff(), "[::ffff:10.0.0.2]:40000", XFF, &["203.0.113.9"]),
        Some(ip("203.0.113.9"))
    );
    assert_eq!(
        resolve(&xff(), "[::ffff:198.51.100.7]:40000", XFF, &["203.0.113.9"]),
        Some(ip("198.51.100.7"))
    );
    // The IPv4-compatible form ::10.0.0.3 is not mapped: an IPv6 client, untrusted.
    assert_eq!(
        resolve(&xff(), LB, XFF, &["::10.0.0.3"]),
        Some(ip("::a00:3"))
    );
    // A mapped network given to trust_proxies is the IPv4 network.
    let mapped = ClientIp::builder()
        .trust_proxies(["::ffff:10.0.0.0/104"])
        .build()
        .expect("valid configuration");
    assert_eq!(
        resolve(&mapped, LB, XFF, &["6.6.6.6, 203.0.113.9, 10.0.0.3"]),
        Some(ip("203.0.113.9"))
    );
}

#[test]
fn forwarded_node_forms() {
    let cases = [
        (r#"for="[2001:db8::1]:4711""#, "2001:db8::1"),
        (r#"for="[2001:db8::1]""#, "2001:db8::1"),
        (r#"for="203.0.113.9:4711""#, "203.0.113.9"),
        (r#"for="203.0.113.9""#, "203.0.113.9"),
        ("for=203.0.113.9", "203.0.113.9"),
        // Not RFC 7239 (a ':' or '[' needs quotes), as proxies are known to write it: accepted.
        ("for=203.0.113.9:4711", "203.0.113.9"),
        ("for=[2001:db8::1]:4711", "2001:db8::1"),
        (r#"for="2001:db8::1""#, "2001:db8::1"),
        (r#"for="[::ffff:203.0.113.9]""#, "203.0.113.9"),
        // Parameter names are case-insensitive.
        ("FOR=203.0.113.9", "203.0.113.9"),
        ("For=203.0.113.9", "203.0.113.9"),
        ("fOr=203.0.113.9", "203.0.113.9"),
        // Other parameters, in any order.
        ("proto=https;for=203.0.113.9;by=10.0.0.2", "203.0.113.9"),
        (r#"host="example.com";for=203.0.113.9"#, "203.0.113.9"),
    ];
    for (element, expected) in cases {
        let line = format!("for=6.6.6.6, {element}, for=10.0.0.3");
        assert_eq!(
            resolve(&fwd(), LB, FWD, &[&line]),
            Some(ip(expected)),
            "{line:?}"
        );
    }
}

#[test]
fn forwarded_unknown_obfuscated_escaped_or_ambiguous_is_none() {
    for element in [
        "for=unknown",
        r#"for="unknown:80""#,
        "for=_hidden",
        r#"for="_hidden""#,
        r#"for="[2001:db8::1]:4711"#,
        r#"for=[2001:db8::1]:4711""#,
        // A quoted-pair is legal RFC 9110, but no address holds one: refused, not unescaped.
        r#"for="\[2001:db8::1\]""#,
        r#"for="203.0.113.9\"""#,
        r#"for="20\3.0.113.9""#,
        // `for` twice in one element (RFC 7239 section 4: at most once): refused, not first-wins.
        "for=203.0.113.9;for=203.0.113.10",
        "for=203.0.113.9;FOR=203.0.113.9",
        // Junk in the element around `for`.
        "for=203.0.113.9;junk",
        "for=203.0.113.9;=x",
        r#"for=203.0.113.9;host="a"b""#,
        "for=203.0.113.9 203.0.113.10",
        "for=203.0.113.9=",
    ] {
        let line = format!("for=6.6.6.6, {element}");
        assert_eq!(resolve(&fwd(), LB, FWD, &[&line]), None, "{line:?}");
    }
    // A quoted `;` or `,` (legal in another parameter) splits the element into unbalanced
    // halves: the client is unknown, never 198.51.100.1 read out of the quoted string.
    for line in [
        r#"for=203.0.113.9;host="a;b""#,
        r#"for=203.0.113.9;host="x;for=198.51.100.1""#,
        r#"for=203.0.113.9;host="x,for=198.51.100.1""#,
        r#"for=203.0.113.9;host="x, for=198.51.100.1;a=\"""#,
    ] {
        assert_eq!(resolve(&fwd(), LB, FWD, &[line]), None, "{line:?}");
    }
}

#[test]
fn the_attackers_unbalanced_quote_cannot_swallow_the_proxys_element() {
    // A left-to-right parser of the whole line would read `"x, for=203.0.113.9` as one quoted
    // string; the walk from the right finds the load balancer's element whole.
    for forged in [r#"for="x"#, r#"for=6.6.6.6;host="x"#, r#"""#, r#"for="\"#] {
        let line = format!("{forged}, for=203.0.113.9");
        assert_eq!(
            resolve(&fwd(), LB, FWD, &[&line]),
            Some(ip("203.0.113.9")),
            "{line:?}"
        );
        assert_eq!(
            resolve(&fwd(), LB, FWD, &[forged, "for=203.0.113.9"]),
            Some(ip("203.0.113.9")),
            "{forged:?}"
        );
    }
}

#[test]
fn unspecified_addresses_from_a_proxy_are_taken_as_written() {
    // A syntactically valid address: kept (realclientip-go drops 0.0.0.0 and ::). Only a trusted
    // proxy can put it where it is reached, and it then keys like any other address.
    assert_eq!(
        resolve(&xff(), LB, XFF, &["6.6.6.6, 0.0.0.0"]),
        Some(ip("0.0.0.0"))
    );
    assert_eq!(
        resolve(&fwd(), LB, FWD, &[r#"for=6.6.6.6, for="[::]""#]),
        Some(ip("::"))
    );
}

// --- Bytes HTTP lets through -------------------------------------------------------------------

#[test]
fn obs_text_and_non_utf8_only_matter_when_reached() {
    let client_ip = xff();
    // Left of the client: ignored, on the same line or on a line of its own.
    for forged in [&b"\xff\xfe, "[..], b"\xc3\xa9t\xc3\xa9, ", b"6.6.6.6\x80, "] {
        let mut line = forged.to_vec();
        line.extend_from_slice(b"203.0.113.9");
        assert_eq!(
            resolve_bytes(&client_ip, LB, XFF, &[&line]),
            Some(ip("203.0.113.9")),
            "{line:?}"
        );
    }
    assert_eq!(
        resolve_bytes(&client_ip, LB, XFF, &[b"\xff\xff\xff", b"203.0.113.9"]),
        Some(ip("203.0.113.9"))
    );
    // In the client's entry or to its right: unknown.
    for line in [
        &b"6.6.6.6, 203.0.113.9\xa0"[..],
        b"6.6.6.6, \xa0203.0.113.9",
        b"6.6.6.6, 203.0.113.9, 10.0.0.3\xff",
        b"6.6.6.6, 203.0.113.9, \xff",
        b"203.0.113.9, \xc2\xa0",
    ] {
        assert_eq!(
            resolve_bytes(&client_ip, LB, XFF, &[line]),
            None,
            "{line:?}"
        );
    }
    assert_eq!(
        resolve_bytes(&fwd(), LB, FWD, &[b"for=6.6.6.6, for=203.0.113.9;x=\xe9"]),
        None
    );
}

// --- Bounded work --------------------------------------------------------------------------------

#[test]
fn long_headers_and_thousands_of_hops_are_bounded() {
    let client_ip = xff();
    // 64 KiB of forgery to the left: never read.
    let junk = "6".repeat(64 * 1024);
    let line = format!("{junk}, 203.0.113.9");
    assert_eq!(
        resolve(&client_ip, LB, XFF, &[&line]),
        Some(ip("203.0.113.9"))
    );
    let many = vec!["6.6.6.6"; 10_000].join(",");
    let line = format!("{many}, 203.0.113.9");
    assert_eq!(
        resolve(&client_ip, LB, XFF, &[&line]),
        Some(ip("203.0.113.9"))
    );
    // A 64 KiB entry where the client should be: unknown.
    let line = format!("6.6.6.6, {junk}");
    assert_eq!(resolve(&client_ip, LB, XFF, &[&line]), None);
    // The walk stops after 64 entries: 63 trusted hops are walked, 64 are not.
    let hops = |n: usize| vec!["10.0.0.3"; n].join(", ");
    let line = format!("203.0.113.9, {}", hops(63));
    assert_eq!(
        resolve(&client_ip, LB, XFF, &[&line]),
        Some(ip("203.0.113.9"))
    );
    let line = format!("203.0.113.9, {}", hops(64));
    assert_eq!(resolve(&client_ip, LB, XFF, &[&line]), None);
    // Empty elements and header lines count too.
    let line = format!("203.0.113.9{}", ",".repeat(64));
    assert_eq!(resolve(&client_ip, LB, XFF, &[&line]), None);
    let mut lines = vec!["203.0.113.9"];
    lines.extend(std::iter::repeat_n("", 64));
    assert_eq!(resolve(&client_ip, LB, XFF, &lines), None);
    let mut lines = vec!["203.0.113.9"];
    lines.extend(std::iter::repeat_n("10.0.0.3", 10_000));
    assert_eq!(resolve(&client_ip, LB, XFF, &lines), None);
    let line = format!("for=203.0.113.9, {}", vec!["for=10.0.0.3"; 64].join(","));
    assert_eq!(resolve(&fwd(), LB, FWD, &[&line]), None);
}

#[test]
fn work_does_not_grow_with_the_header() {
    // 1 MiB of hops (100 000 trusted entries, one header line; and 10 000 header lines), each
    // resolved 2 000 times: a walk that read the whole header would take minutes in a debug
    // build; a bounded one takes milliseconds. (No timed assertion: the answers are checked,
    // and an unbounded walk shows as this test's time.)
    let client_ip = xff();
    let trusted = headers(&[(
        XFF,
        format!("203.0.113.9, {}", vec!["10.0.0.3"; 100_000].join(", ")).as_bytes(),
    )]);
    assert!(trusted.get(XFF).expect("the header").len() > 1_000_000);
    let forged = headers(&[(
        XFF,
        format!("{}, 203.0.113.9", vec!["6.6.6.6"; 100_000].join(", ")).as_bytes(),
    )]);
    let lines: Vec<(&str, &[u8])> = std::iter::once((XFF, &b"203.0.113.9"[..]))
        .chain(std::iter::repeat_n((XFF, &b"10.0.0.3"[..]), 10_000))
        .collect();
    let many_lines = headers(&lines);
    let from = peer(LB);
    for _ in 0..2_000 {
        assert_eq!(client_ip.resolve(&from, &trusted), None);
        assert_eq!(client_ip.resolve(&from, &forged), Some(ip("203.0.113.9")));
        assert_eq!(client_ip.resolve(&from, &many_lines), None);
    }
}

// --- Masks ---------------------------------------------------------------------------------------

#[test]
fn a_rotating_ipv6_client_keeps_its_key() {
    let client_ip = ClientIp::builder()
        .trust_proxies(["10.0.0.0/8"])
        .build()
        .expect("valid configuration");
    let keys: Vec<_> = [
        "2001:db8:1:2::1",
        "[2001:db8:1:2:ffff:ffff:ffff:ffff]:443",
        "2001:db8:1:2:dead:beef::7",
    ]
    .iter()
    .map(|entry| resolve(&client_ip, LB, XFF, &[entry]))
    .collect();
    assert!(
        keys.iter().all(|k| *k == Some(ip("2001:db8:1:2::"))),
        "{keys:?}"
    );
}

// --- Peer addresses, end to end ------------------------------------------------------------------

#[test]
fn connect_info_is_the_peer_and_wins_over_peer_addr() {
    let mut extensions = Extensions::new();
    let lb: SocketAddr = LB.parse().expect("a socket address");
    extensions.insert(ConnectInfo(lb));
    let forged = headers(&[(XFF, b"6.6.6.6, 203.0.113.9")]);
    assert_eq!(xff().resolve(&extensions, &forged), Some(ip("203.0.113.9")));
    // A PeerAddr next to it does not change the peer.
    extensions.insert(PeerAddr(DIRECT.parse().expect("a socket address")));
    assert_eq!(xff().resolve(&extensions, &forged), Some(ip("203.0.113.9")));
}

/// Served by `TlsListener` with `into_make_service_with_connect_info::<TlsConnectInfo>()`, the
/// peer is in `ConnectInfo<TlsConnectInfo>`.
#[cfg(feature = "mtls")]
#[test]
fn tls_connect_info_is_the_peer() {
    use tower_shield::auth::TlsConnectInfo;

    let tls = |addr: &str| {
        let mut extensions = Extensions::new();
        let info = TlsConnectInfo::new(addr.parse().expect("a socket address"), None);
        extensions.insert(ConnectInfo(info));
        extensions
    };
    let forged = headers(&[(XFF, b"6.6.6.6, 203.0.113.9")]);
    assert_eq!(
        xff().resolve(&tls(DIRECT), &forged),
        Some(ip("198.51.100.7"))
    );
    assert_eq!(xff().resolve(&tls(LB), &forged), Some(ip("203.0.113.9")));
    assert_eq!(
        ClientIp::peer().resolve(&tls(DIRECT), &HeaderMap::new()),
        Some(ip("198.51.100.7"))
    );
}

/// The deny list through `IpFilterLayer`: a denied client behind the load balancer cannot talk
/// its way out with any forwarding header.
#[tokio::test]
async fn a_denied_client_cannot_forge_its_way_past_the_ip_filter() {
    let filter = IpFilterLayer::builder()
        .deny(["203.0.113.66", "2001:db8:bad::/48"])
        .client_ip(xff())
        .build()
        .expect("valid lists");
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(filter);
    let send = |from: &str, extra: &[(&str, &str)]| {
        let mut req = Request::get("/");
        for &(name, value) in extra {
            req = req.header(name, value);
        }
        let mut req = req.body(Body::empty()).expect("a request");
        let from: SocketAddr = from.parse().expect("a socket address");
        req.extensions_mut().insert(ConnectInfo(from));
        let app = app.clone();
        async move { app.oneshot(req).await.expect("infallible").status() }
    };
    // What the load balancer forwards for the denied client, whatever it sent.
    for forged in [
        vec![(XFF, "198.51.100.1, 203.0.113.66")],
        vec![(XFF, "198.51.100.1"), (XFF, "203.0.113.66")],
        vec![(XFF, "198.51.100.1,,203.0.113.66,")],
        vec![(XFF, "10.0.0.3, 203.0.113.66")],
        vec![(XFF, "[::ffff:203.0.113.66]:80")],
        vec![(XFF, "203.0.113.66"), ("x-real-ip", "198.51.100.1")],
        vec![(XFF, "203.0.113.66"), (FWD, "for=198.51.100.1")],
        vec![(XFF, "[2001:db8:bad:1::1]:443")],
    ] {
        assert_eq!(send(LB, &forged).await, StatusCode::FORBIDDEN, "{forged:?}");
    }
    // The denied client straight from the internet: its headers are not believed.
    let status = send("203.0.113.66:40000", &[(XFF, "198.51.100.1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A junk entry from the proxy makes the client unknown: refused, not waved through.
    let status = send(LB, &[(XFF, "198.51.100.1, junk")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An allowed client through the load balancer passes.
    let status = send(LB, &[(XFF, "203.0.113.66, 198.51.100.1")]).await;
    assert_eq!(status, StatusCode::OK);
}

/// Over a real socket: hyper hands over repeated header lines in order and obs-text intact, and
/// the answer is the one computed above.
#[tokio::test]
async fn over_the_wire_repeated_lines_keep_their_order() {
    // The test client connects from 127.0.0.1: that is the trusted load balancer here.
    let client_ip = ClientIp::builder()
        .trust_proxies(["127.0.0.1", "10.0.0.0/8"])
        .build()
        .expect("valid configuration");
    let app = Router::new().route(
        "/",
        get(move |req: Request<Body>| {
            let client_ip = client_ip.clone();
            async move {
                client_ip
                    .resolve(req.extensions(), req.headers())
                    .map_or_else(|| "none".to_owned(), |ip| ip.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    let cases: &[(&[u8], &str)] = &[
        (b"GET / HTTP/1.1", "127.0.0.1"),
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.9",
            "203.0.113.9",
        ),
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\nX-Real-Ip: 6.6.6.6\r\nx-forwarded-for: 10.0.0.3",
            "203.0.113.9",
        ),
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For: \xff\xfe6.6.6.6\r\nX-Forwarded-For: 203.0.113.9",
            "203.0.113.9",
        ),
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9\xff",
            "none",
        ),
        // An empty line is an empty element: skipped, the walk goes on to the line before.
        (
            b"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For:\r\nX-Forwarded-For: 10.0.0.3",
            "203.0.113.9",
        ),
    ];
    for &(head, expected) in cases {
        let res = common::raw(addr, head).await;
        assert_eq!(res.status, 200, "{head:?}");
        assert_eq!(
            std::str::from_utf8(&res.body).expect("text"),
            expected,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}
