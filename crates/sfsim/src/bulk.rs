//! Bulk API 2.0 ingest: `/services/data/vNN.N/jobs/ingest[/{jobId}[/...]]`
//! and `GET limits` (facts in `../shared/docs/SALESFORCE.md` section 8;
//! the page behind each behaviour is cited next to it, "choice" marks what
//! the docs leave open). The rows are processed in [`run`].
//!
//! Every request goes through the data gate (`data.rs`): a live token,
//! usage + 1 (Bulk API 1.0 counts each HTTP request as one call,
//! developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/asynch_api_concepts_limits.htm;
//! for 2.0 no rule is documented: the same, a choice), the injected
//! refusals, read-only mode (job creation is refused like any write), and
//! `Sforce-Limit-Info` on every answer (whether Bulk answers carry it is
//! n/f: this simulator sends it, a choice).
//!
//! Error answers are the REST form `[{"errorCode","message"}]`; the codes
//! are the upper-case spellings of the Bulk API 2.0 "Errors" page
//! (developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0_errors.htm):
//! `INVALIDJOB` for a job that cannot be created, `INVALIDJOBSTATE` for a
//! bad state change, `INVALIDBATCH` for data that cannot be taken. The
//! HTTP status for a request the job's current state does not allow is 409
//! Conflict (n/f in the docs: a choice); a job id that is not known is 404
//! `NOT_FOUND` (choice, as other REST resources).

mod handlers;
mod run;

pub(super) use handlers::limits;

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use super::data::{check_media_type, not_found, Body};
use super::state::State;
use super::{Fault, Reply, SimConfig, DATA_PREFIX};

/// Records per internal batch counted against the daily allocation
/// (developer.salesforce.com/docs/atlas.en-us.228.0.api_bulk_v2.meta/api_bulk_v2/bulk_api_2_limits.htm).
const BATCH_RECORDS: usize = 10_000;
/// Rows per chunk, each its own transaction
/// (developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-bulkapi.html).
const CHUNK: usize = 200;

/// A Bulk API 2.0 job as a test sees it ([`crate::Simulator::bulk_jobs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkJobInfo {
    /// The job id (18 characters, key prefix `750`).
    pub id: String,
    pub object: String,
    /// `insert`, `update` or `upsert`.
    pub operation: String,
    /// `Open`, `UploadComplete`, `InProgress`, `JobComplete`, `Failed`,
    /// `Aborted`.
    pub state: String,
    /// Data rows uploaded (all uploads).
    pub records_uploaded: usize,
    /// `numberRecordsProcessed`: rows processed, the failed ones included
    /// (public clients count successes as processed - failed).
    pub processed: usize,
    /// `numberRecordsFailed`.
    pub failed: usize,
    /// Rows never processed (a `Failed` or `Aborted` job's rest).
    pub unprocessed: usize,
    /// `PUT .../batches` requests accepted.
    pub uploads: u32,
    /// `errorMessage` of a `Failed` job.
    pub error_message: Option<String>,
    /// Deleted by `DELETE jobs/ingest/{id}`.
    pub deleted: bool,
}

/// A job's state (Bulk API 2.0 "Job States",
/// developer.salesforce.com/docs/atlas.en-us.254.0.api_asynch.meta/api_asynch/bulk_api_2_job_states.htm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    Open,
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl JobState {
    fn name(self) -> &'static str {
        match self {
            JobState::Open => "Open",
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
        }
    }

    fn terminal(self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Insert,
    Update,
    Upsert,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
        }
    }
}

/// One uploaded data row.
struct Row {
    /// The values as uploaded.
    values: Vec<String>,
    /// The row cannot be a record (its column count differs from the
    /// header's): its `sf__Error`.
    problem: Option<String>,
}

/// What processing a row did.
enum Outcome {
    Done { id: String, created: bool },
    Failed { id: String, error: String },
}

/// An injected job fault ([`Fault::BulkJobFails`], [`Fault::BulkJobAborted`]).
enum JobFault {
    Fails { after: usize, message: String },
    Aborted { after: usize },
}

