//! Tests for loading and validating the TOML configuration. Secrets come from
//! files written into a per-test temporary directory; no test sets an
//! environment variable (tests run in parallel threads).

use std::sync::atomic::{AtomicUsize, Ordering};

use ::hmac::{Hmac, Mac};
use base64::Engine as _;

use super::*;

const FILE: &str = "test.toml";
const UNSET_VAR: &str = "HOOKGATE_TEST_SURELY_UNSET_12345";

const HEAD: &str = r#"
[server]
plaintext = true

[amqp]
url = "amqp://127.0.0.1:5672/%2f"
"#;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hookgate-config-tests-{}-{}-{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `contents` to `name` and returns the path as a TOML string literal.
    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        Self::quoted(&path)
    }

    /// A path in the directory that does not exist, as a TOML string literal.
    fn missing(&self, name: &str) -> String {
        Self::quoted(&self.0.join(name))
    }

    fn quoted(path: &Path) -> String {
        let s = path.to_str().unwrap();
        assert!(!s.contains(['"', '\\']), "path needs no TOML escaping: {s}");
        format!("\"{s}\"")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(text: &str) -> Result<Config, Error> {
    Config::from_toml(Path::new(FILE), text)
}

fn load_ok(text: &str) -> Config {
    match load(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}\n{text}"),
    }
}

/// Loads `text`, expects [`Error::Invalid`]; returns (key, reason, Display).
fn invalid(text: &str) -> (String, String, String) {
    match load(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => {
            let shown = e.to_string();
            match e {
                Error::Invalid { file, key, reason } => {
                    assert_eq!(file, Path::new(FILE));
                    assert_eq!(shown, format!("{FILE}: {key}: {reason}"));
                    (key, reason, shown)
                }
                other => panic!("expected Error::Invalid, got {other:?}"),
            }
        }
    }
}

fn invalid_key(text: &str) -> String {
    invalid(text).0
}

/// `HEAD` plus one route made of `lines`.
fn one_route(lines: &str) -> String {
    format!("{HEAD}\n[[routes]]\n{lines}\n")
}

/// A github route with a secret file in `dir`, plus `extra` lines.
fn github_route(dir: &TempDir, extra: &str) -> String {
    let s = dir.file("gh", b"dev-github-secret");
    one_route(&format!(
        "path = \"/hooks/github\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}]\n{extra}"
    ))
}

/// A salesforce_om route with `org_ids`, plus `extra` lines.
fn sf_route(org_ids: &str, extra: &str) -> String {
    one_route(&format!(
        "path = \"/sf/om\"\nkind = \"salesforce_om\"\norg_ids = {org_ids}\n{extra}"
    ))
}

// === a full valid configuration ===

