//! Outages that kill processes with SIGKILL, under a concurrent load of signed
//! GitHub deliveries: a private RabbitMQ node the test owns, and the gateway
//! binary itself. Every request answered 200 must be in the queue afterwards
//! (counted by `message_id`; duplicates allowed), and the spool must drain.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt as _, StreamExt as _};
use hookgate::broker::Status;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::task::JoinHandle;

use crate::support::gateway::GatewayProcess;
use crate::support::proxy::Proxy;
use crate::support::rabbit::PrivateNode;
use crate::support::{self, fixture, fixture_headers, sign, Harness, Options};

/// Concurrent senders.
pub(crate) const TASKS: usize = 8;
/// Pause of each sender between two requests (keeps the queue small enough
/// to read back quickly).
const PAUSE: Duration = Duration::from_millis(10);
/// Longest wait for the load to reach a count.
const LOAD_DEADLINE: Duration = Duration::from_secs(30);
/// Longest wait for every accepted id to show up in the queue.
const COLLECT_DEADLINE: Duration = Duration::from_secs(60);

/// What one request got: its delivery id and its status (or the transport
/// error, e.g. the gateway was killed while it was in flight).
pub(crate) struct Answer {
    pub(crate) id: String,
    pub(crate) status: Result<u16, String>,
}

/// `TASKS` senders POSTing signed GitHub pushes, each with a fresh
/// `X-GitHub-Delivery`, until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<Answer>>>,
}

