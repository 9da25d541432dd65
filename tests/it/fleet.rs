//! Several gateways behind one address (docs/reliability.md, "Several
//! gateways behind one address"): two `hookgate serve` processes listening on
//! the same 127.0.0.1 port with `server.reuse_port = true`, sharing the Redis
//! replay cache (`dedupe.redis_url`) and one exchange + queue on the
//! machine's RabbitMQ. Every request goes on a new TCP connection, so the
//! kernel spreads them over both; which process answered is read from its
//! own `/metrics` (the requests are sequential, so exactly one counter
//! moves). A delivery retried after its 2xx, on either process, is answered
//! 2xx and counted as a duplicate; after one process is SIGKILLed, retries of
//! what it had answered land on the survivor and are not published again;
//! the queue holds every delivery id exactly once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::support::gateway::GatewayProcess;
use crate::support::pki::Ca;
use crate::support::{self, fixture, fixture_headers, metric_value, sign, AMQP_URL};

/// The shared replay cache.
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The replay cache's key prefix (`src/dedupe/mod.rs`, `REDIS_PREFIX`).
const SEEN_PREFIX: &str = "hookgate:seen:";
/// First deliveries sent (more while one process has served fewer than
/// [`MIN_EACH`]).
const FIRST: usize = 40;
/// First deliveries each process must have served.
const MIN_EACH: usize = 5;
/// New deliveries sent after the kill.
const AFTER_KILL: usize = 10;
/// Longest time the whole exchange of requests may take.
const SEND_DEADLINE: Duration = Duration::from_secs(40);

/// Which counter of a process moved for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Duplicate,
}

/// One process's counters for the test's route.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    /// `hookgate_requests_total{outcome="accepted"}`: published.
    accepted: f64,
    /// `hookgate_duplicates_total`: answered 2xx from the replay cache.
    duplicate: f64,
}

/// The exchange, queue and Redis keys of the test: deleted when dropped,
/// also after a panic.
struct Cleanup {
    exchange: String,
    queue: String,
    route: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        support::cleanup(
            AMQP_URL,
            vec![self.exchange.clone()],
            vec![self.queue.clone()],
        );
        let pattern = seen_pattern(&self.route);
        let t = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), delete_keys(&pattern)).await;
            });
        });
        let _ = t.join();
    }
}

/// The replay cache's keys of `route`: `hookgate:seen:<route>|<id>|<sha>`.
fn seen_pattern(route: &str) -> String {
    format!("{SEEN_PREFIX}{route}|*")
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection")
}

/// Every key matching `pattern` (SCAN, not KEYS).
async fn scan_keys(pattern: &str) -> Vec<String> {
    let mut c = redis().await;
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// Deletes every key matching `pattern`; returns how many there were.
async fn delete_keys(pattern: &str) -> usize {
    let keys = scan_keys(pattern).await;
    let mut c = redis().await;
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut c)
            .await
            .expect("DEL");
    }
    keys.len()
}