#[test]
fn full_config_with_every_kind() {
    let dir = TempDir::new("full");
    let gh = dir.file("gh", b"dev-github-secret\n");
    let gh_old = dir.file("gh_old", b"old-github-secret\r\n");
    let stripe = dir.file("stripe", b"whsec_devStripeSecret0123456789");
    let slack = dir.file("slack", b"dev-slack-signing-secret");
    let shopify = dir.file("shopify", b"dev-shopify-secret");
    let standard = dir.file(
        "standard",
        b"whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=\n",
    );
    let generic = dir.file("generic", b"dev-generic-secret");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:18443"
plaintext = true
max_body_bytes = 2048
header_read_timeout_ms = 1000
request_timeout_ms = 2000
max_concurrent_requests = 16
shutdown_grace_ms = 3000

[admin]
listen = "127.0.0.1:19090"

[amqp]
url = "amqp://127.0.0.1:5672/%2f"
exchange = "events"
confirm_timeout_ms = 1500
channels = 2
heartbeat_s = 30

[[amqp.queues]]
name = "all"

[[amqp.queues]]
name = "salesforce"
bindings = ["salesforce_om.#", "github.push"]
type = "classic"

[[routes]]
path = "/sf/om"
kind = "salesforce_om"
org_ids = ["00D000000000001", "00d000000000002eaa"]
forward_session_id = true

[[routes]]
path = "/hooks/github"
kind = "github"
secrets = [{{ file = {gh} }}, {{ file = {gh_old} }}]

[[routes]]
name = "stripe-live"
path = "/hooks/stripe"
kind = "stripe"
tolerance_s = 600
max_body_bytes = 4096
secrets = [{{ file = {stripe} }}]

[[routes]]
path = "/hooks/slack"
kind = "slack"
secrets = [{{ file = {slack} }}]

[[routes]]
path = "/hooks/shopify"
kind = "shopify"
secrets = [{{ file = {shopify} }}]

[[routes]]
path = "/hooks/standard"
kind = "standard_webhooks"
secrets = [{{ file = {standard} }}]

[[routes]]
name = "orders"
path = "/hooks/orders"
kind = "generic_hmac"
secrets = [{{ file = {generic} }}]
header = "X-Signature"
algorithm = "sha512"
encoding = "base64"
prefix = "v1="
signed_payload = "{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
id_header = "X-Request-Id"
event_header = "X-Event-Type"
tolerance_s = 120
"#
    );
    let c = load_ok(&text);
    assert_eq!(c.file, Path::new(FILE));

    assert_eq!(c.server.listen, "127.0.0.1:18443".parse().unwrap());
    assert!(c.server.plaintext);
    assert!(c.server.tls.is_none());
    assert_eq!(c.server.max_body_bytes, Some(2048));
    assert_eq!(c.server.header_read_timeout_ms, 1000);
    assert_eq!(c.server.request_timeout_ms, 2000);
    assert_eq!(c.server.max_concurrent_requests, 16);
    assert_eq!(c.server.shutdown_grace_ms, 3000);
    assert_eq!(c.admin.listen, "127.0.0.1:19090".parse().unwrap());

    assert_eq!(c.amqp.exchange, "events");
    assert_eq!(c.amqp.confirm_timeout_ms, 1500);
    assert_eq!(c.amqp.channels, 2);
    assert_eq!(c.amqp.heartbeat_s, 30);
    assert_eq!(c.amqp.queues.len(), 2);
    assert_eq!(c.amqp.queues[0].name, "all");
    assert_eq!(c.amqp.queues[0].bindings, ["#"]);
    assert_eq!(c.amqp.queues[0].kind, QueueType::Quorum);
    assert_eq!(
        c.amqp.queues[1].bindings,
        ["salesforce_om.#", "github.push"]
    );
    assert_eq!(c.amqp.queues[1].kind, QueueType::Classic);

    let summary: Vec<(&str, &str, RouteKind)> = c
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.path.as_str(), r.kind))
        .collect();
    assert_eq!(
        summary,
        [
            ("salesforce_om", "/sf/om", RouteKind::SalesforceOm),
            ("github", "/hooks/github", RouteKind::Github),
            ("stripe-live", "/hooks/stripe", RouteKind::Stripe),
            ("slack", "/hooks/slack", RouteKind::Slack),
            ("shopify", "/hooks/shopify", RouteKind::Shopify),
            (
                "standard_webhooks",
                "/hooks/standard",
                RouteKind::StandardWebhooks
            ),
            ("orders", "/hooks/orders", RouteKind::GenericHmac),
        ]
    );

    let [sf, github, stripe, slack, shopify, standard, generic] = &c.routes[..] else {
        panic!("7 routes");
    };
    // salesforce_om: org ids normalised, no secrets.
    assert_eq!(sf.org_ids, ["00D000000000001EAA", "00D000000000002EAA"]);
    assert!(sf.forward_session_id);
    assert!(sf.secrets.is_empty());
    assert!(sf.generic.is_none());
    // One trailing newline (LF or CRLF) is trimmed from secret files.
    let exposed =
        |r: &Route| -> Vec<Vec<u8>> { r.secrets.iter().map(|s| s.expose().to_vec()).collect() };
    assert_eq!(
        exposed(github),
        [b"dev-github-secret".to_vec(), b"old-github-secret".to_vec()]
    );
    assert!(!github.forward_session_id);
    assert!(github.org_ids.is_empty());
    // Stripe's whsec_ is part of the key: not decoded.
    assert_eq!(
        exposed(stripe),
        [b"whsec_devStripeSecret0123456789".to_vec()]
    );
    assert_eq!(exposed(slack), [b"dev-slack-signing-secret".to_vec()]);
    assert_eq!(exposed(shopify), [b"dev-shopify-secret".to_vec()]);
    // Standard Webhooks: the key is the base64 after whsec_.
    assert_eq!(
        exposed(standard),
        [b"dev-standard-webhooks-secret-key".to_vec()]
    );
    assert_eq!(exposed(generic), [b"dev-generic-secret".to_vec()]);

    // Body caps: the route's own, else the server's.
    assert_eq!(stripe.max_body_bytes, 4096);
    assert_eq!(github.max_body_bytes, 2048);
    assert_eq!(sf.max_body_bytes, 2048);
    // Tolerances: set, else the default.
    assert_eq!(stripe.tolerance, Duration::from_secs(600));
    assert_eq!(generic.tolerance, Duration::from_secs(120));
    assert_eq!(slack.tolerance, Duration::from_secs(DEFAULT_TOLERANCE_S));
    assert_eq!(standard.tolerance, Duration::from_secs(300));

    assert!(generic.generic.is_some());
    for r in [sf, github, stripe, slack, shopify, standard] {
        assert!(r.generic.is_none(), "{}", r.name);
    }
}

