//! Small header helpers shared by the layers.

use http::header::VARY;
use http::{HeaderMap, HeaderValue};

/// Adds `names` (lowercase) to `Vary`, keeping what is there and never repeating a name.
pub(crate) fn merge_vary(headers: &mut HeaderMap, names: &[&str]) {
    let mut present: Vec<String> = Vec::new();
    for value in headers.get_all(VARY) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let item = item.trim();
            if item == "*" {
                return;
            }
            if !item.is_empty() && !present.iter().any(|p| p.eq_ignore_ascii_case(item)) {
                present.push(item.to_owned());
            }
        }
    }
    let before = present.len();
    for name in names {
        if !present.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            present.push((*name).to_owned());
        }
    }
    if present.len() == before && headers.get_all(VARY).iter().count() <= 1 {
        return;
    }
    if let Ok(value) = HeaderValue::try_from(present.join(", ")) {
        headers.insert(VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_merged_never_duplicated() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding, Origin"));
        merge_vary(&mut headers, &["origin", "access-control-request-method"]);
        assert_eq!(
            headers[VARY],
            "Accept-Encoding, Origin, access-control-request-method"
        );
        merge_vary(&mut headers, &["origin"]);
        assert_eq!(headers.get_all(VARY).iter().count(), 1);
        let mut star = HeaderMap::new();
        star.insert(VARY, HeaderValue::from_static("*"));
        merge_vary(&mut star, &["origin"]);
        assert_eq!(star[VARY], "*");
    }
}
