//! Replay protection at the edge: a seen-key cache with a TTL per route.
//!
//! A request whose key was seen within the route's `replay_ttl` is answered
//! 2xx (or `Ack`) without a second publish and counted
//! (`hookgate_duplicates_total`). Keys are the messages'
//! [`crate::envelope::idempotency_key`]s (`<route>|<id>`; when the scheme does
//! not sign the id (GitHub's delivery header, Shopify's webhook id,
//! Salesforce's Notification Id, a generic `id_header` outside the signed
//! payload) the SHA-256 of the body is part of the key, so a forged id cannot
//! suppress a real delivery). The worker's idempotency store uses the same
//! keys (carried in `x-hookgate-idempotency-key`).
//!
//! A key is recorded only after its messages are durable (confirmed or
//! spooled): a failed publish must stay retryable. While a request stores
//! them its keys are *claimed* (`claim`): an identical request arriving
//! meanwhile, on this gateway or (Redis) another one, waits for the first
//! one's outcome instead of being published too.
//!
//! Stores:
//! - an embedded redb file (default). Lookups run inline on the request's
//!   task (a B-tree read from redb's page cache, a few microseconds) in the
//!   writer's snapshot of the table, taken after each commit (no read
//!   transaction opened per request; while a commit runs, or when no
//!   snapshot could be taken, each lookup opens its own). `Cache::record` puts the
//!   keys in an in-memory *pending* set at once, so a replay arriving right
//!   after the answer is caught, and queues them for one writer thread that
//!   wakes every `TICK` and commits what was queued in one transaction,
//!   without fsync (a durable commit follows within `SYNC_EVERY`): losing the newest marks in a
//!   crash only lets a replay through to the consumers' own dedupe. Keys
//!   leave the pending set once committed. Expired keys are removed through a
//!   second table ordered by expiry time, a bounded number per commit, never
//!   by scanning the whole table.
//!   The file is bounded by `dedupe.max_bytes`: while it is at or over it,
//!   each commit also removes as many marks as it adds, earliest expiry
//!   first (the expiry index's first rows). After an I/O error (disk full)
//!   the writer reopens the file (`crate::store`); meanwhile lookups and
//!   records fail and requests are processed as new (fail open), and
//!   records are not kept in the pending set.
//!   If the writer ends (closed, or a panic: logged as an error) the pending
//!   set is emptied, records fail, `Cache::ready` turns false and lookups
//!   read only the file, so the set cannot grow without its writer.
//! - Redis (`[dedupe] redis_url`), shared by a fleet: one pipelined
//!   `SET key pending NX PX <request timeout>` + `GET key` per key and
//!   request (the claim and the lookup), `SET key 1 PX ttl` per key after
//!   the store, a compare-and-delete of the claim when not stored.

mod claim;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redb::{
    Database, ReadOnlyTable, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _,
    TableDefinition,
};

pub(crate) use self::claim::{Claim, Claims};
use self::writer::{Cmd, Writer, WriterEnd};
use crate::config::DedupeConfig;
use crate::store::{now_ms, Handle};
use crate::telemetry::metrics::Metrics;

/// Key -> expiry (Unix ms).
const SEEN: TableDefinition<&str, u64> = TableDefinition::new("seen");
/// (expiry Unix ms, key) -> (): the expiry index.
const EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("seen_expiry");
/// The error of a lookup or record while the file is reopened.
const REOPENING: crate::store::Error = crate::store::Error::Reopening;
/// Redis key prefix.
pub(crate) const REDIS_PREFIX: &str = "hookgate:seen:";
/// How often the writer commits what was recorded since its last commit.
/// Nobody waits for it (lookups see the pending set), so it only trades the
/// number of commits against the pending set's size: at 10,000 marks/s a
/// commit every 100 ms holds ~1,000 keys in the set, and costs a fifth of
/// the commits (and branch-page copies) of the 20 ms it was before.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// redb's page cache for the file (its default is 1 GiB, taken as the file
/// is read): hot keys are the recent ones.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Longest time a committed mark waits for its fsync. redb keeps commits
/// made without fsync only until the next durable one (and frees their pages
/// only then), so the writer makes one at least this often while marks come.
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Recorded keys not yet committed, and the claims of requests in flight.
///
/// The maps keep std's SipHash (HashDoS-resistant): their keys are
/// sender-chosen (delivery ids; an Outbound Message's Notification Ids,
/// whose sender proves only an Organization ID, up to 1,000 per request), so
/// a faster hash without that resistance (foldhash: ~1,700 instructions per
/// request less, docs/performance.md "Session 15") is not taken.
#[derive(Default)]
struct Pending {
    /// Key -> expiry (Unix ms): what lookups check besides the file.
    seen: HashMap<String, u64>,
    /// (key, expiry) in record order: what the writer commits next.
    queue: Vec<(String, u64)>,
    /// Key -> end of its claim (Unix ms): keys a request in flight is
    /// storing (see [`Cache::claim_all`]).
    claims: HashMap<String, u64>,
}

