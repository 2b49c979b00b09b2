//! The layer, its service and its decision on each request.

use std::sync::Arc;

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, Method, Request};

use super::builder::CsrfBuilder;
use super::bypass::BypassPaths;
use crate::cors::origin::{Origin, split_origin};
use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::{Problem, ProblemType, Rejection, rejection_response};

/// `Sec-Fetch-Site`, a [Fetch Metadata](https://www.w3.org/TR/fetch-metadata/) request header.
pub const SEC_FETCH_SITE: http::HeaderName = http::HeaderName::from_static("sec-fetch-site");

#[derive(Debug, Default)]
pub(super) struct Config {
    pub(super) trusted: Vec<Origin>,
    pub(super) bypass: BypassPaths,
}

/// Refuses cross-origin requests that can change state; see the [module docs](super).
#[derive(Clone, Debug, Default)]
pub struct CsrfLayer {
    pub(super) config: Arc<Config>,
}

impl CsrfLayer {
    /// The protection with no trusted origin and no bypass path: a cross-origin browser
    /// request with an unsafe method is refused, whatever its origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for trusted origins and bypass paths.
    pub fn builder() -> CsrfBuilder {
        CsrfBuilder::default()
    }
}

guarded_service! {
    /// The service of a [`CsrfLayer`].
    service Csrf<S> { guard: CsrfLayer }
    /// The response future of [`Csrf`].
    future ResponseFuture;
    layer;
}

/// Why a [`CsrfLayer`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrossOriginReason {
    /// The browser said the request is not same-origin: `Sec-Fetch-Site` is `cross-site`,
    /// `same-site` or a value this layer does not know.
    SecFetchSite,
    /// No `Sec-Fetch-Site` (an old browser, or not a browser), and an `Origin` that is not the
    /// host the request was sent to.
    OriginNotHost,
    /// More than one `Origin` header: no browser sends that.
    SeveralOrigins,
}

impl CrossOriginReason {
    /// A short code, for logs: `sec_fetch_site`, `origin_not_host` or `several_origins`.
    pub fn code(self) -> &'static str {
        match self {
            Self::SecFetchSite => "sec_fetch_site",
            Self::OriginNotHost => "origin_not_host",
            Self::SeveralOrigins => "several_origins",
        }
    }
}

/// The rejection of a [`CsrfLayer`]: a `403` [`cross-origin-request-refused`] problem. It is in
/// the refused response's extensions, with its [`Problem`].
///
/// [`cross-origin-request-refused`]: crate::problem#cross-origin-request-refused
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossOriginRefused {
    reason: CrossOriginReason,
}

impl CrossOriginRefused {
    /// Why the request was refused.
    pub fn reason(&self) -> CrossOriginReason {
        self.reason
    }
}

impl Rejection for CrossOriginRefused {
    fn problem(&self) -> Problem {
        let detail = match self.reason {
            CrossOriginReason::SecFetchSite => {
                "The browser marked this request as cross-origin (Sec-Fetch-Site); this endpoint \
                 accepts it only from its own origin or a trusted one."
            }
            CrossOriginReason::OriginNotHost => {
                "The request's Origin is neither the host it was sent to nor a trusted origin."
            }
            CrossOriginReason::SeveralOrigins => "The request carries more than one Origin header.",
        };
        Problem::of(ProblemType::CrossOriginRequestRefused).with_detail(detail)
    }
}

