//! Mailgun: no signature header; the JSON body holds
//! `signature.{timestamp,token,signature}`, `signature` a hex HMAC-SHA256
//! of `{timestamp}{token}` with the webhook signing key. The body itself is
//! NOT covered: its messages carry `x-hookgate-body-signed: false`. Window
//! 300 s both ways (mailgun-python `mailgun/security.py`). Id
//! `event-data.id`, else `signature.token`; event `event-data.event`
//! (PROVIDERS.md, Mailgun row; documentation.mailgun.com securing-webhooks).
//! Neither id is proven to belong to this body: `id_signed` is false, so a
//! replay of the same delivery is a duplicate, while a token reused with
//! other event data keys apart.

use super::generic::json_str;
use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, parse_unix, Claims, Ctx, Error};
use crate::config::Route;

/// The error label of the body's `signature` object.
pub(crate) const SIGNATURE: &str = "signature";

/// Longest `token` read (Mailgun's are 50 hex digits).
const MAX_TOKEN: usize = 256;

/// The `signature` object's members.
struct Signature<'a> {
    timestamp: String,
    token: &'a str,
    sig: Vec<u8>,
}

/// The `signature` object of `body`: `MalformedHeader("signature")` when
/// the body is not JSON or the object is incomplete (nothing verified yet).
fn signature(body: &serde_json::Value) -> Result<Signature<'_>, Error> {
    let malformed = Error::MalformedHeader(SIGNATURE);
    let s = body
        .get("signature")
        .ok_or(Error::MissingHeader(SIGNATURE))?;
    let timestamp = match s.get("timestamp") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(malformed),
    };
    let token = s
        .get("token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
        .ok_or(malformed.clone())?;
    let sig = s
        .get("signature")
        .and_then(serde_json::Value::as_str)
        .and_then(|h| super::decode_hex(h.trim()).ok())
        .ok_or(malformed)?;
    Ok(Signature {
        timestamp,
        token,
        sig,
    })
}

/// Verifies a Mailgun webhook.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let body: serde_json::Value =
        serde_json::from_slice(ctx.body).map_err(|_| Error::MalformedHeader(SIGNATURE))?;
    let s = signature(&body)?;
    let slot = ctx
        .matching_slot(
            Algorithm::Sha256,
            &[s.timestamp.as_bytes(), s.token.as_bytes()],
            &[s.sig],
        )
        .ok_or(Error::BadSignature)?;
    ctx.check_timestamp(parse_unix(&s.timestamp, SIGNATURE)?)?;
    let id = json_str(&body, &["event-data", "id"])
        .or_else(|| json_str(&body, &["signature", "token"]))
        .unwrap_or_else(|| body_hash_id(ctx.body));
    Ok(Claims {
        id,
        event: json_str(&body, &["event-data", "event"]),
        id_signed: false,
        secret_slot: slot,
        handshake: None,
    })
}

/// Signs as Mailgun would: the draft body (a JSON object, the
/// `event-data` wrapper) gets a `signature` object whose token is the
/// draft's id.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let mut body: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(d.body)
        .map_err(|_| sign::Error::Body("mailgun signs a JSON object"))?;
    let timestamp = d.now.to_string();
    let token = d.id_or_default();
    let sig = sign::mac(
        route,
        d.now,
        Algorithm::Sha256,
        &[timestamp.as_bytes(), token.as_bytes()],
    )?;
    body.insert(
        "signature".into(),
        serde_json::json!({
            "timestamp": timestamp,
            "token": token,
            "signature": hex::encode(sig),
        }),
    );
    let body = serde_json::to_vec(&body).map_err(|_| sign::Error::Body("not serialisable"))?;
    Ok(sign::json_post(route, &body, Vec::new()))
}
