//! RFC 9421 signature base edge cases, through `SignatureLayer`: each request is signed here
//! by writing the expected signature base by hand (RFC 9421 §2.5) and HMAC-ing it, so a test
//! passing means the layer built exactly that base; refusals assert the exact problem detail.

use std::convert::Infallible;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, request::Builder};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_shield::ManualClock;
use tower_shield::signature::{SignatureBuilder, SignatureLayer, SignedBody, VerifyingKey};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"probe-secret-0123456789abcdef";
/// The usual signature parameters.
const P: &str = r#";created=1700000000;keyid="k1""#;

fn key() -> VerifyingKey {
    VerifyingKey::hmac_sha256("owner", SECRET).with_id("k1")
}

/// A layer with the probe key, no required component, no replay memory, the clock at `NOW`.
fn bare() -> SignatureBuilder {
    SignatureLayer::http_message_signatures()
        .key(key())
        .require_components(Vec::<String>::new())
        .replay_protection(false)
        .clock(ManualClock::at_unix_secs(NOW))
}

/// The layer's default policy (`@method`, `@authority`, `@path`, `@query` when there is a
/// query, `content-digest` when there is a body).
fn defaults() -> SignatureBuilder {
    SignatureLayer::http_message_signatures()
        .key(key())
        .replay_protection(false)
        .clock(ManualClock::at_unix_secs(NOW))
}

fn mac(base: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    STANDARD.encode(hmac::sign(&key, base.as_bytes()).as_ref())
}

/// The signature base of `lines` (each `"id": value`) and the signature parameters
/// `(list)params`.
fn base(lines: &[&str], list: &str, params: &str) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&format!("\"@signature-params\": ({list}){params}"));
    out
}

/// Adds `Signature-Input: label=(list)params` and the HMAC of `base(lines, ...)`.
fn sign(req: Builder, label: &str, list: &str, params: &str, lines: &[&str]) -> Builder {
    let sig = mac(&base(lines, list, params));
    req.header("signature-input", format!("{label}=({list}){params}"))
        .header("signature", format!("{label}=:{sig}:"))
}

fn empty(req: Builder) -> Request<Full<Bytes>> {
    req.body(Full::new(Bytes::new())).unwrap()
}

