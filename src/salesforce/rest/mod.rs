//! Salesforce REST API client for the worker: OAuth 2.0 token flows
//! ([`auth`]), sObject Collections writes ([`client`], the body in
//! [`body`]) and describe / versions ([`describe`]).
//!
//! Facts followed: `../shared/docs/SALESFORCE.md` section 6 (JWT bearer and
//! client credentials flows, `INVALID_SESSION_ID`, sObject Collections update
//! and upsert, `Sforce-Limit-Info`, error codes and which to retry).

pub mod auth;
pub mod body;
pub mod client;
pub mod describe;

pub use auth::Auth;
pub use client::{Client, Outcome, RecordResult};
pub use describe::Describe;

/// Most records in one sObject Collections call.
pub const MAX_COLLECTION_RECORDS: usize = 200;

/// A Salesforce error code from a response (`errorCode` at the top level,
/// `statusCode` per record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `UNABLE_TO_LOCK_ROW`, `REQUIRED_FIELD_MISSING`, ... or `HTTP_<status>`
    /// when the body had none.
    pub code: String,
    /// Salesforce's message (may name fields; never contains our secrets).
    pub message: String,
}

impl ApiError {
    /// Whether a retry later may succeed (SALESFORCE.md section 6 table).
    pub fn retryable(&self) -> bool {
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
