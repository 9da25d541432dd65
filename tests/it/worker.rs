//! Gateway -> RabbitMQ -> worker -> Salesforce simulator, end to end.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde_json::json;
use sfsim::Fault;

use crate::support::worker::{base, eventually, om_xml, sfid, WorkerEnv, WorkerOpts};
use crate::support::{self, fixture, fixture_headers, sign, Harness, Options, ORG_ID_18};

/// Seeds `n` Accounts and posts them as Outbound Messages of `per_post`
/// Notifications; returns (notification ids, account ids).
pub(crate) async fn post_accounts(
    h: &Harness,
    env: &WorkerEnv,
    n: usize,
    per_post: usize,
) -> (Vec<String>, Vec<String>) {
    let b = base();
    let items: Vec<(String, String)> = (0..n as u64)
        .map(|i| (sfid("04l", b + i), sfid("001", b + i)))
        .collect();
    for (_, a) in &items {
        env.sim.seed("Account", a, serde_json::Map::new());
    }
    for chunk in items.chunks(per_post) {
        let r = h
            .post_om("/salesforce/outbound", om_xml(ORG_ID_18, chunk))
            .await;
        assert_eq!(r.status(), 200);
    }
    items.into_iter().unzip()
}

pub(crate) fn updated(env: &WorkerEnv, accounts: &[String]) -> usize {
    accounts
        .iter()
        .filter(|a| {
            env.sim
                .record("Account", a)
                .is_some_and(|r| r.get("Integration_Status__c") == Some(&json!("Received")))
        })
        .count()
}

/// `hookgate worker` as a process: it writes what it consumes, and a
/// SIGTERM ends it with exit 0, "worker stopped" and no error line after
/// the signal (lapin logged a connection error at every stop while the
/// worker's channels were dropped, not closed, before the connection).
#[tokio::test]
async fn a_worker_process_stops_cleanly_on_sigterm() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let (notes, accounts) = post_accounts(&h, &env, 3, 3).await;
    let mut w = crate::support::gateway::GatewayProcess::spawn_worker(&env.config_path).await;
    eventually(60, "3 records updated", || updated(&env, &accounts) == 3).await;
    let status = w.sigterm(Duration::from_secs(15)).await;
    assert!(status.success(), "exit 0 on SIGTERM: {status}\n{}", w.log());
    w.assert_clean_stop("worker stopped").await;
    // Acked before the channels closed (unacked ones would be back).
    assert_eq!(env.depth(&env.work_queue).await, 0);
    assert_eq!(env.depth(&env.dlq).await, 0);
    env.finish(&notes).await;
    h.finish().await;
}

#[tokio::test]
async fn thousand_notifications_cost_about_five_api_calls() {
    let h = Harness::start().await;
    // All 1,000 are queued before the worker starts, so every batch can fill
    // to 200; a linger longer than the default 200 ms keeps a loaded machine
    // (slow debug-build consumption) from closing batches early: what is
    // tested is the batching, not the linger.
    let env = WorkerEnv::start(
        &h.exchange,
        WorkerOpts {
            batch_linger_ms: 3000,
            ..WorkerOpts::default()
        },
    )
    .await;
    let (notes, accounts) = post_accounts(&h, &env, 1000, 100).await;
    let started = std::time::Instant::now();
    let w = env.worker().await;
    eventually(60, "1000 records updated", || {
        updated(&env, &accounts) == 1000
    })
    .await;
    let took = started.elapsed();
    let calls = env.sim.api_calls();
    println!(
        "1000 Notifications: {calls} API calls, {} token requests, {:.0} records/s",
        env.sim.token_requests(),
        1000.0 / took.as_secs_f64()
    );
    assert!(calls <= 8, "1000 Notifications cost {calls} API calls");
    assert_eq!(env.sim.token_requests(), 1);
    for a in &accounts {
        assert_eq!(env.sim.writes("Account", a), 1);
        let r = env.sim.record("Account", a).unwrap();
        assert!(r
            .get("Last_Synced__c")
            .and_then(|v| v.as_str())
            .is_some_and(|s| s.starts_with("20")));
    }
    eventually(10, "1000 acked", || w.metrics.processed.get() == 1000).await;
    w.shutdown().await;
    assert_eq!(env.depth(&env.work_queue).await, 0);
    assert_eq!(env.depth(&env.dlq).await, 0);
    env.finish(&notes).await;
    h.finish().await;
}

