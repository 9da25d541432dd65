//! The spool: a durable local outbox for when RabbitMQ is down, slow or
//! blocked.
//!
//! Store: [redb](https://docs.rs/redb), an embedded, crash-safe (copy-on-write
//! B-tree, checksummed commits) key-value store. Every commit uses
//! `Durability::Immediate`: when `commit()` returns the data has been fsynced,
//! so a request is answered 2xx only after its messages are on disk. Writers
//! are grouped: one thread takes every write request queued at that moment and
//! commits them in one transaction (one fsync), so an outage does not turn
//! into one fsync per request (docs/reliability.md).
//!
//! Tables, all keyed `(spooled_at_ms, seq)` (oldest first):
//! - `spool`: `(meta, body)` where `meta` is the JSON of `Meta` (routing
//!   key, properties, headers) and `body` the payload bytes;
//! - `attempts`: `(failed attempts, last error)` of spooled entries the
//!   broker refused at least once;
//! - `quarantine`: `(meta, body, verdict JSON)`: entries refused
//!   `spool.quarantine_after` times. The gateway never deletes them; the
//!   operator requeues or purges them (`quarantine`).
//!
//! A commit that fails with an I/O error (disk full) fails its requests
//! (503), and the writer reopens the file (`crate::store`); writes are
//! refused and [`Spool::can_accept`] is false until it did. `max_bytes`
//! bounds the file on disk (`ledger.rs`); a drained file is compacted
//! (`writer.rs`).
//!
//! The [`forward`] task drains the spool to RabbitMQ, oldest first, with
//! publisher confirms, and deletes exactly the confirmed entries; a crash
//! between a confirm and the delete makes a duplicate (same `message_id`),
//! never a loss. A failure the broker blames on an entry counts against it;
//! a failure of the connection does not (see `forward.rs`).

mod forward;
mod ledger;
mod quarantine;
mod store;
mod writer;

use std::borrow::Cow;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use forward::{drain_once, forward, round, Drained, Round, RoundError, Sink, BATCH};
pub use ledger::Moved;
pub use quarantine::{format_key, parse_key, Quarantined};
pub use store::{Spool, Status};
pub use writer::Selection;

/// A spooled entry's key: `(spooled_at_ms, seq)`.
pub type Key = (u64, u64);

use crate::envelope::Message;

/// Why the spool could not take or give messages.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `max_messages` or `max_bytes` would be exceeded: answered 503.
    #[error("spool full")]
    Full,
    /// The spool file is held by another process (a running gateway).
    #[error("spool file {0} is in use by another hookgate process")]
    Locked(PathBuf),
    /// The store failed (disk full, I/O error, corruption). The text is
    /// redb's message.
    #[error("spool store error: {0}")]
    Store(String),
    /// The spool file failed (an I/O error, e.g. a full disk) and is being
    /// reopened: nothing can be read or written until it is. Answered 503.
    #[error("spool file is being reopened after an I/O error")]
    Recovering,
    /// The drained spool file is being compacted (for milliseconds): read
    /// again later.
    #[error("spool file is being compacted")]
    Compacting,
    /// The writer thread is gone (shutting down).
    #[error("spool is closed")]
    Closed,
    /// A key given to a quarantine command is not in the quarantine.
    #[error("{0} is not in the quarantine")]
    NotQuarantined(String),
    /// Text that is not a spool key (`SPOOLED_AT_MS-SEQ`).
    #[error("not a spool key (expected SPOOLED_AT_MS-SEQ): {0:?}")]
    Key(String),
}

impl Error {
    pub(crate) fn store(e: impl std::fmt::Display) -> Self {
        Error::Store(e.to_string())
    }
}

/// Everything of a [`Message`] but its body, as stored (JSON).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Meta<'a> {
    /// Topic routing key.
    pub(crate) routing_key: Cow<'a, str>,
    /// `message_id`.
    pub(crate) message_id: Cow<'a, str>,
    /// `content_type`.
    pub(crate) content_type: Cow<'a, str>,
    /// `type`.
    pub(crate) kind: Cow<'a, str>,
    /// Receive time, Unix nanoseconds.
    pub(crate) received_at_ns: i64,
    /// String headers, in order.
    pub(crate) headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Meta<'a> {
    /// The metadata of a message.
    pub(crate) fn of(m: &'a Message) -> Self {
        Meta {
            routing_key: Cow::Borrowed(&m.routing_key),
            message_id: Cow::Borrowed(&m.message_id),
            content_type: Cow::Borrowed(&m.content_type),
            kind: Cow::Borrowed(&m.kind),
            received_at_ns: i64::try_from(m.received_at.unix_timestamp_nanos()).unwrap_or(0),
            headers: m
                .headers
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_ref()), Cow::Borrowed(v.as_str())))
                .collect(),
        }
    }

    /// Rebuilds the message with `body`.
    pub(crate) fn into_message(self, body: Vec<u8>) -> Message {
        Message {
            routing_key: self.routing_key.into_owned(),
            message_id: self.message_id.into_owned(),
            content_type: self.content_type.into_owned(),
            kind: self.kind.into_owned(),
            received_at: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(
                self.received_at_ns,
            ))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            headers: self
                .headers
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                .collect(),
            body: bytes::Bytes::from(body),
        }
    }
}

#[cfg(test)]
mod tests;
