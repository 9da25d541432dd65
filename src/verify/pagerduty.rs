//! PagerDuty (v3 webhooks): `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]`,
//! each an HMAC-SHA256 of the body (several during zero-downtime secret
//! rotation). Id `X-Webhook-Id` (unsigned; same on every attempt), else the
//! body's `event.id`; event the body's `event.event_type` (PROVIDERS.md,
//! PagerDuty row; PagerDuty/developer-docs `docs/webhooks/04-Signatures.md`).
//! A preset of the generic scheme; no signed timestamp.

use std::sync::LazyLock;

use super::generic::{self, json_body, json_str, Scheme, Spec};
use super::sign::{self, Draft, Signed};
use super::{clean_id, Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-pagerduty-signature";
/// Delivery id header (unsigned).
pub(crate) const WEBHOOK_ID: &str = "x-webhook-id";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    separator: Some(","),
    item_prefix: Some("v1="),
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies a PagerDuty v3 webhook.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let scheme = SCHEME.as_ref().ok_or(Error::BadSignature)?;
    let checked = scheme.check(ctx)?;
    let body = json_body(ctx.body)?;
    let event = json_str(&body, &["event", "event_type"]);
    Ok(match ctx.opt_header(WEBHOOK_ID).and_then(clean_id) {
        Some(id) => Claims {
            id,
            event,
            id_signed: false,
            secret_slot: checked.slot,
            handshake: None,
        },
        None => generic::claims(ctx, checked.slot, json_str(&body, &["event", "id"]), event),
    })
}

/// Signs as PagerDuty would, with `X-Webhook-Id`.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let scheme = SCHEME
        .as_ref()
        .ok_or(sign::Error::Unsupported("pagerduty"))?;
    let mut headers = scheme.sign_headers(route, d, "POST")?;
    headers.push(("X-Webhook-Id", d.id_or_default()));
    Ok(sign::json_post(route, d.body, headers))
}
