//! Capacity accounting: what the spool and its quarantine hold, the limits,
//! and the gauges they drive.
//!
//! ```text
//! write:      reserve (checked against the limits) -> Reservation
//!   committed -> kept (counted), forwarder woken
//!   not committed, for any reason (commit failed, writer gone, request
//!   future dropped before or after its commit failed) -> released on drop
//! forwarded:  spool -= entry
//! quarantined: spool -> quarantine (total bytes unchanged)
//! requeued:   quarantine -> spool
//! purged:     quarantine -= entry
//! file reopened after an I/O error: recounted from the file, plus the
//!   reservations still travelling (a commit that reported failure may
//!   have reached the disk all the same)
//! ```
//! `max_bytes` bounds the file on disk: a write is refused while the file
//! is at or over it (the file holds free pages and copies beyond the
//! entries), or when the entries would exceed it. The file is measured after
//! every commit, so it can pass `max_bytes` by one commit's growth.
//! Quarantined entries count toward `max_bytes` (they stay on disk, and the
//! disk stays bounded) but not toward `max_messages`, which bounds the
//! backlog the forwarder still has to drain.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::Error;
use crate::telemetry::metrics::Metrics;

/// Entries and bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count {
    pub(super) n: u64,
    pub(super) bytes: u64,
}

impl Count {
    pub(super) fn add(&mut self, bytes: u64) {
        self.n += 1;
        self.bytes += bytes;
    }
}

/// What one committed write request changed, for the ledger.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Confirmed by the broker and deleted from the spool.
    pub(crate) forwarded: u64,
    /// Moved from the spool to the quarantine.
    pub(crate) quarantined: u64,
    /// Moved from the quarantine back to the spool.
    pub(crate) requeued: u64,
    /// Deleted from the quarantine.
    pub(crate) purged: u64,
    pub(super) sizes: Sizes,
}

/// Bytes of each movement in [`Moved`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sizes {
    pub(super) forwarded: u64,
    pub(super) quarantined: u64,
    pub(super) requeued: u64,
    pub(super) purged: u64,
}

impl Moved {
    pub(super) fn forward(&mut self, bytes: u64) {
        self.forwarded += 1;
        self.sizes.forwarded += bytes;
    }
    pub(super) fn quarantine(&mut self, bytes: u64) {
        self.quarantined += 1;
        self.sizes.quarantined += bytes;
    }
    pub(super) fn requeue(&mut self, bytes: u64) {
        self.requeued += 1;
        self.sizes.requeued += bytes;
    }
    pub(super) fn purge(&mut self, bytes: u64) {
        self.purged += 1;
        self.sizes.purged += bytes;
    }
}

/// Counts now: spool entries (reservations included) and quarantine.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Usage {
    pub(super) spool: Count,
    pub(super) quarantine: Count,
    /// Of `spool`, reserved and not committed yet.
    pub(super) reserved: Count,
}

/// Shared by the spool handle and the writer thread.
pub(super) struct Ledger {
    usage: Mutex<Usage>,
    max_messages: u64,
    max_bytes: u64,
    /// Size of the spool file after the last commit (0 for a database not
    /// in a file).
    file_bytes: AtomicU64,
    /// Wakes the forwarder when a write was committed.
    written: Notify,
    metrics: Arc<Metrics>,
}

impl Ledger {
    pub(super) fn new(
        usage: Usage,
        max_messages: u64,
        max_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Arc<Ledger> {
        let ledger = Arc::new(Ledger {
            usage: Mutex::new(usage),
            max_messages,
            max_bytes,
            file_bytes: AtomicU64::new(0),
            written: Notify::new(),
            metrics,
        });
        ledger.publish_gauges();
        ledger
    }

    pub(super) fn usage(&self) -> Usage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }

    /// Whether `n` more entries of `bytes` fit: within `max_messages`, and
    /// both the entries and the file (which also holds free pages, and
    /// grows ahead of what it holds) within `max_bytes`.
    fn fits(&self, u: &Usage, n: u64, bytes: u64) -> bool {
        u.spool.n + n <= self.max_messages
            && u.spool.bytes + u.quarantine.bytes + bytes <= self.max_bytes
            && self.file_bytes.load(Ordering::Acquire) < self.max_bytes
    }

    /// Whether the file should be compacted now: the spool is empty (no
    /// write in flight either: compacting copies only the quarantine), the
    /// file is at half of `max_bytes` or more, and it at least doubled
    /// since `compacted` (its size after the last compaction; a large
    /// quarantine that keeps it big is not copied again and again).
    pub(super) fn should_compact(&self, compacted: u64) -> bool {
        let file = self.file_bytes.load(Ordering::Acquire);
        let u = self.usage();
        u.spool.n == 0 && file >= self.max_bytes / 2 && file > compacted.saturating_mul(2)
    }

