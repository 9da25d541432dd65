//! Replay protection at the edge: a seen-key cache with a TTL per route.
//!
//! A request whose key was seen within the route's `replay_ttl` is answered
//! 2xx (or `Ack`) without a second publish and counted
//! (`hookgate_duplicates_total`). Keys are `<route>|<idempotency key>`; when
//! the scheme does not sign the id (GitHub's delivery header, Shopify's
//! webhook id, Salesforce's Notification Id, a generic `id_header` outside
//! the signed payload) the SHA-256 of the body is part of the key, so a
//! forged id cannot suppress a real delivery.
//!
//! A key is recorded only after its messages are durable (confirmed or
//! spooled): a failed publish must stay retryable. Two identical requests in
//! flight at once may both be published (a duplicate, never a loss).
//!
//! Stores: an embedded redb file (default; writes grouped by one thread,
//! committed without fsync: losing the newest marks in a crash only lets a
//! replay through to the consumers' own dedupe), or Redis (`[dedupe]
//! redis_url`) shared by a fleet: `SET key 1 NX PX ttl`.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use redb::{Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::config::DedupeConfig;

const TABLE: TableDefinition<&str, u64> = TableDefinition::new("seen");
/// Redis key prefix.
pub const REDIS_PREFIX: &str = "hookgate:seen:";
/// Most marks grouped into one commit.
const MAX_GROUP: usize = 4096;

/// (key, expires at ms) pairs and who waits for their commit.
type Marks = (
    Vec<(String, u64)>,
    tokio::sync::oneshot::Sender<Result<(), Error>>,
);

/// A cache failure: the request is processed as new (fail open: a store
/// outage must not refuse real deliveries; consumers dedupe on message_id).
#[derive(Debug, Clone, thiserror::Error)]
#[error("replay cache: {0}")]
pub struct Error(String);

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// The replay cache.
#[derive(Clone)]
pub enum Cache {
    /// redb file with a grouping writer thread.
    Embedded {
        /// The database.
        db: Arc<Database>,
        /// Marks to write, with the channel that says they are committed.
        writer: Arc<Mutex<mpsc::Sender<Marks>>>,
    },
    /// Redis.
    Redis(redis::aio::ConnectionManager),
}

impl Cache {
    /// Opens the configured cache.
    ///
    /// # Errors
    /// [`Error`] when the file cannot be opened or Redis is unreachable.
    pub async fn open(cfg: &DedupeConfig) -> Result<Cache, Error> {
        if let Some(url) = &cfg.redis_url {
            let client = redis::Client::open(url.as_str()).map_err(err)?;
            let conn =
                tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
                    .await
                    .map_err(|_| err("redis connection timed out"))?
                    .map_err(err)?;
            return Ok(Cache::Redis(conn));
        }
        let path = cfg.path.clone();
        let db = tokio::task::spawn_blocking(move || open_redb(&path))
            .await
            .map_err(err)??;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let wdb = db.clone();
        std::thread::Builder::new()
            .name("hookgate-dedupe-writer".into())
            .spawn(move || writer(wdb, rx))
            .map_err(err)?;
        Ok(Cache::Embedded {
            db,
            writer: Arc::new(Mutex::new(tx)),
        })
    }

