//! Trace context: a request's W3C `traceparent` continued into every
//! message's AMQP headers (spooled ones too), hostile values replaced by a
//! new trace, the gateway's spans exported to an in-process OTLP/HTTP
//! collector (a spool forward round among them), and the worker continuing
//! the trace into its Salesforce call.

use std::net::SocketAddr;

use hookgate::broker::Status;

use crate::support::otlp::{Collector, Span};
use crate::support::worker::{base, eventually, om_xml, sfid, WorkerEnv, WorkerOpts};
use crate::support::{self, fixture, fixture_headers, proxy::Proxy, sign, Harness, Options};
use crate::support::{header, ORG_ID_18};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// A sampled `traceparent` with [`TRACE_ID`] and [`PARENT_ID`].
fn parent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

/// (trace id, span id, flags) of a well-formed version-00 `traceparent`.
fn parts(tp: &str) -> (&str, &str, &str) {
    let ok = tp.len() == 55
        && tp.starts_with("00-")
        && tp.as_bytes()[35] == b'-'
        && tp.as_bytes()[52] == b'-'
        && tp[3..35]
            .bytes()
            .chain(tp[36..52].bytes())
            .chain(tp[53..].bytes())
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    assert!(ok, "not a version-00 traceparent: {tp:?}");
    assert_ne!(&tp[3..35], "0".repeat(32));
    assert_ne!(&tp[36..52], "0".repeat(16));
    (&tp[3..35], &tp[36..52], &tp[53..])
}

/// A signed GitHub push with a fresh delivery id plus `extra` headers.
fn push(extra: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let body = fixture("github/push.json");
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
    headers.push((
        "X-GitHub-Delivery".into(),
        format!("trace-{}", support::unique()),
    ));
    let mut headers = sign::github(support::GITHUB_SECRET, &body, headers);
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    (headers, body)
}

#[tokio::test]
async fn a_valid_traceparent_is_continued_in_the_message() {
    let h = Harness::start().await;
    let tp = parent();
    let (headers, body) = push(&[("traceparent", &tp), ("tracestate", "vendor=abc,other=1")]);
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    let m = h.take(1).await;
    let sent = header(&m[0], "traceparent").expect("traceparent header");
    let (trace, span, flags) = parts(&sent);
    assert_eq!(trace, TRACE_ID, "same trace");
    assert_ne!(span, PARENT_ID, "the gateway's own span is the parent");
    assert_eq!(flags, "01");
    assert_eq!(
        header(&m[0], "tracestate").as_deref(),
        Some("vendor=abc,other=1")
    );
    h.finish().await;
}

#[tokio::test]
async fn missing_or_hostile_traceparents_start_a_new_trace() {
    let h = Harness::start().await;
    let long = format!("{}-{}", parent(), "a".repeat(1000));
    let hostile: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        long,
        format!("00-{}-{PARENT_ID}-01", "0".repeat(32)),
        format!("00-{TRACE_ID}-{}-01", "0".repeat(16)),
        format!("ff-{TRACE_ID}-{PARENT_ID}-01"),
        format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase()),
        format!("00-{}g-{PARENT_ID}-01", &TRACE_ID[..31]),
        format!("00-+{}-{PARENT_ID}-01", &TRACE_ID[1..]),
        format!("00-{TRACE_ID}-{PARENT_ID}-01, 00-{TRACE_ID}-{PARENT_ID}-01"),
        format!("00-{TRACE_ID}-{PARENT_ID}-01\tx-hookgate-route: evil"),
        format!("00-{TRACE_ID}-{PARENT_ID}-01;x-hookgate-route=evil"),
    ];
    // No header at all, then each hostile value (with a tracestate that
    // must not be taken without a usable parent).
    let (headers, body) = push(&[]);
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    for v in &hostile {
        let (headers, body) = push(&[("traceparent", v), ("tracestate", "vendor=abc")]);
        let status = h.post("/hooks/github", &headers, body).await.status();
        assert_eq!(status, 200, "traceparent {v:?}");
    }
    // Twice the valid value: W3C allows one header; two start a new trace.
    let (mut headers, body) = push(&[("traceparent", &parent())]);
    headers.push((
        "traceparent".into(),
        format!("00-{}-{PARENT_ID}-01", "1".repeat(32)),
    ));
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    let messages = h.take(hostile.len() + 2).await;
    let mut traces = std::collections::HashSet::new();
    for m in &messages {
        let tp = header(m, "traceparent").expect("a traceparent on every message");
        let (trace, _, _) = parts(&tp);
        assert_ne!(trace, TRACE_ID, "a hostile value was continued: {tp}");
        assert!(!hostile.contains(&tp));
        assert!(traces.insert(trace.to_owned()), "a fresh trace per request");
        assert_eq!(header(m, "tracestate"), None);
        assert_eq!(header(m, "x-hookgate-route").as_deref(), Some("github"));
    }
    h.finish().await;
}

