//! Publishing with publisher confirms: the one place the crate waits for
//! them.
//!
//! [`Publisher::publish`] hands a request's messages to the connection's
//! next publishing group (`super::group`): the group sends every message of
//! the requests queued with it on one leased channel (`super::pool`), then
//! awaits all their confirms together, and each request gets its own
//! messages' outcomes. Success means the broker
//! confirmed (acked) every message and returned none: persistent messages
//! on durable queues are then on disk (RabbitMQ's confirm semantics).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use tokio::sync::{oneshot, watch};

use super::connect::Link;
use super::group::Job;
pub(crate) use super::group::Outgoing;
use super::{Error, Observe, Status};
use crate::config::AmqpConfig;
use crate::envelope::{Message, APP_ID};

/// Handle to the publishing side of the broker connection. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    link: Link,
}

impl Publisher {
    /// Starts the gateway's connection manager in the background and returns
    /// at once: the gateway serves (answering 503) while the broker is away.
    ///
    /// The manager declares the durable topic exchange (with its alternate
    /// exchange and `unroutable` queue) and the configured queues and
    /// bindings on every (re)connection, and stops when `shutdown` turns
    /// true.
    pub fn start(
        config: AmqpConfig,
        metrics: Arc<dyn Observe>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self::start_as("hookgate gateway", config, metrics, shutdown)
    }

    /// [`start`](Self::start) with another connection name (shown by
    /// `rabbitmqctl list_connections client_properties`): `hookgate
    /// subscriber`.
    pub fn start_as(
        name: &'static str,
        config: AmqpConfig,
        metrics: Arc<dyn Observe>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let topology = Arc::new(super::Exchange);
        Publisher {
            link: Link::start(config, name, topology, metrics, shutdown),
        }
    }

    /// Publishes on `link`'s connection (the worker, the `dlq` commands).
    pub(crate) fn on(link: Link) -> Self {
        Publisher { link }
    }

    /// Current broker state.
    pub fn status(&self) -> Status {
        self.link.status()
    }

    /// Whether the current connection's exchange has the alternate exchange
    /// that keeps unroutable messages (false while disconnected).
    pub fn keeps_unroutable(&self) -> bool {
        self.link
            .live()
            .is_some_and(|l| l.declared.unroutable.is_some())
    }

    /// A receiver that sees every state change (tests wait on it).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.link.watch_status()
    }

    /// `confirm_timeout_ms`: the deadline [`publish`](Self::publish) uses.
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.link.config().confirm_timeout_ms)
    }

    /// Publishes `messages` (persistent, mandatory) and waits until the broker
    /// confirmed every one, within `confirm_timeout_ms` from the call.
    ///
    /// # Errors
    /// [`Error`] when any message was not confirmed: nothing about the other
    /// messages may then be assumed (some may be queued: the sender's retry
    /// makes duplicates, never loss; consumers dedupe on `message_id`).
    pub async fn publish(&self, messages: &[Message]) -> Result<(), Error> {
        self.publish_within(messages, self.confirm_timeout()).await
    }

    /// Like [`publish`](Self::publish) with an explicit deadline for all
    /// confirms (the spool's `after_ms` fast-path budget).
    ///
    /// # Errors
    /// As [`publish`](Self::publish): the first message's error that was not
    /// confirmed.
    pub async fn publish_within(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> Result<(), Error> {
        self.publish_each(messages, timeout)
            .await
            .into_iter()
            .collect()
    }

    /// Publishes `messages` to the configured exchange and reports each
    /// one's outcome, in order: `Ok` when the broker confirmed (acked) it
    /// and did not return it. Used by the spool forwarder, which deletes
    /// exactly the confirmed entries and counts a failure against each of
    /// the others.
    ///
    /// The whole call is bounded by `timeout` (waiting for a free channel
    /// included); a message whose confirm did not arrive in time is
    /// [`Error::Timeout`].
    pub async fn publish_each(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> Vec<Result<(), Error>> {
        let exchange = ShortString::from(self.link.config().exchange.as_str());
        // A message AMQP cannot carry fails alone; the others are published.
        let items = messages
            .iter()
            .map(|m| {
                carried(m).map(|(routing_key, properties)| Outgoing {
                    exchange: exchange.clone(),
                    routing_key,
                    properties,
                    body: m.body.clone(),
                })
            })
            .collect();
        self.send_each(items, timeout).await
    }

    /// Publishes each of `items` (`mandatory`) and reports each one's
    /// outcome, in order, as [`publish_each`](Self::publish_each) does; an
    /// `Err` item is not published and keeps its error. The worker hands
    /// messages to its retry and dead-letter queues with it.
    pub(crate) async fn send_each(
        &self,
        items: Vec<Result<Outgoing, Error>>,
        timeout: Duration,
    ) -> Vec<Result<(), Error>> {
        let started = Instant::now();
        let n = items.len();
        let results = match self.publish_grouped(items, started + timeout).await {
            Ok(results) => results,
            Err(e) => vec![Err(e); n],
        };
        let observer = self.link.observer();
        let confirmed = results.iter().filter(|r| r.is_ok()).count();
        if confirmed > 0 {
            observer.confirmed(confirmed as u64);
        }
        match results.iter().find_map(|r| r.as_ref().err()) {
            None => observer.confirm_latency(started.elapsed()),
            Some(e) => observer.failed(e.reason()),
        }
        results
    }

    /// Hands every item to the connection's next publishing group and
    /// waits for their outcomes until `deadline`. `Err` when nothing could
    /// be published.
    async fn publish_grouped(
        &self,
        items: Vec<Result<Outgoing, Error>>,
        deadline: Instant,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let live = self.link.live().ok_or(Error::NotConnected)?;
        if self.link.blocked() {
            return Err(Error::Blocked);
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        let (reply, outcomes) = oneshot::channel();
        live.submit(
            Job {
                items,
                deadline,
                reply,
            },
            self.link.observer(),
        );
        let outcomes = match tokio::time::timeout_at(deadline, outcomes).await {
            Ok(Ok(outcomes)) => outcomes,
            // The group's task ended without an answer (runtime shutdown).
            Ok(Err(_)) => Err(Error::NotConnected),
            Err(_) => Err(Error::Timeout),
        };
        let channel_failed = match &outcomes {
            Err(e) => matches!(e, Error::Channel(_)),
            Ok(results) => results.iter().any(|r| matches!(r, Err(Error::Channel(_)))),
        };
        if channel_failed {
            self.link.check();
        }
        outcomes
    }
}

/// The routing key and properties of `m` as AMQP carries them.
///
/// # Errors
/// [`Error::Uncarriable`] when a value does not fit an AMQP short string
/// (255 bytes); [`crate::envelope`] keeps such values out of messages, so
/// this only guards against a message built elsewhere (an old spool entry).
fn carried(m: &Message) -> Result<(ShortString, BasicProperties), Error> {
    let short = |field: &'static str, v: &str| {
        ShortString::try_new(v).map_err(|_| Error::Uncarriable(field))
    };
    let mut headers = FieldTable::default();
    for (k, v) in &m.headers {
        headers.insert(
            short("header name", k)?,
            AMQPValue::LongString(LongString::from(v.as_str())),
        );
    }
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(short("content_type", &m.content_type)?)
        .with_message_id(short("message_id", &m.message_id)?)
        .with_timestamp(m.received_at.unix_timestamp().max(0) as u64)
        .with_type(short("type", &m.kind)?)
        .with_app_id(ShortString::from(APP_ID))
        .with_headers(headers);
    Ok((short("routing key", &m.routing_key)?, properties))
}
