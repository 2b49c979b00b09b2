//! [`CorsLayer`], its service and its decision: preflights answered here, disallowed origins
//! rejected (when asked to), the CORS headers of actual requests set on the inner response.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderName, ORIGIN,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use super::builder::CorsBuilder;
use super::origin::{Check, Origins};
use crate::core::BoxFuture;
use crate::core::util::{self, Vary};
use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::{self, Problem, ProblemType, Rejection};

/// `access-control-request-private-network`
const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// `access-control-allow-private-network`
const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

/// A built policy: every header value made once.
#[derive(Debug)]
pub(super) struct Config {
    pub(super) origins: Origins,
    pub(super) credentials: bool,
    pub(super) methods: HeaderValue,
    pub(super) headers: Option<HeaderValue>,
    pub(super) expose: Option<HeaderValue>,
    pub(super) max_age: Option<HeaderValue>,
    /// Answer preflights with the headers they ask for (`permissive()` only: `*` does not
    /// cover `Authorization`).
    pub(super) mirror_headers: bool,
    pub(super) private_network: bool,
    pub(super) reject_disallowed: bool,
    pub(super) vary: Option<Vary>,
    pub(super) vary_preflight: Option<Vary>,
}

/// The `Vary` of actual requests.
pub(super) fn vary_actual() -> Option<Vary> {
    Vary::new(&["origin"])
}

/// The `Vary` of preflights.
pub(super) fn vary_preflight(private_network: bool) -> Option<Vary> {
    let mut names = vec![
        "origin",
        "access-control-request-method",
        "access-control-request-headers",
    ];
    if private_network {
        names.push("access-control-request-private-network");
    }
    Vary::new(&names)
}

/// Answers cross-origin requests from allowed origins; see the [module docs](super).
///
/// Its service forwards `poll_ready` to the inner service, as tower requires: put `CorsLayer`
/// outside tower's own `RateLimit`, `ConcurrencyLimit` or `LoadShed`, or preflights wait for
/// (or are shed with) the requests they precede.
#[derive(Clone, Debug)]
pub struct CorsLayer {
    pub(super) config: Arc<Config>,
}

impl CorsLayer {
    /// A builder with no origin allowed yet.
    pub fn builder() -> CorsBuilder {
        CorsBuilder::default()
    }

    /// Everything allowed, for local development only: any origin (`*`), any method and header,
    /// every response header exposed, no credentials.
    ///
    /// Do not ship it: every website a user visits can then call the API from their browser
    /// and read the answers. That is harmless only for fully public, unauthenticated data — and
    /// an API on a developer's machine or an intranet usually is not. Without credentials it
    /// cannot leak cookies, but it still opens APIs that trust the network (IP allow-lists,
    /// private addresses) to any page.
    pub fn permissive() -> Self {
        Self {
            config: Arc::new(Config {
                origins: Origins::Any,
                credentials: false,
                methods: HeaderValue::from_static("*"),
                headers: Some(HeaderValue::from_static("*")),
                expose: Some(HeaderValue::from_static("*")),
                max_age: None,
                mirror_headers: true,
                private_network: false,
                reject_disallowed: false,
                vary: vary_actual(),
                vary_preflight: vary_preflight(false),
            }),
        }
    }
}

guarded_service! {
    /// The service of a [`CorsLayer`].
    service Cors<S> { guard: CorsLayer }
    /// The response future of [`Cors`].
    future ResponseFuture;
    layer;
}

/// The rejection of a request from a disallowed origin, when the layer is configured with
/// [`CorsBuilder::reject_disallowed`]: `403 Forbidden`, problem type
/// [`cors-origin-not-allowed`](crate::problem#cors-origin-not-allowed).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OriginNotAllowed;

impl Rejection for OriginNotAllowed {
    fn problem(&self) -> Problem {
        Problem::of(ProblemType::CorsOriginNotAllowed)
            .with_detail("Requests from this origin are not allowed.")
    }
}

/// What [`Guard::respond`] does to the inner service's response.
#[derive(Debug)]
pub(crate) struct Respond {
    config: Arc<Config>,
    action: Action,
    /// An `OPTIONS` request that is no preflight: its answer varies by the preflight headers
    /// too, or a cache that stores `OPTIONS` answers would serve it to the preflights of the
    /// same URL (jub0bs/cors and tower-http vary them so).
    options: bool,
}

#[derive(Debug)]
enum Action {
    /// An allowed origin (or, with `*`, anyone): the CORS headers of an actual request, with
    /// this `Access-Control-Allow-Origin`.
    Grant(HeaderValue),
    /// Not a CORS request (no `Origin`): the headers stay as they are.
    Keep,
    /// A disallowed origin: any CORS header an inner layer set is removed.
    Strip,
}

impl Guard for CorsLayer {
    type State = Respond;
    const ADDS_HEADERS: bool = true;
    type Wait = BoxFuture<bool>;
    type Resumed = bool;

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        let allowed = match req.headers().get(ORIGIN) {
            None => false,
            Some(origin) => match self.config.origins.check(origin) {
                Check::Allowed => true,
                Check::Disallowed => false,
                Check::Ask(predicate) => {
                    // `check` asks only about origins that are text.
                    let text = origin.to_str().unwrap_or_default().to_owned();
                    return Decision::Wait(predicate.ask(text));
                }
            },
        };
        self.decided(req, allowed)
    }

    fn resume<B>(&self, req: &mut Request<B>, allowed: bool) -> Decision<Self> {
        self.decided(req, allowed)
    }

    fn respond<B>(state: Respond, res: &mut Response<B>) {
        let Respond {
            config,
            action,
            options,
        } = state;
        let headers = res.headers_mut();
        match action {
            Action::Grant(allow_origin) => actual_headers(headers, &config, allow_origin),
            Action::Keep => {}
            Action::Strip => strip_cors(headers),
        }
        if options {
            // Whatever the policy: a preflight to this URL is answered otherwise.
            if let Some(vary) = &config.vary_preflight {
                vary.apply(headers);
            }
        } else if !matches!(config.origins, Origins::Any)
            && let Some(vary) = &config.vary
        {
            // `*` answers the same to everyone, so caches need no `Vary` then.
            vary.apply(headers);
        }
    }
}

