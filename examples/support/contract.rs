//! The message the benchmark publishers send: hookgate's webhook message
//! (src/envelope.rs `build`, src/broker/publish.rs `carried`) or a part of
//! it, for the message-contract A/B of issue #20 (docs/performance.md,
//! "The message contract's cost to the broker"). Shared by
//! `examples/confirm_ceiling.rs` and `examples/proto_gateway.rs` through
//! `#[path]`.
//!
//! With no flag set, a message is what hookgate publishes for a GitHub
//! delivery: persistent, `mandatory`, to a durable topic exchange, with
//! `content_type`, `message_id`, `timestamp`, `type`, `app_id` and the nine
//! headers (`x-hookgate-route`, `x-hookgate-received-at`,
//! `x-hookgate-idempotency-key` (route, delivery id and the body's SHA-256 in
//! hex), the five `cloudEvents:*` binary-mode attributes and `traceparent`),
//! every header value an AMQP long string.

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use lapin::options::ExchangeDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};

/// Every header hookgate puts on a webhook message, in its order.
pub const HEADERS: [&str; 9] = [
    "x-hookgate-route",
    "x-hookgate-received-at",
    "x-hookgate-idempotency-key",
    "cloudEvents:specversion",
    "cloudEvents:id",
    "cloudEvents:source",
    "cloudEvents:type",
    "cloudEvents:time",
    "traceparent",
];

/// Where messages go.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
pub enum ExchangeKind {
    /// A durable topic exchange (hookgate's).
    Topic,
    /// A durable direct exchange, each queue bound with its routing key.
    Direct,
    /// The default exchange: the routing key is the queue's name.
    Default,
}

/// Declares the durable exchange `name` of `kind` (nothing for the default
/// exchange).
pub async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind) -> anyhow::Result<()> {
    let kind = match kind {
        ExchangeKind::Default => return Ok(()),
        ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
    };
    ch.exchange_declare(
        ShortString::from(name),
        kind,
        ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .with_context(|| format!("declaring the exchange {name}"))
}

/// Which parts of hookgate's message to send (default: all of it).
#[derive(Args, Clone, Debug)]
pub struct ContractArgs {
    /// Exchange type the messages are published to.
    #[arg(long, value_enum, default_value_t = ExchangeKind::Topic)]
    pub exchange_kind: ExchangeKind,
    /// Publish without the `mandatory` flag.
    #[arg(long)]
    pub no_mandatory: bool,
    /// Only `delivery_mode` 2: no content_type, message_id, timestamp, type, app_id.
    #[arg(long)]
    pub no_properties: bool,
    /// Leave out this header (repeatable); `cloudevents` = the five
    /// `cloudEvents:*`, `dup` = the three that repeat a property
    /// (`cloudEvents:id`, `:type`, `:time`), `all` = every header.
    #[arg(long = "drop-header")]
    pub drop: Vec<String>,
    /// Leave out this property (repeatable): `content_type`, `message_id`,
    /// `timestamp`, `type` or `app_id`.
    #[arg(long = "drop-property")]
    pub drop_properties: Vec<String>,
    /// `x-hookgate-received-at` and `cloudEvents:time` as AMQP timestamps
    /// (seconds) instead of RFC 3339 strings.
    #[arg(long)]
    pub typed_time: bool,
}

impl ContractArgs {
    /// Whether header `name` is sent.
    fn keeps(&self, name: &str) -> bool {
        !self.drop.iter().any(|d| {
            d == name
                || d == "all"
                || (d == "cloudevents" && name.starts_with("cloudEvents:"))
                || (d == "dup"
                    && matches!(
                        name,
                        "cloudEvents:id" | "cloudEvents:type" | "cloudEvents:time"
                    ))
        })
    }

    /// Whether the message carries the idempotency key (the only part that
    /// needs the body's SHA-256).
    pub fn needs_body_hash(&self) -> bool {
        self.keeps("x-hookgate-idempotency-key")
    }

    /// The `mandatory` flag of each publish.
    pub fn mandatory(&self) -> bool {
        !self.no_mandatory
    }

    /// The properties (with the header table) of the message with delivery
    /// id `id` and routing key `key`, received at `now`, whose body's
    /// SHA-256 is `body_sha256` (hex).
    pub fn properties(
        &self,
        id: &str,
        key: &str,
        now: time::OffsetDateTime,
        body_sha256: &str,
    ) -> BasicProperties {
        let props = BasicProperties::default().with_delivery_mode(2);
        let keep = |p: &str| !self.no_properties && !self.drop_properties.iter().any(|d| d == p);
        let mut props = props;
        if keep("content_type") {
            props = props.with_content_type(ShortString::from("application/json"));
        }
        if keep("message_id") {
            props = props.with_message_id(ShortString::from(id));
        }
        if keep("timestamp") {
            props = props.with_timestamp(now.unix_timestamp().max(0) as u64);
        }
        if keep("type") {
            props = props.with_type(ShortString::from(key));
        }
        if keep("app_id") {
            props = props.with_app_id(ShortString::from("hookgate"));
        }
        let mut headers = FieldTable::default();
        let ts = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        for name in HEADERS {
            if !self.keeps(name) {
                continue;
            }
            let value = match name {
                "x-hookgate-received-at" | "cloudEvents:time" if self.typed_time => {
                    AMQPValue::Timestamp(now.unix_timestamp().max(0) as u64)
                }
                "x-hookgate-route" => long("github"),
                "x-hookgate-received-at" | "cloudEvents:time" => long(&ts),
                "x-hookgate-idempotency-key" => long(&format!("github|{id}|{body_sha256}")),
                "cloudEvents:specversion" => long("1.0"),
                "cloudEvents:id" => long(id),
                "cloudEvents:source" => long("/hooks/github"),
                "cloudEvents:type" => long(key),
                // A W3C trace context of hookgate's shape (version, trace id,
                // span id, flags).
                _ => long("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            };
            headers.insert(ShortString::from(name), value);
        }
        if headers.inner().is_empty() {
            props
        } else {
            props.with_headers(headers)
        }
    }
}

/// The hex SHA-256 of `body`, as the idempotency key carries it.
pub fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body))
}

fn long(v: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(v))
}
