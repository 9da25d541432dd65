//! Calendly.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/calendly/invitee.created.json");
const HEADERS: &str = include_str!("../../../fixtures/calendly/invitee.created.headers.json");
const SECRET: &[u8] = b"dev-calendly-signing-key";

fn signer(key: &[u8], now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let sig = hmac_sha256(key, &[now.to_string().as_bytes(), b".", body]);
    let v = format!("t={now},v1={}", hex::encode(sig));
    (vec![("Calendly-Webhook-Signature", v)], body.to_vec())
}

#[test]
fn calendly_contract() {
    Contract {
        kind: RouteKind::Calendly,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "calendly-webhook-signature",
        claims: verified(&sha256_id(BODY), Some("invitee.created"), 0),
        timestamped: true,
        body_signed: true,
    }
    .run();
    assert_eq!(RouteKind::Calendly.default_tolerance_s(), 300);
}

#[test]
fn calendly_malformed() {
    let v = verifier(RouteKind::Calendly, &[SECRET]);
    let (h, _) = signer(SECRET, NOW, BODY);
    let sig = h[0].1.split("v1=").nth(1).unwrap().to_owned();
    for bad in [format!("v1={sig}"), format!("t={NOW}"), "garbage".into()] {
        let mut h = fixture_headers(HEADERS);
        set(&mut h, "Calendly-Webhook-Signature", &bad);
        assert_eq!(
            v.verify(&h, BODY, NOW),
            Err(Error::MalformedHeader("calendly-webhook-signature")),
            "{bad}"
        );
    }
}