/// Writes one gateway's config (own admin port, spool and replay file
/// directory) and returns its path.
fn write_config(dir: &Path, name: &str, port: u16, shared: &str) -> PathBuf {
    let own = dir.join(name);
    std::fs::create_dir_all(&own).expect("instance dir");
    let path = own.join("hookgate.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nreuse_port = true\nshutdown_grace_ms = 2000\n\
         {shared}\n[spool]\npath = \"{spool}\"\n\n[dedupe]\npath = \"{dedupe}\"\n\
         redis_url = \"{REDIS_URL}\"\n",
        spool = own.join("spool.redb").display(),
        dedupe = own.join("dedupe.redb").display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Signed GitHub deliveries to the shared address, one new connection (a
/// new client) each, attributed to the process whose counters moved.
struct Sender {
    ca_pem: String,
    url: String,
    body: bytes::Bytes,
    headers: Vec<(String, String)>,
    route: String,
    /// Requests sent, retries included.
    sent: usize,
}

impl Sender {
    /// The counters of `gw` for the test's route.
    async fn counts(&self, gw: &GatewayProcess) -> Counts {
        let (status, m) = gw.admin_get("/metrics").await;
        assert_eq!(status, 200, "metrics of {}: {m}", gw.admin_addr);
        let series = |name: &str, outcome: &str| {
            metric_value(
                &m,
                &format!("{name}{{route=\"{}\",outcome=\"{outcome}\"}}", self.route),
            )
            .unwrap_or(0.0)
        };
        Counts {
            accepted: series("hookgate_requests_total", "accepted"),
            duplicate: series("hookgate_duplicates_total", "duplicate"),
        }
    }

    /// POSTs delivery `id` on a new TCP connection, asserts 200, and
    /// returns which of `live` answered it and how: the one whose counters
    /// moved, by exactly one (the others by none). `last` holds the
    /// counters before the request and is updated.
    async fn send(
        &mut self,
        id: &str,
        live: &[&GatewayProcess],
        last: &mut [Counts],
    ) -> (usize, Outcome) {
        // A client of its own: its pool is empty, so this is a new
        // connection and the kernel picks the listener for it.
        let client = support::client(&self.ca_pem, false);
        let mut req = client.post(&self.url).body(self.body.clone());
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req
            .header("X-GitHub-Delivery", id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("delivery {id}: {e:?}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "delivery {id}: {text}");
        self.sent += 1;
        // The counter moves before the answer is written; poll anyway, with
        // a deadline, instead of trusting that.
        let deadline = Instant::now() + support::DEADLINE;
        loop {
            let mut now = Vec::with_capacity(live.len());
            for gw in live {
                now.push(self.counts(gw).await);
            }
            let moved: Vec<(usize, Outcome)> = now
                .iter()
                .zip(last.iter())
                .enumerate()
                .flat_map(|(i, (n, l))| {
                    let mut m = Vec::new();
                    for _ in 0..(n.accepted - l.accepted) as usize {
                        m.push((i, Outcome::Accepted));
                    }
                    for _ in 0..(n.duplicate - l.duplicate) as usize {
                        m.push((i, Outcome::Duplicate));
                    }
                    m
                })
                .collect();
            match moved.as_slice() {
                [] => assert!(
                    Instant::now() < deadline,
                    "delivery {id}: answered 200 but no counter moved"
                ),
                [one] => {
                    last.copy_from_slice(&now);
                    return *one;
                }
                more => panic!("delivery {id}: several counters moved: {more:?}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

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

/// Takes every message of `queue`: how often each `message_id` came.
async fn drain(ch: &Channel, queue: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    while let Some(m) = ch
        .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true })
        .await
        .expect("basic_get")
    {
        *seen.entry(support::message_id(&m)).or_insert(0) += 1;
    }
    seen
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
        exchange: exchange.clone(),
        queue: queue.clone(),
        route: route.clone(),
    };
    let amqp = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("test broker connection");
    let ch = amqp.create_channel().await.expect("channel");
    bind_queue(&ch, &exchange, &queue).await;

    let ca = Ca::new("hookgate fleet test CA");
    let leaf = ca.server();
    let (cert, key, secret) = (
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
        dir.path().join("github.secret"),
    );
    std::fs::write(&cert, leaf.chain_pem(&ca)).expect("write cert");
    std::fs::write(&key, &leaf.key_pem).expect("write key");
    std::fs::write(&secret, format!("{}\n", support::GITHUB_SECRET)).expect("write secret");
    let shared = format!(
        "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [amqp]\nurl = \"{AMQP_URL}\"\nexchange = \"{exchange}\"\nchannels = 2\n\n\
         [[routes]]\nname = \"{route}\"\npath = \"/hooks/github\"\nkind = \"github\"\n\
         secrets = [{{ file = \"{}\" }}]\n",
        cert.display(),
        key.display(),
        secret.display(),
    );
    // The first binds port 0 with SO_REUSEPORT; the second joins the port
    // it got (no window in which another test could take a free port).
    let mut a = GatewayProcess::spawn(&write_config(dir.path(), "a", 0, &shared)).await;
    let port = a.addr.port();
    let mut b = GatewayProcess::spawn(&write_config(dir.path(), "b", port, &shared)).await;
    assert_eq!(b.addr, a.addr, "both listen on one address");
    for gw in [&a, &b] {
        crate::outage::eventually("gateway connected to the broker", support::DEADLINE, || {
            gw.metric("hookgate_broker_connected").map(|v| v == 1.0)
        })
        .await;
    }
    let started = t0.elapsed();

    let body = bytes::Bytes::from(fixture("github/push.json"));
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
    let mut sender = Sender {
        ca_pem: ca.pem.clone(),
        url: format!("https://127.0.0.1:{port}/hooks/github"),
        headers: sign::github(support::GITHUB_SECRET, &body, headers),
        body,
        route: route.clone(),
        sent: 0,
    };
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
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).take(5).collect();
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
