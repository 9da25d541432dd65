//! Issue #17's HMAC kinds end to end (paddle, linear, intercom, gitlab,
//! bitbucket, pagerduty, calendly, typeform, docusign, mailgun, and a
//! declarative `generic_hmac` list scheme): a valid request is queued once
//! with the provider's id, routing key and the exact bytes; forgeries,
//! missing headers and stale or future timestamps get 401 with nothing
//! queued; a rotated secret verifies (slot 1); a replay is a duplicate.
//! Signatures are made here with the hmac crates, never with hookgate's.

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::support::{self, fixture, fixture_headers, now, Harness, Options};

type Headers = Vec<(String, String)>;

/// The route's first secret; the second is `ROTATED`.
const SECRET: &str = "dev-hmac-kind-secret";
const ROTATED: &str = "dev-hmac-kind-rotated";
const WRONG: &str = "not-the-secret";

fn hmac256(key: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn hmac1(key: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("any key");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Signs a fixture body as the provider would at `t` with `key`: the
/// headers to add, and the body to send (Mailgun and Linear change it).
type Signer = fn(&str, i64, &[u8]) -> (Headers, Vec<u8>);

/// One kind's end-to-end case.
struct Case {
    kind: &'static str,
    fixture: &'static str,
    sign: Signer,
    /// The expected `message_id` (None: `sha256:` of the sent body).
    id: Option<&'static str>,
    routing_key: &'static str,
    /// The signature header (None: in the body).
    signature: Option<&'static str>,
    /// Tolerance of a signed timestamp (None: none signed).
    tolerance: Option<i64>,
    /// Extra route keys.
    extra: &'static str,
    /// The query sent after the path.
    query: &'static str,
}

fn h(k: &str, v: String) -> (String, String) {
    (k.to_owned(), v)
}

async fn run(c: Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, v: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, v).expect("secret file");
        p.display().to_string()
    };
    let route_path = format!("/hooks/{}", c.kind);
    let path = format!("{route_path}{}", c.query);
    let routes = format!(
        "[[routes]]\nname = \"{k}\"\npath = \"{route_path}\"\nkind = \"{k}\"\nsecrets = [{{ file = \"{a}\" }}, {{ file = \"{b}\" }}]\n{extra}\n",
        k = c.kind,
        a = file("a", SECRET),
        b = file("b", ROTATED),
        extra = c.extra,
    );
    let h = Harness::start_with(Options {
        routes_toml: Some(routes),
        ..Default::default()
    })
    .await;
    let fixture_body = fixture(c.fixture);
    let base = fixture_headers(c.fixture);
    let with = |(mut extra, body): (Headers, Vec<u8>)| {
        let mut all = base.clone();
        all.append(&mut extra);
        (all, body)
    };
    let t = now();
    let (headers, body) = with((c.sign)(SECRET, t, &fixture_body));

    // Valid: queued once, exactly.
    let r = h.post(&path, &headers, body.clone()).await;
    assert_eq!(r.status(), 200, "{}: valid", c.kind);
    let m = h.take(1).await;
    assert_eq!(m[0].delivery.data, body, "{}: exact bytes", c.kind);
    assert_eq!(m[0].delivery.routing_key.as_str(), c.routing_key);
    let id = c.id.map_or_else(|| sha256_id(&body), str::to_owned);
    assert_eq!(support::message_id(&m[0]), id, "{}: id", c.kind);
    let body_signed = support::header(&m[0], "x-hookgate-body-signed");
    assert_eq!(body_signed.is_some(), c.kind == "mailgun", "{}", c.kind);

    // A replay is a duplicate: 200, not queued again.
    let r = h.post(&path, &headers, body.clone()).await;
    assert_eq!(r.status(), 200, "{}: replay", c.kind);
    h.assert_empty().await;

    // 401s, nothing queued.
    let mut forged = Vec::new();
    if c.kind != "mailgun" && c.kind != "gitlab" {
        let mut tampered = body.clone();
        let i = tampered.len() - 3;
        tampered[i] ^= 0x01;
        forged.push(("tampered body", headers.clone(), tampered));
    }
    let (wh, wb) = with((c.sign)(WRONG, t, &fixture_body));
    forged.push(("wrong secret", wh, wb));
    if let Some(sig) = c.signature {
        let missing = headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(sig))
            .cloned()
            .collect();
        forged.push(("missing header", missing, body.clone()));
    }
    if let Some(tol) = c.tolerance {
        let (sh, sb) = with((c.sign)(SECRET, t - tol - 30, &fixture_body));
        forged.push(("stale", sh, sb));
        let (fh, fb) = with((c.sign)(SECRET, t + tol + 30, &fixture_body));
        forged.push(("future", fh, fb));
    }
    for (what, hs, b) in forged {
        let r = h.post(&path, &hs, b).await;
        assert_eq!(r.status(), 401, "{}: {what}", c.kind);
    }
    h.assert_empty().await;

    // The rotated secret verifies, in slot 1.
    let (rh, rb) = with((c.sign)(ROTATED, t, &fixture_body));
    let r = h.post(&path, &rh, rb).await;
    assert_eq!(r.status(), 200, "{}: rotated", c.kind);
    let (_, metrics) = h.admin_get("/metrics").await;
    let slot1 = format!(
        "hookgate_secret_matches_total{{route=\"{}\",slot=\"1\"}} 1",
        c.kind
    );
    assert!(metrics.contains(&slot1), "{}: {slot1}", c.kind);
    h.drain().await;
    h.finish().await;
}

