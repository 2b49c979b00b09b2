//! The request id value, shared by every layer (the problem renderer writes it, the request id
//! layer makes it).

use std::fmt;

use http::HeaderValue;

/// The largest maximum length a layer can be configured with.
pub const MAX_MAX_LENGTH: usize = 1024;

/// Symbols that are never accepted: they delimit fields in headers, logs, CSV or HTML.
pub(crate) const FORBIDDEN_SYMBOLS: &[u8] = b"\"\\,;<>`'";

/// The id of one request, from [`RequestIdLayer`](crate::RequestIdLayer).
///
/// Always 1 to 1024 visible ASCII characters without field delimiters, so it is safe in a
/// header, a log line and an HTML or JSON document.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(pub(crate) HeaderValue);

impl RequestId {
    /// An id made of `id`.
    ///
    /// # Errors
    ///
    /// When `id` is empty, longer than 1024 bytes, has a character that is not visible ASCII
    /// (space, control or non-ASCII), or one that delimits fields in headers, logs or markup
    /// (`" \ , ; < > ` '`).
    pub fn new(id: &str) -> Result<Self, RequestIdError> {
        let allowed = |b: u8| b.is_ascii_graphic() && !FORBIDDEN_SYMBOLS.contains(&b);
        if id.is_empty() || id.len() > MAX_MAX_LENGTH || !id.bytes().all(allowed) {
            return Err(RequestIdError(()));
        }
        HeaderValue::from_str(id)
            .map(Self)
            .map_err(|_| RequestIdError(()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII ever gets in, so `to_str` cannot fail.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::str::FromStr for RequestId {
    type Err = RequestIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl From<RequestId> for HeaderValue {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

/// The error of [`RequestId::new`]: the text is not a possible request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdError(());

impl fmt::Display for RequestIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a request id must be 1 to 1024 visible ASCII characters, without \" \\ , ; < > ` '",
        )
    }
}

impl std::error::Error for RequestIdError {}
