//! Idempotency: a store keyed by the messages' idempotency keys
//! ([`super::consume::idempotency_key`]: the gateway's replay-cache key,
//! `<route>|<id>[|<body hash>]`) that records done work.
//!
//! Two states per key: `pending` (claimed by a worker that is applying it,
//! short TTL) and `done` (applied; kept `ttl_s`, default 48 h, longer than
//! Salesforce's 24 h Outbound Message retry window). A worker claims a key
//! before the Salesforce call, marks it done after success and releases the
//! claim after a failure, so two workers sharing Redis never apply one message
//! twice; a worker that dies holding a claim loses it after [`CLAIM_TTL`].
//! A paused worker (docs/workers.md) keeps its messages, so it keeps their
//! claims too: [`Store::extend_held`] renews every claim it holds for another
//! [`CLAIM_TTL`] while it waits, so no pause outlives a claim.
//!
//! Embedded store: a redb table (claims committed with `Durability::None`,
//! done marks with `Durability::Immediate`). Redis: `SET key pending NX PX`,
//! then `SET key done PX ttl`, keys prefixed [`REDIS_PREFIX`].

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redb::{Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::config::worker::{IdempotencyConfig, StoreKind};

/// How long a claim holds without being marked done or released.
pub const CLAIM_TTL: Duration = Duration::from_secs(120);
/// Redis key prefix.
pub const REDIS_PREFIX: &str = "hookgate:idem:";

const TABLE: TableDefinition<&str, (u8, u64)> = TableDefinition::new("idempotency");
const PENDING: u8 = 0;
const DONE: u8 = 1;

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours: apply it, then [`Store::done`] or [`Store::release`].
    Acquired,
    /// Already applied: ack without a call.
    Done,
    /// Another worker holds it now: try again later.
    InProgress,
}

/// A store failure (I/O, Redis unreachable): the message is retried later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct Error(String);

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// Renews each `pending` key of KEYS for ARGV[1] ms; a key done (or taken
/// over) meanwhile is left alone.
const EXTEND_SCRIPT: &str = "for _, k in ipairs(KEYS) do \
     if redis.call('GET', k) == 'pending' then redis.call('PEXPIRE', k, ARGV[1]) end \
     end return 0";

/// The idempotency store, and the claims this process holds.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Keys this process claimed and has not yet marked done or released.
    held: Arc<Mutex<HashSet<String>>>,
}

#[derive(Clone)]
enum Backend {
    /// redb file.
    Embedded(Arc<Database>, Duration),
    /// Redis, shared by a fleet.
    Redis(redis::aio::ConnectionManager, Duration),
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
    pub async fn extend_held(&self) -> Result<(), Error> {
        let ids: Vec<String> = self.held().iter().cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Embedded(db, _) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || extend_redb(&db, &ids))
                    .await
                    .map_err(err)?
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(EXTEND_SCRIPT).arg(ids.len());
                for id in &ids {
                    cmd.arg(format!("{REDIS_PREFIX}{id}"));
                }
                cmd.arg(CLAIM_TTL.as_millis() as u64);
                cmd.query_async::<()>(&mut conn).await.map_err(err)
            }
        }
    }

    /// Releases every claim this process still holds (a session ended).
    ///
    /// # Errors
    /// [`Error`] when the store fails (the claims then expire by themselves).
    pub async fn release_held(&self) -> Result<(), Error> {
        let ids: Vec<String> = self.held().iter().cloned().collect();
        self.release(ids).await
    }

    /// Opens the configured store.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened or Redis is unreachable.
    pub async fn open(cfg: &IdempotencyConfig) -> Result<Store, Error> {
        let ttl = Duration::from_secs(cfg.ttl_s);
        match cfg.store {
            StoreKind::Embedded => {
                let path = cfg.path.clone();
                let db = tokio::task::spawn_blocking(move || open_redb(&path))
                    .await
                    .map_err(err)??;
                Ok(Store::new(Backend::Embedded(Arc::new(db), ttl)))
            }
            StoreKind::Redis => {
                let url = cfg.redis_url.clone().unwrap_or_default();
                let client = redis::Client::open(url).map_err(err)?;
                let conn =
                    tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
                        .await
                        .map_err(|_| err("redis connection timed out"))?
                        .map_err(err)?;
                Ok(Store::new(Backend::Redis(conn, ttl)))
            }
        }
    }

    /// Claims `id` for processing.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub async fn claim(&self, id: &str) -> Result<Claim, Error> {
        let claim = self.claim_in_store(id).await?;
        if claim == Claim::Acquired {
            self.held().insert(id.to_owned());
        }
        Ok(claim)
    }

    async fn claim_in_store(&self, id: &str) -> Result<Claim, Error> {
        match &self.backend {
            Backend::Embedded(db, _) => {
                let db = db.clone();
                let id = id.to_owned();
                tokio::task::spawn_blocking(move || claim_redb(&db, &id))
                    .await
                    .map_err(err)?
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
                    .map_err(err)?;
                if set.is_some() {
                    return Ok(Claim::Acquired);
                }
                let state: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(err)?;
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
    pub async fn done(&self, ids: Vec<String>) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.forget(&ids);
        match &self.backend {
            Backend::Embedded(db, ttl) => {
                let db = db.clone();
                let until = now_ms() + ttl.as_millis() as u64;
                tokio::task::spawn_blocking(move || write_redb(&db, &ids, Some((DONE, until))))
                    .await
                    .map_err(err)?
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
                pipe.query_async::<()>(&mut conn).await.map_err(err)
            }
        }
    }

    /// Releases claims after a failure, so a retry can claim again.
    ///
    /// # Errors
    /// [`Error`] when the store fails (the claim then expires by itself).
    pub async fn release(&self, ids: Vec<String>) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        self.forget(&ids);
        match &self.backend {
            Backend::Embedded(db, _) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || write_redb(&db, &ids, None))
                    .await
                    .map_err(err)?
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("DEL");
                for id in &ids {
                    cmd.arg(format!("{REDIS_PREFIX}{id}"));
                }
                cmd.query_async::<()>(&mut conn).await.map_err(err)
            }
        }
    }
}

