//! Leaf types every layer shares: the request id value, the view of a request head, the
//! clock, values ready now or later, and small header, query and URL helpers. This module
//! imports no layer; `problem` and every layer import it.

mod answer;
mod clock;
pub(crate) mod event;
mod head;
#[cfg(any(feature = "validate", feature = "jwt", feature = "introspection"))]
pub(crate) mod json;
#[cfg(any(
    feature = "jwks",
    feature = "introspection",
    feature = "client-credentials"
))]
pub(crate) mod remote;
mod request_id;
pub(crate) mod route;
pub(crate) mod util;

pub use answer::{Answer, BoxFuture};
pub use clock::{Clock, ManualClock, SystemClock};
pub(crate) use clock::{SharedClock, system as system_clock};
pub use head::RequestHead;
pub(crate) use request_id::FORBIDDEN_SYMBOLS;
pub use request_id::{MAX_MAX_LENGTH, RequestId, RequestIdError};