/// A cache failure: the request is processed as new (fail open: a store
/// outage must not refuse real deliveries; consumers dedupe on message_id).
#[derive(Debug, Clone, thiserror::Error)]
#[error("replay cache: {0}")]
pub struct Error(String);

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// The replay cache.
#[derive(Clone)]
pub(crate) enum Cache {
    /// redb file, pending set and grouping writer thread.
    Embedded(Arc<Embedded>),
    /// Redis.
    Redis(redis::aio::ConnectionManager),
}

/// The newest committed state of the [`SEEN`] table, for lookups.
type Snapshot = ArcSwapOption<ReadOnlyTable<&'static str, u64>>;

/// The embedded store's shared state.
pub(crate) struct Embedded {
    /// The file, reopened by the writer after an I/O error.
    db: Arc<Handle>,
    /// The [`SEEN`] table as of the writer's last commit: lookups read it
    /// instead of opening a read transaction each (`None`: they open one).
    /// The writer replaces it after each commit *before* it drops the
    /// committed keys from the pending set, and a lookup loads it *after*
    /// it checked that set: a key is always in one of the two.
    snapshot: Arc<Snapshot>,
    pending: Arc<Mutex<Pending>>,
    /// Sync and close requests to the writer.
    writer: mpsc::Sender<Cmd>,
    /// Set when the writer thread ends (returns or panics), under the
    /// `pending` lock.
    stopped: Arc<AtomicBool>,
}

impl Cache {
    /// Opens the configured cache.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened or Redis is unreachable.
    pub(crate) async fn open(cfg: &DedupeConfig, metrics: Arc<Metrics>) -> Result<Cache, Error> {
        if let Some(url) = &cfg.redis_url {
            let client = redis::Client::open(url.as_str()).map_err(err)?;
            let conn =
                tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
                    .await
                    .map_err(|_| err("redis connection timed out"))?
                    .map_err(err)?;
            return Ok(Cache::Redis(conn));
        }
        Cache::open_embedded(crate::store::file(&cfg.path, CACHE_BYTES), cfg, metrics).await
    }

    /// The embedded store through `open` (a test injects a storage
    /// backend); it opens `cfg.path` every time it is called.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened.
    pub(crate) async fn open_embedded(
        open: crate::store::Open,
        cfg: &DedupeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Cache, Error> {
        let db = tokio::task::spawn_blocking(move || open_redb(open))
            .await
            .map_err(err)??;
        let db = Arc::new(db);
        let snapshot = Arc::new(Snapshot::new(seen_table(&db)));
        let pending = Arc::new(Mutex::new(Pending::default()));
        let stopped = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (wpending, wstopped) = (pending.clone(), stopped.clone());
        let w = Writer {
            store: db.clone(),
            snapshot: snapshot.clone(),
            path: cfg.path.clone(),
            max_bytes: cfg.max_bytes,
            metrics,
        };
        std::thread::Builder::new()
            .name("hookgate-dedupe-writer".into())
            .spawn(move || {
                // Dropped however the writer ends, a panic included.
                let _end = WriterEnd {
                    pending: wpending.clone(),
                    stopped: wstopped,
                };
                w.run(&wpending, &rx);
            })
            .map_err(err)?;
        Ok(Cache::Embedded(Arc::new(Embedded {
            db,
            snapshot,
            pending,
            writer: tx,
            stopped,
        })))
    }

    /// Whether `key` was recorded and has not expired.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    #[cfg(test)]
    pub(crate) async fn seen(&self, key: &str) -> Result<bool, Error> {
        Ok(self.seen_all(&[key]).await?[0])
    }

    /// For each of `keys`, whether it was recorded and has not expired: one
    /// read transaction (or one Redis round trip) for all of them. (The
    /// request path claims instead: [`Cache::claim_all`].)
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    #[cfg(test)]
    pub(crate) async fn seen_all<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<bool>, Error> {
        let now = now_ms();
        match self {
            Cache::Embedded(e) => {
                // The pending set first, then the file: a key leaves the set
                // only after its commit, so one of the two has it.
                let mut seen: Vec<bool> = {
                    let pending = e.pending.lock().map_err(err)?;
                    keys.iter()
                        .map(|k| pending.seen.get(k.as_ref()).is_some_and(|&u| u > now))
                        .collect()
                };
                if seen.iter().all(|&s| s) {
                    return Ok(seen);
                }
                e.in_file(keys, &mut seen, now)?;
                Ok(seen)
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for k in keys {
                    pipe.cmd("EXISTS")
                        .arg(format!("{REDIS_PREFIX}{}", k.as_ref()));
                }
                let found: Vec<i64> = pipe.query_async(&mut conn).await.map_err(err)?;
                Ok(found.into_iter().map(|n| n > 0).collect())
            }
        }
    }

    /// Records `keys` (from [`crate::envelope::idempotency_key`]) for `ttl`,
    /// taking them over.
    /// Embedded: the keys are seen by every later lookup when this returns
    /// (the commit follows in the background). Redis: when the `SET`s are
    /// acknowledged.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn record(&self, keys: Vec<String>, ttl: Duration) -> Result<(), Error> {
        let until = now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        match self {
            Cache::Embedded(e) => {
                let mut pending = e.pending.lock().map_err(err)?;
                // Checked under the lock [`WriterEnd`] clears the set with:
                // nothing is added after that.
                if e.stopped.load(Ordering::Acquire) {
                    // Nothing would ever commit them.
                    return Err(err("writer stopped"));
                }
                if !e.db.healthy() {
                    // Not kept in memory either: the set stays bounded
                    // while the disk stays full.
                    return Err(err(REOPENING));
                }
                for k in keys {
                    pending.claims.remove(&k);
                    pending.seen.insert(k.clone(), until);
                    pending.queue.push((k, until));
                }
                Ok(())
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for k in keys {
                    pipe.cmd("SET")
                        .arg(format!("{REDIS_PREFIX}{k}"))
                        .arg(1)
                        .arg("PX")
                        .arg(ttl.as_millis() as u64)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await.map_err(err)
            }
        }
    }

    /// Whether marks are being recorded: false once the embedded store's
    /// writer thread has ended (closed, or died: an error was logged, records
    /// fail and lookups read only the file), and while its file is reopened
    /// after an I/O error. Redis: true (failures show per call).
    #[cfg(test)]
    pub(crate) fn ready(&self) -> bool {
        match self {
            Cache::Embedded(e) => !e.stopped.load(Ordering::Acquire) && e.db.healthy(),
            Cache::Redis(_) => true,
        }
    }

    /// Waits until every key recorded before this call is committed to the
    /// file with fsync (embedded; Redis: at once).
    ///
    /// # Errors
    /// [`Error`] when the commit failed or the writer stopped.
    #[cfg(test)]
    pub(crate) async fn sync(&self) -> Result<(), Error> {
        self.ask(Cmd::Sync).await
    }

    /// Commits durably like [`Cache::sync`], then stops the writer and
    /// closes the file once the last clone of this cache is dropped. Later
    /// [`Cache::record`] calls fail. For shutdown.
    ///
    /// # Errors
    /// [`Error`] when the commit failed or the writer had stopped.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        self.ask(Cmd::Close).await
    }

