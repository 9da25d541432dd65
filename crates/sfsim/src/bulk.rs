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

mod run;

use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::data::{body_value, check_media_type, not_found, Body};
use super::state::State;
use super::{Fault, Reply, SimConfig, DATA_PREFIX, MAX_BULK_BODY};

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
        self.modstamp = timestamp(SystemTime::now());
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
/// [`MAX_BULK_BODY`]).
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
        Route::Create { version } => create(st, config, &version, json),
        Route::Upload { id } => upload(st, &id, headers, raw),
        Route::Patch { id } => patch(st, config, &id, json),
        Route::Get { id } => match st.bulk.find(&id) {
            Some(job) => Reply::json(StatusCode::OK, job.info(true, config)),
            None => not_found(),
        },
        Route::Delete { id } => delete(st, &id),
        Route::Results { id, which } => results(st, &id, which),
    }
}

fn invalid_job(message: impl Into<String>) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, "INVALIDJOB", message)
}

fn wrong_state(job: &Job, wanted: &str) -> Reply {
    Reply::error(
        StatusCode::CONFLICT,
        "INVALIDJOBSTATE",
        format!("Job {} is {}: {wanted}", job.id, job.state.name()),
    )
}

/// `POST jobs/ingest` (Bulk API 2.0 "Create a Job",
/// developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html):
/// 200 with the job info, `Open`.
fn create(st: &mut State, config: &SimConfig, version: &str, json: Body) -> Reply {
    let body: Map<String, Value> = match body_value(json) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return invalid_job("The job must be a JSON object"),
        Err(reply) => return reply,
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let Some(object) = text("object") else {
        return invalid_job("object: a required field is missing");
    };
    if !st.object_exists(object) {
        return invalid_job(format!("Unable to find object: {object}"));
    }
    let operation = match text("operation") {
        Some("insert") => Operation::Insert,
        Some("update") => Operation::Update,
        Some("upsert") => Operation::Upsert,
        // Documented operations this simulator does not run (choice).
        Some(op @ ("delete" | "hardDelete")) => {
            return invalid_job(format!("operation {op}: not simulated by sfsim"))
        }
        Some(op) => return invalid_job(format!("Invalid operation: {op}")),
        None => return invalid_job("operation: a required field is missing"),
    };
    let external_id = match (operation, text("externalIdFieldName")) {
        (Operation::Upsert, None | Some("")) => {
            return invalid_job(format!(
                "External ID was blank for {object}. An External ID must be specified for upsert."
            ))
        }
        (Operation::Upsert, Some(f)) => {
            // A typed object's upsert key must be an External ID field (or
            // Id): "Field Properties", `idLookup`/`externalId`.
            let usable = st.schema(object).is_none_or(|s| {
                f.eq_ignore_ascii_case("Id") || s.field(f).is_some_and(|fs| fs.external_id)
            });
            if !usable {
                return invalid_job(format!(
                    "The field {f} is not an External ID field on {object}"
                ));
            }
            Some(f.to_owned())
        }
        (_, _) => None,
    };
    if !matches!(text("contentType"), None | Some("CSV")) {
        return invalid_job("contentType: only CSV is supported");
    }
    let crlf = match text("lineEnding") {
        None | Some("LF") => false,
        Some("CRLF") => true,
        Some(other) => return invalid_job(format!("Invalid lineEnding: {other}")),
    };
    let delimiter = match text("columnDelimiter").unwrap_or("COMMA") {
        "COMMA" => ("COMMA", b','),
        "BACKQUOTE" => ("BACKQUOTE", b'`'),
        "CARET" => ("CARET", b'^'),
        "PIPE" => ("PIPE", b'|'),
        "SEMICOLON" => ("SEMICOLON", b';'),
        "TAB" => ("TAB", b'\t'),
        other => return invalid_job(format!("Invalid columnDelimiter: {other}")),
    };
    let id = st.new_id("750");
    let now = timestamp(SystemTime::now());
    st.bulk.seq += 1;
    let job = Job {
        id,
        seq: st.bulk.seq,
        object: st.object_name(object),
        operation,
        external_id,
        version: version.to_owned(),
        crlf,
        delimiter,
        created: now.clone(),
        modstamp: now,
        state: JobState::Open,
        uploads: 0,
        bytes: 0,
        header: Vec::new(),
        rows: Vec::new(),
        outcomes: Vec::new(),
        closed: None,
        started: None,
        finished: None,
        fault: None,
        error_message: None,
        deleted: false,
    };
    let reply = Reply::json(StatusCode::OK, job.info(false, config));
    st.bulk.jobs.push(job);
    reply
}

