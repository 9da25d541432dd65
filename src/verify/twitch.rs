//! Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex
//! HMAC-SHA256(secret, "{message id}{timestamp}{body}")>`, the timestamp as
//! sent (RFC 3339, nanoseconds), refused when older or newer than
//! `tolerance_s` (600 s by default: Twitch says reject older than 10
//! minutes). Twitch developer docs, "Handling webhook events" (verifying the
//! event message, responding to a challenge request); PROVIDERS.md, Twitch
//! rows.
//!
//! `Twitch-Eventsub-Message-Type: webhook_callback_verification` is a
//! handshake answered with the body's `challenge` as text; `notification`
//! and `revocation` are deliveries. The key is the signed message id (the
//! same on a resend); the event is `Twitch-Eventsub-Subscription-Type`.

use time::format_description::well_known::Rfc3339;

use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{clean_id, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "twitch-eventsub-message-signature";
/// Message id header (signed; the idempotency key).
pub(crate) const MESSAGE_ID: &str = "twitch-eventsub-message-id";
/// Signed timestamp header (RFC 3339).
pub(crate) const TIMESTAMP: &str = "twitch-eventsub-message-timestamp";
/// `notification`, `webhook_callback_verification` or `revocation`.
pub(crate) const MESSAGE_TYPE: &str = "twitch-eventsub-message-type";
/// The subscription type (`channel.follow`): the event name.
pub(crate) const SUBSCRIPTION_TYPE: &str = "twitch-eventsub-subscription-type";
/// The handshake's message type.
const VERIFICATION: &str = "webhook_callback_verification";
/// Longest timestamp parsed (`2019-11-16T10:11:12.634234626+00:00` is 35).
const MAX_TIMESTAMP: usize = 64;
/// Longest challenge answered, in bytes (signed, so a generous bound).
const MAX_CHALLENGE: usize = 1024;

/// Verifies a message; answers the callback verification.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let id_text = ctx.header(MESSAGE_ID)?;
    let id = clean_id(id_text).ok_or(Error::MalformedHeader(MESSAGE_ID))?;
    let ts_text = ctx.header(TIMESTAMP)?;
    let ts = parse_rfc3339(ts_text)?;
    let sig = ctx
        .header(SIGNATURE)?
        .strip_prefix("sha256=")
        .and_then(|h| super::decode_hex(h.trim()).ok())
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(
            Algorithm::Sha256,
            &[id_text.as_bytes(), ts_text.as_bytes(), ctx.body],
            &[sig],
        )
        .ok_or(Error::BadSignature)?;
    ctx.check_timestamp(ts)?;
    let handshake = if ctx.opt_header(MESSAGE_TYPE) == Some(VERIFICATION) {
        Some(challenge(ctx.body)?)
    } else {
        None
    };
    Ok(Claims {
        id,
        event: ctx.opt_header(SUBSCRIPTION_TYPE).map(str::to_owned),
        id_signed: true,
        secret_slot: slot,
        handshake,
    })
}

/// Unix seconds of an RFC 3339 timestamp header.
fn parse_rfc3339(text: &str) -> Result<i64, Error> {
    if text.len() > MAX_TIMESTAMP {
        return Err(Error::MalformedHeader(TIMESTAMP));
    }
    time::OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Error::MalformedHeader(TIMESTAMP))
}

/// The body's `challenge`, as text.
fn challenge(body: &[u8]) -> Result<Handshake, Error> {
    #[derive(serde::Deserialize)]
    struct Probe {
        challenge: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(body).map_err(|_| Error::Body)?;
    match probe.challenge {
        Some(serde_json::Value::String(c))
            if !c.is_empty()
                && c.len() <= MAX_CHALLENGE
                && c.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Handshake::Text(c))
        }
        _ => Err(Error::Body),
    }
}

/// Signs a message as Twitch does: a body with a top-level `challenge` is
/// sent as the callback verification, any other as a `notification` of
/// the draft's event (default `channel.follow`).
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let id = d.id_or_default();
    let ts = time::OffsetDateTime::from_unix_timestamp(d.now)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or(sign::Error::Body("the signing time is not a valid date"))?;
    let sig = sign::mac(
        route,
        d.now,
        Algorithm::Sha256,
        &[id.as_bytes(), ts.as_bytes(), d.body],
    )?;
    let kind = if challenge(d.body).is_ok() {
        VERIFICATION
    } else {
        "notification"
    };
    Ok(sign::json_post(
        route,
        d.body,
        vec![
            ("Twitch-Eventsub-Message-Id", id),
            ("Twitch-Eventsub-Message-Retry", "0".to_owned()),
            ("Twitch-Eventsub-Message-Type", kind.to_owned()),
            (
                "Twitch-Eventsub-Message-Signature",
                format!("sha256={}", hex::encode(sig)),
            ),
            ("Twitch-Eventsub-Message-Timestamp", ts),
            (
                "Twitch-Eventsub-Subscription-Type",
                d.event.unwrap_or("channel.follow").to_owned(),
            ),
            ("Twitch-Eventsub-Subscription-Version", "1".to_owned()),
        ],
    ))
}
