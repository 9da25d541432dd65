//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=...]`, each
//! `v1` an HMAC-SHA256 of `{t}.{body}`; any `v1` may match (secret rolling);
//! `v0` is ignored. Idempotency key and event type are the Event's `id` and
//! `type` in the body (PROVIDERS.md, Stripe row).

use super::hmac::Algorithm;
use super::{body_hash_id, clean_id, json_id_type, parse_unix, Claims, Ctx, Error};

/// Signature header.
pub(crate) const SIGNATURE: &str = "stripe-signature";

/// Most `v1` entries read from one header (Stripe sends one or two).
const MAX_SIGNATURES: usize = 8;

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let header = ctx.header(SIGNATURE)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for item in header.split(',') {
        let (k, v) = item
            .trim()
            .split_once('=')
            .ok_or(Error::MalformedHeader(SIGNATURE))?;
        match k {
            "t" if t.is_none() => t = Some(parse_unix(v, SIGNATURE)?),
            "t" => return Err(Error::MalformedHeader(SIGNATURE)),
            "v1" if sigs.len() < MAX_SIGNATURES => {
                // A malformed entry never matches; others may.
                if let Ok(sig) = super::decode_hex(v) {
                    sigs.push(sig);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(Error::MalformedHeader(SIGNATURE))?;
    if sigs.is_empty() {
        return Err(Error::MalformedHeader(SIGNATURE));
    }
    let ts = t.to_string();
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ts.as_bytes(), b".", ctx.body], &sigs)
        .ok_or(Error::BadSignature)?;
    ctx.check_timestamp(t)?;
    let (id, event) = json_id_type(ctx.body)?;
    Ok(Claims {
        id: id
            .as_deref()
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}
