//! Tests for the worker's config: what its errors and `Debug` show.

use crate::salesforce::rest::Auth;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::config::AMQP_URL_ENV;

const FILE: &str = "worker.toml";

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hookgate-worker-config-tests-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `contents` to `name`; returns the path for TOML.
    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A worker file with `amqp_url`, Redis idempotency at `redis_url`, and the
/// `[salesforce]` auth lines `auth`.
fn text(amqp_url: &str, redis_url: &str, auth: &str) -> String {
    format!(
        r#"
[amqp]
url = "{amqp_url}"

[worker]
queues = ["work"]

[worker.idempotency]
store = "redis"
redis_url = "{redis_url}"

[[worker.actions]]
match = "salesforce.#"
kind = "salesforce_update"
fields = {{ Synced__c = "true" }}

[salesforce]
login_url = "https://login.example.test"
instance_url = "https://org.example.test"
{auth}
"#
    )
}

fn load(text: &str) -> Result<WorkerConfig, Error> {
    WorkerConfig::from_toml(Path::new(FILE), text)
}

#[test]
fn debug_shows_no_password_secret_or_key() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("debug");
    let ck = dir.file("ck", b"consumer-key-1");
    let cs = dir.file("cs", b"s3cret-client\n");
    let c = load(&text(
        "amqp://worker:s3cret-amqp@broker.internal:5672/%2f",
        "redis://default:s3cret-redis@cache.internal:6379/0",
        &format!(
            "auth = \"client_credentials\"\nconsumer_key = {{ file = \"{ck}\" }}\nclient_secret = {{ file = \"{cs}\" }}"
        ),
    ))
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("broker.internal"), "{shown}");
    assert!(shown.contains("cache.internal"), "{shown}");

    let pem_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/salesforce/jwt/test-rsa.key"
    );
    let pem = std::fs::read_to_string(pem_path).unwrap();
    let c = load(&text(
        "amqp://127.0.0.1:5672/%2f",
        "redis://127.0.0.1:6379",
        &format!(
            "auth = \"jwt_bearer\"\nconsumer_key = {{ file = \"{ck}\" }}\nusername = \"u@example.test\"\nprivate_key = {{ file = \"{pem_path}\" }}"
        ),
    ))
    .unwrap();
    let shown = format!("{c:?}");
    let key_line = pem.lines().nth(1).unwrap();
    assert!(!shown.contains(key_line), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

#[test]
fn bad_amqp_url_is_named_without_its_password() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("amqp");
    let ck = dir.file("ck", b"consumer-key-1");
    let cs = dir.file("cs", b"x");
    for url in [
        "amqp://user:s3cret@host:notaport/%2f",
        "amqp:user:s3cret@host:5672/%2f",
    ] {
        let e = load(&text(
            url,
            "redis://127.0.0.1:6379",
            &format!(
                "auth = \"client_credentials\"\nconsumer_key = {{ file = \"{ck}\" }}\nclient_secret = {{ file = \"{cs}\" }}"
            ),
        ))
        .unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("worker.toml: amqp.url: "), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

/// The JWT `aud` follows `login_url` unless `audience` is set.
#[test]
fn jwt_audience_defaults_from_login_url_and_can_be_overridden() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("aud");
    let ck = dir.file("ck", b"consumer-key-1");
    let pem_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/salesforce/jwt/test-rsa.key"
    );
    let auth = |extra: &str| {
        format!(
            "auth = \"jwt_bearer\"\nconsumer_key = {{ file = \"{ck}\" }}\nusername = \"u@example.test\"\nprivate_key = {{ file = \"{pem_path}\" }}\n{extra}"
        )
    };
    let base = text(
        "amqp://127.0.0.1:5672/%2f",
        "redis://127.0.0.1:6379",
        &auth(""),
    );
    let cases = [
        ("https://login.example.test", "https://login.example.test"),
        (
            "https://login.salesforce.com",
            "https://login.salesforce.com",
        ),
        (
            "https://acme.my.salesforce.com",
            "https://login.salesforce.com",
        ),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        (
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://test.salesforce.com",
        ),
    ];
    for (login_url, aud) in cases {
        let t = base.replace("https://login.example.test", login_url);
        match load(&t).unwrap().orgs.remove(0).auth {
            Auth::JwtBearer { audience, .. } => assert_eq!(audience, aud, "{login_url}"),
            other => panic!("{other:?}"),
        }
    }
    let t = text(
        "amqp://127.0.0.1:5672/%2f",
        "redis://127.0.0.1:6379",
        &auth("audience = \"https://acme.my.site.com/partners\""),
    );
    match load(&t).unwrap().orgs.remove(0).auth {
        Auth::JwtBearer { audience, .. } => {
            assert_eq!(audience, "https://acme.my.site.com/partners")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pause_retry_bounds_are_checked() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("pause");
    let ck = dir.file("ck", b"consumer-key-1");
    let cs = dir.file("cs", b"x");
    let auth = format!(
        "auth = \"client_credentials\"\nconsumer_key = {{ file = \"{ck}\" }}\nclient_secret = {{ file = \"{cs}\" }}"
    );
    let base = text("amqp://127.0.0.1:5672/%2f", "redis://127.0.0.1:6379", &auth);
    let c = load(&base).unwrap();
    assert_eq!(
        c.pause_retry(),
        (Duration::from_millis(1000), Duration::from_secs(300))
    );
    for keys in [
        "pause_retry_min_ms = 0",
        "pause_retry_min_ms = 5000\npause_retry_max_s = 2",
    ] {
        let t = base.replace(
            "queues = [\"work\"]",
            &format!("queues = [\"work\"]\n{keys}"),
        );
        let e = load(&t).unwrap_err().to_string();
        assert!(e.contains("worker.pause_retry_min_ms"), "{e}");
    }
}

#[test]
fn idempotency_max_bytes_is_checked_for_the_embedded_store() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("idem-budget");
    let ck = dir.file("ck", b"consumer-key-1");
    let cs = dir.file("cs", b"x");
    let auth = format!(
        "auth = \"client_credentials\"\nconsumer_key = {{ file = \"{ck}\" }}\nclient_secret = {{ file = \"{cs}\" }}"
    );
    let redis = text("amqp://127.0.0.1:5672/%2f", "redis://127.0.0.1:6379", &auth);
    let embedded = redis.replace(
        "store = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"",
        "store = \"embedded\"",
    );
    assert_ne!(embedded, redis);
    let c = load(&embedded).unwrap();
    assert_eq!(c.worker.idempotency.max_bytes, 4 << 30, "default");
    let with = |t: &str, max: &str| {
        t.replace(
            "[worker.idempotency]",
            &format!("[worker.idempotency]\nmax_bytes = {max}"),
        )
    };
    let e = load(&with(&embedded, "1048576")).unwrap_err().to_string();
    assert!(e.contains("worker.idempotency.max_bytes"), "{e}");
    let c = load(&with(&embedded, "8388608")).unwrap();
    assert_eq!(c.worker.idempotency.max_bytes, 8 << 20);
    // Redis has its own budget: the file's is not checked.
    assert!(load(&with(&redis, "1048576")).is_ok());
}

#[test]
fn telemetry_is_read_and_checked_by_the_worker_too() {
    if std::env::var_os(AMQP_URL_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("telemetry");
    let ck = dir.file("ck", b"consumer-key-1");
    let cs = dir.file("cs", b"x");
    let auth = format!(
        "auth = \"client_credentials\"\nconsumer_key = {{ file = \"{ck}\" }}\nclient_secret = {{ file = \"{cs}\" }}"
    );
    let base = text("amqp://127.0.0.1:5672/%2f", "redis://127.0.0.1:6379", &auth);
    let c = load(&base).unwrap();
    let s = c.telemetry.settings(crate::config::DEFAULT_WORKER_SERVICE);
    assert_eq!(s.service_name, "hookgate-worker");
    assert!(s.otlp_endpoint.is_none());
    let t = format!("{base}\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n");
    let c = load(&t).unwrap();
    assert_eq!(
        c.telemetry.otlp_endpoint.as_deref(),
        Some("http://127.0.0.1:4318")
    );
    let t = format!("{base}\n[telemetry]\nsample_ratio = 2\n");
    let e = load(&t).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{FILE}: telemetry.sample_ratio")),
        "{e}"
    );
}
