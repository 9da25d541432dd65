//! HubSpot v3: signatures computed with `hmac`/`sha2` directly over
//! `{METHOD}{URI}{body}{timestamp ms}`.

use super::twilio::{claims_at, url_route};
use super::*;

const SECRET: &[u8] = b"dev-hubspot-client-secret";
const BODY: &[u8] = include_bytes!("../../../fixtures/hubspot/contact_creation.json");
const HEADERS: &str = include_str!("../../../fixtures/hubspot/contact_creation.headers.json");
const PUBLIC_URL: &str = "https://hooks.example.com/hooks/hubspot";

/// Headers of a request HubSpot signed over `uri` at `ts_ms`.
fn headers(key: &[u8], method: &str, uri: &str, body: &[u8], ts_ms: i64) -> HeaderMap {
    let ts = ts_ms.to_string();
    let sig = hmac_sha256(
        key,
        &[method.as_bytes(), uri.as_bytes(), body, ts.as_bytes()],
    );
    let mut h = fixture_headers(HEADERS);
    set(&mut h, "X-HubSpot-Signature-v3", &b64(&sig));
    set(&mut h, "X-HubSpot-Request-Timestamp", &ts);
    h
}

fn hubspot(secrets: &[&[u8]]) -> Route {
    url_route(RouteKind::Hubspot, PUBLIC_URL, secrets)
}

#[test]
fn one_event_keyed_by_event_id() {
    let h = headers(SECRET, "POST", PUBLIC_URL, BODY, NOW * 1000 + 123);
    let c = claims_at(&hubspot(&[SECRET]), "POST", "/hooks/hubspot", &h, BODY, NOW);
    assert_eq!(c.unwrap(), verified("1", Some("contact.creation"), 0));
}

#[test]
fn several_events_keyed_by_body_hash() {
    let body = br#"[{"eventId":1,"subscriptionType":"contact.creation"},{"eventId":2,"subscriptionType":"contact.creation"}]"#;
    let h = headers(SECRET, "POST", PUBLIC_URL, body, NOW * 1000);
    let c = claims_at(&hubspot(&[SECRET]), "POST", "/hooks/hubspot", &h, body, NOW);
    assert_eq!(
        c.unwrap(),
        verified(&sha256_id(body), Some("contact.creation"), 0)
    );
    let mixed = br#"[{"eventId":1,"subscriptionType":"contact.creation"},{"eventId":2,"subscriptionType":"deal.creation"}]"#;
    let h = headers(SECRET, "POST", PUBLIC_URL, mixed, NOW * 1000);
    let c = claims_at(
        &hubspot(&[SECRET]),
        "POST",
        "/hooks/hubspot",
        &h,
        mixed,
        NOW,
    );
    assert_eq!(c.unwrap(), verified(&sha256_id(mixed), None, 0));
}

#[test]
fn query_is_signed_with_the_listed_escapes_decoded() {
    let target = "/hooks/hubspot?next=%2Fa%3Ab%40c&name=x%20y%2Az";
    // %2F %3A %40 %2A decoded; %20 is not in the list and stays.
    let signed = format!("{PUBLIC_URL}?next=/a:b@c&name=x%20y*z");
    let h = headers(SECRET, "POST", &signed, BODY, NOW * 1000);
    assert!(claims_at(&hubspot(&[SECRET]), "POST", target, &h, BODY, NOW).is_ok());
    // The SDKs' form (nothing decoded) is accepted too.
    let raw = format!("{PUBLIC_URL}?next=%2Fa%3Ab%40c&name=x%20y%2Az");
    let h = headers(SECRET, "POST", &raw, BODY, NOW * 1000);
    assert!(claims_at(&hubspot(&[SECRET]), "POST", target, &h, BODY, NOW).is_ok());
    // Another query is another URI.
    let h = headers(SECRET, "POST", &signed, BODY, NOW * 1000);
    let other = "/hooks/hubspot?next=%2Fa%3Ab%40d&name=x%20y%2Az";
    assert_eq!(
        claims_at(&hubspot(&[SECRET]), "POST", other, &h, BODY, NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn method_is_signed() {
    let h = headers(SECRET, "PUT", PUBLIC_URL, BODY, NOW * 1000);
    assert_eq!(
        claims_at(&hubspot(&[SECRET]), "POST", "/hooks/hubspot", &h, BODY, NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn tampered_wrong_secret_missing_headers() {
    let r = hubspot(&[SECRET]);
    let t = "/hooks/hubspot";
    let h = headers(SECRET, "POST", PUBLIC_URL, BODY, NOW * 1000);
    assert_eq!(
        claims_at(&r, "POST", t, &h, &tampered(BODY), NOW),
        Err(Error::BadSignature)
    );
    let h2 = headers(WRONG_SECRET, "POST", PUBLIC_URL, BODY, NOW * 1000);
    assert_eq!(
        claims_at(&r, "POST", t, &h2, BODY, NOW),
        Err(Error::BadSignature)
    );
    for name in ["x-hubspot-signature-v3", "x-hubspot-request-timestamp"] {
        let mut m = h.clone();
        m.remove(name);
        assert!(matches!(
            claims_at(&r, "POST", t, &m, BODY, NOW),
            Err(Error::MissingHeader(_))
        ));
    }
    let mut m = h;
    set(
        &mut m,
        "X-HubSpot-Request-Timestamp",
        "12345678901234567890",
    );
    assert_eq!(
        claims_at(&r, "POST", t, &m, BODY, NOW),
        Err(Error::MalformedHeader("x-hubspot-request-timestamp"))
    );
}

#[test]
fn stale_and_future_refused() {
    let r = hubspot(&[SECRET]);
    let t = "/hooks/hubspot";
    let old = headers(
        SECRET,
        "POST",
        PUBLIC_URL,
        BODY,
        (NOW - TOLERANCE - 1) * 1000,
    );
    assert_eq!(claims_at(&r, "POST", t, &old, BODY, NOW), Err(Error::Stale));
    let new = headers(
        SECRET,
        "POST",
        PUBLIC_URL,
        BODY,
        (NOW + TOLERANCE + 1) * 1000,
    );
    assert_eq!(
        claims_at(&r, "POST", t, &new, BODY, NOW),
        Err(Error::Future)
    );
}

#[test]
fn rotated_secret_verifies_in_slot_1() {
    let h = headers(SECRET, "POST", PUBLIC_URL, BODY, NOW * 1000);
    let r = hubspot(&[WRONG_SECRET, SECRET]);
    let c = claims_at(&r, "POST", "/hooks/hubspot", &h, BODY, NOW).unwrap();
    assert_eq!(c.secret_slot, 1);
}

#[test]
fn signed_non_array_is_body_error() {
    let body = br#"{"eventId":1}"#;
    let h = headers(SECRET, "POST", PUBLIC_URL, body, NOW * 1000);
    assert_eq!(
        claims_at(&hubspot(&[SECRET]), "POST", "/hooks/hubspot", &h, body, NOW),
        Err(Error::Body)
    );
}

#[test]
fn sign_round_trips() {
    let r = hubspot(&[SECRET]);
    let draft = sign::Draft {
        body: BODY,
        event: None,
        id: None,
        now: NOW,
        private_key: None,
    };
    let s = sign::sign(&r, &draft).unwrap();
    assert_eq!(s.url, PUBLIC_URL);
    let mut h = HeaderMap::new();
    for (k, v) in &s.headers {
        set(&mut h, k, v);
    }
    let c = claims_at(&r, "POST", "/hooks/hubspot", &h, &s.body, NOW).unwrap();
    assert_eq!(c.id, "1");
}
