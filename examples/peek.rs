//! Prints the first messages of a queue without consuming them (they are
//! requeued), to check what hookgate published.
//!
//! `cargo run --example peek -- [QUEUE] [COUNT]` (default `hookgate.events`, 10);
//! the broker URL comes from `HOOKGATE_AMQP_URL` (default the local broker).

use lapin::options::{BasicGetOptions, BasicNackOptions};
use lapin::types::ShortString;
use lapin::{Connection, ConnectionProperties};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let queue = args.next().unwrap_or_else(|| "hookgate.events".into());
    let count: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10);
    let url = std::env::var("HOOKGATE_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let mut held = Vec::new();
    for _ in 0..count {
        let Some(m) = ch
            .basic_get(
                ShortString::from(queue.as_str()),
                BasicGetOptions { no_ack: false },
            )
            .await?
        else {
            break;
        };
        let p = &m.delivery.properties;
        println!(
            "{:<28} message_id={:<40} delivery_mode={:?} content_type={:?} bytes={}",
            m.delivery.routing_key.as_str(),
            p.message_id().as_ref().map(|s| s.as_str()).unwrap_or("-"),
            p.delivery_mode().unwrap_or(0),
            p.content_type().as_ref().map(|s| s.as_str()).unwrap_or("-"),
            m.delivery.data.len()
        );
        held.push(m);
    }
    for m in held {
        m.delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await?;
    }
    conn.close(200, ShortString::from("peek done")).await?;
    Ok(())
}
