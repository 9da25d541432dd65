//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
//!
//! Idempotency key `X-Shopify-Webhook-Id` (stable across retries), event
//! `X-Shopify-Topic` (`orders/create`); no signed timestamp (PROVIDERS.md).

use base64::Engine as _;

use super::hmac::Algorithm;
use super::{body_hash_id, clean_id, Claims, Ctx, Error};

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-shopify-hmac-sha256";
/// Webhook id header.
pub(crate) const WEBHOOK_ID: &str = "x-shopify-webhook-id";
/// Topic header.
pub(crate) const TOPIC: &str = "x-shopify-topic";

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let sig = ctx.header(SIGNATURE)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig.trim())
        .map_err(|_| Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ctx.body], &[sig])
        .ok_or(Error::BadSignature)?;
    Ok(Claims {
        id: ctx
            .opt_header(WEBHOOK_ID)
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event: ctx.opt_header(TOPIC).map(str::to_owned),
        id_signed: false,
        secret_slot: slot,
        handshake: None,
    })
}
