//! Okta event hooks.

use super::meta::{call, sign_then_verify};
use super::*;

const OKTA_BODY: &[u8] = include_bytes!("../../../fixtures/okta/user.session.start.json");
const OKTA_HEADERS: &str = include_str!("../../../fixtures/okta/user.session.start.headers.json");
const OKTA_SECRET: &[u8] = b"dev-okta-event-hook-secret";
const OKTA_EVENT_ID: &str = "b5a188b9-5ece-4636-b041-482ffda96311";

fn okta_headers(name: &str, secret: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(OKTA_HEADERS);
    set(&mut h, name, std::str::from_utf8(secret).unwrap());
    h
}

fn okta_route(secrets: &[&[u8]], header: Option<&str>) -> Route {
    let mut r = route(RouteKind::Okta, secrets, None);
    r.secret_header = header.map(|h| HeaderName::from_bytes(h.as_bytes()).unwrap());
    r
}

#[test]
fn okta_event_verifies() {
    let v = Verifier::new(&okta_route(&[OKTA_SECRET], None));
    let h = okta_headers("Authorization", OKTA_SECRET);
    assert_eq!(
        v.verify(&h, OKTA_BODY, NOW).unwrap(),
        unsigned(verified(OKTA_EVENT_ID, Some("user.session.start"), 0))
    );
}

#[test]
fn okta_configured_header() {
    let v = Verifier::new(&okta_route(&[OKTA_SECRET], Some("X-Okta-Secret")));
    let h = okta_headers("X-Okta-Secret", OKTA_SECRET);
    assert!(v.verify(&h, OKTA_BODY, NOW).is_ok());
    let h = okta_headers("Authorization", OKTA_SECRET);
    assert_eq!(
        v.verify(&h, OKTA_BODY, NOW),
        Err(Error::MissingHeader("okta secret header"))
    );
}

#[test]
fn okta_refusals() {
    let v = Verifier::new(&okta_route(&[OKTA_SECRET], None));
    for bad in [
        &b"not-the-secret"[..],
        b"dev-okta-event-hook-secre",
        b"dev-okta-event-hook-secret ",
        b"Bearer dev-okta-event-hook-secret",
    ] {
        let h = okta_headers("Authorization", bad);
        assert_eq!(v.verify(&h, OKTA_BODY, NOW), Err(Error::BadSignature));
    }
    let h = fixture_headers(OKTA_HEADERS);
    assert_eq!(
        v.verify(&h, OKTA_BODY, NOW),
        Err(Error::MissingHeader("authorization"))
    );
    let h = okta_headers("Authorization", OKTA_SECRET);
    assert_eq!(v.verify(&h, NOT_JSON, NOW), Err(Error::Body));
    let body = br#"{"data":{"events":[]}}"#;
    assert_eq!(
        v.verify(&h, body, NOW).unwrap(),
        unsigned(verified(&sha256_id(body), None, 0))
    );
}

#[test]
fn okta_rotation_reports_slot() {
    let v = Verifier::new(&okta_route(&[b"old-okta", OKTA_SECRET], None));
    let h = okta_headers("Authorization", OKTA_SECRET);
    assert_eq!(v.verify(&h, OKTA_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn okta_verification_challenge() {
    let v = Verifier::new(&okta_route(&[OKTA_SECRET], None));
    let mut h = okta_headers("Authorization", OKTA_SECRET);
    set(
        &mut h,
        "X-Okta-Verification-Challenge",
        "2rM8LPY6lKMzKbNNLtJUu0MwDvBvPsFBDVBAtVJW",
    );
    let got = call(&v, http::Method::GET, "/hooks/okta", &h, b"", NOW).unwrap();
    assert_eq!(
        got.handshake,
        Some(Handshake::Json(
            r#"{"verification":"2rM8LPY6lKMzKbNNLtJUu0MwDvBvPsFBDVBAtVJW"}"#.into()
        ))
    );
    // The auth header is checked on the GET too.
    let mut bad = okta_headers("Authorization", WRONG_SECRET);
    set(&mut bad, "X-Okta-Verification-Challenge", "abc");
    assert_eq!(
        call(&v, http::Method::GET, "/hooks/okta", &bad, b"", NOW),
        Err(Error::BadSignature)
    );
    let h = okta_headers("Authorization", OKTA_SECRET);
    assert_eq!(
        call(&v, http::Method::GET, "/hooks/okta", &h, b"", NOW),
        Err(Error::MissingHeader("x-okta-verification-challenge"))
    );
    let challenge = |c: &str| {
        let mut h = okta_headers("Authorization", OKTA_SECRET);
        set(&mut h, "X-Okta-Verification-Challenge", c);
        call(&v, http::Method::GET, "/hooks/okta", &h, b"", NOW)
    };
    for c in ["a b".to_string(), "c".repeat(257)] {
        assert_eq!(
            challenge(&c),
            Err(Error::MalformedHeader("x-okta-verification-challenge"))
        );
    }
    // JSON-escaped, not refused.
    assert_eq!(
        challenge("\"x").unwrap().handshake,
        Some(Handshake::Json(r#"{"verification":"\"x"}"#.into()))
    );
}

#[test]
fn okta_sign_round_trip() {
    let r = okta_route(&[OKTA_SECRET], Some("X-Okta-Secret"));
    assert_eq!(
        sign_then_verify(&r, OKTA_BODY, None),
        unsigned(verified(OKTA_EVENT_ID, Some("user.session.start"), 0))
    );
}
