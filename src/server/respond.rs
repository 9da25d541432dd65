//! The only place errors become HTTP answers.
//!
//! Clients get a fixed short body that never echoes input nor says which
//! check failed; the detail goes to the logs and metrics. Outbound Message
//! routes answer with SOAP (Ack on 200, Fault on 500) since Salesforce treats
//! anything else as "not XML".

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::body;
use super::phase::{self, Late, Refused, Seen, Unauthenticated, Unqueued};
use crate::outbox::{self, Stored};
use crate::salesforce::om::ack::{self, FaultCode};
use crate::verify::{self, Handshake};

/// The answer a provider's handshake asks for: its status, type and body
/// exactly, never the gateway's JSON.
fn handshake(h: &Handshake) -> Response<Body> {
    let (status, ctype, body) = match h {
        Handshake::Json(b) => (StatusCode::OK, Some("application/json"), b.clone()),
        Handshake::Text(b) => (StatusCode::OK, Some("text/plain; charset=utf-8"), b.clone()),
        Handshake::NoContent => (StatusCode::NO_CONTENT, None, String::new()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Some(c) = ctype {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(c));
    }
    let _ = headers;
    resp
}

/// Seconds a sender is asked to wait after a 503 (or SOAP Server fault).
pub(crate) const RETRY_AFTER_S: &str = "5";

/// Response body type of the gateway.
pub(crate) type Body = Full<Bytes>;

/// How a request ended; decides status, body and the metric label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Published and confirmed: 200.
    Accepted,
    /// Written to the spool (fsynced), to be published later: 200.
    Spooled,
    /// Handshake answered synchronously (Slack url_verification, Meta
    /// subscribe, Discord PING...): the provider's exact answer.
    Handshake(Handshake),
    /// Seen before within the replay TTL: 200 (or Ack), not published again.
    Duplicate,
    /// Client address not allowed, or no matching client certificate: 403.
    Forbidden,
    /// No route for the path: 404.
    NotFound,
    /// Not POST: 405 with `Allow: POST` (`Allow: GET, POST` when `true`:
    /// the route answers a handshake by GET).
    MethodNotAllowed(bool),
    /// Verification failed: 401.
    Unauthorized,
    /// Malformed request (body, content): 400.
    BadRequest,
    /// Body over the route's cap: 413.
    TooLarge,
    /// Body not received in time: 408.
    Timeout,
    /// Too many concurrent requests: 503 + Retry-After.
    Overloaded,
    /// Past the route's `rate_limit`: 429 + `Retry-After` with the seconds
    /// until a request is admitted again (a SOAP Server fault on Outbound
    /// Message routes, which Salesforce retries).
    RateLimited(u64),
    /// Broker down, blocked, or no confirm: 503 + Retry-After.
    Unavailable,
    /// The request deadline passed after the body arrived, before the
    /// message was stored: 503 + Retry-After (not 408: the sender did its
    /// part and must retry).
    Deadline,
}

