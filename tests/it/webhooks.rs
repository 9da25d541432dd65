//! Signed webhooks end to end: valid requests land in RabbitMQ with the
//! message contract; forged, stale and malformed ones get 401/400 and leave
//! the queue empty.

use crate::support::{self, fixture, fixture_headers, header, now, sign, Harness};

/// Checks the properties and headers every message carries.
fn assert_contract(
    m: &lapin::message::BasicGetMessage,
    route: &str,
    path: &str,
    routing_key: &str,
    message_id: &str,
    content_type: &str,
) {
    let p = &m.delivery.properties;
    assert_eq!(m.delivery.routing_key.as_str(), routing_key);
    assert_eq!(p.delivery_mode(), &Some(2), "persistent");
    assert_eq!(
        p.message_id().as_ref().map(|s| s.as_str()),
        Some(message_id)
    );
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some(routing_key));
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("hookgate"));
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some(content_type)
    );
    let ts = p.timestamp().expect("timestamp") as i64;
    assert!((now() - ts).abs() < 60, "timestamp is the receive time");
    assert_eq!(header(m, "x-hookgate-route").as_deref(), Some(route));
    let received = header(m, "x-hookgate-received-at").expect("received-at");
    time::OffsetDateTime::parse(&received, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 received-at");
    assert_eq!(header(m, "cloudEvents:specversion").as_deref(), Some("1.0"));
    assert_eq!(header(m, "cloudEvents:id").as_deref(), Some(message_id));
    assert_eq!(header(m, "cloudEvents:source").as_deref(), Some(path));
    assert_eq!(header(m, "cloudEvents:type").as_deref(), Some(routing_key));
    assert_eq!(header(m, "cloudEvents:time"), Some(received));
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on every answer")
        .to_string()
}

