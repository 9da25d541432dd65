//! Trace context: W3C `traceparent` / `tracestate` in and out, spans, and
//! the optional OTLP/HTTP export (`[telemetry] otlp_endpoint`).
//!
//! Each process (a gateway, a worker) owns one [`Tracer`]: the tracer
//! provider is not process-global, so two gateways in one test process
//! export to their own collectors. (That is also why spans are made with
//! the OpenTelemetry API directly rather than through a
//! `tracing-opentelemetry` layer: the `tracing` subscriber is global; log
//! lines name the `trace_id` where a request is stored.) Without an endpoint the provider has no
//! processor: spans still get ids (what goes into the AMQP headers) and are
//! dropped when they end, nothing is exported.
//!
//! Incoming context is untrusted: [`extract`] takes a `traceparent` only in
//! the exact version-00 form (`00-<32 hex>-<16 hex>-<2 hex>`, lowercase,
//! ids not all zero) and a `tracestate` of at most [`MAX_TRACESTATE`]
//! printable ASCII bytes (it may come from an AMQP header, and is sent on
//! as an HTTP header); anything else starts a new trace (or drops the
//! state), never fails a request. The
//! parsing is `opentelemetry_sdk`'s `TraceContextPropagator` (and [`inject`]
//! writes exactly the header text it writes; a test compares them); the
//! shape check in front of it only refuses
//! what the propagator would read leniently (`+1`, short ids).

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Link, Status, TraceContextExt, TraceFlags, Tracer as _, TracerProvider as _,
};
use opentelemetry::{KeyValue, Value};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator as _, RandomIdGenerator, Sampler, SamplingDecision, SdkTracer, SdkTracerProvider,
    ShouldSample as _,
};
use opentelemetry_sdk::Resource;

pub use opentelemetry::context::FutureExt;
pub use opentelemetry::trace::{SpanContext, SpanKind};
pub use opentelemetry::Context;

/// The W3C trace-context header with the trace and parent span ids.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The W3C vendor-specific trace state header.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// Longest `tracestate` taken from a request or a message, in bytes (the
/// W3C limit for propagating is 512); a longer one is dropped.
pub const MAX_TRACESTATE: usize = 512;
/// Length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;
/// Path the OTLP/HTTP collector takes spans on, after `otlp_endpoint`.
pub const OTLP_TRACES_PATH: &str = "/v1/traces";
/// Most links a span keeps (a worker batch links its other messages').
pub const MAX_LINKS: usize = 128;
/// Bound of one export (its POST and the exporter's retries).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest [`Tracer::shutdown`] waits for the last export.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a process's tracer is built from (plain values: the config
/// sections are read by their owners).
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// Base URL of an OTLP/HTTP collector; spans go to
    /// `<endpoint>/v1/traces`. None: nothing is exported.
    pub otlp_endpoint: Option<&'a str>,
    /// `service.name` of the exported spans.
    pub service_name: &'a str,
    /// Share of new traces recorded (0..=1); a continued trace follows its
    /// parent's sampled flag.
    pub sample_ratio: f64,
}

/// The OTLP exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter for {endpoint}: {source}")]
pub struct Error {
    /// The traces URL.
    pub endpoint: String,
    /// The exporter's reason.
    #[source]
    pub source: opentelemetry_otlp::ExporterBuildError,
}

/// A process's tracer: makes spans, exports them when configured.
///
/// Without an exporter a span is only its ids: the same trace id, a new
/// span id and the sampler's sampled flag an exported span would get, in a
/// context its children and the injected `traceparent` read, but no
/// attributes, status or timing are kept (nothing would read them). The
/// request path then makes no span record at all.
#[derive(Clone, Debug)]
pub struct Tracer {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// Spans are recorded and exported (an OTLP endpoint is configured).
    exporting: bool,
    /// The provider's sampler, for the decision of a span that is not
    /// recorded.
    sampler: Sampler,
}