#[tokio::test]
async fn duplicates_and_a_killed_worker_apply_each_effect_once() {
    // Re-sends must reach the queue: no replay cache at the gateway.
    let h = Harness::start_with(Options {
        no_dedupe: true,
        ..Options::default()
    })
    .await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    // Every Outbound Message delivered twice (Salesforce re-sends).
    let b = base();
    let items: Vec<(String, String)> = (0..50u64)
        .map(|i| (sfid("04l", b + i), sfid("001", b + i)))
        .collect();
    for (_, a) in &items {
        env.sim.seed("Account", a, serde_json::Map::new());
    }
    for _ in 0..2 {
        for chunk in items.chunks(25) {
            assert_eq!(
                h.post_om("/salesforce/outbound", om_xml(ORG_ID_18, chunk))
                    .await
                    .status(),
                200
            );
        }
    }
    let accounts: Vec<String> = items.iter().map(|(_, a)| a.clone()).collect();
    let w = env.worker().await;
    eventually(30, "all updated", || updated(&env, &accounts) == 50).await;
    eventually(30, "duplicates acked", || {
        w.metrics.duplicates.get() + w.metrics.processed.get() == 100
    })
    .await;
    w.shutdown().await;
    for a in &accounts {
        assert_eq!(env.sim.writes("Account", a), 1, "{a} written once");
    }

    // The same 50 again: all acked as duplicates by a fresh worker (the
    // idempotency store survives the restart).
    for chunk in items.chunks(25) {
        assert_eq!(
            h.post_om("/salesforce/outbound", om_xml(ORG_ID_18, chunk))
                .await
                .status(),
            200
        );
    }
    let w2 = env.worker().await;
    eventually(30, "redelivered duplicates acked", || {
        w2.metrics.duplicates.get() == 50
    })
    .await;
    w2.shutdown().await;
    for a in &accounts {
        assert_eq!(env.sim.writes("Account", a), 1, "{a} written once");
    }

    // A worker killed before acking: it holds 30 new messages in an open
    // batch (long linger), dies; the broker redelivers them to the next
    // worker, which applies each once.
    let b2 = base() + 500_000;
    let more: Vec<(String, String)> = (0..30u64)
        .map(|i| (sfid("04l", b2 + i), sfid("001", b2 + i)))
        .collect();
    for (_, a) in &more {
        env.sim.seed("Account", a, serde_json::Map::new());
    }
    assert_eq!(
        h.post_om("/salesforce/outbound", om_xml(ORG_ID_18, &more))
            .await
            .status(),
        200
    );
    let slow_text = env
        .config_text
        .replace("batch_linger_ms = 200", "batch_linger_ms = 60000");
    let slow =
        hookgate::config::worker::WorkerConfig::from_toml(&env.config_path, &slow_text).unwrap();
    let doomed = hookgate::worker::start(slow).await.unwrap();
    // The doomed worker holds all 30 deliveries (unacked, lingering).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while env.depth(&env.work_queue).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the doomed worker took nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = env.sim.api_calls();
    doomed.abort().await;
    let w3 = env.worker_after_abort().await;
    let more_accounts: Vec<String> = more.iter().map(|(_, a)| a.clone()).collect();
    eventually(30, "redelivered and applied", || {
        updated(&env, &more_accounts) == 30
    })
    .await;
    w3.shutdown().await;
    assert!(env.sim.api_calls() > calls, "the new worker made the call");
    for a in &more_accounts {
        assert_eq!(
            env.sim.writes("Account", a),
            1,
            "{a} written once after the crash"
        );
    }
    let ids: Vec<String> = items
        .iter()
        .chain(more.iter())
        .map(|(n, _)| n.clone())
        .collect();
    env.finish(&ids).await;
    h.finish().await;
}

