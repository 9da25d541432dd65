//! Issue #12: every path where an acked message could be lost. Each test
//! attacks one guarantee: "a 2xx means the payload sits in a queue".

use std::collections::HashSet;
use std::sync::Arc;

use crate::support::{self, fixture, fixture_headers, sign, Harness, Options};

/// A second github-kind route whose routing keys (`gh2.*`) nothing binds.
const UNBOUND_ROUTE: &str = r#"
[[routes]]
name = "gh2"
path = "/hooks/gh2"
kind = "github"
secrets = [{ file = "SECRET" }]
"#;

/// Senders per route and deliveries per sender.
const SENDERS: usize = 8;
const PER_SENDER: usize = 60;

/// A GitHub push signed with the dev secret, delivery `id`.
fn delivery(id: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let body = fixture("github/push.json");
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
    headers.push(("X-GitHub-Delivery".into(), id.to_owned()));
    (sign::github(support::GITHUB_SECRET, &body, headers), body)
}

/// 8 keep-alive senders per route (`/hooks/github`, bound; `/hooks/gh2`,
/// unbound), all at once; returns (path, id, status) of every delivery.
async fn race_two_routes(h: &Arc<Harness>) -> Vec<(&'static str, String, u16)> {
    let run = support::unique();
    let mut tasks = Vec::new();
    for path in ["/hooks/github", "/hooks/gh2"] {
        for s in 0..SENDERS {
            let h = h.clone();
            let run = run.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::with_capacity(PER_SENDER);
                for i in 0..PER_SENDER {
                    let id = format!("{run}-{}-{s}-{i}", &path[7..]);
                    let (headers, body) = delivery(&id);
                    let status = h.post(path, &headers, body).await.status().as_u16();
                    out.push((path, id, status));
                }
                out
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("sender task"));
    }
    all
}

fn unbound_route(h_dir: &std::path::Path) -> String {
    let secret = h_dir.join("gh2.secret");
    std::fs::write(&secret, support::GITHUB_SECRET).expect("secret");
    UNBOUND_ROUTE.replace("SECRET", &secret.display().to_string())
}

/// Reproduction 1 of #12, with the alternate exchange (the default): every
/// delivery is answered 200, and each sits in exactly the queue it belongs
/// to: the bound route's in the test queue, the unbound route's in
/// `<exchange>.unroutable`. On 4397e5c, returns landed on other requests'
/// confirms: unbound deliveries answered 200 were in no queue, and bound
/// ones were refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_deliveries_under_concurrency_are_kept_not_lost() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let h = Arc::new(
        Harness::start_with(Options {
            routes_toml: Some(unbound_route(secrets.path())),
            test_bindings: Some(vec!["github.#".into()]),
            ..Options::default()
        })
        .await,
    );
    let answers = race_two_routes(&h).await;
    let refused: Vec<_> = answers.iter().filter(|a| a.2 != 200).collect();
    assert!(refused.is_empty(), "refused: {refused:?}");

    let want = |p: &str| -> HashSet<String> {
        answers
            .iter()
            .filter(|a| a.0 == p)
            .map(|a| a.1.clone())
            .collect()
    };
    let queued: HashSet<String> = h.take_ids(SENDERS * PER_SENDER).await.into_keys().collect();
    assert_eq!(queued, want("/hooks/github"));
    h.assert_empty().await;
    let unroutable_queue = format!("{}.unroutable", h.exchange);
    let mut unroutable = HashSet::new();
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    while unroutable.len() < SENDERS * PER_SENDER && tokio::time::Instant::now() < deadline {
        unroutable.extend(h.drain_queue(&unroutable_queue).await);
    }
    assert_eq!(unroutable, want("/hooks/gh2"));

    // The operator sees them: the gauge reads the queue's depth (the queue
    // is empty again now that the test took them).
    assert!(h.running().publisher.keeps_unroutable());
    let h = Arc::into_inner(h).expect("no sender holds the harness");
    h.finish().await;
}

