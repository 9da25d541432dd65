//! Test harness: start a gateway, talk to it over TLS, read what it queued.

#![allow(dead_code)]

pub mod capture;
pub mod cluster;
pub mod fleet;
pub mod gateway;
pub mod otlp;
pub mod pki;
pub mod proxy;
pub mod pubsub;
pub mod rabbit;
pub mod raw;
pub mod sign;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hookgate::broker::Status;
use hookgate::config::Config;
use hookgate::gateway::Running;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicGetOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};

/// The machine's RabbitMQ.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(15);
/// The harness's `spool.after_ms` unless a test sets its own: the gateway's
/// default is 1,000, but on a loaded CI machine a confirm took longer once,
/// so a request was spooled and its first publish confirmed too (two copies,
/// at-least-once by design) and a test counting one copy failed. Tests of
/// spooling set their own, shorter value.
pub const SPOOL_AFTER_MS: u64 = 4_000;

/// Dev secrets, as documented in fixtures/README.md.
pub const GITHUB_SECRET: &str = "dev-github-secret";
pub const GITHUB_OLD_SECRET: &str = "dev-github-secret-previous";
pub const STRIPE_SECRET: &str = "whsec_devStripeSecret0123456789";
pub const SLACK_SECRET: &str = "dev-slack-signing-secret";
pub const SHOPIFY_SECRET: &str = "dev-shopify-secret";
pub const STANDARD_SECRET: &str = "whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=";
pub const GENERIC_SECRET: &str = "dev-generic-secret";
/// The dev org, in its 15-character form (the config accepts both).
pub const ORG_ID_15: &str = "00D000000000001";
pub const ORG_ID_18: &str = "00D000000000001EAA";

/// Test logs: set `RUST_LOG` (e.g. `hookgate=debug`) to see the gateway's and
/// worker's logs in failing tests' output. Without it: errors, and the
/// worker's warnings (why a session ended, a job did not complete: what a
/// count-based worker test's failure needs to be read from CI's output).
pub fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,hookgate::worker=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The repository root (fixtures live below it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture's bytes.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = repo().join("fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A fixture's sibling `.headers.json` as (name, value) pairs.
pub fn fixture_headers(rel: &str) -> Vec<(String, String)> {
    let rel = rel.strip_suffix(".json").unwrap_or(rel).to_string() + ".headers.json";
    let v: serde_json::Value = serde_json::from_slice(&fixture(&rel)).expect("headers json");
    v.as_object()
        .expect("headers object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string header").to_string()))
        .collect()
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Knobs for [`Harness::start_with`].
#[derive(Default)]
pub struct Options {
    /// AMQP URL for the gateway (default: the machine's broker).
    pub amqp_url: Option<String>,
    /// `amqp.urls`: a cluster's nodes, instead of `amqp.url`.
    pub amqp_urls: Option<Vec<String>>,
    /// Do not wait for the broker connection (for broker-down tests).
    pub no_wait: bool,
    /// `confirm_timeout_ms` (default 5000).
    pub confirm_timeout_ms: Option<u64>,
    /// Run without the spool (`[spool] enabled = false`).
    pub no_spool: bool,
    /// `spool.max_messages` (default 100000).
    pub spool_max_messages: Option<u64>,
    /// `spool.after_ms` (default [`SPOOL_AFTER_MS`]).
    pub spool_after_ms: Option<u64>,
    /// Spool file (default: in the harness's temp dir).
    pub spool_path: Option<PathBuf>,
    /// `spool.quarantine_after` (default 5).
    pub spool_quarantine_after: Option<u64>,
    /// Run without the replay cache (`[dedupe] enabled = false`), to let
    /// duplicates through to the queue.
    pub no_dedupe: bool,
    /// Broker of the harness's own connection, where the test queue is
    /// declared (default: the machine's broker, [`AMQP_URL`]).
    pub test_amqp_url: Option<String>,
    /// Declare the test queue durable, not exclusive, not auto-delete (it
    /// survives a broker restart); [`Harness::finish`] deletes it.
    pub durable_test_queue: bool,
    /// Extra TOML lines for `[server]` (e.g. `max_headers = 20`).
    pub server_toml: Option<String>,
    /// Extra TOML lines for `[server.tls]` (e.g. `client_ca = "PATH"`).
    pub tls_toml: Option<String>,
    /// Extra `[[routes]]` tables, appended after the standard routes.
    pub routes_toml: Option<String>,
    /// Serve this certificate chain and key (paths) instead of the harness's
    /// own, and trust this CA PEM in the harness's clients.
    pub tls_files: Option<(PathBuf, PathBuf, String)>,
    /// `[dedupe] redis_url`: the replay cache in Redis instead of the
    /// embedded file.
    pub dedupe_redis_url: Option<String>,
    /// Extra TOML lines for `[amqp]`.
    pub amqp_toml: Option<String>,
    /// `amqp.unroutable_queue = ""`: the exchange without an alternate
    /// exchange (declared so by the harness too).
    pub no_alternate_exchange: bool,
    /// Binding keys of the harness's test queue (default `["#"]`).
    pub test_bindings: Option<Vec<String>>,
    /// Serve plain HTTP (`server.plaintext = true`, no `[server.tls]`), as
    /// behind a TLS-terminating load balancer; `base` is `http://`.
    pub plaintext: bool,
    /// `server.request_timeout_ms` (default 5000).
    pub request_timeout_ms: Option<u64>,
    /// Lines of a `[telemetry]` section (e.g. `otlp_endpoint = "..."`).
    pub telemetry_toml: Option<String>,
}