fn sha256_id(body: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
}

// === signers, per the providers' documentation ===

fn paddle(key: &str, t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let sig = hex::encode(hmac256(key, &[t.to_string().as_bytes(), b":", body]));
    (
        vec![h("Paddle-Signature", format!("ts={t};h1={sig}"))],
        body.to_vec(),
    )
}

fn calendly(key: &str, t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let sig = hex::encode(hmac256(key, &[t.to_string().as_bytes(), b".", body]));
    let v = format!("t={t},v1={sig}");
    (vec![h("Calendly-Webhook-Signature", v)], body.to_vec())
}

fn pagerduty(key: &str, _t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let v = format!("v1={}", hex::encode(hmac256(key, &[body])));
    (vec![h("X-PagerDuty-Signature", v)], body.to_vec())
}

fn typeform(key: &str, _t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let v = format!("sha256={}", b64(&hmac256(key, &[body])));
    (vec![h("Typeform-Signature", v)], body.to_vec())
}

fn intercom(key: &str, _t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let v = format!("sha1={}", hex::encode(hmac1(key, body)));
    (vec![h("X-Hub-Signature", v)], body.to_vec())
}

fn bitbucket(key: &str, _t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let v = format!("sha256={}", hex::encode(hmac256(key, &[body])));
    (vec![h("X-Hub-Signature", v)], body.to_vec())
}

fn docusign(key: &str, _t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let v = b64(&hmac256(key, &[body]));
    (vec![h("X-DocuSign-Signature-1", v)], body.to_vec())
}

fn gitlab(key: &str, _t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    (vec![h("X-Gitlab-Token", key.to_owned())], body.to_vec())
}

/// The fixture with `webhookTimestamp` set to `t` (ms), signed.
fn linear(key: &str, t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let mut v: serde_json::Value = serde_json::from_slice(body).expect("json fixture");
    v["webhookTimestamp"] = (t * 1000).into();
    let body = serde_json::to_vec(&v).expect("json");
    let sig = hex::encode(hmac256(key, &[&body]));
    (vec![h("Linear-Signature", sig)], body)
}

/// The fixture with its `signature` object made for `t`.
fn mailgun(key: &str, t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let mut v: serde_json::Value = serde_json::from_slice(body).expect("json fixture");
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let ts = t.to_string();
    let sig = hex::encode(hmac256(key, &[ts.as_bytes(), token.as_bytes()]));
    v["signature"] = serde_json::json!({"timestamp": ts, "token": token, "signature": sig});
    (Vec::new(), serde_json::to_vec(&v).expect("json"))
}

/// A declarative generic list scheme: `X-Sig: t=<rfc3339>;s=<base64url>`
/// over `{method} {url}\n{timestamp}\n{body}`.
fn generic_list(key: &str, t: i64, body: &[u8]) -> (Headers, Vec<u8>) {
    let ts = time::OffsetDateTime::from_unix_timestamp(t)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    let url = "https://hooks.example.com/hooks/generic_hmac?tenant=7";
    let mac = hmac256(
        key,
        &[b"POST ", url.as_bytes(), b"\n", ts.as_bytes(), b"\n", body],
    );
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac);
    (vec![h("X-Sig", format!("t={ts};s={sig}"))], body.to_vec())
}

// === one test per kind ===

