//! Issue #17, handshakes at the edge (zoom, meta, twitch, x,
//! microsoft_graph, dropbox, okta): each against a real gateway and
//! RabbitMQ: a valid delivery is queued once (id, routing key, exact body),
//! its replay is a duplicate, forgeries get 401 with nothing queued, a
//! rotated secret verifies, and each handshake gets its exact answer with
//! nothing queued. Signatures are made here with the hmac crate directly.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::support::{fixture, now, Harness, Options};

/// The current and the next (rotated) secret of every route.
const SECRETS: [&str; 2] = ["dev-handshake-secret", "dev-handshake-secret-next"];

type Headers = Vec<(String, String)>;

/// A harness with one route of `kind` at `/hooks/<kind>` holding
/// [`SECRETS`] (in files) and `extra` keys.
struct Kit {
    h: Harness,
    path: String,
    _dir: tempfile::TempDir,
}

impl Kit {
    async fn start(kind: &str, extra: &str) -> Kit {
        let dir = tempfile::tempdir().expect("tempdir");
        let files: Vec<String> = SECRETS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = dir.path().join(format!("secret{i}"));
                std::fs::write(&p, s).expect("write secret");
                format!("{{ file = \"{}\" }}", p.display())
            })
            .collect();
        let path = format!("/hooks/{kind}");
        let routes = format!(
            "[[routes]]\npath = \"{path}\"\nkind = \"{kind}\"\nsecrets = [{}]\n{extra}\n",
            files.join(", ")
        );
        let h = Harness::start_with(Options {
            routes_toml: Some(routes),
            ..Options::default()
        })
        .await;
        Kit { h, path, _dir: dir }
    }

    async fn post(&self, headers: &Headers, body: &[u8]) -> u16 {
        self.h
            .post(&self.path, headers, body.to_vec())
            .await
            .status()
            .as_u16()
    }

    /// A valid delivery is queued once as given; its replay is a duplicate.
    async fn queued_once(&self, headers: &Headers, body: &[u8], key: &str, id: &str) {
        assert_eq!(self.post(headers, body).await, 200);
        let m = self.h.take(1).await;
        assert_eq!(m[0].delivery.routing_key.as_str(), key);
        assert_eq!(crate::support::message_id(&m[0]), id);
        assert_eq!(m[0].delivery.data, body, "byte-exact body");
        assert_eq!(self.post(headers, body).await, 200, "replay answered");
        self.h.assert_empty().await;
    }

    /// Each request is refused with 401 and nothing is queued.
    async fn refused(&self, cases: &[(&str, Headers, Vec<u8>)]) {
        for (what, headers, body) in cases {
            assert_eq!(self.post(headers, body).await, 401, "{what}");
        }
        self.h.assert_empty().await;
    }

    /// The checks of a body-signing kind: `sign(secret, body)` headers
    /// verify with slot 0 (queued once, replay a duplicate) and slot 1; a
    /// tampered body, a wrong secret and no signature get 401.
    async fn body_signed(&self, body: &[u8], key: &str, sign: impl Fn(&str, &[u8]) -> Headers) {
        self.queued_once(&sign(SECRETS[0], body), body, key, &body_id(body))
            .await;
        self.refused(&[
            ("tampered", sign(SECRETS[0], body), tampered(body)),
            ("wrong secret", sign("wrong", body), body.to_vec()),
            ("no signature", hdrs(&[]), body.to_vec()),
        ])
        .await;
        let second = another(body);
        self.queued_once(&sign(SECRETS[1], &second), &second, key, &body_id(&second))
            .await;
    }

    /// A GET of the route with `query` and no headers.
    async fn get(&self, query: &str) -> Answer {
        self.send(reqwest::Method::GET, query, &Vec::new()).await
    }

    /// `method target` with `headers`: status, content type, body.
    async fn send(&self, method: reqwest::Method, query: &str, headers: &Headers) -> Answer {
        let url = format!("{}{}{query}", self.h.base, self.path);
        let mut req = self.h.client.request(method, url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let r = req.send().await.expect("request");
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        let (ctype, nosniff) = (header("content-type"), header("x-content-type-options"));
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        Answer {
            status,
            ctype,
            nosniff,
            body,
        }
    }

    async fn finish(self) {
        self.h.assert_empty().await;
        self.h.finish().await;
    }
}

/// What the gateway answered.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    ctype: Option<String>,
    nosniff: Option<String>,
    body: String,
}

impl Answer {
    fn json(body: String) -> Answer {
        Answer::of("application/json", body)
    }
    fn text(body: &str) -> Answer {
        Answer::of("text/plain; charset=utf-8", body.to_owned())
    }
    fn of(ctype: &str, body: String) -> Answer {
        let nosniff = Some("nosniff".to_owned());
        let (status, ctype) = (200, Some(ctype.to_owned()));
        Answer {
            status,
            ctype,
            nosniff,
            body,
        }
    }
}

