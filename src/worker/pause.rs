//! Pausing instead of dead-lettering: when a call fails for a reason that is
//! the org's or its token endpoint's, not the messages' (SALESFORCE.md
//! section 6 table), the worker stops consuming and tries the same records
//! again later, so no attempt is spent and nothing is dead-lettered.
//!
//! | reason | when | next try |
//! |---|---|---|
//! | `auth` | no token: token endpoint unreachable, timeout, 5xx, `invalid_grant`, `invalid_client` | backoff `pause_retry_min_ms` .. `pause_retry_max_s` |
//! | `maintenance` | `INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE` (read-only mode) | backoff |
//! | `request_limit` | `REQUEST_LIMIT_EXCEEDED` (daily allocation spent) | backoff |
//! | `budget` | last `Sforce-Limit-Info` over `max_api_usage` | after `budget_pause_s`, one batch |
//!
//! Each org pauses on its own: its lane ([`super::lane`]) waits inside the
//! flush while the other orgs' lanes keep writing; its held messages stay
//! unacked with their attempt count, their idempotency claims are renewed
//! ([`super::dedupe::Store::extend_held`]), `/readyz` answers not ready and
//! `hookgate_worker_paused{org,reason}` is 1. A pause is
//! logged when it starts or changes reason, and when it ends.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::action::Write;
use super::dedupe::Store;
use super::metrics::Metrics;
use crate::config::worker::{OrgConfig, WorkerConfig};
use crate::salesforce::rest::{ApiError, Client, Hold, Outcome, RecordResult};

/// Why a paused call gave up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Shutdown came while paused: the held messages stay unacked.
    #[error("stopped while paused")]
    Stopped,
    /// The held claims could not be renewed.
    #[error(transparent)]
    Store(#[from] super::dedupe::Error),
}

/// What a paused call uses: the worker's parts, borrowed.
pub(crate) struct Deps<'a> {
    /// Validated config (retry bounds, budget pause).
    pub(crate) config: &'a WorkerConfig,
    /// The org called (`name`, `max_api_usage`).
    pub(crate) org: &'a OrgConfig,
    /// Its client.
    pub(crate) client: &'a Client,
    /// Its pause state.
    pub(crate) state: &'a State,
    /// The idempotency store (claims renewed while paused).
    pub(crate) store: &'a Store,
    /// Metrics (`paused{org,reason}`, `api_usage_ratio`).
    pub metrics: &'a Metrics,
}

/// Why consumption is paused; [`Reason::label`] is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No token could be had.
    Auth,
    /// The org is in read-only mode.
    Maintenance,
    /// The org's daily allocation is spent.
    RequestLimit,
    /// Usage is over `max_api_usage`.
    Budget,
    /// The start-up checks (`/services/data/`, describe) got no answer: the
    /// REST API is unreachable or answers 5xx; nothing is consumed until
    /// they pass.
    Unavailable,
}

impl Reason {
    /// `auth`, `maintenance`, `request_limit`, `budget`, `unavailable`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Maintenance => "maintenance",
            Reason::RequestLimit => "request_limit",
            Reason::Budget => "budget",
            Reason::Unavailable => "unavailable",
        }
    }

    /// Why a failed call is the org's problem rather than the messages' or
    /// the config's: its `Hold`, or `Unavailable` for a retryable failure
    /// (5xx, transport); `None` for anything else.
    pub(crate) fn of(e: &ApiError) -> Option<Reason> {
        match e.hold() {
            Some(h) => Some(h.into()),
            None if e.retryable() => Some(Reason::Unavailable),
            None => None,
        }
    }
}

impl From<Hold> for Reason {
    fn from(h: Hold) -> Reason {
        match h {
            Hold::Auth => Reason::Auth,
            Hold::Maintenance => Reason::Maintenance,
            Hold::RequestLimit => Reason::RequestLimit,
        }
    }
}

