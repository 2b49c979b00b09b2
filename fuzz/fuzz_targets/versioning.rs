//! The version sources of `VersioningLayer`: the path (`/v2/...`), the `API-Version` header,
//! the `Accept` media type (`application/vnd.example.v2+json`) and the query (`?version=2`).
//!
//! The API: 2 and 3 supported, 1 deprecated (sunset 2099), 0 retired; default 2 unless a
//! version is required.
//!
//! Input: one byte of flags (bits 0-2: the order of the sources; bit 3: require a version;
//! bit 4: keep the `/vN` prefix; bit 5: the structured mode below), then
//! - raw mode: the path, the query, then header lines: `h<value>` an `API-Version`, `a<value>`
//!   an `Accept`;
//! - structured mode: a version number and a source, written in one of the ways a client may.
//!
//! Asserts: no panic; the status is 200, 400 (a problem: unsupported, invalid, conflicting or
//! missing version) or 410 (`version-gone`), and the inner service runs only on 200, with a
//! served `ApiVersion`; `Vary` names `accept` and `api-version`; a path `/vN/...` served is
//! served as version N, stripped to `/...` with the query kept (unless the prefix is kept), and
//! a `/v`-digits segment that is no valid number is never served; in structured mode a version
//! written in any source gives exactly that version (200, or 410 for 0, 400 for an unknown one).

#![no_main]

mod common;

use http::{Request, StatusCode, Uri};
use libfuzzer_sys::fuzz_target;
use tower_shield::versioning::{ApiVersion, Version, VersionSource, VersioningLayer};

const SOURCES: [VersionSource; 4] = [
    VersionSource::Path,
    VersionSource::Header,
    VersionSource::MediaType,
    VersionSource::Query,
];

fn layer(flags: u8) -> VersioningLayer {
    let mut order = SOURCES.to_vec();
    order.rotate_left(usize::from(flags & 3));
    if flags & 4 != 0 {
        order.reverse();
    }
    VersioningLayer::builder()
        .vendor("example")
        .sources(order)
        .version(Version::supported(2))
        .version(Version::supported(3))
        .version(Version::deprecated(1, "2020-01-01").sunset("2099-06-30"))
        .version(Version::retired(0).link("https://example.com/migrate"))
        .default_version(2)
        .require_version(flags & 8 != 0)
        .strip_prefix(flags & 16 == 0)
        .build()
        .expect("a valid configuration builds")
}

/// `/vN` or `/vN/...` with N a canonical number: `Some((N, rest))`; `Some(None)` when the
/// first segment is `v` and digits but not a valid version (leading zero, too long).
fn path_version(path: &str) -> Option<Option<(u32, &str)>> {
    let rest = path
        .strip_prefix("/v")
        .or_else(|| path.strip_prefix("/V"))?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(end);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 9 || (digits.len() > 1 && digits.starts_with('0')) {
        return Some(None);
    }
    Some(Some((digits.parse().ok()?, tail)))
}

