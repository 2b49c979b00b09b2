//! Reading a request body up to a limit: the bytes read so far and how reading ended.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;

/// The bytes read so far: the first chunk kept as it came (no copy: a body in one piece is
/// never copied), more gathered into a buffer that grows with what arrives (never reserved
/// ahead from `Content-Length`, which a client that stalls would make the server hold).
#[derive(Debug, Default)]
pub(crate) enum Collected {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Empty => &[],
            Self::One(b) => b,
            Self::Many(b) => b,
        }
    }

    pub(crate) fn push(&mut self, mut data: impl Buf) {
        match self {
            Self::Empty => *self = Self::One(data.copy_to_bytes(data.remaining())),
            Self::One(first) => {
                let mut buf = BytesMut::with_capacity(first.len() + data.remaining());
                buf.put(std::mem::take(first));
                buf.put(data);
                *self = Self::Many(buf);
            }
            Self::Many(buf) => buf.put(data),
        }
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(b) => b,
            Self::Many(b) => b.freeze(),
        }
    }
}

/// How reading a body ended.
pub(crate) enum Outcome<D> {
    /// The body ended within the limit: everything was read.
    End,
    /// This chunk would take the body past the limit; it is not in `collected`.
    Over(D),
    /// The body failed (the client went away, its framing is broken).
    Failed,
}

/// A request body being read: the body (boxed so that, in log-only mode, a body over the limit
/// can be handed on as it is), what was read, and the trailers.
#[derive(Debug)]
pub(crate) struct Reading<B> {
    pub(crate) body: Pin<Box<B>>,
    pub(crate) collected: Collected,
    /// Boxed: trailers are rare, and the body the inner service gets stays small.
    pub(crate) trailers: Option<Box<HeaderMap>>,
}

impl<B> Reading<B> {
    pub(crate) fn new(body: B) -> Self {
        Self {
            body: Box::pin(body),
            collected: Collected::Empty,
            trailers: None,
        }
    }
}

impl<B> Reading<B>
where
    B: Body,
    B::Data: Buf,
{
    /// Reads frames until the body ends, fails, would pass `limit`, or is not ready.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, limit: u64) -> Poll<Outcome<B::Data>> {
        loop {
            let frame = match self.body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Outcome::End),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Outcome::Failed),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    let len = (self.collected.as_slice().len() as u64)
                        .saturating_add(data.remaining() as u64);
                    if len > limit {
                        return Poll::Ready(Outcome::Over(data));
                    }
                    self.collected.push(data);
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        match &mut self.trailers {
                            Some(all) => all.extend(t),
                            None => self.trailers = Some(Box::new(t)),
                        }
                    }
                }
            }
        }
    }
}