#[test]
fn generic_route_from_config_verifies_as_described() {
    // The generic keys must reach the scheme: sha512, base64, prefix,
    // template, timestamp, id and event headers.
    let dir = TempDir::new("generic-e2e");
    let s = dir.file("generic", b"dev-generic-secret");
    let c = load_ok(&one_route(&format!(
        r#"path = "/hooks/orders"
kind = "generic_hmac"
secrets = [{{ file = {s} }}]
header = "X-Signature"
algorithm = "sha512"
encoding = "base64"
prefix = "v1="
signed_payload = "{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
id_header = "X-Request-Id"
event_header = "X-Event-Type""#
    )));
    let body = br#"{"event":"order.shipped"}"#;
    let now: i64 = 1_740_933_909;
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(b"dev-generic-secret").unwrap();
    mac.update(now.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut h = http::HeaderMap::new();
    h.insert("x-signature", format!("v1={sig}").parse().unwrap());
    h.insert("x-timestamp", now.to_string().parse().unwrap());
    h.insert("x-request-id", "req-1".parse().unwrap());
    h.insert("x-event-type", "order.shipped".parse().unwrap());
    let v = crate::verify::Verifier::new(&c.routes[0]);
    let body = bytes::Bytes::from_static(body);
    let ok = v.verify(&h, body.clone(), now).unwrap();
    assert_eq!(ok.id(), "req-1");
    assert_eq!(ok.event(), Some("order.shipped"));
    assert_eq!(ok.secret_slot(), 0);
    // Tolerance 300 s (default) applies.
    assert_eq!(
        v.verify(&h, body, now + 301),
        Err(crate::verify::Error::Stale)
    );
}

#[test]
fn defaults() {
    let dir = TempDir::new("defaults");
    let c = load_ok(&github_route(&dir, ""));
    assert_eq!(
        c.server.listen,
        DEFAULT_LISTEN.parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.server.listen,
        SocketAddr::from(([0, 0, 0, 0], 8443)),
        "DEFAULT_LISTEN parses"
    );
    assert_eq!(
        c.admin.listen,
        SocketAddr::from(([127, 0, 0, 1], 9090)),
        "DEFAULT_ADMIN_LISTEN parses"
    );
    assert_eq!(
        default_listen(),
        DEFAULT_LISTEN.parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        default_admin_listen(),
        DEFAULT_ADMIN_LISTEN.parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.max_body_bytes, None);
    assert_eq!(c.amqp.exchange, "hookgate");
    assert!(c.amqp.queues.is_empty());
    let r = &c.routes[0];
    assert_eq!(r.name, "github");
    // Webhook routes default to 256 KiB, Salesforce routes to 1 MiB.
    assert_eq!(
        r.max_body_bytes,
        crate::config::DEFAULT_WEBHOOK_MAX_BODY_BYTES
    );
    assert_eq!(r.tolerance, Duration::from_secs(DEFAULT_TOLERANCE_S));
}

#[test]
fn name_defaults_to_the_kind_string() {
    let dir = TempDir::new("names");
    let s = dir.file("s", b"secret");
    let std_s = dir.file("std", b"whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=");
    let mut text = format!(
        "{HEAD}\n[[routes]]\npath = \"/sf\"\nkind = \"salesforce_om\"\norg_ids = [\"00D000000000001EAA\"]\n"
    );
    for kind in ["github", "stripe", "slack", "shopify", "generic_hmac"] {
        text.push_str(&format!(
            "\n[[routes]]\npath = \"/{kind}\"\nkind = \"{kind}\"\nsecrets = [{{ file = {s} }}]\n"
        ));
        if kind == "generic_hmac" {
            text.push_str("header = \"X-Sig\"\n");
        }
    }
    text.push_str(&format!(
        "\n[[routes]]\npath = \"/standard\"\nkind = \"standard_webhooks\"\nsecrets = [{{ file = {std_s} }}]\n"
    ));
    let c = load_ok(&text);
    let names: Vec<&str> = c.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "salesforce_om",
            "github",
            "stripe",
            "slack",
            "shopify",
            "generic_hmac",
            "standard_webhooks"
        ]
    );
    for r in &c.routes {
        assert_eq!(r.name, r.kind.as_str());
    }
}

#[test]
fn secret_from_environment_variable() {
    // Only reads the environment; PATH is set wherever cargo runs tests.
    let Some(expected) = std::env::var_os("PATH") else {
        return;
    };
    let c = load_ok(&one_route(
        "path = \"/gh\"\nkind = \"github\"\nsecrets = [{ env = \"PATH\" }]",
    ));
    assert_eq!(
        c.routes[0].secrets[0].expose(),
        expected.into_encoded_bytes().as_slice()
    );
}

// === parse errors ===

#[test]
fn unknown_key_is_a_parse_error_naming_the_key() {
    let text = HEAD.replace(
        "plaintext = true",
        "plaintext = true\nlisen = \"0.0.0.0:1\"",
    );
    let e = load(&text).unwrap_err();
    let shown = e.to_string();
    match e {
        Error::Parse { file, message } => {
            assert_eq!(file, Path::new(FILE));
            assert!(message.contains("lisen"), "{message}");
        }
        other => panic!("expected Error::Parse, got {other:?}"),
    }
    assert!(shown.starts_with("test.toml: "), "{shown}");
    assert!(shown.contains("lisen"), "{shown}");
}

#[test]
fn unknown_route_key_and_kind_are_parse_errors() {
    let dir = TempDir::new("unknown-route-key");
    let e = load(&github_route(&dir, "secret = \"inline\"")).unwrap_err();
    assert!(
        matches!(&e, Error::Parse { message, .. } if message.contains("secret")),
        "{e}"
    );
    let e = load(&one_route("path = \"/x\"\nkind = \"gitlab\"")).unwrap_err();
    assert!(
        matches!(&e, Error::Parse { message, .. } if message.contains("gitlab")),
        "{e}"
    );
}

#[test]
fn wrong_types_and_syntax_are_parse_errors() {
    for text in [
        HEAD.replace("plaintext = true", "plaintext = \"yes\""),
        HEAD.replace(
            "plaintext = true",
            "plaintext = true\nlisten = \"not an address\"",
        ),
        format!("{HEAD}\n[[routes]\n"),
        "[amqp]\nurl = \"amqp://127.0.0.1\"\n".to_string(), // no [server]
    ] {
        let e = load(&text).unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{e:?}\n{text}");
        assert!(e.to_string().starts_with("test.toml: "), "{e}");
    }
}

#[test]
fn read_error_names_the_file() {
    let dir = TempDir::new("read");
    let path = dir.0.join("absent.toml");
    let e = Config::load(&path).unwrap_err();
    assert!(matches!(e, Error::Read { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!("{}: ", path.display())),
        "{e}"
    );
}

#[test]
fn load_reads_the_file() {
    let dir = TempDir::new("load");
    let s = dir.file("gh", b"dev-github-secret");
    let text = one_route(&format!(
        "path = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}]"
    ));
    let path = dir.0.join("hookgate.toml");
    std::fs::write(&path, text).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.file, path);
    assert_eq!(c.routes[0].secrets[0].expose(), b"dev-github-secret");
}

// === secrets ===

#[test]
fn missing_env_var_secret() {
    let (key, reason, shown) = invalid(&one_route(&format!(
        "path = \"/gh\"\nkind = \"github\"\nsecrets = [{{ env = \"{UNSET_VAR}\" }}]"
    )));
    assert_eq!(key, "routes[0].secrets[0].env");
    assert!(reason.contains(UNSET_VAR), "{reason}");
    assert_eq!(
        shown,
        format!("test.toml: routes[0].secrets[0].env: environment variable {UNSET_VAR} is not set")
    );
}

