//! The request flow: route, method, load shed, client address and
//! certificate, body, verify, replay cache, store, answer.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use time::OffsetDateTime;

use super::respond::{Body, Outcome};
use super::{ConnInfo, Gateway, RouteEntry};
use crate::config::RouteKind;
use crate::envelope::{self, Message};
use crate::outbox::Stored;
use crate::salesforce::om;

/// Handles one request. Never fails: every error is an [`Outcome`].
pub async fn handle(gw: Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let Some(entry) = gw.routes.load().get(req.uri().path()).cloned() else {
        gw.metrics.request("none", Outcome::NotFound.label());
        return Outcome::NotFound.webhook();
    };
    let route = &entry.route;
    let soap = route.kind == RouteKind::SalesforceOm;
    let outcome = if req.method() != Method::POST {
        Outcome::MethodNotAllowed
    } else {
        match gw.permits.clone().try_acquire_owned() {
            Err(_) => Outcome::Overloaded,
            Ok(_permit) => {
                // Dropped with this future too (client gone, panic).
                let _in_flight = gw.metrics.in_flight_request();
                process(&gw, &entry, req).await
            }
        }
    };
    gw.metrics.request(&route.name, outcome.label());
    if soap {
        outcome.soap()
    } else {
        outcome.webhook()
    }
}

async fn process(gw: &Gateway, entry: &RouteEntry, req: Request<Incoming>) -> Outcome {
    let route = &entry.route;
    let (parts, body) = req.into_parts();

    // Who is connecting: address allowlist, client certificate and rate
    // limit, before reading the body.
    let info = parts.extensions.get::<Arc<ConnInfo>>().cloned();
    let ip = info
        .as_deref()
        .and_then(|i| i.client(&parts.headers, &gw.trusted_proxies));
    let allowed = |ip: IpAddr| route.allow_cidrs.iter().any(|n| n.contains(&ip));
    if !route.allow_cidrs.is_empty() && !ip.is_some_and(allowed) {
        tracing::info!(route = %route.name, client = ?ip, "client address not allowed");
        gw.metrics
            .verification_failure(&route.name, "address_not_allowed");
        return Outcome::Forbidden;
    }
    if let Some(rule) = &route.client_cert {
        let ok = info
            .as_deref()
            .and_then(|i| i.client_cert.as_ref())
            .is_some_and(|c| c.matches(rule));
        if !ok {
            tracing::info!(route = %route.name, "no matching client certificate");
            gw.metrics
                .verification_failure(&route.name, "client_certificate");
            return Outcome::Forbidden;
        }
    }

    // After the allowlist and certificate: others cannot spend the route's
    // budget. Without a client address (a trusted L7 balancer's unparsable
    // X-Forwarded-For) the peer's bucket is charged.
    if let Some(limiter) = &entry.limiter {
        let key = ip
            .or(info.as_deref().map(|i| i.peer))
            .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        if let Err(wait) = limiter.check(key) {
            tracing::debug!(route = %route.name, client = %key, ?wait, "rate limited");
            return Outcome::RateLimited(super::limit::retry_after_secs(wait));
        }
    }

    let limits = BodyLimits {
        cap: route.max_body_bytes,
        total: gw.body_timeout,
        idle: gw.body_idle_timeout,
    };
    let body = match read_body(limits, &parts.headers, body).await {
        Ok(b) => b,
        Err(outcome) => return outcome,
    };
    let received_at = OffsetDateTime::now_utc();

    // (message, replay-cache key) pairs.
    let candidates: Vec<(Message, String)> = if route.kind == RouteKind::SalesforceOm {
        let om = match om::parse(&body, om::Limits::default()) {
            Ok(om) => om,
            Err(e) => {
                tracing::info!(route = %route.name, error = %e, "Outbound Message rejected");
                gw.metrics
                    .verification_failure(&route.name, "malformed_message");
                return Outcome::BadRequest;
            }
        };
        if !route.org_ids.contains(&om.organization_id) {
            tracing::warn!(route = %route.name, "Outbound Message from an Organization ID not in org_ids");
            gw.metrics.verification_failure(&route.name, "wrong_org");
            return Outcome::Unauthorized;
        }
        let messages = match envelope::notifications(route, &om, received_at) {
            Ok(m) => m,
            Err(e) => return uncarriable(gw, &route.name, &e),
        };
        messages
            .into_iter()
            .map(|m| {
                let k = m.idempotency_key().to_owned();
                (m, k)
            })
            .collect()
    } else {
        let now = received_at.unix_timestamp();
        let verified = match entry.verifier.verify(&parts.headers, &body, now) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(
                    route = %route.name,
                    url = route.public_url.as_deref().unwrap_or(&route.path),
                    reason = e.reason(),
                    "verification failed"
                );
                gw.metrics.verification_failure(&route.name, e.reason());
                return if e == crate::verify::Error::Body {
                    Outcome::BadRequest
                } else {
                    Outcome::Unauthorized
                };
            }
        };
        gw.metrics.secret_match(&route.name, verified.secret_slot);
        if let Some(crate::verify::Handshake::SlackChallenge(c)) = verified.handshake {
            return Outcome::Handshake(c);
        }
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // A body declared JSON must be JSON (UTF-8, well-formed, nesting within
        // serde_json's limit) before it reaches consumers; checked only after
        // the signature verified.
        if content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json")) && !is_json(&body)
        {
            tracing::info!(route = %route.name, "signed body declared JSON is not JSON");
            gw.metrics
                .verification_failure(&route.name, "malformed_body");
            return Outcome::BadRequest;
        }
        match envelope::webhook(route, &verified, content_type, body, received_at) {
            Ok(m) => {
                let k = m.idempotency_key().to_owned();
                vec![(m, k)]
            }
            Err(e) => return uncarriable(gw, &route.name, &e),
        }
    };

    // Replay cache: drop what was seen within the route's TTL (one lookup
    // for every message of the request).
    let seen = match &gw.replay {
        Some(cache) => {
            let keys: Vec<&str> = candidates.iter().map(|(_, k)| k.as_str()).collect();
            cache.seen_all(&keys).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "replay cache unavailable; treating as new");
                vec![false; keys.len()]
            })
        }
        None => vec![false; candidates.len()],
    };
    let mut fresh = Vec::with_capacity(candidates.len());
    let mut keys = Vec::with_capacity(candidates.len());
    for ((m, k), seen) in candidates.into_iter().zip(seen) {
        if seen {
            gw.metrics.duplicate(&route.name);
        } else {
            fresh.push(m);
            keys.push(k);
        }
    }
    if fresh.is_empty() {
        tracing::debug!(route = %route.name, "replay: every message seen before");
        return Outcome::Duplicate;
    }

    match gw.outbox.store(&fresh).await {
        Ok(stored) => {
            if let Some(cache) = &gw.replay {
                if let Err(e) = cache.record(keys, route.replay_ttl).await {
                    tracing::warn!(error = %e, "replay cache write failed");
                }
            }
            tracing::debug!(route = %route.name, messages = fresh.len(), ?stored, "stored");
            match stored {
                Stored::Confirmed => Outcome::Accepted,
                Stored::Spooled => Outcome::Spooled,
            }
        }
        Err(e) => {
            tracing::warn!(route = %route.name, error = %e, "neither confirmed nor spooled; answering 503");
            Outcome::Unavailable
        }
    }
}

