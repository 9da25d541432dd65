//! Signing a request as a provider would: what `hookgate sign` prints and
//! `scripts/send-fixture.sh` sends. Each kind's signer sits beside its
//! verifier (`super::<kind>::sign`), over the same scheme description.
//!
//! A signer keys with the route's first secret usable at the draft's time
//! (slot 0 unless it expired), or with the private key given for the
//! asymmetric kinds (discord, sendgrid).

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::hmac::{self, Algorithm};
use crate::config::Route;
use crate::secret::Secret;

/// What to sign.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    /// The body to send, exactly (Mailgun's signer wraps it in its
    /// `signature` object).
    pub body: &'a [u8],
    /// Event name, for kinds that send it in a header (GitHub
    /// `X-GitHub-Event`, Shopify `X-Shopify-Topic`, generic
    /// `event_header`).
    pub event: Option<&'a str>,
    /// Delivery id, for kinds that send one in a header; default
    /// [`Draft::default_id`].
    pub id: Option<&'a str>,
    /// Signing time, Unix seconds.
    pub now: i64,
    /// The private key of an asymmetric kind: PKCS#8 (PEM or DER).
    pub private_key: Option<&'a [u8]>,
}

impl Draft<'_> {
    /// The delivery id to send: the given one, else `hookgate-sign-<now>-`
    /// and the first 12 hex digits of the body's SHA-256 (one per body and
    /// second).
    pub fn id_or_default(&self) -> String {
        match self.id {
            Some(id) => id.to_owned(),
            None => self.default_id(),
        }
    }

    /// `hookgate-sign-<now>-<12 hex of SHA-256(body)>`.
    pub fn default_id(&self) -> String {
        let digest = hex::encode(Sha256::digest(self.body));
        format!("hookgate-sign-{}-{}", self.now, &digest[..12])
    }
}

/// A signed request, ready for curl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `POST` for every kind's events.
    pub method: http::Method,
    /// Where to send it: the route's `public_url` when set (the URL the
    /// provider signs), else its path; with any query the scheme adds.
    pub url: String,
    /// Headers to send, in order (`Content-Type` first).
    pub headers: Vec<(String, String)>,
    /// The body to send.
    pub body: Vec<u8>,
}

