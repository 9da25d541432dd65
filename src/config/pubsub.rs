//! `hookgate subscribe`'s configuration: `[amqp]` (the gateway's exchange
//! and topology), the orgs of `[salesforce]`/`[[salesforce.orgs]]` (the same
//! OAuth as the worker; each org's `pubsub_url`), the
//! `[[salesforce.subscriptions]]` list, `[pubsub]` (where replay ids are
//! kept, the admin listener, the stream watchdog) and `[telemetry]`, all
//! read from the same file as the gateway and the worker (docs/pubsub.md).
//!
//! ```toml
//! [pubsub]
//! store = "embedded"            # or "redis" with redis_url
//! path = "data/replay.redb"
//!
//! [[salesforce.subscriptions]]
//! name = "orders"               # routing keys orders.<EventName>
//! org = "acme"                  # name of a [[salesforce.orgs]] entry
//! topic = "/event/Order_Placed__e"
//! replay_preset = "latest"      # first start only: latest | earliest
//! batch = 100                   # events per FetchRequest, 1..=100
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::orgs::{OrgConfig, SalesforceTable};
use crate::config::{self, AmqpConfig, Error, TelemetryConfig};
use crate::secret::redact_url;

/// Default `[pubsub] admin_listen`.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9092";
/// Most events one FetchRequest may ask for: Salesforce caps the
/// requested-but-undelivered events of a stream at 100 (SALESFORCE.md
/// section 9 \[FLOW\]).
pub const MAX_BATCH: u32 = 100;
/// Default watchdog: Salesforce sends a keepalive within 270 s of silence
/// \[PROTO\]; a stream silent for longer than this is reopened (\[P31\]).
pub const DEFAULT_SILENCE_S: u64 = 300;

/// The whole file as `hookgate subscribe` reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeFile {
    amqp: AmqpConfig,
    salesforce: SalesforceTable,
    #[serde(default)]
    pubsub: PubsubSection,
    /// Checked, not used yet: the subscriber exports no spans.
    #[serde(default)]
    telemetry: TelemetryConfig,
    // The gateway's and the worker's sections: allowed, not read here.
    #[serde(default, rename = "server")]
    _server: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "admin")]
    _admin: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "spool")]
    _spool: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "dedupe")]
    _dedupe: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "routes")]
    _routes: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "worker")]
    _worker: Option<serde::de::IgnoredAny>,
}

/// `[pubsub]`. `Debug` shows the Redis URL without its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PubsubSection {
    /// Where replay ids are kept: `embedded` (a redb file, one subscriber
    /// process) or `redis` (shared by a fleet).
    #[serde(default)]
    pub(crate) store: ReplayStoreKind,
    /// The redb file of `embedded`, relative to the working directory
    /// (default `data/replay.redb`).
    #[serde(default = "default_path")]
    pub(crate) path: PathBuf,
    /// `redis://host:port` for `redis`.
    pub(crate) redis_url: Option<String>,
    /// Prefix of the Redis keys (`<prefix><subscription name>`).
    #[serde(default = "default_key_prefix")]
    pub(crate) key_prefix: String,
    /// With `redis`: the lifetime of a subscription's lease, in seconds (one
    /// process of a fleet streams it; a standby takes over within this
    /// after the holder dies).
    #[serde(default = "default_lease")]
    pub(crate) lease_s: u64,
    /// `/healthz`, `/readyz`, `/metrics` of the subscriber.
    #[serde(default = "default_admin_listen")]
    pub(crate) admin_listen: SocketAddr,
    /// A stream that delivered nothing (not even a keepalive) for this many
    /// seconds is closed and reopened from the stored replay id.
    #[serde(default = "default_silence")]
    pub(crate) silence_s: u64,
    /// First delay before a failed stream is reopened, in ms (doubles,
    /// jittered, up to `retry_max_s`).
    #[serde(default = "default_retry_min")]
    pub(crate) retry_min_ms: u64,
    /// Longest delay between two reopen attempts, in seconds.
    #[serde(default = "default_retry_max")]
    pub(crate) retry_max_s: u64,
}

impl std::fmt::Debug for PubsubSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubsubSection")
            .field("store", &self.store)
            .field("path", &self.path)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("key_prefix", &self.key_prefix)
            .field("admin_listen", &self.admin_listen)
            .field("silence_s", &self.silence_s)
            .finish_non_exhaustive()
    }
}

impl Default for PubsubSection {
    fn default() -> Self {
        PubsubSection {
            store: ReplayStoreKind::Embedded,
            path: default_path(),
            redis_url: None,
            key_prefix: default_key_prefix(),
            lease_s: default_lease(),
            admin_listen: default_admin_listen(),
            silence_s: DEFAULT_SILENCE_S,
            retry_min_ms: default_retry_min(),
            retry_max_s: default_retry_max(),
        }
    }
}

/// `[pubsub] store`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayStoreKind {
    /// A redb file.
    #[default]
    Embedded,
    /// Redis.
    Redis,
}

