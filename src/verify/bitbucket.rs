//! Bitbucket Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`
//! (SHA-256 despite the GitHub-legacy header name). Id `X-Request-UUID`,
//! event `X-Event-Key` (`repo:push`): unsigned headers (PROVIDERS.md,
//! Bitbucket row; support.atlassian.com/bitbucket-cloud/docs/manage-webhooks).
//! A preset of the generic scheme; no signed timestamp.

use std::sync::LazyLock;

use super::generic::{self, Scheme, Spec};
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-hub-signature";
/// Delivery id header (unsigned).
pub(crate) const REQUEST_UUID: &str = "x-request-uuid";
/// Event header (unsigned).
pub(crate) const EVENT_KEY: &str = "x-event-key";

/// The scheme as a generic description.
pub(crate) const SPEC: Spec<'static> = Spec {
    header: SIGNATURE,
    label: SIGNATURE,
    prefix: "sha256=",
    ..Spec::BODY
};

static SCHEME: LazyLock<Option<Scheme>> = LazyLock::new(|| generic::preset(&SPEC));

/// Verifies a Bitbucket delivery.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let scheme = SCHEME.as_ref().ok_or(Error::BadSignature)?;
    let checked = scheme.check(ctx)?;
    Ok(Claims {
        id: ctx
            .opt_header(REQUEST_UUID)
            .and_then(clean_id)
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event: ctx.opt_header(EVENT_KEY).and_then(clean_id),
        id_signed: false,
        secret_slot: checked.slot,
        handshake: None,
    })
}

/// Signs as Bitbucket would, with `X-Request-UUID` and `X-Event-Key`.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let scheme = SCHEME
        .as_ref()
        .ok_or(sign::Error::Unsupported("bitbucket"))?;
    let mut headers = scheme.sign_headers(route, d, "POST")?;
    headers.push(("X-Request-UUID", d.id_or_default()));
    headers.push(("X-Event-Key", d.event.unwrap_or("repo:push").to_owned()));
    Ok(sign::json_post(route, d.body, headers))
}
