//! The tables and the one writer thread: every queued request goes into one
//! transaction and one commit (one fsync).

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::ledger::{Ledger, Moved, Reservation, Usage};
use super::{Error, Key};
use crate::store::{file_len, Handle};

/// A stored spool row: `(meta JSON, body)`.
pub(super) type Row = (&'static [u8], &'static [u8]);
/// `(spooled_at_ms, seq)` -> `(meta JSON, body)`: waiting to be forwarded.
pub(super) const SPOOL: TableDefinition<Key, Row> = TableDefinition::new("spool");
/// Spool key -> `(failed attempts, last error)`, for entries the broker
/// refused at least once. Deleted with the entry.
pub(super) const ATTEMPTS: TableDefinition<Key, (u64, &str)> = TableDefinition::new("attempts");
/// A stored quarantine row: `(meta JSON, body, Verdict JSON)`.
pub(super) type QuarantineRow = (&'static [u8], &'static [u8], &'static [u8]);
/// Spool key (kept) -> [`QuarantineRow`]: refused `quarantine_after` times.
/// Only `hookgate spool quarantine` deletes.
pub(super) const QUARANTINE: TableDefinition<Key, QuarantineRow> =
    TableDefinition::new("quarantine");
/// Longest wait for readers to let go of the database before a compaction
/// (skipped then, tried again after a later commit).
const COMPACT_WAIT: Duration = Duration::from_millis(200);
/// Most write requests grouped into one commit.
const MAX_GROUP: usize = 4096;

/// Why an entry is in the quarantine (JSON, so fields can be added).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Verdict {
    /// Failed attempts counted against it.
    pub(super) attempts: u64,
    /// The last failure, as the publisher described it.
    pub(super) last_error: String,
    /// When it was moved, Unix milliseconds.
    pub(super) quarantined_at_ms: u64,
}

/// Which quarantined entries an operation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every quarantined entry.
    All,
    /// These keys (each checked to be in the quarantine first).
    Keys(Vec<Key>),
}

pub(super) enum Op {
    /// New entries, with the capacity counted for them.
    Insert(Vec<(Key, Vec<u8>, bytes::Bytes)>, Reservation),
    /// One forwarding round's result: delete `confirmed`; count a failed
    /// attempt against each of `failed` (key, error text) and quarantine
    /// those at `quarantine_after`.
    Settle {
        confirmed: Vec<Key>,
        failed: Vec<(Key, String)>,
    },
    /// Quarantine -> spool, attempts reset.
    Requeue(Selection),
    /// Delete from the quarantine.
    Purge(Selection),
}

pub(super) struct WriteReq {
    pub(super) op: Op,
    pub(super) done: oneshot::Sender<Result<Moved, Error>>,
}

/// Creates missing tables, so readers never see one missing.
pub(super) fn create_tables(db: &Database) -> Result<(), Error> {
    let txn = db.begin_write().map_err(Error::store)?;
    txn.open_table(SPOOL).map_err(Error::store)?;
    txn.open_table(ATTEMPTS).map_err(Error::store)?;
    txn.open_table(QUARANTINE).map_err(Error::store)?;
    txn.commit().map_err(Error::store)
}

/// Counts entries and bytes of the spool and the quarantine and finds the
/// highest sequence number in either (a requeued entry keeps its key).
pub(super) fn scan(db: &Database) -> Result<(Usage, u64), Error> {
    let txn = db.begin_read().map_err(Error::store)?;
    let mut usage = Usage::default();
    let mut last_seq = 0u64;
    let spool = txn.open_table(SPOOL).map_err(Error::store)?;
    for row in spool.iter().map_err(Error::store)? {
        let (k, v) = row.map_err(Error::store)?;
        let (meta, body) = v.value();
        usage.spool.add((meta.len() + body.len()) as u64);
        last_seq = last_seq.max(k.value().1);
    }
    let quarantine = txn.open_table(QUARANTINE).map_err(Error::store)?;
    for row in quarantine.iter().map_err(Error::store)? {
        let (k, v) = row.map_err(Error::store)?;
        let (meta, body, _) = v.value();
        usage.quarantine.add((meta.len() + body.len()) as u64);
        last_seq = last_seq.max(k.value().1);
    }
    Ok((usage, last_seq))
}

// Now, Unix milliseconds: the stores' one clock.
pub(super) use crate::store::now_ms;

