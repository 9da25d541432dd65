//! A whole valid file, defaults, and errors of reading and parsing.

use super::*;

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
    let ok = v
        .verify(crate::verify::Head::post(&h), body.clone(), now)
        .unwrap();
    assert_eq!(ok.id(), "req-1");
    assert_eq!(ok.event(), Some("order.shipped"));
    assert_eq!(ok.secret_slot(), 0);
    // Tolerance 300 s (default) applies.
    assert_eq!(
        v.verify(crate::verify::Head::post(&h), body, now + 301),
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
    let e = load(&one_route("path = \"/x\"\nkind = \"myspace\"")).unwrap_err();
    assert!(
        matches!(&e, Error::Parse { message, .. } if message.contains("myspace")),
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
