//! The admin listener of both processes, the gateway and the worker (plain
//! HTTP, bind it to loopback or a private network): `GET /healthz` 200 while
//! the process runs; `GET /readyz` 200 or 503 as the process's [`Probes`]
//! answer; `GET /metrics` the OpenMetrics text the probes produce; `GET /`
//! (and `HEAD /`) the operations page ([`super::page`]), rendered from that
//! same text. Other methods on these paths get 405, other paths 404.
//!
//! The probes are closures so that this module knows nothing of what makes a
//! process ready (the gateway: broker or spool; the worker: its consumer).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::page::{self, History};

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
    let history = Arc::new(History::default());
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
        let history = history.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let resp = answer(&req, &probes, &history);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn answer<B>(req: &Request<B>, probes: &Probes, history: &History) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain";
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => return ops_page(req.method(), probes, history),
        (&Method::GET, "/healthz") => (StatusCode::OK, TEXT, "ok\n".to_owned()),
        (&Method::GET, "/readyz") => match (probes.ready)() {
            Readiness::Ready(text) => (StatusCode::OK, TEXT, text.to_owned()),
            Readiness::NotReady(text) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, text.to_owned()),
        },
        (&Method::GET, "/metrics") => (StatusCode::OK, METRICS_CONTENT_TYPE, (probes.metrics)()),
        (_, "/" | "/healthz" | "/readyz" | "/metrics") => (
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

/// `/`: the operations page from the metrics text of this moment, with the
/// headers that keep it inert (no script, not framed, not cached, not
/// sniffed). `HEAD` gets the headers without the body.
fn ops_page(method: &Method, probes: &Probes, history: &History) -> Response<Full<Bytes>> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let html = history.render(&(probes.metrics)(), now);
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(html)
    };
    let mut resp = Response::new(Full::new(body));
    let h = resp.headers_mut();
    let static_headers = [
        (header::CONTENT_TYPE, page::CONTENT_TYPE),
        (header::CONTENT_SECURITY_POLICY, page::CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in static_headers {
        h.insert(name, header::HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use http::{Method, Request, StatusCode};
    use http_body_util::BodyExt as _;

    use super::{answer, History, Probes, Readiness, METRICS_CONTENT_TYPE};

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
        let resp = answer(&req, probes, &History::default());
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

    #[tokio::test]
    async fn ops_page_is_inert_html_for_get_and_head_only() {
        let p = Probes {
            ready: Arc::new(|| Readiness::Ready("ready\n")),
            metrics: Arc::new(|| {
                "# TYPE hookgate_requests counter\n\
                 hookgate_requests_total{route=\"github\",outcome=\"accepted\"} 3\n# EOF\n"
                    .to_owned()
            }),
        };
        let req = |m: Method| {
            Request::builder()
                .method(m)
                .uri("/")
                .body(())
                .expect("request")
        };
        let resp = answer(&req(Method::GET), &p, &History::default());
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[http::header::CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = h[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(
            csp.starts_with("default-src 'none'; style-src 'unsafe-inline'"),
            "{csp}"
        );
        assert_eq!(h[http::header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[http::header::CACHE_CONTROL], "no-store");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let html = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(
            html.contains("<meta http-equiv=\"refresh\" content=\"5\">"),
            "{html}"
        );
        assert!(
            html.contains("<td>github</td><td>accepted</td><td class=\"n\">3</td>"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");

        let head = answer(&req(Method::HEAD), &p, &History::default());
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            head.headers()[http::header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = head.into_body().collect().await.expect("body").to_bytes();
        assert!(body.is_empty());
        for m in [Method::POST, Method::PUT, Method::DELETE] {
            assert_eq!(
                answer(&req(m), &p, &History::default()).status(),
                StatusCode::METHOD_NOT_ALLOWED
            );
        }
    }
}
