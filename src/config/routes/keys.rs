//! `public_keys` of the asymmetric kinds (discord, sendgrid) and the
//! per-kind options that are not secrets.
//!
//! A key is parsed at load, so a route that starts holds keys its verifier
//! can use: Discord's application public key is 64 hex characters (an
//! Ed25519 key, Discord developer portal "Public Key"); SendGrid's
//! verification key is base64 of a DER SubjectPublicKeyInfo of a P-256 key
//! (SendGrid "Event Webhook Security Features").

use std::path::PathBuf;

use serde::Deserialize;

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

#[allow(dead_code)] // read by discord, sendgrid (#17)
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
    let _ = text;
    Err(format!("{algorithm:?} keys are not supported yet"))
}
