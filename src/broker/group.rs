//! Grouped publishing (docs/reliability.md, "Unroutable messages"): the
//! publishes queued at one moment go out together on one leased channel,
//! their confirms are awaited together, and every `basic.return` is matched
//! to its message by `message_id` and routing key across the group, so each
//! caller gets exactly its own messages' outcomes, as soon as the confirms
//! up to its last message are in (`super::confirms`), not the whole group's.
//!
//! At most `amqp.channels` groups run at once on a connection, and one
//! starts at a time: a caller queues its publishes, and the next group to
//! start takes everything queued (as the spool's writer groups commits); a
//! new group starts after the tasks ready at that moment had their turn
//! (at once when no other group is out).
//! Under load a channel thus carries tens of requests per lease instead of
//! one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, PublisherConfirm};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::confirms::{Resolved, Sent, Tracker};
use super::pool::{Lease, Owner, Pool};
use super::{Error, Observe};

/// One message as AMQP carries it: where it goes, its properties (with
/// `message_id`, which a `basic.return` is matched by), its body.
pub(crate) struct Outgoing {
    /// The exchange (`""`: the default exchange, routing key = queue).
    pub(crate) exchange: ShortString,
    /// The routing key.
    pub(crate) routing_key: ShortString,
    /// Properties (persistent: `delivery_mode` 2).
    pub(crate) properties: BasicProperties,
    /// The body.
    pub(crate) body: bytes::Bytes,
}

/// One caller's outcomes: one per item, in order, or one error for all
/// (nothing of the call was published, or no confirm came in time).
pub(super) type Outcomes = Result<Vec<Result<(), Error>>, Error>;

/// One caller's publishes, waiting for a group.
pub(super) struct Job {
    /// The messages; an `Err` item is not published and keeps its error.
    pub(super) items: Vec<Result<Outgoing, Error>>,
    /// When the caller stops waiting.
    pub(super) deadline: Instant,
    /// Where the outcomes go.
    pub(super) reply: oneshot::Sender<Outcomes>,
}

/// The publishing groups of one connection: the queued jobs and how many
/// groups run now.
pub(super) struct Groups {
    queue: Mutex<Queue>,
    /// Most groups running at once (`amqp.channels`).
    slots: usize,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Job>,
    /// Groups running (or about to start).
    running: usize,
    /// A group is about to start and will take every job queued until then.
    starting: bool,
}

impl Groups {
    /// No job queued, none running; at most `slots` groups at once.
    pub(super) fn new(slots: usize) -> Self {
        Groups {
            queue: Mutex::new(Queue::default()),
            slots: slots.max(1),
        }
    }

    /// Queues `job` for the next group, starting a group when none is about
    /// to start and fewer than `slots` run. The outcomes arrive on the job's
    /// `reply`.
    pub(super) fn submit(
        self: &Arc<Self>,
        owner: Arc<dyn Owner>,
        observer: &Arc<dyn Observe>,
        job: Job,
    ) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.waiting.push(job);
        if queue.starting || queue.running >= self.slots {
            return;
        }
        // With no group out, nothing is gained by waiting for company.
        let alone = queue.running == 0;
        queue.running += 1;
        queue.starting = true;
        drop(queue);
        let mut running = Running {
            groups: self.clone(),
            held: true,
        };
        let observer = observer.clone();
        tokio::spawn(async move {
            // With other groups out, the group takes what is queued when it
            // first runs, after the tasks ready now had their turn: every job
            // they submit joins it.
            if !alone {
                tokio::task::yield_now().await;
            }
            while let Some(jobs) = running.next() {
                publish_group(&owner, &observer, jobs).await;
            }
        });
    }
}

/// A running group's slot, given back when no job is left, or when its
/// task ends otherwise (a panic, the runtime shutting down).
struct Running {
    groups: Arc<Groups>,
    held: bool,
}

impl Running {
    /// Every job queued now, or `None` (and the slot is given back) when
    /// none is.
    fn next(&mut self) -> Option<Vec<Job>> {
        let mut queue = self
            .groups
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.starting = false;
        if queue.waiting.is_empty() {
            queue.running -= 1;
            self.held = false;
            return None;
        }
        Some(std::mem::take(&mut queue.waiting))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.held {
            let mut queue = self
                .groups
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.running -= 1;
            queue.starting = false;
        }
    }
}

