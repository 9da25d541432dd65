//! The worker's configuration: `[amqp]`, `[worker]`, `[worker.idempotency]`,
//! `[[worker.actions]]`, `[salesforce]` and `[telemetry]`, read from the same file as the
//! gateway (its `[server]`, `[admin]`, `[spool]` and `[[routes]]` sections are
//! the gateway's and are not read here).
//!
//! One way to load a file: read and parsed by `crate::config` (same
//! [`Error`], naming the file and key), `[amqp]` is the gateway's
//! [`AmqpConfig`] (the worker checks its URL only), and secrets are the
//! gateway's [`SecretSource`](crate::config::SecretSource) references.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub(crate) use super::bulk::BulkConfig;
pub(crate) use super::idempotency::{IdempotencyConfig, StoreKind};
#[cfg(test)]
pub(crate) use super::mapping::TypedField;
pub(crate) use super::mapping::{FieldSpec, ValueType};
pub(crate) use super::orgs::OrgConfig;
use crate::config::{self, AmqpConfig, Error, TelemetryConfig};

/// Default worker admin listener (`[worker] admin_listen`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9091";

/// The whole file as the worker reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerFile {
    amqp: AmqpConfig,
    worker: WorkerSection,
    salesforce: super::orgs::SalesforceTable,
    #[serde(default)]
    telemetry: TelemetryConfig,
    // The gateway's sections: allowed in the same file, not read here.
    #[serde(default, rename = "server")]
    _server: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "admin")]
    _admin: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "spool")]
    _spool: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "routes")]
    _routes: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "pubsub")]
    _pubsub: Option<serde::de::IgnoredAny>,
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Work queues consumed (declared durable if missing).
    pub queues: Vec<String>,
    /// Unacknowledged deliveries per consumer; at least 2x the batch size.
    #[serde(default = "default_prefetch")]
    pub(crate) prefetch: u16,
    /// How long a batch waits for more records before it is sent, in ms.
    #[serde(default = "default_linger")]
    pub(crate) batch_linger_ms: u64,
    /// Records per sObject Collections call (at most 200).
    #[serde(default = "default_batch_size")]
    pub(crate) batch_size: usize,
    /// Attempts before a retryable failure is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub(crate) max_attempts: u32,
    /// Delay before attempt n+1, in seconds (the last one repeats).
    #[serde(default = "default_retry_delays")]
    pub(crate) retry_delays_s: Vec<u64>,
    /// Where permanent failures and exhausted retries go.
    #[serde(default = "default_dlq")]
    pub dead_letter_queue: String,
    /// `/healthz`, `/readyz`, `/metrics` of the worker.
    #[serde(default = "default_admin_listen")]
    pub(crate) admin_listen: SocketAddr,
    /// How long consumption pauses when API usage is over the threshold, in
    /// seconds, before one batch is let through to read usage again.
    #[serde(default = "default_budget_pause")]
    pub(crate) budget_pause_s: u64,
    /// First delay before a paused worker tries again (token endpoint down
    /// or refusing, maintenance, request limit), in ms; doubles (jittered)
    /// up to `pause_retry_max_s`.
    #[serde(default = "default_pause_retry_min")]
    pub(crate) pause_retry_min_ms: u64,
    /// Longest delay between two tries of a paused worker, in seconds.
    #[serde(default = "default_pause_retry_max")]
    pub(crate) pause_retry_max_s: u64,
    /// `[worker.idempotency]`.
    #[serde(default)]
    pub(crate) idempotency: IdempotencyConfig,
    /// `[worker.bulk]`: backlogs through Bulk API 2.0.
    #[serde(default)]
    pub(crate) bulk: BulkConfig,
    /// `[[worker.actions]]`, tried in order; the first match wins.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
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
    /// The org written to (`name` of `[[salesforce.orgs]]`): required for
    /// an upsert when several orgs are configured; on an update it limits
    /// the action to Notifications of that org.
    pub(crate) org: Option<String>,
    /// sObject: required for upsert; for update it defaults to the
    /// Notification's `sobject_type`.
    pub sobject: Option<String>,
    /// Upsert: the external id field (must be in `fields`).
    pub(crate) external_id_field: Option<String>,
    /// Field -> value. Update: literal text with `{received_at}`,
    /// `{message_id}`, `{notification_id}`, `{organization_id}`,
    /// `{action_id}`, `{sobject_type}` placeholders. Upsert: a JSON Pointer
    /// (RFC 6901, starts with `/`) into the body, or literal text, or a
    /// typed pointer `{ pointer = "/a/b", type = "number", scale = 0.01 }`.
    pub(crate) fields: BTreeMap<String, FieldSpec>,
}