/// A request whose id or content type AMQP cannot carry: 400, nothing
/// stored.
fn uncarriable(gw: &Gateway, route: &str, e: &envelope::Error) -> Outcome {
    tracing::info!(route, error = %e, "request value too long for the message");
    gw.metrics.verification_failure(route, "uncarriable");
    Outcome::BadRequest
}

/// UTF-8, well-formed JSON (serde_json, recursion limit 128) with no
/// duplicate object key at any depth (consumers' parsers disagree on which
/// duplicate wins).
fn is_json(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok() && serde_json::from_slice::<StrictJson>(body).is_ok()
}

/// Deserializes any JSON value, failing on a duplicate object key.
struct StrictJson;

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = StrictJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_i64<E>(self, _: i64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_u64<E>(self, _: u64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_f64<E>(self, _: f64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_str<E>(self, _: &str) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_unit<E>(self) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<StrictJson, A::Error> {
        while seq.next_element::<StrictJson>()?.is_some() {}
        Ok(StrictJson)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StrictJson, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if !keys.insert(k) {
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value::<StrictJson>()?;
        }
        Ok(StrictJson)
    }
}

/// An object key, borrowed from the body unless it had escapes (serde's own
/// `Cow<str>` always allocates).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(std::borrow::Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(std::borrow::Cow::Owned(v)))
    }
}

