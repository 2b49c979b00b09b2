//! The layer and its decision on each request: the head first (headers, timestamp, size),
//! then the body, read whole up to the limit, then the signature, then the replay check.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, header::CONTENT_LENGTH};
use sha2::{Digest as _, Sha256};
use tower_layer::Layer;

use super::body::{Read, ReadError, SignedBody};
use super::http_sig;
use super::key::VerifyingKey;
use super::rejection::{Failure, InvalidSignature, PayloadTooLarge, SignatureUnavailable};
use super::{Scheme, github, standard_webhooks, stripe};
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

/// What a decision waits on: the body's read (with what the headers said, kept inline), or
/// the replay store. No box of its own: the skeleton's one box holds it.
pub(crate) enum Wait {
    /// The body, being read; the head is taken when it is.
    Read(Option<Head>, Read),
    /// The replay store's answer, and the key it was asked to remember.
    Remember(BoxFuture<Result<bool, StoreError>>, Option<Vec<u8>>),
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read(..) => "Wait::Read",
            Self::Remember(..) => "Wait::Remember",
        })
    }
}

impl Future for Wait {
    type Output = Resumed;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resumed> {
        match self.get_mut() {
            Self::Read(head, read) => Pin::new(read)
                .poll(cx)
                .map(|read| Resumed::Read(head.take(), read)),
            Self::Remember(answer, key) => answer
                .as_mut()
                .poll(cx)
                .map(|answer| Resumed::Remembered(answer, key.take())),
        }
    }
}

/// What a wait yields.
#[derive(Debug)]
pub(crate) enum Resumed {
    /// The body, read (or not), with the head (`None` only if polled again after it).
    Read(Option<Head>, Result<Bytes, ReadError>),
    /// The replay store's answer, with the key remembered (`None` only if polled again).
    Remembered(Result<bool, StoreError>, Option<Vec<u8>>),
}

/// A verified signature: whose key, and what identifies the message against replays (made
/// only when replays are checked).
pub(crate) struct Verified<'k, 'h> {
    pub(crate) key: &'k VerifyingKey,
    pub(crate) replay: Replay<'h>,
}

/// What identifies a verified message against replays: the same whichever key verified it, so
/// a replay that keeps only one of a message's signatures (an old secret's, in a rotation) is
/// the same message.
pub(crate) enum Replay<'h> {
    /// These bytes (a message id).
    Id(&'h [u8]),
    /// A tag (Stripe, GitHub): hashed before it is stored, so no tag is.
    Tag([u8; 32]),
    /// Owned bytes (an RFC 9421 nonce, or a digest of the signature base).
    Owned(Vec<u8>),
}

impl SignatureLayer {
    fn now_secs(&self) -> u64 {
        self.config.clock.unix_secs()
    }

    /// Whether a declared `Content-Length` is over the limit (refused before anything is read).
    fn declared_too_large(&self, content_length: Option<&http::HeaderValue>) -> bool {
        content_length
            .and_then(crate::core::util::content_length)
            .is_some_and(|n| n > self.config.max_body as u64)
    }

    fn too_large<B>(&self, req: &Request<B>) -> Decision<Self> {
        let limit = self.config.max_body;
        event(req, "payload_too_large", 413, None);
        Decision::Answer(rejection_response(req, PayloadTooLarge { limit }))
    }