#[tokio::test]
async fn paddle_end_to_end() {
    run(Case {
        kind: "paddle",
        fixture: "paddle/transaction.completed.json",
        sign: paddle,
        id: Some("evt_01hv8x2acma2gz0bbx9y5s9h2b"),
        routing_key: "paddle.transaction.completed",
        signature: Some("Paddle-Signature"),
        tolerance: Some(5),
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn linear_end_to_end() {
    run(Case {
        kind: "linear",
        fixture: "linear/issue.create.json",
        sign: linear,
        id: Some("234d1a4e-b617-4388-90fe-adc3633d6b72"),
        routing_key: "linear.Issue",
        signature: Some("Linear-Signature"),
        tolerance: Some(60),
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn intercom_end_to_end() {
    run(Case {
        kind: "intercom",
        fixture: "intercom/conversation.user.created.json",
        sign: intercom,
        id: Some("notif_ccd8a4d2-3bcd-4e6b-9f5c-1a2b3c4d5e6f"),
        routing_key: "intercom.conversation.user.created",
        signature: Some("X-Hub-Signature"),
        tolerance: None,
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn gitlab_end_to_end() {
    run(Case {
        kind: "gitlab",
        fixture: "gitlab/push.json",
        sign: gitlab,
        id: Some("f5e5f430-f57b-4e6e-9fac-d9128cd7232f"),
        routing_key: "gitlab.Push_Hook",
        signature: Some("X-Gitlab-Token"),
        tolerance: None,
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn bitbucket_end_to_end() {
    run(Case {
        kind: "bitbucket",
        fixture: "bitbucket/repo.push.json",
        sign: bitbucket,
        id: Some("afe2b0c2-0f39-4a85-8b1e-6c1f4e2d3a9b"),
        routing_key: "bitbucket.repo:push",
        signature: Some("X-Hub-Signature"),
        tolerance: None,
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn pagerduty_end_to_end() {
    run(Case {
        kind: "pagerduty",
        fixture: "pagerduty/incident.triggered.json",
        sign: pagerduty,
        id: Some("6b2e47c5-04a3-4b14-8d89-3a1f6d9f8c0e"),
        routing_key: "pagerduty.incident.triggered",
        signature: Some("X-PagerDuty-Signature"),
        tolerance: None,
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn calendly_end_to_end() {
    run(Case {
        kind: "calendly",
        fixture: "calendly/invitee.created.json",
        sign: calendly,
        id: None,
        routing_key: "calendly.invitee.created",
        signature: Some("Calendly-Webhook-Signature"),
        tolerance: Some(300),
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn typeform_end_to_end() {
    run(Case {
        kind: "typeform",
        fixture: "typeform/form_response.json",
        sign: typeform,
        id: Some("01JNCK3Z7TQ0X4V2M5ZC9A8B7D"),
        routing_key: "typeform.form_response",
        signature: Some("Typeform-Signature"),
        tolerance: None,
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn docusign_end_to_end() {
    run(Case {
        kind: "docusign",
        fixture: "docusign/envelope-completed.json",
        sign: docusign,
        id: None,
        routing_key: "docusign.envelope-completed",
        signature: Some("X-DocuSign-Signature-1"),
        tolerance: None,
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn mailgun_end_to_end() {
    run(Case {
        kind: "mailgun",
        fixture: "mailgun/delivered.json",
        sign: mailgun,
        id: Some("CPgfbmQMTCKtHW6uIWtuVe"),
        routing_key: "mailgun.delivered",
        signature: None,
        tolerance: Some(300),
        extra: "",
        query: "",
    })
    .await;
}

#[tokio::test]
async fn generic_list_scheme_end_to_end() {
    run(Case {
        kind: "generic_hmac",
        fixture: "generic/order.json",
        sign: generic_list,
        id: Some("0b6f2c9e-3d4a-4e1b-9f8c-7a5d2e1c0b93"),
        routing_key: "generic_hmac.order.shipped",
        signature: Some("X-Sig"),
        tolerance: Some(300),
        extra: r#"header = "X-Sig"
encoding = "base64url"
separator = ";"
item_prefix = "s="
timestamp_item = "t="
timestamp_format = "rfc3339"
signed_payload = "{method} {url}\n{timestamp}\n{body}"
public_url = "https://hooks.example.com/hooks/generic_hmac"
id_header = "X-Request-Id"
event_header = "X-Event-Type""#,
        query: "?tenant=7",
    })
    .await;
}