/// Where a subscription starts when no replay id is stored for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReplayPreset {
    /// The tip: only events published from now on (`LATEST`).
    #[default]
    Latest,
    /// The oldest retained event (`EARLIEST`, up to 72 h back).
    Earliest,
}

/// `[[salesforce.subscriptions]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionSection {
    name: String,
    org: Option<String>,
    topic: String,
    #[serde(default)]
    replay_preset: ReplayPreset,
    #[serde(default = "default_batch")]
    batch: u32,
}

/// One validated subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Unique name: the first word of its routing keys, the key its replay
    /// id is stored under, the `subscription` metric label.
    pub name: String,
    /// Index of its org in [`SubscribeConfig::orgs`].
    pub(crate) org: usize,
    /// `/event/<Name>__e`, `/data/<Object>ChangeEvent`, `/data/ChangeEvents`
    /// or a custom channel (`__chn`).
    pub topic: String,
    /// Start position when nothing is stored.
    pub replay_preset: ReplayPreset,
    /// Events per FetchRequest, 1..=[`MAX_BATCH`].
    pub batch: u32,
}

/// A validated `hookgate subscribe` configuration.
#[derive(Debug, Clone)]
pub struct SubscribeConfig {
    /// The file.
    pub file: PathBuf,
    /// `[amqp]` (env override applied).
    pub(crate) amqp: AmqpConfig,
    /// The orgs, validated, secrets read.
    pub(crate) orgs: Vec<OrgConfig>,
    /// `[[salesforce.subscriptions]]`, in file order.
    pub subscriptions: Vec<Subscription>,
    /// `[pubsub]`.
    pub pubsub: PubsubSection,
}

impl SubscribeConfig {
    /// Reads and validates `path`.
    ///
    /// # Errors
    /// [`Error`] naming the file and key.
    pub fn load(path: &Path) -> Result<SubscribeConfig, Error> {
        Self::from_toml(path, &config::read(path)?)
    }

    /// Parses and validates TOML text (`path` names it in errors).
    ///
    /// # Errors
    /// [`Error`] naming the file and key: no subscription, a duplicate name,
    /// an unknown org, a topic that is not `/event/...` or `/data/...`, a
    /// batch outside 1..=100, `redis` without `redis_url`.
    pub fn from_toml(path: &Path, text: &str) -> Result<SubscribeConfig, Error> {
        let SubscribeFile {
            mut amqp,
            mut salesforce,
            pubsub,
            mut telemetry,
            ..
        } = config::parse_toml(path, text)?;
        amqp.validate(path)?;
        let listed = salesforce.take_subscriptions();
        let orgs = salesforce.orgs(path)?;
        let subscriptions = subscriptions(path, listed, &orgs)?;
        pubsub.validate(path)?;
        telemetry.validate(path)?;
        Ok(SubscribeConfig {
            file: path.to_path_buf(),
            amqp,
            orgs,
            subscriptions,
            pubsub,
        })
    }

    /// The org of `s`.
    pub(crate) fn org(&self, s: &Subscription) -> &OrgConfig {
        &self.orgs[s.org]
    }
}

impl PubsubSection {
    fn validate(&self, file: &Path) -> Result<(), Error> {
        if self.store == ReplayStoreKind::Redis && self.redis_url.is_none() {
            return Err(Error::invalid(
                file,
                "pubsub.redis_url",
                "required for store = \"redis\"",
            ));
        }
        config::positive(file, "pubsub.silence_s", self.silence_s)?;
        if self.lease_s < 3 {
            return Err(Error::invalid(
                file,
                "pubsub.lease_s",
                "at least 3 (renewed every third)",
            ));
        }
        config::positive(file, "pubsub.retry_min_ms", self.retry_min_ms)?;
        config::positive(file, "pubsub.retry_max_s", self.retry_max_s)?;
        Ok(())
    }

    /// The watchdog's silence limit.
    pub(crate) fn silence(&self) -> Duration {
        Duration::from_secs(self.silence_s)
    }

    /// The lease lifetime (Redis store).
    pub(crate) fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_s)
    }

    /// The reopen backoff bounds.
    pub(crate) fn retry(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.retry_min_ms),
            Duration::from_secs(self.retry_max_s),
        )
    }
}

