//! The worker's metrics (prefix `hookgate_worker_`): `processed_total`,
//! `duplicates_total`, `retried_total`, `dead_lettered_total{reason}`,
//! `unmatched_total`, `deferred_total`, `skipped_total{reason}` (`loop_guard`), `api_calls_total`, `token_requests_total`,
//! `records_per_call` (histogram), `batch_latency_seconds` (histogram),
//! `api_usage_ratio{org}` (gauge, from `Sforce-Limit-Info`), `paused{org,reason}`
//! (1 while writing to that org is paused for that reason: `auth`,
//! `maintenance`, `request_limit`, `budget`, `unavailable`), `amqp_connected`,
//! `idempotency_evicted_total` (done marks the embedded idempotency store
//! removed before their expiry to stay within `max_bytes`),
//! `sessions_ended_total{reason}` (consume sessions that ended on an error
//! and reconnected: `amqp`, `publish`, `store`, `pause`, `unfit`, `lane`), and for Bulk
//! API 2.0: `bulk_jobs_total{state}`, `bulk_fallbacks_total{reason}`,
//! `bulk_records_per_job` (histogram), `path_api_calls_total{path}` and
//! `path_records_total{path}` (`collections`, `bulk`: API calls per 1,000
//! records by path is their ratio).
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

/// `{org, reason}` of `paused`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PauseLabels {
    /// The org's `name`.
    pub(crate) org: String,
    /// Why.
    pub(crate) reason: String,
}

/// `{org}`: the org's `name`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OrgLabels {
    /// The org's `name`.
    pub(crate) org: String,
}

/// `{state}` of `bulk_jobs`: a job's final state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `JobComplete`, `Failed`, `Aborted`, `lost` (its state could not be
    /// read).
    pub state: String,
}

