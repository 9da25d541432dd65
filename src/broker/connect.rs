//! The one AMQP connection: open (URI, heartbeat, name) to one node of
//! `amqp.urls` (`super::nodes`: round-robin from a random start), declare
//! the caller's topology, open the confirm channels, then keep it: follow
//! `connection.blocked`, notice a dead connection, reconnect to the next
//! node, with jittered exponential backoff between full rounds.
//!
//! ```text
//! start -> attempt on the current node: connect + topology + channels (10 s)
//!   failed                       -> next node; after a full round of
//!                                   failures back off (0.2 s .. 5 s)
//!   ok                           -> Connected (backoff reset)
//!     connection.blocked         -> Blocked, until connection.unblocked
//!     error event, closed, dead  -> Disconnected, next node at once
//!     given up by its user       -> Disconnected, back off, next node
//!     16 nacks before an ack     -> Disconnected, back off, next node
//!       (several nodes only)
//!     shutdown                   -> closed, manager ends
//! ```
//! A connection given up by its user (the worker's consumer failed on it)
//! does not reset the backoff at the next success: a consumer that keeps
//! failing on a healthy broker is retried at the backoff's pace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::types::LongString;
use lapin::{Connection, ConnectionProperties, Event};
use tokio::sync::{watch, Notify};

use super::group::{Groups, Job};
use super::nodes::{NackStreak, Nodes, NACK_STREAK};
use super::pool::{close, Owner, Pool};
use super::topology::probe_unroutable;
pub(crate) use super::topology::{Declared, Topology};
use super::{Error, Observe, Status};
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
    #[error("an amqp.url(s) entry is not an AMQP URI")]
    Uri,
    /// No connection (with its topology declared) within the attempt's
    /// deadline.
    #[error("no broker connection within {0:?}")]
    Timeout(Duration),
    /// The broker refused, or the connection failed during the attempt.
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
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
    /// Nacks before the first ack; with `several` nodes, a streak moves on.
    streak: NackStreak,
    several: bool,
    /// [`NACK_STREAK`] nacks in a row: the manager closes it.
    nacked: AtomicBool,
    /// The manager's wake-up ([`Link::check`]).
    broken: Arc<Notify>,
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

    fn confirmed(&self, outcome: &Result<(), Error>) {
        if !self.several {
            return;
        }
        let tripped = match outcome {
            Ok(()) => self.streak.record(true),
            Err(Error::Nack) => self.streak.record(false),
            Err(_) => false,
        };
        if tripped {
            self.nacked.store(true, Ordering::Relaxed);
            self.broken.notify_one();
        }
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
    broken: Arc<Notify>,
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
        let mut nodes = Nodes::shuffled(&link.shared.config);
        let mut last = ConnectError::Uri;
        for _ in 0..nodes.len() {
            let (_, url) = nodes.current();
            match tokio::time::timeout(CONNECT_TIMEOUT, attempt(&link.shared, url)).await {
                Ok(Ok(live)) => {
                    install(&link.shared, Arc::new(live));
                    return Ok(link);
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = ConnectError::Timeout(CONNECT_TIMEOUT),
            }
            nodes.failed();
        }
        Err(last)
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
                broken: Arc::new(Notify::new()),
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
            close(&live.connection, &live.pool, None, reason).await;
        }
    }
}

/// The one place the crate opens an AMQP connection, to the node at `url`.
async fn open(config: &AmqpConfig, url: &str, name: &str) -> Result<Connection, ConnectError> {
    // Validated at config load; kept as an error rather than a panic.
    let mut uri: lapin::uri::AMQPUri = url.parse().map_err(|_| ConnectError::Uri)?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_s);
    }
    let props = ConnectionProperties::default().with_connection_name(LongString::from(name));
    Ok(Connection::connect_uri(uri, props).await?)
}

