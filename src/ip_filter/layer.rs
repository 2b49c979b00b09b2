//! [`IpFilterLayer`], its decision on each request and its rejection.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::Request;

use super::builder::IpFilterBuilder;
use super::handle::{IpFilterHandle, Lists};
use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::{Problem, ProblemType, Rejection, rejection_response};
use crate::rate_limit::{ClientIp, peer_ip};

/// Lets requests through by their client IP address: allow and deny lists of CIDR networks;
/// see the [module docs](super).
#[derive(Clone, Debug)]
pub struct IpFilterLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    lists: Arc<ArcSwap<Lists>>,
    client_ip: ClientIp,
    allow_unknown: bool,
}

impl IpFilterLayer {
    /// A builder with no list, the socket peer as client address ([`ClientIp::peer`]) and
    /// unknown addresses refused.
    pub fn builder() -> IpFilterBuilder {
        IpFilterBuilder::default()
    }

    pub(super) fn new(lists: Lists, client_ip: ClientIp, allow_unknown: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                lists: Arc::new(ArcSwap::from_pointee(lists)),
                client_ip,
                allow_unknown,
            }),
        }
    }

    /// A handle on the lists of this layer and of every service made from it, to replace
    /// them while serving.
    #[must_use]
    pub fn handle(&self) -> IpFilterHandle {
        IpFilterHandle::new(Arc::clone(&self.shared.lists))
    }
}

/// Why an [`IpFilterLayer`] refused a request; a `403`
/// [`ip-not-allowed`](crate::problem#ip-not-allowed) problem. The address is in the response's
/// extensions for logs, never in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpNotAllowed {
    /// The client address is in the deny list.
    Denied(IpAddr),
    /// There is an allow list and the client address is not in it.
    NotAllowed(IpAddr),
    /// The client address could not be found: no peer address in the request, or a trusted
    /// proxy's forwarding header that names no address where one is needed (see
    /// [`ClientIp::resolve`]).
    Unknown,
}

impl IpNotAllowed {
    /// The client address refused, when it is known.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Self::Denied(ip) | Self::NotAllowed(ip) => Some(ip),
            Self::Unknown => None,
        }
    }
}

impl Rejection for IpNotAllowed {
    fn problem(&self) -> Problem {
        let detail = match self {
            Self::Denied(_) | Self::NotAllowed(_) => {
                "Requests from this client address are not allowed."
            }
            Self::Unknown => "The client address of this request could not be determined.",
        };
        Problem::of(ProblemType::IpNotAllowed).with_detail(detail)
    }
}

guarded_service! {
    /// The service of an [`IpFilterLayer`].
    service IpFilter<S> { guard: IpFilterLayer }
    /// The response future of [`IpFilter`].
    future ResponseFuture;
    layer;
}

impl Guard for IpFilterLayer {
    type State = ();
    type Wait = std::future::Pending<()>;
    type Resumed = ();

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        let shared = &*self.shared;
        let refusal = match shared.client_ip.address(req.extensions(), req.headers()) {
            Some(ip) => match shared.lists.load().check(ip) {
                Ok(()) => return Decision::Pass(()),
                Err(refusal) => refusal,
            },
            None if shared.allow_unknown => return Decision::Pass(()),
            None => {
                if peer_ip(req.extensions()).is_none() {
                    tracing::error!(
                        target: "tower_shield::ip_filter",
                        "IpFilterLayer found no peer address: serve axum with \
                         `into_make_service_with_connect_info::<SocketAddr>()`, or insert \
                         `PeerAddr`; answering 403"
                    );
                }
                IpNotAllowed::Unknown
            }
        };
        let error_type = match refusal {
            IpNotAllowed::Denied(_) => "ip_denied",
            IpNotAllowed::NotAllowed(_) => "ip_not_allowed",
            IpNotAllowed::Unknown => "ip_unknown",
        };
        crate::core::event::emit(
            crate::core::event::Kind::IpRefused,
            &crate::core::RequestHead::of(req),
            &crate::core::event::Fields {
                status: Some(403),
                error_type: Some(error_type),
                problem: Some(crate::problem::ProblemType::IpNotAllowed.slug()),
                client: refusal.ip(),
                ..Default::default()
            },
        );
        Decision::Answer(rejection_response(req, refusal))
    }

    fn resume<B>(&self, _: &mut Request<B>, (): ()) -> Decision<Self> {
        Decision::Pass(())
    }
}
