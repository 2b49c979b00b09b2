//! [`SigningLayer`]: signs outbound requests (Standard Webhooks, RFC 9421); see the
//! [`client`](crate::client) module docs.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue, Request};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use tower_layer::Layer;

use crate::core::{Clock, SharedClock, system_clock};
use crate::guard::{BodyGuard, Decision, Guard, guarded_service};
use crate::problem::{Problem, ProblemType, internal_error, rejection_response};
use crate::signature::http_sig::components::Message;
use crate::signature::http_sig::{SIGNATURE, SIGNATURE_INPUT, content_digest, sf};
use crate::signature::standard_webhooks;
use crate::signature::{
    Algorithm, ConfigError, DEFAULT_MAX_BODY, PayloadTooLarge, SignedBody, SigningKey,
};

use crate::signature::body::{Read, ReadError};

#[derive(Clone, Debug)]
enum Format {
    StandardWebhooks,
    HttpMessageSignatures {
        components: Vec<(sf::Item, sf::Params)>,
        label: String,
        tag: Option<String>,
        nonce: bool,
        alg: bool,
    },
}

struct Config {
    format: Format,
    key: SigningKey,
    clock: SharedClock,
    max_body: usize,
}

/// Signs outbound requests; see the [module docs](crate::client).
#[derive(Clone)]
pub struct SigningLayer {
    config: Arc<Config>,
}

impl fmt::Debug for SigningLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningLayer")
            .field("format", &self.config.format)
            .field("key", &self.config.key)
            .field("max_body", &self.config.max_body)
            .finish_non_exhaustive()
    }
}

/// Configures a [`SigningLayer`].
#[must_use]
pub struct SigningBuilder {
    format: Format,
    key: Option<Result<SigningKey, ConfigError>>,
    clock: Option<SharedClock>,
    max_body: usize,
    components: Vec<String>,
}

impl fmt::Debug for SigningBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningBuilder")
            .field("format", &self.format)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The components an RFC 9421 signature covers by default.
pub const DEFAULT_COMPONENTS: &[&str] =
    &["@method", "@authority", "@path", "@query", "content-digest"];

impl SigningLayer {
    /// Signs in the Standard Webhooks format: `webhook-id` (the request's own, or a fresh
    /// `msg_...`), `webhook-timestamp` and `webhook-signature` (`v1` for a `whsec_` secret, `v1a`
    /// for an Ed25519 key).
    pub fn standard_webhooks() -> SigningBuilder {
        SigningBuilder::new(Format::StandardWebhooks)
    }

    /// Signs with an RFC 9421 message signature (label `sig1`, `created` now, the key's id as
    /// `keyid`) over [`DEFAULT_COMPONENTS`], with a `Content-Digest` (`sha-256`) of the body.
    pub fn http_message_signatures() -> SigningBuilder {
        SigningBuilder::new(Format::HttpMessageSignatures {
            components: Vec::new(),
            label: "sig1".to_owned(),
            tag: None,
            nonce: true,
            alg: false,
        })
    }
}

impl SigningBuilder {
    fn new(format: Format) -> Self {
        Self {
            format,
            key: None,
            clock: None,
            max_body: DEFAULT_MAX_BODY,
            components: DEFAULT_COMPONENTS.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    /// Standard Webhooks: signs with the secret `whsec_<base64>`.
    pub fn secret(mut self, secret: &str) -> Self {
        self.key = Some(standard_webhooks::parse_secret(secret).map(SigningKey::hmac_sha256));
        self
    }

    /// Signs with `key` (RFC 9421: a key with an [id](SigningKey::with_id)).
    pub fn key(mut self, key: SigningKey) -> Self {
        self.key = Some(Ok(key));
        self
    }

    /// Reads time from `clock` (default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Reads at most `max_body` bytes of body to sign (default 1 MiB).
    pub fn max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// RFC 9421: the components to cover (default [`DEFAULT_COMPONENTS`]), each a name
    /// (`@method`, `content-type`) or a serialized identifier (`"@query-param";name="id"`).
    /// Covering `content-digest` adds the header.
    pub fn components<S: AsRef<str>>(mut self, components: impl IntoIterator<Item = S>) -> Self {
        self.components = components
            .into_iter()
            .map(|c| c.as_ref().to_owned())
            .collect();
        self
    }

    /// RFC 9421: the signature's label (default `sig1`).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        if let Format::HttpMessageSignatures { label: l, .. } = &mut self.format {
            *l = label.into();
        }
        self
    }