impl Tracer {
    /// A tracer per `settings`. Export runs on the SDK's own thread (a
    /// batch every few seconds); the request path only queues ended spans.
    ///
    /// # Errors
    /// [`Error`] when the exporter cannot be built (a malformed endpoint).
    pub fn new(settings: Settings<'_>) -> Result<Tracer, Error> {
        let resource = Resource::builder()
            .with_service_name(settings.service_name.to_owned())
            .build();
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_sampler(sampler.clone());
        if let Some(endpoint) = settings.otlp_endpoint {
            let endpoint = format!("{}{OTLP_TRACES_PATH}", endpoint.trim_end_matches('/'));
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|source| Error { endpoint, source })?;
            builder = builder.with_batch_exporter(exporter);
        }
        let provider = builder.build();
        let tracer = provider.tracer("hookgate");
        Ok(Tracer {
            provider,
            tracer,
            exporting: settings.otlp_endpoint.is_some(),
            sampler,
        })
    }

    /// A tracer that exports nothing (spans get ids, nothing else; every
    /// new trace sampled, as the SDK's default sampler decides).
    pub fn disabled() -> Tracer {
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("hookgate");
        Tracer {
            provider,
            tracer,
            exporting: false,
            sampler: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        }
    }

    /// Starts span `name` of `kind`, a child of `parent`'s span (a new
    /// trace when it has none).
    pub fn start(&self, name: &'static str, kind: SpanKind, parent: &Context) -> Span {
        self.start_linked(name, kind, parent, Vec::new())
    }

    /// Starts span `name` of `kind` under `parent` for a step whose own ids
    /// nothing reads unless spans are exported (a phase of a request, the
    /// outbox's publish or spool: no message or call carries them). Without
    /// an exporter it is `parent`'s context itself: no ids drawn and no
    /// sampler asked for a span that would be dropped unseen (~700
    /// instructions each). Its `set` and `fail` then do nothing (the parent
    /// is not recorded either), and ending it ends nothing.
    pub fn step(&self, name: &'static str, kind: SpanKind, parent: &Context) -> Span {
        if self.exporting {
            return self.start(name, kind, parent);
        }
        Span { cx: parent.clone() }
    }

    /// As [`Tracer::start`], linked to `links` (at most [`MAX_LINKS`] are
    /// kept): the other messages of a worker batch.
    pub fn start_linked(
        &self,
        name: &'static str,
        kind: SpanKind,
        parent: &Context,
        mut links: Vec<SpanContext>,
    ) -> Span {
        if !self.exporting {
            return Span {
                cx: parent.with_remote_span_context(self.ids_only(name, kind, parent)),
            };
        }
        links.truncate(MAX_LINKS);
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_links(links.into_iter().map(Link::with_context).collect())
            .start_with_context(&self.tracer, parent);
        Span {
            cx: parent.with_span(span),
        }
    }

    /// The span context the SDK would give a new span `name` under
    /// `parent` (its trace id or a new one, a new span id, the sampler's
    /// flag and trace state), for a span that is not recorded.
    fn ids_only(&self, name: &'static str, kind: SpanKind, parent: &Context) -> SpanContext {
        let ids = RandomIdGenerator::default();
        let span = parent.span();
        let up = span.span_context();
        let trace_id = if up.is_valid() {
            up.trace_id()
        } else {
            ids.new_trace_id()
        };
        let decision = self
            .sampler
            .should_sample(Some(parent), trace_id, name, &kind, &[], &[]);
        let flags = match decision.decision {
            SamplingDecision::RecordAndSample => up.trace_flags().with_sampled(true),
            SamplingDecision::RecordOnly => up.trace_flags().with_sampled(false),
            SamplingDecision::Drop => TraceFlags::default(),
        };
        SpanContext::new(
            trace_id,
            ids.new_span_id(),
            flags,
            false,
            decision.trace_state,
        )
    }

    /// Exports what is queued and stops the exporter. Blocks (at most
    /// 5 s, an unreachable collector included): call it off the async
    /// workers, once, at the end.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::debug!(error = %e, "tracer shutdown");
        }
    }
}

/// A started span; it ends when dropped (or at [`Span::end`]).
#[derive(Debug)]
pub struct Span {
    cx: Context,
}

impl Span {
    /// The context with this span: the parent of its children.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The span's trace id, hex (for log lines).
    pub fn trace_id(&self) -> String {
        self.cx.span().span_context().trace_id().to_string()
    }

    /// Sets attribute `key`.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span failed with `reason` (a fixed text or an error's
    /// display, never request data).
    pub fn fail(&self, reason: impl Into<Cow<'static, str>>) {
        self.cx.span().set_status(Status::error(reason));
    }

