//! The quarantine against the real broker: entries RabbitMQ refuses (a
//! nack from a queue that rejects every publish) end there after
//! `spool.quarantine_after` attempts while the rest drain; the CLI lists,
//! requeues and purges them.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hookgate::broker::Status;
use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use super::{cli_config, delivery_of, metric, proxied, spool_deliveries};
use crate::support::{Harness, Options};

/// The routing key of the refused deliveries (event `refused`).
const REFUSED_KEY: &str = "github.refused";

/// Makes RabbitMQ nack every message routed with `routing_key` on the
/// harness's exchange: a queue bound to it that holds nothing and rejects
/// publishes (`x-max-length = 0`, `x-overflow = reject-publish`; with
/// publisher confirms the broker answers basic.nack). Exclusive to the
/// harness's connection; returns its name.
async fn refuse(h: &Harness, routing_key: &str) -> String {
    let name = format!("{}.refuse", h.queue);
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-max-length"), AMQPValue::LongInt(0));
    args.insert(
        ShortString::from("x-overflow"),
        AMQPValue::LongString(LongString::from("reject-publish")),
    );
    let ch = h.amqp_channel();
    ch.queue_declare(
        ShortString::from(name.as_str()),
        QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        },
        args,
    )
    .await
    .expect("declare the refusing queue");
    ch.queue_bind(
        ShortString::from(name.as_str()),
        ShortString::from(h.exchange.as_str()),
        ShortString::from(routing_key),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind the refusing queue");
    name
}

