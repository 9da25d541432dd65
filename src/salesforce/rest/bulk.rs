//! Bulk API 2.0 ingest calls (`../shared/docs/SALESFORCE.md` section 8):
//! create a job, upload its CSV, close it, poll its state, read its result
//! CSVs, abort it; and the org's remaining daily Bulk batches (`/limits`).
//! Every call is one API call, made with the client's token (renewed once
//! on a 401) and its `Sforce-Limit-Info` reading.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::client::{top_error, Call, Client};
use super::ApiError;

/// A job's state (Bulk API 2.0 Developer Guide, "Job States").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Created, takes data.
    Open,
    /// Data uploaded, queued.
    UploadComplete,
    /// Being processed.
    InProgress,
    /// Processed; rows may still have failed.
    JobComplete,
    /// Could not be processed; rows processed before are not rolled back.
    Failed,
    /// Cancelled.
    Aborted,
    /// A state this client does not know (treated as still running).
    Other(String),
}

impl JobState {
    fn parse(s: &str) -> JobState {
        match s {
            "Open" => JobState::Open,
            "UploadComplete" => JobState::UploadComplete,
            "InProgress" => JobState::InProgress,
            "JobComplete" => JobState::JobComplete,
            "Failed" => JobState::Failed,
            "Aborted" => JobState::Aborted,
            other => JobState::Other(other.to_owned()),
        }
    }

    /// `JobComplete`, `Failed` or `Aborted`: nothing more will change.
    pub(crate) fn terminal(&self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }

    /// The metric label: the state's name as Salesforce spells it.
    pub(crate) fn label(&self) -> &str {
        match self {
            JobState::Open => "Open",
            JobState::UploadComplete => "UploadComplete",
            JobState::InProgress => "InProgress",
            JobState::JobComplete => "JobComplete",
            JobState::Failed => "Failed",
            JobState::Aborted => "Aborted",
            JobState::Other(_) => "other",
        }
    }
}

/// The job info fields the worker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobInfo {
    /// The job's Id (key prefix `750`).
    pub(crate) id: String,
    /// Its state.
    pub(crate) state: JobState,
    /// `errorMessage`, when not successful.
    pub(crate) error_message: Option<String>,
}

#[derive(Deserialize)]
struct RawInfo {
    id: String,
    state: String,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
}

/// Which result CSV of a job ([BSR], [BFR], [BUR]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Results {
    /// `successfulResults/`: `sf__Id`, `sf__Created`, the uploaded columns.
    Successful,
    /// `failedResults/`: `sf__Id`, `sf__Error`, the uploaded columns.
    Failed,
    /// `unprocessedrecords/`: the uploaded columns.
    Unprocessed,
}

impl Client {
    fn jobs_path(&self) -> String {
        format!("/services/data/v{}/jobs/ingest", self.api_version())
    }

    /// `POST jobs/ingest`: a CSV job (`LF`, `COMMA`) for `operation`
    /// (`update` or `upsert`) on `object`.
    ///
    /// # Errors
    /// [`ApiError`] for a refusal (its `errorCode`) or a transport failure.
    pub(crate) async fn bulk_create(
        &self,
        object: &str,
        operation: &str,
        external_id_field: Option<&str>,
    ) -> Result<JobInfo, ApiError> {
        let mut body = json!({
            "object": object,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        });
        if let (Some(f), Some(m)) = (external_id_field, body.as_object_mut()) {
            m.insert("externalIdFieldName".into(), json!(f));
        }
        let path = self.jobs_path();
        let call = Call {
            method: reqwest::Method::POST,
            path: &path,
            content_type: Some("application/json"),
            body: Some(Bytes::from(body.to_string())),
        };
        info(self.send(&call, true).await?)
    }

