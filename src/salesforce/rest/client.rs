//! sObject Collections calls with token caching, one re-authentication on
//! `INVALID_SESSION_ID`, and `Sforce-Limit-Info` tracking.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

use super::auth::{Auth, Token};
use super::body::CollectionBody;
use super::{span, ApiError};
use crate::telemetry::trace::Tracer;

/// Response header with the org's rolling 24 h API usage.
pub(crate) const LIMIT_INFO: &str = "sforce-limit-info";

/// One usage item of `Sforce-Limit-Info`: `<used>/<limit>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Requests used in the rolling 24 h.
    pub(crate) used: u64,
    /// The allocation.
    pub(crate) limit: u64,
}

impl Usage {
    /// `used / limit` (0 when the limit is 0).
    pub(crate) fn ratio(&self) -> f64 {
        if self.limit == 0 {
            0.0
        } else {
            self.used as f64 / self.limit as f64
        }
    }

    /// The usage item closest to its limit in a `Sforce-Limit-Info` value
    /// (see [`LimitInfo::parse`]).
    pub(crate) fn parse(header: &str) -> Option<Usage> {
        LimitInfo::parse(header).tightest()
    }

    /// `N/M` (anything after `M`, such as `(appName=x)`, is ignored).
    fn from_item(value: &str) -> Option<Usage> {
        let (used, rest) = value.split_once('/')?;
        let digits = rest.trim_start();
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        Some(Usage {
            used: used.trim().parse().ok()?,
            limit: digits[..end].parse().ok()?,
        })
    }
}

/// `Sforce-Limit-Info`: one or more items separated by `;` (REST API
/// Developer Guide, "Limit Info Header"), e.g.
/// `api-usage=10018/100000; per-app-api-usage=17/250(appName=x)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LimitInfo {
    /// `api-usage`: the org's rolling 24 h allocation.
    pub(crate) api: Option<Usage>,
    /// `per-app-api-usage`: the connected app's own allocation, when the org
    /// sets one.
    pub(crate) per_app: Option<Usage>,
    /// The `appName` of `per-app-api-usage`.
    pub(crate) app_name: Option<String>,
}

impl LimitInfo {
    /// Parses the header value; unknown and malformed items are skipped
    /// (`,` is accepted as a separator too).
    pub(crate) fn parse(header: &str) -> LimitInfo {
        let mut info = LimitInfo::default();
        for item in header.split([';', ',']) {
            let Some((name, value)) = item.trim().split_once('=') else {
                continue;
            };
            match name.trim() {
                "api-usage" => info.api = Usage::from_item(value).or(info.api),
                "per-app-api-usage" => {
                    if let Some(u) = Usage::from_item(value) {
                        info.per_app = Some(u);
                        info.app_name = value
                            .split_once("(appName=")
                            .map(|(_, n)| n.trim_end_matches(')').to_owned());
                    }
                }
                _ => {}
            }
        }
        info
    }

    /// The item closest to its limit (the one a budget must follow).
    pub(crate) fn tightest(&self) -> Option<Usage> {
        match (self.api, self.per_app) {
            (Some(a), Some(p)) => Some(if p.ratio() > a.ratio() { p } else { a }),
            (a, p) => a.or(p),
        }
    }
}

/// One request for [`Client::send`].
pub(crate) struct Call<'a> {
    /// The HTTP method.
    pub(crate) method: reqwest::Method,
    /// The path on the instance (`/services/data/vNN.N/...`).
    pub(crate) path: &'a str,
    /// The body's `Content-Type`.
    pub(crate) content_type: Option<&'static str>,
    /// The body (cheap to clone: sent again after a re-authentication).
    pub(crate) body: Option<bytes::Bytes>,
}

/// One record's result, in request order.
pub(crate) type RecordResult = Result<(), ApiError>;

/// The result of a collections call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// HTTP 200: one result per record, in request order.
    Records(Vec<RecordResult>),
    /// The whole call failed (transport, 4xx/5xx with a top-level error).
    Failed(ApiError),
    /// HTTP 400 `JSON_PARSER_ERROR` at a position inside the record with
    /// this index: that record made the whole call fail, the others were
    /// not applied.
    BadRecord {
        /// Index of the record in the request.
        index: usize,
        /// Salesforce's error.
        error: ApiError,
    },
}

/// Counters the client keeps (shared with the worker's metrics).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    /// Data API calls made (token requests not included).
    pub(crate) api_calls: Counter,
    /// Token requests made.
    pub(crate) token_requests: Counter,
}

