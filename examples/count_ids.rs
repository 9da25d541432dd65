//! Counts the messages of a queue by `message_id` and compares them with the
//! ids a load generator saw accepted (`examples/outage_load.rs`): consumes
//! (and acks) the whole queue, so run it on a queue you own.
//!
//! ```sh
//! cargo run --release --example count_ids -- --url amqp://guest:guest@127.0.0.1:5672/%2f \
//!   --queue hookgate.outage --accepted /tmp/accepted.txt
//! ```
//! Prints `messages`, `distinct_ids`, `accepted`, `lost` (accepted ids not
//! found), `duplicates` (messages beyond the first of each id) and
//! `unacknowledged_found` (ids found that were not answered 2xx, e.g. in
//! flight when the gateway was killed). Exits 1 when anything was lost.
//! Stops once the queue is empty and no message came for `--idle-ms`, or
//! at `--timeout-s`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use futures_util::StreamExt as _;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Connection, ConnectionProperties};

#[derive(Parser)]
#[command(about = "Count a queue's messages by message_id against accepted ids")]
struct Args {
    /// AMQP URI.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// Queue to consume.
    #[arg(long)]
    queue: String,
    /// File of accepted ids, one a line.
    #[arg(long)]
    accepted: PathBuf,
    /// Quiet time after which the queue is considered drained.
    #[arg(long, default_value_t = 2000)]
    idle_ms: u64,
    /// Overall limit.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let accepted: HashSet<String> = std::fs::read_to_string(&args.accepted)
        .with_context(|| format!("reading {}", args.accepted.display()))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let conn = Connection::connect(&args.url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let depth = ch
        .queue_declare(
            ShortString::from(args.queue.as_str()),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("queue {}", args.queue))?
        .message_count();
    ch.basic_qos(2000, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            ShortString::from(args.queue.as_str()),
            ShortString::from("count_ids"),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_s);
    let idle = Duration::from_millis(args.idle_ms);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    loop {
        let until = deadline.min(tokio::time::Instant::now() + idle);
        match tokio::time::timeout_at(until, consumer.next()).await {
            Ok(Some(d)) => {
                let d = d?;
                let id = d
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                *seen.entry(id).or_default() += 1;
                total += 1;
            }
            Ok(None) => break,
            Err(_) if total >= u64::from(depth) => break,
            Err(_) if tokio::time::Instant::now() >= deadline => {
                eprintln!("count_ids: timed out with {total} of {depth} messages read");
                break;
            }
            // Fewer than the depth reported at the start: keep waiting.
            Err(_) => {}
        }
    }
    let _ = conn.close(200, ShortString::from("count_ids done")).await;

    let mut lost: Vec<&String> = accepted
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    lost.sort();
    let unacked_found = seen.keys().filter(|id| !accepted.contains(*id)).count();
    println!("queue_depth_at_start {depth}");
    println!("messages {total}");
    println!("distinct_ids {}", seen.len());
    println!("accepted {}", accepted.len());
    println!("lost {}", lost.len());
    println!("duplicates {}", total - seen.len() as u64);
    println!("unacknowledged_found {unacked_found}");
    if !lost.is_empty() {
        for id in lost.iter().take(10) {
            println!("lost_id {id}");
        }
        std::process::exit(1);
    }
    Ok(())
}
