//! Opens many TLS keep-alive connections to a gateway and holds them idle, so
//! the gateway's memory per idle connection can be read (`scripts/bench.sh`,
//! docs/performance.md).
//!
//! Each connection does a full TLS handshake (ALPN `http/1.1`), sends one
//! small `GET` (answered 404, keep-alive) so that the connection has served a
//! request, reads the answer, then stays open and silent. Once all are open
//! it prints `open N failed M secs S` and holds them for `--hold-s` seconds; at the
//! end it prints `still_open N` (connections the server had not closed).
//! `--plaintext` does the same without TLS, against a gateway with
//! `server.plaintext = true`, to tell what TLS costs per connection.
//!
//! ```sh
//! cargo run --release --example idle_conns -- --addr 127.0.0.1:8443 \
//!   --ca certs/dev-ca.pem --count 1000 --hold-s 10
//! ```
//! Loopback targets only in the scripted run.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use futures_util::StreamExt as _;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

#[derive(Parser)]
#[command(about = "Hold many idle keep-alive TLS connections open")]
struct Args {
    /// Gateway address.
    #[arg(long)]
    addr: SocketAddr,
    /// CA certificate (PEM) that signed the gateway's certificate.
    #[arg(long, required_unless_present = "plaintext")]
    ca: Option<PathBuf>,
    /// Server name to verify.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 64)]
    parallel: usize,
    /// How long to hold them once all are open, in seconds.
    #[arg(long, default_value_t = 10)]
    hold_s: u64,
    /// Plain HTTP (a gateway with `server.plaintext = true`): separates what
    /// TLS costs per connection from what HTTP and the task cost.
    #[arg(long)]
    plaintext: bool,
}

/// An open connection, TLS or not.
enum Conn {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

impl Conn {
    async fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tls(s) => {
                s.write_all(b).await?;
                s.flush().await
            }
            Conn::Plain(s) => s.write_all(b).await,
        }
    }

    async fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tls(s) => s.read(b).await,
            Conn::Plain(s) => s.read(b).await,
        }
    }
}

fn connector(args: &Args) -> anyhow::Result<TlsConnector> {
    use rustls::pki_types::pem::PemObject as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = args.ca.as_ref().context("--ca")?;
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.context("CA PEM")?).context("adding CA")?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(tls)))
}

/// Connects, handshakes (unless `connector` is `None`), does one request and
/// returns the open stream.
async fn open(
    addr: SocketAddr,
    connector: Option<TlsConnector>,
    name: ServerName<'static>,
) -> anyhow::Result<Conn> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = match connector {
        Some(c) => Conn::Tls(Box::new(c.connect(name, tcp).await?)),
        None => Conn::Plain(tcp),
    };
    tls.write_all(b"GET /bench-idle HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    // Read the head, then Content-Length bytes of body.
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tls.read(&mut chunk).await?;
        if n == 0 {
            anyhow::bail!("closed before the answer");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(tls);
            }
        }
        if buf.len() > 64 * 1024 {
            anyhow::bail!("answer too long");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let connector = if args.plaintext {
        None
    } else {
        Some(connector(&args)?)
    };
    let started = std::time::Instant::now();
    let name = ServerName::try_from(args.server_name.clone()).context("server name")?;
    let results: Vec<anyhow::Result<Conn>> = futures_util::stream::iter(0..args.count)
        .map(|_| {
            let (c, n) = (connector.clone(), name.clone());
            async move {
                tokio::time::timeout(Duration::from_secs(20), open(args.addr, c, n))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
            }
        })
        .buffer_unordered(args.parallel.max(1))
        .collect()
        .await;
    let mut streams = Vec::with_capacity(args.count);
    let mut failed = 0usize;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(s) => streams.push(s),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    println!(
        "open {} failed {} secs {:.1}",
        streams.len(),
        failed,
        started.elapsed().as_secs_f64()
    );
    if let Some(e) = first_error {
        println!("first_error {e}");
    }
    std::io::stdout().flush()?;
    tokio::time::sleep(Duration::from_secs(args.hold_s)).await;
    // Which connections did the server close meanwhile?
    let mut still_open = 0usize;
    for s in &mut streams {
        let mut b = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(2), s.read(&mut b)).await {
            Err(_) => still_open += 1,
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(_)) => still_open += 1,
        }
    }
    println!("still_open {still_open}");
    Ok(())
}
