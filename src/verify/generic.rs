//! `generic_hmac`: an HMAC scheme described in config, for senders without a
//! dedicated kind; the built-in HMAC kinds (paddle, calendly, pagerduty,
//! typeform, intercom, bitbucket, linear) are presets of it.
//!
//! The description (its keys, and the checks that make it a [`Scheme`]) is
//! the config's (`crate::config::generic`): config never imports `verify`.
//! Here: checking a request against it ([`Scheme::check`] proves the
//! signature and freshness, [`Scheme::verify`] adds the configured id and
//! event headers) and signing as its sender would.

use std::borrow::Cow;

use base64::Engine as _;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, parse_unix, Claims, Ctx, Error};
pub(crate) use crate::config::generic::{Encoding, Scheme, Spec, TimestampFormat};
use crate::config::generic::{List, Part, TimestampAt};
use crate::config::Route;

/// Most signature items read from one list header (rotation sends two).
const MAX_SIGNATURES: usize = 8;
/// Longest timestamp text read (an RFC 3339 time with nanoseconds and an
/// offset is 35).
const MAX_TIMESTAMP: usize = 40;

/// What [`Scheme::check`] proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Index of the secret that verified.
    pub(crate) slot: usize,
}

/// The signature header taken apart.
struct Parsed<'h> {
    candidates: Vec<Vec<u8>>,
    timestamp: Option<&'h str>,
}

// === impl Encoding ===

impl Encoding {
    /// The signature bytes of `text`, `None` when not of this encoding.
    pub(crate) fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => super::decode_hex(text).ok(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode(text).ok(),
            Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .ok(),
        }
    }

    /// `bytes` written in this encoding (hex lower-case, base64url
    /// unpadded).
    pub(crate) fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => sign::b64(bytes),
            Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        }
    }
}

// === impl TimestampFormat ===

impl TimestampFormat {
    /// Unix seconds of `text`.
    fn parse(self, text: &str, label: &'static str) -> Result<i64, Error> {
        match self {
            TimestampFormat::Unix => parse_unix(text, label),
            TimestampFormat::UnixMs => parse_unix_ms(text, label),
            TimestampFormat::Rfc3339 if text.len() <= MAX_TIMESTAMP => {
                OffsetDateTime::parse(text.trim(), &Rfc3339)
                    .map(OffsetDateTime::unix_timestamp)
                    .map_err(|_| Error::MalformedHeader(label))
            }
            TimestampFormat::Rfc3339 => Err(Error::MalformedHeader(label)),
        }
    }

    /// Unix seconds `now` written in this format.
    fn format(self, now: i64) -> String {
        match self {
            TimestampFormat::Unix => now.to_string(),
            TimestampFormat::UnixMs => now.saturating_mul(1000).to_string(),
            TimestampFormat::Rfc3339 => OffsetDateTime::from_unix_timestamp(now)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default(),
        }
    }
}

/// Decimal Unix milliseconds (up to 15 digits) as seconds.
fn parse_unix_ms(text: &str, label: &'static str) -> Result<i64, Error> {
    let t = text.trim();
    if t.is_empty() || t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::MalformedHeader(label));
    }
    t.parse::<i64>()
        .map(|ms| ms.div_euclid(1000))
        .map_err(|_| Error::MalformedHeader(label))
}

// === impl Scheme ===

impl Scheme {
    /// Checks the signature (then the signed timestamp) the description
    /// asks for, and reads the id and event headers it names.
    pub(crate) fn verify(&self, ctx: &Ctx<'_>) -> Result<Claims, Error> {
        let id = self
            .id_header
            .as_ref()
            .and_then(|h| ctx.headers.get(h))
            .and_then(|v| v.to_str().ok())
            .and_then(clean_id);
        let checked = self.check_with_id(ctx, id.as_deref())?;
        Ok(Claims {
            id: id.unwrap_or_else(|| body_hash_id(ctx.body)),
            event: self
                .event_header
                .as_ref()
                .and_then(|h| ctx.headers.get(h))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            id_signed: self.template.contains(&Part::Id) || self.id_header.is_none(),
            secret_slot: checked.slot,
            handshake: None,
        })
    }

