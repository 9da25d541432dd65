//! The message builders: routing keys, idempotency keys, and the
//! CloudEvents headers with `amqp.cloudevents` on and off.

use super::*;

#[test]
fn routing_keys() {
    assert_eq!(routing_key("github", Some("push")), "github.push");
    assert_eq!(
        routing_key("shopify", Some("orders/create")),
        "shopify.orders.create"
    );
    assert_eq!(
        routing_key("stripe", Some("invoice.paid")),
        "stripe.invoice.paid"
    );
    assert_eq!(routing_key("generic", None), "generic.event");
    assert_eq!(routing_key("generic", Some("  ")), "generic.event");
    assert_eq!(routing_key("x", Some("a b#*")), "x.a_b__");
    assert_eq!(
        routing_key("x", Some(&"y".repeat(400))).len(),
        MAX_ROUTING_KEY
    );
}

#[test]
fn unsigned_ids_include_the_body_hash() {
    assert_eq!(
        idempotency_key("stripe", "evt_1", true, b"x"),
        "stripe|evt_1"
    );
    let k = idempotency_key("github", "d-1", false, b"x");
    // SHA-256("x"), lower-case hex: the stored key format the worker shares.
    assert_eq!(
        k,
        "github|d-1|2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    );
    assert_eq!(k.capacity(), k.len(), "one allocation of the final size");
    assert_ne!(k, idempotency_key("github", "d-1", false, b"y"));
    let signed = idempotency_key("r", "", true, b"");
    assert_eq!((signed.as_str(), signed.capacity()), ("r|", 2));
}

// === amqp.cloudevents ===

const SECRET: &[u8] = b"dev-github-secret";
const ORG: &str = "00D000000000001EAA";
const PUSH: &[u8] = include_bytes!("../../fixtures/github/push.json");
const OM_1: &[u8] = include_bytes!("../../fixtures/salesforce/om_1.xml");

/// The routes `/hooks/github` and `/salesforce/outbound` of a validated
/// config (the GitHub secret in a file under `dir`).
fn routes(dir: &std::path::Path) -> (Route, Route) {
    let secret = dir.join("gh");
    std::fs::write(&secret, SECRET).unwrap();
    let text = format!(
        "[server]\nplaintext = true\n[amqp]\nurl = \"amqp://127.0.0.1:1/%2f\"\n\
         [[routes]]\npath = \"/hooks/github\"\nkind = \"github\"\nsecrets = [{{ file = {secret:?} }}]\n\
         [[routes]]\nname = \"salesforce\"\npath = \"/salesforce/outbound\"\nkind = \"salesforce_om\"\norg_ids = [\"{ORG}\"]\n"
    );
    let config =
        crate::config::Config::from_toml(std::path::Path::new("test.toml"), &text).unwrap();
    let mut routes = config.routes.into_iter();
    (routes.next().unwrap(), routes.next().unwrap())
}

/// The push fixture, signed and verified on `route`.
fn verified_push(route: &Route, now: i64) -> Verified {
    let draft = crate::verify::sign::Draft {
        body: PUSH,
        event: Some("push"),
        id: Some("d-1"),
        now,
        private_key: None,
    };
    let signed = crate::verify::sign::sign(route, &draft).unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in &signed.headers {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    crate::verify::Verifier::new(route)
        .verify(
            crate::verify::Head::post(&headers),
            Bytes::from(signed.body),
            now,
        )
        .unwrap()
}

fn names(m: &Message) -> Vec<&str> {
    m.headers.iter().map(|(k, _)| k.as_ref()).collect()
}

/// `binary` carries the five attributes, equal to what they repeat, right
/// after the three `x-hookgate-*` headers; `off` is the same message
/// without them: same properties, same other headers in the same order,
/// same body.
fn assert_only_cloudevents_differ(binary: &Message, off: &Message, source: &str) {
    assert_eq!(
        names(binary)[..8],
        [
            ROUTE_HEADER,
            RECEIVED_AT_HEADER,
            IDEMPOTENCY_KEY_HEADER,
            "cloudEvents:specversion",
            "cloudEvents:id",
            "cloudEvents:source",
            "cloudEvents:type",
            "cloudEvents:time",
        ]
    );
    assert_eq!(binary.header("cloudEvents:specversion"), Some("1.0"));
    assert_eq!(
        binary.header("cloudEvents:id"),
        Some(binary.message_id.as_str())
    );
    assert_eq!(binary.header("cloudEvents:source"), Some(source));
    assert_eq!(
        binary.header("cloudEvents:type"),
        Some(binary.kind.as_str())
    );
    assert_eq!(
        binary.header("cloudEvents:time"),
        binary.header(RECEIVED_AT_HEADER)
    );
    for name in CLOUDEVENTS_HEADERS {
        assert_eq!(off.header(name), None, "{name} with cloudevents = off");
    }
    assert!(off
        .headers
        .iter()
        .all(|(k, _)| !k.starts_with("cloudEvents:")));
    let without: Vec<_> = binary
        .headers
        .iter()
        .filter(|(k, _)| !CLOUDEVENTS_HEADERS.contains(&k.as_ref()))
        .cloned()
        .collect();
    assert_eq!(off.headers, without);
    assert_eq!(
        Message {
            headers: without,
            ..binary.clone()
        },
        *off,
        "properties, routing key and body unchanged"
    );
}

#[test]
fn webhook_messages_without_cloudevents_lose_only_the_five_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (github, _) = routes(dir.path());
    let at = OffsetDateTime::now_utc();
    let v = verified_push(&github, at.unix_timestamp());
    let binary = webhook(
        &github,
        v.clone(),
        Some("application/json"),
        at,
        CloudEvents::Binary,
    )
    .unwrap();
    let off = webhook(&github, v, Some("application/json"), at, CloudEvents::Off).unwrap();
    assert_eq!(binary.headers.len(), 8);
    assert_eq!(off.headers.len(), 3);
    assert_eq!(binary.message_id, "d-1");
    assert_eq!(binary.kind, "github.push");
    assert_eq!(binary.body, PUSH);
    assert_only_cloudevents_differ(&binary, &off, "/hooks/github");
}

#[test]
fn notification_messages_without_cloudevents_lose_only_the_five_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, salesforce) = routes(dir.path());
    let om = crate::salesforce::om::parse(OM_1, Default::default()).unwrap();
    let at = OffsetDateTime::now_utc();
    let binary = notifications(&salesforce, &om, at, CloudEvents::Binary).unwrap();
    let off = notifications(&salesforce, &om, at, CloudEvents::Off).unwrap();
    assert_eq!(binary.len(), off.len());
    assert!(!binary.is_empty());
    for (b, o) in binary.iter().zip(&off) {
        assert_eq!(b.kind, "salesforce.Account");
        assert_only_cloudevents_differ(b, o, "/salesforce/outbound");
    }
}

