//! The worker's metrics (prefix `hookgate_worker_`): `processed_total`,
//! `duplicates_total`, `retried_total`, `dead_lettered_total{reason}`,
//! `unmatched_total`, `api_calls_total`, `token_requests_total`,
//! `records_per_call` (histogram), `batch_latency_seconds` (histogram),
//! `api_usage_ratio` (gauge, from `Sforce-Limit-Info`), `paused{reason}` (1
//! while consumption is paused for that reason: `auth`, `maintenance`,
//! `request_limit`, `budget`, `unavailable`), `amqp_connected`,
//! `idempotency_evicted_total` (done marks the embedded idempotency store
//! removed before their expiry to stay within `max_bytes`).
//!
//! Registered in the worker's own `Registry` (the type the gateway's
//! metrics use too); the worker's admin listener serves its text.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::salesforce::rest::client::Counters;
use crate::telemetry::registry::Registry;

/// `{reason}` of a dead-lettered message: the Salesforce error code,
/// `unmatched`, `malformed`, `max_attempts`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: String,
}

/// Every `{reason}` of `paused`.
pub const PAUSE_REASONS: &[&str] = &[
    "auth",
    "maintenance",
    "request_limit",
    "budget",
    "unavailable",
];

/// Every worker metric.
pub struct Metrics {
    registry: Registry,
    /// Messages applied in Salesforce and acked.
    pub processed: Counter,
    /// Messages acked without a call because they were already done.
    pub duplicates: Counter,
    /// Messages sent to a retry queue.
    pub retried: Counter,
    /// Messages dead-lettered, by reason.
    pub dead_lettered: Family<ReasonLabels, Counter>,
    /// Messages no action matched.
    pub unmatched: Counter,
    /// Salesforce calls (shared with the REST client).
    pub sf: Counters,
    /// Records per collections call.
    pub records_per_call: Histogram,
    /// Seconds from a batch's first message to its outcome.
    pub batch_latency: Histogram,
    /// Last `used/limit`.
    pub api_usage_ratio: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// 1 while consumption is paused, by reason (at most one at a time).
    pub paused: Family<ReasonLabels, Gauge>,
    /// 1 while the AMQP connection is up.
    pub amqp_connected: Gauge,
    /// Done marks the embedded idempotency store removed before their
    /// expiry, earliest expiry first, to stay within
    /// `worker.idempotency.max_bytes`.
    pub idempotency_evicted: Counter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("hookgate_worker");
        let processed = r.counter("processed", "Messages applied and acked");
        let duplicates = r.counter("duplicates", "Messages already done, acked without a call");
        let retried = r.counter("retried", "Messages sent to a retry queue");
        let dead_lettered = r.counters("dead_lettered", "Messages dead-lettered, by reason");
        let unmatched = r.counter("unmatched", "Messages no action matched");
        let sf = Counters {
            api_calls: r.counter("api_calls", "Salesforce data API calls"),
            token_requests: r.counter("token_requests", "Salesforce token requests"),
        };
        let m = Metrics {
            processed,
            duplicates,
            retried,
            dead_lettered,
            unmatched,
            sf,
            records_per_call: r.add(
                "records_per_call",
                "Records per sObject Collections call",
                Histogram::new([1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 150.0, 200.0]),
            ),
            batch_latency: r.add(
                "batch_latency_seconds",
                "From a batch's first message to its outcome",
                Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            ),
            api_usage_ratio: r.add(
                "api_usage_ratio",
                "Last Sforce-Limit-Info used/limit",
                Gauge::default(),
            ),
            paused: r.add(
                "paused",
                "1 while consumption is paused, by reason",
                Family::default(),
            ),
            amqp_connected: r.gauge("amqp_connected", "1 while the AMQP connection is up"),
            idempotency_evicted: r.counter(
                "idempotency_evicted",
                "Done marks removed before their expiry to stay within max_bytes",
            ),
            registry: r,
        };
        m.set_paused(None);
        m
    }

    /// Sets the `paused{reason}` gauges: 1 for `reason` (if any), 0 for the
    /// others.
    pub fn set_paused(&self, reason: Option<&str>) {
        for r in PAUSE_REASONS {
            let v = i64::from(reason == Some(*r));
            self.paused
                .get_or_create(&ReasonLabels {
                    reason: (*r).to_owned(),
                })
                .set(v);
        }
    }

    /// `paused{reason}` now.
    pub fn paused(&self, reason: &str) -> i64 {
        self.paused
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .get()
    }

    /// The reason consumption is paused for, if it is.
    pub fn paused_reason(&self) -> Option<&'static str> {
        PAUSE_REASONS.iter().copied().find(|r| self.paused(r) == 1)
    }

    /// Counts one dead-lettered message.
    pub fn dead_letter(&self, reason: &str) {
        self.dead_lettered
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        self.registry.encode()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
