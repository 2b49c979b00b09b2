//! The private skeleton under every layer that decides on a request.
//!
//! A layer implements [`Guard`]: it looks at a request and [decides](Guard::decide) to pass it
//! on (maybe after adding extensions), to answer it itself (a rejection, a preflight), or to
//! wait for something (a store, a key set, a hash) and then [resume](Guard::resume). A hook
//! sees the inner service's response on the way out ([`Guard::respond`]). Everything else — the
//! `Service` impl, the response future, the ready-service discipline — is written here, once,
//! and each layer gets a named service and future from [`guarded_service!`].
//!
//! The synchronous path allocates nothing: the future holds the inner future and the
//! guard's small per-request [`State`](Guard::State) inline; only waiting boxes (the request,
//! the service that was polled ready, and what it waits on) and so does an answer of the
//! layer's own.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;

/// What a guard decided about a request.
pub(crate) enum Decision<G: Guard> {
    /// Call the inner service; `State` comes back to [`Guard::respond`] with its response.
    Pass(G::State),
    /// Answer now with this response (a rendered rejection, a preflight); the inner service is
    /// not called.
    Answer(Response<Bytes>),
    /// Wait for this future, then [`Guard::resume`] with its output.
    Wait(G::Wait),
}

/// A layer's decision on requests: the one thing a layer writes that is its own.
pub(crate) trait Guard: Sized {
    /// Carried from the decision to the response hook (for example the headers to add).
    type State;
    /// What a decision waits on, when it must.
    type Wait: Future<Output = Self::Resumed>;
    /// What the wait yields to [`Guard::resume`].
    type Resumed;

    /// Decides on `req` (which it may change: extensions, headers).
    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self>;

    /// Decides again once a [`Decision::Wait`] is over.
    fn resume<B>(&self, req: &mut Request<B>, resumed: Self::Resumed) -> Decision<Self>;

    /// Sees the inner service's response (headers to add or strip). Does nothing by default.
    fn respond<B>(state: Self::State, res: &mut Response<B>) {
        let _ = (state, res);
    }

    /// Whether [`Guard::respond`] adds headers to the response: the skeleton then makes room
    /// for the whole stack's in one step (see [`make_room`]) instead of letting the map
    /// rehash a few entries at a time, once per layer.
    const ADDS_HEADERS: bool = false;

    /// A guard whose requests run in a `tracing` span (the request id's) returns it entered:
    /// the skeleton holds it around the inner call and every poll of its future.
    fn enter(state: &Self::State) -> Option<tracing::span::Entered<'_>> {
        let _ = state;
        None
    }
}

/// A guard whose service hands the inner service a request body of its own making (the body
/// read whole, for a guard that decides on it): it decides and resumes on requests with that
/// body, whose type it knows, so it can take the body out and put another in. Its service comes
/// from [`guarded_service!`] with `body`.
#[cfg_attr(not(feature = "signature"), allow(dead_code))] // used by the body-reading layers
pub(crate) trait BodyGuard: Guard {
    /// The body the guard decides on and the inner service gets.
    type Body;

    /// Wraps the request's own body, before the decision.
    fn wrap<B>(&self, body: B) -> Self::Body
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send;

    /// [`Guard::decide`] on the wrapped request.
    fn decide_body(&self, req: &mut Request<Self::Body>) -> Decision<Self>;

    /// [`Guard::resume`] on the wrapped request.
    fn resume_body(&self, req: &mut Request<Self::Body>, resumed: Self::Resumed) -> Decision<Self>;
}

/// How a guard decides again on a request after a wait (its [`Guard::resume`], or a
/// [`BodyGuard::resume_body`]).
type Resume<G, ReqBody> = fn(&G, &mut Request<ReqBody>, <G as Guard>::Resumed) -> Decision<G>;

/// Calls `inner` as `guard` decides. `inner` was polled ready: when the decision must wait,
/// that ready service moves into the future and a clone stays behind (tower's discipline).
pub(crate) fn call<G, S, ReqBody, ResBody>(
    guard: &G,
    inner: &mut S,
    req: Request<ReqBody>,
) -> ResponseFuture<G, S, ReqBody, ResBody>
where
    G: Guard + Clone,
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    call_with(
        guard,
        inner,
        req,
        G::decide::<ReqBody>,
        G::resume::<ReqBody>,
    )
}

