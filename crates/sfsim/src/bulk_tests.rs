//! Bulk API 2.0 ingest against a real socket and a real HTTP client:
//! create, upload, close, poll, results; CSV quoting; per-row failures;
//! processing time (job states, faults, allocation and refusals:
//! `bulk_fault_tests.rs`).

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::super::*;
use crate::tests::{client, config, login};

const ACCOUNT: &str = "001000000000001";
const ACCOUNT_2: &str = "001000000000002";
const ACCOUNT_3: &str = "001000000000003";

/// Quick jobs: 20 ms in the queue, the default time per record.
pub(super) fn fast() -> SimConfig {
    SimConfig {
        bulk_queue_time: Duration::from_millis(20),
        ..config()
    }
}

pub(super) async fn start(c: SimConfig) -> (Simulator, String) {
    let sim = Simulator::start(c).await.expect("start");
    let token = login(&sim).await;
    (sim, token)
}

pub(super) fn url(sim: &Simulator, rest: &str) -> String {
    format!("{}/services/data/v62.0/{rest}", sim.url())
}

pub(super) fn id18(id: &str) -> String {
    crate::id::to_18(id).expect("id")
}

pub(super) async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(super) async fn create(sim: &Simulator, token: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(url(sim, "jobs/ingest"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("create");
    json_of(r).await
}

pub(super) async fn upload(sim: &Simulator, token: &str, id: &str, csv: &str) -> (u16, Value) {
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

pub(super) async fn set_state(sim: &Simulator, token: &str, id: &str, state: &str) -> (u16, Value) {
    let r = client()
        .patch(url(sim, &format!("jobs/ingest/{id}")))
        .bearer_auth(token)
        .json(&json!({ "state": state }))
        .send()
        .await
        .expect("patch");
    json_of(r).await
}

pub(super) async fn poll(sim: &Simulator, token: &str, id: &str) -> Value {
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
pub(super) async fn finish(sim: &Simulator, token: &str, id: &str, deadline: Duration) -> Value {
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
pub(super) async fn results(
    sim: &Simulator,
    token: &str,
    id: &str,
    which: &str,
) -> (u16, Vec<Vec<String>>) {
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

pub(super) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("csv").iter().map(str::to_owned).collect())
        .collect()
}

/// Creates, uploads, closes and waits: `(job id, final info)`.
pub(super) async fn run_job(
    sim: &Simulator,
    token: &str,
    job: Value,
    csv: &str,
) -> (String, Value) {
    let (status, info) = create(sim, token, job).await;
    assert_eq!(status, 200, "{info}");
    let id = info["id"].as_str().expect("id").to_owned();
    assert_eq!(upload(sim, token, &id, csv).await.0, 201);
    assert_eq!(set_state(sim, token, &id, "UploadComplete").await.0, 200);
    let info = finish(sim, token, &id, Duration::from_secs(5)).await;
    (id, info)
}

pub(super) fn keyed(key: &str) -> Map<String, Value> {
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
