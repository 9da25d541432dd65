use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::tables::{DONE, PENDING};
use super::*;
use crate::store::now_ms;

fn config(dir: &tempfile::TempDir) -> IdempotencyConfig {
    IdempotencyConfig {
        store: StoreKind::Embedded,
        path: dir.path().join("idem.redb"),
        redis_url: None,
        ttl_s: 172_800,
        max_bytes: 256 << 20,
    }
}

fn embedded(s: &Store) -> &Embedded {
    let Backend::Embedded(e) = &s.backend else {
        panic!("embedded")
    };
    e
}

#[tokio::test]
async fn embedded_claim_done_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&config(&dir), &Metrics::new()).await.unwrap();
    assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
    assert_eq!(s.claim("a").await.unwrap(), Claim::InProgress);
    s.release(vec!["a".into()]).await.unwrap();
    assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
    s.done(vec!["a".into()]).await.unwrap();
    assert_eq!(s.claim("a").await.unwrap(), Claim::Done);
    assert_eq!(s.claim("b").await.unwrap(), Claim::Acquired);
    assert_eq!(embedded(&s).rows(), (2, 1), "a done and indexed, b claimed");
}

/// A pause longer than CLAIM_TTL keeps its claims: each renewal pushes
/// the expiry of the pending claims this store holds, never a done mark.
#[tokio::test]
async fn held_claims_are_extended_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&config(&dir), &Metrics::new()).await.unwrap();
    assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
    assert_eq!(s.claim("b").await.unwrap(), Claim::Acquired);
    s.done(vec!["b".into()]).await.unwrap();
    let e = embedded(&s);
    // Age the claim as if CLAIM_TTL had nearly passed.
    e.set_entry("a", (PENDING, now_ms() + 10)).unwrap();
    s.extend_held().await.unwrap();
    let (state, until) = e.entry("a").unwrap();
    assert_eq!(state, PENDING);
    assert!(until > now_ms() + CLAIM_TTL.as_millis() as u64 / 2);
    assert_eq!(e.entry("b").unwrap().0, DONE);
    s.release_held().await.unwrap();
    assert_eq!(s.claim("a").await.unwrap(), Claim::Acquired);
    assert_eq!(s.claim("b").await.unwrap(), Claim::Done);
}

/// A file of an earlier version (no expiry index) is indexed at open, and
/// the claims of the process that left it are dropped.
#[tokio::test]
async fn an_older_file_is_indexed_and_its_claims_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir);
    {
        let db = redb::Database::create(&cfg.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, (u8, u64)> =
                redb::TableDefinition::new("idempotency");
            let mut t = txn.open_table(def).unwrap();
            let until = now_ms() + 3_600_000;
            t.insert("done", (DONE, until)).unwrap();
            t.insert("claimed", (PENDING, until)).unwrap();
        }
        txn.commit().unwrap();
    }
    let s = Store::open(&cfg, &Metrics::new()).await.unwrap();
    assert_eq!(embedded(&s).rows(), (1, 1));
    assert_eq!(s.claim("done").await.unwrap(), Claim::Done);
    assert_eq!(s.claim("claimed").await.unwrap(), Claim::Acquired);
}

