//! rustls server configuration: TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`, the ring crypto provider (one provider in the whole tree).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::config::TlsConfig;

pub use crate::config::Dn;

/// ALPN protocols offered, most preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS set-up error; names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate file has no PEM certificate, or cannot be read.
    #[error("{path}: no PEM certificate could be read")]
    Cert {
        /// The file.
        path: String,
    },
    /// The key file has no PEM private key, or cannot be read.
    #[error("{path}: no PEM private key could be read")]
    Key {
        /// The file.
        path: String,
    },
    /// rustls refused the pair (key does not match, unsupported algorithm).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA bundle cannot be read or holds no usable CA.
    #[error("{path}: no usable PEM CA certificate for client verification")]
    ClientCa {
        /// The file.
        path: String,
    },
    /// The self-signed certificate could not be made.
    #[error("self-signed certificate generation failed: {0}")]
    SelfSigned(#[from] rcgen::Error),
}

/// The process-wide crypto provider (ring). Installing twice is harmless.
/// Call it before building a `reqwest` client (the crate enables rustls
/// without a default provider).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the server config from `[server.tls]`.
///
/// # Errors
/// [`Error`] naming the unreadable file, or rustls' reason.
pub(crate) fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, Error> {
    let (certs, key) = if tls.self_signed {
        self_signed(&["localhost", "127.0.0.1"])?
    } else {
        let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
            return Err(Error::Cert {
                path: "server.tls.cert".into(),
            });
        };
        (load_certs(cert)?, load_key(key)?)
    };
    let client_ca = match &tls.client_ca {
        Some(p) => Some(load_client_ca(p)?),
        None => None,
    };
    build_with(certs, key, client_ca)
}

/// Builds a server config from a chain and key (TLS 1.2 + 1.3, ALPN set),
/// asking clients for a certificate verified against
/// `client_ca` when given (clients without one are still allowed at the TLS
/// layer; routes with `client_cert` refuse them).
///
/// # Errors
/// [`Error::Rustls`] when the key does not match or the CA is unusable.
pub(crate) fn build_with(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<rustls::RootCertStore>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        Some(roots) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::Rustls(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    // Our order (rustls': AEAD suites, strongest first), not the client's.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Reads a PEM bundle of client CAs.
///
/// # Errors
/// [`Error::ClientCa`] when unreadable or without a usable CA.
pub(crate) fn load_client_ca(path: &Path) -> Result<rustls::RootCertStore, Error> {
    let err = || Error::ClientCa {
        path: path.display().to_string(),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|_| err())? {
        roots.add(cert.map_err(|_| err())?).map_err(|_| err())?;
    }
    if roots.is_empty() {
        return Err(err());
    }
    Ok(roots)
}

/// The live TLS configuration, swapped atomically on reload: new handshakes
/// use the new one, open connections keep theirs.
pub(crate) struct TlsState {
    current: ArcSwap<ServerConfig>,
    source: TlsConfig,
}

impl TlsState {
    /// Loads `[server.tls]`.
    ///
    /// # Errors
    /// [`Error`] as [`server_config`].
    pub(crate) fn load(tls: &TlsConfig) -> Result<TlsState, Error> {
        Ok(TlsState {
            current: ArcSwap::new(server_config(tls)?),
            source: tls.clone(),
        })
    }

    /// The configuration for the next handshake.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Re-reads certificate, key and client CA; on any error the old
    /// configuration keeps serving. A self-signed config is not reloaded.
    ///
    /// # Errors
    /// [`Error`] naming the file that failed.
    pub(crate) fn reload(&self) -> Result<(), Error> {
        if self.source.self_signed {
            return Ok(());
        }
        let fresh = server_config(&self.source)?;
        self.current.store(fresh);
        Ok(())
    }

    /// The files to watch for changes.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        [&self.source.cert, &self.source.key, &self.source.client_ca]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// What the gateway knows of a verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// SHA-256 of the DER certificate.
    pub(crate) fingerprint: [u8; 32],
    /// Subject DN, RDNs in certificate order; empty if unparsable (then no
    /// subject rule matches).
    pub(crate) subject: Dn,
    /// The subject's common names.
    pub(crate) common_names: Vec<String>,
}

impl ClientCert {
    /// Reads a certificate rustls already verified against the client CA.
    pub(crate) fn from_der(der: &[u8]) -> ClientCert {
        let fingerprint: [u8; 32] = Sha256::digest(der).into();
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => ClientCert {
                fingerprint,
                subject: Dn::from_x509(cert.subject()),
                common_names: cert
                    .subject()
                    .iter_common_name()
                    .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
                    .collect(),
            },
            Err(_) => ClientCert {
                fingerprint,
                subject: Dn::default(),
                common_names: Vec::new(),
            },
        }
    }

    /// Whether this certificate matches a route's rule: a listed
    /// fingerprint, a listed subject DN equal attribute by attribute (in RFC
    /// 4514 or certificate order), or a listed `CN=x` alone equal to one of
    /// its common names.
    pub(crate) fn matches(&self, rule: &crate::config::ClientCerts) -> bool {
        rule.fingerprints.iter().any(|f| f == &self.fingerprint)
            || rule.subjects.iter().any(|dn| match dn.common_name_only() {
                Some(cn) => self.common_names.iter().any(|c| c == cn),
                None => dn.matches(&self.subject),
            })
    }
}

/// Reads a PEM certificate chain (leaf first).
///
/// # Errors
/// [`Error::Cert`] when the file is unreadable or holds no certificate.
pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let err = || Error::Cert {
        path: path.display().to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|_| err())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| err())?;
    if certs.is_empty() {
        return Err(err());
    }
    Ok(certs)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// [`Error::Key`] when the file is unreadable or holds no key.
pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|_| Error::Key {
        path: path.display().to_string(),
    })
}

/// A throwaway self-signed certificate for `names` (dev only).
///
/// # Errors
/// [`Error::SelfSigned`] if rcgen fails.
pub(crate) fn self_signed(
    names: &[&str],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    let key = PrivateKeyDer::try_from(signing_key.serialize_der()).map_err(|_| Error::Key {
        path: "self-signed".into(),
    })?;
    Ok((vec![cert.der().clone()], key))
}

#[cfg(test)]
mod tests;
