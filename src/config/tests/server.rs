//! `[server]` and `[server.tls]`, with mutual TLS routes.

use super::*;

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

#[test]
fn reuse_port_defaults_off_and_is_refused_where_unsupported() {
    let dir = TempDir::new("reuse-port");
    let c = load_ok(&with_server(&dir, "[server.tls]\nself_signed = true"));
    assert!(!c.server.reuse_port, "off unless asked for");
    let text = with_server(&dir, "reuse_port = true\n[server.tls]\nself_signed = true");
    if REUSE_PORT_SUPPORTED {
        assert!(load_ok(&text).server.reuse_port);
    } else {
        let (key, reason, shown) = invalid(&text);
        assert_eq!(key, "server.reuse_port");
        assert!(reason.contains("SO_REUSEPORT"), "{reason}");
        assert!(
            shown.starts_with("test.toml: server.reuse_port: "),
            "{shown}"
        );
    }
}
