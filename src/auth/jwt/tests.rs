//! Unit tests of the JWT authenticator: keys and algorithms, the verified-token cache, and
//! (feature `jwks`) the remote key set and its fetches.

use super::keys::{KeySet, Selection, alg_by_name, alg_name};
use super::*;
use crate::auth::token_cache::{CacheEntry, TokenCache};

const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

#[test]
fn algorithm_names_round_trip() {
    for alg in ALL_ALGORITHMS {
        assert_eq!(alg_by_name(alg_name(alg)), Some(alg));
    }
    assert_eq!(alg_by_name("none"), None);
    assert_eq!(alg_by_name("rs256"), None);
}

#[test]
fn keys_are_bound_to_their_family() {
    let pem = include_bytes!("../../../examples/keys/jwt_public.pem");
    assert!(JwtKey::rsa_pem(Algorithm::RS256, pem).is_ok());
    assert_eq!(
        JwtKey::rsa_pem(Algorithm::ES256, pem).unwrap_err(),
        ConfigError::KeyAlgorithmMismatch("ES256")
    );
    assert_eq!(
        JwtKey::hmac(Algorithm::HS256, b"short").unwrap_err(),
        ConfigError::WeakSecret {
            alg: "HS256",
            min: 32
        }
    );
}

/// What the JWT authenticator parses a header and claims with (`core::json`) accepts.
fn unique_members(json: &[u8]) -> bool {
    crate::core::json::from_slice(json).is_ok()
}

#[test]
fn duplicate_member_names_are_found_at_any_depth() {
    for json in [
        r#"{"alg":"RS256"}"#,
        r#"{"a":{"b":1},"b":{"b":2},"c":[{"d":1},{"d":2}]}"#,
        r#"[1,2.5,-3,"x",true,null,{}]"#,
        r#" {"a":1} "#,
    ] {
        assert!(unique_members(json.as_bytes()), "{json}");
    }
    for json in [
        r#"{"alg":"none","alg":"RS256"}"#,
        r#"{"sub":"a","x":1,"sub":"b"}"#,
        // The same name once escaped: one name after unescaping.
        r#"{"sub":"a","\u0073ub":"b"}"#,
        r#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
        r#"[{"a":1,"a":1}]"#,
        // Not one JSON value.
        r#"{"a":1}x"#,
        r#"{"a":1}{"a":2}"#,
        "",
        "{",
    ] {
        assert!(!unique_members(json.as_bytes()), "{json}");
    }
    // serde_json's nesting limit holds: no stack overflow, however deep.
    let deep = "[".repeat(100_000);
    assert!(!unique_members(deep.as_bytes()));
}

#[test]
fn ec_keys_are_bound_to_their_curve() {
    let p256 = include_bytes!("../../../tests/keys/ec_public.pem");
    assert!(JwtKey::ec_pem(Algorithm::ES256, p256).is_ok());
    assert_eq!(
        JwtKey::ec_pem(Algorithm::ES384, p256).unwrap_err(),
        ConfigError::KeyAlgorithmMismatch("ES384")
    );
    let point = [4u8; 65];
    assert!(JwtKey::ec_der(Algorithm::ES256, &point).is_ok());
    assert_eq!(
        JwtKey::ec_der(Algorithm::ES384, &point).unwrap_err(),
        ConfigError::KeyAlgorithmMismatch("ES384")
    );
    assert!(JwtKey::ec_der(Algorithm::ES384, &[4u8; 97]).is_ok());
    // A SubjectPublicKeyInfo given where a point is expected.
    assert_eq!(
        JwtKey::ec_der(Algorithm::ES256, &[0x30; 91]).unwrap_err(),
        ConfigError::KeyAlgorithmMismatch("ES256")
    );

    let coord = |n: usize| URL_SAFE_NO_PAD.encode(vec![7u8; n]);
    let jwk = |crv: &str, n: usize, alg: Option<&str>| {
        let mut v = serde_json::json!({"kty": "EC", "crv": crv, "x": coord(n), "y": coord(n)});
        if let Some(alg) = alg {
            v["alg"] = alg.into();
        }
        JwtKey::jwk(&v.to_string())
    };
    // Without `alg`, a P-256 key serves ES256 only, a P-384 key ES384 only.
    let k = jwk("P-256", 32, None).unwrap();
    assert!(k.fits(Algorithm::ES256) && !k.fits(Algorithm::ES384));
    let k = jwk("P-384", 48, None).unwrap();
    assert!(k.fits(Algorithm::ES384) && !k.fits(Algorithm::ES256));
    assert_eq!(
        jwk("P-256", 32, Some("ES384")).unwrap_err(),
        ConfigError::InvalidKey("the JWK's alg ES384 does not fit its key".into())
    );
    assert_eq!(
        jwk("P-521", 66, None).unwrap_err(),
        ConfigError::InvalidKey("unsupported EC curve".into())
    );
    // An Ed448-sized key under the Ed25519 name (jsonwebtoken knows no Ed448).
    let ed448 = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": coord(57)});
    assert_eq!(
        JwtKey::jwk(&ed448.to_string()).unwrap_err(),
        ConfigError::InvalidKey("unsupported OKP curve: only Ed25519 keys are accepted".into())
    );
    let ed25519 = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": coord(32)});
    assert!(JwtKey::jwk(&ed25519.to_string()).is_ok());
}

