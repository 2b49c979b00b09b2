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
    Unread(Read),
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
            state: State::Unread(Read::new(body, limit)),
        }
    }

    /// The read, if the body is not read yet: the layer takes it to wait on it.
    pub(crate) fn take_read(&mut self) -> Option<Read> {
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

/// The read of a body not read yet: a future of its bytes, at most a limit of them.
///
/// An axum [`Body`](axum_core::body::Body) (what a layer on an axum `Router`, or around one
/// served by `axum::serve`, gets) is read without a box as far as its frames are ready when
/// first polled: a webhook's body usually came in with its headers. Any other body, or the
/// rest of one not all here, is read by a boxed future.
pub(crate) struct Read(ReadState);

enum ReadState {
    Boxed(BoxFuture<Result<Bytes, ReadError>>),
    /// An axum body and the limit, until first polled.
    #[cfg(feature = "axum")]
    Axum(Option<(axum_core::body::Body, usize)>),
}

impl Read {
    fn new<B>(body: B, limit: usize) -> Self
    where
        B: Body + Send + 'static,
        B::Data: Send,
    {
        #[cfg(feature = "axum")]
        let body = {
            let mut slot = Some(body);
            let known: &mut dyn std::any::Any = &mut slot;
            if let Some(known) = known.downcast_mut::<Option<axum_core::body::Body>>()
                && let Some(body) = known.take()
            {
                return Self(ReadState::Axum(Some((body, limit))));
            }
            match slot {
                Some(body) => body,
                // Not reached: `slot` is taken only when it held an axum body.
                None => return Self(ReadState::Boxed(Box::pin(async { Err(ReadError::Failed) }))),
            }
        };
        Self(ReadState::Boxed(Box::pin(read(body, limit))))
    }
}

impl Future for Read {
    type Output = Result<Bytes, ReadError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.0 {
            ReadState::Boxed(read) => read.as_mut().poll(cx),
            #[cfg(feature = "axum")]
            ReadState::Axum(slot) => {
                let Some((mut body, limit)) = slot.take() else {
                    return Poll::Ready(Err(ReadError::Failed)); // polled after it ended
                };
                if body.size_hint().lower() > limit as u64 {
                    return Poll::Ready(Err(ReadError::TooLarge));
                }
                let mut reading = Reading::new(limit);
                loop {
                    match Pin::new(&mut body).poll_frame(cx) {
                        Poll::Ready(None) => return Poll::Ready(Ok(reading.finish())),
                        Poll::Ready(Some(Ok(frame))) => {
                            if let Ok(data) = frame.into_data()
                                && let Err(error) = reading.push(data)
                            {
                                return Poll::Ready(Err(error));
                            }
                            // A body that says it ended is not polled again (its `None` is
                            // not awaited): a usual webhook body is one frame.
                            if body.is_end_stream() {
                                return Poll::Ready(Ok(reading.finish()));
                            }
                        }
                        Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(ReadError::Failed)),
                        Poll::Pending => {
                            // The rest is read by a boxed future, which polls the body again
                            // when it wakes (the body registered this poll's waker).
                            this.0 = ReadState::Boxed(Box::pin(read_on(body, reading)));
                            return Poll::Pending;
                        }
                    }
                }
            }
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
    read_on(body, Reading::new(limit)).await
}

/// Reads the rest of `body` into `reading`.
async fn read_on<B>(body: B, mut reading: Reading) -> Result<Bytes, ReadError>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    let mut body = std::pin::pin!(body);
    loop {
        let frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let Ok(frame) = frame else {
            return Err(ReadError::Failed);
        };
        // Trailers are not part of what is signed.
        if let Ok(data) = frame.into_data() {
            reading.push(data)?;
        }
    }
    Ok(reading.finish())
}

/// A body's bytes so far, at most `limit` of them: the first frame kept as it came (a body of
/// one frame is not copied), later frames copied after it.
struct Reading {
    first: Option<Bytes>,
    rest: Option<BytesMut>,
    len: usize,
    limit: usize,
}

impl Reading {
    fn new(limit: usize) -> Self {
        Self {
            first: None,
            rest: None,
            len: 0,
            limit,
        }
    }

    /// One more frame's data; too large as soon as the bytes pass the limit.
    fn push(&mut self, mut data: impl Buf) -> Result<(), ReadError> {
        self.len = self.len.saturating_add(data.remaining());
        if self.len > self.limit {
            return Err(ReadError::TooLarge);
        }
        let buf = match (&self.first, &mut self.rest) {
            (None, None) => {
                self.first = Some(data.copy_to_bytes(data.remaining()));
                return Ok(());
            }
            (Some(first), None) => {
                let mut buf = BytesMut::with_capacity(self.len);
                buf.extend_from_slice(first);
                self.first = None;
                self.rest.insert(buf)
            }
            (_, Some(buf)) => buf,
        };
        while data.has_remaining() {
            let chunk = data.chunk();
            buf.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
        Ok(())
    }

    /// The bytes read.
    fn finish(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}