/// One ingest job.
struct Job {
    id: String,
    /// Its sequence number (seeds the result order).
    seq: u64,
    object: String,
    operation: Operation,
    external_id: Option<String>,
    /// `vNN.N` of the create request.
    version: String,
    crlf: bool,
    delimiter: (&'static str, u8),
    created: String,
    modstamp: String,
    state: JobState,
    uploads: u32,
    bytes: usize,
    header: Vec<String>,
    rows: Vec<Row>,
    /// Outcomes of the rows processed, in upload order (row `i` is
    /// `outcomes[i]`).
    outcomes: Vec<Outcome>,
    closed: Option<Instant>,
    started: Option<Instant>,
    finished: Option<Instant>,
    fault: Option<JobFault>,
    error_message: Option<String>,
    deleted: bool,
}

/// Every job, the pending job faults and the batches used.
#[derive(Default)]
pub(crate) struct Jobs {
    jobs: Vec<Job>,
    faults: VecDeque<JobFault>,
    batches_used: u64,
    seq: u64,
}

impl Jobs {
    /// Queues a job fault (other faults are ignored).
    pub fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::BulkJobFails {
                after_records,
                message,
            } => self.faults.push_back(JobFault::Fails {
                after: after_records,
                message,
            }),
            Fault::BulkJobAborted { after_records } => self.faults.push_back(JobFault::Aborted {
                after: after_records,
            }),
            _ => {}
        }
    }

    /// What [`crate::Simulator::bulk_jobs`] reports.
    pub fn infos(&self) -> Vec<BulkJobInfo> {
        self.jobs
            .iter()
            .map(|j| BulkJobInfo {
                id: j.id.clone(),
                object: j.object.clone(),
                operation: j.operation.name().to_owned(),
                state: j.state.name().to_owned(),
                records_uploaded: j.rows.len(),
                processed: j.outcomes.len(),
                failed: j.failed(),
                unprocessed: j.rows.len() - j.outcomes.len(),
                uploads: j.uploads,
                error_message: j.error_message.clone(),
                deleted: j.deleted,
            })
            .collect()
    }

    fn find(&mut self, id: &str) -> Option<&mut Job> {
        let id = crate::id::to_18(id)?;
        self.jobs.iter_mut().find(|j| j.id == id && !j.deleted)
    }
}

impl Job {
    fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed { .. }))
            .count()
    }

    fn touch(&mut self) {
        self.modstamp = handlers::timestamp(SystemTime::now());
    }

    fn set_state(&mut self, state: JobState) {
        self.state = state;
        self.touch();
    }

    /// Job info JSON (Bulk API 2.0 "Get Job Info",
    /// developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_info.htm;
    /// keys and value forms as captured from a real org, SALESFORCE.md
    /// [CAP]); `full` adds the counters of a poll.
    fn info(&self, full: bool, config: &SimConfig) -> Value {
        let user = crate::id::to_18(super::USER_ID).unwrap_or_default();
        let api_version: f64 = self.version[1..].parse().unwrap_or(0.0);
        let mut v = json!({
            "id": self.id,
            "operation": self.operation.name(),
            "object": self.object,
            "createdById": user,
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state.name(),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": api_version,
            "jobType": "V2Ingest",
            "contentUrl": format!("services/data/{}/jobs/ingest/{}/batches", self.version, self.id),
            "lineEnding": if self.crlf { "CRLF" } else { "LF" },
            "columnDelimiter": self.delimiter.0,
        });
        if let Some(f) = &self.external_id {
            v["externalIdFieldName"] = Value::String(f.clone());
        }
        if full {
            let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            let total = self
                .started
                .map_or(0, |s| ms(self.finished.unwrap_or_else(Instant::now) - s));
            let active = config
                .bulk_record_time
                .saturating_mul(u32::try_from(self.outcomes.len()).unwrap_or(u32::MAX));
            v["numberRecordsProcessed"] = json!(self.outcomes.len());
            v["numberRecordsFailed"] = json!(self.failed());
            v["retries"] = json!(0);
            v["totalProcessingTime"] = json!(total);
            v["apiActiveProcessingTime"] = json!(ms(active).min(total));
            v["apexProcessingTime"] = json!(0);
            if let Some(m) = &self.error_message {
                v["errorMessage"] = Value::String(m.clone());
            }
        }
        v
    }
}

/// Which result list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Results {
    Successful,
    Failed,
    Unprocessed,
}

