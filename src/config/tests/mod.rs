//! Tests for loading and validating the TOML configuration. Secrets come from
//! files written into a per-test temporary directory; no test sets an
//! environment variable (tests run in parallel threads).

mod broker;
mod file;
mod generic;
mod routes;
mod server;
mod spool;
mod telemetry;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::hmac::{Hmac, Mac};
use base64::Engine as _;

use super::server::{default_admin_listen, default_listen};
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