    /// `PUT jobs/ingest/{id}/batches`: the job's CSV (201 Created).
    ///
    /// # Errors
    /// [`ApiError`] for a refusal or a transport failure.
    pub(crate) async fn bulk_upload(&self, id: &str, csv: Bytes) -> Result<(), ApiError> {
        let path = format!("{}/{id}/batches", self.jobs_path());
        let call = Call {
            method: reqwest::Method::PUT,
            path: &path,
            content_type: Some("text/csv"),
            body: Some(csv),
        };
        let (status, body) = self.send(&call, true).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(top_error(status, &body))
        }
    }

    /// `PATCH jobs/ingest/{id}` with `{"state": state}`: `UploadComplete`
    /// (processing starts) or `Aborted`.
    ///
    /// # Errors
    /// [`ApiError`] for a refusal or a transport failure.
    pub(crate) async fn bulk_set_state(&self, id: &str, state: &str) -> Result<JobInfo, ApiError> {
        let path = format!("{}/{id}", self.jobs_path());
        let call = Call {
            method: reqwest::Method::PATCH,
            path: &path,
            content_type: Some("application/json"),
            body: Some(Bytes::from(json!({ "state": state }).to_string())),
        };
        info(self.send(&call, true).await?)
    }

    /// `GET jobs/ingest/{id}`: the job's info.
    ///
    /// # Errors
    /// [`ApiError`] for a refusal or a transport failure.
    pub(crate) async fn bulk_job(&self, id: &str) -> Result<JobInfo, ApiError> {
        let path = format!("{}/{id}", self.jobs_path());
        info(self.get(&path, true).await?)
    }

    /// `GET jobs/ingest/{id}/<which>/`: a result CSV.
    ///
    /// # Errors
    /// [`ApiError`] for a refusal or a transport failure.
    pub(crate) async fn bulk_results(&self, id: &str, which: Results) -> Result<Bytes, ApiError> {
        let name = match which {
            Results::Successful => "successfulResults",
            Results::Failed => "failedResults",
            Results::Unprocessed => "unprocessedrecords",
        };
        let path = format!("{}/{id}/{name}/", self.jobs_path());
        let (status, body) = self.get(&path, true).await?;
        if status == 200 {
            Ok(body)
        } else {
            Err(top_error(status, &body))
        }
    }

    /// `GET limits`: `DailyBulkApiBatches.Remaining`, `None` when the
    /// answer has no such key.
    ///
    /// # Errors
    /// [`ApiError`] for a refusal or a transport failure.
    pub(crate) async fn bulk_batches_remaining(&self) -> Result<Option<u64>, ApiError> {
        let path = format!("/services/data/v{}/limits", self.api_version());
        let (status, body) = self.get(&path, true).await?;
        if status != 200 {
            return Err(top_error(status, &body));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| ApiError::new("INVALID_RESPONSE", "limits is not JSON"))?;
        Ok(v.pointer("/DailyBulkApiBatches/Remaining")
            .and_then(serde_json::Value::as_u64))
    }
}

/// A job info answer (200/201), or the refusal.
fn info((status, body): (u16, Bytes)) -> Result<JobInfo, ApiError> {
    if !(200..300).contains(&status) {
        return Err(top_error(status, &body));
    }
    let raw: RawInfo = serde_json::from_slice(&body)
        .map_err(|_| ApiError::new("INVALID_RESPONSE", "job info is not the documented JSON"))?;
    Ok(JobInfo {
        id: raw.id,
        state: JobState::parse(&raw.state),
        error_message: raw.error_message.filter(|m| !m.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_info_and_refusals() {
        let ok = info((
            200,
            Bytes::from_static(
                br#"{"id":"7505e00000AAAAAAAA","state":"Failed","errorMessage":"InvalidBatch","jobType":"V2Ingest"}"#,
            ),
        ))
        .unwrap();
        assert_eq!(ok.state, JobState::Failed);
        assert!(ok.state.terminal());
        assert_eq!(ok.error_message.as_deref(), Some("InvalidBatch"));
        let refused = info((
            400,
            Bytes::from_static(br#"[{"errorCode":"INVALIDJOB","message":"Unknown object"}]"#),
        ))
        .unwrap_err();
        assert_eq!(refused.code, "INVALIDJOB");
        assert!(!JobState::parse("InProgress").terminal());
        assert_eq!(JobState::parse("Paused").label(), "other");
    }
}