#[test]
fn missing_secret_file() {
    let dir = TempDir::new("missing-secret");
    let (key, reason, shown) = invalid(&one_route(&format!(
        "path = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {} }}]",
        dir.missing("nope")
    )));
    assert_eq!(key, "routes[0].secrets[0].file");
    assert!(reason.contains("nope"), "{reason}");
    assert!(
        shown.starts_with("test.toml: routes[0].secrets[0].file: "),
        "{shown}"
    );
}

#[test]
fn second_secret_index_in_key() {
    let dir = TempDir::new("second-secret");
    let s = dir.file("gh", b"x");
    let key = invalid_key(&one_route(&format!(
        "path = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}, {{ env = \"{UNSET_VAR}\" }}]"
    )));
    assert_eq!(key, "routes[0].secrets[1].env");
}

#[test]
fn secret_needs_exactly_one_source() {
    let dir = TempDir::new("secret-sources");
    let s = dir.file("gh", b"x");
    for src in [
        format!("{{ env = \"PATH\", file = {s} }}"),
        "{}".to_string(),
    ] {
        let key = invalid_key(&one_route(&format!(
            "path = \"/gh\"\nkind = \"github\"\nsecrets = [{src}]"
        )));
        assert_eq!(key, "routes[0].secrets[0]", "{src}");
    }
}

#[test]
fn empty_secret_refused() {
    let dir = TempDir::new("empty-secret");
    for contents in [b"".as_slice(), b"\n", b"\r\n"] {
        let s = dir.file("empty", contents);
        let (key, reason, _) = invalid(&one_route(&format!(
            "path = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}]"
        )));
        assert_eq!(key, "routes[0].secrets[0]");
        assert!(reason.contains("empty"), "{reason}");
    }
}

#[test]
fn webhook_route_without_secrets_refused() {
    for kind in ["github", "stripe", "slack", "shopify", "standard_webhooks"] {
        let key = invalid_key(&one_route(&format!("path = \"/x\"\nkind = \"{kind}\"")));
        assert_eq!(key, "routes[0].secrets", "{kind}");
    }
}

#[test]
fn standard_webhooks_secret_not_base64_refused() {
    let dir = TempDir::new("std-bad");
    for bad in [
        b"whsec_***not-base64***".as_slice(),
        b"whsec_",
        b"dev-plain-secret!",
    ] {
        let s = dir.file("std", bad);
        let (key, reason, shown) = invalid(&one_route(&format!(
            "path = \"/std\"\nkind = \"standard_webhooks\"\nsecrets = [{{ file = {s} }}]"
        )));
        assert_eq!(key, "routes[0].secrets[0]");
        // The reason never quotes the secret.
        let text = std::str::from_utf8(bad).unwrap();
        assert!(!reason.contains(text), "{reason}");
        assert!(!shown.contains(text), "{shown}");
    }
}

#[test]
fn standard_webhooks_secret_prefix_is_optional() {
    let dir = TempDir::new("std-noprefix");
    let s = dir.file("std", b"ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=");
    let c = load_ok(&one_route(&format!(
        "path = \"/std\"\nkind = \"standard_webhooks\"\nsecrets = [{{ file = {s} }}]"
    )));
    assert_eq!(
        c.routes[0].secrets[0].expose(),
        b"dev-standard-webhooks-secret-key"
    );
}

// === salesforce_om ===

#[test]
fn org_ids_on_github_refused() {
    let dir = TempDir::new("gh-org");
    let (key, reason, _) = invalid(&github_route(&dir, "org_ids = [\"00D000000000001EAA\"]"));
    assert_eq!(key, "routes[0].org_ids");
    assert!(reason.contains("github"), "{reason}");
}

#[test]
fn forward_session_id_on_github_refused() {
    let dir = TempDir::new("gh-fwd");
    let key = invalid_key(&github_route(&dir, "forward_session_id = true"));
    assert_eq!(key, "routes[0].forward_session_id");
}

#[test]
fn secrets_on_salesforce_om_refused() {
    let dir = TempDir::new("sf-secrets");
    let s = dir.file("s", b"x");
    let key = invalid_key(&sf_route(
        "[\"00D000000000001EAA\"]",
        &format!("secrets = [{{ file = {s} }}]"),
    ));
    assert_eq!(key, "routes[0].secrets");
}

#[test]
fn salesforce_om_without_org_ids_refused() {
    let key = invalid_key(&one_route("path = \"/sf\"\nkind = \"salesforce_om\""));
    assert_eq!(key, "routes[0].org_ids");
    let key = invalid_key(&sf_route("[]", ""));
    assert_eq!(key, "routes[0].org_ids");
}

#[test]
fn org_ids_normalised_to_18() {
    let c = load_ok(&sf_route(
        "[\"00D000000000001\", \"00D000000000001EAA\", \"00d000000000001eaa\"]",
        "",
    ));
    assert_eq!(
        c.routes[0].org_ids,
        [
            "00D000000000001EAA",
            "00D000000000001EAA",
            "00D000000000001EAA"
        ]
    );
}

#[test]
fn bad_org_ids_refused_with_index() {
    for bad in [
        "001Hs0000010wBUIAY", // an Account id
        "001Hs0000010wBU",    // 15-char Account id
        "00D000000000001EAB", // bad checksum
        "00D00000000001",     // 14 characters
        "00D0000000000-1",    // not alphanumeric
        "",
    ] {
        let (key, reason, shown) = invalid(&sf_route(&format!("[\"{bad}\"]"), ""));
        assert_eq!(key, "routes[0].org_ids[0]", "{bad:?}");
        assert!(reason.contains("00D"), "{reason}");
        assert!(
            shown.starts_with("test.toml: routes[0].org_ids[0]: "),
            "{shown}"
        );
    }
    let key = invalid_key(&sf_route(
        "[\"00D000000000001\", \"00D000000000001EAB\"]",
        "",
    ));
    assert_eq!(key, "routes[0].org_ids[1]");
}

