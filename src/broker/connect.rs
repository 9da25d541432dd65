//! The one AMQP connection: open (URI, heartbeat, name), declare the
//! caller's topology, open the confirm channels, then keep it: follow
//! `connection.blocked`, notice a dead connection, reconnect with jittered
//! exponential backoff.
//!
//! ```text
//! start -> attempt: connect + topology + confirm channels (10 s)
//!   failed                       -> back off (0.2 s .. 5 s), attempt again
//!   ok                           -> Connected (backoff reset)
//!     connection.blocked         -> Blocked, until connection.unblocked
//!     error event, closed, dead  -> Disconnected, attempt again at once
//!     given up by its user       -> Disconnected, back off, attempt again
//!     shutdown                   -> closed, manager ends
//! ```
//! A connection given up by its user (the worker's consumer failed on it)
//! does not reset the backoff at the next success: a consumer that keeps
//! failing on a healthy broker is retried at the backoff's pace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt as _;
use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, Event};
use tokio::sync::{watch, Notify};

use super::group::{Groups, Job};
use super::pool::{Owner, Pool};
use super::{Observe, Status};
use crate::config::AmqpConfig;

/// How long one connection attempt (TCP + AMQP handshake + topology) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest and longest wait between reconnection attempts (jittered).
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Checked at config load; the parser's message can quote the URL,
    /// password included, so none is kept.
    #[error("amqp.url is not an AMQP URI")]
    Uri,
    /// No connection (with its topology declared) within the attempt's
    /// deadline.
    #[error("no broker connection within {0:?}")]
    Timeout(Duration),
    /// The broker refused, or the connection failed during the attempt.
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
}

/// What every (re)connection declares before it is handed out.
pub(crate) trait Topology: Send + Sync + 'static {
    /// Declares exchanges, queues and bindings on `connection`.
    fn declare<'a>(
        &'a self,
        connection: &'a Connection,
        config: &'a AmqpConfig,
    ) -> BoxFuture<'a, Result<Declared, lapin::Error>>;
}

/// Declares nothing (the `dlq` commands use what the worker declared).
impl Topology for () {
    fn declare<'a>(
        &'a self,
        _: &'a Connection,
        _: &'a AmqpConfig,
    ) -> BoxFuture<'a, Result<Declared, lapin::Error>> {
        Box::pin(async { Ok(Declared::default()) })
    }
}

/// What a [`Topology`] declared that the connection's users need.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declared {
    /// The queue behind the exchange's alternate exchange, when the exchange
    /// has one: unroutable messages are kept there (not returned), and its
    /// depth is read every second.
    pub(crate) unroutable: Option<String>,
}

/// One connection, its topology declared, with its publishing channels.
pub(crate) struct Live {
    pub(crate) connection: Connection,
    pub(super) declared: Declared,
    pub(super) pool: Pool,
    /// The publishing groups on `pool`'s channels.
    groups: Arc<Groups>,
    /// Its user found it unusable ([`Link::give_up`]).
    given_up: AtomicBool,
}

impl Live {
    /// Queues `job` for this connection's next publishing group; its
    /// outcomes arrive on the job's `reply`.
    pub(super) fn submit(self: &Arc<Self>, job: Job, observer: &Arc<dyn Observe>) {
        self.groups.submit(self.clone(), observer, job);
    }
}

impl Owner for Live {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn connection(&self) -> &Connection {
        &self.connection
    }
}

struct Shared {
    config: AmqpConfig,
    /// The connection name the broker shows (`hookgate gateway`, ...).
    name: &'static str,
    topology: Arc<dyn Topology>,
    observer: Arc<dyn Observe>,
    live: RwLock<Option<Arc<Live>>>,
    blocked: AtomicBool,
    /// Woken when a user saw a dead channel: check the connection now.
    broken: Notify,
    status: watch::Sender<Status>,
}

/// Handle to one managed broker connection. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Link {
    shared: Arc<Shared>,
}

impl Link {
    /// Starts the connection manager in the background and returns at once;
    /// it declares `topology` on every (re)connection and stops, closing the
    /// connection, when `shutdown` turns true or its sender is dropped.
    pub(crate) fn start(
        config: AmqpConfig,
        name: &'static str,
        topology: Arc<dyn Topology>,
        observer: Arc<dyn Observe>,
        shutdown: watch::Receiver<bool>,
    ) -> Link {
        let link = Link::new(config, name, topology, observer);
        tokio::spawn(manage(link.shared.clone(), shutdown));
        link
    }

