//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256(secret token,
//! "v0:{x-zm-request-timestamp}:{body}")>`, the timestamp in Unix seconds,
//! checked both ways against `tolerance_s` (300 s by default; Zoom names
//! none). Zoom developer docs, "Using webhooks" (verify webhook events,
//! validate your webhook endpoint); PROVIDERS.md, Zoom rows.
//!
//! The signed `endpoint.url_validation` event is a handshake: the answer is
//! `{"plainToken":P,"encryptedToken":<hex HMAC-SHA256(secret, P)>}` keyed by
//! the secret that verified the request. Zoom sends no stable id: the key
//! is the body hash; the event is the body's `event`.

use super::hmac::{self, Algorithm};
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, parse_unix, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-zm-signature";
/// Signed timestamp header (Unix seconds).
pub(crate) const TIMESTAMP: &str = "x-zm-request-timestamp";
/// The event of the endpoint validation handshake.
const URL_VALIDATION: &str = "endpoint.url_validation";
/// Longest `plainToken` answered, in bytes (Zoom's are 22).
const MAX_PLAIN_TOKEN: usize = 256;

/// The body members read.
#[derive(serde::Deserialize)]
struct Body {
    event: Option<serde_json::Value>,
    payload: Option<Payload>,
}

/// `payload` of an `endpoint.url_validation`.
#[derive(serde::Deserialize)]
struct Payload {
    #[serde(rename = "plainToken")]
    plain_token: Option<serde_json::Value>,
}

/// Verifies a delivery; answers `endpoint.url_validation`.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let ts_text = ctx.header(TIMESTAMP)?.trim();
    let ts = parse_unix(ts_text, TIMESTAMP)?;
    let sig = ctx
        .header(SIGNATURE)?
        .strip_prefix("v0=")
        .and_then(|h| super::decode_hex(h.trim()).ok())
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(
            Algorithm::Sha256,
            &[b"v0:", ts_text.as_bytes(), b":", ctx.body],
            &[sig],
        )
        .ok_or(Error::BadSignature)?;
    ctx.check_timestamp(ts)?;
    let body: Body = serde_json::from_slice(ctx.body).map_err(|_| Error::Body)?;
    let event = match body.event {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let handshake = if event.as_deref() == Some(URL_VALIDATION) {
        Some(validation(ctx, slot, body.payload)?)
    } else {
        None
    };
    Ok(Claims {
        id: body_hash_id(ctx.body),
        event,
        id_signed: true,
        secret_slot: slot,
        handshake,
    })
}

/// The answer to `endpoint.url_validation`, keys in Zoom's order.
fn validation(ctx: &Ctx<'_>, slot: usize, payload: Option<Payload>) -> Result<Handshake, Error> {
    let plain = match payload.and_then(|p| p.plain_token) {
        Some(serde_json::Value::String(s))
            if !s.is_empty()
                && s.len() <= MAX_PLAIN_TOKEN
                && s.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            s
        }
        _ => return Err(Error::Body),
    };
    let secret = ctx.secrets.get(slot).ok_or(Error::BadSignature)?;
    let encrypted = hex::encode(hmac::tag(
        Algorithm::Sha256,
        secret.expose(),
        &[plain.as_bytes()],
    ));
    let plain_json = serde_json::to_string(&plain).map_err(|_| Error::Body)?;
    Ok(Handshake::Json(format!(
        "{{\"plainToken\":{plain_json},\"encryptedToken\":\"{encrypted}\"}}"
    )))
}

/// Signs a delivery as Zoom does, at the draft's time.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let t = d.now.to_string();
    let sig = sign::mac(
        route,
        d.now,
        Algorithm::Sha256,
        &[b"v0:", t.as_bytes(), b":", d.body],
    )?;
    Ok(sign::json_post(
        route,
        d.body,
        vec![
            ("x-zm-request-timestamp", t),
            ("x-zm-signature", format!("v0={}", hex::encode(sig))),
        ],
    ))
}
