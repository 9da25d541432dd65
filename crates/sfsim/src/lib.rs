//! A Salesforce REST API simulator: an HTTP server on loopback that behaves
//! like an org as `../shared/docs/SALESFORCE.md` section 6 describes it, so
//! the worker's tests (and the README demo) run without Salesforce.
//!
//! What it does, and what it refuses:
//! - `POST /services/oauth2/token` (`oauth.rs`): the JWT bearer flow (RS256
//!   only; signature against the configured certificate key, `iss`, `sub`,
//!   `aud` per [`LoginHost`], `exp` in the future and at most 5 minutes ahead,
//!   `nbf` not ahead) and the client
//!   credentials flow (form fields or HTTP Basic). OAuth errors are HTTP 400
//!   `{"error","error_description"}`. Tokens have no refresh token and die
//!   after [`SimConfig::token_ttl`] or on [`Fault::ExpireTokens`].
//! - `/services/data/vNN.N/...` (`data.rs`, `collections.rs`): PATCH by Id,
//!   upsert by external id, sObject Collections update and upsert (at most
//!   200 records, results in request order, `allOrNone`), GET by Id. Every
//!   data response carries `Sforce-Limit-Info: api-usage=N/M`; errors are
//!   `[{"message","errorCode"}]` at the top level and `statusCode` per
//!   record.
//! - `GET /services/data/` (`versions.rs`, no token) and `GET
//!   sobjects/{Obj}/describe` of typed objects (`schema.rs`: fields with
//!   types, `createable`/`updateable`, `externalId`, `caseSensitive`);
//!   collections writes to typed objects are checked as a whole first
//!   (`JSON_PARSER_ERROR` with the value's position, `INVALID_FIELD`), setup
//!   objects cannot share an update with others, at most 10 type chunks.
//! - Org conditions set at run time (`org.rs`): token endpoint outages,
//!   revoked approval, a rotated secret, read-only mode, per-app usage.
//! - A fault plan timed from the start (`plan.rs`, the `sfsim` command
//!   line): token endpoint outages, session expiry, maintenance windows, a
//!   seeded share of collections calls answered 500 `UNKNOWN_EXCEPTION`; and
//!   the summary a soak reads (`GET /_sfsim/summary`: calls by kind, writes
//!   per record).
//! - Bulk API 2.0 ingest (`bulk.rs`, `bulk/run.rs`; SALESFORCE.md section
//!   8): `POST jobs/ingest` (insert, update, upsert; CSV), `PUT
//!   jobs/ingest/{id}/batches` (the CSV, up to [`MAX_BULK_BODY`]), `PATCH
//!   jobs/ingest/{id}` (`UploadComplete`, `Aborted`), `GET jobs/ingest/{id}`,
//!   `GET .../successfulResults/`, `failedResults/`, `unprocessedrecords/`
//!   (CSV, rows in a shuffled order), `DELETE jobs/ingest/{id}`, and `GET
//!   limits` (`DailyApiRequests`, `DailyBulkApiBatches`). A closed job waits
//!   [`SimConfig::bulk_queue_time`], then applies its rows in chunks of 200
//!   at [`SimConfig::bulk_record_time`] per record, each row a real write
//!   checked like the same record in a collections call; progress is
//!   computed from the clock whenever the org is looked at. Every Bulk
//!   request is one API call. Faults: [`Fault::BulkJobFails`],
//!   [`Fault::BulkJobAborted`]; the daily batch allocation
//!   ([`SimConfig::daily_bulk_batches`]) fails a job that would exceed it.
//! - The Pub/Sub API (`pubsub/`, SALESFORCE.md section 9): `eventbus.v1.PubSub`
//!   over gRPC on a second loopback port, started next to a simulator with
//!   [`PubSubSim::start`] and authenticated by its tokens; topics, Avro
//!   payloads, replay, flow control, retention and [`PubSubFault`]s.
//! - Faults ([`Fault`]) are injected by the test and consumed in order; the
//!   call log ([`Call`]), usage and per-record write counts let tests prove
//!   how many API calls were spent and that each effect happened once.
//!
//! Usage counts every authenticated data call (failed ones too, and the
//! refused ones over the limit), before the answer; a call without a live
//! token is answered 401 and not counted (no org to charge).

mod bulk;
mod collections;
mod data;
mod id;
mod jsonpos;
mod oauth;
mod org;
mod percent;
mod plan;
pub mod pubsub;
mod record;
mod reply;
mod rng;
mod schema;
mod server;
mod state;
#[cfg(test)]
mod tests;
mod versions;

pub use bulk::BulkJobInfo;
pub use pubsub::{PubSubConfig, PubSubFault, PubSubSim};
pub use schema::{FieldSchema, FieldType, ObjectSchema};

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use org::{LoginHost, Outage};
pub use plan::{call_kind, parse_duration, parse_ratio, FaultPlan, Window, SUMMARY_PATH};
use reply::{respond, Reply};
use state::State;

