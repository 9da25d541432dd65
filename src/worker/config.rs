//! The worker's configuration: `[amqp]`, `[worker]`, `[worker.idempotency]`,
//! `[[worker.actions]]` and `[salesforce]`, read from the same file as the
//! gateway (its `[server]`, `[admin]`, `[spool]` and `[[routes]]` sections are
//! the gateway's and are not read here).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{AmqpConfig, Error, SecretSource, AMQP_URL_ENV};
use crate::salesforce::rest::Auth;
use crate::secret::{redact_url, Secret};

/// Default worker admin listener.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9091";

/// The whole file as the worker reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerFile {
    amqp: AmqpConfig,
    worker: WorkerSection,
    salesforce: SalesforceSection,
    // The gateway's sections: allowed in the same file, not read here.
    #[serde(default, rename = "server")]
    _server: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "admin")]
    _admin: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "spool")]
    _spool: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "routes")]
    _routes: Option<serde::de::IgnoredAny>,
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Work queues consumed (declared durable if missing).
    pub queues: Vec<String>,
    /// Unacknowledged deliveries per consumer; at least 2x the batch size.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// How long a batch waits for more records before it is sent, in ms.
    #[serde(default = "default_linger")]
    pub batch_linger_ms: u64,
    /// Records per sObject Collections call (at most 200).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Attempts before a retryable failure is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delay before attempt n+1, in seconds (the last one repeats).
    #[serde(default = "default_retry_delays")]
    pub retry_delays_s: Vec<u64>,
    /// Where permanent failures and exhausted retries go.
    #[serde(default = "default_dlq")]
    pub dead_letter_queue: String,
    /// `/healthz`, `/readyz`, `/metrics` of the worker.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// How long consumption pauses when API usage is over the threshold, in
    /// seconds, before one batch is let through to read usage again.
    #[serde(default = "default_budget_pause")]
    pub budget_pause_s: u64,
    /// `[worker.idempotency]`.
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    /// `[[worker.actions]]`, tried in order; the first match wins.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
}

/// `[worker.idempotency]`. `Debug` shows the Redis URL without its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// `embedded` (redb file) or `redis` (shared by a fleet of workers).
    #[serde(default)]
    pub store: StoreKind,
    /// redb file for `embedded`.
    #[serde(default = "default_idem_path")]
    pub path: PathBuf,
    /// `redis://host:port` for `redis`.
    pub redis_url: Option<String>,
    /// How long a done message_id is remembered, in seconds (default 48 h,
    /// longer than Salesforce's 24 h Outbound Message retry window).
    #[serde(default = "default_ttl")]
    pub ttl_s: u64,
}

impl std::fmt::Debug for IdempotencyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let IdempotencyConfig {
            store,
            path,
            redis_url,
            ttl_s,
        } = self;
        f.debug_struct("IdempotencyConfig")
            .field("store", store)
            .field("path", path)
            .field("redis_url", &redis_url.as_deref().map(redact_url))
            .field("ttl_s", ttl_s)
            .finish()
    }
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            store: StoreKind::Embedded,
            path: default_idem_path(),
            redis_url: None,
            ttl_s: default_ttl(),
        }
    }
}

/// Idempotency store kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// redb file, one worker process.
    #[default]
    Embedded,
    /// Redis, shared by several workers.
    Redis,
}

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Write fields back on the record an Outbound Message Notification
    /// names (update by Id).
    SalesforceUpdate,
    /// Map a webhook's JSON body to an upsert by external id.
    SalesforceUpsert,
}

/// `[[worker.actions]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Routing-key pattern, topic syntax (`*` one word, `#` zero or more).
    #[serde(rename = "match")]
    pub pattern: String,
    /// What to do.
    pub kind: ActionKind,
    /// sObject: required for upsert; for update it defaults to the
    /// Notification's `sobject_type`.
    pub sobject: Option<String>,
    /// Upsert: the external id field (must be in `fields`).
    pub external_id_field: Option<String>,
    /// Field -> value. Update: literal text with `{received_at}`,
    /// `{message_id}`, `{notification_id}`, `{organization_id}`,
    /// `{action_id}`, `{sobject_type}` placeholders. Upsert: a JSON Pointer
    /// (RFC 6901, starts with `/`) into the body, or literal text.
    pub fields: BTreeMap<String, String>,
}

