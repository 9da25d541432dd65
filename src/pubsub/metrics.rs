//! The subscriber's metrics (prefix `hookgate_pubsub_`), all labelled by
//! `subscription`:
//! - `events_total{reason}`: events published with a publisher confirm,
//!   `reason` = `decoded` (JSON body) or `undecodable` (the raw Avro
//!   payload, `avro/binary`);
//! - `duplicates_total`: events confirmed whose replay id could not be
//!   committed (a failed batch or save): they are published again after the
//!   stream is reopened;
//! - `commits_total`: replay ids saved; `keepalive_commits_total` of them
//!   from a keepalive's `latest_replay_id`;
//! - `fetch_requests_total`, `streams_total{reason}` (why a stream ended:
//!   `silence`, `closed`, `auth`, `broker`, `store`, `schema`, or the
//!   Salesforce error code's last words, e.g. `service.unavailable`);
//! - `replay_gaps_total`: a stored replay id Salesforce refused as too old
//!   (`replayid.corrupted`) - events may have been lost there;
//! - `streaming` (gauge, 1 while a stream is open), `halted` (gauge, 1 when
//!   the subscription stopped and needs an operator, docs/pubsub.md);
//! - `standby` (gauge, 1 while another instance of a fleet sharing the
//!   Redis store holds the subscription's lease);
//! - `amqp_connected` (gauge, the process's).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::broker::{Observe, Status};
use crate::telemetry::registry::Registry;

/// `{subscription}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubLabels {
    /// The subscription's name.
    pub subscription: String,
}

/// `{subscription, outcome|reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubReasonLabels {
    /// The subscription's name.
    pub subscription: String,
    /// The outcome or reason.
    pub reason: String,
}

/// Every metric of the subscriber process.
pub struct Metrics {
    registry: Registry,
    pub(crate) events: Family<SubReasonLabels, Counter>,
    pub(crate) duplicates: Family<SubLabels, Counter>,
    pub(crate) commits: Family<SubLabels, Counter>,
    pub(crate) keepalive_commits: Family<SubLabels, Counter>,
    pub(crate) fetch_requests: Family<SubLabels, Counter>,
    pub(crate) streams: Family<SubReasonLabels, Counter>,
    pub(crate) replay_gaps: Family<SubLabels, Counter>,
    pub(crate) streaming: Family<SubLabels, Gauge>,
    pub(crate) halted: Family<SubLabels, Gauge>,
    pub(crate) standby: Family<SubLabels, Gauge>,
    pub(crate) amqp_connected: Gauge,
    connected: AtomicBool,
    halted_count: AtomicUsize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("hookgate_pubsub");
        let events = r.counters(
            "events",
            "Events published with a publisher confirm, by reason (decoded, undecodable)",
        );
        let duplicates = r.counters(
            "duplicates",
            "Events confirmed but not committed: published again after the stream reopens",
        );
        let commits = r.counters("commits", "Replay ids saved");
        let keepalive_commits = r.counters(
            "keepalive_commits",
            "Replay ids saved from a keepalive's latest_replay_id",
        );
        let fetch_requests = r.counters("fetch_requests", "FetchRequests sent");
        let streams = r.counters("streams", "Subscribe streams ended, by reason");
        let replay_gaps = r.counters(
            "replay_gaps",
            "Stored replay ids refused as older than the retention (events may be lost)",
        );
        let streaming = r.add(
            "streaming",
            "1 while the subscription's stream is open",
            Family::default(),
        );
        let halted = r.add(
            "halted",
            "1 when the subscription stopped and needs an operator",
            Family::default(),
        );
        let standby = r.add(
            "standby",
            "1 while another instance holds the subscription's lease (Redis store)",
            Family::default(),
        );
        let amqp_connected = r.gauge("amqp_connected", "1 while the broker connection is up");
        Metrics {
            registry: r,
            events,
            duplicates,
            commits,
            keepalive_commits,
            fetch_requests,
            streams,
            replay_gaps,
            streaming,
            halted,
            standby,
            amqp_connected,
            connected: AtomicBool::new(false),
            halted_count: AtomicUsize::new(0),
        }
    }

    /// `{subscription}`.
    pub(crate) fn sub(name: &str) -> SubLabels {
        SubLabels {
            subscription: name.to_owned(),
        }
    }

    /// `{subscription, reason}`.
    pub(crate) fn reason(name: &str, reason: &str) -> SubReasonLabels {
        SubReasonLabels {
            subscription: name.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Registers a subscription's series at 0 so they show before the first
    /// event.
    pub(crate) fn register(&self, name: &str) {
        let l = Self::sub(name);
        for f in [&self.duplicates, &self.commits, &self.replay_gaps] {
            let _ = f.get_or_create(&l);
        }
        self.streaming.get_or_create(&l).set(0);
        self.halted.get_or_create(&l).set(0);
        let _ = self.events.get_or_create(&Self::reason(name, "decoded"));
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        self.registry.encode()
    }

    /// Whether any subscription halted.
    pub fn any_halted(&self) -> bool {
        self.halted_count.load(Ordering::Acquire) > 0
    }

    /// Marks `name` halted (its gauge and the readiness count).
    pub(crate) fn halt(&self, name: &str) {
        self.halted.get_or_create(&Self::sub(name)).set(1);
        self.halted_count.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the broker connection is up.
    pub fn broker_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

impl Observe for Metrics {
    fn status(&self, status: Status) {
        let up = status == Status::Connected;
        self.connected.store(up, Ordering::Release);
        self.amqp_connected.set(i64::from(up));
    }
}
