//! Several gateways behind one address (docs/reliability.md, "Several
//! gateways behind one address"): two `hookgate serve` processes listening on
//! the same 127.0.0.1 port with `server.reuse_port = true`, sharing the Redis
//! replay cache (`dedupe.redis_url`) and one exchange + queue on the
//! machine's RabbitMQ (`tests/it/support/fleet.rs`). Every request goes on a
//! new TCP connection, so the kernel spreads them over both; which process
//! answered is read from its own `/metrics` (the requests are sequential, so
//! exactly one counter moves). A delivery retried after its 2xx, on either
//! process, is answered 2xx and counted as a duplicate; after one process is
//! SIGKILLed, retries of what it had answered land on the survivor and are
//! not published again; the queue holds every delivery id exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::support::fleet::{
    self, delete_keys, drain, scan_keys, seen_pattern, Broker, Cleanup, Counts, Outcome, Pair,
};
use crate::support::{self, AMQP_URL};

/// First deliveries sent (more while one process has served fewer than
/// [`MIN_EACH`]).
const FIRST: usize = 40;
/// First deliveries each process must have served.
const MIN_EACH: usize = 5;
/// New deliveries sent after the kill.
const AFTER_KILL: usize = 10;
/// Longest time the whole exchange of requests may take.
const SEND_DEADLINE: Duration = Duration::from_secs(40);

