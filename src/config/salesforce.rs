//! `[salesforce]` or `[[salesforce.orgs]]`: the Salesforce orgs the worker
//! writes to, and how it gets their tokens. One `[salesforce]` table is one
//! org (its `organization_id` optional: without it every Notification goes
//! to it); `[[salesforce.orgs]]` lists several, each with a unique `name`
//! (actions refer to it, metrics label with it) and `organization_id`.

use std::path::Path;

use serde::Deserialize;

use crate::config::{self, Error, SecretSource};
use crate::salesforce::rest::Auth;
use crate::secret::Secret;

/// `[salesforce]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SalesforceSection {
    /// The org's name: `org = "..."` of `[[worker.actions]]` and the `org`
    /// metric label. Required in `[[salesforce.orgs]]`; `default` for a
    /// single `[salesforce]` table without it.
    pub(crate) name: Option<String>,
    /// The org's Organization ID (15 or 18 characters): Notifications whose
    /// `organization_id` is this one are written here.
    pub(crate) organization_id: Option<String>,
    /// Loop guard: a Notification whose record was last modified by this
    /// user (`LastModifiedById`, 15 or 18 characters; the integration user)
    /// is acked without a write (docs/workers.md, *Loop guard*).
    pub(crate) skip_if_last_modified_by: Option<String>,
    /// Token endpoint base (`https://login.salesforce.com`, the My Domain
    /// URL for client credentials, or the simulator's URL in tests).
    pub(crate) login_url: String,
    /// REST base used when the token reply has no `instance_url`.
    pub(crate) instance_url: String,
    /// API version without the `v`, e.g. `62.0`.
    #[serde(default = "default_api_version")]
    pub(crate) api_version: String,
    /// `jwt_bearer` or `client_credentials`.
    pub(crate) auth: AuthKind,
    /// Connected app consumer key.
    pub(crate) consumer_key: SecretSource,
    /// Integration user (jwt_bearer).
    pub(crate) username: Option<String>,
    /// PEM RSA private key (jwt_bearer).
    pub(crate) private_key: Option<SecretSource>,
    /// JWT audience; default: derived from `login_url`
    /// (`salesforce::rest::auth::audience_for`).
    pub(crate) audience: Option<String>,
    /// Consumer secret (client_credentials).
    pub(crate) client_secret: Option<SecretSource>,
    /// Pause when `used/limit` from `Sforce-Limit-Info` exceeds this.
    #[serde(default = "default_max_usage")]
    pub(crate) max_api_usage: f64,
    /// Per-request timeout in ms.
    #[serde(default = "default_sf_timeout")]
    pub(crate) timeout_ms: u64,
    /// The org's Pub/Sub API endpoint (`hookgate subscribe`): `https://host:port`
    /// (SALESFORCE.md section 9 \[EP\]; `http://` only for a local simulator).
    #[serde(default = "default_pubsub_url")]
    pub(crate) pubsub_url: String,
}

/// Default `pubsub_url`: Salesforce's global Pub/Sub API endpoint
/// (SALESFORCE.md section 9 \[EP\]).
pub(crate) const DEFAULT_PUBSUB_URL: &str = "https://api.pubsub.salesforce.com:7443";

/// OAuth flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthKind {
    /// RS256 JWT assertion.
    JwtBearer,
    /// Client id + secret.
    ClientCredentials,
}

// === impl SalesforceSection ===

impl SalesforceSection {
    /// What is checked before any secret is read.
    pub(super) fn validate(&self, file: &Path, key: &str) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&self.max_api_usage) || self.max_api_usage == 0.0 {
            return Err(Error::invalid(
                file,
                format!("{key}.max_api_usage"),
                "a ratio in (0, 1]",
            ));
        }
        match url::Url::parse(&self.pubsub_url) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => {}
            _ => {
                return Err(Error::invalid(
                    file,
                    format!("{key}.pubsub_url"),
                    "an https:// URL with a host, e.g. https://api.pubsub.salesforce.com:7443",
                ))
            }
        }
        Ok(())
    }

    /// The token flow, its secrets read now.
    pub(super) fn auth(&self, file: &Path, key: &str) -> Result<Auth, Error> {
        let ck = format!("{key}.consumer_key");
        let consumer_key = read_secret(file, &ck, &self.consumer_key)?;
        // The consumer key is the OAuth client id, not a secret.
        let consumer_key = String::from_utf8(consumer_key.to_vec())
            .map_err(|_| Error::invalid(file, ck, "not UTF-8"))?;
        match self.auth {
            AuthKind::JwtBearer => self.jwt_bearer(file, key, consumer_key),
            AuthKind::ClientCredentials => self.client_credentials(file, key, consumer_key),
        }
    }

    /// `jwt_bearer`: the user and the private key signing the assertion.
    fn jwt_bearer(&self, file: &Path, key: &str, consumer_key: String) -> Result<Auth, Error> {
        let username = self.username.clone().ok_or_else(|| {
            Error::invalid(file, format!("{key}.username"), "required for jwt_bearer")
        })?;
        let pk = format!("{key}.private_key");
        let key_src = self
            .private_key
            .as_ref()
            .ok_or_else(|| Error::invalid(file, pk.clone(), "required for jwt_bearer"))?;
        let pem = read_secret(file, &pk, key_src)?;
        let audience = self
            .audience
            .clone()
            .unwrap_or_else(|| crate::salesforce::rest::auth::audience_for(&self.login_url));
        Auth::jwt_bearer(consumer_key, username, audience, &pem)
            .map_err(|e| Error::invalid(file, pk, e.to_string()))
    }

    /// `client_credentials`: the consumer secret, sent as form text.
    fn client_credentials(
        &self,
        file: &Path,
        key: &str,
        consumer_key: String,
    ) -> Result<Auth, Error> {
        let cs = format!("{key}.client_secret");
        let src = self
            .client_secret
            .as_ref()
            .ok_or_else(|| Error::invalid(file, cs.clone(), "required for client_credentials"))?;
        let secret = read_secret(file, &cs, src)?;
        if std::str::from_utf8(&secret).is_err() {
            return Err(Error::invalid(file, cs, "not UTF-8"));
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

fn default_pubsub_url() -> String {
    DEFAULT_PUBSUB_URL.to_owned()
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
