//! The crate in front of a real tonic server, called by a real tonic client over a loopback
//! socket: rejections arrive as gRPC statuses (trailers-only responses rendered by
//! `GrpcStatus`), with the request id and the layers' headers in the metadata.
//!
//! The service is `grpc.health.v1.Health` from `tonic-health`, whose generated code ships in
//! the crate (no protoc, no build script). Layers, outermost first: `RendererLayer(GrpcStatus)`,
//! tonic's peer address copied into a `PeerAddr`, `RequestIdLayer`, `AuthLayer` (API keys in the
//! `x-api-key` metadata, anonymous allowed), `RateLimitLayer` (3 per minute per principal, on a
//! memory store with a manual clock), `ScopeLayer` (`health:read`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::is_uuid_v7;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tonic::metadata::MetadataMap;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::{ServiceBuilder, ServiceExt};
use tower_shield::auth::{
    ApiKeyAuth, ApiKeyRecord, AuthLayer, AuthMethod, KeyDigest, MemoryKeyStore, Principal,
};
use tower_shield::problem::{GrpcStatus, RendererLayer};
use tower_shield::rate_limit::{KeyBy, Limit, MemoryStore, PeerAddr, Quota, RateLimitLayer};
use tower_shield::{ManualClock, RequestIdLayer, ScopeLayer};

/// A key holding `health:read`.
const READER_KEY: &str = "ak_test_grpc_reader_5d1c8e0f2a4b6c8d";
/// SHA-256 of [`READER_KEY`]: what the server stores (`printf %s KEY | sha256sum`).
const READER_KEY_SHA256: &str = "81573ef441b8a5750410565fec68fa0bc844830109298b910e3404bf0c58916f";
/// A valid key without `health:read`.
const OTHER_KEY: &str = "ak_test_grpc_other_9e7f5a3b1c2d4e6f";
/// SHA-256 of [`OTHER_KEY`].
const OTHER_KEY_SHA256: &str = "dbbe9ea79a7b0de4d1207a341c47c306d8c6561a5eeee7cbc11a2454baf3fb42";

/// The manual clock's start: 2025-06-15T15:06:40Z.
const T0: u64 = 1_750_000_000;

/// Copies tonic's connection info into the crate's [`PeerAddr`], so that limits keyed by
/// client IP (here: the anonymous principal's) find the peer.
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

fn key_store() -> MemoryKeyStore {
    let keys = MemoryKeyStore::new();
    let digest = |hex: &str| KeyDigest::from_hex(hex).expect("a SHA-256 in hex");
    keys.insert(
        digest(READER_KEY_SHA256),
        ApiKeyRecord::new(
            Principal::builder("reader-app", AuthMethod::ApiKey)
                .scopes(["health:read"])
                .build(),
        ),
    );
    keys.insert(
        digest(OTHER_KEY_SHA256),
        ApiKeyRecord::new(
            Principal::builder("other-app", AuthMethod::ApiKey)
                .scopes(["metrics:read"])
                .build(),
        ),
    );
    keys
}

/// Serves the health service behind the stack on a fresh loopback port; returns a client
/// connected to it and the rate limiter's clock.
async fn serve() -> (HealthClient<Channel>, ManualClock) {
    let (channel, clock) = serve_channel().await;
    (HealthClient::new(channel), clock)
}

/// [`serve`], returning the bare HTTP/2 channel.
async fn serve_channel() -> (Channel, ManualClock) {
    let clock = ManualClock::at_unix_secs(T0);
    let limits = RateLimitLayer::builder()
        .limit(Limit::new("grpc", Quota::per_minute(3)).key(KeyBy::principal_or_ip()))
        .store(MemoryStore::builder().clock(clock.clone()).build())
        .build()
        .expect("a valid limit");
    let stack = ServiceBuilder::new()
        .layer(RendererLayer::new(GrpcStatus))
        .map_request(peer_addr::<tonic::body::Body>)
        .layer(RequestIdLayer::new())
        .layer(AuthLayer::new(ApiKeyAuth::new(key_store())).allow_anonymous(true))
        .layer(limits)
        .layer(ScopeLayer::all_of(["health:read"]).expect("a valid scope"))
        .into_inner();
    let (_reporter, health) = tonic_health::server::health_reporter();

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        Server::builder()
            .layer(stack)
            .serve_with_incoming(health, TcpIncoming::from(listener))
            .await
            .expect("serve");
    });
    let channel = connect(addr).await;
    (channel, clock)
}

/// A channel to the server at `addr`.
async fn connect(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect")
}

/// Calls `Check` for the whole server, with these metadata entries.
async fn check(
    client: &mut HealthClient<Channel>,
    metadata: &[(&'static str, &str)],
) -> Result<tonic::Response<HealthCheckResponse>, Status> {
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    for &(name, value) in metadata {
        req.metadata_mut()
            .insert(name, value.parse().expect("ASCII metadata"));
    }
    client.check(req).await
}

fn get<'a>(metadata: &'a MetadataMap, name: &str) -> &'a str {
    metadata
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {metadata:?}"))
        .to_str()
        .expect("ASCII")
}