/// A running gateway with its TLS client and a queue bound to its exchange.
pub struct Harness {
    running: Option<Running>,
    pub client: reqwest::Client,
    pub client_h2: reqwest::Client,
    pub base: String,
    pub admin: String,
    pub exchange: String,
    pub queue: String,
    amqp: Connection,
    channel: Channel,
    test_amqp_url: String,
    durable_queue: bool,
    /// `finish` ran (Drop need not clean up).
    finished: bool,
    /// The CA PEM the harness's clients trust (the server certificate's issuer).
    pub ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Harness {
        logs();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca_pem, cert_path, key_path) = match opts.tls_files.clone() {
            Some((cert, key, ca)) => (ca, cert, key),
            None => write_certs(dir.path()),
        };
        let secret = |name: &str, value: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("{value}\n")).expect("write secret");
            p.display().to_string()
        };
        let id = unique();
        let exchange = format!("hookgate.test.{id}");
        let queue = format!("hookgate.test.{id}.q");
        let amqp_url = opts
            .amqp_url
            .clone()
            .unwrap_or_else(|| AMQP_URL.to_string());
        let amqp_address = match &opts.amqp_urls {
            Some(urls) => format!("urls = {urls:?}"),
            None => format!("url = \"{amqp_url}\""),
        };
        let amqp_extra = format!(
            "{}\n{}",
            opts.amqp_toml.as_deref().unwrap_or(""),
            if opts.no_alternate_exchange {
                "unroutable_queue = \"\""
            } else {
                ""
            }
        );
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
request_timeout_ms = {request_timeout}
{server_extra}
{tls_section}
[admin]
listen = "127.0.0.1:0"
[amqp]
{amqp_address}
exchange = "{exchange}"
confirm_timeout_ms = {confirm}
channels = 2
{amqp_extra}

[[routes]]
name = "salesforce"
path = "/salesforce/outbound"
kind = "salesforce_om"
org_ids = ["{ORG_ID_15}"]

[[routes]]
name = "salesforce_session"
path = "/salesforce/with-session"
kind = "salesforce_om"
org_ids = ["{ORG_ID_18}"]
forward_session_id = true

[[routes]]
path = "/hooks/github"
kind = "github"
secrets = [{{ file = "{gh}" }}, {{ file = "{gh_old}" }}]

[[routes]]
name = "small"
path = "/hooks/small"
kind = "github"
max_body_bytes = 64
secrets = [{{ file = "{gh}" }}]

[[routes]]
path = "/hooks/stripe"
kind = "stripe"
secrets = [{{ file = "{stripe}" }}]

[[routes]]
path = "/hooks/slack"
kind = "slack"
secrets = [{{ file = "{slack}" }}]

[[routes]]
path = "/hooks/shopify"
kind = "shopify"
secrets = [{{ file = "{shopify}" }}]

