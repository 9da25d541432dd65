//! `hookgate subscribe` against the Pub/Sub API simulator (sfsim, built from
//! SALESFORCE.md section 9) and the real RabbitMQ: every event arrives once
//! per replay id with a decoded JSON body; a SIGKILL mid-stream loses
//! nothing and re-publishes at most the unconfirmed tail; a broker outage
//! pauses fetching; a replay id past the retention halts with the
//! documented error; stream faults (auth, unavailable, ended, silent) are
//! survived without loss; undecodable payloads are published raw, in
//! order; a change on `/data/ChangeEvents` and on its entity's channel
//! reaches each subscription once.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hookgate::pubsub::{self, Options};
use sfsim::pubsub::{AvroType, ChangeSpec, ChangeType, ALL_CHANGES};
use sfsim::PubSubFault;

use crate::contracts::{check_pulled, Pulled};
use crate::support::gateway::GatewayProcess;
use crate::support::proxy::Proxy;
use crate::support::pubsub::{by_id, subscription, Got, PubsubEnv, ACCOUNTS, ORDERS};
use crate::support::{metric_value, AMQP_URL};

/// Publishes `n` platform events numbered from `from`.
fn orders(env: &PubsubEnv, from: usize, n: usize) -> Vec<Vec<u8>> {
    env.pubsub
        .publish_many(ORDERS, n, |i| {
            serde_json::json!({
                "Order_Number__c": format!("ORD-{}", from + i),
                "Amount__c": (from + i) as f64 + 0.5,
                "Rush__c": (from + i) % 2 == 0,
            })
        })
        .expect("publish")
}

/// Publishes `n` Account updates numbered from `from`.
fn account_changes(env: &PubsubEnv, from: usize, n: usize) {
    for i in from..from + n {
        let spec = ChangeSpec {
            change_type: ChangeType::Update,
            record_ids: vec![format!("001{i:012}AAA")],
            changed_fields: vec!["Name".into(), "AnnualRevenue".into()],
            values: serde_json::json!({"Name": format!("Acme {i}"), "AnnualRevenue": i as f64}),
            sequence_number: 1,
            ..ChangeSpec::default()
        };
        env.pubsub
            .publish_change(ACCOUNTS, spec)
            .expect("publish change");
    }
}