/// One connection attempt on the node at `url`: connect, declare the
/// topology, open the confirm channels.
async fn attempt(shared: &Shared, url: &str) -> Result<Live, ConnectError> {
    let connection = open(&shared.config, url, shared.name).await?;
    let declared = shared.topology.declare(&connection, &shared.config).await?;
    let pool = Pool::open(&connection, &shared.config).await?;
    Ok(Live {
        connection,
        declared,
        pool,
        groups: Arc::new(Groups::new(shared.config.channels)),
        given_up: AtomicBool::new(false),
        streak: NackStreak::default(),
        several: shared.config.nodes().len() > 1,
        nacked: AtomicBool::new(false),
        broken: shared.broken.clone(),
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
    /// Its publishes were nacked [`NACK_STREAK`] times in a row.
    Nacked,
}

/// The connection manager loop: connect to a node, serve until the
/// connection dies, move to the next node (backing off as `super::nodes`
/// says), reconnect. Ends on shutdown, closing the connection.
async fn manage(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
    let mut nodes = Nodes::shuffled(&shared.config);
    // Whether the last connection ended by itself: the next success then
    // resets the backoff.
    let mut calm = true;
    while !stopping(&shutdown) {
        let Some(live) = connect(&shared, &mut nodes, &mut backoff, &mut shutdown).await else {
            continue;
        };
        if calm {
            backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
        }
        let mut probe = None;
        let end = serve(&shared, &live, &mut shutdown, &mut probe).await;
        if let Ok(mut g) = shared.live.write() {
            *g = None;
        }
        shared.blocked.store(false, Ordering::Relaxed);
        set_status(&shared);
        let reason = match end {
            End::Shutdown => "hookgate shutdown",
            End::Lost | End::GivenUp | End::Nacked => "hookgate reconnecting",
        };
        close(&live.connection, &live.pool, probe, reason).await;
        nodes.ended();
        calm = end == End::Lost || end == End::Shutdown;
        let node = nodes.current().0;
        match end {
            End::Shutdown => {}
            End::Lost => tracing::warn!(
                connection = shared.name,
                next_node = node,
                "broker connection lost; reconnecting"
            ),
            End::GivenUp | End::Nacked => {
                tracing::warn!(
                    connection = shared.name,
                    next_node = node,
                    nacks = if end == End::Nacked { NACK_STREAK } else { 0 },
                    "broker connection given up; reconnecting after a backoff"
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

/// One attempt on the current node; installed on success. On failure moves
/// to the next node, backing off after a full round of failures.
async fn connect(
    shared: &Arc<Shared>,
    nodes: &mut Nodes,
    backoff: &mut backon::ExponentialBackoff,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<Live>> {
    let (node, url) = nodes.current();
    let failure = match tokio::time::timeout(CONNECT_TIMEOUT, attempt(shared, url)).await {
        Ok(Ok(live)) => {
            let live = Arc::new(live);
            install(shared, live.clone());
            tracing::info!(
                connection = shared.name,
                node,
                broker = %crate::secret::redact_url(url),
                "broker connected"
            );
            return Some(live);
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("attempt timed out after {CONNECT_TIMEOUT:?}"),
    };
    tracing::warn!(connection = shared.name, node, error = %failure, "broker connection failed");
    if nodes.failed() {
        wait_backoff(backoff, shutdown).await;
    }
    None
}

/// Follows one connection until it ends: blocked/unblocked events, a health
/// check every second (and whenever a user saw a dead channel), the
/// unroutable queue's depth.
async fn serve(
    shared: &Shared,
    live: &Live,
    shutdown: &mut watch::Receiver<bool>,
    probe: &mut Option<lapin::Channel>,
) -> End {
    let mut events = live.connection.events_listener();
    let mut check = tokio::time::interval(Duration::from_secs(1));
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
                    probe_unroutable(
                        &*shared.observer,
                        &live.connection,
                        &live.declared,
                        probe,
                    ),
                );
                if probed.await.is_err() {
                    *probe = None;
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
    } else if live.nacked.load(Ordering::Relaxed) {
        Some(End::Nacked)
    } else {
        None
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
