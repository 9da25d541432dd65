//! The Salesforce Pub/Sub API (`eventbus.v1.PubSub`, gRPC) as
//! `../shared/docs/SALESFORCE.md` section 9 describes it, served next to a
//! [`Simulator`] on its own loopback port (plaintext h2c).
//!
//! Start it with [`PubSubSim::start`] (or [`PubSubSim::start_with`]) after
//! the REST simulator: it accepts the tokens that simulator's token endpoint
//! issues, for its instance URL and org id \[AUTH\]\[HDR\]. Tests add topics
//! ([`PubSubSim::add_platform_event`], [`PubSubSim::add_change_event`]),
//! publish in process ([`PubSubSim::publish`],
//! [`PubSubSim::publish_change`], [`PubSubSim::publish_many`], and
//! [`PubSubSim::publish_raw`] for payloads that do not decode), move the
//! simulated clock ([`PubSubSim::advance`]), inject [`PubSubFault`]s and
//! read [`PubSubCounters`]. It stops with the simulator or on
//! [`PubSubSim::shutdown`].
//!
//! RPCs: `Subscribe`, `GetSchema`, `GetTopic`. `Publish`, `PublishStream`
//! and `ManagedSubscribe` answer `UNIMPLEMENTED`.

mod avro;
mod bitmap;
mod bus;
mod change;
mod fault;
#[cfg(test)]
mod fault_tests;
mod service;
mod stream;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pubsub_proto::pub_sub_server::PubSubServer;
use pubsub_proto::ProducerEvent;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

pub use avro::{AvroType, NAMESPACE};
pub use bitmap::hex as bitmap_hex;
pub use bus::ALL_CHANGES;
pub use change::{ChangeSpec, ChangeType};
pub use fault::{Error, PubSubCounters, PubSubFault};
pub use service::{CODE_PREFIX, ERROR_CODE_KEY};

use crate::{Shared, Simulator};

/// Server keepalive: an empty `FetchResponse` when nothing was sent for
/// this long (the documented bound is 270 s) \[PROTO\].
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(270);
/// A stream with nothing requested closes after this long without a
/// `FetchRequest` \[SUB\].
pub const DEFAULT_IDLE_CLOSE: Duration = Duration::from_secs(60);
/// High-volume platform events and change events are kept 72 h \[DUR\].
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 3600);
/// Outstanding requested-but-undelivered events per Subscribe call \[FLOW\].
pub const MAX_OUTSTANDING: i32 = 100;

/// Timings of the Pub/Sub server.
#[derive(Debug, Clone)]
pub struct PubSubConfig {
    /// See [`DEFAULT_KEEPALIVE`]; tests use e.g. 200 ms.
    pub keepalive: Duration,
    /// See [`DEFAULT_IDLE_CLOSE`].
    pub idle_close: Duration,
    /// See [`DEFAULT_RETENTION`] (simulated clock).
    pub retention: Duration,
}

impl Default for PubSubConfig {
    fn default() -> Self {
        PubSubConfig {
            keepalive: DEFAULT_KEEPALIVE,
            idle_close: DEFAULT_IDLE_CLOSE,
            retention: DEFAULT_RETENTION,
        }
    }
}

/// What the gRPC service and the test handle share.
struct Inner {
    config: PubSubConfig,
    rest: Arc<Shared>,
    bus: Mutex<bus::Bus>,
    /// The last sequence appended (streams wait on it).
    appended: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    /// The REST simulator's stop signal: the Pub/Sub server stops with it.
    sim_stop: watch::Receiver<bool>,
}