/// What a `jobs/ingest` path asks for.
pub(super) enum Route {
    Create {
        version: String,
    },
    Upload {
        id: String,
    },
    /// Close or abort, by the body's `state`.
    Patch {
        id: String,
    },
    Get {
        id: String,
    },
    Delete {
        id: String,
    },
    Results {
        id: String,
        which: Results,
    },
    NotAllowed {
        allowed: &'static str,
    },
    NotFound,
}

impl Route {
    /// `rest`: the path segments after `jobs/ingest`.
    pub fn parse(method: &Method, version: &str, rest: &[&str]) -> Route {
        let m = |x: Method| *method == x;
        match rest {
            [] if m(Method::POST) => Route::Create {
                version: version.to_owned(),
            },
            [] => Route::NotAllowed { allowed: "POST" },
            [id] if m(Method::GET) => Route::Get { id: id.to_string() },
            [id] if m(Method::PATCH) => Route::Patch { id: id.to_string() },
            [id] if m(Method::DELETE) => Route::Delete { id: id.to_string() },
            [_] => Route::NotAllowed {
                allowed: "GET,PATCH,DELETE",
            },
            [id, "batches"] if m(Method::PUT) => Route::Upload { id: id.to_string() },
            [_, "batches"] => Route::NotAllowed { allowed: "PUT" },
            [id, list] => {
                let which = match *list {
                    "successfulResults" => Results::Successful,
                    "failedResults" => Results::Failed,
                    "unprocessedrecords" => Results::Unprocessed,
                    _ => return Route::NotFound,
                };
                if m(Method::GET) {
                    Route::Results {
                        id: id.to_string(),
                        which,
                    }
                } else {
                    Route::NotAllowed { allowed: "GET" }
                }
            }
            _ => Route::NotFound,
        }
    }

    /// Job creation: refused in read-only mode like other writes.
    pub fn creates(&self) -> bool {
        matches!(self, Route::Create { .. })
    }

    /// [`crate::Call::kind`]: `bulk_create`, `bulk_upload`, `bulk_close`,
    /// `bulk_abort`, `bulk_poll`, `bulk_results`, `bulk_delete`.
    pub fn kind(&self, json: &Body) -> Option<&'static str> {
        Some(match self {
            Route::Create { .. } => "bulk_create",
            Route::Upload { .. } => "bulk_upload",
            Route::Patch { .. } => {
                let abort = matches!(json, Some(Ok(v)) if v.get("state").and_then(Value::as_str) == Some("Aborted"));
                if abort {
                    "bulk_abort"
                } else {
                    "bulk_close"
                }
            }
            Route::Get { .. } => "bulk_poll",
            Route::Results { .. } => "bulk_results",
            Route::Delete { .. } => "bulk_delete",
            Route::NotAllowed { .. } | Route::NotFound => return None,
        })
    }
}

/// Whether a request is a Bulk upload (it may carry up to
/// [`crate::MAX_BULK_BODY`]).
pub(super) fn is_upload(method: &Method, path: &str) -> bool {
    method == Method::PUT
        && path.starts_with(DATA_PREFIX)
        && path.contains("/jobs/ingest/")
        && path.trim_end_matches('/').ends_with("/batches")
}

pub(super) fn run(
    st: &mut State,
    config: &SimConfig,
    route: Route,
    headers: &HeaderMap,
    json: Body,
    raw: &[u8],
) -> Reply {
    if !matches!(route, Route::Upload { .. }) {
        if let Err(reply) = check_media_type(headers) {
            return reply;
        }
    }
    match route {
        Route::NotFound => not_found(),
        Route::NotAllowed { allowed } => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method not allowed. Allowed are {allowed}"),
        ),
        Route::Create { version } => handlers::create(st, config, &version, json),
        Route::Upload { id } => handlers::upload(st, &id, headers, raw),
        Route::Patch { id } => handlers::patch(st, config, &id, json),
        Route::Get { id } => match st.bulk.find(&id) {
            Some(job) => Reply::json(StatusCode::OK, job.info(true, config)),
            None => not_found(),
        },
        Route::Delete { id } => handlers::delete(st, &id),
        Route::Results { id, which } => handlers::results(st, &id, which),
    }
}

#[cfg(test)]
#[path = "bulk_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "bulk_fault_tests.rs"]
mod fault_tests;
