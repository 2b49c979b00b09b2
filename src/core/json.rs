//! JSON from a party the crate does not trust (a request body to validate, a JWT's header and
//! claims, an introspection answer): `serde_json`, refusing an object that holds a key twice.
//!
//! RFC 8259 (section 4) leaves the meaning of a repeated name open, and parsers disagree:
//! `serde_json::Value` keeps the last value, Go's `encoding/json` the last, some parsers the
//! first, `serde`'s derived structs refuse the object. A check that read one value while the
//! handler, or a service downstream, reads the other would check a document they never see.
//! I-JSON (RFC 7493, section 2.3) says objects must not have duplicate names; so does this
//! parser (the validation layer answers `400 invalid-json`, the JWT authenticator "malformed
//! token", introspection fails closed).
//!
//! For the same reason an object whose first key is `$serde_json::private::RawValue` is an
//! error when `serde_json`'s `raw_value` feature is on: `serde_json::Value` then reads such an
//! object as the JSON text in its value (unchecked), a struct as the object it is. Everything
//! else is as `serde_json::from_slice::<Value>` has it: the same values, the nesting limit of
//! 128, lone surrogates (which I-JSON forbids too) and bytes that are not UTF-8 refused.
//! JSONTestSuite's files (vendored in `tests/data/json/`) check it.

use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// The most characters of a repeated key quoted in the error.
const MAX_KEY_IN_ERROR: usize = 64;

/// The key under which `serde_json` hands a visitor a number as text when its
/// `arbitrary_precision` feature is on (in this build, through any crate that enables it): a
/// map of that one key, as `serde_json::Value`'s own visitor recognises it.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The key under which `serde_json` hands a visitor a `RawValue` when its `raw_value` feature is
/// on (axum's `json` feature turns it on). `serde_json::Value`'s visitor takes an object whose
/// first key is this one for the JSON text in its value: `{"$serde_json::private::RawValue":
/// "[1]"}` is `[1]` to it, while a struct or a map reads the object. The same bytes meaning two
/// things, the key is refused there, as a key twice is (see [`raw_value`]).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Whether `serde_json` was built with `raw_value`, so that `Value` reads an object whose first
/// key is [`RAW_VALUE_TOKEN`] as the JSON text of its value. Found out once.
fn raw_value() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        serde_json::from_str::<Value>(&format!(r#"{{"{RAW_VALUE_TOKEN}": "1"}}"#))
            .is_ok_and(|v| !v.is_object())
    })
}

/// Whether `serde_json` was built with `arbitrary_precision`: numbers then keep their text
/// (`1.50` stays `1.50`). Found out once.
fn arbitrary_precision() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        serde_json::from_str::<Value>("1.50")
            .and_then(|v| serde_json::to_string(&v))
            .is_ok_and(|text| text == "1.50")
    })
}

/// Parses `bytes` as one JSON value, as `serde_json::from_slice::<Value>` does (the same
/// nesting limit of 128, the same refusal of lone surrogates and of bytes that are not UTF-8),
/// except that an object with a key twice is an error, and so is one whose first key is
/// [`RAW_VALUE_TOKEN`] when `raw_value` is on.
#[cfg_attr(not(any(feature = "jwt", feature = "introspection")), allow(dead_code))]
pub(crate) fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The error of a key found twice in an object, quoting at most [`MAX_KEY_IN_ERROR`]
/// characters of it (`serde_json` adds where it was found).
pub(crate) fn duplicate_key<E: de::Error>(key: &str) -> E {
    let shown: String = key.chars().take(MAX_KEY_IN_ERROR).collect();
    let cut = if shown.len() < key.len() { "…" } else { "" };
    E::custom(format_args!("duplicate key `{shown}{cut}`"))
}

/// What an object's first key means before its members are read, as `serde_json::Value`'s
/// visitor reads it: `Some` number when the object is how `arbitrary_precision` hands a number
/// over (its value read), an error for [`RAW_VALUE_TOKEN`] when `raw_value` is on, else
/// nothing (an ordinary member).
pub(crate) fn first_key<'de, A: MapAccess<'de>>(
    key: &str,
    map: &mut A,
) -> Result<Option<Number>, A::Error> {
    if key == NUMBER_TOKEN && arbitrary_precision() {
        let text: String = map.next_value()?;
        return text.parse().map(Some).map_err(de::Error::custom);
    }
    if key == RAW_VALUE_TOKEN && raw_value() {
        return Err(de::Error::custom(format_args!(
            "reserved key `{RAW_VALUE_TOKEN}`"
        )));
    }
    Ok(None)
}

