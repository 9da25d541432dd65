//! `[amqp]`.

use super::*;

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

/// `urls` lists a cluster's nodes; each is checked like `url`, the error
/// names its index and never its password; exactly one of `url` and `urls`.
#[test]
fn amqp_urls_checked_by_index() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("amqp-urls");
    let ok = load_ok(&with_amqp(
        &dir,
        "urls = [\"amqp://a:5672/%2f\", \"amqp://u:pw@b:5673/%2f\"]",
    ));
    assert_eq!(
        ok.amqp.nodes(),
        ["amqp://a:5672/%2f", "amqp://u:pw@b:5673/%2f"]
    );
    let one = load_ok(&with_amqp(&dir, "url = \"amqp://a:5672/%2f\""));
    assert_eq!(one.amqp.nodes(), ["amqp://a:5672/%2f"]);
    let (key, _, shown) = invalid(&with_amqp(
        &dir,
        "urls = [\"amqp://a:5672/%2f\", \"amqp://u:s3cret@b:notaport/%2f\"]",
    ));
    assert_eq!(key, "amqp.urls[1]");
    assert!(!shown.contains("s3cret"), "{shown}");
    let shown = format!("{ok:?}");
    assert!(!shown.contains(":pw@"), "{shown}");
    assert!(shown.contains("b:5673"), "{shown}");
    for (amqp, expected) in [
        (
            "url = \"amqp://a/%2f\"\nurls = [\"amqp://b/%2f\"]",
            "amqp.urls",
        ),
        ("urls = []", "amqp.url"),
        ("exchange = \"x\"", "amqp.url"),
    ] {
        assert_eq!(invalid_key(&with_amqp(&dir, amqp)), expected, "{amqp}");
    }
}

/// `cloudevents`: `binary` by default (today's messages), `off`; any other
/// value is a parse error naming the file, the key and its line.
#[test]
fn amqp_cloudevents_binary_by_default_or_off() {
    let dir = TempDir::new("amqp-cloudevents");
    let url = "url = \"amqp://127.0.0.1:5672/%2f\"";
    let c = load_ok(&with_amqp(&dir, url));
    assert_eq!(c.amqp.cloudevents, CloudEvents::Binary);
    for (value, want) in [("binary", CloudEvents::Binary), ("off", CloudEvents::Off)] {
        let c = load_ok(&with_amqp(
            &dir,
            &format!("{url}\ncloudevents = \"{value}\""),
        ));
        assert_eq!(c.amqp.cloudevents, want, "{value}");
    }
    for bad in ["\"structured\"", "\"Binary\"", "false"] {
        let e = load(&with_amqp(&dir, &format!("{url}\ncloudevents = {bad}"))).unwrap_err();
        let shown = e.to_string();
        match e {
            Error::Parse { file, message } => {
                assert_eq!(file, Path::new(FILE));
                assert!(message.contains("amqp.cloudevents"), "{message}");
            }
            other => panic!("{bad}: expected a parse error, got {other:?}"),
        }
        assert!(shown.starts_with("test.toml: "), "{shown}");
    }
}
