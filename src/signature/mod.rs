//! Signed requests: [`SignatureLayer`] verifies webhook and HTTP message signatures — so a
//! handler only ever sees requests signed by a key it trusts, sent once, recently.
//!
//! ```
//! use axum::{Router, body::Bytes, routing::post};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::signature::SignatureLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let webhooks = SignatureLayer::standard_webhooks()
//!     .secret("billing", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//!     .build()?;
//! let app = Router::new()
//!     .route("/webhooks", post(|body: Bytes| async move { format!("{} bytes", body.len()) }))
//!     .layer(webhooks);
//!
//! // Unsigned: refused with a `signature-invalid` problem that says why.
//! let req = Request::post("/webhooks").body(axum::body::Body::from("{}"))?;
//! let res = app.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! # Ok(()) }
//! ```
//!
//! # Schemes
//!
//! - **[Standard Webhooks](https://www.standardwebhooks.com/)**: `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature`, a space-separated list of `v1,<base64>`
//!   HMAC-SHA256 signatures of `id.timestamp.body` (secrets `whsec_<base64>`) or `v1a,<base64>`
//!   Ed25519 ones (public keys `whpk_<base64>`). Any listed signature that matches any key
//!   passes, for rotation.
//! - **Stripe**: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">[,v1=...]`, hex
//!   in lowercase and items without spaces, as Stripe writes them (a `v1` that is not 64
//!   lowercase hex digits is skipped when another can be checked, as Stripe's libraries do).
//! - **GitHub**: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, hex in
//!   lowercase; there is no timestamp, and `X-GitHub-Delivery` is not signed (a replay can
//!   carry any id), so replays are refused by the body: the same body within twice the
//!   tolerance is a replay.
//! - **[RFC 9421](https://www.rfc-editor.org/rfc/rfc9421) HTTP Message Signatures**:
//!   `Signature-Input` and `Signature`, with derived components (`@method`, `@authority`,
//!   `@path`, `@query`, `@target-uri`, ...) and header components; parameters `created`,
//!   `expires`, `nonce`, `keyid`, `alg`, `tag`; algorithms `hmac-sha256`, `ed25519`,
//!   `ecdsa-p256-sha256`, `rsa-pss-sha512`, `rsa-v1_5-sha256`, keys found by `keyid`; the body
//!   covered through an [RFC 9530](https://www.rfc-editor.org/rfc/rfc9530) `Content-Digest`
//!   (`sha-256` or `sha-512`; a refusal about the digest carries `Want-Content-Digest:
//!   sha-256=10, sha-512=10`, RFC 9530 section 4).
//!   `@authority` is normalized (lowercase, no default port); `@target-uri` is the authority as
//!   sent with the path and query; a request in origin form is taken as `https`; a repeated
//!   `@query-param` name is refused (RFC 9421 section 2.2.8: sign `@query` instead).
//!
//! # What is checked
//!
//! - The headers, before the body is read: a missing, duplicated, over-long or malformed header,
//!   more than 16 signatures, or a timestamp further than the
//!   [tolerance](SignatureBuilder::tolerance) from now (default 5 minutes, either way) is a
//!   `401` `signature-invalid` problem whose detail names the rule that failed — never a
//!   secret or the signature expected. Nothing a client sends makes the parsers panic or work
//!   without bound.
//! - The body, read whole up to [`max_body`](SignatureBuilder::max_body) (default 1 MiB): a
//!   larger one is a `413` `payload-too-large` problem, by its `Content-Length` or, sent
//!   chunked, as soon as it passes the limit (nothing more is buffered). The inner service gets
//!   the verified bytes unchanged, as a [`SignedBody`].
//! - The signature, compared in constant time, against every key configured (several at once
//!   for rotation).
//! - Replays: what identifies the message — the `webhook-id` (Standard Webhooks), the RFC 9421
//!   `nonce` (or a digest of the signature base), the timestamp and body (Stripe) or the body
//!   (GitHub, whose `X-GitHub-Delivery` id is not signed) — is remembered for twice the
//!   tolerance and a second, on the rate-limit [`Store`](crate::rate_limit::Store)
//!   (`remember`): in memory by default, or a [`RedisStore`](crate::rate_limit::RedisStore)
//!   (`SET NX PX`, atomic) so a replay sent to another instance is refused too. When the store
//!   is down the request is refused (`503`). The identity is the same whichever configured key
//!   verifies the message (not scoped by the key's owner): a replay that keeps only an old
//!   secret's signature of a message signed for rotation is refused too. An RFC 9421 message
//!   signed under several labels by different keys is remembered by the signature that
//!   verified; give it a `nonce` to have it refused whichever signature a replay keeps.
//!   A message the inner service answers with an error status (`4xx`, `5xx`: the handler
//!   failed, or a layer inside refused it) is forgotten (`Store::forget_remembered`), so the
//!   sender's retry of it (Standard Webhooks and Stripe retry what was not answered `2xx`,
//!   with the same id) reaches the handler; a message answered `2xx` is remembered until the
//!   span ends. Later retries of a delivered message (a lost response) are for the handler to
//!   recognize by their id, as Standard Webhooks asks of receivers.
//!
//! A verified request carries a [`Principal`](crate::Principal) with method
//! [`Signature`](crate::auth::AuthMethod::Signature) and the key's owner as subject, so
//! [`ScopeLayer`](crate::ScopeLayer)s and rate limits keyed by principal apply.
//!
//! Signing outbound requests is [`crate::client`]'s.
//!
//! The files: `builder.rs` checks the configuration, `layer.rs` decides on each request,
//! `body.rs` reads the body, `key.rs` holds keys and algorithms, `rejection.rs` the failures and
//! their problems, one file per scheme, and `http_sig/` RFC 9421 (structured fields, the
//! signature base) with `content_digest.rs` (RFC 9530).

