//! One `Subscribe` stream: the starting point from the first `FetchRequest`
//! \[PROTO\], flow control \[FLOW\], keepalives \[PROTO\], the idle close \[SUB\],
//! and the stream faults.

use std::sync::Arc;
use std::time::Duration;

use pubsub_proto::{ConsumerEvent, FetchRequest, FetchResponse, ReplayPreset};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tonic::{Code, Status, Streaming};

use super::bus::{parse_replay_id, replay_id};
use super::service::{status, topic_not_found, Admitted, UNAVAILABLE};
use super::{Inner, PubSubFault, MAX_OUTSTANDING};

const TOPIC_MISMATCH: &str = "subscription.fetch.topic.mismatch";
const REPLAY_VALIDATION: &str = "subscription.fetch.replayid.validation.failed";
const REPLAY_CORRUPTED: &str = "subscription.fetch.replayid.corrupted";

type Tx = mpsc::Sender<Result<FetchResponse, Status>>;

/// Runs the stream until it ends; an error is sent as the stream's status.
pub(super) async fn run(
    inner: Arc<Inner>,
    inbound: Streaming<FetchRequest>,
    tx: Tx,
    admitted: Admitted,
) {
    inner.bus().counters.open_streams += 1;
    let outcome = serve(&inner, inbound, &tx, &admitted).await;
    inner.bus().counters.open_streams -= 1;
    if let Err(e) = outcome {
        let _ = tx.send(Err(e)).await;
    }
}

/// What the stream keeps between wake-ups.
struct Sub {
    topic: String,
    /// The last sequence delivered (or the starting point).
    cursor: u64,
    /// Requested, not yet delivered, capped at [`MAX_OUTSTANDING`] \[FLOW\].
    outstanding: i32,
    /// `EndStreamAfter`: events left before the stream breaks.
    end_after: Option<u32>,
}

async fn serve(
    inner: &Inner,
    mut inbound: Streaming<FetchRequest>,
    tx: &Tx,
    admitted: &Admitted,
) -> Result<(), Status> {
    let rpc_id = admitted.rpc_id.as_str();
    let mut stop = inner.stop.subscribe();
    let mut sim_stop = inner.sim_stop.clone();
    let stopped = || {
        status(
            Code::Unavailable,
            Some(UNAVAILABLE),
            "shutting down",
            rpc_id,
        )
    };
    let first = tokio::select! {
        m = inbound.message() => m?,
        () = super::stopped(&mut stop) => return Err(stopped()),
        () = super::stopped(&mut sim_stop) => return Err(stopped()),
    };
    let Some(first) = first else { return Ok(()) };
    let mut sub = start(inner, &first, rpc_id)?;
    sub.end_after = match admitted.fault {
        Some(PubSubFault::EndStreamAfter(n)) => Some(n),
        _ => None,
    };
    let silent = admitted.fault == Some(PubSubFault::Silence);
    request(inner, &mut sub, first.num_requested);
    let mut appended = inner.appended.subscribe();
    let (keepalive, idle_close) = (inner.config.keepalive, inner.config.idle_close);
    let mut last_sent = Instant::now();
    // When the outstanding count last reached 0 or a request came.
    let mut idle_since = Instant::now();
    let mut inbound_open = true;
    loop {
        if !silent && sub.outstanding > 0 && deliver(inner, &mut sub, tx, rpc_id).await? {
            last_sent = Instant::now();
            if sub.outstanding == 0 {
                idle_since = last_sent;
            }
        }
        if sub.end_after == Some(0) {
            // [ERR]: transient, resubscribe.
            return Err(Status::unavailable("RST_STREAM closed stream"));
        }
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let keepalive_at = if silent { far } else { last_sent + keepalive };
        let idle_at = if sub.outstanding == 0 && !silent {
            idle_since + idle_close
        } else {
            far
        };
        tokio::select! {
            m = inbound.message(), if inbound_open => match m {
                Ok(Some(req)) => {
                    if !req.topic_name.is_empty() && req.topic_name != sub.topic {
                        // [PROTO]: the topic cannot change within a stream.
                        return Err(status(Code::InvalidArgument, Some(TOPIC_MISMATCH),
                            "topic mismatch", rpc_id));
                    }
                    inner.bus().counters.fetch_requests += 1;
                    request(inner, &mut sub, req.num_requested);
                    idle_since = Instant::now();
                }
                // The client half-closed: keep serving what it asked for.
                Ok(None) => inbound_open = false,
                Err(_) => return Ok(()),
            },
            r = appended.changed() => if r.is_err() { return Ok(()) },
            () = sleep_until(keepalive_at) => {
                // [PROTO]: an empty batch with the latest replay id.
                let keep = FetchResponse {
                    events: Vec::new(),
                    latest_replay_id: replay_id(sub.cursor),
                    rpc_id: rpc_id.to_owned(),
                    pending_num_requested: sub.outstanding,
                };
                if tx.send(Ok(keep)).await.is_err() {
                    return Ok(());
                }
                last_sent = Instant::now();
            }
            // [SUB]: nothing pending and no FetchRequest within the idle time.
            () = sleep_until(idle_at) => return Ok(()),
            () = super::stopped(&mut stop) => return Err(stopped()),
            () = super::stopped(&mut sim_stop) => return Err(stopped()),
            () = tx.closed() => return Ok(()),
        }
    }
}

