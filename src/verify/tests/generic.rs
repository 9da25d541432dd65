//! generic_hmac.

use super::*;

pub(super) const GENERIC_ID: &str = "0b6f2c9e-3d4a-4e1b-9f8c-7a5d2e1c0b93";

/// `X-Signature: sha256=<hex HMAC-SHA256("{timestamp}.{body}")>`.
pub(super) fn generic_ts_scheme() -> Scheme {
    Scheme::new(
        "X-Signature",
        Algorithm::Sha256,
        Encoding::Hex,
        "sha256=".into(),
        "{timestamp}.{body}",
        Some("X-Timestamp"),
        Some("X-Request-Id"),
        Some("X-Event-Type"),
    )
    .unwrap()
}

pub(super) fn generic_ts_verifier(secrets: &[&[u8]]) -> Verifier {
    Verifier::new(&route(
        RouteKind::GenericHmac,
        secrets,
        Some(generic_ts_scheme()),
    ))
}

pub(super) fn generic_ts_headers(key: &[u8], ts: i64, body: &[u8]) -> HeaderMap {
    let mut h = fixture_headers(GENERIC_HEADERS);
    let ts = ts.to_string();
    let sig = hex::encode(hmac_sha256(key, &[ts.as_bytes(), b".", body]));
    set(&mut h, "X-Timestamp", &ts);
    set(&mut h, "X-Signature", &format!("sha256={sig}"));
    h
}

#[test]
fn generic_timestamp_template_verifies() {
    let v = generic_ts_verifier(&[GENERIC_SECRET]);
    let h = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW).unwrap(),
        unsigned(verified(GENERIC_ID, Some("order.shipped"), 0))
    );
}

#[test]
fn generic_wrong_secret_and_tampered_body() {
    let v = generic_ts_verifier(&[GENERIC_SECRET]);
    let h = generic_ts_headers(WRONG_SECRET, NOW, GENERIC_BODY);
    assert_eq!(v.verify(&h, GENERIC_BODY, NOW), Err(Error::BadSignature));
    let h = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    assert_eq!(
        v.verify(&h, &tampered(GENERIC_BODY), NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn generic_timestamp_is_signed() {
    let v = generic_ts_verifier(&[GENERIC_SECRET]);
    let mut h = generic_ts_headers(GENERIC_SECRET, NOW - 1000, GENERIC_BODY);
    set(&mut h, "X-Timestamp", &NOW.to_string());
    assert_eq!(v.verify(&h, GENERIC_BODY, NOW), Err(Error::BadSignature));
}

#[test]
fn generic_missing_headers() {
    let v = generic_ts_verifier(&[GENERIC_SECRET]);
    let mut h = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    h.remove("x-signature");
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW),
        Err(Error::MissingHeader("signature"))
    );
    let mut h = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    h.remove("x-timestamp");
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW),
        Err(Error::MissingHeader("timestamp"))
    );
}

#[test]
fn generic_malformed_headers() {
    let v = generic_ts_verifier(&[GENERIC_SECRET]);
    let good = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    let sig = good["x-signature"].to_str().unwrap().to_string();
    let hex_part = sig.strip_prefix("sha256=").unwrap().to_string();
    for bad in [
        hex_part.clone(),
        format!("sha1={hex_part}"),
        format!("sha256={hex_part}g"),
    ] {
        let mut h = good.clone();
        set(&mut h, "X-Signature", &bad);
        assert_eq!(
            v.verify(&h, GENERIC_BODY, NOW),
            Err(Error::MalformedHeader("signature")),
            "{bad}"
        );
    }
    // A timestamp that is not a number (signed as such) is malformed.
    let mut h = good.clone();
    let sig = hex::encode(hmac_sha256(GENERIC_SECRET, &[b"soon", b".", GENERIC_BODY]));
    set(&mut h, "X-Timestamp", "soon");
    set(&mut h, "X-Signature", &format!("sha256={sig}"));
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW),
        Err(Error::MalformedHeader("timestamp"))
    );
}

#[test]
fn generic_timestamp_window() {
    let v = generic_ts_verifier(&[GENERIC_SECRET]);
    let at = |ts: i64| {
        let h = generic_ts_headers(GENERIC_SECRET, ts, GENERIC_BODY);
        v.verify(&h, GENERIC_BODY, NOW)
    };
    assert_eq!(at(NOW - TOLERANCE - 1), Err(Error::Stale));
    assert_eq!(at(NOW + TOLERANCE + 1), Err(Error::Future));
    assert!(at(NOW - TOLERANCE).is_ok());
    assert!(at(NOW + TOLERANCE).is_ok());
}

