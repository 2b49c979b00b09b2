//! Helpers shared by the integration tests: calling a Router, serving it on a real socket, and
//! speaking raw HTTP/1.1 to it (so tests can send bytes a typed client would refuse).
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// The status, headers and whole body of one call of `app`.
pub async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let res = app
        .clone()
        .oneshot(req)
        .await
        .expect("Router is infallible");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}

pub fn request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

pub fn get_with(uri: &str, name: &str, value: &[u8]) -> Request<Body> {
    Request::get(uri)
        .header(
            name,
            http::HeaderValue::from_bytes(value).expect("header value"),
        )
        .body(Body::empty())
        .expect("request")
}

/// Serves `app` on a fresh loopback port; the server lives as long as the test's runtime.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| std::str::from_utf8(v).expect("ascii header"))
    }

    /// Asserts the headers of `SecurityHeadersLayer::json_api()`, and no `Server` header.
    pub fn assert_json_api_headers(&self) {
        assert_eq!(
            self.header("strict-transport-security"),
            Some("max-age=31536000; includeSubDomains; preload")
        );
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            self.header("cache-control"),
            Some("no-store, no-cache, must-revalidate, private")
        );
        assert_eq!(
            self.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(self.header("server"), None);
    }

    pub fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Sends `head` (request line and headers, without the final blank line) over a new connection
/// and reads the whole response (the request asks the server to close the connection).
pub async fn raw(addr: SocketAddr, head: &[u8]) -> RawResponse {
    raw_with_body(addr, head, b"").await
}

/// [`raw`] with a request body after the head.
pub async fn raw_with_body(addr: SocketAddr, head: &[u8], body: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nHost: test\r\nConnection: close\r\n\r\n");
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("write");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = &bytes[..split];
    let mut body = bytes[split + 4..].to_vec();
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = std::str::from_utf8(lines.next().expect("status line")).expect("ascii");
    let status = status_line[9..12].parse().expect("status code");
    let headers: Vec<(String, Vec<u8>)> = lines
        .map(|line| {
            let colon = line.iter().position(|&b| b == b':').expect("colon");
            let name = String::from_utf8(line[..colon].to_vec())
                .expect("name")
                .to_ascii_lowercase();
            let value = line[colon + 1..].trim_ascii().to_vec();
            (name, value)
        })
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.as_slice() == b"chunked")
    {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).expect("hex"), 16)
            .expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Whether `s` is a lowercase hyphenated UUID of version 7.
pub fn is_uuid_v7(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
        && &s[14..15] == "7"
        && matches!(&s[19..20], "8" | "9" | "a" | "b")
}
