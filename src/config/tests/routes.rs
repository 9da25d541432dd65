//! `[[routes]]`: secrets, Salesforce keys, identity, tolerance, rate limits.

use super::*;

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
fn parse_limits_on_github_refused() {
    let dir = TempDir::new("gh-limits");
    let key = invalid_key(&github_route(
        &dir,
        "parse_limits = { max_notifications = 5 }",
    ));
    assert_eq!(key, "routes[0].parse_limits");
}

#[test]
fn parse_limits_are_validated_and_kept() {
    let org = "[\"00D000000000001EAA\"]";
    let c = load_ok(&sf_route(org, ""));
    let d = crate::salesforce::om::Limits::default();
    assert_eq!(
        (d.max_notifications, d.max_elements, d.max_text_bytes),
        (100, 32_768, 524_288)
    );
    let l = c.routes[0].parse_limits;
    assert_eq!(
        (l.max_notifications, l.max_elements, l.max_text_bytes),
        (100, 32_768, 524_288)
    );
    let c = load_ok(&sf_route(
        org,
        "parse_limits = { max_notifications = 10, max_elements = 100000, max_text_bytes = 2048 }",
    ));
    let l = c.routes[0].parse_limits;
    assert_eq!(
        (l.max_notifications, l.max_elements, l.max_text_bytes),
        (10, 100_000, 2_048)
    );
    for (value, key) in [
        ("max_notifications = 0", "max_notifications"),
        ("max_notifications = 1001", "max_notifications"),
        ("max_elements = 3", "max_elements"),
        ("max_text_bytes = 10", "max_text_bytes"),
    ] {
        let (k, reason, _) = invalid(&sf_route(org, &format!("parse_limits = {{ {value} }}")));
        assert_eq!(k, format!("routes[0].parse_limits.{key}"));
        assert!(reason.contains("between"), "{reason}");
    }
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
