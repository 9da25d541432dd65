//! HubSpot v3: `X-HubSpot-Signature-v3: <base64 HMAC-SHA256>` with the app's
//! client secret over `{METHOD}{URI}{body}{X-HubSpot-Request-Timestamp}`,
//! the timestamp in milliseconds (PROVIDERS.md, HubSpot rows and note 1;
//! developers.hubspot.com/docs/api/webhooks/validating-requests;
//! HubSpot/hubspot-api-python `hubspot/utils/signature.py`).
//!
//! URI is the URL HubSpot called: the route's `public_url` and the query as
//! received. HubSpot's documentation decodes twelve %-escapes in it before
//! signing; its SDKs sign the URI as given. Both forms are tried (one HMAC
//! when they are equal). The window applies both ways (the SDKs check the
//! past only), default 300 s.
//!
//! The body is an array of events: one event is keyed by its `eventId`,
//! several by body hash; named by `subscriptionType` when all share it.

use base64::Engine as _;

use super::hmac::Algorithm;
use super::sendgrid::batch_id_event;
use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// Signature header.
pub(crate) const SIGNATURE: &str = "x-hubspot-signature-v3";
/// Signed timestamp header (Unix milliseconds).
pub(crate) const TIMESTAMP: &str = "x-hubspot-request-timestamp";

/// Longest signature header read (base64 of 32 bytes is 44 characters).
const MAX_SIGNATURE_CHARS: usize = 64;

/// The escapes HubSpot decodes before signing, and what each becomes
/// (validating-requests, "Validate the v3 request signature").
const DECODED: [(&str, &str); 12] = [
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// Verifies a HubSpot v3 request.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let ts_text = ctx.header(TIMESTAMP)?.trim();
    let ts_ms = parse_ms(ts_text)?;
    let sig = ctx.header(SIGNATURE)?.trim();
    let sig = (sig.len() <= MAX_SIGNATURE_CHARS)
        .then(|| base64::engine::general_purpose::STANDARD.decode(sig).ok())
        .flatten()
        .ok_or(Error::MalformedHeader(SIGNATURE))?;
    let raw = called_uri(ctx.route, ctx.uri.query()).ok_or(Error::BadSignature)?;
    let decoded = decode(&raw);
    let method = ctx.method.as_str().as_bytes();
    let mut slot = None;
    for uri in [decoded.as_str(), raw.as_str()] {
        if slot.is_none() {
            slot = ctx.matching_slot(
                Algorithm::Sha256,
                &[method, uri.as_bytes(), ctx.body, ts_text.as_bytes()],
                std::slice::from_ref(&sig),
            );
        }
        if decoded == raw {
            break;
        }
    }
    let slot = slot.ok_or(Error::BadSignature)?;
    ctx.check_timestamp(ts_ms.div_euclid(1000))?;
    let (id, event) = batch_id_event(ctx.body, "eventId", "subscriptionType")?;
    Ok(Claims {
        id,
        event,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    })
}

/// A millisecond Unix timestamp (13 digits today; at most 16 read).
fn parse_ms(v: &str) -> Result<i64, Error> {
    if v.is_empty() || v.len() > 16 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::MalformedHeader(TIMESTAMP));
    }
    v.parse().map_err(|_| Error::MalformedHeader(TIMESTAMP))
}

/// The URL HubSpot called: `public_url` and the received query.
fn called_uri(route: &Route, query: Option<&str>) -> Option<String> {
    let url = route.public_url.as_deref()?;
    Some(match query {
        Some(q) => format!("{url}?{q}"),
        None => url.to_owned(),
    })
}

/// `uri` with only the twelve escapes of [`DECODED`] decoded.
fn decode(uri: &str) -> String {
    DECODED
        .iter()
        .fold(uri.to_owned(), |s, (from, to)| s.replace(from, to))
}

/// Signs as HubSpot does (v3), for a POST to the route's `public_url`.
pub(crate) fn sign(route: &Route, draft: &Draft<'_>) -> Result<Signed, sign::Error> {
    let uri = called_uri(route, None).ok_or(sign::Error::Unsupported("hubspot"))?;
    let ts = draft.now.saturating_mul(1000).to_string();
    let sig = sign::mac(
        route,
        draft.now,
        Algorithm::Sha256,
        &[b"POST", decode(&uri).as_bytes(), draft.body, ts.as_bytes()],
    )?;
    Ok(sign::json_post(
        route,
        draft.body,
        vec![
            ("X-HubSpot-Signature-v3", sign::b64(&sig)),
            ("X-HubSpot-Request-Timestamp", ts),
        ],
    ))
}
