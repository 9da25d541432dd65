//! Bulk API 2.0 ingest against a real socket and a real HTTP client:
//! create, upload, close, poll, results; CSV quoting; per-row failures;
//! processing time; job faults; the daily batch allocation; refusals.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::super::*;
use crate::tests::{client, config, login};

const ACCOUNT: &str = "001000000000001";
const ACCOUNT_2: &str = "001000000000002";
const ACCOUNT_3: &str = "001000000000003";

/// Quick jobs: 20 ms in the queue, the default time per record.
fn fast() -> SimConfig {
    SimConfig {
        bulk_queue_time: Duration::from_millis(20),
        ..config()
    }
}

async fn start(c: SimConfig) -> (Simulator, String) {
    let sim = Simulator::start(c).await.expect("start");
    let token = login(&sim).await;
    (sim, token)
}

fn url(sim: &Simulator, rest: &str) -> String {
    format!("{}/services/data/v62.0/{rest}", sim.url())
}

fn id18(id: &str) -> String {
    crate::id::to_18(id).expect("id")
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn create(sim: &Simulator, token: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(url(sim, "jobs/ingest"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("create");
    json_of(r).await
}

async fn upload(sim: &Simulator, token: &str, id: &str, csv: &str) -> (u16, Value) {
    let r = client()
        .put(url(sim, &format!("jobs/ingest/{id}/batches")))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("upload");
    json_of(r).await
}

async fn set_state(sim: &Simulator, token: &str, id: &str, state: &str) -> (u16, Value) {
    let r = client()
        .patch(url(sim, &format!("jobs/ingest/{id}")))
        .bearer_auth(token)
        .json(&json!({ "state": state }))
        .send()
        .await
        .expect("patch");
    json_of(r).await
}

async fn poll(sim: &Simulator, token: &str, id: &str) -> Value {
    let r = client()
        .get(url(sim, &format!("jobs/ingest/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("poll");
    let (status, body) = json_of(r).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls until the job is terminal; panics after `deadline`.
async fn finish(sim: &Simulator, token: &str, id: &str, deadline: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let info = poll(sim, token, id).await;
        if matches!(
            info["state"].as_str(),
            Some("JobComplete" | "Failed" | "Aborted")
        ) {
            return info;
        }
        assert!(t0.elapsed() < deadline, "not finished in time: {info}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `(status, rows)` of a result CSV, the header row first.
async fn results(sim: &Simulator, token: &str, id: &str, which: &str) -> (u16, Vec<Vec<String>>) {
    let r = client()
        .get(url(sim, &format!("jobs/ingest/{id}/{which}/")))
        .bearer_auth(token)
        .send()
        .await
        .expect("results");
    let status = r.status().as_u16();
    assert!(r.headers().contains_key(LIMIT_INFO_HEADER));
    if status == 200 {
        let ct = r.headers()[http::header::CONTENT_TYPE]
            .to_str()
            .expect("ct");
        assert_eq!(ct, "text/csv");
    }
    let text = r.text().await.expect("text");
    (status, parse_csv(&text))
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("csv").iter().map(str::to_owned).collect())
        .collect()
}

/// Creates, uploads, closes and waits: `(job id, final info)`.
async fn run_job(sim: &Simulator, token: &str, job: Value, csv: &str) -> (String, Value) {
    let (status, info) = create(sim, token, job).await;
    assert_eq!(status, 200, "{info}");
    let id = info["id"].as_str().expect("id").to_owned();
    assert_eq!(upload(sim, token, &id, csv).await.0, 201);
    assert_eq!(set_state(sim, token, &id, "UploadComplete").await.0, 200);
    let info = finish(sim, token, &id, Duration::from_secs(5)).await;
    (id, info)
}

fn keyed(key: &str) -> Map<String, Value> {
    json!({ "Name": "old", "Account_Key__c": key })
        .as_object()
        .expect("object")
        .clone()
}

#[tokio::test]
async fn update_and_upsert_jobs_report_created_and_updated() {
    let (sim, token) = start(fast()).await;
    sim.seed("Account", ACCOUNT, keyed("K1"));
    sim.seed("Account", ACCOUNT_2, keyed("K2"));
    let r = client()
        .post(url(&sim, "jobs/ingest"))
        .bearer_auth(&token)
        .json(&json!({"object": "Account", "operation": "update", "contentType": "CSV", "lineEnding": "LF"}))
        .send()
        .await
        .expect("create");
    assert!(r.headers().contains_key(LIMIT_INFO_HEADER));
    let (status, info) = json_of(r).await;
    assert_eq!(status, 200, "{info}");
    let id = info["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("750") && id.len() == 18, "{id}");
    assert_eq!(info["state"], "Open");
    assert_eq!(info["operation"], "update");
    assert_eq!(info["object"], "Account");
    assert_eq!(info["apiVersion"], 62.0);
    assert_eq!(info["jobType"], "V2Ingest");
    assert_eq!(info["concurrencyMode"], "Parallel");
    assert_eq!(info["contentType"], "CSV");
    assert_eq!(info["lineEnding"], "LF");
    assert_eq!(info["columnDelimiter"], "COMMA");
    assert_eq!(
        info["contentUrl"],
        format!("services/data/v62.0/jobs/ingest/{id}/batches")
    );
    assert!(info["createdDate"]
        .as_str()
        .is_some_and(|d| d.len() == 28 && d.ends_with("+0000")));
    assert!(info["createdById"]
        .as_str()
        .is_some_and(|u| u.starts_with("005")));
    let csv = format!("Id,Description\n{},one\n{ACCOUNT_2},two\n", id18(ACCOUNT));
    assert_eq!(upload(&sim, &token, &id, &csv).await.0, 201);
    let (status, closed) = set_state(&sim, &token, &id, "UploadComplete").await;
    assert_eq!(
        (status, closed["state"].as_str()),
        (200, Some("UploadComplete"))
    );
    let info = finish(&sim, &token, &id, Duration::from_secs(5)).await;
    assert_eq!(info["state"], "JobComplete", "{info}");
    assert_eq!(info["numberRecordsProcessed"], 2);
    assert_eq!(info["numberRecordsFailed"], 0);
    assert_eq!(info["retries"], 0);
    assert!(info["totalProcessingTime"].is_u64() && info["apexProcessingTime"] == 0);
    let (status, rows) = results(&sim, &token, &id, "successfulResults").await;
    assert_eq!(status, 200);
    assert_eq!(rows[0], ["sf__Id", "sf__Created", "Id", "Description"]);
    assert_eq!(rows.len(), 3);
    assert!(rows[1..].iter().all(|r| r[1] == "false"));
    let (_, failed) = results(&sim, &token, &id, "failedResults").await;
    assert_eq!(failed, [["sf__Id", "sf__Error", "Id", "Description"]]);
    assert_eq!(
        sim.record("Account", ACCOUNT).expect("a")["Description"],
        "one"
    );
    assert_eq!(sim.writes("Account", ACCOUNT_2), 1);

    // Upsert: K1 exists (updated), K3 does not (created).
    let job = json!({"object": "Account", "operation": "upsert", "externalIdFieldName": "Account_Key__c"});
    let (up, info) = run_job(
        &sim,
        &token,
        job,
        "Account_Key__c,Name\nK1,first\nK3,third\n",
    )
    .await;
    assert_eq!(info["state"], "JobComplete", "{info}");
    assert_eq!(info["externalIdFieldName"], "Account_Key__c");
    let (_, rows) = results(&sim, &token, &up, "successfulResults").await;
    assert_eq!(rows[0], ["sf__Id", "sf__Created", "Account_Key__c", "Name"]);
    let created: Map<String, Value> = rows[1..]
        .iter()
        .map(|r| (r[2].clone(), json!([r[0], r[1]])))
        .collect();
    assert_eq!(created["K1"], json!([id18(ACCOUNT), "false"]));
    assert_eq!(created["K3"][1], "true");
    let (k3, fields) = sim
        .record_by_external_id("Account", "Account_Key__c", "K3")
        .expect("K3");
    assert_eq!(created["K3"][0], k3.as_str());
    assert_eq!(fields["Name"], "third");
    assert_eq!(sim.writes("Account", ACCOUNT), 2);

    let jobs = sim.bulk_jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (jobs[1].uploads, jobs[1].records_uploaded, jobs[1].processed),
        (1, 2, 2)
    );
    assert_eq!(jobs[1].operation, "upsert");
    let summary = sim.summary(false);
    for (kind, n) in [
        ("bulk_create", 2),
        ("bulk_upload", 2),
        ("bulk_close", 2),
        ("bulk_results", 3),
    ] {
        assert_eq!(summary["calls"][kind]["total"], n, "{kind}: {summary}");
    }
    assert!(summary["calls"]["bulk_poll"]["total"].as_u64() >= Some(2));
    assert_eq!(sim.api_calls(), sim.usage());
    sim.shutdown().await;
}

#[tokio::test]
async fn csv_quoting_line_endings_and_null() {
    let (sim, token) = start(fast()).await;
    let tricky = "He said \"hi\", then\nleft";
    let csv = "Name,Description\r\n\"Acme, Inc.\",\"He said \"\"hi\"\", then\nleft\"\r\n";
    let job = json!({"object": "Account", "operation": "insert", "lineEnding": "CRLF"});
    let (id, info) = run_job(&sim, &token, job, csv).await;
    assert_eq!(info["state"], "JobComplete", "{info}");
    assert_eq!(info["lineEnding"], "CRLF");
    let (_, rows) = results(&sim, &token, &id, "successfulResults").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][1..], ["true", "Acme, Inc.", tricky]);
    let record = sim.record("Account", &rows[1][0]).expect("created");
    assert_eq!(record["Name"], "Acme, Inc.");
    assert_eq!(record["Description"], tricky);

    // `#N/A` sets null, an empty value leaves the field; typed values.
    let mut seeded = keyed("K1");
    seeded.insert("Description".into(), json!("old"));
    sim.seed("Account", ACCOUNT, seeded);
    let csv = format!("Id,Description,Name,NumberOfEmployees,Active__c\n{ACCOUNT},#N/A,,12,1\n");
    let job = json!({"object": "Account", "operation": "update"});
    let (_, info) = run_job(&sim, &token, job, &csv).await;
    assert_eq!(info["numberRecordsFailed"], 0, "{info}");
    let record = sim.record("Account", ACCOUNT).expect("account");
    assert_eq!(record["Description"], Value::Null);
    assert_eq!(record["Name"], "old");
    assert_eq!(record["NumberOfEmployees"], 12);
    assert_eq!(record["Active__c"], true);

    // Another delimiter.
    let job = json!({"object": "Account", "operation": "update", "columnDelimiter": "PIPE"});
    let (id, info) = run_job(&sim, &token, job, &format!("Id|Name\n{ACCOUNT}|a,b\n")).await;
    assert_eq!(info["columnDelimiter"], "PIPE");
    assert_eq!(sim.record("Account", ACCOUNT).expect("a")["Name"], "a,b");
    let r = client()
        .get(url(&sim, &format!("jobs/ingest/{id}/successfulResults")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("results");
    let text = r.text().await.expect("text");
    assert_eq!(
        text,
        format!(
            "sf__Id|sf__Created|Id|Name\n{}|false|{ACCOUNT}|a,b\n",
            id18(ACCOUNT)
        )
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_rows_are_reported_and_not_written() {
    let (sim, token) = start(fast()).await;
    for id in [ACCOUNT, ACCOUNT_2, ACCOUNT_3] {
        sim.seed("Account", id, keyed(id));
    }
    sim.inject(Fault::RejectRecord {
        key: ACCOUNT_2.into(),
        status_code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
        message: "Amount too big".into(),
        fields: vec!["AnnualRevenue".into()],
    });
    let csv = format!(
        "Id,AnnualRevenue\n{ACCOUNT},1\n{ACCOUNT_2},2\n{ACCOUNT_3},lots\n{ACCOUNT},1,extra\n"
    );
    let job = json!({"object": "Account", "operation": "update"});
    let (id, info) = run_job(&sim, &token, job, &csv).await;
    assert_eq!(info["state"], "JobComplete");
    assert_eq!(info["numberRecordsProcessed"], 4);
    assert_eq!(info["numberRecordsFailed"], 3);
    let (_, rows) = results(&sim, &token, &id, "failedResults").await;
    assert_eq!(rows[0], ["sf__Id", "sf__Error", "Id", "AnnualRevenue"]);
    let by_error = |prefix: &str| {
        rows[1..]
            .iter()
            .find(|r| r[1].starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {rows:?}"))
            .clone()
    };
    assert_eq!(
        by_error("FIELD_CUSTOM"),
        [
            id18(ACCOUNT_2).as_str(),
            "FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount too big:AnnualRevenue",
            ACCOUNT_2,
            "2"
        ]
    );
    assert_eq!(
        by_error("INVALID_TYPE_ON_FIELD_IN_RECORD")[1],
        "INVALID_TYPE_ON_FIELD_IN_RECORD:AnnualRevenue: value not of required type: lots:AnnualRevenue"
    );
    assert!(by_error("INVALID_FIELD:")[1].ends_with(":--"));
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    assert_eq!(sim.writes("Account", ACCOUNT_2), 0);
    assert_eq!(sim.writes("Account", ACCOUNT_3), 0);
    assert_eq!(
        sim.record("Account", ACCOUNT_2)
            .expect("a")
            .get("AnnualRevenue"),
        None
    );

    // A lock on the next record fails that row only.
    sim.inject(Fault::LockRow { count: 1 });
    let csv = format!("Id,Name\n{ACCOUNT},x\n{ACCOUNT_3},y\n");
    let job = json!({"object": "Account", "operation": "update"});
    let (id, info) = run_job(&sim, &token, job, &csv).await;
    assert_eq!(info["numberRecordsFailed"], 1);
    let (_, rows) = results(&sim, &token, &id, "failedResults").await;
    assert!(rows[1][1].starts_with("UNABLE_TO_LOCK_ROW:"), "{rows:?}");
    assert_eq!(
        sim.writes("Account", ACCOUNT) + sim.writes("Account", ACCOUNT_3),
        2
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn results_are_not_in_upload_order() {
    let (sim, token) = start(fast()).await;
    let names: Vec<String> = (0..50).map(|i| format!("n{i:02}")).collect();
    let csv = format!("Name\n{}\n", names.join("\n"));
    let job = json!({"object": "Account", "operation": "insert"});
    let (id, info) = run_job(&sim, &token, job, &csv).await;
    assert_eq!(info["numberRecordsProcessed"], 50);
    let (_, rows) = results(&sim, &token, &id, "successfulResults").await;
    let got: Vec<String> = rows[1..].iter().map(|r| r[2].clone()).collect();
    assert_ne!(got, names);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, names);
    assert!(rows[1..].iter().all(|r| r[1] == "true"));
    sim.shutdown().await;
}

#[tokio::test]
async fn processing_time_is_proportional_to_records() {
    let c = SimConfig {
        bulk_queue_time: Duration::from_millis(100),
        bulk_record_time: Duration::from_micros(20),
        ..config()
    };
    let (sim, token) = start(c).await;
    let n = 25_000;
    let mut csv = String::from("Account_Key__c,Name\n");
    for i in 0..n {
        csv.push_str(&format!("K{i},name {i}\n"));
    }
    let job = json!({"object": "Account", "operation": "upsert", "externalIdFieldName": "Account_Key__c"});
    let (status, info) = create(&sim, &token, job).await;
    assert_eq!(status, 200);
    let id = info["id"].as_str().expect("id").to_owned();
    assert_eq!(upload(&sim, &token, &id, &csv).await.0, 201);
    let t0 = Instant::now();
    set_state(&sim, &token, &id, "UploadComplete").await;
    // 100 ms queued + 25,000 x 20 µs = 600 ms at least.
    let minimum = Duration::from_millis(600);
    // The server closed the job after `t0`: a poll answered before
    // `t0 + 100 ms` sees it queued, before `t0 + minimum` not complete.
    let mut seen = Vec::new();
    let info = loop {
        let info = poll(&sim, &token, &id).await;
        let at = t0.elapsed();
        let state = info["state"].as_str().expect("state").to_owned();
        let done = info["numberRecordsProcessed"].as_u64().expect("processed");
        if at < Duration::from_millis(100) {
            assert_eq!(state, "UploadComplete", "{info}");
        }
        if state == "JobComplete" {
            assert!(at >= minimum, "complete after {at:?}");
            break info;
        }
        assert!(at < Duration::from_secs(5), "{info}");
        assert!(done % 200 == 0, "whole chunks only: {done}");
        seen.push((state, done));
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        seen.iter()
            .any(|(s, d)| s == "InProgress" && *d > 0 && *d < n),
        "{seen:?}"
    );
    assert_eq!(info["numberRecordsProcessed"], n);
    assert!(info["totalProcessingTime"].as_u64() >= Some(500), "{info}");
    let jobs = sim.bulk_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].records_uploaded, jobs[0].uploads, jobs[0].processed),
        (n as usize, 1, n as usize)
    );
    let summary = sim.summary(false);
    assert_eq!(summary["records_total"], n);
    assert_eq!(summary["writes_total"], n);
    assert_eq!(summary["written_more_than_once"], json!([]));
    sim.shutdown().await;
}

/// 500 keyed upsert rows under `fault`: the final info, the successful,
/// failed and unprocessed rows; every processed row written once.
async fn faulted(fault: Fault) -> (Value, usize, usize, usize) {
    let (sim, token) = start(fast()).await;
    sim.inject(fault);
    let mut csv = String::from("Account_Key__c,Name\n");
    for i in 0..500 {
        csv.push_str(&format!("K{i},n\n"));
    }
    let job = json!({"object": "Account", "operation": "upsert", "externalIdFieldName": "Account_Key__c"});
    let (id, info) = run_job(&sim, &token, job, &csv).await;
    let count = |rows: Vec<Vec<String>>| rows.len() - 1;
    let ok = count(results(&sim, &token, &id, "successfulResults").await.1);
    let failed = count(results(&sim, &token, &id, "failedResults").await.1);
    let (_, rest) = results(&sim, &token, &id, "unprocessedrecords").await;
    assert_eq!(rest[0], ["Account_Key__c", "Name"]);
    for row in &rest[1..] {
        assert!(sim
            .record_by_external_id("Account", "Account_Key__c", &row[0])
            .is_none());
    }
    let summary = sim.summary(false);
    assert_eq!(summary["writes_total"], ok);
    assert_eq!(summary["written_more_than_once"], json!([]));
    let job = &sim.bulk_jobs()[0];
    assert_eq!(job.processed + job.unprocessed, 500);
    sim.shutdown().await;
    (info, ok, failed, rest.len() - 1)
}

#[tokio::test]
async fn a_failing_job_keeps_what_it_processed() {
    let fault = Fault::BulkJobFails {
        after_records: 250,
        message: "InvalidBatch : something broke".into(),
    };
    let (info, ok, failed, unprocessed) = faulted(fault).await;
    assert_eq!(info["state"], "Failed");
    assert_eq!(info["errorMessage"], "InvalidBatch : something broke");
    assert_eq!(info["numberRecordsProcessed"], 250);
    assert_eq!((ok, failed, unprocessed), (250, 0, 250));
}

#[tokio::test]
async fn an_aborted_job_stops_midway() {
    let (info, ok, failed, unprocessed) =
        faulted(Fault::BulkJobAborted { after_records: 300 }).await;
    assert_eq!(info["state"], "Aborted");
    assert_eq!(info["numberRecordsProcessed"], 300);
    assert_eq!(ok + failed + unprocessed, 500);
    assert_eq!(unprocessed, 200);
}

#[tokio::test]
async fn job_states_and_bad_requests() {
    let (sim, token) = start(fast()).await;
    for (body, code) in [
        (
            json!({"object": "Nope", "operation": "insert"}),
            "INVALIDJOB",
        ),
        (
            json!({"object": "Account", "operation": "merge"}),
            "INVALIDJOB",
        ),
        (
            json!({"object": "Account", "operation": "upsert"}),
            "INVALIDJOB",
        ),
        (
            json!({"object": "Account", "operation": "upsert", "externalIdFieldName": "Name"}),
            "INVALIDJOB",
        ),
        (
            json!({"object": "Account", "operation": "insert", "lineEnding": "CR"}),
            "INVALIDJOB",
        ),
    ] {
        let (status, err) = create(&sim, &token, body.clone()).await;
        assert_eq!(
            (status, err[0]["errorCode"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    let job = json!({"object": "Account", "operation": "insert"});
    let (_, info) = create(&sim, &token, job.clone()).await;
    let id = info["id"].as_str().expect("id").to_owned();
    let (status, _) = results(&sim, &token, &id, "successfulResults").await;
    assert_eq!(status, 409);
    assert_eq!(upload(&sim, &token, &id, "Name\na\n").await.0, 201);
    assert_eq!(set_state(&sim, &token, &id, "UploadComplete").await.0, 200);
    let (status, err) = upload(&sim, &token, &id, "Name\nb\n").await;
    assert_eq!(
        (status, err[0]["errorCode"].as_str()),
        (409, Some("INVALIDJOBSTATE"))
    );
    assert_eq!(set_state(&sim, &token, &id, "UploadComplete").await.0, 409);
    assert_eq!(set_state(&sim, &token, &id, "Bogus").await.0, 400);
    finish(&sim, &token, &id, Duration::from_secs(5)).await;
    assert_eq!(set_state(&sim, &token, &id, "Aborted").await.0, 409);
    let r = client()
        .delete(url(&sim, &format!("jobs/ingest/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = client()
        .get(url(&sim, &format!("jobs/ingest/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);

    // Aborted while open: nothing processed, everything unprocessed.
    let (_, info) = create(&sim, &token, job.clone()).await;
    let id = info["id"].as_str().expect("id").to_owned();
    upload(&sim, &token, &id, "Name\na\nb\n").await;
    let (status, info) = set_state(&sim, &token, &id, "Aborted").await;
    assert_eq!((status, info["state"].as_str()), (200, Some("Aborted")));
    let (_, rows) = results(&sim, &token, &id, "unprocessedrecords").await;
    assert_eq!(rows.len(), 3);

    // Closed without data; a header naming no field of a typed object.
    let (_, info) = create(&sim, &token, job.clone()).await;
    let id = info["id"].as_str().expect("id").to_owned();
    set_state(&sim, &token, &id, "UploadComplete").await;
    let info = finish(&sim, &token, &id, Duration::from_secs(5)).await;
    assert_eq!(info["state"], "Failed");
    assert!(info["errorMessage"].is_string());
    let (_, info) = run_job(&sim, &token, job, "Name,Bogus__c\na,b\n").await;
    assert_eq!(info["state"], "Failed");
    assert_eq!(
        info["errorMessage"],
        "InvalidBatch : Field name not found : Bogus__c"
    );
    assert_eq!(
        sim.calls()
            .iter()
            .filter(|c| call_kind(c) == "bulk_abort")
            .count(),
        2
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn daily_batch_allocation_and_limits() {
    let c = SimConfig {
        daily_bulk_batches: 1,
        ..fast()
    };
    let (sim, token) = start(c).await;
    let limits = |sim: &Simulator, token: &str| {
        let req = client().get(url(sim, "limits")).bearer_auth(token).send();
        async move {
            req.await
                .expect("limits")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let before = limits(&sim, &token).await;
    assert_eq!(
        before["DailyBulkApiBatches"],
        json!({"Max": 1, "Remaining": 1})
    );
    assert_eq!(before["DailyApiRequests"]["Max"], 100_000);
    assert_eq!(
        before["DailyApiRequests"]["Remaining"],
        100_000 - sim.usage()
    );
    let job = json!({"object": "Account", "operation": "insert"});
    let (_, info) = run_job(&sim, &token, job.clone(), "Name\na\nb\n").await;
    assert_eq!(info["state"], "JobComplete");
    let after = limits(&sim, &token).await;
    assert_eq!(after["DailyBulkApiBatches"]["Remaining"], 0);
    let (id, info) = run_job(&sim, &token, job, "Name\nc\n").await;
    assert_eq!(info["state"], "Failed");
    assert!(info["errorMessage"]
        .as_str()
        .is_some_and(|m| m.starts_with("ExceededQuota")));
    let (_, rows) = results(&sim, &token, &id, "unprocessedrecords").await;
    assert_eq!(rows, [["Name"], ["c"]]);
    assert_eq!(sim.summary(false)["records_total"], 2);
    assert_eq!(sim.summary(false)["calls"]["limits"]["total"], 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn refusals_apply_to_bulk_calls() {
    let (sim, token) = start(fast()).await;
    let job = json!({"object": "Account", "operation": "insert"});
    sim.inject(Fault::ServerError { count: 1 });
    assert_eq!(create(&sim, &token, job.clone()).await.0, 503);
    sim.inject(Fault::RequestLimit { count: 1 });
    let (status, err) = create(&sim, &token, job.clone()).await;
    assert_eq!(
        (status, err[0]["errorCode"].as_str()),
        (403, Some("REQUEST_LIMIT_EXCEEDED"))
    );
    sim.inject(Fault::UnknownException { count: 1 });
    assert_eq!(create(&sim, &token, job.clone()).await.0, 500);
    sim.set_read_only(true);
    let (status, err) = create(&sim, &token, job.clone()).await;
    assert_eq!(
        (status, err[0]["errorCode"].as_str()),
        (
            400,
            Some("INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE")
        )
    );
    sim.set_read_only(false);
    let (_, info) = create(&sim, &token, job).await;
    let id = info["id"].as_str().expect("id").to_owned();
    sim.inject(Fault::ExpireTokens);
    let (status, err) = upload(&sim, &token, &id, "Name\na\n").await;
    assert_eq!(
        (status, err[0]["errorCode"].as_str()),
        (401, Some("INVALID_SESSION_ID"))
    );
    assert_eq!(sim.api_calls(), 6);
    sim.shutdown().await;
}

#[test]
fn job_dates_are_in_the_captured_form() {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(1_630_373_473_000);
    assert_eq!(
        super::handlers::timestamp(t),
        "2021-08-31T01:31:13.000+0000"
    );
    let leap = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399);
    assert_eq!(
        super::handlers::timestamp(leap),
        "2000-02-29T23:59:59.000+0000"
    );
}

#[tokio::test]
async fn rows_processed_in_read_only_mode_fail() {
    let (sim, token) = start(fast()).await;
    let (_, info) = create(
        &sim,
        &token,
        json!({"object": "Account", "operation": "insert"}),
    )
    .await;
    let id = info["id"].as_str().expect("id").to_owned();
    upload(&sim, &token, &id, "Name\na\n").await;
    sim.set_read_only(true);
    set_state(&sim, &token, &id, "UploadComplete").await;
    let info = finish(&sim, &token, &id, Duration::from_secs(5)).await;
    assert_eq!(info["numberRecordsFailed"], 1, "{info}");
    let (_, rows) = results(&sim, &token, &id, "failedResults").await;
    assert!(rows[1][1].starts_with("INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE:"));
    assert_eq!(sim.summary(false)["records_total"], 0);
    sim.shutdown().await;
}
