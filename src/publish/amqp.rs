//! lapin connection manager and confirm-mode channel pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Event,
    PublisherConfirm,
};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

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

/// One connection and its publishing channels.
///
/// Channels are leased: a request takes one channel for all its publishes
/// and confirms and gives it back when every confirm has resolved. lapin
/// attaches a `basic.return` to whichever confirm it resolves next on the
/// channel (and RabbitMQ coalesces confirms with `multiple`), so on a shared
/// channel a return could land on another request's confirm; on a leased
/// channel every return belongs to the lease's own messages, and is matched
/// to one of them by `message_id` and routing key.
struct Pool {
    connection: Connection,
    /// Channels in confirm mode, not leased now.
    idle: Mutex<Vec<Channel>>,
    /// How long a dropped lease's confirms are awaited in the background
    /// (`amqp.confirm_timeout_ms`) before its channel is closed.
    late_confirm_limit: Duration,
    /// Channels leased now (`hookgate_publish_channels_leased`).
    leased: Gauge,
    /// One permit per channel that may be leased (`amqp.max_channels`).
    leases: Arc<Semaphore>,
    /// Whether the exchange has the alternate exchange (false when it existed
    /// without one: unroutable messages are then returned and refused).
    alternate: bool,
}

impl Pool {
    /// Takes a channel for one publish, waiting for a free one until
    /// `deadline`; opens a new channel when none is idle.
    async fn lease(self: &Arc<Self>, deadline: tokio::time::Instant) -> Result<Lease, Error> {
        let permit = tokio::time::timeout_at(deadline, self.leases.clone().acquire_owned())
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(|_| Error::NotConnected)?;
        let idle = self.idle.lock().ok().and_then(|mut idle| {
            while let Some(ch) = idle.pop() {
                if ch.status().connected() {
                    return Some(ch);
                }
            }
            None
        });
        let channel = match idle {
            Some(ch) => ch,
            None => tokio::time::timeout_at(deadline, open_confirm_channel(&self.connection))
                .await
                .map_err(|_| Error::Timeout)?
                .map_err(Error::Channel)?,
        };
        Ok(Lease {
            pool: self.clone(),
            channel: Some(channel),
            confirms: Vec::new(),
            permit: Some(Slot::new(permit, self.leased.clone())),
            published: 0,
            settled: true,
        })
    }
}

/// A channel leased to one publish. Dropped with confirms outstanding (the
/// caller's deadline passed, or its request was cancelled), it hands them to
/// a background task that awaits them for up to `amqp.confirm_timeout_ms`
/// before the channel is reused, or closes the channel after that: lapin
/// keeps an unresolved, dropped confirm until its channel closes, so a slow
/// broker cannot grow memory past `max_channels` leases.
struct Lease {
    pool: Arc<Pool>,
    channel: Option<Channel>,
    /// The publishes' confirms, in publish order.
    confirms: Vec<PublisherConfirm>,
    /// Released when the channel is back in the pool (or closed).
    permit: Option<Slot>,
    /// Publishes started on the channel in this lease.
    published: usize,
    /// Every publish of the lease was written and its confirm resolved (or
    /// nothing was published): the channel may be reused at once.
    settled: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(channel) = self.channel.take() else {
            return;
        };
        let confirms = std::mem::take(&mut self.confirms);
        let pool = self.pool.clone();
        if self.settled {
            give_back(&pool, channel);
            return;
        }
        let permit = self.permit.take();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // A publish whose write was cut short (no confirm future came back)
        // may still be acked or returned on this channel: never reuse it.
        let whole = confirms.len() == self.published;
        rt.spawn(async move {
            let _permit = permit;
            let done = tokio::time::timeout(
                pool.late_confirm_limit,
                futures_util::future::join_all(confirms),
            )
            .await
            .is_ok();
            if done && whole {
                give_back(&pool, channel);
            } else {
                // Closing the channel rejects its pending confirms in lapin.
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    channel.close(200, ShortString::from("confirms overdue")),
                )
                .await;
            }
        });
    }
}

/// Returns a healthy channel to the idle list.
fn give_back(pool: &Pool, channel: Channel) {
    if !channel.status().connected() {
        return;
    }
    if let Ok(mut idle) = pool.idle.lock() {
        idle.push(channel);
    }
}

