use std::net::SocketAddr;
use std::time::Duration;

use http::{Extensions, HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType, date_time_ymd};
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::cert::{self, Identity, Malformed};
use super::{ConfigError, Grant, MtlsAuth, PeerCertificates, XfccMode, xfcc};
use crate::auth::{AuthErrorKind, AuthMethod, Outcome, RequestHead, Tier};
use crate::core::ManualClock;
use crate::rate_limit::{ClientIp, PeerAddr};

/// 2024-01-01T00:00:00Z.
const NOW: u64 = 1_704_067_200;

fn certificate(sans: Vec<SanType>, cn: Option<&str>) -> CertificateDer<'static> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.distinguished_name = DistinguishedName::new();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .clone()
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().unwrap())
}

fn auth() -> MtlsAuth {
    MtlsAuth::builder()
        .spiffe(
            "example.org",
            "/ns/prod",
            Grant::new().scopes(["read:invoices"]),
        )
        .spiffe(
            "example.org",
            "/ns/prod/sa/admin",
            Grant::new().roles(["admin"]),
        )
        .uri(
            "spiffe://example.org/ns/prod/sa/partner",
            Grant::new().subject("partner").tier(Tier::PREMIUM),
        )
        .dns(
            "reports.internal.example.com",
            Grant::new().scopes(["read:reports"]),
        )
        .common_name("legacy-batch", Grant::new())
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap()
}

fn run(auth: &MtlsAuth, headers: &HeaderMap, extensions: &Extensions) -> Outcome {
    let (method, uri) = (Method::GET, Uri::from_static("/"));
    auth.outcome(&RequestHead::new(&method, &uri, headers, extensions))
}

fn with_peer(der: CertificateDer<'static>) -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(PeerCertificates::new(vec![der]).unwrap());
    extensions
}

/// `(subject, tier, scopes, roles)` of an authenticated outcome, or the rejection's detail.
fn summary(outcome: Outcome) -> Result<(String, String, String, String), String> {
    match outcome {
        Outcome::Authenticated(p) => {
            assert_eq!(p.method(), AuthMethod::Mtls);
            Ok((
                p.subject().to_owned(),
                p.tier().to_string(),
                p.scopes().to_string(),
                p.roles().to_string(),
            ))
        }
        Outcome::Rejected(e) => Err(e.detail().to_owned()),
        Outcome::Skip => Err("skip".to_owned()),
    }
}

fn ok(
    subject: &str,
    tier: &str,
    scopes: &str,
    roles: &str,
) -> Result<(String, String, String, String), String> {
    Ok((subject.into(), tier.into(), scopes.into(), roles.into()))
}

#[test]
fn parses_names_and_dates() {
    let der = certificate(
        vec![
            uri("spiffe://example.org/a"),
            dns("API.Example.com"),
            uri("https://x.example/"),
        ],
        Some("billing"),
    );
    assert_eq!(
        cert::parse(&der),
        Ok(Identity {
            uris: vec!["spiffe://example.org/a".into(), "https://x.example/".into()],
            dns_names: vec!["api.example.com".into()],
            common_name: Some("billing".into()),
            // rcgen's defaults: 1975-01-01 (a UTCTime), 4096-01-01 (a GeneralizedTime).
            validity: Some((157_766_400, 67_090_118_400)),
        })
    );
}

#[test]
fn dates_of_both_centuries_of_utc_time() {
    let mut params = CertificateParams::default();
    params.not_before = date_time_ymd(2049, 12, 31);
    params.not_after = date_time_ymd(2050, 1, 1);
    let der = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
    let id = cert::parse(der.der()).unwrap();
    assert_eq!(id.validity, Some((2_524_521_600, 2_524_608_000)));
}

#[test]
fn garbage_and_truncations_are_malformed() {
    let der = certificate(vec![uri("spiffe://example.org/a")], Some("x"));
    for len in 0..der.len() {
        assert_eq!(
            cert::parse(&der[..len]),
            Err(Malformed),
            "prefix of {len} bytes"
        );
    }
    let mut trailing = der.to_vec();
    trailing.push(0);
    assert_eq!(cert::parse(&trailing), Err(Malformed));
    assert_eq!(cert::parse(&[0x30, 0x80, 0, 0]), Err(Malformed)); // indefinite length
    assert_eq!(cert::parse(&[0x30, 0x85, 1, 0, 0, 0, 0]), Err(Malformed)); // 5 length bytes
}

