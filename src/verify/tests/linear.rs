//! Linear.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/linear/issue.create.json");
const HEADERS: &str = include_str!("../../../fixtures/linear/issue.create.headers.json");
const SECRET: &[u8] = b"lin_wh_dev_linear_secret";
/// The fixture's `webhookTimestamp`.
const FIXTURE_MS: &str = "1740933900000";

/// The fixture with `webhookTimestamp` set to `now`, signed.
fn signer(key: &[u8], now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let text = std::str::from_utf8(body).unwrap();
    let body = text
        .replace(FIXTURE_MS, &(now * 1000).to_string())
        .into_bytes();
    let sig = hex::encode(hmac_sha256(key, &[&body]));
    (vec![("Linear-Signature", sig)], body)
}

#[test]
fn linear_contract() {
    assert_eq!(RouteKind::Linear.default_tolerance_s(), 60);
    Contract {
        kind: RouteKind::Linear,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "linear-signature",
        claims: unsigned(verified(
            "234d1a4e-b617-4388-90fe-adc3633d6b72",
            Some("Issue"),
            0,
        )),
        timestamped: true,
        body_signed: true,
    }
    .run();
}

#[test]
fn linear_without_headers_uses_the_body() {
    let v = verifier(RouteKind::Linear, &[SECRET]);
    let (s, body) = signer(SECRET, NOW, BODY);
    let mut h = HeaderMap::new();
    set(&mut h, s[0].0, &s[0].1);
    assert_eq!(
        v.verify(&h, &body, NOW),
        Ok(verified(&sha256_id(&body), Some("Issue"), 0))
    );
}

#[test]
fn linear_needs_the_signed_timestamp() {
    let v = verifier(RouteKind::Linear, &[SECRET]);
    let body = br#"{"type":"Issue","action":"create"}"#;
    let mut h = HeaderMap::new();
    set(
        &mut h,
        "Linear-Signature",
        &hex::encode(hmac_sha256(SECRET, &[body])),
    );
    // An unsigned linear-timestamp header does not stand in for it.
    set(&mut h, "linear-timestamp", &(NOW * 1000).to_string());
    assert_eq!(v.verify(&h, body, NOW), Err(Error::Body));
}
