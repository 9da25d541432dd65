//! `generic_hmac` as a declarative template: signature lists, timestamp
//! formats, URL-safe base64, `{method}` and `{url}`.

use super::*;
use crate::verify::generic::{Spec, TimestampFormat};

/// `X-Sig: t=<ts>;s=<base64url>[;s=..]` over `{method} {url}|{timestamp}|{body}`.
fn list_spec(format: TimestampFormat) -> Spec<'static> {
    Spec {
        header: "X-Sig",
        encoding: Encoding::Base64url,
        separator: Some(";"),
        item_prefix: Some("s="),
        timestamp_item: Some("t="),
        timestamp_format: format,
        signed_payload: "{method} {url}|{timestamp}|{body}",
        ..Spec::BODY
    }
}

fn list_verifier(format: TimestampFormat) -> Verifier {
    let mut r = route(
        RouteKind::GenericHmac,
        &[GENERIC_SECRET],
        Some(list_spec(format).build().unwrap()),
    );
    r.public_url = Some("https://hooks.example.com/in".into());
    Verifier::new(&r)
}

fn url_sig(key: &[u8], ts: &str, url: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(
        key,
        &[b"POST ", url.as_bytes(), b"|", ts.as_bytes(), b"|", body],
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
}

/// Verifies `headers` for a POST to `/hooks/generic_hmac?<query>`.
fn verify_at(v: &Verifier, query: &str, h: &HeaderMap, now: i64) -> Result<Claims, Error> {
    let uri: http::Uri = format!("/hooks/generic_hmac{query}").parse().unwrap();
    let head = Head {
        method: &http::Method::POST,
        uri: &uri,
        headers: h,
    };
    v.0.claims(head, GENERIC_BODY, now)
}

#[test]
fn list_scheme_with_unix_ms_and_url() {
    let v = list_verifier(TimestampFormat::UnixMs);
    let ts = (NOW * 1000 + 250).to_string();
    let url = "https://hooks.example.com/in?a=1&b=2";
    let good = url_sig(GENERIC_SECRET, &ts, url, GENERIC_BODY);
    let bad = url_sig(WRONG_SECRET, &ts, url, GENERIC_BODY);
    let mut h = HeaderMap::new();
    set(&mut h, "X-Sig", &format!("s={bad};t={ts};s={good}"));
    let got = verify_at(&v, "?a=1&b=2", &h, NOW).unwrap();
    assert_eq!((got.secret_slot, got.id_signed), (0, true));
    // Another query is another URL.
    assert_eq!(verify_at(&v, "?a=1", &h, NOW), Err(Error::BadSignature));
    // Stale and future, in milliseconds.
    assert_eq!(
        verify_at(&v, "?a=1&b=2", &h, NOW + TOLERANCE + 1),
        Err(Error::Stale)
    );
    assert_eq!(
        verify_at(&v, "?a=1&b=2", &h, NOW - TOLERANCE - 1),
        Err(Error::Future)
    );
}

#[test]
fn list_scheme_with_rfc3339() {
    let v = list_verifier(TimestampFormat::Rfc3339);
    let ts = "2025-03-02T16:45:09Z";
    let url = "https://hooks.example.com/in";
    let mut h = HeaderMap::new();
    let sig = url_sig(GENERIC_SECRET, ts, url, GENERIC_BODY);
    set(&mut h, "X-Sig", &format!("t={ts};s={sig}"));
    assert!(verify_at(&v, "", &h, NOW).is_ok());
    let ts = "02/03/2025 16:45:09";
    let sig = url_sig(GENERIC_SECRET, ts, url, GENERIC_BODY);
    set(&mut h, "X-Sig", &format!("t={ts};s={sig}"));
    assert_eq!(
        verify_at(&v, "", &h, NOW),
        Err(Error::MalformedHeader("signature"))
    );
}

#[test]
fn list_scheme_malformed() {
    let v = list_verifier(TimestampFormat::Unix);
    let mut h = HeaderMap::new();
    for bad in ["t=1", "s=AAAA", "t=1;t=1;s=AAAA", "t=1;s=!!", ""] {
        set(&mut h, "X-Sig", bad);
        assert_eq!(
            verify_at(&v, "", &h, NOW),
            Err(Error::MalformedHeader("signature")),
            "{bad}"
        );
    }
}

#[test]
fn list_scheme_sign_round_trip() {
    for format in [
        TimestampFormat::Unix,
        TimestampFormat::UnixMs,
        TimestampFormat::Rfc3339,
    ] {
        let v = list_verifier(format);
        let draft = crate::verify::sign::Draft {
            body: GENERIC_BODY,
            event: None,
            id: None,
            now: NOW,
            private_key: None,
        };
        let s = crate::verify::sign::sign(&v.0.route, &draft).unwrap();
        assert_eq!(s.url, "https://hooks.example.com/in");
        let mut h = HeaderMap::new();
        for (k, val) in &s.headers {
            set(&mut h, k, val);
        }
        assert!(verify_at(&v, "", &h, NOW).is_ok(), "{format:?}");
    }
}

#[test]
fn every_preset_builds() {
    use crate::verify::*;
    for spec in [
        paddle::SPEC,
        calendly::SPEC,
        pagerduty::SPEC,
        typeform::SPEC,
        intercom::SPEC,
        bitbucket::SPEC,
        linear::SPEC,
    ] {
        assert!(generic::preset(&spec).is_some(), "{}", spec.header);
    }
}
