//! Component values and the signature base (RFC 9421 §2 and §2.5).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method, Uri, header::HOST};

use super::sf::{self, Item, Member, Params};
use crate::signature::rejection::Failure;

/// What a signature covers: a request's parts, or a response's status and headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Message<'a> {
    pub(crate) method: Option<&'a Method>,
    pub(crate) uri: Option<&'a Uri>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) status: Option<u16>,
}

fn absent(name: &str) -> Failure {
    Failure::AbsentComponent(Cow::Owned(format!("\"{name}\"")))
}

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p Item> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

impl Message<'_> {
    fn authority(&self) -> Option<String> {
        if let Some(a) = self.uri.and_then(Uri::authority) {
            return Some(a.as_str().to_ascii_lowercase());
        }
        let host = self.headers.get(HOST)?.to_str().ok()?;
        Some(host.trim().to_ascii_lowercase())
    }

    fn scheme(&self) -> String {
        self.uri
            .and_then(Uri::scheme_str)
            .unwrap_or("https")
            .to_ascii_lowercase()
    }

    fn path(&self) -> Option<&str> {
        let path = self.uri?.path();
        Some(if path.is_empty() { "/" } else { path })
    }

    /// The value of one component, or why there is none.
    pub(crate) fn value(&self, name: &str, params: &Params) -> Result<String, Failure> {
        if let Some(derived) = name.strip_prefix('@') {
            let uri = || self.uri.ok_or_else(|| absent(name));
            return Ok(match derived {
                "method" => self.method.ok_or_else(|| absent(name))?.as_str().to_owned(),
                "authority" => self.authority().ok_or_else(|| absent(name))?,
                "scheme" => self.scheme(),
                "path" => self.path().ok_or_else(|| absent(name))?.to_owned(),
                "query" => format!("?{}", uri()?.query().unwrap_or("")),
                "request-target" => {
                    let uri = uri()?;
                    uri.path_and_query()
                        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
                }
                "target-uri" => {
                    let authority = self.authority().ok_or_else(|| absent(name))?;
                    let uri = uri()?;
                    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
                    format!("{}://{authority}{pq}", self.scheme())
                }
                "query-param" => {
                    let Some(Item::String(wanted)) = param(params, "name") else {
                        return Err(Failure::MalformedHeader(
                            "signature-input",
                            "@query-param needs a name",
                        ));
                    };
                    let query = uri()?.query().unwrap_or("");
                    let mut values = query.split('&').filter_map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        (crate::core::util::decode_query(k).as_deref() == Some(wanted.as_str()))
                            .then_some(v)
                    });
                    let value = values.next().ok_or_else(|| absent(name))?;
                    if values.next().is_some() {
                        // Ambiguous: RFC 9421 §2.2.8 leaves repeated names out.
                        return Err(absent(name));
                    }
                    value.to_owned()
                }
                "status" => self.status.ok_or_else(|| absent(name))?.to_string(),
                _ => {
                    return Err(Failure::MalformedHeader(
                        "signature-input",
                        "unknown derived component",
                    ));
                }
            });
        }
        if param(params, "req").is_some() || param(params, "tr").is_some() {
            return Err(Failure::MalformedHeader(
                "signature-input",
                "req and tr components are not supported",
            ));
        }
        let mut lines = Vec::new();
        for v in self.headers.get_all(name) {
            let text = v.to_str().map_err(|_| absent(name))?;
            lines.push(text.trim_matches([' ', '\t']));
        }
        if lines.is_empty() {
            return Err(absent(name));
        }
        if param(params, "bs").is_some() {
            return Ok(lines
                .iter()
                .map(|l| format!(":{}:", STANDARD.encode(l)))
                .collect::<Vec<_>>()
                .join(", "));
        }
        let joined = lines.join(", ");
        let key = param(params, "key");
        if param(params, "sf").is_some() || key.is_some() {
            let dict = sf::parse_dictionary(&joined).map_err(|_| absent(name))?;
            let mut out = String::new();
            match key {
                Some(Item::String(k)) => {
                    let (_, member) = dict
                        .iter()
                        .find(|(n, _)| n == k)
                        .ok_or_else(|| absent(name))?;
                    write_member(&mut out, member);
                }
                Some(_) => return Err(absent(name)),
                None => {
                    for (i, (k, member)) in dict.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(k);
                        if !matches!(member, Member::Item(Item::Boolean(true), _)) {
                            out.push('=');
                            write_member(&mut out, member);
                        } else if let Member::Item(_, p) = member {
                            sf::write_params(&mut out, p);
                        }
                    }
                }
            }
            return Ok(out);
        }
        Ok(joined)
    }

    /// The signature base (RFC 9421 §2.5) of `components` and `params`.
    pub(crate) fn signature_base(
        &self,
        components: &[(Item, Params)],
        params: &Params,
    ) -> Result<String, Failure> {
        let mut base = String::new();
        let mut seen: Vec<String> = Vec::with_capacity(components.len());
        for (item, p) in components {
            let Item::String(name) = item else {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "a component is not a string",
                ));
            };
            let mut id = String::new();
            sf::write_item(&mut id, item);
            sf::write_params(&mut id, p);
            if seen.contains(&id) {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "a component twice",
                ));
            }
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "component names are lowercase",
                ));
            }
            let value = self.value(name, p)?;
            base.push_str(&id);
            base.push_str(": ");
            base.push_str(&value);
            base.push('\n');
            seen.push(id);
        }
        base.push_str("\"@signature-params\": ");
        sf::write_inner_list(&mut base, components, params);
        Ok(base)
    }
}

fn write_member(out: &mut String, member: &Member) {
    match member {
        Member::Item(item, params) => {
            sf::write_item(out, item);
            sf::write_params(out, params);
        }
        Member::InnerList(items, params) => sf::write_inner_list(out, items, params),
    }
}
