//! Request validation per route and method: a required `Content-Type`, a body size limit, and
//! [JSON Schema](https://json-schema.org/) validation of JSON bodies.
//!
//! ```
//! use axum::{Router, body::Body, routing::post};
//! use http::{Method, Request, StatusCode};
//! use serde_json::json;
//! use tower::ServiceExt;
//! use tower_shield::validate::{Rule, ValidateRequestLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let new_post = json!({
//!     "type": "object",
//!     "properties": {
//!         "title": {"type": "string", "minLength": 1, "maxLength": 200},
//!         "body": {"type": "string", "maxLength": 10000}
//!     },
//!     "required": ["title"],
//!     "additionalProperties": false
//! });
//! let validate = ValidateRequestLayer::builder()
//!     .route(Method::POST, "/v2/posts", Rule::json(new_post).body_limit(64 * 1024))
//!     .build()?;
//! // The handler gets the body the client sent, byte for byte.
//! let app = Router::new()
//!     .route("/v2/posts", post(|body: String| async move { (StatusCode::CREATED, body) }))
//!     .route_layer(validate);
//!
//! let post = |body: &'static str| {
//!     Request::post("/v2/posts").header("content-type", "application/json").body(Body::from(body))
//! };
//! let res = app.clone().oneshot(post(r#"{"title":"Hello"}"#)?).await?;
//! assert_eq!(res.status(), StatusCode::CREATED);
//!
//! let res = app.clone().oneshot(post(r#"{"title":"","author":"eve"}"#)?).await?;
//! assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
//! let problem: serde_json::Value =
//!     serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 10_000).await?)?;
//! assert_eq!(problem["errors"], json!([
//!     {"pointer": "/title", "message": "value is shorter than 1 character"},
//!     {"pointer": "", "message": "Additional properties are not allowed ('author' was unexpected)"},
//! ]));
//!
//! let res = app.clone().oneshot(post("{not json")?).await?;
//! assert_eq!(res.status(), StatusCode::BAD_REQUEST);
//!
//! let text = Request::post("/v2/posts").header("content-type", "text/plain").body(Body::from("hi"))?;
//! assert_eq!(app.oneshot(text).await?.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
//! # Ok(()) }
//! ```
//!
//! Each route of a [`ValidateRequestLayer`] has a [`Rule`]; requests of other routes and
//! methods pass untouched, their bodies streamed. On a route with a rule, in this order:
//!
//! 1. **`Content-Type`** (when the rule names media types; [`Rule::json`] names
//!    `application/json`): missing, repeated, malformed or not accepted → `415`
//!    ([`unsupported-media-type`](crate::problem#unsupported-media-type)), with
//!    `accepted_media_types` in the problem and an `Accept-Post` (`POST`), `Accept-Patch`
//!    (`PATCH`) or `Accept` (other methods, RFC 9110 section 15.5.16) header. The
//!    media type is compared case-insensitively, parameters are parsed
//!    (`application/json; charset="UTF-8"` is fine); a JSON body declared in any charset but
//!    UTF-8 → `415` ([RFC 8259 section 8.1](https://www.rfc-editor.org/rfc/rfc8259#section-8.1)).
//! 2. **Size** (the rule's limit, else the layer's, 1 MiB by default): a `Content-Length` over
//!    the limit → `413` ([`payload-too-large`](crate::problem#payload-too-large)) at once,
//!    before a byte of the body is read. A body without `Content-Length` (chunked) is counted
//!    as it is read and refused the moment it passes the limit: nothing past the limit is
//!    buffered.
//! 3. **JSON Schema** (when the rule has a schema): a body that is not JSON → `400`
//!    ([`invalid-json`](crate::problem#invalid-json)), the parser's message (line and column)
//!    in `detail`; JSON nested deeper than 128 levels is such an error, never a stack
//!    overflow, and so is an object with a key twice (I-JSON, RFC 7493: parsers disagree on
//!    which value a repeated key has, so the schema could check a value the handler never
//!    reads). A body that breaks the schema → `422 Unprocessable Content`
//!    ([`validation-failed`](crate::problem#validation-failed)): the JSON is well-formed, its
//!    content is not what the route takes (RFC 9110 section 15.5.21). The problem has an
//!    `errors` member (an RFC 9457 extension) with one `{"pointer", "message"}` per violation —
//!    an [RFC 6901](https://www.rfc-editor.org/rfc/rfc6901) JSON Pointer into the body, and a
//!    message that never repeats the offending value — at most 20 (see
//!    [`max_errors`](ValidateRequestBuilder::max_errors)), in the order the schema is evaluated;
//!    `detail` gives the total. A document of more than 8,192 values
//!    ([`MAX_VALUES_FULLY_CHECKED`]) is checked up to its first violation, which is the one
//!    listed: counting them all would cost the server a hundred times the body's size. What the client wrote is bounded in each: messages of at most
//!    300 characters, quoting at most five unexpected property names of at most 64 characters
//!    (as many as fit) and counting the rest; pointers over 256 bytes shortened to their
//!    longest ancestor that fits ([`Violation`]).
//!
//! The inner service then gets the request with the same bytes (and trailers) the client sent,
//! as a [`ValidatedBody`]. The body is read once, up to the limit; nothing is copied when it
//! arrives in one piece. Nor is it copied to be validated: `jsonschema` validates a document
//! that points into the body for its strings and keeps each object as one sorted vector (a
//! `serde_json::Value` would allocate every string, key and map node, and free them all),
//! with the same verdicts and violations, which tests compare on JSONTestSuite's files and on
//! random documents.
//!
//! Schemas are compiled once, at [`build`](ValidateRequestBuilder::build): draft 2020-12 unless
//! the schema's `$schema` says otherwise (or [`draft`](ValidateRequestBuilder::draft) is set).
//! A schema that does not compile is a [`ConfigError`]; so is a `$ref` to another document,
//! as no schema is ever fetched.
//!
//! **Log-only mode** ([`log_only(true)`](ValidateRequestBuilder::log_only), as Kong's
//! request-validator can run) lets every request through and logs each one that would have
//! been refused at `WARN` (target `tower_shield::validate`, with the route, status, problem
//! type, detail and violations), to try a schema on live traffic before enforcing it.
//!
//! # Where it goes
//!
//! - **Inside the `Router`**, as a `route_layer` (`Router::route_layer` or
//!   `MethodRouter::route_layer`): routing ran, so the rule is found by axum's `MatchedPath`
//!   (the template, `/v2/posts/{id}`, compared as written; nested routers' templates include
//!   their prefix), and unknown routes get the Router's `404`, not a `415`. The simplest
//!   placement: the rules follow the routes as axum matched them.
//! - **Around the `Router`** (or any service): the rule is found by the request path, exact
//!   paths first, then templates in the order given; a path without a rule is passed on
//!   untouched, so unknown routes still get the Router's `404`. A `VersioningLayer` that strips
//!   `/v2` must then be outside it or the rules must name the stripped paths. This placement is
//!   the cheaper one: axum wraps each route under a `route_layer` in a second boxed service,
//!   which costs more than the validation's own work. In `benches/validate.rs` (a 2 KiB body,
//!   interleaved) the layer around the Router costs 103% of validating with `jsonschema` in the
//!   handler (106% at 256 bytes, 99% at 8 KiB), and 110% as a `route_layer`.
//!
//! Either way put it inside authentication and rate limiting: an anonymous or over-limit
//! client is refused before its body is read.
//!
//! # The service
//!
//! [`ValidateRequest`] is written by hand rather than on the crate's guard skeleton: a guard
//! decides on a request whatever its body type, so it can neither read the body nor hand the
//! inner service a new one. This service reads the body (`B: http_body::Body`) and calls the
//! inner service with `Request<ValidatedBody<B>>`; axum's `Router` and `Route` take it as they
//! take any body. A body already in memory (axum's `Body::from(Bytes)`, a buffered body) is
//! read and judged within `call`, and the inner service called at once; a body still arriving
//! is read by the response future, in place (no task, no boxing but the body's own box, which
//! log-only mode needs to pass an oversized body on). A schema is checked with `is_valid`
//! first: the violations are only gathered for a body that fails.

