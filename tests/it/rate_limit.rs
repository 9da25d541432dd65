//! Per-route rate limits (issue 13): past a route's `rate_limit` webhooks get
//! `429` + `Retry-After` and Outbound Messages a SOAP `soapenv:Server`
//! fault (HTTP 500, which Salesforce retries) + `Retry-After`; nothing of a
//! limited request is queued; `per_client` keeps one bucket per client
//! address (the one PROXY headers name). Real TLS clients, the real broker.

use crate::hardening::{github_headers, github_route, metrics, om_headers, secret_file};
use crate::support::{self, assert_metric, fixture, message_id, raw, Harness, Options};
use crate::support::{GITHUB_SECRET, ORG_ID_15};

/// `Retry-After` as whole seconds.
fn retry_after(reply: &raw::Reply) -> u64 {
    reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", reply.headers))
}

/// Burst 3, one per second: three deliveries pass, the next two get 429
/// with `Retry-After` (the window is a second: the five requests take far
/// less), none of them is queued, and the outcome is counted. Another route
/// is not limited by it.
#[tokio::test]
async fn past_the_burst_a_webhook_route_answers_429_and_queues_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = secret_file(dir.path(), "gh", GITHUB_SECRET);
    let h = Harness::start_with(Options {
        routes_toml: Some(github_route(
            "limited",
            "/hooks/limited",
            &gh,
            "rate_limit = { per_second = 1, burst = 3 }",
        )),
        ..Default::default()
    })
    .await;
    let body = fixture("github/push.json");
    let id = support::unique();
    let mut statuses = Vec::new();
    let mut accepted = Vec::new();
    for i in 0..5 {
        // A connection each: a 429 is answered before the body is read, so
        // it closes its connection (lingering close).
        let mut conn = raw::connect(h.addr(), &h.ca_pem).await;
        let delivery = format!("rl-{i}-{id}");
        let req = raw::post(
            "/hooks/limited",
            &github_headers(GITHUB_SECRET, &delivery, &body),
            &body,
        );
        let reply = raw::roundtrip(&mut conn, &req)
            .await
            .expect("reply")
            .expect("response");
        statuses.push(reply.status);
        if reply.status == 200 {
            accepted.push(delivery);
        } else {
            assert!(retry_after(&reply) >= 1, "{:?}", reply.headers);
            assert_eq!(reply.text(), "{\"error\":\"too many requests\"}\n");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let ids: Vec<String> = h.take(3).await.iter().map(message_id).collect();
    assert_eq!(ids, accepted);

    let r = h
        .post(
            "/hooks/github",
            &github_headers(GITHUB_SECRET, &format!("rl-other-{id}"), &body),
            body.clone(),
        )
        .await;
    assert_eq!(r.status(), 200, "another route has its own limit (none)");
    assert_eq!(h.take(1).await.len(), 1);

    let m = metrics(&h).await;
    assert_metric(
        &m,
        r#"hookgate_requests_total{route="limited",outcome="rate_limited"}"#,
        2.0,
    );
    assert_metric(
        &m,
        r#"hookgate_requests_total{route="limited",outcome="accepted"}"#,
        3.0,
    );
    h.finish().await;
}

/// `per_client = true` behind a trusted balancer: each client named by a
/// PROXY header has its own bucket; one client past its burst does not
/// limit another.
#[tokio::test]
async fn per_client_limits_keep_clients_behind_one_balancer_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = secret_file(dir.path(), "gh", GITHUB_SECRET);
    let h = Harness::start_with(Options {
        server_toml: Some(r#"trusted_proxies = ["127.0.0.1/32"]"#.into()),
        routes_toml: Some(github_route(
            "per_client",
            "/hooks/per-client",
            &gh,
            "rate_limit = { per_second = 1, burst = 2, per_client = true }",
        )),
        ..Default::default()
    })
    .await;
    let body = fixture("github/push.json");
    let id = support::unique();
    let config = raw::tls_config(&h.ca_pem, &[b"http/1.1"], None);
    let mut accepted = Vec::new();
    for (client, n, want) in [
        ("203.0.113.10", 3, vec![200, 200, 429]),
        ("203.0.113.11", 2, vec![200, 200]),
    ] {
        let prefix = format!("PROXY TCP4 {client} 127.0.0.1 5555 443\r\n");
        let mut conn = raw::connect_with(h.addr(), config.clone(), prefix.as_bytes())
            .await
            .expect("TLS after the PROXY header");
        let mut got = Vec::new();
        for i in 0..n {
            let delivery = format!("pc-{client}-{i}-{id}");
            let req = raw::post(
                "/hooks/per-client",
                &github_headers(GITHUB_SECRET, &delivery, &body),
                &body,
            );
            let reply = raw::roundtrip(&mut conn, &req)
                .await
                .expect("reply")
                .expect("response");
            if reply.status == 200 {
                accepted.push(delivery);
            } else {
                assert!(retry_after(&reply) >= 1);
            }
            got.push(reply.status);
        }
        assert_eq!(got, want, "client {client}");
    }
    h.assert_holds_exactly(&accepted).await;
    h.finish().await;
}

/// An Outbound Message route past its limit answers the SOAP Server fault
/// on HTTP 500 (Salesforce retries it) with `Retry-After`; nothing queued.
#[tokio::test]
async fn past_the_limit_an_outbound_message_route_answers_a_server_fault() {
    let routes = format!(
        r#"
[[routes]]
name = "sf_limited"
path = "/salesforce/limited"
kind = "salesforce_om"
org_ids = ["{ORG_ID_15}"]
rate_limit = {{ per_second = 1, burst = 1 }}
"#
    );
    let h = Harness::start_with(Options {
        routes_toml: Some(routes),
        ..Default::default()
    })
    .await;
    let body = fixture("salesforce/om_1.xml");
    let mut conn = raw::connect(h.addr(), &h.ca_pem).await;
    let req = raw::post("/salesforce/limited", &om_headers(), &body);
    let first = raw::roundtrip(&mut conn, &req)
        .await
        .expect("reply")
        .expect("response");
    assert_eq!(first.status, 200);
    assert!(first.text().contains("<Ack>true</Ack>"), "{}", first.text());
    let second = raw::roundtrip(&mut conn, &req)
        .await
        .expect("reply")
        .expect("response");
    assert_eq!(second.status, 500);
    let text = second.text();
    assert!(text.contains("soapenv:Server"), "{text}");
    assert!(!text.contains("<Ack>"), "{text}");
    assert!(
        second
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/xml")),
        "{:?}",
        second.headers
    );
    assert!(retry_after(&second) >= 1);
    assert_eq!(h.take(1).await.len(), 1, "only the first message queued");
    let m = metrics(&h).await;
    assert_metric(
        &m,
        r#"hookgate_requests_total{route="sf_limited",outcome="rate_limited"}"#,
        1.0,
    );
    h.finish().await;
}