#[tokio::test]
async fn two_workers_sharing_redis_never_double_apply() {
    // Re-sends must reach the queue: no replay cache at the gateway.
    let h = Harness::start_with(Options {
        no_dedupe: true,
        ..Options::default()
    })
    .await;
    let env = WorkerEnv::start(
        &h.exchange,
        WorkerOpts {
            redis: true,
            batch_linger_ms: 50,
            ..WorkerOpts::default()
        },
    )
    .await;
    let b = base();
    let items: Vec<(String, String)> = (0..100u64)
        .map(|i| (sfid("04l", b + i), sfid("001", b + i)))
        .collect();
    for (_, a) in &items {
        env.sim.seed("Account", a, serde_json::Map::new());
    }
    let w1 = env.worker().await;
    let w2 = env.worker().await;
    for _ in 0..3 {
        for chunk in items.chunks(10) {
            assert_eq!(
                h.post_om("/salesforce/outbound", om_xml(ORG_ID_18, chunk))
                    .await
                    .status(),
                200
            );
        }
    }
    let accounts: Vec<String> = items.iter().map(|(_, a)| a.clone()).collect();
    eventually(60, "all updated", || updated(&env, &accounts) == 100).await;
    eventually(60, "every copy settled", || {
        let m = [&w1.metrics, &w2.metrics];
        m.iter()
            .map(|m| m.processed.get() + m.duplicates.get())
            .sum::<u64>()
            == 300
    })
    .await;
    for a in &accounts {
        assert_eq!(
            env.sim.writes("Account", a),
            1,
            "{a} written once across two workers"
        );
    }
    w1.shutdown().await;
    w2.shutdown().await;
    let ids: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
    env.finish(&ids).await;
    h.finish().await;
}

#[tokio::test]
async fn transient_faults_end_processed_with_nothing_dead_lettered() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(
        &h.exchange,
        WorkerOpts {
            max_attempts: 10,
            batch_linger_ms: 50,
            ..WorkerOpts::default()
        },
    )
    .await;
    env.sim.inject(Fault::TransientRatio {
        ratio: 0.2,
        seed: 7,
    });
    env.sim.inject(Fault::LockRow { count: 5 });
    let (notes, accounts) = post_accounts(&h, &env, 300, 20).await;
    let w = env.worker().await;
    eventually(90, "all updated despite faults", || {
        updated(&env, &accounts) == 300
    })
    .await;
    assert!(w.metrics.retried.get() > 0, "faults caused retries");
    w.shutdown().await;
    assert_eq!(env.depth(&env.dlq).await, 0, "nothing dead-lettered");
    for a in &accounts {
        assert_eq!(env.sim.writes("Account", a), 1);
    }
    env.finish(&notes).await;
    h.finish().await;
}

