//! Several gateways behind one address (docs/reliability.md, "Several
//! gateways behind one address"): two `hookgate serve` processes listening on
//! the same 127.0.0.1 port with `server.reuse_port = true`, sharing the Redis
//! replay cache (`dedupe.redis_url`) and the broker
//! (`tests/it/support/fleet.rs`). Every request goes on a new TCP connection,
//! so the kernel spreads them over both; which process answered is read from
//! its own `/metrics` (the requests are sequential, so exactly one counter
//! moves). A delivery retried after its 2xx, on either process, is answered
//! 2xx, counted as a duplicate and not published again:
//! - on the machine's RabbitMQ, also after one process is SIGKILLed (retries
//!   of what it had answered land on the survivor); the queue holds every
//!   delivery id exactly once;
//! - on a private 3-node cluster with a quorum queue, through the SIGKILL of
//!   the node one gateway is connected to (its spool answers until it has
//!   failed over); the queue holds every delivery id, none from a retry.
//!
//! Copies of one delivery sent at once (in flight together on both
//! processes, held by a stalled broker) are published once: the first
//! copy's claim in Redis makes the others wait and answer as duplicates.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::support::cluster::Cluster;
use crate::support::fleet::{
    self, delete_keys, drain, scan_keys, seen_pattern, Broker, Cleanup, Counts, Outcome, Pair,
    Sender,
};
use crate::support::gateway::GatewayProcess;
use crate::support::proxy::Proxy;
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

/// The gateways' connection name, as `rabbitmqctl list_connections` shows it.
const CONNECTION: &str = "hookgate gateway";
/// Cluster test: new deliveries before the node is killed (more while one
/// process has served fewer than [`MIN_EACH`]).
const BEFORE_KILL: usize = 20;
/// Cluster test: a delivery's retry is sent after this many newer
/// deliveries, so the retries of the last ones before the kill are sent
/// during the failover.
const RETRY_LAG: usize = 5;
/// Cluster test: new deliveries sent once the failover is over.
const AFTER_FAILOVER: usize = 10;
/// `spool.after_ms` on the cluster: no confirm within it and the request is
/// spooled (as in tests/it/cluster.rs).
const SPOOL_AFTER_MS: u64 = 500;
/// Cluster test: requests in flight when the node is killed (the sequential
/// sender's one delivery sent with the kill).
const IN_FLIGHT_AT_KILL: usize = 1;
/// Longest the gateways on the killed node may take to keep a connection to
/// another.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(15);
/// How long a new connection must last to count as the reconnection (a node
/// that has not noticed its peer's death yet nacks a streak and is left).
const SETTLE: Duration = Duration::from_secs(1);
/// Longest the whole cluster test may take, the cluster's boot and stop
/// included.
const CLUSTER_TEST_DEADLINE: Duration = Duration::from_secs(90);

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
    support::bind_all(ch, queue, exchange).await;
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

/// A test's names on the machine's RabbitMQ, its queue bound to its
/// exchange, and a connection to read the queue.
struct OnTheTestBroker {
    id: String,
    exchange: String,
    queue: String,
    /// The gateways' route (and replay-cache key prefix).
    route: String,
    /// Deletes the exchange, queue and replay keys when dropped.
    cleanup: Cleanup,
    amqp: Connection,
    ch: Channel,
}

