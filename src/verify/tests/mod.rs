//! Tests for the signature schemes. Every signature here is computed with the
//! `hmac`/`sha1`/`sha2` crates directly (never with `super::hmac::tag`), over
//! the fixture bodies in `fixtures/`, with the dev secrets of
//! `fixtures/README.md`.

use std::time::Duration;

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Digest as _;

use super::generic::{Encoding, Scheme};
use super::hmac::Algorithm;
use super::*;
use crate::config::{Route, RouteKind};
use crate::secret::Secret;

// These tests compare what a scheme proves (`Claims`) over borrowed fixture
// bytes; `Verified` only adds the body it checked (see
// `verified_owns_the_checked_body_without_a_copy`).
type Verified = Claims;

/// [`super::Verifier`] answering its scheme's claims over `&[u8]`.
struct Verifier(super::Verifier);

impl Verifier {
    fn new(route: &Route) -> Self {
        Verifier(super::Verifier::new(route))
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<Claims, Error> {
        let uri: http::Uri = self.0.route.path.parse().expect("route path is a URI");
        let head = Head {
            method: &http::Method::POST,
            uri: &uri,
            headers,
        };
        self.0.claims(head, body, now)
    }
}

const GITHUB_PUSH: &[u8] = include_bytes!("../../../fixtures/github/push.json");
const GITHUB_PUSH_HEADERS: &str = include_str!("../../../fixtures/github/push.headers.json");
const GITHUB_PING: &[u8] = include_bytes!("../../../fixtures/github/ping.json");
const GITHUB_PING_HEADERS: &str = include_str!("../../../fixtures/github/ping.headers.json");
const STRIPE_BODY: &[u8] = include_bytes!("../../../fixtures/stripe/invoice.paid.json");
const STRIPE_HEADERS: &str = include_str!("../../../fixtures/stripe/invoice.paid.headers.json");
const SLACK_MENTION: &[u8] = include_bytes!("../../../fixtures/slack/app_mention.json");
const SLACK_MENTION_HEADERS: &str =
    include_str!("../../../fixtures/slack/app_mention.headers.json");
const SLACK_URL_VERIFICATION: &[u8] =
    include_bytes!("../../../fixtures/slack/url_verification.json");
const SHOPIFY_BODY: &[u8] = include_bytes!("../../../fixtures/shopify/orders_create.json");
const SHOPIFY_HEADERS: &str = include_str!("../../../fixtures/shopify/orders_create.headers.json");
const STANDARD_BODY: &[u8] =
    include_bytes!("../../../fixtures/standard_webhooks/invoice.created.json");
const STANDARD_HEADERS: &str =
    include_str!("../../../fixtures/standard_webhooks/invoice.created.headers.json");
const GENERIC_BODY: &[u8] = include_bytes!("../../../fixtures/generic/order.json");
const GENERIC_HEADERS: &str = include_str!("../../../fixtures/generic/order.headers.json");
const NESTED_100K: &[u8] = include_bytes!("../../../fixtures/json_abuse/nested_100k.json");
const NOT_JSON: &[u8] = include_bytes!("../../../fixtures/json_abuse/not_json.txt");

const GITHUB_SECRET: &[u8] = b"dev-github-secret";
const STRIPE_SECRET: &[u8] = b"whsec_devStripeSecret0123456789";
const SLACK_SECRET: &[u8] = b"dev-slack-signing-secret";
const SHOPIFY_SECRET: &[u8] = b"dev-shopify-secret";
/// The base64-decoded key of `whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=`.
const STANDARD_KEY: &[u8] = b"dev-standard-webhooks-secret-key";
const GENERIC_SECRET: &[u8] = b"dev-generic-secret";
const WRONG_SECRET: &[u8] = b"not-the-secret";

/// An arbitrary "current" time (2025-03-02T16:45:09Z).
const NOW: i64 = 1_740_933_909;
const TOLERANCE: i64 = 300;

// === independent helpers ===

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256_id(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
}

fn tampered(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    let last = b.len() - 2;
    b[last] ^= 0x01;
    b
}

/// A HeaderMap from a fixture `*.headers.json` object.
fn fixture_headers(json: &str) -> HeaderMap {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap();
    let mut h = HeaderMap::new();
    for (k, v) in map {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
        );
    }
    h
}

fn set(h: &mut HeaderMap, name: &str, value: &str) {
    h.insert(
        HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
    );
}

fn route(kind: RouteKind, secrets: &[&[u8]], generic: Option<Scheme>) -> Route {
    Route {
        name: kind.as_str().to_string(),
        path: format!("/hooks/{}", kind.as_str()),
        kind,
        max_body_bytes: 1024 * 1024,
        secrets: secrets.iter().map(|s| Secret::new(s.to_vec())).collect(),
        tolerance: Duration::from_secs(TOLERANCE as u64),
        org_ids: Vec::new(),
        forward_session_id: false,
        parse_limits: Default::default(),
        generic,
        allow_cidrs: Vec::new(),
        client_cert: None,
        public_url: None,
        public_keys: Vec::new(),
        verify_token: None,
        discord_endpoint: Default::default(),
        secret_header: None,
        replay_ttl: Duration::from_secs(300),
        rate_limit: None,
    }
}

fn verifier(kind: RouteKind, secrets: &[&[u8]]) -> Verifier {
    Verifier::new(&route(kind, secrets, None))
}

fn verified(id: &str, event: Option<&str>, slot: usize) -> Verified {
    Verified {
        id: id.to_string(),
        event: event.map(str::to_string),
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    }
}

