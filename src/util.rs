//! Small header helpers shared by the layers.

use http::header::VARY;
use http::{HeaderMap, HeaderValue};

/// Names to merge into `Vary`, with their joined value built once, at layer construction.
#[derive(Clone, Debug)]
pub(crate) struct Vary {
    names: Box<[String]>,
    joined: HeaderValue,
}

impl Vary {
    /// `None` when `names` is empty (or not a valid header value).
    pub(crate) fn new(names: &[&str]) -> Option<Self> {
        if names.is_empty() {
            return None;
        }
        let joined = HeaderValue::try_from(names.join(", ")).ok()?;
        Some(Self {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            joined,
        })
    }

    /// Adds the names to the response's `Vary`: one insert of the prebuilt value when there is
    /// none yet, a merge otherwise.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if headers.contains_key(VARY) {
            let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            merge_vary(headers, &names);
        } else {
            headers.insert(VARY, self.joined.clone());
        }
    }
}

/// Adds `names` (lowercase) to `Vary`, keeping what is there and never repeating a name.
fn merge_vary(headers: &mut HeaderMap, names: &[&str]) {
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
        let vary = Vary::new(&["origin", "accept"]).unwrap();
        let mut fresh = HeaderMap::new();
        vary.apply(&mut fresh);
        assert_eq!(fresh[VARY], "origin, accept");
        vary.apply(&mut fresh);
        assert_eq!(fresh[VARY], "origin, accept");
        assert!(Vary::new(&[]).is_none());
        let mut star = HeaderMap::new();
        star.insert(VARY, HeaderValue::from_static("*"));
        merge_vary(&mut star, &["origin"]);
        assert_eq!(star[VARY], "*");
    }
}
