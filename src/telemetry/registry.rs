//! The one registry type of both processes: the gateway's
//! [`Metrics`](super::metrics::Metrics) (`hookgate_*`) and the worker's
//! (`hookgate_worker_*`) each own one, with their own prefix, and the admin
//! listener serves its `encode` text. They run as
//! separate processes, so no name is registered twice in one registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Metric;

/// Metrics under one name prefix, encoded as OpenMetrics text.
#[derive(Debug)]
pub(crate) struct Registry(prometheus_client::registry::Registry);

impl Registry {
    /// An empty registry whose metric names all start with `{prefix}_`.
    pub(crate) fn with_prefix(prefix: &str) -> Self {
        Registry(prometheus_client::registry::Registry::with_prefix(prefix))
    }

    /// Registers `metric` (a handle: counters, gauges, families and
    /// histograms share their value with their clones) and returns it.
    pub(crate) fn add<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.0.register(name, help, metric.clone());
        metric
    }

    /// Registers a counter (its name gets `_total` in the text).
    pub(crate) fn counter(&mut self, name: &str, help: &str) -> Counter {
        self.add(name, help, Counter::default())
    }

    /// Registers counters by label set `L`.
    pub(crate) fn counters<L>(&mut self, name: &str, help: &str) -> Family<L, Counter>
    where
        L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
    {
        self.add(name, help, Family::default())
    }

    /// Registers an integer gauge.
    pub(crate) fn gauge(&mut self, name: &str, help: &str) -> Gauge {
        self.add(name, help, Gauge::default())
    }

    /// The OpenMetrics text of every registered metric.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn added_metrics_share_their_value_and_carry_the_prefix() {
        let mut r = Registry::with_prefix("hookgate_test");
        let c = r.counter("things", "Things");
        c.inc();
        let text = r.encode();
        assert!(
            text.contains("# HELP hookgate_test_things Things."),
            "{text}"
        );
        assert!(text.contains("hookgate_test_things_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
