//! The client input and the configuration parsers of three gateway layers, each against an
//! oracle written here from its module docs: `IpFilterLayer` (CIDR allow and deny lists, the
//! peer address, lists replaced at run time), `CsrfLayer` (method, `Sec-Fetch-Site`, `Origin`,
//! `Host`, trusted origins, bypass paths) and `ValidateRequestLayer` (`Content-Type`, body
//! size, JSON, JSON Schema).
//!
//! Input: a byte of flags (bits 0-1: the layer: 0 the IP filter, 1 CSRF, 2 validation with the
//! fixed schema, 3 validation with a schema from the input), a byte of how, then:
//!
//! - **IP filter**: lines in four sections separated by lines of `-`: the allow list, the deny
//!   list, a replacement list, client addresses (text, or else the line's first 16 or 4 bytes).
//!   How: bit 0: an allow list (an empty section is an empty list, which lets nothing through);
//!   bit 1: `allow_unknown`; bit 2: replace a list through the handle once the layer runs; bit 3:
//!   that replacement is `replace_allow` (else `replace_deny`); bit 4: then `remove_allow`; bit
//!   5: a `ClientIp` that groups clients by /24 and /48 (which the filter must ignore); bit 6:
//!   also a request without a peer address. The clients are the section's addresses and the
//!   first, last, previous and next address of every network listed; each IPv4 one also as an
//!   IPv4-mapped and an IPv4-compatible IPv6 address. The peer address is a `PeerAddr`.
//! - **CSRF**: lines: the method, the path, an authority, a `Host` value, then tagged lines whose
//!   first byte says what the rest is: `o` an `Origin`, `s` a `Sec-Fetch-Site`, `t` a trusted
//!   origin, `b` a bypass path, `T` a trusted origin sent as the `Origin` too (another byte: its
//!   value mod 4 in the order `o`, `s`, `t`, `b`). How: bit 0: the
//!   target in absolute form (`http://<authority><path>`); bit 1: send the `Host` line as `Host`;
//!   bit 2: build with the builder even with nothing to configure.
//! - **Validation**: a byte of parameters, then `Content-Type` values one per line (mode 3: the
//!   schema's JSON first), an empty line, and the body (the rest, as it is). The layer: `POST
//!   /v1/items` (`Rule::json`, 256 bytes), `PATCH /v1/items/{id}` (`Rule::json`, the layer's 512
//!   bytes), `POST /v1/notes` (`text/plain` or `application/octet-stream`, 64 bytes, no schema),
//!   at most 3 errors listed; mode 3: `POST /v1/items` only, with the input's schema, 1024 bytes
//!   (room for a pointer longer than 256 bytes), at most 1 to 4 errors. How: bits 0-1: the
//!   request (those three, then `PUT /v1/items` or `POST /v1/other`, routes without a rule, by
//!   parameter bit 7); bit 2: the body in chunks of 1 to 16 bytes (parameter bits 0-3) with no
//!   size hint, else one frame of exact size; bits 3-4: `Content-Length`: none, exact, the limit
//!   -8 to +7 (parameter bits 0-3), the length minus 0 to 7 (a lie); bit 5: trailers; bit 6: the
//!   body answers `Pending` once before each frame. Parameter bit 4: empty data frames between
//!   chunks; bits 5-6: mode 3's error cap - 1.
//!
//! Asserts: no panic, and:
//!
//! - IP filter: the build succeeds exactly when every entry is valid, else fails with the first
//!   bad entry (allow list first) as `InvalidNetwork` or `HostBitsSet` naming the masked network;
//!   so does a replacement, which otherwise leaves the lists as they were; for every client
//!   address `IpFilterHandle::is_allowed` is the linear-scan oracle's answer (deny wins; with an
//!   allow list the address must be in it; an IPv4-mapped address is its IPv4 address; an IPv6
//!   network never holds an IPv4 client), before and after the replacement; a request through the
//!   layer (the first addresses of each phase) gets the inner service's `200` exactly when the
//!   oracle allows it, else a `403 ip-not-allowed` that does not echo the address and carries
//!   `IpNotAllowed::Denied` or `NotAllowed` with the canonical address; without a peer address,
//!   `Unknown` unless `allow_unknown`.
//! - CSRF: a trusted origin a browser could not send (the WHATWG URL parser says so; a `*`, a
//!   path, userinfo) and a bypass path that is not `/` + visible ASCII without `?`, `#`, `{`,
//!   `}` or a `*` other than a final `/*` (after an optional method token and one space) are a
//!   `ConfigError` naming that entry; an origin exactly as a browser serializes it and a bypass
//!   path of plain segments (for one method or all) build. The answer is `200` (the
//!   inner service ran) or `403 cross-origin-request-refused` with the `CrossOriginRefused`
//!   reason the oracle gives: Go 1.25's algorithm as the docs write it (safe methods pass;
//!   several `Origin`s are refused unless bypassed; `Sec-Fetch-Site` `same-origin` or `none`
//!   passes, any other value or several refused unless trusted or bypassed; without it no
//!   `Origin` passes, an `Origin` whose host\[:port\] is the target's authority or else `Host`
//!   passes, letters' case aside and its scheme's default port written or not on either side,
//!   and any other is refused unless trusted or bypassed).
//! - Validation: a schema from the input builds exactly when `jsonschema` (draft 2020-12 unless
//!   `$schema` says) compiles it, else `InvalidSchema` naming `POST /v1/items`. The answer is
//!   the inner service's `200` with the body and trailers byte for byte, or `415
//!   unsupported-media-type` (with `Accept-Post` / `Accept-Patch` and `accepted_media_types`),
//!   `413 payload-too-large` (the body unread when `Content-Length` is over the limit, never read
//!   past the chunk that crosses it), `400 invalid-json`, or `422 validation-failed` with an
//!   `errors` list of min(total, cap) `{pointer, message}`s and the total in `detail`; each
//!   pointer at most 256 bytes and into the body, each message at most 300 characters, quoting at
//!   most 5 property names and none whole past 64 characters, never repeating an offending
//!   string. Exactly as the oracle says: one `Content-Type` that RFC 9110's grammar reads as an
//!   accepted media type (for JSON no charset but UTF-8; two charsets are malformed, RFC 6838),
//!   then the size, then `serde_json` with no object holding a key twice (I-JSON), then
//!   `jsonschema`'s own verdict.
//!
//! Where the docs are silent the oracle follows the code, and says so: an IP prefix is 1 to 3
//! digits (leading zeros allowed); an IPv4-mapped network with a prefix under 96 is an IPv6
//! network (so always has bits set past it); an empty `Origin` or `Sec-Fetch-Site` is no header;
//! a trusted origin is matched letters' case aside, with or without its default port; an
//! `Origin` (or `Host`) past ASCII is compared byte for byte; the oracle leaves a request
//! undecided only when an `Origin` that no browser sends (another scheme, a path, userinfo,
//! `:0443`, `[0::1]`) could, read one way, be the host or a trusted origin; a `Content-Type`
//! with bytes past ASCII is malformed; parameters other than `charset` may repeat.

