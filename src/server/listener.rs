//! Accept loop: TCP, connection caps (total and per client IP), the PROXY
//! protocol from trusted load balancers, TLS handshake under a deadline,
//! hyper's HTTP/1.1 + HTTP/2 server with header limits, graceful shutdown.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use super::flow::handle;
use super::framing::Framed;
use super::proxy::{self, is_trusted, Proxied};
use super::respond;
use super::slots::{self, Slot, Slots};
use super::{ConnInfo, Gateway};
use crate::config::ServerConfig;
use crate::tls::TlsState;

/// What every connection task shares, made once by [`serve`].
struct Shared {
    builders: Builders,
    gateway: Arc<Gateway>,
    tls: Option<Arc<TlsState>>,
    server: ServerConfig,
    /// Per-client connection slots (`max_connections_per_ip`).
    slots: Arc<Slots>,
    /// Deadline of the PROXY header and of the TLS handshake.
    handshake_timeout: Duration,
}

/// Serves until `shutdown` turns true, then stops accepting and waits up to
/// `shutdown_grace_ms` for open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<TlsState>>,
    gateway: Arc<Gateway>,
    server: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every connection task holds a receiver; `closed()` resolves when the
    // last one ended.
    let (live, live_rx) = watch::channel(());
    let connections = Arc::new(Semaphore::new(server.max_connections));
    let grace = Duration::from_millis(server.shutdown_grace_ms);
    let shared = Arc::new(Shared {
        builders: Builders::new(&server),
        slots: Arc::new(Slots::new(server.max_connections_per_ip)),
        handshake_timeout: Duration::from_millis(server.tls_handshake_timeout_ms),
        gateway,
        tls,
        server,
    });

    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            r = shutdown.changed() => {
                // A dropped sender can never say "go on" again.
                if r.is_err() || *shutdown.borrow() { break; }
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
            shared.gateway.metrics.connection_refused("max_connections");
            continue;
        };
        // A peer that is no trusted proxy is the client: its slot is taken
        // at once, and refused before a byte is read. A trusted proxy's
        // client is known once its PROXY header is read.
        let early_slot = if is_trusted(&shared.server.trusted_proxies, peer.ip()) {
            None
        } else {
            match take_slot(&shared.slots, &shared.gateway, peer.ip()) {
                Some(slot) => Some(slot),
                None => continue,
            }
        };
        let _ = stream.set_nodelay(true);
        let stop = Stop {
            shutdown: shutdown.clone(),
            _live: live_rx.clone(),
        };
        tokio::spawn(open(
            stream,
            peer,
            early_slot,
            (permit, stop),
            shared.clone(),
        ));
    }
    drop(listener);
    drop(live_rx);
    tokio::select! {
        _ = live.closed() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

/// An accepted connection's task: the PROXY header from a trusted proxy
/// (`early_slot` is `None` then: the client's slot is taken once the header
/// named it), then TLS and HTTP. `held` (the connection-cap permit and what
/// ends it early) lives as long as the connection.
async fn open(
    mut stream: TcpStream,
    peer: SocketAddr,
    early_slot: Option<Slot>,
    held: (OwnedSemaphorePermit, Stop),
    shared: Arc<Shared>,
) {
    let (permit, stop) = held;
    let mut proxied = Proxied::No;
    if early_slot.is_none() {
        let header = proxy::read_header(&mut stream);
        match tokio::time::timeout(shared.handshake_timeout, header).await {
            Ok(Ok(p)) => proxied = p,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "bad PROXY protocol header");
                return;
            }
            Err(_) => return,
        }
    }
    let slot = match early_slot {
        Some(slot) => slot,
        None => {
            // Connection-level: no request headers yet.
            let client = proxy::client_addr(
                peer.ip(),
                &shared.server.trusted_proxies,
                proxied,
                std::iter::empty(),
            )
            .unwrap_or(peer.ip());
            match take_slot(&shared.slots, &shared.gateway, client) {
                Some(slot) => slot,
                None => return,
            }
        }
    };
    let conn = Conn {
        info: ConnInfo {
            peer: peer.ip(),
            proxied,
            client_cert: None,
        },
        state: slot.conn(),
        stop,
        // Held until the connection ends (moved into its task).
        guards: (permit, slot),
    };
    serve_tls_or_plain(stream, conn, &shared).await;
}

/// Takes a per-client connection slot for `client`, counting what happened.
fn take_slot(slots: &Arc<Slots>, gateway: &Gateway, client: IpAddr) -> Option<Slot> {
    match slots.take(client) {
        Some(taken) => {
            if taken.closed_idle {
                gateway.metrics.idle_connection_closed();
            }
            Some(taken.slot)
        }
        None => {
            gateway.metrics.connection_refused("max_connections_per_ip");
            None
        }
    }
}

/// What ends a connection early: server shutdown, or its slot handed to a
/// newer connection of the same client.
struct Stop {
    /// Turns true on server shutdown.
    shutdown: watch::Receiver<bool>,
    /// Counted by `serve` while it waits for connections to end.
    _live: watch::Receiver<()>,
}

/// An accepted connection on its way to hyper.
struct Conn<G> {
    info: ConnInfo,
    /// As the per-client cap sees it (requests in progress, told to close).
    state: Arc<slots::Conn>,
    stop: Stop,
    /// The connection-cap permit and slot, released when it ends.
    guards: G,
}

