//! [`ValidationError`]: why a request was refused, and its problem.

use std::sync::Arc;

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::Serialize;

use crate::problem::{Problem, ProblemType, Rejection};

/// What is wrong with a request's `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaTypeRefusal {
    /// The request has no `Content-Type`.
    Missing,
    /// Several `Content-Type` headers, or one that is not `type/subtype *(; name=value)`.
    Malformed,
    /// A media type the route does not accept.
    NotAccepted,
    /// A JSON body declared in a charset other than UTF-8 (RFC 8259 section 8.1).
    Charset,
    /// A JSON body in a content coding (`Content-Encoding: gzip`): it is validated as sent,
    /// so it must be sent without one. The problem carries `Accept-Encoding: identity` (RFC
    /// 9110 section 15.5.16).
    ContentEncoding,
}

/// One way a JSON body breaks its schema: where ([RFC 6901] JSON Pointer into the body, `""`
/// for the whole body) and what. The message names the schema keyword's expectation and
/// never repeats the offending value. What the client wrote is bounded in it: a message has
/// at most [`MAX_MESSAGE_LEN`] characters (a longer one is cut, ending in `…`); unexpected
/// property names are quoted at most [`MAX_NAMES`] at a time, as many as fit, each in at most
/// [`MAX_NAME_LEN`] characters, and the rest counted; a pointer longer than
/// [`MAX_POINTER_LEN`] bytes is shortened to its longest ancestor that fits. A body of a
/// thousand long unexpected names cannot make its refusal the size of the body.
///
/// [RFC 6901]: https://www.rfc-editor.org/rfc/rfc6901
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pointer: String,
    message: String,
}

/// The most unexpected property names a message quotes.
pub const MAX_NAMES: usize = 5;
/// The most characters of a property name a message quotes.
pub const MAX_NAME_LEN: usize = 64;
/// The most characters of a message.
pub const MAX_MESSAGE_LEN: usize = 300;
/// The most bytes of a pointer.
pub const MAX_POINTER_LEN: usize = 256;

impl Violation {
    pub(crate) fn new(pointer: String, message: String) -> Self {
        Self { pointer, message }
    }

    /// The violation `error` reports, bounded as the type's docs say.
    pub(crate) fn of(error: &jsonschema::ValidationError<'_>) -> Self {
        use jsonschema::error::ValidationErrorKind as Kind;
        let message = match error.kind() {
            Kind::AdditionalProperties { unexpected } => {
                unexpected_names("Additional properties are not allowed", unexpected)
            }
            Kind::UnevaluatedProperties { unexpected } => {
                unexpected_names("Unevaluated properties are not allowed", unexpected)
            }
            // `jsonschema` masks the error, but not the property name's own one inside it,
            // whose value is the name the client wrote (an API key pasted as a key).
            Kind::PropertyNames { error } => clip(
                &error.masked_with("a property name").to_string(),
                MAX_MESSAGE_LEN,
            ),
            _ => clip(&error.masked().to_string(), MAX_MESSAGE_LEN),
        };
        Self::new(pointer_within(error.instance_path().as_str()), message)
    }

    /// The JSON Pointer to the offending value.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a [`ValidateRequestLayer`](super::ValidateRequestLayer) refused a request. Rendered as a
/// problem (see the [module docs](super) for statuses); it also travels in the response's
/// extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationError {
    /// `415`: the `Content-Type` is missing, malformed, not accepted, or a JSON body is not UTF-8.
    UnsupportedMediaType {
        /// What is wrong.
        refusal: MediaTypeRefusal,
        /// The media types the route accepts.
        accepted: Arc<[String]>,
        /// The request method (a `POST` gets `Accept-Post`, a `PATCH` `Accept-Patch`, any
        /// other `Accept`).
        method: Method,
    },
    /// `413`: the body is larger than the route's limit.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// `400`: the body is not JSON (or nests deeper than 128 levels).
    InvalidJson {
        /// The parser's message: what and where (line and column), never a value of the body
        /// (a key written twice is named, cut at 64 characters, as the schema's messages name
        /// unexpected properties).
        detail: String,
    },
    /// `422`: the JSON body breaks the route's schema.
    SchemaViolations {
        /// The violations, at most the layer's cap.
        violations: Vec<Violation>,
        /// How many there are in all; when not [`complete`](Self::SchemaViolations::complete),
        /// how many were looked for (the first).
        total: usize,
        /// Whether every violation was counted: `false` for a document of more than
        /// [`MAX_VALUES_FULLY_CHECKED`](super::MAX_VALUES_FULLY_CHECKED) values, checked up to
        /// its first violation only.
        complete: bool,
    },
    /// `400`: the body could not be read (the client went away, or its framing is broken).
    UnreadableBody,
}

impl ValidationError {
    /// The problem type of this error.
    pub fn problem_type(&self) -> ProblemType {
        match self {
            Self::UnsupportedMediaType { .. } => ProblemType::UnsupportedMediaType,
            Self::TooLarge { .. } => ProblemType::PayloadTooLarge,
            Self::InvalidJson { .. } => ProblemType::InvalidJson,
            Self::SchemaViolations { .. } => ProblemType::ValidationFailed,
            Self::UnreadableBody => ProblemType::UnreadableBody,
        }
    }
}

