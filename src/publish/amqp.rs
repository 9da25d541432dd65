//! lapin connection manager and confirm-mode channel pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use backon::BackoffBuilder as _;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Event};
use tokio::sync::{watch, Notify};

use super::Error;
use crate::config::{AmqpConfig, QueueType};
use crate::envelope::{Message, APP_ID};
use crate::telemetry::metrics::Metrics;

/// How long one connection attempt (TCP + AMQP handshake + topology) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest and longest wait between reconnection attempts (jittered).
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Broker connection state, as `/readyz` and the metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Connected, topology declared, channels in confirm mode.
    Connected,
    /// Connected but the broker sent connection.blocked.
    Blocked,
    /// Not connected (starting, reconnecting, or broker away).
    Disconnected,
}

struct Pool {
    connection: Connection,
    channels: Vec<Channel>,
}

struct Inner {
    config: AmqpConfig,
    pool: RwLock<Option<Arc<Pool>>>,
    next_channel: AtomicUsize,
    blocked: AtomicBool,
    /// Woken when a publish saw a dead channel: reconnect now.
    broken: Notify,
    status: watch::Sender<Status>,
    metrics: Arc<Metrics>,
}

/// Handle to the publishing side of the broker connection. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl Publisher {
    /// Starts the connection manager in the background and returns at once:
    /// the gateway serves (answering 503) while the broker is away.
    ///
    /// The manager declares the durable topic exchange and the configured
    /// queues and bindings on every (re)connection, and stops when
    /// `shutdown` turns true.
    pub fn start(
        config: AmqpConfig,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (status, _) = watch::channel(Status::Disconnected);
        let inner = Arc::new(Inner {
            config,
            pool: RwLock::new(None),
            next_channel: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            broken: Notify::new(),
            status,
            metrics,
        });
        tokio::spawn(manage(inner.clone(), shutdown));
        Publisher { inner }
    }

    /// Current broker state.
    pub fn status(&self) -> Status {
        *self.inner.status.borrow()
    }

    /// A receiver that sees every state change (tests wait on it).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// `confirm_timeout_ms`: the deadline [`publish`](Self::publish) uses.
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.config.confirm_timeout_ms)
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
    /// As [`publish`](Self::publish).
    pub async fn publish_within(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let result = self.publish_inner(messages, started + timeout).await;
        match &result {
            Ok(()) => {
                self.inner
                    .metrics
                    .confirm_latency
                    .observe(started.elapsed().as_secs_f64());
                self.inner
                    .metrics
                    .messages_published
                    .inc_by(messages.len() as u64);
            }
            Err(e) => {
                self.inner.metrics.publish_failure(e.reason());
            }
        }
        result
    }

    /// Publishes `messages` and reports each one's outcome, in order: `Ok`
    /// when the broker confirmed it and did not return it. Used by the spool
    /// forwarder, which deletes exactly the confirmed entries and counts a
    /// failure against each of the others.
    ///
    /// The whole call is bounded by `timeout`; a message whose confirm did not
    /// arrive in time is [`Error::Timeout`].
    pub async fn publish_each(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> Vec<Result<(), Error>> {
        match self.publish_within(messages, timeout).await {
            Ok(()) => messages.iter().map(|_| Ok(())).collect(),
            Err(e) => messages.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn publish_inner(&self, messages: &[Message], deadline: Instant) -> Result<(), Error> {
        let pool = self
            .inner
            .pool
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or(Error::NotConnected)?;
        if self.inner.blocked.load(Ordering::Relaxed) {
            return Err(Error::Blocked);
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        // Every basic.publish of the request is written before any confirm
        // is awaited (one flush for an Outbound Message's Notifications).
        let publishes = messages.iter().map(|m| {
            let n = self.inner.next_channel.fetch_add(1, Ordering::Relaxed);
            let channel = &pool.channels[n % pool.channels.len()];
            channel.basic_publish(
                ShortString::from(self.inner.config.exchange.as_str()),
                ShortString::from(m.routing_key.as_str()),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &m.body,
                properties(m),
            )
        });
        let published =
            tokio::time::timeout_at(deadline, futures_util::future::join_all(publishes))
                .await
                .map_err(|_| Error::Timeout)?;
        let mut confirms = Vec::with_capacity(messages.len());
        for p in published {
            match p {
                Err(e) => {
                    self.inner.broken.notify_one();
                    return Err(Error::Channel(e));
                }
                Ok(confirm) => confirms.push(confirm),
            }
        }
        let results = tokio::time::timeout_at(deadline, futures_util::future::join_all(confirms))
            .await
            .map_err(|_| Error::Timeout)?;
        for r in results {
            match r {
                Ok(Confirmation::Ack(None)) => {}
                Ok(Confirmation::Ack(Some(returned))) => {
                    return Err(Error::Returned(returned.reply_text.to_string()))
                }
                Ok(Confirmation::Nack(_)) => return Err(Error::Nack),
                // Channels are put in confirm mode before use: cannot happen,
                // and must not count as durable if it did.
                Ok(Confirmation::NotRequested) => return Err(Error::Nack),
                Err(e) => {
                    self.inner.broken.notify_one();
                    return Err(Error::Channel(e));
                }
            }
        }
        Ok(())
    }
}

fn properties(m: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (k, v) in &m.headers {
        headers.insert(
            ShortString::from(k.as_ref()),
            AMQPValue::LongString(LongString::from(v.as_str())),
        );
    }
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from(m.content_type.as_str()))
        .with_message_id(ShortString::from(m.message_id.as_str()))
        .with_timestamp(m.received_at.unix_timestamp().max(0) as u64)
        .with_type(ShortString::from(m.kind.as_str()))
        .with_app_id(ShortString::from(APP_ID))
        .with_headers(headers)
}

/// The connection manager loop: connect, serve until the connection dies,
/// back off, reconnect. Ends on shutdown, closing the connection.
async fn manage(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = new_backoff();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&inner.config)).await;
        let pool = match attempt {
            Ok(Ok(pool)) => Arc::new(pool),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "broker connection failed");
                wait_backoff(&mut backoff, &mut shutdown).await;
                continue;
            }
            Err(_) => {
                tracing::warn!("broker connection attempt timed out");
                wait_backoff(&mut backoff, &mut shutdown).await;
                continue;
            }
        };
        backoff = new_backoff();
        let mut events = pool.connection.events_listener();
        inner
            .blocked
            .store(pool.connection.status().blocked(), Ordering::Relaxed);
        if let Ok(mut g) = inner.pool.write() {
            *g = Some(pool.clone());
        }
        inner.metrics.broker_connections.inc();
        set_status(&inner);
        tracing::info!("broker connected");

        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Event::ConnectionBlocked(reason)) => {
                        tracing::warn!(%reason, "broker blocked the connection");
                        inner.blocked.store(true, Ordering::Relaxed);
                        set_status(&inner);
                    }
                    Some(Event::ConnectionUnblocked) => {
                        tracing::info!("broker unblocked the connection");
                        inner.blocked.store(false, Ordering::Relaxed);
                        set_status(&inner);
                    }
                    Some(Event::Error(e)) => {
                        tracing::warn!(error = %e, "broker connection error");
                        if !healthy(&pool) { break; }
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = inner.broken.notified() => {
                    if !healthy(&pool) { break; }
                }
                _ = check.tick() => {
                    if !healthy(&pool) { break; }
                }
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { break; }
                }
            }
        }
        if let Ok(mut g) = inner.pool.write() {
            *g = None;
        }
        inner.blocked.store(false, Ordering::Relaxed);
        set_status(&inner);
        // Best effort: a dead connection's close fails fast or times out.
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            pool.connection
                .close(200, ShortString::from("hookgate reconnecting")),
        )
        .await;
        if !*shutdown.borrow() {
            tracing::warn!("broker connection lost; reconnecting");
        }
    }
    if let Ok(mut g) = inner.pool.write() {
        *g = None;
    }
    set_status(&inner);
}

