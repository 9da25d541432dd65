//! Draining the spool to RabbitMQ: oldest first, confirm, then delete.

use std::time::Duration;

use tokio::sync::watch;

use super::{Error, Spool};
use crate::publish::{Publisher, Status};

/// Entries published per round (all confirmed before any is deleted).
pub const BATCH: usize = 256;
/// Pause after a failed round.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Runs until `shutdown` turns true: whenever the spool holds entries and the
/// broker connection is up, publishes the oldest [`BATCH`] with confirms and
/// deletes them once confirmed.
pub async fn forward(spool: Spool, publisher: Publisher, mut shutdown: watch::Receiver<bool>) {
    let mut broker = publisher.watch_status();
    loop {
        if *shutdown.borrow() {
            return;
        }
        if spool.status().messages == 0 {
            tokio::select! {
                _ = spool.wait_written(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        if publisher.status() != Status::Connected {
            tokio::select! {
                _ = broker.changed() => {}
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        match round(&spool, &publisher).await {
            Ok(n) => {
                if n > 0 {
                    tracing::debug!(forwarded = n, "spool entries confirmed and removed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "spool forwarding failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_PAUSE) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// Why a forwarding round stopped.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// Reading or deleting failed.
    #[error(transparent)]
    Spool(#[from] Error),
    /// The broker did not confirm.
    #[error(transparent)]
    Publish(#[from] crate::publish::Error),
}

/// One round: publish up to [`BATCH`] oldest entries, delete on confirm.
/// Returns how many were forwarded.
///
/// # Errors
/// [`RoundError`]; nothing is deleted unless every message of the round was
/// confirmed.
pub async fn round(spool: &Spool, publisher: &Publisher) -> Result<usize, RoundError> {
    let batch = spool.oldest(BATCH).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let mut keys = Vec::with_capacity(batch.len());
    let mut bytes = 0u64;
    let mut messages = Vec::with_capacity(batch.len());
    for (k, size, m) in batch {
        keys.push(k);
        bytes += size;
        messages.push(m);
    }
    publisher.publish(&messages).await?;
    let n = keys.len();
    spool.remove(keys, bytes).await?;
    Ok(n)
}

/// Drains the whole spool once (for `hookgate spool drain`): waits up to
/// `connect_timeout` for the broker, then forwards rounds until empty.
/// Returns the number of entries forwarded.
///
/// # Errors
/// [`RoundError`] on the first failed round; a broker that does not come up
/// in time is [`crate::publish::Error::NotConnected`].
pub async fn drain_once(
    spool: &Spool,
    publisher: &Publisher,
    connect_timeout: Duration,
) -> Result<u64, RoundError> {
    let mut rx = publisher.watch_status();
    if tokio::time::timeout(connect_timeout, rx.wait_for(|s| *s == Status::Connected))
        .await
        .is_err()
    {
        return Err(crate::publish::Error::NotConnected.into());
    }
    let mut total = 0u64;
    loop {
        let n = round(spool, publisher).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}