/// `{path}` of `path_api_calls` and `path_records`: `collections` or `bulk`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    /// The write path.
    pub path: String,
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
    /// Messages of a paused org handed to the first retry queue (no attempt
    /// spent) because its lane was full; several orgs only.
    pub deferred: Counter,
    /// Messages acked without a write on purpose, by reason (`loop_guard`).
    pub skipped: Family<ReasonLabels, Counter>,
    /// Consume sessions that ended on an error (the worker gave the
    /// connection up and reconnected; unacked deliveries come back), by
    /// cause (`SessionError::label`).
    pub(crate) sessions_ended: Family<ReasonLabels, Counter>,
    /// Salesforce calls (shared with the REST client).
    pub(crate) sf: Counters,
    /// Records per collections call.
    pub(crate) records_per_call: Histogram,
    /// Seconds from a batch's first message to its outcome.
    pub(crate) batch_latency: Histogram,
    /// Each org's last `used/limit`.
    api_usage_ratio: Family<OrgLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// 1 while writing to an org is paused, by org and reason (at most one
    /// reason per org at a time).
    pub(crate) paused: Family<PauseLabels, Gauge>,
    /// The orgs `paused` exports every reason of.
    orgs: std::sync::Mutex<Vec<String>>,
    /// 1 while the AMQP connection is up.
    pub amqp_connected: Gauge,
    /// Done marks the embedded idempotency store removed before their
    /// expiry, earliest expiry first, to stay within
    /// `worker.idempotency.max_bytes`.
    pub(crate) idempotency_evicted: Counter,
    /// Bulk API 2.0 ingest jobs ended, by final state.
    pub bulk_jobs: Family<StateLabels, Counter>,
    /// Gathered backlogs written by collections calls instead of a job, by
    /// reason (`below_threshold`, `batch_allocation`, `refused`).
    pub bulk_fallbacks: Family<ReasonLabels, Counter>,
    /// Records per ingest job.
    pub(crate) bulk_records_per_job: Histogram,
    /// Salesforce API calls by write path (`collections`, `bulk`; token
    /// requests and start-up checks not included).
    pub path_api_calls: Family<PathLabels, Counter>,
    /// Records written (marked done) by write path.
    pub path_records: Family<PathLabels, Counter>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub(crate) fn new() -> Self {
        let mut r = Registry::with_prefix("hookgate_worker");
        let processed = r.counter("processed", "Messages applied and acked");
        let duplicates = r.counter("duplicates", "Messages already done, acked without a call");
        let retried = r.counter("retried", "Messages sent to a retry queue");
        let dead_lettered = r.counters("dead_lettered", "Messages dead-lettered, by reason");
        let unmatched = r.counter("unmatched", "Messages no action matched");
        let deferred = r.counter(
            "deferred",
            "Messages of a paused org sent to the first retry queue, no attempt spent",
        );
        let skipped = r.counters("skipped", "Messages acked without a write, by reason");
        let sessions_ended = r.counters("sessions_ended", "Sessions ended on an error, by cause");
        let sf = Counters {
            api_calls: r.counter("api_calls", "Salesforce data API calls"),
            token_requests: r.counter("token_requests", "Salesforce token requests"),
        };
        Metrics {
            processed,
            duplicates,
            retried,
            dead_lettered,
            unmatched,
            deferred,
            skipped,
            sessions_ended,
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
                "Each org's last Sforce-Limit-Info used/limit",
                Family::default(),
            ),
            paused: r.add(
                "paused",
                "1 while writing to an org is paused, by org and reason",
                Family::default(),
            ),
            orgs: std::sync::Mutex::default(),
            amqp_connected: r.gauge("amqp_connected", "1 while the AMQP connection is up"),
            idempotency_evicted: r.counter(
                "idempotency_evicted",
                "Done marks removed before their expiry to stay within max_bytes",
            ),
            bulk_jobs: r.add(
                "bulk_jobs",
                "Bulk API 2.0 ingest jobs ended, by final state",
                Family::default(),
            ),
            bulk_fallbacks: r.counters(
                "bulk_fallbacks",
                "Gathered backlogs written by collections calls instead of a job, by reason",
            ),
            bulk_records_per_job: r.add(
                "bulk_records_per_job",
                "Records per Bulk API 2.0 ingest job",
                Histogram::new(exponential_buckets(1000.0, 2.0, 10)),
            ),
            path_api_calls: r.add(
                "path_api_calls",
                "Salesforce API calls by write path (collections, bulk)",
                Family::default(),
            ),
            path_records: r.add(
                "path_records",
                "Records written by write path (collections, bulk)",
                Family::default(),
            ),
            registry: r,
        }
    }

    /// Counts one API call on write path `path`.
    pub(crate) fn path_call(&self, path: &str) {
        self.path_api_calls
            .get_or_create(&PathLabels {
                path: path.to_owned(),
            })
            .inc();
    }

    /// Counts `n` records written on write path `path`.
    pub(crate) fn path_written(&self, path: &str, n: usize) {
        self.path_records
            .get_or_create(&PathLabels {
                path: path.to_owned(),
            })
            .inc_by(n as u64);
    }

    /// Counts one job ended in `state`.
    pub(crate) fn bulk_job(&self, state: &str) {
        self.bulk_jobs
            .get_or_create(&StateLabels {
                state: state.to_owned(),
            })
            .inc();
    }

    /// Counts one gathered backlog written by collections calls.
    pub(crate) fn bulk_fallback(&self, reason: &str) {
        count(&self.bulk_fallbacks, reason);
    }

    /// Exports `paused{org, reason}` = 0 for every reason of `org`.
    pub(crate) fn register_org(&self, org: &str) {
        self.org_names().push(org.to_owned());
        self.set_paused(org, None);
    }

    fn org_names(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.orgs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets `org`'s `api_usage_ratio{org}`: `ratio` is the `Sforce-Limit-Info`
    /// item closest to its limit, used / limit (0.0 ..= 1.0, above 1.0 when
    /// over).
    pub(crate) fn api_usage(&self, org: &str, ratio: f64) {
        self.api_usage_ratio
            .get_or_create(&OrgLabels {
                org: org.to_owned(),
            })
            .set(ratio);
    }

    /// Sets `org`'s `paused{org, reason}` gauges: 1 for `reason` (if any),
    /// 0 for the others.
    pub(crate) fn set_paused(&self, org: &str, reason: Option<&str>) {
        for r in PAUSE_REASONS {
            let v = i64::from(reason == Some(*r));
            self.paused
                .get_or_create(&PauseLabels {
                    org: org.to_owned(),
                    reason: (*r).to_owned(),
                })
                .set(v);
        }
    }

    /// `paused{org, reason}` now.
    pub fn paused_in(&self, org: &str, reason: &str) -> i64 {
        self.paused
            .get_or_create(&PauseLabels {
                org: org.to_owned(),
                reason: reason.to_owned(),
            })
            .get()
    }

    /// 1 when some org is paused for `reason`.
    pub fn paused(&self, reason: &str) -> i64 {
        let orgs = self.org_names().clone();
        i64::from(orgs.iter().any(|o| self.paused_in(o, reason) == 1))
    }

    /// The reason some org is paused for, if one is (the first org's first).
    pub fn paused_reason(&self) -> Option<&'static str> {
        PAUSE_REASONS.iter().copied().find(|r| self.paused(r) == 1)
    }

    /// Counts one message acked without a write for `reason`.
    pub fn skip(&self, reason: &str) {
        count(&self.skipped, reason);
    }

    /// Counts one consume session ended on an error of kind `reason`.
    pub(crate) fn session_ended(&self, reason: &str) {
        count(&self.sessions_ended, reason);
    }

    /// Counts one dead-lettered message.
    pub fn dead_letter(&self, reason: &str) {
        count(&self.dead_lettered, reason);
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        self.registry.encode()
    }
}

/// Counts one event of `reason` in `family`.
fn count(family: &Family<ReasonLabels, Counter>, reason: &str) {
    family
        .get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;
    use crate::telemetry::page::History;

    /// The operations page knows these metrics by name: a renamed one would
    /// drop its row silently.
    #[test]
    fn the_ops_page_shows_every_worker_section() {
        let m = Metrics::new();
        m.register_org("main");
        m.set_paused("main", Some("budget"));
        m.amqp_connected.set(1);
        m.api_usage("main", 0.5);
        m.processed.inc_by(7);
        m.dead_letter("INVALID_FIELD");
        m.bulk_job("JobComplete");
        m.path_call("bulk");
        m.path_written("bulk", 2000);
        let page = History::default().render(&m.encode(), 1_796_515_200.0);
        for want in [
            "<h1>hookgate worker</h1>",
            "<td>main</td><td class=\"bad\">paused: budget</td>",
            "<td>AMQP connected</td><td class=\"n\">yes</td>",
            "50.0 % used, 50.0 % left",
            "<td>Processed (written and acked)</td><td class=\"n\">7</td>",
            "<td>INVALID_FIELD</td><td class=\"n\">1</td>",
            "<td>JobComplete</td><td class=\"n\">1</td>",
            "<td>bulk</td><td class=\"n\">2000</td><td class=\"n\">1</td><td class=\"n\">0.5</td>",
        ] {
            assert!(page.contains(want), "no {want:?} in {page}");
        }
    }
}