/// The bounds [`read_body`] enforces.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    /// Most body bytes (the route's `max_body_bytes`).
    cap: usize,
    /// Longest time for the whole body.
    total: std::time::Duration,
    /// Longest time between two chunks.
    idle: std::time::Duration,
}

/// Reads the whole body under the route's cap, the idle timeout between
/// chunks and the total body deadline. A body that came in one data frame is
/// returned as it came, without a copy.
async fn read_body<B>(
    limits: BodyLimits,
    headers: &HeaderMap,
    mut body: B,
) -> Result<Bytes, Outcome>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    // Refuse early on a declared length over the cap.
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.cap as u64 {
            return Err(Outcome::TooLarge);
        }
    }
    let deadline = tokio::time::Instant::now() + limits.total;
    // The first data frame is kept as it came (no copy: a small body is
    // usually one frame); a second one starts the copy into `buf`.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    loop {
        let idle = tokio::time::Instant::now() + limits.idle;
        let frame = match tokio::time::timeout_at(deadline.min(idle), body.frame()).await {
            Err(_) => return Err(Outcome::Timeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Outcome::BadRequest),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            let held = first.as_ref().map_or(0, Bytes::len) + buf.len();
            if held + data.len() > limits.cap {
                return Err(Outcome::TooLarge);
            }
            if data.is_empty() {
                continue;
            }
            if first.is_none() && buf.is_empty() {
                first = Some(data);
                continue;
            }
            if let Some(earlier) = first.take() {
                buf.extend_from_slice(&earlier);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::{is_json, read_body, BodyLimits, Outcome};
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, StreamBody};
    use hyper::body::Frame;
    use std::time::Duration;

    fn limits(cap: usize) -> BodyLimits {
        BodyLimits {
            cap,
            total: Duration::from_secs(5),
            idle: Duration::from_secs(5),
        }
    }

    /// A body of the given data frames (plus trailers, which are ignored).
    fn frames(parts: &[&'static [u8]]) -> impl hyper::body::Body<Data = Bytes> + Unpin {
        let mut items: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        items.push(Ok(Frame::trailers(http::HeaderMap::new())));
        StreamBody::new(futures_util::stream::iter(items)).boxed_unsync()
    }

    #[tokio::test]
    async fn body_frames_are_joined_in_order_and_one_frame_is_not_copied() {
        let h = http::HeaderMap::new();
        let one: &'static [u8] = b"{\"a\":1}";
        let got = read_body(limits(64), &h, frames(&[one])).await.unwrap();
        assert_eq!(got, one);
        assert_eq!(
            got.as_ptr(),
            one.as_ptr(),
            "one frame: the same bytes, no copy"
        );

        let got = read_body(limits(64), &h, frames(&[b"{\"a\"", b"", b":", b"1}"]))
            .await
            .unwrap();
        assert_eq!(got, &b"{\"a\":1}"[..]);
        let got = read_body(limits(64), &h, frames(&[])).await.unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn body_over_the_cap_is_refused_whether_in_one_frame_or_several() {
        let h = http::HeaderMap::new();
        let r = read_body(limits(4), &h, frames(&[b"12345"])).await;
        assert!(matches!(r, Err(Outcome::TooLarge)));
        let r = read_body(limits(4), &h, frames(&[b"12", b"34", b"5"])).await;
        assert!(matches!(r, Err(Outcome::TooLarge)));
        let r = read_body(limits(4), &h, frames(&[b"12", b"34"])).await;
        assert_eq!(r.unwrap(), &b"1234"[..]);
        let mut declared = http::HeaderMap::new();
        declared.insert(http::header::CONTENT_LENGTH, "5".parse().unwrap());
        let r = read_body(limits(4), &declared, frames(&[])).await;
        assert!(
            matches!(r, Err(Outcome::TooLarge)),
            "declared length over the cap"
        );
    }

    #[test]
    fn json_check_refuses_duplicate_keys_also_when_escaped() {
        assert!(is_json(br#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#));
        assert!(
            is_json(br#"{"\u0061b":1,"a":2}"#),
            "escaped key, no duplicate"
        );
        assert!(!is_json(br#"{"a":1,"a":2}"#));
        assert!(
            !is_json(br#"{"a":1,"\u0061":2}"#),
            "escape spells the same key"
        );
        assert!(!is_json(br#"{"x":{"k":1,"k":2}}"#), "nested duplicate");
        assert!(!is_json(br#"{"a":1"#));
        assert!(!is_json(b"{\"a\":\"\xff\"}"), "not UTF-8");
    }
}
