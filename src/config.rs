//! Configuration: the TOML file `hookgate serve --config PATH` reads.
//!
//! Loading is two steps: serde parses the file with unknown keys rejected
//! (`deny_unknown_fields`), then [`Config::validate`] checks what types cannot
//! say (unique route names and paths, keys that belong to another route kind,
//! secrets that must resolve). Every error names the file and the key, e.g.
//! `config/hookgate.toml: routes[2].secrets[0].env: environment variable GITHUB_WEBHOOK_SECRET is not set`.
//!
//! Secrets are resolved at load time, never at first request: a missing
//! environment variable or file is a start-up error.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::{redact_url, Secret};
use crate::verify::generic::{Algorithm, Encoding};

/// Default TLS/plain listener for webhooks and Outbound Messages.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// Default admin listener (`/healthz`, `/readyz`, `/metrics`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Default body cap of Salesforce routes in bytes (1 MiB), overridable.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default body cap of webhook routes in bytes (256 KiB), overridable.
pub const DEFAULT_WEBHOOK_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default timestamp tolerance in seconds for schemes that sign a timestamp
/// (Stripe, Slack, Standard Webhooks: 300 s in their documentation).
pub const DEFAULT_TOLERANCE_S: u64 = 300;
/// Environment variable that overrides `[amqp] url`.
pub const AMQP_URL_ENV: &str = "HOOKGATE_AMQP_URL";
/// Most channels `amqp.max_channels` may ask for (RabbitMQ's default
/// `channel_max` is 2047 per connection).
pub const MAX_AMQP_CHANNELS: usize = 2047;

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// Path of the config file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key, or a value of the wrong type. The
    /// message from `toml` names the key and shows the line.
    #[error("{file}: {message}")]
    Parse {
        /// Path of the config file.
        file: PathBuf,
        /// toml's message, with the key and line.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// Path of the config file.
        file: PathBuf,
        /// Dotted key path, e.g. `routes[1].org_ids[0]`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole file, as written (before secrets are resolved).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[server]`: the public listener.
    pub server: ServerConfig,
    /// `[admin]`: the plain-HTTP admin listener.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[amqp]`: the broker connection and topology.
    pub amqp: AmqpConfig,
    /// `[spool]`: the durable local outbox.
    #[serde(default)]
    pub spool: SpoolConfig,
    /// `[dedupe]`: the replay cache.
    #[serde(default)]
    pub dedupe: DedupeConfig,
    /// `[[routes]]`: one per endpoint path.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The worker's sections (`hookgate worker` reads them; allowed here so
    /// one file can serve both).
    #[serde(default, rename = "worker")]
    pub _worker: Option<serde::de::IgnoredAny>,
    /// See `_worker`.
    #[serde(default, rename = "salesforce")]
    pub _salesforce: Option<serde::de::IgnoredAny>,
}

