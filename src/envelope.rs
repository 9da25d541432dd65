//! The AMQP message hookgate publishes: pure code, no I/O.
//!
//! Contract (consumers rely on it):
//! - routing key `<source>.<event>`: `github.push`, `stripe.invoice.paid`,
//!   `slack.app_mention`, `shopify.orders.create`, `salesforce.Account`;
//!   `<source>.event` when the scheme names no event. `<source>` is the route
//!   name. Event names are mapped to topic words (`/` becomes `.`, characters
//!   outside `[A-Za-z0-9_.:-]` become `_`).
//! - properties: `delivery_mode` 2 (persistent), `message_id` = idempotency
//!   key, `timestamp` (Unix seconds), `type` = the routing key, `app_id`
//!   `hookgate`, `content_type` (as received for webhooks,
//!   `application/json` for Notifications).
//! - headers: `x-hookgate-route`, `x-hookgate-received-at` (RFC 3339),
//!   `x-hookgate-idempotency-key` (see below), and, unless
//!   `amqp.cloudevents = "off"` ([`CloudEvents`]), the CloudEvents AMQP
//!   binding's binary-mode attributes [`CLOUDEVENTS_HEADERS`]:
//!   `cloudEvents:specversion` (`1.0`), `cloudEvents:id` (= `message_id`),
//!   `cloudEvents:source` (the route path), `cloudEvents:type` (= `type`),
//!   `cloudEvents:time` (= `x-hookgate-received-at`); `x-hookgate-body-signed:
//!   false` when the provider's signature does not cover the body
//!   (Mailgun); then the W3C Trace Context
//!   [`TRACEPARENT_HEADER`] (always: the gateway's request span, continuing
//!   the request's own `traceparent` when well-formed) and
//!   [`TRACESTATE_HEADER`] (when the request sent a usable one), added by
//!   the request flow to every message of a request.
//! - `x-hookgate-idempotency-key` = [`idempotency_key`]: `<route>|<id>`, plus
//!   `|<hex SHA-256 of the body>` when the scheme does not sign the id. It is
//!   the gateway's replay-cache key and the worker's idempotency key, so a
//!   `message_id` reused on another route (counters, `sha256:` fallbacks) or
//!   forged on an unsigned scheme never suppresses a real effect. Consumers of
//!   messages without it (published before it existed) use `<route>|<id>`
//!   from `x-hookgate-route`, and the bare `message_id` without that either.
//! - body: a webhook's bytes exactly as received; for an Outbound Message, one
//!   JSON object per Notification (see [`notification`]).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use crate::config::CloudEvents;
use crate::config::Route;
use crate::salesforce::om::{Notification, OutboundMessage};
use crate::verify::Verified;

/// `app_id` of every message.
pub(crate) const APP_ID: &str = "hookgate";
/// Header naming the route that received the request.
pub const ROUTE_HEADER: &str = "x-hookgate-route";
/// Header with the receive time, RFC 3339.
pub const RECEIVED_AT_HEADER: &str = "x-hookgate-received-at";
/// Header `false` on messages whose body the provider's signature does not
/// cover (Mailgun signs only a timestamp and token): absent otherwise.
pub const BODY_SIGNED_HEADER: &str = "x-hookgate-body-signed";
/// Header with the message's idempotency key ([`idempotency_key`]).
pub const IDEMPOTENCY_KEY_HEADER: &str = "x-hookgate-idempotency-key";
pub use crate::telemetry::trace::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
/// Header with a Pub/Sub API event's replay id (standard base64 of the
/// opaque bytes Salesforce sent).
pub const REPLAY_ID_HEADER: &str = "x-hookgate-replay-id";
/// Header with the Avro schema id (fingerprint) a Pub/Sub API event was
/// written with.
pub const SCHEMA_ID_HEADER: &str = "x-hookgate-schema-id";
/// The CloudEvents binary-mode headers, in the order they are added (after
/// the first three `x-hookgate-*` headers), when [`CloudEvents::Binary`].
pub const CLOUDEVENTS_HEADERS: [&str; 5] = [
    "cloudEvents:specversion",
    "cloudEvents:id",
    "cloudEvents:source",
    "cloudEvents:type",
    "cloudEvents:time",
];
/// Longest routing key AMQP allows (shortstr).
pub const MAX_ROUTING_KEY: usize = 255;

