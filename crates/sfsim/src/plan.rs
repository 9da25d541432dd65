//! A fault plan scripted from the start (the `sfsim` command line, for
//! soaks): token endpoint outages, session expiry, maintenance windows and a
//! seeded ratio of sObject Collections calls answered 500
//! `UNKNOWN_EXCEPTION`; and the summary a soak reads (calls by kind,
//! per-record write counts), at `GET /_sfsim/summary` and at exit.
//!
//! Each condition is one the org already knows at run time (`org.rs`,
//! [`Fault`]); the plan only times them. Salesforce sources:
//! - token endpoint down: HTTP 503 from the login host ([`Outage::Unavailable`],
//!   SALESFORCE.md section 6 table: "token endpoint: 5xx: pause");
//! - sessions expire (Salesforce Help, "Set Session Timeout"; the REST API
//!   answers 401 `INVALID_SESSION_ID`, SALESFORCE.md section 6);
//! - maintenance: read-only mode (Salesforce Help, "Read-Only Mode
//!   Overview"): writes fail with
//!   `INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE`;
//! - 500 `UNKNOWN_EXCEPTION` (REST API Developer Guide, "Status Codes and
//!   Error Responses": 500 "An error has occurred within Lightning
//!   Platform").

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{Call, Fault, Outage, Shared, Simulator};

/// Where the summary is served (outside `/services`, never charged).
pub const SUMMARY_PATH: &str = "/_sfsim/summary";

/// `START+DURATION` from the simulator's start, e.g. `20s+30s`, `90+20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Duration,
    pub duration: Duration,
}

impl FromStr for Window {
    type Err = String;

    fn from_str(s: &str) -> Result<Window, String> {
        let (start, duration) = s
            .split_once('+')
            .ok_or_else(|| format!("{s:?}: expected START+DURATION, e.g. 20s+30s"))?;
        let duration = parse_duration(duration)?;
        if duration.is_zero() {
            return Err(format!("{s:?}: the duration must be positive"));
        }
        Ok(Window {
            start: parse_duration(start)?,
            duration,
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}s+{}s",
            self.start.as_secs_f64(),
            self.duration.as_secs_f64()
        )
    }
}

/// `30`, `30s`, `1.5s`, `500ms`, `2m`: seconds when no unit is given.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: not a duration (30, 30s, 1.5s, 500ms, 2m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?}: not a duration (30, 30s, 1.5s, 500ms, 2m)"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// A ratio in `[0, 1]`: `0.05` or `5%`.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?}: not a ratio (0.05 or 5%)"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{s:?}: a ratio is between 0 and 1 (0% and 100%)"));
    }
    Ok(v)
}

/// What happens when, counted from [`Simulator::schedule`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// The token endpoint answers 503 during each window.
    pub token_outages: Vec<Window>,
    /// Every token issued so far dies at each offset (a session timeout or
    /// an admin revoking sessions): the next data call gets 401.
    pub expire_tokens: Vec<Duration>,
    /// Read-only mode during each window.
    pub maintenance: Vec<Window>,
    /// This share of sObject Collections calls is answered 500
    /// `UNKNOWN_EXCEPTION` (nothing written), drawn with `seed`.
    pub unknown_exception_ratio: f64,
    pub seed: u64,
}

impl FaultPlan {
    /// One line per scheduled event, in time order, for the log.
    pub fn describe(&self) -> Vec<String> {
        let mut events: Vec<(Duration, String)> = Vec::new();
        for w in &self.token_outages {
            events.push((w.start, format!("token endpoint 503 for {w}")));
        }
        for at in &self.expire_tokens {
            events.push((*at, format!("tokens expire at {}s", at.as_secs_f64())));
        }
        for w in &self.maintenance {
            events.push((w.start, format!("read-only (maintenance) {w}")));
        }
        events.sort_by_key(|(at, _)| *at);
        let mut out: Vec<String> = events.into_iter().map(|(_, e)| e).collect();
        if self.unknown_exception_ratio > 0.0 {
            out.push(format!(
                "{}% of collections calls: 500 UNKNOWN_EXCEPTION (seed {})",
                self.unknown_exception_ratio * 100.0,
                self.seed
            ));
        }
        out
    }
}