/// The pause state of one worker: at most one reason at a time, and the
/// shutdown signal that ends a wait.
#[derive(Debug)]
pub(crate) struct State {
    current: Mutex<Option<(Reason, Instant)>>,
    shutdown: watch::Receiver<bool>,
}

impl State {
    /// Not paused; a wait ends when `shutdown` turns true.
    pub(crate) fn new(shutdown: watch::Receiver<bool>) -> State {
        State {
            current: Mutex::new(None),
            shutdown,
        }
    }

    /// Whether this org is paused now.
    pub(crate) fn is_paused(&self) -> bool {
        self.current().is_some()
    }

    fn current(&self) -> Option<Reason> {
        self.lock().map(|(r, _)| r)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Reason, Instant)>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Enters (or stays in) a pause for `reason`; logs and sets the gauges only
/// when the state changes.
pub(super) fn enter(ctx: &Deps<'_>, reason: Reason, error: &dyn std::fmt::Display) {
    let mut state = ctx.state.lock();
    if state.map(|(r, _)| r) == Some(reason) {
        return;
    }
    tracing::warn!(
        org = %ctx.org.name,
        reason = reason.label(),
        %error,
        "worker paused: consuming stops, held messages stay unacked"
    );
    *state = Some((reason, Instant::now()));
    ctx.metrics.set_paused(&ctx.org.name, Some(reason.label()));
}

/// Leaves a pause, if any.
pub(super) fn leave(ctx: &Deps<'_>) {
    let mut state = ctx.state.lock();
    if let Some((reason, since)) = state.take() {
        tracing::info!(
            org = %ctx.org.name,
            reason = reason.label(),
            paused_s = since.elapsed().as_secs_f64(),
            "worker resumed"
        );
        ctx.metrics.set_paused(&ctx.org.name, None);
    }
}

/// Sends one collections call for `records` (all of `write`'s kind), pausing
/// and trying again while the answer is a [`Hold`]: the whole call, or the
/// records answered with a hold code (those are sent again alone; the
/// others keep their results). The outcome returned holds no hold.
///
/// # Errors
/// [`Error::Stopped`] when shutdown comes during a pause (the
/// messages stay unacked); [`SessionError::Store`] when claims cannot be
/// renewed.
pub(super) async fn send(
    ctx: &Deps<'_>,
    write: &Write,
    records: &[Value],
) -> Result<Outcome, Error> {
    let mut results: Vec<Option<RecordResult>> = vec![None; records.len()];
    let (min, max) = ctx.config.pause_retry();
    let mut backoff = crate::backoff::jittered(min, max);
    loop {
        respect_budget(ctx).await?;
        let todo: Vec<usize> = (0..records.len())
            .filter(|&i| results[i].is_none())
            .collect();
        let outcome = call(
            ctx,
            write,
            todo.iter().map(|&i| records[i].clone()).collect(),
        )
        .await;
        let held = match outcome {
            // A whole-request refusal one record caused (isolate narrows
            // it). In a first round it answers every record; in a later
            // round (only records answered with a hold code are sent again,
            // and they parsed the first time) it is the subset's failure.
            Outcome::BadRecord { index, error } if todo.len() == records.len() => {
                answered_now(ctx);
                return Ok(Outcome::BadRecord { index, error });
            }
            Outcome::BadRecord { error, .. } => {
                return Ok(finish(ctx, results, &todo, Outcome::Failed(error)))
            }
            Outcome::Failed(e) => match e.hold() {
                Some(h) => (h, e),
                None => return Ok(finish(ctx, results, &todo, Outcome::Failed(e))),
            },
            Outcome::Records(rs) => {
                let mut held = None;
                for (&i, r) in todo.iter().zip(rs) {
                    match r
                        .as_ref()
                        .err()
                        .and_then(|e| e.hold().map(|h| (h, e.clone())))
                    {
                        Some(h) => held = held.or(Some(h)),
                        None => results[i] = Some(r),
                    }
                }
                match held {
                    Some(h) => h,
                    None => return Ok(finish(ctx, results, &[], Outcome::Records(Vec::new()))),
                }
            }
        };
        enter(ctx, held.0.into(), &held.1);
        wait(ctx, backoff.next().unwrap_or(max)).await?;
    }
}

/// The outcome for every record: `last` answers the records of `todo`,
/// earlier rounds answered the others. Ends a pause.
fn finish(
    ctx: &Deps<'_>,
    mut results: Vec<Option<RecordResult>>,
    todo: &[usize],
    last: Outcome,
) -> Outcome {
    answered_now(ctx);
    match last {
        Outcome::Failed(e) if todo.len() == results.len() => Outcome::Failed(e),
        Outcome::Failed(e) => {
            for &i in todo {
                results[i] = Some(Err(e.clone()));
            }
            Outcome::Records(results.into_iter().map(answered).collect())
        }
        // `send` returns a first round's BadRecord itself.
        Outcome::Records(_) | Outcome::BadRecord { .. } => {
            Outcome::Records(results.into_iter().map(answered).collect())
        }
    }
}

/// A call was answered: the pause ends, unless it is a budget pause and the
/// reading is still over the threshold.
pub(super) fn answered_now(ctx: &Deps<'_>) {
    let over_budget = ctx.state.current() == Some(Reason::Budget)
        && ctx
            .client
            .usage()
            .is_some_and(|u| u.ratio() > ctx.org.section.max_api_usage);
    if !over_budget {
        leave(ctx);
    }
}

fn answered(r: Option<RecordResult>) -> RecordResult {
    r.unwrap_or_else(|| {
        Err(ApiError::new(
            "INVALID_RESPONSE",
            "no result for this record",
        ))
    })
}

/// One collections call of `write`'s kind.
async fn call(ctx: &Deps<'_>, write: &Write, records: Vec<Value>) -> Outcome {
    ctx.metrics.path_call("collections");
    let outcome = match write {
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
        ctx.metrics.api_usage(&ctx.org.name, u.ratio());
    }
    outcome
}

/// Waits `budget_pause_s` while the last `Sforce-Limit-Info` (its item
/// closest to its limit) is over `max_api_usage`, then lets one call
/// through (its answer refreshes the reading). Not checked during another
/// pause: that one's own retries decide.
pub(super) async fn respect_budget(ctx: &Deps<'_>) -> Result<(), Error> {
    if matches!(ctx.state.current(), Some(r) if r != Reason::Budget) {
        return Ok(());
    }
    let Some(u) = ctx.client.usage() else {
        return Ok(());
    };
    ctx.metrics.api_usage(&ctx.org.name, u.ratio());
    if u.ratio() <= ctx.org.section.max_api_usage {
        leave(ctx);
        return Ok(());
    }
    let reading = format!("API usage {}/{} over max_api_usage", u.used, u.limit);
    enter(ctx, Reason::Budget, &reading);
    wait(ctx, Duration::from_secs(ctx.config.worker.budget_pause_s)).await
}

/// Sleeps `delay`, renewing the held idempotency claims at least every
/// quarter of their lifetime; returns early with [`Error::Stopped`]
/// on shutdown.
pub(super) async fn wait(ctx: &Deps<'_>, delay: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + delay;
    let mut shutdown = ctx.state.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            return Err(Error::Stopped);
        }
        ctx.store.extend_held().await?;
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        let tick = (deadline - now).min(super::dedupe::CLAIM_TTL / 4);
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return Err(Error::Stopped);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;
    use crate::salesforce::rest::Hold;

    #[test]
    fn reasons_are_the_exported_labels() {
        let all = [
            Reason::from(Hold::Auth),
            Reason::from(Hold::Maintenance),
            Reason::from(Hold::RequestLimit),
            Reason::Budget,
            Reason::Unavailable,
        ];
        let labels: Vec<&str> = all.iter().map(|r| r.label()).collect();
        assert_eq!(labels, super::super::metrics::PAUSE_REASONS);
    }
}
