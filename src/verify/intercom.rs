//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>` with the
//! app's client secret. Id and event: the notification's `id`
//! (`notif_...`) and `topic` (PROVIDERS.md, Intercom row;
//! developers.intercom.com/docs/webhooks). A preset of the generic scheme;
//! no signed timestamp. The `ping` topic is an ordinary signed delivery.

use std::sync::LazyLock;

use super::generic::{self, Scheme, Spec};
use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-hub-signature";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    algorithm: Algorithm::Sha1,
    prefix: "sha1=",
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies an Intercom notification.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    generic::verify_json(SCHEME.as_ref(), ctx, Some(&["id"]), &["topic"])
}

/// Signs as Intercom would.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    generic::sign_json(SCHEME.as_ref(), "intercom", route, draft)
}
