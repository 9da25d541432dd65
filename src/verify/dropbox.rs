//! Dropbox: `X-Dropbox-Signature: <hex HMAC-SHA256(app secret, body)>`; no
//! timestamp, no id (Dropbox developers, "Webhooks" reference; PROVIDERS.md,
//! Dropbox rows).
//!
//! The verification request is an unsigned GET `?challenge=C`, answered
//! with `C` as text (`respond.rs` adds `X-Content-Type-Options: nosniff`,
//! which Dropbox asks for): an echo, proving only that the URL answers.
//! Deliveries only say which accounts changed: the key is the body hash,
//! the event always `list_folder`.

use super::hmac::Algorithm;
use super::meta::{bounded, query_value, unsigned_handshake};
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-dropbox-signature";
/// Query parameter of the verification request.
const CHALLENGE: &str = "challenge";
/// The one notification type Dropbox sends.
const EVENT: &str = "list_folder";

/// Verifies a notification (POST) or echoes the challenge (GET).
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    if ctx.method == http::Method::GET {
        let c = query_value(ctx.uri, CHALLENGE).ok_or(Error::MissingHeader(CHALLENGE))?;
        let c = bounded(&c, false).ok_or(Error::MalformedHeader(CHALLENGE))?;
        return Ok(unsigned_handshake(ctx, Handshake::Text(c)));
    }
    let sig = super::decode_hex(ctx.header(SIGNATURE)?.trim())
        .map_err(|_| Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ctx.body], &[sig])
        .ok_or(Error::BadSignature)?;
    Ok(Claims {
        id: body_hash_id(ctx.body),
        event: Some(EVENT.to_owned()),
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}

/// Signs a notification as Dropbox does.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let sig = sign::mac(route, d.now, Algorithm::Sha256, &[d.body])?;
    Ok(sign::json_post(
        route,
        d.body,
        vec![("X-Dropbox-Signature", hex::encode(sig))],
    ))
}
