//! mTLS through real sockets: an axum server over tokio-rustls (`TlsListener`) with a test CA
//! made by rcgen, and rustls clients (reqwest) presenting client certificates.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use jsonwebtoken::{EncodingKey, Header, encode};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SanType, date_time_ymd,
};
use serde_json::{Value, json};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tower::ServiceExt;
use tower_shield::auth::mtls::Grant;
use tower_shield::auth::{
    Algorithm, Answer, AuthLayer, AuthMethod, Authenticator, JwtAuth, JwtKey, MtlsAuth, Outcome,
    PeerCertificates, Principal, RequestHead, TlsConnectInfo, TlsListener,
};
use tower_shield::rate_limit::ClientIp;

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";
const ISSUER: &str = "https://auth.test.example";
const AUDIENCE: &str = "https://api.test.example";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A certificate authority and the certificates it signs.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key.
struct Leaf {
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Leaf {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    fn sign(&self, mut params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        params.not_before = date_time_ymd(2020, 1, 1);
        if params.not_after.year() > 2100 {
            params.not_after = date_time_ymd(2099, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    fn client(&self, sans: Vec<SanType>, cn: &str) -> Leaf {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }
}

fn spiffe(id: &str) -> SanType {
    SanType::URI(id.try_into().unwrap())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}

/// The tokens' authenticator: HS256 with [`SECRET`], [`ISSUER`] and [`AUDIENCE`].
fn jwt() -> JwtAuth {
    JwtAuth::builder()
        .key(JwtKey::hmac(Algorithm::HS256, SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

/// A token of `sub`, bound to `x5t` when given.
fn token(sub: &str, x5t: Option<String>) -> String {
    let mut claims = json!({
        "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "scope": "read:invoices",
    });
    if let Some(x5t) = x5t {
        claims["cnf"] = json!({ "x5t#S256": x5t });
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// The test PKI and a server on a loopback port.
struct World {
    ca: Ca,
    addr: SocketAddr,
}

async fn start() -> World {
    let ca = Ca::new("tower-shield test CA");
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server = ca.sign(server_params);

    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    // Clients without a certificate may still come with a token.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .unwrap();
    let mut tls = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.der.clone(), ca.der()], server.key())
        .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];

    let jwt = jwt();
    let mtls = MtlsAuth::builder()
        .spiffe(
            "test.example",
            "/ns/prod",
            Grant::new().scopes(["read:invoices"]),
        )
        .common_name("legacy-batch", Grant::new().scopes(["run:batch"]))
        // Only 10.0.0.0/8 may forward client certificates: the loopback client may not.
        .forwarded_client_cert(
            ClientIp::builder()
                .trust_proxies(["10.0.0.0/8"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(me))
        .route(
            "/peer",
            get(
                |ConnectInfo(info): ConnectInfo<TlsConnectInfo>| async move {
                    info.peer_certificates()
                        .map(PeerCertificates::x5t_s256)
                        .unwrap_or_default()
                },
            ),
        )
        .layer(
            AuthLayer::builder()
                .chain(jwt.or(mtls))
                .allow_anonymous(false)
                .build()
                .unwrap(),
        );

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, Arc::new(tls));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<TlsConnectInfo>(),
        )
        .await
        .unwrap();
    });
    World { ca, addr }
}

impl World {
    /// A client trusting the test CA, presenting `identity` when given.
    fn client(&self, identity: Option<&Leaf>) -> reqwest::Client {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der()).unwrap();
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let tls = match identity {
            Some(leaf) => builder
                .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    async fn get(
        &self,
        client: &reqwest::Client,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Option<String>, Value), reqwest::Error> {
        let mut req = client.get(self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await?;
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = res.bytes().await?;
        let body = serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, challenge, body))
    }
}

fn unauthorized(detail: &str) -> Value {
    json!({
        "type": "https://docs.rs/tower-shield/latest/tower_shield/problem/index.html#unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
    })
}

/// The error chain of a failed request, for asserting why the handshake failed.
fn chain(err: &reqwest::Error) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        out.push_str(" / ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

#[tokio::test]
async fn a_spiffe_id_is_an_internal_principal() {
    let world = start().await;
    let leaf = world.ca.client(
        vec![spiffe("spiffe://test.example/ns/prod/sa/billing")],
        "billing",
    );
    let (status, _, body) = world
        .get(&world.client(Some(&leaf)), "/me", &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "subject": "spiffe://test.example/ns/prod/sa/billing",
            "method": "mtls",
            "tier": "internal",
            "scopes": ["read:invoices"],
        })
    );
    // The connection's chain reached the handler too.
    let (status, _, body) = world
        .get(&world.client(Some(&leaf)), "/peer", &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let x5t = PeerCertificates::new(vec![leaf.der.clone()])
        .unwrap()
        .x5t_s256();
    assert_eq!(body, Value::String(x5t));
}

#[tokio::test]
async fn a_certificate_without_san_by_its_common_name() {
    let world = start().await;
    let leaf = world.ca.client(vec![], "legacy-batch");
    let (status, _, body) = world
        .get(&world.client(Some(&leaf)), "/me", &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"subject": "legacy-batch", "method": "mtls", "tier": "internal", "scopes": ["run:batch"]})
    );
}

#[tokio::test]
async fn an_unknown_identity_is_401() {
    let world = start().await;
    let leaf = world
        .ca
        .client(vec![spiffe("spiffe://test.example/ns/dev/sa/billing")], "x");
    let (status, challenge, body) = world
        .get(&world.client(Some(&leaf)), "/me", &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="api""#));
    assert_eq!(
        body,
        unauthorized("client certificate identity is not allowed")
    );
}

#[tokio::test]
async fn no_certificate_and_no_token_is_401() {
    let world = start().await;
    let (status, challenge, body) = world.get(&world.client(None), "/me", &[]).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="api""#));
    assert_eq!(
        body,
        unauthorized("This resource needs authentication; no credentials were presented.")
    );
}

#[tokio::test]
async fn another_ca_is_refused_at_the_handshake() {
    let world = start().await;
    let rogue = Ca::new("rogue CA");
    let leaf = rogue.client(
        vec![spiffe("spiffe://test.example/ns/prod/sa/billing")],
        "billing",
    );
    let err = world
        .get(&world.client(Some(&leaf)), "/me", &[])
        .await
        .unwrap_err();
    let chain = chain(&err);
    assert!(chain.contains("UnknownCA"), "{chain}");
}

#[tokio::test]
async fn an_expired_certificate_is_refused_at_the_handshake() {
    let world = start().await;
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![spiffe("spiffe://test.example/ns/prod/sa/billing")];
    params.not_after = date_time_ymd(2021, 1, 1);
    let leaf = world.ca.sign(params);
    let err = world
        .get(&world.client(Some(&leaf)), "/me", &[])
        .await
        .unwrap_err();
    let chain = chain(&err);
    assert!(chain.contains("CertificateExpired"), "{chain}");
}

#[tokio::test]
async fn a_certificate_bound_token_only_on_its_connection() {
    let world = start().await;
    let alice = world
        .ca
        .client(vec![spiffe("spiffe://test.example/ns/prod/sa/alice")], "a");
    let bob = world
        .ca
        .client(vec![spiffe("spiffe://test.example/ns/prod/sa/bob")], "b");
    let x5t = PeerCertificates::new(vec![alice.der.clone()])
        .unwrap()
        .x5t_s256();
    let bearer = format!("Bearer {}", token("user_42", Some(x5t)));
    let auth = [("authorization", bearer.as_str())];

    // On Alice's connection: the token's principal.
    let (status, _, body) = world
        .get(&world.client(Some(&alice)), "/me", &auth)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"subject": "user_42", "method": "jwt", "tier": "authenticated", "scopes": ["read:invoices"]})
    );