/// One message ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Topic routing key `<source>.<event>`.
    pub routing_key: String,
    /// Idempotency key, also `cloudEvents:id` (when [`CloudEvents::Binary`]).
    pub message_id: String,
    /// MIME type of `body`.
    pub content_type: String,
    /// The routing key again, as AMQP `type` (and `cloudEvents:type`).
    pub kind: String,
    /// When hookgate received the request.
    pub received_at: OffsetDateTime,
    /// String headers (`x-hookgate-*`, `cloudEvents:*` unless
    /// [`CloudEvents::Off`], then `traceparent` and `tracestate`), in this
    /// order.
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// The payload.
    pub body: Bytes,
}

/// Longest value of an AMQP short string (`message_id`, `content_type`,
/// `type`, routing key), in bytes (AMQP 0-9-1, 4.2.5.3).
pub const MAX_SHORT_STRING: usize = 255;

/// A request value that AMQP cannot carry: answered 400 before anything is
/// stored (a 256-byte `Content-Type` is legal HTTP, but would make the
/// message unpublishable, in the spool too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is longer than {MAX_SHORT_STRING} bytes")]
pub struct Error {
    /// The message field: `message_id`, `content_type`, `type`, `routing_key`.
    pub field: &'static str,
}

impl Message {
    /// The idempotency key ([`IDEMPOTENCY_KEY_HEADER`]; every builder here
    /// sets it): what the replay cache records and the worker claims.
    pub fn idempotency_key(&self) -> &str {
        self.header(IDEMPOTENCY_KEY_HEADER)
            .unwrap_or(self.message_id.as_str())
    }

    /// The value of header `name` (the first, should it repeat), when the
    /// message has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The idempotency key of a delivery: `<route>|<id>`, plus `|<hex SHA-256 of
/// body>` when the id is not covered by the signature (a forged id then
/// cannot suppress a real delivery). The one definition the gateway's replay
/// cache and the worker's idempotency store share.
pub fn idempotency_key(route: &str, id: &str, id_signed: bool, body: &[u8]) -> String {
    // Pieces pushed into one allocation of the final size (`format!` costs
    // ~1,200 instructions more per request: docs/performance.md).
    let digest_len = if id_signed { 0 } else { 65 };
    let mut key = String::with_capacity(route.len() + 1 + id.len() + digest_len);
    key.push_str(route);
    key.push('|');
    key.push_str(id);
    if !id_signed {
        use sha2::Digest as _;
        let mut hex = [0u8; 64];
        // 32 bytes fill 64 hex digits exactly: cannot fail.
        let _ = hex::encode_to_slice(sha2::Sha256::digest(body), &mut hex);
        key.push('|');
        key.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    }
    key
}

/// Builds the message for a verified webhook; its body is the verified body
/// (moved, not copied). `content_type` is the request's header
/// (`application/octet-stream` when absent); `cloudevents` is
/// `amqp.cloudevents` (the five `cloudEvents:*` headers or none).
///
/// # Errors
/// [`Error`] when the delivery id or the content type is longer than an
/// AMQP short string holds.
pub fn webhook(
    route: &Route,
    verified: Verified,
    content_type: Option<&str>,
    received_at: OffsetDateTime,
    cloudevents: CloudEvents,
) -> Result<Message, Error> {
    let routing_key = routing_key(&route.name, verified.event());
    let key = idempotency_key(
        &route.name,
        verified.id(),
        verified.id_signed(),
        verified.body(),
    );
    let id = verified.id().to_owned();
    let mut m = build(
        route,
        id,
        key,
        routing_key,
        content_type
            .unwrap_or("application/octet-stream")
            .to_owned(),
        verified.into_body(),
        received_at,
    );
    cloud_events(&mut m, cloudevents, &route.path);
    if !route.kind.signs_body() {
        m.headers
            .push((Cow::Borrowed(BODY_SIGNED_HEADER), "false".to_owned()));
    }
    checked(m)
}

/// One event pulled from Salesforce's Pub/Sub API (`hookgate subscribe`,
/// docs/pubsub.md), as [`pubsub_event`] publishes it.
#[derive(Debug, Clone)]
pub struct PulledEvent<'a> {
    /// The subscription's name: the routing key's first word and
    /// [`ROUTE_HEADER`].
    pub subscription: &'a str,
    /// The topic (`/event/Order_Placed__e`): `cloudEvents:source`.
    pub topic: &'a str,
    /// `<EventName>` of a platform event, `<Entity>.<changeType>` of a change
    /// event, `undecodable` when the payload did not decode.
    pub event: &'a str,
    /// The EventUuid of a platform event, `<transactionKey>-<sequenceNumber>`
    /// of a change event.
    pub id: &'a str,
    /// The opaque replay id.
    pub replay_id: &'a [u8],
    /// The schema id the payload was written with.
    pub schema_id: &'a str,
    /// `application/json` (decoded) or `avro/binary` (the raw payload).
    pub content_type: &'a str,
    /// `amqp.cloudevents` of `hookgate subscribe`'s config.
    pub cloudevents: CloudEvents,
}