/// `[spool]`: where accepted messages go while the broker is down, slow or
/// blocked (see `crate::spool`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Use the spool (default true). Without it a broker outage is answered 503.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The redb file (created with its directory if missing).
    #[serde(default = "default_spool_path")]
    pub path: PathBuf,
    /// Fast-path budget in ms: no confirm within it and the request is spooled.
    #[serde(default = "default_after_ms")]
    pub after_ms: u64,
    /// Disk budget of the spool file in bytes: a write is answered 503 while
    /// the file's size on disk is at or over it, or when the entries
    /// (metadata + bodies, quarantine included) would exceed it. The file is
    /// larger than its entries (pages, copy-on-write, free space; about 3x
    /// for 3 KB bodies) and is measured after each commit, so it can pass
    /// the budget by one commit's growth. A drained file is compacted. At
    /// least [`MIN_SPOOL_MAX_BYTES`] (a new redb file takes about 1 MiB).
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
    /// Most spooled messages; past it: 503.
    #[serde(default = "default_spool_max_messages")]
    pub max_messages: u64,
    /// Failed forwarding attempts the broker blamed on an entry (nack,
    /// returned) before it moves to the quarantine table, where the
    /// forwarder no longer retries it (`hookgate spool quarantine`).
    #[serde(default = "default_quarantine_after")]
    pub quarantine_after: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            enabled: true,
            path: default_spool_path(),
            after_ms: default_after_ms(),
            max_bytes: default_spool_max_bytes(),
            max_messages: default_spool_max_messages(),
            quarantine_after: default_quarantine_after(),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on, e.g. `0.0.0.0:8443`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Body cap in bytes for routes that do not set their own; when unset,
    /// 1 MiB for Salesforce routes and 256 KiB for webhook routes.
    pub max_body_bytes: Option<usize>,
    /// Serve plain HTTP (behind a TLS-terminating load balancer only).
    /// Mutually exclusive with `[server.tls]`.
    #[serde(default)]
    pub plaintext: bool,
    /// `[server.tls]`: required unless `plaintext = true`.
    pub tls: Option<TlsConfig>,
    /// Time allowed to receive the request head, in ms (slowloris bound).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time allowed for a whole request, in ms, from its head to the
    /// message held by the broker or the spool: body read, verification,
    /// replay-cache lookup and store. A body not received in time gets 408;
    /// past the deadline after the body arrived, 503 + Retry-After (a SOAP
    /// Server fault on Salesforce routes), so the sender retries.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// After an answer given before the request body was read to its end
    /// (413, 403, 404, 405, 408, 503 ...), how long, in ms, the rest of the
    /// body is read and discarded before the HTTP/1 connection closes
    /// (lingering close): a sender that uploads its whole body before
    /// reading then sees the status instead of a connection reset.
    #[serde(default = "default_linger_timeout_ms")]
    pub linger_timeout_ms: u64,
    /// Most body bytes read and discarded during that lingering close; a
    /// sender past it is cut.
    #[serde(default = "default_linger_max_bytes")]
    pub linger_max_bytes: u64,
    /// Requests handled at once; past it new requests get 503 + Retry-After.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish, in ms.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Longest pause between two body chunks, in ms (408 past it).
    #[serde(default = "default_body_idle_timeout_ms")]
    pub body_idle_timeout_ms: u64,
    /// Time to receive the whole body, in ms (408 past it).
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Time for the TLS handshake, in ms.
    #[serde(default = "default_tls_handshake_timeout_ms")]
    pub tls_handshake_timeout_ms: u64,
    /// Header lines accepted per request (HTTP/1); more is 431.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Bytes of request head accepted (HTTP/1 buffer; HTTP/2 header list); more is 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Connections served at once; past it new connections are closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections per client IP; past it new ones from that IP are closed.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// HTTP/2 concurrent streams per connection.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// Peers (load balancers) allowed to state the client address, by
    /// PROXY protocol v1/v2 header or `X-Forwarded-For`. Empty: the TCP peer
    /// is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// `[server.tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain (leaf first, then intermediates).
    pub cert: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Dev only: make a throwaway self-signed certificate at start (rcgen).
    #[serde(default)]
    pub self_signed: bool,
    /// PEM bundle of CAs whose client certificates are verified (mutual
    /// TLS). Clients without a certificate still connect; routes with
    /// `client_cert` refuse them.
    pub client_ca: Option<PathBuf>,
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Plain-HTTP listener for `/healthz`, `/readyz`, `/metrics`.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
        }
    }
}

/// `[amqp]`. `Debug` shows the URL without its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// AMQP 0-9-1 URI; the `HOOKGATE_AMQP_URL` environment variable overrides it.
    pub url: String,
    /// Durable topic exchange every message is published to; declared at start.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// How long to wait for a publisher confirm, in ms, before answering 503.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// Channels in confirm mode used for publishing (publishes are pipelined
    /// on each; several channels spread the broker-side work).
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// Most channels open for publishing at once. Each request (or spool
    /// forwarding round) leases one channel for its publishes and confirms, so
    /// a `basic.return` is always attributed to the request that caused it;
    /// a request waits for a free channel within its confirm deadline.
    #[serde(default = "default_max_channels")]
    pub max_channels: usize,
    /// Durable queue that catches every message no binding routes: the
    /// exchange is declared with an `alternate-exchange` (a fanout exchange of
    /// the same name) bound to it. Default `<exchange>.unroutable`; `""`
    /// declares no alternate exchange (unroutable messages are then refused
    /// with 503).
    #[serde(default)]
    pub unroutable_queue: Option<String>,
    /// AMQP heartbeat in seconds.
    #[serde(default = "default_heartbeat_s")]
    pub heartbeat_s: u16,
    /// Durable queues declared and bound to the exchange at start.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let AmqpConfig {
            url,
            exchange,
            confirm_timeout_ms,
            channels,
            max_channels,
            unroutable_queue,
            heartbeat_s,
            queues,
        } = self;
        f.debug_struct("AmqpConfig")
            .field("url", &redact_url(url))
            .field("exchange", exchange)
            .field("confirm_timeout_ms", confirm_timeout_ms)
            .field("channels", channels)
            .field("max_channels", max_channels)
            .field("unroutable_queue", unroutable_queue)
            .field("heartbeat_s", heartbeat_s)
            .field("queues", queues)
            .finish()
    }
}

impl AmqpConfig {
    /// The queue (and fanout alternate exchange) catching unroutable
    /// messages, `None` when disabled (`unroutable_queue = ""`).
    pub fn unroutable(&self) -> Option<String> {
        match self.unroutable_queue.as_deref() {
            None => Some(format!("{}.unroutable", self.exchange)),
            Some("") => None,
            Some(q) => Some(q.to_owned()),
        }
    }
}

/// `[[amqp.queues]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue name.
    pub name: String,
    /// Binding keys (topic syntax: `*` one word, `#` zero or more).
    #[serde(default = "default_bindings")]
    pub bindings: Vec<String>,
    /// `quorum` (replicated, the safe default) or `classic`.
    #[serde(default, rename = "type")]
    pub kind: QueueType,
}

