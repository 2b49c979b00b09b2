//! The client certificate from the TLS connection into the request: [`PeerCertificates`],
//! [`TlsConnectInfo`] and, for axum, [`TlsListener`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Extensions;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::ServerConnection;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::cert::{self, Identity, Malformed};

/// The certificate chain a client presented on its TLS connection (end-entity certificate
/// first), verified by rustls during the handshake. A request extension that
/// [`MtlsAuth`](super::MtlsAuth) and certificate-bound tokens read.
///
/// With axum and [`TlsListener`] it arrives as `ConnectInfo<`[`TlsConnectInfo`]`>`; with your
/// own accept loop, make it with [`from_connection`](Self::from_connection) once per
/// connection and insert it into each request's extensions:
///
/// ```no_run
/// use std::sync::Arc;
///
/// use tokio_rustls::TlsAcceptor;
/// use tower_shield::auth::PeerCertificates;
///
/// # async fn serve(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream) -> std::io::Result<()> {
/// let tls = acceptor.accept(tcp).await?;
/// let peer = PeerCertificates::from_connection(tls.get_ref().1);
/// // For each request of this connection (a hyper `service_fn`, a tower `MapRequest`):
/// let mut request = http::Request::new(());
/// if let Some(peer) = &peer {
///     request.extensions_mut().insert(peer.clone());
/// }
/// # Ok(()) }
/// ```
///
/// Cheap to clone (one reference count); the certificate is parsed at most once per
/// connection.
#[derive(Clone)]
pub struct PeerCertificates(Arc<Inner>);

struct Inner {
    chain: Box<[CertificateDer<'static>]>,
    thumbprint: [u8; 32],
    identity: OnceLock<Result<Identity, Malformed>>,
}

impl PeerCertificates {
    /// The chain `chain`, end-entity certificate first; `None` when it is empty.
    pub fn new(chain: impl Into<Vec<CertificateDer<'static>>>) -> Option<Self> {
        let chain: Vec<_> = chain.into();
        let thumbprint = Sha256::digest(chain.first()?.as_ref()).into();
        Some(Self(Arc::new(Inner {
            chain: chain.into_boxed_slice(),
            thumbprint,
            identity: OnceLock::new(),
        })))
    }

    /// The chain a TLS connection's client presented, `None` when it presented none.
    pub fn from_connection(connection: &ServerConnection) -> Option<Self> {
        Self::new(connection.peer_certificates()?.to_vec())
    }

    /// The chain of a request: its `PeerCertificates` extension, or (with the `axum` feature)
    /// the one of its `ConnectInfo<TlsConnectInfo>`.
    pub fn from_extensions(extensions: &Extensions) -> Option<&Self> {
        if let Some(peer) = extensions.get::<Self>() {
            return Some(peer);
        }
        #[cfg(feature = "axum")]
        if let Some(axum::extract::ConnectInfo(info)) =
            extensions.get::<axum::extract::ConnectInfo<TlsConnectInfo>>()
        {
            return info.peer_certificates();
        }
        None
    }

    /// The client's own certificate.
    pub fn end_entity(&self) -> &CertificateDer<'static> {
        // `new` refuses an empty chain.
        &self.0.chain[0]
    }

    /// The whole chain, end-entity certificate first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.0.chain
    }

    /// The SHA-256 of the end-entity certificate's DER.
    pub fn thumbprint(&self) -> &[u8; 32] {
        &self.0.thumbprint
    }

    /// The thumbprint base64url-encoded, as the `x5t#S256` confirmation of a
    /// certificate-bound token ([RFC 8705 section 3.1](https://www.rfc-editor.org/rfc/rfc8705#section-3.1)).
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.thumbprint)
    }

    pub(crate) fn identity(&self) -> Result<&Identity, Malformed> {
        self.0
            .identity
            .get_or_init(|| cert::parse(self.end_entity()))
            .as_ref()
            .map_err(|&e| e)
    }
}

impl fmt::Debug for PeerCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerCertificates")
            .field("len", &self.0.chain.len())
            .field("x5t#S256", &self.x5t_s256())
            .finish()
    }
}

/// What axum's `ConnectInfo` holds for a connection accepted by [`TlsListener`]: the
/// client's address and its certificate chain.
///
/// ```no_run
/// use axum::Router;
/// use axum::extract::ConnectInfo;
/// use axum::routing::get;
/// use tower_shield::auth::TlsConnectInfo;
///
/// async fn who(ConnectInfo(info): ConnectInfo<TlsConnectInfo>) -> String {
///     format!("{} presented {} certificates", info.remote_addr(),
///         info.peer_certificates().map_or(0, |p| p.chain().len()))
/// }
/// let app: Router = Router::new().route("/who", get(who));
/// // axum::serve(tls_listener, app.into_make_service_with_connect_info::<TlsConnectInfo>())
/// ```
#[derive(Clone, Debug)]
pub struct TlsConnectInfo {
    remote_addr: SocketAddr,
    peer: Option<PeerCertificates>,
}

impl TlsConnectInfo {
    /// The connection of `remote_addr` with the chain `peer` (tests, your own accept loop).
    pub fn new(remote_addr: SocketAddr, peer: Option<PeerCertificates>) -> Self {
        Self { remote_addr, peer }
    }

    /// The client's socket address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The client's certificate chain, if it presented one.
    pub fn peer_certificates(&self) -> Option<&PeerCertificates> {
        self.peer.as_ref()
    }
}

#[cfg(feature = "axum")]
pub use listener::TlsListener;