/// [`call`] with the decision and the resumption given: a [`BodyGuard`]'s, which know the
/// request body's type.
pub(crate) fn call_with<G, S, ReqBody, ResBody>(
    guard: &G,
    inner: &mut S,
    mut req: Request<ReqBody>,
    decide: fn(&G, &mut Request<ReqBody>) -> Decision<G>,
    resume: Resume<G, ReqBody>,
) -> ResponseFuture<G, S, ReqBody, ResBody>
where
    G: Guard + Clone,
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    let state = match decide(guard, &mut req) {
        Decision::Pass(state) => calling(inner, req, state),
        Decision::Answer(res) => answered(res),
        Decision::Wait(wait) => {
            let clone = inner.clone();
            let ready = std::mem::replace(inner, clone);
            State::Waiting {
                waiting: Box::pin(Waiting {
                    wait,
                    guard: guard.clone(),
                    resume,
                    request: Some(req),
                    inner: Some(ready),
                }),
            }
        }
    };
    ResponseFuture {
        state,
        _body: PhantomData,
    }
}

fn calling<G, S, ReqBody>(
    inner: &mut S,
    req: Request<ReqBody>,
    state: G::State,
) -> State<G, S, ReqBody>
where
    G: Guard,
    S: Service<Request<ReqBody>>,
{
    let future = {
        let _span = G::enter(&state);
        inner.call(req)
    };
    State::Calling {
        future,
        state: Some(state),
    }
}

fn answered<G, S, ReqBody>(res: Response<Bytes>) -> State<G, S, ReqBody>
where
    G: Guard,
    S: Service<Request<ReqBody>>,
{
    // Boxed: answers are the rare path, and an inline response would make every future bigger.
    State::Answered {
        response: Some(Box::new(res)),
    }
}

pin_project! {
    /// A request whose decision waits (boxed: the rare path).
    struct Waiting<G: Guard, S, ReqBody> {
        #[pin]
        wait: G::Wait,
        guard: G,
        resume: Resume<G, ReqBody>,
        request: Option<Request<ReqBody>>,
        inner: Option<S>,
    }
}

pin_project! {
    /// The response future of every guarded service.
    pub(crate) struct ResponseFuture<G, S, ReqBody, ResBody>
    where
        G: Guard,
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<G, S, ReqBody>,
        _body: PhantomData<fn() -> ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<G, S, ReqBody>
    where
        G: Guard,
        S: Service<Request<ReqBody>>,
    {
        Waiting { waiting: Pin<Box<Waiting<G, S, ReqBody>>> },
        Calling { #[pin] future: S::Future, state: Option<G::State> },
        Answered { response: Option<Box<Response<Bytes>>> },
    }
}

impl<G, S, ReqBody, ResBody> fmt::Debug for ResponseFuture<G, S, ReqBody, ResBody>
where
    G: Guard,
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Calling { .. } => "calling",
            State::Answered { .. } => "answered",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

/// Headers a stack of this crate's layers adds to a response, at most, in the common case:
/// request id, security headers, CORS, `Vary`, rate-limit and deprecation headers.
const HEADROOM: usize = 20;

/// Makes room for [`HEADROOM`] more headers when fewer than half of that are left: the
/// innermost layer that adds headers grows the map once (an empty or handler-sized map), the
/// layers outside it then insert without rehashing. A map at `HeaderMap`'s size limit stays
/// as it is.
fn make_room(headers: &mut http::HeaderMap) {
    if headers.capacity().saturating_sub(headers.len()) < HEADROOM / 2 {
        let _ = headers.try_reserve(HEADROOM);
    }
}

const POLLED_AFTER_COMPLETION: &str = "future polled after completion";

impl<G, S, ReqBody, ResBody> Future for ResponseFuture<G, S, ReqBody, ResBody>
where
    G: Guard,
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { waiting } => {
                    let mut w = waiting.as_mut().project();
                    let resumed = match w.wait.as_mut().poll(cx) {
                        Poll::Ready(resumed) => resumed,
                        Poll::Pending => return Poll::Pending,
                    };
                    let mut req = w.request.take().expect(POLLED_AFTER_COMPLETION);
                    let next = match (w.resume)(w.guard, &mut req, resumed) {
                        Decision::Wait(wait) => {
                            // Waits again (the next authenticator, a delay): same box.
                            w.wait.set(wait);
                            *w.request = Some(req);
                            continue;
                        }
                        Decision::Pass(state) => {
                            let mut inner = w.inner.take().expect(POLLED_AFTER_COMPLETION);
                            calling::<G, S, ReqBody>(&mut inner, req, state)
                        }
                        Decision::Answer(res) => answered(res),
                    };
                    this.state.set(next);
                }
                StateProj::Calling { future, state } => {
                    // The state is taken when the response is out: none left means done.
                    assert!(state.is_some(), "{POLLED_AFTER_COMPLETION}");
                    let res = {
                        let _span = state.as_ref().and_then(G::enter);
                        match future.poll(cx) {
                            Poll::Ready(res) => res,
                            Poll::Pending => return Poll::Pending,
                        }
                    };
                    let state = state.take().expect(POLLED_AFTER_COMPLETION);
                    let mut res = res?;
                    if G::ADDS_HEADERS {
                        make_room(res.headers_mut());
                    }
                    G::respond(state, &mut res);
                    return Poll::Ready(Ok(res.map(ResponseBody::new)));
                }
                StateProj::Answered { response } => {
                    let res = response.take().expect(POLLED_AFTER_COMPLETION);
                    return Poll::Ready(Ok(res.map(ResponseBody::full)));
                }
            }
        }
    }
}

