//! [RFC 9421 HTTP Message Signatures](https://www.rfc-editor.org/rfc/rfc9421): the
//! `Signature-Input` and `Signature` fields (structured fields, `sf.rs`), the signature base
//! (`components.rs`) and [RFC 9530](https://www.rfc-editor.org/rfc/rfc9530) `Content-Digest`
//! (`content_digest.rs`).

pub(crate) mod components;
pub(crate) mod content_digest;
pub(crate) mod sf;

use std::borrow::Cow;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Request};
use sha2::{Digest as _, Sha256};

use self::components::Message;
use self::sf::{Item, Member, Params};
use super::body::SignedBody;
use super::key::{Algorithm, VerifyingKey};
use super::rejection::{Failure, MAX_HEADER_LEN, MAX_SIGNATURES};

pub(crate) const SIGNATURE_INPUT: &str = "signature-input";
pub(crate) const SIGNATURE: &str = "signature";
/// `@query`.
pub(crate) const QUERY: &str = "@query";

/// The derived components that hold the query (RFC 9421 section 2.2): covering one of them
/// covers `@query`.
const HOLD_THE_QUERY: [&str; 3] = [QUERY, "@target-uri", "@request-target"];

/// What an RFC 9421 signature must cover and carry.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    /// Components every signature must cover (`content-digest` only when there is a body;
    /// `@query` only when the target has a query, and `@target-uri` or `@request-target`,
    /// which hold it, cover it too): a name alone, or an identifier with parameters as
    /// [`components::identity`] writes it.
    pub(crate) required: Vec<String>,
    pub(crate) require_created: bool,
    pub(crate) tag: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            required: ["@method", "@authority", "@path", QUERY, "content-digest"]
                .map(String::from)
                .to_vec(),
            require_created: true,
            tag: None,
        }
    }
}

/// One signature of the request that a configured key may have made.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub(crate) components: Vec<(Item, Params)>,
    pub(crate) params: Params,
    pub(crate) nonce: Option<String>,
    pub(crate) key: usize,
    pub(crate) signature: Vec<u8>,
}

/// The most components all of a request's signatures cover together (a signature covers a
/// dozen at most in practice; rotation sends two or three).
pub(crate) const MAX_COMPONENTS: usize = 64;

/// The longest signature base built: a base covering larger fields is refused, before any
/// key is used (a dozen components of usual headers take a few hundred bytes).
pub(crate) const MAX_BASE_LEN: usize = 64 * 1024;

/// The signatures worth checking once the body is here.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) covers_digest: Vec<bool>,
    /// The policy requires the body's digest to be covered.
    pub(crate) require_digest: bool,
}

