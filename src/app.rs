//! Start-up: from a validated [`Config`] to running listeners.
//!
//! Used by `hookgate serve` and by the integration tests (which bind port 0
//! and read the real addresses from [`Running`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::outbox::Outbox;
use crate::publish::Publisher;
use crate::server::{listener, Gateway};
use crate::spool::Spool;
use crate::telemetry::{admin, metrics::Metrics};

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
    /// The spool could not be opened; names the key.
    #[error("spool.path: {0}")]
    Spool(#[from] crate::spool::Error),
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
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    admin: JoinHandle<()>,
    forwarder: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts shutdown: stop accepting, let in-flight requests finish within
    /// `[server] shutdown_grace_ms`, close the broker connection. Returns when
    /// done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        let _ = self.admin.await;
        if let Some(f) = self.forwarder {
            let _ = f.await;
        }
        if let Some(s) = &self.spool {
            s.close();
        }
        // Let the broker manager close its connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Binds both listeners and starts serving. The broker connection is made
/// in the background: the gateway answers 503 until it is up.
///
/// # Errors
/// [`Error`] when a listener cannot bind or TLS cannot be set up.
pub async fn start(config: &Config) -> Result<Running, Error> {
    crate::tls::install_crypto_provider();
    let tls = match &config.server.tls {
        Some(t) if !config.server.plaintext => {
            if t.self_signed {
                tracing::warn!(
                    "server.tls.self_signed = true: serving a throwaway self-signed certificate (dev only)"
                );
            }
            Some(crate::tls::server_config(t)?)
        }
        _ => {
            tracing::warn!("server.plaintext = true: serving plain HTTP (only behind a TLS-terminating load balancer)");
            None
        }
    };
    let bind = |key: &'static str, addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { key, addr, source })
    };
    let listener = bind("server.listen", config.server.listen).await?;
    let admin_listener = bind("admin.listen", config.admin.listen).await?;
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

    let (shutdown, shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let spool = if config.spool.enabled {
        Some(Spool::open(&config.spool, metrics.clone())?)
    } else {
        None
    };
    let publisher = Publisher::start(config.amqp.clone(), metrics.clone(), shutdown_rx.clone());
    let forwarder = spool.clone().map(|s| {
        tokio::spawn(crate::spool::forward(
            s,
            publisher.clone(),
            shutdown_rx.clone(),
        ))
    });
    let outbox = Outbox::new(
        publisher.clone(),
        spool.clone(),
        Duration::from_millis(config.spool.after_ms),
    );
    let gateway = Arc::new(Gateway::new(config, outbox.clone(), metrics.clone()));
    let settings = listener::Settings {
        header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
        shutdown_grace: Duration::from_millis(config.server.shutdown_grace_ms),
    };
    let server = tokio::spawn(listener::serve(
        listener,
        tls,
        gateway,
        settings,
        shutdown_rx.clone(),
    ));
    let admin = tokio::spawn(admin::serve(
        admin_listener,
        outbox,
        metrics.clone(),
        shutdown_rx,
    ));
    tracing::info!(%addr, %admin_addr, routes = config.routes.len(), "hookgate listening");
    Ok(Running {
        addr,
        admin_addr,
        publisher,
        metrics,
        spool,
        shutdown,
        server,
        admin,
        forwarder,
    })
}
