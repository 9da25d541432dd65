//! The embedded store's writer thread: groups the recorded marks into one
//! commit per [`TICK`], expires and evicts, and reopens the file after an
//! I/O error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable as _};

#[cfg(doc)]
use super::Cache;
use super::{
    err, index, seen_table, Error, Pending, Snapshot, EXPIRY, REOPENING, SEEN, SYNC_EVERY, TICK,
};
use crate::store::{file_len, now_ms, Handle};
use crate::telemetry::metrics::Metrics;

/// Most expired keys removed per commit.
const MAX_EXPIRE: usize = 2048;
/// How often an idle writer looks for expired keys.
const IDLE_EXPIRY: Duration = Duration::from_secs(5);

/// Where the writer answers a sync or close.
type Waiter = tokio::sync::oneshot::Sender<Result<(), Error>>;

/// Marks the writer's end, normal or by panic: sets `stopped` and empties the
/// pending set, as nothing will commit or remove its keys any more (it would
/// grow with every record; lookups then read only the file).
pub(super) struct WriterEnd {
    pub(super) pending: Arc<Mutex<Pending>>,
    pub(super) stopped: Arc<AtomicBool>,
}

impl Drop for WriterEnd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                "replay cache writer died: marks are no longer recorded (replays reach \
                 the consumers' dedupe); restart the gateway"
            );
        }
        // A panic while the set was locked poisoned it: the set is replaced
        // whole, so its state does not matter.
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.stopped.store(true, Ordering::Release);
        *pending = Pending::default();
        drop(pending);
        self.pending.clear_poison();
    }
}

/// What the writer thread is asked to do.
pub(super) enum Cmd {
    /// Commit durably everything recorded before, then answer.
    // Sent only by `Cache::sync`, which tests use to wait for the commit.
    #[cfg_attr(not(test), allow(dead_code))]
    Sync(Waiter),
    /// Like `Sync`, then close the file and stop.
    Close(Waiter),
    /// Panics the writer thread (tests of its death).
    #[cfg(test)]
    Panic,
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) store: Arc<Handle>,
    /// The lookups' view of the file, replaced after each commit.
    pub(super) snapshot: Arc<Snapshot>,
    /// The file, measured after each commit against `max_bytes`.
    pub(super) path: PathBuf,
    pub(super) max_bytes: u64,
    pub(super) metrics: Arc<Metrics>,
}

impl Writer {
    /// Every [`TICK`] commits what was recorded (without fsync; a durable
    /// commit at most [`SYNC_EVERY`] later) and removes expired keys, and
    /// while the file is at `max_bytes`, as many of the earliest-expiring
    /// marks as it adds; ends on [`Cmd::Close`] or when every [`Cache`] is
    /// dropped, after a durable commit. After an I/O error it reopens the
    /// file ([`Writer::recover`]).
    pub(super) fn run(self, pending: &Mutex<Pending>, rx: &mpsc::Receiver<Cmd>) {
        // When the oldest commit not yet fsynced was made.
        let mut dirty_since: Option<Instant> = None;
        let mut last_commit = Instant::now();
        loop {
            let Requests { waiters, close } = receive(rx);
            let group = take_queue(pending);
            let durable = close
                || !waiters.is_empty()
                || dirty_since.is_some_and(|t| t.elapsed() >= SYNC_EVERY);
            if group.is_empty() && !durable && last_commit.elapsed() < IDLE_EXPIRY {
                continue;
            }
            let nothing_to_write = group.is_empty() && close && dirty_since.is_none();
            // A reader held across the commit would keep the pages it frees
            // from reuse (the file would grow past `max_bytes`): lookups open
            // their own transactions until the new snapshot is in.
            self.snapshot.store(None);
            let (result, failed) = self.write(&group, durable, nothing_to_write);
            last_commit = Instant::now();
            match &result {
                Ok(()) if durable => dirty_since = None,
                Ok(()) => {
                    dirty_since.get_or_insert(last_commit);
                }
                Err(e) => tracing::warn!(error = %e, "replay cache write failed"),
            }
            if result.is_ok() && !close {
                // Before the keys leave the pending set (see `Embedded`).
                self.snapshot.store(seen_table(&self.store));
            }
            release(pending, &group);
            if close {
                // Before the answer: the file closes with the last clone
                // of the cache, and a reopen right after must find it free.
                drop(self);
                answer(waiters, &result);
                return;
            }
            if failed {
                // Unhealthy before anyone hears of the failure: a caller
                // whose sync failed finds the cache not ready.
                self.mark_failed(&result);
            }
            answer(waiters, &result);
            if failed {
                // A commit not made durable is rolled back by the reopen.
                dirty_since = None;
                if !self.recover(rx) {
                    return;
                }
            }
        }
    }

