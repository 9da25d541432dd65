use super::*;
use std::time::Instant;

fn config(dir: &tempfile::TempDir) -> DedupeConfig {
    DedupeConfig {
        enabled: true,
        path: dir.path().join("seen.redb"),
        redis_url: None,
        max_bytes: 256 << 20,
    }
}

/// Rows in (seen, seen_expiry), read from the file.
fn rows(cache: &Cache) -> (u64, u64) {
    let Cache::Embedded(e) = cache else {
        panic!("embedded")
    };
    let txn = e.db.get().unwrap().begin_read().unwrap();
    let seen = txn.open_table(SEEN).unwrap().len().unwrap();
    let expiry = txn.open_table(EXPIRY).unwrap().len().unwrap();
    (seen, expiry)
}

#[tokio::test]
async fn embedded_records_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir), Arc::new(Metrics::new()))
        .await
        .unwrap();
    assert!(!cache.seen("r|a").await.unwrap());
    cache
        .record(vec!["r|a".into()], Duration::from_secs(60))
        .await
        .unwrap();
    cache
        .record(vec!["r|b".into()], Duration::from_millis(1))
        .await
        .unwrap();
    // Recorded means seen at once, before the commit.
    assert!(cache.seen("r|a").await.unwrap());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(!cache.seen("r|b").await.unwrap(), "expired");
    assert_eq!(
        cache.seen_all(&["r|a", "r|b", "r|c"]).await.unwrap(),
        [true, false, false]
    );
}

#[tokio::test]
async fn committed_marks_are_found_in_the_file_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir), Arc::new(Metrics::new()))
        .await
        .unwrap();
    let keys: Vec<String> = (0..500).map(|i| format!("r|{i}")).collect();
    cache
        .record(keys.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    cache.sync().await.unwrap();
    let Cache::Embedded(e) = &cache else {
        panic!("embedded")
    };
    {
        let p = e.pending.lock().unwrap();
        assert!(
            p.seen.is_empty() && p.queue.is_empty(),
            "committed keys leave the pending set"
        );
    }
    assert_eq!(rows(&cache), (500, 500));
    assert!(cache.seen_all(&keys).await.unwrap().iter().all(|&s| s));

    cache.close().await.unwrap();
    drop(cache);
    let cache = Cache::open(&config(&dir), Arc::new(Metrics::new()))
        .await
        .unwrap();
    assert!(cache.seen("r|0").await.unwrap() && cache.seen("r|499").await.unwrap());
    assert!(!cache.seen("r|500").await.unwrap());
}

#[tokio::test]
async fn expired_keys_are_removed_from_both_tables_and_a_later_record_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir), Arc::new(Metrics::new()))
        .await
        .unwrap();
    let short: Vec<String> = (0..100).map(|i| format!("r|s{i}")).collect();
    cache.record(short, Duration::from_millis(1)).await.unwrap();
    cache
        .record(vec!["r|long".into()], Duration::from_secs(60))
        .await
        .unwrap();
    // Recorded again with a later expiry: the first expiry must not remove it.
    cache
        .record(vec!["r|s0".into()], Duration::from_millis(1))
        .await
        .unwrap();
    cache.sync().await.unwrap();
    cache
        .record(vec!["r|s0".into()], Duration::from_secs(60))
        .await
        .unwrap();
    cache.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The next commit removes what expired.
    cache
        .record(vec!["r|new".into()], Duration::from_secs(60))
        .await
        .unwrap();
    cache.sync().await.unwrap();
    assert_eq!(rows(&cache), (3, 3), "r|s0, r|long, r|new");
    assert_eq!(
        cache
            .seen_all(&["r|s0", "r|s1", "r|long", "r|new"])
            .await
            .unwrap(),
        [true, false, true, true]
    );
}

#[tokio::test]
async fn a_dead_writer_leaves_the_pending_set_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir), Arc::new(Metrics::new()))
        .await
        .unwrap();
    cache
        .record(vec!["r|before".into()], Duration::from_secs(60))
        .await
        .unwrap();
    let Cache::Embedded(e) = &cache else {
        panic!("embedded")
    };
    assert!(cache.ready());
    e.writer.send(Cmd::Panic).unwrap();
    // Dead once it no longer answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.sync().await.is_ok() || cache.ready() {
        assert!(Instant::now() < deadline, "the writer did not die");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut refused = 0;
    for i in 0..10_000 {
        if cache
            .record(vec![format!("r|{i}")], Duration::from_secs(60))
            .await
            .is_err()
        {
            refused += 1;
        }
    }
    {
        let p = e.pending.lock().unwrap();
        assert_eq!(
            (p.seen.len(), p.queue.len()),
            (0, 0),
            "pending set with a dead writer"
        );
    }
    assert_eq!(refused, 10_000, "records refused once the writer is dead");
    // Lookups still answer, from the file.
    assert!(!cache.seen("r|1").await.unwrap());
}

/// The size of the cache's file.
fn file_len(cfg: &DedupeConfig) -> u64 {
    std::fs::metadata(&cfg.path).unwrap().len()
}

