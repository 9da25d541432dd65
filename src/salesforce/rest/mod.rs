//! Salesforce REST API client for the worker: OAuth 2.0 token flows
//! ([`auth`]), sObject Collections writes ([`client`], the body in
//! [`body`]), Bulk API 2.0 ingest jobs ([`bulk`]) and describe / versions
//! ([`describe`]).
//!
//! Facts followed: `../shared/docs/SALESFORCE.md` section 6 (JWT bearer and
//! client credentials flows, `INVALID_SESSION_ID`, sObject Collections update
//! and upsert, `Sforce-Limit-Info`, error codes and which to retry).

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod bulk;
pub(crate) mod client;
pub(crate) mod describe;
mod span;

pub(crate) use auth::{Auth, Token};
pub(crate) use client::{Client, Outcome, RecordResult};
pub(crate) use describe::Describe;

/// Most records in one sObject Collections call.
pub(crate) const MAX_COLLECTION_RECORDS: usize = 200;

/// The code of an [`ApiError`] for a failed token request: the token
/// endpoint (unreachable, 5xx, `invalid_grant`, `invalid_client`) or our own
/// credentials, never the message.
pub(crate) const AUTH_ERROR: &str = "AUTH";
/// Read-only mode during a Salesforce maintenance window.
pub(crate) const MAINTENANCE_ERROR: &str = "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE";
/// The org's rolling 24 h API allocation is spent (HTTP 403).
pub const REQUEST_LIMIT_ERROR: &str = "REQUEST_LIMIT_EXCEEDED";

/// A Salesforce error code from a response (`errorCode` at the top level,
/// `statusCode` per record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `UNABLE_TO_LOCK_ROW`, `REQUIRED_FIELD_MISSING`, ... or `HTTP_<status>`
    /// when the body had none.
    pub(crate) code: String,
    /// Salesforce's message (may name fields; never contains our secrets).
    pub(crate) message: String,
    /// The HTTP status of a whole-call failure; `None` for a per-record
    /// error, a transport failure or a token failure.
    pub(crate) status: Option<u16>,
}

/// Why no call should be made for a while: the org or its token endpoint is
/// the problem, not the messages (SALESFORCE.md section 6 table: "pause").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Hold {
    /// No token: connect errors, timeouts, 5xx, `invalid_grant`,
    /// `invalid_client` at the token endpoint.
    Auth,
    /// `INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE` (read-only mode).
    Maintenance,
    /// `REQUEST_LIMIT_EXCEEDED`: the daily allocation is spent.
    RequestLimit,
}

impl ApiError {
    /// An error without an HTTP status (per record, transport, ours).
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
            status: None,
        }
    }

    /// Whether a retry later may succeed (SALESFORCE.md section 6 table):
    /// any HTTP 5xx or 429 whatever the body's `errorCode` (`UNKNOWN_EXCEPTION`
    /// comes with 500), and the transient codes.
    pub(crate) fn retryable(&self) -> bool {
        if self
            .status
            .is_some_and(|s| (500..600).contains(&s) || s == 429)
        {
            return true;
        }
        matches!(
            self.code.as_str(),
            "UNABLE_TO_LOCK_ROW"
                | "REQUEST_LIMIT_EXCEEDED"
                | "SERVER_UNAVAILABLE"
                | "INVALID_SESSION_ID"
                | "ALL_OR_NONE_OPERATION_ROLLED_BACK"
                | "TIMEOUT"
                | "CONNECT"
                | "HTTP_429"
                | "HTTP_500"
                | "HTTP_502"
                | "HTTP_503"
                | "HTTP_504"
        )
    }

    /// Whether this failure is the org's rather than the message's: the
    /// worker then pauses instead of spending the message's attempts.
    pub(crate) fn hold(&self) -> Option<Hold> {
        match self.code.as_str() {
            AUTH_ERROR => Some(Hold::Auth),
            MAINTENANCE_ERROR => Some(Hold::Maintenance),
            REQUEST_LIMIT_ERROR => Some(Hold::RequestLimit),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}
