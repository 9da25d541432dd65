//! Linear: `Linear-Signature: <hex HMAC-SHA256 of the body>`; freshness from
//! the body's `webhookTimestamp` (Unix milliseconds, so signed), 60 s both
//! ways (the kind's default `tolerance_s`). Id `Linear-Delivery` (unsigned),
//! else the body's hash; event `Linear-Event`, else the body's `type`
//! (PROVIDERS.md, Linear row; linear/linear
//! `packages/sdk/src/webhooks/client.ts`, `LINEAR_WEBHOOK_TS_FIELD`).
//!
//! The SDK falls back to a `linear-timestamp` header when the body has no
//! `webhookTimestamp`; that header is not signed, so here such a body is
//! refused (400 after the signature verified). A preset of the generic
//! scheme for the signature.

use std::sync::LazyLock;

use super::generic::{self, json_body, json_str, Scheme, Spec};
use super::sign::{self, Draft, Signed};
use super::{clean_id, Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "linear-signature";
/// Delivery id header (unsigned).
pub(crate) const DELIVERY: &str = "linear-delivery";
/// Event header (unsigned).
pub(crate) const EVENT: &str = "linear-event";
/// The body member with the signing time, Unix milliseconds.
pub(crate) const TIMESTAMP_FIELD: &str = "webhookTimestamp";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies a Linear delivery.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let scheme = SCHEME.as_ref().ok_or(Error::BadSignature)?;
    let checked = scheme.check(ctx)?;
    let body = json_body(ctx.body)?;
    let ms = body
        .get(TIMESTAMP_FIELD)
        .and_then(serde_json::Value::as_i64)
        .ok_or(Error::Body)?;
    check_ms(ctx, ms)?;
    let event = ctx
        .opt_header(EVENT)
        .and_then(clean_id)
        .or_else(|| json_str(&body, &["type"]));
    Ok(match ctx.opt_header(DELIVERY).and_then(clean_id) {
        Some(id) => Claims {
            id,
            event,
            id_signed: false,
            secret_slot: checked.slot,
            handshake: None,
        },
        None => generic::claims(ctx, checked.slot, None, event),
    })
}

/// Checks `webhookTimestamp` in milliseconds, as the SDK does
/// (`Math.abs(Date.now() - timestamp) > 60 s`), against the request time.
fn check_ms(ctx: &Ctx<'_>, ms: i64) -> Result<(), Error> {
    let now_ms = ctx.now.saturating_mul(1000);
    let tol_ms = ctx.tolerance_s.saturating_mul(1000);
    if now_ms.saturating_sub(ms) > tol_ms {
        Err(Error::Stale)
    } else if ms.saturating_sub(now_ms) > tol_ms {
        Err(Error::Future)
    } else {
        Ok(())
    }
}

/// Signs as Linear would, with `Linear-Delivery` and `Linear-Event`. A JSON
/// object body without `webhookTimestamp` gets one (the draft's time).
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let scheme = SCHEME.as_ref().ok_or(sign::Error::Unsupported("linear"))?;
    let mut body: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(d.body)
        .map_err(|_| sign::Error::Body("linear signs a JSON object"))?;
    let body = if body.contains_key(TIMESTAMP_FIELD) {
        d.body.to_vec()
    } else {
        body.insert(TIMESTAMP_FIELD.into(), d.now.saturating_mul(1000).into());
        serde_json::to_vec(&body).map_err(|_| sign::Error::Body("not serialisable"))?
    };
    let draft = Draft {
        body: &body,
        ..d.clone()
    };
    let mut headers = scheme.sign_headers(route, &draft, "POST")?;
    headers.push(("Linear-Delivery", d.id_or_default()));
    if let Some(e) = d.event {
        headers.push(("Linear-Event", e.to_owned()));
    }
    Ok(sign::json_post(route, &body, headers))
}