    /// The Standard Webhooks headers, found, read and checked, the timestamp within the
    /// tolerance.
    fn standard_webhooks_head<'h>(
        &self,
        found: standard_webhooks::Headers<'h>,
    ) -> Result<standard_webhooks::Parsed<'h>, Failure> {
        let parsed = standard_webhooks::parse_found(found)?;
        let tolerance = self.config.tolerance;
        super::rejection::check_tolerance(parsed.head.timestamp, self.now_secs(), tolerance)?;
        Ok(parsed)
    }

    /// Reads the headers (and checks the timestamp) before the body is read.
    fn head<B>(&self, req: &Request<B>) -> Result<Head, Failure> {
        let c = &self.config;
        let headers = req.headers();
        Ok(match c.scheme {
            Scheme::StandardWebhooks => {
                let found = standard_webhooks::find(headers);
                Head::StandardWebhooks(self.standard_webhooks_head(found)?.head)
            }
            Scheme::Stripe => {
                let head = stripe::parse_head(headers)?;
                super::rejection::check_tolerance(head.timestamp, self.now_secs(), c.tolerance)?;
                Head::Stripe(head)
            }
            Scheme::GitHub => Head::GitHub(github::parse_head(headers)?),
            Scheme::HttpMessageSignatures => Head::Http(http_sig::parse_head(
                headers,
                req.uri().query().is_some_and(|q| !q.is_empty()),
                &c.http,
                &c.keys,
                self.now_secs(),
                c.tolerance,
            )?),
        })
    }

    /// Verifies the signature over the body.
    fn verify<'k, 'h>(
        &'k self,
        head: &'h Head,
        req: &'h Request<SignedBody>,
        body: &[u8],
    ) -> Result<Verified<'k, 'h>, Failure> {
        let keys = &self.config.keys;
        match head {
            Head::StandardWebhooks(h) => {
                let (key, id) = standard_webhooks::verify(h, req.headers(), body, keys)?;
                Ok(Verified {
                    key,
                    replay: Replay::Id(id),
                })
            }
            Head::Stripe(h) => {
                // No message id in the header: the message is its timestamp and body, which
                // the (deterministic) HMAC identifies.
                let (key, tag) = stripe::verify(h, body, keys)?;
                Ok(Verified {
                    key,
                    replay: Replay::Tag(tag),
                })
            }
            Head::GitHub(h) => {
                // The body, which the HMAC identifies: `X-GitHub-Delivery` is not signed.
                let (key, tag) = github::verify(h, body, keys)?;
                Ok(Verified {
                    key,
                    replay: Replay::Tag(tag),
                })
            }
            Head::Http(h) => {
                let (key, id) = http_sig::verify(h, req, body, keys)?;
                Ok(Verified {
                    key,
                    replay: Replay::Owned(id),
                })
            }
        }
    }

    /// The replay store's key of a message: the scheme and what identifies the message. Not
    /// the key's owner: keys of one sender under several names (`billing`, `billing-old`) would
    /// make a replay that keeps only the old key's signature another message.
    fn replay_key(&self, what: &[u8]) -> Vec<u8> {
        let tag = self.config.scheme.tag().as_bytes();
        let mut key = Vec::with_capacity(tag.len() + what.len() + 1);
        key.extend_from_slice(tag);
        key.push(0);
        key.extend_from_slice(what);
        key
    }

    /// The replay store's key of a verified message.
    fn replay_key_of(&self, replay: &Replay<'_>) -> Vec<u8> {
        match replay {
            Replay::Id(id) => self.replay_key(id),
            Replay::Tag(tag) => self.replay_key(&Sha256::digest(tag)),
            Replay::Owned(id) => self.replay_key(id),
        }
    }

    fn refuse<B>(req: &Request<B>, failure: Failure) -> Decision<Self> {
        event(req, failure.code(), 401, Some(&failure.to_string()));
        Decision::Answer(rejection_response(req, InvalidSignature::new(failure)))
    }

    fn remembered<B>(
        &self,
        req: &Request<B>,
        answer: Result<bool, StoreError>,
        key: Option<Vec<u8>>,
    ) -> Decision<Self> {
        match answer {
            Ok(true) => Decision::Pass(match (&self.config.replay, key) {
                (Some(store), Some(key)) => Some(Box::new(Release {
                    store: Arc::clone(store),
                    key,
                })),
                _ => None,
            }),
            Ok(false) => Self::refuse(req, Failure::Replayed),
            Err(e) => {
                let kind = crate::metrics::store_error_kind(e.kind());
                crate::metrics::store_failure("signature_replay", kind);
                let reason = e.to_string();
                crate::core::event::emit(
                    crate::core::event::Kind::StoreFailure,
                    &crate::core::RequestHead::of(req),
                    &crate::core::event::Fields {
                        status: Some(503),
                        error_type: Some(kind),
                        problem: Some(crate::problem::ProblemType::SignatureUnavailable.slug()),
                        limit: Some("signature_replay"),
                        reason: Some(&reason),
                        ..Default::default()
                    },
                );
                Decision::Answer(rejection_response(req, SignatureUnavailable(())))
            }
        }
    }

    /// The body is read (or not): verifies it, then checks for a replay.
    fn read(
        &self,
        req: &mut Request<SignedBody>,
        head: &Head,
        read: Result<Bytes, ReadError>,
    ) -> Decision<Self> {
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(error) => return self.unread(req, error),
        };
        let (key, replay) = match self.verify(head, req, &bytes) {
            Ok(v) => {
                let replay = self
                    .config
                    .replay
                    .is_some()
                    .then(|| self.replay_key_of(&v.replay));
                (v.key, replay)
            }
            Err(failure) => return Self::refuse(req, failure),
        };
        self.accept(req, key, bytes, replay)
    }

    /// The answer to a body that could not be read whole.
    fn unread<B>(&self, req: &Request<B>, error: ReadError) -> Decision<Self> {
        match error {
            ReadError::TooLarge => self.too_large(req),
            ReadError::Failed => Self::refuse(req, Failure::UnreadableBody),
        }
    }

    /// A verified request: its principal and its body set, then the replay check (`replay`,
    /// the store's key of the message, when replays are refused).
    fn accept(
        &self,
        req: &mut Request<SignedBody>,
        key: &VerifyingKey,
        bytes: Bytes,
        replay: Option<Vec<u8>>,
    ) -> Decision<Self> {
        req.extensions_mut().insert(key.principal());
        *req.body_mut() = SignedBody::new(bytes);
        let (Some(store), Some(id)) = (&self.config.replay, replay) else {
            return Decision::Pass(None);
        };
        // Remembered for twice the tolerance and a second: a timestamp is accepted from
        // `tolerance` before now to `tolerance` after, in whole seconds both ends included, so
        // a message can come back until the second after that span.
        let ttl_us = replay_ttl_us(self.config.tolerance);
        match store.remember(&id, ttl_us) {
            Answer::Ready(answer) => self.remembered(req, answer, Some(id)),
            Answer::Later(fut) => Decision::Wait(Wait::Remember(fut, Some(id))),
        }
    }

    /// Standard Webhooks, the usual case: the headers are read once, and when the body is at
    /// hand (in memory, or ready on the first poll) it is verified against what they said,
    /// without looking them up again. Otherwise the read is waited on, as for other schemes.
    fn decide_standard_webhooks(&self, req: &mut Request<SignedBody>) -> Decision<Self> {
        let c = &self.config;
        let read = req.body_mut().take_read();
        let found = standard_webhooks::find(req.headers());
        if self.declared_too_large(found.content_length) {
            return self.too_large(req);
        }
        let parsed = match self.standard_webhooks_head(found) {
            Ok(parsed) => parsed,
            Err(failure) => return Self::refuse(req, failure),
        };
        let bytes = match read {
            Some(mut read) => {
                // Polled once here, as in `decide_body`.
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(&mut read).poll(&mut cx) {
                    Poll::Ready(Ok(bytes)) => bytes,
                    Poll::Ready(Err(error)) => return self.unread(req, error),
                    Poll::Pending => {
                        let head = Head::StandardWebhooks(parsed.head);
                        return Decision::Wait(Wait::Read(Some(head), read));
                    }
                }
            }
            None => req.body().bytes().cloned().unwrap_or_default(),
        };
        let (key, replay) = match standard_webhooks::verify_parsed(&parsed, &bytes, &c.keys) {
            Ok((key, id)) => (key, c.replay.is_some().then(|| self.replay_key(id))),
            Err(failure) => return Self::refuse(req, failure),
        };
        self.accept(req, key, bytes, replay)
    }
}