#[tokio::test]
async fn the_file_stays_within_max_bytes_forgetting_the_earliest_expiry_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DedupeConfig {
        max_bytes: 4 << 20,
        ..config(&dir)
    };
    let metrics = Arc::new(Metrics::new());
    let cache = Cache::open(&cfg, metrics.clone()).await.unwrap();
    let key = |round: u64, i: u64| format!("github|{round:03}-{i:04}-{}", "d".repeat(40));
    let mut largest = 0;
    let rounds = 60;
    for round in 0..rounds {
        let keys = (0..1000).map(|i| key(round, i)).collect();
        // Later rounds expire later: the first rounds go first.
        let ttl = Duration::from_secs(3600 + round);
        cache.record(keys, ttl).await.unwrap();
        cache.sync().await.unwrap();
        largest = largest.max(file_len(&cfg));
    }
    // One commit's worth over: its marks and the pages copied on the way.
    let slack = 1 << 20;
    assert!(
        largest <= cfg.max_bytes + slack,
        "file grew to {largest} bytes, max_bytes {}",
        cfg.max_bytes
    );
    assert!(metrics.replay_cache_evicted.get() > 0);
    let last = rounds - 1;
    assert!(
        cache.seen(&key(last, 999)).await.unwrap(),
        "the newest kept"
    );
    assert!(cache.seen(&key(last, 0)).await.unwrap());
    assert!(
        !cache.seen(&key(0, 0)).await.unwrap(),
        "the earliest forgotten"
    );
    cache.close().await.unwrap();
}

#[tokio::test]
async fn the_cache_reopens_its_file_after_an_io_error_and_never_fails_a_request() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir);
    let fail = Arc::new(AtomicBool::new(false));
    let open = crate::store::testing::flaky_file(cfg.path.clone(), fail.clone());
    let metrics = Arc::new(Metrics::new());
    let cache = Cache::open_embedded(open, &cfg, metrics.clone())
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    cache.record(vec!["r|a".into()], ttl).await.unwrap();
    cache.sync().await.unwrap();

    fail.store(true, Ordering::SeqCst);
    cache.record(vec!["r|b".into()], ttl).await.unwrap();
    assert!(cache.sync().await.is_err(), "the commit failed");
    // Not ready from the failure on, and not while the disk still fails
    // (a reopen proves it can commit before it counts as recovered).
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.ready() {
        assert!(
            Instant::now() < deadline,
            "still ready after a failed commit"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!cache.ready(), "recovered while writes still fail");
    assert_eq!(metrics.replay_cache_healthy.get(), 0);
    // Fail open: the request is processed as new.
    assert!(!cache.seen("r|a").await.unwrap_or(false));
    assert!(cache.record(vec!["r|c".into()], ttl).await.is_err());

    fail.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.ready() {
        assert!(Instant::now() < deadline, "the cache did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.replay_cache_healthy.get(), 1);
    cache.record(vec!["r|d".into()], ttl).await.unwrap();
    cache.sync().await.unwrap();
    assert_eq!(
        cache.seen_all(&["r|a", "r|b", "r|c", "r|d"]).await.unwrap(),
        [true, false, false, true]
    );
    cache.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_key_is_found_while_the_writer_commits_it() {
    // Lookups read the writer's snapshot of the file; the writer replaces it
    // after each commit and only then drops the committed keys from the
    // pending set. Keys are recorded and looked up again, from two tasks,
    // across ~15 commits: each lookup must find each key recorded before it.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir), Arc::new(Metrics::new()))
        .await
        .unwrap();
    let recorded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let until = Instant::now() + TICK * 15;
    let looker = {
        let (cache, recorded) = (cache.clone(), recorded.clone());
        tokio::spawn(async move {
            let mut lookups = 0u64;
            let mut round = 0;
            while Instant::now() < until {
                let n = recorded.load(Ordering::Acquire);
                // 64 keys spread over all recorded so far, shifting each
                // round: the writer's last group is among them.
                round += 1;
                let keys: Vec<String> = (0..64)
                    .take(n)
                    .map(|i| format!("r|{}", (i * n / 64 + round) % n))
                    .collect();
                let found = cache
                    .claim_all(&keys, Duration::from_secs(5))
                    .await
                    .unwrap();
                for (k, c) in keys.iter().zip(found) {
                    assert_eq!(c, Claim::Seen, "{k} was recorded before this lookup");
                }
                lookups += keys.len() as u64;
                tokio::task::yield_now().await;
            }
            lookups
        })
    };
    let mut n = 0;
    while Instant::now() < until {
        cache
            .record(vec![format!("r|{n}")], Duration::from_secs(60))
            .await
            .unwrap();
        n += 1;
        recorded.store(n, Ordering::Release);
        tokio::task::yield_now().await;
    }
    let lookups = looker.await.unwrap();
    assert!(lookups > 1000, "only {lookups} lookups");
    let Cache::Embedded(e) = &cache else {
        panic!("embedded")
    };
    let pending = e.pending.lock().unwrap().seen.len();
    assert!(
        pending < n,
        "{n} recorded, {pending} still pending: the writer committed none"
    );
}
