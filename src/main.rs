//! The `hookgate` binary: thin CLI over the library.
//!
//! - `hookgate serve --config PATH`: run the gateway.
//! - `hookgate check-config --config PATH [--online]`: validate, print routes
//!   (`--online`: and the worker's actions against the org); exit 2 on error.
//! - `hookgate worker --config PATH`: run the Salesforce worker.
//! - `hookgate subscribe --config PATH [--replay-from earliest|latest]`:
//!   pull Platform Events and Change Data Capture from Salesforce's Pub/Sub
//!   API into RabbitMQ (docs/pubsub.md).
//! - `hookgate healthcheck --config PATH | --url URL`: exit 0 when the
//!   admin listener's `/readyz` answers 200, else 1 (a container's
//!   `HEALTHCHECK`).
//! - `hookgate dlq list|replay|purge --config PATH [--limit N]`: the
//!   worker's dead-letter queue.
//! - `hookgate sign --config PATH --route NAME --body FILE [--event E]
//!   [--private-key FILE]`: a request signed as the provider would send it.
//! - `hookgate providers [--markdown]`: every route kind with its headers,
//!   id and event sources and handshake.
//! - `hookgate spool status|drain --config PATH`: inspect or drain a stopped
//!   gateway's spool.
//! - `hookgate spool quarantine list|requeue|purge --config PATH`: the
//!   entries the broker refused `spool.quarantine_after` times.
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use hookgate::config::pubsub::SubscribeConfig;
use hookgate::config::worker::WorkerConfig;
use hookgate::config::Config;
use hookgate::telemetry::tracing::{self as logs, LogFormat};

// Binary-only modules live in src/main/ (scripts/module-deps.py follows them
// as part of the `main` node).
#[path = "main/check_config.rs"]
mod check_config;
#[path = "main/dlq.rs"]
mod dlq;
#[path = "main/healthcheck.rs"]
mod healthcheck;
#[path = "main/sign.rs"]
mod sign;

