//! The errors the request flow's phases (`flow`) end with, and the one
//! they end the flow with: in a file of their own so that `respond`, which
//! maps each to the answer, need not import the flow.

use std::time::Duration;

use super::body;
use crate::envelope;
use crate::outbox;
use crate::verify::{self, Handshake};

/// Why [`admit`](super::flow::admit) refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// No route has the request's path.
    #[error("no route for the path")]
    NoRoute,
    /// Not `POST` (nor `GET` where the route's kind answers a handshake
    /// by GET: `true` then).
    #[error("method not allowed")]
    Method(bool),
    /// Every request permit is taken (load shedding).
    #[error("too many requests in progress")]
    Overloaded,
    /// The client's address is not in the route's `allow_cidrs`.
    #[error("client address not allowed")]
    Address,
    /// No client certificate matches the route's `client_cert`.
    #[error("no matching client certificate")]
    Certificate,
    /// Past the route's `rate_limit`; admitted again after the wait.
    #[error("rate limited")]
    RateLimited(Duration),
}

impl Refused {
    /// Label for `verification_failures_total{reason}`, for the refusals
    /// counted there.
    pub(crate) fn reason(&self) -> Option<&'static str> {
        match self {
            Refused::Address => Some("address_not_allowed"),
            Refused::Certificate => Some("client_certificate"),
            _ => None,
        }
    }
}

/// Why [`authenticate`](super::flow::authenticate) refused a body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unauthenticated {
    /// The webhook's signature scheme refused it.
    #[error(transparent)]
    Signature(#[from] verify::Error),
    /// The Outbound Message did not parse, or came from another
    /// Organization.
    #[error(transparent)]
    OutboundMessage(#[from] verify::salesforce::Error),
    /// Signed correctly, declared JSON, but not strict JSON.
    #[error("signed body declared JSON is not JSON")]
    NotJson,
}

impl Unauthenticated {
    /// Label for `verification_failures_total{reason}`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Unauthenticated::Signature(e) => e.reason(),
            Unauthenticated::OutboundMessage(e) => e.reason(),
            Unauthenticated::NotJson => "malformed_body",
        }
    }
}

/// What a request gets instead of messages from [`envelope`](super::flow::envelope).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unqueued {
    /// A provider handshake: answered at the edge, never queued.
    #[error("handshake")]
    Handshake(Handshake),
    /// An id or content type AMQP cannot carry: nothing stored.
    #[error(transparent)]
    Uncarriable(#[from] envelope::Error),
}

impl Unqueued {
    /// Label for `verification_failures_total{reason}`, for what is
    /// counted there.
    pub(crate) fn reason(&self) -> Option<&'static str> {
        match self {
            Unqueued::Handshake(_) => None,
            Unqueued::Uncarriable(_) => Some("uncarriable"),
        }
    }
}

/// Every message of the request was seen within its route's replay TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every message seen before")]
pub(crate) struct Seen;

/// The request deadline passed in a phase after the body arrived, before
/// the message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request deadline passed in {phase}")]
pub(crate) struct Late {
    /// The phase the deadline passed in.
    pub(crate) phase: &'static str,
}

/// The error a phase ended the flow with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// [`admit`](super::flow::admit) refused the request.
    #[error(transparent)]
    Admit(#[from] Refused),
    /// [`read`](super::flow::read) could not read the body.
    #[error(transparent)]
    Read(#[from] body::Error),
    /// [`authenticate`](super::flow::authenticate) refused the body.
    #[error(transparent)]
    Authenticate(#[from] Unauthenticated),
    /// [`envelope`](super::flow::envelope) made no messages.
    #[error(transparent)]
    Envelope(#[from] Unqueued),
    /// [`dedupe`](super::flow::dedupe) left nothing to store.
    #[error(transparent)]
    Dedupe(#[from] Seen),
    /// [`store`](super::flow::store) could not store the messages.
    #[error(transparent)]
    Store(#[from] outbox::Error),
    /// The request deadline passed after the body arrived.
    #[error(transparent)]
    Late(#[from] Late),
}

impl Error {
    /// Label for `verification_failures_total{reason}`, for the failures
    /// counted there (a check of the sender or of what it sent).
    pub(crate) fn reason(&self) -> Option<&'static str> {
        match self {
            Error::Admit(e) => e.reason(),
            Error::Authenticate(e) => Some(e.reason()),
            Error::Envelope(e) => e.reason(),
            Error::Read(_) | Error::Dedupe(_) | Error::Store(_) | Error::Late(_) => None,
        }
    }
}
