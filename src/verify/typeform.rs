//! Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`.
//! Id and event: the body's `event_id` and `event_type` (PROVIDERS.md,
//! Typeform row; typeform.com/developers/webhooks/secure-your-webhooks). A
//! preset of the generic scheme; no signed timestamp.

use std::sync::LazyLock;

use super::generic::{self, json_body, json_str, Encoding, Scheme, Spec};
use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "typeform-signature";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    encoding: Encoding::Base64,
    prefix: "sha256=",
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies a Typeform delivery.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let scheme = SCHEME.as_ref().ok_or(Error::BadSignature)?;
    let checked = scheme.check(ctx)?;
    let body = json_body(ctx.body)?;
    Ok(generic::claims(
        ctx,
        checked.slot,
        json_str(&body, &["event_id"]),
        json_str(&body, &["event_type"]),
    ))
}

/// Signs as Typeform would.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let scheme = SCHEME
        .as_ref()
        .ok_or(sign::Error::Unsupported("typeform"))?;
    Ok(sign::json_post(
        route,
        draft.body,
        scheme.sign_headers(route, draft, "POST")?,
    ))
}