    /// RFC 9421: a `tag` parameter.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        if let Format::HttpMessageSignatures { tag: t, .. } = &mut self.format {
            *t = Some(tag.into());
        }
        self
    }

    /// RFC 9421: a random `nonce` parameter (default on), which receivers remember against
    /// replays.
    pub fn nonce(mut self, on: bool) -> Self {
        if let Format::HttpMessageSignatures { nonce, .. } = &mut self.format {
            *nonce = on;
        }
        self
    }

    /// RFC 9421: the `alg` parameter (default off: the receiver knows the key's algorithm).
    pub fn alg(mut self, on: bool) -> Self {
        if let Format::HttpMessageSignatures { alg, .. } = &mut self.format {
            *alg = on;
        }
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// No key, a key that does not parse, a key the format cannot use (Standard Webhooks signs
    /// with HMAC-SHA256 or Ed25519; RFC 9421 keys need an id), a component that does not parse,
    /// a label, key id or tag that a structured field cannot carry
    /// ([`ConfigError::InvalidParameter`]), or a zero body limit.
    pub fn build(self) -> Result<SigningLayer, ConfigError> {
        let key = self.key.ok_or(ConfigError::NoKey)??;
        let mut format = self.format;
        match &mut format {
            Format::StandardWebhooks => {
                if !matches!(key.algorithm(), Algorithm::HmacSha256 | Algorithm::Ed25519) {
                    return Err(ConfigError::KeyNotForScheme(
                        crate::signature::Scheme::StandardWebhooks,
                    ));
                }
            }
            Format::HttpMessageSignatures {
                components,
                label,
                tag,
                ..
            } => {
                let Some(id) = &key.id else {
                    return Err(ConfigError::KeyNotForScheme(
                        crate::signature::Scheme::HttpMessageSignatures,
                    ));
                };
                let invalid = |name, value: &str, reason| ConfigError::InvalidParameter {
                    name,
                    value: value.to_owned(),
                    reason,
                };
                sf::check_key(label).map_err(|r| invalid("label", label, r))?;
                sf::check_item(&sf::Item::String(id.to_string()))
                    .map_err(|r| invalid("keyid", id, r))?;
                if let Some(tag) = tag {
                    sf::check_item(&sf::Item::String(tag.clone()))
                        .map_err(|r| invalid("tag", tag, r))?;
                }
                for c in &self.components {
                    let parsed = if c.starts_with('"') {
                        sf::parse_item(c).map_err(|_| ConfigError::InvalidComponent(c.clone()))?
                    } else {
                        (sf::Item::String(c.to_ascii_lowercase()), Vec::new())
                    };
                    components.push(parsed);
                }
            }
        }
        if self.max_body == 0 {
            return Err(ConfigError::ZeroMaxBody);
        }
        Ok(SigningLayer {
            config: Arc::new(Config {
                format,
                key,
                clock: self.clock.unwrap_or_else(system_clock),
                max_body: self.max_body,
            }),
        })
    }
}

impl<S> Layer<S> for SigningLayer {
    type Service = Signing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Signing {
            inner,
            guard: self.clone(),
        }
    }
}

guarded_service! {
    /// The service of a [`SigningLayer`]: it takes any request body and hands the inner
    /// client the signed request, its body read whole ([`SignedBody`]).
    service Signing<S> { guard: SigningLayer, body: SignedBody }
    /// The response future of [`Signing`].
    future ResponseFuture;
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

impl SigningLayer {
    /// Signs `req` (its body `body`) in place; `None` if a header could not be made.
    fn sign(&self, req: &mut Request<SignedBody>, body: &[u8]) -> Option<()> {
        let c = &self.config;
        let now = c.clock.unix_secs();
        match &c.format {
            Format::StandardWebhooks => {
                let id = match req.headers().get(&standard_webhooks::ID) {
                    Some(id) => id.to_str().ok()?.to_owned(),
                    None => {
                        let random: String = rand::rng()
                            .sample_iter(Alphanumeric)
                            .take(24)
                            .map(char::from)
                            .collect();
                        format!("msg_{random}")
                    }
                };
                let sig = standard_webhooks::sign(&c.key, &id, now, body)?;
                let h = req.headers_mut();
                h.insert(standard_webhooks::ID.clone(), header(&id)?);
                h.insert(
                    standard_webhooks::TIMESTAMP.clone(),
                    header(&now.to_string())?,
                );
                h.insert(standard_webhooks::SIGNATURE.clone(), header(&sig)?);
            }
            Format::HttpMessageSignatures {
                components,
                label,
                tag,
                nonce,
                alg,
            } => {
                let digest = components
                    .iter()
                    .any(|(i, _)| matches!(i, sf::Item::String(n) if n == content_digest::HEADER));
                if digest {
                    req.headers_mut().insert(
                        HeaderName::from_static(content_digest::HEADER),
                        header(&content_digest::sha256_value(body))?,
                    );
                }
                let mut params: sf::Params = vec![(
                    "created".to_owned(),
                    sf::Item::Integer(i64::try_from(now).ok()?),
                )];
                params.push((
                    "keyid".to_owned(),
                    sf::Item::String(c.key.id.as_deref()?.to_owned()),
                ));
                if *alg {
                    params.push((
                        "alg".to_owned(),
                        sf::Item::String(c.key.algorithm().name().to_owned()),
                    ));
                }
                if *nonce {
                    let random: String = rand::rng()
                        .sample_iter(Alphanumeric)
                        .take(22)
                        .map(char::from)
                        .collect();
                    params.push(("nonce".to_owned(), sf::Item::String(random)));
                }
                if let Some(tag) = tag {
                    params.push(("tag".to_owned(), sf::Item::String(tag.clone())));
                }
                let message = Message {
                    method: Some(req.method()),
                    uri: Some(req.uri()),
                    headers: req.headers(),
                    status: None,
                    version: None,
                };
                let base = message.signature_base(components, &params).ok()?;
                let signature = c.key.sign(base.as_bytes())?;
                let mut input = format!("{label}=");
                sf::write_inner_list(&mut input, components, &params);
                let value = format!("{label}=:{}:", STANDARD.encode(signature));
                // A message may carry several signatures (RFC 9421 section 4.3): one already
                // there (an upstream layer's) is kept, and this one added as a member of its
                // own, unless it is under the same label (which would make two members of one
                // key, the later overwriting the earlier). A field that does not parse is not
                // added to.
                let taken = |name: &'static str| -> Option<bool> {
                    let lines: Vec<&str> = req
                        .headers()
                        .get_all(name)
                        .iter()
                        .map(|v| v.to_str().ok())
                        .collect::<Option<_>>()?;
                    if lines.is_empty() {
                        return Some(false);
                    }
                    let dict = sf::parse_dictionary(&lines.join(", ")).ok()?;
                    Some(dict.iter().any(|(k, _)| k == label))
                };
                if taken(SIGNATURE_INPUT)? || taken(SIGNATURE)? {
                    return None;
                }
                let h = req.headers_mut();
                h.append(HeaderName::from_static(SIGNATURE_INPUT), header(&input)?);
                h.append(HeaderName::from_static(SIGNATURE), header(&value)?);
            }
        }
        Some(())
    }
}