impl OnTheTestBroker {
    async fn start() -> OnTheTestBroker {
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
        OnTheTestBroker {
            id,
            exchange,
            queue,
            route,
            cleanup,
            amqp,
            ch,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_port_publish_each_delivery_once() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let OnTheTestBroker {
        id,
        exchange,
        queue,
        route,
        cleanup,
        amqp,
        ch,
    } = OnTheTestBroker::start().await;
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
    crate::support::delete_queue_and_close(amqp, &ch, &queue).await;
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

/// The cluster test's requests: new deliveries, each retried after the next
/// [`RETRY_LAG`] new ones, every answer attributed to a process.
struct Rounds {
    prefix: String,
    /// Each first attempt: the delivery id, the process that answered it
    /// and how.
    firsts: Vec<(String, usize, Outcome)>,
    /// First attempts retried so far (the oldest ones).
    retried: usize,
    /// Retries answered by each process.
    retries: [usize; 2],
    /// Retries answered by the other process than their first attempt.
    crossed: usize,
}

impl Rounds {
    /// A new delivery: published or spooled, never a duplicate.
    async fn first(&mut self, sender: &mut Sender, gws: [&GatewayProcess; 2], last: &mut [Counts]) {
        let delivery = format!("{}-{}", self.prefix, self.firsts.len());
        let (who, how) = sender.send(&delivery, &gws, last).await;
        assert_ne!(
            how,
            Outcome::Duplicate,
            "{delivery}: a new delivery is stored"
        );
        self.firsts.push((delivery, who, how));
    }

    /// The retry of the oldest delivery not retried yet: answered 2xx as a
    /// duplicate by either process.
    async fn retry(&mut self, sender: &mut Sender, gws: [&GatewayProcess; 2], last: &mut [Counts]) {
        let (delivery, publisher) = {
            let (d, p, _) = &self.firsts[self.retried];
            (d.clone(), *p)
        };
        let (who, how) = sender.send(&delivery, &gws, last).await;
        assert_eq!(
            how,
            Outcome::Duplicate,
            "{delivery}: a retry is a duplicate"
        );
        self.retries[who] += 1;
        self.crossed += usize::from(who != publisher);
        self.retried += 1;
    }

    /// The retry that is due after the newest delivery, if any.
    async fn retry_due(
        &mut self,
        sender: &mut Sender,
        gws: [&GatewayProcess; 2],
        last: &mut [Counts],
    ) {
        if self.firsts.len() > self.retried + RETRY_LAG {
            self.retry(sender, gws, last).await;
        }
    }

    /// A new delivery, then the retry that is due.
    async fn step(&mut self, sender: &mut Sender, gws: [&GatewayProcess; 2], last: &mut [Counts]) {
        self.first(sender, gws, last).await;
        self.retry_due(sender, gws, last).await;
    }

    /// First attempts process `who` answered `how`.
    fn firsts_of(&self, who: usize, how: Outcome) -> usize {
        self.firsts
            .iter()
            .filter(|(_, w, h)| *w == who && *h == how)
            .count()
    }
}

/// Copies of one delivery sent at once (each on a new connection).
const COPIES: usize = 6;
/// Deliveries sent that way.
const AT_ONCE: usize = 3;

/// Copies of one delivery **in flight at the same time** on both processes
/// (a sender retrying before its first attempt was answered) are published
/// once: the first copy claims the key in Redis, the others wait for its
/// outcome and are answered 200 as duplicates. The broker is stalled (a
/// blackholing proxy) so that every first copy is held for
/// `spool.after_ms` and then spooled: all copies are in flight together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_in_flight_at_once_on_two_processes_are_published_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let OnTheTestBroker {
        id,
        exchange,
        route,
        queue,
        amqp,
        ch,
        cleanup: _cleanup,
    } = OnTheTestBroker::start().await;
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("broker address")).await;
    let urls = [format!("amqp://guest:guest@{}/%2f", proxy.addr)];
    let broker = Broker {
        urls: &urls,
        exchange: &exchange,
        queues_toml: "",
        spool_after_ms: Some(1000),
    };
    let Pair { a, b, sender } = fleet::start(dir.path(), &route, &broker).await;
    proxy.blackhole();
    let deliveries: Vec<String> = (0..AT_ONCE).map(|n| format!("at-once-{id}-{n}")).collect();
    let posts = deliveries
        .iter()
        .flat_map(|d| std::iter::repeat_n(d, COPIES))
        .map(|d| sender.post(d));
    for (status, text) in futures_util::future::join_all(posts).await {
        assert_eq!(status, 200, "{text}");
    }
    let counts = [sender.counts(&a).await, sender.counts(&b).await];
    let sum = |f: fn(&Counts) -> f64| counts.iter().map(f).sum::<f64>();
    assert_eq!(
        sum(|c| c.accepted),
        0.0,
        "the broker was stalled: {counts:?}"
    );
    assert_eq!(
        sum(|c| c.spooled),
        AT_ONCE as f64,
        "one copy of each stored: {counts:?}"
    );
    assert_eq!(
        sum(|c| c.duplicate),
        (AT_ONCE * (COPIES - 1)) as f64,
        "the other copies waited and were answered as duplicates: {counts:?}"
    );
    assert!(
        counts.iter().all(|c| c.spooled + c.duplicate > 0.0),
        "both processes answered copies: {counts:?}"
    );
    proxy.restore();
    for gw in [&a, &b] {
        crate::outage::eventually("spool forwarded", support::DEADLINE, || {
            gw.metric("hookgate_spool_messages").map(|v| v == 0.0)
        })
        .await;
    }
    let mut seen = drain(&ch, &queue).await;
    let mut ids: Vec<String> = seen.keys().cloned().collect();
    ids.sort();
    assert_eq!(ids, deliveries, "every delivery in the queue");
    assert!(
        seen.values_mut().all(|copies| copies.len() == 1),
        "each delivery once: {seen:?}"
    );
    let _ = amqp.close(200, ShortString::from("done")).await;
}

