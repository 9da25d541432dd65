//! Start-up: from a validated [`Config`] to running listeners.
//!
//! Used by `hookgate serve` and by the integration tests (which bind port 0
//! and read the real addresses from [`Running`]).

mod reload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::{Observe, Publisher, Status};
use crate::config::Config;
use crate::outbox::spool::Spool;
use crate::outbox::Outbox;
use crate::server::{listener, Gateway};
use crate::telemetry::admin::{self, Probes, Readiness};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::trace::Tracer;

/// A start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not bind; names the config key.
    #[error("{key}: cannot listen on {addr}")]
    Bind {
        /// `server.listen` or `admin.listen`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// The replay cache could not be opened.
    #[error("dedupe: {0}")]
    Replay(crate::dedupe::Error),
    /// The spool could not be opened; names the key.
    #[error("spool.path: {0}")]
    Spool(#[from] crate::outbox::spool::Error),
    /// The OTLP exporter could not be built; names the key.
    #[error("telemetry.otlp_endpoint: {0}")]
    Trace(#[from] crate::telemetry::trace::Error),
    /// `spool.enabled = false` while the spool file holds messages.
    #[error("spool.enabled: false, but {} holds {messages} accepted messages; enable the spool so they are forwarded, or run `hookgate spool drain` first", path.display())]
    SpoolLeftBehind {
        /// `spool.path`.
        path: std::path::PathBuf,
        /// Messages in it.
        messages: u64,
    },
}

/// Accept queue length: bursts of new connections wait in the kernel
/// instead of being dropped (the OS caps it at `net.core.somaxconn`).
pub(crate) const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener with `SO_REUSEADDR`, with `SO_REUSEPORT` too when
/// `reuse_port` (`server.reuse_port`: other processes of the same user may
/// bind the same address, and the kernel spreads new connections over
/// them), and the given accept backlog.
fn listen(addr: SocketAddr, backlog: u32, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        set_reuseport(&socket)?;
    }
    socket.bind(addr)?;
    socket.listen(backlog)
}

#[cfg(all(
    unix,
    not(target_os = "solaris"),
    not(target_os = "illumos"),
    not(target_os = "cygwin"),
    not(target_os = "nuttx"),
))]
/// `SO_REUSEPORT`, where tokio offers it (`config::REUSE_PORT_SUPPORTED`).
fn set_reuseport(socket: &tokio::net::TcpSocket) -> std::io::Result<()> {
    socket.set_reuseport(true)
}

/// No `SO_REUSEPORT` here: the config check refuses `server.reuse_port`
/// ([`crate::config::REUSE_PORT_SUPPORTED`]), so this is never reached.
#[cfg(not(all(
    unix,
    not(target_os = "solaris"),
    not(target_os = "illumos"),
    not(target_os = "cygwin"),
    not(target_os = "nuttx"),
)))]
fn set_reuseport(_socket: &tokio::net::TcpSocket) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "SO_REUSEPORT is not available on this platform",
    ))
}

/// A running gateway.
pub struct Running {
    /// The public listener's bound address.
    pub addr: SocketAddr,
    /// The admin listener's bound address.
    pub admin_addr: SocketAddr,
    /// The broker publisher (its status is what `/readyz` reports).
    pub publisher: Publisher,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The spool, when enabled.
    pub spool: Option<Spool>,
    replay: Option<crate::dedupe::Cache>,
    /// Makes (and, with `telemetry.otlp_endpoint`, exports) the spans.
    tracer: Tracer,
    /// Stops the listeners, the admin server and the reload task.
    shutdown: watch::Sender<bool>,
    /// Stops the spool forwarder and the broker connection, after the
    /// listeners drained and the spool was forwarded.
    broker_shutdown: watch::Sender<bool>,
    /// `server.shutdown_grace_ms`, also the budget for forwarding the spool.
    grace: Duration,
    server: JoinHandle<()>,
    admin: JoinHandle<()>,
    forwarder: Option<JoinHandle<()>>,
}

