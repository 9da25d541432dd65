//! The request flow: route, method, load shed, body, verify, publish, answer.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use time::OffsetDateTime;

use super::respond::{Body, Outcome};
use super::{Gateway, RouteEntry};
use crate::config::RouteKind;
use crate::envelope;
use crate::outbox::Stored;
use crate::salesforce::om;

/// Handles one request. Never fails: every error is an [`Outcome`].
pub async fn handle(gw: Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let Some(entry) = gw.routes.get(req.uri().path()).cloned() else {
        gw.metrics.request("none", Outcome::NotFound.label());
        return Outcome::NotFound.webhook();
    };
    let route = &entry.route;
    let soap = route.kind == RouteKind::SalesforceOm;
    let outcome = if req.method() != Method::POST {
        Outcome::MethodNotAllowed
    } else {
        match gw.permits.clone().try_acquire_owned() {
            Err(_) => Outcome::Overloaded,
            Ok(_permit) => {
                gw.metrics.in_flight.inc();
                let outcome = process(&gw, &entry, req).await;
                gw.metrics.in_flight.dec();
                outcome
            }
        }
    };
    gw.metrics.request(&route.name, outcome.label());
    if soap {
        outcome.soap()
    } else {
        outcome.webhook()
    }
}

async fn process(gw: &Gateway, entry: &RouteEntry, req: Request<Incoming>) -> Outcome {
    let route = &entry.route;
    let (parts, body) = req.into_parts();
    let body = match read_body(gw, route.max_body_bytes, &parts.headers, body).await {
        Ok(b) => b,
        Err(outcome) => return outcome,
    };
    let received_at = OffsetDateTime::now_utc();

    let messages = if route.kind == RouteKind::SalesforceOm {
        let om = match om::parse(&body, om::Limits::default()) {
            Ok(om) => om,
            Err(e) => {
                tracing::info!(route = %route.name, error = %e, "Outbound Message rejected");
                gw.metrics
                    .verification_failure(&route.name, "malformed_message");
                return Outcome::BadRequest;
            }
        };
        if !route.org_ids.contains(&om.organization_id) {
            tracing::warn!(route = %route.name, "Outbound Message from an Organization ID not in org_ids");
            gw.metrics.verification_failure(&route.name, "wrong_org");
            return Outcome::Unauthorized;
        }
        envelope::notifications(route, &om, received_at)
    } else {
        let now = received_at.unix_timestamp();
        let verified = match entry.verifier.verify(&parts.headers, &body, now) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(route = %route.name, reason = e.reason(), "verification failed");
                gw.metrics.verification_failure(&route.name, e.reason());
                return if e == crate::verify::Error::Body {
                    Outcome::BadRequest
                } else {
                    Outcome::Unauthorized
                };
            }
        };
        gw.metrics.secret_match(&route.name, verified.secret_slot);
        if let Some(crate::verify::Handshake::SlackChallenge(c)) = verified.handshake {
            return Outcome::Handshake(c);
        }
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        vec![envelope::webhook(
            route,
            &verified,
            content_type,
            body,
            received_at,
        )]
    };

    match gw.outbox.store(&messages).await {
        Ok(Stored::Confirmed) => {
            tracing::debug!(route = %route.name, messages = messages.len(), "confirmed");
            Outcome::Accepted
        }
        Ok(Stored::Spooled) => {
            tracing::debug!(route = %route.name, messages = messages.len(), "spooled");
            Outcome::Spooled
        }
        Err(e) => {
            tracing::warn!(route = %route.name, error = %e, "neither confirmed nor spooled; answering 503");
            Outcome::Unavailable
        }
    }
}

/// Reads the whole body under the route's cap and the body deadline.
async fn read_body(
    gw: &Gateway,
    cap: usize,
    headers: &http::HeaderMap,
    body: Incoming,
) -> Result<Bytes, Outcome> {
    // Refuse early on a declared length over the cap.
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > cap as u64 {
            return Err(Outcome::TooLarge);
        }
    }
    let collect = Limited::new(body, cap).collect();
    match tokio::time::timeout(gw.body_timeout, collect).await {
        Err(_) => Err(Outcome::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(Outcome::TooLarge)
            } else {
                Err(Outcome::BadRequest)
            }
        }
    }
}
