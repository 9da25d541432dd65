//! Bulk API 2.0 for backlogs (docs/workers.md, "Bulk API 2.0"): when the
//! work queues hold at least `worker.bulk.threshold` ready messages, the
//! session gathers ([`gather`]); a gathered batch of one (operation,
//! sObject, external id field) key that reaches the threshold is written by
//! one ingest job instead of collections calls of 200.
//!
//! ```text
//! gathered batch -> first write of each record whose values fit a CSV cell
//!                   (the others follow by collections calls, in order)
//!   below threshold, or daily Bulk batches short -> collections calls
//!   -> POST jobs/ingest -> job recorded in the idempotency store
//!   -> PUT batches (CSV) -> PATCH UploadComplete
//!   -> poll (poll_interval_ms doubling to poll_max_ms; aborted after job_timeout_s)
//!   -> successfulResults, failedResults (+ unprocessedrecords unless JobComplete)
//!   -> per row, by its key column: done | sf__Error: retried or dead-lettered
//!      as a collections record error | unprocessed or missing: retried
//!   -> job forgotten
//! ```
//!
//! Every call goes through the org's pause and budget rules, like a
//! collections call: a token, maintenance, limit or 5xx failure pauses the
//! org and the same call is made again. The messages stay unacked (their
//! idempotency claims renewed) while the job runs, so a worker that dies
//! loses nothing: its successor finds the job in the store, claims its rows
//! ([`adopt`]), polls the same job to its end and marks what it wrote done
//! ([`resume`]), and the redelivered messages are acked as duplicates. A
//! job found still `Open` (the worker died between its upload and the
//! close) is closed: with its data it runs; without (the upload never
//! arrived) it processes nothing and its rows are written anew.

mod conclude;
pub(crate) mod csv;
pub(crate) mod gather;

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use self::conclude::{conclude, key, Conclusion};
use super::action::Write;
use super::batch::Pending;
use super::ctx::{Ctx, SessionError};
use super::dedupe::JobRecord;
use super::pause::{self, Deps};
use super::settle;
use crate::broker::Publisher;
use crate::salesforce::rest::ApiError;

/// Records per internal batch: a job spends ceil(records / 10,000) of the
/// org's daily Bulk batch allocation (SALESFORCE.md section 8, limits).
const RECORDS_PER_BATCH: usize = 10_000;
/// How long a `/limits` reading of the remaining daily Bulk batches is
/// used (counted down by the worker's own jobs meanwhile).
const LIMITS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Writes a gathered batch: its job part through one ingest job, settled
/// here; returns the writes left for collections calls, in order.
///
/// # Errors
/// [`SessionError`] when the store, an ack or a publish fails, or shutdown
/// comes during a pause (the messages stay unacked).
pub(crate) async fn write(
    ctx: &Ctx,
    publisher: &Publisher,
    org: usize,
    deps: &Deps<'_>,
    items: Vec<Pending>,
) -> Result<Vec<Pending>, SessionError> {
    let cfg = &ctx.config.worker.bulk;
    let (job, rest) = split(items, |p| &p.write);
    let fallback = |job: Vec<Pending>, rest: Vec<Pending>| job.into_iter().chain(rest).collect();
    if !cfg.enabled || job.len() < cfg.threshold {
        if cfg.enabled {
            ctx.metrics.bulk_fallback("below_threshold");
        }
        return Ok(fallback(job, rest));
    }
    if !allowance(ctx, org, deps, job.len()).await? {
        ctx.metrics.bulk_fallback("batch_allocation");
        return Ok(fallback(job, rest));
    }
    let writes: Vec<&Write> = job.iter().map(|p| &p.write).collect();
    let Ok(body) = csv::upload(&writes) else {
        ctx.metrics.bulk_fallback("refused");
        return Ok(fallback(job, rest));
    };
    let body = bytes::Bytes::from(body);
    let Some((record, created)) = upload(ctx, org, deps, &job, &body).await? else {
        ctx.metrics.bulk_fallback("refused");
        return Ok(fallback(job, rest));
    };
    // Closing is made again through pauses; a refusal leaves the job to
    // `conclude`, which closes it once more, then aborts it if it stays
    // open (its rows are then retried).
    if let Err(e) = call(deps, || {
        deps.client.bulk_set_state(&record.id, "UploadComplete")
    })
    .await?
    {
        tracing::warn!(org = %deps.org.name, job = %record.id, error = %e, "closing the ingest job refused");
    }
    let end = conclude(ctx, deps, &record, created).await?;
    settle(ctx, publisher, &record, job, &end).await?;
    ctx.store.forget_job(&record.id).await?;
    Ok(rest)
}

