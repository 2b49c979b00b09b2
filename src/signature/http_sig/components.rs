//! Component values and the signature base (RFC 9421 §2 and §2.5).

use std::borrow::Cow;

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
    /// The version of a request as received, whose request line `@request-target` is (an
    /// HTTP/1.x request in absolute form keeps its whole URI there); `None` for a request
    /// about to be sent, whose target a client writes in origin form.
    pub(crate) version: Option<http::Version>,
}

fn absent(name: &str) -> Failure {
    Failure::AbsentComponent(Cow::Owned(format!("\"{name}\"")))
}

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p Item> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

impl Message<'_> {
    /// The authority as the message carries it: the URI's (absolute form, HTTP/2
    /// `:authority`), else the `Host` header's, trimmed.
    fn raw_authority(&self) -> Option<&str> {
        if let Some(a) = self.uri.and_then(Uri::authority) {
            return Some(a.as_str());
        }
        Some(
            self.headers
                .get(HOST)?
                .to_str()
                .ok()?
                .trim_matches([' ', '\t']),
        )
    }

    /// `@authority` (RFC 9421 §2.2.3, HTTP §4.2.3): the host in lowercase, without the
    /// scheme's default port (nor an empty one).
    fn authority(&self) -> Option<String> {
        Some(normalize_authority(self.raw_authority()?, &self.scheme()))
    }

    /// The scheme of the target URI; `https` when the request line does not say (origin form:
    /// the layer cannot tell TLS from plain text, and is meant to be reached over TLS).
    fn scheme(&self) -> String {
        self.uri
            .and_then(Uri::scheme_str)
            .unwrap_or("https")
            .to_ascii_lowercase()
    }

    /// `@request-target` (RFC 9421 §2.2.5): the request line's target. An HTTP/1.x request
    /// received in absolute form (through a proxy) has its whole URI there; `CONNECT` has the
    /// authority; any other has the path and query (origin form, `*` for a server-wide
    /// `OPTIONS`). HTTP/2 and HTTP/3 have no request line: `:path` stands in for it (the RFC
    /// advises against this component beyond HTTP/1.1).
    fn request_target(&self) -> Option<String> {
        let uri = self.uri?;
        if self.method == Some(&Method::CONNECT) {
            return uri.authority().map(|a| a.as_str().to_owned());
        }
        let request_line = self
            .version
            .is_some_and(|v| v == http::Version::HTTP_11 || v == http::Version::HTTP_10);
        if request_line && uri.scheme().is_some() {
            return Some(uri.to_string());
        }
        Some(
            uri.path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
        )
    }

    fn path(&self) -> Option<&str> {
        let path = self.uri?.path();
        Some(if path.is_empty() { "/" } else { path })
    }

    /// The value of one component, or why there is none.
    pub(crate) fn value(&self, name: &str, params: &Params) -> Result<String, Failure> {
        if let Some(derived) = name.strip_prefix('@') {
            // Derived components take no parameter but `@query-param`'s `name` (§2.2);
            // `req` (§2.4) only applies to responses, which this layer does not verify.
            let allowed = |k: &str| derived == "query-param" && k == "name";
            if params.iter().any(|(k, _)| !allowed(k)) {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "unsupported component parameter",
                ));
            }
            let uri = || self.uri.ok_or_else(|| absent(name));
            return Ok(match derived {
                "method" => self.method.ok_or_else(|| absent(name))?.as_str().to_owned(),
                "authority" => self.authority().ok_or_else(|| absent(name))?,
                "scheme" => self.scheme(),
                "path" => self.path().ok_or_else(|| absent(name))?.to_owned(),
                "query" => format!("?{}", uri()?.query().unwrap_or("")),
                "request-target" => self.request_target().ok_or_else(|| absent(name))?,
                "target-uri" => {
                    // §2.2.2: the target URI as HTTP §7.1 rebuilds it, not normalized (unlike
                    // `@authority`): what the signer's URL says.
                    let authority = self.raw_authority().ok_or_else(|| absent(name))?;
                    let uri = uri()?;
                    let path = self.path().ok_or_else(|| absent(name))?;
                    let query = uri.query().map_or_else(String::new, |q| format!("?{q}"));
                    format!("{}://{authority}{path}{query}", self.scheme())
                }
                "query-param" => {
                    let Some(Item::String(wanted)) = param(params, "name") else {
                        return Err(Failure::MalformedHeader(
                            "signature-input",
                            "@query-param needs a name",
                        ));
                    };
                    // §2.2.8: parsed as `application/x-www-form-urlencoded`, then name and
                    // value percent-encoded again; `name` holds the encoded name.
                    let wanted = form_decode(wanted);
                    let query = uri()?.query().unwrap_or("");
                    let mut values =
                        query
                            .split('&')
                            .filter(|pair| !pair.is_empty())
                            .filter_map(|pair| {
                                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                                (form_decode(k) == wanted).then_some(v)
                            });
                    let value = values.next().ok_or_else(|| {
                        Failure::AbsentComponent(Cow::Owned(format!(
                            "\"@query-param\";name=\"{}\"",
                            form_encode(&wanted)
                        )))
                    })?;
                    if values.next().is_some() {
                        // §2.2.8: a name that occurs several times MUST NOT be included.
                        return Err(Failure::MalformedHeader(
                            "signature-input",
                            "@query-param names a repeated query parameter",
                        ));
                    }
                    form_encode(&form_decode(value))
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
        check_field_params(params)?;
        if param(params, "bs").is_some() {
            // §2.1.3: each line's bytes (non-ASCII ones too), trimmed, as a byte sequence.
            let mut out = String::new();
            for (i, v) in self.headers.get_all(name).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                sf::write_item(&mut out, &Item::Bytes(v.as_bytes().trim_ascii().to_vec()));
            }
            if out.is_empty() {
                return Err(absent(name));
            }
            return Ok(out);
        }
        let mut lines = Vec::new();
        for v in self.headers.get_all(name) {
            let text = v.to_str().map_err(|_| {
                Failure::MalformedHeader(
                    "signature-input",
                    "a covered field is not ASCII (cover it with ;bs)",
                )
            })?;
            lines.push(text.trim_matches([' ', '\t']));
        }
        if lines.is_empty() {
            return Err(absent(name));
        }
        let joined = lines.join(", ");
        let key = param(params, "key");
        if param(params, "sf").is_some() || key.is_some() {
            // Parsed anew for each component and signature that covers it: bounded as the
            // signature fields are.
            if joined.len() > crate::signature::rejection::MAX_HEADER_LEN {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "a structured field covered is too long",
                ));
            }
            let mut out = String::new();
            let kind = structured_type(name);
            if key.is_some() && !matches!(kind, None | Some(SfType::Dictionary)) {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "key names a member of a dictionary field",
                ));
            }
            // §2.1.1: serialized by the rules of the field's type. A List or an Item is
            // written as such; a field of no known type is read as a Dictionary (as the RFC's
            // `Example-Dict`), unless a key comes twice in it: a List such as `a, b, a` read
            // as one would lose a member, and a signature over the shorter text would cover a
            // field changed by repeating a member.
            let unreadable = |why: &'static str| Failure::MalformedHeader("signature-input", why);
            match kind {
                Some(SfType::List) => {
                    let list = sf::parse_list(&joined)
                        .map_err(|_| unreadable("a covered List field does not parse"))?;
                    for (i, member) in list.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        write_member(&mut out, member);
                    }
                    return Ok(out);
                }
                Some(SfType::Item) => {
                    let (item, params) = sf::parse_item(&joined)
                        .map_err(|_| unreadable("a covered Item field does not parse"))?;
                    sf::write_item(&mut out, &item);
                    sf::write_params(&mut out, &params);
                    return Ok(out);
                }
                Some(SfType::Dictionary) | None => {}
            }
            let (dict, repeated) = sf::parse_dictionary_counted(&joined).map_err(|_| {
                if kind.is_some() {
                    unreadable("a covered Dictionary field does not parse")
                } else {
                    unreadable("a covered structured field of unknown type is no Dictionary")
                }
            })?;
            if repeated && kind.is_none() {
                return Err(unreadable(
                    "a covered structured field of unknown type repeats a key",
                ));
            }
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
            // §2.5: a component identifier "(including its parameters)" twice is an error,
            // whatever the order of its parameters, and `@query-param` names the parameter
            // its name decodes to (`a` and `%61` are one).
            let identity = identity(name, p);
            if seen.contains(&identity) {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "a component twice",
                ));
            }
            seen.push(identity);
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "component names are lowercase",
                ));
            }
            let value = self.value(name, p)?;
            if base.len() + id.len() + value.len() + 3 > super::MAX_BASE_LEN {
                return Err(Failure::MalformedHeader(
                    "signature-input",
                    "the signature base is too long",
                ));
            }
            base.push_str(&id);
            base.push_str(": ");
            base.push_str(&value);
            base.push('\n');
        }
        base.push_str("\"@signature-params\": ");
        sf::write_inner_list(&mut base, components, params);
        Ok(base)
    }
}

