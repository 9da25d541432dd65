//! The gateway's topology, declared on every (re)connection: the durable
//! topic exchange with its alternate exchange and `unroutable` queue
//! (docs/reliability.md, "Unroutable messages"), and the `[[amqp.queues]]`
//! with their bindings.

use futures_util::future::BoxFuture;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection};

use super::Observe;
use crate::config::{AmqpConfig, QueueType};

/// What every (re)connection declares before it is handed out.
pub(crate) trait Topology: Send + Sync + 'static {
    /// Declares exchanges, queues and bindings on `connection`.
    fn declare<'a>(
        &'a self,
        connection: &'a Connection,
        config: &'a AmqpConfig,
    ) -> BoxFuture<'a, Result<Declared, lapin::Error>>;
}

/// Declares nothing (the `dlq` commands use what the worker declared).
impl Topology for () {
    fn declare<'a>(
        &'a self,
        _: &'a Connection,
        _: &'a AmqpConfig,
    ) -> BoxFuture<'a, Result<Declared, lapin::Error>> {
        Box::pin(async { Ok(Declared::default()) })
    }
}

/// What a [`Topology`] declared that the connection's users need.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declared {
    /// The queue behind the exchange's alternate exchange, when the exchange
    /// has one: unroutable messages are kept there (not returned), and its
    /// depth is read every second.
    pub(crate) unroutable: Option<String>,
}

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
    if let Some(unroutable) = config.unroutable() {
        declare_unroutable(&setup, unroutable.as_str()).await?;
    }
    let (setup, alternate) = declare_topic(connection, setup, config).await?;
    declare_queues(&setup, config).await?;
    let _ = setup.close(200, ShortString::from("setup done")).await;
    Ok(alternate)
}

/// Exchanges are durable: they survive a broker restart like the queues.
fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

/// The alternate exchange (fanout) and its queue of the same name, bound:
/// declared before the topic exchange that names it, so no message is
/// dropped between the two.
async fn declare_unroutable(setup: &Channel, unroutable: &str) -> Result<(), lapin::Error> {
    setup
        .exchange_declare(
            ShortString::from(unroutable),
            lapin::ExchangeKind::Fanout,
            durable_exchange(),
            FieldTable::default(),
        )
        .await?;
    setup
        .queue_declare(
            ShortString::from(unroutable),
            durable_queue(),
            queue_arguments(QueueType::default()),
        )
        .await?;
    setup
        .queue_bind(
            ShortString::from(unroutable),
            ShortString::from(unroutable),
            ShortString::from(""),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// The topic exchange with its arguments. When it exists with other ones
/// (a precondition failure, which closes `setup`), only checks that it
/// exists, on a new channel, and runs without the alternate exchange.
/// Returns the channel to go on with and whether the alternate exchange is
/// in place.
async fn declare_topic(
    connection: &Connection,
    setup: Channel,
    config: &AmqpConfig,
) -> Result<(Channel, bool), lapin::Error> {
    let exchange = ShortString::from(config.exchange.as_str());
    let declared = setup
        .exchange_declare(
            exchange.clone(),
            lapin::ExchangeKind::Topic,
            durable_exchange(),
            exchange_arguments(config),
        )
        .await;
    match declared {
        Ok(()) => Ok((setup, config.unroutable().is_some())),
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
                        ..durable_exchange()
                    },
                    FieldTable::default(),
                )
                .await?;
            Ok((setup, false))
        }
        Err(e) => Err(e),
    }
}

/// The `[[amqp.queues]]`, each bound to the exchange with its keys.
async fn declare_queues(setup: &Channel, config: &AmqpConfig) -> Result<(), lapin::Error> {
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
    Ok(())
}

/// RabbitMQ's 406 PRECONDITION_FAILED (a redeclaration with other
/// arguments).
fn is_precondition_failed(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 406
    )
}

/// Reads the unroutable queue's depth into `hookgate_unroutable_messages`
/// (a passive declare on a channel of `connection` of its own, reopened
/// when closed), when the topology `declared` one.
pub(super) async fn probe_unroutable(
    observer: &dyn Observe,
    connection: &Connection,
    declared: &Declared,
    probe: &mut Option<Channel>,
) {
    let Some(queue) = declared.unroutable.as_deref() else {
        return;
    };
    if !probe.as_ref().is_some_and(|c| c.status().connected()) {
        *probe = connection.create_channel().await.ok();
    }
    let Some(channel) = probe.as_ref() else {
        return;
    };
    let declared = channel
        .queue_declare(
            ShortString::from(queue),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    if let Ok(q) = declared {
        observer.unroutable(q.message_count());
    }
}