/// Creates a job for `job`'s writes, records it (before the upload: a
/// successor resumes it rather than writing its records again) and uploads
/// `body`: the job and when it was created, or `None` when Salesforce
/// refused the job (its records go by collections calls).
///
/// One upload per job, never repeated: whether several uploads to one job
/// add up is not documented, and a repeat of one that arrived would write
/// every row twice. An unclosed job is never processed, so a job whose
/// upload failed is aborted (one try) and forgotten; after a failure that
/// is the org's (no token, maintenance, limit, 5xx, transport) the org
/// pauses and a new job is made.
async fn upload(
    ctx: &Ctx,
    org: usize,
    deps: &Deps<'_>,
    job: &[Pending],
    body: &bytes::Bytes,
) -> Result<Option<(JobRecord, Instant)>, SessionError> {
    let Some(first) = job.first().map(|p| &p.write) else {
        return Ok(None);
    };
    let (operation, object, ext) = first.batch_key();
    let (min, max) = deps.config.pause_retry();
    let mut backoff = crate::backoff::jittered(min, max);
    loop {
        let created = Instant::now();
        let info = match call(deps, || {
            deps.client.bulk_create(&object, operation, ext.as_deref())
        })
        .await?
        {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(org = %deps.org.name, %object, error = %e, "ingest job refused; writing by collections calls");
                return Ok(None);
            }
        };
        let record = JobRecord {
            org: deps.org.name.clone(),
            id: info.id.clone(),
            key_column: csv::key_column(first).to_owned(),
            rows: job
                .iter()
                .map(|p| (csv::key_value(&p.write).to_owned(), p.key.clone()))
                .collect(),
        };
        ctx.store.record_job(&record).await?;
        pause::respect_budget(deps).await?;
        deps.metrics.path_call("bulk");
        let Err(e) = deps.client.bulk_upload(&info.id, body.clone()).await else {
            ctx.metrics.bulk_records_per_job.observe(job.len() as f64);
            spend(ctx, org, job.len());
            return Ok(Some((record, created)));
        };
        tracing::warn!(org = %deps.org.name, job = %info.id, error = %e, "ingest job upload failed; aborting it");
        let _ = deps.client.bulk_set_state(&info.id, "Aborted").await;
        ctx.store.forget_job(&info.id).await?;
        let Some(reason) = pause::Reason::of(&e) else {
            return Ok(None);
        };
        pause::enter(deps, reason, &e);
        pause::wait(deps, backoff.next().unwrap_or(max)).await?;
    }
}

/// The job part of a gathered batch and the rest, both in order: the job
/// takes the first write of each record if it [fits](csv::fits) a CSV
/// row; every other write of that record, and every write of a record whose
/// first write does not fit, is left for collections calls after the job.
fn split<T>(items: Vec<T>, write: impl Fn(&T) -> &Write) -> (Vec<T>, Vec<T>) {
    let (mut job, mut rest) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for p in items {
        let first = seen.insert(write(&p).record_key());
        if first && csv::fits(write(&p)) {
            job.push(p);
        } else {
            rest.push(p);
        }
    }
    (job, rest)
}

/// Whether the org's daily Bulk batches allow a job of `records`: read from
/// `/limits` (one call) when the last reading is older than an hour, then
/// counted down by this worker's jobs. No reading (the key is absent, or a
/// refusal that is not a pause): allowed.
async fn allowance(
    ctx: &Ctx,
    org: usize,
    deps: &Deps<'_>,
    records: usize,
) -> Result<bool, SessionError> {
    let Some(o) = ctx.orgs.get(org) else {
        return Ok(false);
    };
    let fresh = o
        .bulk_batches()
        .filter(|(_, at)| at.elapsed() < LIMITS_MAX_AGE);
    let remaining = match fresh {
        Some((n, _)) => Some(n),
        None => {
            let read = call(deps, || deps.client.bulk_batches_remaining()).await?;
            let n = read.ok().flatten();
            if let Some(n) = n {
                o.set_bulk_batches(n, true);
            }
            n
        }
    };
    Ok(remaining.is_none_or(|n| n >= batches(records)))
}

/// Counts a job of `records` off the org's remaining daily Bulk batches.
fn spend(ctx: &Ctx, org: usize, records: usize) {
    if let Some((n, _)) = ctx.orgs.get(org).and_then(|o| o.bulk_batches()) {
        if let Some(o) = ctx.orgs.get(org) {
            o.set_bulk_batches(n.saturating_sub(batches(records)), false);
        }
    }
}

fn batches(records: usize) -> u64 {
    records.div_ceil(RECORDS_PER_BATCH) as u64
}