impl Running {
    /// Shuts down in order, so that nothing accepted is left behind: stop
    /// accepting and let in-flight requests finish (within
    /// `server.shutdown_grace_ms`; the broker stays connected, so they are
    /// confirmed, not spooled), then let the forwarder empty the spool while
    /// the broker is up (within another `shutdown_grace_ms`), log what stays
    /// spooled, and only then close the broker connection. Returns when done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        let _ = self.admin.await;
        if let Some(spool) = &self.spool {
            forward_before_exit(spool, &self.publisher, self.grace).await;
        }
        let _ = self.broker_shutdown.send(true);
        if let Some(f) = self.forwarder {
            let _ = f.await;
        }
        if let Some(s) = &self.spool {
            s.close();
        }
        if let Some(r) = &self.replay {
            if let Err(e) = r.close().await {
                tracing::warn!(error = %e, "replay cache not closed cleanly");
            }
        }
        // The last spans are exported (a blocking call: off the workers).
        let tracer = self.tracer;
        let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
        // Let the broker manager close its connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With the spool disabled, a spool file that still holds messages (accepted
/// by an earlier run) would be forgotten: refuse to start instead.
fn refuse_left_behind(config: &Config, metrics: &Arc<Metrics>) -> Result<(), Error> {
    if !config.spool.path.is_file() {
        return Ok(());
    }
    let spool = Spool::open(&config.spool, metrics.clone())?;
    let messages = spool.status().messages;
    spool.close();
    if messages > 0 {
        return Err(Error::SpoolLeftBehind {
            path: config.spool.path.clone(),
            messages,
        });
    }
    Ok(())
}

/// Waits (up to `grace`) for the forwarder to empty the spool while the
/// broker is connected; logs what is left for the next start.
async fn forward_before_exit(spool: &Spool, publisher: &Publisher, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    let mut waited = false;
    while spool.status().messages > 0
        && publisher.status() == Status::Connected
        && tokio::time::Instant::now() < deadline
    {
        waited = true;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = spool.status().messages;
    if left > 0 {
        tracing::warn!(
            messages = left,
            path = %spool.path().display(),
            "shutting down with messages in the spool; the next start forwards them (or `hookgate spool drain`)"
        );
    } else if waited {
        tracing::info!("spool forwarded before shutdown");
    }
}

/// Binds both listeners and starts serving. The broker connection is made
/// in the background: the gateway answers 503 until it is up.
///
/// # Errors
/// [`Error`] when a listener cannot bind or TLS cannot be set up.
pub async fn start(config: &Config) -> Result<Running, Error> {
    crate::tls::install_crypto_provider();
    let tls = load_tls(config)?;
    let tracer = Tracer::new(
        config
            .telemetry
            .settings(crate::config::DEFAULT_GATEWAY_SERVICE),
    )?;
    let Listeners {
        listener,
        admin_listener,
        addr,
        admin_addr,
    } = bind_listeners(config)?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let (broker_shutdown, broker_shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let spool = open_spool(config, &metrics)?;
    let publisher = Publisher::start(
        config.amqp.clone(),
        metrics.clone(),
        broker_shutdown_rx.clone(),
    );
    let forwarder = spool.clone().map(|s| {
        tokio::spawn(crate::outbox::spool::forward(
            s,
            publisher.clone(),
            tracer.clone(),
            broker_shutdown_rx.clone(),
        ))
    });
    let outbox = Outbox::new(
        publisher.clone(),
        spool.clone(),
        Duration::from_millis(config.spool.after_ms),
    )
    .with_tracer(tracer.clone());
    let replay = open_replay(config, &metrics).await?;
    let gateway = Arc::new(Gateway::new(
        config,
        outbox.clone(),
        metrics.clone(),
        replay.clone(),
    ));
    tokio::spawn(reload::run(
        config.file.clone(),
        tls.clone(),
        gateway.clone(),
        shutdown_rx.clone(),
    ));
    let server = tokio::spawn(listener::serve(
        listener,
        tls,
        gateway,
        config.server.clone(),
        shutdown_rx.clone(),
    ));
    let admin = tokio::spawn(admin::serve(
        admin_listener,
        probes(outbox, metrics.clone()),
        shutdown_rx,
    ));
    tracing::info!(%addr, %admin_addr, routes = config.routes.len(), "hookgate listening");
    Ok(Running {
        addr,
        admin_addr,
        publisher,
        metrics,
        spool,
        replay,
        tracer,
        shutdown,
        broker_shutdown,
        grace: Duration::from_millis(config.server.shutdown_grace_ms),
        server,
        admin,
        forwarder,
    })
}

/// The TLS state to serve with, or none with `server.plaintext`; either
/// way the choice is logged as a warning when it is not for production.
fn load_tls(config: &Config) -> Result<Option<Arc<crate::tls::TlsState>>, Error> {
    match &config.server.tls {
        Some(t) if !config.server.plaintext => {
            if t.self_signed {
                tracing::warn!(
                    "server.tls.self_signed = true: serving a throwaway self-signed certificate (dev only)"
                );
            }
            Ok(Some(Arc::new(crate::tls::TlsState::load(t)?)))
        }
        _ => {
            tracing::warn!("server.plaintext = true: serving plain HTTP (only behind a TLS-terminating load balancer)");
            Ok(None)
        }
    }
}

/// The public and admin listeners, bound, with the addresses they got
/// (port 0 in the config picks one).
struct Listeners {
    listener: TcpListener,
    admin_listener: TcpListener,
    addr: SocketAddr,
    admin_addr: SocketAddr,
}

/// Binds both listeners before anything else starts, so a taken port fails
/// start-up naming its config key.
fn bind_listeners(config: &Config) -> Result<Listeners, Error> {
    let bind = |key: &'static str, addr: SocketAddr, reuse_port: bool| {
        listen(addr, LISTEN_BACKLOG, reuse_port).map_err(|source| Error::Bind { key, addr, source })
    };
    // Only the public listener may share its port: each process of a fleet
    // has an admin port of its own, so a scrape reaches the one it names.
    let listener = bind(
        "server.listen",
        config.server.listen,
        config.server.reuse_port,
    )?;
    let admin_listener = bind("admin.listen", config.admin.listen, false)?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        key: "server.listen",
        addr: config.server.listen,
        source,
    })?;
    let admin_addr = admin_listener.local_addr().map_err(|source| Error::Bind {
        key: "admin.listen",
        addr: config.admin.listen,
        source,
    })?;
    Ok(Listeners {
        listener,
        admin_listener,
        addr,
        admin_addr,
    })
}