proptest! {
    #[test]
    fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = cert::parse(&bytes);
        let _ = xfcc::parse(&bytes, XfccMode::Sanitize);
        let _ = xfcc::parse(&bytes, XfccMode::Append);
    }

    #[test]
    fn flipped_bytes_never_panic(index in 0usize..2048, byte in any::<u8>()) {
        let der = certificate(vec![uri("spiffe://example.org/a"), dns("a.example")], Some("x"));
        let mut bytes = der.to_vec();
        let i = index % bytes.len();
        bytes[i] = byte;
        let _ = cert::parse(&bytes);
    }
}

#[test]
fn spiffe_prefixes_exact_uris_dns_and_common_names() {
    let auth = auth();
    let empty = HeaderMap::new();
    let check = |sans: Vec<SanType>, cn: Option<&str>| {
        summary(run(&auth, &empty, &with_peer(certificate(sans, cn))))
    };
    assert_eq!(
        check(
            vec![uri("spiffe://example.org/ns/prod/sa/billing")],
            Some("ignored")
        ),
        ok(
            "spiffe://example.org/ns/prod/sa/billing",
            "internal",
            "read:invoices",
            ""
        )
    );
    // The prefix itself, and the longest prefix wins.
    assert_eq!(
        check(vec![uri("spiffe://example.org/ns/prod")], None),
        ok(
            "spiffe://example.org/ns/prod",
            "internal",
            "read:invoices",
            ""
        )
    );
    assert_eq!(
        check(vec![uri("spiffe://example.org/ns/prod/sa/admin/x")], None),
        ok(
            "spiffe://example.org/ns/prod/sa/admin/x",
            "internal",
            "",
            "admin"
        )
    );
    // An exact URI before any prefix.
    assert_eq!(
        check(vec![uri("spiffe://example.org/ns/prod/sa/partner")], None),
        ok("partner", "premium", "", "")
    );
    // Whole segments only; another trust domain; a malformed SPIFFE id.
    let refused = Err("client certificate identity is not allowed".to_owned());
    assert_eq!(
        check(vec![uri("spiffe://example.org/ns/production")], None),
        refused
    );
    assert_eq!(
        check(vec![uri("spiffe://evil.org/ns/prod/sa/x")], None),
        refused
    );
    assert_eq!(
        check(vec![uri("spiffe://example.org/ns/prod/../x")], None),
        refused
    );
    assert_eq!(
        check(vec![uri("spiffe://Example.org/ns/prod/x")], None),
        refused
    );
    // An X509-SVID has one URI SAN: two make the prefix rules refuse it, and an exact
    // mapping too (the mapped SPIFFE ID beside another URI is no SVID's).
    assert_eq!(
        check(
            vec![
                uri("spiffe://example.org/ns/prod/a"),
                uri("spiffe://example.org/ns/prod/b")
            ],
            None
        ),
        refused
    );
    assert_eq!(
        check(
            vec![
                uri("spiffe://example.org/ns/prod/sa/partner"),
                uri("spiffe://evil.org/x")
            ],
            None
        ),
        refused
    );
    // DNS, case-insensitive.
    assert_eq!(
        check(vec![dns("Reports.Internal.Example.COM")], None),
        ok(
            "reports.internal.example.com",
            "internal",
            "read:reports",
            ""
        )
    );
    // The common name of a certificate without SAN; not of one with SANs.
    assert_eq!(
        check(vec![], Some("legacy-batch")),
        ok("legacy-batch", "internal", "", "")
    );
    assert_eq!(
        check(vec![dns("other.example")], Some("legacy-batch")),
        refused
    );
    assert_eq!(check(vec![], Some("someone")), refused);
    assert_eq!(check(vec![], None), refused);
}

#[test]
fn the_thumbprint_is_the_key_id() {
    let der = certificate(vec![uri("spiffe://example.org/ns/prod/x")], None);
    let peer = PeerCertificates::new(vec![der.clone()]).unwrap();
    let Outcome::Authenticated(p) = run(&auth(), &HeaderMap::new(), &with_peer(der)) else {
        panic!("not authenticated");
    };
    assert_eq!(p.key_id(), Some(peer.x5t_s256().as_str()));
    assert_eq!(peer.x5t_s256().len(), 43);
}

