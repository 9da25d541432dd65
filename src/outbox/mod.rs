//! Where an accepted request's messages go: the confirm fast path, with the
//! spool as the fallback (issue: never lose an acked request).
//!
//! ```text
//! broker up -> publish, wait up to spool.after_ms for every confirm -> Confirmed
//!   no confirm in time / nack / channel error  \
//! broker down or blocked                         -> spool.write (fsync) -> Spooled
//! spool disabled -> publish with confirm_timeout_ms, any failure -> 503
//! spool full, spool I/O error, unroutable (basic.return: only without the
//!   alternate exchange, see `amqp.unroutable_queue`) -> 503
//! ```
//! A message confirmed late after being spooled is published twice (same
//! `message_id`); consumers dedupe. Nothing answered 2xx is only in memory.

pub mod spool;

use std::time::Duration;

use self::spool::Spool;
use crate::broker::{self, Publisher, Status};
use crate::envelope::Message;
use crate::telemetry::trace::{Context, Span, SpanKind, Tracer};

/// Where the messages ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The broker confirmed every message.
    Confirmed,
    /// Written to the spool (fsynced); the forwarder will publish them.
    Spooled,
}

/// Why the messages could not be stored anywhere: answered 503.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not confirmed and no spool to fall back on, or unroutable.
    #[error(transparent)]
    Publish(#[from] broker::Error),
    /// The spool refused (full) or failed.
    #[error(transparent)]
    Spool(#[from] spool::Error),
}

/// Publisher plus optional spool.
#[derive(Clone)]
pub(crate) struct Outbox {
    publisher: Publisher,
    spool: Option<Spool>,
    after: Duration,
    /// Makes the `publish` and `spool` spans.
    tracer: Tracer,
}

impl Outbox {
    /// `after` is the fast-path budget (`spool.after_ms`).
    pub(crate) fn new(publisher: Publisher, spool: Option<Spool>, after: Duration) -> Self {
        Outbox {
            publisher,
            spool,
            after,
            tracer: Tracer::disabled(),
        }
    }

    /// The same outbox making its spans with `tracer`.
    pub(crate) fn with_tracer(self, tracer: Tracer) -> Self {
        Outbox { tracer, ..self }
    }

    /// The tracer of its spans (the gateway's).
    pub(crate) fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Stores `messages` durably: confirmed by the broker or fsynced to the
    /// spool. The `publish` (confirm wait) and `spool` (write and fsync)
    /// spans are children of `parent`.
    ///
    /// # Errors
    /// [`Error`] when neither holds them; the caller answers 503.
    pub(crate) async fn store(
        &self,
        messages: &[Message],
        parent: &Context,
    ) -> Result<Stored, Error> {
        let Some(spool) = &self.spool else {
            let span = self.span("publish", SpanKind::Producer, parent, messages);
            self.publisher
                .publish(messages)
                .await
                .inspect_err(|e| fail(&span, e))?;
            return Ok(Stored::Confirmed);
        };
        if self.publisher.status() == Status::Connected {
            let span = self.span("publish", SpanKind::Producer, parent, messages);
            match self.publisher.publish_within(messages, self.after).await {
                Ok(()) => return Ok(Stored::Confirmed),
                // No queue is bound for this routing key: spooling would only
                // return it again. A configuration problem: 503.
                Err(e @ (broker::Error::Returned(_) | broker::Error::Uncarriable(_))) => {
                    fail(&span, &e);
                    return Err(e.into());
                }
                Err(e) => {
                    fail(&span, &e);
                    tracing::warn!(error = %e, "not confirmed in time; spooling");
                }
            }
        }
        let span = self.span("spool", SpanKind::Internal, parent, messages);
        spool
            .write(messages)
            .await
            .inspect_err(|e| fail(&span, e))?;
        Ok(Stored::Spooled)
    }

    /// A span of this outbox's step `name` over `messages`.
    fn span(
        &self,
        name: &'static str,
        kind: SpanKind,
        parent: &Context,
        messages: &[Message],
    ) -> Span {
        let span = self.tracer.step(name, kind, parent);
        span.set("messaging.system", "rabbitmq");
        span.set("messaging.batch.message_count", messages.len() as i64);
        span
    }

    /// Ready to take messages: the broker is up, or the spool has room.
    pub(crate) fn ready(&self) -> bool {
        self.publisher.status() == Status::Connected
            || self.spool.as_ref().is_some_and(Spool::can_accept)
    }

    /// The publisher.
    pub(crate) fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// The spool, when enabled.
    pub(crate) fn spool(&self) -> Option<&Spool> {
        self.spool.as_ref()
    }
}

/// Marks `span` failed with `e`'s text (it names the cause, never data).
fn fail(span: &Span, e: &impl std::fmt::Display) {
    span.fail(e.to_string());
}
