//! Accept loop: TCP, TLS handshake under a deadline, hyper's HTTP/1.1 + HTTP/2
//! server with header-read timeout and stream limits, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
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
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::handle::handle;
use super::Gateway;

/// TLS handshake deadline.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; past it new connections are closed at accept.
pub const MAX_CONNECTIONS: usize = 4096;
/// HTTP/1 header lines accepted.
pub const MAX_HEADERS: usize = 100;
/// HTTP/2 concurrent streams per connection.
pub const MAX_CONCURRENT_STREAMS: u32 = 100;

/// Listener settings taken from `[server]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time to receive a request head.
    pub header_read_timeout: Duration,
    /// Time in-flight requests get to finish after shutdown starts.
    pub shutdown_grace: Duration,
}

/// Serves until `shutdown` turns true, then stops accepting and waits up to
/// `shutdown_grace` for open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    gateway: Arc<Gateway>,
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(256))
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));

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
            tracing::warn!("connection limit reached; closing new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let gateway = gateway.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => serve_conn(tls, peer, &builder, gateway, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_conn(stream, peer, &builder, gateway, watcher).await,
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(settings.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

async fn serve_conn<IO>(
    io: IO,
    peer: SocketAddr,
    builder: &auto::Builder<TokioExecutor>,
    gateway: Arc<Gateway>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Layer order, outermost first:
    let service = ServiceBuilder::new()
        // A panic anywhere below becomes a fixed 500, never a dropped process.
        .layer(CatchPanicLayer::custom(panic_response))
        // x-request-id: kept from the client or made, and echoed back.
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        // One span per request (method, path, request id); bodies never logged.
        .layer(TraceLayer::new_for_http())
        .service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(handle(gateway, req).await) }
        });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
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