#[test]
fn validity_dates_are_checked_on_the_clock() {
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![uri("spiffe://example.org/ns/prod/x")];
    params.not_before = date_time_ymd(2023, 1, 1);
    params.not_after = date_time_ymd(2023, 12, 31);
    let der = params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .clone();
    let clock = ManualClock::at_unix_secs(1_704_067_199); // 2023-12-31T23:59:59Z
    let auth = MtlsAuth::builder()
        .spiffe("example.org", "/", Grant::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    let extensions = with_peer(der);
    let empty = HeaderMap::new();
    // 2023-12-31T00:00:00Z is the notAfter: valid through it, expired a second later.
    clock.set_micros(1_703_980_800 * 1_000_000);
    assert!(matches!(
        run(&auth, &empty, &extensions),
        Outcome::Authenticated(_)
    ));
    clock.advance(Duration::from_secs(1));
    match run(&auth, &empty, &extensions) {
        Outcome::Rejected(e) => {
            assert_eq!(e.kind(), AuthErrorKind::Expired);
            assert_eq!(e.detail(), "client certificate has expired");
        }
        other => panic!("{other:?}"),
    }
    clock.set_micros(1_672_531_199 * 1_000_000); // a second before 2023-01-01
    match run(&auth, &empty, &extensions) {
        Outcome::Rejected(e) => {
            assert_eq!(e.kind(), AuthErrorKind::Expired);
            assert_eq!(e.detail(), "client certificate is not valid yet");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_certificate_skips_and_garbage_is_refused() {
    let auth = auth();
    assert!(matches!(
        run(&auth, &HeaderMap::new(), &Extensions::new()),
        Outcome::Skip
    ));
    let garbage = with_peer(CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]));
    assert_eq!(
        summary(run(&auth, &HeaderMap::new(), &garbage)),
        Err("client certificate is malformed".to_owned())
    );
    assert!(PeerCertificates::new(Vec::new()).is_none());
}

#[test]
fn configuration_errors() {
    assert_eq!(
        MtlsAuth::builder().build().unwrap_err(),
        ConfigError::NoIdentities
    );
    let err = |b: super::MtlsBuilder| b.build().unwrap_err();
    assert_eq!(
        err(MtlsAuth::builder().uri("", Grant::new())),
        ConfigError::InvalidIdentity(String::new())
    );
    assert_eq!(
        err(MtlsAuth::builder().dns("a b", Grant::new())),
        ConfigError::InvalidIdentity("a b".into())
    );
    assert_eq!(
        err(MtlsAuth::builder().spiffe("Example.org", "/", Grant::new())),
        ConfigError::InvalidSpiffe("Example.org".into())
    );
    assert_eq!(
        err(MtlsAuth::builder().spiffe("example.org", "ns", Grant::new())),
        ConfigError::InvalidSpiffe("ns".into())
    );
    assert_eq!(
        err(MtlsAuth::builder().spiffe("example.org", "/a/../b", Grant::new())),
        ConfigError::InvalidSpiffe("/a/../b".into())
    );
    assert_eq!(
        err(MtlsAuth::builder()
            .spiffe("example.org", "/a/", Grant::new())
            .spiffe("example.org", "/a", Grant::new())),
        ConfigError::Duplicate("spiffe://example.org/a".into())
    );
    assert_eq!(
        err(MtlsAuth::builder()
            .dns("A.example", Grant::new())
            .dns("a.example", Grant::new())),
        ConfigError::Duplicate("a.example".into())
    );
    assert_eq!(
        ConfigError::NoIdentities.to_string(),
        "an MtlsAuth needs at least one identity mapping"
    );
}

fn xfcc_auth() -> MtlsAuth {
    xfcc_auth_in(XfccMode::Sanitize)
}

fn xfcc_auth_in(mode: XfccMode) -> MtlsAuth {
    let proxies = ClientIp::builder()
        .trust_proxies(["10.0.0.0/8"])
        .build()
        .unwrap();
    MtlsAuth::builder()
        .spiffe("example.org", "/ns/prod", Grant::new())
        .common_name("legacy, batch", Grant::new())
        .forwarded_client_cert(proxies)
        .forwarded_client_cert_mode(mode)
        .clock(ManualClock::at_unix_secs(NOW))
        .build()
        .unwrap()
}

fn from_peer(addr: &str) -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(PeerAddr(addr.parse::<SocketAddr>().unwrap()));
    extensions
}

fn xfcc_header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-client-cert",
        HeaderValue::from_str(value).unwrap(),
    );
    headers
}

