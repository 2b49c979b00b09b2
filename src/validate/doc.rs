//! The request body as `jsonschema` validates it: a JSON document that borrows its strings from
//! the body's bytes instead of copying each into a `serde_json::Value`.
//!
//! A body is parsed once, then validated, then dropped: nothing outlives the bytes. A
//! `serde_json::Value` allocates every string, every key and every object's tree nodes, and
//! frees them all after; [`Doc`] points into the body for every string without an escape, and
//! keeps an object as one vector of members sorted by name (the order of `Value`'s map, so
//! violations are listed in the same order). `jsonschema` validates any representation that
//! implements its [`Json`] family of traits; [`Borrowed`] is this one.
//!
//! The document is the one [`core::json::from_slice`](crate::core::json::from_slice) would
//! build, read by the same `serde_json` tokenizer with the same rules: a key twice in an
//! object is an error (at the same place, with the same message), so is the reserved
//! `RawValue` key when `serde_json`'s `raw_value` feature is on; numbers are `serde_json`
//! `Number`s built the same way; the nesting limit of 128 and the refusal of lone surrogates and
//! of bytes that are not UTF-8 are `serde_json`'s own. Tests check that both representations get
//! the same verdicts and the same violations.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use jsonschema::JsonType;
use jsonschema::json::{Array, Json, Node, NodeIdentity, Object};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::core::json::{duplicate_key, first_key};

/// One JSON value, its strings borrowed from the body where they have no escape.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Doc<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Doc<'a>>),
    /// Members sorted by name, each name once.
    Object(Vec<(Cow<'a, str>, Doc<'a>)>),
}

/// Objects with at most this many members are searched for a repeated key, and for a key to
/// look up, one member after another; larger ones through a hash set while parsing and a
/// binary search after.
const SCAN: usize = 16;

/// Parses `bytes` as one JSON document, with the rules of
/// [`core::json::from_slice`](crate::core::json::from_slice).
pub(crate) fn from_slice(bytes: &[u8]) -> serde_json::Result<Doc<'_>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc = DocSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(doc)
}

impl Doc<'_> {
    /// How many values the document holds (itself, and every item and member value within),
    /// counted up to `max + 1` at most.
    pub(crate) fn values_up_to(&self, max: usize) -> usize {
        let mut count = 0;
        let mut stack = vec![self];
        while let Some(doc) = stack.pop() {
            count += 1;
            if count > max {
                break;
            }
            match doc {
                Self::Array(items) => stack.extend(items),
                Self::Object(members) => stack.extend(members.iter().map(|(_, d)| d)),
                _ => {}
            }
        }
        count
    }

    /// The same document as a `serde_json::Value` (for a violation's instance, and the
    /// comparisons of `const`, `enum` and `uniqueItems`).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::String(s) => Value::String(s.clone().into_owned()),
            Self::Array(items) => Value::Array(items.iter().map(Doc::to_value).collect()),
            Self::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(name, doc)| (name.clone().into_owned(), doc.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

#[derive(Clone, Copy)]
struct DocSeed;

impl<'de> DeserializeSeed<'de> for DocSeed {
    type Value = Doc<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// An object's key, borrowed when it has no escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de> Visitor<'de> for DocSeed {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Doc<'de>, E> {
        Ok(Number::from_f64(v).map_or(Doc::Null, Doc::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }

    fn visit_none<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Doc::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Doc<'de>)> = Vec::new();
        // The names seen, once an object has more than `SCAN` members: a hash set (keyed per
        // process, so a client cannot choose names that collide), not a scan per member.
        let mut seen: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            // As `core::json` does (and `Value`'s visitor): the first key only.
            if members.is_empty()
                && let Some(number) = first_key(&key, &mut map)?
            {
                return Ok(Doc::Number(number));
            }
            let repeated = match &mut seen {
                Some(seen) => !seen.insert(key.clone()),
                None => {
                    let repeated = members.iter().any(|(name, _)| *name == key);
                    if !repeated && members.len() == SCAN {
                        let mut all: HashSet<Cow<'de, str>> =
                            members.iter().map(|(name, _)| name.clone()).collect();
                        all.insert(key.clone());
                        seen = Some(all);
                    }
                    repeated
                }
            };
            if repeated {
                return Err(duplicate_key(&key));
            }
            let value = map.next_value_seed(self)?;
            members.push((key, value));
        }
        // Names are unique: the order is total.
        members.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        Ok(Doc::Object(members))
    }
}

