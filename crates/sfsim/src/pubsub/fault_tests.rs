//! Pub/Sub faults, silence, the idle close and shutdown, against a real
//! tonic client.

use std::time::Duration;

use pubsub_proto::{ReplayPreset, SchemaRequest, TopicRequest};
use serde_json::json;
use tonic::Code;

use super::tests::{env, env_with, error_code, fetch, ORDER};
use super::*;

#[tokio::test]
async fn faults() {
    let mut e = env().await;
    e.ps.publish_many(ORDER, 10, |_| json!({})).unwrap();
    e.ps.inject(PubSubFault::EndStreamAfter(4));
    let (_t, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Earliest, vec![], 100))
        .await
        .unwrap();
    let mut n = 0;
    let err = loop {
        match s.message().await {
            Ok(Some(r)) => n += r.events.len(),
            Ok(None) => panic!("closed without error"),
            Err(err) => break err,
        }
    };
    assert_eq!(n, 4);
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.message().contains("RST_STREAM closed stream"));

    e.ps.inject(PubSubFault::Unavailable);
    e.ps.inject(PubSubFault::ConcurrentClientLimit);
    e.ps.inject(PubSubFault::AuthError);
    let s = e
        .subscribe(fetch(ORDER, ReplayPreset::Latest, vec![], 1))
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&s),
        "sfdc.platform.eventbus.grpc.service.unavailable"
    );
    let s = e
        .subscribe(fetch(ORDER, ReplayPreset::Latest, vec![], 1))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::ResourceExhausted);
    assert!(error_code(&s).ends_with("concurrent.client.limit.exceeded"));
    let s = e
        .grpc
        .get_schema(e.req(SchemaRequest {
            schema_id: "x".into(),
        }))
        .await;
    assert_eq!(s.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(e.ps.counters().subscribe_calls, 3);
}

#[tokio::test]
async fn silence_and_idle_close() {
    let mut e = env_with(PubSubConfig {
        keepalive: Duration::from_millis(100),
        idle_close: Duration::from_millis(300),
        ..PubSubConfig::default()
    })
    .await;
    e.ps.inject(PubSubFault::Silence);
    e.ps.publish(ORDER, json!({})).unwrap();
    let (_t, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Earliest, vec![], 5))
        .await
        .unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(600), s.message()).await;
    assert!(quiet.is_err(), "a silent stream sends nothing");

    // Nothing requested: keepalives, then the stream closes.
    let (_t, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Latest, vec![], 0))
        .await
        .unwrap();
    let keep = s.message().await.unwrap().unwrap();
    assert!(keep.events.is_empty() && !keep.latest_replay_id.is_empty());
    let end = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = s.message().await {}
    })
    .await;
    assert!(end.is_ok(), "idle stream closed");
    e.ps.shutdown();
}

#[tokio::test]
async fn unknown_topic_and_shutdown_with_the_simulator() {
    let mut e = env().await;
    let r = e.grpc.get_topic(e.req(TopicRequest {
        topic_name: "/event/Nope__e".to_owned(),
    }));
    let s = r.await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    assert!(error_code(&s).ends_with("topic.not.found"));
    let info = e.grpc.get_topic(e.req(TopicRequest {
        topic_name: ALL_CHANGES.to_owned(),
    }));
    assert!(info.await.unwrap().into_inner().can_subscribe);

    let (_t, mut s) = e
        .subscribe(fetch(ORDER, ReplayPreset::Latest, vec![], 1))
        .await
        .unwrap();
    e.sim.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(5), s.message()).await;
    assert!(!matches!(end.expect("ended"), Ok(Some(_))));
    assert_eq!(e.ps.counters().open_streams, 0);
}
