use super::*;

fn config(dir: &tempfile::TempDir) -> DedupeConfig {
    DedupeConfig {
        enabled: true,
        path: dir.path().join("seen.redb"),
        redis_url: None,
    }
}

/// Rows in (seen, seen_expiry), read from the file.
fn rows(cache: &Cache) -> (u64, u64) {
    let Cache::Embedded(e) = cache else {
        panic!("embedded")
    };
    let txn = e.db.begin_read().unwrap();
    let seen = txn.open_table(SEEN).unwrap().len().unwrap();
    let expiry = txn.open_table(EXPIRY).unwrap().len().unwrap();
    (seen, expiry)
}

#[tokio::test]
async fn embedded_records_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir)).await.unwrap();
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
    let cache = Cache::open(&config(&dir)).await.unwrap();
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
    let cache = Cache::open(&config(&dir)).await.unwrap();
    assert!(cache.seen("r|0").await.unwrap() && cache.seen("r|499").await.unwrap());
    assert!(!cache.seen("r|500").await.unwrap());
}

#[tokio::test]
async fn expired_keys_are_removed_from_both_tables_and_a_later_record_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&config(&dir)).await.unwrap();
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
    let cache = Cache::open(&config(&dir)).await.unwrap();
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
