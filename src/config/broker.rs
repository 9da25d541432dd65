//! `[amqp]`: the broker connection and topology, read by the gateway and the
//! worker alike.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{positive, Error};
use crate::secret::redact_url;

/// Environment variable that overrides `[amqp] url` (and replaces a
/// `urls` list with its one URL).
pub const AMQP_URL_ENV: &str = "HOOKGATE_AMQP_URL";
/// Most channels `amqp.max_channels` may ask for (RabbitMQ's default
/// `channel_max` is 2047 per connection).
pub const MAX_AMQP_CHANNELS: usize = 2047;

/// `[amqp]`. `Debug` shows the URL without its password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// AMQP 0-9-1 URI of the one broker node; the `HOOKGATE_AMQP_URL`
    /// environment variable overrides it. The one-element shorthand of
    /// `urls`: exactly one of them is set (empty: not set).
    #[serde(default)]
    pub url: String,
    /// AMQP 0-9-1 URIs of the nodes of a RabbitMQ cluster: the connection
    /// goes to any reachable one and moves to the next on loss
    /// (`broker::connect`). Exactly one of `url` and `urls` is set.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Durable topic exchange every message is published to; declared at start.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// How long to wait for a publisher confirm, in ms, before answering 503.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// Publishing groups at once, each on a confirm-mode channel of its own
    /// (opened at connect): the requests that arrive while all groups are
    /// out wait and publish together as the next group, pipelined on one
    /// channel.
    #[serde(default = "default_channels")]
    pub(crate) channels: usize,
    /// Most channels open for publishing at once. Each publishing group
    /// leases one channel for its publishes and confirms, so a
    /// `basic.return` is always matched within the group to the message
    /// that caused it; a group whose deadline passed keeps its channel while
    /// it awaits the late confirms (up to `confirm_timeout_ms`), so beyond
    /// the `channels` in use, this bounds the channels held by a stalled
    /// broker. A group waits for a free channel within its deadline.
    #[serde(default = "default_max_channels")]
    pub(crate) max_channels: usize,
    /// Durable queue that catches every message no binding routes: the
    /// exchange is declared with an `alternate-exchange` (a fanout exchange of
    /// the same name) bound to it. Default `<exchange>.unroutable`; `""`
    /// declares no alternate exchange (unroutable messages are then refused
    /// with 503).
    #[serde(default)]
    pub(crate) unroutable_queue: Option<String>,
    /// AMQP heartbeat in seconds.
    #[serde(default = "default_heartbeat_s")]
    pub(crate) heartbeat_s: u16,
    /// Durable queues declared and bound to the exchange at start.
    #[serde(default)]
    pub(crate) queues: Vec<QueueConfig>,
    /// Whether messages carry the CloudEvents binary-mode `cloudEvents:*`
    /// headers (the gateway's and `hookgate subscribe`'s; read at start, like
    /// every `[amqp]` key).
    #[serde(default, deserialize_with = "cloudevents")]
    pub(crate) cloudevents: CloudEvents,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let AmqpConfig {
            url,
            urls,
            exchange,
            confirm_timeout_ms,
            channels,
            max_channels,
            unroutable_queue,
            heartbeat_s,
            queues,
            cloudevents,
        } = self;
        f.debug_struct("AmqpConfig")
            .field("url", &redact_url(url))
            .field(
                "urls",
                &urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>(),
            )
            .field("exchange", exchange)
            .field("confirm_timeout_ms", confirm_timeout_ms)
            .field("channels", channels)
            .field("max_channels", max_channels)
            .field("unroutable_queue", unroutable_queue)
            .field("heartbeat_s", heartbeat_s)
            .field("queues", queues)
            .field("cloudevents", cloudevents)
            .finish()
    }
}

/// `[[amqp.queues]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue name.
    pub(crate) name: String,
    /// Binding keys (topic syntax: `*` one word, `#` zero or more).
    #[serde(default = "default_bindings")]
    pub(crate) bindings: Vec<String>,
    /// `quorum` (replicated, the safe default) or `classic`.
    #[serde(default, rename = "type")]
    pub(crate) kind: QueueType,
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

/// `amqp.cloudevents`: the CloudEvents AMQP binding's binary-mode
/// attributes on every published message, or none. Three of the five repeat
/// AMQP properties or `x-hookgate-*` headers, and each header-table entry
/// costs the broker throughput (issue #20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudEvents {
    /// `cloudEvents:specversion`, `id`, `source`, `type` and `time` headers:
    /// the messages are binary-mode CloudEvents.
    #[default]
    Binary,
    /// None of the five: the messages are not CloudEvents (their `message_id`,
    /// `type`, `x-hookgate-received-at` and `x-hookgate-route` still carry
    /// the same values).
    Off,
}

