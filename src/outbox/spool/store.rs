//! The spool handle: open, write, read the oldest entries, settle a
//! forwarding round. Writes go through the writer thread (`writer.rs`);
//! capacity through the ledger (`ledger.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use redb::{Database, ReadableDatabase as _, ReadableTable as _};
use tokio::sync::oneshot;

use super::ledger::{Ledger, Moved, Usage};
use super::writer::{self, now_ms, scan, Op, WriteReq, SPOOL};
use super::{Error, Key, Meta};
use crate::config::SpoolConfig;
use crate::envelope::Message;
use crate::store::Handle;
use crate::telemetry::metrics::Metrics;

/// redb's page cache for the spool file (its default, 1 GiB, grew the
/// gateway to 200-250 MiB RSS in 15 s of spooling): the forwarder reads the
/// oldest entries, written moments ago or read once after a restart.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Depth, size and age, for `hookgate spool status` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Entries waiting to be forwarded (writes not yet committed included).
    pub messages: u64,
    /// Their bytes of metadata and bodies.
    pub bytes: u64,
    /// Age of the oldest entry, if any.
    pub oldest_age: Option<Duration>,
    /// Entries in the quarantine (not forwarded any more).
    pub quarantined: u64,
    /// Their bytes (counted toward `max_bytes`).
    pub quarantined_bytes: u64,
}

