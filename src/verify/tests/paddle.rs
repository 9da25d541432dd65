//! Paddle.

use super::*;

const BODY: &[u8] = include_bytes!("../../../fixtures/paddle/transaction.completed.json");
const HEADERS: &str = include_str!("../../../fixtures/paddle/transaction.completed.headers.json");
const SECRET: &[u8] = b"pdl_ntfset_01dev_paddle_secret";

fn h1(key: &[u8], ts: i64, body: &[u8]) -> String {
    hex::encode(hmac_sha256(key, &[ts.to_string().as_bytes(), b":", body]))
}

fn signer(key: &[u8], now: i64, body: &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let v = format!("ts={now};h1={}", h1(key, now, body));
    (vec![("Paddle-Signature", v)], body.to_vec())
}

fn contract() -> Contract {
    Contract {
        kind: RouteKind::Paddle,
        secret: SECRET,
        body: BODY,
        headers: HEADERS,
        sign: signer,
        missing: "paddle-signature",
        claims: verified(
            "evt_01hv8x2acma2gz0bbx9y5s9h2b",
            Some("transaction.completed"),
            0,
        ),
        timestamped: true,
        body_signed: true,
    }
}

#[test]
fn paddle_contract() {
    contract().run();
}

fn paddle(tol: u64) -> Verifier {
    let mut r = route(RouteKind::Paddle, &[SECRET], None);
    r.tolerance = Duration::from_secs(tol);
    Verifier::new(&r)
}

#[test]
fn paddle_window_is_5_s_by_default() {
    assert_eq!(RouteKind::Paddle.default_tolerance_s(), 5);
    let v = paddle(5);
    for (age, ok) in [(5, true), (6, false), (-5, true), (-6, false)] {
        let (h, b) = signer(SECRET, NOW - age, BODY);
        let mut hm = HeaderMap::new();
        set(&mut hm, h[0].0, &h[0].1);
        assert_eq!(v.verify(&hm, &b, NOW).is_ok(), ok, "age {age}");
    }
}

#[test]
fn paddle_any_h1_matches_and_the_list_is_bounded() {
    let v = paddle(5);
    let right = h1(SECRET, NOW, BODY);
    let wrong = h1(WRONG_SECRET, NOW, BODY);
    let mut h = HeaderMap::new();
    set(
        &mut h,
        "Paddle-Signature",
        &format!("ts={NOW};h1={wrong};h1={right}"),
    );
    assert!(v.verify(&h, BODY, NOW).is_ok());
    // The timestamp is signed: a fresh ts with an old h1 fails.
    let old = h1(SECRET, NOW - 100, BODY);
    set(&mut h, "Paddle-Signature", &format!("ts={NOW};h1={old}"));
    assert_eq!(v.verify(&h, BODY, NOW), Err(Error::BadSignature));
    // Past the cap, a right h1 is not read.
    let many = vec![format!("h1={wrong}"); 8].join(";");
    set(
        &mut h,
        "Paddle-Signature",
        &format!("ts={NOW};{many};h1={right}"),
    );
    assert_eq!(v.verify(&h, BODY, NOW), Err(Error::BadSignature));
    for bad in [
        format!("h1={right}"),
        format!("ts={NOW}"),
        format!("ts={NOW};ts={NOW};h1={right}"),
        format!("ts={NOW};h1=zz"),
    ] {
        set(&mut h, "Paddle-Signature", &bad);
        assert_eq!(
            v.verify(&h, BODY, NOW),
            Err(Error::MalformedHeader("paddle-signature")),
            "{bad}"
        );
    }
}

#[test]
fn paddle_unparsable_ts_never_matches() {
    let v = paddle(5);
    let right = h1(SECRET, NOW, BODY);
    let mut h = HeaderMap::new();
    set(&mut h, "Paddle-Signature", &format!("ts=1e9;h1={right}"));
    assert_eq!(v.verify(&h, BODY, NOW), Err(Error::BadSignature));
}
