//! Outbound Messages end to end: one AMQP message per Notification, the Ack
//! only after every confirm, SOAP faults for anything else.

use crate::support::{fixture, header, Harness, Options, ORG_ID_15, ORG_ID_18};

const ACK: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#;

async fn assert_ack(r: reqwest::Response) {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
    let body = r.text().await.expect("body");
    let body = body
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        .unwrap_or(&body);
    assert_eq!(body, ACK);
}

pub(crate) async fn assert_fault(r: reqwest::Response, code: &str) {
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
    let body = r.text().await.expect("body");
    assert!(
        body.contains(&format!("<faultcode>{code}</faultcode>")),
        "{body}"
    );
    assert!(!body.contains("Ack"), "a fault is never an Ack");
    assert!(body.len() < 1024);
}

fn json(m: &lapin::message::BasicGetMessage) -> serde_json::Value {
    serde_json::from_slice(&m.delivery.data).expect("notification json")
}

#[tokio::test]
async fn one_notification_becomes_one_json_message() {
    let h = Harness::start().await;
    assert_ack(
        h.post_om("/salesforce/outbound", fixture("salesforce/om_1.xml"))
            .await,
    )
    .await;
    let msgs = h.take(1).await;
    let m = &msgs[0];
    let p = &m.delivery.properties;
    assert_eq!(m.delivery.routing_key.as_str(), "salesforce.Account");
    assert_eq!(
        p.message_id().as_ref().map(|s| s.as_str()),
        Some("04lHs000000oLkOIAU")
    );
    assert_eq!(p.delivery_mode(), &Some(2));
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        header(m, "cloudEvents:id").as_deref(),
        Some("04lHs000000oLkOIAU")
    );
    assert_eq!(header(m, "x-hookgate-route").as_deref(), Some("salesforce"));
    // Notification Ids are not signed: the body's hash is part of the key.
    assert_eq!(
        header(m, "x-hookgate-idempotency-key"),
        Some(hookgate::envelope::idempotency_key(
            "salesforce",
            "04lHs000000oLkOIAU",
            false,
            &m.delivery.data
        ))
    );
    let v = json(m);
    assert_eq!(v["organization_id"], ORG_ID_18);
    assert_eq!(v["action_id"], "04kHs000000GmaBIAS");
    assert_eq!(v["notification_id"], "04lHs000000oLkOIAU");
    assert_eq!(v["sobject_type"], "Account");
    assert_eq!(v["sobject"]["Id"], "001Hs0000010wBUIAY");
    assert_eq!(v["sobject"]["AnnualRevenue"], "120000.0");
    assert_eq!(v["sobject"]["Name"], "Acme Corporation");
    assert!(v["enterprise_url"]
        .as_str()
        .unwrap()
        .contains("/services/Soap/c/"));
    assert!(v["partner_url"]
        .as_str()
        .unwrap()
        .contains("/services/Soap/u/"));
    assert!(
        v.get("session_id").is_none(),
        "SessionId is dropped by default"
    );
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "organization_id",
        "action_id",
        "notification_id",
        "sobject_type",
        "sobject",
        "enterprise_url",
        "partner_url",
    ] {
        assert!(keys.contains(&k), "missing {k}");
    }
    assert_eq!(keys.len(), 7);
    h.finish().await;
}

#[tokio::test]
async fn nil_absent_and_empty_fields_and_session_id_forwarding() {
    let h = Harness::start().await;
    let body = fixture("salesforce/om_3_nil.xml");
    assert_ack(h.post_om("/salesforce/outbound", body.clone()).await).await;
    let msgs = h.take(3).await;
    // Messages of one POST may interleave across publishing channels (Salesforce
    // keeps no order either): look them up by Notification id.
    let mut vs: Vec<serde_json::Value> = msgs.iter().map(json).collect();
    vs.sort_by(|a, b| {
        a["notification_id"]
            .as_str()
            .cmp(&b["notification_id"].as_str())
    });
    let ids: Vec<&str> = vs
        .iter()
        .map(|v| v["notification_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "04lHs000000oLm0IAE",
            "04lHs000000oLm1IAE",
            "04lHs000000oLm2IAE"
        ]
    );
    // #1: absent fields are absent; entities decoded.
    assert!(vs[0]["sobject"].get("Website").is_none());
    assert_eq!(vs[0]["sobject"]["Name"], "Johnson & Sons");
    // #2: xsi:nil is null.
    assert!(vs[1]["sobject"]["Website"].is_null());
    assert!(vs[1]["sobject"].get("Website").is_some());
    // #3: empty element is the empty string.
    assert_eq!(vs[2]["sobject"]["Industry"], "");
    for v in &vs {
        assert!(v.get("session_id").is_none());
    }

    // The route with forward_session_id = true keeps it.
    assert_ack(h.post_om("/salesforce/with-session", body).await).await;
    let msgs = h.take(3).await;
    for m in &msgs {
        assert_eq!(
            json(m)["session_id"],
            "00D000000000001!AQ4AQFakeSessionTokenForTestsOnly"
        );
        assert_eq!(
            header(m, "x-hookgate-route").as_deref(),
            Some("salesforce_session")
        );
    }
    h.finish().await;
}