/// RFC 7518 section 6.2.1.2 and RFC 8037 section 2: the curve is the JWK's `crv`, which the
/// coordinates must fit; it is not guessed from their length.
#[test]
fn a_jwk_curve_is_its_crv_and_must_fit_its_coordinates() {
    let coord = |n: usize| URL_SAFE_NO_PAD.encode(vec![7u8; n]);
    let crv_mismatch = ConfigError::InvalidKey("the JWK's crv does not fit its key".into());
    for (crv, n) in [("P-256", 48), ("P-521", 32), ("P-384", 32)] {
        let v = serde_json::json!({"kty": "EC", "crv": crv, "x": coord(n), "y": coord(n)});
        assert_eq!(
            JwtKey::jwk(&v.to_string()).unwrap_err(),
            crv_mismatch,
            "{crv} {n}"
        );
    }
    let no_crv = serde_json::json!({"kty": "EC", "x": coord(32), "y": coord(32)});
    assert!(JwtKey::jwk(&no_crv.to_string()).is_err());
    let okp = serde_json::json!({"kty": "OKP", "crv": "P-256", "x": coord(32)});
    assert!(JwtKey::jwk(&okp.to_string()).is_err());
    let x25519 = serde_json::json!({"kty": "OKP", "crv": "X25519", "x": coord(32)});
    assert!(JwtKey::jwk(&x25519.to_string()).is_err());
}

/// RFC 7517 section 4.3: a JWK whose `key_ops` do not include `verify` is not for verifying
/// signatures, as one whose `use` is `enc` is not.
#[test]
fn a_jwk_for_other_operations_is_refused() {
    let coord = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let jwk = |ops: serde_json::Value| {
        JwtKey::jwk(
            &serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": coord, "key_ops": ops})
                .to_string(),
        )
    };
    assert!(jwk(serde_json::json!(["verify"])).is_ok());
    assert!(jwk(serde_json::json!(["sign", "verify"])).is_ok());
    for ops in [
        serde_json::json!(["encrypt"]),
        serde_json::json!([]),
        serde_json::json!(["sign"]),
    ] {
        assert_eq!(
            jwk(ops).unwrap_err(),
            ConfigError::InvalidKey("the JWK's key_ops do not include verify".into())
        );
    }
    assert_eq!(
        jwk(serde_json::json!("verify")).unwrap_err(),
        ConfigError::InvalidKey("the JWK's key_ops is not an array".into())
    );
}

/// RFC 7518 section 3.3: RSA keys of 2048 bits or more. A 1024-bit key is refused at build,
/// as PEM and as a JWK (and so dropped from a key set).
#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    let small = include_bytes!("../../../tests/keys/rsa1024_public.pem");
    let refused = ConfigError::InvalidKey(
        "the RSA key has 1024 bits: at least 2048 are required (RFC 7518 section 3.3)".into(),
    );
    assert_eq!(
        JwtKey::rsa_pem(Algorithm::RS256, small).unwrap_err(),
        refused
    );
    assert_eq!(
        JwtKey::rsa_pem(Algorithm::PS256, small).unwrap_err(),
        refused
    );
    let big = include_bytes!("../../../tests/keys/sig_rsa_public.pem");
    assert!(JwtKey::rsa_pem(Algorithm::RS256, big).is_ok());
    // As a JWK: a 1024-bit modulus (its top bit set), then one of 2048 bits.
    let jwk = |n: Vec<u8>| {
        JwtKey::jwk(
            &serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"})
                .to_string(),
        )
    };
    let mut n = vec![0xc5u8; 128];
    assert_eq!(jwk(n.clone()).unwrap_err(), refused);
    // A leading zero byte adds no bits.
    n.insert(0, 0);
    assert_eq!(jwk(n).unwrap_err(), refused);
    assert!(jwk(vec![0xc5u8; 256]).is_ok());
    let set = KeySet::from_jwk_set(
        serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "small", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB"}
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        set.select(Some("small"), Algorithm::RS256),
        Selection::UnknownKid
    ));
}

