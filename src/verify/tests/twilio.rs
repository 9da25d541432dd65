//! Twilio: signatures computed with `hmac`/`sha1` directly, and the known
//! answers of twilio-python's `tests/unit/test_request_validator.py`
//! (Auth Token `12345`).

use super::*;

/// twilio-python's test token and URL.
const SDK_TOKEN: &[u8] = b"12345";
const SDK_URL: &str = "https://mycompany.com/myapp.php";
const SDK_QUERY: &str = "foo=1&bar=2";
const SDK_JSON: &[u8] = br#"{"property": "value", "boolean": true}"#;
const TOKEN: &[u8] = b"dev-twilio-auth-token";
const FORM_BODY: &[u8] = include_bytes!("../../../fixtures/twilio/message_status.form");
const FORM_HEADERS: &str = include_str!("../../../fixtures/twilio/message_status.headers.json");
const PUBLIC_URL: &str = "https://hooks.example.com/hooks/twilio";

/// What `route`'s verifier proves of a request to `target` (path and
/// query) by `method`.
pub(super) fn claims_at(
    route: &Route,
    method: &str,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Claims, Error> {
    let uri: http::Uri = target.parse().unwrap();
    let method = http::Method::from_bytes(method.as_bytes()).unwrap();
    let head = Head {
        method: &method,
        uri: &uri,
        headers,
    };
    super::super::Verifier::new(route).claims(head, body, now)
}

/// A route of `kind` with `public_url` and `secrets`.
pub(super) fn url_route(kind: RouteKind, url: &str, secrets: &[&[u8]]) -> Route {
    Route {
        public_url: Some(url.to_owned()),
        ..route(kind, secrets, None)
    }
}

/// Twilio's string to sign: URL, then sorted distinct `name`+`value`.
fn signed_string(url: &str, params: &[(&str, &str)]) -> String {
    let mut p = params.to_vec();
    p.sort();
    p.dedup();
    p.iter().fold(url.to_owned(), |s, (k, v)| s + k + v)
}

fn form_headers(key: &[u8], url: &str, body: &[u8]) -> HeaderMap {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut h = fixture_headers(FORM_HEADERS);
    let sig = hmac_sha1(key, &[signed_string(url, &refs).as_bytes()]);
    set(&mut h, "X-Twilio-Signature", &b64(&sig));
    h
}

fn sdk_form() -> Vec<u8> {
    b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309".to_vec()
}

#[test]
fn sdk_known_answers_verify() {
    // test_compute_signature / test_validation_adds_port_on_https
    let target = format!("/hooks/twilio?{SDK_QUERY}");
    for (url, sig) in [
        (SDK_URL.to_owned(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (SDK_URL.to_owned(), "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (
            SDK_URL.replace(".com", ".com:1234"),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        (
            SDK_URL.replace("https", "http"),
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        ),
    ] {
        let r = url_route(RouteKind::Twilio, &url, &[SDK_TOKEN]);
        let mut h = fixture_headers(FORM_HEADERS);
        h.remove("i-twilio-idempotency-token");
        set(&mut h, "X-Twilio-Signature", sig);
        let body = sdk_form();
        let c = claims_at(&r, "POST", &target, &h, &body, NOW).unwrap();
        assert_eq!(c, verified(&sha256_id(&body), None, 0), "{url} {sig}");
    }
}

#[test]
fn sdk_json_body_bound_by_body_sha256() {
    // test_validation_of_body_succeeds
    let hash = hex::encode(sha2::Sha256::digest(SDK_JSON));
    let target = format!("/hooks/twilio?{SDK_QUERY}&bodySHA256={hash}");
    let r = url_route(RouteKind::Twilio, SDK_URL, &[SDK_TOKEN]);
    let mut h = HeaderMap::new();
    set(&mut h, "Content-Type", "application/json");
    set(&mut h, "X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4=");
    assert!(claims_at(&r, "POST", &target, &h, SDK_JSON, NOW).is_ok());
    let other = br#"{"property": "value", "boolean": false}"#;
    assert_eq!(
        claims_at(&r, "POST", &target, &h, other, NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn sdk_duplicate_values_sorted_and_deduplicated() {
    // test_compute_signature_duplicate_multi_dict
    let target = format!("/hooks/twilio?{SDK_QUERY}");
    let r = url_route(RouteKind::Twilio, SDK_URL, &[SDK_TOKEN]);
    let mut h = fixture_headers(FORM_HEADERS);
    set(&mut h, "X-Twilio-Signature", "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    let body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
    assert!(claims_at(&r, "POST", &target, &h, body, NOW).is_ok());
}

#[test]
fn status_callback_keyed_by_idempotency_token_named_by_status() {
    let r = url_route(RouteKind::Twilio, PUBLIC_URL, &[TOKEN]);
    let h = form_headers(TOKEN, PUBLIC_URL, FORM_BODY);
    let c = claims_at(&r, "POST", "/hooks/twilio", &h, FORM_BODY, NOW).unwrap();
    assert_eq!(
        c,
        unsigned(verified(
            "7a2f1d8e-3c4b-4e5f-9a6b-0c1d2e3f4a5b",
            Some("delivered"),
            0
        ))
    );
}

#[test]
fn tampered_wrong_token_missing_header_refused() {
    let r = url_route(RouteKind::Twilio, PUBLIC_URL, &[TOKEN]);
    let h = form_headers(TOKEN, PUBLIC_URL, FORM_BODY);
    let bad = String::from_utf8(FORM_BODY.to_vec())
        .unwrap()
        .replace("delivered", "failed");
    let t = "/hooks/twilio";
    assert_eq!(
        claims_at(&r, "POST", t, &h, bad.as_bytes(), NOW),
        Err(Error::BadSignature)
    );
    let with_query = "/hooks/twilio?x=1";
    assert_eq!(
        claims_at(&r, "POST", with_query, &h, FORM_BODY, NOW),
        Err(Error::BadSignature)
    );
    let h2 = form_headers(WRONG_SECRET, PUBLIC_URL, FORM_BODY);
    assert_eq!(
        claims_at(&r, "POST", t, &h2, FORM_BODY, NOW),
        Err(Error::BadSignature)
    );
    let mut m = h.clone();
    m.remove("x-twilio-signature");
    assert_eq!(
        claims_at(&r, "POST", t, &m, FORM_BODY, NOW),
        Err(Error::MissingHeader("x-twilio-signature"))
    );
    let mut m = h;
    set(&mut m, "X-Twilio-Signature", &"A".repeat(10_000));
    assert_eq!(
        claims_at(&r, "POST", t, &m, FORM_BODY, NOW),
        Err(Error::MalformedHeader("x-twilio-signature"))
    );
}

#[test]
fn unsigned_body_kinds_refused() {
    let r = url_route(RouteKind::Twilio, PUBLIC_URL, &[TOKEN]);
    let mut h = form_headers(TOKEN, PUBLIC_URL, b"");
    set(&mut h, "Content-Type", "application/json");
    assert_eq!(
        claims_at(&r, "POST", "/hooks/twilio", &h, b"{}", NOW),
        Err(Error::MalformedHeader("content-type"))
    );
}

#[test]
fn rotated_token_verifies_in_slot_1() {
    let r = url_route(RouteKind::Twilio, PUBLIC_URL, &[WRONG_SECRET, TOKEN]);
    let h = form_headers(TOKEN, PUBLIC_URL, FORM_BODY);
    let c = claims_at(&r, "POST", "/hooks/twilio", &h, FORM_BODY, NOW).unwrap();
    assert_eq!(c.secret_slot, 1);
}

#[test]
fn sign_round_trips_form_and_json() {
    let r = url_route(RouteKind::Twilio, PUBLIC_URL, &[TOKEN]);
    for body in [FORM_BODY, SDK_JSON] {
        let draft = sign::Draft {
            body,
            event: None,
            id: Some("tok-1"),
            now: NOW,
            private_key: None,
        };
        let s = sign::sign(&r, &draft).unwrap();
        let mut h = HeaderMap::new();
        for (k, v) in &s.headers {
            set(&mut h, k, v);
        }
        let target = s.url.strip_prefix("https://hooks.example.com").unwrap();
        let c = claims_at(&r, "POST", target, &h, &s.body, NOW).unwrap();
        assert_eq!(c.id, "tok-1");
    }
}

#[test]
fn hostile_form_bodies_are_bounded_by_the_body_cap() {
    // 100,000 parameters (about 0.6 MB, under the default body cap): one
    // sort and one HMAC per URL form, then a plain mismatch.
    let r = url_route(RouteKind::Twilio, PUBLIC_URL, &[TOKEN]);
    let body: Vec<u8> = (0..100_000)
        .map(|i| format!("p{}=\u{e9}&", i % 977))
        .collect::<String>()
        .into_bytes();
    let h = form_headers(WRONG_SECRET, PUBLIC_URL, b"x=1");
    let start = std::time::Instant::now();
    assert_eq!(
        claims_at(&r, "POST", "/hooks/twilio", &h, &body, NOW),
        Err(Error::BadSignature)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let h = form_headers(TOKEN, PUBLIC_URL, &body);
    assert!(claims_at(&r, "POST", "/hooks/twilio", &h, &body, NOW).is_ok());
}
