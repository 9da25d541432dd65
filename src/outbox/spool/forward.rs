//! Draining the spool to RabbitMQ: oldest first, one outcome per entry.
//!
//! ```text
//! round: publish the oldest BATCH with confirms, then in one commit:
//!   confirmed                    -> delete the entry
//!   Nack, Returned               -> the broker refused this message: one failed
//!                                   attempt against it; the quarantine_after-th
//!                                   moves it to the quarantine
//!   NotConnected, Blocked,
//!   Channel, Timeout             -> the connection's trouble: kept, not counted
//! loop:
//!   nothing committed to read    -> wait for a commit (writes counted, not committed)
//!   a round with any failure     -> back off: jittered exponential, 0.5 s .. 30 s
//!   a clean round                -> the next one at once, backoff reset
//! ```
//! Only a refusal the broker states about one message counts against it. A
//! timeout covers the whole round (a dying connection times out every
//! message of it), and a channel error closes the channel for every message
//! on it: counting those would quarantine healthy entries during an outage.
//! The cost: an entry that kills its channel every time (e.g. larger than
//! the broker's `max_message_size`) is retried with backoff, not
//! quarantined. A refusal can also be passing (a queue at `x-max-length`
//! with `reject-publish` nacks until consumers catch up): the backoff spaces
//! the attempts, so `quarantine_after` = 5 takes at least ~7 s of refusals,
//! and a quarantined entry can be requeued.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use super::{Error, Key, Spool};
use crate::broker::{self, Publisher, Status};
use crate::envelope::Message;
use crate::telemetry::trace::{self, Span, SpanKind, Tracer};

/// Entries published per round.
pub const BATCH: usize = 256;
/// Longest wait for a write while the spool looks empty, and between broker
/// status checks while disconnected.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Shortest and longest pause after a round with failures (jittered).
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Pause while the writer compacts the file.
const COMPACT_PAUSE: Duration = Duration::from_millis(20);

/// Where the forwarder publishes: the broker [`Publisher`] (a fake in unit
/// tests).
pub trait Sink: Send + Sync + 'static {
    /// Broker state now.
    fn status(&self) -> Status;
    /// A receiver that sees every broker state change.
    fn watch_status(&self) -> watch::Receiver<Status>;
    /// Deadline for one round's confirms.
    fn confirm_timeout(&self) -> Duration;
    /// Publishes `messages` with confirms; one outcome per message, in order.
    fn publish_each(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> impl Future<Output = Vec<Result<(), broker::Error>>> + Send;
}

impl Sink for Publisher {
    fn status(&self) -> Status {
        Publisher::status(self)
    }
    fn watch_status(&self) -> watch::Receiver<Status> {
        Publisher::watch_status(self)
    }
    fn confirm_timeout(&self) -> Duration {
        Publisher::confirm_timeout(self)
    }
    fn publish_each(
        &self,
        messages: &[Message],
        timeout: Duration,
    ) -> impl Future<Output = Vec<Result<(), broker::Error>>> + Send {
        Publisher::publish_each(self, messages, timeout)
    }
}

/// Whether a failure counts against the entry (the table in the module
/// doc). Exhaustive, so a new variant needs a decision.
fn entry_fault(e: &broker::Error) -> bool {
    match e {
        broker::Error::Nack | broker::Error::Returned(_) | broker::Error::Uncarriable(_) => true,
        broker::Error::NotConnected
        | broker::Error::Blocked
        | broker::Error::Timeout
        | broker::Error::Channel(_) => false,
    }
}

/// One round's outcomes by what happens to each entry (indexes).
#[derive(Debug, Default)]
struct Sorted<'a> {
    /// Confirmed: delete.
    confirmed: Vec<usize>,
    /// Refused: count a failed attempt.
    refused: Vec<(usize, &'a broker::Error)>,
    /// Neither (connection trouble, or no outcome reported): keep as is.
    held: usize,
    /// The first failure, for logs and `hookgate spool drain`.
    first_error: Option<&'a broker::Error>,
}

/// Sorts the outcomes of a round of `n` entries; an entry without an
/// outcome is held.
fn sort(outcomes: &[Result<(), broker::Error>], n: usize) -> Sorted<'_> {
    let mut s = Sorted {
        held: n.saturating_sub(outcomes.len()),
        ..Sorted::default()
    };
    for (i, outcome) in outcomes.iter().take(n).enumerate() {
        match outcome {
            Ok(()) => s.confirmed.push(i),
            Err(e) => {
                s.first_error.get_or_insert(e);
                if entry_fault(e) {
                    s.refused.push((i, e));
                } else {
                    s.held += 1;
                }
            }
        }
    }
    s
}

/// What one round did.
#[derive(Debug, Default, Clone)]
pub struct Round {
    /// Entries published.
    pub(crate) published: usize,
    /// Confirmed and deleted.
    pub(crate) forwarded: u64,
    /// Refused by the broker: a failed attempt counted against each.
    pub(crate) refused: usize,
    /// Of those, moved to the quarantine.
    pub(crate) quarantined: u64,
    /// Neither confirmed nor refused (connection trouble): kept, not counted.
    pub(crate) held: usize,
    /// The first failure.
    pub(crate) error: Option<broker::Error>,
}

