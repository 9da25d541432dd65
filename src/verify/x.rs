//! X (Twitter) Account Activity: `x-twitter-webhooks-signature: sha256=<base64
//! HMAC-SHA256(consumer secret, body)>`; no timestamp, no id (X developer
//! docs, Account Activity API, "Securing webhooks"; PROVIDERS.md, X rows).
//!
//! The Challenge-Response Check is an unsigned GET `?crc_token=T`, answered
//! `{"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, T)>"}`
//! with the first unexpired secret: the answer proves the secret, so X
//! knows the URL is ours. Deliveries are keyed by the body hash; the event
//! is the body's top-level `*_events` key (`tweet_create_events`).

use std::fmt;

use base64::Engine as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use super::hmac::{self, Algorithm};
use super::meta::{bounded, query_value, unsigned_handshake};
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// Standard base64, as X encodes the signature.
const STANDARD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-twitter-webhooks-signature";
/// Query parameter of the CRC.
const CRC_TOKEN: &str = "crc_token";

/// Verifies a delivery (POST) or answers the CRC (GET).
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    if ctx.method == http::Method::GET {
        return crc(ctx);
    }
    let sig = ctx
        .header(SIGNATURE)?
        .strip_prefix("sha256=")
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ctx.body], &[sig])
        .ok_or(Error::BadSignature)?;
    let event = serde_json::from_slice::<EventKey>(ctx.body)
        .map_err(|_| Error::Body)?
        .0;
    Ok(Claims {
        id: body_hash_id(ctx.body),
        event,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}

/// The CRC answer, keyed by the first secret usable now.
fn crc(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let token = query_value(ctx.uri, CRC_TOKEN).ok_or(Error::MissingHeader(CRC_TOKEN))?;
    let token = bounded(&token, false).ok_or(Error::MalformedHeader(CRC_TOKEN))?;
    let secret = ctx
        .secrets
        .iter()
        .find(|s| s.valid_at(ctx.now))
        .ok_or(Error::BadSignature)?;
    let tag = hmac::tag(Algorithm::Sha256, secret.expose(), &[token.as_bytes()]);
    let answer = serde_json::json!({ "response_token": format!("sha256={}", sign::b64(&tag)) });
    Ok(unsigned_handshake(ctx, Handshake::Json(answer.to_string())))
}

/// The first top-level key ending in `_events`, in document order (`None`
/// when there is none, as for `user_event` revocations).
struct EventKey(Option<String>);

impl<'de> serde::Deserialize<'de> for EventKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventKeyVisitor)
    }
}

/// Walks the top-level object, skipping every value.
struct EventKeyVisitor;

impl<'de> Visitor<'de> for EventKeyVisitor {
    type Value = EventKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventKey, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if found.is_none() && key.ends_with("_events") {
                found = Some(key);
            }
        }
        Ok(EventKey(found))
    }
}

/// Signs a delivery as X does.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let sig = sign::mac(route, d.now, Algorithm::Sha256, &[d.body])?;
    Ok(sign::json_post(
        route,
        d.body,
        vec![(
            "x-twitter-webhooks-signature",
            format!("sha256={}", sign::b64(&sig)),
        )],
    ))
}
