//! Discord: `X-Signature-Ed25519: <hex Ed25519 signature>` over
//! `{X-Signature-Timestamp}{body}` with the application's public key
//! (PROVIDERS.md, Discord rows; discord/discord-interactions-js
//! `src/index.ts` `verifyKey`).
//!
//! Two endpoint types, one per route (`discord_endpoint`; discord-api-docs
//! `docs/interactions/overview.mdx`, `docs/events/webhook-events.mdx`):
//! - `interactions` (default): PING `{"type":1}` is answered `{"type":1}`;
//!   other interactions are keyed by their `id`, named
//!   `<type name>[.<data.name>]` (`application_command.deploy`).
//! - `webhook_events`: PING `{"type":0}` is answered 204; events are keyed
//!   by body hash (they carry no id), named by `event.type`.
//!
//! Discord's own libraries check no timestamp window; the route keeps one
//! (`tolerance_s`, default 300 s) as replay protection: Discord does not
//! retry interactions and signs each event delivery when sent.

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ED25519};

use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, parse_unix, Claims, Ctx, Error, Handshake};
use crate::config::{DiscordEndpoint, KeyAlgorithm, Route};

/// Signature header (hex of the 64-byte Ed25519 signature).
pub(crate) const SIGNATURE: &str = "x-signature-ed25519";
/// Signed timestamp header (Unix seconds).
pub(crate) const TIMESTAMP: &str = "x-signature-timestamp";

/// Interaction types (discord-api-docs `interactions/receiving-and-responding`,
/// "Interaction Type"), by number, as event names.
const INTERACTION_TYPES: [(u64, &str); 5] = [
    (1, "ping"),
    (2, "application_command"),
    (3, "message_component"),
    (4, "application_command_autocomplete"),
    (5, "modal_submit"),
];

/// Verifies a Discord request and answers its PING.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let ts_text = ctx.header(TIMESTAMP)?.trim();
    let ts = parse_unix(ts_text, TIMESTAMP)?;
    let sig = ctx.header(SIGNATURE)?.trim();
    let sig = (sig.len() == 128)
        .then(|| super::decode_hex(sig).ok())
        .flatten()
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let message = [ts_text.as_bytes(), ctx.body].concat();
    let slot = matching_key(ctx, &message, &sig).ok_or(Error::BadSignature)?;
    ctx.check_timestamp(ts)?;
    match ctx.route.discord_endpoint {
        DiscordEndpoint::Interactions => interaction(ctx.body, slot),
        DiscordEndpoint::WebhookEvents => webhook_event(ctx.body, slot),
    }
}

/// The slot of the first key usable at `ctx.now` whose signature over
/// `message` is `sig`; every usable key is tried. Shared with SendGrid:
/// the key's own algorithm picks the check.
pub(super) fn matching_key(ctx: &Ctx<'_>, message: &[u8], sig: &[u8]) -> Option<usize> {
    let mut found = None;
    for (slot, key) in ctx.route.public_keys.iter().enumerate() {
        if !key.usable_at(ctx.now) {
            continue;
        }
        let alg: &'static dyn ring::signature::VerificationAlgorithm = match key.algorithm {
            KeyAlgorithm::Ed25519 => &ED25519,
            KeyAlgorithm::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1,
        };
        let ok = UnparsedPublicKey::new(alg, &key.bytes)
            .verify(message, sig)
            .is_ok();
        if ok && found.is_none() {
            found = Some(slot);
        }
    }
    found
}

/// The parts of a Discord body the gateway reads.
#[derive(serde::Deserialize)]
struct Body {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<u64>,
    data: Option<Data>,
    event: Option<Event>,
}

/// Interaction `data` (its command name, when a command).
#[derive(serde::Deserialize)]
struct Data {
    name: Option<String>,
}

/// Webhook event `event` (its type, e.g. `APPLICATION_AUTHORIZED`).
#[derive(serde::Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// An Interactions endpoint body: PING answered, others keyed by `id`.
fn interaction(body: &[u8], slot: usize) -> Result<Claims, Error> {
    let b: Body = serde_json::from_slice(body).map_err(|_| Error::Body)?;
    let kind = b.kind.ok_or(Error::Body)?;
    let name = INTERACTION_TYPES
        .iter()
        .find(|(n, _)| *n == kind)
        .map_or_else(|| format!("type_{kind}"), |(_, name)| (*name).to_owned());
    let event = match b.data.and_then(|d| d.name) {
        Some(command) => format!("{name}.{command}"),
        None => name,
    };
    Ok(Claims {
        id: b
            .id
            .as_deref()
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(body)),
        event: Some(event),
        id_signed: true,
        secret_slot: slot,
        handshake: (kind == 1).then(|| Handshake::Json(r#"{"type":1}"#.to_owned())),
    })
}

/// A Webhook Events endpoint body: PING (type 0) answered 204, events
/// (type 1) named by `event.type`, keyed by body hash.
fn webhook_event(body: &[u8], slot: usize) -> Result<Claims, Error> {
    let b: Body = serde_json::from_slice(body).map_err(|_| Error::Body)?;
    let kind = b.kind.ok_or(Error::Body)?;
    Ok(Claims {
        id: body_hash_id(body),
        event: b.event.and_then(|e| e.kind),
        id_signed: true,
        secret_slot: slot,
        handshake: (kind == 0).then_some(Handshake::NoContent),
    })
}

/// Signs as Discord does: `X-Signature-Ed25519` and
/// `X-Signature-Timestamp`, with the PKCS#8 Ed25519 private key given.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let der = pkcs8_der(
        draft
            .private_key
            .ok_or(sign::Error::NoPrivateKey("discord"))?,
    )
    .ok_or(sign::Error::BadPrivateKey("Ed25519"))?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|_| sign::Error::BadPrivateKey("Ed25519"))?;
    let ts = draft.now.to_string();
    let sig = pair.sign(&[ts.as_bytes(), draft.body].concat());
    Ok(sign::json_post(
        route,
        draft.body,
        vec![
            ("X-Signature-Ed25519", hex::encode(sig.as_ref())),
            ("X-Signature-Timestamp", ts),
        ],
    ))
}

/// The DER of a PKCS#8 private key given as PEM (`PRIVATE KEY`, as
/// `openssl genpkey` writes it) or as DER. Shared with SendGrid.
pub(super) fn pkcs8_der(key: &[u8]) -> Option<Vec<u8>> {
    if key.trim_ascii_start().starts_with(b"-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(key).ok()?;
        (pem.label == "PRIVATE KEY").then_some(pem.contents)
    } else {
        Some(key.to_vec())
    }
}