    // On Bob's: refused, although Bob's own certificate is a valid identity.
    let (status, challenge, body) = world
        .get(&world.client(Some(&bob)), "/me", &auth)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="token is bound to another client certificate""#
        )
    );
    assert_eq!(
        body,
        unauthorized("token is bound to another client certificate")
    );

    // Without a certificate: refused.
    let (status, challenge, body) = world.get(&world.client(None), "/me", &auth).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="token is bound to a client certificate, and none was presented""#
        )
    );
    assert_eq!(
        body,
        unauthorized("token is bound to a client certificate, and none was presented")
    );

    // An unbound token works on any connection.
    let plain = format!("Bearer {}", token("user_7", None));
    let (status, _, _) = world
        .get(
            &world.client(None),
            "/me",
            &[("authorization", plain.as_str())],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn xfcc_from_an_untrusted_peer_is_refused() {
    let world = start().await;
    let leaf = world.ca.client(
        vec![spiffe("spiffe://test.example/ns/prod/sa/billing")],
        "b",
    );
    for client in [world.client(None), world.client(Some(&leaf))] {
        let (status, _, body) = world
            .get(
                &client,
                "/me",
                &[(
                    "x-forwarded-client-cert",
                    "URI=spiffe://test.example/ns/prod/sa/admin",
                )],
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            unauthorized("X-Forwarded-Client-Cert is only accepted from trusted proxies")
        );
    }
}

/// Behind a trusted proxy (here: loopback, over plain HTTP with `ConnectInfo<SocketAddr>`), the
/// header is the client's identity.
#[tokio::test]
async fn xfcc_from_a_trusted_proxy_over_plain_http() {
    let mtls = MtlsAuth::builder()
        .spiffe("test.example", "/ns/prod", Grant::new())
        .forwarded_client_cert(
            ClientIp::builder()
                .trust_proxies(["127.0.0.0/8"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(mtls));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(tcp, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    let res = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .header(
            "x-forwarded-client-cert",
            "By=spiffe://test.example/envoy;URI=spiffe://test.example/ns/prod/sa/billing",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["subject"], "spiffe://test.example/ns/prod/sa/billing");
    assert_eq!(body["method"], "mtls");
}

/// The binding holds for any principal with a `cnf` claim, whichever authenticator made it.
#[tokio::test]
async fn any_principal_with_cnf_is_bound() {
    struct Introspected;
    impl Authenticator for Introspected {
        fn authenticate(&self, _: &RequestHead<'_>) -> Answer<Outcome> {
            let claims = json!({"sub": "svc", "cnf": {"x5t#S256": "bm90LXRoaXMtY2VydGlmaWNhdGUtYXQtYWxsLi4uLi4"}});
            Answer::ready(Outcome::Authenticated(
                Principal::builder("svc", AuthMethod::BearerToken)
                    .claims(claims)
                    .build(),
            ))
        }
    }
    let app = Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(Introspected));
    let ca = Ca::new("unit");
    let leaf = ca.client(vec![spiffe("spiffe://test.example/x")], "x");
    let mut req = http::Request::get("/me")
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(PeerCertificates::new(vec![leaf.der]).unwrap());
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        unauthorized("token is bound to another client certificate")
    );

    // A malformed confirmation is refused, never ignored.
    struct Malformed;
    impl Authenticator for Malformed {
        fn authenticate(&self, _: &RequestHead<'_>) -> Answer<Outcome> {
            let claims = json!({"sub": "svc", "cnf": {"x5t#S256": 42}});
            Answer::ready(Outcome::Authenticated(
                Principal::builder("svc", AuthMethod::BearerToken)
                    .claims(claims)
                    .build(),
            ))
        }
    }
    let app = Router::new()
        .route("/me", get(me))
        .layer(AuthLayer::new(Malformed));
    let res = app
        .oneshot(
            http::Request::get("/me")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, unauthorized("token has a malformed cnf claim"));
}

/// Handshakes run concurrently: a client that connects and never says hello holds up no one.
#[tokio::test]
async fn a_stalled_handshake_does_not_block_others() {
    let world = start().await;
    let _stalled = tokio::net::TcpStream::connect(world.addr).await.unwrap();
    let leaf = world.ca.client(
        vec![spiffe("spiffe://test.example/ns/prod/sa/billing")],
        "b",
    );
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        world.get(&world.client(Some(&leaf)), "/me", &[]),
    )
    .await
    .expect("not held up by the stalled connection")
    .unwrap();
    assert_eq!(res.0, StatusCode::OK);
}

/// A handshake that takes longer than the timeout is closed.
#[tokio::test]
async fn a_stalled_handshake_times_out() {
    use tokio::io::AsyncReadExt;

    let ca = Ca::new("timeout CA");
    let server = ca.sign(CertificateParams::new(vec!["localhost".to_owned()]).unwrap());
    let tls = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server.der.clone()], server.key())
        .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, Arc::new(tls))
        .handshake_timeout(std::time::Duration::from_millis(200));
    let app: Router = Router::new().route("/", get(|| async { "hi" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .expect("closed by the server");
    assert_eq!(read.unwrap(), 0);
}

/// A certificate-bound token behind a TLS-terminating proxy (Envoy): with
/// `AuthBuilder::forwarded_client_cert`, the certificate is the one the trusted proxy's
/// `X-Forwarded-Client-Cert` names, never the proxy's own; from another peer the header is not
/// read. Over plain HTTP on loopback: 127.0.0.1 is the proxy, 127.0.0.2 a client.
#[tokio::test]
async fn a_bound_token_behind_a_trusted_proxy_is_checked_against_xfcc() {
    use sha2::{Digest, Sha256};
    let thumbprint: [u8; 32] = Sha256::digest(b"the client's certificate").into();
    let other: [u8; 32] = Sha256::digest(b"another certificate").into();
    let hex = |b: &[u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let x5t = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(thumbprint)
    };
    let bearer = format!("Bearer {}", token("user_42", Some(x5t)));

    let serve = |forwarded: bool| async move {
        let jwt = jwt();
        let mut auth = AuthLayer::builder().authenticator(jwt);
        if forwarded {
            auth = auth.forwarded_client_cert(
                ClientIp::builder()
                    .trust_proxies(["127.0.0.1/32"])
                    .build()
                    .unwrap(),
            );
        }
        let app = Router::new()
            .route("/me", get(me))
            .layer(auth.build().unwrap());
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(tcp, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
        addr
    };
    let call = |addr: SocketAddr, from: [u8; 4], xfcc: Option<String>| {
        let bearer = bearer.clone();
        async move {
            let client = reqwest::Client::builder()
                .local_address(std::net::IpAddr::from(from))
                .build()
                .unwrap();
            let mut req = client
                .get(format!("http://{addr}/me"))
                .header("authorization", bearer);
            if let Some(xfcc) = xfcc {
                req = req.header("x-forwarded-client-cert", xfcc);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
            (status, body)
        }
    };
    let xfcc = |hash: &[u8; 32]| {
        Some(format!(
            "By=spiffe://test.example/envoy;Hash={};URI=spiffe://test.example/ns/prod/sa/billing",
            hex(hash)
        ))
    };

    let addr = serve(true).await;
    let (status, body) = call(addr, [127, 0, 0, 1], xfcc(&thumbprint)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], "user_42");
    assert_eq!(
        call(addr, [127, 0, 0, 1], xfcc(&other)).await,
        (
            401,
            unauthorized("token is bound to another client certificate")
        )
    );
    let none = (
        401,
        unauthorized("token is bound to a client certificate, and none was presented"),
    );
    // The proxy forwarded no certificate: its own connection's does not count.
    assert_eq!(call(addr, [127, 0, 0, 1], None).await, none);
    // Not from the proxy: the header is not read.
    assert_eq!(call(addr, [127, 0, 0, 2], xfcc(&thumbprint)).await, none);
    assert_eq!(
        call(addr, [127, 0, 0, 1], Some("Hash=zz".to_owned())).await,
        none
    );

    // Without the option, only the connection's certificate counts.
    let addr = serve(false).await;
    assert_eq!(call(addr, [127, 0, 0, 1], xfcc(&thumbprint)).await, none);
}

/// With `forwarded_client_cert`, a trusted proxy's own connection certificate never stands
/// for its client's, even when it is the very certificate the token is bound to; from a peer
/// that is not a trusted proxy, the connection's certificate counts.
#[tokio::test]
async fn a_trusted_proxys_own_certificate_never_confirms_a_bound_token() {
    let ca = Ca::new("tower-shield test CA");
    let leaf = ca.client(
        vec![spiffe("spiffe://test.example/ns/prod/sa/billing")],
        "billing",
    );
    let peer = PeerCertificates::new(vec![leaf.der.clone()]).unwrap();
    let bearer = format!("Bearer {}", token("user_42", Some(peer.x5t_s256())));
    let jwt = jwt();
    let app = Router::new().route("/me", get(me)).layer(
        AuthLayer::builder()
            .authenticator(jwt)
            .forwarded_client_cert(
                ClientIp::builder()
                    .trust_proxies(["10.0.0.0/8"])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let call = |from: &str| {
        let mut req = http::Request::get("/me")
            .header("authorization", &bearer)
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(tower_shield::rate_limit::PeerAddr(
                format!("{from}:40000").parse().unwrap(),
            ));
        req.extensions_mut().insert(peer.clone());
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status() }
    };
    assert_eq!(call("10.0.0.7").await, StatusCode::UNAUTHORIZED);
    assert_eq!(call("192.0.2.1").await, StatusCode::OK);
}