#[test]
fn lowercase_prefix_15_char_org_id_refused() {
    // 15-character ids are case-sensitive: `00d000000000001` is not the org
    // `00D000000000001`, and `00d` is not the Organization key prefix.
    let (key, _, _) = invalid(&sf_route("[\"00d000000000001\"]", ""));
    assert_eq!(key, "routes[0].org_ids[0]");
    // The same id in 18-character form (checksum AAA: every letter lowercase).
    let (key, _, _) = invalid(&sf_route("[\"00d000000000001AAA\"]", ""));
    assert_eq!(key, "routes[0].org_ids[0]");
}

// === route identity ===

#[test]
fn duplicate_path_refused() {
    let dir = TempDir::new("dup-path");
    let s = dir.file("s", b"x");
    let text = format!(
        "{HEAD}
[[routes]]
path = \"/hooks\"
kind = \"github\"
secrets = [{{ file = {s} }}]

[[routes]]
path = \"/hooks\"
kind = \"shopify\"
secrets = [{{ file = {s} }}]
"
    );
    let (key, reason, _) = invalid(&text);
    assert_eq!(key, "routes[1].path");
    assert!(reason.contains("/hooks"), "{reason}");
}

#[test]
fn duplicate_name_refused() {
    let dir = TempDir::new("dup-name");
    let s = dir.file("s", b"x");
    // Two github routes without a name both default to `github`.
    let text = format!(
        "{HEAD}
[[routes]]
path = \"/a\"
kind = \"github\"
secrets = [{{ file = {s} }}]

[[routes]]
path = \"/b\"
kind = \"github\"
secrets = [{{ file = {s} }}]
"
    );
    let (key, reason, _) = invalid(&text);
    assert_eq!(key, "routes[1].name");
    assert!(reason.contains("github"), "{reason}");

    // An explicit name that collides with another route's default.
    let text = format!(
        "{HEAD}
[[routes]]
path = \"/a\"
kind = \"github\"
secrets = [{{ file = {s} }}]

[[routes]]
name = \"github\"
path = \"/b\"
kind = \"shopify\"
secrets = [{{ file = {s} }}]
"
    );
    assert_eq!(invalid_key(&text), "routes[1].name");
}

#[test]
fn bad_names_and_paths_refused() {
    let dir = TempDir::new("names-paths");
    for name in ["", "has space", "dots.not.allowed", &"n".repeat(65)] {
        let key = invalid_key(&github_route(&dir, &format!("name = \"{name}\"")));
        assert_eq!(key, "routes[0].name", "{name:?}");
    }
    let c = load_ok(&github_route(
        &dir,
        &format!("name = \"{}\"", "n".repeat(64)),
    ));
    assert_eq!(c.routes[0].name.len(), 64);
    for path in ["hooks/github", "/hooks?x=1", "/hooks#frag", "/a b"] {
        let text = github_route(&dir, "").replace("\"/hooks/github\"", &format!("\"{path}\""));
        assert_eq!(invalid_key(&text), "routes[0].path", "{path:?}");
    }
}

#[test]
fn no_routes_refused() {
    assert_eq!(invalid_key(HEAD), "routes");
}

#[test]
fn zero_body_caps_refused() {
    let dir = TempDir::new("zero-caps");
    assert_eq!(
        invalid_key(&github_route(&dir, "max_body_bytes = 0")),
        "routes[0].max_body_bytes"
    );
    let text =
        github_route(&dir, "").replace("plaintext = true", "plaintext = true\nmax_body_bytes = 0");
    assert_eq!(invalid_key(&text), "server.max_body_bytes");
}

// === tolerance_s ===

#[test]
fn tolerance_on_kinds_without_timestamp_refused() {
    let dir = TempDir::new("tolerance");
    let (key, reason, _) = invalid(&github_route(&dir, "tolerance_s = 60"));
    assert_eq!(key, "routes[0].tolerance_s");
    assert!(reason.contains("github"), "{reason}");
    let s = dir.file("s", b"x");
    let key = invalid_key(&one_route(&format!(
        "path = \"/s\"\nkind = \"shopify\"\nsecrets = [{{ file = {s} }}]\ntolerance_s = 60"
    )));
    assert_eq!(key, "routes[0].tolerance_s");
    // generic_hmac without a timestamp header signs no timestamp either.
    let key = invalid_key(&one_route(&format!(
        "path = \"/g\"\nkind = \"generic_hmac\"\nsecrets = [{{ file = {s} }}]\nheader = \"X-Sig\"\ntolerance_s = 60"
    )));
    assert_eq!(key, "routes[0].tolerance_s");
}

#[test]
fn zero_tolerance_refused() {
    let dir = TempDir::new("tolerance-zero");
    let s = dir.file("s", b"x");
    let key = invalid_key(&one_route(&format!(
        "path = \"/s\"\nkind = \"stripe\"\nsecrets = [{{ file = {s} }}]\ntolerance_s = 0"
    )));
    assert_eq!(key, "routes[0].tolerance_s");
}

// === generic_hmac ===

fn generic_route(dir: &TempDir, extra: &str) -> String {
    let s = dir.file("g", b"dev-generic-secret");
    one_route(&format!(
        "path = \"/g\"\nkind = \"generic_hmac\"\nsecrets = [{{ file = {s} }}]\n{extra}"
    ))
}

