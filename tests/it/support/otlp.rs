//! An in-process OTLP/HTTP collector: a hyper server on 127.0.0.1:0 that
//! records every POST to `/v1/traces` (protobuf, as `opentelemetry-otlp`
//! sends with `http-proto`) and decodes its spans.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;
use tokio::task::JoinHandle;

/// One exported span, as the collector received it.
#[derive(Debug, Clone)]
pub struct Span {
    /// `service.name` of its resource.
    pub service: String,
    pub name: String,
    /// Hex ids (empty parent: a root span).
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// Linked span contexts: (trace id, span id), hex.
    pub links: Vec<(String, String)>,
    /// String, integer and boolean attributes, as text.
    pub attributes: Vec<(String, String)>,
}

impl Span {
    /// The text of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What the collector saw.
#[derive(Default)]
struct Seen {
    spans: Vec<Span>,
    /// Requests not to `POST /v1/traces` with a protobuf body.
    strays: Vec<String>,
}

/// The running collector; stops when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Collector {
    pub async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind collector");
        let addr = listener.local_addr().expect("collector addr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let seen = seen.clone();
                        async move { Ok::<_, hyper::Error>(receive(&seen, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Collector { addr, seen, task }
    }

    /// `otlp_endpoint` for a config.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.lock().spans.clone()
    }

    /// Waits (up to `within`) until `done` holds for the spans received;
    /// returns them.
    pub async fn wait(&self, within: Duration, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "collector did not get the spans in {within:?}; got {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Requests that were not an OTLP/HTTP protobuf export.
    pub fn strays(&self) -> Vec<String> {
        self.lock().strays.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(seen: &Mutex<Seen>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let what = format!(
        "{} {} {:?}",
        req.method(),
        req.uri().path(),
        req.headers().get("content-type")
    );
    let ok = req.method() == "POST"
        && req.uri().path() == "/v1/traces"
        && req
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/x-protobuf");
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let decoded = ok
        .then(|| ExportTraceServiceRequest::decode(body.as_ref()).ok())
        .flatten();
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    match decoded {
        Some(export) => seen.spans.extend(spans(export)),
        None => seen.strays.push(what),
    }
    // An empty ExportTraceServiceResponse.
    Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

fn spans(export: ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in export.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(Span {
                    service: service.clone(),
                    name: s.name,
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent_span_id: hex::encode(&s.parent_span_id),
                    links: s
                        .links
                        .iter()
                        .map(|l| (hex::encode(&l.trace_id), hex::encode(&l.span_id)))
                        .collect(),
                    attributes: s
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    out
}

fn text(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}