    /// Checks the signature and the signed timestamp only: what a preset
    /// kind calls before reading its own id and event.
    pub(crate) fn check(&self, ctx: &Ctx<'_>) -> Result<Checked, Error> {
        self.check_with_id(ctx, None)
    }

    fn check_with_id(&self, ctx: &Ctx<'_>, id: Option<&str>) -> Result<Checked, Error> {
        let value = ctx
            .headers
            .get(&self.header)
            .ok_or(Error::MissingHeader(self.label))?
            .to_str()
            .map_err(|_| Error::MalformedHeader(self.label))?;
        let parsed = self.parse(value)?;
        let ts_text = match &self.timestamp {
            Some(TimestampAt::Header(h)) => Some(
                ctx.headers
                    .get(h)
                    .ok_or(Error::MissingHeader("timestamp"))?
                    .to_str()
                    .map_err(|_| Error::MalformedHeader("timestamp"))?
                    .trim(),
            ),
            Some(TimestampAt::Item(_)) => parsed.timestamp,
            None => None,
        };
        let url = url(ctx);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.template.len());
        for p in &self.template {
            parts.push(match p {
                Part::Literal(s) => s.as_bytes(),
                Part::Body => ctx.body,
                Part::Timestamp => ts_text.unwrap_or_default().as_bytes(),
                Part::Id => id.ok_or(Error::MissingHeader("id"))?.as_bytes(),
                Part::Method => ctx.method.as_str().as_bytes(),
                Part::Url => url.as_bytes(),
            });
        }
        let slot = ctx
            .matching_slot(self.algorithm, &parts, &parsed.candidates)
            .ok_or(Error::BadSignature)?;
        if let Some(ts) = ts_text {
            let label = match self.timestamp {
                Some(TimestampAt::Item(_)) => self.label,
                _ => "timestamp",
            };
            ctx.check_timestamp(self.timestamp_format.parse(ts, label)?)?;
        }
        Ok(Checked { slot })
    }

    /// The candidate signatures (and the list's timestamp) of the header.
    fn parse<'h>(&self, value: &'h str) -> Result<Parsed<'h>, Error> {
        let malformed = Error::MalformedHeader(self.label);
        let rest = value
            .trim()
            .strip_prefix(self.prefix.as_str())
            .ok_or(malformed.clone())?;
        let Some(list) = &self.list else {
            let sig = self.encoding.decode(rest.trim()).ok_or(malformed)?;
            return Ok(Parsed {
                candidates: vec![sig],
                timestamp: None,
            });
        };
        let ts_item = match &self.timestamp {
            Some(TimestampAt::Item(i)) => Some(i.as_str()),
            _ => None,
        };
        let mut out = Parsed {
            candidates: Vec::new(),
            timestamp: None,
        };
        for item in rest.split(list.separator.as_str()).map(str::trim) {
            if let Some(t) = ts_item.and_then(|p| item.strip_prefix(p)) {
                if out.timestamp.replace(t).is_some() {
                    return Err(malformed);
                }
            } else if let Some(sig) = item.strip_prefix(list.item_prefix.as_str()) {
                // A malformed entry never matches; others may.
                if out.candidates.len() < MAX_SIGNATURES {
                    out.candidates.extend(self.encoding.decode(sig));
                }
            }
        }
        if out.candidates.is_empty() || (ts_item.is_some() && out.timestamp.is_none()) {
            return Err(malformed);
        }
        Ok(out)
    }

    /// Signs `d` as the described sender would: the signature header, and
    /// the timestamp, id and event headers the description names.
    pub(crate) fn sign(&self, route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
        let headers = self.sign_headers(route, d, "POST")?;
        Ok(sign::json_post(route, d.body, headers))
    }

    /// The headers of [`Scheme::sign`], for `method` to the route's URL.
    pub(crate) fn sign_headers(
        &self,
        route: &Route,
        d: &Draft<'_>,
        method: &str,
    ) -> Result<Vec<(&str, String)>, sign::Error> {
        let ts = self.timestamp_format.format(d.now);
        let id = d.id_or_default();
        let url = route.public_url.as_deref().unwrap_or(&route.path);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.template.len());
        for p in &self.template {
            parts.push(match p {
                Part::Literal(s) => s.as_bytes(),
                Part::Body => d.body,
                Part::Timestamp => ts.as_bytes(),
                Part::Id => id.as_bytes(),
                Part::Method => method.as_bytes(),
                Part::Url => url.as_bytes(),
            });
        }
        let sig = self
            .encoding
            .encode(&sign::mac(route, d.now, self.algorithm, &parts)?);
        let value = match (&self.list, &self.timestamp) {
            (
                Some(List {
                    separator,
                    item_prefix,
                }),
                Some(TimestampAt::Item(t)),
            ) => {
                format!("{}{t}{ts}{separator}{item_prefix}{sig}", self.prefix)
            }
            (Some(List { item_prefix, .. }), _) => format!("{}{item_prefix}{sig}", self.prefix),
            (None, _) => format!("{}{sig}", self.prefix),
        };
        let mut headers = vec![(self.header.as_str(), value)];
        if let Some(TimestampAt::Header(h)) = &self.timestamp {
            headers.push((h.as_str(), ts.clone()));
        }
        if let Some(h) = &self.id_header {
            headers.push((h.as_str(), id.clone()));
        }
        if let (Some(h), Some(e)) = (&self.event_header, d.event) {
            headers.push((h.as_str(), e.to_owned()));
        }
        Ok(headers)
    }
}

