//! Configuration: the TOML file `hookgate serve --config PATH` reads.
//!
//! Loading is two steps: serde parses the file with unknown keys rejected
//! (`deny_unknown_fields`), then `FileConfig::validate` checks what types
//! cannot say (unique route names and paths, keys that belong to another
//! route kind, secrets that must resolve), one section at a time. Every
//! error names the file and the key, e.g.
//! `config/hookgate.toml: routes[2].secrets[0].env: environment variable GITHUB_WEBHOOK_SECRET is not set`.
//!
//! Secrets are resolved at load time, never at first request: a missing
//! environment variable or file is a start-up error.
//!
//! One file per section: `server.rs` (`[server]`, `[admin]`), `broker.rs`
//! (`[amqp]`, shared with the worker), `spool.rs`, `dedupe.rs`, `routes.rs`
//! (`[[routes]]`, a validate per kind), `telemetry.rs` (`[telemetry]`, shared
//! with the worker). The worker's sections are read by
//! `crate::config::worker` through the same loader (`parse_toml`), error
//! type and secret references.

mod broker;
mod bulk;
mod dedupe;
mod idempotency;
mod mapping;
mod orgs;
pub mod pattern;
pub mod pubsub;
pub(crate) mod restart;
mod routes;
mod salesforce;
mod server;
mod spool;
mod telemetry;
pub mod worker;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use self::broker::{
    AmqpConfig, CloudEvents, QueueConfig, QueueType, AMQP_URL_ENV, MAX_AMQP_CHANNELS,
};
pub(crate) use self::dedupe::DedupeConfig;
pub(crate) use self::routes::generic;
pub use self::routes::{
    ClientCertRule, ClientCerts, Dn, RateLimit, RateLimitConfig, Route, RouteConfig, RouteKind,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE_S, DEFAULT_WEBHOOK_MAX_BODY_BYTES,
};
// discord, sendgrid (#17): their keys and endpoint type, read by verify
// (the key type is built by its tests).
#[cfg(test)]
pub(crate) use self::routes::PublicKey;
pub(crate) use self::routes::{DiscordEndpoint, KeyAlgorithm};
pub use self::server::{
    AdminConfig, ServerConfig, TlsConfig, DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN,
    REUSE_PORT_SUPPORTED,
};
pub use self::spool::{SpoolConfig, MIN_SPOOL_MAX_BYTES};
pub use self::telemetry::{TelemetryConfig, DEFAULT_GATEWAY_SERVICE, DEFAULT_WORKER_SERVICE};

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// Path of the config file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key, or a value of the wrong type. The
    /// message from `toml` names the key and shows the line.
    #[error("{file}: {message}")]
    Parse {
        /// Path of the config file.
        file: PathBuf,
        /// toml's message, with the key and line.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// Path of the config file.
        file: PathBuf,
        /// Dotted key path, e.g. `routes[1].org_ids[0]`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole file, as written (before secrets are resolved).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// `[server]`: the public listener.
    pub(crate) server: ServerConfig,
    /// `[admin]`: the plain-HTTP admin listener.
    #[serde(default)]
    pub(crate) admin: AdminConfig,
    /// `[amqp]`: the broker connection and topology.
    pub(crate) amqp: AmqpConfig,
    /// `[spool]`: the durable local outbox.
    #[serde(default)]
    pub(crate) spool: SpoolConfig,
    /// `[dedupe]`: the replay cache.
    #[serde(default)]
    pub(crate) dedupe: DedupeConfig,
    /// `[[routes]]`: one per endpoint path.
    #[serde(default)]
    pub(crate) routes: Vec<RouteConfig>,
    /// `[telemetry]`: trace export (shared with the worker).
    #[serde(default)]
    pub(crate) telemetry: TelemetryConfig,
    /// The worker's sections (`hookgate worker` reads them; allowed here so
    /// one file can serve both).
    #[serde(default, rename = "worker")]
    pub(crate) _worker: Option<serde::de::IgnoredAny>,
    /// See `_worker`.
    #[serde(default, rename = "salesforce")]
    pub(crate) _salesforce: Option<serde::de::IgnoredAny>,
    /// `hookgate subscribe`'s section (see `_worker`).
    #[serde(default, rename = "pubsub")]
    pub(crate) _pubsub: Option<serde::de::IgnoredAny>,
}

