//! redb-backed storage with group commit and capacity accounting.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use redb::{
    Database, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _,
    TableDefinition,
};
use tokio::sync::{oneshot, Notify};

use super::{Error, Meta};
use crate::config::SpoolConfig;
use crate::envelope::Message;
use crate::telemetry::metrics::Metrics;

/// A stored row: `(meta JSON, body)`.
type Row = (&'static [u8], &'static [u8]);
/// `(spooled_at_ms, seq)` -> `(meta JSON, body)`.
const TABLE: TableDefinition<Key, Row> = TableDefinition::new("spool");
/// Most write requests grouped into one commit.
const MAX_GROUP: usize = 4096;
/// redb's page cache for the spool file (its default, 1 GiB, grew the
/// gateway to 200-250 MiB RSS in 15 s of spooling): the forwarder reads the
/// oldest entries, written moments ago or read once after a restart.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// A spooled entry's key: `(spooled_at_ms, seq)`.
pub type Key = (u64, u64);

/// Depth, size and age, for `hookgate spool status` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Entries in the spool.
    pub messages: u64,
    /// Bytes of metadata and bodies.
    pub bytes: u64,
    /// Age of the oldest entry, if any.
    pub oldest_age: Option<Duration>,
}

enum Op {
    Insert(Vec<(Key, Vec<u8>, bytes::Bytes)>),
    Remove(Vec<Key>),
}

struct WriteReq {
    op: Op,
    done: oneshot::Sender<Result<(), Error>>,
}

#[derive(Default)]
struct Usage {
    messages: u64,
    bytes: u64,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<WriteReq>>>,
    usage: Mutex<Usage>,
    /// Sizes of entries by key are not kept in memory; removal passes them.
    max_messages: u64,
    max_bytes: u64,
    next_seq: AtomicU64,
    /// Wakes the forwarder when something was written.
    written: Notify,
    metrics: Arc<Metrics>,
}

/// The durable outbox. Cheap to clone.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