fn count_ids(got: &[Got], prefix: &str) -> usize {
    got.iter()
        .filter(|g| g.routing_key.starts_with(prefix))
        .map(|g| g.message_id.clone())
        .collect::<HashSet<_>>()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_on_two_topics_arrive_once_per_replay_id() {
    let env = PubsubEnv::start().await;
    let last_order = orders(&env, 0, 5_000).pop().expect("ids");
    account_changes(&env, 0, 5_000);
    let subs = format!(
        "{}{}",
        subscription("orders", ORDERS, "earliest", 100),
        subscription("accounts", ACCOUNTS, "earliest", 100)
    );
    let config = env.write_config(AMQP_URL, &subs);
    let started = Instant::now();
    let running = pubsub::start(config.clone(), Options::default())
        .await
        .expect("start");
    let got = env
        .collect(Duration::from_secs(120), Duration::from_millis(500), |g| {
            g.len() >= 10_000
        })
        .await;
    let elapsed = started.elapsed();
    let metrics = running.metrics.encode();
    running.shutdown().await;
    eprintln!(
        "pubsub: {} events in {:.2}s = {:.0} events/s",
        got.len(),
        elapsed.as_secs_f64(),
        got.len() as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(got.len(), 10_000, "no duplicate, none missing");
    assert_eq!(count_ids(&got, "orders.Order_Placed__e"), 5_000);
    assert_eq!(count_ids(&got, "accounts.Account.UPDATE"), 5_000);
    let replay_ids: HashSet<_> = got
        .iter()
        .map(|g| {
            (
                g.routing_key.clone(),
                g.headers["x-hookgate-replay-id"].clone(),
            )
        })
        .collect();
    assert_eq!(replay_ids.len(), 10_000, "one message per replay id");
    // The decoded bodies keep their types; bitmaps become field names.
    let order = got
        .iter()
        .find(|g| g.routing_key.starts_with("orders."))
        .expect("order");
    assert_eq!(order.content_type, "application/json");
    let body = order.json();
    assert!(body["Amount__c"].is_f64(), "{body}");
    assert!(body["Rush__c"].is_boolean(), "{body}");
    assert!(body["CreatedDate"].is_i64(), "{body}");
    assert_eq!(order.headers["x-hookgate-route"], "orders");
    assert_eq!(order.headers["cloudEvents:source"], ORDERS);
    assert_eq!(order.headers["cloudEvents:id"], order.message_id);
    assert_eq!(
        order.headers["x-hookgate-idempotency-key"],
        format!("orders|{}", order.message_id)
    );
    let change = got
        .iter()
        .find(|g| g.routing_key.starts_with("accounts."))
        .expect("change");
    let header = &change.json()["ChangeEventHeader"];
    assert_eq!(header["entityName"], "Account");
    assert_eq!(header["changeType"], "UPDATE");
    assert_eq!(
        header["changedFields"],
        serde_json::json!(["Name", "AnnualRevenue"])
    );
    let key = header["transactionKey"].as_str().expect("transactionKey");
    assert_eq!(change.message_id, format!("{key}-1"));
    // The saved position is the last event's replay id.
    let store = pubsub::replay::ReplayStore::open(&config.pubsub)
        .await
        .expect("store");
    let saved = store.load("orders").await.expect("load").expect("saved");
    assert_eq!(saved.replay_id, last_order);
    assert_eq!(
        metric_value(
            &metrics,
            "hookgate_pubsub_duplicates_total{subscription=\"orders\"}"
        ),
        Some(0.0)
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_subscriber_loses_nothing_and_repeats_at_most_the_unconfirmed_tail() {
    let env = PubsubEnv::start().await;
    orders(&env, 0, 4_000);
    env.write_config(AMQP_URL, &subscription("orders", ORDERS, "earliest", 50));
    let mut first = GatewayProcess::spawn_subscriber(&env.config_path, &[]).await;
    // Kill it mid-stream: once some events are in the queue, before all.
    let before = env
        .collect(Duration::from_secs(30), Duration::ZERO, |g| {
            g.len() >= 1_000
        })
        .await;
    first.sigkill();
    assert!(
        before.len() >= 1_000 && before.len() < 4_000,
        "killed mid-stream: {}",
        before.len()
    );
    orders(&env, 4_000, 1_000);
    let second = GatewayProcess::spawn_subscriber(&env.config_path, &[]).await;
    let all_ids = |g: &[Got]| {
        let mut ids: HashSet<&str> = before.iter().map(|b| b.message_id.as_str()).collect();
        ids.extend(g.iter().map(|x| x.message_id.as_str()));
        ids.len() >= 5_000
    };
    let after = env
        .collect(Duration::from_secs(60), Duration::from_millis(500), all_ids)
        .await;
    drop(second);
    let mut all = before.clone();
    all.extend(after);
    let counts = by_id(&all);
    let duplicates = all.len() - counts.len();
    eprintln!(
        "pubsub kill: {} messages, {} ids, {duplicates} duplicates",
        all.len(),
        counts.len()
    );
    assert_eq!(counts.len(), 5_000, "every event arrived");
    // At most the events of the responses in flight at the kill (two
    // batches of 50) are published again.
    assert!(duplicates <= 100, "{duplicates} duplicates");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_pauses_fetching_and_loses_nothing() {
    let env = PubsubEnv::start().await;
    let proxy = Proxy::start("127.0.0.1:5672".parse::<SocketAddr>().expect("addr")).await;
    let url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    orders(&env, 0, 300);
    let config = env.write_config(&url, &subscription("orders", ORDERS, "earliest", 20));
    let running = pubsub::start(config, Options::default())
        .await
        .expect("start");
    let first = env
        .collect(Duration::from_secs(30), Duration::ZERO, |g| g.len() >= 300)
        .await;
    assert_eq!(first.len(), 300);
    proxy.cut();
    orders(&env, 300, 2_000);
    // While the broker is away the stream is closed: Salesforce delivers at
    // most what was requested before the failure (two batches).
    let delivered = env.pubsub.counters().events_delivered;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = env.pubsub.counters().events_delivered;
    assert!(
        during - delivered <= 40,
        "fetching went on: {delivered} -> {during}"
    );
    let (status, text) = admin(&running.admin_addr, "/readyz").await;
    assert_eq!((status, text.as_str()), (503, "broker disconnected\n"));
    proxy.restore();
    let rest = env
        .collect(Duration::from_secs(60), Duration::from_millis(300), |g| {
            g.iter()
                .map(|x| &x.message_id)
                .collect::<HashSet<_>>()
                .len()
                >= 2_000
        })
        .await;
    let ids: HashSet<_> = first
        .iter()
        .chain(&rest)
        .map(|g| g.message_id.clone())
        .collect();
    assert_eq!(ids.len(), 2_300, "nothing lost across the outage");
    running.shutdown().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_id_past_the_retention_halts_until_replay_from_is_given() {
    let env = PubsubEnv::start().await;
    orders(&env, 0, 10);
    let config = env.write_config(AMQP_URL, &subscription("orders", ORDERS, "earliest", 100));
    let running = pubsub::start(config.clone(), Options::default())
        .await
        .expect("start");
    let got = env
        .collect(Duration::from_secs(30), Duration::ZERO, |g| g.len() >= 10)
        .await;
    assert_eq!(got.len(), 10);
    running.shutdown().await;
    // 73 h later the saved replay id is past the 72 h retention.
    env.pubsub.advance(Duration::from_secs(73 * 3600));
    orders(&env, 10, 5);
    let halted = pubsub::start(config.clone(), Options::default())
        .await
        .expect("start");
    wait_for(
        &halted.metrics,
        "hookgate_pubsub_halted{subscription=\"orders\"}",
        1.0,
    )
    .await;
    let metrics = halted.metrics.encode();
    assert_eq!(
        metric_value(
            &metrics,
            "hookgate_pubsub_replay_gaps_total{subscription=\"orders\"}"
        ),
        Some(1.0)
    );
    let (status, text) = admin(&halted.admin_addr, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    halted.shutdown().await;
    let nothing = env
        .collect(Duration::from_millis(500), Duration::ZERO, |_| false)
        .await;
    assert!(nothing.is_empty(), "nothing published while halted");
    // The documented recovery: start again from the oldest retained event.
    let options = Options {
        replay_from: Some(hookgate::config::pubsub::ReplayPreset::Earliest),
    };
    let resumed = pubsub::start(config, options).await.expect("start");
    let rest = env
        .collect(Duration::from_secs(30), Duration::from_millis(300), |g| {
            g.len() >= 5
        })
        .await;
    assert_eq!(rest.len(), 5, "the retained events, once each");
    let metrics = resumed.metrics.encode();
    assert_eq!(
        metric_value(
            &metrics,
            "hookgate_pubsub_replay_gaps_total{subscription=\"orders\"}"
        ),
        Some(1.0)
    );
    resumed.shutdown().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_faults_are_survived_without_loss_or_repeats() {
    let env = PubsubEnv::start().await;
    orders(&env, 0, 400);
    // Consumed in order, one per stream: each Subscribe meets the next one
    // (the last stream's GetSchema finds the queue empty).
    for f in [
        PubSubFault::Unavailable,
        PubSubFault::AuthError,
        PubSubFault::Silence,
        PubSubFault::EndStreamAfter(130),
    ] {
        env.pubsub.inject(f);
    }
    let tokens_before = env.sim.token_requests();
    let config = env.write_config(AMQP_URL, &subscription("orders", ORDERS, "earliest", 50));
    let running = pubsub::start(config, Options::default())
        .await
        .expect("start");
    let got = env
        .collect(Duration::from_secs(60), Duration::from_millis(500), |g| {
            g.len() >= 400
        })
        .await;
    let metrics = running.metrics.encode();
    running.shutdown().await;
    assert_eq!(by_id(&got).len(), 400, "every event");
    assert_eq!(
        got.len(),
        400,
        "none twice: each response was saved before the stream ended"
    );
    for reason in ["auth", "service.unavailable", "unavailable", "silence"] {
        let series =
            format!("hookgate_pubsub_streams_total{{subscription=\"orders\",reason=\"{reason}\"}}");
        assert!(
            metric_value(&metrics, &series).unwrap_or(0.0) >= 1.0,
            "{series}\n{metrics}"
        );
    }
    assert!(
        env.sim.token_requests() >= tokens_before + 2,
        "a new token after the auth error"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_topic_saves_the_keepalive_position_and_resumes_after_it() {
    let env = PubsubEnv::start().await;
    orders(&env, 0, 5);
    let config = env.write_config(AMQP_URL, &subscription("orders", ORDERS, "latest", 100));
    let running = pubsub::start(config.clone(), Options::default())
        .await
        .expect("start");
    // LATEST: the 5 earlier events are not delivered; a keepalive saves the tip.
    wait_for(
        &running.metrics,
        "hookgate_pubsub_keepalive_commits_total{subscription=\"orders\"}",
        1.0,
    )
    .await;
    running.shutdown().await;
    let fresh = orders(&env, 5, 3);
    let resumed = pubsub::start(config, Options::default())
        .await
        .expect("start");
    let got = env
        .collect(Duration::from_secs(30), Duration::from_millis(500), |g| {
            g.len() >= 3
        })
        .await;
    resumed.shutdown().await;
    assert_eq!(got.len(), 3, "only the events after the saved tip");
    let want: HashSet<String> = fresh
        .iter()
        .map(|r| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r))
        .collect();
    let have: HashSet<String> = got
        .iter()
        .map(|g| g.headers["x-hookgate-replay-id"].clone())
        .collect();
    assert_eq!(have, want);
    env.finish().await;
}

/// Avro's zig-zag varint of `n` (ints and longs, lengths, union indexes).
fn avro_long(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A valid `Order_Placed__e` datum, encoded by hand: `CreatedDate`,
/// `CreatedById`, then the `["null", T]` unions `Order_Number__c`,
/// `Amount__c` and `Rush__c` (null).
fn order_datum(created_ms: i64, by: &str, number: &str, amount: f64) -> Vec<u8> {
    let mut out = Vec::new();
    avro_long(created_ms, &mut out);
    avro_long(by.len() as i64, &mut out);
    out.extend_from_slice(by.as_bytes());
    avro_long(1, &mut out);
    avro_long(number.len() as i64, &mut out);
    out.extend_from_slice(number.as_bytes());
    avro_long(1, &mut out);
    out.extend_from_slice(&amount.to_le_bytes());
    avro_long(0, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_events_are_published_raw_in_order_and_nothing_is_lost() {
    let env = PubsubEnv::start().await;
    let datum = order_datum(1_740_933_908_000, "005000000000001AAA", "ORD-T", 7.25);
    // Cut inside `Amount__c`'s eight bytes: a datum that ends too early.
    let truncated = datum[..datum.len() - 4].to_vec();
    let garbage = vec![
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    let first = orders(&env, 0, 1).pop().expect("replay id");
    let bad = env
        .pubsub
        .publish_raw(ORDERS, garbage.clone())
        .expect("raw");
    let cut = env
        .pubsub
        .publish_raw(ORDERS, truncated.clone())
        .expect("raw");
    let last = orders(&env, 1, 1).pop().expect("replay id");
    let config = env.write_config(AMQP_URL, &subscription("orders", ORDERS, "earliest", 100));
    let running = pubsub::start(config.clone(), Options::default())
        .await
        .expect("start");
    let got = env.take(4, Duration::from_secs(30)).await;
    let metrics = running.metrics.encode();
    running.shutdown().await;

    // In replay order, each once.
    let b64 = |r: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r);
    let header = crate::support::long_header;
    let replay_ids: Vec<String> = got
        .iter()
        .map(|m| header(m, "x-hookgate-replay-id"))
        .collect();
    assert_eq!(replay_ids, [&first, &bad, &cut, &last].map(|r| b64(r)));
    let keys: Vec<&str> = got
        .iter()
        .map(|m| m.delivery.routing_key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "orders.Order_Placed__e",
            "orders.undecodable",
            "orders.undecodable",
            "orders.Order_Placed__e"
        ]
    );
    let content_type = |m: &lapin::message::BasicGetMessage| {
        m.delivery
            .properties
            .content_type()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let message_id = |m: &lapin::message::BasicGetMessage| {
        m.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    // The two valid events as JSON.
    for (m, n) in [(&got[0], "ORD-0"), (&got[3], "ORD-1")] {
        assert_eq!(content_type(m), "application/json");
        let body: serde_json::Value = serde_json::from_slice(&m.delivery.data).expect("json");
        assert_eq!(body["Order_Number__c"], n, "{body}");
    }
    // The two others raw: the exact bytes, the EventUuid, the topic's schema id.
    let schema_id = header(&got[0], "x-hookgate-schema-id");
    let mut uuids = HashSet::new();
    for (m, bytes, replay) in [(&got[1], &garbage, &bad), (&got[2], &truncated, &cut)] {
        check_pulled(
            m,
            &Pulled {
                kind: "undecodable",
                payload: "payload-pubsub-undecodable.json",
                routing_key: "orders.undecodable".into(),
                message_id: None,
                content_type: "avro/binary",
                subscription: "orders",
                topic: ORDERS,
                replay_id: replay.clone(),
            },
        );
        assert_eq!(content_type(m), "avro/binary");
        assert_eq!(&m.delivery.data, bytes, "the payload byte for byte");
        assert_eq!(
            m.delivery.properties.kind().as_ref().map(|s| s.as_str()),
            Some("orders.undecodable")
        );
        let id = message_id(m);
        assert_eq!(id.len(), 36, "the EventUuid: {id}");
        assert_eq!(header(m, "cloudEvents:id"), id);
        assert_eq!(
            header(m, "x-hookgate-idempotency-key"),
            format!("orders|{id}")
        );
        assert_eq!(header(m, "x-hookgate-schema-id"), schema_id);
        uuids.insert(id);
    }
    assert_eq!(uuids.len(), 2, "each its own EventUuid");
    // The truncated datum was a valid one before the cut.
    let schema_json = env.pubsub.schema_json(&schema_id).expect("schema");
    let schema = apache_avro::Schema::parse_str(&schema_json).expect("schema");
    let read = |bytes: &[u8]| {
        apache_avro::reader::datum::GenericDatumReader::builder(&schema)
            .build()
            .expect("reader")
            .read_value(&mut &bytes[..])
    };
    assert!(read(&datum).is_ok(), "the whole datum decodes");
    assert!(read(&truncated).is_err(), "the cut one does not");

    for (reason, n) in [("decoded", 2.0), ("undecodable", 2.0)] {
        let series =
            format!("hookgate_pubsub_events_total{{subscription=\"orders\",reason=\"{reason}\"}}");
        assert_eq!(
            metric_value(&metrics, &series),
            Some(n),
            "{series}\n{metrics}"
        );
    }
    let store = pubsub::replay::ReplayStore::open(&config.pubsub)
        .await
        .expect("store");
    let saved = store.load("orders").await.expect("load").expect("saved");
    assert_eq!(saved.replay_id, last, "saved past the undecodable events");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_changes_and_entity_channel_subscriptions_each_get_a_change_once() {
    let env = PubsubEnv::start().await;
    let contacts = "/data/ContactChangeEvent";
    env.pubsub
        .add_change_event(contacts, "Contact", &[("LastName", AvroType::String)])
        .expect("contact topic");
    let account = env
        .pubsub
        .publish_change(
            ACCOUNTS,
            ChangeSpec {
                change_type: ChangeType::Update,
                record_ids: vec!["001000000000001AAA".into()],
                changed_fields: vec!["Name".into()],
                values: serde_json::json!({"Name": "Acme"}),
                sequence_number: 1,
                ..ChangeSpec::default()
            },
        )
        .expect("account change");
    let contact = env
        .pubsub
        .publish_change(
            contacts,
            ChangeSpec {
                change_type: ChangeType::Create,
                record_ids: vec!["003000000000001AAA".into()],
                changed_fields: vec!["LastName".into()],
                values: serde_json::json!({"LastName": "Doe"}),
                sequence_number: 1,
                ..ChangeSpec::default()
            },
        )
        .expect("contact change");
    let subs = format!(
        "{}{}",
        subscription("all", ALL_CHANGES, "earliest", 10),
        subscription("accounts", ACCOUNTS, "earliest", 10)
    );
    let config = env.write_config(AMQP_URL, &subs);
    let running = pubsub::start(config, Options::default())
        .await
        .expect("start");
    let got = env.take(3, Duration::from_secs(30)).await;
    let metrics = running.metrics.encode();
    running.shutdown().await;

    let header = crate::support::long_header;
    let by_key: HashMap<String, &lapin::message::BasicGetMessage> = got
        .iter()
        .map(|m| (m.delivery.routing_key.to_string(), m))
        .collect();
    let mut keys: Vec<&str> = by_key.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accounts.Account.UPDATE",
            "all.Account.UPDATE",
            "all.Contact.CREATE"
        ],
        "each subscription gets its events once"
    );
    let b64 = |r: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r);
    let (via_all, via_entity) = (
        by_key["all.Account.UPDATE"],
        by_key["accounts.Account.UPDATE"],
    );
    let contact_msg = by_key["all.Contact.CREATE"];
    // One event, the same replay id on both topics, two subscriptions.
    assert_eq!(header(via_all, "x-hookgate-replay-id"), b64(&account));
    assert_eq!(header(via_entity, "x-hookgate-replay-id"), b64(&account));
    assert_eq!(header(contact_msg, "x-hookgate-replay-id"), b64(&contact));
    let id = |m: &lapin::message::BasicGetMessage| {
        m.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    assert_eq!(id(via_all), id(via_entity), "the same event id");
    assert_eq!(header(via_all, "x-hookgate-route"), "all");
    assert_eq!(header(via_entity, "x-hookgate-route"), "accounts");
    assert_eq!(
        header(via_all, "x-hookgate-idempotency-key"),
        format!("all|{}", id(via_all))
    );
    assert_eq!(header(via_all, "cloudEvents:source"), ALL_CHANGES);
    assert_eq!(header(via_entity, "cloudEvents:source"), ACCOUNTS);
    // Each entity's own schema on the all-changes channel.
    let account_schema = header(via_all, "x-hookgate-schema-id");
    assert_eq!(header(via_entity, "x-hookgate-schema-id"), account_schema);
    assert_ne!(header(contact_msg, "x-hookgate-schema-id"), account_schema);
    let body: serde_json::Value = serde_json::from_slice(&contact_msg.delivery.data).expect("json");
    assert_eq!(
        body["ChangeEventHeader"]["changedFields"],
        serde_json::json!(["LastName"])
    );
    assert_eq!(body["LastName"], "Doe");
    assert_eq!(
        via_all.delivery.data, via_entity.delivery.data,
        "the same body"
    );
    for (sub, n) in [("all", 2.0), ("accounts", 1.0)] {
        let series =
            format!("hookgate_pubsub_events_total{{subscription=\"{sub}\",reason=\"decoded\"}}");
        assert_eq!(
            metric_value(&metrics, &series),
            Some(n),
            "{series}\n{metrics}"
        );
    }
    env.finish().await;
}

/// Throughput for docs/performance.md: 50,000 platform events already
/// retained, one subscription (batch 100), to the queue with confirms.
/// `cargo test --release --test it -- --ignored pubsub::measure --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run in release by hand"]
async fn measure() {
    let env = PubsubEnv::start().await;
    const N: usize = 50_000;
    orders(&env, 0, N);
    let config = env.write_config(AMQP_URL, &subscription("orders", ORDERS, "earliest", 100));
    let started = Instant::now();
    let running = pubsub::start(config, Options::default())
        .await
        .expect("start");
    let got = env
        .collect(Duration::from_secs(300), Duration::ZERO, |g| g.len() >= N)
        .await;
    let secs = started.elapsed().as_secs_f64();
    running.shutdown().await;
    assert_eq!(by_id(&got).len(), N);
    println!(
        "pubsub measure: {N} events in {secs:.2} s = {:.0} events/s",
        N as f64 / secs
    );
    env.finish().await;
}

/// Waits until the metric series reaches `want` (or fails at the deadline).
async fn wait_for(metrics: &pubsub::metrics::Metrics, series: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = metrics.encode();
        if metric_value(&text, series).unwrap_or(0.0) >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn admin(addr: &SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("admin");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}