impl Guard for SigningLayer {
    type State = ();
    type Wait = Read;
    type Resumed = Result<bytes::Bytes, ReadError>;

    /// Not used: [`Signing`] decides through [`BodyGuard`].
    fn decide<B>(&self, req: &mut Request<B>) -> Decision<Self> {
        Decision::Answer(rejection_response(req, internal_error()))
    }

    fn resume<B>(&self, req: &mut Request<B>, _: Self::Resumed) -> Decision<Self> {
        Decision::Answer(rejection_response(req, internal_error()))
    }
}

impl BodyGuard for SigningLayer {
    type Body = SignedBody;

    fn wrap<B>(&self, body: B) -> SignedBody
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        SignedBody::unread(body, self.config.max_body)
    }

    fn decide_body(&self, req: &mut Request<SignedBody>) -> Decision<Self> {
        match req.body_mut().take_read() {
            Some(read) => Decision::Wait(read),
            None => {
                let bytes = req.body().bytes().cloned().unwrap_or_default();
                self.resume_body(req, Ok(bytes))
            }
        }
    }

    fn resume_body(
        &self,
        req: &mut Request<SignedBody>,
        read: Result<bytes::Bytes, ReadError>,
    ) -> Decision<Self> {
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge) => {
                let limit = self.config.max_body;
                return Decision::Answer(rejection_response(req, PayloadTooLarge { limit }));
            }
            Err(ReadError::Failed) => {
                let problem = Problem::new(http::StatusCode::BAD_REQUEST)
                    .with_detail("the request body could not be read to be signed");
                return Decision::Answer(rejection_response(req, problem));
            }
        };
        // Standard Webhooks signs `id.timestamp.body`: an id with a `.` would make two
        // messages one (the spec: ids must "not be allowed to include any `.`"), and a
        // receiver of this crate refuses it. Not signed, rather than signed ambiguously.
        if let (Format::StandardWebhooks, Some(id)) = (
            &self.config.format,
            req.headers().get(&standard_webhooks::ID),
        ) && !id.to_str().is_ok_and(standard_webhooks::valid_id)
        {
            tracing::error!(target: "tower_shield::signature", "an outbound webhook-id cannot be signed");
            let problem = Problem::of(ProblemType::InternalError).with_detail(
                "the request's webhook-id cannot be signed: it must be 1 to 256 visible ASCII \
                 characters, none of them `.`",
            );
            return Decision::Answer(rejection_response(req, problem));
        }
        if self.sign(req, &bytes).is_none() {
            tracing::error!(target: "tower_shield::signature", "could not sign an outbound request");
            let problem = Problem::of(ProblemType::InternalError)
                .with_detail("the request could not be signed");
            return Decision::Answer(rejection_response(req, problem));
        }
        *req.body_mut() = SignedBody::new(bytes);
        Decision::Pass(())
    }
}