#[test]
fn generic_without_header_refused() {
    let dir = TempDir::new("generic-noheader");
    let (key, reason, _) = invalid(&generic_route(&dir, ""));
    assert_eq!(key, "routes[0].header");
    assert!(reason.contains("required"), "{reason}");
}

#[test]
fn generic_timestamp_placeholder_needs_timestamp_header() {
    let dir = TempDir::new("generic-ts");
    let key = invalid_key(&generic_route(
        &dir,
        "header = \"X-Sig\"\nsigned_payload = \"{timestamp}.{body}\"",
    ));
    assert_eq!(key, "routes[0].timestamp_header");
}

/// A timestamp header the signature does not cover decides freshness on
/// its own: once the replay TTL has passed, a captured request with a fresh
/// header would verify again. The route must sign `{timestamp}`.
#[test]
fn generic_timestamp_header_outside_the_signed_payload_refused() {
    let dir = TempDir::new("generic-unsigned-ts");
    for extra in [
        "header = \"X-Sig\"\ntimestamp_header = \"X-Ts\"",
        "header = \"X-Sig\"\nsigned_payload = \"{body}\"\ntimestamp_header = \"X-Ts\"",
        "header = \"X-Sig\"\nsigned_payload = \"{id}.{body}\"\nid_header = \"X-Id\"\ntimestamp_header = \"X-Ts\"",
    ] {
        let (key, reason, shown) = invalid(&generic_route(&dir, extra));
        assert_eq!(key, "routes[0].signed_payload", "{extra}");
        assert!(reason.contains("{timestamp}"), "{reason}");
        assert!(shown.starts_with(&format!("{FILE}: routes[0].signed_payload: ")));
    }
    // Signed: accepted.
    load_ok(&generic_route(
        &dir,
        "header = \"X-Sig\"\nsigned_payload = \"{timestamp}.{body}\"\ntimestamp_header = \"X-Ts\"",
    ));
}

#[test]
fn generic_description_errors_name_their_key() {
    let dir = TempDir::new("generic-keys");
    for (extra, expected) in [
        (
            "header = \"X-Sig\"\nsigned_payload = \"{id}.{body}\"",
            "routes[0].id_header",
        ),
        (
            "header = \"X-Sig\"\nsigned_payload = \"{timestamp}\"\ntimestamp_header = \"X-Ts\"",
            "routes[0].signed_payload",
        ),
        (
            "header = \"X-Sig\"\nsigned_payload = \"{nope}{body}\"",
            "routes[0].signed_payload",
        ),
        ("header = \"bad header\"", "routes[0].header"),
        (
            "header = \"X-Sig\"\nevent_header = \"bad header\"",
            "routes[0].event_header",
        ),
    ] {
        assert_eq!(
            invalid_key(&generic_route(&dir, extra)),
            expected,
            "{extra}"
        );
    }
    let e = load(&generic_route(
        &dir,
        "header = \"X-Sig\"\nalgorithm = \"md5\"",
    ))
    .unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
}

#[test]
fn generic_keys_on_other_kinds_refused() {
    let dir = TempDir::new("generic-foreign");
    for (extra, key) in [
        ("header = \"X-Sig\"", "routes[0].header"),
        ("algorithm = \"sha1\"", "routes[0].algorithm"),
        ("encoding = \"hex\"", "routes[0].encoding"),
        ("prefix = \"sha256=\"", "routes[0].prefix"),
        ("signed_payload = \"{body}\"", "routes[0].signed_payload"),
        ("timestamp_header = \"X-Ts\"", "routes[0].timestamp_header"),
        ("id_header = \"X-Id\"", "routes[0].id_header"),
        ("event_header = \"X-Ev\"", "routes[0].event_header"),
    ] {
        assert_eq!(invalid_key(&github_route(&dir, extra)), key, "{extra}");
    }
}

#[test]
fn generic_minimal_route_accepted() {
    let dir = TempDir::new("generic-min");
    let c = load_ok(&generic_route(&dir, "header = \"X-Sig\""));
    assert_eq!(c.routes[0].name, "generic_hmac");
    assert!(c.routes[0].generic.is_some());
}

// === [server] and [server.tls] ===

const AMQP: &str = "[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n";

fn with_server(dir: &TempDir, server: &str) -> String {
    let s = dir.file("gh", b"x");
    format!(
        "[server]\n{server}\n\n{AMQP}\n[[routes]]\npath = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}]\n"
    )
}

#[test]
fn server_needs_tls_or_plaintext() {
    let dir = TempDir::new("server-none");
    let (key, _, shown) = invalid(&with_server(&dir, ""));
    assert_eq!(key, "server.tls");
    assert!(shown.starts_with("test.toml: server.tls: "), "{shown}");
    let key = invalid_key(&with_server(&dir, "plaintext = false"));
    assert_eq!(key, "server.tls");
}

#[test]
fn server_tls_and_plaintext_exclusive() {
    let dir = TempDir::new("server-both");
    let key = invalid_key(&with_server(
        &dir,
        "plaintext = true\n[server.tls]\nself_signed = true",
    ));
    assert_eq!(key, "server.plaintext");
}

#[test]
fn tls_cert_that_does_not_exist() {
    let dir = TempDir::new("tls-missing");
    let key_file = dir.file("server.key", b"key");
    let (key, reason, _) = invalid(&with_server(
        &dir,
        &format!(
            "[server.tls]\ncert = {}\nkey = {key_file}",
            dir.missing("server.pem")
        ),
    ));
    assert_eq!(key, "server.tls.cert");
    assert!(reason.contains("server.pem"), "{reason}");
}

