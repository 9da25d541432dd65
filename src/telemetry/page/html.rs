//! Small HTML pieces of the page: every text that comes from the metrics
//! (route, org and reason labels) goes through [`esc`]; numbers are
//! formatted here.

use std::fmt::Write as _;

/// How a cell or value is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Plain.
    None,
    /// Needs attention soon (a secret expiring within 14 days, a spool
    /// holding messages).
    Warn,
    /// Broken now (disconnected, expired, paused).
    Bad,
}

impl Mark {
    fn class(self) -> &'static str {
        match self {
            Mark::None => "",
            Mark::Warn => " class=\"warn\"",
            Mark::Bad => " class=\"bad\"",
        }
    }
}

/// One table cell: escaped text, right-aligned when numeric.
pub(crate) struct Cell {
    text: String,
    numeric: bool,
    mark: Mark,
}

impl Cell {
    /// A text cell (escaped when written).
    pub(crate) fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            numeric: false,
            mark: Mark::None,
        }
    }

    /// A right-aligned number cell.
    pub(crate) fn num(s: impl Into<String>) -> Cell {
        Cell {
            numeric: true,
            ..Cell::text(s)
        }
    }

    /// The same cell highlighted.
    pub(crate) fn marked(self, mark: Mark) -> Cell {
        Cell { mark, ..self }
    }
}

/// HTML-escapes `s` (`& < > " ' /`).
pub(crate) fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_safe(s)
}

/// Writes a `<section>` with `<h2>` and a table with `head` (no header row
/// when empty) and `rows`; nothing without rows.
pub(crate) fn table(out: &mut String, title: &str, head: &[&str], rows: Vec<Vec<Cell>>) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(out, "<section><h2>{}</h2>\n<table>\n", esc(title));
    if !head.is_empty() {
        out.push_str("<tr>");
        for h in head {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr>\n");
    }
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let mark = match (c.numeric, c.mark) {
                (true, Mark::None) => " class=\"n\"",
                (true, Mark::Warn) => " class=\"n warn\"",
                (true, Mark::Bad) => " class=\"n bad\"",
                (false, m) => m.class(),
            };
            let _ = write!(out, "<td{mark}>{}</td>", esc(&c.text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></section>\n");
}

/// Writes a two-column table of named values.
pub(crate) fn facts(out: &mut String, title: &str, rows: Vec<(String, String, Mark)>) {
    let rows = rows
        .into_iter()
        .map(|(k, v, m)| vec![Cell::text(k), Cell::num(v).marked(m)])
        .collect();
    table(out, title, &[], rows);
}

/// A count or gauge: integers without decimals.
pub(crate) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// A per-second rate, `–` when unknown (first view, counter reset).
pub(crate) fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

/// A total with its rate: `120 (3.50/s)`.
pub(crate) fn total(v: f64, r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{} ({r:.2}/s)", num(v)),
        None => num(v),
    }
}

/// A byte count in B, KiB, MiB or GiB.
pub(crate) fn bytes(v: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = v;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Seconds as `4.2 s`, `3.5 min` or `2.1 h`.
pub(crate) fn age(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// `yes` or `no` for a 1/0 gauge, marked bad when it is not `good`.
pub(crate) fn flag(v: f64, good: bool) -> (String, Mark) {
    let on = v != 0.0;
    let text = if on { "yes" } else { "no" };
    (
        text.to_owned(),
        if on == good { Mark::None } else { Mark::Bad },
    )
}
