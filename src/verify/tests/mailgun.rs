//! Mailgun.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/mailgun/delivered.json");
const HEADERS: &str = include_str!("../../../fixtures/mailgun/delivered.headers.json");
const SECRET: &[u8] = b"key-dev-mailgun-signing-key";
const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";

/// The fixture with its `signature` object made for `now` and `key`.
fn signed_body(key: &[u8], now: i64, token: &str, body: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let ts = now.to_string();
    let sig = hex::encode(hmac_sha256(key, &[ts.as_bytes(), token.as_bytes()]));
    v["signature"] = serde_json::json!({"timestamp": ts, "token": token, "signature": sig});
    serde_json::to_vec(&v).unwrap()
}

fn signer(key: &[u8], now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    (Vec::new(), signed_body(key, now, TOKEN, body))
}

#[test]
fn mailgun_contract() {
    Contract {
        kind: RouteKind::Mailgun,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "",
        claims: unsigned(verified("CPgfbmQMTCKtHW6uIWtuVe", Some("delivered"), 0)),
        timestamped: true,
        body_signed: false,
    }
    .run();
    assert!(!RouteKind::Mailgun.signs_body());
}

#[test]
fn mailgun_signature_covers_timestamp_and_token_only() {
    let v = verifier(RouteKind::Mailgun, &[SECRET]);
    let h = fixture_headers(HEADERS);
    let body = signed_body(SECRET, NOW, TOKEN, BODY);
    // Other event data under the same signature verifies (Mailgun's
    // design), but keys apart: the id is not signed.
    let text = String::from_utf8(body.clone()).unwrap();
    let swapped = text.replace("alice@example.com", "mallory@example.com");
    let got = v.verify(&h, swapped.as_bytes(), NOW).unwrap();
    assert!(!got.id_signed);
    // Another token under the old signature does not.
    let forged = text.replace(TOKEN, "b8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0");
    assert_eq!(
        v.verify(&h, forged.as_bytes(), NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn mailgun_missing_or_malformed_signature() {
    let v = verifier(RouteKind::Mailgun, &[SECRET]);
    let h = fixture_headers(HEADERS);
    assert_eq!(
        v.verify(&h, br#"{"event-data":{}}"#, NOW),
        Err(Error::MissingHeader("signature"))
    );
    for bad in [
        &br#"{"signature":{"timestamp":"1","token":"t"}}"#[..],
        br#"{"signature":{"timestamp":"1","token":"t","signature":"zz"}}"#,
        br#"{"signature":{"token":"t","signature":"00"}}"#,
        NOT_JSON,
        NESTED_100K,
    ] {
        assert_eq!(
            v.verify(&h, bad, NOW),
            Err(Error::MalformedHeader("signature"))
        );
    }
}

#[test]
fn mailgun_id_falls_back_to_the_token() {
    let v = verifier(RouteKind::Mailgun, &[SECRET]);
    let body = signed_body(SECRET, NOW, TOKEN, br#"{"event-data":{"event":"opened"}}"#);
    let got = v.verify(&HeaderMap::new(), &body, NOW).unwrap();
    assert_eq!(
        (got.id.as_str(), got.event.as_deref()),
        (TOKEN, Some("opened"))
    );
}
