//! The part of [RFC 8941 structured fields](https://www.rfc-editor.org/rfc/rfc8941) that
//! `Signature-Input` and `Signature` use: dictionaries of inner lists and byte sequences, with
//! parameters; parsing (bounded) and the serialization the signature base needs.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// The most members, items in an inner list, and parameters accepted (each).
const MAX_MEMBERS: usize = 32;

/// The largest integer magnitude (RFC 8941 §3.3.1: at most 15 digits).
const MAX_INTEGER: i64 = 999_999_999_999_999;

/// Byte sequences as RFC 8941 §4.2.7 decodes them: the standard alphabet, where parsers
/// "SHOULD NOT fail" on missing `=` padding or on non-zero pad bits. Padding is still only
/// allowed at the end, and `-`/`_` (base64url) are refused. Serialization stays [`STANDARD`]
/// (padded, zero pad bits).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A bare item.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item {
    Integer(i64),
    Decimal(f64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

/// Parameters, in order.
pub(crate) type Params = Vec<(String, Item)>;

/// A dictionary's members, by key, in order.
pub(crate) type Dictionary = Vec<(String, Member)>;

/// A dictionary member's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Member {
    Item(Item, Params),
    InnerList(Vec<(Item, Params)>, Params),
}

/// Parses a dictionary (RFC 8941 §4.2.2). Bounded: at most [`MAX_MEMBERS`] members, items per
/// inner list and parameters each; the input itself is bounded by the header's length.
///
/// A key seen again keeps its first place and takes the later value (§4.2.2: "overwrite").
pub(crate) fn parse_dictionary(text: &str) -> Result<Vec<(String, Member)>, &'static str> {
    parse_dictionary_counted(text).map(|(members, _)| members)
}

/// [`parse_dictionary`], and whether a key came more than once (its earlier values lost).
pub(crate) fn parse_dictionary_counted(text: &str) -> Result<(Dictionary, bool), &'static str> {
    let mut out: Vec<(String, Member)> = Vec::new();
    let mut repeated = false;
    comma_separated(text, |p| {
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item::Boolean(true), p.params()?)
        };
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = member;
            repeated = true;
        } else if out.len() >= MAX_MEMBERS {
            return Err("too many members");
        } else {
            out.push((key, member));
        }
        Ok(())
    })?;
    Ok((out, repeated))
}

/// Parses a list (RFC 8941 §4.2.1), with the same bounds as [`parse_dictionary`].
pub(crate) fn parse_list(text: &str) -> Result<Vec<Member>, &'static str> {
    let mut out = Vec::new();
    comma_separated(text, |p| {
        if out.len() >= MAX_MEMBERS {
            return Err("too many members");
        }
        out.push(p.member()?);
        Ok(())
    })?;
    Ok(out)
}

/// The top level of a list or dictionary (RFC 8941 §4.2, §4.2.1, §4.2.2): leading SP, then
/// members separated by commas with optional whitespace around them, no trailing comma. An
/// empty (or all-SP) field is an empty list or dictionary.
fn comma_separated(
    text: &str,
    mut member: impl FnMut(&mut Parser<'_>) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    while !p.done() {
        member(&mut p)?;
        p.skip_ows();
        if p.done() {
            break;
        }
        if !p.eat(b',') {
            return Err("expected a comma");
        }
        p.skip_ows();
        if p.done() {
            return Err("trailing comma");
        }
    }
    Ok(())
}

