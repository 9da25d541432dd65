//! `[[routes]]`: one endpoint each, its kind deciding the sender's scheme.
//!
//! [`RouteConfig::validate`] runs the checks every route shares, then the
//! kind's own ([`RouteConfig::validate_salesforce_om`],
//! [`RouteConfig::validate_webhook`], [`RouteConfig::validate_generic_hmac`]).

mod client_cert;
pub(crate) mod dn;
pub(crate) mod generic;
pub(crate) mod keys;
mod kind;
mod om;
mod options;
mod rate_limit;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use self::client_cert::{ClientCertRule, ClientCerts};
pub use self::dn::Dn;
use self::generic::{Algorithm, Encoding, Scheme, Spec, TimestampFormat};
pub use self::keys::{DiscordEndpoint, KeyAlgorithm, KeySource, PublicKey};
pub use self::kind::RouteKind;
pub use self::om::ParseLimitsConfig;
use self::options::parse_not_after;
pub use self::rate_limit::{RateLimit, RateLimitConfig};
use super::{resolve_secret, Error, SecretSource, ServerConfig};
use crate::salesforce::om::Limits;
use crate::secret::Secret;

/// Default body cap of Salesforce routes in bytes (4 MiB), overridable: 100
/// Notifications of 150 fields and a 131,072-character Long Text Area value
/// fit (see `routes[].parse_limits`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default body cap of webhook routes in bytes (256 KiB), overridable.
pub const DEFAULT_WEBHOOK_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default timestamp tolerance in seconds for schemes that sign a timestamp
/// (Stripe, Slack, Standard Webhooks: 300 s in their documentation).
pub const DEFAULT_TOLERANCE_S: u64 = 300;