impl Spool {
    /// Opens (or creates) the spool file, counts what a previous run left,
    /// and starts the writer thread.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process holds the file,
    /// [`Error::Store`] for I/O or format errors.
    pub fn open(config: &SpoolConfig, metrics: Arc<Metrics>) -> Result<Spool, Error> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Error::store)?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&config.path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::Locked(config.path.clone()),
                other => Error::store(other),
            })?;
        let db = Arc::new(db);
        let (messages, bytes, last_seq) = scan(&db)?;
        let (tx, rx) = mpsc::channel::<WriteReq>();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("hookgate-spool-writer".into())
            .spawn(move || writer(writer_db, rx))
            .map_err(Error::store)?;
        let spool = Spool {
            inner: Arc::new(Inner {
                db,
                path: config.path.clone(),
                writer: Mutex::new(Some(tx)),
                usage: Mutex::new(Usage { messages, bytes }),
                max_messages: config.max_messages,
                max_bytes: config.max_bytes,
                next_seq: AtomicU64::new(last_seq.wrapping_add(1)),
                written: Notify::new(),
                metrics,
            }),
        };
        spool.publish_gauges();
        if messages > 0 {
            tracing::warn!(messages, bytes, path = %config.path.display(), "spool holds messages from a previous run; draining when the broker is up");
        }
        Ok(spool)
    }

    /// The spool file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes `messages` durably (fsynced) and returns once committed.
    /// Concurrent calls are grouped into one commit.
    ///
    /// # Errors
    /// [`Error::Full`] past `max_messages`/`max_bytes` (nothing written),
    /// [`Error::Store`]/[`Error::Closed`] when the commit failed.
    pub async fn write(&self, messages: &[Message]) -> Result<(), Error> {
        let now_ms = now_ms();
        let mut entries = Vec::with_capacity(messages.len());
        let mut bytes = 0u64;
        for m in messages {
            let meta = serde_json::to_vec(&Meta::of(m)).map_err(Error::store)?;
            bytes += (meta.len() + m.body.len()) as u64;
            let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
            entries.push(((now_ms, seq), meta, m.body.clone()));
        }
        let n = entries.len() as u64;
        self.reserve(n, bytes)?;
        let result = self.submit(Op::Insert(entries)).await;
        match &result {
            Ok(()) => {
                self.inner.metrics.spool_writes.inc_by(n);
                self.inner.written.notify_one();
            }
            Err(_) => self.release(n, bytes),
        }
        self.publish_gauges();
        result
    }

    /// Whether a write of one small message would be admitted now.
    pub fn can_accept(&self) -> bool {
        self.inner
            .usage
            .lock()
            .map(|u| u.messages < self.inner.max_messages && u.bytes < self.inner.max_bytes)
            .unwrap_or(false)
    }

    /// Depth, size and oldest age.
    pub fn status(&self) -> Status {
        let (messages, bytes) = self
            .inner
            .usage
            .lock()
            .map(|u| (u.messages, u.bytes))
            .unwrap_or((0, 0));
        let oldest_age = self
            .oldest_key()
            .ok()
            .flatten()
            .map(|(ms, _)| Duration::from_millis(now_ms().saturating_sub(ms)));
        Status {
            messages,
            bytes,
            oldest_age,
        }
    }

    /// Waits until something is written (or `timeout` passes).
    pub(crate) async fn wait_written(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.written.notified()).await;
    }

    /// The oldest `limit` entries, oldest first.
    ///
    /// # Errors
    /// [`Error::Store`] on read or decode failure.
    pub(crate) async fn oldest(&self, limit: usize) -> Result<Vec<(Key, u64, Message)>, Error> {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(Error::store)?;
            let table = match txn.open_table(TABLE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(Error::store(e)),
            };
            let mut out = Vec::new();
            for row in table.iter().map_err(Error::store)?.take(limit) {
                let (k, v) = row.map_err(Error::store)?;
                let (meta, body) = v.value();
                let size = (meta.len() + body.len()) as u64;
                let meta: Meta<'_> = serde_json::from_slice(meta).map_err(Error::store)?;
                out.push((k.value(), size, meta.into_message(body.to_vec())));
            }
            Ok(out)
        })
        .await
        .map_err(Error::store)?
    }

    /// Deletes entries (after their confirms); `bytes` is their total size.
    ///
    /// # Errors
    /// [`Error::Store`]/[`Error::Closed`] when the commit failed.
    pub(crate) async fn remove(&self, keys: Vec<Key>, bytes: u64) -> Result<(), Error> {
        let n = keys.len() as u64;
        self.submit(Op::Remove(keys)).await?;
        self.release(n, bytes);
        self.inner.metrics.spool_forwarded.inc_by(n);
        self.publish_gauges();
        Ok(())
    }

    /// Stops the writer thread once pending writes are committed.
    pub fn close(&self) {
        if let Ok(mut w) = self.inner.writer.lock() {
            w.take();
        }
    }

    async fn submit(&self, op: Op) -> Result<(), Error> {
        let (done, rx) = oneshot::channel();
        {
            let w = self.inner.writer.lock().map_err(|_| Error::Closed)?;
            let tx = w.as_ref().ok_or(Error::Closed)?;
            tx.send(WriteReq { op, done }).map_err(|_| Error::Closed)?;
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    fn reserve(&self, n: u64, bytes: u64) -> Result<(), Error> {
        let mut u = self.inner.usage.lock().map_err(|_| Error::Closed)?;
        if u.messages + n > self.inner.max_messages || u.bytes + bytes > self.inner.max_bytes {
            self.inner.metrics.spool_full.inc();
            return Err(Error::Full);
        }
        u.messages += n;
        u.bytes += bytes;
        Ok(())
    }

    fn release(&self, n: u64, bytes: u64) {
        if let Ok(mut u) = self.inner.usage.lock() {
            u.messages = u.messages.saturating_sub(n);
            u.bytes = u.bytes.saturating_sub(bytes);
        }
    }

    fn oldest_key(&self) -> Result<Option<Key>, Error> {
        let txn = self.inner.db.begin_read().map_err(Error::store)?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(Error::store(e)),
        };
        let first = table.first().map_err(Error::store)?;
        Ok(first.map(|(k, _)| k.value()))
    }

    fn publish_gauges(&self) {
        if let Ok(u) = self.inner.usage.lock() {
            self.inner
                .metrics
                .spool_messages
                .set(i64::try_from(u.messages).unwrap_or(i64::MAX));
            self.inner
                .metrics
                .spool_bytes
                .set(i64::try_from(u.bytes).unwrap_or(i64::MAX));
        }
    }

    /// Seconds since the oldest entry was spooled (0 when empty), for the
    /// `spool_oldest_age_seconds` gauge, read at scrape time.
    pub fn oldest_age_seconds(&self) -> f64 {
        self.status()
            .oldest_age
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// Counts entries and bytes and finds the highest sequence number.
fn scan(db: &Database) -> Result<(u64, u64, u64), Error> {
    // Make sure the table exists so readers never see it missing.
    let txn = db.begin_write().map_err(Error::store)?;
    txn.open_table(TABLE).map_err(Error::store)?;
    txn.commit().map_err(Error::store)?;

    let txn = db.begin_read().map_err(Error::store)?;
    let table = txn.open_table(TABLE).map_err(Error::store)?;
    let messages = table.len().map_err(Error::store)?;
    let mut bytes = 0u64;
    let mut last_seq = 0u64;
    for row in table.iter().map_err(Error::store)? {
        let (k, v) = row.map_err(Error::store)?;
        let (meta, body) = v.value();
        bytes += (meta.len() + body.len()) as u64;
        last_seq = last_seq.max(k.value().1);
    }
    Ok((messages, bytes, last_seq))
}

/// The writer thread: group every queued request into one commit.
fn writer(db: Arc<Database>, rx: mpsc::Receiver<WriteReq>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(req) => group.push(req),
                Err(_) => break,
            }
        }
        let result = commit(&db, &group);
        for req in group {
            let _ = req.done.send(result.clone());
        }
    }
}

fn commit(db: &Database, group: &[WriteReq]) -> Result<(), Error> {
    let txn = db.begin_write().map_err(Error::store)?;
    {
        let mut table = txn.open_table(TABLE).map_err(Error::store)?;
        for req in group {
            match &req.op {
                Op::Insert(entries) => {
                    for (key, meta, body) in entries {
                        table
                            .insert(key, (meta.as_slice(), body.as_ref()))
                            .map_err(Error::store)?;
                    }
                }
                Op::Remove(keys) => {
                    for key in keys {
                        table.remove(key).map_err(Error::store)?;
                    }
                }
            }
        }
    }
    // Durability::Immediate is redb's default: commit() returns after fsync.
    txn.commit().map_err(Error::store)
}

fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}
