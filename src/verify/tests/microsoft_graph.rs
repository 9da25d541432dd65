//! Microsoft Graph change notifications.

use super::meta::{answered, call, sign_then_verify};
use super::*;

const GRAPH_BODY: &[u8] = include_bytes!("../../../fixtures/microsoft_graph/message.created.json");
const GRAPH_SECRET: &[u8] = b"dev-graph-client-state";

fn post(v: &Verifier, target: &str, body: &[u8]) -> Result<Claims, Error> {
    let mut h = HeaderMap::new();
    set(&mut h, "Content-Type", "application/json");
    call(v, http::Method::POST, target, &h, body, NOW)
}

fn batch(states: &[&str]) -> Vec<u8> {
    let items: Vec<String> = states
        .iter()
        .enumerate()
        .map(|(i, s)| format!(r#"{{"id":"n{i}","clientState":"{s}","changeType":"updated"}}"#))
        .collect();
    format!(r#"{{"value":[{}]}}"#, items.join(",")).into_bytes()
}

#[test]
fn graph_notification_verifies() {
    let v = verifier(RouteKind::MicrosoftGraph, &[GRAPH_SECRET]);
    assert_eq!(
        post(&v, "/hooks/microsoft_graph", GRAPH_BODY).unwrap(),
        unsigned(verified("lsgTZMr9KwAAA", Some("created"), 0))
    );
}

#[test]
fn graph_batch_keyed_by_body_hash_each_state_checked() {
    let v = verifier(RouteKind::MicrosoftGraph, &[b"old-state", GRAPH_SECRET]);
    let body = batch(&["dev-graph-client-state", "old-state"]);
    assert_eq!(
        post(&v, "/p", &body).unwrap(),
        unsigned(verified(&sha256_id(&body), Some("updated"), 1))
    );
    for body in [
        batch(&["dev-graph-client-state", "wrong"]),
        batch(&["wrong"]),
        batch(&[]),
        br#"{"value":[{"id":"1","changeType":"created"}]}"#.to_vec(),
        br#"{"value":[{"id":"1","clientState":7}]}"#.to_vec(),
        b"{}".to_vec(),
        NOT_JSON.to_vec(),
        NESTED_100K.to_vec(),
        tampered(GRAPH_BODY),
    ] {
        assert_eq!(post(&v, "/p", &body), Err(Error::BadSignature));
    }
    let many: Vec<&str> = vec!["dev-graph-client-state"; 1001];
    assert_eq!(post(&v, "/p", &batch(&many)), Err(Error::BadSignature));
    let many: Vec<&str> = vec!["dev-graph-client-state"; 1000];
    assert!(post(&v, "/p", &batch(&many)).is_ok());
}

#[test]
fn graph_lifecycle_event_names_the_event() {
    let v = verifier(RouteKind::MicrosoftGraph, &[GRAPH_SECRET]);
    let body = br#"{"value":[{"subscriptionId":"s","clientState":"dev-graph-client-state","lifecycleEvent":"reauthorizationRequired"}]}"#;
    assert_eq!(
        post(&v, "/p", body).unwrap(),
        unsigned(verified(
            &sha256_id(body),
            Some("reauthorizationRequired"),
            0
        ))
    );
}

#[test]
fn graph_rotation_reports_slot() {
    let v = verifier(RouteKind::MicrosoftGraph, &[b"old-state", GRAPH_SECRET]);
    assert_eq!(
        post(&v, "/hooks/microsoft_graph", GRAPH_BODY)
            .unwrap()
            .secret_slot,
        1
    );
}

#[test]
fn graph_validation_token_is_echoed_decoded() {
    let v = verifier(RouteKind::MicrosoftGraph, &[GRAPH_SECRET]);
    let target = "/hooks/microsoft_graph?validationToken=Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+4bd3e6a9-2d9f-4e8a";
    assert_eq!(
        post(&v, target, b"").unwrap(),
        answered(
            b"",
            Handshake::Text(
                "Validation: Testing client application reachability for subscription Request-Id: 4bd3e6a9-2d9f-4e8a".into()
            )
        )
    );
    let long = "t".repeat(257);
    for q in [
        "validationToken=",
        "validationToken=%0A",
        "validationToken=%C3%A9",
        &format!("validationToken={long}"),
    ] {
        assert!(post(&v, &format!("/p?{q}"), b"").is_err(), "{q}");
    }
}

#[test]
fn graph_sign_fills_in_the_client_state() {
    let r = route(RouteKind::MicrosoftGraph, &[GRAPH_SECRET], None);
    assert_eq!(
        sign_then_verify(&r, GRAPH_BODY, None),
        unsigned(verified("lsgTZMr9KwAAA", Some("created"), 0))
    );
    let body = batch(&["something-else", "x"]);
    let got = sign_then_verify(&r, &body, None);
    assert_eq!(got.event.as_deref(), Some("updated"));
}
