//! Hosts as the [WHATWG URL Standard](https://url.spec.whatwg.org/#host-parsing) serializes
//! them, which is what a browser puts in `Origin`: IPv4 in dotted decimal, IPv6 compressed in
//! lowercase hex, domains in lowercase ASCII whose `xn--` labels are valid punycode.
//!
//! Only what the allow-list needs: the "ends in a number" checker and the IPv4 parser (so that
//! `foo.bar.255` and `0x7f.1` are recognized), the IPv6 serializer (std's `Display` writes
//! `::ffff:127.127.127.127` where a browser writes `::ffff:7f7f:7f7f`), and an RFC 3492 punycode
//! decoder for checking `xn--` labels.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The WHATWG [ends in a number checker](https://url.spec.whatwg.org/#ends-in-a-number-checker):
/// a host whose last label (a trailing dot aside) is all digits or parses as an IPv4 number
/// (`0x1f`, `0x`) is parsed as an IPv4 address by browsers, and refused if it is not one.
pub(super) fn ends_in_a_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or(host);
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) || ipv4_number(last).is_some()
}

/// The WHATWG [IPv4 number parser](https://url.spec.whatwg.org/#ipv4-number-parser): decimal,
/// `0x` hexadecimal or `0` octal; a value past `u64` saturates (it is no address either way).
fn ipv4_number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() >= 2 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    digits.chars().try_fold(0_u64, |value, c| {
        let digit = c.to_digit(radix)?;
        Some(
            value
                .saturating_mul(u64::from(radix))
                .saturating_add(u64::from(digit)),
        )
    })
}

/// The WHATWG [IPv4 parser](https://url.spec.whatwg.org/#concept-ipv4-parser): `127.1`,
/// `0x7f.1`, `2130706433` and `127.0.0.1` are all `127.0.0.1`; `None` when a browser refuses the
/// host (`foo.bar.255`, `1.2.3.256`, five parts).
pub(super) fn parse_ipv4(host: &str) -> Option<Ipv4Addr> {
    let host = match host.strip_suffix('.') {
        Some(rest) if !rest.is_empty() => rest,
        _ => host,
    };
    let mut numbers = [0_u64; 4];
    let mut count = 0;
    for part in host.split('.') {
        *numbers.get_mut(count)? = ipv4_number(part)?;
        count += 1;
    }
    let (last, init) = numbers[..count].split_last()?;
    if init.iter().any(|&n| n > 255) || *last >= 256_u64.pow(5 - count as u32) {
        return None;
    }
    let mut address = *last;
    for (i, n) in init.iter().enumerate() {
        address += n << (8 * (3 - i));
    }
    u32::try_from(address).ok().map(Ipv4Addr::from)
}

/// The WHATWG [IPv6 serializer](https://url.spec.whatwg.org/#concept-ipv6-serializer), brackets
/// included: lowercase hex pieces without leading zeros, the first longest run of two or more
/// zero pieces compressed to `::`, never an embedded dotted IPv4 address.
pub(super) fn serialize_ipv6(address: Ipv6Addr) -> String {
    let pieces = address.segments();
    let (mut compress, mut longest) = (None, 1);
    let mut i = 0;
    while i < pieces.len() {
        let start = i;
        while i < pieces.len() && pieces[i] == 0 {
            i += 1;
        }
        if i - start > longest {
            (compress, longest) = (Some(start), i - start);
        }
        i += 1;
    }
    let mut out = String::with_capacity(41);
    out.push('[');
    let mut i = 0;
    while i < pieces.len() {
        if compress == Some(i) {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += longest;
            continue;
        }
        let _ = write!(out, "{:x}", pieces[i]);
        if i != pieces.len() - 1 {
            out.push(':');
        }
        i += 1;
    }
    out.push(']');
    out
}

