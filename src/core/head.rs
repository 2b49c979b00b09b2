//! The view of a request that layers, authenticators, key functions and renderers share.

use http::{Extensions, HeaderMap, Method, Request, Uri};

use super::RequestId;

/// What a layer, an authenticator or a renderer sees of a request: its head, never its body.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// A head made of a request's parts (for tests of an authenticator or a renderer).
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            extensions,
        }
    }

    /// The head of a request taken apart (`http::request::Parts`, as extractors see it).
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers, &parts.extensions)
    }

    /// The head of `req`.
    pub fn of<B>(req: &'a Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions (a [`RequestId`], an [`ApiVersion`](crate::ApiVersion), ...).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The request id set by a [`RequestIdLayer`](crate::RequestIdLayer), if one ran before.
    pub fn request_id(&self) -> Option<&'a RequestId> {
        self.extensions.get::<RequestId>()
    }
}
