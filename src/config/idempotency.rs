//! `[worker.idempotency]`: the worker's idempotency store (embedded redb
//! file or Redis); re-exported by [`super::worker`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Error;
use crate::secret::redact_url;

/// Smallest `worker.idempotency.max_bytes`: an empty redb file takes about
/// 1 MiB.
pub(crate) const MIN_IDEMPOTENCY_MAX_BYTES: u64 = 4 << 20;

/// `[worker.idempotency]`. `Debug` shows the Redis URL without its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdempotencyConfig {
    /// `embedded` (redb file) or `redis` (shared by a fleet of workers).
    #[serde(default)]
    pub(crate) store: StoreKind,
    /// redb file for `embedded`.
    #[serde(default = "default_idem_path")]
    pub(crate) path: PathBuf,
    /// `redis://host:port` for `redis`.
    pub(crate) redis_url: Option<String>,
    /// How long a done message_id is remembered, in seconds (default 48 h,
    /// longer than Salesforce's 24 h Outbound Message retry window).
    #[serde(default = "default_ttl")]
    pub(crate) ttl_s: u64,
    /// Disk budget of the `embedded` file in bytes (default 4 GiB, at
    /// least [`MIN_IDEMPOTENCY_MAX_BYTES`]). While the file is at or over
    /// it, each done commit removes as many done marks as it adds, earliest
    /// expiry first (`hookgate_worker_idempotency_evicted_total`): a mark
    /// forgotten early lets a redelivery of its message be written twice.
    #[serde(default = "default_idem_max_bytes")]
    pub(crate) max_bytes: u64,
}

impl std::fmt::Debug for IdempotencyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let IdempotencyConfig {
            store,
            path,
            redis_url,
            ttl_s,
            max_bytes,
        } = self;
        f.debug_struct("IdempotencyConfig")
            .field("store", store)
            .field("path", path)
            .field("redis_url", &redis_url.as_deref().map(redact_url))
            .field("ttl_s", ttl_s)
            .field("max_bytes", max_bytes)
            .finish()
    }
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            store: StoreKind::Embedded,
            path: default_idem_path(),
            redis_url: None,
            ttl_s: default_ttl(),
            max_bytes: default_idem_max_bytes(),
        }
    }
}

/// Idempotency store kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreKind {
    /// redb file, one worker process.
    #[default]
    Embedded,
    /// Redis, shared by several workers.
    Redis,
}

impl IdempotencyConfig {
    /// Redis needs its URL; marks outlive Salesforce's retries; the
    /// embedded file's budget holds at least an empty file.
    pub(super) fn validate(&self, file: &Path) -> Result<(), Error> {
        if self.store == StoreKind::Embedded && self.max_bytes < MIN_IDEMPOTENCY_MAX_BYTES {
            return Err(Error::invalid(
                file,
                "worker.idempotency.max_bytes",
                format!(
                    "must be at least {MIN_IDEMPOTENCY_MAX_BYTES} (a new file takes about 1 MiB)"
                ),
            ));
        }
        if self.store == StoreKind::Redis && self.redis_url.is_none() {
            return Err(Error::invalid(
                file,
                "worker.idempotency.redis_url",
                "required for store = \"redis\"",
            ));
        }
        if self.ttl_s < 24 * 3600 {
            return Err(Error::invalid(
                file,
                "worker.idempotency.ttl_s",
                "must exceed Salesforce's 24 h retry window (86400)",
            ));
        }
        Ok(())
    }
}

fn default_idem_path() -> PathBuf {
    PathBuf::from("data/idempotency.redb")
}
fn default_ttl() -> u64 {
    172_800
}
fn default_idem_max_bytes() -> u64 {
    // About 14 million marks of ~300 bytes: 48 h at ~80 messages/s.
    4 * 1024 * 1024 * 1024
}
