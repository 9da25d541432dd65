//! Request verification: who sent it, and is it fresh.
//!
//! Only [`Verifier::verify`] makes a [`Verified`] (its fields are private),
//! and the [`Verified`] owns the body it vouches for: what is published is
//! the bytes the signature covered. Each scheme checks the signature over the
//! exact received bytes before any parsing of the body; comparisons are
//! constant-time; every configured secret is tried (rotation). Schemes:
//! `../shared/docs/PROVIDERS.md`.
//!
//! Salesforce Outbound Messages carry no signature; `salesforce::verify`
//! parses them and checks the Organization ID.

mod bitbucket;
mod calendly;
pub mod catalog;
mod discord;
mod docusign;
mod dropbox;
pub(crate) mod generic;
pub mod github;
mod gitlab;
pub mod hmac;
mod hubspot;
mod intercom;
mod linear;
mod mailgun;
mod meta;
mod microsoft_graph;
mod okta;
mod paddle;
mod pagerduty;
pub(crate) mod salesforce;
mod sendgrid;
pub(crate) mod shopify;
pub mod sign;
pub(crate) mod slack;
mod square;
pub(crate) mod standard;
pub(crate) mod stripe;
mod twilio;
mod twitch;
mod typeform;
mod x;
mod zoom;

use bytes::Bytes;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{Route, RouteKind};
use crate::secret::Secret;

/// Longest idempotency key taken from a header or body, in bytes (AMQP
/// `message_id` is a shortstr of at most 255).
pub const MAX_ID_BYTES: usize = 200;

/// Why a request failed verification. Answered 401 (all alike: the body never
/// says which check failed), except [`Error::Body`], answered 400 because the
/// signature did verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A required header is absent; names it.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not of the scheme's form; names it.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// No signature matched any configured secret.
    #[error("signature mismatch")]
    BadSignature,
    /// The signed timestamp is older than the tolerance.
    #[error("timestamp too old")]
    Stale,
    /// The signed timestamp is further in the future than the tolerance.
    #[error("timestamp in the future")]
    Future,
    /// Signed correctly, but the body is not what the scheme needs (not JSON
    /// where an id or event type must be read from it).
    #[error("malformed body")]
    Body,
}

impl Error {
    /// Metric label for `verification_failures_total{reason}`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Error::MissingHeader(_) => "missing_header",
            Error::MalformedHeader(_) => "malformed_header",
            Error::BadSignature => "bad_signature",
            Error::Stale => "stale_timestamp",
            Error::Future => "future_timestamp",
            Error::Body => "malformed_body",
        }
    }
}

/// A request whose sender was proven: the body the signature covered and
/// what publishing needs. Made only by [`Verifier::verify`].
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    /// The received bytes, exactly as signed.
    body: Bytes,
    /// What the scheme read from the request.
    claims: Claims,
}

/// What a scheme proved about a request, without the body: each scheme
/// returns this, [`Verifier::verify`] adds the body it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    /// Idempotency key: the provider's delivery/event id, or
    /// `sha256:<hex of body>` when the scheme has none.
    id: String,
    /// Event name as the provider gives it (`push`, `invoice.paid`,
    /// `orders/create`), `None` when the scheme has none.
    event: Option<String>,
    /// Whether the signature covers `id` (the body holds it, or a signed
    /// header): otherwise the replay cache keys on the body hash too.
    id_signed: bool,
    /// Index of the secret that verified (0 = first listed).
    secret_slot: usize,
    /// A handshake to answer synchronously instead of publishing.
    handshake: Option<Handshake>,
}

// === impl Verified ===

impl Verified {
    /// The received bytes, exactly as signed.
    pub(crate) fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, given up to the message that carries it (no copy).
    pub(crate) fn into_body(self) -> Bytes {
        self.body
    }

    /// Idempotency key: the provider's delivery/event id, or
    /// `sha256:<hex of body>` when the scheme has none.
    pub(crate) fn id(&self) -> &str {
        &self.claims.id
    }

