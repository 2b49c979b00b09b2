//! Parsing a body for validation: `serde_json`, refusing an object that holds a key twice.
//!
//! RFC 8259 (section 4) leaves the meaning of a repeated name open, and parsers disagree:
//! `serde_json::Value` keeps the last value, Go's `encoding/json` the last, some parsers the
//! first, `serde`'s derived structs refuse the object. A validator that read one value while the
//! handler reads the other would check a body the handler never sees. I-JSON (RFC 7493,
//! section 2.3) says objects must not have duplicate names; so does this parser, and the body is
//! then invalid JSON for the route (`400 invalid-json`).

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
/// nesting limit of 128), except that an object with a key twice is an error.
pub(crate) fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`], refusing duplicate keys, at every level.
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
        while let Some(key) = map.next_key::<String>()? {
            // A number, as `arbitrary_precision` hands it over: `Value`'s visitor does the same.
            if std::mem::take(&mut first) && key == NUMBER_TOKEN && arbitrary_precision() {
                let text: String = map.next_value()?;
                let number: Number = text.parse().map_err(de::Error::custom)?;
                return Ok(Value::Number(number));
            }
            match object.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(map.next_value_seed(self)?);
                }
                Entry::Occupied(entry) => {
                    let key = entry.key();
                    let shown: String = key.chars().take(MAX_KEY_IN_ERROR).collect();
                    let cut = if shown.len() < key.len() { "…" } else { "" };
                    return Err(de::Error::custom(format_args!(
                        "duplicate key `{shown}{cut}`"
                    )));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
}
