//! `hookgate subscribe`: Platform Events and Change Data Capture pulled from
//! Salesforce's Pub/Sub API (gRPC, Avro payloads; SALESFORCE.md section 9)
//! into RabbitMQ with publisher confirms, the replay id saved only after
//! the confirms (docs/pubsub.md).
//!
//! A process of its own, not part of `hookgate serve`: gateways scale out
//! behind a balancer, and each would open every subscription again
//! (Salesforce counts concurrent clients, and every event would be
//! published once per gateway); a subscriber is one process per set of
//! subscriptions, restarted by its supervisor, its position in `[pubsub]`.
//!
//! - `client`: one org's gRPC channel, token metadata and schema cache;
//! - `decode`, `bitmap`: Avro payloads to JSON, CDC bitmaps to field names;
//! - `event`: the routing-key words and message id of a pulled event;
//! - `stream`: one subscription's streams, publish-then-save;
//! - `replay`: the saved positions (redb or Redis);
//! - `metrics`: `hookgate_pubsub_*`, served by the admin listener.

pub mod bitmap;
mod client;
pub mod decode;
mod event;
mod lease;
pub mod metrics;
pub mod replay;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::client::OrgLink;
use self::metrics::Metrics;
use self::replay::ReplayStore;
use self::stream::{Ended, Sub};
use crate::broker::Publisher;
use crate::config::pubsub::{ReplayPreset, SubscribeConfig};
use crate::telemetry::admin::{self, Probes, Readiness};

/// Why the subscriber could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The admin listener's address is taken.
    #[error("cannot bind the admin listener {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The replay store cannot be opened.
    #[error(transparent)]
    Store(#[from] replay::Error),
    /// An org's Pub/Sub endpoint is not usable.
    #[error("org {0}: {1}")]
    Org(String, #[source] client::Error),
}

/// Start-up choices of the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--replay-from`: where a subscription starts when Salesforce refuses
    /// its saved replay id as older than the retention, or the saved id
    /// belongs to another topic (the gap is logged and counted). Without it
    /// such a subscription halts (`/readyz` 503) until an operator decides.
    pub replay_from: Option<ReplayPreset>,
}

/// A started subscriber.
pub struct Running {
    /// Where the admin listener listens.
    pub admin_addr: SocketAddr,
    /// The process's metrics.
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    admin: JoinHandle<()>,
}

impl Running {
    /// Stops every subscription (open streams are closed; nothing is
    /// half-saved: a position is saved whole or not) and the admin listener.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let _ = self.admin.await;
    }
}

/// Opens the replay store, the broker connection and the admin listener,
/// and starts one task per subscription.
///
/// # Errors
/// [`StartError`].
pub async fn start(config: SubscribeConfig, options: Options) -> Result<Running, StartError> {
    crate::tls::install_crypto_provider();
    let listen = config.pubsub.admin_listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Bind(listen, e))?;
    let admin_addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(listen, e))?;
    let store = ReplayStore::open(&config.pubsub).await?;
    let metrics = Arc::new(Metrics::new());
    let (shutdown, rx) = watch::channel(false);
    let publisher = Publisher::start_as(
        "hookgate subscriber",
        config.amqp.clone(),
        metrics.clone(),
        rx.clone(),
    );
    let mut links: HashMap<usize, Arc<OrgLink>> = HashMap::new();
    let mut tasks = Vec::with_capacity(config.subscriptions.len());
    let me = lease::instance_id();
    for s in &config.subscriptions {
        let org = config.org(s);
        let link = match links.get(&s.org) {
            Some(l) => l.clone(),
            None => {
                let tenant = org.organization_id.clone().unwrap_or_default();
                let l = Arc::new(
                    OrgLink::new(org, tenant).map_err(|e| StartError::Org(org.name.clone(), e))?,
                );
                links.insert(s.org, l.clone());
                l
            }
        };
        metrics.register(&s.name);
        let sub = Sub {
            config: s.clone(),
            org: link,
            store: store.clone(),
            lease: store.lease(&s.name, &me, config.pubsub.lease()),
            publisher: publisher.clone(),
            metrics: metrics.clone(),
            silence: config.pubsub.silence(),
            cloudevents: config.amqp.cloudevents,
        };
        let retry = config.pubsub.retry();
        tasks.push(tokio::spawn(run(sub, rx.clone(), options, retry)));
    }
    let admin = tokio::spawn(admin::serve(listener, probes(metrics.clone()), rx));
    tracing::info!(%admin_addr, subscriptions = tasks.len(), "hookgate subscriber started");
    Ok(Running {
        admin_addr,
        metrics,
        shutdown,
        tasks,
        admin,
    })
}

