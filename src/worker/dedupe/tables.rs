//! The embedded idempotency store's two tables and the writes on them,
//! kept consistent: every done mark has its row in the expiry index, nothing
//! else has one.

use std::time::Duration;

use redb::{
    Database, ReadableTable as _, ReadableTableMetadata as _, TableDefinition, WriteTransaction,
};

use super::{Claim, CLAIM_TTL};
use crate::store::{now_ms, Error};

/// Key -> (state, expiry Unix ms).
pub(super) const TABLE: TableDefinition<&str, (u8, u64)> = TableDefinition::new("idempotency");
/// (expiry Unix ms, key) -> (): the expiry index of the done marks.
pub(super) const EXPIRY: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("idempotency_expiry");
/// Claimed, being applied.
pub(super) const PENDING: u8 = 0;
/// Applied.
pub(super) const DONE: u8 = 1;
/// Most expired marks removed per commit.
pub(super) const MAX_EXPIRE: usize = 1000;

/// `d` in milliseconds (saturated).
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a claim finds in an unexpired entry; `None` when it can take it.
pub(super) fn held((state, until): (u8, u64), now: u64) -> Option<Claim> {
    match state {
        _ if until <= now => None,
        DONE => Some(Claim::Done),
        _ => Some(Claim::InProgress),
    }
}

/// At open: creates the tables, drops every claim (a dead process's) and
/// indexes the done marks when the index is empty (a file written before
/// it existed).
pub(super) fn start(db: &Database) -> Result<(), Error> {
    let txn = db.begin_write().map_err(Error::db)?;
    {
        let mut t = Tables::open(&txn)?;
        let index = t.expiry.is_empty().map_err(Error::db)?;
        let mut stale = Vec::new();
        for row in t.marks.iter().map_err(Error::db)? {
            let (k, v) = row.map_err(Error::db)?;
            match v.value() {
                (DONE, until) if index => {
                    t.expiry.insert((until, k.value()), ()).map_err(Error::db)?;
                }
                (DONE, _) => {}
                _ => stale.push(k.value().to_owned()),
            }
        }
        for k in &stale {
            t.marks.remove(k.as_str()).map_err(Error::db)?;
        }
    }
    txn.commit().map_err(Error::db)
}

/// One durable commit: `marks` done, expired marks removed and, when the
/// file is `over` its budget, as many of the earliest-expiring marks as it
/// adds (none of `marks`). Returns how many were evicted so.
pub(super) fn write_done(db: &Database, marks: &[(String, u64)], over: bool) -> Result<u64, Error> {
    let txn = db.begin_write().map_err(Error::db)?;
    let evicted = {
        let mut t = Tables::open(&txn)?;
        for (id, until) in marks {
            t.set(id, (DONE, *until))?;
        }
        t.expire(now_ms())?;
        match marks.iter().map(|(_, u)| *u).min() {
            Some(before) if over => t.evict(marks.len(), before)?,
            _ => 0,
        }
    };
    txn.commit().map_err(Error::db)?;
    Ok(evicted)
}

/// The two tables in one write transaction, kept consistent: every done
/// mark has its index row, nothing else has one.
pub(super) struct Tables<'t> {
    marks: redb::Table<'t, &'static str, (u8, u64)>,
    expiry: redb::Table<'t, (u64, &'static str), ()>,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, Error> {
        Ok(Tables {
            marks: txn.open_table(TABLE).map_err(Error::db)?,
            expiry: txn.open_table(EXPIRY).map_err(Error::db)?,
        })
    }

    pub(super) fn get(&self, id: &str) -> Result<Option<(u8, u64)>, Error> {
        Ok(self.marks.get(id).map_err(Error::db)?.map(|v| v.value()))
    }

    /// Claims `id` unless an unexpired entry holds it.
    pub(super) fn claim(&mut self, id: &str, now: u64) -> Result<Claim, Error> {
        if let Some(claim) = self.get(id)?.and_then(|v| held(v, now)) {
            return Ok(claim);
        }
        self.set(id, (PENDING, now.saturating_add(ms(CLAIM_TTL))))?;
        Ok(Claim::Acquired)
    }

    /// Sets the entry of `id`, and its index row.
    pub(super) fn set(&mut self, id: &str, value: (u8, u64)) -> Result<(), Error> {
        let old = self
            .marks
            .insert(id, value)
            .map_err(Error::db)?
            .map(|v| v.value());
        if let Some((DONE, until)) = old.filter(|&o| o != value) {
            self.expiry.remove((until, id)).map_err(Error::db)?;
        }
        if value.0 == DONE {
            self.expiry.insert((value.1, id), ()).map_err(Error::db)?;
        }
        Ok(())
    }

    /// Removes the entry of `id`, and its index row.
    pub(super) fn remove(&mut self, id: &str) -> Result<(), Error> {
        let old = self.marks.remove(id).map_err(Error::db)?.map(|v| v.value());
        if let Some((DONE, until)) = old {
            self.expiry.remove((until, id)).map_err(Error::db)?;
        }
        Ok(())
    }

    /// The first `n` index rows, all expiring before `before`.
    fn first(&self, n: usize, before: u64) -> Result<Vec<(u64, String)>, Error> {
        let mut rows = Vec::new();
        for row in self.expiry.iter().map_err(Error::db)? {
            if rows.len() >= n {
                break;
            }
            let (k, _) = row.map_err(Error::db)?;
            let (until, key) = k.value();
            if until >= before {
                break;
            }
            rows.push((until, key.to_owned()));
        }
        Ok(rows)
    }

    /// Removes the marks of index rows `rows`; returns how many.
    fn drop_marks(&mut self, rows: &[(u64, String)]) -> Result<u64, Error> {
        for (until, k) in rows {
            self.expiry
                .remove((*until, k.as_str()))
                .map_err(Error::db)?;
            if self.get(k)? == Some((DONE, *until)) {
                self.marks.remove(k.as_str()).map_err(Error::db)?;
            }
        }
        Ok(rows.len() as u64)
    }

    /// Removes up to [`MAX_EXPIRE`] done marks expired at `now`.
    pub(super) fn expire(&mut self, now: u64) -> Result<(), Error> {
        let due = self.first(MAX_EXPIRE, now.saturating_add(1))?;
        self.drop_marks(&due).map(drop)
    }

    /// Removes the `n` done marks that expire first, all before `before`;
    /// returns how many.
    fn evict(&mut self, n: usize, before: u64) -> Result<u64, Error> {
        let first = self.first(n, before)?;
        self.drop_marks(&first)
    }
}
