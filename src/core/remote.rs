//! What every outbound HTTP call of the crate (`reqwest`) shares: the one check of a URL
//! (`https`, or `http` to a loopback host), the default client, error chains, a body read
//! within a size cap, and form encoding. Used by remote JWK sets (`jwks`), token introspection
//! (`introspection`) and client credentials (`client-credentials`).

use std::time::Duration;

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
use reqwest::Response;
use reqwest::{Client, Url};

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
/// How a client authenticates at the authorization server's endpoints (RFC 6749 section
/// 2.3.1; the names are RFC 7591's `token_endpoint_auth_method` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: `Authorization: Basic` with the form-encoded id and secret (the
    /// default).
    #[default]
    SecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost,
}

/// Why a URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// It does not parse, or has no host (the message names the URL and the reason).
    Invalid(String),
    /// Plain `http` to a host that is not loopback.
    InsecureHttp(String),
    /// A scheme other than `https` and `http`.
    UnsupportedScheme(String),
}

/// Whether the URL's host is loopback: `localhost`, `127.0.0.0/8` or `::1`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The crate's one check of a URL it fetches from: parses `url` and checks its scheme
/// (`https`, or `http` to a loopback host unless `allow_insecure_http`) and that it has a host.
pub(crate) fn check_url(url: &str, allow_insecure_http: bool) -> Result<Url, UrlError> {
    let parsed = Url::parse(url).map_err(|e| UrlError::Invalid(format!("{url}: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&parsed) => {}
        "http" => return Err(UrlError::InsecureHttp(url.to_owned())),
        _ => return Err(UrlError::UnsupportedScheme(url.to_owned())),
    }
    if parsed.host().is_none() {
        return Err(UrlError::Invalid(format!("{url}: no host")));
    }
    Ok(parsed)
}

/// The default client: rustls with webpki roots, no redirects followed, `connect_timeout`.
pub(crate) fn default_client(connect_timeout: Duration) -> Result<Client, String> {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .user_agent(concat!("tower-shield/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error_chain(&e))
}

/// A reqwest error with its causes ("error sending request: connection refused").
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Larger than the cap (announced or streamed); not read further.
    TooLarge,
    /// The stream failed.
    Failed(reqwest::Error),
}

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
/// Reads the body of `res`, refusing it as soon as it passes `max` bytes (announced by
/// `Content-Length` or streamed).
pub(crate) async fn read_capped(mut res: Response, max: usize) -> Result<Vec<u8>, ReadError> {
    if res.content_length().is_some_and(|len| len > max as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(ReadError::Failed)? {
        if body.len() + chunk.len() > max {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
/// `s` encoded as `application/x-www-form-urlencoded` (what RFC 6749 section 2.3.1 asks of a
/// client id and secret before they go into `Authorization: Basic`): unreserved bytes as they
/// are, space as `+`, anything else `%XX`.
pub(crate) fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
/// A form body (`application/x-www-form-urlencoded`) of `pairs`.
pub(crate) fn form_body<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&form_urlencode(name));
        out.push('=');
        out.push_str(&form_urlencode(value));
    }
    out
}

#[cfg(any(feature = "introspection", feature = "client-credentials"))]
/// The `Authorization: Basic` value of a client id and secret, each form-encoded first
/// (RFC 6749 section 2.3.1).
pub(crate) fn client_basic(client_id: &str, client_secret: &str) -> String {
    use base64::Engine as _;
    let pair = format!(
        "{}:{}",
        form_urlencode(client_id),
        form_urlencode(client_secret)
    );
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_client_basic() {
        assert_eq!(form_urlencode("a b+c/d~é"), "a+b%2Bc%2Fd%7E%C3%A9");
        assert_eq!(
            form_body([
                ("grant_type", "client_credentials"),
                ("scope", "read write")
            ]),
            "grant_type=client_credentials&scope=read+write"
        );
        // RFC 6749 section 2.3.1's example credentials: `s6BhdRkqt3` / `gX1fBat3bV`.
        assert_eq!(
            client_basic("s6BhdRkqt3", "gX1fBat3bV"),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        );
        // A `:` in the id cannot split the pair.
        assert_eq!(client_basic("a:b", "c"), "Basic YSUzQWI6Yw==");
    }

    #[test]
    fn urls() {
        assert!(check_url("https://as.example.com/introspect", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/x", false).is_ok());
        assert!(check_url("http://[::1]/x", false).is_ok());
        assert!(check_url("http://localhost/x", false).is_ok());
        assert_eq!(
            check_url("http://as.example.com/x", false),
            Err(UrlError::InsecureHttp("http://as.example.com/x".into()))
        );
        assert!(check_url("http://as.example.com/x", true).is_ok());
        assert_eq!(
            check_url("ftp://as.example.com/x", false),
            Err(UrlError::UnsupportedScheme("ftp://as.example.com/x".into()))
        );
        assert!(matches!(
            check_url("nope", false),
            Err(UrlError::Invalid(_))
        ));
    }
}