struct Inner {
    /// The database, reopened by the writer thread after an I/O error.
    db: Arc<Handle>,
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<WriteReq>>>,
    /// The writer thread, joined by [`Spool::close`].
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    ledger: Arc<Ledger>,
    next_seq: AtomicU64,
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
        Spool::open_with(
            crate::store::file(&config.path, CACHE_BYTES),
            config,
            metrics,
        )
    }

    /// [`open`](Self::open) through `open` (a test injects a storage
    /// backend); it opens `config.path` every time it is called.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub(crate) fn open_with(
        open: crate::store::Open,
        config: &SpoolConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Spool, Error> {
        let db = Handle::open(open).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Locked(config.path.clone()),
            other => Error::store(other),
        })?;
        let db = Arc::new(db);
        let (usage, last_seq) = {
            let db = db.get().ok_or(Error::Recovering)?;
            writer::create_tables(&db)?;
            scan(&db)?
        };
        let ledger = Ledger::new(usage, config.max_messages, config.max_bytes, metrics);
        ledger.set_file_bytes(crate::store::file_len(&config.path));
        let (tx, rx) = mpsc::channel::<WriteReq>();
        let (writer_db, writer_ledger) = (db.clone(), ledger.clone());
        let (quarantine_after, path) = (config.quarantine_after, config.path.clone());
        let thread = std::thread::Builder::new()
            .name("hookgate-spool-writer".into())
            .spawn(move || writer::run(writer_db, &path, rx, writer_ledger, quarantine_after))
            .map_err(Error::store)?;
        if usage.spool.n > 0 {
            tracing::warn!(messages = usage.spool.n, bytes = usage.spool.bytes, path = %config.path.display(), "spool holds messages from a previous run; draining when the broker is up");
        }
        if usage.quarantine.n > 0 {
            tracing::warn!(quarantined = usage.quarantine.n, path = %config.path.display(), "spool quarantine holds entries the broker refused; see `hookgate spool quarantine list`");
        }
        Ok(Spool {
            inner: Arc::new(Inner {
                db,
                path: config.path.clone(),
                writer: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                ledger,
                next_seq: AtomicU64::new(last_seq.wrapping_add(1)),
            }),
        })
    }

    /// The spool file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes `messages` durably (fsynced) and returns once committed.
    /// Concurrent calls are grouped into one commit. Dropping the returned
    /// future does not stop a write already queued; its capacity stays
    /// counted only if the commit succeeds.
    ///
    /// # Errors
    /// [`Error::Full`] past `max_messages`/`max_bytes` (nothing written),
    /// [`Error::Store`]/[`Error::Closed`] when the commit failed,
    /// [`Error::Recovering`] while the file is reopened after an I/O error.
    pub async fn write(&self, messages: &[Message]) -> Result<(), Error> {
        if !self.inner.db.healthy() {
            return Err(Error::Recovering);
        }
        let now_ms = now_ms();
        let mut entries = Vec::with_capacity(messages.len());
        let mut bytes = 0u64;
        for m in messages {
            let meta = serde_json::to_vec(&Meta::of(m)).map_err(Error::store)?;
            bytes += (meta.len() + m.body.len()) as u64;
            let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
            entries.push(((now_ms, seq), meta, m.body.clone()));
        }
        let reservation = self.inner.ledger.reserve(entries.len() as u64, bytes)?;
        self.submit(Op::Insert(entries, reservation))
            .await
            .map(|_| ())
    }

    /// Whether a write of one small message would be admitted now: the
    /// file is healthy (not failed, not being reopened) and has room.
    pub fn can_accept(&self) -> bool {
        self.inner.db.healthy() && self.inner.ledger.can_accept()
    }

    /// Depth, size, oldest age and quarantine.
    pub fn status(&self) -> Status {
        let Usage {
            spool, quarantine, ..
        } = self.inner.ledger.usage();
        let oldest_age = self
            .oldest_key()
            .ok()
            .flatten()
            .map(|(ms, _)| Duration::from_millis(now_ms().saturating_sub(ms)));
        Status {
            messages: spool.n,
            bytes: spool.bytes,
            oldest_age,
            quarantined: quarantine.n,
            quarantined_bytes: quarantine.bytes,
        }
    }

    /// Waits until a write is committed (or `timeout` passes).
    pub(crate) async fn wait_written(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.ledger.written()).await;
    }

    /// The oldest `limit` committed entries, oldest first.
    ///
    /// # Errors
    /// [`Error::Store`] on read or decode failure, [`Error::Recovering`]
    /// while the file is reopened, [`Error::Compacting`].
    pub(crate) async fn oldest(&self, limit: usize) -> Result<Vec<(Key, Message)>, Error> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(Error::store)?;
            let table = txn.open_table(SPOOL).map_err(Error::store)?;
            let mut out = Vec::new();
            for row in table.iter().map_err(Error::store)?.take(limit) {
                let (k, v) = row.map_err(Error::store)?;
                let (meta, body) = v.value();
                let meta: Meta<'_> = serde_json::from_slice(meta).map_err(Error::store)?;
                out.push((k.value(), meta.into_message(body.to_vec())));
            }
            Ok(out)
        })
        .await
        .map_err(Error::store)?
    }

    /// Records a forwarding round in one commit: deletes `confirmed`,
    /// counts a failed attempt against each of `failed` (key, error text),
    /// and moves those that reached `quarantine_after` to the quarantine.
    ///
    /// # Errors
    /// [`Error::Store`]/[`Error::Closed`] when the commit failed (nothing
    /// changed).
    pub(crate) async fn settle(
        &self,
        confirmed: Vec<Key>,
        failed: Vec<(Key, String)>,
    ) -> Result<Moved, Error> {
        self.submit(Op::Settle { confirmed, failed }).await
    }

    /// Stops the writer thread once pending writes are committed, and
    /// waits for it: when this returns, the writer's handle on the file is
    /// gone (the file closes with the last clone of this `Spool`).
    pub fn close(&self) {
        if let Ok(mut w) = self.inner.writer.lock() {
            w.take();
        }
        let thread = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("spool writer thread panicked");
            }
        }
    }

    pub(super) async fn submit(&self, op: Op) -> Result<Moved, Error> {
        let (done, rx) = oneshot::channel();
        {
            let w = self.inner.writer.lock().map_err(|_| Error::Closed)?;
            let tx = w.as_ref().ok_or(Error::Closed)?;
            tx.send(WriteReq { op, done }).map_err(|_| Error::Closed)?;
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    /// The database for one transaction; drop it soon (a reopen waits for
    /// every clone).
    ///
    /// # Errors
    /// [`Error::Recovering`] while the file is reopened,
    /// [`Error::Compacting`] while it is compacted.
    pub(super) fn db(&self) -> Result<Arc<Database>, Error> {
        match self.inner.db.get() {
            Some(db) => Ok(db),
            None if self.inner.db.healthy() => Err(Error::Compacting),
            None => Err(Error::Recovering),
        }
    }

    fn oldest_key(&self) -> Result<Option<Key>, Error> {
        let txn = self.db()?.begin_read().map_err(Error::store)?;
        let table = txn.open_table(SPOOL).map_err(Error::store)?;
        let first = table.first().map_err(Error::store)?;
        Ok(first.map(|(k, _)| k.value()))
    }

    /// Seconds since the oldest entry was spooled (0 when empty), for the
    /// `spool_oldest_age_seconds` gauge, read at scrape time.
    pub(crate) fn oldest_age_seconds(&self) -> f64 {
        self.status()
            .oldest_age
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}
