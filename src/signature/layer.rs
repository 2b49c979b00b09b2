//! The layer and its decision on each request: the head first (headers, timestamp, size),
//! then the body, read whole up to the limit, then the signature, then the replay check.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, header::CONTENT_LENGTH};
use sha2::{Digest as _, Sha256};
use tower_layer::Layer;

use super::body::{ReadError, SignedBody};
use super::http_sig;
use super::key::VerifyingKey;
use super::rejection::{Failure, InvalidSignature, PayloadTooLarge, SignatureUnavailable};
use super::{Scheme, github, standard_webhooks, stripe};
use crate::auth::{AuthMethod, Principal};
use crate::core::{Answer, BoxFuture, SharedClock};
use crate::guard::{BodyGuard, Decision, Guard, guarded_service};
use crate::problem::{internal_error, rejection_response};
use crate::rate_limit::{Store, StoreError};

pub(crate) struct Config {
    pub(crate) scheme: Scheme,
    pub(crate) keys: Vec<VerifyingKey>,
    /// Seconds.
    pub(crate) tolerance: u64,
    pub(crate) max_body: usize,
    pub(crate) replay: Option<Arc<dyn Store>>,
    pub(crate) clock: SharedClock,
    pub(crate) http: http_sig::Policy,
}

/// Verifies request signatures; see the [module docs](super).
#[derive(Clone)]
pub struct SignatureLayer {
    pub(crate) config: Arc<Config>,
}

impl fmt::Debug for SignatureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("SignatureLayer")
            .field("scheme", &c.scheme)
            .field("keys", &c.keys)
            .field("tolerance_secs", &c.tolerance)
            .field("max_body", &c.max_body)
            .field("replay_protection", &c.replay.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SignatureLayer {
    type Service = Signature<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Signature {
            inner,
            guard: self.clone(),
        }
    }
}

guarded_service! {
    /// The service of a [`SignatureLayer`]: it takes any request body, and hands the inner
    /// service the verified one, read whole ([`SignedBody`]).
    service Signature<S> { guard: SignatureLayer, body: SignedBody }
    /// The response future of [`Signature`].
    future ResponseFuture;
}

/// What the headers said, before the body is read.
#[derive(Debug)]
pub(crate) enum Head {
    StandardWebhooks(standard_webhooks::Head),
    Stripe(stripe::Head),
    GitHub(github::Head),
    Http(http_sig::Head),
}

/// What a wait yields.
#[derive(Debug)]
pub(crate) enum Resumed {
    /// The body, read (or not).
    Read(Box<Head>, Result<Bytes, ReadError>),
    /// The replay store's answer.
    Remembered(Result<bool, StoreError>),
}

/// A verified signature: whose key, and what identifies the message against replays.
pub(crate) struct Verified<'k> {
    pub(crate) key: &'k VerifyingKey,
    pub(crate) replay: Option<Vec<u8>>,
}

impl SignatureLayer {
    fn now_secs(&self) -> u64 {
        self.config.clock.unix_secs()
    }

    /// Reads the headers (and checks the timestamp) before the body is read.
    fn head<B>(&self, req: &Request<B>) -> Result<Head, Failure> {
        let c = &self.config;
        let headers = req.headers();
        let now = self.now_secs();
        Ok(match c.scheme {
            Scheme::StandardWebhooks => {
                let head = standard_webhooks::parse_head(headers)?;
                super::rejection::check_tolerance(head.timestamp, now, c.tolerance)?;
                Head::StandardWebhooks(head)
            }
            Scheme::Stripe => {
                let head = stripe::parse_head(headers)?;
                super::rejection::check_tolerance(head.timestamp, now, c.tolerance)?;
                Head::Stripe(head)
            }
            Scheme::GitHub => Head::GitHub(github::parse_head(headers, c.replay.is_some())?),
            Scheme::HttpMessageSignatures => Head::Http(http_sig::parse_head(
                headers,
                &c.http,
                &c.keys,
                now,
                c.tolerance,
            )?),
        })
    }