/// The representation `jsonschema` validates request bodies in: [`Doc`]s.
pub(crate) struct Borrowed;

impl Json for Borrowed {
    type Node<'a> = &'a Doc<'a>;
    type PreparedKey = Box<str>;
    type StringBuffer = Doc<'static>;

    // A lookup is a short scan or a binary search, each step a string comparison.
    const KEYS_PER_LOOKUP: usize = 2;
    // A tree: no node is its own descendant.
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> Box<str> {
        key.into()
    }

    fn with_string_node<T>(
        buffer: &mut Doc<'static>,
        string: &str,
        f: impl FnOnce(<Self as Json>::Node<'_>) -> T,
    ) -> T {
        *buffer = Doc::String(Cow::Owned(string.to_owned()));
        f(buffer)
    }
}

/// A member of an object: its name and value.
type Member<'a> = (Cow<'a, str>, Doc<'a>);

/// An object's members as `jsonschema` iterates them.
type Members<'a> =
    std::iter::Map<std::slice::Iter<'a, Member<'a>>, fn(&'a Member<'a>) -> (&'a str, &'a Doc<'a>)>;

impl<'a> Node<'a, Borrowed> for &'a Doc<'a> {
    type Object = &'a [Member<'a>];
    type Array = &'a [Doc<'a>];
    type Number = &'a Number;

    fn as_object(&self) -> Option<&'a [Member<'a>]> {
        match self {
            Doc::Object(members) => Some(members),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&'a [Doc<'a>]> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Doc::String(s) => Some(Cow::Borrowed(&**s)),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Doc::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            Doc::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Doc::Null)
    }

    fn json_type(&self) -> JsonType {
        match self {
            Doc::Null => JsonType::Null,
            Doc::Bool(_) => JsonType::Boolean,
            Doc::Number(_) => JsonType::Number,
            Doc::String(_) => JsonType::String,
            Doc::Array(_) => JsonType::Array,
            Doc::Object(_) => JsonType::Object,
        }
    }

    fn string_length(&self) -> Option<u64> {
        match self {
            Doc::String(s) => Some(s.chars().count() as u64),
            _ => None,
        }
    }

    fn string_length_within(&self, min: u64, max: u64) -> Option<bool> {
        let Doc::String(s) = self else {
            return None;
        };
        // A character takes one to four bytes: the count is within `ceil(bytes / 4)..=bytes`,
        // which often decides without counting.
        let bytes = s.len() as u64;
        let fewest = bytes.div_ceil(4);
        if bytes < min || fewest > max {
            return Some(false);
        }
        if min <= fewest && bytes <= max {
            return Some(true);
        }
        Some((min..=max).contains(&(s.chars().count() as u64)))
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Doc::to_value(self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Doc<'a>>(*self) as usize
        ))
    }
}

fn member<'a>((name, doc): &'a Member<'a>) -> (&'a str, &'a Doc<'a>) {
    (name, doc)
}

impl<'a> Object<'a, Borrowed> for &'a [Member<'a>] {
    type Node = &'a Doc<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        <[Member<'a>]>::len(self)
    }

    fn get(&self, key: &Box<str>) -> Option<&'a Doc<'a>> {
        let key: &str = key;
        if self.len() <= SCAN {
            return self
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, doc)| doc);
        }
        self.binary_search_by(|(name, _)| (**name).cmp(key))
            .ok()
            .map(|at| &self[at].1)
    }

    fn members(&self) -> Members<'a> {
        self.iter()
            .map(member as fn(&'a Member<'a>) -> (&'a str, &'a Doc<'a>))
    }
}

impl<'a> Array<'a, Borrowed> for &'a [Doc<'a>] {
    type Node = &'a Doc<'a>;
    type ElementsIter = std::slice::Iter<'a, Doc<'a>>;