/// Why a request cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The kind has no signer (salesforce_om sends no signature).
    #[error("kind {0} has no signature to make")]
    Unsupported(&'static str),
    /// Every secret of the route expired at the draft's time.
    #[error("no secret of the route is usable at the signing time")]
    NoSecret,
    /// An asymmetric kind needs `--private-key`.
    #[error("kind {0} signs with a private key: pass --private-key")]
    NoPrivateKey(&'static str),
    /// The private key is not a PKCS#8 key of the kind's algorithm.
    #[error("the private key is not a PKCS#8 {0} key")]
    BadPrivateKey(&'static str),
    /// The body is not what the kind signs (it must be JSON, say).
    #[error("the body cannot be signed for this kind: {0}")]
    Body(&'static str),
}

pub use super::sign_request as sign;

// === helpers for the kinds' signers ===

/// The first secret of `route` usable at `now`.
///
/// # Errors
/// [`Error::NoSecret`] when every one expired.
pub(crate) fn secret(route: &Route, now: i64) -> Result<&Secret, Error> {
    route
        .secrets
        .iter()
        .find(|s| s.valid_at(now))
        .ok_or(Error::NoSecret)
}

/// HMAC of `parts` with the route's first usable secret.
///
/// # Errors
/// [`Error::NoSecret`].
pub(crate) fn mac(
    route: &Route,
    now: i64,
    alg: Algorithm,
    parts: &[&[u8]],
) -> Result<Vec<u8>, Error> {
    Ok(hmac::tag(alg, secret(route, now)?.expose(), parts))
}

/// Standard base64 with padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A request to the route's URL with `Content-Type: application/json` and
/// `headers` after it.
pub(crate) fn json_post(route: &Route, body: &[u8], headers: Vec<(&str, String)>) -> Signed {
    let mut all = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    all.extend(headers.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Signed {
        method: http::Method::POST,
        url: route
            .public_url
            .clone()
            .unwrap_or_else(|| route.path.clone()),
        headers: all,
        body: body.to_vec(),
    }
}

// === the kinds of PROVIDERS.md's first rows ===

/// An Outbound Message carries no signature: Salesforce sends SOAP 1.1
/// headers only (docs/SALESFORCE.md, "Wire format").
pub(crate) fn outbound_message(route: &Route, d: &Draft<'_>) -> Signed {
    Signed {
        method: http::Method::POST,
        url: route
            .public_url
            .clone()
            .unwrap_or_else(|| route.path.clone()),
        headers: vec![
            (
                "Content-Type".to_owned(),
                "text/xml; charset=utf-8".to_owned(),
            ),
            ("SOAPAction".to_owned(), "\"\"".to_owned()),
        ],
        body: d.body.to_vec(),
    }
}

pub(crate) fn github(route: &Route, d: &Draft<'_>) -> Result<Signed, Error> {
    let sig = mac(route, d.now, Algorithm::Sha256, &[d.body])?;
    Ok(json_post(
        route,
        d.body,
        vec![
            (
                "X-Hub-Signature-256",
                format!("sha256={}", hex::encode(sig)),
            ),
            ("X-GitHub-Delivery", d.id_or_default()),
        ]
        .into_iter()
        .chain(d.event.map(|e| ("X-GitHub-Event", e.to_owned())))
        .collect(),
    ))
}

pub(crate) fn stripe(route: &Route, d: &Draft<'_>) -> Result<Signed, Error> {
    let t = d.now.to_string();
    let sig = mac(
        route,
        d.now,
        Algorithm::Sha256,
        &[t.as_bytes(), b".", d.body],
    )?;
    Ok(json_post(
        route,
        d.body,
        vec![("Stripe-Signature", format!("t={t},v1={}", hex::encode(sig)))],
    ))
}

pub(crate) fn slack(route: &Route, d: &Draft<'_>) -> Result<Signed, Error> {
    let t = d.now.to_string();
    let sig = mac(
        route,
        d.now,
        Algorithm::Sha256,
        &[b"v0:", t.as_bytes(), b":", d.body],
    )?;
    Ok(json_post(
        route,
        d.body,
        vec![
            ("X-Slack-Request-Timestamp", t),
            ("X-Slack-Signature", format!("v0={}", hex::encode(sig))),
        ],
    ))
}

pub(crate) fn shopify(route: &Route, d: &Draft<'_>) -> Result<Signed, Error> {
    let sig = mac(route, d.now, Algorithm::Sha256, &[d.body])?;
    Ok(json_post(
        route,
        d.body,
        vec![
            ("X-Shopify-Hmac-Sha256", b64(&sig)),
            (
                "X-Shopify-Topic",
                d.event.unwrap_or("orders/create").to_owned(),
            ),
            ("X-Shopify-Webhook-Id", d.id_or_default()),
        ],
    ))
}

pub(crate) fn standard(route: &Route, d: &Draft<'_>) -> Result<Signed, Error> {
    let id = d.id_or_default();
    let t = d.now.to_string();
    let sig = mac(
        route,
        d.now,
        Algorithm::Sha256,
        &[id.as_bytes(), b".", t.as_bytes(), b".", d.body],
    )?;
    Ok(json_post(
        route,
        d.body,
        vec![
            ("webhook-id", id),
            ("webhook-timestamp", t),
            ("webhook-signature", format!("v1,{}", b64(&sig))),
        ],
    ))
}

pub(crate) fn generic(route: &Route, d: &Draft<'_>) -> Result<Signed, Error> {
    let scheme = route
        .generic
        .as_ref()
        .ok_or(Error::Unsupported("generic_hmac"))?;
    scheme.sign(route, d)
}