/// Decodes the part of an `xn--` label after its prefix ([RFC 3492](https://www.rfc-editor.org/rfc/rfc3492#section-6.2));
/// `None` if it is not valid punycode. The digits are case-insensitive.
pub(super) fn punycode_decode(input: &str) -> Option<Vec<char>> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    if !input.is_ascii() {
        return None;
    }
    // The basic code points are those before the last delimiter, if any precede it.
    let (basic, deltas) = match input.rfind('-') {
        Some(end) if end > 0 => (&input[..end], &input[end + 1..]),
        _ => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (128_u32, 0_u32, 72_u32);
    let mut digits = deltas.bytes().peekable();
    while digits.peek().is_some() {
        let old_i = i;
        let mut weight = 1_u32;
        let mut k = BASE;
        loop {
            let digit = match digits.next()? {
                b @ b'a'..=b'z' => u32::from(b - b'a'),
                b @ b'A'..=b'Z' => u32::from(b - b'A'),
                b @ b'0'..=b'9' => u32::from(b - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(digit.checked_mul(weight)?)?;
            let t = if k <= bias {
                T_MIN
            } else {
                (k - bias).min(T_MAX)
            };
            if digit < t {
                break;
            }
            weight = weight.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = u32::try_from(output.len()).ok()? + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        // Also refuses surrogates and values past U+10FFFF.
        output.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(output)
}

/// RFC 3492's bias adaptation.
fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + 38)
}

/// Checks an `xn--` label of a lowercase ASCII host (other labels pass): its punycode must
/// decode, to a label UTS 46 would accept. The error is the reason.
///
/// UTS 46 validity in full needs Unicode tables this crate does not carry (NFC, the IDNA mapping
/// table, the bidi and joiner rules); this refuses what can be told without them: labels that do
/// not decode, that decode to ASCII only (UTS 46 since Unicode 15.1), or that hold a code point
/// UTS 46 maps or disallows and std can recognize (uppercase, controls, spaces, ASCII other than
/// `a-z`, `0-9`, `-`, `_`, private use, noncharacters, invisible formatting, the main blocks of
/// compatibility characters, a leading combining mark).
pub(super) fn check_label(label: &str) -> Result<(), &'static str> {
    let Some(encoded) = label.strip_prefix("xn--") else {
        return Ok(());
    };
    let decoded = punycode_decode(encoded).ok_or("it is not valid punycode (RFC 3492)")?;
    if decoded.iter().all(char::is_ascii) {
        return Err("it decodes to nothing or to ASCII only, which is written without `xn--`");
    }
    if decoded.starts_with(&['x', 'n', '-', '-']) {
        return Err("it decodes to a label that starts with `xn--` again");
    }
    if decoded.first().copied().is_some_and(combining_mark) {
        return Err("it decodes to a label that starts with a combining mark");
    }
    if !decoded.iter().all(|&c| idna_valid(c)) {
        return Err(
            "it decodes to a character IDNA does not allow in a host name (an uppercase letter, \
             a space, a control or formatting character, ASCII punctuation, a compatibility form \
             such as a superscript, a fraction or a fullwidth letter, a private-use code point)",
        );
    }
    Ok(())
}

/// Whether `c` may stand in a decoded IDNA label, as far as std's Unicode data tells.
fn idna_valid(c: char) -> bool {
    if c.is_ascii() {
        // `_` too: WHATWG runs UTS 46 without the STD3 rules, as it allows `_` in hosts.
        return c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    }
    let cp = u32::from(c);
    let invisible = matches!(
        cp,
        0xAD | 0x034F | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
            | 0xFE00..=0xFE0F | 0xFEFF | 0xE0000..=0xE0FFF
    );
    let private_use = matches!(cp, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    let noncharacter = matches!(cp, 0xFDD0..=0xFDEF) || cp & 0xFFFE == 0xFFFE;
    // Compatibility characters UTS 46 maps (to ASCII, to `.`, to their decomposition) or
    // disallows, in the blocks where they gather (the ranges from its table, Unicode 15.1): the
    // Latin-1 ordinals, superscripts, fractions and spacing accents, Latin ligatures and
    // digraphs, Devanagari nukta letters, Thai and Lao `am`, super- and subscripts, letterlike
    // symbols, number forms, enclosed alphanumerics and CJK, presentation forms, the ideographic
    // full stop, fullwidth and halfwidth forms.
    let mapped_forms = matches!(
        cp,
        0xA8 | 0xAA | 0xAF | 0xB2..=0xB5 | 0xB8..=0xBA | 0xBC..=0xBE
            | 0x0133 | 0x0140 | 0x0149 | 0x017F | 0x01C4..=0x01CC | 0x01F1..=0x01F3
            | 0x0958..=0x095F | 0x0E33 | 0x0EB3
            | 0x2070..=0x209F
            | 0x2100..=0x2103 | 0x2105..=0x2107 | 0x2109..=0x2113 | 0x2115..=0x2116
            | 0x2119..=0x211D | 0x2120..=0x2122 | 0x2124 | 0x2126 | 0x2128 | 0x212A..=0x212D
            | 0x212F..=0x2139 | 0x213B..=0x2140 | 0x2145..=0x2149 | 0x2150..=0x217F | 0x2183
            | 0x2189 | 0x218C..=0x218F
            | 0x2460..=0x24EA
            | 0x3002 | 0x3200..=0x3247 | 0x3250..=0x327E | 0x3280..=0x33FF
            | 0xFB00..=0xFB1D | 0xFB1F..=0xFBB1 | 0xFBD3..=0xFD3D | 0xFD50..=0xFD8F
            | 0xFD92..=0xFDC7 | 0xFDF0..=0xFDFC
            | 0xFE10..=0xFE1F | 0xFE30..=0xFE44 | 0xFE47..=0xFE72 | 0xFE74..=0xFEFE
            | 0xFF00..=0xFFEF
    );
    // Cherokee is the one script whose case folding goes to the capitals (Unicode 8): UTS 46
    // keeps the capitals U+13A0..U+13F5 and maps the small letters to them.
    let cherokee_capital = matches!(cp, 0x13A0..=0x13F5);
    let cherokee_small = matches!(cp, 0x13F8..=0x13FD | 0xAB70..=0xABBF);
    !(c.is_control()
        || c.is_whitespace()
        || (!cherokee_capital && !c.to_lowercase().eq(std::iter::once(c)))
        || cherokee_small
        || invisible
        || private_use
        || noncharacter
        || mapped_forms)
}

/// The main blocks of combining marks (a label must not start with one).
fn combining_mark(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0300..=0x036F
            | 0x0483..=0x0489
            | 0x0591..=0x05BD
            | 0x0610..=0x061A
            | 0x064B..=0x065F
            | 0x0670
            | 0x06D6..=0x06DC
            | 0x0900..=0x0903
            | 0x093A..=0x093C
            | 0x093E..=0x094F
            | 0x0951..=0x0957
            | 0x0962..=0x0963
            | 0x0E31
            | 0x0E34..=0x0E3A
            | 0x0E47..=0x0E4E
            | 0x0EB1
            | 0x0EB4..=0x0EBC
            | 0x0EC8..=0x0ECE
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x20D0..=0x20FF
            | 0x302A..=0x302F
            | 0x3099..=0x309A
            | 0xFE20..=0xFE2F
    )
}
