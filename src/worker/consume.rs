//! AMQP side of the worker: topology, delivery headers, and the confirmed
//! publishes (through [`crate::broker::Publisher`]) that hand a message to a
//! retry queue or the dead-letter queue.
//!
//! Topology (`Queues`), declared at every connection:
//! - work queues (`[worker] queues`): used as they are when they exist (the
//!   gateway's `[[amqp.queues]]` may have declared them), else declared
//!   durable quorum queues;
//! - the dead-letter queue: durable classic queue;
//! - per work queue and delay: `<queue>.retry.<seconds>s`, durable, with
//!   `x-message-ttl` = the delay and `x-dead-letter-exchange` "" +
//!   `x-dead-letter-routing-key` = the work queue: a message published there
//!   comes back to its work queue after the delay.

use std::time::Duration;

use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Connection};

use crate::broker::connect::{Declared, Topology};
use crate::broker::publish::Outgoing;
use crate::broker::{self, Publisher};
use crate::config::worker::WorkerSection;
use crate::config::AmqpConfig;

/// Attempt number header (1 for the first delivery).
pub(crate) const ATTEMPT_HEADER: &str = "x-hookgate-attempt";
/// Dead-letter reason header: `<code>: <message>`.
pub(crate) const ERROR_HEADER: &str = "x-hookgate-error";
/// Work queue a dead-lettered message came from (for `dlq replay`).
pub(crate) const QUEUE_HEADER: &str = "x-hookgate-queue";
/// The message's original routing key: retry and dead-letter queues are
/// reached through the default exchange, which replaces it.
pub(crate) const ROUTING_KEY_HEADER: &str = "x-hookgate-routing-key";
/// How long a retry/dead-letter publish may wait for its confirm.
pub(crate) const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the retry queue of `queue` for a delay.
pub fn retry_queue(queue: &str, delay_s: u64) -> String {
    format!("{queue}.retry.{delay_s}s")
}

/// The worker's topology: its work, retry and dead-letter queues.
pub(crate) struct Queues(pub(crate) WorkerSection);

impl Topology for Queues {
    fn declare<'a>(
        &'a self,
        connection: &'a Connection,
        _: &'a AmqpConfig,
    ) -> BoxFuture<'a, Result<Declared, lapin::Error>> {
        Box::pin(async move {
            declare(connection, &self.0).await?;
            Ok(Declared::default())
        })
    }
}

/// Declares work, retry and dead-letter queues.
async fn declare(conn: &Connection, w: &WorkerSection) -> Result<(), lapin::Error> {
    for q in &w.queues {
        ensure_queue(conn, q, "quorum").await?;
        for &d in &w.retry_delays_s {
            let mut args = FieldTable::default();
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt((d * 1000) as i64),
            );
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(LongString::from("")),
            );
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(LongString::from(q.as_str())),
            );
            declare_durable(conn, &retry_queue(q, d), args).await?;
        }
    }
    ensure_queue(conn, &w.dead_letter_queue, "classic").await
}

/// Uses the queue if it exists (whatever its type), else declares it.
async fn ensure_queue(conn: &Connection, name: &str, kind: &str) -> Result<(), lapin::Error> {
    let ch = conn.create_channel().await?;
    let passive = ch
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    if passive.is_ok() {
        let _ = ch.close(200, ShortString::from("exists")).await;
        return Ok(());
    }
    // A failed passive declare closed that channel (404); declare_durable
    // opens a new one.
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from(kind)),
    );
    declare_durable(conn, name, args).await
}

/// Declares a durable queue with `args` on a channel of its own.
async fn declare_durable(
    conn: &Connection,
    name: &str,
    args: FieldTable,
) -> Result<(), lapin::Error> {
    let ch = conn.create_channel().await?;
    ch.queue_declare(
        ShortString::from(name),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await?;
    let _ = ch.close(200, ShortString::from("declared")).await;
    Ok(())
}

/// The attempt number of a delivery (1 when the header is absent).
pub(crate) fn attempt(d: &Delivery) -> u32 {
    let Some(h) = d.properties.headers().as_ref() else {
        return 1;
    };
    match h.inner().get(ATTEMPT_HEADER) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(1),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(1),
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).unwrap_or(1),
        Some(AMQPValue::LongString(s)) => s.to_string().parse().unwrap_or(1),
        _ => 1,
    }
    .max(1)
}