/// `{url}`: the route's `public_url` (else its path) and the received
/// query.
fn url<'a>(ctx: &Ctx<'a>) -> Cow<'a, str> {
    let base = ctx.route.public_url.as_deref().unwrap_or(&ctx.route.path);
    match ctx.uri.query() {
        Some(q) => Cow::Owned(format!("{base}?{q}")),
        None => Cow::Borrowed(base),
    }
}

/// A preset's scheme, built once: the spec is a constant, checked by the
/// kind's unit tests (`Spec::build` succeeds), so this never fails at run
/// time; a bad constant would refuse every request of the kind.
pub(crate) fn preset(spec: &Spec<'static>) -> Option<Scheme> {
    spec.build().ok()
}

/// The body as a JSON value (serde_json's recursion limit on); `Body` when
/// it is not JSON. Read only after the signature verified.
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Value, Error> {
    serde_json::from_slice(body).map_err(|_| Error::Body)
}

/// The string member at `path` (`["event", "event_type"]`), usable as an
/// id or event name ([`clean_id`] bounds it).
pub(crate) fn json_str(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut at = v;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().and_then(clean_id)
}

/// A preset kind's claims: `id` when the body or a signed part gave one
/// (else the body's hash, which the signature covers too).
pub(crate) fn claims(
    ctx: &Ctx<'_>,
    slot: usize,
    id: Option<String>,
    event: Option<String>,
) -> Claims {
    Claims {
        id: id.unwrap_or_else(|| body_hash_id(ctx.body)),
        event,
        id_signed: true,
        secret_slot: slot,
        handshake: None,
    }
}

/// A preset kind whose id and event name are string members of its JSON
/// body (`id` / `event` paths, `None`: no id, the body's hash keys it):
/// `scheme` checks the signature, then the body is read.
///
/// # Errors
/// The scheme's [`Error`]; [`Error::Body`] when the signed body is not
/// JSON.
pub(crate) fn verify_json(
    scheme: Option<&Scheme>,
    ctx: &Ctx<'_>,
    id: Option<&[&str]>,
    event: &[&str],
) -> Result<Claims, Error> {
    let checked = scheme.ok_or(Error::BadSignature)?.check(ctx)?;
    let body = json_body(ctx.body)?;
    Ok(claims(
        ctx,
        checked.slot,
        id.and_then(|p| json_str(&body, p)),
        json_str(&body, event),
    ))
}

/// Signs `draft` as a preset `kind` whose headers are its scheme's alone:
/// a JSON POST to the route's URL.
///
/// # Errors
/// [`sign::Error`]: no usable secret, or the preset did not build.
pub(crate) fn sign_json(
    scheme: Option<&Scheme>,
    kind: &'static str,
    route: &Route,
    draft: &Draft<'_>,
) -> Result<Signed, sign::Error> {
    let scheme = scheme.ok_or(sign::Error::Unsupported(kind))?;
    Ok(sign::json_post(
        route,
        draft.body,
        scheme.sign_headers(route, draft, "POST")?,
    ))
}
