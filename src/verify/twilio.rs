//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` with the Auth Token
//! over the URL Twilio called, then, for form bodies, every POST parameter
//! sorted by name as `name` + `value` (a name's distinct values sorted);
//! a JSON body is bound instead by the URL's `bodySHA256` query parameter
//! (hex SHA-256 of the body) and only the URL is signed (PROVIDERS.md,
//! Twilio rows and note 2; twilio/twilio-python `twilio/request_validator.py`
//! `RequestValidator.validate`, followed exactly).
//!
//! The URL is the route's `public_url` (scheme, host, path) and the query
//! as received. Like the SDK, it is tried without and with the port
//! (`:443`/`:80` when none is written). No timestamp is signed.
//!
//! Idempotency key: `I-Twilio-Idempotency-Token` (not signed), else body
//! hash. Event name: the `MessageStatus`, `SmsStatus` or `CallStatus` form
//! value when sent.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-twilio-signature";
/// Twilio's delivery id, the same on its retries.
pub(crate) const IDEMPOTENCY: &str = "i-twilio-idempotency-token";
/// Query parameter binding a JSON body to the signed URL.
const BODY_SHA256: &str = "bodySHA256";
/// Form values naming the event, first present wins.
const EVENT_PARAMS: [&str; 3] = ["MessageStatus", "SmsStatus", "CallStatus"];
/// The form media type whose parameters are signed.
const FORM: &str = "application/x-www-form-urlencoded";

/// Longest signature header read (base64 of 20 bytes is 28 characters).
const MAX_SIGNATURE_CHARS: usize = 64;

/// Verifies a Twilio request.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let sig = ctx.header(SIGNATURE)?.trim();
    let sig = (sig.len() <= MAX_SIGNATURE_CHARS)
        .then(|| base64::engine::general_purpose::STANDARD.decode(sig).ok())
        .flatten()
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let url = called_url(ctx.route, ctx.uri.query()).ok_or(Error::BadSignature)?;
    let params = signed_params(ctx)?;
    let tail = params_text(&params);
    let mut slot = None;
    for variant in port_variants(&url) {
        if slot.is_none() {
            slot = ctx.matching_slot(
                Algorithm::Sha1,
                &[variant.as_bytes(), tail.as_bytes()],
                std::slice::from_ref(&sig),
            );
        }
    }
    let slot = slot.ok_or(Error::BadSignature)?;
    let token = ctx.opt_header(IDEMPOTENCY).and_then(clean_id);
    let event = EVENT_PARAMS
        .iter()
        .find_map(|name| params.iter().find(|(k, _)| k == name))
        .map(|(_, v)| v.clone());
    Ok(Claims {
        id_signed: token.is_none(),
        id: token.unwrap_or_else(|| body_hash_id(ctx.body)),
        event,
        secret_slot: slot,
        handshake: None,
    })
}

/// The POST parameters the signature covers: none when the URL carries
/// `bodySHA256` (checked against the body here) or the body is empty, the
/// decoded form parameters for a form body. Any other body would be
/// unsigned: refused.
fn signed_params(ctx: &Ctx<'_>) -> Result<Vec<(String, String)>, Error> {
    let query = ctx.uri.query().unwrap_or_default();
    let bound = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == BODY_SHA256)
        .map(|(_, v)| v.into_owned());
    if let Some(want) = bound {
        let got = hex::encode(Sha256::digest(ctx.body));
        if bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
            return Ok(Vec::new());
        }
        return Err(Error::BadSignature);
    }
    if ctx.body.is_empty() {
        return Ok(Vec::new());
    }
    let form = ctx
        .opt_header("content-type")
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with(FORM));
    if !form {
        return Err(Error::MalformedHeader("content-type"));
    }
    Ok(url::form_urlencoded::parse(ctx.body).into_owned().collect())
}

/// `name` + `value` for each name in order, each distinct value of a name in
/// order (the SDK's `sorted(set(..))` over names, then values).
fn params_text(params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.iter().flat_map(|(k, v)| [*k, *v]).collect()
}

/// The URL Twilio called: `public_url` and the received query (an empty
/// query is dropped, as Python's `geturl()` does).
fn called_url(route: &Route, query: Option<&str>) -> Option<String> {
    let url = route.public_url.as_deref()?;
    Some(match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{url}?{q}"),
        None => url.to_owned(),
    })
}

/// `url` without its port, and with it (`:443` for https, else `:80`, when
/// none is written): the SDK's `remove_port` and `add_port`.
fn port_variants(url: &str) -> [String; 2] {
    let Some((scheme, after)) = url.split_once("://") else {
        return [url.to_owned(), url.to_owned()];
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.starts_with('[') || h.ends_with(']')) =>
        {
            (h, Some(p))
        }
        _ => (authority, None),
    };
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    [
        format!("{scheme}://{host}{rest}"),
        format!("{scheme}://{host}:{}{rest}", port.unwrap_or(default)),
    ]
}

/// Signs as Twilio does: a JSON body (starting `{` or `[`) goes with
/// `bodySHA256` in the URL; any other body is sent as a form.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let base = called_url(route, None).ok_or(sign::Error::Unsupported("twilio"))?;
    let json = matches!(draft.body.trim_ascii_start().first(), Some(b'{' | b'['));
    let (url, tail, content_type) = if json {
        let hash = hex::encode(Sha256::digest(draft.body));
        (
            format!("{base}?{BODY_SHA256}={hash}"),
            String::new(),
            "application/json",
        )
    } else {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(draft.body)
            .into_owned()
            .collect();
        (base, params_text(&params), FORM)
    };
    let sig = sign::mac(
        route,
        draft.now,
        Algorithm::Sha1,
        &[url.as_bytes(), tail.as_bytes()],
    )?;
    Ok(Signed {
        method: http::Method::POST,
        url,
        headers: vec![
            ("Content-Type".to_owned(), content_type.to_owned()),
            ("X-Twilio-Signature".to_owned(), sign::b64(&sig)),
            (
                "I-Twilio-Idempotency-Token".to_owned(),
                draft.id_or_default(),
            ),
        ],
        body: draft.body.to_vec(),
    })
}
