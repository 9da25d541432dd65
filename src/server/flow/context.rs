//! The request's trace context: its `request` span (continuing a valid
//! W3C `traceparent`), the phase spans under it, and the `traceparent` /
//! `tracestate` headers every message of the request carries (in the spool
//! too: they are message headers).

use std::borrow::Cow;

use http::{HeaderMap, HeaderName};

use crate::envelope::Message;
use crate::telemetry::trace::{self, Span, SpanKind, Tracer};

/// The `request` span of a request to route `route` (`none` when no route
/// has its path). A missing or hostile `traceparent` (not one visible-ASCII
/// header, not the version-00 form, all-zero ids) starts a new trace; a
/// repeated header is not taken either (W3C: one value).
pub(super) fn request(tracer: &Tracer, headers: &HeaderMap, route: &str) -> Span {
    // Names made once: a lookup by `&str` parses the name each time.
    const TRACEPARENT: HeaderName = HeaderName::from_static(trace::TRACEPARENT_HEADER);
    const TRACESTATE: HeaderName = HeaderName::from_static(trace::TRACESTATE_HEADER);
    let parent = trace::extract(single(headers, &TRACEPARENT), single(headers, &TRACESTATE));
    let span = tracer.start("request", SpanKind::Server, &parent);
    span.set("hookgate.route", route.to_owned());
    span
}

/// A phase span (`authenticate`) under the request span.
pub(super) fn phase(tracer: &Tracer, request: &Span, name: &'static str) -> Span {
    tracer.step(name, SpanKind::Internal, request.context())
}

/// Adds the request span's `traceparent` (and `tracestate`) to each of
/// `messages`: one Outbound Message's Notifications share it.
pub(super) fn stamp(request: &Span, messages: &mut [Message]) {
    let headers = request.headers();
    for m in messages {
        m.headers
            .extend(headers.iter().map(|(k, v)| (Cow::Borrowed(*k), v.clone())));
    }
}

/// Records the answer on the request span: the outcome label and status.
pub(super) fn answered(request: &Span, outcome: &'static str, status: u16) {
    request.set("hookgate.outcome", outcome);
    request.set("http.response.status_code", i64::from(status));
    if status >= 500 {
        request.fail(outcome);
    }
}

/// The value of `name` when the request has it exactly once, as text.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn message() -> Message {
        Message {
            routing_key: "r.e".into(),
            message_id: "m".into(),
            content_type: "application/json".into(),
            kind: "r.e".into(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            headers: vec![(Cow::Borrowed("x-hookgate-route"), "r".into())],
            body: bytes::Bytes::new(),
        }
    }

    #[test]
    fn one_traceparent_is_continued_two_are_not() {
        let tracer = Tracer::disabled();
        let mut headers = HeaderMap::new();
        headers.insert(trace::TRACEPARENT_HEADER, PARENT.parse().unwrap());
        let span = request(&tracer, &headers, "r");
        assert_eq!(span.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        headers.append(trace::TRACEPARENT_HEADER, PARENT.parse().unwrap());
        let span = request(&tracer, &headers, "r");
        assert_ne!(span.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn every_message_gets_the_request_span_after_its_own_headers() {
        let tracer = Tracer::disabled();
        let mut headers = HeaderMap::new();
        headers.insert(trace::TRACEPARENT_HEADER, PARENT.parse().unwrap());
        headers.insert(trace::TRACESTATE_HEADER, "v=1".parse().unwrap());
        let span = request(&tracer, &headers, "r");
        let mut messages = vec![message(), message()];
        stamp(&span, &mut messages);
        for m in &messages {
            let names: Vec<&str> = m.headers.iter().map(|(k, _)| k.as_ref()).collect();
            assert_eq!(names, ["x-hookgate-route", "traceparent", "tracestate"]);
            assert_eq!(m.headers[1].1, span.headers()[0].1);
            assert_eq!(m.headers[2].1, "v=1");
        }
    }
}
