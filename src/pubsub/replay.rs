//! Where each subscription's position is kept: the replay id of the last
//! event it published with a publisher confirm (every event before it
//! confirmed too), with its topic and when it was saved.
//!
//! `[pubsub] store = "embedded"`: a redb file (`path`, default
//! `data/replay.redb`), one durable commit per save; `"redis"`: one key per
//! subscription, `<key_prefix><name>` (a fleet shares it). The value is the
//! same JSON in both: `{"topic":"/event/X__e","replay_id":"<base64>",
//! "saved_at_ms":1733472000000}`. Replay ids are opaque bytes (SALESFORCE.md
//! section 9, Replay \[DUR\]): stored as received, never computed or
//! compared.

use std::sync::Arc;

use base64::Engine as _;
use redb::{ReadableDatabase as _, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::config::pubsub::{PubsubSection, ReplayStoreKind};
use crate::store::{self, Handle};

/// redb table: subscription name -> the JSON above.
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("replay");
/// Page cache of the embedded file: it holds one small row per subscription.
const CACHE_BYTES: usize = 1 << 20;

/// A stored position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The topic it belongs to: a replay id means nothing on another topic.
    pub topic: String,
    /// The replay id, as Salesforce sent it.
    pub replay_id: Vec<u8>,
    /// When it was saved, Unix ms.
    pub saved_at_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    topic: String,
    replay_id: String,
    saved_at_ms: u64,
}

/// Why a position could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded file failed or is being reopened.
    #[error("replay store: {0}")]
    File(#[from] store::Error),
    /// Redis did not answer or refused.
    #[error("replay store (redis): {0}")]
    Redis(String),
    /// A stored value is not the JSON this module writes.
    #[error("replay store: the value stored for {0} is not a position")]
    Corrupt(String),
}

/// The configured store. Cheap to clone.
#[derive(Clone)]
pub struct ReplayStore(Backend);

#[derive(Clone)]
enum Backend {
    /// redb.
    Embedded(Arc<Handle>),
    /// Redis, with the key prefix.
    Redis(redis::aio::ConnectionManager, Arc<str>),
}

impl ReplayStore {
    /// Opens the embedded file or connects to Redis.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened (another process has it) or
    /// Redis does not answer.
    pub async fn open(config: &PubsubSection) -> Result<ReplayStore, Error> {
        match config.store {
            ReplayStoreKind::Embedded => {
                let open = store::file(config.path.clone(), CACHE_BYTES);
                let handle = tokio::task::spawn_blocking(move || Handle::open(open))
                    .await
                    .map_err(store::Error::db)?
                    .map_err(store::Error::db)?;
                Ok(ReplayStore(Backend::Embedded(Arc::new(handle))))
            }
            ReplayStoreKind::Redis => {
                let url = config.redis_url.as_deref().unwrap_or_default();
                let client = redis::Client::open(url).map_err(redis_err)?;
                let manager = redis::aio::ConnectionManager::new(client)
                    .await
                    .map_err(redis_err)?;
                Ok(ReplayStore(Backend::Redis(
                    manager,
                    config.key_prefix.as_str().into(),
                )))
            }
        }
    }

    /// The stored position of `subscription`, if any.
    ///
    /// # Errors
    /// [`Error`]; never a guess: a caller that cannot read the position does
    /// not subscribe.
    pub async fn load(&self, subscription: &str) -> Result<Option<Position>, Error> {
        let bytes: Option<Vec<u8>> = match &self.0 {
            Backend::Embedded(handle) => {
                let handle = handle.clone();
                let name = subscription.to_owned();
                blocking(move || {
                    let db = handle.get().ok_or(store::Error::Reopening)?;
                    let txn = db.begin_read().map_err(store::Error::db)?;
                    let table = match txn.open_table(TABLE) {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                        Err(e) => return Err(store::Error::db(e)),
                    };
                    let v = table.get(name.as_str()).map_err(store::Error::db)?;
                    Ok(v.map(|v| v.value().to_vec()))
                })
                .await?
            }
            Backend::Redis(conn, prefix) => redis::cmd("GET")
                .arg(format!("{prefix}{subscription}"))
                .query_async(&mut conn.clone())
                .await
                .map_err(redis_err)?,
        };
        bytes
            .map(|b| decode(&b).ok_or_else(|| Error::Corrupt(subscription.to_owned())))
            .transpose()
    }

    /// Saves `position` for `subscription` durably (a redb commit is
    /// fsynced; a Redis `SET` is as durable as the server's persistence).
    ///
    /// # Errors
    /// [`Error`]; the caller keeps its older position and tries again.
    pub async fn save(&self, subscription: &str, position: &Position) -> Result<(), Error> {
        let value = encode(position);
        match &self.0 {
            Backend::Embedded(handle) => {
                let name = subscription.to_owned();
                write(handle, move |t| {
                    t.insert(name.as_str(), value.as_slice()).map(drop)
                })
                .await
            }
            Backend::Redis(conn, prefix) => redis::cmd("SET")
                .arg(format!("{prefix}{subscription}"))
                .arg(value)
                .query_async::<()>(&mut conn.clone())
                .await
                .map_err(redis_err),
        }
    }

