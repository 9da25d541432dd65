//! Twitch EventSub.

use super::meta::sign_then_verify;
use super::*;

const TWITCH_BODY: &[u8] = include_bytes!("../../../fixtures/twitch/channel.follow.json");
const TWITCH_HEADERS: &str = include_str!("../../../fixtures/twitch/channel.follow.headers.json");
const TWITCH_CHALLENGE: &[u8] =
    include_bytes!("../../../fixtures/twitch/webhook_callback_verification.json");
const TWITCH_CHALLENGE_HEADERS: &str =
    include_str!("../../../fixtures/twitch/webhook_callback_verification.headers.json");
const TWITCH_SECRET: &[u8] = b"dev-twitch-eventsub-secret";
const TWITCH_ID: &str = "befa7b53-d79d-478f-86b9-120f112b044e";
/// NOW as Twitch writes it (nanoseconds).
const NOW_RFC3339: &str = "2025-03-02T16:45:09.123456789Z";

fn twitch_headers(json: &str, key: &[u8], ts: &str, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(json);
    let id = h["twitch-eventsub-message-id"].to_str().unwrap().to_owned();
    let sig = hex::encode(hmac_sha256(key, &[id.as_bytes(), ts.as_bytes(), body]));
    set(&mut h, "Twitch-Eventsub-Message-Timestamp", ts);
    set(
        &mut h,
        "Twitch-Eventsub-Message-Signature",
        &format!("sha256={sig}"),
    );
    h
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn twitch_verifier(secrets: &[&[u8]]) -> Verifier {
    let mut r = route(RouteKind::Twitch, secrets, None);
    r.tolerance = Duration::from_secs(600);
    Verifier::new(&r)
}

#[test]
fn twitch_notification_verifies() {
    let v = twitch_verifier(&[TWITCH_SECRET]);
    let h = twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, NOW_RFC3339, TWITCH_BODY);
    assert_eq!(
        v.verify(&h, TWITCH_BODY, NOW).unwrap(),
        verified(TWITCH_ID, Some("channel.follow"), 0)
    );
}

#[test]
fn twitch_revocation_is_a_delivery() {
    let v = twitch_verifier(&[TWITCH_SECRET]);
    let mut h = fixture_headers(TWITCH_HEADERS);
    set(&mut h, "Twitch-Eventsub-Message-Type", "revocation");
    let body = br#"{"subscription":{"id":"f1c2a387","status":"authorization_revoked","type":"channel.follow"}}"#;
    let sig = hex::encode(hmac_sha256(
        TWITCH_SECRET,
        &[TWITCH_ID.as_bytes(), NOW_RFC3339.as_bytes(), body],
    ));
    set(&mut h, "Twitch-Eventsub-Message-Timestamp", NOW_RFC3339);
    set(
        &mut h,
        "Twitch-Eventsub-Message-Signature",
        &format!("sha256={sig}"),
    );
    assert_eq!(
        v.verify(&h, body, NOW).unwrap(),
        verified(TWITCH_ID, Some("channel.follow"), 0)
    );
}

#[test]
fn twitch_callback_verification_answers_the_challenge() {
    let v = twitch_verifier(&[TWITCH_SECRET]);
    let h = twitch_headers(
        TWITCH_CHALLENGE_HEADERS,
        TWITCH_SECRET,
        NOW_RFC3339,
        TWITCH_CHALLENGE,
    );
    let got = v.verify(&h, TWITCH_CHALLENGE, NOW).unwrap();
    assert_eq!(
        got.handshake,
        Some(Handshake::Text("pogchamp-kappa-360noscope-vohiyo".into()))
    );
    let h = twitch_headers(
        TWITCH_CHALLENGE_HEADERS,
        WRONG_SECRET,
        NOW_RFC3339,
        TWITCH_CHALLENGE,
    );
    assert_eq!(
        v.verify(&h, TWITCH_CHALLENGE, NOW),
        Err(Error::BadSignature)
    );
    let body = br#"{"challenge":"has space"}"#;
    let h = twitch_headers(TWITCH_CHALLENGE_HEADERS, TWITCH_SECRET, NOW_RFC3339, body);
    assert_eq!(v.verify(&h, body, NOW), Err(Error::Body));
}

#[test]
fn twitch_refusals() {
    let v = twitch_verifier(&[TWITCH_SECRET]);
    let h = twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, NOW_RFC3339, TWITCH_BODY);
    assert_eq!(
        v.verify(&h, &tampered(TWITCH_BODY), NOW),
        Err(Error::BadSignature)
    );
    let h = twitch_headers(TWITCH_HEADERS, WRONG_SECRET, NOW_RFC3339, TWITCH_BODY);
    assert_eq!(v.verify(&h, TWITCH_BODY, NOW), Err(Error::BadSignature));
    // The id is signed: another id fails.
    let mut h = twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, NOW_RFC3339, TWITCH_BODY);
    set(&mut h, "Twitch-Eventsub-Message-Id", "other-id");
    assert_eq!(v.verify(&h, TWITCH_BODY, NOW), Err(Error::BadSignature));
    for name in [
        "twitch-eventsub-message-signature",
        "twitch-eventsub-message-id",
        "twitch-eventsub-message-timestamp",
    ] {
        let mut h = twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, NOW_RFC3339, TWITCH_BODY);
        h.remove(name);
        assert_eq!(
            v.verify(&h, TWITCH_BODY, NOW),
            Err(Error::MissingHeader(name))
        );
    }
    for bad in [
        "1740933909",
        "yesterday",
        &format!("{NOW_RFC3339}{}", "0".repeat(64)),
    ] {
        let h = twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, bad, TWITCH_BODY);
        assert_eq!(
            v.verify(&h, TWITCH_BODY, NOW),
            Err(Error::MalformedHeader("twitch-eventsub-message-timestamp")),
            "{bad}"
        );
    }
}

#[test]
fn twitch_timestamp_window_is_ten_minutes() {
    let v = twitch_verifier(&[TWITCH_SECRET]);
    let at = |t: i64| {
        let ts = rfc3339(t);
        v.verify(
            &twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, &ts, TWITCH_BODY),
            TWITCH_BODY,
            NOW,
        )
    };
    assert_eq!(at(NOW - 601), Err(Error::Stale));
    assert_eq!(at(NOW + 601), Err(Error::Future));
    assert!(at(NOW - 600).is_ok());
    assert!(at(NOW + 600).is_ok());
    assert_eq!(RouteKind::Twitch.default_tolerance_s(), 600);
}

#[test]
fn twitch_rotation_reports_slot() {
    let v = twitch_verifier(&[b"old-twitch", TWITCH_SECRET]);
    let h = twitch_headers(TWITCH_HEADERS, TWITCH_SECRET, NOW_RFC3339, TWITCH_BODY);
    assert_eq!(v.verify(&h, TWITCH_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn twitch_sign_round_trip() {
    let r = route(RouteKind::Twitch, &[TWITCH_SECRET], None);
    let got = sign_then_verify(&r, TWITCH_BODY, Some("channel.follow"));
    assert_eq!(got.event.as_deref(), Some("channel.follow"));
    assert!(got.id.starts_with("hookgate-sign-"));
    assert!(got.handshake.is_none());
    let got = sign_then_verify(&r, TWITCH_CHALLENGE, None);
    assert!(got.handshake.is_some());
}