/// The spool when enabled; when disabled, none, after making sure no
/// accepted messages are left in its file ([`refuse_left_behind`]).
fn open_spool(config: &Config, metrics: &Arc<Metrics>) -> Result<Option<Spool>, Error> {
    if config.spool.enabled {
        Ok(Some(Spool::open(&config.spool, metrics.clone())?))
    } else {
        refuse_left_behind(config, metrics)?;
        Ok(None)
    }
}

/// The replay cache when `dedupe.enabled`: opened before the listeners
/// serve, so the first request is already checked.
async fn open_replay(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<Option<crate::dedupe::Cache>, Error> {
    if !config.dedupe.enabled {
        return Ok(None);
    }
    crate::dedupe::Cache::open(&config.dedupe, metrics.clone())
        .await
        .map(Some)
        .map_err(Error::Replay)
}

/// What the gateway's admin listener answers: `/readyz` 200 while the broker
/// connection is up and unblocked or the spool can take messages (its file
/// healthy, not being reopened after an I/O error, and not full), else 503;
/// `/metrics` with the spool's oldest age measured at the scrape.
fn probes(outbox: Outbox, metrics: Arc<Metrics>) -> Probes {
    let spool = outbox.spool().cloned();
    Probes {
        ready: Arc::new(move || readiness(&outbox)),
        metrics: Arc::new(move || {
            if let Some(spool) = &spool {
                metrics.spool_oldest_age.set(spool.oldest_age_seconds());
            }
            metrics.encode()
        }),
    }
}

fn readiness(outbox: &Outbox) -> Readiness {
    match outbox.publisher().status() {
        Status::Connected => Readiness::Ready("ready\n"),
        _ if outbox.ready() => Readiness::Ready("ready (spooling: broker not available)\n"),
        Status::Blocked => Readiness::NotReady("broker blocked\n"),
        Status::Disconnected => Readiness::NotReady("broker disconnected\n"),
    }
}

/// The gateway's broker connection and publishes, reported into its metrics
/// (`broker_*`, `messages_published`, `publish_*`, `confirm_latency_*`,
/// `unroutable_messages`).
impl Observe for Metrics {
    fn connected(&self) {
        self.broker_connections.inc();
    }
    fn status(&self, status: Status) {
        self.broker_state(status != Status::Disconnected, status == Status::Blocked);
    }
    fn confirmed(&self, n: u64) {
        self.messages_published.inc_by(n);
    }
    fn confirm_latency(&self, latency: Duration) {
        self.confirm_latency.observe(latency.as_secs_f64());
    }
    fn failed(&self, reason: &'static str) {
        self.publish_failure(reason);
    }
    fn leased(&self, delta: i64) {
        self.publish_channels_leased.inc_by(delta);
    }
    fn unroutable(&self, depth: u32) {
        self.unroutable_messages.set(i64::from(depth));
    }
}