/// The node each gateway's connection is on, waited for (bounded): the
/// connections the cluster lists under [`CONNECTION`], matched to the
/// process that holds their client-side port. `skip`: a stopped node.
async fn nodes_of(cluster: &Cluster, gws: [&GatewayProcess; 2], skip: Option<usize>) -> [usize; 2] {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = cluster.connections(CONNECTION, skip).await;
        let found = gws.map(|gw| {
            listed
                .iter()
                .find(|(_, peer)| gw.holds_local_port(*peer))
                .map(|(node, _)| *node)
        });
        if let [Some(a), Some(b)] = found {
            return [a, b];
        }
        assert!(
            Instant::now() < deadline,
            "the cluster does not list both gateways' connections: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks what the queue holds (`ids`: each `message_id` with the
/// `traceparent` of each copy) against the deliveries answered 200
/// (`want`), and returns the ids the failover repeated.
///
/// Every delivery id is there, and no other. An id published by two requests
/// (two traceparents) would be a retry published again: never. Two copies
/// from one request are the failover repeating the first attempt's publish:
/// the node stored it but died before its confirm reached the gateway, which
/// then spooled it and forwarded it again (at least once, never lost). Only a
/// publish in flight when its node died can be caught that way; the sender
/// is sequential, so at most [`IN_FLIGHT_AT_KILL`] (`in_flight`, sent with
/// the kill).
fn assert_published_once<'a>(
    ids: &'a HashMap<String, Vec<Option<String>>>,
    want: &HashSet<&str>,
    in_flight: &str,
) -> Vec<&'a String> {
    let missing: Vec<_> = want
        .iter()
        .filter(|d| !ids.contains_key(**d))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "answered 200, not in the queue: {missing:?}"
    );
    assert_eq!(ids.len(), want.len(), "no other message in the queue");
    let untraced: Vec<_> = ids
        .iter()
        .filter(|(_, c)| c.iter().any(Option::is_none))
        .take(5)
        .collect();
    assert!(
        untraced.is_empty(),
        "messages without a traceparent: {untraced:?}"
    );
    let retried_again: Vec<_> = ids
        .iter()
        .filter(|(_, c)| c.iter().collect::<HashSet<_>>().len() > 1)
        .take(5)
        .collect();
    assert!(
        retried_again.is_empty(),
        "published by more than one request (a retry published again): {retried_again:?}"
    );
    let repeated: Vec<&String> = ids
        .iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(d, _)| d)
        .collect();
    assert!(
        repeated.len() <= IN_FLIGHT_AT_KILL,
        "first attempts repeated by the failover: {repeated:?}, more than the \
         {IN_FLIGHT_AT_KILL} in flight at the kill ({in_flight})"
    );
    repeated
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_a_cluster_publish_each_retried_delivery_once() {
    let t0 = Instant::now();
    let mut cluster = Cluster::start(3)
        .await
        .unwrap_or_else(|e| panic!("cannot start a 3-node RabbitMQ cluster: {e}"));
    let booted = t0.elapsed();
    let dir = tempfile::tempdir().expect("tempdir");
    let id = support::unique();
    let exchange = format!("hookgate.test.fleet.cluster.{id}");
    let queue = format!("{exchange}.q");
    let route = format!("fleet_cluster_{}", id.replace('-', "_"));
    // The Redis keys are deleted in any case; the exchange and queue on a
    // node that survives, once it is known (else they go with the cluster).
    let mut cleanup = Cleanup {
        amqp_url: None,
        exchange: exchange.clone(),
        queue: queue.clone(),
        route: route.clone(),
    };
    let urls = cluster.urls();
    let queues_toml = format!("[[amqp.queues]]\nname = \"{queue}\"\ntype = \"quorum\"\n");
    let broker = Broker {
        urls: &urls,
        exchange: &exchange,
        queues_toml: &queues_toml,
        spool_after_ms: Some(SPOOL_AFTER_MS),
    };
    let Pair {
        mut a,
        mut b,
        mut sender,
    } = fleet::start(dir.path(), &route, &broker).await;
    let port = a.addr.port();
    let gws = [&a, &b];
    let on = nodes_of(&cluster, gws, None).await;
    // The node of process a: it holds at least a's connection, maybe b's.
    let victim = on[0];
    let survivor = (victim + 1) % cluster.nodes.len();
    cleanup.amqp_url = Some(cluster.nodes[survivor].amqp_url());
    let affected: Vec<usize> = (0..2).filter(|&p| on[p] == victim).collect();
    let started = t0.elapsed();

    // 1. New deliveries, each retried RETRY_LAG later, until both processes
    // served some.
    let mut rounds = Rounds {
        prefix: format!("fleet-cluster-{id}"),
        firsts: Vec::new(),
        retried: 0,
        retries: [0; 2],
        crossed: 0,
    };
    let mut last = [sender.counts(&a).await, sender.counts(&b).await];
    let deadline = Instant::now() + SEND_DEADLINE;
    while rounds.firsts.len() < BEFORE_KILL
        || (0..2).any(|p| rounds.firsts.iter().filter(|f| f.1 == p).count() < MIN_EACH)
    {
        assert!(
            Instant::now() < deadline,
            "the kernel did not spread {} connections over both",
            rounds.firsts.len()
        );
        rounds.step(&mut sender, gws, &mut last).await;
    }
    let spooled_before: usize = (0..2).map(|p| rounds.firsts_of(p, Outcome::Spooled)).sum();

    // 2. SIGKILL the node with one new delivery in flight (whether its
    // publish reached the node first is chance), then the retry due.
    let before = last;
    let at_kill = sender.sent;
    let in_flight = format!("{}-{}", rounds.prefix, rounds.firsts.len());
    let killed = Instant::now();
    let ((), pid) = tokio::join!(
        rounds.first(&mut sender, gws, &mut last),
        cluster.nodes[victim].kill9()
    );
    let pid = pid.unwrap_or_else(|e| {
        panic!(
            "SIGKILL of node {victim}: {e}\n{}",
            cluster.nodes[victim].output_tail()
        )
    });
    rounds.retry_due(&mut sender, gws, &mut last).await;

    // 3. Keep sending until every gateway that was on the node made a new
    // connection and kept it for SETTLE (observed between requests).
    let conns = |last: &[Counts; 2]| -> Vec<f64> {
        affected.iter().map(|&p| last[p].connections).collect()
    };
    let (mut seen, mut changed) = (conns(&before), killed);
    let failover = loop {
        rounds.step(&mut sender, gws, &mut last).await;
        if conns(&last) != seen {
            (seen, changed) = (conns(&last), Instant::now());
        }
        let moved = affected
            .iter()
            .all(|&p| last[p].connections > before[p].connections && last[p].connected == 1.0);
        if moved && changed.elapsed() >= SETTLE {
            break changed - killed;
        }
        assert!(
            killed.elapsed() < FAILOVER_DEADLINE,
            "the gateways on node {victim} did not keep a new connection within \
             {FAILOVER_DEADLINE:?}: {last:?}"
        );
    };
    let during = sender.sent - at_kill;
    let spooled_during: usize = (0..2)
        .map(|p| rounds.firsts_of(p, Outcome::Spooled))
        .sum::<usize>()
        - spooled_before;
    let moved_to = nodes_of(&cluster, gws, Some(victim)).await;

    // 4. New deliveries after the failover, then the retries still due.
    for _ in 0..AFTER_FAILOVER {
        rounds.step(&mut sender, gws, &mut last).await;
    }
    while rounds.retried < rounds.firsts.len() {
        rounds.retry(&mut sender, gws, &mut last).await;
    }
    let sent_in = t0.elapsed() - started;

    // 5. Everything spooled is forwarded.
    for gw in gws {
        crate::outage::eventually("spool forwarded", Duration::from_secs(30), || {
            gw.metric("hookgate_spool_messages").map(|n| n == 0.0)
        })
        .await;
    }
    // `hookgate_spool_messages` leaves quarantined entries out: an entry
    // the broker nacked `quarantine_after` times is parked, not forwarded.
    let mut spool = [(0.0, 0.0, 0.0); 2];
    for (p, gw) in gws.iter().enumerate() {
        spool[p] = (
            gw.metric("hookgate_spool_writes_total").await,
            gw.metric("hookgate_spool_forwarded_total").await,
            gw.metric("hookgate_spool_quarantined").await,
        );
    }
    let connections: Vec<f64> = (0..2)
        .map(|p| last[p].connections - before[p].connections)
        .collect();

    // 6. The quorum queue, read from a surviving node.
    let reader = Connection::connect(
        &cluster.nodes[survivor].amqp_url(),
        ConnectionProperties::default(),
    )
    .await
    .expect("connection to a surviving node");
    let ch = reader.create_channel().await.expect("channel");
    let queued = depth(&ch, &queue).await;
    let ids = drain(&ch, &queue).await;
    let want: HashSet<&str> = rounds.firsts.iter().map(|f| f.0.as_str()).collect();
    let missing: Vec<_> = rounds
        .firsts
        .iter()
        .filter(|f| !ids.contains_key(&f.0))
        .collect();
    if !missing.is_empty() {
        // Seen once in CI (the delivery in flight at the kill): say where
        // it went for the next run that meets it.
        let unroutable = format!("{exchange}.unroutable");
        let parked = drain(&ch, &unroutable).await;
        let tail = |log: String| {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        // The broker's own count (an enqueue acked but held back by the
        // quorum queue would show as messages, not ready).
        let stats = cluster.nodes[survivor]
            .ctl(
                &[
                    "list_queues",
                    "name",
                    "type",
                    "messages",
                    "messages_ready",
                    "messages_unacknowledged",
                    "leader",
                    "members",
                ],
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|e| e);
        panic!(
            "answered 200, not in the queue (id, process, outcome): {missing:?}; the queue's \
             depth {queued} (passive declare) for {} ids read; in flight at the \
             kill: {in_flight}; in {unroutable}: {:?}; spool written/forwarded/quarantined {spool:?}\n\
             queues on node {survivor}:\n{stats}\nprocess a, last lines:\n{}\nprocess b, last lines:\n{}",
            ids.len(),
            parked.keys().collect::<Vec<_>>(),
            tail(a.log()),
            tail(b.log()),
        );
    }
    let repeated = assert_published_once(&ids, &want, &in_flight);
    for (p, (written, forwarded, quarantined)) in spool.iter().enumerate() {
        assert_eq!(*quarantined, 0.0, "process {p}: nothing quarantined");
        assert_eq!(
            written, forwarded,
            "process {p}: everything spooled was forwarded"
        );
    }
    let pattern = seen_pattern(&route);
    let marks = scan_keys(&pattern).await.len();
    assert_eq!(marks, want.len(), "one replay-cache key per delivery id");

    // 7. Both processes end on SIGTERM; the test's keys, queue and
    // exchange go, then the cluster.
    let a_pid = a.pid();
    let b_pid = b.pid();
    for gw in [&mut a, &mut b] {
        let status = gw.sigterm(Duration::from_secs(15)).await;
        assert!(
            status.success(),
            "exits 0 on SIGTERM: {status}\n{}",
            gw.log()
        );
    }
    crate::support::delete_queue_and_close(reader, &ch, &queue).await;
    drop(cleanup);
    assert!(
        scan_keys(&pattern).await.is_empty(),
        "the test's Redis keys are deleted"
    );
    cluster.stop().await;
    let total = t0.elapsed();

    let spooled_after = (0..2)
        .map(|p| rounds.firsts_of(p, Outcome::Spooled))
        .sum::<usize>()
        - spooled_before
        - spooled_during;
    let name = |p: usize| ["a", "b"][p];
    let holding: Vec<&str> = affected.iter().map(|&p| name(p)).collect();
    let answered = |p: usize| rounds.firsts.iter().filter(|f| f.1 == p).count() + rounds.retries[p];
    println!(
        "fleet on a cluster: 3 nodes booted in {booted:?}; a (pid {a_pid}) on node {}, b (pid \
         {b_pid}) on node {}, one port 127.0.0.1:{port}, up after {started:?}; node {victim} \
         (beam pid {pid}) SIGKILLed after {at_kill} requests with {in_flight} in flight, holding \
         the connection of {holding:?}; reconnected for good {failover:?} after the kill \
         (observed between requests; {during} requests answered from the kill to {SETTLE:?} \
         later, {spooled_during} of their new deliveries spooled), now a on node {}, b on node {}, connections made a {} b {}; \
         requests answered: a {}, b {} ({} in all, in {sent_in:?}); {} deliveries: a published \
         {} spooled {}, b published {} spooled {} ({spooled_before} spooled before the kill, {spooled_after} after the settling); \
         retries: a {}, b {}, {} on the other process than the first, all duplicates; spool \
         written/forwarded/quarantined a {:?} b {:?}; queue: {queued} messages, {} distinct ids, {} repeated \
         by the failover {repeated:?}, 0 published by a retry; {marks} replay-cache keys; whole \
         test {total:?}",
        on[0],
        on[1],
        moved_to[0],
        moved_to[1],
        connections[0],
        connections[1],
        answered(0),
        answered(1),
        sender.sent,
        rounds.firsts.len(),
        rounds.firsts_of(0, Outcome::Accepted),
        rounds.firsts_of(0, Outcome::Spooled),
        rounds.firsts_of(1, Outcome::Accepted),
        rounds.firsts_of(1, Outcome::Spooled),
        rounds.retries[0],
        rounds.retries[1],
        rounds.crossed,
        spool[0],
        spool[1],
        ids.len(),
        repeated.len(),
    );
    assert!(
        total < CLUSTER_TEST_DEADLINE,
        "the test took {total:?}, over {CLUSTER_TEST_DEADLINE:?}"
    );
}
