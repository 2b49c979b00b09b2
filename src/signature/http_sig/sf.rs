//! The part of [RFC 8941 structured fields](https://www.rfc-editor.org/rfc/rfc8941) that
//! `Signature-Input` and `Signature` use: dictionaries of inner lists and byte sequences, with
//! parameters; parsing (bounded) and the serialization the signature base needs.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The most members, items in an inner list, and parameters accepted (each).
const MAX_MEMBERS: usize = 32;

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

/// A dictionary member's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Member {
    Item(Item, Params),
    InnerList(Vec<(Item, Params)>, Params),
}

/// Parses a dictionary (RFC 8941 §4.2.2). Bounded: at most [`MAX_MEMBERS`] members, items per
/// inner list and parameters each; the input itself is bounded by the header's length.
pub(crate) fn parse_dictionary(text: &str) -> Result<Vec<(String, Member)>, &'static str> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let mut out: Vec<(String, Member)> = Vec::new();
    while !p.done() {
        if out.len() >= MAX_MEMBERS {
            return Err("too many members");
        }
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item::Boolean(true), p.params()?)
        };
        // A later duplicate overrides (RFC 8941); keep one.
        out.retain(|(k, _)| *k != key);
        out.push((key, member));
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
    Ok(out)
}

/// Parses one component identifier: `"name"` with parameters.
pub(crate) fn parse_item(text: &str) -> Result<(Item, Params), &'static str> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let item = p.bare_item()?;
    let params = p.params()?;
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
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
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
            if out.len() >= MAX_MEMBERS {
                return Err("too many parameters");
            }
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                Item::Boolean(true)
            };
            out.retain(|(k, _)| *k != key);
            out.push((key, value));
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
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c))
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
            return Err("unterminated byte sequence");
        }
        STANDARD
            .decode(b64)
            .map(Item::Bytes)
            .map_err(|_| "invalid base64")
    }
}

/// Serializes a bare item (RFC 8941 §4.1.3).
pub(crate) fn write_item(out: &mut String, item: &Item) {
    match item {
        Item::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Item::Decimal(d) => {
            let _ = write!(out, "{d:.3}");
            while out.ends_with('0') && !out.ends_with(".0") {
                out.pop();
            }
        }
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