/// RabbitMQ queue type (`x-queue-type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// Raft-replicated queue: the durable choice.
    #[default]
    Quorum,
    /// Classic (single-node) durable queue.
    Classic,
}

/// The kind of sender a route verifies; decides the signature scheme,
/// idempotency key and event name (see `../shared/docs/PROVIDERS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Salesforce SOAP Outbound Messages (no signature: Organization ID check).
    SalesforceOm,
    /// GitHub: `X-Hub-Signature-256`.
    Github,
    /// Stripe: `Stripe-Signature` with `t=` and `v1=`.
    Stripe,
    /// Slack: `X-Slack-Signature` over `v0:{ts}:{body}`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256`, base64.
    Shopify,
    /// Standard Webhooks (and Svix): `webhook-*` or `svix-*` headers.
    StandardWebhooks,
    /// Any HMAC scheme described by the route's keys.
    GenericHmac,
}

impl RouteKind {
    /// The snake_case name used in config, routing keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::SalesforceOm => "salesforce_om",
            RouteKind::Github => "github",
            RouteKind::Stripe => "stripe",
            RouteKind::Slack => "slack",
            RouteKind::Shopify => "shopify",
            RouteKind::StandardWebhooks => "standard_webhooks",
            RouteKind::GenericHmac => "generic_hmac",
        }
    }

    /// Whether the scheme signs a timestamp (so `tolerance_s` applies).
    pub fn signs_timestamp(self) -> bool {
        matches!(
            self,
            RouteKind::Stripe | RouteKind::Slack | RouteKind::StandardWebhooks
        )
    }
}

/// Where a secret comes from: exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (one trailing newline is trimmed).
    pub file: Option<PathBuf>,
    /// RFC 3339 time after which the secret no longer verifies (rotation).
    pub not_after: Option<String>,
}

/// `routes[].client_cert`: which verified client certificates a route
/// accepts (any listed entry matches). Needs `[server.tls] client_ca`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertRule {
    /// Subject distinguished names as RFC 4514 text, e.g.
    /// `CN=proxy.salesforce.com,O=salesforce.com\, inc.,L=San Francisco,ST=California,C=US`
    /// (commas inside values escaped; RFC 4514 or certificate order; values
    /// compared exactly), or just `CN=...` to match on the common name alone.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// SHA-256 fingerprints of the DER certificate, hex (colons allowed).
    #[serde(default)]
    pub fingerprints_sha256: Vec<String>,
}

/// `[dedupe]`: the edge replay cache. `Debug` shows the Redis URL without
/// its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// Answer repeats 2xx without a second publish (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Embedded store file (redb), used when `redis_url` is not set.
    #[serde(default = "default_dedupe_path")]
    pub path: PathBuf,
    /// Share the cache across a fleet of gateways.
    pub redis_url: Option<String>,
    /// Disk budget of the embedded file in bytes (it shares the data
    /// directory with the spool). While the file is at or over it, every
    /// commit removes as many marks as it adds, earliest expiry first
    /// (counted in `hookgate_replay_cache_evicted_total`): a replay cache
    /// that forgets early lets a replay through to the consumers' dedupe; one
    /// that fills the disk stops the spool. At least
    /// [`MIN_DEDUPE_MAX_BYTES`].
    #[serde(default = "default_dedupe_max_bytes")]
    pub max_bytes: u64,
}

impl std::fmt::Debug for DedupeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let DedupeConfig {
            enabled,
            path,
            redis_url,
            max_bytes,
        } = self;
        f.debug_struct("DedupeConfig")
            .field("enabled", enabled)
            .field("path", path)
            .field("redis_url", &redis_url.as_deref().map(redact_url))
            .field("max_bytes", max_bytes)
            .finish()
    }
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            enabled: true,
            path: default_dedupe_path(),
            redis_url: None,
            max_bytes: default_dedupe_max_bytes(),
        }
    }
}

