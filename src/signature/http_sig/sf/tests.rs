//! The httpwg structured-field-tests suite (<https://github.com/httpwg/structured-field-tests>),
//! the tables every structured-field implementation runs, through this parser and serializer.
//! The suite's files are vendored under `tests/data/sf/` (its README says from which commit).
//!
//! Every case either passes or is skipped for a [`Skip`] reason, and a skipped case is still
//! checked for what this parser does instead (it refuses it). Each file's test pins how many
//! cases it skips, so a regression cannot hide as a new skip. Run with `--nocapture` for the
//! per-file counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{
    Item, MAX_MEMBERS, Member, Params, check_item, check_key, check_params, parse_dictionary,
    parse_item, parse_list, write_inner_list, write_item, write_params,
};

macro_rules! suite_file {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sf/",
            $name
        ))
    };
}

/// Why a case is not compared with the suite's expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Skip {
    /// A Date (`@…`) or Display String (`%"…"`): RFC 9651 added them, RFC 9421 references RFC
    /// 8941, which has neither. The parser must refuse such a field.
    Rfc9651OnlyType,
    /// More than [`MAX_MEMBERS`] members, inner-list items or parameters (the suite's
    /// `large-generated` cases have 1024): refused by design, to bound the work a header can
    /// cause. The parser must refuse such a field.
    ExceedsMaxMembers,
}

/// A parsed field of any of the three top-level types.
#[derive(Clone, Debug, PartialEq)]
enum Field {
    Dictionary(Vec<(String, Member)>),
    List(Vec<Member>),
    Item(Item, Params),
}

#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    /// `can_fail` cases this parser fails (allowed by the suite).
    allowed_failures: Vec<String>,
    skipped: BTreeMap<Skip, usize>,
    failures: Vec<String>,
}

// ---- The suite's JSON representation ------------------------------------------------------

/// RFC 4648 §6 base32 (the suite's encoding of byte sequences), padded with `=`.
fn base32(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text:?}"),
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits).unwrap());
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn bare_item(v: &Value) -> Result<Item, Skip> {
    Ok(match v {
        Value::Bool(b) => Item::Boolean(*b),
        Value::String(s) => Item::String(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Item::Integer(i),
            None => Item::Decimal(n.as_f64().unwrap()),
        },
        Value::Object(o) => {
            let value = &o["value"];
            match o["__type"].as_str().unwrap() {
                "token" => Item::Token(value.as_str().unwrap().to_owned()),
                "binary" => Item::Bytes(base32(value.as_str().unwrap())),
                "date" | "displaystring" => return Err(Skip::Rfc9651OnlyType),
                other => panic!("unknown __type {other}"),
            }
        }
        other => panic!("not a bare item: {other}"),
    })
}

fn pair(v: &Value) -> (&Value, &Value) {
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => (a, b),
        _ => panic!("not a pair: {v}"),
    }
}

