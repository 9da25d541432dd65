//! Grouped publishing (docs/reliability.md, "Unroutable messages"): the
//! publishes queued at one moment go out together on one leased channel,
//! their confirms are awaited together, and every `basic.return` is matched
//! to its message by `message_id` and routing key across the group, so each
//! caller gets exactly its own messages' outcomes.
//!
//! At most `amqp.channels` groups run at once on a connection, and one
//! starts at a time: a caller queues its publishes, and the next group to
//! start takes everything queued (as the spool's writer groups commits); a
//! new group starts after the tasks ready at that moment had their turn.
//! Under load a channel thus carries tens of requests per lease instead of
//! one.

use std::sync::{Arc, Mutex, PoisonError};

use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Confirmation};
use tokio::sync::oneshot;
use tokio::time::Instant;

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
        queue.running += 1;
        queue.starting = true;
        drop(queue);
        let mut running = Running {
            groups: self.clone(),
            held: true,
        };
        let observer = observer.clone();
        tokio::spawn(async move {
            // The group takes what is queued when it first runs, after the
            // tasks ready now had their turn: every job they submit joins it.
            tokio::task::yield_now().await;
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

/// One message of a group: its caller, its place in the caller's items,
/// and what a `basic.return` is matched by.
struct Sent {
    job: usize,
    item: usize,
    message_id: Option<ShortString>,
    routing_key: ShortString,
}

/// Leases a channel for `jobs`, publishes all their messages and answers
/// each job. Jobs whose caller stopped waiting are not published.
async fn publish_group(owner: &Arc<dyn Owner>, observer: &Arc<dyn Observe>, jobs: Vec<Job>) {
    let mut jobs = waiting(jobs);
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
    jobs = waiting(jobs);
    let mut results: Vec<Vec<Result<(), Error>>> = jobs
        .iter()
        .map(|j| Vec::with_capacity(j.items.len()))
        .collect();
    match send(lease, &mut jobs, &mut results, deadline).await {
        Ok(()) => {
            for (job, r) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(Ok(r));
            }
        }
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
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

/// Publishes every item of `jobs` on the lease's channel, then awaits all
/// confirms under `deadline` and writes each item's outcome to `results`
/// (one vector per job). `Err` when the group failed as a whole.
async fn send(
    mut lease: Lease,
    jobs: &mut [Job],
    results: &mut [Vec<Result<(), Error>>],
    deadline: Instant,
) -> Result<(), Error> {
    let Some(channel) = lease.channel.clone() else {
        return Err(Error::NotConnected);
    };
    // Every basic.publish of the group is written before any confirm is
    // awaited: lapin's I/O loop flushes them together.
    let mut sent = Vec::new();
    let mut publishes = Vec::new();
    for (j, job) in jobs.iter_mut().enumerate() {
        for (i, item) in std::mem::take(&mut job.items).into_iter().enumerate() {
            match item {
                Ok(o) => {
                    results[j].push(Ok(()));
                    sent.push(Sent {
                        job: j,
                        item: i,
                        message_id: o.properties.message_id().clone(),
                        routing_key: o.routing_key.clone(),
                    });
                    publishes.push(publish(&channel, o));
                }
                Err(e) => results[j].push(Err(e)),
            }
        }
    }
    lease.unsettled = publishes.len();
    let published = tokio::time::timeout_at(deadline, futures_util::future::join_all(publishes))
        .await
        .map_err(|_| Error::Timeout)?;
    for p in published {
        lease.confirms.push(p.map_err(Error::Channel)?);
    }
    let confirmations = tokio::time::timeout_at(
        deadline,
        futures_util::future::join_all(lease.confirms.iter_mut()),
    )
    .await
    .map_err(|_| Error::Timeout)?;
    // Every confirm resolved: the channel may go back to the pool.
    lease.confirms.clear();
    lease.unsettled = 0;
    for (s, r) in sent.iter().zip(attribute(&sent, confirmations)) {
        results[s.job][s.item] = r;
    }
    Ok(())
}

/// `basic.publish` of `o` (`mandatory`: an unroutable message comes back).
async fn publish(channel: &lapin::Channel, o: Outgoing) -> lapin::Result<lapin::PublisherConfirm> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    channel
        .basic_publish(o.exchange, o.routing_key, options, &o.body, o.properties)
        .await
}

/// Each message's outcome from its own confirm plus every `basic.return`
/// seen on the lease, matched to its message by `message_id` and routing key
/// (`messages` in publish order; lapin may attach a return to any confirm of
/// a coalesced ack, so to any message of the group). A return that matches
/// no message fails them all: nothing may be answered 2xx on a guess.
fn attribute(
    messages: &[Sent],
    confirmations: Vec<lapin::Result<Confirmation>>,
) -> Vec<Result<(), Error>> {
    let mut returned = Vec::new();
    let mut results: Vec<Result<(), Error>> = confirmations
        .into_iter()
        .map(|c| match c {
            Ok(Confirmation::Ack(r)) => {
                returned.extend(r);
                Ok(())
            }
            Ok(Confirmation::Nack(r)) => {
                returned.extend(r);
                Err(Error::Nack)
            }
            // Channels are put in confirm mode before use: cannot happen,
            // and must not count as durable if it did.
            Ok(Confirmation::NotRequested) => Err(Error::Nack),
            Err(e) => Err(Error::Channel(e)),
        })
        .collect();
    for r in returned {
        let text = r.reply_text.to_string();
        let id = r
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(ShortString::as_str);
        let key = r.delivery.routing_key.as_str();
        let mut matched = false;
        for (m, result) in messages.iter().zip(results.iter_mut()) {
            if id.is_some()
                && id == m.message_id.as_ref().map(ShortString::as_str)
                && key == m.routing_key.as_str()
            {
                *result = Err(Error::Returned(text.clone()));
                matched = true;
            }
        }
        if !matched {
            for result in results.iter_mut().filter(|r| r.is_ok()) {
                *result = Err(Error::Returned(text.clone()));
            }
        }
    }
    results
}