fn assert_uuid_v7(id: &str) {
    assert!(is_uuid_v7(id), "{id} is not a UUID v7");
}

#[test]
fn stored_digests_are_the_keys_sha256() {
    assert_eq!(KeyDigest::of(READER_KEY).to_hex(), READER_KEY_SHA256);
    assert_eq!(KeyDigest::of(OTHER_KEY).to_hex(), OTHER_KEY_SHA256);
}

#[tokio::test]
async fn no_credential_is_unauthenticated() {
    let (mut client, _) = serve().await;
    let status = check(&mut client, &[]).await.expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.message(),
        "This resource needs authentication; no credentials were presented."
    );
    assert_eq!(
        get(status.metadata(), "www-authenticate"),
        r#"ApiKey realm="api", header="X-API-Key""#
    );
    assert_uuid_v7(get(status.metadata(), "x-request-id"));
}

#[tokio::test]
async fn an_unknown_key_is_unauthenticated() {
    let (mut client, _) = serve().await;
    let status = check(&mut client, &[("x-api-key", "ak_test_grpc_unknown")])
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "invalid API key");
    assert_uuid_v7(get(status.metadata(), "x-request-id"));
}

#[tokio::test]
async fn a_key_without_the_scope_is_permission_denied() {
    let (mut client, _) = serve().await;
    let status = check(
        &mut client,
        &[("x-api-key", OTHER_KEY), ("x-request-id", "grpc-denied-7")],
    )
    .await
    .expect_err("no health:read");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "This request needs the scope health:read."
    );
    assert_eq!(get(status.metadata(), "x-request-id"), "grpc-denied-7");
    // An API-key principal gets no Bearer challenge.
    assert!(status.metadata().get("www-authenticate").is_none());
}

#[tokio::test]
async fn a_valid_call_is_ok_with_its_request_id_and_rate_limit_headers() {
    let (mut client, _) = serve().await;
    let res = check(
        &mut client,
        &[("x-api-key", READER_KEY), ("x-request-id", "grpc-call-42")],
    )
    .await
    .expect("a valid call");
    assert_eq!(res.get_ref().status(), ServingStatus::Serving);
    let metadata = res.metadata();
    assert_eq!(get(metadata, "x-request-id"), "grpc-call-42");
    assert_eq!(get(metadata, "x-ratelimit-limit"), "3");
    assert_eq!(get(metadata, "x-ratelimit-remaining"), "2");
    // The bucket is full again one interval (20 s) after the call.
    assert_eq!(
        get(metadata, "x-ratelimit-reset"),
        (T0 + 20).to_string().as_str()
    );
}

#[tokio::test]
async fn request_ids_are_generated_when_the_client_sends_none() {
    let (mut client, _) = serve().await;
    let first = check(&mut client, &[("x-api-key", READER_KEY)])
        .await
        .expect("a valid call");
    let second = check(&mut client, &[("x-api-key", READER_KEY)])
        .await
        .expect("a valid call");
    let (first, second) = (
        get(first.metadata(), "x-request-id"),
        get(second.metadata(), "x-request-id"),
    );
    assert_uuid_v7(first);
    assert_uuid_v7(second);
    assert_ne!(first, second);
}

#[tokio::test]
async fn over_the_limit_is_resource_exhausted_until_the_bucket_refills() {
    let (mut client, clock) = serve().await;
    for remaining in ["2", "1", "0"] {
        let res = check(&mut client, &[("x-api-key", READER_KEY)])
            .await
            .expect("within the limit");
        assert_eq!(get(res.metadata(), "x-ratelimit-remaining"), remaining);
    }

    let status = check(
        &mut client,
        &[
            ("x-api-key", READER_KEY),
            ("x-request-id", "grpc-limited-1"),
        ],
    )
    .await
    .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "Rate limit exceeded (3 per minute). Retry in 20 seconds."
    );
    let metadata = status.metadata();
    assert_eq!(get(metadata, "x-request-id"), "grpc-limited-1");
    assert_eq!(get(metadata, "retry-after"), "20");
    assert_eq!(get(metadata, "x-ratelimit-limit"), "3");
    assert_eq!(get(metadata, "x-ratelimit-remaining"), "0");
    assert_eq!(
        get(metadata, "x-ratelimit-reset"),
        (T0 + 60).to_string().as_str()
    );

    // The limit is per principal: another one (here refused for its scope, after the limiter
    // counted it) and the anonymous one are not limited by the reader's spent quota.
    let other = check(&mut client, &[("x-api-key", OTHER_KEY)])
        .await
        .expect_err("no health:read");
    assert_eq!(other.code(), Code::PermissionDenied);
    let anonymous = check(&mut client, &[]).await.expect_err("no key");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    // One interval later, one token is back.
    clock.advance(Duration::from_secs(20));
    let res = check(&mut client, &[("x-api-key", READER_KEY)])
        .await
        .expect("refilled");
    assert_eq!(get(res.metadata(), "x-ratelimit-remaining"), "0");
    let status = check(&mut client, &[("x-api-key", READER_KEY)])
        .await
        .expect_err("spent again");
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn the_anonymous_principal_is_limited_by_its_peer_address() {
    // Anonymous calls are counted per client IP (tonic's `TcpConnectInfo`, copied into a
    // `PeerAddr`): without the copy they would find no key and be an INTERNAL error.
    let (mut client, _) = serve().await;
    for _ in 0..3 {
        let status = check(&mut client, &[]).await.expect_err("no key");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(get(status.metadata(), "x-ratelimit-limit"), "3");
    }
    let status = check(&mut client, &[]).await.expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(get(status.metadata(), "retry-after"), "20");
}

