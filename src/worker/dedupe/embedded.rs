//! The embedded idempotency store: one redb file, opened through
//! `crate::store` (an [`Open`] factory and a [`Handle`]) like the replay
//! cache and the spool.
//!
//! Tables: `idempotency`, key -> (state, expiry in Unix ms), and
//! `idempotency_expiry`, (expiry, key) -> (), the expiry index of the done
//! marks. Claims are not indexed: there are at most `prefetch` of them, each
//! ends with its done mark or release, an expired one is overwritten by the
//! next claim of its key, and every claim found at open is dropped (the file
//! is this process's alone, redb locks it: a claim found then belongs to a
//! worker that died, whose messages come back).
//!
//! **Expiry and budget.** Each done or release commit removes up to
//! `MAX_EXPIRE` expired done marks, the index's first rows. While the file
//! is at or over `max_bytes`, each done commit also removes as many done
//! marks as it adds, earliest expiry first (the oldest, as every mark lives
//! `ttl_s`), counted as `hookgate_worker_idempotency_evicted_total`. A mark
//! evicted early lets a redelivery of its message (Salesforce re-sends an
//! Outbound Message for 24 h) be written to Salesforce a second time; a file
//! that fills the disk would stop every claim instead.
//!
//! **I/O errors.** redb latches the first I/O error of its file (a full
//! disk): the call that hit it fails, the store turns unhealthy and a thread
//! reopens the file ([`Handle::reopen`]: backoff while the disk stays full;
//! the reopen rolls the failed commit back and keeps every earlier one).
//! Until the reopen is done every call fails with [`Error::Reopening`]: the
//! worker's session ends and its unacked deliveries come back later. A claim
//! that fails wrote nothing, so nothing is lost or applied twice.
//!
//! **A failed done commit** comes after Salesforce applied the records: the
//! messages are not acked (the session ends), so they are redelivered, and
//! without their marks (rolled back by the reopen) they would be applied a
//! second time. So the marks of a failed done commit are kept in memory and
//! written by the reopen, before the store counts healthy again (or by the
//! next done commit, when the file did not fail); a claim of such a key
//! answers `Done` from memory. The redelivered messages are acked as
//! duplicates once their marks are durable. What is left is the window of a
//! crash between the Salesforce call and the mark: a process that dies
//! before the reopen wrote the marks loses them, and the redelivered
//! messages are applied again (an upsert by external id writes the same
//! values again). Releases that fail while the file is failing are kept too
//! and done by the reopen, so the redelivered messages are claimable at once
//! rather than after `CLAIM_TTL`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use redb::{Database, Durability, ReadableDatabase as _};

use super::tables::{held, ms, start, write_done, Tables, DONE, PENDING, TABLE};
use super::{Claim, CLAIM_TTL};
use crate::store::{file_len, now_ms, Error, Handle, Open};

/// The file's disk budget.
pub(super) struct Budget {
    /// The file, measured before each done commit.
    pub(super) path: PathBuf,
    /// `worker.idempotency.max_bytes`.
    pub(super) max_bytes: u64,
    /// `hookgate_worker_idempotency_evicted_total`.
    pub(super) evicted: Counter,
}

/// What failed calls left to write.
#[derive(Default)]
struct Unsettled {
    /// Done marks whose commit failed: key -> expiry.
    done: HashMap<String, u64>,
    /// Claims whose release failed while the file was failing.
    released: HashSet<String>,
}

