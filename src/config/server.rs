//! `[server]` (the public listener, its TLS and its limits) and `[admin]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{positive, Error};

/// Default TLS/plain listener for webhooks and Outbound Messages.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// Default admin listener (`/healthz`, `/readyz`, `/metrics`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Whether this platform has `SO_REUSEPORT` (`server.reuse_port`): the
/// targets where tokio's `TcpSocket::set_reuseport` exists.
pub const REUSE_PORT_SUPPORTED: bool = cfg!(all(
    unix,
    not(target_os = "solaris"),
    not(target_os = "illumos"),
    not(target_os = "cygwin"),
    not(target_os = "nuttx"),
));

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on, e.g. `0.0.0.0:8443`.
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// Body cap in bytes for routes that do not set their own; when unset,
    /// 4 MiB for Salesforce routes and 256 KiB for webhook routes.
    pub(crate) max_body_bytes: Option<usize>,
    /// Serve plain HTTP (behind a TLS-terminating load balancer only).
    /// Mutually exclusive with `[server.tls]`.
    #[serde(default)]
    pub(crate) plaintext: bool,
    /// `[server.tls]`: required unless `plaintext = true`.
    pub(crate) tls: Option<TlsConfig>,
    /// Time allowed to receive the request head, in ms (slowloris bound).
    #[serde(default = "default_header_read_timeout_ms")]
    pub(crate) header_read_timeout_ms: u64,
    /// Time allowed for a whole request, in ms, from its head to the
    /// message held by the broker or the spool: body read, verification,
    /// replay-cache lookup and store. A body not received in time gets 408;
    /// past the deadline after the body arrived, 503 + Retry-After (a SOAP
    /// Server fault on Salesforce routes), so the sender retries.
    #[serde(default = "default_request_timeout_ms")]
    pub(crate) request_timeout_ms: u64,
    /// After an answer given before the request body was read to its end
    /// (413, 403, 404, 405, 408, 503 ...), how long, in ms, the rest of the
    /// body is read and discarded before the HTTP/1 connection closes
    /// (lingering close): a sender that uploads its whole body before
    /// reading then sees the status instead of a connection reset.
    #[serde(default = "default_linger_timeout_ms")]
    pub(crate) linger_timeout_ms: u64,
    /// Most body bytes read and discarded during that lingering close; a
    /// sender past it is cut.
    #[serde(default = "default_linger_max_bytes")]
    pub(crate) linger_max_bytes: u64,
    /// Requests handled at once; past it new requests get 503 + Retry-After.
    #[serde(default = "default_max_concurrent_requests")]
    pub(crate) max_concurrent_requests: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish, in ms.
    #[serde(default = "default_shutdown_grace_ms")]
    pub(crate) shutdown_grace_ms: u64,
    /// Longest pause between two body chunks, in ms (408 past it).
    #[serde(default = "default_body_idle_timeout_ms")]
    pub(crate) body_idle_timeout_ms: u64,
    /// Time to receive the whole body, in ms (408 past it).
    #[serde(default = "default_body_timeout_ms")]
    pub(crate) body_timeout_ms: u64,
    /// Time for the TLS handshake, in ms.
    #[serde(default = "default_tls_handshake_timeout_ms")]
    pub(crate) tls_handshake_timeout_ms: u64,
    /// Header lines accepted per request (HTTP/1); more is 431.
    #[serde(default = "default_max_headers")]
    pub(crate) max_headers: usize,
    /// Bytes of request head accepted (HTTP/1 buffer; HTTP/2 header list); more is 431.
    #[serde(default = "default_max_header_bytes")]
    pub(crate) max_header_bytes: usize,
    /// Connections served at once; past it new connections are closed.
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: usize,
    /// Connections per client IP; past it new ones from that IP are closed.
    #[serde(default = "default_max_connections_per_ip")]
    pub(crate) max_connections_per_ip: usize,
    /// HTTP/2 concurrent streams per connection.
    #[serde(default = "default_max_concurrent_streams")]
    pub(crate) max_concurrent_streams: u32,
    /// Peers (load balancers) allowed to state the client address, by
    /// PROXY protocol v1/v2 header or `X-Forwarded-For`. Empty: the TCP peer
    /// is the client.
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    /// Set `SO_REUSEPORT` on the public listener, so several gateway
    /// processes can listen on the same address and the kernel spreads new
    /// connections over them (docs/reliability.md, "Several gateways behind
    /// one address"). Unix only; the admin listener never shares its port.
    #[serde(default)]
    pub(crate) reuse_port: bool,
}

