//! The simulator against a real socket and a real HTTP client.

use std::time::{Duration, Instant};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use super::oauth::JWT_BEARER_GRANT;
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/salesforce/jwt");
const ACCOUNT: &str = "001000000000001";
const ACCOUNT_2: &str = "001000000000002";
const ACCOUNT_3: &str = "001000000000003";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

/// Standing for `login.salesforce.com`: `aud` is [`DEFAULT_AUDIENCE`].
pub(crate) fn config() -> SimConfig {
    SimConfig {
        jwt_public_key_pem: String::from_utf8(fixture("test-rsa.pub.pem")).expect("utf-8"),
        login_host: LoginHost::Production,
        ..SimConfig::default()
    }
}

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Unix time now, in seconds (JWT `exp`/`nbf`).
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn claims(c: &SimConfig) -> Value {
    json!({ "iss": c.consumer_key, "sub": c.username, "aud": DEFAULT_AUDIENCE, "exp": now() + 180 })
}

fn sign(key: &str, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&fixture(key)).expect("rsa key");
    encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign")
}

async fn token_call(sim: &Simulator, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .post(format!("{}{TOKEN_PATH}", sim.url()))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

async fn jwt_call(sim: &Simulator, assertion: &str) -> (u16, Value) {
    token_call(
        sim,
        &[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)],
    )
    .await
}