#![no_main]

mod common;

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use tower::{Layer, service_fn};
use tower_shield::csrf::{
    ConfigError as CsrfConfigError, CrossOriginReason, CrossOriginRefused, CsrfLayer,
};
use tower_shield::ip_filter::{
    ClientIp, ConfigError as IpConfigError, IpFilterLayer, IpNotAllowed, PeerAddr,
};
use tower_shield::validate::{
    ConfigError as ValidateConfigError, MAX_MESSAGE_LEN, MAX_NAME_LEN, MAX_NAMES, MAX_POINTER_LEN,
    Rule, ValidateRequestLayer, ValidatedBody,
};

fuzz_target!(|data: &[u8]| {
    let [flags, how, rest @ ..] = data else {
        return;
    };
    match flags & 3 {
        0 => ip_filter(*how, rest),
        1 => csrf(*how, rest),
        mode => validate(mode == 3, *how, rest),
    }
});

// ---------------------------------------------------------------------------------------------
// The IP filter

/// At most this many entries per list, and client addresses in all.
const MAX_ENTRIES: usize = 32;
const MAX_CLIENTS: usize = 64;
/// Requests sent through the layer per phase; the other addresses ask the handle only.
const MAX_REQUESTS: usize = 8;

/// A network of the oracle: a masked address and its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    V4(u32, u32),
    V6(u128, u32),
}

fn mask_v4(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len).unwrap_or(0)
}

fn mask_v6(len: u32) -> u128 {
    u128::MAX.checked_shl(128 - len).unwrap_or(0)
}

