//! Idempotency: a store keyed by the messages' idempotency keys
//! (`super::consume::idempotency_key`: the gateway's replay-cache key,
//! `<route>|<id>[|<body hash>]`) that records done work.
//!
//! Two states per key: `pending` (claimed by a worker that is applying it,
//! short TTL) and `done` (applied; kept `ttl_s`, default 48 h, longer than
//! Salesforce's 24 h Outbound Message retry window). A worker claims a key
//! before the Salesforce call, marks it done after success and releases the
//! claim after a failure, so two workers sharing Redis never apply one message
//! twice; a worker that dies holding a claim loses it after `CLAIM_TTL`.
//! A paused worker (docs/workers.md) keeps its messages, so it keeps their
//! claims too: `Store::extend_held` renews every claim it holds for another
//! `CLAIM_TTL` while it waits, so no pause outlives a claim.
//!
//! Embedded store (`embedded.rs`, its tables in `tables.rs`): a redb file opened through
//! [`crate::store`] like the replay cache and the spool (claims committed
//! with `Durability::None`, done marks with `Durability::Immediate`),
//! bounded by `max_bytes` (earliest expiry evicted first), reopened after an
//! I/O error (every call fails with [`crate::store::Error::Reopening`]
//! meanwhile: the message is retried later; what a failed done commit means
//! is explained in `embedded.rs`). Redis: `SET key pending NX PX`, then
//! `SET key done PX ttl`, keys prefixed [`REDIS_PREFIX`].

mod embedded;
mod jobs;
mod tables;

pub(crate) use jobs::JobRecord;
pub use jobs::REDIS_JOBS;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use self::embedded::{Budget, Embedded};
use super::metrics::Metrics;
use crate::config::worker::{IdempotencyConfig, StoreKind};

/// How long a claim holds without being marked done or released.
pub(crate) const CLAIM_TTL: Duration = Duration::from_secs(120);
/// Redis key prefix.
pub const REDIS_PREFIX: &str = "hookgate:idem:";
/// redb's page cache for the embedded file (its default is 1 GiB, taken as
/// the file is read): the keys claimed are mostly recent ones.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Ours: apply it, then [`Store::done`] or [`Store::release`].
    Acquired,
    /// Already applied: ack without a call.
    Done,
    /// Another worker holds it now: try again later.
    InProgress,
}

/// A store failure: the message is retried later (the worker's session
/// ends, its unacked deliveries come back).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The embedded file failed, or is being reopened after an I/O error
    /// ([`crate::store::Error::Reopening`]).
    #[error("idempotency store: {0}")]
    File(#[from] crate::store::Error),
    /// Redis failed or is unreachable.
    #[error("idempotency store: {0}")]
    Redis(String),
}

fn redis_err(e: impl std::fmt::Display) -> Error {
    Error::Redis(e.to_string())
}

/// Renews each `pending` key of KEYS for ARGV[1] ms; a key done (or taken
/// over) meanwhile is left alone.
const EXTEND_SCRIPT: &str = "for _, k in ipairs(KEYS) do \
     if redis.call('GET', k) == 'pending' then redis.call('PEXPIRE', k, ARGV[1]) end \
     end return 0";

/// The idempotency store, and the claims this process holds.
#[derive(Clone)]
pub(crate) struct Store {
    backend: Backend,
    /// Keys this process claimed and has not yet marked done or released.
    held: Arc<Mutex<HashSet<String>>>,
}

#[derive(Clone)]
enum Backend {
    /// redb file.
    Embedded(Arc<Embedded>),
    /// Redis, shared by a fleet.
    Redis(redis::aio::ConnectionManager, Duration),
}

/// Runs `f` (a redb call) on the blocking pool.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, crate::store::Error> + Send + 'static,
) -> Result<R, Error> {
    let result = tokio::task::spawn_blocking(f)
        .await
        .map_err(crate::store::Error::db)?;
    Ok(result?)
}

impl Store {
    fn new(backend: Backend) -> Store {
        Store {
            backend,
            held: Arc::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Renews every claim this process holds for another [`CLAIM_TTL`]
    /// (called while a pause keeps their messages waiting).
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn extend_held(&self) -> Result<(), Error> {
        let ids: Vec<String> = self.held().iter().cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                blocking(move || e.extend(&ids)).await
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(EXTEND_SCRIPT).arg(ids.len());
                for id in &ids {
                    cmd.arg(format!("{REDIS_PREFIX}{id}"));
                }
                cmd.arg(CLAIM_TTL.as_millis() as u64);
                cmd.query_async::<()>(&mut conn).await.map_err(redis_err)
            }
        }
    }