/// The disk fills up under a done commit (redb latches the I/O error):
/// every claim fails with the typed error while the file is failed, the
/// store reopens it once writes pass again, and no mark is lost: the
/// earlier ones are kept, the failed commit's are written by the reopen (a
/// redelivery is a duplicate, not a second write), and a release that
/// failed meanwhile is done too. Before `crate::store` the file was never
/// reopened: every claim failed until the worker restarted.
#[tokio::test]
async fn the_store_reopens_its_file_after_an_io_error_and_keeps_every_done_mark() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir);
    let fail = Arc::new(AtomicBool::new(false));
    let open = crate::store::testing::flaky_file(cfg.path.clone(), fail.clone());
    let s = Store::open_embedded(open, &cfg, &Metrics::new())
        .await
        .unwrap();
    for id in ["a", "b", "r"] {
        assert_eq!(s.claim(id).await.unwrap(), Claim::Acquired);
    }
    s.done(vec!["a".into()]).await.unwrap();

    fail.store(true, Ordering::SeqCst);
    // Salesforce applied b; its mark does not reach the disk.
    assert!(s.done(vec!["b".into()]).await.is_err(), "the commit failed");
    assert!(!embedded(&s).healthy());
    let reopening =
        |r: Result<Claim, Error>| matches!(r, Err(Error::File(crate::store::Error::Reopening)));
    assert!(reopening(s.claim("c").await), "claims fail while failed");
    assert!(reopening(s.claim("a").await));
    assert!(s.release(vec!["r".into()]).await.is_err());
    // A reopen proves it can commit before it counts: still failed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(reopening(s.claim("c").await), "recovered while writes fail");

    fail.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.claim("c").await.is_err() {
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(embedded(&s).healthy());
    assert_eq!(
        s.claim("a").await.unwrap(),
        Claim::Done,
        "earlier mark kept"
    );
    assert_eq!(
        s.claim("b").await.unwrap(),
        Claim::Done,
        "failed mark written"
    );
    assert_eq!(s.claim("r").await.unwrap(), Claim::Acquired, "released");
    assert_eq!(embedded(&s).entry("b").map(|e| e.0), Some(DONE));
    // Written durably: a restart finds it (once the reopen thread, which
    // holds the file a moment after its last commit, has ended).
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        match Store::open(&cfg, &Metrics::new()).await {
            Ok(s) => break s,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(s.claim("b").await.unwrap(), Claim::Done);
}

#[tokio::test]
async fn the_file_stays_within_max_bytes_forgetting_the_earliest_expiry_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = IdempotencyConfig {
        max_bytes: 4 << 20,
        ..config(&dir)
    };
    let metrics = Metrics::new();
    let s = Store::open(&cfg, &metrics).await.unwrap();
    let key = |round: u64, i: u64| format!("stripe|evt_{round:03}-{i:04}-{}", "d".repeat(40));
    let mut largest = 0;
    let rounds = 50;
    for round in 0..rounds {
        // Later rounds expire later: the first rounds go first.
        tokio::time::sleep(Duration::from_millis(2)).await;
        s.done((0..1000).map(|i| key(round, i)).collect())
            .await
            .unwrap();
        largest = largest.max(std::fs::metadata(&cfg.path).unwrap().len());
    }
    // One commit's worth over: its marks and the pages copied on the way.
    let slack = 1 << 20;
    assert!(
        largest <= cfg.max_bytes + slack,
        "file grew to {largest} bytes, max_bytes {}",
        cfg.max_bytes
    );
    assert!(metrics.idempotency_evicted.get() > 0);
    let (marks, index) = embedded(&s).rows();
    assert_eq!(marks, index, "every done mark indexed");
    assert_eq!(marks + metrics.idempotency_evicted.get(), rounds * 1000);
    let last = rounds - 1;
    assert_eq!(s.claim(&key(last, 999)).await.unwrap(), Claim::Done);
    assert_eq!(s.claim(&key(last, 0)).await.unwrap(), Claim::Done);
    assert_eq!(
        s.claim(&key(0, 0)).await.unwrap(),
        Claim::Acquired,
        "the earliest forgotten"
    );
}