/// How long a verified message is remembered, in microseconds, for a tolerance in seconds:
/// twice the tolerance (a timestamp `tolerance` ahead is accepted until `tolerance` after it),
/// and the second in which the last acceptance may fall.
pub(crate) fn replay_ttl_us(tolerance: u64) -> u64 {
    tolerance
        .saturating_mul(2)
        .saturating_add(1)
        .saturating_mul(1_000_000)
}

impl Guard for SignatureLayer {
    /// The message remembered against replays, forgotten if the inner service fails it.
    type State = Option<Box<Release>>;
    type Wait = Wait;
    type Resumed = Resumed;

    /// Not used: [`Signature`] decides through [`BodyGuard`], which sees the body. A request
    /// that got here anyway is refused, never let through unverified.
    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        Decision::Answer(rejection_response(req, internal_error()))
    }

    fn resume<B>(&self, req: &mut Request<B>, _: Resumed) -> Decision<Self> {
        Decision::Answer(rejection_response(req, internal_error()))
    }

    /// An error status from the inner service (a handler that failed, a limiter inside this
    /// layer): the message is forgotten, so that the sender's retry of it (Standard Webhooks
    /// and Stripe retry what was not answered `2xx`) is not refused as a replay.
    fn respond<B>(state: Option<Box<Release>>, res: &mut Response<B>) {
        if let Some(release) = state
            && (res.status().is_client_error() || res.status().is_server_error())
        {
            release.run();
        }
    }
}

