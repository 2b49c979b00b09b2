//! Error hygiene: [`ErrorHygieneLayer`] makes sure a failing handler tells the client nothing
//! about the server: no stack trace, no internal path, no database message, no `Server` or
//! `X-Powered-By` banner.
//!
//! ```
//! use axum::{Router, body::Body, http::StatusCode, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_shield::{ErrorHygieneLayer, RequestIdLayer};
//!
//! async fn failing() -> &'static str {
//!     panic!("index out of bounds at src/posts.rs:42")
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hygiene = ErrorHygieneLayer::builder().strip_header("x-backend-server").build()?;
//! let app = Router::new()
//!     .route("/posts", get(|| async {
//!         (StatusCode::SERVICE_UNAVAILABLE, [("x-backend-server", "db-3")],
//!          "connection refused: postgres://app@10.0.0.7/posts")
//!     }))
//!     .route("/panic", get(failing))
//!     .layer(hygiene)
//!     .layer(RequestIdLayer::new());
//!
//! let res = app.clone().oneshot(Request::get("/posts").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE); // the status is kept
//! assert!(res.headers().get("x-backend-server").is_none());
//! let id = res.headers()["x-request-id"].to_str()?.to_owned();
//! let body = axum::body::to_bytes(res.into_body(), 4096).await?;
//! let problem: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(problem["title"], "Server error");
//! assert_eq!(problem["request_id"], id.as_str()); // and the log line has it too
//! assert!(!String::from_utf8_lossy(&body).contains("postgres"));
//!
//! let res = app.oneshot(Request::get("/panic").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
//! let body = axum::body::to_bytes(res.into_body(), 4096).await?;
//! assert!(!String::from_utf8_lossy(&body).contains("src/posts.rs"));
//! # Ok(()) }
//! ```
//!
//! - A **`5xx` response** of the inner service keeps its status and its headers (`Retry-After`
//!   stays), but its body and the headers that describe it (`Content-Type`, `Content-Length`,
//!   `Content-Encoding`, `ETag`, ...) are replaced by a generic
//!   [`server-error`](crate::problem#server-error) problem with the request id, rendered by the
//!   request's [renderer](crate::problem). The first bytes of the original body (4 KiB by
//!   default, see [`ErrorHygieneBuilder::log_body_limit`]) are logged at `ERROR` (the
//!   `error_hygiene.replaced` [security event](crate::events), the excerpt in
//!   `tower_shield.detail`, with the status, method, path and request id), then the rest is dropped unread: the problem is sent
//!   once those bytes (or the body's end) have arrived, or after one second
//!   ([`ErrorHygieneBuilder::log_body_timeout`]) with what has.
//! - A `5xx` that already carries a [`Problem`](crate::problem::Problem) in its extensions (a
//!   rejection of this crate's layers, or a `Problem` a handler returned) is kept, unless
//!   [`keep_problems(false)`](ErrorHygieneBuilder::keep_problems).
//! - A **gRPC server failure** answered in the response's headers (`grpc-status` 2
//!   `UNKNOWN`, 4 `DEADLINE_EXCEEDED`, 13 `INTERNAL`, 14 `UNAVAILABLE` or 15 `DATA_LOSS` in a
//!   `200`, the codes of HTTP's `500`, `503` and `504`, as tonic answers a handler's
//!   `Err(Status)`) keeps its code, but its `grpc-message` becomes the generic detail and its
//!   `grpc-status-details-bin` is removed; the original message is logged at `ERROR`. Other
//!   codes are the client's own and pass whole. A status sent in **trailers**, after streamed
//!   messages (a server-streaming call that fails midway), gets the same cleaning: a gRPC
//!   response (`Content-Type: application/grpc…`) without a status in its headers has its
//!   trailers passed through the layer before they leave; the messages are not touched.
//!   (gRPC-Web carries its trailers inside the body: put this layer inside the gRPC-Web
//!   translation for them to be seen.)
//! - A **panic** of the inner service, in `call` or while its future runs, is caught (as
//!   tower-http's `CatchPanicLayer` does, with `catch_unwind` around each poll) and answered
//!   `500` with the same problem; its message is logged at `ERROR`, never sent. The process's
//!   panic hook still runs (and prints the message to stderr by default).
//! - **`Server`, `X-Powered-By`** and the headers given to
//!   [`strip_header`](ErrorHygieneBuilder::strip_header) are removed from every response.
//!   [`SecurityHeadersLayer`](crate::SecurityHeadersLayer) removes the first two as well; both
//!   can run.
//!
//! Put it inside the [`RequestIdLayer`](crate::RequestIdLayer) (so the problem and the log line
//! carry the id) and around everything whose failures it should hide: the `Router`, and the
//! layers inside it.
//!
//! Unlike the other layers, this one does not stand on the crate's guard skeleton: the
//! skeleton's response hook sees a response synchronously and can only change its head, while
//! this layer must read part of a body (asynchronously) before answering with another one, and
//! must catch panics around the inner future's polls. Its service and response future are
//! written here by hand; the response body is the crate's
//! [`ResponseBody`](crate::body::ResponseBody), as for every other layer.

mod builder;
mod layer;
mod replace;

pub use builder::{
    DEFAULT_LOG_BODY_LIMIT, DEFAULT_LOG_BODY_TIMEOUT, ErrorHygieneBuilder, MAX_LOG_BODY_LIMIT,
};
pub use layer::{ErrorHygiene, ErrorHygieneLayer, ResponseFuture};

/// A configuration that [`ErrorHygieneBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A header name to strip that is not a valid header name.
    #[error("error hygiene: invalid header name {0:?}")]
    InvalidHeaderName(String),
    /// `Content-Type`, `Content-Length` or `Transfer-Encoding` to strip: the client needs them
    /// to read any body.
    #[error("error hygiene: {0:?} describes the body and cannot be stripped")]
    BodyHeader(String),
    /// A log excerpt larger than [`MAX_LOG_BODY_LIMIT`].
    #[error("error hygiene: a log excerpt of {limit} bytes is over the maximum of {max}")]
    LogBodyLimit {
        /// The limit asked for.
        limit: usize,
        /// The maximum.
        max: usize,
    },
}

#[cfg(test)]
mod tests;