impl Outcome {
    /// Label for `requests_total{outcome}`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Spooled => "spooled",
            Outcome::Duplicate => "duplicate",
            Outcome::Forbidden => "forbidden",
            Outcome::Handshake(_) => "handshake",
            Outcome::NotFound => "not_found",
            Outcome::MethodNotAllowed(_) => "method_not_allowed",
            Outcome::Unauthorized => "unauthorized",
            Outcome::BadRequest => "bad_request",
            Outcome::TooLarge => "too_large",
            Outcome::Timeout => "timeout",
            Outcome::Overloaded => "overloaded",
            Outcome::RateLimited(_) => "rate_limited",
            Outcome::Unavailable => "unavailable",
            Outcome::Deadline => "deadline",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Outcome::Accepted | Outcome::Spooled | Outcome::Duplicate | Outcome::Handshake(_) => {
                StatusCode::OK
            }
            Outcome::Forbidden => StatusCode::FORBIDDEN,
            Outcome::NotFound => StatusCode::NOT_FOUND,
            Outcome::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Outcome::Unauthorized => StatusCode::UNAUTHORIZED,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Timeout => StatusCode::REQUEST_TIMEOUT,
            Outcome::Overloaded | Outcome::Unavailable | Outcome::Deadline => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Outcome::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn text(&self) -> &'static str {
        match self {
            Outcome::Accepted | Outcome::Spooled | Outcome::Duplicate => {
                "{\"status\":\"accepted\"}\n"
            }
            Outcome::Forbidden => "{\"error\":\"forbidden\"}\n",
            Outcome::Handshake(_) => "",
            Outcome::NotFound => "{\"error\":\"not found\"}\n",
            Outcome::MethodNotAllowed(_) => "{\"error\":\"method not allowed\"}\n",
            Outcome::Unauthorized => "{\"error\":\"unauthorized\"}\n",
            Outcome::BadRequest => "{\"error\":\"bad request\"}\n",
            Outcome::TooLarge => "{\"error\":\"payload too large\"}\n",
            Outcome::Timeout => "{\"error\":\"request timeout\"}\n",
            Outcome::Overloaded | Outcome::Unavailable | Outcome::Deadline => {
                "{\"error\":\"temporarily unavailable\"}\n"
            }
            Outcome::RateLimited(_) => "{\"error\":\"too many requests\"}\n",
        }
    }

    fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            Outcome::Overloaded | Outcome::Unavailable | Outcome::Deadline => {
                Some(HeaderValue::from_static(RETRY_AFTER_S))
            }
            Outcome::RateLimited(secs) => Some(HeaderValue::from(*secs)),
            _ => None,
        }
    }

    /// The JSON answer for webhook routes (and unknown paths).
    pub(crate) fn webhook(&self) -> Response<Body> {
        if let Outcome::Handshake(h) = self {
            let mut resp = handshake(h);
            self.common_headers(resp.headers_mut());
            return resp;
        }
        let mut resp = Response::new(Full::new(Bytes::from_static(self.text().as_bytes())));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.common_headers(h);
        resp
    }

    /// The SOAP answer for Outbound Message routes: the Ack on success,
    /// otherwise a SOAP 1.1 Fault on HTTP 500 (`soapenv:Server` for our
    /// failures, `soapenv:Client` for the request's), except 404/405 which
    /// keep their status.
    pub(crate) fn soap(&self) -> Response<Body> {
        let (status, body) = match self {
            Outcome::Accepted | Outcome::Spooled | Outcome::Duplicate | Outcome::Handshake(_) => {
                (StatusCode::OK, ack::ACK.to_owned())
            }
            Outcome::NotFound | Outcome::MethodNotAllowed(_) => (
                self.status(),
                ack::fault(FaultCode::Client, self.fault_text()),
            ),
            Outcome::Overloaded
            | Outcome::Unavailable
            | Outcome::Deadline
            | Outcome::Timeout
            | Outcome::RateLimited(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ack::fault(FaultCode::Server, self.fault_text()),
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ack::fault(FaultCode::Client, self.fault_text()),
            ),
        };
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ack::CONTENT_TYPE));
        self.common_headers(h);
        resp
    }

    fn fault_text(&self) -> &'static str {
        match self {
            Outcome::Accepted | Outcome::Spooled | Outcome::Duplicate | Outcome::Handshake(_) => "",
            Outcome::Forbidden => "Forbidden",
            Outcome::NotFound => "Not found",
            Outcome::MethodNotAllowed(_) => "Method not allowed",
            Outcome::Unauthorized => "Unauthorized",
            Outcome::BadRequest => "Malformed Outbound Message",
            Outcome::TooLarge => "Message too large",
            Outcome::Timeout => "Request timeout",
            Outcome::Overloaded | Outcome::Unavailable | Outcome::Deadline => {
                "Temporarily unavailable, retry later"
            }
            Outcome::RateLimited(_) => "Rate limited, retry later",
        }
    }

    fn common_headers(&self, h: &mut http::HeaderMap) {
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        h.insert(
            http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        h.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(after) = self.retry_after() {
            h.insert(RETRY_AFTER, after);
        }
        if let Outcome::MethodNotAllowed(get) = self {
            let allow = if *get { "GET, POST" } else { "POST" };
            h.insert(ALLOW, HeaderValue::from_static(allow));
        }
    }
}

