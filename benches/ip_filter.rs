//! The cost of an `IpFilterLayer` decision with 10 and with 100,000 prefixes (the size of a
//! large blocklist feed), IPv4 and IPv6, and of the layer in a Router:
//! `cargo bench --bench ip_filter`. Target: under 100 ns per decision with 100,000 prefixes.
//!
//! Each iteration decides on the next of 4,096 pseudo-random addresses (half inside a listed
//! network), so the branch predictor and the caches do not see one address over and over.
//! In test mode (`cargo test --bench ip_filter`) every probe's decision is checked against a
//! plain scan of the prefixes first.

mod support;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_shield::ip_filter::{IpFilterHandle, IpFilterLayer};

const GROUP: &str = "ip_filter";
const PROBES: usize = 4_096;
/// In test mode (unoptimized, and checked by a scan of 100,000 prefixes) fewer probes.
const TEST_PROBES: usize = 256;
const TARGET_NS: f64 = 100.0;

/// splitmix64: a deterministic stream, the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A network as (address masked, prefix length) and written as an entry.
#[derive(Clone, Copy)]
enum Prefix {
    V4(u32, u8),
    V6(u128, u8),
}

impl Prefix {
    fn entry(self) -> String {
        match self {
            Self::V4(addr, bits) => format!("{}/{bits}", Ipv4Addr::from(addr)),
            Self::V6(addr, bits) => format!("{}/{bits}", Ipv6Addr::from(addr)),
        }
    }

    fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4(addr, bits), IpAddr::V4(ip)) => u32::from(ip) & mask4(bits) == addr,
            (Self::V6(addr, bits), IpAddr::V6(ip)) => u128::from(ip) & mask6(bits) == addr,
            _ => false,
        }
    }

    /// An address inside the network.
    fn member(self, rng: &mut Rng) -> IpAddr {
        match self {
            Self::V4(addr, bits) => {
                IpAddr::V4(Ipv4Addr::from(addr | (rng.next() as u32 & !mask4(bits))))
            }
            Self::V6(addr, bits) => {
                let host = (u128::from(rng.next()) << 64 | u128::from(rng.next())) & !mask6(bits);
                IpAddr::V6(Ipv6Addr::from(addr | host))
            }
        }
    }
}

fn mask4(bits: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0)
}

fn mask6(bits: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0)
}

/// `n` prefixes shaped like a blocklist: IPv4 mostly /24 and /32 with some /16–/23, IPv6
/// mostly /48 to /64 with some /128. Four in five are IPv4.
fn prefixes(n: usize, rng: &mut Rng) -> Vec<Prefix> {
    (0..n)
        .map(|_| {
            if rng.below(5) < 4 {
                let bits = match rng.below(10) {
                    0..=4 => 24,
                    5..=7 => 32,
                    _ => 16 + rng.below(8) as u8,
                };
                Prefix::V4(rng.next() as u32 & mask4(bits), bits)
            } else {
                let bits = match rng.below(10) {
                    0..=6 => 48 + rng.below(17) as u8,
                    7..=8 => 128,
                    _ => 32,
                };
                // Global unicast (2000::/3), as real lists hold.
                let addr =
                    (0x2_u128 << 124) | (u128::from(rng.next()) << 61) | u128::from(rng.next());
                Prefix::V6(addr & mask6(bits), bits)
            }
        })
        .collect()
}