/// `[[routes]]`: one endpoint. Keys that do not belong to `kind` are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique name: the `<source>` of routing keys and the metric label.
    /// Defaults to the kind (`github`, `salesforce_om`, ...).
    pub(crate) name: Option<String>,
    /// Exact request path, e.g. `/hooks/github`.
    pub(crate) path: String,
    /// The scheme.
    pub(crate) kind: RouteKind,
    /// Body cap in bytes; defaults to `[server] max_body_bytes`.
    pub(crate) max_body_bytes: Option<usize>,
    /// Webhook secrets; any one verifies (rotation).
    #[serde(default)]
    pub(crate) secrets: Vec<SecretSource>,
    /// Allowed age of a signed timestamp in seconds, both directions.
    pub(crate) tolerance_s: Option<u64>,
    /// salesforce_om: accepted Organization IDs (15 or 18 characters).
    #[serde(default)]
    pub(crate) org_ids: Vec<String>,
    /// salesforce_om: keep the SessionId in the message (a credential).
    #[serde(default)]
    pub(crate) forward_session_id: bool,
    /// salesforce_om: the parser's bounds (Notifications, elements, text).
    pub(crate) parse_limits: Option<ParseLimitsConfig>,
    /// generic_hmac: the signature header; okta: the header holding the
    /// secret (default `Authorization`).
    pub(crate) header: Option<String>,
    /// discord, sendgrid: the provider's public keys (any one verifies:
    /// rotation), instead of `secrets`.
    #[serde(default)]
    pub(crate) public_keys: Vec<KeySource>,
    /// meta: the verify token the subscription handshake must present.
    pub(crate) verify_token: Option<SecretSource>,
    /// discord: which endpoint this is (`interactions`, the default,
    /// answers PING `{"type":1}`; `webhook_events` answers PING with 204).
    pub(crate) discord_endpoint: Option<DiscordEndpoint>,
    /// generic_hmac: HMAC hash.
    pub(crate) algorithm: Option<Algorithm>,
    /// generic_hmac: signature encoding.
    pub(crate) encoding: Option<Encoding>,
    /// generic_hmac: text before the signature, e.g. `sha256=`.
    pub(crate) prefix: Option<String>,
    /// generic_hmac: signed string template over `{body}`, `{timestamp}`, `{id}`.
    pub(crate) signed_payload: Option<String>,
    /// generic_hmac: header carrying the signed timestamp (Unix seconds).
    pub(crate) timestamp_header: Option<String>,
    /// generic_hmac: header carrying the delivery id (idempotency key).
    pub(crate) id_header: Option<String>,
    /// generic_hmac: header carrying the event name.
    pub(crate) event_header: Option<String>,
    /// generic_hmac: the signature header is a list split on this text.
    pub(crate) separator: Option<String>,
    /// generic_hmac: text before each signature item of the list (`v1=`).
    pub(crate) item_prefix: Option<String>,
    /// generic_hmac: the list item holding the signed timestamp (`t=`).
    pub(crate) timestamp_item: Option<String>,
    /// generic_hmac: `unix` (default), `unix_ms` or `rfc3339`.
    pub(crate) timestamp_format: Option<TimestampFormat>,
    /// Client addresses allowed (IPv4 and IPv6 CIDRs); empty allows all.
    #[serde(default)]
    pub(crate) allow_cidrs: Vec<ipnet::IpNet>,
    /// Verified client certificates accepted (mutual TLS).
    pub(crate) client_cert: Option<ClientCertRule>,
    /// The URL the sender posts to, as it sees it (for logs and URL-signing
    /// schemes).
    pub(crate) public_url: Option<String>,
    /// How long a seen idempotency key is remembered for replay protection,
    /// in seconds. Default: the timestamp tolerance for schemes that sign
    /// one, 24 h for Salesforce, 72 h otherwise.
    pub(crate) replay_ttl_s: Option<u64>,
    /// Requests admitted per second, for the route or per client.
    pub(crate) rate_limit: Option<RateLimitConfig>,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Unique name (routing-key source, metric label).
    pub name: String,
    /// Exact request path.
    pub path: String,
    /// Scheme.
    pub kind: RouteKind,
    /// Body cap in bytes.
    pub max_body_bytes: usize,
    /// Resolved secrets, in config order (slot 0 first).
    pub secrets: Vec<Secret>,
    /// Timestamp tolerance.
    pub(crate) tolerance: Duration,
    /// Accepted Organization IDs, normalised to their 18-character form.
    pub(crate) org_ids: Vec<String>,
    /// Forward SessionId in Notification messages.
    pub(crate) forward_session_id: bool,
    /// The Outbound Message parser's bounds (salesforce_om).
    pub(crate) parse_limits: Limits,
    /// The generic_hmac description, for that kind only.
    pub(crate) generic: Option<Scheme>,
    /// Public keys (discord, sendgrid), in config order (slot 0 first).
    pub(crate) public_keys: Vec<PublicKey>,
    /// The Meta subscription verify token.
    pub(crate) verify_token: Option<Secret>,
    /// Discord: which endpoint the route is.
    pub(crate) discord_endpoint: DiscordEndpoint,
    /// Okta: the header carrying the secret (default `authorization`).
    pub(crate) secret_header: Option<http::HeaderName>,
    /// Allowed client networks (empty: all).
    pub(crate) allow_cidrs: Vec<ipnet::IpNet>,
    /// Accepted client certificates (mutual TLS), if required.
    pub(crate) client_cert: Option<ClientCerts>,
    /// The URL the sender posts to.
    pub(crate) public_url: Option<String>,
    /// How long seen idempotency keys are remembered.
    pub(crate) replay_ttl: Duration,
    /// Requests admitted per second, if limited.
    pub(crate) rate_limit: Option<RateLimit>,
}

/// Where a route's errors point: the file and `routes[i]`.
pub(super) struct RouteKey<'a> {
    file: &'a Path,
    i: usize,
}

impl RouteKey<'_> {
    /// An [`Error::Invalid`] for `routes[i].<key>`.
    pub(super) fn invalid(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::invalid(self.file, format!("routes[{}].{key}", self.i), reason)
    }
}

/// What a kind's own checks give the route: how its sender is verified.
#[derive(Default)]
struct Verification {
    secrets: Vec<Secret>,
    tolerance_s: u64,
    org_ids: Vec<String>,
    generic: Option<Scheme>,
    public_keys: Vec<PublicKey>,
}

/// The kind's options that are neither secrets nor keys.
struct Options {
    verify_token: Option<Secret>,
    secret_header: Option<http::HeaderName>,
}

/// Validates each route, then that names and paths are unique.
///
/// # Errors
/// [`Error::Invalid`] with the key of the first problem.
pub(super) fn validate(
    routes: Vec<RouteConfig>,
    file: &Path,
    server: &ServerConfig,
) -> Result<Vec<Route>, Error> {
    if routes.is_empty() {
        return Err(Error::invalid(
            file,
            "routes",
            "at least one [[routes]] entry is needed",
        ));
    }
    let mut names = HashSet::new();
    let mut paths = HashSet::new();
    let mut out = Vec::with_capacity(routes.len());
    for (i, r) in routes.into_iter().enumerate() {
        let at = RouteKey { file, i };
        let route = r.validate(&at, server)?;
        if !names.insert(route.name.clone()) {
            return Err(at.invalid("name", format!("duplicate route name {:?}", route.name)));
        }
        if !paths.insert(route.path.clone()) {
            return Err(at.invalid("path", format!("duplicate path {:?}", route.path)));
        }
        out.push(route);
    }
    Ok(out)
}

