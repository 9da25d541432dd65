//! The org's run-time conditions against a real socket: login hosts and
//! their audiences, token endpoint outages, approval, rotated secrets,
//! read-only mode, `UNKNOWN_EXCEPTION`, and both `Sforce-Limit-Info` items.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

use super::super::oauth::JWT_BEARER_GRANT;
use super::super::*;
use super::{PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE};
use crate::tests::{client, now};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/salesforce/jwt");
const ACCOUNT: &str = "001000000000001";
const ACCOUNT_2: &str = "001000000000002";

fn config(login_host: LoginHost) -> SimConfig {
    let pem = std::fs::read_to_string(format!("{FIXTURES}/test-rsa.pub.pem")).expect("pem");
    SimConfig {
        jwt_public_key_pem: pem,
        login_host,
        ..SimConfig::default()
    }
}

fn assertion(aud: &str, extra: &[(&str, Value)]) -> String {
    let c = SimConfig::default();
    let mut claims =
        json!({ "iss": c.consumer_key, "sub": c.username, "aud": aud, "exp": now() + 180 });
    for (k, v) in extra {
        claims[*k] = v.clone();
    }
    let key = std::fs::read(format!("{FIXTURES}/test-rsa.key")).expect("key");
    let key = EncodingKey::from_rsa_pem(&key).expect("rsa key");
    encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign")
}

/// (status, `error`, `error_description`) of a JWT bearer request.
async fn jwt(sim: &Simulator, assertion: &str) -> (u16, String, String) {
    let r = client()
        .post(format!("{}{TOKEN_PATH}", sim.url()))
        .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)])
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    (status, text("error"), text("error_description"))
}

async fn login(sim: &Simulator) -> String {
    let r = client()
        .post(format!("{}{TOKEN_PATH}", sim.url()))
        .form(&[
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", &assertion(&sim.audience(), &[])),
        ])
        .send()
        .await
        .expect("token request");
    let body: Value = r.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

async fn collections_update(sim: &Simulator, token: &str, ids: &[&str]) -> reqwest::Response {
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "attributes": { "type": "Account" }, "id": id, "Name": "x" }))
        .collect();
    client()
        .patch(format!(
            "{}/services/data/v62.0/composite/sobjects",
            sim.url()
        ))
        .bearer_auth(token)
        .json(&json!({ "allOrNone": false, "records": records }))
        .send()
        .await
        .expect("data request")
}

#[tokio::test]
async fn audience_follows_the_login_host() {
    for (host, accepted) in [
        (LoginHost::Production, PRODUCTION_AUDIENCE.to_owned()),
        (LoginHost::Sandbox, SANDBOX_AUDIENCE.to_owned()),
        (LoginHost::Site, String::new()),
    ] {
        let sim = Simulator::start(config(host)).await.expect("start");
        let accepted = if accepted.is_empty() {
            sim.url()
        } else {
            accepted
        };
        assert_eq!(sim.audience(), accepted);
        assert_eq!(
            jwt(&sim, &assertion(&accepted, &[])).await.0,
            200,
            "{host:?}"
        );
        let url = sim.url();
        for wrong in [
            PRODUCTION_AUDIENCE,
            SANDBOX_AUDIENCE,
            url.as_str(),
            "https://example.com",
        ] {
            if wrong == accepted {
                continue;
            }
            assert_eq!(
                jwt(&sim, &assertion(wrong, &[])).await,
                (400, "invalid_grant".into(), "audience is invalid".into()),
                "{host:?} {wrong}"
            );
        }
        sim.shutdown().await;
    }
    // The default stands for a site at its own URL.
    assert_eq!(SimConfig::default().login_host, LoginHost::Site);
}