/// Parses an item with its parameters (RFC 8941 §4.2.3), e.g. a component identifier:
/// `"name";key="a"`. Spaces (SP only) may surround it.
pub(crate) fn parse_item(text: &str) -> Result<(Item, Params), &'static str> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let item = p.bare_item()?;
    let params = p.params()?;
    p.skip_sp();
    if !p.done() {
        return Err("trailing characters");
    }
    Ok((item, params))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn key(&mut self) -> Result<String, &'static str> {
        let start = self.i;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.i += 1,
            _ => return Err("expected a key"),
        }
        while self.peek().is_some_and(is_key_char) {
            self.i += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn member(&mut self) -> Result<Member, &'static str> {
        if self.eat(b'(') {
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                if self.eat(b')') {
                    break;
                }
                if items.len() >= MAX_MEMBERS {
                    return Err("too many items");
                }
                let item = self.bare_item()?;
                let params = self.params()?;
                items.push((item, params));
                match self.peek() {
                    Some(b' ' | b')') => {}
                    _ => return Err("expected a space or )"),
                }
            }
            Ok(Member::InnerList(items, self.params()?))
        } else {
            let item = self.bare_item()?;
            Ok(Member::Item(item, self.params()?))
        }
    }

    fn params(&mut self) -> Result<Params, &'static str> {
        let mut out: Params = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                Item::Boolean(true)
            };
            // A repeated key keeps its first place and takes the later value (§4.2.3.2).
            if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else if out.len() >= MAX_MEMBERS {
                return Err("too many parameters");
            } else {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    fn bare_item(&mut self) -> Result<Item, &'static str> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => {
                self.i += 1;
                match self.peek() {
                    Some(b'0') => {
                        self.i += 1;
                        Ok(Item::Boolean(false))
                    }
                    Some(b'1') => {
                        self.i += 1;
                        Ok(Item::Boolean(true))
                    }
                    _ => Err("invalid boolean"),
                }
            }
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| is_tchar(c) || c == b':' || c == b'/')
                {
                    self.i += 1;
                }
                Ok(Item::Token(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => Err("expected an item"),
        }
    }

    fn number(&mut self) -> Result<Item, &'static str> {
        let start = self.i;
        self.eat(b'-');
        let mut digits = 0;
        let mut dot = None;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => digits += 1,
                b'.' if dot.is_none() => dot = Some(digits),
                _ => break,
            }
            self.i += 1;
            if digits > 15 {
                return Err("number too long");
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid number")?;
        match dot {
            None if digits > 0 => text
                .parse()
                .map(Item::Integer)
                .map_err(|_| "invalid integer"),
            Some(int) if int > 0 && int <= 12 && digits > int && digits - int <= 3 => text
                .parse()
                .map(Item::Decimal)
                .map_err(|_| "invalid decimal"),
            _ => Err("invalid number"),
        }
    }

    fn string(&mut self) -> Result<Item, &'static str> {
        self.i += 1; // "
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Item::String(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(char::from(c)),
                        _ => return Err("invalid escape"),
                    }
                }
                Some(c @ 0x20..=0x7e) => out.push(char::from(c)),
                Some(_) => return Err("invalid string character"),
            }
            self.i += 1;
        }
    }

    fn bytes(&mut self) -> Result<Item, &'static str> {
        self.i += 1; // :
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+/=".contains(&c)) {
            self.i += 1;
        }
        let b64 = &self.s[start..self.i];
        if !self.eat(b':') {
            // RFC 9651 section 4.2.7: no closing `:` at all fails first; a closing one after a
            // character outside base64 is a byte sequence that is not base64.
            return Err(if self.s[self.i..].contains(&b':') {
                "byte sequence is not base64"
            } else {
                "unterminated byte sequence"
            });
        }
        LENIENT
            .decode(b64)
            .map(Item::Bytes)
            .map_err(|_| "invalid base64")
    }
}

