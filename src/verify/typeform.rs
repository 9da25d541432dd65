//! Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`.
//! Id and event: the body's `event_id` and `event_type` (PROVIDERS.md,
//! Typeform row; typeform.com/developers/webhooks/secure-your-webhooks). A
//! preset of the generic scheme; no signed timestamp.

use std::sync::LazyLock;

use super::generic::{self, Encoding, Scheme, Spec};
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
    generic::verify_json(SCHEME.as_ref(), ctx, Some(&["event_id"]), &["event_type"])
}

/// Signs as Typeform would.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    generic::sign_json(SCHEME.as_ref(), "typeform", route, draft)
}
