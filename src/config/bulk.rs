//! `[worker.bulk]`: when the worker writes a backlog through Bulk API 2.0
//! ingest jobs instead of sObject Collections calls (docs/workers.md, "Bulk
//! API 2.0"); re-exported by [`super::worker`].

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::Error;

/// Most rows one job may take: the upload limit is 150 MB of base64 per
/// job (about 100 MB of CSV), and the worker holds every row's delivery
/// unacked while its job runs (`../shared/docs/SALESFORCE.md` section 8).
pub(crate) const MAX_RECORDS_PER_JOB: usize = 1_000_000;

/// `[worker.bulk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkConfig {
    /// Whether a backlog may go through Bulk API 2.0 (default true).
    #[serde(default = "default_enabled")]
    pub(crate) enabled: bool,
    /// Ready messages of one (operation, sObject, external id field) key
    /// gathered at once from which they are written by one ingest job
    /// rather than by collections calls (default 10,000).
    #[serde(default = "default_threshold")]
    pub(crate) threshold: usize,
    /// Most records per ingest job (default 100,000; at most 1,000,000).
    #[serde(default = "default_max_records")]
    pub(crate) max_records_per_job: usize,
    /// First delay between two polls of a job's state, in ms (default
    /// 2,000); it doubles up to `poll_max_ms`.
    #[serde(default = "default_poll_interval")]
    pub(crate) poll_interval_ms: u64,
    /// Longest delay between two polls, in ms (default 30,000).
    #[serde(default = "default_poll_max")]
    pub(crate) poll_max_ms: u64,
    /// A job still running this long after its creation is aborted; what it
    /// processed is settled, the rest retried (default 1,200 s: its
    /// messages are unacked meanwhile, and RabbitMQ's delivery
    /// acknowledgement timeout, 30 min by default, must not close the
    /// channel first).
    #[serde(default = "default_job_timeout")]
    pub(crate) job_timeout_s: u64,
    /// How long a gathering batch waits for one more message before it is
    /// closed, in ms (default 1,000).
    #[serde(default = "default_gather_linger")]
    pub(crate) gather_linger_ms: u64,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            enabled: default_enabled(),
            threshold: default_threshold(),
            max_records_per_job: default_max_records(),
            poll_interval_ms: default_poll_interval(),
            poll_max_ms: default_poll_max(),
            job_timeout_s: default_job_timeout(),
            gather_linger_ms: default_gather_linger(),
        }
    }
}

impl BulkConfig {
    /// `worker.bulk.*` against `batch_size` (a job must be worth more than
    /// one collections call).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the key.
    pub(crate) fn validate(&self, file: &Path, batch_size: usize) -> Result<(), Error> {
        let invalid =
            |k: &str, reason: &str| Error::invalid(file, format!("worker.bulk.{k}"), reason);
        if self.threshold <= batch_size {
            return Err(invalid(
                "threshold",
                "must be more than worker.batch_size (one collections call)",
            ));
        }
        if self.max_records_per_job < self.threshold
            || self.max_records_per_job > MAX_RECORDS_PER_JOB
        {
            return Err(invalid(
                "max_records_per_job",
                "from threshold to 1,000,000",
            ));
        }
        if self.poll_interval_ms == 0 || self.poll_max_ms < self.poll_interval_ms {
            return Err(invalid(
                "poll_interval_ms",
                "must be > 0 and at most poll_max_ms",
            ));
        }
        if self.job_timeout_s == 0 {
            return Err(invalid("job_timeout_s", "must be > 0"));
        }
        if self.gather_linger_ms == 0 {
            return Err(invalid("gather_linger_ms", "must be > 0"));
        }
        Ok(())
    }

    /// `poll_interval_ms` .. `poll_max_ms`.
    pub(crate) fn poll(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.poll_interval_ms),
            Duration::from_millis(self.poll_max_ms),
        )
    }
}

fn default_enabled() -> bool {
    true
}
fn default_threshold() -> usize {
    10_000
}
fn default_max_records() -> usize {
    100_000
}
fn default_poll_interval() -> u64 {
    2_000
}
fn default_poll_max() -> u64 {
    30_000
}
fn default_job_timeout() -> u64 {
    1_200
}
fn default_gather_linger() -> u64 {
    1_000
}
