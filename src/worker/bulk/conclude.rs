//! Following a job to its end: polls with backoff (aborting it past
//! `job_timeout_s`, closing it once if it is found still open), then reads
//! its results and matches them back by key.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{call, csv};
use crate::salesforce::rest::bulk::{JobState, Results};
use crate::salesforce::rest::ApiError;
use crate::worker::ctx::Ctx;
use crate::worker::dedupe::JobRecord;
use crate::worker::pause::{self, Deps};

/// How a job ended, row by row (by key value).
pub(super) struct Conclusion {
    /// The final state's label (`lost` when its state could not be read).
    pub(super) state: String,
    /// `errorMessage`.
    pub(super) message: Option<String>,
    /// Key values written.
    pub(super) ok: HashSet<String>,
    /// Key values refused, with `sf__Error`.
    pub(super) failed: HashMap<String, ApiError>,
}

/// Polls job `record.id` until it ends (aborting it `job_timeout_s` after
/// `created`), then reads its results.
pub(super) async fn conclude(
    ctx: &Ctx,
    deps: &Deps<'_>,
    record: &JobRecord,
    created: Instant,
) -> Result<Conclusion, pause::Error> {
    let cfg = &ctx.config.worker.bulk;
    let (mut delay, max) = cfg.poll();
    let deadline = created + Duration::from_secs(cfg.job_timeout_s);
    let mut aborted = false;
    let mut closing = false;
    let info = loop {
        pause::wait(deps, delay).await?;
        delay = (delay * 2).min(max);
        match call(deps, || deps.client.bulk_job(&record.id)).await? {
            Ok(info) if info.state.terminal() => break Some(info),
            Ok(info) if info.state == JobState::Open => {
                // Never closed: a predecessor died between its upload and
                // the close, or the close was refused. Closed once: with
                // its data it runs (the same job, resumed); without (the
                // upload never arrived) nothing is processed and its rows
                // are written anew. Still open after that: aborted.
                let next = if closing { "Aborted" } else { "UploadComplete" };
                if !aborted {
                    let r = call(deps, || deps.client.bulk_set_state(&record.id, next)).await?;
                    aborted = closing || r.is_err();
                    if r.is_err() && !closing {
                        let _ = call(deps, || deps.client.bulk_set_state(&record.id, "Aborted"))
                            .await?;
                    }
                    closing = true;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(org = %deps.org.name, job = %record.id, error = %e, "ingest job state unreadable: its rows are retried");
                break None;
            }
        }
        if !aborted && Instant::now() >= deadline {
            tracing::warn!(org = %deps.org.name, job = %record.id, "ingest job over worker.bulk.job_timeout_s: aborting it");
            let _ = call(deps, || deps.client.bulk_set_state(&record.id, "Aborted")).await?;
            aborted = true;
        }
    };
    let Some(info) = info else {
        ctx.metrics.bulk_job("lost");
        return Ok(Conclusion {
            state: "lost".into(),
            message: None,
            ok: HashSet::new(),
            failed: HashMap::new(),
        });
    };
    ctx.metrics.bulk_job(info.state.label());
    let ok = rows(deps, record, Results::Successful).await?;
    let failed = rows(deps, record, Results::Failed).await?;
    if info.state != JobState::JobComplete {
        // Retried whether listed or not; a row in no result set is worth
        // a warning (results beyond the daily batch allocation are not
        // recorded).
        let unprocessed = rows(deps, record, Results::Unprocessed).await?;
        let missing = record
            .rows
            .len()
            .saturating_sub(ok.len() + failed.len() + unprocessed.len());
        tracing::warn!(org = %deps.org.name, job = %record.id, state = info.state.label(), message = info.error_message.as_deref().unwrap_or(""), unprocessed = unprocessed.len(), missing, "ingest job did not complete: the rest is retried");
    }
    Ok(Conclusion {
        state: info.state.label().to_owned(),
        message: info.error_message,
        ok: ok.into_iter().map(|r| key(record, &r.key)).collect(),
        failed: failed
            .into_iter()
            .map(|r| {
                let e = csv::error(r.error.as_deref().unwrap_or_default());
                (key(record, &r.key), e)
            })
            .collect(),
    })
}

/// The rows of one result CSV (none when it cannot be read: its rows are
/// then retried).
async fn rows(
    deps: &Deps<'_>,
    record: &JobRecord,
    which: Results,
) -> Result<Vec<csv::ResultRow>, pause::Error> {
    let body = match call(deps, || deps.client.bulk_results(&record.id, which)).await? {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(job = %record.id, ?which, error = %e, "ingest job results unreadable");
            return Ok(Vec::new());
        }
    };
    match csv::results(&body, &record.key_column, which == Results::Failed) {
        Ok(rows) => Ok(rows),
        Err(e) => {
            tracing::error!(job = %record.id, ?which, error = %e, "ingest job results unreadable");
            Ok(Vec::new())
        }
    }
}

/// A key value as results are matched: a record Id by its case-sensitive
/// 15-character form (results may echo the 18-character one), an external
/// id as it is.
pub(super) fn key(record: &JobRecord, value: &str) -> String {
    if record.key_column == "Id" && value.len() == 18 {
        value[..15].to_owned()
    } else {
        value.to_owned()
    }
}