// === the one mapping: every phase's error (and success) to its Outcome ===

impl From<Refused> for Outcome {
    fn from(e: Refused) -> Self {
        match e {
            Refused::NoRoute => Outcome::NotFound,
            Refused::Method(get) => Outcome::MethodNotAllowed(get),
            Refused::Overloaded => Outcome::Overloaded,
            Refused::Address | Refused::Certificate => Outcome::Forbidden,
            Refused::RateLimited(wait) => {
                Outcome::RateLimited(super::limit::retry_after_secs(wait))
            }
        }
    }
}

impl From<body::Error> for Outcome {
    fn from(e: body::Error) -> Self {
        match e {
            body::Error::TooLarge => Outcome::TooLarge,
            body::Error::Timeout => Outcome::Timeout,
            body::Error::Broken => Outcome::BadRequest,
        }
    }
}

impl From<Unauthenticated> for Outcome {
    /// 401, except where the sender was proven but what it sent is not
    /// usable (400: a retry with the same body cannot succeed).
    fn from(e: Unauthenticated) -> Self {
        match e {
            Unauthenticated::Signature(verify::Error::Body)
            | Unauthenticated::OutboundMessage(verify::salesforce::Error::Malformed(_))
            | Unauthenticated::NotJson => Outcome::BadRequest,
            Unauthenticated::Signature(_)
            | Unauthenticated::OutboundMessage(verify::salesforce::Error::WrongOrg) => {
                Outcome::Unauthorized
            }
        }
    }
}

impl From<Unqueued> for Outcome {
    fn from(e: Unqueued) -> Self {
        match e {
            Unqueued::Handshake(h) => Outcome::from(h),
            Unqueued::Uncarriable(_) => Outcome::BadRequest,
        }
    }
}

impl From<Handshake> for Outcome {
    fn from(h: Handshake) -> Self {
        Outcome::Handshake(h)
    }
}

impl From<Seen> for Outcome {
    fn from(_: Seen) -> Self {
        Outcome::Duplicate
    }
}

impl From<outbox::Error> for Outcome {
    fn from(_: outbox::Error) -> Self {
        Outcome::Unavailable
    }
}

impl From<Late> for Outcome {
    fn from(_: Late) -> Self {
        Outcome::Deadline
    }
}

impl From<Stored> for Outcome {
    fn from(stored: Stored) -> Self {
        match stored {
            Stored::Confirmed => Outcome::Accepted,
            Stored::Spooled => Outcome::Spooled,
        }
    }
}

impl From<phase::Error> for Outcome {
    fn from(e: phase::Error) -> Self {
        match e {
            phase::Error::Admit(e) => e.into(),
            phase::Error::Read(e) => e.into(),
            phase::Error::Authenticate(e) => e.into(),
            phase::Error::Envelope(e) => e.into(),
            phase::Error::Dedupe(e) => e.into(),
            phase::Error::Store(e) => e.into(),
            phase::Error::Late(e) => e.into(),
        }
    }
}

/// Marks an HTTP/1 answer as the connection's last (`Connection: close`):
/// the request body was not read to its end, so the connection cannot carry
/// another request.
pub(crate) fn close_connection(resp: &mut Response<Body>) {
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
}

/// The fixed answer when a handler panicked (the panic is logged by the
/// hook): 500, nothing of the panic shown.
pub(crate) fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("request handler panicked");
    let mut resp = Response::new(Full::new(Bytes::from_static(
        b"{\"error\":\"internal error\"}\n",
    )));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp
}