/// Defines a layer's service (`$service<S>`, with `get_ref`, `get_mut`, `into_inner`) and its
/// response future (`$future`) on the skeleton: the `Service` impl and the `Future` impl of
/// every guarded layer are these.
///
/// With `body: $body` the guard is a [`BodyGuard`] and the inner service gets requests with
/// the guard's body (`$body`); the service takes any `http_body::Body`.
macro_rules! guarded_service {
    // A layer that is its own guard (it holds its configuration behind an `Arc`): its
    // `Layer` impl too.
    (
        $(#[$service_doc:meta])*
        service $service:ident<S> { guard: $guard:ty }
        $(#[$future_doc:meta])*
        future $future:ident;
        layer;
    ) => {
        impl<S> ::tower_layer::Layer<S> for $guard {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service {
                    inner,
                    guard: ::std::clone::Clone::clone(self),
                }
            }
        }

        $crate::guard::guarded_service! {
            $(#[$service_doc])*
            service $service<S> { guard: $guard }
            $(#[$future_doc])*
            future $future;
        }
    };
    (
        $(#[$service_doc:meta])*
        service $service:ident<S> { guard: $guard:ty, body: $body:ty }
        $(#[$future_doc:meta])*
        future $future:ident;
    ) => {
        $crate::guard::guarded_service!(@common
            $(#[$service_doc])* service $service<S> { guard: $guard }
        );

        impl<S, ReqBody, ResBody> ::tower_service::Service<::http::Request<ReqBody>>
            for $service<S>
        where
            S: ::tower_service::Service<
                    ::http::Request<$body>,
                    Response = ::http::Response<ResBody>,
                > + Clone,
            ReqBody: ::http_body::Body + Send + 'static,
            ReqBody::Data: Send,
        {
            type Response = ::http::Response<$crate::body::ResponseBody<ResBody>>;
            type Error = S::Error;
            type Future = $future<S, ResBody>;

            /// Forwards to the inner service: this crate's layers decide in `call`.
            fn poll_ready(
                &mut self,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, req: ::http::Request<ReqBody>) -> Self::Future {
                use $crate::guard::BodyGuard as _;
                let req = req.map(|body| self.guard.wrap(body));
                $future {
                    inner: $crate::guard::call_with(
                        &self.guard,
                        &mut self.inner,
                        req,
                        <$guard>::decide_body,
                        <$guard>::resume_body,
                    ),
                }
            }
        }

        ::pin_project_lite::pin_project! {
            $(#[$future_doc])*
            pub struct $future<S, ResBody>
            where
                S: ::tower_service::Service<::http::Request<$body>>,
            {
                #[pin]
                inner: $crate::guard::ResponseFuture<$guard, S, $body, ResBody>,
            }
        }

        impl<S, ResBody> ::std::fmt::Debug for $future<S, ResBody>
        where
            S: ::tower_service::Service<::http::Request<$body>>,
        {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.inner, f)
            }
        }

        impl<S, ResBody> ::std::future::Future for $future<S, ResBody>
        where
            S: ::tower_service::Service<
                    ::http::Request<$body>,
                    Response = ::http::Response<ResBody>,
                >,
        {
            type Output = Result<::http::Response<$crate::body::ResponseBody<ResBody>>, S::Error>;

            fn poll(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Self::Output> {
                self.project().inner.poll(cx)
            }
        }
    };
    (@common
        $(#[$service_doc:meta])*
        service $service:ident<S $(, $param:ident)*> { guard: $guard:ty }
    ) => {
        $(#[$service_doc])*
        pub struct $service<S $(, $param)*> {
            inner: S,
            guard: $guard,
        }

        impl<S $(, $param)*> $service<S $(, $param)*> {
            /// The wrapped service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The wrapped service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// Unwraps the inner service.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }

        impl<S: Clone $(, $param)*> Clone for $service<S $(, $param)*>
        where
            $guard: Clone,
        {
            fn clone(&self) -> Self {
                Self {
                    inner: self.inner.clone(),
                    guard: self.guard.clone(),
                }
            }
        }

        impl<S: ::std::fmt::Debug $(, $param)*> ::std::fmt::Debug for $service<S $(, $param)*> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($service))
                    .field("inner", &self.inner)
                    .finish_non_exhaustive()
            }
        }

    };
    (
        $(#[$service_doc:meta])*
        service $service:ident<S $(, $param:ident: $bound:path)*> { guard: $guard:ty }
        $(#[$future_doc:meta])*
        future $future:ident;
    ) => {
        $crate::guard::guarded_service!(@common
            $(#[$service_doc])* service $service<S $(, $param)*> { guard: $guard }
        );

        impl<S, ReqBody, ResBody $(, $param: $bound)*> ::tower_service::Service<::http::Request<ReqBody>>
            for $service<S $(, $param)*>
        where
            S: ::tower_service::Service<
                    ::http::Request<ReqBody>,
                    Response = ::http::Response<ResBody>,
                > + Clone,
        {
            type Response = ::http::Response<$crate::body::ResponseBody<ResBody>>;
            type Error = S::Error;
            type Future = $future<S, ReqBody, ResBody $(, $param)*>;

            /// Forwards to the inner service: this crate's layers decide in `call`.
            fn poll_ready(
                &mut self,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, req: ::http::Request<ReqBody>) -> Self::Future {
                $future {
                    inner: $crate::guard::call(&self.guard, &mut self.inner, req),
                }
            }
        }

        ::pin_project_lite::pin_project! {
            $(#[$future_doc])*
            pub struct $future<S, ReqBody, ResBody $(, $param: $bound)*>
            where
                S: ::tower_service::Service<::http::Request<ReqBody>>,
            {
                #[pin]
                inner: $crate::guard::ResponseFuture<$guard, S, ReqBody, ResBody>,
            }
        }

        impl<S, ReqBody, ResBody $(, $param: $bound)*> ::std::fmt::Debug
            for $future<S, ReqBody, ResBody $(, $param)*>
        where
            S: ::tower_service::Service<::http::Request<ReqBody>>,
        {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.inner, f)
            }
        }

        impl<S, ReqBody, ResBody $(, $param: $bound)*> ::std::future::Future
            for $future<S, ReqBody, ResBody $(, $param)*>
        where
            S: ::tower_service::Service<
                    ::http::Request<ReqBody>,
                    Response = ::http::Response<ResBody>,
                >,
        {
            type Output = Result<::http::Response<$crate::body::ResponseBody<ResBody>>, S::Error>;

            fn poll(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Self::Output> {
                self.project().inner.poll(cx)
            }
        }
    };
}

pub(crate) use guarded_service;

#[cfg(test)]
mod tests;