/// mimalloc: the request path allocates per request in hyper, rustls, lapin
/// and the handler; glibc malloc was ~8% of the gateway's CPU under load
/// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux
/// `PR_SET_THP_DISABLE`, checked by the kernel at each page fault). With THP
/// set to `always`, mimalloc's eagerly committed arenas became resident 2 MiB
/// at a time: 41 KiB per idle TLS connection instead of 29
/// (docs/performance.md). A failure (old kernel, seccomp) only costs memory.
fn tune_allocator() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only; changes a flag of this
    // process's memory map.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Exit code for usage and configuration errors.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "hookgate",
    version,
    about = "TLS edge gateway: Salesforce Outbound Messages and signed webhooks to RabbitMQ"
)]
struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file and print its routes.
    CheckConfig {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Also check the worker's actions against the org (versions, describe).
        #[arg(long)]
        online: bool,
    },
    /// Exit 0 when the admin listener's /readyz answers 200 (3 s timeout), else 1.
    Healthcheck {
        /// Path of the TOML config file: `[admin] listen`, or `[worker]
        /// admin_listen` of a worker-only file.
        #[arg(long, short, conflicts_with = "url", required_unless_present = "url")]
        config: Option<PathBuf>,
        /// The URL to ask instead, e.g. http://127.0.0.1:9090/readyz.
        #[arg(long)]
        url: Option<String>,
    },
    /// Run the worker: consume, call Salesforce, retry, dead-letter.
    Worker {
        /// Path of the TOML config file (`[amqp]`, `[worker]`, `[salesforce]`).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Pull Platform Events and Change Data Capture from Salesforce's Pub/Sub
    /// API into RabbitMQ (`[[salesforce.subscriptions]]`, `[pubsub]`).
    Subscribe {
        /// Path of the TOML config file (`[amqp]`, `[salesforce]`, `[pubsub]`).
        #[arg(long, short)]
        config: PathBuf,
        /// Where a subscription starts when Salesforce refuses its saved
        /// replay id as older than the 72 h retention (or the saved id is of
        /// another topic): the gap is logged and counted. Without it such a
        /// subscription halts until restarted with this flag.
        #[arg(long, value_enum)]
        replay_from: Option<hookgate::config::pubsub::ReplayPreset>,
    },
    /// Operate the worker's dead-letter queue.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Inspect or drain the spool of a stopped gateway.
    Spool {
        #[command(subcommand)]
        command: SpoolCommand,
    },
    /// Print a request signed as the route's provider would send it.
    Sign(sign::SignArgs),
    /// List every route kind: signature, id and event sources, handshake.
    Providers {
        /// Print a Markdown table (the README's kinds table).
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Count dead-lettered messages by reason and work queue.
    List {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Look at most at this many messages.
        #[arg(long, default_value_t = 10_000)]
        limit: u64,
    },
    /// Move dead-lettered messages back to their work queues.
    Replay {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Move at most this many messages.
        #[arg(long, default_value_t = u64::MAX)]
        limit: u64,
    },
    /// Delete every dead-lettered message.
    Purge {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum SpoolCommand {
    /// Print depth, bytes and the age of the oldest entry.
    Status {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Publish every spooled message to RabbitMQ (with confirms), then exit.
    Drain {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Seconds to wait for the broker connection.
        #[arg(long, default_value_t = 30)]
        connect_timeout_s: u64,
    },
    /// Entries the broker refused `spool.quarantine_after` times.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// One line per entry: key, message_id, routing_key, attempts, last
    /// error, size.
    List {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
    /// Move entries back to the spool (attempts reset), in one transaction.
    Requeue {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        select: Select,
    },
    /// Delete entries, in one transaction.
    Purge {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        select: Select,
    },
}

/// Which quarantined entries: `--all` or keys, one of them required.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct Select {
    /// Every quarantined entry.
    #[arg(long)]
    all: bool,
    /// Keys as `quarantine list` prints them (SPOOLED_AT_MS-SEQ).
    #[arg(value_name = "KEY")]
    keys: Vec<String>,
}

impl SpoolCommand {
    fn config(&self) -> &std::path::Path {
        match self {
            SpoolCommand::Status { config }
            | SpoolCommand::Drain { config, .. }
            | SpoolCommand::Quarantine {
                command:
                    QuarantineCommand::List { config, .. }
                    | QuarantineCommand::Requeue { config, .. }
                    | QuarantineCommand::Purge { config, .. },
            } => config,
        }
    }
}

impl Select {
    fn selection(&self) -> anyhow::Result<hookgate::outbox::spool::Selection> {
        use hookgate::outbox::spool::{parse_key, Selection};
        if self.all {
            return Ok(Selection::All);
        }
        let keys = self
            .keys
            .iter()
            .map(|k| parse_key(k))
            .collect::<Result<_, _>>()?;
        Ok(Selection::Keys(keys))
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    logs::init(cli.log_format);
    match cli.command {
        Command::CheckConfig { config, online } => check_config::run(&config, online),
        Command::Healthcheck { config, url } => healthcheck::run(config.as_deref(), url.as_deref()),
        Command::Sign(args) => sign::run(&args),
        Command::Providers { markdown } => sign::providers(markdown),
        Command::Worker { config } => {
            let config = match WorkerConfig::load(&config) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            exit(runtime().and_then(|rt| rt.block_on(worker(config))))
        }
        Command::Subscribe {
            config,
            replay_from,
        } => {
            let config = match SubscribeConfig::load(&config) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            let options = hookgate::pubsub::Options { replay_from };
            exit(runtime().and_then(|rt| rt.block_on(subscribe(config, options))))
        }
        Command::Dlq { command } => {
            let path = match &command {
                DlqCommand::List { config, .. }
                | DlqCommand::Replay { config, .. }
                | DlqCommand::Purge { config } => config.clone(),
            };
            let config = match WorkerConfig::load(&path) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            exit(runtime().and_then(|rt| rt.block_on(dlq::run(config, command))))
        }
        Command::Spool { command } => {
            let config = match Config::load(command.config()) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            exit(spool(config, command))
        }
        Command::Serve { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            exit(serve(config))
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let running = hookgate::gateway::start(&config)
            .await
            .with_context(|| format!("starting from {}", config.file.display()))?;
        wait_for_signal().await?;
        tracing::info!("shutdown signal received; draining");
        running.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

fn config_error(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// The one tokio runtime builder, for `serve`, `worker` and the ops
/// commands: multi-threaded (one worker thread per core), I/O and timers on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn worker(config: WorkerConfig) -> anyhow::Result<()> {
    let file = config.file.clone();
    let running = hookgate::worker::start(config)
        .await
        .with_context(|| format!("starting the worker from {}", file.display()))?;
    wait_for_signal().await?;
    tracing::info!("shutdown signal received; finishing open batches");
    running.shutdown().await;
    tracing::info!("worker stopped");
    Ok(())
}

async fn subscribe(
    config: SubscribeConfig,
    options: hookgate::pubsub::Options,
) -> anyhow::Result<()> {
    let file = config.file.clone();
    let running = hookgate::pubsub::start(config, options)
        .await
        .with_context(|| format!("starting the subscriber from {}", file.display()))?;
    wait_for_signal().await?;
    tracing::info!("shutdown signal received; closing streams");
    running.shutdown().await;
    tracing::info!("subscriber stopped");
    Ok(())
}

fn spool(config: Config, command: SpoolCommand) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::time::Duration;

    use hookgate::outbox::spool::Spool;
    use hookgate::telemetry::metrics::Metrics;

    if !config.spool.enabled {
        anyhow::bail!("{}: spool.enabled is false", config.file.display());
    }
    let metrics = Arc::new(Metrics::new());
    let spool = Spool::open(&config.spool, metrics.clone())
        .with_context(|| format!("opening {}", config.spool.path.display()))?;
    let result = match command {
        SpoolCommand::Status { .. } => {
            let s = spool.status();
            println!("path: {}", spool.path().display());
            println!("messages: {}", s.messages);
            println!("bytes: {}", s.bytes);
            match s.oldest_age {
                Some(age) => println!("oldest_age_s: {:.3}", age.as_secs_f64()),
                None => println!("oldest_age_s: -"),
            }
            println!("quarantined: {}", s.quarantined);
            println!("quarantined_bytes: {}", s.quarantined_bytes);
            Ok(())
        }
        SpoolCommand::Drain {
            connect_timeout_s, ..
        } => runtime()?.block_on(async {
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let publisher =
                hookgate::broker::Publisher::start(config.amqp.clone(), metrics, stop_rx);
            let before = spool.status().messages;
            let result = hookgate::outbox::spool::drain_once(
                &spool,
                &publisher,
                Duration::from_secs(connect_timeout_s),
            )
            .await;
            let _ = stop.send(true);
            let d = result.context("draining the spool")?;
            let s = spool.status();
            println!(
                "forwarded {} of {before} spooled messages; {} quarantined; {} left",
                d.forwarded, d.quarantined, s.messages
            );
            Ok(())
        }),
        SpoolCommand::Quarantine { command } => quarantine(&spool, command),
    };
    spool.close();
    result
}

fn quarantine(
    spool: &hookgate::outbox::spool::Spool,
    command: QuarantineCommand,
) -> anyhow::Result<()> {
    match command {
        QuarantineCommand::List { json, .. } => {
            for q in spool.quarantined().context("reading the quarantine")? {
                if json {
                    println!("{}", serde_json::to_string(&q)?);
                } else {
                    println!("{q}");
                }
            }
        }
        QuarantineCommand::Requeue { select, .. } => {
            let selection = select.selection()?;
            let n = runtime()?
                .block_on(spool.requeue(selection))
                .context("requeueing")?;
            println!("requeued {n} entries to the spool");
        }
        QuarantineCommand::Purge { select, .. } => {
            let selection = select.selection()?;
            let n = runtime()?
                .block_on(spool.purge(selection))
                .context("purging")?;
            println!("purged {n} entries from the quarantine");
        }
    }
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
