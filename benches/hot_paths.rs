//! Criterion micro-benchmarks of the per-request hot paths (no I/O).
//!
//! Run: `cargo bench --bench hot_paths`. Results and the machine they were
//! measured on: docs/performance.md.

use std::hint::black_box;
use std::path::Path;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use hookgate::config::{Config, Route};
use hookgate::salesforce::om;
use hookgate::verify::Verifier;
use http::{HeaderMap, HeaderValue};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel),
    )
    .expect("fixture")
}

fn route(kind: &str) -> Route {
    let dir = std::env::temp_dir().join(format!("hookgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let secret = dir.join("secret");
    std::fs::write(&secret, "bench-secret").expect("secret");
    let toml = format!(
        r#"
[server]
plaintext = true
[amqp]
url = "amqp://127.0.0.1:5672/%2f"
[[routes]]
path = "/r"
kind = "{kind}"
{extra}
"#,
        extra = if kind == "salesforce_om" {
            r#"org_ids = ["00D000000000001EAA"]"#.to_string()
        } else {
            format!(r#"secrets = [{{ file = "{}" }}]"#, secret.display())
        }
    );
    let cfg = Config::from_toml(Path::new("bench.toml"), &toml).expect("config");
    cfg.routes.into_iter().next().expect("route")
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

fn verify_github(c: &mut Criterion) {
    let route = route("github");
    let verifier = Verifier::new(&route);
    let mut g = c.benchmark_group("verify_github");
    for size in [1024usize, 64 * 1024] {
        let body = vec![b'x'; size];
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"bench-secret").expect("key");
        mac.update(&body);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&sig).expect("hdr"),
        );
        headers.insert("x-github-delivery", HeaderValue::from_static("d-1"));
        headers.insert("x-github-event", HeaderValue::from_static("push"));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                verifier
                    .verify(black_box(&headers), black_box(body), 0)
                    .expect("verify")
            })
        });
    }
    g.finish();
}

fn envelope(c: &mut Criterion) {
    let route = route("salesforce_om");
    let om = om::parse(&fixture("salesforce/om_1.xml"), om::Limits::default()).expect("parse");
    let now = time::OffsetDateTime::now_utc();
    c.bench_function("envelope_notification", |b| {
        b.iter(|| hookgate::envelope::notification(&route, &om, &om.notifications[0], now))
    });
    let gh = route_github_verified();
    c.bench_function("envelope_webhook_1k", |b| {
        let body = Bytes::from(vec![b'x'; 1024]);
        b.iter(|| {
            hookgate::envelope::webhook(&gh.0, &gh.1, Some("application/json"), body.clone(), now)
        })
    });
}

fn route_github_verified() -> (Route, hookgate::verify::Verified) {
    (
        route("github"),
        hookgate::verify::Verified {
            id: "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01".into(),
            event: Some("push".into()),
            id_signed: false,
            secret_slot: 0,
            handshake: None,
        },
    )
}

criterion_group!(benches, parse, verify_github, envelope);
criterion_main!(benches);
