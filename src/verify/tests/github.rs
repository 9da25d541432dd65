//! GitHub.

use super::*;

pub(super) const GITHUB_DELIVERY: &str = "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01";

pub(super) fn github_headers(headers_json: &str, key: &[u8], body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(headers_json);
    let sig = format!("sha256={}", hex::encode(hmac_sha256(key, &[body])));
    set(&mut h, "X-Hub-Signature-256", &sig);
    h
}

#[test]
fn github_push_verifies() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    assert_eq!(
        v.verify(&h, GITHUB_PUSH, NOW).unwrap(),
        unsigned(verified(GITHUB_DELIVERY, Some("push"), 0))
    );
}

#[test]
fn github_ping_verifies() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let h = github_headers(GITHUB_PING_HEADERS, GITHUB_SECRET, GITHUB_PING);
    assert_eq!(
        v.verify(&h, GITHUB_PING, NOW).unwrap(),
        unsigned(verified(
            "6a0e1f40-f7a1-11ef-9d3c-0b7e5a4c2d18",
            Some("ping"),
            0
        ))
    );
}

#[test]
fn github_has_no_timestamp_window() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    assert!(v.verify(&h, GITHUB_PUSH, 0).is_ok());
    assert!(v.verify(&h, GITHUB_PUSH, i64::MAX).is_ok());
}

#[test]
fn github_wrong_secret() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let h = github_headers(GITHUB_PUSH_HEADERS, WRONG_SECRET, GITHUB_PUSH);
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW), Err(Error::BadSignature));
}

#[test]
fn github_tampered_body() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    assert_eq!(
        v.verify(&h, &tampered(GITHUB_PUSH), NOW),
        Err(Error::BadSignature)
    );
    // An empty body is not the signed body either.
    assert_eq!(v.verify(&h, b"", NOW), Err(Error::BadSignature));
}

#[test]
fn github_missing_signature_header() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let mut h = fixture_headers(GITHUB_PUSH_HEADERS);
    assert_eq!(
        v.verify(&h, GITHUB_PUSH, NOW),
        Err(Error::MissingHeader("x-hub-signature-256"))
    );
    // The legacy SHA-1 header alone is not accepted.
    let sig = format!(
        "sha1={}",
        hex::encode(hmac_sha1(GITHUB_SECRET, &[GITHUB_PUSH]))
    );
    set(&mut h, "X-Hub-Signature", &sig);
    assert_eq!(
        v.verify(&h, GITHUB_PUSH, NOW),
        Err(Error::MissingHeader("x-hub-signature-256"))
    );
}

#[test]
fn github_malformed_signature_header() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let good = hex::encode(hmac_sha256(GITHUB_SECRET, &[GITHUB_PUSH]));
    for bad in [
        good.clone(),                     // no prefix
        format!("sha1={good}"),           // wrong prefix
        format!("sha256={good}z"),        // not hex
        format!("sha256={}", &good[1..]), // odd length
    ] {
        let mut h = fixture_headers(GITHUB_PUSH_HEADERS);
        set(&mut h, "X-Hub-Signature-256", &bad);
        assert_eq!(
            v.verify(&h, GITHUB_PUSH, NOW),
            Err(Error::MalformedHeader("x-hub-signature-256")),
            "{bad}"
        );
    }
    // Non-visible-ASCII header value.
    let mut h = fixture_headers(GITHUB_PUSH_HEADERS);
    h.insert(
        "x-hub-signature-256",
        HeaderValue::from_bytes(b"sha256=\xff").unwrap(),
    );
    assert_eq!(
        v.verify(&h, GITHUB_PUSH, NOW),
        Err(Error::MalformedHeader("x-hub-signature-256"))
    );
}

#[test]
fn github_truncated_signature_is_bad_signature() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let mac = hmac_sha256(GITHUB_SECRET, &[GITHUB_PUSH]);
    let mut h = fixture_headers(GITHUB_PUSH_HEADERS);
    set(
        &mut h,
        "X-Hub-Signature-256",
        &format!("sha256={}", hex::encode(&mac[..16])),
    );
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW), Err(Error::BadSignature));
    set(&mut h, "X-Hub-Signature-256", "sha256=");
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW), Err(Error::BadSignature));
}

#[test]
fn github_rotation_reports_slot() {
    let v = verifier(RouteKind::Github, &[b"old-secret", GITHUB_SECRET]);
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW).unwrap().secret_slot, 1);
    let h = github_headers(GITHUB_PUSH_HEADERS, b"old-secret", GITHUB_PUSH);
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW).unwrap().secret_slot, 0);
}

#[test]
fn github_without_delivery_falls_back_to_body_hash() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    let mut h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    h.remove("x-github-delivery");
    h.remove("x-github-event");
    assert_eq!(
        v.verify(&h, GITHUB_PUSH, NOW).unwrap(),
        unsigned(verified(&sha256_id(GITHUB_PUSH), None, 0))
    );
}

#[test]
fn github_unusable_delivery_ids_are_not_used() {
    let v = verifier(RouteKind::Github, &[GITHUB_SECRET]);
    for bad in ["has spaces in it", &"d".repeat(MAX_ID_BYTES + 1)] {
        let mut h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
        set(&mut h, "X-GitHub-Delivery", bad);
        assert_eq!(
            v.verify(&h, GITHUB_PUSH, NOW).unwrap().id,
            sha256_id(GITHUB_PUSH),
            "{bad}"
        );
    }
    // Exactly MAX_ID_BYTES is still an id.
    let max = "d".repeat(MAX_ID_BYTES);
    let mut h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    set(&mut h, "X-GitHub-Delivery", &max);
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW).unwrap().id, max);
}
