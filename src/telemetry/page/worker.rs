//! The worker's sections (`hookgate_worker_*` metrics): connection and
//! pauses, API usage, messages, dead letters by reason, Bulk API jobs.

use std::collections::BTreeMap;

use super::html::{facts, flag, num, rate, table, total, Cell, Mark};
use super::snapshot::{Labels, View};

/// API usage (`used/limit`) from which the ratio is highlighted.
const USAGE_WARN: f64 = 0.8;

/// Writes every worker section the metrics have.
pub(crate) fn render(v: &View<'_>, out: &mut String) {
    orgs(v, out);
    api(v, out);
    messages(v, out);
    by_label(
        v,
        out,
        "Dead-lettered by reason",
        "hookgate_worker_dead_lettered_total",
        "reason",
    );
    bulk(v, out);
}

fn label<'a>(l: &'a Labels, name: &str) -> &'a str {
    l.get(name).map_or("", String::as_str)
}

/// Each org's pause state (running, or paused and why) and API usage (its
/// last `Sforce-Limit-Info`, marked from [`USAGE_WARN`]; `–` before the
/// first answer).
fn orgs(v: &View<'_>, out: &mut String) {
    let mut by_org: BTreeMap<&str, (Vec<&str>, Option<f64>)> = BTreeMap::new();
    for (l, on) in v.cur.series("hookgate_worker_paused") {
        let (reasons, _) = by_org.entry(label(l, "org")).or_default();
        if on != 0.0 {
            reasons.push(label(l, "reason"));
        }
    }
    for (l, ratio) in v.cur.series("hookgate_worker_api_usage_ratio") {
        by_org.entry(label(l, "org")).or_default().1 = Some(ratio);
    }
    let rows = by_org
        .into_iter()
        .map(|(org, (reasons, ratio))| {
            let state = if reasons.is_empty() {
                Cell::text("running")
            } else {
                Cell::text(format!("paused: {}", reasons.join(", "))).marked(Mark::Bad)
            };
            let usage = match ratio {
                None => Cell::text("–"),
                Some(r) => Cell::text(format!(
                    "{:.1} % used, {:.1} % left",
                    r * 100.0,
                    (1.0 - r).max(0.0) * 100.0
                ))
                .marked(if r >= USAGE_WARN {
                    Mark::Warn
                } else {
                    Mark::None
                }),
            };
            vec![Cell::text(org), state, usage]
        })
        .collect();
    table(
        out,
        "Orgs",
        &["Org", "Writing", "API usage (last Sforce-Limit-Info)"],
        rows,
    );
}

/// AMQP connection and calls.
fn api(v: &View<'_>, out: &mut String) {
    let c = &v.cur;
    let Some(connected) = c.value("hookgate_worker_amqp_connected") else {
        return;
    };
    let none = Labels::new();
    let (conn, mark) = flag(connected, true);
    let mut rows = vec![("AMQP connected".to_owned(), conn, mark)];
    for (key, name) in [
        ("API calls", "hookgate_worker_api_calls_total"),
        ("Token requests", "hookgate_worker_token_requests_total"),
    ] {
        if let Some(n) = c.value(name) {
            rows.push((key.to_owned(), total(n, v.rate(name, &none)), Mark::None));
        }
    }
    facts(out, "Salesforce API", rows);
}

/// Message counts and batch means.
fn messages(v: &View<'_>, out: &mut String) {
    let c = &v.cur;
    let none = Labels::new();
    let mut rows = Vec::new();
    for (key, name) in [
        (
            "Processed (written and acked)",
            "hookgate_worker_processed_total",
        ),
        (
            "Already done (acked, no call)",
            "hookgate_worker_duplicates_total",
        ),
        ("Retried", "hookgate_worker_retried_total"),
        ("Unmatched", "hookgate_worker_unmatched_total"),
        ("Deferred (paused org)", "hookgate_worker_deferred_total"),
        (
            "Idempotency marks evicted",
            "hookgate_worker_idempotency_evicted_total",
        ),
    ] {
        if let Some(n) = c.value(name) {
            rows.push((key.to_owned(), total(n, v.rate(name, &none)), Mark::None));
        }
    }
    for (l, n) in c.series("hookgate_worker_skipped_total") {
        let r = v.rate("hookgate_worker_skipped_total", l);
        rows.push((
            format!("Skipped: {}", label(l, "reason")),
            total(n, r),
            Mark::None,
        ));
    }
    if let Some(s) = v.mean("hookgate_worker_batch_latency_seconds") {
        rows.push((
            "Batch latency, mean".to_owned(),
            format!("{:.1} ms", s * 1000.0),
            Mark::None,
        ));
    }
    if let Some(n) = v.mean("hookgate_worker_records_per_call") {
        rows.push((
            "Records per collections call, mean".to_owned(),
            format!("{n:.1}"),
            Mark::None,
        ));
    }
    facts(out, "Messages", rows);
}

/// One counter family by one label: label, total, rate.
fn by_label(v: &View<'_>, out: &mut String, title: &str, name: &str, key: &str) {
    let rows = v
        .cur
        .series(name)
        .map(|(l, n)| {
            vec![
                Cell::text(label(l, key)),
                Cell::num(num(n)),
                Cell::num(rate(v.rate(name, l))),
            ]
        })
        .collect();
    let head = [key, "Total", "Per second"];
    table(out, title, &head, rows);
}

/// Bulk API 2.0 jobs, fallbacks, and calls per 1,000 records by path.
fn bulk(v: &View<'_>, out: &mut String) {
    by_label(
        v,
        out,
        "Bulk jobs by final state",
        "hookgate_worker_bulk_jobs_total",
        "state",
    );
    by_label(
        v,
        out,
        "Bulk fallbacks by reason",
        "hookgate_worker_bulk_fallbacks_total",
        "reason",
    );
    const CALLS: &str = "hookgate_worker_path_api_calls_total";
    const RECORDS: &str = "hookgate_worker_path_records_total";
    let rows = v
        .cur
        .series(RECORDS)
        .map(|(l, records)| {
            let calls = v.cur.get(CALLS, l).unwrap_or(0.0);
            let per = if records > 0.0 {
                format!("{:.1}", calls * 1000.0 / records)
            } else {
                "–".to_owned()
            };
            vec![
                Cell::text(label(l, "path")),
                Cell::num(num(records)),
                Cell::num(num(calls)),
                Cell::num(per),
            ]
        })
        .collect();
    let head = ["Path", "Records", "API calls", "Calls per 1,000 records"];
    table(out, "Write paths", &head, rows);
}