    fn len(&self) -> usize {
        <[Doc<'a>]>::len(self)
    }

    fn elements(&self) -> std::slice::Iter<'a, Doc<'a>> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{Borrowed, Doc, from_slice};
    use crate::core::json::tests::suite_files;

    /// What `core::json` makes of `bytes`, and what this parser makes of it (as a `Value`):
    /// the same document, or the same error.
    fn both(bytes: &[u8]) -> (Result<Value, String>, Result<Value, String>) {
        let ours = from_slice(bytes)
            .map(|doc| doc.to_value())
            .map_err(|e| e.to_string());
        let core = crate::core::json::from_slice(bytes).map_err(|e| e.to_string());
        (ours, core)
    }

    fn text(value: &Result<Value, String>) -> Result<String, String> {
        value
            .as_ref()
            .map(|v| serde_json::to_string(v).unwrap_or_default())
            .map_err(Clone::clone)
    }

    /// Every file of JSONTestSuite's `test_parsing` (vendored in `tests/data/json/`): the same
    /// document as `core::json` builds (the same text, so `-0.0` stays `-0.0`), or the same
    /// error, word for word and at the same place.
    #[test]
    fn json_test_suite_as_core_json_reads_it() {
        let mut wrong = Vec::new();
        for path in &suite_files() {
            let bytes = std::fs::read(path).unwrap();
            let (ours, core) = both(&bytes);
            if ours != core || text(&ours) != text(&core) {
                wrong.push(format!(
                    "{}: {ours:?} but core::json {core:?}",
                    path.display()
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// A key twice is refused where `core::json` refuses it, in small objects (scanned) and
    /// large ones (hashed), escaped or not, at every level; objects are sorted by name.
    #[test]
    fn repeated_keys_and_member_order() {
        let many = |n: usize, repeat: &str| {
            let mut members: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
            members.push(format!("\"{repeat}\": true"));
            format!("{{{}}}", members.join(","))
        };
        let mut cases = vec![
            r#"{"title": 1, "title": 2}"#.to_owned(),
            r#"{"a": {"b": 1, "b": 2}}"#.to_owned(),
            r#"[{"x": 1}, {"x": 1, "\u0078": 2}]"#.to_owned(),
            r#"{"\u00e9": 1, "é": 2}"#.to_owned(),
            r#"{"b": 1, "a": 2, "c": {"z": [], "y": {}}}"#.to_owned(),
            r#"{"$serde_json::private::RawValue": "[1]"}"#.to_owned(),
            r#"{"x": 1, "$serde_json::private::RawValue": "[1]"}"#.to_owned(),
        ];
        for n in [1, 15, 16, 17, 40] {
            cases.push(many(n, "k0"));
            cases.push(many(n, &format!("k{}", n - 1)));
            cases.push(many(n, "fresh"));
            cases.push(many(n, "\\u006b0"));
        }
        for case in &cases {
            let (ours, core) = both(case.as_bytes());
            assert_eq!(ours, core, "{case}");
            assert_eq!(text(&ours), text(&core), "{case}");
        }
        let Ok(Doc::Object(members)) = from_slice(br#"{"b": 1, "a": 2, "\u0061a": 3}"#) else {
            panic!("an object");
        };
        let names: Vec<&str> = members.iter().map(|(name, _)| &**name).collect();
        assert_eq!(names, ["a", "aa", "b"]);
    }

    /// Strings without escapes are borrowed from the body; escaped ones owned.
    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let Ok(Doc::Object(members)) = from_slice(br#"{"plain": "text", "esc\"aped": "a\nb"}"#)
        else {
            panic!("an object");
        };
        let borrowed = |s: &std::borrow::Cow<'_, str>| matches!(s, std::borrow::Cow::Borrowed(_));
        assert!(!borrowed(&members[0].0), "esc\"aped");
        assert!(borrowed(&members[1].0), "plain");
        assert!(matches!(&members[0].1, Doc::String(s) if !borrowed(s)));
        assert!(matches!(&members[1].1, Doc::String(s) if borrowed(s)));
    }

    /// Schemas using every kind of keyword: each validates every document alike whether it is a
    /// `Value` (`jsonschema`'s own representation) or a [`Doc`].
    fn schemas() -> Vec<Value> {
        vec![
            json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "body": {"type": "string", "maxLength": 10000}
                },
                "required": ["title"],
                "additionalProperties": false
            }),
            json!({"type": ["integer", "null"], "minimum": -3, "exclusiveMaximum": 1e20, "multipleOf": 3}),
            json!({"type": "number", "multipleOf": 0.01, "maximum": 18446744073709551615u64}),
            json!({"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$", "minLength": 2, "maxLength": 5}),
            json!({"format": "email"}),
            json!({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4, "uniqueItems": true}),
            json!({"prefixItems": [{"const": 1}, {"enum": ["a", 1.0, null, {"k": [1]}]}], "items": false}),
            json!({"contains": {"type": "object", "required": ["id"]}, "minContains": 2}),
            json!({
                "patternProperties": {"^x-": {"type": "string"}},
                "propertyNames": {"maxLength": 8, "pattern": "^[a-z-]+$"},
                "minProperties": 1,
                "maxProperties": 3,
                "dependentRequired": {"a": ["b"]},
                "unevaluatedProperties": {"type": "boolean"}
            }),
            json!({
                "$defs": {"node": {"type": "object", "properties": {
                    "value": {"type": "number"},
                    "next": {"$ref": "#/$defs/node"}
                }, "required": ["value"]}},
                "$ref": "#/$defs/node"
            }),
            json!({
                "if": {"properties": {"kind": {"const": "a"}}, "required": ["kind"]},
                "then": {"required": ["a"]},
                "else": {"not": {"required": ["a"]}}
            }),
            json!({"anyOf": [{"type": "string"}, {"type": "array"}], "oneOf": [{"maxLength": 3}, {"maxItems": 1}]}),
            json!({"allOf": [{"type": "object"}, {"properties": {"n": {"type": "integer"}}}], "unevaluatedProperties": false}),
            json!({"enum": [[1, 2], {"a": 1}, "x", 0, false]}),
            json!({"const": {"b": [1.0, {"c": null}], "a": "é"}}),
            json!({"type": "array", "uniqueItems": true}),
            json!({
                "prefixItems": [{"type": "integer"}],
                "contains": {"type": "string"},
                "unevaluatedItems": false
            }),
            json!({
                "$id": "https://example.com/tree",
                "$dynamicAnchor": "node",
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$dynamicRef": "#node"}}},
                "dependentSchemas": {"a": {"required": ["kids"]}}
            }),
            json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "items": [{"type": "integer"}],
                "additionalItems": false,
                "dependencies": {"a": ["b"], "kind": {"required": ["id"]}},
                "exclusiveMinimum": 0
            }),
            json!({
                "$schema": "http://json-schema.org/draft-04/schema#",
                "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true}},
                "additionalProperties": {"type": "string"}
            }),
            json!(true),
            json!(false),
        ]
    }

    /// Every schema's verdict and violations (place and message, in order) on `doc`, in both
    /// representations.
    fn agree(bytes: &[u8]) {
        let Ok(value) = crate::core::json::from_slice(bytes) else {
            assert!(from_slice(bytes).is_err());
            return;
        };
        let doc = from_slice(bytes).unwrap();
        for schema in schemas() {
            for formats in [false, true] {
                // As the builder does: draft 2020-12 unless the schema names its own.
                let draft = match schema.get("$schema") {
                    Some(_) => None,
                    None => Some(jsonschema::Draft::Draft202012),
                };
                let mut theirs = jsonschema::options().should_validate_formats(formats);
                let mut ours =
                    jsonschema::options_for::<Borrowed>().should_validate_formats(formats);
                if let Some(draft) = draft {
                    theirs = theirs.with_draft(draft);
                    ours = ours.with_draft(draft);
                }
                let (theirs, ours) = (theirs.build(&schema).unwrap(), ours.build(&schema).unwrap());
                let list = |errors: jsonschema::ErrorIterator<'_>| {
                    errors
                        .map(|e| (e.instance_path().as_str().to_owned(), e.to_string()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    ours.is_valid(&doc),
                    theirs.is_valid(&value),
                    "{schema} on {value}"
                );
                assert_eq!(
                    list(ours.iter_errors(&doc)),
                    list(theirs.iter_errors(&value)),
                    "{schema} on {value}"
                );
            }
        }
    }

    #[test]
    fn validation_agrees_with_jsonschema_on_values() {
        for text in [
            r#"{"title": "Validating request bodies", "body": "Lorem ipsum"}"#,
            r#"{"title": "", "body": 7, "extra": true}"#,
            r#"{"title": "x\u00e9\ud83d\ude00", "body": "a\"b"}"#,
            r#"{"body": "no title"}"#,
            "[1, 2, 2]",
            "[3, 6, 9, 12]",
            "[1.0, 1]",
            r#"[1, "a", null]"#,
            r#"[{"id": 1}, {"id": 2}, {"x": 1}]"#,
            "0",
            "-3",
            "6",
            "3.0",
            "0.07",
            "1e400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1",
            "null",
            r#""ab-cd""#,
            r#""Ab""#,
            r#""someone@example.com""#,
            r#""not an email""#,
            r#"{"x-a": "s", "a": true, "b": false}"#,
            r#"{"x-a": 1, "a": true, "UPPER": 1, "longer-than-8": true}"#,
            r#"{"value": 1, "next": {"value": 2, "next": {"value": "3"}}}"#,
            r#"{"kind": "a"}"#,
            r#"{"kind": "b", "a": 1}"#,
            r#"{"n": 1, "m": 2}"#,
            r#"{"a": 1, "b": [1.0, {"c": null}]}"#,
            r#"{"b": [1, {"c": null}], "a": "é"}"#,
            r#"[[1, 2], {"a": 1.0}]"#,
            r#"[1, "s", 2]"#,
            r#"[1, "s"]"#,
            r#"{"kids": [{"kids": []}, {"kids": [1]}], "a": 1}"#,
            r#"{"a": 1}"#,
            r#"{"kind": "x", "n": 0, "m": 2}"#,
            r#"{"n": 1, "m": "s", "id": 3}"#,
            r#"[{"a": 1, "b": 2}, {"b": 2, "a": 1}]"#,
            "[]",
            "{}",
            // Characters, not bytes: lengths near the limits in two-byte and four-byte
            // characters.
            r#""ééé""#,
            r#""éééééé""#,
            r#""a😀""#,
            r#""😀😀😀😀😀😀""#,
        ] {
            agree(text.as_bytes());
        }
        // Objects past `SCAN` members: names found by binary search.
        for extra in [
            r#""title": "t""#,
            r#""title": 1, "body": "b""#,
            r#""a": 1, "x-y": "s""#,
        ] {
            let members: Vec<String> = (0..40).map(|i| format!(r#""m{i:02}": {i}"#)).collect();
            agree(format!("{{{}, {extra}}}", members.join(", ")).as_bytes());
        }
        for n in [100, 199, 200, 201] {
            agree(format!(r#"{{"title": "{}"}}"#, "é".repeat(n)).as_bytes());
            agree(format!(r#"{{"title": "{}"}}"#, "😀".repeat(n)).as_bytes());
        }
        let valid = suite_files().into_iter().filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("y_"))
        });
        for path in valid {
            agree(&std::fs::read(&path).unwrap());
        }
    }

    /// Any JSON value, up to a few levels deep, with names and strings the schemas look at.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            (0u32..40).prop_map(|n| Value::from(f64::from(n) * 0.01)),
            "[a-z-]{0,6}|x-[a-z]{1,3}|[A-Z]{1,2}|é{0,3}|".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    "title|body|kind|a|b|n|id|value|next|x-[a-z]|[a-z]{1,9}",
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn validation_agrees_on_any_document(value in json_value()) {
            agree(serde_json::to_string(&value).unwrap().as_bytes());
        }
    }
}
