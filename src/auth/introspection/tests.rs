use super::fetch::parse_answer;
use super::looks_like_jwt;

#[test]
fn answers_need_an_object_with_a_boolean_active() {
    assert!(
        parse_answer(br#"{"active":true,"sub":"a"}"#)
            .unwrap()
            .active
    );
    assert!(!parse_answer(br#"{"active":false}"#).unwrap().active);
    for (body, reason) in [
        (&b"{}"[..], "the answer has no `active`"),
        (
            br#"{"active":"true"}"#,
            "the answer's `active` is not a boolean",
        ),
        (
            br#"{"active":null}"#,
            "the answer's `active` is not a boolean",
        ),
        (b"[]", "the answer is not a JSON object"),
        (b"true", "the answer is not a JSON object"),
    ] {
        assert_eq!(parse_answer(body).unwrap_err(), reason);
    }
    assert!(
        parse_answer(b"<html>")
            .unwrap_err()
            .starts_with("the answer is not JSON")
    );
}

#[test]
fn jwt_shapes() {
    assert!(looks_like_jwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
    assert!(!looks_like_jwt(
        "5eys_HHkuYaGsxOUlNSppqtLuRhuk1i-a5hTebkZDFc"
    ));
    assert!(!looks_like_jwt("a.b"));
    assert!(!looks_like_jwt("a..c"));
    assert!(!looks_like_jwt("a.b.c.d"));
    assert!(!looks_like_jwt("a.b.c="));
}