/// A Salesforce REST client for one org.
pub(crate) struct Client {
    http: reqwest::Client,
    auth: Auth,
    login_url: String,
    fallback_instance: String,
    api_version: String,
    token: RwLock<Option<Token>>,
    usage: Mutex<Option<Usage>>,
    counters: Counters,
    /// Makes the `salesforce` span of each call (the worker's).
    tracer: Tracer,
}

#[derive(Deserialize)]
struct RecordReply {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<RecordError>,
}

#[derive(Deserialize)]
struct RecordError {
    #[serde(rename = "statusCode", alias = "errorCode")]
    status_code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct TopError {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    message: Option<String>,
}

impl Client {
    /// A client; no request is made until the first call.
    /// `timeout` bounds every request (connect + answer).
    pub(crate) fn new(
        auth: Auth,
        login_url: String,
        fallback_instance: String,
        api_version: String,
        timeout: Duration,
        counters: Counters,
    ) -> Result<Client, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Client {
            http,
            auth,
            login_url,
            fallback_instance,
            api_version,
            token: RwLock::new(None),
            usage: Mutex::new(None),
            counters,
            tracer: Tracer::disabled(),
        })
    }

    /// The same client making its call spans with `tracer`.
    pub(crate) fn with_tracer(self, tracer: Tracer) -> Client {
        Client { tracer, ..self }
    }

    /// The last `Sforce-Limit-Info` seen: its item closest to its limit
    /// (`api-usage` or `per-app-api-usage`).
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage.lock().ok().and_then(|u| *u)
    }

    /// `PATCH /services/data/vNN.N/composite/sobjects`: update records by Id.
    /// Each record is `{"attributes":{"type":Obj},"id":...,<fields>}`.
    pub(crate) async fn update(&self, records: &[Value]) -> Outcome {
        let path = format!("/services/data/v{}/composite/sobjects", self.api_version);
        self.collections(&path, records).await
    }

    /// `PATCH /services/data/vNN.N/composite/sobjects/{Obj}/{ExtField}`:
    /// upsert records of one sObject type by external id.
    pub(crate) async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[Value],
    ) -> Outcome {
        let path = format!(
            "/services/data/v{}/composite/sobjects/{sobject}/{external_id_field}",
            self.api_version
        );
        self.collections(&path, records).await
    }

    /// The API version calls are made with (`62.0`).
    pub(crate) fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `GET` a path of the org's instance: (status, body). With
    /// `authenticated`, the token is sent (and renewed once on
    /// `INVALID_SESSION_ID`) and the call is counted.
    pub(super) async fn get(
        &self,
        path: &str,
        authenticated: bool,
    ) -> Result<(u16, bytes::Bytes), ApiError> {
        let call = Call {
            method: reqwest::Method::GET,
            path,
            content_type: None,
            body: None,
        };
        self.send(&call, authenticated).await
    }

    /// One request to the org's instance: (status, body). With
    /// `authenticated`, the token is sent (and renewed once on a 401) and
    /// the call is counted as an API call; `Sforce-Limit-Info` is read.
    ///
    /// # Errors
    /// [`ApiError`] for a transport failure or no token (`AUTH`).
    pub(super) async fn send(
        &self,
        call: &Call<'_>,
        authenticated: bool,
    ) -> Result<(u16, bytes::Bytes), ApiError> {
        let mut reauthenticated = false;
        loop {
            let token = self.current_token(false).await?;
            let url = format!("{}{}", token.instance_url.trim_end_matches('/'), call.path);
            let span = span::start(&self.tracer, &call.method, call.path);
            let mut req = span::propagate(self.http.request(call.method.clone(), url), &span);
            if authenticated {
                self.counters.api_calls.inc();
                req = req.bearer_auth(token.access_token.expose_secret());
            }
            if let Some(ct) = call.content_type {
                req = req.header(reqwest::header::CONTENT_TYPE, ct);
            }
            if let Some(body) = &call.body {
                req = req.body(body.clone());
            }
            let resp = req.send().await.map_err(|e| {
                span::failed(&span, &e);
                transport(&e)
            })?;
            self.read_usage(&resp);
            let status = resp.status().as_u16();
            span::answered(&span, status);
            let bytes = resp.bytes().await.map_err(|e| transport(&e))?;
            if authenticated && status == 401 && !reauthenticated {
                reauthenticated = true;
                self.current_token(true).await?;
                continue;
            }
            return Ok((status, bytes));
        }
    }

    fn read_usage(&self, resp: &reqwest::Response) {
        if let Some(u) = resp
            .headers()
            .get(LIMIT_INFO)
            .and_then(|v| v.to_str().ok())
            .and_then(Usage::parse)
        {
            if let Ok(mut g) = self.usage.lock() {
                *g = Some(u);
            }
        }
    }

    async fn collections(&self, path: &str, records: &[Value]) -> Outcome {
        let body = CollectionBody::new(records);
        let mut reauthenticated = false;
        loop {
            let token = match self.current_token(false).await {
                Ok(t) => t,
                Err(e) => return Outcome::Failed(e),
            };
            let url = format!("{}{}", token.instance_url.trim_end_matches('/'), path);
            self.counters.api_calls.inc();
            let span = span::start(&self.tracer, &reqwest::Method::PATCH, path);
            let sent = span::propagate(self.http.patch(url), &span)
                .bearer_auth(token.access_token.expose_secret())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.text.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    span::failed(&span, &e);
                    return Outcome::Failed(transport(&e));
                }
            };
            self.read_usage(&resp);
            let status = resp.status().as_u16();
            span::answered(&span, status);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => return Outcome::Failed(transport(&e)),
            };
            if status == 200 {
                return match serde_json::from_slice::<Vec<RecordReply>>(&bytes) {
                    Ok(replies) if replies.len() == records.len() => {
                        Outcome::Records(replies.into_iter().map(record_result).collect())
                    }
                    _ => Outcome::Failed(ApiError::new(
                        "INVALID_RESPONSE",
                        "collections reply does not match the request",
                    )),
                };
            }
            let err = top_error(status, &bytes);
            if status == 400 && err.code == "JSON_PARSER_ERROR" {
                if let Some(index) = body.record_in_message(&err.message) {
                    return Outcome::BadRecord { index, error: err };
                }
            }
            if err.code == "INVALID_SESSION_ID" && !reauthenticated {
                reauthenticated = true;
                if let Err(e) = self.current_token(true).await {
                    return Outcome::Failed(e);
                }
                continue;
            }
            return Outcome::Failed(err);
        }
    }

    /// The cached token, or a new one when `refresh` or none is cached.
    async fn current_token(&self, refresh: bool) -> Result<Token, ApiError> {
        if !refresh {
            if let Some(t) = self.token.read().await.as_ref() {
                return Ok(t.clone());
            }
        }
        let mut slot = self.token.write().await;
        if !refresh {
            if let Some(t) = slot.as_ref() {
                return Ok(t.clone());
            }
        }
        self.counters.token_requests.inc();
        match self
            .auth
            .token(&self.http, &self.login_url, &self.fallback_instance)
            .await
        {
            Ok(t) => {
                *slot = Some(t.clone());
                Ok(t)
            }
            Err(e) => {
                *slot = None;
                Err(ApiError::new(super::AUTH_ERROR, e.to_string()))
            }
        }
    }
}