pub(crate) async fn login(sim: &Simulator) -> String {
    let (status, body) = jwt_call(sim, &sign("test-rsa.key", &claims(&config()))).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

fn data_url(sim: &Simulator, rest: &str) -> String {
    format!("{}/services/data/v62.0/{rest}", sim.url())
}

async fn patch(sim: &Simulator, token: &str, rest: &str, body: Value) -> reqwest::Response {
    client()
        .patch(data_url(sim, rest))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("data request")
}

fn limit_info(r: &reqwest::Response) -> String {
    r.headers()
        .get(LIMIT_INFO_HEADER)
        .expect("Sforce-Limit-Info")
        .to_str()
        .expect("ascii")
        .to_owned()
}

async fn error_code(r: reqwest::Response) -> String {
    let body: Value = r.json().await.expect("json");
    body[0]["errorCode"].as_str().expect("errorCode").to_owned()
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

async fn started() -> (Simulator, String) {
    let sim = Simulator::start(config()).await.expect("start");
    let token = login(&sim).await;
    (sim, token)
}

#[tokio::test]
async fn jwt_bearer_issues_a_token() {
    let sim = Simulator::start(config()).await.expect("start");
    let (status, body) = jwt_call(&sim, &sign("test-rsa.key", &claims(&config()))).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("00D") && token.contains('!'), "{token}");
    assert_eq!(body["instance_url"], sim.url());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api");
    assert!(body["id"]
        .as_str()
        .is_some_and(|id| id.starts_with(&format!("{}/id/00D", sim.url())) && id.contains("/005")));
    assert!(body["issued_at"]
        .as_str()
        .is_some_and(|t| t.parse::<u64>().is_ok()));
    // signature: Base64 HMAC-SHA256 of id + issued_at, keyed with the secret.
    {
        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"test-client-secret").expect("key");
        mac.update(body["id"].as_str().expect("id").as_bytes());
        mac.update(body["issued_at"].as_str().expect("issued_at").as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(body["signature"], expected.as_str());
    }
    assert!(body.get("refresh_token").is_none());
    // An audience array that contains ours is accepted too.
    let mut c = claims(&config());
    c["aud"] = json!(["https://example.com", DEFAULT_AUDIENCE]);
    assert_eq!(jwt_call(&sim, &sign("test-rsa.key", &c)).await.0, 200);
    assert_eq!(sim.token_requests(), 2);
    assert_eq!(sim.api_calls(), 0);
    let calls = sim.calls();
    assert!(calls
        .iter()
        .all(|c| c.auth && c.status == 200 && c.path == TOKEN_PATH));
    sim.shutdown().await;
}

#[tokio::test]
async fn jwt_bearer_refusals() {
    let sim = Simulator::start(config()).await.expect("start");
    let cfg = config();
    let with = |k: &str, v: Value| {
        let mut c = claims(&cfg);
        c[k] = v;
        c
    };
    let cases = [
        (
            sign("other-rsa.key", &claims(&cfg)),
            "invalid_grant",
            "invalid assertion",
        ),
        (
            sign("test-rsa.key", &with("iss", json!("someone-else"))),
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            sign(
                "test-rsa.key",
                &with("aud", json!("https://test.salesforce.com")),
            ),
            "invalid_grant",
            "audience is invalid",
        ),
        (
            sign("test-rsa.key", &with("exp", json!(now() - 600))),
            "invalid_grant",
            "expired authorization code",
        ),
        (
            sign("test-rsa.key", &with("exp", json!(now() + 3600))),
            "invalid_grant",
            "invalid assertion",
        ),
        (
            sign("test-rsa.key", &with("sub", json!("someone@example.com"))),
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
        (
            encode(
                &Header::new(Algorithm::HS256),
                &claims(&cfg),
                &EncodingKey::from_secret(b"test-client-secret"),
            )
            .expect("hs256"),
            "invalid_grant",
            "invalid assertion",
        ),
        ("not-a-jwt".to_owned(), "invalid_grant", "invalid assertion"),
    ];
    for (assertion, error, description) in &cases {
        let (status, body) = jwt_call(&sim, assertion).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], *error, "{body}");
        assert_eq!(body["error_description"], *description, "{body}");
        assert!(body.get("access_token").is_none());
    }
    let (status, body) = token_call(&sim, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    assert_eq!(sim.token_requests(), cases.len() as u64 + 1);
    assert!(sim.calls().iter().all(|c| c.auth && c.status == 400));
    sim.shutdown().await;
}

#[tokio::test]
async fn jwt_refused_without_a_trusted_key() {
    let sim = Simulator::start(SimConfig::default()).await.expect("start");
    let (status, body) = jwt_call(&sim, &sign("test-rsa.key", &claims(&config()))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn client_credentials_flow() {
    let sim = Simulator::start(config()).await.expect("start");
    let cfg = config();
    let (status, body) = token_call(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &cfg.consumer_key),
            ("client_secret", &cfg.client_secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(body["instance_url"], sim.url());
    assert!(body.get("refresh_token").is_none());

    // HTTP Basic works too.
    let r = client()
        .post(format!("{}{TOKEN_PATH}", sim.url()))
        .basic_auth(&cfg.consumer_key, Some(&cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("basic");
    assert_eq!(r.status(), 200);

    let (status, body) = token_call(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &cfg.consumer_key),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "error": "invalid_client", "error_description": "invalid client credentials" })
    );
    let (status, body) = token_call(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", &cfg.client_secret),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_id"))
    );

    // GET is refused.
    let r = client()
        .get(format!("{}{TOKEN_PATH}", sim.url()))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);

    // The client credentials token opens the data API.
    sim.seed("Account", ACCOUNT, Map::new());
    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{ACCOUNT}"),
        json!({"Name": "A"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(sim.token_requests(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn data_calls_need_a_live_token() {
    let sim = Simulator::start(config()).await.expect("start");
    sim.seed("Account", ACCOUNT, Map::new());
    let path = format!("sobjects/Account/{ACCOUNT}");
    let r = client()
        .patch(data_url(&sim, &path))
        .json(&json!({"Name": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert_eq!(limit_info(&r), "api-usage=0/100000");
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!([{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }])
    );
    let r = patch(
        &sim,
        "00D000000000062!AQforged",
        &path,
        json!({"Name": "x"}),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(sim.api_calls(), 2);
    assert_eq!(sim.usage(), 0, "unauthenticated calls are not charged");
    assert_eq!(sim.writes("Account", ACCOUNT), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn update_by_id() {
    let (sim, token) = started().await;
    sim.seed(
        "Account",
        ACCOUNT,
        fields(json!({"Name": "Acme", "Industry": "Retail"})),
    );
    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{ACCOUNT}"),
        json!({"Integration_Status__c": "Received", "name": "Acme 2"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(limit_info(&r), "api-usage=1/100000");
    assert!(r.bytes().await.expect("body").is_empty());
    let rec = sim.record("Account", ACCOUNT).expect("record");
    assert_eq!(
        Value::Object(rec),
        json!({"Name": "Acme 2", "Industry": "Retail", "Integration_Status__c": "Received"})
    );
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    // The 18-character form (any case) names the same record.
    let id18 = crate::id::to_18(ACCOUNT).expect("id");
    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{}", id18.to_lowercase()),
        json!({"Industry": "Energy"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(sim.writes("Account", &id18), 2);

    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{ACCOUNT_2}"),
        json!({"Name": "x"}),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NOT_FOUND");
    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{ACCOUNT}"),
        json!({"Id": ACCOUNT}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "INVALID_FIELD");
    let r = client()
        .patch(data_url(&sim, &format!("sobjects/Account/{ACCOUNT}")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"Name\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "JSON_PARSER_ERROR");
    let r = client()
        .patch(format!(
            "{}/services/data/62/sobjects/Account/{ACCOUNT}",
            sim.url()
        ))
        .bearer_auth(&token)
        .json(&json!({"Name": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key(LIMIT_INFO_HEADER));
    assert_eq!(error_code(r).await, "NOT_FOUND");
    assert!(sim.delete("Account", ACCOUNT));
    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{ACCOUNT}"),
        json!({"Name": "x"}),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "ENTITY_IS_DELETED");
    assert_eq!(sim.writes("Account", ACCOUNT), 2);
    assert_eq!(sim.api_calls(), 7);
    assert_eq!(sim.usage(), 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn get_by_id() {
    let (sim, token) = started().await;
    sim.seed("Account", ACCOUNT, fields(json!({"Name": "Acme"})));
    let r = client()
        .get(data_url(&sim, &format!("sobjects/Account/{ACCOUNT}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let id18 = crate::id::to_18(ACCOUNT).expect("id");
    assert_eq!(body["Id"], id18.as_str());
    assert_eq!(body["Name"], "Acme");
    assert_eq!(body["attributes"]["type"], "Account");
    sim.shutdown().await;
}

#[tokio::test]
async fn upsert_creates_then_updates() {
    let (sim, token) = started().await;
    let path = "sobjects/Payment__c/Stripe_Id__c/in_123";
    let r = patch(&sim, &token, path, json!({"Amount__c": 1200})).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["success"], true);
    assert_eq!(body["created"], true);
    assert_eq!(body["errors"], json!([]));
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 18);
    assert_eq!(crate::id::to_18(&id[..15]).as_deref(), Some(id.as_str()));
    let (found, rec) = sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "in_123")
        .expect("created");
    assert_eq!(found, id);
    assert_eq!(
        Value::Object(rec),
        json!({"Amount__c": 1200, "Stripe_Id__c": "in_123"})
    );

    let r = patch(&sim, &token, path, json!({"Amount__c": 1500})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["created"], false);
    assert_eq!(body["id"], id.as_str());
    assert_eq!(
        sim.record("Payment__c", &id).expect("record")["Amount__c"],
        1500
    );
    assert_eq!(sim.writes("Payment__c", &id), 2);

    // Id or the external id field in the body: 400.
    let r = patch(&sim, &token, path, json!({"Stripe_Id__c": "in_123"})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "INVALID_FIELD");
    let r = patch(&sim, &token, path, json!({"Id": id})).await;
    assert_eq!(r.status(), 400);
    // Unknown (non-custom) object: 404.
    let r = patch(&sim, &token, "sobjects/Paymnt/Stripe_Id__c/x", json!({})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(sim.writes("Payment__c", &id), 2);
    // Several records with the value: 300 with their URLs.
    sim.seed(
        "Contact",
        "003000000000001",
        fields(json!({"Ext__c": "dup"})),
    );
    sim.seed(
        "Contact",
        "003000000000002",
        fields(json!({"Ext__c": "DUP"})),
    );
    let r = patch(
        &sim,
        &token,
        "sobjects/Contact/Ext__c/dup",
        json!({"LastName": "x"}),
    )
    .await;
    assert_eq!(r.status(), 300);
    let urls: Value = r.json().await.expect("json");
    assert_eq!(urls.as_array().map(Vec::len), Some(2));
    sim.shutdown().await;
}

fn update_body(ids: &[&str], all_or_none: bool) -> Value {
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({"attributes": {"type": "Account"}, "id": id, "Integration_Status__c": "Received"}))
        .collect();
    json!({ "allOrNone": all_or_none, "records": records })
}

#[tokio::test]
async fn collections_update_with_a_rejected_record() {
    let (sim, token) = started().await;
    for id in [ACCOUNT, ACCOUNT_2, ACCOUNT_3] {
        sim.seed("Account", id, Map::new());
    }
    sim.inject(Fault::RejectRecord {
        key: ACCOUNT_2.to_owned(),
        status_code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".to_owned(),
        message: "Status cannot change".to_owned(),
        fields: vec!["Integration_Status__c".to_owned()],
    });
    let r = patch(
        &sim,
        &token,
        "composite/sobjects",
        update_body(&[ACCOUNT, ACCOUNT_2, ACCOUNT_3], false),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(limit_info(&r), "api-usage=1/100000");
    let results: Value = r.json().await.expect("json");
    let id = |raw: &str| crate::id::to_18(raw).expect("id");
    assert_eq!(
        results,
        json!([
            {"id": id(ACCOUNT), "success": true, "errors": []},
            {"success": false, "errors": [{
                "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "message": "Status cannot change",
                "fields": ["Integration_Status__c"],
            }]},
            {"id": id(ACCOUNT_3), "success": true, "errors": []},
        ])
    );
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    assert_eq!(sim.writes("Account", ACCOUNT_2), 0);
    assert_eq!(sim.writes("Account", ACCOUNT_3), 1);
    assert_eq!(
        sim.record("Account", ACCOUNT_3).expect("r")["Integration_Status__c"],
        "Received"
    );
    assert_eq!(sim.api_calls(), 1);
    let last = sim.calls().pop().expect("call");
    assert_eq!(
        (last.method.as_str(), last.status, last.records, last.auth),
        ("PATCH", 200, 3, false)
    );

    // allOrNone: nothing is written, the others are rolled back.
    let r = patch(
        &sim,
        &token,
        "composite/sobjects",
        update_body(&[ACCOUNT, ACCOUNT_2], true),
    )
    .await;
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.expect("json");
    assert_eq!(results[0]["success"], false);
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn collections_update_per_record_errors() {
    let (sim, token) = started().await;
    sim.seed("Account", ACCOUNT, Map::new());
    sim.seed("Account", ACCOUNT_3, Map::new());
    sim.delete("Account", ACCOUNT_3);
    let body = json!({"records": [
        {"attributes": {"type": "Account"}, "id": ACCOUNT, "Name": "a"},
        {"attributes": {"type": "Account"}, "id": ACCOUNT, "Name": "b"},
        {"attributes": {"type": "Account"}, "id": ACCOUNT_2},
        {"attributes": {"type": "Account"}, "id": ACCOUNT_3},
        {"attributes": {"type": "Account"}, "id": "nope"},
        {"attributes": {"type": "Account"}, "Name": "no id"},
        {"attributes": {"type": "Acount"}, "id": ACCOUNT},
    ]});
    let r = patch(&sim, &token, "composite/sobjects", body).await;
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.expect("json");
    let codes: Vec<&str> = results
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["errors"][0]["statusCode"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "DUPLICATE_VALUE",
            "NOT_FOUND",
            "ENTITY_IS_DELETED",
            "MALFORMED_ID",
            "MISSING_ARGUMENT",
            "INVALID_TYPE"
        ]
    );
    assert_eq!(sim.record("Account", ACCOUNT).expect("r")["Name"], "a");
    // Malformed requests: 400 with a top-level errorCode.
    let r = patch(
        &sim,
        &token,
        "composite/sobjects",
        json!({"records": [{"id": ACCOUNT}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = patch(&sim, &token, "composite/sobjects", json!([1])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "JSON_PARSER_ERROR");
    sim.shutdown().await;
}

fn upsert_records(n: usize) -> Value {
    let records: Vec<Value> = (0..n)
        .map(|i| json!({"attributes": {"type": "Payment__c"}, "Stripe_Id__c": format!("in_{i}"), "Amount__c": i}))
        .collect();
    json!({ "allOrNone": false, "records": records })
}

#[tokio::test]
async fn collections_upsert_limits_and_results() {
    let (sim, token) = started().await;
    let path = "composite/sobjects/Payment__c/Stripe_Id__c";
    let r = patch(&sim, &token, path, upsert_records(201)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "EXCEEDED_ID_LIMIT");
    assert!(sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "in_0")
        .is_none());

    let r = patch(&sim, &token, path, upsert_records(200)).await;
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.expect("json");
    let results = results.as_array().expect("array");
    assert_eq!(results.len(), 200);
    assert!(results
        .iter()
        .all(|r| r["success"] == true && r["created"] == true));
    // Results are in request order.
    let (id7, rec7) = sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "in_7")
        .expect("in_7");
    assert_eq!(results[7]["id"], id7.as_str());
    assert_eq!(rec7["Amount__c"], 7);

    // Again: updates; a duplicate value and a missing value fail alone.
    let body = json!({"records": [
        {"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "in_1", "Amount__c": 10},
        {"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "in_new", "Amount__c": 11},
        {"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "in_2"},
        {"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "IN_2"},
        {"attributes": {"type": "Payment__c"}, "Amount__c": 12},
    ]});
    let r = patch(&sim, &token, path, body).await;
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.expect("json");
    assert_eq!(results[0]["created"], false);
    assert_eq!(results[1]["created"], true);
    assert_eq!(results[2]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert_eq!(results[3]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert_eq!(results[4]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert_eq!(results[4]["created"], false);
    let (id1, rec1) = sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "in_1")
        .expect("in_1");
    assert_eq!(rec1["Amount__c"], 10);
    assert_eq!(sim.writes("Payment__c", &id1), 2);
    let (id2, _) = sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "in_2")
        .expect("in_2");
    assert_eq!(sim.writes("Payment__c", &id2), 1);

    assert_eq!(sim.api_calls(), 3);
    let records: Vec<usize> = sim
        .calls()
        .iter()
        .filter(|c| !c.auth)
        .map(|c| c.records)
        .collect();
    assert_eq!(records, [201, 200, 5]);
    sim.shutdown().await;
}

#[tokio::test]
async fn usage_is_reported_and_limited() {
    let cfg = SimConfig {
        daily_limit: 12,
        ..config()
    };
    let sim = Simulator::start(cfg).await.expect("start");
    let token = login(&sim).await;
    sim.seed("Account", ACCOUNT, Map::new());
    let path = format!("sobjects/Account/{ACCOUNT}");
    sim.set_usage(10);
    for expected in ["api-usage=11/12", "api-usage=12/12"] {
        let r = patch(&sim, &token, &path, json!({"Name": "x"})).await;
        assert_eq!(r.status(), 204);
        assert_eq!(limit_info(&r), expected);
    }
    let r = patch(&sim, &token, &path, json!({"Name": "y"})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(limit_info(&r), "api-usage=13/12");
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!([{ "message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED" }])
    );
    assert_eq!(sim.record("Account", ACCOUNT).expect("r")["Name"], "x");
    assert_eq!(sim.usage(), 13);
    // Usage falls (the rolling window moves on): calls succeed again.
    sim.set_usage(0);
    let r = patch(&sim, &token, &path, json!({"Name": "z"})).await;
    assert_eq!(r.status(), 204);
    assert_eq!(limit_info(&r), "api-usage=1/12");
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_tokens_then_a_fresh_one() {
    let (sim, token) = started().await;
    sim.seed("Account", ACCOUNT, Map::new());
    let path = format!("sobjects/Account/{ACCOUNT}");
    assert_eq!(
        patch(&sim, &token, &path, json!({"Name": "a"}))
            .await
            .status(),
        204
    );
    sim.inject(Fault::ExpireTokens);
    let r = patch(&sim, &token, &path, json!({"Name": "b"})).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "INVALID_SESSION_ID");
    let fresh = login(&sim).await;
    assert_ne!(fresh, token);
    assert_eq!(
        patch(&sim, &fresh, &path, json!({"Name": "c"}))
            .await
            .status(),
        204
    );
    assert_eq!(sim.writes("Account", ACCOUNT), 2);
    assert_eq!(sim.token_requests(), 2);
    sim.shutdown().await;

    // token_ttl: a token dies on its own.
    let cfg = SimConfig {
        // Long enough for the first call on a loaded machine.
        token_ttl: Duration::from_secs(2),
        ..config()
    };
    let sim = Simulator::start(cfg).await.expect("start");
    sim.seed("Account", ACCOUNT, Map::new());
    let token = login(&sim).await;
    // The token was issued before this instant, so it is dead 2 s after it.
    let issued = tokio::time::Instant::now();
    assert_eq!(
        patch(&sim, &token, &path, json!({"Name": "a"}))
            .await
            .status(),
        204
    );
    tokio::time::sleep_until(issued + Duration::from_millis(2_100)).await;
    assert_eq!(
        patch(&sim, &token, &path, json!({"Name": "b"}))
            .await
            .status(),
        401
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_call_faults_are_consumed_in_order() {
    let (sim, token) = started().await;
    sim.seed("Account", ACCOUNT, Map::new());
    let path = format!("sobjects/Account/{ACCOUNT}");
    sim.inject(Fault::ServerError { count: 2 });
    sim.inject(Fault::RequestLimit { count: 1 });
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = patch(&sim, &token, &path, json!({"Name": "x"})).await;
        assert!(r.headers().contains_key(LIMIT_INFO_HEADER));
        let status = r.status().as_u16();
        let code = if status == 204 {
            String::new()
        } else {
            error_code(r).await
        };
        seen.push((status, code));
    }
    assert_eq!(
        seen,
        [
            (503, "SERVER_UNAVAILABLE".to_owned()),
            (503, "SERVER_UNAVAILABLE".to_owned()),
            (403, "REQUEST_LIMIT_EXCEEDED".to_owned()),
            (204, String::new()),
        ]
    );
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    assert_eq!(sim.api_calls(), 4);
    assert_eq!(sim.usage(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn lock_row_per_record() {
    let (sim, token) = started().await;
    for id in [ACCOUNT, ACCOUNT_2] {
        sim.seed("Account", id, Map::new());
    }
    sim.inject(Fault::LockRow { count: 2 });
    let r = patch(
        &sim,
        &token,
        "composite/sobjects",
        update_body(&[ACCOUNT, ACCOUNT_2], false),
    )
    .await;
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.expect("json");
    assert_eq!(results[0]["errors"][0]["statusCode"], "UNABLE_TO_LOCK_ROW");
    assert_eq!(results[1]["errors"][0]["statusCode"], "UNABLE_TO_LOCK_ROW");
    // On a single-record call the lock is a 400.
    sim.inject(Fault::LockRow { count: 1 });
    let r = patch(
        &sim,
        &token,
        &format!("sobjects/Account/{ACCOUNT}"),
        json!({"Name": "x"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "UNABLE_TO_LOCK_ROW");
    let r = patch(
        &sim,
        &token,
        "composite/sobjects",
        update_body(&[ACCOUNT, ACCOUNT_2], false),
    )
    .await;
    let results: Value = r.json().await.expect("json");
    assert!(results
        .as_array()
        .expect("array")
        .iter()
        .all(|r| r["success"] == true));
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn transient_ratio_is_deterministic() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let (sim, token) = started().await;
        sim.seed("Account", ACCOUNT, Map::new());
        sim.inject(Fault::TransientRatio { ratio: 0.3, seed });
        let mut out = Vec::new();
        for _ in 0..60 {
            let r = patch(
                &sim,
                &token,
                &format!("sobjects/Account/{ACCOUNT}"),
                json!({"Name": "x"}),
            )
            .await;
            out.push(r.status().as_u16());
        }
        let ok = out.iter().filter(|s| **s == 204).count() as u64;
        assert_eq!(sim.writes("Account", ACCOUNT), ok);
        sim.shutdown().await;
        out
    }
    let a = statuses(42).await;
    assert_eq!(a, statuses(42).await);
    let failed = a.iter().filter(|s| **s == 503).count();
    assert!((6..=30).contains(&failed), "{failed} of 60 failed");
    assert!(a.iter().all(|s| *s == 204 || *s == 503));
}

#[tokio::test]
async fn slow_answers_after_the_write() {
    let (sim, token) = started().await;
    sim.seed("Account", ACCOUNT, Map::new());
    sim.inject(Fault::Slow {
        delay: Duration::from_millis(300),
        count: 1,
    });
    let path = format!("sobjects/Account/{ACCOUNT}");
    let started = Instant::now();
    let r = patch(&sim, &token, &path, json!({"Name": "x"})).await;
    assert_eq!(r.status(), 204);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        patch(&sim, &token, &path, json!({"Name": "y"}))
            .await
            .status(),
        204
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(sim.writes("Account", ACCOUNT), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let (sim, token) = started().await;
    let url = data_url(&sim, &format!("sobjects/Account/{ACCOUNT}"));
    let c = client();
    // Keep a pooled connection open, then stop.
    let r = c.get(&url).bearer_auth(&token).send().await.expect("get");
    assert_eq!(r.status(), 404);
    sim.shutdown().await;
    assert!(c.get(&url).bearer_auth(&token).send().await.is_err());
}

// === schema, types, describe, versions ===

async fn get(token: Option<&str>, url: &str) -> (u16, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn versions_need_no_token_and_are_not_charged() {
    let sim = Simulator::start(config()).await.expect("start");
    for path in ["/services/data", "/services/data/"] {
        let (status, body) = get(None, &format!("{}{path}", sim.url())).await;
        assert_eq!(status, 200);
        let list = body.as_array().expect("array");
        assert!(list
            .iter()
            .any(|v| v["version"] == "62.0" && v["url"] == "/services/data/v62.0"));
        assert_eq!(list[0]["label"], "Summer '14");
    }
    assert_eq!(sim.api_calls(), 0);
    assert_eq!(sim.usage(), 0);
    // A version the org does not serve: 404.
    let token = login(&sim).await;
    let url = format!(
        "{}/services/data/v99.0/sobjects/Account/describe",
        sim.url()
    );
    assert_eq!(get(Some(&token), &url).await.0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn describe_reports_fields_types_and_access() {
    let (sim, token) = started().await;
    let (status, d) = get(
        Some(&token),
        &data_url(&sim, "sobjects/Payment__c/describe"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d["name"], "Payment__c");
    let field = |name: &str| {
        d["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}"))
    };
    let ext = field("Stripe_Id__c");
    assert_eq!(ext["type"], "string");
    assert_eq!(ext["externalId"], true);
    assert_eq!(ext["idLookup"], true);
    assert_eq!(ext["caseSensitive"], true);
    assert_eq!(field("Amount__c")["type"], "currency");
    assert_eq!(field("Amount__c")["soapType"], "xsd:double");
    assert_eq!(field("Paid_At__c")["type"], "datetime");
    assert_eq!(field("Id")["updateable"], false);
    assert_eq!(field("Origin__c")["createable"], true);
    assert_eq!(field("Origin__c")["updateable"], false);
    assert_eq!(field("Legacy_Key__c")["externalId"], false);
    // Unknown (or untyped) objects: 404 NOT_FOUND.
    let (status, body) = get(Some(&token), &data_url(&sim, "sobjects/Nope__c/describe")).await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["errorCode"], "NOT_FOUND");
    // A test may define an object.
    sim.define(ObjectSchema::new(
        "Invoice__c",
        vec![FieldSchema::new("Total__c", FieldType::Double)],
    ));
    let (status, d) = get(
        Some(&token),
        &data_url(&sim, "sobjects/invoice__c/describe"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d["fields"][3]["name"], "Total__c");
    assert_eq!(sim.api_calls(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_badly_typed_value_fails_the_whole_call_at_its_position() {
    let (sim, token) = started().await;
    let path = "composite/sobjects/Payment__c/Stripe_Id__c";
    let mut records: Vec<Value> = (0..5)
        .map(|i| json!({"attributes": {"type": "Payment__c"}, "Stripe_Id__c": format!("t_{i}"), "Amount__c": 1}))
        .collect();
    records[3]["Amount__c"] = json!("abc");
    let text = serde_json::to_string(&json!({"allOrNone": false, "records": records})).unwrap();
    let r = client()
        .patch(data_url(&sim, path))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
    let msg = body[0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Cannot deserialize instance of currency from VALUE_STRING value abc"),
        "{msg}"
    );
    // The column is the character just past `"abc"`.
    let column: usize = msg
        .rsplit_once("column:")
        .and_then(|(_, c)| c.trim_end_matches(']').parse().ok())
        .expect("column");
    assert!(msg.contains("[line:1, column:"));
    assert_eq!(&text[column - 6..column - 1], "\"abc\"");
    // Nothing was written.
    assert!(sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "t_0")
        .is_none());
    // Other mismatches: a date that is no date, a string in a boolean.
    for (field, value, type_name) in [
        ("Paid_On__c", json!("2024-02-30"), "date"),
        ("Paid_At__c", json!("yesterday"), "datetime"),
        ("Paid__c", json!(3), "boolean"),
    ] {
        let body = json!({"records": [{"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "x", field: value}]});
        let r = patch(&sim, &token, path, body).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
        assert!(body[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("instance of {type_name} from")));
    }
    // Well typed values are stored as sent.
    let body = json!({"records": [{"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "ok",
        "Amount__c": 12.34, "Paid__c": true, "Paid_On__c": "2024-02-29",
        "Paid_At__c": "2024-02-29T10:11:12.345Z"}]});
    let r = patch(&sim, &token, path, body).await;
    assert_eq!(r.status(), 200);
    let (_, rec) = sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "ok")
        .unwrap();
    assert_eq!(rec["Amount__c"], json!(12.34));
    assert_eq!(rec["Paid_At__c"], "2024-02-29T10:11:12.345Z");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_field_fails_the_whole_call() {
    let (sim, token) = started().await;
    let body = json!({"records": [
        {"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "u_1", "Amount__c": 1},
        {"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "u_2", "Amont__c": 1},
    ]});
    let r = patch(
        &sim,
        &token,
        "composite/sobjects/Payment__c/Stripe_Id__c",
        body,
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    assert_eq!(
        body[0]["message"],
        "No such column 'Amont__c' on sobject of type Payment__c"
    );
    assert!(sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", "u_1")
        .is_none());
    // Field names are case-insensitive.
    let body = json!({"records": [{"attributes": {"type": "Payment__c"}, "stripe_id__C": "u_3", "AMOUNT__c": 1}]});
    let r = patch(
        &sim,
        &token,
        "composite/sobjects/Payment__c/Stripe_Id__c",
        body,
    )
    .await;
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn read_only_and_create_only_fields_fail_per_record() {
    let (sim, token) = started().await;
    let path = "composite/sobjects/Payment__c/Stripe_Id__c";
    let rec = |origin: bool| {
        let mut r = json!({"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "c_1"});
        if origin {
            r["Origin__c"] = json!("web");
        }
        r
    };
    // Insert: Origin__c is createable.
    let r = patch(&sim, &token, path, json!({"records": [rec(true)]})).await;
    let results: Value = r.json().await.unwrap();
    assert_eq!(results[0]["success"], true, "{results}");
    // Update: it is not updateable.
    let r = patch(&sim, &token, path, json!({"records": [rec(true)]})).await;
    let results: Value = r.json().await.unwrap();
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    assert_eq!(results[0]["errors"][0]["fields"][0], "Origin__c");
    // CreatedDate is set by the system only.
    let body = json!({"records": [{"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "c_2", "CreatedDate": "2024-01-01T00:00:00.000Z"}]});
    let results: Value = patch(&sim, &token, path, body).await.json().await.unwrap();
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    // Case-sensitive external id: "C_1" is another record.
    let body = json!({"records": [{"attributes": {"type": "Payment__c"}, "Stripe_Id__c": "C_1"}]});
    let results: Value = patch(&sim, &token, path, body).await.json().await.unwrap();
    assert_eq!(results[0]["created"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn setup_objects_do_not_mix_and_chunks_are_limited() {
    let (sim, token) = started().await;
    let account = "001000000000777";
    let user = "005000000000777";
    sim.seed("Account", account, Map::new());
    sim.seed("User", user, Map::new());
    let body = json!({"records": [
        {"attributes": {"type": "Account"}, "id": account, "Integration_Status__c": "A"},
        {"attributes": {"type": "User"}, "id": user, "Integration_Status__c": "U"},
    ]});
    let r = patch(&sim, &token, "composite/sobjects", body).await;
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.unwrap();
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["errors"][0]["statusCode"], "MIXED_DML_OPERATION");
    assert!(sim
        .record("User", user)
        .unwrap()
        .get("Integration_Status__c")
        .is_none());
    // Alone, the User is written.
    let body = json!({"records": [{"attributes": {"type": "User"}, "id": user, "Integration_Status__c": "U"}]});
    let results: Value = patch(&sim, &token, "composite/sobjects", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results[0]["success"], true);
    // 11 chunks: refused as a whole.
    let records: Vec<Value> = (0..11)
        .map(|i| {
            let t = if i % 2 == 0 { "Account" } else { "Contact" };
            json!({"attributes": {"type": t}, "id": account})
        })
        .collect();
    let r = patch(
        &sim,
        &token,
        "composite/sobjects",
        json!({"records": records}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "EXCEEDED_MAX_TYPES_LIMIT");
    assert_eq!(sim.collections_calls(), 3);
    sim.shutdown().await;
}