    /// Commits `group` ([`commit`]; fsynced when `durable`) unless there is
    /// `nothing_to_write` (a close with nothing queued or unsynced), and
    /// counts the evictions. Returns the result, and whether it was an I/O
    /// error that failed the file (then [`Writer::recover`] must reopen it).
    fn write(
        &self,
        group: &[(String, u64)],
        durable: bool,
        nothing_to_write: bool,
    ) -> (Result<(), Error>, bool) {
        if nothing_to_write {
            return (Ok(()), false);
        }
        let Some(db) = self.store.get() else {
            return (Err(err(REOPENING)), false);
        };
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        let over = file_len(&self.path) >= self.max_bytes;
        let result = commit(&db, group, durability, over);
        let failed = result.is_err() && Handle::failed(&db);
        let result = result.map(|evicted| {
            self.metrics.replay_cache_evicted.inc_by(evicted);
        });
        (result, failed)
    }

    /// Marks the file failed after an I/O error (`cause`): not ready, and
    /// counted so, until [`recover`](Self::recover) reopened it.
    fn mark_failed(&self, cause: &Result<(), Error>) {
        // Lookups miss (fail open) until the reopen, as without a snapshot.
        self.snapshot.store(None);
        if self.store.fail() {
            let error = cause.as_ref().err().map(ToString::to_string);
            tracing::error!(
                error,
                "replay cache file failed: replays are not caught until it is reopened"
            );
        }
        self.metrics.replay_cache_healthy.set(0);
    }

    /// Reopens the file after an I/O error (see `crate::store`, and
    /// [`mark_failed`](Self::mark_failed) first): lookups miss and records
    /// fail meanwhile (requests are processed as new). Returns false when
    /// the cache was closed meanwhile.
    fn recover(&self, rx: &mpsc::Receiver<Cmd>) -> bool {
        loop {
            let reopened = self.store.reopen(|| loop {
                match rx.try_recv() {
                    Ok(Cmd::Sync(w)) => {
                        let _ = w.send(Err(err(REOPENING)));
                    }
                    Ok(Cmd::Close(w)) => {
                        let _ = w.send(Err(err(REOPENING)));
                        return false;
                    }
                    #[cfg(test)]
                    Ok(Cmd::Panic) => {}
                    Err(mpsc::TryRecvError::Empty) => return true,
                    Err(mpsc::TryRecvError::Disconnected) => return false,
                }
            });
            if !reopened {
                return false;
            }
            match self
                .store
                .get()
                .ok_or_else(|| err(REOPENING))
                .and_then(|db| index(&db))
            {
                Ok(()) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "replay cache reopened but not writable; again")
                }
            }
        }
        self.store.recovered();
        self.snapshot.store(seen_table(&self.store));
        self.metrics.replay_cache_healthy.set(1);
        tracing::warn!("replay cache file reopened: recording marks again");
        true
    }
}

/// The sync and close requests of one tick.
struct Requests {
    /// Who waits for the tick's commit.
    waiters: Vec<Waiter>,
    /// Whether to stop after it ([`Cmd::Close`], or every sender dropped).
    close: bool,
}

