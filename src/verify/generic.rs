//! `generic_hmac`: an HMAC scheme described in config, for senders without a
//! dedicated kind (Linear, PagerDuty, Bitbucket, Calendly-like schemes in
//! PROVIDERS.md).
//!
//! The description (its keys, and the checks that make it a [`Scheme`]) is
//! the config's (`crate::config::generic`): config never imports `verify`.
//! Here: checking a request against it.

use base64::Engine as _;
use http::HeaderName;

use super::sign::{self, Draft, Signed};
use super::{body_hash_id, clean_id, parse_unix, Claims, Ctx, Error};
use crate::config::generic::Part;
pub(crate) use crate::config::generic::{Encoding, Scheme};
use crate::config::Route;

// === impl Scheme ===

impl Scheme {
    /// Checks the signature (then the signed timestamp) the route's
    /// description asks for.
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

    /// Signs `d` as the described sender would: the signature header, and
    /// the timestamp, id and event headers the description names.
    pub(crate) fn sign(&self, route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
        let ts = d.now.to_string();
        let id = d.id_or_default();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.template.len());
        for p in &self.template {
            parts.push(match p {
                Part::Literal(s) => s.as_bytes(),
                Part::Body => d.body,
                Part::Timestamp => ts.as_bytes(),
                Part::Id => id.as_bytes(),
            });
        }
        let sig = sign::mac(route, d.now, self.algorithm, &parts)?;
        let sig = match self.encoding {
            Encoding::Hex => hex::encode(sig),
            Encoding::Base64 => sign::b64(&sig),
        };
        let mut headers = vec![(self.header.as_str(), format!("{}{sig}", self.prefix))];
        if let Some(h) = &self.timestamp_header {
            headers.push((h.as_str(), ts.clone()));
        }
        if let Some(h) = &self.id_header {
            headers.push((h.as_str(), id.clone()));
        }
        if let (Some(h), Some(e)) = (&self.event_header, d.event) {
            headers.push((h.as_str(), e.to_owned()));
        }
        Ok(sign::json_post(route, d.body, headers))
    }
}