impl Net {
    /// Whether the canonical address `ip` is in this network: same family, same prefix bits.
    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Net::V4(addr, len), IpAddr::V4(ip)) => u32::from(ip) & mask_v4(len) == addr,
            (Net::V6(addr, len), IpAddr::V6(ip)) => u128::from(ip) & mask_v6(len) == addr,
            _ => false,
        }
    }

    /// Its first and last address, and the addresses just outside it.
    fn edges(self) -> [IpAddr; 4] {
        match self {
            Net::V4(addr, len) => {
                let last = addr | !mask_v4(len);
                [addr, last, addr.wrapping_sub(1), last.wrapping_add(1)]
                    .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            }
            Net::V6(addr, len) => {
                let last = addr | !mask_v6(len);
                [addr, last, addr.wrapping_sub(1), last.wrapping_add(1)]
                    .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            }
        }
    }

    /// As the builder's error names it.
    fn text(self) -> String {
        match self {
            Net::V4(addr, len) => format!("{}/{len}", Ipv4Addr::from(addr)),
            Net::V6(addr, len) => format!("{}/{len}", Ipv6Addr::from(addr)),
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d` (not `::a.b.c.d`, an IPv6 address).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.segments()[..6] == [0, 0, 0, 0, 0, 0xffff] => {
            IpAddr::V4(Ipv4Addr::from(u128::from(v6) as u32))
        }
        ip => ip,
    }
}

/// An entry as the docs define it: an address or `address/prefix`, whitespace around ignored;
/// a prefix no longer than the address; no bits set past it; an IPv4-mapped network of prefix
/// 96 or more is the IPv4 network. The error is `Err(None)` for an invalid entry, and
/// `Err(Some(masked))` for one with bits past its prefix.
fn parse_net(entry: &str) -> Result<Net, Option<Net>> {
    let text = entry.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| None)?;
    // The prefix length: 1 to 3 digits without a leading zero (`/0` itself is fine), as the
    // docs say and Go's `netip.ParsePrefix` reads it.
    let len = match prefix {
        None => None,
        Some(p)
            if (1..=3).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0')) =>
        {
            Some(p.parse::<u32>().map_err(|_| None)?)
        }
        Some(_) => return Err(None),
    };
    let (net, exact) = match addr {
        IpAddr::V4(v4) => {
            let len = len.unwrap_or(32);
            if len > 32 {
                return Err(None);
            }
            v4_net(u32::from(v4), len)
        }
        IpAddr::V6(v6) => {
            let len = len.unwrap_or(128);
            if len > 128 {
                return Err(None);
            }
            match canonical(IpAddr::V6(v6)) {
                IpAddr::V4(v4) if len >= 96 => v4_net(u32::from(v4), len - 96),
                _ => v6_net(u128::from(v6), len),
            }
        }
    };
    if exact { Ok(net) } else { Err(Some(net)) }
}

/// `addr/len` masked, and whether no bits were set past the prefix.
fn v4_net(addr: u32, len: u32) -> (Net, bool) {
    let masked = addr & mask_v4(len);
    (Net::V4(masked, len), masked == addr)
}

fn v6_net(addr: u128, len: u32) -> (Net, bool) {
    let masked = addr & mask_v6(len);
    (Net::V6(masked, len), masked == addr)
}

/// A list as the builder and the handle must take it: its networks, or the error of its first
/// bad entry.
fn parse_list(entries: &[String]) -> Result<Vec<Net>, IpConfigError> {
    entries
        .iter()
        .map(|entry| {
            let value = entry.trim().to_owned();
            parse_net(entry).map_err(|bad| match bad {
                None => IpConfigError::InvalidNetwork { value },
                Some(net) => IpConfigError::HostBitsSet {
                    value,
                    network: net.text(),
                },
            })
        })
        .collect()
}

/// The lists the oracle holds.
#[derive(Debug)]
struct Lists {
    allow: Option<Vec<Net>>,
    deny: Vec<Net>,
}

impl Lists {
    /// The decision on `ip` by a linear scan: deny wins, then the allow list if there is one.
    fn decide(&self, ip: IpAddr) -> Result<(), IpNotAllowed> {
        let ip = canonical(ip);
        if self.deny.iter().any(|n| n.contains(ip)) {
            return Err(IpNotAllowed::Denied(ip));
        }
        match &self.allow {
            Some(allow) if !allow.iter().any(|n| n.contains(ip)) => {
                Err(IpNotAllowed::NotAllowed(ip))
            }
            _ => Ok(()),
        }
    }
}

/// Sends a request from `peer` (none: no peer address); the inner service's `200`, or the
/// refusal in the `403`'s extensions.
fn send_ip(layer: &IpFilterLayer, peer: Option<IpAddr>) -> Result<(), IpNotAllowed> {
    let mut req = Request::get("/admin").body(()).expect("a request");
    if let Some(ip) = peer {
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(ip, 40_000)));
    }
    let (res, seen) = common::call(layer, req, &[]);
    match res.status() {
        StatusCode::OK => {
            assert!(seen.is_some(), "the inner service answers 200");
            Ok(())
        }
        StatusCode::FORBIDDEN => {
            assert!(seen.is_none(), "a refused request reaches nothing");
            assert_eq!(common::problem_slug(&res), "ip-not-allowed");
            let refusal = *res
                .extensions()
                .get::<IpNotAllowed>()
                .expect("the refusal is in the response's extensions");
            let body = String::from_utf8_lossy(res.body());
            for shown in [peer, refusal.ip()].into_iter().flatten() {
                let text = shown.to_string();
                assert!(
                    text.len() < 7 || !body.contains(&text),
                    "the refusal echoes the address {text}: {body}"
                );
            }
            Err(refusal)
        }
        status => panic!("unexpected status {status}"),
    }
}

/// The client addresses of a run: the input's, then the edges of every network listed; each
/// IPv4 one also IPv4-mapped and IPv4-compatible.
fn client_addresses(section: &[&[u8]], lists: &[&[String]]) -> Vec<IpAddr> {
    let mut base = Vec::new();
    for line in section {
        let text = String::from_utf8_lossy(line);
        if let Ok(ip) = text.trim().parse::<IpAddr>() {
            base.push(ip);
        } else if let Some(bytes) = line.first_chunk::<16>() {
            base.push(IpAddr::V6(Ipv6Addr::from(*bytes)));
        } else if let Some(bytes) = line.first_chunk::<4>() {
            base.push(IpAddr::V4(Ipv4Addr::from(*bytes)));
        }
    }
    for list in lists {
        for net in list.iter().filter_map(|e| parse_net(e).ok()) {
            base.extend(net.edges());
        }
    }
    let mut all = Vec::new();
    for ip in base {
        all.push(ip);
        if let IpAddr::V4(v4) = ip {
            all.push(IpAddr::V6(v4.to_ipv6_mapped()));
            all.push(IpAddr::V6(v4.to_ipv6_compatible()));
        }
        if all.len() >= MAX_CLIENTS {
            break;
        }
    }
    all.truncate(MAX_CLIENTS);
    all
}

fn ip_filter(how: u8, rest: &[u8]) {
    let lines = common::fields(rest);
    let mut sections = lines.split(|line| *line == b"-");
    let mut section = || -> Vec<String> {
        sections
            .next()
            .unwrap_or_default()
            .iter()
            .take(MAX_ENTRIES)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    };
    let (allow, deny, replacement) = (section(), section(), section());
    let clients: Vec<&[u8]> = sections
        .next()
        .unwrap_or_default()
        .iter()
        .copied()
        .take(MAX_CLIENTS)
        .collect();
    let with_allow = how & 1 != 0;
    let allow_unknown = how & 2 != 0;

    let mut builder = IpFilterLayer::builder()
        .deny(deny.clone())
        .allow_unknown(allow_unknown);
    if with_allow {
        builder = builder.allow(allow.clone());
    }
    if how & 32 != 0 {
        let grouping = ClientIp::builder()
            .ipv4_prefix(24)
            .ipv6_prefix(48)
            .build()
            .expect("valid prefixes");
        builder = builder.client_ip(grouping);
    }
    // Allow list first, as documented.
    let expected = (|| {
        let allow = if with_allow {
            Some(parse_list(&allow)?)
        } else {
            None
        };
        Ok::<_, IpConfigError>(Lists {
            allow,
            deny: parse_list(&deny)?,
        })
    })();
    let (layer, mut lists) = match (builder.build(), expected) {
        (Ok(layer), Ok(lists)) => (layer, lists),
        (Err(got), Err(want)) => {
            assert_eq!(got, want, "the build error names the first bad entry");
            return;
        }
        (got, want) => panic!(
            "allow {allow:?} deny {deny:?}: the layer's build is {got:?}, the oracle's {want:?}"
        ),
    };
    let handle = layer.handle();
    let addresses = client_addresses(&clients, &[&allow, &deny, &replacement]);

    let check = |lists: &Lists, phase: &str| {
        for (i, &ip) in addresses.iter().enumerate() {
            let want = lists.decide(ip);
            assert_eq!(
                handle.is_allowed(ip),
                want.is_ok(),
                "{phase}: is_allowed({ip}) with {lists:?}"
            );
            if i < MAX_REQUESTS {
                assert_eq!(
                    send_ip(&layer, Some(ip)),
                    want,
                    "{phase}: a request from {ip} with {lists:?}"
                );
            }
        }
    };
    check(&lists, "built");
    if how & 64 != 0 {
        let want = if allow_unknown {
            Ok(())
        } else {
            Err(IpNotAllowed::Unknown)
        };
        assert_eq!(
            send_ip(&layer, None),
            want,
            "a request without a peer address"
        );
    }

    if how & 4 != 0 {
        let to_allow = how & 8 != 0;
        let got = if to_allow {
            handle.replace_allow(replacement.clone())
        } else {
            handle.replace_deny(replacement.clone())
        };
        match (got, parse_list(&replacement)) {
            (Ok(()), Ok(nets)) if to_allow => lists.allow = Some(nets),
            (Ok(()), Ok(nets)) => lists.deny = nets,
            // A refused replacement leaves the lists as they were.
            (Err(got), Err(want)) => assert_eq!(got, want, "the replacement's error"),
            (got, want) => {
                panic!("replacement {replacement:?}: the handle says {got:?}, the oracle {want:?}")
            }
        }
        if how & 16 != 0 {
            handle.remove_allow();
            lists.allow = None;
        }
        check(&lists, "replaced");
    }
}

// ---------------------------------------------------------------------------------------------
// CSRF

/// At most this many tagged lines.
const MAX_TAGGED: usize = 16;

/// Whether `entry` is of http or https (letters' case aside).
fn is_http(entry: &str) -> bool {
    entry.split_once("://").is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    })
}

/// The default port of `scheme` (lowercase) as origins drop it: http and ws 80, https and
/// wss 443, none for any other.
fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    }
}

/// A trusted origin of another scheme than http and https (`capacitor://localhost`), in the
/// form the docs say it is kept: `scheme://host[:port]` lowercased, the scheme an RFC 3986
/// scheme, the host DNS labels of letters, digits and `-` (1 to 63 each), the port 1 to 65535
/// without leading zeros (dropped when it is ws's or wss's default). `None` for anything else,
/// on which the docs do not rule here.
fn custom_origin(entry: &str) -> Option<String> {
    let lower = entry.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !scheme_ok || scheme == "http" || scheme == "https" {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let labels_ok = host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && !p.starts_with('0')
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    if !labels_ok || !port_ok {
        return None;
    }
    match port {
        Some(p) if default_port(scheme) == Some(p) => Some(format!("{scheme}://{host}")),
        _ => Some(lower),
    }
}

/// Whether a trusted origin must be refused: a pattern; of http or https, not
/// `scheme://host[:port]` that a browser can send (an `xn--` label may fail the URL parser's
/// Unicode rules, which the crate does not carry: left to the crate); of another scheme (kept
/// as written, as Go keeps it), no `scheme://` and a host, or a path, query, fragment or
/// userinfo.
fn trusted_must_be_refused(entry: &str) -> bool {
    let text = entry.trim();
    if !is_http(text) {
        return entry.contains('*')
            || text
                .split_once("://")
                .is_none_or(|(_, rest)| rest.is_empty() || rest.contains(['/', '?', '#', '@', '\\']));
    }
    entry.contains('*')
        || text
            .split_once("://")
            .is_none_or(|(_, rest)| rest.contains(['/', '?', '#', '@', '\\']))
        || (common::browser_origin(text).is_none() && !text.to_ascii_lowercase().contains("xn--"))
}

/// The characters of a plain path segment (RFC 3986 `pchar` without `%`).
fn plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()+,;=:@".contains(&b)
}

/// A bypass pattern's method (when it starts with one: a token, one space, then `/`) and its
/// path; `None` for a pattern neither `/…` nor `METHOD /…`.
fn bypass_method(pattern: &str) -> Option<(Option<&str>, &str)> {
    if pattern.starts_with('/') {
        return Some((None, pattern));
    }
    let (method, path) = pattern.split_once(' ')?;
    (!method.is_empty() && method.bytes().all(tchar) && path.starts_with('/'))
        .then_some((Some(method), path))
}

/// A bypass path that must build: `/`, plain segments, no `.` or `..`, maybe a final `/*`
/// after a prefix (after an optional method).
fn bypass_must_be_accepted(pattern: &str) -> bool {
    let Some((_, pattern)) = bypass_method(pattern) else {
        return false;
    };
    let (fixed, prefix) = match pattern.strip_suffix("/*") {
        Some(fixed) => (fixed, true),
        None => (pattern, false),
    };
    pattern.starts_with('/')
        && !(prefix && fixed.is_empty())
        && fixed.bytes().all(|b| b == b'/' || plain_path_byte(b))
        && !fixed.split('/').any(|s| s == "." || s == "..")
}

/// A bypass path that must be refused: not absolute (after an optional method), not visible
/// ASCII, with a query or a fragment, a `{` or `}` (Go's wildcards), or a `*` that is not a
/// final `/*`.
fn bypass_must_be_refused(pattern: &str) -> bool {
    let Some((_, pattern)) = bypass_method(pattern) else {
        return true;
    };
    let fixed = pattern.strip_suffix("/*").unwrap_or(pattern);
    !pattern.bytes().all(|b| b.is_ascii_graphic())
        || pattern.contains(['?', '#', '{', '}'])
        || fixed.contains('*')
}

/// A request path a server or proxy could normalize into another, which is never bypassed:
/// a `.` or `..` segment (plain or percent-encoded, or followed by `;` path parameters, which
/// servlet-style servers drop), an encoded `/` or `\`, a backslash.
fn ambiguous(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains('\\')
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower
            .split('/')
            .map(|segment| {
                segment
                    .split(';')
                    .next()
                    .unwrap_or(segment)
                    .replace("%2e", ".")
            })
            .any(|segment| segment == "." || segment == "..")
}

/// The configuration of a built layer, as the oracle reads it.
struct CsrfConfig {
    /// The trusted origins as a browser sends them; `None` when one of them has no form the URL
    /// parser gives (an `xn--` label it refuses).
    trusted: Option<Vec<String>>,
    /// Each with the method it is for (`None`: every method).
    exact: Vec<(Option<String>, String)>,
    prefixes: Vec<(Option<String>, String)>,
}

impl CsrfConfig {
    fn new(trusted: &[String], bypass: &[String]) -> Self {
        let trusted = trusted
            .iter()
            .map(|t| common::browser_origin(t.trim()).or_else(|| custom_origin(t.trim())))
            .collect::<Option<Vec<_>>>();
        let (mut exact, mut prefixes) = (Vec::new(), Vec::new());
        for pattern in bypass {
            let Some((method, pattern)) = bypass_method(pattern) else {
                continue;
            };
            let method = method.map(str::to_owned);
            match pattern.strip_suffix('*') {
                Some(prefix) => prefixes.push((method, prefix.to_owned())),
                None => exact.push((method, pattern.to_owned())),
            }
        }
        Self {
            trusted,
            exact,
            prefixes,
        }
    }

    /// Whether a `method` request to `path` is bypassed: exactly a bypass path, or under a
    /// `/prefix/*`, for every method or for this one (case-sensitive), and not ambiguous.
    fn bypassed(&self, method: &Method, path: &str) -> bool {
        let for_method = |m: &Option<String>| m.as_deref().is_none_or(|m| m == method.as_str());
        !ambiguous(path)
            && (self.exact.iter().any(|(m, p)| p == path && for_method(m))
                || self
                    .prefixes
                    .iter()
                    .any(|(m, p)| path.starts_with(p.as_str()) && for_method(m)))
    }

    /// Whether `origin` is trusted: one of the trusted origins as a browser serializes it,
    /// letters' case aside, its scheme's default port written or not. `None`: undecided (an
    /// origin in a form no browser sends, which the docs do not rule on).
    fn trusts(&self, origin: Option<&HeaderValue>) -> Option<bool> {
        let Some(origin) = origin else {
            return Some(false);
        };
        let Some(trusted) = &self.trusted else {
            return None;
        };
        if trusted.is_empty() {
            return Some(false);
        }
        // An origin past ASCII cannot be any of them.
        let Ok(origin) = std::str::from_utf8(origin.as_bytes()) else {
            return Some(false);
        };
        for t in trusted {
            let scheme = t.split_once("://").map_or("", |(s, _)| s);
            let has_port = t
                .rsplit_once(':')
                .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            let with_default = |port: &str| origin.eq_ignore_ascii_case(&format!("{t}:{port}"));
            if origin.eq_ignore_ascii_case(t)
                || (!has_port && default_port(scheme).is_some_and(with_default))
            {
                return Some(true);
            }
        }
        // A browser's own serialization (its letters aside) that is none of them, not http(s),
        // or no reading of which can hold one of their hosts.
        let lower = origin.to_ascii_lowercase();
        if common::browser_origin(&lower).as_deref() == Some(lower.as_str())
            || (!origin.split_once("://").is_some_and(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
            }) && trusted.iter().all(|t| is_http(t)))
            || !trusted.iter().any(|t| {
                url::Url::parse(t)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| lower.contains(h)))
                    .unwrap_or(true)
            })
        {
            return Some(false);
        }
        None
    }
}

