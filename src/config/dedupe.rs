//! `[dedupe]`: the edge replay cache.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Error;
use crate::secret::redact_url;

/// Smallest `dedupe.max_bytes`: an empty redb file takes about 1 MiB.
pub const MIN_DEDUPE_MAX_BYTES: u64 = 4 << 20;

/// `[dedupe]`: the edge replay cache. `Debug` shows the Redis URL without
/// its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// Answer repeats 2xx without a second publish (default true).
    #[serde(default = "super::default_true")]
    pub(crate) enabled: bool,
    /// Embedded store file (redb), used when `redis_url` is not set.
    #[serde(default = "default_dedupe_path")]
    pub(crate) path: PathBuf,
    /// Share the cache across a fleet of gateways.
    pub(crate) redis_url: Option<String>,
    /// Disk budget of the embedded file in bytes (it shares the data
    /// directory with the spool). While the file is at or over it, every
    /// commit removes as many marks as it adds, earliest expiry first
    /// (counted in `hookgate_replay_cache_evicted_total`): a replay cache
    /// that forgets early lets a replay through to the consumers' dedupe; one
    /// that fills the disk stops the spool. At least
    /// [`MIN_DEDUPE_MAX_BYTES`].
    #[serde(default = "default_dedupe_max_bytes")]
    pub(crate) max_bytes: u64,
}

impl std::fmt::Debug for DedupeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let DedupeConfig {
            enabled,
            path,
            redis_url,
            max_bytes,
        } = self;
        f.debug_struct("DedupeConfig")
            .field("enabled", enabled)
            .field("path", path)
            .field("redis_url", &redis_url.as_deref().map(redact_url))
            .field("max_bytes", max_bytes)
            .finish()
    }
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            enabled: true,
            path: default_dedupe_path(),
            redis_url: None,
            max_bytes: default_dedupe_max_bytes(),
        }
    }
}

impl DedupeConfig {
    /// Checks the embedded file's budget (Redis has its own).
    ///
    /// # Errors
    /// [`Error::Invalid`] for `dedupe.max_bytes`.
    pub(super) fn validate(&self, file: &Path) -> Result<(), Error> {
        if self.enabled && self.redis_url.is_none() && self.max_bytes < MIN_DEDUPE_MAX_BYTES {
            return Err(Error::invalid(
                file,
                "dedupe.max_bytes",
                format!("must be at least {MIN_DEDUPE_MAX_BYTES} (a new file takes about 1 MiB)"),
            ));
        }
        Ok(())
    }
}

fn default_dedupe_path() -> PathBuf {
    PathBuf::from("data/dedupe.redb")
}
fn default_dedupe_max_bytes() -> u64 {
    256 << 20
}
