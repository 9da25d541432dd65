//! Microsoft Graph change notifications: no signature; every notification
//! of the batch carries the subscription's `clientState`, which must equal
//! an unexpired secret (constant time; each notification may match any
//! secret, since one URL may serve several subscriptions and a rotation).
//! Microsoft Learn, "Receive change notifications through webhooks" and the
//! `changeNotification` resource; PROVIDERS.md, Microsoft Graph rows.
//!
//! The validation request is a POST `?validationToken=T` (empty or text
//! body), answered with `T` URL-decoded as text within 10 s; it carries no
//! secret, so `T` is bounded (printable ASCII, spaces allowed: Graph's
//! tokens are sentences) and nothing is queued. The key is `value[].id`
//! when the batch holds exactly one notification with an id, else the body
//! hash; the event is the first `changeType` (lifecycle notifications:
//! `lifecycleEvent`). Rich notifications' `validationTokens` (JWTs over
//! encrypted content) are not checked.

use subtle::ConstantTimeEq;

use super::meta::{bounded, query_value, unsigned_handshake};
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// Query parameter of the validation request.
const VALIDATION_TOKEN: &str = "validationToken";
/// Most notifications read from one request (beyond: refused).
const MAX_NOTIFICATIONS: usize = 1000;

/// One `value[]` element, the members read.
#[derive(serde::Deserialize)]
struct Notification {
    #[serde(rename = "clientState")]
    client_state: Option<String>,
    id: Option<serde_json::Value>,
    #[serde(rename = "changeType")]
    change_type: Option<serde_json::Value>,
    #[serde(rename = "lifecycleEvent")]
    lifecycle_event: Option<serde_json::Value>,
}

/// The notification collection.
#[derive(serde::Deserialize)]
struct Collection {
    value: Vec<Notification>,
}

/// Answers the validation request or checks every `clientState`.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    if let Some(token) = query_value(ctx.uri, VALIDATION_TOKEN) {
        let token = bounded(&token, true).ok_or(Error::MalformedHeader(VALIDATION_TOKEN))?;
        return Ok(unsigned_handshake(ctx, Handshake::Text(token)));
    }
    // The secret travels in the body: a body without it proves nothing (401).
    let batch: Collection = serde_json::from_slice(ctx.body).map_err(|_| Error::BadSignature)?;
    if batch.value.is_empty() || batch.value.len() > MAX_NOTIFICATIONS {
        return Err(Error::BadSignature);
    }
    let mut first_slot = None;
    for n in &batch.value {
        let state = n.client_state.as_deref().ok_or(Error::BadSignature)?;
        let slot = matching_secret(ctx, state.as_bytes()).ok_or(Error::BadSignature)?;
        first_slot.get_or_insert(slot);
    }
    let text = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let id = match batch.value.as_slice() {
        [one] => text(&one.id).as_deref().and_then(clean_id),
        _ => None,
    };
    let event = batch
        .value
        .first()
        .and_then(|n| text(&n.change_type).or_else(|| text(&n.lifecycle_event)));
    Ok(Claims {
        id: id.unwrap_or_else(|| body_hash_id(ctx.body)),
        event,
        id_signed: false,
        secret_slot: first_slot.unwrap_or(0),
        handshake: None,
    })
}

/// The slot of the unexpired secret equal to `state` (all compared, in
/// constant time).
fn matching_secret(ctx: &Ctx<'_>, state: &[u8]) -> Option<usize> {
    let mut found = None;
    for (slot, secret) in ctx.secrets.iter().enumerate() {
        if !secret.valid_at(ctx.now) {
            continue;
        }
        let hit: bool = state.ct_eq(secret.expose()).into();
        if hit && found.is_none() {
            found = Some(slot);
        }
    }
    found
}

/// A notification as Graph sends it: the body with every `value[]`
/// element's `clientState` set to the route's first usable secret
/// (re-serialised when it had to change).
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let secret = sign::secret(route, d.now)?;
    let state = std::str::from_utf8(secret.expose())
        .map_err(|_| sign::Error::Body("the clientState secret is not UTF-8"))?;
    let mut doc: serde_json::Value = serde_json::from_slice(d.body)
        .map_err(|_| sign::Error::Body("a change notification collection is JSON"))?;
    let items = doc
        .get_mut("value")
        .and_then(serde_json::Value::as_array_mut)
        .ok_or(sign::Error::Body("the body needs a `value` array"))?;
    let mut changed = false;
    for item in items.iter_mut() {
        let obj = item
            .as_object_mut()
            .ok_or(sign::Error::Body("each `value[]` is an object"))?;
        if obj.get("clientState").and_then(|v| v.as_str()) != Some(state) {
            obj.insert("clientState".to_owned(), state.into());
            changed = true;
        }
    }
    let body = if changed {
        serde_json::to_vec(&doc).map_err(|_| sign::Error::Body("re-serialising the body"))?
    } else {
        d.body.to_vec()
    };
    Ok(sign::json_post(route, &body, Vec::new()))
}
