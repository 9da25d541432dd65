//! Bulk API 2.0 jobs whose rows are not settled yet, kept beside the
//! idempotency marks so a worker that dies while a job runs resumes that
//! job instead of writing its records again (`crate::worker::bulk`).
//!
//! A job is recorded (durably) after Salesforce created it and before its
//! CSV is uploaded, and forgotten once every row is settled. Embedded: a
//! redb table `bulk_jobs` (job Id -> JSON). Redis: the hash
//! [`REDIS_JOBS`] (job Id -> JSON).
//!
//! Taking over a job's rows after a restart ([`Store::take_over`]) claims
//! every key that is not done, whoever held it: the embedded file drops a
//! dead process's claims when it opens; in Redis the dead worker's claims
//! would otherwise block them for up to [`CLAIM_TTL`].

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};

use super::tables::{Tables, DONE, PENDING};
use super::{blocking, redis_err, Backend, Error, Store, CLAIM_TTL, REDIS_PREFIX};
use crate::store::now_ms;

/// Job Id -> [`JobRecord`] as JSON.
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("bulk_jobs");
/// The Redis hash of unsettled jobs.
pub const REDIS_JOBS: &str = "hookgate:bulk:jobs";

/// Claims each key of KEYS that is not `done` for ARGV[1] ms; returns the
/// 1-based indexes of the keys claimed.
const TAKE_OVER_SCRIPT: &str = "local taken = {} \
     for i, k in ipairs(KEYS) do \
     if redis.call('GET', k) ~= 'done' then \
     redis.call('SET', k, 'pending', 'PX', ARGV[1]) table.insert(taken, i) end \
     end return taken";

/// An ingest job whose rows are not all settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    /// The org's `name`.
    pub(crate) org: String,
    /// The job's Id.
    pub(crate) id: String,
    /// The CSV's key column (`Id` or the external id field).
    pub(crate) key_column: String,
    /// Each row's key value and its message's idempotency key.
    pub(crate) rows: Vec<(String, String)>,
}

impl Store {
    /// Records `job` durably (before its upload).
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn record_job(&self, job: &JobRecord) -> Result<(), Error> {
        // Strings only: serializing cannot fail.
        let json = serde_json::to_vec(job).unwrap_or_default();
        match &self.backend {
            Backend::Embedded(e) => {
                let (e, id) = (e.clone(), job.id.clone());
                blocking(move || {
                    e.write(|db| {
                        let txn = db.begin_write().map_err(crate::store::Error::db)?;
                        txn.open_table(JOBS)
                            .map_err(crate::store::Error::db)?
                            .insert(id.as_str(), json.as_slice())
                            .map_err(crate::store::Error::db)?;
                        txn.commit().map_err(crate::store::Error::db)
                    })
                })
                .await
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                redis::cmd("HSET")
                    .arg(REDIS_JOBS)
                    .arg(&job.id)
                    .arg(json)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(redis_err)
            }
        }
    }

    /// Every recorded job (unreadable entries are skipped with a warning).
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn jobs(&self) -> Result<Vec<JobRecord>, Error> {
        let raw: Vec<Vec<u8>> = match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                blocking(move || e.write(read_jobs)).await?
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                redis::cmd("HVALS")
                    .arg(REDIS_JOBS)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?
            }
        };
        Ok(raw
            .iter()
            .filter_map(|r| match serde_json::from_slice(r) {
                Ok(j) => Some(j),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable bulk job record skipped");
                    None
                }
            })
            .collect())
    }

    /// Forgets job `id` (every row settled).
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn forget_job(&self, id: &str) -> Result<(), Error> {
        match &self.backend {
            Backend::Embedded(e) => {
                let (e, id) = (e.clone(), id.to_owned());
                blocking(move || {
                    e.write(|db| {
                        let txn = db.begin_write().map_err(crate::store::Error::db)?;
                        txn.open_table(JOBS)
                            .map_err(crate::store::Error::db)?
                            .remove(id.as_str())
                            .map_err(crate::store::Error::db)?;
                        txn.commit().map_err(crate::store::Error::db)
                    })
                })
                .await
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                redis::cmd("HDEL")
                    .arg(REDIS_JOBS)
                    .arg(id)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(redis_err)
            }
        }
    }

    /// Claims every key of `ids` that is not done, whoever holds it now
    /// (a resumed job's rows); returns the keys claimed (held by this
    /// process until done or released).
    ///
    /// # Errors
    /// [`Error`] when the store fails.
    pub(crate) async fn take_over(&self, ids: Vec<String>) -> Result<Vec<String>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let taken = match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                blocking(move || e.write(|db| take_over_file(db, ids))).await?
            }
            Backend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(TAKE_OVER_SCRIPT).arg(ids.len());
                for id in &ids {
                    cmd.arg(format!("{REDIS_PREFIX}{id}"));
                }
                cmd.arg(CLAIM_TTL.as_millis() as u64);
                let idx: Vec<usize> = cmd.query_async(&mut conn).await.map_err(redis_err)?;
                idx.into_iter()
                    .filter_map(|i| ids.get(i.wrapping_sub(1)).cloned())
                    .collect()
            }
        };
        self.held().extend(taken.iter().cloned());
        Ok(taken)
    }
}

fn read_jobs(db: &redb::Database) -> Result<Vec<Vec<u8>>, crate::store::Error> {
    use crate::store::Error as E;
    let read = db.begin_read().map_err(E::db)?;
    let table = match read.open_table(JOBS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(E::db(e)),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(E::db)? {
        let (_, v) = row.map_err(E::db)?;
        out.push(v.value().to_vec());
    }
    Ok(out)
}

fn take_over_file(
    db: &redb::Database,
    ids: Vec<String>,
) -> Result<Vec<String>, crate::store::Error> {
    let now = now_ms();
    let until = now.saturating_add(super::tables::ms(CLAIM_TTL));
    let txn = db.begin_write().map_err(crate::store::Error::db)?;
    let mut taken = Vec::with_capacity(ids.len());
    {
        let mut t = Tables::open(&txn)?;
        for id in ids {
            if matches!(t.get(&id)?, Some((DONE, u)) if u > now) {
                continue;
            }
            t.set(&id, (PENDING, until))?;
            taken.push(id);
        }
    }
    txn.commit().map_err(crate::store::Error::db)?;
    Ok(taken)
}