// === impl AmqpConfig ===

impl AmqpConfig {
    /// The queue (and fanout alternate exchange) catching unroutable
    /// messages, `None` when disabled (`unroutable_queue = ""`).
    pub(crate) fn unroutable(&self) -> Option<String> {
        match self.unroutable_queue.as_deref() {
            None => Some(format!("{}.unroutable", self.exchange)),
            Some("") => None,
            Some(q) => Some(q.to_owned()),
        }
    }

    /// The broker nodes' URIs, in configured order: `urls`, or `url` alone.
    pub(crate) fn nodes(&self) -> Vec<&str> {
        if self.urls.is_empty() {
            vec![self.url.as_str()]
        } else {
            self.urls.iter().map(String::as_str).collect()
        }
    }

    /// Applies the [`AMQP_URL_ENV`] override (one URL, replacing a `urls`
    /// list), then checks the URLs: all the worker checks of `[amqp]`, and
    /// the gateway's first.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `amqp.url` or `amqp.urls[i]`, without quoting
    /// it; or when neither or both of them are set.
    pub(crate) fn resolve_url(&mut self, file: &Path) -> Result<(), Error> {
        if let Ok(url) = std::env::var(AMQP_URL_ENV) {
            self.url = url;
            self.urls.clear();
        }
        match (self.url.is_empty(), self.urls.is_empty()) {
            (true, true) => {
                return Err(Error::invalid(
                    file,
                    "amqp.url",
                    "set amqp.url or amqp.urls (the broker's address)",
                ))
            }
            (false, false) => {
                return Err(Error::invalid(
                    file,
                    "amqp.urls",
                    "set amqp.url or amqp.urls, not both",
                ))
            }
            (false, true) => {
                if let Some(reason) = amqp_url_problem(&self.url) {
                    return Err(Error::invalid(file, "amqp.url", reason));
                }
            }
            (true, false) => {
                for (i, url) in self.urls.iter().enumerate() {
                    if let Some(reason) = amqp_url_problem(url) {
                        return Err(Error::invalid(file, format!("amqp.urls[{i}]"), reason));
                    }
                }
            }
        }
        Ok(())
    }

    /// The gateway's checks: the URL ([`resolve_url`](Self::resolve_url)),
    /// the exchange, channel counts and queue names.
    ///
    /// # Errors
    /// [`Error::Invalid`] with the key of the first problem.
    pub(super) fn validate(&mut self, file: &Path) -> Result<(), Error> {
        self.resolve_url(file)?;
        if self.exchange.is_empty() {
            return Err(Error::invalid(
                file,
                "amqp.exchange",
                "must not be empty (the default exchange cannot be bound)",
            ));
        }
        positive(file, "amqp.confirm_timeout_ms", self.confirm_timeout_ms)?;
        positive(file, "amqp.channels", self.channels as u64)?;
        if self.max_channels < self.channels || self.max_channels > MAX_AMQP_CHANNELS {
            return Err(Error::invalid(
                file,
                "amqp.max_channels",
                format!("must be between amqp.channels and {MAX_AMQP_CHANNELS}"),
            ));
        }
        if let Some(q) = self.unroutable_queue.as_deref() {
            if q.starts_with("amq.") || q.len() > 255 {
                return Err(Error::invalid(
                    file,
                    "amqp.unroutable_queue",
                    "must not start with amq. and be at most 255 bytes",
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            if q.name.is_empty() || q.name.starts_with("amq.") {
                return Err(Error::invalid(
                    file,
                    format!("amqp.queues[{i}].name"),
                    "must be non-empty and not start with amq.",
                ));
            }
            if !names.insert(q.name.as_str()) {
                return Err(Error::invalid(
                    file,
                    format!("amqp.queues[{i}].name"),
                    format!("duplicate queue {:?}", q.name),
                ));
            }
        }
        Ok(())
    }
}

/// Why `url` is not a usable AMQP URI, in words that never quote it: the
/// URI may hold a password, and amq-protocol-uri's own messages can repeat
/// the whole URL (`Invalid URL: '<url>'`). `None` when it parses.
fn amqp_url_problem(url: &str) -> Option<String> {
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

/// [`CloudEvents`], with the key in the error: toml's message shows the
/// line, not the section it is in.
fn cloudevents<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CloudEvents, D::Error> {
    CloudEvents::deserialize(d)
        .map_err(|e| serde::de::Error::custom(format_args!("amqp.cloudevents: {e}")))
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
fn default_bindings() -> Vec<String> {
    vec!["#".into()]
}