#[tokio::test]
async fn permanent_errors_dead_letter_only_that_message_with_the_reason() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let b = base();
    let items: Vec<(String, String)> = (0..10u64)
        .map(|i| (sfid("04l", b + i), sfid("001", b + i)))
        .collect();
    for (_, a) in &items {
        env.sim.seed("Account", a, serde_json::Map::new());
    }
    let bad = items[3].1.clone();
    env.sim.inject(Fault::RejectRecord {
        key: bad.clone(),
        status_code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
        message: "Integration status cannot change".into(),
        fields: vec!["Integration_Status__c".into()],
    });
    assert_eq!(
        h.post_om("/salesforce/outbound", om_xml(ORG_ID_18, &items))
            .await
            .status(),
        200
    );
    // A message no action matches, and a Stripe event without amount_paid.
    env.channel
        .basic_publish(
            ShortString::from(h.exchange.as_str()),
            ShortString::from("github.push"),
            BasicPublishOptions::default(),
            b"{}",
            BasicProperties::default().with_message_id(ShortString::from(format!("unmatched-{b}"))),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let stripe =
        br#"{"id":"evt_no_amount","type":"invoice.paid","data":{"object":{"id":"in_no_amount"}}}"#
            .to_vec();
    let headers = sign::stripe(
        support::STRIPE_SECRET,
        &stripe,
        support::now(),
        vec![("Content-Type".into(), "application/json".into())],
    );
    assert_eq!(
        h.post("/hooks/stripe", &headers, stripe).await.status(),
        200
    );

    let w = env.worker().await;
    let accounts: Vec<String> = items.iter().map(|(_, a)| a.clone()).collect();
    eventually(30, "9 updated", || updated(&env, &accounts) == 9).await;
    eventually(30, "3 dead-lettered", || {
        w.metrics.unmatched.get() == 1 && w.metrics.processed.get() == 9
    })
    .await;
    w.shutdown().await;
    let mut dead = env.take_dead().await;
    dead.sort();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(dead[0].0, "github.push");
    assert_eq!(dead[0].1, "unmatched");
    assert_eq!(dead[1].0, "salesforce.Account");
    assert!(
        dead[1]
            .1
            .starts_with("FIELD_CUSTOM_VALIDATION_EXCEPTION: Integration status cannot change"),
        "{}",
        dead[1].1
    );
    assert_eq!(dead[2].0, "stripe.invoice.paid");
    assert!(
        dead[2]
            .1
            .starts_with("malformed: missing /data/object/amount_paid"),
        "{}",
        dead[2].1
    );
    assert_eq!(env.sim.writes("Account", &bad), 0);
    let ids: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
    env.finish(&ids).await;
    h.finish().await;
}

/// A dead letter is acked in its work queue only after the dead-letter
/// queue confirmed it. With that queue deleted under the running worker, the
/// dead-letter publish is returned: the original stays unacked, the worker
/// gives its connection up and reconnects (declaring the queue again), and
/// the redelivered original ends in the dead-letter queue, once.
#[tokio::test]
async fn a_refused_dead_letter_keeps_the_original_until_one_is_confirmed() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let w = env.worker().await;
    eventually(30, "worker consuming", || {
        w.metrics.amqp_connected.get() == 1
    })
    .await;
    env.channel
        .queue_delete(
            ShortString::from(env.dlq.as_str()),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    let id = format!("unmatched-{}", base());
    env.channel
        .basic_publish(
            ShortString::from(h.exchange.as_str()),
            ShortString::from("github.push"),
            BasicPublishOptions::default(),
            b"{}",
            BasicProperties::default().with_message_id(ShortString::from(id.as_str())),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env.try_depth(&env.dlq).await != Some(1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Handled twice: refused once, then confirmed.
    assert_eq!(w.metrics.unmatched.get(), 2);
    // The refused publish ended the session once (counted by cause).
    assert!(
        w.metrics
            .encode()
            .contains("hookgate_worker_sessions_ended_total{reason=\"publish\"} 1\n"),
        "{}",
        w.metrics.encode()
    );
    w.shutdown().await;
    assert_eq!(
        env.depth(&env.work_queue).await,
        0,
        "the original left its work queue"
    );
    let dead = env.take_dead().await;
    assert_eq!(dead, [("github.push".to_owned(), "unmatched".to_owned())]);
    env.finish(&[id]).await;
    h.finish().await;
}

#[tokio::test]
async fn stripe_event_upserts_payment_by_external_id() {
    // Re-sends must reach the queue: no replay cache at the gateway.
    let h = Harness::start_with(Options {
        no_dedupe: true,
        ..Options::default()
    })
    .await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let body = fixture("stripe/invoice.paid.json");
    let headers = sign::stripe(
        support::STRIPE_SECRET,
        &body,
        support::now(),
        fixture_headers("stripe/invoice.paid.json"),
    );
    assert_eq!(
        h.post("/hooks/stripe", &headers, body.clone())
            .await
            .status(),
        200
    );
    assert_eq!(h.post("/hooks/stripe", &headers, body).await.status(), 200);
    let w = env.worker().await;
    eventually(30, "payment upserted", || {
        env.sim
            .record_by_external_id("Payment__c", "Stripe_Id__c", "in_1QxYzAB2cDeFgHiJ3kLmNoPq")
            .is_some()
    })
    .await;
    eventually(30, "duplicate acked", || w.metrics.duplicates.get() == 1).await;
    let (id, rec) = env
        .sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "in_1QxYzAB2cDeFgHiJ3kLmNoPq")
        .unwrap();
    assert_eq!(rec.get("Amount__c"), Some(&json!(12000)));
    assert_eq!(env.sim.writes("Payment__c", &id), 1);
    w.shutdown().await;
    env.finish(&["evt_1QxYzBB2cDeFgHiJa1B2c3D4".to_string()])
        .await;
    h.finish().await;
}

#[tokio::test]
async fn token_expiry_mid_run_refreshes_once_and_loses_nothing() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let (n1, a1) = post_accounts(&h, &env, 50, 50).await;
    let w = env.worker().await;
    eventually(30, "first batch", || updated(&env, &a1) == 50).await;
    env.sim.inject(Fault::ExpireTokens);
    let (n2, a2) = post_accounts(&h, &env, 50, 50).await;
    eventually(30, "second batch after expiry", || updated(&env, &a2) == 50).await;
    assert_eq!(env.sim.token_requests(), 2, "one refresh");
    eventually(10, "100 acked", || w.metrics.processed.get() == 100).await;
    w.shutdown().await;
    assert_eq!(env.depth(&env.dlq).await, 0);
    env.finish(&[n1, n2].concat()).await;
    h.finish().await;
}

