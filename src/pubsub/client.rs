//! One org's Pub/Sub API connection: the gRPC channel (HTTP/2 over rustls
//! with the process's ring provider; `http://` only for a local simulator),
//! the OAuth token (the worker's flows, `salesforce::rest::Auth`) sent as
//! the `accesstoken`, `instanceurl` and `tenantid` metadata of every RPC
//! (SALESFORCE.md section 9 \[AUTH\]\[HDR\]), and the schema cache (`GetSchema`
//! by schema id, each id fetched once \[PROTO\]\[AVRO\]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pubsub_proto::pub_sub_client::PubSubClient;
use pubsub_proto::SchemaRequest;
use secrecy::ExposeSecret as _;
use tokio::sync::Mutex;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::decode::Codec;
use crate::config::worker::OrgConfig;
use crate::salesforce::rest::{Auth, Token};

/// gRPC clients accept 4 MB messages by default; events are up to 1 MB and
/// one FetchResponse carries up to 100 of them (SALESFORCE.md section 9,
/// "Max response size": raise the decode limit).
const MAX_MESSAGE_BYTES: usize = 128 << 20;
/// Connect and token-request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an org's connection could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `pubsub_url` is not a usable endpoint.
    #[error("pubsub_url: {0}")]
    Endpoint(String),
    /// No token: the token endpoint refused or did not answer.
    #[error("token: {0}")]
    Token(String),
    /// A token or instance URL cannot be sent as gRPC metadata.
    #[error("token or instance URL is not valid gRPC metadata")]
    Metadata,
}

/// Why [`OrgLink::schema`] has no schema.
#[derive(Debug)]
pub(crate) enum SchemaError {
    /// The RPC failed (auth, unavailable, ...): the stream is reopened.
    Rpc(tonic::Status),
    /// Salesforce has no such schema, or it does not parse: events written
    /// with it are published raw.
    Unusable(String),
}

/// A schema, parsed once.
pub(crate) struct Schema {
    /// Decodes payloads written with it.
    pub(crate) codec: Codec,
    /// The record's `name` (the platform event's API name, e.g.
    /// `Order_Placed__e`).
    pub(crate) name: String,
}

/// One org's channel, token and schemas. Shared by its subscriptions.
pub(crate) struct OrgLink {
    client: PubSubClient<Channel>,
    http: reqwest::Client,
    auth: Auth,
    login_url: String,
    fallback_instance: String,
    tenant_id: String,
    token: Mutex<Option<Token>>,
    schemas: Mutex<HashMap<String, Arc<Schema>>>,
}

impl OrgLink {
    /// The link of `org` (no connection is made until the first RPC).
    ///
    /// # Errors
    /// [`Error::Endpoint`] for a URL tonic cannot use.
    pub(crate) fn new(org: &OrgConfig, tenant_id: String) -> Result<OrgLink, Error> {
        let url = org.section.pubsub_url.clone();
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| Error::Endpoint(e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        if url.starts_with("https://") {
            let tls = ClientTlsConfig::new().with_native_roots();
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| Error::Endpoint(e.to_string()))?;
        }
        let client =
            PubSubClient::new(endpoint.connect_lazy()).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(org.section.timeout_ms))
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Error::Endpoint(e.to_string()))?;
        Ok(OrgLink {
            client,
            http,
            auth: org.auth.clone(),
            login_url: org.section.login_url.clone(),
            fallback_instance: org.section.instance_url.clone(),
            tenant_id,
            token: Mutex::new(None),
            schemas: Mutex::new(HashMap::new()),
        })
    }

    /// A clone of the gRPC client (cheap: it shares the channel).
    pub(crate) fn client(&self) -> PubSubClient<Channel> {
        self.client.clone()
    }

    /// `message` wrapped in a request carrying the auth metadata, with a
    /// token requested first if none is held.
    ///
    /// # Errors
    /// [`Error::Token`] when no token can be had.
    pub(crate) async fn request<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        let token = self.token().await?;
        let mut req = tonic::Request::new(message);
        let md = req.metadata_mut();
        let value = |s: &str| MetadataValue::try_from(s).map_err(|_| Error::Metadata);
        md.insert("accesstoken", value(token.access_token.expose_secret())?);
        md.insert(
            "instanceurl",
            value(token.instance_url.trim_end_matches('/'))?,
        );
        md.insert("tenantid", value(&self.tenant_id)?);
        Ok(req)
    }

    /// Forgets the token (after `service.auth.error`): the next RPC asks the
    /// token endpoint again.
    pub(crate) async fn invalidate_token(&self) {
        *self.token.lock().await = None;
    }

    async fn token(&self) -> Result<Token, Error> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let t = self
            .auth
            .token(&self.http, &self.login_url, &self.fallback_instance)
            .await
            .map_err(|e| Error::Token(e.to_string()))?;
        *slot = Some(t.clone());
        Ok(t)
    }

    /// The schema `id`, from the cache or `GetSchema`.
    ///
    /// # Errors
    /// [`SchemaError::Rpc`] for a failed call (`NOT_FOUND` excepted),
    /// [`SchemaError::Unusable`] for an unknown schema id or a schema that
    /// does not parse.
    pub(crate) async fn schema(&self, id: &str) -> Result<Arc<Schema>, SchemaError> {
        if let Some(s) = self.schemas.lock().await.get(id) {
            return Ok(s.clone());
        }
        let req = self
            .request(SchemaRequest {
                schema_id: id.to_owned(),
            })
            .await
            .map_err(|e| SchemaError::Rpc(tonic::Status::unauthenticated(e.to_string())))?;
        let info = match self.client().get_schema(req).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(SchemaError::Unusable(format!("schema {id} not found")))
            }
            Err(s) => return Err(SchemaError::Rpc(s)),
        };
        let codec = Codec::parse(&info.schema_json)
            .map_err(|e| SchemaError::Unusable(format!("schema {id}: {e}")))?;
        let name = serde_json::from_str::<serde_json::Value>(&info.schema_json)
            .ok()
            .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let schema = Arc::new(Schema { codec, name });
        self.schemas
            .lock()
            .await
            .insert(id.to_owned(), schema.clone());
        Ok(schema)
    }
}