#[test]
fn xfcc_from_a_trusted_proxy() {
    let auth = xfcc_auth();
    let proxy = from_peer("10.1.2.3:5000");
    let hash = "a".repeat(64);
    let header = format!(
        "By=spiffe://example.org/gateway;Hash={hash};Subject=\"CN=x\";URI=spiffe://example.org/ns/prod/sa/billing"
    );
    let Outcome::Authenticated(p) = run(&auth, &xfcc_header(&header), &proxy) else {
        panic!("not authenticated");
    };
    assert_eq!(p.subject(), "spiffe://example.org/ns/prod/sa/billing");
    assert_eq!(
        p.key_id(),
        Some("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo")
    );
    // A proxy that appends: the right-most element is the nearest proxy's; what the client
    // put left is not read.
    let append = xfcc_auth_in(XfccMode::Append);
    let header = "URI=spiffe://example.org/ns/prod/forged,Subject=\"CN=legacy\\, batch\";DNS=x";
    assert_eq!(
        summary(run(&append, &xfcc_header(header), &proxy)),
        Err("client certificate identity is not allowed".into())
    );
    let header = "URI=spiffe://example.org/ns/prod/forged,Subject=\"CN=legacy\\, batch,O=Example\"";
    assert_eq!(
        summary(run(&append, &xfcc_header(header), &proxy)),
        ok("legacy, batch", "internal", "", "")
    );
    // A proxy that sets the header alone: the same header is not an element Envoy writes
    // (its `Subject` after a `URI`, a quote inside an unquoted value).
    assert_eq!(
        summary(run(&auth, &xfcc_header(header), &proxy)),
        Err("malformed X-Forwarded-Client-Cert".into())
    );
    // A trusted proxy without the header: its own certificate is not its client's.
    let mut proxy_with_cert = proxy.clone();
    proxy_with_cert.insert(
        PeerCertificates::new(vec![certificate(
            vec![uri("spiffe://example.org/ns/prod/gw")],
            None,
        )])
        .unwrap(),
    );
    assert!(matches!(
        run(&auth, &HeaderMap::new(), &proxy_with_cert),
        Outcome::Skip
    ));
}

#[test]
fn xfcc_with_the_certificate_checks_it() {
    let auth = xfcc_auth();
    let proxy = from_peer("10.1.2.3:5000");
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![uri("spiffe://example.org/ns/prod/sa/billing")];
    let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
    let encoded: String = cert
        .pem()
        .bytes()
        .map(|b| match b {
            b'\n' => "%0A".to_owned(),
            b' ' => "%20".to_owned(),
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            b => (b as char).to_string(),
        })
        .collect();
    let thumbprint = PeerCertificates::new(vec![cert.der().clone()]).unwrap();
    let header = format!("Cert=\"{encoded}\";URI=spiffe://example.org/ns/prod/forged");
    let Outcome::Authenticated(p) = run(&auth, &xfcc_header(&header), &proxy) else {
        panic!("not authenticated");
    };
    // The certificate's own name, not the URI field's.
    assert_eq!(p.subject(), "spiffe://example.org/ns/prod/sa/billing");
    assert_eq!(p.key_id(), Some(thumbprint.x5t_s256().as_str()));
    // A Hash that is not the certificate's.
    let header = format!("Hash={};Cert=\"{encoded}\"", "0".repeat(64));
    assert_eq!(
        summary(run(&auth, &xfcc_header(&header), &proxy)),
        Err("malformed X-Forwarded-Client-Cert".into())
    );
}