impl Inner {
    fn bus(&self) -> MutexGuard<'_, bus::Bus> {
        self.bus.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Resolves once `rx` says stop (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// A running Pub/Sub API server (a cheap `Clone` handle).
#[derive(Clone)]
pub struct PubSubSim {
    inner: Arc<Inner>,
    url: String,
}

// === impl PubSubSim ===

impl PubSubSim {
    /// Serves `eventbus.v1.PubSub` on `127.0.0.1` on a free port with the
    /// default timings, trusting `sim`'s tokens, instance URL and org id.
    ///
    /// # Errors
    /// Binding failed.
    pub async fn start(sim: &Simulator) -> io::Result<PubSubSim> {
        PubSubSim::start_with(sim, PubSubConfig::default()).await
    }

    /// [`PubSubSim::start`] with other timings.
    ///
    /// # Errors
    /// Binding failed.
    pub async fn start_with(sim: &Simulator, config: PubSubConfig) -> io::Result<PubSubSim> {
        PubSubSim::start_on(sim, config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// [`PubSubSim::start_with`] on `addr`.
    ///
    /// # Errors
    /// Binding failed.
    pub async fn start_on(
        sim: &Simulator,
        config: PubSubConfig,
        addr: SocketAddr,
    ) -> io::Result<PubSubSim> {
        let listener = TcpListener::bind(addr).await?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let (stop, mut stop_rx) = watch::channel(false);
        let sim_stop = sim.stop.subscribe();
        let mut sim_stopped = sim_stop.clone();
        let inner = Arc::new(Inner {
            bus: Mutex::new(bus::Bus::new(config.retention)),
            config,
            rest: sim.shared.clone(),
            appended: watch::channel(0).0,
            stop,
            sim_stop,
        });
        let service = PubSubServer::new(service::Service::new(inner.clone()))
            .max_decoding_message_size(16 * 1024 * 1024);
        let signal = async move {
            tokio::select! {
                () = stopped(&mut stop_rx) => {}
                () = stopped(&mut sim_stopped) => {}
            }
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal),
        );
        Ok(PubSubSim {
            inner,
            url: format!("http://{local}"),
        })
    }

    /// `http://127.0.0.1:PORT`, the gRPC endpoint.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The `tenantid` metadata it expects: the simulator's 18-character
    /// org id \[HDR\].
    pub fn tenant_id(&self) -> String {
        self.inner.rest.org_id.clone()
    }

    /// The `instanceurl` metadata it expects: the REST simulator's URL
    /// (the token reply's `instance_url`) \[HDR\].
    pub fn instance_url(&self) -> String {
        self.inner.rest.url.clone()
    }

    /// Stops the server: open streams end, new connections are refused.
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
    }

    /// Adds the platform event topic `topic` (`/event/<Name>__e`) with the
    /// schema Salesforce builds: record `<Name>__e` in
    /// `com.sforce.eventbus`, `CreatedDate` (long, epoch ms), `CreatedById`
    /// (string), then `fields` as `["null", T]` \[AVRO\]. Returns the schema
    /// id. On an existing topic it is a new schema version: retained events
    /// keep their own schema ids.
    ///
    /// # Errors
    /// A name Avro refuses.
    pub fn add_platform_event(
        &self,
        topic: &str,
        fields: &[(&str, AvroType)],
    ) -> Result<String, Error> {
        let name = topic.rsplit('/').next().unwrap_or(topic);
        let schema = avro::EventSchema::platform_event(name, &avro::owned(fields))?;
        let id = schema.id.clone();
        self.inner.bus().add_topic(topic, schema, None);
        Ok(id)
    }

    /// Adds the change event topic `topic` (`/data/<Entity>ChangeEvent`)
    /// of `entity`: `ChangeEventHeader`, then `fields` as `["null", T]`
    /// \[CDCH\]\[DIFF\]; its events also go to [`ALL_CHANGES`] \[CDCCH\]. Returns
    /// the schema id; on an existing topic, a new schema version.
    ///
    /// # Errors
    /// A name Avro refuses.
    pub fn add_change_event(
        &self,
        topic: &str,
        entity: &str,
        fields: &[(&str, AvroType)],
    ) -> Result<String, Error> {
        let schema = avro::EventSchema::change_event(entity, &avro::owned(fields))?;
        let id = schema.id.clone();
        self.inner
            .bus()
            .add_topic(topic, schema, Some(entity.to_owned()));
        Ok(id)
    }

    /// Publishes a platform event: `fields` (a JSON object of custom fields;
    /// `CreatedDate` defaults to the simulated clock, `CreatedById` to the
    /// integration user) Avro-encoded \[AVRO\], with a fresh EventUuid in
    /// `ProducerEvent.id` \[UUID\]. Returns the opaque replay id \[DUR\].
    ///
    /// # Errors
    /// Unknown topic, a change event topic, or a value not fitting.
    pub fn publish(&self, topic: &str, fields: Value) -> Result<Vec<u8>, Error> {
        let mut ids = self.publish_many(topic, 1, |_| fields.clone())?;
        ids.pop()
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))
    }