#[tokio::test]
async fn github_push_is_published_byte_for_byte_after_confirm() {
    let h = Harness::start().await;
    let body = fixture("github/push.json");
    let headers = sign::github(
        support::GITHUB_SECRET,
        &body,
        fixture_headers("github/push.json"),
    );
    let r = h.post("/hooks/github", &headers, body.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), http::Version::HTTP_11);
    // Every answer carries an x-request-id: 32 lowercase hex digits, new per
    // request; a client's own is echoed back unchanged.
    let made = request_id(&r);
    assert_eq!(made.len(), 32, "{made}");
    assert!(
        made.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{made}"
    );
    let again = h.post("/hooks/github", &[], Vec::new()).await;
    assert_eq!(again.status(), 401);
    assert_ne!(request_id(&again), made, "a new id per request");
    let own = vec![("X-Request-Id".to_string(), "client-chosen-1".to_string())];
    let echoed = h.post("/hooks/github", &own, Vec::new()).await;
    assert_eq!(request_id(&echoed), "client-chosen-1");
    let msgs = h.take(1).await;
    assert_eq!(msgs[0].delivery.data, body, "body published byte for byte");
    assert_contract(
        &msgs[0],
        "github",
        "/hooks/github",
        "github.push",
        "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01",
        "application/json",
    );
    let (status, metrics) = h.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains(r#"hookgate_requests_total{route="github",outcome="accepted"} 1"#));
    assert!(metrics.contains(r#"hookgate_secret_matches_total{route="github",slot="0"} 1"#));
    h.finish().await;
}

#[tokio::test]
async fn github_forgeries_get_401_and_nothing_is_queued() {
    let h = Harness::start().await;
    let body = fixture("github/push.json");
    let good = sign::github(
        support::GITHUB_SECRET,
        &body,
        fixture_headers("github/push.json"),
    );

    // Wrong secret.
    let wrong = sign::github("not-the-secret", &body, fixture_headers("github/push.json"));
    assert_eq!(
        h.post("/hooks/github", &wrong, body.clone()).await.status(),
        401
    );
    // Tampered body (one byte changed).
    let mut tampered = body.clone();
    let i = tampered.iter().position(|&b| b == b'm').expect("an m");
    tampered[i] = b'M';
    assert_eq!(h.post("/hooks/github", &good, tampered).await.status(), 401);
    // Missing signature header.
    let r = h
        .post(
            "/hooks/github",
            &fixture_headers("github/push.json"),
            body.clone(),
        )
        .await;
    assert_eq!(r.status(), 401);
    let text = r.text().await.expect("body");
    assert_eq!(
        text, "{\"error\":\"unauthorized\"}\n",
        "says nothing about which check failed"
    );
    // Malformed signature header.
    let mut bad = fixture_headers("github/push.json");
    bad.push(("X-Hub-Signature-256".into(), "sha256=zz".into()));
    assert_eq!(
        h.post("/hooks/github", &bad, body.clone()).await.status(),
        401
    );

    h.assert_empty().await;
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(metrics.contains(
        r#"hookgate_verification_failures_total{route="github",reason="bad_signature"} 2"#
    ));
    assert!(metrics.contains(
        r#"hookgate_verification_failures_total{route="github",reason="missing_header"} 1"#
    ));
    h.finish().await;
}

#[tokio::test]
async fn github_rotated_old_secret_still_verifies() {
    let h = Harness::start().await;
    let body = fixture("github/ping.json");
    let headers = sign::github(
        support::GITHUB_OLD_SECRET,
        &body,
        fixture_headers("github/ping.json"),
    );
    assert_eq!(
        h.post("/hooks/github", &headers, body.clone())
            .await
            .status(),
        200
    );
    let msgs = h.take(1).await;
    assert_eq!(msgs[0].delivery.routing_key.as_str(), "github.ping");
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(metrics.contains(r#"hookgate_secret_matches_total{route="github",slot="1"} 1"#));
    h.finish().await;
}

#[tokio::test]
async fn stripe_event_keyed_by_event_id_and_timestamp_window_enforced() {
    let h = Harness::start().await;
    let body = fixture("stripe/invoice.paid.json");
    let hdrs = || fixture_headers("stripe/invoice.paid.json");
    let ok = sign::stripe(support::STRIPE_SECRET, &body, now(), hdrs());
    assert_eq!(
        h.post("/hooks/stripe", &ok, body.clone()).await.status(),
        200
    );
    let msgs = h.take(1).await;
    assert_eq!(msgs[0].delivery.data, body);
    assert_contract(
        &msgs[0],
        "stripe",
        "/hooks/stripe",
        "stripe.invoice.paid",
        "evt_1QxYzBB2cDeFgHiJa1B2c3D4",
        "application/json; charset=utf-8",
    );

    for t in [now() - 400, now() + 400] {
        let stale = sign::stripe(support::STRIPE_SECRET, &body, t, hdrs());
        assert_eq!(
            h.post("/hooks/stripe", &stale, body.clone()).await.status(),
            401
        );
    }
    let wrong = sign::stripe("whsec_wrong", &body, now(), hdrs());
    assert_eq!(
        h.post("/hooks/stripe", &wrong, body.clone()).await.status(),
        401
    );
    // A correctly signed body that is not JSON: 400, nothing queued.
    let junk = b"not json at all".to_vec();
    let signed = sign::stripe(support::STRIPE_SECRET, &junk, now(), hdrs());
    assert_eq!(h.post("/hooks/stripe", &signed, junk).await.status(), 400);
    h.assert_empty().await;
    h.finish().await;
}

#[tokio::test]
async fn slack_event_published_and_url_verification_answered_not_queued() {
    let h = Harness::start().await;
    let body = fixture("slack/app_mention.json");
    let ok = sign::slack(
        support::SLACK_SECRET,
        &body,
        now(),
        fixture_headers("slack/app_mention.json"),
    );
    assert_eq!(
        h.post("/hooks/slack", &ok, body.clone()).await.status(),
        200
    );
    let msgs = h.take(1).await;
    assert_contract(
        &msgs[0],
        "slack",
        "/hooks/slack",
        "slack.app_mention",
        "Ev08F7QK1ZPX",
        "application/json",
    );

    let challenge = fixture("slack/url_verification.json");
    let signed = sign::slack(
        support::SLACK_SECRET,
        &challenge,
        now(),
        fixture_headers("slack/url_verification.json"),
    );
    let r = h.post("/hooks/slack", &signed, challenge).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let stale = sign::slack(
        support::SLACK_SECRET,
        &body,
        now() - 301 - 60,
        fixture_headers("slack/app_mention.json"),
    );
    assert_eq!(
        h.post("/hooks/slack", &stale, body.clone()).await.status(),
        401
    );
    let future = sign::slack(
        support::SLACK_SECRET,
        &body,
        now() + 400,
        fixture_headers("slack/app_mention.json"),
    );
    assert_eq!(h.post("/hooks/slack", &future, body).await.status(), 401);
    h.assert_empty().await;
    h.finish().await;
}

#[tokio::test]
async fn shopify_topic_becomes_routing_key() {
    let h = Harness::start().await;
    let body = fixture("shopify/orders_create.json");
    let ok = sign::shopify(
        support::SHOPIFY_SECRET,
        &body,
        fixture_headers("shopify/orders_create.json"),
    );
    assert_eq!(
        h.post("/hooks/shopify", &ok, body.clone()).await.status(),
        200
    );
    let msgs = h.take(1).await;
    assert_eq!(msgs[0].delivery.data, body);
    assert_contract(
        &msgs[0],
        "shopify",
        "/hooks/shopify",
        "shopify.orders.create",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "application/json",
    );
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(h.post("/hooks/shopify", &ok, tampered).await.status(), 401);
    let wrong = sign::shopify("nope", &body, fixture_headers("shopify/orders_create.json"));
    assert_eq!(h.post("/hooks/shopify", &wrong, body).await.status(), 401);
    h.assert_empty().await;
    h.finish().await;
}

#[tokio::test]
async fn standard_webhooks_and_svix_headers() {
    let h = Harness::start().await;
    let body = fixture("standard_webhooks/invoice.created.json");
    let hdrs = || fixture_headers("standard_webhooks/invoice.created.json");
    let ok = sign::standard(support::STANDARD_SECRET, &body, now(), "webhook", hdrs());
    assert_eq!(
        h.post("/hooks/standard", &ok, body.clone()).await.status(),
        200
    );
    let msgs = h.take(1).await;
    assert_contract(
        &msgs[0],
        "standard",
        "/hooks/standard",
        "standard.invoice.created",
        "msg_2tXq9NfH0oZ3yW8kR5cV1bJ7aLp",
        "application/json",
    );
    // The same delivery again: answered 200, not published twice (replay cache).
    assert_eq!(
        h.post("/hooks/standard", &ok, body.clone()).await.status(),
        200
    );
    h.assert_empty().await;
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(
        metrics.contains(r#"hookgate_duplicates_total{route="standard",outcome="duplicate"} 1"#)
    );
    // The Svix header names, with another message id.
    let mut svix_headers = hdrs();
    for (k, v) in svix_headers.iter_mut() {
        if k.eq_ignore_ascii_case("webhook-id") {
            *k = "svix-id".into();
            *v = "msg_svix_variant_1".into();
        }
    }
    let svix = sign::standard(support::STANDARD_SECRET, &body, now(), "svix", svix_headers);
    assert_eq!(
        h.post("/hooks/standard", &svix, body.clone())
            .await
            .status(),
        200
    );
    let m = h.take(1).await;
    assert_eq!(m[0].delivery.data, body);
    assert_eq!(support::message_id(&m[0]), "msg_svix_variant_1");

    for t in [now() - 400, now() + 400] {
        let bad = sign::standard(support::STANDARD_SECRET, &body, t, "webhook", hdrs());
        assert_eq!(
            h.post("/hooks/standard", &bad, body.clone()).await.status(),
            401
        );
    }
    let wrong = sign::standard("whsec_d3Jvbmcta2V5", &body, now(), "webhook", hdrs());
    assert_eq!(h.post("/hooks/standard", &wrong, body).await.status(), 401);
    h.assert_empty().await;
    h.finish().await;
}

#[tokio::test]
async fn generic_hmac_route_uses_configured_headers() {
    let h = Harness::start().await;
    let body = fixture("generic/order.json");
    let hdrs = || fixture_headers("generic/order.json");
    let ok = sign::generic(support::GENERIC_SECRET, &body, now(), hdrs());
    assert_eq!(
        h.post("/hooks/generic", &ok, body.clone()).await.status(),
        200
    );
    let msgs = h.take(1).await;
    assert_contract(
        &msgs[0],
        "generic",
        "/hooks/generic",
        "generic.order.shipped",
        "0b6f2c9e-3d4a-4e1b-9f8c-7a5d2e1c0b93",
        "application/json",
    );
    let stale = sign::generic(support::GENERIC_SECRET, &body, now() - 1000, hdrs());
    assert_eq!(
        h.post("/hooks/generic", &stale, body.clone())
            .await
            .status(),
        401
    );
    let mut no_ts = ok.clone();
    no_ts.retain(|(k, _)| k != "X-Timestamp");
    assert_eq!(h.post("/hooks/generic", &no_ts, body).await.status(), 401);
    h.assert_empty().await;
    h.finish().await;
}

#[tokio::test]
async fn http_errors_404_405_413_and_http2() {
    let h = Harness::start().await;
    let body = fixture("github/push.json");
    let signed = sign::github(
        support::GITHUB_SECRET,
        &body,
        fixture_headers("github/push.json"),
    );

    assert_eq!(
        h.post("/hooks/nope", &signed, body.clone()).await.status(),
        404
    );
    let r = h
        .client
        .get(format!("{}/hooks/github", h.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    // The "small" route caps bodies at 64 bytes.
    let r = h.post("/hooks/small", &signed, body.clone()).await;
    assert_eq!(r.status(), 413);

    // HTTP/2 negotiated by ALPN.
    let mut req = h
        .client_h2
        .post(format!("{}/hooks/github", h.base))
        .body(body.clone());
    for (k, v) in &signed {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("h2 request");
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(h.take(1).await[0].delivery.data, body);
    h.finish().await;
}

#[tokio::test]
async fn admin_health_ready_metrics() {
    let h = Harness::start().await;
    assert_eq!(h.admin_get("/healthz").await.0, 200);
    assert_eq!(h.admin_get("/readyz").await.0, 200);
    let (status, metrics) = h.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("hookgate_broker_connected 1"));
    assert!(metrics.contains("hookgate_in_flight_requests"));
    assert!(metrics.contains("hookgate_confirm_latency_seconds"));
    assert_eq!(h.admin_get("/nope").await.0, 404);
    h.finish().await;
}
