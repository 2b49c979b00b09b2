use super::*;

#[test]
fn scopes_parse_dedupe_and_display() {
    let s = Scopes::parse("  read:posts write:posts\tread:posts ");
    assert_eq!(s.iter().collect::<Vec<_>>(), ["read:posts", "write:posts"]);
    assert_eq!(s.to_string(), "read:posts write:posts");
    assert!(s.contains("write:posts"));
    assert!(!s.contains("write"));
    assert!(Scopes::parse("").is_empty());
}

#[test]
fn tiers_of_the_same_name_are_equal() {
    assert_eq!(Tier::new(String::from("premium")), Tier::PREMIUM);
    assert_eq!(Tier::from("gold").as_str(), "gold");
}

#[test]
fn anonymous_principal() {
    let p = Principal::anonymous();
    assert!(p.is_anonymous());
    assert_eq!(p.tier(), &Tier::ANONYMOUS);
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"subject":"anonymous","method":"anonymous","tier":"anonymous","scopes":[]}"#
    );
}

#[test]
fn typed_claims() {
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        org: u32,
    }
    let p = Principal::builder("u1", AuthMethod::Jwt)
        .claims(serde_json::json!({"sub": "u1", "org": 7}))
        .build();
    let mine: Mine = p.claims().unwrap();
    assert_eq!((mine.sub.as_str(), mine.org), ("u1", 7));
    assert!(matches!(
        p.claims::<std::collections::HashMap<String, u8>>(),
        Err(ClaimsError::Shape(_))
    ));
    let key = Principal::builder("k", AuthMethod::ApiKey).build();
    assert!(matches!(key.claims::<Mine>(), Err(ClaimsError::NoClaims)));
}
