//! PagerDuty.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/pagerduty/incident.triggered.json");
const HEADERS: &str = include_str!("../../../fixtures/pagerduty/incident.triggered.headers.json");
const SECRET: &[u8] = b"dev-pagerduty-secret";

fn v1(key: &[u8], body: &[u8]) -> String {
    format!("v1={}", hex::encode(hmac_sha256(key, &[body])))
}

fn signer(key: &[u8], _now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    (
        vec![("X-PagerDuty-Signature", v1(key, body))],
        body.to_vec(),
    )
}

#[test]
fn pagerduty_contract() {
    Contract {
        kind: RouteKind::Pagerduty,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "x-pagerduty-signature",
        claims: unsigned(verified(
            "6b2e47c5-04a3-4b14-8d89-3a1f6d9f8c0e",
            Some("incident.triggered"),
            0,
        )),
        timestamped: false,
        body_signed: true,
    }
    .run();
}

#[test]
fn pagerduty_second_v1_and_body_id() {
    let v = verifier(RouteKind::Pagerduty, &[SECRET]);
    let mut h = HeaderMap::new();
    let both = format!("{},{}", v1(WRONG_SECRET, BODY), v1(SECRET, BODY));
    set(&mut h, "X-PagerDuty-Signature", &both);
    // Without X-Webhook-Id, the signed body's event.id.
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Ok(verified(
            "01DEN4HPBQAH6XQHW8TSDJ0IGS",
            Some("incident.triggered"),
            0
        ))
    );
    set(&mut h, "X-PagerDuty-Signature", "v0=abcd,v1=zz");
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Err(Error::MalformedHeader("x-pagerduty-signature"))
    );
}
