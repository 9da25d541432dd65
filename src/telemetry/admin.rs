//! The admin listener (plain HTTP, bind it to loopback or a private network):
//! `GET /healthz` 200 while the process runs; `GET /readyz` 200 while the
//! broker connection is up and unblocked or the spool can take messages (its
//! file healthy, not being reopened after an I/O error, and not full), else
//! 503; `GET /metrics` the OpenMetrics text of [`Metrics`].

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Metrics;
use crate::broker::Status;
use crate::outbox::Outbox;

/// Content type of `/metrics` (prometheus-client writes OpenMetrics text).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves the admin endpoints until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    outbox: Outbox,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(5));
    let builder = Arc::new(builder);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(s) => s,
                Err(_) => continue,
            },
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
                continue;
            }
        };
        let outbox = outbox.clone();
        let metrics = metrics.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let resp = answer(&req, &outbox, &metrics);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn answer<B>(req: &Request<B>, outbox: &Outbox, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        (&Method::GET, "/readyz") => match outbox.publisher().status() {
            Status::Connected => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
            _ if outbox.ready() => (
                StatusCode::OK,
                "text/plain",
                "ready (spooling: broker not available)\n".to_owned(),
            ),
            Status::Blocked => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "broker blocked\n".to_owned(),
            ),
            Status::Disconnected => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "broker disconnected\n".to_owned(),
            ),
        },
        (&Method::GET, "/metrics") => {
            if let Some(spool) = outbox.spool() {
                metrics.spool_oldest_age.set(spool.oldest_age_seconds());
            }
            (StatusCode::OK, METRICS_CONTENT_TYPE, metrics.encode())
        }
        (_, "/healthz" | "/readyz" | "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ctype),
    );
    resp
}