/// Waits up to [`TICK`] for a request, then takes every other one already
/// queued: all of them are answered by the same commit.
fn receive(rx: &mpsc::Receiver<Cmd>) -> Requests {
    let mut requests = Requests {
        waiters: Vec::new(),
        close: false,
    };
    let mut next = match rx.recv_timeout(TICK) {
        Ok(c) => Some(c),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            requests.close = true;
            None
        }
    };
    while let Some(cmd) = next {
        match cmd {
            Cmd::Sync(w) => requests.waiters.push(w),
            Cmd::Close(w) => {
                requests.waiters.push(w);
                requests.close = true;
            }
            #[cfg(test)]
            Cmd::Panic => panic!("replay cache writer: test-induced panic"),
        }
        next = rx.try_recv().ok();
    }
    requests
}

/// Takes the marks recorded since the last tick (none if the set is
/// poisoned: [`WriterEnd`] is about to empty it).
fn take_queue(pending: &Mutex<Pending>) -> Vec<(String, u64)> {
    match pending.lock() {
        Ok(mut p) => std::mem::take(&mut p.queue),
        Err(_) => Vec::new(),
    }
}

/// Drops the group's keys from the pending set: committed (or failed: then
/// kept only until now, as a failed record is treated as never made). A key
/// recorded again since with another expiry stays for the next commit.
fn release(pending: &Mutex<Pending>, group: &[(String, u64)]) {
    if let Ok(mut p) = pending.lock() {
        for (k, until) in group {
            if p.seen.get(k) == Some(until) {
                p.seen.remove(k);
            }
        }
    }
}

/// Tells each waiter the commit's result.
fn answer(waiters: Vec<Waiter>, result: &Result<(), Error>) {
    for w in waiters {
        let _ = w.send(result.clone());
    }
}

/// One write transaction: the group's marks, then up to [`MAX_EXPIRE`]
/// expired keys, then, when the file is `over` its budget, as many of the
/// earliest-expiring marks as the group adds. Returns how many were evicted
/// so.
fn commit(
    db: &Database,
    group: &[(String, u64)],
    durability: Durability,
    over: bool,
) -> Result<u64, Error> {
    let mut txn = db.begin_write().map_err(err)?;
    txn.set_durability(durability).map_err(err)?;
    let mut evicted = 0;
    {
        let mut seen = txn.open_table(SEEN).map_err(err)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(err)?;
        for (k, until) in group {
            if let Some(old) = seen.insert(k.as_str(), until).map_err(err)? {
                let old = old.value();
                if old != *until {
                    expiry.remove((old, k.as_str())).map_err(err)?;
                }
            }
            expiry.insert((*until, k.as_str()), ()).map_err(err)?;
        }
        let now = now_ms();
        let due: Vec<(u64, String)> = expiry
            .iter()
            .map_err(err)?
            .map_while(|row| {
                let (k, _) = row.ok()?;
                let (until, key) = k.value();
                (until <= now).then(|| (until, key.to_owned()))
            })
            .take(MAX_EXPIRE)
            .collect();
        for (until, k) in &due {
            expiry.remove((*until, k.as_str())).map_err(err)?;
            // Only if not recorded again since with a later expiry.
            let current = seen.get(k.as_str()).map_err(err)?.map(|v| v.value());
            if current == Some(*until) {
                seen.remove(k.as_str()).map_err(err)?;
            }
        }
        if over {
            evicted = evict(&mut seen, &mut expiry, group.len())?;
        }
    }
    txn.commit().map_err(err)?;
    Ok(evicted)
}

/// Removes the `n` marks that expire first (the expiry index's first
/// rows); returns how many.
fn evict(
    seen: &mut redb::Table<'_, &'static str, u64>,
    expiry: &mut redb::Table<'_, (u64, &'static str), ()>,
    n: usize,
) -> Result<u64, Error> {
    let first: Vec<(u64, String)> = expiry
        .iter()
        .map_err(err)?
        .take(n)
        .map(|row| {
            let (k, _) = row.map_err(err)?;
            let (until, key) = k.value();
            Ok((until, key.to_owned()))
        })
        .collect::<Result<_, Error>>()?;
    for (until, k) in &first {
        expiry.remove((*until, k.as_str())).map_err(err)?;
        seen.remove(k.as_str()).map_err(err)?;
    }
    Ok(first.len() as u64)
}