/// The layer's answer to `req`, around a service that answers `"ok"`.
async fn answer(layer: SignatureBuilder, req: Request<Full<Bytes>>) -> Response<Bytes> {
    let svc = layer
        .build()
        .unwrap()
        .layer(service_fn(|_req: Request<SignedBody>| async move {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    let res = svc.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

/// `200` and `"ok"`, or the status and the problem's detail.
async fn call(layer: SignatureBuilder, req: Request<Full<Bytes>>) -> (StatusCode, String) {
    let res = answer(layer, req).await;
    let status = res.status();
    let body = res.into_body();
    if status == StatusCode::OK {
        return (status, String::from_utf8_lossy(&body).into_owned());
    }
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (
        status,
        problem["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

fn ok() -> (StatusCode, String) {
    (StatusCode::OK, "ok".to_owned())
}

fn refused(detail: &str) -> (StatusCode, String) {
    (StatusCode::UNAUTHORIZED, detail.to_owned())
}

const NO_MATCH: &str = "no matching signature";

// --- @method (§2.2.1) ---

#[tokio::test]
async fn method_is_taken_as_sent() {
    let req = Request::builder().method("PATCH").uri("/x");
    let req = sign(req, "sig1", r#""@method""#, P, &[r#""@method": PATCH"#]);
    assert_eq!(call(bare(), empty(req)).await, ok());
    // An extension method in lowercase is not uppercased (methods are case-sensitive).
    let req = Request::builder().method("get").uri("/x");
    let req = sign(req, "sig1", r#""@method""#, P, &[r#""@method": get"#]);
    assert_eq!(call(bare(), empty(req)).await, ok());
    let req = Request::builder().method("get").uri("/x");
    let req = sign(req, "sig1", r#""@method""#, P, &[r#""@method": GET"#]);
    assert_eq!(call(bare(), empty(req)).await, refused(NO_MATCH));
}

// --- @authority (§2.2.3), @scheme (§2.2.4), @target-uri (§2.2.2) ---

#[tokio::test]
async fn authority_is_lowercased_without_default_port() {
    for (host, value) in [
        ("Example.COM", "example.com"),
        ("example.com:443", "example.com"),
        ("example.com:0443", "example.com"),
        ("example.com:", "example.com"),
        ("example.com:80", "example.com:80"),
        ("EXAMPLE.com:8443", "example.com:8443"),
        ("[2001:DB8::1]:443", "[2001:db8::1]"),
    ] {
        let req = Request::get("/x").header("host", host);
        let line = format!(r#""@authority": {value}"#);
        let req = sign(req, "sig1", r#""@authority""#, P, &[&line]);
        assert_eq!(call(bare(), empty(req)).await, ok(), "{host}");
    }
}

#[tokio::test]
async fn absolute_form_gives_scheme_and_authority() {
    let list = r#""@scheme" "@authority" "@target-uri" "@path" "@request-target""#;
    let req = Request::get("http://Example.com:80/a%2Fb?q=1").header("host", "ignored.example");
    let req = sign(
        req,
        "sig1",
        list,
        P,
        &[
            r#""@scheme": http"#,
            r#""@authority": example.com"#,
            r#""@target-uri": http://Example.com:80/a%2Fb?q=1"#,
            r#""@path": /a%2Fb"#,
            // §2.2.5: an HTTP/1.1 request line in absolute form is the whole URI.
            r#""@request-target": http://Example.com:80/a%2Fb?q=1"#,
        ],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
}

/// RFC 9421 §2.2.5's four forms of the request line, and HTTP/2, which has none (`:path`).
#[tokio::test]
async fn request_target_is_the_request_lines() {
    let cases = [
        // (method, URI, version, value)
        (
            "GET",
            "/path?param=value",
            http::Version::HTTP_11,
            "/path?param=value",
        ),
        (
            "GET",
            "https://www.example.com/path?param=value",
            http::Version::HTTP_11,
            "https://www.example.com/path?param=value",
        ),
        (
            "CONNECT",
            "www.example.com:80",
            http::Version::HTTP_11,
            "www.example.com:80",
        ),
        ("OPTIONS", "*", http::Version::HTTP_11, "*"),
        (
            "GET",
            "https://www.example.com/path?param=value",
            http::Version::HTTP_2,
            "/path?param=value",
        ),
        (
            "CONNECT",
            "www.example.com:443",
            http::Version::HTTP_2,
            "www.example.com:443",
        ),
    ];
    for (method, uri, version, value) in cases {
        let line = format!(r#""@request-target": {value}"#);
        let build = || {
            Request::builder()
                .method(method)
                .uri(uri)
                .version(version)
                .header("host", "www.example.com")
        };
        let req = sign(build(), "sig1", r#""@request-target""#, P, &[&line]);
        assert_eq!(
            call(bare(), empty(req)).await,
            ok(),
            "{method} {uri} {version:?}"
        );
        // The origin form of an absolute-form HTTP/1.1 request is not its target.
        if version == http::Version::HTTP_11 && uri.starts_with("https:") {
            let line = r#""@request-target": /path?param=value"#;
            let req = sign(build(), "sig1", r#""@request-target""#, P, &[line]);
            assert_eq!(call(bare(), empty(req)).await, refused(NO_MATCH));
        }
    }
}

#[tokio::test]
async fn origin_form_assumes_https_and_the_host_header() {
    let list = r#""@scheme" "@target-uri""#;
    let req = Request::get("/p/%7Efoo?a=b").header("host", "API.example.com");
    let req = sign(
        req,
        "sig1",
        list,
        P,
        &[
            r#""@scheme": https"#,
            r#""@target-uri": https://API.example.com/p/%7Efoo?a=b"#,
        ],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
}

#[tokio::test]
async fn no_host_no_authority() {
    let req = sign(
        Request::get("/x"),
        "sig1",
        r#""@authority""#,
        P,
        &[r#""@authority": "#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused(r#"covered component "@authority" is absent"#)
    );
    let req = sign(
        Request::get("/x"),
        "sig1",
        r#""@target-uri""#,
        P,
        &[r#""@target-uri": https:///x"#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused(r#"covered component "@target-uri" is absent"#)
    );
}

// --- @path (§2.2.6), @query (§2.2.7) ---

#[tokio::test]
async fn empty_path_is_a_slash() {
    let req = sign(
        Request::get("https://example.com"),
        "sig1",
        r#""@path" "@target-uri" "@query""#,
        P,
        &[
            r#""@path": /"#,
            r#""@target-uri": https://example.com/"#,
            r#""@query": ?"#,
        ],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
}

#[tokio::test]
async fn query_absent_empty_and_encoded() {
    for (uri, value) in [
        ("/p", "?"),
        ("/p?", "?"),
        ("/p?a=1&b", "?a=1&b"),
        ("/p?q=a%20b+c&%7E", "?q=a%20b+c&%7E"),
    ] {
        let line = format!(r#""@query": {value}"#);
        let req = sign(Request::get(uri), "sig1", r#""@query""#, P, &[&line]);
        assert_eq!(call(bare(), empty(req)).await, ok(), "{uri}");
    }
}

/// The default policy requires the query to be covered when the target has one (RFC 9421
/// section 7.2.1: what no signature covers can be rewritten on the way): by `@query`, or by
/// `@target-uri` or `@request-target`, which hold it. A target without a query needs none.
#[tokio::test]
async fn the_default_policy_requires_a_query_to_be_covered() {
    let list = r#""@method" "@authority" "@path""#;
    let lines = |path: &'static str| {
        [
            r#""@method": GET"#.to_owned(),
            r#""@authority": example.com"#.to_owned(),
            format!(r#""@path": {path}"#),
        ]
    };
    let signed = |uri: &str, list: &str, extra: &[String]| {
        let mut all: Vec<String> = lines("/transfer").to_vec();
        all.extend_from_slice(extra);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        empty(sign(
            Request::get(uri).header("host", "example.com"),
            "sig1",
            list,
            P,
            &all,
        ))
    };
    assert_eq!(call(defaults(), signed("/transfer", list, &[])).await, ok());
    // An intermediary's `?to=mallory` on a request signed without its query.
    assert_eq!(
        call(defaults(), signed("/transfer?to=mallory", list, &[])).await,
        refused("signature does not cover @query")
    );
    let with_query = format!(r#"{list} "@query""#);
    assert_eq!(
        call(
            defaults(),
            signed(
                "/transfer?to=alice",
                &with_query,
                &[r#""@query": ?to=alice"#.into()]
            )
        )
        .await,
        ok()
    );
    let with_target = format!(r#"{list} "@target-uri""#);
    assert_eq!(
        call(
            defaults(),
            signed(
                "/transfer?to=alice",
                &with_target,
                &[r#""@target-uri": https://example.com/transfer?to=alice"#.into()]
            )
        )
        .await,
        ok()
    );
    // A policy without `@query` does not ask for it.
    let no_query = defaults().require_components(["@method", "@authority", "@path"]);
    assert_eq!(
        call(no_query, signed("/transfer?to=mallory", list, &[])).await,
        ok()
    );
}

/// `require_components` takes an identifier with parameters as `Signature-Input` writes it,
/// matched whatever the order of its parameters (and a `@query-param` name however encoded);
/// one that does not parse is a build error.
#[tokio::test]
async fn required_components_may_have_parameters() {
    let layer = || bare().require_components(["@method", r#""@query-param";name="Id""#]);
    let signed = |name: &str| {
        let list = format!(r#""@method" "@query-param";name="{name}""#);
        let line = format!(r#""@query-param";name="{name}": 7"#);
        empty(sign(
            Request::get("/p?Id=7"),
            "sig1",
            &list,
            P,
            &[r#""@method": GET"#, &line],
        ))
    };
    assert_eq!(call(layer(), signed("Id")).await, ok());
    assert_eq!(call(layer(), signed("%49d")).await, ok());
    let other = empty(sign(
        Request::get("/p?Id=7&id=8"),
        "sig1",
        r#""@method" "@query-param";name="id""#,
        P,
        &[r#""@method": GET"#, r#""@query-param";name="id": 8"#],
    ));
    assert_eq!(
        call(layer(), other).await,
        refused(r#"signature does not cover "@query-param";name="Id""#)
    );
    for bad in [r#""@query-param";name="#, r#""@Method""#, r#""a" "b""#] {
        assert_eq!(
            bare().require_components([bad]).build().unwrap_err(),
            tower_shield::signature::ConfigError::InvalidComponent(bad.to_owned()),
            "{bad}"
        );
    }
}

// --- @query-param (§2.2.8) ---

#[tokio::test]
async fn query_param_is_decoded_then_reencoded() {
    // The RFC's example (§2.2.8), plus an empty value.
    let uri = "/path?param=value&foo=bar&baz=batman&qux=&var=this%20is%20a%20big%0Avalue\
               &bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&t=%7e*";
    let list = r#""@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20" "@query-param";name="qux" "@query-param";name="t""#;
    let req = sign(
        Request::get(uri),
        "sig1",
        list,
        P,
        &[
            r#""@query-param";name="var": this%20is%20a%20big%0Avalue"#,
            r#""@query-param";name="bar": with%20plus%20whitespace"#,
            r#""@query-param";name="fa%C3%A7ade%22%3A%20": something"#,
            r#""@query-param";name="qux": "#,
            r#""@query-param";name="t": %7E*"#,
        ],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
}

#[tokio::test]
async fn query_param_repeated_or_absent_is_refused() {
    let list = r#""@query-param";name="a""#;
    let line = r#""@query-param";name="a": 1"#;
    let req = sign(Request::get("/p?a=1&a=2"), "sig1", list, P, &[line]);
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: @query-param names a repeated query parameter")
    );
    let req = sign(Request::get("/p?b=1"), "sig1", list, P, &[line]);
    assert_eq!(
        call(bare(), empty(req)).await,
        refused(r#"covered component "@query-param";name="a" is absent"#)
    );
    let req = sign(Request::get("/p"), "sig1", r#""@query-param""#, P, &[line]);
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: @query-param needs a name")
    );
}

// --- derived components that a request cannot have ---

#[tokio::test]
async fn response_only_and_unknown_derived_components_are_refused() {
    let req = sign(
        Request::get("/p"),
        "sig1",
        r#""@status""#,
        P,
        &[r#""@status": 200"#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused(r#"covered component "@status" is absent"#)
    );
    for name in ["@request-response", "@foo", "@signature-params"] {
        let list = format!("\"{name}\"");
        let line = format!("\"{name}\": x");
        let req = sign(Request::get("/p"), "sig1", &list, P, &[&line]);
        assert_eq!(
            call(bare(), empty(req)).await,
            refused("malformed signature-input header: unknown derived component"),
            "{name}"
        );
    }
    // A parameter on a derived component is not understood.
    let req = sign(
        Request::get("/p"),
        "sig1",
        r#""@method";req"#,
        P,
        &[r#""@method";req: GET"#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: unsupported component parameter")
    );
}

// --- HTTP fields (§2.1) ---

#[tokio::test]
async fn absent_field_is_refused_empty_field_is_empty() {
    let req = sign(
        Request::get("/p"),
        "sig1",
        r#""x-absent""#,
        P,
        &[r#""x-absent": "#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused(r#"covered component "x-absent" is absent"#)
    );
    let req = sign(
        Request::get("/p").header("x-empty", ""),
        "sig1",
        r#""x-empty""#,
        P,
        &[r#""x-empty": "#],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
}

#[tokio::test]
async fn field_lines_are_trimmed_and_joined() {
    let req = Request::get("/p")
        .header("x-multi", "  a  ")
        .header("x-multi", "b,  c")
        .header("x-multi", HeaderValue::from_static("\td\t"));
    let req = sign(
        req,
        "sig1",
        r#""x-multi""#,
        P,
        &[r#""x-multi": a, b,  c, d"#],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
}

#[tokio::test]
async fn component_names_must_be_lowercase() {
    for list in [r#""X-Multi""#, r#""@Method""#] {
        let line = format!("{list}: a");
        let req = sign(
            Request::get("/p").header("x-multi", "a"),
            "sig1",
            list,
            P,
            &[&line],
        );
        assert_eq!(
            call(bare(), empty(req)).await,
            refused("malformed signature-input header: component names are lowercase"),
            "{list}"
        );
    }
}

#[tokio::test]
async fn the_same_component_twice_is_refused() {
    let req = sign(
        Request::get("/p").header("date", "x"),
        "sig1",
        r#""date" "date""#,
        P,
        &[r#""date": x"#, r#""date": x"#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: a component twice")
    );
    // Another parameter makes another identifier (§2.5 compares identifiers).
    let req = sign(
        Request::get("/p").header("date", "x"),
        "sig1",
        r#""date" "date";bs"#,
        P,
        &[r#""date": x"#, r#""date";bs: :eA==:"#],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
    // One identifier written twice: its parameters in another order, or a `@query-param`
    // name encoded (`%61` is `a`).
    let req = sign(
        Request::get("/p").header("example-dict", "a=1"),
        "sig1",
        r#""example-dict";sf;key="a" "example-dict";key="a";sf"#,
        P,
        &[
            r#""example-dict";sf;key="a": 1"#,
            r#""example-dict";key="a";sf: 1"#,
        ],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: a component twice")
    );
    let req = sign(
        Request::get("/p?a=1"),
        "sig1",
        r#""@query-param";name="a" "@query-param";name="%61""#,
        P,
        &[
            r#""@query-param";name="a": 1"#,
            r#""@query-param";name="%61": 1"#,
        ],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: a component twice")
    );
}

#[tokio::test]
async fn structured_dictionary_fields() {
    let req = || {
        Request::get("/p")
            .header("example-dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)")
            .header("example-dict", "d")
    };
    let r = sign(
        req(),
        "sig1",
        r#""example-dict";sf "example-dict";key="b" "example-dict";key="c" "example-dict";key="d""#,
        P,
        &[
            r#""example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c), d"#,
            r#""example-dict";key="b": 2;x=1;y=2"#,
            r#""example-dict";key="c": (a b c)"#,
            r#""example-dict";key="d": ?1"#,
        ],
    );
    assert_eq!(call(bare(), empty(r)).await, ok());
    let r = sign(
        req(),
        "sig1",
        r#""example-dict";key="z""#,
        P,
        &[r#""example-dict";key="z": "#],
    );
    assert_eq!(
        call(bare(), empty(r)).await,
        refused(r#"covered component "example-dict" is absent"#)
    );
}

/// `;sf` serializes a field by its type's rules (§2.1.1): a known List keeps every member
/// (`a, b, a`), a known Item is one item; a field of unknown type is read as a Dictionary
/// unless a key repeats, which a Dictionary would collapse: a signature over `a, b` would
/// then cover `a, b, b` too.
#[tokio::test]
async fn structured_fields_by_their_type() {
    let one = |field: &str, value: &str, line: &str| {
        let list = format!(r#""{field}";sf"#);
        let line = format!(r#""{field}";sf: {line}"#);
        empty(sign(
            Request::get("/p").header(field, value),
            "sig1",
            &list,
            P,
            &[&line],
        ))
    };
    // A List (RFC 8942's Accept-CH), its members all kept, spaces canonical.
    assert_eq!(
        call(
            bare(),
            one(
                "accept-ch",
                "sec-ch-ua-model,  sec-ch-ua-model",
                "sec-ch-ua-model, sec-ch-ua-model"
            )
        )
        .await,
        ok()
    );
    // An Item (Fetch Metadata's Sec-Fetch-Site, a token).
    assert_eq!(
        call(bare(), one("sec-fetch-site", " same-origin", "same-origin")).await,
        ok()
    );
    assert_eq!(
        call(bare(), one("sec-fetch-site", "a, b", "a, b")).await,
        refused("malformed signature-input header: a covered Item field does not parse")
    );
    // Unknown type, a key twice: the signer's `a, b` does not cover the `a, b, b` sent.
    assert_eq!(
        call(bare(), one("example-list", "a, b, b", "a, b")).await,
        refused(
            "malformed signature-input header: a covered structured field of unknown type \
             repeats a key"
        )
    );
    // Unknown type, no Dictionary (an Item-like integer).
    assert_eq!(
        call(bare(), one("example-int", "1", "1")).await,
        refused(
            "malformed signature-input header: a covered structured field of unknown type is \
             no Dictionary"
        )
    );
    // `key` of a field that is no Dictionary.
    let r = empty(sign(
        Request::get("/p").header("accept-ch", "a"),
        "sig1",
        r#""accept-ch";key="a""#,
        P,
        &[r#""accept-ch";key="a": ?1"#],
    ));
    assert_eq!(
        call(bare(), r).await,
        refused("malformed signature-input header: key names a member of a dictionary field")
    );
}

#[tokio::test]
async fn byte_sequence_fields() {
    // §2.1.3's example, and a line that is not ASCII.
    let req = Request::get("/p")
        .header("example-header", "value, with, lots")
        .header("example-header", "of, commas")
        .header("x-latin", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
    let req = sign(
        req,
        "sig1",
        r#""example-header";bs "x-latin";bs"#,
        P,
        &[
            r#""example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"#,
            r#""x-latin";bs: :Y2Fmw6k=:"#,
        ],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());
    // Without `bs`, a line that is not ASCII is refused.
    let req =
        Request::get("/p").header("x-latin", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
    let req = sign(req, "sig1", r#""x-latin""#, P, &[r#""x-latin": café"#]);
    assert_eq!(
        call(bare(), empty(req)).await,
        refused(
            "malformed signature-input header: a covered field is not ASCII (cover it with ;bs)"
        )
    );
}

#[tokio::test]
async fn field_parameters_that_are_refused() {
    for (list, why) in [
        (r#""x-a";bs;sf"#, "bs cannot be combined with sf or key"),
        (
            r#""x-a";key="a";bs"#,
            "bs cannot be combined with sf or key",
        ),
        (r#""x-a";req"#, "req and tr components are not supported"),
        (r#""x-a";tr"#, "req and tr components are not supported"),
        (r#""x-a";foo"#, "unsupported component parameter"),
        (r#""x-a";name="a""#, "unsupported component parameter"),
        (r#""x-a";sf=?0"#, "malformed component parameter"),
        (r#""x-a";key=1"#, "malformed component parameter"),
    ] {
        let line = format!("{list}: a=1");
        let req = sign(
            Request::get("/p").header("x-a", "a=1"),
            "sig1",
            list,
            P,
            &[&line],
        );
        assert_eq!(
            call(bare(), empty(req)).await,
            refused(&format!("malformed signature-input header: {why}")),
            "{list}"
        );
    }
}

// --- signature parameters (§2.3) ---

#[tokio::test]
async fn created_and_expires() {
    let list = r#""@method""#;
    let line = r#""@method": GET"#;
    let cases = [
        (
            ";created=1700000400;keyid=\"k1\"",
            refused("timestamp outside the tolerance of 300 seconds"),
        ),
        (";created=1700000100;keyid=\"k1\"", ok()),
        (
            ";created=1699999800;keyid=\"k1\";expires=1699999999",
            refused("signature expired"),
        ),
        (";created=1700000000;keyid=\"k1\";expires=1700000000", ok()),
        (
            ";keyid=\"k1\"",
            refused("malformed signature-input header: created is required"),
        ),
        (
            ";created=-1;keyid=\"k1\"",
            refused("malformed signature-input header: created and expires are integers"),
        ),
    ];
    for (params, want) in cases {
        let req = sign(Request::get("/p"), "sig1", list, params, &[line]);
        assert_eq!(call(bare(), empty(req)).await, want, "{params}");
    }
}

#[tokio::test]
async fn alg_and_keyid() {
    let list = r#""@method""#;
    let line = r#""@method": GET"#;
    let cases = [
        (r#";created=1700000000;keyid="k1";alg="hmac-sha256""#, ok()),
        (
            r#";created=1700000000;keyid="k1";alg="ed25519""#,
            refused("signature algorithm does not match the key"),
        ),
        (
            r#";created=1700000000;keyid="k1";alg="hs2019""#,
            refused("signature algorithm does not match the key"),
        ),
        (";created=1700000000", refused("unknown key id")),
        (
            r#";created=1700000000;keyid="k2""#,
            refused("unknown key id"),
        ),
    ];
    for (params, want) in cases {
        let req = sign(Request::get("/p"), "sig1", list, params, &[line]);
        assert_eq!(call(bare(), empty(req)).await, want, "{params}");
    }
}

#[tokio::test]
async fn unknown_parameters_are_kept_in_order() {
    // Boolean `true` is serialized as the bare key (RFC 8941 §4.1.1.2).
    let sent = r#";zz="first";keyid="k1";x=?1;created=1700000000;y=1.5"#;
    let serialized = r#";zz="first";keyid="k1";x;created=1700000000;y=1.5"#;
    let sig = mac(&base(&[r#""@method": GET"#], r#""@method""#, serialized));
    let req = Request::get("/p")
        .header("signature-input", format!(r#"sig1=("@method"){sent}"#))
        .header("signature", format!("sig1=:{sig}:"));
    assert_eq!(call(bare(), empty(req)).await, ok());
    // Signed in another order: refused.
    let reordered = r#";keyid="k1";zz="first";x;created=1700000000;y=1.5"#;
    let sig = mac(&base(&[r#""@method": GET"#], r#""@method""#, reordered));
    let req = Request::get("/p")
        .header("signature-input", format!(r#"sig1=("@method"){sent}"#))
        .header("signature", format!("sig1=:{sig}:"));
    assert_eq!(call(bare(), empty(req)).await, refused(NO_MATCH));
}

#[tokio::test]
async fn signature_params_are_reserialized_canonically() {
    // Sent with extra spaces and a leading zero: the base has the structured-field
    // serialization (§2.3), not the text as sent.
    let sig = mac(&base(
        &[r#""@method": GET"#, r#""@path": /p"#],
        r#""@method" "@path""#,
        P,
    ));
    let req = Request::get("/p")
        .header(
            "signature-input",
            r#"sig1=(  "@method"   "@path" );created=01700000000;keyid="k1""#,
        )
        .header("signature", format!("sig1=:{sig}:"));
    assert_eq!(call(bare(), empty(req)).await, ok());
}

#[tokio::test]
async fn tag_when_configured() {
    let line = r#""@method": GET"#;
    let req = sign(Request::get("/p"), "sig1", r#""@method""#, P, &[line]);
    assert_eq!(call(bare().tag("app"), empty(req)).await, refused(NO_MATCH));
    let params = r#";created=1700000000;keyid="k1";tag="other""#;
    let req = sign(Request::get("/p"), "sig1", r#""@method""#, params, &[line]);
    assert_eq!(call(bare().tag("app"), empty(req)).await, refused(NO_MATCH));
    let params = r#";created=1700000000;keyid="k1";tag="app""#;
    let req = sign(Request::get("/p"), "sig1", r#""@method""#, params, &[line]);
    assert_eq!(call(bare().tag("app"), empty(req)).await, ok());
}

// --- several signatures ---

#[tokio::test]
async fn any_valid_signature_passes() {
    let line = r#""@method": GET"#;
    let good = mac(&base(&[line], r#""@method""#, P));
    let input = format!(r#"sig1=("@method"){P}, sig2=("@method"){P}"#);
    let req = |sig: String| {
        Request::get("/p")
            .header("signature-input", input.clone())
            .header("signature", sig)
    };
    // The first wrong, the second right.
    let r = req(format!(
        "sig1=:{}:, sig2=:{good}:",
        STANDARD.encode([0u8; 32])
    ));
    assert_eq!(call(bare(), empty(r)).await, ok());
    // Both wrong.
    let bad = STANDARD.encode([0u8; 32]);
    let r = req(format!("sig1=:{bad}:, sig2=:{bad}:"));
    assert_eq!(call(bare(), empty(r)).await, refused(NO_MATCH));
    // sig1 has no signature, sig2 is right.
    let r = req(format!("sig2=:{good}:"));
    assert_eq!(call(bare(), empty(r)).await, ok());
    // The only label without a signature.
    let r = Request::get("/p")
        .header("signature-input", format!(r#"sig1=("@method"){P}"#))
        .header("signature", format!("sig2=:{good}:"));
    assert_eq!(
        call(bare(), empty(r)).await,
        refused("malformed signature header: no signature under a label of signature-input")
    );
    // A signature without an input is ignored.
    let r = Request::get("/p")
        .header("signature-input", format!(r#"sig1=("@method"){P}"#))
        .header("signature", format!("sig1=:{good}:, sig9=:{bad}:"));
    assert_eq!(call(bare(), empty(r)).await, ok());
    // An expired signature next to a valid one: the valid one passes.
    let r = Request::get("/p")
        .header(
            "signature-input",
            format!(r#"old=("@method");created=1600000000;keyid="k1", sig1=("@method"){P}"#),
        )
        .header("signature", format!("old=:{bad}:, sig1=:{good}:"));
    assert_eq!(call(bare(), empty(r)).await, ok());
}

// --- Content-Digest (RFC 9530) ---

const BODY: &[u8] = b"{\"hello\": \"world\"}";
const SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
const SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
/// SHA-256 of the empty body.
const SHA256_EMPTY: &str = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";

fn digest_request(digest: &str, body: &'static [u8], content_length: bool) -> Request<Full<Bytes>> {
    digest_lines_request(&[digest], body, content_length)
}

/// A `Content-Digest` of `lines` (one field line each), signed as one value: the signature
/// base joins the lines with `, `.
fn digest_lines_request(
    lines: &[&str],
    body: &'static [u8],
    content_length: bool,
) -> Request<Full<Bytes>> {
    let list = r#""@method" "@authority" "@path" "content-digest""#;
    let digest_line = format!(r#""content-digest": {}"#, lines.join(", "));
    let mut req = Request::post("/p").header("host", "example.com");
    for line in lines {
        req = req.header("content-digest", *line);
    }
    if content_length {
        req = req.header("content-length", body.len().to_string());
    }
    let req = sign(
        req,
        "sig1",
        list,
        P,
        &[
            r#""@method": POST"#,
            r#""@authority": example.com"#,
            r#""@path": /p"#,
            &digest_line,
        ],
    );
    req.body(Full::new(Bytes::from_static(body))).unwrap()
}

/// RFC 9530's field is a dictionary, which may come on several lines: every line counts, as in
/// the signature base. A wrong digest on the second line is caught, and a right one there
/// behind another algorithm's is found.
#[tokio::test]
async fn content_digest_on_several_lines() {
    assert_eq!(
        call(
            defaults(),
            digest_lines_request(&[SHA256, "sha-512=:AAAA:"], BODY, true)
        )
        .await,
        refused("Content-Digest does not match the body")
    );
    assert_eq!(
        call(
            defaults(),
            digest_lines_request(&["md5=:AAAA:", SHA256], BODY, true)
        )
        .await,
        ok()
    );
    assert_eq!(
        call(
            defaults(),
            digest_lines_request(&[SHA256, SHA512], BODY, true)
        )
        .await,
        ok()
    );
}

#[tokio::test]
async fn content_digest_algorithms() {
    let both = format!("{SHA256}, {SHA512}");
    assert_eq!(
        call(defaults(), digest_request(&both, BODY, true)).await,
        ok()
    );
    assert_eq!(
        call(defaults(), digest_request(SHA512, BODY, true)).await,
        ok()
    );
    let unknown_too = format!("sha-3=:AAAA:, {SHA256}");
    assert_eq!(
        call(defaults(), digest_request(&unknown_too, BODY, true)).await,
        ok()
    );
    let one_wrong = format!("{SHA256}, sha-512=:AAAA:");
    assert_eq!(
        call(defaults(), digest_request(&one_wrong, BODY, true)).await,
        refused("Content-Digest does not match the body")
    );
    assert_eq!(
        call(
            defaults(),
            digest_request("md5=:AAAA:, sha=:AAAA:", BODY, true)
        )
        .await,
        refused("malformed content-digest header: no sha-256 or sha-512 digest")
    );
    assert_eq!(
        call(defaults(), digest_request("sha-256=AAAA", BODY, true)).await,
        refused("malformed content-digest header: expected byte sequences")
    );
    // RFC 9530's own example (section 2, Appendix B.1): the same JSON with a newline.
    let rfc9530 = b"{\"hello\": \"world\"}\n";
    assert_eq!(
        call(
            defaults(),
            digest_request(
                "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
                rfc9530,
                true
            )
        )
        .await,
        ok()
    );
    assert_eq!(
        call(defaults(), digest_request(SHA256, rfc9530, true)).await,
        refused("Content-Digest does not match the body")
    );
    // The digest of an empty body.
    assert_eq!(
        call(defaults(), digest_request(SHA256_EMPTY, b"", false)).await,
        ok()
    );
    assert_eq!(
        call(defaults(), digest_request(SHA256_EMPTY, b"", true)).await,
        ok()
    );
    assert_eq!(
        call(defaults(), digest_request(SHA256, b"", false)).await,
        refused("Content-Digest does not match the body")
    );
}

/// The `Want-Content-Digest` of the layer's answer to `req` (RFC 9530 section 4), beside what
/// [`call`] says of it.
async fn want_digest(
    layer: SignatureBuilder,
    req: Request<Full<Bytes>>,
) -> (Option<String>, (StatusCode, String)) {
    let (head, body) = answer(layer, req).await.into_parts();
    let want = head
        .headers
        .get("want-content-digest")
        .map(|v| v.to_str().unwrap().to_owned());
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    (want, (head.status, detail))
}

/// A `401` about the digest: its detail, with the digests the layer wants.
fn refused_wanting_digest(detail: &str) -> (Option<String>, (StatusCode, String)) {
    (Some("sha-256=10, sha-512=10".to_owned()), refused(detail))
}

/// A refusal about the body's digest says which digests the layer checks (RFC 9530 section
/// 4: `Want-Content-Digest` in a response states the preference for future requests); other
/// refusals and acceptances do not carry it.
#[tokio::test]
async fn a_refusal_about_the_digest_carries_want_content_digest() {
    let one_wrong = format!("{SHA256}, sha-512=:AAAA:");
    assert_eq!(
        want_digest(defaults(), digest_request(&one_wrong, BODY, true)).await,
        refused_wanting_digest("Content-Digest does not match the body")
    );
    assert_eq!(
        want_digest(defaults(), digest_request("md5=:AAAA:", BODY, true)).await,
        refused_wanting_digest("malformed content-digest header: no sha-256 or sha-512 digest")
    );
    // A body whose signature does not cover its digest, under the default policy.
    let req = Request::post("/p")
        .header("host", "example.com")
        .header("content-length", BODY.len().to_string());
    let req = sign(
        req,
        "sig1",
        r#""@method" "@authority" "@path""#,
        P,
        &[
            r#""@method": POST"#,
            r#""@authority": example.com"#,
            r#""@path": /p"#,
        ],
    );
    assert_eq!(
        want_digest(
            defaults(),
            req.body(Full::new(Bytes::from_static(BODY))).unwrap()
        )
        .await,
        refused_wanting_digest("signature does not cover content-digest")
    );
    // A covered digest that is not sent.
    let req = Request::post("/p").header("host", "example.com");
    let req = sign(
        req,
        "sig1",
        r#""content-digest""#,
        P,
        &[r#""content-digest": x"#],
    );
    assert_eq!(
        want_digest(
            bare(),
            req.body(Full::new(Bytes::from_static(BODY))).unwrap()
        )
        .await,
        refused_wanting_digest("covered component \"content-digest\" is absent")
    );
    // A required `"content-digest";sf` not covered (the identifier with a parameter).
    let req = Request::post("/p")
        .header("host", "example.com")
        .header("content-length", BODY.len().to_string());
    let req = sign(req, "sig1", r#""@method""#, P, &[r#""@method": POST"#]);
    assert_eq!(
        want_digest(
            bare().require_components([r#""content-digest";sf"#]),
            req.body(Full::new(Bytes::from_static(BODY))).unwrap()
        )
        .await,
        refused_wanting_digest(r#"signature does not cover "content-digest";sf"#)
    );
    // Refusals about something else, and an accepted request, say nothing of digests.
    let req = Request::get("/x");
    let req = sign(req, "sig1", r#""@method""#, P, &[r#""@method": POST"#]);
    assert_eq!(
        want_digest(bare(), empty(req)).await,
        (None, refused(NO_MATCH))
    );
    assert_eq!(
        want_digest(defaults(), digest_request(SHA256, BODY, true)).await,
        (None, ok())
    );
}

#[tokio::test]
async fn a_body_must_be_covered_by_its_digest() {
    let list = r#""@method" "@authority" "@path""#;
    let lines = [
        r#""@method": POST"#,
        r#""@authority": example.com"#,
        r#""@path": /p"#,
    ];
    let req = |content_length: bool| {
        let mut req = Request::post("/p")
            .header("host", "example.com")
            .header("content-digest", SHA256);
        if content_length {
            req = req.header("content-length", BODY.len().to_string());
        }
        sign(req, "sig1", list, P, &lines)
            .body(Full::new(Bytes::from_static(BODY)))
            .unwrap()
    };
    // Announced by Content-Length (refused before the body is read) or not.
    for content_length in [true, false] {
        assert_eq!(
            call(defaults(), req(content_length)).await,
            refused("signature does not cover content-digest"),
            "{content_length}"
        );
    }
    // Without a body, the digest is not required.
    let req = sign(
        Request::get("/p").header("host", "example.com"),
        "sig1",
        list,
        P,
        &[r#""@method": GET"#, lines[1], lines[2]],
    );
    assert_eq!(call(defaults(), empty(req)).await, ok());
    // Covered but absent.
    let req = sign(
        Request::post("/p").header("host", "example.com"),
        "sig1",
        r#""@method" "@authority" "@path" "content-digest""#,
        P,
        &[
            r#""@method": POST"#,
            lines[1],
            lines[2],
            r#""content-digest": "#,
        ],
    )
    .body(Full::new(Bytes::from_static(BODY)))
    .unwrap();
    assert_eq!(
        call(defaults(), req).await,
        refused(r#"covered component "content-digest" is absent"#)
    );
}

/// The work a request can ask for is bounded: the signatures together cover at most 64
/// components, a structured field read with `sf` or `key=` is at most 8 KiB, and a signature
/// base at most 64 KiB; past any, a `401` before any key is used.
#[tokio::test]
async fn the_components_covered_and_the_base_are_bounded() {
    // `n` signatures of 5 components each, none of which verifies.
    let signed_by = |n: usize| {
        let list = r#""@method" "@authority" "@path" "@query" "@target-uri""#;
        let inputs: Vec<String> = (0..n).map(|i| format!("s{i}=({list}){P}")).collect();
        let sigs: Vec<String> = (0..n).map(|i| format!("s{i}=:AAAA:")).collect();
        Request::get("/x")
            .header("host", "example.com")
            .header("signature-input", inputs.join(", "))
            .header("signature", sigs.join(", "))
    };
    // 16 of them, 80 components.
    assert_eq!(
        call(bare(), empty(signed_by(16))).await,
        refused("malformed signature-input header: too many covered components")
    );
    // 12 of them, 60 components: read (and no signature matches).
    assert_eq!(call(bare(), empty(signed_by(12))).await, refused(NO_MATCH));

    // A dictionary field over 8 KiB, covered by a key.
    let big: Vec<String> = (0..1000).map(|i| format!("k{i}=\"{i:08}\"")).collect();
    let big = big.join(", ");
    assert!(big.len() > 8 * 1024);
    let req = Request::get("/x").header("x-dict", &big);
    let req = sign(
        req,
        "sig1",
        r#""x-dict";key="k1""#,
        P,
        &[r#""x-dict";key="k1": "00000001""#],
    );
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: a structured field covered is too long")
    );
    // The same field under 8 KiB: read.
    let small: Vec<String> = (0..30).map(|i| format!("k{i}=\"{i:08}\"")).collect();
    let req = Request::get("/x").header("x-dict", small.join(", "));
    let req = sign(
        req,
        "sig1",
        r#""x-dict";key="k1""#,
        P,
        &[r#""x-dict";key="k1": "00000001""#],
    );
    assert_eq!(call(bare(), empty(req)).await, ok());

    // A base over 64 KiB: a 70 KB field covered.
    let huge = "a".repeat(70 * 1024);
    let req = Request::get("/x").header("x-huge", &huge);
    let line = format!(r#""x-huge": {huge}"#);
    let req = sign(req, "sig1", r#""x-huge""#, P, &[&line]);
    assert_eq!(
        call(bare(), empty(req)).await,
        refused("malformed signature-input header: the signature base is too long")
    );
}