impl Rejection for ValidationError {
    fn problem(&self) -> Problem {
        let problem = Problem::of(self.problem_type());
        match self {
            Self::UnsupportedMediaType {
                refusal,
                accepted,
                method,
            } => {
                let list = accepted.join(", ");
                let detail = match refusal {
                    MediaTypeRefusal::Missing => {
                        format!("This request needs a Content-Type: {list}.")
                    }
                    MediaTypeRefusal::Malformed => {
                        format!(
                            "The Content-Type header is malformed or repeated; send one of: {list}."
                        )
                    }
                    MediaTypeRefusal::NotAccepted => {
                        format!("This request accepts a body of type {list} only.")
                    }
                    MediaTypeRefusal::Charset => {
                        "A JSON body must be UTF-8: send charset=utf-8 or no charset.".to_owned()
                    }
                    MediaTypeRefusal::ContentEncoding => {
                        "This request body is validated as sent: send it without a \
                         Content-Encoding."
                            .to_owned()
                    }
                };
                let mut problem = problem
                    .with_detail(detail)
                    .with_extension("accepted_media_types", accepted.to_vec());
                // RFC 9110 section 15.5.16: "the Accept response header field can be used to
                // indicate which media types would have been accepted"; a `POST` and a
                // `PATCH` have fields of their own for it (RFC 7694's and RFC 5789's).
                let header = match (*method == Method::POST, *method == Method::PATCH) {
                    (true, _) => Some(HeaderName::from_static("accept-post")),
                    (_, true) => Some(HeaderName::from_static("accept-patch")),
                    _ if *refusal != MediaTypeRefusal::ContentEncoding => {
                        Some(http::header::ACCEPT)
                    }
                    _ => None,
                };
                if let (Some(name), Ok(value)) = (header, HeaderValue::from_str(&list)) {
                    problem = problem.with_header(name, value);
                }
                if *refusal == MediaTypeRefusal::ContentEncoding {
                    problem = problem.with_header(
                        http::header::ACCEPT_ENCODING,
                        HeaderValue::from_static("identity"),
                    );
                }
                problem
            }
            Self::TooLarge { limit } => problem.with_detail(format!(
                "The request body is larger than the {limit} bytes this route accepts."
            )),
            Self::InvalidJson { detail } => {
                problem.with_detail(format!("The request body is not valid JSON: {detail}."))
            }
            Self::SchemaViolations {
                violations,
                total,
                complete,
            } => {
                let detail = if !complete {
                    "The request body breaks the schema; its first violation is listed.".to_owned()
                } else if *total > violations.len() {
                    format!(
                        "The request body breaks the schema in {total} places; the first {} are listed.",
                        violations.len()
                    )
                } else if *total == 1 {
                    "The request body breaks the schema in 1 place.".to_owned()
                } else {
                    format!("The request body breaks the schema in {total} places.")
                };
                let errors = serde_json::to_value(violations).unwrap_or_default();
                problem.with_detail(detail).with_extension("errors", errors)
            }
            Self::UnreadableBody => problem.with_detail("The request body could not be read."),
        }
    }
}

/// `text` in at most `max` characters: cut, with `…` as its last, when longer.
fn clip(text: &str, max: usize) -> String {
    if text.chars().nth(max).is_none() {
        return text.to_owned();
    }
    let end = text
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    format!("{}…", &text[..end])
}

/// `jsonschema`'s message for unexpected properties (`... ('a', 'b' were unexpected)`), within
/// [`MAX_MESSAGE_LEN`] characters: at most [`MAX_NAMES`] names of at most [`MAX_NAME_LEN`]
/// characters, as many as fit, and how many more.
fn unexpected_names(what: &str, names: &[String]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .take(MAX_NAMES)
        .map(|n| format!("'{}'", clip(n, MAX_NAME_LEN)))
        .collect();
    let verb = if names.len() == 1 { "was" } else { "were" };
    let mut shown = quoted.len();
    loop {
        let more = names.len() - shown;
        let listed = quoted[..shown].join(", ");
        let message = match (shown, more) {
            (_, 0) => format!("{what} ({listed} {verb} unexpected)"),
            (0, _) => format!("{what} ({more} {verb} unexpected)"),
            _ => format!("{what} ({listed} and {more} more {verb} unexpected)"),
        };
        if shown == 0 || message.chars().count() <= MAX_MESSAGE_LEN {
            return clip(&message, MAX_MESSAGE_LEN);
        }
        shown -= 1;
    }
}

/// `pointer`, or its longest ancestor (whole reference tokens) within [`MAX_POINTER_LEN`].
fn pointer_within(pointer: &str) -> String {
    if pointer.len() <= MAX_POINTER_LEN {
        return pointer.to_owned();
    }
    let mut end = 0;
    for (i, b) in pointer.bytes().enumerate() {
        if i > MAX_POINTER_LEN {
            break;
        }
        if b == b'/' {
            end = i;
        }
    }
    pointer[..end].to_owned()
}
