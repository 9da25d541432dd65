//! The broker's own confirm ceiling (`scripts/bench.sh`, docs/performance.md):
//! a small lapin publisher that does what hookgate does per message (a
//! persistent, `mandatory` publish of hookgate's webhook message to a durable
//! topic exchange, waiting for the publisher confirm) with nothing else
//! around it. The `--exchange-kind`, `--no-mandatory`, `--no-properties`,
//! `--drop-header` and `--typed-time` flags send a part of that message
//! instead (examples/support/contract.rs): the message-contract A/B of
//! `scripts/bench.sh` step `contract`. With `--timeline FILE` it also writes,
//! per 50 ms of publish time, the messages published then and their confirm
//! latency p50/p99/max: where the stalls are.
//!
//! `run`: declares a unique durable topic exchange and `--queues` durable
//! queues (`classic`, `classic2` = classic with `x-queue-version` 2, or
//! `quorum`), then keeps `--in-flight` publishes outstanding for
//! `--duration-s` seconds, spread over `--channels` confirm-mode channels
//! (hookgate's `amqp.channels` default is 4). Each of the N senders publishes
//! one message and waits for its confirm before the next: the same shape as N
//! keep-alive HTTP clients in front of the gateway. With `--rate R` the
//! senders are paced to R messages/s in total (latency at a given load).
//! With one queue it is bound to `#`; with K queues queue `j` is bound to
//! `bench.q<j>` and the senders cycle the routing keys. Afterwards it checks
//! that the queues hold exactly the confirmed messages, deletes them and the
//! exchange, and prints one line:
//!
//! ```text
//! ceiling type=quorum queues=1 n=64 channels=4 size=1024 secs=15.00 confirmed=123456
//!   msgs_per_s=8230.4 p50_ms=7.61 p99_ms=15.20 p999_ms=21.02 max_ms=40.11 queued=123456 errors=0
//! ```
//!
//! `drain-count`: deletes queues (and an exchange) a gateway run used and prints
//! how many messages each held (`queue NAME messages N`, then `total N`).
//!
//! ```sh
//! cargo run --release --example confirm_ceiling -- run --url amqp://guest:guest@127.0.0.1:5672/%2f \
//!   --in-flight 64 --duration-s 15 --queue-type quorum --queues 1
//! ```
//! Use a broker you own (scripts/bench.sh starts a private node); on a shared
//! broker the names are unique and deleted afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties};

#[path = "support/contract.rs"]
mod contract;
use contract::{ContractArgs, ExchangeKind};

#[derive(Parser)]
#[command(about = "RabbitMQ publisher-confirm ceiling for persistent messages")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish with confirms for a fixed time and report the rate.
    Run(RunArgs),
    /// Delete queues (and optionally an exchange), printing their depth.
    DrainCount {
        /// AMQP URI.
        #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
        url: String,
        /// Queues to count and delete (repeatable).
        #[arg(long = "queue", required = true)]
        queues: Vec<String>,
        /// Exchange to delete afterwards.
        #[arg(long)]
        exchange: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueueKind {
    /// Classic queue (the broker's default version).
    Classic,
    /// Classic queue, `x-queue-version` 2 (RabbitMQ 3.10+).
    Classic2,
    /// Quorum queue (Raft log; one member on a single node).
    Quorum,
}

impl QueueKind {
    fn label(self) -> &'static str {
        match self {
            QueueKind::Classic => "classic",
            QueueKind::Classic2 => "classic2",
            QueueKind::Quorum => "quorum",
        }
    }
}

#[derive(Parser)]
struct RunArgs {
    /// AMQP URI.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// Publishes outstanding at once (each sender waits for its confirm).
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Confirm-mode channels the senders share.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// How long to publish, in seconds.
    #[arg(long, default_value_t = 15.0)]
    duration_s: f64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Queue type.
    #[arg(long, value_enum, default_value_t = QueueKind::Quorum)]
    queue_type: QueueKind,
    /// Number of queues the messages are spread over.
    #[arg(long, default_value_t = 1)]
    queues: usize,
    /// Total publish rate (messages/s); unpaced (as fast as confirms come) when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Name prefix of the exchange and queues (made unique with the pid and time).
    #[arg(long, default_value = "hgbench")]
    prefix: String,
    /// Keep the exchange and queues (default: deleted after the count).
    #[arg(long)]
    keep: bool,
    /// Write a timeline (per 50 ms of publish time: count, confirm latency
    /// p50/p99/max in ms) to this file.
    #[arg(long)]
    timeline: Option<std::path::PathBuf>,
    /// Which parts of hookgate's message to send.
    #[command(flatten)]
    contract: ContractArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::DrainCount {
            url,
            queues,
            exchange,
        } => drain_count(&url, &queues, exchange.as_deref()).await,
    }
}

async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(name));
    Connection::connect(url, props)
        .await
        .with_context(|| format!("connecting to {url}"))
}

