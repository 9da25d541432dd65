//! `routes[].client_cert`: which verified client certificates a route
//! accepts (mutual TLS).

use serde::Deserialize;

use super::RouteKey;
use crate::config::{Error, ServerConfig};

/// `routes[].client_cert`: which verified client certificates a route
/// accepts (any listed entry matches). Needs `[server.tls] client_ca`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertRule {
    /// Subject distinguished names as RFC 4514 text, e.g.
    /// `CN=proxy.salesforce.com,O=salesforce.com\, inc.,L=San Francisco,ST=California,C=US`
    /// (commas inside values escaped; RFC 4514 or certificate order; values
    /// compared exactly), or just `CN=...` to match on the common name alone.
    #[serde(default)]
    pub(crate) subjects: Vec<String>,
    /// SHA-256 fingerprints of the DER certificate, hex (colons allowed).
    #[serde(default)]
    pub(crate) fingerprints_sha256: Vec<String>,
}

/// A validated `client_cert` rule.
#[derive(Debug, Clone, Default)]
pub struct ClientCerts {
    /// Subject DNs, or `CN=...` alone (matches any certificate with that
    /// common name).
    pub(crate) subjects: Vec<super::dn::Dn>,
    /// SHA-256 fingerprints of accepted certificates (32 bytes each).
    pub(crate) fingerprints: Vec<[u8; 32]>,
}

impl ClientCertRule {
    /// Parses the subjects as RFC 4514 and the fingerprints as hex; the
    /// rule needs `[server.tls] client_ca` and at least one entry.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `routes[i].client_cert` or its entry.
    pub(super) fn validate(
        &self,
        at: &RouteKey<'_>,
        server: &ServerConfig,
    ) -> Result<ClientCerts, Error> {
        if server
            .tls
            .as_ref()
            .and_then(|t| t.client_ca.as_ref())
            .is_none()
        {
            return Err(at.invalid(
                "client_cert",
                "needs [server.tls] client_ca (certificates are verified against it)",
            ));
        }
        if self.subjects.is_empty() && self.fingerprints_sha256.is_empty() {
            return Err(at.invalid("client_cert", "list subjects or fingerprints_sha256"));
        }
        let mut fingerprints = Vec::new();
        for (j, f) in self.fingerprints_sha256.iter().enumerate() {
            let hexed: String = f.chars().filter(|c| *c != ':').collect();
            let bytes = hex::decode(&hexed)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    at.invalid(
                        &format!("client_cert.fingerprints_sha256[{j}]"),
                        "64 hex digits (colons allowed)",
                    )
                })?;
            fingerprints.push(bytes);
        }
        let mut subjects = Vec::with_capacity(self.subjects.len());
        for (j, s) in self.subjects.iter().enumerate() {
            let dn = super::dn::Dn::parse(s).map_err(|e| {
                at.invalid(
                    &format!("client_cert.subjects[{j}]"),
                    format!("not an RFC 4514 distinguished name: {e}"),
                )
            })?;
            subjects.push(dn);
        }
        Ok(ClientCerts {
            subjects,
            fingerprints,
        })
    }
}
