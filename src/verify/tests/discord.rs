//! Discord: Ed25519 signatures made with `ring` from the dev keys of
//! `fixtures/discord/` (never with the product's signer), over the fixture
//! bodies.

use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::*;
use crate::config::{DiscordEndpoint, KeyAlgorithm, PublicKey};

const KEY_PEM: &[u8] = include_bytes!("../../../fixtures/discord/dev-key.pem");
const KEY2_PEM: &[u8] = include_bytes!("../../../fixtures/discord/dev-key-2.pem");
const KEY_HEX: &str = include_str!("../../../fixtures/discord/dev-key.pub.hex");
const COMMAND: &[u8] = include_bytes!("../../../fixtures/discord/application_command.json");
const PING: &[u8] = include_bytes!("../../../fixtures/discord/ping.json");
const EVENTS_PING: &[u8] = include_bytes!("../../../fixtures/discord/webhook_ping.json");
const AUTHORIZED: &[u8] = include_bytes!("../../../fixtures/discord/application_authorized.json");
const HEADERS: &str = include_str!("../../../fixtures/discord/application_command.headers.json");

/// The DER inside a PEM file (x509-parser's PEM reader).
pub(super) fn pem_der(pem: &[u8]) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem).unwrap().1.contents
}

fn pair(pem: &[u8]) -> Ed25519KeyPair {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der(pem)).unwrap()
}

fn public(pem: &[u8], not_after: Option<i64>) -> PublicKey {
    PublicKey {
        algorithm: KeyAlgorithm::Ed25519,
        bytes: pair(pem).public_key().as_ref().to_vec(),
        not_after: not_after.map(|t| time::OffsetDateTime::from_unix_timestamp(t).unwrap()),
    }
}

fn discord(keys: Vec<PublicKey>, endpoint: DiscordEndpoint) -> Verifier {
    Verifier::new(&Route {
        public_keys: keys,
        discord_endpoint: endpoint,
        ..route(RouteKind::Discord, &[], None)
    })
}

fn headers(pem: &[u8], ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(HEADERS);
    let ts = ts.to_string();
    let sig = pair(pem).sign(&[ts.as_bytes(), body].concat());
    set(&mut h, "X-Signature-Ed25519", &hex::encode(sig.as_ref()));
    set(&mut h, "X-Signature-Timestamp", &ts);
    h
}

#[test]
fn dev_key_matches_its_public_hex() {
    assert_eq!(
        hex::encode(pair(KEY_PEM).public_key().as_ref()),
        KEY_HEX.trim()
    );
}

#[test]
fn command_verifies_with_id_and_name() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let h = headers(KEY_PEM, NOW, COMMAND);
    assert_eq!(
        v.verify(&h, COMMAND, NOW).unwrap(),
        verified("1234567890123456789", Some("application_command.blep"), 0)
    );
}

#[test]
fn interactions_ping_answers_type_1() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let h = headers(KEY_PEM, NOW, PING);
    let c = v.verify(&h, PING, NOW).unwrap();
    assert_eq!(c.handshake, Some(Handshake::Json(r#"{"type":1}"#.into())));
}

#[test]
fn webhook_events_ping_answers_204_and_events_are_named() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::WebhookEvents);
    let h = headers(KEY_PEM, NOW, EVENTS_PING);
    assert_eq!(
        v.verify(&h, EVENTS_PING, NOW).unwrap().handshake,
        Some(Handshake::NoContent)
    );
    let h = headers(KEY_PEM, NOW, AUTHORIZED);
    assert_eq!(
        v.verify(&h, AUTHORIZED, NOW).unwrap(),
        verified(&sha256_id(AUTHORIZED), Some("APPLICATION_AUTHORIZED"), 0)
    );
}

#[test]
fn ping_needs_a_valid_signature() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let h = headers(KEY2_PEM, NOW, PING);
    assert_eq!(v.verify(&h, PING, NOW), Err(Error::BadSignature));
}

