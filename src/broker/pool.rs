//! The leased confirm channels of one connection (docs/reliability.md,
//! "Unroutable messages"): each publishing group (`super::group`) leases a
//! channel of its own, so every `basic.return` on it belongs to one of the
//! group's messages; a lease dropped with
//! confirms outstanding awaits them in the background, bounded, before its
//! channel is reused or closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::types::ShortString;
use lapin::{Channel, Connection, PublisherConfirm};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Error, Observe};
use crate::config::AmqpConfig;

/// A connection's publishing channels.
///
/// Channels are leased: a publishing group takes one channel for all its
/// publishes and confirms and gives it back when every confirm has
/// resolved. lapin attaches a `basic.return` to whichever confirm it
/// resolves next on the channel (and RabbitMQ coalesces confirms with
/// `multiple`), so on a shared channel a return could land on a confirm of
/// a publish that is awaited elsewhere; on a leased channel every return
/// belongs to the lease's own messages, and is matched to one of them by
/// `message_id` and routing key.
pub(crate) struct Pool {
    /// Channels in confirm mode, not leased now.
    idle: Mutex<Vec<Channel>>,
    /// How long a dropped lease's confirms are awaited in the background
    /// (`amqp.confirm_timeout_ms`) before its channel is closed.
    late_confirm_limit: Duration,
    /// One permit per channel that may be leased (`amqp.max_channels`).
    leases: Arc<Semaphore>,
}

impl Pool {
    /// Opens `amqp.channels` confirm channels on `connection`.
    pub(crate) async fn open(
        connection: &Connection,
        config: &AmqpConfig,
    ) -> Result<Pool, lapin::Error> {
        let mut idle = Vec::with_capacity(config.max_channels);
        for _ in 0..config.channels {
            idle.push(open_confirm_channel(connection).await?);
        }
        Ok(Pool {
            idle: Mutex::new(idle),
            leases: Arc::new(Semaphore::new(config.max_channels)),
            late_confirm_limit: Duration::from_millis(config.confirm_timeout_ms),
        })
    }
}

/// What holds a [`Pool`] and the connection its channels are on (the
/// connection manager's `Live`): a lease keeps it alive until the lease's
/// channel is back in the pool or closed.
pub(super) trait Owner: Send + Sync + 'static {
    /// The pool the lease's channel comes from and goes back to.
    fn pool(&self) -> &Pool;
    /// The connection a new channel is opened on.
    fn connection(&self) -> &Connection;
    /// One confirm of a message published on the connection resolved with
    /// `outcome` (nacks in a row close the connection: `super::nodes`).
    fn confirmed(&self, outcome: &Result<(), Error>) {
        let _ = outcome;
    }
}

impl Pool {
    /// Takes a channel of `owner`'s pool for one group, waiting for a free
    /// one until `deadline`; opens a new channel when none is idle.
    pub(super) async fn lease(
        owner: Arc<dyn Owner>,
        deadline: tokio::time::Instant,
        observer: &Arc<dyn Observe>,
    ) -> Result<Lease, Error> {
        let pool = owner.pool();
        let permit = tokio::time::timeout_at(deadline, pool.leases.clone().acquire_owned())
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(|_| Error::NotConnected)?;
        let idle = pool.idle.lock().ok().and_then(|mut idle| {
            while let Some(ch) = idle.pop() {
                if ch.status().connected() {
                    return Some(ch);
                }
            }
            None
        });
        let channel = match idle {
            Some(ch) => ch,
            None => tokio::time::timeout_at(deadline, open_confirm_channel(owner.connection()))
                .await
                .map_err(|_| Error::Timeout)?
                .map_err(Error::Channel)?,
        };
        Ok(Lease {
            live: owner,
            channel: Some(channel),
            confirms: Vec::new(),
            permit: Some(Slot::new(permit, observer.clone())),
            unsettled: 0,
        })
    }
}

/// A channel leased to one publishing group. Dropped with confirms
/// outstanding (the group's deadline passed), it hands them to
/// a background task that awaits them for up to `amqp.confirm_timeout_ms`
/// before the channel is reused, or closes the channel after that: lapin
/// keeps an unresolved, dropped confirm until its channel closes, so a slow
/// broker cannot grow memory past `max_channels` leases.
pub(super) struct Lease {
    /// The connection the channel is on.
    pub(super) live: Arc<dyn Owner>,
    pub(super) channel: Option<Channel>,
    /// The publishes' confirms, in publish order.
    pub(super) confirms: Vec<PublisherConfirm>,
    /// Released when the channel is back in the pool (or closed).
    permit: Option<Slot>,
    /// Publishes started on the channel whose confirms have not all
    /// resolved yet (0: the channel may be reused at once).
    pub(super) unsettled: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(channel) = self.channel.take() else {
            return;
        };
        let confirms = std::mem::take(&mut self.confirms);
        let live = self.live.clone();
        if self.unsettled == 0 {
            give_back(live.pool(), channel);
            return;
        }
        let permit = self.permit.take();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // A publish whose write was cut short (no confirm future came back)
        // may still be acked or returned on this channel: never reuse it.
        let whole = confirms.len() == self.unsettled;
        rt.spawn(async move {
            let _permit = permit;
            let done = tokio::time::timeout(
                live.pool().late_confirm_limit,
                futures_util::future::join_all(confirms),
            )
            .await
            .is_ok();
            if done && whole {
                give_back(live.pool(), channel);
            } else {
                // Closing the channel rejects its pending confirms in lapin.
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    channel.close(200, ShortString::from("confirms overdue")),
                )
                .await;
            }
        });
    }
}

/// Returns a healthy channel to the idle list.
fn give_back(pool: &Pool, channel: Channel) {
    if !channel.status().connected() {
        return;
    }
    if let Ok(mut idle) = pool.idle.lock() {
        idle.push(channel);
    }
}

/// A lease's permit, counted in the leased-channels gauge while held.
struct Slot {
    _permit: OwnedSemaphorePermit,
    observer: Arc<dyn Observe>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, observer: Arc<dyn Observe>) -> Self {
        observer.leased(1);
        Slot {
            _permit: permit,
            observer,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.observer.leased(-1);
    }
}

impl Pool {
    /// Closes the idle channels (at a connection's end, before the
    /// connection itself: see [`close_channel`]).
    pub(super) async fn close_idle(&self, reason: &str) {
        let idle = self
            .idle
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default();
        for ch in idle {
            close_channel(ch, reason).await;
        }
    }
}

/// Closes `connection` with `reason`, its channels first: the unroutable
/// queue's `probe`, then `pool`'s idle ones (see [`close_channel`]); at
/// most 2 s in all. Best effort: a dead connection's close fails fast or
/// times out.
pub(super) async fn close(
    connection: &Connection,
    pool: &Pool,
    probe: Option<Channel>,
    reason: &str,
) {
    let channels_first = async {
        if let Some(ch) = probe {
            close_channel(ch, reason).await;
        }
        pool.close_idle(reason).await;
        connection.close(200, ShortString::from(reason)).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), channels_first).await;
}

/// Closes `channel` if it is open, waiting at most 2 s for the broker's
/// answer. Channels are closed so before their connection: lapin closes a
/// dropped open channel by itself, and that close racing the connection's
/// is logged by lapin as a connection error (at every graceful stop).
pub(crate) async fn close_channel(channel: Channel, reason: &str) {
    if channel.status().connected() {
        let close = channel.close(200, ShortString::from(reason));
        let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
    }
}

/// A new channel in confirm mode.
async fn open_confirm_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let ch = connection.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}
