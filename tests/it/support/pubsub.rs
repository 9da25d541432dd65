//! Pub/Sub API test support: the REST simulator (tokens) with its Pub/Sub
//! server, a unique exchange and a durable queue bound to it (`#`), and a
//! `hookgate subscribe` config against them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt as _;
use hookgate::config::pubsub::SubscribeConfig;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};
use sfsim::pubsub::AvroType;
use sfsim::{PubSubConfig, PubSubSim, Simulator};

use super::worker::{simulator, CONSUMER_KEY, USERNAME};
use super::{cleanup, declare_exchange, repo, unique, AMQP_URL};

/// The platform event topic of the tests.
pub const ORDERS: &str = "/event/Order_Placed__e";
/// The change event topic of the tests.
pub const ACCOUNTS: &str = "/data/AccountChangeEvent";

/// One message as the queue held it.
#[derive(Debug, Clone)]
pub struct Got {
    pub message_id: String,
    pub routing_key: String,
    pub content_type: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Got {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub struct PubsubEnv {
    pub sim: Simulator,
    pub pubsub: PubSubSim,
    pub dir: tempfile::TempDir,
    pub exchange: String,
    pub queue: String,
    pub config_path: PathBuf,
    amqp: Connection,
    pub channel: Channel,
    /// Set by [`PubsubEnv::finish`]; otherwise `Drop` deletes the exchange
    /// and queue (a test that panicked).
    finished: bool,
}

impl PubsubEnv {
    /// The simulators with the two test topics, the exchange and queue.
    pub async fn start() -> PubsubEnv {
        super::logs();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = simulator(1_000_000).await;
        let config = PubSubConfig {
            keepalive: Duration::from_millis(200),
            ..PubSubConfig::default()
        };
        let pubsub = PubSubSim::start_with(&sim, config)
            .await
            .expect("pubsub sim");
        pubsub
            .add_platform_event(
                ORDERS,
                &[
                    ("Order_Number__c", AvroType::String),
                    ("Amount__c", AvroType::Double),
                    ("Rush__c", AvroType::Boolean),
                ],
            )
            .expect("platform event topic");
        pubsub
            .add_change_event(
                ACCOUNTS,
                "Account",
                &[
                    ("Name", AvroType::String),
                    ("Industry", AvroType::String),
                    ("AnnualRevenue", AvroType::Double),
                ],
            )
            .expect("change event topic");
        let id = unique();
        let exchange = format!("hookgate.test.{id}");
        let queue = format!("hookgate.test.{id}.events");
        let amqp = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = amqp.create_channel().await.expect("channel");
        declare_exchange(&channel, &exchange).await;
        channel
            .queue_declare(
                ShortString::from(queue.as_str()),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue");
        channel
            .queue_bind(
                ShortString::from(queue.as_str()),
                ShortString::from(exchange.as_str()),
                ShortString::from("#"),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("hookgate.toml");
        PubsubEnv {
            sim,
            pubsub,
            dir,
            exchange,
            queue,
            config_path,
            amqp,
            channel,
            finished: false,
        }
    }

    /// Writes the config: `subscriptions` is the `[[salesforce.subscriptions]]`
    /// blocks, `amqp_url` the broker (a proxy in outage tests).
    pub fn write_config(&self, amqp_url: &str, subscriptions: &str) -> SubscribeConfig {
        let key_file = self.dir.path().join("consumer_key");
        std::fs::write(&key_file, CONSUMER_KEY).expect("key file");
        let text = format!(
            r#"
[amqp]
url = "{amqp_url}"
exchange = "{exchange}"
confirm_timeout_ms = 5000

[pubsub]
path = "{replay}"
admin_listen = "127.0.0.1:0"
silence_s = 2
retry_min_ms = 50
retry_max_s = 1

[salesforce]
login_url = "{url}"
instance_url = "{url}"
organization_id = "{org}"
auth = "jwt_bearer"
consumer_key = {{ file = "{key_file}" }}
username = "{USERNAME}"
private_key = {{ file = "{pem}" }}
pubsub_url = "{pubsub}"

{subscriptions}
"#,
            exchange = self.exchange,
            replay = self.dir.path().join("replay.redb").display(),
            url = self.sim.url(),
            org = self.pubsub.tenant_id(),
            key_file = key_file.display(),
            pem = repo()
                .join("fixtures/salesforce/jwt/test-rsa.key")
                .display(),
            pubsub = self.pubsub.url(),
        );
        std::fs::write(&self.config_path, &text).expect("write config");
        SubscribeConfig::load(&self.config_path).expect("config")
    }

    /// Consumes until `done(&got)` holds or `within` passes; then keeps
    /// reading for `settle` more to see late duplicates. Each message is
    /// acked as it is read: what the broker pushed but this did not read
    /// goes back to the queue when the channel closes (with `no_ack` it
    /// would be lost to the next call).
    pub async fn collect(
        &self,
        within: Duration,
        settle: Duration,
        done: impl Fn(&[Got]) -> bool,
    ) -> Vec<Got> {
        let ch = self.amqp.create_channel().await.expect("channel");
        ch.basic_qos(1000, BasicQosOptions::default())
            .await
            .expect("qos");
        let tag = format!("collect-{}", unique());
        let mut consumer = ch
            .basic_consume(
                ShortString::from(self.queue.as_str()),
                ShortString::from(tag.as_str()),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let deadline = tokio::time::Instant::now() + within;
        let mut got: Vec<Got> = Vec::new();
        let mut settled: Option<tokio::time::Instant> = None;
        loop {
            if settled.is_none() && done(&got) {
                settled = Some(tokio::time::Instant::now() + settle);
            }
            let until = settled.unwrap_or(deadline).min(deadline);
            // Past the settle time: stop even while deliveries are ready.
            if tokio::time::Instant::now() >= until {
                break;
            }
            match tokio::time::timeout_at(until, consumer.next()).await {
                Ok(Some(Ok(d))) => {
                    d.ack(BasicAckOptions::default()).await.expect("ack");
                    got.push(Got {
                        message_id: d
                            .properties
                            .message_id()
                            .as_ref()
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                        routing_key: d.routing_key.to_string(),
                        content_type: d
                            .properties
                            .content_type()
                            .as_ref()
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                        headers: headers(d.properties.headers().as_ref()),
                        body: d.data.clone(),
                    })
                }
                Ok(_) => panic!("consumer ended"),
                Err(_) => break,
            }
        }
        let _ = ch.close(200, ShortString::from("done")).await;
        got
    }

    /// Takes exactly `n` messages from the queue with `basic.get` (all
    /// their properties), in queue order, waiting up to `within` for them;
    /// then checks that no further message arrives for a moment.
    pub async fn take(&self, n: usize, within: Duration) -> Vec<BasicGetMessage> {
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.get().await {
                Some(m) => out.push(m),
                None if tokio::time::Instant::now() > deadline => {
                    panic!("expected {n} messages, got {}", out.len())
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(extra) = self.get().await {
            panic!(
                "more than {n} messages: also {}",
                extra.delivery.routing_key
            );
        }
        out
    }

    /// One message from the queue (`basic.get`, no ack), if any.
    async fn get(&self) -> Option<BasicGetMessage> {
        self.channel
            .basic_get(
                ShortString::from(self.queue.as_str()),
                BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get")
    }

    /// Deletes the exchange and queue.
    pub async fn finish(mut self) {
        self.finished = true;
        let _ = self.amqp.close(200, ShortString::from("done")).await;
        cleanup(
            AMQP_URL,
            vec![self.exchange.clone()],
            vec![self.queue.clone()],
        );
        // The simulators stop when dropped, with `self`.
        self.pubsub.shutdown();
    }
}

impl Drop for PubsubEnv {
    fn drop(&mut self) {
        if !self.finished {
            cleanup(
                AMQP_URL,
                vec![self.exchange.clone()],
                vec![self.queue.clone()],
            );
        }
    }
}

fn headers(table: Option<&FieldTable>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(t) = table {
        for (k, v) in t.inner() {
            let v = match v {
                AMQPValue::LongString(s) => s.to_string(),
                AMQPValue::ShortString(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            out.insert(k.to_string(), v);
        }
    }
    out
}

/// A subscription block.
pub fn subscription(name: &str, topic: &str, preset: &str, batch: u32) -> String {
    format!(
        "[[salesforce.subscriptions]]\nname = \"{name}\"\ntopic = \"{topic}\"\nreplay_preset = \"{preset}\"\nbatch = {batch}\n"
    )
}

/// How many messages each id came in.
pub fn by_id(got: &[Got]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for g in got {
        *m.entry(g.message_id.clone()).or_insert(0) += 1;
    }
    m
}
