//! Okta event hooks: no signature; the header the hook was registered with
//! (`channel.config.authScheme.key`, route key `header`, default
//! `Authorization`) carries a static secret, compared in constant time with
//! every unexpired secret (Okta developer docs, "Event hooks" concept and
//! API reference, okta/okta-developer-docs; PROVIDERS.md, Okta rows and
//! note 5).
//!
//! The one-time verification is a GET with `X-Okta-Verification-Challenge:
//! V` and the auth header (checked too), answered `{"verification":"V"}`.
//! Deliveries carry `eventId` (the key) and a batch `data.events[]`, the
//! first `eventType` naming the event. The secret binds no byte of the body,
//! so the id is not signed.

use subtle::ConstantTimeEq;

use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// The default secret header.
const AUTHORIZATION: &str = "authorization";
/// How a configured (non-default) secret header is named in errors.
const CONFIGURED: &str = "okta secret header";
/// The verification challenge header.
pub(crate) const CHALLENGE: &str = "x-okta-verification-challenge";
/// Longest challenge answered, in bytes (Okta's are ~40).
const MAX_CHALLENGE: usize = 256;

/// Checks the secret header, then answers the challenge (GET) or reads the
/// delivery (POST).
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let slot = authenticate(ctx)?;
    if ctx.method == http::Method::GET {
        let v = ctx.header(CHALLENGE)?;
        if v.is_empty() || v.len() > MAX_CHALLENGE || !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::MalformedHeader(CHALLENGE));
        }
        let answer = serde_json::json!({ "verification": v }).to_string();
        return Ok(Claims {
            id: body_hash_id(ctx.body),
            event: None,
            id_signed: false,
            secret_slot: slot,
            handshake: Some(Handshake::Json(answer)),
        });
    }
    let (id, event) = id_event(ctx.body)?;
    Ok(Claims {
        id: id
            .as_deref()
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event,
        id_signed: false,
        secret_slot: slot,
        handshake: None,
    })
}

/// The slot of the unexpired secret the header equals (every secret is
/// compared, in constant time).
fn authenticate(ctx: &Ctx<'_>) -> Result<usize, Error> {
    let (name, label) = match &ctx.route.secret_header {
        Some(h) => (h.as_str(), CONFIGURED),
        None => (AUTHORIZATION, AUTHORIZATION),
    };
    let value = ctx
        .headers
        .get(name)
        .ok_or(Error::MissingHeader(label))?
        .as_bytes();
    let mut found = None;
    for (slot, secret) in ctx.secrets.iter().enumerate() {
        if !secret.valid_at(ctx.now) {
            continue;
        }
        let hit: bool = value.ct_eq(secret.expose()).into();
        if hit && found.is_none() {
            found = Some(slot);
        }
    }
    found.ok_or(Error::BadSignature)
}

/// `eventId` and the first `data.events[].eventType`.
fn id_event(body: &[u8]) -> Result<(Option<String>, Option<String>), Error> {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "eventType")]
        event_type: Option<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(default)]
        events: Vec<Event>,
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "eventId")]
        event_id: Option<serde_json::Value>,
        data: Option<Data>,
    }
    let probe: Probe = serde_json::from_slice(body).map_err(|_| Error::Body)?;
    let text = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let event = probe
        .data
        .and_then(|d| d.events.into_iter().next())
        .and_then(|e| text(e.event_type));
    Ok((text(probe.event_id), event))
}

/// A delivery as Okta sends it: the secret in the route's header.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let secret = sign::secret(route, d.now)?;
    let value = std::str::from_utf8(secret.expose())
        .ok()
        .filter(|v| http::HeaderValue::from_str(v).is_ok())
        .ok_or(sign::Error::NoSecret)?;
    let name = route
        .secret_header
        .as_ref()
        .map_or("Authorization", http::HeaderName::as_str);
    Ok(sign::json_post(
        route,
        d.body,
        vec![(name, value.to_owned())],
    ))
}