#[test]
fn generic_rotation_reports_slot() {
    let v = generic_ts_verifier(&[b"old-generic", GENERIC_SECRET]);
    let h = generic_ts_headers(GENERIC_SECRET, NOW, GENERIC_BODY);
    assert_eq!(v.verify(&h, GENERIC_BODY, NOW).unwrap().secret_slot, 1);
}

#[test]
fn generic_base64_sha512_without_prefix() {
    let scheme = Scheme::new(
        "X-Sig",
        Algorithm::Sha512,
        Encoding::Base64,
        String::new(),
        "{body}",
        None,
        None,
        None,
    )
    .unwrap();
    let v = Verifier::new(&route(
        RouteKind::GenericHmac,
        &[GENERIC_SECRET],
        Some(scheme),
    ));
    let mut h = fixture_headers(GENERIC_HEADERS);
    set(
        &mut h,
        "X-Sig",
        &b64(&hmac_sha512(GENERIC_SECRET, &[GENERIC_BODY])),
    );
    // No id or event header configured: body hash, no event.
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW).unwrap(),
        verified(&sha256_id(GENERIC_BODY), None, 0)
    );
    // A SHA-256 tag under the same key does not pass a SHA-512 scheme.
    set(
        &mut h,
        "X-Sig",
        &b64(&hmac_sha256(GENERIC_SECRET, &[GENERIC_BODY])),
    );
    assert_eq!(v.verify(&h, GENERIC_BODY, NOW), Err(Error::BadSignature));
    // Hex is not base64 here... a tag in hex never verifies.
    set(
        &mut h,
        "X-Sig",
        &hex::encode(hmac_sha512(GENERIC_SECRET, &[GENERIC_BODY])),
    );
    assert!(v.verify(&h, GENERIC_BODY, NOW).is_err());
    // Not base64 at all.
    set(&mut h, "X-Sig", "***");
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW),
        Err(Error::MalformedHeader("signature"))
    );
}

#[test]
fn generic_sha1_with_signed_id() {
    let scheme = Scheme::new(
        "X-Sig",
        Algorithm::Sha1,
        Encoding::Hex,
        String::new(),
        "{id}:{body}",
        None,
        Some("X-Request-Id"),
        None,
    )
    .unwrap();
    let v = Verifier::new(&route(
        RouteKind::GenericHmac,
        &[GENERIC_SECRET],
        Some(scheme),
    ));
    let mut h = fixture_headers(GENERIC_HEADERS);
    let sig = hex::encode(hmac_sha1(
        GENERIC_SECRET,
        &[GENERIC_ID.as_bytes(), b":", GENERIC_BODY],
    ));
    set(&mut h, "X-Sig", &sig);
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW).unwrap(),
        verified(GENERIC_ID, None, 0)
    );
    // The id is signed: another id fails.
    set(&mut h, "X-Request-Id", "another-id");
    assert_eq!(v.verify(&h, GENERIC_BODY, NOW), Err(Error::BadSignature));
    // The template needs the id: without it the request is refused.
    h.remove("x-request-id");
    assert_eq!(
        v.verify(&h, GENERIC_BODY, NOW),
        Err(Error::MissingHeader("id"))
    );
}

#[test]
fn generic_scheme_rejects_bad_descriptions() {
    let new = |header: &str, payload: &str, ts: Option<&str>, id: Option<&str>| {
        Scheme::new(
            header,
            Algorithm::Sha256,
            Encoding::Hex,
            String::new(),
            payload,
            ts,
            id,
            None,
        )
        .map(|_| ())
        .map_err(|(key, _)| key)
    };
    assert_eq!(
        new("X-Sig", "{timestamp}.{body}", None, None),
        Err("timestamp_header")
    );
    assert_eq!(new("X-Sig", "{id}.{body}", None, None), Err("id_header"));
    assert_eq!(
        new("X-Sig", "{timestamp}", Some("X-Ts"), None),
        Err("signed_payload")
    );
    assert_eq!(
        new("X-Sig", "{nope}{body}", None, None),
        Err("signed_payload")
    );
    assert_eq!(new("bad header", "{body}", None, None), Err("header"));
    assert_eq!(
        new("X-Sig", "{body}", Some("bad ts"), None),
        Err("timestamp_header")
    );
    assert_eq!(new("X-Sig", "{body}", None, None), Ok(()));
    // A timestamp header outside the signature decides freshness alone.
    assert_eq!(
        new("X-Sig", "{body}", Some("X-Ts"), None),
        Err("signed_payload")
    );
    assert_eq!(
        new("X-Sig", "{id}:{body}", Some("X-Ts"), Some("X-Id")),
        Err("signed_payload")
    );
    assert_eq!(
        new("X-Sig", "{timestamp}:{body}", Some("X-Ts"), None),
        Ok(())
    );
}