#[tokio::test]
async fn every_notification_of_an_outbound_message_carries_the_trace() {
    let h = Harness::start().await;
    let b = base();
    let items: Vec<(String, String)> = (0..3)
        .map(|i| (sfid("04l", b + i), sfid("001", b + i)))
        .collect();
    let headers = vec![
        ("Content-Type".into(), "text/xml; charset=utf-8".into()),
        ("SOAPAction".into(), "\"\"".into()),
        ("traceparent".into(), parent()),
    ];
    let r = h
        .post("/salesforce/outbound", &headers, om_xml(ORG_ID_18, &items))
        .await;
    assert_eq!(r.status(), 200);
    let messages = h.take(3).await;
    let values: Vec<String> = messages
        .iter()
        .map(|m| header(m, "traceparent").expect("traceparent"))
        .collect();
    assert_eq!(parts(&values[0]).0, TRACE_ID);
    assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
    h.finish().await;
}

#[tokio::test]
async fn a_spooled_message_keeps_its_traceparent() {
    let proxy = Proxy::start("127.0.0.1:5672".parse::<SocketAddr>().unwrap()).await;
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr)),
        ..Options::default()
    })
    .await;
    proxy.cut();
    h.wait_status(Status::Disconnected).await;
    let (headers, body) = push(&[("traceparent", &parent())]);
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    let spool = h.running().spool.clone().expect("spool");
    assert_eq!(spool.status().messages, 1, "the request went to the spool");
    proxy.restore();
    let m = h.take(1).await;
    let tp = header(&m[0], "traceparent").expect("traceparent survives the spool");
    assert_eq!(parts(&tp).0, TRACE_ID);
    h.finish().await;
}

/// A spooled request's trace shows when it reached the broker: the
/// forwarder's round is a `forward` span under the first message's request
/// span, linked to the other request's span, and the messages keep their
/// request spans' `traceparent`s (not the round's).
#[tokio::test]
async fn a_spool_forward_round_is_a_span_in_the_spooled_requests_trace() {
    let collector = Collector::start().await;
    let proxy = Proxy::start("127.0.0.1:5672".parse::<SocketAddr>().unwrap()).await;
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr)),
        telemetry_toml: Some(format!("otlp_endpoint = \"{}\"", collector.endpoint())),
        ..Options::default()
    })
    .await;
    proxy.cut();
    h.wait_status(Status::Disconnected).await;
    let other = format!("00-{}-{PARENT_ID}-01", "1".repeat(32));
    for tp in [parent(), other] {
        let (headers, body) = push(&[("traceparent", &tp)]);
        assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    }
    let spool = h.running().spool.clone().expect("spool");
    assert_eq!(spool.status().messages, 2, "both requests spooled");
    proxy.restore();
    let sent: Vec<String> = h
        .take(2)
        .await
        .iter()
        .map(|m| header(m, "traceparent").expect("traceparent"))
        .collect();
    h.finish().await;
    // The round that confirmed both (a round cut short by the reconnect
    // would be a failed `forward` span of its own).
    let forwarded_both = |s: &Span| {
        s.name == "forward"
            && s.trace_id == TRACE_ID
            && s.attribute("hookgate.forwarded") == Some("2")
    };
    let spans = collector
        .wait(support::DEADLINE, |s| s.iter().any(forwarded_both))
        .await;
    let forward = spans.iter().find(|s| forwarded_both(s)).expect("forward");
    let first = sent
        .iter()
        .find(|tp| parts(tp).0 == TRACE_ID)
        .expect("the first request's message");
    assert_eq!(
        forward.parent_span_id,
        parts(first).1,
        "under the request span"
    );
    assert_eq!(
        forward.attribute("messaging.batch.message_count"),
        Some("2")
    );
    let linked: Vec<&str> = forward.links.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(linked, ["1".repeat(32)], "the other request is linked");
    assert!(
        sent.iter().all(|tp| parts(tp).1 != forward.span_id),
        "messages keep their request spans: {sent:?}"
    );
    assert!(has(&spans, &["request", "spool"]));
    assert!(collector.strays().is_empty(), "{:?}", collector.strays());
}

/// The span named `name` of trace [`TRACE_ID`].
fn span<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name && s.trace_id == TRACE_ID)
        .unwrap_or_else(|| panic!("no {name} span of the trace in {spans:#?}"))
}

fn has(spans: &[Span], names: &[&str]) -> bool {
    names
        .iter()
        .all(|n| spans.iter().any(|s| s.name == *n && s.trace_id == TRACE_ID))
}

