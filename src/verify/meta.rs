//! Meta (Facebook, Instagram, WhatsApp): `X-Hub-Signature-256: sha256=<hex
//! HMAC-SHA256(app secret, body)>` (Meta for Developers, "Webhooks: Getting
//! Started", validate payloads; PROVIDERS.md, Meta row).
//!
//! The subscription handshake is an unsigned GET
//! `?hub.mode=subscribe&hub.verify_token=V&hub.challenge=C`: when V equals
//! the route's `verify_token` (constant time) the answer is `C` as text;
//! otherwise 401 (Meta's page says 403; the gateway answers 401 to every
//! failed verification). Deliveries are batches with no id: the key is the
//! body hash, the event the body's `object` (`page`, `instagram`,
//! `whatsapp_business_account`).
//!
//! The bounded query readers of the unsigned GET handshakes (Meta, X,
//! Dropbox, Microsoft Graph) live here too.

use std::borrow::Cow;

use subtle::ConstantTimeEq;

use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, Claims, Ctx, Error, Handshake};
use crate::config::Route;

/// Signature header (SHA-256).
pub(crate) const SIGNATURE: &str = "x-hub-signature-256";
/// Query: must be `subscribe`.
const MODE: &str = "hub.mode";
/// Query: the verify token the app's subscription was given.
const VERIFY_TOKEN: &str = "hub.verify_token";
/// Query: the value to echo back.
const CHALLENGE: &str = "hub.challenge";

/// Longest challenge or token read from an unsigned handshake, in bytes
/// (Meta's challenges are 10 digits, Dropbox's and X's ~50 characters).
pub(super) const MAX_CHALLENGE: usize = 256;

/// Verifies a delivery (POST) or answers the subscription check (GET).
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    if ctx.method == http::Method::GET {
        return subscribe(ctx);
    }
    let sig = ctx.header(SIGNATURE)?;
    let sig = sig
        .strip_prefix("sha256=")
        .and_then(|h| super::decode_hex(h.trim()).ok())
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ctx.body], &[sig])
        .ok_or(Error::BadSignature)?;
    #[derive(serde::Deserialize)]
    struct Probe {
        object: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(ctx.body).map_err(|_| Error::Body)?;
    Ok(Claims {
        id: body_hash_id(ctx.body),
        event: match probe.object {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        },
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}

/// The GET subscription check: mode, verify token, challenge.
fn subscribe(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let mode = query_value(ctx.uri, MODE).ok_or(Error::MissingHeader(MODE))?;
    let token = query_value(ctx.uri, VERIFY_TOKEN).ok_or(Error::MissingHeader(VERIFY_TOKEN))?;
    let expected = ctx.route.verify_token.as_ref().ok_or(Error::BadSignature)?;
    let matches: bool = token.as_bytes().ct_eq(expected.expose()).into();
    if !matches || mode != "subscribe" {
        return Err(Error::BadSignature);
    }
    let challenge = query_value(ctx.uri, CHALLENGE)
        .and_then(|c| bounded(&c, false))
        .ok_or(Error::MalformedHeader(CHALLENGE))?;
    Ok(unsigned_handshake(ctx, Handshake::Text(challenge)))
}

/// The claims of an answered handshake that no signature covers: nothing
/// is queued, so the id is only the (empty) body's hash.
pub(super) fn unsigned_handshake(ctx: &Ctx<'_>, handshake: Handshake) -> Claims {
    Claims {
        id: body_hash_id(ctx.body),
        event: None,
        id_signed: false,
        secret_slot: 0,
        handshake: Some(handshake),
    }
}

/// The first value of query parameter `name`, form-decoded
/// (`url::form_urlencoded`: `+` is a space, `%XX` a byte).
pub(super) fn query_value<'u>(uri: &'u http::Uri, name: &str) -> Option<Cow<'u, str>> {
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `value` when it is 1 to [`MAX_CHALLENGE`] bytes of visible ASCII (and
/// spaces, when `spaces`): what an unsigned handshake may echo.
pub(super) fn bounded(value: &str, spaces: bool) -> Option<String> {
    let ok = |b: u8| b.is_ascii_graphic() || (spaces && b == b' ');
    (!value.is_empty() && value.len() <= MAX_CHALLENGE && value.bytes().all(ok))
        .then(|| value.to_owned())
}

/// Signs a delivery as Meta does: `X-Hub-Signature-256` and the legacy
/// SHA-1 `X-Hub-Signature` Meta still sends beside it.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let sha256 = sign::mac(route, d.now, Algorithm::Sha256, &[d.body])?;
    let sha1 = sign::mac(route, d.now, Algorithm::Sha1, &[d.body])?;
    Ok(sign::json_post(
        route,
        d.body,
        vec![
            ("X-Hub-Signature", format!("sha1={}", hex::encode(sha1))),
            (
                "X-Hub-Signature-256",
                format!("sha256={}", hex::encode(sha256)),
            ),
        ],
    ))
}
