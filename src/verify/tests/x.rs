//! X (Account Activity).

use super::meta::{answered, call, get, sign_then_verify};
use super::*;

const X_BODY: &[u8] = include_bytes!("../../../fixtures/x/tweet_create_events.json");
const X_HEADERS: &str = include_str!("../../../fixtures/x/tweet_create_events.headers.json");
const X_SECRET: &[u8] = b"dev-x-consumer-secret";

fn x_headers(key: &[u8], body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(X_HEADERS);
    let sig = b64(&hmac_sha256(key, &[body]));
    set(
        &mut h,
        "x-twitter-webhooks-signature",
        &format!("sha256={sig}"),
    );
    h
}

#[test]
fn x_event_verifies() {
    let v = verifier(RouteKind::X, &[X_SECRET]);
    let h = x_headers(X_SECRET, X_BODY);
    assert_eq!(
        v.verify(&h, X_BODY, NOW).unwrap(),
        verified(&sha256_id(X_BODY), Some("tweet_create_events"), 0)
    );
}

#[test]
fn x_event_key_is_the_first_events_member() {
    let v = verifier(RouteKind::X, &[X_SECRET]);
    for (body, event) in [
        (
            &br#"{"for_user_id":"1","favorite_events":[],"follow_events":[]}"#[..],
            Some("favorite_events"),
        ),
        (br#"{"for_user_id":"1","user_event":{"revoke":{}}}"#, None),
        (
            br#"{"a":{"b_events":[]},"direct_message_events":[{}]}"#,
            Some("direct_message_events"),
        ),
    ] {
        let h = x_headers(X_SECRET, body);
        assert_eq!(v.verify(&h, body, NOW).unwrap().event.as_deref(), event);
    }
    let h = x_headers(X_SECRET, b"[1,2]");
    assert_eq!(v.verify(&h, b"[1,2]", NOW), Err(Error::Body));
    let h = x_headers(X_SECRET, NESTED_100K);
    assert_eq!(v.verify(&h, NESTED_100K, NOW), Err(Error::Body));
}

#[test]
fn x_refusals() {
    let v = verifier(RouteKind::X, &[X_SECRET]);
    let h = x_headers(X_SECRET, X_BODY);
    assert_eq!(
        v.verify(&h, &tampered(X_BODY), NOW),
        Err(Error::BadSignature)
    );
    let h = x_headers(WRONG_SECRET, X_BODY);
    assert_eq!(v.verify(&h, X_BODY, NOW), Err(Error::BadSignature));
    let mut h = x_headers(X_SECRET, X_BODY);
    h.remove("x-twitter-webhooks-signature");
    assert_eq!(
        v.verify(&h, X_BODY, NOW),
        Err(Error::MissingHeader("x-twitter-webhooks-signature"))
    );
    let hex_sig = hex::encode(hmac_sha256(X_SECRET, &[X_BODY]));
    let mut h = x_headers(X_SECRET, X_BODY);
    set(
        &mut h,
        "x-twitter-webhooks-signature",
        &format!("sha256={hex_sig}!"),
    );
    assert_eq!(
        v.verify(&h, X_BODY, NOW),
        Err(Error::MalformedHeader("x-twitter-webhooks-signature"))
    );
}

#[test]
fn x_rotation_reports_slot() {
    let v = verifier(RouteKind::X, &[b"old-x", X_SECRET]);
    let h = x_headers(X_SECRET, X_BODY);
    assert_eq!(v.verify(&h, X_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn x_crc_answers_with_the_first_usable_secret() {
    let want = |key: &[u8], token: &str| {
        let tag = b64(&hmac_sha256(key, &[token.as_bytes()]));
        answered(
            b"",
            Handshake::Json(format!("{{\"response_token\":\"sha256={tag}\"}}")),
        )
    };
    let v = verifier(RouteKind::X, &[X_SECRET, b"next-x"]);
    assert_eq!(
        get(&v, "/hooks/x?crc_token=a1b2c3d4e5").unwrap(),
        want(X_SECRET, "a1b2c3d4e5")
    );
    // An expired slot 0 gives way to slot 1.
    let mut r = route(RouteKind::X, &[X_SECRET, b"next-x"], None);
    r.secrets[0] = Secret::new(X_SECRET.to_vec())
        .with_not_after(time::OffsetDateTime::from_unix_timestamp(NOW - 1).unwrap());
    let v = Verifier::new(&r);
    assert_eq!(
        get(&v, "/hooks/x?crc_token=a1b2c3d4e5").unwrap(),
        want(b"next-x", "a1b2c3d4e5")
    );
}

#[test]
fn x_crc_refusals() {
    let v = verifier(RouteKind::X, &[X_SECRET]);
    let long = "t".repeat(257);
    for q in [
        "",
        "?crc_token=",
        "?crc=1",
        "?crc_token=a%20b",
        "?crc_token=%00",
    ] {
        assert!(get(&v, &format!("/hooks/x{q}")).is_err(), "{q}");
    }
    assert!(get(&v, &format!("/hooks/x?crc_token={long}")).is_err());
    // A POST with a crc_token is a delivery, verified as such.
    let r = call(
        &v,
        http::Method::POST,
        "/hooks/x?crc_token=abc",
        &HeaderMap::new(),
        b"{}",
        NOW,
    );
    assert_eq!(r, Err(Error::MissingHeader("x-twitter-webhooks-signature")));
}

#[test]
fn x_sign_round_trip() {
    let r = route(RouteKind::X, &[X_SECRET], None);
    assert_eq!(
        sign_then_verify(&r, X_BODY, None),
        verified(&sha256_id(X_BODY), Some("tweet_create_events"), 0)
    );
}
