//! [`ValidateRequestBuilder`] and [`Rule`]: the routes and what each requires, checked once
//! into a [`ValidateRequestLayer`].

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::doc::Borrowed;
use super::media::is_media_type;
use super::route::{Routes, Template};
use super::service::{CompiledRule, Config, ValidateRequestLayer};
use super::{ConfigError, DEFAULT_BODY_LIMIT, DEFAULT_MAX_ERRORS, Draft};

/// What a route requires of a request: accepted media types, a body limit, a JSON Schema.
///
/// ```
/// use serde_json::json;
/// use tower_shield::validate::Rule;
///
/// // `Content-Type: application/json` (UTF-8), at most 64 KiB, matching the schema.
/// let create = Rule::json(json!({"type": "object"})).body_limit(64 * 1024);
/// // A PNG of at most 5 MiB, not parsed.
/// let upload = Rule::new().content_type("image/png").body_limit(5 << 20);
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Rule {
    content_types: Vec<String>,
    limit: Option<u64>,
    schema: Option<Value>,
}

impl Rule {
    /// Requires nothing but the layer's body limit: add media types, a limit or a schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// A JSON body (`Content-Type: application/json`, UTF-8) that matches `schema`.
    pub fn json(schema: Value) -> Self {
        Self::new().content_type("application/json").schema(schema)
    }

    /// Accepts a body of media type `media_type` (`type/subtype`, compared case-insensitively,
    /// parameters ignored but for a JSON body's `charset`). Once a rule names one, a request
    /// without `Content-Type`, or with one not named, gets `415`.
    pub fn content_type(mut self, media_type: impl Into<String>) -> Self {
        self.content_types.push(media_type.into());
        self
    }

    /// The largest body this route accepts, in bytes (the layer's
    /// [`body_limit`](ValidateRequestBuilder::body_limit) otherwise).
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.limit = Some(bytes);
        self
    }

    /// Validates the body, parsed as JSON, against this JSON Schema. The schema is compiled at
    /// [`build`](ValidateRequestBuilder::build). When the rule names no media type,
    /// `application/json` is required.
    pub fn schema(mut self, schema: Value) -> Self {
        self.schema = Some(schema);
        self
    }
}

/// Builds a [`ValidateRequestLayer`]; see the [module docs](super).
#[derive(Debug)]
#[must_use]
pub struct ValidateRequestBuilder {
    routes: Vec<(Method, String, Rule)>,
    limit: u64,
    max_errors: usize,
    log_only: bool,
    draft: Option<Draft>,
    validate_formats: bool,
}

impl Default for ValidateRequestBuilder {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            limit: DEFAULT_BODY_LIMIT,
            max_errors: DEFAULT_MAX_ERRORS,
            log_only: false,
            draft: None,
            validate_formats: false,
        }
    }
}

impl ValidateRequestBuilder {
    /// Applies `rule` to `method` requests on `path`: an exact path (`/v2/posts`) or an axum
    /// route template (`/v2/posts/{id}`, `/files/{*path}`). Inside a `Router` (as a
    /// `route_layer`) the template is compared with axum's `MatchedPath`; outside, with the
    /// request path (exact paths first, then templates in the order given). Requests of other
    /// routes and methods pass untouched.
    pub fn route(mut self, method: Method, path: impl Into<String>, rule: Rule) -> Self {
        self.routes.push((method, path.into(), rule));
        self
    }