/// Leases a channel for `jobs`, publishes all their messages and answers
/// each job as soon as its own confirms are in. Jobs whose caller stopped
/// waiting are not published.
async fn publish_group(owner: &Arc<dyn Owner>, observer: &Arc<dyn Observe>, jobs: Vec<Job>) {
    let jobs = waiting(jobs);
    let Some(deadline) = jobs.iter().map(|j| j.deadline).max() else {
        return;
    };
    let lease = match Pool::lease(owner.clone(), deadline, observer).await {
        Ok(lease) => lease,
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    // Callers may have given up while the group waited for its channel.
    let (items, mut replies): (Vec<_>, Vec<_>) = waiting(jobs)
        .into_iter()
        .map(|j| (j.items, Some(j.reply)))
        .unzip();
    if let Err(e) = send(lease, items, &mut replies, deadline).await {
        for reply in replies.into_iter().flatten() {
            let _ = reply.send(Err(e.clone()));
        }
    }
}

/// The jobs whose caller still waits (the others are answered with
/// [`Error::Timeout`] or dropped).
fn waiting(jobs: Vec<Job>) -> Vec<Job> {
    let now = Instant::now();
    jobs.into_iter()
        .filter_map(|job| {
            if job.reply.is_closed() {
                None
            } else if job.deadline <= now {
                let _ = job.reply.send(Err(Error::Timeout));
                None
            } else {
                Some(job)
            }
        })
        .collect()
}

/// Publishes every item of `items` (one vector per job) on the lease's
/// channel, then answers each job on its `replies` entry as soon as the
/// confirms up to its last message are in, until `deadline`. `Err` for the
/// jobs not answered (their entries are left).
async fn send(
    mut lease: Lease,
    items: Vec<Vec<Result<Outgoing, Error>>>,
    replies: &mut [Option<oneshot::Sender<Outcomes>>],
    deadline: Instant,
) -> Result<(), Error> {
    let Some(channel) = lease.channel.clone() else {
        return Err(Error::NotConnected);
    };
    // Every basic.publish of the group is written before any confirm is
    // awaited: lapin's I/O loop flushes them together. `order` numbers them
    // as lapin gives them delivery tags (in the same poll, on this task).
    let order = AtomicUsize::new(0);
    // Sized once: a publish future is large, and growing the vector
    // copied every one of them again at each doubling.
    let n = items.iter().map(Vec::len).sum();
    let mut sent = Vec::with_capacity(n);
    let mut publishes = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(items.len());
    for (j, job) in items.into_iter().enumerate() {
        let mut r = Vec::with_capacity(job.len());
        for (i, item) in job.into_iter().enumerate() {
            match item {
                Ok(o) => {
                    r.push(Ok(()));
                    sent.push(Sent {
                        job: j,
                        item: i,
                        message_id: o.properties.message_id().clone(),
                        routing_key: o.routing_key.clone(),
                    });
                    publishes.push(publish(&channel, &order, o));
                }
                Err(e) => r.push(Err(e)),
            }
        }
        results.push(r);
    }
    lease.unsettled = publishes.len();
    let published = tokio::time::timeout_at(deadline, futures_util::future::join_all(publishes))
        .await
        .map_err(|_| Error::Timeout)?;
    let mut tagged = Vec::with_capacity(published.len());
    for ((tag, p), s) in published.into_iter().zip(sent) {
        tagged.push((tag, s, p.map_err(Error::Channel)?));
    }
    tagged.sort_unstable_by_key(|(tag, _, _)| *tag);
    let (sent, confirms): (Vec<_>, Vec<_>) = tagged.into_iter().map(|(_, s, c)| (s, c)).unzip();
    lease.confirms = confirms;
    let mut tracker = Tracker::new(sent, results);
    let owner = lease.live.clone();
    let confirms = &mut lease.confirms;
    let settle = std::future::poll_fn(|cx| {
        harvest(confirms, &mut tracker, &*owner, cx);
        let prefix = tracker.prefix();
        // Every return of the first `prefix` messages is with a confirm
        // resolved by now: this round sees it.
        harvest(confirms, &mut tracker, &*owner, cx);
        for (job, outcomes) in tracker.answerable(prefix) {
            if let Some(reply) = replies[job].take() {
                let _ = reply.send(Ok(outcomes));
            }
        }
        if tracker.finished() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    let answered = tokio::time::timeout_at(deadline, settle).await;
    if tracker.settled() {
        // Every confirm resolved: the channel may go back to the pool.
        lease.confirms.clear();
        lease.unsettled = 0;
    }
    answered.map_err(|_| Error::Timeout)
}

/// Polls every confirm not resolved yet (from the first unresolved one on:
/// a wake-up costs what is still out, not the whole group) and records
/// those that are (and tells `owner`, which counts nacks in a row).
fn harvest(
    confirms: &mut [PublisherConfirm],
    tracker: &mut Tracker,
    owner: &dyn Owner,
    cx: &mut Context<'_>,
) {
    let start = tracker.known_prefix();
    for (i, c) in confirms.iter_mut().enumerate().skip(start) {
        if !tracker.resolved(i) {
            if let Poll::Ready(r) = Pin::new(c).poll(cx) {
                let resolved: Resolved = r.into();
                owner.confirmed(&resolved.outcome);
                tracker.resolve(i, resolved);
            }
        }
    }
}

/// `basic.publish` of `o` (`mandatory`: an unroutable message comes back),
/// with its place in `order` (the channel's delivery-tag order).
async fn publish(
    channel: &lapin::Channel,
    order: &AtomicUsize,
    o: Outgoing,
) -> (usize, lapin::Result<PublisherConfirm>) {
    let tag = order.fetch_add(1, Ordering::Relaxed);
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish(o.exchange, o.routing_key, options, &o.body, o.properties)
        .await;
    (tag, confirm)
}