async fn drain_count(url: &str, queues: &[String], exchange: Option<&str>) -> anyhow::Result<()> {
    let conn = connect(url, "confirm_ceiling drain-count").await?;
    let ch = conn.create_channel().await?;
    let mut total = 0u64;
    for q in queues {
        let n = ch
            .queue_delete(ShortString::from(q.as_str()), QueueDeleteOptions::default())
            .await
            .with_context(|| format!("deleting queue {q}"))?;
        println!("queue {q} messages {n}");
        total += u64::from(n);
    }
    if let Some(x) = exchange {
        ch.exchange_delete(ShortString::from(x), ExchangeDeleteOptions::default())
            .await
            .with_context(|| format!("deleting exchange {x}"))?;
    }
    println!("total {total}");
    let _ = conn.close(200, ShortString::from("done")).await;
    Ok(())
}

/// What every sender shares.
struct Shared {
    exchange: String,
    keys: Vec<String>,
    channels: Vec<Channel>,
    body: Vec<u8>,
    body_sha256: String,
    run_id: String,
    errors: AtomicU64,
    contract: ContractArgs,
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.in_flight == 0 || args.channels == 0 || args.queues == 0 {
        bail!("--in-flight, --channels and --queues must be positive");
    }
    let run_id = format!(
        "{}-{}-{}",
        args.prefix,
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 % 100_000_000
    );
    let kind = args.contract.exchange_kind;
    let exchange = if kind == ExchangeKind::Default {
        String::new()
    } else {
        format!("{run_id}.x")
    };
    let queue_names: Vec<String> = (0..args.queues).map(|j| format!("{run_id}.q{j}")).collect();
    let keys: Vec<String> = if kind == ExchangeKind::Default {
        queue_names.clone()
    } else {
        (0..args.queues).map(|j| format!("bench.q{j}")).collect()
    };

    let conn = connect(&args.url, "confirm_ceiling").await?;
    let setup = conn.create_channel().await?;
    contract::declare_exchange(&setup, &exchange, kind).await?;
    for (j, q) in queue_names.iter().enumerate() {
        let mut qargs = FieldTable::default();
        let queue_type = if args.queue_type == QueueKind::Quorum {
            "quorum"
        } else {
            "classic"
        };
        qargs.insert(
            ShortString::from("x-queue-type"),
            AMQPValue::LongString(LongString::from(queue_type)),
        );
        if args.queue_type == QueueKind::Classic2 {
            qargs.insert(
                ShortString::from("x-queue-version"),
                AMQPValue::LongLongInt(2),
            );
        }
        setup
            .queue_declare(
                ShortString::from(q.as_str()),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                qargs,
            )
            .await
            .with_context(|| format!("declaring queue {q}"))?;
        if kind == ExchangeKind::Default {
            continue;
        }
        let binding = if args.queues == 1 && kind == ExchangeKind::Topic {
            "#".to_string()
        } else {
            keys[j].clone()
        };
        setup
            .queue_bind(
                ShortString::from(q.as_str()),
                ShortString::from(exchange.as_str()),
                ShortString::from(binding.as_str()),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("binding queue {q}"))?;
    }

    let mut channels = Vec::with_capacity(args.channels);
    for _ in 0..args.channels {
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        channels.push(ch);
    }

