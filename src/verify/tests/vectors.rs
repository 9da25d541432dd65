//! The test vectors of `tests/vectors/<kind>.json`, made by
//! `scripts/gen-vectors.py` with each provider's own SDK signer where one
//! exists: every case is checked against the route kind's verifier.
//!
//! A vector file:
//! ```json
//! { "kind": "discord",
//!   "generator": "what made the signatures (SDK and version)",
//!   "route": "TOML keys of the [[routes]] table, beyond path, kind and secrets",
//!   "secrets": ["raw secret, slot 0", "slot 1"],
//!   "cases": [
//!     { "name": "valid", "method": "POST", "target": "/hooks/x?q=1",
//!       "headers": [["Name", "value"]], "body": "text" | "body_base64": "..",
//!       "now": 1700000000,
//!       "expect": "ok" | "unauthorized" | "bad_request" | "handshake",
//!       "id": "..", "event": "..", "slot": 0,
//!       "answer": { "status": 200, "content_type": "text/plain; charset=utf-8", "body": ".." } } ] }
//! ```

use std::path::Path;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::super::{Claims, Error, Handshake, Head, Verifier};
use crate::config::Config;

#[derive(serde::Deserialize)]
struct Vector {
    kind: String,
    generator: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    secrets: Vec<String>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    #[serde(default = "post")]
    method: String,
    target: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_base64: Option<String>,
    now: i64,
    expect: String,
    id: Option<String>,
    event: Option<String>,
    slot: Option<usize>,
    answer: Option<Answer>,
}

#[derive(serde::Deserialize)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    #[serde(default)]
    body: String,
}

fn post() -> String {
    "POST".to_owned()
}

/// The route of `v`, loaded through the config loader like any route.
fn verifier(v: &Vector, dir: &Path) -> Verifier {
    let mut secrets = Vec::new();
    for (i, s) in v.secrets.iter().enumerate() {
        let p = dir.join(format!("secret{i}"));
        std::fs::write(&p, s).expect("write secret");
        secrets.push(format!("{{ file = {:?} }}", p.display().to_string()));
    }
    let secrets = if secrets.is_empty() {
        String::new()
    } else {
        format!("secrets = [{}]\n", secrets.join(", "))
    };
    let text = format!(
        "[server]\nplaintext = true\n[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n\
         [[routes]]\npath = \"/hooks/{kind}\"\nkind = \"{kind}\"\n{secrets}{route}\n",
        kind = v.kind,
        route = v.route
    );
    let file = dir.join("hookgate.toml");
    std::fs::write(&file, text).expect("write config");
    let config = Config::load(&file).unwrap_or_else(|e| panic!("{}: {e}", v.kind));
    Verifier::new(&config.routes[0])
}

fn body(c: &Case) -> Vec<u8> {
    match (&c.body, &c.body_base64) {
        (Some(t), None) => t.as_bytes().to_vec(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("body_base64"),
        (None, None) => Vec::new(),
        _ => panic!("{}: body and body_base64 both given", c.name),
    }
}

fn headers(c: &Case) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in &c.headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_bytes(v.as_bytes()).expect("header value"),
        );
    }
    map
}

/// The answer a handshake gives: (status, content type, body).
fn rendered(h: &Handshake) -> (u16, Option<&'static str>, String) {
    match h {
        Handshake::Json(b) => (200, Some("application/json"), b.clone()),
        Handshake::Text(b) => (200, Some("text/plain; charset=utf-8"), b.clone()),
        Handshake::NoContent => (204, None, String::new()),
    }
}

fn check(v: &Vector, verifier: &Verifier, c: &Case) -> Result<(), String> {
    let uri: Uri = c.target.parse().map_err(|e| format!("target: {e}"))?;
    let method = Method::from_bytes(c.method.as_bytes()).map_err(|e| e.to_string())?;
    let headers = headers(c);
    let body = body(c);
    let head = Head {
        method: &method,
        uri: &uri,
        headers: &headers,
    };
    let got: Result<Claims, Error> = verifier.claims(head, &body, c.now);
    match (c.expect.as_str(), got) {
        ("ok", Ok(claims)) if claims.handshake.is_none() => {
            if let Some(id) = &c.id {
                (claims.id == *id)
                    .then_some(())
                    .ok_or(format!("id {:?}, want {id:?}", claims.id))?;
            }
            if c.event.is_some() && claims.event != c.event {
                return Err(format!("event {:?}, want {:?}", claims.event, c.event));
            }
            let slot = c.slot.unwrap_or(0);
            (claims.secret_slot == slot)
                .then_some(())
                .ok_or(format!("slot {}, want {slot}", claims.secret_slot))
        }
        ("handshake", Ok(claims)) => {
            let h = claims.handshake.ok_or("no handshake")?;
            let want = c.answer.as_ref().ok_or("case gives no answer")?;
            let (status, ctype, text) = rendered(&h);
            if status != want.status || ctype != want.content_type.as_deref() || text != want.body {
                return Err(format!(
                    "answer ({status}, {ctype:?}, {text:?}), want ({}, {:?}, {:?})",
                    want.status, want.content_type, want.body
                ));
            }
            Ok(())
        }
        ("unauthorized", Err(e)) if e != Error::Body => Ok(()),
        ("bad_request", Err(Error::Body)) => Ok(()),
        (want, got) => Err(format!("want {want}, got {got:?} ({})", v.generator)),
    }
}

#[test]
fn every_vector_file_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let entries = std::fs::read_dir(&root).expect("tests/vectors");
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read vector");
        let v: Vector =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let dir = tempfile::tempdir().expect("tempdir");
        let verifier = verifier(&v, dir.path());
        kinds.insert(v.kind.clone());
        for c in &v.cases {
            cases += 1;
            if let Err(e) = check(&v, &verifier, c) {
                failures.push(format!("{} / {}: {e}", path.display(), c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
