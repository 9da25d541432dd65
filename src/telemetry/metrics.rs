//! Prometheus metrics (prometheus-client, text exposition format).
//!
//! Names (all prefixed `hookgate_`): `requests_total{route,outcome}`,
//! `verification_failures_total{route,reason}`, `secret_matches_total{route,slot}`,
//! `secret_not_after_seconds{route,slot}` (gauge: a secret's `not_after`, Unix s),
//! `confirm_latency_seconds` (histogram: publish start to last confirm, per
//! request), `messages_published_total`, `publish_failures_total{reason}`,
//! `broker_connected` (1/0), `broker_blocked` (1/0), `broker_connections_total`,
//! `in_flight_requests`, `publish_channels_leased`, `unroutable_messages`,
//! `spool_messages`, `spool_bytes`,
//! `spool_oldest_age_seconds`, `spool_writes_total`, `spool_forwarded_total`
//! (its rate is the drain rate), `spool_full_total`, `spool_quarantined`,
//! `spool_quarantined_bytes`, `spool_quarantined_entries_total`,
//! `spool_healthy` (1/0: 0 while the spool file failed and is reopened),
//! `spool_file_bytes`, `replay_cache_healthy` (1/0),
//! `replay_cache_evicted_total` (marks dropped early to keep
//! `dedupe.max_bytes`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use super::registry::Registry;

/// `{route, outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// Route name, or `none` for unknown paths.
    pub(crate) route: String,
    /// What the request got (the server's outcome label: `accepted`,
    /// `bad_signature`, `too_large`, ...).
    pub(crate) outcome: &'static str,
}

/// `{route, reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FailureLabels {
    /// Route name.
    pub(crate) route: String,
    /// Failed check (`bad_signature`, `stale_timestamp`, `wrong_org`, ...).
    pub(crate) reason: &'static str,
}

/// `{route, slot}`: which configured secret verified.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SlotLabels {
    /// Route name.
    pub(crate) route: String,
    /// Index in the route's `secrets` list.
    pub(crate) slot: u32,
}

/// `{route}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    /// Route name.
    pub(crate) route: String,
}

/// `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    /// Why (`not_connected`, `timeout`, `nack`, ... for publishes;
    /// `max_connections`, `max_connections_per_ip` for refused connections).
    pub(crate) reason: &'static str,
}

/// The `outcome` label of a request whose messages the broker confirmed
/// (`server::respond`): the one a route's [`RouteCounters`] holds.
const ACCEPTED: &str = "accepted";

/// Secret slots whose `secret_matches_total` series a [`RouteCounters`]
/// holds (rotation keeps two or three; a later slot takes the family).
pub(crate) const CACHED_SLOTS: usize = 4;

/// One route's hottest series, each resolved from its family on first use
/// and then incremented directly (a [`Counter`] clone shares the series).
/// Built with the route's entry; a reload builds new, empty ones, which
/// resolve to the same series: counts carry on. A series appears in the
/// exposition when first counted, as through the family.
#[derive(Debug, Default)]
pub(crate) struct RouteCounters {
    /// `requests_total{route, outcome="accepted"}`.
    accepted: std::sync::OnceLock<Counter>,
    /// `secret_matches_total{route, slot}` for slots `0..CACHED_SLOTS`.
    slots: [std::sync::OnceLock<Counter>; CACHED_SLOTS],
}

