//! SendGrid: ECDSA P-256 signatures made with `ring` from the dev keys of
//! `fixtures/sendgrid/` (never with the product's signer), over the fixture
//! bodies (which end in CRLF, as SendGrid sends them).

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};

use super::discord::pem_der;
use super::*;
use crate::config::{KeyAlgorithm, PublicKey};

const KEY_PEM: &[u8] = include_bytes!("../../../fixtures/sendgrid/dev-key.pem");
const KEY2_PEM: &[u8] = include_bytes!("../../../fixtures/sendgrid/dev-key-2.pem");
const KEY_B64: &str = include_str!("../../../fixtures/sendgrid/dev-key.pub.b64");
const ONE: &[u8] = include_bytes!("../../../fixtures/sendgrid/processed.json");
const BATCH: &[u8] = include_bytes!("../../../fixtures/sendgrid/batch.json");
const HEADERS: &str = include_str!("../../../fixtures/sendgrid/processed.headers.json");

fn pair(pem: &[u8]) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &pem_der(pem),
        &SystemRandom::new(),
    )
    .unwrap()
}

fn public(pem: &[u8]) -> PublicKey {
    PublicKey {
        algorithm: KeyAlgorithm::EcdsaP256Sha256,
        bytes: pair(pem).public_key().as_ref().to_vec(),
        not_after: None,
    }
}

fn sendgrid(keys: Vec<PublicKey>) -> Verifier {
    Verifier::new(&Route {
        public_keys: keys,
        ..route(RouteKind::Sendgrid, &[], None)
    })
}

fn headers(pem: &[u8], ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(HEADERS);
    let ts = ts.to_string();
    let rng = SystemRandom::new();
    let sig = pair(pem)
        .sign(&rng, &[ts.as_bytes(), body].concat())
        .unwrap();
    set(
        &mut h,
        "X-Twilio-Email-Event-Webhook-Signature",
        &b64(sig.as_ref()),
    );
    set(&mut h, "X-Twilio-Email-Event-Webhook-Timestamp", &ts);
    h
}

#[test]
fn dev_key_matches_its_public_spki() {
    let der = base64::engine::general_purpose::STANDARD
        .decode(KEY_B64.trim())
        .unwrap();
    assert!(der.ends_with(pair(KEY_PEM).public_key().as_ref()));
}

#[test]
fn one_event_keyed_by_sg_event_id() {
    assert!(ONE.ends_with(b"\r\n"), "the fixture ends in CRLF");
    let v = sendgrid(vec![public(KEY_PEM)]);
    let h = headers(KEY_PEM, NOW, ONE);
    assert_eq!(
        v.verify(&h, ONE, NOW).unwrap(),
        verified("rbtnWrG1DVDGGGFHFyun0A==", Some("processed"), 0)
    );
}

#[test]
fn batch_keyed_by_body_hash_without_a_shared_event() {
    let v = sendgrid(vec![public(KEY_PEM)]);
    let h = headers(KEY_PEM, NOW, BATCH);
    assert_eq!(
        v.verify(&h, BATCH, NOW).unwrap(),
        verified(&sha256_id(BATCH), None, 0)
    );
}

#[test]
fn crlf_is_signed() {
    let v = sendgrid(vec![public(KEY_PEM)]);
    let h = headers(KEY_PEM, NOW, ONE);
    let trimmed = &ONE[..ONE.len() - 2];
    assert_eq!(v.verify(&h, trimmed, NOW), Err(Error::BadSignature));
}

#[test]
fn tampered_wrong_key_missing_header() {
    let v = sendgrid(vec![public(KEY_PEM)]);
    let h = headers(KEY_PEM, NOW, ONE);
    assert_eq!(v.verify(&h, &tampered(ONE), NOW), Err(Error::BadSignature));
    let h2 = headers(KEY2_PEM, NOW, ONE);
    assert_eq!(v.verify(&h2, ONE, NOW), Err(Error::BadSignature));
    let mut m = h.clone();
    m.remove("x-twilio-email-event-webhook-signature");
    assert_eq!(
        v.verify(&m, ONE, NOW),
        Err(Error::MissingHeader(
            "x-twilio-email-event-webhook-signature"
        ))
    );
    let mut m = h;
    set(
        &mut m,
        "X-Twilio-Email-Event-Webhook-Signature",
        &"A".repeat(4096),
    );
    assert_eq!(
        v.verify(&m, ONE, NOW),
        Err(Error::MalformedHeader(
            "x-twilio-email-event-webhook-signature"
        ))
    );
}

#[test]
fn stale_and_future_refused() {
    let v = sendgrid(vec![public(KEY_PEM)]);
    let h = headers(KEY_PEM, NOW - TOLERANCE - 1, ONE);
    assert_eq!(v.verify(&h, ONE, NOW), Err(Error::Stale));
    let h = headers(KEY_PEM, NOW + TOLERANCE + 1, ONE);
    assert_eq!(v.verify(&h, ONE, NOW), Err(Error::Future));
}

#[test]
fn rotated_key_verifies_in_slot_1() {
    let v = sendgrid(vec![public(KEY2_PEM), public(KEY_PEM)]);
    let h = headers(KEY_PEM, NOW, ONE);
    assert_eq!(v.verify(&h, ONE, NOW).unwrap().secret_slot, 1);
}

#[test]
fn signed_non_array_is_body_error() {
    let v = sendgrid(vec![public(KEY_PEM)]);
    for body in [&b"{}"[..], b"[]", b"[1]", b"nope"] {
        let h = headers(KEY_PEM, NOW, body);
        assert_eq!(v.verify(&h, body, NOW), Err(Error::Body), "{body:?}");
    }
}

#[test]
fn sign_round_trips() {
    let route = Route {
        public_keys: vec![public(KEY_PEM)],
        ..route(RouteKind::Sendgrid, &[], None)
    };
    let draft = sign::Draft {
        body: ONE,
        event: None,
        id: None,
        now: NOW,
        private_key: Some(KEY_PEM),
    };
    let signed = sign::sign(&route, &draft).unwrap();
    let mut h = HeaderMap::new();
    for (k, v) in &signed.headers {
        set(&mut h, k, v);
    }
    let c = Verifier::new(&route).verify(&h, &signed.body, NOW).unwrap();
    assert_eq!(c.id, "rbtnWrG1DVDGGGFHFyun0A==");
    let ed = sign::Draft {
        private_key: Some(include_bytes!("../../../fixtures/discord/dev-key.pem")),
        ..draft
    };
    assert_eq!(
        sign::sign(&route, &ed),
        Err(sign::Error::BadPrivateKey("ECDSA P-256"))
    );
}