#[test]
fn tls_key_that_does_not_exist_or_is_absent() {
    let dir = TempDir::new("tls-key");
    let cert = dir.file("server.pem", b"cert");
    let key = invalid_key(&with_server(
        &dir,
        &format!(
            "[server.tls]\ncert = {cert}\nkey = {}",
            dir.missing("server.key")
        ),
    ));
    assert_eq!(key, "server.tls.key");
    let key = invalid_key(&with_server(&dir, &format!("[server.tls]\ncert = {cert}")));
    assert_eq!(key, "server.tls.key");
    let key = invalid_key(&with_server(&dir, "[server.tls]\n"));
    assert_eq!(key, "server.tls.cert");
}

#[test]
fn tls_files_present_accepted() {
    // Only existence is checked at load; the PEM is read by `tls`.
    let dir = TempDir::new("tls-ok");
    let cert = dir.file("server.pem", b"cert");
    let key = dir.file("server.key", b"key");
    let c = load_ok(&with_server(
        &dir,
        &format!("[server.tls]\ncert = {cert}\nkey = {key}"),
    ));
    let tls = c.server.tls.unwrap();
    assert!(tls.cert.unwrap().ends_with("server.pem"));
    assert!(!tls.self_signed);
}

#[test]
fn tls_self_signed() {
    let dir = TempDir::new("tls-self");
    let c = load_ok(&with_server(&dir, "[server.tls]\nself_signed = true"));
    assert!(c.server.tls.unwrap().self_signed);
    let cert = dir.file("server.pem", b"cert");
    let key = invalid_key(&with_server(
        &dir,
        &format!("[server.tls]\nself_signed = true\ncert = {cert}"),
    ));
    assert_eq!(key, "server.tls.self_signed");
}

/// `[server.tls]` with a client CA and one github route whose `client_cert`
/// lists `subjects` (TOML array text).
fn mtls_route(dir: &TempDir, subjects: &str) -> String {
    let s = dir.file("gh", b"x");
    let ca = dir.file("ca.pem", b"ca");
    format!(
        "[server]\n[server.tls]\nself_signed = true\nclient_ca = {ca}\n\n{AMQP}\n[[routes]]\npath = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}]\nclient_cert = {{ subjects = {subjects} }}\n"
    )
}

#[test]
fn client_cert_subjects_are_parsed_as_rfc_4514() {
    let dir = TempDir::new("mtls-subjects");
    let c = load_ok(&mtls_route(
        &dir,
        r#"['CN=proxy.salesforce.com,O=salesforce.com\, inc.,L=San Francisco,ST=California,C=US', "CN=sf-client-a"]"#,
    ));
    let rule = c.routes[0].client_cert.as_ref().unwrap();
    assert_eq!(rule.subjects.len(), 2);
    assert_eq!(rule.subjects[1].common_name_only(), Some("sf-client-a"));
    for (subjects, key) in [
        (
            r#"["CN=a", "O=salesforce.com, inc."]"#,
            "routes[0].client_cert.subjects[1]",
        ),
        (r#"["XX=a"]"#, "routes[0].client_cert.subjects[0]"),
        (r#"["CN=a;O=b"]"#, "routes[0].client_cert.subjects[0]"),
        (r#"[""]"#, "routes[0].client_cert.subjects[0]"),
    ] {
        let (k, reason, shown) = invalid(&mtls_route(&dir, subjects));
        assert_eq!(k, key, "{subjects}");
        assert!(reason.contains("RFC 4514"), "{reason}");
        assert!(shown.starts_with(&format!("{FILE}: {key}: ")), "{shown}");
    }
}

#[test]
fn zero_server_values_refused() {
    let dir = TempDir::new("server-zero");
    for k in [
        "header_read_timeout_ms",
        "request_timeout_ms",
        "max_concurrent_requests",
    ] {
        let key = invalid_key(&with_server(&dir, &format!("plaintext = true\n{k} = 0")));
        assert_eq!(key, format!("server.{k}"));
    }
}

// === [amqp] ===

fn with_amqp(dir: &TempDir, amqp: &str) -> String {
    let s = dir.file("gh", b"x");
    format!(
        "[server]\nplaintext = true\n\n[amqp]\n{amqp}\n\n[[routes]]\npath = \"/gh\"\nkind = \"github\"\nsecrets = [{{ file = {s} }}]\n"
    )
}

#[test]
fn amqp_url_invalid_without_quoting_it() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        // The override replaces the file's value: nothing to check here.
        return;
    }
    let dir = TempDir::new("amqp-url");
    let (key, _, shown) = invalid(&with_amqp(&dir, "url = \"http://user:hunter2@host/\""));
    assert_eq!(key, "amqp.url");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// amq-protocol-uri's own messages can hold the whole URL (`Invalid URL:
/// '<url>'`), password included: the error names the key and never the
/// password.
#[test]
fn amqp_url_errors_never_show_the_password() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("amqp-url-redact");
    for url in [
        "amqp://user:s3cret@host:notaport/%2f",
        "amqp:user:s3cret@host:5672/%2f",
        "amqp://user:s3cret@host/%2f?heartbeat=soon",
        "amqps://user:s3cret@[::1/%2f",
        "amqp://user:s3cret%ff@host/%2f",
        "ftp://user:s3cret@host/%2f",
    ] {
        let (key, reason, shown) = invalid(&with_amqp(&dir, &format!("url = \"{url}\"")));
        assert_eq!(key, "amqp.url", "{url}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!reason.is_empty());
    }
}

/// `Debug` of the loaded config (used in logs and panics) shows where the
/// broker and Redis are, never their passwords.
#[test]
fn config_debug_redacts_url_passwords() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("debug-urls");
    let text = with_amqp(
        &dir,
        "url = \"amqp://hookgate:s3cret-amqp@broker.internal:5672/%2f\"",
    )
        + "\n[dedupe]\nredis_url = \"redis://default:s3cret-redis@cache.internal:6379/0\"\n";
    let c = load_ok(&text);
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("broker.internal"), "{shown}");
    assert!(shown.contains("cache.internal"), "{shown}");
    // The value itself is untouched: it is what connects.
    assert!(c.amqp.url.contains("s3cret-amqp"));
    assert_eq!(
        c.dedupe.redis_url.as_deref(),
        Some("redis://default:s3cret-redis@cache.internal:6379/0")
    );
}

