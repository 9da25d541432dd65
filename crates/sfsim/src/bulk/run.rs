//! Bulk API 2.0 processing: the CSV read and written, and the rows of a
//! closed job applied as time passes.
//!
//! A closed job stays `UploadComplete` for [`SimConfig::bulk_queue_time`],
//! then turns `InProgress` and applies its rows in upload order, in chunks
//! of 200 (each chunk applied whole), one chunk when
//! [`SimConfig::bulk_record_time`] x its rows have passed; then
//! `JobComplete`. Progress is computed from the clock whenever the org is
//! looked at (every data call, the summary, the test accessors), so what a
//! poll sees is what the clock says and a test needs no background task.
//!
//! Each row is the write the same record would be in sObject Collections:
//! [`State::check_update`], [`State::check_upsert`] or an insert, with the
//! injected `RejectRecord`/`LockRow` faults and typed-object checks, and
//! [`State::apply`] (write counts).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use csv::{ReaderBuilder, Terminator, WriterBuilder};
use serde_json::{Number, Value};

use super::super::org::{READ_ONLY_CODE, READ_ONLY_MESSAGE};
use super::super::record::{check_field_names, Fields, Plan, RecordError};
use super::super::rng::Rng;
use super::super::schema::{check_value, FieldType, ObjectSchema};
use super::super::state::State;
use super::super::SimConfig;
use super::{Job, JobFault, JobState, Operation, Outcome, Results, Row, BATCH_RECORDS, CHUNK};

/// The CSV reader of a job: RFC 4180 quoting (Bulk API 2.0 "Prepare CSV
/// Files", developer.salesforce.com/docs/platform/api-asynch/guide/datafiles-prepare-csv.html:
/// a value with the delimiter, a line break or `"` is quoted, `"` doubled),
/// the job's delimiter and line ending (`LF`: only `\n` ends a row, so a
/// CRLF file leaves `\r` in its last column, as the docs warn the line
/// ending "must match").
fn terminator(crlf: bool) -> Terminator {
    if crlf {
        Terminator::CRLF
    } else {
        Terminator::Any(b'\n')
    }
}

/// The header row (field API names) and the data rows. A row whose column
/// count differs from the header's fails alone (choice): its `sf__Error`
/// is set here. Not UTF-8, or no header: the upload is refused.
pub(super) fn parse(
    raw: &[u8],
    delimiter: u8,
    crlf: bool,
) -> Result<(Vec<String>, Vec<Row>), String> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .terminator(terminator(crlf))
        .from_reader(raw);
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(Ok(h)) => h.iter().map(str::to_owned).collect(),
        Some(Err(e)) => return Err(format!("Failed to read the CSV: {e}")),
        None => return Err("The CSV is empty: a header row is required".to_owned()),
    };
    if header.iter().all(String::is_empty) {
        return Err("The CSV has no header row".to_owned());
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| format!("Failed to read the CSV: {e}"))?;
        let values: Vec<String> = record.iter().map(str::to_owned).collect();
        let problem = (values.len() != header.len()).then(|| {
            format!(
                "INVALID_FIELD:The row has {} values, the header {} columns:--",
                values.len(),
                header.len()
            )
        });
        rows.push(Row { values, problem });
    }
    Ok((header, rows))
}

/// A result CSV: `sf__Id,sf__Created,<columns>`, `sf__Id,sf__Error,<columns>`
/// or `<columns>`, in the job's delimiter and line ending (choice), rows in
/// a shuffled order (the order is not guaranteed, "Get Job Successful
/// Record Results"); no rows: the header line only (observed, [CAP]).
pub(super) fn results_csv(job: &Job, which: Results) -> Vec<u8> {
    let mut w = WriterBuilder::new()
        .delimiter(job.delimiter.1)
        .terminator(terminator(job.crlf))
        .from_writer(Vec::new());
    let lead: &[&str] = match which {
        Results::Successful => &["sf__Id", "sf__Created"],
        Results::Failed => &["sf__Id", "sf__Error"],
        Results::Unprocessed => &[],
    };
    let width = job.header.len();
    let mut header: Vec<&str> = lead.to_vec();
    header.extend(job.header.iter().map(String::as_str));
    let _ = w.write_record(&header);
    for i in shuffled(job.rows.len(), job.seq) {
        let mut line: Vec<&str> = match (which, job.outcomes.get(i)) {
            (Results::Successful, Some(Outcome::Done { id, created })) => {
                vec![id, if *created { "true" } else { "false" }]
            }
            (Results::Failed, Some(Outcome::Failed { id, error })) => vec![id, error],
            (Results::Unprocessed, None) => Vec::new(),
            _ => continue,
        };
        let values = &job.rows[i].values;
        line.extend((0..width).map(|c| values.get(c).map_or("", String::as_str)));
        let _ = w.write_record(&line);
    }
    w.into_inner().unwrap_or_default()
}