#[tokio::test]
async fn hundred_notifications_all_confirmed_before_ack() {
    let h = Harness::start().await;
    assert_ack(
        h.post_om("/salesforce/outbound", fixture("salesforce/om_100.xml"))
            .await,
    )
    .await;
    let msgs = h.take(100).await;
    let mut ids: Vec<String> = msgs
        .iter()
        .map(|m| {
            m.delivery
                .properties
                .message_id()
                .as_ref()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100, "100 distinct Notification ids");
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(metrics.contains("hookgate_messages_published_total 100"));
    h.finish().await;
}

/// Salesforce sends up to 100 Notifications of every field the action
/// selected, and a Long Text Area value holds 131,072 characters: refusing
/// such a message makes Salesforce retry it for 24 h and then drop it. The
/// default limits take `om_100_wide.xml` (1.1 MB, 15,308 elements, 150 fields
/// per Notification, one 131,072-character value of 3-byte characters).
#[tokio::test]
async fn wide_messages_pass_the_default_limits() {
    let h = Harness::start().await;
    assert_ack(
        h.post_om(
            "/salesforce/outbound",
            fixture("salesforce/om_100_wide.xml"),
        )
        .await,
    )
    .await;
    let msgs = h.take(100).await;
    let first = msgs
        .iter()
        .map(json)
        .find(|v| v["notification_id"] == "04lHs0000000000IAA")
        .expect("the first Notification");
    let notes = first["sobject"]["Long_Notes__c"].as_str().expect("notes");
    assert_eq!(notes.chars().count(), 131_072);
    assert!(notes.ends_with("<&>\"'tail!"));
    assert_eq!(first["sobject"].as_object().expect("fields").len(), 150);
    h.finish().await;
}

/// `routes[].parse_limits` narrows (or widens) one route's parser: past its
/// `max_notifications` the sender gets a Client fault and nothing is queued,
/// while the route beside it keeps the defaults.
#[tokio::test]
async fn parse_limits_apply_per_route() {
    let h = Harness::start_with(Options {
        routes_toml: Some(format!(
            "[[routes]]\nname = \"tight\"\npath = \"/salesforce/tight\"\nkind = \"salesforce_om\"\norg_ids = [\"{ORG_ID_15}\"]\nparse_limits = {{ max_notifications = 2, max_text_bytes = 1024 }}\n"
        )),
        ..Options::default()
    })
    .await;
    let three = fixture("salesforce/om_contact_3.xml");
    assert_fault(
        h.post_om("/salesforce/tight", three.clone()).await,
        "soapenv:Client",
    )
    .await;
    assert_fault(
        h.post_om("/salesforce/tight", fixture("salesforce/om_100_wide.xml"))
            .await,
        "soapenv:Client",
    )
    .await;
    h.assert_empty().await;
    assert_ack(h.post_om("/salesforce/outbound", three).await).await;
    assert_eq!(h.take(3).await.len(), 3);
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(metrics.contains(
        r#"hookgate_verification_failures_total{route="tight",reason="malformed_message"} 2"#
    ));
    h.finish().await;
}

#[tokio::test]
async fn contact_notifications_route_by_sobject_type() {
    let h = Harness::start().await;
    assert_ack(
        h.post_om(
            "/salesforce/outbound",
            fixture("salesforce/om_contact_3.xml"),
        )
        .await,
    )
    .await;
    for m in h.take(3).await {
        assert_eq!(m.delivery.routing_key.as_str(), "salesforce.Contact");
    }
    h.finish().await;
}

#[tokio::test]
async fn bad_messages_get_client_faults_and_nothing_is_queued() {
    let h = Harness::start().await;
    for f in [
        "om_101.xml",
        "om_wrong_org.xml",
        "om_xxe.xml",
        "om_doctype_internal.xml",
        "om_wrong_ns.xml",
        "om_soap12.xml",
        "om_zero.xml",
        "om_truncated.xml",
        "garbage.bin",
    ] {
        let body = fixture(&format!("salesforce/{f}"));
        let r = h.post_om("/salesforce/outbound", body).await;
        assert_eq!(r.status(), 500, "{f}");
        let text = r.text().await.expect("body");
        assert!(
            text.contains("<faultcode>soapenv:Client</faultcode>"),
            "{f}: {text}"
        );
        assert!(
            !text.contains("passwd") && !text.contains("Acme"),
            "{f}: fault echoes input"
        );
    }
    h.assert_empty().await;
    // GET on the SOAP route: 405 with a SOAP body.
    let r = h
        .client
        .get(format!("{}/salesforce/outbound", h.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 405);
    let (_, metrics) = h.admin_get("/metrics").await;
    assert!(metrics.contains(
        r#"hookgate_verification_failures_total{route="salesforce",reason="wrong_org"} 1"#
    ));
    h.finish().await;
}

#[tokio::test]
async fn fault_helper_matches_server_faults() {
    // The Server fault shape is exercised in resilience.rs; here the Client
    // fault helper is checked against a wrong-org message.
    let h = Harness::start().await;
    assert_fault(
        h.post_om(
            "/salesforce/outbound",
            fixture("salesforce/om_wrong_org.xml"),
        )
        .await,
        "soapenv:Client",
    )
    .await;
    h.assert_empty().await;
    h.finish().await;
}
