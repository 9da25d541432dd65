//! Publishing to RabbitMQ with publisher confirms.
//!
//! [`Publisher`] keeps one AMQP connection (reconnecting by itself with
//! jittered exponential backoff) and a small pool of channels in confirm mode.
//! [`Publisher::publish`] pipelines: it sends every message of a request, then
//! awaits all their confirms together under one deadline; many requests share
//! each channel concurrently, with no lock held across the wait. Success means
//! the broker confirmed (acked) every message and returned none: persistent
//! messages on durable queues are then on disk (RabbitMQ's confirm semantics).

mod amqp;

pub use amqp::{exchange_arguments, Publisher, Status};

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