/// Whether `origin`'s host\[:port\] is the request's `host`: `http://` or `https://` and then
/// exactly that, letters' case aside, the scheme's default port written or not on either
/// side. `None`: undecided, for an `Origin` that is no serialized
/// origin (another scheme, a path, userinfo) and that one reading makes the host: the rest as
/// written (the crate's) or the URL's authority (Go's `url.Parse`).
fn origin_is_host(origin: &[u8], host: Option<&[u8]>) -> Option<bool> {
    let Some(host) = host else {
        return Some(false);
    };
    let Some(at) = origin.windows(3).position(|w| w == b"://") else {
        // Not even `scheme://`: no origin's host.
        return Some(false);
    };
    let (scheme, rest) = (&origin[..at], &origin[at + 3..]);
    let http = scheme == b"http" || scheme == b"https";
    if http && rest.is_empty() {
        return Some(false);
    }
    if http && !rest.iter().any(|b| b"/?#@\\".contains(b)) {
        // The scheme's default port counts as written or not on either side.
        let port: &[u8] = if scheme == b"https" { b":443" } else { b":80" };
        let with_port = |short: &[u8], long: &[u8]| {
            let mut written = short.to_ascii_lowercase();
            written.extend_from_slice(port);
            written.eq_ignore_ascii_case(long)
        };
        return Some(
            rest.eq_ignore_ascii_case(host) || with_port(rest, host) || with_port(host, rest),
        );
    }
    let end = rest
        .iter()
        .position(|b| b"/?#\\".contains(b))
        .unwrap_or(rest.len());
    let authority = rest[..end]
        .rsplit(|&b| b == b'@')
        .next()
        .unwrap_or_default();
    if rest.eq_ignore_ascii_case(host) || authority.eq_ignore_ascii_case(host) {
        None
    } else {
        Some(false)
    }
}