    /// Records the file's size (after a commit or an open).
    pub(super) fn set_file_bytes(&self, bytes: u64) {
        self.file_bytes.store(bytes, Ordering::Release);
        self.metrics
            .spool_file_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Whether one small message would be admitted now.
    pub(super) fn can_accept(&self) -> bool {
        self.usage
            .lock()
            .map(|u| self.fits(&u, 1, 1))
            .unwrap_or(false)
    }

    /// Counts `n` entries of `bytes` before they are written.
    ///
    /// # Errors
    /// [`Error::Full`] past a limit, [`Error::Closed`] on a poisoned lock.
    pub(super) fn reserve(self: &Arc<Self>, n: u64, bytes: u64) -> Result<Reservation, Error> {
        let mut u = self.usage.lock().map_err(|_| Error::Closed)?;
        if !self.fits(&u, n, bytes) {
            self.metrics.spool_full.inc();
            return Err(Error::Full);
        }
        u.spool.n += n;
        u.spool.bytes += bytes;
        u.reserved.n += n;
        u.reserved.bytes += bytes;
        drop(u);
        self.publish_gauges();
        Ok(Reservation {
            ledger: self.clone(),
            count: Count { n, bytes },
            kept: false,
        })
    }

    /// Applies a committed request's movements.
    pub(super) fn apply(&self, m: &Moved) {
        if let Ok(mut u) = self.usage.lock() {
            let s = &m.sizes;
            u.spool.n = (u.spool.n + m.requeued).saturating_sub(m.forwarded + m.quarantined);
            u.spool.bytes =
                (u.spool.bytes + s.requeued).saturating_sub(s.forwarded + s.quarantined);
            u.quarantine.n = (u.quarantine.n + m.quarantined).saturating_sub(m.requeued + m.purged);
            u.quarantine.bytes =
                (u.quarantine.bytes + s.quarantined).saturating_sub(s.requeued + s.purged);
        }
        self.metrics.spool_forwarded.inc_by(m.forwarded);
        self.metrics.spool_quarantined_entries.inc_by(m.quarantined);
        if m.requeued > 0 {
            self.written.notify_one();
        }
        self.publish_gauges();
    }

    /// Replaces the counts by `found` in the file (after a reopen), plus
    /// the reservations not committed yet.
    pub(super) fn reset(&self, found: Usage) {
        if let Ok(mut u) = self.usage.lock() {
            let reserved = u.reserved;
            *u = Usage {
                spool: Count {
                    n: found.spool.n + reserved.n,
                    bytes: found.spool.bytes + reserved.bytes,
                },
                quarantine: found.quarantine,
                reserved,
            };
        }
        self.publish_gauges();
    }

    /// Sets the `spool_healthy` gauge.
    pub(super) fn set_healthy(&self, healthy: bool) {
        self.metrics.spool_healthy.set(i64::from(healthy));
    }

    /// Waits for the next committed write (a permit stored by a commit that
    /// happened while nobody waited counts).
    pub(super) async fn written(&self) {
        self.written.notified().await;
    }

    fn publish_gauges(&self) {
        let u = self.usage();
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.metrics.spool_messages.set(gauge(u.spool.n));
        self.metrics.spool_bytes.set(gauge(u.spool.bytes));
        self.metrics.spool_quarantined.set(gauge(u.quarantine.n));
        self.metrics
            .spool_quarantined_bytes
            .set(gauge(u.quarantine.bytes));
    }
}

/// Capacity counted for a write that is not committed yet. The writer
/// thread [`keep`](Self::keep)s it after a successful commit; dropped
/// anywhere else (commit failed, writer gone, request cancelled before the
/// send) it gives the capacity back. It travels with the write request, so
/// the outcome of the commit decides, not whether anyone still waits for it.
pub(super) struct Reservation {
    ledger: Arc<Ledger>,
    count: Count,
    kept: bool,
}

impl Reservation {
    /// The entries are committed: keep them counted, count the write and
    /// wake the forwarder.
    pub(super) fn keep(mut self) {
        self.kept = true;
        if let Ok(mut u) = self.ledger.usage.lock() {
            u.reserved.n = u.reserved.n.saturating_sub(self.count.n);
            u.reserved.bytes = u.reserved.bytes.saturating_sub(self.count.bytes);
        }
        self.ledger.metrics.spool_writes.inc_by(self.count.n);
        self.ledger.written.notify_one();
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Ok(mut u) = self.ledger.usage.lock() {
            u.spool.n = u.spool.n.saturating_sub(self.count.n);
            u.spool.bytes = u.spool.bytes.saturating_sub(self.count.bytes);
            u.reserved.n = u.reserved.n.saturating_sub(self.count.n);
            u.reserved.bytes = u.reserved.bytes.saturating_sub(self.count.bytes);
        }
        self.ledger.publish_gauges();
    }
}
