//! `hookgate worker`: consumes the queues the gateway fills and calls back
//! into Salesforce's REST API, batched (sObject Collections, up to 200
//! records per call), idempotent (a store keyed like the gateway's replay
//! cache: route, id and, for unsigned ids, the body hash), retried
//! through per-attempt delay queues and dead-lettered when it cannot succeed.
//! See docs/workers.md.

pub(crate) mod action;
pub(crate) mod batch;
pub(crate) mod bulk;
pub mod consume;
pub(crate) mod convert;
pub(crate) mod ctx;
pub mod dedupe;
pub mod dlq;
pub(crate) mod handle;
pub(crate) mod isolate;
pub(crate) mod lane;
pub mod metrics;
pub(crate) mod org;
pub(crate) mod pause;
pub mod schema;
pub(crate) mod settle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::ctx::{Ctx, SessionError};
use self::handle::{Batcher, Sink};
use self::lane::Lanes;
use self::metrics::Metrics;
use crate::broker::connect::{Link, Live};
use crate::broker::Publisher;
use crate::config::pattern::Pattern;
use crate::config::worker::WorkerConfig;
use crate::telemetry::admin::{self, Probes, Readiness};
use crate::telemetry::trace::Tracer;

/// A start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The admin listener could not bind.
    #[error("worker.admin_listen: cannot listen on {0}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The idempotency store could not be opened.
    #[error("worker.idempotency: {0}")]
    Store(#[from] dedupe::Error),
    /// The HTTP client could not be built.
    #[error("salesforce: {0}")]
    Http(#[from] reqwest::Error),
    /// The OTLP exporter could not be built.
    #[error("telemetry.otlp_endpoint: {0}")]
    Trace(#[from] crate::telemetry::trace::Error),
    /// `api_version`, an action's sObject or field does not fit the org.
    #[error(transparent)]
    Schema(#[from] schema::Error),
}

/// A running worker.
pub struct Running {
    /// The admin listener's bound address.
    pub admin_addr: SocketAddr,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Stops the admin listener, after the consumer's last flush (it
    /// answers `/readyz` and `/metrics` until then).
    admin_stop: watch::Sender<bool>,
    admin: JoinHandle<()>,
    /// Makes (and, with `telemetry.otlp_endpoint`, exports) the spans.
    tracer: Tracer,
}

impl Running {
    /// Stops consuming, flushes open batches (their messages are acked,
    /// retried or dead-lettered) and closes the connection; unacked
    /// deliveries return to their queues.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = self.admin_stop.send(true);
        let _ = self.admin.await;
        // The last spans are exported (a blocking call: off the workers).
        let tracer = self.tracer;
        let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
    }

    /// Stops at once, as a crash would: no flush, no acks; the broker
    /// returns every unacked delivery to its queue.
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
        self.admin.abort();
    }
}

/// Starts the worker in the background.
///
/// # Errors
/// [`StartError`] for the admin listener, the idempotency store or the HTTP
/// client; the broker connection is retried in the background.
pub async fn start(config: WorkerConfig) -> Result<Running, StartError> {
    crate::tls::install_crypto_provider();
    let listener = TcpListener::bind(config.worker.admin_listen)
        .await
        .map_err(|e| StartError::Bind(config.worker.admin_listen, e))?;
    let admin_addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(config.worker.admin_listen, e))?;
    let tracer = Tracer::new(
        config
            .telemetry
            .settings(crate::config::DEFAULT_WORKER_SERVICE),
    )?;
    let metrics = Arc::new(Metrics::new());
    let store = dedupe::Store::open(&config.worker.idempotency, &metrics).await?;
    let (shutdown, rx) = watch::channel(false);
    let orgs = orgs(&config, &metrics, &tracer, &rx).await?;
    let actions = config
        .worker
        .actions
        .iter()
        .filter_map(|a| Pattern::parse(&a.pattern).map(|p| (p, a.clone())))
        .collect();
    let ctx = Arc::new(Ctx {
        config,
        actions,
        store,
        orgs,
        metrics: metrics.clone(),
        tracer: tracer.clone(),
    });
    let (admin_stop, admin_rx) = watch::channel(false);
    let admin = tokio::spawn(admin::serve(listener, probes(metrics.clone()), admin_rx));
    let task = tokio::spawn(run(ctx, rx));
    tracing::info!(%admin_addr, "hookgate worker started");
    Ok(Running {
        admin_addr,
        metrics,
        shutdown,
        task,
        admin_stop,
        admin,
        tracer,
    })
}