/// The type of a structured field (RFC 9651 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SfType {
    List,
    Dictionary,
    Item,
}

/// The type of the structured fields this layer knows by name (their RFCs, and the
/// registry's structured-type column): `;sf` serializes them by their type's rules.
fn structured_type(name: &str) -> Option<SfType> {
    Some(match name {
        "accept-ch"
        | "cache-status"
        | "client-cert-chain"
        | "proxy-status"
        | "ratelimit"
        | "ratelimit-policy"
        | "sec-ch-ua"
        | "sec-ch-ua-full-version-list" => SfType::List,
        "cdn-cache-control"
        | "content-digest"
        | "permissions-policy"
        | "priority"
        | "repr-digest"
        | "reporting-endpoints"
        | "signature"
        | "signature-input"
        | "want-content-digest"
        | "want-repr-digest" => SfType::Dictionary,
        "client-cert"
        | "origin-agent-cluster"
        | "sec-ch-ua-arch"
        | "sec-ch-ua-bitness"
        | "sec-ch-ua-full-version"
        | "sec-ch-ua-mobile"
        | "sec-ch-ua-model"
        | "sec-ch-ua-platform"
        | "sec-ch-ua-platform-version"
        | "sec-fetch-dest"
        | "sec-fetch-mode"
        | "sec-fetch-site"
        | "sec-fetch-user"
        | "sec-purpose" => SfType::Item,
        _ => return None,
    })
}

