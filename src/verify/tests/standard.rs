//! Standard Webhooks.

use super::*;

pub(super) const STANDARD_ID: &str = "msg_2tXq9NfH0oZ3yW8kR5cV1bJ7aLp";

pub(super) fn standard_sig(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
    let ts = ts.to_string();
    b64(&hmac_sha256(
        key,
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    ))
}

/// Headers with `prefix` (`webhook` or `svix`) names.
pub(super) fn standard_headers(prefix: &str, key: &[u8], ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    set(&mut h, "content-type", "application/json");
    set(&mut h, &format!("{prefix}-id"), STANDARD_ID);
    set(&mut h, &format!("{prefix}-timestamp"), &ts.to_string());
    set(
        &mut h,
        &format!("{prefix}-signature"),
        &format!("v1,{}", standard_sig(key, STANDARD_ID, ts, body)),
    );
    h
}

#[test]
fn standard_webhooks_verifies() {
    // The fixture's id header is the one signed.
    let fixture = fixture_headers(STANDARD_HEADERS);
    assert_eq!(fixture["webhook-id"], STANDARD_ID);
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let h = standard_headers("webhook", STANDARD_KEY, NOW, STANDARD_BODY);
    assert_eq!(
        v.verify(&h, STANDARD_BODY, NOW).unwrap(),
        verified(STANDARD_ID, Some("invoice.created"), 0)
    );
}

#[test]
fn standard_webhooks_svix_header_names() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let h = standard_headers("svix", STANDARD_KEY, NOW, STANDARD_BODY);
    assert_eq!(
        v.verify(&h, STANDARD_BODY, NOW).unwrap(),
        verified(STANDARD_ID, Some("invoice.created"), 0)
    );
}

#[test]
fn standard_webhooks_svix_reference_vector() {
    let key = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let payload = br#"{"test": 2432232314}"#;
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let ts = 1_614_265_330;
    let expected = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    // Sanity check of the helper against the published vector.
    assert_eq!(standard_sig(&key, id, ts, payload), expected);

    let v = verifier(RouteKind::StandardWebhooks, &[&key]);
    for prefix in ["webhook", "svix"] {
        let mut h = HeaderMap::new();
        set(&mut h, &format!("{prefix}-id"), id);
        set(&mut h, &format!("{prefix}-timestamp"), &ts.to_string());
        set(
            &mut h,
            &format!("{prefix}-signature"),
            &format!("v1,{expected}"),
        );
        assert_eq!(
            v.verify(&h, payload, ts).unwrap(),
            verified(id, None, 0),
            "{prefix}"
        );
    }
}

#[test]
fn standard_webhooks_any_listed_signature_may_match() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let mut h = standard_headers("webhook", STANDARD_KEY, NOW, STANDARD_BODY);
    let good = standard_sig(STANDARD_KEY, STANDARD_ID, NOW, STANDARD_BODY);
    let wrong = standard_sig(WRONG_SECRET, STANDARD_ID, NOW, STANDARD_BODY);
    set(
        &mut h,
        "webhook-signature",
        &format!("v1a,AAAA v1,{wrong} v1,{good}"),
    );
    assert!(v.verify(&h, STANDARD_BODY, NOW).is_ok());
    // A v1a (asymmetric) entry alone is not an HMAC signature.
    set(&mut h, "webhook-signature", &format!("v1a,{good}"));
    assert_eq!(
        v.verify(&h, STANDARD_BODY, NOW),
        Err(Error::MalformedHeader("webhook-signature"))
    );
}

