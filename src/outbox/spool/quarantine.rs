//! The quarantine: entries the broker refused `spool.quarantine_after`
//! times, kept in the spool file until an operator requeues or purges them
//! (`hookgate spool quarantine list|requeue|purge` on a stopped gateway).

use std::fmt;

use redb::{ReadableDatabase as _, ReadableTable as _};
use serde::Serialize;

use super::ledger::Moved;
use super::writer::{Op, Selection, Verdict, QUARANTINE};
use super::{Error, Key, Meta, Spool};

/// One quarantined entry, as `hookgate spool quarantine list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// Its spool key, as text (`MS-SEQ`, see [`format_key`]).
    #[serde(serialize_with = "serialize_key")]
    pub(crate) key: Key,
    /// The message's `message_id`.
    pub message_id: String,
    /// The message's routing key.
    pub routing_key: String,
    /// Failed attempts counted against it.
    pub attempts: u64,
    /// The last failure.
    pub last_error: String,
    /// Bytes of metadata and body.
    pub(crate) size: u64,
    /// When it was quarantined, Unix milliseconds.
    pub(crate) quarantined_at_ms: u64,
}

impl fmt::Display for Quarantined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} message_id={} routing_key={} attempts={} last_error={:?} size={}",
            format_key(self.key),
            self.message_id,
            self.routing_key,
            self.attempts,
            self.last_error,
            self.size
        )
    }
}

fn serialize_key<S: serde::Serializer>(key: &Key, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_key(*key))
}

/// A key as the CLI shows and takes it: `SPOOLED_AT_MS-SEQ`.
pub fn format_key(key: Key) -> String {
    format!("{}-{}", key.0, key.1)
}

/// Parses [`format_key`]'s text.
///
/// # Errors
/// [`Error::Key`] when `text` is not two decimal numbers joined by `-`.
pub fn parse_key(text: &str) -> Result<Key, Error> {
    let bad = || Error::Key(text.to_owned());
    let (ms, seq) = text.split_once('-').ok_or_else(bad)?;
    Ok((
        ms.parse().map_err(|_| bad())?,
        seq.parse().map_err(|_| bad())?,
    ))
}

impl Spool {
    /// Every quarantined entry, oldest spool key first.
    ///
    /// # Errors
    /// [`Error::Store`] on read or decode failure.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, Error> {
        let txn = self.db()?.begin_read().map_err(Error::store)?;
        let table = txn.open_table(QUARANTINE).map_err(Error::store)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(Error::store)? {
            let (k, v) = row.map_err(Error::store)?;
            let (meta, body, verdict) = v.value();
            let size = (meta.len() + body.len()) as u64;
            let meta: Meta<'_> = serde_json::from_slice(meta).map_err(Error::store)?;
            let verdict: Verdict = serde_json::from_slice(verdict).map_err(Error::store)?;
            out.push(Quarantined {
                key: k.value(),
                message_id: meta.message_id.into_owned(),
                routing_key: meta.routing_key.into_owned(),
                attempts: verdict.attempts,
                last_error: verdict.last_error,
                size,
                quarantined_at_ms: verdict.quarantined_at_ms,
            });
        }
        Ok(out)
    }

    /// Moves the selected entries back to the spool, in one transaction,
    /// with their failed attempts reset; they keep their keys (and so their
    /// place, oldest first). Returns how many moved.
    ///
    /// # Errors
    /// [`Error::NotQuarantined`] for a selected key that is not in the
    /// quarantine (nothing moved), [`Error::Store`]/[`Error::Closed`].
    pub async fn requeue(&self, selection: Selection) -> Result<u64, Error> {
        self.check(&selection)?;
        Ok(self.submit(Op::Requeue(selection)).await?.requeued)
    }

    /// Deletes the selected entries, in one transaction. Returns how many.
    ///
    /// # Errors
    /// As [`requeue`](Self::requeue).
    pub async fn purge(&self, selection: Selection) -> Result<u64, Error> {
        self.check(&selection)?;
        let Moved { purged, .. } = self.submit(Op::Purge(selection)).await?;
        Ok(purged)
    }

    /// Every selected key is in the quarantine.
    fn check(&self, selection: &Selection) -> Result<(), Error> {
        let Selection::Keys(keys) = selection else {
            return Ok(());
        };
        let txn = self.db()?.begin_read().map_err(Error::store)?;
        let table = txn.open_table(QUARANTINE).map_err(Error::store)?;
        for key in keys {
            if table.get(key).map_err(Error::store)?.is_none() {
                return Err(Error::NotQuarantined(format_key(*key)));
            }
        }
        Ok(())
    }
}
