//! The store: settling rounds, the quarantine, capacity, and writes whose
//! request future is dropped. On redb's in-memory backend (wrapped to fail
//! on demand) or a temporary file; no broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::Database;

use super::*;
use crate::config::SpoolConfig;
use crate::store::testing::{flaky_file, Flaky, Memory};
use crate::store::Open;
use crate::telemetry::metrics::Metrics;

mod trace;

/// A message with a 10-byte body; `id`s of one length give equal sizes.
pub(super) fn message(id: &str, routing_key: &str) -> Message {
    Message {
        routing_key: routing_key.into(),
        message_id: id.into(),
        content_type: "application/json".into(),
        kind: routing_key.into(),
        received_at: time::OffsetDateTime::UNIX_EPOCH,
        headers: vec![(Cow::Borrowed("x-hookgate-route"), "test".into())],
        body: bytes::Bytes::from_static(b"{\"n\": 1}\r\n"),
    }
}

pub(super) fn config(quarantine_after: u64) -> SpoolConfig {
    SpoolConfig {
        path: PathBuf::from("memory"),
        quarantine_after,
        ..SpoolConfig::default()
    }
}

/// A spool on a real file in `dir` through [`flaky_file`]; returns its
/// failure switch.
pub(super) fn open_flaky_file(
    dir: &tempfile::TempDir,
    quarantine_after: u64,
) -> (Spool, Arc<Metrics>, Arc<AtomicBool>) {
    let config = SpoolConfig {
        path: dir.path().join("spool.redb"),
        ..config(quarantine_after)
    };
    let fail = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::new());
    let open = flaky_file(config.path.clone(), fail.clone());
    let spool = Spool::open_with(open, &config, metrics.clone()).expect("spool");
    (spool, metrics, fail)
}

/// A spool on a [`Flaky`] in-memory database; returns its failure switch.
pub(super) fn open_memory(config: &SpoolConfig) -> (Spool, Arc<Metrics>, Arc<AtomicBool>) {
    let memory = Memory::default();
    let fail = Arc::new(AtomicBool::new(false));
    let switch = fail.clone();
    let open: Open = Arc::new(move || {
        Database::builder().create_with_backend(Flaky {
            inner: memory.clone(),
            fail: switch.clone(),
        })
    });
    let metrics = Arc::new(Metrics::new());
    let spool = Spool::open_with(open, config, metrics.clone()).expect("spool");
    (spool, metrics, fail)
}

/// The keys of the oldest entries.
async fn keys(spool: &Spool) -> Vec<Key> {
    let oldest = spool.oldest(BATCH).await.expect("oldest");
    oldest.into_iter().map(|(k, _)| k).collect()
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn settle_deletes_confirmed_and_quarantines_at_the_limit() {
    let (spool, metrics, _) = open_memory(&config(3));
    let batch = ["a", "b", "c"].map(|id| message(id, "github.push"));
    spool.write(&batch).await.unwrap();
    let [a, b, c] = keys(&spool).await[..] else {
        panic!("three entries")
    };
    let one = spool.status().bytes / 3;

    let m = spool.settle(vec![a], vec![(b, "e1".into())]).await.unwrap();
    assert_eq!((m.forwarded, m.quarantined), (1, 0));
    spool.settle(vec![], vec![(b, "e2".into())]).await.unwrap();
    assert_eq!(spool.status().messages, 2, "two failures: still spooled");
    let m = spool.settle(vec![c], vec![(b, "e3".into())]).await.unwrap();
    assert_eq!((m.forwarded, m.quarantined), (1, 1));

    let s = spool.status();
    assert_eq!((s.messages, s.bytes), (0, 0));
    assert_eq!((s.quarantined, s.quarantined_bytes), (1, one));
    assert!(
        keys(&spool).await.is_empty(),
        "the forwarder no longer sees it"
    );
    let q = spool.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].key, q[0].attempts, q[0].size), (b, 3, one));
    assert_eq!(q[0].message_id, "b");
    assert_eq!(q[0].routing_key, "github.push");
    assert_eq!(q[0].last_error, "e3");
    assert_eq!(metrics.spool_quarantined.get(), 1);
    assert_eq!(metrics.spool_quarantined_entries.get(), 1);
    assert_eq!(metrics.spool_forwarded.get(), 2);
    assert_eq!(metrics.spool_messages.get(), 0);
}