/// Redis: renewal pushes the expiry of this process's pending claims
/// and leaves a done mark (and its 48 h expiry) alone.
#[tokio::test]
async fn redis_held_claims_are_extended_not_done_marks() {
    let cfg = IdempotencyConfig {
        store: StoreKind::Redis,
        path: PathBuf::new(),
        redis_url: Some("redis://127.0.0.1:6379".into()),
        ttl_s: 172_800,
        max_bytes: 256 << 20,
    };
    let s = Store::open(&cfg, &Metrics::new())
        .await
        .expect("redis at 127.0.0.1:6379");
    let tag = format!("unit-extend-{}-{}", std::process::id(), now_ms());
    let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
    assert_eq!(s.claim(&a).await.unwrap(), Claim::Acquired);
    assert_eq!(s.claim(&b).await.unwrap(), Claim::Acquired);
    s.done(vec![b.clone()]).await.unwrap();
    let Backend::Redis(conn, _) = &s.backend else {
        panic!("redis")
    };
    let mut conn = conn.clone();
    let pttl = |k: &str| redis::cmd("PTTL").arg(format!("{REDIS_PREFIX}{k}")).clone();
    let _: () = redis::cmd("PEXPIRE")
        .arg(format!("{REDIS_PREFIX}{a}"))
        .arg(500)
        .query_async(&mut conn)
        .await
        .unwrap();
    s.extend_held().await.unwrap();
    let left: i64 = pttl(&a).query_async(&mut conn).await.unwrap();
    assert!(left > CLAIM_TTL.as_millis() as i64 / 2, "{left}");
    let done_left: i64 = pttl(&b).query_async(&mut conn).await.unwrap();
    assert!(done_left > CLAIM_TTL.as_millis() as i64 * 2, "{done_left}");
    s.release_held().await.unwrap();
    s.release(vec![b]).await.unwrap();
    assert_eq!(s.claim(&a).await.unwrap(), Claim::Acquired);
    s.release(vec![a]).await.unwrap();
}

fn job(id: &str, keys: &[&str]) -> JobRecord {
    JobRecord {
        org: "default".into(),
        id: id.into(),
        key_column: "Ext__c".into(),
        rows: keys
            .iter()
            .map(|k| (format!("ext-{k}"), (*k).to_owned()))
            .collect(),
    }
}

/// A job recorded before a crash is found by the next process, which
/// takes over its rows' claims (not the done ones) and forgets it after.
#[tokio::test]
async fn embedded_jobs_survive_a_restart_and_their_rows_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir);
    let s = Store::open(&cfg, &Metrics::new()).await.unwrap();
    for k in ["a", "b", "c"] {
        assert_eq!(s.claim(k).await.unwrap(), Claim::Acquired);
    }
    s.done(vec!["c".into()]).await.unwrap();
    let j = job("750000000000001AAA", &["a", "b", "c"]);
    s.record_job(&j).await.unwrap();
    drop(s);
    let s = Store::open(&cfg, &Metrics::new()).await.unwrap();
    assert_eq!(s.jobs().await.unwrap(), vec![j.clone()]);
    let taken = s
        .take_over(vec!["a".into(), "b".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(taken, ["a", "b"], "c is done");
    assert_eq!(s.claim("a").await.unwrap(), Claim::InProgress);
    assert_eq!(s.claim("c").await.unwrap(), Claim::Done);
    s.forget_job(&j.id).await.unwrap();
    assert!(s.jobs().await.unwrap().is_empty());
}

/// Redis: a job is listed until forgotten, and taking over claims keys a
/// dead worker still holds as pending, never a done one.
#[tokio::test]
async fn redis_jobs_and_take_over() {
    let cfg = IdempotencyConfig {
        store: StoreKind::Redis,
        path: PathBuf::new(),
        redis_url: Some("redis://127.0.0.1:6379".into()),
        ttl_s: 172_800,
        max_bytes: 256 << 20,
    };
    let dead = Store::open(&cfg, &Metrics::new()).await.unwrap();
    let s = Store::open(&cfg, &Metrics::new()).await.unwrap();
    let tag = format!("unit-job-{}-{}", std::process::id(), now_ms());
    let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
    assert_eq!(dead.claim(&a).await.unwrap(), Claim::Acquired);
    assert_eq!(dead.claim(&b).await.unwrap(), Claim::Acquired);
    dead.done(vec![b.clone()]).await.unwrap();
    let j = job(&format!("750{tag}"), &[&a, &b]);
    dead.record_job(&j).await.unwrap();
    assert!(s.jobs().await.unwrap().contains(&j));
    assert_eq!(s.claim(&a).await.unwrap(), Claim::InProgress);
    let taken = s.take_over(vec![a.clone(), b.clone()]).await.unwrap();
    assert_eq!(taken, std::slice::from_ref(&a));
    assert_eq!(s.claim(&b).await.unwrap(), Claim::Done);
    s.forget_job(&j.id).await.unwrap();
    assert!(!s.jobs().await.unwrap().contains(&j));
    s.release(vec![a, b]).await.unwrap();
}
