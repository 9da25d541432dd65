//! `generic_hmac`: the scheme a route's keys describe, checked at load
//! (`crate::verify::generic` checks requests against it).
//!
//! Keys: `header` (signature header, required), `algorithm` (sha256 | sha512
//! | sha1), `encoding` (hex | base64), `prefix` (text before the signature),
//! `signed_payload` (template over `{body}`, `{timestamp}`, `{id}`; default
//! `{body}`), `timestamp_header` (Unix seconds; checked against
//! `tolerance_s`; the template must then sign `{timestamp}`), `id_header`
//! (idempotency key), `event_header`.

use http::HeaderName;

/// HMAC hash function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA1 (legacy senders only).
    Sha1,
    /// HMAC-SHA256: what nearly every provider uses.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// Signature encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Encoding {
    /// Lower- or upper-case hex.
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// A piece of the `signed_payload` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text signed as written.
    Literal(String),
    /// `{body}`: the received bytes.
    Body,
    /// `{timestamp}`: the `timestamp_header` value.
    Timestamp,
    /// `{id}`: the `id_header` value.
    Id,
}

/// A validated generic scheme: what `crate::verify::generic` checks a
/// request against.
#[derive(Debug, Clone)]
pub(crate) struct Scheme {
    /// The signature header.
    pub(crate) header: HeaderName,
    /// The HMAC hash.
    pub(crate) algorithm: Algorithm,
    /// How the signature is written.
    pub(crate) encoding: Encoding,
    /// Text before the signature, stripped before decoding.
    pub(crate) prefix: String,
    /// The signed string, `{body}` always among its parts.
    pub(crate) template: Vec<Part>,
    /// Header with the signed Unix timestamp; set only when the template
    /// signs `{timestamp}`.
    pub(crate) timestamp_header: Option<HeaderName>,
    /// Header with the delivery id (idempotency key).
    pub(crate) id_header: Option<HeaderName>,
    /// Header with the event name.
    pub(crate) event_header: Option<HeaderName>,
}

impl Scheme {
    /// Validates the route keys.
    ///
    /// # Errors
    /// `(key, reason)` for the first bad key: an invalid header name, an
    /// unknown placeholder, `{body}` missing from the template, a
    /// placeholder whose header is not configured, or a `timestamp_header`
    /// the template does not sign.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        header: &str,
        algorithm: Algorithm,
        encoding: Encoding,
        prefix: String,
        signed_payload: &str,
        timestamp_header: Option<&str>,
        id_header: Option<&str>,
        event_header: Option<&str>,
    ) -> Result<Scheme, (&'static str, String)> {
        let name = |key: &'static str, v: &str| {
            HeaderName::from_bytes(v.as_bytes())
                .map_err(|_| (key, format!("{v:?} is not a valid header name")))
        };
        let template = parse_template(signed_payload).map_err(|r| ("signed_payload", r))?;
        if !template.contains(&Part::Body) {
            return Err(("signed_payload", "must contain {body}".into()));
        }
        if template.contains(&Part::Timestamp) && timestamp_header.is_none() {
            return Err((
                "timestamp_header",
                "required when signed_payload uses {timestamp}".into(),
            ));
        }
        if template.contains(&Part::Id) && id_header.is_none() {
            return Err(("id_header", "required when signed_payload uses {id}".into()));
        }
        let scheme = Scheme {
            header: name("header", header)?,
            algorithm,
            encoding,
            prefix,
            template,
            timestamp_header: timestamp_header
                .map(|h| name("timestamp_header", h))
                .transpose()?,
            id_header: id_header.map(|h| name("id_header", h)).transpose()?,
            event_header: event_header.map(|h| name("event_header", h)).transpose()?,
        };
        // An unsigned timestamp would decide freshness alone: once the replay
        // cache forgot a delivery, a captured one with a fresh header would
        // verify again.
        if scheme.timestamp_header.is_some() && !scheme.template.contains(&Part::Timestamp) {
            return Err((
                "signed_payload",
                "must contain {timestamp} when timestamp_header is set (an unsigned timestamp proves nothing)".into(),
            ));
        }
        Ok(scheme)
    }
}

fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| "unclosed {".to_string())?
            + open;
        parts.push(match &rest[open + 1..close] {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            other => return Err(format!("unknown placeholder {{{other}}}")),
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parts() {
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Part::Literal("v0:".into()),
                Part::Timestamp,
                Part::Literal(":".into()),
                Part::Body
            ]
        );
        assert!(parse_template("{nope}").is_err());
        assert!(parse_template("{body").is_err());
    }
}
