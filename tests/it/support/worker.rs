//! Worker test support: the Salesforce simulator, a work queue bound to a
//! gateway's exchange, and a worker configured against both.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hookgate::config::worker::WorkerConfig;
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};
use sfsim::{SimConfig, Simulator};

use super::{repo, unique, AMQP_URL};

pub const CONSUMER_KEY: &str = "3MVG9-test-consumer-key";
pub const USERNAME: &str = "integration@example.com";

/// The actions of [`WorkerEnv::start`] unless [`WorkerOpts::actions`].
pub const DEFAULT_ACTIONS: &str = r#"
[[worker.actions]]
match = "salesforce.Account"
kind = "salesforce_update"
fields = { Integration_Status__c = "Received", Last_Synced__c = "{received_at}" }

[[worker.actions]]
match = "stripe.invoice.*"
kind = "salesforce_upsert"
sobject = "Payment__c"
external_id_field = "Stripe_Id__c"
fields = { Stripe_Id__c = "/data/object/id", Amount__c = "/data/object/amount_paid" }
"#;

/// Knobs for [`WorkerEnv::start`].
pub struct WorkerOpts {
    pub redis: bool,
    pub batch_linger_ms: u64,
    pub max_attempts: u32,
    pub budget_pause_s: u64,
    pub daily_limit: u64,
    /// `[[worker.actions]]` blocks replacing the default two.
    pub actions: Option<String>,
    /// The connected app's own allocation (`per-app-api-usage`).
    pub per_app_limit: Option<u64>,
    /// The body of a `[worker.bulk]` section.
    pub bulk: Option<String>,
    /// Changes the simulator's config before it starts.
    pub tune_sim: Option<fn(&mut SimConfig)>,
}

impl Default for WorkerOpts {
    fn default() -> Self {
        WorkerOpts {
            redis: false,
            batch_linger_ms: 200,
            max_attempts: 4,
            budget_pause_s: 2,
            daily_limit: 100_000,
            actions: None,
            per_app_limit: None,
            bulk: None,
            tune_sim: None,
        }
    }
}

pub struct WorkerEnv {
    pub sim: Simulator,
    pub work_queue: String,
    pub dlq: String,
    pub config_path: PathBuf,
    pub config_text: String,
    pub dir: tempfile::TempDir,
    amqp: Connection,
    pub channel: Channel,
    redis: bool,
    finished: bool,
    /// Exchanges the test made for this env, deleted by `Drop` when the
    /// test panicked before `finish`.
    pub exchanges: Vec<String>,
}

/// The simulator trusting the test key. It stands for a login host that is
/// not Salesforce's (the default [`sfsim::LoginHost::Site`]): the JWT `aud`
/// must be its own URL, as Salesforce requires of an Experience Cloud site.
pub async fn simulator(daily_limit: u64) -> Simulator {
    simulator_with(daily_limit, None).await
}

/// [`simulator`] with a per-app allocation.
pub async fn simulator_with(daily_limit: u64, per_app_limit: Option<u64>) -> Simulator {
    simulator_tuned(daily_limit, per_app_limit, None).await
}

/// [`simulator_with`], its config changed by `tune` first.
pub async fn simulator_tuned(
    daily_limit: u64,
    per_app_limit: Option<u64>,
    tune: Option<fn(&mut SimConfig)>,
) -> Simulator {
    let pem =
        std::fs::read_to_string(repo().join("fixtures/salesforce/jwt/test-rsa.pub.pem")).unwrap();
    let mut config = SimConfig {
        consumer_key: CONSUMER_KEY.into(),
        username: USERNAME.into(),
        jwt_public_key_pem: pem,
        daily_limit,
        per_app_limit,
        ..SimConfig::default()
    };
    if let Some(tune) = tune {
        tune(&mut config);
    }
    Simulator::start(config).await.expect("simulator")
}