#[tokio::test]
async fn attempts_and_quarantine_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig {
        path: dir.path().join("spool.redb"),
        quarantine_after: 2,
        ..SpoolConfig::default()
    };
    let open = || async {
        // The previous writer thread lets go of the file shortly after close.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match Spool::open(&config, Arc::new(Metrics::new())) {
                Ok(s) => return s,
                Err(Error::Locked(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    let spool = open().await;
    spool
        .write(&[message("a", "x.y"), message("b", "x.y")])
        .await
        .unwrap();
    let [a, _] = keys(&spool).await[..] else {
        panic!("two entries")
    };
    spool
        .settle(vec![], vec![(a, "nack".into())])
        .await
        .unwrap();
    spool.close();
    drop(spool);

    let spool = open().await;
    let m = spool
        .settle(vec![], vec![(a, "nack".into())])
        .await
        .unwrap();
    assert_eq!(m.quarantined, 1, "the first attempt was remembered");
    spool.close();
    drop(spool);

    let spool = open().await;
    let s = spool.status();
    assert_eq!((s.messages, s.quarantined), (1, 1));
    spool.write(&[message("c", "x.y")]).await.unwrap();
    let mut all = keys(&spool).await;
    all.extend(spool.quarantined().unwrap().iter().map(|q| q.key));
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 3, "a new entry's key is not a quarantined one's");
    spool.close();
}

#[tokio::test]
async fn requeue_resets_attempts_and_purge_deletes() {
    let (spool, metrics, _) = open_memory(&config(2));
    let batch = ["a", "b", "c"].map(|id| message(id, "x.y"));
    spool.write(&batch).await.unwrap();
    let all = keys(&spool).await;
    for _ in 0..2 {
        let failed = all.iter().map(|k| (*k, "nack".to_string())).collect();
        spool.settle(vec![], failed).await.unwrap();
    }
    assert_eq!(spool.status().quarantined, 3);

    let unknown = (1, 1);
    let e = spool.requeue(Selection::Keys(vec![all[0], unknown])).await;
    assert!(
        matches!(e, Err(Error::NotQuarantined(ref k)) if k == "1-1"),
        "{e:?}"
    );
    assert_eq!(spool.status().quarantined, 3, "nothing moved");

    assert_eq!(
        spool.requeue(Selection::Keys(vec![all[0]])).await.unwrap(),
        1
    );
    let s = spool.status();
    assert_eq!((s.messages, s.quarantined), (1, 2));
    assert_eq!(keys(&spool).await, vec![all[0]], "back with its own key");
    let m = spool
        .settle(vec![], vec![(all[0], "nack".into())])
        .await
        .unwrap();
    assert_eq!(m.quarantined, 0, "attempts start again from zero");

    assert!(matches!(
        spool.purge(Selection::Keys(vec![unknown])).await,
        Err(Error::NotQuarantined(_))
    ));
    assert_eq!(spool.purge(Selection::All).await.unwrap(), 2);
    let s = spool.status();
    assert_eq!((s.messages, s.quarantined, s.quarantined_bytes), (1, 0, 0));
    assert_eq!(metrics.spool_quarantined.get(), 0);
    assert_eq!(metrics.spool_messages.get(), 1);
}

#[tokio::test]
async fn quarantine_counts_toward_max_bytes_not_max_messages() {
    let (probe, _, _) = open_memory(&config(1));
    probe.write(&[message("a", "x.y")]).await.unwrap();
    let one = probe.status().bytes;
    let (spool, _, _) = open_memory(&SpoolConfig {
        max_messages: 2,
        max_bytes: 3 * one,
        ..config(1)
    });
    spool
        .write(&[message("a", "x.y"), message("b", "x.y")])
        .await
        .unwrap();
    assert!(matches!(
        spool.write(&[message("c", "x.y")]).await,
        Err(Error::Full)
    ));
    let failed = keys(&spool)
        .await
        .into_iter()
        .map(|k| (k, "nack".into()))
        .collect();
    spool.settle(vec![], failed).await.unwrap();
    assert_eq!(spool.status().quarantined, 2);
    spool.write(&[message("c", "x.y")]).await.unwrap();
    assert!(matches!(
        spool.write(&[message("d", "x.y")]).await,
        Err(Error::Full)
    ));
    assert!(!spool.can_accept());
}

#[test]
fn keys_as_text() {
    assert_eq!(format_key((1_732_280_000_123, 42)), "1732280000123-42");
    assert_eq!(
        parse_key("1732280000123-42").unwrap(),
        (1_732_280_000_123, 42)
    );
    for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "1 -2"] {
        assert!(matches!(parse_key(bad), Err(Error::Key(_))), "{bad}");
    }
}