/// A kid the set lacks, with kid-less keys of another type only: the key is new (a rotation
/// to another algorithm), so the set is to be refreshed, as when there is no kid-less key.
#[test]
fn an_unknown_kid_with_no_kidless_key_of_its_algorithm_is_unknown() {
    let rsa =
        serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"});
    let set =
        KeySet::from_jwk_set(serde_json::json!({ "keys": [rsa] }).to_string().as_bytes()).unwrap();
    assert!(matches!(
        set.select(Some("ec-2"), Algorithm::ES256),
        Selection::UnknownKid
    ));
    // The kid-less RSA key is still tried for an RS256 token naming any kid.
    assert!(matches!(
        set.select(Some("rsa-9"), Algorithm::RS256),
        Selection::Keys(keys) if keys.len() == 1
    ));
}

#[test]
fn cache_is_bounded_and_respects_exp_and_generation() {
    let cache = TokenCache::new(32);
    let p = Principal::builder("s", AuthMethod::Jwt).build();
    for i in 0..1000u32 {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&i.to_le_bytes());
        cache.insert(
            d,
            CacheEntry {
                principal: p.clone(),
                exp: 100,
                generation: 0,
            },
        );
    }
    assert!(cache.len() <= 32, "{}", cache.len());
    let d = [7u8; 32];
    cache.insert(
        d,
        CacheEntry {
            principal: p,
            exp: 100,
            generation: 3,
        },
    );
    assert!(cache.get(&d, 99, 3).is_some());
    assert!(cache.get(&d, 100, 3).is_none());
    assert!(cache.get(&d, 50, 4).is_none());
}

fn digest_of(i: u64) -> [u8; 32] {
    Sha256::digest(i.to_le_bytes()).into()
}

fn entry(exp: u64) -> CacheEntry {
    CacheEntry {
        principal: Principal::builder("s", AuthMethod::Jwt).build(),
        exp,
        generation: 0,
    }
}

/// Fills a cache of `capacity` with live tokens, then inserts as many new ones: the entries
/// looked at to make room, per insert.
fn examined_per_insert(capacity: usize) -> f64 {
    let cache = TokenCache::new(capacity);
    let capacity = capacity as u64;
    for i in 0..capacity * 2 {
        cache.insert(digest_of(i), entry(1_000));
    }
    cache.take_examined();
    for i in capacity * 2..capacity * 3 {
        cache.insert(digest_of(i), entry(1_000));
    }
    cache.take_examined() as f64 / capacity as f64
}

#[test]
fn inserting_into_a_full_cache_does_not_scan_it() {
    // Finding 8 of issue 12: a full shard was scanned, under its write lock, on every insert
    // of a new token. Eviction now looks at one entry per insert, whatever the size.
    let small = examined_per_insert(1_000);
    let large = examined_per_insert(100_000);
    assert!(small <= 1.0, "{small} entries examined per insert at 1k");
    assert!(large <= 1.0, "{large} entries examined per insert at 100k");
}

#[test]
fn a_full_cache_evicts_the_oldest_entry_first() {
    // One shard: every digest below starts with the same byte.
    let cache = TokenCache::new(16 * 4);
    let digest = |i: u8| {
        let mut d = [0u8; 32];
        d[1] = i;
        d
    };
    for i in 0..4 {
        cache.insert(digest(i), entry(1_000));
    }
    // Replacing a present entry makes no room and evicts nothing.
    cache.insert(digest(0), entry(1_000));
    assert!((0..4).all(|i| cache.get(&digest(i), 20, 0).is_some()));
    cache.insert(digest(4), entry(1_000));
    assert!(cache.get(&digest(0), 20, 0).is_none(), "the oldest went");
    assert!((1..5).all(|i| cache.get(&digest(i), 20, 0).is_some()));
    cache.insert(digest(5), entry(1_000));
    assert!(cache.get(&digest(1), 20, 0).is_none());
    assert!((2..6).all(|i| cache.get(&digest(i), 20, 0).is_some()));
    assert_eq!(cache.len(), 4);
}

