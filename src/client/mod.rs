//! Layers for tower *clients*: outbound calls between services.
//!
//! - [`SigningLayer`] (feature `signature`) signs requests;
//! - [`ClientCredentialsLayer`] (feature `client-credentials`) sets an OAuth 2.0 access token
//!   obtained with the client credentials grant; see [`credentials`].
//!
//! # Signing
//!
//! [`SigningLayer`] is a layer for tower *clients* (a hyper-util
//! client, a `reqwest`-like tower stack) that signs each request in the
//! [Standard Webhooks](https://www.standardwebhooks.com/) format — for services that send
//! webhooks — or with an [RFC 9421](https://www.rfc-editor.org/rfc/rfc9421) HTTP message
//! signature and an [RFC 9530](https://www.rfc-editor.org/rfc/rfc9530) `Content-Digest` — for
//! calls to partners. The receiving side is [`SignatureLayer`](crate::signature::SignatureLayer).
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use tower::{ServiceExt, service_fn};
//! use tower_layer::Layer;
//! use tower_shield::client::SigningLayer;
//! use tower_shield::signature::SignedBody;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let signing = SigningLayer::standard_webhooks()
//!     .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//!     .build()?;
//! // In real code the inner service is an HTTP client, e.g. hyper-util's
//! // `Client<_, SignedBody>`; here it shows what would be sent.
//! let client = signing.layer(service_fn(|req: Request<SignedBody>| async move {
//!     // The request as it would go out: signed, its body unchanged.
//!     assert_eq!(req.headers()["webhook-id"], "msg_2b5Yb3mcLiNB");
//!     assert!(req.headers()["webhook-signature"].to_str().unwrap().starts_with("v1,"));
//!     Ok::<_, Infallible>(Response::new(String::new()))
//! }));
//! let req = Request::post("https://hooks.example.com/in")
//!     .header("webhook-id", "msg_2b5Yb3mcLiNB")
//!     .body(String::from(r#"{"type":"invoice.paid"}"#))?;
//! let res = client.oneshot(req).await?;
//! assert_eq!(res.status(), 200);
//! # Ok(()) }
//! ```
//!
//! The body is read whole (up to [`max_body`](SigningBuilder::max_body), default 1 MiB) to be
//! signed, and sent as a [`SignedBody`](crate::signature::SignedBody). A body over the limit is not sent: the layer answers
//! `413` itself (a `payload-too-large` problem), as it does (`400`) when the body's stream
//! fails.

#[cfg(feature = "client-credentials")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-credentials")))]
pub mod credentials;
#[cfg(feature = "signature")]
mod signing;

#[cfg(feature = "client-credentials")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-credentials")))]
pub use credentials::{ClientCredentials, ClientCredentialsBuilder, ClientCredentialsLayer};
#[cfg(feature = "signature")]
#[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
pub use signing::{DEFAULT_COMPONENTS, ResponseFuture, Signing, SigningBuilder, SigningLayer};
