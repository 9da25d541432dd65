//! Zoom.

use super::meta::sign_then_verify;
use super::*;

const ZOOM_BODY: &[u8] = include_bytes!("../../../fixtures/zoom/meeting.started.json");
const ZOOM_HEADERS: &str = include_str!("../../../fixtures/zoom/meeting.started.headers.json");
const ZOOM_VALIDATION: &[u8] = include_bytes!("../../../fixtures/zoom/url_validation.json");
const ZOOM_SECRET: &[u8] = b"dev-zoom-secret-token";

fn zoom_headers(key: &[u8], ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(ZOOM_HEADERS);
    let ts = ts.to_string();
    let sig = hex::encode(hmac_sha256(key, &[b"v0:", ts.as_bytes(), b":", body]));
    set(&mut h, "x-zm-request-timestamp", &ts);
    set(&mut h, "x-zm-signature", &format!("v0={sig}"));
    h
}

#[test]
fn zoom_event_verifies() {
    let v = verifier(RouteKind::Zoom, &[ZOOM_SECRET]);
    let h = zoom_headers(ZOOM_SECRET, NOW, ZOOM_BODY);
    assert_eq!(
        v.verify(&h, ZOOM_BODY, NOW).unwrap(),
        verified(&sha256_id(ZOOM_BODY), Some("meeting.started"), 0)
    );
}

#[test]
fn zoom_url_validation_answers_with_the_verifying_secret() {
    let v = verifier(RouteKind::Zoom, &[b"old-zoom", ZOOM_SECRET]);
    let h = zoom_headers(ZOOM_SECRET, NOW, ZOOM_VALIDATION);
    let encrypted = hex::encode(hmac_sha256(ZOOM_SECRET, &[b"qgg8vlvZRS6UYooatFL8Aw"]));
    assert_eq!(
        v.verify(&h, ZOOM_VALIDATION, NOW).unwrap(),
        Verified {
            id: sha256_id(ZOOM_VALIDATION),
            event: Some("endpoint.url_validation".into()),
            id_signed: true,
            secret_slot: 1,
            handshake: Some(Handshake::Json(format!(
                "{{\"plainToken\":\"qgg8vlvZRS6UYooatFL8Aw\",\"encryptedToken\":\"{encrypted}\"}}"
            ))),
        }
    );
}

#[test]
fn zoom_url_validation_needs_signature_and_usable_token() {
    let v = verifier(RouteKind::Zoom, &[ZOOM_SECRET]);
    let h = zoom_headers(WRONG_SECRET, NOW, ZOOM_VALIDATION);
    assert_eq!(v.verify(&h, ZOOM_VALIDATION, NOW), Err(Error::BadSignature));
    for body in [
        r#"{"event":"endpoint.url_validation","payload":{}}"#.to_string(),
        r#"{"event":"endpoint.url_validation","payload":{"plainToken":7}}"#.to_string(),
        r#"{"event":"endpoint.url_validation","payload":{"plainToken":"a b"}}"#.to_string(),
        format!(
            r#"{{"event":"endpoint.url_validation","payload":{{"plainToken":"{}"}}}}"#,
            "p".repeat(257)
        ),
    ] {
        let h = zoom_headers(ZOOM_SECRET, NOW, body.as_bytes());
        assert_eq!(
            v.verify(&h, body.as_bytes(), NOW),
            Err(Error::Body),
            "{body}"
        );
    }
}

#[test]
fn zoom_refusals() {
    let v = verifier(RouteKind::Zoom, &[ZOOM_SECRET]);
    let h = zoom_headers(ZOOM_SECRET, NOW, ZOOM_BODY);
    assert_eq!(
        v.verify(&h, &tampered(ZOOM_BODY), NOW),
        Err(Error::BadSignature)
    );
    let h = zoom_headers(WRONG_SECRET, NOW, ZOOM_BODY);
    assert_eq!(v.verify(&h, ZOOM_BODY, NOW), Err(Error::BadSignature));
    for name in ["x-zm-signature", "x-zm-request-timestamp"] {
        let mut h = zoom_headers(ZOOM_SECRET, NOW, ZOOM_BODY);
        h.remove(name);
        assert_eq!(
            v.verify(&h, ZOOM_BODY, NOW),
            Err(Error::MissingHeader(name))
        );
    }
    let mut h = zoom_headers(ZOOM_SECRET, NOW - 1000, ZOOM_BODY);
    set(&mut h, "x-zm-request-timestamp", &NOW.to_string());
    assert_eq!(v.verify(&h, ZOOM_BODY, NOW), Err(Error::BadSignature));
    let h = zoom_headers(ZOOM_SECRET, NOW, NOT_JSON);
    assert_eq!(v.verify(&h, NOT_JSON, NOW), Err(Error::Body));
}

#[test]
fn zoom_timestamp_window() {
    let v = verifier(RouteKind::Zoom, &[ZOOM_SECRET]);
    let at = |ts: i64| v.verify(&zoom_headers(ZOOM_SECRET, ts, ZOOM_BODY), ZOOM_BODY, NOW);
    assert_eq!(at(NOW - TOLERANCE - 1), Err(Error::Stale));
    assert_eq!(at(NOW + TOLERANCE + 1), Err(Error::Future));
    assert!(at(NOW - TOLERANCE).is_ok());
    assert!(at(NOW + TOLERANCE).is_ok());
}

#[test]
fn zoom_rotation_reports_slot() {
    let v = verifier(RouteKind::Zoom, &[b"old-zoom", ZOOM_SECRET]);
    let h = zoom_headers(ZOOM_SECRET, NOW, ZOOM_BODY);
    assert_eq!(v.verify(&h, ZOOM_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn zoom_sign_round_trip() {
    let r = route(RouteKind::Zoom, &[ZOOM_SECRET], None);
    assert_eq!(
        sign_then_verify(&r, ZOOM_BODY, None),
        verified(&sha256_id(ZOOM_BODY), Some("meeting.started"), 0)
    );
}