/// The remote key set: URL checks, the builder, freshness, the schedule, and fetches from a
/// loopback server.
#[cfg(feature = "jwks")]
mod remote {
    use std::sync::{Arc, Mutex as StdMutex};

    use http::HeaderValue;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use std::time::Duration;

    use http::HeaderMap;
    use tokio::time::Instant;

    use crate::auth::jwt::fetch::{Source, check_url, freshness, parse_jwk_set};
    use crate::auth::jwt::jwks::UNLOADED_COOLDOWN;
    use crate::auth::jwt::{ConfigError, FetchError, Jwks, JwksBuilder};

    const KEY_A: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    const KEY_B: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"b","x":"PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw"}"#;
    const KEY_C: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"c","x":"_FHNjmIYoaONpH7QAjDwWAgW7RO6MwOsXeuRFUiQgCU"}"#;

    fn set(keys: &[&str]) -> String {
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn freshness_reads_max_age_no_cache_and_age() {
        let secs = |pairs: &[(&'static str, &'static str)]| freshness(&headers(pairs));
        assert_eq!(secs(&[]), None);
        assert_eq!(
            secs(&[("cache-control", "public, max-age=300")]),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            secs(&[("cache-control", "Max-Age=\"60\"")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=300"), ("age", "250")]),
            Some(Duration::from_secs(50))
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=30"), ("age", "99")]),
            Some(Duration::ZERO)
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=300, no-cache")]),
            Some(Duration::ZERO)
        );
        assert_eq!(secs(&[("cache-control", "no-store")]), Some(Duration::ZERO));
        assert_eq!(
            secs(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "max-age=120")
            ]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(secs(&[("cache-control", "max-age=-1")]), None);
        assert_eq!(secs(&[("cache-control", "max-age=1e3, private")]), None);
        assert_eq!(
            secs(&[("cache-control", "max-age=99999999999999999999999")]),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://idp.example.com/jwks.json",
            "http://127.0.0.1:8080/jwks.json",
            "http://127.9.9.9/jwks.json",
            "http://localhost:1/jwks.json",
            "http://LOCALHOST/jwks.json",
            "http://[::1]:9/jwks.json",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for (url, err) in [
            (
                "http://idp.example.com/jwks.json",
                ConfigError::InsecureHttp("http://idp.example.com/jwks.json".into()),
            ),
            (
                "http://localhost.evil.example/jwks.json",
                ConfigError::InsecureHttp("http://localhost.evil.example/jwks.json".into()),
            ),
            (
                "http://10.0.0.1/jwks.json",
                ConfigError::InsecureHttp("http://10.0.0.1/jwks.json".into()),
            ),
            (
                "ftp://idp.example.com/jwks.json",
                ConfigError::UnsupportedScheme("ftp://idp.example.com/jwks.json".into()),
            ),
            (
                "file:///etc/passwd",
                ConfigError::UnsupportedScheme("file:///etc/passwd".into()),
            ),
        ] {
            assert_eq!(check_url(url, false).unwrap_err(), err);
        }
        assert!(check_url("http://idp.example.com/jwks.json", true).is_ok());
        assert!(matches!(
            check_url("jwks.json", false),
            Err(ConfigError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("", true),
            Err(ConfigError::InvalidUrl(_))
        ));
    }

    #[test]
    fn the_builder_refuses_what_cannot_work() {
        let url = "https://idp.example.com/jwks.json";
        let err = |b: JwksBuilder| b.build().unwrap_err();
        assert_eq!(
            err(Jwks::builder(url).timeout(Duration::ZERO)),
            ConfigError::InvalidJwksSetting("the timeout is zero")
        );
        assert_eq!(
            err(Jwks::builder(url).max_body(0)),
            ConfigError::InvalidJwksSetting("max_body is zero")
        );
        assert_eq!(
            err(Jwks::builder(url)
                .refresh_interval(Duration::from_millis(10), Duration::from_secs(60))),
            ConfigError::InvalidJwksSetting("the shortest refresh interval is under a second")
        );
        assert_eq!(
            err(Jwks::builder(url)
                .refresh_interval(Duration::from_secs(120), Duration::from_secs(60))),
            ConfigError::InvalidJwksSetting(
                "the shortest refresh interval is longer than the longest"
            )
        );
        assert_eq!(
            err(Jwks::discover("https://idp.example.com/?tenant=1")),
            ConfigError::InvalidUrl(
                "https://idp.example.com/?tenant=1: an issuer has no query or fragment".into()
            )
        );
        assert_eq!(
            err(Jwks::discover("http://idp.example.com")),
            ConfigError::InsecureHttp("http://idp.example.com".into())
        );
        assert!(
            Jwks::builder("http://idp.example.com/k")
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
        // Zero is allowed for the cool-down (single flight only).
        assert!(Jwks::builder(url).cooldown(Duration::ZERO).build().is_ok());
    }

    #[test]
    fn discovery_url_joins_without_a_double_slash() {
        for issuer in ["https://idp.example.com", "https://idp.example.com/"] {
            let jwks = Jwks::discover(issuer).build().unwrap();
            let Source::Discovery { url, issuer: kept } = &jwks.inner.fetcher.source else {
                panic!("not discovery");
            };
            assert_eq!(
                url.as_str(),
                "https://idp.example.com/.well-known/openid-configuration"
            );
            assert_eq!(kept, issuer, "the issuer is compared as configured");
        }
        let jwks = Jwks::discover("https://idp.example.com/tenants/7/")
            .build()
            .unwrap();
        assert_eq!(
            jwks.inner.fetcher.url(),
            "https://idp.example.com/tenants/7/.well-known/openid-configuration"
        );
    }

    #[test]
    fn no_fetch_and_no_task_without_a_runtime() {
        let jwks = Jwks::builder("https://idp.example.com/jwks.json")
            .build()
            .unwrap();
        let current = jwks.current();
        assert!(!current.loaded);
        assert_eq!(current.generation, 0);
        assert_eq!(current.keys.len(), 0);
        assert!(jwks.inner.task.get().is_none());
        assert_eq!(jwks.fetch_count(), 0);
    }

    #[test]
    fn schedule_clamps_the_lifetime_and_backs_off() {
        let jwks = Jwks::builder("https://idp.example.com/jwks.json")
            .build()
            .unwrap();
        let inner = &jwks.inner;
        let s = Duration::from_secs;
        assert_eq!(inner.refresh_after(Some(s(300))), s(270));
        assert_eq!(inner.refresh_after(None), s(270), "5 minutes when absent");
        assert_eq!(
            inner.refresh_after(Some(Duration::ZERO)),
            s(54),
            "at least 1 minute"
        );
        assert_eq!(
            inner.refresh_after(Some(s(86_400 * 365))),
            s(3240),
            "at most 1 hour"
        );
        let backoff: Vec<u64> = (1..=9).map(|n| inner.backoff(n).as_secs()).collect();
        assert_eq!(backoff, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(inner.backoff(u32::MAX), s(60));
    }

    #[test]
    fn digest_ignores_key_order_and_sees_new_keys() {
        let (keys, ab) = parse_jwk_set(set(&[KEY_A, KEY_B]).as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        let (_, ba) = parse_jwk_set(set(&[KEY_B, KEY_A]).as_bytes()).unwrap();
        assert_eq!(ab, ba);
        let (_, ac) = parse_jwk_set(set(&[KEY_A, KEY_C]).as_bytes()).unwrap();
        assert_ne!(ab, ac);
        // Same kid, other key material: another set.
        let b_as_a = KEY_B.replace(r#""kid":"b""#, r#""kid":"a""#);
        let (_, a2) = parse_jwk_set(set(&[&b_as_a]).as_bytes()).unwrap();
        let (_, a1) = parse_jwk_set(set(&[KEY_A]).as_bytes()).unwrap();
        assert_ne!(a1, a2);

        let oct = r#"{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}"#;
        assert_eq!(parse_jwk_set(set(&[oct]).as_bytes()).unwrap_err(), None);
        assert_eq!(parse_jwk_set(b"{\"keys\":[]}").unwrap_err(), None);
        assert!(parse_jwk_set(b"<html>").unwrap_err().is_some());
        assert!(parse_jwk_set(b"{\"kty\":\"OKP\"}").unwrap_err().is_some());
    }

    /// A loopback HTTP server whose answers `respond` decides (per request path); counts the
    /// requests and keeps their paths.
    struct Server {
        url: String,
        paths: Arc<StdMutex<Vec<String>>>,
    }

    type Respond = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

    impl Server {
        async fn start(respond: Arc<Respond>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let paths = Arc::new(StdMutex::new(Vec::new()));
            let seen = Arc::clone(&paths);
            tokio::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    let respond = Arc::clone(&respond);
                    let seen = Arc::clone(&seen);
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        let line = String::from_utf8_lossy(&head)
                            .lines()
                            .next()
                            .unwrap()
                            .to_owned();
                        let path = line.split(' ').nth(1).unwrap().to_owned();
                        seen.lock().unwrap().push(path.clone());
                        match respond(&path) {
                            Some(bytes) => {
                                let _ = stream.write_all(&bytes).await;
                            }
                            // Never answer (the connection stays open until the client goes).
                            None => {
                                let _ = stream.read(&mut buf).await;
                            }
                        }
                    });
                }
            });
            Server { url, paths }
        }

        fn count(&self, path: &str) -> usize {
            self.paths
                .lock()
                .unwrap()
                .iter()
                .filter(|p| *p == path)
                .count()
        }
    }

    fn ok(extra_headers: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// A server that serves the body in `current` at `/jwks.json`.
    async fn jwks_server(current: Arc<StdMutex<String>>) -> Server {
        Server::start(Arc::new(move |path: &str| {
            (path == "/jwks.json").then(|| ok("", &current.lock().unwrap()))
        }))
        .await
    }

    #[tokio::test]
    async fn refresh_keeps_the_generation_when_nothing_changed() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A, KEY_B])));
        let server = jwks_server(Arc::clone(&body)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .build()
            .unwrap();
        jwks.refresh().await.unwrap();
        let first = jwks.current().generation;
        assert!(jwks.is_loaded());
        assert_eq!(jwks.current().keys.len(), 2);

        // Same keys in another order: same generation.
        *body.lock().unwrap() = set(&[KEY_B, KEY_A]);
        jwks.refresh().await.unwrap();
        assert_eq!(jwks.current().generation, first);

        *body.lock().unwrap() = set(&[KEY_A, KEY_C]);
        jwks.refresh().await.unwrap();
        assert_eq!(jwks.current().generation, first + 1);
        let kids: Vec<String> = jwks.current().keys.kids().map(str::to_owned).collect();
        assert_eq!(kids, ["a", "c"]);

        // A set without a usable key, or no set at all, never replaces the last good one.
        *body.lock().unwrap() = r#"{"keys":[]}"#.into();
        assert_eq!(
            jwks.refresh().await.unwrap_err(),
            FetchError::NoUsableKeys {
                url: format!("{}/jwks.json", server.url)
            }
        );
        *body.lock().unwrap() = "not json".into();
        assert!(matches!(
            jwks.refresh().await,
            Err(FetchError::InvalidDocument { .. })
        ));
        assert_eq!(jwks.current().generation, first + 1);
        assert_eq!(jwks.current().keys.len(), 2);
        // The background task's first fetch may or may not have run before the first refresh.
        assert!((5..=6).contains(&server.count("/jwks.json")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn unknown_keys_fetch_once_per_cooldown() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A])));
        let server = jwks_server(Arc::clone(&body)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .cooldown(Duration::from_millis(300))
            .build()
            .unwrap();
        jwks.refresh().await.unwrap();
        let generation = jwks.current().generation;
        let fetched = jwks.fetch_count();

        // Within the cool-down: no fetch at all.
        let storm = |n: usize| {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let jwks = jwks.clone();
                    tokio::spawn(async move { jwks.refresh_for_unknown_key(generation).await })
                })
                .collect();
            async move {
                for t in tasks {
                    t.await.unwrap();
                }
            }
        };
        storm(100).await;
        assert_eq!(jwks.fetch_count(), fetched);

        // After it: one fetch, however many wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        storm(100).await;
        assert_eq!(jwks.fetch_count(), fetched + 1);

        // A request that saw an older generation does not fetch: the set already changed.
        tokio::time::sleep(Duration::from_millis(300)).await;
        jwks.refresh_for_unknown_key(generation.wrapping_sub(1))
            .await;
        assert_eq!(jwks.fetch_count(), fetched + 1);
    }

    #[tokio::test]
    async fn responses_that_are_too_large_redirected_or_too_slow_fail() {
        let big = format!(r#"{{"keys":[{KEY_A}],"padding":"{}"}}"#, "x".repeat(4096));
        let big_chunked = big.clone();
        let server = Server::start(Arc::new(move |path: &str| match path {
            "/big" => Some(ok("", &big)),
            "/big-chunked" => Some(
                format!(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{big_chunked}\r\n0\r\n\r\n",
                    big_chunked.len()
                )
                .into_bytes(),
            ),
            "/moved" => Some(
                b"HTTP/1.1 302 Found\r\nlocation: /jwks.json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_vec(),
            ),
            "/jwks.json" => Some(ok("", &set(&[KEY_A]))),
            _ => None,
        }))
        .await;
        let build = |path: &str| {
            Jwks::builder(format!("{}{path}", server.url))
                .max_body(1024)
                .timeout(Duration::from_millis(300))
                .build()
                .unwrap()
        };
        for path in ["/big", "/big-chunked"] {
            assert_eq!(
                build(path).refresh().await.unwrap_err(),
                FetchError::TooLarge {
                    url: format!("{}{path}", server.url),
                    max: 1024
                }
            );
        }
        let err = build("/moved").refresh().await.unwrap_err();
        assert_eq!(
            err,
            FetchError::Status {
                url: format!("{}/moved", server.url),
                status: 302
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "GET {}/moved answered 302; redirects are not followed, configure the final URL",
                server.url
            )
        );
        let started = Instant::now();
        let slow = build("/never");
        assert_eq!(
            slow.refresh().await.unwrap_err(),
            FetchError::Timeout {
                url: format!("{}/never", server.url),
                timeout: Duration::from_millis(300)
            }
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(!slow.is_loaded());
        // The redirect target was never fetched.
        assert_eq!(server.count("/jwks.json"), 0);
    }

    #[tokio::test]
    async fn discovery_checks_the_issuer_and_the_jwks_uri() {
        let doc = Arc::new(StdMutex::new(String::new()));
        let served = Arc::clone(&doc);
        let server = Server::start(Arc::new(move |path: &str| match path {
            "/.well-known/openid-configuration" => Some(ok("", &served.lock().unwrap())),
            "/jwks.json" => Some(ok("", &set(&[KEY_A]))),
            _ => Some(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()),
        }))
        .await;
        let issuer = server.url.clone();
        let jwks = Jwks::discover(&issuer).build().unwrap();

        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"https://evil.example","jwks_uri":"{issuer}/jwks.json"}}"#);
        assert_eq!(
            jwks.refresh().await.unwrap_err(),
            FetchError::IssuerMismatch {
                expected: issuer.clone(),
                found: "https://evil.example".into()
            }
        );
        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"{issuer}/","jwks_uri":"{issuer}/jwks.json"}}"#);
        assert!(matches!(
            jwks.refresh().await,
            Err(FetchError::IssuerMismatch { .. })
        ));
        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"{issuer}","jwks_uri":"http://idp.example.com/jwks.json"}}"#);
        assert_eq!(
            jwks.refresh().await.unwrap_err().to_string(),
            format!(
                "GET {issuer}/.well-known/openid-configuration: its jwks_uri cannot be used: \
                 http://idp.example.com/jwks.json: plain http is only allowed to loopback hosts \
                 (see allow_insecure_http)"
            )
        );
        assert_eq!(server.count("/jwks.json"), 0);
        assert_eq!(jwks.fetch_count(), 0);

        *doc.lock().unwrap() =
            format!(r#"{{"issuer":"{issuer}","jwks_uri":"{issuer}/jwks.json"}}"#);
        jwks.refresh().await.unwrap();
        jwks.refresh().await.unwrap();
        assert!(jwks.is_loaded());
        assert_eq!(jwks.fetch_count(), 2);
        assert_eq!(server.count("/jwks.json"), 2);
        // Discovery is not repeated while the set can be fetched.
        assert_eq!(server.count("/.well-known/openid-configuration"), 4);
    }

    #[tokio::test]
    async fn the_background_task_loads_at_once_and_ends_with_the_last_clone() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A])));
        let server = jwks_server(Arc::clone(&body)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .build()
            .unwrap();
        let task = jwks.inner.task.get().cloned().expect("started by build");
        let weak = Arc::downgrade(&jwks.inner);
        for _ in 0..500 {
            if jwks.is_loaded() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            jwks.is_loaded(),
            "the first fetch happens without a request"
        );
        assert_eq!(jwks.fetch_count(), 1);
        let clone = jwks.clone();
        drop(jwks);
        assert!(!task.is_finished());
        drop(clone);
        assert!(
            weak.upgrade().is_none(),
            "the task holds no strong reference"
        );
        for _ in 0..500 {
            if task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(task.is_finished());
    }

    #[tokio::test]
    async fn the_task_starts_lazily_when_built_outside_a_runtime() {
        let body = Arc::new(StdMutex::new(set(&[KEY_A])));
        let server = jwks_server(Arc::clone(&body)).await;
        let url = format!("{}/jwks.json", server.url);
        let jwks = std::thread::spawn(move || Jwks::builder(url).build().unwrap())
            .join()
            .unwrap();
        assert!(jwks.inner.task.get().is_none());
        let _ = jwks.current();
        assert!(jwks.inner.task.get().is_some());
        for _ in 0..500 {
            if jwks.is_loaded() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(jwks.is_loaded());
    }

    #[tokio::test]
    async fn never_loaded_retries_after_a_second_not_the_cooldown() {
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let jwks = Jwks::builder(format!("http://127.0.0.1:{port}/jwks.json"))
            .cooldown(Duration::from_secs(3600))
            .build()
            .unwrap();
        assert!(matches!(
            jwks.refresh().await,
            Err(FetchError::Request { .. })
        ));
        let after_first = jwks.fetch_count();
        jwks.refresh_for_unknown_key(0).await;
        assert_eq!(jwks.fetch_count(), after_first, "within a second: no fetch");
        // The cool-down while unloaded is one second, not an hour: make the last attempt a
        // second old rather than wait for it.
        jwks.inner.state.lock().await.last_attempt = Some(Instant::now() - UNLOADED_COOLDOWN);
        jwks.refresh_for_unknown_key(0).await;
        assert_eq!(jwks.fetch_count(), after_first + 1);
    }

    #[tokio::test]
    async fn the_cooldown_counts_from_the_end_of_an_attempt() {
        // Issue 12, finding 1: counted from the start, a fetch that took longer than the
        // cool-down left none, and the next waiting request fetched again at once.
        let server = Server::start(Arc::new(|_: &str| None)).await;
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .timeout(Duration::from_millis(600))
            .cooldown(Duration::from_millis(500))
            .build()
            .unwrap();
        assert!(matches!(
            jwks.refresh().await,
            Err(FetchError::Timeout { .. })
        ));
        let fetched = jwks.fetch_count();
        jwks.refresh_for_unknown_key(0).await;
        assert_eq!(
            jwks.fetch_count(),
            fetched,
            "the attempt ended just now: within the cool-down"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        jwks.refresh_for_unknown_key(0).await;
        assert_eq!(jwks.fetch_count(), fetched + 1, "after it: a fetch");
        assert!(started.elapsed() >= Duration::from_millis(600));
    }

    #[test]
    fn max_stale_is_checked_at_build() {
        let url = "https://idp.example.com/jwks.json";
        assert_eq!(
            Jwks::builder(url)
                .max_stale(Duration::from_secs(3599))
                .build()
                .unwrap_err(),
            ConfigError::InvalidJwksSetting(
                "max_stale is shorter than the longest refresh interval"
            )
        );
        assert!(
            Jwks::builder(url)
                .max_stale(Duration::from_secs(3600))
                .build()
                .is_ok()
        );
        assert!(
            Jwks::builder(url)
                .refresh_interval(Duration::from_secs(60), Duration::from_secs(60))
                .max_stale(Duration::from_secs(60))
                .build()
                .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn waiters_take_the_result_of_the_fetch_in_flight() {
        // Even without a cool-down, requests that waited for a fetch do not start their own
        // after it: its result is theirs (issue 12, finding 1).
        let server = Server::start(Arc::new(|_: &str| None)).await;
        let timeout = Duration::from_millis(400);
        let jwks = Jwks::builder(format!("{}/jwks.json", server.url))
            .timeout(timeout)
            .cooldown(Duration::ZERO)
            .build()
            .unwrap();
        // The background task's first fetch is in flight.
        for _ in 0..100 {
            if server.count("/jwks.json") == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(jwks.fetch_count(), 1);
        let started = Instant::now();
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let jwks = jwks.clone();
                tokio::spawn(async move { jwks.refresh_for_unknown_key(0).await })
            })
            .collect();
        for w in waiters {
            w.await.unwrap();
        }
        // One fetch's timeout, with room for a loaded machine: twenty fetches in turn would
        // take twenty of them.
        assert!(
            started.elapsed() < timeout * 2,
            "answered after {:?}",
            started.elapsed()
        );
        assert_eq!(jwks.fetch_count(), 1);
        assert!(!jwks.is_loaded());
    }
}
