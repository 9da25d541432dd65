//! Per-message decisions and batch flushing.
//!
//! ```text
//! delivery -> action match (none: dead-letter "unmatched")
//!          -> its org ([`super::org::route`]; none: dead-letter "unknown_org";
//!             loop guard: ack, no write)
//!          -> build write (bad body / missing pointer: dead-letter at once)
//!          -> claim its idempotency key (done: ack as duplicate; in progress:
//!             retry later)
//!          -> fit to the describe (a value that cannot fit: dead-letter)
//!          -> batch by (org, operation, sObject, external id field); close
//!             at batch_size or batch_linger_ms and hand to the org's lane
//! lane     -> ([`super::lane`]) one sObject Collections call (a whole-request refusal one
//!             record caused is narrowed down: [`super::isolate`]) -> per record:
//!             ok: mark done, ack | retryable: retry queue (attempt+1) or, past
//!             max_attempts, dead-letter | permanent: dead-letter with the reason
//! ```
//! A message is acked only after its outcome is decided: marked done,
//! dead-lettered (confirmed) or handed to a retry queue (confirmed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::BasicAckOptions;

use super::action::{self, BatchKey, Write};
use super::batch::{Batch, Pending};
use super::consume;
use super::ctx::{Ctx, SessionError};
use super::dedupe::Claim;
use super::lane::Lanes;
use super::org::{self, Origin};
use super::settle::dead_letter;
use crate::broker::Publisher;
use crate::salesforce::rest::ApiError;

/// Where closed batches go: the org lanes, and the publisher for the
/// messages settled at once (dead-letter, retry later).
pub(crate) struct Sink<'a> {
    /// Shared state.
    pub(crate) ctx: &'a Ctx,
    /// Retry and dead-letter publishes.
    pub(crate) publisher: &'a Publisher,
    /// The org lanes.
    pub(crate) lanes: &'a Lanes,
}

impl Sink<'_> {
    async fn submit(&self, org: usize, batch: Batch) -> Result<(), SessionError> {
        self.lanes
            .submit(self.ctx, self.publisher, org, batch)
            .await
    }
}

/// What a delivery becomes.
enum Built {
    /// A write to org `.0`; `.2`: fitted to the org's describe.
    Write(usize, Write, bool),
    /// Acked without a write: the loop guard.
    LoopGuard,
}

/// Open batches by (org, operation, sObject, external id field).
#[derive(Default)]
pub(crate) struct Batcher {
    batches: HashMap<(usize, BatchKey), Batch>,
    /// A backlog is being gathered ([`super::bulk`]): batches opened now
    /// are gathering batches.
    pub(crate) gathering: bool,
}

/// When `b` is due: `linger` after its first write, or, gathering,
/// `gather_linger` after its last.
fn due_at(b: &Batch, linger: Duration, gather_linger: Duration) -> std::time::Instant {
    if b.gather {
        b.last + gather_linger
    } else {
        b.started + linger
    }
}

/// How soon a due batch whose lane has no room is looked at again.
const LANE_FULL_RECHECK: Duration = Duration::from_millis(20);

impl Batcher {
    /// When the first open batch is due: its linger is over and its org's
    /// lane can take it. A batch whose lane is busy keeps filling (a
    /// backlog then goes out in full calls, not in the pieces that came
    /// while the lane was busy) and is looked at again shortly.
    pub(crate) fn next_deadline(&self, sink: &Sink<'_>) -> Option<tokio::time::Instant> {
        let (linger, gather_linger) = (sink.ctx.config.linger(), sink.ctx.config.gather_linger());
        let now = std::time::Instant::now();
        self.batches
            .iter()
            .map(|((org, _), b)| {
                let due = due_at(b, linger, gather_linger);
                if due <= now && !sink.lanes.ready(sink.ctx, *org) {
                    now + LANE_FULL_RECHECK
                } else {
                    due
                }
            })
            .map(tokio::time::Instant::from_std)
            .min()
    }

    /// Whether a gathering batch is open.
    pub(crate) fn gathers(&self) -> bool {
        self.batches.values().any(|b| b.gather)
    }

    /// Idempotency keys held (to release their claims when a session ends).
    pub(crate) fn held_ids(&self) -> Vec<String> {
        self.batches
            .values()
            .flat_map(|b| b.items.iter().map(|p| p.key.clone()))
            .collect()
    }