    /// Releases every claim this process still holds (a session ended).
    ///
    /// # Errors
    /// [`Error`] when the store fails (the claims then expire by themselves).
    pub(crate) async fn release_held(&self) -> Result<(), Error> {
        let ids: Vec<String> = self.held().iter().cloned().collect();
        self.release(ids).await
    }

    /// Opens the configured store; the embedded one counts its evictions in
    /// `metrics`.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened or Redis is unreachable.
    pub(crate) async fn open(cfg: &IdempotencyConfig, metrics: &Metrics) -> Result<Store, Error> {
        match cfg.store {
            StoreKind::Embedded => {
                let open = crate::store::file(&cfg.path, CACHE_BYTES);
                Store::open_embedded(open, cfg, metrics).await
            }
            StoreKind::Redis => {
                let url = cfg.redis_url.clone().unwrap_or_default();
                let client = redis::Client::open(url).map_err(redis_err)?;
                let conn =
                    tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
                        .await
                        .map_err(|_| redis_err("redis connection timed out"))?
                        .map_err(redis_err)?;
                Ok(Store::new(Backend::Redis(
                    conn,
                    Duration::from_secs(cfg.ttl_s),
                )))
            }
        }
    }

    /// The embedded store through `open` (a test injects a storage
    /// backend); it opens `cfg.path` every time it is called.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened.
    pub(crate) async fn open_embedded(
        open: crate::store::Open,
        cfg: &IdempotencyConfig,
        metrics: &Metrics,
    ) -> Result<Store, Error> {
        let ttl = Duration::from_secs(cfg.ttl_s);
        let budget = Budget {
            path: cfg.path.clone(),
            max_bytes: cfg.max_bytes,
            evicted: metrics.idempotency_evicted.clone(),
        };
        let e = blocking(move || Embedded::open(open, ttl, budget)).await?;
        Ok(Store::new(Backend::Embedded(e)))
    }

    /// Claims `id` for processing.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn claim(&self, id: &str) -> Result<Claim, Error> {
        let claim = self.claim_in_store(id).await?;
        if claim == Claim::Acquired {
            self.held().insert(id.to_owned());
        }
        Ok(claim)
    }

    async fn claim_in_store(&self, id: &str) -> Result<Claim, Error> {
        match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                let id = id.to_owned();
                blocking(move || e.claim(&id)).await
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let key = format!("{REDIS_PREFIX}{id}");
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg("pending")
                    .arg("NX")
                    .arg("PX")
                    .arg(CLAIM_TTL.as_millis() as u64)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
                if set.is_some() {
                    return Ok(Claim::Acquired);
                }
                let state: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
                Ok(match state.as_deref() {
                    Some("done") => Claim::Done,
                    Some(_) => Claim::InProgress,
                    // Expired between the two commands: try once more later.
                    None => Claim::InProgress,
                })
            }
        }
    }

    /// Marks `ids` done (durably) for the TTL.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn done(&self, ids: Vec<String>) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.forget(&ids);
        match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                blocking(move || e.done(&ids)).await
            }
            Backend::Redis(conn, ttl) => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for id in &ids {
                    pipe.cmd("SET")
                        .arg(format!("{REDIS_PREFIX}{id}"))
                        .arg("done")
                        .arg("PX")
                        .arg(ttl.as_millis() as u64)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await.map_err(redis_err)
            }
        }
    }

    /// Releases claims after a failure, so a retry can claim again.
    ///
    /// # Errors
    /// [`Error`] when the store fails (the claim then expires by itself, or,
    /// embedded, is released when the file is reopened).
    pub(crate) async fn release(&self, ids: Vec<String>) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.forget(&ids);
        match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                blocking(move || e.release(&ids)).await
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("DEL");
                for id in &ids {
                    cmd.arg(format!("{REDIS_PREFIX}{id}"));
                }
                cmd.query_async::<()>(&mut conn).await.map_err(redis_err)
            }
        }
    }

    fn forget(&self, ids: &[String]) {
        let mut held = self.held();
        for id in ids {
            held.remove(id);
        }
    }
}

#[cfg(test)]
mod tests;
