//! The Bulk API 2.0 ingest requests, one function each (routing and the
//! job model are in [`super`]).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::super::data::{body_value, not_found, Body};
use super::super::state::State;
use super::super::{Reply, SimConfig, MAX_BULK_BODY};
use super::{run, Job, JobState, Operation, Results};

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
pub(super) fn create(st: &mut State, config: &SimConfig, version: &str, json: Body) -> Reply {
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
pub(super) fn upload(st: &mut State, id: &str, headers: &HeaderMap, raw: &[u8]) -> Reply {
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
pub(super) fn patch(st: &mut State, config: &SimConfig, id: &str, json: Body) -> Reply {
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
pub(super) fn delete(st: &mut State, id: &str) -> Reply {
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
pub(super) fn results(st: &mut State, id: &str, which: Results) -> Reply {
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
pub(crate) fn limits(st: &State, config: &SimConfig) -> Reply {
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
pub(super) fn timestamp(t: SystemTime) -> String {
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