    /// The body limit of the rules that set none, in bytes: 1 MiB by default.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.limit = bytes;
        self
    }

    /// How many schema violations a `422` lists at most: 20 by default.
    pub fn max_errors(mut self, max: usize) -> Self {
        self.max_errors = max;
        self
    }

    /// Log-only mode (as Kong's request-validator can run): every request goes through, and
    /// each one that would have been refused is logged at `WARN` (target
    /// `tower_shield::validate`) with the problem it would have got. The body limit is not
    /// enforced either: an oversized body is passed on streaming, never buffered past the
    /// limit. Off by default.
    pub fn log_only(mut self, on: bool) -> Self {
        self.log_only = on;
        self
    }

    /// The JSON Schema draft of the schemas. By default a schema's `$schema` decides, and a
    /// schema without one is [`Draft::Draft202012`]; set here, it applies to every schema.
    pub fn draft(mut self, draft: Draft) -> Self {
        self.draft = Some(draft);
        self
    }

    /// Whether `format` (`email`, `date-time`, `uuid`, …) is asserted rather than only
    /// annotated, as drafts 2019-09 and 2020-12 specify by default. Off by default, whatever
    /// the schema's draft: the `jsonschema` engine on its own asserts formats of drafts 4, 6
    /// and 7 (which leave it to the implementation), this layer only when told, so one schema
    /// behaves the same under any `$schema`.
    pub fn validate_formats(mut self, on: bool) -> Self {
        self.validate_formats = on;
        self
    }

    /// Checks the configuration and compiles the schemas.
    ///
    /// # Errors
    ///
    /// A route that is not a template ([`ConfigError::InvalidRoute`]) or is given twice for a
    /// method ([`ConfigError::DuplicateRoute`]), a media type that is not `type/subtype`
    /// ([`ConfigError::InvalidMediaType`]), a schema that does not compile
    /// ([`ConfigError::InvalidSchema`]: not valid for its draft, or a `$ref` to another
    /// document — no schema is fetched), no route ([`ConfigError::NoRoute`]), or a cap of
    /// zero errors ([`ConfigError::ZeroMaxErrors`]).
    pub fn build(mut self) -> Result<ValidateRequestLayer, ConfigError> {
        if self.routes.is_empty() {
            return Err(ConfigError::NoRoute);
        }
        if self.max_errors == 0 {
            return Err(ConfigError::ZeroMaxErrors);
        }
        let mut routes = Routes::default();
        let mut rules = Vec::with_capacity(self.routes.len());
        for (method, path, rule) in std::mem::take(&mut self.routes) {
            let template = Template::parse(&path).map_err(|reason| ConfigError::InvalidRoute {
                route: path.clone(),
                reason,
            })?;
            if routes.contains(&method, &path) {
                return Err(ConfigError::DuplicateRoute {
                    method: method.to_string(),
                    route: path,
                });
            }
            let name = format!("{method} {path}");
            let mut accepted = Vec::with_capacity(rule.content_types.len());
            for media_type in rule.content_types {
                // A media range (`application/*`, `*/*`) would be compared as written and match
                // nothing a client sends: refused, as what is not a media type is.
                if !is_media_type(&media_type) || media_type.contains('*') {
                    return Err(ConfigError::InvalidMediaType { media_type });
                }
                let lower = media_type.to_ascii_lowercase();
                if !accepted.contains(&lower) {
                    accepted.push(lower);
                }
            }
            let schema = match &rule.schema {
                Some(schema) => {
                    if accepted.is_empty() {
                        accepted.push("application/json".to_owned());
                    }
                    Some(
                        self.compile(schema)
                            .map_err(|reason| ConfigError::InvalidSchema {
                                route: name.clone(),
                                reason,
                            })?,
                    )
                }
                None => None,
            };
            routes.push(template, method, rules.len());
            rules.push(CompiledRule {
                name: name.into(),
                accepted: accepted.into(),
                limit: rule.limit.unwrap_or(self.limit),
                schema,
            });
        }
        Ok(ValidateRequestLayer {
            config: Arc::new(Config {
                routes,
                rules,
                max_errors: self.max_errors,
                log_only: self.log_only,
            }),
        })
    }

    fn compile(&self, schema: &Value) -> Result<jsonschema::Validator<Borrowed>, String> {
        let mut options =
            jsonschema::options_for::<Borrowed>().should_validate_formats(self.validate_formats);
        let has_dialect = schema.get("$schema").is_some();
        match self.draft {
            Some(draft) => options = options.with_draft(draft.into()),
            None if !has_dialect => options = options.with_draft(jsonschema::Draft::Draft202012),
            None => {}
        }
        options.build(schema).map_err(|e| {
            let at = e.instance_path().as_str();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{e} (at {at})")
            }
        })
    }
}