#[test]
fn xfcc_from_an_untrusted_peer_or_malformed_is_refused() {
    let auth = xfcc_auth();
    let header = xfcc_header("URI=spiffe://example.org/ns/prod/sa/billing");
    let detail = Err("X-Forwarded-Client-Cert is only accepted from trusted proxies".to_owned());
    assert_eq!(
        summary(run(&auth, &header, &from_peer("192.0.2.1:5000"))),
        detail
    );
    // No peer address at all: not a trusted proxy either.
    assert_eq!(summary(run(&auth, &header, &Extensions::new())), detail);
    // Even with a good certificate on the connection: the header is a forgery.
    let mut extensions = from_peer("192.0.2.1:5000");
    extensions.insert(
        PeerCertificates::new(vec![certificate(
            vec![uri("spiffe://example.org/ns/prod/x")],
            None,
        )])
        .unwrap(),
    );
    assert_eq!(summary(run(&auth, &header, &extensions)), detail);

    let proxy = from_peer("10.1.2.3:5000");
    for bad in [
        "URI",
        "Hash=abc",
        "Subject=\"CN=x",
        "Cert=\"%ZZ\"",
        "Cert=\"-----BEGIN CERTIFICATE-----%0A!!!%0A-----END CERTIFICATE-----\"",
        "URI=a\"b",
        ",",
    ] {
        assert_eq!(
            summary(run(&auth, &xfcc_header(bad), &proxy)),
            Err("malformed X-Forwarded-Client-Cert".into()),
            "{bad}"
        );
    }
    let huge = format!("URI={}", "a".repeat(xfcc::MAX_LEN));
    assert_eq!(
        summary(run(&auth, &xfcc_header(&huge), &proxy)),
        Err("malformed X-Forwarded-Client-Cert".into())
    );
    // Without forwarded_client_cert, the header is not read at all.
    let plain = auth_without_xfcc();
    assert!(matches!(
        run(&plain, &header, &from_peer("192.0.2.1:5000")),
        Outcome::Skip
    ));
}

fn auth_without_xfcc() -> MtlsAuth {
    MtlsAuth::builder()
        .spiffe("example.org", "/", Grant::new())
        .build()
        .unwrap()
}

/// What `xfcc::parse` reads of a header: URIs, DNS names, common name, or `Err(())`.
type Read = Result<(Vec<String>, Vec<String>, Option<String>), ()>;

fn xfcc_read(header: &str) -> Read {
    xfcc_read_in(header, XfccMode::Sanitize)
}

fn xfcc_read_in(header: &str, mode: XfccMode) -> Read {
    xfcc::parse(header.as_bytes(), mode)
        .map(|f| {
            (
                f.identity.uris,
                f.identity.dns_names,
                f.identity.common_name,
            )
        })
        .map_err(|_| ())
}

fn names(uris: &[&str], dns: &[&str], cn: Option<&str>) -> Read {
    Ok((
        uris.iter().map(|s| (*s).to_owned()).collect(),
        dns.iter().map(|s| (*s).to_owned()).collect(),
        cn.map(str::to_owned),
    ))
}

