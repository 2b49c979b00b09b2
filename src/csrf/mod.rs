//! Protection against [cross-site request forgery] with [`Sec-Fetch-Site`] and [`Origin`]:
//! [`CsrfLayer`] refuses the cross-origin browser requests that can change state, with no token
//! and no state of its own.
//!
//! ```
//! use axum::{Router, body::Body, routing::post};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::CsrfLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let csrf = CsrfLayer::builder()
//!     .add_trusted_origin("https://admin.example.com")
//!     .bypass_path("/hooks/*") // webhooks carry their own signature
//!     .build()?;
//! let app = Router::new()
//!     .route("/posts", post(|| async { "saved" }))
//!     .route("/hooks/stripe", post(|| async { "ok" }))
//!     .layer(csrf);
//!
//! // A form on another site posting here: refused.
//! let forged = Request::post("/posts")
//!     .header("host", "api.example.com")
//!     .header("origin", "https://evil.example")
//!     .header("sec-fetch-site", "cross-site")
//!     .body(Body::empty())?;
//! let res = app.clone().oneshot(forged).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! assert_eq!(res.headers()["content-type"], "application/problem+json");
//!
//! // The site's own page, a trusted origin, a client that is no browser: let through.
//! let own = Request::post("/posts").header("sec-fetch-site", "same-origin").body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(own).await?.status(), StatusCode::OK);
//! let admin = Request::post("/posts")
//!     .header("origin", "https://admin.example.com")
//!     .header("sec-fetch-site", "same-site")
//!     .body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(admin).await?.status(), StatusCode::OK);
//! let curl = Request::post("/posts").body(Body::empty())?;
//! assert_eq!(app.oneshot(curl).await?.status(), StatusCode::OK);
//! # Ok(()) }
//! ```
//!
//! The algorithm is the one of Go 1.25's [`CrossOriginProtection`] (which tower-http 0.7's
//! `CsrfLayer` ports too), described in [Filippo Valsorda's post]:
//!
//! 1. `GET`, `HEAD` and `OPTIONS` pass: they must not change state.
//! 2. `Sec-Fetch-Site: same-origin` or `none` (the user typed the URL) passes. Any other value
//!    (`cross-site`, `same-site`, a value this layer does not know, or several of them) is
//!    refused, unless the `Origin` is trusted or the path bypassed. Every browser sends the
//!    header since 2023.
//! 3. Without `Sec-Fetch-Site`: no `Origin` either passes (a client that is no browser, or
//!    an old browser's same-origin request); an `Origin` whose `host[:port]` is the request's
//!    own (the `:authority` or absolute target, else `Host`; letters compared without case,
//!    the origin scheme's default port written or not on either side, as tower-http's
//!    `CsrfLayer` compares effective ports; Go compares the text) passes; any other is refused unless trusted or bypassed. The comparison cannot see the
//!    scheme: an `http://` page of the same host passes, which
//!    [HSTS](crate::security_headers) prevents.
//! 4. Several `Origin` headers are refused (unless the path is bypassed): no browser sends that.
//!
//! A refusal is a `403` [`cross-origin-request-refused`](crate::problem#cross-origin-request-refused)
//! problem, rendered by the request's [renderer](crate::problem), with [`CrossOriginRefused`]
//! (and its [`CrossOriginReason`]) in the response's extensions.
//!
//! Where it differs from Go's: trusted origins are parsed and compared as the
//! [CORS layer](crate::cors) does (a malformed one is a [`ConfigError`]; `HTTPS://Example.com:443`
//! trusts `https://example.com`), and bypass paths are exact paths or `/prefix/*`
//! patterns (optionally for one method: `POST /hooks/*`) on the raw path, never matching a path
//! with dot segments or encoded separators. Go (since 1.25.1) likewise lets through only a
//! request whose path matches a pattern directly, not one its `ServeMux` would redirect to it
//! after cleaning the path; its `/dir/` patterns are `/dir/*` here, and its `{name}` wildcards
//! have no equivalent (refused at build).
//!
//! The layer trusts the `Host` (or `:authority`) and `Origin` that reach it: a proxy in front
//! must forward both unchanged. Put it after CORS (so preflights are answered first) and
//! before authentication: a forged request is refused before it costs a credential check.
//!
//! [cross-site request forgery]: https://developer.mozilla.org/en-US/docs/Glossary/CSRF
//! [`Sec-Fetch-Site`]: https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Sec-Fetch-Site
//! [`Origin`]: https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Origin
//! [`CrossOriginProtection`]: https://pkg.go.dev/net/http#CrossOriginProtection
//! [Filippo Valsorda's post]: https://words.filippo.io/csrf/

mod builder;
mod bypass;
mod layer;

pub use builder::CsrfBuilder;
pub(crate) use layer::origin_is_host;
pub use layer::{
    CrossOriginReason, CrossOriginRefused, Csrf, CsrfLayer, ResponseFuture, SEC_FETCH_SITE,
};

/// A configuration that [`CsrfBuilder::build`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A trusted origin that no browser sends.
    #[error("CSRF: invalid trusted origin {origin:?}: {reason}")]
    InvalidTrustedOrigin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bypass pattern that is not an absolute path or a `/prefix/*` pattern (after an
    /// optional method and a space).
    #[error("CSRF: invalid bypass path {pattern:?}: {reason}")]
    InvalidBypassPath {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests;