[[routes]]
name = "standard"
path = "/hooks/standard"
kind = "standard_webhooks"
secrets = [{{ file = "{standard}" }}]

[[routes]]
name = "generic"
path = "/hooks/generic"
kind = "generic_hmac"
secrets = [{{ file = "{generic}" }}]
header = "X-Signature"
prefix = "sha256="
signed_payload = "{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
id_header = "X-Request-Id"
event_header = "X-Event-Type"

{routes_extra}
"#,
            server_extra = opts.server_toml.as_deref().unwrap_or(""),
            request_timeout = opts.request_timeout_ms.unwrap_or(5000),
            tls_section = if opts.plaintext {
                "plaintext = true".to_string()
            } else {
                format!(
                    "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n{}",
                    cert_path.display(),
                    key_path.display(),
                    opts.tls_toml.as_deref().unwrap_or("")
                )
            },
            amqp_extra = amqp_extra,
            routes_extra = opts.routes_toml.as_deref().unwrap_or(""),
            confirm = opts.confirm_timeout_ms.unwrap_or(5000),
            gh = secret("github", GITHUB_SECRET),
            gh_old = secret("github_old", GITHUB_OLD_SECRET),
            stripe = secret("stripe", STRIPE_SECRET),
            slack = secret("slack", SLACK_SECRET),
            shopify = secret("shopify", SHOPIFY_SECRET),
            standard = secret("standard", STANDARD_SECRET),
            generic = secret("generic", GENERIC_SECRET),
        );
        let spool_path = opts
            .spool_path
            .clone()
            .unwrap_or_else(|| dir.path().join("spool.redb"));
        let toml = format!(
            "{toml}\n[spool]\nenabled = {}\npath = \"{}\"\nmax_messages = {}\nafter_ms = {}\nquarantine_after = {}\n\n[dedupe]\nenabled = {}\npath = \"{}\"\n",
            !opts.no_spool,
            spool_path.display(),
            opts.spool_max_messages.unwrap_or(100_000),
            opts.spool_after_ms.unwrap_or(SPOOL_AFTER_MS),
            opts.spool_quarantine_after.unwrap_or(5),
            !opts.no_dedupe,
            dir.path().join("dedupe.redb").display(),
        );
        let toml = match &opts.dedupe_redis_url {
            Some(url) => format!("{toml}redis_url = \"{url}\"\n"),
            None => toml,
        };
        let toml = match &opts.telemetry_toml {
            Some(lines) => format!("{toml}\n[telemetry]\n{lines}\n"),
            None => toml,
        };
        // On disk too, for the CLI tests (`hookgate sign --config`).
        std::fs::write(dir.path().join("hookgate.toml"), &toml).expect("write config");
        let config = Config::from_toml(&dir.path().join("hookgate.toml"), &toml)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        // Our own connection to the real broker, to read what was queued; the
        // test queue is bound before the gateway starts, so nothing it forwards
        // at start-up (a spool left behind) lands in the unroutable queue.
        let test_amqp_url = opts
            .test_amqp_url
            .clone()
            .unwrap_or_else(|| AMQP_URL.to_string());
        let amqp = Connection::connect(&test_amqp_url, ConnectionProperties::default())
            .await
            .expect("test broker connection");
        let channel = amqp.create_channel().await.expect("channel");
        // Declare the exchange as the gateway does (idempotent), so the queue
        // can be bound even while the gateway's own connection is cut.
        declare_exchange_with(&channel, &exchange, !opts.no_alternate_exchange).await;
        channel
            .queue_declare(
                ShortString::from(queue.as_str()),
                if opts.durable_test_queue {
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    }
                } else {
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    }
                },
                FieldTable::default(),
            )
            .await
            .expect("queue declare");
        for binding in opts
            .test_bindings
            .clone()
            .unwrap_or_else(|| vec!["#".into()])
        {
            channel
                .queue_bind(
                    ShortString::from(queue.as_str()),
                    ShortString::from(exchange.as_str()),
                    ShortString::from(binding.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("queue bind");
        }

        let running = hookgate::gateway::start(&config)
            .await
            .expect("start gateway");
        let scheme = if opts.plaintext { "http" } else { "https" };
        let base = format!("{scheme}://127.0.0.1:{}", running.addr.port());
        let admin = format!("http://{}", running.admin_addr);

        if !opts.no_wait {
            wait_status(&running, Status::Connected).await;
        }
        Harness {
            client: client(&ca_pem, false),
            client_h2: client(&ca_pem, true),
            running: Some(running),
            base,
            admin,
            exchange,
            queue,
            amqp,
            channel,
            test_amqp_url,
            durable_queue: opts.durable_test_queue,
            finished: false,
            ca_pem,
            _dir: dir,
        }
    }

    /// The harness's temporary directory (config, certificates, secrets).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The public listener's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running().addr
    }

    /// The harness's own channel to the test broker.
    pub fn amqp_channel(&self) -> &Channel {
        &self.channel
    }

    /// Replaces the harness's own broker connection and channel with fresh
    /// ones (after the test broker was restarted), retrying until the
    /// deadline.
    pub async fn reconnect_amqp(&mut self) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let (amqp, channel) = loop {
            let attempt = tokio::time::timeout(Duration::from_secs(5), async {
                let c = Connection::connect(&self.test_amqp_url, ConnectionProperties::default())
                    .await?;
                let ch = c.create_channel().await?;
                Ok::<_, lapin::Error>((c, ch))
            })
            .await;
            match attempt {
                Ok(Ok(pair)) => break pair,
                Ok(Err(_)) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(Err(e)) => panic!("test broker reconnection: {e}"),
                Err(_) => panic!("test broker reconnection timed out"),
            }
        };
        let old = std::mem::replace(&mut self.amqp, amqp);
        self.channel = channel;
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            old.close(200, ShortString::from("reconnecting")),
        )
        .await;
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    /// POSTs `body` with `headers` to `path`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .body(body);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req.send().await.expect("request")
    }

    /// POSTs an Outbound Message the way Salesforce does.
    pub async fn post_om(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        let headers = vec![
            (
                "Content-Type".to_string(),
                "text/xml; charset=utf-8".to_string(),
            ),
            ("SOAPAction".to_string(), "\"\"".to_string()),
        ];
        self.post(path, &headers, body).await
    }

    /// Takes every message that arrives until `n` distinct `message_id`s were
    /// seen (duplicates allowed), within the deadline; returns the ids with
    /// how often each was seen.
    pub async fn take_ids(&self, n: usize) -> std::collections::HashMap<String, usize> {
        let mut seen = std::collections::HashMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while seen.len() < n {
            match self.get().await {
                Some(m) => {
                    let id = m
                        .delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    *seen.entry(id).or_insert(0) += 1;
                }
                None if tokio::time::Instant::now() > deadline => {
                    panic!("expected {n} distinct message ids, saw {}", seen.len())
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        seen
    }

    /// Takes exactly `n` messages from the test queue (waiting up to the
    /// deadline for them), then checks that no further message is there.
    pub async fn take(&self, n: usize) -> Vec<BasicGetMessage> {
        let mut out = Vec::with_capacity(n);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while out.len() < n {
            match self.get().await {
                Some(m) => out.push(m),
                None if tokio::time::Instant::now() > deadline => {
                    panic!("expected {n} messages, got {}", out.len())
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        self.assert_empty().await;
        out
    }

    /// Asserts the test queue holds exactly the messages with these ids (in
    /// any order, waiting up to the deadline for them), and nothing more.
    pub async fn assert_holds_exactly<S: AsRef<str>>(&self, ids: &[S]) {
        let mut got: Vec<String> = self.take(ids.len()).await.iter().map(message_id).collect();
        let mut want: Vec<String> = ids.iter().map(|i| i.as_ref().to_owned()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "message ids in the test queue");
    }

    /// Takes every message the test queue holds now; returns their
    /// `message_id`s in order.
    pub async fn drain(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(m) = self.get().await {
            out.push(message_id(&m));
        }
        out
    }

    /// Takes every message `queue` holds now (any queue on the test
    /// broker); returns their `message_id`s in order.
    pub async fn drain_queue(&self, queue: &str) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
        {
            out.push(message_id(&m));
        }
        out
    }

    /// Asserts the test queue holds nothing.
    pub async fn assert_empty(&self) {
        if let Some(m) = self.get().await {
            panic!(
                "unexpected message in queue: routing key {}, message_id {:?}",
                m.delivery.routing_key,
                m.delivery.properties.message_id()
            );
        }
    }

    async fn get(&self) -> Option<BasicGetMessage> {
        self.channel
            .basic_get(
                ShortString::from(self.queue.as_str()),
                BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic_get")
    }

    /// Waits until the gateway's broker state is `status`.
    pub async fn wait_status(&self, status: Status) {
        wait_status(self.running(), status).await;
    }

    /// Fetches an admin endpoint: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let r = reqwest::Client::new()
            .get(format!("{}{}", self.admin, path))
            .send()
            .await
            .expect("admin request");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// Shuts the gateway down (as SIGTERM does) and keeps the harness's own
    /// broker connection, to read what was queued; [`Harness::finish`] still
    /// cleans up. [`Harness::running`] panics after this.
    pub async fn stop_gateway(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Stops the gateway and deletes the exchange (the queue is exclusive
    /// and goes with our connection; a durable one is deleted).
    pub async fn finish(mut self) {
        self.finished = true;
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        if self.durable_queue {
            let _ = self
                .channel
                .queue_delete(
                    ShortString::from(self.queue.as_str()),
                    QueueDeleteOptions::default(),
                )
                .await;
        }
        let unroutable = format!("{}.unroutable", self.exchange);
        let _ = self
            .channel
            .queue_delete(
                ShortString::from(unroutable.as_str()),
                QueueDeleteOptions::default(),
            )
            .await;
        for e in [&self.exchange, &unroutable] {
            let _ = self
                .channel
                .exchange_delete(
                    ShortString::from(e.as_str()),
                    ExchangeDeleteOptions::default(),
                )
                .await;
        }
        let _ = self.amqp.close(200, ShortString::from("test done")).await;
    }
}

impl Drop for Harness {
    /// A test that panicked before `finish`: delete its exchange (and durable
    /// queue) anyway, so the shared broker does not collect test topology.
    fn drop(&mut self) {
        if !self.finished {
            let queues = if self.durable_queue {
                vec![self.queue.clone()]
            } else {
                Vec::new()
            };
            cleanup(&self.test_amqp_url, vec![self.exchange.clone()], queues);
        }
    }
}

/// Declares `exchange` as the gateway does (durable topic, alternate
/// exchange `<exchange>.unroutable`, the default `amqp.unroutable_queue`):
/// idempotent beside the gateway's own declaration, which refuses other
/// arguments.
pub async fn declare_exchange(ch: &Channel, exchange: &str) {
    declare_exchange_with(ch, exchange, true).await;
}

/// Binds `queue` to `exchange` with `#`: every message the exchange routes.
pub async fn bind_all(ch: &Channel, queue: &str, exchange: &str) {
    ch.queue_bind(
        ShortString::from(queue),
        ShortString::from(exchange),
        ShortString::from("#"),
        lapin::options::QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue bind");
}

/// [`declare_exchange`], with or without the alternate exchange.
pub async fn declare_exchange_with(ch: &Channel, exchange: &str, alternate: bool) {
    let mut args = FieldTable::default();
    if alternate {
        args.insert(
            ShortString::from("alternate-exchange"),
            AMQPValue::LongString(format!("{exchange}.unroutable").into()),
        );
    }
    ch.exchange_declare(
        ShortString::from(exchange),
        lapin::ExchangeKind::Topic,
        lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await
    .expect("exchange declare");
}

/// Deletes exchanges and queues from a fresh connection on a thread of its
/// own (usable from `Drop`, inside or outside a runtime). Best effort,
/// bounded to a few seconds.
/// Each exchange's `<exchange>.unroutable` exchange and queue (the gateway's
/// alternate exchange) go too.
pub fn cleanup(url: &str, exchanges: Vec<String>, queues: Vec<String>) {
    let url = url.to_string();
    let unroutable: Vec<String> = exchanges
        .iter()
        .map(|e| format!("{e}.unroutable"))
        .collect();
    let queues: Vec<String> = queues.into_iter().chain(unroutable.clone()).collect();
    let exchanges: Vec<String> = exchanges.into_iter().chain(unroutable).collect();
    on_own_thread(Duration::from_secs(5), async move {
        let work = async {
            let c = Connection::connect(&url, ConnectionProperties::default()).await?;
            for q in &queues {
                let ch = c.create_channel().await?;
                let _ = ch
                    .queue_delete(ShortString::from(q.as_str()), QueueDeleteOptions::default())
                    .await;
            }
            for e in &exchanges {
                let ch = c.create_channel().await?;
                let _ = ch
                    .exchange_delete(
                        ShortString::from(e.as_str()),
                        ExchangeDeleteOptions::default(),
                    )
                    .await;
            }
            let _ = c.close(200, ShortString::from("cleanup")).await;
            Ok::<(), lapin::Error>(())
        };
        let _ = work.await;
    });
}

/// Runs `work` to its end or for at most `limit` on a current-thread runtime
/// of a thread of its own, and waits for it: usable from `Drop`, inside or
/// outside a runtime. Best effort (nothing is reported).
pub fn on_own_thread<F>(limit: Duration, work: F)
where
    F: std::future::Future + Send + 'static,
{
    let t = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let _ = tokio::time::timeout(limit, work).await;
        });
    });
    let _ = t.join();
}

async fn wait_status(running: &Running, status: Status) {
    let mut rx = running.publisher.watch_status();
    tokio::time::timeout(DEADLINE, rx.wait_for(|s| *s == status))
        .await
        .unwrap_or_else(|_| panic!("gateway did not reach broker status {status:?}"))
        .expect("status channel");
}

/// A string header value of an AMQP message.
pub fn header(m: &BasicGetMessage, name: &str) -> Option<String> {
    let headers = m.delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Header `name` of an AMQP message, which must be a long string (as
/// hookgate writes every header); panics otherwise.
pub fn long_header(m: &BasicGetMessage, name: &str) -> String {
    match m
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(name))
    {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("{name}: {other:?}"),
    }
}

/// A short unique id for names.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    )
}

/// Writes a test CA and a server certificate for 127.0.0.1 signed by it;
/// returns (CA PEM, chain path, key path).
pub fn write_certs(dir: &Path) -> (String, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hookgate test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("leaf params");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf");
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, format!("{}{}", leaf.pem(), ca.pem())).expect("write cert");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key");
    (ca.pem(), cert_path, key_path)
}

/// A reqwest client that trusts only the test CA (real verification).
pub fn client(ca_pem: &str, h2: bool) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = if h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The value of one series in a `/metrics` text, e.g.
/// `hookgate_duplicates_total{route="github",outcome="duplicate"}`; `None`
/// when the series is absent.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
    })
}

/// Asserts that `series` (name and labels, as exposed) has the value `want`
/// in the scraped `metrics` text; the whole scrape is the failure message.
pub fn assert_metric(metrics: &str, series: &str, want: f64) {
    assert_eq!(
        metric_value(metrics, series),
        Some(want),
        "{series}\n{metrics}"
    );
}

/// A fetched message's `message_id` ("" when it has none).
pub fn message_id(m: &lapin::message::BasicGetMessage) -> String {
    m.delivery
        .properties
        .message_id()
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Deletes `exchange` on a connection of its own (a test's channel may have
/// been closed by a broker error by then), asserting that the broker did it.
pub async fn delete_exchange(exchange: &str) {
    let conn = lapin::Connection::connect(AMQP_URL, Default::default())
        .await
        .expect("connect to delete an exchange");
    let ch = conn.create_channel().await.expect("channel");
    ch.exchange_delete(
        ShortString::from(exchange),
        lapin::options::ExchangeDeleteOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("delete exchange {exchange}: {e}"));
    let _ = conn.close(200, ShortString::from("deleted")).await;
}

/// Deletes `queue` on `ch` (best effort: the test's own drop guard deletes it
/// too when this is not reached) and closes `conn`, the connection it was
/// read on.
pub async fn delete_queue_and_close(conn: Connection, ch: &Channel, queue: &str) {
    let _ = ch
        .queue_delete(
            ShortString::from(queue),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await;
    let _ = conn.close(200, ShortString::from("test done")).await;
}