/// All lines of `name`, joined as one structured field, within [`MAX_HEADER_LEN`].
fn field<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Cow<'h, str>, Failure> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(Failure::MissingHeader(name))?;
    let mut total = first.len();
    let mut text = Cow::Borrowed(
        first
            .to_str()
            .map_err(|_| Failure::MalformedHeader(name, "not visible ASCII"))?,
    );
    for v in values {
        total += v.len() + 2;
        if total > MAX_HEADER_LEN {
            break;
        }
        let v = v
            .to_str()
            .map_err(|_| Failure::MalformedHeader(name, "not visible ASCII"))?;
        text.to_mut().push_str(", ");
        text.to_mut().push_str(v);
    }
    if total > MAX_HEADER_LEN {
        return Err(Failure::MalformedHeader(name, "too long"));
    }
    Ok(text)
}

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p Item> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Reads `Signature-Input` and `Signature`, and keeps the signatures that a configured key
/// could have made and that meet the policy (covered components, `created`, `expires`, `tag`,
/// `alg`). When none is left, the failure of the first one says why.
pub(crate) fn parse_head(
    headers: &HeaderMap,
    query: bool,
    policy: &Policy,
    keys: &[VerifyingKey],
    now: u64,
    tolerance: u64,
) -> Result<Head, Failure> {
    let inputs = sf::parse_dictionary(&field(headers, SIGNATURE_INPUT)?)
        .map_err(|why| Failure::MalformedHeader(SIGNATURE_INPUT, why))?;
    let signatures = sf::parse_dictionary(&field(headers, SIGNATURE)?)
        .map_err(|why| Failure::MalformedHeader(SIGNATURE, why))?;
    if inputs.is_empty() {
        return Err(Failure::MalformedHeader(SIGNATURE_INPUT, "empty"));
    }
    if inputs.len() > MAX_SIGNATURES {
        return Err(Failure::MalformedHeader(
            SIGNATURE_INPUT,
            "too many signatures",
        ));
    }
    // Each covered component is read from the request for each signature that covers it: the
    // signatures together cover at most this many, whatever each may.
    let covered: usize = inputs
        .iter()
        .map(|(_, m)| match m {
            Member::InnerList(items, _) => items.len(),
            Member::Item(..) => 1,
        })
        .sum();
    if covered > MAX_COMPONENTS {
        return Err(Failure::MalformedHeader(
            SIGNATURE_INPUT,
            "too many covered components",
        ));
    }
    let body = has_body(headers);
    let mut first_failure = None;
    let mut head = Head {
        candidates: Vec::new(),
        covers_digest: Vec::new(),
        require_digest: policy.required.iter().any(|r| r == content_digest::HEADER),
    };
    for (label, member) in inputs {
        let result = candidate(
            &label,
            member,
            &signatures,
            policy,
            keys,
            now,
            tolerance,
            (body, query),
        );
        match result {
            Ok(Some(c)) => {
                let digest = c
                    .components
                    .iter()
                    .any(|(i, _)| matches!(i, Item::String(n) if n == content_digest::HEADER));
                head.candidates.push(c);
                head.covers_digest.push(digest);
            }
            Ok(None) => {}
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    if head.candidates.is_empty() {
        return Err(first_failure.unwrap_or(Failure::NoMatchingSignature));
    }
    Ok(head)
}

#[allow(clippy::too_many_arguments)]
fn candidate(
    label: &str,
    member: Member,
    signatures: &[(String, Member)],
    policy: &Policy,
    keys: &[VerifyingKey],
    now: u64,
    tolerance: u64,
    (body, query): (bool, bool),
) -> Result<Option<Candidate>, Failure> {
    let Member::InnerList(components, params) = member else {
        return Err(Failure::MalformedHeader(
            SIGNATURE_INPUT,
            "expected an inner list",
        ));
    };
    if let Some(tag) = &policy.tag
        && !matches!(param(&params, "tag"), Some(Item::String(t)) if t == tag)
    {
        return Ok(None);
    }
    let signature = match signatures.iter().find(|(l, _)| l == label) {
        Some((_, Member::Item(Item::Bytes(b), _))) => b.clone(),
        Some(_) => {
            return Err(Failure::MalformedHeader(
                SIGNATURE,
                "expected a byte sequence",
            ));
        }
        None => {
            return Err(Failure::MalformedHeader(
                SIGNATURE,
                "no signature under a label of signature-input",
            ));
        }
    };
    let keyid = match param(&params, "keyid") {
        Some(Item::String(k)) => k,
        Some(_) => {
            return Err(Failure::MalformedHeader(
                SIGNATURE_INPUT,
                "keyid is not a string",
            ));
        }
        None => return Err(Failure::UnknownKey),
    };
    let key = keys
        .iter()
        .position(|k| k.key_id() == Some(keyid.as_str()))
        .ok_or(Failure::UnknownKey)?;
    match param(&params, "alg") {
        None => {}
        Some(Item::String(alg)) if Algorithm::from_name(alg) == Some(keys[key].algorithm()) => {}
        Some(_) => return Err(Failure::AlgorithmMismatch),
    }
    let secs = |name: &'static str| match param(&params, name) {
        None => Ok(None),
        Some(Item::Integer(n)) if *n >= 0 => Ok(Some(n.unsigned_abs())),
        Some(_) => Err(Failure::MalformedHeader(
            SIGNATURE_INPUT,
            "created and expires are integers",
        )),
    };
    match secs("created")? {
        Some(created) => super::rejection::check_tolerance(created, now, tolerance)?,
        None if policy.require_created => {
            return Err(Failure::MalformedHeader(
                SIGNATURE_INPUT,
                "created is required",
            ));
        }
        None => {}
    }
    if secs("expires")?.is_some_and(|e| e < now) {
        return Err(Failure::Expired);
    }
    let nonce = match param(&params, "nonce") {
        Some(Item::String(n)) => Some(n.clone()),
        None => None,
        Some(_) => {
            return Err(Failure::MalformedHeader(
                SIGNATURE_INPUT,
                "nonce is not a string",
            ));
        }
    };
    for required in &policy.required {
        if required == content_digest::HEADER && !body {
            continue;
        }
        let covered = if required == QUERY {
            // A query no signature covers could be rewritten on the way (RFC 9421 section
            // 7.2.1); a request without one has nothing to cover.
            !query
                || components.iter().any(|(i, p)| {
                    matches!(i, Item::String(n) if HOLD_THE_QUERY.contains(&n.as_str()))
                        && p.is_empty()
                })
        } else {
            // The identifier as configured, its parameters in any order.
            components.iter().any(|(i, p)| match i {
                Item::String(n) if p.is_empty() => n == required,
                Item::String(n) => components::identity(n, p) == *required,
                _ => false,
            })
        };
        if !covered {
            return Err(Failure::MissingComponent(Cow::Owned(required.clone())));
        }
    }
    Ok(Some(Candidate {
        components,
        params,
        nonce,
        key,
        signature,
    }))
}

/// Verifies the candidates against the request and its body: the key that signed, and what
/// identifies the message against replays (the nonce, or a digest of the signature base).
pub(crate) fn verify<'k>(
    head: &Head,
    req: &Request<SignedBody>,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, Vec<u8>), Failure> {
    let message = Message {
        method: Some(req.method()),
        uri: Some(req.uri()),
        headers: req.headers(),
        status: None,
        version: Some(req.version()),
    };
    verify_message(head, &message, body, keys)
}

