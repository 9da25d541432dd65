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
pub struct Org {
    /// Its config (name, ids, limits).
    pub config: OrgConfig,
    /// Its REST client.
    pub client: Arc<Client>,
    /// Its describes: fetched at start, or, when it could not be asked
    /// then, before the first delivery.
    pub schema: OnceLock<Schema>,
    /// Whether (and why) writing to it is paused.
    pub pause: pause::State,
}

/// Shared state of a worker session.
pub struct Ctx {
    /// Validated config.
    pub config: WorkerConfig,
    /// Actions with parsed patterns.
    pub actions: Vec<(Pattern, ActionConfig)>,
    /// Idempotency store.
    pub store: Store,
    /// The orgs written to, in config order (their client, describes and
    /// pause state).
    pub orgs: Vec<Org>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
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
    /// Shutdown came while paused (held messages stay unacked), or the
    /// claims could not be renewed.
    #[error(transparent)]
    Pause(#[from] super::pause::Error),
    /// An org's lane ended (its own error was reported when it did).
    #[error("the lane of org {0} ended")]
    LaneEnded(String),
}
