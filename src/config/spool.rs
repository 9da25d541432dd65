//! `[spool]`: the durable local outbox used while the broker cannot confirm.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{positive, AmqpConfig, Error};

/// Smallest `spool.max_bytes`: an empty redb file takes about 1 MiB.
pub const MIN_SPOOL_MAX_BYTES: u64 = 4 << 20;

/// `[spool]`: where accepted messages go while the broker is down, slow or
/// blocked (see `crate::outbox::spool`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Use the spool (default true). Without it a broker outage is answered 503.
    #[serde(default = "super::default_true")]
    pub enabled: bool,
    /// The redb file (created with its directory if missing).
    #[serde(default = "default_spool_path")]
    pub path: PathBuf,
    /// Fast-path budget in ms: no confirm within it and the request is spooled.
    #[serde(default = "default_after_ms")]
    pub(crate) after_ms: u64,
    /// Disk budget of the spool file in bytes: a write is answered 503 while
    /// the file's size on disk is at or over it, or when the entries
    /// (metadata + bodies, quarantine included) would exceed it. The file is
    /// larger than its entries (pages, copy-on-write, free space; about 3x
    /// for 3 KB bodies) and is measured after each commit, so it can pass
    /// the budget by one commit's growth. A drained file is compacted. At
    /// least [`MIN_SPOOL_MAX_BYTES`] (a new redb file takes about 1 MiB).
    #[serde(default = "default_spool_max_bytes")]
    pub(crate) max_bytes: u64,
    /// Most spooled messages; past it: 503.
    #[serde(default = "default_spool_max_messages")]
    pub(crate) max_messages: u64,
    /// Failed forwarding attempts the broker blamed on an entry (nack,
    /// returned) before it moves to the quarantine table, where the
    /// forwarder no longer retries it (`hookgate spool quarantine`).
    #[serde(default = "default_quarantine_after")]
    pub(crate) quarantine_after: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            enabled: true,
            path: default_spool_path(),
            after_ms: default_after_ms(),
            max_bytes: default_spool_max_bytes(),
            max_messages: default_spool_max_messages(),
            quarantine_after: default_quarantine_after(),
        }
    }
}

impl SpoolConfig {
    /// Checks an enabled spool's budgets and path; `amqp` bounds `after_ms`
    /// (the fast path must end well before the confirm deadline).
    ///
    /// # Errors
    /// [`Error::Invalid`] with the key of the first problem.
    pub(super) fn validate(&self, file: &Path, amqp: &AmqpConfig) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        positive(file, "spool.after_ms", self.after_ms)?;
        positive(file, "spool.max_bytes", self.max_bytes)?;
        if self.max_bytes < MIN_SPOOL_MAX_BYTES {
            return Err(Error::invalid(
                file,
                "spool.max_bytes",
                format!(
                    "must be at least {MIN_SPOOL_MAX_BYTES} (a new spool file takes about 1 MiB)"
                ),
            ));
        }
        positive(file, "spool.max_messages", self.max_messages)?;
        positive(file, "spool.quarantine_after", self.quarantine_after)?;
        if self.after_ms >= amqp.confirm_timeout_ms.max(1) * 10 {
            return Err(Error::invalid(
                file,
                "spool.after_ms",
                "should be well below the senders' answer deadlines (e.g. 1000)",
            ));
        }
        if self.path.as_os_str().is_empty() || self.path.is_dir() {
            return Err(Error::invalid(file, "spool.path", "must be a file path"));
        }
        Ok(())
    }
}

fn default_spool_path() -> PathBuf {
    PathBuf::from("data/spool.redb")
}
fn default_after_ms() -> u64 {
    1_000
}
fn default_spool_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
fn default_spool_max_messages() -> u64 {
    1_000_000
}
fn default_quarantine_after() -> u64 {
    5
}