    /// Verifies the signature over the body.
    fn verify<'k>(
        &'k self,
        head: &Head,
        req: &Request<SignedBody>,
        body: &[u8],
    ) -> Result<Verified<'k>, Failure> {
        let keys = &self.config.keys;
        let scoped = |owner: &str, what: &[u8]| {
            let mut key = Vec::with_capacity(owner.len() + what.len() + 8);
            key.extend_from_slice(self.config.scheme.tag().as_bytes());
            key.push(0);
            key.extend_from_slice(owner.as_bytes());
            key.push(0);
            key.extend_from_slice(what);
            key
        };
        match head {
            Head::StandardWebhooks(h) => {
                let key = standard_webhooks::verify(h, body, keys)?;
                Ok(Verified {
                    key,
                    replay: Some(scoped(&key.owner, h.id.as_bytes())),
                })
            }
            Head::Stripe(h) => {
                let key = stripe::verify(h, body, keys)?;
                // No message id in the header: the message is its timestamp and body, which
                // the (deterministic) HMAC identifies; hashed, so no tag is stored.
                let ts = h.timestamp.to_string();
                let tag = key
                    .hmac_tag(&[ts.as_bytes(), b".", body])
                    .ok_or(Failure::NoMatchingSignature)?;
                let id = Sha256::digest(tag.as_ref());
                Ok(Verified {
                    key,
                    replay: Some(scoped(&key.owner, &id)),
                })
            }
            Head::GitHub(h) => {
                let key = github::verify(h, body, keys)?;
                Ok(Verified {
                    key,
                    replay: h
                        .delivery
                        .as_ref()
                        .map(|d| scoped(&key.owner, d.as_bytes())),
                })
            }
            Head::Http(h) => {
                let (key, id) = http_sig::verify(h, req, body, keys)?;
                Ok(Verified {
                    key,
                    replay: Some(scoped(&key.owner, &id)),
                })
            }
        }
    }

    fn refuse<B>(req: &Request<B>, failure: Failure) -> Decision<Self> {
        tracing::info!(
            target: "tower_shield::signature",
            failure = %failure,
            "request signature refused"
        );
        Decision::Answer(rejection_response(req, InvalidSignature::new(failure)))
    }

    fn remembered<B>(req: &Request<B>, answer: Result<bool, StoreError>) -> Decision<Self> {
        match answer {
            Ok(true) => Decision::Pass(()),
            Ok(false) => Self::refuse(req, Failure::Replayed),
            Err(e) => {
                tracing::warn!(
                    target: "tower_shield::signature",
                    error = %e,
                    "replay store unavailable: refusing the request"
                );
                Decision::Answer(rejection_response(req, SignatureUnavailable(())))
            }
        }
    }
}

impl Guard for SignatureLayer {
    type State = ();
    type Wait = BoxFuture<Resumed>;
    type Resumed = Resumed;

    /// Not used: [`Signature`] decides through [`BodyGuard`], which sees the body. A request
    /// that got here anyway is refused, never let through unverified.
    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        Decision::Answer(rejection_response(req, internal_error()))
    }

    fn resume<B>(&self, req: &mut Request<B>, _: Resumed) -> Decision<Self> {
        Decision::Answer(rejection_response(req, internal_error()))
    }
}

impl BodyGuard for SignatureLayer {
    type Body = SignedBody;

    fn wrap<B>(&self, body: B) -> SignedBody
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        SignedBody::unread(body, self.config.max_body)
    }

    fn decide_body(&self, req: &mut Request<SignedBody>) -> Decision<Self> {
        let limit = self.config.max_body;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Decision::Answer(rejection_response(req, PayloadTooLarge { limit }));
        }
        let head = match self.head(req) {
            Ok(head) => Box::new(head),
            Err(failure) => return Self::refuse(req, failure),
        };
        match req.body_mut().take_read() {
            Some(read) => {
                let wait: BoxFuture<Resumed> =
                    Box::pin(async move { Resumed::Read(head, read.await) });
                Decision::Wait(wait)
            }
            None => {
                // Already read (a SignedBody given to the layer directly): verify it as it is.
                let bytes = req.body().bytes().cloned().unwrap_or_default();
                self.resume_body(req, Resumed::Read(head, Ok(bytes)))
            }
        }
    }

    fn resume_body(&self, req: &mut Request<SignedBody>, resumed: Resumed) -> Decision<Self> {
        let (head, read) = match resumed {
            Resumed::Read(head, read) => (head, read),
            Resumed::Remembered(answer) => return Self::remembered(req, answer),
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge) => {
                let limit = self.config.max_body;
                return Decision::Answer(rejection_response(req, PayloadTooLarge { limit }));
            }
            Err(ReadError::Failed) => return Self::refuse(req, Failure::UnreadableBody),
        };
        let verified = match self.verify(&head, req, &bytes) {
            Ok(v) => v,
            Err(failure) => return Self::refuse(req, failure),
        };
        let mut principal = Principal::builder(&*verified.key.owner, AuthMethod::Signature);
        if let Some(id) = &verified.key.id {
            principal = principal.key_id(&**id);
        }
        req.extensions_mut().insert(principal.build());
        *req.body_mut() = SignedBody::new(bytes);
        let (Some(store), Some(id)) = (&self.config.replay, verified.replay) else {
            return Decision::Pass(());
        };
        // Remembered for twice the tolerance: a timestamp is accepted from `tolerance` before
        // now to `tolerance` after, so a message can come back within that span.
        let ttl_us = self
            .config
            .tolerance
            .saturating_mul(2_000_000)
            .max(1_000_000);
        match store.remember(&id, ttl_us) {
            Answer::Ready(answer) => Self::remembered(req, answer),
            Answer::Later(fut) => {
                let wait: BoxFuture<Resumed> =
                    Box::pin(async move { Resumed::Remembered(fut.await) });
                Decision::Wait(wait)
            }
        }
    }
}
