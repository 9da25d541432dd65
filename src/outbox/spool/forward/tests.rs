//! The forwarder against a fake broker: which outcomes count against an
//! entry, per-entry settling of mixed rounds, the loop's waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;
use crate::outbox::spool::tests::{config, message, open_memory};

/// Answers by routing key: `bad.*` nacked, `down.*` timed out, else acked.
struct Fake {
    status: watch::Sender<Status>,
    status_calls: AtomicUsize,
    /// `(when, message ids)` of each publish_each call.
    calls: Mutex<Vec<(Instant, Vec<String>)>>,
}

impl Fake {
    fn connected() -> Arc<Fake> {
        Arc::new(Fake {
            status: watch::Sender::new(Status::Connected),
            status_calls: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(Instant, Vec<String>)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Sink for Arc<Fake> {
    fn status(&self) -> Status {
        self.status_calls.fetch_add(1, Ordering::SeqCst);
        *self.status.borrow()
    }
    fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }
    fn confirm_timeout(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn publish_each(
        &self,
        messages: &[Message],
        _timeout: Duration,
    ) -> impl Future<Output = Vec<Result<(), broker::Error>>> + Send {
        let ids = messages.iter().map(|m| m.message_id.clone()).collect();
        self.calls.lock().unwrap().push((Instant::now(), ids));
        let outcomes = messages
            .iter()
            .map(|m| match m.routing_key.split('.').next() {
                Some("bad") => Err(broker::Error::Nack),
                Some("down") => Err(broker::Error::Timeout),
                _ => Ok(()),
            })
            .collect();
        std::future::ready(outcomes)
    }
}

#[test]
fn only_refusals_count_against_an_entry() {
    use broker::Error as E;
    assert!(entry_fault(&E::Nack));
    assert!(entry_fault(&E::Returned("NO_ROUTE".into())));
    for e in [E::NotConnected, E::Blocked, E::Timeout] {
        assert!(!entry_fault(&e), "{e:?}");
    }
    let lapin = lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
        lapin::ChannelState::Closed,
        "test",
    ));
    assert!(!entry_fault(&E::Channel(lapin)));
}

#[test]
fn sort_splits_outcomes_by_entry() {
    use broker::Error as E;
    let outcomes = [
        Ok(()),
        Err(E::Timeout),
        Err(E::Nack),
        Ok(()),
        Err(E::Returned("NO_ROUTE".into())),
        Err(E::NotConnected),
    ];
    let s = sort(&outcomes, 7);
    assert_eq!(s.confirmed, vec![0, 3]);
    let refused: Vec<usize> = s.refused.iter().map(|(i, _)| *i).collect();
    assert_eq!(refused, vec![2, 4]);
    assert_eq!(
        s.held, 3,
        "timeout, not connected, and one without an outcome"
    );
    assert!(matches!(s.first_error, Some(E::Timeout)));

    let s = sort(&outcomes, 2);
    assert_eq!((s.confirmed.len(), s.refused.len(), s.held), (1, 0, 1));
    let s = sort(&[], 0);
    assert!(s.first_error.is_none() && s.confirmed.is_empty());
}

#[tokio::test]
async fn mixed_round_deletes_exactly_the_confirmed_and_quarantines_the_refused() {
    let (spool, metrics, _) = open_memory(&config(2));
    let batch = [
        message("g1", "github.push"),
        message("b1", "bad.key"),
        message("g2", "github.push"),
        message("b2", "bad.key"),
        message("g3", "github.push"),
    ];
    spool.write(&batch).await.unwrap();
    let fake = Fake::connected();

    let r = round(&spool, &fake, &Tracer::disabled()).await.unwrap();
    assert_eq!((r.published, r.forwarded, r.refused), (5, 3, 2));
    assert_eq!((r.quarantined, r.held), (0, 0));
    assert!(matches!(r.error, Some(broker::Error::Nack)));
    assert_eq!(spool.status().messages, 2);

    let r = round(&spool, &fake, &Tracer::disabled()).await.unwrap();
    assert_eq!((r.published, r.forwarded, r.quarantined), (2, 0, 2));
    let s = spool.status();
    assert_eq!((s.messages, s.quarantined), (0, 2));
    let ids: Vec<String> = spool
        .quarantined()
        .unwrap()
        .into_iter()
        .map(|q| q.message_id)
        .collect();
    assert_eq!(ids, ["b1", "b2"]);
    assert_eq!(metrics.spool_quarantined.get(), 2);
    assert_eq!(
        round(&spool, &fake, &Tracer::disabled())
            .await
            .unwrap()
            .published,
        0
    );
}

#[tokio::test]
async fn connection_failures_do_not_count_against_entries() {
    let (spool, _, _) = open_memory(&config(1));
    let batch = [message("d1", "down.x"), message("g1", "github.push")];
    spool.write(&batch).await.unwrap();
    let fake = Fake::connected();
    for _ in 0..5 {
        let r = round(&spool, &fake, &Tracer::disabled()).await.unwrap();
        assert_eq!((r.refused, r.quarantined, r.held), (0, 0, 1));
    }
    let s = spool.status();
    assert_eq!((s.messages, s.quarantined), (1, 0), "g1 forwarded, d1 kept");
}

#[tokio::test]
async fn forwarder_waits_for_a_commit_instead_of_spinning() {
    let (spool, _, _) = open_memory(&config(5));
    // A write counted but not committed: the writer thread waits for the
    // database lock this test holds.
    let lock = spool.db().unwrap().begin_write().unwrap();
    let writer = spool.clone();
    let write = tokio::spawn(async move { writer.write(&[message("g1", "github.push")]).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while spool.status().messages == 0 {
        assert!(Instant::now() < deadline, "write not counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fake = Fake::connected();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(forward(
        spool.clone(),
        fake.clone(),
        Tracer::disabled(),
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let looks = fake.status_calls.load(Ordering::SeqCst);
    assert!(
        looks <= 3,
        "{looks} rounds in 500 ms while nothing was committed"
    );
    assert!(fake.calls().is_empty());

    drop(lock);
    write.await.unwrap().unwrap();
    let started = Instant::now();
    while spool.status().messages > 0 {
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "not woken by the commit"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(true);
    task.await.unwrap();
    assert_eq!(fake.calls().len(), 1);
}

#[tokio::test]
async fn forwarder_backs_off_after_refusals_and_drains_the_rest() {
    let (spool, _, _) = open_memory(&config(2));
    spool.write(&[message("b1", "bad.key")]).await.unwrap();
    let fake = Fake::connected();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(forward(
        spool.clone(),
        fake.clone(),
        Tracer::disabled(),
        stop_rx,
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while spool.status().quarantined == 0 {
        assert!(Instant::now() < deadline, "not quarantined");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    spool.write(&[message("g1", "github.push")]).await.unwrap();
    while spool.status().messages > 0 {
        assert!(
            Instant::now() < deadline,
            "the good entry was not forwarded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(true);
    task.await.unwrap();
    let calls = fake.calls();
    let ids: Vec<&[String]> = calls.iter().map(|(_, ids)| ids.as_slice()).collect();
    assert_eq!(
        ids,
        [&["b1"][..], &["b1"], &["g1"]],
        "b1 tried twice, then left alone"
    );
    let pause = calls[1].0 - calls[0].0;
    assert!(pause >= BACKOFF_MIN, "retried after {pause:?}");
}