/// Declares the exchange as the gateways do and a queue bound to it with `#`.
async fn bind_queue(ch: &Channel, exchange: &str, queue: &str) {
    support::declare_exchange(ch, exchange).await;
    ch.queue_declare(
        ShortString::from(queue),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue declare");
    ch.queue_bind(
        ShortString::from(queue),
        ShortString::from(exchange),
        ShortString::from("#"),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue bind");
}

/// Messages ready in `queue`.
async fn depth(ch: &Channel, queue: &str) -> u32 {
    ch.queue_declare(
        ShortString::from(queue),
        QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("passive queue declare")
    .message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_port_publish_each_delivery_once() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let id = support::unique();
    let exchange = format!("hookgate.test.fleet.{id}");
    let queue = format!("{exchange}.q");
    let route = format!("fleet_{}", id.replace('-', "_"));
    let cleanup = Cleanup {
        amqp_url: Some(AMQP_URL.to_string()),
        exchange: exchange.clone(),
        queue: queue.clone(),
        route: route.clone(),
    };
    let amqp = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("test broker connection");
    let ch = amqp.create_channel().await.expect("channel");
    bind_queue(&ch, &exchange, &queue).await;
    let urls = [AMQP_URL.to_string()];
    let broker = Broker {
        urls: &urls,
        exchange: &exchange,
        queues_toml: "",
        spool_after_ms: None,
    };
    let Pair {
        mut a,
        mut b,
        mut sender,
    } = fleet::start(dir.path(), &route, &broker).await;
    let port = a.addr.port();
    let started = t0.elapsed();

    let deadline = Instant::now() + SEND_DEADLINE;
    let prefix = format!("fleet-{id}");

    // 1. New deliveries, on new connections, until both served some.
    let mut last = [Counts::default(); 2];
    let mut first: Vec<(String, usize)> = Vec::new();
    let mut served = [0usize; 2];
    while first.len() < FIRST || served.iter().any(|&n| n < MIN_EACH) {
        assert!(
            Instant::now() < deadline,
            "the kernel did not spread {} connections over both: {served:?}",
            first.len()
        );
        let delivery = format!("{prefix}-{}", first.len());
        let (who, how) = sender.send(&delivery, &[&a, &b], &mut last).await;
        assert_eq!(
            how,
            Outcome::Accepted,
            "{delivery}: a new delivery is published"
        );
        served[who] += 1;
        first.push((delivery, who));
    }

    // 2. The sender's retry of each, on a new connection: 2xx, a duplicate
    // for whichever process got it, even when the other one published it.
    let mut retried = [0usize; 2];
    let mut crossed = 0;
    for (delivery, publisher) in &first {
        let (who, how) = sender.send(delivery, &[&a, &b], &mut last).await;
        assert_eq!(
            how,
            Outcome::Duplicate,
            "{delivery}: a retry is a duplicate"
        );
        retried[who] += 1;
        crossed += usize::from(who != *publisher);
    }

    // 3. SIGKILL process a (no request in flight): the kernel takes its
    // socket out of the port's group; every new connection goes to b.
    let a_spooled = a.metric("hookgate_spool_writes_total").await;
    let a_pid = a.pid();
    let status = a.sigkill();
    let of_a: Vec<&String> = first
        .iter()
        .filter(|(_, w)| *w == 0)
        .map(|(d, _)| d)
        .collect();
    let mut survivor = [last[1]];
    for delivery in &of_a {
        let (_, how) = sender.send(delivery, &[&b], &mut survivor).await;
        assert_eq!(
            how,
            Outcome::Duplicate,
            "{delivery}: published by the killed process, not again by the survivor"
        );
    }
    let mut after: Vec<String> = Vec::new();
    for i in 0..AFTER_KILL {
        let delivery = format!("{prefix}-after-{i}");
        let (_, how) = sender.send(&delivery, &[&b], &mut survivor).await;
        assert_eq!(how, Outcome::Accepted, "{delivery}: new after the kill");
        after.push(delivery);
    }
    let sent_in = t0.elapsed() - started;

    // Published by confirm, not spooled: nothing can still arrive later.
    let b_spooled = b.metric("hookgate_spool_writes_total").await;
    assert_eq!(
        (a_spooled, b_spooled),
        (0.0, 0.0),
        "every delivery confirmed, none spooled"
    );
    // 4. The queue holds every delivery id exactly once.
    let want: HashSet<String> = first
        .iter()
        .map(|(d, _)| d.clone())
        .chain(after.iter().cloned())
        .collect();
    let queued = depth(&ch, &queue).await;
    let ids = drain(&ch, &queue).await;
    let twice: Vec<_> = ids.iter().filter(|(_, c)| c.len() > 1).take(5).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    let missing: Vec<_> = want
        .iter()
        .filter(|d| !ids.contains_key(*d))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "never published: {missing:?}");
    assert_eq!(ids.len(), want.len(), "no other message in the queue");
    assert_eq!(queued as usize, want.len(), "queue depth before the drain");

    // 5. The shared cache holds one mark per delivery; the test's marks go.
    let pattern = seen_pattern(&route);
    let marks = scan_keys(&pattern).await.len();
    assert_eq!(marks, want.len(), "one replay-cache key per delivery id");
    let b_status = b.sigterm(Duration::from_secs(15)).await;
    assert!(
        b_status.success(),
        "survivor exits 0 on SIGTERM: {b_status}\n{}",
        b.log()
    );
    delete_keys(&pattern).await;
    assert!(
        scan_keys(&pattern).await.is_empty(),
        "the test's Redis keys are deleted"
    );
    let _ = ch
        .queue_delete(
            ShortString::from(queue.as_str()),
            QueueDeleteOptions::default(),
        )
        .await;
    let _ = amqp.close(200, ShortString::from("test done")).await;
    drop(cleanup);

    println!(
        "fleet: 2 processes on 127.0.0.1:{port} (SO_REUSEPORT), up in {started:?}; \
         {} first deliveries: a published {}, b published {}; their retries: a answered {}, \
         b answered {} ({crossed} on the other process than the first), all duplicates; \
         a (pid {a_pid}) SIGKILLed ({status}); {} retries of a's deliveries answered by b as \
         duplicates, {AFTER_KILL} new ones published by b; {} requests in {sent_in:?}; \
         queue: {queued} messages, {} distinct ids, each once; {marks} replay-cache keys",
        first.len(),
        served[0],
        served[1],
        retried[0],
        retried[1],
        of_a.len(),
        sender.sent,
        ids.len(),
    );
}
