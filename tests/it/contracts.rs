//! The message contract as a document: one message of each route kind goes
//! through a real gateway to the broker, and its AMQP properties, headers
//! and body are validated against the schemas docs/asyncapi.yaml references
//! (docs/asyncapi/*.json) with the jsonschema crate. A header renamed,
//! dropped or added without the document changing fails here.

use lapin::message::BasicGetMessage;
use lapin::types::AMQPValue;
use serde_json::{Map, Value};

use crate::support::{self, fixture, fixture_headers, now, sign, Harness};

/// The AsyncAPI document's text.
fn asyncapi() -> String {
    let p = support::repo().join("docs/asyncapi.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A schema of docs/asyncapi/, compiled; the AsyncAPI document must
/// reference it (so the schema checked here is the one it publishes).
fn schema(file: &str) -> jsonschema::Validator {
    let reference = format!("$ref: './asyncapi/{file}'");
    assert!(
        asyncapi().contains(&reference),
        "docs/asyncapi.yaml does not reference {file} (`{reference}`)"
    );
    let p = support::repo().join("docs/asyncapi").join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    jsonschema::validator_for(&v).unwrap_or_else(|e| panic!("{file} is not a valid schema: {e}"))
}

/// Every error of `instance` against `v`, one per line (empty when valid).
fn errors(v: &jsonschema::Validator, instance: &Value) -> String {
    v.iter_errors(instance)
        .map(|e| format!("  {} at `{}`", e, e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errs = errors(v, instance);
    assert!(
        errs.is_empty(),
        "{what} does not match docs/asyncapi.yaml:\n{errs}\n{instance:#}"
    );
}

/// The AMQP headers table as a JSON object (strings, integers, booleans).
fn headers_json(m: &BasicGetMessage) -> Value {
    let mut out = Map::new();
    if let Some(table) = m.delivery.properties.headers() {
        for (k, v) in table.inner() {
            let v = match v {
                AMQPValue::LongString(s) => Value::from(s.to_string()),
                AMQPValue::ShortString(s) => Value::from(s.as_str()),
                AMQPValue::Boolean(b) => Value::from(*b),
                AMQPValue::ShortShortInt(i) => Value::from(*i),
                AMQPValue::ShortInt(i) => Value::from(*i),
                AMQPValue::LongInt(i) => Value::from(*i),
                AMQPValue::LongLongInt(i) => Value::from(*i),
                AMQPValue::ShortShortUInt(i) => Value::from(*i),
                AMQPValue::ShortUInt(i) => Value::from(*i),
                AMQPValue::LongUInt(i) => Value::from(*i),
                // Any other AMQP type is not in the contract: an object
                // naming it fails every schema's `type`.
                other => serde_json::json!({ "unexpected AMQP value": format!("{other:?}") }),
            };
            out.insert(k.to_string(), v);
        }
    }
    Value::Object(out)
}

/// The basic properties the contract names, as a JSON object (absent ones
/// left out, so `required` catches them).
fn properties_json(m: &BasicGetMessage) -> Value {
    let p = &m.delivery.properties;
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), v);
        }
    };
    put(
        "message_id",
        p.message_id().as_ref().map(|s| s.as_str().into()),
    );
    put("type", p.kind().as_ref().map(|s| s.as_str().into()));
    put(
        "content_type",
        p.content_type().as_ref().map(|s| s.as_str().into()),
    );
    put("delivery_mode", p.delivery_mode().map(Value::from));
    put("timestamp", p.timestamp().map(Value::from));
    put("app_id", p.app_id().as_ref().map(|s| s.as_str().into()));
    Value::Object(out)
}

/// One message taken from the queue, with what the contract says of it.
struct Expect {
    kind: &'static str,
    payload: &'static str,
    routing_key: &'static str,
    message_id: String,
    /// `content_type`: the request's for webhooks, JSON for Notifications.
    content_type: &'static str,
    /// The body published, when it is the request's body byte for byte.
    body: Option<Vec<u8>>,
}

