//! What tests inject into and read from the Pub/Sub server: faults,
//! counters, and the error of a test-side call.

use std::fmt;

/// A Pub/Sub fault, queued and consumed in order by the RPCs it applies to
/// (the first three by any RPC, the stream ones by the next `Subscribe`).
/// Errors carry the `error-code` metadata and `rpcId:` in the message
/// \[ERR\].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubFault {
    /// `UNAUTHENTICATED`, `sfdc.platform.eventbus.grpc.service.auth.error`
    /// \[ERR\].
    AuthError,
    /// `UNAVAILABLE`, `sfdc.platform.eventbus.grpc.service.unavailable`
    /// \[ERR\].
    Unavailable,
    /// `RESOURCE_EXHAUSTED` (status assumed: the page names only the code),
    /// `sfdc.platform.eventbus.grpc.concurrent.client.limit.exceeded` \[ERR\].
    ConcurrentClientLimit,
    /// The next stream ends with `UNAVAILABLE: RST_STREAM closed stream`
    /// after delivering this many more events \[ERR\].
    EndStreamAfter(u32),
    /// The next stream sends nothing (no events, no keepalives) and stays
    /// open: observed in practice \[P31\].
    Silence,
}

/// What the server did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PubSubCounters {
    /// `Subscribe` calls, refused ones included.
    pub subscribe_calls: u64,
    /// `FetchRequest`s received on all streams.
    pub fetch_requests: u64,
    /// Events sent in `FetchResponse`s.
    pub events_delivered: u64,
    /// `GetSchema` calls.
    pub schema_requests: u64,
    /// `GetTopic` calls.
    pub topic_requests: u64,
    /// The largest outstanding (requested, undelivered) count of any
    /// stream, after the cap \[FLOW\].
    pub max_outstanding: i32,
    /// Subscribe streams open now.
    pub open_streams: u64,
}

/// Why a test-side call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No such topic.
    UnknownTopic(String),
    /// A topic of the other kind (platform event vs change event).
    WrongTopicKind(String),
    /// A field name not in the topic's schema.
    UnknownField(String),
    /// The schema could not be built (e.g. a bad field name).
    Schema(String),
    /// A value does not fit the schema.
    Encode(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownTopic(t) => write!(f, "unknown topic {t}"),
            Error::WrongTopicKind(t) => write!(f, "topic {t} is of the other kind"),
            Error::UnknownField(n) => write!(f, "unknown field {n}"),
            Error::Schema(e) => write!(f, "schema: {e}"),
            Error::Encode(e) => write!(f, "encode: {e}"),
        }
    }
}

impl std::error::Error for Error {}
