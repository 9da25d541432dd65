//! The request flow: route, method, load shed, client address and
//! certificate, body, verify, replay cache, store, answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, Version};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::respond::{self, Body, Outcome};
use super::{ConnInfo, Gateway, RouteEntry};
use crate::config::RouteKind;
use crate::envelope::{self, Message};
use crate::outbox::Stored;
use crate::salesforce::om;

/// Bounds of the lingering close (`server.linger_timeout_ms`,
/// `server.linger_max_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    /// Longest time the rest of a body is read and discarded.
    pub time: Duration,
    /// Most bytes read and discarded.
    pub bytes: u64,
}

/// A request body and how far the handler got with it.
struct Inbound<B> {
    body: B,
    /// The handler asked for body data at least once (for a client that
    /// sent `Expect: 100-continue`, only then did hyper invite the body).
    polled: bool,
    /// Read to its end.
    done: bool,
}

/// Handles one request. Never fails: every error is an [`Outcome`].
///
/// The request deadline (`server.request_timeout_ms`) runs from here to the
/// message stored. An HTTP/1 answer given before the body was read to its
/// end closes the connection after a bounded drain of the rest (see
/// [`linger`]).
pub async fn handle(gw: Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let deadline = Instant::now() + gw.request_timeout;
    let (parts, body) = req.into_parts();
    let mut inbound = Inbound {
        body,
        polled: false,
        done: false,
    };
    let entry = gw.routes.load().get(parts.uri.path()).cloned();
    let (name, soap, outcome) = match &entry {
        None => ("none", false, Outcome::NotFound),
        Some(entry) => {
            let route = &entry.route;
            let outcome = if parts.method != Method::POST {
                Outcome::MethodNotAllowed
            } else {
                match gw.permits.clone().try_acquire_owned() {
                    Err(_) => Outcome::Overloaded,
                    Ok(_permit) => {
                        // Dropped with this future too (client gone, panic).
                        let _in_flight = gw.metrics.in_flight_request();
                        process(&gw, entry, &parts, &mut inbound, deadline).await
                    }
                }
            };
            (
                route.name.as_str(),
                route.kind == RouteKind::SalesforceOm,
                outcome,
            )
        }
    };
    gw.metrics.request(name, outcome.label());
    let mut resp = if soap {
        outcome.soap()
    } else {
        outcome.webhook()
    };
    let unread = !inbound.done && !hyper::body::Body::is_end_stream(&inbound.body);
    let invited = inbound.polled || !expects_continue(&parts.headers);
    if unread && parts.version <= Version::HTTP_11 {
        respond::close_connection(&mut resp);
        if invited {
            linger(inbound.body, gw.linger);
        }
    }
    resp
}

/// The request asked to be invited before sending its body.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Lingering close (as nginx's `lingering_close`): reads and discards the
/// rest of an HTTP/1 body the answer did not need, for at most
/// `bounds.time` and `bounds.bytes`, in a task of its own, so the answer is
/// written at once. hyper keeps the connection open while the body is
/// wanted and closes it (the answer says `Connection: close`) once the body
/// ended: the sender, which may upload everything before it reads, finds
/// the status instead of a reset caused by closing a socket with unread
/// data. Past a bound the body is dropped and the connection closes (a
/// reset then is the sender's own doing).
fn linger<B>(mut body: B, bounds: Linger)
where
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
{
    if bounds.time.is_zero() || bounds.bytes == 0 {
        return;
    }
    tokio::spawn(async move {
        let until = Instant::now() + bounds.time;
        let mut left = bounds.bytes;
        loop {
            match tokio::time::timeout_at(until, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    if n >= left {
                        tracing::debug!("lingering close: byte bound reached");
                        return;
                    }
                    left -= n;
                }
                Ok(Some(Err(_)) | None) => return,
                Err(_) => {
                    tracing::debug!("lingering close: time bound reached");
                    return;
                }
            }
        }
    });
}

/// Admits the client, reads the body, then delivers it within the request
/// deadline.
async fn process<B>(
    gw: &Gateway,
    entry: &RouteEntry,
    parts: &Parts,
    inbound: &mut Inbound<B>,
    deadline: Instant,
) -> Outcome
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let route = &entry.route;

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
        total: gw
            .body_timeout
            .min(deadline.saturating_duration_since(Instant::now())),
        idle: gw.body_idle_timeout,
    };
    let body = match read_body(limits, &parts.headers, inbound).await {
        Ok(b) => b,
        Err(outcome) => return outcome,
    };
    let received_at = OffsetDateTime::now_utc();
    deliver(gw, entry, parts, body, received_at, deadline).await
}

