//! GitLab.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/gitlab/push.json");
const HEADERS: &str = include_str!("../../../fixtures/gitlab/push.headers.json");
const SECRET: &[u8] = b"dev-gitlab-token";

fn signer(key: &[u8], _now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let token = String::from_utf8(key.to_vec()).unwrap();
    (vec![("X-Gitlab-Token", token)], body.to_vec())
}

#[test]
fn gitlab_contract() {
    Contract {
        kind: RouteKind::Gitlab,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "x-gitlab-token",
        claims: unsigned(verified(
            "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
            Some("Push Hook"),
            0,
        )),
        timestamped: false,
        body_signed: false,
    }
    .run();
}

#[test]
fn gitlab_token_must_equal_exactly() {
    let v = verifier(RouteKind::Gitlab, &[SECRET]);
    for bad in [
        "dev-gitlab-toke",
        "dev-gitlab-token ",
        "DEV-GITLAB-TOKEN",
        "",
    ] {
        let mut h = fixture_headers(HEADERS);
        set(&mut h, "X-Gitlab-Token", bad);
        assert_eq!(v.verify(&h, BODY, NOW), Err(Error::BadSignature), "{bad:?}");
    }
}

#[test]
fn gitlab_id_falls_back_to_the_event_uuid() {
    let v = verifier(RouteKind::Gitlab, &[SECRET]);
    let mut h = fixture_headers(HEADERS);
    set(&mut h, "X-Gitlab-Token", "dev-gitlab-token");
    h.remove("idempotency-key");
    assert_eq!(
        v.verify(&h, BODY, NOW).unwrap().id,
        "13792a34-cac6-4fda-95a8-c58e00a3954e"
    );
}
