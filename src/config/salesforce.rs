//! `[salesforce]`: the Salesforce org the worker writes to, and how it
//! gets its tokens.

use std::path::Path;

use serde::Deserialize;

use crate::config::{self, Error, SecretSource};
use crate::salesforce::rest::Auth;
use crate::secret::Secret;

/// `[salesforce]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSection {
    /// Token endpoint base (`https://login.salesforce.com`, the My Domain
    /// URL for client credentials, or the simulator's URL in tests).
    pub login_url: String,
    /// REST base used when the token reply has no `instance_url`.
    pub instance_url: String,
    /// API version without the `v`, e.g. `62.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `jwt_bearer` or `client_credentials`.
    pub auth: AuthKind,
    /// Connected app consumer key.
    pub consumer_key: SecretSource,
    /// Integration user (jwt_bearer).
    pub username: Option<String>,
    /// PEM RSA private key (jwt_bearer).
    pub private_key: Option<SecretSource>,
    /// JWT audience; default: derived from `login_url`
    /// (`salesforce::rest::auth::audience_for`).
    pub audience: Option<String>,
    /// Consumer secret (client_credentials).
    pub client_secret: Option<SecretSource>,
    /// Pause when `used/limit` from `Sforce-Limit-Info` exceeds this.
    #[serde(default = "default_max_usage")]
    pub max_api_usage: f64,
    /// Per-request timeout in ms.
    #[serde(default = "default_sf_timeout")]
    pub timeout_ms: u64,
}

/// OAuth flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// RS256 JWT assertion.
    JwtBearer,
    /// Client id + secret.
    ClientCredentials,
}

// === impl SalesforceSection ===

impl SalesforceSection {
    /// What is checked before any secret is read.
    pub(super) fn validate(&self, file: &Path) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&self.max_api_usage) || self.max_api_usage == 0.0 {
            return Err(Error::invalid(
                file,
                "salesforce.max_api_usage",
                "a ratio in (0, 1]",
            ));
        }
        Ok(())
    }

    /// The token flow, its secrets read now.
    pub(super) fn auth(&self, file: &Path) -> Result<Auth, Error> {
        let consumer_key = read_secret(file, "salesforce.consumer_key", &self.consumer_key)?;
        // The consumer key is the OAuth client id, not a secret.
        let consumer_key = String::from_utf8(consumer_key.to_vec())
            .map_err(|_| Error::invalid(file, "salesforce.consumer_key", "not UTF-8"))?;
        match self.auth {
            AuthKind::JwtBearer => self.jwt_bearer(file, consumer_key),
            AuthKind::ClientCredentials => self.client_credentials(file, consumer_key),
        }
    }

    /// `jwt_bearer`: the user and the private key signing the assertion.
    fn jwt_bearer(&self, file: &Path, consumer_key: String) -> Result<Auth, Error> {
        let username = self.username.clone().ok_or_else(|| {
            Error::invalid(file, "salesforce.username", "required for jwt_bearer")
        })?;
        let key_src = self.private_key.as_ref().ok_or_else(|| {
            Error::invalid(file, "salesforce.private_key", "required for jwt_bearer")
        })?;
        let pem = read_secret(file, "salesforce.private_key", key_src)?;
        let audience = self
            .audience
            .clone()
            .unwrap_or_else(|| crate::salesforce::rest::auth::audience_for(&self.login_url));
        Auth::jwt_bearer(consumer_key, username, audience, &pem)
            .map_err(|e| Error::invalid(file, "salesforce.private_key", e.to_string()))
    }

    /// `client_credentials`: the consumer secret, sent as form text.
    fn client_credentials(&self, file: &Path, consumer_key: String) -> Result<Auth, Error> {
        let src = self.client_secret.as_ref().ok_or_else(|| {
            Error::invalid(
                file,
                "salesforce.client_secret",
                "required for client_credentials",
            )
        })?;
        let secret = read_secret(file, "salesforce.client_secret", src)?;
        if std::str::from_utf8(&secret).is_err() {
            return Err(Error::invalid(
                file,
                "salesforce.client_secret",
                "not UTF-8",
            ));
        }
        Ok(Auth::ClientCredentials {
            client_id: consumer_key,
            client_secret: Secret::from_slice(&secret),
        })
    }
}

/// The secret `key` refers to, its errors naming `key` and its sub-key.
fn read_secret(
    file: &Path,
    key: &str,
    src: &SecretSource,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    config::resolve_secret(src).map_err(|(sub, r)| Error::invalid(file, format!("{key}{sub}"), r))
}

fn default_api_version() -> String {
    "62.0".into()
}
fn default_max_usage() -> f64 {
    0.9
}
fn default_sf_timeout() -> u64 {
    30_000
}