/// The oracle's answer: `Ok` to pass, the reason to refuse; `None` when it cannot tell.
fn csrf_oracle(
    config: &CsrfConfig,
    method: &Method,
    path: &str,
    host: Option<&[u8]>,
    origins: &[HeaderValue],
    sites: &[HeaderValue],
) -> Option<Result<(), CrossOriginReason>> {
    if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
        return Some(Ok(()));
    }
    let bypassed = config.bypassed(method, path);
    let exempt = |origin: Option<&HeaderValue>, reason| {
        if bypassed {
            return Some(Ok(()));
        }
        config
            .trusts(origin)
            .map(|trusted| if trusted { Ok(()) } else { Err(reason) })
    };
    if origins.len() > 1 {
        return Some(if bypassed {
            Ok(())
        } else {
            Err(CrossOriginReason::SeveralOrigins)
        });
    }
    let origin = origins.first().filter(|o| !o.is_empty());
    match sites {
        [] => {}
        [one] if one.is_empty() => {}
        [one] if one == "same-origin" || one == "none" => return Some(Ok(())),
        _ => return exempt(origin, CrossOriginReason::SecFetchSite),
    }
    let Some(origin) = origin else {
        return Some(Ok(()));
    };
    match origin_is_host(origin.as_bytes(), host) {
        Some(true) => Some(Ok(())),
        Some(false) => exempt(Some(origin), CrossOriginReason::OriginNotHost),
        None => match exempt(Some(origin), CrossOriginReason::OriginNotHost) {
            Some(Ok(())) => Some(Ok(())),
            _ => None,
        },
    }
}