    /// Event name as the provider gives it (`push`, `invoice.paid`,
    /// `orders/create`), `None` when the scheme has none.
    pub(crate) fn event(&self) -> Option<&str> {
        self.claims.event.as_deref()
    }

    /// Whether the signature covers [`id`](Self::id) (the body holds it, or
    /// a signed header): otherwise the replay cache keys on the body hash
    /// too.
    pub(crate) fn id_signed(&self) -> bool {
        self.claims.id_signed
    }

    /// Index of the secret that verified (0 = first listed).
    pub(crate) fn secret_slot(&self) -> usize {
        self.claims.secret_slot
    }

    /// A handshake to answer synchronously instead of publishing.
    pub(crate) fn handshake(&self) -> Option<&Handshake> {
        self.claims.handshake.as_ref()
    }
}

/// The body by its length only: a `Verified` in a log never carries the
/// payload.
impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("body_len", &self.body.len())
            .field("claims", &self.claims)
            .finish()
    }
}

/// A provider handshake answered at the edge and never queued: the answer
/// the provider's documentation asks for, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// 200 `application/json` with this body (Slack `{"challenge":..}`,
    /// Discord `{"type":1}`, Zoom, X CRC, Okta).
    Json(String),
    /// 200 `text/plain` with this body and `X-Content-Type-Options:
    /// nosniff` (Meta, Twitch, Microsoft Graph, Dropbox echo a challenge).
    Text(String),
    /// 204 with no body (Discord Webhook Events PING).
    NoContent,
}

/// The request line and headers a scheme may read: some providers sign the
/// method or the URL (Twilio, HubSpot), some handshakes come as a GET with
/// a query (Meta, X, Dropbox).
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The request method.
    pub method: &'a http::Method,
    /// The request target as received: path and query (`/hooks/x?a=1`).
    pub uri: &'a http::Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// `POST`, for [`Head::post`].
static POST: http::Method = http::Method::POST;
/// `/`, for [`Head::post`].
static ROOT: std::sync::LazyLock<http::Uri> =
    std::sync::LazyLock::new(|| http::Uri::from_static("/"));

impl<'a> Head<'a> {
    /// A `POST /` with `headers`: for schemes that sign neither the method
    /// nor the URL (benchmarks, tests).
    pub fn post(headers: &'a HeaderMap) -> Self {
        Head {
            method: &POST,
            uri: &ROOT,
            headers,
        }
    }
}

impl<'a> From<&'a http::request::Parts> for Head<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        Head {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        }
    }
}

/// A route's verifier, built once from config.
#[derive(Debug, Clone)]
pub struct Verifier {
    route: Route,
    tolerance_s: i64,
}

