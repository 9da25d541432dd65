//! `public_keys` parsing, through the config loader: every refusal names
//! `routes[i].public_keys[j]`. The keys are the dev keys of
//! `fixtures/discord/` and `fixtures/sendgrid/` and throwaway P-384/RSA
//! keys made with `openssl genpkey`.

use std::path::Path;

use super::*;
use crate::config::{Config, Error};

/// `fixtures/discord/dev-key.pub.hex`.
const ED25519_HEX: &str = include_str!("../../../../fixtures/discord/dev-key.pub.hex");
/// `fixtures/sendgrid/dev-key.pub.b64`.
const P256_B64: &str = include_str!("../../../../fixtures/sendgrid/dev-key.pub.b64");
/// A P-384 SubjectPublicKeyInfo (secp384r1).
const P384_B64: &str = "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEuAiCjVF3p0Dqe0xRFKGTuMnTbw/VMdopbcjp/l0/stxDvBOg9RcjlNRvuAegOGQoDtR+gPzhd+BJ+JJ3vyUQRGiY1xrkV0hdTTb7p26RnopktZwk95DGux+FrZZoS0r6";
/// An RSA 1024 SubjectPublicKeyInfo.
const RSA_B64: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDSxBZMFjxC+tulsJNtgUIM3BBZ8RxZD6hvWjmfpBX+OkE07z/8R7XjThRrIN+WV2LzxnO4EaIArUuNJoqoHRbXixN5FFJq9+l8H9f9sPmpk3cbqUX1LJ3wB7KPa/5w8rzG5ycCrki1KRPqx8spAyI6wQdTvW6207vbad5auXgP9QIDAQAB";

/// A config of one `kind` route with `keys` (TOML values) as its
/// `public_keys`.
fn config(kind: &str, keys: &[&str]) -> Result<Config, Error> {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| format!("{{ value = \"{}\" }}", k.trim()))
        .collect();
    let text = format!(
        "[server]\nplaintext = true\n[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n\
         [[routes]]\npath = \"/hooks/{kind}\"\nkind = \"{kind}\"\npublic_keys = [{}]\n",
        keys.join(", ")
    );
    Config::from_toml(Path::new("test.toml"), &text)
}

/// The key and reason of the config error for `keys`.
fn refused(kind: &str, keys: &[&str]) -> (String, String) {
    match config(kind, keys) {
        Err(Error::Invalid { key, reason, .. }) => (key, reason),
        Err(other) => panic!("expected Error::Invalid, got {other:?}"),
        Ok(_) => panic!("expected {keys:?} refused for {kind}"),
    }
}

#[test]
fn discord_key_parses_to_32_bytes() {
    let c = config("discord", &[ED25519_HEX]).unwrap();
    let key = &c.routes[0].public_keys[0];
    assert_eq!(key.algorithm, KeyAlgorithm::Ed25519);
    assert_eq!(key.bytes, hex::decode(ED25519_HEX.trim()).unwrap());
    assert!(key.usable_at(i64::MAX));
}

#[test]
fn discord_key_of_wrong_length_refused() {
    let short = &ED25519_HEX.trim()[..62];
    let (key, reason) = refused("discord", &[ED25519_HEX, short]);
    assert_eq!(key, "routes[0].public_keys[1]");
    assert!(reason.contains("64 hex characters"), "{reason}");
    assert!(reason.contains("got 62"), "{reason}");
}

#[test]
fn discord_key_not_hex_refused() {
    let bad = "z".repeat(64);
    let (key, reason) = refused("discord", &[&bad]);
    assert_eq!(key, "routes[0].public_keys[0]");
    assert!(reason.contains("0-9, a-f"), "{reason}");
}

#[test]
fn sendgrid_key_parses_to_the_uncompressed_point() {
    let c = config("sendgrid", &[P256_B64]).unwrap();
    let key = &c.routes[0].public_keys[0];
    assert_eq!(key.algorithm, KeyAlgorithm::EcdsaP256Sha256);
    assert_eq!(key.bytes.len(), 65);
    assert_eq!(key.bytes[0], 0x04);
    let der = base64::engine::general_purpose::STANDARD
        .decode(P256_B64.trim())
        .unwrap();
    assert!(der.ends_with(&key.bytes), "the SPKI's BIT STRING");
}

#[test]
fn sendgrid_key_in_pem_form_parses() {
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        P256_B64.trim()
    );
    let parsed = parse(KeyAlgorithm::EcdsaP256Sha256, &pem).unwrap();
    let plain = parse(KeyAlgorithm::EcdsaP256Sha256, P256_B64.trim()).unwrap();
    assert_eq!(parsed, plain);
}

#[test]
fn sendgrid_rsa_key_refused() {
    let (key, reason) = refused("sendgrid", &[P256_B64, RSA_B64]);
    assert_eq!(key, "routes[0].public_keys[1]");
    assert!(reason.contains("RSA"), "{reason}");
}

#[test]
fn sendgrid_p384_key_refused() {
    let (key, reason) = refused("sendgrid", &[P384_B64]);
    assert_eq!(key, "routes[0].public_keys[0]");
    assert!(reason.contains("P-384"), "{reason}");
}

#[test]
fn sendgrid_key_not_base64_or_not_spki_refused() {
    let (key, reason) = refused("sendgrid", &["not base64!"]);
    assert_eq!(key, "routes[0].public_keys[0]");
    assert!(reason.contains("not base64"), "{reason}");
    let (key, reason) = refused("sendgrid", &["AAAA"]);
    assert_eq!(key, "routes[0].public_keys[0]");
    assert!(reason.contains("SubjectPublicKeyInfo"), "{reason}");
}

#[test]
fn discord_key_is_not_a_sendgrid_key() {
    let (key, _) = refused("sendgrid", &[ED25519_HEX]);
    assert_eq!(key, "routes[0].public_keys[0]");
    let (key, _) = refused("discord", &[P256_B64]);
    assert_eq!(key, "routes[0].public_keys[0]");
}
