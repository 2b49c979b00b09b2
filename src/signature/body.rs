//! The request body read whole: what a verified request (or a signed outbound one) carries.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use crate::core::BoxFuture;

/// A request body read whole, up to a limit: the bytes a [`SignatureLayer`](super::SignatureLayer)
/// verified, handed to the inner service unchanged, or the bytes a
/// [`SigningLayer`](crate::client::SigningLayer) signed.
///
/// It is an [`http_body::Body`] of one frame that never fails, so axum handlers extract it as
/// they would any body (`Bytes`, `String`, `Json<T>`).
pub struct SignedBody {
    state: State,
}

enum State {
    /// Not read yet: the read, started when polled (only the layer polls it).
    Unread(BoxFuture<Result<Bytes, ReadError>>),
    /// Read; `None` once the frame was taken.
    Read(Option<Bytes>),
}

/// Why a body could not be read whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// It holds more than the limit.
    TooLarge,
    /// Its stream failed (the client went away).
    Failed,
}

impl SignedBody {
    /// A body of `bytes`.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            state: State::Read((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body that reads `body`, at most `limit` bytes of it, when the layer asks.
    pub(crate) fn unread<B>(body: B, limit: usize) -> Self
    where
        B: Body + Send + 'static,
        B::Data: Send,
    {
        Self {
            state: State::Unread(Box::pin(read(body, limit))),
        }
    }

    /// The read, if the body is not read yet: the layer takes it to wait on it.
    pub(crate) fn take_read(&mut self) -> Option<BoxFuture<Result<Bytes, ReadError>>> {
        match std::mem::replace(&mut self.state, State::Read(None)) {
            State::Unread(read) => Some(read),
            read @ State::Read(_) => {
                self.state = read;
                None
            }
        }
    }

    /// The bytes, if the body is read and its frame not yet taken.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.state {
            State::Read(bytes) => bytes.as_ref(),
            State::Unread(_) => None,
        }
    }
}

impl Default for SignedBody {
    fn default() -> Self {
        Self::new(Bytes::new())
    }
}

impl From<Bytes> for SignedBody {
    fn from(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SignedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Unread(_) => f.write_str("SignedBody(unread)"),
            State::Read(bytes) => f
                .debug_tuple("SignedBody")
                .field(&bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl Body for SignedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().state {
            State::Read(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            // Never handed on unread: the layer reads it before the inner service sees it.
            State::Unread(_) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Read(None) | State::Unread(_))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Read(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            State::Unread(_) => SizeHint::with_exact(0),
        }
    }
}

/// Reads `body` whole, failing as soon as it holds more than `limit` bytes: never more than
/// `limit` plus one frame is buffered. A body of one frame is not copied.
async fn read<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut len = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let Ok(frame) = frame else {
            return Err(ReadError::Failed);
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers: not part of what is signed
        };
        len = len.saturating_add(data.remaining());
        if len > limit {
            return Err(ReadError::TooLarge);
        }
        match (&mut first, &mut rest) {
            (None, None) => first = Some(data.copy_to_bytes(data.remaining())),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(len);
                buf.extend_from_slice(f);
                while data.has_remaining() {
                    let chunk = data.chunk();
                    buf.extend_from_slice(chunk);
                    let n = chunk.len();
                    data.advance(n);
                }
                rest = Some(buf);
                first = None;
            }
            (_, Some(buf)) => {
                while data.has_remaining() {
                    let chunk = data.chunk();
                    buf.extend_from_slice(chunk);
                    let n = chunk.len();
                    data.advance(n);
                }
            }
        }
    }
    Ok(match (first, rest) {
        (_, Some(buf)) => buf.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}