/// A lease's permit, counted in the leased-channels gauge while held.
struct Slot {
    _permit: OwnedSemaphorePermit,
    leased: Gauge,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, leased: Gauge) -> Self {
        leased.inc();
        Slot {
            _permit: permit,
            leased,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.leased.dec();
    }
}

struct Inner {
    config: AmqpConfig,
    pool: RwLock<Option<Arc<Pool>>>,
    blocked: AtomicBool,
    /// Woken when a publish saw a dead channel: check the connection now.
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
    /// The manager declares the durable topic exchange (with its alternate
    /// exchange and `unroutable` queue) and the configured queues and
    /// bindings on every (re)connection, and stops when `shutdown` turns
    /// true.
    pub fn start(
        config: AmqpConfig,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (status, _) = watch::channel(Status::Disconnected);
        let inner = Arc::new(Inner {
            config,
            pool: RwLock::new(None),
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

    /// Whether the current connection's exchange has the alternate exchange
    /// that keeps unroutable messages (false while disconnected).
    pub fn keeps_unroutable(&self) -> bool {
        self.inner
            .pool
            .read()
            .ok()
            .and_then(|g| g.as_ref().map(|p| p.alternate))
            .unwrap_or(false)
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

    /// Publishes `messages` and reports each one's outcome, in order: `Ok`
    /// when the broker confirmed (acked) it and did not return it. Used by
    /// the spool forwarder, which deletes exactly the confirmed entries and
    /// counts a failure against each of the others.
    ///
    /// The whole call is bounded by `timeout` (waiting for a free channel
    /// included); a message whose confirm did not arrive in time is
    /// [`Error::Timeout`].
    pub async fn publish_each(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> Vec<Result<(), Error>> {
        let started = Instant::now();
        let results = match self.publish_leased(messages, started + timeout).await {
            Ok(results) => results,
            Err(e) => vec![Err(e); messages.len()],
        };
        let confirmed = results.iter().filter(|r| r.is_ok()).count();
        if confirmed > 0 {
            self.inner
                .metrics
                .messages_published
                .inc_by(confirmed as u64);
        }
        match results.iter().find_map(|r| r.as_ref().err()) {
            None => self
                .inner
                .metrics
                .confirm_latency
                .observe(started.elapsed().as_secs_f64()),
            Some(e) => self.inner.metrics.publish_failure(e.reason()),
        }
        results
    }

    /// Leases a channel, publishes every message on it, then awaits all
    /// confirms under `deadline`. `Err` when nothing could be published.
    async fn publish_leased(
        &self,
        messages: &[Message],
        deadline: Instant,
    ) -> Result<Vec<Result<(), Error>>, Error> {
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
        let mut lease = pool.lease(deadline).await?;
        let Some(channel) = lease.channel.clone() else {
            return Err(Error::NotConnected);
        };
        // Every basic.publish of the request is written before any confirm
        // is awaited (one flush for an Outbound Message's Notifications).
        let exchange = ShortString::from(self.inner.config.exchange.as_str());
        // A message AMQP cannot carry fails alone; the others are published.
        let mut results: Vec<Result<(), Error>> = Vec::with_capacity(messages.len());
        let mut sent = Vec::with_capacity(messages.len());
        let mut publishes = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            match carried(m) {
                Ok((routing_key, properties)) => {
                    results.push(Ok(()));
                    sent.push(i);
                    publishes.push(channel.basic_publish(
                        exchange.clone(),
                        routing_key,
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        &m.body,
                        properties,
                    ));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        lease.published = publishes.len();
        lease.settled = publishes.is_empty();
        let published =
            tokio::time::timeout_at(deadline, futures_util::future::join_all(publishes))
                .await
                .map_err(|_| Error::Timeout)?;
        for p in published {
            match p {
                Ok(confirm) => lease.confirms.push(confirm),
                Err(e) => {
                    self.inner.broken.notify_one();
                    return Err(Error::Channel(e));
                }
            }
        }
        let confirmations = tokio::time::timeout_at(
            deadline,
            futures_util::future::join_all(lease.confirms.iter_mut()),
        )
        .await
        .map_err(|_| Error::Timeout)?;
        // Every confirm resolved: the channel may go back to the pool.
        lease.confirms.clear();
        lease.settled = true;
        let sent_messages: Vec<&Message> = sent.iter().map(|&i| &messages[i]).collect();
        for (i, r) in sent.iter().zip(attribute(&sent_messages, confirmations)) {
            results[*i] = r;
        }
        if results.iter().any(|r| matches!(r, Err(Error::Channel(_)))) {
            self.inner.broken.notify_one();
        }
        Ok(results)
    }
}

/// Each message's outcome from its own confirm plus every `basic.return`
/// seen on the lease, matched to its message by `message_id` and routing key
/// (lapin may attach a return to any confirm of a coalesced ack). A return
/// that matches no message fails them all: nothing may be answered 2xx on a
/// guess.
fn attribute(
    messages: &[&Message],
    confirmations: Vec<lapin::Result<Confirmation>>,
) -> Vec<Result<(), Error>> {
    let mut returned = Vec::new();
    let mut results: Vec<Result<(), Error>> = confirmations
        .into_iter()
        .map(|c| match c {
            Ok(Confirmation::Ack(r)) => {
                returned.extend(r);
                Ok(())
            }
            Ok(Confirmation::Nack(r)) => {
                returned.extend(r);
                Err(Error::Nack)
            }
            // Channels are put in confirm mode before use: cannot happen,
            // and must not count as durable if it did.
            Ok(Confirmation::NotRequested) => Err(Error::Nack),
            Err(e) => Err(Error::Channel(e)),
        })
        .collect();
    for r in returned {
        let text = r.reply_text.to_string();
        let id = r
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(ShortString::as_str);
        let key = r.delivery.routing_key.as_str();
        let mut matched = false;
        for (m, result) in messages.iter().zip(results.iter_mut()) {
            if id == Some(m.message_id.as_str()) && key == m.routing_key {
                *result = Err(Error::Returned(text.clone()));
                matched = true;
            }
        }
        if !matched {
            for result in results.iter_mut().filter(|r| r.is_ok()) {
                *result = Err(Error::Returned(text.clone()));
            }
        }
    }
    results
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

/// The connection manager loop: connect, serve until the connection dies,
/// back off, reconnect. Ends on shutdown, closing the connection.
async fn manage(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            connect(&inner.config, inner.metrics.publish_channels_leased.clone()),
        )
        .await;
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
        backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
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
        let mut probe = None;
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
                        // A connection-level error: the connection is gone
                        // (its status may still read connected for a moment).
                        tracing::warn!(error = %e, "broker connection error");
                        break;
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = inner.broken.notified() => {
                    if !healthy(&pool) { break; }
                }
                _ = check.tick() => {
                    if !healthy(&pool) { break; }
                    // Bounded: a connection dying under the probe must not
                    // stall this loop (its channel open would never answer).
                    let probed = tokio::time::timeout(
                        Duration::from_millis(500),
                        probe_unroutable(&inner, &pool, &mut probe),
                    );
                    if probed.await.is_err() {
                        probe = None;
                    }
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

/// Reads the unroutable queue's depth into `hookgate_unroutable_messages`
/// (a passive declare on a channel of its own, reopened when closed).
async fn probe_unroutable(inner: &Inner, pool: &Pool, probe: &mut Option<Channel>) {
    let Some(queue) = inner.config.unroutable().filter(|_| pool.alternate) else {
        return;
    };
    if !probe.as_ref().is_some_and(|c| c.status().connected()) {
        *probe = pool.connection.create_channel().await.ok();
    }
    let Some(channel) = probe.as_ref() else {
        return;
    };
    let declared = channel
        .queue_declare(
            ShortString::from(queue.as_str()),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    if let Ok(q) = declared {
        inner
            .metrics
            .unroutable_messages
            .set(i64::from(q.message_count()));
    }
}

/// A closed channel is dropped from the pool at its next lease; only the
/// connection decides whether to reconnect.
fn healthy(pool: &Pool) -> bool {
    pool.connection.status().connected()
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
    /// Checked at config load; the parser's message can quote the URL,
    /// password included, so none is kept.
    #[error("amqp.url is not an AMQP URI")]
    Uri,
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

/// One connection attempt: connect, declare topology, open confirm channels.
async fn connect(config: &AmqpConfig, leased: Gauge) -> Result<Pool, ConnectError> {
    // Validated at config load; kept as an error rather than a panic.
    let mut uri: lapin::uri::AMQPUri = config.url.parse().map_err(|_| ConnectError::Uri)?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_s);
    }
    let props =
        ConnectionProperties::default().with_connection_name(LongString::from("hookgate gateway"));
    let connection = Connection::connect_uri(uri, props).await?;
    let alternate = declare_topology(&connection, config).await?;
    let mut idle = Vec::with_capacity(config.max_channels);
    for _ in 0..config.channels {
        idle.push(open_confirm_channel(&connection).await?);
    }
    Ok(Pool {
        connection,
        idle: Mutex::new(idle),
        leases: Arc::new(Semaphore::new(config.max_channels)),
        late_confirm_limit: Duration::from_millis(config.confirm_timeout_ms),
        leased,
        alternate,
    })
}

/// A new channel in confirm mode.
async fn open_confirm_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let ch = connection.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// The exchange's arguments: `alternate-exchange` when an unroutable queue
/// is configured. Whoever else declares the exchange (a consumer, a test)
/// must pass the same arguments, or RabbitMQ refuses the declaration.
pub fn exchange_arguments(config: &AmqpConfig) -> FieldTable {
    let mut args = FieldTable::default();
    if let Some(unroutable) = config.unroutable() {
        args.insert(
            ShortString::from("alternate-exchange"),
            AMQPValue::LongString(LongString::from(unroutable.as_str())),
        );
    }
    args
}

fn queue_arguments(kind: QueueType) -> FieldTable {
    let mut args = FieldTable::default();
    let kind = match kind {
        QueueType::Quorum => "quorum",
        QueueType::Classic => "classic",
    };
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from(kind)),
    );
    args
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the alternate exchange and its queue, the topic exchange, the
/// configured queues and their bindings. Returns whether the exchange has
/// the alternate exchange: an exchange that already exists with other
/// arguments (made before hookgate declared one) keeps them, with an error
/// logged that says how to add it (a policy), and unroutable messages are
/// then refused (503) instead of kept.
async fn declare_topology(
    connection: &Connection,
    config: &AmqpConfig,
) -> Result<bool, lapin::Error> {
    let setup = connection.create_channel().await?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    if let Some(unroutable) = config.unroutable() {
        setup
            .exchange_declare(
                ShortString::from(unroutable.as_str()),
                lapin::ExchangeKind::Fanout,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
        setup
            .queue_declare(
                ShortString::from(unroutable.as_str()),
                durable_queue(),
                queue_arguments(QueueType::default()),
            )
            .await?;
        setup
            .queue_bind(
                ShortString::from(unroutable.as_str()),
                ShortString::from(unroutable.as_str()),
                ShortString::from(""),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let exchange = ShortString::from(config.exchange.as_str());
    let declared = setup
        .exchange_declare(
            exchange.clone(),
            lapin::ExchangeKind::Topic,
            durable_exchange,
            exchange_arguments(config),
        )
        .await;
    let (setup, alternate) = match declared {
        Ok(()) => (setup, config.unroutable().is_some()),
        Err(e) if is_precondition_failed(&e) => {
            tracing::error!(
                exchange = %config.exchange,
                "the exchange exists with other arguments (no alternate-exchange): unroutable messages will be refused with 503; add a policy with \"alternate-exchange\" or delete the exchange"
            );
            // The refused declaration closed the channel: check the
            // exchange exists on a new one.
            let setup = connection.create_channel().await?;
            setup
                .exchange_declare(
                    exchange,
                    lapin::ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..durable_exchange
                    },
                    FieldTable::default(),
                )
                .await?;
            (setup, false)
        }
        Err(e) => return Err(e),
    };
    for q in &config.queues {
        setup
            .queue_declare(
                ShortString::from(q.name.as_str()),
                durable_queue(),
                queue_arguments(q.kind),
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
    Ok(alternate)
}

/// RabbitMQ's 406 PRECONDITION_FAILED (a redeclaration with other
/// arguments).
fn is_precondition_failed(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 406
    )
}
