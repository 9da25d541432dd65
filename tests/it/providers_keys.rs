//! Issue #17 kinds that sign a URL or sign with a private key (twilio,
//! hubspot, square, discord, sendgrid), end to end against a real gateway and
//! RabbitMQ: a valid request is queued once with the provider's id, routing
//! key and exact body; tampered, wrong-key, unsigned and stale requests get
//! 401 with nothing queued; a rotated secret or key verifies; handshakes are
//! answered at the edge; a replay is a 200 duplicate. Signatures are made
//! here with the hmac/sha crates and ring, independently of hookgate.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use sha2::Digest as _;

use crate::support::{self, fixture, fixture_headers, now, Harness, Options};

type Headers = Vec<(String, String)>;

/// Where the test routes say the provider calls them.
const HOST: &str = "https://hooks.example.com";

/// Secret (or key) files kept alive for the gateway's lifetime.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Files(tempfile::tempdir().expect("tempdir"))
    }

    /// Writes `value` to `name`; returns the TOML `{ file = ".." }`.
    fn source(&self, name: &str, value: &[u8]) -> String {
        let p = self.0.path().join(name);
        std::fs::write(&p, value).expect("write secret");
        format!("{{ file = \"{}\" }}", p.display())
    }
}

/// A `[[routes]]` table for `kind` at `/hooks/<kind>` with `lines`.
fn route(kind: &str, lines: &str) -> String {
    format!("[[routes]]\npath = \"/hooks/{kind}\"\nkind = \"{kind}\"\n{lines}\n")
}

/// A gateway with the extra `routes`.
async fn gateway(routes: String) -> Harness {
    Harness::start_with(Options {
        routes_toml: Some(routes),
        ..Options::default()
    })
    .await
}

/// A gateway with a `kind` route at `/hooks/<kind>` whose `public_url` is
/// under [`HOST`], keyed with `secrets` (slot 0, slot 1); returns the URL.
async fn url_gateway(f: &Files, kind: &str, secrets: [&[u8]; 2]) -> (Harness, String) {
    let url = format!("{HOST}/hooks/{kind}");
    let lines = format!(
        "public_url = \"{url}\"\nsecrets = [{}, {}]",
        f.source("s0", secrets[0]),
        f.source("s1", secrets[1])
    );
    (gateway(route(kind, &lines)).await, url)
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn with(mut headers: Headers, pairs: &[(&str, String)]) -> Headers {
    headers.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())));
    headers
}

fn without(headers: &Headers, name: &str) -> Headers {
    headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

fn flip(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    b
}

/// One route of the gateway under test: the target requests go to.
struct At<'a> {
    h: &'a Harness,
    target: &'a str,
}

fn at<'a>(h: &'a Harness, target: &'a str) -> At<'a> {
    At { h, target }
}

impl At<'_> {
    /// POSTs and returns the status.
    async fn status(&self, headers: &Headers, body: &[u8]) -> u16 {
        let r = self.h.post(self.target, headers, body.to_vec()).await;
        r.status().as_u16()
    }

    /// Each request is refused 401 and nothing is queued.
    async fn refused(&self, cases: &[(&str, Headers, &[u8])]) {
        for (name, headers, body) in cases {
            assert_eq!(self.status(headers, body).await, 401, "{name}");
        }
        self.h.assert_empty().await;
    }

    /// A valid request is queued once with `id`, `routing_key` and the
    /// exact body; the same request again is a 200 duplicate, not queued
    /// twice.
    async fn queued_once(&self, headers: &Headers, body: &[u8], id: &str, routing_key: &str) {
        assert_eq!(self.status(headers, body).await, 200, "{routing_key}");
        let m = self.h.take(1).await;
        assert_eq!(support::message_id(&m[0]), id);
        assert_eq!(m[0].delivery.routing_key.as_str(), routing_key);
        assert_eq!(m[0].delivery.data, body, "exact body bytes");
        assert_eq!(self.status(headers, body).await, 200, "replay");
        self.h.assert_empty().await;
    }
}

fn sha256_id(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
}

fn pem_der(pem: &[u8]) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem)
        .expect("pem")
        .1
        .contents
}