/// Validates one message against the document, then the equalities the
/// schemas cannot express (correlation id, type = routing key...).
fn check(m: &BasicGetMessage, e: &Expect) {
    let what = format!("the {} message", e.kind);
    let props = properties_json(m);
    assert_valid(
        &schema("properties.json"),
        &props,
        &format!("{what}'s AMQP properties"),
    );
    let headers = headers_json(m);
    assert_valid(
        &schema("headers.json"),
        &headers,
        &format!("{what}'s headers"),
    );
    let body: Value = serde_json::from_slice(&m.delivery.data)
        .unwrap_or_else(|err| panic!("{what}'s body is not JSON: {err}"));
    assert_valid(&schema(e.payload), &body, &format!("{what}'s payload"));
    if let Some(sent) = &e.body {
        assert_eq!(&m.delivery.data, sent, "{what}: body published as received");
    }

    // What the document states beyond the schemas.
    assert_eq!(m.delivery.routing_key.as_str(), e.routing_key, "{what}");
    assert_eq!(props["message_id"], e.message_id, "{what}: message_id");
    assert_eq!(
        props["content_type"], e.content_type,
        "{what}: content_type"
    );
    assert_eq!(
        props["type"], e.routing_key,
        "{what}: type is the routing key"
    );
    assert_eq!(props["delivery_mode"], 2, "{what}: persistent");
    assert_eq!(props["app_id"], "hookgate", "{what}");
    let ts = props["timestamp"].as_i64().expect("timestamp");
    assert!(
        (now() - ts).abs() < 60,
        "{what}: timestamp is the receive time"
    );
    assert_eq!(
        headers["cloudEvents:id"], props["message_id"],
        "{what}: correlation id = message_id"
    );
    assert_eq!(headers["cloudEvents:type"], e.routing_key, "{what}");
    assert_eq!(
        headers["cloudEvents:time"], headers["x-hookgate-received-at"],
        "{what}"
    );
    let route = headers["x-hookgate-route"].as_str().expect("route");
    assert!(
        e.routing_key.starts_with(&format!("{route}.")),
        "{what}: the routing key starts with the route name"
    );
    let key = headers["x-hookgate-idempotency-key"]
        .as_str()
        .expect("idempotency key");
    assert!(
        key.starts_with(&format!("{route}|{}", e.message_id)),
        "{what}: idempotency key {key}"
    );
}

/// Validates a message taken from the dead-letter queue against the
/// document's worker headers (`deadLettered`: `x-hookgate-queue` too); the
/// worker tests call it on every message they dead-letter.
pub(crate) fn assert_dead_lettered(m: &BasicGetMessage) {
    let headers = headers_json(m);
    assert_valid(
        &schema("worker-headers.json"),
        &headers,
        "a dead-lettered message's headers",
    );
    assert!(
        headers["x-hookgate-queue"].is_string(),
        "a dead-lettered message names its work queue: {headers:#}"
    );
    assert_eq!(
        m.delivery.properties.delivery_mode(),
        &Some(2),
        "dead-lettered persistent"
    );
}

/// Posts one signed webhook of a kind, expects 200, takes its message.
async fn webhook(h: &Harness, path: &str, headers: &[(String, String)], body: &[u8], e: &Expect) {
    let r = h.post(path, headers, body.to_vec()).await;
    assert_eq!(r.status(), 200, "{}", e.kind);
    let msgs = h.take(1).await;
    check(&msgs[0], e);
}