mod body;
mod builder;
mod doc;
mod media;
mod read;
mod rejection;
mod route;
mod service;

pub use body::ValidatedBody;
pub use builder::{Rule, ValidateRequestBuilder};
pub use rejection::{
    MAX_MESSAGE_LEN, MAX_NAME_LEN, MAX_NAMES, MAX_POINTER_LEN, MediaTypeRefusal, ValidationError,
    Violation,
};
pub use service::{ResponseFuture, ValidateRequest, ValidateRequestLayer};

/// The body limit of a rule that sets none: 1 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;

/// How many violations a `422` lists by default.
pub const DEFAULT_MAX_ERRORS: usize = 20;

/// The most values (the document, and every array item and member value in it) a JSON body
/// may hold for all its violations to be counted and listed (up to
/// [`max_errors`](ValidateRequestBuilder::max_errors)): 8,192. A larger document that breaks
/// the schema gets its first violation only (the problem's `detail` says so): `jsonschema`
/// gathers every violation before it yields one, a few hundred bytes each, and a body of a
/// million wrong array items would cost the server a hundred times its size.
pub const MAX_VALUES_FULLY_CHECKED: usize = 8192;

/// A JSON Schema draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Draft {
    /// Draft 4.
    Draft4,
    /// Draft 6.
    Draft6,
    /// Draft 7.
    Draft7,
    /// Draft 2019-09.
    Draft201909,
    /// Draft 2020-12, the default.
    Draft202012,
}

impl From<Draft> for jsonschema::Draft {
    fn from(draft: Draft) -> Self {
        match draft {
            Draft::Draft4 => Self::Draft4,
            Draft::Draft6 => Self::Draft6,
            Draft::Draft7 => Self::Draft7,
            Draft::Draft201909 => Self::Draft201909,
            Draft::Draft202012 => Self::Draft202012,
        }
    }
}

/// A configuration that [`ValidateRequestBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No route: the layer would validate nothing.
    #[error("request validation: no route was given")]
    NoRoute,
    /// A route that is not a path or an axum route template.
    #[error("request validation: invalid route {route:?}: {reason}")]
    InvalidRoute {
        /// The route as given.
        route: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same method and route twice.
    #[error("request validation: {method} {route} has two rules")]
    DuplicateRoute {
        /// The method.
        method: String,
        /// The route.
        route: String,
    },
    /// A media type that is not `type/subtype`, or is a range (`application/*`, `*/*`,
    /// `application/*+json`): list the media types accepted.
    #[error("request validation: {media_type:?} is not a media type (type/subtype, no *)")]
    InvalidMediaType {
        /// The media type as given.
        media_type: String,
    },
    /// A schema that does not compile: invalid for its draft, or with a reference that cannot
    /// be resolved (no schema is fetched from the network or the file system).
    #[error("request validation: the schema of {route} is invalid: {reason}")]
    InvalidSchema {
        /// The route, as `POST /v2/posts`.
        route: String,
        /// What the compiler said.
        reason: String,
    },
    /// [`max_errors(0)`](ValidateRequestBuilder::max_errors): a `422` would list nothing.
    #[error("request validation: max_errors must be at least 1")]
    ZeroMaxErrors,
}

#[cfg(test)]
mod tests;
