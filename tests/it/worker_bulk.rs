//! Bulk API 2.0 for backlogs (issue #16): a backlog of one key goes through
//! one ingest job in a handful of calls, each record written once; the rows
//! a job refuses are dead-lettered with their `sf__Error`; a worker killed
//! after the upload resumes the same job; a failed or aborted job's
//! unprocessed rows are retried and written once; below the threshold (or
//! spread over keys) the collections path is used unchanged.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde_json::{json, Value};
use sfsim::{Fault, SimConfig};

use crate::support::worker::{base, eventually, WorkerEnv, WorkerOpts};

/// A worker env on an exchange of its own, with `[worker.bulk]` `bulk`.
async fn env_with(bulk: &str, tune: Option<fn(&mut SimConfig)>) -> (WorkerEnv, String) {
    env_lingering(bulk, tune, WorkerOpts::default().batch_linger_ms).await
}

/// [`env_with`] with `batch_linger_ms` = `linger_ms`.
async fn env_lingering(
    bulk: &str,
    tune: Option<fn(&mut SimConfig)>,
    linger_ms: u64,
) -> (WorkerEnv, String) {
    let exchange = crate::support::worker::topic_exchange().await;
    let env = WorkerEnv::start(
        &exchange,
        WorkerOpts {
            // A gathering batch waits 3 s for the next message (1 s by
            // default): a loaded test machine does not cut a backlog in two.
            bulk: Some(if bulk.contains("gather_linger_ms") {
                bulk.to_owned()
            } else {
                format!("gather_linger_ms = 3000\n{bulk}")
            }),
            tune_sim: tune,
            batch_linger_ms: linger_ms,
            ..WorkerOpts::default()
        },
    )
    .await;
    let mut env = env;
    env.exchanges.push(exchange.clone());
    (env, exchange)
}

async fn finish(env: WorkerEnv, exchange: &str) {
    crate::support::delete_exchange(exchange).await;
    env.finish(&[]).await;
}

/// Publishes `n` `stripe.invoice.paid` events (`in_<b>_<i>`, one record
/// each) and waits until the work queue holds them all.
async fn publish_invoices(env: &WorkerEnv, exchange: &str, b: u64, n: u64) {
    publish_with(env, exchange, "stripe.invoice.paid", n, true, |i| {
        (
            format!("evt_{b}_{i}"),
            json!({"data": {"object": {"id": format!("in_{b}_{i}"), "amount_paid": 1000 + i}}}),
        )
    })
    .await;
}