#[tokio::test]
async fn one_message_of_each_kind_matches_the_asyncapi_document() {
    let h = Harness::start().await;

    let body = fixture("github/push.json");
    let headers = sign::github(
        support::GITHUB_SECRET,
        &body,
        fixture_headers("github/push.json"),
    );
    let e = Expect {
        kind: "github",
        payload: "payload-github.json",
        routing_key: "github.push",
        message_id: "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01".into(),
        content_type: "application/json",
        body: Some(body.clone()),
    };
    webhook(&h, "/hooks/github", &headers, &body, &e).await;

    let body = fixture("stripe/invoice.paid.json");
    let headers = sign::stripe(
        support::STRIPE_SECRET,
        &body,
        now(),
        fixture_headers("stripe/invoice.paid.json"),
    );
    let e = Expect {
        kind: "stripe",
        payload: "payload-stripe.json",
        routing_key: "stripe.invoice.paid",
        message_id: "evt_1QxYzBB2cDeFgHiJa1B2c3D4".into(),
        content_type: "application/json; charset=utf-8",
        body: Some(body.clone()),
    };
    webhook(&h, "/hooks/stripe", &headers, &body, &e).await;

    let body = fixture("slack/app_mention.json");
    let headers = sign::slack(
        support::SLACK_SECRET,
        &body,
        now(),
        fixture_headers("slack/app_mention.json"),
    );
    let e = Expect {
        kind: "slack",
        payload: "payload-slack.json",
        routing_key: "slack.app_mention",
        message_id: "Ev08F7QK1ZPX".into(),
        content_type: "application/json",
        body: Some(body.clone()),
    };
    webhook(&h, "/hooks/slack", &headers, &body, &e).await;

    let body = fixture("shopify/orders_create.json");
    let headers = sign::shopify(
        support::SHOPIFY_SECRET,
        &body,
        fixture_headers("shopify/orders_create.json"),
    );
    let e = Expect {
        kind: "shopify",
        payload: "payload-shopify.json",
        routing_key: "shopify.orders.create",
        message_id: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
        content_type: "application/json",
        body: Some(body.clone()),
    };
    webhook(&h, "/hooks/shopify", &headers, &body, &e).await;

    let body = fixture("standard_webhooks/invoice.created.json");
    let headers = sign::standard(
        support::STANDARD_SECRET,
        &body,
        now(),
        "webhook",
        fixture_headers("standard_webhooks/invoice.created.json"),
    );
    let e = Expect {
        kind: "standard_webhooks",
        payload: "payload-standard-webhooks.json",
        routing_key: "standard.invoice.created",
        message_id: "msg_2tXq9NfH0oZ3yW8kR5cV1bJ7aLp".into(),
        content_type: "application/json",
        body: Some(body.clone()),
    };
    webhook(&h, "/hooks/standard", &headers, &body, &e).await;

    let body = fixture("generic/order.json");
    let headers = sign::generic(
        support::GENERIC_SECRET,
        &body,
        now(),
        fixture_headers("generic/order.json"),
    );
    let e = Expect {
        kind: "generic_hmac",
        payload: "payload-generic-hmac.json",
        routing_key: "generic.order.shipped",
        message_id: "0b6f2c9e-3d4a-4e1b-9f8c-7a5d2e1c0b93".into(),
        content_type: "application/json",
        body: Some(body.clone()),
    };
    webhook(&h, "/hooks/generic", &headers, &body, &e).await;

    // salesforce_om: one message per Notification, the JSON the gateway
    // builds; with and without the forwarded SessionId, with nil fields.
    let r = h
        .post_om("/salesforce/outbound", fixture("salesforce/om_1.xml"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("ack").contains("<Ack>true</Ack>"));
    let msgs = h.take(1).await;
    let notification = |id: &str| Expect {
        kind: "salesforce_om",
        payload: "payload-salesforce-notification.json",
        routing_key: "salesforce.Account",
        message_id: id.to_owned(),
        content_type: "application/json",
        body: None,
    };
    check(&msgs[0], &notification("04lHs000000oLkOIAU"));
    let v: Value = serde_json::from_slice(&msgs[0].delivery.data).expect("json");
    assert!(v.get("session_id").is_none(), "no session_id by default");

    let r = h
        .post_om(
            "/salesforce/with-session",
            fixture("salesforce/om_3_nil.xml"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let msgs = h.take(3).await;
    for m in &msgs {
        let id = m
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .expect("message_id");
        let mut e = notification(&id);
        e.routing_key = "salesforce_session.Account";
        check(m, &e);
        let v: Value = serde_json::from_slice(&m.delivery.data).expect("json");
        assert!(v["session_id"].is_string(), "forwarded session_id");
    }
    h.finish().await;
}

/// `amqp.cloudevents = "off"`: a GitHub delivery and a Notification are
/// published without any `cloudEvents:*` header and still match the
/// document (the five are required together or not at all); `message_id`,
/// `type`, `timestamp` and the `x-hookgate-*` headers carry what the five
/// would have repeated.
#[tokio::test]
async fn without_cloudevents_messages_carry_no_cloudevents_header_and_match_the_document() {
    let h = Harness::start_with(support::Options {
        amqp_toml: Some("cloudevents = \"off\"".into()),
        ..Default::default()
    })
    .await;
    let body = fixture("github/push.json");
    let headers = sign::github(
        support::GITHUB_SECRET,
        &body,
        fixture_headers("github/push.json"),
    );
    let r = h.post("/hooks/github", &headers, body.clone()).await;
    assert_eq!(r.status(), 200);
    let r = h
        .post_om("/salesforce/outbound", fixture("salesforce/om_1.xml"))
        .await;
    assert_eq!(r.status(), 200);
    let msgs = h.take(2).await;
    for (m, routing_key) in [(&msgs[0], "github.push"), (&msgs[1], "salesforce.Account")] {
        let what = format!("the {routing_key} message without CloudEvents");
        let props = properties_json(m);
        assert_valid(&schema("properties.json"), &props, &what);
        let headers = headers_json(m);
        assert_valid(&schema("headers.json"), &headers, &what);
        let names: Vec<&String> = headers.as_object().expect("object").keys().collect();
        assert!(
            names.iter().all(|k| !k.starts_with("cloudEvents:")),
            "{what}: {names:?}"
        );
        assert_eq!(m.delivery.routing_key.as_str(), routing_key, "{what}");
        assert_eq!(props["type"], routing_key, "{what}: type");
        assert!(props["message_id"].is_string(), "{what}: message_id");
        let ts = props["timestamp"].as_i64().expect("timestamp");
        assert!((now() - ts).abs() < 60, "{what}: timestamp");
        assert!(headers["x-hookgate-received-at"].is_string(), "{what}");
        let route = headers["x-hookgate-route"].as_str().expect("route");
        assert!(routing_key.starts_with(&format!("{route}.")), "{what}");
    }
    assert_eq!(
        support::message_id(&msgs[0]),
        "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01"
    );
    assert_eq!(msgs[0].delivery.data, body, "body published as received");
    h.finish().await;
}

/// What the contract says of one event pulled by `hookgate subscribe`.
pub(crate) struct Pulled {
    pub(crate) kind: &'static str,
    /// The payload schema file (docs/asyncapi/).
    pub(crate) payload: &'static str,
    pub(crate) routing_key: String,
    /// `None` when the test cannot know it (a platform event's EventUuid).
    pub(crate) message_id: Option<String>,
    pub(crate) content_type: &'static str,
    pub(crate) subscription: &'static str,
    pub(crate) topic: &'static str,
    /// The replay id the simulator gave the event.
    pub(crate) replay_id: Vec<u8>,
}

/// Validates a message `hookgate subscribe` published against the
/// subscriber's schemas (properties, headers, payload), then the equalities
/// the schemas cannot express. Returns the headers. An `avro/binary` body is
/// not JSON: its schema (`format: binary`) is only compiled, the caller
/// compares the bytes. The Pub/Sub tests call it on their raw messages.
pub(crate) fn check_pulled(m: &BasicGetMessage, e: &Pulled) -> Value {
    use base64::Engine as _;
    let what = format!("the {} message", e.kind);
    let props = properties_json(m);
    assert_valid(
        &schema("pubsub-properties.json"),
        &props,
        &format!("{what}'s AMQP properties"),
    );
    let headers = headers_json(m);
    assert_valid(
        &schema("pubsub-headers.json"),
        &headers,
        &format!("{what}'s headers"),
    );
    if e.content_type == "application/json" {
        let body: Value = serde_json::from_slice(&m.delivery.data)
            .unwrap_or_else(|err| panic!("{what}'s body is not JSON: {err}"));
        assert_valid(&schema(e.payload), &body, &format!("{what}'s payload"));
    } else {
        let _ = schema(e.payload);
        assert!(!m.delivery.data.is_empty(), "{what}: the raw payload");
    }

    assert_eq!(m.delivery.routing_key.as_str(), e.routing_key, "{what}");
    assert_eq!(props["type"], e.routing_key.as_str(), "{what}: type");
    assert_eq!(props["content_type"], e.content_type, "{what}");
    assert_eq!(props["delivery_mode"], 2, "{what}: persistent");
    assert_eq!(props["app_id"], "hookgate", "{what}");
    let ts = props["timestamp"].as_i64().expect("timestamp");
    assert!(
        (now() - ts).abs() < 60,
        "{what}: timestamp is the read time"
    );
    if let Some(id) = &e.message_id {
        assert_eq!(props["message_id"], id.as_str(), "{what}: message_id");
    }
    let id = props["message_id"].as_str().expect("message_id");
    assert_eq!(headers["cloudEvents:id"], id, "{what}: correlation id");
    assert_eq!(
        headers["cloudEvents:type"],
        e.routing_key.as_str(),
        "{what}"
    );
    assert_eq!(headers["cloudEvents:source"], e.topic, "{what}");
    assert_eq!(
        headers["cloudEvents:time"], headers["x-hookgate-received-at"],
        "{what}"
    );
    assert_eq!(headers["x-hookgate-route"], e.subscription, "{what}");
    assert_eq!(
        headers["x-hookgate-idempotency-key"],
        format!("{}|{id}", e.subscription),
        "{what}"
    );
    assert_eq!(
        headers["x-hookgate-replay-id"],
        base64::engine::general_purpose::STANDARD.encode(&e.replay_id),
        "{what}: the event's replay id"
    );
    headers
}

/// One platform event and one change event pulled from the simulator's
/// Pub/Sub API by a running subscriber: both messages (properties, headers,
/// JSON bodies) match the document's `pubsubPlatformEvent` and
/// `pubsubChangeEvent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_platform_and_change_events_match_the_asyncapi_document() {
    use hookgate::pubsub::{self, Options};
    use sfsim::pubsub::{ChangeSpec, ChangeType};
    use support::pubsub::{subscription, PubsubEnv, ACCOUNTS, ORDERS};

    let env = PubsubEnv::start().await;
    let order_replay = env
        .pubsub
        .publish(
            ORDERS,
            serde_json::json!({"Order_Number__c": "ORD-1", "Amount__c": 10.5, "Rush__c": true}),
        )
        .expect("publish");
    let key = "0002a2b9-1f2e-4c3d-8e9f-0a1b2c3d4e5f";
    let spec = ChangeSpec {
        change_type: ChangeType::Update,
        record_ids: vec!["001Hs0000010wBUIAY".into()],
        changed_fields: vec!["Name".into(), "AnnualRevenue".into()],
        nulled_fields: vec!["Industry".into()],
        values: serde_json::json!({"Name": "Acme", "AnnualRevenue": 1.0e6}),
        transaction_key: key.into(),
        sequence_number: 1,
        ..ChangeSpec::default()
    };
    let change_replay = env
        .pubsub
        .publish_change(ACCOUNTS, spec)
        .expect("publish change");
    let subs = format!(
        "{}{}",
        subscription("orders", ORDERS, "earliest", 10),
        subscription("accounts", ACCOUNTS, "earliest", 10)
    );
    let config = env.write_config(support::AMQP_URL, &subs);
    let running = pubsub::start(config, Options::default())
        .await
        .expect("start");
    let mut msgs = env.take(2, std::time::Duration::from_secs(30)).await;
    running.shutdown().await;
    msgs.sort_by_key(|m| m.delivery.routing_key.to_string());
    let (change, order) = (&msgs[0], &msgs[1]);

    let headers = check_pulled(
        order,
        &Pulled {
            kind: "platform event",
            payload: "payload-pubsub-platform-event.json",
            routing_key: "orders.Order_Placed__e".into(),
            message_id: None,
            content_type: "application/json",
            subscription: "orders",
            topic: ORDERS,
            replay_id: order_replay,
        },
    );
    let schema_id = headers["x-hookgate-schema-id"].as_str().expect("schema id");
    let avro = env
        .pubsub
        .schema_json(schema_id)
        .expect("a schema id of the topic");
    assert!(avro.contains("\"Order_Placed__e\""), "{avro}");
    let body: Value = serde_json::from_slice(&order.delivery.data).expect("json");
    assert_eq!(body["Order_Number__c"], "ORD-1");
    assert_eq!(body["Amount__c"], 10.5);
    assert_eq!(body["Rush__c"], true);

    let headers = check_pulled(
        change,
        &Pulled {
            kind: "change event",
            payload: "payload-pubsub-change-event.json",
            routing_key: "accounts.Account.UPDATE".into(),
            message_id: Some(format!("{key}-1")),
            content_type: "application/json",
            subscription: "accounts",
            topic: ACCOUNTS,
            replay_id: change_replay,
        },
    );
    let schema_id = headers["x-hookgate-schema-id"].as_str().expect("schema id");
    let avro = env
        .pubsub
        .schema_json(schema_id)
        .expect("a schema id of the topic");
    assert!(avro.contains("\"AccountChangeEvent\""), "{avro}");
    let body: Value = serde_json::from_slice(&change.delivery.data).expect("json");
    let header = &body["ChangeEventHeader"];
    assert_eq!(
        header["changedFields"],
        serde_json::json!(["Name", "AnnualRevenue"])
    );
    assert_eq!(header["nulledFields"], serde_json::json!(["Industry"]));
    assert_eq!(header["diffFields"], serde_json::json!([]));
    assert_eq!(
        header["recordIds"],
        serde_json::json!(["001Hs0000010wBUIAY"])
    );
    env.finish().await;
}

/// The subscriber's schemas are strict too: the replay and schema id
/// headers are required, a webhook's `traceparent` is not theirs, raw
/// bitmaps are not field names, and the content type is one of two.
#[test]
fn the_pubsub_schemas_refuse_missing_ids_raw_bitmaps_and_other_content_types() {
    let v = schema("pubsub-headers.json");
    let good = serde_json::json!({
        "x-hookgate-route": "orders",
        "x-hookgate-received-at": "2025-03-02T16:45:08.912345678Z",
        "x-hookgate-idempotency-key": "orders|5e2b6a1c-7d3f-4a8e-9b0c-1d2e3f4a5b6c",
        "x-hookgate-replay-id": "AQAAAAAAAAAH",
        "x-hookgate-schema-id": "3c1f0e2d4b5a69788796a5b4c3d2e1f0",
        "cloudEvents:specversion": "1.0",
        "cloudEvents:id": "5e2b6a1c-7d3f-4a8e-9b0c-1d2e3f4a5b6c",
        "cloudEvents:source": "/event/Order_Placed__e",
        "cloudEvents:type": "orders.Order_Placed__e",
        "cloudEvents:time": "2025-03-02T16:45:08.912345678Z"
    });
    assert_valid(&v, &good, "the example headers");
    let obj = good.as_object().expect("object").clone();
    for name in obj.keys() {
        let mut missing = obj.clone();
        missing.remove(name);
        assert!(!v.is_valid(&Value::Object(missing)), "{name} missing");
    }
    let mut traced = obj.clone();
    traced.insert(
        "traceparent".into(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    );
    assert!(!v.is_valid(&Value::Object(traced)), "no traceparent");
    let mut not_base64 = obj;
    not_base64.insert("x-hookgate-replay-id".into(), "01:00:07".into());
    assert!(
        !v.is_valid(&Value::Object(not_base64)),
        "replay id in base64"
    );

    let v = schema("payload-pubsub-change-event.json");
    let mut change = serde_json::json!({"ChangeEventHeader": {
        "entityName": "Account", "recordIds": ["001Hs0000010wBUIAY"],
        "changeType": "UPDATE", "changeOrigin": "", "transactionKey": "k",
        "sequenceNumber": 1, "commitTimestamp": 1, "commitNumber": 1,
        "commitUser": "005Hs00000A1b2CIAR", "nulledFields": [],
        "diffFields": [], "changedFields": ["Name", "Name.LastName"]}});
    assert_valid(&v, &change, "a change event");
    change["ChangeEventHeader"]["changedFields"] = serde_json::json!(["0x06", "3-0x01"]);
    assert!(!v.is_valid(&change), "raw bitmaps are not field names");
    change["ChangeEventHeader"]["changedFields"] = serde_json::json!([]);
    change["ChangeEventHeader"]["changeType"] = "MODIFY".into();
    assert!(!v.is_valid(&change), "an unknown changeType");

    let v = schema("pubsub-properties.json");
    let props = serde_json::json!({
        "message_id": "m", "type": "orders.undecodable", "content_type": "avro/binary",
        "delivery_mode": 2, "timestamp": 1, "app_id": "hookgate"
    });
    assert_valid(&v, &props, "raw event properties");
    let mut other = props;
    other["content_type"] = "application/octet-stream".into();
    assert!(!v.is_valid(&other), "another content type");
}

/// The header schema is strict: a renamed, missing or extra header, or a
/// value of the wrong form, is refused (so the test above would catch the
/// gateway drifting from the document).
#[test]
fn the_header_schema_refuses_renamed_missing_and_extra_headers() {
    let v = schema("headers.json");
    let good = example_webhook_headers();
    assert_valid(&v, &good, "the example headers");
    let mut with_state = good.clone();
    with_state["tracestate"] = "vendor=abc".into();
    assert_valid(&v, &with_state, "the example headers with a tracestate");
    with_state["tracestate"] = "a".repeat(513).into();
    assert!(!v.is_valid(&with_state), "a tracestate over 512 bytes");
    let mut bad_parent = good.clone();
    bad_parent["traceparent"] = "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into();
    assert!(!v.is_valid(&bad_parent), "a traceparent of another version");
    let obj = good.as_object().expect("object").clone();
    for name in obj.keys() {
        let mut missing = obj.clone();
        missing.remove(name);
        assert!(
            !v.is_valid(&Value::Object(missing.clone())),
            "{name} missing"
        );
        let mut renamed = missing;
        renamed.insert(format!("{name}-renamed"), obj[name].clone());
        assert!(!v.is_valid(&Value::Object(renamed)), "{name} renamed");
    }
    let mut extra = obj.clone();
    extra.insert("x-hookgate-new".into(), "x".into());
    assert!(!v.is_valid(&Value::Object(extra)), "undocumented header");
    let mut wrong = obj;
    wrong.insert("cloudEvents:specversion".into(), "0.3".into());
    assert!(!v.is_valid(&Value::Object(wrong)), "wrong specversion");
}

/// A webhook message's headers as docs/asyncapi/headers.json documents
/// them, with every optional one that a GitHub delivery carries.
fn example_webhook_headers() -> Value {
    serde_json::json!({
        "x-hookgate-route": "github",
        "x-hookgate-received-at": "2025-03-02T16:45:08.912345678Z",
        "x-hookgate-idempotency-key": "github|d-1|00",
        "cloudEvents:specversion": "1.0",
        "cloudEvents:id": "d-1",
        "cloudEvents:source": "/hooks/github",
        "cloudEvents:type": "github.push",
        "cloudEvents:time": "2025-03-02T16:45:08.912345678Z",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    })
}

/// Both header schemas take the five `cloudEvents:*` headers all together
/// (`amqp.cloudevents = "binary"`) or none of them (`"off"`), never some.
#[test]
fn the_header_schemas_take_all_cloudevents_headers_or_none() {
    let ce = hookgate::envelope::CLOUDEVENTS_HEADERS;
    for (file, good) in [
        ("headers.json", example_webhook_headers()),
        (
            "pubsub-headers.json",
            serde_json::json!({
                "x-hookgate-route": "orders",
                "x-hookgate-received-at": "2025-03-02T16:45:08.912345678Z",
                "x-hookgate-idempotency-key": "orders|5e2b6a1c",
                "x-hookgate-replay-id": "AQAAAAAAAAAH",
                "x-hookgate-schema-id": "3c1f0e2d4b5a69788796a5b4c3d2e1f0",
                "cloudEvents:specversion": "1.0",
                "cloudEvents:id": "5e2b6a1c",
                "cloudEvents:source": "/event/Order_Placed__e",
                "cloudEvents:type": "orders.Order_Placed__e",
                "cloudEvents:time": "2025-03-02T16:45:08.912345678Z"
            }),
        ),
    ] {
        let v = schema(file);
        assert_valid(&v, &good, file);
        let mut off = good.as_object().expect("object").clone();
        for name in ce {
            assert!(off.remove(name).is_some(), "{file}: {name}");
        }
        assert_valid(
            &v,
            &Value::Object(off.clone()),
            &format!("{file} without CloudEvents"),
        );
        for name in ce {
            let mut one = off.clone();
            one.insert(name.into(), good[name].clone());
            assert!(!v.is_valid(&Value::Object(one)), "{file}: {name} alone");
        }
    }
}

/// The worker's retry headers: `x-hookgate-attempt` is an AMQP integer, not
/// text (real dead-lettered messages are checked by [`assert_dead_lettered`]
/// in the worker tests).
#[test]
fn the_worker_header_schema_takes_an_integer_attempt() {
    let v = schema("worker-headers.json");
    let retried = serde_json::json!({
        "x-hookgate-route": "salesforce",
        "x-hookgate-routing-key": "salesforce.Account",
        "x-hookgate-attempt": 2,
        "x-hookgate-error": "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access"
    });
    assert_valid(&v, &retried, "retry headers");
    let mut text_attempt = retried.clone();
    text_attempt["x-hookgate-attempt"] = "2".into();
    assert!(!v.is_valid(&text_attempt), "attempt must be an integer");
}
