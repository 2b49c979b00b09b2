//! The builder: headers to strip, the log excerpt's size, panics and problems.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SERVER, TRANSFER_ENCODING};

use super::ConfigError;
use super::layer::{Config, ErrorHygieneLayer};
use crate::security_headers::X_POWERED_BY;

/// The default of [`ErrorHygieneBuilder::log_body_limit`]: 4 KiB of a replaced body are logged.
pub const DEFAULT_LOG_BODY_LIMIT: usize = 4096;

/// The largest [`ErrorHygieneBuilder::log_body_limit`]: 64 KiB.
pub const MAX_LOG_BODY_LIMIT: usize = 64 * 1024;

/// The default of [`ErrorHygieneBuilder::log_body_timeout`]: one second.
pub const DEFAULT_LOG_BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds an [`ErrorHygieneLayer`]; see [`ErrorHygieneLayer::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ErrorHygieneBuilder {
    strip: Vec<String>,
    log_body_limit: usize,
    log_body_timeout: Duration,
    catch_panics: bool,
    keep_problems: bool,
}

impl Default for ErrorHygieneBuilder {
    fn default() -> Self {
        Self {
            strip: Vec::new(),
            log_body_limit: DEFAULT_LOG_BODY_LIMIT,
            log_body_timeout: DEFAULT_LOG_BODY_TIMEOUT,
            catch_panics: true,
            keep_problems: true,
        }
    }
}

impl ErrorHygieneBuilder {
    /// Removes the header `name` from every response, besides `Server` and `X-Powered-By`
    /// (say `X-AspNet-Version`, `X-Debug-Token`, `X-Backend-Server`).
    pub fn strip_header(mut self, name: impl Into<String>) -> Self {
        self.strip.push(name.into());
        self
    }

    /// [`strip_header`](Self::strip_header) for each of `names`.
    pub fn strip_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.strip.extend(names.into_iter().map(Into::into));
        self
    }

    /// How many bytes of a replaced body are read for the server's log (default
    /// [`DEFAULT_LOG_BODY_LIMIT`], at most [`MAX_LOG_BODY_LIMIT`]; `0` reads nothing). Reading
    /// stops there, or at the body's end, before the problem is sent.
    pub fn log_body_limit(mut self, bytes: usize) -> Self {
        self.log_body_limit = bytes;
        self
    }

    /// How long the replaced body is waited for (default [`DEFAULT_LOG_BODY_TIMEOUT`]): past
    /// it, the problem is sent with what has come (the log says the excerpt is truncated). A
    /// failing handler whose body streams slowly, or never ends, does not hold the client's
    /// answer longer. `Duration::ZERO` takes only what is ready at once. Measured on the
    /// tokio timer (`#[tokio::main]` and `Builder::enable_all` have it); outside a tokio
    /// runtime, or in one built without `enable_time` (where tokio panics, and its panic
    /// message is printed), the body is waited for without a limit.
    pub fn log_body_timeout(mut self, timeout: Duration) -> Self {
        self.log_body_timeout = timeout;
        self
    }

    /// Whether a panic of the inner service (in `call` or while its future runs) is caught and
    /// answered with a `500` problem (default on). Off, the panic goes on up the stack.
    pub fn catch_panics(mut self, on: bool) -> Self {
        self.catch_panics = on;
        self
    }

    /// Whether a `5xx` response that carries a [`Problem`](crate::problem::Problem) in its
    /// extensions is kept as it is (default on): the rejections of this crate's layers
    /// (`auth-unavailable`, `rate-limit-unavailable`) and a `Problem` a handler returned
    /// deliberately tell the client only what was chosen for it. Off, they are replaced too.
    pub fn keep_problems(mut self, on: bool) -> Self {
        self.keep_problems = on;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeaderName`] for a name that is not a header name,
    /// [`ConfigError::BodyHeader`] for `Content-Type`, `Content-Length` or `Transfer-Encoding`
    /// (the client needs them to read any body), [`ConfigError::LogBodyLimit`] past
    /// [`MAX_LOG_BODY_LIMIT`].
    pub fn build(self) -> Result<ErrorHygieneLayer, ConfigError> {
        if self.log_body_limit > MAX_LOG_BODY_LIMIT {
            return Err(ConfigError::LogBodyLimit {
                limit: self.log_body_limit,
                max: MAX_LOG_BODY_LIMIT,
            });
        }
        let mut strip = vec![SERVER, X_POWERED_BY];
        for name in &self.strip {
            let parsed = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| ConfigError::InvalidHeaderName(name.clone()))?;
            if [CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING].contains(&parsed) {
                return Err(ConfigError::BodyHeader(parsed.as_str().to_owned()));
            }
            if !strip.contains(&parsed) {
                strip.push(parsed);
            }
        }
        Ok(ErrorHygieneLayer {
            config: Arc::new(Config {
                strip: strip.into_boxed_slice(),
                log_body_limit: self.log_body_limit,
                log_body_timeout: self.log_body_timeout,
                catch_panics: self.catch_panics,
                keep_problems: self.keep_problems,
            }),
        })
    }
}