fn array(v: &Value) -> &[Value] {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

fn params(v: &Value) -> Result<Params, Skip> {
    array(v)
        .iter()
        .map(|p| {
            let (k, v) = pair(p);
            Ok((k.as_str().unwrap().to_owned(), bare_item(v)?))
        })
        .collect()
}

fn item(v: &Value) -> Result<(Item, Params), Skip> {
    let (bare, p) = pair(v);
    Ok((bare_item(bare)?, params(p)?))
}

/// An item, or an inner list (whose first element is the array of its items).
fn member(v: &Value) -> Result<Member, Skip> {
    let (first, p) = pair(v);
    Ok(if first.is_array() {
        let items = array(first).iter().map(item).collect::<Result<_, _>>()?;
        Member::InnerList(items, params(p)?)
    } else {
        Member::Item(bare_item(first)?, params(p)?)
    })
}

fn expected(header_type: &str, v: &Value) -> Result<Field, Skip> {
    Ok(match header_type {
        "dictionary" => Field::Dictionary(
            array(v)
                .iter()
                .map(|m| {
                    let (k, m) = pair(m);
                    Ok((k.as_str().unwrap().to_owned(), member(m)?))
                })
                .collect::<Result<_, _>>()?,
        ),
        "list" => Field::List(array(v).iter().map(member).collect::<Result<_, _>>()?),
        "item" => {
            let (i, p) = item(v)?;
            Field::Item(i, p)
        }
        other => panic!("unknown header_type {other}"),
    })
}

fn exceeds_bounds(field: &Field) -> bool {
    let member = |m: &Member| match m {
        Member::Item(_, p) => p.len() > MAX_MEMBERS,
        Member::InnerList(items, p) => {
            p.len() > MAX_MEMBERS
                || items.len() > MAX_MEMBERS
                || items.iter().any(|(_, p)| p.len() > MAX_MEMBERS)
        }
    };
    match field {
        Field::Dictionary(d) => d.len() > MAX_MEMBERS || d.iter().any(|(_, m)| member(m)),
        Field::List(l) => l.len() > MAX_MEMBERS || l.iter().any(member),
        Field::Item(_, p) => p.len() > MAX_MEMBERS,
    }
}

/// The field lines as one value (RFC 8941 §4.2: combined with ", ").
fn lines(v: &Value) -> String {
    array(v)
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- Parsing and serializing whole fields with the module's functions ----------------------

fn parse(header_type: &str, text: &str) -> Result<Field, &'static str> {
    match header_type {
        "dictionary" => parse_dictionary(text).map(Field::Dictionary),
        "list" => parse_list(text).map(Field::List),
        "item" => parse_item(text).map(|(i, p)| Field::Item(i, p)),
        other => panic!("unknown header_type {other}"),
    }
}

fn check_member(m: &Member) -> Result<(), &'static str> {
    match m {
        Member::Item(i, p) => check_item(i).and_then(|()| check_params(p)),
        Member::InnerList(items, p) => {
            for (i, ip) in items {
                check_item(i)?;
                check_params(ip)?;
            }
            check_params(p)
        }
    }
}

fn write_member(out: &mut String, m: &Member) {
    match m {
        Member::Item(i, p) => {
            write_item(out, i);
            write_params(out, p);
        }
        Member::InnerList(items, p) => write_inner_list(out, items, p),
    }
}

/// RFC 8941 §4.1: the field's serialization, or why it has none. An empty list or dictionary
/// serializes to nothing (the field is left out).
fn serialize(field: &Field) -> Result<String, &'static str> {
    let mut out = String::new();
    match field {
        Field::Dictionary(d) => {
            for (n, (k, m)) in d.iter().enumerate() {
                check_key(k)?;
                check_member(m)?;
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                match m {
                    // §4.1.2: a true boolean member is its key alone.
                    Member::Item(Item::Boolean(true), p) => write_params(&mut out, p),
                    _ => {
                        out.push('=');
                        write_member(&mut out, m);
                    }
                }
            }
        }
        Field::List(l) => {
            for (n, m) in l.iter().enumerate() {
                check_member(m)?;
                if n > 0 {
                    out.push_str(", ");
                }
                write_member(&mut out, m);
            }
        }
        Field::Item(i, p) => {
            check_item(i)?;
            check_params(p)?;
            write_item(&mut out, i);
            write_params(&mut out, p);
        }
    }
    Ok(out)
}

// ---- Running a file ----------------------------------------------------------------------