#[cfg(feature = "axum")]
mod listener {
    use std::fmt;
    use std::io;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use axum::extract::connect_info::Connected;
    use axum::serve::{IncomingStream, Listener};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinSet;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::server::TlsStream;

    use super::{PeerCertificates, TlsConnectInfo};

    type Handshake = Option<(TlsStream<TcpStream>, SocketAddr)>;

    /// A TLS listener for `axum::serve`: accepts TCP connections, runs their TLS handshakes
    /// concurrently (each bounded by a timeout, so a client that stalls holds up no other),
    /// and hands axum the connections whose handshake succeeded. With
    /// `into_make_service_with_connect_info::<`[`TlsConnectInfo`]`>()` every request carries
    /// its connection's client certificate chain, for [`MtlsAuth`](super::super::MtlsAuth)
    /// and certificate-bound tokens.
    ///
    /// Verifying the client's chain is rustls's job: build the `ServerConfig` with a
    /// `WebPkiClientVerifier` for your CA (`allow_unauthenticated()` when clients without a
    /// certificate may still use tokens). A handshake that fails (no certificate, another CA,
    /// an expired certificate) closes that connection and is logged at `DEBUG`.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    ///
    /// use axum::{Router, routing::get};
    /// use tokio_rustls::rustls::{RootCertStore, ServerConfig, server::WebPkiClientVerifier};
    /// use tower_shield::auth::{AuthLayer, MtlsAuth, Principal, TlsConnectInfo, TlsListener};
    /// use tower_shield::auth::mtls::Grant;
    ///
    /// # async fn run(
    /// #     roots: RootCertStore,
    /// #     chain: Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
    /// #     key: tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = WebPkiClientVerifier::builder(Arc::new(roots)).build()?;
    /// let mut tls = ServerConfig::builder()
    ///     .with_client_cert_verifier(verifier)
    ///     .with_single_cert(chain, key)?;
    /// tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    ///
    /// let auth = MtlsAuth::builder().spiffe("example.org", "/", Grant::new()).build()?;
    /// let app = Router::new()
    ///     .route("/me", get(|p: Principal| async move { p.subject().to_owned() }))
    ///     .layer(AuthLayer::new(auth));
    ///
    /// let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
    /// let listener = TlsListener::new(tcp, Arc::new(tls));
    /// axum::serve(listener, app.into_make_service_with_connect_info::<TlsConnectInfo>()).await?;
    /// # Ok(()) }
    /// ```
    pub struct TlsListener {
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        handshakes: JoinSet<Handshake>,
        timeout: Duration,
        max_handshakes: usize,
        backoff: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl TlsListener {
        /// Accepts on `tcp`, with the TLS configuration `config`; handshakes time out after
        /// 10 seconds, and at most 1024 run at once (more connections wait in the backlog).
        pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
            Self {
                tcp,
                acceptor: TlsAcceptor::from(config),
                handshakes: JoinSet::new(),
                timeout: Duration::from_secs(10),
                max_handshakes: 1024,
                backoff: None,
            }
        }

        /// How long a handshake may take before its connection is closed (default 10 s).
        #[must_use]
        pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }

        /// How many handshakes may run at once (default 1024, at least 1).
        #[must_use]
        pub fn max_handshakes(mut self, max: usize) -> Self {
            self.max_handshakes = max.max(1);
            self
        }

        fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(TlsStream<TcpStream>, SocketAddr)> {
            loop {
                match self.handshakes.poll_join_next(cx) {
                    Poll::Ready(Some(Ok(Some(done)))) => return Poll::Ready(done),
                    // A failed (logged) or cancelled handshake.
                    Poll::Ready(Some(_)) => continue,
                    Poll::Ready(None) | Poll::Pending => {}
                }
                if let Some(backoff) = &mut self.backoff {
                    if backoff.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.backoff = None;
                }
                if self.handshakes.len() >= self.max_handshakes {
                    // Woken when a handshake ends.
                    return Poll::Pending;
                }
                match self.tcp.poll_accept(cx) {
                    Poll::Ready(Ok((tcp, addr))) => {
                        let acceptor = self.acceptor.clone();
                        let timeout = self.timeout;
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => Some((tls, addr)),
                                Ok(Err(e)) => {
                                    tracing::debug!(target: "tower_shield::auth", peer = %addr, error = %e, "TLS handshake failed");
                                    None
                                }
                                Err(_) => {
                                    tracing::debug!(target: "tower_shield::auth", peer = %addr, "TLS handshake timed out");
                                    None
                                }
                            }
                        });
                    }
                    Poll::Ready(Err(e)) if is_connection_error(&e) => {}
                    Poll::Ready(Err(e)) => {
                        // Out of file descriptors and the like: wait, as axum's own listener
                        // does, rather than spin.
                        tracing::error!(target: "tower_shield::auth", error = %e, "accept failed");
                        self.backoff = Some(Box::pin(tokio::time::sleep(Duration::from_secs(1))));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }

    fn is_connection_error(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
        )
    }

    impl Listener for TlsListener {
        type Io = TlsStream<TcpStream>;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            std::future::poll_fn(|cx| self.poll_next(cx)).await
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            self.tcp.local_addr()
        }
    }

    impl fmt::Debug for TlsListener {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsListener")
                .field("local_addr", &self.tcp.local_addr().ok())
                .field("handshakes", &self.handshakes.len())
                .field("timeout", &self.timeout)
                .finish_non_exhaustive()
        }
    }

    impl Connected<IncomingStream<'_, TlsListener>> for TlsConnectInfo {
        fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
            let peer = PeerCertificates::from_connection(stream.io().get_ref().1);
            TlsConnectInfo::new(*stream.remote_addr(), peer)
        }
    }
}