/// A deterministic permutation of `0..n` (seeded by the job), never the
/// identity when `n > 1`, so a client that assumes upload order breaks.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ 0xB01C);
    for i in (1..n).rev() {
        let j = usize::try_from(rng.next_u64() % (i as u64 + 1)).unwrap_or(0);
        order.swap(i, j);
    }
    if n > 1 && order.iter().enumerate().all(|(i, &o)| i == o) {
        order.swap(0, 1);
    }
    order
}

/// Rows due `elapsed` after processing started: whole chunks only.
fn rows_due(elapsed: Duration, per_record: Duration, n: usize) -> usize {
    if per_record.is_zero() {
        return n;
    }
    let done = usize::try_from(elapsed.as_nanos() / per_record.as_nanos()).unwrap_or(usize::MAX);
    if done >= n {
        n
    } else {
        done / CHUNK * CHUNK
    }
}

// === impl State ===

impl State {
    /// Brings every closed job up to now.
    pub(crate) fn advance_bulk(&mut self, config: &SimConfig, read_only: bool) {
        let active = |j: &Job| {
            !j.deleted && matches!(j.state, JobState::UploadComplete | JobState::InProgress)
        };
        if !self.bulk.jobs.iter().any(active) {
            return;
        }
        let now = Instant::now();
        let mut jobs = std::mem::take(&mut self.bulk.jobs);
        for job in jobs.iter_mut().filter(|j| active(j)) {
            self.advance_job(job, config, read_only, now);
        }
        self.bulk.jobs = jobs;
    }

    fn advance_job(&mut self, job: &mut Job, config: &SimConfig, read_only: bool, now: Instant) {
        let Some(closed) = job.closed else {
            return;
        };
        let Some(elapsed) = now
            .saturating_duration_since(closed)
            .checked_sub(config.bulk_queue_time)
        else {
            return;
        };
        let start = closed + config.bulk_queue_time;
        if job.state == JobState::UploadComplete {
            if let Some(message) = self.start_problem(job, config) {
                job.error_message = Some(message);
                job.started = Some(start);
                job.finished = Some(start);
                job.set_state(JobState::Failed);
                return;
            }
            job.started = Some(start);
            job.set_state(JobState::InProgress);
        }
        let n = job.rows.len();
        let stop = job.fault.as_ref().map(|f| match f {
            JobFault::Fails { after, .. } | JobFault::Aborted { after } => (*after).min(n),
        });
        let due = rows_due(elapsed, config.bulk_record_time, n).min(stop.unwrap_or(n));
        let schema = self.schema(&job.object).cloned();
        // Upsert by an external id field: the records by key, found once
        // (a scan per row would make a 25,000-row job quadratic).
        let mut index = match (&job.external_id, job.outcomes.len() < due) {
            (Some(f), true) if !f.eq_ignore_ascii_case("Id") => {
                Some(self.external_index(&job.object, f))
            }
            _ => None,
        };
        while job.outcomes.len() < due {
            let i = job.outcomes.len();
            let outcome = self.bulk_row(job, i, schema.as_ref(), index.as_mut(), read_only);
            job.outcomes.push(outcome);
        }
        let count = u32::try_from(job.outcomes.len()).unwrap_or(u32::MAX);
        let finished = start + config.bulk_record_time.saturating_mul(count);
        if stop.is_some_and(|s| job.outcomes.len() >= s) {
            match job.fault.take() {
                Some(JobFault::Fails { message, .. }) => {
                    job.error_message = Some(message);
                    job.set_state(JobState::Failed);
                }
                _ => job.set_state(JobState::Aborted),
            }
            job.finished = Some(finished);
        } else if job.outcomes.len() >= n {
            job.finished = Some(finished);
            job.set_state(JobState::JobComplete);
        }
    }