    /// Whether `key` was recorded and has not expired.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub async fn seen(&self, key: &str) -> Result<bool, Error> {
        match self {
            Cache::Embedded { db, .. } => {
                let db = db.clone();
                let key = key.to_owned();
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_read().map_err(err)?;
                    let table = txn.open_table(TABLE).map_err(err)?;
                    Ok(table
                        .get(key.as_str())
                        .map_err(err)?
                        .is_some_and(|v| v.value() > now_ms()))
                })
                .await
                .map_err(err)?
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let n: i64 = redis::cmd("EXISTS")
                    .arg(format!("{REDIS_PREFIX}{key}"))
                    .query_async(&mut conn)
                    .await
                    .map_err(err)?;
                Ok(n > 0)
            }
        }
    }

    /// Records `keys` for `ttl`.
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub async fn record(&self, keys: &[String], ttl: Duration) -> Result<(), Error> {
        let until = now_ms() + ttl.as_millis() as u64;
        match self {
            Cache::Embedded { writer, .. } => {
                // Wait for the commit: a replay arriving right after our
                // answer must find the key.
                let (done, rx) = tokio::sync::oneshot::channel();
                let marks = keys.iter().map(|k| (k.clone(), until)).collect();
                writer
                    .lock()
                    .map_err(err)?
                    .send((marks, done))
                    .map_err(err)?;
                rx.await.map_err(err)?
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for k in keys {
                    pipe.cmd("SET")
                        .arg(format!("{REDIS_PREFIX}{k}"))
                        .arg(1)
                        .arg("PX")
                        .arg(ttl.as_millis() as u64)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await.map_err(err)
            }
        }
    }
}

fn open_redb(path: &Path) -> Result<Database, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let db = Database::create(path).map_err(err)?;
    let txn = db.begin_write().map_err(err)?;
    txn.open_table(TABLE).map_err(err)?;
    txn.commit().map_err(err)?;
    Ok(db)
}

fn writer(db: Arc<Database>, rx: mpsc::Receiver<Marks>) {
    let mut commits = 0u64;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(m) => group.push(m),
                Err(_) => break,
            }
        }
        commits += 1;
        let result = (|| -> Result<(), Error> {
            let mut txn = db.begin_write().map_err(err)?;
            // Marks need no fsync: see the module documentation.
            txn.set_durability(Durability::None).map_err(err)?;
            {
                let mut table = txn.open_table(TABLE).map_err(err)?;
                for (marks, _) in &group {
                    for (k, until) in marks {
                        table.insert(k.as_str(), until).map_err(err)?;
                    }
                }
                // Expire a bounded number of old entries every 64 commits.
                if commits % 64 == 0 {
                    let now = now_ms();
                    let old: Vec<String> = table
                        .iter()
                        .map_err(err)?
                        .filter_map(|r| r.ok())
                        .filter(|(_, v)| v.value() <= now)
                        .take(10_000)
                        .map(|(k, _)| k.value().to_owned())
                        .collect();
                    for k in old {
                        table.remove(k.as_str()).map_err(err)?;
                    }
                }
            }
            txn.commit().map_err(err)
        })();
        if let Err(e) = &result {
            tracing::warn!(error = %e, "replay cache write failed");
        }
        for (_, done) in group {
            let _ = done.send(result.clone());
        }
    }
}

fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The cache key of a delivery: `<route>|<id>`, plus `|<sha256 of body>`
/// when the id is not covered by the signature.
pub fn key(route: &str, id: &str, id_signed: bool, body: &[u8]) -> String {
    if id_signed {
        format!("{route}|{id}")
    } else {
        use sha2::Digest as _;
        format!("{route}|{id}|{}", hex::encode(sha2::Sha256::digest(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn embedded_records_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&DedupeConfig {
            enabled: true,
            path: dir.path().join("seen.redb"),
            redis_url: None,
        })
        .await
        .unwrap();
        assert!(!cache.seen("r|a").await.unwrap());
        cache
            .record(&["r|a".into()], Duration::from_secs(60))
            .await
            .unwrap();
        cache
            .record(&["r|b".into()], Duration::from_millis(1))
            .await
            .unwrap();
        // Recorded means committed: seen at once.
        assert!(cache.seen("r|a").await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(!cache.seen("r|b").await.unwrap(), "expired");
    }

    #[test]
    fn unsigned_ids_include_the_body_hash() {
        assert_eq!(key("stripe", "evt_1", true, b"x"), "stripe|evt_1");
        let k = key("github", "d-1", false, b"x");
        assert!(k.starts_with("github|d-1|") && k.len() == "github|d-1|".len() + 64);
        assert_ne!(k, key("github", "d-1", false, b"y"));
    }
}
