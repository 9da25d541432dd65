//! Slack.

use super::*;

pub(super) fn slack_headers(headers_json: &str, key: &[u8], ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(headers_json);
    let ts = ts.to_string();
    let sig = hex::encode(hmac_sha256(key, &[b"v0:", ts.as_bytes(), b":", body]));
    set(&mut h, "X-Slack-Request-Timestamp", &ts);
    set(&mut h, "X-Slack-Signature", &format!("v0={sig}"));
    h
}

#[test]
fn slack_event_callback_verifies() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
    assert_eq!(
        v.verify(&h, SLACK_MENTION, NOW).unwrap(),
        verified("Ev08F7QK1ZPX", Some("app_mention"), 0)
    );
}

#[test]
fn slack_url_verification_is_a_handshake() {
    let challenge: serde_json::Value = serde_json::from_slice(SLACK_URL_VERIFICATION).unwrap();
    let challenge = challenge["challenge"].as_str().unwrap().to_string();
    assert_eq!(
        challenge,
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let h = slack_headers(
        SLACK_MENTION_HEADERS,
        SLACK_SECRET,
        NOW,
        SLACK_URL_VERIFICATION,
    );
    assert_eq!(
        v.verify(&h, SLACK_URL_VERIFICATION, NOW).unwrap(),
        Verified {
            id: sha256_id(SLACK_URL_VERIFICATION),
            event: Some("url_verification".to_string()),
            id_signed: true,
            secret_slot: 0,
            handshake: Some(Handshake::Json(
                serde_json::json!({ "challenge": challenge }).to_string(),
            )),
        }
    );
}

#[test]
fn slack_url_verification_needs_a_valid_signature() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let h = slack_headers(
        SLACK_MENTION_HEADERS,
        WRONG_SECRET,
        NOW,
        SLACK_URL_VERIFICATION,
    );
    assert_eq!(
        v.verify(&h, SLACK_URL_VERIFICATION, NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn slack_url_verification_with_unusable_challenge_is_body_error() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    for body in [
        br#"{"type":"url_verification"}"#.to_vec(),
        br#"{"type":"url_verification","challenge":"has space"}"#.to_vec(),
        format!(
            r#"{{"type":"url_verification","challenge":"{}"}}"#,
            "c".repeat(257)
        )
        .into_bytes(),
    ] {
        let h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, &body);
        assert_eq!(v.verify(&h, &body, NOW), Err(Error::Body));
    }
}

#[test]
fn slack_form_encoded_body_keyed_by_hash() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let body = b"token=x&command=%2Fdeploy";
    let mut h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, body);
    set(&mut h, "Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(
        v.verify(&h, body, NOW).unwrap(),
        verified(&sha256_id(body), None, 0)
    );
}

#[test]
fn slack_signed_broken_json_is_body_error() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let body = b"  {\"type\": ";
    let h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, body);
    assert_eq!(v.verify(&h, body, NOW), Err(Error::Body));
}

#[test]
fn slack_wrong_secret_and_tampered_body() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let h = slack_headers(SLACK_MENTION_HEADERS, WRONG_SECRET, NOW, SLACK_MENTION);
    assert_eq!(v.verify(&h, SLACK_MENTION, NOW), Err(Error::BadSignature));
    let h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
    assert_eq!(
        v.verify(&h, &tampered(SLACK_MENTION), NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn slack_timestamp_is_signed() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let mut h = slack_headers(
        SLACK_MENTION_HEADERS,
        SLACK_SECRET,
        NOW - 1000,
        SLACK_MENTION,
    );
    set(&mut h, "X-Slack-Request-Timestamp", &NOW.to_string());
    assert_eq!(v.verify(&h, SLACK_MENTION, NOW), Err(Error::BadSignature));
}

#[test]
fn slack_missing_headers() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let mut h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
    h.remove("x-slack-signature");
    assert_eq!(
        v.verify(&h, SLACK_MENTION, NOW),
        Err(Error::MissingHeader("x-slack-signature"))
    );
    let mut h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
    h.remove("x-slack-request-timestamp");
    assert_eq!(
        v.verify(&h, SLACK_MENTION, NOW),
        Err(Error::MissingHeader("x-slack-request-timestamp"))
    );
}

#[test]
fn slack_malformed_headers() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    for bad in ["abc", "", "-5", "1740933909.5", "9999999999999"] {
        let mut h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
        set(&mut h, "X-Slack-Request-Timestamp", bad);
        assert_eq!(
            v.verify(&h, SLACK_MENTION, NOW),
            Err(Error::MalformedHeader("x-slack-request-timestamp")),
            "{bad:?}"
        );
    }
    let good = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
    let sig = good["x-slack-signature"].to_str().unwrap().to_string();
    let hex_part = sig.strip_prefix("v0=").unwrap();
    for bad in [
        hex_part.to_string(),
        format!("v1={hex_part}"),
        format!("v0={hex_part}xx"),
    ] {
        let mut h = good.clone();
        set(&mut h, "X-Slack-Signature", &bad);
        assert_eq!(
            v.verify(&h, SLACK_MENTION, NOW),
            Err(Error::MalformedHeader("x-slack-signature")),
            "{bad}"
        );
    }
}

#[test]
fn slack_timestamp_window() {
    let v = verifier(RouteKind::Slack, &[SLACK_SECRET]);
    let at = |ts: i64| {
        let h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, ts, SLACK_MENTION);
        v.verify(&h, SLACK_MENTION, NOW)
    };
    assert_eq!(at(NOW - TOLERANCE - 1), Err(Error::Stale));
    assert_eq!(at(NOW + TOLERANCE + 1), Err(Error::Future));
    assert!(at(NOW - TOLERANCE).is_ok());
    assert!(at(NOW + TOLERANCE).is_ok());
}

#[test]
fn slack_rotation_reports_slot() {
    let v = verifier(RouteKind::Slack, &[b"old-slack", SLACK_SECRET]);
    let h = slack_headers(SLACK_MENTION_HEADERS, SLACK_SECRET, NOW, SLACK_MENTION);
    assert_eq!(v.verify(&h, SLACK_MENTION, NOW).unwrap().secret_slot, 1);
}
