//! Security events: the `tracing` events every layer emits for its decisions, with the
//! OpenTelemetry HTTP semantic-convention attribute names, one vocabulary for all of them.
//! This module holds no code: it documents what a log pipeline or a SIEM receives.
//!
//! ```
//! use tracing_subscriber::{EnvFilter, fmt};
//!
//! // Refusals at INFO, throttled attempts and store failures at WARN, error hygiene's
//! // replacements at ERROR: `tower_shield=info` keeps every event but the DEBUG ones.
//! let subscriber = fmt()
//!     .with_env_filter(EnvFilter::new("tower_shield=info"))
//!     .finish();
//! # let _ = subscriber;
//! ```
//!
//! No field holds what a client sent as a secret: no credential, no signature, no password,
//! no query string. `tower_shield.detail` of error hygiene's events holds what the
//! application wrote (a replaced body's first bytes, a panic's message): the layer keeps it
//! out of the response and puts it in the log, where the operator can read it.
//!
//! | field | when |
//! |---|---|
//! | `http.request.method` | always: a method of RFC 9110, PATCH or QUERY, else `_OTHER` (as the conventions require: the values stay a bounded set) |
//! | `http.request.method_original` | when the method is `_OTHER`: the method as sent |
//! | `url.path` | always (never the query, which may hold secrets) |
//! | `http.route` | when axum's `MatchedPath` is known |
//! | `http.response.status_code` | when the layer answers |
//! | `client.address` | when known (the resolved client IP, else the socket peer) |
//! | `user.id` | the principal's subject, or the claimed identity of a failure |
//! | `error.type` | on failures only (never on a request that went through): a short code of what failed — `missing`, `invalid`, `expired`, `unsupported_scheme`, `invalid_request`, `unavailable` or `overloaded` (authentication), `insufficient_scope` or `anonymous` (scopes), `rate_limited`, `origin_not_allowed` (CORS), a problem type's slug (login throttling, versioning), or a store error's kind (`timeout`, `protocol`, `unavailable`) |
//! | `rpc.grpc.status_code` | error hygiene's replaced gRPC failures: the status code |
//! | `tower_shield.event` | always: `auth.success`, `auth.failure`, ... (the table below) |
//! | `tower_shield.problem` | on refusals: the problem type's slug |
//! | `tower_shield.*` | the layer's own: `auth.method`, `limit`, `retry_after`, `key`, `reason` (what failed, in words or a code), `rule` (a validation route), `detail` (a validation's violations, error hygiene's excerpt or panic message, recorded with `Debug`, which escapes control characters), `truncated` (whether that excerpt was cut), `request_id` |
//!
//! | `tower_shield.event` | target | level | `error.type` |
//! |---|---|---|---|
//! | `auth.success`, `auth.failure`, `auth.anonymous`, `auth.throttled`, `scope.refused` | `tower_shield::auth` | INFO (anonymous DEBUG, throttled WARN) | see above |
//! | `rate_limit.refused` | `tower_shield::rate_limit` | INFO | `rate_limited` |
//! | `cors.refused` | `tower_shield::cors` | INFO | `origin_not_allowed` |
//! | `versioning.rejected` | `tower_shield::versioning` | DEBUG | the problem's slug |
//! | `store.failure` | `tower_shield::store` | WARN | the store error's kind |
//! | `signature.refused` | `tower_shield::signature` | INFO | the rule that failed: `missing_header`, `duplicated_header`, `malformed_header`, `outside_tolerance`, `expired`, `no_matching_signature`, `unknown_key`, `algorithm_mismatch`, `missing_component`, `absent_component`, `digest_mismatch`, `replayed`, `unreadable_body`, `payload_too_large` |
//! | `csrf.refused` | `tower_shield::csrf` | INFO | `cross_origin` (`tower_shield.reason`: `sec_fetch_site`, `origin_not_host`, `several_origins`) |
//! | `ip_filter.refused` | `tower_shield::ip_filter` | INFO | `ip_denied`, `ip_not_allowed`, `ip_unknown` |
//! | `validation.refused` | `tower_shield::validate` | INFO (WARN in log-only mode) | the problem's slug (none in log-only mode, where the request goes through) |
//! | `error_hygiene.replaced`, `error_hygiene.panic` | `tower_shield::error_hygiene` | ERROR | `server_error`, `grpc_server_error`, `panic` |