#[tokio::test]
async fn a_rejection_is_a_trailers_only_response_on_the_wire() {
    // Below the gRPC client: the raw HTTP/2 exchange of a `Check` call without a key.
    let (channel, _) = serve_channel().await;
    // One gRPC message frame: uncompressed, length 0 (an empty `HealthCheckRequest`).
    let frame = Bytes::from_static(&[0, 0, 0, 0, 0]);
    let req = Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(frame)))
        .expect("request");
    let res = channel.oneshot(req).await.expect("an HTTP/2 response");
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers();
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(headers["grpc-status"], "16");
    assert_eq!(
        headers["grpc-message"],
        "This resource needs authentication; no credentials were presented."
    );
    // Trailers-only: the status is in the headers, which end the stream.
    assert!(res.into_body().frame().await.is_none());
}

/// A health service whose `Watch` stream sends one status, then fails with a message that
/// names an internal host (as a handler's `Err(Status::internal(format!("{db_error}")))` does).
struct FailingWatch;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for FailingWatch {
    async fn check(
        &self,
        _: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, Status> {
        Err(Status::internal("pq: connection to 10.0.0.7:5432 refused"))
    }

    type WatchStream =
        tonic::codegen::tokio_stream::Iter<std::vec::IntoIter<Result<HealthCheckResponse, Status>>>;

    async fn watch(
        &self,
        _: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        let serving = HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        };
        let failure = Status::with_details(
            Code::Internal,
            "pq: connection to 10.0.0.7:5432 refused",
            Bytes::from_static(b"stack: db.rs:42"),
        );
        Ok(tonic::Response::new(tonic::codegen::tokio_stream::iter(
            vec![Ok(serving), Err(failure)],
        )))
    }
}

/// [`FailingWatch`] served by tonic, with `ErrorHygieneLayer` around it or not.
async fn serve_failing(hygiene: bool) -> HealthClient<Channel> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let service = tonic_health::pb::health_server::HealthServer::new(FailingWatch);
    tokio::spawn(async move {
        let incoming = TcpIncoming::from(listener);
        if hygiene {
            Server::builder()
                .layer(tower_shield::ErrorHygieneLayer::new())
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
        } else {
            Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
        }
        .expect("serve");
    });
    let channel = connect(addr).await;
    HealthClient::new(channel)
}

/// A tonic handler's failure reaches a tonic client with its code but without its message or
/// details, whether tonic answers it in the headers (a unary call's `Err`) or in the trailers
/// after streamed messages (a stream that fails midway).
#[tokio::test]
async fn error_hygiene_cleans_a_tonic_failure_in_headers_and_in_trailers() {
    const GENERIC: &str =
        "The server could not handle this request. Quote the request id when reporting it.";
    let request = || HealthCheckRequest {
        service: String::new(),
    };
    for hygiene in [false, true] {
        let mut client = serve_failing(hygiene).await;
        let unary = client.check(request()).await.expect_err("a failure");
        let mut stream = client
            .watch(request())
            .await
            .expect("a stream")
            .into_inner();
        let first = stream.message().await.expect("a message").expect("one");
        assert_eq!(first.status, ServingStatus::Serving as i32);
        let streamed = stream.message().await.expect_err("the failure");
        for status in [&unary, &streamed] {
            assert_eq!(status.code(), Code::Internal, "hygiene {hygiene}");
        }
        if hygiene {
            assert_eq!(unary.message(), GENERIC);
            assert_eq!(streamed.message(), GENERIC);
            assert!(streamed.details().is_empty());
        } else {
            // What the layer hides: tonic sends the handler's text and details as they are.
            assert_eq!(unary.message(), "pq: connection to 10.0.0.7:5432 refused");
            assert_eq!(
                streamed.message(),
                "pq: connection to 10.0.0.7:5432 refused"
            );
            assert_eq!(streamed.details(), b"stack: db.rs:42");
        }
    }
}