    /// One connection attempt, for a command that runs once: no manager,
    /// no reconnection; [`close`](Self::close) it when done.
    ///
    /// # Errors
    /// [`ConnectError`] when the attempt failed or took over 10 s.
    pub(crate) async fn open(
        config: AmqpConfig,
        name: &'static str,
        topology: Arc<dyn Topology>,
    ) -> Result<Link, ConnectError> {
        let link = Link::new(config, name, topology, Arc::new(()));
        let live = tokio::time::timeout(CONNECT_TIMEOUT, attempt(&link.shared))
            .await
            .map_err(|_| ConnectError::Timeout(CONNECT_TIMEOUT))??;
        install(&link.shared, Arc::new(live));
        Ok(link)
    }

    fn new(
        config: AmqpConfig,
        name: &'static str,
        topology: Arc<dyn Topology>,
        observer: Arc<dyn Observe>,
    ) -> Link {
        let (status, _) = watch::channel(Status::Disconnected);
        Link {
            shared: Arc::new(Shared {
                config,
                name,
                topology,
                observer,
                live: RwLock::new(None),
                blocked: AtomicBool::new(false),
                broken: Notify::new(),
                status,
            }),
        }
    }

    /// The connection now, if there is one (and it was not given up).
    pub(crate) fn live(&self) -> Option<Arc<Live>> {
        self.shared
            .live
            .read()
            .ok()
            .and_then(|g| g.clone())
            .filter(|l| !l.given_up.load(Ordering::Relaxed))
    }

    /// Whether the broker blocks the connection now.
    pub(crate) fn blocked(&self) -> bool {
        self.shared.blocked.load(Ordering::Relaxed)
    }

    /// A channel failed: the manager checks the connection at once.
    pub(crate) fn check(&self) {
        self.shared.broken.notify_one();
    }

    /// Its user cannot go on with `live` (the worker's consumer failed):
    /// the manager closes it and connects again after the next backoff
    /// delay. Nothing happens when `live` is no longer the connection.
    pub(crate) fn give_up(&self, live: &Live) {
        live.given_up.store(true, Ordering::Relaxed);
        self.check();
    }

    /// Current state.
    pub(crate) fn status(&self) -> Status {
        *self.shared.status.borrow()
    }

    /// A receiver that sees every state change.
    pub(crate) fn watch_status(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// The `[amqp]` section the connection was made with.
    pub(crate) fn config(&self) -> &AmqpConfig {
        &self.shared.config
    }

    /// Where publishes are reported.
    pub(crate) fn observer(&self) -> &Arc<dyn Observe> {
        &self.shared.observer
    }

    /// Closes the connection now, with `reason`; a managed link must have
    /// been told to shut down first or it connects again.
    pub(crate) async fn close(&self, reason: &str) {
        let live = self.shared.live.write().ok().and_then(|mut g| g.take());
        set_status(&self.shared);
        if let Some(live) = live {
            close(&live, reason).await;
        }
    }
}

/// The one place the crate opens an AMQP connection.
async fn open(config: &AmqpConfig, name: &str) -> Result<Connection, ConnectError> {
    // Validated at config load; kept as an error rather than a panic.
    let mut uri: lapin::uri::AMQPUri = config.url.parse().map_err(|_| ConnectError::Uri)?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_s);
    }
    let props = ConnectionProperties::default().with_connection_name(LongString::from(name));
    Ok(Connection::connect_uri(uri, props).await?)
}

/// One connection attempt: connect, declare the topology, open the confirm
/// channels.
async fn attempt(shared: &Shared) -> Result<Live, ConnectError> {
    let connection = open(&shared.config, shared.name).await?;
    let declared = shared.topology.declare(&connection, &shared.config).await?;
    let pool = Pool::open(&connection, &shared.config).await?;
    Ok(Live {
        connection,
        declared,
        pool,
        groups: Arc::new(Groups::new(shared.config.channels)),
        given_up: AtomicBool::new(false),
    })
}

/// Makes `live` the connection users get.
fn install(shared: &Shared, live: Arc<Live>) {
    shared
        .blocked
        .store(live.connection.status().blocked(), Ordering::Relaxed);
    if let Ok(mut g) = shared.live.write() {
        *g = Some(live);
    }
    shared.observer.connected();
    set_status(shared);
}

/// Whether the manager should stop: told to, or nobody can tell it anymore.
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// How a connection's service ended.
#[derive(PartialEq, Eq)]
enum End {
    /// Shutdown asked for.
    Shutdown,
    /// The connection died.
    Lost,
    /// Its user gave it up.
    GivenUp,
}

