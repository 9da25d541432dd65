//! Standard Webhooks (and Svix, with `svix-` header names): `webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64> [v1,<base64> ...]`,
//! each an HMAC-SHA256 of `{id}.{timestamp}.{body}` under the base64-decoded
//! `whsec_` key; any listed `v1` may match; +-tolerance both ways. The id is
//! signed, so it is the idempotency key; the event is the payload's `type`
//! (standardwebhooks.com spec; PROVIDERS.md).

use base64::Engine as _;

use super::hmac::Algorithm;
use super::{clean_id, parse_unix, Claims, Ctx, Error};

/// Message id header, and its Svix name.
pub(crate) const ID: [&str; 2] = ["webhook-id", "svix-id"];
/// Timestamp header, and its Svix name.
pub(crate) const TIMESTAMP: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
/// Signature header, and its Svix name.
pub(crate) const SIGNATURE: [&str; 2] = ["webhook-signature", "svix-signature"];

/// Most signatures read from one header.
const MAX_SIGNATURES: usize = 8;

fn either<'a>(ctx: &'a Ctx<'_>, names: [&'static str; 2]) -> Result<&'a str, Error> {
    match ctx.header(names[0]) {
        Err(Error::MissingHeader(_)) => ctx.header(names[1]),
        other => other,
    }
}

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let id = either(ctx, ID)?;
    let id = clean_id(id).ok_or(Error::MalformedHeader(ID[0]))?;
    let ts_text = either(ctx, TIMESTAMP)?.trim();
    let ts = parse_unix(ts_text, TIMESTAMP[0])?;
    let sigs: Vec<Vec<u8>> = either(ctx, SIGNATURE)?
        .split_ascii_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .take(MAX_SIGNATURES)
        .collect();
    if sigs.is_empty() {
        return Err(Error::MalformedHeader(SIGNATURE[0]));
    }
    let slot = ctx
        .matching_slot(
            Algorithm::Sha256,
            &[id.as_bytes(), b".", ts_text.as_bytes(), b".", ctx.body],
            &sigs,
        )
        .ok_or(Error::BadSignature)?;
    ctx.check_timestamp(ts)?;
    // The payload's `type` names the event; a body that is not a JSON object
    // simply has none.
    let event = super::json_id_type(ctx.body).ok().and_then(|(_, t)| t);
    Ok(Claims {
        id,
        event,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}
