//! Typeform.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/typeform/form_response.json");
const HEADERS: &str = include_str!("../../../fixtures/typeform/form_response.headers.json");
const SECRET: &[u8] = b"dev-typeform-secret";

fn signer(key: &[u8], _now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let v = format!("sha256={}", b64(&hmac_sha256(key, &[body])));
    (vec![("Typeform-Signature", v)], body.to_vec())
}

#[test]
fn typeform_contract() {
    Contract {
        kind: RouteKind::Typeform,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "typeform-signature",
        claims: verified("01JNCK3Z7TQ0X4V2M5ZC9A8B7D", Some("form_response"), 0),
        timestamped: false,
        body_signed: true,
    }
    .run();
}

#[test]
fn typeform_needs_the_prefix_and_base64() {
    let v = verifier(RouteKind::Typeform, &[SECRET]);
    let sig = hmac_sha256(SECRET, &[BODY]);
    let mut h = fixture_headers(HEADERS);
    set(&mut h, "Typeform-Signature", &b64(&sig));
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Err(Error::MalformedHeader("typeform-signature"))
    );
    // Hex digits are base64 too: they decode, and never match.
    set(
        &mut h,
        "Typeform-Signature",
        &format!("sha256={}", hex::encode(&sig)),
    );
    assert_eq!(v.verify(&h, BODY, NOW), Err(Error::BadSignature));
}

#[test]
fn typeform_signed_non_json_is_a_body_error() {
    let v = verifier(RouteKind::Typeform, &[SECRET]);
    let (s, _) = signer(SECRET, NOW, NOT_JSON);
    let mut h = fixture_headers(HEADERS);
    set(&mut h, s[0].0, &s[0].1);
    assert_eq!(v.verify(&h, NOT_JSON, NOW), Err(Error::Body));
}