/// Publishes `n` events `event(i)` with routing key `key`; with `queued`,
/// waits until the work queue holds them (no worker running).
async fn publish_with(
    env: &WorkerEnv,
    exchange: &str,
    key: &str,
    n: u64,
    queued: bool,
    event: impl Fn(u64) -> (String, Value),
) {
    let before = env.depth(&env.work_queue).await;
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(hookgate::envelope::RECEIVED_AT_HEADER),
        AMQPValue::LongString(LongString::from("2026-12-06T01:00:00Z")),
    );
    for i in 0..n {
        let (id, body) = event(i);
        let _confirm = env
            .channel
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(key),
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                BasicProperties::default()
                    .with_message_id(ShortString::from(id.as_str()))
                    .with_headers(headers.clone()),
            )
            .await
            .unwrap();
    }
    if !queued {
        return;
    }
    let want = before + n as u32;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while env.depth(&env.work_queue).await < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the work queue never held {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls of `kind` in the simulator's summary.
fn calls(summary: &Value, kind: &str) -> u64 {
    summary["calls"][kind]["total"].as_u64().unwrap_or(0)
}

/// API calls spent writing: every call but the token, versions and
/// describe ones.
fn write_calls(summary: &Value) -> u64 {
    summary["calls"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "token" | "versions" | "describe"))
                .map(|(_, v)| v["total"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// Waits until the work queue and its retry queues are empty and nothing
/// is unacked (the worker acked everything).
async fn drained(env: &WorkerEnv, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let mut total = 0;
        for q in [
            env.work_queue.clone(),
            hookgate::worker::consume::retry_queue(&env.work_queue, 1),
            hookgate::worker::consume::retry_queue(&env.work_queue, 2),
        ] {
            total += env.try_depth(&q).await.unwrap_or(0);
        }
        if total == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{total} messages still queued"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts every one of `n` invoices of run `b` was written exactly once.
fn each_once(env: &WorkerEnv, n: u64) {
    let s = env.sim.summary(false);
    assert_eq!(s["records_written"], json!(n), "{s}");
    assert_eq!(s["writes_total"], json!(n), "{s}");
    assert_eq!(s["written_more_than_once"], json!([]), "{s}");
}

/// Writes a backlog of `n` invoices with `[worker.bulk]` `bulk` and
/// `batch_linger_ms` = `linger_ms`; returns the simulator's summary and the
/// seconds from the worker's start to the last record written.
async fn backlog(n: u64, bulk: &str, linger_ms: u64) -> (Value, f64) {
    let (env, exchange) = env_lingering(bulk, None, linger_ms).await;
    let b = base();
    publish_invoices(&env, &exchange, b, n).await;
    let t0 = std::time::Instant::now();
    let w = env.worker().await;
    eventually(600, "the backlog written", || {
        w.metrics.processed.get() == n
    })
    .await;
    let secs = t0.elapsed().as_secs_f64();
    drained(&env, 30).await;
    w.shutdown().await;
    each_once(&env, n);
    assert_eq!(env.try_depth(&env.dlq).await, Some(0));
    let s = env.sim.summary(false);
    let jobs = env.sim.bulk_jobs();
    if calls(&s, "bulk_create") > 0 {
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].records_uploaded as u64, n);
        assert_eq!(jobs[0].uploads, 1);
        assert_eq!(jobs[0].state, "JobComplete");
    }
    let spent = write_calls(&s);
    println!(
        "{n} records, [worker.bulk] {bulk:?}, linger {linger_ms} ms: {spent} API calls ({:.2} per 1,000 records), {secs:.1} s: {}",
        spent as f64 * 1000.0 / n as f64,
        s["calls"]
    );
    finish(env, &exchange).await;
    (s, secs)
}

#[tokio::test]
async fn a_backlog_of_25000_goes_through_one_ingest_job() {
    // 25,000 in one job even if the loaded CI machine stalls the worker
    // for seconds while it gathers.
    let (s, _) = backlog(
        25_000,
        "poll_interval_ms = 1000\ngather_linger_ms = 10000\n",
        200,
    )
    .await;
    assert_eq!(calls(&s, "collections"), 0, "{s}");
    let spent = write_calls(&s);
    assert!(spent <= 10, "{spent} calls: {}", s["calls"]);
}

/// A backlog with Bulk API 2.0 disabled: the collections path's cost
/// (5,000 records here, to spare the shared broker in CI; 25,000 and
/// 100,000 by [`measure`]). A linger of 1 s lets each call fill (200
/// records), whatever this machine's load.
#[tokio::test]
async fn a_backlog_by_collections_calls_costs_5_calls_per_1000() {
    let (s, _) = backlog(5_000, "enabled = false\n", 1000).await;
    assert_eq!(calls(&s, "bulk_create"), 0, "{s}");
    let spent = write_calls(&s);
    assert!((25..=28).contains(&spent), "{}", s["calls"]);
}

/// A larger backlog for docs/workers.md (not run by CI): `BULK_N` records
/// (default 100,000), each path (`BULK_PATHS`, default `bulk,collections`)
/// at each linger (`BULK_LINGERS` in ms, default `200,1000`):
/// `BULK_N=100000 cargo test --test it worker_bulk::measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn measure() {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let n = var("BULK_N", "100000").parse().unwrap_or(100_000);
    for linger in var("BULK_LINGERS", "200,1000").split(',') {
        let linger = linger.trim().parse().unwrap_or(200);
        for path in var("BULK_PATHS", "bulk,collections").split(',') {
            let bulk = if path.trim() == "bulk" {
                ""
            } else {
                "enabled = false\n"
            };
            backlog(n, bulk, linger).await;
        }
    }
}

#[tokio::test]
async fn rows_a_job_refuses_are_dead_lettered_with_their_sf_error() {
    let (env, exchange) = env_with("threshold = 1000\npoll_interval_ms = 200\n", None).await;
    let b = base();
    for i in [17u64, 1234] {
        env.sim.inject(Fault::RejectRecord {
            key: format!("in_{b}_{i}"),
            status_code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
            message: "Amount, paid twice".into(),
            fields: vec!["Amount__c".into()],
        });
    }
    publish_invoices(&env, &exchange, b, 1500).await;
    let w = env.worker().await;
    eventually(60, "1,498 written", || w.metrics.processed.get() == 1498).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env.try_depth(&env.dlq).await != Some(2) {
        assert!(tokio::time::Instant::now() < deadline, "2 dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drained(&env, 30).await;
    w.shutdown().await;
    let s = env.sim.summary(false);
    assert_eq!(calls(&s, "collections"), 0, "{s}");
    assert_eq!(env.sim.bulk_jobs().len(), 1);
    let dead = env.take_dead().await;
    assert_eq!(dead.len(), 2);
    for (key, err) in &dead {
        assert_eq!(key, "stripe.invoice.paid");
        assert!(
            err.starts_with("FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount, paid twice"),
            "{err}"
        );
    }
    assert_eq!(s["writes_total"], json!(1498), "{s}");
    finish(env, &exchange).await;
}

/// A worker killed (an in-process abort, or `hookgate worker` SIGKILLed)
/// after its job's upload: the next one resumes that job, uploads nothing
/// and writes nothing twice; the job's redeliveries are acked as
/// duplicates (the rest, if the backlog had not all gone into the job, is
/// written anew).
async fn killed_after_the_upload(process: bool) {
    // Slow processing: 2,000 rows take about 4 s.
    fn slow(c: &mut SimConfig) {
        c.bulk_record_time = Duration::from_millis(2);
    }
    let (env, exchange) = env_with("threshold = 1000\npoll_interval_ms = 200\n", Some(slow)).await;
    let b = base();
    publish_invoices(&env, &exchange, b, 2000).await;
    let uploaded = || env.sim.bulk_jobs().iter().any(|j| j.uploads == 1);
    if process {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["worker", "--config"])
            .arg(&env.config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("hookgate worker");
        eventually(60, "the job's CSV uploaded", uploaded).await;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reap");
    } else {
        let w = env.worker().await;
        eventually(60, "the job's CSV uploaded", uploaded).await;
        w.abort().await;
    }
    // Under load the first worker may have gathered the backlog into two
    // batches: the killed job holds the first, the rest was never sent.
    let running = env.sim.bulk_jobs();
    assert_eq!(running.len(), 1, "{running:?}");
    assert_ne!(
        running[0].state, "JobComplete",
        "killed too late: {running:?}"
    );
    let killed = running[0].id.clone();
    let in_job = running[0].records_uploaded as u64;
    let w = env.worker_after_abort().await;
    settled_or_report(&env, &w, 2000, 90).await;
    drained(&env, 30).await;
    let duplicates = w.metrics.duplicates.get();
    w.shutdown().await;
    // The killed job was resumed, not uploaded again: its rows are the
    // redeliveries acked as duplicates; nothing was written twice.
    let jobs = env.sim.bulk_jobs();
    let resumed = jobs
        .iter()
        .find(|j| j.id == killed)
        .expect("the killed job");
    assert_eq!(resumed.uploads, 1, "{jobs:?}");
    assert_eq!(resumed.state, "JobComplete", "{jobs:?}");
    assert_eq!(duplicates, in_job, "{jobs:?}");
    each_once(&env, 2000);
    assert_eq!(env.try_depth(&env.dlq).await, Some(0));
    finish(env, &exchange).await;
}

/// Waits up to `secs` for `n` messages processed or acked as duplicates by
/// `w`; on a timeout the panic says where the rest are (this wait timed
/// out once in CI under load: the counts, the work queue's ready and
/// unacked messages and consumers, and the simulator's jobs).
async fn settled_or_report(env: &WorkerEnv, w: &hookgate::worker::Running, n: u64, secs: u64) {
    let settled = || w.metrics.duplicates.get() + w.metrics.processed.get();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while settled() != n {
        if std::time::Instant::now() >= deadline {
            let queues = std::process::Command::new("rabbitmqctl")
                .args(["-q", "list_queues", "name", "messages_ready"])
                .args(["messages_unacknowledged", "consumers"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let queue: Vec<&str> = queues
                .lines()
                .filter(|l| l.starts_with(&env.work_queue))
                .collect();
            panic!(
                "timed out waiting for {n} messages settled: processed {}, duplicates {}, \
                 work queue (name ready unacked consumers) {queue:?}, jobs {:?}",
                w.metrics.processed.get(),
                w.metrics.duplicates.get(),
                env.sim.bulk_jobs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_worker_killed_after_the_upload_resumes_the_same_job() {
    killed_after_the_upload(false).await;
}

#[tokio::test]
async fn a_worker_process_sigkilled_after_the_upload_resumes_the_same_job() {
    killed_after_the_upload(true).await;
}

/// A job that ends early (`fault`) after 400 rows: the 400 are done, the
/// rest of the job's rows written afterwards (by a later job or calls),
/// each record once, nothing dead-lettered.
///
/// The rest normally goes through the retry queue (each unprocessed row
/// retried once). Seen once in CI under load: the session ended while the
/// worker handled the ended job, so its deliveries came back from the
/// broker and the job was adopted and concluded again (`state` counted
/// twice, 100 rows retried instead of 1,100). That is at-least-once
/// delivery doing its job (each record was still written once), so the
/// exact counts are asserted only when the job was concluded once.
async fn ended_early(fault: Fault, state: &str) {
    let (env, exchange) = env_with("threshold = 1000\npoll_interval_ms = 200\n", None).await;
    env.sim.inject(fault);
    let b = base();
    publish_invoices(&env, &exchange, b, 1500).await;
    let w = env.worker().await;
    eventually(90, "1,500 written", || w.metrics.processed.get() == 1500).await;
    drained(&env, 30).await;
    let text = w.metrics.encode();
    let retried = w.metrics.retried.get();
    w.shutdown().await;
    each_once(&env, 1500);
    let jobs = env.sim.bulk_jobs();
    assert_eq!(jobs[0].state, state, "{jobs:?}");
    assert_eq!(jobs[0].processed, 400, "{jobs:?}");
    let unprocessed = (jobs[0].records_uploaded - 400) as u64;
    let concluded = format!("hookgate_worker_bulk_jobs_total{{state=\"{state}\"}} ");
    let times: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(concluded.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        times >= 1,
        "the {state} job was concluded: {jobs:?}\n{text}"
    );
    if times == 1 {
        assert_eq!(
            retried, unprocessed,
            "the job's unprocessed rows were retried once: {jobs:?}\n{text}"
        );
    } else {
        assert!(
            retried <= unprocessed,
            "no row retried twice: {jobs:?}\n{text}"
        );
    }
    assert_eq!(env.try_depth(&env.dlq).await, Some(0));
    finish(env, &exchange).await;
}

#[tokio::test]
async fn a_failed_job_retries_its_unprocessed_rows() {
    ended_early(
        Fault::BulkJobFails {
            after_records: 400,
            message: "InvalidBatch : too many locks".into(),
        },
        "Failed",
    )
    .await;
}

#[tokio::test]
async fn a_job_aborted_mid_way_retries_its_unprocessed_rows() {
    ended_early(Fault::BulkJobAborted { after_records: 400 }, "Aborted").await;
}

#[tokio::test]
async fn below_the_threshold_or_spread_over_keys_collections_are_used() {
    let actions = format!(
        "{}\n[[worker.actions]]\nmatch = \"stripe.charge.*\"\nkind = \"salesforce_upsert\"\nsobject = \"Contact\"\nexternal_id_field = \"Contact_Key__c\"\nfields = {{ Contact_Key__c = \"/id\", LastName = \"/id\" }}\n",
        crate::support::worker::DEFAULT_ACTIONS
    );
    let exchange = crate::support::worker::topic_exchange().await;
    let mut env = WorkerEnv::start(
        &exchange,
        WorkerOpts {
            bulk: Some("threshold = 1000\ngather_linger_ms = 3000\n".into()),
            actions: Some(actions),
            ..WorkerOpts::default()
        },
    )
    .await;
    env.exchanges.push(exchange.clone());
    let b = base();
    // 1,200 ready (over the threshold), but 600 per key.
    publish_invoices(&env, &exchange, b, 600).await;
    publish_with(&env, &exchange, "stripe.charge.succeeded", 600, true, |i| {
        (
            format!("evt_c_{b}_{i}"),
            json!({"id": format!("ch_{b}_{i}")}),
        )
    })
    .await;
    let w = env.worker().await;
    eventually(60, "1,200 written", || w.metrics.processed.get() == 1200).await;
    // Then 500 of one key: below the threshold.
    publish_with(&env, &exchange, "stripe.invoice.paid", 500, false, |i| {
        (
            format!("evt_{b}_late_{i}"),
            json!({"data": {"object": {"id": format!("in_{b}_late_{i}"), "amount_paid": 1}}}),
        )
    })
    .await;
    eventually(60, "1,700 written", || w.metrics.processed.get() == 1700).await;
    let text = w.metrics.encode();
    w.shutdown().await;
    each_once(&env, 1700);
    let s = env.sim.summary(false);
    assert!(env.sim.bulk_jobs().is_empty());
    assert_eq!(
        write_calls(&s),
        calls(&s, "collections"),
        "no Bulk call: {}",
        s["calls"]
    );
    // 1,700 records in calls of at most 200.
    assert!(calls(&s, "collections") >= 9, "{}", s["calls"]);
    assert!(
        text.contains("hookgate_worker_path_records_total{path=\"collections\"} 1700"),
        "{text}"
    );
    finish(env, &exchange).await;
}

#[tokio::test]
async fn values_with_commas_quotes_and_line_breaks_arrive_exactly() {
    let actions = r#"
[[worker.actions]]
match = "stripe.#"
kind = "salesforce_upsert"
sobject = "Payment__c"
external_id_field = "Stripe_Id__c"
fields = { Stripe_Id__c = "/id", Source__c = "/note", Paid__c = { pointer = "/paid", type = "boolean" } }
"#;
    let exchange = crate::support::worker::topic_exchange().await;
    let mut env = WorkerEnv::start(
        &exchange,
        WorkerOpts {
            bulk: Some(
                "threshold = 1000\npoll_interval_ms = 200\ngather_linger_ms = 3000\n".into(),
            ),
            actions: Some(actions.into()),
            ..WorkerOpts::default()
        },
    )
    .await;
    env.exchanges.push(exchange.clone());
    let notes = [
        "plain",
        "a, \"quoted\" b\nsecond line\r\nthird",
        " padded , \"",
        "Zürich 東京 ,;|\t",
    ];
    let b = base();
    publish_with(&env, &exchange, "stripe.charge.succeeded", 1000, true, |i| {
        (
            format!("evt_n_{b}_{i}"),
            json!({"id": format!("ch_{b}_{i}"), "note": notes[i as usize % 4], "paid": i % 2 == 0}),
        )
    })
    .await;
    let w = env.worker().await;
    eventually(60, "1,000 written", || w.metrics.processed.get() == 1000).await;
    w.shutdown().await;
    assert_eq!(env.sim.bulk_jobs().len(), 1);
    for i in 0..8u64 {
        let (_, rec) = env
            .sim
            .record_by_external_id("Payment__c", "Stripe_Id__c", &format!("ch_{b}_{i}"))
            .unwrap_or_else(|| panic!("ch_{b}_{i} written"));
        assert_eq!(rec["Source__c"], json!(notes[i as usize % 4]), "row {i}");
        assert_eq!(rec["Paid__c"], json!(i % 2 == 0), "row {i}");
    }
    each_once(&env, 1000);
    finish(env, &exchange).await;
}

#[tokio::test]
async fn without_daily_bulk_batches_left_the_backlog_goes_by_collections_calls() {
    fn no_batches(c: &mut SimConfig) {
        c.daily_bulk_batches = 0;
    }
    let (env, exchange) = env_with("threshold = 1000\n", Some(no_batches)).await;
    let b = base();
    publish_invoices(&env, &exchange, b, 1500).await;
    let w = env.worker().await;
    eventually(60, "1,500 written", || w.metrics.processed.get() == 1500).await;
    let text = w.metrics.encode();
    w.shutdown().await;
    each_once(&env, 1500);
    let s = env.sim.summary(false);
    assert_eq!(calls(&s, "bulk_create"), 0, "{}", s["calls"]);
    assert_eq!(calls(&s, "limits"), 1, "{}", s["calls"]);
    assert!(calls(&s, "collections") >= 8, "{}", s["calls"]);
    assert!(
        text.contains("hookgate_worker_bulk_fallbacks_total{reason=\"batch_allocation\"} 1"),
        "{text}"
    );
    finish(env, &exchange).await;
}

/// Salesforce answering 503 to the job's calls pauses the org and the same
/// calls are made again: nothing retried, nothing dead-lettered, one job.
#[tokio::test]
async fn bulk_calls_answered_503_pause_and_go_on() {
    let (env, exchange) = env_with("threshold = 1000\npoll_interval_ms = 200\n", None).await;
    let b = base();
    publish_invoices(&env, &exchange, b, 1500).await;
    let w = env.worker().await;
    // After the start-up checks, before the backlog is gathered (1 s of
    // gather linger at least).
    env.sim.inject(Fault::ServerError { count: 3 });
    eventually(60, "1,500 written", || w.metrics.processed.get() == 1500).await;
    drained(&env, 30).await;
    let retried = w.metrics.retried.get();
    w.shutdown().await;
    each_once(&env, 1500);
    let s = env.sim.summary(false);
    let refused: u64 = s["calls"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|v| v["by_status"]["503"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(refused, 3, "{}", s["calls"]);
    assert_eq!(env.sim.bulk_jobs().len(), 1);
    assert_eq!(calls(&s, "collections"), 0, "{}", s["calls"]);
    assert_eq!(retried, 0);
    assert_eq!(env.try_depth(&env.dlq).await, Some(0));
    finish(env, &exchange).await;
}
