//! GitLab: `X-Gitlab-Token` equals one of the route's secrets (a shared
//! token, not a signature: the body is protected by TLS only). Id
//! `Idempotency-Key` (GitLab 17.4+, same on resends), else
//! `X-Gitlab-Event-UUID`; event `X-Gitlab-Event` (`Push Hook`): unsigned
//! headers (PROVIDERS.md, GitLab rows;
//! docs.gitlab.com/user/project/integrations/webhooks). GitLab's newer
//! signing token (Standard Webhooks form, behind a feature flag) is not
//! checked here: route it as `standard_webhooks`.

use subtle::ConstantTimeEq;

use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, Claims, Ctx, Error};
use crate::config::Route;

/// The token header.
pub(crate) const TOKEN: &str = "x-gitlab-token";
/// Delivery id header (GitLab 17.4+).
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Event id header (older GitLab; repeats for recursive hooks).
pub(crate) const EVENT_UUID: &str = "x-gitlab-event-uuid";
/// Event header.
pub(crate) const EVENT: &str = "x-gitlab-event";

/// Verifies a GitLab delivery: every unexpired secret is compared in
/// constant time.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let token = ctx
        .headers
        .get(TOKEN)
        .ok_or(Error::MissingHeader(TOKEN))?
        .as_bytes();
    let mut found = None;
    for (slot, secret) in ctx.secrets.iter().enumerate() {
        if secret.valid_at(ctx.now) && bool::from(secret.expose().ct_eq(token)) {
            found = found.or(Some(slot));
        }
    }
    let slot = found.ok_or(Error::BadSignature)?;
    Ok(Claims {
        id: ctx
            .opt_header(IDEMPOTENCY_KEY)
            .and_then(clean_id)
            .or_else(|| ctx.opt_header(EVENT_UUID).and_then(clean_id))
            .unwrap_or_else(|| body_hash_id(ctx.body)),
        event: ctx.opt_header(EVENT).map(|e| e.trim().to_owned()),
        id_signed: false,
        secret_slot: slot,
        handshake: None,
    })
}

/// Sends as GitLab would: the token, `Idempotency-Key`, `X-Gitlab-Event`.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let token = String::from_utf8(sign::secret(route, d.now)?.expose().to_vec())
        .map_err(|_| sign::Error::Body("the token is not UTF-8"))?;
    Ok(sign::json_post(
        route,
        d.body,
        vec![
            ("X-Gitlab-Token", token),
            ("X-Gitlab-Event", d.event.unwrap_or("Push Hook").to_owned()),
            ("Idempotency-Key", d.id_or_default()),
        ],
    ))
}