/// A component identifier in one canonical form, for telling two identifiers of one
/// component from two components: its parameters sorted by key, the name of a `@query-param`
/// decoded and encoded again (`a` and `%61` are one), serialized as `Signature-Input` writes
/// it (`"@query-param";name="a"`).
pub(crate) fn identity(name: &str, params: &Params) -> String {
    let mut sorted = params.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    if name == "@query-param" {
        for (k, v) in &mut sorted {
            if let (true, Item::String(s)) = (k == "name", &mut *v) {
                *s = form_encode(&form_decode(s));
            }
        }
    }
    let mut id = String::new();
    sf::write_item(&mut id, &Item::String(name.to_owned()));
    sf::write_params(&mut id, &sorted);
    id
}

/// The parameters of a field component (§2.1): `sf`, `key` and `bs`, flags being `true`,
/// `bs` alone. `req` and `tr` (and any other) are refused: this layer verifies requests, and
/// trailers are not read.
fn check_field_params(params: &Params) -> Result<(), Failure> {
    let refuse = |why| Err(Failure::MalformedHeader("signature-input", why));
    for (k, v) in params {
        match (k.as_str(), v) {
            ("sf" | "bs", Item::Boolean(true)) | ("key", Item::String(_)) => {}
            ("sf" | "bs" | "key", _) => return refuse("malformed component parameter"),
            ("req" | "tr", _) => return refuse("req and tr components are not supported"),
            _ => return refuse("unsupported component parameter"),
        }
    }
    if param(params, "bs").is_some() && params.len() > 1 {
        // §2.1.3: `bs` cannot be combined with `sf` or `key`.
        return refuse("bs cannot be combined with sf or key");
    }
    Ok(())
}