fn csrf(how: u8, rest: &[u8]) {
    let lines = common::fields(rest);
    let [method, path, authority, host, tagged @ ..] = &lines[..] else {
        return;
    };
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let (mut origins, mut sites, mut trusted, mut bypass) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in tagged.iter().take(MAX_TAGGED) {
        let Some((&tag, value)) = line.split_first() else {
            continue;
        };
        let kind = match tag {
            b'o' => 0,
            b's' => 1,
            b't' => 2,
            b'b' => 3,
            b'T' => {
                if let Ok(origin) = HeaderValue::from_bytes(value) {
                    origins.push(origin);
                }
                2
            }
            other => other % 4,
        };
        match kind {
            0 | 1 => {
                let Ok(value) = HeaderValue::from_bytes(value) else {
                    continue;
                };
                if kind == 0 {
                    origins.push(value);
                } else {
                    sites.push(value);
                }
            }
            2 => trusted.push(String::from_utf8_lossy(value).into_owned()),
            _ => bypass.push(String::from_utf8_lossy(value).into_owned()),
        }
    }

    static PLAIN: OnceLock<CsrfLayer> = OnceLock::new();
    let built;
    let layer = if trusted.is_empty() && bypass.is_empty() && how & 4 == 0 {
        PLAIN.get_or_init(CsrfLayer::new)
    } else {
        let result = CsrfLayer::builder()
            .trusted_origins(trusted.clone())
            .bypass_paths(bypass.clone())
            .build();
        match result {
            Ok(layer) => {
                for t in &trusted {
                    assert!(
                        !trusted_must_be_refused(t),
                        "the trusted origin {t:?} was accepted"
                    );
                }
                for b in &bypass {
                    assert!(
                        !bypass_must_be_refused(b),
                        "the bypass path {b:?} was accepted"
                    );
                }
                built = layer;
                &built
            }
            Err(CsrfConfigError::InvalidTrustedOrigin { origin, .. }) => {
                assert!(trusted.contains(&origin), "the error names {origin:?}");
                assert!(
                    origin != origin.trim() || !common::is_plain_browser_origin(&origin),
                    "the trusted origin {origin:?} is a browser's own, but was refused"
                );
                assert!(
                    origin.contains('*') || custom_origin(origin.trim()).is_none(),
                    "the trusted origin {origin:?} of an app's own scheme was refused"
                );
                return;
            }
            Err(CsrfConfigError::InvalidBypassPath { pattern, .. }) => {
                assert!(bypass.contains(&pattern), "the error names {pattern:?}");
                assert!(
                    !bypass_must_be_accepted(&pattern),
                    "the bypass path {pattern:?} was refused"
                );
                return;
            }
            Err(other) => panic!("an unknown configuration error: {other:?}"),
        }
    };
    let config = CsrfConfig::new(&trusted, &bypass);

    let mut target = Vec::new();
    if how & 1 != 0 {
        target.extend_from_slice(b"http://");
        target.extend_from_slice(authority);
    }
    if !path.starts_with(b"/") {
        target.push(b'/');
    }
    target.extend_from_slice(path);
    let Ok(uri) = Uri::try_from(&target[..]) else {
        return;
    };
    let mut req = Request::builder().method(method.clone()).uri(uri);
    let host_header = if how & 2 != 0 {
        HeaderValue::from_bytes(host).ok()
    } else {
        None
    };
    if let Some(host) = &host_header {
        req = req.header(HOST, host.clone());
    }
    for origin in &origins {
        req = req.header(ORIGIN, origin.clone());
    }
    for site in &sites {
        req = req.header("sec-fetch-site", site.clone());
    }
    let Ok(req) = req.body(()) else {
        return;
    };
    // The request's own host: the target's authority, else `Host`.
    let own_host: Option<Vec<u8>> = match req.uri().authority() {
        Some(authority) => Some(authority.as_str().as_bytes().to_vec()),
        None => host_header.as_ref().map(|h| h.as_bytes().to_vec()),
    };
    let path = req.uri().path().to_owned();
    let want = csrf_oracle(
        &config,
        &method,
        &path,
        own_host.as_deref(),
        &origins,
        &sites,
    );

    let (res, seen) = common::call(layer, req, &[]);
    let got = match res.status() {
        StatusCode::OK => {
            assert!(seen.is_some(), "the inner service answers 200");
            Ok(())
        }
        StatusCode::FORBIDDEN => {
            assert!(seen.is_none(), "a refused request reaches nothing");
            assert_eq!(common::problem_slug(&res), "cross-origin-request-refused");
            Err(res
                .extensions()
                .get::<CrossOriginRefused>()
                .expect("the refusal is in the response's extensions")
                .reason())
        }
        status => panic!("unexpected status {status}"),
    };
    if let Some(want) = want {
        assert_eq!(
            got,
            want,
            "{method} {path} host {:?} origins {origins:?} sec-fetch-site {sites:?} \
             trusted {trusted:?} bypass {bypass:?}",
            own_host.as_deref().map(String::from_utf8_lossy)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Request validation

/// The fixed schema.
const ITEM_SCHEMA: &str = r#"{
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 16},
        "count": {"type": "integer", "minimum": 0, "maximum": 100},
        "tags": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-z]+$"},
            "maxItems": 4,
            "uniqueItems": true
        },
        "kind": {"enum": ["a", "b", "c"]}
    },
    "required": ["name"],
    "additionalProperties": false
}"#;
const ITEMS_LIMIT: u64 = 256;
const LAYER_LIMIT: u64 = 512;
const NOTES_LIMIT: u64 = 64;
/// Mode 3's limit: room for a pointer longer than the 256 bytes a violation shows.
const INPUT_LIMIT: u64 = 1024;
const FIXED_MAX_ERRORS: usize = 3;

/// A route with a rule, as the oracle knows it.
struct Route {
    method: Method,
    path: &'static str,
    accepted: &'static [&'static str],
    limit: u64,
    /// Whether the body is JSON checked against a schema.
    json: bool,
}

/// The fixed layer's routes, then mode 3's.
fn routes() -> &'static [Route; 4] {
    static ROUTES: OnceLock<[Route; 4]> = OnceLock::new();
    ROUTES.get_or_init(|| {
        [
            Route {
                method: Method::POST,
                path: "/v1/items",
                accepted: &["application/json"],
                limit: ITEMS_LIMIT,
                json: true,
            },
            Route {
                method: Method::PATCH,
                path: "/v1/items/42",
                accepted: &["application/json"],
                limit: LAYER_LIMIT,
                json: true,
            },
            Route {
                method: Method::POST,
                path: "/v1/notes",
                accepted: &["text/plain", "application/octet-stream"],
                limit: NOTES_LIMIT,
                json: false,
            },
            Route {
                method: Method::POST,
                path: "/v1/items",
                accepted: &["application/json"],
                limit: INPUT_LIMIT,
                json: true,
            },
        ]
    })
}

/// The schema's own validator: draft 2020-12 unless its `$schema` says otherwise, formats
/// annotated only (the drafts' default).
fn oracle_validator(schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut options = jsonschema::options().should_validate_formats(false);
    if schema.get("$schema").is_none() {
        options = options.with_draft(jsonschema::Draft::Draft202012);
    }
    options.build(schema).map_err(|e| e.to_string())
}

fn fixed() -> &'static (ValidateRequestLayer, jsonschema::Validator) {
    static FIXED: OnceLock<(ValidateRequestLayer, jsonschema::Validator)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let schema: Value = serde_json::from_str(ITEM_SCHEMA).expect("the schema is JSON");
        let layer = ValidateRequestLayer::builder()
            .route(
                Method::POST,
                "/v1/items",
                Rule::json(schema.clone()).body_limit(ITEMS_LIMIT),
            )
            .route(Method::PATCH, "/v1/items/{id}", Rule::json(schema.clone()))
            .route(
                Method::POST,
                "/v1/notes",
                Rule::new()
                    .content_type("text/plain")
                    .content_type("application/octet-stream")
                    .body_limit(NOTES_LIMIT),
            )
            .body_limit(LAYER_LIMIT)
            .max_errors(FIXED_MAX_ERRORS)
            .build()
            .expect("the fixed layer builds");
        let validator = oracle_validator(&schema).expect("the schema compiles");
        (layer, validator)
    })
}