impl CsrfLayer {
    /// The decision on a request: the algorithm of Go's `CrossOriginProtection`.
    pub(super) fn check<B>(&self, req: &Request<B>) -> Result<(), CrossOriginReason> {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let headers = req.headers();
        let mut origins = headers.get_all(ORIGIN).iter();
        // An empty value counts as none, as Go's `Header.Get` returns "" for both.
        let origin = origins.next().filter(|o| !o.is_empty());
        if origins.next().is_some() {
            return self.unless_exempt(req, None, CrossOriginReason::SeveralOrigins);
        }
        let mut sites = headers.get_all(SEC_FETCH_SITE).iter();
        match (sites.next().map(|v| v.as_bytes()), sites.next()) {
            (None | Some(b""), None) => {}
            // Values are lowercase tokens (Fetch Metadata); anything else is unknown.
            (Some(b"same-origin" | b"none"), None) => return Ok(()),
            _ => return self.unless_exempt(req, origin, CrossOriginReason::SecFetchSite),
        }
        let Some(origin) = origin else {
            // Neither header: same-origin from an old browser, or not a browser.
            return Ok(());
        };
        if origin_is_host(origin.as_bytes(), req) {
            // Scheme-blind, as Go: an http page posting to the https site passes here, where
            // Sec-Fetch-Site (every browser since 2023) would have told. HSTS closes that gap.
            return Ok(());
        }
        self.unless_exempt(req, Some(origin), CrossOriginReason::OriginNotHost)
    }

    /// `Err(reason)` unless the path is bypassed or `origin` is trusted: checked last, as Go
    /// does, since most requests never get here.
    fn unless_exempt<B>(
        &self,
        req: &Request<B>,
        origin: Option<&http::HeaderValue>,
        reason: CrossOriginReason,
    ) -> Result<(), CrossOriginReason> {
        let config = &*self.config;
        if config.bypass.matches(req.method(), req.uri().path()) {
            return Ok(());
        }
        let trusted = origin
            .and_then(|o| o.to_str().ok())
            .and_then(split_origin)
            .is_some_and(|(scheme, host, port)| {
                config.trusted.iter().any(|t| t.is(scheme, host, port))
            });
        if trusted { Ok(()) } else { Err(reason) }
    }
}

/// Whether `origin`'s `host[:port]` is the request's own: the request target's authority
/// (HTTP/2 `:authority`, an absolute-form target) or else `Host`, compared byte for byte but
/// for the case of letters, without looking at the scheme (the request does not tell it).
/// The origin scheme's default port counts as written or not on either side, as tower-http's
/// `CsrfLayer` compares effective ports: `Host: example.com:443` (a proxy that writes the
/// port) is the host of `https://example.com`.
pub(crate) fn origin_is_host<B>(origin: &[u8], req: &Request<B>) -> bool {
    let (authority, default_port) = match origin.strip_prefix(b"https://") {
        Some(rest) => (rest, &b":443"[..]),
        None => match origin.strip_prefix(b"http://") {
            Some(rest) => (rest, &b":80"[..]),
            None => return false,
        },
    };
    let host = match req.uri().authority() {
        Some(a) => a.as_str().as_bytes(),
        None => match host_header(req.headers()) {
            Some(h) => h,
            None => return false,
        },
    };
    if authority.is_empty() || host.is_empty() {
        return false;
    }
    // `longer` is `shorter` with the default port written.
    let with_default_port = |longer: &[u8], shorter: &[u8]| {
        longer.len() == shorter.len() + default_port.len()
            && longer[..shorter.len()].eq_ignore_ascii_case(shorter)
            && &longer[shorter.len()..] == default_port
    };
    authority.eq_ignore_ascii_case(host)
        || with_default_port(authority, host)
        || with_default_port(host, authority)
}

fn host_header(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(HOST).map(|h| h.as_bytes())
}

impl Guard for CsrfLayer {
    type State = ();
    type Wait = std::future::Pending<()>;
    type Resumed = ();

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        match self.check(req) {
            Ok(()) => Decision::Pass(()),
            Err(reason) => {
                crate::core::event::emit(
                    crate::core::event::Kind::CsrfRefused,
                    &crate::core::RequestHead::of(req),
                    &crate::core::event::Fields {
                        status: Some(403),
                        error_type: Some("cross_origin"),
                        problem: Some(ProblemType::CrossOriginRequestRefused.slug()),
                        reason: Some(reason.code()),
                        ..Default::default()
                    },
                );
                Decision::Answer(rejection_response(req, CrossOriginRefused { reason }))
            }
        }
    }

    fn resume<B>(&self, _: &mut Request<B>, (): ()) -> Decision<Self> {
        Decision::Pass(())
    }
}