/// The JWT audience of production orgs ([`LoginHost::Production`]).
pub const DEFAULT_AUDIENCE: &str = org::PRODUCTION_AUDIENCE;
/// The header that reports API usage on every data response.
pub const LIMIT_INFO_HEADER: &str = "sforce-limit-info";
/// The token endpoint.
pub const TOKEN_PATH: &str = "/services/oauth2/token";
/// Where the data endpoints live (`vNN.N/` follows).
pub const DATA_PREFIX: &str = "/services/data/";
/// Largest request body read (a full 200-record collection is far smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest Bulk API 2.0 upload (`PUT jobs/ingest/{id}/batches`): 150 MB
/// per job (Bulk API 2.0 Developer Guide, "Upload Job Data",
/// developer.salesforce.com/docs/platform/api-asynch/guide/upload-job-data.html;
/// the docs count base64-encoded content, so about 100 MB of raw CSV: the
/// job's total is checked against the base64 size, see `bulk.rs`).
pub const MAX_BULK_BODY: usize = 150 * 1024 * 1024;
/// The simulated org (by default) and integration user (15-character forms).
pub const DEFAULT_ORG_ID: &str = "00D000000000062";
const USER_ID: &str = "005000000000001";

/// The simulated org's connected app and limits.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The connected app's consumer key: the JWT `iss` and the client
    /// credentials `client_id`.
    pub consumer_key: String,
    /// The user the JWT `sub` must name.
    pub username: String,
    /// The certificate's RS256 public key (SPKI or PKCS#1 PEM), as uploaded
    /// to a connected app. Empty: every JWT assertion is refused.
    pub jwt_public_key_pem: String,
    /// The client credentials flow's secret.
    pub client_secret: String,
    /// The login host it stands for, which decides the JWT `aud` accepted
    /// ([`Simulator::audience`]); default: a site at its own URL.
    pub login_host: LoginHost,
    /// Issued tokens are refused (401 `INVALID_SESSION_ID`) after this.
    pub token_ttl: Duration,
    /// The daily allocation: the denominator of `Sforce-Limit-Info`; above
    /// it data calls get 403 `REQUEST_LIMIT_EXCEEDED`.
    pub daily_limit: u64,
    /// The connected app's own allocation (`per-app-api-usage` in
    /// `Sforce-Limit-Info`); `None`: the org sets none.
    pub per_app_limit: Option<u64>,
    /// The connected app's name, as `appName=` in `per-app-api-usage`.
    pub app_name: String,
    /// The org's id (15 or 18 characters, key prefix `00D`): in the token
    /// reply's identity URL `id` and the access token's prefix.
    pub org_id: String,
    /// Bulk API 2.0: processing time per record of a closed job (rows are
    /// applied in chunks of 200 as this time passes); default 50 µs, so
    /// 25,000 records take about 1.25 s.
    pub bulk_record_time: Duration,
    /// Bulk API 2.0: how long a closed job stays `UploadComplete` (queued)
    /// before it turns `InProgress`; default 200 ms.
    pub bulk_queue_time: Duration,
    /// Bulk API 2.0: the daily batch allocation (`DailyBulkApiBatches`
    /// `Max`; 15,000 per rolling 24 h, SALESFORCE.md section 8). A job uses
    /// one batch per 10,000 records (rounded up) when it starts.
    pub daily_bulk_batches: u64,
    /// The URL clients reach it at (token replies' `instance_url`, the
    /// site audience), when that is not the bound address: behind a
    /// container network name, `http://sfsim:8787`. `None`: the bound
    /// address (an unspecified one as `127.0.0.1`).
    pub public_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            consumer_key: "3MVG9-test-consumer-key".to_owned(),
            username: "integration@example.com".to_owned(),
            jwt_public_key_pem: String::new(),
            client_secret: "test-client-secret".to_owned(),
            login_host: LoginHost::default(),
            token_ttl: Duration::from_secs(2 * 3600),
            daily_limit: 100_000,
            per_app_limit: None,
            app_name: "hookgate-test".to_owned(),
            org_id: DEFAULT_ORG_ID.to_owned(),
            bulk_record_time: Duration::from_micros(50),
            bulk_queue_time: Duration::from_millis(200),
            daily_bulk_batches: 15_000,
            public_url: None,
        }
    }
}