pub(crate) mod body;
mod builder;
pub(crate) mod github;
mod hmac;
pub(crate) mod http_sig;
mod key;
mod layer;
mod rejection;
pub(crate) mod standard_webhooks;
pub(crate) mod stripe;

pub use body::SignedBody;
pub use builder::{DEFAULT_MAX_BODY, DEFAULT_REPLAY_KEYS, DEFAULT_TOLERANCE, SignatureBuilder};
pub use key::{Algorithm, SigningKey, VerifyingKey};
pub use layer::{ResponseFuture, Signature, SignatureLayer};
pub use rejection::{Failure, InvalidSignature, PayloadTooLarge, SignatureUnavailable};

/// A signature scheme a [`SignatureLayer`] verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// [Standard Webhooks](https://www.standardwebhooks.com/).
    StandardWebhooks,
    /// Stripe's `Stripe-Signature`.
    Stripe,
    /// GitHub's `X-Hub-Signature-256`.
    GitHub,
    /// RFC 9421 HTTP Message Signatures.
    HttpMessageSignatures,
}

impl Scheme {
    /// A short name, for replay keys and logs.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Stripe => "stripe",
            Self::GitHub => "github",
            Self::HttpMessageSignatures => "http-message-signatures",
        }
    }
}

/// A configuration that [`SignatureBuilder::build`] refuses, or a key that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No key or secret: every request would be refused.
    #[error("signature: no key or secret is configured")]
    NoKey,
    /// A key, secret or PEM that does not parse (what was expected).
    #[error("signature: invalid key: {0}")]
    InvalidKey(&'static str),
    /// A key that cannot sign for the scheme (a public key for Stripe, an RFC 9421 key without
    /// an id).
    #[error("signature: a key does not fit the scheme {0:?} (RFC 9421 keys need an id)")]
    KeyNotForScheme(Scheme),
    /// A tolerance under one second.
    #[error("signature: the timestamp tolerance must be at least one second")]
    ZeroTolerance,
    /// A body limit of zero.
    #[error("signature: the body limit must not be zero")]
    ZeroMaxBody,
    /// RFC 9421 signatures without a required `created` while replays are refused: a signature
    /// with neither `created` nor a near `expires` stays valid past the time its message is
    /// remembered, and could be replayed then.
    #[error(
        "signature: replay protection needs RFC 9421's created parameter: keep \
         require_created(true), or turn replay_protection(false)"
    )]
    ReplayNeedsCreated,
    /// An RFC 9421 component identifier that does not parse.
    #[error("signature: invalid component identifier {0:?}")]
    InvalidComponent(String),
    /// An outbound RFC 9421 parameter that no structured field can carry: a label that is
    /// not a key (a lowercase letter or `*`, then lowercase letters, digits, `_-.*`), or a key
    /// id or tag that is not printable ASCII.
    #[error("signature: the {name} {value:?} cannot be written in a signature header: {reason}")]
    InvalidParameter {
        /// `label`, `keyid` or `tag`.
        name: &'static str,
        /// The value configured.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests;