/// The connection manager loop: connect, serve until the connection dies,
/// back off, reconnect. Ends on shutdown, closing the connection.
async fn manage(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
    // Whether the last connection ended by itself: the next success then
    // resets the backoff.
    let mut calm = true;
    while !stopping(&shutdown) {
        let live = match tokio::time::timeout(CONNECT_TIMEOUT, attempt(&shared)).await {
            Ok(Ok(live)) => Arc::new(live),
            Ok(Err(e)) => {
                tracing::warn!(connection = shared.name, error = %e, "broker connection failed");
                wait_backoff(&mut backoff, &mut shutdown).await;
                continue;
            }
            Err(_) => {
                tracing::warn!(
                    connection = shared.name,
                    "broker connection attempt timed out"
                );
                wait_backoff(&mut backoff, &mut shutdown).await;
                continue;
            }
        };
        if calm {
            backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
        }
        install(&shared, live.clone());
        tracing::info!(connection = shared.name, "broker connected");
        let end = serve(&shared, &live, &mut shutdown).await;
        if let Ok(mut g) = shared.live.write() {
            *g = None;
        }
        shared.blocked.store(false, Ordering::Relaxed);
        set_status(&shared);
        let reason = match end {
            End::Shutdown => "hookgate shutdown",
            End::Lost | End::GivenUp => "hookgate reconnecting",
        };
        close(&live, reason).await;
        calm = end != End::GivenUp;
        match end {
            End::Shutdown => {}
            End::Lost => tracing::warn!(
                connection = shared.name,
                "broker connection lost; reconnecting"
            ),
            End::GivenUp => {
                tracing::warn!(
                    connection = shared.name,
                    "broker connection given up; reconnecting"
                );
                wait_backoff(&mut backoff, &mut shutdown).await;
            }
        }
    }
    if let Ok(mut g) = shared.live.write() {
        *g = None;
    }
    set_status(&shared);
}

/// Follows one connection until it ends: blocked/unblocked events, a health
/// check every second (and whenever a user saw a dead channel), the
/// unroutable queue's depth.
async fn serve(shared: &Shared, live: &Live, shutdown: &mut watch::Receiver<bool>) -> End {
    let mut events = live.connection.events_listener();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut probe = None;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Event::ConnectionBlocked(reason)) => {
                    tracing::warn!(%reason, "broker blocked the connection");
                    shared.blocked.store(true, Ordering::Relaxed);
                    set_status(shared);
                }
                Some(Event::ConnectionUnblocked) => {
                    tracing::info!("broker unblocked the connection");
                    shared.blocked.store(false, Ordering::Relaxed);
                    set_status(shared);
                }
                Some(Event::Error(e)) => {
                    // A connection-level error: the connection is gone
                    // (its status may still read connected for a moment).
                    tracing::warn!(error = %e, "broker connection error");
                    return End::Lost;
                }
                Some(_) => {}
                None => return End::Lost,
            },
            _ = shared.broken.notified() => {
                if let Some(end) = unhealthy(live) { return end; }
            }
            _ = check.tick() => {
                if let Some(end) = unhealthy(live) { return end; }
                // Bounded: a connection dying under the probe must not
                // stall this loop (its channel open would never answer).
                let probed = tokio::time::timeout(
                    Duration::from_millis(500),
                    probe_unroutable(shared, live, &mut probe),
                );
                if probed.await.is_err() {
                    probe = None;
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() { return End::Shutdown; }
            }
        }
    }
}

/// Why the connection must go, if it must. A closed channel is dropped from
/// the pool at its next lease; only the connection decides.
fn unhealthy(live: &Live) -> Option<End> {
    if !live.connection.status().connected() {
        Some(End::Lost)
    } else if live.given_up.load(Ordering::Relaxed) {
        Some(End::GivenUp)
    } else {
        None
    }
}

/// Best effort: a dead connection's close fails fast or times out.
async fn close(live: &Live, reason: &str) {
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        live.connection.close(200, ShortString::from(reason)),
    )
    .await;
}

/// Reads the unroutable queue's depth into `hookgate_unroutable_messages`
/// (a passive declare on a channel of its own, reopened when closed).
async fn probe_unroutable(shared: &Shared, live: &Live, probe: &mut Option<Channel>) {
    let Some(queue) = live.declared.unroutable.as_deref() else {
        return;
    };
    if !probe.as_ref().is_some_and(|c| c.status().connected()) {
        *probe = live.connection.create_channel().await.ok();
    }
    let Some(channel) = probe.as_ref() else {
        return;
    };
    let declared = channel
        .queue_declare(
            ShortString::from(queue),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    if let Ok(q) = declared {
        shared.observer.unroutable(q.message_count());
    }
}

fn set_status(shared: &Shared) {
    let connected = shared.live.read().map(|g| g.is_some()).unwrap_or(false);
    let status = match (connected, shared.blocked.load(Ordering::Relaxed)) {
        (false, _) => Status::Disconnected,
        (true, true) => Status::Blocked,
        (true, false) => Status::Connected,
    };
    shared.observer.status(status);
    shared.status.send_replace(status);
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