/// A request body of given frames: it counts the data bytes it hands out, may answer `Pending`
/// once before each frame (waking its task at once), and gives a size hint only when asked.
struct TestBody {
    frames: VecDeque<Frame<Bytes>>,
    hint: SizeHint,
    stall: bool,
    stalled: bool,
    read: Arc<AtomicUsize>,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.stall && !this.stalled && !this.frames.is_empty() {
            this.stalled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.stalled = false;
        let frame = this.frames.pop_front();
        if let Some(data) = frame.as_ref().and_then(Frame::data_ref) {
            this.read.fetch_add(data.len(), Ordering::Relaxed);
        }
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

thread_local! {
    /// The body and trailers the inner service read from the last request it got.
    static SEEN_BODY: RefCell<Option<(Bytes, Option<HeaderMap>)>> = const { RefCell::new(None) };
}

/// The validation layer's answer, its body collected, and what the inner service read.
fn send_validate(
    layer: &ValidateRequestLayer,
    req: Request<TestBody>,
) -> (Response<Bytes>, Option<(Bytes, Option<HeaderMap>)>) {
    SEEN_BODY.with(|s| s.borrow_mut().take());
    let svc = layer.layer(service_fn(
        |req: Request<ValidatedBody<TestBody>>| async move {
            let collected = req.into_body().collect().await?;
            let trailers = collected.trailers().cloned();
            SEEN_BODY.with(|s| *s.borrow_mut() = Some((collected.to_bytes(), trailers)));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
        },
    ));
    let res = common::respond(svc, req);
    (res, SEEN_BODY.with(|s| s.borrow_mut().take()))
}

/// A byte of RFC 9110's `tchar`.
fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `Content-Type` by RFC 9110's grammar (section 8.3: `type "/" subtype *( OWS ";" OWS [ name
/// "=" ( token / quoted-string ) ] )`, OWS around the field value): the media type, lowercase,
/// and the values of its `charset` parameters. `None` when malformed (bytes past ASCII count as
/// malformed: the docs do not say).
fn parse_content_type(value: &[u8]) -> Option<(String, Vec<String>)> {
    if !value.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let b = text.as_bytes();
    let mut i = 0;
    let token = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && tchar(b[*i]) {
            *i += 1;
        }
        &text[start..*i]
    };
    let ows = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let ty = token(&mut i);
    if ty.is_empty() || b.get(i) != Some(&b'/') {
        return None;
    }
    i += 1;
    let subtype = token(&mut i);
    if subtype.is_empty() {
        return None;
    }
    let mut charsets = Vec::new();
    loop {
        ows(&mut i);
        if i == b.len() {
            break;
        }
        if b[i] != b';' {
            return None;
        }
        i += 1;
        ows(&mut i);
        if i == b.len() || b[i] == b';' {
            continue;
        }
        let name = token(&mut i);
        if name.is_empty() || b.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut value = String::new();
            loop {
                let c = *b.get(i)?;
                i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let escaped = *b.get(i)?;
                        i += 1;
                        value.push(char::from(escaped));
                    }
                    c => value.push(char::from(c)),
                }
            }
            value
        } else {
            let token = token(&mut i);
            if token.is_empty() {
                return None;
            }
            token.to_owned()
        };
        if name.eq_ignore_ascii_case("charset") {
            charsets.push(value);
        }
    }
    Some((format!("{ty}/{subtype}").to_ascii_lowercase(), charsets))
}

/// Whether JSON `text` (which `serde_json` parses) has an object with a key twice, at any
/// depth, the keys compared as decoded: I-JSON's rule, which the layer enforces.
fn has_repeated_key(text: &[u8]) -> bool {
    struct Repeats;

    impl<'de> DeserializeSeed<'de> for Repeats {
        type Value = bool;

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Repeats {
        type Value = bool;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }

        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut repeated = false;
            while let Some(inner) = seq.next_element_seed(Repeats)? {
                repeated |= inner;
            }
            Ok(repeated)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let (mut keys, mut repeated) = (HashSet::new(), false);
            while let Some(key) = map.next_key::<String>()? {
                repeated |= !keys.insert(key);
                repeated |= map.next_value_seed(Repeats)?;
            }
            Ok(repeated)
        }
    }

    Repeats
        .deserialize(&mut serde_json::Deserializer::from_slice(text))
        .expect("serde_json parsed it")
}

/// What the layer must answer.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// The inner service, with the body as sent.
    Pass,
    /// A refusal: the status and the problem's slug.
    Refused(StatusCode, &'static str),
    /// `422` with this many violations in all.
    Invalid(usize),
}