/// Holds the database's write lock, so the writer thread waits in
/// `begin_write` with the request it took; returns once `spool.write` has
/// counted its capacity and the future is dropped.
async fn cancel_a_queued_write(spool: &Spool) -> redb::WriteTransaction {
    let lock = spool.db().unwrap().begin_write().unwrap();
    let s = spool.clone();
    let task = tokio::spawn(async move { s.write(&[message("a", "x.y")]).await });
    wait_until("the write to be counted", || spool.status().messages == 1).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    lock
}

#[tokio::test]
async fn dropped_write_whose_commit_fails_releases_its_capacity() {
    let (spool, metrics, fail) = open_memory(&config(5));
    let lock = cancel_a_queued_write(&spool).await;
    fail.store(true, Ordering::SeqCst);
    drop(lock);
    wait_until("the capacity to be released", || {
        spool.status().messages == 0
    })
    .await;
    assert_eq!(spool.status().bytes, 0);
    assert_eq!(metrics.spool_messages.get(), 0);
    assert_eq!(metrics.spool_writes.get(), 0);
}

#[tokio::test]
async fn dropped_write_that_commits_is_counted_and_forwardable() {
    let (spool, metrics, _) = open_memory(&config(5));
    let lock = cancel_a_queued_write(&spool).await;
    drop(lock);
    wait_until("the commit", || metrics.spool_writes.get() == 1).await;
    assert_eq!(spool.status().messages, 1);
    assert_eq!(keys(&spool).await.len(), 1);
}

/// The message ids of the oldest entries (what the forwarder reads).
async fn ids(spool: &Spool) -> Vec<String> {
    let oldest = spool.oldest(BATCH).await.expect("oldest");
    oldest.into_iter().map(|(_, m)| m.message_id).collect()
}

/// Writes `id` until it is accepted (the spool recovered) or 10 s passed.
async fn write_until_accepted(spool: &Spool, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match spool.write(&[message(id, "x.y")]).await {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "not yet");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the spool did not recover: {e}"),
        }
    }
}

#[tokio::test]
async fn the_spool_reopens_its_file_after_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _, fail) = open_flaky_file(&dir, 5);
    spool.write(&[message("a", "x.y")]).await.unwrap();

    fail.store(true, Ordering::SeqCst);
    let e = spool.write(&[message("b", "x.y")]).await;
    assert!(e.is_err(), "a failed commit is an error (503): {e:?}");
    fail.store(false, Ordering::SeqCst);

    write_until_accepted(&spool, "c").await;
    assert_eq!(ids(&spool).await, ["a", "c"], "b was never acked");
    assert_eq!(spool.status().messages, 2);
    let [a, c] = keys(&spool).await[..] else {
        panic!("two entries")
    };
    let m = spool.settle(vec![a, c], vec![]).await.unwrap();
    assert_eq!(m.forwarded, 2, "the forwarder deletes on the reopened file");
    spool.write(&[message("d", "x.y")]).await.unwrap();
    spool.close();
    drop(spool);

    let config = SpoolConfig {
        path: dir.path().join("spool.redb"),
        ..config(5)
    };
    let spool = Spool::open(&config, Arc::new(Metrics::new())).unwrap();
    assert_eq!(ids(&spool).await, ["d"]);
    spool.close();
}