/// One Bulk call made the way collections calls are: within the budget,
/// and paused (then made again) while the org or its token endpoint
/// fails. `Err` inside: a refusal that is neither (the caller decides).
///
/// # Errors
/// [`pause::Error`] when shutdown comes during a pause, or the held claims
/// cannot be renewed.
async fn call<T, F, Fut>(deps: &Deps<'_>, mut f: F) -> Result<Result<T, ApiError>, pause::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let (min, max) = deps.config.pause_retry();
    let mut backoff = crate::backoff::jittered(min, max);
    loop {
        pause::respect_budget(deps).await?;
        deps.metrics.path_call("bulk");
        let result = f().await;
        if let Some(u) = deps.client.usage() {
            deps.metrics.api_usage(&deps.org.name, u.ratio());
        }
        match result {
            Ok(v) => {
                pause::answered_now(deps);
                return Ok(Ok(v));
            }
            Err(e) => match pause::Reason::of(&e) {
                Some(reason) => {
                    pause::enter(deps, reason, &e);
                    pause::wait(deps, backoff.next().unwrap_or(max)).await?;
                }
                None => {
                    pause::answered_now(deps);
                    return Ok(Err(e));
                }
            },
        }
    }
}

/// Settles the job's messages by `end`: written -> done; `sf__Error` ->
/// retried or dead-lettered as a collections record error; anything else
/// (unprocessed, missing) -> retried.
async fn settle(
    ctx: &Ctx,
    publisher: &Publisher,
    record: &JobRecord,
    job: Vec<Pending>,
    end: &Conclusion,
) -> Result<(), SessionError> {
    let mut decided = Vec::with_capacity(job.len());
    let mut unprocessed = Vec::new();
    for p in job {
        let k = key(record, csv::key_value(&p.write));
        if end.ok.contains(&k) {
            decided.push((p, Ok(())));
        } else if let Some(e) = end.failed.get(&k) {
            decided.push((p, Err(e.clone())));
        } else {
            unprocessed.push(p);
        }
    }
    settle::settle(ctx, publisher, "bulk", decided).await?;
    if unprocessed.is_empty() {
        return Ok(());
    }
    let why = ApiError::new(
        "BULK_UNPROCESSED",
        format!(
            "not processed by ingest job {} ({}{})",
            record.id,
            end.state,
            end.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
    );
    ctx.store
        .release(unprocessed.iter().map(|p| p.key.clone()).collect())
        .await?;
    for p in &unprocessed {
        settle::retry(ctx, publisher, p, &why).await?;
    }
    Ok(())
}

/// The jobs a worker that died left running, by org index, with their
/// rows claimed for this process (so their redeliveries wait while
/// [`resume`] polls them). A job of an org no longer configured is
/// forgotten and its rows released (written again).
///
/// # Errors
/// [`SessionError::Store`] when the store fails.
pub(crate) async fn adopt(ctx: &Ctx) -> Result<Vec<(usize, JobRecord)>, SessionError> {
    let mut adopted = Vec::new();
    for job in ctx.store.jobs().await? {
        let keys: Vec<String> = job.rows.iter().map(|(_, k)| k.clone()).collect();
        match ctx.orgs.iter().position(|o| o.config.name == job.org) {
            Some(org) => {
                ctx.store.take_over(keys).await?;
                tracing::info!(org = %job.org, job = %job.id, rows = job.rows.len(), "resuming an ingest job a previous session left");
                adopted.push((org, job));
            }
            None => {
                tracing::warn!(org = %job.org, job = %job.id, "ingest job of an org no longer configured: its rows are written again");
                ctx.store.forget_job(&job.id).await?;
            }
        }
    }
    Ok(adopted)
}

/// Resumes an adopted job: polls it to its end, marks its written rows
/// done and releases the others (their redeliveries are written anew),
/// then forgets it.
///
/// # Errors
/// [`SessionError`] when the store fails or shutdown comes during a pause.
pub(crate) async fn resume(ctx: &Ctx, deps: &Deps<'_>, job: JobRecord) -> Result<(), SessionError> {
    let end = conclude(ctx, deps, &job, Instant::now()).await?;
    let (mut done, mut release) = (Vec::new(), Vec::new());
    for (value, idem) in &job.rows {
        if end.ok.contains(&key(&job, value)) {
            done.push(idem.clone());
        } else {
            release.push(idem.clone());
        }
    }
    tracing::info!(org = %job.org, job = %job.id, state = %end.state, written = done.len(), again = release.len(), "ingest job resumed");
    ctx.metrics.path_written("bulk", done.len());
    ctx.store.done(done).await?;
    ctx.store.release(release).await?;
    ctx.store.forget_job(&job.id).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