    /// Why a job fails as it starts, leaving every row unprocessed: no data
    /// (closing a job with no upload: n/f, `Failed`, choice); a header
    /// column that is not a field of a typed object (the `errorMessage`
    /// form `InvalidBatch : Field name not found : X` is a real org's,
    /// seen in amp-labs/connectors pull request 118); the daily batch
    /// allocation used up ("Results are not recorded for batches beyond
    /// the daily batch allocation", get_job_successful_results.htm:
    /// `Failed` with an `ExceededQuota` message, the code of the Bulk API
    /// 2.0 "Errors" page; choice). Otherwise the job's batches are counted.
    fn start_problem(&mut self, job: &Job, config: &SimConfig) -> Option<String> {
        if job.uploads == 0 {
            return Some("ClientInputError : No data was uploaded for this job".to_owned());
        }
        if let Some(schema) = self.schema(&job.object) {
            if let Some(bad) = job.header.iter().find(|c| schema.field(c).is_none()) {
                return Some(format!("InvalidBatch : Field name not found : {bad}"));
            }
        }
        let needed = job.rows.len().div_ceil(BATCH_RECORDS) as u64;
        if self.bulk.batches_used + needed > config.daily_bulk_batches {
            return Some(format!(
                "ExceededQuota : The daily Bulk API batch allocation ({}) is used up",
                config.daily_bulk_batches
            ));
        }
        self.bulk.batches_used += needed;
        None
    }

