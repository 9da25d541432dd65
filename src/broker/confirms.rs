//! Per-request completion of a publishing group's confirms
//! (docs/reliability.md, "Unroutable messages").
//!
//! A group's messages are published on one leased channel, in delivery-tag
//! order. RabbitMQ sends a message's `basic.return` before its `basic.ack`
//! on the channel, and routes (so returns) in publish order; lapin queues
//! each return and hands it to whichever confirm it resolves next (with
//! `multiple` acks, in no particular order), so the confirm a return comes
//! with says nothing about its message. What holds: once every confirm up to
//! a message's tag has resolved (the *prefix*), every return of the messages
//! up to it has been handed to some resolved confirm. [`Tracker`] therefore
//! answers a request as soon as the prefix covers its last message, with
//! the returns of every confirm resolved by then, matched to their messages
//! by `message_id` and routing key: never on a guess, and without waiting
//! for the rest of the group.

use lapin::types::ShortString;
use lapin::Confirmation;

use super::Error;

/// A returned message, as far as matching it needs.
#[derive(Debug, Clone)]
pub(super) struct Returned {
    /// Its `message_id` property.
    pub(super) message_id: Option<ShortString>,
    /// Its routing key.
    pub(super) routing_key: ShortString,
    /// The broker's reply text (`NO_ROUTE`).
    pub(super) text: String,
}

impl Returned {
    fn from_lapin(r: lapin::message::BasicReturnMessage) -> Self {
        Returned {
            message_id: r.delivery.properties.message_id().clone(),
            routing_key: r.delivery.routing_key.clone(),
            text: r.reply_text.to_string(),
        }
    }
}

/// One resolved confirm: the message's own outcome and the return (of any
/// message of the channel) lapin handed with it.
pub(super) struct Resolved {
    /// `Ok` for an ack; a nack or a channel error otherwise.
    pub(super) outcome: Result<(), Error>,
    /// A return that came with the confirm.
    pub(super) returned: Option<Returned>,
}

impl From<lapin::Result<Confirmation>> for Resolved {
    fn from(c: lapin::Result<Confirmation>) -> Self {
        let (outcome, returned) = match c {
            Ok(Confirmation::Ack(r)) => (Ok(()), r),
            Ok(Confirmation::Nack(r)) => (Err(Error::Nack), r),
            // Channels are put in confirm mode before use: cannot happen,
            // and must not count as durable if it did.
            Ok(Confirmation::NotRequested) => (Err(Error::Nack), None),
            Err(e) => (Err(Error::Channel(e)), None),
        };
        Resolved {
            outcome,
            returned: returned.map(Returned::from_lapin),
        }
    }
}

/// One published message of the group, in delivery-tag order.
pub(super) struct Sent {
    /// Its job (caller) in the group.
    pub(super) job: usize,
    /// Its place in the job's items.
    pub(super) item: usize,
    /// What a `basic.return` is matched by.
    pub(super) message_id: Option<ShortString>,
    /// The routing key it was published with.
    pub(super) routing_key: ShortString,
}

/// One message's state.
struct Slot {
    sent: Sent,
    /// `None` until its confirm resolved.
    outcome: Option<Result<(), Error>>,
    /// A return matched to it.
    returned: Option<String>,
}

/// The confirms of one group and which callers can be answered.
pub(super) struct Tracker {
    /// In delivery-tag order.
    slots: Vec<Slot>,
    /// Per job: every item's outcome so far (items not published keep
    /// their error), `None` once answered.
    results: Vec<Option<Vec<Result<(), Error>>>>,
    /// Per job: the index in `slots` of its last message (`None`: nothing
    /// published, answered at once).
    last: Vec<Option<usize>>,
    /// Job indices in the order they become answerable: nothing published
    /// first, then by `last` ascending.
    order: Vec<usize>,
    /// How many of `order` have been answered.
    next: usize,
    /// Slot indices grouped by job: job `j`'s are
    /// `members[starts[j]..starts[j + 1]]` (each answer reads only its own).
    members: Vec<usize>,
    starts: Vec<usize>,
    /// How many leading slots have resolved.
    prefix: usize,
    /// A return that matched no message: every caller answered from now on
    /// is refused with it (nothing 2xx on a guess).
    unmatched: Option<String>,
    /// Callers not answered yet.
    open: usize,
}

