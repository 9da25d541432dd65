//! RabbitMQ: the one connection manager and the one publisher-confirm wait.
//!
//! - `connect`: opens the AMQP connection (URI, heartbeat, connection
//!   name), declares a `Topology` on it, keeps it up
//!   (jittered exponential backoff from `crate::backoff`), follows
//!   `connection.blocked` and reports a [`Status`]. The gateway declares its
//!   exchange, alternate exchange and queues; the worker its work, retry and
//!   dead-letter queues.
//! - `publish`: [`Publisher`], publishing with publisher confirms, with
//!   one outcome per message (`basic.return` matched to its message). Used by the
//!   gateway's requests, the spool forwarder, the worker's retry and
//!   dead-letter publishes and `dlq replay`.
//! - `group`: the requests queued together publish as one group on a
//!   channel leased from the connection's `pool` (at most `amqp.channels`
//!   groups at once); returns are matched across the group.
//! - `nodes`: which node of `amqp.urls` the connection tries next
//!   (round-robin from a random start), and the nack streak that moves a
//!   connection to the next node.
//! - `confirms`: which of a group's requests can be answered, as soon as the
//!   confirms up to its last message are in.
//! - `topology`: what the gateway declares (exchange, alternate exchange,
//!   queues).
//!
//! The rule: nothing else in the crate calls `lapin::Connection::connect*`,
//! puts a channel in confirm mode or awaits a `PublisherConfirm`. Consumers
//! (the worker, the `dlq` commands) open their own channels on a connection
//! from here, and publish through [`Publisher`].

mod confirms;
pub(crate) mod connect;
mod group;
mod nodes;
mod pool;
pub(crate) mod publish;
mod topology;

use std::time::Duration;

pub use connect::ConnectError;
pub(crate) use pool::close_channel;
pub use publish::Publisher;
pub use topology::exchange_arguments;
pub(crate) use topology::Exchange;

/// Broker connection state, as `/readyz` and the metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Connected, topology declared, channels in confirm mode.
    Connected,
    /// Connected but the broker sent connection.blocked.
    Blocked,
    /// Not connected (starting, reconnecting, or broker away).
    Disconnected,
}

/// Why a publish did not end in a confirm. Every variant is answered 503 +
/// Retry-After (or a `soapenv:Server` fault): the sender retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No broker connection right now (down, reconnecting, or not yet up).
    #[error("no broker connection")]
    NotConnected,
    /// The broker sent connection.blocked (memory or disk alarm).
    #[error("broker connection is blocked")]
    Blocked,
    /// No confirm within `confirm_timeout_ms`.
    #[error("no publisher confirm within the deadline")]
    Timeout,
    /// The broker nacked a message.
    #[error("broker nacked the message")]
    Nack,
    /// A mandatory message could not be routed to any queue (basic.return).
    #[error("message returned unroutable ({0})")]
    Returned(String),
    /// A value of the message does not fit its AMQP field (a short string
    /// holds 255 bytes); names the field.
    #[error("{0} does not fit an AMQP short string")]
    Uncarriable(&'static str),
    /// The channel or connection failed during the publish.
    #[error("AMQP channel error")]
    Channel(#[source] lapin::Error),
}

impl Error {
    /// Metric label for `publish_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotConnected => "not_connected",
            Error::Blocked => "blocked",
            Error::Timeout => "timeout",
            Error::Nack => "nack",
            Error::Returned(_) => "returned",
            Error::Uncarriable(_) => "uncarriable",
            Error::Channel(_) => "channel",
        }
    }
}

/// Where the broker module reports what it does. The gateway's metrics
/// implement it at start-up (`app`: `broker_*`, `publish_*`,
/// `confirm_latency_*`, `unroutable_messages`); `()` reports nothing (the
/// worker, whose `amqp_connected` follows its consumer). Kept as a trait so
/// that neither this module nor `telemetry` imports the other.
pub trait Observe: Send + Sync + 'static {
    /// A connection was made and its topology declared.
    fn connected(&self) {}
    /// The connection's state is now `status`.
    fn status(&self, status: Status) {
        let _ = status;
    }
    /// `n` messages were confirmed.
    fn confirmed(&self, n: u64) {
        let _ = n;
    }
    /// Every message of one publish was confirmed, `latency` after its start.
    fn confirm_latency(&self, latency: Duration) {
        let _ = latency;
    }
    /// A publish had a failure ([`Error::reason`] of its first one).
    fn failed(&self, reason: &'static str) {
        let _ = reason;
    }
    /// Leased publishing channels went up (1) or down (-1).
    fn leased(&self, delta: i64) {
        let _ = delta;
    }
    /// The unroutable queue holds `depth` messages.
    fn unroutable(&self, depth: u32) {
        let _ = depth;
    }
}

/// Reports nothing.
impl Observe for () {}
