//! Dropbox.

use super::meta::{answered, get, sign_then_verify};
use super::*;

const DROPBOX_BODY: &[u8] = include_bytes!("../../../fixtures/dropbox/list_folder.json");
const DROPBOX_HEADERS: &str = include_str!("../../../fixtures/dropbox/list_folder.headers.json");
const DROPBOX_SECRET: &[u8] = b"dev-dropbox-app-secret";

fn dropbox_headers(key: &[u8], body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(DROPBOX_HEADERS);
    set(
        &mut h,
        "X-Dropbox-Signature",
        &hex::encode(hmac_sha256(key, &[body])),
    );
    h
}

#[test]
fn dropbox_notification_verifies() {
    let v = verifier(RouteKind::Dropbox, &[DROPBOX_SECRET]);
    let h = dropbox_headers(DROPBOX_SECRET, DROPBOX_BODY);
    assert_eq!(
        v.verify(&h, DROPBOX_BODY, NOW).unwrap(),
        verified(&sha256_id(DROPBOX_BODY), Some("list_folder"), 0)
    );
}

#[test]
fn dropbox_refusals() {
    let v = verifier(RouteKind::Dropbox, &[DROPBOX_SECRET]);
    let h = dropbox_headers(DROPBOX_SECRET, DROPBOX_BODY);
    assert_eq!(
        v.verify(&h, &tampered(DROPBOX_BODY), NOW),
        Err(Error::BadSignature)
    );
    let h = dropbox_headers(WRONG_SECRET, DROPBOX_BODY);
    assert_eq!(v.verify(&h, DROPBOX_BODY, NOW), Err(Error::BadSignature));
    let mut h = dropbox_headers(DROPBOX_SECRET, DROPBOX_BODY);
    h.remove("x-dropbox-signature");
    assert_eq!(
        v.verify(&h, DROPBOX_BODY, NOW),
        Err(Error::MissingHeader("x-dropbox-signature"))
    );
    let mut h = dropbox_headers(DROPBOX_SECRET, DROPBOX_BODY);
    set(&mut h, "X-Dropbox-Signature", "zz");
    assert_eq!(
        v.verify(&h, DROPBOX_BODY, NOW),
        Err(Error::MalformedHeader("x-dropbox-signature"))
    );
}

#[test]
fn dropbox_rotation_reports_slot() {
    let v = verifier(RouteKind::Dropbox, &[b"old-dropbox", DROPBOX_SECRET]);
    let h = dropbox_headers(DROPBOX_SECRET, DROPBOX_BODY);
    assert_eq!(v.verify(&h, DROPBOX_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn dropbox_challenge_is_echoed_bounded() {
    let v = verifier(RouteKind::Dropbox, &[DROPBOX_SECRET]);
    assert_eq!(
        get(&v, "/hooks/dropbox?challenge=ZmFrZS1jaGFsbGVuZ2U").unwrap(),
        answered(b"", Handshake::Text("ZmFrZS1jaGFsbGVuZ2U".into()))
    );
    let long = "c".repeat(257);
    for q in [
        "",
        "?challenge=",
        "?other=1",
        "?challenge=%3Cscript%3E%20",
        "?challenge=%FF",
    ] {
        assert!(get(&v, &format!("/hooks/dropbox{q}")).is_err(), "{q}");
    }
    assert!(get(&v, &format!("/hooks/dropbox?challenge={long}")).is_err());
    assert!(get(&v, &format!("/hooks/dropbox?challenge={}", &long[1..])).is_ok());
}

#[test]
fn dropbox_sign_round_trip() {
    let r = route(RouteKind::Dropbox, &[DROPBOX_SECRET], None);
    assert_eq!(
        sign_then_verify(&r, DROPBOX_BODY, None),
        verified(&sha256_id(DROPBOX_BODY), Some("list_folder"), 0)
    );
}