#[tokio::test]
async fn twilio_form_callbacks() {
    let f = Files::new();
    let (old, new) = (&b"dev-twilio-auth-token"[..], &b"dev-twilio-next"[..]);
    let (h, url) = url_gateway(&f, "twilio", [old, new]).await;
    let body = fixture("twilio/message_status.form");
    let sign = |key: &[u8], url: &str, body: &[u8]| {
        let mut p: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        p.sort();
        p.dedup();
        let s = p.iter().fold(url.to_owned(), |s, (k, v)| s + k + v);
        let sig = b64(&hmac::<Hmac<sha1::Sha1>>(key, &[s.as_bytes()]));
        with(
            fixture_headers("twilio/message_status.json"),
            &[("X-Twilio-Signature", sig)],
        )
    };
    let target = "/hooks/twilio?rc=1";
    let r = at(&h, target);
    let signed_url = format!("{url}?rc=1");
    let good = sign(old, &signed_url, &body);
    let token = "7a2f1d8e-3c4b-4e5f-9a6b-0c1d2e3f4a5b";
    r.queued_once(&good, &body, token, "twilio.delivered").await;
    r.refused(&[
        ("tampered", good.clone(), &flip(&body)),
        ("other query", sign(old, &url, &body), &body),
        ("wrong token", sign(b"nope", &signed_url, &body), &body),
        (
            "missing header",
            without(&good, "x-twilio-signature"),
            &body,
        ),
    ])
    .await;
    let next = b"MessageSid=SM2&MessageStatus=sent&To=%2B1555".to_vec();
    let rotated = without(&sign(new, &signed_url, &next), "i-twilio-idempotency-token");
    r.queued_once(&rotated, &next, &sha256_id(&next), "twilio.sent")
        .await;
    h.finish().await;
}

#[tokio::test]
async fn hubspot_v3_events() {
    let f = Files::new();
    let (old, new) = (&b"dev-hubspot-secret"[..], &b"dev-hubspot-next"[..]);
    let (h, url) = url_gateway(&f, "hubspot", [old, new]).await;
    let body = fixture("hubspot/contact_creation.json");
    let target = "/hooks/hubspot?portal=62515&path=%2Fx";
    let r = at(&h, target);
    let signed_uri = format!("{url}?portal=62515&path=/x");
    let sign = |key: &[u8], body: &[u8], ts: i64| {
        let ts = (ts * 1000).to_string();
        let sig =
            hmac::<Hmac<sha2::Sha256>>(key, &[b"POST", signed_uri.as_bytes(), body, ts.as_bytes()]);
        with(
            fixture_headers("hubspot/contact_creation.json"),
            &[
                ("X-HubSpot-Signature-v3", b64(&sig)),
                ("X-HubSpot-Request-Timestamp", ts),
            ],
        )
    };
    let good = sign(old, &body, now());
    r.queued_once(&good, &body, "1", "hubspot.contact.creation")
        .await;
    r.refused(&[
        ("tampered", good.clone(), &flip(&body)),
        ("wrong secret", sign(b"nope", &body, now()), &body),
        (
            "missing header",
            without(&good, "x-hubspot-signature-v3"),
            &body,
        ),
        ("stale", sign(old, &body, now() - 600), &body),
        ("future", sign(old, &body, now() + 600), &body),
    ])
    .await;
    let next = br#"[{"eventId":2,"subscriptionType":"deal.creation"}]"#;
    let rotated = sign(new, next, now());
    r.queued_once(&rotated, next, "2", "hubspot.deal.creation")
        .await;
    h.finish().await;
}

#[tokio::test]
async fn square_events() {
    let f = Files::new();
    let (old, new) = (&b"dev-square-key"[..], &b"dev-square-next"[..]);
    let (h, url) = url_gateway(&f, "square", [old, new]).await;
    let r = at(&h, "/hooks/square");
    let body = fixture("square/payment_created.json");
    let sign = |key: &[u8], body: &[u8]| {
        let sig = hmac::<Hmac<sha2::Sha256>>(key, &[url.as_bytes(), body]);
        with(
            fixture_headers("square/payment_created.json"),
            &[("x-square-hmacsha256-signature", b64(&sig))],
        )
    };
    let good = sign(old, &body);
    let id = "13b867cf-db3d-4b1c-90b6-2f32a9d78124";
    r.queued_once(&good, &body, id, "square.payment.created")
        .await;
    r.refused(&[
        ("tampered", good.clone(), &flip(&body)),
        ("wrong key", sign(b"nope", &body), &body),
        (
            "missing header",
            without(&good, "x-square-hmacsha256-signature"),
            &body,
        ),
    ])
    .await;
    let next = br#"{"type":"refund.created","event_id":"evt-2"}"#;
    r.queued_once(&sign(new, next), next, "evt-2", "square.refund.created")
        .await;
    h.finish().await;
}

/// Discord signs `{ts}{body}` with Ed25519.
fn discord_headers(der: &[u8], ts: i64, body: &[u8]) -> Headers {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).expect("key");
    let ts = ts.to_string();
    let sig = pair.sign(&[ts.as_bytes(), body].concat());
    with(
        fixture_headers("discord/application_command.json"),
        &[
            ("X-Signature-Ed25519", hex::encode(sig.as_ref())),
            ("X-Signature-Timestamp", ts),
        ],
    )
}