    /// `traceparent` (and `tracestate` when not empty) naming this span as
    /// the parent: the headers of a message or an outgoing call.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        inject(&self.cx)
    }

    /// Ends the span now.
    pub fn end(self) {}
}

impl Drop for Span {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

/// The remote parent named by `traceparent` / `tracestate` (header or
/// AMQP header values), or an empty context (a new trace) when it is
/// missing or not a well-formed version-00 value.
pub fn extract(traceparent: Option<&str>, tracestate: Option<&str>) -> Context {
    let Some(traceparent) = traceparent.filter(|v| well_formed(v)) else {
        return Context::new();
    };
    let carrier = Carrier {
        traceparent,
        tracestate: tracestate
            .filter(|s| s.len() <= MAX_TRACESTATE && s.bytes().all(|b| (0x20..=0x7e).contains(&b))),
    };
    TraceContextPropagator::new().extract(&carrier)
}

/// The parent and the links of a span over several messages (a worker
/// batch, a spool forward round), from each message's extracted context in
/// order: the first valid one is the parent; every other distinct span
/// context is a link (messages of one request share one: linked once), at
/// most [`MAX_LINKS`]. No valid context: an empty one (a new trace), no
/// links.
pub fn batch_parent(contexts: impl IntoIterator<Item = Context>) -> (Context, Vec<SpanContext>) {
    let mut traced = contexts
        .into_iter()
        .filter_map(|cx| span_context(&cx).map(|sc| (cx, sc)));
    let Some((parent, first)) = traced.next() else {
        return (Context::new(), Vec::new());
    };
    let mut seen = std::collections::HashSet::from([first.span_id()]);
    let links = traced
        .filter(|(_, sc)| seen.insert(sc.span_id()))
        .take(MAX_LINKS)
        .map(|(_, sc)| sc)
        .collect();
    (parent, links)
}

/// The span context `cx` carries, when valid (for links).
pub fn span_context(cx: &Context) -> Option<SpanContext> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// `traceparent` (and a non-empty `tracestate`) of `cx`'s span; empty
/// when it has no valid span.
///
/// The values [`TraceContextPropagator`]'s `inject_context` writes (W3C
/// Trace Context, section 3.2: version `00`, the ids as lowercase hex, the
/// `sampled` flag only), formatted into a stack buffer: the propagator's
/// `format!` of the ids cost ~2,400 instructions per message, this ~200
/// (`scripts/instructions.sh`). A test compares the two on random contexts.
pub fn inject(cx: &Context) -> Vec<(&'static str, String)> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return Vec::new();
    }
    let mut value = [0u8; TRACEPARENT_LEN];
    value[..3].copy_from_slice(b"00-");
    value[35] = b'-';
    value[52] = b'-';
    let flags = [(sc.trace_flags() & TraceFlags::SAMPLED).to_u8()];
    // The slices have exactly twice the bytes' length: cannot fail.
    let hexed = hex::encode_to_slice(sc.trace_id().to_bytes(), &mut value[3..35])
        .and(hex::encode_to_slice(
            sc.span_id().to_bytes(),
            &mut value[36..52],
        ))
        .and(hex::encode_to_slice(flags, &mut value[53..]));
    let (Ok(()), Ok(value)) = (hexed, std::str::from_utf8(&value)) else {
        return Vec::new();
    };
    let mut out = vec![(TRACEPARENT_HEADER, value.to_owned())];
    let state = sc.trace_state().header();
    if !state.is_empty() {
        out.push((TRACESTATE_HEADER, state));
    }
    out
}

/// `value` is `00-<32 lowercase hex>-<16 lowercase hex>-<2 lowercase hex>`.
/// (All-zero ids are refused by the propagator.)
fn well_formed(value: &str) -> bool {
    let b = value.as_bytes();
    let hex = |s: &[u8]| {
        s.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    b.len() == TRACEPARENT_LEN
        && b.starts_with(b"00-")
        && b[35] == b'-'
        && b[52] == b'-'
        && hex(&b[3..35])
        && hex(&b[36..52])
        && hex(&b[53..55])
}

/// The two header values the propagator reads.
struct Carrier<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT_HEADER => Some(self.traceparent),
            TRACESTATE_HEADER => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT_HEADER, TRACESTATE_HEADER]
    }
}

#[cfg(test)]
mod tests;