impl Store {
    fn forget(&self, ids: &[String]) {
        let mut held = self.held();
        for id in ids {
            held.remove(id);
        }
    }
}

fn open_redb(path: &Path) -> Result<Database, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let db = Database::create(path).map_err(err)?;
    let txn = db.begin_write().map_err(err)?;
    {
        // The file is this process's alone (redb locks it): a pending claim
        // found now belongs to a worker that died; its messages come back.
        let mut table = txn.open_table(TABLE).map_err(err)?;
        let stale: Vec<String> = table
            .iter()
            .map_err(err)?
            .filter_map(|r| r.ok())
            .filter(|(_, v)| v.value().0 == PENDING)
            .map(|(k, _)| k.value().to_owned())
            .collect();
        for k in stale {
            table.remove(k.as_str()).map_err(err)?;
        }
    }
    txn.commit().map_err(err)?;
    Ok(db)
}

fn claim_redb(db: &Database, id: &str) -> Result<Claim, Error> {
    let now = now_ms();
    {
        let read = db.begin_read().map_err(err)?;
        let table = read.open_table(TABLE).map_err(err)?;
        if let Some(v) = table.get(id).map_err(err)? {
            let (state, until) = v.value();
            if until > now {
                return Ok(if state == DONE {
                    Claim::Done
                } else {
                    Claim::InProgress
                });
            }
        }
    }
    let mut txn = db.begin_write().map_err(err)?;
    // A claim need not survive a crash: losing it only means a retry.
    txn.set_durability(Durability::None).map_err(err)?;
    let claim = {
        let mut table = txn.open_table(TABLE).map_err(err)?;
        let existing = table.get(id).map_err(err)?.map(|v| v.value());
        match existing {
            Some((DONE, until)) if until > now => Claim::Done,
            Some((_, until)) if until > now => Claim::InProgress,
            _ => {
                table
                    .insert(id, (PENDING, now + CLAIM_TTL.as_millis() as u64))
                    .map_err(err)?;
                Claim::Acquired
            }
        }
    };
    txn.commit().map_err(err)?;
    Ok(claim)
}

/// Renews the pending claims among `ids` for another [`CLAIM_TTL`].
fn extend_redb(db: &Database, ids: &[String]) -> Result<(), Error> {
    let until = now_ms() + CLAIM_TTL.as_millis() as u64;
    let mut txn = db.begin_write().map_err(err)?;
    txn.set_durability(Durability::None).map_err(err)?;
    {
        let mut table = txn.open_table(TABLE).map_err(err)?;
        for id in ids {
            let state = table.get(id.as_str()).map_err(err)?.map(|v| v.value().0);
            if state == Some(PENDING) {
                table.insert(id.as_str(), (PENDING, until)).map_err(err)?;
            }
        }
    }
    txn.commit().map_err(err)
}

