//! The gateway's topology, declared on every (re)connection: the durable
//! topic exchange with its alternate exchange and `unroutable` queue
//! (docs/reliability.md, "Unroutable messages"), and the `[[amqp.queues]]`
//! with their bindings.

use futures_util::future::BoxFuture;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::Connection;

use super::connect::{Declared, Topology};
use crate::config::{AmqpConfig, QueueType};

/// The gateway's topology: the durable topic exchange (with its alternate
/// exchange and `unroutable` queue) and the `[[amqp.queues]]` with their
/// bindings.
pub(crate) struct Exchange;

impl Topology for Exchange {
    fn declare<'a>(
        &'a self,
        connection: &'a Connection,
        config: &'a AmqpConfig,
    ) -> BoxFuture<'a, Result<Declared, lapin::Error>> {
        Box::pin(async move {
            let alternate = declare_exchange(connection, config).await?;
            Ok(Declared {
                unroutable: config.unroutable().filter(|_| alternate),
            })
        })
    }
}

/// The exchange's arguments: `alternate-exchange` when an unroutable queue
/// is configured. Whoever else declares the exchange (a consumer, a test)
/// must pass the same arguments, or RabbitMQ refuses the declaration.
pub fn exchange_arguments(config: &AmqpConfig) -> FieldTable {
    let mut args = FieldTable::default();
    if let Some(unroutable) = config.unroutable() {
        args.insert(
            ShortString::from("alternate-exchange"),
            AMQPValue::LongString(LongString::from(unroutable.as_str())),
        );
    }
    args
}

fn queue_arguments(kind: QueueType) -> FieldTable {
    let mut args = FieldTable::default();
    let kind = match kind {
        QueueType::Quorum => "quorum",
        QueueType::Classic => "classic",
    };
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from(kind)),
    );
    args
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the alternate exchange and its queue, the topic exchange, the
/// configured queues and their bindings. Returns whether the exchange has
/// the alternate exchange: an exchange that already exists with other
/// arguments (made before hookgate declared one) keeps them, with an error
/// logged that says how to add it (a policy), and unroutable messages are
/// then refused (503) instead of kept.
async fn declare_exchange(
    connection: &Connection,
    config: &AmqpConfig,
) -> Result<bool, lapin::Error> {
    let setup = connection.create_channel().await?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    if let Some(unroutable) = config.unroutable() {
        setup
            .exchange_declare(
                ShortString::from(unroutable.as_str()),
                lapin::ExchangeKind::Fanout,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
        setup
            .queue_declare(
                ShortString::from(unroutable.as_str()),
                durable_queue(),
                queue_arguments(QueueType::default()),
            )
            .await?;
        setup
            .queue_bind(
                ShortString::from(unroutable.as_str()),
                ShortString::from(unroutable.as_str()),
                ShortString::from(""),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let exchange = ShortString::from(config.exchange.as_str());
    let declared = setup
        .exchange_declare(
            exchange.clone(),
            lapin::ExchangeKind::Topic,
            durable_exchange,
            exchange_arguments(config),
        )
        .await;
    let (setup, alternate) = match declared {
        Ok(()) => (setup, config.unroutable().is_some()),
        Err(e) if is_precondition_failed(&e) => {
            tracing::error!(
                exchange = %config.exchange,
                "the exchange exists with other arguments (no alternate-exchange): unroutable messages will be refused with 503; add a policy with \"alternate-exchange\" or delete the exchange"
            );
            // The refused declaration closed the channel: check the
            // exchange exists on a new one.
            let setup = connection.create_channel().await?;
            setup
                .exchange_declare(
                    exchange,
                    lapin::ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..durable_exchange
                    },
                    FieldTable::default(),
                )
                .await?;
            (setup, false)
        }
        Err(e) => return Err(e),
    };
    for q in &config.queues {
        setup
            .queue_declare(
                ShortString::from(q.name.as_str()),
                durable_queue(),
                queue_arguments(q.kind),
            )
            .await?;
        for b in &q.bindings {
            setup
                .queue_bind(
                    ShortString::from(q.name.as_str()),
                    ShortString::from(config.exchange.as_str()),
                    ShortString::from(b.as_str()),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    let _ = setup.close(200, ShortString::from("setup done")).await;
    Ok(alternate)
}

/// RabbitMQ's 406 PRECONDITION_FAILED (a redeclaration with other
/// arguments).
fn is_precondition_failed(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 406
    )
}
