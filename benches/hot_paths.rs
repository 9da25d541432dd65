//! Criterion micro-benchmarks of the per-request hot paths (no I/O).
//!
//! Run: `cargo bench --bench hot_paths`. Results and the machine they were
//! measured on: docs/performance.md. Groups:
//! - `om_parse/{1,100}`: an Outbound Message with 1 and 100 Notifications;
//! - `verify_<kind>/{1024,65536}`: each signature verifier, on a signed 1 KiB
//!   and 64 KiB JSON body (GitHub, Stripe, Slack, Shopify, Standard Webhooks,
//!   generic HMAC), including header parsing and the constant-time compare;
//! - `hmac_sha256/1024`: the bare HMAC-SHA256 over 1 KiB (`verify::hmac::tag`);
//! - `envelope_notification`, `envelope_notifications_100`,
//!   `envelope_webhook_1k`: building the AMQP message(s);
//! - `dedupe_key_1k`: the replay-cache key of an unsigned-id delivery
//!   (SHA-256 of the body);
//! - `pubsub_decode/{platform_event,change_event}`: a Pub/Sub Avro payload
//!   to JSON, the change event with its header bitmaps named
//!   (`hot_paths/pubsub_decode.rs`).

#[path = "hot_paths/pubsub_decode.rs"]
mod pubsub_decode;

use std::hint::black_box;
use std::path::Path;

use base64::Engine as _;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use hookgate::config::{Config, Route};
use hookgate::salesforce::om;
use hookgate::verify::Verifier;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The HMAC key of every non-Standard-Webhooks route here.
const SECRET: &[u8] = b"bench-secret";
/// The Standard Webhooks key; the route's secret is `whsec_<base64 of it>`.
const STANDARD_KEY: &[u8] = b"bench-standard-webhooks-key-0123";
/// "Now" for the timestamped schemes, and the timestamp they sign.
const NOW: i64 = 1_740_933_909;

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel),
    )
    .expect("fixture")
}