/// A fault to inject. Counted faults are consumed by the next calls (or
/// records) in order of arrival; `ServerError` and `RequestLimit` share one
/// queue, so injecting both fails the next calls in that order.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The next `count` data calls: HTTP 503 `SERVER_UNAVAILABLE`.
    ServerError { count: u32 },
    /// The next `count` data calls: HTTP 403 `REQUEST_LIMIT_EXCEEDED`.
    RequestLimit { count: u32 },
    /// The next `count` data calls: HTTP 500 `UNKNOWN_EXCEPTION` (same queue).
    UnknownException { count: u32 },
    /// The next `count` records written: `UNABLE_TO_LOCK_ROW` (per record in
    /// collections; HTTP 400 for a single-record call).
    LockRow { count: u32 },
    /// The next `count` data calls are answered after `delay` (the write is
    /// done first, like a slow org that commits and answers late).
    Slow { delay: Duration, count: u32 },
    /// Every token issued so far becomes invalid now.
    ExpireTokens,
    /// From now on every write to the record whose Id (15 or 18 characters)
    /// or external id value (case-insensitive) is `key` fails with
    /// `status_code` (e.g. `FIELD_CUSTOM_VALIDATION_EXCEPTION`).
    RejectRecord {
        key: String,
        status_code: String,
        message: String,
        fields: Vec<String>,
    },
    /// From now on each data call fails with 503 with probability `ratio`
    /// (deterministic for a `seed`); replaces an earlier ratio, 0 turns it off.
    TransientRatio { ratio: f64, seed: u64 },
    /// From now on each sObject Collections call fails with HTTP 500
    /// `UNKNOWN_EXCEPTION` with probability `ratio` (deterministic for a
    /// `seed`; drawn after [`Fault::TransientRatio`]), before anything is
    /// written; replaces an earlier ratio, 0 turns it off.
    CollectionsUnknownException { ratio: f64, seed: u64 },
    /// The next Bulk API 2.0 job closed (`UploadComplete`) processes
    /// `after_records` rows, then turns `Failed` with `errorMessage` =
    /// `message`; the rows processed stay written, the rest is unprocessed
    /// (Bulk API 2.0 "Job States": `Failed` does not roll back).
    BulkJobFails {
        after_records: usize,
        message: String,
    },
    /// The next Bulk API 2.0 job closed is aborted after `after_records`
    /// rows (as by a user with "Manage Data Integrations"): `Aborted`, the
    /// rest unprocessed.
    BulkJobAborted { after_records: usize },
}

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub status: u16,
    /// Records in the request: 1 for a single-record call, the length of
    /// `records` for a collections call, 0 otherwise.
    pub records: usize,
    /// `true` for the token endpoint.
    pub auth: bool,
    /// The kind when the method and path do not tell it ([`call_kind`]):
    /// Bulk API 2.0 calls (`bulk_close` or `bulk_abort` depend on the body).
    pub kind: Option<&'static str>,
    /// The W3C `traceparent` header the caller sent, if any.
    pub traceparent: Option<String>,
}

/// What every request handler sees.
struct Shared {
    config: SimConfig,
    url: String,
    org_id: String,
    user_id: String,
    jwt_key: Option<DecodingKey>,
    state: Mutex<State>,
    org: Mutex<org::Org>,
    /// Wakes the accept loop for an [`Outage::Refused`].
    refuse: tokio::sync::Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn org(&self) -> MutexGuard<'_, org::Org> {
        self.org.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state with the Bulk API 2.0 jobs brought up to now (their rows
    /// written as the clock says they were), so a test sees what the org
    /// would show.
    fn state_now(&self) -> MutexGuard<'_, State> {
        let read_only = self.org().read_only;
        let mut st = self.state();
        st.advance_bulk(&self.config, read_only);
        st
    }
}

/// A running simulator. Dropping it stops the server too; [`shutdown`]
/// waits for that.
///
/// [`shutdown`]: Simulator::shutdown
pub struct Simulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

// === impl Simulator ===

