//! IP allow and deny lists: [`IpFilterLayer`] lets a request through by its client address,
//! against lists of CIDR networks that can be replaced while serving.
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::{Router, body::Body, extract::ConnectInfo, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::ip_filter::IpFilterLayer;
//! use tower_shield::rate_limit::ClientIp;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let filter = IpFilterLayer::builder()
//!     .allow(["203.0.113.0/24", "2001:db8::/32"]) // the office and the VPN
//!     .deny(["203.0.113.66"]) // deny wins, even inside an allowed network
//!     .client_ip(ClientIp::builder().trust_proxies(["10.0.0.0/8"]).build()?)
//!     .build()?;
//! let handle = filter.handle(); // for a blocklist feed
//! let app = Router::new().route("/admin", get(|| async { "ok" })).layer(filter);
//!
//! // axum's `into_make_service_with_connect_info::<SocketAddr>()` inserts `ConnectInfo`.
//! let from = |peer: &str, forwarded: &str| -> Result<Request<Body>, http::Error> {
//!     let mut req = Request::get("/admin").header("x-forwarded-for", forwarded).body(Body::empty())?;
//!     let peer: SocketAddr = peer.parse().expect("a socket address");
//!     req.extensions_mut().insert(ConnectInfo(peer));
//!     Ok(req)
//! };
//!
//! // Through the load balancer at 10.0.0.2: the client is the address it appended.
//! let res = app.clone().oneshot(from("10.0.0.2:40000", "6.6.6.6, 203.0.113.9")?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! // Straight from the internet: the forged header is ignored, the peer is not allowed.
//! let res = app.clone().oneshot(from("198.51.100.7:40000", "203.0.113.9")?).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//!
//! // The feed adds a network; the running app sees it on its next request.
//! handle.replace_deny(["203.0.113.0/28", "203.0.113.66"])?;
//! let res = app.oneshot(from("10.0.0.2:40000", "203.0.113.9")?).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! # Ok(()) }
//! ```
//!
//! - **The client address** is the crate's [`ClientIp`]: the socket peer (axum's
//!   `ConnectInfo<SocketAddr>`, `ConnectInfo<TlsConnectInfo>` behind the `mtls` feature's
//!   `TlsListener`, or [`PeerAddr`]), or, when the peer is a
//!   [trusted proxy](crate::rate_limit::ClientIpBuilder::trust_proxies), the right-most entry of
//!   the forwarding header that is not a trusted proxy — never the left-most entry, which the
//!   client writes. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is its IPv4 address. The
//!   full address is decided on: the `ClientIp`'s prefixes (for rate-limit keys) do not apply.
//!   A trusted proxy that sends no forwarding header is itself the client (a health check, or
//!   the proxy's own call): an allow list that holds the proxies' network lets such requests
//!   through, so keep proxies out of an allow list meant for clients.
//! - **The decision**: an address in the deny list is refused; otherwise, when there is an allow
//!   list, an address outside it is refused; everything else passes. Deny wins.
//! - **An unknown client address** (no peer address, or a trusted proxy's forwarding entry that
//!   is not an address) is refused, unless [`IpFilterBuilder::allow_unknown`] says otherwise:
//!   a filter that lets through whoever it cannot identify filters nothing.
//! - **A refusal** is a `403` [`ip-not-allowed`](crate::problem#ip-not-allowed) problem
//!   ([`IpNotAllowed`]) that does not echo the address; the address is in the
//!   `ip_filter.refused` [security event](crate::events) (`client.address`) and kept in the
//!   response's extensions.
//! - **Lists** are replaced at run time through an [`IpFilterHandle`] (a blocklist feed, an admin
//!   endpoint): one atomic swap (on `arc-swap`), seen by every clone of the service from its
//!   next request, never half-applied; a list with a bad entry is refused whole.
//! - **Entries** are addresses or CIDR networks; a prefix longer than the address
//!   (`10.0.0.0/33`), a prefix length with a sign or a leading zero (`/+8`, `/08`, refused as
//!   Go's `netip.ParsePrefix` refuses them), an IPv6 zone (`fe80::%eth0/64`), anything that is
//!   not an address (octets with leading zeros included: `010.0.0.0/8`), and a network with
//!   bits set past its prefix (`10.1.2.3/8`, refused rather than silently widened) are a
//!   [`ConfigError`], at build and on replacement. Whitespace around an entry is ignored.
//!
//! # Cost
//!
//! Each list is a pair of tables (IPv4 on `u32` keys, IPv6 on `u128` keys) of disjoint ranges,
//! sorted and merged when the list is built, under a bucket index on the address bits that
//! follow the table's common prefix; a decision reads the index and binary-searches the few
//! ranges of one bucket, in each list. With 100,000 networks a decision (both families, one or
//! both lists) measured 25 to 50 ns (`benches/ip_filter.rs` measures 10 and 100,000 prefixes;
//! the target is under 100 ns). A decision takes no lock, even while a list is being replaced.
//!
//! The files: `table.rs` is the prefix structure, `handle.rs` the lists in force and their
//! replacement, `builder.rs` checks the configuration, `layer.rs` holds the layer, its
//! decision and its rejection.

mod builder;
mod handle;
mod layer;
mod table;

pub use crate::rate_limit::{ClientIp, PeerAddr};
pub use builder::IpFilterBuilder;
pub use handle::IpFilterHandle;
pub use layer::{IpFilter, IpFilterLayer, IpNotAllowed, ResponseFuture};

/// A list entry that [`IpFilterBuilder::build`] or an [`IpFilterHandle`] replacement refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An entry that is not an IP address or a CIDR network (`10.0.0.0/8`, `2001:db8::/32`),
    /// whose prefix is longer than its address (`10.0.0.0/33`, `::/129`), or whose prefix
    /// length is not plain decimal digits without a leading zero (`/08`, `/+8`).
    #[error(
        "IP filter: invalid network {value:?}: expected an IP address or a CIDR network \
         such as \"10.0.0.0/8\""
    )]
    InvalidNetwork {
        /// The entry as given (trimmed).
        value: String,
    },
    /// A network with bits set past its prefix (`10.1.2.3/8`): refused rather than masked,
    /// since a wrong prefix length silently changes who is let in.
    #[error("IP filter: {value:?} has bits set past its prefix: write {network:?} if you mean it")]
    HostBitsSet {
        /// The entry as given (trimmed).
        value: String,
        /// The network it would be with those bits cleared.
        network: String,
    },
}

#[cfg(test)]
mod tests;
