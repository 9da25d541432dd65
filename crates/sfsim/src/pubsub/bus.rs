//! The simulated event bus: topics, their retained events, replay ids, the
//! simulated clock, queued faults and counters. One `Mutex` guards it; new
//! events are announced on a `watch` of the last replay sequence.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pubsub_proto::ProducerEvent;

use super::avro::EventSchema;
use super::{PubSubCounters, PubSubFault};
use crate::rng::Rng;

/// The all-entities change event channel \[CDCCH\].
pub const ALL_CHANGES: &str = "/data/ChangeEvents";
/// Replay ids are this prefix byte then `seq * REPLAY_STEP` big-endian:
/// opaque and not contiguous \[DUR\].
const REPLAY_PREFIX: u8 = 0x01;
const REPLAY_STEP: u64 = 7;

/// One stored event.
#[derive(Clone)]
pub(super) struct Stored {
    /// Org-wide sequence (the replay id is derived from it).
    pub seq: u64,
    /// Simulated publish time, epoch ms.
    pub at_ms: i64,
    pub event: ProducerEvent,
}

pub(super) struct Topic {
    /// The topic's own schema; `None` for `/data/ChangeEvents` (each event
    /// carries its entity's schema id).
    pub schema: Option<Arc<EventSchema>>,
    /// `Some(entity)` for a change event topic.
    pub entity: Option<String>,
    pub events: VecDeque<Stored>,
    /// The highest sequence purged by retention (0: none).
    pub purged_through: u64,
}

impl Topic {
    fn new(schema: Option<Arc<EventSchema>>, entity: Option<String>) -> Topic {
        Topic {
            schema,
            entity,
            events: VecDeque::new(),
            purged_through: 0,
        }
    }

    /// Up to `max` events after sequence `cursor`, in replay order.
    pub fn after(&self, cursor: u64, max: usize) -> Vec<Stored> {
        let start = self.events.partition_point(|e| e.seq <= cursor);
        self.events.iter().skip(start).take(max).cloned().collect()
    }

    /// The newest retained event's sequence, else the highest purged one.
    pub fn tip(&self) -> u64 {
        self.events.back().map_or(self.purged_through, |e| e.seq)
    }
}

/// Everything that changes while the Pub/Sub server runs.
pub(super) struct Bus {
    pub topics: HashMap<String, Topic>,
    pub schemas: HashMap<String, Arc<EventSchema>>,
    /// The last sequence given out.
    pub seq: u64,
    /// How far the simulated clock is ahead of the real one.
    pub offset: Duration,
    pub retention: Duration,
    pub faults: VecDeque<PubSubFault>,
    pub counters: PubSubCounters,
    pub rng: Rng,
}

impl Bus {
    pub fn new(retention: Duration) -> Bus {
        let mut topics = HashMap::new();
        topics.insert(ALL_CHANGES.to_owned(), Topic::new(None, None));
        Bus {
            topics,
            schemas: HashMap::new(),
            seq: 0,
            offset: Duration::ZERO,
            retention,
            faults: VecDeque::new(),
            counters: PubSubCounters::default(),
            rng: Rng::from_entropy(),
        }
    }

    /// The simulated clock, epoch ms.
    pub fn now_ms(&self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.offset);
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn add_topic(&mut self, name: &str, schema: EventSchema, entity: Option<String>) {
        let schema = Arc::new(schema);
        self.schemas.insert(schema.id.clone(), schema.clone());
        match self.topics.get_mut(name) {
            // A new schema version: retained events keep their own schema
            // ids, so clients must decode each with its own [DESER].
            Some(t) => {
                t.schema = Some(schema);
                t.entity = entity;
            }
            None => {
                self.topics
                    .insert(name.to_owned(), Topic::new(Some(schema), entity));
            }
        }
    }

    /// Appends one event to `topics` (all get the same replay id) and
    /// returns its sequence.
    pub fn append(&mut self, topics: &[&str], event: ProducerEvent) -> u64 {
        self.seq += 1;
        let stored = Stored {
            seq: self.seq,
            at_ms: self.now_ms(),
            event,
        };
        for name in topics {
            if let Some(t) = self.topics.get_mut(*name) {
                t.events.push_back(stored.clone());
            }
        }
        self.seq
    }

    /// Drops events older than the retention (72 h) \[DUR\].
    pub fn purge(&mut self) {
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let horizon = self.now_ms().saturating_sub(retention);
        for t in self.topics.values_mut() {
            while t.events.front().is_some_and(|e| e.at_ms < horizon) {
                if let Some(e) = t.events.pop_front() {
                    t.purged_through = e.seq;
                }
            }
        }
    }

    /// A fresh random (version 4) UUID, lower-case hex with dashes.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        let a = (a & !0xF000) | 0x4000;
        let b = (b & !(0b11 << 62)) | (0b10 << 62);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

/// The opaque replay id of sequence `seq` \[DUR\].
pub(super) fn replay_id(seq: u64) -> Vec<u8> {
    let mut out = vec![REPLAY_PREFIX];
    out.extend_from_slice(&seq.saturating_mul(REPLAY_STEP).to_be_bytes());
    out
}

/// The sequence of a replay id this bus gave out, else `None`.
pub(super) fn parse_replay_id(bytes: &[u8]) -> Option<u64> {
    let (&prefix, rest) = bytes.split_first()?;
    let n = u64::from_be_bytes(rest.try_into().ok()?);
    (prefix == REPLAY_PREFIX && n % REPLAY_STEP == 0).then_some(n / REPLAY_STEP)
}
