//! The spool: every request answered 2xx reaches RabbitMQ, across a cut or
//! stalled broker connection, a full spool and a restart.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate::broker::Status;

use crate::support::{self, fixture, fixture_headers, proxy::Proxy, sign, Harness, Options};

mod quarantine;

const BROKER: &str = "127.0.0.1:5672";

/// A GitHub push signed with a fresh delivery id; returns (id, headers, body).
fn delivery(n: usize) -> (String, Vec<(String, String)>, Vec<u8>) {
    delivery_of(n, "push")
}

/// A GitHub delivery of `event` (routing key `github.<event>`), signed, with
/// a fresh delivery id; returns (id, headers, body).
fn delivery_of(n: usize, event: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    let body = fixture("github/push.json");
    let id = format!("spool-test-{}-{n}", support::unique());
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case("x-github-delivery") && !k.eq_ignore_ascii_case("x-github-event")
    });
    headers.push(("X-GitHub-Delivery".into(), id.clone()));
    headers.push(("X-GitHub-Event".into(), event.into()));
    (
        id,
        sign::github(support::GITHUB_SECRET, &body, headers),
        body,
    )
}

async fn wait_spool_empty(h: &Harness) {
    let spool = h.running().spool.clone().expect("spool enabled");
    let deadline = Instant::now() + Duration::from_secs(30);
    while spool.status().messages > 0 {
        assert!(
            Instant::now() < deadline,
            "spool not drained: {:?}",
            spool.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn proxied(opts: Options) -> (Proxy, Harness) {
    let proxy = Proxy::start(BROKER.parse::<SocketAddr>().unwrap()).await;
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr)),
        ..opts
    })
    .await;
    (proxy, h)
}

#[tokio::test]
async fn broker_cut_under_load_every_2xx_reaches_the_queue() {
    let (proxy, h) = proxied(Options {
        spool_after_ms: Some(300),
        ..Options::default()
    })
    .await;
    let h = Arc::new(h);
    let proxy = Arc::new(proxy);
    let done = Arc::new(AtomicUsize::new(0));
    const TASKS: usize = 8;
    const PER_TASK: usize = 40;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let h = h.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..PER_TASK {
                let (id, headers, body) = delivery(t * 1000 + i);
                let status = h.post("/hooks/github", &headers, body).await.status();
                answers.push((id, status.as_u16()));
                done.fetch_add(1, Ordering::SeqCst);
            }
            answers
        }));
    }
    // Cut the broker a quarter of the way in, restore it at three quarters.
    let total = TASKS * PER_TASK;
    while done.load(Ordering::SeqCst) < total / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    h.wait_status(Status::Disconnected).await;
    while done.load(Ordering::SeqCst) < total * 3 / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.restore();

    let mut accepted = HashSet::new();
    for t in tasks {
        for (id, status) in t.await.unwrap() {
            assert_eq!(status, 200, "with a spool every request is accepted");
            accepted.insert(id);
        }
    }
    assert_eq!(accepted.len(), total);
    let seen = h.take_ids(total).await;
    let missing: Vec<_> = accepted
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    wait_spool_empty(&h).await;
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(
        metric(&metrics, "hookgate_spool_writes_total") > 0.0,
        "the cut made us spool"
    );
    assert_eq!(
        metric(&metrics, "hookgate_spool_writes_total"),
        metric(&metrics, "hookgate_spool_forwarded_total")
    );
    assert_eq!(metric(&metrics, "hookgate_spool_messages"), 0.0);
    Arc::try_unwrap(h).ok().expect("sole owner").finish().await;
}

#[tokio::test]
async fn stalled_broker_requests_are_spooled_within_after_ms() {
    let (proxy, h) = proxied(Options {
        spool_after_ms: Some(500),
        ..Options::default()
    })
    .await;
    proxy.blackhole();
    let mut ids = Vec::new();
    for n in 0..5 {
        let (id, headers, body) = delivery(n);
        let started = Instant::now();
        let status = h.post("/hooks/github", &headers, body).await.status();
        let took = started.elapsed();
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_millis(2500),
            "answered in {took:?}, not hung"
        );
        ids.push(id);
    }
    let spool = h.running().spool.clone().unwrap();
    assert!(
        spool.status().messages >= 1,
        "stalled publishes went to the spool"
    );
    let (status, _) = h.admin_get("/readyz").await;
    assert_eq!(status, 200, "ready while the spool can take messages");
    proxy.restore();
    let seen = h.take_ids(ids.len()).await;
    for id in &ids {
        assert!(seen.contains_key(id), "lost {id}");
    }
    wait_spool_empty(&h).await;
    h.finish().await;
}

