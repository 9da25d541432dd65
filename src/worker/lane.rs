//! One lane per org: the batches of an org are written by its own task, in
//! the order the session closed them, so an org that is paused (its token
//! endpoint down, maintenance, limits) waits in its lane while the session
//! keeps consuming and the other orgs' lanes keep writing.
//!
//! | the org's lane | a closed batch |
//! |---|---|
//! | not paused | queued (at most [`LANE_DEPTH`] waiting; the session waits for room, as it waited for a flush before lanes, and with several orgs stops waiting if the org pauses meanwhile) |
//! | paused, room | queued, written when the org resumes |
//! | paused, full, several orgs | *deferred*: its claims released, each message handed to the first retry queue without spending an attempt (confirmed), then acked; `hookgate_worker_deferred_total` |
//! | paused, full, one org | the session waits (nothing else could be written) |
//!
//! Settling is unchanged: a message is acked only after it is marked done,
//! handed to a retry queue or dead-lettered (confirmed). A lane's failure
//! (ack, publish, store) ends the session.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::options::BasicAckOptions;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::action::Write;
use super::batch::{chunks, Batch, Pending};
use super::consume;
use super::ctx::{Ctx, SessionError};
use super::dedupe::JobRecord;
use super::settle::{dead_letter, settle};
use crate::broker::Publisher;
use crate::telemetry::trace::FutureExt as _;

/// Closed batches an org's lane holds beside the one it is writing.
pub(crate) const LANE_DEPTH: usize = 2;

/// How often a session waiting for room in a lane looks whether its org
/// paused meanwhile (several orgs only).
const PAUSE_CHECK: Duration = Duration::from_millis(100);

/// The lanes of one session, one per org; dropping them aborts their tasks.
pub(crate) struct Lanes {
    senders: Vec<mpsc::Sender<Batch>>,
    /// Per lane: batches handed to it and not yet written, plus one while
    /// it runs its start-up checks and resumes jobs.
    busy: Vec<Arc<AtomicUsize>>,
    tasks: JoinSet<Result<(), SessionError>>,
}

/// Errors of lanes that ended, for the session to end on.
pub(crate) type LaneErrors = mpsc::UnboundedReceiver<SessionError>;