/// The same, for schemes whose id the signature does not cover.
fn unsigned(v: Verified) -> Verified {
    Verified {
        id_signed: false,
        ..v
    }
}

mod bitbucket;
mod calendly;
mod discord;
mod docusign;
mod dropbox;
mod generic;
mod generic_template;
mod github;
mod gitlab;
mod hubspot;
mod intercom;
mod linear;
mod mailgun;
mod meta;
mod microsoft_graph;
mod okta;
mod paddle;
mod pagerduty;
mod sendgrid;
mod shopify;
mod slack;
mod square;
mod standard;
mod stripe;
mod twilio;
mod twitch;
mod typeform;
mod vectors;
mod x;
mod zoom;

// Each scheme's helpers, for the tests of the others and of mod.rs.
use self::{generic::*, github::*};

// === the rest of mod.rs ===

#[test]
fn salesforce_om_verifier_rejects_everything() {
    let v = Verifier::new(&route(RouteKind::SalesforceOm, &[], None));
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW), Err(Error::BadSignature));
}

#[test]
fn generic_kind_without_scheme_rejects() {
    let v = Verifier::new(&route(RouteKind::GenericHmac, &[GENERIC_SECRET], None));
    let h = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    assert_eq!(v.verify(&h, GENERIC_BODY, NOW), Err(Error::BadSignature));
}

#[test]
fn no_secrets_never_verifies() {
    let v = verifier(RouteKind::Github, &[]);
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    assert_eq!(v.verify(&h, GITHUB_PUSH, NOW), Err(Error::BadSignature));
}

#[test]
fn error_reasons_are_metric_labels() {
    assert_eq!(Error::MissingHeader("x").reason(), "missing_header");
    assert_eq!(Error::MalformedHeader("x").reason(), "malformed_header");
    assert_eq!(Error::BadSignature.reason(), "bad_signature");
    assert_eq!(Error::Stale.reason(), "stale_timestamp");
    assert_eq!(Error::Future.reason(), "future_timestamp");
    assert_eq!(Error::Body.reason(), "malformed_body");
}

#[test]
fn clean_id_bounds() {
    assert_eq!(clean_id("  abc-123  ").as_deref(), Some("abc-123"));
    assert_eq!(clean_id(""), None);
    assert_eq!(clean_id("   "), None);
    assert_eq!(clean_id("a b"), None);
    assert_eq!(clean_id("é"), None);
    assert_eq!(
        clean_id(&"a".repeat(MAX_ID_BYTES)).map(|s| s.len()),
        Some(MAX_ID_BYTES)
    );
    assert_eq!(clean_id(&"a".repeat(MAX_ID_BYTES + 1)), None);
}

#[test]
fn body_hash_id_is_sha256_hex() {
    assert_eq!(
        body_hash_id(b""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(body_hash_id(GITHUB_PUSH), sha256_id(GITHUB_PUSH));
}

#[test]
fn parse_unix_forms() {
    assert_eq!(parse_unix("1614265330", "h"), Ok(1_614_265_330));
    assert_eq!(parse_unix(" 42 ", "h"), Ok(42));
    for bad in ["", " ", "-1", "+1", "1.5", "1e9", "0x10", "1234567890123"] {
        assert_eq!(
            parse_unix(bad, "h"),
            Err(Error::MalformedHeader("h")),
            "{bad:?}"
        );
    }
}

#[test]
fn json_id_type_probe() {
    assert_eq!(
        json_id_type(br#"{"id":"evt_1","type":"a.b","other":[1,2]}"#),
        Ok((Some("evt_1".into()), Some("a.b".into())))
    );
    assert_eq!(json_id_type(br#"{"id":7,"type":null}"#), Ok((None, None)));
    assert_eq!(json_id_type(NESTED_100K), Err(Error::Body));
    assert_eq!(json_id_type(NOT_JSON), Err(Error::Body));
}

#[test]
fn verified_owns_the_checked_body_without_a_copy() {
    let v = super::Verifier::new(&route(RouteKind::Github, &[GITHUB_SECRET], None));
    let h = github_headers(GITHUB_PUSH_HEADERS, GITHUB_SECRET, GITHUB_PUSH);
    let ok = v
        .verify(Head::post(&h), bytes::Bytes::from_static(GITHUB_PUSH), NOW)
        .unwrap();
    assert_eq!(ok.id(), GITHUB_DELIVERY);
    assert_eq!(ok.event(), Some("push"));
    assert!(!ok.id_signed());
    assert_eq!(ok.secret_slot(), 0);
    assert!(ok.handshake().is_none());
    assert_eq!(ok.body().as_ptr(), GITHUB_PUSH.as_ptr(), "the same bytes");
    assert!(
        !format!("{ok:?}").contains("\"ref\""),
        "Debug leaves the body out"
    );
    assert_eq!(ok.into_body(), GITHUB_PUSH);
}

#[test]
fn decode_hex_answers_as_the_hex_crate_does() {
    for s in [
        "",
        "00ff",
        "00FF",
        "a1B2c3",
        "abc",
        "zz",
        "0g",
        "é1",
        "ff ",
        &"ab".repeat(32),
    ] {
        let ours = super::decode_hex(s);
        let theirs = hex::decode(s);
        assert_eq!(ours.is_ok(), theirs.is_ok(), "{s:?}");
        if let (Ok(a), Ok(b)) = (ours, theirs) {
            assert_eq!(a, b, "{s:?}");
        }
    }
}