#[test]
fn xfcc_envoy_format_probes() {
    // Keys are case-insensitive (Envoy's docs); URI and DNS repeat, once per SAN.
    assert_eq!(
        xfcc_read(
            "by=spiffe://gw;HASH=00000000000000000000000000000000000000000000000000000000000000ff;uri=spiffe://a/1;dns=API.example.com;DNS=b.example.com"
        ),
        names(
            &["spiffe://a/1"],
            &["api.example.com", "b.example.com"],
            None
        )
    );
    // Several URIs without the certificate: one name holding `;URI=` reads the same, so
    // none is used (nor the common name: the certificate has names).
    assert_eq!(
        xfcc_read(
            r#"By=spiffe://gw;Subject="CN=x";URI=spiffe://a/1;Uri=spiffe://a/2;DNS=b.example.com"#
        ),
        names(&[], &["b.example.com"], None)
    );
    // A quoted value holding `,`, `;` and `=` is one value, in one element.
    assert_eq!(
        xfcc_read(r#"By=spiffe://gw;URI="spiffe://a/x,y;z=w""#),
        names(&["spiffe://a/x,y;z=w"], &[], None)
    );
    // Several elements, from a proxy that appends: the last one (the one the nearest proxy
    // appended) only. From a proxy that sets the header alone, no element Envoy writes.
    let several =
        r#"URI=spiffe://client/forged;Subject="CN=forged",By=spiffe://gw;URI=spiffe://a/real"#;
    assert_eq!(
        xfcc_read_in(several, XfccMode::Append),
        names(&["spiffe://a/real"], &[], None)
    );
    assert_eq!(xfcc_read(several), Err(()));
}

#[test]
fn xfcc_subject_escapes_are_read_as_envoy_writes_them() {
    // A CN `a"; URI=spiffe://a/admin`: OpenSSL's RFC 2253 printer escapes it
    // `a\"\; URI=...`, and Envoy quotes that as it is. The escaped quote does not end the
    // value, and nothing of the subject becomes a pair of its own.
    let header = r#"By=spiffe://gw;Subject="CN=a\"\; URI=spiffe://a/admin";URI=spiffe://a/real"#;
    assert_eq!(
        xfcc_read(header),
        names(
            &["spiffe://a/real"],
            &[],
            Some(r#"a"; URI=spiffe://a/admin"#)
        )
    );
    // The same subject as the last pair: still one value.
    let header = r#"By=spiffe://gw;Subject="CN=a\"\;URI=spiffe://a/admin""#;
    assert_eq!(
        xfcc_read(header),
        names(&[], &[], Some(r#"a";URI=spiffe://a/admin"#))
    );
    // A CN ending in a backslash (`x\`, printed `x\\`): the quote after the escaped
    // backslash closes the value.
    assert_eq!(
        xfcc_read(r#"By=spiffe://gw;Subject="CN=x\\";DNS=a.example"#),
        names(&[], &["a.example"], Some(r"x\"))
    );
    // A CN `a\"` (printed `a\\\"`): an escaped backslash, then an escaped quote.
    assert_eq!(
        xfcc_read(r#"Subject="CN=a\\\"";DNS=a.example"#),
        names(&[], &["a.example"], Some(r#"a\""#))
    );
}

#[test]
fn xfcc_ambiguities_are_malformed() {
    for bad in [
        // A trailing `,`: the last element is empty, and the one before is not the nearest
        // proxy's (a proxy that appends nothing when its client has no certificate).
        "URI=spiffe://example.org/ns/prod/forged,",
        "URI=spiffe://example.org/ns/prod/forged, ",
        // Single-valued keys twice in one element.
        "Subject=\"CN=a\";Subject=\"CN=b\"",
        &format!("Hash={};hash={}", "a".repeat(64), "b".repeat(64)),
        // Unterminated quotes, anywhere.
        "URI=\"spiffe://a/x",
        "URI=spiffe://a/x;Subject=\"CN=a\\\"",
        "URI=spiffe://a/forged;Subject=\"x,By=spiffe://gw;Subject=\"CN=real\"",
        // Keys out of Envoy's order: a name holding `;Hash=`, or two elements read as one.
        &format!(
            "By=spiffe://gw;URI=https://evil.example/a;Hash={}",
            "b".repeat(64)
        ),
        "URI=spiffe://a/x;By=spiffe://gw",
        "DNS=a.example;URI=spiffe://a/x",
        "By=spiffe://gw;By=spiffe://gw2",
    ] {
        assert_eq!(xfcc_read(bad), Err(()), "{bad}");
        assert_eq!(xfcc_read_in(bad, XfccMode::Append), Err(()), "{bad}");
    }
    // Huge: refused before any work past the length.
    let huge = format!("URI=\"{}", ",;".repeat(xfcc::MAX_LEN));
    assert_eq!(xfcc_read(&huge), Err(()));
    // At the limit, many elements from a proxy that appends: linear work, the last one read.
    let many = format!(
        "{}URI=spiffe://a/last",
        "URI=x,".repeat((xfcc::MAX_LEN - 20) / 6)
    );
    assert!(many.len() <= xfcc::MAX_LEN);
    assert_eq!(
        xfcc_read_in(&many, XfccMode::Append),
        names(&["spiffe://a/last"], &[], None)
    );
}

#[test]
fn xfcc_trailing_comma_is_refused_by_the_authenticator() {
    let auth = xfcc_auth();
    let proxy = from_peer("10.1.2.3:5000");
    assert_eq!(
        summary(run(
            &auth,
            &xfcc_header("URI=spiffe://example.org/ns/prod/sa/forged,"),
            &proxy
        )),
        Err("malformed X-Forwarded-Client-Cert".into())
    );
}

/// Envoy writes `URI` and `DNS` values unquoted: a certificate name holding a `,` splits the
/// element Envoy wrote in two. The element is read from its opening `By` or `Hash` to the end,
/// so the tail of such a name stays part of that name, not an element of its own.
#[test]
fn a_comma_in_a_certificate_name_does_not_make_an_element() {
    let hash = "a".repeat(64);
    let header = format!(
        "By=spiffe://example.org/gw;Hash={hash};Subject=\"CN=x\";\
         URI=https://evil.example/a,URI=spiffe://example.org/ns/prod/sa/admin"
    );
    assert_eq!(
        xfcc_read(&header),
        names(
            &["https://evil.example/a,URI=spiffe://example.org/ns/prod/sa/admin"],
            &[],
            Some("x")
        )
    );
    let auth = xfcc_auth();
    assert_eq!(
        summary(run(
            &auth,
            &xfcc_header(&header),
            &from_peer("10.1.2.3:5000")
        )),
        Err("client certificate identity is not allowed".into())
    );
    // Two elements, each from a proxy (each opening with `By`): the right-most is read.
    let two = format!(
        "By=spiffe://example.org/edge;Hash={hash};URI=spiffe://example.org/ns/prod/forged,\
         By=spiffe://example.org/gw;Hash={hash};URI=spiffe://example.org/ns/prod/sa/billing"
    );
    assert_eq!(
        xfcc_read_in(&two, XfccMode::Append),
        names(&["spiffe://example.org/ns/prod/sa/billing"], &[], None)
    );
}

/// A URI SAN holding `,Hash=…;URI=…` passes, in the element Envoy writes, for another
/// element with its own `Hash` and name. Read as the one element a proxy that sets the
/// header writes (the default), the genuine `Hash` is the thumbprint and the two URI pairs
/// name nobody; a `;Hash=` in a name is a second `Hash`, malformed.
#[test]
fn a_certificate_name_cannot_forge_the_hash_or_the_identity() {
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    let forged = format!(
        "By=spiffe://example.org/gw;Hash={a};URI=https://evil.example/a,Hash={b};\
         URI=spiffe://example.org/ns/prod/sa/admin"
    );
    let auth = xfcc_auth();
    let proxy = from_peer("10.1.2.3:5000");
    assert_eq!(
        summary(run(&auth, &xfcc_header(&forged), &proxy)),
        Err("client certificate identity is not allowed".into())
    );
    let headers = xfcc_header(&forged);
    assert_eq!(
        super::forwarded_thumbprint(&headers, XfccMode::Sanitize),
        Some([0xaa; 32])
    );
    let semicolon = format!(
        "By=spiffe://example.org/gw;Hash={a};URI=https://evil.example/a;Hash={b};\
         URI=spiffe://example.org/ns/prod/sa/admin"
    );
    assert_eq!(
        summary(run(&auth, &xfcc_header(&semicolon), &proxy)),
        Err("malformed X-Forwarded-Client-Cert".into())
    );
    assert_eq!(
        super::forwarded_thumbprint(&xfcc_header(&semicolon), XfccMode::Sanitize),
        None
    );
    // What a proxy that appends cannot tell apart (documented on `XfccMode::Append`).
    assert_eq!(
        super::forwarded_thumbprint(&headers, XfccMode::Append),
        Some([0xbb; 32])
    );
}

/// The subject as Envoy writes it, from OpenSSL's RFC 2253 printer: bytes past ASCII as
/// `\XX` hex pairs (RFC 4514), which are bytes of UTF-8, not letters.
#[test]
fn subject_hex_escapes_are_bytes() {
    assert_eq!(
        xfcc_read(r#"Subject="CN=caf\C3\A9";URI="#),
        names(&[], &[], Some("café"))
    );
    assert_eq!(
        xfcc_read(r#"Subject="CN=a\2Cb""#),
        names(&[], &[], Some("a,b"))
    );
    // Escaped specials are themselves; a lone byte that is not UTF-8 is malformed.
    assert_eq!(
        xfcc_read(r#"Subject="CN=x\+y""#),
        names(&[], &[], Some("x+y"))
    );
    assert!(xfcc_read(r#"Subject="CN=\C3""#).is_err());
}
