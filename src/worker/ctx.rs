//! What every part of a running worker shares, and the failure that ends a
//! session.

use std::sync::{Arc, OnceLock};

use super::action::Pattern;
use super::dedupe::Store;
use super::metrics::Metrics;
use super::pause;
use super::schema::Schema;
use crate::config::worker::{ActionConfig, OrgConfig, WorkerConfig};
use crate::salesforce::rest::Client;

/// One org at run time.
pub(crate) struct Org {
    /// Its config (name, ids, limits).
    pub(crate) config: OrgConfig,
    /// Its REST client.
    pub(crate) client: Arc<Client>,
    /// Its describes: fetched at start, or, when it could not be asked
    /// then, before the first delivery.
    pub(crate) schema: OnceLock<Schema>,
    /// Whether (and why) writing to it is paused.
    pub(crate) pause: pause::State,
    /// Its remaining daily Bulk batches, and when `/limits` said so.
    pub(crate) bulk_batches: std::sync::Mutex<Option<(u64, std::time::Instant)>>,
}

impl Org {
    /// The remaining daily Bulk batches last read (and counted down).
    pub(crate) fn bulk_batches(&self) -> Option<(u64, std::time::Instant)> {
        *self
            .bulk_batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the remaining daily Bulk batches: `read` now from `/limits`,
    /// or counted down (the reading's time is kept then).
    pub(crate) fn set_bulk_batches(&self, n: u64, read: bool) {
        let mut g = self
            .bulk_batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = match *g {
            Some((_, at)) if !read => at,
            _ => std::time::Instant::now(),
        };
        *g = Some((n, at));
    }
}

/// Shared state of a worker session.
pub(crate) struct Ctx {
    /// Validated config.
    pub(crate) config: WorkerConfig,
    /// Actions with parsed patterns.
    pub(crate) actions: Vec<(Pattern, ActionConfig)>,
    /// Idempotency store.
    pub(crate) store: Store,
    /// The orgs written to, in config order (their client, describes and
    /// pause state).
    pub(crate) orgs: Vec<Org>,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Makes the `batch` spans (the clients make their call spans).
    pub(crate) tracer: crate::telemetry::trace::Tracer,
}

impl Ctx {
    /// What a paused call to org `i` uses.
    pub(super) fn deps(&self, i: usize) -> Option<super::pause::Deps<'_>> {
        let org = self.orgs.get(i)?;
        Some(super::pause::Deps {
            config: &self.config,
            org: &org.config,
            client: &org.client,
            state: &org.pause,
            store: &self.store,
            metrics: &self.metrics,
        })
    }
}

impl Ctx {
    /// Runs org `i`'s start-up checks until Salesforce answers them, paused
    /// (with the failure's reason) meanwhile.
    ///
    /// # Errors
    /// [`SessionError::Unfit`] when the config does not fit the org (logged:
    /// the worker stops consuming), [`SessionError::Pause`] when shutdown
    /// came first.
    pub(super) async fn checked(&self, i: usize) -> Result<(), SessionError> {
        let (Some(deps), Some(org)) = (self.deps(i), self.orgs.get(i)) else {
            return Ok(());
        };
        let (min, max) = self.config.pause_retry();
        let mut backoff = crate::backoff::jittered(min, max);
        while org.schema.get().is_none() {
            match Schema::load(&org.client, &self.config, &org.config.name).await {
                Ok(s) => {
                    let _ = org.schema.set(s);
                    pause::leave(&deps);
                }
                Err(e) => match e.pause_reason() {
                    Some(reason) => {
                        pause::enter(&deps, reason, &e);
                        pause::wait(&deps, backoff.next().unwrap_or(max)).await?;
                    }
                    None => {
                        tracing::error!(org = %org.config.name, error = %e, "the config does not fit the org: nothing is consumed");
                        return Err(SessionError::Unfit(e.to_string()));
                    }
                },
            }
        }
        Ok(())
    }
}

/// A failure that ends the session (the channel is unusable); unacked
/// deliveries return to their queues.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// AMQP failure (consume, ack).
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    /// A retry or dead-letter publish was not confirmed.
    #[error(transparent)]
    Publish(#[from] crate::broker::Error),
    /// The idempotency store failed.
    #[error(transparent)]
    Store(#[from] super::dedupe::Error),
    /// Shutdown came while paused (held messages stay unacked), or the
    /// claims could not be renewed.
    #[error(transparent)]
    Pause(#[from] super::pause::Error),
    /// The start-up checks found that the config does not fit an org: the
    /// worker stops consuming.
    #[error("the config does not fit the org: {0}")]
    Unfit(String),
    /// An org's lane ended (its own error was reported when it did).
    #[error("the lane of org {0} ended")]
    LaneEnded(String),
}

impl SessionError {
    /// The cause's label for `hookgate_worker_sessions_ended_total{reason}`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            SessionError::Amqp(_) => "amqp",
            SessionError::Publish(_) => "publish",
            SessionError::Store(_) => "store",
            SessionError::Pause(_) => "pause",
            SessionError::Unfit(_) => "unfit",
            SessionError::LaneEnded(_) => "lane",
        }
    }
}
