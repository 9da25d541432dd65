//! The subscriber's section (`hookgate_pubsub_*` metrics, `hookgate
//! subscribe`): each subscription's state and counts, and why its streams
//! ended.

use std::collections::BTreeMap;

use super::html::{facts, flag, table, total, Cell, Mark};
use super::snapshot::{labels, Labels, View};

/// Writes the subscriber's sections.
pub(crate) fn render(v: &View<'_>, out: &mut String) {
    let c = &v.cur;
    if let Some(connected) = c.value("hookgate_pubsub_amqp_connected") {
        let (text, mark) = flag(connected, true);
        facts(
            out,
            "Broker",
            vec![("AMQP connected".to_owned(), text, mark)],
        );
    }
    subscriptions(v, out);
    ended(v, out);
}

/// One row per subscription: state, events, repeats, saves, gaps.
fn subscriptions(v: &View<'_>, out: &mut String) {
    let c = &v.cur;
    let mut rows = Vec::new();
    for (l, streaming) in c.series("hookgate_pubsub_streaming") {
        let name = l.get("subscription").map_or("", String::as_str);
        let one = |metric: &str| c.get(metric, l).unwrap_or(0.0);
        let state = if one("hookgate_pubsub_halted") != 0.0 {
            Cell::text("halted: see the log").marked(Mark::Bad)
        } else if one("hookgate_pubsub_standby") != 0.0 {
            Cell::text("standby")
        } else if streaming != 0.0 {
            Cell::text("streaming")
        } else {
            Cell::text("reopening").marked(Mark::Warn)
        };
        let decoded = labels(&[("subscription", name), ("reason", "decoded")]);
        let undecodable = labels(&[("subscription", name), ("reason", "undecodable")]);
        let events = "hookgate_pubsub_events_total";
        let gaps = one("hookgate_pubsub_replay_gaps_total");
        rows.push(vec![
            Cell::text(name),
            state,
            Cell::num(total(
                c.get(events, &decoded).unwrap_or(0.0),
                v.rate(events, &decoded),
            )),
            Cell::num(total(c.get(events, &undecodable).unwrap_or(0.0), None)),
            Cell::num(total(one("hookgate_pubsub_duplicates_total"), None)),
            Cell::num(total(one("hookgate_pubsub_commits_total"), None)),
            if gaps > 0.0 {
                Cell::num(total(gaps, None)).marked(Mark::Bad)
            } else {
                Cell::num(total(gaps, None))
            },
        ]);
    }
    table(
        out,
        "Subscriptions",
        &[
            "Subscription",
            "State",
            "Events",
            "Undecodable",
            "Repeated",
            "Saves",
            "Replay gaps",
        ],
        rows,
    );
}

/// Streams ended, by subscription and reason.
fn ended(v: &View<'_>, out: &mut String) {
    let mut by: BTreeMap<(String, String), (f64, Option<f64>)> = BTreeMap::new();
    let name = "hookgate_pubsub_streams_total";
    for (l, n) in v.cur.series(name) {
        let get = |k: &str, l: &Labels| l.get(k).cloned().unwrap_or_default();
        by.insert(
            (get("subscription", l), get("reason", l)),
            (n, v.rate(name, l)),
        );
    }
    let rows = by
        .into_iter()
        .map(|((s, r), (n, rate))| vec![Cell::text(s), Cell::text(r), Cell::num(total(n, rate))])
        .collect();
    table(
        out,
        "Streams ended",
        &["Subscription", "Reason", "Count"],
        rows,
    );
}
