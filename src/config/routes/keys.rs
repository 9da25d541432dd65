//! `public_keys` of the asymmetric kinds (discord, sendgrid) and the
//! per-kind options that are not secrets.
//!
//! A key is parsed at load, so a route that starts holds keys its verifier
//! can use: Discord's application public key is 64 hex characters (an
//! Ed25519 key, Discord developer portal "Public Key"); SendGrid's
//! verification key is base64 of a DER SubjectPublicKeyInfo of a P-256 key
//! (SendGrid "Event Webhook Security Features").

use std::path::PathBuf;

use base64::Engine as _;
use serde::Deserialize;
use x509_parser::asn1_rs::FromDer as _;
use x509_parser::oid_registry as oid;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Where a public key comes from: exactly one of `value`, `env` or `file`
/// (a public key is no secret: it may be written inline).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    /// The key, as the provider shows it.
    pub value: Option<String>,
    /// Name of an environment variable holding the key.
    pub env: Option<String>,
    /// Path of a file holding the key (surrounding whitespace is trimmed).
    pub file: Option<PathBuf>,
    /// RFC 3339 time after which the key no longer verifies (rotation).
    pub not_after: Option<String>,
}

/// The signature algorithm of a [`PublicKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032): `bytes` is the 32-byte public key.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signatures: `bytes` is the
    /// 65-byte uncompressed SEC1 point.
    EcdsaP256Sha256,
}

/// A validated public key with its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// What verifies with it.
    pub(crate) algorithm: KeyAlgorithm,
    /// The raw key (see [`KeyAlgorithm`] for the form).
    pub(crate) bytes: Vec<u8>,
    /// After this instant the key no longer verifies.
    pub(crate) not_after: Option<time::OffsetDateTime>,
}

impl PublicKey {
    /// Whether the key may verify at Unix time `now` (seconds).
    pub(crate) fn usable_at(&self, now: i64) -> bool {
        self.not_after.is_none_or(|t| now <= t.unix_timestamp())
    }
}

/// Which Discord endpoint a route is (Discord developer documentation,
/// "Interactions: Receiving and Responding" and "Webhook Events").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscordEndpoint {
    /// Interactions Endpoint URL: PING (`"type":1`) is answered
    /// `{"type":1}`.
    #[default]
    Interactions,
    /// Webhook Events URL: PING (`"type":0`) is answered 204.
    WebhookEvents,
}

/// Parses a key's text for `algorithm`.
///
/// # Errors
/// The reason, for the config error naming the key.
pub(crate) fn parse(algorithm: KeyAlgorithm, text: &str) -> Result<PublicKey, String> {
    let bytes = match algorithm {
        KeyAlgorithm::Ed25519 => ed25519(text)?,
        KeyAlgorithm::EcdsaP256Sha256 => p256_point(&spki_der(text)?)?,
    };
    Ok(PublicKey {
        algorithm,
        bytes,
        not_after: None,
    })
}

/// Discord's "Public Key": 64 hex characters, the 32-byte Ed25519 key.
fn ed25519(text: &str) -> Result<Vec<u8>, String> {
    if text.len() != 64 {
        return Err(format!(
            "an Ed25519 public key is 64 hex characters (Discord's \"Public Key\"), got {}",
            text.len()
        ));
    }
    hex::decode(text).map_err(|_| "an Ed25519 public key is 64 hex characters (0-9, a-f)".into())
}

/// The DER of SendGrid's verification key: base64 of a
/// SubjectPublicKeyInfo as the console shows it, or the same in a
/// `PUBLIC KEY` PEM block.
fn spki_der(text: &str) -> Result<Vec<u8>, String> {
    if text.starts_with("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
            .map_err(|e| format!("not a PEM block: {e}"))?;
        if pem.label != "PUBLIC KEY" {
            return Err(format!("a PEM {:?} block, not PUBLIC KEY", pem.label));
        }
        return Ok(pem.contents);
    }
    let compact: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "not base64 (SendGrid's verification key is base64 DER)".into())
}

/// The 65-byte uncompressed point of a P-256 SubjectPublicKeyInfo; other
/// algorithms and curves refused by name.
fn p256_point(der: &[u8]) -> Result<Vec<u8>, String> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| "not a DER SubjectPublicKeyInfo".to_owned())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the SubjectPublicKeyInfo".into());
    }
    let alg = &spki.algorithm;
    if alg.algorithm == oid::OID_PKCS1_RSAENCRYPTION {
        return Err("an RSA key: SendGrid signs with ECDSA P-256".into());
    }
    if alg.algorithm != oid::OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(format!(
            "algorithm {} is not id-ecPublicKey (SendGrid signs with ECDSA P-256)",
            alg.algorithm
        ));
    }
    let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
    match curve {
        Some(c) if c == oid::OID_EC_P256 => {}
        Some(c) if c == oid::OID_NIST_EC_P384 => {
            return Err("a P-384 key: SendGrid signs with P-256 (prime256v1)".into())
        }
        Some(c) => return Err(format!("curve {c} is not P-256 (prime256v1)")),
        None => return Err("an EC key without a named curve; P-256 expected".into()),
    }
    let point = spki.subject_public_key.data.as_ref();
    if point.len() != 65 || point[0] != 0x04 {
        return Err("the P-256 point is not 65 bytes uncompressed (04 || x || y)".into());
    }
    Ok(point.to_vec())
}

#[cfg(test)]
mod tests;