fn healthy(pool: &Pool) -> bool {
    pool.connection.status().connected() && pool.channels.iter().all(|c| c.status().connected())
}

fn set_status(inner: &Inner) {
    let connected = inner.pool.read().map(|g| g.is_some()).unwrap_or(false);
    let status = match (connected, inner.blocked.load(Ordering::Relaxed)) {
        (false, _) => Status::Disconnected,
        (true, true) => Status::Blocked,
        (true, false) => Status::Connected,
    };
    inner.metrics.set_broker_status(status);
    inner.status.send_replace(status);
}

fn new_backoff() -> backon::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .with_jitter()
        .without_max_times()
        .build()
}

async fn wait_backoff(
    backoff: &mut backon::ExponentialBackoff,
    shutdown: &mut watch::Receiver<bool>,
) {
    let delay = backoff.next().unwrap_or(BACKOFF_MAX);
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.changed() => {}
    }
}

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("invalid AMQP URI: {0}")]
    Uri(String),
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

/// One connection attempt: connect, declare topology, open confirm channels.
async fn connect(config: &AmqpConfig) -> Result<Pool, ConnectError> {
    // Validated at config load; kept as an error rather than a panic.
    let mut uri: lapin::uri::AMQPUri = config.url.parse().map_err(ConnectError::Uri)?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_s);
    }
    let props =
        ConnectionProperties::default().with_connection_name(LongString::from("hookgate gateway"));
    let connection = Connection::connect_uri(uri, props).await?;

    let setup = connection.create_channel().await?;
    setup
        .exchange_declare(
            ShortString::from(config.exchange.as_str()),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    for q in &config.queues {
        let mut args = FieldTable::default();
        let kind = match q.kind {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        };
        args.insert(
            ShortString::from("x-queue-type"),
            AMQPValue::LongString(LongString::from(kind)),
        );
        setup
            .queue_declare(
                ShortString::from(q.name.as_str()),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await?;
        for b in &q.bindings {
            setup
                .queue_bind(
                    ShortString::from(q.name.as_str()),
                    ShortString::from(config.exchange.as_str()),
                    ShortString::from(b.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    let _ = setup.close(200, ShortString::from("setup done")).await;

    let mut channels = Vec::with_capacity(config.channels);
    for _ in 0..config.channels {
        let ch = connection.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        channels.push(ch);
    }
    Ok(Pool {
        connection,
        channels,
    })
}
