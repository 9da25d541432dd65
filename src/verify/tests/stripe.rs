//! Stripe.

use super::*;

pub(super) fn stripe_v1(key: &[u8], t: i64, body: &[u8]) -> String {
    hex::encode(hmac_sha256(key, &[t.to_string().as_bytes(), b".", body]))
}

pub(super) fn stripe_headers(value: &str) -> HeaderMap {
    let mut h = fixture_headers(STRIPE_HEADERS);
    set(&mut h, "Stripe-Signature", value);
    h
}

pub(super) fn stripe_signed(key: &[u8], t: i64, body: &[u8]) -> HeaderMap {
    stripe_headers(&format!("t={t},v1={}", stripe_v1(key, t, body)))
}

pub(super) const STRIPE_EVENT: &str = "evt_1QxYzBB2cDeFgHiJa1B2c3D4";

#[test]
fn stripe_verifies() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let h = stripe_signed(STRIPE_SECRET, NOW, STRIPE_BODY);
    assert_eq!(
        v.verify(&h, STRIPE_BODY, NOW).unwrap(),
        verified(STRIPE_EVENT, Some("invoice.paid"), 0)
    );
}

#[test]
fn stripe_wrong_secret_and_tampered_body() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let h = stripe_signed(WRONG_SECRET, NOW, STRIPE_BODY);
    assert_eq!(v.verify(&h, STRIPE_BODY, NOW), Err(Error::BadSignature));
    // The `whsec_` prefix is part of Stripe's key: a key without it fails.
    let h = stripe_signed(b"devStripeSecret0123456789", NOW, STRIPE_BODY);
    assert_eq!(v.verify(&h, STRIPE_BODY, NOW), Err(Error::BadSignature));
    let h = stripe_signed(STRIPE_SECRET, NOW, STRIPE_BODY);
    assert_eq!(
        v.verify(&h, &tampered(STRIPE_BODY), NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn stripe_timestamp_is_signed() {
    // A replay with a fresh `t` but the old signature must fail.
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let sig = stripe_v1(STRIPE_SECRET, NOW - 1000, STRIPE_BODY);
    let h = stripe_headers(&format!("t={NOW},v1={sig}"));
    assert_eq!(v.verify(&h, STRIPE_BODY, NOW), Err(Error::BadSignature));
}

#[test]
fn stripe_missing_header() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let h = fixture_headers(STRIPE_HEADERS);
    assert_eq!(
        v.verify(&h, STRIPE_BODY, NOW),
        Err(Error::MissingHeader("stripe-signature"))
    );
}

#[test]
fn stripe_malformed_header() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let sig = stripe_v1(STRIPE_SECRET, NOW, STRIPE_BODY);
    for bad in [
        "garbage".to_string(),
        format!("v1={sig}"),                 // no t
        format!("t={NOW}"),                  // no v1
        format!("t=abc,v1={sig}"),           // t not a number
        format!("t=-{NOW},v1={sig}"),        // negative t
        format!("t={NOW},t={NOW},v1={sig}"), // t twice
        format!("t={NOW},v1=nothex"),        // the only v1 is not hex
        format!("t={NOW},v1={sig},junk"),    // an item without '='
    ] {
        let h = stripe_headers(&bad);
        assert_eq!(
            v.verify(&h, STRIPE_BODY, NOW),
            Err(Error::MalformedHeader("stripe-signature")),
            "{bad}"
        );
    }
}

#[test]
fn stripe_second_v1_matches() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let wrong = stripe_v1(WRONG_SECRET, NOW, STRIPE_BODY);
    let right = stripe_v1(STRIPE_SECRET, NOW, STRIPE_BODY);
    let h = stripe_headers(&format!("t={NOW},v1={wrong},v1={right}"));
    assert_eq!(
        v.verify(&h, STRIPE_BODY, NOW).unwrap(),
        verified(STRIPE_EVENT, Some("invoice.paid"), 0)
    );
    // Order and spacing do not matter; a malformed v1 next to a good one is skipped.
    let h = stripe_headers(&format!("v1=zz, v1={right}, t={NOW}"));
    assert!(v.verify(&h, STRIPE_BODY, NOW).is_ok());
}

#[test]
fn stripe_v0_only_fails() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let sig = stripe_v1(STRIPE_SECRET, NOW, STRIPE_BODY);
    let h = stripe_headers(&format!("t={NOW},v0={sig}"));
    assert_eq!(
        v.verify(&h, STRIPE_BODY, NOW),
        Err(Error::MalformedHeader("stripe-signature"))
    );
    // v0 next to a wrong v1 does not rescue it.
    let wrong = stripe_v1(WRONG_SECRET, NOW, STRIPE_BODY);
    let h = stripe_headers(&format!("t={NOW},v1={wrong},v0={sig}"));
    assert_eq!(v.verify(&h, STRIPE_BODY, NOW), Err(Error::BadSignature));
}

#[test]
fn stripe_timestamp_window() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let at = |t: i64| {
        v.verify(
            &stripe_signed(STRIPE_SECRET, t, STRIPE_BODY),
            STRIPE_BODY,
            NOW,
        )
    };
    assert_eq!(at(NOW - TOLERANCE - 1), Err(Error::Stale));
    assert_eq!(at(NOW + TOLERANCE + 1), Err(Error::Future));
    assert!(at(NOW - TOLERANCE).is_ok());
    assert!(at(NOW + TOLERANCE).is_ok());
    assert_eq!(at(0), Err(Error::Stale));
}

#[test]
fn stripe_rotation_reports_slot() {
    let v = verifier(RouteKind::Stripe, &[b"whsec_old", STRIPE_SECRET]);
    let h = stripe_signed(STRIPE_SECRET, NOW, STRIPE_BODY);
    assert_eq!(v.verify(&h, STRIPE_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn stripe_signed_non_json_body_is_body_error() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    for body in [NOT_JSON, NESTED_100K, b"[1,2,3]".as_slice(), b"".as_slice()] {
        let h = stripe_signed(STRIPE_SECRET, NOW, body);
        assert_eq!(v.verify(&h, body, NOW), Err(Error::Body));
    }
}

#[test]
fn stripe_json_without_id_keyed_by_body_hash() {
    let v = verifier(RouteKind::Stripe, &[STRIPE_SECRET]);
    let body = br#"{"type":"invoice.paid","id":42}"#;
    let h = stripe_signed(STRIPE_SECRET, NOW, body);
    assert_eq!(
        v.verify(&h, body, NOW).unwrap(),
        verified(&sha256_id(body), Some("invoice.paid"), 0)
    );
}