/// Addresses of one family, half inside a listed network of that family.
fn probes(list: &[Prefix], v6: bool, n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    let members: Vec<Prefix> = list
        .iter()
        .copied()
        .filter(|p| matches!(p, Prefix::V6(..)) == v6)
        .collect();
    (0..n)
        .map(|i| {
            if i % 2 == 0 && !members.is_empty() {
                members[rng.below(members.len() as u64) as usize].member(rng)
            } else if v6 {
                IpAddr::V6(Ipv6Addr::from(
                    (0x2_u128 << 124) | (u128::from(rng.next()) << 61) | u128::from(rng.next()),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
            }
        })
        .collect()
}

struct Case {
    name: &'static str,
    handle: IpFilterHandle,
    probes: Vec<IpAddr>,
    /// The expected decision of each probe, from a scan.
    expected: Option<Vec<bool>>,
}

fn cases(check: bool) -> Vec<Case> {
    let mut rng = Rng(0x1f2e_3d4c_5b6a_7988);
    let n = if check { TEST_PROBES } else { PROBES };
    let mut cases = Vec::new();
    let scan = |deny: &[Prefix], allow: Option<&[Prefix]>, probes: &[IpAddr]| -> Vec<bool> {
        probes
            .iter()
            .map(|&ip| {
                !deny.iter().any(|p| p.contains(ip))
                    && allow.is_none_or(|allow| allow.iter().any(|p| p.contains(ip)))
            })
            .collect()
    };
    for (count, small) in [(10, true), (100_000, false)] {
        let deny = prefixes(count, &mut rng);
        let layer = IpFilterLayer::builder()
            .deny(deny.iter().map(|p| p.entry()))
            .build()
            .expect("valid prefixes");
        for v6 in [false, true] {
            let probes = probes(&deny, v6, n, &mut rng);
            let expected = check.then(|| scan(&deny, None, &probes));
            cases.push(Case {
                name: match (small, v6) {
                    (true, false) => "deny_10_v4",
                    (true, true) => "deny_10_v6",
                    (false, false) => "deny_100k_v4",
                    (false, true) => "deny_100k_v6",
                },
                handle: layer.handle(),
                probes,
                expected,
            });
        }
    }
    // Both lists of 100,000: two searches per decision.
    let deny = prefixes(100_000, &mut rng);
    let allow = prefixes(100_000, &mut rng);
    let layer = IpFilterLayer::builder()
        .deny(deny.iter().map(|p| p.entry()))
        .allow(allow.iter().map(|p| p.entry()))
        .build()
        .expect("valid prefixes");
    let mut both = probes(&allow, false, n / 2, &mut rng);
    both.extend(probes(&allow, true, n / 2, &mut rng));
    let expected = check.then(|| scan(&deny, Some(&allow), &both));
    cases.push(Case {
        name: "allow_and_deny_100k_each_mixed",
        handle: layer.handle(),
        probes: both,
        expected,
    });
    cases
}

fn from(ip: IpAddr) -> Request<Body> {
    let mut req = Request::get("/").body(Body::empty()).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
    req
}

fn routers() -> (Router, Router, IpAddr, IpAddr) {
    let routes = Router::new().route("/", get(|| async { "ok" }));
    let mut rng = Rng(7);
    let deny = prefixes(100_000, &mut rng);
    let layer = IpFilterLayer::builder()
        .deny(deny.iter().map(|p| p.entry()))
        .build()
        .expect("valid prefixes");
    // An address no /16 of the list holds, so it passes.
    let passing = (0..)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.next() as u32)))
        .find(|&ip| deny.iter().all(|p| !p.contains(ip)))
        .expect("a free address");
    let denied = deny[0].member(&mut rng);
    // `with_state(())`, as `axum::serve` serves a Router: handlers turned into routes once.
    (
        routes.clone().with_state(()),
        routes.layer(layer).with_state(()),
        passing,
        denied,
    )
}

fn bench(c: &mut Criterion) {
    let measuring = support::measuring();
    let cases = cases(!measuring);
    for case in &cases {
        if let Some(expected) = &case.expected {
            for (ip, &allowed) in case.probes.iter().zip(expected) {
                assert_eq!(case.handle.is_allowed(*ip), allowed, "{}: {ip}", case.name);
            }
            let refused = expected.iter().filter(|a| !**a).count();
            assert!(
                refused > 0 && refused < expected.len(),
                "{}: {refused}",
                case.name
            );
        }
    }
    let mut group = c.benchmark_group(GROUP);
    for case in &cases {
        let mut i = 0_usize;
        group.bench_function(case.name, |b| {
            b.iter(|| {
                i = (i + 1) % case.probes.len();
                black_box(case.handle.is_allowed(black_box(case.probes[i])))
            });
        });
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (bare, filtered, passing, denied) = routers();
    rt.block_on(async {
        let status = |router: &Router, ip| {
            let router = router.clone();
            async move { router.oneshot(from(ip)).await.expect("infallible").status() }
        };
        assert_eq!(status(&bare, passing).await, StatusCode::OK);
        assert_eq!(status(&filtered, passing).await, StatusCode::OK);
        assert_eq!(status(&filtered, denied).await, StatusCode::FORBIDDEN);
        let unknown = filtered
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(unknown.status(), StatusCode::FORBIDDEN);
    });
    for (name, router) in [("bare_router", &bare), ("router_deny_100k", &filtered)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                async move { black_box(router.oneshot(from(passing)).await.expect("infallible")) }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if support::measuring() {
        let names = [
            "deny_10_v4",
            "deny_10_v6",
            "deny_100k_v4",
            "deny_100k_v6",
            "allow_and_deny_100k_each_mixed",
        ];
        println!("\n{GROUP}: ns per decision (IpFilterHandle::is_allowed)");
        let mut met = true;
        for name in names {
            if let Some(mean) = support::mean_ns(GROUP, name) {
                println!("{name:<34} {mean:>8.1}");
                if name.contains("100k") {
                    met &= mean < TARGET_NS;
                }
            }
        }
        println!(
            "target: under {TARGET_NS:.0} ns per decision with 100,000 prefixes: {}",
            if met { "met" } else { "NOT met" }
        );
        let _ = support::table(GROUP, "bare_router", &["router_deny_100k"]);
    }
}
