//! IpFilterLayer through real Routers: peers from `ConnectInfo`, clients behind trusted proxies,
//! exact problem bodies, unknown clients, and lists replaced while the server is serving.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use common::call;
use http::{Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_shield::ip_filter::{ClientIp, ConfigError, IpFilterLayer, IpNotAllowed, PeerAddr};
use tower_shield::{RequestIdLayer, SecurityHeadersLayer};

const REFUSED: &str = r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#ip-not-allowed","title":"Client address not allowed","status":403,"detail":"Requests from this client address are not allowed."}"#;
const UNKNOWN: &str = r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#ip-not-allowed","title":"Client address not allowed","status":403,"detail":"The client address of this request could not be determined."}"#;

fn app(filter: IpFilterLayer) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/admin",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "admin" }
            }),
        )
        .layer(filter);
    (app, calls)
}

/// A request as `into_make_service_with_connect_info::<SocketAddr>()` hands it to the app.
fn from(peer: &str, xff: Option<&str>) -> Request<Body> {
    let mut req = Request::get("/admin");
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    let mut req = req.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

#[tokio::test]
async fn an_allowed_client_reaches_the_handler_and_a_refused_one_gets_the_exact_problem() {
    let filter = IpFilterLayer::builder()
        .allow(["192.0.2.0/24", "2001:db8::/32"])
        .deny(["192.0.2.66"])
        .build()
        .unwrap();
    let (app, calls) = app(filter);

    let (status, _, body) = call(&app, from("192.0.2.1:40000", None)).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"admin"[..]));
    let (status, _, body) = call(&app, from("[2001:db8::7]:40000", None)).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"admin"[..]));
    // An IPv4-mapped peer (a dual-stack socket) is its IPv4 address.
    let (status, _, _) = call(&app, from("[::ffff:192.0.2.1]:40000", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    for peer in [
        "192.0.2.66:40000",          // denied inside the allowed network
        "[::ffff:192.0.2.66]:40000", // the same, mapped
        "198.51.100.1:40000",        // outside the allow list
        "[2001:db9::1]:40000",       // outside, IPv6
    ] {
        let (status, headers, body) = call(&app, from(peer, None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{peer}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(std::str::from_utf8(&body).unwrap(), REFUSED, "{peer}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_rejection_carries_the_address_in_the_extensions_and_outer_layers_apply() {
    use tower::ServiceExt;

    let filter = IpFilterLayer::builder()
        .deny(["192.0.2.0/24"])
        .build()
        .unwrap();
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .layer(filter)
        .layer(SecurityHeadersLayer::json_api())
        .layer(RequestIdLayer::new());
    let mut req = from("192.0.2.9:1", None);
    req.headers_mut()
        .insert("x-request-id", "req-42".parse().unwrap());
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.headers()["x-request-id"], "req-42");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.extensions().get::<IpNotAllowed>(),
        Some(&IpNotAllowed::Denied("192.0.2.9".parse().unwrap()))
    );
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"type":"https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#ip-not-allowed","title":"Client address not allowed","status":403,"detail":"Requests from this client address are not allowed.","request_id":"req-42"}"#
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_forwarded_address() {
    let filter = IpFilterLayer::builder()
        .deny(["203.0.113.0/24"])
        .client_ip(
            ClientIp::builder()
                .trust_proxies(["10.0.0.0/8"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let (app, _) = app(filter);
    let lb = "10.0.0.2:40000";

    let status = |res: (StatusCode, _, _)| res.0;
    assert_eq!(
        status(call(&app, from(lb, Some("203.0.113.5"))).await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(call(&app, from(lb, Some("198.51.100.1"))).await),
        StatusCode::OK
    );
    // A denied client forging a clean left-most entry is still itself.
    assert_eq!(
        status(call(&app, from(lb, Some("198.51.100.1, 203.0.113.5"))).await),
        StatusCode::FORBIDDEN
    );
    // Whatever the client put left of what the proxy appended is never read.
    assert_eq!(
        status(call(&app, from(lb, Some("203.0.113.5, 198.51.100.1"))).await),
        StatusCode::OK
    );
    // Trusted hops are skipped, right to left.
    assert_eq!(
        status(call(&app, from(lb, Some("203.0.113.5, 10.9.9.9"))).await),
        StatusCode::FORBIDDEN
    );
    // A peer that is not a trusted proxy is the client, whatever its header says.
    assert_eq!(
        status(call(&app, from("203.0.113.7:1", Some("198.51.100.1"))).await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(call(&app, from("198.51.100.9:1", Some("203.0.113.5"))).await),
        StatusCode::OK
    );
    // A trusted proxy naming no address: unknown, refused.
    let (status, _, body) = call(&app, from(lb, Some("198.51.100.1, unknown"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(std::str::from_utf8(&body).unwrap(), UNKNOWN);
}

#[tokio::test]
async fn a_request_without_a_peer_address_is_refused_unless_allowed() {
    let strict = IpFilterLayer::builder()
        .deny(["192.0.2.0/24"])
        .build()
        .unwrap();
    let (app_strict, calls) = app(strict);
    let (status, _, body) = call(&app_strict, common::request("/admin")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(std::str::from_utf8(&body).unwrap(), UNKNOWN);
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let lenient = IpFilterLayer::builder()
        .deny(["192.0.2.0/24"])
        .allow_unknown(true)
        .build()
        .unwrap();
    let (app_lenient, calls) = app(lenient);
    let (status, _, _) = call(&app_lenient, common::request("/admin")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // `PeerAddr` serves where `ConnectInfo` is not set (hyper, tower).
    let mut req = common::request("/admin");
    req.extensions_mut()
        .insert(PeerAddr("192.0.2.1:1".parse().unwrap()));
    let (status, _, _) = call(&app_strict, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[test]
fn bad_entries_are_refused_at_build() {
    assert_eq!(
        IpFilterLayer::builder()
            .deny(["10.0.0.0/33"])
            .build()
            .unwrap_err(),
        ConfigError::InvalidNetwork {
            value: "10.0.0.0/33".into()
        }
    );
    assert_eq!(
        IpFilterLayer::builder()
            .allow(["not an address"])
            .build()
            .unwrap_err(),
        ConfigError::InvalidNetwork {
            value: "not an address".into()
        }
    );
    assert_eq!(
        IpFilterLayer::builder()
            .deny(["192.0.2.1/24"])
            .build()
            .unwrap_err(),
        ConfigError::HostBitsSet {
            value: "192.0.2.1/24".into(),
            network: "192.0.2.0/24".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Live replacement, over real sockets

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// One keep-alive connection: sends a GET and reads its response (status and body).
struct Conn(TcpStream);

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        Self(TcpStream::connect(addr).await.unwrap())
    }

    async fn get(&mut self, xff: Option<&str>) -> (u16, String) {
        let extra = xff.map_or(String::new(), |v| format!("X-Forwarded-For: {v}\r\n"));
        let head = format!("GET /admin HTTP/1.1\r\nHost: test\r\n{extra}\r\n");
        self.0.write_all(head.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            let n = self.0.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            bytes.extend_from_slice(&buf[..n]);
            let Some(split) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&bytes[..split])
                .unwrap()
                .to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("content-length");
            if bytes.len() >= split + 4 + length {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8(bytes[split + 4..split + 4 + length].to_vec());
                return (status, body.unwrap());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_list_applies_to_open_connections_from_their_next_request() {
    let filter = IpFilterLayer::builder()
        .deny(["192.0.2.0/24"])
        .build()
        .unwrap();
    let handle = filter.handle();
    let (app, _) = app(filter);
    let addr = serve(app).await;

    let mut conn = Conn::open(addr).await;
    assert_eq!(conn.get(None).await, (200, "admin".to_owned()));
    // The feed now lists the loopback network: the same connection is refused next.
    handle.replace_deny(["127.0.0.0/8"]).unwrap();
    assert_eq!(conn.get(None).await, (403, REFUSED.to_owned()));
    let mut other = Conn::open(addr).await;
    assert_eq!(other.get(None).await, (403, REFUSED.to_owned()));
    // A bad update changes nothing.
    assert!(handle.replace_deny(["127.0.0.0/8", "garbage"]).is_err());
    assert_eq!(conn.get(None).await, (403, REFUSED.to_owned()));
    // An allow list that holds loopback, and no deny list.
    handle.replace_allow(["127.0.0.1"]).unwrap();
    handle.replace_deny(Vec::<String>::new()).unwrap();
    assert_eq!(conn.get(None).await, (200, "admin".to_owned()));
    handle.replace_allow(["::1"]).unwrap();
    assert_eq!(other.get(None).await, (403, REFUSED.to_owned()));
    handle.remove_allow();
    assert_eq!(other.get(None).await, (200, "admin".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_served_while_a_feed_swaps_lists_see_one_list_or_the_other() {
    // Behind a trusted proxy (the test client on loopback), two clients: one always denied,
    // one denied only by every other update of the feed.
    let filter = IpFilterLayer::builder()
        .deny(["203.0.113.0/24"])
        .client_ip(
            ClientIp::builder()
                .trust_proxies(["127.0.0.0/8"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let handle = filter.handle();
    let (app, _) = app(filter);
    let addr = serve(app).await;

    let done = Arc::new(AtomicBool::new(false));
    let feed = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut updates = 0_u32;
            while !done.load(Ordering::SeqCst) {
                let mut list: Vec<String> = (0..2_000)
                    .map(|i| format!("100.{}.{}.0/24", i / 256, i % 256))
                    .collect();
                list.push("203.0.113.0/24".into());
                if updates.is_multiple_of(2) {
                    list.push("198.51.100.0/24".into());
                }
                handle.replace_deny(&list).unwrap();
                updates += 1;
                tokio::task::yield_now().await;
            }
            handle.replace_deny(["203.0.113.0/24"]).unwrap();
            updates
        })
    };

    let mut conn = Conn::open(addr).await;
    let (mut allowed, mut refused) = (0, 0);
    for _ in 0..200 {
        assert_eq!(
            conn.get(Some("203.0.113.9")).await,
            (403, REFUSED.to_owned())
        );
        match conn.get(Some("198.51.100.9")).await {
            (200, body) => {
                assert_eq!(body, "admin");
                allowed += 1;
            }
            (403, body) => {
                assert_eq!(body, REFUSED);
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    let updates = feed.await.unwrap();
    assert!(updates > 1, "the feed ran {updates} times");
    assert_eq!(allowed + refused, 200);
    // After the last update 198.51.100.0/24 is no longer denied.
    assert_eq!(
        conn.get(Some("198.51.100.9")).await,
        (200, "admin".to_owned())
    );
}