fn flag(case: &Value, name: &str) -> bool {
    case.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn run_case(case: &Value, tally: &mut Tally) -> Result<(), String> {
    let header_type = case["header_type"].as_str().unwrap();
    let must_fail = flag(case, "must_fail");
    let can_fail = flag(case, "can_fail");
    let Some(raw) = case.get("raw") else {
        // A serialisation test: `expected` serializes to `canonical`, or cannot be serialized.
        let value = match expected(header_type, &case["expected"]) {
            Ok(v) => v,
            Err(skip) => {
                *tally.skipped.entry(skip).or_default() += 1;
                return Ok(());
            }
        };
        return match (serialize(&value), must_fail) {
            (Err(_), true) => Ok(()),
            (Ok(s), true) => Err(format!("serialized to {s:?}, must fail")),
            (Err(e), false) => Err(format!("did not serialize: {e}")),
            (Ok(s), false) if s == lines(&case["canonical"]) => Ok(()),
            (Ok(s), false) => Err(format!("serialized to {s:?}, not {}", case["canonical"])),
        };
    };
    let text = lines(raw);
    let parsed = parse(header_type, &text);
    if must_fail {
        return match parsed {
            Err(_) => Ok(()),
            Ok(v) => Err(format!("parsed {text:?} to {v:?}, must fail")),
        };
    }
    let want = match expected(header_type, &case["expected"]) {
        Ok(want) if !exceeds_bounds(&want) => want,
        skipped => {
            let skip = match skipped {
                Err(skip) => skip,
                Ok(_) => Skip::ExceedsMaxMembers,
            };
            // What this parser does instead: refuse the field.
            if let Ok(v) = parsed {
                return Err(format!("skipped ({skip:?}) but parsed to {v:?}"));
            }
            *tally.skipped.entry(skip).or_default() += 1;
            return Ok(());
        }
    };
    let got = match parsed {
        Ok(got) => got,
        Err(e) if can_fail => {
            tally
                .allowed_failures
                .push(format!("{}: {e}", case["name"]));
            return Ok(());
        }
        Err(e) => return Err(format!("did not parse {text:?}: {e}")),
    };
    if got != want {
        return Err(format!("parsed {text:?} to {got:?}, not {want:?}"));
    }
    let canonical = lines(case.get("canonical").unwrap_or(raw));
    let serialized = serialize(&got).map_err(|e| format!("did not serialize: {e}"))?;
    if serialized != canonical {
        return Err(format!("serialized to {serialized:?}, not {canonical:?}"));
    }
    // And the serialization reads back as the same value.
    match parse(header_type, &serialized) {
        Ok(again) if again == got => Ok(()),
        other => Err(format!("{serialized:?} read back as {other:?}")),
    }
}

/// Runs one file's cases, prints its counts, fails on any case that neither passes nor is
/// allowed to fail, and on a number of skips other than `skips`.
fn run(file: &str, json: &str, skips: usize) {
    let cases: Vec<Value> = serde_json::from_str(json).unwrap();
    let mut tally = Tally::default();
    for case in &cases {
        match run_case(case, &mut tally) {
            Ok(()) => {}
            Err(why) => tally.failures.push(format!("{}: {why}", case["name"])),
        }
    }
    let skipped: usize = tally.skipped.values().sum();
    tally.passed = cases.len() - skipped - tally.allowed_failures.len() - tally.failures.len();
    let mut report = format!(
        "{file}: {} cases, {} passed, {} failed",
        cases.len(),
        tally.passed,
        tally.failures.len()
    );
    if !tally.allowed_failures.is_empty() {
        let _ = write!(
            report,
            ", {} can_fail failed ({})",
            tally.allowed_failures.len(),
            tally.allowed_failures.join("; ")
        );
    }
    for (skip, n) in &tally.skipped {
        let _ = write!(report, ", {n} skipped ({skip:?})");
    }
    println!("{report}");
    assert!(
        tally.failures.is_empty(),
        "{report}\n{}",
        tally.failures.join("\n")
    );
    assert_eq!(skipped, skips, "{report}");
    assert!(tally.passed > 0, "{report}");
}

/// One test per file (named after it, in module `suite`), with the number of cases it skips.
macro_rules! suite {
    ($($test:ident: $file:literal $(skips $skips:literal)?;)*) => {
        mod suite {
            $(
                #[test]
                fn $test() {
                    super::run($file, suite_file!($file), 0 $(+ $skips)?);
                }
            )*
        }
    };
}

suite! {
    binary: "binary.json";
    boolean: "boolean.json";
    // The 10 valid dates, parsed by RFC 9651 only.
    date: "date.json" skips 10;
    dictionary: "dictionary.json";
    // The 7 valid display strings, parsed by RFC 9651 only.
    display_string: "display-string.json" skips 7;
    examples: "examples.json";
    item: "item.json";
    key_generated: "key-generated.json";
    // `large dictionary` (1024 members), `large params` and `large inner list` (256 each). The
    // suite's `large list` and `large parameterised list` (1024 members) are not vendored.
    large_generated: "large-generated.json" skips 3;
    list: "list.json";
    listlist: "listlist.json";
    number_generated: "number-generated.json";
    number: "number.json";
    param_dict: "param-dict.json";
    param_list: "param-list.json";
    param_listlist: "param-listlist.json";
    string_generated: "string-generated.json";
    string: "string.json";
    token_generated: "token-generated.json";
    token: "token.json";
    serialisation_key_generated: "serialisation-tests/key-generated.json";
    serialisation_number: "serialisation-tests/number.json";
    serialisation_string_generated: "serialisation-tests/string-generated.json";
    serialisation_token_generated: "serialisation-tests/token-generated.json";
}

// ---- Beyond the suite: the bounds, and values only configuration can build -----------------

/// The bound counts distinct keys: a repeat past [`MAX_MEMBERS`] overwrites (in the first
/// place), one key more is refused; the same for parameters.
#[test]
fn the_bounds_count_distinct_keys() {
    let mut members: Vec<String> = (0..MAX_MEMBERS).map(|i| format!("k{i}=1")).collect();
    members.push("k0=2".to_owned());
    let dict = parse_dictionary(&members.join(", ")).unwrap();
    assert_eq!(dict.len(), MAX_MEMBERS);
    assert_eq!(dict[0].0, "k0");
    assert_eq!(dict[0].1, Member::Item(Item::Integer(2), Vec::new()));
    members.push(format!("k{MAX_MEMBERS}=1"));
    assert!(parse_dictionary(&members.join(", ")).is_err());

    let mut item: String = "a".to_owned()
        + &(0..MAX_MEMBERS)
            .map(|i| format!(";p{i}"))
            .collect::<String>();
    item.push_str(";p0=2");
    let (_, params) = parse_item(&item).unwrap();
    assert_eq!(params.len(), MAX_MEMBERS);
    assert_eq!(params[0], ("p0".to_owned(), Item::Integer(2)));
    item.push_str(&format!(";p{MAX_MEMBERS}"));
    assert!(parse_item(&item).is_err());
}

/// Decimals the parser never makes: rounding at the edges, and no panic on the ones that
/// have no serialization.
#[test]
fn decimals_round_half_even_and_the_unserializable_are_refused() {
    for (d, text) in [
        (0.0005, "0.0"),
        (0.0015, "0.002"),
        (1.0005, "1.0"),
        (-0.0, "0.0"),
        (-0.0004, "-0.0"),
        (f64::MIN_POSITIVE, "0.0"),
        (2.5, "2.5"),
        (999_999_999_999.999, "999999999999.999"),
    ] {
        assert_eq!(check_item(&Item::Decimal(d)), Ok(()), "{d}");
        let mut out = String::new();
        write_item(&mut out, &Item::Decimal(d));
        assert_eq!(out, text, "{d}");
    }
    for d in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        -1e300,
        1e15,
        999_999_999_999.999_5,
    ] {
        assert!(check_item(&Item::Decimal(d)).is_err(), "{d}");
        write_item(&mut String::new(), &Item::Decimal(d));
    }
    assert!(check_item(&Item::Integer(i64::MIN)).is_err());
    assert!(check_item(&Item::String("caf\u{e9}".to_owned())).is_err());
    assert!(check_key("").is_err());
}