/// `/readyz`: the broker is up and no subscription halted.
fn probes(metrics: Arc<Metrics>) -> Probes {
    let ready = metrics.clone();
    Probes {
        ready: Arc::new(move || {
            if !ready.broker_connected() {
                Readiness::NotReady("broker disconnected\n")
            } else if ready.any_halted() {
                Readiness::NotReady("a subscription halted: see the log and docs/pubsub.md\n")
            } else {
                Readiness::Ready("ready\n")
            }
        }),
        metrics: Arc::new(move || metrics.encode()),
    }
}

/// One subscription until shutdown: streams, backoff between them, and the
/// stale replay id rule.
async fn run(
    mut sub: Sub,
    mut shutdown: watch::Receiver<bool>,
    options: Options,
    (min, max): (Duration, Duration),
) {
    let name = sub.config.name.clone();
    let labels = Metrics::sub(&name);
    let mut backoff = crate::backoff::jittered(min, max);
    let standby = sub.metrics.standby.get_or_create(&labels).clone();
    loop {
        standby.set(1);
        if !sub.lease.acquire(&mut shutdown).await {
            break;
        }
        standby.set(0);
        if !stream::broker_up(&sub.publisher, &mut shutdown).await {
            break;
        }
        let commits = sub.metrics.commits.get_or_create(&labels).get();
        let ended = tokio::select! {
            e = sub.stream_once(&mut shutdown) => e,
            () = sub.lease.lost() => Ended::Retry("lease_lost".into()),
        };
        if sub.metrics.commits.get_or_create(&labels).get() > commits {
            backoff = crate::backoff::jittered(min, max);
        }
        let reason = match &ended {
            Ended::Shutdown => break,
            Ended::Retry(r) => r.clone(),
            Ended::Auth => "auth".to_owned(),
            Ended::Broker => "broker".to_owned(),
            Ended::Stale => "replayid.corrupted".to_owned(),
            Ended::TopicChanged(_) => "topic_changed".to_owned(),
        };
        sub.metrics
            .streams
            .get_or_create(&Metrics::reason(&name, &reason))
            .inc();
        match ended {
            Ended::Stale | Ended::TopicChanged(_) => {
                if !restart_or_halt(&mut sub, &ended, options, &mut shutdown).await {
                    break;
                }
                continue;
            }
            Ended::Auth => sub.org.invalidate_token().await,
            _ => {}
        }
        tracing::info!(subscription = %name, reason, "stream ended; reopening");
        let pause = backoff.next().unwrap_or(max);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => break,
        }
    }
    sub.lease.release().await;
}

/// A saved position Salesforce refused (or of another topic): with
/// `--replay-from`, forget it and go on from that preset; without, halt
/// until shutdown. Returns whether to go on.
async fn restart_or_halt(
    sub: &mut Sub,
    ended: &Ended,
    options: Options,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let name = sub.config.name.clone();
    let labels = Metrics::sub(&name);
    if matches!(ended, Ended::Stale) {
        sub.metrics.replay_gaps.get_or_create(&labels).inc();
    }
    let what = match ended {
        Ended::TopicChanged(t) => format!("the saved replay id belongs to topic {t}"),
        _ => "Salesforce refused the saved replay id as older than its retention (72 h): events after it may be lost".to_owned(),
    };
    if let Some(preset) = options.replay_from {
        tracing::error!(subscription = %name, ?preset, "{what}; starting from --replay-from");
        if let Err(e) = sub.store.forget(&name).await {
            tracing::warn!(subscription = %name, error = %e, "cannot forget the saved replay id");
            return tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => true,
                _ = shutdown.changed() => false,
            };
        }
        sub.config.replay_preset = preset;
        return true;
    }
    tracing::error!(subscription = %name, "{what}; halted: restart with --replay-from earliest|latest (docs/pubsub.md)");
    sub.metrics.halt(&name);
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    false
}
