//! Which keys each kind may have, and the keys of the #17 kinds that are
//! neither secrets nor HMAC schemes:
//! `public_keys` (discord, sendgrid), `verify_token` (meta), `header`
//! (okta), checked at load.

use super::keys::{self, KeyAlgorithm, KeySource};
use super::{Options, RouteConfig, RouteKey, RouteKind, Verification};
use crate::config::{resolve_secret, Error};
use crate::secret::Secret;

// === impl RouteConfig ===

impl RouteConfig {
    /// Refuses keys that belong to another kind.
    pub(super) fn check_foreign_keys(&self, at: &RouteKey<'_>) -> Result<(), Error> {
        let is_sf = self.kind == RouteKind::SalesforceOm;
        let is_generic = self.kind == RouteKind::GenericHmac;
        let keyed = self.kind.uses_public_keys();
        let keys: [(&str, bool, bool); 19] = [
            ("org_ids", !self.org_ids.is_empty(), is_sf),
            ("forward_session_id", self.forward_session_id, is_sf),
            ("parse_limits", self.parse_limits.is_some(), is_sf),
            ("secrets", !self.secrets.is_empty(), !is_sf && !keyed),
            ("public_keys", !self.public_keys.is_empty(), keyed),
            (
                "verify_token",
                self.verify_token.is_some(),
                self.kind == RouteKind::Meta,
            ),
            (
                "discord_endpoint",
                self.discord_endpoint.is_some(),
                self.kind == RouteKind::Discord,
            ),
            (
                "header",
                self.header.is_some(),
                is_generic || self.kind == RouteKind::Okta,
            ),
            ("algorithm", self.algorithm.is_some(), is_generic),
            ("encoding", self.encoding.is_some(), is_generic),
            ("prefix", self.prefix.is_some(), is_generic),
            ("signed_payload", self.signed_payload.is_some(), is_generic),
            (
                "timestamp_header",
                self.timestamp_header.is_some(),
                is_generic,
            ),
            ("id_header", self.id_header.is_some(), is_generic),
            ("event_header", self.event_header.is_some(), is_generic),
            ("separator", self.separator.is_some(), is_generic),
            ("item_prefix", self.item_prefix.is_some(), is_generic),
            ("timestamp_item", self.timestamp_item.is_some(), is_generic),
            (
                "timestamp_format",
                self.timestamp_format.is_some(),
                is_generic,
            ),
        ];
        for (key, present, allowed) in keys {
            if present && !allowed {
                let kind = self.kind.as_str();
                return Err(at.invalid(key, format!("not a key of kind {kind}")));
            }
        }
        Ok(())
    }

    /// `discord`, `sendgrid`: public keys instead of secrets, parsed now.
    pub(super) fn validate_public_keys(&self, at: &RouteKey<'_>) -> Result<Verification, Error> {
        let algorithm = if self.kind == RouteKind::Discord {
            KeyAlgorithm::Ed25519
        } else {
            KeyAlgorithm::EcdsaP256Sha256
        };
        if self.public_keys.is_empty() {
            return Err(at.invalid(
                "public_keys",
                format!("at least one key is required for {}", self.kind.as_str()),
            ));
        }
        let mut keys = Vec::with_capacity(self.public_keys.len());
        for (j, src) in self.public_keys.iter().enumerate() {
            let key = format!("public_keys[{j}]");
            let text =
                resolve_key(src).map_err(|(sub, r)| at.invalid(&format!("{key}{sub}"), r))?;
            let mut parsed =
                keys::parse(algorithm, text.trim()).map_err(|r| at.invalid(&key, r))?;
            if let Some(t) = &src.not_after {
                parsed.not_after = Some(parse_not_after(at, &key, t)?);
            }
            keys.push(parsed);
        }
        Ok(Verification {
            tolerance_s: self.tolerance_s(at)?,
            public_keys: keys,
            ..Verification::default()
        })
    }

    /// `verify_token` (meta, required) and `header` (okta).
    pub(super) fn validate_options(&self, at: &RouteKey<'_>) -> Result<Options, Error> {
        let verify_token = match (&self.verify_token, self.kind) {
            (None, RouteKind::Meta) => {
                return Err(at.invalid(
                    "verify_token",
                    "required for meta: the Verify Token set in the app's webhook subscription",
                ))
            }
            (None, _) => None,
            (Some(src), _) => {
                let raw = resolve_secret(src)
                    .map_err(|(sub, reason)| at.invalid(&format!("verify_token{sub}"), reason))?;
                let token = Secret::from_slice(&raw);
                if token.is_empty() {
                    return Err(at.invalid("verify_token", "the token is empty"));
                }
                Some(token)
            }
        };
        let secret_header = match (&self.header, self.kind) {
            (Some(h), RouteKind::Okta) => Some(
                http::HeaderName::from_bytes(h.trim().as_bytes())
                    .map_err(|_| at.invalid("header", "not a valid HTTP header name"))?,
            ),
            _ => None,
        };
        Ok(Options {
            verify_token,
            secret_header,
        })
    }
}

/// `<key>.not_after` as an RFC 3339 time.
pub(super) fn parse_not_after(
    at: &RouteKey<'_>,
    key: &str,
    t: &str,
) -> Result<time::OffsetDateTime, Error> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).map_err(|_| {
        at.invalid(
            &format!("{key}.not_after"),
            "an RFC 3339 time, e.g. 2027-01-01T00:00:00Z",
        )
    })
}

/// A public key's text from exactly one of its sources; `Err((subkey,
/// reason))`.
fn resolve_key(src: &KeySource) -> Result<String, (&'static str, String)> {
    match (&src.value, &src.env, &src.file) {
        (Some(v), None, None) => Ok(v.clone()),
        (None, Some(name), None) => std::env::var(name)
            .map_err(|_| (".env", format!("environment variable {name} is not set"))),
        (None, None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| (".file", format!("cannot read {}: {e}", path.display()))),
        _ => Err(("", "exactly one of value, env or file".to_owned())),
    }
}
