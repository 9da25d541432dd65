//! DocuSign Connect: `X-DocuSign-Signature-1` .. `-N`, each a base64
//! HMAC-SHA256 of the body, one per active Connect key; any may match
//! (`X-Authorization-Digest: HMACSHA256` names the algorithm). No delivery
//! id: the body's hash; event: the body's `event` (`envelope-sent`) when the
//! body is JSON (legacy XML bodies have none) (PROVIDERS.md, DocuSign row;
//! developers.docusign.com/platform/webhooks/connect/hmac).

use super::generic::{self, json_str, Encoding};
use super::hmac::Algorithm;
use super::sign::{self, Draft, Signed};
use super::{Claims, Ctx, Error};
use crate::config::Route;

/// The first signature header.
pub(crate) const SIGNATURE_1: &str = "x-docusign-signature-1";

/// Signature headers read: `-1` to `-MAX_SIGNATURES` (Connect allows up to
/// 10 keys).
const MAX_SIGNATURES: usize = 10;

/// Verifies a DocuSign Connect delivery.
pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Claims, Error> {
    let mut candidates = Vec::new();
    let mut seen = false;
    for n in 1..=MAX_SIGNATURES {
        let Some(v) = ctx
            .headers
            .get(format!("x-docusign-signature-{n}").as_str())
        else {
            continue;
        };
        seen = true;
        // A malformed entry never matches; others may.
        candidates.extend(
            v.to_str()
                .ok()
                .and_then(|s| Encoding::Base64.decode(s.trim())),
        );
    }
    if !seen {
        return Err(Error::MissingHeader(SIGNATURE_1));
    }
    if candidates.is_empty() {
        return Err(Error::MalformedHeader(SIGNATURE_1));
    }
    let slot = ctx
        .matching_slot(Algorithm::Sha256, &[ctx.body], &candidates)
        .ok_or(Error::BadSignature)?;
    let event = serde_json::from_slice(ctx.body)
        .ok()
        .and_then(|v: serde_json::Value| json_str(&v, &["event"]));
    Ok(generic::claims(ctx, slot, None, event))
}

/// Signs as DocuSign Connect would with one key.
pub(crate) fn sign(route: &Route, d: &Draft<'_>) -> Result<Signed, sign::Error> {
    let sig = sign::mac(route, d.now, Algorithm::Sha256, &[d.body])?;
    Ok(sign::json_post(
        route,
        d.body,
        vec![
            ("X-Authorization-Digest", "HMACSHA256".to_owned()),
            ("X-DocuSign-Signature-1", sign::b64(&sig)),
        ],
    ))
}