#[tokio::test]
async fn invalid_grant_causes() {
    let sim = Simulator::start(config(LoginHost::Site))
        .await
        .expect("start");
    let aud = sim.audience();
    let grant = |d: &str| (400, "invalid_grant".to_owned(), d.to_owned());
    let cases = [
        (
            vec![("exp", json!(now() - 10))],
            grant("expired authorization code"),
        ),
        (
            vec![("nbf", json!(now() + 600))],
            grant("invalid assertion"),
        ),
        (vec![("nbf", json!("soon"))], grant("invalid assertion")),
        (
            vec![("sub", json!("nobody@example.com"))],
            grant("user hasn't approved this consumer"),
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(
            jwt(&sim, &assertion(&aud, &extra)).await,
            expected,
            "{extra:?}"
        );
    }
    assert_eq!(
        jwt(&sim, &assertion(&aud, &[("nbf", json!(now()))]))
            .await
            .0,
        200
    );
    sim.set_user_approved(false);
    assert_eq!(
        jwt(&sim, &assertion(&aud, &[])).await,
        grant("user hasn't approved this consumer")
    );
    sim.set_user_approved(true);
    assert_eq!(jwt(&sim, &assertion(&aud, &[])).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn rotated_secret_is_invalid_client() {
    let sim = Simulator::start(config(LoginHost::Site))
        .await
        .expect("start");
    let c = SimConfig::default();
    let call = |secret: &'static str| {
        let url = format!("{}{TOKEN_PATH}", sim.url());
        let id = c.consumer_key.clone();
        async move {
            let r = client()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id.as_str()),
                    ("client_secret", secret),
                ])
                .send()
                .await
                .expect("token request");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    assert_eq!(call("test-client-secret").await.0, 200);
    sim.rotate_client_secret("new-secret");
    assert_eq!(
        call("test-client-secret").await,
        (400, "invalid_client".into())
    );
    assert_eq!(call("new-secret").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn token_outages_end_by_themselves() {
    let sim = Simulator::start(config(LoginHost::Site))
        .await
        .expect("start");
    let good = assertion(&sim.audience(), &[]);
    sim.token_outage(Outage::Unavailable, Duration::from_millis(400));
    assert_eq!(jwt(&sim, &good).await.0, 503);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(jwt(&sim, &good).await.0, 200);

    sim.token_outage(Outage::Dropped, Duration::from_millis(400));
    let sent = client()
        .post(format!("{}{TOKEN_PATH}", sim.url()))
        .form(&[
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", good.as_str()),
        ])
        .send()
        .await;
    assert!(sent.is_err(), "no answer during a dropped outage");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(jwt(&sim, &good).await.0, 200);
    assert_eq!(sim.token_requests(), 4);

    // Refused: the port is closed for the duration, then the same URL works.
    sim.token_outage(Outage::Refused, Duration::from_millis(600));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = tokio::net::TcpStream::connect(sim.url().trim_start_matches("http://")).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused)
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(jwt(&sim, &good).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn read_only_mode_refuses_writes_per_record() {
    let sim = Simulator::start(config(LoginHost::Site))
        .await
        .expect("start");
    sim.seed("Account", ACCOUNT, Map::new());
    sim.seed("Account", ACCOUNT_2, Map::new());
    let token = login(&sim).await;
    sim.set_read_only(true);
    let r = collections_update(&sim, &token, &[ACCOUNT, ACCOUNT_2]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    for result in body.as_array().expect("array") {
        assert_eq!(result["success"], false);
        assert_eq!(
            result["errors"][0]["statusCode"],
            "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE"
        );
    }
    let r = client()
        .patch(format!(
            "{}/services/data/v62.0/sobjects/Account/{ACCOUNT}",
            sim.url()
        ))
        .bearer_auth(&token)
        .json(&json!({ "Name": "y" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body[0]["errorCode"],
        "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE"
    );
    assert_eq!(sim.writes("Account", ACCOUNT), 0);
    // Tokens still work in read-only mode; writes again after it.
    let token = login(&sim).await;
    sim.set_read_only(false);
    let r = collections_update(&sim, &token, &[ACCOUNT, ACCOUNT_2]).await;
    let body: Value = r.json().await.expect("json");
    assert!(body
        .as_array()
        .expect("array")
        .iter()
        .all(|r| r["success"] == true));
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_exception_then_success() {
    let sim = Simulator::start(config(LoginHost::Site))
        .await
        .expect("start");
    sim.seed("Account", ACCOUNT, Map::new());
    let token = login(&sim).await;
    sim.inject(Fault::UnknownException { count: 1 });
    let r = collections_update(&sim, &token, &[ACCOUNT]).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "UNKNOWN_EXCEPTION");
    assert_eq!(sim.writes("Account", ACCOUNT), 0);
    let r = collections_update(&sim, &token, &[ACCOUNT]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sim.writes("Account", ACCOUNT), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn limit_info_carries_both_items_and_the_app_limit_refuses() {
    let sim = Simulator::start(SimConfig {
        per_app_limit: Some(3),
        app_name: "sample-app".into(),
        ..config(LoginHost::Site)
    })
    .await
    .expect("start");
    sim.seed("Account", ACCOUNT, Map::new());
    let token = login(&sim).await;
    sim.set_usage(24);
    sim.set_per_app_usage(1);
    let r = collections_update(&sim, &token, &[ACCOUNT]).await;
    let header = r.headers()[LIMIT_INFO_HEADER]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        header,
        "api-usage=25/100000; per-app-api-usage=2/3(appName=sample-app)"
    );
    assert_eq!(r.status(), 200);
    collections_update(&sim, &token, &[ACCOUNT]).await;
    let r = collections_update(&sim, &token, &[ACCOUNT]).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    // Without a per-app allocation: the one documented item.
    let plain = Simulator::start(config(LoginHost::Site))
        .await
        .expect("start");
    let token = login(&plain).await;
    let r = collections_update(&plain, &token, &[ACCOUNT]).await;
    assert_eq!(r.headers()[LIMIT_INFO_HEADER], "api-usage=1/100000");
    plain.shutdown().await;
    sim.shutdown().await;
}

/// `sfsim --token-outage ... --expire-tokens ... --maintenance ...
/// --unknown-exception-ratio ...`: the plan runs by itself, and the summary
/// counts calls by kind and writes per record.
#[tokio::test]
async fn a_scheduled_fault_plan_and_the_summary() {
    let sim = Simulator::start(SimConfig {
        org_id: "00D000000000002".into(),
        ..config(LoginHost::Site)
    })
    .await
    .expect("start");
    sim.seed("Account", ACCOUNT, Map::new());
    sim.seed("Account", ACCOUNT_2, Map::new());
    let token = login(&sim).await;
    assert!(token.starts_with("00D000000000002!"), "{token}");
    sim.schedule(&FaultPlan {
        token_outages: vec!["300ms+900ms".parse().expect("window")],
        expire_tokens: vec![Duration::from_millis(300)],
        maintenance: vec!["2s+1.5s".parse().expect("window")],
        unknown_exception_ratio: 1.0,
        seed: 3,
    });
    let t0 = tokio::time::Instant::now();
    let at = |ms| tokio::time::sleep_until(t0 + Duration::from_millis(ms));
    // Every collections call: 500 UNKNOWN_EXCEPTION, nothing written.
    let r = collections_update(&sim, &token, &[ACCOUNT]).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "UNKNOWN_EXCEPTION");
    assert_eq!(sim.writes("Account", ACCOUNT), 0);
    sim.inject(Fault::CollectionsUnknownException {
        ratio: 0.0,
        seed: 0,
    });
    assert_eq!(
        collections_update(&sim, &token, &[ACCOUNT]).await.status(),
        200
    );
    // The token dies at 300 ms and the endpoint is down until 1.2 s.
    at(600).await;
    assert_eq!(
        collections_update(&sim, &token, &[ACCOUNT]).await.status(),
        401
    );
    let (status, _, _) = jwt(&sim, &assertion(&sim.audience(), &[])).await;
    assert_eq!(status, 503);
    // Read-only from 2 s to 3.5 s.
    at(2300).await;
    let token = login(&sim).await;
    let r = collections_update(&sim, &token, &[ACCOUNT_2]).await;
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body[0]["errors"][0]["statusCode"],
        "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE"
    );
    at(3800).await;
    for _ in 0..2 {
        let r = collections_update(&sim, &token, &[ACCOUNT_2]).await;
        let body: Value = r.json().await.expect("json");
        assert_eq!(body[0]["success"], true, "{body}");
    }
    let s = sim.summary(true);
    assert_eq!(s["org_id"], "00D000000000002EAA");
    assert_eq!(s["calls"]["collections"]["total"], 6);
    assert_eq!(s["calls"]["collections"]["by_status"]["500"], 1);
    assert_eq!(s["calls"]["collections"]["by_status"]["401"], 1);
    assert_eq!(s["calls"]["token"]["total"], 3);
    assert_eq!(s["calls"]["token"]["by_status"]["503"], 1);
    assert_eq!(s["records_written"], 2);
    assert_eq!(s["written_more_than_once"][0]["writes"], 2);
    assert_eq!(s["records"].as_array().map(Vec::len), Some(2));
    let r = client()
        .get(format!("{}{SUMMARY_PATH}?records=0", sim.url()))
        .send()
        .await
        .expect("summary");
    let body: Value = r.json().await.expect("json");
    assert!(body.get("records").is_none());
    assert_eq!(
        body["calls"]["collections"]["total"], 6,
        "not logged itself"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_public_url_is_its_url_and_site_audience() {
    // Behind a container network: bound on 127.0.0.1, reached as sfsim:8787.
    let sim = Simulator::start(SimConfig {
        public_url: Some("http://sfsim:8787/".into()),
        ..config(LoginHost::Site)
    })
    .await
    .expect("start");
    assert_eq!(sim.url(), "http://sfsim:8787");
    assert_eq!(sim.audience(), "http://sfsim:8787");
    sim.shutdown().await;
}
