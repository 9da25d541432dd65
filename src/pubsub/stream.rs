//! One subscription's life: open a `Subscribe` stream from the stored
//! replay id (or the preset on a first start), ask for events by
//! FetchRequest, publish each response's events with publisher confirms,
//! and only then save the last one's replay id (SALESFORCE.md section 9:
//! store a position only once every event before it is safely handled).
//!
//! ```text
//! load position -> Subscribe(CUSTOM | preset) -> FetchRequest(batch)
//!   -> FetchResponse: decode, publish, await confirms, save replay id
//!      (pending_num_requested = 0: the next FetchRequest goes first)
//!   -> keepalive (no events, requests outstanding): save latest_replay_id
//! any error: close, back off, reopen from the saved position
//! ```
//!
//! What may repeat: events confirmed whose replay id was not saved (a
//! confirm failed for a later event of the same response, the save failed,
//! the process died between confirm and save) are published again after
//! the reopen; consumers dedupe on `message_id`. What may not: an event
//! skipped. The saved id only moves past events that were confirmed; a
//! keepalive's `latest_replay_id` is saved only while the stream had
//! requests outstanding (nothing was held back for lack of a request).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pubsub_proto::{ConsumerEvent, FetchRequest, FetchResponse, ReplayPreset as WirePreset};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::client::{OrgLink, SchemaError};
use super::event::{carriable_id, fallback_id, identity};
use super::metrics::Metrics;
use super::replay::{Position, ReplayStore};
use crate::broker::{Publisher, Status};
use crate::config::pubsub::{ReplayPreset, Subscription};
use crate::envelope::{self, Message, PulledEvent};

/// Salesforce's error codes start with this (SALESFORCE.md section 9,
/// Errors \[ERR\]).
const CODE_PREFIX: &str = "sfdc.platform.eventbus.grpc.";
/// How long a publish of one response's events may wait for its confirms
/// before the stream is reopened.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping subscriber lets the writer finish the batches read.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(5);

/// One response, ready to publish: its messages and the position saved once
/// they are confirmed.
struct Batch {
    messages: Vec<Message>,
    /// How many of them carry the raw payload.
    undecodable: u64,
    /// The last event's replay id, or a keepalive's `latest_replay_id`.
    position: Option<Position>,
}

impl Batch {
    fn keepalive(position: Option<Position>) -> Batch {
        Batch {
            messages: Vec::new(),
            undecodable: 0,
            position,
        }
    }
}

/// Why a stream ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The process is stopping.
    Shutdown,
    /// Open again after a backoff; the label says why.
    Retry(String),
    /// The token was refused: ask for a new one, then open again.
    Auth,
    /// The broker is away: wait for it, then open again.
    Broker,
    /// Salesforce refused the stored replay id as older than its retention
    /// (`replayid.corrupted`): events may be lost; an operator decides.
    Stale,
    /// The stored position belongs to another topic.
    TopicChanged(String),
}

/// What one subscription needs.
pub(crate) struct Sub {
    pub(crate) config: Subscription,
    pub(crate) org: Arc<OrgLink>,
    pub(crate) store: ReplayStore,
    /// One process of a fleet streams it (Redis store).
    pub(crate) lease: super::lease::Lease,
    pub(crate) publisher: Publisher,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) silence: Duration,
    /// `amqp.cloudevents`.
    pub(crate) cloudevents: envelope::CloudEvents,
}

/// The replay position the stream starts from.
fn start_request(s: &Subscription, stored: Option<&Position>) -> Result<FetchRequest, Ended> {
    let mut req = FetchRequest {
        topic_name: s.topic.clone(),
        num_requested: s.batch as i32,
        ..FetchRequest::default()
    };
    match stored {
        Some(p) if p.topic != s.topic => return Err(Ended::TopicChanged(p.topic.clone())),
        Some(p) => {
            req.replay_preset = WirePreset::Custom as i32;
            req.replay_id = p.replay_id.clone();
        }
        None => {
            req.replay_preset = match s.replay_preset {
                ReplayPreset::Latest => WirePreset::Latest,
                ReplayPreset::Earliest => WirePreset::Earliest,
            } as i32;
        }
    }
    Ok(req)
}