/// A validated worker configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The file.
    pub file: PathBuf,
    /// `[amqp]` (env override applied).
    pub(crate) amqp: AmqpConfig,
    /// `[worker]`.
    pub worker: WorkerSection,
    /// The orgs (`[salesforce]` or `[[salesforce.orgs]]`), validated, in
    /// file order.
    pub orgs: Vec<OrgConfig>,
    /// `[telemetry]` (the gateway's section; `service_name` defaults to
    /// `hookgate-worker` here).
    pub telemetry: TelemetryConfig,
}

impl WorkerConfig {
    /// Reads and validates the worker's sections of `path`.
    ///
    /// # Errors
    /// [`Error`] naming the file and key.
    pub fn load(path: &Path) -> Result<WorkerConfig, Error> {
        Self::from_toml(path, &config::read(path)?)
    }

    /// Parses and validates TOML text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`Error`] naming the file and key.
    pub fn from_toml(path: &Path, text: &str) -> Result<WorkerConfig, Error> {
        let WorkerFile {
            mut amqp,
            worker,
            salesforce,
            mut telemetry,
            ..
        } = config::parse_toml(path, text)?;
        // Of `[amqp]` the worker uses the connection only: the gateway's
        // topology keys are not its to check.
        amqp.resolve_url(path)?;
        worker.validate(path)?;
        for (i, a) in worker.actions.iter().enumerate() {
            a.validate(path, i)?;
        }
        let orgs = salesforce.orgs(path)?;
        check_orgs(path, &worker.actions, &orgs)?;
        telemetry.validate(path)?;
        Ok(WorkerConfig {
            file: path.to_path_buf(),
            amqp,
            worker,
            orgs,
            telemetry,
        })
    }

    /// Linger as a Duration.
    pub(crate) fn linger(&self) -> Duration {
        Duration::from_millis(self.worker.batch_linger_ms)
    }

    /// `worker.bulk.gather_linger_ms` as a Duration.
    pub(crate) fn gather_linger(&self) -> Duration {
        Duration::from_millis(self.worker.bulk.gather_linger_ms)
    }

    /// The backoff bounds of a paused worker's tries.
    pub(crate) fn pause_retry(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.worker.pause_retry_min_ms),
            Duration::from_secs(self.worker.pause_retry_max_s),
        )
    }
}

// === impl WorkerSection ===

