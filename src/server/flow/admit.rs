//! The first phase: who may send this request, decided on its head alone.

use std::net::IpAddr;
use std::sync::Arc;

use http::request::Parts;
use http::Method;
use tokio::sync::OwnedSemaphorePermit;

use super::Refused;
use crate::server::{ConnInfo, Gateway, RouteEntry};
use crate::telemetry::metrics::InFlight;

/// A request [`admit`] let through: its route, and what it holds until the
/// answer (a load-shed permit, the in-flight gauge).
pub(crate) struct Admitted<'g> {
    /// The route for the request's path.
    pub(crate) entry: &'g RouteEntry,
    /// One of `server.max_concurrent_requests`.
    _permit: OwnedSemaphorePermit,
    /// Counted in flight until dropped (with the flow's future too: client
    /// gone, panic).
    _in_flight: InFlight<'g>,
}

/// Admits a request to `entry` (the route for its path, if any): method,
/// load shed, then who is connecting (address allowlist, client certificate
/// and rate limit), all before the body is read.
///
/// # Errors
/// [`Refused`] naming the first check that failed.
pub(crate) fn admit<'g>(
    gw: &'g Gateway,
    entry: Option<&'g RouteEntry>,
    parts: &Parts,
) -> Result<Admitted<'g>, Refused> {
    let entry = entry.ok_or(Refused::NoRoute)?;
    let get_handshake = parts.method == Method::GET && entry.route.kind.answers_get();
    if parts.method != Method::POST && !get_handshake {
        return Err(Refused::Method(entry.route.kind.answers_get()));
    }
    let permit = gw
        .permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refused::Overloaded)?;
    let in_flight = gw.metrics.in_flight_request();
    let route = &entry.route;
    let info = parts.extensions.get::<Arc<ConnInfo>>();
    let ip = info.and_then(|i| i.client(&parts.headers, &gw.trusted_proxies));
    let allowed = |ip: IpAddr| route.allow_cidrs.iter().any(|n| n.contains(&ip));
    if !route.allow_cidrs.is_empty() && !ip.is_some_and(allowed) {
        tracing::info!(route = %route.name, client = ?ip, phase = "admit", "client address not allowed");
        return Err(Refused::Address);
    }
    if let Some(rule) = &route.client_cert {
        let cert = info.and_then(|i| i.client_cert.as_ref());
        if !cert.is_some_and(|c| c.matches(rule)) {
            tracing::info!(route = %route.name, phase = "admit", "no matching client certificate");
            return Err(Refused::Certificate);
        }
    }
    // After the allowlist and certificate: others cannot spend the route's
    // budget. Without a client address (a trusted L7 balancer's unparsable
    // X-Forwarded-For) the peer's bucket is charged.
    if let Some(limiter) = &entry.limiter {
        let key = ip
            .or(info.map(|i| i.peer))
            .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        if let Err(wait) = limiter.check(key) {
            tracing::debug!(route = %route.name, client = %key, ?wait, phase = "admit", "rate limited");
            return Err(Refused::RateLimited(wait));
        }
    }
    Ok(Admitted {
        entry,
        _permit: permit,
        _in_flight: in_flight,
    })
}