    /// The lease `subscription` needs in this store (docs in `super::lease`):
    /// none for the embedded file, a Redis lease held as `me` for `ttl`.
    pub(crate) fn lease(
        &self,
        subscription: &str,
        me: &str,
        ttl: std::time::Duration,
    ) -> super::lease::Lease {
        match &self.0 {
            Backend::Embedded(_) => super::lease::Lease::None,
            Backend::Redis(conn, prefix) => super::lease::Lease::Redis {
                conn: conn.clone(),
                key: format!("{prefix}{subscription}:lease"),
                me: me.to_owned(),
                ttl,
            },
        }
    }

    /// Forgets the position of `subscription` (`--replay-from`).
    ///
    /// # Errors
    /// [`Error`].
    pub async fn forget(&self, subscription: &str) -> Result<(), Error> {
        match &self.0 {
            Backend::Embedded(handle) => {
                let name = subscription.to_owned();
                write(handle, move |t| t.remove(name.as_str()).map(drop)).await
            }
            Backend::Redis(conn, prefix) => redis::cmd("DEL")
                .arg(format!("{prefix}{subscription}"))
                .query_async::<()>(&mut conn.clone())
                .await
                .map_err(redis_err),
        }
    }
}

/// One durable write transaction on the table, off the async threads; a
/// file that latched an I/O error is reopened (the caller tries again).
async fn write(
    handle: &Arc<Handle>,
    f: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>) -> Result<(), redb::StorageError>
        + Send
        + 'static,
) -> Result<(), Error> {
    let handle = handle.clone();
    blocking(move || {
        let db = handle.get().ok_or(store::Error::Reopening)?;
        let run = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            f(&mut txn.open_table(TABLE)?)?;
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| {
            if Handle::failed(&db) {
                drop(db);
                if handle.reopen(|| true) {
                    handle.recovered();
                }
            }
            store::Error::db(e)
        })
    })
    .await
}

/// Runs a redb transaction off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, store::Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Error::File),
        Err(e) => Err(Error::File(store::Error::db(e))),
    }
}

fn encode(p: &Position) -> Vec<u8> {
    let stored = Stored {
        topic: p.topic.clone(),
        replay_id: base64::engine::general_purpose::STANDARD.encode(&p.replay_id),
        saved_at_ms: p.saved_at_ms,
    };
    serde_json::to_vec(&stored).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Option<Position> {
    let s: Stored = serde_json::from_slice(bytes).ok()?;
    let replay_id = base64::engine::general_purpose::STANDARD
        .decode(s.replay_id)
        .ok()?;
    Some(Position {
        topic: s.topic,
        replay_id,
        saved_at_ms: s.saved_at_ms,
    })
}

fn redis_err(e: redis::RedisError) -> Error {
    Error::Redis(crate::secret::redact_url(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(id: &[u8]) -> Position {
        Position {
            topic: "/event/Order_Placed__e".into(),
            replay_id: id.to_vec(),
            saved_at_ms: 1_733_472_000_000,
        }
    }

    #[tokio::test]
    async fn an_embedded_position_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let config = PubsubSection {
            path: dir.path().join("replay.redb"),
            ..PubsubSection::default()
        };
        let store = ReplayStore::open(&config).await.unwrap();
        assert_eq!(store.load("orders").await.unwrap(), None);
        store
            .save("orders", &position(&[0, 1, 0xff]))
            .await
            .unwrap();
        store.save("orders", &position(&[0, 2])).await.unwrap();
        drop(store);
        let store = ReplayStore::open(&config).await.unwrap();
        assert_eq!(store.load("orders").await.unwrap(), Some(position(&[0, 2])));
        assert_eq!(store.load("other").await.unwrap(), None);
        store.forget("orders").await.unwrap();
        assert_eq!(store.load("orders").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_redis_position_is_one_key() {
        let prefix = format!("hookgate.test.replay.{}:", std::process::id());
        let config = PubsubSection {
            store: ReplayStoreKind::Redis,
            redis_url: Some("redis://127.0.0.1:6379".into()),
            key_prefix: prefix.clone(),
            ..PubsubSection::default()
        };
        let store = ReplayStore::open(&config).await.unwrap();
        store.save("cdc", &position(b"\x00\x00\x01")).await.unwrap();
        assert_eq!(
            store.load("cdc").await.unwrap(),
            Some(position(b"\x00\x00\x01"))
        );
        store.forget("cdc").await.unwrap();
        assert_eq!(store.load("cdc").await.unwrap(), None);
    }

    #[test]
    fn a_foreign_value_is_corrupt_not_a_position() {
        assert_eq!(decode(b"not json"), None);
        assert_eq!(
            decode(br#"{"topic":"t","replay_id":"!!","saved_at_ms":1}"#),
            None
        );
    }
}
