//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`
//! with `X-Slack-Request-Timestamp`, 300 s tolerance (PROVIDERS.md, Slack row).
//!
//! Events API bodies are JSON: `url_verification` is a handshake answered with
//! its `challenge`; `event_callback` carries `event_id` (idempotency key) and
//! `event.type` (the event name). Slash commands and interactivity send
//! form-encoded bodies: those are keyed by body hash with no event name.

use super::hmac::Algorithm;
use super::{body_hash_id, clean_id, parse_unix, Claims, Ctx, Error, Handshake};

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-slack-signature";
/// Signed timestamp header (Unix seconds).
pub(crate) const TIMESTAMP: &str = "x-slack-request-timestamp";

/// Longest `challenge` echoed back, in bytes (Slack's are ~48).
const MAX_CHALLENGE: usize = 256;

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let ts_text = ctx.header(TIMESTAMP)?.trim();
    let ts = parse_unix(ts_text, TIMESTAMP)?;
    let sig = ctx.header(SIGNATURE)?;
    let sig = sig
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

    let looks_json = ctx
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    if !looks_json {
        return Ok(Claims {
            id: body_hash_id(ctx.body),
            event: None,
            id_signed: true,
            secret_slot: slot,
            handshake: None,
        });
    }

    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        kind: Option<String>,
        challenge: Option<String>,
        event_id: Option<String>,
        event: Option<Inner>,
    }
    let env: Envelope = serde_json::from_slice(ctx.body).map_err(|_| Error::Body)?;
    if env.kind.as_deref() == Some("url_verification") {
        let challenge = env
            .challenge
            .filter(|c| c.len() <= MAX_CHALLENGE && c.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or(Error::Body)?;
        return Ok(Claims {
            id: body_hash_id(ctx.body),
            event: Some("url_verification".into()),
            id_signed: true,
            secret_slot: slot,
            handshake: Some(Handshake::Json(
                serde_json::json!({ "challenge": challenge }).to_string(),
            )),
        });
    }
    Ok(Claims {
        id: env
            .event_id
            .as_deref()
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event: env.event.and_then(|e| e.kind).or(env.kind),
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}
