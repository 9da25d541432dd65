//! Per-message decisions and batch flushing.
//!
//! ```text
//! delivery -> action match (none: dead-letter "unmatched")
//!          -> build write (bad body / missing pointer: dead-letter at once)
//!          -> claim its idempotency key (done: ack as duplicate; in progress:
//!             retry later)
//!          -> batch by (operation, sObject); flush at batch_size or batch_linger_ms
//! flush    -> one sObject Collections call -> per record:
//!             ok: mark done, ack | retryable: retry queue (attempt+1) or, past
//!             max_attempts, dead-letter | permanent: dead-letter with the reason
//! ```
//! A message is acked only after its outcome is decided: marked done,
//! dead-lettered (confirmed) or handed to a retry queue (confirmed).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::types::{AMQPValue, LongString};

use super::action::{self, Pattern, Write};
use super::consume::{self, ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER};
use super::dedupe::{Claim, Store};
use super::metrics::Metrics;
use crate::broker::Publisher;
use crate::config::worker::{ActionConfig, WorkerConfig};
use crate::salesforce::rest::{ApiError, Client, Outcome};

/// Shared state of a worker session.
pub struct Ctx {
    /// Validated config.
    pub config: WorkerConfig,
    /// Actions with parsed patterns.
    pub actions: Vec<(Pattern, ActionConfig)>,
    /// Idempotency store.
    pub store: Store,
    /// Salesforce client.
    pub client: Arc<Client>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// A failure that ends the session (the channel is unusable); unacked
/// deliveries return to their queues.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// AMQP failure (consume, ack).
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    /// A retry or dead-letter publish was not confirmed.
    #[error(transparent)]
    Publish(#[from] crate::broker::Error),
    /// The idempotency store failed.
    #[error(transparent)]
    Store(#[from] super::dedupe::Error),
}

/// One message waiting in a batch.
pub struct Pending {
    delivery: Delivery,
    queue: Arc<str>,
    /// What the idempotency store claimed ([`consume::idempotency_key`]).
    key: String,
    attempt: u32,
    write: Write,
}

struct Batch {
    started: Instant,
    items: Vec<Pending>,
    records: HashSet<String>,
}

/// Open batches by (operation, sObject, external id field).
#[derive(Default)]
pub struct Batcher {
    batches: HashMap<(String, Option<String>), Batch>,
}

impl Batcher {
    /// When the oldest open batch is due.
    pub fn next_deadline(&self, linger: Duration) -> Option<tokio::time::Instant> {
        self.batches
            .values()
            .map(|b| tokio::time::Instant::from_std(b.started + linger))
            .min()
    }

    /// Idempotency keys held (to release their claims when a session ends).
    pub fn held_ids(&self) -> Vec<String> {
        self.batches
            .values()
            .flat_map(|b| b.items.iter().map(|p| p.key.clone()))
            .collect()
    }

    /// Flushes batches older than `linger`.
    ///
    /// # Errors
    /// [`SessionError`] when acking or republishing failed.
    pub async fn flush_due(
        &mut self,
        ctx: &Ctx,
        publisher: &Publisher,
    ) -> Result<(), SessionError> {
        let linger = ctx.config.linger();
        let due: Vec<_> = self
            .batches
            .iter()
            .filter(|(_, b)| b.started.elapsed() >= linger)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some(b) = self.batches.remove(&k) {
                flush(ctx, publisher, b).await?;
            }
        }
        Ok(())
    }

    /// Flushes everything (shutdown).
    ///
    /// # Errors
    /// [`SessionError`] when acking or republishing failed.
    pub async fn flush_all(
        &mut self,
        ctx: &Ctx,
        publisher: &Publisher,
    ) -> Result<(), SessionError> {
        let all: Vec<_> = self.batches.drain().map(|(_, b)| b).collect();
        for b in all {
            flush(ctx, publisher, b).await?;
        }
        Ok(())
    }
}

/// Decides what to do with one delivery.
///
/// # Errors
/// [`SessionError`] when acking, republishing or the store failed.
pub async fn handle(
    ctx: &Ctx,
    publisher: &Publisher,
    batcher: &mut Batcher,
    queue: Arc<str>,
    delivery: Delivery,
) -> Result<(), SessionError> {
    let message_id = message_id(&delivery);
    let attempt = consume::attempt(&delivery);
    let write = match build(ctx, &delivery, &message_id) {
        Ok(w) => w,
        Err((reason, label)) => {
            return dead_letter(ctx, publisher, &delivery, &queue, attempt, &reason, label).await;
        }
    };
    let key = consume::idempotency_key(&delivery, &message_id);
    if !claim(ctx, publisher, &delivery, &queue, &key).await? {
        return Ok(());
    }
    let pending = Pending {
        delivery,
        queue,
        key,
        attempt,
        write,
    };
    enqueue(ctx, publisher, batcher, pending).await
}

/// The message's id: its AMQP `message_id`, else the hash of its body, so
/// a message published without one still has a stable idempotency key.
fn message_id(delivery: &Delivery) -> String {
    delivery
        .properties
        .message_id()
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_else(|| crate::verify::body_hash_id(&delivery.data))
}

/// Matches the routing key to an action and builds its write. Err: the
/// reason and label to dead-letter with at once (no action matches, or the
/// body does not fit the action: no retry can fix either).
fn build(
    ctx: &Ctx,
    delivery: &Delivery,
    message_id: &str,
) -> Result<Write, (ApiError, &'static str)> {
    let routing_key = consume::routing_key(delivery);
    let Some((_, action)) = ctx.actions.iter().find(|(p, _)| p.matches(&routing_key)) else {
        ctx.metrics.unmatched.inc();
        tracing::warn!(%routing_key, "no [[worker.actions]] matches");
        let reason = ApiError {
            code: "unmatched".into(),
            message: String::new(),
        };
        return Err((reason, "unmatched"));
    };
    let received_at =
        consume::header(delivery, crate::envelope::RECEIVED_AT_HEADER).unwrap_or_default();
    action::build(
        action,
        &delivery.data,
        &action::Context {
            message_id,
            received_at: &received_at,
        },
    )
    .map_err(|e| {
        let reason = ApiError {
            code: "malformed".into(),
            message: e.to_string(),
        };
        (reason, "malformed")
    })
}

/// Claims the idempotency key: true when this worker is to apply the
/// message. Otherwise the delivery is settled here: acked as a duplicate
/// when it was done, or handed to the first retry queue (no attempt spent)
/// while another worker applies it.
async fn claim(
    ctx: &Ctx,
    publisher: &Publisher,
    delivery: &Delivery,
    queue: &str,
    key: &str,
) -> Result<bool, SessionError> {
    match ctx.store.claim(key).await? {
        Claim::Done => {
            ctx.metrics.duplicates.inc();
            delivery.ack(BasicAckOptions::default()).await?;
            Ok(false)
        }
        Claim::InProgress => {
            // Another worker is applying it now: look again after a delay,
            // without spending an attempt.
            let delay = ctx.config.worker.retry_delays_s[0];
            consume::republish(
                publisher,
                delivery,
                &consume::retry_queue(queue, delay),
                &[],
                &[],
            )
            .await?;
            delivery.ack(BasicAckOptions::default()).await?;
            Ok(false)
        }
        Claim::Acquired => Ok(true),
    }
}

/// Adds the message to the batch of its (operation, sObject), flushing
/// that batch first when it already writes the same record (two writes to
/// one record never share a call) and after, when it is full.
async fn enqueue(
    ctx: &Ctx,
    publisher: &Publisher,
    batcher: &mut Batcher,
    pending: Pending,
) -> Result<(), SessionError> {
    let batch_key = pending.write.batch_key();
    let record = pending.write.record_key();
    if batcher
        .batches
        .get(&batch_key)
        .is_some_and(|b| b.records.contains(&record))
    {
        if let Some(b) = batcher.batches.remove(&batch_key) {
            flush(ctx, publisher, b).await?;
        }
    }
    let batch = batcher
        .batches
        .entry(batch_key.clone())
        .or_insert_with(|| Batch {
            started: Instant::now(),
            items: Vec::new(),
            records: HashSet::new(),
        });
    batch.records.insert(record);
    batch.items.push(pending);
    if batch.items.len() >= ctx.config.worker.batch_size {
        if let Some(b) = batcher.batches.remove(&batch_key) {
            flush(ctx, publisher, b).await?;
        }
    }
    Ok(())
}

/// Waits while the org's API usage is over `max_api_usage`, then lets one
/// call through (its answer refreshes the reading).
async fn respect_budget(ctx: &Ctx) {
    let max = ctx.config.salesforce.max_api_usage;
    if let Some(u) = ctx.client.usage() {
        ctx.metrics.api_usage_ratio.set(u.ratio());
        if u.ratio() > max {
            tracing::warn!(
                used = u.used,
                limit = u.limit,
                "API usage over max_api_usage: pausing consumption"
            );
            ctx.metrics.paused.set(1);
            tokio::time::sleep(Duration::from_secs(ctx.config.worker.budget_pause_s)).await;
            ctx.metrics.paused.set(0);
        }
    }
}

async fn flush(ctx: &Ctx, publisher: &Publisher, batch: Batch) -> Result<(), SessionError> {
    respect_budget(ctx).await;
    let records: Vec<serde_json::Value> = batch.items.iter().map(|p| p.write.record()).collect();
    ctx.metrics.records_per_call.observe(records.len() as f64);
    let outcome = match &batch.items[0].write {
        Write::Update { .. } => ctx.client.update(&records).await,
        Write::Upsert {
            sobject,
            external_id_field,
            ..
        } => {
            ctx.client
                .upsert(sobject, external_id_field, &records)
                .await
        }
    };
    if let Some(u) = ctx.client.usage() {
        ctx.metrics.api_usage_ratio.set(u.ratio());
    }
    let results: Vec<Result<(), ApiError>> = match outcome {
        Outcome::Records(r) => r,
        Outcome::Failed(e) => {
            tracing::warn!(error = %e, records = batch.items.len(), "collections call failed");
            vec![Err(e); batch.items.len()]
        }
    };
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (p, r) in batch.items.into_iter().zip(results) {
        match r {
            Ok(()) => done.push(p),
            Err(e) => failed.push((p, e)),
        }
    }
    ctx.store
        .done(done.iter().map(|p| p.key.clone()).collect())
        .await?;
    for p in &done {
        p.delivery.ack(BasicAckOptions::default()).await?;
    }
    ctx.metrics.processed.inc_by(done.len() as u64);
    ctx.store
        .release(failed.iter().map(|(p, _)| p.key.clone()).collect())
        .await?;
    for (p, e) in failed {
        if e.retryable() {
            retry(ctx, publisher, &p, &e).await?;
        } else {
            dead_letter(
                ctx,
                publisher,
                &p.delivery,
                &p.queue,
                p.attempt,
                &e,
                &e.code,
            )
            .await?;
        }
    }
    ctx.metrics
        .batch_latency
        .observe(batch.started.elapsed().as_secs_f64());
    Ok(())
}

async fn retry(
    ctx: &Ctx,
    publisher: &Publisher,
    p: &Pending,
    e: &ApiError,
) -> Result<(), SessionError> {
    let w = &ctx.config.worker;
    if p.attempt >= w.max_attempts {
        let reason = ApiError {
            code: e.code.clone(),
            message: format!("gave up after {} attempts: {}", p.attempt, e.message),
        };
        return dead_letter(
            ctx,
            publisher,
            &p.delivery,
            &p.queue,
            p.attempt,
            &reason,
            "max_attempts",
        )
        .await;
    }
    let idx = (p.attempt as usize - 1).min(w.retry_delays_s.len() - 1);
    let target = consume::retry_queue(&p.queue, w.retry_delays_s[idx]);
    consume::republish(
        publisher,
        &p.delivery,
        &target,
        &[
            (
                ATTEMPT_HEADER,
                AMQPValue::LongLongInt(i64::from(p.attempt) + 1),
            ),
            (
                ERROR_HEADER,
                AMQPValue::LongString(LongString::from(e.to_string())),
            ),
        ],
        &[],
    )
    .await?;
    p.delivery.ack(BasicAckOptions::default()).await?;
    ctx.metrics.retried.inc();
    Ok(())
}

async fn dead_letter(
    ctx: &Ctx,
    publisher: &Publisher,
    d: &Delivery,
    queue: &str,
    attempt: u32,
    e: &ApiError,
    reason: &str,
) -> Result<(), SessionError> {
    tracing::warn!(routing_key = %consume::routing_key(d), error = %e, "dead-lettering");
    consume::republish(
        publisher,
        d,
        &ctx.config.worker.dead_letter_queue,
        &[
            (
                ERROR_HEADER,
                AMQPValue::LongString(LongString::from(e.to_string())),
            ),
            (QUEUE_HEADER, AMQPValue::LongString(LongString::from(queue))),
            (ATTEMPT_HEADER, AMQPValue::LongLongInt(i64::from(attempt))),
        ],
        &[],
    )
    .await?;
    d.ack(BasicAckOptions::default()).await?;
    ctx.metrics.dead_letter(reason);
    Ok(())
}
