//! The Pub/Sub server against a real tonic client over loopback.

use std::time::Duration;

use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use pubsub_proto::pub_sub_client::PubSubClient;
use pubsub_proto::{FetchRequest, FetchResponse, ReplayPreset, SchemaRequest, TopicRequest};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

use super::*;
use crate::tests::{client, config};
use crate::{Fault, SimConfig, TOKEN_PATH};

pub(super) const ORDER: &str = "/event/Order_Placed__e";
const ACCOUNT: &str = "/data/AccountChangeEvent";

pub(super) struct Env {
    pub sim: Simulator,
    pub ps: PubSubSim,
    pub token: String,
    pub grpc: PubSubClient<Channel>,
}

async fn token(sim: &Simulator) -> String {
    let c = SimConfig::default();
    let reply: Value = client()
        .post(format!("{}{TOKEN_PATH}", sim.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.consumer_key.as_str()),
            ("client_secret", c.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["access_token"].as_str().unwrap().to_owned()
}

pub(super) async fn env_with(pc: PubSubConfig) -> Env {
    let sim = Simulator::start(config()).await.unwrap();
    let ps = PubSubSim::start_with(&sim, pc).await.unwrap();
    ps.add_platform_event(
        ORDER,
        &[
            ("Amount__c", AvroType::Double),
            ("Ref__c", AvroType::String),
        ],
    )
    .unwrap();
    let token = token(&sim).await;
    let channel = Channel::from_shared(ps.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let grpc = PubSubClient::new(channel);
    Env {
        sim,
        ps,
        token,
        grpc,
    }
}

pub(super) async fn env() -> Env {
    env_with(PubSubConfig::default()).await
}

impl Env {
    pub(super) fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        let md = r.metadata_mut();
        md.insert("accesstoken", self.token.parse().unwrap());
        md.insert("instanceurl", self.ps.instance_url().parse().unwrap());
        md.insert("tenantid", self.ps.tenant_id().parse().unwrap());
        r
    }

    /// Opens a stream with `first`; returns the sender for more requests.
    pub(super) async fn subscribe(
        &mut self,
        first: FetchRequest,
    ) -> Result<(mpsc::Sender<FetchRequest>, Streaming<FetchResponse>), Status> {
        let (tx, rx) = mpsc::channel(16);
        tx.send(first).await.unwrap();
        let req = self.req(ReceiverStream::new(rx));
        let stream = self.grpc.subscribe(req).await?.into_inner();
        Ok((tx, stream))
    }
}

pub(super) fn fetch(topic: &str, preset: ReplayPreset, replay_id: Vec<u8>, n: i32) -> FetchRequest {
    FetchRequest {
        topic_name: topic.to_owned(),
        replay_preset: preset as i32,
        replay_id,
        num_requested: n,
        auth_refresh: String::new(),
    }
}

pub(super) fn error_code(s: &Status) -> &str {
    s.metadata()
        .get("error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads responses until `n` events arrived (keepalives skipped).
pub(super) async fn events(
    stream: &mut Streaming<FetchResponse>,
    n: usize,
) -> Vec<pubsub_proto::ConsumerEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let r = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("timely")
            .expect("no error")
            .expect("open");
        out.extend(r.events);
    }
    out
}

fn decode(schema_json: &str, payload: &[u8]) -> Avro {
    let schema = Schema::parse_str(schema_json).unwrap();
    apache_avro::reader::datum::GenericDatumReader::builder(&schema)
        .build()
        .unwrap()
        .read_value(&mut &payload[..])
        .unwrap()
}

#[tokio::test]
async fn refuses_bad_auth() {
    let mut e = env().await;
    let mut bad = e.req(TopicRequest {
        topic_name: ORDER.to_owned(),
    });
    bad.metadata_mut()
        .insert("accesstoken", "nope".parse().unwrap());
    let s = e.grpc.get_topic(bad).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        error_code(&s),
        "sfdc.platform.eventbus.grpc.service.auth.error"
    );
    assert!(s.message().contains("rpcId: "), "{}", s.message());

    let mut wrong_tenant = e.req(TopicRequest {
        topic_name: ORDER.to_owned(),
    });
    wrong_tenant
        .metadata_mut()
        .insert("tenantid", "00D000000000001AAA".parse().unwrap());
    assert_eq!(
        e.grpc.get_topic(wrong_tenant).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let ok = e
        .grpc
        .get_topic(e.req(TopicRequest {
            topic_name: ORDER.to_owned(),
        }))
        .await;
    let info = ok.unwrap().into_inner();
    assert!(info.can_subscribe);
    let schema = e.grpc.get_schema(e.req(SchemaRequest {
        schema_id: info.schema_id.clone(),
    }));
    let schema = schema.await.unwrap().into_inner();
    assert!(schema.schema_json.contains("Order_Placed__e"));

    // Expired tokens (the REST simulator's own fault) fail the next RPC.
    e.sim.inject(Fault::ExpireTokens);
    let s = e
        .grpc
        .get_schema(e.req(SchemaRequest {
            schema_id: info.schema_id,
        }))
        .await;
    assert_eq!(
        error_code(&s.unwrap_err()),
        "sfdc.platform.eventbus.grpc.service.auth.error"
    );
    let s = e
        .subscribe(fetch(ORDER, ReplayPreset::Latest, vec![], 1))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn starting_points() {
    let mut e = env().await;
    let ids =
        e.ps.publish_many(ORDER, 5, |i| json!({ "Ref__c": format!("r{i}") }))
            .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let (_tx, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Earliest, vec![], 10))
        .await
        .unwrap();
    let got = events(&mut s, 5).await;
    assert_eq!(
        got.iter().map(|c| c.replay_id.clone()).collect::<Vec<_>>(),
        ids
    );
    let ev = got[0].event.as_ref().unwrap();
    assert_eq!(ev.id.len(), 36, "EventUuid in ProducerEvent.id");
    let schema = e.ps.schema_json(&ev.schema_id).unwrap();
    let Avro::Record(fields) = decode(&schema, &ev.payload) else {
        panic!()
    };
    assert_eq!(
        fields[3],
        (
            "Ref__c".to_owned(),
            Avro::Union(1, Box::new(Avro::String("r0".into())))
        )
    );

    let (_tx2, mut s2) = e
        .subscribe(fetch(ORDER, ReplayPreset::Custom, ids[2].clone(), 10))
        .await
        .unwrap();
    let got = events(&mut s2, 2).await;
    assert_eq!(got[0].replay_id, ids[3]);

    let (_tx3, mut s3) = e
        .subscribe(fetch(ORDER, ReplayPreset::Latest, vec![], 10))
        .await
        .unwrap();
    let new = e.ps.publish(ORDER, json!({ "Amount__c": 1.5 })).unwrap();
    let got = events(&mut s3, 1).await;
    assert_eq!(got[0].replay_id, new);

    let (_t, mut bad) = e
        .subscribe(fetch(ORDER, ReplayPreset::Custom, b"garbage".to_vec(), 1))
        .await
        .unwrap();
    let err = bad.message().await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(error_code(&err).ends_with("subscription.fetch.replayid.validation.failed"));

    let (_t, mut none) = e
        .subscribe(fetch("/event/Nope__e", ReplayPreset::Latest, vec![], 1))
        .await
        .unwrap();
    assert!(error_code(&none.message().await.unwrap_err()).ends_with("topic.not.found"));
}

#[tokio::test]
async fn flow_control_caps_outstanding() {
    let mut e = env_with(PubSubConfig {
        keepalive: Duration::from_millis(200),
        ..PubSubConfig::default()
    })
    .await;
    e.ps.publish_many(ORDER, 10_000, |i| json!({ "Amount__c": i as f64 }))
        .unwrap();
    let (tx, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Earliest, vec![], 3))
        .await
        .unwrap();
    let first = s.message().await.unwrap().unwrap();
    assert_eq!(first.events.len(), 3);
    assert_eq!(first.pending_num_requested, 0);
    // Nothing more until asked: the next message is a keepalive.
    let keep = s.message().await.unwrap().unwrap();
    assert!(keep.events.is_empty());
    assert_eq!(keep.latest_replay_id, first.latest_replay_id);
    // 500 requested counts as 100.
    tx.send(fetch(ORDER, ReplayPreset::Latest, vec![], 500))
        .await
        .unwrap();
    let mut n = 0;
    while n < 100 {
        let r = s.message().await.unwrap().unwrap();
        assert!(n + r.events.len() <= 100);
        n += r.events.len();
    }
    let after = tokio::time::timeout(Duration::from_millis(500), s.message()).await;
    if let Ok(Ok(Some(r))) = after {
        assert!(r.events.is_empty(), "delivered more than requested");
    }
    let c = e.ps.counters();
    assert_eq!(c.events_delivered, 103);
    assert_eq!(c.max_outstanding, 100);
    assert_eq!(c.fetch_requests, 2);
    assert_eq!(c.open_streams, 1);
    // A different topic on a later request.
    e.ps.add_platform_event("/event/Other__e", &[]).unwrap();
    tx.send(fetch("/event/Other__e", ReplayPreset::Latest, vec![], 1))
        .await
        .unwrap();
    let err = loop {
        match s.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("closed without error"),
            Err(err) => break err,
        }
    };
    assert!(error_code(&err).ends_with("subscription.fetch.topic.mismatch"));
}

