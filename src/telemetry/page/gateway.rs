//! The gateway's sections (`hookgate_*` metrics): routes, verification
//! failures, secrets, broker, spool, replay cache. A section whose metrics
//! are absent is left out.

use std::collections::BTreeSet;

use super::html::{age, bytes, facts, flag, num, rate, table, total, Cell, Mark};
use super::snapshot::{labels, Labels, View};

/// Days before a secret's `not_after` from which its row is highlighted.
pub(crate) const EXPIRY_WARN_DAYS: f64 = 14.0;

/// Writes every gateway section the metrics have; `now` in Unix seconds.
pub(crate) fn render(v: &View<'_>, now: f64, out: &mut String) {
    routes(v, out);
    failures(v, out);
    secrets(v, now, out);
    broker(v, out);
    spool(v, out);
    replay_cache(v, out);
}

fn label<'a>(l: &'a Labels, name: &str) -> &'a str {
    l.get(name).map_or("", String::as_str)
}

/// Requests by route and outcome, with a total row per route.
fn routes(v: &View<'_>, out: &mut String) {
    const NAME: &str = "hookgate_requests_total";
    let mut rows = Vec::new();
    let routes: BTreeSet<&str> = v.cur.series(NAME).map(|(l, _)| label(l, "route")).collect();
    for route in routes {
        let mut sum = 0.0;
        let mut sum_rate = Some(0.0);
        for (l, n) in v
            .cur
            .series(NAME)
            .filter(|(l, _)| label(l, "route") == route)
        {
            let r = v.rate(NAME, l);
            sum += n;
            sum_rate = sum_rate.zip(r).map(|(a, b)| a + b);
            let outcome = label(l, "outcome");
            let mark = match outcome {
                "accepted" | "spooled" | "duplicate" | "handshake" => Mark::None,
                "unavailable" | "deadline" | "overloaded" => Mark::Bad,
                _ => Mark::Warn,
            };
            rows.push(vec![
                Cell::text(route),
                Cell::text(outcome).marked(mark),
                Cell::num(num(n)),
                Cell::num(rate(r)),
            ]);
        }
        rows.push(vec![
            Cell::text(route),
            Cell::text("all"),
            Cell::num(num(sum)),
            Cell::num(rate(sum_rate)),
        ]);
    }
    table(
        out,
        "Requests by route and outcome",
        &["Route", "Outcome", "Total", "Per second"],
        rows,
    );
}

/// Verification failures by route and reason.
fn failures(v: &View<'_>, out: &mut String) {
    const NAME: &str = "hookgate_verification_failures_total";
    let rows = v
        .cur
        .series(NAME)
        .map(|(l, n)| {
            vec![
                Cell::text(label(l, "route")),
                Cell::text(label(l, "reason")),
                Cell::num(num(n)),
                Cell::num(rate(v.rate(NAME, l))),
            ]
        })
        .collect();
    table(
        out,
        "Verification failures",
        &["Route", "Reason", "Total", "Per second"],
        rows,
    );
}

/// Secrets by route and slot: how often each verified, and its expiry.
fn secrets(v: &View<'_>, now: f64, out: &mut String) {
    const MATCHES: &str = "hookgate_secret_matches_total";
    const NOT_AFTER: &str = "hookgate_secret_not_after_seconds";
    let slots: BTreeSet<(&str, &str)> = v
        .cur
        .series(MATCHES)
        .chain(v.cur.series(NOT_AFTER))
        .map(|(l, _)| (label(l, "route"), label(l, "slot")))
        .collect();
    let rows = slots
        .into_iter()
        .map(|(route, slot)| {
            let l = labels(&[("route", route), ("slot", slot)]);
            let matched = v.cur.get(MATCHES, &l).unwrap_or(0.0);
            let (until, left) = match v.cur.get(NOT_AFTER, &l) {
                Some(at) => {
                    let days = (at - now) / 86_400.0;
                    let mark = if days < 0.0 {
                        Mark::Bad
                    } else if days < EXPIRY_WARN_DAYS {
                        Mark::Warn
                    } else {
                        Mark::None
                    };
                    (
                        Cell::text(date(at)).marked(mark),
                        Cell::num(format!("{days:.1}")).marked(mark),
                    )
                }
                None => (Cell::text("no expiry"), Cell::num("–")),
            };
            vec![
                Cell::text(route),
                Cell::num(slot),
                Cell::num(total(matched, v.rate(MATCHES, &l))),
                until,
                left,
            ]
        })
        .collect();
    let head = ["Route", "Slot", "Verified", "Not after (UTC)", "Days left"];
    table(out, "Secrets by slot", &head, rows);
}

/// Unix seconds as `2026-12-06 04:05 UTC`.
fn date(at: f64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    // Whole seconds: the gauge holds integers.
    time::OffsetDateTime::from_unix_timestamp(at as i64)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| num(at))
}