/// The writer thread: group every queued request into one commit, then
/// settle each request's accounting by the commit's outcome. A commit that
/// failed because the file latched an I/O error fails its group, then the
/// file is reopened ([`recover`]).
pub(super) fn run(
    store: Arc<Handle>,
    path: &Path,
    rx: mpsc::Receiver<WriteReq>,
    ledger: Arc<Ledger>,
    quarantine_after: u64,
) {
    // The file's size after the last compaction.
    let mut compacted = 0;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(req) => group.push(req),
                Err(_) => break,
            }
        }
        let Some(db) = store.get() else {
            // Only this thread takes the database out, and puts it back.
            fail(group, &Error::Recovering);
            continue;
        };
        let result = commit(&db, &group, quarantine_after);
        let failed = result.is_err() && Handle::failed(&db);
        // A compaction or a reopen waits for every clone.
        drop(db);
        ledger.set_file_bytes(file_len(path));
        match result {
            Ok(moved) => {
                for (req, m) in group.into_iter().zip(moved) {
                    if let Op::Insert(_, reservation) = req.op {
                        reservation.keep();
                    }
                    ledger.apply(&m);
                    let _ = req.done.send(Ok(m));
                }
                if ledger.should_compact(compacted) {
                    compacted = compact(&store, path, &ledger);
                }
            }
            Err(e) => {
                if failed {
                    // Before the answers: a sender told 503 sees /readyz
                    // fail too.
                    mark_failed(&store, &ledger, &e);
                }
                fail(group, &e);
                if failed && !recover(&store, path, &rx, &ledger) {
                    return;
                }
            }
        }
    }
}

/// Gives the free pages of a drained file back to the OS (redb only trims
/// free pages at the end of the file, a step per commit): a file left over
/// `max_bytes` by an outage would otherwise refuse every write although
/// the spool is empty. Copies what is left (the quarantine) into the lowest
/// pages; readers get [`Error::Recovering`] meanwhile. Returns the size
/// after.
fn compact(store: &Handle, path: &Path, ledger: &Ledger) -> u64 {
    let before = file_len(path);
    let outcome = store.exclusive(COMPACT_WAIT, |db| {
        while db.compact()? {}
        Ok::<_, redb::CompactionError>(())
    });
    let after = file_len(path);
    ledger.set_file_bytes(after);
    match outcome {
        Some(Ok(())) => tracing::info!(before, after, "spool drained: file compacted"),
        Some(Err(e)) => tracing::warn!(error = %e, before, after, "spool compaction failed"),
        None => tracing::debug!("spool compaction skipped: readers held the file"),
    }
    after
}

/// Answers every request of `group` with `e`; dropping them releases their
/// reservations.
fn fail(group: Vec<WriteReq>, e: &Error) {
    for req in group {
        let _ = req.done.send(Err(e.clone()));
    }
}

/// Refuses writes from now on ([`Spool::can_accept`] false, gauge 0), and
/// logs the change once.
///
/// [`Spool::can_accept`]: super::Spool::can_accept
fn mark_failed(store: &Handle, ledger: &Ledger, cause: &Error) {
    if store.fail() {
        tracing::error!(error = %cause, "spool file failed: refusing writes (503) and reopening it");
    }
    ledger.set_healthy(false);
}