/// Why a forwarding round or a drain stopped.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// Reading or settling failed.
    #[error(transparent)]
    Spool(#[from] Error),
    /// The broker connection failed (not an entry's fault).
    #[error(transparent)]
    Publish(#[from] broker::Error),
}

/// One round: publish the oldest [`BATCH`] entries, then in one commit
/// delete the confirmed ones and count a failed attempt against each
/// refused one (quarantining at `spool.quarantine_after`). The round is a
/// `forward` span of `tracer`: under the first message's request span,
/// linked to the others', with `hookgate.forwarded` (entries removed).
///
/// # Errors
/// [`Error`] when reading or the commit failed (nothing changed; the
/// confirmed entries are published again: duplicates, not loss).
pub async fn round<S: Sink>(spool: &Spool, sink: &S, tracer: &Tracer) -> Result<Round, Error> {
    let batch = spool.oldest(BATCH).await?;
    if batch.is_empty() {
        return Ok(Round::default());
    }
    let (keys, messages): (Vec<Key>, Vec<Message>) = batch.into_iter().unzip();
    let span = forward_span(tracer, &messages);
    let outcomes = sink.publish_each(&messages, sink.confirm_timeout()).await;
    let sorted = sort(&outcomes, keys.len());
    if let Some(e) = sorted.first_error {
        span.fail(e.to_string());
    }
    let confirmed = sorted.confirmed.iter().map(|&i| keys[i]).collect();
    let refused = sorted
        .refused
        .iter()
        .map(|&(i, e)| (keys[i], e.to_string()))
        .collect();
    let moved = spool
        .settle(confirmed, refused)
        .await
        .inspect_err(|e| span.fail(e.to_string()))?;
    span.set("hookgate.forwarded", moved.forwarded as i64);
    Ok(Round {
        published: keys.len(),
        forwarded: moved.forwarded,
        refused: sorted.refused.len(),
        quarantined: moved.quarantined,
        held: sorted.held,
        error: sorted.first_error.cloned(),
    })
}

/// The `forward` span of a round publishing `messages` (spooled requests'
/// messages, each carrying its request span's `traceparent`, which the
/// forward leaves as it is): a child of the first message's request span,
/// linked to the others' (`trace::batch_parent`), so a spooled request's
/// trace shows when it reached the broker.
fn forward_span(tracer: &Tracer, messages: &[Message]) -> Span {
    let (parent, links) = trace::batch_parent(messages.iter().map(|m| {
        trace::extract(
            m.header(trace::TRACEPARENT_HEADER),
            m.header(trace::TRACESTATE_HEADER),
        )
    }));
    let span = tracer.start_linked("forward", SpanKind::Producer, &parent, links);
    span.set("messaging.system", "rabbitmq");
    span.set("messaging.batch.message_count", messages.len() as i64);
    span
}

/// Runs until `shutdown` turns true: whenever the spool holds entries and
/// the broker connection is up, forwards rounds (see the module doc), each
/// a `forward` span of `tracer`.
pub async fn forward<S: Sink>(
    spool: Spool,
    sink: S,
    tracer: Tracer,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut broker = sink.watch_status();
    let mut backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if spool.status().messages == 0 {
            tokio::select! {
                _ = spool.wait_written(IDLE_WAIT) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        if sink.status() != Status::Connected {
            tokio::select! {
                _ = broker.changed() => {}
                _ = tokio::time::sleep(IDLE_WAIT) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let pause = match round(&spool, &sink, &tracer).await {
            // Counted but not committed yet: nothing to read until a commit.
            Ok(r) if r.published == 0 => {
                tokio::select! {
                    _ = spool.wait_written(IDLE_WAIT) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            Ok(r) if r.error.is_none() => {
                tracing::debug!(
                    forwarded = r.forwarded,
                    "spool entries confirmed and removed"
                );
                backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
                continue;
            }
            Ok(r) => {
                let error = r.error.as_ref().map(ToString::to_string);
                tracing::warn!(
                    forwarded = r.forwarded,
                    refused = r.refused,
                    quarantined = r.quarantined,
                    held = r.held,
                    error,
                    "spool round not fully confirmed; backing off"
                );
                backoff.next().unwrap_or(BACKOFF_MAX)
            }
            // The writer compacts the drained file: a moment, not a failure.
            Err(Error::Compacting) => COMPACT_PAUSE,
            Err(e) => {
                tracing::warn!(error = %e, "spool round failed; backing off");
                backoff.next().unwrap_or(BACKOFF_MAX)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// What [`drain_once`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Confirmed and deleted.
    pub forwarded: u64,
    /// Moved to the quarantine.
    pub quarantined: u64,
}

/// Drains the whole spool once (for `hookgate spool drain`, with no other
/// writer): waits up to `connect_timeout` for the broker, then forwards
/// rounds until the spool is empty. Refused entries are retried with
/// backoff until they are quarantined.
///
/// # Errors
/// [`RoundError::Publish`] at the first round with connection trouble (a
/// broker that does not come up in time is
/// [`broker::Error::NotConnected`]), [`RoundError::Spool`] when the spool
/// failed.
pub async fn drain_once<S: Sink>(
    spool: &Spool,
    sink: &S,
    connect_timeout: Duration,
) -> Result<Drained, RoundError> {
    let mut rx = sink.watch_status();
    if tokio::time::timeout(connect_timeout, rx.wait_for(|s| *s == Status::Connected))
        .await
        .is_err()
    {
        return Err(broker::Error::NotConnected.into());
    }
    let mut total = Drained::default();
    let mut backoff = crate::backoff::jittered(BACKOFF_MIN, BACKOFF_MAX);
    // The CLI exports no spans.
    let tracer = Tracer::disabled();
    loop {
        let r = round(spool, sink, &tracer).await?;
        total.forwarded += r.forwarded;
        total.quarantined += r.quarantined;
        if r.published == 0 {
            return Ok(total);
        }
        if r.held > 0 {
            return Err(r.error.unwrap_or(broker::Error::NotConnected).into());
        }
        if r.refused > 0 {
            tokio::time::sleep(backoff.next().unwrap_or(BACKOFF_MAX)).await;
        }
    }
}

#[cfg(test)]
mod tests;