impl Verifier {
    /// Builds the verifier for a validated route. Panics never; a
    /// `salesforce_om` route gets a verifier that rejects everything (it is
    /// never called for that kind).
    pub fn new(route: &Route) -> Self {
        Verifier {
            route: route.clone(),
            tolerance_s: i64::try_from(route.tolerance.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Verifies a webhook request; the [`Verified`] keeps `body` (moved,
    /// not copied).
    ///
    /// `now` is the current Unix time in seconds.
    ///
    /// # Errors
    /// [`Error`] naming the failed check (for logs and metrics only).
    pub fn verify(&self, head: Head<'_>, body: Bytes, now: i64) -> Result<Verified, Error> {
        let claims = self.claims(head, &body, now)?;
        Ok(Verified { body, claims })
    }

    /// What the route's scheme proves about a request over `body`.
    fn claims(&self, head: Head<'_>, body: &[u8], now: i64) -> Result<Claims, Error> {
        let ctx = Ctx {
            method: head.method,
            uri: head.uri,
            headers: head.headers,
            body,
            now,
            secrets: &self.route.secrets,
            tolerance_s: self.tolerance_s,
            route: &self.route,
        };
        match self.route.kind {
            RouteKind::Github => github::verify(&ctx),
            RouteKind::Stripe => stripe::verify(&ctx),
            RouteKind::Slack => slack::verify(&ctx),
            RouteKind::Shopify => shopify::verify(&ctx),
            RouteKind::StandardWebhooks => standard::verify(&ctx),
            RouteKind::GenericHmac => match &self.route.generic {
                Some(scheme) => scheme.verify(&ctx),
                None => Err(Error::BadSignature),
            },
            RouteKind::Twilio => twilio::verify(&ctx),
            RouteKind::Zoom => zoom::verify(&ctx),
            RouteKind::Meta => meta::verify(&ctx),
            RouteKind::Hubspot => hubspot::verify(&ctx),
            RouteKind::Discord => discord::verify(&ctx),
            RouteKind::Sendgrid => sendgrid::verify(&ctx),
            RouteKind::Paddle => paddle::verify(&ctx),
            RouteKind::Square => square::verify(&ctx),
            RouteKind::Linear => linear::verify(&ctx),
            RouteKind::Intercom => intercom::verify(&ctx),
            RouteKind::Gitlab => gitlab::verify(&ctx),
            RouteKind::Bitbucket => bitbucket::verify(&ctx),
            RouteKind::Pagerduty => pagerduty::verify(&ctx),
            RouteKind::Calendly => calendly::verify(&ctx),
            RouteKind::Typeform => typeform::verify(&ctx),
            RouteKind::Docusign => docusign::verify(&ctx),
            RouteKind::Mailgun => mailgun::verify(&ctx),
            RouteKind::Twitch => twitch::verify(&ctx),
            RouteKind::X => x::verify(&ctx),
            RouteKind::MicrosoftGraph => microsoft_graph::verify(&ctx),
            RouteKind::Dropbox => dropbox::verify(&ctx),
            RouteKind::Okta => okta::verify(&ctx),
            RouteKind::SalesforceOm => Err(Error::BadSignature),
        }
    }
}

/// Signs `draft` as `route`'s provider would.
///
/// # Errors
/// [`Error`]: a kind without signature, no usable secret or key, a body the
/// kind cannot carry.
pub fn sign_request(route: &Route, draft: &sign::Draft<'_>) -> Result<sign::Signed, sign::Error> {
    match route.kind {
        RouteKind::SalesforceOm => Ok(sign::outbound_message(route, draft)),
        RouteKind::Github => sign::github(route, draft),
        RouteKind::Stripe => sign::stripe(route, draft),
        RouteKind::Slack => sign::slack(route, draft),
        RouteKind::Shopify => sign::shopify(route, draft),
        RouteKind::StandardWebhooks => sign::standard(route, draft),
        RouteKind::GenericHmac => sign::generic(route, draft),
        RouteKind::Twilio => twilio::sign(route, draft),
        RouteKind::Zoom => zoom::sign(route, draft),
        RouteKind::Meta => meta::sign(route, draft),
        RouteKind::Hubspot => hubspot::sign(route, draft),
        RouteKind::Discord => discord::sign(route, draft),
        RouteKind::Sendgrid => sendgrid::sign(route, draft),
        RouteKind::Paddle => paddle::sign(route, draft),
        RouteKind::Square => square::sign(route, draft),
        RouteKind::Linear => linear::sign(route, draft),
        RouteKind::Intercom => intercom::sign(route, draft),
        RouteKind::Gitlab => gitlab::sign(route, draft),
        RouteKind::Bitbucket => bitbucket::sign(route, draft),
        RouteKind::Pagerduty => pagerduty::sign(route, draft),
        RouteKind::Calendly => calendly::sign(route, draft),
        RouteKind::Typeform => typeform::sign(route, draft),
        RouteKind::Docusign => docusign::sign(route, draft),
        RouteKind::Mailgun => mailgun::sign(route, draft),
        RouteKind::Twitch => twitch::sign(route, draft),
        RouteKind::X => x::sign(route, draft),
        RouteKind::MicrosoftGraph => microsoft_graph::sign(route, draft),
        RouteKind::Dropbox => dropbox::sign(route, draft),
        RouteKind::Okta => okta::sign(route, draft),
    }
}

/// What every scheme reads.
pub(crate) struct Ctx<'a> {
    /// The request method (GET only reaches kinds that
    /// [`RouteKind::answers_get`]).
    pub(crate) method: &'a http::Method,
    /// Path and query as received.
    pub(crate) uri: &'a http::Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    pub(crate) now: i64,
    pub(crate) secrets: &'a [Secret],
    pub(crate) tolerance_s: i64,
    /// The whole route, for kind options (`public_url`, `public_keys`,
    /// `verify_token`, `discord_endpoint`, `secret_header`).
    pub(crate) route: &'a Route,
}

impl Ctx<'_> {
    /// A header as text; `MissingHeader` when absent, `MalformedHeader` when
    /// not visible ASCII.
    pub(crate) fn header(&self, name: &'static str) -> Result<&str, Error> {
        let v = self.headers.get(name).ok_or(Error::MissingHeader(name))?;
        v.to_str().map_err(|_| Error::MalformedHeader(name))
    }

    /// An optional header as text; absent or non-ASCII is `None`.
    pub(crate) fn opt_header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The slot of the first unexpired secret whose HMAC over `parts`
    /// matches a candidate (constant-time compares).
    pub(crate) fn matching_slot(
        &self,
        alg: hmac::Algorithm,
        parts: &[&[u8]],
        candidates: &[Vec<u8>],
    ) -> Option<usize> {
        hmac::matching_slot_at(alg, self.secrets, parts, candidates, Some(self.now))
    }

    /// Checks a signed Unix timestamp (seconds) against the tolerance, both
    /// directions.
    pub(crate) fn check_timestamp(&self, ts: i64) -> Result<(), Error> {
        if self.now.saturating_sub(ts) > self.tolerance_s {
            Err(Error::Stale)
        } else if ts.saturating_sub(self.now) > self.tolerance_s {
            Err(Error::Future)
        } else {
            Ok(())
        }
    }
}

/// Parses a decimal Unix timestamp header value.
pub(crate) fn parse_unix(v: &str, header: &'static str) -> Result<i64, Error> {
    let v = v.trim();
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::MalformedHeader(header));
    }
    v.parse().map_err(|_| Error::MalformedHeader(header))
}

