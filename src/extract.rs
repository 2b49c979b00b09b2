//! axum extractors (feature `axum`).
//!
//! - [`RequestId`] (and `Option<RequestId>`) from a [`RequestIdLayer`](crate::RequestIdLayer);
//! - [`ApiVersion`] (and `Option<ApiVersion>`) from a [`VersioningLayer`](crate::VersioningLayer);
//! - [`CspNonce`] (and `Option<CspNonce>`) from a
//!   [`SecurityHeadersLayer`](crate::SecurityHeadersLayer) whose policy has a nonce;
//! - [`Rejector`], to answer from a handler with a problem rendered exactly like the layers'
//!   rejections (same renderer, same request id).
//!
//! A required extractor whose layer is missing is a server misconfiguration: it answers a
//! generic `500` problem and logs the cause at `ERROR` level, never telling the client.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_shield::{RequestId, RequestIdLayer};
//!
//! async fn handler(id: RequestId) -> String {
//!     format!("your request is {id}")
//! }
//!
//! let app: Router = Router::new().route("/", get(handler)).layer(RequestIdLayer::new());
//! ```

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use std::sync::Arc;

use http::HeaderValue;

use crate::auth::{AuthError, Claims, Principal};
use crate::core::RequestHead;
use crate::problem::{self, Problem, Rejection, Renderer, SharedRenderer};
use crate::request_id::RequestId;
use crate::security_headers::CspNonce;
use crate::versioning::ApiVersion;

fn into_axum(res: http::Response<bytes::Bytes>) -> Response {
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, axum_core::body::Body::from(body))
}

fn missing(parts: &Parts, what: &'static str, layer: &'static str) -> Response {
    tracing::error!(
        extractor = what,
        "the {what} extractor needs {layer} outside the handler; answering 500"
    );
    let problem = problem::internal_error();
    let cx = RequestHead::from_parts(parts);
    into_axum(problem::render_with(&parts.extensions, &problem, &cx))
}

/// `FromRequestParts` (a generic 500 when the layer is missing) and `OptionalFromRequestParts`
/// for an extension that a layer puts into requests.
macro_rules! extension_extractor {
    ($ty:ty, $name:literal, $layer:literal) => {
        impl<S: Send + Sync> FromRequestParts<S> for $ty {
            type Rejection = Response;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                match parts.extensions.get::<$ty>() {
                    Some(value) => Ok(value.clone()),
                    None => Err(missing(parts, $name, $layer)),
                }
            }
        }

        impl<S: Send + Sync> OptionalFromRequestParts<S> for $ty {
            type Rejection = std::convert::Infallible;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Option<Self>, Self::Rejection> {
                Ok(parts.extensions.get::<$ty>().cloned())
            }
        }
    };
}

extension_extractor!(RequestId, "RequestId", "RequestIdLayer");
extension_extractor!(Principal, "Principal", "AuthLayer");
extension_extractor!(ApiVersion, "ApiVersion", "VersioningLayer");
extension_extractor!(
    CspNonce,
    "CspNonce",
    "a SecurityHeadersLayer whose policy has Source::Nonce"
);

/// The claims of the request's JWT as a `T`: `401` (`invalid_token`) when the principal has
/// no claims or they do not have `T`'s shape, `500` when no [`AuthLayer`](crate::AuthLayer)
/// runs outside.
impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(principal) = parts.extensions.get::<Principal>() else {
            return Err(missing(parts, "Claims", "AuthLayer"));
        };
        match principal.claims::<T>() {
            Ok(claims) => Ok(Claims(claims)),
            Err(e) => {
                tracing::debug!(error = %e, "token claims rejected by the Claims extractor");
                let rejection = if principal.is_anonymous() {
                    AuthError::anonymous(&parts.extensions)
                } else {
                    let detail = "the token's claims are not accepted here";
                    let rejection = AuthError::invalid(principal.method(), detail);
                    if principal.method().is_bearer() {
                        rejection.with_challenges(Arc::new([HeaderValue::from_static(
                            r#"Bearer error="invalid_token", error_description="the token's claims are not accepted here""#,
                        )]))
                    } else {
                        rejection
                    }
                };
                let rejector = Rejector::from_parts(parts);
                Err(rejector.reject(rejection))
            }
        }
    }
}

/// Answers a request with a problem rendered like the layers' rejections: by the renderer of
/// a [`RendererLayer`](crate::problem::RendererLayer) if one is installed (else
/// [`ProblemJson`](crate::problem::ProblemJson)), with the request id.
///
/// ```
/// use axum::{Router, response::Response, routing::get};
/// use http::StatusCode;
/// use tower_shield::extract::Rejector;
/// use tower_shield::problem::Problem;
/// use tower_shield::RequestIdLayer;
///
/// async fn not_found(rejector: Rejector) -> Response {
///     rejector.reject(Problem::new(StatusCode::NOT_FOUND).with_detail("No such route."))
/// }
///
/// let app: Router = Router::new().fallback(not_found).layer(RequestIdLayer::new());
/// ```
#[derive(Clone, Debug)]
pub struct Rejector {
    /// The renderer and the request id, if the request had them.
    extensions: http::Extensions,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Rejector {
    fn from_parts(parts: &Parts) -> Self {
        Self {
            extensions: {
                let mut ext = http::Extensions::new();
                if let Some(renderer) = parts.extensions.get::<SharedRenderer>() {
                    ext.insert(renderer.clone());
                }
                if let Some(id) = parts.extensions.get::<RequestId>() {
                    ext.insert(id.clone());
                }
                ext
            },
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        }
    }

    /// The response for `rejection`, which also goes into the response's extensions with its
    /// [`Problem`].
    pub fn reject<R: Rejection>(&self, rejection: R) -> Response {
        let problem = rejection.problem();
        let cx = RequestHead::new(&self.method, &self.uri, &self.headers, &self.extensions);
        let mut res = into_axum(problem::render_with(&self.extensions, &problem, &cx));
        res.extensions_mut().insert(rejection);
        res.extensions_mut().insert(problem);
        res
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Rejector {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// Renders the problem with [`ProblemJson`](crate::problem::ProblemJson), without a request id
/// (use [`Rejector`] to render it like the layers do).
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (method, uri, headers) = (Method::GET, Uri::default(), HeaderMap::new());
        let extensions = http::Extensions::new();
        let cx = RequestHead::new(&method, &uri, &headers, &extensions);
        let mut res = into_axum(problem::ProblemJson.render(&self, &cx));
        res.extensions_mut().insert(self);
        res
    }
}
