//! rustls server configuration: TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`, the ring crypto provider (one provider in the whole tree).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::config::TlsConfig;

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
    /// The self-signed certificate could not be made.
    #[error("self-signed certificate generation failed: {0}")]
    SelfSigned(#[from] rcgen::Error),
}

/// The process-wide crypto provider (ring). Installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the server config from `[server.tls]`.
///
/// # Errors
/// [`Error`] naming the unreadable file, or rustls' reason.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, Error> {
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
    build(certs, key)
}

/// Builds a server config from a chain and key (TLS 1.2 + 1.3, ALPN set).
///
/// # Errors
/// [`Error::Rustls`] when the key does not match or is unsupported.
pub fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Reads a PEM certificate chain (leaf first).
///
/// # Errors
/// [`Error::Cert`] when the file is unreadable or holds no certificate.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
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
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|_| Error::Key {
        path: path.display().to_string(),
    })
}

/// A throwaway self-signed certificate for `names` (dev only).
///
/// # Errors
/// [`Error::SelfSigned`] if rcgen fails.
pub fn self_signed(
    names: &[&str],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    let key = PrivateKeyDer::try_from(signing_key.serialize_der()).map_err(|_| Error::Key {
        path: "self-signed".into(),
    })?;
    Ok((vec![cert.der().clone()], key))
}