    /// Processes row `i` of `job`.
    fn bulk_row(
        &mut self,
        job: &Job,
        i: usize,
        schema: Option<&ObjectSchema>,
        index: Option<&mut HashMap<String, Vec<String>>>,
        read_only: bool,
    ) -> Outcome {
        let row = &job.rows[i];
        if let Some(problem) = &row.problem {
            return Outcome::Failed {
                id: String::new(),
                error: problem.clone(),
            };
        }
        let mut id = None;
        let mut key = None;
        let mut fields = Fields::new();
        let mut bad = None;
        for (column, raw) in job.header.iter().zip(&row.values) {
            if column.eq_ignore_ascii_case("Id") {
                id = Some(raw.as_str()).filter(|v| !v.is_empty());
                continue;
            }
            if job
                .external_id
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(column))
            {
                key = Some(raw.as_str()).filter(|v| !v.is_empty());
            }
            // Empty: left unchanged; `#N/A`: null ("Prepare CSV Files",
            // datafiles-prepare-csv.html / datafiles_csv_valid_record_rows.htm).
            if raw.is_empty() {
                continue;
            }
            let value = if raw == "#N/A" {
                Value::Null
            } else {
                match typed(
                    schema.and_then(|s| s.field(column)).map(|f| f.field_type),
                    raw,
                ) {
                    Some(v) => v,
                    None => {
                        bad.get_or_insert(column.clone());
                        continue;
                    }
                }
            };
            fields.insert(column.clone(), value);
        }
        let canonical = id.and_then(crate::id::to_18);
        // Read-only mode: the row fails like a record in collections
        // (Salesforce Help, "Read-Only Mode Overview": writes fail; what
        // happens to a queued Bulk job is n/f: choice).
        let planned = if read_only {
            Err(RecordError::new(READ_ONLY_CODE, READ_ONLY_MESSAGE))
        } else if let Some(column) = bad {
            // A value that does not fit its field: the code is our choice
            // (the Bulk per-row code for it is n/f).
            let raw = job
                .header
                .iter()
                .position(|c| *c == column)
                .and_then(|c| row.values.get(c))
                .cloned()
                .unwrap_or_default();
            Err(RecordError::new(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{column}: value not of required type: {raw}"),
            )
            .on(&column))
        } else {
            self.plan_row(job, id, key, &fields, index.as_deref())
        };
        match planned {
            Ok(plan) => {
                let applied = self.apply(plan);
                if let (Some(index), Some(key), Some(field), true) =
                    (index, key, &job.external_id, applied.created)
                {
                    let k = self.external_key(&job.object, field, key);
                    index.insert(k, vec![applied.id.clone()]);
                }
                Outcome::Done {
                    id: applied.id,
                    created: applied.created,
                }
            }
            Err(e) => {
                // sf__Id: the record's when the row names one that exists,
                // else empty ("Get Job Failed Record Results").
                let id = canonical
                    .filter(|c| self.fields(&job.object, c).is_some())
                    .unwrap_or_default();
                Outcome::Failed {
                    id,
                    error: sf_error(&e),
                }
            }
        }
    }

    fn plan_row(
        &mut self,
        job: &Job,
        id: Option<&str>,
        key: Option<&str>,
        fields: &Fields,
        index: Option<&HashMap<String, Vec<String>>>,
    ) -> Result<Plan, RecordError> {
        let object = job.object.as_str();
        let by_id = job
            .external_id
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("Id"));
        match job.operation {
            Operation::Insert => {
                if !self.object_exists(object) {
                    return Err(RecordError::invalid_type(object));
                }
                check_field_names(object, fields)?;
                self.check_access(object, fields, true)?;
                self.admit(None, None)?;
                Ok(Plan::Create {
                    object: object.to_owned(),
                    fields: fields.clone(),
                })
            }
            Operation::Update => match id {
                Some(id) => self.check_update(object, id, fields),
                None => Err(RecordError::new(
                    "MISSING_ARGUMENT",
                    "Id not specified in an update call",
                )),
            },
            Operation::Upsert if by_id => match id {
                Some(id) => self.check_update(object, id, fields),
                None => Err(RecordError::new("MISSING_ARGUMENT", "Id not specified").on("Id")),
            },
            Operation::Upsert => {
                let field = job.external_id.as_deref().unwrap_or_default();
                if id.is_some() {
                    return Err(RecordError::new(
                        "INVALID_FIELD",
                        format!("Id must not be set when upserting by external id field {field}"),
                    )
                    .on("Id"));
                }
                match key {
                    Some(value) => match index {
                        Some(index) => {
                            let k = self.external_key(object, field, value);
                            let matches = index.get(&k).cloned().unwrap_or_default();
                            self.check_upsert_among(object, field, value, fields, &matches)
                        }
                        None => self.check_upsert(object, field, value, fields),
                    },
                    None => Err(RecordError::new(
                        "MISSING_ARGUMENT",
                        format!("{field} not specified"),
                    )
                    .on(field)),
                }
            }
        }
    }
}

/// A CSV value as the field's JSON value: booleans `true`/`1`,
/// `false`/`0` (SOAP API "Primitive Data Types"), numbers as numbers,
/// the rest as text; `None` when it does not fit.
fn typed(field_type: Option<FieldType>, raw: &str) -> Option<Value> {
    let value = match field_type {
        None => return Some(Value::String(raw.to_owned())),
        Some(FieldType::Boolean) => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return None,
        },
        Some(FieldType::Int) => Value::Number(raw.trim().parse::<i64>().ok()?.into()),
        Some(FieldType::Double | FieldType::Currency | FieldType::Percent) => {
            Value::Number(Number::from_f64(raw.trim().parse::<f64>().ok()?)?)
        }
        Some(_) => Value::String(raw.to_owned()),
    };
    let ok = field_type.is_none_or(|t| check_value(t, &value).is_ok());
    ok.then_some(value)
}

/// `sf__Error`: `CODE:message:fields`, fields joined with `,`, `--` when
/// none (the observed form `INVALID_CROSS_REFERENCE_KEY:invalid cross
/// reference id:--`, SALESFORCE.md section 8 [CAP]; the exact grammar is
/// n/f, the `,` is a choice).
fn sf_error(e: &RecordError) -> String {
    let fields = if e.fields.is_empty() {
        "--".to_owned()
    } else {
        e.fields.join(",")
    };
    format!("{}:{}:{fields}", e.code, e.message)
}
