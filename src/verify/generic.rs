//! `generic_hmac`: an HMAC scheme described in config, for senders without a
//! dedicated kind (Linear, PagerDuty, Bitbucket, Calendly-like schemes in
//! PROVIDERS.md).
//!
//! Keys: `header` (signature header, required), `algorithm` (sha256 | sha512
//! | sha1), `encoding` (hex | base64), `prefix` (text before the signature),
//! `signed_payload` (template over `{body}`, `{timestamp}`, `{id}`; default
//! `{body}`), `timestamp_header` (Unix seconds; checked against
//! `tolerance_s`; the template must then sign `{timestamp}`), `id_header`
//! (idempotency key), `event_header`.

use base64::Engine as _;
use http::HeaderName;

pub use super::hmac::Algorithm;
use super::{body_hash_id, clean_id, parse_unix, Claims, Ctx, Error};

/// Signature encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lower- or upper-case hex.
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Body,
    Timestamp,
    Id,
}

/// A validated generic scheme.
#[derive(Debug, Clone)]
pub struct Scheme {
    header: HeaderName,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    template: Vec<Part>,
    timestamp_header: Option<HeaderName>,
    id_header: Option<HeaderName>,
    event_header: Option<HeaderName>,
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
    pub fn new(
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

    pub(crate) fn verify(&self, ctx: &Ctx<'_>) -> Result<Claims, Error> {
        let get = |h: &HeaderName| -> Result<&str, Error> {
            ctx.headers
                .get(h)
                .ok_or(Error::MissingHeader("signature"))?
                .to_str()
                .map_err(|_| Error::MalformedHeader("signature"))
        };
        let sig = get(&self.header)?;
        let sig = sig
            .trim()
            .strip_prefix(self.prefix.as_str())
            .ok_or(Error::MalformedHeader("signature"))?;
        let sig = match self.encoding {
            Encoding::Hex => hex::decode(sig).ok(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode(sig).ok(),
        }
        .ok_or(Error::MalformedHeader("signature"))?;

        let ts_text = match &self.timestamp_header {
            Some(h) => Some(
                ctx.headers
                    .get(h)
                    .ok_or(Error::MissingHeader("timestamp"))?
                    .to_str()
                    .map_err(|_| Error::MalformedHeader("timestamp"))?
                    .trim(),
            ),
            None => None,
        };
        let id = self
            .id_header
            .as_ref()
            .and_then(|h| ctx.headers.get(h))
            .and_then(|v| v.to_str().ok())
            .and_then(clean_id);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.template.len());
        for p in &self.template {
            parts.push(match p {
                Part::Literal(s) => s.as_bytes(),
                Part::Body => ctx.body,
                Part::Timestamp => ts_text.unwrap_or_default().as_bytes(),
                Part::Id => id.as_deref().ok_or(Error::MissingHeader("id"))?.as_bytes(),
            });
        }
        let slot = ctx
            .matching_slot(self.algorithm, &parts, &[sig])
            .ok_or(Error::BadSignature)?;
        if let Some(ts) = ts_text {
            ctx.check_timestamp(parse_unix(ts, "timestamp")?)?;
        }
        Ok(Claims {
            id: id.unwrap_or_else(|| body_hash_id(ctx.body)),
            event: self
                .event_header
                .as_ref()
                .and_then(|h| ctx.headers.get(h))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            id_signed: self.template.contains(&Part::Id) || self.id_header.is_none(),
            secret_slot: slot,
            handshake: None,
        })
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