    /// Publishes `n` platform events, the i-th with `fields(i)`, under one
    /// lock and one wake-up (fast enough for 10,000 events). Returns their
    /// replay ids in order.
    ///
    /// # Errors
    /// As [`PubSubSim::publish`]; nothing is published then.
    pub fn publish_many(
        &self,
        topic: &str,
        n: usize,
        mut fields: impl FnMut(usize) -> Value,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let user = self.inner.rest.user_id.clone();
        let mut bus = self.inner.bus();
        let t = bus
            .topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let schema = match (&t.schema, &t.entity) {
            (Some(s), None) => s.clone(),
            _ => return Err(Error::WrongTopicKind(topic.to_owned())),
        };
        let now = bus.now_ms();
        let mut payloads = Vec::with_capacity(n);
        for i in 0..n {
            let mut map = match fields(i) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            map.entry("CreatedDate").or_insert(now.into());
            map.entry("CreatedById").or_insert(user.clone().into());
            payloads.push(schema.encode(&Value::Object(map))?);
        }
        let mut ids = Vec::with_capacity(n);
        for payload in payloads {
            let event = ProducerEvent {
                id: bus.uuid(),
                schema_id: schema.id.clone(),
                payload,
                headers: Vec::new(),
            };
            ids.push(bus::replay_id(bus.append(&[topic], event)));
        }
        let seq = bus.seq;
        drop(bus);
        self.inner.appended.send_replace(seq);
        Ok(ids)
    }

    /// Publishes a change event on `topic` and [`ALL_CHANGES`] (same replay
    /// id, the entity's schema id): the header from `spec`, field bitmaps
    /// encoded from names as \[DESER\] describes ([`bitmap_hex`]), an empty
    /// `ProducerEvent.id` \[DUR\].
    ///
    /// # Errors
    /// Unknown topic, a platform event topic, an unknown field name, or a
    /// value not fitting.
    pub fn publish_change(&self, topic: &str, spec: ChangeSpec) -> Result<Vec<u8>, Error> {
        let mut bus = self.inner.bus();
        let t = bus
            .topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let (schema, entity) = match (&t.schema, &t.entity) {
            (Some(s), Some(e)) => (s.clone(), e.clone()),
            _ => return Err(Error::WrongTopicKind(topic.to_owned())),
        };
        let now = bus.now_ms();
        let user = self.inner.rest.user_id.clone();
        let key = bus.uuid();
        let payload = change::encode(&schema, &entity, &user, now, key, spec)?;
        let event = ProducerEvent {
            id: String::new(),
            schema_id: schema.id.clone(),
            payload,
            headers: Vec::new(),
        };
        let seq = bus.append(&[topic, ALL_CHANGES], event);
        drop(bus);
        self.inner.appended.send_replace(seq);
        Ok(bus::replay_id(seq))
    }

    /// Stores an event on `topic` carrying the topic's schema id but
    /// `payload` as its bytes, unchecked: Salesforce does not validate
    /// published payloads, so a subscriber can meet one that does not decode
    /// with its schema (SALESFORCE.md section 9: "Published payloads are not
    /// validated" \[AVRO\]). Otherwise as a valid event of the topic's kind:
    /// a fresh EventUuid in `ProducerEvent.id` \[UUID\] on a platform event
    /// topic; on a change event topic an empty id, and the event goes to
    /// [`ALL_CHANGES`] too \[CDCCH\]. For tests of that path: garbage, a
    /// truncated datum, trailing bytes. Returns the replay id \[DUR\].
    ///
    /// # Errors
    /// Unknown topic, or `/data/ChangeEvents` (it has no schema of its own).
    pub fn publish_raw(&self, topic: &str, payload: Vec<u8>) -> Result<Vec<u8>, Error> {
        let mut bus = self.inner.bus();
        let t = bus
            .topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let schema = t
            .schema
            .clone()
            .ok_or_else(|| Error::WrongTopicKind(topic.to_owned()))?;
        // As the valid events of the topic's kind: a change event has no
        // EventUuid and goes to `/data/ChangeEvents` too.
        let change = t.entity.is_some();
        let id = if change { String::new() } else { bus.uuid() };
        let event = ProducerEvent {
            id,
            schema_id: schema.id.clone(),
            payload,
            headers: Vec::new(),
        };
        let topics: &[&str] = if change {
            &[topic, ALL_CHANGES]
        } else {
            &[topic]
        };
        let seq = bus.append(topics, event);
        drop(bus);
        self.inner.appended.send_replace(seq);
        Ok(bus::replay_id(seq))
    }

    /// The schema JSON of `schema_id`, as `GetSchema` returns it.
    pub fn schema_json(&self, schema_id: &str) -> Option<String> {
        self.inner
            .bus()
            .schemas
            .get(schema_id)
            .map(|s| s.json.clone())
    }

    /// Moves the simulated clock forward by `by` and purges events older
    /// than the retention \[DUR\].
    pub fn advance(&self, by: Duration) {
        let mut bus = self.inner.bus();
        bus.offset = bus.offset.saturating_add(by);
        bus.purge();
    }

    /// Queues a fault ([`PubSubFault`]).
    pub fn inject(&self, fault: PubSubFault) {
        self.inner.bus().faults.push_back(fault);
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> PubSubCounters {
        self.inner.bus().counters.clone()
    }
}
