//! `hookgate dlq list|replay|purge --config PATH`: the worker's dead-letter
//! queue.

use anyhow::Context as _;
use hookgate::config::worker::WorkerConfig;

use super::DlqCommand;

/// Runs one `dlq` command and prints its result.
pub(crate) async fn run(config: WorkerConfig, command: DlqCommand) -> anyhow::Result<()> {
    use hookgate::worker::dlq;
    let q = config.worker.dead_letter_queue.clone();
    match command {
        DlqCommand::List { limit, .. } => {
            let l = dlq::list(&config, limit)
                .await
                .context("listing the dead-letter queue")?;
            println!("{q}: {} messages looked at", l.total);
            for ((reason, queue), n) in &l.by_reason {
                println!("  {n:>8}  {reason:<40} from {queue}");
            }
        }
        DlqCommand::Replay { limit, .. } => {
            let n = dlq::replay(&config, limit, true)
                .await
                .context("replaying the dead-letter queue")?;
            println!("replayed {n} messages from {q} to their work queues");
        }
        DlqCommand::Purge { .. } => {
            let n = dlq::purge(&config)
                .await
                .context("purging the dead-letter queue")?;
            println!("purged {n} messages from {q}");
        }
    }
    Ok(())
}