/// `@authority` normalized (HTTP §4.2.3): lowercase, without the default port of `scheme`
/// (`:443` for `https`, `:80` for `http`, leading zeros ignored) nor an empty port.
pub(crate) fn normalize_authority(raw: &str, scheme: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let host_end = if lower.starts_with('[') {
        lower.find(']').map_or(lower.len(), |i| i + 1)
    } else {
        lower.rfind(':').unwrap_or(lower.len())
    };
    let (host, port) = lower.split_at(host_end);
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => "",
    };
    match port.strip_prefix(':') {
        Some(p)
            if p.is_empty() || (!default.is_empty() && p.trim_start_matches('0') == default) =>
        {
            host.to_owned()
        }
        _ => lower,
    }
}

/// `application/x-www-form-urlencoded` parsing of a name or value (HTML URL §5.1): `+` is a
/// space, `%XX` a byte (a `%` not followed by two hex digits stays), then UTF-8 with
/// replacement characters.
pub(crate) fn form_decode(text: &str) -> String {
    String::from_utf8_lossy(&crate::core::util::decode_form(text)).into_owned()
}

/// "Percent-encode after encoding" with the `application/x-www-form-urlencoded` set (HTML URL
/// §5.2), spaces as `%20` (RFC 9421 §2.2.8): all but ASCII alphanumerics and `*-._`, in
/// uppercase hex.
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_drops_the_default_port_of_its_scheme() {
        for (raw, scheme, want) in [
            ("Example.COM", "https", "example.com"),
            ("example.com:443", "https", "example.com"),
            ("example.com:00443", "https", "example.com"),
            ("example.com:443", "http", "example.com:443"),
            ("example.com:80", "http", "example.com"),
            ("example.com:", "https", "example.com"),
            ("example.com:8080", "http", "example.com:8080"),
            ("[::1]:443", "https", "[::1]"),
            ("[::1]", "https", "[::1]"),
            ("[::1]:80", "https", "[::1]:80"),
            ("example.com:443", "wss", "example.com:443"),
        ] {
            assert_eq!(normalize_authority(raw, scheme), want, "{raw} {scheme}");
        }
    }

    #[test]
    fn form_encoding_round_trips_as_rfc_9421_2_2_8_says() {
        assert_eq!(form_decode("with+plus+whitespace"), "with plus whitespace");
        assert_eq!(
            form_encode("with plus whitespace"),
            "with%20plus%20whitespace"
        );
        assert_eq!(
            form_encode(&form_decode("fa%C3%A7ade%22%3A%20")),
            "fa%C3%A7ade%22%3A%20"
        );
        assert_eq!(form_encode(&form_decode("%7e*-._~")), "%7E*-._%7E");
        // A `%` without two hex digits stays; bytes that are not UTF-8 are replaced.
        assert_eq!(form_decode("100%-%4"), "100%-%4");
        assert_eq!(form_encode(&form_decode("%FF")), "%EF%BF%BD");
    }

    #[test]
    fn field_parameters() {
        let p = |s: &str| -> Params {
            match sf::parse_dictionary(&format!("a=(\"x\"{s})")) {
                Ok(d) => match d.into_iter().next() {
                    Some((_, Member::InnerList(items, _))) => {
                        items.into_iter().next().map(|(_, p)| p).unwrap_or_default()
                    }
                    _ => Params::default(),
                },
                Err(_) => Params::default(),
            }
        };
        assert!(check_field_params(&p(";sf")).is_ok());
        assert!(check_field_params(&p(";key=\"a\";sf")).is_ok());
        assert!(check_field_params(&p(";bs")).is_ok());
        for bad in [
            ";bs;sf",
            ";bs;key=\"a\"",
            ";req",
            ";tr",
            ";foo",
            ";sf=?0",
            ";key=1",
        ] {
            assert!(check_field_params(&p(bad)).is_err(), "{bad}");
        }
    }
}