#[tokio::test]
async fn discord_interactions_and_webhook_events() {
    let key = |n: &str| String::from_utf8(fixture(&format!("discord/{n}"))).expect("hex");
    let keys = format!(
        "public_keys = [{{ value = \"{}\" }}, {{ value = \"{}\" }}]",
        key("dev-key-2.pub.hex").trim(),
        key("dev-key.pub.hex").trim()
    );
    let events_route = format!(
        "[[routes]]\nname = \"discord_events\"\npath = \"/hooks/discord-events\"\nkind = \"discord\"\n\
         discord_endpoint = \"webhook_events\"\n{keys}\n"
    );
    let h = gateway(route("discord", &keys) + &events_route).await;
    let r = at(&h, "/hooks/discord");
    let events = at(&h, "/hooks/discord-events");
    let (k1, k2) = (
        pem_der(&fixture("discord/dev-key.pem")),
        pem_der(&fixture("discord/dev-key-2.pem")),
    );
    let ping = fixture("discord/ping.json");
    let a = h
        .post(
            "/hooks/discord",
            &discord_headers(&k1, now(), &ping),
            ping.clone(),
        )
        .await;
    assert_eq!(a.status(), 200);
    assert_eq!(a.headers()["content-type"], "application/json");
    assert_eq!(a.text().await.expect("body"), r#"{"type":1}"#);
    let events_ping = fixture("discord/webhook_ping.json");
    let a = h
        .post(
            "/hooks/discord-events",
            &discord_headers(&k1, now(), &events_ping),
            events_ping.clone(),
        )
        .await;
    assert_eq!(a.status(), 204);
    assert_eq!(a.text().await.expect("body"), "");
    h.assert_empty().await;

    let body = fixture("discord/application_command.json");
    let good = discord_headers(&k1, now(), &body);
    let id = "1234567890123456789";
    r.queued_once(&good, &body, id, "discord.application_command.blep")
        .await;
    let rng = ring::rand::SystemRandom::new();
    let other = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
    let other = other.as_ref();
    r.refused(&[
        ("tampered", good.clone(), &flip(&body)),
        ("unknown key", discord_headers(other, now(), &body), &body),
        ("bad ping", discord_headers(other, now(), &ping), &ping),
        (
            "missing header",
            without(&good, "x-signature-ed25519"),
            &body,
        ),
        ("stale", discord_headers(&k1, now() - 600, &body), &body),
        ("future", discord_headers(&k1, now() + 600, &body), &body),
    ])
    .await;
    // Slot 0 of the route is dev-key-2: a rotation in either direction.
    let event = fixture("discord/application_authorized.json");
    let signed = discord_headers(&k2, now(), &event);
    let id = sha256_id(&event);
    events
        .queued_once(
            &signed,
            &event,
            &id,
            "discord_events.APPLICATION_AUTHORIZED",
        )
        .await;
    h.finish().await;
}

/// SendGrid signs `{ts}{body}` with ECDSA P-256, base64 DER.
fn sendgrid_headers(der: &[u8], ts: i64, body: &[u8]) -> Headers {
    let rng = ring::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng).expect("key");
    let ts = ts.to_string();
    let sig = pair
        .sign(&rng, &[ts.as_bytes(), body].concat())
        .expect("sign");
    with(
        fixture_headers("sendgrid/processed.json"),
        &[
            ("X-Twilio-Email-Event-Webhook-Signature", b64(sig.as_ref())),
            ("X-Twilio-Email-Event-Webhook-Timestamp", ts),
        ],
    )
}

#[tokio::test]
async fn sendgrid_event_batches() {
    let f = Files::new();
    let lines = format!(
        "public_keys = [{}, {}]",
        f.source("sg0", &fixture("sendgrid/dev-key.pub.b64")),
        f.source("sg1", &fixture("sendgrid/dev-key-2.pub.b64"))
    );
    let h = gateway(route("sendgrid", &lines)).await;
    let r = at(&h, "/hooks/sendgrid");
    let (k1, k2) = (
        pem_der(&fixture("sendgrid/dev-key.pem")),
        pem_der(&fixture("sendgrid/dev-key-2.pem")),
    );
    let rng = ring::rand::SystemRandom::new();
    let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
    let other = other.as_ref();
    let body = fixture("sendgrid/processed.json");
    let good = sendgrid_headers(&k1, now(), &body);
    let id = "rbtnWrG1DVDGGGFHFyun0A==";
    r.queued_once(&good, &body, id, "sendgrid.processed").await;
    r.refused(&[
        ("tampered", good.clone(), &flip(&body)),
        ("CRLF dropped", good.clone(), &body[..body.len() - 2]),
        ("unknown key", sendgrid_headers(other, now(), &body), &body),
        (
            "missing header",
            without(&good, "x-twilio-email-event-webhook-signature"),
            &body,
        ),
        ("stale", sendgrid_headers(&k1, now() - 600, &body), &body),
        ("future", sendgrid_headers(&k1, now() + 600, &body), &body),
    ])
    .await;
    let batch = fixture("sendgrid/batch.json");
    let rotated = sendgrid_headers(&k2, now(), &batch);
    r.queued_once(&rotated, &batch, &sha256_id(&batch), "sendgrid.event")
        .await;
    h.finish().await;
}
