//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>]`, each
//! `h1` an HMAC-SHA256 of `{ts}:{body}` (several during secret rotation).
//! Id and event: the body's `event_id` and `event_type` (PROVIDERS.md,
//! Paddle row; paddle-python-sdk `paddle_billing/Notifications/Verifier.py`,
//! `PaddleSignature.py`). A preset of the generic scheme.
//!
//! Window: the SDK allows 5 s in the past only; here 5 s (the kind's default
//! `tolerance_s`) both ways, a clock a little ahead of Paddle's being no
//! replay risk.

use std::sync::LazyLock;

use super::generic::{self, Scheme, Spec};
use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "paddle-signature";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    separator: Some(";"),
    item_prefix: Some("h1="),
    timestamp_item: Some("ts="),
    signed_payload: "{timestamp}:{body}",
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies a Paddle notification.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    generic::verify_json(SCHEME.as_ref(), ctx, Some(&["event_id"]), &["event_type"])
}

/// Signs as Paddle would: `Paddle-Signature: ts=..;h1=..`.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    generic::sign_json(SCHEME.as_ref(), "paddle", route, draft)
}
