//! What the session hands to the lanes: messages with their writes
//! ([`Pending`]) in batches of one (org, operation, sObject, external id
//! field) key ([`Batch`]), and how a batch is cut into collections calls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use lapin::message::Delivery;

use super::action::Write;
use crate::telemetry::trace::{self, Context, Span, SpanContext, SpanKind, Tracer};

/// One message waiting in a batch.
pub(crate) struct Pending {
    pub(super) delivery: Delivery,
    pub(super) queue: Arc<str>,
    /// What the idempotency store claimed ([`super::consume::idempotency_key`]).
    pub(super) key: String,
    pub(super) attempt: u32,
    pub(super) write: Write,
    /// Fitted to the org's describe ([`super::schema::Schema::prepare`]);
    /// false when the describe came after the message was built.
    pub(super) prepared: bool,
}

/// Writes of one (org, operation, sObject, external id field) that share a
/// collections call or, gathered from a backlog, an ingest job.
pub(crate) struct Batch {
    pub(super) started: Instant,
    /// When the last item came.
    pub(super) last: Instant,
    pub(super) items: Vec<Pending>,
    pub(super) records: HashSet<String>,
    /// Opened while a backlog is gathered ([`super::bulk`]): it takes up to
    /// `max_records_per_job` writes, several to one record among them,
    /// and closes when no write came for `gather_linger_ms`.
    pub(super) gather: bool,
}

impl Batch {
    /// An empty batch starting now.
    pub(super) fn new(gather: bool) -> Batch {
        Batch {
            started: Instant::now(),
            last: Instant::now(),
            items: Vec::new(),
            records: HashSet::new(),
            gather,
        }
    }

    /// The `batch` span: a child of the trace of the first message that
    /// carries one (the request that published it), linked to the others'
    /// (at most [`trace::MAX_LINKS`]); a new trace when none does.
    pub(super) fn span(&self, tracer: &Tracer) -> Span {
        let (parent, links) = trace::batch_parent(self.items.iter().map(|p| {
            let header = |name| super::consume::header(&p.delivery, name);
            trace::extract(
                header(trace::TRACEPARENT_HEADER).as_deref(),
                header(trace::TRACESTATE_HEADER).as_deref(),
            )
        }));
        self.started(tracer, &parent, links)
    }

    /// The `batch` span under `parent`, linked to `links`.
    fn started(&self, tracer: &Tracer, parent: &Context, links: Vec<SpanContext>) -> Span {
        let span = tracer.start_linked("batch", SpanKind::Consumer, parent, links);
        span.set("messaging.system", "rabbitmq");
        span.set("messaging.batch.message_count", self.items.len() as i64);
        span.set("hookgate.gather", self.gather);
        span
    }
}

/// `items` in order, cut into calls of at most `size` writes with at most
/// one write per record (a second write to a record starts the next call,
/// so writes to one record keep their order).
pub(crate) fn chunks<T>(items: Vec<T>, size: usize, write: impl Fn(&T) -> &Write) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut records = HashSet::new();
    for p in items {
        let record = write(&p).record_key();
        let full = out.last().is_none_or(|c| c.len() >= size);
        if full || records.contains(&record) {
            out.push(Vec::new());
            records.clear();
        }
        records.insert(record);
        if let Some(c) = out.last_mut() {
            c.push(p);
        }
    }
    out
}
