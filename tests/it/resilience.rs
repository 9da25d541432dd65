//! The broker away: never a 2xx; back: 2xx again without a restart.

use std::net::SocketAddr;

use hookgate::broker::Status;

use crate::support::{self, fixture, fixture_headers, proxy::Proxy, sign, Harness, Options};

#[tokio::test]
async fn without_spool_broker_unreachable_gives_503_and_server_fault_then_recovers() {
    let target: SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let proxy = Proxy::start(target).await;
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr)),
        confirm_timeout_ms: Some(2000),
        no_spool: true,
        ..Options::default()
    })
    .await;
    let body = fixture("github/push.json");
    // A fresh delivery id each time: a repeat would be answered from the
    // replay cache, not by the broker.
    let signed = || {
        let mut headers = fixture_headers("github/push.json");
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
        headers.push(("X-GitHub-Delivery".into(), support::unique()));
        sign::github(support::GITHUB_SECRET, &body, headers)
    };

    assert_eq!(
        h.post("/hooks/github", &signed(), body.clone())
            .await
            .status(),
        200
    );
    assert_eq!(h.take(1).await.len(), 1);

    proxy.cut();
    h.wait_status(Status::Disconnected).await;
    assert_eq!(h.admin_get("/readyz").await.0, 503);
    let r = h.post("/hooks/github", &signed(), body.clone()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let r = h
        .post_om("/salesforce/outbound", fixture("salesforce/om_1.xml"))
        .await;
    assert!(r.headers().contains_key("retry-after"));
    crate::salesforce::assert_fault(r, "soapenv:Server").await;
    h.assert_empty().await;

    proxy.restore();
    h.wait_status(Status::Connected).await;
    assert_eq!(h.admin_get("/readyz").await.0, 200);
    assert_eq!(
        h.post("/hooks/github", &signed(), body.clone())
            .await
            .status(),
        200
    );
    assert_eq!(h.take(1).await[0].delivery.data, body);
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(metrics.contains("hookgate_broker_connections_total 2"));
    h.finish().await;
}

#[tokio::test]
async fn without_spool_gateway_starts_without_broker_and_answers_503() {
    // Nothing listens on this port: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@127.0.0.1:{port}/%2f")),
        no_wait: true,
        no_spool: true,
        ..Options::default()
    })
    .await;
    let body = fixture("stripe/invoice.paid.json");
    let signed = sign::stripe(
        support::STRIPE_SECRET,
        &body,
        support::now(),
        fixture_headers("stripe/invoice.paid.json"),
    );
    let r = h.post("/hooks/stripe", &signed, body).await;
    assert_eq!(r.status(), 503);
    assert_eq!(h.admin_get("/healthz").await.0, 200);
    assert_eq!(h.admin_get("/readyz").await.0, 503);
    h.assert_empty().await;
    h.finish().await;
}
