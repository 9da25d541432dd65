//! Settling a message once its outcome is known: marked done and acked,
//! handed to a retry queue, or dead-lettered (each publish confirmed
//! before the ack).

use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::types::{AMQPValue, LongString};

use super::batch::Pending;
use super::consume::{self, ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER};
use super::ctx::{Ctx, SessionError};
use crate::broker::Publisher;
use crate::salesforce::rest::ApiError;

/// Settles each message by its record's result: done (marked, acked),
/// retried or dead-lettered; `path` counts the written ones.
///
/// # Errors
/// [`SessionError`] when the store, an ack or a publish fails.
pub(crate) async fn settle(
    ctx: &Ctx,
    publisher: &Publisher,
    path: &str,
    results: Vec<(Pending, Result<(), ApiError>)>,
) -> Result<(), SessionError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (p, r) in results {
        match r {
            Ok(()) => done.push(p),
            Err(e) => failed.push((p, e)),
        }
    }
    ctx.store
        .done(done.iter().map(|p| p.key.clone()).collect())
        .await?;
    for p in &done {
        p.delivery.ack(BasicAckOptions::default()).await?;
    }
    ctx.metrics.processed.inc_by(done.len() as u64);
    ctx.metrics.path_written(path, done.len());
    ctx.store
        .release(failed.iter().map(|(p, _)| p.key.clone()).collect())
        .await?;
    for (p, e) in failed {
        if e.retryable() {
            retry(ctx, publisher, &p, &e).await?;
        } else {
            dead_letter(
                ctx,
                publisher,
                &p.delivery,
                &p.queue,
                p.attempt,
                &e,
                &e.code,
            )
            .await?;
        }
    }
    Ok(())
}

/// Hands a retryable failure to its retry queue (attempt + 1), or past
/// `max_attempts` to the dead-letter queue.
///
/// # Errors
/// [`SessionError`] when the publish or the ack fails.
pub(crate) async fn retry(
    ctx: &Ctx,
    publisher: &Publisher,
    p: &Pending,
    e: &ApiError,
) -> Result<(), SessionError> {
    let w = &ctx.config.worker;
    if p.attempt >= w.max_attempts {
        let reason = ApiError::new(
            e.code.clone(),
            format!("gave up after {} attempts: {}", p.attempt, e.message),
        );
        return dead_letter(
            ctx,
            publisher,
            &p.delivery,
            &p.queue,
            p.attempt,
            &reason,
            "max_attempts",
        )
        .await;
    }
    let idx = (p.attempt as usize - 1).min(w.retry_delays_s.len() - 1);
    let target = consume::retry_queue(&p.queue, w.retry_delays_s[idx]);
    consume::republish(
        publisher,
        &p.delivery,
        &target,
        &[
            (
                ATTEMPT_HEADER,
                AMQPValue::LongLongInt(i64::from(p.attempt) + 1),
            ),
            (
                ERROR_HEADER,
                AMQPValue::LongString(LongString::from(e.to_string())),
            ),
        ],
        &[],
    )
    .await?;
    p.delivery.ack(BasicAckOptions::default()).await?;
    ctx.metrics.retried.inc();
    Ok(())
}

/// Dead-letters one delivery with `e` as its reason (confirmed), then acks it.
pub(crate) async fn dead_letter(
    ctx: &Ctx,
    publisher: &Publisher,
    d: &Delivery,
    queue: &str,
    attempt: u32,
    e: &ApiError,
    reason: &str,
) -> Result<(), SessionError> {
    tracing::warn!(routing_key = %consume::routing_key(d), error = %e, "dead-lettering");
    consume::republish(
        publisher,
        d,
        &ctx.config.worker.dead_letter_queue,
        &[
            (
                ERROR_HEADER,
                AMQPValue::LongString(LongString::from(e.to_string())),
            ),
            (QUEUE_HEADER, AMQPValue::LongString(LongString::from(queue))),
            (ATTEMPT_HEADER, AMQPValue::LongLongInt(i64::from(attempt))),
        ],
        &[],
    )
    .await?;
    d.ack(BasicAckOptions::default()).await?;
    ctx.metrics.dead_letter(reason);
    Ok(())
}
