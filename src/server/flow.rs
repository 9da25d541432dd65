//! The request flow as named phases, each a function over plain types (no
//! socket: a test drives [`handle`] with an in-memory `http::Request`):
//!
//! ```text
//! admit -> read -> authenticate -> envelope -> dedupe -> store -> answer
//! ```
//! - [`admit`]: the route for the path, `POST`, a load-shed permit, then
//!   the client: address allowlist, certificate, rate limit. No body byte
//!   is read before it passed.
//! - [`read`]: the whole body under the route's cap and the body deadlines.
//! - [`authenticate`]: the route's signature scheme (and the JSON check of
//!   a body declared JSON), or the Outbound Message parsed and its
//!   Organization ID checked: a [`Verified`] or an [`OutboundMessage`].
//! - [`envelope`]: the messages to publish (a handshake is answered here).
//! - [`dedupe`]: what the replay cache saw within the route's TTL is
//!   dropped.
//! - [`store`]: the outbox (confirmed or spooled), then the replay marks.
//!
//! Each request is a `request` span (continuing a valid W3C `traceparent`),
//! with `authenticate`, `publish` and `spool` children; every message
//! carries the request span's `traceparent` (see [`context`]).
//!
//! The deadline (`server.request_timeout_ms`) runs from the request head to
//! the message stored. Each phase fails with its own error, and
//! `respond` maps every one to the answer. The phase names are the `phase`
//! field of the flow's log events.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Request, Response, Version};
use time::OffsetDateTime;
use tokio::time::Instant;

use super::body::{self, Inbound};
use super::respond::{self, Body, Outcome};
use super::{Gateway, RouteEntry};
use crate::config::{Route, RouteKind};
use crate::dedupe::{Cache, Claim, Claims};
use crate::envelope::{self, CloudEvents, Message};
use crate::outbox::{self, Outbox, Stored};
use crate::salesforce::om::OutboundMessage;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::trace::{Context, Span};
use crate::verify::{self, Verified};

mod admit;
mod context;

pub(crate) use super::phase::{Error, Late, Refused, Seen, Unauthenticated, Unqueued};
pub(crate) use admit::admit;

/// Handles one request. Never fails: every error is an [`Outcome`].
///
/// An HTTP/1 answer given before the body was read to its end closes the
/// connection after a bounded drain of the rest (see [`Inbound::finish`]).
pub(crate) async fn handle<B>(gw: Arc<Gateway>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
{
    let deadline = Instant::now() + gw.request_timeout;
    let (parts, body) = req.into_parts();
    let mut inbound = Inbound::new(body);
    // The route decides the answer's form and metric label, admitted or not.
    let entry = gw.routes.load().get(parts.uri.path()).cloned();
    let (name, soap) = match &entry {
        None => ("none", false),
        Some(e) => (
            e.route.name.as_str(),
            e.route.kind == RouteKind::SalesforceOm,
        ),
    };
    let span = context::request(&gw.tracer, &parts.headers, name);
    let flow = run(&gw, entry.as_deref(), &parts, &mut inbound, deadline, &span);
    let outcome = match flow.await {
        Ok(stored) => Outcome::from(stored),
        Err(e) => {
            if let Some(reason) = e.reason() {
                gw.metrics.verification_failure(name, reason);
            }
            Outcome::from(e)
        }
    };
    let label = outcome.label();
    match &entry {
        Some(e) => gw.metrics.route_request(&e.counters, name, label),
        None => gw.metrics.request(name, label),
    }
    let mut resp = if soap {
        outcome.soap()
    } else {
        outcome.webhook()
    };
    if parts.version <= Version::HTTP_11 && inbound.finish(&parts.headers, gw.linger) {
        respond::close_connection(&mut resp);
    }
    context::answered(&span, label, resp.status().as_u16());
    resp
}

/// The phases in order; the first error ends the flow.
async fn run<B>(
    gw: &Gateway,
    entry: Option<&RouteEntry>,
    parts: &Parts,
    inbound: &mut Inbound<B>,
    deadline: Instant,
    span: &Span,
) -> Result<Stored, Error>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let admitted = admit(gw, entry, parts)?;
    let route = &admitted.entry.route;
    let body = read(gw, route, &parts.headers, inbound, deadline).await?;
    let received_at = OffsetDateTime::now_utc();
    let now = received_at.unix_timestamp();
    let verifying = context::phase(&gw.tracer, span, "authenticate");
    let authenticated = authenticate(admitted.entry, verify::Head::from(parts), body, now)
        .inspect_err(|e| verifying.fail(e.reason()))?;
    verifying.end();
    if let Authenticated::Webhook(v) = &authenticated {
        gw.metrics
            .route_secret_match(&admitted.entry.counters, &route.name, v.secret_slot());
    }
    let content_type = content_type(&parts.headers);
    let mut messages = envelope(
        route,
        authenticated,
        content_type,
        received_at,
        gw.cloudevents,
    )?;
    context::stamp(span, &mut messages);
    let cache = gw.replay.as_ref();
    let fresh = dedupe(
        cache,
        &gw.metrics,
        &route.name,
        messages,
        gw.request_timeout,
    );
    let (fresh, claims) = within(deadline, "dedupe", &route.name, fresh).await??;
    let stored = within(
        deadline,
        "store",
        &route.name,
        store(&gw.outbox, route, &fresh, span.context()),
    );
    // Not stored: the claims are given back as they drop.
    let stored = stored.await??;
    if let Some(cache) = cache {
        let recorded = record(cache, route, &fresh, deadline).await;
        if let Some(claims) = claims.filter(|_| recorded) {
            claims.stored();
        }
    }
    tracing::debug!(route = %route.name, messages = fresh.len(), ?stored, trace_id = %span.trace_id(), "stored");
    Ok(stored)
}