/// Two copies of one delivery in flight at once (a sender's retry while
/// the first is still being stored; here a stalled broker holds it for
/// `spool.after_ms`) are stored once: the second waits for the first's
/// outcome and is answered as its duplicate, and the queue gets one copy.
#[tokio::test]
async fn a_copy_arriving_while_the_first_is_stored_is_not_stored_again() {
    let (proxy, h) = proxied(Options {
        spool_after_ms: Some(1000),
        ..Options::default()
    })
    .await;
    proxy.blackhole();
    let (id, headers, body) = delivery(0);
    let (a, b) = tokio::join!(
        h.post("/hooks/github", &headers, body.clone()),
        h.post("/hooks/github", &headers, body),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (_, metrics) = h.admin_get("/metrics").await;
    let duplicates = support::metric_value(
        &metrics,
        r#"hookgate_duplicates_total{route="github",outcome="duplicate"}"#,
    );
    assert_eq!(duplicates, Some(1.0), "the second copy is a duplicate");
    let waits = support::metric_value(
        &metrics,
        r#"hookgate_replay_claim_waits_total{route="github"}"#,
    );
    assert_eq!(waits, Some(1.0), "the second copy waited for the first");
    assert_eq!(metric(&metrics, "hookgate_spool_writes_total"), 1.0);
    proxy.restore();
    wait_spool_empty(&h).await;
    let (_, metrics) = h.admin_get("/metrics").await;
    assert_eq!(metric(&metrics, "hookgate_spool_forwarded_total"), 1.0);
    assert_eq!(h.drain().await, [id], "one copy in the queue");
    h.finish().await;
}

#[tokio::test]
async fn full_spool_answers_503_and_keeps_what_it_accepted() {
    let (proxy, h) = proxied(Options {
        spool_max_messages: Some(5),
        ..Options::default()
    })
    .await;
    proxy.cut();
    h.wait_status(Status::Disconnected).await;
    let mut accepted = Vec::new();
    for n in 0..5 {
        let (id, headers, body) = delivery(n);
        assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
        accepted.push(id);
    }
    let (_, headers, body) = delivery(99);
    let r = h.post("/hooks/github", &headers, body).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let r = h
        .post_om("/salesforce/outbound", fixture("salesforce/om_1.xml"))
        .await;
    crate::salesforce::assert_fault(r, "soapenv:Server").await;
    assert_eq!(
        h.admin_get("/readyz").await.0,
        503,
        "neither broker nor spool"
    );
    let (_, metrics) = h.admin_get("/metrics").await;
    assert_eq!(metric(&metrics, "hookgate_spool_messages"), 5.0);
    assert!(metric(&metrics, "hookgate_spool_full_total") >= 2.0);

    proxy.restore();
    let seen = h.take_ids(5).await;
    for id in &accepted {
        assert!(seen.contains_key(id), "lost {id}");
    }
    wait_spool_empty(&h).await;
    h.assert_empty().await;
    h.finish().await;
}

/// A config file for the binary, sharing a spool file and an exchange;
/// `spool_extra` is added to its `[spool]` table.
fn cli_config(
    dir: &std::path::Path,
    exchange: &str,
    spool: &std::path::Path,
    spool_extra: &str,
) -> std::path::PathBuf {
    let secret = dir.join("gh.secret");
    std::fs::write(&secret, support::GITHUB_SECRET).unwrap();
    let path = dir.join("cli.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
plaintext = true
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[amqp]
url = "{}"
exchange = "{exchange}"
[spool]
path = "{}"
{spool_extra}
[[routes]]
path = "/hooks/github"
kind = "github"
secrets = [{{ file = "{}" }}]
"#,
            support::AMQP_URL,
            spool.display(),
            secret.display()
        ),
    )
    .unwrap();
    path
}

/// Spools 3 deliveries with the broker unreachable, then stops the gateway.
async fn spool_three(spool_path: &std::path::Path) -> Vec<String> {
    spool_deliveries(spool_path, 3, "push").await
}

/// Spools `n` deliveries of `event` with the broker unreachable, then stops
/// the gateway; returns their ids.
async fn spool_deliveries(spool_path: &std::path::Path, n: usize, event: &str) -> Vec<String> {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@127.0.0.1:{port}/%2f")),
        no_wait: true,
        spool_path: Some(spool_path.to_path_buf()),
        ..Options::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..n {
        let (id, headers, body) = delivery_of(i, event);
        assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
        ids.push(id);
    }
    h.assert_empty().await;
    h.finish().await;
    ids
}

#[tokio::test]
async fn spool_left_by_a_previous_run_is_drained_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let spool_path = dir.path().join("spool.redb");
    let ids = spool_three(&spool_path).await;

    let h = Harness::start_with(Options {
        spool_path: Some(spool_path),
        ..Options::default()
    })
    .await;
    let seen = h.take_ids(3).await;
    for id in &ids {
        assert!(seen.contains_key(id), "lost {id}");
    }
    wait_spool_empty(&h).await;
    h.finish().await;
}

#[tokio::test]
async fn spool_status_and_drain_commands() {
    let dir = tempfile::tempdir().unwrap();
    let spool_path = dir.path().join("spool.redb");
    let ids = spool_three(&spool_path).await;

    // A gateway without a spool only to bind a test queue to an exchange.
    let h = Harness::start_with(Options {
        no_spool: true,
        ..Options::default()
    })
    .await;
    let cfg = cli_config(dir.path(), &h.exchange, &spool_path, "");
    let bin = env!("CARGO_BIN_EXE_hookgate");
    let out = std::process::Command::new(bin)
        .args(["spool", "status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("messages: 3"), "{stdout}");

    let out = std::process::Command::new(bin)
        .args(["spool", "drain", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("forwarded 3 of 3"), "{stdout}");
    let msgs = h.take(3).await;
    let got: HashSet<String> = msgs
        .iter()
        .map(|m| {
            m.delivery
                .properties
                .message_id()
                .as_ref()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(got, ids.into_iter().collect());
    // The body and properties survive the round trip through the spool.
    assert_eq!(msgs[0].delivery.data, fixture("github/push.json"));
    assert_eq!(msgs[0].delivery.routing_key.as_str(), "github.push");
    assert_eq!(msgs[0].delivery.properties.delivery_mode(), &Some(2));
    assert_eq!(
        support::header(&msgs[0], "x-hookgate-route").as_deref(),
        Some("github")
    );
    h.finish().await;
}