/// One scheduled change of the org.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Outage(Duration),
    Expire,
    ReadOnly(bool),
}

/// The plan's timed steps, in order (ties keep the plan's order, a
/// window's end before a later window's start).
fn steps(plan: &FaultPlan) -> Vec<(Duration, Step)> {
    let mut steps = Vec::new();
    for w in &plan.token_outages {
        steps.push((w.start, Step::Outage(w.duration)));
    }
    for at in &plan.expire_tokens {
        steps.push((*at, Step::Expire));
    }
    for w in &plan.maintenance {
        steps.push((w.start, Step::ReadOnly(true)));
        steps.push((w.start + w.duration, Step::ReadOnly(false)));
    }
    steps.sort_by_key(|(at, _)| *at);
    steps
}

// === impl Simulator ===

impl Simulator {
    /// Runs `plan` from now on (its offsets count from this call), until the
    /// simulator stops.
    pub fn schedule(&self, plan: &FaultPlan) {
        if plan.unknown_exception_ratio > 0.0 {
            self.inject(Fault::CollectionsUnknownException {
                ratio: plan.unknown_exception_ratio,
                seed: plan.seed,
            });
        }
        let steps = steps(plan);
        if steps.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let t0 = tokio::time::Instant::now();
            for (at, step) in steps {
                tokio::select! {
                    () = tokio::time::sleep_until(t0 + at) => {}
                    _ = stop.changed() => return,
                }
                match step {
                    Step::Outage(d) => {
                        shared.org().outage =
                            Some((Outage::Unavailable, std::time::Instant::now() + d));
                    }
                    Step::Expire => shared.state().inject(Fault::ExpireTokens),
                    Step::ReadOnly(on) => shared.org().read_only = on,
                }
                eprintln!("sfsim t={:.1}s: {step:?}", t0.elapsed().as_secs_f64());
            }
        });
    }

    /// The summary a soak reads: calls by kind and status, and every record
    /// with its write count (`with_records`).
    pub fn summary(&self, with_records: bool) -> Value {
        summary(&self.shared, with_records)
    }
}

/// Calls by kind: `token`, `collections`, `describe`, `versions`, `sobject`
/// (single-record data calls), Bulk API 2.0 `bulk_create`, `bulk_upload`,
/// `bulk_close`, `bulk_abort`, `bulk_poll`, `bulk_results`, `bulk_delete`,
/// `limits`, and `other`.
pub fn call_kind(call: &Call) -> &'static str {
    if call.auth {
        "token"
    } else if let Some(kind) = call.kind {
        kind
    } else if call.path.contains("/jobs/ingest") {
        bulk_kind(call)
    } else if call.path.starts_with(super::DATA_PREFIX)
        && call.path.trim_end_matches('/').ends_with("/limits")
    {
        "limits"
    } else if call.path.contains("/composite/sobjects") {
        "collections"
    } else if call.path.ends_with("/describe") {
        "describe"
    } else if call.path.trim_end_matches('/') == "/services/data" {
        "versions"
    } else if call.path.starts_with(super::DATA_PREFIX) {
        "sobject"
    } else {
        "other"
    }
}

/// A Bulk call's kind by method and path (when [`Call::kind`] is unset).
fn bulk_kind(call: &Call) -> &'static str {
    let path = call.path.trim_end_matches('/');
    match call.method.as_str() {
        "POST" => "bulk_create",
        "PUT" => "bulk_upload",
        "PATCH" => "bulk_close",
        "DELETE" => "bulk_delete",
        _ if path.ends_with("Results") || path.ends_with("unprocessedrecords") => "bulk_results",
        _ => "bulk_poll",
    }
}