fn hs256(key: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn body_id(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

fn tampered(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    let i = b.len() - 3;
    b[i] ^= 1;
    b
}

/// `body` with its first `1` made `2`: another event (another body hash).
fn another(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("utf-8 fixture");
    let other = text.replacen('1', "2", 1).into_bytes();
    assert_ne!(other, body);
    other
}

fn hdrs(pairs: &[(&str, &str)]) -> Headers {
    let mut v = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    v.extend(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    v
}

#[tokio::test]
async fn zoom_events_and_url_validation() {
    let k = Kit::start("zoom", "").await;
    let sign = |secret: &str, ts: i64, body: &[u8]| {
        let t = ts.to_string();
        let sig = hex::encode(hs256(secret, &[b"v0:", t.as_bytes(), b":", body]));
        hdrs(&[
            ("x-zm-request-timestamp", &t),
            ("x-zm-signature", &format!("v0={sig}")),
        ])
    };
    let body = fixture("zoom/meeting.started.json");
    k.body_signed(&body, "zoom.meeting.started", |s, b| sign(s, now(), b))
        .await;
    k.refused(&[
        ("stale", sign(SECRETS[0], now() - 301, &body), body.clone()),
        ("future", sign(SECRETS[0], now() + 301, &body), body.clone()),
    ])
    .await;
    let v = fixture("zoom/url_validation.json");
    let enc = hex::encode(hs256(SECRETS[1], &[b"qgg8vlvZRS6UYooatFL8Aw"]));
    let want = format!(r#"{{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"{enc}"}}"#);
    let r =
        k.h.post(&k.path, &sign(SECRETS[1], now(), &v), v.clone())
            .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        want,
        "keyed by the verifying secret"
    );
    k.finish().await;
}

#[tokio::test]
async fn meta_deliveries_and_subscribe_get() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("verify_token");
    std::fs::write(&token, "dev-meta-verify-token").expect("write token");
    let extra = format!("verify_token = {{ file = \"{}\" }}", token.display());
    let k = Kit::start("meta", &extra).await;
    let sign = |secret: &str, body: &[u8]| {
        let sig = hex::encode(hs256(secret, &[body]));
        hdrs(&[("X-Hub-Signature-256", &format!("sha256={sig}"))])
    };
    let body = fixture("meta/page.feed.json");
    k.body_signed(&body, "meta.page", sign).await;
    let q = "?hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=1158201444";
    assert_eq!(k.get(q).await, Answer::text("1158201444"));
    for q in [
        "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444",
        "?hub.mode=subscribe&hub.verify_token=dev-meta-verify-token&hub.challenge=a%20b",
        "",
    ] {
        assert_eq!(k.get(q).await.status, 401, "{q}");
    }
    // Other methods: 405 naming both that the route answers.
    let url = format!("{}{}", k.h.base, k.path);
    let r = k.h.client.put(url).send().await.expect("PUT");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    k.finish().await;
}

#[tokio::test]
async fn twitch_notifications_and_callback_verification() {
    let k = Kit::start("twitch", "").await;
    let rfc3339 = |t: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let sign = |secret: &str, id: &str, ts: i64, kind: &str, body: &[u8]| {
        let ts = rfc3339(ts);
        let sig = hex::encode(hs256(secret, &[id.as_bytes(), ts.as_bytes(), body]));
        hdrs(&[
            ("Twitch-Eventsub-Message-Id", id),
            ("Twitch-Eventsub-Message-Timestamp", &ts),
            (
                "Twitch-Eventsub-Message-Signature",
                &format!("sha256={sig}"),
            ),
            ("Twitch-Eventsub-Message-Type", kind),
            ("Twitch-Eventsub-Subscription-Type", "channel.follow"),
        ])
    };
    let body = fixture("twitch/channel.follow.json");
    let id = "befa7b53-d79d-478f-86b9-120f112b044e";
    let note = |secret: &str, ts: i64| sign(secret, id, ts, "notification", &body);
    let ok = note(SECRETS[0], now());
    k.queued_once(&ok, &body, "twitch.channel.follow", id).await;
    let mut unsigned = ok.clone();
    unsigned.retain(|(n, _)| n != "Twitch-Eventsub-Message-Signature");
    let mut other_id = ok.clone();
    other_id[1].1 = "another-id".into();
    k.refused(&[
        ("tampered", ok.clone(), tampered(&body)),
        ("wrong secret", note("wrong", now()), body.clone()),
        ("no signature", unsigned, body.clone()),
        ("id not signed", other_id, body.clone()),
        ("stale", note(SECRETS[0], now() - 601), body.clone()),
        ("future", note(SECRETS[0], now() + 601), body.clone()),
    ])
    .await;
    let rotated = sign(SECRETS[1], "msg-2", now(), "revocation", &body);
    k.queued_once(&rotated, &body, "twitch.channel.follow", "msg-2")
        .await;
    let c = fixture("twitch/webhook_callback_verification.json");
    let hs = sign(
        SECRETS[0],
        "msg-3",
        now(),
        "webhook_callback_verification",
        &c,
    );
    let r = k.h.post(&k.path, &hs, c).await;
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ctype, "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "pogchamp-kappa-360noscope-vohiyo");
    k.finish().await;
}

#[tokio::test]
async fn x_events_and_crc() {
    let k = Kit::start("x", "").await;
    let sign = |secret: &str, body: &[u8]| {
        let sig = b64(&hs256(secret, &[body]));
        hdrs(&[("x-twitter-webhooks-signature", &format!("sha256={sig}"))])
    };
    let body = fixture("x/tweet_create_events.json");
    k.body_signed(&body, "x.tweet_create_events", sign).await;
    let got = k.get("?crc_token=a1b2c3d4e5").await;
    let tag = b64(&hs256(SECRETS[0], &[b"a1b2c3d4e5"]));
    assert_eq!(
        got,
        Answer::json(format!(r#"{{"response_token":"sha256={tag}"}}"#))
    );
    assert_eq!(k.get("?crc_token=%FF").await.status, 401);
    k.finish().await;
}

#[tokio::test]
async fn microsoft_graph_notifications_and_validation() {
    let k = Kit::start("microsoft_graph", "").await;
    let body = fixture("microsoft_graph/message.created.json");
    let text = String::from_utf8(body.clone()).expect("utf-8 fixture");
    let with = |state: &str| text.replace("dev-graph-client-state", state).into_bytes();
    let ok = with(SECRETS[0]);
    k.queued_once(&hdrs(&[]), &ok, "microsoft_graph.created", "lsgTZMr9KwAAA")
        .await;
    k.refused(&[
        ("wrong clientState", hdrs(&[]), with("wrong")),
        ("empty clientState", hdrs(&[]), with("")),
    ])
    .await;
    let rotated = with(SECRETS[1]);
    let id2 = "lsgTZMr9KwAAB";
    let rotated = String::from_utf8(rotated)
        .unwrap()
        .replace("lsgTZMr9KwAAA", id2);
    let key = "microsoft_graph.created";
    k.queued_once(&hdrs(&[]), rotated.as_bytes(), key, id2)
        .await;
    let q = "?validationToken=Validation%3a+Testing+client+reachability";
    let got = k.send(reqwest::Method::POST, q, &Vec::new()).await;
    assert_eq!(got, Answer::text("Validation: Testing client reachability"));
    k.finish().await;
}

#[tokio::test]
async fn dropbox_notifications_and_challenge() {
    let k = Kit::start("dropbox", "").await;
    let sign = |secret: &str, body: &[u8]| {
        hdrs(&[("X-Dropbox-Signature", &hex::encode(hs256(secret, &[body])))])
    };
    let body = fixture("dropbox/list_folder.json");
    k.body_signed(&body, "dropbox.list_folder", sign).await;
    let got = k.get("?challenge=ZmFrZS1jaGFsbGVuZ2U").await;
    assert_eq!(
        got,
        Answer::text("ZmFrZS1jaGFsbGVuZ2U"),
        "text/plain + nosniff"
    );
    assert_eq!(k.get("?challenge=%3Cb%3E%20").await.status, 401);
    k.finish().await;
}

#[tokio::test]
async fn okta_events_and_verification() {
    let k = Kit::start("okta", "header = \"X-Okta-Secret\"").await;
    let auth = |secret: &str| hdrs(&[("X-Okta-Secret", secret)]);
    let body = fixture("okta/user.session.start.json");
    let id = "b5a188b9-5ece-4636-b041-482ffda96311";
    k.queued_once(&auth(SECRETS[0]), &body, "okta.user.session.start", id)
        .await;
    k.refused(&[
        ("wrong secret", auth("wrong"), body.clone()),
        (
            "in Authorization",
            hdrs(&[("Authorization", SECRETS[0])]),
            body.clone(),
        ),
        ("no header", hdrs(&[]), body.clone()),
    ])
    .await;
    let second = String::from_utf8(body.clone())
        .unwrap()
        .replace(id, "evt-2");
    let key = "okta.user.session.start";
    k.queued_once(&auth(SECRETS[1]), second.as_bytes(), key, "evt-2")
        .await;
    let challenge = |secret: &str| {
        let mut h = auth(secret);
        h.push(("X-Okta-Verification-Challenge".into(), "2rM8LPY6".into()));
        h
    };
    let got = k
        .send(reqwest::Method::GET, "", &challenge(SECRETS[1]))
        .await;
    assert_eq!(got, Answer::json(r#"{"verification":"2rM8LPY6"}"#.into()));
    let got = k.send(reqwest::Method::GET, "", &challenge("wrong")).await;
    assert_eq!(got.status, 401);
    k.finish().await;
}
