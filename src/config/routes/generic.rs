//! `generic_hmac`: the scheme a route's keys describe, checked at load
//! (`crate::verify::generic` checks requests against it). The built-in
//! kinds whose scheme is plain HMAC (paddle, calendly, pagerduty, typeform,
//! intercom, bitbucket, linear) are presets of it: a [`Spec`] constant each.
//!
//! Keys: `header` (signature header, required), `algorithm` (sha256 | sha512
//! | sha1), `encoding` (hex | base64 | base64url), `prefix` (text before the
//! signature or list), `separator` (the header is a list of items split on
//! it), `item_prefix` (the items that are signatures, e.g. `v1=`; any may
//! match), `timestamp_item` (the list item holding the timestamp, e.g.
//! `t=`), `signed_payload` (template over `{body}`, `{timestamp}`, `{id}`,
//! `{method}`, `{url}`; default `{body}`), `timestamp_header` (the
//! timestamp in its own header), `timestamp_format` (`unix` seconds,
//! `unix_ms`, `rfc3339`; checked against `tolerance_s`; the template must
//! then sign `{timestamp}`), `id_header` (idempotency key), `event_header`.

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
    /// URL-safe base64 (RFC 4648 section 5), padding optional.
    Base64url,
}

/// How the signed timestamp is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimestampFormat {
    /// Decimal Unix seconds.
    #[default]
    Unix,
    /// Decimal Unix milliseconds.
    UnixMs,
    /// RFC 3339 (`2025-03-02T16:45:09Z`).
    Rfc3339,
}

/// A piece of the `signed_payload` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text signed as written.
    Literal(String),
    /// `{body}`: the received bytes.
    Body,
    /// `{timestamp}`: the timestamp as received (header or list item).
    Timestamp,
    /// `{id}`: the `id_header` value.
    Id,
    /// `{method}`: the request method (`POST`).
    Method,
    /// `{url}`: the route's `public_url` (else its path) and the received
    /// query.
    Url,
}

/// Where the signed timestamp travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimestampAt {
    /// In its own header.
    Header(HeaderName),
    /// In the signature list, as the item starting with this text.
    Item(String),
}

/// The signature header as a list of items (`t=..,v1=..,v1=..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List {
    /// Between items (`,`, `;`, ` `).
    pub(crate) separator: String,
    /// Text before each signature item (`v1=`); empty: every item that is
    /// not the timestamp.
    pub(crate) item_prefix: String,
}

/// A validated generic scheme: what `crate::verify::generic` checks a
/// request against.
#[derive(Debug, Clone)]
pub(crate) struct Scheme {
    /// The signature header.
    pub(crate) header: HeaderName,
    /// The signature header's name in errors (`signature` for
    /// generic_hmac routes, the header for presets).
    pub(crate) label: &'static str,
    /// The HMAC hash.
    pub(crate) algorithm: Algorithm,
    /// How the signature is written.
    pub(crate) encoding: Encoding,
    /// Text before the signature (or the list), stripped before decoding.
    pub(crate) prefix: String,
    /// The header is a list of items.
    pub(crate) list: Option<List>,
    /// The signed string, `{body}` always among its parts.
    pub(crate) template: Vec<Part>,
    /// Where the signed timestamp is; set only when the template signs
    /// `{timestamp}`.
    pub(crate) timestamp: Option<TimestampAt>,
    /// How the timestamp is written.
    pub(crate) timestamp_format: TimestampFormat,
    /// Header with the delivery id (idempotency key).
    pub(crate) id_header: Option<HeaderName>,
    /// Header with the event name.
    pub(crate) event_header: Option<HeaderName>,
}

/// A scheme as written: a route's keys, or a built-in kind's preset
/// constant. [`Spec::build`] checks it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec<'a> {
    /// `header`.
    pub(crate) header: &'a str,
    /// The header's name in errors.
    pub(crate) label: &'static str,
    /// `algorithm`.
    pub(crate) algorithm: Algorithm,
    /// `encoding`.
    pub(crate) encoding: Encoding,
    /// `prefix`.
    pub(crate) prefix: &'a str,
    /// `separator`.
    pub(crate) separator: Option<&'a str>,
    /// `item_prefix`.
    pub(crate) item_prefix: Option<&'a str>,
    /// `timestamp_item`.
    pub(crate) timestamp_item: Option<&'a str>,
    /// `signed_payload`.
    pub(crate) signed_payload: &'a str,
    /// `timestamp_header`.
    pub(crate) timestamp_header: Option<&'a str>,
    /// `timestamp_format`.
    pub(crate) timestamp_format: TimestampFormat,
    /// `id_header`.
    pub(crate) id_header: Option<&'a str>,
    /// `event_header`.
    pub(crate) event_header: Option<&'a str>,
}

impl Spec<'static> {
    /// HMAC-SHA256, hex, of the body, in `header`: the defaults presets
    /// start from (`..Spec::BODY`).
    pub(crate) const BODY: Spec<'static> = Spec {
        header: "",
        label: "signature",
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "",
        separator: None,
        item_prefix: None,
        timestamp_item: None,
        signed_payload: "{body}",
        timestamp_header: None,
        timestamp_format: TimestampFormat::Unix,
        id_header: None,
        event_header: None,
    };
}