// === read ===

/// Reads the whole body under `route`'s cap, the idle timeout between
/// chunks and the body deadline (never past the request `deadline`).
///
/// # Errors
/// [`body::Error`] naming the bound that stopped it.
pub(crate) async fn read<B>(
    gw: &Gateway,
    route: &Route,
    headers: &HeaderMap,
    inbound: &mut Inbound<B>,
    deadline: Instant,
) -> Result<Bytes, body::Error>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let limits = body::Limits {
        cap: route.max_body_bytes,
        total: gw
            .body_timeout
            .min(deadline.saturating_duration_since(Instant::now())),
        idle: gw.body_idle_timeout,
    };
    body::read(limits, headers, inbound).await
}

// === authenticate ===

/// What [`authenticate`] proved: a sender and its body. (No `Debug`: an
/// Outbound Message holds a SessionId.)
pub(crate) enum Authenticated {
    /// A webhook whose signature verified (it owns the body).
    Webhook(Verified),
    /// An Outbound Message from an accepted Organization, parsed.
    OutboundMessage(OutboundMessage),
}

/// Proves who sent `body` to `entry`'s route: its signature scheme at Unix
/// time `now`, or, for an Outbound Message route, the parse and the
/// Organization ID check.
///
/// A body declared JSON must be JSON (UTF-8, well-formed, nesting within
/// serde_json's limit, no duplicate key) before it reaches consumers;
/// checked only after the signature verified, and not for a handshake
/// (answered, never published).
///
/// # Errors
/// [`Unauthenticated`] naming the check that failed.
pub(crate) fn authenticate(
    entry: &RouteEntry,
    head: verify::Head<'_>,
    body: Bytes,
    now: i64,
) -> Result<Authenticated, Unauthenticated> {
    let route = &entry.route;
    let headers = head.headers;
    if route.kind == RouteKind::SalesforceOm {
        return match verify::salesforce::verify(&route.org_ids, route.parse_limits, &body) {
            Ok(om) => Ok(Authenticated::OutboundMessage(om)),
            Err(verify::salesforce::Error::WrongOrg) => {
                tracing::warn!(route = %route.name, phase = "authenticate", "Outbound Message from an Organization ID not in org_ids");
                Err(verify::salesforce::Error::WrongOrg.into())
            }
            Err(e) => {
                tracing::info!(route = %route.name, error = %e, phase = "authenticate", "Outbound Message rejected");
                Err(e.into())
            }
        };
    }
    let verified = entry.verifier.verify(head, body, now).inspect_err(|e| {
        tracing::info!(
            route = %route.name,
            url = route.public_url.as_deref().unwrap_or(&route.path),
            reason = e.reason(),
            phase = "authenticate",
            "verification failed"
        );
    })?;
    let declared_json =
        content_type(headers).is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    if verified.handshake().is_none() && declared_json && !body::is_json(verified.body()) {
        tracing::info!(route = %route.name, phase = "authenticate", "signed body declared JSON is not JSON");
        return Err(Unauthenticated::NotJson);
    }
    Ok(Authenticated::Webhook(verified))
}

/// The request's `Content-Type`, when it is visible ASCII.
fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

// === envelope ===

/// The messages `authenticated` makes on `route`: one per webhook (its body
/// moved into the message), one per Notification of an Outbound Message;
/// with the CloudEvents headers unless `cloudevents` is off.
///
/// # Errors
/// [`Unqueued`]: a handshake to answer, or a value AMQP cannot carry.
pub(crate) fn envelope(
    route: &Route,
    authenticated: Authenticated,
    content_type: Option<&str>,
    received_at: OffsetDateTime,
    cloudevents: CloudEvents,
) -> Result<Vec<Message>, Unqueued> {
    let built = match authenticated {
        Authenticated::OutboundMessage(om) => {
            envelope::notifications(route, &om, received_at, cloudevents)
        }
        Authenticated::Webhook(verified) => {
            if let Some(handshake) = verified.handshake() {
                return Err(Unqueued::Handshake(handshake.clone()));
            }
            envelope::webhook(route, verified, content_type, received_at, cloudevents)
                .map(|m| vec![m])
        }
    };
    built.map_err(|e| {
        tracing::info!(route = %route.name, error = %e, phase = "envelope", "request value too long for the message");
        e.into()
    })
}