/// A validated route of `kind` with `extra` TOML keys.
fn route_with(kind: &str, extra: &str) -> Route {
    // Under target/ (Cargo's scratch directory for benches), not /tmp.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hookgate-bench");
    std::fs::create_dir_all(&dir).expect("tmp");
    let secret = dir.join(format!("secret-{kind}"));
    let text = if kind == "standard_webhooks" {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(STANDARD_KEY)
        )
    } else {
        String::from_utf8(SECRET.to_vec()).expect("utf8")
    };
    std::fs::write(&secret, text).expect("secret");
    let keys = if kind == "salesforce_om" {
        r#"org_ids = ["00D000000000001EAA"]"#.to_string()
    } else if let Some(public) = public_key(kind) {
        format!(r#"public_keys = [{{ value = "{public}" }}]"#)
    } else {
        format!(r#"secrets = [{{ file = "{}" }}]"#, secret.display())
    };
    let toml = format!(
        r#"
[server]
plaintext = true
[amqp]
url = "amqp://127.0.0.1:5672/%2f"
[[routes]]
path = "/r"
kind = "{kind}"
{keys}
{extra}
"#
    );
    let cfg = Config::from_toml(Path::new("bench.toml"), &toml).expect("config");
    cfg.routes.into_iter().next().expect("route")
}

fn route(kind: &str) -> Route {
    route_with(kind, "")
}

/// The dev public key of an asymmetric kind (fixtures/<kind>/).
fn public_key(kind: &str) -> Option<String> {
    let file = match kind {
        "discord" => "discord/dev-key.pub.hex",
        "sendgrid" => "sendgrid/dev-key.pub.b64",
        _ => return None,
    };
    Some(
        String::from_utf8(fixture(file))
            .expect("utf8")
            .trim()
            .to_owned(),
    )
}

/// A request of an asymmetric kind signed with its dev private key
/// (fixtures/<kind>/dev-key.pem) by hookgate's own signer: the benchmark
/// measures verification, the vectors check the signer.
fn signed_with_key(kind: &str, size: usize) -> (Route, HeaderMap, Vec<u8>) {
    // SendGrid posts an array of events; Discord one interaction object.
    let body = if kind == "sendgrid" {
        [
            &b"["[..],
            &json_body(r#""sg_event_id":"1","event":"processed""#, size - 2),
            b"]",
        ]
        .concat()
    } else {
        json_body(r#""id":"1","type":1"#, size)
    };
    let route = route(kind);
    let pem = fixture(&format!("{kind}/dev-key.pem"));
    let draft = hookgate::verify::sign::Draft {
        body: &body,
        event: None,
        id: None,
        now: NOW,
        private_key: Some(&pem),
    };
    let signed = hookgate::verify::sign::sign(&route, &draft).expect("sign");
    let pairs: Vec<(&str, String)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    (route, headers(&pairs), signed.body)
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A JSON object of exactly `size` bytes: `fields` then a padding member.
fn json_body(fields: &str, size: usize) -> Vec<u8> {
    let head = format!(r#"{{{fields},"pad":""#);
    let mut body = head.into_bytes();
    while body.len() + 2 < size {
        body.push(b'x');
    }
    body.extend_from_slice(br#""}"#);
    body
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

/// A signed request for each scheme: (route, headers, body).
fn signed(kind: &str, size: usize) -> (Route, HeaderMap, Vec<u8>) {
    let ts = NOW.to_string();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match kind {
        "github" => {
            let body = json_body(r#""action":"opened""#, size);
            let sig = format!("sha256={}", hex::encode(hmac256(SECRET, &[&body])));
            let h = headers(&[
                ("x-hub-signature-256", sig),
                (
                    "x-github-delivery",
                    "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01".into(),
                ),
                ("x-github-event", "push".into()),
            ]);
            (route(kind), h, body)
        }
        "stripe" => {
            let body = json_body(r#""id":"evt_1","type":"invoice.paid""#, size);
            let sig = hex::encode(hmac256(SECRET, &[ts.as_bytes(), b".", &body]));
            let h = headers(&[("stripe-signature", format!("t={ts},v1={sig}"))]);
            (route(kind), h, body)
        }
        "slack" => {
            let body = json_body(
                r#""type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}"#,
                size,
            );
            let sig = hex::encode(hmac256(SECRET, &[b"v0:", ts.as_bytes(), b":", &body]));
            let h = headers(&[
                ("x-slack-signature", format!("v0={sig}")),
                ("x-slack-request-timestamp", ts.clone()),
            ]);
            (route(kind), h, body)
        }
        "shopify" => {
            let body = json_body(r#""id":1"#, size);
            let h = headers(&[
                ("x-shopify-hmac-sha256", b64(&hmac256(SECRET, &[&body]))),
                (
                    "x-shopify-webhook-id",
                    "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
                ),
                ("x-shopify-topic", "orders/create".into()),
            ]);
            (route(kind), h, body)
        }
        "standard_webhooks" => {
            let body = json_body(r#""type":"invoice.created""#, size);
            let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
            let sig = b64(&hmac256(
                STANDARD_KEY,
                &[id.as_bytes(), b".", ts.as_bytes(), b".", &body],
            ));
            let h = headers(&[
                ("webhook-id", id.into()),
                ("webhook-timestamp", ts.clone()),
                ("webhook-signature", format!("v1,{sig}")),
            ]);
            (route(kind), h, body)
        }
        "generic_hmac" => {
            let body = json_body(r#""id":"ord_1""#, size);
            let sig = hex::encode(hmac256(SECRET, &[ts.as_bytes(), b".", &body]));
            let r = route_with(
                kind,
                r#"header = "X-Signature"
prefix = "sha256="
signed_payload = "{timestamp}.{body}"
timestamp_header = "X-Timestamp"
id_header = "X-Request-Id"
event_header = "X-Event-Type""#,
            );
            let h = headers(&[
                ("x-signature", format!("sha256={sig}")),
                ("x-timestamp", ts.clone()),
                ("x-request-id", "req-1".into()),
                ("x-event-type", "order.created".into()),
            ]);
            (r, h, body)
        }
        "discord" | "sendgrid" => signed_with_key(kind, size),
        other => panic!("no such kind {other}"),
    }
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("om_parse");
    for (name, file) in [
        ("1", "salesforce/om_1.xml"),
        ("100", "salesforce/om_100.xml"),
    ] {
        let body = fixture(file);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| om::parse(black_box(body), om::Limits::default()).expect("parse"))
        });
    }
    g.finish();
}

fn verifiers(c: &mut Criterion) {
    for kind in [
        "github",
        "stripe",
        "slack",
        "shopify",
        "standard_webhooks",
        "generic_hmac",
        "discord",
        "sendgrid",
    ] {
        let mut g = c.benchmark_group(format!("verify_{kind}"));
        for size in [1024usize, 64 * 1024] {
            let (route, headers, body) = signed(kind, size);
            let body = Bytes::from(body);
            let verifier = Verifier::new(&route);
            verifier
                .verify(hookgate::verify::Head::post(&headers), body.clone(), NOW)
                .unwrap_or_else(|e| panic!("{kind} {size}: {e}"));
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
                b.iter(|| {
                    verifier
                        .verify(
                            black_box(hookgate::verify::Head::post(&headers)),
                            black_box(body.clone()),
                            NOW,
                        )
                        .expect("verify")
                })
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("hmac_sha256");
    let body = vec![b'x'; 1024];
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("1024", |b| {
        b.iter(|| {
            hookgate::verify::hmac::tag(
                hookgate::verify::hmac::Algorithm::Sha256,
                black_box(SECRET),
                &[black_box(&body)],
            )
        })
    });
    g.finish();
}

fn envelope(c: &mut Criterion) {
    // The default `amqp.cloudevents`: the headers today's messages carry.
    const BINARY: hookgate::envelope::CloudEvents = hookgate::envelope::CloudEvents::Binary;
    let route = route("salesforce_om");
    let om = om::parse(&fixture("salesforce/om_1.xml"), om::Limits::default()).expect("parse");
    let now = time::OffsetDateTime::now_utc();
    c.bench_function("envelope_notification", |b| {
        b.iter(|| hookgate::envelope::notification(&route, &om, &om.notifications[0], now, BINARY))
    });
    let om100 = om::parse(&fixture("salesforce/om_100.xml"), om::Limits::default()).expect("parse");
    c.bench_function("envelope_notifications_100", |b| {
        b.iter(|| hookgate::envelope::notifications(&route, black_box(&om100), now, BINARY))
    });
    let gh = route_github_verified();
    c.bench_function("envelope_webhook_1k", |b| {
        b.iter(|| {
            hookgate::envelope::webhook(&gh.0, gh.1.clone(), Some("application/json"), now, BINARY)
        })
    });
    let body = vec![b'x'; 1024];
    c.bench_function("dedupe_key_1k", |b| {
        b.iter(|| {
            hookgate::envelope::idempotency_key(
                "github",
                "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01",
                false,
                black_box(&body),
            )
        })
    });
}

/// A GitHub route and a verified 1 KiB delivery on it (only the verifier
/// makes a `Verified`).
fn route_github_verified() -> (Route, hookgate::verify::Verified) {
    let (route, headers, body) = signed("github", 1024);
    let verified = Verifier::new(&route)
        .verify(
            hookgate::verify::Head::post(&headers),
            Bytes::from(body),
            NOW,
        )
        .expect("verify");
    (route, verified)
}

criterion_group!(
    benches,
    parse,
    verifiers,
    envelope,
    pubsub_decode::pubsub_decode
);
criterion_main!(benches);