    // A 1 KiB JSON-looking body, like a small webhook.
    let mut body = br#"{"bench":"confirm_ceiling","pad":""#.to_vec();
    while body.len() + 2 < args.size {
        body.push(b'x');
    }
    body.extend_from_slice(br#""}"#);
    body.truncate(args.size.max(1));

    let shared = Arc::new(Shared {
        exchange: exchange.clone(),
        keys,
        channels,
        body_sha256: if args.contract.needs_body_hash() {
            contract::sha256_hex(&body)
        } else {
            String::new()
        },
        body,
        run_id: run_id.clone(),
        errors: AtomicU64::new(0),
        contract: args.contract.clone(),
    });

    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let deadline = started + Duration::from_secs_f64(args.duration_s);
    // Per-sender interval when paced: N senders at R/N messages/s each.
    let interval = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(args.in_flight as f64 / r));
    let mut tasks = Vec::with_capacity(args.in_flight);
    for i in 0..args.in_flight {
        let shared = shared.clone();
        let offset = interval.map(|iv| iv.mul_f64(i as f64 / args.in_flight as f64));
        tasks.push(tokio::spawn(async move {
            sender(shared, i, started, deadline, interval, offset).await
        }));
    }
    let mut latencies: Vec<u32> = Vec::new();
    let mut samples: Vec<(u32, u32)> = Vec::new();
    let mut last_confirm = started;
    for t in tasks {
        let (lat, last) = t.await.context("sender task")?;
        if args.timeline.is_some() {
            samples.extend(lat.iter().copied());
        }
        latencies.extend(lat.into_iter().map(|(_, l)| l));
        last_confirm = last_confirm.max(last);
    }
    if let Some(path) = &args.timeline {
        write_timeline(path, started_unix, samples)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let secs = last_confirm.duration_since(started).as_secs_f64().max(1e-9);
    latencies.sort_unstable();
    let confirmed = latencies.len() as u64;

    // The queues must hold exactly what was confirmed.
    let mut queued = 0u64;
    for q in &queue_names {
        let depth = setup
            .queue_declare(
                ShortString::from(q.as_str()),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("counting queue {q}"))?
            .message_count();
        queued += u64::from(depth);
    }
    if !args.keep {
        for q in &queue_names {
            let _ = setup
                .queue_delete(ShortString::from(q.as_str()), QueueDeleteOptions::default())
                .await;
        }
    }
    if !args.keep && kind != ExchangeKind::Default {
        let _ = setup
            .exchange_delete(
                ShortString::from(exchange.as_str()),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }
    let _ = conn.close(200, ShortString::from("done")).await;

    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
        f64::from(latencies[idx.min(latencies.len() - 1)]) / 1000.0
    };
    println!(
        "ceiling type={} queues={} n={} channels={} size={} rate_target={} secs={:.2} \
         confirmed={} msgs_per_s={:.1} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} \
         queued={} errors={}",
        args.queue_type.label(),
        args.queues,
        args.in_flight,
        args.channels,
        args.size,
        args.rate
            .map_or_else(|| "max".to_string(), |r| format!("{r:.0}")),
        secs,
        confirmed,
        confirmed as f64 / secs,
        pct(50.0),
        pct(99.0),
        pct(99.9),
        pct(100.0),
        queued,
        shared.errors.load(Ordering::Relaxed),
    );
    if queued != confirmed {
        bail!("the queues hold {queued} messages but {confirmed} were confirmed");
    }
    Ok(())
}

/// Writes `samples` ((publish time, confirm latency) in µs since the start,
/// which was `started_unix` (Unix seconds)) as one line per 50 ms:
/// `unix_s t_s count p50_ms p99_ms max_ms`.
fn write_timeline(
    path: &std::path::Path,
    started_unix: f64,
    mut samples: Vec<(u32, u32)>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    const BUCKET_US: u32 = 50_000;
    samples.sort_unstable();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "# unix_s t_s count p50_ms p99_ms max_ms (per 50 ms of publish time)"
    )?;
    let mut i = 0;
    while i < samples.len() {
        let bucket = samples[i].0 / BUCKET_US;
        let mut lat: Vec<u32> = Vec::new();
        while i < samples.len() && samples[i].0 / BUCKET_US == bucket {
            lat.push(samples[i].1);
            i += 1;
        }
        lat.sort_unstable();
        let at = |p: f64| f64::from(lat[((p * (lat.len() - 1) as f64).round()) as usize]) / 1000.0;
        let t = f64::from(bucket * BUCKET_US) / 1e6;
        writeln!(
            out,
            "{:.3} {t:.2} {} {:.2} {:.2} {:.2}",
            started_unix + t,
            lat.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        )?;
    }
    out.flush()
}

/// One sender: publish, wait for the confirm, repeat until the deadline.
/// Returns its (publish time since the start, confirm latency) pairs in
/// microseconds and when its last confirm came.
async fn sender(
    shared: Arc<Shared>,
    i: usize,
    started: Instant,
    deadline: Instant,
    interval: Option<Duration>,
    offset: Option<Duration>,
) -> (Vec<(u32, u32)>, Instant) {
    let channel = &shared.channels[i % shared.channels.len()];
    let mut latencies = Vec::with_capacity(4096);
    let mut last = started;
    let mut next = started + offset.unwrap_or_default();
    let mut n = 0u64;
    loop {
        if let Some(iv) = interval {
            let now = Instant::now();
            if next > now {
                tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
            }
            next += iv;
        }
        if Instant::now() >= deadline {
            break;
        }
        let key = &shared.keys[(i + n as usize) % shared.keys.len()];
        let id = format!("{}-{i}-{n}", shared.run_id);
        n += 1;
        let t0 = Instant::now();
        let ok = publish_one(&shared, channel, key, &id).await;
        let done = Instant::now();
        if ok {
            let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
            latencies.push((us(t0.duration_since(started)), us(done.duration_since(t0))));
            last = done;
        } else {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    (latencies, last)
}

/// Publishes one persistent message (hookgate's, or the part of it
/// `shared.contract` selects) and waits for its confirm; true on a plain ack.
async fn publish_one(shared: &Shared, channel: &Channel, key: &str, id: &str) -> bool {
    let now = time::OffsetDateTime::now_utc();
    let props = shared
        .contract
        .properties(id, key, now, &shared.body_sha256);
    let confirm = channel
        .basic_publish(
            ShortString::from(shared.exchange.as_str()),
            ShortString::from(key),
            BasicPublishOptions {
                mandatory: shared.contract.mandatory(),
                ..BasicPublishOptions::default()
            },
            &shared.body,
            props,
        )
        .await;
    match confirm {
        Ok(c) => matches!(c.await, Ok(Confirmation::Ack(None))),
        Err(_) => false,
    }
}