impl Lanes {
    /// Starts a lane per org of `ctx`; each first resumes its org's
    /// `adopted` ingest jobs ([`super::bulk::resume`]).
    pub(crate) fn start(
        ctx: &Arc<Ctx>,
        publisher: &Publisher,
        adopted: Vec<(usize, JobRecord)>,
    ) -> (Lanes, LaneErrors) {
        let mut adopted = adopted;
        let (err_tx, err_rx) = mpsc::unbounded_channel();
        let mut senders = Vec::with_capacity(ctx.orgs.len());
        let mut busy = Vec::with_capacity(ctx.orgs.len());
        let mut tasks = JoinSet::new();
        for org in 0..ctx.orgs.len() {
            let (tx, rx) = mpsc::channel(LANE_DEPTH);
            senders.push(tx);
            let count = Arc::new(AtomicUsize::new(1));
            busy.push(count.clone());
            let (ctx, publisher, err_tx) = (ctx.clone(), publisher.clone(), err_tx.clone());
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut adopted)
                .into_iter()
                .partition(|(o, _)| *o == org);
            adopted = others;
            let jobs: Vec<JobRecord> = mine.into_iter().map(|(_, j)| j).collect();
            tasks.spawn(async move {
                let result = lane(&ctx, &publisher, org, jobs, rx, &count).await;
                if let Err(e) = &result {
                    let name = ctx.orgs.get(org).map(|o| o.config.name.as_str());
                    tracing::warn!(org = name.unwrap_or(""), error = %e, "org lane ended");
                    let _ = err_tx.send(SessionError::LaneEnded(name.unwrap_or("").to_owned()));
                }
                result
            });
        }
        (
            Lanes {
                senders,
                busy,
                tasks,
            },
            err_rx,
        )
    }

    /// Whether org `org`'s lane would write a batch handed to it now: it
    /// is idle (nothing written or waiting), or (several orgs) the org is
    /// paused, so the batch would be queued or deferred at once. A batch
    /// for a busy lane would only wait there, so it keeps filling instead.
    pub(crate) fn ready(&self, ctx: &Ctx, org: usize) -> bool {
        let idle = self
            .busy
            .get(org)
            .is_none_or(|n| n.load(Ordering::Acquire) == 0);
        idle || (ctx.orgs.len() > 1 && ctx.orgs.get(org).is_some_and(|o| o.pause.is_paused()))
    }

    /// Hands a closed batch to org `org`'s lane (see the module's table).
    ///
    /// # Errors
    /// [`SessionError`] when the lane ended, or deferring failed.
    pub(crate) async fn submit(
        &self,
        ctx: &Ctx,
        publisher: &Publisher,
        org: usize,
        batch: Batch,
    ) -> Result<(), SessionError> {
        let (Some(tx), Some(o)) = (self.senders.get(org), ctx.orgs.get(org)) else {
            return Ok(());
        };
        let ended = || SessionError::LaneEnded(o.config.name.clone());
        let queued = || {
            if let Some(n) = self.busy.get(org) {
                n.fetch_add(1, Ordering::AcqRel);
            }
        };
        if ctx.orgs.len() == 1 {
            queued();
            return tx.send(batch).await.map_err(|_| ended());
        }
        // Several orgs: wait for room only while the org is not paused (a
        // pause is noticed within PAUSE_CHECK of its start).
        loop {
            if o.pause.is_paused() {
                return match tx.try_send(batch) {
                    Ok(()) => {
                        queued();
                        Ok(())
                    }
                    Err(mpsc::error::TrySendError::Full(b)) => defer(ctx, publisher, b).await,
                    Err(mpsc::error::TrySendError::Closed(_)) => Err(ended()),
                };
            }
            match tokio::time::timeout(PAUSE_CHECK, tx.reserve()).await {
                Ok(Ok(permit)) => {
                    queued();
                    permit.send(batch);
                    return Ok(());
                }
                Ok(Err(_)) => return Err(ended()),
                Err(_) => {}
            }
        }
    }

    /// Closes the lanes and waits for them to write what they hold, up to
    /// `grace` (`None`: until done; a paused lane ends at shutdown); then
    /// aborts the rest (their messages stay unacked). The first lane error.
    ///
    /// # Errors
    /// The first [`SessionError`] a lane ended with.
    pub(crate) async fn finish(mut self, grace: Option<Duration>) -> Result<(), SessionError> {
        self.senders.clear();
        let mut first = None;
        let join = async {
            while let Some(r) = self.tasks.join_next().await {
                if let Ok(Err(e)) = r {
                    first.get_or_insert(e);
                }
            }
        };
        match grace {
            Some(g) => {
                let _ = tokio::time::timeout(g, join).await;
            }
            None => join.await,
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Writes org `org`'s batches in the order they come, until the session
/// closes the lane.
async fn lane(
    ctx: &Ctx,
    publisher: &Publisher,
    org: usize,
    jobs: Vec<JobRecord>,
    mut rx: mpsc::Receiver<Batch>,
    busy: &AtomicUsize,
) -> Result<(), SessionError> {
    // The org's start-up checks, if they have not passed yet (Salesforce
    // did not answer at start): its batches wait here, the others' lanes
    // write on.
    ctx.checked(org).await?;
    if let Some(deps) = ctx.deps(org) {
        for job in jobs {
            super::bulk::resume(ctx, &deps, job).await?;
        }
    }
    busy.fetch_sub(1, Ordering::AcqRel);
    while let Some(batch) = rx.recv().await {
        flush(ctx, publisher, org, batch).await?;
        busy.fetch_sub(1, Ordering::AcqRel);
    }
    Ok(())
}

/// Fits the writes built before their org's describe was known; a write
/// that cannot fit is dead-lettered (`malformed`) as it would have been
/// when built.
async fn prepare(
    ctx: &Ctx,
    publisher: &Publisher,
    org: usize,
    mut batch: Batch,
) -> Result<Batch, SessionError> {
    let Some(schema) = ctx.orgs.get(org).and_then(|o| o.schema.get()) else {
        return Ok(batch);
    };
    let mut items = Vec::with_capacity(batch.items.len());
    for mut p in std::mem::take(&mut batch.items) {
        if p.prepared {
            items.push(p);
            continue;
        }
        match schema.prepare(&mut p.write) {
            Ok(()) => {
                p.prepared = true;
                items.push(p);
            }
            Err(e) => {
                ctx.store.release(vec![p.key.clone()]).await?;
                dead_letter(
                    ctx,
                    publisher,
                    &p.delivery,
                    &p.queue,
                    p.attempt,
                    &e,
                    "malformed",
                )
                .await?;
            }
        }
    }
    batch.items = items;
    Ok(batch)
}

/// A paused org's batch when its lane is full: each message goes to the
/// first retry queue with its attempt count unchanged (as a message another
/// worker is applying does), so the other orgs' messages keep flowing.
async fn defer(ctx: &Ctx, publisher: &Publisher, batch: Batch) -> Result<(), SessionError> {
    ctx.store
        .release(batch.items.iter().map(|p| p.key.clone()).collect())
        .await?;
    let delay = ctx
        .config
        .worker
        .retry_delays_s
        .first()
        .copied()
        .unwrap_or(1);
    for p in &batch.items {
        let target = consume::retry_queue(&p.queue, delay);
        consume::republish(publisher, &p.delivery, &target, &[], &[]).await?;
        p.delivery.ack(BasicAckOptions::default()).await?;
        ctx.metrics.deferred.inc();
    }
    Ok(())
}

/// Writes one batch to org `org` under its `batch` span: the Salesforce
/// calls made for it are that span's children (it is their task's current
/// trace context).
async fn flush(
    ctx: &Ctx,
    publisher: &Publisher,
    org: usize,
    batch: Batch,
) -> Result<(), SessionError> {
    let span = batch.span(&ctx.tracer);
    if let Some(o) = ctx.orgs.get(org) {
        span.set("hookgate.org", o.config.name.clone());
    }
    write(ctx, publisher, org, batch)
        .with_context(span.context().clone())
        .await
        .inspect_err(|e| span.fail(e.to_string()))
}

/// Writes one batch to org `org` and settles each of its messages: a
/// gathered backlog through an ingest job ([`super::bulk::write`]), the
/// rest (and what the job cannot take) by collections calls.
async fn write(
    ctx: &Ctx,
    publisher: &Publisher,
    org: usize,
    batch: Batch,
) -> Result<(), SessionError> {
    let Some(deps) = ctx.deps(org) else {
        return Ok(());
    };
    let started = batch.started;
    let gather = batch.gather;
    let batch = prepare(ctx, publisher, org, batch).await?;
    let items = if gather {
        super::bulk::write(ctx, publisher, org, &deps, batch.items).await?
    } else {
        batch.items
    };
    for chunk in chunks(items, ctx.config.worker.batch_size, |p| &p.write) {
        collections(ctx, publisher, &deps, chunk).await?;
    }
    ctx.metrics
        .batch_latency
        .observe(started.elapsed().as_secs_f64());
    Ok(())
}

/// Writes one chunk (one batch key, one write per record) by a collections
/// call and settles its messages.
async fn collections(
    ctx: &Ctx,
    publisher: &Publisher,
    deps: &super::pause::Deps<'_>,
    items: Vec<Pending>,
) -> Result<(), SessionError> {
    if items.is_empty() {
        return Ok(());
    }
    ctx.metrics.records_per_call.observe(items.len() as f64);
    let writes: Vec<&Write> = items.iter().map(|p| &p.write).collect();
    // Pauses (and tries again) while the org or its token endpoint fails;
    // narrows a whole-request refusal to the records that caused it.
    let results = super::isolate::send(deps, &writes).await?;
    settle(
        ctx,
        publisher,
        "collections",
        items.into_iter().zip(results).collect(),
    )
    .await
}
