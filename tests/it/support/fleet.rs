//! Two `hookgate serve` processes behind one 127.0.0.1 port
//! (`server.reuse_port`), sharing the Redis replay cache and a broker (one
//! node or a cluster's nodes): their configs, a sender that attributes each
//! request to the process whose counters moved, what the queue holds, and
//! the Redis helpers (tests/it/fleet.rs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use lapin::options::BasicGetOptions;
use lapin::types::ShortString;
use lapin::Channel;

use super::gateway::GatewayProcess;
use super::pki::Ca;
use super::{fixture, fixture_headers, metric_value, sign};

/// The shared replay cache.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The replay cache's key prefix (`src/dedupe/mod.rs`, `REDIS_PREFIX`).
const SEEN_PREFIX: &str = "hookgate:seen:";

/// Which counter of a process moved for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Published and confirmed.
    Accepted,
    /// Written to the process's spool (its forwarder publishes it).
    Spooled,
    /// Answered 2xx from the replay cache, not published.
    Duplicate,
}

/// One process's counters: for the test's route, and of its broker link.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// `hookgate_requests_total{outcome="accepted"}`.
    pub accepted: f64,
    /// `hookgate_requests_total{outcome="spooled"}`.
    pub spooled: f64,
    /// `hookgate_duplicates_total`.
    pub duplicate: f64,
    /// `hookgate_broker_connections_total`: connections made so far.
    pub connections: f64,
    /// `hookgate_broker_connected` (1/0).
    pub connected: f64,
}

/// What both processes are given besides the route.
pub struct Broker<'a> {
    /// `amqp.urls`: one node, or every node of a cluster.
    pub urls: &'a [String],
    pub exchange: &'a str,
    /// `[[amqp.queues]]` tables the gateways declare (empty: none).
    pub queues_toml: &'a str,
    /// `spool.after_ms` (the gateway's default when `None`).
    pub spool_after_ms: Option<u64>,
}

/// The two processes on one port and the sender that reaches them.
pub struct Pair {
    pub a: GatewayProcess,
    pub b: GatewayProcess,
    pub sender: Sender,
}

/// The exchange, queue and Redis keys of a test: deleted when dropped, also
/// after a panic. The exchange and queue on `amqp_url`, when set.
pub struct Cleanup {
    pub amqp_url: Option<String>,
    pub exchange: String,
    pub queue: String,
    pub route: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(url) = &self.amqp_url {
            super::cleanup(url, vec![self.exchange.clone()], vec![self.queue.clone()]);
        }
        let pattern = seen_pattern(&self.route);
        super::on_own_thread(Duration::from_secs(5), async move {
            delete_keys(&pattern).await;
        });
    }
}

