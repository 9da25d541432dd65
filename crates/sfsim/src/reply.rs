//! An answer as handlers build it ([`Reply`]) and the HTTP response it
//! becomes ([`respond`]): a JSON or raw body, `Sforce-Limit-Info`.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

use super::{org, SimConfig, LIMIT_INFO_HEADER};

/// An answer before it becomes a response.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// `Some` on data endpoints: the org's and the app's usage for
    /// `Sforce-Limit-Info`.
    pub usage: Option<(u64, u64)>,
    pub records: usize,
    /// Answer this late ([`crate::Fault::Slow`]).
    pub delay: Option<Duration>,
    /// A non-JSON body: its content type and bytes (Bulk result CSVs).
    pub raw: Option<Box<(&'static str, Vec<u8>)>>,
    /// [`crate::Call::kind`].
    pub kind: Option<&'static str>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            usage: None,
            records: 0,
            delay: None,
            raw: None,
            kind: None,
        }
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: None,
            usage: None,
            records: 0,
            delay: None,
            raw: None,
            kind: None,
        }
    }

    /// A non-JSON body (`text/csv` results).
    pub fn raw(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            raw: Some(Box::new((content_type, body))),
            ..Reply::empty(status)
        }
    }

    /// A top-level REST error: `[{"message","errorCode"}]`.
    pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        let message: String = message.into();
        Reply::json(
            status,
            serde_json::json!([{ "message": message, "errorCode": code }]),
        )
    }
}

pub(crate) fn respond(reply: Reply, config: &SimConfig) -> Response<Full<Bytes>> {
    let content_type = reply.raw.as_ref().map(|r| r.0);
    let body = match (reply.raw, &reply.body) {
        (Some(raw), _) => Bytes::from(raw.1),
        (None, Some(v)) => Bytes::from(v.to_string()),
        (None, None) => Bytes::new(),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = reply.status;
    let headers = resp.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    } else if reply.body.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    if let Some((used, per_app)) = reply.usage {
        if let Ok(v) = HeaderValue::from_str(&org::limit_info(config, used, per_app)) {
            headers.insert(LIMIT_INFO_HEADER, v);
        }
    }
    resp
}
