//! Meta, and the helpers of the handshake kinds' tests (requests with a
//! method and query, signed drafts).

use super::*;

const META_BODY: &[u8] = include_bytes!("../../../fixtures/meta/page.feed.json");
const META_HEADERS: &str = include_str!("../../../fixtures/meta/page.feed.headers.json");
const META_SECRET: &[u8] = b"dev-meta-app-secret";
const META_TOKEN: &[u8] = b"dev-meta-verify-token";

/// The claims of `method target` with `headers` and `body` at `now`.
pub(super) fn call(
    v: &Verifier,
    method: http::Method,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Claims, Error> {
    let uri: http::Uri = target.parse().unwrap();
    let head = Head {
        method: &method,
        uri: &uri,
        headers,
    };
    v.0.claims(head, body, now)
}

/// A GET of `target` with no headers.
pub(super) fn get(v: &Verifier, target: &str) -> Result<Claims, Error> {
    call(v, http::Method::GET, target, &HeaderMap::new(), b"", NOW)
}

/// What `hookgate sign` makes for `route`, verified by the route's
/// verifier (method and URL included).
pub(super) fn sign_then_verify(route: &Route, body: &[u8], event: Option<&str>) -> Claims {
    let draft = super::super::sign::Draft {
        body,
        event,
        id: None,
        now: NOW,
        private_key: None,
    };
    let signed = super::super::sign::sign(route, &draft).unwrap();
    let mut h = HeaderMap::new();
    for (k, v) in &signed.headers {
        set(&mut h, k, v);
    }
    assert_eq!(signed.method, http::Method::POST);
    call(
        &Verifier::new(route),
        signed.method.clone(),
        &signed.url,
        &h,
        &signed.body,
        NOW,
    )
    .unwrap()
}

/// The answer of an unsigned handshake.
pub(super) fn answered(body: &[u8], h: Handshake) -> Verified {
    Verified {
        id: sha256_id(body),
        event: None,
        id_signed: false,
        secret_slot: 0,
        handshake: Some(h),
    }
}

fn meta_route(secrets: &[&[u8]]) -> Route {
    let mut r = route(RouteKind::Meta, secrets, None);
    r.verify_token = Some(Secret::new(META_TOKEN.to_vec()));
    r
}

fn meta_headers(key: &[u8], body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(META_HEADERS);
    let sig = hex::encode(hmac_sha256(key, &[body]));
    set(&mut h, "X-Hub-Signature-256", &format!("sha256={sig}"));
    h
}

#[test]
fn meta_delivery_verifies() {
    let v = Verifier::new(&meta_route(&[META_SECRET]));
    let h = meta_headers(META_SECRET, META_BODY);
    assert_eq!(
        v.verify(&h, META_BODY, NOW).unwrap(),
        verified(&sha256_id(META_BODY), Some("page"), 0)
    );
}

#[test]
fn meta_tampered_wrong_secret_missing_header() {
    let v = Verifier::new(&meta_route(&[META_SECRET]));
    let h = meta_headers(META_SECRET, META_BODY);
    assert_eq!(
        v.verify(&h, &tampered(META_BODY), NOW),
        Err(Error::BadSignature)
    );
    let h = meta_headers(WRONG_SECRET, META_BODY);
    assert_eq!(v.verify(&h, META_BODY, NOW), Err(Error::BadSignature));
    let mut h = meta_headers(META_SECRET, META_BODY);
    h.remove("x-hub-signature-256");
    assert_eq!(
        v.verify(&h, META_BODY, NOW),
        Err(Error::MissingHeader("x-hub-signature-256"))
    );
    let mut h = meta_headers(META_SECRET, META_BODY);
    let sha1 = hex::encode(hmac_sha1(META_SECRET, &[META_BODY]));
    set(&mut h, "X-Hub-Signature-256", &format!("sha1={sha1}"));
    assert_eq!(
        v.verify(&h, META_BODY, NOW),
        Err(Error::MalformedHeader("x-hub-signature-256"))
    );
}

#[test]
fn meta_rotation_reports_slot() {
    let v = Verifier::new(&meta_route(&[b"old-meta", META_SECRET]));
    let h = meta_headers(META_SECRET, META_BODY);
    assert_eq!(v.verify(&h, META_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn meta_signed_non_json_is_body_error() {
    let v = Verifier::new(&meta_route(&[META_SECRET]));
    let h = meta_headers(META_SECRET, NOT_JSON);
    assert_eq!(v.verify(&h, NOT_JSON, NOW), Err(Error::Body));
}

#[test]
fn meta_subscribe_answers_the_challenge() {
    let v = Verifier::new(&meta_route(&[META_SECRET]));
    let target = "/hooks/meta?hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=1158201444";
    assert_eq!(
        get(&v, target).unwrap(),
        answered(b"", Handshake::Text("1158201444".into()))
    );
    // Form-decoded.
    let target =
        "/hooks/meta?hub.challenge=a%2Bb&hub.mode=subscribe&hub.verify_token=dev-meta-verify-token";
    assert_eq!(
        get(&v, target).unwrap().handshake,
        Some(Handshake::Text("a+b".into()))
    );
}

#[test]
fn meta_subscribe_refusals() {
    let v = Verifier::new(&meta_route(&[META_SECRET]));
    let long = "c".repeat(257);
    for q in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=dev-meta-verify-token2&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.verify_token=dev-meta-verify-token&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=dev-meta-verify-token",
        "hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=",
        "hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=a%20b",
        "hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=%C3%A9",
        &format!("hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge={long}"),
        "",
    ] {
        let r = get(&v, &format!("/hooks/meta?{q}"));
        assert!(r.is_err() && r != Err(Error::Body), "{q}: {r:?}");
    }
    assert!(get(&v, "/hooks/meta").is_err());
}

#[test]
fn meta_sign_round_trip() {
    let r = meta_route(&[META_SECRET]);
    assert_eq!(
        sign_then_verify(&r, META_BODY, None),
        verified(&sha256_id(META_BODY), Some("page"), 0)
    );
}