/// Sets (`Some`) or removes (`None`) entries in one durable commit.
fn write_redb(db: &Database, ids: &[String], value: Option<(u8, u64)>) -> Result<(), Error> {
    let txn = db.begin_write().map_err(err)?;
    {
        let mut table = txn.open_table(TABLE).map_err(err)?;
        for id in ids {
            match value {
                Some(v) => {
                    table.insert(id.as_str(), v).map_err(err)?;
                }
                None => {
                    table.remove(id.as_str()).map_err(err)?;
                }
            }
        }
        // Drop expired entries while we hold the write lock (bounded work).
        let now = now_ms();
        let expired: Vec<String> = table
            .iter()
            .map_err(err)?
            .filter_map(|r| r.ok())
            .filter(|(_, v)| v.value().1 <= now)
            .take(1000)
            .map(|(k, _)| k.value().to_owned())
            .collect();
        for k in expired {
            table.remove(k.as_str()).map_err(err)?;
        }
    }
    txn.commit().map_err(err)
}

fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[tokio::test]
    async fn embedded_claim_done_release() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IdempotencyConfig {
            store: StoreKind::Embedded,
            path: dir.path().join("idem.redb"),
            redis_url: None,
            ttl_s: 172_800,
        };
        let s = Store::open(&cfg).await.unwrap();
        assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
        assert_eq!(s.claim("a").await.unwrap(), Claim::InProgress);
        s.release(vec!["a".into()]).await.unwrap();
        assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
        s.done(vec!["a".into()]).await.unwrap();
        assert_eq!(s.claim("a").await.unwrap(), Claim::Done);
        assert_eq!(s.claim("b").await.unwrap(), Claim::Acquired);
    }

    /// A pause longer than CLAIM_TTL keeps its claims: each renewal pushes
    /// the expiry of the pending claims this store holds, never a done mark.
    #[tokio::test]
    async fn held_claims_are_extended_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IdempotencyConfig {
            store: StoreKind::Embedded,
            path: dir.path().join("idem.redb"),
            redis_url: None,
            ttl_s: 172_800,
        };
        let s = Store::open(&cfg).await.unwrap();
        assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
        assert_eq!(s.claim("b").await.unwrap(), Claim::Acquired);
        s.done(vec!["b".into()]).await.unwrap();
        let Backend::Embedded(db, _) = &s.backend else {
            panic!("embedded")
        };
        // Age the claim as if CLAIM_TTL had nearly passed.
        write_redb(db, &["a".to_owned()], Some((PENDING, now_ms() + 10))).unwrap();
        s.extend_held().await.unwrap();
        let read = db.begin_read().unwrap();
        let table = read.open_table(TABLE).unwrap();
        let (state, until) = table.get("a").unwrap().unwrap().value();
        assert_eq!(state, PENDING);
        assert!(until > now_ms() + CLAIM_TTL.as_millis() as u64 / 2);
        assert_eq!(table.get("b").unwrap().unwrap().value().0, DONE);
        drop(table);
        drop(read);
        s.release_held().await.unwrap();
        assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
        assert_eq!(s.claim("b").await.unwrap(), Claim::Done);
    }

    /// Redis: renewal pushes the expiry of this process's pending claims
    /// and leaves a done mark (and its 48 h expiry) alone.
    #[tokio::test]
    async fn redis_held_claims_are_extended_not_done_marks() {
        let cfg = IdempotencyConfig {
            store: StoreKind::Redis,
            path: PathBuf::new(),
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ttl_s: 172_800,
        };
        let s = Store::open(&cfg).await.expect("redis at 127.0.0.1:6379");
        let tag = format!("unit-extend-{}-{}", std::process::id(), now_ms());
        let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
        assert_eq!(s.claim(&a).await.unwrap(), Claim::Acquired);
        assert_eq!(s.claim(&b).await.unwrap(), Claim::Acquired);
        s.done(vec![b.clone()]).await.unwrap();
        let Backend::Redis(conn, _) = &s.backend else {
            panic!("redis")
        };
        let mut conn = conn.clone();
        let pttl = |k: &str| redis::cmd("PTTL").arg(format!("{REDIS_PREFIX}{k}")).clone();
        let _: () = redis::cmd("PEXPIRE")
            .arg(format!("{REDIS_PREFIX}{a}"))
            .arg(500)
            .query_async(&mut conn)
            .await
            .unwrap();
        s.extend_held().await.unwrap();
        let left: i64 = pttl(&a).query_async(&mut conn).await.unwrap();
        assert!(left > CLAIM_TTL.as_millis() as i64 / 2, "{left}");
        let done_left: i64 = pttl(&b).query_async(&mut conn).await.unwrap();
        assert!(done_left > CLAIM_TTL.as_millis() as i64 * 2, "{done_left}");
        s.release_held().await.unwrap();
        s.release(vec![b]).await.unwrap();
        assert_eq!(s.claim(&a).await.unwrap(), Claim::Acquired);
        s.release(vec![a]).await.unwrap();
    }
}