/// The body arrived: verify or parse it, drop what the replay cache saw,
/// and store the rest, all before `deadline`. Past it, 503 + Retry-After
/// (the sender retries; a store that still completes makes a duplicate,
/// never a loss). Once stored, the answer is 2xx whatever the replay cache
/// then does.
async fn deliver(
    gw: &Gateway,
    entry: &RouteEntry,
    parts: &Parts,
    body: Bytes,
    received_at: OffsetDateTime,
    deadline: Instant,
) -> Outcome {
    let route = &entry.route;
    let (fresh, keys) = match tokio::time::timeout_at(
        deadline,
        messages(gw, entry, parts, body, received_at),
    )
    .await
    {
        Ok(Ok(m)) => m,
        Ok(Err(outcome)) => return outcome,
        Err(_) => return past_deadline(&route.name, "verify"),
    };
    let stored = match tokio::time::timeout_at(deadline, gw.outbox.store(&fresh)).await {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => {
            tracing::warn!(route = %route.name, error = %e, "neither confirmed nor spooled; answering 503");
            return Outcome::Unavailable;
        }
        Err(_) => return past_deadline(&route.name, "store"),
    };
    if let Some(cache) = &gw.replay {
        // Bounded by what is left of the deadline; the message is stored,
        // so running out only costs the replay mark.
        match tokio::time::timeout_at(deadline, cache.record(keys, route.replay_ttl)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "replay cache write failed"),
            Err(_) => {
                tracing::warn!(route = %route.name, "replay cache write past the request deadline")
            }
        }
    }
    tracing::debug!(route = %route.name, messages = fresh.len(), ?stored, "stored");
    match stored {
        Stored::Confirmed => Outcome::Accepted,
        Stored::Spooled => Outcome::Spooled,
    }
}

/// The request deadline passed after the body arrived, in `step`.
fn past_deadline(route: &str, step: &'static str) -> Outcome {
    tracing::warn!(
        route,
        step,
        "request deadline passed before the message was stored; answering 503"
    );
    Outcome::Deadline
}

/// The messages a received body carries that the replay cache has not seen,
/// with their replay-cache keys; or the answer when there are none to store.
async fn messages(
    gw: &Gateway,
    entry: &RouteEntry,
    parts: &Parts,
    body: Bytes,
    received_at: OffsetDateTime,
) -> Result<(Vec<Message>, Vec<String>), Outcome> {
    let route = &entry.route;

    // (message, replay-cache key) pairs.
    let candidates: Vec<(Message, String)> = if route.kind == RouteKind::SalesforceOm {
        let om = match om::parse(&body, om::Limits::default()) {
            Ok(om) => om,
            Err(e) => {
                tracing::info!(route = %route.name, error = %e, "Outbound Message rejected");
                gw.metrics
                    .verification_failure(&route.name, "malformed_message");
                return Err(Outcome::BadRequest);
            }
        };
        if !route.org_ids.contains(&om.organization_id) {
            tracing::warn!(route = %route.name, "Outbound Message from an Organization ID not in org_ids");
            gw.metrics.verification_failure(&route.name, "wrong_org");
            return Err(Outcome::Unauthorized);
        }
        let messages = match envelope::notifications(route, &om, received_at) {
            Ok(m) => m,
            Err(e) => return Err(uncarriable(gw, &route.name, &e)),
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
                return Err(if e == crate::verify::Error::Body {
                    Outcome::BadRequest
                } else {
                    Outcome::Unauthorized
                });
            }
        };
        gw.metrics.secret_match(&route.name, verified.secret_slot);
        if let Some(crate::verify::Handshake::SlackChallenge(c)) = verified.handshake {
            return Err(Outcome::Handshake(c));
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
            return Err(Outcome::BadRequest);
        }
        match envelope::webhook(route, &verified, content_type, body, received_at) {
            Ok(m) => {
                let k = m.idempotency_key().to_owned();
                vec![(m, k)]
            }
            Err(e) => return Err(uncarriable(gw, &route.name, &e)),
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
        return Err(Outcome::Duplicate);
    }

    Ok((fresh, keys))
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
    inbound: &mut Inbound<B>,
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
    let body = &mut inbound.body;
    loop {
        let idle = tokio::time::Instant::now() + limits.idle;
        inbound.polled = true;
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
    inbound.done = true;
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::{is_json, read_body, BodyLimits, Inbound, Outcome};
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
    fn frames(parts: &[&'static [u8]]) -> Inbound<impl hyper::body::Body<Data = Bytes> + Unpin> {
        let mut items: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        items.push(Ok(Frame::trailers(http::HeaderMap::new())));
        Inbound {
            body: StreamBody::new(futures_util::stream::iter(items)).boxed_unsync(),
            polled: false,
            done: false,
        }
    }

    #[tokio::test]
    async fn body_frames_are_joined_in_order_and_one_frame_is_not_copied() {
        let h = http::HeaderMap::new();
        let one: &'static [u8] = b"{\"a\":1}";
        let got = read_body(limits(64), &h, &mut frames(&[one]))
            .await
            .unwrap();
        assert_eq!(got, one);
        assert_eq!(
            got.as_ptr(),
            one.as_ptr(),
            "one frame: the same bytes, no copy"
        );

        let got = read_body(limits(64), &h, &mut frames(&[b"{\"a\"", b"", b":", b"1}"]))
            .await
            .unwrap();
        assert_eq!(got, &b"{\"a\":1}"[..]);
        let got = read_body(limits(64), &h, &mut frames(&[])).await.unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn body_over_the_cap_is_refused_whether_in_one_frame_or_several() {
        let h = http::HeaderMap::new();
        let r = read_body(limits(4), &h, &mut frames(&[b"12345"])).await;
        assert!(matches!(r, Err(Outcome::TooLarge)));
        let r = read_body(limits(4), &h, &mut frames(&[b"12", b"34", b"5"])).await;
        assert!(matches!(r, Err(Outcome::TooLarge)));
        let r = read_body(limits(4), &h, &mut frames(&[b"12", b"34"])).await;
        assert_eq!(r.unwrap(), &b"1234"[..]);
        let mut declared = http::HeaderMap::new();
        declared.insert(http::header::CONTENT_LENGTH, "5".parse().unwrap());
        let r = read_body(limits(4), &declared, &mut frames(&[])).await;
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