/// Builds the message of a pulled event: routing key
/// `<subscription>.<event>`, `message_id` = `id`, idempotency key
/// `<subscription>|<id>`, the CloudEvents headers as for webhooks (source =
/// the topic; none with [`CloudEvents::Off`]), plus [`REPLAY_ID_HEADER`] and
/// [`SCHEMA_ID_HEADER`].
///
/// # Errors
/// [`Error`] when the id or routing key is longer than an AMQP short string.
pub fn pubsub_event(
    e: &PulledEvent<'_>,
    body: Bytes,
    received_at: OffsetDateTime,
) -> Result<Message, Error> {
    use base64::Engine as _;
    let routing_key = routing_key(e.subscription, Some(e.event));
    let mut headers = Vec::with_capacity(10);
    headers.extend([
        (Cow::Borrowed(ROUTE_HEADER), e.subscription.to_owned()),
        (Cow::Borrowed(RECEIVED_AT_HEADER), rfc3339(received_at)),
        (
            Cow::Borrowed(IDEMPOTENCY_KEY_HEADER),
            format!("{}|{}", e.subscription, e.id),
        ),
    ]);
    let mut m = Message {
        kind: routing_key.clone(),
        routing_key,
        message_id: e.id.to_owned(),
        content_type: e.content_type.to_owned(),
        received_at,
        headers,
        body,
    };
    cloud_events(&mut m, e.cloudevents, e.topic);
    m.headers.extend([
        (
            Cow::Borrowed(REPLAY_ID_HEADER),
            base64::engine::general_purpose::STANDARD.encode(e.replay_id),
        ),
        (Cow::Borrowed(SCHEMA_ID_HEADER), e.schema_id.to_owned()),
    ]);
    checked(m)
}

/// Adds the CloudEvents binary-mode attributes ([`CLOUDEVENTS_HEADERS`])
/// after the `x-hookgate-*` headers of `m`, unless `mode` is
/// [`CloudEvents::Off`]: `id`, `type` and `time` repeat `message_id`, `type`
/// and [`RECEIVED_AT_HEADER`]; `source` is the route path or the topic.
fn cloud_events(m: &mut Message, mode: CloudEvents, source: &str) {
    if mode == CloudEvents::Off {
        return;
    }
    let time = m
        .header(RECEIVED_AT_HEADER)
        .map_or_else(|| rfc3339(m.received_at), str::to_owned);
    let [specversion, id, src, kind, at] = CLOUDEVENTS_HEADERS;
    m.headers.extend([
        (Cow::Borrowed(specversion), "1.0".to_owned()),
        (Cow::Borrowed(id), m.message_id.clone()),
        (Cow::Borrowed(src), source.to_owned()),
        (Cow::Borrowed(kind), m.kind.clone()),
        (Cow::Borrowed(at), time),
    ]);
}

/// `m` when every short-string field fits ([`MAX_SHORT_STRING`]).
fn checked(m: Message) -> Result<Message, Error> {
    for (field, value) in [
        ("message_id", &m.message_id),
        ("content_type", &m.content_type),
        ("type", &m.kind),
        ("routing_key", &m.routing_key),
    ] {
        if value.len() > MAX_SHORT_STRING {
            return Err(Error { field });
        }
    }
    Ok(m)
}