/// The embedded store's shared state.
pub(super) struct Embedded {
    /// The file, reopened after an I/O error.
    db: Arc<Handle>,
    /// How long a done mark is kept.
    ttl: Duration,
    budget: Budget,
    unsettled: Mutex<Unsettled>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Embedded {
    /// Opens the file through `open` (blocking), drops the claims of a
    /// process that died and indexes the done marks of a file written before
    /// the expiry index existed.
    ///
    /// # Errors
    /// When the file cannot be opened (`DatabaseAlreadyOpen`: another
    /// worker) or written.
    pub(super) fn open(open: Open, ttl: Duration, budget: Budget) -> Result<Arc<Embedded>, Error> {
        let db = Handle::open(open).map_err(Error::db)?;
        let current = db.get().ok_or(Error::Reopening)?;
        start(&current)?;
        drop(current);
        Ok(Arc::new(Embedded {
            db: Arc::new(db),
            ttl,
            budget,
            unsettled: Mutex::default(),
        }))
    }

    /// Claims `id` (blocking).
    ///
    /// # Errors
    /// [`Error::Reopening`] while the file is reopened; redb's failure.
    pub(super) fn claim(self: &Arc<Self>, id: &str) -> Result<Claim, Error> {
        self.write(|db| {
            let now = now_ms();
            if lock(&self.unsettled)
                .done
                .get(id)
                .is_some_and(|&until| until > now)
            {
                return Ok(Claim::Done);
            }
            {
                let read = db.begin_read().map_err(Error::db)?;
                let table = read.open_table(TABLE).map_err(Error::db)?;
                if let Some(v) = table.get(id).map_err(Error::db)? {
                    if let Some(claim) = held(v.value(), now) {
                        return Ok(claim);
                    }
                }
            }
            let mut txn = db.begin_write().map_err(Error::db)?;
            // A claim need not survive a crash: losing it only means a retry.
            txn.set_durability(Durability::None).map_err(Error::db)?;
            let claim = Tables::open(&txn)?.claim(id, now)?;
            txn.commit().map_err(Error::db)?;
            Ok(claim)
        })
    }

    /// Marks `ids` done for the TTL in one durable commit, with the marks of
    /// earlier failed commits (blocking). While the file is over its budget
    /// the commit evicts as many marks as it adds. A failure keeps the marks
    /// for the reopen or the next done commit.
    ///
    /// # Errors
    /// [`Error::Reopening`] while the file is reopened; redb's failure.
    pub(super) fn done(self: &Arc<Self>, ids: &[String]) -> Result<(), Error> {
        let until = now_ms().saturating_add(ms(self.ttl));
        let result = self.write(|db| {
            let mut marks: Vec<(String, u64)> = lock(&self.unsettled)
                .done
                .iter()
                .map(|(k, &u)| (k.clone(), u))
                .collect();
            let carried = marks.len();
            marks.extend(ids.iter().map(|id| (id.clone(), until)));
            let over = file_len(&self.budget.path) >= self.budget.max_bytes;
            let evicted = write_done(db, &marks, over)?;
            self.budget.evicted.inc_by(evicted);
            let mut unsettled = lock(&self.unsettled);
            for (k, u) in &marks[..carried] {
                if unsettled.done.get(k) == Some(u) {
                    unsettled.done.remove(k);
                }
            }
            Ok(())
        });
        if result.is_err() {
            let mut unsettled = lock(&self.unsettled);
            for id in ids {
                unsettled.done.insert(id.clone(), until);
            }
        }
        result
    }

    /// Removes the claims `ids` in one durable commit (blocking). A failure
    /// while the file is failing keeps them for the reopen; any other leaves
    /// them to expire (kept longer, one could remove a later claim).
    ///
    /// # Errors
    /// [`Error::Reopening`] while the file is reopened; redb's failure.
    pub(super) fn release(self: &Arc<Self>, ids: &[String]) -> Result<(), Error> {
        let result = self.write(|db| {
            let txn = db.begin_write().map_err(Error::db)?;
            {
                let mut t = Tables::open(&txn)?;
                for id in ids {
                    t.remove(id)?;
                }
                t.expire(now_ms())?;
            }
            txn.commit().map_err(Error::db)
        });
        if result.is_err() {
            // Under the lock the reopen settles with: either it takes
            // these, or it is done and the store healthy again.
            let mut unsettled = lock(&self.unsettled);
            if !self.db.healthy() {
                unsettled.released.extend(ids.iter().cloned());
            }
        }
        result
    }

    /// Renews the pending claims among `ids` for another [`CLAIM_TTL`]
    /// (blocking).
    ///
    /// # Errors
    /// [`Error::Reopening`] while the file is reopened; redb's failure.
    pub(super) fn extend(self: &Arc<Self>, ids: &[String]) -> Result<(), Error> {
        self.write(|db| {
            let until = now_ms().saturating_add(ms(CLAIM_TTL));
            let mut txn = db.begin_write().map_err(Error::db)?;
            txn.set_durability(Durability::None).map_err(Error::db)?;
            {
                let mut t = Tables::open(&txn)?;
                for id in ids {
                    if t.get(id)?.is_some_and(|(state, _)| state == PENDING) {
                        t.set(id, (PENDING, until))?;
                    }
                }
            }
            txn.commit().map_err(Error::db)
        })
    }

    /// Runs `f` on the file, or fails with [`Error::Reopening`] while it is
    /// reopened. A failure that latched the file's I/O error turns the store
    /// unhealthy and starts its reopen ([`Embedded::failed`]).
    pub(super) fn write<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&Database) -> Result<R, Error>,
    ) -> Result<R, Error> {
        if !self.db.healthy() {
            return Err(Error::Reopening);
        }
        let db = self.db.get().ok_or(Error::Reopening)?;
        let result = f(&db);
        if let Err(e) = &result {
            // While `db` is held: the reopen cannot finish before the
            // failure is marked, so a healthy new file is never marked.
            if Handle::failed(&db) {
                self.failed(e);
            }
        }
        result
    }

    /// Marks the file failed (`cause`) and starts one thread that reopens it
    /// ([`recover`]), unless it was failed already.
    fn failed(self: &Arc<Self>, cause: &Error) {
        if !self.db.fail() {
            return;
        }
        tracing::error!(
            error = %cause,
            "idempotency store file failed: claims fail (messages wait in their queue) until it is reopened"
        );
        let handle = self.db.clone();
        let store = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("hookgate-idempotency-reopen".into())
            .spawn(move || recover(&handle, &store));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot reopen the idempotency store file: restart the worker");
        }
    }

    /// After a reopen: releases and marks done what failed calls left, in
    /// one durable commit, then counts healthy again. Holds the lock
    /// throughout, so a call that fails meanwhile leaves its work either to
    /// this commit or (once healthy) to nobody, never to a later reopen that
    /// could undo a newer claim.
    fn settle(&self) -> Result<(), Error> {
        let db = self.db.get().ok_or(Error::Reopening)?;
        let mut unsettled = lock(&self.unsettled);
        let txn = db.begin_write().map_err(Error::db)?;
        {
            let mut t = Tables::open(&txn)?;
            for id in &unsettled.released {
                if t.get(id)?.is_some_and(|(state, _)| state == PENDING) {
                    t.remove(id)?;
                }
            }
            for (id, &until) in &unsettled.done {
                t.set(id, (DONE, until))?;
            }
        }
        txn.commit().map_err(Error::db)?;
        *unsettled = Unsettled::default();
        self.db.recovered();
        Ok(())
    }

    /// The entry of `id` in the file (tests).
    #[cfg(test)]
    pub(super) fn entry(&self, id: &str) -> Option<(u8, u64)> {
        let db = self.db.get()?;
        let read = db.begin_read().ok()?;
        let table = read.open_table(TABLE).ok()?;
        let value = table.get(id).ok()??.value();
        Some(value)
    }

    /// Sets the entry of `id` in the file (tests: a claim aged).
    #[cfg(test)]
    pub(super) fn set_entry(&self, id: &str, value: (u8, u64)) -> Result<(), Error> {
        let db = self.db.get().ok_or(Error::Reopening)?;
        let txn = db.begin_write().map_err(Error::db)?;
        Tables::open(&txn)?.set(id, value)?;
        txn.commit().map_err(Error::db)
    }

    /// Whether the file is usable (tests).
    #[cfg(test)]
    pub(super) fn healthy(&self) -> bool {
        self.db.healthy()
    }

    /// Rows in (marks, expiry index) (tests).
    #[cfg(test)]
    pub(super) fn rows(&self) -> (u64, u64) {
        use super::tables::EXPIRY;
        use redb::ReadableTableMetadata as _;
        let db = self.db.get().expect("open");
        let read = db.begin_read().expect("read");
        let marks = read.open_table(TABLE).expect("table").len().expect("len");
        let index = read.open_table(EXPIRY).expect("table").len().expect("len");
        (marks, index)
    }
}

/// The reopen thread: reopens the file until [`Embedded::settle`] can
/// commit; stops when the store is dropped.
fn recover(handle: &Handle, store: &Weak<Embedded>) {
    loop {
        if !handle.reopen(|| store.strong_count() > 0) {
            return;
        }
        let Some(s) = store.upgrade() else {
            return;
        };
        match s.settle() {
            Ok(()) => {
                tracing::warn!("idempotency store file reopened: claiming again");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "idempotency store reopened but not writable; again");
            }
        }
    }
}