#[tokio::test]
async fn the_gateway_exports_its_spans_to_the_collector() {
    let collector = Collector::start().await;
    let h = Harness::start_with(Options {
        telemetry_toml: Some(format!(
            "otlp_endpoint = \"{}\"\nservice_name = \"edge-test\"",
            collector.endpoint()
        )),
        ..Options::default()
    })
    .await;
    let (headers, body) = push(&[("traceparent", &parent())]);
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    let m = h.take(1).await;
    let sent = header(&m[0], "traceparent").expect("traceparent");
    // Shutting down exports what is queued.
    h.finish().await;
    let spans = collector
        .wait(support::DEADLINE, |s| {
            has(s, &["request", "authenticate", "publish"])
        })
        .await;
    let request = span(&spans, "request");
    assert_eq!(
        request.parent_span_id, PARENT_ID,
        "continues the caller's span"
    );
    assert_eq!(request.service, "edge-test");
    assert_eq!(request.attribute("hookgate.route"), Some("github"));
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    assert_eq!(
        parts(&sent).1,
        request.span_id,
        "messages name the request span"
    );
    for child in ["authenticate", "publish"] {
        assert_eq!(
            span(&spans, child).parent_span_id,
            request.span_id,
            "{child}"
        );
    }
    assert_eq!(
        span(&spans, "publish").attribute("messaging.system"),
        Some("rabbitmq")
    );
    assert!(collector.strays().is_empty(), "{:?}", collector.strays());
}

#[tokio::test]
async fn an_unreachable_collector_costs_no_request() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let h = Harness::start_with(Options {
        telemetry_toml: Some(format!("otlp_endpoint = \"http://127.0.0.1:{port}\"")),
        ..Options::default()
    })
    .await;
    let (headers, body) = push(&[("traceparent", &parent())]);
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    let m = h.take(1).await;
    assert_eq!(
        parts(&header(&m[0], "traceparent").expect("traceparent")).0,
        TRACE_ID
    );
    let started = std::time::Instant::now();
    h.finish().await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(12),
        "shutdown took {took:?}"
    );
}

#[tokio::test]
async fn the_worker_continues_the_trace_into_its_salesforce_call() {
    let collector = Collector::start().await;
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    // Two requests of two traces, queued before the worker starts: one
    // batch, parented to the first message's trace, linked to the other's.
    let other = format!("00-{}-{PARENT_ID}-01", "1".repeat(32));
    let b = base();
    let mut notes = Vec::new();
    for (i, tp) in [parent(), other].into_iter().enumerate() {
        let item = (sfid("04l", b + i as u64), sfid("001", b + i as u64));
        env.sim.seed("Account", &item.1, serde_json::Map::new());
        let headers = vec![
            ("Content-Type".into(), "text/xml; charset=utf-8".into()),
            ("SOAPAction".into(), "\"\"".into()),
            ("traceparent".into(), tp),
        ];
        let body = om_xml(ORG_ID_18, std::slice::from_ref(&item));
        let r = h.post("/salesforce/outbound", &headers, body).await;
        assert_eq!(r.status(), 200);
        notes.push(item.0);
    }
    let telemetry = format!(
        "max_api_usage = 0.9\n\n[telemetry]\notlp_endpoint = \"{}\"",
        collector.endpoint()
    );
    let w = env.worker_with("max_api_usage = 0.9", &telemetry).await;
    eventually(30, "2 acked", || w.metrics.processed.get() == 2).await;
    w.shutdown().await;
    let spans = collector
        .wait(support::DEADLINE, |s| has(s, &["batch", "salesforce"]))
        .await;
    let batch = span(&spans, "batch");
    assert_eq!(batch.service, "hookgate-worker");
    assert_ne!(
        batch.parent_span_id, PARENT_ID,
        "the gateway's span is the parent"
    );
    let call = span(&spans, "salesforce");
    assert_eq!(
        call.parent_span_id, batch.span_id,
        "the call is the batch's child"
    );
    assert_eq!(call.attribute("http.request.method"), Some("PATCH"));
    assert_eq!(call.attribute("http.response.status_code"), Some("200"));
    if batch.attribute("messaging.batch.message_count") == Some("2") {
        let linked: Vec<&str> = batch.links.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            linked,
            ["1".repeat(32)],
            "the other request's trace is linked"
        );
    }
    // The call carried its own span as `traceparent`.
    let sent: Vec<String> = env
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "PATCH")
        .filter_map(|c| c.traceparent)
        .collect();
    assert!(
        sent.iter()
            .any(|tp| parts(tp) == (TRACE_ID, call.span_id.as_str(), "01")),
        "the collections call sent its span: {sent:?}"
    );
    assert!(collector.strays().is_empty(), "{:?}", collector.strays());
    env.finish(&notes).await;
    h.finish().await;
}