/// A publisher that never connects (nothing listens on port 1).
fn disconnected_publisher(metrics: Arc<Metrics>) -> crate::broker::Publisher {
    let config: crate::config::AmqpConfig =
        toml::from_str(r#"url = "amqp://guest:guest@127.0.0.1:1/%2f""#).unwrap();
    let (_, stop) = tokio::sync::watch::channel(true);
    crate::broker::Publisher::start(config, metrics, stop)
}

#[tokio::test]
async fn not_ready_while_the_spool_file_is_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, metrics, fail) = open_flaky_file(&dir, 5);
    let outbox = crate::outbox::Outbox::new(
        disconnected_publisher(metrics.clone()),
        Some(spool.clone()),
        Duration::from_millis(10),
    );
    assert!(outbox.ready(), "broker down, spool has room");
    assert_eq!(metrics.spool_healthy.get(), 1);

    fail.store(true, Ordering::SeqCst);
    let e = outbox
        .store(
            &[message("b", "x.y")],
            &crate::telemetry::trace::Context::new(),
        )
        .await;
    assert!(e.is_err(), "{e:?}");
    assert!(!spool.can_accept(), "a failed file cannot take writes");
    assert!(!outbox.ready(), "/readyz answers 503 with the broker down");
    assert_eq!(metrics.spool_healthy.get(), 0);
    // Readers get an error once the writer took the file out to reopen it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while spool.oldest(BATCH).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "readers still served a failed file"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e = spool.write(&[message("c", "x.y")]).await;
    assert!(
        matches!(e, Err(Error::Recovering)),
        "refused at once: {e:?}"
    );

    fail.store(false, Ordering::SeqCst);
    wait_until("the spool to recover", || outbox.ready()).await;
    assert_eq!(metrics.spool_healthy.get(), 1);
    spool.write(&[message("c", "x.y")]).await.unwrap();
    assert_eq!(ids(&spool).await, ["c"]);
    spool.close();
}

/// A message with a body of `len` bytes.
fn sized(id: &str, len: usize) -> Message {
    Message {
        body: bytes::Bytes::from(vec![b'x'; len]),
        ..message(id, "x.y")
    }
}

#[tokio::test]
async fn max_bytes_counts_the_file_not_only_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig {
        path: dir.path().join("spool.redb"),
        max_bytes: 2 << 20,
        max_messages: 1_000_000,
        ..config(5)
    };
    let spool = Spool::open(&config, Arc::new(Metrics::new())).unwrap();
    let file = || std::fs::metadata(&config.path).unwrap().len();
    let body = 3000;
    let mut largest = 0;
    let mut full = None;
    for i in 0..2000 {
        match spool.write(&[sized(&format!("m{i:05}"), body)]).await {
            Ok(()) => largest = largest.max(file()),
            Err(Error::Full) => {
                full = Some(i);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let full = full.expect("writes were refused");
    assert!(full > 0);
    // One commit's worth: the entry, and the pages copied on its way.
    let commit = 64 * 1024;
    assert!(
        largest <= config.max_bytes + commit,
        "file grew to {largest} bytes, max_bytes {}",
        config.max_bytes
    );
    assert!(
        spool.status().bytes < config.max_bytes,
        "refused before the entries alone reached max_bytes"
    );
    assert!(!spool.can_accept());

    // Drained: the file gives its space back and takes writes again.
    let all = keys(&spool).await;
    assert!(all.len() < BATCH);
    spool.settle(all, vec![]).await.unwrap();
    wait_until("the drained file to take writes", || spool.can_accept()).await;
    assert!(file() < config.max_bytes / 2, "compacted: {} bytes", file());
    spool.write(&[sized("again", body)]).await.unwrap();
    spool.close();
}