impl Sub {
    /// Opens one stream and follows it until it ends.
    pub(crate) async fn stream_once(&self, shutdown: &mut watch::Receiver<bool>) -> Ended {
        let name = self.config.name.as_str();
        let stored = match self.store.load(name).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(subscription = name, error = %e, "cannot read the replay id");
                return Ended::Retry("store".into());
            }
        };
        let first = match start_request(&self.config, stored.as_ref()) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let (tx, rx) = mpsc::channel::<FetchRequest>(4);
        if tx.send(first).await.is_err() {
            return Ended::Retry("closed".into());
        }
        self.metrics
            .fetch_requests
            .get_or_create(&Metrics::sub(name))
            .inc();
        let req = match self.org.request(ReceiverStream::new(rx)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(subscription = name, error = %e, "no token for the Pub/Sub API");
                return Ended::Auth;
            }
        };
        let mut stream = match self.org.client().subscribe(req).await {
            Ok(s) => s.into_inner(),
            Err(status) => return self.ended_by(&status),
        };
        let streaming = self
            .metrics
            .streaming
            .get_or_create(&Metrics::sub(name))
            .clone();
        streaming.set(1);
        let ended = self.follow(&mut stream, &tx, stored, shutdown).await;
        streaming.set(0);
        ended
    }

    /// Follows the stream in two stages joined by a one-slot channel: the
    /// reader asks for events and decodes each response into a [`Batch`];
    /// the writer publishes a batch, awaits its confirms, then saves its
    /// position. So response n+1 is decoded while response n waits for its
    /// confirms, and at most two responses are held (bounded memory).
    async fn follow(
        &self,
        stream: &mut tonic::Streaming<FetchResponse>,
        tx: &mpsc::Sender<FetchRequest>,
        saved: Option<Position>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let (batches, rx) = mpsc::channel::<Batch>(1);
        let writer = self.write(rx, saved);
        tokio::pin!(writer);
        let reader = self.read(stream, tx, batches, shutdown);
        tokio::select! {
            failed = &mut writer => failed.unwrap_or(Ended::Retry("closed".into())),
            ended = reader => {
                // The stream ended; what was read is published and saved
                // first (a graceful stop waits a little for it).
                let drained = match ended {
                    Ended::Shutdown => tokio::time::timeout(DRAIN_ON_SHUTDOWN, writer).await.ok().flatten(),
                    _ => writer.await,
                };
                drained.unwrap_or(ended)
            }
        }
    }

    /// The reader stage: responses to batches until the stream ends.
    async fn read(
        &self,
        stream: &mut tonic::Streaming<FetchResponse>,
        tx: &mpsc::Sender<FetchRequest>,
        batches: mpsc::Sender<Batch>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let name = self.config.name.as_str();
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(self.silence, stream.message()) => n,
                _ = shutdown.changed() => return Ended::Shutdown,
            };
            let resp = match next {
                Err(_) => return Ended::Retry("silence".into()),
                Ok(Err(status)) => return self.ended_by(&status),
                Ok(Ok(None)) => return Ended::Retry("closed".into()),
                Ok(Ok(Some(r))) => r,
            };
            // Ask for the next batch first, so it travels while this one is
            // published.
            if resp.pending_num_requested == 0 {
                let more = FetchRequest {
                    topic_name: self.config.topic.clone(),
                    num_requested: self.config.batch as i32,
                    ..FetchRequest::default()
                };
                if tx.send(more).await.is_err() {
                    return Ended::Retry("closed".into());
                }
                self.metrics
                    .fetch_requests
                    .get_or_create(&Metrics::sub(name))
                    .inc();
            }
            let batch = if resp.events.is_empty() {
                Batch::keepalive(self.keepalive_position(&resp))
            } else {
                match self.batch(&resp.events).await {
                    Ok(b) => b,
                    Err(e) => return e,
                }
            };
            if batches.send(batch).await.is_err() {
                // The writer failed; it reports why.
                return Ended::Retry("closed".into());
            }
        }
    }

    /// The writer stage: publishes each batch, then saves its position.
    /// `None` when the reader stopped sending and every batch was written.
    async fn write(
        &self,
        mut batches: mpsc::Receiver<Batch>,
        mut saved: Option<Position>,
    ) -> Option<Ended> {
        let name = self.config.name.as_str();
        let labels = Metrics::sub(name);
        while let Some(batch) = batches.recv().await {
            if let Err(e) = self.publish(&batch).await {
                return Some(e);
            }
            let Some(mut p) = batch.position else {
                continue;
            };
            if p.replay_id.is_empty() || saved.as_ref().is_some_and(|s| s.replay_id == p.replay_id)
            {
                continue;
            }
            p.saved_at_ms = crate::store::now_ms();
            if let Err(e) = self.store.save(name, &p).await {
                tracing::warn!(subscription = name, error = %e, "cannot save the replay id");
                let n = batch.messages.len() as u64;
                self.metrics.duplicates.get_or_create(&labels).inc_by(n);
                return Some(Ended::Retry("store".into()));
            }
            self.metrics.commits.get_or_create(&labels).inc();
            if batch.messages.is_empty() {
                self.metrics.keepalive_commits.get_or_create(&labels).inc();
            }
            saved = Some(p);
        }
        None
    }

    /// The position a keepalive lets us save: its `latest_replay_id`, when
    /// the server held requests of ours (so it had nothing more to send).
    fn keepalive_position(&self, resp: &FetchResponse) -> Option<Position> {
        let id = &resp.latest_replay_id;
        if id.is_empty() || resp.pending_num_requested <= 0 {
            return None;
        }
        Some(self.position(id))
    }

    fn position(&self, replay_id: &[u8]) -> Position {
        Position {
            topic: self.config.topic.clone(),
            replay_id: replay_id.to_vec(),
            saved_at_ms: 0,
        }
    }

    /// One response's events as messages, with the last one's position.
    async fn batch(&self, events: &[ConsumerEvent]) -> Result<Batch, Ended> {
        let mut messages = Vec::with_capacity(events.len());
        let mut undecodable = 0u64;
        for e in events {
            let (m, decoded) = self.message(e).await?;
            undecodable += u64::from(!decoded);
            messages.push(m);
        }
        Ok(Batch {
            messages,
            undecodable,
            position: events.last().map(|e| self.position(&e.replay_id)),
        })
    }

    /// Publishes a batch's messages and waits for every confirm.
    async fn publish(&self, batch: &Batch) -> Result<(), Ended> {
        if batch.messages.is_empty() {
            return Ok(());
        }
        let name = self.config.name.as_str();
        let results = self
            .publisher
            .publish_each(&batch.messages, PUBLISH_TIMEOUT)
            .await;
        let confirmed = results.iter().filter(|r| r.is_ok()).count() as u64;
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            tracing::warn!(subscription = name, error = %e, confirmed, "publish failed; reopening from the saved replay id");
            self.metrics
                .duplicates
                .get_or_create(&Metrics::sub(name))
                .inc_by(confirmed);
            return Err(Ended::Broker);
        }
        let decoded = confirmed - batch.undecodable;
        self.metrics
            .events
            .get_or_create(&Metrics::reason(name, "decoded"))
            .inc_by(decoded);
        if batch.undecodable > 0 {
            self.metrics
                .events
                .get_or_create(&Metrics::reason(name, "undecodable"))
                .inc_by(batch.undecodable);
        }
        Ok(())
    }

    /// Logs a status that ended the stream (its code, Salesforce's error
    /// code and message: an `rpcId`, no credentials) and classifies it.
    fn ended_by(&self, status: &tonic::Status) -> Ended {
        tracing::warn!(
            subscription = %self.config.name,
            code = ?status.code(),
            error_code = error_code(status).unwrap_or_default(),
            message = status.message(),
            "Pub/Sub API error"
        );
        classify(status)
    }

    /// The message of one event and whether its payload decoded.
    async fn message(&self, e: &ConsumerEvent) -> Result<(Message, bool), Ended> {
        let name = self.config.name.as_str();
        let empty = pubsub_proto::ProducerEvent::default();
        let event = e.event.as_ref().unwrap_or(&empty);
        // A schema Salesforce does not have, or one that does not parse, is
        // not a reason to stop: the event is published raw (below). Only an
        // RPC failure (auth, unavailable) ends the stream.
        let schema = match self.org.schema(&event.schema_id).await {
            Ok(s) => Some(s),
            Err(SchemaError::Rpc(status)) => return Err(self.ended_by(&status)),
            Err(SchemaError::Unusable(why)) => {
                tracing::warn!(subscription = name, schema_id = %event.schema_id, error = %why, "no usable schema");
                None
            }
        };
        let decoded = schema.as_ref().and_then(|s| match s.codec.decode(&event.payload) {
            Ok(json) => Some((json, s)),
            Err(err) => {
                tracing::warn!(subscription = name, schema_id = %event.schema_id, error = %err, "undecodable event published raw");
                None
            }
        });
        let (body, what, id) = match &decoded {
            Some((json, s)) => {
                let (what, id) = identity(json, &s.name, &event.id, &e.replay_id);
                (
                    Bytes::from(serde_json::to_vec(json).unwrap_or_default()),
                    what,
                    id,
                )
            }
            None => (
                Bytes::from(event.payload.clone()),
                "undecodable".to_owned(),
                fallback_id(&event.id, &e.replay_id),
            ),
        };
        let id = carriable_id(id);
        let pulled = PulledEvent {
            subscription: name,
            topic: &self.config.topic,
            event: &what,
            id: &id,
            replay_id: &e.replay_id,
            schema_id: &event.schema_id,
            content_type: if decoded.is_some() {
                "application/json"
            } else {
                "avro/binary"
            },
            cloudevents: self.cloudevents,
        };
        let now = time::OffsetDateTime::now_utc();
        match envelope::pubsub_event(&pulled, body, now) {
            Ok(m) => Ok((m, decoded.is_some())),
            // Not reachable (the id is carriable, the routing key capped):
            // reopening would meet the same event, so it is reported loudly.
            Err(err) => {
                tracing::error!(subscription = name, error = %err, "event cannot be carried by AMQP");
                Err(Ended::Retry("uncarriable".into()))
            }
        }
    }
}

