//! The flow driven with in-memory requests, no socket: a gateway whose
//! publisher never connects (`127.0.0.1:1`), with a spool and a replay cache
//! in a temporary directory.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};

use super::{admit, authenticate, dedupe, envelope, handle, Refused, Seen, Unauthenticated};
use crate::broker::Publisher;
use crate::config::Config;
use crate::outbox::spool::Spool;
use crate::outbox::Outbox;
use crate::server::respond::Body;
use crate::server::{proxy::Proxied, ConnInfo, Gateway};
use crate::telemetry::metrics::Metrics;
use crate::verify::hmac::{tag, Algorithm};

const SECRET: &[u8] = b"dev-github-secret";
const ORG: &str = "00D000000000001EAA";
const OM_1: &[u8] = include_bytes!("../../../fixtures/salesforce/om_1.xml");
const PUSH: &[u8] = include_bytes!("../../../fixtures/github/push.json");

/// A gateway over a temporary directory; the broker is never reachable.
struct Fixture {
    gw: Arc<Gateway>,
    spool: Spool,
    _broker_shutdown: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// Routes: `/github` (64 KiB cap), `/small` (github, 16-byte cap),
/// `/internal` (github, only 10.0.0.0/8), `/salesforce` (Outbound
/// Messages from [`ORG`]).
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("gh");
    std::fs::write(&secret, SECRET).unwrap();
    let github = |name: &str, extra: &str| {
        format!(
            "[[routes]]\nname = \"{name}\"\npath = \"/{name}\"\nkind = \"github\"\nsecrets = [{{ file = {secret:?} }}]\n{extra}\n"
        )
    };
    let text = format!(
        "[server]\nplaintext = true\n[amqp]\nurl = \"amqp://127.0.0.1:1/%2f\"\n{}{}{}[[routes]]\nname = \"salesforce\"\npath = \"/salesforce\"\nkind = \"salesforce_om\"\norg_ids = [\"{ORG}\"]\n",
        github("github", "max_body_bytes = 65536"),
        github("small", "max_body_bytes = 16"),
        github("internal", "allow_cidrs = [\"10.0.0.0/8\"]"),
    );
    let mut config = Config::from_toml(Path::new("test.toml"), &text).unwrap();
    // Whatever the environment says: no broker.
    config.amqp.url = "amqp://127.0.0.1:1/%2f".into();
    config.spool.path = dir.path().join("spool.redb");
    config.dedupe.path = dir.path().join("dedupe.redb");
    let metrics = Arc::new(Metrics::new());
    let (broker_shutdown, rx) = tokio::sync::watch::channel(false);
    let publisher = Publisher::start(config.amqp.clone(), metrics.clone(), rx);
    let spool = Spool::open(&config.spool, metrics.clone()).unwrap();
    let outbox = Outbox::new(publisher, Some(spool.clone()), Duration::from_millis(50));
    let replay = crate::dedupe::Cache::open(&config.dedupe, metrics.clone())
        .await
        .unwrap();
    Fixture {
        gw: Arc::new(Gateway::new(&config, outbox, metrics, Some(replay))),
        spool,
        _broker_shutdown: broker_shutdown,
        _dir: dir,
    }
}

/// A request from `peer` (as the listener would tag it).
fn request(method: &str, path: &str, peer: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let peer: IpAddr = peer.parse().unwrap();
    req.extensions_mut().insert(Arc::new(ConnInfo {
        peer,
        proxied: Proxied::No,
        client_cert: None,
    }));
    req
}