// === dedupe ===

/// How often a request waiting for an identical one in flight asks again.
const CLAIM_POLL: Duration = Duration::from_millis(20);

/// Claims the messages' keys in the replay `cache` for `hold` (one lookup
/// for all of them) and drops the messages it saw within their TTL,
/// counting each as a duplicate of `route`. While an identical request in
/// flight holds a key (here or, with Redis, on another gateway), waits for
/// its outcome: stored (a duplicate) or given back (claimed here). Returns
/// the rest with their claims, released when dropped unless recorded. A
/// cache that fails lets everything through unclaimed (a replay costs a
/// duplicate that consumers drop, never a loss).
///
/// # Errors
/// [`Seen`] when nothing is left to store.
pub(crate) async fn dedupe(
    cache: Option<&Cache>,
    metrics: &Metrics,
    route: &str,
    messages: Vec<Message>,
    hold: Duration,
) -> Result<(Vec<Message>, Option<Claims>), Seen> {
    let Some(cache) = cache else {
        return Ok((messages, None));
    };
    let keys: Vec<String> = messages
        .iter()
        .map(|m| m.idempotency_key().to_owned())
        .collect();
    // Claims taken so far: released if this future is dropped (deadline).
    let mut claims = Claims::new(cache.clone(), Vec::new());
    let mut state = vec![Claim::Pending; keys.len()];
    // Counted once per request in `hookgate_replay_claim_waits_total`.
    let mut waited = false;
    loop {
        let asking: Vec<usize> = (0..keys.len())
            .filter(|&i| state[i] == Claim::Pending)
            .collect();
        if asking.is_empty() {
            break;
        }
        // Every key on the first round (no copy); those still pending after.
        let asked: Cow<'_, [String]> = if asking.len() == keys.len() {
            Cow::Borrowed(&keys)
        } else {
            asking.iter().map(|&i| keys[i].clone()).collect()
        };
        match cache.claim_all(&asked, hold).await {
            Err(e) => {
                tracing::warn!(error = %e, phase = "dedupe", "replay cache unavailable; treating as new");
                // Through unclaimed.
                for i in asking {
                    state[i] = Claim::Claimed;
                }
                break;
            }
            Ok(found) => {
                for (i, c) in asking.into_iter().zip(found) {
                    state[i] = c;
                    if c == Claim::Claimed {
                        claims.add(keys[i].clone());
                    }
                }
            }
        }
        if state.contains(&Claim::Pending) {
            if !waited {
                waited = true;
                metrics.claim_wait(route);
            }
            tracing::debug!(
                route,
                phase = "dedupe",
                "an identical request is in flight; waiting for its outcome"
            );
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }
    let total = messages.len();
    let fresh: Vec<Message> = messages
        .into_iter()
        .zip(&state)
        .filter_map(|(m, c)| (*c == Claim::Claimed).then_some(m))
        .collect();
    for _ in fresh.len()..total {
        metrics.duplicate(route);
    }
    if fresh.is_empty() {
        tracing::debug!(route, phase = "dedupe", "replay: every message seen before");
        return Err(Seen);
    }
    Ok((fresh, Some(claims)))
}

// === store ===

/// Stores `messages` durably in the `outbox`: confirmed by the broker or
/// fsynced to the spool.
///
/// # Errors
/// [`outbox::Error`] when neither holds them.
pub(crate) async fn store(
    outbox: &Outbox,
    route: &Route,
    messages: &[Message],
    parent: &Context,
) -> Result<Stored, outbox::Error> {
    outbox.store(messages, parent).await.inspect_err(|e| {
        tracing::warn!(route = %route.name, error = %e, phase = "store", "neither confirmed nor spooled; answering 503");
    })
}

/// Marks stored `messages` in the replay cache, within what is left of the
/// `deadline`; true when marked. They are stored: a failure or running out
/// only costs the replay mark, so it is logged, never answered.
async fn record(cache: &Cache, route: &Route, messages: &[Message], deadline: Instant) -> bool {
    let keys = messages
        .iter()
        .map(|m| m.idempotency_key().to_owned())
        .collect();
    match tokio::time::timeout_at(deadline, cache.record(keys, route.replay_ttl)).await {
        Ok(Ok(())) => return true,
        Ok(Err(e)) => tracing::warn!(error = %e, phase = "store", "replay cache write failed"),
        Err(_) => {
            tracing::warn!(route = %route.name, phase = "store", "replay cache write past the request deadline")
        }
    }
    false
}

/// `fut` (a phase after the body arrived) within the request deadline.
/// Past it, 503 + Retry-After: the sender retries; a store that still
/// completes makes a duplicate, never a loss.
async fn within<T>(
    deadline: Instant,
    phase: &'static str,
    route: &str,
    fut: impl Future<Output = T>,
) -> Result<T, Late> {
    tokio::time::timeout_at(deadline, fut).await.map_err(|_| {
        tracing::warn!(
            route,
            phase,
            "request deadline passed before the message was stored; answering 503"
        );
        Late { phase }
    })
}

#[cfg(test)]
mod tests;
