//! tower-shield in front of a tonic gRPC server: `cargo run --example grpc [-- ADDR]`.
//!
//! The service is the standard `grpc.health.v1.Health` (from `tonic-health`, no protoc
//! needed). Layers, outermost first:
//!
//! 1. `RendererLayer::new(GrpcStatus)`: every rejection is a gRPC status (a trailers-only
//!    response: `grpc-status` and `grpc-message` in the headers), not a JSON problem.
//! 2. tonic's `TcpConnectInfo` copied into the crate's `PeerAddr`, so that limits keyed by
//!    client IP find the peer.
//! 3. `RequestIdLayer`: a valid `x-request-id` metadata entry is kept, else a UUID v7 is made;
//!    it is in the response metadata either way.
//! 4. `AuthLayer`: an API key in the `x-api-key` metadata, looked up by its SHA-256 digest;
//!    a call without one goes on as the anonymous principal.
//! 5. `RateLimitLayer`: 5 calls per minute per principal (per client IP when anonymous).
//! 6. `ScopeLayer`: `health:read` is required.
//!
//! The banner prints `grpcurl` lines for each outcome: `OK`, `UNAUTHENTICATED` (no key),
//! `PERMISSION_DENIED` (a key without the scope), and `RESOURCE_EXHAUSTED` after five calls.
//! The server has no reflection; `grpcurl` reads the service from a protoset file the example
//! writes to the temporary directory.

use std::net::SocketAddr;

use http::Request;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tower::ServiceBuilder;
use tower_shield::auth::{
    ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, KeyDigest, MemoryKeyStore, Principal,
};
use tower_shield::problem::{GrpcStatus, RendererLayer};
use tower_shield::rate_limit::{KeyBy, Limit, MemoryStore, PeerAddr, Quota, RateLimitLayer};
use tower_shield::{RequestIdLayer, ScopeLayer};

/// The default address; the first argument overrides it.
const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// The demo key of `reader-app`, which holds `health:read`.
const READER_KEY: &str = "ak_demo_grpc_reader_3b6e9c2f5a8d1e4b";
/// SHA-256 of [`READER_KEY`]: what the server stores.
const READER_KEY_SHA256: &str = "f43ec5b6ab355a31bf4be3e77075ce74aa2d8c57c46a8b405b3f00aa7025ae3d";
/// The demo key of `other-app`, which does not.
const OTHER_KEY: &str = "ak_demo_grpc_other_7a0d3f6c9e2b5a8d";
/// SHA-256 of [`OTHER_KEY`].
const OTHER_KEY_SHA256: &str = "62d17057dc6621740cf6c10097e6fbf17bd670d45d6c0bbe67a791d2e2b03f4e";

/// Copies tonic's connection info into the crate's [`PeerAddr`].
fn peer_addr<B>(mut req: Request<B>) -> Request<B> {
    let peer = req
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    if let Some(peer) = peer {
        req.extensions_mut().insert(PeerAddr(peer));
    }
    req
}

fn auth() -> Result<AuthLayer, &'static str> {
    let keys = MemoryKeyStore::new();
    for (sha256, subject, scope) in [
        (READER_KEY_SHA256, "reader-app", "health:read"),
        (OTHER_KEY_SHA256, "other-app", "metrics:read"),
    ] {
        let digest = KeyDigest::from_hex(sha256).ok_or("bad stored digest")?;
        let principal = Principal::builder(subject, AuthMethod::ApiKey)
            .scopes([scope])
            .build();
        keys.insert(digest, ApiKeyRecord::new(principal));
    }
    Ok(AuthLayer::new(ApiKeyAuth::new(keys)).allow_anonymous(true))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or(DEFAULT_ADDR)
        .parse()?;

    let limits = RateLimitLayer::builder()
        .limit(Limit::new("grpc", Quota::per_minute(5)).key(KeyBy::principal_or_ip()))
        .store(MemoryStore::new())
        .build()?;
    let stack = ServiceBuilder::new()
        .layer(RendererLayer::new(GrpcStatus))
        .map_request(peer_addr::<tonic::body::Body>)
        .layer(RequestIdLayer::new())
        .layer(auth()?)
        .layer(limits)
        .layer(ScopeLayer::all_of(["health:read"])?)
        .into_inner();
    let (_reporter, health) = tonic_health::server::health_reporter();

    let protoset = std::env::temp_dir().join("grpc_health_v1.protoset");
    std::fs::write(&protoset, tonic_health::pb::FILE_DESCRIPTOR_SET)?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let grpcurl = format!(
        "grpcurl -plaintext -protoset {} -H 'x-request-id: demo-1'",
        protoset.display()
    );
    let call = format!("{addr} grpc.health.v1.Health/Check");
    println!("gRPC health service on {addr}, behind tower-shield");
    println!("  OK:                {grpcurl} -H 'x-api-key: {READER_KEY}' {call}");
    println!("  UNAUTHENTICATED:   {grpcurl} {call}");
    println!("  PERMISSION_DENIED: {grpcurl} -H 'x-api-key: {OTHER_KEY}' {call}");
    println!("  RESOURCE_EXHAUSTED: the OK line a sixth time within a minute");

    Server::builder()
        .layer(stack)
        .serve_with_incoming_shutdown(health, TcpIncoming::from(listener), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