#[test]
fn standard_webhooks_wrong_secret_and_tampered_body() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let h = standard_headers("webhook", WRONG_SECRET, NOW, STANDARD_BODY);
    assert_eq!(v.verify(&h, STANDARD_BODY, NOW), Err(Error::BadSignature));
    let h = standard_headers("webhook", STANDARD_KEY, NOW, STANDARD_BODY);
    assert_eq!(
        v.verify(&h, &tampered(STANDARD_BODY), NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn standard_webhooks_id_and_timestamp_are_signed() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let mut h = standard_headers("webhook", STANDARD_KEY, NOW, STANDARD_BODY);
    set(&mut h, "webhook-id", "msg_other");
    assert_eq!(v.verify(&h, STANDARD_BODY, NOW), Err(Error::BadSignature));
    let mut h = standard_headers("webhook", STANDARD_KEY, NOW - 1000, STANDARD_BODY);
    set(&mut h, "webhook-timestamp", &NOW.to_string());
    assert_eq!(v.verify(&h, STANDARD_BODY, NOW), Err(Error::BadSignature));
}

#[test]
fn standard_webhooks_missing_headers() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    for (missing, suffix) in [
        ("webhook-id", "-id"),
        ("webhook-timestamp", "-timestamp"),
        ("webhook-signature", "-signature"),
    ] {
        let mut h = standard_headers("webhook", STANDARD_KEY, NOW, STANDARD_BODY);
        h.remove(missing);
        let e = v.verify(&h, STANDARD_BODY, NOW).unwrap_err();
        assert!(
            matches!(e, Error::MissingHeader(name) if name.ends_with(suffix)),
            "{missing}: {e:?}"
        );
    }
}

#[test]
fn standard_webhooks_malformed_headers() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let cases: [(&str, String, &str); 5] = [
        ("webhook-timestamp", "abc".into(), "webhook-timestamp"),
        ("webhook-timestamp", "-1".into(), "webhook-timestamp"),
        ("webhook-signature", "garbage".into(), "webhook-signature"),
        ("webhook-signature", "v1,!!!".into(), "webhook-signature"),
        ("webhook-id", "has spaces".into(), "webhook-id"),
    ];
    for (header, value, named) in cases {
        let mut h = standard_headers("webhook", STANDARD_KEY, NOW, STANDARD_BODY);
        set(&mut h, header, &value);
        assert_eq!(
            v.verify(&h, STANDARD_BODY, NOW),
            Err(Error::MalformedHeader(named)),
            "{header}: {value}"
        );
    }
}

#[test]
fn standard_webhooks_unusable_id_refused_even_when_signed() {
    // The id is signed, so it cannot be replaced by a hash: an unusable id
    // is refused rather than used.
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    for id in ["msg with spaces".to_string(), "m".repeat(MAX_ID_BYTES + 1)] {
        let mut h = HeaderMap::new();
        set(&mut h, "webhook-id", &id);
        set(&mut h, "webhook-timestamp", &NOW.to_string());
        let sig = standard_sig(STANDARD_KEY, &id, NOW, STANDARD_BODY);
        set(&mut h, "webhook-signature", &format!("v1,{sig}"));
        assert_eq!(
            v.verify(&h, STANDARD_BODY, NOW),
            Err(Error::MalformedHeader("webhook-id"))
        );
    }
}

#[test]
fn standard_webhooks_timestamp_window() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let at = |ts: i64| {
        let h = standard_headers("webhook", STANDARD_KEY, ts, STANDARD_BODY);
        v.verify(&h, STANDARD_BODY, NOW)
    };
    assert_eq!(at(NOW - TOLERANCE - 1), Err(Error::Stale));
    assert_eq!(at(NOW + TOLERANCE + 1), Err(Error::Future));
    assert!(at(NOW - TOLERANCE).is_ok());
    assert!(at(NOW + TOLERANCE).is_ok());
}

#[test]
fn standard_webhooks_rotation_reports_slot() {
    let v = verifier(
        RouteKind::StandardWebhooks,
        &[b"old-key-old-key", STANDARD_KEY],
    );
    let h = standard_headers("svix", STANDARD_KEY, NOW, STANDARD_BODY);
    assert_eq!(v.verify(&h, STANDARD_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn standard_webhooks_non_json_body_has_no_event() {
    let v = verifier(RouteKind::StandardWebhooks, &[STANDARD_KEY]);
    let h = standard_headers("webhook", STANDARD_KEY, NOW, NOT_JSON);
    assert_eq!(
        v.verify(&h, NOT_JSON, NOW).unwrap(),
        verified(STANDARD_ID, None, 0)
    );
}