/// The JSON body of one Notification message:
/// `{"organization_id","action_id","notification_id","sobject_type",
/// "sobject":{<field>: <string or null>},"enterprise_url","partner_url"}`,
/// plus `"session_id"` only when the route forwards it.
#[derive(Debug, Serialize)]
pub(crate) struct NotificationBody<'a> {
    /// 18-character Organization ID.
    pub(crate) organization_id: &'a str,
    /// Outbound Message action id.
    pub(crate) action_id: &'a str,
    /// Notification id (the idempotency key).
    pub(crate) notification_id: &'a str,
    /// sObject API name.
    pub(crate) sobject_type: &'a str,
    /// The record's fields as sent (null for nil).
    pub(crate) sobject: &'a std::collections::BTreeMap<String, Option<String>>,
    /// EnterpriseUrl as sent (null when absent).
    pub(crate) enterprise_url: Option<&'a str>,
    /// PartnerUrl as sent (null when absent).
    pub(crate) partner_url: Option<&'a str>,
    /// SessionId: only with `forward_session_id = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<&'a str>,
}

/// Builds one message per Notification of an Outbound Message, with the
/// `cloudEvents:*` headers unless `cloudevents` is [`CloudEvents::Off`].
///
/// # Errors
/// [`Error`] when a Notification Id is longer than an AMQP short string.
pub fn notifications(
    route: &Route,
    om: &OutboundMessage,
    received_at: OffsetDateTime,
    cloudevents: CloudEvents,
) -> Result<Vec<Message>, Error> {
    om.notifications
        .iter()
        .map(|n| notification(route, om, n, received_at, cloudevents))
        .collect()
}

/// Builds the message for one Notification.
///
/// # Errors
/// As [`notifications`].
pub fn notification(
    route: &Route,
    om: &OutboundMessage,
    n: &Notification,
    received_at: OffsetDateTime,
    cloudevents: CloudEvents,
) -> Result<Message, Error> {
    let body = NotificationBody {
        organization_id: &om.organization_id,
        action_id: &om.action_id,
        notification_id: &n.id,
        sobject_type: &n.sobject_type,
        sobject: &n.fields,
        enterprise_url: om.enterprise_url.as_deref(),
        partner_url: om.partner_url.as_deref(),
        session_id: if route.forward_session_id {
            om.session_id.as_deref()
        } else {
            None
        },
    };
    // Serialising strings and maps of strings cannot fail.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    // Nothing in an Outbound Message is signed: key on the content too.
    let key = idempotency_key(&route.name, &n.id, false, &json);
    let mut m = build(
        route,
        n.id.clone(),
        key,
        routing_key(&route.name, Some(&n.sobject_type)),
        "application/json".to_owned(),
        Bytes::from(json),
        received_at,
    );
    cloud_events(&mut m, cloudevents, &route.path);
    checked(m)
}

/// The message with its properties and the three `x-hookgate-*` headers
/// every message has; the caller adds the rest ([`cloud_events`]...).
fn build(
    route: &Route,
    message_id: String,
    key: String,
    routing_key: String,
    content_type: String,
    body: Bytes,
    received_at: OffsetDateTime,
) -> Message {
    // Room for the CloudEvents headers, `x-hookgate-body-signed` and the
    // trace context added later.
    let mut headers = Vec::with_capacity(11);
    headers.extend([
        (Cow::Borrowed(ROUTE_HEADER), route.name.clone()),
        (Cow::Borrowed(RECEIVED_AT_HEADER), rfc3339(received_at)),
        (Cow::Borrowed(IDEMPOTENCY_KEY_HEADER), key),
    ]);
    Message {
        kind: routing_key.clone(),
        routing_key,
        message_id,
        content_type,
        received_at,
        headers,
        body,
    }
}

/// RFC 3339 text of a time (UTC, as produced by `OffsetDateTime::now_utc`).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `<source>.<event>` with the event mapped to topic words, capped at
/// [`MAX_ROUTING_KEY`] bytes.
pub(crate) fn routing_key(source: &str, event: Option<&str>) -> String {
    let mut key = String::with_capacity(source.len() + 32);
    key.push_str(source);
    key.push('.');
    let event = event
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("event");
    for c in event.chars() {
        if key.len() >= MAX_ROUTING_KEY {
            break;
        }
        key.push(match c {
            '/' => '.',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') => c,
            _ => '_',
        });
    }
    key
}

#[cfg(test)]
mod tests;