impl WorkerEnv {
    /// Declares a durable work queue bound (`#`) to `exchange` and writes a
    /// worker config for it.
    pub async fn start(exchange: &str, opts: WorkerOpts) -> WorkerEnv {
        super::logs();
        let sim = simulator_tuned(opts.daily_limit, opts.per_app_limit, opts.tune_sim).await;
        let dir = tempfile::tempdir().unwrap();
        let id = unique();
        let work_queue = format!("hookgate.test.{id}.work");
        let dlq = format!("hookgate.test.{id}.dead");
        let amqp = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = amqp.create_channel().await.unwrap();
        channel
            .queue_declare(
                ShortString::from(work_queue.as_str()),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                ShortString::from(work_queue.as_str()),
                ShortString::from(exchange),
                ShortString::from("#"),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let key_file = dir.path().join("consumer_key");
        std::fs::write(&key_file, CONSUMER_KEY).unwrap();
        let idem = if opts.redis {
            "store = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"".to_string()
        } else {
            format!(
                "store = \"embedded\"\npath = \"{}\"",
                dir.path().join("idem.redb").display()
            )
        };
        let config_text = format!(
            r#"
[amqp]
url = "{AMQP_URL}"
exchange = "{exchange}"

[worker]
queues = ["{work_queue}"]
prefetch = 400
batch_linger_ms = {linger}
max_attempts = {attempts}
retry_delays_s = [1, 1, 2]
dead_letter_queue = "{dlq}"
admin_listen = "127.0.0.1:0"
budget_pause_s = {pause}
pause_retry_min_ms = 200
pause_retry_max_s = 1

[worker.idempotency]
{idem}

[worker.bulk]
{bulk}

{actions}

[salesforce]
login_url = "{url}"
instance_url = "{url}"
api_version = "62.0"
auth = "jwt_bearer"
consumer_key = {{ file = "{key_file}" }}
username = "{USERNAME}"
private_key = {{ file = "{pem}" }}
max_api_usage = 0.9
"#,
            actions = opts.actions.as_deref().unwrap_or(DEFAULT_ACTIONS),
            bulk = opts.bulk.as_deref().unwrap_or(""),
            linger = opts.batch_linger_ms,
            attempts = opts.max_attempts,
            pause = opts.budget_pause_s,
            url = sim.url(),
            key_file = key_file.display(),
            pem = repo()
                .join("fixtures/salesforce/jwt/test-rsa.key")
                .display(),
        );
        let config_path = dir.path().join("worker.toml");
        std::fs::write(&config_path, &config_text).unwrap();
        WorkerEnv {
            sim,
            work_queue,
            dlq,
            config_path,
            config_text,
            dir,
            amqp,
            channel,
            redis: opts.redis,
            finished: false,
            exchanges: Vec::new(),
        }
    }

    /// The validated config (admin port 0, so several workers can run).
    pub fn config(&self) -> WorkerConfig {
        WorkerConfig::from_toml(&self.config_path, &self.config_text).expect("worker config")
    }

    /// Starts a worker in-process on this config with `from` replaced by
    /// `to` (e.g. another username).
    pub async fn worker_with(&self, from: &str, to: &str) -> hookgate::worker::Running {
        let text = self.config_text.replace(from, to);
        let config = WorkerConfig::from_toml(&self.config_path, &text).expect("worker config");
        hookgate::worker::start(config).await.expect("start worker")
    }

    /// Starts a worker in-process after another was aborted in-process: a
    /// blocking store operation of the aborted one (a claim in flight) may
    /// hold the embedded store's file a moment longer (a crashed process
    /// releases it at once), so the start is tried again for up to 10 s.
    pub async fn worker_after_abort(&self) -> hookgate::worker::Running {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match hookgate::worker::start(self.config()).await {
                Ok(w) => return w,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(e.to_string().contains("already open"), "start worker: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("start worker: {e}"),
            }
        }
    }

    /// Starts a worker in-process.
    pub async fn worker(&self) -> hookgate::worker::Running {
        hookgate::worker::start(self.config())
            .await
            .expect("start worker")
    }

    /// Messages in a queue right now.
    pub async fn depth(&self, queue: &str) -> u32 {
        let ch = self.amqp.create_channel().await.unwrap();
        let q = ch
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = ch.close(200, ShortString::from("depth")).await;
        q.message_count()
    }

    /// Messages in a queue right now; `None` while it does not exist.
    pub async fn try_depth(&self, queue: &str) -> Option<u32> {
        // A passive declare of a missing queue closes its channel: one
        // channel per call.
        let ch = self.amqp.create_channel().await.ok()?;
        let q = ch
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        let _ = ch.close(200, ShortString::from("depth")).await;
        Some(q.message_count())
    }

    /// Takes every message of the dead-letter queue: (original routing key, x-hookgate-error).
    pub async fn take_dead(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(
                ShortString::from(self.dlq.as_str()),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            crate::contracts::assert_dead_lettered(&m);
            let err = m
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| match h.inner().get("x-hookgate-error") {
                    Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            let key = m
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| match h.inner().get("x-hookgate-routing-key") {
                    Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            out.push((key, err));
        }
        out
    }

    /// Deletes the queues this env made (work, retry, dead-letter) and
    /// Redis keys when used.
    fn queues(&self) -> Vec<String> {
        let mut queues = vec![self.work_queue.clone(), self.dlq.clone()];
        for d in [1u64, 2] {
            queues.push(hookgate::worker::consume::retry_queue(&self.work_queue, d));
        }
        queues
    }

    pub async fn finish(mut self, ids: &[String]) {
        self.finished = true;
        // Each channel closed (the env's own too) before the connection: a
        // connection closed over open channels makes lapin log `invalid
        // channel state: Closing` for each. A channel per delete: a failed
        // one closes its channel.
        for q in self.queues() {
            let ch = self.amqp.create_channel().await.unwrap();
            let _ = ch
                .queue_delete(ShortString::from(q.as_str()), QueueDeleteOptions::default())
                .await;
            let _ = ch.close(200, ShortString::from("done")).await;
        }
        let _ = self.channel.close(200, ShortString::from("done")).await;
        if self.redis && !ids.is_empty() {
            if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379") {
                if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                    // Keys are `<prefix><route>|<id>[|<body hash>]`: delete
                    // those naming one of our (run-unique) ids.
                    use redis::AsyncCommands as _;
                    let prefix = hookgate::worker::dedupe::REDIS_PREFIX;
                    let ids: std::collections::HashSet<&str> =
                        ids.iter().map(String::as_str).collect();
                    let mut ours = Vec::new();
                    if let Ok(mut keys) = c.scan_match::<_, String>(format!("{prefix}*")).await {
                        while let Some(Ok(k)) = keys.next_item().await {
                            let rest = k.strip_prefix(prefix).unwrap_or_default();
                            if rest.split('|').any(|part| ids.contains(part)) {
                                ours.push(k);
                            }
                        }
                    }
                    if !ours.is_empty() {
                        let _ = redis::cmd("DEL").arg(&ours).query_async::<()>(&mut c).await;
                    }
                }
            }
        }
        let _ = self.amqp.close(200, ShortString::from("done")).await;
    }
}

impl Drop for WorkerEnv {
    /// A test that panicked before `finish`: delete its queues anyway.
    fn drop(&mut self) {
        if !self.finished {
            super::cleanup(AMQP_URL, self.exchanges.clone(), self.queues());
        }
    }
}

/// Declares a topic exchange of the test's own (`hookgate.test.<unique>.x`,
/// no gateway needed) and returns its name.
pub async fn topic_exchange() -> String {
    let exchange = format!("hookgate.test.{}.x", unique());
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        ShortString::from(exchange.as_str()),
        lapin::ExchangeKind::Topic,
        lapin::options::ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, ShortString::from("declared")).await;
    exchange
}