/// `[[routes]]`: one endpoint. Keys that do not belong to `kind` are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique name: the `<source>` of routing keys and the metric label.
    /// Defaults to the kind (`github`, `salesforce_om`, ...).
    pub name: Option<String>,
    /// Exact request path, e.g. `/hooks/github`.
    pub path: String,
    /// The scheme.
    pub kind: RouteKind,
    /// Body cap in bytes; defaults to `[server] max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// Webhook secrets; any one verifies (rotation).
    #[serde(default)]
    pub secrets: Vec<SecretSource>,
    /// Allowed age of a signed timestamp in seconds, both directions.
    pub tolerance_s: Option<u64>,
    /// salesforce_om: accepted Organization IDs (15 or 18 characters).
    #[serde(default)]
    pub org_ids: Vec<String>,
    /// salesforce_om: keep the SessionId in the message (a credential).
    #[serde(default)]
    pub forward_session_id: bool,
    /// generic_hmac: the signature header.
    pub header: Option<String>,
    /// generic_hmac: HMAC hash.
    pub algorithm: Option<Algorithm>,
    /// generic_hmac: signature encoding.
    pub encoding: Option<Encoding>,
    /// generic_hmac: text before the signature, e.g. `sha256=`.
    pub prefix: Option<String>,
    /// generic_hmac: signed string template over `{body}`, `{timestamp}`, `{id}`.
    pub signed_payload: Option<String>,
    /// generic_hmac: header carrying the signed timestamp (Unix seconds).
    pub timestamp_header: Option<String>,
    /// generic_hmac: header carrying the delivery id (idempotency key).
    pub id_header: Option<String>,
    /// generic_hmac: header carrying the event name.
    pub event_header: Option<String>,
    /// Client addresses allowed (IPv4 and IPv6 CIDRs); empty allows all.
    #[serde(default)]
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// Verified client certificates accepted (mutual TLS).
    pub client_cert: Option<ClientCertRule>,
    /// The URL the sender posts to, as it sees it (for logs and URL-signing
    /// schemes).
    pub public_url: Option<String>,
    /// How long a seen idempotency key is remembered for replay protection,
    /// in seconds. Default: the timestamp tolerance for schemes that sign
    /// one, 24 h for Salesforce, 72 h otherwise.
    pub replay_ttl_s: Option<u64>,
    /// Requests admitted per second, for the route or per client.
    pub rate_limit: Option<RateLimitConfig>,
}

/// `routes[].rate_limit = { per_second = N, burst = M }`: a token bucket
/// (GCRA) refilled at `per_second` holding at most `burst`; past it the
/// route answers 429 (a SOAP Server fault for `salesforce_om`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained rate: requests admitted per second.
    pub per_second: u32,
    /// Requests admitted at once after a quiet period (the bucket's size).
    pub burst: u32,
    /// One bucket per client address (IPv6 by /64) instead of one for the
    /// whole route.
    #[serde(default)]
    pub per_client: bool,
}

/// A validated rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests admitted per second.
    pub per_second: std::num::NonZeroU32,
    /// The bucket's size.
    pub burst: std::num::NonZeroU32,
    /// A bucket per client address.
    pub per_client: bool,
}

