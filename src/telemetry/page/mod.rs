//! The admin listener's `/`: a read-only operations page, rendered on the
//! server from the same metrics text `/metrics` serves, refreshing itself
//! every [`REFRESH_SECS`] seconds. No script, inline CSS only (the
//! [`CSP`] allows nothing else); every label value is HTML-escaped.
//!
//! Totals come from the current text; per-second rates from the difference
//! with the previous one, which [`History`] keeps with its time. One
//! renderer serves both processes: it shows the sections whose metrics the
//! text has (the gateway's `hookgate_*`, the worker's `hookgate_worker_*`,
//! the subscriber's `hookgate_pubsub_*`).

mod gateway;
mod html;
mod pubsub;
mod snapshot;
mod worker;

use std::fmt::Write as _;
use std::sync::Mutex;

use self::html::esc;
use self::snapshot::{Snapshot, View};

/// Seconds between the page's own reloads (`<meta http-equiv="refresh">`).
pub(crate) const REFRESH_SECS: u32 = 5;

/// `Content-Security-Policy` of the page: no script, no frame, no fetch;
/// only its inline `<style>`.
pub(crate) const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// `Content-Type` of the page.
pub(crate) const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Shortest interval a rate is measured over: a reading taken sooner after
/// the kept one (two viewers, a double reload) is compared with the kept
/// one and does not replace it.
const MIN_INTERVAL_SECS: f64 = 1.0;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1em 0 .4em}\
p.meta{color:#666;margin:.2em 0 .5em}\
main{display:flex;flex-wrap:wrap;gap:0 2.5em;align-items:flex-start}\
table{border-collapse:collapse;min-width:24em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.warn{background:#fff3c4}.bad{background:#ffd2cc;font-weight:bold}";

/// The previous reading, kept between requests for rates.
#[derive(Debug, Default)]
pub(crate) struct History {
    prev: Mutex<Option<Snapshot>>,
}

impl History {
    /// The page for metrics `text` read at `now` (Unix seconds), with rates
    /// since the kept reading; keeps this reading for the next request.
    pub(crate) fn render(&self, text: &str, now: f64) -> String {
        let cur = Snapshot::parse(text, now);
        let mut prev = self
            .prev
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let page = render(&View {
            cur: &cur,
            prev: prev.as_ref(),
        });
        let keep = prev
            .as_ref()
            .is_none_or(|p| !(now - p.at < MIN_INTERVAL_SECS && now >= p.at));
        if keep {
            *prev = Some(cur);
        }
        page
    }
}

/// The whole page of one view.
fn render(v: &View<'_>) -> String {
    let now = v.cur.at;
    let worker = v.cur.has_prefix("hookgate_worker_");
    let subscriber = v.cur.has_prefix("hookgate_pubsub_");
    let title = if worker {
        "hookgate worker"
    } else if subscriber {
        "hookgate subscriber"
    } else {
        "hookgate gateway"
    };
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    let rates = match v.interval() {
        Some(dt) => format!("rates over the last {dt:.1} s"),
        None => "rates from the next refresh on".to_owned(),
    };
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} · {} · refreshes every {REFRESH_SECS} s</p>",
        esc(&stamp(now)),
        esc(&rates)
    );
    out.push_str("<main>\n");
    if worker {
        worker::render(v, &mut out);
    }
    if subscriber {
        pubsub::render(v, &mut out);
    }
    gateway::render(v, now, &mut out);
    if !v.cur.has_prefix("hookgate_") {
        out.push_str("<p>No hookgate metrics yet.</p>\n");
    }
    out.push_str("</main>\n</body></html>\n");
    out
}

/// `now` as `2026-12-06 04:05:06 UTC`.
fn stamp(now: f64) -> String {
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    // Whole seconds are enough for a page that refreshes every few.
    time::OffsetDateTime::from_unix_timestamp(now as i64)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