#[test]
fn tampered_body_and_wrong_key_refused() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let h = headers(KEY_PEM, NOW, COMMAND);
    assert_eq!(
        v.verify(&h, &tampered(COMMAND), NOW),
        Err(Error::BadSignature)
    );
    let h = headers(KEY2_PEM, NOW, COMMAND);
    assert_eq!(v.verify(&h, COMMAND, NOW), Err(Error::BadSignature));
}

#[test]
fn timestamp_is_signed_and_windowed() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let mut h = headers(KEY_PEM, NOW, COMMAND);
    set(&mut h, "X-Signature-Timestamp", &(NOW + 1).to_string());
    assert_eq!(v.verify(&h, COMMAND, NOW), Err(Error::BadSignature));
    let h = headers(KEY_PEM, NOW - TOLERANCE - 1, COMMAND);
    assert_eq!(v.verify(&h, COMMAND, NOW), Err(Error::Stale));
    let h = headers(KEY_PEM, NOW + TOLERANCE + 1, COMMAND);
    assert_eq!(v.verify(&h, COMMAND, NOW), Err(Error::Future));
}

#[test]
fn missing_and_malformed_headers() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let full = headers(KEY_PEM, NOW, COMMAND);
    for name in ["x-signature-ed25519", "x-signature-timestamp"] {
        let mut h = full.clone();
        h.remove(name);
        assert_eq!(v.verify(&h, COMMAND, NOW), Err(Error::MissingHeader(name)));
    }
    for bad in ["zz".repeat(64), "ab".repeat(65), "ab".repeat(5000)] {
        let mut h = full.clone();
        set(&mut h, "X-Signature-Ed25519", &bad);
        assert_eq!(
            v.verify(&h, COMMAND, NOW),
            Err(Error::MalformedHeader("x-signature-ed25519"))
        );
    }
}

#[test]
fn rotated_key_verifies_in_slot_1_and_expired_keys_do_not() {
    let keys = vec![public(KEY2_PEM, None), public(KEY_PEM, None)];
    let v = discord(keys, DiscordEndpoint::Interactions);
    let h = headers(KEY_PEM, NOW, COMMAND);
    assert_eq!(v.verify(&h, COMMAND, NOW).unwrap().secret_slot, 1);
    let v = discord(
        vec![public(KEY_PEM, Some(NOW - 1))],
        DiscordEndpoint::Interactions,
    );
    assert_eq!(v.verify(&h, COMMAND, NOW), Err(Error::BadSignature));
}

#[test]
fn signed_non_json_is_body_error() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    for body in [&b"not json"[..], br#"{"id":"1"}"#] {
        let h = headers(KEY_PEM, NOW, body);
        assert_eq!(v.verify(&h, body, NOW), Err(Error::Body));
    }
}

#[test]
fn sign_round_trips() {
    let route = Route {
        public_keys: vec![public(KEY_PEM, None)],
        ..route(RouteKind::Discord, &[], None)
    };
    let draft = sign::Draft {
        body: COMMAND,
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
    assert_eq!(c.id, "1234567890123456789");
    let der = sign::Draft {
        private_key: Some(&pem_der(KEY_PEM)),
        ..draft.clone()
    };
    assert_eq!(sign::sign(&route, &der).unwrap(), signed, "DER works too");
    let none = sign::Draft {
        private_key: None,
        ..draft.clone()
    };
    assert_eq!(
        sign::sign(&route, &none),
        Err(sign::Error::NoPrivateKey("discord"))
    );
    let ec = sign::Draft {
        private_key: Some(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ..draft
    };
    assert_eq!(
        sign::sign(&route, &ec),
        Err(sign::Error::BadPrivateKey("Ed25519"))
    );
}

#[test]
fn unknown_interaction_type_is_named_by_number() {
    let v = discord(vec![public(KEY_PEM, None)], DiscordEndpoint::Interactions);
    let body = br#"{"id":"42","type":9}"#;
    let h = headers(KEY_PEM, NOW, body);
    assert_eq!(
        v.verify(&h, body, NOW).unwrap(),
        verified("42", Some("type_9"), 0)
    );
}
