//! Signs requests the way each provider does (PROVIDERS.md), written
//! independently of hookgate's verifiers with the hmac crate directly.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type Headers = Vec<(String, String)>;

fn hs256(key: &[u8], data: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    for d in data {
        mac.update(d);
    }
    mac.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn h(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// `X-Hub-Signature-256: sha256=<hex>`.
pub fn github(secret: &str, body: &[u8], mut headers: Headers) -> Headers {
    let sig = hex::encode(hs256(secret.as_bytes(), &[body]));
    headers.push(h("X-Hub-Signature-256", format!("sha256={sig}")));
    headers
}

/// `Stripe-Signature: t=<t>,v1=<hex of HMAC("{t}.{body}")>`.
pub fn stripe(secret: &str, body: &[u8], t: i64, mut headers: Headers) -> Headers {
    let ts = t.to_string();
    let sig = hex::encode(hs256(secret.as_bytes(), &[ts.as_bytes(), b".", body]));
    headers.push(h("Stripe-Signature", format!("t={t},v1={sig}")));
    headers
}

/// `X-Slack-Request-Timestamp` + `X-Slack-Signature: v0=<hex of HMAC("v0:{ts}:{body}")>`.
pub fn slack(secret: &str, body: &[u8], ts: i64, mut headers: Headers) -> Headers {
    let t = ts.to_string();
    let sig = hex::encode(hs256(
        secret.as_bytes(),
        &[b"v0:", t.as_bytes(), b":", body],
    ));
    headers.push(h("X-Slack-Request-Timestamp", t));
    headers.push(h("X-Slack-Signature", format!("v0={sig}")));
    headers
}

/// `X-Shopify-Hmac-Sha256: <base64>`.
pub fn shopify(secret: &str, body: &[u8], mut headers: Headers) -> Headers {
    headers.push(h(
        "X-Shopify-Hmac-Sha256",
        b64(&hs256(secret.as_bytes(), &[body])),
    ));
    headers
}

/// Standard Webhooks: `webhook-timestamp` + `webhook-signature: v1,<base64>`
/// over `{id}.{ts}.{body}` with the base64-decoded `whsec_` key. `prefix` is
/// `webhook` or `svix`; `webhook-id`/`svix-id` must already be in `headers`
/// (it is taken from there).
pub fn standard(secret: &str, body: &[u8], ts: i64, prefix: &str, mut headers: Headers) -> Headers {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("base64 key");
    let id = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("webhook-id") || k.eq_ignore_ascii_case("svix-id"))
        .map(|(_, v)| v.clone())
        .expect("id header");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("webhook-id"));
    let t = ts.to_string();
    let sig = b64(&hs256(
        &key,
        &[id.as_bytes(), b".", t.as_bytes(), b".", body],
    ));
    headers.push(h(&format!("{prefix}-id"), id));
    headers.push(h(&format!("{prefix}-timestamp"), t));
    headers.push(h(&format!("{prefix}-signature"), format!("v1,{sig}")));
    headers
}

/// The example generic scheme: `X-Timestamp` + `X-Signature: sha256=<hex of
/// HMAC("{timestamp}.{body}")>`.
pub fn generic(secret: &str, body: &[u8], ts: i64, mut headers: Headers) -> Headers {
    let t = ts.to_string();
    let sig = hex::encode(hs256(secret.as_bytes(), &[t.as_bytes(), b".", body]));
    headers.push(h("X-Timestamp", t));
    headers.push(h("X-Signature", format!("sha256={sig}")));
    headers
}