    async fn ask(
        &self,
        cmd: fn(tokio::sync::oneshot::Sender<Result<(), Error>>) -> Cmd,
    ) -> Result<(), Error> {
        let Cache::Embedded(e) = self else {
            return Ok(());
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        e.writer.send(cmd(tx)).map_err(|_| err("writer stopped"))?;
        rx.await.map_err(|_| err("writer stopped"))?
    }
}

impl Embedded {
    /// Sets `seen[i]` for each key of `keys` not marked yet whose mark in
    /// the file expires after `now` (Unix ms): in the writer's snapshot, or
    /// in one read transaction when there is none.
    fn in_file<K: AsRef<str>>(&self, keys: &[K], seen: &mut [bool], now: u64) -> Result<(), Error> {
        let snapshot = self.snapshot.load();
        if let Some(table) = snapshot.as_deref() {
            return lookup(table, keys, seen, now);
        }
        let db = self.db.get().ok_or_else(|| err(REOPENING))?;
        let txn = db.begin_read().map_err(err)?;
        let table = txn.open_table(SEEN).map_err(err)?;
        lookup(&table, keys, seen, now)
    }
}

/// Sets `seen[i]` for each key of `keys` not marked yet whose mark in
/// `table` expires after `now` (Unix ms).
fn lookup<K: AsRef<str>>(
    table: &ReadOnlyTable<&'static str, u64>,
    keys: &[K],
    seen: &mut [bool],
    now: u64,
) -> Result<(), Error> {
    for (k, s) in keys.iter().zip(seen.iter_mut()) {
        if !*s {
            *s = table
                .get(k.as_ref())
                .map_err(err)?
                .is_some_and(|v| v.value() > now);
        }
    }
    Ok(())
}

/// The [`SEEN`] table as the file has it committed now, or `None` when it
/// cannot be read (being reopened; lookups then open a transaction each).
fn seen_table(file: &Handle) -> Option<Arc<ReadOnlyTable<&'static str, u64>>> {
    let txn = file.get()?.begin_read().ok()?;
    txn.open_table(SEEN).ok().map(Arc::new)
}

/// Opens the file and indexes it (see [`index`]).
fn open_redb(open: crate::store::Open) -> Result<Handle, Error> {
    let db = Handle::open(open).map_err(err)?;
    let current = db.get().ok_or_else(|| err(REOPENING))?;
    index(&current)?;
    drop(current);
    Ok(db)
}

/// Creates the tables; a file written before the expiry index existed is
/// indexed once.
fn index(db: &Database) -> Result<(), Error> {
    let txn = db.begin_write().map_err(err)?;
    {
        let seen = txn.open_table(SEEN).map_err(err)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(err)?;
        if expiry.is_empty().map_err(err)? && !seen.is_empty().map_err(err)? {
            for row in seen.iter().map_err(err)? {
                let (k, until) = row.map_err(err)?;
                expiry.insert((until.value(), k.value()), ()).map_err(err)?;
            }
        }
    }
    txn.commit().map_err(err)
}

#[cfg(test)]
mod tests;
