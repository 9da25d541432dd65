//! The worker's batches against the simulator's typed schema (issue #15):
//! a badly typed record among 200 is isolated, unknown fields stop the
//! worker at start, typed mappings store exact values, a value that cannot
//! convert is dead-lettered without a call, and types that cannot share a
//! call (more than 10 chunks, User with Account) are split into valid calls.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use serde_json::{json, Value};
use sfsim::{FieldSchema, FieldType, ObjectSchema};

use crate::support::worker::{base, eventually, sfid, WorkerEnv, WorkerOpts};

/// A topic exchange of this test's own (no gateway needed).
async fn env_with(actions: &str) -> (WorkerEnv, String) {
    let exchange = crate::support::worker::topic_exchange().await;
    let env = WorkerEnv::start(
        &exchange,
        WorkerOpts {
            batch_linger_ms: 3000,
            actions: Some(actions.to_owned()),
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

async fn publish(ch: &Channel, exchange: &str, key: &str, id: &str, body: &Value) {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(hookgate::envelope::RECEIVED_AT_HEADER),
        AMQPValue::LongString(LongString::from("2026-12-05T21:30:15.25+01:00")),
    );
    ch.basic_publish(
        ShortString::from(exchange),
        ShortString::from(key),
        BasicPublishOptions::default(),
        body.to_string().as_bytes(),
        BasicProperties::default()
            .with_message_id(ShortString::from(id))
            .with_headers(headers),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

/// Publishes 200 `stripe.invoice.paid` events (`body(i)`, ids
/// `evt_<base>_<i>`), one of them bad, and runs a worker until it
/// dead-lettered 1 and wrote 199.
async fn one_bad_among_200(env: &WorkerEnv, exchange: &str, body: impl Fn(u64) -> Value) {
    let b = base();
    for i in 0..200u64 {
        publish(
            &env.channel,
            exchange,
            "stripe.invoice.paid",
            &format!("evt_{b}_{i}"),
            &body(i),
        )
        .await;
    }
    let w = env.worker().await;
    dead_count(env, 1).await;
    eventually(60, "199 payments written", || {
        w.metrics.processed.get() == 199
    })
    .await;
    w.shutdown().await;
}

async fn dead_count(env: &WorkerEnv, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while env.try_depth(&env.dlq).await != Some(n) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dead-letter queue never reached {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const PAYMENTS: &str = r#"
[[worker.actions]]
match = "stripe.#"
kind = "salesforce_upsert"
sobject = "Payment__c"
external_id_field = "Stripe_Id__c"
fields = { Stripe_Id__c = "/data/object/id", Paid_On__c = "/data/object/paid_on", Amount__c = "/data/object/amount_paid" }
"#;

#[tokio::test]
async fn one_badly_typed_record_among_200_is_isolated() {
    let (env, exchange) = env_with(PAYMENTS).await;
    let b = base();
    let bad = 137;
    // 2024-02-30 is no date: the simulator's parser refuses the whole call
    // at its position (the describe check lets text through).
    one_bad_among_200(&env, &exchange, |i| {
        let paid_on = if i == bad { "2024-02-30" } else { "2024-02-29" };
        json!({"data": {"object": {"id": format!("in_{b}_{i}"), "amount_paid": 1000 + i, "paid_on": paid_on}}})
    })
    .await;
    for i in 0..200u64 {
        let found =
            env.sim
                .record_by_external_id("Payment__c", "Stripe_Id__c", &format!("in_{b}_{i}"));
        if i == bad {
            assert!(found.is_none(), "the bad record was not written");
            continue;
        }
        let (id, rec) = found.unwrap_or_else(|| panic!("in_{b}_{i} written"));
        assert_eq!(
            env.sim.writes("Payment__c", &id),
            1,
            "in_{b}_{i} written once"
        );
        assert_eq!(rec["Paid_On__c"], "2024-02-29");
    }
    let calls = env.sim.collections_calls();
    assert!(calls <= 12, "isolating one bad record cost {calls} calls");
    println!("one bad record among 200: {calls} collections calls");
    let dead = env.take_dead().await;
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .1
            .starts_with("JSON_PARSER_ERROR: Cannot deserialize instance of date")
            && dead[0].1.contains("2024-02-30"),
        "{dead:?}"
    );
    finish(env, &exchange).await;
}

#[tokio::test]
async fn an_unknown_field_is_a_config_error_at_start() {
    let actions = PAYMENTS.replace("Paid_On__c", "Paid_Onn__c");
    let (env, exchange) = env_with(&actions).await;
    let body = json!({"data": {"object": {"id": "in_x", "amount_paid": 1, "paid_onn": "x"}}});
    publish(
        &env.channel,
        &exchange,
        "stripe.invoice.paid",
        "evt_x",
        &body,
    )
    .await;
    let err = match hookgate::worker::start(env.config()).await {
        Ok(w) => {
            w.shutdown().await;
            panic!("the worker started with an unknown field");
        }
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err,
        "worker.actions[0] (match = \"stripe.#\"): field Paid_Onn__c does not exist on Payment__c"
    );
    // Nothing consumed, nothing written.
    assert_eq!(env.depth(&env.work_queue).await, 1);
    assert_eq!(env.sim.collections_calls(), 0);

    // tokio's Command: the simulator answers on this test's runtime.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check-config", "--online", "--config"])
        .arg(&env.config_path)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The org is named: with several orgs, the one whose check failed.
    assert!(
        stderr.contains("salesforce org \"default\": worker.actions[0]")
            && stderr.contains("Paid_Onn__c"),
        "{stderr}"
    );
    // The same file without --online is valid (no call is made).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check-config", "--config"])
        .arg(&env.config_path)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    finish(env, &exchange).await;
}

#[tokio::test]
async fn api_version_and_external_id_are_checked_at_start() {
    let actions = PAYMENTS
        .replace(
            "external_id_field = \"Stripe_Id__c\"",
            "external_id_field = \"Legacy_Key__c\"",
        )
        .replace("Paid_On__c = ", "Legacy_Key__c = \"/id\", Paid_On__c = ");
    let (env, exchange) = env_with(&actions).await;
    let err = hookgate::worker::start(env.config()).await.err().unwrap();
    assert!(
        err.to_string()
            .ends_with("external_id_field Legacy_Key__c of Payment__c is not marked External ID"),
        "{err}"
    );
    let text = env
        .config_text
        .replace("api_version = \"62.0\"", "api_version = \"99.0\"");
    let config =
        hookgate::config::worker::WorkerConfig::from_toml(&env.config_path, &text).unwrap();
    let err = hookgate::worker::start(config).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "salesforce.api_version: 99.0 is not served by the org (it serves 31.0 to 64.0)"
    );
    finish(env, &exchange).await;
}

#[tokio::test]
async fn typed_mappings_store_exact_values_or_dead_letter_without_a_call() {
    let actions = r#"
[[worker.actions]]
match = "stripe.#"
kind = "salesforce_upsert"
sobject = "Payment__c"
external_id_field = "Stripe_Id__c"
[worker.actions.fields]
Stripe_Id__c = "/data/object/id"
Source__c = "stripe"
Amount__c = { pointer = "/data/object/amount_paid", type = "number", scale = 0.01 }
Paid__c = { pointer = "/data/object/paid", type = "boolean" }
Paid_On__c = { pointer = "/created", type = "date" }
Paid_At__c = { pointer = "/created", type = "datetime" }
Status__c = { pointer = "/data/object/status", type = "string" }

[[worker.actions]]
match = "salesforce.Account"
kind = "salesforce_update"
sobject = "Account"
fields = { Integration_Status__c = "Received", Last_Synced__c = "{received_at}" }
"#;
    let (env, exchange) = env_with(actions).await;
    let b = base();
    let w = env.worker().await;
    // Not a number: dead-lettered at once, no call spent.
    let bad = json!({"created": 1_700_000_000, "data": {"object": {"id": format!("in_{b}_bad"), "amount_paid": "n/a", "paid": true, "status": "paid"}}});
    publish(
        &env.channel,
        &exchange,
        "stripe.invoice.paid",
        &format!("evt_{b}_bad"),
        &bad,
    )
    .await;
    dead_count(&env, 1).await;
    assert_eq!(env.sim.collections_calls(), 0);
    let dead = env.take_dead().await;
    assert_eq!(
        dead[0].1,
        "malformed: field Amount__c (/data/object/amount_paid): \"n/a\" is not a number"
    );

    let good = json!({"created": 1_700_000_000, "data": {"object": {"id": format!("in_{b}"), "amount_paid": 1999, "paid": "true", "status": 3}}});
    publish(
        &env.channel,
        &exchange,
        "stripe.invoice.paid",
        &format!("evt_{b}"),
        &good,
    )
    .await;
    let account = sfid("001", b);
    env.sim.seed("Account", &account, serde_json::Map::new());
    let note = json!({"organization_id": "00D000000000001EAA", "notification_id": sfid("04l", b),
        "sobject_type": "Account", "sobject": {"Id": account}});
    publish(
        &env.channel,
        &exchange,
        "salesforce.Account",
        &sfid("04l", b),
        &note,
    )
    .await;
    eventually(30, "both written", || w.metrics.processed.get() == 2).await;
    w.shutdown().await;
    let (_, rec) = env
        .sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", &format!("in_{b}"))
        .unwrap();
    assert_eq!(rec["Amount__c"], json!(19.99));
    assert_eq!(rec["Paid__c"], json!(true));
    assert_eq!(rec["Paid_On__c"], json!("2023-11-14"));
    assert_eq!(rec["Paid_At__c"], json!("2023-11-14T22:13:20.000Z"));
    assert_eq!(rec["Status__c"], json!("3"));
    assert_eq!(rec["Source__c"], json!("stripe"));
    // The update's {received_at} goes to a DateTime field in Salesforce's form.
    let acc = env.sim.record("Account", &account).unwrap();
    assert_eq!(acc["Last_Synced__c"], json!("2026-12-05T20:30:15.250Z"));
    finish(env, &exchange).await;
}

#[tokio::test]
async fn types_that_cannot_share_a_call_are_split_into_valid_calls() {
    let actions = r#"
[[worker.actions]]
match = "salesforce.#"
kind = "salesforce_update"
fields = { Integration_Status__c = "Received" }
"#;
    let (env, exchange) = env_with(actions).await;
    let b = base();
    // 12 custom types + Account + User (a setup object), interleaved.
    let mut types: Vec<String> = (0..12).map(|i| format!("Obj{i}_{}__c", b % 1000)).collect();
    for t in &types {
        env.sim.define(ObjectSchema::new(
            t,
            vec![FieldSchema::new("Integration_Status__c", FieldType::String)],
        ));
    }
    types.push("Account".into());
    types.push("User".into());
    let mut records = Vec::new();
    for round in 0..3u64 {
        for (k, t) in types.iter().enumerate() {
            let n = b + round * 100 + k as u64;
            let prefix = match t.as_str() {
                "Account" => "001".to_owned(),
                "User" => "005".to_owned(),
                _ => format!("a{k:02}"),
            };
            let id = sfid(&prefix, n);
            env.sim.seed(t, &id, serde_json::Map::new());
            let note = json!({"organization_id": "00D000000000001EAA", "notification_id": sfid("04l", n),
                "sobject_type": t, "sobject": {"Id": id}});
            publish(
                &env.channel,
                &exchange,
                &format!("salesforce.{t}"),
                &sfid("04l", n),
                &note,
            )
            .await;
            records.push((t.clone(), id));
        }
    }
    let w = env.worker().await;
    eventually(60, "42 records updated", || w.metrics.processed.get() == 42).await;
    w.shutdown().await;
    for (t, id) in &records {
        assert_eq!(env.sim.writes(t, id), 1, "{t} {id} written once");
    }
    assert_eq!(env.depth(&env.dlq).await, 0);
    let calls: Vec<u16> = env
        .sim
        .calls()
        .iter()
        .filter(|c| c.path.contains("/composite/sobjects"))
        .map(|c| c.status)
        .collect();
    assert!(calls.iter().all(|&s| s == 200), "{calls:?}");
    finish(env, &exchange).await;
}

#[tokio::test]
async fn an_ambiguous_position_falls_back_to_bisection() {
    // Non-ASCII text before the bad value: its column names one record
    // counted in characters and another counted in bytes, so the worker
    // bisects instead of guessing.
    let actions = PAYMENTS.replace(
        "Paid_On__c = ",
        "Source__c = \"/data/object/source\", Paid_On__c = ",
    );
    let (env, exchange) = env_with(&actions).await;
    let b = base();
    let bad = 137;
    one_bad_among_200(&env, &exchange, |i| {
        let paid_on = if i == bad { "2024-13-01" } else { "2024-02-29" };
        json!({"data": {"object": {"id": format!("in_{b}_{i}"), "amount_paid": i,
            "paid_on": paid_on, "source": "Société Générale à Zürich"}}})
    })
    .await;
    let calls = env.sim.collections_calls();
    assert!(calls <= 17, "bisection cost {calls} calls");
    println!("one bad record among 200, bisected: {calls} collections calls");
    for i in (0..200u64).filter(|&i| i != bad) {
        let (id, _) = env
            .sim
            .record_by_external_id("Payment__c", "Stripe_Id__c", &format!("in_{b}_{i}"))
            .unwrap_or_else(|| panic!("in_{b}_{i} written"));
        assert_eq!(env.sim.writes("Payment__c", &id), 1);
    }
    let dead = env.take_dead().await;
    assert!(dead[0].1.contains("2024-13-01"), "{dead:?}");
    finish(env, &exchange).await;
}