/// A validated configuration with secrets resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for messages).
    pub file: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[amqp]`, with the env override applied.
    pub amqp: AmqpConfig,
    /// `[spool]`.
    pub spool: SpoolConfig,
    /// `[dedupe]`.
    pub dedupe: DedupeConfig,
    /// Validated routes.
    pub routes: Vec<Route>,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Unique name (routing-key source, metric label).
    pub name: String,
    /// Exact request path.
    pub path: String,
    /// Scheme.
    pub kind: RouteKind,
    /// Body cap in bytes.
    pub max_body_bytes: usize,
    /// Resolved secrets, in config order (slot 0 first).
    pub secrets: Vec<Secret>,
    /// Timestamp tolerance.
    pub tolerance: Duration,
    /// Accepted Organization IDs, normalised to their 18-character form.
    pub org_ids: Vec<String>,
    /// Forward SessionId in Notification messages.
    pub forward_session_id: bool,
    /// The generic_hmac description, for that kind only.
    pub generic: Option<crate::verify::generic::Scheme>,
    /// Allowed client networks (empty: all).
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// Accepted client certificates (mutual TLS), if required.
    pub client_cert: Option<ClientCerts>,
    /// The URL the sender posts to.
    pub public_url: Option<String>,
    /// How long seen idempotency keys are remembered.
    pub replay_ttl: Duration,
    /// Requests admitted per second, if limited.
    pub rate_limit: Option<RateLimit>,
}

/// A validated `client_cert` rule.
#[derive(Debug, Clone, Default)]
pub struct ClientCerts {
    /// Subject DNs, or `CN=...` alone (matches any certificate with that
    /// common name).
    pub subjects: Vec<crate::tls::Dn>,
    /// SHA-256 fingerprints of accepted certificates (32 bytes each).
    pub fingerprints: Vec<[u8; 32]>,
}

impl Config {
    /// Reads, parses and validates `path`, resolving secrets from the
    /// environment and files.
    ///
    /// # Errors
    /// [`Error`] naming the file and key of the first problem found.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates TOML text; `path` is used in messages and to
    /// resolve relative paths (relative to the working directory).
    ///
    /// # Errors
    /// [`Error`] naming the file and key of the first problem found.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, Error> {
        let raw: FileConfig = toml::from_str(text).map_err(|e| Error::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        raw.validate(path)
    }
}

impl FileConfig {
    /// Checks what serde cannot and resolves secrets.
    ///
    /// # Errors
    /// [`Error::Invalid`] with the key of the first problem.
    pub fn validate(self, file: &Path) -> Result<Config, Error> {
        let invalid = |key: String, reason: String| Error::Invalid {
            file: file.to_path_buf(),
            key,
            reason,
        };
        let FileConfig {
            server,
            admin,
            mut amqp,
            spool,
            dedupe,
            routes,
            ..
        } = self;

        match (&server.tls, server.plaintext) {
            (None, false) => return Err(invalid(
                "server.tls".into(),
                "required (or set server.plaintext = true behind a TLS-terminating load balancer)"
                    .into(),
            )),
            (Some(_), true) => {
                return Err(invalid(
                    "server.plaintext".into(),
                    "cannot be true together with [server.tls]".into(),
                ))
            }
            (Some(tls), false) => {
                if tls.self_signed && (tls.cert.is_some() || tls.key.is_some()) {
                    return Err(invalid(
                        "server.tls.self_signed".into(),
                        "cannot be combined with cert/key".into(),
                    ));
                }
                if !tls.self_signed {
                    for (k, v) in [("cert", &tls.cert), ("key", &tls.key)] {
                        match v {
                            None => {
                                return Err(invalid(
                                    format!("server.tls.{k}"),
                                    "required unless self_signed = true".into(),
                                ))
                            }
                            Some(p) if !p.is_file() => {
                                return Err(invalid(
                                    format!("server.tls.{k}"),
                                    format!("no such file: {}", p.display()),
                                ))
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            (None, true) => {}
        }
        if let Some(cap) = server.max_body_bytes {
            positive(file, "server.max_body_bytes", cap as u64)?;
        }
        positive(
            file,
            "server.body_idle_timeout_ms",
            server.body_idle_timeout_ms,
        )?;
        positive(file, "server.body_timeout_ms", server.body_timeout_ms)?;
        positive(
            file,
            "server.tls_handshake_timeout_ms",
            server.tls_handshake_timeout_ms,
        )?;
        positive(file, "server.max_headers", server.max_headers as u64)?;
        positive(
            file,
            "server.max_connections",
            server.max_connections as u64,
        )?;
        positive(
            file,
            "server.max_connections_per_ip",
            server.max_connections_per_ip as u64,
        )?;
        positive(
            file,
            "server.max_concurrent_streams",
            u64::from(server.max_concurrent_streams),
        )?;
        if server.max_header_bytes < 8192 {
            return Err(invalid(
                "server.max_header_bytes".into(),
                "at least 8192 (hyper's smallest read buffer)".into(),
            ));
        }
        if let Some(ca) = server.tls.as_ref().and_then(|t| t.client_ca.as_ref()) {
            if !ca.is_file() {
                return Err(invalid(
                    "server.tls.client_ca".into(),
                    format!("no such file: {}", ca.display()),
                ));
            }
        }
        positive(
            file,
            "server.header_read_timeout_ms",
            server.header_read_timeout_ms,
        )?;
        positive(file, "server.request_timeout_ms", server.request_timeout_ms)?;
        positive(
            file,
            "server.max_concurrent_requests",
            server.max_concurrent_requests as u64,
        )?;

        if let Ok(url) = std::env::var(AMQP_URL_ENV) {
            amqp.url = url;
        }
        if let Some(reason) = amqp_url_problem(&amqp.url) {
            return Err(invalid("amqp.url".into(), reason));
        }
        if amqp.exchange.is_empty() {
            return Err(invalid(
                "amqp.exchange".into(),
                "must not be empty (the default exchange cannot be bound)".into(),
            ));
        }
        positive(file, "amqp.confirm_timeout_ms", amqp.confirm_timeout_ms)?;
        positive(file, "amqp.channels", amqp.channels as u64)?;
        if amqp.max_channels < amqp.channels || amqp.max_channels > MAX_AMQP_CHANNELS {
            return Err(invalid(
                "amqp.max_channels".into(),
                format!("must be between amqp.channels and {MAX_AMQP_CHANNELS}"),
            ));
        }
        if let Some(q) = amqp.unroutable_queue.as_deref() {
            if q.starts_with("amq.") || q.len() > 255 {
                return Err(invalid(
                    "amqp.unroutable_queue".into(),
                    "must not start with amq. and be at most 255 bytes".into(),
                ));
            }
        }
        let mut queue_names = HashSet::new();
        for (i, q) in amqp.queues.iter().enumerate() {
            if q.name.is_empty() || q.name.starts_with("amq.") {
                return Err(invalid(
                    format!("amqp.queues[{i}].name"),
                    "must be non-empty and not start with amq.".into(),
                ));
            }
            if !queue_names.insert(q.name.clone()) {
                return Err(invalid(
                    format!("amqp.queues[{i}].name"),
                    format!("duplicate queue {:?}", q.name),
                ));
            }
        }

        if spool.enabled {
            positive(file, "spool.after_ms", spool.after_ms)?;
            positive(file, "spool.max_bytes", spool.max_bytes)?;
            if spool.max_bytes < MIN_SPOOL_MAX_BYTES {
                return Err(invalid(
                    "spool.max_bytes".into(),
                    format!("must be at least {MIN_SPOOL_MAX_BYTES} (a new spool file takes about 1 MiB)"),
                ));
            }
            positive(file, "spool.max_messages", spool.max_messages)?;
            positive(file, "spool.quarantine_after", spool.quarantine_after)?;
            if spool.after_ms >= amqp.confirm_timeout_ms.max(1) * 10 {
                return Err(invalid(
                    "spool.after_ms".into(),
                    "should be well below the senders' answer deadlines (e.g. 1000)".into(),
                ));
            }
            if spool.path.as_os_str().is_empty() || spool.path.is_dir() {
                return Err(invalid("spool.path".into(), "must be a file path".into()));
            }
        }

        if dedupe.enabled && dedupe.redis_url.is_none() && dedupe.max_bytes < MIN_DEDUPE_MAX_BYTES {
            return Err(invalid(
                "dedupe.max_bytes".into(),
                format!("must be at least {MIN_DEDUPE_MAX_BYTES} (a new file takes about 1 MiB)"),
            ));
        }

        if routes.is_empty() {
            return Err(invalid(
                "routes".into(),
                "at least one [[routes]] entry is needed".into(),
            ));
        }
        let mut names = HashSet::new();
        let mut paths = HashSet::new();
        let mut out = Vec::with_capacity(routes.len());
        for (i, r) in routes.into_iter().enumerate() {
            let route = r.validate(file, i, &server)?;
            if !names.insert(route.name.clone()) {
                return Err(invalid(
                    format!("routes[{i}].name"),
                    format!("duplicate route name {:?}", route.name),
                ));
            }
            if !paths.insert(route.path.clone()) {
                return Err(invalid(
                    format!("routes[{i}].path"),
                    format!("duplicate path {:?}", route.path),
                ));
            }
            out.push(route);
        }
        Ok(Config {
            file: file.to_path_buf(),
            server,
            admin,
            amqp,
            spool,
            dedupe,
            routes: out,
        })
    }
}

impl RouteConfig {
    fn validate(self, file: &Path, i: usize, server: &ServerConfig) -> Result<Route, Error> {
        let invalid = |key: &str, reason: String| Error::Invalid {
            file: file.to_path_buf(),
            key: format!("routes[{i}].{key}"),
            reason,
        };
        let kind = self.kind;
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| kind.as_str().to_string());
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "name",
                "1 to 64 characters of [A-Za-z0-9_-] (it starts every routing key)".into(),
            ));
        }
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            return Err(invalid(
                "path",
                "must start with / and hold no query".into(),
            ));
        }
        let max_body_bytes = self.max_body_bytes.or(server.max_body_bytes).unwrap_or(
            if self.kind == RouteKind::SalesforceOm {
                DEFAULT_MAX_BODY_BYTES
            } else {
                DEFAULT_WEBHOOK_MAX_BODY_BYTES
            },
        );
        if max_body_bytes == 0 {
            return Err(invalid("max_body_bytes", "must be greater than 0".into()));
        }

        let is_sf = kind == RouteKind::SalesforceOm;
        let is_generic = kind == RouteKind::GenericHmac;
        // Keys that belong to one kind only.
        let foreign: [(&str, bool, bool); 11] = [
            ("org_ids", !self.org_ids.is_empty(), is_sf),
            ("forward_session_id", self.forward_session_id, is_sf),
            ("secrets", !self.secrets.is_empty(), !is_sf),
            ("header", self.header.is_some(), is_generic),
            ("algorithm", self.algorithm.is_some(), is_generic),
            ("encoding", self.encoding.is_some(), is_generic),
            ("prefix", self.prefix.is_some(), is_generic),
            ("signed_payload", self.signed_payload.is_some(), is_generic),
            (
                "timestamp_header",
                self.timestamp_header.is_some(),
                is_generic,
            ),
            ("id_header", self.id_header.is_some(), is_generic),
            ("event_header", self.event_header.is_some(), is_generic),
        ];
        for (key, present, allowed) in foreign {
            if present && !allowed {
                return Err(invalid(key, format!("not a key of kind {}", kind.as_str())));
            }
        }

        let mut org_ids = Vec::new();
        if is_sf {
            if self.org_ids.is_empty() {
                return Err(invalid(
                    "org_ids",
                    "at least one Organization ID is required for salesforce_om".into(),
                ));
            }
            for (j, id) in self.org_ids.iter().enumerate() {
                match crate::salesforce::id::to_18(id) {
                    // 15-character ids are case-sensitive: the prefix is exactly 00D.
                    Some(full) if full.starts_with("00D") => org_ids.push(full),
                    _ => {
                        return Err(invalid(
                            &format!("org_ids[{j}]"),
                            format!(
                                "{id:?} is not a 15- or 18-character Organization ID (prefix 00D)"
                            ),
                        ))
                    }
                }
            }
        } else if self.secrets.is_empty() {
            return Err(invalid("secrets", "at least one secret is required".into()));
        }

        let mut secrets = Vec::with_capacity(self.secrets.len());
        for (j, src) in self.secrets.iter().enumerate() {
            let key = format!("secrets[{j}]");
            let raw = resolve_secret(src)
                .map_err(|(sub, reason)| invalid(&format!("{key}{sub}"), reason))?;
            let secret = if kind == RouteKind::StandardWebhooks {
                Secret::standard_webhooks(&raw).map_err(|reason| invalid(&key, reason))?
            } else {
                Secret::from_slice(&raw)
            };
            let secret = match &src.not_after {
                None => secret,
                Some(t) => {
                    let at = time::OffsetDateTime::parse(
                        t,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| {
                        invalid(
                            &format!("{key}.not_after"),
                            "an RFC 3339 time, e.g. 2027-01-01T00:00:00Z".into(),
                        )
                    })?;
                    secret.with_not_after(at)
                }
            };
            if secret.is_empty() {
                return Err(invalid(&key, "the secret is empty".into()));
            }
            secrets.push(secret);
        }

        let tolerance_s = match self.tolerance_s {
            Some(t)
                if !(kind.signs_timestamp() || (is_generic && self.timestamp_header.is_some())) =>
            {
                let _ = t;
                return Err(invalid(
                    "tolerance_s",
                    format!("kind {} signs no timestamp", kind.as_str()),
                ));
            }
            Some(0) => return Err(invalid("tolerance_s", "must be greater than 0".into())),
            Some(t) => t,
            None => DEFAULT_TOLERANCE_S,
        };

        let generic = if is_generic {
            let header = self
                .header
                .clone()
                .ok_or_else(|| invalid("header", "required for generic_hmac".into()))?;
            Some(
                crate::verify::generic::Scheme::new(
                    &header,
                    self.algorithm.unwrap_or_default(),
                    self.encoding.unwrap_or_default(),
                    self.prefix.clone().unwrap_or_default(),
                    self.signed_payload.as_deref().unwrap_or("{body}"),
                    self.timestamp_header.as_deref(),
                    self.id_header.as_deref(),
                    self.event_header.as_deref(),
                )
                .map_err(|(key, reason)| invalid(key, reason))?,
            )
        } else {
            None
        };

        let client_cert = match &self.client_cert {
            None => None,
            Some(rule) => {
                if server
                    .tls
                    .as_ref()
                    .and_then(|t| t.client_ca.as_ref())
                    .is_none()
                {
                    return Err(invalid(
                        "client_cert",
                        "needs [server.tls] client_ca (certificates are verified against it)"
                            .into(),
                    ));
                }
                if rule.subjects.is_empty() && rule.fingerprints_sha256.is_empty() {
                    return Err(invalid(
                        "client_cert",
                        "list subjects or fingerprints_sha256".into(),
                    ));
                }
                let mut fingerprints = Vec::new();
                for (j, f) in rule.fingerprints_sha256.iter().enumerate() {
                    let hexed: String = f.chars().filter(|c| *c != ':').collect();
                    let bytes = hex::decode(&hexed)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| {
                            invalid(
                                &format!("client_cert.fingerprints_sha256[{j}]"),
                                "64 hex digits (colons allowed)".into(),
                            )
                        })?;
                    fingerprints.push(bytes);
                }
                let mut subjects = Vec::with_capacity(rule.subjects.len());
                for (j, s) in rule.subjects.iter().enumerate() {
                    let dn = crate::tls::Dn::parse(s).map_err(|e| {
                        invalid(
                            &format!("client_cert.subjects[{j}]"),
                            format!("not an RFC 4514 distinguished name: {e}"),
                        )
                    })?;
                    subjects.push(dn);
                }
                Some(ClientCerts {
                    subjects,
                    fingerprints,
                })
            }
        };
        if let Some(u) = &self.public_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(invalid("public_url", "an absolute http(s) URL".into()));
            }
        }
        let replay_ttl = match self.replay_ttl_s {
            Some(0) => return Err(invalid("replay_ttl_s", "must be greater than 0".into())),
            Some(t) => Duration::from_secs(t),
            None if kind.signs_timestamp() => Duration::from_secs(tolerance_s),
            None if kind == RouteKind::GenericHmac && self.timestamp_header.is_some() => {
                Duration::from_secs(tolerance_s)
            }
            None if kind == RouteKind::SalesforceOm => Duration::from_secs(24 * 3600),
            None => Duration::from_secs(72 * 3600),
        };

        let rate_limit = match self.rate_limit {
            None => None,
            Some(r) => {
                let positive = |key: &str, v: u32| {
                    std::num::NonZeroU32::new(v).ok_or_else(|| {
                        invalid(
                            &format!("rate_limit.{key}"),
                            "must be greater than 0".into(),
                        )
                    })
                };
                Some(RateLimit {
                    per_second: positive("per_second", r.per_second)?,
                    burst: positive("burst", r.burst)?,
                    per_client: r.per_client,
                })
            }
        };

        Ok(Route {
            name,
            path: self.path,
            kind,
            max_body_bytes,
            secrets,
            tolerance: Duration::from_secs(tolerance_s),
            org_ids,
            forward_session_id: self.forward_session_id,
            generic,
            allow_cidrs: self.allow_cidrs.clone(),
            client_cert,
            public_url: self.public_url.clone(),
            replay_ttl,
            rate_limit,
        })
    }
}

/// Why `url` is not a usable AMQP URI, in words that never quote it: the
/// URI may hold a password, and amq-protocol-uri's own messages can repeat
/// the whole URL (`Invalid URL: '<url>'`). `None` when it parses.
pub(crate) fn amqp_url_problem(url: &str) -> Option<String> {
    let amqp_error = url.parse::<lapin::uri::AMQPUri>().err()?;
    let reason = match url::Url::parse(url) {
        // url's messages are fixed texts ("invalid port number").
        Err(e) => format!("not a URL ({e})"),
        Ok(u) if u.cannot_be_a_base() => {
            "not of the form amqp://user:password@host:port/vhost".to_owned()
        }
        Ok(u) if !matches!(u.scheme(), "amqp" | "amqps") => {
            "the scheme must be amqp or amqps".to_owned()
        }
        Ok(u) => {
            let password = u.password().unwrap_or_default();
            if amqp_error.contains(url) || (!password.is_empty() && amqp_error.contains(password)) {
                "not a valid AMQP URI".to_owned()
            } else {
                amqp_error
            }
        }
    };
    Some(format!("not an AMQP URI: {reason}"))
}

/// Reads one secret into a buffer zeroized on drop (the caller copies what
/// it keeps into a [`Secret`]); on error returns (sub-key, reason) without
/// the value.
pub(crate) fn resolve_secret(
    src: &SecretSource,
) -> Result<zeroize::Zeroizing<Vec<u8>>, (&'static str, String)> {
    match (&src.env, &src.file) {
        (Some(var), None) => match std::env::var_os(var) {
            Some(v) => Ok(zeroize::Zeroizing::new(v.into_encoded_bytes())),
            None => Err((".env", format!("environment variable {var} is not set"))),
        },
        (None, Some(path)) => match std::fs::read(path).map(zeroize::Zeroizing::new) {
            Ok(mut bytes) => {
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                Ok(bytes)
            }
            Err(e) => Err((".file", format!("cannot read {}: {e}", path.display()))),
        },
        _ => Err(("", "exactly one of env or file is required".into())),
    }
}

fn positive(file: &Path, key: &str, v: u64) -> Result<(), Error> {
    if v == 0 {
        return Err(Error::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            reason: "must be greater than 0".into(),
        });
    }
    Ok(())
}

fn default_listen() -> SocketAddr {
    // A constant that parses: checked by the unit test below.
    DEFAULT_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443)))
}
fn default_admin_listen() -> SocketAddr {
    DEFAULT_ADMIN_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9090)))
}
fn default_body_idle_timeout_ms() -> u64 {
    5_000
}
fn default_body_timeout_ms() -> u64 {
    15_000
}
fn default_tls_handshake_timeout_ms() -> u64 {
    10_000
}
fn default_max_headers() -> usize {
    100
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_connections_per_ip() -> usize {
    64
}
fn default_max_concurrent_streams() -> u32 {
    100
}
fn default_dedupe_path() -> PathBuf {
    PathBuf::from("data/dedupe.redb")
}
/// Smallest `dedupe.max_bytes`: an empty redb file takes about 1 MiB.
pub const MIN_DEDUPE_MAX_BYTES: u64 = 4 << 20;
fn default_dedupe_max_bytes() -> u64 {
    256 << 20
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_linger_timeout_ms() -> u64 {
    5_000
}
fn default_linger_max_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_max_concurrent_requests() -> usize {
    1024
}
fn default_shutdown_grace_ms() -> u64 {
    10_000
}
fn default_exchange() -> String {
    "hookgate".into()
}
fn default_confirm_timeout_ms() -> u64 {
    5_000
}
fn default_channels() -> usize {
    4
}
fn default_max_channels() -> usize {
    256
}
fn default_heartbeat_s() -> u16 {
    10
}
fn default_true() -> bool {
    true
}
fn default_spool_path() -> PathBuf {
    PathBuf::from("data/spool.redb")
}
fn default_after_ms() -> u64 {
    1_000
}
/// Smallest `spool.max_bytes`: an empty redb file takes about 1 MiB.
pub const MIN_SPOOL_MAX_BYTES: u64 = 4 << 20;

fn default_spool_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
fn default_spool_max_messages() -> u64 {
    1_000_000
}
fn default_quarantine_after() -> u64 {
    5
}
fn default_bindings() -> Vec<String> {
    vec!["#".into()]
}

#[cfg(test)]
mod tests;