/// Builds a [`Value`], refusing duplicate keys, at every level.
#[cfg_attr(not(any(feature = "jwt", feature = "introspection")), allow(dead_code))]
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let mut first = true;
        // `Map` is a `BTreeMap` (an `IndexMap` with `preserve_order`): finding a repeated key
        // costs a logarithmic (constant) time, not a scan of the keys before it.
        while let Some(key) = map.next_key::<String>()? {
            // `Value`'s visitor looks at the first key only, and so does this one.
            if std::mem::take(&mut first)
                && let Some(number) = first_key(&key, &mut map)?
            {
                return Ok(Value::Number(number));
            }
            match object.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(map.next_value_seed(self)?);
                }
                Entry::Occupied(entry) => return Err(duplicate_key(entry.key())),
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    use super::from_slice;

    #[test]
    fn values_parse_as_serde_json_parses_them() {
        for text in [
            r#"{"a": [1, -2, 3.5, 1e400, "x\u00e9", true, null, {"b": {}}], "c": 18446744073709551615}"#,
            "[]",
            "0",
            r#""s""#,
            "  {\"k\": [[[]]]}  ",
        ] {
            let ours = from_slice(text.as_bytes()).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<serde_json::Value>(text.as_bytes())
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
        }
        for bad in ["{", "[1,]", "{\"a\" 1}", "1 2", ""] {
            assert_eq!(
                from_slice(bad.as_bytes()).map_err(|e| e.to_string()),
                serde_json::from_slice::<serde_json::Value>(bad.as_bytes())
                    .map_err(|e| e.to_string()),
                "{bad}"
            );
        }
        assert_eq!(from_slice(br#"{"a": 1}"#).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn the_number_token_is_a_plain_key_without_arbitrary_precision() {
        // This build does not enable `arbitrary_precision`: the token is any other key, as in
        // `serde_json::Value`.
        assert!(!super::arbitrary_precision());
        let text = format!(r#"{{"{}": "1.5"}}"#, super::NUMBER_TOKEN);
        assert_eq!(
            from_slice(text.as_bytes()).unwrap(),
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
    }

    #[test]
    fn a_key_twice_is_an_error_at_any_depth() {
        let err = |text: &str| from_slice(text.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"title":"a","title":"b"}"#),
            "duplicate key `title` at line 1 column 20"
        );
        // The same key however it is escaped.
        assert_eq!(
            err(r#"{"title":1,"t\u0069tle":2}"#),
            "duplicate key `title` at line 1 column 23"
        );
        assert_eq!(
            err(r#"[{"ok":1},{"a":{"b":1,"b":1}}]"#),
            "duplicate key `b` at line 1 column 25"
        );
        let long = "k".repeat(1_000);
        assert_eq!(
            err(&format!(r#"{{"{long}":1,"{long}":2}}"#)),
            format!("duplicate key `{}…` at line 1 column 2008", "k".repeat(64))
        );
        // Keys that differ only in case are different keys.
        assert!(from_slice(br#"{"a":1,"A":2}"#).is_ok());
    }

    /// The outcome of each `i_` (implementation-defined) file of JSONTestSuite, `true` for
    /// accepted: serde_json's, and this parser's the same (5 accepted, 30 refused).
    const IMPLEMENTATION_DEFINED: &[(&str, bool)] = &[
        // Too small for an `f64`: 0.0.
        ("i_number_double_huge_neg_exp.json", true),
        // Too large for an `f64`: "number out of range".
        ("i_number_huge_exp.json", false),
        ("i_number_neg_int_huge_exp.json", false),
        ("i_number_pos_double_huge_exp.json", false),
        ("i_number_real_neg_overflow.json", false),
        ("i_number_real_pos_overflow.json", false),
        // Too small for an `f64`: 0.0.
        ("i_number_real_underflow.json", true),
        // Past `i64` / `u64`: the nearest `f64`.
        ("i_number_too_big_neg_int.json", true),
        ("i_number_too_big_pos_int.json", true),
        ("i_number_very_big_negative_int.json", true),
        // Lone or misordered surrogate escapes, in a key or a string: refused, as I-JSON
        // (RFC 7493 section 2.1) asks.
        ("i_object_key_lone_2nd_surrogate.json", false),
        ("i_string_1st_surrogate_but_2nd_missing.json", false),
        ("i_string_1st_valid_surrogate_2nd_invalid.json", false),
        // UTF-16 with a BOM.
        ("i_string_UTF-16LE_with_BOM.json", false),
        // Not UTF-8 (a UTF-8-encoded surrogate is not UTF-8 either).
        ("i_string_UTF-8_invalid_sequence.json", false),
        ("i_string_UTF8_surrogate_U+D800.json", false),
        // Lone or misordered surrogate escapes again.
        ("i_string_incomplete_surrogate_and_escape_valid.json", false),
        ("i_string_incomplete_surrogate_pair.json", false),
        ("i_string_incomplete_surrogates_escape_valid.json", false),
        ("i_string_invalid_lonely_surrogate.json", false),
        ("i_string_invalid_surrogate.json", false),
        // Not UTF-8.
        ("i_string_invalid_utf-8.json", false),
        // Lone or misordered surrogate escapes again.
        ("i_string_inverted_surrogates_U+1D11E.json", false),
        // Not UTF-8 (Latin-1).
        ("i_string_iso_latin_1.json", false),
        // A lone surrogate escape.
        ("i_string_lone_second_surrogate.json", false),
        // Not UTF-8 (stray, overlong or truncated sequences, past U+10FFFF).
        ("i_string_lone_utf8_continuation_byte.json", false),
        ("i_string_not_in_unicode_range.json", false),
        ("i_string_overlong_sequence_2_bytes.json", false),
        ("i_string_overlong_sequence_6_bytes.json", false),
        ("i_string_overlong_sequence_6_bytes_null.json", false),
        ("i_string_truncated-utf-8.json", false),
        // UTF-16 without a BOM.
        ("i_string_utf16BE_no_BOM.json", false),
        ("i_string_utf16LE_no_BOM.json", false),
        // Past the nesting limit of 128: "recursion limit exceeded".
        ("i_structure_500_nested_arrays.json", false),
        // A UTF-8 BOM before `{}`.
        ("i_structure_UTF-8_BOM_empty_object.json", false),
    ];

    /// The `y_` files this parser refuses on purpose: a key twice (I-JSON, RFC 7493 section 2.3).
    const REFUSED_ON_PURPOSE: &[&str] = &[
        "y_object_duplicated_key.json",
        "y_object_duplicated_key_and_value.json",
    ];

    /// The files of JSONTestSuite's `test_parsing` (vendored in `tests/data/json/`), sorted.
    pub(crate) fn suite_files() -> Vec<std::path::PathBuf> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/json/test_parsing");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() > 300, "{} files in {dir}", files.len());
        files
    }

    /// JSONTestSuite's `test_parsing` (vendored in `tests/data/json/`, see its README): every
    /// `y_` file accepted, as serde_json reads it (but for [`REFUSED_ON_PURPOSE`]), every `n_`
    /// file refused, every `i_` file as [`IMPLEMENTATION_DEFINED`] says; never a panic; when
    /// both refuse, the same message.
    #[test]
    fn json_test_suite() {
        let files = suite_files();
        let mut wrong = Vec::new();
        let mut counts = std::collections::BTreeMap::<(String, bool), usize>::new();
        let mut implementation_defined = Vec::new();
        for path in &files {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let bytes = std::fs::read(path).unwrap();
            let Ok(ours) = std::panic::catch_unwind(|| from_slice(&bytes)) else {
                wrong.push(format!("{name}: panicked"));
                continue;
            };
            let theirs = serde_json::from_slice::<Value>(&bytes);
            let prefix = name.get(..2).unwrap_or_default().to_owned();
            *counts.entry((prefix.clone(), ours.is_ok())).or_default() += 1;
            match (&ours, &theirs) {
                (Ok(ours), Ok(theirs)) => {
                    // `==` holds `-0.0 == 0.0`: the text tells them apart.
                    let text = |value| serde_json::to_string(value).ok();
                    if ours != theirs || text(ours) != text(theirs) {
                        wrong.push(format!("{name}: {ours} but serde_json {theirs}"));
                    }
                }
                (Err(ours), Err(theirs)) => {
                    if ours.to_string() != theirs.to_string() {
                        wrong.push(format!("{name}: `{ours}` but serde_json `{theirs}`"));
                    }
                }
                (Ok(ours), Err(theirs)) => {
                    wrong.push(format!("{name}: {ours} but serde_json `{theirs}`"));
                }
                (Err(ours), Ok(_)) => {
                    if !REFUSED_ON_PURPOSE.contains(&name.as_str()) {
                        wrong.push(format!("{name}: `{ours}` but serde_json accepts it"));
                    } else if !ours.to_string().starts_with("duplicate key `a`") {
                        wrong.push(format!("{name}: `{ours}`"));
                    }
                }
            }
            match prefix.as_str() {
                "y_" if ours.is_ok() == REFUSED_ON_PURPOSE.contains(&name.as_str()) => {
                    wrong.push(format!("{name}: {ours:?}"));
                }
                "n_" if ours.is_ok() => wrong.push(format!("{name}: accepted")),
                "i_" => implementation_defined.push((name.clone(), ours.is_ok())),
                "y_" | "n_" => {}
                _ => wrong.push(format!("{name}: not a test file")),
            }
        }
        println!("JSONTestSuite, (prefix, accepted): files: {counts:?}");
        println!("i_ outcomes (accepted): {implementation_defined:?}");
        assert!(wrong.is_empty(), "{wrong:#?}");
        let pinned: Vec<_> = IMPLEMENTATION_DEFINED
            .iter()
            .map(|&(name, accepted)| (name.to_owned(), accepted))
            .collect();
        assert_eq!(implementation_defined, pinned);
        // (prefix, accepted) → files.
        let expected = [
            (("i_", false), 30),
            (("i_", true), 5),
            (("n_", false), 188),
            (("y_", false), REFUSED_ON_PURPOSE.len()),
            (("y_", true), 93),
        ];
        let expected = expected.map(|((prefix, accepted), n)| ((prefix.to_owned(), accepted), n));
        assert_eq!(counts, expected.into());
    }

    /// Parses `text` with this parser and with serde_json, and returns both outcomes, errors as
    /// their messages.
    fn both(text: &str) -> (Result<Value, String>, Result<Value, String>) {
        (
            from_slice(text.as_bytes()).map_err(|e| e.to_string()),
            serde_json::from_str::<Value>(text).map_err(|e| e.to_string()),
        )
    }

    /// Asserts that this parser refuses `text` for a repeated key and that serde_json accepts
    /// it; returns the message.
    fn duplicate(text: &str) -> String {
        let (ours, theirs) = both(text);
        assert!(theirs.is_ok(), "{text}: {theirs:?}");
        let message = ours.unwrap_err();
        assert!(message.starts_with("duplicate key `"), "{text}: {message}");
        message
    }

    /// Asserts that this parser accepts `text` and reads it as serde_json does; returns the
    /// value.
    fn same(text: &str) -> Value {
        let (ours, theirs) = both(text);
        assert_eq!(ours, theirs, "{text}");
        ours.unwrap()
    }

    #[test]
    fn repeated_keys_are_code_point_sequences_compared_after_unescaping() {
        assert_eq!(
            duplicate(r#"{"a":1,"a":2}"#),
            "duplicate key `a` at line 1 column 10"
        );
        // The same value twice is a repeated key all the same.
        duplicate(r#"{"a":1,"a":1}"#);
        // At any depth, in objects and in arrays.
        duplicate(r#"{"x":{"y":[{"a":1,"a":2}]}}"#);
        duplicate(r#"[[[{"a":{}}],{"b":null,"c":0,"b":null}]]"#);
        // The same key in different objects, or at different depths, is no repeat.
        same(r#"[{"a":1},{"a":2}]"#);
        same(r#"{"a":{"a":{"a":1}},"b":{"a":2}}"#);
        // Escapes are decoded before keys are compared: `\u0061` is `a`, `\/` is `/`, a
        // surrogate pair is the character it encodes.
        assert_eq!(
            duplicate(r#"{"a":1,"\u0061":2}"#),
            "duplicate key `a` at line 1 column 15"
        );
        duplicate(r#"{"\u0061":1,"a":2}"#);
        duplicate(r#"{"/":1,"\/":2}"#);
        duplicate(r#"{"é":1,"\u00e9":2}"#);
        duplicate(r#"{"\u00E9":1,"\u00e9":2}"#);
        duplicate(r#"{"😀":1,"\ud83d\ude00":2}"#);
        duplicate("{\"\\n\":1,\"\\u000a\":2}");
        // I-JSON compares code points, not normalized text: a precomposed `é` (U+00E9) and `e`
        // with a combining acute accent (U+0065 U+0301) are two keys, as in serde_json.
        let value = same("{\"\u{e9}\":1,\"e\\u0301\":2}");
        assert_eq!(value.as_object().map(serde_json::Map::len), Some(2));
        assert_eq!(value["e\u{301}"], json!(2));
        same("{\"\u{e9}\":1,\"e\u{301}\":2}");
        // Nor is case folded (`a_key_twice_is_an_error_at_any_depth`), nor the empty key special.
        duplicate(r#"{"":1,"":2}"#);
        // Keys a JavaScript object would treat specially are keys like any other.
        assert_eq!(
            duplicate(r#"{"__proto__":1,"__proto__":2}"#),
            "duplicate key `__proto__` at line 1 column 26"
        );
        duplicate(r#"{"__proto__":{"a":1},"\u005f_proto__":{}}"#);
        same(r#"{"__proto__":{"isAdmin":true},"constructor":{"prototype":{}}}"#);
        // serde_json refuses a lone surrogate in a key before any comparison.
        let (ours, theirs) = both(r#"{"\ud800":1,"\ud800":2}"#);
        assert_eq!(ours, theirs);
        assert!(ours.is_err());
    }

    #[test]
    fn many_distinct_keys_are_no_repeat_and_one_repeat_among_them_is() {
        // `Map` is a `BTreeMap` (an `IndexMap` with `preserve_order`): each key costs a
        // lookup in a tree of the keys before it, not a scan of them.
        let keys: Vec<String> = (0..10_000).map(|i| format!("key{i}")).collect();
        let object = |keys: &[String]| {
            let members: Vec<String> = keys.iter().map(|k| format!("\"{k}\":0")).collect();
            format!("{{{}}}", members.join(","))
        };
        let value = same(&object(&keys));
        assert_eq!(value.as_object().map(serde_json::Map::len), Some(10_000));
        // The first key again, last.
        let mut repeated = keys.clone();
        repeated.push(keys[0].clone());
        assert!(duplicate(&object(&repeated)).starts_with("duplicate key `key0` at line 1"));
        // And in an object nested in each of 10,000 array items.
        let items = vec![r#"{"a":0,"b":1}"#; 10_000].join(",");
        same(&format!("[{items}]"));
        duplicate(&format!(r#"[{items},{{"a":0,"a":1}}]"#));
    }

    #[test]
    fn serde_json_private_tokens_as_keys() {
        // Without `arbitrary_precision` (this build), serde_json's number token is a key like
        // any other, in serde_json as here.
        assert!(!super::arbitrary_precision());
        let value = same(r#"{"$serde_json::private::Number":"1"}"#);
        assert_eq!(value, json!({"$serde_json::private::Number": "1"}));
        same(r#"{"$serde_json::private::Number":"not a number"}"#);
        same(r#"{"$serde_json::private::Number":1,"b":[]}"#);
        same(r#"{"a":{"$serde_json::private::Number":"1"}}"#);
        duplicate(r#"{"$serde_json::private::Number":"1","$serde_json::private::Number":"2"}"#);
        // With `raw_value` (on in this build: axum's `json` feature asks for it), serde_json's
        // `Value` reads an object whose first key is the raw-value token as the JSON text in
        // its value, unchecked for repeated keys, while a struct reads the object: the key is
        // refused there. Elsewhere in an object it is a key like any other.
        let raw = r#"{"$serde_json::private::RawValue":"{\"a\":1,\"a\":2}"}"#;
        if super::raw_value() {
            assert_eq!(serde_json::from_str::<Value>(raw).unwrap(), json!({"a": 2}));
            for text in [
                raw,
                r#"{"$serde_json::private::RawValue":"[1]"}"#,
                r#"{"$serde_json::private::RawValue":1}"#,
                r#"[{"$serde_json::private::RawValue":"[1]","b":2}]"#,
                r#"{"\u0024serde_json::private::RawValue":"[1]"}"#,
            ] {
                let message = from_slice(text.as_bytes()).unwrap_err().to_string();
                assert!(
                    message.starts_with("reserved key `$serde_json::private::RawValue` at line 1"),
                    "{text}: {message}"
                );
            }
        } else {
            same(raw);
        }
        same(r#"{"a":1,"$serde_json::private::RawValue":"[1]"}"#);
        duplicate(
            r#"{"a":1,"$serde_json::private::RawValue":"1","$serde_json::private::RawValue":"1"}"#,
        );
    }

    #[test]
    fn surrogates_must_pair() {
        // I-JSON (RFC 7493 section 2.1) forbids lone surrogates: serde_json refuses them when it
        // reads a string or a key into a `String`, whether escaped (`\ud800`) or encoded in
        // UTF-8 (`ED A0 80`, which is not UTF-8), and so does this parser, with its message.
        for text in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\uDFAA""#,
            r#""\ud800abc""#,
            r#""\ud800\n""#,
            r#""\ud800\u0041""#,
            r#""\ud800\ud800""#,
            r#""\ude00\ud83d""#,
            r#"["a", "\ud800"]"#,
            r#"{"k":"\udbff"}"#,
            r#"{"\ud800":1}"#,
            r#"{"\udc00":1}"#,
        ] {
            let (ours, theirs) = both(text);
            assert_eq!(ours, theirs, "{text}");
            let message = ours.unwrap_err();
            assert!(
                message.contains("surrogate") || message.contains("hex escape"),
                "{text}: {message}"
            );
        }
        assert_eq!(
            from_slice(br#""\ud800""#).unwrap_err().to_string(),
            "unexpected end of hex escape at line 1 column 8"
        );
        assert_eq!(
            from_slice(br#""\udc00""#).unwrap_err().to_string(),
            "lone leading surrogate in hex escape at line 1 column 7"
        );
        assert!(from_slice(b"\"\xed\xa0\x80\"").is_err());
        assert!(from_slice(b"{\"\xed\xb0\x80\":1}").is_err());
        // A pair is the character it encodes; noncharacters (U+FFFF, U+10FFFF) are accepted, as
        // JSONTestSuite's `y_` files ask.
        assert_eq!(same(r#""\ud83d\ude00""#), json!("😀"));
        assert_eq!(same(r#""\uDBFF\uDFFF""#), json!("\u{10ffff}"));
        assert_eq!(
            same(r#"{"\uffff":"\uFDD0"}"#),
            json!({"\u{ffff}": "\u{fdd0}"})
        );
    }

    #[test]
    fn nesting_stops_at_serde_json_limit() {
        // Arrays and objects count alike; 128 levels are refused, 127 are read.
        let nested = |depth: usize, open: &str, close: &str| {
            format!("{}0{}", open.repeat(depth), close.repeat(depth))
        };
        for (open, close) in [("[", "]"), (r#"{"a":"#, "}"), (r#"[{"a":"#, "}]")] {
            let depth = 127 / open.matches(['[', '{']).count();
            same(&nested(depth, open, close));
            let (ours, theirs) = both(&nested(depth + 1, open, close));
            assert_eq!(ours, theirs);
            assert!(ours.unwrap_err().starts_with("recursion limit exceeded"));
        }
        same(&nested(127, "[", "]"));
        assert!(both(&nested(128, "[", "]")).0.is_err());
        // Far deeper, unclosed, as the suite's `n_structure_100000_opening_arrays.json` and
        // `n_structure_open_array_object.json`: refused at level 128, no stack overflow.
        for text in ["[".repeat(1_000_000), r#"[{"":"#.repeat(200_000)] {
            let (ours, theirs) = both(&text);
            assert_eq!(ours, theirs);
            assert!(ours.unwrap_err().starts_with("recursion limit exceeded"));
        }
    }
}