impl Simulator {
    /// Starts on `127.0.0.1` on a free port.
    ///
    /// # Errors
    /// Binding failed, or `jwt_public_key_pem` is not an RSA public key.
    pub async fn start(config: SimConfig) -> io::Result<Simulator> {
        Simulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts on `addr`.
    ///
    /// # Errors
    /// Binding failed, or `jwt_public_key_pem` is not an RSA public key.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> io::Result<Simulator> {
        let jwt_key = match config.jwt_public_key_pem.trim() {
            "" => None,
            pem => Some(DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("jwt_public_key_pem: {e}"),
                )
            })?),
        };
        let org_id = crate::id::to_18(&config.org_id).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("org_id {:?}: not a 15- or 18-character id", config.org_id),
            )
        })?;
        let listener = TcpListener::bind(addr).await?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let url = match &config.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{local}"),
        };
        let shared = Arc::new(Shared {
            config,
            url,
            org_id,
            user_id: crate::id::to_18(USER_ID).unwrap_or_else(|| USER_ID.to_owned()),
            jwt_key,
            state: Mutex::new(State::new()),
            org: Mutex::default(),
            refuse: tokio::sync::Notify::new(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(Simulator {
            shared,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: the login URL and the `instance_url` given
    /// out with tokens.
    pub fn url(&self) -> String {
        self.shared.url.clone()
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.state().inject(fault);
    }

    /// Adds (or replaces) a record. Updates by Id need one (else 404
    /// `NOT_FOUND`); a custom object seen first here takes the key prefix of
    /// `id`.
    ///
    /// # Panics
    /// When `id` is not a 15- or 18-character id (a test bug).
    pub fn seed(&self, sobject: &str, id: &str, fields: Map<String, Value>) {
        self.shared.state().seed(sobject, id, fields);
    }

    /// Deletes a record: later writes to it fail with `ENTITY_IS_DELETED`.
    /// `false` when there was no such record.
    pub fn delete(&self, sobject: &str, id: &str) -> bool {
        self.shared.state().delete(sobject, id)
    }

    /// A live record's fields (without `Id`); `id` may be 15 or 18
    /// characters.
    pub fn record(&self, sobject: &str, id: &str) -> Option<Map<String, Value>> {
        self.shared.state_now().fields(sobject, id).cloned()
    }

    /// The live record whose `field` equals `value` (case-insensitive), with
    /// its 18-character Id; the lowest Id if several match.
    pub fn record_by_external_id(
        &self,
        sobject: &str,
        field: &str,
        value: &str,
    ) -> Option<(String, Map<String, Value>)> {
        let st = self.shared.state_now();
        let id = st
            .find_by_external_id(sobject, field, value)
            .into_iter()
            .next()?;
        let fields = st.fields(sobject, &id)?.clone();
        Some((id, fields))
    }

    /// How many successful writes touched that record.
    pub fn writes(&self, sobject: &str, id: &str) -> u64 {
        self.shared.state_now().writes(sobject, id)
    }

    /// Every request answered so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.state().calls.clone()
    }

    /// Every Bulk API 2.0 ingest job, in creation order, brought up to now
    /// (deleted ones too, marked).
    pub fn bulk_jobs(&self) -> Vec<BulkJobInfo> {
        self.shared.state_now().bulk.infos()
    }

    /// Data calls (not the token endpoint), failed ones included.
    pub fn api_calls(&self) -> u64 {
        self.shared.state().api_calls
    }

    /// Token endpoint calls, failed ones included.
    pub fn token_requests(&self) -> u64 {
        self.shared.state().token_requests
    }

    /// Stops accepting, closes every connection, and waits for the server
    /// task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path == SUMMARY_PATH && parts.method == http::Method::GET {
        // The simulator's own read endpoint: not an org resource, not
        // logged nor charged; `?records=0` leaves the records out.
        let with_records = parts.uri.query() != Some("records=0");
        let summary = plan::summary(shared, with_records);
        return Some(respond(
            Reply::json(StatusCode::OK, summary),
            &shared.config,
        ));
    }
    let outage = shared.org().outage();
    if path == TOKEN_PATH && matches!(outage, Some(Outage::Dropped | Outage::Refused)) {
        shared.state().token_requests += 1;
        return None;
    }
    let kind = if path == TOKEN_PATH {
        Kind::Token
    } else if path.trim_end_matches('/') == DATA_PREFIX.trim_end_matches('/') {
        Kind::Versions
    } else if path.starts_with(DATA_PREFIX) {
        Kind::Data
    } else {
        Kind::Other
    };
    let limit = if bulk::is_upload(&parts.method, &path) {
        MAX_BULK_BODY
    } else {
        MAX_BODY
    };
    let reply = match Limited::new(body, limit).collect().await {
        Err(_) => Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_ENTITY_TOO_LARGE",
            "The request body is too large or could not be read",
        ),
        Ok(body) => {
            let body = body.to_bytes();
            match kind {
                Kind::Token => oauth::token(shared, &parts.method, &parts.headers, &body),
                Kind::Data => data::handle(shared, &parts.method, &path, &parts.headers, &body),
                Kind::Versions => versions::reply(&parts.method),
                Kind::Other => Reply::error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "The requested resource does not exist",
                ),
            }
        }
    };
    {
        let mut st = shared.state();
        match kind {
            Kind::Token => st.token_requests += 1,
            Kind::Data => st.api_calls += 1,
            Kind::Versions | Kind::Other => {}
        }
        st.calls.push(Call {
            method: parts.method.to_string(),
            path,
            status: reply.status.as_u16(),
            records: reply.records,
            auth: matches!(kind, Kind::Token),
            kind: reply.kind,
            traceparent: parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    Some(respond(reply, &shared.config))
}

#[derive(Clone, Copy)]
enum Kind {
    Token,
    Data,
    /// `GET /services/data/`: unauthenticated, not charged.
    Versions,
    Other,
}
