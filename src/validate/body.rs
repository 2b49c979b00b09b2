//! [`ValidatedBody`]: the request body the inner service receives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::read::{Outcome, Reading};

pin_project! {
    /// The request body behind a [`ValidateRequestLayer`](super::ValidateRequestLayer): the same
    /// bytes the client sent.
    ///
    /// A request the layer has no rule for keeps its body, streamed untouched. A request it
    /// validated was read up to the limit: its body is those bytes (and trailers, if any),
    /// given back whole. In [log-only](super::ValidateRequestBuilder::log_only) mode a body
    /// over the limit is the bytes read so far followed by the rest of the stream.
    #[derive(Debug)]
    pub struct ValidatedBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Stream { #[pin] body: B },
        Buffered { data: Option<Bytes>, trailers: Option<Box<HeaderMap>> },
        Partial { head: Option<Bytes>, rest: Pin<Box<B>> },
        // While the layer reads it; never handed on in this state. As a body it would be what
        // was read, then the rest.
        Reading { reading: Reading<B> },
    }
}

impl<B> ValidatedBody<B> {
    /// The client's body, streamed as it comes.
    pub(crate) fn stream(body: B) -> Self {
        Self {
            kind: Kind::Stream { body },
        }
    }

    /// A body read whole: `data`, then `trailers`.
    pub(crate) fn buffered(data: Bytes, trailers: Option<Box<HeaderMap>>) -> Self {
        let data = if data.is_empty() { None } else { Some(data) };
        Self {
            kind: Kind::Buffered { data, trailers },
        }
    }

    /// `head` (read already), then the rest of `rest`.
    pub(crate) fn partial(head: Bytes, rest: Pin<Box<B>>) -> Self {
        let head = if head.is_empty() { None } else { Some(head) };
        Self {
            kind: Kind::Partial { head, rest },
        }
    }

    /// `body`, to be read by the layer with [`poll_read`](Self::poll_read) and then made
    /// [`buffered`](Self::buffered) or [`partial`](Self::partial) in place.
    pub(crate) fn reading(body: B) -> Self {
        Self {
            kind: Kind::Reading {
                reading: Reading::new(body),
            },
        }
    }

    /// What the layer has read so far.
    pub(crate) fn collected(&self) -> &[u8] {
        match &self.kind {
            Kind::Reading { reading } => reading.collected.as_slice(),
            Kind::Buffered { data, .. } | Kind::Partial { head: data, .. } => {
                data.as_deref().unwrap_or_default()
            }
            Kind::Stream { .. } => &[],
        }
    }

    /// Reads the body the layer is reading until it ends, fails, would pass `limit`, or is
    /// not ready. Any other body has ended as far as the layer is concerned.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>, limit: u64) -> Poll<Outcome<B::Data>>
    where
        B: Body,
        B::Data: Buf,
    {
        match &mut self.kind {
            Kind::Reading { reading } => reading.poll(cx, limit),
            _ => Poll::Ready(Outcome::End),
        }
    }

    /// The body read whole: its bytes and trailers, given back in one piece.
    pub(crate) fn finish(&mut self) {
        if let Kind::Reading { reading } = &mut self.kind {
            let data = std::mem::take(&mut reading.collected).into_bytes();
            *self = Self::buffered(data, reading.trailers.take());
        }
    }

    /// The body read in part, `over` being the chunk that passed the limit: what was read,
    /// then the rest of the stream.
    pub(crate) fn continue_with(&mut self, over: impl Buf)
    where
        B: Body,
    {
        let this = std::mem::replace(self, Self::buffered(Bytes::new(), None));
        *self = match this.kind {
            Kind::Reading { mut reading } => {
                reading.collected.push(over);
                Self::partial(reading.collected.into_bytes(), reading.body)
            }
            kind => Self { kind },
        };
    }
}

/// The size of `head` bytes followed by a body of size `rest`.
fn then(head: u64, rest: SizeHint) -> SizeHint {
    let mut hint = SizeHint::new();
    hint.set_lower(rest.lower().saturating_add(head));
    if let Some(upper) = rest.upper() {
        hint.set_upper(upper.saturating_add(head));
    }
    hint
}

fn to_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))
}

impl<B> Body for ValidatedBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Stream { body } => body.poll_frame(cx).map(|f| f.map(|f| f.map(to_bytes))),
            KindProj::Buffered { data, trailers } => Poll::Ready(match data.take() {
                Some(data) => Some(Ok(Frame::data(data))),
                None => trailers.take().map(|t| Ok(Frame::trailers(*t))),
            }),
            KindProj::Partial { head, rest } => match head.take() {
                Some(head) => Poll::Ready(Some(Ok(Frame::data(head)))),
                None => rest
                    .as_mut()
                    .poll_frame(cx)
                    .map(|f| f.map(|f| f.map(to_bytes))),
            },
            KindProj::Reading { reading } => {
                if !reading.collected.as_slice().is_empty() {
                    let data = std::mem::take(&mut reading.collected).into_bytes();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                match reading.body.as_mut().poll_frame(cx) {
                    Poll::Ready(None) => {
                        Poll::Ready(reading.trailers.take().map(|t| Ok(Frame::trailers(*t))))
                    }
                    frame => frame.map(|f| f.map(|f| f.map(to_bytes))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stream { body } => body.is_end_stream(),
            Kind::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Partial { head, rest } => head.is_none() && rest.is_end_stream(),
            Kind::Reading { reading } => {
                reading.collected.as_slice().is_empty()
                    && reading.trailers.is_none()
                    && reading.body.is_end_stream()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream { body } => body.size_hint(),
            Kind::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Partial { head, rest } => then(
                head.as_ref().map_or(0, |d| d.len() as u64),
                rest.size_hint(),
            ),
            Kind::Reading { reading } => then(
                reading.collected.as_slice().len() as u64,
                reading.body.size_hint(),
            ),
        }
    }
}
