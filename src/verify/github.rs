//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! Idempotency key `X-GitHub-Delivery`, event `X-GitHub-Event`; no signed
//! timestamp (PROVIDERS.md, GitHub row).

use super::hmac::Algorithm;
use super::{body_hash_id, clean_id, Claims, Ctx, Error};

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-hub-signature-256";
/// Delivery id header (stable across manual redeliveries).
pub(crate) const DELIVERY: &str = "x-github-delivery";
/// Event name header.
pub(crate) const EVENT: &str = "x-github-event";

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let sig = ctx.header(SIGNATURE)?;
    let hex_sig = sig
        .strip_prefix("sha256=")
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let sig = super::decode_hex(hex_sig.trim()).map_err(|_| Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ctx.body], &[sig])
        .ok_or(Error::BadSignature)?;
    Ok(Claims {
        id: ctx
            .opt_header(DELIVERY)
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event: ctx.opt_header(EVENT).map(str::to_owned),
        id_signed: false,
        secret_slot: slot,
        handshake: None,
    })
}