// === the contract every HMAC kind's tests run ===

/// An independent signer: the headers (and the body, which Mailgun and
/// Linear change) a provider would send for `body` at `now` with `key`.
pub(super) type Signer = fn(&[u8], i64, &[u8]) -> (Vec<(&'static str, String)>, Vec<u8>);

/// One kind's contract, over a fixture.
pub(super) struct Contract {
    pub(super) kind: RouteKind,
    pub(super) secret: &'static [u8],
    pub(super) body: &'static [u8],
    pub(super) headers: &'static str,
    pub(super) sign: Signer,
    /// The header whose absence is `MissingHeader(missing)` (empty: none).
    pub(super) missing: &'static str,
    /// What a valid request proves (slot 0).
    pub(super) claims: Claims,
    /// Whether a signed timestamp bounds freshness.
    pub(super) timestamped: bool,
    /// Whether the signature covers the body (else a tampered body is
    /// each kind's own test).
    pub(super) body_signed: bool,
}

impl Contract {
    fn request(&self, key: &[u8], now: i64) -> (HeaderMap, Vec<u8>) {
        let (signed, body) = (self.sign)(key, now, self.body);
        let mut h = fixture_headers(self.headers);
        for (k, v) in signed {
            set(&mut h, k, &v);
        }
        (h, body)
    }

    /// Valid, tampered, wrong secret, missing header, rotation, window,
    /// the product's signer round trip.
    pub(super) fn run(&self) {
        let v = verifier(self.kind, &[self.secret]);
        let (h, body) = self.request(self.secret, NOW);
        assert_eq!(v.verify(&h, &body, NOW), Ok(self.claims.clone()), "valid");
        if self.body_signed {
            let t = v.verify(&h, &tampered(&body), NOW);
            assert_eq!(t, Err(Error::BadSignature), "tampered body");
        }
        let (h2, b2) = self.request(WRONG_SECRET, NOW);
        assert_eq!(v.verify(&h2, &b2, NOW), Err(Error::BadSignature), "wrong");
        if !self.missing.is_empty() {
            let mut h3 = h.clone();
            h3.remove(self.missing);
            assert_eq!(
                v.verify(&h3, &body, NOW),
                Err(Error::MissingHeader(self.missing))
            );
        }
        let rotated = verifier(self.kind, &[WRONG_SECRET, self.secret]);
        let got = rotated.verify(&h, &body, NOW).expect("rotation");
        assert_eq!(got.secret_slot, 1);
        self.window(&v);
        self.round_trip(&v);
    }

    fn window(&self, v: &Verifier) {
        let tol = v.0.tolerance_s;
        let (h, body) = self.request(self.secret, NOW - tol - 1);
        let (hf, bodyf) = self.request(self.secret, NOW + tol + 1);
        if self.timestamped {
            assert_eq!(v.verify(&h, &body, NOW), Err(Error::Stale));
            assert_eq!(v.verify(&hf, &bodyf, NOW), Err(Error::Future));
            let (h, body) = self.request(self.secret, NOW - tol);
            assert!(v.verify(&h, &body, NOW).is_ok(), "edge of the window");
        } else {
            assert!(v.verify(&h, &body, NOW).is_ok(), "no timestamp");
        }
    }

    fn round_trip(&self, v: &Verifier) {
        let route = route(self.kind, &[self.secret], None);
        let draft = super::super::sign::Draft {
            body: self.body,
            event: self.claims.event.as_deref(),
            id: None,
            now: NOW,
            private_key: None,
        };
        let s = super::super::sign::sign(&route, &draft).expect("sign");
        let mut h = HeaderMap::new();
        for (k, val) in &s.headers {
            set(&mut h, k, val);
        }
        let got = v.verify(&h, &s.body, NOW).expect("round trip");
        assert_eq!((got.secret_slot, got.event), (0, self.claims.event.clone()));
    }
}
