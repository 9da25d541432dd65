//! Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256>` over
//! `{notification_url}{body}`, the URL exactly as subscribed: the route's
//! `public_url` as configured, never rebuilt from the request (PROVIDERS.md,
//! Square rows; square/square-python-sdk `src/square/utils/webhooks_helper.py`
//! `is_valid_webhook_event_signature`). No timestamp is signed.
//!
//! The body is an event: keyed by `event_id`, named by `type`.

use base64::Engine as _;

use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-square-hmacsha256-signature";

/// Longest signature header read (base64 of 32 bytes is 44 characters).
const MAX_SIGNATURE_CHARS: usize = 64;

/// Verifies a Square webhook request.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let sig = ctx.header(SIGNATURE)?.trim();
    let sig = (sig.len() <= MAX_SIGNATURE_CHARS)
        .then(|| base64::engine::general_purpose::STANDARD.decode(sig).ok())
        .flatten()
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    // The SDK refuses an empty body before any HMAC.
    let url = ctx.route.public_url.as_deref().unwrap_or_default();
    if ctx.body.is_empty() || url.is_empty() {
        return Err(Error::BadSignature);
    }
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[url.as_bytes(), ctx.body], &[sig])
        .ok_or(Error::BadSignature)?;
    #[derive(serde::Deserialize)]
    struct Event {
        event_id: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let event: Event = serde_json::from_slice(ctx.body).map_err(|_| Error::Body)?;
    Ok(Claims {
        id: event
            .event_id
            .as_deref()
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event: event.kind,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}

/// Signs as Square does, over the route's `public_url` and the body.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let url = route
        .public_url
        .as_deref()
        .ok_or(sign::Error::Unsupported("square"))?;
    let sig = sign::mac(
        route,
        draft.now,
        Algorithm::Sha256,
        &[url.as_bytes(), draft.body],
    )?;
    Ok(sign::json_post(
        route,
        draft.body,
        vec![("x-square-hmacsha256-signature", sign::b64(&sig))],
    ))
}
