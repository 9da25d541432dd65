//! Accept loop: TCP, connection caps (total and per client IP), the PROXY
//! protocol from trusted load balancers, TLS handshake under a deadline,
//! hyper's HTTP/1.1 + HTTP/2 server with header limits, graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use super::handle::handle;
use super::proxy::{self, is_trusted, Proxied};
use super::{ConnInfo, Gateway};
use crate::config::ServerConfig;
use crate::tls::TlsState;

/// Serves until `shutdown` turns true, then stops accepting and waits up to
/// `shutdown_grace_ms` for open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<TlsState>>,
    gateway: Arc<Gateway>,
    server: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let builders = Arc::new(Builders::new(&server));
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(server.max_connections));
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let handshake_timeout = Duration::from_millis(server.tls_handshake_timeout_ms);
    let server = Arc::new(server);

    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            gateway.metrics.connection_refused("max_connections");
            continue;
        };
        let Some(ip_slot) = IpSlot::take(&per_ip, peer.ip(), server.max_connections_per_ip) else {
            gateway.metrics.connection_refused("max_connections_per_ip");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builders = builders.clone();
        let gateway = gateway.clone();
        let tls = tls.clone();
        let server = server.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // Held until the connection ends (moved into its task).
            let guards = (permit, ip_slot);
            let mut stream = stream;
            let mut proxied = Proxied::No;
            if is_trusted(&server.trusted_proxies, peer.ip()) {
                match tokio::time::timeout(handshake_timeout, proxy::read_header(&mut stream)).await
                {
                    Ok(Ok(p)) => proxied = p,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "bad PROXY protocol header");
                        return;
                    }
                    Err(_) => return,
                }
            }
            let mut info = ConnInfo {
                peer: peer.ip(),
                proxied,
                client_cert: None,
            };
            match tls {
                Some(tls) => {
                    let acceptor = TlsAcceptor::from(tls.current());
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            info.client_cert = s
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| crate::tls::ClientCert::from_der(c.as_ref()));
                            // HTTP/2 over TLS only by ALPN (RFC 9113 3.2).
                            let proto = match s.get_ref().1.alpn_protocol() {
                                Some(b"h2") => Proto::Http2,
                                _ => Proto::Http1,
                            };
                            spawn_conn(s, proto, info, &builders, gateway, watcher, guards);
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                // Plain HTTP: HTTP/1.1, or HTTP/2 with prior knowledge.
                None => spawn_conn(
                    stream,
                    Proto::Auto,
                    info,
                    &builders,
                    gateway,
                    watcher,
                    guards,
                ),
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(Duration::from_millis(server.shutdown_grace_ms)) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

/// One connection's share of the per-IP cap; released on drop.
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = map.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.map.lock() {
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
    }
}

/// hyper's connection builders, configured alike from `[server]`.
struct Builders {
    /// HTTP/1.1 or HTTP/2 by the connection's preface (plain HTTP).
    auto: auto::Builder<TokioExecutor>,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new(server: &ServerConfig) -> Builders {
        let mut auto = auto::Builder::new(TokioExecutor::new());
        let mut http1 = hyper::server::conn::http1::Builder::new();
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        macro_rules! http1 {
            ($b:expr) => {
                $b.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_millis(server.header_read_timeout_ms))
                    .max_headers(server.max_headers)
                    .max_buf_size(server.max_header_bytes)
                    .keep_alive(true)
            };
        }
        macro_rules! http2 {
            ($b:expr) => {
                $b.timer(TokioTimer::new())
                    .max_concurrent_streams(server.max_concurrent_streams)
                    .max_header_list_size(
                        u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX),
                    )
                    // Rapid-reset (CVE-2023-44487) bounds.
                    .max_pending_accept_reset_streams(Some(20))
                    .max_local_error_reset_streams(Some(256))
                    .keep_alive_interval(Some(Duration::from_secs(30)))
            };
        }
        http1!(auto.http1());
        http2!(auto.http2());
        http1!(http1);
        http2!(http2);
        Builders { auto, http1, http2 }
    }
}

/// Which HTTP a connection speaks.
#[derive(Clone, Copy)]
enum Proto {
    /// Decided by the preface.
    Auto,
    Http1,
    Http2,
}

/// Serves HTTP on one accepted (and, with TLS, handshaken) connection in a
/// task of its own, sized for that protocol's connection only (the
/// accepting task, sized for the PROXY header and TLS handshake, ends:
/// idle memory per connection). `guards` (the connection-cap permits) are
/// released when the connection ends.
fn spawn_conn<IO, G>(
    io: IO,
    proto: Proto,
    info: ConnInfo,
    builders: &Builders,
    gateway: Arc<Gateway>,
    watcher: hyper_util::server::graceful::Watcher,
    guards: G,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    G: Send + 'static,
{
    let peer: SocketAddr = SocketAddr::new(info.peer, 0);
    let info = Arc::new(info);
    // Layer order, outermost first:
    let service = ServiceBuilder::new()
        // A panic anywhere below becomes a fixed 500, never a dropped process.
        .layer(CatchPanicLayer::custom(panic_response))
        // x-request-id: kept from the client or made, and echoed back.
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
        .layer(PropagateRequestIdLayer::x_request_id())
        // One span per request (method, path, request id); bodies never logged.
        .layer(TraceLayer::new_for_http())
        .service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            let gateway = gateway.clone();
            req.extensions_mut().insert(info.clone());
            // Boxed: hyper keeps a slot the size of this future for the
            // whole connection; a box is allocated only while a request runs.
            Box::pin(async move { Ok::<_, Infallible>(handle(gateway, req).await) })
        });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let io = TokioIo::new(io);
    match proto {
        Proto::Http1 => {
            let conn = builders.http1.serve_connection(io, service);
            tokio::spawn(watch(conn, watcher, peer, guards));
        }
        Proto::Http2 => {
            let conn = builders.http2.serve_connection(io, service);
            tokio::spawn(watch(conn, watcher, peer, guards));
        }
        Proto::Auto => {
            let conn = builders.auto.serve_connection(io, service).into_owned();
            tokio::spawn(watch(conn, watcher, peer, guards));
        }
    }
}

/// Makes `x-request-id` values: 32 lowercase hex digits, a random 64-bit
/// prefix drawn once per process followed by a 64-bit request counter.
/// Unique within a process and (by the prefix) across restarts, without a
/// `getrandom` system call per request as a UUIDv4 would make. Not secret: a
/// request id only correlates logs.
#[derive(Clone, Copy)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        // std's RandomState keys come from the OS's random source.
        let prefix = *PREFIX.get_or_init(|| {
            std::hash::BuildHasher::hash_one(
                &std::collections::hash_map::RandomState::new(),
                std::process::id(),
            )
        });
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        http::HeaderValue::from_str(&format!("{prefix:016x}{n:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// Drives `conn` to its end, shut down gracefully with the server.
async fn watch<C, G>(
    conn: C,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
    guards: G,
) where
    C: hyper_util::server::graceful::GracefulConnection,
    C::Error: std::fmt::Display,
{
    let _guards = guards;
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The fixed answer when a handler panicked (the panic is logged by the hook).
fn panic_response(
    _: Box<dyn std::any::Any + Send + 'static>,
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    tracing::error!("request handler panicked");
    let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(
        b"{\"error\":\"internal error\"}\n",
    )));
    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    resp
}