/// The orgs of `config`, each with its client and, when Salesforce
/// answered, its describes.
///
/// # Errors
/// [`StartError`] for an HTTP client, or a config that does not fit an org.
async fn orgs(
    config: &WorkerConfig,
    metrics: &Metrics,
    tracer: &Tracer,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<ctx::Org>, StartError> {
    let mut orgs = Vec::with_capacity(config.orgs.len());
    for oc in &config.orgs {
        metrics.register_org(&oc.name);
        let client = Arc::new(org::client(oc, metrics.sf.clone(), tracer.clone())?);
        // Salesforce's answer decides the config (unknown field, version):
        // refused now. No answer (token endpoint down, maintenance, 5xx) is
        // not the config's fault: the worker starts paused and asks again
        // before its first delivery.
        let schema = std::sync::OnceLock::new();
        match schema::Schema::load(&client, config, &oc.name).await {
            Ok(s) => {
                let _ = schema.set(s);
            }
            Err(e) if e.pause_reason().is_some() => {
                tracing::warn!(org = %oc.name, error = %e, "start-up checks got no answer; asking again before consuming");
            }
            Err(e) => return Err(e.into()),
        }
        orgs.push(ctx::Org {
            config: oc.clone(),
            client,
            schema,
            pause: pause::State::new(shutdown.clone()),
            bulk_batches: std::sync::Mutex::default(),
        });
    }
    Ok(orgs)
}

/// Consumes on the broker connection (from [`crate::broker::connect`])
/// until shutdown. A failed [`session`] gives its connection up: the
/// connection manager closes it (unacked deliveries return to their queues)
/// and connects again after its backoff delay.
async fn run(ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    // Dropped with this task (an abort): the manager then closes the
    // connection, as a crash would.
    let (stop, stop_rx) = watch::channel(false);
    let link = Link::start(
        ctx.config.amqp.clone(),
        "hookgate worker",
        Arc::new(consume::Queues(ctx.config.worker.clone())),
        Arc::new(()),
        stop_rx,
    );
    let publisher = Publisher::on(link.clone());
    while let Some(live) = connected(&link, &mut shutdown).await {
        // Connected (the queues are declared): the checks come before the
        // first delivery.
        // With one org, as before lanes: nothing is delivered before its
        // checks pass. With several, each lane checks its own org first, so
        // an org Salesforce does not answer does not hold up the others.
        if ctx.orgs.len() == 1 && ctx.checked(0).await.is_err() {
            break;
        }
        let mut batcher = Batcher::default();
        let result = match bulk::adopt(&ctx).await {
            Ok(adopted) => {
                session(
                    &ctx,
                    &live,
                    &publisher,
                    &mut batcher,
                    adopted,
                    &mut shutdown,
                )
                .await
            }
            Err(e) => Err(e),
        };
        ctx.metrics.amqp_connected.set(0);
        // Claims of messages we held go back: they will be redelivered.
        let _ = ctx.store.release(batcher.held_ids()).await;
        let _ = ctx.store.release_held().await;
        match result {
            Ok(()) | Err(SessionError::Pause(pause::Error::Stopped) | SessionError::Unfit(_)) => {
                break
            }
            Err(e) => {
                ctx.metrics.session_ended(e.label());
                tracing::warn!(error = %e, "worker session ended; reconnecting");
                link.give_up(&live);
            }
        }
    }
    let _ = stop.send(true);
    link.close("worker shutdown").await;
}

/// The broker connection, once there is one; `None` on shutdown.
async fn connected(link: &Link, shutdown: &mut watch::Receiver<bool>) -> Option<Arc<Live>> {
    let mut status = link.watch_status();
    loop {
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            return None;
        }
        if let Some(live) = link.live() {
            return Some(live);
        }
        tokio::select! {
            _ = status.changed() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One session on a connection: consume, batch, hand closed batches to the
/// org lanes (which first resume the `adopted` ingest jobs), until shutdown
/// or failure.
async fn session(
    ctx: &Arc<Ctx>,
    live: &Live,
    publisher: &Publisher,
    batcher: &mut Batcher,
    adopted: Vec<(usize, dedupe::JobRecord)>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), SessionError> {
    // A backlog already waiting is gathered from the first delivery on.
    let mut gather = bulk::gather::Gather::new();
    let first = gather.probe(ctx, live, false).await?;
    batcher.gathering = gather.active();
    let (consume_ch, tags, mut deliveries) = consume(ctx, live).await?;
    for s in first {
        deliveries.push(s);
    }
    let (lanes, mut lane_errors) = Lanes::start(ctx, publisher, adopted);
    let sink = Sink {
        ctx,
        publisher,
        lanes: &lanes,
    };
    let result = loop {
        let deadline = batcher.next_deadline(&sink);
        let step = tokio::select! {
            biased;
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    for tag in &tags {
                        let _ = consume_ch.basic_cancel(ShortString::from(tag.as_str()), BasicCancelOptions::default()).await;
                    }
                    gather.stop().await;
                    // The connection is closed by `run`.
                    break batcher.flush_all(&sink).await;
                }
                Ok(())
            }
            Some(e) = lane_errors.recv() => Err(e),
            _ = sleep_until(deadline) => batcher.flush_due(&sink).await,
            _ = sleep_until(gather.next_probe(ctx)) => match gather.probe(ctx, live, batcher.gathers()).await {
                Ok(streams) => {
                    for s in streams {
                        deliveries.push(s);
                    }
                    batcher.gathering = gather.active();
                    Ok(())
                }
                Err(e) => Err(e),
            },
            item = deliveries.next() => match item {
                Some((queue, Ok(delivery))) => handle::handle(&sink, batcher, queue, delivery).await,
                Some((_, Err(e))) => Err(e.into()),
                None => Err(lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
                    lapin::ConnectionState::Closed,
                ))
                .into()),
            },
        };
        if step.is_err() {
            break step;
        }
    };
    // After shutdown the lanes write what they hold (a paused one stops at
    // once); after a failure they get a moment to settle the call in
    // flight, then are aborted (their messages stay unacked).
    let grace = result.is_err().then_some(LANE_GRACE);
    let lanes_done = lanes.finish(grace).await;
    // The lanes acked through these channels: closed now, not dropped
    // (`crate::broker::close_channel`).
    gather.close().await;
    crate::broker::close_channel(consume_ch, "worker session ended").await;
    match (result, lanes_done) {
        // The lane's own error says more than that it ended.
        (Err(SessionError::LaneEnded(_)) | Ok(()), Err(e)) | (Err(e), _) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// How long lanes may settle their calls in flight after a session failed.
const LANE_GRACE: Duration = Duration::from_secs(10);

/// Deliveries of every work queue on one channel (prefetch applied), and
/// the consumer tags.
async fn consume(
    ctx: &Ctx,
    live: &Live,
) -> Result<(lapin::Channel, Vec<String>, Deliveries), SessionError> {
    let w = &ctx.config.worker;
    let consume_ch = live.connection.create_channel().await?;
    consume_ch
        .basic_qos(w.prefetch, BasicQosOptions::default())
        .await?;
    let mut streams = Vec::new();
    let mut tags = Vec::new();
    for (i, q) in w.queues.iter().enumerate() {
        let tag = format!("hookgate-worker-{}-{i}", std::process::id());
        let consumer = consume_ch
            .basic_consume(
                ShortString::from(q.as_str()),
                ShortString::from(tag.as_str()),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tags.push(tag);
        let queue: Arc<str> = Arc::from(q.as_str());
        streams.push(consumer.map(move |d| (queue.clone(), d)).boxed());
    }
    ctx.metrics.amqp_connected.set(1);
    tracing::info!(queues = ?w.queues, "worker consuming");
    Ok((consume_ch, tags, futures_util::stream::select_all(streams)))
}

/// Deliveries of all work queues, each with its queue's name.
type Deliveries = futures_util::stream::SelectAll<
    futures_util::stream::BoxStream<
        'static,
        (Arc<str>, Result<lapin::message::Delivery, lapin::Error>),
    >,
>;

/// `/readyz`'s body while paused for `reason`.
fn paused_text(reason: &str) -> &'static str {
    match reason {
        "auth" => "paused: auth\n",
        "maintenance" => "paused: maintenance\n",
        "request_limit" => "paused: request_limit\n",
        "budget" => "paused: budget\n",
        _ => "paused\n",
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What the worker's admin listener answers: `/readyz` 200 while consuming
/// (`amqp_connected` and not paused), `/metrics` the `hookgate_worker_*`
/// metrics.
fn probes(metrics: Arc<Metrics>) -> Probes {
    let ready = metrics.clone();
    Probes {
        ready: Arc::new(move || {
            if ready.amqp_connected.get() != 1 {
                return Readiness::NotReady("broker disconnected\n");
            }
            match ready.paused_reason() {
                None => Readiness::Ready("ready\n"),
                Some(reason) => Readiness::NotReady(paused_text(reason)),
            }
        }),
        metrics: Arc::new(move || metrics.encode()),
    }
}