impl Load {
    pub(crate) fn start(client: reqwest::Client, url: String, tag: &str) -> Load {
        let body = bytes::Bytes::from(fixture("github/push.json"));
        let mut base = fixture_headers("github/push.json");
        base.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
        let base = Arc::new(sign::github(support::GITHUB_SECRET, &body, base));
        let prefix = format!("outage-{tag}-{}", support::unique());
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks = (0..TASKS)
            .map(|t| {
                let (client, url, body, base, prefix, stop, done) = (
                    client.clone(),
                    url.clone(),
                    body.clone(),
                    base.clone(),
                    prefix.clone(),
                    stop.clone(),
                    done.clone(),
                );
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    let mut i = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        let id = format!("{prefix}-{t}-{i}");
                        i += 1;
                        let mut req = client.post(&url).body(body.clone());
                        for (k, v) in base.iter() {
                            req = req.header(k.as_str(), v.as_str());
                        }
                        req = req.header("X-GitHub-Delivery", id.as_str());
                        let status = match req.send().await {
                            Ok(r) => {
                                let s = r.status().as_u16();
                                let _ = r.bytes().await;
                                Ok(s)
                            }
                            Err(e) => Err(format!("{e:?}")),
                        };
                        answers.push(Answer { id, status });
                        done.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(PAUSE).await;
                    }
                    answers
                })
            })
            .collect();
        Load { stop, done, tasks }
    }

    /// Requests answered (or failed) so far.
    pub(crate) fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests were answered (bounded).
    pub(crate) async fn wait_done(&self, n: usize, phase: &str) {
        let deadline = Instant::now() + LOAD_DEADLINE;
        while self.done() < n {
            assert!(
                Instant::now() < deadline,
                "{phase}: only {} of {n} requests answered in {LOAD_DEADLINE:?}",
                self.done()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the senders (each finishes its request in flight) and returns
    /// every answer.
    pub(crate) async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        let mut out = Vec::new();
        for t in self.tasks {
            let answers = tokio::time::timeout(Duration::from_secs(40), t)
                .await
                .expect("sender did not stop")
                .expect("sender panicked");
            out.extend(answers);
        }
        out
    }
}

/// Consumes `queue` until every id of `expected` was seen (then until 500 ms
/// pass without a message, to count duplicates) or the deadline; returns how
/// often each `message_id` was seen.
pub(crate) async fn collect_ids(
    ch: &Channel,
    queue: &str,
    expected: &HashSet<String>,
) -> HashMap<String, usize> {
    ch.basic_qos(1000, BasicQosOptions::default())
        .await
        .expect("basic_qos");
    let tag = format!("collect-{}", support::unique());
    let mut consumer = ch
        .basic_consume(
            ShortString::from(queue),
            ShortString::from(tag.as_str()),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("basic_consume");
    let deadline = tokio::time::Instant::now() + COLLECT_DEADLINE;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut missing = expected.len();
    loop {
        let until = if missing == 0 {
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(500))
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                let id = d
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let n = seen.entry(id.clone()).or_insert(0);
                *n += 1;
                if *n == 1 && expected.contains(&id) {
                    missing -= 1;
                }
            }
            Ok(Some(Err(e))) => panic!("consuming {queue}: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = ch
        .basic_cancel(
            ShortString::from(tag.as_str()),
            BasicCancelOptions::default(),
        )
        .await;
    seen
}

/// With a spool every request is answered 200: panics naming up to 5 that
/// were not, and `when` (the circumstance, e.g. "during the failover").
pub(crate) fn assert_all_200(answers: &[Answer], when: &str) {
    let bad: Vec<_> = answers
        .iter()
        .filter(|a| a.status != Ok(200))
        .map(|a| (&a.id, &a.status))
        .take(5)
        .collect();
    assert!(
        bad.is_empty(),
        "with a spool every request is answered 200, {when}: {bad:?}"
    );
}

/// Checks and prints the outcome: every 200-answered id is in `seen`.
pub(crate) fn assert_none_lost(what: &str, answers: &[Answer], seen: &HashMap<String, usize>) {
    let accepted: HashSet<&str> = answers
        .iter()
        .filter(|a| a.status == Ok(200))
        .map(|a| a.id.as_str())
        .collect();
    let errors = answers.iter().filter(|a| a.status.is_err()).count();
    let other = answers.len() - accepted.len() - errors;
    let lost: Vec<&&str> = accepted
        .iter()
        .filter(|id| !seen.contains_key(**id))
        .collect();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let unanswered_found = seen
        .keys()
        .filter(|id| !accepted.contains(id.as_str()))
        .count();
    println!(
        "{what}: sent {}, 200 {}, other status {other}, transport errors {errors}; \
         in queue: {} messages, {} distinct ids ({unanswered_found} not answered 200), \
         duplicates {duplicates}, lost {}",
        answers.len(),
        accepted.len(),
        seen.values().sum::<usize>(),
        seen.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{what}: {} of {} ids answered 200 are not in the queue, e.g. {:?}",
        lost.len(),
        accepted.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}

/// Waits (bounded) until `cond` holds, polling every 50 ms.
pub(crate) async fn eventually<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_broker_node_killed_with_sigkill_loses_nothing() {
    let t0 = Instant::now();
    let mut node = PrivateNode::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start a private RabbitMQ node: {e}"));
    let booted = t0.elapsed();
    let url = node.amqp_url();
    let h = Harness::start_with(Options {
        amqp_url: Some(url.clone()),
        test_amqp_url: Some(url),
        durable_test_queue: true,
        spool_after_ms: Some(500),
        ..Options::default()
    })
    .await;
    let h = Arc::new(h);
    let load = Load::start(h.client.clone(), format!("{}/hooks/github", h.base), "node");
    load.wait_done(100, "broker up").await;

    let killed = Instant::now();
    let pid = node
        .kill9()
        .await
        .unwrap_or_else(|e| panic!("SIGKILL of the node: {e}\n{}", node.output_tail()));
    let at_kill = load.done();
    h.wait_status(Status::Disconnected).await;
    let noticed = killed.elapsed();
    // Answered while the node is dead: only the spool can take them.
    load.wait_done(at_kill + 100, "broker dead").await;
    let restart = Instant::now();
    node.restart()
        .await
        .unwrap_or_else(|e| panic!("restarting the node: {e}"));
    let restarted = restart.elapsed();
    h.wait_status(Status::Connected).await;
    let reconnected = killed.elapsed();
    let at_back = load.done();
    load.wait_done(at_back + 100, "broker back").await;
    let answers = load.stop().await;
    println!(
        "node {} booted in {booted:?}; beam pid {pid} SIGKILLed after {at_kill} requests, \
         noticed in {noticed:?}; restarted in {restarted:?}; gateway reconnected {reconnected:?} \
         after the kill",
        node.name
    );

    assert_all_200(&answers, "also while the node is dead");

    let mut h = Arc::try_unwrap(h).ok().expect("sole owner of the harness");
    h.reconnect_amqp().await;
    let accepted: HashSet<String> = answers.iter().map(|a| a.id.clone()).collect();
    let seen = collect_ids(h.amqp_channel(), &h.queue, &accepted).await;
    assert_none_lost("private node SIGKILL", &answers, &seen);

    let spool = h.running().spool.clone().expect("spool enabled");
    eventually("spool drained", Duration::from_secs(30), || {
        let s = spool.clone();
        async move { s.status().messages == 0 }
    })
    .await;
    let (_, metrics) = h.admin_get("/metrics").await;
    let writes = support::gateway::metric(&metrics, "hookgate_spool_writes_total");
    let forwarded = support::gateway::metric(&metrics, "hookgate_spool_forwarded_total");
    println!("spool writes {writes}, forwarded {forwarded}");
    assert!(writes > 0.0, "the dead node made the gateway spool");
    assert_eq!(writes, forwarded, "everything spooled was forwarded");
    h.finish().await;
    node.stop().await.expect("stop node");
}

/// A queue on the machine's broker bound to `exchange` with `#`.
struct TestQueue {
    conn: Connection,
    ch: Channel,
    name: String,
    exchange: String,
}

impl TestQueue {
    async fn bind(exchange: &str) -> TestQueue {
        let conn = Connection::connect(support::AMQP_URL, ConnectionProperties::default())
            .await
            .expect("test broker connection");
        let ch = conn.create_channel().await.expect("channel");
        support::declare_exchange(&ch, exchange).await;
        let name = format!("{exchange}.q");
        ch.queue_declare(
            ShortString::from(name.as_str()),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue declare");
        support::bind_all(&ch, &name, exchange).await;
        TestQueue {
            conn,
            ch,
            name,
            exchange: exchange.to_string(),
        }
    }

    /// Deletes the exchange; the exclusive queue goes with the connection.
    async fn finish(self) {
        let _ = self.conn.close(200, ShortString::from("test done")).await;
        support::cleanup(support::AMQP_URL, vec![self.exchange], Vec::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sigkilled_mid_load_with_broker_cut_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = Proxy::start("127.0.0.1:5672".parse::<SocketAddr>().unwrap()).await;
    let exchange = format!("hookgate.test.{}", support::unique());
    let queue = TestQueue::bind(&exchange).await;
    let (ca_pem, cert, key) = support::write_certs(dir.path());
    let secret = dir.path().join("github.secret");
    std::fs::write(&secret, format!("{}\n", support::GITHUB_SECRET)).unwrap();
    let spool_path = dir.path().join("spool.redb");
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
shutdown_grace_ms = 2000
[server.tls]
cert = "{cert}"
key = "{key}"
[admin]
listen = "127.0.0.1:0"
[amqp]
url = "amqp://guest:guest@{proxy}/%2f"
exchange = "{exchange}"
channels = 2
[spool]
path = "{spool}"
after_ms = 300
[[routes]]
path = "/hooks/github"
kind = "github"
secrets = [{{ file = "{secret}" }}]
"#,
            cert = cert.display(),
            key = key.display(),
            proxy = proxy.addr,
            spool = spool_path.display(),
            secret = secret.display(),
        ),
    )
    .unwrap();

    let mut first = GatewayProcess::spawn(&config).await;
    eventually("first gateway connected", support::DEADLINE, || {
        first.metric("hookgate_broker_connected").map(|v| v == 1.0)
    })
    .await;
    let client = support::client(&ca_pem, false);
    let load = Load::start(
        client,
        format!("https://127.0.0.1:{}/hooks/github", first.addr.port()),
        "kill",
    );
    load.wait_done(100, "broker up").await;
    proxy.cut();
    let at_cut = load.done();
    eventually("first gateway saw the cut", support::DEADLINE, || {
        first.metric("hookgate_broker_connected").map(|v| v == 0.0)
    })
    .await;
    load.wait_done(at_cut + 150, "broker cut").await;
    let spooled = first.metric("hookgate_spool_messages").await;
    assert!(
        spooled > 0.0,
        "requests were spooled while cut:\n{}",
        first.log()
    );
    // SIGKILL while the senders are still sending.
    let pid = first.pid();
    let killed_at = load.done();
    let status = first.sigkill();
    let answers = load.stop().await;
    println!(
        "gateway pid {pid} SIGKILLed ({status}) after {killed_at} requests, \
         {spooled} in its spool shortly before"
    );
    drop(first);

    proxy.restore();
    let mut second = GatewayProcess::spawn(&config).await;
    let accepted: HashSet<String> = answers
        .iter()
        .filter(|a| a.status == Ok(200))
        .map(|a| a.id.clone())
        .collect();
    assert!(!accepted.is_empty());
    let seen = collect_ids(&queue.ch, &queue.name, &accepted).await;
    assert_none_lost("gateway SIGKILL", &answers, &seen);
    eventually(
        "second gateway drained the spool",
        Duration::from_secs(30),
        || second.metric("hookgate_spool_messages").map(|v| v == 0.0),
    )
    .await;
    let forwarded = second.metric("hookgate_spool_forwarded_total").await;
    println!("second gateway forwarded {forwarded} spooled messages left by the first");
    assert!(
        forwarded > 0.0,
        "the spool left by the killed gateway was drained by the next one:\n{}",
        second.log()
    );
    let status = second.sigterm(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "SIGTERM exits 0, got {status}:\n{}",
        second.log()
    );
    queue.finish().await;
}