impl Tracker {
    /// `sent` in delivery-tag order; `results` per job, with a placeholder
    /// `Ok` for each published item and the error of each item that was not.
    pub(super) fn new(sent: Vec<Sent>, results: Vec<Vec<Result<(), Error>>>) -> Self {
        let jobs = results.len();
        let mut last = vec![None; jobs];
        let mut starts = vec![0; jobs + 1];
        for (i, s) in sent.iter().enumerate() {
            last[s.job] = Some(i);
            starts[s.job + 1] += 1;
        }
        for j in 0..jobs {
            starts[j + 1] += starts[j];
        }
        let mut members = vec![0; sent.len()];
        let mut fill = starts.clone();
        for (i, s) in sent.iter().enumerate() {
            members[fill[s.job]] = i;
            fill[s.job] += 1;
        }
        let mut order: Vec<usize> = (0..jobs).collect();
        order.sort_by_key(|&j| last[j].map_or(0, |l| l + 1));
        Tracker {
            slots: sent
                .into_iter()
                .map(|sent| Slot {
                    sent,
                    outcome: None,
                    returned: None,
                })
                .collect(),
            open: results.len(),
            results: results.into_iter().map(Some).collect(),
            last,
            order,
            next: 0,
            members,
            starts,
            prefix: 0,
            unmatched: None,
        }
    }

    /// How many leading messages were known resolved at the last
    /// [`prefix`](Self::prefix): none of them needs polling again.
    pub(super) fn known_prefix(&self) -> usize {
        self.prefix
    }

    /// Whether the confirm of the message at `index` resolved.
    pub(super) fn resolved(&self, index: usize) -> bool {
        self.slots[index].outcome.is_some()
    }

    /// Records the confirm of the message at `index` (tag order), and the
    /// return that came with it, matched by `message_id` and routing key to
    /// every message of the group it fits.
    pub(super) fn resolve(&mut self, index: usize, r: Resolved) {
        self.slots[index].outcome = Some(r.outcome);
        if let Some(ret) = r.returned {
            self.returned(ret);
        }
    }

    fn returned(&mut self, r: Returned) {
        let mut matched = false;
        if let Some(id) = r.message_id.as_ref().map(ShortString::as_str) {
            for slot in &mut self.slots {
                if slot.sent.message_id.as_ref().map(ShortString::as_str) == Some(id)
                    && slot.sent.routing_key.as_str() == r.routing_key.as_str()
                {
                    slot.returned = Some(r.text.clone());
                    matched = true;
                }
            }
        }
        if !matched {
            self.unmatched = Some(r.text);
        }
    }

    /// How many leading messages (tag order) have their confirm now. Every
    /// return of those messages is with a confirm that resolved before the
    /// last of them: resolve the confirms pending now once more before
    /// [`answerable`](Self::answerable) with this value.
    pub(super) fn prefix(&mut self) -> usize {
        while self.prefix < self.slots.len() && self.slots[self.prefix].outcome.is_some() {
            self.prefix += 1;
        }
        self.prefix
    }

    /// The callers (job index, outcomes) all of whose messages are within
    /// the first `prefix` (a value of [`prefix`](Self::prefix) taken before
    /// the last round of [`resolve`](Self::resolve)); each once.
    pub(super) fn answerable(&mut self, prefix: usize) -> Vec<(usize, Vec<Result<(), Error>>)> {
        let mut done = Vec::new();
        // `order` is by last message: the first job not covered ends it.
        while let Some(&job) = self.order.get(self.next) {
            if self.last[job].is_some_and(|l| l >= prefix) {
                break;
            }
            self.next += 1;
            let Some(mut results) = self.results[job].take() else {
                continue;
            };
            for &i in &self.members[self.starts[job]..self.starts[job + 1]] {
                let slot = &self.slots[i];
                let mut r = slot.outcome.clone().unwrap_or(Err(Error::Timeout));
                if let Some(text) = &slot.returned {
                    r = Err(Error::Returned(text.clone()));
                }
                if let (Ok(()), Some(text)) = (&r, &self.unmatched) {
                    r = Err(Error::Returned(text.clone()));
                }
                results[slot.sent.item] = r;
            }
            self.open -= 1;
            done.push((job, results));
        }
        done
    }

    /// Whether every caller has been answered.
    pub(super) fn finished(&self) -> bool {
        self.open == 0
    }

    /// Whether every confirm resolved.
    pub(super) fn settled(&self) -> bool {
        self.prefix == self.slots.len()
    }
}

#[cfg(test)]
mod tests;
