//! Intercom.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/intercom/conversation.user.created.json");
const HEADERS: &str =
    include_str!("../../../fixtures/intercom/conversation.user.created.headers.json");
const SECRET: &[u8] = b"dev-intercom-client-secret";

fn signer(key: &[u8], _now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let v = format!("sha1={}", hex::encode(hmac_sha1(key, &[body])));
    (vec![("X-Hub-Signature", v)], body.to_vec())
}

#[test]
fn intercom_contract() {
    Contract {
        kind: RouteKind::Intercom,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "x-hub-signature",
        claims: verified(
            "notif_ccd8a4d2-3bcd-4e6b-9f5c-1a2b3c4d5e6f",
            Some("conversation.user.created"),
            0,
        ),
        timestamped: false,
        body_signed: true,
    }
    .run();
}

#[test]
fn intercom_sha256_is_refused() {
    let v = verifier(RouteKind::Intercom, &[SECRET]);
    let mut h = fixture_headers(HEADERS);
    let sig = hex::encode(hmac_sha256(SECRET, &[BODY]));
    set(&mut h, "X-Hub-Signature", &format!("sha1={sig}"));
    assert_eq!(v.verify(&h, BODY, NOW), Err(Error::BadSignature));
    set(&mut h, "X-Hub-Signature", &format!("sha256={sig}"));
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Err(Error::MalformedHeader("x-hub-signature"))
    );
}
