//! The `salesforce` span of one REST call: a client span under the worker's
//! `batch` span (the task's current trace context), whose `traceparent` is
//! sent on the call too (Salesforce ignores it; a proxy in between may
//! not).

use crate::telemetry::trace::{Context, Span, SpanKind, Tracer};

/// Starts the span of a `method` call to `path` (its query left out: a
/// SOQL query may name data) under the current context.
pub(super) fn start(tracer: &Tracer, method: &reqwest::Method, path: &str) -> Span {
    let span = tracer.start("salesforce", SpanKind::Client, &Context::current());
    span.set("http.request.method", method.as_str().to_owned());
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    span.set("url.path", path.to_owned());
    span
}

/// `req` with the span's `traceparent` (and `tracestate`); a value that is
/// not a valid header value is left out, never failing the call.
pub(super) fn propagate(req: reqwest::RequestBuilder, span: &Span) -> reqwest::RequestBuilder {
    span.headers().into_iter().fold(req, |req, (name, value)| {
        match reqwest::header::HeaderValue::from_str(&value) {
            Ok(v) => req.header(name, v),
            Err(_) => req,
        }
    })
}

/// Records the answer's status (a 4xx/5xx marks the span failed).
pub(super) fn answered(span: &Span, status: u16) {
    span.set("http.response.status_code", i64::from(status));
    if status >= 400 {
        span.fail(format!("HTTP {status}"));
    }
}

/// Marks the span failed by a transport error.
pub(super) fn failed(span: &Span, e: &reqwest::Error) {
    let reason = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    span.fail(reason);
}
