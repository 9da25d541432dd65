//! Gathering a backlog: the session looks at its work queues' ready
//! message counts (a passive `queue.declare`) every [`PROBE_EVERY`]; when
//! one holds at least `worker.bulk.threshold`, it opens *gather consumers*
//! on a channel of their own whose prefetch holds `max_records_per_job`
//! (plus a collections call's worth for other keys), and the batches it
//! opens meanwhile gather (see [`super::super::batch::Batch`]). When the
//! work queues are empty (all of the backlog delivered), the gather
//! consumers are cancelled;
//! their deliveries stay unacked on their channel until settled, so the
//! channel stays open for the session.
//!
//! AMQP's `prefetch-count` is 16 bits: a window over 65,535 is spread over
//! several consumers per queue (`basic.qos` with `global = false` limits
//! each consumer on its own).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use tokio::time::Instant;

use crate::broker::connect::Live;
use crate::worker::ctx::{Ctx, SessionError};

/// How often the ready counts are read while bulk is enabled.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long gather consumers run at least, when no gathering batch was
/// opened (their deliveries all duplicates of a resumed job, say), before
/// an empty queue stops them: the longer of this and `gather_linger_ms`.
const FIRST_BATCH_WAIT: Duration = Duration::from_secs(5);

/// A stream of one consumer's deliveries, with its queue's name.
pub(crate) type DeliveryStream = futures_util::stream::BoxStream<
    'static,
    (Arc<str>, Result<lapin::message::Delivery, lapin::Error>),
>;

/// The session's gathering state.
pub(crate) struct Gather {
    /// Passive declares (reopened after a channel error).
    probe: Option<lapin::Channel>,
    /// The gather consumers' channel, opened at the first backlog.
    channel: Option<lapin::Channel>,
    /// Tags of the gather consumers now running.
    tags: Vec<String>,
    next: Instant,
    serial: u32,
    /// When the running gather consumers started.
    started: Instant,
    /// Whether a gathering batch was seen open since they started: their
    /// deliveries reached the batcher.
    seen_open: bool,
}

impl Gather {
    /// Not gathering; the first probe is due now.
    pub(crate) fn new() -> Gather {
        Gather {
            probe: None,
            channel: None,
            tags: Vec::new(),
            next: Instant::now(),
            serial: 0,
            started: Instant::now(),
            seen_open: false,
        }
    }

    /// When the next probe is due; `None` when bulk is disabled.
    pub(crate) fn next_probe(&self, ctx: &Ctx) -> Option<Instant> {
        ctx.config.worker.bulk.enabled.then_some(self.next)
    }

    /// Whether gather consumers are running.
    pub(crate) fn active(&self) -> bool {
        !self.tags.is_empty()
    }

    /// Reads the ready counts; starts the gather consumers when a queue
    /// holds the threshold (returning their streams, to be merged into the
    /// session's deliveries) and cancels them when none does.
    ///
    /// # Errors
    /// [`SessionError::Amqp`] when the gather channel fails (the probe's
    /// own failures only skip a reading).
    pub(crate) async fn probe(
        &mut self,
        ctx: &Ctx,
        live: &Live,
        gathering_open: bool,
    ) -> Result<Vec<DeliveryStream>, SessionError> {
        self.next = Instant::now() + PROBE_EVERY;
        let cfg = &ctx.config.worker.bulk;
        if !cfg.enabled {
            return Ok(Vec::new());
        }
        let Some(ready) = self.ready(ctx, live).await else {
            return Ok(Vec::new());
        };
        // Started at the threshold, stopped only once the queues are
        // empty and no gathering batch is open: a backlog is gathered whole
        // (up to the window), not cut where the ready count first dips
        // under the threshold, nor when a batch closed early (a stall).
        // The gather consumers' prefetch takes the whole backlog off the
        // ready count at once, long before a loaded worker has batched it:
        // an empty queue means "gathered" only once a gathering batch was
        // seen open (what was delivered reached the batcher) and is closed.
        self.seen_open |= gathering_open;
        let wait = FIRST_BATCH_WAIT.max(Duration::from_millis(cfg.gather_linger_ms));
        let batched = self.seen_open || self.started.elapsed() >= wait;
        let done = ready == 0 && !gathering_open && batched;
        match (ready >= cfg.threshold as u64, done, self.active()) {
            (true, _, false) => {
                tracing::info!(
                    ready,
                    threshold = cfg.threshold,
                    "backlog: gathering for Bulk API 2.0"
                );
                self.start(ctx, live).await
            }
            (_, true, true) => {
                tracing::info!("backlog gathered: gather consumers stop");
                self.stop().await;
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The largest ready count among the work queues; `None` when it could
    /// not be read.
    async fn ready(&mut self, ctx: &Ctx, live: &Live) -> Option<u64> {
        if self.probe.as_ref().is_none_or(|c| !c.status().connected()) {
            self.probe = live.connection.create_channel().await.ok();
        }
        let ch = self.probe.as_ref()?;
        let mut most = 0;
        for q in &ctx.config.worker.queues {
            let ok = ch
                .queue_declare(
                    ShortString::from(q.as_str()),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .ok()?;
            most = most.max(u64::from(ok.message_count()));
        }
        Some(most)
    }

    async fn start(&mut self, ctx: &Ctx, live: &Live) -> Result<Vec<DeliveryStream>, SessionError> {
        let w = &ctx.config.worker;
        let window = w.bulk.max_records_per_job + w.batch_size;
        let per_queue = window.div_ceil(usize::from(u16::MAX));
        let prefetch = u16::try_from(window.div_ceil(per_queue)).unwrap_or(u16::MAX);
        if self
            .channel
            .as_ref()
            .is_none_or(|c| !c.status().connected())
        {
            let ch = live.connection.create_channel().await?;
            ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
            self.channel = Some(ch);
        }
        let Some(ch) = self.channel.as_ref() else {
            return Ok(Vec::new());
        };
        let mut streams = Vec::new();
        self.started = Instant::now();
        self.seen_open = false;
        for q in &w.queues {
            for _ in 0..per_queue {
                self.serial += 1;
                let tag = format!(
                    "hookgate-worker-{}-gather-{}",
                    std::process::id(),
                    self.serial
                );
                let consumer = ch
                    .basic_consume(
                        ShortString::from(q.as_str()),
                        ShortString::from(tag.as_str()),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
                self.tags.push(tag);
                let queue: Arc<str> = Arc::from(q.as_str());
                streams.push(consumer.map(move |d| (queue.clone(), d)).boxed());
            }
        }
        Ok(streams)
    }

    /// Closes its channels, once the lanes settled what came through them
    /// (`crate::broker::close_channel`).
    pub(crate) async fn close(self) {
        for ch in [self.probe, self.channel].into_iter().flatten() {
            crate::broker::close_channel(ch, "worker session ended").await;
        }
    }

    /// Cancels the gather consumers (their deliveries so far stay unacked
    /// on the channel until settled).
    pub(crate) async fn stop(&mut self) {
        let Some(ch) = self.channel.as_ref() else {
            return;
        };
        for tag in self.tags.drain(..) {
            let _ = ch
                .basic_cancel(
                    ShortString::from(tag.as_str()),
                    BasicCancelOptions::default(),
                )
                .await;
        }
    }
}