/// The TLS handshake under its deadline (or plain HTTP), then hyper.
async fn serve_tls_or_plain<G: Send + 'static>(
    stream: TcpStream,
    mut conn: Conn<G>,
    shared: &Shared,
) {
    let peer = conn.info.peer;
    let (builders, gateway) = (&shared.builders, shared.gateway.clone());
    match &shared.tls {
        Some(tls) => {
            let acceptor = TlsAcceptor::from(tls.current());
            let handshake = acceptor.accept(stream);
            match tokio::time::timeout(shared.handshake_timeout, handshake).await {
                Ok(Ok(s)) => {
                    conn.info.client_cert = s
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
                    spawn_conn(s, proto, conn, builders, gateway);
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
        // Plain HTTP: HTTP/1.1, or HTTP/2 with prior knowledge.
        None => spawn_conn(stream, Proto::Auto, conn, builders, gateway),
    }
}

/// hyper's connection builders, configured alike from `[server]`.
struct Builders {
    /// HTTP/1.1 or HTTP/2 by the connection's preface (plain HTTP).
    auto: auto::Builder<TokioExecutor>,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    /// hyper's HTTP/1 head bounds, for the framing scan.
    max_head: usize,
    max_headers: usize,
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
        Builders {
            auto,
            http1,
            http2,
            max_head: server.max_header_bytes,
            max_headers: server.max_headers,
        }
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
/// idle memory per connection). Its guards (the connection-cap permit and
/// slot) are released when the connection ends.
fn spawn_conn<IO, G>(
    io: IO,
    proto: Proto,
    conn: Conn<G>,
    builders: &Builders,
    gateway: Arc<Gateway>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    G: Send + 'static,
{
    let Conn {
        info,
        state,
        stop,
        guards,
    } = conn;
    let peer: SocketAddr = SocketAddr::new(info.peer, 0);
    let info = Arc::new(info);
    let metrics = gateway.metrics.clone();
    let requests = state.clone();
    // Layer order, outermost first:
    let service = ServiceBuilder::new()
        // A panic anywhere below becomes a fixed 500, never a dropped process.
        .layer(CatchPanicLayer::custom(respond::panicked))
        // x-request-id: kept from the client or made, and echoed back.
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
        .layer(PropagateRequestIdLayer::x_request_id())
        // One span per request (method, path, request id); bodies never logged.
        .layer(TraceLayer::new_for_http())
        .service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            let gateway = gateway.clone();
            req.extensions_mut().insert(info.clone());
            // In progress until the handler's future ends (or is dropped):
            // a busy connection is never closed to make room.
            let busy = requests.request();
            // Boxed: hyper keeps a slot the size of this future for the
            // whole connection; a box is allocated only while a request runs.
            Box::pin(async move {
                let _busy = busy;
                Ok::<_, Infallible>(handle(gateway, req).await)
            })
        });
    let service = hyper_util::service::TowerToHyperService::new(service);
    // HTTP/1 request heads are scanned for ambiguous framing before hyper
    // reads them (see `framing`); HTTP/2 frames its bodies itself.
    let framed = |io| Framed::new(io, builders.max_head, builders.max_headers, metrics);
    match proto {
        Proto::Http1 => {
            let c = builders
                .http1
                .serve_connection(TokioIo::new(framed(io)), service);
            tokio::spawn(watch(c, state, stop, peer, guards));
        }
        Proto::Http2 => {
            let c = builders.http2.serve_connection(TokioIo::new(io), service);
            tokio::spawn(watch(c, state, stop, peer, guards));
        }
        Proto::Auto => {
            let c = builders
                .auto
                .serve_connection(TokioIo::new(framed(io)), service)
                .into_owned();
            tokio::spawn(watch(c, state, stop, peer, guards));
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
        // `{prefix:016x}{n:016x}` without the formatting machinery.
        let id = (u128::from(prefix) << 64) | u128::from(n);
        let mut hex = [0u8; 32];
        hex::encode_to_slice(id.to_be_bytes(), &mut hex).ok()?;
        http::HeaderValue::from_bytes(&hex).ok().map(RequestId::new)
    }
}

/// Drives `conn` to its end; on server shutdown, or when its slot went to a
/// newer connection, shuts it down gracefully (requests in progress finish,
/// an idle HTTP/1.1 connection closes at once, HTTP/2 sends GOAWAY).
async fn watch<C, G>(conn: C, state: Arc<slots::Conn>, stop: Stop, peer: SocketAddr, guards: G)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let _guards = guards;
    let Stop {
        mut shutdown,
        _live,
    } = stop;
    let graceful = GracefulShutdown::new();
    let served = graceful.watch(conn);
    tokio::pin!(served);
    let stopping = async {
        tokio::select! {
            // A dropped sender: the server is gone too.
            _ = shutdown.wait_for(|s| *s) => {}
            () = state.closing() => tracing::debug!(%peer, "idle connection closed for a newer one"),
        }
    };
    let result = tokio::select! {
        r = &mut served => r,
        () = stopping => {
            // Its sender gone, the watcher calls `graceful_shutdown` (not
            // `shutdown()`: that waits for the watcher, held by `served`
            // until this function returns).
            drop(graceful);
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
