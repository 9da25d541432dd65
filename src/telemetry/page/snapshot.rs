//! One reading of the metrics text: every plain sample by name and labels,
//! with the time it was taken. Two readings give rates.
//!
//! The text is read by `prometheus-parse`, which splits a label set on `,`
//! and `=`, so no label value may hold either: route, subscription and org
//! names are `[A-Za-z0-9_-]` words (config checks them:
//! `crate::config::is_word`); outcomes, reasons and slots are fixed words.

use std::collections::{BTreeMap, HashMap};

/// A sample's labels, sorted by name.
pub(crate) type Labels = BTreeMap<String, String>;

/// Every counter, gauge and histogram `_sum`/`_count` sample of one text
/// (histogram buckets are left out: the page shows means, not quantiles).
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Unix seconds when the text was produced.
    pub(crate) at: f64,
    series: HashMap<String, BTreeMap<Labels, f64>>,
}

impl Snapshot {
    /// Reads `text` (OpenMetrics or Prometheus text) taken at `at` (Unix
    /// seconds). Lines the parser does not understand are skipped: the page
    /// shows what it can read.
    pub(crate) fn parse(text: &str, at: f64) -> Snapshot {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let mut series: HashMap<String, BTreeMap<Labels, f64>> = HashMap::new();
        if let Ok(scrape) = prometheus_parse::Scrape::parse(lines) {
            for s in scrape.samples {
                let value = match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    prometheus_parse::Value::Histogram(_) | prometheus_parse::Value::Summary(_) => {
                        continue
                    }
                };
                let labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone()));
                series
                    .entry(s.metric)
                    .or_default()
                    .insert(labels.collect(), value);
            }
        }
        Snapshot { at, series }
    }

    /// True when some sample's name starts with `prefix`.
    pub(crate) fn has_prefix(&self, prefix: &str) -> bool {
        self.series.keys().any(|k| k.starts_with(prefix))
    }

    /// The samples named `name`, sorted by labels.
    pub(crate) fn series<'a>(&'a self, name: &str) -> impl Iterator<Item = (&'a Labels, f64)> {
        self.series
            .get(name)
            .into_iter()
            .flat_map(|m| m.iter().map(|(l, v)| (l, *v)))
    }

    /// The sample named `name` with exactly `labels`.
    pub(crate) fn get(&self, name: &str, labels: &Labels) -> Option<f64> {
        self.series.get(name).and_then(|m| m.get(labels)).copied()
    }

    /// The sample named `name` without labels.
    pub(crate) fn value(&self, name: &str) -> Option<f64> {
        self.get(name, &Labels::new())
    }
}

/// The latest snapshot and the one before it: totals come from `cur`,
/// per-second rates from the difference.
pub(crate) struct View<'a> {
    /// The reading being shown.
    pub(crate) cur: &'a Snapshot,
    /// The reading rates are measured from (none on the first view).
    pub(crate) prev: Option<&'a Snapshot>,
}

impl View<'_> {
    /// Seconds between the two readings, if there are two in order.
    pub(crate) fn interval(&self) -> Option<f64> {
        let dt = self.cur.at - self.prev?.at;
        (dt > 0.0).then_some(dt)
    }

    /// Per-second increase of counter `name{labels}` between the readings; a
    /// series absent before started at 0. None on the first view and after
    /// a counter reset (a restart).
    pub(crate) fn rate(&self, name: &str, labels: &Labels) -> Option<f64> {
        let dt = self.interval()?;
        let now = self.cur.get(name, labels)?;
        let before = self.prev?.get(name, labels).unwrap_or(0.0);
        (now >= before).then(|| (now - before) / dt)
    }

    /// Increase of `name` (no labels) between the readings.
    pub(crate) fn delta(&self, name: &str) -> Option<f64> {
        let now = self.cur.value(name)?;
        let before = self.prev?.value(name).unwrap_or(0.0);
        (now >= before).then_some(now - before)
    }

    /// Mean of a histogram `{base}_sum / {base}_count` over the interval
    /// (None without observations in it).
    pub(crate) fn recent_mean(&self, base: &str) -> Option<f64> {
        let n = self.delta(&format!("{base}_count"))?;
        let sum = self.delta(&format!("{base}_sum"))?;
        (n > 0.0).then(|| sum / n)
    }

    /// Mean of a histogram since the process started.
    pub(crate) fn mean(&self, base: &str) -> Option<f64> {
        let n = self.cur.value(&format!("{base}_count"))?;
        let sum = self.cur.value(&format!("{base}_sum"))?;
        (n > 0.0).then(|| sum / n)
    }
}

/// `{k: v, ...}` as [`Labels`].
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