impl Scheme {
    /// A scheme of the keys before the list and timestamp-format keys
    /// (kept for tests and callers of that form).
    ///
    /// # Errors
    /// As [`Spec::build`].
    #[cfg(test)]
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
        Spec {
            header,
            algorithm,
            encoding,
            prefix: &prefix,
            signed_payload,
            timestamp_header,
            id_header,
            event_header,
            ..Spec::BODY
        }
        .build()
    }
}

impl Spec<'_> {
    /// Validates the keys.
    ///
    /// # Errors
    /// `(key, reason)` for the first bad key: an invalid header name, an
    /// unknown placeholder, `{body}` missing from the template, a
    /// placeholder whose source is not configured, a timestamp the
    /// template does not sign, list keys without `separator`.
    pub(crate) fn build(&self) -> Result<Scheme, (&'static str, String)> {
        let name = |key: &'static str, v: &str| {
            HeaderName::from_bytes(v.trim().as_bytes())
                .map_err(|_| (key, format!("{v:?} is not a valid header name")))
        };
        let template = parse_template(self.signed_payload).map_err(|r| ("signed_payload", r))?;
        if !template.contains(&Part::Body) {
            return Err(("signed_payload", "must contain {body}".into()));
        }
        let list = self.list()?;
        let timestamp = match (self.timestamp_header, self.timestamp_item) {
            (Some(_), Some(_)) => {
                return Err((
                    "timestamp_item",
                    "not with timestamp_header: the timestamp is in one place".into(),
                ))
            }
            (Some(h), None) => Some(TimestampAt::Header(name("timestamp_header", h)?)),
            (None, Some(i)) => Some(TimestampAt::Item(nonempty("timestamp_item", i)?)),
            (None, None) => None,
        };
        let signs_ts = template.contains(&Part::Timestamp);
        if signs_ts && timestamp.is_none() {
            return Err((
                "timestamp_header",
                "required when signed_payload uses {timestamp} (or timestamp_item)".into(),
            ));
        }
        // An unsigned timestamp would decide freshness alone: once the replay
        // cache forgot a delivery, a captured one with a fresh header would
        // verify again.
        if timestamp.is_some() && !signs_ts {
            return Err((
                "signed_payload",
                "must contain {timestamp} when timestamp_header or timestamp_item is set (an unsigned timestamp proves nothing)".into(),
            ));
        }
        if template.contains(&Part::Id) && self.id_header.is_none() {
            return Err(("id_header", "required when signed_payload uses {id}".into()));
        }
        Ok(Scheme {
            header: name("header", self.header)?,
            label: self.label,
            algorithm: self.algorithm,
            encoding: self.encoding,
            prefix: self.prefix.to_owned(),
            list,
            template,
            timestamp,
            timestamp_format: self.timestamp_format,
            id_header: self.id_header.map(|h| name("id_header", h)).transpose()?,
            event_header: self
                .event_header
                .map(|h| name("event_header", h))
                .transpose()?,
        })
    }

    /// `separator` and `item_prefix`; `timestamp_item` needs a list too.
    fn list(&self) -> Result<Option<List>, (&'static str, String)> {
        match self.separator {
            Some(sep) => Ok(Some(List {
                separator: nonempty("separator", sep)?,
                item_prefix: self.item_prefix.unwrap_or_default().to_owned(),
            })),
            None if self.item_prefix.is_some() => Err(("item_prefix", NEEDS_SEPARATOR.into())),
            None if self.timestamp_item.is_some() => {
                Err(("timestamp_item", NEEDS_SEPARATOR.into()))
            }
            None => Ok(None),
        }
    }
}

/// Why a list key without `separator` is refused.
const NEEDS_SEPARATOR: &str = "needs separator (the signature header is then a list)";

/// `v` when not empty.
fn nonempty(key: &'static str, v: &str) -> Result<String, (&'static str, String)> {
    if v.is_empty() {
        Err((key, "must not be empty".into()))
    } else {
        Ok(v.to_owned())
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
            "method" => Part::Method,
            "url" => Part::Url,
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
        assert_eq!(
            parse_template("{method}{url}{body}").unwrap(),
            vec![Part::Method, Part::Url, Part::Body]
        );
        assert!(parse_template("{nope}").is_err());
        assert!(parse_template("{body").is_err());
    }

    #[test]
    fn list_keys_need_a_separator() {
        let s = Spec {
            header: "X-Sig",
            item_prefix: Some("v1="),
            ..Spec::BODY
        };
        assert_eq!(s.build().unwrap_err().0, "item_prefix");
        let s = Spec {
            header: "X-Sig",
            timestamp_item: Some("t="),
            signed_payload: "{timestamp}.{body}",
            ..Spec::BODY
        };
        assert_eq!(s.build().unwrap_err().0, "timestamp_item");
        let s = Spec {
            header: "X-Sig",
            separator: Some(","),
            timestamp_item: Some("t="),
            timestamp_header: Some("X-Ts"),
            signed_payload: "{timestamp}.{body}",
            ..Spec::BODY
        };
        assert_eq!(s.build().unwrap_err().0, "timestamp_item");
        let s = Spec {
            header: "X-Sig",
            separator: Some(","),
            timestamp_item: Some("t="),
            ..Spec::BODY
        };
        assert_eq!(s.build().unwrap_err().0, "signed_payload");
    }
}
