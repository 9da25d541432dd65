//! Test certificates made with rcgen: CAs, server certificates for
//! 127.0.0.1, client certificates (valid, expired, from another CA).

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A certificate authority that signs test certificates.
pub struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

/// A leaf certificate with its key.
pub struct Leaf {
    /// The leaf certificate, PEM (without the CA).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The leaf certificate, DER.
    pub der: Vec<u8>,
}

impl Ca {
    /// A fresh self-signed CA named `cn`.
    pub fn new(cn: &str) -> Ca {
        let key = rcgen::KeyPair::generate().expect("ca key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = rcgen::CertifiedIssuer::self_signed(params, key).expect("ca");
        let pem = issuer.pem();
        Ca { issuer, pem }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("leaf params");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client certificate with subject `CN=<cn>`; `expired` makes one whose
    /// validity ended yesterday.
    pub fn client(&self, cn: &str, expired: bool) -> Leaf {
        self.client_with_subject(&[(rcgen::DnType::CommonName, cn)], expired)
    }

    /// A client certificate whose subject holds `attrs`, in this order
    /// (certificate order: most significant first, e.g. `C` before `CN`).
    pub fn client_with_subject(&self, attrs: &[(rcgen::DnType, &str)], expired: bool) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("client key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in attrs {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(30);
            params.not_after = now - time::Duration::days(1);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("client cert");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Writes the CA PEM to `dir/<name>` and returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, &self.pem).expect("write ca");
        p
    }
}

impl Leaf {
    /// SHA-256 of the DER certificate, lower-case hex.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }

    /// The chain a server presents: the leaf, then its CA.
    pub fn chain_pem(&self, ca: &Ca) -> String {
        format!("{}{}", self.cert_pem, ca.pem)
    }
}
