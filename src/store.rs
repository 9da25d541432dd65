//! redb helpers shared by the spool, the replay cache and the worker's
//! idempotency store: every open goes through an `Open` factory (a test
//! injects a storage backend that fails on demand), a `Handle` puts a
//! reopened database in place of one whose file failed, [`Error`] is what a
//! store's operation fails with, and `now_ms` is the clock their expiries
//! are written in.
//!
//! redb latches the first I/O error of its file (a failed write, fsync or
//! resize: ENOSPC, EIO): every later transaction fails with
//! `StorageError::PreviousIo` until the `Database` is dropped and the file
//! opened again. The open repairs it: the failed commit is rolled back,
//! every earlier commit is kept. redb refuses to open a file this process
//! still has open (`DatabaseAlreadyOpen`), so `Handle::reopen` first takes
//! the database out (readers then get `None`), waits until the clones
//! readers hold are dropped, and only then opens the file again, with
//! backoff while the disk stays full.
//!
//! ```text
//! healthy --commit fails, Handle::failed(db)--> taken out (readers: None)
//!   --last clone dropped--> open, retried with backoff --ok--> healthy
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redb::{Database, DatabaseError, StorageError, TransactionError};

/// Opens (or creates) a database: the same file every time it is called.
pub(crate) type Open = Arc<dyn Fn() -> Result<Database, DatabaseError> + Send + Sync>;

/// Shortest and longest pause between reopen attempts (jittered): a disk
/// that filled up is usually freed by an operator or a log rotation, not
/// within milliseconds.
const REOPEN_MIN: Duration = Duration::from_millis(50);
const REOPEN_MAX: Duration = Duration::from_secs(5);
/// How often a reopen looks whether it should stop (and the last clone is
/// gone) while it waits.
const POLL: Duration = Duration::from_millis(10);

/// The [`Open`] of a file: creates its directory and the file if missing,
/// with a page cache of `cache_bytes`.
pub(crate) fn file(path: impl Into<PathBuf>, cache_bytes: usize) -> Open {
    let path: PathBuf = path.into();
    Arc::new(move || {
        create_parent(&path)?;
        Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
    })
}

fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir),
        None => Ok(()),
    }
}

/// A failure of a store's file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file failed (an I/O error, e.g. a full disk) and is being
    /// reopened: nothing is read or written until it is; try again later.
    #[error("file is being reopened after an I/O error")]
    Reopening,
    /// redb failed; the text is its message.
    #[error("{0}")]
    Db(String),
}

impl Error {
    /// redb's (or the blocking task's) failure `e`, as its text.
    pub fn db(e: impl std::fmt::Display) -> Error {
        Error::Db(e.to_string())
    }
}

/// Now, in Unix milliseconds: the clock the stores' expiries are written in
/// (0 for a clock set before 1970).
pub(crate) fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The current database of one file, replaced after an I/O error.
pub(crate) struct Handle {
    db: ArcSwapOption<Database>,
    open: Open,
    /// False from the moment a failure is seen until a reopen succeeded.
    healthy: AtomicBool,
}

impl Handle {
    /// Opens the database once.
    ///
    /// # Errors
    /// What the open failed with (`DatabaseAlreadyOpen`: another process).
    pub(crate) fn open(open: Open) -> Result<Handle, DatabaseError> {
        let db = open()?;
        Ok(Handle {
            db: ArcSwapOption::from_pointee(db),
            open,
            healthy: AtomicBool::new(true),
        })
    }

    /// The database, or `None` while it is being reopened. Hold the clone
    /// only for one transaction: a reopen waits until every clone is gone.
    pub(crate) fn get(&self) -> Option<Arc<Database>> {
        self.db.load_full()
    }