/// The same race without an alternate exchange (`unroutable_queue = ""`):
/// every unbound delivery is refused (503, a `basic.return`), every bound
/// one accepted and queued; the answer does not depend on what else was in
/// flight on the channel, nor on which requests published as one group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_alternate_exchange_returns_refuse_exactly_the_unroutable() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let h = Arc::new(
        Harness::start_with(Options {
            routes_toml: Some(unbound_route(secrets.path())),
            test_bindings: Some(vec!["github.#".into()]),
            no_alternate_exchange: true,
            ..Options::default()
        })
        .await,
    );
    assert!(!h.running().publisher.keeps_unroutable());
    // 16 senders share the harness's `amqp.channels = 2` publishing groups:
    // never more than 2 channels leased, so the returns were matched within
    // groups that mixed both routes' requests.
    let leased = h.running().metrics.publish_channels_leased.clone();
    let racing = tokio::spawn({
        let h = h.clone();
        async move { race_two_routes(&h).await }
    });
    let mut most = 0;
    while !racing.is_finished() {
        most = most.max(leased.get());
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let answers = racing.await.expect("race");
    assert!(most <= 2, "{most} channels leased at once");
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(p, _, status)| (*p == "/hooks/github") != (*status == 200))
        .collect();
    assert!(wrong.is_empty(), "{} wrong answers: {wrong:?}", wrong.len());
    let accepted: HashSet<String> = answers
        .iter()
        .filter(|a| a.2 == 200)
        .map(|a| a.1.clone())
        .collect();
    let queued: HashSet<String> = h.take_ids(accepted.len()).await.into_keys().collect();
    assert_eq!(queued, accepted);
    h.assert_empty().await;
    // Nothing refused was spooled either (a return would only repeat).
    let spool = h.running().spool.clone().expect("spool enabled");
    assert_eq!(spool.status().messages, 0);
    let h = Arc::into_inner(h).expect("no sender holds the harness");
    h.finish().await;
}

/// Reproduction 2 of #12: a 320-byte `Content-Type` (legal HTTP, and no
/// scheme signs it) is answered 400 and stored nowhere, with the broker up
/// and with it unreachable (the spool path); the deliveries around it go
/// through. On 4397e5c it was answered 200 and spooled, then panicked the
/// forwarder (`ShortString exceeds maximum length`) and jammed the spool.
#[tokio::test]
async fn oversized_content_type_is_refused_before_anything_is_stored() {
    let h = Harness::start().await;
    let run = support::unique();
    let long_type = format!("application/json; x={}", "a".repeat(300));
    let mut statuses = Vec::new();
    for (i, ct) in [None, Some(long_type.as_str()), None]
        .into_iter()
        .enumerate()
    {
        let (mut headers, body) = delivery(&format!("{run}-{i}"));
        if let Some(ct) = ct {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            headers.push(("Content-Type".into(), ct.to_owned()));
        }
        statuses.push(
            h.post("/hooks/github", &headers, body)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 400, 200]);
    let ids: HashSet<String> = h.take_ids(2).await.into_keys().collect();
    assert_eq!(ids, HashSet::from([format!("{run}-0"), format!("{run}-2")]));
    h.assert_empty().await;

    // A 300-byte delivery id is no message_id: the body's hash stands in
    // (verify::clean_id), so it is carried.
    let (headers, body) = delivery(&"d".repeat(300));
    assert_eq!(h.post("/hooks/github", &headers, body).await.status(), 200);
    let ids: Vec<String> = h.take_ids(1).await.into_keys().collect();
    assert!(
        ids[0].starts_with("sha256:") && ids[0].len() <= 255,
        "{ids:?}"
    );
    let spool = h.running().spool.clone().expect("spool enabled");
    assert_eq!(spool.status().messages, 0);
    h.finish().await;
}

