//! Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex>`, `v1` an
//! HMAC-SHA256 of `{t}.{body}` with the webhook signing key. No delivery id:
//! the body's hash; event: the body's `event` (`invitee.created`)
//! (PROVIDERS.md, Calendly row; developer.calendly.com webhook-signatures).
//! A preset of the generic scheme; window 300 s both ways.

use std::sync::LazyLock;

use super::generic::{self, json_body, json_str, Scheme, Spec};
use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "calendly-webhook-signature";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    separator: Some(","),
    item_prefix: Some("v1="),
    timestamp_item: Some("t="),
    signed_payload: "{timestamp}.{body}",
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies a Calendly delivery.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let scheme = SCHEME.as_ref().ok_or(Error::BadSignature)?;
    let checked = scheme.check(ctx)?;
    let body = json_body(ctx.body)?;
    Ok(generic::claims(
        ctx,
        checked.slot,
        None,
        json_str(&body, &["event"]),
    ))
}

/// Signs as Calendly would: `Calendly-Webhook-Signature: t=..,v1=..`.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let scheme = SCHEME
        .as_ref()
        .ok_or(sign::Error::Unsupported("calendly"))?;
    Ok(sign::json_post(
        route,
        draft.body,
        scheme.sign_headers(route, draft, "POST")?,
    ))
}