/// A GitHub delivery `id` of `body`, signed with `key`.
fn github(path: &str, id: &str, body: &'static [u8], key: &[u8]) -> Request<Full<Bytes>> {
    let mut req = request("POST", path, "192.0.2.1", body);
    let sig = format!(
        "sha256={}",
        hex::encode(tag(Algorithm::Sha256, key, &[body]))
    );
    let h = req.headers_mut();
    h.insert("x-hub-signature-256", sig.parse().unwrap());
    h.insert("x-github-delivery", id.parse().unwrap());
    h.insert("x-github-event", "push".parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    req
}

async fn text(resp: Response<Body>) -> (StatusCode, String) {
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `hookgate_requests_total{route, outcome}` so far.
fn requests(gw: &Gateway, route: &str, outcome: &str) -> f64 {
    let series = format!("hookgate_requests_total{{route=\"{route}\",outcome=\"{outcome}\"}} ");
    gw.metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str())?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_405() {
    let f = fixture().await;
    let resp = handle(f.gw.clone(), request("POST", "/nope", "192.0.2.1", b"{}")).await;
    assert_eq!(text(resp).await.0, StatusCode::NOT_FOUND);
    assert_eq!(requests(&f.gw, "none", "not_found"), 1.0);

    let resp = handle(f.gw.clone(), request("GET", "/github", "192.0.2.1", b"")).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST");
    // An Outbound Message route answers in SOAP, status kept.
    let resp = handle(
        f.gw.clone(),
        request("PUT", "/salesforce", "192.0.2.1", b""),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(text(resp).await.1.contains("Method not allowed"));
    assert_eq!(f.spool.status().messages, 0);
}

#[tokio::test]
async fn allowlist_refuses_other_addresses_before_the_body() {
    let f = fixture().await;
    let mut req = github("/internal", "d-1", PUSH, SECRET);
    let resp = handle(f.gw.clone(), req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "the body was not read: HTTP/1 closes"
    );

    // Admit alone: refused by address, then let through from inside.
    req = github("/internal", "d-1", PUSH, SECRET);
    let (parts, _) = req.into_parts();
    let routes = f.gw.routes.load();
    let entry = routes.get("/internal").map(Arc::as_ref);
    assert_eq!(admit(&f.gw, entry, &parts).err(), Some(Refused::Address));
    let (parts, _) = request("POST", "/internal", "10.1.2.3", b"").into_parts();
    assert!(admit(&f.gw, entry, &parts).is_ok());
    let (parts, _) = request("POST", "/internal", "10.1.2.3", b"").into_parts();
    assert_eq!(admit(&f.gw, None, &parts).err(), Some(Refused::NoRoute));
    assert_eq!(f.spool.status().messages, 0);
}

#[tokio::test]
async fn bad_signature_is_401_and_counted() {
    let f = fixture().await;
    let resp = handle(f.gw.clone(), github("/github", "d-1", PUSH, b"wrong")).await;
    assert_eq!(
        text(resp).await,
        (
            StatusCode::UNAUTHORIZED,
            "{\"error\":\"unauthorized\"}\n".into()
        )
    );
    let failures = f.gw.metrics.encode();
    assert!(
        failures.contains(
            r#"hookgate_verification_failures_total{route="github",reason="bad_signature"} 1"#
        ),
        "{failures}"
    );
    assert_eq!(f.spool.status().messages, 0);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let f = fixture().await;
    let resp = handle(f.gw.clone(), github("/small", "d-1", PUSH, SECRET)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(requests(&f.gw, "small", "too_large"), 1.0);
}

#[tokio::test]
async fn signed_body_declared_json_that_is_not_is_400() {
    let f = fixture().await;
    let resp = handle(
        f.gw.clone(),
        github("/github", "d-1", br#"{"a":1,"a":2}"#, SECRET),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(requests(&f.gw, "github", "bad_request"), 1.0);

    // Authenticate alone: the signature verified, the JSON check refused.
    let (parts, body) = github("/github", "d-1", b"{\"a\":", SECRET).into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let routes = f.gw.routes.load();
    let r = authenticate(
        &routes["/github"],
        crate::verify::Head::from(&parts),
        body,
        0,
    );
    assert!(matches!(r, Err(Unauthenticated::NotJson)));
}

#[tokio::test]
async fn stored_in_the_spool_then_a_duplicate_is_200_without_a_store() {
    let f = fixture().await;
    let resp = handle(f.gw.clone(), github("/github", "d-1", PUSH, SECRET)).await;
    assert_eq!(
        text(resp).await,
        (StatusCode::OK, "{\"status\":\"accepted\"}\n".into())
    );
    assert_eq!(requests(&f.gw, "github", "spooled"), 1.0);
    assert_eq!(f.spool.status().messages, 1);

    let resp = handle(f.gw.clone(), github("/github", "d-1", PUSH, SECRET)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(requests(&f.gw, "github", "duplicate"), 1.0);
    assert_eq!(f.spool.status().messages, 1, "not stored twice");

    // Another delivery id is new.
    let resp = handle(f.gw.clone(), github("/github", "d-2", PUSH, SECRET)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(f.spool.status().messages, 2);
}

#[tokio::test]
async fn outbound_message_phases_without_a_socket() {
    let f = fixture().await;
    let routes = f.gw.routes.load();
    let entry = &routes["/salesforce"];
    let headers = http::HeaderMap::new();
    let now = time::OffsetDateTime::now_utc();

    let authenticated = authenticate(
        entry,
        crate::verify::Head::post(&headers),
        Bytes::from_static(OM_1),
        0,
    )
    .unwrap();
    let messages = envelope(
        &entry.route,
        authenticated,
        None,
        now,
        crate::envelope::CloudEvents::Binary,
    )
    .unwrap();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].routing_key.starts_with("salesforce."));
    let cache = f.gw.replay.as_ref();
    let hold = Duration::from_secs(5);
    let (fresh, claims) = dedupe(cache, &f.gw.metrics, "salesforce", messages.clone(), hold)
        .await
        .unwrap();
    assert_eq!(fresh, messages, "nothing seen yet");
    // An identical request meanwhile waits for this one's outcome: not
    // stored (the claim given back: it goes on with the message) ...
    let waiting = dedupe(cache, &f.gw.metrics, "salesforce", messages.clone(), hold);
    let (waited, ()) = tokio::join!(waiting, async { drop(claims) });
    let (fresh, claims) = waited.unwrap();
    assert_eq!(fresh, messages, "given back: stored by the second request");
    // ... or stored: a replay.
    let waiting = dedupe(cache, &f.gw.metrics, "salesforce", messages.clone(), hold);
    let keys = vec![messages[0].idempotency_key().to_owned()];
    let stored = async {
        cache
            .unwrap()
            .record(keys, Duration::from_secs(60))
            .await
            .unwrap();
        claims.unwrap().stored();
    };
    let (waited, ()) = tokio::join!(waiting, stored);
    assert_eq!(waited.err(), Some(Seen));
    let again = dedupe(cache, &f.gw.metrics, "salesforce", messages, hold).await;
    assert_eq!(again.err(), Some(Seen));

    // Another Organization: refused after parsing.
    let mut other = entry.route.clone();
    other.org_ids = vec!["00D000000000002EAA".into()];
    let other = crate::server::RouteEntry {
        verifier: crate::verify::Verifier::new(&other),
        route: other,
        limiter: None,
        counters: Default::default(),
    };
    let r = authenticate(
        &other,
        crate::verify::Head::post(&headers),
        Bytes::from_static(OM_1),
        0,
    );
    assert!(matches!(
        r,
        Err(Unauthenticated::OutboundMessage(
            crate::verify::salesforce::Error::WrongOrg
        ))
    ));
    let resp = handle(
        f.gw.clone(),
        request("POST", "/salesforce", "192.0.2.1", OM_1),
    )
    .await;
    let (status, body) = text(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<Ack>true</Ack>"), "{body}");
}