/// `[salesforce]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSection {
    /// Token endpoint base (`https://login.salesforce.com`, the My Domain
    /// URL for client credentials, or the simulator's URL in tests).
    pub login_url: String,
    /// REST base used when the token reply has no `instance_url`.
    pub instance_url: String,
    /// API version without the `v`, e.g. `62.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `jwt_bearer` or `client_credentials`.
    pub auth: AuthKind,
    /// Connected app consumer key.
    pub consumer_key: SecretSource,
    /// Integration user (jwt_bearer).
    pub username: Option<String>,
    /// PEM RSA private key (jwt_bearer).
    pub private_key: Option<SecretSource>,
    /// JWT audience (default `https://login.salesforce.com`).
    pub audience: Option<String>,
    /// Consumer secret (client_credentials).
    pub client_secret: Option<SecretSource>,
    /// Pause when `used/limit` from `Sforce-Limit-Info` exceeds this.
    #[serde(default = "default_max_usage")]
    pub max_api_usage: f64,
    /// Per-request timeout in ms.
    #[serde(default = "default_sf_timeout")]
    pub timeout_ms: u64,
}

/// OAuth flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// RS256 JWT assertion.
    JwtBearer,
    /// Client id + secret.
    ClientCredentials,
}

/// A validated worker configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The file.
    pub file: PathBuf,
    /// `[amqp]` (env override applied).
    pub amqp: AmqpConfig,
    /// `[worker]`.
    pub worker: WorkerSection,
    /// `[salesforce]`, validated.
    pub salesforce: SalesforceSection,
    /// The token flow with its secrets resolved.
    pub auth: Auth,
}

