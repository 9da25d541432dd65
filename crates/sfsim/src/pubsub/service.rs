//! The `eventbus.v1.PubSub` gRPC service: authentication on every RPC
//! \[AUTH\]\[HDR\], queued faults, `GetSchema`, `GetTopic`, and `Subscribe`
//! (the stream itself is `stream.rs`).

use std::sync::Arc;

use pubsub_proto::pub_sub_server::PubSub;
use pubsub_proto::{
    FetchRequest, FetchResponse, ManagedFetchRequest, ManagedFetchResponse, PublishRequest,
    PublishResponse, SchemaInfo, SchemaRequest, TopicInfo, TopicRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

use super::{Inner, PubSubFault};

/// Every custom error code starts with this \[ERR\].
pub const CODE_PREFIX: &str = "sfdc.platform.eventbus.grpc.";
/// The trailer (and metadata) carrying the custom code \[ERR\]\[JAVA\].
pub const ERROR_CODE_KEY: &str = "error-code";

pub(super) const AUTH_ERROR: &str = "service.auth.error";
pub(super) const UNAVAILABLE: &str = "service.unavailable";
pub(super) const CLIENT_LIMIT: &str = "concurrent.client.limit.exceeded";
pub(super) const TOPIC_NOT_FOUND: &str = "topic.not.found";

/// A gRPC status as Salesforce sends one: `error-code` =
/// `sfdc.platform.eventbus.grpc.<suffix>` when `suffix` is given, and
/// `rpcId: <uuid>` at the end of the message \[ERR\]\[JAVA\].
pub(super) fn status(code: Code, suffix: Option<&str>, msg: &str, rpc_id: &str) -> Status {
    let mut md = MetadataMap::new();
    if let Some(s) = suffix {
        if let Ok(v) = format!("{CODE_PREFIX}{s}").parse() {
            md.insert(ERROR_CODE_KEY, v);
        }
    }
    Status::with_metadata(code, format!("{msg} rpcId: {rpc_id}"), md)
}

pub(super) struct Service {
    inner: Arc<Inner>,
}

impl Service {
    pub(super) fn new(inner: Arc<Inner>) -> Service {
        Service { inner }
    }

    /// A new rpc id, the queued fault this RPC consumes (as an error, or a
    /// stream fault for `Subscribe`), then the auth check.
    fn admit(&self, md: &MetadataMap, subscribe: bool) -> Result<Admitted, Status> {
        let (rpc_id, fault) = {
            let mut bus = self.inner.bus();
            let fault = match bus.faults.front() {
                Some(PubSubFault::EndStreamAfter(_) | PubSubFault::Silence) if !subscribe => None,
                Some(_) => bus.faults.pop_front(),
                None => None,
            };
            (bus.uuid(), fault)
        };
        let refuse = |code, suffix, msg| Err(status(code, Some(suffix), msg, &rpc_id));
        match fault {
            Some(PubSubFault::AuthError) => {
                return refuse(Code::Unauthenticated, AUTH_ERROR, "authentication failed")
            }
            Some(PubSubFault::Unavailable) => {
                return refuse(Code::Unavailable, UNAVAILABLE, "service unavailable")
            }
            Some(PubSubFault::ConcurrentClientLimit) => {
                return refuse(
                    Code::ResourceExhausted,
                    CLIENT_LIMIT,
                    "concurrent client limit exceeded",
                )
            }
            _ => {}
        }
        if !self.authenticated(md) {
            return refuse(Code::Unauthenticated, AUTH_ERROR, "authentication failed");
        }
        Ok(Admitted { rpc_id, fault })
    }

    /// `accesstoken` live (issued by the REST simulator, not expired nor
    /// revoked), `instanceurl` its URL (a trailing `/` allowed), `tenantid`
    /// its 18-character org id \[AUTH\]\[HDR\] (whether 15 characters are
    /// accepted is n/f: refused here). A session timeout does not end a
    /// stream already open \[AUTH\]: only new RPCs are checked.
    fn authenticated(&self, md: &MetadataMap) -> bool {
        let get = |k: &str| md.get(k).and_then(|v| v.to_str().ok());
        let rest = &self.inner.rest;
        let (Some(token), Some(url), Some(tenant)) =
            (get("accesstoken"), get("instanceurl"), get("tenantid"))
        else {
            return false;
        };
        url.trim_end_matches('/') == rest.url
            && tenant == rest.org_id
            && rest.state().token_live(token, rest.config.token_ttl)
    }
}

pub(super) struct Admitted {
    pub rpc_id: String,
    /// A stream fault for this `Subscribe`.
    pub fault: Option<PubSubFault>,
}

type Stream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl PubSub for Service {
    type SubscribeStream = Stream<FetchResponse>;
    type PublishStreamStream = Stream<PublishResponse>;
    type ManagedSubscribeStream = Stream<ManagedFetchResponse>;

    /// Bidi, pull-based \[PROTO\]\[SUB\]; see `stream.rs`.
    async fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.inner.bus().counters.subscribe_calls += 1;
        let admitted = self.admit(request.metadata(), true)?;
        let (tx, rx) = mpsc::channel(4);
        let inner = self.inner.clone();
        tokio::spawn(super::stream::run(
            inner,
            request.into_inner(),
            tx,
            admitted,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    /// The writer schema of a schema id \[PROTO\]\[AVRO\]; an unknown id is
    /// `NOT_FOUND` (no custom code documented).
    async fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        self.inner.bus().counters.schema_requests += 1;
        let Admitted { rpc_id, .. } = self.admit(request.metadata(), false)?;
        let id = &request.get_ref().schema_id;
        let json = self.inner.bus().schemas.get(id).map(|s| s.json.clone());
        match json {
            Some(schema_json) => Ok(Response::new(SchemaInfo {
                schema_json,
                schema_id: id.clone(),
                rpc_id,
            })),
            None => Err(status(Code::NotFound, None, "schema not found", &rpc_id)),
        }
    }

    /// The topic's info: `can_subscribe` true, `can_publish` false (this
    /// server does not take publishes), its schema id (empty for
    /// `/data/ChangeEvents`, whose events carry their entity's) \[PROTO\].
    /// Unknown: `NOT_FOUND` with `topic.not.found` (\[DEC\] only; the status
    /// is not documented).
    async fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> Result<Response<TopicInfo>, Status> {
        self.inner.bus().counters.topic_requests += 1;
        let Admitted { rpc_id, .. } = self.admit(request.metadata(), false)?;
        let name = &request.get_ref().topic_name;
        let schema_id = {
            let bus = self.inner.bus();
            bus.topics
                .get(name)
                .map(|t| t.schema.as_ref().map(|s| s.id.clone()).unwrap_or_default())
        };
        match schema_id {
            Some(schema_id) => Ok(Response::new(TopicInfo {
                topic_name: name.clone(),
                tenant_guid: self.inner.rest.org_id.clone(),
                can_publish: false,
                can_subscribe: true,
                schema_id,
                rpc_id,
            })),
            None => Err(topic_not_found(name, &rpc_id)),
        }
    }

    async fn publish(
        &self,
        _request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        Err(Status::unimplemented("Publish is not simulated"))
    }

    async fn publish_stream(
        &self,
        _request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        Err(Status::unimplemented("PublishStream is not simulated"))
    }

    async fn managed_subscribe(
        &self,
        _request: Request<Streaming<ManagedFetchRequest>>,
    ) -> Result<Response<Self::ManagedSubscribeStream>, Status> {
        Err(Status::unimplemented("ManagedSubscribe is not simulated"))
    }
}

/// `NOT_FOUND`, `topic.not.found` (\[DEC\] only; status n/f).
pub(super) fn topic_not_found(name: &str, rpc_id: &str) -> Status {
    status(
        Code::NotFound,
        Some(TOPIC_NOT_FOUND),
        &format!("topic {name} not found"),
        rpc_id,
    )
}