/// Reopens the file after an I/O error (see `crate::store`), failing the
/// requests that arrive meanwhile, then recounts the ledger from the file.
/// Returns false when the spool was closed meanwhile.
fn recover(store: &Handle, path: &Path, rx: &mpsc::Receiver<WriteReq>, ledger: &Ledger) -> bool {
    loop {
        let reopened = store.reopen(|| loop {
            match rx.try_recv() {
                Ok(req) => fail(vec![req], &Error::Recovering),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        });
        if !reopened {
            return false;
        }
        let recount = store.get().ok_or(Error::Recovering).and_then(|db| {
            create_tables(&db)?;
            scan(&db)
        });
        match recount {
            Ok((usage, _)) => break ledger.reset(usage),
            // The file failed again at once: reopen again.
            Err(e) => tracing::debug!(error = %e, "spool reopened but not readable; again"),
        }
    }
    ledger.set_file_bytes(file_len(path));
    store.recovered();
    ledger.set_healthy(true);
    tracing::warn!("spool file reopened: accepting writes again");
    true
}

/// One transaction for the whole group; the movements of each request.
fn commit(db: &Database, group: &[WriteReq], quarantine_after: u64) -> Result<Vec<Moved>, Error> {
    let txn = db.begin_write().map_err(Error::store)?;
    let mut moved = Vec::with_capacity(group.len());
    {
        let mut t = Tables {
            spool: txn.open_table(SPOOL).map_err(Error::store)?,
            attempts: txn.open_table(ATTEMPTS).map_err(Error::store)?,
            quarantine: txn.open_table(QUARANTINE).map_err(Error::store)?,
        };
        for req in group {
            let m = match &req.op {
                Op::Insert(entries, _) => t.insert(entries)?,
                Op::Settle { confirmed, failed } => {
                    t.settle(confirmed, failed, quarantine_after)?
                }
                Op::Requeue(selection) => t.requeue(selection)?,
                Op::Purge(selection) => t.purge(selection)?,
            };
            moved.push(m);
        }
    }
    // Durability::Immediate is redb's default: commit() returns after fsync.
    txn.commit().map_err(Error::store)?;
    Ok(moved)
}

struct Tables<'t> {
    spool: redb::Table<'t, Key, Row>,
    attempts: redb::Table<'t, Key, (u64, &'static str)>,
    quarantine: redb::Table<'t, Key, QuarantineRow>,
}

impl Tables<'_> {
    fn insert(&mut self, entries: &[(Key, Vec<u8>, bytes::Bytes)]) -> Result<Moved, Error> {
        for (key, meta, body) in entries {
            self.spool
                .insert(key, (meta.as_slice(), body.as_ref()))
                .map_err(Error::store)?;
        }
        Ok(Moved::default())
    }

    fn settle(
        &mut self,
        confirmed: &[Key],
        failed: &[(Key, String)],
        quarantine_after: u64,
    ) -> Result<Moved, Error> {
        let mut m = Moved::default();
        for key in confirmed {
            if let Some(row) = self.spool.remove(key).map_err(Error::store)? {
                let (meta, body) = row.value();
                m.forward((meta.len() + body.len()) as u64);
            }
            self.attempts.remove(key).map_err(Error::store)?;
        }
        for (key, error) in failed {
            let before = self
                .attempts
                .get(key)
                .map_err(Error::store)?
                .map_or(0, |v| v.value().0);
            let attempts = before + 1;
            if attempts < quarantine_after {
                self.attempts
                    .insert(key, (attempts, error.as_str()))
                    .map_err(Error::store)?;
                continue;
            }
            self.attempts.remove(key).map_err(Error::store)?;
            let Some(row) = self.spool.remove(key).map_err(Error::store)? else {
                continue;
            };
            let (meta, body) = row.value();
            let verdict = serde_json::to_vec(&Verdict {
                attempts,
                last_error: error.clone(),
                quarantined_at_ms: now_ms(),
            })
            .map_err(Error::store)?;
            self.quarantine
                .insert(key, (meta, body, verdict.as_slice()))
                .map_err(Error::store)?;
            m.quarantine((meta.len() + body.len()) as u64);
        }
        Ok(m)
    }

    fn requeue(&mut self, selection: &Selection) -> Result<Moved, Error> {
        let mut m = Moved::default();
        for key in self.selected(selection)? {
            let Some(row) = self.quarantine.remove(&key).map_err(Error::store)? else {
                continue;
            };
            let (meta, body, _) = row.value();
            self.spool
                .insert(&key, (meta, body))
                .map_err(Error::store)?;
            m.requeue((meta.len() + body.len()) as u64);
        }
        Ok(m)
    }

    fn purge(&mut self, selection: &Selection) -> Result<Moved, Error> {
        let mut m = Moved::default();
        for key in self.selected(selection)? {
            if let Some(row) = self.quarantine.remove(&key).map_err(Error::store)? {
                let (meta, body, _) = row.value();
                m.purge((meta.len() + body.len()) as u64);
            }
        }
        Ok(m)
    }

    fn selected(&self, selection: &Selection) -> Result<Vec<Key>, Error> {
        match selection {
            Selection::Keys(keys) => Ok(keys.clone()),
            Selection::All => self
                .quarantine
                .iter()
                .map_err(Error::store)?
                .map(|row| row.map(|(k, _)| k.value()).map_err(Error::store))
                .collect(),
        }
    }
}
