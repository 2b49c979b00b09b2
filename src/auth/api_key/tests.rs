use super::*;

#[test]
fn digest_hex_round_trip() {
    let d = KeyDigest::of("abc");
    assert_eq!(
        d.to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(KeyDigest::from_hex(&d.to_hex().to_uppercase()), Some(d));
    assert_eq!(KeyDigest::from_hex("zz"), None);
    assert_eq!(KeyDigest::from_hex(&"g".repeat(64)), None);
}

#[test]
fn generated_keys_differ_and_prefixes_are_checked() {
    let a = generate_api_key("ak_test_").unwrap();
    let b = generate_api_key("ak_test_").unwrap();
    assert_ne!(a.key(), b.key());
    assert!(!format!("{a:?}").contains(a.key()));
    assert_eq!(
        generate_api_key("ak live").unwrap_err(),
        ConfigError::InvalidPrefix
    );
}

#[test]
fn query_values_are_decoded() {
    let values = |q| {
        query_values(q, "api_key")
            .map(|v| v.map(|v| v.into_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(values("a=1&api_key=k%5Fx+y"), [Some("k_x y".to_owned())]);
    assert_eq!(
        values("api%5Fkey=k&api_key=j"),
        [Some("k".to_owned()), Some("j".to_owned())]
    );
    assert_eq!(values("api_key=%ff"), [None]);
    assert!(values("api_keys=1").is_empty());
}
