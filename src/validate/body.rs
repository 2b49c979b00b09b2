//! [`ValidatedBody`]: the request body the inner service receives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

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
        Buffered { data: Option<Bytes>, trailers: Option<HeaderMap> },
        Partial { head: Option<Bytes>, rest: Pin<Box<B>> },
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
    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
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
                None => trailers.take().map(|t| Ok(Frame::trailers(t))),
            }),
            KindProj::Partial { head, rest } => match head.take() {
                Some(head) => Poll::Ready(Some(Ok(Frame::data(head)))),
                None => rest
                    .as_mut()
                    .poll_frame(cx)
                    .map(|f| f.map(|f| f.map(to_bytes))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stream { body } => body.is_end_stream(),
            Kind::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Partial { head, rest } => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream { body } => body.size_hint(),
            Kind::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Partial { head, rest } => {
                let head = head.as_ref().map_or(0, |d| d.len() as u64);
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(head));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(head));
                }
                hint
            }
        }
    }
}
