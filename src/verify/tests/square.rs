//! Square: signatures computed with `hmac`/`sha2` directly over
//! `{notification_url}{body}`.

use super::twilio::{claims_at, url_route};
use super::*;

const KEY: &[u8] = b"dev-square-signature-key";
const BODY: &[u8] = include_bytes!("../../../fixtures/square/payment_created.json");
const HEADERS: &str = include_str!("../../../fixtures/square/payment_created.headers.json");
const PUBLIC_URL: &str = "https://hooks.example.com/hooks/square";

fn headers(key: &[u8], url: &str, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(HEADERS);
    let sig = hmac_sha256(key, &[url.as_bytes(), body]);
    set(&mut h, "x-square-hmacsha256-signature", &b64(&sig));
    h
}

fn square(secrets: &[&[u8]]) -> Route {
    url_route(RouteKind::Square, PUBLIC_URL, secrets)
}

#[test]
fn event_keyed_by_event_id() {
    let h = headers(KEY, PUBLIC_URL, BODY);
    let c = claims_at(&square(&[KEY]), "POST", "/hooks/square", &h, BODY, NOW);
    assert_eq!(
        c.unwrap(),
        verified(
            "13b867cf-db3d-4b1c-90b6-2f32a9d78124",
            Some("payment.created"),
            0
        )
    );
}

#[test]
fn the_configured_url_is_signed_not_the_request() {
    let h = headers(KEY, PUBLIC_URL, BODY);
    // A received query changes nothing: the subscription URL is signed.
    let c = claims_at(&square(&[KEY]), "POST", "/hooks/square?x=1", &h, BODY, NOW);
    assert!(c.is_ok());
    let h = headers(KEY, "https://hooks.example.com/other", BODY);
    assert_eq!(
        claims_at(&square(&[KEY]), "POST", "/hooks/square", &h, BODY, NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn tampered_wrong_key_missing_header_empty_body() {
    let r = square(&[KEY]);
    let t = "/hooks/square";
    let h = headers(KEY, PUBLIC_URL, BODY);
    assert_eq!(
        claims_at(&r, "POST", t, &h, &tampered(BODY), NOW),
        Err(Error::BadSignature)
    );
    let h2 = headers(WRONG_SECRET, PUBLIC_URL, BODY);
    assert_eq!(
        claims_at(&r, "POST", t, &h2, BODY, NOW),
        Err(Error::BadSignature)
    );
    let mut m = h.clone();
    m.remove("x-square-hmacsha256-signature");
    assert_eq!(
        claims_at(&r, "POST", t, &m, BODY, NOW),
        Err(Error::MissingHeader("x-square-hmacsha256-signature"))
    );
    let e = headers(KEY, PUBLIC_URL, b"");
    assert_eq!(
        claims_at(&r, "POST", t, &e, b"", NOW),
        Err(Error::BadSignature)
    );
    let mut m = h;
    set(&mut m, "x-square-hmacsha256-signature", &"A".repeat(1000));
    assert_eq!(
        claims_at(&r, "POST", t, &m, BODY, NOW),
        Err(Error::MalformedHeader("x-square-hmacsha256-signature"))
    );
}

#[test]
fn rotated_key_verifies_in_slot_1() {
    let h = headers(KEY, PUBLIC_URL, BODY);
    let c = claims_at(
        &square(&[WRONG_SECRET, KEY]),
        "POST",
        "/hooks/square",
        &h,
        BODY,
        NOW,
    );
    assert_eq!(c.unwrap().secret_slot, 1);
}

#[test]
fn signed_non_json_is_body_error() {
    let h = headers(KEY, PUBLIC_URL, b"nope");
    assert_eq!(
        claims_at(&square(&[KEY]), "POST", "/hooks/square", &h, b"nope", NOW),
        Err(Error::Body)
    );
}

#[test]
fn sign_round_trips() {
    let r = square(&[KEY]);
    let draft = sign::Draft {
        body: BODY,
        event: None,
        id: None,
        now: NOW,
        private_key: None,
    };
    let s = sign::sign(&r, &draft).unwrap();
    let mut h = HeaderMap::new();
    for (k, v) in &s.headers {
        set(&mut h, k, v);
    }
    let c = claims_at(&r, "POST", "/hooks/square", &h, &s.body, NOW).unwrap();
    assert_eq!(c.id, "13b867cf-db3d-4b1c-90b6-2f32a9d78124");
}