/// Broker connection, publishes and confirms.
fn broker(v: &View<'_>, out: &mut String) {
    let Some(connected) = v.cur.value("hookgate_broker_connected") else {
        return;
    };
    let c = &v.cur;
    let none = Labels::new();
    let (conn, conn_mark) = flag(connected, true);
    let (blocked, blocked_mark) = flag(c.value("hookgate_broker_blocked").unwrap_or(0.0), false);
    let mut rows = vec![
        ("Connected".to_owned(), conn, conn_mark),
        ("Blocked".to_owned(), blocked, blocked_mark),
    ];
    let mut count = |key: &str, name: &str| {
        if let Some(n) = c.value(name) {
            rows.push((key.to_owned(), total(n, v.rate(name, &none)), Mark::None));
        }
    };
    count("Connections made", "hookgate_broker_connections_total");
    count("Messages confirmed", "hookgate_messages_published_total");
    let latency = "hookgate_confirm_latency_seconds";
    let ms = |s: Option<f64>| s.map_or_else(|| "–".to_owned(), |s| format!("{:.1} ms", s * 1000.0));
    rows.push((
        "Confirm latency, mean (interval)".to_owned(),
        ms(v.recent_mean(latency)),
        Mark::None,
    ));
    rows.push((
        "Confirm latency, mean (since start)".to_owned(),
        ms(v.mean(latency)),
        Mark::None,
    ));
    for (l, n) in c.series("hookgate_publish_failures_total") {
        let r = v.rate("hookgate_publish_failures_total", l);
        rows.push((
            format!("Publish failures: {}", label(l, "reason")),
            total(n, r),
            Mark::Warn,
        ));
    }
    for (key, name) in [
        (
            "Publishing channels leased",
            "hookgate_publish_channels_leased",
        ),
        ("Unroutable messages", "hookgate_unroutable_messages"),
        ("Requests in flight", "hookgate_in_flight_requests"),
    ] {
        if let Some(n) = c.value(name) {
            let mark = if name == "hookgate_unroutable_messages" && n > 0.0 {
                Mark::Warn
            } else {
                Mark::None
            };
            rows.push((key.to_owned(), num(n), mark));
        }
    }
    for (l, n) in c.series("hookgate_connections_refused_total") {
        let r = v.rate("hookgate_connections_refused_total", l);
        rows.push((
            format!("Connections refused: {}", label(l, "reason")),
            total(n, r),
            Mark::Warn,
        ));
    }
    facts(out, "Broker", rows);
}

/// Spool depth, age, flow and quarantine.
fn spool(v: &View<'_>, out: &mut String) {
    let c = &v.cur;
    let Some(depth) = c.value("hookgate_spool_messages") else {
        return;
    };
    let none = Labels::new();
    let (healthy, healthy_mark) = flag(c.value("hookgate_spool_healthy").unwrap_or(1.0), true);
    let held = if depth > 0.0 { Mark::Warn } else { Mark::None };
    let oldest = c.value("hookgate_spool_oldest_age_seconds").unwrap_or(0.0);
    let quarantined = c.value("hookgate_spool_quarantined").unwrap_or(0.0);
    let mut rows = vec![
        ("File writable".to_owned(), healthy, healthy_mark),
        ("Messages".to_owned(), num(depth), held),
        (
            "Bytes".to_owned(),
            bytes(c.value("hookgate_spool_bytes").unwrap_or(0.0)),
            Mark::None,
        ),
        (
            "File size".to_owned(),
            bytes(c.value("hookgate_spool_file_bytes").unwrap_or(0.0)),
            Mark::None,
        ),
        (
            "Oldest message age".to_owned(),
            age(oldest),
            if oldest > 0.0 { Mark::Warn } else { Mark::None },
        ),
        (
            "Quarantined entries".to_owned(),
            num(quarantined),
            if quarantined > 0.0 {
                Mark::Bad
            } else {
                Mark::None
            },
        ),
        (
            "Quarantined bytes".to_owned(),
            bytes(c.value("hookgate_spool_quarantined_bytes").unwrap_or(0.0)),
            Mark::None,
        ),
    ];
    for (key, name) in [
        ("Written", "hookgate_spool_writes_total"),
        ("Forwarded (drain)", "hookgate_spool_forwarded_total"),
        ("Refused: full", "hookgate_spool_full_total"),
        (
            "Moved to quarantine",
            "hookgate_spool_quarantined_entries_total",
        ),
    ] {
        if let Some(n) = c.value(name) {
            rows.push((key.to_owned(), total(n, v.rate(name, &none)), Mark::None));
        }
    }
    facts(out, "Spool", rows);
}

/// Replay cache health and duplicates answered from it.
fn replay_cache(v: &View<'_>, out: &mut String) {
    let c = &v.cur;
    let Some(ok) = c.value("hookgate_replay_cache_healthy") else {
        return;
    };
    let (healthy, mark) = flag(ok, true);
    let evicted = c
        .value("hookgate_replay_cache_evicted_total")
        .unwrap_or(0.0);
    let mut rows = vec![
        ("File writable".to_owned(), healthy, mark),
        (
            "Evicted early (max_bytes)".to_owned(),
            num(evicted),
            Mark::None,
        ),
    ];
    for (l, n) in c.series("hookgate_duplicates_total") {
        let r = v.rate("hookgate_duplicates_total", l);
        rows.push((
            format!("Duplicates: {}", label(l, "route")),
            total(n, r),
            Mark::None,
        ));
    }
    facts(out, "Replay cache", rows);
}
