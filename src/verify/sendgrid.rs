//! SendGrid Event Webhook: `X-Twilio-Email-Event-Webhook-Signature: <base64
//! DER ECDSA P-256/SHA-256 signature>` over
//! `{X-Twilio-Email-Event-Webhook-Timestamp}{body}`, the body exactly as
//! received (it ends in CRLF), with the account's verification key
//! (PROVIDERS.md, SendGrid rows; sendgrid/sendgrid-python
//! `sendgrid/helpers/eventwebhook/__init__.py` `verify_signature`).
//!
//! The body is a JSON array of events: one event is keyed by its
//! `sg_event_id`, several by body hash; the event name is the events'
//! `event` when they all share one. SendGrid's SDKs check no timestamp
//! window; the route keeps one (`tolerance_s`, default 300 s) as replay
//! protection.

use base64::Engine as _;

use super::discord::{matching_key, pkcs8_der};
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, parse_unix, Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
/// Signed timestamp header (Unix seconds).
pub(crate) const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// Longest signature header read: base64 of a DER P-256 signature is at
/// most 96 characters.
const MAX_SIGNATURE_CHARS: usize = 128;

/// Verifies a SendGrid Event Webhook request.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let ts_text = ctx.header(TIMESTAMP)?.trim();
    let ts = parse_unix(ts_text, TIMESTAMP)?;
    let sig = ctx.header(SIGNATURE)?.trim();
    let sig = (sig.len() <= MAX_SIGNATURE_CHARS)
        .then(|| base64::engine::general_purpose::STANDARD.decode(sig).ok())
        .flatten()
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let message = [ts_text.as_bytes(), ctx.body].concat();
    let slot = matching_key(ctx, &message, &sig).ok_or(Error::BadSignature)?;
    ctx.check_timestamp(ts)?;
    let (id, event) = batch_id_event(ctx.body, "sg_event_id", "event")?;
    Ok(Claims {
        id,
        event,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}

/// Id and event name of a JSON array of events (SendGrid, HubSpot): one
/// event gives its own `id_key` (a string or a number), several the body
/// hash; the name is `event_key` when every event has the same one.
/// `Err(Body)` when the body is not a non-empty array of objects.
pub(super) fn batch_id_event(
    body: &[u8],
    id_key: &str,
    event_key: &str,
) -> Result<(String, Option<String>), Error> {
    let events: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(body).map_err(|_| Error::Body)?;
    let text = |e: &serde_json::Map<String, serde_json::Value>, k: &str| match e.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (first, rest) = events.split_first().ok_or(Error::Body)?;
    let id = match rest {
        [] => text(first, id_key).as_deref().and_then(clean_id),
        _ => None,
    };
    let event = text(first, event_key).filter(|name| {
        rest.iter()
            .all(|e| text(e, event_key).as_ref() == Some(name))
    });
    Ok((id.unwrap_or_else(|| body_hash_id(body)), event))
}

/// Signs as SendGrid does, with the PKCS#8 P-256 private key given.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let bad = sign::Error::BadPrivateKey("ECDSA P-256");
    let der = pkcs8_der(
        draft
            .private_key
            .ok_or(sign::Error::NoPrivateKey("sendgrid"))?,
    )
    .ok_or(bad.clone())?;
    let rng = ring::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
        .map_err(|_| bad.clone())?;
    let ts = draft.now.to_string();
    let sig = pair
        .sign(&rng, &[ts.as_bytes(), draft.body].concat())
        .map_err(|_| bad)?;
    Ok(sign::json_post(
        route,
        draft.body,
        vec![
            (
                "X-Twilio-Email-Event-Webhook-Signature",
                sign::b64(sig.as_ref()),
            ),
            ("X-Twilio-Email-Event-Webhook-Timestamp", ts),
        ],
    ))
}