/// Every metric of the gateway, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Requests by route and outcome.
    pub(crate) requests: Family<RequestLabels, Counter>,
    /// Verification failures by route and reason.
    pub(crate) verification_failures: Family<FailureLabels, Counter>,
    /// Which secret slot verified.
    pub(crate) secret_matches: Family<SlotLabels, Counter>,
    /// Seconds from the first publish of a request to its last confirm.
    pub(crate) confirm_latency: Histogram,
    /// Messages confirmed by the broker.
    pub(crate) messages_published: Counter,
    /// Publishes that did not end in a confirm, by reason.
    pub(crate) publish_failures: Family<ReasonLabels, Counter>,
    /// 1 while a broker connection is up.
    pub(crate) broker_connected: Gauge,
    /// 1 while the broker blocks the connection.
    pub(crate) broker_blocked: Gauge,
    /// Successful broker connections (first one included).
    pub(crate) broker_connections: Counter,
    /// Requests being handled now.
    pub in_flight: Gauge,
    /// Publishing channels leased now, one per publishing group (at most
    /// `amqp.channels` groups at once, `amqp.max_channels` channels with the
    /// ones whose confirms are overdue: such a lease holds its channel until
    /// they arrive or `confirm_timeout_ms` passes).
    pub publish_channels_leased: Gauge,
    /// Messages in the unroutable queue (behind the alternate exchange),
    /// read every second while connected.
    pub(crate) unroutable_messages: Gauge,
    /// Connections closed at accept, by reason.
    pub(crate) connections_refused: Family<ReasonLabels, Counter>,
    /// Idle keep-alive connections closed to give their per-client slot
    /// to a newer connection of the same client.
    pub(crate) idle_connections_closed: Counter,
    /// Repeats answered 2xx without a second publish (replay cache).
    pub(crate) duplicates: Family<RequestLabels, Counter>,
    /// Requests that found an identical request in flight (its replay
    /// claim) and waited for its outcome.
    pub(crate) claim_waits: Family<RouteLabels, Counter>,
    /// Messages in the spool.
    pub(crate) spool_messages: Gauge,
    /// Bytes in the spool.
    pub(crate) spool_bytes: Gauge,
    /// Age of the oldest spool entry in seconds (set at scrape time).
    pub(crate) spool_oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Messages written to the spool.
    pub(crate) spool_writes: Counter,
    /// Spool entries confirmed by the broker and removed.
    pub(crate) spool_forwarded: Counter,
    /// Writes refused because the spool was full.
    pub(crate) spool_full: Counter,
    /// Entries in the spool's quarantine (refused by the broker
    /// `spool.quarantine_after` times; kept until requeued or purged).
    pub(crate) spool_quarantined: Gauge,
    /// Bytes in the quarantine (they count toward `spool.max_bytes`).
    pub(crate) spool_quarantined_bytes: Gauge,
    /// Entries moved from the spool to the quarantine.
    pub(crate) spool_quarantined_entries: Counter,
    /// 1 while the spool file can be written, 0 from an I/O error until it
    /// was reopened (writes are refused meanwhile).
    pub(crate) spool_healthy: Gauge,
    /// Size of the spool file (what `spool.max_bytes` is checked against).
    pub(crate) spool_file_bytes: Gauge,
    /// 1 while the replay cache's file can be written, 0 from an I/O error
    /// until it was reopened (lookups miss meanwhile).
    pub(crate) replay_cache_healthy: Gauge,
    /// Replay-cache marks removed before their expiry because the file
    /// reached `dedupe.max_bytes` (earliest expiry first).
    pub(crate) replay_cache_evicted: Counter,
    /// Unix seconds after which a route's secret (by slot) no longer
    /// verifies (its `not_after`); secrets without one are not exported.
    pub(crate) secret_not_after: Family<SlotLabels, Gauge>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("hookgate");
        let metrics = Metrics {
            requests: r.counters("requests", "Requests by route and outcome"),
            verification_failures: r.counters("verification_failures", "Requests that failed verification, by reason"),
            secret_matches: r.counters("secret_matches", "Verified requests by the index of the secret that matched"),
            // 0.5 ms .. ~8 s.
            confirm_latency: r.add(
                "confirm_latency_seconds",
                "Time from publish to the last publisher confirm of a request",
                Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            ),
            messages_published: r.counter("messages_published", "Messages confirmed by the broker"),
            publish_failures: r.counters("publish_failures", "Publishes not confirmed, by reason"),
            broker_connected: r.gauge("broker_connected", "1 while the broker connection is up"),
            broker_blocked: r.gauge("broker_blocked", "1 while the broker blocks publishing (connection.blocked)"),
            broker_connections: r.counter("broker_connections", "Broker connections established"),
            in_flight: r.gauge("in_flight_requests", "Requests being handled"),
            publish_channels_leased: r.gauge("publish_channels_leased", "Publishing channels leased to a group of requests or awaiting late confirms"),
            unroutable_messages: r.gauge("unroutable_messages", "Messages no binding routed, kept in the unroutable queue"),
            connections_refused: r.counters("connections_refused", "Connections closed at accept, by reason"),
            idle_connections_closed: r.counter("idle_connections_closed", "Idle keep-alive connections closed to make room for a newer one of the same client"),
            duplicates: r.counters("duplicates", "Repeated deliveries answered without a second publish"),
            claim_waits: r.counters("replay_claim_waits", "Requests that waited for an identical request in flight"),
            spool_messages: r.gauge("spool_messages", "Messages in the spool"),
            spool_bytes: r.gauge("spool_bytes", "Bytes in the spool"),
            spool_oldest_age: r.add(
                "spool_oldest_age_seconds",
                "Age of the oldest spooled message",
                Gauge::default(),
            ),
            spool_writes: r.counter("spool_writes", "Messages written to the spool"),
            spool_forwarded: r.counter("spool_forwarded", "Spooled messages confirmed by the broker and removed"),
            spool_full: r.counter("spool_full", "Writes refused: spool full"),
            spool_quarantined: r.gauge("spool_quarantined", "Spool entries in the quarantine, no longer forwarded"),
            spool_quarantined_bytes: r.gauge("spool_quarantined_bytes", "Bytes in the spool's quarantine"),
            spool_quarantined_entries: r.counter("spool_quarantined_entries", "Spool entries moved to the quarantine after repeated refusals"),
            spool_healthy: r.gauge("spool_healthy", "1 while the spool file can be written, 0 while it is reopened after an I/O error"),
            spool_file_bytes: r.gauge("spool_file_bytes", "Size of the spool file, checked against spool.max_bytes"),
            replay_cache_healthy: r.gauge("replay_cache_healthy", "1 while the replay cache file can be written, 0 while it is reopened after an I/O error"),
            replay_cache_evicted: r.counter("replay_cache_evicted", "Replay cache marks removed before expiry to keep dedupe.max_bytes"),
            secret_not_after: r.add(
                "secret_not_after_seconds",
                "Unix time after which a route's secret no longer verifies (its not_after), by route and slot",
                Family::default(),
            ),
            registry: r,
        };
        metrics.spool_healthy.set(1);
        metrics.replay_cache_healthy.set(1);
        metrics
    }

    /// Counts a request in `in_flight_requests` until the returned guard is
    /// dropped.
    pub(crate) fn in_flight_request(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Sets `secret_not_after_seconds` to exactly `expiries` (route, slot,
    /// Unix seconds): the routes' secrets with a `not_after`, at start and
    /// after each reload (a secret removed by a reload disappears).
    pub(crate) fn set_secret_expiries(
        &self,
        expiries: impl IntoIterator<Item = (String, u32, i64)>,
    ) {
        self.secret_not_after.clear();
        for (route, slot, at) in expiries {
            self.secret_not_after
                .get_or_create(&SlotLabels { route, slot })
                .set(at);
        }
    }

    /// Counts one finished request.
    pub(crate) fn request(&self, route: &str, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts one finished request of the route whose `counters` these are:
    /// as [`Metrics::request`], but an `accepted` one increments the series
    /// `counters` resolved on the route's first (no label set built, hashed
    /// and looked up per request: with [`Metrics::route_secret_match`] ~700
    /// instructions per request, docs/performance.md "Session 15").
    pub(crate) fn route_request(
        &self,
        counters: &RouteCounters,
        route: &str,
        outcome: &'static str,
    ) {
        if outcome != ACCEPTED {
            return self.request(route, outcome);
        }
        counters
            .accepted
            .get_or_init(|| {
                self.requests.get_or_create_owned(&RequestLabels {
                    route: route.to_owned(),
                    outcome,
                })
            })
            .inc();
    }

    /// As [`Metrics::secret_match`], through the series `counters` resolved
    /// on the slot's first match (the first [`CACHED_SLOTS`] slots).
    pub(crate) fn route_secret_match(&self, counters: &RouteCounters, route: &str, slot: usize) {
        let Some(cell) = counters.slots.get(slot) else {
            return self.secret_match(route, slot);
        };
        cell.get_or_init(|| {
            self.secret_matches.get_or_create_owned(&SlotLabels {
                route: route.to_owned(),
                slot: u32::try_from(slot).unwrap_or(u32::MAX),
            })
        })
        .inc();
    }

    /// Counts one verification failure.
    pub(crate) fn verification_failure(&self, route: &str, reason: &'static str) {
        self.verification_failures
            .get_or_create(&FailureLabels {
                route: route.to_owned(),
                reason,
            })
            .inc();
    }

    /// Counts which secret slot verified.
    pub(crate) fn secret_match(&self, route: &str, slot: usize) {
        self.secret_matches
            .get_or_create(&SlotLabels {
                route: route.to_owned(),
                slot: u32::try_from(slot).unwrap_or(u32::MAX),
            })
            .inc();
    }

    /// Counts a connection closed at accept (`max_connections`,
    /// `max_connections_per_ip`).
    pub(crate) fn connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts an idle connection closed for a newer one at the per-client
    /// cap.
    pub(crate) fn idle_connection_closed(&self) {
        self.idle_connections_closed.inc();
    }

    /// Counts a repeat answered without a second publish.
    pub(crate) fn duplicate(&self, route: &str) {
        self.duplicates
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                outcome: "duplicate",
            })
            .inc();
    }

    /// Counts a request that waits for an identical one in flight.
    pub(crate) fn claim_wait(&self, route: &str) {
        self.claim_waits
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .inc();
    }

    /// Counts one failed publish.
    pub(crate) fn publish_failure(&self, reason: &'static str) {
        self.publish_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Sets `broker_connected` and `broker_blocked` (a blocked connection is
    /// still connected).
    pub(crate) fn broker_state(&self, connected: bool, blocked: bool) {
        self.broker_connected.set(i64::from(connected));
        self.broker_blocked.set(i64::from(blocked));
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn encode(&self) -> String {
        self.registry.encode()
    }
}

/// One request counted in `in_flight_requests`, from
/// [`Metrics::in_flight_request`] until dropped: when the request ends, when
/// hyper drops it (client gone while it waited for the broker, stream reset)
/// and when it panics (unwinding), so the gauge cannot leak.
#[must_use = "the request counts as in flight only while this is held"]
pub(crate) struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{Metrics, RequestLabels, RouteCounters, SlotLabels, CACHED_SLOTS};

    fn requests(m: &Metrics, route: &str, outcome: &'static str) -> u64 {
        m.requests
            .get(&RequestLabels {
                route: route.into(),
                outcome,
            })
            .map_or(0, |c| c.get())
    }

    fn matches(m: &Metrics, route: &str, slot: u32) -> u64 {
        m.secret_matches
            .get(&SlotLabels {
                route: route.into(),
                slot,
            })
            .map_or(0, |c| c.get())
    }

    #[test]
    fn route_counters_count_the_series_the_families_count() {
        let m = Metrics::new();
        let before_reload = RouteCounters::default();
        for _ in 0..3 {
            m.route_request(&before_reload, "a", "accepted");
        }
        m.request("a", "accepted");
        m.route_request(&before_reload, "a", "duplicate");
        m.route_request(&before_reload, "a", "bad_signature");
        // A reload: new counters for the same route resolve the same series.
        let after_reload = RouteCounters::default();
        m.route_request(&after_reload, "a", "accepted");
        m.route_request(&RouteCounters::default(), "b", "accepted");
        assert_eq!(requests(&m, "a", "accepted"), 5);
        assert_eq!(requests(&m, "a", "duplicate"), 1);
        assert_eq!(requests(&m, "a", "bad_signature"), 1);
        assert_eq!(requests(&m, "b", "accepted"), 1);
        for slot in [0, 1, CACHED_SLOTS - 1, CACHED_SLOTS, CACHED_SLOTS + 3] {
            m.route_secret_match(&before_reload, "a", slot);
            m.route_secret_match(&after_reload, "a", slot);
            m.secret_match("a", slot);
            assert_eq!(matches(&m, "a", slot as u32), 3, "slot {slot}");
        }
        let text = m.encode();
        assert!(
            text.contains(r#"hookgate_requests_total{route="a",outcome="accepted"} 5"#),
            "{text}"
        );
    }

    #[test]
    fn in_flight_guard_decrements_on_drop_and_on_unwind() {
        let m = Metrics::new();
        let a = m.in_flight_request();
        let b = m.in_flight_request();
        assert_eq!(m.in_flight.get(), 2);
        drop(a);
        assert_eq!(m.in_flight.get(), 1);
        drop(b);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.in_flight_request();
            panic!("handler panicked");
        }));
        assert!(unwound.is_err());
        assert_eq!(m.in_flight.get(), 0);
    }
}