#[test]
fn pulled_events_without_cloudevents_lose_only_the_five_headers() {
    let mut e = PulledEvent {
        subscription: "orders",
        topic: "/event/Order_Placed__e",
        event: "Order_Placed__e",
        id: "5e2b6a1c-7d3f-4a8e-9b0c-1d2e3f4a5b6c",
        replay_id: &[1, 0, 7],
        schema_id: "3c1f0e2d",
        content_type: "application/json",
        cloudevents: CloudEvents::Binary,
    };
    let at = OffsetDateTime::now_utc();
    let body = Bytes::from_static(b"{}");
    let binary = pubsub_event(&e, body.clone(), at).unwrap();
    e.cloudevents = CloudEvents::Off;
    let off = pubsub_event(&e, body, at).unwrap();
    assert_eq!(
        names(&binary)[8..],
        [REPLAY_ID_HEADER, SCHEMA_ID_HEADER],
        "the Pub/Sub headers follow the CloudEvents ones"
    );
    assert_eq!(
        names(&off),
        [
            ROUTE_HEADER,
            RECEIVED_AT_HEADER,
            IDEMPOTENCY_KEY_HEADER,
            REPLAY_ID_HEADER,
            SCHEMA_ID_HEADER
        ]
    );
    assert_only_cloudevents_differ(&binary, &off, "/event/Order_Placed__e");
}

#[test]
fn cloudevents_default_to_binary() {
    assert_eq!(CloudEvents::default(), CloudEvents::Binary);
}