/// Decodes a hex signature (either case), as `hex::decode` does (an odd
/// length or a non-hex digit is an error), straight into its buffer (the
/// crate's `decode` collects through a per-byte iterator; with the body
/// digest's and request id's hex, -4,400 instructions per request in
/// docs/performance.md "Session 13").
///
/// # Errors
/// [`hex::FromHexError`] as `hex::decode`.
pub(crate) fn decode_hex(s: &str) -> Result<Vec<u8>, hex::FromHexError> {
    if s.len() % 2 != 0 {
        return Err(hex::FromHexError::OddLength);
    }
    let mut out = vec![0; s.len() / 2];
    hex::decode_to_slice(s, &mut out)?;
    Ok(out)
}

/// `sha256:<hex>` of the body: the idempotency key when a scheme has no id.
pub(crate) fn body_hash_id(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// An id usable as AMQP `message_id`: 1 to [`MAX_ID_BYTES`] visible ASCII.
pub(crate) fn clean_id(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s.len() <= MAX_ID_BYTES && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_owned())
}

/// The `id` and `type` members of a JSON object body, parsed with serde_json
/// (recursion limit on). `Err` when the body is not a JSON object.
pub(crate) fn json_id_type(body: &[u8]) -> Result<(Option<String>, Option<String>), Error> {
    #[derive(serde::Deserialize)]
    struct Probe {
        id: Option<serde_json::Value>,
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(body).map_err(|_| Error::Body)?;
    let as_str = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    Ok((as_str(probe.id), as_str(probe.kind)))
}

#[cfg(test)]
mod tests;