/// A message remembered against replays, to forget if the inner service fails it.
pub(crate) struct Release {
    store: Arc<dyn Store>,
    key: Vec<u8>,
}

impl fmt::Debug for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Release(..)")
    }
}

impl Release {
    /// Forgets the message: at once in memory, on a task of the current runtime for a remote
    /// store (the response does not wait for it). A failure leaves the key to expire.
    fn run(self) {
        match self.store.forget_remembered(&self.key) {
            Answer::Ready(_) => {}
            Answer::Later(fut) => {
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(async move {
                        if let Err(e) = fut.await {
                            tracing::debug!(error = %e, "signature replay store: could not forget a failed message");
                        }
                    });
                }
            }
        }
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
        if let Scheme::StandardWebhooks = self.config.scheme {
            // Its headers and `Content-Length` found in one pass.
            return self.decide_standard_webhooks(req);
        }
        if self.declared_too_large(req.headers().get(CONTENT_LENGTH)) {
            return self.too_large(req);
        }
        let head = match self.head(req) {
            Ok(head) => head,
            Err(failure) => return Self::refuse(req, failure),
        };
        match req.body_mut().take_read() {
            Some(mut read) => {
                // Polled once here: a body already in memory (a buffered request, a test's
                // `Full`) is read now, and verified without waiting (the skeleton boxes
                // nothing). Otherwise the read goes on when the response future is polled (a
                // future is woken by the waker of its latest poll, so a no-op one here is
                // harmless).
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(&mut read).poll(&mut cx) {
                    Poll::Ready(read) => self.read(req, &head, read),
                    Poll::Pending => Decision::Wait(Wait::Read(Some(head), read)),
                }
            }
            None => {
                // Already read (a SignedBody given to the layer directly): verify it as it is.
                let bytes = req.body().bytes().cloned().unwrap_or_default();
                self.read(req, &head, Ok(bytes))
            }
        }
    }

    fn resume_body(&self, req: &mut Request<SignedBody>, resumed: Resumed) -> Decision<Self> {
        match resumed {
            Resumed::Read(Some(head), read) => self.read(req, &head, read),
            Resumed::Read(None, _) => Decision::Answer(rejection_response(req, internal_error())),
            Resumed::Remembered(answer, key) => self.remembered(req, answer, key),
        }
    }
}

/// The `signature.refused` event of a refusal: the rule's code as `error.type`, its text as
/// `tower_shield.reason` (never a secret nor the signature expected).
fn event<B>(req: &Request<B>, code: &'static str, status: u16, reason: Option<&str>) {
    let problem = if status == 413 {
        crate::problem::ProblemType::PayloadTooLarge
    } else {
        crate::problem::ProblemType::SignatureInvalid
    };
    crate::core::event::emit(
        crate::core::event::Kind::SignatureRefused,
        &crate::core::RequestHead::of(req),
        &crate::core::event::Fields {
            status: Some(status),
            error_type: Some(code),
            problem: Some(problem.slug()),
            reason,
            ..Default::default()
        },
    );
}