/// 18-character test ids: prefix + 12 digits + the case checksum.
pub fn sfid(prefix: &str, n: u64) -> String {
    let id15 = format!("{prefix}{:012}", n % 1_000_000_000_000);
    hookgate::salesforce::id::to_18(&id15).expect("valid id")
}

/// A base number unique to this test run.
pub fn base() -> u64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 % 1_000_000_000) * 1000
        + u64::from(std::process::id() % 1000)
}

/// An Outbound Message with one Account Notification per (notification id,
/// Account id), as Salesforce sends it.
pub fn om_xml(org: &str, items: &[(String, String)]) -> Vec<u8> {
    let mut s = String::from(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
        r#"<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#
    ));
    s.push_str(&format!(
        "<OrganizationId>{org}</OrganizationId><ActionId>04kHs000000GmaBIAS</ActionId><SessionId xsi:nil=\"true\"/>\
         <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D000000000001</EnterpriseUrl>\
         <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D000000000001</PartnerUrl>"
    ));
    for (n, a) in items {
        s.push_str(&format!(
            "<Notification><Id>{n}</Id><sObject xsi:type=\"sf:Account\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\
             <sf:Id>{a}</sf:Id><sf:Name>Account {a}</sf:Name></sObject></Notification>"
        ));
    }
    s.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    s.into_bytes()
}

/// Waits until `f` holds, up to `secs`.
pub async fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A metric's value from OpenMetrics text (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}