/// Binds the test queue with `key` instead of `#` (so refused messages are
/// not also delivered to it).
async fn bind_test_queue(h: &Harness, key: &str) {
    let ch = h.amqp_channel();
    let (queue, exchange) = (h.queue.as_str(), h.exchange.as_str());
    ch.queue_unbind(
        ShortString::from(queue),
        ShortString::from(exchange),
        ShortString::from("#"),
        FieldTable::default(),
    )
    .await
    .expect("unbind #");
    ch.queue_bind(
        ShortString::from(queue),
        ShortString::from(exchange),
        ShortString::from(key),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
}

#[tokio::test]
async fn refused_entries_are_quarantined_and_the_rest_reach_the_queue() {
    let (proxy, h) = proxied(Options {
        spool_quarantine_after: Some(2),
        ..Options::default()
    })
    .await;
    refuse(&h, REFUSED_KEY).await;
    bind_test_queue(&h, "github.push").await;
    proxy.cut();
    h.wait_status(Status::Disconnected).await;

    // A full forwarding batch of refused entries first (oldest), then good
    // ones: every round holds only one kind.
    let refused = hookgate::outbox::spool::BATCH;
    let mut posts = tokio::task::JoinSet::new();
    let h = std::sync::Arc::new(h);
    for t in 0..8 {
        let h = h.clone();
        posts.spawn(async move {
            for i in (t..refused).step_by(8) {
                let (_, headers, body) = delivery_of(i, "refused");
                assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
            }
        });
    }
    while let Some(r) = posts.join_next().await {
        r.unwrap();
    }
    let mut good = Vec::new();
    for i in 0..5 {
        let (id, headers, body) = delivery_of(i, "push");
        assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
        good.push(id);
    }
    let spool = h.running().spool.clone().expect("spool enabled");
    assert_eq!(spool.status().messages, refused as u64 + 5);

    proxy.restore();
    let seen = h.take_ids(good.len()).await;
    for id in &good {
        assert!(seen.contains_key(id), "lost {id}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while spool.status().quarantined < refused as u64 || spool.status().messages > 0 {
        assert!(Instant::now() < deadline, "{:?}", spool.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = spool.status();
    assert_eq!((status.messages, status.quarantined), (0, refused as u64));
    for q in spool.quarantined().unwrap() {
        assert_eq!(q.routing_key, REFUSED_KEY);
        assert_eq!(q.attempts, 2);
        assert_eq!(q.last_error, "broker nacked the message");
    }
    let (_, metrics) = h.admin_get("/metrics").await;
    assert_eq!(
        metric(&metrics, "hookgate_spool_quarantined"),
        refused as f64
    );
    assert_eq!(
        metric(&metrics, "hookgate_spool_quarantined_entries_total"),
        refused as f64
    );
    assert_eq!(metric(&metrics, "hookgate_spool_messages"), 0.0);
    assert_eq!(metric(&metrics, "hookgate_spool_forwarded_total"), 5.0);
    assert_eq!(h.admin_get("/readyz").await.0, 200);
    h.assert_empty().await;
    std::sync::Arc::try_unwrap(h)
        .ok()
        .expect("sole owner")
        .finish()
        .await;
}

/// Runs `hookgate spool ARGS --config CFG`.
fn spool_cmd(args: &[&str], cfg: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .arg("spool")
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .expect("run hookgate")
}

/// Runs it and expects success; returns stdout.
fn spool_ok(args: &[&str], cfg: &std::path::Path) -> String {
    let out = spool_cmd(args, cfg);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn quarantine_list_requeue_and_purge_commands() {
    let dir = tempfile::tempdir().unwrap();
    let spool_path = dir.path().join("spool.redb");
    let ids = spool_deliveries(&spool_path, 3, "refused").await;

    // A gateway without a spool only for an exchange, a test queue and the
    // refusing queue; `spool drain` quarantines at the first refusal.
    let h = Harness::start_with(Options {
        no_spool: true,
        ..Options::default()
    })
    .await;
    let refusing = refuse(&h, REFUSED_KEY).await;
    bind_test_queue(&h, "github.push").await;
    let cfg = cli_config(dir.path(), &h.exchange, &spool_path, "quarantine_after = 1");
    let out = spool_ok(&["drain"], &cfg);
    assert!(
        out.contains("forwarded 0 of 3 spooled messages; 3 quarantined; 0 left"),
        "{out}"
    );
    let out = spool_ok(&["status"], &cfg);
    assert!(out.contains("messages: 0\n"), "{out}");
    assert!(out.contains("quarantined: 3\n"), "{out}");

    let out = spool_ok(&["quarantine", "list"], &cfg);
    assert_eq!(out.lines().count(), 3, "{out}");
    for id in &ids {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("message_id={id} ")))
            .unwrap_or_else(|| panic!("{id} not listed: {out}"));
        assert!(line.contains(" routing_key=github.refused "), "{line}");
        assert!(line.contains(" attempts=1 "), "{line}");
        assert!(
            line.contains(" last_error=\"broker nacked the message\" "),
            "{line}"
        );
    }
    let json = spool_ok(&["quarantine", "list", "--json"], &cfg);
    let entries: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(entries.len(), 3);
    let first = entries
        .iter()
        .find(|e| e["message_id"] == ids[0].as_str())
        .expect("listed");
    assert_eq!(first["attempts"], 1);
    assert!(first["size"].as_u64().unwrap() > 0);
    let key = first["key"].as_str().expect("key text").to_owned();

    // A selection is required; an unknown key changes nothing.
    let out = spool_cmd(&["quarantine", "purge"], &cfg);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    let out = spool_cmd(&["quarantine", "requeue", "1-1"], &cfg);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1-1 is not in the quarantine"), "{stderr}");

    let out = spool_ok(&["quarantine", "requeue", &key], &cfg);
    assert!(out.contains("requeued 1 entries"), "{out}");
    let out = spool_ok(&["status"], &cfg);
    assert!(out.contains("messages: 1\n"), "{out}");
    assert!(out.contains("quarantined: 2\n"), "{out}");

    // The broker takes it now: the requeued entry drains to the queue.
    h.amqp_channel()
        .queue_delete(
            ShortString::from(refusing.as_str()),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    bind_test_queue(&h, "#").await;
    let out = spool_ok(&["drain"], &cfg);
    assert!(out.contains("forwarded 1 of 1"), "{out}");
    let msgs = h.take(1).await;
    assert_eq!(crate::support::message_id(&msgs[0]), ids[0]);

    let out = spool_ok(&["quarantine", "purge", "--all"], &cfg);
    assert!(out.contains("purged 2 entries"), "{out}");
    let out = spool_ok(&["status"], &cfg);
    assert!(out.contains("quarantined: 0\n"), "{out}");
    assert_eq!(spool_ok(&["quarantine", "list"], &cfg), "");
    h.finish().await;
}
