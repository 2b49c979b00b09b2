//! Just enough DER to read what a client certificate says about its holder: the subject
//! alternative names (URI, DNS), the subject's common name and the validity dates.
//!
//! The chain is verified by rustls before a certificate gets here; this reads an already
//! trusted certificate, so it parses only the fields it needs and skips the rest. It never
//! panics and never allocates more than the certificate's size: any input that is not the
//! expected shape is [`Malformed`].

/// What a certificate says about its holder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The `uniformResourceIdentifier` subject alternative names, in the certificate's order.
    pub(crate) uris: Vec<String>,
    /// The `dNSName` subject alternative names, in lower case.
    pub(crate) dns_names: Vec<String>,
    /// The subject's common name, when it has exactly one.
    pub(crate) common_name: Option<String>,
    /// `notBefore` and `notAfter` in seconds since the Unix epoch, when known (a certificate
    /// has them; a proxy's `X-Forwarded-Client-Cert` without the certificate does not).
    pub(crate) validity: Option<(i64, i64)>,
}

impl Identity {
    /// Whether the certificate names its holder in a subject alternative name: then the
    /// common name is not looked at (RFC 6125 section 6.4.4).
    pub(crate) fn has_san(&self) -> bool {
        !self.uris.is_empty() || !self.dns_names.is_empty()
    }
}

/// The input is not a certificate of the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

type Result<T> = std::result::Result<T, Malformed>;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[3] EXPLICIT` in `TBSCertificate`: the extensions.
const EXTENSIONS: u8 = 0xa3;
/// `[0] EXPLICIT` in `TBSCertificate`: the version.
const VERSION: u8 = 0xa0;
/// `[2] IMPLICIT IA5String` in `GeneralName`.
const DNS_NAME: u8 = 0x82;
/// `[6] IMPLICIT IA5String` in `GeneralName`.
const URI: u8 = 0x86;

/// `id-ce-subjectAltName`, 2.5.29.17.
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// `id-at-commonName`, 2.5.4.3.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// A cursor over DER elements.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element: its tag and its contents.
    fn read(&mut self) -> Result<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first().ok_or(Malformed)?;
        // Only low tag numbers occur in certificates.
        if tag & 0x1f == 0x1f {
            return Err(Malformed);
        }
        let (&first, mut rest) = rest.split_first().ok_or(Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form, at most 4 bytes of length; 0x80 (indefinite) is not DER.
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(Malformed);
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return Err(Malformed);
        }
        let (contents, after) = rest.split_at(len);
        self.0 = after;
        Ok((tag, contents))
    }

    /// The contents of the next element, which must have tag `tag`.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8]> {
        match self.read()? {
            (t, contents) if t == tag => Ok(contents),
            _ => Err(Malformed),
        }
    }
}

/// Reads the identity of a DER-encoded X.509 certificate.
pub(crate) fn parse(der: &[u8]) -> Result<Identity> {
    let mut outer = Der(der);
    let certificate = outer.expect(SEQUENCE)?;
    if !outer.is_empty() {
        return Err(Malformed);
    }
    let mut certificate = Der(certificate);
    let mut tbs = Der(certificate.expect(SEQUENCE)?);
    if tbs.peek() == Some(VERSION) {
        tbs.read()?;
    }
    tbs.expect(0x02)?; // serialNumber
    tbs.expect(SEQUENCE)?; // signature
    tbs.expect(SEQUENCE)?; // issuer
    let mut validity = Der(tbs.expect(SEQUENCE)?);
    let not_before = time(validity.read()?)?;
    let not_after = time(validity.read()?)?;
    if !validity.is_empty() {
        return Err(Malformed);
    }
    let subject = tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    let mut identity = Identity {
        common_name: common_name(subject)?,
        validity: Some((not_before, not_after)),
        ..Identity::default()
    };
    while let Some(tag) = tbs.peek() {
        let (_, contents) = tbs.read()?;
        if tag == EXTENSIONS {
            let mut wrapper = Der(contents);
            extensions(wrapper.expect(SEQUENCE)?, &mut identity)?;
            if !wrapper.is_empty() {
                return Err(Malformed);
            }
        }
        // issuerUniqueID [1] and subjectUniqueID [2] are skipped.
    }
    Ok(identity)
}

/// The subject's common name when it has exactly one in a string type that reads as text.
fn common_name(name: &[u8]) -> Result<Option<String>> {
    let mut found = None;
    let mut count = 0;
    let mut rdns = Der(name);
    while !rdns.is_empty() {
        let mut set = Der(rdns.expect(SET)?);
        while !set.is_empty() {
            let mut attribute = Der(set.expect(SEQUENCE)?);
            let oid = attribute.expect(OID)?;
            let (tag, value) = attribute.read()?;
            if oid == OID_CN {
                count += 1;
                found = directory_string(tag, value);
            }
        }
    }
    Ok(if count == 1 { found } else { None })
}

/// A `DirectoryString` (UTF8String, PrintableString, IA5String, BMPString) as text, or `None`
/// for the other types.
fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => std::str::from_utf8(value).ok().map(str::to_owned),
        // BMPString: UCS-2, big-endian
        0x1e if value.len().is_multiple_of(2) => {
            let units = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<std::result::Result<_, _>>()
                .ok()
        }
        _ => None,
    }
}

/// Reads the subject alternative names from the `Extensions` sequence.
fn extensions(contents: &[u8], identity: &mut Identity) -> Result<()> {
    let mut seen_san = false;
    let mut list = Der(contents);
    while !list.is_empty() {
        let mut extension = Der(list.expect(SEQUENCE)?);
        let oid = extension.expect(OID)?;
        if extension.peek() == Some(BOOLEAN) {
            extension.read()?;
        }
        let value = extension.expect(OCTET_STRING)?;
        if oid != OID_SAN {
            continue;
        }
        // An extension appears at most once (RFC 5280 section 4.2).
        if seen_san {
            return Err(Malformed);
        }
        seen_san = true;
        let mut outer = Der(value);
        let mut names = Der(outer.expect(SEQUENCE)?);
        if !outer.is_empty() {
            return Err(Malformed);
        }
        while !names.is_empty() {
            let (tag, name) = names.read()?;
            match tag {
                URI => identity.uris.push(ia5(name)?.to_owned()),
                DNS_NAME => identity.dns_names.push(ia5(name)?.to_ascii_lowercase()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// An IA5String of visible characters (a URI or a DNS name has no space or control
/// character).
fn ia5(bytes: &[u8]) -> Result<&str> {
    if bytes.is_empty() || !bytes.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(Malformed);
    }
    std::str::from_utf8(bytes).map_err(|_| Malformed)
}

/// A `Time` (UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, as RFC 5280
/// section 4.1.2.5 requires them) in seconds since the Unix epoch.
fn time((tag, value): (u8, &[u8])) -> Result<i64> {
    let digits = |s: &[u8]| -> Result<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            if b.is_ascii_digit() {
                Ok(acc * 10 + i64::from(b - b'0'))
            } else {
                Err(Malformed)
            }
        })
    };
    let (year, rest) = match (tag, value.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&value[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &value[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&value[..4])?, &value[4..]),
        _ => return Err(Malformed),
    };
    if rest[10] != b'Z' {
        return Err(Malformed);
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(Malformed);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