    /// Whether the file can be written: false from a failure until the
    /// reopen succeeded.
    pub(crate) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Whether `db`'s file latched an I/O error (a write transaction cannot
    /// even begin). Only for the one writer of the file, after a failed
    /// commit: it waits while another write transaction is open.
    pub(crate) fn failed(db: &Database) -> bool {
        match db.begin_write() {
            Ok(txn) => {
                let _ = txn.abort();
                false
            }
            Err(TransactionError::Storage(
                StorageError::PreviousIo | StorageError::Io(_) | StorageError::DatabaseClosed,
            )) => true,
            Err(_) => false,
        }
    }

    /// Marks the file failed: [`healthy`](Self::healthy) turns false and
    /// [`get`](Self::get) returns `None` from now on. Returns whether it was
    /// healthy before (so the caller logs a state change once).
    pub(crate) fn fail(&self) -> bool {
        self.healthy.swap(false, Ordering::AcqRel)
    }

    /// Runs `f` on the database alone (redb's `compact` needs it so): takes
    /// it out (readers get `None` meanwhile), waits up to `wait` until every
    /// clone is dropped, runs `f` and puts it back. `None` (nothing run) if
    /// a clone outlived `wait`, or the database is out already.
    pub(crate) fn exclusive<R>(
        &self,
        wait: Duration,
        f: impl FnOnce(&mut Database) -> R,
    ) -> Option<R> {
        let mut shared = self.db.swap(None)?;
        let deadline = std::time::Instant::now() + wait;
        let mut db = loop {
            match Arc::try_unwrap(shared) {
                Ok(db) => break db,
                Err(still_shared) if std::time::Instant::now() < deadline => {
                    shared = still_shared;
                    std::thread::sleep(POLL);
                }
                Err(still_shared) => {
                    self.db.store(Some(still_shared));
                    return None;
                }
            }
        };
        let result = f(&mut db);
        self.db.store(Some(Arc::new(db)));
        Some(result)
    }

    /// Marks the file healthy again, once the caller checked the reopened
    /// database.
    pub(crate) fn recovered(&self) {
        self.healthy.store(true, Ordering::Release);
    }

    /// Replaces the database by a new open of the same file: takes it out,
    /// waits until every clone is dropped, then opens with jittered
    /// exponential backoff until an open succeeds. `proceed` runs while it
    /// waits (at least every [`POLL`]); when it returns false the reopen
    /// stops (the database stays out, `None`). Returns whether it reopened;
    /// [`healthy`](Self::healthy) stays false until
    /// [`recovered`](Self::recovered).
    pub(crate) fn reopen(&self, mut proceed: impl FnMut() -> bool) -> bool {
        self.fail();
        if let Some(mut old) = self.db.swap(None) {
            loop {
                match Arc::try_unwrap(old) {
                    // Closes the file and releases its locks.
                    Ok(db) => break drop(db),
                    Err(still_shared) => old = still_shared,
                }
                if !proceed() {
                    return false;
                }
                std::thread::sleep(POLL);
            }
        }
        let mut backoff = crate::backoff::jittered(REOPEN_MIN, REOPEN_MAX);
        loop {
            let opened = (self.open)()
                .map_err(redb::Error::from)
                .and_then(|db| writable(&db).map(|()| db));
            match opened {
                Ok(db) => {
                    self.db.store(Some(Arc::new(db)));
                    return true;
                }
                Err(e) => tracing::debug!(error = %e, "reopen failed; retrying"),
            }
            let pause = backoff.next().unwrap_or(REOPEN_MAX);
            let until = std::time::Instant::now() + pause;
            while std::time::Instant::now() < until {
                if !proceed() {
                    return false;
                }
                std::thread::sleep(
                    POLL.min(until.saturating_duration_since(std::time::Instant::now())),
                );
            }
        }
    }
}

/// Whether a commit reaches the disk now: an empty durable commit (it writes
/// and fsyncs the header). An open alone only reads, so a disk still full
/// would pass it and fail the next real commit.
fn writable(db: &Database) -> Result<(), redb::Error> {
    db.begin_write()?.commit()?;
    Ok(())
}

/// The size of the file at `path` (0 when it cannot be read: an in-memory
/// database in tests).
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod testing;
