//! Certificate-bound tokens ([RFC 8705 section 3](https://www.rfc-editor.org/rfc/rfc8705#section-3)):
//! a principal whose claims hold `cnf.x5t#S256` is accepted only on a connection that
//! presented that certificate. Checked by the [`AuthLayer`](super::AuthLayer) for every
//! principal, whichever authenticator made it. A token bound by any other confirmation method
//! (DPoP's `jkt`, RFC 9449; RFC 7800's `jwk`, `jwe`, `kid`, `jku`) is refused: this crate checks
//! no proof of possession for them, and accepting it as a plain bearer token would undo the
//! binding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Extensions, HeaderMap};
use serde_json::Value;

use super::{AuthError, Principal};

/// Where the certificate of a request comes from: the connection, or a trusted proxy's
/// `X-Forwarded-Client-Cert` ([`AuthBuilder::forwarded_client_cert`](super::AuthBuilder)).
#[derive(Clone, Copy, Default)]
pub(crate) struct Presented<'a> {
    #[cfg(feature = "mtls")]
    pub(crate) forwarded: Option<&'a (crate::rate_limit::ClientIp, super::mtls::XfccMode)>,
    pub(crate) _config: std::marker::PhantomData<&'a ()>,
}

/// `Err` when `principal`'s claims bind it to a certificate the request (as `headers` and
/// `extensions` tell, per `presented`) did not present. Without the `mtls` feature no request
/// presents one, so a bound token is always refused: never accepted as a plain bearer token.
pub(crate) fn confirm(
    principal: &Principal,
    headers: &HeaderMap,
    extensions: &Extensions,
    from: Presented<'_>,
) -> Result<(), AuthError> {
    let Some(cnf) = principal.raw_claims().and_then(|claims| claims.get("cnf")) else {
        return Ok(());
    };
    let refuse = |detail: &'static str| Err(AuthError::invalid(principal.method(), detail));
    let bound = match cnf {
        Value::Object(cnf) if cnf.contains_key("jkt") => {
            return refuse("token is bound to a DPoP key");
        }
        Value::Object(cnf) if cnf.keys().any(|k| k != "x5t#S256") => {
            return refuse("token is bound to a key this server cannot check");
        }
        Value::Object(cnf) => match cnf.get("x5t#S256") {
            None => return Ok(()),
            Some(Value::String(x5t)) => match URL_SAFE_NO_PAD.decode(x5t) {
                Ok(bytes) if bytes.len() == 32 => bytes,
                _ => return refuse("token has a malformed cnf claim"),
            },
            Some(_) => return refuse("token has a malformed cnf claim"),
        },
        _ => return refuse("token has a malformed cnf claim"),
    };
    match presented(headers, extensions, from) {
        None => refuse("token is bound to a client certificate, and none was presented"),
        Some(thumbprint) if thumbprint[..] == bound[..] => Ok(()),
        Some(_) => refuse("token is bound to another client certificate"),
    }
}

#[cfg(feature = "mtls")]
fn presented(
    headers: &HeaderMap,
    extensions: &Extensions,
    from: Presented<'_>,
) -> Option<[u8; 32]> {
    if let Some((proxies, mode)) = from.forwarded
        && crate::rate_limit::peer_ip(extensions).is_some_and(|ip| proxies.is_trusted_proxy(ip))
    {
        // The proxy's own certificate is not its client's.
        return super::mtls::forwarded_thumbprint(headers, *mode);
    }
    super::mtls::PeerCertificates::from_extensions(extensions).map(|p| *p.thumbprint())
}

#[cfg(not(feature = "mtls"))]
fn presented(_: &HeaderMap, _: &Extensions, _: Presented<'_>) -> Option<[u8; 32]> {
    None
}

#[cfg(test)]
mod tests {
    use http::Extensions;
    use serde_json::json;

    use super::confirm;
    use crate::auth::{AuthErrorKind, AuthMethod, Principal};

    fn detail(cnf: serde_json::Value) -> Option<String> {
        let principal = Principal::builder("user", AuthMethod::Jwt)
            .claims(json!({ "sub": "user", "cnf": cnf }))
            .build();
        confirm(
            &principal,
            &http::HeaderMap::new(),
            &Extensions::new(),
            super::Presented::default(),
        )
        .err()
        .map(|e| {
            assert_eq!(e.kind(), AuthErrorKind::Invalid);
            e.detail().to_owned()
        })
    }

    #[test]
    fn bindings_this_crate_cannot_check_are_refused() {
        let thumbprint = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        assert_eq!(
            detail(json!({ "jkt": thumbprint })).as_deref(),
            Some("token is bound to a DPoP key")
        );
        for other in ["jwk", "jwe", "kid", "jku"] {
            assert_eq!(
                detail(json!({ other: "x" })).as_deref(),
                Some("token is bound to a key this server cannot check"),
                "{other}"
            );
        }
        // A certificate binding beside another is refused too, not checked half-way.
        assert_eq!(
            detail(json!({ "x5t#S256": thumbprint, "jkt": thumbprint })).as_deref(),
            Some("token is bound to a DPoP key")
        );
        // No connection certificate here: a certificate-bound token is refused as before.
        assert_eq!(
            detail(json!({ "x5t#S256": thumbprint })).as_deref(),
            Some("token is bound to a client certificate, and none was presented")
        );
        assert_eq!(detail(json!({})), None);
        assert_eq!(
            detail(json!("x")).as_deref(),
            Some("token has a malformed cnf claim")
        );
    }
}