    /// Flushes the batches that are due ([`Batcher::next_deadline`]).
    ///
    /// # Errors
    /// [`SessionError`] when acking or republishing failed.
    pub(crate) async fn flush_due(&mut self, sink: &Sink<'_>) -> Result<(), SessionError> {
        let (linger, gather_linger) = (sink.ctx.config.linger(), sink.ctx.config.gather_linger());
        let now = std::time::Instant::now();
        let due: Vec<_> = self
            .batches
            .iter()
            .filter(|((org, _), b)| {
                due_at(b, linger, gather_linger) <= now && sink.lanes.ready(sink.ctx, *org)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some(b) = self.batches.remove(&k) {
                sink.submit(k.0, b).await?;
            }
        }
        Ok(())
    }

    /// Flushes everything (shutdown).
    ///
    /// # Errors
    /// [`SessionError`] when acking or republishing failed.
    pub(crate) async fn flush_all(&mut self, sink: &Sink<'_>) -> Result<(), SessionError> {
        // One at a time: after a failure the rest stay held (their claims
        // are released when the session ends).
        while let Some(k) = self.batches.keys().next().cloned() {
            if let Some(b) = self.batches.remove(&k) {
                sink.submit(k.0, b).await?;
            }
        }
        Ok(())
    }
}

/// Decides what to do with one delivery.
///
/// # Errors
/// [`SessionError`] when acking, republishing or the store failed.
pub(crate) async fn handle(
    sink: &Sink<'_>,
    batcher: &mut Batcher,
    queue: Arc<str>,
    delivery: Delivery,
) -> Result<(), SessionError> {
    let (ctx, publisher) = (sink.ctx, sink.publisher);
    let message_id = message_id(&delivery);
    let attempt = consume::attempt(&delivery);
    let (org, write, prepared) = match build(ctx, &delivery, &message_id) {
        Ok(Built::Write(org, w, prepared)) => (org, w, prepared),
        Ok(Built::LoopGuard) => {
            delivery.ack(BasicAckOptions::default()).await?;
            ctx.metrics.skip("loop_guard");
            return Ok(());
        }
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
        prepared,
    };
    enqueue(sink, batcher, org, pending).await
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

/// Matches the routing key to an action, finds its org and builds its
/// write. Err: the reason and label to dead-letter with at once (no action
/// matches, no such org, or the body does not fit the action: no retry can
/// fix any of them).
fn build(
    ctx: &Ctx,
    delivery: &Delivery,
    message_id: &str,
) -> Result<Built, (ApiError, &'static str)> {
    let routing_key = consume::routing_key(delivery);
    let Some((_, action)) = ctx.actions.iter().find(|(p, _)| p.matches(&routing_key)) else {
        ctx.metrics.unmatched.inc();
        tracing::warn!(%routing_key, "no [[worker.actions]] matches");
        let reason = ApiError::new("unmatched", "");
        return Err((reason, "unmatched"));
    };
    let origin = Origin::of(&delivery.data);
    let Some(org) = org::route(&ctx.config.orgs, action, &origin) else {
        let id = origin.organization_id.as_deref().unwrap_or("none");
        let reason = ApiError::new(
            "unknown_org",
            format!("no configured org for organization_id {id}"),
        );
        return Err((reason, "unknown_org"));
    };
    let Some(o) = ctx.orgs.get(org) else {
        return Err((ApiError::new("unknown_org", ""), "unknown_org"));
    };
    if org::loop_guarded(&o.config, action, &origin) {
        tracing::debug!(%routing_key, org = %o.config.name, "loop guard: last modified by the integration user");
        return Ok(Built::LoopGuard);
    }
    let received_at =
        consume::header(delivery, crate::envelope::RECEIVED_AT_HEADER).unwrap_or_default();
    let mut write = action::build(
        action,
        &delivery.data,
        &action::Context {
            message_id,
            received_at: &received_at,
        },
    )
    .map_err(|e| {
        let reason = ApiError::new("malformed", e.to_string());
        (reason, "malformed")
    })?;
    let prepared = match o.schema.get() {
        Some(schema) => {
            schema
                .prepare(&mut write)
                .map_err(|reason| (reason, "malformed"))?;
            true
        }
        None => false,
    };
    Ok(Built::Write(org, write, prepared))
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

/// Adds the message to the batch of its (org, operation, sObject), closing
/// that batch first when it already writes the same record (two writes to
/// one record never share a call; a gathering batch keeps them, in order,
/// and its lane splits them) and after, when it is full.
async fn enqueue(
    sink: &Sink<'_>,
    batcher: &mut Batcher,
    org: usize,
    pending: Pending,
) -> Result<(), SessionError> {
    let batch_key = (org, pending.write.batch_key());
    let record = pending.write.record_key();
    if batcher
        .batches
        .get(&batch_key)
        .is_some_and(|b| !b.gather && b.records.contains(&record))
    {
        if let Some(b) = batcher.batches.remove(&batch_key) {
            sink.submit(org, b).await?;
        }
    }
    let gathering = batcher.gathering;
    let batch = batcher
        .batches
        .entry(batch_key.clone())
        .or_insert_with(|| Batch::new(gathering));
    batch.records.insert(record);
    batch.items.push(pending);
    batch.last = std::time::Instant::now();
    let w = &sink.ctx.config.worker;
    let size = match batch.gather {
        true => w.bulk.max_records_per_job,
        false => w.batch_size,
    };
    if batch.items.len() >= size {
        if let Some(b) = batcher.batches.remove(&batch_key) {
            sink.submit(org, b).await?;
        }
    }
    Ok(())
}
