//! The decision on each request: the version to serve or the rejection ([`VersionError`]), the
//! `/vN` prefix stripped, and the deprecation headers added to the inner service's response.

use std::sync::Arc;

use http::header::LINK;
use http::{HeaderValue, Request, Response};

use super::VersioningLayer;
use super::deprecation::ResponseHeaders;
use super::source::{Sources, VersionSource, strip};
use super::version::{ApiVersion, Entry};
use crate::core::SharedClock;
use crate::core::util::Vary;
use crate::guard::{Decision, Guard, guarded_service};
use crate::problem::{Problem, ProblemType, Rejection, rejection_response};

/// Why a request's version cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionError {
    /// The version is not one the API has: `400`, with the supported versions.
    Unsupported {
        /// The version asked for.
        requested: u32,
        /// The versions that are served.
        supported: Arc<[u32]>,
    },
    /// A version source has something that is not a version: `400`.
    Invalid {
        /// The source.
        source: VersionSource,
    },
    /// Two sources ask for different versions: `400`.
    Conflicting {
        /// The sources and what each asked for.
        found: Vec<(VersionSource, u32)>,
    },
    /// No version, and one is required: `400`.
    Missing {
        /// The versions that are served.
        supported: Arc<[u32]>,
    },
    /// The version is retired or past its sunset: `410 Gone`.
    Gone {
        /// The version asked for.
        version: u32,
        /// The migration guide, if configured.
        link: Option<Arc<str>>,
    },
}

impl Rejection for VersionError {
    fn problem(&self) -> Problem {
        let list = |versions: &[u32]| {
            versions
                .iter()
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Unsupported {
                requested,
                supported,
            } => Problem::of(ProblemType::UnsupportedVersion)
                .with_detail(format!(
                    "API version {requested} does not exist. Supported versions: {}.",
                    list(supported)
                ))
                .with_extension("supported_versions", supported.to_vec()),
            Self::Invalid { source } => {
                Problem::of(ProblemType::InvalidVersion).with_detail(format!(
                    "The version in the {} is not a version number such as 2 or v2.",
                    source.name()
                ))
            }
            Self::Conflicting { found } => Problem::of(ProblemType::ConflictingVersions)
                .with_detail(format!(
                    "The request asks for different versions: {}.",
                    found
                        .iter()
                        .map(|(s, v)| format!("v{v} in the {}", s.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            Self::Missing { supported } => Problem::of(ProblemType::MissingVersion)
                .with_detail(format!(
                    "This API needs a version. Supported versions: {}.",
                    list(supported)
                ))
                .with_extension("supported_versions", supported.to_vec()),
            Self::Gone { version, link } => {
                let problem = Problem::of(ProblemType::VersionGone);
                match link {
                    Some(link) => {
                        let mut problem = problem
                            .with_detail(format!(
                                "API version {version} has been retired. Migration guide: {link}"
                            ))
                            .with_extension("migration_guide", link.to_string());
                        if let Ok(value) =
                            HeaderValue::try_from(format!("<{link}>; rel=\"deprecation\""))
                        {
                            problem = problem.with_header(LINK, value);
                        }
                        problem
                    }
                    None => problem.with_detail(format!("API version {version} has been retired.")),
                }
            }
        }
    }
}

/// A built [`VersioningLayer`]'s configuration, shared by its services.
pub(super) struct Config {
    pub(super) sources: Sources,
    pub(super) default: Option<u32>,
    pub(super) strip_prefix: bool,
    pub(super) entries: Vec<Entry>,
    /// `Vary` of the rejections (the served versions' is in their [`ResponseHeaders`]).
    pub(super) vary: Option<Vary>,
    pub(super) clock: SharedClock,
}

impl Config {
    /// The versions served now, ascending.
    pub(super) fn supported(&self) -> Arc<[u32]> {
        let now = self.clock.system_time();
        let mut supported: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| !e.gone(now))
            .map(|e| e.number)
            .collect();
        supported.sort_unstable();
        supported.into()
    }

    /// The version to serve, or the rejection.
    fn resolve<B>(&self, req: &Request<B>) -> Result<&Entry, VersionError> {
        let number = match self.sources.requested(req)? {
            Some(v) => v,
            None => self.default.ok_or_else(|| VersionError::Missing {
                supported: self.supported(),
            })?,
        };
        let entry = self
            .entries
            .iter()
            .find(|e| e.number == number)
            .ok_or_else(|| VersionError::Unsupported {
                requested: number,
                supported: self.supported(),
            })?;
        // The clock is read only for versions that have a sunset (or are retired).
        if entry.has_end() && entry.gone(self.clock.system_time()) {
            return Err(VersionError::Gone {
                version: number,
                link: entry.link.clone(),
            });
        }
        Ok(entry)
    }
}

guarded_service! {
    /// The service of a [`VersioningLayer`].
    service Versioning<S> { guard: VersioningLayer }
    /// The response future of [`Versioning`].
    future ResponseFuture;
    layer;
}

impl Guard for VersioningLayer {
    /// The served version's headers (deprecation, `Vary`), added to the inner response.
    type State = Option<Arc<ResponseHeaders>>;
    const ADDS_HEADERS: bool = true;
    type Wait = std::future::Pending<()>;
    type Resumed = ();

    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        let config = &*self.config;
        let entry = match config.resolve(req) {
            Ok(entry) => entry,
            Err(rejection) => {
                let mut res = rejection_response(req, rejection);
                let slug = res
                    .extensions()
                    .get::<Problem>()
                    .map_or("other", crate::problem::slug_of);
                crate::core::event::emit(
                    crate::core::event::Kind::VersionRejected,
                    &crate::core::RequestHead::of(req),
                    &crate::core::event::Fields {
                        status: Some(res.status().as_u16()),
                        error_type: Some(slug),
                        problem: Some(slug),
                        ..Default::default()
                    },
                );
                if let Some(vary) = &config.vary {
                    vary.apply(res.headers_mut());
                }
                return Decision::Answer(res);
            }
        };
        if config.strip_prefix
            && config.sources.reads(VersionSource::Path)
            && let Some(uri) = strip(req.uri())
        {
            *req.uri_mut() = uri;
        }
        req.extensions_mut().insert(ApiVersion(entry.number));
        Decision::Pass(entry.headers.clone())
    }

    fn resume<B>(&self, _: &mut Request<B>, (): ()) -> Decision<Self> {
        // Never reached: the layer decides without waiting.
        Decision::Pass(None)
    }

    fn respond<B>(state: Self::State, res: &mut Response<B>) {
        if let Some(headers) = state {
            headers.apply(res.headers_mut());
        }
    }
}