#[tokio::test]
async fn retention_corrupts_old_replay_ids() {
    let mut e = env().await;
    let old = e.ps.publish(ORDER, json!({})).unwrap();
    e.ps.advance(Duration::from_secs(71 * 3600));
    let kept = e.ps.publish(ORDER, json!({})).unwrap();
    e.ps.advance(Duration::from_secs(2 * 3600));
    let (_t, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Custom, old, 1))
        .await
        .unwrap();
    let err = s.message().await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&err),
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    );
    let (_t, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Earliest, vec![], 5))
        .await
        .unwrap();
    assert_eq!(events(&mut s, 1).await[0].replay_id, kept);
}

#[tokio::test]
async fn change_events_and_bitmaps() {
    let mut e = env().await;
    let fields = [
        ("Name", AvroType::String),
        ("Phone", AvroType::String),
        ("Site", AvroType::String),
        ("Rating", AvroType::String),
        ("Industry", AvroType::String),
    ];
    e.ps.add_change_event(ACCOUNT, "Account", &fields).unwrap();
    e.ps.add_change_event(
        "/data/ContactChangeEvent",
        "Contact",
        &[(
            "Name",
            AvroType::compound(
                "Switchable_PersonName",
                &[
                    ("Salutation", AvroType::String),
                    ("FirstName", AvroType::String),
                    ("LastName", AvroType::String),
                ],
            ),
        )],
    )
    .unwrap();
    let spec = ChangeSpec {
        change_type: ChangeType::Update,
        record_ids: vec!["001000000000001AAA".into()],
        // Positions 2 and 5: 0x24.
        changed_fields: vec!["Phone".into(), "Industry".into()],
        values: json!({ "Phone": "555", "Industry": "Energy" }),
        sequence_number: 1,
        ..ChangeSpec::default()
    };
    let id = e.ps.publish_change(ACCOUNT, spec).unwrap();
    let contact = ChangeSpec {
        changed_fields: vec!["Name.LastName".into()],
        values: json!({ "Name": { "LastName": "Doe" } }),
        ..ChangeSpec::default()
    };
    e.ps.publish_change("/data/ContactChangeEvent", contact)
        .unwrap();

    let (_t, mut s) = e
        .subscribe(fetch(ALL_CHANGES, ReplayPreset::Earliest, vec![], 10))
        .await
        .unwrap();
    let got = events(&mut s, 2).await;
    assert_eq!(got[0].replay_id, id);
    let ev = got[0].event.as_ref().unwrap();
    assert!(ev.id.is_empty(), "change events have no id");
    let other = got[1].event.as_ref().unwrap();
    assert_ne!(ev.schema_id, other.schema_id);
    let Avro::Record(fields) = decode(&e.ps.schema_json(&ev.schema_id).unwrap(), &ev.payload)
    else {
        panic!()
    };
    let Avro::Record(header) = &fields[0].1 else {
        panic!()
    };
    let changed = header.iter().find(|(n, _)| n == "changedFields").unwrap();
    assert_eq!(changed.1, Avro::Array(vec![Avro::String("0x24".into())]));
    assert_eq!(header[2].1, Avro::Enum(1, "UPDATE".into()));
    let Avro::Record(fields) = decode(&e.ps.schema_json(&other.schema_id).unwrap(), &other.payload)
    else {
        panic!()
    };
    let Avro::Record(header) = &fields[0].1 else {
        panic!()
    };
    let changed = header.iter().find(|(n, _)| n == "changedFields").unwrap();
    assert_eq!(changed.1, Avro::Array(vec![Avro::String("1-0x4".into())]));
}