impl Error {
    /// [`Error::Invalid`]: `key` in `file` is not acceptable.
    pub(crate) fn invalid(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            file: file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Where a secret comes from: exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (one trailing newline is trimmed).
    pub file: Option<PathBuf>,
    /// RFC 3339 time after which the secret no longer verifies (rotation).
    pub not_after: Option<String>,
}

/// A validated configuration with secrets resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for messages).
    pub file: PathBuf,
    /// `[server]`.
    pub(crate) server: ServerConfig,
    /// `[admin]`.
    pub(crate) admin: AdminConfig,
    /// `[amqp]`, with the env override applied.
    pub amqp: AmqpConfig,
    /// `[spool]`.
    pub spool: SpoolConfig,
    /// `[dedupe]`.
    pub dedupe: DedupeConfig,
    /// Validated routes.
    pub routes: Vec<Route>,
    /// `[telemetry]`.
    pub telemetry: TelemetryConfig,
}

impl Config {
    /// Reads, parses and validates `path`, resolving secrets from the
    /// environment and files.
    ///
    /// # Errors
    /// [`Error`] naming the file and key of the first problem found.
    pub fn load(path: &Path) -> Result<Config, Error> {
        Self::from_toml(path, &read(path)?)
    }

    /// Parses and validates TOML text; `path` is used in messages and to
    /// resolve relative paths (relative to the working directory).
    ///
    /// # Errors
    /// [`Error`] naming the file and key of the first problem found.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, Error> {
        parse_toml::<FileConfig>(path, text)?.validate(path)
    }
}

impl FileConfig {
    /// Checks what serde cannot and resolves secrets, section by section.
    ///
    /// # Errors
    /// [`Error::Invalid`] with the key of the first problem.
    pub(crate) fn validate(self, file: &Path) -> Result<Config, Error> {
        let FileConfig {
            server,
            admin,
            mut amqp,
            spool,
            dedupe,
            routes,
            mut telemetry,
            ..
        } = self;
        server.validate(file)?;
        amqp.validate(file)?;
        spool.validate(file, &amqp)?;
        dedupe.validate(file)?;
        let routes = routes::validate(routes, file, &server)?;
        telemetry.validate(file)?;
        Ok(Config {
            file: file.to_path_buf(),
            server,
            admin,
            amqp,
            spool,
            dedupe,
            routes,
            telemetry,
        })
    }
}

/// Reads a config file.
///
/// # Errors
/// [`Error::Read`] naming it.
pub(crate) fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Parses the TOML text of `path` into the sections `T` reads (the
/// gateway's [`FileConfig`] or the worker's).
///
/// # Errors
/// [`Error::Parse`] with toml's message (it names the key and line).
pub(crate) fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| Error::Parse {
        file: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Reads one secret into a buffer zeroized on drop (the caller copies what
/// it keeps into a [`Secret`](crate::secret::Secret)); on error returns (sub-key, reason) without
/// the value.
pub(crate) fn resolve_secret(
    src: &SecretSource,
) -> Result<zeroize::Zeroizing<Vec<u8>>, (&'static str, String)> {
    match (&src.env, &src.file) {
        (Some(var), None) => match std::env::var_os(var) {
            Some(v) => Ok(zeroize::Zeroizing::new(v.into_encoded_bytes())),
            None => Err((".env", format!("environment variable {var} is not set"))),
        },
        (None, Some(path)) => match std::fs::read(path).map(zeroize::Zeroizing::new) {
            Ok(mut bytes) => {
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                Ok(bytes)
            }
            Err(e) => Err((".file", format!("cannot read {}: {e}", path.display()))),
        },
        _ => Err(("", "exactly one of env or file is required".into())),
    }
}

/// `key` must not be 0.
/// A name that is one word of a routing key, a metric label value and a log
/// field as it is: `[A-Za-z0-9_-]{1,64}` (route, subscription and org names).
pub(crate) fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn positive(file: &Path, key: &str, v: u64) -> Result<(), Error> {
    if v == 0 {
        return Err(Error::invalid(file, key, "must be greater than 0"));
    }
    Ok(())
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests;