/// [`verify`] on any message (a response too, for the RFC's examples).
pub(crate) fn verify_message<'k>(
    head: &Head,
    message: &Message<'_>,
    body: &[u8],
    keys: &'k [VerifyingKey],
) -> Result<(&'k VerifyingKey, Vec<u8>), Failure> {
    let mut failure = Failure::NoMatchingSignature;
    // Checked once, when a candidate covers it.
    let mut digest: Option<Result<(), Failure>> = None;
    for (c, covers) in head.candidates.iter().zip(&head.covers_digest) {
        if *covers {
            let checked = digest.get_or_insert_with(|| {
                // Every line, combined as the signature base combines them: a dictionary split
                // over several lines is one (RFC 9651 section 3.2), and a digest on a second
                // line is checked too.
                let mut lines = message.headers.get_all(content_digest::HEADER).iter();
                let Some(first) = lines.next() else {
                    return Err(Failure::AbsentComponent(Cow::Borrowed(
                        "\"content-digest\"",
                    )));
                };
                let mut value = Cow::Borrowed(first.as_bytes());
                for line in lines {
                    let joined = value.to_mut();
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(line.as_bytes());
                }
                match std::str::from_utf8(&value) {
                    Ok(text)
                        if text
                            .bytes()
                            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) =>
                    {
                        content_digest::verify(text, body)
                    }
                    _ => Err(Failure::MalformedHeader(
                        content_digest::HEADER,
                        "not visible ASCII",
                    )),
                }
            });
            if let Err(e) = checked {
                failure = e.clone();
                continue;
            }
        } else if head.require_digest && !body.is_empty() {
            // The body must be signed through its digest, even when no header announced it
            // (HTTP/2 without Content-Length).
            failure = Failure::MissingComponent(Cow::Borrowed(content_digest::HEADER));
            continue;
        }
        let base = match message.signature_base(&c.components, &c.params) {
            Ok(base) => base,
            Err(e) => {
                failure = e;
                continue;
            }
        };
        let key = &keys[c.key];
        if key.verify(&[base.as_bytes()], &c.signature) {
            // Marked by kind, so that no nonce can be taken for another message's digest.
            let id = match &c.nonce {
                Some(n) => [b"n:", n.as_bytes()].concat(),
                None => [b"d:".as_slice(), &Sha256::digest(base.as_bytes())].concat(),
            };
            return Ok((key, id));
        }
    }
    Err(failure)
}