/// `[server.tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain (leaf first, then intermediates).
    pub(crate) cert: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: Option<PathBuf>,
    /// Dev only: make a throwaway self-signed certificate at start (rcgen).
    #[serde(default)]
    pub(crate) self_signed: bool,
    /// PEM bundle of CAs whose client certificates are verified (mutual
    /// TLS). Clients without a certificate still connect; routes with
    /// `client_cert` refuse them.
    pub(crate) client_ca: Option<PathBuf>,
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Plain-HTTP listener for `/healthz`, `/readyz`, `/metrics`.
    #[serde(default = "default_admin_listen")]
    pub(crate) listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
        }
    }
}

// === impl ServerConfig ===

impl ServerConfig {
    /// Checks the listener's TLS choice, its files and its limits.
    ///
    /// # Errors
    /// [`Error::Invalid`] with the key of the first problem.
    pub(super) fn validate(&self, file: &Path) -> Result<(), Error> {
        self.validate_tls(file)?;
        if self.reuse_port && !REUSE_PORT_SUPPORTED {
            return Err(Error::invalid(
                file,
                "server.reuse_port",
                "SO_REUSEPORT is not available on this platform (unix only)",
            ));
        }
        if let Some(cap) = self.max_body_bytes {
            positive(file, "server.max_body_bytes", cap as u64)?;
        }
        positive(
            file,
            "server.body_idle_timeout_ms",
            self.body_idle_timeout_ms,
        )?;
        positive(file, "server.body_timeout_ms", self.body_timeout_ms)?;
        positive(
            file,
            "server.tls_handshake_timeout_ms",
            self.tls_handshake_timeout_ms,
        )?;
        positive(file, "server.max_headers", self.max_headers as u64)?;
        positive(file, "server.max_connections", self.max_connections as u64)?;
        positive(
            file,
            "server.max_connections_per_ip",
            self.max_connections_per_ip as u64,
        )?;
        positive(
            file,
            "server.max_concurrent_streams",
            u64::from(self.max_concurrent_streams),
        )?;
        if self.max_header_bytes < 8192 {
            return Err(Error::invalid(
                file,
                "server.max_header_bytes",
                "at least 8192 (hyper's smallest read buffer)",
            ));
        }
        if let Some(ca) = self.tls.as_ref().and_then(|t| t.client_ca.as_ref()) {
            if !ca.is_file() {
                return Err(Error::invalid(
                    file,
                    "server.tls.client_ca",
                    format!("no such file: {}", ca.display()),
                ));
            }
        }
        positive(
            file,
            "server.header_read_timeout_ms",
            self.header_read_timeout_ms,
        )?;
        positive(file, "server.request_timeout_ms", self.request_timeout_ms)?;
        positive(
            file,
            "server.max_concurrent_requests",
            self.max_concurrent_requests as u64,
        )
    }

    /// Exactly one of `[server.tls]` and `plaintext`; with TLS, either
    /// `self_signed` or both files, present.
    fn validate_tls(&self, file: &Path) -> Result<(), Error> {
        let tls = match (&self.tls, self.plaintext) {
            (None, false) => return Err(Error::invalid(
                file,
                "server.tls",
                "required (or set server.plaintext = true behind a TLS-terminating load balancer)",
            )),
            (Some(_), true) => {
                return Err(Error::invalid(
                    file,
                    "server.plaintext",
                    "cannot be true together with [server.tls]",
                ))
            }
            (None, true) => return Ok(()),
            (Some(tls), false) => tls,
        };
        if tls.self_signed {
            if tls.cert.is_some() || tls.key.is_some() {
                return Err(Error::invalid(
                    file,
                    "server.tls.self_signed",
                    "cannot be combined with cert/key",
                ));
            }
            return Ok(());
        }
        for (k, v) in [("cert", &tls.cert), ("key", &tls.key)] {
            match v {
                None => {
                    return Err(Error::invalid(
                        file,
                        format!("server.tls.{k}"),
                        "required unless self_signed = true",
                    ))
                }
                Some(p) if !p.is_file() => {
                    return Err(Error::invalid(
                        file,
                        format!("server.tls.{k}"),
                        format!("no such file: {}", p.display()),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

pub(super) fn default_listen() -> SocketAddr {
    // A constant that parses: checked by the unit test `defaults`.
    DEFAULT_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8443)))
}
pub(super) fn default_admin_listen() -> SocketAddr {
    DEFAULT_ADMIN_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9090)))
}
fn default_body_idle_timeout_ms() -> u64 {
    5_000
}
fn default_body_timeout_ms() -> u64 {
    15_000
}
fn default_tls_handshake_timeout_ms() -> u64 {
    10_000
}
fn default_max_headers() -> usize {
    100
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_connections_per_ip() -> usize {
    64
}
fn default_max_concurrent_streams() -> u32 {
    100
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_linger_timeout_ms() -> u64 {
    5_000
}
fn default_linger_max_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_max_concurrent_requests() -> usize {
    1024
}
fn default_shutdown_grace_ms() -> u64 {
    10_000
}
