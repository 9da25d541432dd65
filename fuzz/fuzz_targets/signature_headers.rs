//! Every signature scheme's header parsing and verification on arbitrary
//! header values and bodies: never panics.
//!
//! Input layout: byte 0 picks the scheme; the rest is split on 0xFF into
//! up to four header values and the body.
#![no_main]
use std::path::Path;

use hookgate::config::Config;
use libfuzzer_sys::fuzz_target;

const KINDS: [(&str, &[&str]); 6] = [
    ("github", &["x-hub-signature-256", "x-github-delivery", "x-github-event"]),
    ("stripe", &["stripe-signature"]),
    ("slack", &["x-slack-signature", "x-slack-request-timestamp"]),
    ("shopify", &["x-shopify-hmac-sha256", "x-shopify-webhook-id", "x-shopify-topic"]),
    (
        "standard_webhooks",
        &["webhook-id", "webhook-timestamp", "webhook-signature", "svix-signature"],
    ),
    ("generic_hmac", &["x-signature", "x-timestamp", "x-request-id", "x-event-type"]),
];

fn verifier(kind: &str) -> hookgate::verify::Verifier {
    let dir = std::env::temp_dir().join("hookgate-fuzz");
    let _ = std::fs::create_dir_all(&dir);
    let secret = dir.join("secret");
    let _ = std::fs::write(&secret, "whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=");
    let generic = if kind == "generic_hmac" {
        "header = \"X-Signature\"\nprefix = \"sha256=\"\nsigned_payload = \"{timestamp}.{id}.{body}\"\ntimestamp_header = \"X-Timestamp\"\nid_header = \"X-Request-Id\"\nevent_header = \"X-Event-Type\"\n"
    } else {
        ""
    };
    let toml = format!(
        "[server]\nplaintext = true\n[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n[[routes]]\npath = \"/r\"\nkind = \"{kind}\"\nsecrets = [{{ file = \"{}\" }}]\n{generic}",
        secret.display()
    );
    let cfg = Config::from_toml(Path::new("fuzz.toml"), &toml).expect("fuzz config");
    hookgate::verify::Verifier::new(&cfg.routes[0])
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (kind, names) = KINDS[usize::from(pick) % KINDS.len()];
    let v = verifier(kind);
    let mut parts = rest.split(|&b| b == 0xFF);
    let mut headers = http::HeaderMap::new();
    for name in names {
        if let Some(value) = parts.next() {
            if let Ok(v) = http::HeaderValue::from_bytes(value) {
                headers.insert(*name, v);
            }
        }
    }
    let body: Vec<u8> = parts.flat_map(|p| p.iter().copied()).collect();
    let _ = v.verify(&headers, &body, 1_700_000_000);
});
