//! DocuSign Connect.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/docusign/envelope-completed.json");
const HEADERS: &str = include_str!("../../../fixtures/docusign/envelope-completed.headers.json");
const SECRET: &[u8] = b"dev-docusign-connect-key";

fn signer(key: &[u8], _now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let sig = b64(&hmac_sha256(key, &[body]));
    (vec![("X-DocuSign-Signature-1", sig)], body.to_vec())
}

#[test]
fn docusign_contract() {
    Contract {
        kind: RouteKind::Docusign,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "x-docusign-signature-1",
        claims: verified(&sha256_id(BODY), Some("envelope-completed"), 0),
        timestamped: false,
        body_signed: true,
    }
    .run();
}

#[test]
fn docusign_any_numbered_header_matches_up_to_the_cap() {
    let v = verifier(RouteKind::Docusign, &[SECRET]);
    let right = b64(&hmac_sha256(SECRET, &[BODY]));
    let wrong = b64(&hmac_sha256(WRONG_SECRET, &[BODY]));
    let mut h = HeaderMap::new();
    set(&mut h, "X-DocuSign-Signature-1", &wrong);
    set(&mut h, "X-DocuSign-Signature-2", "not base64!");
    set(&mut h, "X-DocuSign-Signature-3", &right);
    assert!(v.verify(&h, BODY, NOW).is_ok());
    let mut h = HeaderMap::new();
    set(&mut h, "X-DocuSign-Signature-11", &right);
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Err(Error::MissingHeader("x-docusign-signature-1"))
    );
    set(&mut h, "X-DocuSign-Signature-1", "%%%");
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Err(Error::MalformedHeader("x-docusign-signature-1"))
    );
}

#[test]
fn docusign_xml_body_has_no_event() {
    let v = verifier(RouteKind::Docusign, &[SECRET]);
    let body = b"<DocuSignEnvelopeInformation/>";
    let (s, _) = signer(SECRET, NOW, body);
    let mut h = HeaderMap::new();
    set(&mut h, s[0].0, &s[0].1);
    assert_eq!(
        v.verify(&h, body, NOW),
        Ok(verified(&sha256_id(body), None, 0))
    );
}