/// A string header of a delivery.
pub(crate) fn header(d: &Delivery, name: &str) -> Option<String> {
    match d.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The key the idempotency store claims for a delivery: the gateway's
/// [`IDEMPOTENCY_KEY_HEADER`] (also its replay-cache key); for a message
/// published before that header existed, `<route>|<message_id>` from
/// [`ROUTE_HEADER`]; for one without either (not from hookgate), the bare
/// `message_id`, as keys were before routes were part of them.
///
/// [`IDEMPOTENCY_KEY_HEADER`]: crate::envelope::IDEMPOTENCY_KEY_HEADER
/// [`ROUTE_HEADER`]: crate::envelope::ROUTE_HEADER
pub(crate) fn idempotency_key(d: &Delivery, message_id: &str) -> String {
    key_from(
        header(d, crate::envelope::IDEMPOTENCY_KEY_HEADER),
        header(d, crate::envelope::ROUTE_HEADER),
        message_id,
    )
}

/// [`idempotency_key`] from the two header values.
fn key_from(key: Option<String>, route: Option<String>, message_id: &str) -> String {
    match (key.filter(|k| !k.is_empty()), route) {
        (Some(key), _) => key,
        // Signed or not is unknown here: the id alone, as the gateway keys
        // a signed one.
        (None, Some(route)) => crate::envelope::idempotency_key(&route, message_id, true, &[]),
        (None, None) => message_id.to_owned(),
    }
}

/// The routing key the gateway published the message with.
pub(crate) fn routing_key(d: &Delivery) -> String {
    header(d, ROUTING_KEY_HEADER).unwrap_or_else(|| d.routing_key.to_string())
}

/// Republishes a delivery (same body and properties) to `queue` through the
/// default exchange with `set` headers added and `remove` headers dropped,
/// and waits for the confirm (up to [`CONFIRM_TIMEOUT`]). The original
/// routing key is kept in [`ROUTING_KEY_HEADER`].
///
/// # Errors
/// [`broker::Error`]: not confirmed (a nack, a return, no confirm in time,
/// a channel error); the caller must not ack the original.
pub(crate) async fn republish(
    publisher: &Publisher,
    d: &Delivery,
    queue: &str,
    set: &[(&str, AMQPValue)],
    remove: &[&str],
) -> Result<(), broker::Error> {
    let mut headers = d.properties.headers().clone().unwrap_or_default();
    let mut inner = headers.inner().clone();
    inner.insert(
        ShortString::from(ROUTING_KEY_HEADER),
        AMQPValue::LongString(LongString::from(routing_key(d))),
    );
    for r in remove {
        inner.remove(*r);
    }
    for (k, v) in set {
        inner.insert(ShortString::from(*k), v.clone());
    }
    headers = FieldTable::from(inner);
    let properties: BasicProperties = d
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let out = Outgoing {
        exchange: ShortString::from(""),
        routing_key: ShortString::from(queue),
        properties,
        body: bytes::Bytes::copy_from_slice(&d.data),
    };
    publisher
        .send_each(vec![Ok(out)], CONFIRM_TIMEOUT)
        .await
        .pop()
        .unwrap_or(Err(broker::Error::NotConnected))
}

#[cfg(test)]
mod tests {
    use super::key_from;

    #[test]
    fn idempotency_key_header_then_route_then_bare_id() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            key_from(some("github|d-1|ab12"), some("github"), "d-1"),
            "github|d-1|ab12"
        );
        assert_eq!(key_from(None, some("github"), "d-1"), "github|d-1");
        assert_eq!(key_from(some(""), some("github"), "d-1"), "github|d-1");
        assert_eq!(key_from(None, None, "d-1"), "d-1");
    }
}