/// A request still arriving when shutdown starts is confirmed by the broker
/// (the broker connection closes only after the listeners drained), not left
/// in the spool. On 4397e5c the broker connection closed at once: the
/// request was spooled, answered 200, and the forwarder had already stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_at_shutdown_is_confirmed_not_left_spooled() {
    use tokio::io::AsyncWriteExt as _;

    let mut h = Harness::start().await;
    let spool = h.running().spool.clone().expect("spool enabled");
    let addr = h.addr();
    let id = format!("shutdown-{}", support::unique());
    let (headers, body) = delivery(&id);
    let request = support::raw::post("/hooks/github", &headers, &body);
    let split = request.len() - body.len() / 2;
    let mut conn = support::raw::connect(addr, &h.ca_pem).await;
    conn.write_all(&request[..split]).await.expect("write head");
    conn.flush().await.expect("flush");
    // The handler runs (head parsed, body half read) before shutdown starts.
    let metrics = h.running().metrics.clone();
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    while metrics.in_flight.get() < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "request not in flight"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let finish_request = async {
        // Shutdown has begun once the listener refuses new connections.
        let deadline = tokio::time::Instant::now() + support::DEADLINE;
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "still accepting");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        conn.write_all(&request[split..]).await.expect("write rest");
        conn.flush().await.expect("flush");
        let mut buf = Vec::new();
        support::raw::read_reply(&mut conn, &mut buf)
            .await
            .expect("read reply")
            .expect("a reply")
    };
    let ((), reply) = tokio::join!(h.stop_gateway(), finish_request);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ids: Vec<String> = h.take_ids(1).await.into_keys().collect();
    assert_eq!(ids, [id]);
    assert_eq!(spool.status().messages, 0, "left in the spool");
    h.finish().await;
}

/// `spool.enabled = false` with a spool file that still holds accepted
/// messages refuses to start, naming the key and the file. On 4397e5c the
/// gateway started and the messages were never forwarded.
#[tokio::test]
async fn spool_disabled_with_a_non_empty_spool_file_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool_path = dir.path().join("left.redb");
    let secret = dir.path().join("generic.secret");
    std::fs::write(&secret, support::GENERIC_SECRET).expect("secret");
    let config = |enabled: bool| {
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
plaintext = true
[admin]
listen = "127.0.0.1:0"
[amqp]
url = "amqp://guest:guest@127.0.0.1:1/%2f"
[spool]
enabled = {enabled}
path = "{}"
[dedupe]
enabled = false
[[routes]]
name = "generic"
path = "/hooks/generic"
kind = "generic_hmac"
secrets = [{{ file = "{}" }}]
header = "X-Signature"
"#,
            spool_path.display(),
            secret.display()
        );
        hookgate::config::Config::from_toml(&dir.path().join("hookgate.toml"), &toml)
            .unwrap_or_else(|e| panic!("test config: {e}"))
    };
    // An earlier run with the spool on, broker unreachable: one accepted
    // message spooled.
    let metrics = std::sync::Arc::new(hookgate::telemetry::metrics::Metrics::new());
    let on = config(true);
    let spool = hookgate::outbox::spool::Spool::open(&on.spool, metrics).expect("open spool");
    let (_, body) = delivery("left-behind");
    let message = hookgate::envelope::Message {
        routing_key: "generic.event".into(),
        message_id: "left-behind".into(),
        content_type: "application/json".into(),
        kind: "generic.event".into(),
        received_at: time::OffsetDateTime::now_utc(),
        headers: Vec::new(),
        body: body.into(),
    };
    spool.write(&[message]).await.expect("spool write");
    spool.close();
    drop(spool);

    let err = match hookgate::gateway::start(&config(false)).await {
        Ok(_) => panic!("started with 1 message left in a disabled spool"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("spool.enabled"), "{err}");
    assert!(
        err.contains("left.redb") && err.contains("1 accepted"),
        "{err}"
    );
}

