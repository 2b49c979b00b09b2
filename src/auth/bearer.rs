//! The token of an `Authorization: Bearer` header (RFC 6750 section 2.1), read once for every
//! Bearer authenticator.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::{AuthError, AuthMethod};

/// The token of `headers`' Bearer `Authorization` header, for an authenticator of `method`
/// that accepts tokens of at most `max_len` bytes:
///
/// - `Ok(None)` without one (no `Authorization` header, or another scheme: another
///   authenticator's turn);
/// - `400 invalid_request` ([`AuthError::invalid_request`]) for several `Authorization`
///   headers, or the scheme without a token (`Authorization: Bearer`);
/// - `401 invalid_token` for a token over `max_len` (before anything of it is read) or one that
///   is not visible ASCII.
///
/// The scheme is case-insensitive and may be followed by several spaces (RFC 9110 section
/// 11.4); a tab is not a separator, so `Bearer\t…` is another scheme.
pub(crate) fn token(
    headers: &HeaderMap,
    max_len: usize,
    method: AuthMethod,
) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let Some(rest) = bytes
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer"))
        .and_then(|_| bytes.get(6..))
    else {
        return Ok(None);
    };
    // The scheme alone (hyper trims trailing spaces, so `Bearer ` arrives as `Bearer`).
    let bare = rest.iter().all(|&b| b == b' ');
    if !bare && rest.first() != Some(&b' ') {
        return Ok(None);
    }
    if values.next().is_some() {
        return Err(AuthError::invalid_request(
            method,
            "more than one Authorization header",
        ));
    }
    if bare {
        return Err(AuthError::invalid_request(
            method,
            "Bearer scheme without a token",
        ));
    }
    // Size first: nothing of an oversized token is parsed.
    if bytes.len() > max_len.saturating_add(64) {
        return Err(AuthError::invalid(method, "token too large"));
    }
    let text = value
        .to_str()
        .map_err(|_| AuthError::invalid(method, "malformed token"))?;
    let token = text.get(7..).unwrap_or_default().trim_start_matches(' ');
    if token.len() > max_len {
        return Err(AuthError::invalid(method, "token too large"));
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::token;
    use crate::auth::{AuthErrorKind, AuthMethod};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("authorization", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn kind(values: &[&str]) -> Result<Option<String>, (AuthErrorKind, String)> {
        token(&headers(values), 16, AuthMethod::Jwt)
            .map(|t| t.map(str::to_owned))
            .map_err(|e| (e.kind(), e.detail().to_owned()))
    }

    #[test]
    fn the_token_or_why_not() {
        assert_eq!(kind(&[]), Ok(None));
        assert_eq!(kind(&["Basic abc"]), Ok(None));
        assert_eq!(kind(&["Bearer\tabc"]), Ok(None));
        assert_eq!(kind(&["Bearerabc"]), Ok(None));
        assert_eq!(kind(&["bEaReR   abc"]), Ok(Some("abc".to_owned())));
        assert_eq!(kind(&["Basic abc", "Bearer abc"]), Ok(None));
        let malformed = |detail: &str| Err((AuthErrorKind::InvalidRequest, detail.to_owned()));
        assert_eq!(
            kind(&["Bearer abc", "Basic x"]),
            malformed("more than one Authorization header")
        );
        assert_eq!(
            kind(&["Bearer"]),
            malformed("Bearer scheme without a token")
        );
        assert_eq!(
            kind(&["bearer   "]),
            malformed("Bearer scheme without a token")
        );
        let invalid = |detail: &str| Err((AuthErrorKind::Invalid, detail.to_owned()));
        assert_eq!(
            kind(&["Bearer 0123456789abcdefX"]),
            invalid("token too large")
        );
        assert_eq!(
            kind(&[&format!("Bearer {}", "a".repeat(100))]),
            invalid("token too large")
        );
    }
}
