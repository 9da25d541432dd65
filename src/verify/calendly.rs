//! Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex>`, `v1` an
//! HMAC-SHA256 of `{t}.{body}` with the webhook signing key. No delivery id:
//! the body's hash; event: the body's `event` (`invitee.created`)
//! (PROVIDERS.md, Calendly row; developer.calendly.com webhook-signatures).
//! A preset of the generic scheme; window 300 s both ways.

use std::sync::LazyLock;

use super::generic::{self, Scheme, Spec};
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
    generic::verify_json(SCHEME.as_ref(), ctx, None, &["event"])
}

/// Signs as Calendly would: `Calendly-Webhook-Signature: t=..,v1=..`.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    generic::sign_json(SCHEME.as_ref(), "calendly", route, draft)
}