/// `PUT jobs/ingest/{id}/batches` (Bulk API 2.0 "Upload Job Data",
/// developer.salesforce.com/docs/platform/api-asynch/guide/upload-job-data.html):
/// 201 Created, no body, while the job is `Open`. Several uploads to one
/// job are n/f in the docs: accepted (choice) when their header row is the
/// first upload's (else 400 `INVALIDBATCH`), the rows appended.
fn upload(st: &mut State, id: &str, headers: &HeaderMap, raw: &[u8]) -> Reply {
    let Some(job) = st.bulk.find(id) else {
        return not_found();
    };
    if job.state != JobState::Open {
        return wrong_state(job, "data can be uploaded only while the job is Open");
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/csv");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/csv") {
        return Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("MediaType of '{ct}' is not supported by this resource"),
        );
    }
    // 150 MB of base64-encoded content per job ("Upload Job Data").
    let total = job.bytes + raw.len();
    if total.div_ceil(3) * 4 > MAX_BULK_BODY {
        return Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_ENTITY_TOO_LARGE",
            "The job's data exceeds 150 MB of base64-encoded content",
        );
    }
    let (header, rows) = match run::parse(raw, job.delimiter.1, job.crlf) {
        Ok(parsed) => parsed,
        Err(message) => return Reply::error(StatusCode::BAD_REQUEST, "INVALIDBATCH", message),
    };
    if job.uploads > 0 && header != job.header {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "INVALIDBATCH",
            "The header row differs from the job's first upload",
        );
    }
    let n = rows.len();
    job.header = header;
    job.rows.extend(rows);
    job.uploads += 1;
    job.bytes = total;
    job.touch();
    let mut reply = Reply::empty(StatusCode::CREATED);
    reply.records = n;
    reply
}

/// `PATCH jobs/ingest/{id}` (Bulk API 2.0 "Close or Abort a Job",
/// developer.salesforce.com/docs/platform/api-asynch/guide/close-job.html):
/// `UploadComplete` from `Open` (the next job fault is attached then),
/// `Aborted` from any state not terminal; the job info.
fn patch(st: &mut State, config: &SimConfig, id: &str, json: Body) -> Reply {
    let target = match body_value(json) {
        Ok(v) => v.get("state").and_then(Value::as_str).map(str::to_owned),
        Err(reply) => return reply,
    };
    let fault = st.bulk.faults.front().is_some();
    let Some(job) = st.bulk.find(id) else {
        return not_found();
    };
    match target.as_deref() {
        Some("UploadComplete") if job.state == JobState::Open => {
            job.set_state(JobState::UploadComplete);
            job.closed = Some(Instant::now());
        }
        Some("UploadComplete") => return wrong_state(job, "only an Open job can be closed"),
        Some("Aborted") if !job.state.terminal() => {
            job.set_state(JobState::Aborted);
            job.finished = Some(Instant::now());
        }
        Some("Aborted") => return wrong_state(job, "a finished job cannot be aborted"),
        other => {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOBSTATE",
                format!("Invalid job state: {}", other.unwrap_or("(none)")),
            )
        }
    }
    let closed = job.state == JobState::UploadComplete;
    let reply = Reply::json(StatusCode::OK, job.info(false, config));
    if closed && fault {
        let taken = st.bulk.faults.pop_front();
        if let Some(job) = st.bulk.find(id) {
            job.fault = taken;
        }
    }
    reply
}

/// `DELETE jobs/ingest/{id}`: 204 (status n/f in SALESFORCE.md; 204 as
/// other REST deletes, choice). Only a job that is not `Open` or
/// `InProgress` (Bulk API 2.0 "Delete a Job" lists UploadComplete,
/// JobComplete, Aborted, Failed).
fn delete(st: &mut State, id: &str) -> Reply {
    let Some(job) = st.bulk.find(id) else {
        return not_found();
    };
    if matches!(job.state, JobState::Open | JobState::InProgress) {
        return wrong_state(job, "only a closed or finished job can be deleted");
    }
    job.deleted = true;
    Reply::empty(StatusCode::NO_CONTENT)
}

/// The result CSVs ("Get Job Successful/Failed/Unprocessed Record
/// Results", developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_successful_results.htm
/// and siblings): only once the job is terminal (the pages describe them
/// for a completed job; before that 409 `INVALIDJOBSTATE`, choice).
fn results(st: &mut State, id: &str, which: Results) -> Reply {
    let Some(job) = st.bulk.find(id) else {
        return not_found();
    };
    if !job.state.terminal() {
        return wrong_state(job, "results are available once the job is finished");
    }
    Reply::raw(StatusCode::OK, "text/csv", run::results_csv(job, which))
}

/// `GET limits`: `DailyApiRequests` and `DailyBulkApiBatches` as
/// `{"Max","Remaining"}` (the keys public clients read, SALESFORCE.md
/// section 8; the official list is n/f).
pub(super) fn limits(st: &State, config: &SimConfig) -> Reply {
    let batches = config.daily_bulk_batches;
    Reply::json(
        StatusCode::OK,
        json!({
            "DailyApiRequests": {
                "Max": config.daily_limit,
                "Remaining": config.daily_limit.saturating_sub(st.usage),
            },
            "DailyBulkApiBatches": {
                "Max": batches,
                "Remaining": batches.saturating_sub(st.bulk.batches_used),
            },
        }),
    )
}

/// `2021-08-31T01:31:13.000+0000`, the job info's date form (SALESFORCE.md
/// section 8, [CAP]).
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[path = "bulk_tests.rs"]
mod tests;
