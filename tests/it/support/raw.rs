//! A raw HTTP/1.1-over-TLS client: exact bytes on the wire (for request
//! smuggling, slow bodies, PROXY protocol headers), timed exchanges, and
//! client certificates. Every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Longest any single raw operation may take.
pub const IO_DEADLINE: Duration = Duration::from_secs(10);

/// A TLS stream to the gateway.
pub type Conn = TlsStream<TcpStream>;

/// A rustls client config trusting only `ca_pem`, offering `alpn`, and
/// presenting `identity` (chain PEM, key PEM) when given.
pub fn tls_config(
    ca_pem: &str,
    alpn: &[&[u8]],
    identity: Option<(&str, &str)>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client chain");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A reqwest client (HTTP/1.1) trusting only `ca_pem`, presenting
/// `identity` when given; no connection reuse across tests.
pub fn reqwest_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let tls = tls_config(ca_pem, &[b"http/1.1"], identity);
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(IO_DEADLINE)
        .build()
        .expect("client")
}

/// Connects over TCP, writes `prefix` (e.g. a PROXY protocol header), then
/// does the TLS handshake with `config`.
pub async fn connect_with(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    prefix: &[u8],
) -> std::io::Result<Conn> {
    let work = async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        if !prefix.is_empty() {
            tcp.write_all(prefix).await?;
        }
        let name = ServerName::try_from("127.0.0.1").expect("server name");
        TlsConnector::from(config).connect(name, tcp).await
    };
    tokio::time::timeout(IO_DEADLINE, work)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        })
}

/// Connects with HTTP/1.1 ALPN, trusting `ca_pem`.
pub async fn connect(addr: SocketAddr, ca_pem: &str) -> Conn {
    connect_with(addr, tls_config(ca_pem, &[b"http/1.1"], None), b"")
        .await
        .expect("TLS connect")
}

/// A POST request's bytes with `Host`, the given headers, `Content-Length`
/// and the body.
pub fn post(path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header value (first match, case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Bytes of the whole response (head and body) as received, roughly.
    pub fn wire_len(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
            + 17
    }
}

/// Reads one response (`Content-Length` framed, or to EOF without one),
/// keeping bytes past it in `buf` for the next call. `Ok(None)` when the
/// connection closed before a response head.
pub async fn read_reply<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Reply>> {
    let work = async {
        let head_end = loop {
            if let Some(i) = find(buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > 64 * 1024 {
                return Err(std::io::Error::other("response head too long"));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        buf.drain(..head_end + 4);
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body = match len {
            Some(len) => {
                while buf.len() < len {
                    let mut chunk = [0u8; 16 * 1024];
                    let n = r.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::Error::other("EOF inside the response body"));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                buf.drain(..len).collect()
            }
            None => {
                // No length: the body runs to EOF.
                loop {
                    let mut chunk = [0u8; 16 * 1024];
                    match r.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                std::mem::take(buf)
            }
        };
        Ok(Some(Reply {
            status,
            headers,
            body,
        }))
    };
    tokio::time::timeout(IO_DEADLINE, work)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no response in time",
            ))
        })
}

/// Writes `req` and reads one response on `conn`.
pub async fn roundtrip(conn: &mut Conn, req: &[u8]) -> std::io::Result<Option<Reply>> {
    tokio::time::timeout(IO_DEADLINE, async {
        conn.write_all(req).await?;
        conn.flush().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))??;
    read_reply(conn, &mut Vec::new()).await
}

/// Reads until EOF, an error (a reset counts as closed) or `within`;
/// returns the bytes and whether the connection ended.
pub async fn read_until_closed<R: AsyncRead + Unpin>(
    r: &mut R,
    within: Duration,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, r.read(&mut chunk)).await {
            Err(_) => return (out, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The status codes of every `HTTP/1.x NNN` status line in `bytes`.
pub fn statuses(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(i) = rest.find("HTTP/1.") {
        let tail = &rest[i..];
        if let Some(code) = tail
            .get(9..12)
            .filter(|_| tail.as_bytes().get(8) == Some(&b' '))
            .and_then(|c| c.parse::<u16>().ok())
        {
            out.push(code);
        }
        rest = &rest[i + 7..];
    }
    out
}

/// What a timed exchange saw.
#[derive(Debug)]
pub struct Timed {
    /// The response, if one arrived.
    pub reply: Option<Reply>,
    /// The read error, if any.
    pub error: Option<String>,
    /// From the first byte written to the whole response read.
    pub total: Duration,
    /// From the last request byte written (flushed) to the whole response
    /// read; zero when the response came before the upload finished.
    pub after_last_byte: Duration,
    /// The upload finished before the response.
    pub upload_completed: bool,
}

/// Writes `req` while reading the response concurrently (the gateway may
/// answer before the upload ends, e.g. on a declared length over the cap),
/// timing both. The upload is abandoned once the response is read.
pub async fn timed_exchange<S>(conn: S, req: &[u8]) -> Timed
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let t0 = Instant::now();
    let writer = async move {
        let write = async {
            // In pieces, so a reply arriving mid-upload stops us soon.
            for piece in req.chunks(64 * 1024) {
                wr.write_all(piece).await?;
            }
            wr.flush().await
        };
        tokio::select! {
            r = write => (r.is_ok(), Instant::now()),
            _ = done_rx => (false, Instant::now()),
        }
    };
    let reader = async move {
        let r = read_reply(&mut rd, &mut Vec::new()).await;
        let at = Instant::now();
        let _ = done_tx.send(());
        (r, at)
    };
    let ((wrote, t_written), (read, t_read)) =
        tokio::time::timeout(IO_DEADLINE * 2, async { tokio::join!(writer, reader) })
            .await
            .expect("timed exchange deadline");
    let upload_completed = wrote && t_written <= t_read;
    let (reply, error) = match read {
        Ok(r) => (r, None),
        Err(e) => (None, Some(e.to_string())),
    };
    Timed {
        reply,
        error,
        total: t_read - t0,
        after_last_byte: if upload_completed {
            t_read - t_written
        } else {
            Duration::ZERO
        },
        upload_completed,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