fn record_result(r: RecordReply) -> RecordResult {
    if r.success {
        return Ok(());
    }
    let first = r.errors.into_iter().next();
    Err(ApiError::new(
        first
            .as_ref()
            .and_then(|e| e.status_code.clone())
            .unwrap_or_else(|| "UNKNOWN_ERROR".into()),
        first.and_then(|e| e.message).unwrap_or_default(),
    ))
}

/// A whole-call failure: the body's first `errorCode`, else `HTTP_<status>`;
/// the status is kept (5xx is retryable whatever the code).
pub(super) fn top_error(status: u16, body: &[u8]) -> ApiError {
    let parsed: Option<Vec<TopError>> = serde_json::from_slice(body).ok();
    let first = parsed.and_then(|v| v.into_iter().next());
    let mut e = match first {
        Some(TopError {
            error_code: Some(code),
            message,
        }) => ApiError::new(code, message.unwrap_or_default()),
        _ => ApiError::new(format!("HTTP_{status}"), format!("HTTP {status}")),
    };
    e.status = Some(status);
    e
}

fn transport(e: &reqwest::Error) -> ApiError {
    ApiError::new(
        if e.is_timeout() { "TIMEOUT" } else { "CONNECT" },
        e.to_string(),
    )
}

#[cfg(test)]
mod tests;