pub(super) fn summary(shared: &Shared, with_records: bool) -> Value {
    let read_only = shared.org().read_only;
    let st = shared.state_now();
    let mut kinds: BTreeMap<&str, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut records_sent = 0usize;
    for call in &st.calls {
        let kind = call_kind(call);
        let entry = kinds.entry(kind).or_default();
        entry.0 += 1;
        *entry.1.entry(call.status.to_string()).or_default() += 1;
        if kind == "collections" {
            records_sent += call.records;
        }
    }
    let calls: Map<String, Value> = kinds
        .into_iter()
        .map(|(k, (n, by_status))| (k.to_owned(), json!({ "total": n, "by_status": by_status })))
        .collect();
    let records = st.records();
    let written_more_than_once: Vec<Value> = records
        .iter()
        .filter(|r| r.writes > 1)
        .map(|r| json!({ "sobject": r.sobject, "id": r.id, "writes": r.writes }))
        .collect();
    let mut out = json!({
        "org_id": shared.org_id,
        "url": shared.url,
        "calls": calls,
        "records_sent_in_collections": records_sent,
        "api_usage": st.usage,
        "records_total": records.len(),
        "records_written": records.iter().filter(|r| r.writes > 0).count(),
        "writes_total": records.iter().map(|r| r.writes).sum::<u64>(),
        "written_more_than_once": written_more_than_once,
        "read_only": read_only,
    });
    if with_records {
        out["records"] = records
            .into_iter()
            .map(|r| {
                json!({ "sobject": r.sobject, "id": r.id, "writes": r.writes, "fields": r.fields })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_windows_parse() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "-1", "x5", "5h", "NaN", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            "20s+30s".parse::<Window>(),
            Ok(Window {
                start: Duration::from_secs(20),
                duration: Duration::from_secs(30)
            })
        );
        assert_eq!(
            "0+500ms".parse::<Window>().map(|w| w.duration),
            Ok(Duration::from_millis(500))
        );
        for bad in ["20", "20+", "+30", "20+0", "a+b", "20s-30s"] {
            assert!(bad.parse::<Window>().is_err(), "{bad:?}");
        }
        assert_eq!("20s+30s".parse::<Window>().unwrap().to_string(), "20s+30s");
    }

    #[test]
    fn ratios_parse() {
        assert_eq!(parse_ratio("0.05"), Ok(0.05));
        assert_eq!(parse_ratio("5%"), Ok(0.05));
        assert_eq!(parse_ratio("0"), Ok(0.0));
        assert_eq!(parse_ratio("100%"), Ok(1.0));
        for bad in ["", "x", "1.5", "-0.1", "101%"] {
            assert!(parse_ratio(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn steps_are_in_time_order_and_windows_close() {
        let plan = FaultPlan {
            token_outages: vec!["20+30".parse().unwrap()],
            expire_tokens: vec![Duration::from_secs(20)],
            maintenance: vec!["5+10".parse().unwrap()],
            unknown_exception_ratio: 0.05,
            seed: 7,
        };
        let s = |n| Duration::from_secs(n);
        assert_eq!(
            steps(&plan),
            vec![
                (s(5), Step::ReadOnly(true)),
                (s(15), Step::ReadOnly(false)),
                (s(20), Step::Outage(s(30))),
                (s(20), Step::Expire),
            ]
        );
        let text = plan.describe();
        assert_eq!(text.len(), 4);
        assert!(text[0].starts_with("read-only"), "{text:?}");
        assert!(text[3].contains("5% of collections calls"), "{text:?}");
    }

    #[test]
    fn calls_are_classified_by_kind() {
        let call = |path: &str, auth| Call {
            method: "GET".into(),
            path: path.into(),
            status: 200,
            records: 0,
            auth,
            kind: None,
            traceparent: None,
        };
        assert_eq!(call_kind(&call("/services/oauth2/token", true)), "token");
        assert_eq!(
            call_kind(&call("/services/data/v62.0/composite/sobjects", false)),
            "collections"
        );
        assert_eq!(
            call_kind(&call(
                "/services/data/v62.0/composite/sobjects/Account/Account_Key__c",
                false
            )),
            "collections"
        );
        assert_eq!(
            call_kind(&call(
                "/services/data/v62.0/sobjects/Account/describe",
                false
            )),
            "describe"
        );
        assert_eq!(call_kind(&call("/services/data/", false)), "versions");
        assert_eq!(
            call_kind(&call("/services/data/v62.0/sobjects/Account/001", false)),
            "sobject"
        );
        assert_eq!(call_kind(&call("/x", false)), "other");
    }
}
