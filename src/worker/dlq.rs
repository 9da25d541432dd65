//! `hookgate dlq list|replay|purge`: operate the dead-letter queue.
//!
//! - list: counts by reason (the code before `:` in `x-hookgate-error`) and
//!   work queue, without consuming (messages are requeued).
//! - replay: moves messages back to the work queue they came from
//!   (`x-hookgate-queue`), attempt reset to 1, error header dropped; each is
//!   published with a confirm before it is acked in the dead-letter queue.
//! - purge: deletes every message of the dead-letter queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueuePurgeOptions};
use lapin::types::{AMQPValue, ShortString};

use super::consume::{self, ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER};
use crate::broker::connect::{Link, Live};
use crate::broker::{self, ConnectError, Publisher};
use crate::config::worker::WorkerConfig;

/// Why a `dlq` command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No broker connection.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// An AMQP operation failed (get, ack, nack, purge).
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    /// A replayed message was not confirmed (it stays in the dead-letter
    /// queue).
    #[error(transparent)]
    Publish(#[from] broker::Error),
}

/// What `list` found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Messages looked at.
    pub total: u64,
    /// Count by (reason code, work queue).
    pub by_reason: BTreeMap<(String, String), u64>,
}

/// The next dead-lettered message, unacked (`None` when the queue is empty).
async fn next(
    ch: &lapin::Channel,
    config: &WorkerConfig,
) -> Result<Option<lapin::message::BasicGetMessage>, lapin::Error> {
    ch.basic_get(
        ShortString::from(config.worker.dead_letter_queue.as_str()),
        BasicGetOptions { no_ack: false },
    )
    .await
}

/// One connection for one command (no topology: the worker declared it).
async fn connect(config: &WorkerConfig) -> Result<(Link, Arc<Live>), Error> {
    let link = Link::open(config.amqp.clone(), "hookgate dlq", Arc::new(())).await?;
    let live = link.live().ok_or(broker::Error::NotConnected)?;
    Ok((link, live))
}

/// Counts dead-lettered messages by reason (up to `limit`), leaving them in
/// the queue.
///
/// # Errors
/// [`Error`].
pub async fn list(config: &WorkerConfig, limit: u64) -> Result<Listing, Error> {
    let (link, live) = connect(config).await?;
    let ch = live.connection.create_channel().await?;
    let mut held = Vec::new();
    let mut out = Listing::default();
    while out.total < limit {
        let Some(m) = next(&ch, config).await? else {
            break;
        };
        let reason = consume::header(&m.delivery, ERROR_HEADER)
            .map(|e| e.split(':').next().unwrap_or_default().trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let queue = consume::header(&m.delivery, QUEUE_HEADER).unwrap_or_else(|| "-".into());
        *out.by_reason.entry((reason, queue)).or_insert(0) += 1;
        out.total += 1;
        held.push(m);
    }
    for m in held {
        m.delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await?;
    }
    link.close("dlq list").await;
    Ok(out)
}

/// Moves up to `limit` messages back to their work queues; returns how many.
///
/// # Errors
/// [`Error`]; messages already moved stay moved, the current one stays
/// in the dead-letter queue.
pub async fn replay(config: &WorkerConfig, limit: u64, progress: bool) -> Result<u64, Error> {
    let (link, live) = connect(config).await?;
    let get = live.connection.create_channel().await?;
    let publisher = Publisher::on(link.clone());
    let bar = if progress {
        let b = ProgressBar::new(limit.min(1_000_000));
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} replayed {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut moved = 0u64;
    while moved < limit {
        let Some(m) = next(&get, config).await? else {
            break;
        };
        let target = consume::header(&m.delivery, QUEUE_HEADER)
            .unwrap_or_else(|| config.worker.queues[0].clone());
        consume::republish(
            &publisher,
            &m.delivery,
            &target,
            &[(ATTEMPT_HEADER, AMQPValue::LongLongInt(1))],
            &[ERROR_HEADER, QUEUE_HEADER],
        )
        .await?;
        m.delivery.ack(BasicAckOptions::default()).await?;
        moved += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    link.close("dlq replay").await;
    Ok(moved)
}

/// Deletes every message of the dead-letter queue; returns how many.
///
/// # Errors
/// [`Error`].
pub async fn purge(config: &WorkerConfig) -> Result<u32, Error> {
    let (link, live) = connect(config).await?;
    let ch = live.connection.create_channel().await?;
    let n = ch
        .queue_purge(
            ShortString::from(config.worker.dead_letter_queue.as_str()),
            QueuePurgeOptions::default(),
        )
        .await?;
    link.close("dlq purge").await;
    Ok(n)
}
