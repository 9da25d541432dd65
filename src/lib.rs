//! hookgate: a hardened TLS edge gateway for Salesforce Outbound Messages and
//! signed webhooks. A 2xx (or SOAP `Ack`) is sent only after RabbitMQ
//! confirmed every message of the request.
//!
//! Map of the modules:
//! - [`config`]: the TOML file, validated; secrets resolved at load.
//! - [`tls`]: rustls server config (TLS 1.2/1.3, ALPN h2 + http/1.1).
//! - [`server`]: accept loop, layers, the request flow, status mapping.
//! - [`verify`]: signature schemes (GitHub, Stripe, Slack, Shopify, Standard
//!   Webhooks, generic HMAC); only it makes a [`verify::Verified`].
//! - [`salesforce`]: Outbound Message parsing and SOAP replies; record ids.
//! - [`envelope`]: the AMQP message contract (routing key, properties, headers).
//! - [`broker`]: RabbitMQ: the one connection manager (connect, topology,
//!   backoff, blocked) and the one publisher-confirm wait (leased channels,
//!   per-message outcomes), for the gateway, the forwarder and the worker.
//! - [`outbox`]: confirm fast path with the spool as fallback;
//!   [`outbox::spool`] is the durable local outbox (redb), its forwarder and
//!   quarantine.
//! - [`store`]: redb helpers of the spool, the replay cache and the worker's idempotency store (open,
//!   reopen after an I/O error).
//! - [`telemetry`]: logs, the metrics registry, trace context (W3C
//!   `traceparent`, spans, the optional OTLP export), the admin listener
//!   (`/healthz`, `/readyz`, `/metrics`, the operations page `/`) of the
//!   gateway and the worker; a leaf: it imports no other module, the others
//!   report into it.
//! - [`gateway`]: start-up, reload and shutdown of the whole gateway.
//! - [`dedupe`]: the edge replay cache (embedded redb or Redis).
//! - [`secret`]: zeroized, redacted secret bytes.
//! - [`pubsub`]: Salesforce Pub/Sub API events: Avro payloads to JSON,
//!   change-event bitmaps to field names (pure).
//! - [`worker`]: `hookgate worker`: consumes the queues, calls Salesforce's
//!   REST API, retries and dead-letters.
//!
//! No `unsafe` here: the one system call that needs it (`prctl`, turning
//! transparent huge pages off) and the global allocator live in the binary.

#![forbid(unsafe_code)]
// No function of the product over 80 lines (clippy.toml sets the threshold;
// tests are exempt).
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

mod backoff;
pub mod broker;
pub mod config;
pub mod dedupe;
pub mod envelope;
pub mod gateway;
pub mod outbox;
pub mod pubsub;
pub mod salesforce;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod verify;
pub mod worker;

#[cfg(test)]
mod tests {
    /// The library holds no `unsafe` code; the one system call that needs it
    /// (`prctl`) lives in the binary. The attribute makes the compiler refuse
    /// any other; this keeps the attribute from being dropped.
    #[test]
    fn library_forbids_unsafe_code() {
        let lib = include_str!("lib.rs");
        assert!(
            lib.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]"),
            "src/lib.rs must start with #![forbid(unsafe_code)]"
        );
    }
}