#[test]
fn amqp_values_checked() {
    let dir = TempDir::new("amqp-values");
    let url = "url = \"amqp://127.0.0.1:5672/%2f\"";
    for (extra, expected) in [
        ("exchange = \"\"", "amqp.exchange"),
        ("confirm_timeout_ms = 0", "amqp.confirm_timeout_ms"),
        ("channels = 0", "amqp.channels"),
        ("[[amqp.queues]]\nname = \"\"", "amqp.queues[0].name"),
        (
            "[[amqp.queues]]\nname = \"amq.reserved\"",
            "amqp.queues[0].name",
        ),
        (
            "[[amqp.queues]]\nname = \"q\"\n[[amqp.queues]]\nname = \"q\"",
            "amqp.queues[1].name",
        ),
    ] {
        let key = invalid_key(&with_amqp(&dir, &format!("{url}\n{extra}")));
        assert_eq!(key, expected, "{extra}");
    }
    let e = load(&with_amqp(
        &dir,
        &format!("{url}\n[[amqp.queues]]\nname = \"q\"\ntype = \"stream\""),
    ))
    .unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
}

// === [spool] ===

#[test]
fn spool_values_checked() {
    let dir = TempDir::new("spool-values");
    let route = github_route(&dir, "");
    for k in ["after_ms", "max_bytes", "max_messages", "quarantine_after"] {
        let key = invalid_key(&format!("{route}\n[spool]\n{k} = 0\n"));
        assert_eq!(key, format!("spool.{k}"));
    }
    let key = invalid_key(&format!("{route}\n[spool]\nmax_bytes = 1048576\n"));
    assert_eq!(key, "spool.max_bytes", "below a new redb file's size");
    assert_eq!(load_ok(&route).spool.quarantine_after, 5);
    let c = load_ok(&format!("{route}\n[spool]\nquarantine_after = 2\n"));
    assert_eq!(c.spool.quarantine_after, 2);
}

#[test]
fn dedupe_max_bytes_checked() {
    let dir = TempDir::new("dedupe-max-bytes");
    let route = github_route(&dir, "");
    assert_eq!(load_ok(&route).dedupe.max_bytes, 256 << 20);
    let key = invalid_key(&format!("{route}\n[dedupe]\nmax_bytes = 1048576\n"));
    assert_eq!(key, "dedupe.max_bytes");
    let c = load_ok(&format!("{route}\n[dedupe]\nmax_bytes = 8388608\n"));
    assert_eq!(c.dedupe.max_bytes, 8 << 20);
}

// === Display ===

#[test]
fn every_error_display_starts_with_the_file() {
    let dir = TempDir::new("display");
    let file = Path::new("conf/hookgate.toml");
    let cases = [
        HEAD.replace("plaintext = true", "lisen = 1"),
        HEAD.to_string(),
        github_route(&dir, "tolerance_s = 1"),
        sf_route("[\"bad\"]", ""),
    ];
    for text in cases {
        let e = Config::from_toml(file, &text).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("conf/hookgate.toml: "), "{shown}");
        if let Error::Invalid { key, .. } = &e {
            assert!(shown.contains(key.as_str()), "{shown}");
        }
    }
}

// === rate_limit ===

#[test]
fn rate_limit_is_validated_and_kept() {
    let dir = TempDir::new("rate-limit");
    let c = load_ok(&github_route(
        &dir,
        "rate_limit = { per_second = 5, burst = 20, per_client = true }",
    ));
    let r = c.routes[0].rate_limit.expect("a rate limit");
    assert_eq!(
        (r.per_second.get(), r.burst.get(), r.per_client),
        (5, 20, true)
    );
    let c = load_ok(&github_route(
        &dir,
        "rate_limit = { per_second = 1, burst = 1 }",
    ));
    assert!(!c.routes[0].rate_limit.expect("a rate limit").per_client);
    assert!(load_ok(&github_route(&dir, "")).routes[0]
        .rate_limit
        .is_none());
    let c = load_ok(&sf_route(
        "[\"00D000000000001\"]",
        "rate_limit = { per_second = 2, burst = 4 }",
    ));
    assert!(c.routes[0].rate_limit.is_some(), "Salesforce routes too");

    let (key, reason, shown) = invalid(&github_route(
        &dir,
        "rate_limit = { per_second = 0, burst = 3 }",
    ));
    assert_eq!(key, "routes[0].rate_limit.per_second");
    assert_eq!(reason, "must be greater than 0");
    assert!(shown.starts_with(FILE), "{shown}");
    assert_eq!(
        invalid_key(&github_route(
            &dir,
            "rate_limit = { per_second = 3, burst = 0 }"
        )),
        "routes[0].rate_limit.burst"
    );
    for bad in [
        "rate_limit = { per_second = -1, burst = 3 }",
        "rate_limit = { per_second = 1 }",
        "rate_limit = { per_second = 1, burst = 1, per_ip = true }",
    ] {
        match load(&github_route(&dir, bad)) {
            Err(Error::Parse { file, message }) => {
                assert_eq!(file, Path::new(FILE));
                assert!(
                    message.contains("rate_limit") || message.contains("per_"),
                    "{message}"
                );
            }
            other => panic!("{bad}: expected a parse error, got {other:?}"),
        }
    }
}