impl WorkerSection {
    /// Queues, batching, retries and the idempotency store; the actions
    /// are checked one by one after.
    fn validate(&self, file: &Path) -> Result<(), Error> {
        if self.queues.is_empty() {
            return Err(Error::invalid(file, "worker.queues", "at least one queue"));
        }
        if self.batch_size == 0 || self.batch_size > crate::salesforce::rest::MAX_COLLECTION_RECORDS
        {
            return Err(Error::invalid(
                file,
                "worker.batch_size",
                "1 to 200 (sObject Collections limit)",
            ));
        }
        if (self.prefetch as usize) < 2 * self.batch_size {
            return Err(Error::invalid(
                file,
                "worker.prefetch",
                format!(
                    "must be at least 2 x batch_size ({}), or batches cannot fill",
                    2 * self.batch_size
                ),
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid(
                file,
                "worker.max_attempts",
                "must be at least 1",
            ));
        }
        if self.retry_delays_s.is_empty() || self.retry_delays_s.contains(&0) {
            return Err(Error::invalid(
                file,
                "worker.retry_delays_s",
                "non-empty, every delay > 0",
            ));
        }
        if self.dead_letter_queue.is_empty() || self.queues.contains(&self.dead_letter_queue) {
            return Err(Error::invalid(
                file,
                "worker.dead_letter_queue",
                "must be set and differ from the work queues",
            ));
        }
        if self.pause_retry_min_ms == 0
            || self.pause_retry_max_s.saturating_mul(1000) < self.pause_retry_min_ms
        {
            return Err(Error::invalid(
                file,
                "worker.pause_retry_min_ms",
                "must be > 0 and at most pause_retry_max_s",
            ));
        }
        self.idempotency.validate(file)?;
        self.bulk.validate(file, self.batch_size)?;
        if self.actions.is_empty() {
            return Err(Error::invalid(
                file,
                "worker.actions",
                "at least one [[worker.actions]]",
            ));
        }
        Ok(())
    }
}

impl ActionConfig {
    /// `worker.actions[i]`: a topic pattern, fields, and the upsert's
    /// sObject and external id.
    fn validate(&self, file: &Path, i: usize) -> Result<(), Error> {
        let invalid = |k: &str, reason: String| {
            Error::invalid(file, format!("worker.actions[{i}].{k}"), reason)
        };
        if super::pattern::Pattern::parse(&self.pattern).is_none() {
            return Err(invalid("match", "a topic pattern of words, * and #".into()));
        }
        if self.fields.is_empty() {
            return Err(invalid("fields", "at least one field".into()));
        }
        for (name, spec) in &self.fields {
            if let FieldSpec::Typed(t) = spec {
                t.validate()
                    .map_err(|reason| invalid(&format!("fields.{name}"), reason))?;
                if self.kind != ActionKind::SalesforceUpsert {
                    return Err(invalid(
                        &format!("fields.{name}"),
                        "typed fields need a JSON body: salesforce_upsert only".into(),
                    ));
                }
            }
        }
        if self.kind != ActionKind::SalesforceUpsert {
            if self.external_id_field.is_some() {
                return Err(invalid(
                    "external_id_field",
                    "only for salesforce_upsert".into(),
                ));
            }
            return Ok(());
        }
        match self.sobject.as_deref() {
            None => return Err(invalid("sobject", "required for salesforce_upsert".into())),
            Some("") => return Err(invalid("sobject", "must not be empty".into())),
            Some(_) => {}
        }
        match &self.external_id_field {
            None => Err(invalid(
                "external_id_field",
                "required for salesforce_upsert".into(),
            )),
            Some(f) if !self.fields.contains_key(f) => Err(invalid(
                "external_id_field",
                format!("{f} must be one of fields"),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Every action's `org` names a configured org; with several orgs an
/// upsert must name one (a webhook carries no Organization ID).
///
/// # Errors
/// [`Error`] naming `worker.actions[i].org`.
fn check_orgs(file: &Path, actions: &[ActionConfig], orgs: &[OrgConfig]) -> Result<(), Error> {
    for (i, a) in actions.iter().enumerate() {
        let key = format!("worker.actions[{i}].org");
        match &a.org {
            Some(name) if !orgs.iter().any(|o| &o.name == name) => {
                let known: Vec<&str> = orgs.iter().map(|o| o.name.as_str()).collect();
                let reason = format!(
                    "action (match = {:?}) names unknown org {name:?} (configured: {})",
                    a.pattern,
                    known.join(", ")
                );
                return Err(Error::invalid(file, key, reason));
            }
            None if orgs.len() > 1 && a.kind == ActionKind::SalesforceUpsert => {
                let reason = format!(
                    "action (match = {:?}): required when several orgs are configured",
                    a.pattern
                );
                return Err(Error::invalid(file, key, reason));
            }
            _ => {}
        }
    }
    Ok(())
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
fn default_pause_retry_min() -> u64 {
    1000
}
fn default_pause_retry_max() -> u64 {
    300
}

#[cfg(test)]
#[path = "tests/worker.rs"]
mod tests;