/// Salesforce's custom error code of `status` (`error-code` metadata),
/// without its common prefix.
pub(crate) fn error_code(status: &tonic::Status) -> Option<String> {
    let code = status.metadata().get("error-code")?.to_str().ok()?;
    Some(code.strip_prefix(CODE_PREFIX).unwrap_or(code).to_owned())
}

/// What to do after `status` ended a stream (SALESFORCE.md section 9,
/// Errors \[ERR\]\[RETRY\]).
pub(crate) fn classify(status: &tonic::Status) -> Ended {
    let code = error_code(status);
    match code.as_deref() {
        Some(c) if c.ends_with("replayid.corrupted") => Ended::Stale,
        Some(c) if c.ends_with("auth.error") => Ended::Auth,
        Some(c) => Ended::Retry(c.to_owned()),
        None if status.code() == tonic::Code::Unauthenticated => Ended::Auth,
        None => Ended::Retry(format!("{:?}", status.code()).to_lowercase()),
    }
}

/// Waits until the broker connection is up (or shutdown: false).
pub(crate) async fn broker_up(publisher: &Publisher, shutdown: &mut watch::Receiver<bool>) -> bool {
    let mut status = publisher.watch_status();
    loop {
        if *shutdown.borrow() {
            return false;
        }
        if *status.borrow_and_update() == Status::Connected {
            return true;
        }
        tokio::select! {
            c = status.changed() => if c.is_err() { return false; },
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_salesforce_code() {
        let with = |code: &str| {
            let mut s = tonic::Status::invalid_argument("rpcId: 1");
            s.metadata_mut().insert("error-code", code.parse().unwrap());
            classify(&s)
        };
        assert!(matches!(
            with("sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"),
            Ended::Stale
        ));
        assert!(matches!(
            with("sfdc.platform.eventbus.grpc.service.auth.error"),
            Ended::Auth
        ));
        assert!(matches!(
            with("sfdc.platform.eventbus.grpc.service.unavailable"),
            Ended::Retry(r) if r == "service.unavailable"
        ));
        assert!(matches!(
            classify(&tonic::Status::unavailable("RST_STREAM closed stream")),
            Ended::Retry(r) if r == "unavailable"
        ));
    }
}