#[tokio::test]
async fn raw_payloads_are_stored_unchecked_with_the_topic_schema_id() {
    let mut e = env().await;
    let valid = e.ps.publish(ORDER, json!({ "Ref__c": "r0" })).unwrap();
    let garbage = vec![0xff, 0xfe, 0x00, 0x13, 0x37];
    let raw = e.ps.publish_raw(ORDER, garbage.clone()).unwrap();
    assert!(valid < raw, "replay ids keep their order");
    let (_tx, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Earliest, vec![], 10))
        .await
        .unwrap();
    let got = events(&mut s, 2).await;
    assert_eq!(got[1].replay_id, raw);
    let (good, bad) = (
        got[0].event.as_ref().unwrap(),
        got[1].event.as_ref().unwrap(),
    );
    assert_eq!(bad.payload, garbage, "the bytes as given");
    assert_eq!(bad.schema_id, good.schema_id, "the topic's schema id");
    assert_eq!(bad.id.len(), 36, "an EventUuid");
    assert_ne!(bad.id, good.id);
    assert!(matches!(
        e.ps.publish_raw("/event/Nope__e", vec![1]),
        Err(Error::UnknownTopic(_))
    ));
    assert!(matches!(
        e.ps.publish_raw(ALL_CHANGES, vec![1]),
        Err(Error::WrongTopicKind(_))
    ));
}