/// The replay cache's keys of `route`: `hookgate:seen:<route>|<id>|<sha>`.
pub fn seen_pattern(route: &str) -> String {
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
pub async fn scan_keys(pattern: &str) -> Vec<String> {
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
pub async fn delete_keys(pattern: &str) -> usize {
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

/// Starts two processes with one GitHub route `route` on one port, both
/// connected to `broker` (waited for), and a sender of signed deliveries.
pub async fn start(dir: &Path, route: &str, broker: &Broker<'_>) -> Pair {
    let ca = Ca::new("hookgate fleet test CA");
    let leaf = ca.server();
    let (cert, key, secret) = (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("github.secret"),
    );
    std::fs::write(&cert, leaf.chain_pem(&ca)).expect("write cert");
    std::fs::write(&key, &leaf.key_pem).expect("write key");
    std::fs::write(&secret, format!("{}\n", super::GITHUB_SECRET)).expect("write secret");
    let shared = format!(
        "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [amqp]\nurls = {:?}\nexchange = \"{}\"\nchannels = 2\n{}\n\
         [[routes]]\nname = \"{route}\"\npath = \"/hooks/github\"\nkind = \"github\"\n\
         secrets = [{{ file = \"{}\" }}]\n",
        cert.display(),
        key.display(),
        broker.urls,
        broker.exchange,
        broker.queues_toml,
        secret.display(),
    );
    let after = broker.spool_after_ms;
    // The first binds port 0 with SO_REUSEPORT; the second joins the port
    // it got (no window in which another test could take a free port).
    let a = GatewayProcess::spawn(&write_config(dir, "a", 0, &shared, after)).await;
    let port = a.addr.port();
    let b = GatewayProcess::spawn(&write_config(dir, "b", port, &shared, after)).await;
    assert_eq!(b.addr, a.addr, "both listen on one address");
    for gw in [&a, &b] {
        crate::outage::eventually("gateway connected to the broker", super::DEADLINE, || {
            gw.metric("hookgate_broker_connected").map(|v| v == 1.0)
        })
        .await;
    }
    let body = bytes::Bytes::from(fixture("github/push.json"));
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
    let sender = Sender {
        ca_pem: ca.pem.clone(),
        url: format!("https://127.0.0.1:{port}/hooks/github"),
        headers: sign::github(super::GITHUB_SECRET, &body, headers),
        body,
        route: route.to_string(),
        sent: 0,
    };
    Pair { a, b, sender }
}

/// Writes one gateway's config (own admin port, spool and replay file
/// directory) and returns its path.
fn write_config(
    dir: &Path,
    name: &str,
    port: u16,
    shared: &str,
    spool_after_ms: Option<u64>,
) -> PathBuf {
    let own = dir.join(name);
    std::fs::create_dir_all(&own).expect("instance dir");
    let path = own.join("hookgate.toml");
    let after = spool_after_ms
        .map(|ms| format!("after_ms = {ms}\n"))
        .unwrap_or_default();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nreuse_port = true\nshutdown_grace_ms = 2000\n\
         {shared}\n[spool]\npath = \"{spool}\"\n{after}\n[dedupe]\npath = \"{dedupe}\"\n\
         redis_url = \"{REDIS_URL}\"\n",
        spool = own.join("spool.redb").display(),
        dedupe = own.join("dedupe.redb").display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Signed GitHub deliveries to the shared address, one new connection (a
/// new client) each, attributed to the process whose counters moved.
pub struct Sender {
    ca_pem: String,
    url: String,
    body: bytes::Bytes,
    headers: Vec<(String, String)>,
    route: String,
    /// Requests sent, retries included.
    pub sent: usize,
}

impl Sender {
    /// The counters of `gw`.
    pub async fn counts(&self, gw: &GatewayProcess) -> Counts {
        let (status, m) = gw.admin_get("/metrics").await;
        assert_eq!(status, 200, "metrics of {}: {m}", gw.admin_addr);
        let series = |name: &str, outcome: &str| {
            metric_value(
                &m,
                &format!("{name}{{route=\"{}\",outcome=\"{outcome}\"}}", self.route),
            )
            .unwrap_or(0.0)
        };
        let plain = |name: &str| super::gateway::metric(&m, name);
        Counts {
            accepted: series("hookgate_requests_total", "accepted"),
            spooled: series("hookgate_requests_total", "spooled"),
            duplicate: series("hookgate_duplicates_total", "duplicate"),
            connections: plain("hookgate_broker_connections_total"),
            connected: plain("hookgate_broker_connected"),
        }
    }

    /// POSTs delivery `id` on a new TCP connection (a client of its own:
    /// its pool is empty, so the kernel picks the listener for it); returns
    /// the status and body.
    pub async fn post(&self, id: &str) -> (u16, String) {
        let client = super::client(&self.ca_pem, false);
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
        (status, resp.text().await.unwrap_or_default())
    }

    /// POSTs delivery `id` on a new TCP connection, asserts 200, and
    /// returns which of `live` answered it and how: the one whose request
    /// counters moved, by exactly one (the others by none). `last` holds the
    /// counters before the request and is updated.
    pub async fn send(
        &mut self,
        id: &str,
        live: &[&GatewayProcess],
        last: &mut [Counts],
    ) -> (usize, Outcome) {
        let (status, text) = self.post(id).await;
        assert_eq!(status, 200, "delivery {id}: {text}");
        self.sent += 1;
        // The counter moves before the answer is written; poll anyway, with
        // a deadline, instead of trusting that.
        let deadline = Instant::now() + super::DEADLINE;
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
                    [
                        (n.accepted - l.accepted, Outcome::Accepted),
                        (n.spooled - l.spooled, Outcome::Spooled),
                        (n.duplicate - l.duplicate, Outcome::Duplicate),
                    ]
                    .into_iter()
                    .flat_map(move |(by, how)| std::iter::repeat_n((i, how), by as usize))
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

/// Takes every message of `queue`: for each `message_id`, the `traceparent`
/// of each copy (the request that published it: a retry published again
/// would carry its own).
pub async fn drain(ch: &Channel, queue: &str) -> HashMap<String, Vec<Option<String>>> {
    let mut seen: HashMap<String, Vec<Option<String>>> = HashMap::new();
    while let Some(m) = ch
        .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true })
        .await
        .expect("basic_get")
    {
        seen.entry(super::message_id(&m))
            .or_default()
            .push(super::header(&m, "traceparent"));
    }
    seen
}
