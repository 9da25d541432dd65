//! Bitbucket Cloud.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/bitbucket/repo.push.json");
const HEADERS: &str = include_str!("../../../fixtures/bitbucket/repo.push.headers.json");
const SECRET: &[u8] = b"dev-bitbucket-secret";

fn signer(key: &[u8], _now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let v = format!("sha256={}", hex::encode(hmac_sha256(key, &[body])));
    (vec![("X-Hub-Signature", v)], body.to_vec())
}

#[test]
fn bitbucket_contract() {
    Contract {
        kind: RouteKind::Bitbucket,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "x-hub-signature",
        claims: unsigned(verified(
            "afe2b0c2-0f39-4a85-8b1e-6c1f4e2d3a9b",
            Some("repo:push"),
            0,
        )),
        timestamped: false,
        body_signed: true,
    }
    .run();
}

#[test]
fn bitbucket_without_request_uuid_keys_on_the_body() {
    let v = verifier(RouteKind::Bitbucket, &[SECRET]);
    let (s, _) = signer(SECRET, NOW, BODY);
    let mut h = HeaderMap::new();
    set(&mut h, s[0].0, &s[0].1);
    assert_eq!(
        v.verify(&h, BODY, NOW),
        Ok(unsigned(verified(&sha256_id(BODY), None, 0)))
    );
}