/// Adds `n` to the outstanding count, capped at 100 \[FLOW\].
fn request(inner: &Inner, sub: &mut Sub, n: i32) {
    sub.outstanding = sub
        .outstanding
        .saturating_add(n.max(0))
        .min(MAX_OUTSTANDING);
    let mut bus = inner.bus();
    bus.counters.max_outstanding = bus.counters.max_outstanding.max(sub.outstanding);
}

/// The starting point of the first request \[PROTO\]: `LATEST` the tip,
/// `EARLIEST` before the oldest retained event, `CUSTOM` after `replay_id`.
fn start(inner: &Inner, first: &FetchRequest, rpc_id: &str) -> Result<Sub, Status> {
    let mut bus = inner.bus();
    bus.counters.fetch_requests += 1;
    bus.purge();
    let last = bus.seq;
    let topic = bus
        .topics
        .get(&first.topic_name)
        .ok_or_else(|| topic_not_found(&first.topic_name, rpc_id))?;
    let invalid = |suffix, msg| status(Code::InvalidArgument, Some(suffix), msg, rpc_id);
    let cursor = match ReplayPreset::try_from(first.replay_preset) {
        Ok(ReplayPreset::Latest) => topic.tip(),
        Ok(ReplayPreset::Earliest) => topic.purged_through,
        Ok(ReplayPreset::Custom) => {
            // [JAVA][DEC]: a replay id we never gave out.
            let seq = parse_replay_id(&first.replay_id)
                .filter(|s| *s <= last)
                .ok_or_else(|| invalid(REPLAY_VALIDATION, "replay id validation failed"))?;
            // [ERR]: older than the retention, or purged.
            if topic.purged_through > 0 && seq <= topic.purged_through {
                return Err(invalid(REPLAY_CORRUPTED, "replay id is corrupted"));
            }
            seq
        }
        Err(_) => return Err(invalid(REPLAY_VALIDATION, "unknown replay preset")),
    };
    Ok(Sub {
        topic: first.topic_name.clone(),
        cursor,
        outstanding: 0,
        end_after: None,
    })
}

/// Sends the events after the cursor, up to the outstanding count, in
/// replay order, in one `FetchResponse` \[FLOW\]; `true` when it sent any.
async fn deliver(inner: &Inner, sub: &mut Sub, tx: &Tx, rpc_id: &str) -> Result<bool, Status> {
    let mut max = usize::try_from(sub.outstanding).unwrap_or(0);
    if let Some(left) = sub.end_after {
        max = max.min(usize::try_from(left).unwrap_or(usize::MAX));
    }
    let batch = {
        let bus = inner.bus();
        match bus.topics.get(&sub.topic) {
            Some(t) => t.after(sub.cursor, max),
            None => Vec::new(),
        }
    };
    let Some(last) = batch.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let n = batch.len();
    let n32 = i32::try_from(n).unwrap_or(MAX_OUTSTANDING);
    sub.cursor = last;
    sub.outstanding -= n32;
    if let Some(left) = sub.end_after.as_mut() {
        *left = left.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
    }
    inner.bus().counters.events_delivered += n as u64;
    let response = FetchResponse {
        events: batch
            .into_iter()
            .map(|e| ConsumerEvent {
                replay_id: replay_id(e.seq),
                event: Some(e.event),
            })
            .collect(),
        latest_replay_id: replay_id(last),
        rpc_id: rpc_id.to_owned(),
        pending_num_requested: sub.outstanding,
    };
    if tx.send(Ok(response)).await.is_err() {
        // The client went away; the caller notices on its next wait.
        return Ok(false);
    }
    Ok(true)
}