#[tokio::test]
async fn api_budget_over_threshold_pauses_consumption() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(
        &h.exchange,
        WorkerOpts {
            budget_pause_s: 2,
            batch_linger_ms: 50,
            daily_limit: 1000,
            ..WorkerOpts::default()
        },
    )
    .await;
    env.sim.set_usage(950);
    let (n1, a1) = post_accounts(&h, &env, 10, 10).await;
    let w = env.worker().await;
    // The first call reads usage 951/1000 > 0.9.
    eventually(30, "first batch", || updated(&env, &a1) == 10).await;
    let (n2, a2) = post_accounts(&h, &env, 10, 10).await;
    eventually(10, "paused", || w.metrics.paused("budget") == 1).await;
    let calls = env.sim.api_calls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.sim.api_calls(), calls, "no call while paused");
    env.sim.set_usage(10);
    eventually(30, "resumed after the pause", || updated(&env, &a2) == 10).await;
    assert_eq!(w.metrics.paused("budget"), 0);
    w.shutdown().await;
    env.finish(&[n1, n2].concat()).await;
    h.finish().await;
}

#[tokio::test]
async fn dlq_list_replay_purge_commands() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    for i in 0..3 {
        env.channel
            .basic_publish(
                ShortString::from(h.exchange.as_str()),
                ShortString::from("nobody.handles.this"),
                BasicPublishOptions::default(),
                b"{}",
                BasicProperties::default()
                    .with_message_id(ShortString::from(format!("dlq-cmd-{i}"))),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let w = env.worker().await;
    eventually(30, "3 unmatched", || w.metrics.unmatched.get() == 3).await;
    w.shutdown().await;
    let bin = env!("CARGO_BIN_EXE_hookgate");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(&env.config_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let list = run(&["dlq", "list"]);
    assert!(list.contains("3 messages"), "{list}");
    assert!(list.contains("unmatched"), "{list}");
    let replay = run(&["dlq", "replay"]);
    assert!(replay.contains("replayed 3"), "{replay}");
    assert_eq!(env.depth(&env.dlq).await, 0);
    assert_eq!(env.depth(&env.work_queue).await, 3);
    // The worker dead-letters them again; purge empties the queue.
    let w = env.worker().await;
    eventually(30, "unmatched again", || w.metrics.unmatched.get() == 3).await;
    w.shutdown().await;
    let purge = run(&["dlq", "purge"]);
    assert!(purge.contains("purged 3"), "{purge}");
    assert_eq!(env.depth(&env.dlq).await, 0);
    env.finish(&[]).await;
    h.finish().await;
}

/// The worker keys idempotency the way the gateway's replay cache does
/// (route + id): one Notification Id arriving on two routes (two orgs' Id
/// sequences, or a forged Id guessed from another route) is two effects,
/// and neither suppresses the other.
#[tokio::test]
async fn one_message_id_on_two_routes_applies_both() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(
        &h.exchange,
        WorkerOpts {
            batch_linger_ms: 50,
            ..WorkerOpts::default()
        },
    )
    .await;
    let b = base();
    let id = sfid("04l", b);
    let accounts = [sfid("001", b), sfid("001", b + 1)];
    for a in &accounts {
        env.sim.seed("Account", a, serde_json::Map::new());
    }
    // As the gateway publishes them (src/envelope.rs), from two routes.
    for (route, account) in [
        ("salesforce", &accounts[0]),
        ("salesforce_eu", &accounts[1]),
    ] {
        let body = json!({
            "organization_id": ORG_ID_18,
            "action_id": "04kHs000000GmaBIAS",
            "notification_id": id,
            "sobject_type": "Account",
            "sobject": { "Id": account },
            "enterprise_url": null,
            "partner_url": null,
        })
        .to_string();
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from(hookgate::envelope::ROUTE_HEADER),
            AMQPValue::LongString(LongString::from(route)),
        );
        env.channel
            .basic_publish(
                ShortString::from(h.exchange.as_str()),
                ShortString::from("salesforce.Account"),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default()
                    .with_message_id(ShortString::from(id.as_str()))
                    .with_headers(headers),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let w = env.worker().await;
    eventually(30, "both messages settled", || {
        w.metrics.processed.get() + w.metrics.duplicates.get() == 2
    })
    .await;
    let duplicates = w.metrics.duplicates.get();
    w.shutdown().await;
    for (route, a) in ["salesforce", "salesforce_eu"].iter().zip(&accounts) {
        assert_eq!(
            env.sim.writes("Account", a),
            1,
            "{a} (route {route}) written once"
        );
    }
    assert_eq!(duplicates, 0, "neither was acked as a duplicate");
    env.finish(&[]).await;
    h.finish().await;
}

/// A worker killed after Salesforce applied its call but before the answer
/// came back (so before the done marks and the acks): the messages are
/// redelivered and the next worker sends the same records again. Nothing is
/// lost or dead-lettered, and since a write carries only the message's own
/// values (`{received_at}` is the gateway's time, not the worker's), the
/// second write leaves each record exactly as the first did: the API is
/// at-least-once across a crash, the effect is the same (docs/workers.md).
#[tokio::test]
async fn a_worker_killed_between_the_write_and_the_done_mark_repeats_an_identical_write() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let w = env.worker().await;
    eventually(20, "consuming", || w.metrics.amqp_connected.get() == 1).await;
    // The call is applied at once, its answer comes 30 s later.
    env.sim.inject(Fault::Slow {
        delay: Duration::from_secs(30),
        count: 1,
    });
    let (ids, accounts) = post_accounts(&h, &env, 20, 20).await;
    eventually(20, "the call applied", || updated(&env, &accounts) == 20).await;
    let first: Vec<_> = accounts
        .iter()
        .map(|a| env.sim.record("Account", a))
        .collect();
    assert_eq!(w.metrics.processed.get(), 0, "no done mark, no ack yet");
    w.abort().await;

    let w2 = env.worker_after_abort().await;
    eventually(30, "redelivered and acked", || {
        w2.metrics.processed.get() == 20
    })
    .await;
    w2.shutdown().await;
    for (a, before) in accounts.iter().zip(first) {
        assert_eq!(
            env.sim.writes("Account", a),
            2,
            "{a}: the call was repeated"
        );
        assert_eq!(env.sim.record("Account", a), before, "{a}: same values");
    }
    assert_eq!(env.depth(&env.dlq).await, 0, "nothing dead-lettered");
    env.finish(&ids).await;
    h.finish().await;
}