/// A structured request: version `v` from one source, written in the way `style` picks.
fn structured(v: u32, source: u8, style: u8, noise: &[u8]) -> Option<Request<()>> {
    let prefix = ["", "v", "V"][usize::from(style % 3)];
    let mut req = Request::get("/posts");
    let mut path_and_query = "/posts".to_owned();
    match source % 4 {
        0 => path_and_query = format!("/{}{v}/posts", if style & 4 != 0 { "V" } else { "v" }),
        1 => {
            let spaces = " ".repeat(usize::from(style >> 6));
            req = req.header("api-version", format!("{spaces}{prefix}{v}{spaces}"));
        }
        2 => {
            // Our range among others, in any case, with q-values that do not change the pick.
            let vendor = if style & 8 != 0 {
                "Application/VND.Example."
            } else {
                "application/vnd.example."
            };
            let suffix = ["+json", "", "+xml", ".full+json"][usize::from(style >> 4 & 3)];
            let others = String::from_utf8_lossy(noise)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '-'))
                .collect::<String>();
            let ours = format!(
                "{vendor}{}{v}{suffix}",
                if style & 4 != 0 { "V" } else { "v" }
            );
            let accept = if others.is_empty() {
                ours
            } else {
                format!("{others};q=0.5, {ours}, */*;q=0.1")
            };
            req = req.header("accept", accept);
        }
        _ => {
            let value = format!("{prefix}{v}");
            let value = if style & 8 != 0 {
                value.bytes().map(|b| format!("%{b:02X}")).collect()
            } else {
                value
            };
            let name = if style & 16 != 0 {
                "vers%69on"
            } else {
                "version"
            };
            path_and_query = format!("/posts?page=2&{name}={value}");
        }
    }
    req.uri(path_and_query).body(()).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let layer = layer(flags);

    if flags & 32 != 0 {
        let [v, source, style, noise @ ..] = rest else {
            return;
        };
        let v = u32::from(*v % 6);
        let Some(req) = structured(v, *source, *style, noise) else {
            return;
        };
        let (res, seen) = common::call(&layer, req, &[]);
        match v {
            1..=3 => {
                assert_eq!(res.status(), StatusCode::OK, "version {v}");
                let seen = seen.expect("the inner service runs");
                assert_eq!(
                    seen.extensions.get::<ApiVersion>().map(|a| a.get()),
                    Some(v)
                );
            }
            0 => {
                assert_eq!(res.status(), StatusCode::GONE);
                assert_eq!(common::problem_slug(&res), "version-gone");
            }
            _ => {
                assert_eq!(res.status(), StatusCode::BAD_REQUEST);
                assert_eq!(common::problem_slug(&res), "unsupported-version");
            }
        }
        return;
    }

    let fields = common::fields(rest);
    let path = String::from_utf8_lossy(fields[0]);
    let path = if path.starts_with('/') {
        path.into_owned()
    } else {
        format!("/{path}")
    };
    let query = fields.get(1).map(|q| String::from_utf8_lossy(q));
    let target = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let mut req = Request::get(uri.clone());
    for field in fields.iter().skip(2) {
        let name = match field.split_first() {
            Some((b'h', _)) => "api-version",
            Some((b'a', _)) => "accept",
            _ => continue,
        };
        let Ok(value) = http::HeaderValue::from_bytes(&field[1..]) else {
            return;
        };
        req = req.header(name, value);
    }
    let Ok(req) = req.body(()) else {
        return;
    };
    let (res, seen) = common::call(&layer, req, &[]);

    assert!(
        common::list_has(res.headers(), "vary", "accept")
            && common::list_has(res.headers(), "vary", "api-version"),
        "every answer varies on the sources read"
    );
    match res.status() {
        StatusCode::OK => {
            let seen = seen.expect("the inner service runs on 200");
            let version = seen
                .extensions
                .get::<ApiVersion>()
                .expect("a served request has its version")
                .get();
            assert!((1..=3).contains(&version), "served version {version}");
            if version == 1 {
                assert!(res.headers().contains_key("deprecation"));
            }
            match path_version(uri.path()) {
                Some(Some((n, tail))) => {
                    assert_eq!(version, n, "the path's version is served");
                    if flags & 16 == 0 {
                        let stripped = if tail.is_empty() { "/" } else { tail };
                        assert_eq!(seen.uri.path(), stripped);
                    } else {
                        assert_eq!(seen.uri.path(), uri.path());
                    }
                }
                Some(None) => panic!("an invalid path version was served: {uri}"),
                None => assert_eq!(seen.uri.path(), uri.path()),
            }
            assert_eq!(seen.uri.query(), uri.query(), "the query is kept");
        }
        StatusCode::BAD_REQUEST => {
            assert!(seen.is_none());
            let slug = common::problem_slug(&res);
            let expected: &[&str] = if flags & 8 != 0 {
                &[
                    "unsupported-version",
                    "invalid-version",
                    "conflicting-versions",
                    "missing-version",
                ]
            } else {
                &[
                    "unsupported-version",
                    "invalid-version",
                    "conflicting-versions",
                ]
            };
            assert!(expected.contains(&slug.as_str()), "400 {slug}");
        }
        StatusCode::GONE => {
            assert!(seen.is_none());
            assert_eq!(common::problem_slug(&res), "version-gone");
        }
        status => panic!("unexpected status {status}"),
    }
});