// === impl RouteConfig ===

impl RouteConfig {
    /// The checks every route shares around its kind's own.
    fn validate(self, at: &RouteKey<'_>, server: &ServerConfig) -> Result<Route, Error> {
        let name = self.checked_name(at)?;
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            return Err(at.invalid("path", "must start with / and hold no query"));
        }
        let max_body_bytes = self.max_body_bytes(at, server)?;
        self.check_foreign_keys(at)?;
        let verification = match self.kind {
            RouteKind::SalesforceOm => self.validate_salesforce_om(at)?,
            RouteKind::GenericHmac => self.validate_generic_hmac(at)?,
            k if k.uses_public_keys() => self.validate_public_keys(at)?,
            _ => self.validate_webhook(at)?,
        };
        let options = self.validate_options(at)?;
        let client_cert = match &self.client_cert {
            None => None,
            Some(rule) => Some(rule.validate(at, server)?),
        };
        match &self.public_url {
            Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                return Err(at.invalid("public_url", "an absolute http(s) URL"));
            }
            None if self.kind.needs_public_url() => {
                return Err(at.invalid(
                    "public_url",
                    format!(
                        "required for kind {}: the full URL the provider calls, which it signs",
                        self.kind.as_str()
                    ),
                ));
            }
            _ => {}
        }
        let replay_ttl = self.replay_ttl(at, verification.tolerance_s)?;
        let rate_limit = match self.rate_limit {
            None => None,
            Some(r) => Some(r.validate(at)?),
        };
        let parse_limits = self.parse_limits.unwrap_or_default().validate(at)?;
        Ok(Route {
            name,
            path: self.path,
            kind: self.kind,
            max_body_bytes,
            secrets: verification.secrets,
            tolerance: Duration::from_secs(verification.tolerance_s),
            org_ids: verification.org_ids,
            forward_session_id: self.forward_session_id,
            parse_limits,
            generic: verification.generic,
            public_keys: verification.public_keys,
            verify_token: options.verify_token,
            discord_endpoint: self.discord_endpoint.unwrap_or_default(),
            secret_header: options.secret_header,
            allow_cidrs: self.allow_cidrs,
            client_cert,
            public_url: self.public_url,
            replay_ttl,
            rate_limit,
        })
    }

    /// `salesforce_om`: Organization IDs instead of secrets.
    fn validate_salesforce_om(&self, at: &RouteKey<'_>) -> Result<Verification, Error> {
        if self.org_ids.is_empty() {
            return Err(at.invalid(
                "org_ids",
                "at least one Organization ID is required for salesforce_om",
            ));
        }
        let mut org_ids = Vec::with_capacity(self.org_ids.len());
        for (j, id) in self.org_ids.iter().enumerate() {
            match crate::salesforce::id::to_18(id) {
                // 15-character ids are case-sensitive: the prefix is exactly 00D.
                Some(full) if full.starts_with("00D") => org_ids.push(full),
                _ => {
                    return Err(at.invalid(
                        &format!("org_ids[{j}]"),
                        format!("{id:?} is not a 15- or 18-character Organization ID (prefix 00D)"),
                    ))
                }
            }
        }
        Ok(Verification {
            tolerance_s: self.tolerance_s(at)?,
            org_ids,
            ..Verification::default()
        })
    }

    /// Signed kinds: at least one secret, resolved now; a tolerance where
    /// a timestamp is signed.
    fn validate_webhook(&self, at: &RouteKey<'_>) -> Result<Verification, Error> {
        if self.secrets.is_empty() {
            return Err(at.invalid("secrets", "at least one secret is required"));
        }
        let mut secrets = Vec::with_capacity(self.secrets.len());
        for (j, src) in self.secrets.iter().enumerate() {
            secrets.push(self.secret(at, j, src)?);
        }
        Ok(Verification {
            secrets,
            tolerance_s: self.tolerance_s(at)?,
            ..Verification::default()
        })
    }

    /// `generic_hmac`: a signed kind whose scheme the route's keys describe.
    fn validate_generic_hmac(&self, at: &RouteKey<'_>) -> Result<Verification, Error> {
        let verification = self.validate_webhook(at)?;
        let header = self
            .header
            .as_deref()
            .ok_or_else(|| at.invalid("header", "required for generic_hmac"))?;
        let scheme = Spec {
            header,
            label: "signature",
            algorithm: self.algorithm.unwrap_or_default(),
            encoding: self.encoding.unwrap_or_default(),
            prefix: self.prefix.as_deref().unwrap_or_default(),
            separator: self.separator.as_deref(),
            item_prefix: self.item_prefix.as_deref(),
            timestamp_item: self.timestamp_item.as_deref(),
            signed_payload: self.signed_payload.as_deref().unwrap_or("{body}"),
            timestamp_header: self.timestamp_header.as_deref(),
            timestamp_format: self.timestamp_format.unwrap_or_default(),
            id_header: self.id_header.as_deref(),
            event_header: self.event_header.as_deref(),
        }
        .build()
        .map_err(|(key, reason)| at.invalid(key, reason))?;
        Ok(Verification {
            generic: Some(scheme),
            ..verification
        })
    }

    /// `name`, defaulting to the kind: it starts every routing key.
    fn checked_name(&self, at: &RouteKey<'_>) -> Result<String, Error> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| self.kind.as_str().to_string());
        if !super::is_word(&name) {
            return Err(at.invalid(
                "name",
                "1 to 64 characters of [A-Za-z0-9_-] (it starts every routing key)",
            ));
        }
        Ok(name)
    }

    /// The route's cap, else the server's, else the kind's default.
    fn max_body_bytes(&self, at: &RouteKey<'_>, server: &ServerConfig) -> Result<usize, Error> {
        let cap = self.max_body_bytes.or(server.max_body_bytes).unwrap_or(
            if self.kind == RouteKind::SalesforceOm {
                DEFAULT_MAX_BODY_BYTES
            } else {
                DEFAULT_WEBHOOK_MAX_BODY_BYTES
            },
        );
        if cap == 0 {
            return Err(at.invalid("max_body_bytes", "must be greater than 0"));
        }
        Ok(cap)
    }

    /// `secrets[j]` read from its source, with its expiry.
    fn secret(&self, at: &RouteKey<'_>, j: usize, src: &SecretSource) -> Result<Secret, Error> {
        let key = format!("secrets[{j}]");
        let raw = resolve_secret(src)
            .map_err(|(sub, reason)| at.invalid(&format!("{key}{sub}"), reason))?;
        let mut secret = if self.kind == RouteKind::StandardWebhooks {
            Secret::standard_webhooks(&raw).map_err(|reason| at.invalid(&key, reason))?
        } else {
            Secret::from_slice(&raw)
        };
        if let Some(t) = &src.not_after {
            secret = secret.with_not_after(parse_not_after(at, &key, t)?);
        }
        if secret.is_empty() {
            return Err(at.invalid(&key, "the secret is empty"));
        }
        Ok(secret)
    }

    /// Whether the route's scheme signs a timestamp `tolerance_s` bounds.
    fn signs_timestamp(&self) -> bool {
        self.kind.signs_timestamp()
            || (self.kind == RouteKind::GenericHmac
                && (self.timestamp_header.is_some() || self.timestamp_item.is_some()))
    }

    /// `tolerance_s`, only where a timestamp is signed; default 300.
    fn tolerance_s(&self, at: &RouteKey<'_>) -> Result<u64, Error> {
        match self.tolerance_s {
            Some(_) if !self.signs_timestamp() => Err(at.invalid(
                "tolerance_s",
                format!("kind {} signs no timestamp", self.kind.as_str()),
            )),
            Some(0) => Err(at.invalid("tolerance_s", "must be greater than 0")),
            Some(t) => Ok(t),
            None => Ok(self.kind.default_tolerance_s()),
        }
    }

    /// `replay_ttl_s`, by default as long as a signed timestamp stays
    /// fresh, else 24 h for Salesforce (its retry window), 72 h otherwise.
    fn replay_ttl(&self, at: &RouteKey<'_>, tolerance_s: u64) -> Result<Duration, Error> {
        Ok(match self.replay_ttl_s {
            Some(0) => return Err(at.invalid("replay_ttl_s", "must be greater than 0")),
            Some(t) => Duration::from_secs(t),
            None if self.signs_timestamp() => Duration::from_secs(tolerance_s),
            None if self.kind == RouteKind::SalesforceOm => Duration::from_secs(24 * 3600),
            None => Duration::from_secs(72 * 3600),
        })
    }
}