/// Serializes a bare item (RFC 8941 §4.1.3). Infallible: an item [`check_item`] refuses is
/// written as best it can be, and is not a valid structured field.
pub(crate) fn write_item(out: &mut String, item: &Item) {
    match item {
        Item::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Item::Decimal(d) => write_decimal(out, *d),
        Item::String(s) => {
            out.push('"');
            for c in s.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Item::Token(t) => out.push_str(t),
        Item::Bytes(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        Item::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}

/// A decimal rounded to three fractional digits as RFC 8941 §4.1.5 asks (to the nearest,
/// ties to even), on the shortest decimal text that reads back as `d` (so `0.0025`, which no
/// `f64` holds exactly, is a tie and gives `0.002`): sign, integer part and thousandths.
/// `None` when `d` is not finite or its integer part has more than 15 digits.
fn round_decimal(d: f64) -> Option<(bool, u64, u16)> {
    if !d.is_finite() {
        return None;
    }
    // `Display` of an `f64` is the shortest round-tripping text, never in exponent form.
    let text = format!("{}", d.abs());
    let (int_text, frac_text) = text.split_once('.').unwrap_or((&text, ""));
    if int_text.len() > 15 || !int_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut int: u64 = int_text.parse().ok()?;
    let frac = frac_text.as_bytes();
    let digit = |i: usize| frac.get(i).map_or(0, |b| u16::from(b.wrapping_sub(b'0')));
    let mut thousandths = digit(0) * 100 + digit(1) * 10 + digit(2);
    let rest = frac.get(3..).unwrap_or_default();
    let round_up = match rest.split_first() {
        None => false,
        Some((first, tail)) => match first.cmp(&b'5') {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => tail.iter().any(|&b| b != b'0') || thousandths % 2 == 1,
        },
    };
    if round_up {
        thousandths += 1;
        if thousandths == 1000 {
            thousandths = 0;
            int += 1;
        }
    }
    // §4.1.5: "If input_decimal is less than zero, append '-'" (so not for `-0.0`).
    Some((d < 0.0, int, thousandths))
}

fn write_decimal(out: &mut String, d: f64) {
    let Some((negative, int, thousandths)) = round_decimal(d) else {
        // Not serializable (`check_item` says so); some text all the same.
        let _ = write!(out, "{d}");
        return;
    };
    if negative {
        out.push('-');
    }
    let _ = write!(out, "{int}.{}", thousandths / 100);
    let (tens, ones) = (thousandths / 10 % 10, thousandths % 10);
    if tens > 0 || ones > 0 {
        let _ = write!(out, "{tens}");
    }
    if ones > 0 {
        let _ = write!(out, "{ones}");
    }
}

/// Whether [`write_item`] gives a valid bare item (RFC 8941 §4.1.3): integers of at most 15
/// digits, decimals whose integer part (once rounded) has at most 12, strings of printable
/// ASCII, tokens per §3.3.4. Values built from the parser always pass; values built from
/// configuration (a key id, a tag) should be checked before they are signed.
pub(crate) fn check_item(item: &Item) -> Result<(), &'static str> {
    match item {
        Item::Integer(n) if !(-MAX_INTEGER..=MAX_INTEGER).contains(n) => Err("integer too large"),
        Item::Decimal(d) => match round_decimal(*d) {
            Some((_, int, _)) if int < 1_000_000_000_000 => Ok(()),
            _ => Err("decimal too large"),
        },
        Item::String(s) if !s.bytes().all(|b| matches!(b, 0x20..=0x7e)) => {
            Err("string not printable ASCII")
        }
        Item::Token(t) => match t.as_bytes().split_first() {
            Some((first, rest))
                if (first.is_ascii_alphabetic() || *first == b'*')
                    && rest.iter().all(|&c| is_tchar(c) || c == b':' || c == b'/') =>
            {
                Ok(())
            }
            _ => Err("invalid token"),
        },
        _ => Ok(()),
    }
}

/// Whether `key` is a valid dictionary or parameter key (RFC 8941 §3.1.2).
pub(crate) fn check_key(key: &str) -> Result<(), &'static str> {
    match key.as_bytes().split_first() {
        Some((first, rest))
            if matches!(first, b'a'..=b'z' | b'*') && rest.iter().copied().all(is_key_char) =>
        {
            Ok(())
        }
        _ => Err("invalid key"),
    }
}

/// [`check_key`] and [`check_item`] on each parameter.
#[cfg(test)]
pub(crate) fn check_params(params: &Params) -> Result<(), &'static str> {
    params.iter().try_for_each(|(k, v)| {
        check_key(k)?;
        check_item(v)
    })
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_key_char(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
}

/// Serializes parameters.
pub(crate) fn write_params(out: &mut String, params: &Params) {
    for (k, v) in params {
        out.push(';');
        out.push_str(k);
        if *v != Item::Boolean(true) {
            out.push('=');
            write_item(out, v);
        }
    }
}

/// Serializes an inner list with its parameters.
pub(crate) fn write_inner_list(out: &mut String, items: &[(Item, Params)], params: &Params) {
    out.push('(');
    for (i, (item, p)) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_item(out, item);
        write_params(out, p);
    }
    out.push(')');
    write_params(out, params);
}

#[cfg(test)]
mod tests;
