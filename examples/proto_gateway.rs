//! The bare gateway prototype of issue #20 (`scripts/bench.sh` step
//! `contract`, docs/performance.md "The message contract's cost to the
//! broker"): hyper over rustls in front of lapin, nothing else. Each POST's
//! body is published as one persistent message with publisher confirms and
//! answered `200` once confirmed (`503` on a nack, a return or an error).
//! No signature check, no replay cache, no spool, no metrics: what any
//! gateway that acks only durable payloads must at least do, so hookgate's
//! rate as a share of this one is what hookgate's own work costs.
//!
//! The message is hookgate's webhook message (examples/support/contract.rs,
//! the delivery id from `X-GitHub-Delivery`) or, with the contract flags,
//! a part of it: `--exchange-kind default --no-mandatory --no-properties
//! --drop-header all` is the bare publish straight to the queue. Publishes
//! are spread round-robin over `--channels` confirm-mode channels
//! (hookgate's `amqp.channels` default, 4), each pipelined: many publishes
//! in flight per channel, each request waiting for its own confirm.
//!
//! It declares `--exchange` (unless the default exchange is used) and the
//! durable queue `--queue` (bound to `#`, or to the routing key on a direct
//! exchange), never deletes them (`confirm_ceiling drain-count` does), and on
//! SIGTERM or SIGINT prints `proto confirmed=N failed=N` and exits.
//!
//! ```sh
//! cargo run --release --example proto_gateway -- --listen 127.0.0.1:8443 \
//!   --cert config/dev/server.pem --key config/dev/server.key \
//!   --exchange proto.x --queue proto.q
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[path = "support/contract.rs"]
mod contract;
use contract::{ContractArgs, ExchangeKind};

/// The same allocator as hookgate's binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The routing key of every message (the topic/direct binding's key).
const ROUTING_KEY: &str = "github.push";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueueKind {
    Classic,
    Quorum,
}

#[derive(Parser)]
#[command(about = "Bare hyper + rustls + lapin gateway prototype (benchmark baseline)")]
struct Args {
    /// Address to serve HTTPS on.
    #[arg(long)]
    listen: SocketAddr,
    /// Server certificate chain (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Server private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// AMQP URI.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// Exchange to declare and publish to (ignored with the default exchange).
    #[arg(long, default_value = "proto.x")]
    exchange: String,
    /// Durable queue to declare (and bind).
    #[arg(long, default_value = "proto.q")]
    queue: String,
    /// Queue type.
    #[arg(long, value_enum, default_value_t = QueueKind::Quorum)]
    queue_type: QueueKind,
    /// Confirm-mode channels the requests are spread over.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// Which parts of hookgate's message to send.
    #[command(flatten)]
    contract: ContractArgs,
}

/// What every request shares.
struct Shared {
    channels: Vec<Channel>,
    next: AtomicUsize,
    exchange: String,
    routing_key: String,
    contract: ContractArgs,
    confirmed: AtomicU64,
    failed: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.channels > 0, "--channels must be positive");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(&args.cert)
        .context("reading --cert")?
        .collect::<Result<Vec<_>, _>>()
        .context("parsing --cert")?;
    let key = PrivateKeyDer::from_pem_file(&args.key).context("reading --key")?;
    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("building the TLS config")?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let conn = Connection::connect(
        &args.url,
        ConnectionProperties::default().with_connection_name(LongString::from("proto_gateway")),
    )
    .await
    .with_context(|| format!("connecting to {}", args.url))?;
    let (exchange, routing_key) = declare(&conn, &args).await?;
    let mut channels = Vec::with_capacity(args.channels);
    for _ in 0..args.channels {
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        channels.push(ch);
    }
    let shared = Arc::new(Shared {
        channels,
        next: AtomicUsize::new(0),
        exchange,
        routing_key,
        contract: args.contract.clone(),
        confirmed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    eprintln!("proto_gateway listening on {}", args.listen);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    println!(
        "proto confirmed={} failed={}",
        shared.confirmed.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed)
    );
    let _ = conn.close(200, ShortString::from("done")).await;
    Ok(())
}

/// Declares the exchange and the queue; returns the exchange and routing
/// key to publish with.
async fn declare(conn: &Connection, args: &Args) -> anyhow::Result<(String, String)> {
    let setup = conn.create_channel().await?;
    let mut qargs = FieldTable::default();
    let kind = match args.queue_type {
        QueueKind::Classic => "classic",
        QueueKind::Quorum => "quorum",
    };
    qargs.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from(kind)),
    );
    setup
        .queue_declare(
            ShortString::from(args.queue.as_str()),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            qargs,
        )
        .await
        .context("declaring the queue")?;
    let binding = match args.contract.exchange_kind {
        ExchangeKind::Default => return Ok((String::new(), args.queue.clone())),
        ExchangeKind::Topic => "#",
        ExchangeKind::Direct => ROUTING_KEY,
    };
    contract::declare_exchange(&setup, &args.exchange, args.contract.exchange_kind).await?;
    setup
        .queue_bind(
            ShortString::from(args.queue.as_str()),
            ShortString::from(args.exchange.as_str()),
            ShortString::from(binding),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("binding the queue")?;
    Ok((args.exchange.clone(), ROUTING_KEY.to_string()))
}

/// Publishes the request's body and answers once it is confirmed.
async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let id = req
        .headers()
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return answer(StatusCode::BAD_REQUEST),
    };
    let now = time::OffsetDateTime::now_utc();
    let hash = if shared.contract.needs_body_hash() {
        contract::sha256_hex(&body)
    } else {
        String::new()
    };
    let props = shared
        .contract
        .properties(&id, &shared.routing_key, now, &hash);
    let i = shared.next.fetch_add(1, Ordering::Relaxed) % shared.channels.len();
    let confirm = shared.channels[i]
        .basic_publish(
            ShortString::from(shared.exchange.as_str()),
            ShortString::from(shared.routing_key.as_str()),
            BasicPublishOptions {
                mandatory: shared.contract.mandatory(),
                ..BasicPublishOptions::default()
            },
            &body,
            props,
        )
        .await;
    let ok = match confirm {
        Ok(c) => matches!(c.await, Ok(Confirmation::Ack(None))),
        Err(_) => false,
    };
    if ok {
        shared.confirmed.fetch_add(1, Ordering::Relaxed);
        answer(StatusCode::OK)
    } else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        answer(StatusCode::SERVICE_UNAVAILABLE)
    }
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"ok\n")));
    *r.status_mut() = status;
    r
}
