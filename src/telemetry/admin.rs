//! The admin listener of both processes, the gateway and the worker (plain
//! HTTP, bind it to loopback or a private network): `GET /healthz` 200 while
//! the process runs; `GET /readyz` 200 or 503 as the process's [`Probes`]
//! answer; `GET /metrics` the OpenMetrics text the probes produce. Other
//! methods on these paths get 405, other paths 404.
//!
//! The probes are closures so that this module knows nothing of what makes a
//! process ready (the gateway: broker or spool; the worker: its consumer).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Content type of `/metrics` (prometheus-client writes OpenMetrics text).
pub(crate) const METRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a client may take to send its request head: the admin port is
/// not the public one, but a stuck scraper must not hold a task forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What `/readyz` answers, with the text of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// 200.
    Ready(&'static str),
    /// 503.
    NotReady(&'static str),
}

/// What the admin listener asks the process it runs in, at each request.
#[derive(Clone)]
pub(crate) struct Probes {
    /// `/readyz`.
    pub(crate) ready: Arc<dyn Fn() -> Readiness + Send + Sync>,
    /// `/metrics`: the OpenMetrics text (a closure so that the process can
    /// set scrape-time gauges before encoding).
    pub(crate) metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

/// Serves the admin endpoints until `shutdown` turns true (or is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    probes: Probes,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(s) => s,
                Err(_) => continue,
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() { return; }
                continue;
            }
        };
        let probes = probes.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let resp = answer(&req, &probes);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn answer<B>(req: &Request<B>, probes: &Probes) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain";
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => (StatusCode::OK, TEXT, "ok\n".to_owned()),
        (&Method::GET, "/readyz") => match (probes.ready)() {
            Readiness::Ready(text) => (StatusCode::OK, TEXT, text.to_owned()),
            Readiness::NotReady(text) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, text.to_owned()),
        },
        (&Method::GET, "/metrics") => (StatusCode::OK, METRICS_CONTENT_TYPE, (probes.metrics)()),
        (_, "/healthz" | "/readyz" | "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "method not allowed\n".to_owned(),
        ),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ctype),
    );
    resp
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use http::{Method, Request, StatusCode};
    use http_body_util::BodyExt as _;

    use super::{answer, Probes, Readiness, METRICS_CONTENT_TYPE};

    fn probes(up: Arc<AtomicBool>) -> Probes {
        Probes {
            ready: Arc::new(move || {
                if up.load(Ordering::Relaxed) {
                    Readiness::Ready("ready\n")
                } else {
                    Readiness::NotReady("broker disconnected\n")
                }
            }),
            metrics: Arc::new(|| "# EOF\n".to_owned()),
        }
    }

    async fn get(probes: &Probes, method: Method, path: &str) -> (StatusCode, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("request");
        let resp = answer(&req, probes);
        let status = resp.status();
        let ctype = resp.headers()[http::header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            ctype,
            String::from_utf8(body.to_vec()).expect("utf-8"),
        )
    }

    #[tokio::test]
    async fn readyz_follows_the_probe_and_metrics_encodes() {
        let up = Arc::new(AtomicBool::new(false));
        let p = probes(up.clone());
        assert_eq!(
            get(&p, Method::GET, "/healthz").await,
            (StatusCode::OK, "text/plain".into(), "ok\n".into())
        );
        let (status, _, body) = get(&p, Method::GET, "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "broker disconnected\n")
        );
        up.store(true, Ordering::Relaxed);
        let (status, _, body) = get(&p, Method::GET, "/readyz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ready\n"));
        assert_eq!(
            get(&p, Method::GET, "/metrics").await,
            (
                StatusCode::OK,
                METRICS_CONTENT_TYPE.into(),
                "# EOF\n".into()
            )
        );
        assert_eq!(
            get(&p, Method::POST, "/metrics").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            get(&p, Method::GET, "/other").await.0,
            StatusCode::NOT_FOUND
        );
    }
}