fn validate_oracle(
    route: Option<&Route>,
    content_types: &[HeaderValue],
    declared: Option<u64>,
    body: &[u8],
    schema: &jsonschema::Validator,
) -> Want {
    let Some(route) = route else {
        return Want::Pass;
    };
    let unsupported = Want::Refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let [content_type] = content_types else {
        return unsupported;
    };
    let Some((essence, charsets)) = parse_content_type(content_type.as_bytes()) else {
        return unsupported;
    };
    if !route.accepted.contains(&essence.as_str()) {
        return unsupported;
    }
    // Two charsets: RFC 6838 (section 4.3) lets a parameter appear once.
    if charsets.len() > 1
        || (route.json
            && charsets
                .first()
                .is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")))
    {
        return unsupported;
    }
    if declared.is_some_and(|d| d > route.limit) || body.len() as u64 > route.limit {
        return Want::Refused(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    }
    if !route.json {
        return Want::Pass;
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Want::Refused(StatusCode::BAD_REQUEST, "invalid-json");
    };
    if has_repeated_key(body) {
        return Want::Refused(StatusCode::BAD_REQUEST, "invalid-json");
    }
    if schema.is_valid(&value) {
        Want::Pass
    } else {
        Want::Invalid(schema.iter_errors(&value).count())
    }
}

fn validate(from_input: bool, how: u8, rest: &[u8]) {
    let [param, rest @ ..] = rest else {
        return;
    };
    let param = *param;
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (rest, &[][..]),
    };
    let mut head: Vec<&[u8]> = if head.is_empty() {
        Vec::new()
    } else {
        common::fields(head)
    };

    let built;
    let (layer, schema, max_errors, schema_text, route) = if from_input {
        if head.is_empty() {
            return;
        }
        let text = head.remove(0);
        let Ok(schema) = serde_json::from_slice::<Value>(text) else {
            return;
        };
        let max_errors = 1 + usize::from(param >> 5 & 3);
        let result = ValidateRequestLayer::builder()
            .route(
                Method::POST,
                "/v1/items",
                Rule::json(schema.clone()).body_limit(INPUT_LIMIT),
            )
            .max_errors(max_errors)
            .build();
        match (result, oracle_validator(&schema)) {
            (Ok(layer), Ok(validator)) => built = (layer, validator),
            (Err(ValidateConfigError::InvalidSchema { route, .. }), Err(_)) => {
                assert_eq!(route, "POST /v1/items");
                return;
            }
            (got, want) => panic!(
                "schema {schema}: the layer's build is {got:?}, jsonschema's {:?}",
                want.map(|_| ())
            ),
        }
        let text = format!("{}{}", String::from_utf8_lossy(text), schema);
        (&built.0, &built.1, max_errors, text, Some(&routes()[3]))
    } else {
        let (layer, validator) = fixed();
        let route = routes()[..3].get(usize::from(how & 3));
        (
            layer,
            validator,
            FIXED_MAX_ERRORS,
            ITEM_SCHEMA.to_owned(),
            route,
        )
    };
    let (method, path) = match route {
        Some(route) => (route.method.clone(), route.path),
        None if param & 128 != 0 => (Method::PUT, "/v1/items"),
        None => (Method::POST, "/v1/other"),
    };
    let content_types: Vec<HeaderValue> = head
        .iter()
        .take(4)
        .filter_map(|v| HeaderValue::from_bytes(v).ok())
        .collect();

    let limit = route.map_or(LAYER_LIMIT, |r| r.limit);
    let declared = match how >> 3 & 3 {
        0 => None,
        1 => Some(body.len() as u64),
        2 => Some((limit + u64::from(param & 15)).saturating_sub(8)),
        _ => Some((body.len() as u64).saturating_sub(u64::from(param & 7))),
    };
    let streamed = how & 4 != 0;
    let chunk = 1 + usize::from(param & 15);
    let mut frames = VecDeque::new();
    if streamed {
        for piece in body.chunks(chunk) {
            frames.push_back(Frame::data(Bytes::copy_from_slice(piece)));
            if param & 16 != 0 {
                frames.push_back(Frame::data(Bytes::new()));
            }
        }
    } else if !body.is_empty() {
        frames.push_back(Frame::data(Bytes::copy_from_slice(body)));
    }
    let trailers = (how & 32 != 0).then(|| {
        let mut t = HeaderMap::new();
        t.insert("x-checksum", HeaderValue::from_static("fuzz"));
        t
    });
    if let Some(t) = &trailers {
        frames.push_back(Frame::trailers(t.clone()));
    }
    let read = Arc::new(AtomicUsize::new(0));
    let test_body = TestBody {
        frames,
        hint: if streamed {
            SizeHint::default()
        } else {
            SizeHint::with_exact(body.len() as u64)
        },
        stall: how & 64 != 0,
        stalled: false,
        read: Arc::clone(&read),
    };
    let mut req = Request::builder().method(method.clone()).uri(path);
    for ct in &content_types {
        req = req.header(CONTENT_TYPE, ct.clone());
    }
    if let Some(declared) = declared {
        req = req.header(CONTENT_LENGTH, declared);
    }
    let req = req.body(test_body).expect("a request");

    let want = validate_oracle(route, &content_types, declared, body, schema);
    let (res, seen) = send_validate(layer, req);
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!(
            "{method} {path} content-type {content_types:?} content-length {declared:?} \
             streamed {streamed}\n  -> {} {:?} {}\n  oracle: {want:?}, inner saw: {seen:?}",
            res.status(),
            res.headers(),
            String::from_utf8_lossy(res.body()),
        );
    }
    let context = || {
        format!(
            "{method} {path} content-type {content_types:?} content-length {declared:?} \
             streamed {streamed} body {:?}",
            String::from_utf8_lossy(body)
        )
    };
    let status = res.status();
    match want {
        Want::Pass => {
            assert_eq!(status, StatusCode::OK, "{}: {:?}", context(), res.body());
            let (got, got_trailers) = seen.expect("the inner service ran");
            assert_eq!(got, body, "the body is handed on unchanged: {}", context());
            assert_eq!(got_trailers, trailers, "the trailers are handed on");
            return;
        }
        Want::Refused(want_status, slug) => {
            assert_eq!(status, want_status, "{}: {:?}", context(), res.body());
            assert_eq!(common::problem_slug(&res), slug);
        }
        Want::Invalid(total) => {
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {:?}",
                context(),
                res.body()
            );
            assert_eq!(common::problem_slug(&res), "validation-failed");
            let problem: Value = serde_json::from_slice(res.body()).expect("a problem is JSON");
            let value: Value = serde_json::from_slice(body).expect("the oracle parsed it");
            let errors = problem["errors"].as_array().expect("an errors array");
            assert_eq!(errors.len(), total.min(max_errors), "{}", context());
            for error in errors {
                let fields = error.as_object().expect("an error is an object");
                assert_eq!(fields.len(), 2, "pointer and message only: {error}");
                let pointer = error["pointer"].as_str().expect("a pointer");
                let message = error["message"].as_str().expect("a message");
                assert!(!message.is_empty());
                // What the client wrote is bounded.
                assert!(pointer.len() <= MAX_POINTER_LEN, "{pointer:?} is too long");
                assert!(
                    message.chars().count() <= MAX_MESSAGE_LEN,
                    "a message of {} characters: {message:?}",
                    message.chars().count()
                );
                let at = value
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{pointer:?} points into the body: {}", context()));
                // Property names it quotes: at most a few, each cut.
                if let Some(object) = at.as_object() {
                    for key in object.keys().filter(|k| !schema_text.contains(k.as_str())) {
                        assert!(
                            key.chars().count() <= MAX_NAME_LEN || !message.contains(key.as_str()),
                            "a name of {} characters quoted whole: {message:?}",
                            key.chars().count()
                        );
                    }
                    if !object.keys().any(|k| k.contains('\'')) {
                        let quoted = object
                            .keys()
                            .filter(|k| !schema_text.contains(k.as_str()))
                            .filter(|k| message.contains(&format!("'{k}'")))
                            .count();
                        assert!(quoted <= MAX_NAMES, "{quoted} names quoted: {message:?}");
                    }
                }
                // The message never repeats the offending value.
                if let Some(s) = at.as_str()
                    && s.len() >= 8
                    && s.bytes().all(|b| b.is_ascii_alphanumeric())
                    && !schema_text.contains(s)
                {
                    assert!(!message.contains(s), "{message:?} repeats {s:?}");
                }
            }
            let detail = problem["detail"].as_str().expect("a detail");
            assert!(
                detail.contains(&format!(" {total} place")),
                "the detail gives the total {total}: {detail}"
            );
        }
    }
    assert!(seen.is_none(), "a refused request reaches nothing");
    let route = route.expect("only a route with a rule refuses");
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            let problem: Value = serde_json::from_slice(res.body()).expect("a problem is JSON");
            assert_eq!(
                problem["accepted_media_types"],
                serde_json::json!(route.accepted)
            );
            let name = if method == Method::POST {
                "accept-post"
            } else {
                "accept-patch"
            };
            assert_eq!(
                common::one(res.headers(), name),
                Some(route.accepted.join(", ").as_str())
            );
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            let read = read.load(Ordering::Relaxed) as u64;
            if declared.is_some_and(|d| d > route.limit) {
                assert_eq!(read, 0, "a Content-Length over the limit is refused unread");
            }
            assert!(
                read <= route.limit + chunk as u64 || !streamed,
                "{read} bytes read past the limit of {}",
                route.limit
            );
        }
        _ => {}
    }
}