/// The `[[salesforce.subscriptions]]` list, validated against the orgs.
fn subscriptions(
    file: &Path,
    listed: Option<toml::Value>,
    orgs: &[OrgConfig],
) -> Result<Vec<Subscription>, Error> {
    let key = "salesforce.subscriptions";
    let sections: Vec<SubscriptionSection> = match listed {
        Some(v) => v
            .try_into()
            .map_err(|e| Error::invalid(file, key, e.to_string()))?,
        None => Vec::new(),
    };
    if sections.is_empty() {
        return Err(Error::invalid(
            file,
            key,
            "at least one [[salesforce.subscriptions]] entry",
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(sections.len());
    for (i, s) in sections.into_iter().enumerate() {
        let key = format!("{key}[{i}]");
        if !config::is_word(&s.name) {
            let reason = "1 to 64 characters of [A-Za-z0-9_-] (the first word of routing keys)";
            return Err(Error::invalid(file, format!("{key}.name"), reason));
        }
        if !names.insert(s.name.clone()) {
            let reason = format!("duplicate subscription name {:?}", s.name);
            return Err(Error::invalid(file, format!("{key}.name"), reason));
        }
        let org = match (&s.org, orgs.len()) {
            (None, 1) => 0,
            (None, _) => {
                let reason = "required when several orgs are configured";
                return Err(Error::invalid(file, format!("{key}.org"), reason));
            }
            (Some(name), _) => orgs.iter().position(|o| &o.name == name).ok_or_else(|| {
                let reason = format!("no org named {name:?} in [salesforce]");
                Error::invalid(file, format!("{key}.org"), reason)
            })?,
        };
        if orgs[org].organization_id.is_none() {
            let reason = "its org needs organization_id (the Pub/Sub API's tenantid)";
            return Err(Error::invalid(file, format!("{key}.org"), reason));
        }
        if !valid_topic(&s.topic) {
            let reason = "a topic such as /event/Order_Placed__e, /data/AccountChangeEvent or /data/ChangeEvents";
            return Err(Error::invalid(file, format!("{key}.topic"), reason));
        }
        if s.batch == 0 || s.batch > MAX_BATCH {
            let reason = format!("1 to {MAX_BATCH} (Salesforce's cap on requested events)");
            return Err(Error::invalid(file, format!("{key}.batch"), reason));
        }
        out.push(Subscription {
            name: s.name,
            org,
            topic: s.topic,
            replay_preset: s.replay_preset,
            batch: s.batch,
        });
    }
    Ok(out)
}

/// `/event/<name>` or `/data/<name>` (names are case-sensitive; SALESFORCE.md
/// section 9, Topics).
fn valid_topic(t: &str) -> bool {
    let name = t
        .strip_prefix("/event/")
        .or_else(|| t.strip_prefix("/data/"));
    name.is_some_and(|n| {
        !n.is_empty() && n.len() <= 200 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn default_path() -> PathBuf {
    PathBuf::from("data/replay.redb")
}
fn default_key_prefix() -> String {
    "hookgate:replay:".to_owned()
}
fn default_lease() -> u64 {
    30
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9092))
}
fn default_silence() -> u64 {
    DEFAULT_SILENCE_S
}
fn default_retry_min() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    60
}
fn default_batch() -> u32 {
    MAX_BATCH
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"

[salesforce]
login_url = "http://127.0.0.1:1"
instance_url = "http://127.0.0.1:1"
auth = "client_credentials"
organization_id = "00D000000000001"
consumer_key = { env = "PATH" }
client_secret = { env = "PATH" }
"#;

    fn load(extra: &str) -> Result<SubscribeConfig, Error> {
        SubscribeConfig::from_toml(Path::new("t.toml"), &format!("{BASE}{extra}"))
    }

    #[test]
    fn a_subscription_gets_its_defaults() {
        let c = load(
            "[[salesforce.subscriptions]]\nname = \"orders\"\ntopic = \"/event/Order_Placed__e\"\n",
        )
        .unwrap();
        let s = &c.subscriptions[0];
        assert_eq!(
            (s.batch, s.replay_preset, s.org),
            (100, ReplayPreset::Latest, 0)
        );
        assert_eq!(c.pubsub.path, PathBuf::from("data/replay.redb"));
        assert_eq!(
            c.org(s).section.pubsub_url,
            "https://api.pubsub.salesforce.com:7443"
        );
    }

    #[test]
    fn bad_entries_name_their_key() {
        for (extra, key) in [
            ("", "salesforce.subscriptions"),
            ("[[salesforce.subscriptions]]\nname = \"a.b\"\ntopic = \"/event/X__e\"\n", "salesforce.subscriptions[0].name"),
            ("[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"Account\"\n", "salesforce.subscriptions[0].topic"),
            ("[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"/data/ChangeEvents\"\nbatch = 101\n", "salesforce.subscriptions[0].batch"),
            ("[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"/data/ChangeEvents\"\norg = \"nope\"\n", "salesforce.subscriptions[0].org"),
            ("[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"/data/ChangeEvents\"\n[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"/event/X__e\"\n", "salesforce.subscriptions[1].name"),
            ("[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"/data/ChangeEvents\"\n[pubsub]\nstore = \"redis\"\n", "pubsub.redis_url"),
        ] {
            match load(extra) {
                Err(Error::Invalid { key: k, .. }) => assert_eq!(k, key, "{extra}"),
                other => panic!("{extra}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_worker_reads_the_same_file() {
        let text = format!(
            "{BASE}[worker]\nqueues = [\"q\"]\n[[worker.actions]]\nmatch = \"x.#\"\nkind = \"salesforce_update\"\nfields = {{ A__c = \"x\" }}\n[pubsub]\npath = \"x.redb\"\n[[salesforce.subscriptions]]\nname = \"a\"\ntopic = \"/data/ChangeEvents\"\n"
        );
        let w = crate::config::worker::WorkerConfig::from_toml(Path::new("t.toml"), &text);
        assert!(w.is_ok(), "{w:?}");
    }
}