/// A connected broker that stops confirming (a blackholed connection) holds
/// at most `amqp.max_channels` publishing channels: requests past them wait
/// for a lease only up to `spool.after_ms`, then spool; a lease whose
/// confirms are overdue gives its channel up after `confirm_timeout_ms`. On
/// 4397e5c every unresolved confirm of a timed-out publish stayed in lapin
/// until the channel closed, one per message, for as long as the connection
/// lived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_broker_holds_a_bounded_number_of_channels() {
    use std::time::Duration;
    let proxy = support::proxy::Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let h = Arc::new(
        Harness::start_with(Options {
            amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr)),
            amqp_toml: Some("max_channels = 4".into()),
            confirm_timeout_ms: Some(1500),
            spool_after_ms: Some(200),
            ..Options::default()
        })
        .await,
    );
    let leased = h.running().metrics.publish_channels_leased.clone();
    proxy.blackhole();
    let run = support::unique();
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for s in 0..10 {
        let h = h.clone();
        let run = run.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..3 {
                let id = format!("{run}-stall-{s}-{i}");
                let (headers, body) = delivery(&id);
                let status = h.post("/hooks/github", &headers, body).await.status();
                assert_eq!(status, 200, "{id}");
                sent.lock().expect("lock").push(id);
            }
        }));
    }
    let mut most = 0;
    while tasks.iter().any(|t| !t.is_finished()) {
        most = most.max(leased.get());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in tasks {
        t.await.expect("sender");
    }
    assert!(most <= 4, "{most} channels leased at once");
    // Overdue leases let go within confirm_timeout_ms (+ the 2 s close).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while leased.get() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} still leased",
            leased.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everything answered 200 was spooled and reaches the queue.
    proxy.restore();
    let sent = sent.lock().expect("lock").clone();
    let queued = h.take_ids(sent.len()).await;
    assert_eq!(queued.len(), sent.len());
    assert!(sent.iter().all(|id| queued.contains_key(id)));
    let h = Arc::into_inner(h).expect("no sender holds the harness");
    h.finish().await;
}

/// Reproductions 2 and 3 of #12 on the forwarding side: a spool written by
/// an older gateway holds an entry AMQP cannot carry (a 320-byte
/// `content_type`) between two good ones. Forwarding neither panics nor
/// jams: both good entries reach the queue, the bad one alone ends in the
/// quarantine. On 4397e5c the forwarder panicked in amq-protocol-types and
/// nothing behind the entry was ever forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncarriable_spooled_entry_is_quarantined_alone() {
    let h = Harness::start_with(Options {
        spool_quarantine_after: Some(2),
        ..Options::default()
    })
    .await;
    let spool = h.running().spool.clone().expect("spool enabled");
    let run = support::unique();
    let message = |id: &str, content_type: String| hookgate::envelope::Message {
        routing_key: "github.push".into(),
        message_id: id.into(),
        content_type,
        kind: "github.push".into(),
        received_at: time::OffsetDateTime::now_utc(),
        headers: Vec::new(),
        body: bytes::Bytes::from_static(b"{}"),
    };
    let good = |i: usize| message(&format!("{run}-good-{i}"), "application/json".into());
    let bad = message(
        &format!("{run}-bad"),
        format!("application/json; x={}", "a".repeat(300)),
    );
    spool
        .write(&[good(1), bad, good(2)])
        .await
        .expect("spool write");

    let ids: HashSet<String> = h.take_ids(2).await.into_keys().collect();
    assert_eq!(
        ids,
        HashSet::from([format!("{run}-good-1"), format!("{run}-good-2")])
    );
    let deadline = tokio::time::Instant::now() + support::DEADLINE;
    loop {
        let q = spool.quarantined().expect("quarantine");
        if q.len() == 1 {
            assert_eq!(q[0].message_id, format!("{run}-bad"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not quarantined: {q:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(spool.status().messages, 0);
    h.assert_empty().await;
    h.finish().await;
}
