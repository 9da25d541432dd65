//! Load generator for the outage run (`scripts/outage-run.sh`): concurrent
//! signed GitHub deliveries for a fixed time, recording every answer.
//!
//! Each request is the push fixture (or `--body`) signed with
//! `X-Hub-Signature-256` and a fresh `X-GitHub-Delivery` (the message_id
//! hookgate publishes). For every request it records the delivery id, the
//! status (0 for a transport error: connection refused while the gateway is
//! restarting, reset when it is killed) and when the answer came. At the end
//! it writes the ids answered 2xx to `--accepted`, one a line, and prints:
//!
//! ```text
//! sent N
//! 2xx N
//! status 503 N        (one line per other status)
//! errors N            (transport errors; never counted as accepted)
//! rate NAME R         (2xx answers per second in the window NAME=FROM-TO s)
//! ```
//!
//! ```sh
//! cargo run --release --example outage_load -- --url https://127.0.0.1:8443/hooks/github \
//!   --ca certs/dev-ca.pem --secret dev-github-secret --duration-s 60 --concurrency 16 \
//!   --accepted /tmp/accepted.txt --window before=0-15 --window outage=15-45
//! ```
//! Loopback targets only in the scripted run; nothing here enforces it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Parser)]
#[command(about = "Concurrent signed GitHub deliveries for a fixed time")]
struct Args {
    /// Target, e.g. https://127.0.0.1:8443/hooks/github.
    #[arg(long)]
    url: String,
    /// GitHub webhook secret.
    #[arg(
        long,
        env = "GITHUB_WEBHOOK_SECRET",
        default_value = "dev-github-secret"
    )]
    secret: String,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Concurrent senders (each one request at a time, keep-alive).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// CA certificate (PEM) to trust for https targets.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Request body.
    #[arg(long, default_value = "fixtures/github/push.json")]
    body: PathBuf,
    /// Where to write the ids answered 2xx, one a line.
    #[arg(long)]
    accepted: PathBuf,
    /// Optional CSV of every request: answered_ms,id,status.
    #[arg(long)]
    log: Option<PathBuf>,
    /// A window NAME=FROM-TO (seconds since start) to report the 2xx rate
    /// of; repeatable.
    #[arg(long, value_parser = parse_window)]
    window: Vec<(String, f64, f64)>,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout_s: u64,
}

fn parse_window(s: &str) -> Result<(String, f64, f64), String> {
    let (name, range) = s.split_once('=').ok_or("NAME=FROM-TO")?;
    let (from, to) = range.split_once('-').ok_or("NAME=FROM-TO")?;
    let from: f64 = from.parse().map_err(|e| format!("{e}"))?;
    let to: f64 = to.parse().map_err(|e| format!("{e}"))?;
    if to <= from {
        return Err("TO must be after FROM".into());
    }
    Ok((name.to_string(), from, to))
}

/// One request's outcome.
struct Answer {
    at_ms: u64,
    id: String,
    status: u16,
}

fn client(args: &Args) -> anyhow::Result<reqwest::Client> {
    use rustls::pki_types::pem::PemObject as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.context("CA PEM")?).context("adding CA")?;
        }
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(args.timeout_s))
        .connect_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(args.concurrency)
        .build()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = client(&args)?;
    let body = bytes::Bytes::from(
        std::fs::read(&args.body).with_context(|| format!("reading {}", args.body.display()))?,
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(args.secret.as_bytes()).context("secret")?;
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let run = time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000_000;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_s);
    let sent = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));

    let mut tasks = Vec::new();
    for t in 0..args.concurrency {
        let (client, url, body, signature) = (
            client.clone(),
            args.url.clone(),
            body.clone(),
            signature.clone(),
        );
        let (sent, ok, failed) = (sent.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let id = format!("outage-{run}-{t}-{n}");
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                let result = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("User-Agent", "GitHub-Hookshot/outage-load")
                    .header("X-GitHub-Event", "push")
                    .header("X-GitHub-Delivery", id.as_str())
                    .header("X-Hub-Signature-256", signature.as_str())
                    .body(body.clone())
                    .send()
                    .await;
                let status = match result {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        // Read the body so the connection is reused.
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                let at_ms = started.elapsed().as_millis() as u64;
                if (200..300).contains(&status) {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                answers.push(Answer { at_ms, id, status });
                if status == 0 || status == 503 {
                    // Gateway restarting or refusing: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            answers
        }));
    }

    // Progress every 5 s.
    let progress = {
        let (sent, ok, failed) = (sent.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let o = ok.load(Ordering::Relaxed);
                println!(
                    "t={:>3}s sent {:>7} 2xx {:>7} failed {:>5} ({:.0} 2xx/s over the last 5 s)",
                    started.elapsed().as_secs(),
                    sent.load(Ordering::Relaxed),
                    o,
                    failed.load(Ordering::Relaxed),
                    (o - last) as f64 / 5.0
                );
                last = o;
            }
        })
    };

    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.context("sender")?);
    }
    progress.abort();
    answers.sort_by_key(|a| a.at_ms);

    let mut accepted = std::io::BufWriter::new(
        std::fs::File::create(&args.accepted)
            .with_context(|| format!("creating {}", args.accepted.display()))?,
    );
    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    for a in &answers {
        *by_status.entry(a.status).or_default() += 1;
        if (200..300).contains(&a.status) {
            writeln!(accepted, "{}", a.id)?;
        }
    }
    accepted.flush()?;
    if let Some(path) = &args.log {
        let mut log = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(log, "answered_ms,id,status")?;
        for a in &answers {
            writeln!(log, "{},{},{}", a.at_ms, a.id, a.status)?;
        }
        log.flush()?;
    }

    let two_xx: u64 = by_status
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    println!("sent {}", answers.len());
    println!("2xx {two_xx}");
    for (s, n) in &by_status {
        if *s != 0 && !(200..300).contains(s) {
            println!("status {s} {n}");
        }
    }
    println!("errors {}", by_status.get(&0).copied().unwrap_or(0));
    for (name, from, to) in &args.window {
        let (from_ms, to_ms) = ((from * 1000.0) as u64, (to * 1000.0) as u64);
        let n = answers
            .iter()
            .filter(|a| (200..300).contains(&a.status) && a.at_ms >= from_ms && a.at_ms < to_ms)
            .count();
        println!("rate {name} {:.1}", n as f64 / (to - from));
    }
    Ok(())
}