impl CorsLayer {
    /// What to do once we know whether the origin is allowed.
    fn decided<B>(&self, req: &Request<B>, allowed: bool) -> Decision<Self> {
        let config = &self.config;
        let Some(origin) = req.headers().get(ORIGIN) else {
            // Not a CORS request. `*` answers the same to everyone, so every response carries it.
            let action = match config.origins {
                Origins::Any => Action::Grant(HeaderValue::from_static("*")),
                Origins::List { .. } => Action::Keep,
            };
            return Decision::Pass(Respond {
                config: Arc::clone(config),
                action,
                options: req.method() == Method::OPTIONS,
            });
        };
        let options = req.method() == Method::OPTIONS;
        let preflight = options && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        // Browsers send `Origin` on same-origin POSTs too; `Sec-Fetch-Site` (which pages cannot
        // forge) tells those apart, so the API's own front end is not refused. A browser
        // without Fetch Metadata is told apart as the CSRF layer does: by its `Origin` being
        // the request's own host.
        let same_origin = || match req.headers().get(crate::csrf::SEC_FETCH_SITE) {
            Some(v) => v.as_bytes() == b"same-origin",
            None => crate::csrf::origin_is_host(origin.as_bytes(), req),
        };
        if !allowed && config.reject_disallowed && !same_origin() {
            let origin = req
                .headers()
                .get(http::header::ORIGIN)
                .and_then(|v| v.to_str().ok());
            crate::core::event::emit(
                crate::core::event::Kind::CorsRefused,
                &crate::core::RequestHead::of(req),
                &crate::core::event::Fields {
                    status: Some(403),
                    error_type: Some("origin_not_allowed"),
                    problem: Some(crate::problem::ProblemType::CorsOriginNotAllowed.slug()),
                    reason: origin,
                    ..Default::default()
                },
            );
            let mut res = problem::rejection_response(req, OriginNotAllowed);
            let vary = if options {
                &config.vary_preflight
            } else {
                &config.vary
            };
            if let Some(vary) = vary {
                vary.apply(res.headers_mut());
            }
            return Decision::Answer(res);
        }
        if preflight {
            let mut res = Response::new(Bytes::new());
            *res.status_mut() = StatusCode::NO_CONTENT;
            let headers = res.headers_mut();
            if let Some(vary) = &config.vary_preflight {
                vary.apply(headers);
            }
            if allowed {
                preflight_headers(headers, config, origin, req.headers());
            }
            return Decision::Answer(res);
        }
        let action = if allowed {
            Action::Grant(allow_origin_value(config, origin))
        } else {
            Action::Strip
        };
        Decision::Pass(Respond {
            config: Arc::clone(config),
            action,
            options,
        })
    }
}

fn allow_origin_value(config: &Config, origin: &HeaderValue) -> HeaderValue {
    match config.origins {
        Origins::Any => HeaderValue::from_static("*"),
        Origins::List { .. } => origin.clone(),
    }
}

fn preflight_headers(
    headers: &mut HeaderMap,
    config: &Config,
    origin: &HeaderValue,
    request: &HeaderMap,
) {
    util::set_header(
        headers,
        ACCESS_CONTROL_ALLOW_ORIGIN,
        allow_origin_value(config, origin),
    );
    if config.credentials {
        util::set_header(
            headers,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    util::set_header(
        headers,
        ACCESS_CONTROL_ALLOW_METHODS,
        config.methods.clone(),
    );
    let mut requested = request.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter();
    match (&config.headers, requested.next()) {
        (_, Some(asked)) if config.mirror_headers => {
            // Every line of the request's list, not only the first: a client may split it over
            // several, which a browser reads back as one list.
            util::set_header(headers, ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            for more in requested {
                let _ = headers.try_append(ACCESS_CONTROL_ALLOW_HEADERS, more.clone());
            }
        }
        (Some(allowed), _) => {
            util::set_header(headers, ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
        }
        (None, _) => {}
    }
    if let Some(max_age) = &config.max_age {
        util::set_header(headers, ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    let asks_private_network = request
        .get(REQUEST_PRIVATE_NETWORK)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    if config.private_network && asks_private_network {
        util::set_header(
            headers,
            ALLOW_PRIVATE_NETWORK,
            HeaderValue::from_static("true"),
        );
    }
}

fn actual_headers(headers: &mut HeaderMap, config: &Config, allow_origin: HeaderValue) {
    // This layer decides: whatever an inner layer said about CORS goes first (looked for in
    // one pass over the names; removing each by name costs a lookup apiece).
    if headers
        .keys()
        .any(|name| name.as_str().starts_with("access-control-"))
    {
        strip_cors(headers);
    }
    util::set_header(headers, ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    if config.credentials {
        util::set_header(
            headers,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(expose) = &config.expose {
        util::set_header(headers, ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
}

/// Removes every `Access-Control-Allow-*` and `-Expose-Headers` header (set by an inner layer
/// for an origin this layer does not allow).
fn strip_cors(headers: &mut HeaderMap) {
    for name in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
        ALLOW_PRIVATE_NETWORK,
    ] {
        headers.remove(name);
    }
}
