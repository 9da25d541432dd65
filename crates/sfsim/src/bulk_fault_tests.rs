//! Bulk API 2.0 against a real socket: job states and bad requests,
//! injected job faults, the daily batch allocation and `/limits`, refusals
//! of the data gate, read-only mode, and the job date form (helpers in
//! `bulk_tests.rs`).

use std::time::Duration;

use serde_json::{json, Value};

use super::super::*;
use super::tests::{create, fast, finish, results, run_job, set_state, start, upload, url};
use crate::tests::client;

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