impl WorkerConfig {
    /// Reads and validates the worker's sections of `path`.
    ///
    /// # Errors
    /// [`Error`] naming the file and key.
    pub fn load(path: &Path) -> Result<WorkerConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates TOML text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`Error`] naming the file and key.
    pub fn from_toml(path: &Path, text: &str) -> Result<WorkerConfig, Error> {
        let raw: WorkerFile = toml::from_str(text).map_err(|e| Error::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: &str, reason: String| Error::Invalid {
            file: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let WorkerFile {
            mut amqp,
            worker,
            salesforce,
            ..
        } = raw;
        if let Ok(url) = std::env::var(AMQP_URL_ENV) {
            amqp.url = url;
        }
        if let Some(reason) = crate::config::amqp_url_problem(&amqp.url) {
            return Err(invalid("amqp.url", reason));
        }
        if worker.queues.is_empty() {
            return Err(invalid("worker.queues", "at least one queue".into()));
        }
        if worker.batch_size == 0
            || worker.batch_size > crate::salesforce::rest::MAX_COLLECTION_RECORDS
        {
            return Err(invalid(
                "worker.batch_size",
                "1 to 200 (sObject Collections limit)".into(),
            ));
        }
        if (worker.prefetch as usize) < 2 * worker.batch_size {
            return Err(invalid(
                "worker.prefetch",
                format!(
                    "must be at least 2 x batch_size ({}), or batches cannot fill",
                    2 * worker.batch_size
                ),
            ));
        }
        if worker.max_attempts == 0 {
            return Err(invalid("worker.max_attempts", "must be at least 1".into()));
        }
        if worker.retry_delays_s.is_empty() || worker.retry_delays_s.contains(&0) {
            return Err(invalid(
                "worker.retry_delays_s",
                "non-empty, every delay > 0".into(),
            ));
        }
        if worker.dead_letter_queue.is_empty() || worker.queues.contains(&worker.dead_letter_queue)
        {
            return Err(invalid(
                "worker.dead_letter_queue",
                "must be set and differ from the work queues".into(),
            ));
        }
        if worker.idempotency.store == StoreKind::Redis && worker.idempotency.redis_url.is_none() {
            return Err(invalid(
                "worker.idempotency.redis_url",
                "required for store = \"redis\"".into(),
            ));
        }
        if worker.idempotency.ttl_s < 24 * 3600 {
            return Err(invalid(
                "worker.idempotency.ttl_s",
                "must exceed Salesforce's 24 h retry window (86400)".into(),
            ));
        }
        if worker.actions.is_empty() {
            return Err(invalid(
                "worker.actions",
                "at least one [[worker.actions]]".into(),
            ));
        }
        for (i, a) in worker.actions.iter().enumerate() {
            let key = |k: &str| format!("worker.actions[{i}].{k}");
            if crate::worker::action::Pattern::parse(&a.pattern).is_none() {
                return Err(invalid(
                    &key("match"),
                    "a topic pattern of words, * and #".into(),
                ));
            }
            if a.fields.is_empty() {
                return Err(invalid(&key("fields"), "at least one field".into()));
            }
            if a.kind == ActionKind::SalesforceUpsert {
                let Some(sobject) = &a.sobject else {
                    return Err(invalid(
                        &key("sobject"),
                        "required for salesforce_upsert".into(),
                    ));
                };
                if sobject.is_empty() {
                    return Err(invalid(&key("sobject"), "must not be empty".into()));
                }
                match &a.external_id_field {
                    None => {
                        return Err(invalid(
                            &key("external_id_field"),
                            "required for salesforce_upsert".into(),
                        ))
                    }
                    Some(f) if !a.fields.contains_key(f) => {
                        return Err(invalid(
                            &key("external_id_field"),
                            format!("{f} must be one of fields"),
                        ))
                    }
                    _ => {}
                }
            } else if a.external_id_field.is_some() {
                return Err(invalid(
                    &key("external_id_field"),
                    "only for salesforce_upsert".into(),
                ));
            }
        }
        if !(0.0..=1.0).contains(&salesforce.max_api_usage) || salesforce.max_api_usage == 0.0 {
            return Err(invalid(
                "salesforce.max_api_usage",
                "a ratio in (0, 1]".into(),
            ));
        }
        let consumer_key = read_secret(&salesforce.consumer_key)
            .map_err(|(sub, r)| invalid(&format!("salesforce.consumer_key{sub}"), r))?;
        // The consumer key is the OAuth client id, not a secret.
        let consumer_key = String::from_utf8(consumer_key.to_vec())
            .map_err(|_| invalid("salesforce.consumer_key", "not UTF-8".into()))?;
        let auth = match salesforce.auth {
            AuthKind::JwtBearer => {
                let username = salesforce.username.clone().ok_or_else(|| {
                    invalid("salesforce.username", "required for jwt_bearer".into())
                })?;
                let key_src = salesforce.private_key.as_ref().ok_or_else(|| {
                    invalid("salesforce.private_key", "required for jwt_bearer".into())
                })?;
                let pem = read_secret(key_src)
                    .map_err(|(sub, r)| invalid(&format!("salesforce.private_key{sub}"), r))?;
                Auth::jwt_bearer(
                    consumer_key,
                    username,
                    salesforce
                        .audience
                        .clone()
                        .unwrap_or_else(|| "https://login.salesforce.com".into()),
                    &pem,
                )
                .map_err(|e| invalid("salesforce.private_key", e.to_string()))?
            }
            AuthKind::ClientCredentials => {
                let src = salesforce.client_secret.as_ref().ok_or_else(|| {
                    invalid(
                        "salesforce.client_secret",
                        "required for client_credentials".into(),
                    )
                })?;
                let secret = read_secret(src)
                    .map_err(|(sub, r)| invalid(&format!("salesforce.client_secret{sub}"), r))?;
                // It is sent as form text.
                if std::str::from_utf8(&secret).is_err() {
                    return Err(invalid("salesforce.client_secret", "not UTF-8".into()));
                }
                Auth::ClientCredentials {
                    client_id: consumer_key,
                    client_secret: Secret::from_slice(&secret),
                }
            }
        };
        Ok(WorkerConfig {
            file: path.to_path_buf(),
            amqp,
            worker,
            salesforce,
            auth,
        })
    }

    /// Linger as a Duration.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.worker.batch_linger_ms)
    }
}

fn read_secret(src: &SecretSource) -> Result<zeroize::Zeroizing<Vec<u8>>, (&'static str, String)> {
    crate::config::resolve_secret(src)
}

fn default_prefetch() -> u16 {
    400
}
fn default_linger() -> u64 {
    200
}
fn default_batch_size() -> usize {
    200
}
fn default_max_attempts() -> u32 {
    6
}
fn default_retry_delays() -> Vec<u64> {
    vec![5, 30, 120, 600, 3600]
}
fn default_dlq() -> String {
    "hookgate.dead".into()
}
fn default_admin_listen() -> SocketAddr {
    DEFAULT_ADMIN_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9091)))
}
fn default_budget_pause() -> u64 {
    300
}
fn default_idem_path() -> PathBuf {
    PathBuf::from("data/idempotency.redb")
}
fn default_ttl() -> u64 {
    172_800
}
fn default_api_version() -> String {
    "62.0".into()
}
fn default_max_usage() -> f64 {
    0.9
}
fn default_sf_timeout() -> u64 {
    30_000
}

#[cfg(test)]
mod tests;
